/* Regression compare of two report.json files (SPEC HAR-5). */
#include "reports/report.h"

#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_REPORT_MAX_BYTES (1ull << 30)

cJSON *report_json_read(const char *path, size_t max, char *err, size_t err_len, int *rc)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	cJSON *j = NULL;
	long len;

	if (!f) {
		*rc = err_setf(err, err_len, -errno, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		*rc = err_setf(err, err_len, -EIO, "%s: cannot size the file", path);
		goto out;
	}
	if ((unsigned long long)len > max) {
		*rc = err_setf(err, err_len, -EFBIG, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	buf = malloc((size_t)len + 1);
	if (!buf) {
		*rc = err_setf(err, err_len, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		*rc = err_setf(err, err_len, -EIO, "%s: read error", path);
		goto out;
	}
	buf[len] = '\0';
	j = cJSON_ParseWithLength(buf, (size_t)len);
	if (!j) {
		const char *at = cJSON_GetErrorPtr();
		*rc = err_setf(err, err_len, -EINVAL, "%s: not JSON (at byte %td)", path,
		               at && at >= buf && at <= buf + len ? at - buf : (ptrdiff_t)0);
	}
out:
	free(buf);
	fclose(f);
	return j;
}

/* Reads and parses a report.json; NULL with a message in err. */
static cJSON *rp_load(const char *path, char *err, size_t err_len, int *rc)
{
	cJSON *j = report_json_read(path, RP_REPORT_MAX_BYTES, err, err_len, rc);

	if (j && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "workloads"))) {
		cJSON_Delete(j);
		j = NULL;
		*rc = err_setf(err, err_len, -EINVAL,
		               "%s: not a report.json (no \"workloads\" object)", path);
	}
	return j;
}

static bool rp_num(const cJSON *o, const char *key, double *v)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(x))
		return false;
	*v = x->valuedouble;
	return true;
}

static void rp_add(struct report_delta *out, size_t cap, size_t *n, size_t *reg, const char *wl,
                   const char *metric, double base, double cur, double change, bool regression)
{
	if (*n < cap) {
		struct report_delta *d = &out[*n];
		snprintf(d->metric, sizeof(d->metric), "%s%s%s", wl, *wl ? " " : "", metric);
		d->base = base;
		d->cur = cur;
		d->change = change;
		d->regression = regression;
	}
	(*n)++;
	*reg += regression;
}

int report_compare(const char *base_path, const char *cur_path, const struct report_thresholds *th,
                   struct report_delta *out, size_t cap, size_t *n, size_t *regressions, char *err,
                   size_t err_len)
{
	static const char *const pcts[] = {"p50", "p90", "p99", "p999", "max"};
	struct report_thresholds def = REPORT_THRESHOLDS_DEFAULT;
	cJSON *base, *cur = NULL;
	const cJSON *bw, *w;
	size_t count = 0, reg = 0;
	int rc = 0;

	if (!th)
		th = &def;
	base = rp_load(base_path, err, err_len, &rc);
	if (!base)
		return rc;
	cur = rp_load(cur_path, err, err_len, &rc);
	if (!cur)
		goto out;
	bw = cJSON_GetObjectItemCaseSensitive(base, "workloads");
	cJSON_ArrayForEach(w, bw)
	{
		const cJSON *cw = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cur, "workloads"), w->string);
		double b, c;
		if (!cJSON_IsObject(cw)) {
			/* a workload that disappeared is a regression, not a skip */
			rp_add(out, cap, &count, &reg, w->string, "missing in current", 1, 0, -1,
			       true);
			continue;
		}
		if (rp_num(w, "success_rate", &b) && rp_num(cw, "success_rate", &c))
			rp_add(out, cap, &count, &reg, w->string, "success_rate", b, c, c - b,
			       b - c > th->max_success_drop + 1e-12);
		const cJSON *bl = cJSON_GetObjectItemCaseSensitive(w, "latency_ms");
		const cJSON *cl = cJSON_GetObjectItemCaseSensitive(cw, "latency_ms");
		for (size_t p = 0; p < sizeof(pcts) / sizeof(pcts[0]); p++) {
			char metric[32];
			if (!rp_num(bl, pcts[p], &b) || !rp_num(cl, pcts[p], &c))
				continue;
			double change = b > 0 ? (c - b) / b : (c > 0 ? INFINITY : 0);
			snprintf(metric, sizeof(metric), "%s_ms", pcts[p]);
			rp_add(out, cap, &count, &reg, w->string, metric, b, c, change,
			       change > th->max_latency_increase + 1e-12 &&
			           c - b >= th->min_latency_delta_ms);
		}
	}
	{
		const cJSON *br = cJSON_GetObjectItemCaseSensitive(base, "run");
		const cJSON *cr = cJSON_GetObjectItemCaseSensitive(cur, "run");
		double b, c;
		if (rp_num(br, "speed", &b) && rp_num(cr, "speed", &c) && b > 0) {
			double change = (c - b) / b;
			rp_add(out, cap, &count, &reg, "run", "speed", b, c, change,
			       -change > th->max_speed_drop + 1e-12);
		}
	}
	*n = count < cap ? count : cap;
	*regressions = reg;
out:
	cJSON_Delete(base);
	cJSON_Delete(cur);
	return rc;
}
