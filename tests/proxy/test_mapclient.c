/* The node daemon's map session with control, end to end on the seam
 * (dp_fixture: sim or epoll backend).
 *
 *   client  node 0: a FAKE control written here (a seam TCP listener on
 *           its underlay address speaking mapproto frames with cJSON), and
 *           a svcd WITHOUT control (its netmap is set directly), used as
 *           the tailnet client;
 *   host-a  node 1: svcd with config.control pointing at the fake control;
 *   host-b  node 2: the same.
 *
 * The netmaps the fake control sends are the ones test_svcd.c uses:
 * svc:web on VIP 100.100.0.5, svc:dns on 100.100.0.6; host-a may host
 * both, host-b svc:web. Each host runs an HTTP backend on 127.0.0.1:8080
 * and a TCP echo on 127.0.0.1:9000. */
#define _GNU_SOURCE
#include "apps/backend_apps.h"
#include "apps/http_backend.h"
#include "lib/wire/ca.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/mapsec.h"
#include "lib/wire/tls.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/mapclient.h"
#include "proxy/svcd.h"
#include "tests/proxy/dp_fixture.h"
#include "tests/proxy/l7/http_support.h"
#include "tests/proxy/tconn.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MAPCLIENT_SUITE
#define MAPCLIENT_SUITE mapclient
#endif

/* Wall-clock runs (epoll) leave out the tests that count timer ticks or
 * wait out long backoffs (marked SIM_ONLY): those need the sim's exact time.
 * They are not built there, rather than disabled, so that no skipped test
 * hides in the count. */

#define CLIENT          0
#define HOST_A          1
#define HOST_B          2
#define WEB_VIP         "100.100.0.5"
#define DNS_VIP         "100.100.0.6"
#define GRACE_US        (1000000ull)
#define STEP_TIMEOUT_US (10ull * 1000000)
#define FC_PORT         MAPPROTO_DEFAULT_PORT
#define FC_MAX_SESS     32
#define FC_MAX_MSGS     512
#define FC_IN_MAX       (1u << 20)

/* A node key's secret for node i (fixed: a node keeps its key). */
static const uint8_t *node_key_seed(int i)
{
	static const uint8_t seeds[DPF_NODES][32] = {{1}, {2}, {3}};
	return seeds[i];
}

/* ---- the fake control ------------------------------------------------------ */

struct fc;

struct fc_sess {
	struct fc *fc;
	int h;
	bool open;
	bool silent;  /* answers nothing from now on */
	bool no_read; /* reads nothing from now on (the daemon's data backs up) */
	char node[64];
	uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_off;
	cJSON *msgs[FC_MAX_MSGS]; /* everything the daemon sent, in order */
	size_t n_msgs;
	struct mapsec sec; /* open once the daemon's handshake is answered */
};

struct fc {
	struct io *io;
	struct wg_keypair key; /* the fake control's map key, which daemons pin */
	int lh;
	unsigned hb_ms, dead_ms; /* what welcome says */
	struct fc_sess sess[FC_MAX_SESS];
	size_t n_sess;
};

static void fc_flush(struct fc_sess *s)
{
	while (s->open && s->out_off < s->out_len) {
		ssize_t w = s->fc->io->ops->tcp_write(s->fc->io, s->h, s->out + s->out_off,
		                                      s->out_len - s->out_off);
		if (w <= 0)
			break;
		s->out_off += (size_t)w;
	}
}

/* Queues raw bytes (a frame or garbage). */
static void fc_raw(struct fc_sess *s, const void *data, size_t len)
{
	s->out = realloc(s->out, s->out_len + len);
	cr_assert_not_null(s->out);
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
	fc_flush(s);
}

/* One frame, sealed once the session is open; `flags` ORs into the
 * length word (MAPPROTO_FRAME_ZLIB). */
static void fc_send_bytes(struct fc_sess *s, const void *data, size_t len, uint32_t flags)
{
	uint8_t hdr[MAPPROTO_HDR_LEN];
	size_t wire = len + (s->sec.state == MAPSEC_OPEN ? MAPSEC_OVERHEAD : 0);
	uint8_t *sealed = malloc(wire);

	cr_assert_not_null(sealed);
	mapproto_frame_header(hdr, (uint32_t)wire | flags);
	if (s->sec.state == MAPSEC_OPEN)
		cr_assert_eq(mapsec_seal(&s->sec, hdr, data, len, sealed), 0);
	else
		memcpy(sealed, data, len);
	fc_raw(s, hdr, sizeof(hdr));
	fc_raw(s, sealed, wire);
	free(sealed);
}

static void fc_send_text(struct fc_sess *s, const char *text)
{
	fc_send_bytes(s, text, strlen(text), 0);
}

static void fc_send(struct fc_sess *s, const cJSON *msg)
{
	char *text = cJSON_PrintUnformatted(msg);
	cr_assert_not_null(text);
	fc_send_text(s, text);
	free(text);
}

static void fc_on_frame(struct fc_sess *s, const uint8_t *p, size_t len)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *msg = NULL;
	enum mapproto_type t = mapproto_parse(p, len, &msg, err, sizeof(err));

	cr_assert_neq(t, MAPPROTO_NONE, "daemon sent a bad frame: %s", err);
	cr_assert_lt(len, MAPPROTO_MAX_UP_FRAME);
	if (s->n_msgs < FC_MAX_MSGS)
		s->msgs[s->n_msgs++] = msg;
	else
		cJSON_Delete(msg);
	if (t == MAPPROTO_HELLO) {
		const cJSON *node = cJSON_GetObjectItem(msg, "node");
		snprintf(s->node, sizeof(s->node), "%s",
		         cJSON_IsString(node) ? node->valuestring : "");
		char w[128];
		snprintf(w, sizeof(w),
		         "{\"type\":\"welcome\",\"heartbeat_ms\":%u,\"dead_after_ms\":%u}",
		         s->fc->hb_ms, s->fc->dead_ms);
		if (!s->silent)
			fc_send_text(s, w);
	}
	/* like control: answer a heartbeat, so the daemon sees it alive */
	if (t == MAPPROTO_HEARTBEAT && !s->silent)
		fc_send_text(s, "{\"type\":\"heartbeat\"}");
}

static void fc_close(struct fc_sess *s)
{
	if (!s->open)
		return;
	s->fc->io->ops->close(s->fc->io, s->h, false);
	s->open = false;
}

static void fc_sess_cb(void *ctx, int h, unsigned events)
{
	struct fc_sess *s = ctx;
	(void)h;

	if (events & IO_WRITABLE)
		fc_flush(s);
	if (!(events & (IO_READABLE | IO_ERROR)) || s->no_read)
		return;
	for (;;) {
		if (!s->in)
			s->in = malloc(FC_IN_MAX);
		ssize_t n = s->fc->io->ops->tcp_read(s->fc->io, s->h, s->in + s->in_len,
		                                     FC_IN_MAX - s->in_len);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			fc_close(s);
			return;
		}
		s->in_len += (size_t)n;
		size_t off = 0;
		for (;;) {
			const uint8_t *p;
			size_t plen;
			ssize_t f = mapproto_frame_parse(s->in + off, s->in_len - off,
			                                 MAPPROTO_MAX_UP_FRAME, &p, &plen, NULL);
			if (f == -2)
				break;
			cr_assert_gt(f, 0, "daemon sent a bad frame header");
			off += (size_t)f;
			if (s->sec.state != MAPSEC_OPEN) {
				/* The daemon's handshake: answered as it is. */
				uint8_t e[WG_KEY_LEN], ts[WG_TIMESTAMP_LEN], resp[MAPSEC_RESP_LEN];
				s->fc->io->ops->random_secret(s->fc->io, e, sizeof(e));
				cr_assert_eq(mapsec_server_accept(&s->sec, &s->fc->key, p, plen, e,
				                                  ts, resp),
				             0, "the daemon's handshake");
				uint8_t hdr[MAPPROTO_HDR_LEN];
				mapproto_frame_header(hdr, sizeof(resp));
				fc_raw(s, hdr, sizeof(hdr));
				fc_raw(s, resp, sizeof(resp));
				continue;
			}
			cr_assert_eq(
			    mapsec_open(&s->sec, p - MAPPROTO_HDR_LEN, p, plen, (uint8_t *)p), 0,
			    "a daemon frame that does not open");
			fc_on_frame(s, p, plen - MAPSEC_OVERHEAD);
		}
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
	}
}

