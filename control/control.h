/* The coordination server, one struct per instance, written against the
 * seam (lib/io/io.h): the same code runs as the real `controld` (epoll) and
 * as an instance inside simrun.
 *
 * It owns the registry (registry.h), a netmap generator (mapgen.h), the
 * tailnet CA (ca.h), and two listeners on the underlay:
 * - map sessions (lib/wire/mapproto.h) on config.map_port: hello registers the
 *   node; advertisements update its hosts; every change to the registry
 *   (admin action, advertisement, liveness) schedules one coalesced
 *   recompute (CONTROL_RECOMPUTE_DELAY_US) that sends each session the
 *   delta that brings it up to date; acks are recorded per session.
 * - the admin API (HTTP/1.1 + JSON, llhttp) on config.admin_port; callers
 *   authenticate with `Authorization: Bearer <token>` (users' tokens):
 *     GET    /api/services                 services with state and hosts
 *     GET    /api/services/svc:X
 *     PUT    /api/services/svc:X           {"description","ports","tags"}
 *     DELETE /api/services/svc:X
 *     POST   /api/services/svc:X/hosts/NODE/{approve|reject|revoke}
 *     GET    /api/nodes
 *     PUT    /api/nodes/NODE/tags          {"tags": ["tag:a", ...]}: set-tags
 *     GET    /api/authkeys                 auth keys (ids, never secrets)
 *     POST   /api/authkeys                 {"reusable", "expiry_s", "tags"}: 201
 *                                          with "key", its text, shown once
 *     DELETE /api/authkeys/ID              revoke
 *     GET    /api/policy                   the HuJSON text
 *     PUT    /api/policy                   a new policy (refused whole)
 *     GET    /api/ca                       the CA certificate (PEM)
 *     POST   /api/command                  {"line": "<admin command>"}
 *   Replies are JSON: 200 (201 for a new auth key) with the object, or 4xx
 *   {"error": "..."} (401 unknown token, 403 not an admin, 400 invalid, 404
 *   unknown, 409 already so, 413 too large). Limits on header and body
 *   bytes and connections. Tokens are compared by their SHA-256 (registry.h).
 *
 * Admin command lines (control_admin_line, POST /api/command, the admin
 * CLI, scenario timelines):
 *   define svc:X [--ports=tcp:443,tcp:80] [--tags=tag:a,tag:b] [--description=TEXT]
 *   delete svc:X
 *   approve|reject|revoke svc:X NODE
 *   set-tags NODE TAG...     (the node's tags from then on; a hello's
 *                             claim no longer changes them: registry.h)
 *   set-policy FILE          (reads FILE through config.admin_files; the
 *                             real CLI reads it itself and sends its text)
 *   services | service svc:X | nodes | policy     (read-only, JSON out)
 *   authkey create [--reusable] [--expiry=24h] [--tags=tag:a,tag:b]
 *                            (an auth key for new nodes, SEC-1: one-off
 *                             unless --reusable, never expiring without
 *                             --expiry; its secret from the seam's
 *                             random_u64, answered once, kept hashed)
 *   authkey revoke ID | authkeys
 *
 * Liveness (STR-4): a node is alive while its session delivers a frame at
 * least every dead_after_us (heartbeats); when one goes silent or closes,
 * its clients are remapped at once. A session that closes (the node's
 * process is gone) makes the node dead; one that goes silent makes it
 * lost: control cannot reach it, but clients may (control itself may be
 * the one cut off), so its hosts move behind every alive host in the
 * clients' rankings instead of leaving them (STR-8, registry.h). Hosts are
 * held to heartbeat_us/dead_after_us, nodes that advertise nothing to the
 * looser idle pair (their liveness steers nothing; a drain may wait up to
 * idle_dead_after_us for a silent client's ack).
 *
 * Drain confirmation (DRN-1/3): when host H starts draining S, control
 * notes every session whose last sent map ranks H for S and the map
 * version that no longer does; once each of those sessions has acked that
 * version (or closed), H gets drain_confirmed for S.
 *
 * Persistence (REL-3): with config.state_path, the registry (users, nodes
 * and their addresses, services and VIPs, decisions, policy, which hosts
 * were serving) and the CA key are kept in config.storage
 * (lib/io/storage.h: a file 0600 in real mode, memory in the simulator)
 * under that name and loaded at start.
 * - Admin writes (define, delete, approve/reject/revoke, set-policy,
 *   set-tags, authkey create/revoke) are
 *   acknowledged only once durable: each is tried on a copy of the
 *   registry, the copy's state is written (atomically, fsynced), and only
 *   then does the live registry take it. When the write fails (full disk,
 *   failed fsync) the API answers 503 {"error": "state not saved: ...;
 *   nothing changed"}, control_admin_line returns the storage's -errno,
 *   and nothing changed: no map, no later save carries the refused write.
 * - Node-driven changes (registrations, endpoints, keys, which hosts
 *   serve) are saved with the coalesced recompute
 *   (CONTROL_RECOMPUTE_DELAY_US or more; a failed save is retried every
 *   second, with a state_save_failed event each time). A crash loses at
 *   most the registrations made since the last save: those nodes register
 *   again when they reconnect (a node new since then may get another
 *   tailnet address). Liveness is never stored: sessions bring it back.
 * A stored state the storage refuses (the file backend: readable by
 * others, a symlink, another user's) stops control_new with the reason.
 *
 * Restart grace (STR-8): a control started from saved state counts the
 * hosts it records as serving alive (not connected) for restart_grace_us,
 * so the maps it sends meanwhile keep them where they were in steering;
 * one that reconnects is live at once and its advertisement replaces the
 * saved one. The grace ends then, or as soon as every such host is back;
 * those still missing are lost (node_dead) from then on. A node lost for
 * lost_expiry_us is dead (node_dead, reason "lost for too long"): its
 * hosts leave steering.
 * Events control_grace_started (hosts, grace_us) and control_grace_ended
 * (hosts, reconnected, missing, early).
 *
 * Events (io_event): control_ready, cert_issued, cert_failed,
 * drain_started, node_registered, session_open, session_closed, node_dead
 * ("lost": control only lost sight of it), node_alive, host_advertised,
 * host_decision, service_defined, service_deleted, policy_set,
 * authkey_created (id, reusable, tags, expires_s, actor), authkey_revoked
 * (id, actor), admin_refused, service_state, host_state (both on every change, with the
 * previous state), netmap_sent (version, delta or full, bytes),
 * netmap_acked, steering (a client's first host for a service changed),
 * drain_confirmed, session_error, state_save_failed (path, error, detail,
 * for: the command, "coalesced" or "bootstrap").
 */
