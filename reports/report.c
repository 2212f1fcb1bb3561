/* report_write: events.jsonl -> report.json, latency.csv, plots,
 * summary.md and index.html (see report.h). */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "reports/report_int.h"

#include "lib/base/errfmt.h"
#include "lib/base/outfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- group statistics ---- */

/* Requests of one (workload, group): group is a region or host name id, or
 * 0 for the workload as a whole. p: p50 p90 p99 p999 max of the ok ones. */
struct rp_gstat {
	uint32_t wl, group;
	uint64_t requests, ok;
	uint32_t p[5];
};

static const double rp_pcts[5] = {0.5, 0.9, 0.99, 0.999, 1.0};
static const char *const rp_pct_keys[5] = {"p50", "p90", "p99", "p999", "max"};

enum rp_grouping { RP_BY_WORKLOAD, RP_BY_REGION, RP_BY_HOST };

struct rp_skey {
	uint32_t wl, group, notok, lat;
};

static int rp_skey_cmp(const void *pa, const void *pb)
{
	const struct rp_skey *a = pa, *b = pb;

	if (a->wl != b->wl)
		return a->wl < b->wl ? -1 : 1;
	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->notok != b->notok)
		return a->notok < b->notok ? -1 : 1;
	return a->lat < b->lat ? -1 : a->lat > b->lat;
}

/* The statistics per group, sorted by (workload, group id). *n the count;
 * -ENOMEM. */
static int rp_groups(const struct rp_data *d, enum rp_grouping by, struct rp_gstat **out, size_t *n)
{
	struct rp_skey *k = malloc((d->n_req ? d->n_req : 1) * sizeof(*k));
	struct rp_gstat *g = NULL;
	size_t ng = 0;

	*out = NULL;
	*n = 0;
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_req; i++) {
		const struct rp_req *q = &d->req[i];
		k[i].wl = q->workload;
		k[i].group = by == RP_BY_WORKLOAD ? 0
		             : by == RP_BY_REGION ? d->names.region[q->client]
		                                  : q->host;
		k[i].notok = rp_req_outcome(q) != RP_OK;
		k[i].lat = q->latency_us;
	}
	qsort(k, d->n_req, sizeof(*k), rp_skey_cmp);
	g = calloc(d->n_req ? d->n_req : 1, sizeof(*g));
	if (!g) {
		free(k);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->n_req;) {
		size_t j = i, ok;
		while (j < d->n_req && k[j].wl == k[i].wl && k[j].group == k[i].group)
			j++;
		for (ok = i; ok < j && !k[ok].notok; ok++)
			;
		struct rp_gstat *s = &g[ng++];
		s->wl = k[i].wl;
		s->group = k[i].group;
		s->requests = j - i;
		s->ok = ok - i;
		for (int p = 0; p < 5 && s->ok; p++) {
			double rank = (double)s->ok * rp_pcts[p];
			size_t r = (size_t)rank;
			if ((double)r < rank - 1e-9)
				r++;
			s->p[p] = k[i + (r ? r - 1 : 0)].lat;
		}
		i = j;
	}
	free(k);
	*out = g;
	*n = ng;
	return 0;
}

/* ---- JSON ---- */

void rp_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void rp_json_num(FILE *f, double v, int decimals)
{
	char b[64];

	rp_format_trim(v, decimals, b, sizeof(b));
	fputs(b, f);
}

static void rp_json_latency(FILE *f, const struct rp_gstat *s)
{
	fputs("\"latency_ms\":", f);
	if (!s->ok) {
		fputs("null", f);
		return;
	}
	fputc('{', f);
	for (int p = 0; p < 5; p++) {
		fprintf(f, "%s\"%s\":", p ? "," : "", rp_pct_keys[p]);
		rp_json_num(f, s->p[p] / 1e3, 3);
	}
	fputc('}', f);
}

