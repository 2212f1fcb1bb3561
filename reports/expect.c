/* Evaluating the expectations of reports/expect.h against the reduced
 * events (rp_data); each kind's meaning is documented there. */
#include "reports/report_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void rp_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

void rp_format_trim(double v, int decimals, char *out, size_t cap)
{
	rp_fmt(out, cap, "%.*f", decimals, v);
	if (!strchr(out, '.'))
		return;
	size_t n = strlen(out);
	while (n && out[n - 1] == '0')
		out[--n] = '\0';
	if (n && out[n - 1] == '.')
		out[--n] = '\0';
	if (strcmp(out, "-0") == 0)
		rp_fmt(out, cap, "0");
}

void report_format_us(double us, char *out, size_t cap)
{
	char num[64];

	if (fabs(us) >= 1e6) {
		rp_format_trim(us / 1e6, 3, num, sizeof(num));
		rp_fmt(out, cap, "%ss", num);
	} else {
		rp_format_trim(us / 1e3, 3, num, sizeof(num));
		rp_fmt(out, cap, "%sms", num);
	}
}

static const char *const rp_cmp_text[] = {
    [EXPECT_CMP_EQ] = "==", [EXPECT_CMP_LT] = "<",  [EXPECT_CMP_LE] = "<=",
    [EXPECT_CMP_GT] = ">",  [EXPECT_CMP_GE] = ">=",
};

static const char *const rp_pct_text[] = {
    [EXPECT_P50] = "p50",   [EXPECT_P90] = "p90",         [EXPECT_P99] = "p99",
    [EXPECT_P999] = "p999", [EXPECT_MAX_LATENCY] = "max",
};

static const double rp_pct_value[] = {
    [EXPECT_P50] = 0.5,    [EXPECT_P90] = 0.9,         [EXPECT_P99] = 0.99,
    [EXPECT_P999] = 0.999, [EXPECT_MAX_LATENCY] = 1.0,
};

/* measured <cmp> value, with a relative tolerance for values parsed from
 * text ("99.9%" is not exactly 999/1000 in binary). */
static bool rp_cmp(enum expect_cmp cmp, double measured, double value)
{
	double eps = 1e-9 * fmax(1.0, fabs(value));

	switch (cmp) {
	case EXPECT_CMP_EQ:
		return fabs(measured - value) <= eps;
	case EXPECT_CMP_LT:
		return measured < value - eps;
	case EXPECT_CMP_LE:
		return measured <= value + eps;
	case EXPECT_CMP_GT:
		return measured > value + eps;
	case EXPECT_CMP_GE:
		return measured >= value - eps;
	}
	return false;
}

static const char *rp_cmp_str(enum expect_cmp c)
{
	return (unsigned)c < sizeof(rp_cmp_text) / sizeof(rp_cmp_text[0]) ? rp_cmp_text[c] : "?";
}

static int rp_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void rp_sort_u32(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), rp_u32_cmp);
}

uint32_t rp_percentile(const uint32_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	double rank = ceil(p * (double)n - 1e-9);
	size_t i = rank < 1 ? 0 : (size_t)rank - 1;
	return v[i < n ? i : n - 1];
}

static uint32_t rp_workload_index(const struct rp_data *d, const char *name)
{
	uint32_t id = rp_names_find(&d->names, name);

	if (id == RP_NONE || id >= d->map_cap || !d->wl_of[id])
		return RP_NONE;
	return d->wl_of[id] - 1;
}

/* Names compare ignoring case, spaces, '-' and '_' ("pending-approval"
 * matches "Pending approval"). */
static bool rp_state_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == ' ' || *a == '-' || *a == '_')
			a++;
		while (*b == ' ' || *b == '-' || *b == '_')
			b++;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* The last state recorded for (service, host) at or before t_us: its name
 * id, or RP_NONE. host RP_NONE asks for the service's own state. */
static uint32_t rp_state_at(const struct rp_data *d, uint32_t svc, uint32_t host, uint64_t t_us)
{
	uint32_t st = RP_NONE;

	for (size_t i = 0; i < d->n_states; i++) {
		const struct rp_state *s = &d->states[i];
		if (s->service == svc && s->host == host && s->t_us <= t_us)
			st = s->state;
	}
	return st;
}

