/* The coordination server on the seam: map sessions, recompute, liveness,
 * drain confirmation, certificates, persistence and the admin HTTP API.
 *
 * Everything that closes (sessions, admin connections) is only marked
 * closed where it happens and freed by ctl_reap() at the end of the entry
 * point (an io callback, a timer, control_admin_line), so loops over the
 * session table never see an entry vanish under them.
 */
#define _GNU_SOURCE
#include "control/control.h"
#include "lib/wire/localapi.h"

#include "control/admin_cmd.h"
#include "control/mapgen.h"
#include "control/policy.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"
#include "lib/io/storage.h"
#include "lib/wire/ca.h"
#include "lib/wire/http_msg.h"
#include "lib/wire/mapproto.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CTL_READ_CHUNK            65536
#define CONTROL_SESSION_OUT_SLACK (256u << 10) /* queued bytes allowed on top of ... */
#define CONTROL_SESSION_OUT_MAPS  4            /* ... this many of the largest netmap */
#define CONTROL_ADMIN_IDLE_US     (30ull * 1000 * 1000)
#define CTL_ADMIN_MAX_HEADERS     64
#define CTL_ADMIN_OUT_MAX         (64u << 20) /* queued reply bytes per connection */
#define CTL_STATE_MAX_BYTES       (512u << 20)
#define CTL_MAX_CERTS             100000
#define CTL_MAX_DRAINS            65536
#define CTL_DEFAULT_ENDPOINT      41641
#define CTL_ERR_LEN               512
#define CTL_BACKLOG               1024
#define CTL_SAVE_RETRY_US         (1000ull * 1000) /* a failed coalesced save is retried */

struct ctl_session {
	struct control *c;
	uint64_t id;
	int handle; /* -1 once closed */
	int node;   /* registry index, -1 before hello */
	bool closed;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
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
	char *in;
	size_t in_len, in_off, in_cap;
	char *body;
	size_t body_len;
	bool body_too_big;
	char *out;
	size_t out_len, out_off;
	uint64_t last_us;
};

struct control {
	struct io *io;
	char *name, *tailnet, *state_path;
	struct storage *storage; /* borrowed; NULL without state_path */
	struct registry *reg;
	struct mapgen *mg;
	struct ca *ca;
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

/* ---- small helpers ------------------------------------------------------ */

/* Emits `type` with fields given as (spec, value) pairs ending in NULL:
 * "s:key" const char *, "u:key" uint64_t, "b:key" int (bool). */
static void ctl_ev(struct control *c, const char *type, ...)
{
	va_list ap;
	const char *spec;

	if (c->io->events_off)
		return;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	va_start(ap, type);
	while ((spec = va_arg(ap, const char *)) != NULL) {
		const char *key = spec + 2;
		if (spec[0] == 's') {
			const char *v = va_arg(ap, const char *);
			cJSON_AddStringToObject(o, key, v ? v : "");
		} else if (spec[0] == 'u') {
			uint64_t v = va_arg(ap, uint64_t);
			cJSON_AddNumberToObject(o, key, (double)v);
		} else {
			int v = va_arg(ap, int);
			cJSON_AddBoolToObject(o, key, v);
		}
	}
	va_end(ap);
	char *t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!t)
		return;
	size_t n = strlen(t);
	if (n >= 2) {
		t[n - 1] = '\0';
		c->io->ops->emit(c->io, type, t + 1);
	}
	free(t);
}

static const char *ctl_node_name(const struct control *c, int node)
{
	if (node < 0)
		return "";
	const struct reg_node *n = registry_node(c->reg, (size_t)node);
	return n ? n->name : "";
}

/* {"error": msg} as malloc'd text (NULL on -ENOMEM). */
static char *ctl_error_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *t;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "error", msg);
	t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return t;
}

/* Changes are coalesced for CONTROL_RECOMPUTE_DELAY_US, or longer in a
 * large tailnet: a pass builds every session's map and saves the state, so
 * its cost grows with the session count and the window grows with it. */
static void ctl_schedule(struct control *c)
{
	uint64_t delay = (uint64_t)c->n_sessions * CONTROL_RECOMPUTE_US_PER_SESSION;

	if (delay < CONTROL_RECOMPUTE_DELAY_US)
		delay = CONTROL_RECOMPUTE_DELAY_US;
	if (!io_timer_armed(&c->recompute_timer))
		c->io->ops->timer_arm(c->io, &c->recompute_timer, delay);
}

/* ---- persistence -------------------------------------------------------- */

/* The state document of `reg` with the CA seed (malloc'd; NULL: -ENOMEM). */
static char *ctl_state_text(const struct control *c, const struct registry *reg, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	char seed[CA_SEED_LEN * 2 + 1];
	char *text = NULL, *r = registry_to_json(reg);
	const uint8_t *s = ca_seed(c->ca);

	if (!r)
		return NULL;
	for (size_t i = 0; i < CA_SEED_LEN; i++) {
		seed[2 * i] = hex[s[i] >> 4];
		seed[2 * i + 1] = hex[s[i] & 15];
	}
	seed[CA_SEED_LEN * 2] = '\0';
	int n = asprintf(&text, "{\"version\":1,\"ca_seed\":\"%s\",\"registry\":%s}\n", seed, r);
	free(r);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

/* Writes `reg`'s state through the storage: 0 once durable, or -errno
 * with the reason in err (and a state_save_failed event naming `what`). */
static int ctl_store(struct control *c, const struct registry *reg, const char *what, char *err,
                     size_t err_len)
{
	size_t len = 0;
	char *text = ctl_state_text(c, reg, &len);
	int rc;

	if (!text)
		rc = err_setf(err, err_len, -ENOMEM, "%s: out of memory", c->state_path);
	else
		rc = c->storage->ops->write(c->storage, c->state_path, text, len, err, err_len);
	free(text);
	if (rc < 0)
		ctl_ev(c, "state_save_failed", "s:path", c->state_path, "s:error", strerror(-rc),
		       "s:detail", err, "s:for", what, NULL);
	return rc;
}

/* Saves the live state when it changed (node-driven changes coalesce
 * here). A failure leaves it marked unsaved for the next try. */
static int ctl_save(struct control *c)
{
	char err[STORAGE_ERR_LEN] = "";

	if (!c->state_path) {
		c->dirty = false;
		return 0;
	}
	int rc = ctl_store(c, c->reg, "coalesced", err, sizeof(err));
	c->dirty = rc < 0;
	return rc;
}

int control_save_state(struct control *c)
{
	c->dirty = true;
	return ctl_save(c);
}

static int ctl_hex_seed(const char *text, uint8_t seed[CA_SEED_LEN])
{
	return hex_decode(text, seed, CA_SEED_LEN) ? 0 : -EINVAL;
}

/* Loads state_path through the storage: 0 (loaded), 1 (none stored), or
 * -errno with err (the storage's refusal says how to fix it). */
static int ctl_load(struct control *c, uint8_t seed[CA_SEED_LEN], char *err, size_t err_len)
{
	char serr[STORAGE_ERR_LEN] = "";
	size_t len;
	char *text = NULL;
	cJSON *doc = NULL;
	char *reg = NULL;
	int rc;

	rc = c->storage->ops->read(c->storage, c->state_path, CTL_STATE_MAX_BYTES, &text, &len,
	                           serr, sizeof(serr));
	if (rc == -ENOENT)
		return 1;
	if (rc < 0)
		return err_setf(err, err_len, rc, "state %s", serr);
	doc = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(doc)) {
		rc = err_setf(err, err_len, -EINVAL, "state %s: not a JSON object", c->state_path);
		goto out;
	}
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "registry");
	if (!cJSON_IsObject(r) ||
	    ctl_hex_seed(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "ca_seed")),
	                 seed) < 0) {
		rc = err_setf(err, err_len, -EINVAL,
		              "state %s: want {\"ca_seed\": 64 hex, \"registry\": {...}}",
		              c->state_path);
		goto out;
	}
	reg = cJSON_PrintUnformatted(r);
	if (!reg) {
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		goto out;
	}
	char rerr[REG_ERR_LEN] = "";
	rc = registry_from_json(reg, strlen(reg), &c->reg, rerr, sizeof(rerr));
	if (rc < 0) {
		err_setf(err, err_len, rc, "state %s: %s", c->state_path, rerr);
		goto out;
	}
	rc = 0;
out:
	free(reg);
	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* ---- certificates ------------------------------------------------------- */

/* mapgen's certificate callback: issued once per (node, service, key). */
static const char *ctl_cert_fn(void *ctx, size_t node, const char *service)
{
	struct control *c = ctx;
	const struct reg_node *n = registry_node(c->reg, node);
	char err[CA_ERR_LEN] = "";
	char *dns = NULL, *pem;

	if (!n || !n->tls_key || strncmp(service, "svc:", 4) != 0)
		return NULL;
	for (size_t i = 0; i < c->n_certs; i++) {
		struct ctl_cert *ce = &c->certs[i];
		if (ce->node == node && strcmp(ce->service, service) == 0) {
			if (strcmp(ce->key, n->tls_key) == 0)
				return ce->pem;
			/* The node's key changed: issue again. */
			free(ce->pem);
			free(ce->key);
			free(ce->service);
			*ce = c->certs[--c->n_certs];
			break;
		}
	}
	if (c->n_certs == CTL_MAX_CERTS)
		return NULL;
	if (c->n_certs == c->cap_certs) {
		size_t ncap = c->cap_certs ? c->cap_certs * 2 : 16;
		struct ctl_cert *nc = realloc(c->certs, ncap * sizeof(*nc));
		if (!nc)
			return NULL;
		c->certs = nc;
		c->cap_certs = ncap;
	}
	if (asprintf(&dns, "%s.%s", service + 4, c->tailnet) < 0)
		return NULL;
	pem = ca_issue(c->ca, n->tls_key, dns, ++c->cert_serial, err, sizeof(err));
	if (!pem) {
		ctl_ev(c, "cert_failed", "s:node_name", n->name, "s:service", service, "s:error",
		       err, NULL);
		free(dns);
		return NULL;
	}
	struct ctl_cert *ce = &c->certs[c->n_certs];
	ce->node = node;
	ce->service = strdup(service);
	ce->key = strdup(n->tls_key);
	ce->pem = pem;
	if (!ce->service || !ce->key) {
		free(ce->service);
		free(ce->key);
		free(pem);
		free(dns);
		return NULL;
	}
	c->n_certs++;
	ctl_ev(c, "cert_issued", "s:node_name", n->name, "s:service", service, "s:dns", dns, NULL);
	free(dns);
	return pem;
}

/* ---- map sessions: output ----------------------------------------------- */

static void ctl_session_close(struct ctl_session *s, const char *reason, bool dead);
static void ctl_drain_session_gone(struct control *c, uint64_t session_id);
static void ctl_grace_end(struct control *c, bool early);
static void ctl_mark_lost(struct control *c, size_t idx);

static void ctl_session_flush(struct ctl_session *s)
{
	struct io *io = s->c->io;

	while (!s->closed && s->out_off < s->out_len) {
		ssize_t w =
		    io->ops->tcp_write(io, s->handle, s->out + s->out_off, s->out_len - s->out_off);
		if (w == -EAGAIN)
			break;
		if (w < 0) {
			ctl_session_close(s, "write failed", true);
			return;
		}
		s->out_off += (size_t)w;
		s->last_tx_us = io->ops->now_us(io);
	}
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
}

/* Queues one frame (`zlib`: a deflated payload); a session whose queue
 * passes its bound is closed as a slow consumer. 0 or -errno (the session
 * is closed then). */
