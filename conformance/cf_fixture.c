/* The conformance suite's simulated tailnet (see cf_fixture.h). */
#include "conformance/cf_fixture.h"

#include "control/control.h"
#include "control/registry.h"
#include "lib/base/check.h"
#include "lib/wire/netmap.h"
#include "lib/wire/tls.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/svcd.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cf_default_policy[] =
    "{\n"
    "  // who owns which tags\n"
    "  \"tagOwners\": {\n"
    "    \"tag:web\": [\"alice@example.com\"], \"tag:db\": [\"alice@example.com\"],\n"
    "    \"tag:client\": [\"alice@example.com\"], \"tag:prod\": [\"alice@example.com\"],\n"
    "  },\n"
    "  \"grants\": [\n"
    "    {\"src\": [\"tag:client\", \"autogroup:member\"], \"dst\": [\"svc:web\"],\n"
    "     \"ip\": [\"80\", \"443\"]},\n"
    "  ],\n"
    "}\n";

struct cf *cf_new(const char *policy)
{
	struct cf *f = calloc(1, sizeof(*f));

	cr_assert_not_null(f);
	/* CF_EVENTS_DUMP=FILE keeps the events (also of a failing test). */
	const char *dump = getenv("CF_EVENTS_DUMP");
	f->events = dump ? fopen(dump, "w+") : tmpfile();
	cr_assert_not_null(f->events);
	f->results = calloc(CF_MAX_RESULTS, sizeof(*f->results));
	f->hosts = calloc(CF_MAX_RESULTS, sizeof(*f->hosts));
	cr_assert(f->results && f->hosts);
	f->links[0] =
	    (struct tn_link_spec){.a = CF_US, .b = CF_EU, .params = {.latency_us = 40000}};
	f->links[1] =
	    (struct tn_link_spec){.a = CF_US, .b = CF_AP, .params = {.latency_us = 110000}};
	f->links[2] =
	    (struct tn_link_spec){.a = CF_EU, .b = CF_AP, .params = {.latency_us = 80000}};
	f->users[0] =
	    (struct tn_user_spec){.login = CF_ADMIN, .role = "admin", .display_name = "Alice"};
	f->users[1] =
	    (struct tn_user_spec){.login = CF_MEMBER, .role = "member", .display_name = "Bob"};
	f->users[2] = (struct tn_user_spec){
	    .login = "carol@example.com", .role = "network-admin", .display_name = "Carol"};
	f->config = (struct tn_config){.seed = 7,
	                               .tailnet = "example.ts.net",
	                               .n_regions = 3,
	                               .regions = {"us-east", "eu-west", "ap-south"},
	                               .n_links = 3,
	                               .links = f->links,
	                               .access = {.latency_us = 1000},
	                               .control_region = CF_US,
	                               .n_users = 3,
	                               .users = f->users,
	                               .policy = policy ? policy : cf_default_policy,
	                               .nodes = f->nodes,
	                               .events = f->events,
	                               .drain_grace_us = 5000000};
	return f;
}

struct tn_node_spec *cf_node(struct cf *f, const char *name, enum cf_region region,
                             const char *user, const char *tag)
{
	cr_assert(f->config.n_nodes < CF_MAX_NODES);
	struct tn_node_spec *n = &f->nodes[f->config.n_nodes++];

	n->name = name;
	n->region = (int)region;
	n->user = user;
	if (tag)
		n->tags[n->n_tags++] = tag;
	return n;
}

void cf_http_backend(struct tn_node_spec *n, uint16_t port, uint64_t service_time_us)
{
	cr_assert(n->n_backends < TN_MAX_BACKENDS);
	n->backends[n->n_backends++] = (struct tn_backend_spec){.kind = TN_BACKEND_HTTP,
	                                                        .port = port,
	                                                        .service_time_us = service_time_us,
	                                                        .body_bytes = 512};
}

void cf_serve(struct tn_node_spec *n, const char *line)
{
	cr_assert(n->n_serve < TN_MAX_SERVE);
	n->serve[n->n_serve++] = line;
}

static bool cf_all_mapped(void *arg)
{
	struct cf *f = arg;

	for (size_t i = 0; i < f->tn->n_nodes; i++)
		if (f->tn->nodes[i].daemon && svcd_netmap_version(f->tn->nodes[i].daemon) == 0)
			return false;
	return true;
}