static void rp_fill(struct expect_result *r, bool pass, double measured, const char *mtext,
                    const char *fmt_expected)
{
	r->pass = pass;
	r->measured = measured;
	rp_fmt(r->measured_text, sizeof(r->measured_text), "%s", mtext);
	rp_fmt(r->message, sizeof(r->message), "expected %s, measured %s", fmt_expected, mtext);
}

/* A rate or percentile check over a window or in a form (below). */
static bool rp_windowed(const struct expect *e)
{
	return e->form != EXPECT_WHOLE || e->from_us || e->to_us != UINT64_MAX;
}

static void rp_eval_windowed(const struct rp_data *d, const struct expect *e,
                             struct expect_result *r);

static void rp_eval_success(const struct rp_data *d, const struct expect *e,
                            struct expect_result *r)
{
	uint32_t w = rp_workload_index(d, e->workload);
	char val[64], mt[64], want[192];

	rp_format_trim(e->value * 100, 3, val, sizeof(val));
	rp_fmt(want, sizeof(want), "%s success_rate %s %s%%", e->workload, rp_cmp_str(e->cmp), val);
	if (w == RP_NONE || !d->wl[w].requests) {
		rp_fill(r, false, 0, "none (no requests)", want);
		return;
	}
	double rate = (double)d->wl[w].by_outcome[RP_OK] / (double)d->wl[w].requests;
	rp_format_trim(rate * 100, 3, mt, sizeof(mt));
	strcat(mt, "%");
	rp_fill(r, rp_cmp(e->cmp, rate, e->value), rate, mt, want);
}

static void rp_eval_latency(const struct rp_data *d, const struct expect *e,
                            struct expect_result *r)
{
	uint32_t w = rp_workload_index(d, e->workload);
	unsigned pct = (unsigned)e->percentile <= EXPECT_MAX_LATENCY ? e->percentile : EXPECT_P99;
	char val[64], mt[64], want[192];
	uint32_t *v = NULL;
	size_t n = 0;

	report_format_us(e->value, val, sizeof(val));
	rp_fmt(want, sizeof(want), "%s %s %s %s", e->workload, rp_pct_text[pct], rp_cmp_str(e->cmp),
	       val);
	if (w != RP_NONE && d->wl[w].by_outcome[RP_OK])
		v = malloc(d->wl[w].by_outcome[RP_OK] * sizeof(*v));
	if (v) {
		for (size_t i = 0; i < d->n_req; i++)
			if (d->req[i].workload == w && rp_req_outcome(&d->req[i]) == RP_OK)
				v[n++] = d->req[i].latency_us;
	}
	if (!n) {
		rp_fill(r, false, 0,
		        w != RP_NONE && d->wl[w].by_outcome[RP_OK] ? "none (out of memory)"
		                                                   : "none (no ok requests)",
		        want);
		free(v);
		return;
	}
	rp_sort_u32(v, n);
	double m = rp_percentile(v, n, rp_pct_value[pct]);
	free(v);
	report_format_us(m, mt, sizeof(mt));
	rp_fill(r, rp_cmp(e->cmp, m, e->value), m, mt, want);
}

static void rp_window_text(const struct expect *e, char *out, size_t cap)
{
	char a[64], b[64];

	report_format_us((double)e->from_us, a, sizeof(a));
	if (e->to_us == UINT64_MAX)
		rp_fmt(b, sizeof(b), "end");
	else
		report_format_us((double)e->to_us, b, sizeof(b));
	rp_fmt(out, cap, "[%s, %s]", a, b);
}

static void rp_eval_newconn(const struct rp_data *d, size_t index, const struct expect *e,
                            struct expect_result *r)
{
	char win[160], want[256], val[64], mt[64];
	uint64_t n = d->ex_count ? d->ex_count[index] : 0;

	rp_window_text(e, win, sizeof(win));
	rp_format_trim(e->value, 3, val, sizeof(val));
	rp_fmt(want, sizeof(want), "new_connections on %s in %s %s %s", e->node, win,
	       rp_cmp_str(e->cmp), val);
	rp_fmt(mt, sizeof(mt), "%llu", (unsigned long long)n);
	rp_fill(r, rp_cmp(e->cmp, (double)n, e->value), (double)n, mt, want);
}