static int ctl_session_queue(struct ctl_session *s, const void *payload, size_t len, bool zlib)
{
	size_t queued = s->out_len - s->out_off;
	size_t limit = CONTROL_SESSION_OUT_SLACK + CONTROL_SESSION_OUT_MAPS * s->max_msg;

	if (s->closed)
		return -EPIPE;
	if (len > MAPPROTO_MAX_FRAME) {
		ctl_session_close(s, "frame too large to send", true);
		return -E2BIG;
	}
	if (queued + len + MAPPROTO_HDR_LEN > limit) {
		ctl_ev(s->c, "session_error", "s:node_name", ctl_node_name(s->c, s->node),
		       "s:error", "slow consumer", "u:queued", (uint64_t)queued, NULL);
		ctl_session_close(s, "slow consumer", true);
		return -ENOBUFS;
	}
	if (s->out_off && s->out_cap - s->out_len < len + MAPPROTO_HDR_LEN) {
		memmove(s->out, s->out + s->out_off, queued);
		s->out_len = queued;
		s->out_off = 0;
	}
	if (s->out_cap - s->out_len < len + MAPPROTO_HDR_LEN) {
		size_t ncap = s->out_cap ? s->out_cap : 4096;
		while (ncap - s->out_len < len + MAPPROTO_HDR_LEN)
			ncap *= 2;
		uint8_t *nb = realloc(s->out, ncap);
		if (!nb) {
			ctl_session_close(s, "out of memory", true);
			return -ENOMEM;
		}
		s->out = nb;
		s->out_cap = ncap;
	}
	mapproto_frame_header(s->out + s->out_len,
	                      (uint32_t)len | (zlib ? MAPPROTO_FRAME_ZLIB : 0));
	memcpy(s->out + s->out_len + MAPPROTO_HDR_LEN, payload, len);
	s->out_len += len + MAPPROTO_HDR_LEN;
	ctl_session_flush(s);
	return s->closed ? -EPIPE : 0;
}

static int ctl_session_send(struct ctl_session *s, const char *json, size_t len)
{
	return ctl_session_queue(s, json, len, false);
}

static int ctl_session_send_obj(struct ctl_session *s, cJSON *o)
{
	char *t = o ? cJSON_PrintUnformatted(o) : NULL;
	int rc;

	cJSON_Delete(o);
	if (!t) {
		ctl_session_close(s, "out of memory", true);
		return -ENOMEM;
	}
	rc = ctl_session_send(s, t, strlen(t));
	free(t);
	return rc;
}

static void ctl_session_send_simple(struct ctl_session *s, const char *type, const char *key,
                                    const char *value, const char *key2, const char *value2)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "type", type);
		if (key)
			cJSON_AddStringToObject(o, key, value);
		if (key2)
			cJSON_AddStringToObject(o, key2, value2);
	}
	ctl_session_send_obj(s, o);
}

/* Sends the session's liveness pair as a frame of `type` (welcome or
 * liveness). */
/* A session's liveness pair: the hosts' one before the hello and for
 * nodes advertising a service, the idle one otherwise. */
static uint64_t ctl_session_heartbeat_us(const struct ctl_session *s)
{
	return s->node < 0 || s->host_liveness ? s->c->heartbeat_us : s->c->idle_heartbeat_us;
}

static uint64_t ctl_session_dead_after_us(const struct ctl_session *s)
{
	return s->node < 0 || s->host_liveness ? s->c->dead_after_us : s->c->idle_dead_after_us;
}

static int ctl_session_send_liveness(struct ctl_session *s, const char *type)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "type", type);
		cJSON_AddNumberToObject(o, "heartbeat_ms",
		                        (double)(ctl_session_heartbeat_us(s) / 1000));
		cJSON_AddNumberToObject(o, "dead_after_ms",
		                        (double)(ctl_session_dead_after_us(s) / 1000));
	}
	return ctl_session_send_obj(s, o);
}

/* Sends an error frame, then closes the session. */
static void ctl_session_fail(struct ctl_session *s, const char *msg)
{
	ctl_ev(s->c, "session_error", "s:node_name", ctl_node_name(s->c, s->node), "s:error", msg,
	       NULL);
	ctl_session_send_simple(s, "error", "message", msg, NULL, NULL);
	ctl_session_close(s, msg, true);
}

/* ---- drain confirmation ------------------------------------------------- */

static bool ctl_ranks_has(const cJSON *ranks, const char *service, const char *host)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(ranks, service);
	const cJSON *e;

	cJSON_ArrayForEach(e, a)
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, host) == 0)
			return true;
	}
	return false;
}

static void ctl_drain_free(struct ctl_drain *d)
{
	free(d->service);
	free(d->w);
}

static void ctl_drain_remove(struct control *c, size_t i)
{
	ctl_drain_free(&c->drains[i]);
	c->drains[i] = c->drains[--c->n_drains];
}

/* Confirms drains without waiters (sends drain_confirmed to the host). The
 * record is removed before anything is sent: a send may close a session,
 * which walks the drain table again. */
static void ctl_drain_check(struct control *c)
{
	for (size_t i = 0; i < c->n_drains;) {
		if (c->drains[i].n_left) {
			i++;
			continue;
		}
		char *service = c->drains[i].service;
		size_t host = c->drains[i].host;
		c->drains[i].service = NULL;
		ctl_drain_remove(c, i);
		struct ctl_session *hs = host < c->by_node_cap ? c->by_node[host] : NULL;
		ctl_ev(c, "drain_confirmed", "s:node_name", ctl_node_name(c, (int)host),
		       "s:service", service, NULL);
		if (hs && !hs->closed)
			ctl_session_send_simple(hs, "drain_confirmed", "service", service, NULL,
			                        NULL);
		free(service);
		i = 0;
	}
}

static int ctl_drain_find(const struct control *c, const char *service, size_t host)
{
	for (size_t i = 0; i < c->n_drains; i++)
		if (c->drains[i].host == host && strcmp(c->drains[i].service, service) == 0)
			return (int)i;
	return -1;
}

static int ctl_waiter_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ctl_waiter *)a)->session_id;
	uint64_t y = ((const struct ctl_waiter *)b)->session_id;

	return x < y ? -1 : x > y;
}

/* Host `host` started draining `service`: note every session whose last
 * map ranks it. */
static void ctl_drain_start(struct control *c, const char *service, size_t host)
{
	const char *hname = ctl_node_name(c, (int)host);

	if (ctl_drain_find(c, service, host) >= 0 || c->n_drains == CTL_MAX_DRAINS)
		return;
	if (c->n_drains == c->cap_drains) {
		size_t ncap = c->cap_drains ? c->cap_drains * 2 : 8;
		struct ctl_drain *nd = realloc(c->drains, ncap * sizeof(*nd));
		if (!nd)
			return;
		c->drains = nd;
		c->cap_drains = ncap;
	}
	struct ctl_drain d = {.service = strdup(service), .host = host};
	if (!d.service)
		return;
	size_t cap = 0;
	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctl_session *s = c->sessions[i];
		if (s->closed || s->node < 0 || !ctl_ranks_has(s->ranks, service, hname))
			continue;
		if (d.n_waiters == cap) {
			cap = cap ? cap * 2 : 16;
			struct ctl_waiter *nw = realloc(d.w, cap * sizeof(*nw));
			if (!nw) {
				ctl_drain_free(&d);
				return;
			}
			d.w = nw;
		}
		d.w[d.n_waiters++] = (struct ctl_waiter){.session_id = s->id};
	}
	if (d.n_waiters)
		qsort(d.w, d.n_waiters, sizeof(*d.w), ctl_waiter_cmp);
	d.n_left = d.n_waiters;
	ctl_ev(c, "drain_started", "s:node_name", hname, "s:service", service, "u:waiting",
	       (uint64_t)d.n_waiters, NULL);
	c->drains[c->n_drains++] = d;
}

static struct ctl_waiter *ctl_waiter_find(const struct ctl_drain *d, uint64_t id)
{
	const struct ctl_waiter key = {.session_id = id};

	if (!d->n_waiters)
		return NULL;
	return bsearch(&key, d->w, d->n_waiters, sizeof(*d->w), ctl_waiter_cmp);
}

/* A map of `version` went to session `s` (ranks = what it ranks now). */
static void ctl_drain_sent(struct control *c, const struct ctl_session *s, uint64_t version)
{
	for (size_t i = 0; i < c->n_drains; i++) {
		struct ctl_drain *d = &c->drains[i];
		struct ctl_waiter *w = ctl_waiter_find(d, s->id);
		if (w && !w->done && !w->need_version &&
		    !ctl_ranks_has(s->ranks, d->service, ctl_node_name(c, (int)d->host)))
			w->need_version = version;
	}
}

/* Session `id` acked `version` (UINT64_MAX: the session is gone). */
static void ctl_drain_acked(struct control *c, uint64_t id, uint64_t version)
{
	for (size_t i = 0; i < c->n_drains; i++) {
		struct ctl_drain *d = &c->drains[i];
		struct ctl_waiter *w = ctl_waiter_find(d, id);
		if (w && !w->done &&
		    (version == UINT64_MAX || (w->need_version && version >= w->need_version))) {
			w->done = true;
			d->n_left--;
		}
	}
	ctl_drain_check(c);
}

static void ctl_drain_session_gone(struct control *c, uint64_t session_id)
{
	ctl_drain_acked(c, session_id, UINT64_MAX);
}

/* ---- map sessions: maps ------------------------------------------------- */

/* {"svc:x": [hosts]} from a netmap's services. */
static cJSON *ctl_ranks_of(const cJSON *map)
{
	cJSON *r = cJSON_CreateObject();
	const cJSON *svc;

	if (!r)
		return NULL;
	cJSON_ArrayForEach(svc, cJSON_GetObjectItemCaseSensitive(map, "services"))
	{
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "name"));
		const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(svc, "hosts");
		if (!name)
			continue;
		cJSON *copy = hosts ? cJSON_Duplicate(hosts, true) : cJSON_CreateArray();
		if (copy)
			cJSON_AddItemToObject(r, name, copy);
	}
	return r;
}

static const char *ctl_first_host(const cJSON *ranks, const char *service)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(ranks, service);
	return cJSON_GetStringValue(cJSON_GetArrayItem(a, 0));
}

/* Steering events: a client's first host for a service changed. */
static void ctl_steering_events(struct control *c, const struct ctl_session *s, const cJSON *old,
                                const cJSON *now)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, now)
	{
		const char *was = ctl_first_host(old, e->string);
		const char *is = ctl_first_host(now, e->string);
		if ((was || is) && (!was || !is || strcmp(was, is) != 0))
			ctl_ev(c, "steering", "s:node_name", ctl_node_name(c, s->node), "s:service",
			       e->string, "s:host", is ? is : "", "s:previous", was ? was : "",
			       NULL);
	}
	cJSON_ArrayForEach(e, old)
	{
		const char *was = ctl_first_host(old, e->string);
		if (was && !cJSON_GetObjectItemCaseSensitive(now, e->string))
			ctl_ev(c, "steering", "s:node_name", ctl_node_name(c, s->node), "s:service",
			       e->string, "s:host", "", "s:previous", was, NULL);
	}
}

/* Brings one session up to date (nothing sent when its map is unchanged). */
static void ctl_session_send_map(struct ctl_session *s)
{
	struct control *c = s->c;
	bool is_delta = false;
	size_t len = 0;
	cJSON *map, *ranks;
	char *msg;

	if (s->closed || s->node < 0)
		return;
	if (s->out_off < s->out_len) {
		s->map_pending = true;
		return;
	}
	s->map_pending = false;
	map = mapgen_node_map(c->mg, (size_t)s->node, s->version_sent + 1);
	if (!map) {
		ctl_session_fail(s, "out of memory building the netmap");
		return;
	}
	ranks = ctl_ranks_of(map);
	errno = 0;
	msg = mapgen_message(s->sent, map, &is_delta, &len);
	cJSON_Delete(map);
	if (!msg) {
		cJSON_Delete(ranks);
		if (errno == ENOMEM)
			ctl_session_fail(s, "out of memory building the netmap");
		return;
	}
	s->version_sent++;
	if (ranks) {
		ctl_steering_events(c, s, s->ranks, ranks);
		cJSON_Delete(s->ranks);
		s->ranks = ranks;
	}
	ctl_drain_sent(c, s, s->version_sent);
	/* A large map goes deflated to a node that takes it (any failure:
	 * as it is). */
	uint8_t *z = NULL;
	size_t wire = len;
	if (s->zlib && len >= MAPPROTO_COMPRESS_MIN &&
	    mapproto_deflate((const uint8_t *)msg, len, &z, &wire) < 0) {
		z = NULL;
		wire = len;
	}
	if (wire > s->max_msg)
		s->max_msg = wire;
	ctl_ev(c, "netmap_sent", "s:node_name", ctl_node_name(c, s->node), "u:version",
	       s->version_sent, "s:kind", is_delta ? "delta" : "full", "u:bytes", (uint64_t)len,
	       "u:wire_bytes", (uint64_t)wire, NULL);
	ctl_session_queue(s, z ? (const void *)z : msg, wire, z != NULL);
	free(z);
	free(msg);
}

