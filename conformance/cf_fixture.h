/* The conformance suite's simulated tailnet: three regions (us-east,
 * eu-west, ap-south; one-way 40, 110 and 80 ms between them), control in
 * us-east, service hosts and clients as each test declares them, every
 * node's events in one JSON-lines file that the assertions read back
 * (events are the truth: DESIGN.md).
 */
#ifndef CONFORMANCE_CF_FIXTURE_H
#define CONFORMANCE_CF_FIXTURE_H

#include "sim/tailnet.h"
#include "sim/workload/workload_http.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_MAX_NODES     32
#define CF_MAX_WORKLOADS 32
#define CF_MAX_RESULTS   200000

enum cf_region {
	CF_US = 0,
	CF_EU = 1,
	CF_AP = 2,
};

#define CF_ADMIN  "alice@example.com"
#define CF_MEMBER "bob@example.com"

/* The default policy: tags web/db/client/prod owned by alice; bob and
 * tag:client may reach svc:web on 80 and 443; autoApprovers none. */
extern const char cf_default_policy[];

struct cf {
	struct tn_config config;
	struct tn_node_spec nodes[CF_MAX_NODES];
	struct tn_link_spec links[3];
	struct tn_user_spec users[3];
	struct tailnet *tn;
	FILE *events;
	struct wh_client *workloads[CF_MAX_WORKLOADS];
	size_t n_workloads;
	bool keepalive; /* workloads made from now on keep connections alive */
	void *host_ctx[CF_MAX_WORKLOADS];
	struct {
		char service[64];
		struct io_addr vip;
	} vips[16]; /* VIPs seen, for while control is down */
	size_t n_vips;
	struct tls_ctx *tls;       /* trusts the tailnet CA (L7-5), made on first use */
	struct wh_result *results; /* copies; host/client strings point into names */
	char (*hosts)[64];
	size_t n_results;
};

/* A fixture with no nodes yet; add them, then cf_start. */
struct cf *cf_new(const char *policy);
/* Adds a node; returns its spec for more settings (backends, serve). */
struct tn_node_spec *cf_node(struct cf *f, const char *name, enum cf_region region,
                             const char *user, const char *tag);
/* An HTTP backend on 127.0.0.1:port of the node. */
void cf_http_backend(struct tn_node_spec *n, uint16_t port, uint64_t service_time_us);
void cf_serve(struct tn_node_spec *n, const char *line);
/* Starts the tailnet (asserts success) and runs until every daemon has a
 * netmap. */
void cf_start(struct cf *f);
void cf_free(struct cf *f);

int cf_idx(struct cf *f, const char *node);
/* Admin line as `user`: returns rc; `out` optional. */
int cf_admin(struct cf *f, const char *user, const char *line, char *out, size_t out_len);
/* Admin line that must succeed. */
void cf_admin_ok(struct cf *f, const char *line);
int cf_serve_now(struct cf *f, const char *node, const char *line, char *out, size_t out_len);
/* Runs simulated time forward by `us`. */
void cf_run(struct cf *f, uint64_t us);
uint64_t cf_now(struct cf *f);

/* The service's VIP (v4) and a port, as control assigned it. */
struct io_addr cf_vip(struct cf *f, const char *service, uint16_t port);
/* A state as control reports it ("Connected", ...) for a service or, with
 * `host`, for that host. Static buffer inside `f`. */
const char *cf_service_state(struct cf *f, const char *service);
const char *cf_host_state(struct cf *f, const char *service, const char *host);

/* A client's first ranked host for a service in its current netmap, or "". */
const char *cf_steered_host(struct cf *f, const char *client, const char *service);
/* Whether a client's netmap lists the service / has a DNS record for it. */
bool cf_sees_service(struct cf *f, const char *client, const char *service);

/* HTTP load from `client` to service:port at `rate` per second, from now
 * until now + `duration_us`. Results are collected in f->results. */
struct wh_client *cf_load(struct cf *f, const char *client, const char *service, uint16_t port,
                          double rate, uint64_t duration_us);
/* One request now from `client`; returns the workload (free it with the
 * fixture). */
struct wh_client *cf_request(struct cf *f, const char *client, const char *service, uint16_t port);
/* The general form: `path` (NULL "/"), HTTPS when `https`. */
struct wh_client *cf_workload(struct cf *f, const char *client, const char *service, uint16_t port,
                              const char *path, bool https, double rate, uint64_t duration_us);
/* Results since index `from`: how many, and how many with outcome ok. */
size_t cf_count(struct cf *f, size_t from, enum wh_outcome outcome, const char *host);

/* Events: every event of `type` (and, when not NULL, node) so far, as a
 * cJSON array the caller deletes. */
cJSON *cf_events(struct cf *f, const char *type, const char *node);

#endif
