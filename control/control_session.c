/* Map sessions (lib/wire/mapproto.h inside lib/wire/mapsec.h): accepting
 * them, the Noise handshake, sealing and queueing output with a bound (slow
 * consumers are closed), reading and opening frames, the hello that
 * registers a node (bound to the key its session proved), advertisements, acks, and closing a
 * session (which makes its node dead or lost). */
#include "control/control_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"
#include "lib/wire/mapproto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- map sessions: output ----------------------------------------------- */

static void ctl_session_flush(struct ctl_session *s)
{
	struct io *io = s->c->io;

	while (!s->closed && s->out_off < s->out.len) {
		ssize_t w = io->ops->tcp_write(io, s->handle, s->out.data + s->out_off,
		                               s->out.len - s->out_off);
		if (w == -EAGAIN)
			break;
		if (w < 0) {
			ctl_session_close(s, "write failed", true);
			return;
		}
		s->out_off += (size_t)w;
		s->last_tx_us = io->ops->now_us(io);
	}
	if (s->out_off == s->out.len) {
		buf_reset(&s->out);
		s->out_off = 0;
	}
}

/* Queues one frame (`zlib`: a deflated payload); a session whose queue
 * passes its bound is closed as a slow consumer. 0 or -errno (the session
 * is closed then). */