/* The state recorded for `key` at the last pass, or NULL. The registry
 * keeps its order between passes, so the entry after the last one found
 * is tried first: a pass costs O(n), not O(n^2). */
static const char *ctl_prev_state(const struct control *c, const cJSON **cursor, const char *key)
{
	const cJSON *e = *cursor;

	if (!e || strcmp(e->string, key) != 0)
		e = cJSON_GetObjectItemCaseSensitive(c->prev_states, key);
	if (!e)
		return NULL;
	*cursor = e->next;
	return cJSON_GetStringValue(e);
}

/* Emits service_state / host_state for every state that changed. Hosts are
 * the registry's host records (advertised or decided); nodes pre-approved
 * by policy alone show in the admin view but get no events: finding them
 * costs a walk over every node per service. */
static void ctl_state_events(struct control *c)
{
	cJSON *now = cJSON_CreateObject();
	const cJSON *cursor = c->prev_states ? c->prev_states->child : NULL;

	if (!now)
		return;
	for (size_t i = 0; i < registry_service_count(c->reg); i++) {
		const struct reg_service *svc = registry_service(c->reg, i);
		const char *st = reg_state_name(registry_service_state(c->reg, svc->name));
		const char *was = ctl_prev_state(c, &cursor, svc->name);
		cJSON_AddStringToObject(now, svc->name, st);
		if (!was || strcmp(was, st) != 0)
			ctl_ev(c, "service_state", "s:service", svc->name, "s:state", st,
			       "s:previous", was ? was : "", NULL);
	}
	for (size_t i = 0; i < registry_host_count(c->reg); i++) {
		const struct reg_host *h = registry_host(c->reg, i);
		char key[2 * REG_MAX_NAME + 2];
		if (registry_service_index(c->reg, h->service) < 0)
			continue;
		snprintf(key, sizeof(key), "%s %s", h->service, h->node);
		const char *st = reg_state_name(registry_host_state(c->reg, h));
		const char *was = ctl_prev_state(c, &cursor, key);
		cJSON_AddStringToObject(now, key, st);
		if (!was || strcmp(was, st) != 0)
			ctl_ev(c, "host_state", "s:service", h->service, "s:node_name", h->node,
			       "s:state", st, "s:previous", was ? was : "", NULL);
	}
	cJSON_Delete(c->prev_states);
	c->prev_states = now;
}

static void ctl_reap(struct control *c);

static void ctl_recompute_fn(struct io_timer *t)
{
	struct control *c = container_of(t, struct control, recompute_timer);

	for (size_t i = 0; i < c->n_sessions; i++)
		ctl_session_send_map(c->sessions[i]);
	ctl_drain_check(c);
	ctl_state_events(c);
	if (c->dirty && ctl_save(c) < 0 && !io_timer_armed(&c->recompute_timer))
		c->io->ops->timer_arm(c->io, &c->recompute_timer, CTL_SAVE_RETRY_US);
	ctl_reap(c);
}

/* ---- map sessions: lifecycle -------------------------------------------- */

static void ctl_session_close(struct ctl_session *s, const char *reason, bool dead)
{
	struct control *c = s->c;

	if (s->closed)
		return;
	s->closed = true;
	c->n_to_reap++;
	c->io->ops->close(c->io, s->handle, false);
	s->handle = -1;
	if (s->node >= 0) {
		ctl_ev(c, "session_closed", "s:node_name", ctl_node_name(c, s->node), "s:reason",
		       reason, NULL);
		if ((size_t)s->node < c->by_node_cap && c->by_node[s->node] == s) {
			c->by_node[s->node] = NULL;
			registry_node_set_connected(c->reg, (size_t)s->node, false);
			if (dead) {
				if (s->silent)
					ctl_mark_lost(c, (size_t)s->node);
				else
					registry_node_set_alive(c->reg, (size_t)s->node, false);
				ctl_ev(c, "node_dead", "s:node_name", ctl_node_name(c, s->node),
				       "s:reason", reason, "b:lost", (int)s->silent, NULL);
				c->dirty = true; /* which hosts are serving changed */
			}
			/* Drains of this host end with it. */
			for (size_t i = 0; i < c->n_drains;) {
				if (c->drains[i].host == (size_t)s->node)
					ctl_drain_remove(c, i);
				else
					i++;
			}
			ctl_schedule(c);
		}
	}
	ctl_drain_session_gone(c, s->id);
}

static void ctl_session_free(struct ctl_session *s)
{
	mapgen_sent_free(s->sent);
	cJSON_Delete(s->ranks);
	free(s->in);
	free(s->out);
	free(s);
}

static int ctl_by_node_grow(struct control *c, size_t node)
{
	if (node < c->by_node_cap)
		return 0;
	size_t ncap = c->by_node_cap ? c->by_node_cap : 64;
	while (ncap <= node)
		ncap *= 2;
	struct ctl_session **nb = realloc(c->by_node, ncap * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	memset(nb + c->by_node_cap, 0, (ncap - c->by_node_cap) * sizeof(*nb));
	c->by_node = nb;
	c->by_node_cap = ncap;
	return 0;
}

static const char *ctl_json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void ctl_on_hello(struct ctl_session *s, const cJSON *msg)
{
	struct control *c = s->c;
	char err[REG_ERR_LEN] = "";
	const char *tags[REG_MAX_TAGS];
	size_t n_tags = 0;
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(msg, "proto");
	const cJSON *jt = cJSON_GetObjectItemCaseSensitive(msg, "tags"), *e;
	const char *endpoint = ctl_json_str(msg, "endpoint");
	const char *compress = ctl_json_str(msg, "compress");
	char ep_buf[IO_ADDR_STRLEN];
	struct reg_node_info info = {
	    .name = ctl_json_str(msg, "node"),
	    .user = ctl_json_str(msg, "user"),
	    .region = ctl_json_str(msg, "region"),
	    .tls_key = ctl_json_str(msg, "tls_key"),
	};

	if (!cJSON_IsNumber(proto) || proto->valuedouble != MAPPROTO_VERSION) {
		ctl_session_fail(s, "hello: \"proto\" must be 1");
		return;
	}
	/* Other schemes (a newer daemon's) are not taken up: plain frames. */
	s->zlib = compress && strcmp(compress, "zlib") == 0;
	if (!info.name || !info.name[0]) {
		ctl_session_fail(s, "hello: \"node\" missing");
		return;
	}
	if (!info.user)
		info.user = "";
	if (!info.region)
		info.region = "";
	if (jt && !cJSON_IsArray(jt)) {
		ctl_session_fail(s, "hello: \"tags\" must be an array of strings");
		return;
	}
	cJSON_ArrayForEach(e, jt)
	{
		if (!cJSON_IsString(e)) {
			ctl_session_fail(s, "hello: \"tags\" must be an array of strings");
			return;
		}
		if (n_tags == REG_MAX_TAGS) {
			ctl_session_fail(s, "hello: too many tags");
			return;
		}
		tags[n_tags++] = e->valuestring;
	}
	info.tags = tags;
	info.n_tags = n_tags;
	if (!endpoint) {
		/* No endpoint named: the address the session comes from, on
		 * the data plane's default port. */
		if (c->io->ops->sock_name(c->io, s->handle, true, &info.endpoint) < 0) {
			ctl_session_fail(s, "hello: \"endpoint\" missing");
			return;
		}
		info.endpoint.port = CTL_DEFAULT_ENDPOINT;
		endpoint = io_addr_format(&info.endpoint, true, ep_buf, sizeof(ep_buf));
	} else if (io_addr_parse(&info.endpoint, endpoint, CTL_DEFAULT_ENDPOINT) < 0) {
		ctl_session_fail(s, "hello: \"endpoint\" must be ADDR:PORT");
		return;
	}
	size_t before = registry_node_count(c->reg);
	int idx = registry_node_index(c->reg, info.name);
	bool was_alive = idx >= 0 && registry_node(c->reg, (size_t)idx)->alive;
	/* Counted alive by the restart grace, and back now. */
	bool was_presumed = c->grace && was_alive && !registry_node(c->reg, (size_t)idx)->connected;
	int rc = registry_node_register(c->reg, &info, err, sizeof(err));
	if (rc < 0) {
		ctl_session_fail(s, err[0] ? err : strerror(-rc));
		return;
	}
	idx = rc;
	if (ctl_by_node_grow(c, (size_t)idx) < 0) {
		ctl_session_fail(s, "out of memory");
		return;
	}
	struct ctl_session *old = c->by_node[idx];
	if (old && old != s) {
		/* The same node name again: the new session replaces the old. */
		c->by_node[idx] = NULL;
		ctl_ev(c, "session_error", "s:node_name", info.name, "s:error",
		       "replaced by a new session for the same node", NULL);
		ctl_session_send_simple(old, "error", "message",
		                        "replaced by a new session for the same node", NULL, NULL);
		ctl_session_close(old, "replaced", false);
	}
	c->by_node[idx] = s;
	s->node = idx;
	registry_node_set_connected(c->reg, (size_t)idx, true);
	registry_node_set_alive(c->reg, (size_t)idx, true);
	ctl_ev(c, "node_registered", "s:node_name", info.name, "b:new",
	       (int)(registry_node_count(c->reg) > before), "s:region", info.region, NULL);
	ctl_ev(c, "session_open", "s:node_name", info.name, "s:endpoint", endpoint, NULL);
	if (!was_alive || was_presumed)
		ctl_ev(c, "node_alive", "s:node_name", info.name, NULL);
	c->dirty = true;
	if (was_presumed) {
		CHECK(c->grace_left > 0);
		if (--c->grace_left == 0)
			ctl_grace_end(c, true);
	}
	if (ctl_session_send_liveness(s, "welcome") < 0)
		return;
	ctl_schedule(c);
}

/* Moves a session to the host or the idle liveness pair, telling the node. */
static void ctl_session_set_host_liveness(struct ctl_session *s, bool host)
{
	if (s->host_liveness == host)
		return;
	s->host_liveness = host;
	ctl_session_send_liveness(s, "liveness");
}

static void ctl_on_advertise(struct ctl_session *s, const cJSON *msg)
{
	struct control *c = s->c;
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(msg, "services"), *e;
	struct reg_advert *ad = NULL;
	uint16_t(*ports)[REG_MAX_PORTS] = NULL;
	bool *was_draining = NULL;
	size_t n = 0, max;
	char err[REG_ERR_LEN] = "";
	const char *bad = NULL;

	if (!cJSON_IsArray(svcs)) {
		ctl_session_fail(s, "advertise: \"services\" must be an array");
		return;
	}
	max = (size_t)cJSON_GetArraySize(svcs);
	if (max > REG_MAX_SERVICES) {
		ctl_session_fail(s, "advertise: more services than control accepts");
		return;
	}
	ad = calloc(max + 1, sizeof(*ad));
	ports = calloc(max + 1, sizeof(*ports));
	was_draining = calloc(max + 1, sizeof(*was_draining));
	if (!ad || !ports || !was_draining) {
		bad = "out of memory";
		goto out;
	}
	cJSON_ArrayForEach(e, svcs)
	{
		const char *name = ctl_json_str(e, "name");
		const cJSON *jp = cJSON_GetObjectItemCaseSensitive(e, "ports"), *p;
		const cJSON *dr = cJSON_GetObjectItemCaseSensitive(e, "draining");
		const cJSON *tun = cJSON_GetObjectItemCaseSensitive(e, "tun");
		if (!cJSON_IsObject(e) || !name || (jp && !cJSON_IsArray(jp)) ||
		    (dr && !cJSON_IsBool(dr)) || (tun && !cJSON_IsBool(tun))) {
			bad = "advertise: each service is {\"name\", \"draining\", \"tun\", "
			      "\"ports\"}";
			goto out;
		}
		size_t np = 0;
		cJSON_ArrayForEach(p, jp)
		{
			if (!cJSON_IsNumber(p) || p->valuedouble < 1 || p->valuedouble > 65535 ||
			    p->valuedouble != (double)(int)p->valuedouble) {
				bad = "advertise: ports are numbers 1-65535";
				goto out;
			}
			if (np == REG_MAX_PORTS) {
				bad = "advertise: too many ports";
				goto out;
			}
			ports[n][np++] = (uint16_t)p->valueint;
		}
		int hi = registry_host_index(c->reg, name, ctl_node_name(c, s->node));
		const struct reg_host *h = hi >= 0 ? registry_host(c->reg, (size_t)hi) : NULL;
		was_draining[n] = h && h->advertising && h->draining;
		ad[n] = (struct reg_advert){.service = name,
		                            .draining = cJSON_IsTrue(dr),
		                            .tun = cJSON_IsTrue(tun),
		                            .n_config_ports = np,
		                            .config_ports = ports[n]};
		n++;
	}
	uint64_t gen = registry_generation(c->reg);
	int rc = registry_advertise(c->reg, (size_t)s->node, ad, n, err, sizeof(err));
	const char *node = ctl_node_name(c, s->node);
	if (registry_generation(c->reg) != gen)
		c->dirty = true; /* which hosts are serving is saved (STR-8) */
	for (size_t i = 0; i < n; i++) {
		ctl_ev(c, "host_advertised", "s:node_name", node, "s:service", ad[i].service,
		       "b:draining", (int)ad[i].draining, "b:defined",
		       (int)(registry_service_index(c->reg, ad[i].service) >= 0), NULL);
		if (rc < 0) {
			ctl_session_send_simple(s, "advertise_refused", "service", ad[i].service,
			                        "message", err[0] ? err : strerror(-rc));
			if (s->closed)
				goto out;
		}
	}
	/* Drains that start now, and drains that ended (advertised again or
	 * withdrawn). */
	for (size_t i = 0; i < c->n_drains;) {
		struct ctl_drain *d = &c->drains[i];
		bool still = false;
		for (size_t j = 0; j < n && d->host == (size_t)s->node; j++)
			if (strcmp(ad[j].service, d->service) == 0 && ad[j].draining)
				still = true;
		if (d->host == (size_t)s->node && !still)
			ctl_drain_remove(c, i);
		else
			i++;
	}
	for (size_t i = 0; i < n; i++)
		if (ad[i].draining && !was_draining[i] &&
		    registry_host_index(c->reg, ad[i].service, node) >= 0)
			ctl_drain_start(c, ad[i].service, (size_t)s->node);
	ctl_session_set_host_liveness(s, n > 0);
	if (s->closed)
		goto out;
	ctl_drain_check(c);
	ctl_schedule(c);
out:
	if (bad)
		ctl_session_fail(s, bad);
	free(ad);
	free(ports);
	free(was_draining);
}

static void ctl_on_frame(struct ctl_session *s, const uint8_t *payload, size_t len)
{
	struct control *c = s->c;
	char err[MAPPROTO_ERR_LEN] = "";
	cJSON *msg = NULL;
	enum mapproto_type t = mapproto_parse(payload, len, &msg, err, sizeof(err));

	if (t == MAPPROTO_NONE) {
		ctl_session_fail(s, err[0] ? err : "malformed frame");
		goto out;
	}
	if (s->node < 0 && t != MAPPROTO_HELLO) {
		ctl_session_fail(s, "the first frame must be a hello");
		goto out;
	}
	switch (t) {
	case MAPPROTO_HELLO:
		if (s->node >= 0)
			ctl_session_fail(s, "hello sent twice");
		else
			ctl_on_hello(s, msg);
		break;
	case MAPPROTO_ADVERTISE:
		ctl_on_advertise(s, msg);
		break;
	case MAPPROTO_ACK: {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "version");
		if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
		    v->valuedouble > (double)s->version_sent) {
			ctl_session_fail(s, "ack: \"version\" is not a version control sent");
			break;
		}
		uint64_t ver = (uint64_t)v->valuedouble;
		if (ver > s->version_acked)
			s->version_acked = ver;
		ctl_ev(c, "netmap_acked", "s:node_name", ctl_node_name(c, s->node), "u:version",
		       ver, NULL);
		ctl_drain_acked(c, s->id, ver);
		break;
	}
	case MAPPROTO_RESYNC:
		mapgen_sent_reset(s->sent);
		ctl_session_send_map(s);
		break;
	case MAPPROTO_HEARTBEAT:
		break;
	default: {
		char m[96];
		snprintf(m, sizeof(m), "unexpected message type \"%s\" from a node",
		         mapproto_type_name(t));
		ctl_session_fail(s, m);
		break;
	}
	}