static void rp_eval_state(const struct rp_data *d, const struct expect *e, bool host,
                          struct expect_result *r)
{
	uint32_t svc = rp_names_find(&d->names, e->service);
	uint32_t h = host ? rp_names_find(&d->names, e->node) : RP_NONE;
	uint32_t st = RP_NONE;
	char at[64], want[256];

	report_format_us((double)e->at_us, at, sizeof(at));
	if (host)
		rp_fmt(want, sizeof(want), "state of %s for %s at %s == %s", e->node, e->service,
		       at, e->state);
	else
		rp_fmt(want, sizeof(want), "state of %s at %s == %s", e->service, at, e->state);
	if (svc != RP_NONE && (!host || h != RP_NONE))
		st = rp_state_at(d, svc, h, e->at_us);
	if (st == RP_NONE) {
		rp_fill(r, false, 0, "none", want);
		return;
	}
	rp_fill(r, rp_state_eq(rp_name(d, st), e->state), 0, rp_name(d, st), want);
}

static void rp_eval_failover(const struct rp_data *d, const struct expect *e,
                             struct expect_result *r)
{
	uint32_t w = rp_workload_index(d, e->workload);
	uint32_t fault = RP_NONE;
	uint64_t fault_done = 0, best = UINT64_MAX;
	char val[64], after[64], mt[96], want[256];

	report_format_us(e->value, val, sizeof(val));
	report_format_us((double)e->after_us, after, sizeof(after));
	rp_fmt(want, sizeof(want), "%s failover_time after %s %s %s", e->workload, after,
	       rp_cmp_str(e->cmp), val);
	if (w == RP_NONE) {
		rp_fill(r, false, 0, "none (no requests)", want);
		return;
	}
	for (size_t i = 0; i < d->n_req; i++) {
		const struct rp_req *q = &d->req[i];
		uint64_t done = q->start_us + q->latency_us;
		if (q->workload != w || rp_req_outcome(q) != RP_OK || done >= e->after_us)
			continue;
		if (fault == RP_NONE || done >= fault_done) {
			fault = q->host;
			fault_done = done;
		}
	}
	for (size_t i = 0; i < d->n_req; i++) {
		const struct rp_req *q = &d->req[i];
		uint64_t done = q->start_us + q->latency_us;
		if (q->workload != w || rp_req_outcome(q) != RP_OK || q->start_us < e->after_us ||
		    q->host == fault)
			continue;
		if (done < best)
			best = done;
	}
	if (best == UINT64_MAX) {
		rp_fmt(mt, sizeof(mt), "none (no ok request on another host than %s)",
		       fault == RP_NONE ? "-" : rp_name(d, fault));
		rp_fill(r, false, 0, mt, want);
		return;
	}
	double m = (double)(best - e->after_us);
	report_format_us(m, mt, sizeof(mt));
	rp_fill(r, rp_cmp(e->cmp, m, e->value), m, mt, want);
}

static void rp_eval_resets(const struct rp_data *d, const struct expect *e, struct expect_result *r)
{
	uint32_t w = rp_workload_index(d, e->workload);
	uint64_t n = 0;
	char win[160], want[256], val[64], mt[64];

	for (size_t i = 0; w != RP_NONE && i < d->n_req; i++) {
		const struct rp_req *q = &d->req[i];
		uint64_t done = q->start_us + q->latency_us;
		if (q->workload == w && rp_req_outcome(q) == RP_RESET && done >= e->from_us &&
		    done <= e->to_us)
			n++;
	}
	rp_window_text(e, win, sizeof(win));
	rp_format_trim(e->value, 3, val, sizeof(val));
	rp_fmt(want, sizeof(want), "%s resets in %s %s %s", e->workload, win, rp_cmp_str(e->cmp),
	       val);
	rp_fmt(mt, sizeof(mt), "%llu", (unsigned long long)n);
	rp_fill(r, rp_cmp(e->cmp, (double)n, e->value), (double)n, mt, want);
}

/* A span [from, to) in which a host was Connected for a service. */
struct rp_span {
	uint32_t svc, host;
	uint64_t from, to;
	size_t order;
};

