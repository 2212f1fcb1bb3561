/* Private to the coordination server (control*.c): struct control, its
 * map sessions, admin connections, drains and certificates, and the steps
 * one file of the server calls in another. Not for code outside control/. */
#ifndef CONTROL_CONTROL_INT_H
#define CONTROL_CONTROL_INT_H

#include "control/control.h"

#include "control/admin_cmd.h"
#include "control/mapgen.h"
#include "control/registry.h"
#include "lib/base/buf.h"
#include "lib/io/io.h"
#include "lib/wire/ca.h"
#include "lib/wire/http_msg.h"
#include "lib/wire/mapsec.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_READ_CHUNK        65536
#define CTL_ADMIN_MAX_HEADERS 64
#define CTL_ADMIN_OUT_MAX     (64u << 20) /* queued reply bytes per connection */
#define CTL_STATE_MAX_BYTES   (512u << 20)
#define CTL_MAX_CERTS         100000
#define CTL_MAX_DRAINS        65536
#define CTL_DEFAULT_ENDPOINT  41641
#define CTL_ERR_LEN           512
#define CTL_BACKLOG           1024
#define CTL_SAVE_RETRY_US     (1000ull * 1000) /* a failed coalesced save is retried */

struct ctl_session {
	struct control *c;
	uint64_t id;
	int handle; /* -1 once closed */
	int node;   /* registry index, -1 before hello */
	bool closed;
	struct buf in;  /* frames read, not yet whole */
	struct buf out; /* frames queued; out.data[0 .. out_off) already written */
	size_t out_off;
	size_t max_msg; /* largest netmap frame sent, as on the wire (bounds the queue) */
	struct mapgen_sent *sent;
	uint64_t version_sent, version_acked;
	uint64_t last_rx_us, last_tx_us;
	/* held to the hosts' liveness pair, not the idle one (see the
	 * liveness frame in mapproto.h, ctl_session_heartbeat_us) */
	bool host_liveness;
	/* A map is due but the node has not taken the last one yet (the seam
	 * holds unsent bytes): one map, from whatever the registry says then,
	 * goes out when the queue drains, so a slow link gets fewer, larger
	 * deltas instead of a growing backlog. */
	bool map_pending;
	bool zlib;    /* the node takes deflated frames (hello "compress") */
	cJSON *ranks; /* {"svc:x": ["host", ...]} of the last map sent */
	bool silent;  /* closed for silence: the node is lost, not dead (STR-8) */
	/* The Noise session (lib/wire/mapsec.h): the first frame is the
	 * node's handshake, every later frame both ways is sealed. */
	struct mapsec sec;
	bool sealed;                     /* the handshake response is queued: seal the rest */
	uint8_t hs_ts[WG_TIMESTAMP_LEN]; /* the handshake's timestamp */
};

struct ctl_waiter {
	uint64_t session_id;
	uint64_t need_version; /* 0: no map without the host sent yet */
	bool done;             /* acked a map without the host, or gone */
};

/* A host draining a service, and the sessions it waits for: sorted by
 * session id (binary search per map sent or ack), never shrunk. */
struct ctl_drain {
	char *service;
	size_t host; /* node index */
	size_t n_waiters, n_left;
	struct ctl_waiter *w;
};

struct ctl_cert {
	size_t node;
	char *service, *key, *pem;
};

struct ctl_admin {
	struct control *c;
	int handle;
	bool closed, close_after;
	struct http_head *head;
	struct http_parser parser;
	struct buf in; /* bytes read; in.data[0 .. in_off) already parsed */
	size_t in_off;
	struct buf body; /* the current request's body */
	bool body_too_big;
	struct buf out; /* replies queued; out.data[0 .. out_off) already written */
	size_t out_off;
	uint64_t last_us;
};

struct control {
	struct io *io;
	char *name, *tailnet, *state_path;
	struct storage *storage;     /* borrowed; NULL without state_path */
	struct storage *admin_files; /* set-policy FILE: config's, or &host_files */
	struct storage host_files;   /* the host's files, read-only (control_state.c) */
	struct registry *reg;
	struct mapgen *mg;
	struct ca *ca;
	struct wg_keypair key; /* map sessions' static key (SEC-2) */
	uint64_t heartbeat_us, dead_after_us;
	uint64_t idle_heartbeat_us, idle_dead_after_us;
	/* Restart grace (STR-8): hosts the saved state records are alive but
	 * not connected until they reconnect or the grace ends. */
	struct io_timer grace_timer;
	uint64_t restart_grace_us, grace_started_us;
	/* Nodes lost and since when (STR-8): the sweep makes them dead after
	 * lost_expiry_us. At most one entry per node. */
	struct ctl_lost {
		size_t node;
		uint64_t since_us;
	} * lost;
	size_t n_lost, cap_lost;
	uint64_t lost_expiry_us;
	size_t grace_hosts, grace_left;
	bool grace;
	int map_listener, admin_listener;
	struct ctl_session **sessions;
	size_t n_sessions, cap_sessions;
	struct ctl_session **by_node;
	size_t by_node_cap;
	uint64_t next_session_id;
	struct ctl_admin *admins[CONTROL_MAX_ADMIN_CONNS];
	struct io_timer recompute_timer, sweep_timer;
	struct ctl_drain *drains;
	size_t n_drains, cap_drains;
	struct ctl_cert *certs;
	size_t n_certs, cap_certs;
	uint64_t cert_serial;
	cJSON *prev_states; /* "svc:x" and "svc:x node" -> state name */
	bool dirty;         /* persisted data changed since the last save */
	/* sessions or admin connections closed since the last ctl_reap: the
	 * reap runs after every event, a walk over all sessions only when due */
	size_t n_to_reap;
};