static void fc_listen_cb(void *ctx, int lh, unsigned events)
{
	struct fc *fc = ctx;
	(void)events;

	for (;;) {
		struct io_addr peer;
		cr_assert_lt(fc->n_sess, FC_MAX_SESS, "too many sessions");
		struct fc_sess *s = &fc->sess[fc->n_sess];
		int h = fc->io->ops->tcp_accept(fc->io, lh, &peer, fc_sess_cb, s);
		if (h < 0)
			return;
		memset(s, 0, sizeof(*s));
		s->fc = fc;
		s->h = h;
		s->open = true;
		fc->n_sess++;
	}
}

static void fc_listen(struct fc *fc, const struct io_addr *underlay)
{
	struct io_addr a = *underlay;

	a.port = FC_PORT;
	fc->lh = fc->io->ops->tcp_listen(fc->io, &a, 16, fc_listen_cb, fc);
	cr_assert_geq(fc->lh, 0, "fake control listen: %d", fc->lh);
}

static void fc_start(struct fc *fc, struct io *io, const struct io_addr *underlay)
{
	uint8_t seed[WG_KEY_LEN];

	memset(fc, 0, sizeof(*fc));
	memset(seed, 0xc7, sizeof(seed));
	cr_assert_eq(wg_keypair_from_seed(&fc->key, seed), 0);
	fc->io = io;
	fc->hb_ms = 200;
	fc->dead_ms = 1000;
	fc_listen(fc, underlay);
}

static void fc_stop_listening(struct fc *fc)
{
	if (fc->lh >= 0)
		fc->io->ops->close(fc->io, fc->lh, false);
	fc->lh = -1;
}

static void fc_free(struct fc *fc)
{
	fc_stop_listening(fc);
	for (size_t i = 0; i < fc->n_sess; i++) {
		struct fc_sess *s = &fc->sess[i];
		fc_close(s);
		for (size_t j = 0; j < s->n_msgs; j++)
			cJSON_Delete(s->msgs[j]);
		free(s->in);
		free(s->out);
	}
}

/* The latest session of `node` (NULL: none yet). */
static struct fc_sess *fc_latest(struct fc *fc, const char *node)
{
	for (size_t i = fc->n_sess; i-- > 0;)
		if (strcmp(fc->sess[i].node, node) == 0)
			return &fc->sess[i];
	return NULL;
}

static int fc_count_sessions(struct fc *fc, const char *node)
{
	int n = 0;
	for (size_t i = 0; i < fc->n_sess; i++)
		n += strcmp(fc->sess[i].node, node) == 0;
	return n;
}

/* Messages of `type` in a session; *last gets the last one. */
static int fc_count(const struct fc_sess *s, const char *type, const cJSON **last)
{
	int n = 0;
	for (size_t i = 0; s && i < s->n_msgs; i++) {
		const cJSON *t = cJSON_GetObjectItem(s->msgs[i], "type");
		if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0) {
			n++;
			if (last)
				*last = s->msgs[i];
		}
	}
	return n;
}

/* ---- the world ---------------------------------------------------------------- */

struct tw {
	struct dpf *f;
	struct fc fc;
	struct io_addr control;
	struct svcd *d[DPF_NODES];
	struct http_backend *hb[DPF_NODES];
	struct backend_tcp *echo[DPF_NODES];
	uint64_t version[DPF_NODES];
	char out[SVCD_OUT_MAX];
};

static struct tw *current;

/* Node i's netmap document; `host_services` is its JSON array. */
static cJSON *map_doc(struct tw *t, int i, uint64_t version, const char *host_services,
                      const char *web_hosts)
{
	char doc[8192], peers[2048];
	const char *filter = i == CLIENT ? "[]"
	                                 : "[{\"src\":[\"100.64.0.1\"],\"dst\":[{\"net\":\"" WEB_VIP
	                                   "/32\",\"ports\":\"*\"},{\"net\":\"" DNS_VIP
	                                   "/32\",\"ports\":\"*\"}]}]";

	dpf_peers_json(t->f, i, 0, DATAPLANE_DEFAULT_PORT, true, peers, sizeof(peers));
	snprintf(doc, sizeof(doc),
	         "{\"version\":%llu,\"tailnet\":\"example.ts.net\","
	         "\"self\":{\"name\":\"%s\",\"addresses\":[\"100.64.0.%d\"],\"tags\":%s},"
	         "\"peers\":[%s],"
	         "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\"],"
	         "\"ports\":[\"tcp:80\",\"tcp:443\",\"tcp:5432\"],\"hosts\":[%s]},"
	         "{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"],\"do_not_validate\":true,"
	         "\"hosts\":[\"host-a\"]}],"
	         "\"host_services\":%s,\"filter\":%s}",
	         (unsigned long long)version, t->f->node[i].name, i + 1,
	         i == CLIENT ? "[]" : "[\"tag:web\"]", peers, web_hosts, host_services, filter);
	cJSON *d = cJSON_Parse(doc);
	cr_assert_not_null(d, "test netmap does not parse: %s", doc);
	return d;
}

static const char *default_hs(int i)
{
	return i == HOST_A ? "[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP
	                     "\"]},{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"]}]"
	       : i == HOST_B ? "[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\"]}]"
	                     : "[]";
}

/* The client's netmap, set directly (no control on node 0). */
static void set_client_map(struct tw *t, const char *web_hosts)
{
	char err[NETMAP_ERR_LEN];
	cJSON *d = map_doc(t, CLIENT, ++t->version[CLIENT], "[]", web_hosts);
	char *text = cJSON_PrintUnformatted(d);
	cr_assert_eq(svcd_set_netmap_json(t->d[CLIENT], text, strlen(text), err, sizeof(err)), 0,
	             "client netmap: %s", err);
	free(text);
	cJSON_Delete(d);
}

/* Sends node i a full map of `version` with `doc` (consumed). */
static void send_full(struct tw *t, int i, uint64_t version, cJSON *doc)
{
	struct fc_sess *s = fc_latest(&t->fc, t->f->node[i].name);
	cJSON *msg = cJSON_CreateObject();

	cr_assert_not_null(s, "no session of node %d", i);
	cJSON_AddStringToObject(msg, "type", "netmap");
	cJSON_AddNumberToObject(msg, "version", (double)version);
	cJSON_AddItemToObject(msg, "full", doc);
	fc_send(s, msg);
	cJSON_Delete(msg);
}

static void teardown(void)
{
	struct tw *t = current;

	if (!t)
		return;
	dpf_dump_events_if(t->f, "SVCD_DUMP_EVENTS");
	for (int i = 0; i < DPF_NODES; i++) {
		svcd_free(t->d[i]);
		http_backend_free(t->hb[i]);
		backend_tcp_free(t->echo[i]);
	}
	fc_free(&t->fc);
	dpf_free(t->f);
	free(t);
	current = NULL;
}

static bool both_connected(void *arg)
{
	struct tw *t = arg;
	return svcd_control_connected(t->d[HOST_A]) && svcd_control_connected(t->d[HOST_B]);
}