void cf_start(struct cf *f)
{
	char why[512] = "";
	int rc = tn_new(&f->tn, &f->config, why, sizeof(why));

	cr_assert_eq(rc, 0, "tn_new: %s", why);
	cr_assert(tn_run_until(f->tn, cf_all_mapped, f, 10000, 5000000),
	          "every daemon gets a netmap within 5 s");
}

void cf_free(struct cf *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_workloads; i++) {
		wh_client_free(f->workloads[i]);
		free(f->host_ctx[i]);
	}
	tls_ctx_free(f->tls);
	tn_free(f->tn);
	fclose(f->events);
	free(f->results);
	free(f->hosts);
	free(f);
}

int cf_idx(struct cf *f, const char *node)
{
	int i = tn_node_index(f->tn, node);

	cr_assert(i >= 0, "no node %s", node);
	return i;
}

int cf_admin(struct cf *f, const char *user, const char *line, char *out, size_t out_len)
{
	char buf[8192];

	if (!out) {
		out = buf;
		out_len = sizeof(buf);
	}
	return tn_admin(f->tn, user, line, out, out_len);
}

void cf_admin_ok(struct cf *f, const char *line)
{
	char out[CONTROL_OUT_MAX < 65536 ? CONTROL_OUT_MAX : 65536];
	int rc = cf_admin(f, CF_ADMIN, line, out, sizeof(out));

	cr_assert_eq(rc, 0, "`%s` failed: %s", line, out);
}

int cf_serve_now(struct cf *f, const char *node, const char *line, char *out, size_t out_len)
{
	char buf[4096];

	if (!out) {
		out = buf;
		out_len = sizeof(buf);
	}
	return tn_serve(f->tn, cf_idx(f, node), line, out, out_len);
}

void cf_run(struct cf *f, uint64_t us)
{
	tn_run(f->tn, tn_now_us(f->tn) + us);
}

uint64_t cf_now(struct cf *f)
{
	return tn_now_us(f->tn);
}

struct io_addr cf_vip(struct cf *f, const char *service, uint16_t port)
{
	struct io_addr a;

	if (!f->tn->control) {
		for (size_t i = 0; i < f->n_vips; i++)
			if (strcmp(f->vips[i].service, service) == 0) {
				a = f->vips[i].vip;
				a.port = port;
				return a;
			}
		cr_assert_fail("control is down and %s was never looked up", service);
	}
	const struct registry *r = control_registry(f->tn->control);
	int s = registry_service_index(r, service);

	cr_assert(s >= 0, "service %s is defined", service);
	a = registry_service(r, (size_t)s)->vip4;
	size_t i = 0;
	while (i < f->n_vips && strcmp(f->vips[i].service, service) != 0)
		i++;
	if (i < sizeof(f->vips) / sizeof(f->vips[0])) {
		snprintf(f->vips[i].service, sizeof(f->vips[i].service), "%s", service);
		f->vips[i].vip = a;
		if (i == f->n_vips)
			f->n_vips++;
	}
	a.port = port;
	return a;
}

const char *cf_service_state(struct cf *f, const char *service)
{
	return reg_state_name(registry_service_state(control_registry(f->tn->control), service));
}

const char *cf_host_state(struct cf *f, const char *service, const char *host)
{
	const struct registry *r = control_registry(f->tn->control);
	int h = registry_host_index(r, service, host);

	if (h < 0)
		return "none";
	return reg_state_name(registry_host_state(r, registry_host(r, (size_t)h)));
}

const char *cf_steered_host(struct cf *f, const char *client, const char *service)
{
	struct svcd *d = f->tn->nodes[cf_idx(f, client)].daemon;
	const struct netmap *nm = d ? svcd_netmap(d) : NULL;
	const struct netmap_service *s = nm ? netmap_service_by_name(nm, service) : NULL;

	if (!s || s->n_hosts == 0)
		return "";
	return nm->peers[s->hosts[0]].name;
}

bool cf_sees_service(struct cf *f, const char *client, const char *service)
{
	struct svcd *d = f->tn->nodes[cf_idx(f, client)].daemon;
	const struct netmap *nm = d ? svcd_netmap(d) : NULL;
	char name[300];

	if (!nm || !netmap_service_by_name(nm, service))
		return false;
	snprintf(name, sizeof(name), "%s.%s", service + 4, nm->tailnet);
	return netmap_dns_lookup(nm, name) != NULL;
}

