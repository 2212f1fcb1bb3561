/* svcd: the node daemon, one struct per node.
 *
 * It ties together the overlay data plane (dataplane.h), the serve
 * configuration and its command grammar (serve_config.h, serve_cmd.h), and
 * the Service Proxies (proxy/svc_proxy.h, the ops table that http_proxy.h
 * for L7 and tcp_proxy.h for L4 implement; L3 services need no proxy:
 * their VIP packets go to the node's own stack). The code is split by
 * concern (svcd_int.h lists the files): core, drain, certificates,
 * proxies, serve commands and the local API.
 *
 * A Service Proxy for service S listens on S's VIPs, port by port, exactly
 * while all of these hold:
 *   - the netmap lists S in `host_services` (this host is approved for S),
 *   - the serve config has S with a handler for that port,
 *   - S is advertised and not drained (or draining, but inside the drain
 *     grace: see below).
 * Everything is written against the seam, so the same daemon runs as the
 * real `svcd` (proxy/cmd/svcd_main.c, epoll backend) and inside simrun.
 *
 * Drain (DRN-1/2/4/5): `serve drain svc:S` marks S draining at once (a
 * `host_draining` event; control stops steering new clients here), then,
 * once no client can still be steered here, the listeners close: new
 * connections are refused while open ones run to their natural end.
 * Without a control session "no client can still be steered" is a fixed
 * grace (config.drain_grace_us). `serve clear` or `serve reset` without a
 * drain aborts the service's open connections at once (the documented
 * hazard). `serve advertise svc:S` undoes a drain.
 *
 * With a control session (config.control) the grace gives way to
 * control's word: `serve drain` re-advertises S as draining and the
 * listeners close only on svcd_drain_confirmed (control's drain_confirmed:
 * every client that could be steered here has a map without this host,
 * DRN-1/3). While the session is down the grace applies again, counted
 * from the loss of the session (or from the drain when it was already
 * down): a control unreachable for longer than the grace cannot hold a
 * drain open forever. Once the session is back, control's confirmation
 * is awaited again.
 *
 * Settle: a client that opened a connection just before it took the map
 * without this host has its handshake still on the way when control
 * confirms (its SYN arrived, its ACK and request have not: one client
 * round trip, 330 ms from Asia to Europe). Closing the listener then
 * would reset a connection that is, for the client, already open
 * (DRN-1). So the listeners close once control confirmed (or the grace
 * ran out) and no new inbound flow to the service has begun for
 * SVCD_DRAIN_SETTLE_US (a `drain_settling` event says how long it waits);
 * clients steered elsewhere open none, so this adds at most that much.
 *
 * Control (config.control, proxy/mapclient.h): svcd_new makes the node's
 * Ed25519 TLS key from the seam's random (ca_keypair_from_seed) and opens
 * the map session; the hello carries the public key, the advertisement
 * (every advertised or draining service with `draining`, `tun` and the
 * ports its serve config handles) is resent on every change, and each
 * netmap control sends is applied like svcd_set_netmap_json. A netmap may
 * carry `host_services[].cert_pem` (and a top-level `ca_pem`): that
 * service's HTTPS and TLS-terminated TCP listeners then use the
 * certificate with the node's key (L7-5), config.cert_file staying the
 * fallback; with control, HTTPS ports are accepted without --cert (the
 * certificate comes with the map). A new certificate replaces the
 * listener; open connections finish on the old one. Before the first map
 * the tags of config.tags decide whether this host may serve (CFG-11).
 *
 * MagicDNS (config.magic_dns): 100.100.100.100/32 goes on the TUN device
 * and proxy/magicdns.h answers on its port 53 from every applied netmap.
 *
 * A proxy that is no longer wanted while its service drains stops
 * accepting and lingers until its last connection ends (then
 * `drain_complete` once the whole service is idle); one removed while
 * its service is active is aborted at once (`connections_reset` with the
 * count, DRN-4).
 *
 * LIM-1: services carry TCP only, except L3 (`--tun`) services. svcd
 * gives the data plane a deliver hook (dataplane_config.deliver) that
 * drops any non-TCP packet to a hosted VIP of a non-L3 service before it
 * reaches the TUN device, whatever wrote it (the tailnet, MagicDNS) (`service_non_tcp_refused`, at
 * most one event per second with the count).
 *
 * Certificates live in memory only: the node key is made from the seam's
 * random at start and control's certificates arrive with each netmap;
 * svcd itself writes no file (--cert/--key are read once by svcd_new
 * through lib/wire/tls, --netmap once by proxy/cmd/svcd_main.c; the
 * tailnet pcap belongs to the data plane).
 *
 * Events (all through the seam, io_event): serve_applied, host_advertising,
 * host_draining (`until`: "control_confirms" or "grace"), drain_settling
 * {wait_us}, host_drained (listeners closed; `by`: "control" or "grace"),
 * drain_complete,
 * cert_installed, cert_refused,
 * proxy_listening, proxy_stopped, proxy_error, connections_reset,
 * service_non_tcp_refused, plus what the data plane and proxies emit.
 */
#ifndef PROXY_SVCD_H
#define PROXY_SVCD_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SVCD_DEFAULT_DRAIN_GRACE_US (5ull * 1000000)
/* A TCP handshake's worst case before its first SYN retransmission (1 s,
 * RFC 6298): longer round trips retransmit and are new flows anyway. */