struct ack_wait {
	struct tw *t;
	int node;
	uint64_t version;
};

static bool acked(void *arg)
{
	struct ack_wait *w = arg;
	const cJSON *last = NULL;
	fc_count(fc_latest(&w->t->fc, w->t->f->node[w->node].name), "ack", &last);
	const cJSON *v = last ? cJSON_GetObjectItem(last, "version") : NULL;
	return v && (uint64_t)v->valuedouble == w->version;
}

static void wait_ack(struct tw *t, int i, uint64_t version)
{
	struct ack_wait w = {t, i, version};
	cr_assert(dpf_run_until(t->f, acked, &w, STEP_TIMEOUT_US), "node %d: no ack of %llu", i,
	          (unsigned long long)version);
	cr_assert_eq(svcd_netmap_version(t->d[i]), version);
}

/* The world with both hosts connected to the fake control; with
 * `maps`, each host has its full map (version 1) applied. */
static struct tw *tw_new_dns(bool maps, bool magic_dns);

static struct tw *tw_new(bool maps)
{
	return tw_new_dns(maps, false);
}

static struct tw *tw_new_dns(bool maps, bool magic_dns)
{
	static const char *const tags[] = {"tag:web"};
	struct tw *t = calloc(1, sizeof(*t));

	cr_assert_not_null(t);
	t->f = dpf_new_or_skip(t);
	current = t;
	fc_start(&t->fc, t->f->node[CLIENT].io, &t->f->node[CLIENT].underlay);
	t->control = t->f->node[CLIENT].underlay;
	t->control.port = FC_PORT;
	for (int i = 0; i < DPF_NODES; i++) {
		struct svcd_config cfg = {.name = t->f->node[i].name,
		                          .underlay = t->f->node[i].underlay,
		                          .drain_grace_us = GRACE_US};
		cfg.underlay.port = DATAPLANE_DEFAULT_PORT;
		if (i != CLIENT) {
			cfg.control = &t->control;
			cfg.node_key = node_key_seed(i);
			cfg.control_key = t->fc.key.pub;
			cfg.region = "us-east";
			cfg.tags = tags;
			cfg.n_tags = 1;
			cfg.magic_dns = magic_dns;
		}
		cr_assert_eq(svcd_new(&t->d[i], t->f->node[i].io, &cfg), 0, "svcd_new(%d)", i);
		if (i == CLIENT)
			continue;
		struct io_addr hb = dpf_ip("127.0.0.1", 8080), ea = dpf_ip("127.0.0.1", 9000);
		const struct http_backend_config bc = {.name = i == HOST_A ? "web-a" : "web-b"};
		cr_assert_eq(http_backend_new(&t->hb[i], t->f->node[i].io, &bc, &hb, NULL), 0);
		cr_assert_eq(backend_tcp_echo_start(t->f->node[i].io, &ea, &t->echo[i]), 0);
	}
	set_client_map(t, "\"host-a\",\"host-b\"");
	cr_assert(dpf_run_until(t->f, both_connected, t, STEP_TIMEOUT_US),
	          "hosts dpf_never connected");
	if (maps) {
		for (int i = HOST_A; i <= HOST_B; i++)
			send_full(t, i, 1,
			          map_doc(t, i, 1, default_hs(i), "\"host-a\",\"host-b\""));
		wait_ack(t, HOST_A, 1);
		wait_ack(t, HOST_B, 1);
	}
	return t;
}

static const char *serve(struct tw *t, int i, int want_rc, const char *line)
{
	int rc = svcd_serve_line(t->d[i], line, t->out, sizeof(t->out));
	cr_assert_eq(rc, want_rc, "node %d `%s`: rc %d, output:\n%s", i, line, rc, t->out);
	return t->out;
}

struct ev_wait {
	struct tw *t;
	const char *a, *b;
	int n;
};

static bool ev_reached(void *arg)
{
	struct ev_wait *w = arg;
	return dpf_events_count(w->t->f, w->a, w->b) >= w->n;
}

static void wait_event(struct tw *t, const char *a, const char *b, int n)
{
	struct ev_wait w = {t, a, b, n};
	cr_assert(dpf_run_until(t->f, ev_reached, &w, STEP_TIMEOUT_US), "no %d x %s %s", n, a,
	          b ? b : "");
}

/* ---- a client connection over the tailnet ---------------------------------------- */

static void tconn_start(struct tw *t, struct tconn *c, const char *dst, uint16_t port,
                        const char *tx)
{
	struct io_addr a = dpf_ip(dst, port);

	cr_assert_geq(tconn_open(c, t->f->node[CLIENT].io, &a, tx), 0);
}

static void echo_roundtrip(struct tw *t, struct tconn *c, const char *msg)
{
	tconn_echo_roundtrip(t->f, c, msg, STEP_TIMEOUT_US);
}

/* A new L4 connection through the VIP: 0 when `msg` echoes, else the error. */
static int l4_try(struct tw *t, const char *msg)
{
	struct tconn c;
	struct tconn_wait w = {&c, msg};

	tconn_start(t, &c, WEB_VIP, 5432, msg);
	dpf_run_until(t->f, tconn_has, &w, STEP_TIMEOUT_US);
	int rc = c.err ? c.err : strstr(c.rx, msg) ? 0 : -ETIMEDOUT;
	c.io->ops->close(c.io, c.h, false);
	return rc;
}

static uint64_t echo_accepted(struct tw *t, int host)
{
	struct backend_tcp_stats st;
	backend_tcp_get_stats(t->echo[host], &st);
	return st.accepted;
}

/* ---- hello, advertise -------------------------------------------------------------- */

Test(MAPCLIENT_SUITE, hello_names_the_node_and_carries_its_endpoint_and_tls_key, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(false);
	const cJSON *h = NULL;
	struct fc_sess *s = fc_latest(&t->fc, "host-a");
	char ep[IO_ADDR_STRLEN];
	struct io_addr e = t->f->node[HOST_A].underlay;

	cr_assert_not_null(s);
	cr_assert_eq(fc_count(s, "hello", &h), 1, "exactly one hello");
	cr_assert_str_eq(cJSON_GetObjectItem(s->msgs[0], "type")->valuestring, "hello",
	                 "hello comes first");
	cr_assert_eq(cJSON_GetObjectItem(h, "proto")->valueint, MAPPROTO_VERSION);
	cr_assert_str_eq(cJSON_GetObjectItem(h, "node")->valuestring, "host-a");
	cr_assert_str_eq(cJSON_GetObjectItem(h, "region")->valuestring, "us-east");
	cr_assert_str_eq(cJSON_GetObjectItem(h, "user")->valuestring, "");
	const cJSON *tags = cJSON_GetObjectItem(h, "tags");
	cr_assert_eq(cJSON_GetArraySize(tags), 1);
	cr_assert_str_eq(cJSON_GetArrayItem(tags, 0)->valuestring, "tag:web");
	e.port = DATAPLANE_DEFAULT_PORT;
	cr_assert_str_eq(cJSON_GetObjectItem(h, "endpoint")->valuestring,
	                 io_addr_format(&e, true, ep, sizeof(ep)));
	const cJSON *key = cJSON_GetObjectItem(h, "tls_key");
	cr_assert(cJSON_IsString(key) && strlen(key->valuestring) == CA_PUBKEY_HEX,
	          "tls_key: 64 hex chars");
	cr_assert_str_eq(cJSON_GetObjectItem(h, "compress")->valuestring, "zlib");
	/* the advertisement follows at once, empty */
	const cJSON *adv = NULL;
	cr_assert_eq(fc_count(s, "advertise", &adv), 1);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(adv, "services")), 0);
	cr_assert(svcd_control_connected(t->d[HOST_A]));
	cr_assert_geq(dpf_events_count(t->f, "\"control_connected\"", "host-a"), 1);
	/* the two hosts have different keys */
	const cJSON *hb = NULL;
	fc_count(fc_latest(&t->fc, "host-b"), "hello", &hb);
	cr_assert_str_neq(cJSON_GetObjectItem(hb, "tls_key")->valuestring, key->valuestring);
}

