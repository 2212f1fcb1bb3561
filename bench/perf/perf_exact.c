/* The exact metrics of one simulated run (perf_exact.h). */
#define _GNU_SOURCE
#include "bench/perf/perf_exact.h"

#include "lib/base/errfmt.h"
#include "lib/base/hash.h"
#include "lib/base/htab.h"
#include "reports/report.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_JSON_MAX (256u << 20)
#define OUTAGE_TAIL_US  5000000ull /* after control's restart */
#define TIMELINE_MAX    4096       /* drains and approvals followed */

void perf_name_part(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in[i] && i + 1 < cap; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] =
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._:-", c) ? c : '-';
	}
	if (cap)
		out[i] = '\0';
}

/* A metric name into out (PERF_NAME_MAX + 1 bytes); "" when too long,
 * which perf_result_add refuses (never a silently cut name). */
static void name_fmt(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void name_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PERF_NAME_MAX + 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n > PERF_NAME_MAX)
		out[0] = '\0';
}

static int add1(struct perf_result *r, const char *name, const char *unit, enum perf_direction dir,
                double v)
{
	return perf_result_add(r, name, unit, dir, PERF_EXACT, &v, 1);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Per workload latencies and success, and the failover measures. */
static int from_report(struct perf_result *r, const char *s, const cJSON *rep, uint64_t *requests)
{
	const cJSON *w, *e;
	char name[PERF_NAME_MAX + 1], wl[96];
	int rc = 0;
	static const char *const pct[] = {"p50", "p99", "p999"};

	*requests = 0;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(rep, "workloads"))
	{
		perf_name_part(w->string, wl, sizeof(wl));
		double n = num(w, "requests");
		if (!(n > 0))
			continue;
		*requests += (uint64_t)n;
		const cJSON *lat = cJSON_GetObjectItemCaseSensitive(w, "latency_ms");
		for (size_t i = 0; i < 3 && !rc; i++) {
			double v = num(lat, pct[i]);
			name_fmt(name, "%s.%s.latency_%s_ms", s, wl, pct[i]);
			if (isfinite(v))
				rc = add1(r, name, "ms", PERF_LOWER, v);
		}
		name_fmt(name, "%s.%s.success_rate", s, wl);
		if (!rc && isfinite(num(w, "success_rate")))
			rc = add1(r, name, "fraction", PERF_HIGHER, num(w, "success_rate"));
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rep, "expectations"))
	{
		const char *kind =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
		double us = num(e, "measured");
		if (rc || !kind || strcmp(kind, "failover_time") != 0 || !isfinite(us))
			continue;
		const char *text =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "text"));
		char first[96] = "run";
		if (text)
			sscanf(text, "%95s", first);
		perf_name_part(first, wl, sizeof(wl));
		/* the workload's K-th failover expectation, in file order */
		name_fmt(name, "%s.%s.failover_ms", s, wl);
		for (unsigned k = 2; perf_result_find(r, name) && k < 1000; k++)
			name_fmt(name, "%s.%s.failover_ms_%u", s, wl, k);
		rc = add1(r, name, "ms", PERF_LOWER, us / 1000);
	}
	return rc;
}

/* One control change: the netmaps control sent at one instant. */
struct change {
	uint64_t t_us, last_applied_us;
	size_t applied;
};

struct pending {
	char *node;
	uint64_t version;
	size_t change;
	bool live; /* in by_key: sent, not applied, its node not crashed */
};

/* A drain or approval on the timeline, waiting for its evidence. */
struct awaited {
	uint64_t t_us, done_us;
	char node[64], service[96];
	bool approval, done;
};

struct scan {
	struct change *changes;
	size_t n_changes;
	struct pending *pend;
	size_t n_pend;
	struct htab by_key;
	struct awaited await[TIMELINE_MAX];
	size_t n_await;
	uint64_t crash_us, restart_us;
	bool crashed, restarted;
	uint64_t outage_failed;
	double *outage_lat;
	size_t n_outage, cap_outage;
	uint64_t outage_seen;
};

struct pend_key {
	const char *node;
	uint64_t version;
};

static bool pend_eq(const void *ctx, size_t idx, const void *key)
{
	const struct scan *sc = ctx;
	const struct pend_key *k = key;
	return sc->pend[idx].version == k->version && !strcmp(sc->pend[idx].node, k->node);
}

static uint64_t pend_hash(const char *node, uint64_t version)
{
	return hash_word(hash_str(node), version);
}

static const char *str(const cJSON *o, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return v ? v : "";
}

