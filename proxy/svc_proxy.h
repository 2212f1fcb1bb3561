/* The Service Proxy interface: what the daemon (proxy/svcd*.c) asks of a
 * proxy for one (service, port), whatever layer it works at.
 *
 * Two implementations fill the ops table: the L7 proxy (proxy/l7,
 * `http_proxy_svc_ops`, HTTP and HTTPS ports) and the L4 proxy (proxy/l4,
 * `tcp_proxy_svc_ops`, TCP and TLS-terminated TCP ports). L3 services have
 * none: their VIP packets go to the node's own stack. Each implementation
 * embeds `struct svc_proxy` as the first member of its own struct and
 * recovers itself with a cast (SQLite's sqlite3_file / io_methods shape),
 * so svcd holds one pointer and never branches on the type.
 *
 * Conventions: create returns 0 and *out or a negative errno (one
 * constructor shape for both layers); acting ops return 0 or a negative
 * errno; queries and teardown cannot fail.
 */
#ifndef PROXY_SVC_PROXY_H
#define PROXY_SVC_PROXY_H

#include "lib/io/io.h"
#include "proxy/serve/serve_config.h"

#include <stdbool.h>
#include <stddef.h>

struct tls_ctx;

/* Who is behind a client address: true with login and display name for a
 * user-owned node, false for a tagged node (no identity headers, L7-4). */
typedef bool (*svc_proxy_whois_fn)(void *ctx, const struct io_addr *client, char *login,
                                   size_t login_len, char *name, size_t name_len);

/* What the daemon knows about a port; each layer takes what it uses. */
struct svc_proxy_config {
	const char *label;             /* names the proxy in events, "svc:web:443"; copied */
	const struct serve_port *port; /* the port's serve config; L7 deep-copies its handlers */
	struct io_addr target;         /* L4: the parsed tcp_forward target */
	struct tls_ctx *tls;           /* server context (HTTPS, TLS-terminated TCP) or NULL;
	                                  borrowed */
	svc_proxy_whois_fn whois;      /* L7 identity headers; may be NULL */
	void *whois_ctx;
	bool os_entropy; /* L7: TLS to upstreams mixes in OS randomness (real mode) */
};

struct svc_proxy;

struct svc_proxy_ops {
	const char *name; /* "l7", "l4" */
	/* A proxy not listening yet: 0 and *out, -EINVAL for a config this
	 * layer cannot run, -ENOMEM. */
	int (*create)(struct svc_proxy **out, struct io *io, const struct svc_proxy_config *cfg);
	/* Listens on one more local address (a service VIP with the port): 0
	 * or -errno (the seam's, or a listener limit). */
	int (*listen)(struct svc_proxy *p, const struct io_addr *addr);
	/* New connections or requests use `cfg` from now on (CFG-6); open ones
	 * keep what they had. A non-NULL cfg->tls replaces the server context
	 * (a rotated certificate): the caller keeps the old one alive until
	 * the connections open now have ended. 0 or -errno (the old config
	 * stays). */
	int (*update)(struct svc_proxy *p, const struct svc_proxy_config *cfg);
	/* Drain (DRN-2): no new connection is accepted; open ones run to
	 * their natural end. */
	void (*stop_accepting)(struct svc_proxy *p);
	/* Resets every open connection at once (DRN-4). */
	void (*abort_all)(struct svc_proxy *p);
	size_t (*open_connections)(const struct svc_proxy *p);
	/* Closes everything and frees. */
	void (*free)(struct svc_proxy *p);
};

/* The head of every implementation's struct. */
struct svc_proxy {
	const struct svc_proxy_ops *ops;
};

extern const struct svc_proxy_ops http_proxy_svc_ops; /* proxy/l7/http_proxy.c */
extern const struct svc_proxy_ops tcp_proxy_svc_ops;  /* proxy/l4/tcp_proxy.c */

#endif