out:
	cJSON_Delete(msg);
}

static void ctl_session_read(struct ctl_session *s)
{
	struct io *io = s->c->io;
	size_t max = MAPPROTO_MAX_UP_FRAME + MAPPROTO_HDR_LEN;

	while (!s->closed) {
		if (s->in_cap - s->in_len < CTL_READ_CHUNK && s->in_cap < max) {
			size_t ncap = s->in_len + CTL_READ_CHUNK;
			if (ncap > max)
				ncap = max;
			uint8_t *nb = realloc(s->in, ncap);
			if (!nb) {
				ctl_session_close(s, "out of memory", true);
				return;
			}
			s->in = nb;
			s->in_cap = ncap;
		}
		ssize_t r =
		    io->ops->tcp_read(io, s->handle, s->in + s->in_len, s->in_cap - s->in_len);
		if (r == -EAGAIN)
			return;
		if (r <= 0) {
			ctl_session_close(s, r == 0 ? "closed by the node" : "connection error",
			                  true);
			return;
		}
		s->in_len += (size_t)r;
		s->last_rx_us = io->ops->now_us(io);
		size_t off = 0;
		while (!s->closed) {
			const uint8_t *payload;
			size_t plen;
			ssize_t fl =
			    mapproto_frame_parse(s->in + off, s->in_len - off,
			                         MAPPROTO_MAX_UP_FRAME, &payload, &plen, NULL);
			if (fl == -2)
				break;
			if (fl < 0) {
				ctl_session_fail(
				    s, "bad frame length (0, above 1 MiB, or compressed)");
				return;
			}
			ctl_on_frame(s, payload, plen);
			off += (size_t)fl;
		}
		if (s->closed)
			return;
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
	}
}

static void ctl_session_cb(void *ctx, int handle, unsigned events)
{
	struct ctl_session *s = ctx;
	struct control *c = s->c;
	(void)handle;

	if (events & IO_ERROR)
		ctl_session_close(s, "connection error", true);
	if (!s->closed && (events & IO_WRITABLE)) {
		ctl_session_flush(s);
		if (!s->closed && s->map_pending && s->out_off == s->out_len)
			ctl_session_send_map(s);
	}
	if (!s->closed && (events & IO_READABLE))
		ctl_session_read(s);
	ctl_reap(c);
}

static void ctl_map_listen_cb(void *ctx, int listener, unsigned events)
{
	struct control *c = ctx;
	(void)events;

	for (;;) {
		struct ctl_session *s = calloc(1, sizeof(*s));
		struct io_addr peer;
		if (!s)
			break;
		s->c = c;
		s->node = -1;
		int h = c->io->ops->tcp_accept(c->io, listener, &peer, ctl_session_cb, s);
		if (h < 0) {
			free(s);
			break;
		}
		s->handle = h;
		/* REL-1: sessions leave the handle reserve to the admin API. */
		if (c->n_sessions >= CONTROL_MAX_SESSIONS || io_handles_scarce(c->io, 0)) {
			c->io->ops->close(c->io, h, true);
			ctl_ev(c, "session_error", "s:node_name", "", "s:error",
			       "too many sessions", NULL);
			free(s);
			continue;
		}
		if (c->n_sessions == c->cap_sessions) {
			size_t ncap = c->cap_sessions ? c->cap_sessions * 2 : 64;
			struct ctl_session **ns = realloc(c->sessions, ncap * sizeof(*ns));
			if (!ns) {
				c->io->ops->close(c->io, h, true);
				free(s);
				continue;
			}
			c->sessions = ns;
			c->cap_sessions = ncap;
		}
		s->sent = mapgen_sent_new();
		if (!s->sent) {
			c->io->ops->close(c->io, h, true);
			free(s);
			continue;
		}
		s->id = ++c->next_session_id;
		s->last_rx_us = s->last_tx_us = c->io->ops->now_us(c->io);
		c->sessions[c->n_sessions++] = s;
	}
	ctl_reap(c);
}

/* ---- admin HTTP API ----------------------------------------------------- */

static void ctl_admin_close(struct ctl_admin *a)
{
	if (a->closed)
		return;
	a->closed = true;
	a->c->n_to_reap++;
	a->c->io->ops->close(a->c->io, a->handle, false);
	a->handle = -1;
}

static void ctl_admin_free(struct ctl_admin *a)
{
	http_head_free(a->head);
	free(a->in);
	free(a->body);
	free(a->out);
	free(a);
}

static void ctl_admin_flush(struct ctl_admin *a)
{
	struct io *io = a->c->io;

	while (!a->closed && a->out_off < a->out_len) {
		ssize_t w =
		    io->ops->tcp_write(io, a->handle, a->out + a->out_off, a->out_len - a->out_off);
		if (w == -EAGAIN)
			return;
		if (w < 0) {
			ctl_admin_close(a);
			return;
		}
		if (w > 0)
			a->last_us = io->ops->now_us(io);
		a->out_off += (size_t)w;
	}
	if (a->out_off == a->out_len) {
		a->out_off = a->out_len = 0;
		if (a->close_after)
			ctl_admin_close(a);
	}
}

/* Queues one response: status, content type, body. */
static void ctl_admin_reply(struct ctl_admin *a, int status, const char *ctype, const char *body,
                            size_t body_len, bool close)
{
	char head[512];
	const char *extra = status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
	int hl =
	    http_msg_write_simple(status, ctype, body_len, false, extra, close, head, sizeof(head));

	if (hl < 0 || a->out_len + (size_t)hl + body_len > CTL_ADMIN_OUT_MAX) {
		ctl_admin_close(a);
		return;
	}
	char *nb = realloc(a->out, a->out_len + (size_t)hl + body_len + 1);
	if (!nb) {
		ctl_admin_close(a);
		return;
	}
	a->out = nb;
	memcpy(a->out + a->out_len, head, (size_t)hl);
	memcpy(a->out + a->out_len + hl, body, body_len);
	a->out_len += (size_t)hl + body_len;
	if (close)
		a->close_after = true;
	ctl_admin_flush(a);
}

/* Queues bytes as they are (an interim 100 Continue). */
static void ctl_admin_raw(struct ctl_admin *a, const char *text)
{
	size_t n = strlen(text);
	char *nb = realloc(a->out, a->out_len + n + 1);

	if (!nb) {
		ctl_admin_close(a);
		return;
	}
	a->out = nb;
	memcpy(a->out + a->out_len, text, n);
	a->out_len += n;
	ctl_admin_flush(a);
}

