/* The node daemon's side of the map session with control (lib/wire/mapproto.h
 * is the protocol), on the seam.
 *
 * One TCP connection to control's map address. On connect: hello, then the
 * current advertisement. Frames from control are parsed incrementally in a
 * bounded input buffer (MAPPROTO_MAX_FRAME). The client keeps the current
 * netmap as a cJSON document: a full map replaces it, a delta is applied
 * to a copy with mapproto_apply_delta (a base that does not match: resync).
 * The result goes to the owner's apply callback; when the owner takes it,
 * the copy becomes current and an ack with its version goes up. A map the
 * owner refuses is reported (`netmap_rejected`), not acked, and the old one
 * stays.
 *
 * Liveness: a heartbeat goes up every heartbeat_ms (from welcome, or the
 * latest liveness frame) in which nothing else did; when control is silent
 * for dead_after_ms (same sources; MAPPROTO_DEAD_AFTER_MS before the
 * welcome, including the TCP connect),
 * the session is closed. Any end of a session (error, EOF, garbage from
 * control, silence, an output backlog over MAPCLIENT_MAX_OUT) is followed
 * by a reconnect after a backoff: backoff_min_us doubling up to
 * backoff_max_us (at most MAPPROTO_RETRY_MAX_MS, which a restarted control
 * counts on), each delay jittered down to half with the seam's random.
 * The owner keeps serving with the last map meanwhile; the new session
 * resends hello and the advertisement.
 *
 * Events: control_connected (welcome seen), control_liveness (new limits),
 * control_lost (reason, whether
 * the session had been up, retry delay), netmap_received (version,
 * "full"/"delta", bytes), netmap_rejected (version, reason), netmap_resync,
 * drain_confirmed, advertise_refused.
 */
#ifndef PROXY_MAPCLIENT_H
#define PROXY_MAPCLIENT_H

#include "lib/io/io.h"
#include "lib/wire/mapproto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAPCLIENT_BACKOFF_MIN_US   (100ull * 1000)
#define MAPCLIENT_BACKOFF_MAX_US   (MAPPROTO_RETRY_MAX_MS * 1000ull)
#define MAPCLIENT_MAX_OUT          (4u * (1u << 20)) /* bytes queued for control */
#define MAPCLIENT_READ_CHUNK       (64u * 1024)
#define MAPCLIENT_KEEP_IN          (1u << 20) /* input buffer kept between frames */
#define MAPCLIENT_MIN_HEARTBEAT_MS 10         /* welcome values are clamped */
#define MAPCLIENT_MAX_HEARTBEAT_MS 60000
#define MAPCLIENT_MAX_DEAD_MS      300000
#define MAPCLIENT_MAX_TAGS         32
#define MAPCLIENT_MAX_NAME         253
#define MAPCLIENT_ERR_LEN          256

struct mapclient_callbacks {
	/* A new netmap: `doc` the whole document, `text` it printed (len
	 * bytes), version `version`. Return 0 to take it, or -errno with
	 * `err` saying why (the client then keeps the previous map). */
	int (*apply)(void *ctx, const cJSON *doc, const char *text, size_t len, uint64_t version,
	             char *err, size_t err_len);
	/* Control confirmed the drain of `service` (DRN-1/3). May be NULL. */
	void (*drain_confirmed)(void *ctx, const char *service);
	/* Control refused to accept `service` from this node. May be NULL. */
	void (*advertise_refused)(void *ctx, const char *service, const char *message);
	/* The session came up (welcome seen) or went down. May be NULL. */
	void (*connected)(void *ctx, bool up);
	/* Control recorded the rotation to the key from `seed`
	 * (mapclient_rotate_key): keep it as the node key now. 0 to switch
	 * (the session then reconnects with it), -errno to stay on the old
	 * key (control takes both until a session proves the new one). May
	 * be NULL (switch in memory only). */
	int (*key_rotated)(void *ctx, const uint8_t seed[32]);
};

struct mapclient_config {
	struct io_addr control; /* control's map address */
	const char *node;       /* node name (required) */
	const char *user;       /* owner login, NULL: "" */
	const char *region;     /* NULL: "" */
	const char *const *tags;
	size_t n_tags;        /* at most MAPCLIENT_MAX_TAGS */
	const char *endpoint; /* this node's underlay data plane endpoint "ip:port" */
	const char *tls_key;  /* Ed25519 public key, hex; NULL: none */
	/* The node key's 32 secret bytes and control's public key, which the
	 * session's handshake checks (pinned: SEC-2). Both required. */
	const uint8_t *node_key;
	const uint8_t *control_key;
	/* Sent in every hello until control knows the node (SEC-1); NULL:
	 * none (a node control already knows needs none). */
	const char *auth_key;
	uint64_t backoff_min_us; /* 0: MAPCLIENT_BACKOFF_MIN_US */
	uint64_t backoff_max_us; /* 0: MAPCLIENT_BACKOFF_MAX_US (also the most) */
	/* Wait before the first connect (at most MAPCLIENT_BACKOFF_MAX_US):
	 * a simulator starting thousands of daemons at once spreads their
	 * registrations, as real machines booting at different times do. */
	uint64_t first_connect_delay_us;
	struct mapclient_callbacks cb;
	void *ctx;
};

struct mapclient;

/* Validates the config, copies it and starts connecting (callbacks run
 * only from the seam's loop, never inside this call). 0 or -errno
 * (-EINVAL: a bad config, -ENOMEM). */
int mapclient_new(struct mapclient **out, struct io *io, const struct mapclient_config *cfg);
/* Closes the session and frees; no callback runs afterwards. NULL ok. */
void mapclient_free(struct mapclient *mc);

/* Sets the advertisement: a JSON array of
 * {"name","draining","tun","ports"} objects (copied). Sent now when the
 * session is up and it differs from what was last sent, and on every
 * reconnect. 0, -E2BIG (the frame would exceed MAPPROTO_MAX_UP_FRAME),
 * -EINVAL (not an array), -ENOMEM. */
int mapclient_advertise(struct mapclient *mc, const cJSON *services);

/* Moves the node to the key from `seed` (SEC-2): asked in the next (or
 * current) session, then cb.key_rotated and a reconnect with it. Asking
 * again, after a crash, is harmless. 0 or -ENOMEM. */
int mapclient_rotate_key(struct mapclient *mc, const uint8_t seed[32]);

/* Whether the session is up (hello sent, welcome seen). */
bool mapclient_connected(const struct mapclient *mc);
/* The version of the current netmap (0: none). */
uint64_t mapclient_version(const struct mapclient *mc);
/* The current netmap document (NULL: none); borrowed until the next map. */
const cJSON *mapclient_netmap(const struct mapclient *mc);

#endif
