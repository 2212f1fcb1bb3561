/* A performance suite's result as JSON (perf_result.h). */
#define _GNU_SOURCE
#include "reports/perf_result.h"

#include "lib/base/errfmt.h"
#include "lib/base/outfile.h"
#include "reports/report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const class_names[] = {"exact", "counted", "timed"};
static const char *const direction_names[] = {"lower", "higher"};

const char *perf_class_name(enum perf_class c)
{
	return (unsigned)c < 3 ? class_names[c] : "?";
}

const char *perf_direction_name(enum perf_direction d)
{
	return (unsigned)d < 2 ? direction_names[d] : "?";
}

static int double_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

double perf_median(const double *v, size_t n)
{
	double s[PERF_SAMPLES_MAX];

	if (n == 0 || n > PERF_SAMPLES_MAX)
		return NAN;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), double_cmp);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double perf_percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), double_cmp);
	size_t k = (size_t)ceil(p * (double)n);
	return v[k ? k - 1 : 0];
}

int perf_result_init(struct perf_result *r)
{
	memset(r, 0, sizeof(*r));
	r->metrics = calloc(PERF_METRICS_MAX, sizeof(*r->metrics));
	return r->metrics ? 0 : -ENOMEM;
}

void perf_result_free(struct perf_result *r)
{
	free(r->metrics);
	memset(r, 0, sizeof(*r));
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PERF_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._:-", *s)))
			return false;
	return true;
}

/* Units appear in gnuplot scripts, HTML and Markdown: letters, '/' and
 * '%' only ("ms", "events/s"), nothing that could quote or escape. */
static bool unit_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PERF_UNIT_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '/' || *s == '%'))
			return false;
	return true;
}

/* A commit as git names it, perhaps with "+dirty": it labels history
 * charts, so nothing else. */
static bool commit_ok(const char *s)
{
	size_t hex = strspn(s, "0123456789abcdef");
	return hex <= 40 && (!s[hex] || !strcmp(s + hex, "+dirty"));
}

const struct perf_metric *perf_result_find(const struct perf_result *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->metrics[i].name, name))
			return &r->metrics[i];
	return NULL;
}

int perf_result_add(struct perf_result *r, const char *name, const char *unit,
                    enum perf_direction direction, enum perf_class cls, const double *samples,
                    size_t n_samples)
{
	if (!name_ok(name) || !unit || !unit_ok(unit) || n_samples == 0 ||
	    n_samples > PERF_SAMPLES_MAX || (unsigned)cls > PERF_TIMED ||
	    (unsigned)direction > PERF_HIGHER)
		return -EINVAL;
	for (size_t i = 0; i < n_samples; i++)
		if (!isfinite(samples[i]))
			return -EINVAL;
	if (perf_result_find(r, name))
		return -EEXIST;
	if (r->n == PERF_METRICS_MAX)
		return -E2BIG;
	struct perf_metric *m = &r->metrics[r->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->unit, sizeof(m->unit), "%s", unit);
	m->direction = direction;
	m->cls = cls;
	m->n_samples = n_samples;
	memcpy(m->samples, samples, n_samples * sizeof(*samples));
	m->value = perf_median(samples, n_samples);
	return 0;
}

/* The environment's fields, in the file's order. */
#define ENV_FIELDS(X)                                                                              \
	X(commit)                                                                                  \
	X(commit_time) X(date) X(cpu) X(kernel) X(compiler) X(cflags) X(build_type) X(ns3) X(suite)

int perf_result_write(const struct perf_result *r, const char *path, char *err, size_t err_len)
{
	cJSON *root = cJSON_CreateObject(), *env = cJSON_AddObjectToObject(root, "environment");
	cJSON *metrics = cJSON_AddArrayToObject(root, "metrics");
	bool ok = root && env && metrics;

#define ADD_ENV(f) ok = ok && cJSON_AddStringToObject(env, #f, r->env.f);
	ENV_FIELDS(ADD_ENV)
#undef ADD_ENV
	ok = ok && cJSON_AddNumberToObject(env, "cores", r->env.cores);
	for (size_t i = 0; ok && i < r->n; i++) {
		const struct perf_metric *m = &r->metrics[i];
		cJSON *o = cJSON_CreateObject();
		ok = o && cJSON_AddItemToArray(metrics, o) &&
		     cJSON_AddStringToObject(o, "name", m->name) &&
		     cJSON_AddNumberToObject(o, "value", m->value) &&
		     cJSON_AddStringToObject(o, "unit", m->unit) &&
		     cJSON_AddStringToObject(o, "direction", perf_direction_name(m->direction)) &&
		     cJSON_AddStringToObject(o, "class", perf_class_name(m->cls));
		cJSON *s = ok ? cJSON_CreateDoubleArray(m->samples, (int)m->n_samples) : NULL;
		ok = s && cJSON_AddItemToObject(o, "samples", s);
	}
	char *text = ok ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	if (!text)
		return err_setf(err, err_len, -ENOMEM, "%s: out of memory", path);

	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		free(text);
		return err_setf(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	}
	struct outfile of;
	FILE *f = outfile_open(&of, tmp, false);
	int rc = f ? 0 : -errno;
	if (f) {
		fputs(text, f);
		fputc('\n', f);
		rc = outfile_close(&of, f);
	}
	free(text);
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		remove(tmp);
		return err_setf(err, err_len, rc, "%s: %s", path, strerror(-rc));
	}
	return 0;
}

