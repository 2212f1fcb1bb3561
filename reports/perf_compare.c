/* Comparing two perf results: thresholds, the rank test, the verdicts and
 * the three forms of the table (perf_compare.h). */
#define _GNU_SOURCE
#include "reports/perf_compare.h"

#include "lib/base/errfmt.h"
#include "reports/report.h"
#include "reports/report_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define THRESHOLDS_MAX_SIZE (1u << 20)

static const char *const verdict_names[] = {"same", "better",     "changed", "noise",
                                            "new",  "REGRESSION", "MISSING"};

const char *perf_verdict_name(enum perf_verdict v)
{
	return (unsigned)v <= PERF_TOO_FEW ? verdict_names[v] : "?";
}

/* A threshold value: a number, or "N%" (relative only). */
static bool limit_read(const cJSON *v, bool percent_ok, double *out)
{
	if (!v) {
		*out = -1;
		return true;
	}
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0) {
		*out = v->valuedouble;
		return true;
	}
	const char *s = cJSON_GetStringValue(v);
	char *end;
	if (!percent_ok || !s)
		return false;
	double x = strtod(s, &end);
	if (end == s || strcmp(end, "%") != 0 || !isfinite(x) || x < 0)
		return false;
	*out = x / 100;
	return true;
}

int perf_thresholds_read(const char *path, struct perf_thresholds *t, char *err, size_t err_len)
{
	int rc = 0;
	memset(t, 0, sizeof(*t));
	t->alpha = 0.05;
	cJSON *root = report_json_read(path, THRESHOLDS_MAX_SIZE, err, err_len, &rc);
	if (!root)
		return rc;
	const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(root, "alpha");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules"), *r;
	if (!cJSON_IsObject(root) || !cJSON_IsArray(rules)) {
		rc = err_setf(err, err_len, -EINVAL, "%s: expected an object with a rules array",
		              path);
		goto out;
	}
	if (alpha) {
		if (!cJSON_IsNumber(alpha) || !(alpha->valuedouble > 0 && alpha->valuedouble < 1)) {
			rc = err_setf(err, err_len, -EINVAL, "%s: alpha must be a number in (0, 1)",
			              path);
			goto out;
		}
		t->alpha = alpha->valuedouble;
	}
	cJSON_ArrayForEach(r, rules)
	{
		struct perf_rule *rule = &t->rules[t->n];
		if (t->n == PERF_RULES_MAX) {
			rc = err_setf(err, err_len, -E2BIG, "%s: more than %d rules", path,
			              PERF_RULES_MAX);
			goto out;
		}
		/* a misspelt key would loosen every metric without a word */
		const cJSON *key;
		cJSON_ArrayForEach(key, r)
		{
			static const char *const known[] = {"match",    "class", "relative",
			                                    "absolute", "noise", "_comment"};
			size_t k = 0;
			while (k < sizeof(known) / sizeof(known[0]) &&
			       strcmp(key->string, known[k]))
				k++;
			if (k == sizeof(known) / sizeof(known[0])) {
				rc = err_setf(
				    err, err_len, -EINVAL,
				    "%s: rule %zu: unknown key '%s' (match, class, relative, "
				    "absolute, noise)",
				    path, t->n, key->string);
				goto out;
			}
		}
		const cJSON *match = cJSON_GetObjectItemCaseSensitive(r, "match");
		const cJSON *cls = cJSON_GetObjectItemCaseSensitive(r, "class");
		const char *m = cJSON_GetStringValue(match), *c = cJSON_GetStringValue(cls);
		rule->cls = -1;
		if (c) {
			for (int k = PERF_EXACT; k <= PERF_TIMED; k++)
				if (!strcmp(c, perf_class_name((enum perf_class)k)))
					rule->cls = k;
		}
		if (!cJSON_IsObject(r) || (match && (!m || strlen(m) > PERF_NAME_MAX)) ||
		    (cls && rule->cls < 0) ||
		    !limit_read(cJSON_GetObjectItemCaseSensitive(r, "relative"), true,
		                &rule->relative) ||
		    !limit_read(cJSON_GetObjectItemCaseSensitive(r, "absolute"), false,
		                &rule->absolute) ||
		    !limit_read(cJSON_GetObjectItemCaseSensitive(r, "noise"), true, &rule->noise)) {
			rc = err_setf(
			    err, err_len, -EINVAL,
			    "%s: rule %zu: expected {match: GLOB, class: exact|counted|timed, "
			    "relative: N or \"N%%\", absolute: N}, each optional",
			    path, t->n);
			goto out;
		}
		snprintf(rule->match, sizeof(rule->match), "%s", m ? m : "");
		t->n++;
	}
out:
	cJSON_Delete(root);
	return rc;
}