#ifndef CONTROL_CONTROL_H
#define CONTROL_CONTROL_H

#include "control/registry.h"
#include "lib/io/io.h"
#include "lib/io/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_MAX_SESSIONS             200000
#define CONTROL_MAX_ADMIN_CONNS          64
#define CONTROL_ADMIN_MAX_HEADER         (16u << 10)
#define CONTROL_ADMIN_MAX_BODY           (1u << 20)
#define CONTROL_RECOMPUTE_DELAY_US       (20ull * 1000)
#define CONTROL_RECOMPUTE_US_PER_SESSION 10         /* 10,000 sessions: 100 ms */
#define CONTROL_OUT_MAX                  (4u << 20) /* admin command output */
/* Connection limits: an admin connection silent this
 * long is closed; a map session whose unsent output passes
 * CONTROL_SESSION_OUT_SLACK plus CONTROL_SESSION_OUT_MAPS times its largest
 * netmap message, or that has taken no byte of its queued output for its
 * dead_after time, is closed as a slow consumer (session_error,
 * node_dead). While a session's output is queued, its next netmap waits
 * and then covers every change made meanwhile. GET /api/policy answers the
 * HuJSON text and GET /api/ca the PEM as they are; everything else is JSON.
 * POST /api/command refuses set-policy (the file would be read on the
 * server): clients PUT /api/policy with the text instead. */
/* An admin connection that sends no whole request and takes no byte of
 * its answer for this long is closed (bytes trickling in do not count);
 * one without a valid token gets its 401 and is closed. */
#define CONTROL_ADMIN_IDLE_US     (30ull * 1000 * 1000)
#define CONTROL_LOST_EXPIRY_US    (300ull * 1000 * 1000) /* lost this long: dead (STR-8) */
#define CONTROL_SESSION_OUT_SLACK (256u << 10)
#define CONTROL_SESSION_OUT_MAPS  4