Test(MAPCLIENT_SUITE, serve_commands_are_advertised_with_ports_and_drain_state, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");
	const cJSON *adv = NULL;

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	dpf_run_for(t->f, 100000);
	cr_assert_eq(fc_count(s, "advertise", &adv), 2);
	const cJSON *svcs = cJSON_GetObjectItem(adv, "services");
	cr_assert_eq(cJSON_GetArraySize(svcs), 1);
	const cJSON *w = cJSON_GetArrayItem(svcs, 0);
	cr_assert_str_eq(cJSON_GetObjectItem(w, "name")->valuestring, "svc:web");
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(w, "draining")));
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(w, "tun")));
	const cJSON *ports = cJSON_GetObjectItem(w, "ports");
	cr_assert_eq(cJSON_GetArraySize(ports), 1);
	cr_assert_eq(cJSON_GetArrayItem(ports, 0)->valueint, 5432);

	serve(t, HOST_A, 0, "serve --service=svc:web --http=80 8080");
	serve(t, HOST_A, 0, "serve --service=svc:dns --tun");
	dpf_run_for(t->f, 100000);
	cr_assert_eq(fc_count(s, "advertise", &adv), 4);
	svcs = cJSON_GetObjectItem(adv, "services");
	cr_assert_eq(cJSON_GetArraySize(svcs), 2);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(svcs, 1), "ports")),
	             2);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(svcs, 0), "tun")),
	          "svc:dns is L3");

	serve(t, HOST_A, 0, "serve drain svc:web");
	dpf_run_for(t->f, 100000);
	cr_assert_eq(fc_count(s, "advertise", &adv), 5);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(adv, "services"), 1), "draining")));
	/* status changes nothing: no new advertisement */
	serve(t, HOST_A, 0, "serve status");
	dpf_run_for(t->f, 100000);
	cr_assert_eq(fc_count(s, "advertise", NULL), 5);
}

/* ---- netmaps ------------------------------------------------------------------ */

Test(MAPCLIENT_SUITE, cfg_12_a_full_map_is_applied_acked_and_approves_the_service, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(false);

	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 0);
	/* no map yet: not approved */
	const char *out = serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	cr_assert(strstr(out, "approval"), "CFG-12 pending: %s", out);
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));

	send_full(t, HOST_A, 7, map_doc(t, HOST_A, 1, default_hs(HOST_A), "\"host-a\""));
	wait_ack(t, HOST_A, 7);
	cr_assert_geq(dpf_events_count(t->f, "\"netmap_received\"", "\"kind\":\"full\""), 1);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432), "approved by the map");
	out = serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	cr_assert(strstr(out, "Available within your tailnet"), "CFG-12 approved: %s", out);
	cr_assert_eq(l4_try(t, "via-control-map"), 0);
}

Test(MAPCLIENT_SUITE, a_delta_is_applied_and_acked, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(false);
	struct fc_sess *s = fc_latest(&t->fc, "host-b");

	/* host-b starts without svc:web approved */
	send_full(t, HOST_B, 3, map_doc(t, HOST_B, 3, "[]", "\"host-a\""));
	wait_ack(t, HOST_B, 3);
	serve(t, HOST_B, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	cr_assert_not(svcd_is_listening(t->d[HOST_B], "svc:web", 5432));

	fc_send_text(s, "{\"type\":\"netmap\",\"version\":4,\"base\":3,\"delta\":{\"set\":{"
	                "\"host_services\":[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP
	                "\"]}]}}}");
	wait_ack(t, HOST_B, 4);
	cr_assert(svcd_is_listening(t->d[HOST_B], "svc:web", 5432), "the delta approved it");
	cr_assert_geq(dpf_events_count(t->f, "\"netmap_received\"", "\"kind\":\"delta\""), 1);

	/* a peer removed by delta: the map still validates */
	fc_send_text(s, "{\"type\":\"netmap\",\"version\":5,\"base\":4,\"delta\":{"
	                "\"peers_remove\":[\"client\"]}}");
	wait_ack(t, HOST_B, 5);
}

Test(MAPCLIENT_SUITE, a_delta_on_another_base_asks_for_a_resync_and_changes_nothing,
     .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");

	int acks = fc_count(s, "ack", NULL);
	fc_send_text(s, "{\"type\":\"netmap\",\"version\":9,\"base\":8,\"delta\":{\"set\":{"
	                "\"host_services\":[]}}}");
	dpf_run_for(t->f, 200000);
	cr_assert_eq(fc_count(s, "resync", NULL), 1, "resync sent");
	cr_assert_eq(fc_count(s, "ack", NULL), acks, "no ack");
	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 1);
	cr_assert_geq(dpf_events_count(t->f, "\"netmap_resync\"", "\"have\":1"), 1);
	cr_assert(svcd_control_connected(t->d[HOST_A]), "the session stays");
}

Test(MAPCLIENT_SUITE, an_invalid_map_is_rejected_without_ack_and_the_old_one_stays,
     .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	int acks = fc_count(s, "ack", NULL);
	/* a VIP outside the tailnet prefixes */
	send_full(t, HOST_A, 2,
	          map_doc(t, HOST_A, 2, "[{\"name\":\"svc:web\",\"addresses\":[\"8.8.8.8\"]}]",
	                  "\"host-a\""));
	wait_event(t, "\"netmap_rejected\"", "\"version\":2", 1);
	cr_assert_eq(fc_count(s, "ack", NULL), acks);
	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 1);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	/* a malformed delta too */
	fc_send_text(s, "{\"type\":\"netmap\",\"version\":3,\"base\":1,\"delta\":{"
	                "\"peers_remove\":7}}");
	wait_event(t, "\"netmap_rejected\"", "\"version\":3", 1);
	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 1);
	cr_assert(svcd_control_connected(t->d[HOST_A]), "the session stays");
	cr_assert_eq(l4_try(t, "old-map"), 0);
}

/* ---- a broken session --------------------------------------------------------- */

static void garbage_check(struct tw *t, const void *bytes, size_t len, const char *reason,
                          bool as_is)
{
	struct fc_sess *s = fc_latest(&t->fc, "host-a");
	int lost = dpf_events_count(t->f, "\"control_lost\"", "host-a");
	int up = dpf_events_count(t->f, "\"control_connected\"", "host-a");

	/* A whole frame goes sealed, as a control holding the key would send
	 * it: the daemon judges what is inside. A bad header goes as it is. */
	const uint8_t *b = bytes, *payload;
	size_t plen;
	bool z;
	if (!as_is &&
	    mapproto_frame_parse(b, len, MAPPROTO_MAX_FRAME, &payload, &plen, &z) == (ssize_t)len)
		fc_send_bytes(s, payload, plen, z ? MAPPROTO_FRAME_ZLIB : 0);
	else
		fc_raw(s, bytes, len);
	wait_event(t, "\"control_lost\"", reason, 1);
	wait_event(t, "\"control_lost\"", "host-a", lost + 1);
	wait_event(t, "\"control_connected\"", "host-a", up + 1);
	cr_assert_neq(fc_latest(&t->fc, "host-a"), s, "a new session");
	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 1, "the old map stays");
	/* the new session starts with hello and the advertisement again */
	s = fc_latest(&t->fc, "host-a");
	cr_assert_eq(fc_count(s, "hello", NULL), 1);
	cr_assert_eq(fc_count(s, "advertise", NULL), 1);
}