static void ctl_admin_json(struct ctl_admin *a, int status, char *json, bool close)
{
	if (!json) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		ctl_admin_reply(a, 500, "application/json", oom, sizeof(oom) - 1, true);
		return;
	}
	ctl_admin_reply(a, status, "application/json", json, strlen(json), close);
	free(json);
}

static void ctl_admin_error(struct ctl_admin *a, int status, const char *msg, bool close)
{
	ctl_admin_json(a, status, ctl_error_json(msg), close);
}

static int ctl_status_of(int rc)
{
	switch (rc) {
	case 0:
		return 200;
	case -EPERM:
	case -EACCES:
		return 403;
	case -ENOENT:
		return 404;
	case -E2BIG:
	case -EFBIG:
		return 413;
	case -ENOMEM:
		return 500;
	case -EEXIST:
		return 409;
	default:
		return 400;
	}
}

static int ctl_exec(struct control *c, const char *actor, const struct admin_cmd *cmd,
                    const char *policy_text, size_t policy_len, char **json, bool *not_saved);

/* Runs a command for the API and answers it: a write whose state could not
 * be made durable is 503 (nothing changed; the client may retry). */
static void ctl_admin_exec(struct ctl_admin *a, const char *actor, const struct admin_cmd *cmd,
                           const char *policy_text, size_t policy_len, bool close)
{
	char *json = NULL;
	bool not_saved = false;
	int rc = ctl_exec(a->c, actor, cmd, policy_text, policy_len, &json, &not_saved);

	ctl_admin_json(a, not_saved ? 503 : ctl_status_of(rc), json, close);
}

/* Decodes %XX in place; false on a bad escape or a NUL. */
static bool ctl_url_decode(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p == '%') {
			int v = 0;
			for (int k = 1; k <= 2; k++) {
				char ch = p[k];
				int d = ch >= '0' && ch <= '9'   ? ch - '0'
				        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
				        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
				                                 : -1;
				if (d < 0)
					return false;
				v = v * 16 + d;
			}
			if (v == 0)
				return false;
			*o++ = (char)v;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return true;
}

/* Builds a define command from a PUT body. 0 or -EINVAL with msg. */
static int ctl_define_from_body(const cJSON *body, const char *name, struct admin_cmd *cmd,
                                const char **msg)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "description");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "ports");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "tags"), *e;

	memset(cmd, 0, sizeof(*cmd));
	cmd->kind = ADMIN_CMD_DEFINE;
	cmd->service = name;
	if (!cJSON_IsObject(body)) {
		*msg = "body: want {\"description\", \"ports\", \"tags\"}";
		return -EINVAL;
	}
	if (d) {
		if (!cJSON_IsString(d)) {
			*msg = "body: \"description\" must be a string";
			return -EINVAL;
		}
		cmd->description = d->valuestring;
	}
	if (p) {
		if (!cJSON_IsArray(p)) {
			*msg = "body: \"ports\" must be an array of strings";
			return -EINVAL;
		}
		cmd->has_ports = true;
		cJSON_ArrayForEach(e, p)
		{
			if (!cJSON_IsString(e) || cmd->n_ports == REG_MAX_PORTS) {
				*msg = "body: \"ports\" must be at most 64 strings";
				return -EINVAL;
			}
			cmd->ports[cmd->n_ports++] = e->valuestring;
		}
	}
	if (t) {
		if (!cJSON_IsArray(t)) {
			*msg = "body: \"tags\" must be an array of strings";
			return -EINVAL;
		}
		cmd->has_tags = true;
		cJSON_ArrayForEach(e, t)
		{
			if (!cJSON_IsString(e) || cmd->n_tags == REG_MAX_TAGS) {
				*msg = "body: \"tags\" must be at most 32 strings";
				return -EINVAL;
			}
			cmd->tags[cmd->n_tags++] = e->valuestring;
		}
	}
	return 0;
}

/* Routes one complete request. */
static void ctl_admin_request(struct ctl_admin *a)
{
	struct control *c = a->c;
	const struct http_head *h = a->head;
	bool close = !h->keep_alive;
	size_t alen = 0;
	const char *auth = http_head_get(h, "Authorization", &alen);
	const struct reg_user *user = NULL;
	char token[512], path[2048];
	struct admin_cmd cmd;
	cJSON *body = NULL;
	const char *msg = NULL;
	int rc;
	const char *method = llhttp_method_name((llhttp_method_t)h->method);

	if (auth && alen > 7 && alen - 7 < sizeof(token) && strncasecmp(auth, "Bearer ", 7) == 0) {
		memcpy(token, auth + 7, alen - 7);
		token[alen - 7] = '\0';
		user = registry_user_by_token(c->reg, token);
	}
	a->last_us = c->io->ops->now_us(c->io);
	if (!user) {
		/* No keep-alive for a peer without a token: it cannot hold a
		 * slot with a 401 a minute, nor pile up answers it never reads. */
		ctl_admin_error(a, 401, "unknown or missing bearer token", true);
		return;
	}
	if (h->target_len >= sizeof(path)) {
		ctl_admin_error(a, 414, "request target too long", close);
		return;
	}
	memcpy(path, http_head_target(h), h->target_len);
	path[h->target_len] = '\0';
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (!ctl_url_decode(path)) {
		ctl_admin_error(a, 400, "bad percent-encoding in the path", close);
		return;
	}
	bool get = strcmp(method, "GET") == 0, put = strcmp(method, "PUT") == 0;
	bool post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
	memset(&cmd, 0, sizeof(cmd));
	char *rest = NULL;
	if (strcmp(path, "/api/services") == 0) {
		if (!get)
			goto bad_method;
		cmd.kind = ADMIN_CMD_SERVICES;
	} else if (strncmp(path, "/api/services/", 14) == 0) {
		char *name = path + 14;
		rest = strchr(name, '/');
		if (rest)
			*rest++ = '\0';
		cmd.service = name;
		if (!rest) {
			if (get) {
				cmd.kind = ADMIN_CMD_SERVICE;
			} else if (del) {
				cmd.kind = ADMIN_CMD_DELETE;
			} else if (put) {
				body = cJSON_ParseWithLength(a->body ? a->body : "", a->body_len);
				if (ctl_define_from_body(body, name, &cmd, &msg) < 0) {
					ctl_admin_error(a, 400, msg, close);
					goto out;
				}
			} else {
				goto bad_method;
			}
		} else {
			/* hosts/NODE/{approve|reject|revoke} */
			char *node = NULL, *verb = NULL;
			if (strncmp(rest, "hosts/", 6) == 0) {
				node = rest + 6;
				verb = strchr(node, '/');
				if (verb)
					*verb++ = '\0';
			}
			if (!verb || !*node)
				goto not_found;
			if (!post)
				goto bad_method;
			cmd.node = node;
			if (strcmp(verb, "approve") == 0)
				cmd.kind = ADMIN_CMD_APPROVE;
			else if (strcmp(verb, "reject") == 0)
				cmd.kind = ADMIN_CMD_REJECT;
			else if (strcmp(verb, "revoke") == 0)
				cmd.kind = ADMIN_CMD_REVOKE;
			else
				goto not_found;
		}
	} else if (strcmp(path, "/api/nodes") == 0) {
		if (!get)
			goto bad_method;
		cmd.kind = ADMIN_CMD_NODES;
	} else if (strcmp(path, "/api/policy") == 0) {
		if (get) {
			const char *text = policy_text(registry_policy(c->reg));
			text = text ? text : "";
			ctl_admin_reply(a, 200, "application/hujson", text, strlen(text), close);
			goto out;
		}
		if (!put)
			goto bad_method;
		cmd.kind = ADMIN_CMD_SET_POLICY;
		ctl_admin_exec(a, user->login, &cmd, a->body ? a->body : "", a->body_len, close);
		goto out;
	} else if (strcmp(path, "/api/ca") == 0) {
		if (!get)
			goto bad_method;
		const char *pem = control_ca_pem(c);
		ctl_admin_reply(a, 200, "application/x-pem-file", pem, strlen(pem), close);
		goto out;
	} else if (strcmp(path, "/api/command") == 0) {
		char err[ADMIN_CMD_ERR_LEN] = "";
		if (!post)
			goto bad_method;
		body = cJSON_ParseWithLength(a->body ? a->body : "", a->body_len);
		const char *line = ctl_json_str(body, "line");
		if (!line) {
			ctl_admin_error(a, 400, "body: want {\"line\": \"<admin command>\"}",
			                close);
			goto out;
		}
		rc = admin_cmd_parse(&cmd, line, err, sizeof(err));
		if (rc == 0 && cmd.kind == ADMIN_CMD_SET_POLICY) {
			rc = -EINVAL;
			snprintf(err, sizeof(err),
			         "set-policy reads a file on the client: PUT /api/policy "
			         "with the policy text");
		}
		if (rc < 0) {
			admin_cmd_free(&cmd);
			ctl_admin_error(a, ctl_status_of(rc), err, close);
			goto out;
		}
		ctl_admin_exec(a, user->login, &cmd, NULL, 0, close);
		admin_cmd_free(&cmd);
		goto out;
	} else {
		goto not_found;
	}
	ctl_admin_exec(a, user->login, &cmd, NULL, 0, close);
	goto out;
bad_method:
	ctl_admin_error(a, 405, "method not allowed here", close);
	goto out;
not_found:
	ctl_admin_error(a, 404, "no such API path", close);
out:
	cJSON_Delete(body);
}

static int ctl_admin_body_fn(void *ctx, const char *data, size_t len)
{
	struct ctl_admin *a = ctx;

	if (a->body_len + len > CONTROL_ADMIN_MAX_BODY) {
		a->body_too_big = true;
		return -1;
	}
	char *nb = realloc(a->body, a->body_len + len + 1);
	if (!nb)
		return -1;
	a->body = nb;
	memcpy(a->body + a->body_len, data, len);
	a->body_len += len;
	a->body[a->body_len] = '\0';
	return 0;
}

static void ctl_admin_parse(struct ctl_admin *a)
{
	while (!a->closed && !a->close_after) {
		size_t used = 0;
		enum http_parse_status st =
		    http_parser_feed(&a->parser, a->in + a->in_off, a->in_len - a->in_off, &used);
		a->in_off += used;
		if (st == HTTP_PARSE_MORE)
			break;
		if (st == HTTP_PARSE_ERROR) {
			if (a->body_too_big)
				ctl_admin_error(a, 413, "body too large", true);
			else if (a->parser.error_status == 431)
				ctl_admin_error(a, 431, "request head too large", true);
			else
				ctl_admin_error(
				    a, 400, a->parser.why ? a->parser.why : "bad request", true);
			return;
		}
		if (st == HTTP_PARSE_HEAD) {
			a->body_len = 0;
			a->body_too_big = false;
			if (a->head->body == HTTP_BODY_LENGTH &&
			    a->head->content_length > CONTROL_ADMIN_MAX_BODY) {
				ctl_admin_error(a, 413, "body too large", true);
				return;
			}
			size_t elen = 0;
			const char *expect = http_head_get(a->head, "Expect", &elen);
			if (expect && elen == 12 && strncasecmp(expect, "100-continue", 12) == 0 &&
			    a->head->body != HTTP_BODY_NONE) {
				char cont[64];
				if (http_msg_write_interim(100, cont, sizeof(cont)) > 0)
					ctl_admin_raw(a, cont);
			}
			http_parser_resume(&a->parser);
			continue;
		}
		/* DONE */
		ctl_admin_request(a);
		http_parser_resume(&a->parser);
	}
	if (a->in_off == a->in_len)
		a->in_off = a->in_len = 0;
}

