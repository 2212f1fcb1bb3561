/* The map session with control, daemon side (see mapclient.h): the output
 * queue, the heartbeat, silence and reconnect timers, the session (the
 * Noise handshake with the pinned control key, sealed frames, hello,
 * welcome, netmaps full and delta, drains, refusals) and the API svcd uses. */
#include "proxy/mapclient.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"
#include "lib/base/mutant.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/mapsec.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mc_state {
	MC_IDLE,       /* no connection: waiting for the retry timer */
	MC_CONNECTING, /* TCP connect in progress */
	MC_HANDSHAKE,  /* Noise message 1 sent, waiting for control's answer */
	MC_OPEN,       /* hello sent, waiting for welcome */
	MC_UP,         /* welcome seen */
};

struct mapclient {
	struct io *io;
	struct io_addr control;
	char *node, *user, *region, *endpoint, *tls_key, *auth_key;
	char **tags;
	size_t n_tags;
	struct mapclient_callbacks cb;
	void *ctx;

	enum mc_state state;
	int h;
	uint64_t session; /* bumped whenever a session ends */
	uint64_t backoff_min_us, backoff_max_us, backoff_us;

	struct buf in;  /* bytes read, up to one whole largest frame */
	struct buf out; /* frames queued for control, MAPCLIENT_MAX_OUT at most */
	size_t out_off; /* of out, written already */

	uint64_t hb_us, dead_us;
	uint64_t last_rx_us, last_tx_us;
	struct io_timer tick;  /* heartbeat and silence checks */
	struct io_timer retry; /* reconnect */
	struct io_timer kill;  /* ends a session outside the caller's stack */
	char kill_reason[MAPCLIENT_ERR_LEN];

	cJSON *map;
	uint64_t version;
	char *adv;      /* the services array, printed */
	char *adv_sent; /* what went up in this session (NULL: nothing yet) */

	struct wg_keypair key;  /* the node key (SEC-1) */
	struct wg_keypair next; /* a rotation asked for (has_next); the owner keeps next.priv */
	bool has_next;
	uint8_t control_key[WG_KEY_LEN]; /* pinned (SEC-2) */
	struct mapsec sec;               /* this session's keys */
};

static void mc_connect(struct mapclient *mc);
static void mc_end(struct mapclient *mc, const char *reason);

static uint64_t mc_now(struct mapclient *mc)
{
	return mc->io->ops->now_us(mc->io);
}

/* ---- output ------------------------------------------------------------ */

/* Writes what is queued until the seam pushes back. A write error ends
 * the session later (through the kill timer), never inside the caller. */
static void mc_flush(struct mapclient *mc)
{
	while (mc->h >= 0 && mc->state != MC_CONNECTING && mc->out_off < mc->out.len) {
		ssize_t w = mc->io->ops->tcp_write(mc->io, mc->h, mc->out.data + mc->out_off,
		                                   mc->out.len - mc->out_off);
		if (w == -EAGAIN || w == 0)
			break;
		if (w < 0) {
			snprintf(mc->kill_reason, sizeof(mc->kill_reason), "write: %s",
			         strerror((int)-w));
			if (!io_timer_armed(&mc->kill))
				mc->io->ops->timer_arm(mc->io, &mc->kill, 0);
			return;
		}
		mc->out_off += (size_t)w;
		mc->last_tx_us = mc_now(mc);
	}
	if (mc->out_off == mc->out.len) {
		buf_reset(&mc->out);
		mc->out_off = 0;
	}
}

/* Queues one frame: sealed once the session's keys are in place, as it
 * is before (the handshake). -E2BIG for a payload over
 * MAPPROTO_MAX_UP_FRAME; -ENOBUFS when control does not read (the session
 * then ends); -ENOMEM. */
static int mc_queue(struct mapclient *mc, const void *payload, size_t len)
{
	bool seal = mc->sec.state == MAPSEC_OPEN;
	size_t wire = len + (seal ? MAPSEC_OVERHEAD : 0);
	uint8_t hdr[MAPPROTO_HDR_LEN];
	int rc;

	if (len == 0 || wire > MAPPROTO_MAX_UP_FRAME)
		return -E2BIG;
	if (mc->out.len - mc->out_off + MAPPROTO_HDR_LEN + wire > MAPCLIENT_MAX_OUT) {
		snprintf(mc->kill_reason, sizeof(mc->kill_reason),
		         "control does not read: over %u bytes queued", MAPCLIENT_MAX_OUT);
		if (!io_timer_armed(&mc->kill))
			mc->io->ops->timer_arm(mc->io, &mc->kill, 0);
		return -ENOBUFS;
	}
	buf_drop_front(&mc->out, mc->out_off);
	mc->out_off = 0;
	rc = buf_reserve(&mc->out, MAPPROTO_HDR_LEN + wire);
	if (rc) {
		mc->out.err = 0; /* the queue goes on: only this frame is lost */
		return rc;
	}
	mapproto_frame_header(hdr, (uint32_t)wire);
	buf_append(&mc->out, hdr, sizeof(hdr));
	if (!seal) {
		buf_append(&mc->out, payload, len);
	} else {
		rc =
		    mapsec_seal(&mc->sec, hdr, payload, len, (uint8_t *)mc->out.data + mc->out.len);
		if (rc) {
			mc->out.len -= sizeof(hdr); /* never a header without its frame */
			return rc;
		}
		buf_commit(&mc->out, wire);
	}
	mc_flush(mc);
	return 0;
}