static void garbage_then_check(struct tw *t, const void *bytes, size_t len, const char *reason)
{
	garbage_check(t, bytes, len, reason, false);
}

Test(MAPCLIENT_SUITE, a_garbage_frame_reconnects_and_the_old_map_keeps_serving, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct tconn longc;

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	tconn_start(t, &longc, WEB_VIP, 5432, NULL);
	cr_assert(dpf_run_until(t->f, tconn_up, &longc, STEP_TIMEOUT_US));
	echo_roundtrip(t, &longc, "before");

	static const uint8_t not_json[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
	garbage_then_check(t, not_json, sizeof(not_json), "protocol error");
	/* a frame over MAPPROTO_MAX_FRAME (and its seal's tag) */
	uint8_t too_long[4];
	mapproto_frame_header(too_long, MAPPROTO_MAX_FRAME + MAPSEC_OVERHEAD + 1);
	garbage_then_check(t, too_long, sizeof(too_long), "bad frame length");
	/* a zero-length frame */
	static const uint8_t empty[] = {0, 0, 0, 0};
	garbage_then_check(t, empty, sizeof(empty), "bad frame length");
	/* a message only the daemon sends */
	static const char hello[] = "\0\0\0\x10{\"type\":\"hello\"}";
	garbage_then_check(t, hello, sizeof(hello) - 1, "protocol error");
	/* a frame control did not seal (or sealed under other keys) */
	garbage_check(t, not_json, sizeof(not_json), "does not open under the session", true);

	echo_roundtrip(t, &longc, "after");
	cr_assert_eq(l4_try(t, "new-conn"), 0, "the old map still serves");
	longc.io->ops->close(longc.io, longc.h, false);
}

/* A frame deflated by control (the daemon's hello asked for it). */
static void fc_send_deflated(struct fc_sess *s, const void *raw, size_t len)
{
	uint8_t *z;
	size_t zlen;

	cr_assert_eq(mapproto_deflate(raw, len, &z, &zlen), 0);
	fc_send_bytes(s, z, zlen, MAPPROTO_FRAME_ZLIB);
	free(z);
}

Test(MAPCLIENT_SUITE, a_deflated_map_is_inflated_applied_and_acked, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(true);
	cJSON *msg = cJSON_CreateObject();

	cJSON_AddStringToObject(msg, "type", "netmap");
	cJSON_AddNumberToObject(msg, "version", 2);
	cJSON_AddItemToObject(msg, "full", map_doc(t, HOST_A, 2, default_hs(HOST_A), "\"host-a\""));
	char *text = cJSON_PrintUnformatted(msg);
	fc_send_deflated(fc_latest(&t->fc, "host-a"), text, strlen(text));
	free(text);
	cJSON_Delete(msg);
	wait_ack(t, HOST_A, 2);
	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	cr_assert_eq(l4_try(t, "via-deflated-map"), 0);
}

/* Corrupt, truncated or oversized compressed frames end the session like
 * any other bad frame; the old map keeps serving. */
Test(MAPCLIENT_SUITE, bad_compressed_frames_reconnect_and_the_old_map_keeps_serving,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new(true);
	uint8_t frame[MAPPROTO_HDR_LEN + 64];

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");

	/* not a zlib stream */
	mapproto_frame_header(frame, 16 | MAPPROTO_FRAME_ZLIB);
	memset(frame + MAPPROTO_HDR_LEN, 'x', 16);
	garbage_then_check(t, frame, MAPPROTO_HDR_LEN + 16, "corrupt compressed frame");
	/* a stream cut short */
	static const char heartbeat[] =
	    "{\"type\":\"heartbeat\"}                                                       ";
	uint8_t *z;
	size_t zlen;
	cr_assert_eq(mapproto_deflate((const uint8_t *)heartbeat, strlen(heartbeat), &z, &zlen), 0);
	mapproto_frame_header(frame, (uint32_t)(zlen - 3) | MAPPROTO_FRAME_ZLIB);
	memcpy(frame + MAPPROTO_HDR_LEN, z, zlen - 3);
	free(z);
	garbage_then_check(t, frame, MAPPROTO_HDR_LEN + zlen - 3, "corrupt compressed frame");
	/* a small frame that inflates past MAPPROTO_MAX_FRAME */
	size_t big = MAPPROTO_MAX_FRAME + 4096;
	uint8_t *zeros = calloc(1, big);
	cr_assert_not_null(zeros);
	cr_assert_eq(mapproto_deflate(zeros, big, &z, &zlen), 0);
	free(zeros);
	uint8_t hdr[MAPPROTO_HDR_LEN];
	mapproto_frame_header(hdr, (uint32_t)zlen | MAPPROTO_FRAME_ZLIB);
	uint8_t *bomb = malloc(sizeof(hdr) + zlen);
	memcpy(bomb, hdr, sizeof(hdr));
	memcpy(bomb + sizeof(hdr), z, zlen);
	free(z);
	garbage_then_check(t, bomb, sizeof(hdr) + zlen, "inflates past the limit");
	free(bomb);
	cr_assert_eq(l4_try(t, "still-serving"), 0);
}

#ifndef MAPCLIENT_EPOLL /* SIM_ONLY */
Test(MAPCLIENT_SUITE, heartbeats_go_up_when_nothing_else_does, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");

	int before = fc_count(s, "heartbeat", NULL);
	dpf_run_for(t->f, 1000000); /* heartbeat_ms 200 */
	int n = fc_count(s, "heartbeat", NULL) - before;
	cr_assert(n >= 4 && n <= 6, "%d heartbeats in 1 s at 200 ms", n);
	/* other traffic going up replaces heartbeats */
	before = fc_count(s, "heartbeat", NULL);
	for (int i = 0; i < 10; i++) {
		serve(t, HOST_A, 0,
		      i % 2 ? "serve --service=svc:web --tcp=5432 off"
		            : "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
		dpf_run_for(t->f, 100000);
	}
	cr_assert_eq(fc_count(s, "heartbeat", NULL), before, "advertisements every 100 ms");
	cr_assert_eq(fc_count_sessions(&t->fc, "host-a"), 1);
}
#endif

/* Control moves a session between liveness pairs (mapproto.h): the new
 * heartbeat interval applies from the liveness frame on. */
#ifndef MAPCLIENT_EPOLL /* SIM_ONLY */
Test(MAPCLIENT_SUITE, a_liveness_frame_changes_the_heartbeat_interval, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");

	fc_send_text(s, "{\"type\":\"liveness\",\"heartbeat_ms\":50,\"dead_after_ms\":400}");
	wait_event(t, "\"control_liveness\"", "\"heartbeat_ms\":50,\"dead_after_ms\":400", 1);
	int before = fc_count(s, "heartbeat", NULL);
	dpf_run_for(t->f, 1000000);
	int n = fc_count(s, "heartbeat", NULL) - before;
	cr_assert(n >= 15 && n <= 21, "%d heartbeats in 1 s at 50 ms", n);
	cr_assert_eq(fc_count_sessions(&t->fc, "host-a"), 1);
}
#endif

Test(MAPCLIENT_SUITE, a_silent_control_is_dropped_and_reconnected, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(false);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");

	/* the session lives while control answers */
	dpf_run_for(t->f, 3000000);
	cr_assert_eq(fc_count_sessions(&t->fc, "host-a"), 1, "kept alive by control's heartbeats");
	/* dead_after_ms 1000: silence ends it */
	s->silent = true;
	dpf_run_for(t->f, 1200000);
	cr_assert_geq(dpf_events_count(t->f, "\"control_lost\"", "control silent"), 1);
	wait_event(t, "\"control_connected\"", "host-a", 2);
	cr_assert_eq(fc_count_sessions(&t->fc, "host-a"), 2);
}

Test(MAPCLIENT_SUITE, an_unreachable_control_is_retried_with_backoff, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(true);

	fc_stop_listening(&t->fc);
	for (size_t i = 0; i < t->fc.n_sess; i++)
		fc_close(&t->fc.sess[i]);
	dpf_run_for(t->f, 3000000);
	cr_assert_not(svcd_control_connected(t->d[HOST_A]));
	int lost = dpf_events_count(t->f, "\"control_lost\"", "host-a");
	/* 100 ms doubling (jittered to half): within 3 s at most ~6 tries */
	cr_assert(lost >= 3 && lost <= 8, "%d attempts in 3 s", lost);
	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 1, "the last map stays");
	fc_listen(&t->fc, &t->f->node[CLIENT].underlay);
	cr_assert(dpf_run_until(t->f, both_connected, t, STEP_TIMEOUT_US), "back once it listens");
}

/* ---- drain with control (DRN-1/2/3) --------------------------------------------- */

Test(MAPCLIENT_SUITE, drn_1_2_3_listeners_close_only_when_control_confirms_the_drain,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new(true);
	struct tconn longc;

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	serve(t, HOST_B, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	tconn_start(t, &longc, WEB_VIP, 5432, NULL);
	cr_assert(dpf_run_until(t->f, tconn_up, &longc, STEP_TIMEOUT_US));
	echo_roundtrip(t, &longc, "before-drain");
	cr_assert_eq(echo_accepted(t, HOST_A), 1);

	serve(t, HOST_A, 0, "serve drain svc:web");
	cr_assert_geq(dpf_events_count(t->f, "\"host_draining\"", "control_confirms"), 1);
	/* well past the grace: still listening, control has not confirmed */
	dpf_run_for(t->f, 3 * GRACE_US);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432), "DRN-3: waits for control");
	cr_assert_eq(dpf_events_count(t->f, "\"host_drained\"", NULL), 0);
	/* a client with a stale map still gets through (DRN-1) */
	cr_assert_eq(l4_try(t, "stale-client"), 0);

	/* control re-ranks the client, then confirms */
	set_client_map(t, "\"host-b\",\"host-a\"");
	fc_send_text(fc_latest(&t->fc, "host-a"),
	             "{\"type\":\"drain_confirmed\",\"service\":\"svc:web\"}");
	wait_event(t, "\"host_drained\"", "\"by\":\"control\"", 1);
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	cr_assert_eq(l4_try(t, "after-confirm"), 0, "goes to host-b");
	cr_assert_eq(echo_accepted(t, HOST_A), 2, "nothing new reached host-a");

	/* DRN-2: the connection open at drain time still works */
	echo_roundtrip(t, &longc, "after-drain");
	dpf_run_for(t->f, 200000); /* the stale client's connection finishes closing */
	cr_assert_eq(svcd_open_connections(t->d[HOST_A], "svc:web"), 1, "open: %zu",
	             svcd_open_connections(t->d[HOST_A], "svc:web"));
	cr_assert_eq(longc.io->ops->tcp_shutdown(longc.io, longc.h), 0);
	cr_assert(dpf_run_until(t->f, tconn_finished, &longc, STEP_TIMEOUT_US));
	cr_assert(longc.eof && longc.err == 0, "closed normally, err %d", longc.err);
	longc.io->ops->close(longc.io, longc.h, false);
	wait_event(t, "\"drain_complete\"", "svc:web", 1);
	cr_assert_eq(dpf_events_count(t->f, "\"connections_reset\"", NULL), 0);
}