#define SVCD_DRAIN_SETTLE_US (1000ull * 1000)
#define SVCD_OUT_MAX         (64u << 10) /* largest text a command prints */

struct svcd_config {
	const char *name;         /* node name (events, messages) */
	struct io_addr underlay;  /* overlay UDP listen address; port 0: default */
	const char *tailnet_pcap; /* NULL: none */
	const char *cert_file;    /* PEM certificate for HTTPS / TLS-terminated TCP */
	const char *key_file;     /* its key; both NULL: those ports refuse TLS */
	uint64_t drain_grace_us;  /* 0: SVCD_DEFAULT_DRAIN_GRACE_US */
	uint32_t max_flows;       /* 0: data plane default */
	bool os_entropy;          /* real mode: mix OS randomness into TLS keys */
	/* Map session with control (proxy/mapclient.h). NULL: no control;
	 * the netmap comes from the local API or a file. */
	const struct io_addr *control; /* control's map address (ip:port) */
	const char *region;            /* reported in hello */
	const char *user;              /* owner login, NULL or "" for none */
	const char *const *tags;       /* node tags, reported in hello */
	size_t n_tags;
	uint64_t control_connect_delay_us; /* mapclient first_connect_delay_us */
	/* With control, both required (SEC-1, SEC-2): the node key's 32
	 * secret bytes (svcd keeps them in its state directory; the simulator
	 * derives them from the seed and the name) and control's public key,
	 * which the map session pins. */
	const uint8_t *node_key;
	const uint8_t *control_key;
	const char *auth_key; /* to join control the first time; NULL: none */
	/* Keeping the node key across a rotation (svcd_rotate_key, SEC-2):
	 * called with next = true before control is asked (the new key kept
	 * aside), with next = false once control recorded it (the new key is
	 * the node key). 0 or -errno. NULL: rotation in memory only. */
	int (*key_store)(void *ctx, const uint8_t seed[32], bool next);
	void *key_store_ctx;
	/* A rotation a crash interrupted (the key kept aside): asked again. */
	const uint8_t *next_node_key;
	bool magic_dns; /* answer DNS on 100.100.100.100:53 (proxy/magicdns.h) */
	char *err;      /* optional: why svcd_new failed, in words */
	size_t err_len;
};

struct svcd;

/* Creates a daemon on `io` (opens the overlay socket and the TUN device).
 * Returns 0 and *out, or -errno. */
int svcd_new(struct svcd **out, struct io *io, const struct svcd_config *config);
/* Stops every proxy (open connections are aborted), removes TUN addresses,
 * frees. Accepts NULL. */
void svcd_free(struct svcd *d);

/* Swaps in a netmap (JSON, lib/wire/netmap.h) as a whole; on error nothing
 * changes and `err` says why. */
int svcd_set_netmap_json(struct svcd *d, const char *json, size_t len, char *err, size_t err_len);

/* Runs one `serve ...` command: a whole line (scenario files, the local
 * API) or an argv (the CLI). `out` receives what the CLI prints: the
 * CFG-12 message, the status, or the error. Returns 0 or -errno (the CLI
 * exits 1 then). */
int svcd_serve_line(struct svcd *d, const char *line, char *out, size_t out_len);
int svcd_serve_argv(struct svcd *d, int argc, char **argv, char *out, size_t out_len);

/* The config-file route (CFG-10): validates the whole document; on error
 * nothing changes. Advertising is a separate `serve advertise`. */
int svcd_set_serve_config_json(struct svcd *d, const char *json, size_t len, char *err,
                               size_t err_len);

/* `serve status --json` (malloc'd). */
char *svcd_serve_status_json(const struct svcd *d);

/* Open proxied connections of a service (all ports), for tests and the
 * drain logic. */
size_t svcd_open_connections(const struct svcd *d, const char *service);

/* Handles one local API request line (lib/wire/localapi.h) and returns the
 * response line, malloc'd (NULL only on -ENOMEM). */
char *svcd_local_request(struct svcd *d, const char *line, size_t len);
/* Moves the node to a new key (SEC-2): drawn from the seam's secrets,
 * kept aside through config.key_store, then asked of control; control's
 * answer makes it the node key and the session reconnects with it. The
 * new public key (base64) into out. 0, -ENOTCONN (no control), or the
 * store's error. */
int svcd_rotate_key(struct svcd *d, char *out, size_t out_len);

/* Control confirmed that no client can still be steered here for
 * `service` (DRN-1/3): a draining service's listeners close now. Called by
 * the map client; a service that is not draining ignores it. */
void svcd_drain_confirmed(struct svcd *d, const char *service);

/* The netmap version last applied (0: none). */
uint64_t svcd_netmap_version(const struct svcd *d);

struct netmap;
/* The netmap last applied (NULL: none); valid until the next one. */
const struct netmap *svcd_netmap(const struct svcd *d);

/* Whether the map session with control is up (hello sent, welcome seen). */
bool svcd_control_connected(const struct svcd *d);

/* Whether a proxy for (service, port) currently accepts connections. */
bool svcd_is_listening(const struct svcd *d, const char *service, uint16_t port);

struct dataplane;
/* The daemon's data plane (stats, flow lookups in tests). */
struct dataplane *svcd_dataplane(const struct svcd *d);

#endif