/* Queues one frame holding `obj` (not consumed); as mc_queue. */
static int mc_send(struct mapclient *mc, const cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = mc_queue(mc, text, strlen(text));
	free(text);
	return rc;
}

/* A new message {"type": type}, or NULL without memory. */
static cJSON *mc_message(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !cJSON_AddStringToObject(o, "type", type)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Sends message o and frees it; a NULL o (a message that could not be
 * built) is -ENOMEM. */
static int mc_send_free(struct mapclient *mc, cJSON *o)
{
	int rc = o ? mc_send(mc, o) : -ENOMEM;

	cJSON_Delete(o);
	return rc;
}

/* Sends {"type":type} plus an optional number member. */
static int mc_send_simple(struct mapclient *mc, const char *type, const char *num_name,
                          uint64_t num)
{
	cJSON *o = mc_message(type);

	if (o && num_name && !cJSON_AddNumberToObject(o, num_name, (double)num)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return mc_send_free(mc, o);
}

/* The members of hello after its type; false without memory. */
static bool mc_hello_fill(const struct mapclient *mc, cJSON *o)
{
	cJSON *tags;

	if (!cJSON_AddNumberToObject(o, "proto", MAPPROTO_VERSION) ||
	    !cJSON_AddStringToObject(o, "node", mc->node) ||
	    !cJSON_AddStringToObject(o, "user", mc->user) ||
	    !cJSON_AddStringToObject(o, "region", mc->region))
		return false;
	tags = cJSON_AddArrayToObject(o, "tags");
	if (!tags)
		return false;
	for (size_t i = 0; i < mc->n_tags; i++) {
		cJSON *s = cJSON_CreateString(mc->tags[i]);
		if (!s)
			return false;
		cJSON_AddItemToArray(tags, s);
	}
	if (mc->endpoint && !cJSON_AddStringToObject(o, "endpoint", mc->endpoint))
		return false;
	if (mc->tls_key && !cJSON_AddStringToObject(o, "tls_key", mc->tls_key))
		return false;
	if (mc->auth_key && !cJSON_AddStringToObject(o, "auth_key", mc->auth_key))
		return false;
	return cJSON_AddStringToObject(o, "compress", "zlib") != NULL;
}

static int mc_send_hello(struct mapclient *mc)
{
	cJSON *o = mc_message("hello");

	if (o && !mc_hello_fill(mc, o)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return mc_send_free(mc, o);
}

/* Sends the advertisement when it differs from what went up in this
 * session. */
static int mc_send_adv(struct mapclient *mc)
{
	cJSON *o, *arr;
	int rc;

	if (mc->state != MC_OPEN && mc->state != MC_UP)
		return 0;
	if (mc->adv_sent && strcmp(mc->adv_sent, mc->adv) == 0)
		return 0;
	arr = cJSON_Parse(mc->adv);
	o = mc_message("advertise");
	if (!arr || !o) {
		cJSON_Delete(arr);
		cJSON_Delete(o);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(o, "services", arr);
	rc = mc_send_free(mc, o);
	if (rc == 0) {
		char *copy = strdup(mc->adv);
		if (!copy)
			return -ENOMEM;
		free(mc->adv_sent);
		mc->adv_sent = copy;
	}
	return rc;
}

/* ---- timers ------------------------------------------------------------ */

/* Arms the tick for the nearer of: control's silence limit, and (when up)
 * the next heartbeat. */
static void mc_arm_tick(struct mapclient *mc)
{
	uint64_t now = mc_now(mc), at = mc->last_rx_us + mc->dead_us;

	if (mc->state == MC_UP && mc->last_tx_us + mc->hb_us < at)
		at = mc->last_tx_us + mc->hb_us;
	if (io_timer_armed(&mc->tick))
		mc->io->ops->timer_disarm(mc->io, &mc->tick);
	mc->io->ops->timer_arm(mc->io, &mc->tick, at > now ? at - now : 0);
}

static void mc_tick_fired(struct io_timer *t)
{
	struct mapclient *mc = container_of(t, struct mapclient, tick);
	uint64_t now = mc_now(mc);

	if (mc->state == MC_IDLE)
		return;
	if (now - mc->last_rx_us >= mc->dead_us) {
		char reason[96];
		snprintf(reason, sizeof(reason), "%s for %llu ms",
		         mc->state == MC_CONNECTING ? "connect timed out" : "control silent",
		         (unsigned long long)((now - mc->last_rx_us) / 1000));
		mc_end(mc, reason);
		return;
	}
	if (mc->state == MC_UP && now - mc->last_tx_us >= mc->hb_us) {
		mc_send_simple(mc, "heartbeat", NULL, 0);
		mc->last_tx_us = now; /* even when the seam queues it */
	}
	mc_arm_tick(mc);
}

static void mc_retry_fired(struct io_timer *t)
{
	struct mapclient *mc = container_of(t, struct mapclient, retry);
	mc_connect(mc);
}

static void mc_kill_fired(struct io_timer *t)
{
	struct mapclient *mc = container_of(t, struct mapclient, kill);
	if (mc->state != MC_IDLE)
		mc_end(mc, mc->kill_reason);
}

/* ---- session ----------------------------------------------------------- */

/* Ends the session (if any) and schedules the next attempt: the current
 * backoff, jittered to [half, whole], then doubled up to the maximum. */
static void mc_end(struct mapclient *mc, const char *reason)
{
	bool was_up = mc->state == MC_UP;
	uint64_t delay = mc->backoff_us, half = delay / 2;

	if (mc->h >= 0)
		mc->io->ops->close(mc->io, mc->h, false);
	mc->h = -1;
	mc->state = MC_IDLE;
	mc->session++;
	mapsec_clear(&mc->sec);
	buf_reset(&mc->in);
	buf_reset(&mc->out);
	mc->out_off = 0;
	free(mc->adv_sent);
	mc->adv_sent = NULL;
	if (io_timer_armed(&mc->tick))
		mc->io->ops->timer_disarm(mc->io, &mc->tick);
	if (io_timer_armed(&mc->kill))
		mc->io->ops->timer_disarm(mc->io, &mc->kill);

	delay = half + mc->io->ops->random_u64(mc->io) % (delay - half + 1);
	mc->backoff_us =
	    mc->backoff_us * 2 < mc->backoff_max_us ? mc->backoff_us * 2 : mc->backoff_max_us;
	io_event(mc->io, "control_lost", IO_STR("reason", reason), IO_BOOL("was_up", was_up),
	         IO_U64("retry_ms", delay / 1000));
	mc->io->ops->timer_arm(mc->io, &mc->retry, delay);
	if (was_up && mc->cb.connected)
		mc->cb.connected(mc->ctx, false);
}

/* A protocol violation by control: tell it why (best effort), then end. */
static void mc_violation(struct mapclient *mc, const char *why)
{
	cJSON *o = cJSON_CreateObject();
	char reason[MAPCLIENT_ERR_LEN];

	if (o && mc->sec.state == MAPSEC_OPEN && cJSON_AddStringToObject(o, "type", "error") &&
	    cJSON_AddStringToObject(o, "message", why))
		mc_send(mc, o);
	cJSON_Delete(o);
	snprintf(reason, sizeof(reason), "protocol error: %s", why);
	mc_end(mc, reason);
}

/* Reads a welcome's or liveness frame's limits into the session, clamped
 * to what the client accepts (dead_after at least two heartbeats). */
static void mc_set_liveness(struct mapclient *mc, const cJSON *msg)
{
	const cJSON *hb = cJSON_GetObjectItemCaseSensitive(msg, "heartbeat_ms");
	const cJSON *dead = cJSON_GetObjectItemCaseSensitive(msg, "dead_after_ms");
	double hb_ms = cJSON_IsNumber(hb) ? hb->valuedouble : MAPPROTO_HEARTBEAT_MS;
	double dead_ms = cJSON_IsNumber(dead) ? dead->valuedouble : MAPPROTO_DEAD_AFTER_MS;

	if (!(hb_ms >= MAPCLIENT_MIN_HEARTBEAT_MS))
		hb_ms = MAPCLIENT_MIN_HEARTBEAT_MS;
	if (hb_ms > MAPCLIENT_MAX_HEARTBEAT_MS)
		hb_ms = MAPCLIENT_MAX_HEARTBEAT_MS;
	if (!(dead_ms >= 2 * hb_ms))
		dead_ms = 2 * hb_ms;
	if (dead_ms > MAPCLIENT_MAX_DEAD_MS)
		dead_ms = MAPCLIENT_MAX_DEAD_MS;
	mc->hb_us = (uint64_t)hb_ms * 1000;
	mc->dead_us = (uint64_t)dead_ms * 1000;
}

/* Says which heartbeat and silence limits the session now runs with, and
 * re-arms the tick for them. */
static void mc_emit_liveness(struct mapclient *mc, const char *type)
{
	io_event(mc->io, type, IO_U64("heartbeat_ms", mc->hb_us / 1000),
	         IO_U64("dead_after_ms", mc->dead_us / 1000));
	mc_arm_tick(mc);
}

static const char *mc_string(const cJSON *msg, const char *name)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(msg, name);
	return cJSON_IsString(s) && s->valuestring ? s->valuestring : NULL;
}

static void mc_send_rotate(struct mapclient *mc)
{
	char hex[2 * WG_KEY_LEN + 1];
	cJSON *o = mc_message("rotate_key");

	hex_encode(mc->next.pub, WG_KEY_LEN, hex);
	if (o && !cJSON_AddStringToObject(o, "key", hex)) {
		cJSON_Delete(o);
		o = NULL;
	}
	mc_send_free(mc, o);
}

/* Control recorded the rotation: the owner keeps the new key, and the
 * next session proves it. */
static void mc_on_key_rotated(struct mapclient *mc, const cJSON *msg)
{
	const char *hex = mc_string(msg, "key");
	uint8_t key[WG_KEY_LEN];
	char b64[WG_KEY_BASE64_LEN + 1];

	if (!mc->has_next || !hex || !hex_decode(hex, key, sizeof(key)) ||
	    memcmp(key, mc->next.pub, WG_KEY_LEN) != 0) {
		mc_violation(mc, "key_rotated for a key this node did not ask for");
		return;
	}
	if (mc->cb.key_rotated && mc->cb.key_rotated(mc->ctx, mc->next.priv) < 0) {
		io_event(mc->io, "node_key_rotation_failed",
		         IO_STR("reason", "the new key could not be kept: staying on the old one"));
		return;
	}
	mc->key = mc->next;
	mc->has_next = false;
	OPENSSL_cleanse(&mc->next, sizeof(mc->next));
	wg_key_to_base64(b64, mc->key.pub);
	io_event(mc->io, "node_key_rotated", IO_STR("key", b64));
	snprintf(mc->kill_reason, sizeof(mc->kill_reason), "node key rotated: reconnecting");
	if (!io_timer_armed(&mc->kill))
		mc->io->ops->timer_arm(mc->io, &mc->kill, 0);
}

int mapclient_rotate_key(struct mapclient *mc, const uint8_t seed[32])
{
	if (wg_keypair_from_seed(&mc->next, seed) < 0)
		return -ENOMEM;
	mc->has_next = true;
	if (mc->state == MC_UP)
		mc_send_rotate(mc);
	return 0;
}

static void mc_on_welcome(struct mapclient *mc, const cJSON *msg)
{
	if (mc->state == MC_UP) {
		mc_violation(mc, "a second welcome");
		return;
	}
	mc_set_liveness(mc, msg);
	mc->state = MC_UP;
	mc->backoff_us = mc->backoff_min_us;
	mc_emit_liveness(mc, "control_connected");
	if (mc->cb.connected)
		mc->cb.connected(mc->ctx, true);
	if (mc->state == MC_UP && mc->has_next)
		mc_send_rotate(mc);
}

static void mc_on_liveness(struct mapclient *mc, const cJSON *msg)
{
	mc_set_liveness(mc, msg);
	mc_emit_liveness(mc, "control_liveness");
}

static void mc_reject(struct mapclient *mc, uint64_t version, const char *why)
{
	io_event(mc->io, "netmap_rejected", IO_U64("version", version), IO_STR("reason", why));
}

/* A full netmap: the document, stamped with the message's version, or
 * NULL (rejected). */
static cJSON *mc_netmap_full(struct mapclient *mc, cJSON *msg, uint64_t version)
{
	cJSON *doc = cJSON_DetachItemFromObjectCaseSensitive(msg, "full");
	cJSON *nv = cJSON_CreateNumber((double)version);

	if (!nv) {
		mc_reject(mc, version, "out of memory");
		cJSON_Delete(doc);
		return NULL;
	}
	if (cJSON_GetObjectItemCaseSensitive(doc, "version"))
		cJSON_ReplaceItemInObjectCaseSensitive(doc, "version", nv);
	else
		cJSON_AddItemToObject(doc, "version", nv);
	return doc;
}

/* A delta: the current map with it applied, or NULL (rejected, or a
 * resync asked for when there is no map or the delta's base is not ours). */
static cJSON *mc_netmap_delta(struct mapclient *mc, const cJSON *msg, uint64_t version)
{
	char err[MAPCLIENT_ERR_LEN] = "";
	cJSON *doc;
	int rc;

	if (!mc->map) {
		io_event(mc->io, "netmap_resync", IO_U64("version", version), IO_U64("have", 0),
		         IO_STR("why", "no map yet"));
		mc_send_simple(mc, "resync", NULL, 0);
		return NULL;
	}
	doc = cJSON_Duplicate(mc->map, true);
	if (!doc) {
		mc_reject(mc, version, "out of memory");
		return NULL;
	}
	rc = mapproto_apply_delta(doc, msg, err, sizeof(err));
	if (rc == -ESTALE && MUTANT("stale-netmap-accepted")) {
		/* the old map, acked as the new version: never resynced */
		cJSON_Delete(doc);
		return cJSON_Duplicate(mc->map, true);
	}
	if (rc == -ESTALE) {
		io_event(mc->io, "netmap_resync", IO_U64("version", version),
		         IO_U64("have", mc->version), IO_STR("why", "base mismatch"));
		mc_send_simple(mc, "resync", NULL, 0);
	} else if (rc < 0) {
		mc_reject(mc, version, err[0] ? err : "malformed delta");
	}
	if (rc < 0) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* Hands the new document to the owner; when taken it becomes the map and
 * is acked. Consumes doc. */
static void mc_netmap_take(struct mapclient *mc, cJSON *doc, uint64_t version)
{
	char err[MAPCLIENT_ERR_LEN] = "";
	char *text = cJSON_PrintUnformatted(doc);
	int rc;

	if (!text) {
		mc_reject(mc, version, "out of memory");
		cJSON_Delete(doc);
		return;
	}
	rc = mc->cb.apply(mc->ctx, doc, text, strlen(text), version, err, sizeof(err));
	free(text);
	if (rc < 0) {
		mc_reject(mc, version, err[0] ? err : strerror(-rc));
		cJSON_Delete(doc);
		return;
	}
	cJSON_Delete(mc->map);
	mc->map = doc;
	mc->version = version;
	mc_send_simple(mc, "ack", "version", version);
}

/* A netmap message (full or delta): builds the new document, hands it to
 * the owner, and acks it when taken. */
static void mc_on_netmap(struct mapclient *mc, cJSON *msg, size_t bytes)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "version");
	bool full = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "full"));
	cJSON *doc;
	uint64_t version;

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1) || v->valuedouble > 9007199254740992.0) {
		mc_reject(mc, 0, "netmap message without a valid version");
		return;
	}
	version = (uint64_t)v->valuedouble;
	io_event(mc->io, "netmap_received", IO_U64("version", version),
	         IO_STR("kind", full ? "full" : "delta"), IO_U64("bytes", bytes));
	if (full) {
		doc = mc_netmap_full(mc, msg, version);
	} else if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "delta"))) {
		doc = mc_netmap_delta(mc, msg, version);
	} else {
		mc_reject(mc, version, "netmap message with neither \"full\" nor \"delta\"");
		return;
	}
	if (doc)
		mc_netmap_take(mc, doc, version);
}