Test(MAPCLIENT_SUITE, a_drain_confirmation_for_a_service_not_draining_is_ignored, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(true);

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	fc_send_text(fc_latest(&t->fc, "host-a"),
	             "{\"type\":\"drain_confirmed\",\"service\":\"svc:web\"}");
	wait_event(t, "\"drain_confirmed\"", "host-a", 1);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
}

Test(MAPCLIENT_SUITE, drn_3_without_control_for_longer_than_the_grace_the_grace_applies,
     .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(true);

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	serve(t, HOST_A, 0, "serve drain svc:web");
	dpf_run_for(t->f, GRACE_US / 2);
	fc_stop_listening(&t->fc);
	for (size_t i = 0; i < t->fc.n_sess; i++)
		fc_close(&t->fc.sess[i]);
	wait_event(t, "\"control_lost\"", "host-a", 1);
	dpf_run_for(t->f, GRACE_US / 2);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432), "grace counts from the loss");
	wait_event(t, "\"host_drained\"", "\"by\":\"grace\"", 1);
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
}

/* ---- certificates from control (L7-5) --------------------------------------------- */

Test(MAPCLIENT_SUITE, l7_5_the_certificate_from_the_map_is_served_with_the_node_key,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new(false);
	uint8_t seed[CA_SEED_LEN];
	struct ca *ca;
	char err[CA_ERR_LEN];
	const cJSON *hello = NULL;

	memset(seed, 7, sizeof(seed));
	cr_assert_eq(ca_new(&ca, seed, "example.ts.net", err, sizeof(err)), 0, "%s", err);
	fc_count(fc_latest(&t->fc, "host-a"), "hello", &hello);
	const char *key = cJSON_GetObjectItem(hello, "tls_key")->valuestring;
	char *leaf = ca_issue(ca, key, "web.example.ts.net", 1, err, sizeof(err));
	cr_assert_not_null(leaf, "%s", err);

	/* HTTPS without --cert is accepted: the certificate comes from control */
	serve(t, HOST_A, 0, "serve --service=svc:web --https=443 text:hello-tls");
	cJSON *doc = map_doc(t, HOST_A, 1, default_hs(HOST_A), "\"host-a\"");
	cJSON_AddStringToObject(doc, "ca_pem", ca_cert_pem(ca));
	cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "host_services"), 0),
	                        "cert_pem", leaf);
	send_full(t, HOST_A, 1, doc);
	wait_ack(t, HOST_A, 1);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 443));
	cr_assert_geq(dpf_events_count(t->f, "\"cert_installed\"", "svc:web"), 1);

	struct tls_ctx *cctx;
	const struct tls_ctx_config cc = {.ca_pem = ca_cert_pem(ca)};
	char terr[TLS_ERR_LEN];
	cr_assert_eq(tls_ctx_new(&cctx, t->f->node[CLIENT].io, &cc, terr, sizeof(terr)), 0, "%s",
	             terr);
	struct ht_client *c = calloc(1, sizeof(*c));
	struct io_addr vip = dpf_ip(WEB_VIP, 443);
	ht_client_start(c, t->f->node[CLIENT].io, &vip, cctx, "web.example.ts.net",
	                "GET / HTTP/1.1\r\nHost: web.example.ts.net\r\nConnection: close\r\n\r\n",
	                0, false, 1);
	cr_assert(dpf_run_until(t->f, ht_client_done_fn, c, STEP_TIMEOUT_US), "TLS request");
	cr_assert_eq(c->n, 1, "verified TLS answer (error %d)", c->error);
	cr_assert_eq(c->status[0], 200);
	cr_assert(strstr(c->body, "hello-tls"), "%s", c->body);
	ht_client_close(c);

	/* a client trusting another CA refuses it */
	struct ca *other;
	memset(seed, 9, sizeof(seed));
	cr_assert_eq(ca_new(&other, seed, "other.ts.net", err, sizeof(err)), 0);
	struct tls_ctx *octx;
	const struct tls_ctx_config oc = {.ca_pem = ca_cert_pem(other)};
	cr_assert_eq(tls_ctx_new(&octx, t->f->node[CLIENT].io, &oc, terr, sizeof(terr)), 0);
	memset(c, 0, sizeof(*c));
	ht_client_start(c, t->f->node[CLIENT].io, &vip, octx, "web.example.ts.net",
	                "GET / HTTP/1.1\r\nHost: web.example.ts.net\r\nConnection: close\r\n\r\n",
	                0, false, 1);
	cr_assert(dpf_run_until(t->f, ht_client_done_fn, c, STEP_TIMEOUT_US));
	cr_assert_eq(c->n, 0, "untrusted CA must fail");
	ht_client_close(c);

	/* A new certificate, from the other CA: the same listener serves it to
	 * new connections at once (no proxy restarted, no moment without a
	 * listener, nothing in its accept queue reset). */
	char *leaf2 = ca_issue(other, key, "web.example.ts.net", 2, err, sizeof(err));
	cr_assert_not_null(leaf2, "%s", err);
	doc = map_doc(t, HOST_A, 2, default_hs(HOST_A), "\"host-a\"");
	cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "host_services"), 0),
	                        "cert_pem", leaf2);
	send_full(t, HOST_A, 2, doc);
	wait_ack(t, HOST_A, 2);
	wait_event(t, "\"proxy_cert_rotated\"", "svc:web", 1);
	cr_assert_eq(dpf_events_count(t->f, "\"proxy_stopped\"", "svc:web"), 0,
	             "the proxy was restarted for the new certificate");
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 443));
	memset(c, 0, sizeof(*c));
	ht_client_start(c, t->f->node[CLIENT].io, &vip, octx, "web.example.ts.net",
	                "GET / HTTP/1.1\r\nHost: web.example.ts.net\r\nConnection: close\r\n\r\n",
	                0, false, 1);
	cr_assert(dpf_run_until(t->f, ht_client_done_fn, c, STEP_TIMEOUT_US));
	cr_assert_eq(c->n, 1, "the new certificate is served (error %d)", c->error);
	ht_client_close(c);
	memset(c, 0, sizeof(*c));
	ht_client_start(c, t->f->node[CLIENT].io, &vip, cctx, "web.example.ts.net",
	                "GET / HTTP/1.1\r\nHost: web.example.ts.net\r\nConnection: close\r\n\r\n",
	                0, false, 1);
	cr_assert(dpf_run_until(t->f, ht_client_done_fn, c, STEP_TIMEOUT_US));
	cr_assert_eq(c->n, 0, "the old certificate is no longer served");
	ht_client_close(c);

	free(c);
	tls_ctx_free(cctx);
	tls_ctx_free(octx);
	free(leaf);
	free(leaf2);
	ca_free(ca);
	ca_free(other);
}