static const struct perf_rule *rule_for(const struct perf_thresholds *t,
                                        const struct perf_metric *m)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct perf_rule *r = &t->rules[i];
		if ((r->cls < 0 || r->cls == (int)m->cls) &&
		    (!r->match[0] || fnmatch(r->match, m->name, 0) == 0))
			return r;
	}
	return NULL;
}

/* The distribution of U for sizes n and m without ties into c (n*m + 1
 * counts): f(u; i, j) = f(u - j; i - 1, j) + f(u; i, j - 1), since the
 * largest of i + j values is either an x (above all j y's) or a y. One
 * array per j, rows over i; only additions, so the counts stay exact as
 * far as doubles hold them (no cancellation at 64 samples). */
static int u_distribution(size_t n, size_t m, double *c)
{
	size_t deg = n * m, w = deg + 1;
	double *f = calloc((m + 1) * w, sizeof(*f)); /* f[j * w + u] */

	if (!f)
		return -ENOMEM;
	for (size_t j = 0; j <= m; j++)
		f[j * w] = 1; /* i = 0: one ordering, U = 0 */
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			double *cur = f + j * w, *left = f + (j - 1) * w;
			/* downwards, so cur[u - j] is still row i - 1 */
			for (size_t u = w; u-- > 0;)
				cur[u] = (u >= j ? cur[u - j] : 0) + left[u];
		}
	memcpy(c, f + m * w, w * sizeof(*c));
	free(f);
	return 0;
}

/* Two-sided p of U = u under the distribution c (deg + 1 counts). */
static double p_two_sided(const double *c, size_t deg, double u)
{
	double total = 0, below = 0, above = 0;
	for (size_t k = 0; k <= deg; k++) {
		total += c[k];
		below += (double)k <= u ? c[k] : 0;
		above += (double)k >= u ? c[k] : 0;
	}
	double p = 2 * fmin(below, above) / total;
	return p > 1 ? 1 : p;
}

double perf_mann_whitney_p(const double *x, size_t n, const double *y, size_t m)
{
	if (n < 2 || m < 2 || n > PERF_SAMPLES_MAX || m > PERF_SAMPLES_MAX)
		return 1;
	/* pairs with x above y; a tie could go either way, so the p reported
	 * is the larger of the two ends (never more significant than the data) */
	double lo = 0, hi = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m; j++) {
			lo += x[i] > y[j];
			hi += x[i] >= y[j];
		}
	size_t deg = n * m;
	double *c = malloc((deg + 1) * sizeof(*c));
	if (!c || u_distribution(n, m, c)) {
		free(c);
		return 1;
	}
	double center = (double)deg / 2;
	double p = lo <= center && hi >= center
	               ? 1
	               : fmax(p_two_sided(c, deg, lo), p_two_sided(c, deg, hi));
	free(c);
	return p;
}

/* The smallest two-sided p any n against m samples can give: whether the
 * test can decide at all. */
static double p_smallest(size_t n, size_t m)
{
	double orderings = 1; /* C(n + m, n) */
	for (size_t k = 1; k <= n; k++)
		orderings = orderings * (double)(m + k) / (double)k;
	return n < 2 || m < 2 ? 1 : 2 / orderings;
}

/* Whether moving from base to cur goes the worse way. */
static bool worse(const struct perf_metric *m, double base, double cur)
{
	return m->direction == PERF_LOWER ? cur > base : cur < base;
}

static void judge(const struct perf_thresholds *t, struct perf_row *row)
{
	const struct perf_metric *b = row->base, *c = row->cur;
	const struct perf_rule *rule = rule_for(t, b);
	double diff = c->value - b->value;

	/* a changed class, unit or direction is not the same figure: a silent
	 * "noise" or "better" there would hide whatever happened */
	if (b->cls != c->cls || b->direction != c->direction || strcmp(b->unit, c->unit) != 0) {
		row->verdict = PERF_MISMATCH;
		row->change = row->p_value = NAN;
		row->limit_rel = row->limit_abs = -1;
		return;
	}
	row->limit_rel = rule ? rule->relative : -1;
	row->limit_abs = rule ? rule->absolute : -1;
	row->change = b->value != 0 ? diff / fabs(b->value) : diff;
	row->p_value = NAN;
	if (diff == 0 && b->cls != PERF_TIMED) {
		row->verdict = PERF_SAME;
		return;
	}
	if (rule && rule->noise >= 0 && b->cls != PERF_TIMED &&
	    fabs(diff) <= rule->noise * fabs(b->value)) {
		row->verdict = PERF_NOISE;
		return;
	}
	bool beyond = fabs(diff) > (row->limit_rel >= 0 ? row->limit_rel * fabs(b->value) : 0) &&
	              fabs(diff) > (row->limit_abs >= 0 ? row->limit_abs : 0);
	if (b->cls == PERF_TIMED) {
		if (p_smallest(b->n_samples, c->n_samples) >= t->alpha) {
			row->verdict = PERF_TOO_FEW; /* no sample count could show a change */
			return;
		}
		row->p_value =
		    perf_mann_whitney_p(b->samples, b->n_samples, c->samples, c->n_samples);
		if (!(row->p_value < t->alpha) || !beyond) {
			row->verdict = PERF_NOISE;
			return;
		}
	}
	if (!worse(b, b->value, c->value))
		row->verdict = PERF_BETTER;
	else
		row->verdict = beyond ? PERF_REGRESSION : PERF_CHANGED;
}