/* Control confirmed the drain of a service (DRN-1/3). */
static void mc_on_drain_confirmed(struct mapclient *mc, const cJSON *msg)
{
	const char *svc = mc_string(msg, "service");

	if (!svc || strlen(svc) > MAPCLIENT_MAX_NAME) {
		mc_violation(mc, "drain_confirmed without a service");
		return;
	}
	io_event(mc->io, "drain_confirmed", IO_STR("service", svc));
	if (mc->cb.drain_confirmed)
		mc->cb.drain_confirmed(mc->ctx, svc);
}

/* Control refused to accept a service from this node, saying why. */
static void mc_on_advertise_refused(struct mapclient *mc, const cJSON *msg)
{
	const char *svc = mc_string(msg, "service"), *text = mc_string(msg, "message");

	if (!svc || strlen(svc) > MAPCLIENT_MAX_NAME) {
		mc_violation(mc, "advertise_refused without a service");
		return;
	}
	io_event(mc->io, "advertise_refused", IO_STR("service", svc), IO_STR("message", text));
	if (mc->cb.advertise_refused)
		mc->cb.advertise_refused(mc->ctx, svc, text ? text : "");
}

/* One frame from control. */
static void mc_on_frame(struct mapclient *mc, const uint8_t *payload, size_t len)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *msg = NULL;
	enum mapproto_type t;

	err[0] = '\0';
	t = mapproto_parse(payload, len, &msg, err, sizeof(err));
	if (t == MAPPROTO_NONE) {
		mc_violation(mc, err[0] ? err : "unreadable frame");
		goto out;
	}
	if (mc->state != MC_UP && t != MAPPROTO_WELCOME && t != MAPPROTO_ERROR) {
		mc_violation(mc, "expected welcome first");
		goto out;
	}
	switch (t) {
	case MAPPROTO_WELCOME:
		mc_on_welcome(mc, msg);
		break;
	case MAPPROTO_NETMAP:
		mc_on_netmap(mc, msg, len);
		break;
	case MAPPROTO_HEARTBEAT:
		break;
	case MAPPROTO_LIVENESS:
		mc_on_liveness(mc, msg);
		break;
	case MAPPROTO_DRAIN_CONFIRMED:
		mc_on_drain_confirmed(mc, msg);
		break;
	case MAPPROTO_ADVERTISE_REFUSED:
		mc_on_advertise_refused(mc, msg);
		break;
	case MAPPROTO_KEY_ROTATED:
		mc_on_key_rotated(mc, msg);
		break;
	case MAPPROTO_ERROR: {
		char reason[MAPCLIENT_ERR_LEN];
		const char *text = mc_string(msg, "message");
		snprintf(reason, sizeof(reason), "control error: %.200s", text ? text : "");
		mc_end(mc, reason);
		break;
	}
	default:
		snprintf(err, sizeof(err), "unexpected %s from control", mapproto_type_name(t));
		mc_violation(mc, err);
		break;
	}