static void ctl_admin_cb(void *ctx, int handle, unsigned events)
{
	struct ctl_admin *a = ctx;
	struct control *c = a->c;
	struct io *io = c->io;
	(void)handle;

	/* Bytes in do not restart the idle clock (a peer trickling a request
	 * would hold its slot for good): answers and bytes out do. */
	if (events & IO_ERROR)
		ctl_admin_close(a);
	if (!a->closed && (events & IO_WRITABLE))
		ctl_admin_flush(a);
	while (!a->closed && (events & IO_READABLE)) {
		if (a->in_off) {
			memmove(a->in, a->in + a->in_off, a->in_len - a->in_off);
			a->in_len -= a->in_off;
			a->in_off = 0;
		}
		if (a->in_cap - a->in_len < 4096) {
			size_t ncap = a->in_cap ? a->in_cap * 2 : 16384;
			if (ncap > CONTROL_ADMIN_MAX_HEADER + CONTROL_ADMIN_MAX_BODY + 65536) {
				/* The parser consumes everything it accepts; a full
				 * buffer means a peer far past every limit. */
				ctl_admin_close(a);
				break;
			}
			char *nb = realloc(a->in, ncap);
			if (!nb) {
				ctl_admin_close(a);
				break;
			}
			a->in = nb;
			a->in_cap = ncap;
		}
		ssize_t r =
		    io->ops->tcp_read(io, a->handle, a->in + a->in_len, a->in_cap - a->in_len);
		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			ctl_admin_close(a);
			break;
		}
		if (a->close_after)
			continue; /* answering an error: ignore the rest */
		a->in_len += (size_t)r;
		ctl_admin_parse(a);
	}
	ctl_reap(c);
}

static void ctl_admin_listen_cb(void *ctx, int listener, unsigned events)
{
	struct control *c = ctx;
	(void)events;

	for (;;) {
		int slot = -1;
		for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS && slot < 0; i++)
			if (!c->admins[i])
				slot = i;
		struct ctl_admin *a = calloc(1, sizeof(*a));
		struct io_addr peer;
		if (!a)
			break;
		a->c = c;
		int h = c->io->ops->tcp_accept(c->io, listener, &peer, ctl_admin_cb, a);
		if (h < 0) {
			free(a);
			break;
		}
		a->handle = h;
		if (slot < 0) {
			static const char busy[] = "{\"error\":\"too many admin connections\"}";
			char resp[256];
			int n =
			    http_msg_write_simple(503, "application/json", sizeof(busy) - 1, false,
			                          NULL, true, resp, sizeof(resp) - sizeof(busy));
			if (n > 0) {
				memcpy(resp + n, busy, sizeof(busy) - 1);
				c->io->ops->tcp_write(c->io, h, resp, (size_t)n + sizeof(busy) - 1);
			}
			c->io->ops->close(c->io, h, false);
			free(a);
			continue;
		}
		a->head = http_head_new(CONTROL_ADMIN_MAX_HEADER, CTL_ADMIN_MAX_HEADERS);
		if (!a->head) {
			c->io->ops->close(c->io, h, true);
			free(a);
			continue;
		}
		http_parser_init(&a->parser, true, a->head, ctl_admin_body_fn, a);
		a->last_us = c->io->ops->now_us(c->io);
		c->admins[slot] = a;
	}
}

/* ---- lost nodes (STR-8) --------------------------------------------------- */

/* Marks node `idx` lost (control cannot reach it; its clients may) and
 * starts its clock towards lost_expiry_us. */
static void ctl_mark_lost(struct control *c, size_t idx)
{
	registry_node_set_lost(c->reg, idx);
	for (size_t i = 0; i < c->n_lost; i++)
		if (c->lost[i].node == idx)
			return;
	if (c->n_lost == c->cap_lost) {
		size_t cap = c->cap_lost ? 2 * c->cap_lost : 16;
		struct ctl_lost *nl = realloc(c->lost, cap * sizeof(*nl));
		if (!nl)
			return; /* stays lost until it is heard from again */
		c->lost = nl;
		c->cap_lost = cap;
	}
	CHECK(c->n_lost < registry_node_count(c->reg));
	c->lost[c->n_lost++] = (struct ctl_lost){idx, c->io->ops->now_us(c->io)};
}

/* Forgets nodes heard from again, and counts as dead those lost for too
 * long (a silent death is not a partition that will heal). */
static void ctl_expire_lost(struct control *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_lost;) {
		size_t idx = c->lost[i].node;
		const struct reg_node *n = registry_node(c->reg, idx);
		bool expired = n && n->lost && now - c->lost[i].since_us >= c->lost_expiry_us;
		if (n && n->lost && !expired) {
			i++;
			continue;
		}
		if (expired) {
			registry_node_set_alive(c->reg, idx, false);
			ctl_ev(c, "node_dead", "s:node_name", n->name, "s:reason",
			       "lost for too long", "b:lost", 0, NULL);
			c->dirty = true;
			ctl_schedule(c);
		}
		c->lost[i] = c->lost[--c->n_lost];
	}
}

/* ---- restart grace (STR-8) ----------------------------------------------- */

/* After a start from saved state: the hosts it records as serving count as
 * alive, in their place in steering, until they reconnect or the grace
 * ends, so no map says a host is gone before it had time to come back. */
static void ctl_grace_start(struct control *c)
{
	for (size_t i = 0; i < registry_node_count(c->reg); i++) {
		if (!registry_node(c->reg, i)->lost)
			continue;
		registry_node_set_alive(c->reg, i, true);
		c->grace_hosts++;
	}
	if (!c->grace_hosts)
		return;
	c->grace = true;
	c->grace_left = c->grace_hosts;
	c->grace_started_us = c->io->ops->now_us(c->io);
	c->io->ops->timer_arm(c->io, &c->grace_timer, c->restart_grace_us);
	ctl_ev(c, "control_grace_started", "u:hosts", (uint64_t)c->grace_hosts, "u:grace_us",
	       c->restart_grace_us, NULL);
}

/* Ends the grace: hosts that have not reconnected are lost from now on
 * (registry.h: after every alive host) and their clients remapped. */
static void ctl_grace_end(struct control *c, bool early)
{
	size_t missing = 0;

	CHECK(c->grace);
	c->grace = false;
	if (io_timer_armed(&c->grace_timer))
		c->io->ops->timer_disarm(c->io, &c->grace_timer);
	for (size_t i = 0; i < registry_node_count(c->reg); i++) {
		const struct reg_node *n = registry_node(c->reg, i);
		if (!n->alive || n->connected)
			continue;
		ctl_mark_lost(c, i);
		ctl_ev(c, "node_dead", "s:node_name", n->name, "s:reason",
		       "did not reconnect within the restart grace", "b:lost", 1, NULL);
		missing++;
	}
	CHECK(missing == c->grace_left);
	c->grace_left = 0;
	ctl_ev(c, "control_grace_ended", "u:hosts", (uint64_t)c->grace_hosts, "u:reconnected",
	       (uint64_t)(c->grace_hosts - missing), "u:missing", (uint64_t)missing, "b:early",
	       (int)early, "u:elapsed_us", c->io->ops->now_us(c->io) - c->grace_started_us, NULL);
	if (missing) {
		c->dirty = true;
		ctl_schedule(c);
	}
}

static void ctl_grace_fn(struct io_timer *t)
{
	struct control *c = container_of(t, struct control, grace_timer);

	if (c->grace)
		ctl_grace_end(c, false);
	ctl_reap(c);
}

/* ---- sweep: liveness and idle admin connections ------------------------- */

static void ctl_sweep_fn(struct io_timer *t)
{
	struct control *c = container_of(t, struct control, sweep_timer);
	uint64_t now = c->io->ops->now_us(c->io);

	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctl_session *s = c->sessions[i];
		if (s->closed)
			continue;
		uint64_t dead_after = ctl_session_dead_after_us(s);
		if (now - s->last_rx_us > dead_after) {
			/* Silence says control cannot reach the node, not that it
			 * died: it is lost (STR-8). */
			s->silent = true;
			ctl_session_fail(s,
			                 s->node < 0 ? "no hello in time" : "silent for too long");
			continue;
		}
		/* Maps wait while a node does not read (see map_pending); one that
		 * takes no byte for as long as it may stay silent is dropped (a
		 * far node taking a large map slowly is not). */
		if (s->out_off < s->out_len && now - s->last_tx_us > dead_after) {
			ctl_ev(c, "session_error", "s:node_name", ctl_node_name(c, s->node),
			       "s:error", "slow consumer", "u:queued",
			       (uint64_t)(s->out_len - s->out_off), NULL);
			ctl_session_close(s, "slow consumer", true);
			continue;
		}
		if (s->node >= 0 && now - s->last_tx_us >= ctl_session_heartbeat_us(s) &&
		    s->out_off == s->out_len)
			ctl_session_send_simple(s, "heartbeat", NULL, NULL, NULL, NULL);
	}
	for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS; i++) {
		struct ctl_admin *a = c->admins[i];
		if (a && !a->closed && now - a->last_us > CONTROL_ADMIN_IDLE_US)
			ctl_admin_close(a);
	}
	ctl_expire_lost(c, now);
	c->io->ops->timer_arm(c->io, &c->sweep_timer, c->heartbeat_us / 2);
	ctl_reap(c);
}

static void ctl_reap(struct control *c)
{
	if (!c->n_to_reap)
		return;
	c->n_to_reap = 0;
	for (size_t i = 0; i < c->n_sessions;) {
		struct ctl_session *s = c->sessions[i];
		if (!s->closed) {
			i++;
			continue;
		}
		c->sessions[i] = c->sessions[--c->n_sessions];
		ctl_session_free(s);
	}
	for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS; i++)
		if (c->admins[i] && c->admins[i]->closed) {
			ctl_admin_free(c->admins[i]);
			c->admins[i] = NULL;
		}
}

/* ---- admin commands ----------------------------------------------------- */

static void ctl_add_strings(cJSON *o, const char *key, char *const *v, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

static void ctl_add_addrs(cJSON *o, const struct io_addr *a4, const struct io_addr *a6)
{
	char buf[IO_ADDR_STRLEN];
	cJSON *a = cJSON_AddArrayToObject(o, "addresses");

	if (!a)
		return;
	if (a4->family != IO_AF_NONE)
		cJSON_AddItemToArray(
		    a, cJSON_CreateString(io_addr_format(a4, false, buf, sizeof(buf))));
	if (a6->family != IO_AF_NONE)
		cJSON_AddItemToArray(
		    a, cJSON_CreateString(io_addr_format(a6, false, buf, sizeof(buf))));
}

static void ctl_port_text(const struct reg_port_range *p, char *buf, size_t len)
{
	if (p->first == p->last)
		snprintf(buf, len, "tcp:%u", p->first);
	else
		snprintf(buf, len, "tcp:%u-%u", p->first, p->last);
}

static cJSON *ctl_host_json(const struct control *c, const char *node, enum reg_state st,
                            bool approved, bool auto_approved, bool advertising, bool draining)
{
	cJSON *o = cJSON_CreateObject();
	int ni = registry_node_index(c->reg, node);
	const struct reg_node *n = ni >= 0 ? registry_node(c->reg, (size_t)ni) : NULL;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "node", node);
	cJSON_AddStringToObject(o, "state", reg_state_name(st));
	cJSON_AddBoolToObject(o, "approved", approved);
	cJSON_AddBoolToObject(o, "auto_approved", auto_approved);
	cJSON_AddBoolToObject(o, "advertising", advertising);
	cJSON_AddBoolToObject(o, "draining", draining);
	cJSON_AddStringToObject(o, "region", n && n->region ? n->region : "");
	return o;
}