int perf_compare(const struct perf_result *base, const struct perf_result *cur,
                 const struct perf_thresholds *t, struct perf_comparison *out)
{
	memset(out, 0, sizeof(*out));
	out->base = base;
	out->cur = cur;
	out->rows = calloc(base->n + cur->n + 1, sizeof(*out->rows));
	if (!out->rows)
		return -ENOMEM;
	for (size_t i = 0; i < base->n; i++) {
		struct perf_row *row = &out->rows[out->n++];
		row->base = &base->metrics[i];
		row->cur = perf_result_find(cur, row->base->name);
		row->p_value = row->change = NAN;
		if (!row->cur)
			row->verdict = PERF_MISSING;
		else
			judge(t, row);
	}
	for (size_t i = 0; i < cur->n; i++)
		if (!perf_result_find(base, cur->metrics[i].name)) {
			struct perf_row *row = &out->rows[out->n++];
			row->cur = &cur->metrics[i];
			row->p_value = row->change = NAN;
			row->verdict = PERF_NEW;
		}
	for (size_t i = 0; i < out->n; i++) {
		enum perf_verdict v = out->rows[i].verdict;
		out->regressions += v >= PERF_REGRESSION;
		out->changes += v != PERF_SAME && v != PERF_NOISE;
	}
	return 0;
}

void perf_comparison_free(struct perf_comparison *c)
{
	free(c->rows);
	memset(c, 0, sizeof(*c));
}

/* A value with up to 6 significant digits, or "-". */
static void value_text(const struct perf_metric *m, char *out, size_t cap)
{
	if (!m)
		snprintf(out, cap, "-");
	else if (fabs(m->value) >= 1e6)
		snprintf(out, cap, "%.0f", m->value);
	else
		snprintf(out, cap, "%.6g", m->value);
}

static void change_text(const struct perf_row *r, char *out, size_t cap)
{
	if (!r->base || !r->cur)
		snprintf(out, cap, "-");
	else if (r->base->value == 0)
		snprintf(out, cap, "%+.6g", r->change);
	else
		snprintf(out, cap, "%+.2f%%", r->change * 100);
}

static void detail_text(const struct perf_row *r, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	if (!isnan(r->p_value))
		o += (size_t)snprintf(out, cap, "p=%.3g, n=%zu/%zu", r->p_value, r->base->n_samples,
		                      r->cur->n_samples);
	if (r->base && r->cur && (r->limit_rel >= 0 || r->limit_abs >= 0) && o < cap) {
		o += (size_t)snprintf(out + o, cap - o, "%slimit", o ? "; " : "");
		if (r->limit_rel >= 0 && o < cap)
			o += (size_t)snprintf(out + o, cap - o, " %.4g%%", r->limit_rel * 100);
		if (r->limit_abs >= 0 && o < cap)
			snprintf(out + o, cap - o, " %s%.4g %s", r->limit_rel >= 0 ? "and " : "",
			         r->limit_abs, r->base->unit);
	}
}

/* A listed row's cells, as every form prints them. */
struct row_cells {
	char base[64], now[64], change[64], detail[160];
};

static void row_cells_fill(const struct perf_row *r, struct row_cells *t)
{
	value_text(r->base, t->base, sizeof(t->base));
	value_text(r->cur, t->now, sizeof(t->now));
	change_text(r, t->change, sizeof(t->change));
	detail_text(r, t->detail, sizeof(t->detail));
}

static const struct perf_metric *row_metric(const struct perf_row *r)
{
	return r->base ? r->base : r->cur;
}

/* Only changed rows are listed one by one; identical ones are counted. */
static bool row_listed(const struct perf_row *r)
{
	return r->verdict != PERF_SAME;
}

static void summary_line(const struct perf_comparison *c, char *out, size_t cap)
{
	size_t same = 0, noise = 0;
	for (size_t i = 0; i < c->n; i++) {
		same += c->rows[i].verdict == PERF_SAME;
		noise += c->rows[i].verdict == PERF_NOISE;
	}
	snprintf(out, cap,
	         "%zu metrics: %zu regressions, %zu other changes, %zu noise, %zu identical "
	         "(baseline %.12s, now %.12s)",
	         c->n, c->regressions, c->changes - c->regressions, noise, same,
	         c->base->env.commit[0] ? c->base->env.commit : "?",
	         c->cur->env.commit[0] ? c->cur->env.commit : "?");
}