out:
	cJSON_Delete(msg);
}

/* Control's answer to the handshake: it holds the pinned key's private
 * half. Then the hello and the advertisement go up, sealed. */
static void mc_on_handshake(struct mapclient *mc, const uint8_t *msg, size_t len, bool zlib)
{
	int rc = zlib ? -EINVAL : mapsec_client_finish(&mc->sec, msg, len);

	if (rc < 0) {
		io_event(mc->io, "control_refused",
		         IO_STR("reason", rc == -EINVAL ? "not a handshake response"
		                                        : "does not hold the pinned control key"));
		mc_violation(mc, rc == -EINVAL ? "expected control's handshake response"
		                               : "control does not hold the pinned key");
		return;
	}
	mc->state = MC_OPEN;
	if (mc_send_hello(mc) < 0 || mc_send_adv(mc) < 0)
		mc_end(mc, "cannot send hello");
}

/* Parses every whole frame buffered; stops when the session ends. */
static void mc_process(struct mapclient *mc)
{
	uint64_t session = mc->session;
	size_t off = 0;

	while (mc->session == session && off < mc->in.len) {
		const uint8_t *payload;
		size_t plen;
		bool zlib;
		ssize_t n = mapproto_frame_parse(
		    (const uint8_t *)mc->in.data + off, mc->in.len - off,
		    MAPPROTO_MAX_FRAME + MAPSEC_OVERHEAD, &payload, &plen, &zlib);
		if (n == -2)
			break;
		if (n < 0) {
			mc_violation(mc, "bad frame length");
			return;
		}
		off += (size_t)n;
		if (mc->state == MC_HANDSHAKE) {
			mc_on_handshake(mc, payload, plen, zlib);
			continue;
		}
		/* In place: the frame is ours until the next read. */
		if (plen < MAPSEC_OVERHEAD || mapsec_open(&mc->sec, payload - MAPPROTO_HDR_LEN,
		                                          payload, plen, (uint8_t *)payload) < 0) {
			mc_violation(mc, "a frame that does not open under the session's keys");
			return;
		}
		plen -= MAPSEC_OVERHEAD;
		if (zlib) {
			uint8_t *raw;
			size_t raw_len;
			int rc =
			    mapproto_inflate(payload, plen, MAPPROTO_MAX_FRAME, &raw, &raw_len);
			if (rc < 0) {
				mc_violation(mc, rc == -ENOMEM ? "out of memory inflating a frame"
				                 : rc == -E2BIG
				                     ? "compressed frame inflates past the limit"
				                     : "corrupt compressed frame");
				return;
			}
			mc_on_frame(mc, raw, raw_len);
			free(raw);
		} else {
			mc_on_frame(mc, payload, plen);
		}
	}
	if (mc->session != session)
		return;
	buf_drop_front(&mc->in, off);
	if (mc->in.len == 0 && mc->in.cap > MAPCLIENT_KEEP_IN)
		buf_free(&mc->in); /* a big map went through: do not hold its buffer forever */
}