static int on_netmap_sent(struct scan *sc, uint64_t t, const cJSON *e)
{
	double version = num(e, "version");
	if (!(version >= 0 && version < 1e18))
		return 0; /* not a netmap this follows */
	struct pend_key k = {str(e, "node_name"), (uint64_t)version};
	uint64_t h = pend_hash(k.node, k.version);

	if (htab_find(&sc->by_key, h, pend_eq, sc, &k) >= 0)
		return 0; /* a resend: the change counts from the first send */
	if (!sc->n_changes || sc->changes[sc->n_changes - 1].t_us != t) {
		if (sc->n_changes == PERF_EXACT_CHANGES_MAX)
			return -E2BIG;
		if (!(sc->n_changes & (sc->n_changes + 1)) || !sc->changes) {
			struct change *c =
			    realloc(sc->changes, (2 * sc->n_changes + 2) * sizeof(*c));
			if (!c)
				return -ENOMEM;
			sc->changes = c;
		}
		sc->changes[sc->n_changes++] = (struct change){.t_us = t};
	}
	if (sc->n_pend == PERF_EXACT_PENDING_MAX)
		return -E2BIG;
	if (!(sc->n_pend & (sc->n_pend + 1)) || !sc->pend) {
		struct pending *p = realloc(sc->pend, (2 * sc->n_pend + 2) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		sc->pend = p;
	}
	char *node = strdup(k.node);
	if (!node)
		return -ENOMEM;
	sc->pend[sc->n_pend] = (struct pending){
	    .node = node, .version = k.version, .change = sc->n_changes - 1, .live = true};
	return htab_insert(&sc->by_key, h, sc->n_pend++);
}

static void on_netmap_applied(struct scan *sc, uint64_t t, const char *node, const cJSON *e)
{
	double version = num(e, "version");
	if (!(version >= 0 && version < 1e18))
		return;
	struct pend_key k = {node, (uint64_t)version};
	long i = htab_find(&sc->by_key, pend_hash(k.node, k.version), pend_eq, sc, &k);
	if (i < 0)
		return;
	struct change *c = &sc->changes[sc->pend[i].change];
	c->applied++;
	c->last_applied_us = t > c->last_applied_us ? t : c->last_applied_us;
	/* a later send of the same version (control restarted and counts
	 * again) is a new change */
	htab_remove(&sc->by_key, pend_hash(k.node, k.version), (size_t)i);
	sc->pend[i].live = false;
}

/* A node's daemon (or control, node NULL) crashed: what it had not
 * applied yet is not a propagation delay but the crash's length. */
static void forget_pending(struct scan *sc, const char *node)
{
	for (size_t i = 0; i < sc->n_pend; i++) {
		struct pending *p = &sc->pend[i];
		if (!p->live || (node && strcmp(p->node, node) != 0))
			continue;
		htab_remove(&sc->by_key, pend_hash(p->node, p->version), i);
		p->live = false;
	}
}

static int on_timeline(struct scan *sc, uint64_t t, const cJSON *e)
{
	const char *action = str(e, "action"), *detail = str(e, "detail");
	struct awaited a = {.t_us = t};
	char svc[96], host[64];

	if (!strcmp(action, "control")) {
		if (!strcmp(detail, "crash") && !sc->crashed)
			sc->crash_us = t, sc->crashed = true;
		else if (!strcmp(detail, "restart") && sc->crashed && !sc->restarted)
			sc->restart_us = t, sc->restarted = true;
		return 0;
	}
	if (!strcmp(action, "serve") && sscanf(detail, "serve drain %95s", svc) == 1) {
		snprintf(a.node, sizeof(a.node), "%s", str(e, "target"));
		snprintf(a.service, sizeof(a.service), "%s", svc);
	} else if (!strcmp(action, "admin") &&
	           sscanf(detail, "approve %95s %63s", svc, host) == 2) {
		snprintf(a.node, sizeof(a.node), "%s", host);
		snprintf(a.service, sizeof(a.service), "%s", svc);
		a.approval = true;
	} else {
		return 0;
	}
	if (sc->n_await == TIMELINE_MAX)
		return -E2BIG;
	sc->await[sc->n_await++] = a;
	return 0;
}

/* Evidence for a drain (drain_complete) or an approval (a connection the
 * host's proxy for the service accepted). */
static void on_host_event(struct scan *sc, uint64_t t, const char *node, const char *type,
                          const cJSON *e)
{
	bool drained = !strcmp(type, "drain_complete");
	bool accepted = !strcmp(type, "conn_accepted");
	if (!drained && !accepted)
		return;
	/* the L7 proxies name themselves in "proxy", the L4 forwarder in
	 * "service", both as SERVICE:PORT */
	const char *what = drained            ? str(e, "service")
	                   : *str(e, "proxy") ? str(e, "proxy")
	                                      : str(e, "service");
	for (size_t i = 0; i < sc->n_await; i++) {
		struct awaited *a = &sc->await[i];
		size_t sl = strlen(a->service);
		if (a->done || a->approval != accepted || strcmp(a->node, node) != 0 || t < a->t_us)
			continue;
		/* a proxy is named SERVICE:PORT */
		if (drained ? strcmp(what, a->service) != 0
		            : strncmp(what, a->service, sl) != 0 || what[sl] != ':')
			continue;
		a->done = true;
		a->done_us = t;
	}
}

static int on_request(struct scan *sc, const cJSON *e)
{
	double start = num(e, "start_us");
	if (!sc->crashed || !isfinite(start) || start < (double)sc->crash_us ||
	    (sc->restarted && start > (double)(sc->restart_us + OUTAGE_TAIL_US)))
		return 0;
	sc->outage_seen++;
	if (strcmp(str(e, "outcome"), "ok") != 0) {
		sc->outage_failed++;
		return 0;
	}
	if (sc->n_outage == sc->cap_outage) {
		size_t cap = sc->cap_outage ? 2 * sc->cap_outage : 1024;
		double *l = realloc(sc->outage_lat, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		sc->outage_lat = l;
		sc->cap_outage = cap;
	}
	sc->outage_lat[sc->n_outage++] = num(e, "latency_us");
	return 0;
}

static int events_scan(struct scan *sc, const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	char *line = malloc(PERF_EXACT_EVENT_LINE_MAX + 2);
	int rc = 0;
	uint64_t n = 0;

	if (!f || !line) {
		rc = err_setf(err, err_len, f ? -ENOMEM : -errno, "%s: %s", path,
		              f ? "out of memory" : strerror(errno));
		goto out;
	}
	while (!rc && fgets(line, PERF_EXACT_EVENT_LINE_MAX + 2, f)) {
		n++;
		size_t len = strlen(line);
		if (len > PERF_EXACT_EVENT_LINE_MAX) {
			rc = err_setf(err, err_len, -EFBIG, "%s:%llu: line longer than %d bytes",
			              path, (unsigned long long)n, PERF_EXACT_EVENT_LINE_MAX);
			break;
		}
		cJSON *e = cJSON_Parse(line);
		if (!cJSON_IsObject(e)) {
			cJSON_Delete(e);
			continue;
		}
		double tt = num(e, "t_us");
		uint64_t t = isfinite(tt) && tt >= 0 ? (uint64_t)tt : 0;
		const char *type = str(e, "type"), *node = str(e, "node");
		if (!strcmp(type, "netmap_sent"))
			rc = on_netmap_sent(sc, t, e);
		else if (!strcmp(type, "netmap_applied"))
			on_netmap_applied(sc, t, node, e);
		else if (!strcmp(type, "timeline"))
			rc = on_timeline(sc, t, e);
		else if (!strcmp(type, "node_crash"))
			forget_pending(sc, node);
		else if (!strcmp(type, "control_crash"))
			forget_pending(sc, NULL);
		else if (!strcmp(type, "request_done"))
			rc = on_request(sc, e);
		else
			on_host_event(sc, t, node, type, e);
		cJSON_Delete(e);
		if (rc && !err[0])
			err_setf(err, err_len, rc, "%s:%llu: %s", path, (unsigned long long)n,
			         rc == -E2BIG
			             ? "too many netmaps, changes, drains or approvals to follow"
			             : strerror(-rc));
	}
	if (!rc && ferror(f))
		rc = err_setf(err, err_len, -EIO, "%s: read error", path);
out:
	if (f)
		fclose(f);
	free(line);
	return rc;
}

static int scan_metrics(struct perf_result *r, const char *s, struct scan *sc)
{
	char name[PERF_NAME_MAX + 1], node[64], svc[96];
	double *prop = malloc((sc->n_changes + 1) * sizeof(*prop));
	size_t n = 0;
	int rc = 0;

	if (!prop)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n_changes; i++)
		if (sc->changes[i].applied)
			prop[n++] =
			    (double)(sc->changes[i].last_applied_us - sc->changes[i].t_us) / 1000;
	if (n) {
		name_fmt(name, "%s.map_propagation_p50_ms", s);
		rc = add1(r, name, "ms", PERF_LOWER, perf_percentile(prop, n, 0.5));
		name_fmt(name, "%s.map_propagation_max_ms", s);
		if (!rc)
			rc = add1(r, name, "ms", PERF_LOWER, perf_percentile(prop, n, 1));
	}
	free(prop);
	for (size_t i = 0; !rc && i < sc->n_await; i++) {
		const struct awaited *a = &sc->await[i];
		if (!a->done)
			continue;
		perf_name_part(a->node, node, sizeof(node));
		perf_name_part(a->service, svc, sizeof(svc));
		name_fmt(name, "%s.%s.%s.%s", s, node, svc,
		         a->approval ? "approval_to_traffic_ms" : "drain_complete_ms");
		if (!perf_result_find(r, name))
			rc = add1(r, name, "ms", PERF_LOWER, (double)(a->done_us - a->t_us) / 1000);
	}
	if (!rc && sc->crashed && sc->outage_seen) {
		name_fmt(name, "%s.control_outage.failed_requests", s);
		rc = add1(r, name, "requests", PERF_LOWER, (double)sc->outage_failed);
		name_fmt(name, "%s.control_outage.latency_p99_ms", s);
		if (!rc && sc->n_outage)
			rc = add1(r, name, "ms", PERF_LOWER,
			          perf_percentile(sc->outage_lat, sc->n_outage, 0.99) / 1000);
	}
	return rc;
}

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n_pend; i++)
		free(sc->pend[i].node);
	free(sc->pend);
	free(sc->changes);
	free(sc->outage_lat);
	htab_free(&sc->by_key);
	free(sc);
}