static cJSON *ctl_service_json(const struct control *c, const struct reg_service *svc)
{
	cJSON *o = cJSON_CreateObject(), *ports, *hosts;
	char buf[64], *dns = NULL;
	size_t pre[256];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", svc->name);
	cJSON_AddStringToObject(o, "description", svc->description ? svc->description : "");
	ctl_add_strings(o, "tags", svc->tags, svc->n_tags);
	ports = cJSON_AddArrayToObject(o, "ports");
	if (svc->do_not_validate)
		cJSON_AddItemToArray(ports, cJSON_CreateString("do-not-validate"));
	for (size_t i = 0; ports && i < svc->n_ports; i++) {
		ctl_port_text(&svc->ports[i], buf, sizeof(buf));
		cJSON_AddItemToArray(ports, cJSON_CreateString(buf));
	}
	ctl_add_addrs(o, &svc->vip4, &svc->vip6);
	if (asprintf(&dns, "%s.%s", svc->name + 4, c->tailnet) >= 0) {
		cJSON_AddStringToObject(o, "dns", dns);
		free(dns);
	}
	cJSON_AddStringToObject(o, "state",
	                        reg_state_name(registry_service_state(c->reg, svc->name)));
	hosts = cJSON_AddArrayToObject(o, "hosts");
	for (size_t i = 0; hosts && i < registry_host_count(c->reg); i++) {
		const struct reg_host *h = registry_host(c->reg, i);
		if (strcmp(h->service, svc->name) != 0)
			continue;
		cJSON_AddItemToArray(hosts,
		                     ctl_host_json(c, h->node, registry_host_state(c->reg, h),
		                                   registry_host_approved(c->reg, h),
		                                   registry_host_auto_approved(c->reg, h),
		                                   h->advertising, h->draining));
	}
	size_t n = registry_pre_approved_nodes(c->reg, svc->name, pre, 256);
	for (size_t i = 0; hosts && i < n; i++) {
		const char *node = ctl_node_name(c, (int)pre[i]);
		if (registry_host_index(c->reg, svc->name, node) >= 0)
			continue;
		cJSON_AddItemToArray(hosts, ctl_host_json(c, node, REG_STATE_PRE_APPROVED, true,
		                                          true, false, false));
	}
	return o;
}

static cJSON *ctl_node_json(const struct control *c, size_t i)
{
	const struct reg_node *n = registry_node(c->reg, i);
	cJSON *o = cJSON_CreateObject();
	char buf[IO_ADDR_STRLEN];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", n->name);
	cJSON_AddStringToObject(o, "user", n->user ? n->user : "");
	cJSON_AddStringToObject(o, "region", n->region ? n->region : "");
	ctl_add_strings(o, "tags", n->tags, n->n_tags);
	ctl_add_addrs(o, &n->addr4, &n->addr6);
	cJSON_AddStringToObject(
	    o, "endpoint",
	    n->endpoint.family ? io_addr_format(&n->endpoint, true, buf, sizeof(buf)) : "");
	cJSON_AddBoolToObject(o, "connected", n->connected);
	cJSON_AddBoolToObject(o, "alive", n->alive);
	cJSON_AddNumberToObject(o, "acked_version", (double)control_acked_version(c, n->name));
	return o;
}

static const char *ctl_decision_name(enum reg_decision d)
{
	switch (d) {
	case REG_DECISION_APPROVED:
		return "approved";
	case REG_DECISION_REJECTED:
		return "rejected";
	case REG_DECISION_REVOKED:
		return "revoked";
	default:
		return "none";
	}
}

/* The registry part of an admin write, on `reg`: the live registry, or
 * the scratch copy a write is tried on before it is saved. Deterministic
 * in what `reg` persists, so a command that succeeds on the copy succeeds
 * the same way on the live registry. 0 or -errno with err. */
static int ctl_mutate(struct registry *reg, const char *actor, const struct admin_cmd *cmd,
                      const char *policy_text_in, size_t policy_len, char *err, size_t err_len)
{
	switch (cmd->kind) {
	case ADMIN_CMD_DEFINE: {
		struct reg_service_def def = {.name = cmd->service,
		                              .description = cmd->description,
		                              .ports = cmd->ports,
		                              .n_ports = cmd->n_ports,
		                              .tags = cmd->tags,
		                              .n_tags = cmd->n_tags};
		const char *ports[REG_MAX_PORTS + 1];
		char port_text[REG_MAX_PORTS][24];
		int i = registry_service_index(reg, cmd->service);
		const struct reg_service *old = i >= 0 ? registry_service(reg, (size_t)i) : NULL;
		/* A redefinition keeps what the command does not mention. */
		if (old && !cmd->description)
			def.description = old->description;
		if (old && !cmd->has_tags) {
			def.tags = (const char *const *)old->tags;
			def.n_tags = old->n_tags;
		}
		if (old && !cmd->has_ports) {
			size_t n = 0;
			if (old->do_not_validate)
				ports[n++] = "do-not-validate";
			for (size_t k = 0; k < old->n_ports && n < REG_MAX_PORTS; k++) {
				ctl_port_text(&old->ports[k], port_text[k], sizeof(port_text[k]));
				ports[n++] = port_text[k];
			}
			def.ports = ports;
			def.n_ports = n;
		}
		if (!def.description)
			def.description = "";
		return registry_define_service(reg, actor, &def, err, err_len);
	}
	case ADMIN_CMD_DELETE:
		return registry_delete_service(reg, actor, cmd->service, err, err_len);
	case ADMIN_CMD_APPROVE:
	case ADMIN_CMD_REJECT:
	case ADMIN_CMD_REVOKE: {
		enum reg_decision d = cmd->kind == ADMIN_CMD_APPROVE  ? REG_DECISION_APPROVED
		                      : cmd->kind == ADMIN_CMD_REJECT ? REG_DECISION_REJECTED
		                                                      : REG_DECISION_REVOKED;
		return registry_decide(reg, actor, cmd->service, cmd->node, d, err, err_len);
	}
	case ADMIN_CMD_SET_POLICY: {
		struct policy *p = NULL;
		int rc;
		if (!registry_is_admin(reg, actor))
			return err_setf(
			    err, err_len, -EPERM,
			    "%s is not an admin: only owners, admins and network admins "
			    "may set the policy",
			    actor);
		rc = policy_parse(policy_text_in, policy_len, &p, err, err_len);
		if (rc < 0)
			return rc;
		rc = registry_set_policy(reg, actor, p, err, err_len);
		if (rc < 0)
			policy_free(p);
		return rc;
	}
	default:
		return err_setf(err, err_len, -EINVAL, "no command");
	}
}

/* An admin write, acknowledged only once durable (REL-3): it is tried on a
 * copy of the registry and that copy's state is saved; only then does the
 * live registry (and so any map) take it. When the save fails nothing
 * changes, *not_saved is set and err says why. Without persistence the
 * write goes straight to the live registry. 0 or -errno with err. */
static int ctl_write(struct control *c, const char *actor, const struct admin_cmd *cmd,
                     const char *policy_text_in, size_t policy_len, char *err, size_t err_len,
                     bool *not_saved)
{
	char serr[STORAGE_ERR_LEN] = "";
	struct registry *copy = NULL;
	int rc;

	if (!c->state_path)
		return ctl_mutate(c->reg, actor, cmd, policy_text_in, policy_len, err, err_len);
	char *now = registry_to_json(c->reg);
	rc = now ? registry_from_json(now, strlen(now), &copy, serr, sizeof(serr)) : -ENOMEM;
	free(now);
	if (rc < 0)
		return err_setf(err, err_len, rc, "state not copied: %s; nothing changed",
		                rc == -ENOMEM ? strerror(ENOMEM) : serr);
	rc = ctl_mutate(copy, actor, cmd, policy_text_in, policy_len, err, err_len);
	if (rc < 0)
		goto out_free_copy;
	rc = ctl_store(c, copy, admin_cmd_name(cmd->kind), serr, sizeof(serr));
	if (rc < 0) {
		*not_saved = true;
		err_setf(err, err_len, rc, "state not saved: %s (%s); nothing changed",
		         strerror(-rc), serr);
		/* A failed directory fsync leaves the refused version visible
		 * on disk: rewrite what memory holds until a save succeeds. */
		c->dirty = true;
		if (!io_timer_armed(&c->recompute_timer))
			c->io->ops->timer_arm(c->io, &c->recompute_timer, CTL_SAVE_RETRY_US);
		goto out_free_copy;
	}
	rc = ctl_mutate(c->reg, actor, cmd, policy_text_in, policy_len, err, err_len);
	/* What was saved holds every change so far, node-driven ones too. The
	 * live registry refuses what the copy took only where state the copy
	 * lacks counts (a limit on host records, which advertisements fill):
	 * then the disk is ahead, and memory is written over it. */
	c->dirty = rc < 0;
	if (rc < 0 && !io_timer_armed(&c->recompute_timer))
		c->io->ops->timer_arm(c->io, &c->recompute_timer, CTL_SAVE_RETRY_US);
out_free_copy:
	registry_free(copy);
	return rc;
}

/* Runs a parsed command as `actor`. *json gets the result or {"error"}.
 * Returns 0 or -errno; *not_saved tells a write refused because its state
 * could not be made durable (the API's 503). */
static int ctl_exec(struct control *c, const char *actor, const struct admin_cmd *cmd,
                    const char *policy_text_in, size_t policy_len, char **json, bool *not_saved)
{
	char err[REG_ERR_LEN > POLICY_ERR_LEN ? REG_ERR_LEN : POLICY_ERR_LEN] = "";
	cJSON *res = NULL;
	int rc = 0;

	*json = NULL;
	*not_saved = false;
	if (!actor || !registry_user(c->reg, actor)) {
		rc = err_setf(err, sizeof(err), -EPERM, "unknown user \"%s\"", actor ? actor : "");
		goto refused;
	}
	switch (cmd->kind) {
	case ADMIN_CMD_SERVICES: {
		res = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(res, "services");
		for (size_t i = 0; a && i < registry_service_count(c->reg); i++)
			cJSON_AddItemToArray(a, ctl_service_json(c, registry_service(c->reg, i)));
		break;
	}
	case ADMIN_CMD_SERVICE: {
		int i = registry_service_index(c->reg, cmd->service);
		if (i < 0) {
			rc = err_setf(err, sizeof(err), -ENOENT, "unknown service \"%s\"",
			              cmd->service);
			goto refused;
		}
		res = ctl_service_json(c, registry_service(c->reg, (size_t)i));
		break;
	}
	case ADMIN_CMD_NODES: {
		res = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(res, "nodes");
		for (size_t i = 0; a && i < registry_node_count(c->reg); i++)
			cJSON_AddItemToArray(a, ctl_node_json(c, i));
		break;
	}
	case ADMIN_CMD_POLICY: {
		const char *t = policy_text(registry_policy(c->reg));
		res = cJSON_CreateObject();
		cJSON_AddStringToObject(res, "policy", t ? t : "");
		break;
	}
	case ADMIN_CMD_DEFINE: {
		bool is_new = registry_service_index(c->reg, cmd->service) < 0;
		rc = ctl_write(c, actor, cmd, NULL, 0, err, sizeof(err), not_saved);
		if (rc < 0)
			goto refused;
		ctl_ev(c, "service_defined", "s:service", cmd->service, "s:actor", actor, "b:new",
		       (int)is_new, NULL);
		int i = registry_service_index(c->reg, cmd->service);
		res = i >= 0 ? ctl_service_json(c, registry_service(c->reg, (size_t)i)) : NULL;
		break;
	}
	case ADMIN_CMD_DELETE:
		rc = ctl_write(c, actor, cmd, NULL, 0, err, sizeof(err), not_saved);
		if (rc < 0)
			goto refused;
		for (size_t i = 0; i < c->n_drains;) {
			if (strcmp(c->drains[i].service, cmd->service) == 0)
				ctl_drain_remove(c, i);
			else
				i++;
		}
		ctl_ev(c, "service_deleted", "s:service", cmd->service, "s:actor", actor, NULL);
		res = cJSON_CreateObject();
		cJSON_AddStringToObject(res, "deleted", cmd->service);
		break;
	case ADMIN_CMD_APPROVE:
	case ADMIN_CMD_REJECT:
	case ADMIN_CMD_REVOKE: {
		rc = ctl_write(c, actor, cmd, NULL, 0, err, sizeof(err), not_saved);
		if (rc < 0)
			goto refused;
		enum reg_decision d = cmd->kind == ADMIN_CMD_APPROVE  ? REG_DECISION_APPROVED
		                      : cmd->kind == ADMIN_CMD_REJECT ? REG_DECISION_REJECTED
		                                                      : REG_DECISION_REVOKED;
		ctl_ev(c, "host_decision", "s:service", cmd->service, "s:node_name", cmd->node,
		       "s:decision", ctl_decision_name(d), "s:actor", actor, NULL);
		int i = registry_service_index(c->reg, cmd->service);
		res = i >= 0 ? ctl_service_json(c, registry_service(c->reg, (size_t)i)) : NULL;
		break;
	}
	case ADMIN_CMD_SET_POLICY:
		rc = ctl_write(c, actor, cmd, policy_text_in, policy_len, err, sizeof(err),
		               not_saved);
		if (rc < 0)
			goto refused;
		ctl_ev(c, "policy_set", "s:actor", actor, "u:bytes", (uint64_t)policy_len, NULL);
		res = cJSON_CreateObject();
		cJSON_AddBoolToObject(res, "ok", true);
		break;
	default:
		rc = err_setf(err, sizeof(err), -EINVAL, "no command");
		goto refused;
	}
	if (!admin_cmd_read_only(cmd->kind)) {
		/* States right away: an admin action's outcome is an event
		 * even when the next change comes before the recompute. */
		ctl_state_events(c);
		ctl_schedule(c);
	}
	*json = res ? cJSON_PrintUnformatted(res) : NULL;
	cJSON_Delete(res);
	return *json ? 0 : -ENOMEM;
refused:
	if (rc == -EPERM)
		ctl_ev(c, "admin_refused", "s:actor", actor ? actor : "", "s:command",
		       admin_cmd_name(cmd->kind), "s:error", err, NULL);
	*json = ctl_error_json(err);
	return rc;
}