static void rp_json_group(FILE *f, const struct rp_data *d, const struct rp_gstat *s,
                          const char *name)
{
	rp_json_str(f, name);
	fprintf(f, ":{\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",", s->requests, s->ok);
	rp_json_latency(f, s);
	fputc('}', f);
	(void)d;
}

static const char *rp_group_name(const struct rp_data *d, uint32_t id, bool region)
{
	if (id == RP_NONE)
		return "unknown";
	if (!region && !*rp_name(d, id))
		return "(none)";
	return rp_name(d, id);
}

struct rp_stats {
	struct rp_gstat *wl, *region, *host;
	size_t n_wl, n_region, n_host;
};

static void rp_json_workloads(FILE *f, const struct rp_data *d, const struct rp_stats *st)
{
	size_t r = 0, h = 0, w = 0;

	fputs("\"workloads\":{", f);
	for (size_t i = 0; i < d->n_wl; i++) {
		const struct rp_workload *wl = &d->wl[i];
		struct rp_gstat empty = {.wl = (uint32_t)i};
		const struct rp_gstat *s =
		    w < st->n_wl && st->wl[w].wl == i ? &st->wl[w++] : &empty;
		fprintf(f, "%s\n", i ? "," : "");
		rp_json_str(f, rp_name(d, wl->name));
		fprintf(f, ":{\"service\":");
		if (wl->service == RP_NONE)
			fputs("null", f);
		else
			rp_json_str(f, rp_name(d, wl->service));
		fprintf(f, ",\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"success_rate\":",
		        wl->requests, wl->by_outcome[RP_OK]);
		if (wl->requests)
			rp_json_num(f, (double)wl->by_outcome[RP_OK] / (double)wl->requests, 6);
		else
			fputs("null", f);
		fputs(",\"failed\":{", f);
		for (int o = 1; o < RP_OUTCOMES; o++)
			fprintf(f, "%s\"%s\":%" PRIu64, o > 1 ? "," : "", rp_outcome_names[o],
			        wl->by_outcome[o]);
		fputs("},", f);
		rp_json_latency(f, s);
		fputs(",\n \"regions\":{", f);
		for (bool first = true; r < st->n_region && st->region[r].wl == i; r++) {
			fputs(first ? "" : ",", f);
			first = false;
			rp_json_group(f, d, &st->region[r],
			              rp_group_name(d, st->region[r].group, true));
		}
		fputs("},\n \"hosts\":{", f);
		for (bool first = true; h < st->n_host && st->host[h].wl == i; h++) {
			fputs(first ? "" : ",", f);
			first = false;
			rp_json_group(f, d, &st->host[h],
			              rp_group_name(d, st->host[h].group, false));
		}
		fputs("}}", f);
	}
	fputs("}", f);
}

static void rp_json_hosts(FILE *f, const struct rp_data *d)
{
	fputs("\"hosts\":{", f);
	for (size_t i = 0; i < d->n_hosts; i++) {
		const struct rp_host *h = &d->hosts[i];
		fprintf(f, "%s\n", i ? "," : "");
		rp_json_str(f, rp_name(d, h->name));
		fprintf(f,
		        ":{\"new_connections\":%" PRIu64 ",\"closed_connections\":%" PRIu64
		        ",\"requests\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		        ",\"open_connections\":[",
		        h->new_conns, h->closed, h->requests, h->bytes_in, h->bytes_out);
		for (size_t s = 0; s < h->n_series; s++)
			fprintf(f, "%s[%zu,%" PRIu32 "]", s ? "," : "", s, h->series[s]);
		fputs("]}", f);
	}
	fputs("}", f);
}

struct rp_sorder {
	uint32_t service, host;
	size_t i;
};

static int rp_state_order_cmp(const void *pa, const void *pb)
{
	const struct rp_sorder *a = pa, *b = pb;

	if (a->service != b->service)
		return a->service < b->service ? -1 : 1;
	/* hosts by id, the service's own states (host RP_NONE) last */
	if (a->host != b->host)
		return a->host < b->host ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

static int rp_json_services(FILE *f, const struct rp_data *d)
{
	struct rp_sorder *so = malloc((d->n_states ? d->n_states : 1) * sizeof(*so));
	size_t *ix = malloc((d->n_states ? d->n_states : 1) * sizeof(*ix));
	bool first_svc = true;

	if (!ix || !so) {
		free(ix);
		free(so);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->n_states; i++)
		so[i] = (struct rp_sorder){d->states[i].service, d->states[i].host, i};
	qsort(so, d->n_states, sizeof(*so), rp_state_order_cmp);
	for (size_t i = 0; i < d->n_states; i++)
		ix[i] = so[i].i;
	free(so);
	fputs("\"services\":{", f);
	for (size_t i = 0; i < d->n_states;) {
		uint32_t svc = d->states[ix[i]].service;
		size_t end = i;
		while (end < d->n_states && d->states[ix[end]].service == svc)
			end++;
		fprintf(f, "%s\n", first_svc ? "" : ",");
		first_svc = false;
		rp_json_str(f, rp_name(d, svc));
		fputs(":{\"hosts\":{", f);
		size_t j = i;
		for (bool first = true; j < end && d->states[ix[j]].host != RP_NONE;) {
			uint32_t h = d->states[ix[j]].host;
			fputs(first ? "" : ",", f);
			first = false;
			rp_json_str(f, rp_name(d, h));
			fputs(":[", f);
			for (bool fs = true; j < end && d->states[ix[j]].host == h;
			     j++, fs = false) {
				fprintf(f, "%s{\"t_us\":%" PRIu64 ",\"state\":", fs ? "" : ",",
				        d->states[ix[j]].t_us);
				rp_json_str(f, rp_name(d, d->states[ix[j]].state));
				fputc('}', f);
			}
			fputc(']', f);
		}
		fputs("},\"states\":[", f);
		for (bool fs = true; j < end; j++, fs = false) {
			fprintf(f, "%s{\"t_us\":%" PRIu64 ",\"state\":", fs ? "" : ",",
			        d->states[ix[j]].t_us);
			rp_json_str(f, rp_name(d, d->states[ix[j]].state));
			fputc('}', f);
		}
		fputs("]}", f);
		i = end;
	}
	fputs("}", f);
	free(ix);
	return 0;
}

static const char *const rp_kind_names[] = {
    [EXPECT_NONE] = "none",
    [EXPECT_SUCCESS_RATE] = "success_rate",
    [EXPECT_LATENCY] = "latency",
    [EXPECT_NEW_CONNECTIONS] = "new_connections",
    [EXPECT_SERVICE_STATE] = "service_state",
    [EXPECT_HOST_STATE] = "host_state",
    [EXPECT_FAILOVER_TIME] = "failover_time",
    [EXPECT_RESETS] = "resets",
    [EXPECT_NEVER_INELIGIBLE] = "never",
    [EXPECT_INVARIANT] = "invariant",
};

static const char *rp_kind_name(enum expect_kind k)
{
	return (unsigned)k < sizeof(rp_kind_names) / sizeof(rp_kind_names[0]) ? rp_kind_names[k]
	                                                                      : "unknown";
}

static void rp_json_timeline(FILE *f, const struct rp_data *d, const struct rp_window *w, size_t nw)
{
	fputs("\"timeline\":[", f);
	for (size_t i = 0; i < d->n_marks; i++) {
		const struct rp_mark *m = &d->marks[i];
		fprintf(f, "%s\n{\"t_us\":%" PRIu64 ",\"node\":", i ? "," : "", m->t_us);
		rp_json_str(f, rp_name(d, m->node));
		fputs(",\"action\":", f);
		rp_json_str(f, rp_name(d, m->action));
		fputs(",\"target\":", f);
		rp_json_str(f, rp_name(d, m->target));
		fputs(",\"detail\":", f);
		rp_json_str(f, rp_name(d, m->detail));
		fputc('}', f);
	}
	fputs("],\n\"fault_windows\":[", f);
	for (size_t i = 0; i < nw; i++) {
		fprintf(f, "%s{\"from_us\":%" PRIu64 ",\"to_us\":%" PRIu64 ",\"action\":",
		        i ? "," : "", w[i].from_us, w[i].to_us);
		rp_json_str(f, rp_name(d, w[i].action));
		fputs(",\"target\":", f);
		rp_json_str(f, rp_name(d, w[i].label));
		fputc('}', f);
	}
	fputs("]", f);
}

/* ---- output files that say why they are incomplete ---- */

struct rp_out {
	struct outfile of;
	FILE *f;
	char path[4096];
};

void rp_output_failed(struct rp_outputs *o, const char *path, const char *why)
{
	o->failed++;
	if (o->in->output_failed)
		o->in->output_failed(o->in->output_ctx, path, why);
}

FILE *rp_out_open(struct rp_outputs *o, const char *dir, const char *name, struct rp_out **out)
{
	struct rp_out *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (!x) {
		rp_output_failed(o, name, strerror(ENOMEM));
		return NULL;
	}
	rp_fmt(x->path, sizeof(x->path), "%s/%s", dir, name);
	x->f = outfile_open(&x->of, x->path, false);
	if (!x->f) {
		rp_output_failed(o, x->path, strerror(errno));
		free(x);
		return NULL;
	}
	*out = x;
	return x->f;
}

bool rp_out_close(struct rp_outputs *o, struct rp_out *x)
{
	int err;

	if (!x)
		return false;
	err = outfile_close(&x->of, x->f);
	if (err)
		rp_output_failed(o, x->path, strerror(-err));
	free(x);
	return err == 0;
}

static int rp_write_json(const struct report_input *in, const struct rp_data *d,
                         const struct rp_stats *st, struct rp_outputs *outs, char *err,
                         size_t err_len)
{
	struct rp_window *w = NULL;
	struct rp_out *out;
	int nw, rc = 0;
	FILE *f = rp_out_open(outs, in->out_dir, "report.json", &out);

	if (!f)
		return 0; /* reported */
	nw = rp_fault_windows(d, &w);
	if (nw < 0) {
		rc = err_setf(err, err_len, nw, "out of memory");
		goto out;
	}
	fputs("{\"run\":{\"scenario\":", f);
	rp_json_str(f, in->scenario ? in->scenario : "");
	fprintf(f, ",\"seed\":%" PRIu64 ",\"simulated_s\":", in->seed);
	rp_json_num(f, in->simulated_s, 6);
	fputs(",\"wall_s\":", f);
	rp_json_num(f, in->wall_s, 6);
	fputs(",\"speed\":", f);
	if (in->wall_s > 0)
		rp_json_num(f, in->simulated_s / in->wall_s, 3);
	else
		fputs("null", f);
	fprintf(f,
	        ",\"events\":%" PRIu64 ",\"events_read\":%" PRIu64 ",\"malformed_lines\":%" PRIu64
	        ",\"peak_memory_bytes\":%" PRIu64 ",\"end_us\":%" PRIu64 "},\n",
	        in->events, d->lines, d->malformed, in->peak_memory_bytes, d->end_us);
	rp_json_workloads(f, d, st);
	fputs(",\n", f);
	rp_json_hosts(f, d);
	fputs(",\n", f);
	rc = rp_json_services(f, d);
	if (rc) {
		err_setf(err, err_len, rc, "out of memory");
		goto out;
	}
	fputs(",\n", f);
	rp_json_timeline(f, d, w, (size_t)nw);
	fputs(",\n\"expectations\":[", f);
	for (size_t i = 0; i < in->n_expects; i++) {
		const struct expect *e = &in->expects[i];
		const struct expect_result *r = &in->results[i];
		fprintf(f, "%s\n{\"text\":", i ? "," : "");
		rp_json_str(f, e->text);
		fprintf(f, ",\"kind\":\"%s\",\"line\":%u,\"pass\":%s,\"measured\":",
		        rp_kind_name(e->kind), e->line, r->pass ? "true" : "false");
		rp_json_num(f, r->measured, 6);
		fputs(",\"measured_text\":", f);
		rp_json_str(f, r->measured_text);
		fputs(",\"message\":", f);
		rp_json_str(f, r->message);
		fputc('}', f);
	}
	fputs("]}\n", f);
out:
	free(w);
	rp_out_close(outs, out);
	return rc;
}

/* ---- summary.md and index.html from one description ---- */

struct rp_doc {
	FILE *f;
	bool html;
	const char *dir;
};

void report_html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

void report_md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
}

static void rp_doc_h(struct rp_doc *d, int level, const char *text)
{
	if (d->html) {
		fprintf(d->f, "<h%d>", level);
		report_html_text(d->f, text);
		fprintf(d->f, "</h%d>\n", level);
	} else {
		fprintf(d->f, "%.*s %s\n\n", level, "######", text);
	}
}

static void rp_doc_p(struct rp_doc *d, const char *text)
{
	if (d->html) {
		fputs("<p>", d->f);
		report_html_text(d->f, text);
		fputs("</p>\n", d->f);
	} else {
		fprintf(d->f, "%s\n\n", text);
	}
}

/* A table row of n cells; header rows start the table (and markdown's
 * separator line); cls: "pass"/"fail" row class in HTML or NULL. */
static void rp_doc_row(struct rp_doc *d, const char *const *cells, int n, bool header,
                       const char *cls)
{
	if (d->html) {
		if (header)
			fputs("<table>\n", d->f);
		fputs(cls ? "<tr class=\"" : "<tr>", d->f);
		if (cls)
			fprintf(d->f, "%s\">", cls);
		for (int i = 0; i < n; i++) {
			fputs(header ? "<th>" : "<td>", d->f);
			report_html_text(d->f, cells[i]);
			fputs(header ? "</th>" : "</td>", d->f);
		}
		fputs("</tr>\n", d->f);
		return;
	}
	fputc('|', d->f);
	for (int i = 0; i < n; i++) {
		fputc(' ', d->f);
		report_md_cell(d->f, cells[i]);
		fputs(" |", d->f);
	}
	fputc('\n', d->f);
	if (header) {
		fputc('|', d->f);
		for (int i = 0; i < n; i++)
			fputs("---|", d->f);
		fputc('\n', d->f);
	}
}

static void rp_doc_table_end(struct rp_doc *d)
{
	fputs(d->html ? "</table>\n" : "\n", d->f);
}

static const char rp_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* An image: markdown links the file, HTML inlines it as a data URI. */
static int rp_doc_img(struct rp_doc *d, const char *file, const char *alt)
{
	char path[4096];
	unsigned char in[3 * 1024];
	size_t got;
	FILE *img;

	if (!d->html) {
		fprintf(d->f, "![%s](%s)\n\n", alt, file);
		return 0;
	}
	rp_fmt(path, sizeof(path), "%s/%s", d->dir, file);
	img = fopen(path, "rb");
	if (!img && errno == ENOENT) { /* not drawn: its data could not be written */
		fputs("<p>(", d->f);
		report_html_text(d->f, alt);
		fputs(": not drawn)</p>\n", d->f);
		return 0;
	}
	if (!img)
		return -errno;
	fputs("<figure><img alt=\"", d->f);
	report_html_text(d->f, alt);
	fputs("\" src=\"data:image/png;base64,", d->f);
	while ((got = fread(in, 1, sizeof(in), img)) > 0) {
		for (size_t i = 0; i < got; i += 3) {
			uint32_t v = (uint32_t)in[i] << 16;
			size_t left = got - i;
			if (left > 1)
				v |= (uint32_t)in[i + 1] << 8;
			if (left > 2)
				v |= in[i + 2];
			fputc(rp_b64[v >> 18 & 63], d->f);
			fputc(rp_b64[v >> 12 & 63], d->f);
			fputc(left > 1 ? rp_b64[v >> 6 & 63] : '=', d->f);
			fputc(left > 2 ? rp_b64[v & 63] : '=', d->f);
		}
		/* full chunks are multiples of 3, so only the last can pad */
	}
	fclose(img);
	fputs("\"><figcaption>", d->f);
	report_html_text(d->f, alt);
	fputs("</figcaption></figure>\n", d->f);
	return 0;
}

static void rp_ms(char *out, size_t cap, const struct rp_gstat *s, int p)
{
	if (!s->ok)
		rp_fmt(out, cap, "-");
	else
		rp_format_trim(s->p[p] / 1e3, 3, out, cap);
}

static void rp_doc_group_table(struct rp_doc *doc, const struct rp_data *d,
                               const struct rp_gstat *g, size_t n, const char *what, bool region)
{
	const char *hdr[] = {"workload", what, "requests", "ok", "p50 ms", "p99 ms", "max ms"};

	rp_doc_row(doc, hdr, 7, true, NULL);
	for (size_t i = 0; i < n; i++) {
		char req[32], ok[32], p50[32], p99[32], mx[32];
		rp_fmt(req, sizeof(req), "%" PRIu64, g[i].requests);
		rp_fmt(ok, sizeof(ok), "%" PRIu64, g[i].ok);
		rp_ms(p50, sizeof(p50), &g[i], 0);
		rp_ms(p99, sizeof(p99), &g[i], 2);
		rp_ms(mx, sizeof(mx), &g[i], 4);
		const char *row[] = {rp_name(d, d->wl[g[i].wl].name),
		                     rp_group_name(d, g[i].group, region),
		                     req,
		                     ok,
		                     p50,
		                     p99,
		                     mx};
		rp_doc_row(doc, row, 7, false, NULL);
	}
	rp_doc_table_end(doc);
}

static const char *const rp_plot_files[][2] = {
    {"latency_cdf", "Latency CDF per workload and client region"},
    {"requests_per_host", "Requests per host per second, timeline events marked"},
    {"latency_over_time", "Latency over time, fault windows shaded"},
};

/* The title and the run's facts: seed, simulated and wall time, events,
 * skipped lines, how many expectations hold. */
static void rp_doc_run_facts(struct rp_doc *doc, const struct report_input *in,
                             const struct rp_data *d)
{
	char line[1024], mem[64];
	size_t failed = 0;

	rp_fmt(line, sizeof(line), "Scenario report: %s", in->scenario ? in->scenario : "");
	rp_doc_h(doc, 1, line);
	rp_format_trim((double)in->peak_memory_bytes / (1024.0 * 1024.0), 1, mem, sizeof(mem));
	char sim[64], wall[64], speed[64] = "-";
	rp_format_trim(in->simulated_s, 3, sim, sizeof(sim));
	rp_format_trim(in->wall_s, 3, wall, sizeof(wall));
	if (in->wall_s > 0)
		rp_format_trim(in->simulated_s / in->wall_s, 1, speed, sizeof(speed));
	/* A run that keeps its reports identical for a seed passes no wall
	 * time or memory (they live in run.json then). */
	if (in->wall_s > 0)
		rp_fmt(line, sizeof(line),
		       "Seed %" PRIu64 "; simulated %s s; wall %s s (speed %sx); %" PRIu64
		       " events; peak memory %s MiB.",
		       in->seed, sim, wall, speed, in->events, mem);
	else
		rp_fmt(line, sizeof(line), "Seed %" PRIu64 "; simulated %s s; %" PRIu64 " events.",
		       in->seed, sim, in->events);
	rp_doc_p(doc, line);
	if (d->malformed) {
		rp_fmt(line, sizeof(line), "%" PRIu64 " malformed event lines were skipped.",
		       d->malformed);
		rp_doc_p(doc, line);
	}
	for (size_t i = 0; i < in->n_expects; i++)
		failed += !in->results[i].pass;
	rp_fmt(line, sizeof(line), "Expectations: %zu of %zu hold.", in->n_expects - failed,
	       in->n_expects);
	rp_doc_p(doc, line);
}

/* One row per workload: requests, successes, latency quantiles, failures
 * by reason. */
static void rp_doc_workloads(struct rp_doc *doc, const struct rp_data *d, const struct rp_stats *st)
{
	rp_doc_h(doc, 2, "Workloads");
	const char *hdr[] = {"workload", "requests", "ok",      "success", "p50 ms",
	                     "p90 ms",   "p99 ms",   "p999 ms", "max ms",  "failed by reason"};
	rp_doc_row(doc, hdr, 10, true, NULL);
	for (size_t i = 0, w = 0; i < d->n_wl; i++) {
		const struct rp_workload *wl = &d->wl[i];
		struct rp_gstat empty = {0};
		const struct rp_gstat *s =
		    w < st->n_wl && st->wl[w].wl == i ? &st->wl[w++] : &empty;
		char req[32], ok[32], succ[32] = "-", p[5][32], failed_by[256] = "";
		rp_fmt(req, sizeof(req), "%" PRIu64, wl->requests);
		rp_fmt(ok, sizeof(ok), "%" PRIu64, wl->by_outcome[RP_OK]);
		if (wl->requests) {
			rp_format_trim(100.0 * (double)wl->by_outcome[RP_OK] / (double)wl->requests,
			               3, succ, sizeof(succ) - 1);
			strcat(succ, "%");
		}
		for (int k = 0; k < 5; k++)
			rp_ms(p[k], sizeof(p[k]), s, k);
		for (int o = 1; o < RP_OUTCOMES; o++) {
			size_t len = strlen(failed_by);
			if (wl->by_outcome[o])
				rp_fmt(failed_by + len, sizeof(failed_by) - len, "%s%s %" PRIu64,
				       len ? ", " : "", rp_outcome_names[o], wl->by_outcome[o]);
		}
		const char *row[] = {rp_name(d, wl->name),
		                     req,
		                     ok,
		                     succ,
		                     p[0],
		                     p[1],
		                     p[2],
		                     p[3],
		                     p[4],
		                     failed_by[0] ? failed_by : "none"};
		rp_doc_row(doc, row, 10, false, NULL);
	}
	rp_doc_table_end(doc);
}

/* One row per expectation: its result, text, measurement and message. */
static void rp_doc_expectations(struct rp_doc *doc, const struct report_input *in)
{
	rp_doc_h(doc, 2, "Expectations");
	if (!in->n_expects) {
		rp_doc_p(doc, "None.");
	} else {
		const char *eh[] = {"result", "expectation", "measured", "message"};
		rp_doc_row(doc, eh, 4, true, NULL);
		for (size_t i = 0; i < in->n_expects; i++) {
			const struct expect_result *r = &in->results[i];
			const char *row[] = {r->pass ? "PASS" : "FAIL", in->expects[i].text,
			                     r->measured_text, r->message};
			rp_doc_row(doc, row, 4, false, r->pass ? "pass" : "fail");
		}
		rp_doc_table_end(doc);
	}
}

/* The plots' images, when the run drew them. */
static int rp_doc_plots(struct rp_doc *doc, const struct report_input *in)
{
	if (in->plots) {
		rp_doc_h(doc, 2, "Plots");
		for (size_t i = 0; i < sizeof(rp_plot_files) / sizeof(rp_plot_files[0]); i++) {
			char file[128];
			rp_fmt(file, sizeof(file), "%s.png", rp_plot_files[i][0]);
			int rc = rp_doc_img(doc, file, rp_plot_files[i][1]);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int rp_doc_body(struct rp_doc *doc, const struct report_input *in, const struct rp_data *d,
                       const struct rp_stats *st)
{
	rp_doc_run_facts(doc, in, d);
	rp_doc_workloads(doc, d, st);
	rp_doc_h(doc, 2, "Latency by client region");
	rp_doc_group_table(doc, d, st->region, st->n_region, "region", true);
	rp_doc_h(doc, 2, "Latency by host");
	rp_doc_group_table(doc, d, st->host, st->n_host, "host", false);
	rp_doc_expectations(doc, in);
	return rp_doc_plots(doc, in);
}

static const char rp_css[] =
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:14px}"
    "th{background:#eee}tr.pass td:first-child{color:#186a1e;font-weight:bold}"
    "tr.fail td:first-child{color:#b00020;font-weight:bold}"
    "figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}";

static int rp_write_docs(const struct report_input *in, const struct rp_data *d,
                         const struct rp_stats *st, struct rp_outputs *outs, char *err,
                         size_t err_len)
{
	for (int html = 0; html < 2; html++) {
		const char *name = html ? "index.html" : "summary.md";
		struct rp_doc doc = {.html = html, .dir = in->out_dir};
		struct rp_out *out;
		int rc;
		doc.f = rp_out_open(outs, in->out_dir, name, &out);
		if (!doc.f)
			continue; /* reported */
		if (html) {
			fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			      "<title>",
			      doc.f);
			report_html_text(doc.f, in->scenario ? in->scenario : "");
			fprintf(doc.f, "</title>\n<style>%s</style></head><body>\n", rp_css);
		}
		rc = rp_doc_body(&doc, in, d, st);
		if (html)
			fputs("</body></html>\n", doc.f);
		rp_out_close(outs, out);
		if (rc)
			return err_setf(err, err_len, rc, "%s/%s: %s", in->out_dir, name,
			                strerror(-rc));
	}
	return 0;
}

/* mkdir -p */
static int rp_mkdirs(const char *dir)
{
	char p[4096];
	size_t len = strlen(dir);

	if (len >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -errno;
		p[i] = c;
	}
	return 0;
}

int report_write(const struct report_input *in, char *err, size_t err_len)
{
	struct rp_data d;
	struct rp_stats st = {0};
	struct rp_outputs outs = {.in = in};
	struct rp_out *csv_out = NULL;
	FILE *csv;
	int rc;

	if (!in || !in->events_path || !in->out_dir)
		return err_setf(err, err_len, -EINVAL, "report: events path and folder required");
	if (in->n_expects > EXPECT_MAX || (in->n_expects && (!in->expects || !in->results)))
		return err_setf(err, err_len, -EINVAL,
		                "report: at most %d expectations, with results", EXPECT_MAX);
	if (strlen(in->out_dir) > 3000)
		return err_setf(err, err_len, -ENAMETOOLONG, "report folder name too long");
	rc = rp_mkdirs(in->out_dir);
	if (rc)
		return err_setf(err, err_len, rc, "%s: %s", in->out_dir, strerror(-rc));
	rc = rp_data_init(&d, in, err, err_len);
	if (rc)
		goto out;
	csv = rp_out_open(&outs, in->out_dir, "latency.csv", &csv_out);
	rc = rp_ingest(&d, in->events_path, csv, err, err_len);
	if (rc)
		goto out;
	rp_out_close(&outs, csv_out);
	csv_out = NULL;
	for (size_t i = 0; i < d.n_failed_pcaps; i++)
		rp_output_failed(&outs, rp_name(&d, d.failed_pcaps[i].path),
		                 rp_name(&d, d.failed_pcaps[i].why));
	rc = rp_finish(&d, err, err_len);
	if (rc)
		goto out;
	if (rp_groups(&d, RP_BY_WORKLOAD, &st.wl, &st.n_wl) ||
	    rp_groups(&d, RP_BY_REGION, &st.region, &st.n_region) ||
	    rp_groups(&d, RP_BY_HOST, &st.host, &st.n_host)) {
		rc = err_setf(err, err_len, -ENOMEM, "out of memory for percentiles");
		goto out;
	}
	size_t failed = 0;
	for (size_t i = 0; i < in->n_expects; i++) {
		rp_expect_eval(&d, i, &in->expects[i], &in->results[i]);
		failed += !in->results[i].pass;
	}
	if (in->stats) {
		in->stats->lines = d.lines;
		in->stats->malformed = d.malformed;
		in->stats->requests = d.n_req;
		in->stats->failed_expectations = failed;
	}
	rc = rp_write_json(in, &d, &st, &outs, err, err_len);
	if (!rc && in->plots)
		rc = rp_plot(&d, in, &outs, err, err_len);
	if (!rc)
		rc = rp_write_docs(in, &d, &st, &outs, err, err_len);
	if (!rc && outs.failed)
		rc = err_setf(err, err_len, -EIO, "%zu output%s could not be written completely",
		              outs.failed, outs.failed == 1 ? "" : "s");
out:
	if (csv_out)
		rp_out_close(&outs, csv_out);
	free(st.wl);
	free(st.region);
	free(st.host);
	rp_data_free(&d);
	return rc;
}
