/* The invariant checker's entry (invariant.h): names, the evidence read
 * from a run's events.jsonl into compact arrays, and the verdict record.
 * Only lines whose meaning is fixed by the harness or the host side are
 * read: request_done (the client workloads), conn_accepted/conn_closed
 * and node_crash (hosts), flow_new/no_route (a node's own address; a
 * client's outbound flow_new also names a VIP's service), host_state
 * (control's view, judged, never trusted). The hosts' tailnet pcaps are
 * read by invariant_pcap.c. */
#include "sim/explore/invariant_int.h"

#include "lib/base/errfmt.h"
#include "lib/base/hash.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The names are the scenario vocabulary's (an `invariant:` expectation
 * names them): scenario_invariant_words, in this enum's order. */
_Static_assert(INVARIANT_KINDS == SCENARIO_INVARIANTS, "one name per invariant");

const char *invariant_name(enum invariant_id id)
{
	return (unsigned)id < INVARIANT_KINDS ? scenario_invariant_words[id] : "?";
}

int invariant_by_name(const char *name)
{
	for (int i = 0; name && i < INVARIANT_KINDS; i++)
		if (strcmp(name, scenario_invariant_words[i]) == 0)
			return i;
	return -1;
}

void inv_checked(struct inv_run *r, enum invariant_id id)
{
	if (r->which & (1u << id))
		r->out->checked |= 1u << id;
}

void inv_violation(struct inv_run *r, enum invariant_id id, uint64_t t_us, uint32_t node,
                   const char *fmt, ...)
{
	struct invariant_result *o = r->out;
	struct invariant_violation *v = &o->first[id];
	va_list ap;

	if (!(r->which & (1u << id)))
		return;
	o->checked |= 1u << id;
	if (o->count[id]++ && t_us >= v->t_us)
		return;
	o->broken |= 1u << id;
	v->id = id;
	v->t_us = t_us;
	snprintf(v->node, sizeof(v->node), "%s", node < r->sc->node_count ? r->names[node] : "-");
	va_start(ap, fmt);
	vsnprintf(v->what, sizeof(v->what), fmt, ap);
	va_end(ap);
}

