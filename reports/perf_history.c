/* History charts over stored perf results (perf_compare.h, PRF-3): one
 * data file and two images per metric, drawn by one gnuplot script, and a
 * page with every SVG inlined. */
#define _GNU_SOURCE
#include "reports/perf_compare.h"

#include "lib/base/errfmt.h"
#include "reports/report.h"
#include "reports/report_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every distinct metric name over the results, in first-seen order. */
static size_t names_collect(const struct perf_result *results, size_t n, const char **names,
                            size_t cap)
{
	size_t k = 0;
	for (size_t r = 0; r < n; r++)
		for (size_t i = 0; i < results[r].n; i++) {
			const char *name = results[r].metrics[i].name;
			size_t j = 0;
			while (j < k && strcmp(names[j], name) != 0)
				j++;
			if (j == k && k < cap)
				names[k++] = name;
		}
	return k;
}

static int data_write(const struct perf_result *results, size_t n, const char *dir,
                      const char *name, const struct perf_metric **first)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	*first = NULL;
	fprintf(f, "# run commit value min max (samples)\n");
	for (size_t r = 0; r < n; r++) {
		const struct perf_metric *m = perf_result_find(&results[r], name);
		if (!m)
			continue;
		if (!*first)
			*first = m;
		double lo = m->samples[0], hi = m->samples[0];
		for (size_t s = 1; s < m->n_samples; s++) {
			lo = m->samples[s] < lo ? m->samples[s] : lo;
			hi = m->samples[s] > hi ? m->samples[s] : hi;
		}
		fprintf(f, "%zu %.7s %.17g %.17g %.17g\n", r,
		        results[r].env.commit[0] ? results[r].env.commit : "?", m->value, lo, hi);
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

static void chart_script(FILE *gp, const char *name, const struct perf_metric *m, size_t n)
{
	for (int svg = 0; svg < 2; svg++) {
		fprintf(gp,
		        "set terminal %s size 720,300\nset output '%s.%s'\n"
		        "set title '%s (%s, %s is better)' noenhanced\n"
		        "set xrange [-0.5:%zu.5]\nset grid ytics\nset key off\n"
		        "set xtics rotate by -45 font ',8'\nset ylabel '%s' noenhanced\n"
		        "plot '%s.dat' using 1:3:4:5:xtic(2) with yerrorlines lw 2 pt 7\n",
		        svg ? "svg dynamic" : "pngcairo", name, svg ? "svg" : "png", name,
		        perf_class_name(m->cls), perf_direction_name(m->direction), n ? n - 1 : 0,
		        m->unit, name);
	}
}

int perf_history_write(const struct perf_result *results, size_t n, const char *out_dir,
                       const char *gnuplot, char *err, size_t err_len)
{
	const char **names = calloc(PERF_METRICS_MAX, sizeof(*names));
	const struct perf_metric **firsts = calloc(PERF_METRICS_MAX, sizeof(*firsts));
	char bin[4096], path[4096];
	int rc = 0;

	if (!names || !firsts) {
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		goto out;
	}
	if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
		rc = err_setf(err, err_len, -errno, "%s: %s", out_dir, strerror(errno));
		goto out;
	}
	if (rp_find_gnuplot(gnuplot, bin, sizeof(bin))) {
		rc = err_setf(err, err_len, -ENOENT, "gnuplot not found (%s)",
		              gnuplot ? gnuplot : "not on PATH");
		goto out;
	}
	size_t k = names_collect(results, n, names, PERF_METRICS_MAX);
	snprintf(path, sizeof(path), "%s/history.gp", out_dir);
	FILE *gp = fopen(path, "w");
	if (!gp) {
		rc = err_setf(err, err_len, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	fprintf(gp, "# Made by perfrun history from %zu results; run: gnuplot history.gp\n", n);
	for (size_t i = 0; i < k && !rc; i++) {
		rc = data_write(results, n, out_dir, names[i], &firsts[i]);
		if (!rc)
			chart_script(gp, names[i], firsts[i], n);
	}
	if (fclose(gp) != 0 && !rc)
		rc = -EIO;
	if (rc) {
		rc = err_setf(err, err_len, rc, "%s: cannot write the chart data: %s", out_dir,
		              strerror(-rc));
		goto out;
	}
	if ((rc = rp_run_gnuplot(bin, out_dir, "history.gp", err, err_len)))
		goto out;
	snprintf(path, sizeof(path), "%s/index.html", out_dir);
	FILE *html = fopen(path, "w");
	if (!html) {
		rc = err_setf(err, err_len, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	fprintf(html,
	        "<!doctype html><html><head><meta charset=\"utf-8\"><title>perf history"
	        "</title><style>body{font-family:sans-serif;margin:2em}svg{max-width:100%%}"
	        "</style></head><body><h1>Performance history</h1><p>%zu runs, %zu metrics, "
	        "oldest first; each point is a run's value, its bar the spread of its "
	        "samples.</p>\n",
	        n, k);
	for (size_t i = 0; i < k; i++) {
		char svg[4096];
		snprintf(svg, sizeof(svg), "%s/%s.svg", out_dir, names[i]);
		if (!rp_image_complete(svg, true)) {
			rc =
			    err_setf(err, err_len, -EIO, "%s: gnuplot did not write it whole", svg);
			break;
		}
		fprintf(html, "<h3>%s</h3>\n", names[i]);
		if (!rp_image_inline(svg, html)) {
			rc = err_setf(err, err_len, -EIO, "%s: cannot read it back", svg);
			break;
		}
	}
	fputs("</body></html>\n", html);
	if (fclose(html) != 0 && !rc)
		rc = err_setf(err, err_len, -EIO, "%s: cannot write it whole", path);
out:
	free(names);
	free(firsts);
	return rc;
}