/* ---- the client alone: limits, backoff ----------------------------------------- */

struct probe {
	int applied;
	int ups, downs;
};

static int probe_apply(void *ctx, const cJSON *doc, const char *text, size_t len, uint64_t version,
                       char *err, size_t err_len)
{
	struct probe *p = ctx;
	(void)doc, (void)text, (void)len, (void)version, (void)err, (void)err_len;
	p->applied++;
	return 0;
}

static void probe_connected(void *ctx, bool up)
{
	struct probe *p = ctx;
	if (up)
		p->ups++;
	else
		p->downs++;
}

static bool probe_up(void *arg)
{
	return mapclient_connected(arg);
}

static struct mapclient_config probe_config(struct tw *t, struct probe *p)
{
	struct mapclient_config c = {.control = t->control,
	                             .node = "probe",
	                             .node_key = node_key_seed(0),
	                             .control_key = t->fc.key.pub,
	                             .cb = {.apply = probe_apply, .connected = probe_connected},
	                             .ctx = p};
	return c;
}

Test(MAPCLIENT_SUITE, a_bad_client_config_is_refused, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(false);
	struct probe p = {0};
	struct mapclient *mc;
	struct io *io = t->f->node[HOST_A].io;
	const char *tags[MAPCLIENT_MAX_TAGS + 1];
	char long_name[MAPCLIENT_MAX_NAME + 2];

	for (size_t i = 0; i <= MAPCLIENT_MAX_TAGS; i++)
		tags[i] = "tag:x";
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';

	struct mapclient_config c = probe_config(t, &p);
	c.tags = tags;
	c.n_tags = MAPCLIENT_MAX_TAGS + 1;
	cr_assert_eq(mapclient_new(&mc, io, &c), -EINVAL, "too many tags");
	c.n_tags = MAPCLIENT_MAX_TAGS;
	cr_assert_eq(mapclient_new(&mc, io, &c), 0, "MAPCLIENT_MAX_TAGS tags are fine");
	mapclient_free(mc);
	c = probe_config(t, &p);
	c.node = long_name;
	cr_assert_eq(mapclient_new(&mc, io, &c), -EINVAL, "node name over MAPCLIENT_MAX_NAME");
	c = probe_config(t, &p);
	c.cb.apply = NULL;
	cr_assert_eq(mapclient_new(&mc, io, &c), -EINVAL, "no apply callback");
	c = probe_config(t, &p);
	c.backoff_min_us = 2000000;
	c.backoff_max_us = 1000000;
	cr_assert_eq(mapclient_new(&mc, io, &c), -EINVAL, "backoff max under min");
	c = probe_config(t, &p);
	c.control.port = 0;
	cr_assert_eq(mapclient_new(&mc, io, &c), -EINVAL, "no control port");
}

