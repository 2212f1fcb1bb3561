/* reportdiff BASE.json CUR.json [--max-latency-increase 10%] [--max-success-drop 0.1%]
 *            [--max-speed-drop 20%] [--min-latency-delta 0.1ms]
 * Compares two report.json files (SPEC HAR-5): prints a table of every
 * compared metric and exits 1 when one regressed, 2 on bad usage or an
 * unreadable report, 0 otherwise. */
#include "reports/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "10%" -> 0.10, "0.1" -> 0.1; suffix "ms" accepted for the delta. */
static int rd_fraction(const char *s, bool ms, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!ms && strcmp(end, "%") == 0)
		v /= 100;
	else if (ms && strcmp(end, "ms") == 0)
		;
	else if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static void rd_usage(void)
{
	fprintf(stderr, "usage: reportdiff BASE.json CUR.json [--max-latency-increase 10%%] "
	                "[--max-success-drop 0.1%%] [--max-speed-drop 20%%] "
	                "[--min-latency-delta 0.1ms]\n");
}

int main(int argc, char **argv)
{
	struct report_thresholds th = REPORT_THRESHOLDS_DEFAULT;
	const char *paths[2] = {NULL, NULL};
	size_t np = 0, n = 0, reg = 0;
	struct report_delta *d;
	char err[512];
	int rc;

	for (int i = 1; i < argc; i++) {
		double *dst = NULL;
		bool ms = false;
		if (!strcmp(argv[i], "--max-latency-increase"))
			dst = &th.max_latency_increase;
		else if (!strcmp(argv[i], "--max-success-drop"))
			dst = &th.max_success_drop;
		else if (!strcmp(argv[i], "--max-speed-drop"))
			dst = &th.max_speed_drop;
		else if (!strcmp(argv[i], "--min-latency-delta"))
			dst = &th.min_latency_delta_ms, ms = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			rd_usage();
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "reportdiff: unknown option %s\n", argv[i]);
			rd_usage();
			return 2;
		} else if (np < 2) {
			paths[np++] = argv[i];
			continue;
		} else {
			rd_usage();
			return 2;
		}
		if (i + 1 >= argc || rd_fraction(argv[i + 1], ms, dst)) {
			fprintf(stderr, "reportdiff: %s needs a value like %s\n", argv[i],
			        ms ? "0.5ms" : "10%");
			return 2;
		}
		i++;
	}
	if (np != 2) {
		rd_usage();
		return 2;
	}
	d = calloc(REPORT_COMPARE_MAX, sizeof(*d));
	if (!d) {
		fprintf(stderr, "reportdiff: out of memory\n");
		return 2;
	}
	rc = report_compare(paths[0], paths[1], &th, d, REPORT_COMPARE_MAX, &n, &reg, err,
	                    sizeof(err));
	if (rc) {
		fprintf(stderr, "reportdiff: %s\n", err);
		free(d);
		return 2;
	}
	printf("%-40s %14s %14s %10s  %s\n", "metric", "baseline", "current", "change", "");
	for (size_t i = 0; i < n; i++) {
		char change[32];
		if (strstr(d[i].metric, "success_rate"))
			snprintf(change, sizeof(change), "%+.3fpp", d[i].change * 100);
		else
			snprintf(change, sizeof(change), "%+.1f%%", d[i].change * 100);
		printf("%-40s %14.3f %14.3f %10s  %s\n", d[i].metric, d[i].base, d[i].cur, change,
		       d[i].regression ? "REGRESSION" : "ok");
	}
	printf("%zu metrics compared, %zu regressions\n", n, reg);
	free(d);
	return reg ? 1 : 0;
}