/* Makes room for one more read of up to a chunk, growing geometrically up
 * to a whole largest frame (the buffer's maximum). */
static int mc_in_room(struct mapclient *mc)
{
	size_t left = mc->in.max - mc->in.len;
	int rc;

	if (left == 0)
		return -ENOBUFS;
	rc = buf_reserve(&mc->in, left < MAPCLIENT_READ_CHUNK ? left : MAPCLIENT_READ_CHUNK);
	mc->in.err = 0; /* a failed growth ends the session, not the buffer */
	return rc;
}

static void mc_on_readable(struct mapclient *mc)
{
	uint64_t session = mc->session;

	while (mc->session == session) {
		int rc = mc_in_room(mc);
		if (rc < 0) {
			mc_end(mc, rc == -ENOMEM ? "out of memory" : "input buffer full");
			return;
		}
		ssize_t n = mc->io->ops->tcp_read(mc->io, mc->h, mc->in.data + mc->in.len,
		                                  buf_room(&mc->in));
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			mc_end(mc, "control closed the connection");
			return;
		}
		if (n < 0) {
			char reason[96];
			snprintf(reason, sizeof(reason), "read: %s", strerror((int)-n));
			mc_end(mc, reason);
			return;
		}
		buf_commit(&mc->in, (size_t)n);
		mc->last_rx_us = mc_now(mc);
		mc_process(mc);
	}
}