/* ---- control.c: core, timers, lost nodes, reap ---- */

/* A node's name ("" for -1 or an unknown index). */
const char *ctl_node_name(const struct control *c, int node);
/* {"error": msg} as malloc'd text (NULL on -ENOMEM). */
char *ctl_error_json(const char *msg);
/* Arms the coalesced recompute (maps, states, save) if it is not armed. */
void ctl_schedule(struct control *c);
/* Node idx is lost (STR-8): its clock towards lost_expiry_us starts. */
void ctl_mark_lost(struct control *c, size_t idx);
/* Ends the restart grace (`early`: every host is back). */
void ctl_grace_end(struct control *c, bool early);
/* Frees the sessions and admin connections closed since the last reap;
 * called at the end of every entry point. */
void ctl_reap(struct control *c);

/* ---- control_state.c: persistence, admin files ---- */

/* Writes `reg`'s state (with the CA seed) through the storage: 0 once
 * durable, or -errno with err and a state_save_failed event for `what`. */
int ctl_store(struct control *c, const struct registry *reg, const char *what, char *err,
              size_t err_len);
/* Saves the live state when it changed; a failure leaves it unsaved. */
int ctl_save(struct control *c);
/* Loads the saved state: 0, 1 (none stored), or -errno with err. */
int ctl_load(struct control *c, uint8_t seed[CA_SEED_LEN], char *err, size_t err_len);

/* The wall clock in Unix seconds (the seam's): auth keys' creation and
 * expiry. */
static inline uint64_t ctl_wall_s(const struct control *c)
{
	return c->io->ops->wall_us(c->io) / 1000000;
}
/* Sets where admin files are read from: `given`, or the host's files. */
void ctl_admin_files_init(struct control *c, struct storage *given);
/* Reads set-policy's FILE (at most POLICY_MAX_BYTES) through the admin
 * files' storage: 0 with *text (malloc'd), or -errno with err. */
int ctl_read_policy_file(struct control *c, const char *path, char **text, size_t *len, char *err,
                         size_t err_len);

/* ---- control_maps.c: what sessions are sent ---- */

/* mapgen's certificate callback (mapgen_options.cert_fn). */
const char *ctl_cert_fn(void *ctx, size_t node, const char *service);
/* Brings one session's map up to date (later, when its queue is full). */
void ctl_session_send_map(struct ctl_session *s);
/* service_state / host_state for every state that changed. */
void ctl_state_events(struct control *c);
/* The recompute timer: maps to every session, drains, states, save. */
void ctl_recompute_fn(struct io_timer *t);

/* ---- control_drain.c: drain confirmation ---- */

void ctl_drain_free(struct ctl_drain *d);
/* Forgets drain i (the last one takes its place). */
void ctl_drain_remove(struct control *c, size_t i);
/* Confirms drains no session waits for any more. */
void ctl_drain_check(struct control *c);
/* Host `host` started draining `service`: notes the sessions to wait for. */
void ctl_drain_start(struct control *c, const char *service, size_t host);
/* A map of `version` went to session s. */
void ctl_drain_sent(struct control *c, const struct ctl_session *s, uint64_t version);
/* Session `id` acked `version` (UINT64_MAX: the session is gone). */
void ctl_drain_acked(struct control *c, uint64_t id, uint64_t version);
void ctl_drain_session_gone(struct control *c, uint64_t session_id);

/* ---- control_session.c: map sessions ---- */

/* Queues one frame (bounded: a slow consumer is closed). 0 or -errno. */
int ctl_session_queue(struct ctl_session *s, const void *payload, size_t len, bool zlib);
/* Sends {"type": type, key: value, key2: value2} (keys may be NULL). */
void ctl_session_send_simple(struct ctl_session *s, const char *type, const char *key,
                             const char *value, const char *key2, const char *value2);
/* The session's liveness pair: the hosts' one, or the idle one. */
uint64_t ctl_session_heartbeat_us(const struct ctl_session *s);
uint64_t ctl_session_dead_after_us(const struct ctl_session *s);
/* Sends an error frame, then closes the session. */
void ctl_session_fail(struct ctl_session *s, const char *msg);
/* Marks the session closed (freed by ctl_reap); `dead`: its node is dead,
 * or lost when the session went silent. */
void ctl_session_close(struct ctl_session *s, const char *reason, bool dead);
/* A node whose key an admin revoked: its live session ends now (the node
 * is dead to steering), and maps go out without it. */
void ctl_node_key_revoked(struct control *c, size_t node);
void ctl_session_free(struct ctl_session *s);
/* The string member `key` of o, or NULL. */
const char *ctl_json_str(const cJSON *o, const char *key);
/* The map listener: accepts sessions (REL-1: within the handle reserve). */
void ctl_map_listen_cb(void *ctx, int listener, unsigned events);

/* ---- control_admin_http.c: the admin API ---- */

void ctl_admin_close(struct ctl_admin *a);
void ctl_admin_free(struct ctl_admin *a);
/* The admin listener: accepts connections (503 when all slots are used). */
void ctl_admin_listen_cb(void *ctx, int listener, unsigned events);

/* ---- control_admin_cmd.c: admin commands ---- */

/* Runs a parsed command as `actor`: *json gets the result or {"error"};
 * 0 or -errno; *not_saved: a write refused because its state could not be
 * made durable (the API's 503). */
int ctl_exec(struct control *c, const char *actor, const struct admin_cmd *cmd,
             const char *policy_text_in, size_t policy_len, char **json, bool *not_saved);

#endif