static void pcap_sum(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	(void)bytes;
	*(uint64_t *)(void *)user += h->len;
}

/* Bytes in every *-underlay.pcap of dir; false when there are none. */
static int underlay_bytes(const char *dir, uint64_t *total, bool *found, char *err, size_t err_len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	*total = 0;
	*found = false;
	if (!d)
		return 0; /* run with --pcap none: no figure */
	while (!rc && (de = readdir(d))) {
		static const char suffix[] = "-underlay.pcap";
		size_t len = strlen(de->d_name), sl = sizeof(suffix) - 1;
		if (len < sl || strcmp(de->d_name + len - sl, suffix) != 0)
			continue;
		char path[8192], perr[PCAP_ERRBUF_SIZE];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pcap_t *p = pcap_open_offline(path, perr);
		if (!p) {
			rc = err_setf(err, err_len, -EINVAL, "%s: %s", path, perr);
			break;
		}
		if (pcap_loop(p, -1, pcap_sum, (u_char *)total) == PCAP_ERROR)
			rc = err_setf(err, err_len, -EINVAL, "%s: %s", path, pcap_geterr(p));
		pcap_close(p);
		*found = true;
	}
	closedir(d);
	return rc;
}

int perf_exact_collect(struct perf_result *r, const char *out_dir, const char *scenario, char *err,
                       size_t err_len)
{
	char s[64], path[4096];
	int rc = 0;
	uint64_t requests = 0, bytes;
	bool pcaps;

	err[0] = '\0';
	perf_name_part(scenario, s, sizeof(s));
	snprintf(path, sizeof(path), "%s/reports/%s/report.json", out_dir, scenario);
	cJSON *rep = report_json_read(path, REPORT_JSON_MAX, err, err_len, &rc);
	if (rep && (rc = from_report(r, s, rep, &requests)))
		err_setf(err, err_len, rc, "%s: cannot add its metrics: %s", path, strerror(-rc));
	cJSON_Delete(rep);
	if (rc)
		return rc;

	snprintf(path, sizeof(path), "%s/reports/%s/run.json", out_dir, scenario);
	cJSON *run = report_json_read(path, REPORT_JSON_MAX, err, err_len, &rc);
	double events = num(run, "ns3_events"), sim_s = num(run, "simulated_s");
	cJSON_Delete(run);
	if (rc)
		return rc;
	char name[PERF_NAME_MAX + 1];
	name_fmt(name, "%s.ns3_events_per_sim_s", s);
	if (events > 0 && sim_s > 0 && (rc = add1(r, name, "events/s", PERF_LOWER, events / sim_s)))
		return err_setf(err, err_len, rc, "%s: %s", name, strerror(-rc));

	snprintf(path, sizeof(path), "%s/pcaps/%s", out_dir, scenario);
	if ((rc = underlay_bytes(path, &bytes, &pcaps, err, err_len)))
		return rc;
	name_fmt(name, "%s.underlay_bytes_per_request", s);
	if (pcaps && requests &&
	    (rc = add1(r, name, "bytes", PERF_LOWER, (double)bytes / (double)requests)))
		return err_setf(err, err_len, rc, "%s: %s", name, strerror(-rc));

	struct scan *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/reports/%s/events.jsonl", out_dir, scenario);
	rc = events_scan(sc, path, err, err_len);
	if (!rc && (rc = scan_metrics(r, s, sc)))
		err_setf(err, err_len, rc, "%s: cannot add its metrics: %s", scenario,
		         strerror(-rc));
	scan_free(sc);
	return rc;
}