static int enum_of(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

static int metric_read(struct perf_result *r, const cJSON *o, size_t i, const char *path, char *err,
                       size_t err_len)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
	const char *unit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "unit"));
	int dir = enum_of(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "direction")),
	                  direction_names, 2);
	int cls = enum_of(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "class")),
	                  class_names, 3);
	const cJSON *samples = cJSON_GetObjectItemCaseSensitive(o, "samples"), *s;
	double v[PERF_SAMPLES_MAX];
	size_t n = 0;

	if (!name || !unit || dir < 0 || cls < 0 || !cJSON_IsArray(samples))
		return err_setf(err, err_len, -EINVAL,
		                "%s: metric %zu needs name, unit, direction (lower or higher), "
		                "class (exact, counted or timed) and samples",
		                path, i);
	cJSON_ArrayForEach(s, samples)
	{
		if (n == PERF_SAMPLES_MAX || !cJSON_IsNumber(s))
			return err_setf(err, err_len, -EINVAL,
			                "%s: metric %s: samples must be at most %d numbers", path,
			                name, PERF_SAMPLES_MAX);
		v[n++] = s->valuedouble;
	}
	int rc =
	    perf_result_add(r, name, unit, (enum perf_direction)dir, (enum perf_class)cls, v, n);
	if (rc == -EEXIST)
		return err_setf(err, err_len, -EINVAL, "%s: metric %s given twice", path, name);
	if (rc == -E2BIG)
		return err_setf(err, err_len, rc, "%s: more than %d metrics", path,
		                PERF_METRICS_MAX);
	if (rc)
		return err_setf(err, err_len, rc,
		                "%s: metric %zu (%s): bad name, unit or samples (names are "
		                "[a-z0-9._:-], units [a-z/%%], 1..%d sample numbers, all finite)",
		                path, i, name, PERF_SAMPLES_MAX);
	return 0;
}

int perf_result_read(const char *path, struct perf_result *r, char *err, size_t err_len)
{
	int rc = perf_result_init(r);
	if (rc)
		return err_setf(err, err_len, rc, "%s: out of memory", path);
	cJSON *root = report_json_read(path, PERF_RESULT_MAX_SIZE, err, err_len, &rc);
	if (!root)
		goto fail;
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(root, "environment");
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics"), *o;
	if (!cJSON_IsObject(env) || !cJSON_IsArray(metrics)) {
		rc = err_setf(err, err_len, -EINVAL,
		              "%s: not a perf result (an object with environment and metrics)",
		              path);
		goto fail;
	}
	if (cJSON_GetArraySize(metrics) == 0) {
		rc = err_setf(err, err_len, -EINVAL, "%s: no metrics (a run that measured nothing)",
		              path);
		goto fail;
	}
#define READ_ENV(f)                                                                                \
	{                                                                                          \
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, #f));   \
		snprintf(r->env.f, sizeof(r->env.f), "%s", v ? v : "");                            \
	}
	ENV_FIELDS(READ_ENV)
#undef READ_ENV
	if (!commit_ok(r->env.commit)) {
		rc = err_setf(err, err_len, -EINVAL,
		              "%s: environment.commit must be a git hash (and +dirty), not '%s'",
		              path, r->env.commit);
		goto fail;
	}
	const cJSON *cores = cJSON_GetObjectItemCaseSensitive(env, "cores");
	r->env.cores = cJSON_IsNumber(cores) && cores->valuedouble >= 0 && cores->valuedouble < 1e6
	                   ? (int)cores->valuedouble
	                   : 0;
	size_t i = 0;
	cJSON_ArrayForEach(o, metrics)
	{
		if ((rc = metric_read(r, o, i++, path, err, err_len)))
			goto fail;
	}
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	perf_result_free(r);
	return rc;
}