struct control_user {
	const char *login, *display_name, *role,
	    *token; /* role: owner|admin|network-admin|member */
};

struct control_config {
	const char *name;        /* events */
	const char *tailnet;     /* MagicDNS suffix; default example.ts.net */
	struct io_addr listen;   /* underlay address; family NONE: 0.0.0.0 */
	uint16_t map_port;       /* 0: MAPPROTO_DEFAULT_PORT */
	uint16_t admin_port;     /* 0: MAPPROTO_DEFAULT_ADMIN_PORT */
	const char *state_path;  /* the state's name in storage; NULL: no persistence */
	struct storage *storage; /* borrowed; required with state_path */
	/* Where `set-policy FILE` (control_admin_line) reads FILE, through
	 * the same storage seam; borrowed. NULL: the host's files as they
	 * are, read-only (control never writes them). */
	struct storage *admin_files;
	/* Bootstrap, applied only when no saved state exists. */
	const struct control_user *users;
	size_t n_users;
	const char *policy_text; /* NULL: empty policy */
	reg_latency_fn latency_fn;
	void *latency_ctx;
	/* Liveness of hosts' sessions (nodes advertising a service) and of
	 * every other session (mapproto.h, the liveness frame). */
	uint64_t heartbeat_us;       /* 0: MAPPROTO_HEARTBEAT_MS */
	uint64_t dead_after_us;      /* 0: MAPPROTO_DEAD_AFTER_MS */
	uint64_t idle_heartbeat_us;  /* 0: MAPPROTO_IDLE_HEARTBEAT_MS */
	uint64_t idle_dead_after_us; /* 0: MAPPROTO_IDLE_DEAD_AFTER_MS */
	char *err;                   /* optional: why control_new failed */
	size_t err_len;
	/* After a start from saved state, how long hosts it records get to
	 * reconnect (STR-8). 0: dead_after_us + MAPPROTO_RETRY_MAX_MS. */
	uint64_t restart_grace_us;
	/* How long a node may stay lost (silent, or not back after a restart)
	 * before control counts it dead and tells its clients: a cut-off
	 * region heals well within it, a host that lost power does not come
	 * back. 0: CONTROL_LOST_EXPIRY_US. */
	uint64_t lost_expiry_us;
};

struct control;

int control_new(struct control **out, struct io *io, const struct control_config *config);
/* Closes every session and listener, frees. Accepts NULL. */
void control_free(struct control *c);

/* Runs one admin command line as `actor` (sim timelines, tests, the API).
 * `out` gets the JSON result or the refusal. Returns 0 or -errno (-EPERM
 * not an admin, -EINVAL, -ENOENT, ...). */
int control_admin_line(struct control *c, const char *actor, const char *line, char *out,
                       size_t out_len);
/* `set-policy` with the policy's text itself (`len` bytes, HuJSON) instead
 * of a file: the simulator's timeline holds policies in memory. As
 * control_admin_line otherwise. */
int control_admin_policy(struct control *c, const char *actor, const char *text, size_t len,
                         char *out, size_t out_len);

/* Writes the state now, changed or not (a clean stop; the simulator's
 * power loss in the middle of a write). 0 once durable, or -errno and a
 * state_save_failed event. */
int control_save_state(struct control *c);
/* Control's public key, which daemons pin (SEC-2): derived from the
 * saved root secret (the CA seed), so it survives restarts. */
void control_public_key(const struct control *c, uint8_t out[32]);
/* The operator's provisioning (SEC-1): a reusable auth key, no expiry,
 * for nodes owned by `owner` ("" for none) with `tags`, made without an
 * admin's role check (as --users bootstraps users). The simulator gives
 * each scenario node its key this way. Saved with the next state save;
 * event authkey_created with actor "operator". 0 or -errno (err). */
int control_authkey_issue(struct control *c, const char *owner, const char *const *tags,
                          size_t n_tags, char *key_out, size_t key_len, char *err, size_t err_len);

const struct registry *control_registry(const struct control *c);
/* The CA certificate (PEM) clients trust. */
const char *control_ca_pem(const struct control *c);
/* The netmap version `node` has acknowledged last (0: none). */
uint64_t control_acked_version(const struct control *c, const char *node);

#endif