int control_admin_line(struct control *c, const char *actor, const char *line, char *out,
                       size_t out_len)
{
	struct admin_cmd cmd;
	char err[ADMIN_CMD_ERR_LEN > POLICY_ERR_LEN ? ADMIN_CMD_ERR_LEN : POLICY_ERR_LEN] = "";
	char *json = NULL, *text = NULL;
	size_t text_len = 0;
	bool not_saved = false;
	int rc;

	rc = admin_cmd_parse(&cmd, line, err, sizeof(err));
	if (rc == 0 && cmd.kind == ADMIN_CMD_SET_POLICY) {
		text = localapi_read_file(cmd.file, POLICY_MAX_BYTES, &text_len);
		if (!text)
			rc = err_setf(err, sizeof(err), errno == EFBIG ? -E2BIG : -errno,
			              "set-policy %s: %s", cmd.file,
			              errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
	}
	if (rc < 0)
		json = ctl_error_json(err);
	else
		rc = ctl_exec(c, actor, &cmd, text, text_len, &json, &not_saved);
	free(text);
	admin_cmd_free(&cmd);
	if (out && out_len) {
		size_t n = json ? strlen(json) : 0;
		if (n >= out_len) {
			snprintf(out, out_len, "{\"error\":\"output larger than the buffer\"}");
			if (rc == 0)
				rc = -ENOSPC;
		} else {
			memcpy(out, json ? json : "", n + 1);
		}
	}
	free(json);
	ctl_reap(c);
	return rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int ctl_listen(struct control *c, const struct io_addr *base, uint16_t port, io_sock_fn fn,
                      char *err, size_t err_len, const char *what)
{
	struct io_addr a = *base;
	char buf[IO_ADDR_STRLEN];

	a.port = port;
	int h = c->io->ops->tcp_listen(c->io, &a, CTL_BACKLOG, fn, c);
	if (h < 0)
		return err_setf(err, err_len, h, "%s listener on %s: %s", what,
		                io_addr_format(&a, true, buf, sizeof(buf)), strerror(-h));
	return h;
}

int control_new(struct control **out, struct io *io, const struct control_config *config)
{
	struct control *c = calloc(1, sizeof(*c));
	char *err = config->err;
	size_t err_len = config->err_len;
	uint8_t seed[CA_SEED_LEN];
	char rerr[CTL_ERR_LEN] = "";
	int rc;

	*out = NULL;
	if (!c)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	c->io = io;
	c->map_listener = c->admin_listener = -1;
	c->recompute_timer.fn = ctl_recompute_fn;
	c->sweep_timer.fn = ctl_sweep_fn;
	c->grace_timer.fn = ctl_grace_fn;
	c->heartbeat_us =
	    config->heartbeat_us ? config->heartbeat_us : MAPPROTO_HEARTBEAT_MS * 1000ull;
	c->dead_after_us =
	    config->dead_after_us ? config->dead_after_us : MAPPROTO_DEAD_AFTER_MS * 1000ull;
	c->idle_heartbeat_us = config->idle_heartbeat_us ? config->idle_heartbeat_us
	                                                 : MAPPROTO_IDLE_HEARTBEAT_MS * 1000ull;
	c->idle_dead_after_us = config->idle_dead_after_us ? config->idle_dead_after_us
	                                                   : MAPPROTO_IDLE_DEAD_AFTER_MS * 1000ull;
	c->lost_expiry_us =
	    config->lost_expiry_us ? config->lost_expiry_us : CONTROL_LOST_EXPIRY_US;
	c->restart_grace_us = config->restart_grace_us
	                          ? config->restart_grace_us
	                          : c->dead_after_us + MAPPROTO_RETRY_MAX_MS * 1000ull;
	c->name = strdup(config->name ? config->name : "control");
	c->tailnet = strdup(config->tailnet ? config->tailnet : "example.ts.net");
	c->state_path = config->state_path ? strdup(config->state_path) : NULL;
	c->prev_states = cJSON_CreateObject();
	if (!c->name || !c->tailnet || (config->state_path && !c->state_path) || !c->prev_states) {
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		goto fail;
	}
	c->storage = config->storage;
	if (c->state_path && !c->storage) {
		rc = err_setf(err, err_len, -EINVAL, "state %s: no storage to keep it in",
		              c->state_path);
		goto fail;
	}
	rc = 1;
	if (c->state_path) {
		rc = ctl_load(c, seed, err, err_len);
		if (rc < 0)
			goto fail;
	}
	if (rc == 1) {
		/* First start: bootstrap users, policy and a CA seed. */
		struct policy *p = NULL;
		rc = registry_new(&c->reg, c->tailnet);
		if (rc < 0) {
			err_setf(err, err_len, rc, "registry: %s", strerror(-rc));
			goto fail;
		}
		for (size_t i = 0; i < config->n_users; i++) {
			const struct control_user *u = &config->users[i];
			enum reg_role role;
			if (!u->login || reg_role_parse(u->role ? u->role : "", &role) < 0) {
				rc = err_setf(err, err_len, -EINVAL, "user \"%s\": bad role \"%s\"",
				              u->login ? u->login : "", u->role ? u->role : "");
				goto fail;
			}
			rc = registry_user_set(c->reg, u->login, role, u->display_name, u->token,
			                       rerr, sizeof(rerr));
			if (rc < 0) {
				err_setf(err, err_len, rc, "user \"%s\": %s", u->login, rerr);
				goto fail;
			}
		}
		if (config->policy_text)
			rc = policy_parse(config->policy_text, strlen(config->policy_text), &p,
			                  rerr, sizeof(rerr));
		else
			rc = policy_new_empty(&p);
		if (rc < 0) {
			err_setf(err, err_len, rc, "policy: %s", rerr);
			goto fail;
		}
		rc = registry_set_policy(c->reg, NULL, p, rerr, sizeof(rerr));
		if (rc < 0) {
			policy_free(p);
			err_setf(err, err_len, rc, "policy: %s", rerr);
			goto fail;
		}
		for (size_t i = 0; i < CA_SEED_LEN; i += 8) {
			uint64_t r = io->ops->random_u64(io);
			memcpy(seed + i, &r, 8);
		}
		c->dirty = true;
	}
	registry_set_latency_fn(c->reg, config->latency_fn, config->latency_ctx);
	rc = ca_new(&c->ca, seed, c->tailnet, rerr, sizeof(rerr));
	if (rc < 0) {
		err_setf(err, err_len, rc, "CA: %s", rerr);
		goto fail;
	}
	const struct mapgen_options mo = {
	    .ca_pem = ca_cert_pem(c->ca), .cert_fn = ctl_cert_fn, .cert_ctx = c};
	rc = mapgen_new(&c->mg, c->reg, &mo);
	if (rc < 0) {
		err_setf(err, err_len, rc, "mapgen: %s", strerror(-rc));
		goto fail;
	}
	if (c->dirty && c->state_path) {
		char serr[STORAGE_ERR_LEN] = "";
		rc = ctl_store(c, c->reg, "bootstrap", serr, sizeof(serr));
		if (rc < 0) {
			err_setf(err, err_len, rc, "state %s", serr);
			goto fail;
		}
	}
	c->dirty = false;
	struct io_addr base = config->listen;
	if (base.family == IO_AF_NONE)
		io_addr_v4(&base, 0, 0);
	rc = ctl_listen(c, &base, config->map_port ? config->map_port : MAPPROTO_DEFAULT_PORT,
	                ctl_map_listen_cb, err, err_len, "map");
	if (rc < 0)
		goto fail;
	c->map_listener = rc;
	rc = ctl_listen(c, &base,
	                config->admin_port ? config->admin_port : MAPPROTO_DEFAULT_ADMIN_PORT,
	                ctl_admin_listen_cb, err, err_len, "admin");
	if (rc < 0)
		goto fail;
	c->admin_listener = rc;
	io->ops->timer_arm(io, &c->sweep_timer, c->heartbeat_us / 2);
	ctl_grace_start(c);
	ctl_state_events(c);
	ctl_ev(c, "control_ready", "s:tailnet", c->tailnet, "u:services",
	       (uint64_t)registry_service_count(c->reg), "u:nodes",
	       (uint64_t)registry_node_count(c->reg), NULL);
	*out = c;
	return 0;
fail:
	control_free(c);
	return rc;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	struct io *io = c->io;
	io->ops->timer_disarm(io, &c->recompute_timer);
	io->ops->timer_disarm(io, &c->sweep_timer);
	if (io_timer_armed(&c->grace_timer))
		io->ops->timer_disarm(io, &c->grace_timer);
	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctl_session *s = c->sessions[i];
		if (!s->closed)
			io->ops->close(io, s->handle, false);
		ctl_session_free(s);
	}
	free(c->sessions);
	free(c->by_node);
	for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS; i++)
		if (c->admins[i]) {
			if (!c->admins[i]->closed)
				io->ops->close(io, c->admins[i]->handle, false);
			ctl_admin_free(c->admins[i]);
		}
	if (c->map_listener >= 0)
		io->ops->close(io, c->map_listener, false);
	if (c->admin_listener >= 0)
		io->ops->close(io, c->admin_listener, false);
	for (size_t i = 0; i < c->n_drains; i++)
		ctl_drain_free(&c->drains[i]);
	free(c->drains);
	free(c->lost);
	for (size_t i = 0; i < c->n_certs; i++) {
		free(c->certs[i].service);
		free(c->certs[i].key);
		free(c->certs[i].pem);
	}
	free(c->certs);
	mapgen_free(c->mg);
	ca_free(c->ca);
	registry_free(c->reg);
	cJSON_Delete(c->prev_states);
	free(c->name);
	free(c->tailnet);
	free(c->state_path);
	free(c);
}

const struct registry *control_registry(const struct control *c)
{
	return c->reg;
}

const char *control_ca_pem(const struct control *c)
{
	return ca_cert_pem(c->ca);
}

uint64_t control_acked_version(const struct control *c, const char *node)
{
	int i = registry_node_index(c->reg, node);

	if (i < 0 || (size_t)i >= c->by_node_cap || !c->by_node[i])
		return 0;
	return c->by_node[i]->version_acked;
}