static int rp_span_cmp(const void *pa, const void *pb)
{
	const struct rp_span *a = pa, *b = pb;

	if (a->svc != b->svc)
		return a->svc < b->svc ? -1 : 1;
	if (a->host != b->host)
		return a->host < b->host ? -1 : 1;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* The Connected spans of every (service, host), sorted; *n their count.
 * NULL when out of memory (with *n 0 and no host state: an empty list). */
static struct rp_span *rp_spans(const struct rp_data *d, size_t *n, bool *oom)
{
	struct rp_span *ch = NULL, *out = NULL;
	size_t m = 0, k = 0;

	*n = 0;
	*oom = false;
	for (size_t i = 0; i < d->n_states; i++)
		m += d->states[i].host != RP_NONE;
	if (!m)
		return NULL;
	ch = malloc(m * sizeof(*ch));
	out = malloc(m * sizeof(*out));
	if (!ch || !out) {
		free(ch);
		free(out);
		*oom = true;
		return NULL;
	}
	m = 0;
	for (size_t i = 0; i < d->n_states; i++) {
		const struct rp_state *s = &d->states[i];
		if (s->host == RP_NONE)
			continue;
		/* `to` carries whether the state is Connected until spans are cut */
		ch[m++] = (struct rp_span){s->service, s->host, s->t_us,
		                           rp_state_eq(rp_name(d, s->state), "connected"), i};
	}
	qsort(ch, m, sizeof(*ch), rp_span_cmp);
	for (size_t i = 0; i < m; i++) {
		if (!ch[i].to)
			continue;
		bool last =
		    i + 1 == m || ch[i + 1].svc != ch[i].svc || ch[i + 1].host != ch[i].host;
		out[k] = ch[i];
		out[k].to = last ? UINT64_MAX : ch[i + 1].from;
		if (out[k].to > out[k].from || last)
			k++;
	}
	free(ch);
	*n = k;
	return out;
}

/* Whether a span of (svc, h) meets [from, to]. */
static bool rp_span_meets(const struct rp_span *sp, size_t n, uint32_t svc, uint32_t h,
                          uint64_t from, uint64_t to)
{
	size_t lo = 0, hi = n;

	/* first span not before (svc, h, to > from) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rp_span *x = &sp[mid];
		bool before = x->svc < svc || (x->svc == svc && x->host < h) ||
		              (x->svc == svc && x->host == h && x->to <= from);
		if (before)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && sp[lo].svc == svc && sp[lo].host == h && sp[lo].from <= to;
}

static void rp_eval_never(const struct rp_data *d, const struct expect *e, struct expect_result *r)
{
	uint64_t bad = 0, first_t = 0;
	uint32_t first_h = RP_NONE, first_w = RP_NONE;
	uint32_t empty = rp_names_find(&d->names, "");
	char want[300], mt[192], at[64];
	size_t n_sp;
	bool oom;
	struct rp_span *sp = rp_spans(d, &n_sp, &oom);

	rp_fmt(want, sizeof(want), "never: %s", e->text[0] ? e->text : "an ineligible host");
	if (oom) {
		rp_fill(r, false, 0, "none (out of memory)", want);
		return;
	}
	for (size_t i = 0; i < d->n_req; i++) {
		const struct rp_req *q = &d->req[i];
		uint32_t svc = d->wl[q->workload].service;
		if (rp_req_outcome(q) != RP_OK || svc == RP_NONE || q->host == empty)
			continue;
		uint64_t from = q->start_us > EXPECT_ELIGIBLE_SLACK_US
		                    ? q->start_us - EXPECT_ELIGIBLE_SLACK_US
		                    : 0;
		if (rp_span_meets(sp, n_sp, svc, q->host, from, q->start_us))
			continue;
		if (!bad++) {
			first_t = q->start_us;
			first_h = q->host;
			first_w = q->workload;
		}
	}
	free(sp);
	if (!bad) {
		rp_fill(r, true, 0, "none", want);
		return;
	}
	report_format_us((double)first_t, at, sizeof(at));
	rp_fmt(mt, sizeof(mt), "%llu (first: %s at %s on %s)", (unsigned long long)bad,
	       rp_name(d, d->wl[first_w].name), at, rp_name(d, first_h));
	rp_fill(r, false, (double)bad, mt, want);
}

/* ---- rates and percentiles over windows: from/to, throughout, eventually ---- */

/* One request of the judged workload in the judged span. */
struct rw_req {
	uint64_t start;
	uint32_t latency;
	bool ok;
};

/* The requests of one check, sorted by start, and scratch for latencies. */
struct rw_set {
	const struct expect *e;
	struct rw_req *req;
	size_t n;
	uint32_t *lat;
};

static int rw_req_cmp(const void *pa, const void *pb)
{
	const struct rw_req *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->latency != b->latency)
		return a->latency < b->latency ? -1 : 1;
	return (int)a->ok - (int)b->ok;
}

/* Collects the requests of e's workload that start in [from, end);
 * false when out of memory. */
static bool rw_collect(const struct rp_data *d, const struct expect *e, uint64_t from, uint64_t end,
                       struct rw_set *s)
{
	uint32_t w = rp_workload_index(d, e->workload);

	memset(s, 0, sizeof(*s));
	s->e = e;
	if (w == RP_NONE || !d->wl[w].requests)
		return true;
	s->req = malloc(d->wl[w].requests * sizeof(*s->req));
	s->lat = malloc(d->wl[w].requests * sizeof(*s->lat));
	if (!s->req || !s->lat)
		return false;
	for (size_t i = 0; i < d->n_req && s->n < d->wl[w].requests; i++) {
		const struct rp_req *q = &d->req[i];
		if (q->workload == w && q->start_us >= from && q->start_us < end)
			s->req[s->n++] =
			    (struct rw_req){q->start_us, q->latency_us, rp_req_outcome(q) == RP_OK};
	}
	qsort(s->req, s->n, sizeof(*s->req), rw_req_cmp);
	return true;
}

static void rw_free(struct rw_set *s)
{
	free(s->req);
	free(s->lat);
}

/* The measure of req[i..j) (success rate, or the percentile of the ok
 * ones); false when there is nothing to measure. */
static bool rw_measure(struct rw_set *s, size_t i, size_t j, double *m)
{
	size_t ok = 0;

	for (size_t k = i; k < j; k++)
		if (s->req[k].ok)
			s->lat[ok++] = s->req[k].latency;
	if (s->e->kind == EXPECT_SUCCESS_RATE) {
		*m = (double)ok / (double)(j - i);
		return j > i;
	}
	if (!ok)
		return false;
	rp_sort_u32(s->lat, ok);
	unsigned pct =
	    (unsigned)s->e->percentile <= EXPECT_MAX_LATENCY ? s->e->percentile : EXPECT_P99;
	*m = rp_percentile(s->lat, ok, rp_pct_value[pct]);
	return true;
}

/* The first request at or after t, from i on. */
static size_t rw_seek(const struct rw_set *s, size_t i, uint64_t t)
{
	while (i < s->n && s->req[i].start < t)
		i++;
	return i;
}

static void rw_value_text(const struct expect *e, double m, char *out, size_t cap)
{
	if (e->kind == EXPECT_SUCCESS_RATE) {
		rp_format_trim(m * 100, 3, out, cap);
		if (strlen(out) + 1 < cap)
			strcat(out, "%");
	} else {
		report_format_us(m, out, cap);
	}
}

/* "[a, b)" */
static void rw_span_text(uint64_t a, uint64_t b, char *out, size_t cap)
{
	char x[64], y[64];

	report_format_us((double)a, x, sizeof(x));
	report_format_us((double)b, y, sizeof(y));
	rp_fmt(out, cap, "[%s, %s)", x, y);
}

/* Whether m is worse than w for the comparison (lower for > and >=). */
static bool rw_worse(enum expect_cmp cmp, double m, double w)
{
	return cmp == EXPECT_CMP_GT || cmp == EXPECT_CMP_GE ? m < w : m > w;
}

/* The expectation as written, with its window and form. */
static void rw_want(const struct expect *e, uint64_t from, uint64_t end, char *out, size_t cap)
{
	unsigned pct = (unsigned)e->percentile <= EXPECT_MAX_LATENCY ? e->percentile : EXPECT_P99;
	char val[64], span[160], win[64], within[64], after[64], to[64];

	if (e->kind == EXPECT_SUCCESS_RATE) {
		rp_format_trim(e->value * 100, 3, val, sizeof(val));
		strcat(val, "%");
	} else {
		report_format_us(e->value, val, sizeof(val));
	}
	rw_span_text(from, end, span, sizeof(span));
	report_format_us((double)e->window_us, win, sizeof(win));
	report_format_us((double)e->within_us, within, sizeof(within));
	report_format_us((double)e->after_us, after, sizeof(after));
	report_format_us((double)end, to, sizeof(to));
	const char *what = e->kind == EXPECT_SUCCESS_RATE ? "success_rate" : rp_pct_text[pct];
	if (e->form == EXPECT_THROUGHOUT)
		rp_fmt(out, cap, "%s %s %s %s in every %s window of %s", e->workload, what,
		       rp_cmp_str(e->cmp), val, win, span);
	else if (e->form == EXPECT_EVENTUALLY)
		rp_fmt(out, cap, "%s %s %s %s in every %s window from at most %s after %s%s to %s",
		       e->workload, what, rp_cmp_str(e->cmp), val, win, within,
		       e->after_last_heal ? "the last heal at " : "", after, to);
	else
		rp_fmt(out, cap, "%s %s %s %s for requests started in %s", e->workload, what,
		       rp_cmp_str(e->cmp), val, span);
}

static void rw_whole(struct rw_set *s, const char *want, struct expect_result *r)
{
	char mt[128];
	double m;

	if (!rw_measure(s, 0, s->n, &m)) {
		rp_fill(r, false, 0,
		        s->e->kind == EXPECT_SUCCESS_RATE ? "none (no requests)"
		                                          : "none (no ok requests)",
		        want);
		return;
	}
	rw_value_text(s->e, m, mt, sizeof(mt));
	rp_fill(r, rp_cmp(s->e->cmp, m, s->e->value), m, mt, want);
}

static void rw_throughout(struct rw_set *s, uint64_t from, uint64_t end, const char *want,
                          struct expect_result *r)
{
	const struct expect *e = s->e;
	size_t i = 0, judged = 0, failing = 0, windows = 0;
	uint64_t fa = 0, fb = 0, wa = 0, wb = 0;
	double fm = 0, worst = 0, m;
	char mt[128], v[64], span[96];

	for (uint64_t a = from; a < end && windows < EXPECT_WINDOWS_MAX; a += e->window_us) {
		uint64_t b = end - a > e->window_us ? a + e->window_us : end;
		size_t j = rw_seek(s, i, b);
		windows++;
		if (rw_measure(s, i, j, &m)) {
			if (!judged++ || rw_worse(e->cmp, m, worst)) {
				worst = m;
				wa = a;
				wb = b;
			}
			if (!rp_cmp(e->cmp, m, e->value) && !failing++) {
				fm = m;
				fa = a;
				fb = b;
			}
		}
		i = j;
	}
	if (!judged) {
		rp_fill(r, false, 0, "none (no window has anything to measure)", want);
		return;
	}
	if (failing) {
		rw_value_text(e, fm, v, sizeof(v));
		rw_span_text(fa, fb, span, sizeof(span));
		rp_fmt(mt, sizeof(mt), "%s in %s (%zu of %zu measured windows fail)", v, span,
		       failing, judged);
		rp_fill(r, false, fm, mt, want);
		return;
	}
	rw_value_text(e, worst, v, sizeof(v));
	rw_span_text(wa, wb, span, sizeof(span));
	rp_fmt(mt, sizeof(mt), "worst %s in %s (%zu measured windows)", v, span, judged);
	rp_fill(r, true, worst, mt, want);
}

/* The end of the run's last fault window (0 without one); false when out
 * of memory. */
static bool rw_last_heal(const struct rp_data *d, uint64_t *t)
{
	struct rp_window *w;
	int n = rp_fault_windows(d, &w);

	*t = 0;
	if (n < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (w[i].to_us > *t)
			*t = w[i].to_us;
	free(w);
	return true;
}

static void rw_eventually(struct rw_set *s, uint64_t after, uint64_t end, const char *want,
                          struct expect_result *r)
{
	const struct expect *e = s->e;
	size_t i = 0, windows = 0, settle = 0, last_measured = 0;
	bool measured_any = false;
	uint64_t fa = 0, fb = 0;
	double fm = 0, m;
	char mt[160], v[64], span[96], t[64], late[64];

	for (uint64_t a = after; a < end && windows < EXPECT_WINDOWS_MAX; a += e->window_us) {
		uint64_t b = end - a > e->window_us ? a + e->window_us : end;
		size_t j = rw_seek(s, i, b);
		windows++;
		if (rw_measure(s, i, j, &m)) {
			measured_any = true;
			last_measured = windows - 1;
			if (!rp_cmp(e->cmp, m, e->value)) {
				settle = windows;
				fm = m;
				fa = a;
				fb = b;
			}
		}
		i = j;
	}
	if (!measured_any || last_measured < settle) {
		report_format_us((double)(after + settle * e->window_us), t, sizeof(t));
		rp_fmt(mt, sizeof(mt), "none (nothing to measure from %s on)", t);
		rp_fill(r, false, 0, mt, want);
		return;
	}
	uint64_t took = settle * e->window_us;
	report_format_us((double)(after + took), t, sizeof(t));
	report_format_us((double)took, late, sizeof(late));
	if (!settle)
		rp_fmt(mt, sizeof(mt), "holds from %s (%s after)", t, late);
	else {
		rw_value_text(e, fm, v, sizeof(v));
		rw_span_text(fa, fb, span, sizeof(span));
		rp_fmt(mt, sizeof(mt), "holds from %s (%s after; last failing window %s: %s)", t,
		       late, span, v);
	}
	rp_fill(r, took <= e->within_us, (double)took, mt, want);
}

static void rp_eval_windowed(const struct rp_data *d, const struct expect *e,
                             struct expect_result *r)
{
	uint64_t from = e->from_us, end = e->to_us < d->end_us ? e->to_us : d->end_us;
	char want[256];
	struct rw_set s;

	if (e->form == EXPECT_EVENTUALLY) {
		from = e->after_us;
		if (e->after_last_heal && !rw_last_heal(d, &from)) {
			rp_fill(r, false, 0, "none (out of memory)", "a judged expectation");
			return;
		}
	}
	if (e->form != EXPECT_WHOLE && !e->window_us) {
		rp_fill(r, false, 0, "none (a window of 0s)", "a window longer than 0s");
		return;
	}
	struct expect resolved = *e;
	resolved.after_us = from;
	rw_want(&resolved, from, end > from ? end : from, want, sizeof(want));
	if (!rw_collect(d, e, from, end, &s)) {
		rw_free(&s);
		rp_fill(r, false, 0, "none (out of memory)", want);
		return;
	}
	if (e->form == EXPECT_THROUGHOUT)
		rw_throughout(&s, from, end, want, r);
	else if (e->form == EXPECT_EVENTUALLY)
		rw_eventually(&s, from, end, want, r);
	else
		rw_whole(&s, want, r);
	rw_free(&s);
}

void rp_expect_eval(const struct rp_data *d, size_t index, const struct expect *e,
                    struct expect_result *r)
{
	if (e->kind != EXPECT_INVARIANT) /* the caller's verdict stays */
		memset(r, 0, sizeof(*r));
	switch (e->kind) {
	case EXPECT_SUCCESS_RATE:
	case EXPECT_LATENCY:
		if (rp_windowed(e))
			rp_eval_windowed(d, e, r);
		else if (e->kind == EXPECT_SUCCESS_RATE)
			rp_eval_success(d, e, r);
		else
			rp_eval_latency(d, e, r);
		break;
	case EXPECT_NEW_CONNECTIONS:
		rp_eval_newconn(d, index, e, r);
		break;
	case EXPECT_SERVICE_STATE:
		rp_eval_state(d, e, false, r);
		break;
	case EXPECT_HOST_STATE:
		rp_eval_state(d, e, true, r);
		break;
	case EXPECT_FAILOVER_TIME:
		rp_eval_failover(d, e, r);
		break;
	case EXPECT_RESETS:
		rp_eval_resets(d, e, r);
		break;
	case EXPECT_NEVER_INELIGIBLE:
		rp_eval_never(d, e, r);
		break;
	case EXPECT_INVARIANT:
		/* The caller judged it before the report (report_input.results);
		 * a result nobody filled is no pass. */
		if (!r->message[0])
			rp_fill(r, false, 0, "not judged",
			        "judged by simrun only (the invariant checker)");
		break;
	case EXPECT_NONE:
	default:
		rp_fill(r, false, 0, "nothing", "a known expectation kind");
		break;
	}
}