/* An advertisement of about `bytes` bytes. */
static cJSON *big_adv(size_t bytes)
{
	cJSON *arr = cJSON_CreateArray();
	char name[64];

	for (size_t i = 0; i * 48 < bytes; i++) {
		cJSON *o = cJSON_CreateObject();
		snprintf(name, sizeof(name), "svc:service-number-%zu", i);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddBoolToObject(o, "draining", false);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

Test(MAPCLIENT_SUITE, advertisements_are_bounded_and_a_control_that_does_not_read_is_dropped,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new(false);
	struct probe p = {0};
	struct mapclient *mc;
	struct io *io = t->f->node[HOST_A].io;
	struct mapclient_config c = probe_config(t, &p);

	cr_assert_eq(mapclient_new(&mc, io, &c), 0);
	cr_assert(dpf_run_until(t->f, probe_up, mc, STEP_TIMEOUT_US));
	cr_assert_eq(p.ups, 1);

	cJSON *n = cJSON_CreateNumber(1);
	cr_assert_eq(mapclient_advertise(mc, n), -EINVAL, "not an array");
	cJSON_Delete(n);
	cJSON *huge = big_adv(MAPPROTO_MAX_UP_FRAME + 1000);
	cr_assert_eq(mapclient_advertise(mc, huge), -E2BIG, "over MAPPROTO_MAX_UP_FRAME");
	cJSON_Delete(huge);

	/* control stops reading: advertisements pile up to MAPCLIENT_MAX_OUT */
	struct fc_sess *s = fc_latest(&t->fc, "probe");
	cr_assert_not_null(s);
	s->no_read = true;
	int rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++) {
		cJSON *a = big_adv(MAPPROTO_MAX_UP_FRAME / 2 - (size_t)i * 64);
		rc = mapclient_advertise(mc, a);
		cJSON_Delete(a);
	}
	cr_assert_eq(rc, -ENOBUFS, "the queue is bounded by MAPCLIENT_MAX_OUT");
	dpf_run_for(t->f, 100000);
	cr_assert_eq(p.downs, 1, "the session ended");
	cr_assert_eq(dpf_events_count(t->f, "\"control_lost\"", "control does not read"), 1);
	mapclient_free(mc);
}

#ifndef MAPCLIENT_EPOLL /* SIM_ONLY */
Test(MAPCLIENT_SUITE, welcome_values_are_clamped, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new(false);
	struct probe p = {0};
	struct mapclient *mc;
	struct mapclient_config c = probe_config(t, &p);

	t->fc.hb_ms = 1;
	t->fc.dead_ms = 1;
	cr_assert_eq(mapclient_new(&mc, t->f->node[HOST_A].io, &c), 0);
	cr_assert(dpf_run_until(t->f, probe_up, mc, STEP_TIMEOUT_US));
	cr_assert_eq(dpf_events_count(t->f, "\"control_connected\"",
	                              "\"heartbeat_ms\":10,\"dead_after_ms\":20"),
	             1);
	dpf_run_for(t->f, 1000000);
	int hb = fc_count(fc_latest(&t->fc, "probe"), "heartbeat", NULL);
	cr_assert(hb >= 50 && hb <= 101, "%d heartbeats in 1 s at the 10 ms floor", hb);
	mapclient_free(mc);
}
#endif

#ifndef MAPCLIENT_EPOLL /* SIM_ONLY */
Test(MAPCLIENT_SUITE, reconnects_back_off_from_100_ms_doubling_to_5_s_with_jitter, .fini = teardown,
     .timeout = 120)
{
	struct tw *t = tw_new(false);
	struct probe p = {0};
	struct mapclient *mc;
	struct mapclient_config c = probe_config(t, &p);
	char line[4096];
	uint64_t want = MAPCLIENT_BACKOFF_MIN_US / 1000;
	int n = 0;

	c.control.port = FC_PORT + 1; /* nothing listens there */
	cr_assert_eq(mapclient_new(&mc, t->f->node[CLIENT].io, &c), 0);
	dpf_run_for(t->f, 40000000);
	mapclient_free(mc);
	fflush(t->f->events);
	rewind(t->f->events);
	while (fgets(line, sizeof(line), t->f->events)) {
		const char *r = strstr(line, "\"retry_ms\":");
		if (!strstr(line, "\"control_lost\"") || !strstr(line, "\"client\"") || !r)
			continue;
		unsigned long long ms = strtoull(r + 11, NULL, 10);
		cr_assert(ms >= want / 2 && ms <= want, "try %d: retry %llu ms, want %llu/2..%llu",
		          n, ms, (unsigned long long)want, (unsigned long long)want);
		want = want * 2 < MAPCLIENT_BACKOFF_MAX_US / 1000 ? want * 2
		                                                  : MAPCLIENT_BACKOFF_MAX_US / 1000;
		n++;
	}
	cr_assert_geq(n, 9, "%d attempts in 40 s", n);
	cr_assert_eq(want, MAPCLIENT_BACKOFF_MAX_US / 1000, "reached the cap");
	cr_assert_eq(p.ups, 0);
}
#endif

/* ---- MagicDNS ------------------------------------------------------------------ */

struct dns_sink {
	int count;
	uint8_t resp[512];
	size_t len;
};

static void dns_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                   const struct io_addr *src)
{
	struct dns_sink *s = ctx;
	(void)handle, (void)src;
	s->count++;
	s->len = len < sizeof(s->resp) ? len : sizeof(s->resp);
	memcpy(s->resp, data, s->len);
}

static bool dns_arrived(void *arg)
{
	return ((struct dns_sink *)arg)->count > 0;
}

Test(MAPCLIENT_SUITE, svc_3_magic_dns_answers_from_the_netmap_control_sent, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new_dns(false, true);
	struct io *io = t->f->node[HOST_A].io;
	static const uint8_t query[] = {
	    0x12, 0x34, 0x01, 0x00, 0,   1,   0, 0,   0,   0, 0,   0,   3,   'w', 'e', 'b', 7, 'e',
	    'x',  'a',  'm',  'p',  'l', 'e', 2, 't', 's', 3, 'n', 'e', 't', 0,   0,   1,   0, 1};
	cJSON *doc = map_doc(t, HOST_A, 1, default_hs(HOST_A), "\"host-a\"");
	cJSON *dns =
	    cJSON_Parse("[{\"name\":\"web.example.ts.net\",\"addresses\":[\"" WEB_VIP "\"]}]");
	cJSON_AddItemToObject(doc, "dns", dns);
	send_full(t, HOST_A, 1, doc);
	wait_ack(t, HOST_A, 1);
	cr_assert_geq(dpf_events_count(t->f, "\"svcd_started\"", "\"magic_dns\":true"), 1);

	struct dns_sink sink = {0};
	struct io_addr me = dpf_ip("100.64.0.2", 0), server = dpf_ip("100.100.100.100", 53);
	int u = io->ops->udp_open(io, &me, dns_cb, &sink);
	cr_assert_geq(u, 0);
	cr_assert_geq(io->ops->udp_send(io, u, query, sizeof(query), &server), 0);
	cr_assert(dpf_run_until(t->f, dns_arrived, &sink, 2000000), "no DNS answer");
	io->ops->close(io, u, false);
	cr_assert_geq(sink.len, sizeof(query) + 16);
	cr_assert_eq(sink.resp[0], 0x12);
	cr_assert_eq(sink.resp[3] & 0x0f, 0, "NOERROR");
	static const uint8_t vip[] = {100, 100, 0, 5};
	cr_assert(memmem(sink.resp + sizeof(query), sink.len - sizeof(query), vip, 4),
	          "the VIP is in the answer");
}

Test(MAPCLIENT_SUITE, advertise_refused_and_control_errors_are_reported, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new(true);
	struct fc_sess *s = fc_latest(&t->fc, "host-a");

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	fc_send_text(s, "{\"type\":\"advertise_refused\",\"service\":\"svc:web\","
	                "\"message\":\"no \\\"grant\\\" for tag:web\"}");
	wait_event(t, "\"advertise_refused\"", "no \\\"grant\\\" for tag:web", 1);
	cr_assert(svcd_control_connected(t->d[HOST_A]), "the session stays");

	fc_send_text(s, "{\"type\":\"error\",\"message\":\"node removed\"}");
	wait_event(t, "\"control_lost\"", "control error: node removed", 1);
	wait_event(t, "\"control_connected\"", "host-a", 2);
	cr_assert_eq(svcd_netmap_version(t->d[HOST_A]), 1);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432), "keeps serving");
}

Test(MAPCLIENT_SUITE, a_large_map_arrives_over_many_reads_and_is_applied, .fini = teardown,
     .timeout = 120)
{
	struct tw *t = tw_new(true);
	cJSON *doc = map_doc(t, HOST_A, 2, default_hs(HOST_A), "\"host-a\"");
	cJSON *peers = cJSON_GetObjectItem(doc, "peers");
	char addr[32], ep[32], name[32];

	for (int i = 0; i < 20000; i++) {
		cJSON *p = cJSON_CreateObject();
		snprintf(name, sizeof(name), "peer-%d", i);
		snprintf(addr, sizeof(addr), "100.65.%d.%d", i / 250, i % 250 + 1);
		snprintf(ep, sizeof(ep), "10.9.%d.%d:41641", i / 250, i % 250 + 1);
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddItemToObject(p, "addresses",
		                      cJSON_CreateStringArray((const char *[]){addr}, 1));
		cJSON_AddStringToObject(p, "endpoint", ep);
		cJSON_AddStringToObject(p, "user", "someone@example.com");
		cJSON_AddItemToArray(peers, p);
	}
	send_full(t, HOST_A, 2, doc);
	wait_ack(t, HOST_A, 2);
	cr_assert_geq(dpf_events_count(t->f, "\"netmap_received\"", "\"version\":2"), 1);
	/* and a small delta on top of it */
	fc_send_text(fc_latest(&t->fc, "host-a"),
	             "{\"type\":\"netmap\",\"version\":3,\"base\":2,\"delta\":{"
	             "\"peers_remove\":[\"peer-7\"]}}");
	wait_ack(t, HOST_A, 3);
}