/* Noise message 1 (lib/wire/mapsec.h): the node key, to control's key. */
static int mc_send_handshake(struct mapclient *mc)
{
	uint8_t e[WG_KEY_LEN], init[MAPSEC_INIT_LEN];
	int rc;

	mc->io->ops->random_secret(mc->io, e, sizeof(e));
	rc = mapsec_client_start(&mc->sec, &mc->key, mc->control_key, e,
	                         mc->io->ops->wall_us(mc->io) * 1000, init);
	OPENSSL_cleanse(e, sizeof(e));
	return rc ? rc : mc_queue(mc, init, sizeof(init));
}

static void mc_sock_fn(void *ctx, int handle, unsigned events)
{
	struct mapclient *mc = ctx;
	uint64_t session = mc->session;

	if (handle != mc->h)
		return;
	if (mc->state == MC_CONNECTING && (events & IO_WRITABLE) && !(events & IO_ERROR)) {
		mc->state = MC_HANDSHAKE;
		mc->last_rx_us = mc_now(mc); /* the wait for welcome starts now */
		mc->last_tx_us = mc->last_rx_us;
		if (mc_send_handshake(mc) < 0) {
			mc_end(mc, "cannot send the handshake");
			return;
		}
		mc_arm_tick(mc);
	} else if (events & IO_WRITABLE) {
		mc_flush(mc);
	}
	if (mc->session == session && (events & (IO_READABLE | IO_ERROR)))
		mc_on_readable(mc);
}