int ctl_session_queue(struct ctl_session *s, const void *payload, size_t len, bool zlib)
{
	size_t queued = s->out.len - s->out_off;
	size_t limit = CONTROL_SESSION_OUT_SLACK + CONTROL_SESSION_OUT_MAPS * s->max_msg;
	uint8_t hdr[MAPPROTO_HDR_LEN];
	/* Everything after the handshake response goes sealed. */
	bool seal = s->sealed;
	size_t wire = len + (seal ? MAPSEC_OVERHEAD : 0);

	if (s->closed)
		return -EPIPE;
	/* The limit is the payload's; its seal's tag comes on top. */
	if (len > MAPPROTO_MAX_FRAME) {
		ctl_session_close(s, "frame too large to send", true);
		return -E2BIG;
	}
	if (queued + wire + MAPPROTO_HDR_LEN > limit) {
		io_event(s->c->io, "session_error",
		         IO_STR("node_name", ctl_node_name(s->c, s->node)),
		         IO_STR("error", "slow consumer"), IO_U64("queued", queued));
		ctl_session_close(s, "slow consumer", true);
		return -ENOBUFS;
	}
	/* What was written goes before the queue grows for more. */
	if (s->out_off && buf_room(&s->out) < wire + MAPPROTO_HDR_LEN) {
		buf_drop_front(&s->out, s->out_off);
		s->out_off = 0;
	}
	mapproto_frame_header(hdr, (uint32_t)wire | (zlib ? MAPPROTO_FRAME_ZLIB : 0));
	if (buf_reserve(&s->out, wire + MAPPROTO_HDR_LEN) < 0) {
		ctl_session_close(s, "out of memory", true);
		return -ENOMEM;
	}
	buf_append(&s->out, hdr, sizeof(hdr));
	if (!seal) {
		buf_append(&s->out, payload, len);
	} else if (mapsec_seal(&s->sec, hdr, payload, len, (uint8_t *)s->out.data + s->out.len) <
	           0) {
		ctl_session_close(s, "cannot seal a frame", true);
		return -EPIPE;
	} else {
		buf_commit(&s->out, wire);
	}
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

void ctl_session_send_simple(struct ctl_session *s, const char *type, const char *key,
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

/* A session's liveness pair: the hosts' one before the hello and for
 * nodes advertising a service, the idle one otherwise. */
uint64_t ctl_session_heartbeat_us(const struct ctl_session *s)
{
	return s->node < 0 || s->host_liveness ? s->c->heartbeat_us : s->c->idle_heartbeat_us;
}

uint64_t ctl_session_dead_after_us(const struct ctl_session *s)
{
	return s->node < 0 || s->host_liveness ? s->c->dead_after_us : s->c->idle_dead_after_us;
}

/* Sends the session's liveness pair as a frame of `type` (welcome or
 * liveness). */
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
void ctl_session_fail(struct ctl_session *s, const char *msg)
{
	io_event(s->c->io, "session_error", IO_STR("node_name", ctl_node_name(s->c, s->node)),
	         IO_STR("error", msg));
	/* Before the handshake the peer has proven nothing: it learns nothing. */
	if (s->sealed)
		ctl_session_send_simple(s, "error", "message", msg, NULL, NULL);
	ctl_session_close(s, msg, true);
}

/* ---- map sessions: lifecycle -------------------------------------------- */

void ctl_session_close(struct ctl_session *s, const char *reason, bool dead)
{
	struct control *c = s->c;

	if (s->closed)
		return;
	s->closed = true;
	c->n_to_reap++;
	c->io->ops->close(c->io, s->handle, false);
	s->handle = -1;
	if (s->node >= 0) {
		io_event(c->io, "session_closed", IO_STR("node_name", ctl_node_name(c, s->node)),
		         IO_STR("reason", reason));
		if ((size_t)s->node < c->by_node_cap && c->by_node[s->node] == s) {
			c->by_node[s->node] = NULL;
			registry_node_set_connected(c->reg, (size_t)s->node, false);
			if (dead) {
				if (s->silent)
					ctl_mark_lost(c, (size_t)s->node);
				else
					registry_node_set_alive(c->reg, (size_t)s->node, false);
				io_event(c->io, "node_dead",
				         IO_STR("node_name", ctl_node_name(c, s->node)),
				         IO_STR("reason", reason), IO_BOOL("lost", s->silent));
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

void ctl_session_free(struct ctl_session *s)
{
	mapgen_sent_free(s->sent);
	cJSON_Delete(s->ranks);
	mapsec_clear(&s->sec);
	buf_free(&s->in);
	buf_free(&s->out);
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

const char *ctl_json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The tags of a hello into tags[] (pointing into msg): NULL, or what is
 * wrong with them. */
static const char *ctl_hello_tags(const cJSON *msg, const char **tags, size_t *n_tags)
{
	const cJSON *jt = cJSON_GetObjectItemCaseSensitive(msg, "tags"), *e;

	if (jt && !cJSON_IsArray(jt))
		return "hello: \"tags\" must be an array of strings";
	cJSON_ArrayForEach(e, jt)
	{
		if (!cJSON_IsString(e))
			return "hello: \"tags\" must be an array of strings";
		if (*n_tags == REG_MAX_TAGS)
			return "hello: too many tags";
		tags[(*n_tags)++] = e->valuestring;
	}
	return NULL;
}

/* The data-plane endpoint a hello names into info->endpoint, with its text
 * in *text (ep_buf when it had to be formatted): NULL, or what is wrong. */
static const char *ctl_hello_endpoint(struct ctl_session *s, const cJSON *msg,
                                      struct reg_node_info *info, const char **text, char *ep_buf,
                                      size_t ep_len)
{
	struct io *io = s->c->io;

	*text = ctl_json_str(msg, "endpoint");
	if (*text) {
		if (io_addr_parse(&info->endpoint, *text, CTL_DEFAULT_ENDPOINT) < 0)
			return "hello: \"endpoint\" must be ADDR:PORT";
		return NULL;
	}
	/* No endpoint named: the address the session comes from, on the data
	 * plane's default port. */
	if (io->ops->sock_name(io, s->handle, true, &info->endpoint) < 0)
		return "hello: \"endpoint\" missing";
	info->endpoint.port = CTL_DEFAULT_ENDPOINT;
	*text = io_addr_format(&info->endpoint, true, ep_buf, ep_len);
	return NULL;
}

/* Reads a hello: its protocol version and compression (into the session),
 * the node's name, user, region, key and tags (into info and tags[]), and
 * its endpoint. NULL, or what is wrong with it. */
static const char *ctl_hello_read(struct ctl_session *s, const cJSON *msg,
                                  struct reg_node_info *info, const char **tags,
                                  const char **endpoint, char *ep_buf, size_t ep_len)
{
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(msg, "proto");
	const char *compress = ctl_json_str(msg, "compress");
	const char *bad;

	if (!cJSON_IsNumber(proto) || proto->valuedouble != MAPPROTO_VERSION)
		return "hello: \"proto\" must be 1";
	/* Other schemes (a newer daemon's) are not taken up: plain frames. */
	s->zlib = compress && strcmp(compress, "zlib") == 0;
	*info = (struct reg_node_info){
	    .name = ctl_json_str(msg, "node"),
	    .user = ctl_json_str(msg, "user"),
	    .region = ctl_json_str(msg, "region"),
	    .tls_key = ctl_json_str(msg, "tls_key"),
	    .tags = tags,
	};
	if (!info->name || !info->name[0])
		return "hello: \"node\" missing";
	if (!info->user)
		info->user = "";
	if (!info->region)
		info->region = "";
	bad = ctl_hello_tags(msg, tags, &info->n_tags);
	if (bad)
		return bad;
	return ctl_hello_endpoint(s, msg, info, endpoint, ep_buf, ep_len);
}

/* A node's earlier session, if any, gives way to `s` (the same node name
 * again: the new session replaces the old). */
static void ctl_replace_old_session(struct ctl_session *s, size_t idx, const char *name)
{
	struct control *c = s->c;
	struct ctl_session *old = c->by_node[idx];
	static const char why[] = "replaced by a new session for the same node";

	if (!old || old == s)
		return;
	c->by_node[idx] = NULL;
	io_event(c->io, "session_error", IO_STR("node_name", name), IO_STR("error", why));
	ctl_session_send_simple(old, "error", "message", why, NULL, NULL);
	ctl_session_close(old, "replaced", false);
}

/* A session that may not speak for the node it names: refused with an
 * event naming the key it proved, and nothing about the node changes. */
static void ctl_session_refuse(struct ctl_session *s, const char *name, const char *why)
{
	char key[WG_KEY_BASE64_LEN + 1] = "";

	if (s->sealed)
		wg_key_to_base64(key, s->sec.peer_pub);
	io_event(s->c->io, "session_refused", IO_STR("node_name", name), IO_STR("key", key),
	         IO_STR("reason", why));
	ctl_session_fail(s, why);
}

/* A replayed handshake never gets this far (it cannot seal a hello); this
 * keeps a live session from being replaced by an older one all the same. */
static bool ctl_hello_older_than_live(const struct ctl_session *s, const char *name)
{
	const struct control *c = s->c;
	int idx = registry_node_index(c->reg, name);
	const struct ctl_session *live =
	    idx >= 0 && (size_t)idx < c->by_node_cap ? c->by_node[idx] : NULL;

	return live && live != s && memcmp(live->hs_ts, s->hs_ts, WG_TIMESTAMP_LEN) >= 0;
}

/* Who the hello's node is (SEC-1), into info: a node control knows keeps
 * the user and tags on record, whatever the hello claims; a new one joins
 * with an auth key and gets the key's tags (and, for a key without tags,
 * its owner as the node's user). A claim the key does not back is
 * refused. 0 with *authkey the key's index (-1 for a known node), or the
 * refusal (err says why). */
static int ctl_hello_identity(struct ctl_session *s, const cJSON *msg, struct reg_node_info *info,
                              int *authkey, char *err, size_t err_len)
{
	struct registry *reg = s->c->reg;
	int idx = registry_node_index(reg, info->name);
	const char *text = ctl_json_str(msg, "auth_key");

	bool keyless = false;

	*authkey = -1;
	if (idx < 0)
		idx = registry_node_by_key(reg, info->key);
	if (idx >= 0) {
		const struct reg_node *n = registry_node(reg, (size_t)idx);
		info->user = n->user;
		info->tags = (const char *const *)n->tags;
		info->n_tags = n->n_tags;
		if (n->has_key || n->key_revoked)
			return 0;
		/* Saved before node keys: whoever first names it must show an
		 * auth key for exactly its identity, or anyone could take it. */
		keyless = true;
	}
	if (!text || !text[0])
		return err_setf(err, err_len, -EACCES,
		                keyless
		                    ? "node %s has no node key yet: binding one needs an auth key"
		                    : "node %s is not registered: joining needs an auth key",
		                info->name);
	int k = registry_authkey_check(reg, text, ctl_wall_s(s->c), err, err_len);
	if (k < 0)
		return k;
	const struct reg_authkey *key = registry_authkey(reg, (size_t)k);
	for (size_t i = 0; i < info->n_tags; i++) {
		bool carried = false;
		for (size_t j = 0; j < key->n_tags && !carried; j++)
			carried = strcmp(info->tags[i], key->tags[j]) == 0;
		if (!carried)
			return err_setf(err, err_len, -EPERM,
			                "%s: tag %.80s is not carried by auth key %s%s-...",
			                info->name, info->tags[i], REG_AUTHKEY_PREFIX, key->id);
	}
	if (keyless && key->n_tags != info->n_tags)
		return err_setf(err, err_len, -EPERM,
		                "%s: auth key %s%s-... does not carry exactly the node's tags",
		                info->name, REG_AUTHKEY_PREFIX, key->id);
	const char *owner = key->n_tags ? "" : key->created_by;
	if (info->user && info->user[0] && strcmp(info->user, owner) != 0 &&
	    !(keyless && key->n_tags))
		return err_setf(err, err_len, -EPERM,
		                "%s: user %.80s does not own auth key %s%s-...", info->name,
		                info->user, REG_AUTHKEY_PREFIX, key->id);
	info->user = owner;
	info->tags = (const char *const *)key->tags;
	info->n_tags = key->n_tags;
	*authkey = k;
	return 0;
}

/* A hello registers the node (new or known), binds the session to it,
 * makes it connected and alive, and welcomes it with its liveness pair. */
static void ctl_on_hello(struct ctl_session *s, const cJSON *msg)
{
	struct control *c = s->c;
	char err[REG_ERR_LEN] = "", ep_buf[IO_ADDR_STRLEN];
	const char *tags[REG_MAX_TAGS], *endpoint = NULL;
	struct reg_node_info info;
	const char *bad = ctl_hello_read(s, msg, &info, tags, &endpoint, ep_buf, sizeof(ep_buf));

	if (bad) {
		ctl_session_fail(s, bad);
		return;
	}
	size_t before = registry_node_count(c->reg);
	int idx = registry_node_index(c->reg, info.name);
	bool was_alive = idx >= 0 && registry_node(c->reg, (size_t)idx)->alive;
	/* Counted alive by the restart grace, and back now. */
	bool was_presumed = c->grace && was_alive && !registry_node(c->reg, (size_t)idx)->connected;
	if (ctl_hello_older_than_live(s, info.name)) {
		ctl_session_refuse(s, info.name, "a handshake older than the node's live session");
		return;
	}
	info.key = s->sec.peer_pub;
	const struct reg_node *known = idx >= 0 ? registry_node(c->reg, (size_t)idx) : NULL;
	bool rotating =
	    known && known->has_next_key && memcmp(known->next_key, info.key, REG_KEY_LEN) == 0;
	int ak;
	if (ctl_hello_identity(s, msg, &info, &ak, err, sizeof(err)) < 0) {
		ctl_session_refuse(s, info.name, err);
		return;
	}
	int rc = registry_node_register(c->reg, &info, err, sizeof(err));
	if (rc == -EKEYREJECTED || rc == -EKEYREVOKED) {
		ctl_session_refuse(s, info.name, err);
		return;
	}
	if (rc >= 0 && ak >= 0)
		registry_authkey_spend(c->reg, (size_t)ak);
	if (rc >= 0 && rotating) {
		char b64[WG_KEY_BASE64_LEN + 1];
		wg_key_to_base64(b64, info.key);
		io_event(c->io, "node_key_rotated", IO_STR("node_name", info.name),
		         IO_STR("key", b64));
	}
	if (rc < 0) {
		ctl_session_fail(s, err[0] ? err : strerror(-rc));
		return;
	}
	idx = rc;
	if (ctl_by_node_grow(c, (size_t)idx) < 0) {
		ctl_session_fail(s, "out of memory");
		return;
	}
	ctl_replace_old_session(s, (size_t)idx, info.name);
	c->by_node[idx] = s;
	s->node = idx;
	registry_node_set_connected(c->reg, (size_t)idx, true);
	registry_node_set_alive(c->reg, (size_t)idx, true);
	io_event(c->io, "node_registered", IO_STR("node_name", info.name),
	         IO_BOOL("new", registry_node_count(c->reg) > before),
	         IO_STR("region", info.region));
	io_event(c->io, "session_open", IO_STR("node_name", info.name),
	         IO_STR("endpoint", endpoint));
	if (!was_alive || was_presumed)
		io_event(c->io, "node_alive", IO_STR("node_name", info.name));
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

/* One advertisement's services, as the registry takes them. */
struct ctl_adverts {
	struct reg_advert *ad;
	uint16_t (*ports)[REG_MAX_PORTS];
	bool *was_draining; /* the host was advertised draining before */
	size_t n;
};

/* One advertised service into a->ad[a->n] (its ports into a->ports[a->n]):
 * NULL, or what is wrong with it. */
static const char *ctl_advert_read(struct ctl_session *s, const cJSON *e, struct ctl_adverts *a)
{
	struct control *c = s->c;
	const char *name = ctl_json_str(e, "name");
	const cJSON *jp = cJSON_GetObjectItemCaseSensitive(e, "ports"), *p;
	const cJSON *dr = cJSON_GetObjectItemCaseSensitive(e, "draining");
	const cJSON *tun = cJSON_GetObjectItemCaseSensitive(e, "tun");
	size_t np = 0;

	if (!cJSON_IsObject(e) || !name || (jp && !cJSON_IsArray(jp)) ||
	    (dr && !cJSON_IsBool(dr)) || (tun && !cJSON_IsBool(tun)))
		return "advertise: each service is {\"name\", \"draining\", \"tun\", \"ports\"}";
	cJSON_ArrayForEach(p, jp)
	{
		if (!cJSON_IsNumber(p) || p->valuedouble < 1 || p->valuedouble > 65535 ||
		    p->valuedouble != (double)(int)p->valuedouble)
			return "advertise: ports are numbers 1-65535";
		if (np == REG_MAX_PORTS)
			return "advertise: too many ports";
		a->ports[a->n][np++] = (uint16_t)p->valueint;
	}
	int hi = registry_host_index(c->reg, name, ctl_node_name(c, s->node));
	const struct reg_host *h = hi >= 0 ? registry_host(c->reg, (size_t)hi) : NULL;
	a->was_draining[a->n] = h && h->advertising && h->draining;
	a->ad[a->n] = (struct reg_advert){.service = name,
	                                  .draining = cJSON_IsTrue(dr),
	                                  .tun = cJSON_IsTrue(tun),
	                                  .n_config_ports = np,
	                                  .config_ports = a->ports[a->n]};
	a->n++;
	return NULL;
}

/* host_advertised for each service; when the registry refused the
 * advertisement (rc < 0), advertise_refused for each to the node. False
 * when the session closed meanwhile. */
static bool ctl_advert_report(struct ctl_session *s, const struct ctl_adverts *a, int rc,
                              const char *err)
{
	struct control *c = s->c;
	const char *node = ctl_node_name(c, s->node);

	for (size_t i = 0; i < a->n; i++) {
		const struct reg_advert *ad = &a->ad[i];
		io_event(c->io, "host_advertised", IO_STR("node_name", node),
		         IO_STR("service", ad->service), IO_BOOL("draining", ad->draining),
		         IO_BOOL("defined", registry_service_index(c->reg, ad->service) >= 0));
		if (rc < 0) {
			ctl_session_send_simple(s, "advertise_refused", "service", ad->service,
			                        "message", err[0] ? err : strerror(-rc));
			if (s->closed)
				return false;
		}
	}
	return true;
}

/* Drains of this host that ended (advertised again or withdrawn), and
 * drains that start now. */
static void ctl_advert_drains(struct ctl_session *s, const struct ctl_adverts *a)
{
	struct control *c = s->c;
	const char *node = ctl_node_name(c, s->node);

	for (size_t i = 0; i < c->n_drains;) {
		struct ctl_drain *d = &c->drains[i];
		bool still = false;
		for (size_t j = 0; j < a->n && d->host == (size_t)s->node; j++)
			if (strcmp(a->ad[j].service, d->service) == 0 && a->ad[j].draining)
				still = true;
		if (d->host == (size_t)s->node && !still)
			ctl_drain_remove(c, i);
		else
			i++;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->ad[i].draining && !a->was_draining[i] &&
		    registry_host_index(c->reg, a->ad[i].service, node) >= 0)
			ctl_drain_start(c, a->ad[i].service, (size_t)s->node);
}

/* An advertisement replaces the node's advertised services: read, given
 * to the registry, reported, drains started or ended, and the session
 * moved to the host or the idle liveness pair. */
static void ctl_on_advertise(struct ctl_session *s, const cJSON *msg)
{
	struct control *c = s->c;
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(msg, "services"), *e;
	struct ctl_adverts a = {0};
	char err[REG_ERR_LEN] = "";
	const char *bad = NULL;

	if (!cJSON_IsArray(svcs)) {
		ctl_session_fail(s, "advertise: \"services\" must be an array");
		return;
	}
	size_t max = (size_t)cJSON_GetArraySize(svcs);
	if (max > REG_MAX_SERVICES) {
		ctl_session_fail(s, "advertise: more services than control accepts");
		return;
	}
	a.ad = calloc(max + 1, sizeof(*a.ad));
	a.ports = calloc(max + 1, sizeof(*a.ports));
	a.was_draining = calloc(max + 1, sizeof(*a.was_draining));
	if (!a.ad || !a.ports || !a.was_draining) {
		bad = "out of memory";
		goto out;
	}
	cJSON_ArrayForEach(e, svcs)
	{
		bad = ctl_advert_read(s, e, &a);
		if (bad)
			goto out;
	}
	uint64_t gen = registry_generation(c->reg);
	int rc = registry_advertise(c->reg, (size_t)s->node, a.ad, a.n, err, sizeof(err));
	if (registry_generation(c->reg) != gen)
		c->dirty = true; /* which hosts are serving is saved (STR-8) */
	if (!ctl_advert_report(s, &a, rc, err))
		goto out;
	ctl_advert_drains(s, &a);
	ctl_session_set_host_liveness(s, a.n > 0);
	if (s->closed)
		goto out;
	ctl_drain_check(c);
	ctl_schedule(c);
out:
	if (bad)
		ctl_session_fail(s, bad);
	free(a.ad);
	free(a.ports);
	free(a.was_draining);
}

/* A node moves to a new key (SEC-2), asked in a session that proved the
 * current one: recorded durably before the answer, so a crash on either
 * side never leaves the node with a key control does not take. */
static void ctl_on_rotate_key(struct ctl_session *s, const cJSON *msg)
{
	struct control *c = s->c;
	const char *hex = ctl_json_str(msg, "key");
	char err[REG_ERR_LEN] = "", b64[WG_KEY_BASE64_LEN + 1];
	uint8_t key[REG_KEY_LEN];

	if (!hex || !hex_decode(hex, key, sizeof(key))) {
		ctl_session_fail(s, "rotate_key: \"key\" must be 64 hex digits");
		return;
	}
	uint64_t gen = registry_generation(c->reg);
	int rc = registry_node_set_next_key(c->reg, (size_t)s->node, key, err, sizeof(err));
	/* The same key again (a retry) changes nothing and writes nothing. */
	if (rc == 0 && c->state_path && registry_generation(c->reg) != gen)
		rc = ctl_store(c, c->reg, "rotate_key", err, sizeof(err));
	if (rc < 0) {
		io_event(c->io, "node_key_rotation_refused",
		         IO_STR("node_name", ctl_node_name(c, s->node)), IO_STR("reason", err));
		ctl_session_fail(s, err);
		return;
	}
	wg_key_to_base64(b64, key);
	io_event(c->io, "node_key_rotation", IO_STR("node_name", ctl_node_name(c, s->node)),
	         IO_STR("key", b64));
	ctl_session_send_simple(s, "key_rotated", "key", hex, NULL, NULL);
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
		io_event(c->io, "netmap_acked", IO_STR("node_name", ctl_node_name(c, s->node)),
		         IO_U64("version", ver));
		ctl_drain_acked(c, s->id, ver);
		break;
	}
	case MAPPROTO_RESYNC:
		mapgen_sent_reset(s->sent);
		ctl_session_send_map(s);
		break;
	case MAPPROTO_HEARTBEAT:
		break;
	case MAPPROTO_ROTATE_KEY:
		ctl_on_rotate_key(s, msg);
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

/* The node's Noise handshake, its first frame (lib/wire/mapsec.h):
 * answered as it is; everything after goes sealed both ways. */
static void ctl_on_handshake(struct ctl_session *s, const uint8_t *msg, size_t len)
{
	struct control *c = s->c;
	uint8_t e[WG_KEY_LEN], resp[MAPSEC_RESP_LEN];
	int rc;

	c->io->ops->random_secret(c->io, e, sizeof(e));
	rc = mapsec_server_accept(&s->sec, &c->key, msg, len, e, s->hs_ts, resp);
	OPENSSL_cleanse(e, sizeof(e));
	if (rc < 0) {
		ctl_session_refuse(s, "",
		                   rc == -EINVAL
		                       ? "the first frame is not a map handshake"
		                       : "the handshake does not open under control's key");
		return;
	}
	if (ctl_session_queue(s, resp, sizeof(resp), false) == 0)
		s->sealed = true;
}

static void ctl_on_wire_frame(struct ctl_session *s, uint8_t *payload, size_t len)
{
	if (!s->sealed) {
		ctl_on_handshake(s, payload, len);
		return;
	}
	/* In place: the frame is ours until the next read. */
	if (mapsec_open(&s->sec, payload - MAPPROTO_HDR_LEN, payload, len, payload) < 0) {
		ctl_session_fail(s, "a frame that does not open under the session's keys");
		return;
	}
	ctl_on_frame(s, payload, len - MAPSEC_OVERHEAD);
}

static void ctl_session_read(struct ctl_session *s)
{
	struct io *io = s->c->io;

	while (!s->closed) {
		/* Room for a chunk, up to the largest frame a node may send. */
		if (buf_room(&s->in) < CTL_READ_CHUNK && s->in.len < s->in.max) {
			size_t want = s->in.max - s->in.len;
			if (buf_reserve(&s->in, want < CTL_READ_CHUNK ? want : CTL_READ_CHUNK) <
			    0) {
				ctl_session_close(s, "out of memory", true);
				return;
			}
		}
		ssize_t r =
		    io->ops->tcp_read(io, s->handle, s->in.data + s->in.len, buf_room(&s->in));
		if (r == -EAGAIN)
			return;
		if (r <= 0) {
			ctl_session_close(s, r == 0 ? "closed by the node" : "connection error",
			                  true);
			return;
		}
		buf_commit(&s->in, (size_t)r);
		s->last_rx_us = io->ops->now_us(io);
		size_t off = 0;
		while (!s->closed) {
			const uint8_t *payload;
			size_t plen;
			ssize_t fl =
			    mapproto_frame_parse((const uint8_t *)s->in.data + off, s->in.len - off,
			                         MAPPROTO_MAX_UP_FRAME, &payload, &plen, NULL);
			if (fl == -2)
				break;
			if (fl < 0) {
				ctl_session_fail(
				    s, "bad frame length (0, above 1 MiB, or compressed)");
				return;
			}
			ctl_on_wire_frame(s, (uint8_t *)payload, plen);
			off += (size_t)fl;
		}
		if (s->closed)
			return;
		buf_drop_front(&s->in, off);
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
		if (!s->closed && s->map_pending && s->out_off == s->out.len)
			ctl_session_send_map(s);
	}
	if (!s->closed && (events & IO_READABLE))
		ctl_session_read(s);
	ctl_reap(c);
}

void ctl_map_listen_cb(void *ctx, int listener, unsigned events)
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
		s->in = BUF_INIT(MAPPROTO_MAX_UP_FRAME + MAPPROTO_HDR_LEN);
		s->out = BUF_INIT(BUF_NO_MAX);
		int h = c->io->ops->tcp_accept(c->io, listener, &peer, ctl_session_cb, s);
		if (h < 0) {
			free(s);
			break;
		}
		s->handle = h;
		/* REL-1: sessions leave the handle reserve to the admin API. */
		if (c->n_sessions >= CONTROL_MAX_SESSIONS || io_handles_scarce(c->io, 0)) {
			c->io->ops->close(c->io, h, true);
			io_event(c->io, "session_error", IO_STR("node_name", ""),
			         IO_STR("error", "too many sessions"));
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

void ctl_node_key_revoked(struct control *c, size_t node)
{
	struct ctl_session *s = node < c->by_node_cap ? c->by_node[node] : NULL;
	static const char why[] = "its node key was revoked by an admin";

	if (s) {
		io_event(c->io, "session_error", IO_STR("node_name", ctl_node_name(c, s->node)),
		         IO_STR("error", why));
		ctl_session_send_simple(s, "error", "message", why, NULL, NULL);
		ctl_session_close(s, why, true);
	}
	registry_node_set_alive(c->reg, node, false);
	c->dirty = true;
	ctl_schedule(c);
}
