/* Map sessions (lib/wire/mapproto.h): accepting them, framing and queueing
 * output with a bound (slow consumers are closed), reading frames, the
 * hello that registers a node, advertisements, acks, and closing a session
 * (which makes its node dead or lost). */
#include "control/control_int.h"

#include "lib/base/check.h"
#include "lib/wire/mapproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- map sessions: output ----------------------------------------------- */

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
int ctl_session_queue(struct ctl_session *s, const void *payload, size_t len, bool zlib)
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
		io_event(s->c->io, "session_error",
		         IO_STR("node_name", ctl_node_name(s->c, s->node)),
		         IO_STR("error", "slow consumer"), IO_U64("queued", queued));
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

/* Sends the session's liveness pair as a frame of `type` (welcome or
 * liveness). */
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

const char *ctl_json_str(const cJSON *o, const char *key)
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
		io_event(c->io, "session_error", IO_STR("node_name", info.name),
		         IO_STR("error", "replaced by a new session for the same node"));
		ctl_session_send_simple(old, "error", "message",
		                        "replaced by a new session for the same node", NULL, NULL);
		ctl_session_close(old, "replaced", false);
	}
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
		io_event(c->io, "host_advertised", IO_STR("node_name", node),
		         IO_STR("service", ad[i].service), IO_BOOL("draining", ad[i].draining),
		         IO_BOOL("defined", registry_service_index(c->reg, ad[i].service) >= 0));
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