int perf_comparison_text(const struct perf_comparison *c, FILE *out)
{
	struct row_cells t;
	char sum[256];

	fprintf(out, "%-56s %-7s %14s %14s %10s  %-10s %s\n", "metric", "class", "baseline", "now",
	        "change", "verdict", "detail");
	for (size_t i = 0; i < c->n; i++) {
		const struct perf_row *r = &c->rows[i];
		if (!row_listed(r))
			continue;
		row_cells_fill(r, &t);
		fprintf(out, "%-56s %-7s %14s %14s %10s  %-10s %s\n", row_metric(r)->name,
		        perf_class_name(row_metric(r)->cls), t.base, t.now, t.change,
		        perf_verdict_name(r->verdict), t.detail);
	}
	summary_line(c, sum, sizeof(sum));
	fprintf(out, "%s\n", sum);
	return ferror(out) ? -EIO : 0;
}

int perf_comparison_markdown(const struct perf_comparison *c, FILE *out)
{
	struct row_cells t;
	char sum[256];

	summary_line(c, sum, sizeof(sum));
	fprintf(out, "**Performance: %s**\n\n%s\n\n",
	        c->regressions ? "regression" : "no regression", sum);
	fprintf(out, "| metric | class | baseline | now | change | verdict | detail |\n"
	             "|---|---|---:|---:|---:|---|---|\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct perf_row *r = &c->rows[i];
		if (!row_listed(r))
			continue;
		row_cells_fill(r, &t);
		fputs("| ", out);
		report_md_cell(out, row_metric(r)->name);
		fprintf(out, " | %s | %s %s | %s | %s | %s%s%s | ",
		        perf_class_name(row_metric(r)->cls), t.base, row_metric(r)->unit, t.now,
		        t.change, r->verdict >= PERF_REGRESSION ? "**" : "",
		        perf_verdict_name(r->verdict), r->verdict >= PERF_REGRESSION ? "**" : "");
		report_md_cell(out, t.detail);
		fputs(" |\n", out);
	}
	return ferror(out) ? -EIO : 0;
}

int perf_comparison_html(const struct perf_comparison *c, const char *charts, FILE *out)
{
	struct row_cells t;
	char sum[256];

	summary_line(c, sum, sizeof(sum));
	fprintf(out,
	        "<!doctype html><html><head><meta charset=\"utf-8\"><title>perf compare</title>"
	        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
	        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
	        "td:first-child,th:first-child{text-align:left}.bad{background:#fdd}"
	        ".good{background:#dfd}.chg{background:#ffd}svg{max-width:100%%}</style>"
	        "</head><body><h1>Performance compare: %s</h1><p>",
	        c->regressions ? "regression" : "no regression");
	report_html_text(out, sum);
	fputs("</p><table><tr><th>metric</th><th>class</th><th>baseline</th><th>now</th>"
	      "<th>change</th><th>verdict</th><th>detail</th></tr>\n",
	      out);
	for (size_t i = 0; i < c->n; i++) {
		const struct perf_row *r = &c->rows[i];
		if (!row_listed(r))
			continue;
		row_cells_fill(r, &t);
		const char *cls = r->verdict >= PERF_REGRESSION ? "bad"
		                  : r->verdict == PERF_BETTER   ? "good"
		                  : r->verdict == PERF_CHANGED  ? "chg"
		                                                : "";
		fprintf(out, "<tr class=\"%s\"><td>", cls);
		report_html_text(out, row_metric(r)->name);
		fprintf(out, "</td><td>%s</td><td>%s %s</td><td>%s</td><td>%s</td><td>%s</td><td>",
		        perf_class_name(row_metric(r)->cls), t.base, row_metric(r)->unit, t.now,
		        t.change, perf_verdict_name(r->verdict));
		report_html_text(out, t.detail);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	for (size_t i = 0; charts && i < c->n; i++) {
		const struct perf_row *r = &c->rows[i];
		char path[4096];
		if (r->verdict == PERF_SAME || r->verdict == PERF_NOISE)
			continue;
		snprintf(path, sizeof(path), "%s/%s.svg", charts, row_metric(r)->name);
		fputs("<h3>", out);
		report_html_text(out, row_metric(r)->name);
		fputs("</h3>\n", out);
		if (!rp_image_inline(path, out))
			fputs("<p>(no history chart)</p>\n", out);
	}
	fputs("</body></html>\n", out);
	return ferror(out) ? -EIO : 0;
}