int inv_grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 256;
	void *p = realloc(*arr, c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

static bool inv_name_eq(const void *ctx, size_t idx, const void *key)
{
	const struct inv_run *r = ctx;

	return strcmp(r->names[idx], key) == 0;
}

uint32_t inv_node(const struct inv_run *r, const char *name)
{
	if (!name || strlen(name) > SCENARIO_NAME_MAX)
		return INV_NONE;
	long i = htab_find(&r->name_index, hash_str(name), inv_name_eq, r, name);
	return i < 0 ? INV_NONE : (uint32_t)i;
}

static bool inv_ip_eq(const void *ctx, size_t idx, const void *key)
{
	const struct inv_run *r = ctx;

	return r->ip_addr[idx] == *(const uint32_t *)key;
}

uint32_t inv_ip_node(const struct inv_run *r, uint32_t ip)
{
	long i = htab_find(&r->ip_index, hash_mix64(ip), inv_ip_eq, r, &ip);
	return i < 0 ? INV_NONE : r->ip_node[i];
}

/* "100.64.0.3" or "100.64.0.3:49154" -> address; false when not IPv4. */
static bool inv_parse_ip(const char *text, uint32_t *out)
{
	char buf[64];
	struct in_addr a;
	const char *colon = text ? strchr(text, ':') : NULL;
	size_t n = colon ? (size_t)(colon - text) : (text ? strlen(text) : 0);

	if (!text || n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

static int inv_ip_add(struct inv_run *r, uint32_t ip, uint32_t node)
{
	if (inv_ip_node(r, ip) != INV_NONE || r->n_ip >= SCENARIO_NODES_MAX * 4u)
		return 0;
	if (inv_grow((void **)&r->ip_addr, &r->cap_ip, r->n_ip, sizeof(uint32_t)) < 0)
		return -ENOMEM;
	size_t cap = r->cap_ip;
	void *p = realloc(r->ip_node, cap * sizeof(uint32_t));
	if (!p)
		return -ENOMEM;
	r->ip_node = p;
	r->ip_addr[r->n_ip] = ip;
	r->ip_node[r->n_ip] = node;
	if (htab_insert(&r->ip_index, hash_mix64(ip), r->n_ip) < 0)
		return -ENOMEM;
	r->n_ip++;
	return 0;
}

static const char *js(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool ju(const cJSON *o, const char *k, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1.8e19)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

/* "svc:web:443" -> service index and port; false when not a scenario
 * service (a service defined later is not judged). */
static bool inv_parse_svc_port(const struct inv_run *r, const char *text, int *svc, uint16_t *port)
{
	char name[SCENARIO_SERVICE_NAME_MAX + 1];
	const char *colon = text ? strrchr(text, ':') : NULL;

	if (!colon || strncmp(text, "svc:", 4) != 0 || (size_t)(colon - text) >= sizeof(name))
		return false;
	memcpy(name, text, (size_t)(colon - text));
	name[colon - text] = '\0';
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || p > 65535)
		return false;
	*svc = scenario_service_find(r->sc, name);
	*port = (uint16_t)p;
	return *svc >= 0;
}

static int inv_outcome(const char *o)
{
	static const char *const names[] = {"ok",    "http_error", "refused",
	                                    "reset", "timeout",    "overload"};
	for (size_t i = 0; o && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(o, names[i]) == 0)
			return (int)i;
	return -1;
}

static int inv_workload(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; name && i < sc->n_workloads; i++)
		if (strcmp(sc->workloads[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* One request_done: a malformed one (unknown outcome, no client) breaks
 * request-outcome; it is evidence, not an input error. */
static int inv_read_request(struct inv_run *r, const cJSON *o, uint64_t t)
{
	uint64_t start, lat, bytes = 0;
	uint32_t client = inv_node(r, js(o, "client"));
	const char *host = js(o, "host");
	int w = inv_workload(r->sc, js(o, "workload")), oc = inv_outcome(js(o, "outcome"));

	inv_checked(r, INVARIANT_OUTCOME);
	ju(o, "bytes", &bytes);
	if (client == INV_NONE || w < 0 || oc < 0 || !host || !ju(o, "start_us", &start) ||
	    !ju(o, "latency_us", &lat)) {
		inv_violation(r, INVARIANT_OUTCOME, t, client,
		              "request_done without a known workload, client, outcome or times "
		              "(outcome '%s')",
		              js(o, "outcome") ? js(o, "outcome") : "");
		return 0;
	}
	uint32_t h = host[0] ? inv_node(r, host) : INV_NONE;
	if (start > t || (host[0] && start + lat != t) || (oc == INV_OK && h == INV_NONE)) {
		inv_violation(
		    r, INVARIANT_OUTCOME, t, client,
		    "request of %s: start %llu + latency %llu != end, or ok without a host",
		    r->sc->workloads[w].name, (unsigned long long)start, (unsigned long long)lat);
		return 0;
	}
	if (inv_grow((void **)&r->req, &r->cap_req, r->n_req, sizeof(*r->req)) < 0)
		return -ENOMEM;
	r->req[r->n_req++] = (struct inv_req){.start_us = start,
	                                      .done_us = t,
	                                      .bytes = bytes,
	                                      .client = client,
	                                      .host = h,
	                                      .workload = (uint32_t)w,
	                                      .outcome = (uint8_t)oc};
	return 0;
}

static int inv_read_conn(struct inv_run *r, const cJSON *o, uint64_t t, uint32_t node,
                         bool accepted)
{
	const char *where = js(o, "proxy") ? js(o, "proxy") : js(o, "service");
	int svc;
	uint16_t port;
	uint32_t ip = 0;

	if (node == INV_NONE || !inv_parse_svc_port(r, where, &svc, &port))
		return 0;
	if (!accepted) {
		if (inv_grow((void **)&r->cls, &r->cap_cls, r->n_cls, sizeof(*r->cls)) < 0)
			return -ENOMEM;
		r->cls[r->n_cls++] = (struct inv_close){.t_us = t, .host = node, .service = svc};
		return 0;
	}
	if (!inv_parse_ip(js(o, "peer"), &ip))
		ip = 0;
	if (inv_grow((void **)&r->acc, &r->cap_acc, r->n_acc, sizeof(*r->acc)) < 0)
		return -ENOMEM;
	r->acc[r->n_acc++] = (struct inv_accept){
	    .t_us = t, .host = node, .peer_ip = ip, .service = svc, .port = port};
	return 0;
}

static int inv_read_line(struct inv_run *r, const cJSON *o)
{
	uint64_t t;
	const char *type = js(o, "type"), *node_name = js(o, "node");
	uint32_t node = inv_node(r, node_name), ip;

	if (!type || !ju(o, "t_us", &t))
		return -EINVAL;
	if (t > r->last_event_us)
		r->last_event_us = t;
	if (strcmp(type, "request_done") == 0)
		return inv_read_request(r, o, t);
	if (strcmp(type, "conn_accepted") == 0 || strcmp(type, "conn_closed") == 0)
		return inv_read_conn(r, o, t, node, type[5] == 'a');
	if (strcmp(type, "node_crash") == 0 && node != INV_NONE) {
		if (inv_grow((void **)&r->cls, &r->cap_cls, r->n_cls, sizeof(*r->cls)) < 0)
			return -ENOMEM;
		r->cls[r->n_cls++] = (struct inv_close){.t_us = t, .host = node, .service = -1};
		return 0;
	}
	if ((strcmp(type, "flow_new") == 0 && js(o, "dir") && strcmp(js(o, "dir"), "out") == 0) ||
	    strcmp(type, "no_route") == 0) {
		int svc = scenario_service_find(r->sc, js(o, "service") ? js(o, "service") : "");
		if (svc >= 0 && inv_parse_ip(js(o, "dst"), &ip) && inv_vip_add(r, ip, svc) < 0)
			return -ENOMEM;
		if (node != INV_NONE && inv_parse_ip(js(o, "src"), &ip))
			return inv_ip_add(r, ip, node);
		return 0;
	}
	if (strcmp(type, "netmap_sent") == 0 && node_name && strcmp(node_name, "control") == 0) {
		uint32_t n = inv_node(r, js(o, "node_name"));
		if (n != INV_NONE && t < r->first_map_us[n])
			r->first_map_us[n] = t;
		return 0;
	}
	if (strcmp(type, "host_state") == 0 && node_name && strcmp(node_name, "control") == 0) {
		uint32_t h = inv_node(r, js(o, "node_name"));
		int svc = scenario_service_find(r->sc, js(o, "service") ? js(o, "service") : "");
		const char *state = js(o, "state");
		if (h == INV_NONE || svc < 0 || !state)
			return 0;
		if (inv_grow((void **)&r->st, &r->cap_st, r->n_st, sizeof(*r->st)) < 0)
			return -ENOMEM;
		struct inv_state *s = &r->st[r->n_st++];
		*s = (struct inv_state){.t_us = t, .host = h, .service = svc};
		snprintf(s->state, sizeof(s->state), "%s", state);
	}
	return 0;
}

static int inv_read_events(struct inv_run *r, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t line = 0;
	int rc = 0;

	if (!f)
		return err_setf(err, errcap, -errno, "%s: cannot read: %s", path, strerror(errno));
	buf = malloc(INVARIANT_LINE_MAX + 2);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	while (rc == 0 && fgets(buf, INVARIANT_LINE_MAX + 2, f)) {
		size_t n = strlen(buf);
		line++;
		if (line > INVARIANT_EVENTS_MAX) {
			rc = err_setf(err, errcap, -E2BIG, "%s: more than %u lines", path,
			              INVARIANT_EVENTS_MAX);
			break;
		}
		if (n > INVARIANT_LINE_MAX || (n && buf[n - 1] != '\n' && !feof(f))) {
			rc = err_setf(err, errcap, -E2BIG, "%s:%zu: line longer than %u bytes",
			              path, line, INVARIANT_LINE_MAX);
			break;
		}
		if (n <= 1)
			continue;
		cJSON *o = cJSON_ParseWithLength(buf, n);
		if (!o || !cJSON_IsObject(o)) {
			cJSON_Delete(o);
			rc =
			    err_setf(err, errcap, -EINVAL, "%s:%zu: not a JSON object", path, line);
			break;
		}
		rc = inv_read_line(r, o);
		cJSON_Delete(o);
		if (rc == -EINVAL)
			rc = err_setf(err, errcap, -EINVAL, "%s:%zu: no type or t_us", path, line);
		else if (rc < 0)
			rc = err_setf(err, errcap, rc, "%s:%zu: %s", path, line, strerror(-rc));
	}
	if (rc == 0 && ferror(f))
		rc = err_setf(err, errcap, -EIO, "%s: read error", path);
	free(buf);
	fclose(f);
	return rc;
}

static void inv_run_free(struct inv_run *r)
{
	inv_truth_free(r);
	inv_pcap_free(r);
	free(r->req);
	free(r->acc);
	free(r->cls);
	free(r->st);
	free(r->ip_addr);
	free(r->ip_node);
	free(r->names);
	free(r->first_map_us);
	htab_free(&r->ip_index);
	htab_free(&r->name_index);
}

static int inv_names(struct inv_run *r)
{
	const struct scenario *sc = r->sc;

	r->names = calloc(sc->node_count ? sc->node_count : 1, sizeof(*r->names));
	r->first_map_us = calloc(sc->node_count ? sc->node_count : 1, sizeof(*r->first_map_us));
	if (!r->names || !r->first_map_us || htab_reserve(&r->name_index, sc->node_count) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < sc->node_count; i++) {
		r->first_map_us[i] = UINT64_MAX;
		scenario_node_name(sc, i, r->names[i], sizeof(r->names[i]));
		htab_insert(&r->name_index, hash_str(r->names[i]), i);
	}
	return 0;
}

int invariants_check(const struct scenario *sc, const char *events_path, const char *pcap_dir,
                     uint32_t which, struct invariant_result *out, char *err, size_t errcap)
{
	return invariants_check_limited(sc, events_path, pcap_dir, which, NULL, out, err, errcap);
}

int invariants_check_limited(const struct scenario *sc, const char *events_path,
                             const char *pcap_dir, uint32_t which,
                             const struct invariant_limits *limits, struct invariant_result *out,
                             char *err, size_t errcap)
{
	struct inv_run r = {
	    .sc = sc, .out = out, .which = which & INVARIANT_ALL, .pcap_dir = pcap_dir};
	int rc;

	r.limits.pcap_bytes =
	    limits && limits->pcap_bytes ? limits->pcap_bytes : INVARIANT_PCAP_BYTES_MAX;
	r.limits.pcap_packets =
	    limits && limits->pcap_packets ? limits->pcap_packets : INVARIANT_PCAP_PACKETS_MAX;
	if (err && errcap)
		err[0] = '\0';
	if (!sc || !events_path || !out)
		return err_setf(err, errcap, -EINVAL,
		                "invariants_check: no scenario, events or result");
	memset(out, 0, sizeof(*out));
	r.end_us = sc->duration_us;
	r.settle_us = sc->explore.settle_us ? sc->explore.settle_us : INVARIANT_SETTLE_DEFAULT_US;
	rc = inv_names(&r);
	if (rc == 0)
		rc = inv_truth_build(&r, err, errcap);
	if (rc == 0)
		rc = inv_pcap_find(&r, err, errcap);
	if (rc == 0)
		rc = inv_read_events(&r, events_path, err, errcap);
	if (rc == 0)
		rc =
		    inv_pcap_read(&r, err, errcap); /* after the events: they name VIPs and peers */
	if (rc == 0) {
		/* a run stopped early (an action that could not be carried out)
		 * is judged up to its last event only */
		if (r.last_event_us < r.end_us)
			r.end_us = r.last_event_us;
		inv_check_safety(&r);
		inv_check_liveness(&r);
	} else if (rc == -ENOMEM && err && !err[0]) {
		err_setf(err, errcap, rc, "invariants_check: out of memory");
	}
	inv_run_free(&r);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
