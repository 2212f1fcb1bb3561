/* Private declarations shared by the daemon core's files (proxy/svcd*.c):
 * the daemon struct, its per-service drain state, proxies and
 * certificates, and the functions one file calls in another. Not for use
 * outside those files; the interface is svcd.h.
 *
 *   svcd.c          lifecycle, netmaps, control session, data plane hooks
 *   svcd_drain.c    per-service drain state
 *   svcd_certs.c    certificates from control
 *   svcd_proxies.c  the Service Proxies (proxy/svc_proxy.h) and reconcile
 *   svcd_serve.c    serve commands, serve config, local API
 */
#ifndef PROXY_SVCD_INT_H
#define PROXY_SVCD_INT_H

#include "lib/base/check.h"
#include "lib/io/io.h"
#include "lib/wire/netmap.h"
#include "proxy/serve/serve_cmd.h"
#include "proxy/serve/serve_config.h"
#include "proxy/svc_proxy.h"
#include "proxy/svcd.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Proxies at once: every port of every service, plus as many lingering
 * behind a drain. */
#define SVCD_MAX_PROXIES (2 * SERVE_MAX_SERVICES * SERVE_MAX_PORTS)
/* When a listen found its address still in use: try again after this. */
#define SVCD_LISTEN_RETRY_US (100ull * 1000)
/* How often lingering proxies are checked for their last connection. */
#define SVCD_LINGER_SWEEP_US (200ull * 1000)
/* Certificates a running proxy keeps alive after rotating away from them
 * (connections opened before may still use them); past this, a rotation
 * starts a new proxy instead. */
#define SVCD_RETIRED_CERTS_MAX 4
/* Shortest gap between two service_non_tcp_refused events. */
#define SVCD_EVENT_GAP_US (1000000ull)
#define SVCD_NAME_MAX     128
#define SVCD_ERR_LEN      512

/* A service's certificate from control (L7-5) and the server context made
 * of it with the node's key. Proxies hold references: a rotated
 * certificate's context lives until the last proxy using it is freed. */
struct svcd_cert {
	unsigned refs;
	char service[SERVE_NAME_MAX + 1];
	char *pem;
	struct tls_ctx *ctx;
};

/* A Service Proxy the daemon runs for one (service, port). */
struct svcd_proxy {
	char service[SERVE_NAME_MAX + 1];
	uint16_t port;
	enum serve_type type;
	bool lingering;         /* stopped accepting; kept only until its connections end */
	bool rotated;           /* lingering because its certificate changed, not a drain */
	struct svcd_cert *cert; /* a reference, or NULL: the --cert context */
	/* References to certificates rotated away from while connections
	 * were open: put once the proxy has none open. */
	struct svcd_cert *retired[SVCD_RETIRED_CERTS_MAX];
	size_t n_retired;
	struct svc_proxy *impl; /* the L7 or L4 proxy, through its ops */
	size_t n_vips;          /* the service VIPs it was started for */
	struct io_addr vips[NETMAP_MAX_ADDRS];
};

/* Runtime drain state of a service (the advertisement state itself lives
 * in `adv`). */
struct svcd_svc {
	struct svcd *d;
	bool used;
	char name[SERVE_NAME_MAX + 1];
	bool draining; /* drain started, not undone */
	bool drained;  /* confirmed (or grace over): listeners closed */
	bool complete; /* drain_complete reported */
	struct io_timer grace;
	struct io_timer settle; /* confirmed, waiting for handshakes on their way */
	const char *settle_by;  /* "control" or "grace" while settling */
};

struct svcd {
	struct io *io;
	char name[SVCD_NAME_MAX];
	uint64_t drain_grace_us;
	bool os_entropy;

	struct dataplane *dp;
	struct netmap *nm;   /* NULL before the first netmap */
	struct tls_ctx *tls; /* from --cert/--key: the fallback for every service */

	/* Control (config.control): the map session, the node's TLS key,
	 * and the per-service certificates control issued. */
	struct mapclient *mc;
	char *key_pem;
	struct svcd_cert **certs;
	size_t n_certs;
	bool dns;           /* MagicDNS answers packets to 100.100.100.100:53 */
	bool config_tagged; /* config.tags given with config.control */
	int (*key_store)(void *ctx, const uint8_t seed[32], bool next);
	void *key_store_ctx;

	struct serve_config cfg;
	struct serve_adv adv;
	struct svcd_svc svcs[SERVE_MAX_SERVICES];

	struct svcd_proxy *proxies;
	size_t n_proxies, cap_proxies;
	struct io_timer linger_timer;
	struct io_timer retry_timer; /* reconcile again after EADDRINUSE */

	uint64_t non_tcp_refused; /* since the last event */
	uint64_t non_tcp_last_event_us;
	bool non_tcp_event_sent;
};

/* svcd.c */
void svcd_readvertise(struct svcd *d);
int svcd_apply_netmap(struct svcd *d, const cJSON *doc, const char *json, size_t len, char *err,
                      size_t err_len);

/* svcd_drain.c */
struct svcd_svc *svcd_svc_find(struct svcd *d, const char *name);
const struct svcd_svc *svcd_svc_find_const(const struct svcd *d, const char *name);
void svcd_svc_release(struct svcd *d, struct svcd_svc *s);
void svcd_adv_transitions(struct svcd *d, const struct serve_adv *old);
void svcd_release_states(struct svcd *d);
void svcd_mc_connected(void *ctx, bool up);

/* svcd_certs.c */
void svcd_cert_put(struct svcd_cert *c);
struct svcd_cert *svcd_cert_for(const struct svcd *d, const char *service);
void svcd_update_certs(struct svcd *d, const cJSON *doc);

/* svcd_proxies.c */
void svcd_proxy_destroy(struct svcd *d, size_t idx, const char *reason);
int svcd_check_config(const struct svcd *d, const struct serve_config *cfg, char *err,
                      size_t err_len);
const struct netmap_service *svcd_hosted(const struct svcd *d, const char *service);
void svcd_linger_fired(struct io_timer *t);
void svcd_retry_fired(struct io_timer *t);
void svcd_reconcile(struct svcd *d);

#endif
