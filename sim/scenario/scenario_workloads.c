/* `workloads` (tailnet clients: who, which target, what traffic) and
 * `underlay_workload` (the built-in request/response traffic between all
 * nodes). A workload's `from` is counted within bounded work, so a glob
 * cannot make the loader or the run do unbounded work. */
#include "sim/scenario/scenario_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How many k in [0, n) are written in decimal starting with digits `d`. */
static uint64_t count_decimal_prefix(const char *d, uint32_t n)
{
	size_t len = strlen(d);
	uint64_t v = 0, count = 0;

	if (len == 0)
		return n;
	if (len > 10 || strspn(d, "0123456789") != len)
		return 0;
	if (d[0] == '0')
		return len == 1 && n > 0;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (uint64_t)(d[i] - '0');
	/* d, d0..d9, d00..d99, ... below n */
	for (uint64_t lo = v, span = 1; lo < n; lo *= 10, span *= 10)
		count += (lo + span - 1 < n ? lo + span - 1 : n - 1) - lo + 1;
	return count;
}

/* Expanded node names that start with `lit`, counted over the sorted
 * groups (no name is formatted), stopping past `cap`. */
static uint64_t count_prefix(struct loader *ld, const char *lit, uint64_t cap)
{
	size_t n = (size_t)ld->sc->group_count, ll = strlen(lit), lo = 0, hi = n;
	char name[SCENARIO_NAME_MAX + 1];
	uint64_t count = 0;

	while (lo < hi) { /* the first group name >= lit */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(ld->by_name[mid]->name, lit) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* groups named lit...: every name they expand to */
	for (size_t i = lo; i < n && count <= cap && !strncmp(ld->by_name[i]->name, lit, ll); i++)
		count += ld->by_name[i]->count;
	/* lit is "group-" and the start of an index */
	for (size_t cut = 1; cut < ll && cut <= SCENARIO_NAME_MAX && count <= cap; cut++) {
		if (lit[cut] != '-')
			continue;
		memcpy(name, lit, cut);
		name[cut] = '\0';
		const struct scenario_node_group *g = ld_group(ld, name);
		if (g && g->count > 1)
			count += count_decimal_prefix(lit + cut + 1, g->count);
	}
	return count;
}

/* How many nodes `from` names (counted up to SCENARIO_CLIENTS_MAX + 1),
 * within bounded work: a plain name is looked up, NAME* counted over the
 * sorted groups, and any other glob tested with fnmatch() against every
 * node name, SCENARIO_GLOB_TESTS_MAX names in all (glibc's fnmatch takes
 * microseconds on a hostile glob: 1024 of them over 100,000 nodes took
 * minutes). -E2BIG when that budget is spent. */
static int from_clients(struct loader *ld, const char *glob, uint64_t *count)
{
	const struct scenario *sc = ld->sc;
	static const char specials[] = "*?[\\";
	size_t len = strlen(glob), plain = strcspn(glob, specials);
	char name[SCENARIO_NAME_MAX + 16];
	uint32_t index;

	*count = 0;
	if (plain == len) {
		*count = ld_node_find(ld, glob, &index) == 0;
		return 0;
	}
	if (plain == len - 1 && glob[plain] == '*') {
		char lit[SCENARIO_FROM_MAX + 1];
		memcpy(lit, glob, plain);
		lit[plain] = '\0';
		*count = count_prefix(ld, lit, SCENARIO_CLIENTS_MAX);
		return 0;
	}
	if (ld->glob_tests + sc->node_count > SCENARIO_GLOB_TESTS_MAX)
		return -E2BIG;
	ld->glob_tests += sc->node_count;
	for (uint32_t i = 0; i < sc->node_count && *count <= SCENARIO_CLIENTS_MAX; i++) {
		scenario_node_name(sc, i, name, sizeof(name));
		*count += fnmatch(glob, name, 0) == 0;
	}
	return 0;
}

static bool is_vip4(const unsigned char *a)
{
	return a[0] == 100 && (a[1] & 0xc0) == 64;
}

static bool is_vip6(const unsigned char *a)
{
	static const unsigned char prefix[6] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* svc:X, a service defined in services or by a timeline define. */
static bool target_service(struct loader *ld, const yaml_node_t *v, const char *host,
                           struct scenario_workload *w)
{
	if (!ld_check_service_name(ld, v, host) || !ld_service_ref(ld, "", v, host))
		return false;
	w->target = SCENARIO_TARGET_SERVICE;
	size_t sl = strnlen(host, sizeof(w->service) - 1); /* checked above */
	memcpy(w->service, host, sl);
	w->service[sl] = '\0';
	char dns[sizeof(w->service) + SCENARIO_TAILNET_MAX + 2];
	snprintf(dns, sizeof(dns), "%s.%s", w->service + 4, ld->sc->tailnet);
	w->host_name = ld_strdup(ld, dns);
	return true;
}

/* [fd7a:115c:a1e0::n] or 100.x.y.z, a tailnet address (host is changed). */
static bool target_vip(struct loader *ld, const yaml_node_t *v, char *host,
                       struct scenario_workload *w)
{
	const char *s = scalar(v), *literal = host;
	unsigned char addr[16];

	if (host[0] == '[') {
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']') {
			error_at(ld, v,
			         "to '%.80s': an IPv6 VIP is written [fd7a:115c:a1e0::n]:port", s);
			return false;
		}
		host[hl - 1] = '\0';
		literal = host + 1;
		if (inet_pton(AF_INET6, literal, addr) != 1 || !is_vip6(addr)) {
			error_at(ld, v,
			         "to '%.80s': '%s' is not a tailnet IPv6 address "
			         "(fd7a:115c:a1e0::/48)",
			         s, literal);
			return false;
		}
	} else if (inet_pton(AF_INET, host, addr) != 1 || !is_vip4(addr)) {
		error_at(ld, v,
		         "to '%.80s': '%s' is not a tailnet IPv4 address "
		         "(100.64.0.0/10)",
		         s, host);
		return false;
	}
	w->target = SCENARIO_TARGET_VIP;
	size_t al = strnlen(literal, sizeof(w->address) - 1);
	memcpy(w->address, literal, al);
	w->address[al] = '\0';
	w->host_name = ld_strdup(ld, w->address);
	return true;
}

/* <label>.<tailnet>: a service's MagicDNS name, else a node's. */
static bool target_dns(struct loader *ld, const yaml_node_t *v, const char *host,
                       struct scenario_workload *w)
{
	struct scenario *sc = ld->sc;
	const char *s = scalar(v);
	size_t hl = strlen(host), tl = strlen(sc->tailnet);
	const char *dot = strchr(host, '.');

	if (!dot || hl != (size_t)(dot - host) + 1 + tl || strcasecmp(dot + 1, sc->tailnet) != 0 ||
	    dot == host) {
		error_at(ld, v,
		         "to '%.80s' is not a name in the tailnet (expected "
		         "<name>.%s:port, svc:NAME:port or a VIP address)",
		         s, sc->tailnet);
		return false;
	}
	char label[SCENARIO_TAILNET_MAX + 8];
	snprintf(label, sizeof(label), "svc:%.*s", (int)(dot - host), host);
	if (!scenario_service_name_problem(label) && ld_service_known(ld, label)) {
		w->target = SCENARIO_TARGET_SERVICE;
		snprintf(w->service, sizeof(w->service), "%.*s", (int)sizeof(w->service) - 1,
		         label);
	} else if (ld_node_find(ld, label + 4, &w->node) == 0) {
		w->target = SCENARIO_TARGET_NODE;
	} else {
		char hint[200];
		ld_service_hint(ld, host, true, hint, sizeof(hint));
		error_at(ld, v, "to '%.80s' names no service (%s) and no node%s", s, label, hint);
		return false;
	}
	w->host_name = ld_strdup(ld, host);
	return true;
}

/* `to`: <label>.<tailnet>:port, svc:X:port, or a VIP literal; the port,
 * then the host by its form. */
static bool parse_target(struct loader *ld, const yaml_node_t *v, struct scenario_workload *w)
{
	struct scenario *sc = ld->sc;
	const char *s = scalar(v), *colon = strrchr(s, ':');
	char host[SCENARIO_TAILNET_MAX + 8], *end;

	w->to = ld_strdup(ld, s);
	if (!colon || colon == s || colon[1] < '0' || colon[1] > '9' ||
	    (strchr(s, ':') == colon && !strncmp(s, "svc:", 4))) {
		error_at(ld, v, "to '%.80s' needs a port (like web.%s:443 or svc:web:443)", s,
		         sc->tailnet);
		return false;
	}
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		error_at(ld, v, "to '%.80s': bad port '%.20s' (1..65535)", s, colon + 1);
		return false;
	}
	w->port = (uint16_t)port;
	if ((size_t)(colon - s) >= sizeof(host)) {
		error_at(ld, v, "to '%.80s...' is too long", s);
		return false;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (!strncmp(host, "svc:", 4))
		return target_service(ld, v, host, w);
	if (host[0] == '[' || strspn(host, "0123456789.") == strlen(host))
		return target_vip(ld, v, host, w);
	return target_dns(ld, v, host, w);
}

/* A service target's port should be one of the service's ports (STA-2:
 * hosts need a config for them); a warning, a scenario may test it. */
static void check_target_port(struct loader *ld, const yaml_node_t *v,
                              const struct scenario_workload *w)
{
	int i =
	    w->target == SCENARIO_TARGET_SERVICE ? scenario_service_find(ld->sc, w->service) : -1;
	if (i < 0)
		return;
	const struct scenario_service *s = &ld->sc->services[i];
	if (s->do_not_validate || s->n_ports == 0)
		return;
	for (size_t j = 0; j < s->n_ports; j++)
		if (w->port >= s->ports[j].first && w->port <= s->ports[j].last)
			return;
	warn_at(ld, v, "port %u is not one of %s's ports (%s)", w->port, s->name, s->ports_text);
}

/* A key that applies to some workload kinds only. */
static bool wl_applies(struct loader *ld, yaml_node_t *key, bool applies, const char *kinds)
{
	if (!key || applies)
		return true;
	error_at(ld, key, "'%s' applies to %s workloads only", scalar(key), kinds);
	return false;
}

/* `name`: unique among the workloads. */
static bool wl_name(struct loader *ld, const yaml_node_t *v, struct scenario_workload *w)
{
	struct scenario *sc = ld->sc;
	const char *name = scalar(v);
	bool dup = false;

	for (size_t j = 0; j < sc->n_workloads; j++) {
		if (strcmp(sc->workloads[j].name, name) != 0)
			continue;
		error_at(ld, v, "duplicate workload '%s' (first at line %u)", name,
		         sc->workloads[j].line);
		dup = true;
	}
	if (dup || !ld_check_name(ld, "workload name", v))
		return false;
	snprintf(w->name, sizeof(w->name), "%s", name);
	return true;
}

/* `from`: the client nodes, at least one; their count in *clients. */
static bool wl_from(struct loader *ld, const yaml_node_t *v, struct scenario_workload *w,
                    uint64_t *clients)
{
	const char *from = scalar(v);
	bool ok = true;
	int rc;

	if (strlen(from) > SCENARIO_FROM_MAX) {
		error_at(ld, v, "from '%.40s...' is longer than %d bytes", from, SCENARIO_FROM_MAX);
		ok = false;
	} else if ((rc = from_clients(ld, from, clients)) < 0) {
		error_at(ld, v,
		         "from '%.80s': globs would test more than %d node names in "
		         "all (a glob other than NAME or NAME* is tested against "
		         "every node)",
		         from, SCENARIO_GLOB_TESTS_MAX);
		ok = false;
	} else if (*clients == 0) {
		char hint[120];
		size_t nc;
		const char **c = ld_node_cands(ld, &nc, strchr(from, '*') != NULL, from);
		ld_hint_from(ld, from, c, nc, hint, sizeof(hint));
		free(c);
		error_at(ld, v, "from '%.80s' matches no node%s", from, hint);
		ok = false;
	}
	if (*clients)
		w->from = ld_strdup(ld, from);
	return ok;
}

/* `kind`, and the keys that apply to some kinds only. */
static bool wl_kind(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals,
                    struct scenario_workload *w)
{
	bool ok = true;

	if (vals[WL_KIND]) {
		int k = ld_choice_ref(ld, "workload kind", vals[WL_KIND], scenario_workload_words);
		if (k < 0) {
			ok = false;
			k = 0;
		}
		w->kind = (enum scenario_workload_kind)k;
	}
	bool http = w->kind == SCENARIO_WORKLOAD_HTTP;
	bool stream = w->kind == SCENARIO_WORKLOAD_TCP_STREAM;
	bool udp = w->kind == SCENARIO_WORKLOAD_UDP_ECHO;
	if (!wl_applies(ld, keys[WL_RATE], !stream, "http, tcp-echo and udp-echo") ||
	    !wl_applies(ld, keys[WL_CONNECTION], !stream && !udp, "http and tcp-echo") ||
	    !wl_applies(ld, keys[WL_PATH], http, "http") ||
	    !wl_applies(ld, keys[WL_RESPONSE], http, "http") ||
	    !wl_applies(ld, keys[WL_CONNECTIONS], stream, "tcp-stream") ||
	    !wl_applies(ld, keys[WL_HOLD], stream, "tcp-stream"))
		ok = false;
	return ok;
}

/* What each request is: `rate`, `connection`, `path`, `request`, `response`. */
static bool wl_requests(struct loader *ld, yaml_node_t **vals, struct scenario_workload *w)
{
	bool udp = w->kind == SCENARIO_WORKLOAD_UDP_ECHO;
	bool ok = true;
	char why[200];

	if (vals[WL_RATE]) {
		if (scenario_parse_rate(scalar(vals[WL_RATE]), &w->rate_per_s, why, sizeof(why))) {
			error_at(ld, vals[WL_RATE], "rate: %s", why);
			ok = false;
		} else if (w->rate_per_s <= 0 || w->rate_per_s > SCENARIO_RATE_MAX) {
			error_at(ld, vals[WL_RATE],
			         "rate %s is out of range (more than 0, at "
			         "most 100000/s)",
			         scalar(vals[WL_RATE]));
			ok = false;
		}
	}
	if (vals[WL_CONNECTION]) {
		int c =
		    ld_choice_ref(ld, "connection", vals[WL_CONNECTION], scenario_connection_words);
		if (c < 0)
			ok = false;
		else
			w->connection = (enum scenario_connection)c;
	}
	if (vals[WL_PATH]) {
		const char *path = scalar(vals[WL_PATH]);
		if (path[0] != '/' || strlen(path) > SCENARIO_PATH_MAX ||
		    strpbrk(path, " \t\r\n")) {
			error_at(ld, vals[WL_PATH],
			         "path '%.80s' must start with / and have "
			         "no blanks (at most %d bytes)",
			         path, SCENARIO_PATH_MAX);
			ok = false;
		} else {
			w->path = ld_strdup(ld, path);
		}
	}
	if (vals[WL_REQUEST] && !ld_get_size(ld, "request", vals[WL_REQUEST], &w->request_bytes)) {
		ok = false;
	} else if (vals[WL_REQUEST] && udp && w->request_bytes &&
	           (w->request_bytes < SCENARIO_UDP_REQUEST_MIN ||
	            w->request_bytes > SCENARIO_UDP_REQUEST_MAX)) {
		error_at(ld, vals[WL_REQUEST],
		         "request %s does not fit a udp-echo datagram (%dB..%dB, or 0 for "
		         "64B)",
		         scalar(vals[WL_REQUEST]), SCENARIO_UDP_REQUEST_MIN,
		         SCENARIO_UDP_REQUEST_MAX);
		ok = false;
	}
	if (vals[WL_RESPONSE] &&
	    !ld_get_size(ld, "response", vals[WL_RESPONSE], &w->response_bytes))
		ok = false;
	return ok;
}

/* `start` and `stop`, within the run. */
static bool wl_window(struct loader *ld, yaml_node_t **vals, struct scenario_workload *w)
{
	struct scenario *sc = ld->sc;
	bool ok = true;

	if (vals[WL_START] && !ld_get_duration(ld, "start", vals[WL_START],
	                                       SCENARIO_DURATION_MAX_US, "1 day", &w->start_us))
		ok = false;
	if (vals[WL_STOP]) {
		if (!ld_get_duration(ld, "stop", vals[WL_STOP], SCENARIO_DURATION_MAX_US, "1 day",
		                     &w->stop_us)) {
			ok = false;
		} else if (w->stop_us > sc->duration_us) {
			error_at(ld, vals[WL_STOP],
			         "stop %s is after the end of the run (duration %llus)",
			         scalar(vals[WL_STOP]),
			         (unsigned long long)(sc->duration_us / 1000000));
			ok = false;
		}
	}
	return ok;
}

/* tcp-stream: `connections` per client node and how long each is `hold`. */
static bool wl_streams(struct loader *ld, yaml_node_t **vals, struct scenario_workload *w)
{
	bool ok = true;

	if (vals[WL_CONNECTIONS]) {
		long long c;
		if (ld_get_integer(ld, "connections", vals[WL_CONNECTIONS], 1,
		                   SCENARIO_CONNECTIONS_MAX, &c))
			w->connections = (uint32_t)c;
		else
			ok = false;
	}
	if (vals[WL_HOLD] && !ld_get_duration(ld, "hold", vals[WL_HOLD], SCENARIO_DURATION_MAX_US,
	                                      "1 day", &w->hold_us))
		ok = false;
	return ok;
}

/* What the run will set up: one client per node (per connection for
 * tcp-stream), so a glob cannot make it allocate without bound; reported
 * once, at the workload that passes the limit. */
static bool wl_count_clients(struct loader *ld, const yaml_node_t *from,
                             const struct scenario_workload *w, uint64_t clients)
{
	bool stream = w->kind == SCENARIO_WORKLOAD_TCP_STREAM;
	uint64_t adds = clients * (stream ? w->connections : 1);

	ld->clients += adds;
	if (adds && ld->clients > SCENARIO_CLIENTS_MAX &&
	    ld->clients - adds <= SCENARIO_CLIENTS_MAX) {
		error_at(ld, from,
		         "workloads have more than %d clients in all with this one (it adds "
		         "%llu%s)",
		         SCENARIO_CLIENTS_MAX, (unsigned long long)adds,
		         stream ? ": one per connection" : "");
		return false;
	}
	return true;
}

/* One workload entry into *w: every key checked, in the order the keys
 * depend on each other (kind decides which keys apply). */
static bool load_workload(struct loader *ld, yaml_node_t *item, struct scenario_workload *w)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	uint64_t clients = 0;
	bool ok = ld_collect(ld, item, SCENARIO_SECTION_WORKLOAD, " in workload", keys, vals);

	memset(w, 0, sizeof(*w));
	*w = (struct scenario_workload){
	    .rate_per_s = 1.0,
	    .path = "/",
	    .stop_us = sc->duration_us,
	    .connections = 1,
	    .from = "",
	    .to = "",
	    .host_name = "",
	};
	pos_of(item, &w->line, &w->column);
	if (vals[WL_NAME] && !wl_name(ld, vals[WL_NAME], w))
		ok = false;
	if (vals[WL_FROM] && ld->nodes_ok && !wl_from(ld, vals[WL_FROM], w, &clients))
		ok = false;
	if (vals[WL_TO] && ld->nodes_ok) {
		if (!parse_target(ld, vals[WL_TO], w))
			ok = false;
		else
			check_target_port(ld, vals[WL_TO], w);
	}
	if (!wl_kind(ld, keys, vals, w))
		ok = false;
	if (!wl_requests(ld, vals, w))
		ok = false;
	if (!wl_window(ld, vals, w))
		ok = false;
	if (ok && w->start_us >= w->stop_us) {
		error_at(ld, vals[WL_START] ? vals[WL_START] : item,
		         "start must be before stop (start %lluus, stop %lluus)",
		         (unsigned long long)w->start_us, (unsigned long long)w->stop_us);
		ok = false;
	}
	if (!wl_streams(ld, vals, w))
		ok = false;
	if (!wl_count_clients(ld, vals[WL_FROM], w, clients))
		ok = false;
	return ok;
}