static void mc_connect(struct mapclient *mc)
{
	char reason[96];
	int h;

	CHECK(mc->state == MC_IDLE && mc->h < 0);
	h = mc->io->ops->tcp_connect(mc->io, &mc->control, NULL, mc_sock_fn, mc);
	if (h < 0) {
		snprintf(reason, sizeof(reason), "connect: %s", strerror(-h));
		mc_end(mc, reason);
		return;
	}
	mc->h = h;
	mc->state = MC_CONNECTING;
	mc->last_rx_us = mc_now(mc);
	mc->dead_us = (uint64_t)MAPPROTO_DEAD_AFTER_MS * 1000;
	mc->hb_us = (uint64_t)MAPPROTO_HEARTBEAT_MS * 1000;
	mc_arm_tick(mc);
}

/* ---- API --------------------------------------------------------------- */

static char *mc_strdup(const char *s, size_t max, bool *bad)
{
	char *c;

	if (!s)
		s = "";
	if (strlen(s) > max) {
		*bad = true;
		return NULL;
	}
	c = strdup(s);
	if (!c)
		*bad = true;
	return c;
}

int mapclient_new(struct mapclient **out, struct io *io, const struct mapclient_config *cfg)
{
	struct mapclient *mc;
	bool bad = false;

	CHECK(out && io && cfg);
	*out = NULL;
	if (!cfg->node || !cfg->node[0] || !cfg->cb.apply || cfg->n_tags > MAPCLIENT_MAX_TAGS ||
	    cfg->control.family == IO_AF_NONE || cfg->control.port == 0 || !cfg->node_key ||
	    !cfg->control_key)
		return -EINVAL;
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	mc->io = io;
	mc->h = -1;
	buf_init(&mc->in, MAPPROTO_HDR_LEN + (size_t)MAPPROTO_MAX_FRAME + MAPSEC_OVERHEAD);
	buf_init(&mc->out, MAPCLIENT_MAX_OUT);
	mc->control = cfg->control;
	memcpy(mc->control_key, cfg->control_key, WG_KEY_LEN);
	if (wg_keypair_from_seed(&mc->key, cfg->node_key) < 0)
		bad = true;
	mc->cb = cfg->cb;
	mc->ctx = cfg->ctx;
	mc->node = mc_strdup(cfg->node, MAPCLIENT_MAX_NAME, &bad);
	mc->user = mc_strdup(cfg->user, MAPCLIENT_MAX_NAME, &bad);
	mc->region = mc_strdup(cfg->region, MAPCLIENT_MAX_NAME, &bad);
	if (cfg->endpoint)
		mc->endpoint = mc_strdup(cfg->endpoint, MAPCLIENT_MAX_NAME, &bad);
	if (cfg->tls_key)
		mc->tls_key = mc_strdup(cfg->tls_key, MAPCLIENT_MAX_NAME, &bad);
	if (cfg->auth_key)
		mc->auth_key = mc_strdup(cfg->auth_key, MAPCLIENT_MAX_NAME, &bad);
	mc->adv = strdup("[]");
	if (!mc->adv)
		bad = true;
	if (cfg->n_tags) {
		mc->tags = calloc(cfg->n_tags, sizeof(*mc->tags));
		if (!mc->tags)
			bad = true;
		for (size_t i = 0; mc->tags && i < cfg->n_tags; i++) {
			mc->tags[i] = mc_strdup(cfg->tags[i], MAPCLIENT_MAX_NAME, &bad);
			mc->n_tags++;
		}
	}
	mc->backoff_min_us = cfg->backoff_min_us ? cfg->backoff_min_us : MAPCLIENT_BACKOFF_MIN_US;
	mc->backoff_max_us = cfg->backoff_max_us ? cfg->backoff_max_us : MAPCLIENT_BACKOFF_MAX_US;
	if (mc->backoff_max_us < mc->backoff_min_us ||
	    mc->backoff_max_us > MAPCLIENT_BACKOFF_MAX_US ||
	    cfg->first_connect_delay_us > MAPCLIENT_BACKOFF_MAX_US)
		bad = true;
	if (bad) {
		mapclient_free(mc);
		return -EINVAL;
	}
	mc->backoff_us = mc->backoff_min_us;
	mc->tick.fn = mc_tick_fired;
	mc->retry.fn = mc_retry_fired;
	mc->kill.fn = mc_kill_fired;
	/* Connect from the loop, so no callback runs inside this call. */
	io->ops->timer_arm(io, &mc->retry, cfg->first_connect_delay_us);
	*out = mc;
	return 0;
}