/* The host a client's connection went to: the flow's pin in the client's
 * data plane. */
struct cf_host_ctx {
	struct cf *f;
	int client;
};

static const char *cf_flow_host(void *ctx, const struct io_addr *local,
                                const struct io_addr *remote)
{
	struct cf_host_ctx *hc = ctx;
	struct svcd *d = hc->f->tn->nodes[hc->client].daemon;
	struct dataplane_tuple t = {.proto = 6, .src = *local, .dst = *remote};

	return d ? dataplane_flow_host(svcd_dataplane(d), &t) : NULL;
}

static void cf_on_result(void *ctx, const struct wh_result *r)
{
	struct cf *f = ctx;

	if (f->n_results >= CF_MAX_RESULTS)
		return;
	snprintf(f->hosts[f->n_results], sizeof(f->hosts[0]), "%s", r->host);
	f->results[f->n_results] = *r;
	f->results[f->n_results].host = f->hosts[f->n_results];
	f->results[f->n_results].client = NULL;
	f->results[f->n_results].workload = NULL;
	f->n_results++;
}

struct wh_client *cf_workload(struct cf *f, const char *client, const char *service, uint16_t port,
                              const char *path, bool https, double rate, uint64_t duration_us)
{
	int ci = cf_idx(f, client);
	struct cf_host_ctx *hc = calloc(1, sizeof(*hc));
	char host[300];
	struct wh_client *c;

	cr_assert(f->n_workloads < CF_MAX_WORKLOADS);
	cr_assert_not_null(hc);
	hc->f = f;
	hc->client = ci;
	f->host_ctx[f->n_workloads] = hc;
	if (https && !f->tls) {
		const struct tls_ctx_config tc = {.ca_pem = control_ca_pem(f->tn->control)};
		char err[256];
		cr_assert_eq(tls_ctx_new(&f->tls, f->tn->nodes[ci].io, &tc, err, sizeof(err)), 0,
		             "client TLS context: %s", err);
	}
	snprintf(host, sizeof(host), "%s.example.ts.net", service + 4);
	const struct wh_config wc = {.name = "load",
	                             .client = client,
	                             .target = cf_vip(f, service, port),
	                             .host_header = host,
	                             .path = path,
	                             .keepalive = f->keepalive,
	                             .tls = https ? f->tls : NULL,
	                             .rate_per_s = rate,
	                             .start_us = cf_now(f),
	                             .stop_us = cf_now(f) + duration_us,
	                             .timeout_us = 5000000,
	                             .host_fn = cf_flow_host,
	                             .host_ctx = hc,
	                             .done_fn = cf_on_result,
	                             .done_ctx = f};
	cr_assert_eq(wh_client_new(&c, f->tn->nodes[ci].io, &wc), 0);
	f->workloads[f->n_workloads++] = c;
	return c;
}

struct wh_client *cf_load(struct cf *f, const char *client, const char *service, uint16_t port,
                          double rate, uint64_t duration_us)
{
	return cf_workload(f, client, service, port, NULL, false, rate, duration_us);
}

struct wh_client *cf_request(struct cf *f, const char *client, const char *service, uint16_t port)
{
	struct wh_client *c = cf_workload(f, client, service, port, NULL, false, 0, 0);

	wh_client_request(c);
	return c;
}

size_t cf_count(struct cf *f, size_t from, enum wh_outcome outcome, const char *host)
{
	size_t n = 0;

	for (size_t i = from; i < f->n_results; i++)
		if (f->results[i].outcome == outcome &&
		    (!host || strcmp(f->results[i].host, host) == 0))
			n++;
	return n;
}

cJSON *cf_events(struct cf *f, const char *type, const char *node)
{
	cJSON *out = cJSON_CreateArray();
	char line[4096];

	fflush(f->events);
	rewind(f->events);
	while (fgets(line, sizeof(line), f->events)) {
		if (!strstr(line, type))
			continue;
		cJSON *e = cJSON_Parse(line);
		if (!e)
			continue;
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "node");
		if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0 &&
		    (!node || (cJSON_IsString(n) && strcmp(n->valuestring, node) == 0)))
			cJSON_AddItemToArray(out, e);
		else
			cJSON_Delete(e);
	}
	fseek(f->events, 0, SEEK_END);
	return out;
}