bool ld_load_workloads(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_WORKLOADS_MAX) {
		error_at(ld, seq, "too many workloads: %zu (max %d)", n, SCENARIO_WORKLOADS_MAX);
		return false;
	}
	sc->workloads = calloc(n ? n : 1, sizeof(*sc->workloads));
	if (!sc->workloads) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		struct scenario_workload *w = &sc->workloads[sc->n_workloads];
		if (!ld_is_mapping_for(ld, item, "a workload")) {
			ok = false;
			continue;
		}
		if (!load_workload(ld, item, w))
			ok = false;
		if (w->name[0]) /* known by name even when bad: no cascade in expect */
			sc->n_workloads++;
	}
	return ok;
}

bool ld_load_underlay_workload(struct loader *ld, const yaml_node_t *v, bool duration_ok)
{
	struct scenario *sc = ld->sc;
	struct scenario_underlay_workload *w = &sc->underlay_workload;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	char why[200];
	bool ok;

	w->stop_us = sc->duration_us;
	if (!v)
		return true;
	if (v->type == YAML_SCALAR_NODE) {
		if (!strcmp(scalar(v), "off"))
			w->enabled = false;
		return true; /* null: defaults */
	}
	ok = ld_collect(ld, v, SCENARIO_SECTION_UNDERLAY_WORKLOAD, " in underlay_workload", keys,
	                vals);
	if (vals[RR_RATE]) {
		if (scenario_parse_rate(scalar(vals[RR_RATE]), &w->rate_per_s, why, sizeof(why))) {
			error_at(ld, vals[RR_RATE], "rate: %s", why);
			ok = false;
		} else if (w->rate_per_s > SCENARIO_RATE_MAX) {
			error_at(ld, vals[RR_RATE], "rate %s is out of range (max 100000/s)",
			         scalar(vals[RR_RATE]));
			ok = false;
		}
	}
	if (vals[RR_REQUEST] && !ld_get_size(ld, "request", vals[RR_REQUEST], &w->request_bytes))
		ok = false;
	if (vals[RR_RESPONSE] &&
	    !ld_get_size(ld, "response", vals[RR_RESPONSE], &w->response_bytes))
		ok = false;
	if (vals[RR_START] && !ld_get_duration(ld, "start", vals[RR_START],
	                                       SCENARIO_DURATION_MAX_US, "1 day", &w->start_us))
		ok = false;
	if (vals[RR_STOP] && !ld_get_duration(ld, "stop", vals[RR_STOP], SCENARIO_DURATION_MAX_US,
	                                      "1 day", &w->stop_us))
		ok = false;
	if (vals[RR_PORT]) {
		long long port;
		if (ld_get_integer(ld, "port", vals[RR_PORT], 1, 65535, &port))
			w->port = (uint16_t)port;
		else
			ok = false;
	}
	if (ok && duration_ok && w->stop_us > sc->duration_us) {
		error_at(ld, vals[RR_STOP], "stop %s is after the end of the run (duration %llus)",
		         scalar(vals[RR_STOP]), (unsigned long long)(sc->duration_us / 1000000));
		ok = false;
	}
	if (ok && w->start_us >= w->stop_us) {
		const yaml_node_t *at = vals[RR_START] ? vals[RR_START] : v;
		error_at(ld, at, "start must be before stop (start %lluus, stop %lluus)",
		         (unsigned long long)w->start_us, (unsigned long long)w->stop_us);
		ok = false;
	}
	return ok;
}