void mapclient_free(struct mapclient *mc)
{
	if (!mc)
		return;
	if (mc->h >= 0)
		mc->io->ops->close(mc->io, mc->h, false);
	if (io_timer_armed(&mc->tick))
		mc->io->ops->timer_disarm(mc->io, &mc->tick);
	if (io_timer_armed(&mc->retry))
		mc->io->ops->timer_disarm(mc->io, &mc->retry);
	if (io_timer_armed(&mc->kill))
		mc->io->ops->timer_disarm(mc->io, &mc->kill);
	free(mc->node);
	free(mc->user);
	free(mc->region);
	free(mc->endpoint);
	if (mc->auth_key)
		OPENSSL_cleanse(mc->auth_key, strlen(mc->auth_key));
	free(mc->auth_key);
	free(mc->tls_key);
	for (size_t i = 0; i < mc->n_tags; i++)
		free(mc->tags[i]);
	free(mc->tags);
	buf_free(&mc->in);
	buf_free(&mc->out);
	cJSON_Delete(mc->map);
	free(mc->adv);
	free(mc->adv_sent);
	OPENSSL_cleanse(&mc->next, sizeof(mc->next));
	OPENSSL_cleanse(&mc->key, sizeof(mc->key));
	mapsec_clear(&mc->sec);
	free(mc);
}

int mapclient_advertise(struct mapclient *mc, const cJSON *services)
{
	char *text;

	if (!cJSON_IsArray(services))
		return -EINVAL;
	text = cJSON_PrintUnformatted(services);
	if (!text)
		return -ENOMEM;
	if (strlen(text) + 64 > MAPPROTO_MAX_UP_FRAME) {
		free(text);
		return -E2BIG;
	}
	free(mc->adv);
	mc->adv = text;
	return mc_send_adv(mc);
}

bool mapclient_connected(const struct mapclient *mc)
{
	return mc && mc->state == MC_UP;
}

uint64_t mapclient_version(const struct mapclient *mc)
{
	return mc ? mc->version : 0;
}

const cJSON *mapclient_netmap(const struct mapclient *mc)
{
	return mc ? mc->map : NULL;
}
