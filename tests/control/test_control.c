/* The coordination server on the sim backend: one ns3w world with three
 * regions (us-east, eu-west, ap-south), control on node 0, and test-side
 * fake daemons speaking the map protocol over seam TCP (hello, advertise,
 * ack, heartbeat; deltas applied with mapproto_apply_delta). Also the admin
 * command grammar (pure). */
#include "control/admin_cmd.h"
#include "control/control.h"
#include "lib/base/check.h"
#include "lib/base/hex.h"
#include "lib/io/storage.h"
#include "lib/wire/ca.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/mapsec.h"
#include "sim/io_sim.h"
#include "sim/ns3w/ns3w.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TW_NODES       10
#define TW_STEP_US     1000
#define TW_TIMEOUT_US  (5ull * 1000 * 1000)
#define TW_HEARTBEAT   (200ull * 1000)
#define TW_DEAD_AFTER  (600ull * 1000)
#define TW_IDLE_HB     (2000ull * 1000)
#define TW_IDLE_DEAD   (6000ull * 1000)
#define TW_LOST_EXPIRY (30ull * 1000 * 1000)
#define TW_FAKE_HB_US  (100ull * 1000)
#define TW_OUT_LEN     (1u << 20)

enum { CTL, WEB_US, WEB_EU, CL_US, CL_EU, CL_AP, OTHER, DB1, SPARE, RAW };

static const char *const tw_names[TW_NODES] = {"control",   "web-us",    "web-eu", "client-us",
                                               "client-eu", "client-ap", "other",  "db-1",
                                               "spare",     "raw"};
static const int tw_region[TW_NODES] = {0, 0, 1, 0, 1, 2, 0, 0, 0, 0};
static const char *const tw_region_names[3] = {"us-east", "eu-west", "ap-south"};
static const char *const tw_tag[TW_NODES] = {"",           "tag:web",    "tag:web",   "tag:client",
                                             "tag:client", "tag:client", "tag:other", "tag:db",
                                             "tag:web",    "tag:web"};

static const char tw_policy[] =
    "{\n"
    "  // tests/control policy\n"
    "  \"tagOwners\": {\"tag:web\": [\"autogroup:admin\"], \"tag:client\": [\"autogroup:admin\"],\n"
    "    \"tag:other\": [\"autogroup:admin\"], \"tag:db\": [\"autogroup:admin\"],\n"
    "    \"tag:websvc\": [\"autogroup:admin\"], \"tag:dbsvc\": [\"autogroup:admin\"]},\n"
    "  \"grants\": [\n"
    "    {\"src\": [\"tag:client\"], \"dst\": [\"svc:web\", \"svc:auto\"], \"ip\": [\"443\"]},\n"
    "    {\"src\": [\"tag:client\"], \"dst\": [\"tag:dbsvc\"], \"ip\": [\"tcp:5432\"]},\n"
    "  ],\n"
    "  \"autoApprovers\": {\"services\": {\"svc:auto\": [\"tag:web\"], \"tag:dbsvc\": "
    "[\"tag:db\"]}}\n"
    "}\n";

/* The same with tag:other granted svc:web (ACL-4). */
static const char tw_policy_other[] =
    "{\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"], \"tag:client\": [\"autogroup:admin\"],"
    " \"tag:other\": [\"autogroup:admin\"], \"tag:db\": [\"autogroup:admin\"],"
    " \"tag:websvc\": [\"autogroup:admin\"], \"tag:dbsvc\": [\"autogroup:admin\"]},"
    " \"grants\": [{\"src\": [\"tag:client\", \"tag:other\"], \"dst\": [\"svc:web\"],"
    " \"ip\": [\"443\"]}]}";

static const struct control_user tw_users[] = {
    {.login = "alice@example.com", .display_name = "Alice", .role = "admin", .token = "ta"},
    {.login = "bob@example.com", .display_name = "Bob", .role = "member", .token = "tb"},
};

#define ALICE "alice@example.com"
#define BOB   "bob@example.com"

struct tw;

struct fake {
	struct tw *w;
	int idx;
	const char *name; /* name sent in hello */
	int h;
	bool connected, closed, auto_ack, silent, send_hello, no_read;
	const char *tls_key; /* hex public key sent in hello, or NULL */
	bool zlib;           /* hello asks for compressed frames */
	int n_zlib_frames;   /* deflated frames received */
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len;
	cJSON *map;
	uint64_t version;
	int n_netmaps, n_full, n_deltas, n_drain_confirmed, n_errors, n_refused, n_welcome;
	int n_liveness;
	uint64_t heartbeat_ms, dead_after_ms; /* from the latest welcome or liveness */
	char last_error[256];
	struct io_timer hb;
	/* The session's Noise state (lib/wire/mapsec.h): frames queued before
	 * control's answer wait in `pend` (u32 length, bytes) and go sealed. */
	struct mapsec sec;
	uint8_t *pend;
	size_t pend_len;
	const char *key_name; /* the node key comes from this name; NULL: `name` */
	const char *auth;     /* the hello's auth key: NULL its own, "" none */
	const uint8_t *pin;   /* the control key it handshakes to; NULL: control's */
};

struct tw {
	struct ns3w_world *world;
	struct io *io[TW_NODES];
	FILE *events;
	struct control *c;
	struct fake f[TW_NODES];
	struct storage *st;          /* control's disk (in memory), kept across restarts */
	struct storage *admin_files; /* set-policy's files; NULL: the host's */
	char state_path[64];
	/* Each fake's auth key (SEC-1), issued by the operator on its first
	 * hello: one per fake, with its tags; kept while control's state is. */
	char auth_key[TW_NODES][64];
	char out[TW_OUT_LEN];
};

static uint64_t tw_latency(void *ctx, const char *a, const char *b)
{
	int ra = -1, rb = -1;
	static const uint64_t lat[3][3] = {
	    {0, 40000, 100000}, {40000, 0, 60000}, {100000, 60000, 0}};
	(void)ctx;
	for (int i = 0; i < 3; i++) {
		if (strcmp(a, tw_region_names[i]) == 0)
			ra = i;
		if (strcmp(b, tw_region_names[i]) == 0)
			rb = i;
	}
	if (ra < 0 || rb < 0)
		return 1000000;
	return lat[ra][rb];
}

static void tw_step(struct tw *w, uint64_t us)
{
	uint64_t now = ns3w_now_us(w->world);
	ns3w_run(w->world, now + us);
}

#define RUN_UNTIL(w, expr, timeout_us)                                                             \
	({                                                                                         \
		uint64_t _deadline = ns3w_now_us((w)->world) + (timeout_us);                       \
		bool _ok;                                                                          \
		while (!(_ok = (expr)) && ns3w_now_us((w)->world) < _deadline)                     \
			tw_step((w), TW_STEP_US);                                                  \
		_ok;                                                                               \
	})

static struct tw *tw_new(void)
{
	const struct ns3w_world_config wc = {.seed = 1, .run = 1};
	const struct ns3w_link_params access = {.latency_us = 1000};
	const struct ns3w_link_params l01 = {.latency_us = 40000}, l12 = {.latency_us = 60000},
	                              l02 = {.latency_us = 100000};
	struct tw *w = calloc(1, sizeof(*w));
	int err = 0;

	CHECK(w != NULL);
	w->world = ns3w_world_new(&wc);
	CHECK(w->world != NULL);
	for (int r = 0; r < 3; r++)
		CHECK(ns3w_region_add(w->world) == r);
	CHECK(ns3w_region_link(w->world, 0, 1, &l01) >= 0);
	CHECK(ns3w_region_link(w->world, 1, 2, &l12) >= 0);
	CHECK(ns3w_region_link(w->world, 0, 2, &l02) >= 0);
	for (int i = 0; i < TW_NODES; i++)
		CHECK(ns3w_node_add(w->world, tw_region[i], &access, false) == i);
	CHECK(ns3w_finalize(w->world) == 0);
	w->events = tmpfile();
	CHECK(w->events != NULL);
	for (int i = 0; i < TW_NODES; i++) {
		const struct io_sim_config ic = {.world = w->world,
		                                 .node = i,
		                                 .name = tw_names[i],
		                                 .seed = 1,
		                                 .events = w->events};
		w->io[i] = io_sim_new(&ic, &err);
		CHECK(w->io[i] != NULL);
		w->f[i].w = w;
		w->f[i].idx = i;
		w->f[i].h = -1;
		w->f[i].name = tw_names[i];
		w->f[i].auto_ack = true;
		w->f[i].send_hello = true;
	}
	CHECK(storage_mem_new(&w->st, 1) == 0);
	return w;
}

static int tw_start_control(struct tw *w, const char *state_path)
{
	char err[512] = "";
	struct control_config cfg = {
	    .name = "control",
	    .users = tw_users,
	    .n_users = 2,
	    .policy_text = tw_policy,
	    .latency_fn = tw_latency,
	    .heartbeat_us = TW_HEARTBEAT,
	    .dead_after_us = TW_DEAD_AFTER,
	    .idle_heartbeat_us = TW_IDLE_HB,
	    .idle_dead_after_us = TW_IDLE_DEAD,
	    .lost_expiry_us = TW_LOST_EXPIRY,
	    .state_path = state_path,
	    .storage = w->st,
	    .admin_files = w->admin_files,
	    .err = err,
	    .err_len = sizeof(err),
	};
	io_addr_v4(&cfg.listen, ns3w_node_underlay_ip(w->world, CTL), 0);
	if (!state_path)
		memset(w->auth_key, 0, sizeof(w->auth_key)); /* a control with no past */
	int rc = control_new(&w->c, w->io[CTL], &cfg);
	if (rc < 0)
		fprintf(stderr, "control_new: %s\n", err);
	return rc;
}

static void fake_close(struct fake *f)
{
	struct io *io = f->w->io[f->idx];
	if (f->h >= 0)
		io->ops->close(io, f->h, true);
	f->h = -1;
	f->closed = true;
	f->connected = false;
	io->ops->timer_disarm(io, &f->hb);
}

static void tw_free(struct tw *w)
{
	for (int i = 0; i < TW_NODES; i++) {
		struct fake *f = &w->f[i];
		if (f->h >= 0)
			fake_close(f);
		w->io[i]->ops->timer_disarm(w->io[i], &f->hb);
		cJSON_Delete(f->map);
		free(f->in);
		free(f->out);
		free(f->pend);
	}
	control_free(w->c);
	for (int i = 0; i < TW_NODES; i++)
		io_sim_free(w->io[i]);
	ns3w_world_free(w->world);
	fclose(w->events);
	storage_mem_free(w->st);
	free(w);
}

static void fake_flush(struct fake *f)
{
	struct io *io = f->w->io[f->idx];
	while (f->out_len && f->h >= 0) {
		ssize_t n = io->ops->tcp_write(io, f->h, f->out, f->out_len);
		if (n <= 0)
			return;
		memmove(f->out, f->out + n, f->out_len - (size_t)n);
		f->out_len -= (size_t)n;
	}
}

/* Queues raw bytes (a frame or garbage). */
static void fake_raw(struct fake *f, const void *data, size_t len)
{
	f->out = realloc(f->out, f->out_len + len);
	CHECK(f->out != NULL);
	memcpy(f->out + f->out_len, data, len);
	f->out_len += len;
	if (f->connected)
		fake_flush(f);
}

/* One frame: sealed once the session is open, held until then. */
static void fake_send_bytes(struct fake *f, const void *data, size_t len)
{
	uint8_t hdr[MAPPROTO_HDR_LEN];

	if (f->sec.state == MAPSEC_WAIT_RESP) {
		uint32_t l = (uint32_t)len;
		f->pend = realloc(f->pend, f->pend_len + 4 + len);
		CHECK(f->pend != NULL);
		memcpy(f->pend + f->pend_len, &l, 4);
		memcpy(f->pend + f->pend_len + 4, data, len);
		f->pend_len += 4 + len;
		return;
	}
	if (f->sec.state != MAPSEC_OPEN) {
		mapproto_frame_header(hdr, (uint32_t)len);
		fake_raw(f, hdr, sizeof(hdr));
		fake_raw(f, data, len);
		return;
	}
	uint8_t *sealed = malloc(len + MAPSEC_OVERHEAD);
	mapproto_frame_header(hdr, (uint32_t)(len + MAPSEC_OVERHEAD));
	CHECK(sealed && mapsec_seal(&f->sec, hdr, data, len, sealed) == 0);
	fake_raw(f, hdr, sizeof(hdr));
	fake_raw(f, sealed, len + MAPSEC_OVERHEAD);
	free(sealed);
}

static void fake_send(struct fake *f, const char *json)
{
	fake_send_bytes(f, json, strlen(json));
}

/* The node key of a name: a test's node keeps its key across sessions. */
static struct wg_keypair fake_key(const char *name)
{
	uint8_t seed[WG_KEY_LEN];
	struct wg_keypair kp;

	CHECK(wg_hash(seed, "fake node key ", 14, name, strlen(name)) == 0);
	CHECK(wg_keypair_from_seed(&kp, seed) == 0);
	return kp;
}

/* Noise message 1 to control, first on the connection. */
static void fake_handshake(struct fake *f)
{
	uint8_t e[WG_KEY_LEN], init[MAPSEC_INIT_LEN], ctl[WG_KEY_LEN], hdr[MAPPROTO_HDR_LEN];
	struct wg_keypair kp = fake_key(f->key_name ? f->key_name : f->name);
	struct io *io = f->w->io[f->idx];

	control_public_key(f->w->c, ctl);
	if (f->pin)
		memcpy(ctl, f->pin, sizeof(ctl));
	io->ops->random_secret(io, e, sizeof(e));
	CHECK(mapsec_client_start(&f->sec, &kp, ctl, e, io->ops->wall_us(io) * 1000, init) == 0);
	mapproto_frame_header(hdr, sizeof(init));
	fake_raw(f, hdr, sizeof(hdr));
	fake_raw(f, init, sizeof(init));
}

/* Control's answer: the session opens and what waited goes out sealed. */
static void fake_on_handshake(struct fake *f, const uint8_t *p, size_t len)
{
	uint8_t *pend = f->pend;
	size_t pend_len = f->pend_len;

	if (mapsec_client_finish(&f->sec, p, len) < 0) {
		f->n_errors++;
		snprintf(f->last_error, sizeof(f->last_error), "handshake response does not open");
		return;
	}
	f->pend = NULL;
	f->pend_len = 0;
	for (size_t off = 0; off < pend_len;) {
		uint32_t l;
		memcpy(&l, pend + off, 4);
		fake_send_bytes(f, pend + off + 4, l);
		off += 4 + l;
	}
	free(pend);
}

/* The fake's auth key, issued the first time it says hello. */
static const char *fake_auth_key(struct fake *f)
{
	char *key = f->w->auth_key[f->idx], err[256] = "";
	const char *tags[1] = {tw_tag[f->idx]};

	if (!key[0])
		CHECK(control_authkey_issue(f->w->c, "", tags, tags[0][0] ? 1 : 0, key, 64, err,
		                            sizeof(err)) == 0);
	return key;
}

static void fake_hello(struct fake *f)
{
	char buf[768];
	uint32_t ip = ns3w_node_underlay_ip(f->w->world, f->idx);
	char key[96] = "";
	if (f->tls_key)
		snprintf(key, sizeof(key), ",\"tls_key\":\"%s\"", f->tls_key);
	snprintf(buf, sizeof(buf),
	         "{\"type\":\"hello\",\"proto\":1,\"node\":\"%s\",\"user\":\"\",\"region\":\"%s\","
	         "\"tags\":[\"%s\"],\"endpoint\":\"%u.%u.%u.%u:41641\"%s%s,\"auth_key\":\"%s\"}",
	         f->name, tw_region_names[tw_region[f->idx]], tw_tag[f->idx], ip >> 24,
	         (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, key,
	         f->zlib ? ",\"compress\":\"zlib\"" : "", f->auth ? f->auth : fake_auth_key(f));
	fake_send(f, buf);
}

static void fake_ack(struct fake *f)
{
	char buf[96];
	snprintf(buf, sizeof(buf), "{\"type\":\"ack\",\"version\":%llu}",
	         (unsigned long long)f->version);
	fake_send(f, buf);
}

static void fake_on_frame(struct fake *f, const uint8_t *p, size_t len)
{
	char err[256];
	cJSON *msg = NULL;
	enum mapproto_type t = mapproto_parse(p, len, &msg, err, sizeof(err));

	switch (t) {
	case MAPPROTO_NETMAP: {
		const cJSON *full = cJSON_GetObjectItemCaseSensitive(msg, "full");
		f->n_netmaps++;
		if (full) {
			cJSON_Delete(f->map);
			f->map = cJSON_Duplicate(full, true);
			f->n_full++;
		} else {
			f->n_deltas++;
			if (!f->map || mapproto_apply_delta(f->map, msg, err, sizeof(err)) < 0) {
				fake_send(f, "{\"type\":\"resync\"}");
				break;
			}
		}
		f->version = (uint64_t)cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(msg, "version"));
		if (f->auto_ack)
			fake_ack(f);
		break;
	}
	case MAPPROTO_DRAIN_CONFIRMED:
		f->n_drain_confirmed++;
		break;
	case MAPPROTO_ERROR:
		f->n_errors++;
		snprintf(f->last_error, sizeof(f->last_error), "%s",
		         cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "message")));
		break;
	case MAPPROTO_ADVERTISE_REFUSED:
		f->n_refused++;
		break;
	case MAPPROTO_WELCOME:
	case MAPPROTO_LIVENESS:
		if (t == MAPPROTO_WELCOME)
			f->n_welcome++;
		else
			f->n_liveness++;
		f->heartbeat_ms = (uint64_t)cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(msg, "heartbeat_ms"));
		f->dead_after_ms = (uint64_t)cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(msg, "dead_after_ms"));
		break;
	default:
		break;
	}
	cJSON_Delete(msg);
}

/* Every whole frame in f->in from `off` (deflated ones inflated); returns
 * where the first incomplete one starts. */
static size_t fake_frames(struct fake *f, size_t off)
{
	for (;;) {
		const uint8_t *p;
		size_t pl;
		bool z;
		ssize_t fl = mapproto_frame_parse(f->in + off, f->in_len - off, MAPPROTO_MAX_FRAME,
		                                  &p, &pl, f->zlib ? &z : NULL);
		if (fl < 0)
			return off;
		off += (size_t)fl;
		if (f->sec.state == MAPSEC_WAIT_RESP) {
			fake_on_handshake(f, p, pl);
			continue;
		}
		if (f->sec.state == MAPSEC_OPEN) {
			CHECK(pl >= MAPSEC_OVERHEAD &&
			      mapsec_open(&f->sec, p - MAPPROTO_HDR_LEN, p, pl, (uint8_t *)p) == 0);
			pl -= MAPSEC_OVERHEAD;
		}
		if (f->zlib && z) {
			uint8_t *raw;
			size_t raw_len;
			CHECK(mapproto_inflate(p, pl, MAPPROTO_MAX_FRAME, &raw, &raw_len) == 0);
			f->n_zlib_frames++;
			fake_on_frame(f, raw, raw_len);
			free(raw);
		} else {
			fake_on_frame(f, p, pl);
		}
	}
}

static void fake_hb_fn(struct io_timer *t)
{
	struct fake *f = container_of(t, struct fake, hb);
	struct io *io = f->w->io[f->idx];
	if (f->closed)
		return;
	if (!f->silent && f->connected)
		fake_send(f, "{\"type\":\"heartbeat\"}");
	io->ops->timer_arm(io, &f->hb, TW_FAKE_HB_US);
}

static void fake_cb(void *ctx, int handle, unsigned events)
{
	struct fake *f = ctx;
	struct io *io = f->w->io[f->idx];
	(void)handle;

	if (events & IO_ERROR) {
		fake_close(f);
		return;
	}
	if ((events & IO_WRITABLE) && !f->connected) {
		f->connected = true;
		io->ops->timer_arm(io, &f->hb, TW_FAKE_HB_US);
	}
	fake_flush(f);
	if (!(events & IO_READABLE) || f->no_read)
		return;
	for (;;) {
		if (f->in_cap - f->in_len < 65536) {
			f->in_cap = f->in_cap ? f->in_cap * 2 : 131072;
			f->in = realloc(f->in, f->in_cap);
			CHECK(f->in != NULL);
		}
		ssize_t r = io->ops->tcp_read(io, f->h, f->in + f->in_len, f->in_cap - f->in_len);
		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			/* Frames already read still count (an error before the close). */
			fake_frames(f, 0);
			f->in_len = 0;
			fake_close(f);
			return;
		}
		f->in_len += (size_t)r;
		size_t off = fake_frames(f, 0);
		memmove(f->in, f->in + off, f->in_len - off);
		f->in_len -= off;
	}
}

/* Connects fake `i` (as `name`) and queues its hello. */
static void fake_connect_as(struct tw *w, int i, const char *name)
{
	struct fake *f = &w->f[i];
	struct io *io = w->io[i];
	struct io_addr dst;

	f->name = name;
	f->closed = f->connected = false;
	f->in_len = f->out_len = 0;
	f->hb.fn = fake_hb_fn;
	cJSON_Delete(f->map);
	f->map = NULL;
	f->version = 0;
	io_addr_v4(&dst, ns3w_node_underlay_ip(w->world, CTL), MAPPROTO_DEFAULT_PORT);
	f->h = io->ops->tcp_connect(io, &dst, NULL, fake_cb, f);
	CHECK(f->h >= 0);
	mapsec_clear(&f->sec);
	free(f->pend);
	f->pend = NULL;
	f->pend_len = 0;
	fake_handshake(f);
	if (f->send_hello)
		fake_hello(f);
}

/* A plain TCP connection from fake `i` to control's `port` (no frames). */
static void fake_connect_port(struct tw *w, int i, uint16_t port)
{
	struct fake *f = &w->f[i];
	struct io_addr dst;

	f->hb.fn = fake_hb_fn;
	f->silent = true;
	io_addr_v4(&dst, ns3w_node_underlay_ip(w->world, CTL), port);
	f->h = w->io[i]->ops->tcp_connect(w->io[i], &dst, NULL, fake_cb, f);
	CHECK(f->h >= 0);
}

static void fake_connect(struct tw *w, int i)
{
	fake_connect_as(w, i, tw_names[i]);
}

static void fake_advertise(struct fake *f, const char *services_json)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "{\"type\":\"advertise\",\"services\":%s}", services_json);
	fake_send(f, buf);
}

/* ---- map queries -------------------------------------------------------- */

static const cJSON *fake_service(const struct fake *f, const char *svc)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(f->map, "services"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
		if (n && strcmp(n, svc) == 0)
			return s;
	}
	return NULL;
}

static const char *fake_first_host(const struct fake *f, const char *svc)
{
	const cJSON *s = fake_service(f, svc);
	return cJSON_GetStringValue(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s, "hosts"), 0));
}

static bool fake_first_is(const struct fake *f, const char *svc, const char *host)
{
	const char *h = fake_first_host(f, svc);
	return h && strcmp(h, host) == 0;
}

static bool fake_ranks(const struct fake *f, const char *svc, const char *host)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(fake_service(f, svc), "hosts"))
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, host) == 0)
			return true;
	}
	return false;
}

static size_t fake_n_hosts(const struct fake *f, const char *svc)
{
	return (size_t)cJSON_GetArraySize(
	    cJSON_GetObjectItemCaseSensitive(fake_service(f, svc), "hosts"));
}

static bool fake_has_dns(const struct fake *f, const char *name)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(f->map, "dns"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "name"));
		if (n && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

static bool fake_hosts_service(const struct fake *f, const char *svc)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(f->map, "host_services"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
		if (n && strcmp(n, svc) == 0)
			return true;
	}
	return false;
}

/* ---- control queries ---------------------------------------------------- */

static cJSON *tw_cmd(struct tw *w, const char *actor, const char *line, int *rc)
{
	int r = control_admin_line(w->c, actor, line, w->out, sizeof(w->out));
	if (rc)
		*rc = r;
	return cJSON_Parse(w->out);
}

static void tw_ok(struct tw *w, const char *line)
{
	int rc;
	cJSON *o = tw_cmd(w, ALICE, line, &rc);
	cr_assert_eq(rc, 0, "%s: %s", line, w->out);
	cJSON_Delete(o);
}

static bool tw_service_state_is(struct tw *w, const char *svc, const char *state)
{
	char line[128];
	snprintf(line, sizeof(line), "service %s", svc);
	cJSON *o = tw_cmd(w, ALICE, line, NULL);
	const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "state"));
	bool ok = st && strcmp(st, state) == 0;
	cJSON_Delete(o);
	return ok;
}

/* The host entry of `node` in `service svc` (caller deletes *doc). */
static const cJSON *tw_host(struct tw *w, const char *svc, const char *node, cJSON **doc)
{
	char line[128];
	const cJSON *h;
	snprintf(line, sizeof(line), "service %s", svc);
	*doc = tw_cmd(w, ALICE, line, NULL);
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(*doc, "hosts"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "node"));
		if (n && strcmp(n, node) == 0)
			return h;
	}
	return NULL;
}

static bool tw_host_state_is(struct tw *w, const char *svc, const char *node, const char *state)
{
	cJSON *doc;
	const cJSON *h = tw_host(w, svc, node, &doc);
	const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "state"));
	bool ok = st && strcmp(st, state) == 0;
	cJSON_Delete(doc);
	return ok;
}

/* Events of `type` whose line also holds `needle` (NULL: any). */
static int tw_events(struct tw *w, const char *type, const char *needle)
{
	char line[4096], key[128];
	int n = 0;
	fflush(w->events);
	rewind(w->events);
	snprintf(key, sizeof(key), "\"type\":\"%s\"", type);
	while (fgets(line, sizeof(line), w->events)) {
		/* The backend adds "node"; fields must not repeat it. */
		const char *first = strstr(line, "\"node\":");
		cr_assert(first && !strstr(first + 1, "\"node\":"), "duplicate key: %s", line);
		if (strstr(line, key) && (!needle || strstr(line, needle)))
			n++;
	}
	fseek(w->events, 0, SEEK_END);
	return n;
}

/* Control up, the named fakes connected and mapped. */
static struct tw *tw_setup(const int *nodes, size_t n)
{
	struct tw *w = tw_new();
	cr_assert_eq(tw_start_control(w, NULL), 0);
	for (size_t i = 0; i < n; i++)
		fake_connect(w, nodes[i]);
	for (size_t i = 0; i < n; i++) {
		struct fake *f = &w->f[nodes[i]];
		cr_assert(RUN_UNTIL(w, f->map != NULL, TW_TIMEOUT_US), "%s got no map", f->name);
	}
	return w;
}

static void tw_define_web(struct tw *w)
{
	tw_ok(w, "define svc:web --ports=tcp:443,tcp:80 --tags=tag:websvc "
	         "--description=\"Web front end\"");
}

/* ---- admin command grammar ---------------------------------------------- */

Test(admin_cmd, define_parses_options_and_quoted_description)
{
	struct admin_cmd c;
	char err[256];
	cr_assert_eq(admin_cmd_parse(&c,
	                             "define svc:web --ports=tcp:443,tcp:80 --tags=tag:a "
	                             "--description=\"Web \\\"front\\\" end\"",
	                             err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(c.kind, ADMIN_CMD_DEFINE);
	cr_assert_str_eq(c.service, "svc:web");
	cr_assert_eq(c.n_ports, 2);
	cr_assert_str_eq(c.ports[1], "tcp:80");
	cr_assert_eq(c.n_tags, 1);
	cr_assert_str_eq(c.description, "Web \"front\" end");
	admin_cmd_free(&c);
}

Test(admin_cmd, misspelt_command_names_the_word_and_suggests)
{
	struct admin_cmd c;
	char err[256];
	cr_assert_eq(admin_cmd_parse(&c, "aprove svc:web web-us", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "unknown command \"aprove\" (did you mean \"approve\"?)");
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "define svc:web --port=tcp:1", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"--port\"") && strstr(err, "--ports"), "%s", err);
	admin_cmd_free(&c);
}

Test(admin_cmd, wrong_arity_and_bad_names_are_refused)
{
	struct admin_cmd c;
	char err[256];
	cr_assert_eq(admin_cmd_parse(&c, "approve svc:web", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "missing NODE"), "%s", err);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "delete web", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"web\""), "%s", err);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "services extra", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"extra\""), "%s", err);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "   ", err, sizeof(err)), -EINVAL);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "define \"svc:web", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "unterminated"), "%s", err);
	admin_cmd_free(&c);
}

Test(admin_cmd, limits_on_line_words_and_lists)
{
	struct admin_cmd c;
	char err[256], *big = malloc(ADMIN_CMD_MAX_LINE + 2);
	memset(big, 'a', ADMIN_CMD_MAX_LINE + 1);
	big[ADMIN_CMD_MAX_LINE + 1] = '\0';
	cr_assert_eq(admin_cmd_parse(&c, big, err, sizeof(err)), -E2BIG);
	admin_cmd_free(&c);
	free(big);
	char words[256] = "a";
	for (int i = 0; i < ADMIN_CMD_MAX_WORDS; i++)
		strcat(words, " b");
	cr_assert_eq(admin_cmd_parse(&c, words, err, sizeof(err)), -E2BIG);
	admin_cmd_free(&c);
	char line[1024] = "define svc:x --tags=";
	for (int i = 0; i <= REG_MAX_TAGS; i++)
		strcat(line, i ? ",tag:t" : "tag:t");
	cr_assert_eq(admin_cmd_parse(&c, line, err, sizeof(err)), -E2BIG);
	admin_cmd_free(&c);
}

Test(admin_cmd, set_tags_takes_a_node_and_one_to_32_tags)
{
	struct admin_cmd c;
	char err[256], line[1024] = "set-tags web-1";
	cr_assert_eq(admin_cmd_parse(&c, "set-tags web-1 tag:a tag:b", err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(c.kind, ADMIN_CMD_SET_TAGS);
	cr_assert_str_eq(c.node, "web-1");
	cr_assert_eq(c.n_tags, 2);
	cr_assert_str_eq(c.tags[1], "tag:b");
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "set-tags web-1", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "missing a tag"), "%s", err);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "set-tags", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "missing NODE"), "%s", err);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "set-tag web-1 tag:a", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "did you mean \"set-tags\""), "%s", err);
	admin_cmd_free(&c);
	for (int i = 0; i <= REG_MAX_TAGS; i++)
		strcat(line, " tag:t");
	cr_assert_eq(admin_cmd_parse(&c, line, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "at most 32 tags"), "%s", err);
	admin_cmd_free(&c);
}

/* ---- approvals ---------------------------------------------------------- */

Test(control, apr1_apr2_pending_host_carries_nothing_until_an_admin_approves)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);
	struct fake *web = &w->f[WEB_US], *cl = &w->f[CL_US];

	tw_define_web(w);
	fake_advertise(web, "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(
	    RUN_UNTIL(w, tw_service_state_is(w, "svc:web", "Pending approval"), TW_TIMEOUT_US));
	cr_assert(RUN_UNTIL(w, fake_service(cl, "svc:web") != NULL, TW_TIMEOUT_US));
	tw_step(w, 200000);
	cr_assert_eq(fake_n_hosts(cl, "svc:web"), 0, "APR-1: a pending host is ranked");
	cr_assert(!fake_hosts_service(web, "svc:web"), "APR-1: pending host got the VIP");
	cr_assert(tw_host_state_is(w, "svc:web", "web-us", "Pending approval"));

	tw_ok(w, "approve svc:web web-us");
	cr_assert(RUN_UNTIL(w, fake_first_is(cl, "svc:web", "web-us"), TW_TIMEOUT_US));
	cr_assert(RUN_UNTIL(w, fake_hosts_service(web, "svc:web"), TW_TIMEOUT_US));
	cr_assert(tw_service_state_is(w, "svc:web", "Connected"), "STA-3");
	cr_assert_geq(tw_events(w, "host_decision", "\"decision\":\"approved\""), 1);
	cr_assert_geq(tw_events(w, "service_state", "\"state\":\"Connected\""), 1);
	cr_assert_geq(tw_events(w, "steering", "\"host\":\"web-us\""), 1);
	tw_free(w);
}

Test(control, svc6_apr2_member_is_refused_and_nothing_changes)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);
	int rc;

	tw_define_web(w);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(
	    RUN_UNTIL(w, tw_service_state_is(w, "svc:web", "Pending approval"), TW_TIMEOUT_US));
	cJSON_Delete(tw_cmd(w, BOB, "approve svc:web web-us", &rc));
	cr_assert_eq(rc, -EPERM, "APR-2");
	cr_assert(strstr(w->out, "\"error\""), "%s", w->out);
	cJSON_Delete(tw_cmd(w, BOB, "define svc:evil --ports=tcp:1 --tags=tag:websvc", &rc));
	cr_assert_eq(rc, -EPERM, "SVC-6");
	cJSON_Delete(tw_cmd(w, BOB, "delete svc:web", &rc));
	cr_assert_eq(rc, -EPERM, "SVC-6");
	cJSON_Delete(tw_cmd(w, "mallory@example.com", "services", &rc));
	cr_assert_eq(rc, -EPERM);
	tw_step(w, 200000);
	cr_assert_eq(registry_service_count(control_registry(w->c)), 1);
	cr_assert(tw_host_state_is(w, "svc:web", "web-us", "Pending approval"));
	cr_assert_eq(fake_n_hosts(&w->f[CL_US], "svc:web"), 0);
	cr_assert_eq(tw_events(w, "admin_refused", "bob@example.com"), 3);
	/* A member may read. */
	cJSON_Delete(tw_cmd(w, BOB, "services", &rc));
	cr_assert_eq(rc, 0);
	tw_free(w);
}

Test(control, apr3_policy_approves_hosts_by_service_name_and_by_tag)
{
	const int nodes[] = {WEB_US, DB1, CL_US};
	struct tw *w = tw_setup(nodes, 3);
	cJSON *doc;

	tw_ok(w, "define svc:auto --ports=tcp:443 --tags=tag:websvc");
	tw_ok(w, "define svc:db --ports=tcp:5432 --tags=tag:dbsvc");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:auto\",\"ports\":[443]}]");
	fake_advertise(&w->f[DB1], "[{\"name\":\"svc:db\",\"ports\":[5432]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:auto", "web-us"), TW_TIMEOUT_US));
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:db", "db-1"), TW_TIMEOUT_US));
	const cJSON *h = tw_host(w, "svc:db", "db-1", &doc);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "auto_approved")));
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "state")),
	                 "Connected");
	cJSON_Delete(doc);
	tw_free(w);
}

Test(control, apr4_hosts_approved_ahead_show_as_pre_approved)
{
	const int nodes[] = {WEB_US, WEB_EU};
	struct tw *w = tw_setup(nodes, 2);

	tw_ok(w, "define svc:auto --ports=tcp:443 --tags=tag:websvc");
	tw_define_web(w);
	tw_ok(w, "approve svc:web web-eu");
	cr_assert(tw_host_state_is(w, "svc:auto", "web-us", "Pre-approved"), "%s", w->out);
	cr_assert(tw_host_state_is(w, "svc:web", "web-eu", "Pre-approved"), "%s", w->out);
	cr_assert(tw_service_state_is(w, "svc:web", "Pre-approved"));
	tw_step(w, 100000);
	cr_assert_geq(tw_events(w, "host_state", "\"state\":\"Pre-approved\""), 1);
	tw_free(w);
}

Test(control, apr5_revoke_takes_the_host_out_of_clients_maps)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:web", "web-us"), TW_TIMEOUT_US));
	tw_ok(w, "revoke svc:web web-us");
	cr_assert(RUN_UNTIL(w, fake_n_hosts(&w->f[CL_US], "svc:web") == 0, TW_TIMEOUT_US));
	cr_assert(RUN_UNTIL(w, !fake_hosts_service(&w->f[WEB_US], "svc:web"), TW_TIMEOUT_US));
	tw_free(w);
}

/* ---- grants ------------------------------------------------------------- */

Test(control, acl1_client_without_grant_has_neither_service_nor_dns)
{
	const int nodes[] = {WEB_US, CL_US, OTHER};
	struct tw *w = tw_setup(nodes, 3);

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:web", "web-us"), TW_TIMEOUT_US));
	cr_assert(fake_has_dns(&w->f[CL_US], "web.example.ts.net"));
	tw_step(w, 100000);
	cr_assert_null(fake_service(&w->f[OTHER], "svc:web"));
	cr_assert(!fake_has_dns(&w->f[OTHER], "web.example.ts.net"));
	tw_free(w);
}

Test(control, acl3_host_filter_admits_only_the_granted_port)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);
	const cJSON *rule, *dst;
	bool has443 = false, has80 = false;

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_hosts_service(&w->f[WEB_US], "svc:web"), TW_TIMEOUT_US));
	cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(w->f[WEB_US].map, "filter"))
	{
		cJSON_ArrayForEach(dst, cJSON_GetObjectItemCaseSensitive(rule, "dst"))
		{
			const char *p =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dst, "ports"));
			if (p && strcmp(p, "443") == 0)
				has443 = true;
			if (p && (strcmp(p, "80") == 0 || strcmp(p, "*") == 0))
				has80 = true;
		}
	}
	cr_assert(has443, "the granted port is missing from the host's filter");
	cr_assert(!has80, "ACL-3: a port outside the grant is in the filter");
	tw_free(w);
}

Test(control, acl4_policy_change_reaches_maps_within_the_recompute_delay)
{
	const int nodes[] = {WEB_US, CL_US, OTHER};
	struct tw *w = tw_setup(nodes, 3);
	char path[] = "/tmp/h6-policy-XXXXXX";
	int fd = mkstemp(path);
	char line[128];

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, tw_policy_other, strlen(tw_policy_other)),
	             (ssize_t)strlen(tw_policy_other));
	close(fd);
	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:web", "web-us"), TW_TIMEOUT_US));
	cr_assert_null(fake_service(&w->f[OTHER], "svc:web"));
	snprintf(line, sizeof(line), "set-policy %s", path);
	tw_ok(w, line);
	/* Recompute delay plus one round trip inside the region (4 ms). */
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[OTHER], "svc:web", "web-us"),
	                    CONTROL_RECOMPUTE_DELAY_US + 10000));
	/* A bad policy is refused whole, naming the place. */
	FILE *f = fopen(path, "w");
	fputs(
	    "{\"grants\": [{\"src\": [\"tag:nope\"], \"dst\": [\"svc:web\"], \"ip\": [\"443\"]}]}",
	    f);
	fclose(f);
	int rc;
	cJSON_Delete(tw_cmd(w, ALICE, line, &rc));
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(w->out, "grants[0]"), "%s", w->out);
	tw_step(w, 100000);
	cr_assert(fake_first_is(&w->f[OTHER], "svc:web", "web-us"));
	unlink(path);
	tw_free(w);
}

Test(control, set_policy_reads_its_file_through_the_admin_files_storage)
{
	struct tw *w = tw_new();
	int rc;

	w->admin_files = w->st;
	cr_assert_eq(tw_start_control(w, NULL), 0);
	cr_assert_eq(w->st->ops->write(w->st, "policy-v2.hujson", tw_policy_other,
	                               strlen(tw_policy_other), NULL, 0),
	             0);
	tw_ok(w, "set-policy policy-v2.hujson");
	cJSON *o = tw_cmd(w, ALICE, "policy", NULL);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "policy")),
	                 tw_policy_other);
	cJSON_Delete(o);
	/* A name the storage does not hold is not looked up on the host. */
	cJSON_Delete(tw_cmd(w, ALICE, "set-policy /etc/hostname", &rc));
	cr_assert_eq(rc, -ENOENT);
	cr_assert(strstr(w->out, "set-policy /etc/hostname: "), "%s", w->out);
	tw_free(w);
}

/* ---- steering and liveness ---------------------------------------------- */

static struct tw *tw_two_regions(void)
{
	const int nodes[] = {WEB_US, WEB_EU, CL_US, CL_EU, CL_AP};
	struct tw *w = tw_setup(nodes, 5);

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	tw_ok(w, "approve svc:web web-eu");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	fake_advertise(&w->f[WEB_EU], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w,
	                    fake_n_hosts(&w->f[CL_US], "svc:web") == 2 &&
	                        fake_n_hosts(&w->f[CL_EU], "svc:web") == 2 &&
	                        fake_n_hosts(&w->f[CL_AP], "svc:web") == 2,
	                    TW_TIMEOUT_US));
	return w;
}

/* Hosts' liveness steers traffic; other nodes' does not, so control
 * holds them to the looser idle pair and spares itself their heartbeats. */
Test(control, str4_hosts_get_the_tight_liveness_and_clients_the_idle_one)
{
	struct tw *w = tw_two_regions();
	struct fake *cl = &w->f[CL_US], *web = &w->f[WEB_US];

	cr_assert_eq(cl->n_welcome, 1);
	cr_assert_eq(cl->n_liveness, 0);
	cr_assert_eq(cl->heartbeat_ms, TW_IDLE_HB / 1000);
	cr_assert_eq(cl->dead_after_ms, TW_IDLE_DEAD / 1000);
	cr_assert_eq(web->n_liveness, 1, "the host's advertisement moves it to the tight pair");
	cr_assert_eq(web->heartbeat_ms, TW_HEARTBEAT / 1000);
	cr_assert_eq(web->dead_after_ms, TW_DEAD_AFTER / 1000);

	/* A silent client outlives the hosts' limit, not the idle one. */
	uint64_t t0 = ns3w_now_us(w->world);
	cl->silent = true;
	tw_step(w, 2 * TW_DEAD_AFTER);
	cr_assert_eq(tw_events(w, "node_dead", "\"node_name\":\"client-us\""), 0);
	cr_assert(RUN_UNTIL(w, tw_events(w, "node_dead", "\"node_name\":\"client-us\"") == 1,
	                    TW_IDLE_DEAD));
	uint64_t dead_after = ns3w_now_us(w->world) - t0;
	cr_assert_geq(dead_after, TW_IDLE_DEAD);
	cr_assert_leq(dead_after, TW_IDLE_DEAD + TW_HEARTBEAT);

	/* Withdrawing every service moves the host back to the idle pair. */
	fake_send(web, "{\"type\":\"advertise\",\"services\":[]}");
	cr_assert(RUN_UNTIL(w, web->n_liveness == 2, TW_TIMEOUT_US));
	cr_assert_eq(web->heartbeat_ms, TW_IDLE_HB / 1000);
	tw_free(w);
}

Test(control, str3_clients_are_steered_to_their_region_then_the_nearest)
{
	struct tw *w = tw_two_regions();

	cr_assert(fake_first_is(&w->f[CL_US], "svc:web", "web-us"));
	cr_assert(fake_first_is(&w->f[CL_EU], "svc:web", "web-eu"));
	/* ap-south: eu-west is 60 ms away, us-east 100 ms. */
	cr_assert(fake_first_is(&w->f[CL_AP], "svc:web", "web-eu"));
	tw_free(w);
}

Test(control, str4_str5_silent_host_is_dead_then_comes_back)
{
	struct tw *w = tw_two_regions();
	struct fake *cl = &w->f[CL_US];

	uint64_t t0 = ns3w_now_us(w->world);
	w->f[WEB_US].silent = true;
	cr_assert(RUN_UNTIL(w, tw_events(w, "node_dead", "\"node_name\":\"web-us\"") == 1,
	                    TW_DEAD_AFTER + TW_HEARTBEAT));
	uint64_t dead_at = ns3w_now_us(w->world);
	cr_assert_leq(dead_at - t0, TW_DEAD_AFTER + TW_HEARTBEAT / 2 + 10000,
	              "STR-4: declared dead %llu us after going silent",
	              (unsigned long long)(dead_at - t0));
	cr_assert(RUN_UNTIL(w, fake_first_is(cl, "svc:web", "web-eu"),
	                    CONTROL_RECOMPUTE_DELAY_US + 10000),
	          "STR-4: client not remapped at once");
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].closed, TW_TIMEOUT_US));
	cr_assert(tw_host_state_is(w, "svc:web", "web-us", "Offline"), "%s", w->out);

	/* STR-5: it comes back and takes its region's clients again. */
	w->f[WEB_US].silent = false;
	fake_connect(w, WEB_US);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(cl, "svc:web", "web-us"), TW_TIMEOUT_US));
	cr_assert_geq(tw_events(w, "node_alive", "\"node_name\":\"web-us\""), 2);
	tw_free(w);
}

/* ---- drain -------------------------------------------------------------- */

Test(control, drn1_drn3_drain_confirmed_only_after_every_client_acked)
{
	struct tw *w = tw_two_regions();
	struct fake *web = &w->f[WEB_US], *held = &w->f[CL_EU];

	cr_assert(fake_ranks(held, "svc:web", "web-us"));
	held->auto_ack = false;
	uint64_t held_version = held->version;
	fake_advertise(web, "[{\"name\":\"svc:web\",\"ports\":[443,80],\"draining\":true}]");
	cr_assert(RUN_UNTIL(w,
	                    !fake_ranks(&w->f[CL_US], "svc:web", "web-us") &&
	                        !fake_ranks(&w->f[CL_AP], "svc:web", "web-us") &&
	                        !fake_ranks(held, "svc:web", "web-us"),
	                    TW_TIMEOUT_US));
	cr_assert_gt(held->version, held_version);
	cr_assert(tw_host_state_is(w, "svc:web", "web-us", "Draining"), "%s", w->out);
	/* The draining host keeps its VIP for open connections. */
	cr_assert(fake_hosts_service(web, "svc:web"));
	tw_step(w, 500000);
	cr_assert_eq(web->n_drain_confirmed, 0, "DRN-3: confirmed before every client acked");
	cr_assert_eq(tw_events(w, "drain_confirmed", NULL), 0);
	fake_ack(held);
	cr_assert(RUN_UNTIL(w, web->n_drain_confirmed == 1, TW_TIMEOUT_US));
	cr_assert_eq(tw_events(w, "drain_confirmed", "\"service\":\"svc:web\""), 1);
	cr_assert_eq(control_acked_version(w->c, "client-eu"), held->version);
	tw_free(w);
}

Test(control, drain_with_no_client_is_confirmed_at_once)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_hosts_service(&w->f[WEB_US], "svc:web"), TW_TIMEOUT_US));
	fake_advertise(&w->f[WEB_US],
	               "[{\"name\":\"svc:web\",\"ports\":[443,80],\"draining\":true}]");
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].n_drain_confirmed == 1, TW_TIMEOUT_US));
	tw_free(w);
}

/* ---- states, deltas, persistence ---------------------------------------- */

Test(control, sta1_sta2_sta3_states_follow_config_and_liveness)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);

	tw_define_web(w);
	cr_assert(tw_service_state_is(w, "svc:web", "Offline"), "%s", w->out);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443]}]");
	cr_assert(
	    RUN_UNTIL(w, tw_service_state_is(w, "svc:web", "Pending approval"), TW_TIMEOUT_US));
	tw_ok(w, "approve svc:web web-us");
	cr_assert(tw_service_state_is(w, "svc:web", "Needs configuration"), "STA-2: %s", w->out);
	cr_assert_eq(fake_n_hosts(&w->f[CL_US], "svc:web"), 0);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, tw_service_state_is(w, "svc:web", "Connected"), TW_TIMEOUT_US));
	fake_close(&w->f[WEB_US]);
	cr_assert(RUN_UNTIL(w, tw_service_state_is(w, "svc:web", "Offline"), TW_TIMEOUT_US),
	          "STA-3");
	tw_step(w, 100000);
	cr_assert_geq(tw_events(w, "service_state", "\"previous\":\"Needs configuration\""), 1);
	cr_assert_geq(tw_events(w, "host_state", "\"state\":\"Offline\""), 1);
	tw_free(w);
}

Test(control, netmaps_after_the_first_are_deltas)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);
	struct fake *cl = &w->f[CL_US];

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(cl, "svc:web", "web-us"), TW_TIMEOUT_US));
	cr_assert_eq(cl->n_full, 1);
	cr_assert_geq(cl->n_deltas, 1);
	cr_assert_geq(tw_events(w, "netmap_sent", "\"kind\":\"delta\""), 1);
	cr_assert(
	    RUN_UNTIL(w, control_acked_version(w->c, "client-us") == cl->version, TW_TIMEOUT_US));
	cr_assert_geq(tw_events(w, "netmap_acked", "\"node_name\":\"client-us\""), 2);
	tw_free(w);
}

Test(control, restart_on_the_state_file_keeps_services_vips_decisions_and_addresses)
{
	struct tw *w = tw_new();
	char vip[64], addr[64], ca[4096];
	cJSON *doc;

	snprintf(w->state_path, sizeof(w->state_path), "state.json");
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].map != NULL, TW_TIMEOUT_US));
	tw_define_web(w);
	tw_ok(w, "define svc:api --ports=tcp:8080 --tags=tag:websvc");
	tw_ok(w, "approve svc:web web-us");
	doc = tw_cmd(w, ALICE, "service svc:web", NULL);
	snprintf(vip, sizeof(vip), "%s",
	         cJSON_GetStringValue(
	             cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "addresses"), 0)));
	cJSON_Delete(doc);
	const struct reg_node *n = registry_node(control_registry(w->c), 0);
	io_addr_format(&n->addr4, false, addr, sizeof(addr));
	snprintf(ca, sizeof(ca), "%s", control_ca_pem(w->c));

	fake_close(&w->f[WEB_US]);
	control_free(w->c);
	w->c = NULL;
	tw_step(w, 10000);
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
	cr_assert_eq(registry_service_count(control_registry(w->c)), 2);
	doc = tw_cmd(w, ALICE, "service svc:web", NULL);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(
	                     cJSON_GetObjectItemCaseSensitive(doc, "addresses"), 0)),
	                 vip);
	cJSON_Delete(doc);
	const cJSON *h = tw_host(w, "svc:web", "web-us", &doc);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "approved")), "%s", w->out);
	cJSON_Delete(doc);
	n = registry_node(control_registry(w->c), 0);
	cr_assert_not_null(n);
	char addr2[64];
	cr_assert_str_eq(io_addr_format(&n->addr4, false, addr2, sizeof(addr2)), addr);
	cr_assert_str_eq(control_ca_pem(w->c), ca);
	/* The node comes back and is served at once. */
	fake_connect(w, WEB_US);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_hosts_service(&w->f[WEB_US], "svc:web"), TW_TIMEOUT_US));
	tw_free(w);
}

/* ---- STR-8: control outages and restarts -------------------------------- */

/* Control on a state file; web-us and web-eu approved and serving svc:web;
 * client-us (and client-eu when `eu_client`) mapped with both. */
static struct tw *tw_saved_two_hosts(bool eu_client)
{
	struct tw *w = tw_new();

	snprintf(w->state_path, sizeof(w->state_path), "str8-state.json");
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
	fake_connect(w, WEB_US);
	fake_connect(w, WEB_EU);
	fake_connect(w, CL_US);
	if (eu_client)
		fake_connect(w, CL_EU);
	cr_assert(RUN_UNTIL(w,
	                    w->f[WEB_US].map && w->f[WEB_EU].map && w->f[CL_US].map &&
	                        (!eu_client || w->f[CL_EU].map),
	                    TW_TIMEOUT_US));
	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	tw_ok(w, "approve svc:web web-eu");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	fake_advertise(&w->f[WEB_EU], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_n_hosts(&w->f[CL_US], "svc:web") == 2, TW_TIMEOUT_US));
	tw_step(w, CONTROL_RECOMPUTE_DELAY_US + 10000); /* saved */
	return w;
}

/* Control crashes (every session drops with it) and starts again from its
 * state file. */
static void tw_control_crash_restart(struct tw *w, uint64_t down_us)
{
	control_free(w->c);
	w->c = NULL;
	for (int i = 1; i < TW_NODES; i++)
		if (w->f[i].h >= 0)
			fake_close(&w->f[i]);
	tw_step(w, down_us);
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
}

/* Whether the state control stored (its storage, read as a restart
 * would) lists `node` as hosting `svc`. */
static bool tw_saved_hosting(struct tw *w, const char *svc, const char *node)
{
	char *text = NULL, err[STORAGE_ERR_LEN];
	size_t n = 0;
	bool found = false;

	cr_assert_eq(w->st->ops->read(w->st, w->state_path, 1 << 20, &text, &n, err, sizeof(err)),
	             0, "%s", err);
	cJSON *doc = cJSON_ParseWithLength(text, n), *e;
	const cJSON *reg = cJSON_GetObjectItemCaseSensitive(doc, "registry");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(reg, "hosting"))
	{
		const char *s =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "service"));
		const char *h = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "node"));
		found |= s && h && strcmp(s, svc) == 0 && strcmp(h, node) == 0;
	}
	cJSON_Delete(doc);
	free(text);
	return found;
}

Test(control, str_8_restarted_control_keeps_saved_hosts_until_they_reconnect_or_the_grace_ends)
{
	struct tw *w = tw_saved_two_hosts(false);
	struct fake *cl = &w->f[CL_US], *eu = &w->f[WEB_EU];
	const uint64_t grace = TW_DEAD_AFTER + MAPPROTO_RETRY_MAX_MS * 1000ull;

	cr_assert(tw_saved_hosting(w, "svc:web", "web-us"), "the file on disk names web-us");
	cr_assert(tw_saved_hosting(w, "svc:web", "web-eu"));
	tw_control_crash_restart(w, 1000000);
	uint64_t t0 = ns3w_now_us(w->world);
	cr_assert_eq(tw_events(w, "control_grace_started", "\"hosts\":2"), 1);

	/* A client back before any host: both hosts, in their order. */
	fake_connect(w, CL_US);
	cr_assert(RUN_UNTIL(w, cl->map != NULL, TW_TIMEOUT_US));
	cr_assert_eq(fake_n_hosts(cl, "svc:web"), 2);
	cr_assert(fake_first_is(cl, "svc:web", "web-us"));
	/* A host back without the service leaves at once... */
	fake_connect(w, WEB_EU);
	fake_advertise(eu, "[]");
	cr_assert(RUN_UNTIL(w, fake_n_hosts(cl, "svc:web") == 1, 500000));
	cr_assert(fake_first_is(cl, "svc:web", "web-us"));
	/* ... and is live at once when it serves it again; web-us, not back
	 * yet, keeps its place. */
	fake_advertise(eu, "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_n_hosts(cl, "svc:web") == 2, 500000));
	cr_assert(fake_first_is(cl, "svc:web", "web-us"));
	cr_assert_eq(tw_events(w, "node_dead", NULL), 0, "nobody is declared gone in the grace");

	/* web-us never comes back: lost once the grace ends, not before. */
	cr_assert(RUN_UNTIL(w, fake_first_is(cl, "svc:web", "web-eu"), grace + TW_TIMEOUT_US));
	uint64_t moved = ns3w_now_us(w->world) - t0;
	cr_assert_geq(moved, grace, "moved %llu us after the restart", (unsigned long long)moved);
	cr_assert_leq(moved, grace + 2 * CONTROL_RECOMPUTE_DELAY_US);
	cr_assert(fake_ranks(cl, "svc:web", "web-us"), "a lost host stays, last");
	cr_assert_eq(tw_events(w, "control_grace_ended",
	                       "\"hosts\":2,\"reconnected\":1,\"missing\":1,\"early\":false"),
	             1, "%s", w->out);
	cr_assert_eq(tw_events(w, "node_dead", "\"node_name\":\"web-us\""), 1);
	cr_assert(tw_host_state_is(w, "svc:web", "web-us", "Offline"), "%s", w->out);
	/* And it stays saved as serving: another restart gives it a grace too. */
	cr_assert(tw_saved_hosting(w, "svc:web", "web-us"));
	tw_free(w);
}

Test(control, str_8_restart_grace_ends_early_once_every_saved_host_is_back)
{
	struct tw *w = tw_saved_two_hosts(true);
	struct fake *cl = &w->f[CL_EU];

	tw_control_crash_restart(w, 100000);
	uint64_t t0 = ns3w_now_us(w->world);
	fake_connect(w, CL_EU);
	fake_connect(w, WEB_US);
	fake_connect(w, WEB_EU);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	fake_advertise(&w->f[WEB_EU], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, tw_events(w, "control_grace_ended", "\"early\":true") == 1,
	                    TW_TIMEOUT_US));
	cr_assert_lt(ns3w_now_us(w->world) - t0, TW_DEAD_AFTER);
	cr_assert_eq(tw_events(w, "control_grace_ended", "\"reconnected\":2,\"missing\":0"), 1);
	cr_assert(RUN_UNTIL(w, cl->map && fake_first_is(cl, "svc:web", "web-eu"), TW_TIMEOUT_US));
	cr_assert_eq(fake_n_hosts(cl, "svc:web"), 2);
	tw_step(w, TW_DEAD_AFTER + MAPPROTO_RETRY_MAX_MS * 1000ull);
	cr_assert_eq(tw_events(w, "node_dead", NULL), 0);
	cr_assert_eq(tw_events(w, "control_grace_ended", NULL), 1);
	tw_free(w);
}

Test(control, str_8_a_silent_host_is_lost_and_ranked_last_a_closed_one_is_gone)
{
	struct tw *w = tw_two_regions();
	struct fake *cl = &w->f[CL_US];

	/* Control stops hearing web-us: its clients may still reach it. */
	w->f[WEB_US].silent = true;
	cr_assert(RUN_UNTIL(w, tw_events(w, "node_dead", "\"lost\":true") == 1,
	                    TW_DEAD_AFTER + TW_HEARTBEAT));
	cr_assert(RUN_UNTIL(w, fake_first_is(cl, "svc:web", "web-eu"),
	                    CONTROL_RECOMPUTE_DELAY_US + 10000));
	cr_assert_eq(fake_n_hosts(cl, "svc:web"), 2, "STR-8: not told web-us is gone");
	cr_assert(tw_host_state_is(w, "svc:web", "web-us", "Offline"), "%s", w->out);
	/* web-eu's session closes: its process is gone, and so is it. */
	fake_close(&w->f[WEB_EU]);
	cr_assert(RUN_UNTIL(w, !fake_ranks(cl, "svc:web", "web-eu"), TW_TIMEOUT_US));
	cr_assert_eq(tw_events(w, "node_dead", "\"node_name\":\"web-eu\""), 1);
	cr_assert_eq(tw_events(w, "node_dead", "\"lost\":false"), 1);
	cr_assert(fake_first_is(cl, "svc:web", "web-us"), "the lost host is the last resort");
	tw_free(w);
}

/* A lost host is a last resort only for so long: a silent death does not
 * heal, and clients should not keep a dead host in their maps for good. */
Test(control, str_8_a_host_lost_for_longer_than_the_expiry_leaves_steering)
{
	struct tw *w = tw_two_regions();
	struct fake *cl = &w->f[CL_US];

	w->f[WEB_US].silent = true;
	cr_assert(RUN_UNTIL(w, tw_events(w, "node_dead", "\"lost\":true") == 1,
	                    TW_DEAD_AFTER + TW_HEARTBEAT));
	tw_step(w, TW_LOST_EXPIRY - 2 * TW_HEARTBEAT);
	cr_assert(fake_ranks(cl, "svc:web", "web-us"), "still the last resort before the expiry");
	cr_assert(RUN_UNTIL(w, !fake_ranks(cl, "svc:web", "web-us"), 4 * TW_HEARTBEAT + 100000),
	          "a host lost for %llu us is still in steering",
	          (unsigned long long)TW_LOST_EXPIRY);
	cr_assert_eq(tw_events(w, "node_dead", "\"reason\":\"lost for too long\""), 1);
	cr_assert(fake_first_is(cl, "svc:web", "web-eu"));
	tw_free(w);
}

/* ---- bad input ---------------------------------------------------------- */

static struct tw *tw_raw(void)
{
	struct tw *w = tw_new();
	cr_assert_eq(tw_start_control(w, NULL), 0);
	w->f[RAW].send_hello = false;
	fake_connect(w, RAW);
	return w;
}

Test(control, first_frame_other_than_hello_is_an_error_and_close)
{
	struct tw *w = tw_raw();
	fake_send(&w->f[RAW], "{\"type\":\"heartbeat\"}");
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, TW_TIMEOUT_US));
	cr_assert_eq(w->f[RAW].n_errors, 1);
	cr_assert(strstr(w->f[RAW].last_error, "hello"), "%s", w->f[RAW].last_error);
	tw_free(w);
}

Test(control, garbage_frame_is_an_error_and_close)
{
	struct tw *w = tw_raw();
	fake_send(&w->f[RAW], "this is not json");
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, TW_TIMEOUT_US));
	cr_assert_eq(w->f[RAW].n_errors, 1);
	tw_free(w);
}

Test(control, oversized_frame_is_an_error_and_close)
{
	struct tw *w = tw_raw();
	uint8_t hdr[MAPPROTO_HDR_LEN];
	mapproto_frame_header(hdr, MAPPROTO_MAX_UP_FRAME + 1);
	fake_raw(&w->f[RAW], hdr, sizeof(hdr));
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, TW_TIMEOUT_US));
	cr_assert_eq(w->f[RAW].n_errors, 1);
	tw_free(w);
}

Test(control, frame_of_exactly_the_limit_is_read_whole)
{
	struct tw *w = tw_raw();
	size_t len = MAPPROTO_MAX_UP_FRAME - MAPSEC_OVERHEAD; /* the limit is on the wire */
	char *big = malloc(len + 1);
	/* A heartbeat padded with blanks to the limit: accepted. */
	fake_hello(&w->f[RAW]);
	memset(big, ' ', len);
	memcpy(big, "{\"type\":\"heartbeat\"}", 20);
	big[len] = '\0';
	fake_send(&w->f[RAW], big);
	free(big);
	cr_assert(RUN_UNTIL(w, w->f[RAW].map != NULL, TW_TIMEOUT_US));
	tw_step(w, 200000);
	cr_assert(!w->f[RAW].closed);
	cr_assert_eq(w->f[RAW].n_errors, 0);
	tw_free(w);
}

Test(control, unknown_type_is_an_error_and_close)
{
	struct tw *w = tw_raw();
	fake_hello(&w->f[RAW]);
	fake_send(&w->f[RAW], "{\"type\":\"bogus\"}");
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, TW_TIMEOUT_US));
	cr_assert_eq(w->f[RAW].n_errors, 1);
	tw_free(w);
}

Test(control, sec5_a_hello_claiming_a_tag_its_auth_key_does_not_carry_is_refused)
{
	struct tw *w = tw_raw();
	char hello[512];
	snprintf(hello, sizeof(hello),
	         "{\"type\":\"hello\",\"proto\":1,\"node\":\"x\",\"region\":\"us-east\","
	         "\"tags\":[\"tag:unowned\"],\"endpoint\":\"10.0.0.10:41641\",\"auth_key\":\"%s\"}",
	         fake_auth_key(&w->f[RAW]));
	fake_send(&w->f[RAW], hello);
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, TW_TIMEOUT_US));
	cr_assert_eq(w->f[RAW].n_errors, 1);
	cr_assert(strstr(w->f[RAW].last_error, "tag:unowned"), "%s", w->f[RAW].last_error);
	cr_assert_eq(registry_node_count(control_registry(w->c)), 0);
	tw_free(w);
}

Test(control, advertising_an_unknown_service_is_recorded_without_harm)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);

	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:later\",\"ports\":[443]}]");
	cr_assert(RUN_UNTIL(w, tw_events(w, "host_advertised", "svc:later") == 1, TW_TIMEOUT_US));
	tw_step(w, 100000);
	cr_assert(!w->f[WEB_US].closed);
	tw_ok(w, "define svc:later --ports=tcp:443 --tags=tag:websvc");
	cr_assert(tw_host_state_is(w, "svc:later", "web-us", "Pending approval"), "%s", w->out);
	tw_free(w);
}

Test(control, malformed_advertise_is_an_error_and_close)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[70000]}]");
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].closed, TW_TIMEOUT_US));
	cr_assert(strstr(w->f[WEB_US].last_error, "ports"), "%s", w->f[WEB_US].last_error);
	tw_free(w);
}

Test(control, a_second_session_for_a_live_node_replaces_the_first)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);

	fake_connect_as(w, SPARE, "web-us");
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].closed && w->f[SPARE].map != NULL, TW_TIMEOUT_US));
	cr_assert_eq(w->f[WEB_US].n_errors, 1);
	const cJSON *self = cJSON_GetObjectItemCaseSensitive(w->f[SPARE].map, "self");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(self, "name")),
	                 "web-us");
	/* Replacement is not death. */
	cr_assert_eq(tw_events(w, "node_dead", "\"node_name\":\"web-us\""), 0);
	cr_assert_eq(registry_node_count(control_registry(w->c)), 2);
	tw_free(w);
}

Test(control, a_session_without_hello_is_closed_after_dead_after)
{
	struct tw *w = tw_raw();
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, TW_DEAD_AFTER + TW_HEARTBEAT));
	tw_free(w);
}

Test(control, a_session_that_stops_reading_is_closed_as_a_slow_consumer)
{
	const int nodes[] = {CL_US};
	struct tw *w = tw_setup(nodes, 1);
	struct fake *cl = &w->f[CL_US];
	char line[128];
	int i;

	cl->no_read = true;
	/* Each new service reaches the client's map (tag:dbsvc is granted), and
	 * every delta carries the whole, growing services list. */
	for (i = 0; i < 600 && tw_events(w, "session_error", "slow consumer") == 0; i++) {
		snprintf(line, sizeof(line), "define svc:s%d --ports=tcp:5432 --tags=tag:dbsvc", i);
		tw_ok(w, line);
		tw_step(w, CONTROL_RECOMPUTE_DELAY_US + 1000);
	}
	cr_assert_eq(tw_events(w, "session_error", "slow consumer"), 1, "after %d services", i);
	cr_assert_geq(tw_events(w, "node_dead", "\"node_name\":\"client-us\""), 1);
	/* Maps waited while the client did not read: far fewer went out
	 * than there were changes (one map per change otherwise). */
	int sent = tw_events(w, "netmap_sent", "\"node_name\":\"client-us\"");
	cr_assert_lt(sent, i / 4, "%d maps for %d changes", sent, i);
	tw_free(w);
}

/* The certificate entry of `svc` in the node's host_services, or NULL. */
static const char *fake_cert(const struct fake *f, const char *svc)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(f->map, "host_services"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
		if (n && strcmp(n, svc) == 0)
			return cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(s, "cert_pem"));
	}
	return NULL;
}

Test(control, l7_5_approved_host_with_a_key_gets_a_certificate_issued_once)
{
	struct tw *w = tw_new();
	uint8_t seed[CA_SEED_LEN];
	char *key_pem = NULL, *pub = NULL;

	memset(seed, 7, sizeof(seed));
	cr_assert_eq(ca_keypair_from_seed(seed, &key_pem, &pub), 0);
	w->f[WEB_US].tls_key = pub;
	cr_assert_eq(tw_start_control(w, NULL), 0);
	fake_connect(w, WEB_US);
	fake_connect(w, CL_US);
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].map && w->f[CL_US].map, TW_TIMEOUT_US));
	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_cert(&w->f[WEB_US], "svc:web") != NULL, TW_TIMEOUT_US));
	cr_assert(strstr(fake_cert(&w->f[WEB_US], "svc:web"), "BEGIN CERTIFICATE"));
	cr_assert_str_eq(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w->f[CL_US].map, "ca_pem")),
	    control_ca_pem(w->c));
	/* More recomputes: the same certificate, issued once. */
	tw_ok(w, "define svc:api --ports=tcp:8080 --tags=tag:websvc");
	tw_step(w, 100000);
	cr_assert_eq(tw_events(w, "cert_issued", "\"dns\":\"web.example.ts.net\""), 1);
	tw_free(w);
	free(key_pem);
	free(pub);
}

Test(control, an_idle_admin_connection_is_closed_after_the_idle_timeout)
{
	struct tw *w = tw_new();
	cr_assert_eq(tw_start_control(w, NULL), 0);
	fake_connect_port(w, RAW, MAPPROTO_DEFAULT_ADMIN_PORT);
	cr_assert(RUN_UNTIL(w, w->f[RAW].connected, TW_TIMEOUT_US));
	uint64_t t0 = ns3w_now_us(w->world);
	tw_step(w, CONTROL_ADMIN_IDLE_US - 1000000);
	cr_assert(!w->f[RAW].closed, "closed before the idle timeout");
	cr_assert(RUN_UNTIL(w, w->f[RAW].closed, 2000000));
	cr_assert_geq(ns3w_now_us(w->world) - t0, CONTROL_ADMIN_IDLE_US);
	tw_free(w);
}

/* REL-1: a peer without a token that trickles a request, a byte every
 * 5 s, cannot hold an admin slot (64 such lock every admin out): the
 * request must come whole within the idle timeout. */
Test(control, rel1_an_admin_connection_trickling_a_request_is_closed_after_the_idle_timeout)
{
	static const char req[] = "GET /api/nodes HTTP/1.1\r\nHost: control\r\n\r\n";
	struct tw *w = tw_new();
	cr_assert_eq(tw_start_control(w, NULL), 0);
	fake_connect_port(w, RAW, MAPPROTO_DEFAULT_ADMIN_PORT);
	cr_assert(RUN_UNTIL(w, w->f[RAW].connected, TW_TIMEOUT_US));
	uint64_t t0 = ns3w_now_us(w->world);
	size_t sent = 0;
	while (!w->f[RAW].closed && sent < sizeof(req) - 1 &&
	       ns3w_now_us(w->world) - t0 < 3 * CONTROL_ADMIN_IDLE_US) {
		fake_raw(&w->f[RAW], req + sent++, 1);
		tw_step(w, 5000000);
	}
	cr_assert(w->f[RAW].closed, "still open after %llu s and %zu bytes",
	          (unsigned long long)((ns3w_now_us(w->world) - t0) / 1000000), sent);
	uint64_t took = ns3w_now_us(w->world) - t0;
	cr_assert_geq(took, CONTROL_ADMIN_IDLE_US, "closed before the idle timeout");
	cr_assert_leq(took, CONTROL_ADMIN_IDLE_US + 6000000,
	              "one 5 s step and a sweep late at most");
	tw_free(w);
}

Test(control, advertise_with_more_ports_than_the_limit_is_an_error_and_close)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	char list[1024] = "[{\"name\":\"svc:web\",\"ports\":[";

	for (int i = 0; i <= REG_MAX_PORTS; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", i ? "," : "",
		         1000 + i);
	strcat(list, "]}]");
	fake_advertise(&w->f[WEB_US], list);
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].closed, TW_TIMEOUT_US));
	cr_assert(strstr(w->f[WEB_US].last_error, "too many ports"), "%s", w->f[WEB_US].last_error);
	tw_free(w);
}

Test(control, admin_output_larger_than_the_buffer_is_enospc)
{
	struct tw *w = tw_new();
	char small[16];

	cr_assert_eq(tw_start_control(w, NULL), 0);
	tw_define_web(w);
	cr_assert_eq(control_admin_line(w->c, ALICE, "services", small, sizeof(small)), -ENOSPC);
	cr_assert_eq(small[sizeof(small) - 1], '\0');
	cr_assert_eq(control_admin_line(w->c, ALICE, "services", w->out, sizeof(w->out)), 0);
	tw_free(w);
}

Test(control, hello_without_an_endpoint_uses_the_session_address)
{
	struct tw *w = tw_raw();
	char hello[512];
	snprintf(hello, sizeof(hello),
	         "{\"type\":\"hello\",\"proto\":1,\"node\":\"raw\","
	         "\"region\":\"us-east\",\"tags\":[\"tag:web\"],\"auth_key\":\"%s\"}",
	         fake_auth_key(&w->f[RAW]));
	fake_send(&w->f[RAW], hello);
	cr_assert(RUN_UNTIL(w, w->f[RAW].map != NULL, TW_TIMEOUT_US));
	const struct reg_node *n = registry_node(control_registry(w->c), 0);
	cr_assert_eq(io_addr_v4_host(&n->endpoint), ns3w_node_underlay_ip(w->world, RAW));
	cr_assert_eq(n->endpoint.port, 41641);
	tw_free(w);
}

Test(control, a_corrupt_state_file_stops_control_with_the_reason)
{
	struct tw *w = tw_new();
	char err[512] = "";
	struct control_config cfg = {
	    .users = tw_users, .n_users = 2, .err = err, .err_len = sizeof(err)};

	static const char bad[] = "{\"ca_seed\": \"zz\", \"registry\": {}}";

	snprintf(w->state_path, sizeof(w->state_path), "state.json");
	cr_assert_eq(w->st->ops->write(w->st, w->state_path, bad, strlen(bad), NULL, 0), 0);
	cfg.state_path = w->state_path;
	cfg.storage = w->st;
	cr_assert_eq(control_new(&w->c, w->io[CTL], &cfg), -EINVAL);
	cr_assert_null(w->c);
	cr_assert(strstr(err, w->state_path) && strstr(err, "ca_seed"), "%s", err);
	tw_free(w);
}

/* ---- persistence through the storage seam (REL-3) ----------------------- */

/* What control's disk holds under the state name (malloc'd), or NULL. */
static char *tw_disk(struct tw *w)
{
	char *text = NULL;
	size_t len;
	if (w->st->ops->read(w->st, w->state_path, 1u << 24, &text, &len, NULL, 0) < 0)
		return NULL;
	return text;
}

/* Does the stored state `text` define `service`? (The policy text in it
 * names services too: look at the registry's services only.) */
static bool tw_disk_defines(const char *text, const char *service)
{
	cJSON *doc = cJSON_Parse(text ? text : "");
	const cJSON *reg = cJSON_GetObjectItemCaseSensitive(doc, "registry"), *e;
	bool found = false;

	CHECK(cJSON_IsObject(reg));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(reg, "services"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
		found |= n && strcmp(n, service) == 0;
	}
	cJSON_Delete(doc);
	return found;
}

/* Control's machine loses power (only what was durable stays) and
 * control starts again on the same disk. */
static int tw_power_loss_restart(struct tw *w)
{
	for (int i = 0; i < TW_NODES; i++)
		if (w->f[i].h >= 0)
			fake_close(&w->f[i]);
	control_free(w->c);
	w->c = NULL;
	storage_mem_crash(w->st);
	tw_step(w, 10000);
	return tw_start_control(w, w->state_path);
}

/* One HTTP request to the admin API from fake RAW with bearer `token`; the
 * whole answer (the connection is closed by control after it) in w->out. */
static const char *tw_http_as(struct tw *w, const char *token, const char *method, const char *path,
                              const char *body)
{
	struct fake *f = &w->f[RAW];
	struct io *io = w->io[RAW];
	char request[1024];
	size_t got = 0;

	snprintf(request, sizeof(request),
	         "%s %s HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer %s\r\n"
	         "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
	         method, path, token, strlen(body), body);

	f->no_read = true;
	f->closed = f->connected = false;
	fake_connect_port(w, RAW, MAPPROTO_DEFAULT_ADMIN_PORT);
	cr_assert(RUN_UNTIL(w, f->connected, TW_TIMEOUT_US));
	fake_raw(f, request, strlen(request));
	uint64_t deadline = ns3w_now_us(w->world) + TW_TIMEOUT_US;
	while (ns3w_now_us(w->world) < deadline) {
		tw_step(w, TW_STEP_US);
		ssize_t r = io->ops->tcp_read(io, f->h, w->out + got, sizeof(w->out) - 1 - got);
		if (r > 0)
			got += (size_t)r;
		else if (r != -EAGAIN)
			break;
	}
	w->out[got] = '\0';
	fake_close(f);
	return w->out;
}

/* The same as alice (token "ta"). */
static const char *tw_http(struct tw *w, const char *method, const char *path, const char *body)
{
	return tw_http_as(w, "ta", method, path, body);
}

static struct tw *tw_persistent(void)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_new();

	snprintf(w->state_path, sizeof(w->state_path), "state.json");
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
	for (size_t i = 0; i < 2; i++)
		fake_connect(w, nodes[i]);
	for (size_t i = 0; i < 2; i++)
		cr_assert(RUN_UNTIL(w, w->f[nodes[i]].map != NULL, TW_TIMEOUT_US));
	tw_define_web(w);
	cr_assert(RUN_UNTIL(w, fake_service(&w->f[CL_US], "svc:web") != NULL, TW_TIMEOUT_US));
	return w;
}

Test(control, rel3_full_disk_answers_503_and_a_restart_finds_the_state_before_the_refused_write)
{
	struct tw *w = tw_persistent();
	char *before = tw_disk(w), *after;
	int rc;

	cr_assert(tw_disk_defines(before, "svc:web") && !tw_disk_defines(before, "svc:auto"));
	storage_mem_set_fault(w->st, STORAGE_FAULT_FULL);
	const char *resp = tw_http(w, "PUT", "/api/services/svc:auto",
	                           "{\"ports\":[\"tcp:443\"],\"tags\":[\"tag:websvc\"]}");
	cr_assert(strncmp(resp, "HTTP/1.1 503", 12) == 0, "%s", resp);
	cr_assert(strstr(resp, "state not saved: No space left on device") &&
	              strstr(resp, "nothing changed"),
	          "%s", resp);
	cJSON_Delete(tw_cmd(w, ALICE, "approve svc:web web-us", &rc));
	cr_assert_eq(rc, -ENOSPC, "%s", w->out);
	/* Nothing moved: no map carries the refused service, the disk is as
	 * before, and once the disk has room a later save does not bring the
	 * refused writes back. */
	tw_step(w, 500000);
	cr_assert_null(fake_service(&w->f[CL_US], "svc:auto"));
	after = tw_disk(w);
	cr_assert_str_eq(after, before);
	free(after);
	storage_mem_set_fault(w->st, STORAGE_FAULT_NONE);
	fake_connect(w, CL_EU); /* a registration: a coalesced save */
	cr_assert(RUN_UNTIL(w, w->f[CL_EU].map != NULL, TW_TIMEOUT_US));
	tw_step(w, 1500000);
	after = tw_disk(w);
	cr_assert(after && strstr(after, "client-eu") && !tw_disk_defines(after, "svc:auto") &&
	              !strstr(after, "\"approved\""),
	          "%s", after);
	free(after);
	cr_assert_eq(tw_power_loss_restart(w), 0);
	cr_assert_eq(registry_service_count(control_registry(w->c)), 1);
	cr_assert_lt(registry_service_index(control_registry(w->c), "svc:auto"), 0);
	free(before);
	tw_free(w);
}

Test(control, rel3_failed_fsync_answers_503_and_nothing_changes)
{
	struct tw *w = tw_persistent();
	char *before = tw_disk(w), *after;
	static const enum storage_fault faults[] = {STORAGE_FAULT_FSYNC, STORAGE_FAULT_DIRSYNC};

	for (size_t k = 0; k < 2; k++) {
		storage_mem_set_fault(w->st, faults[k]);
		const char *resp =
		    tw_http(w, "POST", "/api/command",
		            "{\"line\":\"define svc:auto --ports=tcp:443 --tags=tag:websvc\"}");
		cr_assert(strncmp(resp, "HTTP/1.1 503", 12) == 0, "%s", resp);
		cr_assert(strstr(resp, "state not saved: Input/output error"), "%s", resp);
		tw_step(w, 300000);
		cr_assert_null(fake_service(&w->f[CL_US], "svc:auto"));
	}
	/* After a failed directory fsync the refused version was visible on
	 * disk: control rewrites what it holds as soon as the disk works. */
	storage_mem_set_fault(w->st, STORAGE_FAULT_NONE);
	tw_step(w, 1500000);
	after = tw_disk(w);
	cr_assert(after && !tw_disk_defines(after, "svc:auto"), "%s", after);
	free(after);
	cr_assert_eq(tw_power_loss_restart(w), 0);
	cr_assert_lt(registry_service_index(control_registry(w->c), "svc:auto"), 0);
	free(before);
	tw_free(w);
}

Test(control, rel3_a_write_torn_by_a_power_loss_restarts_on_the_last_durable_state)
{
	for (enum storage_step step = STORAGE_STEP_WRITE; step < STORAGE_STEP_COUNT; step++) {
		struct tw *w = tw_persistent();
		int rc;

		storage_mem_tear_next(w->st, step);
		cJSON_Delete(
		    tw_cmd(w, ALICE, "define svc:auto --ports=tcp:443 --tags=tag:websvc", &rc));
		cr_assert_eq(rc, -EIO, "step %d: %s", (int)step, w->out);
		cr_assert(storage_mem_off(w->st));
		cr_assert_eq(tw_power_loss_restart(w), 0, "step %d: control did not start",
		             (int)step);
		char *disk = tw_disk(w);
		cJSON *doc = cJSON_Parse(disk);
		cr_assert(cJSON_IsObject(doc), "step %d: the state is not whole: %s", (int)step,
		          disk);
		cr_assert(tw_disk_defines(disk, "svc:web") && !tw_disk_defines(disk, "svc:auto"),
		          "step %d: %s", (int)step, disk);
		cr_assert_eq(storage_mem_names(w->st), 1, "step %d: a temporary was left",
		             (int)step);
		cr_assert_geq(registry_service_index(control_registry(w->c), "svc:web"), 0);
		cJSON_Delete(doc);
		free(disk);
		tw_free(w);
	}
}

Test(control, rel3_an_acknowledged_write_survives_a_power_loss_right_after)
{
	struct tw *w = tw_persistent();

	tw_ok(w, "approve svc:web web-us");
	tw_ok(w, "define svc:auto --ports=tcp:443 --tags=tag:websvc");
	/* No simulated time passes: the power goes with the answer. */
	cr_assert_eq(tw_power_loss_restart(w), 0);
	cr_assert_geq(registry_service_index(control_registry(w->c), "svc:auto"), 0);
	const cJSON *h = NULL;
	cJSON *doc = NULL;
	h = tw_host(w, "svc:web", "web-us", &doc);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "approved")), "%s", w->out);
	cJSON_Delete(doc);
	tw_free(w);
}

/* A node whose hello asks for compression gets its large maps deflated;
 * one that does not gets them as they are; both hold the same services. */
Test(control, large_maps_go_deflated_to_nodes_that_take_compression)
{
	const int nodes[] = {CL_US, CL_EU};
	struct tw *w = tw_new();
	char line[128];

	cr_assert_eq(tw_start_control(w, NULL), 0);
	w->f[CL_US].zlib = true;
	for (size_t i = 0; i < 2; i++)
		fake_connect(w, nodes[i]);
	for (size_t i = 0; i < 2; i++)
		cr_assert(RUN_UNTIL(w, w->f[nodes[i]].map != NULL, TW_TIMEOUT_US));
	cr_assert_eq(w->f[CL_US].n_zlib_frames, 0, "small maps go as they are");
	for (int i = 0; i < 80; i++) {
		snprintf(line, sizeof(line),
		         "define svc:s%d --ports=tcp:5432 --tags=tag:dbsvc --description=\"db %d\"",
		         i, i);
		tw_ok(w, line);
	}
	tw_step(w, CONTROL_RECOMPUTE_DELAY_US + 200000);
	const cJSON *us = cJSON_GetObjectItemCaseSensitive(w->f[CL_US].map, "services");
	const cJSON *eu = cJSON_GetObjectItemCaseSensitive(w->f[CL_EU].map, "services");
	cr_assert_eq(cJSON_GetArraySize(us), 80);
	cr_assert(cJSON_Compare(us, eu, true), "the two nodes hold different services");
	char *text = cJSON_PrintUnformatted(us);
	cr_assert_geq(strlen(text), MAPPROTO_COMPRESS_MIN);
	free(text);
	cr_assert_geq(w->f[CL_US].n_zlib_frames, 1);
	cr_assert_eq(w->f[CL_EU].n_zlib_frames, 0);
	cr_assert_geq(tw_events(w, "netmap_sent", "\"node_name\":\"client-us\""), 1);
	tw_free(w);
}

/* Daemons never compress: a deflated frame from one ends its session. */
Test(control, a_compressed_frame_from_a_node_ends_its_session)
{
	const int nodes[] = {CL_US};
	struct tw *w = tw_setup(nodes, 1);
	uint8_t hdr[MAPPROTO_HDR_LEN];

	mapproto_frame_header(hdr, 20 | MAPPROTO_FRAME_ZLIB);
	fake_raw(&w->f[CL_US], hdr, sizeof(hdr));
	fake_raw(&w->f[CL_US], "xxxxxxxxxxxxxxxxxxxx", 20);
	cr_assert(RUN_UNTIL(w, w->f[CL_US].closed, TW_TIMEOUT_US));
	cr_assert(strstr(w->f[CL_US].last_error, "compressed"), "%s", w->f[CL_US].last_error);
	tw_free(w);
}

Test(control, admin_api_routes_by_method_and_path)
{
	struct tw *w = tw_persistent();

	cr_assert(strncmp(tw_http(w, "GET", "/api/services/svc%3Aweb", ""), "HTTP/1.1 200", 12) ==
	              0,
	          "%s", w->out);
	cr_assert(strncmp(tw_http(w, "GET", "/api/nope", ""), "HTTP/1.1 404", 12) == 0, "%s",
	          w->out);
	cr_assert(strncmp(tw_http(w, "POST", "/api/nodes", ""), "HTTP/1.1 405", 12) == 0, "%s",
	          w->out);
	/* A host decision's path with another method: 405; with an unknown
	 * verb or no node: 404. */
	cr_assert(strncmp(tw_http(w, "GET", "/api/services/svc:web/hosts/web-us/approve", ""),
	                  "HTTP/1.1 405", 12) == 0,
	          "%s", w->out);
	cr_assert(strncmp(tw_http(w, "POST", "/api/services/svc:web/hosts/web-us/bless", ""),
	                  "HTTP/1.1 404", 12) == 0,
	          "%s", w->out);
	cr_assert(strncmp(tw_http(w, "POST", "/api/services/svc:web/hosts//approve", ""),
	                  "HTTP/1.1 404", 12) == 0,
	          "%s", w->out);
	const char *resp = tw_http(w, "PUT", "/api/services/svc:x", "{\"ports\":\"tcp:1\"}");
	cr_assert(strncmp(resp, "HTTP/1.1 400", 12) == 0, "%s", resp);
	cr_assert(strstr(resp, "body: \\\"ports\\\" must be an array of strings"), "%s", resp);
	/* a number among the strings is not "too many" */
	resp = tw_http(w, "PUT", "/api/services/svc:x", "{\"ports\":[\"tcp:1\",2]}");
	cr_assert(strncmp(resp, "HTTP/1.1 400", 12) == 0, "%s", resp);
	cr_assert(strstr(resp, "body: \\\"ports\\\" must be an array of strings"), "%s", resp);
	tw_free(w);
}

/* The admin API answers every method and path as it did when it was a
 * strcmp chain: HEAD and unknown methods on a known path are 405; trailing
 * slashes, doubled slashes and case make another path (404); the query is
 * ignored; %XX is decoded before routing, an encoded slash, NUL or bad
 * escape is 400. (Statuses recorded from the chain.) */
Test(control, admin_api_routing_table_answers_as_the_chain_did)
{
	static const struct {
		const char *method, *path;
		int status;
	} routes[] = {
	    {"GET", "/api/services", 200},
	    {"GET", "/api/services/", 404},
	    {"GET", "/api/services?x=1", 200},
	    {"GET", "/api/services/?x=1", 404},
	    {"HEAD", "/api/services", 405},
	    {"HEAD", "/api/services/svc:web", 405},
	    {"HEAD", "/api/nodes", 405},
	    {"HEAD", "/api/policy", 405},
	    {"HEAD", "/api/ca", 405},
	    {"HEAD", "/api/command", 405},
	    {"HEAD", "/api/nope", 404},
	    {"OPTIONS", "/api/nodes", 405},
	    {"DELETE", "/api/nodes", 405},
	    {"GET", "/api/nodes/", 404},
	    {"GET", "/api/nodes?all", 200},
	    {"GET", "/api/nodes%2F", 400},
	    {"GET", "/api/node%73", 200},
	    {"GET", "/API/nodes", 404},
	    {"GET", "//api/nodes", 404},
	    {"GET", "/api//nodes", 404},
	    {"GET", "/api/policy/", 404},
	    {"GET", "/api/policy?x", 200},
	    {"POST", "/api/policy", 405},
	    {"GET", "/api/ca/", 404},
	    {"POST", "/api/ca", 405},
	    {"GET", "/api/command", 405},
	    {"PUT", "/api/command", 405},
	    {"GET", "/api/services/svc:web", 200},
	    {"GET", "/api/services/svc:web/", 404},
	    {"GET", "/api/services/svc:web?x=/y", 200},
	    {"GET", "/api/services/svc%3aweb", 200},
	    {"GET", "/api/services/svc%3Aweb%2F", 400},
	    {"GET", "/api/services/svc:web%2Fhosts", 400},
	    {"GET", "/api/services/svc%zzweb", 400},
	    {"GET", "/api/services/svc%00web", 400},
	    {"GET", "/api/services/svc%3", 400},
	    {"GET", "/api/services/svc:nope", 404},
	    {"POST", "/api/services/svc:web", 405},
	    {"PATCH", "/api/services/svc:web", 405},
	    {"GET", "/api/services/svc:web/hosts", 404},
	    {"GET", "/api/services/svc:web/hosts/", 404},
	    {"GET", "/api/services/svc:web/hosts/web-us", 404},
	    {"POST", "/api/services/svc:web/hosts/web-us", 404},
	    {"POST", "/api/services/svc:web/hosts/web-us/", 404},
	    {"GET", "/api/services/svc:web/hosts/web-us/", 405},
	    {"POST", "/api/services/svc:web/hosts/web-us/approve/", 404},
	    {"GET", "/api/services/svc:web/hosts/web-us/approve/x", 405},
	    {"POST", "/api/services/svc:web/hosts/web-us/approve/x", 404},
	    {"DELETE", "/api/services/svc:web/hosts/web-us/approve", 405},
	    {"POST", "/api/services/svc:web/other/web-us/approve", 404},
	    {"POST", "/api/services//hosts/web-us/bless", 404},
	    {"POST", "/api/services/svc:nope/hosts/web-us/approve", 404},
	    {"POST", "/api/services/svc:web/hosts/nobody/approve", 404},
	    {"POST", "/api/services/svc:web/hosts/web-us/approve?x=1", 200},
	    {"POST", "/api/services/svc:web/hosts/web%2Dus/reject", 200},
	    {"DELETE", "/api/services/", 404},
	    {"DELETE", "/api/services/svc:nope", 404},
	    {"PUT", "/api/services/", 400},
	    {"GET", "/api", 404},
	    {"GET", "/", 404},
	    {"GET", "*", 400},
	};
	struct tw *w = tw_persistent();
	char want[16];

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *r = tw_http(w, routes[i].method, routes[i].path, "");
		snprintf(want, sizeof(want), "HTTP/1.1 %d", routes[i].status);
		cr_assert(strncmp(r, want, strlen(want)) == 0, "%s %s: want %d, got %.40s",
		          routes[i].method, routes[i].path, routes[i].status, r);
	}
	tw_free(w);
}

/* ---- set-tags (issue 13 EXP-1; SEC-1: tags from an admin, not the claim) -- */

Test(control, set_tags_moves_grants_and_auto_approval_and_a_new_hello_keeps_them)
{
	const int nodes[] = {WEB_US, CL_US, OTHER};
	struct tw *w = tw_setup(nodes, 3);
	int rc;

	tw_ok(w, "define svc:auto --ports=tcp:443 --tags=tag:websvc");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:auto\",\"ports\":[443]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:auto", "web-us"), TW_TIMEOUT_US));
	tw_step(w, 100000);
	cr_assert_null(fake_service(&w->f[OTHER], "svc:auto"), "ACL-1: tag:other has no grant");

	/* A client given a granted tag reaches the service (ACL-1). */
	tw_ok(w, "set-tags other tag:client");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[OTHER], "svc:auto", "web-us"), TW_TIMEOUT_US));
	cr_assert_eq(tw_events(w, "node_tags_set", "\"tags\":\"tag:client\""), 1);
	/* A host whose auto-approving tag is gone leaves steering (APR-5). */
	tw_ok(w, "set-tags web-us tag:db");
	cr_assert(RUN_UNTIL(w, fake_n_hosts(&w->f[CL_US], "svc:auto") == 0, TW_TIMEOUT_US));
	cr_assert(tw_host_state_is(w, "svc:auto", "web-us", "Pending approval"), "%s", w->out);
	/* Its session starts again claiming tag:web: the admin's tags stand. */
	fake_close(&w->f[WEB_US]);
	tw_step(w, 100000);
	fake_connect(w, WEB_US);
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:auto\",\"ports\":[443]}]");
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].map != NULL, TW_TIMEOUT_US));
	tw_step(w, 300000);
	cr_assert_eq(fake_n_hosts(&w->f[CL_US], "svc:auto"), 0, "the hello's claim won");
	/* An explicit approval stands whatever the tags; bad input changes nothing. */
	tw_ok(w, "approve svc:auto web-us");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:auto", "web-us"), TW_TIMEOUT_US));
	cJSON_Delete(tw_cmd(w, ALICE, "set-tags nobody tag:web", &rc));
	cr_assert_eq(rc, -ENOENT, "%s", w->out);
	cJSON_Delete(tw_cmd(w, ALICE, "set-tags web-us tag:unowned", &rc));
	cr_assert_eq(rc, -EPERM, "%s", w->out);
	cr_assert(strstr(w->out, "not owned in the policy"), "%s", w->out);
	cJSON_Delete(tw_cmd(w, BOB, "set-tags web-us tag:web", &rc));
	cr_assert_eq(rc, -EPERM, "%s", w->out);
	cr_assert_eq(tw_events(w, "admin_refused", "set-tags"), 2);
	const struct registry *reg = control_registry(w->c);
	const struct reg_node *n = registry_node(reg, (size_t)registry_node_index(reg, "web-us"));
	cr_assert_str_eq(n->tags[0], "tag:db");
	tw_free(w);
}

Test(control, set_tags_survive_a_restart_on_the_state_file)
{
	struct tw *w = tw_new();

	snprintf(w->state_path, sizeof(w->state_path), "tags-state.json");
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
	fake_connect(w, CL_US);
	cr_assert(RUN_UNTIL(w, w->f[CL_US].map != NULL, TW_TIMEOUT_US));
	tw_ok(w, "set-tags client-us tag:other tag:db");
	tw_control_crash_restart(w, 10000);
	const struct registry *reg = control_registry(w->c);
	const struct reg_node *n =
	    registry_node(reg, (size_t)registry_node_index(reg, "client-us"));
	cr_assert_not_null(n);
	cr_assert(n->tags_by_admin);
	cr_assert_eq(n->n_tags, 2);
	cr_assert_str_eq(n->tags[1], "tag:db");
	fake_connect(w, CL_US); /* claims tag:client again */
	cr_assert(RUN_UNTIL(w, w->f[CL_US].map != NULL, TW_TIMEOUT_US));
	n = registry_node(control_registry(w->c), 0);
	cr_assert_str_eq(n->tags[0], "tag:other", "the claim replaced the admin's tags");
	tw_free(w);
}

/* ---- admin tokens stored hashed (SEC-1) --------------------------------- */

/* SHA-256("ta"): alice's token as the saved state may hold it. */
#define TW_TA_SHA256 "76592b9de6d38238a52a3651867871e5c670e6320a8ef46a84b5590f8933f33e"

/* The saved state's users (parsed; the caller deletes `doc`). */
static cJSON *tw_disk_users(struct tw *w, cJSON **doc)
{
	char *text = tw_disk(w);

	*doc = cJSON_Parse(text ? text : "");
	free(text);
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(*doc, "registry"),
	                                        "users");
}

Test(control, sec1_the_saved_state_holds_token_hashes_and_the_api_still_authenticates)
{
	struct tw *w = tw_persistent();
	cJSON *doc, *users = tw_disk_users(w, &doc), *u;

	cJSON_ArrayForEach(u, users)
	{
		cr_assert_null(cJSON_GetObjectItemCaseSensitive(u, "token"));
		cr_assert(cJSON_GetObjectItemCaseSensitive(u, "token_sha256"));
	}
	u = cJSON_GetArrayItem(users, 0);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u, "token_sha256")),
	                 TW_TA_SHA256);
	cJSON_Delete(doc);
	cr_assert(strncmp(tw_http(w, "GET", "/api/services", ""), "HTTP/1.1 200", 12) == 0, "%s",
	          w->out);
	cr_assert(strncmp(tw_http_as(w, TW_TA_SHA256, "GET", "/api/services", ""), "HTTP/1.1 401",
	                  12) == 0,
	          "the hash is not a token: %s", w->out);
	cr_assert(strncmp(tw_http_as(w, "tx", "GET", "/api/services", ""), "HTTP/1.1 401", 12) == 0,
	          "%s", w->out);
	tw_free(w);
}

Test(control, sec1_state_saved_with_plaintext_tokens_loads_and_the_api_authenticates)
{
	struct tw *w = tw_persistent();
	cJSON *doc, *users = tw_disk_users(w, &doc), *u;

	/* Rewrite the disk as the code before hashed tokens wrote it. */
	cJSON_ArrayForEach(u, users)
	{
		const char *login =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u, "login"));
		cJSON_DeleteItemFromObjectCaseSensitive(u, "token_sha256");
		cJSON_AddStringToObject(u, "token", strcmp(login, ALICE) == 0 ? "ta" : "tb");
	}
	char *old = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	cr_assert_eq(w->st->ops->write(w->st, w->state_path, old, strlen(old), NULL, 0), 0);
	free(old);
	for (int i = 0; i < TW_NODES; i++)
		if (w->f[i].h >= 0)
			fake_close(&w->f[i]);
	control_free(w->c);
	w->c = NULL;
	tw_step(w, 10000);
	cr_assert_eq(tw_start_control(w, w->state_path), 0);

	cr_assert(strncmp(tw_http(w, "GET", "/api/services", ""), "HTTP/1.1 200", 12) == 0, "%s",
	          w->out);
	cr_assert(strncmp(tw_http_as(w, "tb", "GET", "/api/services", ""), "HTTP/1.1 200", 12) == 0,
	          "%s", w->out);
	/* The next write saves the new form: no plaintext token left. */
	tw_ok(w, "define svc:api --ports=tcp:8080 --tags=tag:websvc");
	users = tw_disk_users(w, &doc);
	cJSON_ArrayForEach(u, users) cr_assert_null(cJSON_GetObjectItemCaseSensitive(u, "token"));
	cJSON_Delete(doc);
	tw_free(w);
}

/* ---- auth keys (SEC-1) ---------------------------------------------------- */

Test(admin_cmd, sec1_authkey_create_takes_its_options_with_or_without_equals)
{
	struct admin_cmd c;
	char err[ADMIN_CMD_ERR_LEN];

	cr_assert_eq(admin_cmd_parse(&c,
	                             "authkey create --reusable --expiry 24h --tags tag:a,tag:b",
	                             err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(c.kind, ADMIN_CMD_AUTHKEY_CREATE);
	cr_assert(c.reusable);
	cr_assert_eq(c.expiry_s, 24 * 3600);
	cr_assert_eq(c.n_tags, 2);
	cr_assert_str_eq(c.tags[1], "tag:b");
	cr_assert_str_eq(admin_cmd_name(c.kind), "authkey create");
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "authkey create --expiry=90m", err, sizeof(err)), 0, "%s",
	             err);
	cr_assert(!c.reusable && c.expiry_s == 5400 && c.n_tags == 0);
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "authkey create", err, sizeof(err)), 0, "%s", err);
	cr_assert(c.expiry_s == 0, "no --expiry: never");
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "authkey revoke 0123456789ab", err, sizeof(err)), 0);
	cr_assert_eq(c.kind, ADMIN_CMD_AUTHKEY_REVOKE);
	cr_assert_str_eq(c.authkey_id, "0123456789ab");
	admin_cmd_free(&c);
	cr_assert_eq(admin_cmd_parse(&c, "authkeys", err, sizeof(err)), 0);
	cr_assert(admin_cmd_read_only(c.kind));
	admin_cmd_free(&c);
}

Test(admin_cmd, sec1_authkey_commands_refuse_bad_words_with_the_reason)
{
	static const struct {
		const char *line, *want;
	} bad[] = {
	    {"authkey", "authkey: want create or revoke, not nothing"},
	    {"authkey make", "authkey: want create or revoke, not \"make\""},
	    {"authkey revoke", "authkey revoke: missing ID"},
	    {"authkey revoke a b", "unexpected word \"b\""},
	    {"authkey create --expiry", "--expiry needs a value"},
	    {"authkey create --expiry=soon", "bad --expiry \"soon\""},
	    {"authkey create --expiry=0", "bad --expiry \"0\": out of range"},
	    {"authkey create --expiry=1.5s", "bad --expiry \"1.5s\": finer than a second"},
	    {"authkey create --expiry=87601h", "bad --expiry \"87601h\": out of range"},
	    {"authkey create --reuseable", "did you mean \"--reusable\""},
	    {"authkey create --reusable=yes", "--reusable takes no value"},
	    {"authkey create --reusable --reusable", "--reusable given twice"},
	    {"authkey create --tags=tag:a --tags tag:b", "--tags given twice"},
	    {"authkey create extra", "unexpected word \"extra\""},
	    {"authkeys --all", "unexpected option \"--all\""},
	};
	struct admin_cmd c;
	char err[ADMIN_CMD_ERR_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_lt(admin_cmd_parse(&c, bad[i].line, err, sizeof(err)), 0, "%s",
		             bad[i].line);
		cr_assert(strstr(err, bad[i].want), "%s: want '%s' in '%s'", bad[i].line,
		          bad[i].want, err);
		admin_cmd_free(&c);
	}
}

/* The key's text in an authkey create answer (w->out), into key. */
static void tw_key_of(const char *json, char key[REG_AUTHKEY_TEXT_LEN + 1])
{
	cJSON *doc = cJSON_Parse(json);
	const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "key"));

	cr_assert(k && strlen(k) == REG_AUTHKEY_TEXT_LEN, "%s", json);
	memcpy(key, k, REG_AUTHKEY_TEXT_LEN + 1);
	cJSON_Delete(doc);
}

Test(control, sec1_an_admin_makes_lists_and_revokes_auth_keys_and_each_is_an_event)
{
	struct tw *w = tw_persistent();
	char key[REG_AUTHKEY_TEXT_LEN + 1], id[REG_AUTHKEY_ID_LEN + 1], line[64];
	const char *secret;
	int rc;

	cJSON_Delete(tw_cmd(w, ALICE, "authkey create --reusable --expiry 1h --tags tag:web", &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	tw_key_of(w->out, key);
	secret = key + strlen(REG_AUTHKEY_PREFIX) + REG_AUTHKEY_ID_LEN + 1;
	memcpy(id, key + strlen(REG_AUTHKEY_PREFIX), REG_AUTHKEY_ID_LEN);
	id[REG_AUTHKEY_ID_LEN] = '\0';
	cr_assert(strstr(w->out, "\"reusable\":true") && strstr(w->out, "\"tag:web\""), "%s",
	          w->out);
	cr_assert_eq(tw_events(w, "authkey_created", id), 1);
	/* (The fakes' own keys are the operator's: actor "operator".) */
	cr_assert_eq(tw_events(w, "authkey_created", "\"actor\":\"alice@example.com\""), 1);
	cr_assert_eq(tw_events(w, "authkey_created", secret), 0, "no secret in events");

	/* Listed without its secret; the disk holds only its hash. */
	cJSON_Delete(tw_cmd(w, ALICE, "authkeys", &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	cr_assert(strstr(w->out, id) && strstr(w->out, "\"usable\":true"), "%s", w->out);
	cr_assert_null(strstr(w->out, secret), "%s", w->out);
	char *disk = tw_disk(w);
	cr_assert(disk && strstr(disk, id) && !strstr(disk, secret), "%s", disk);
	free(disk);

	/* The key is the registry's: a node presenting it joins with its tags. */
	const char *const *tags = NULL;
	size_t n_tags = 0;
	char err[REG_ERR_LEN];
	cr_assert_eq(registry_authkey_use((struct registry *)control_registry(w->c), key,
	                                  1767225600 + 60, &tags, &n_tags, err, sizeof(err)),
	             0, "%s", err);
	cr_assert(n_tags == 1 && strcmp(tags[0], "tag:web") == 0);

	snprintf(line, sizeof(line), "authkey revoke %s", id);
	cJSON_Delete(tw_cmd(w, ALICE, line, &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	cr_assert(strstr(w->out, "\"revoked\":true"), "%s", w->out);
	cr_assert_eq(tw_events(w, "authkey_revoked", id), 1);
	cJSON_Delete(tw_cmd(w, ALICE, line, &rc));
	cr_assert_eq(rc, -EALREADY, "%s", w->out);

	/* A member makes keys for its own nodes only: no tags, no revoking. */
	cJSON_Delete(tw_cmd(w, BOB, "authkey create --tags tag:web", &rc));
	cr_assert_eq(rc, -EPERM, "%s", w->out);
	cr_assert(strstr(w->out, "may not create a tagged auth key"), "%s", w->out);
	cr_assert_eq(tw_events(w, "admin_refused", "authkey create"), 1);
	cJSON_Delete(tw_cmd(w, BOB, line, &rc));
	cr_assert_eq(rc, -EPERM, "%s", w->out);
	tw_free(w);
}

Test(control, sec1_auth_keys_survive_a_restart_on_the_state_file)
{
	struct tw *w = tw_persistent();
	char key[REG_AUTHKEY_TEXT_LEN + 1], err[REG_ERR_LEN];
	size_t before = registry_authkey_count(control_registry(w->c)); /* the fakes' */
	int rc;

	cJSON_Delete(tw_cmd(w, ALICE, "authkey create --tags=tag:web", &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	tw_key_of(w->out, key);
	cr_assert_eq(tw_power_loss_restart(w), 0);
	cr_assert_eq(registry_authkey_count(control_registry(w->c)), before + 1);
	cr_assert_eq(registry_authkey_use((struct registry *)control_registry(w->c), key,
	                                  1767225600, NULL, NULL, err, sizeof(err)),
	             0, "%s", err);
	tw_free(w);
}

Test(control, sec1_a_refused_save_makes_no_auth_key)
{
	struct tw *w = tw_persistent();
	size_t before = registry_authkey_count(control_registry(w->c)); /* the fakes' */
	int rc;

	storage_mem_set_fault(w->st, STORAGE_FAULT_FULL);
	cJSON_Delete(tw_cmd(w, ALICE, "authkey create", &rc));
	cr_assert_lt(rc, 0, "%s", w->out);
	cr_assert(strstr(w->out, "state not saved"), "%s", w->out);
	cr_assert_null(strstr(w->out, "svckey-"), "%s", w->out);
	cr_assert_eq(registry_authkey_count(control_registry(w->c)), before);
	cr_assert_eq(tw_events(w, "authkey_created", "\"actor\":\"alice@example.com\""), 0);
	tw_free(w);
}

Test(control, sec1_the_admin_api_makes_lists_and_revokes_auth_keys)
{
	struct tw *w = tw_persistent();
	char key[REG_AUTHKEY_TEXT_LEN + 1], id[REG_AUTHKEY_ID_LEN + 1], path[64];
	const char *resp, *body;

	resp = tw_http(w, "POST", "/api/authkeys",
	               "{\"reusable\":true,\"expiry_s\":86400,\"tags\":[\"tag:web\"]}");
	cr_assert(strncmp(resp, "HTTP/1.1 201", 12) == 0, "%s", resp);
	body = strstr(resp, "\r\n\r\n");
	cr_assert(body, "%s", resp);
	tw_key_of(body + 4, key);
	cr_assert(strstr(body, "\"expires_s\":1767312000"), "now + 1 day: %s", body);
	memcpy(id, key + strlen(REG_AUTHKEY_PREFIX), REG_AUTHKEY_ID_LEN);
	id[REG_AUTHKEY_ID_LEN] = '\0';

	resp = tw_http(w, "GET", "/api/authkeys", "");
	cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "%s", resp);
	cr_assert(strstr(resp, id) && !strstr(resp, "svckey-") && !strstr(resp, "sha256"), "%s",
	          resp);

	static const struct {
		const char *body, *want;
	} bad[] = {
	    {"[]", "body: want {"},
	    {"{\"reusable\":1}", "\\\"reusable\\\" must be true or false"},
	    {"{\"expiry_s\":0}", "\\\"expiry_s\\\" must be whole seconds"},
	    {"{\"expiry_s\":1.5}", "\\\"expiry_s\\\" must be whole seconds"},
	    {"{\"expiry\":60}", "body: unknown member"},
	    {"{\"tags\":[\"tag:web\"],\"tags\":[]}", "given twice"},
	    {"{\"tags\":[\"web\"]}", "\\\"web\\\" is not a tag"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		resp = tw_http(w, "POST", "/api/authkeys", bad[i].body);
		cr_assert(strncmp(resp, "HTTP/1.1 400", 12) == 0, "%s: %s", bad[i].body, resp);
		cr_assert(strstr(resp, bad[i].want), "%s: want '%s' in %s", bad[i].body,
		          bad[i].want, resp);
	}
	resp = tw_http_as(w, "tb", "POST", "/api/authkeys", "{\"tags\":[\"tag:web\"]}");
	cr_assert(strncmp(resp, "HTTP/1.1 403", 12) == 0, "%s", resp);

	snprintf(path, sizeof(path), "/api/authkeys/%s", id);
	resp = tw_http(w, "DELETE", path, "");
	cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "%s", resp);
	cr_assert(strstr(resp, "\"revoked\":true"), "%s", resp);
	resp = tw_http(w, "DELETE", path, "");
	cr_assert(strncmp(resp, "HTTP/1.1 409", 12) == 0, "%s", resp);
	resp = tw_http(w, "DELETE", "/api/authkeys/0123456789ab", "");
	cr_assert(strncmp(resp, "HTTP/1.1 404", 12) == 0, "%s", resp);
	resp = tw_http(w, "PUT", "/api/authkeys", "{}");
	cr_assert(strncmp(resp, "HTTP/1.1 405", 12) == 0, "%s", resp);
	tw_free(w);
}

/* ---- identity: attacks on registration (SEC-1, SEC-2, SEC-5) ------------- */

/* A node's record as a string, to show an attack changed nothing. */
static void tw_node_text(struct tw *w, const char *name, char *out, size_t len)
{
	const struct registry *reg = control_registry(w->c);
	int i = registry_node_index(reg, name);
	cr_assert_geq(i, 0, "%s unknown", name);
	const struct reg_node *n = registry_node(reg, (size_t)i);
	char ep[IO_ADDR_STRLEN];
	snprintf(out, len, "%s|%s|%s|%zu|%s|%s|%d|%d|%02x%02x", n->name, n->user, n->region,
	         n->n_tags, n->n_tags ? n->tags[0] : "",
	         io_addr_format(&n->endpoint, true, ep, sizeof(ep)), n->connected, n->alive,
	         n->key[0], n->key[31]);
}

Test(control, sec5_a_forged_hello_for_an_existing_node_is_refused_and_the_victim_keeps_it)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);
	struct fake *att = &w->f[SPARE];
	char before[512], after[512];

	tw_node_text(w, "web-us", before, sizeof(before));
	int welcomes = w->f[WEB_US].n_welcome;
	/* The attacker holds a valid auth key of its own, and says it is
	 * web-us: its session proves another node key. */
	att->key_name = "attacker";
	fake_connect_as(w, SPARE, "web-us");
	cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US));
	cr_assert(strstr(att->last_error, "registered with another node key"), "%s",
	          att->last_error);
	cr_assert_eq(tw_events(w, "session_refused", "\"node_name\":\"web-us\""), 1);
	cr_assert_eq(tw_events(w, "session_error", "replaced by a new session"), 0);
	tw_step(w, 300000);
	cr_assert(!w->f[WEB_US].closed, "the victim's session stands");
	cr_assert_eq(w->f[WEB_US].n_welcome, welcomes);
	tw_node_text(w, "web-us", after, sizeof(after));
	cr_assert_str_eq(after, before, "nothing about the victim changed");
	/* The victim itself, with its own key, reconnects as before. */
	fake_close(&w->f[WEB_US]);
	tw_step(w, 100000);
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].map != NULL, TW_TIMEOUT_US));
	tw_free(w);
}

Test(control, sec5_a_node_key_registered_as_one_node_cannot_register_another)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	struct fake *att = &w->f[SPARE];

	att->key_name = "web-us"; /* web-us's key, another name */
	fake_connect_as(w, SPARE, "web-us-twin");
	cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US));
	cr_assert(strstr(att->last_error, "registered as node web-us"), "%s", att->last_error);
	cr_assert_eq(registry_node_index(control_registry(w->c), "web-us-twin"), -ENOENT);
	tw_free(w);
}

Test(control, sec1_sec5_a_flood_of_new_nodes_without_a_valid_auth_key_registers_none)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	struct fake *att = &w->f[SPARE];
	static char names[60][16];
	static const char *const bad[] = {
	    "",                                                     /* none */
	    "svckey-000000000000-00000000000000000000000000000000", /* unknown */
	    "not-a-key",                                            /* malformed */
	};
	size_t before = registry_node_count(control_registry(w->c));

	for (int i = 0; i < 60; i++) {
		snprintf(names[i], sizeof(names[i]), "fake-%d", i);
		att->auth = bad[i % 3];
		fake_connect_as(w, SPARE, names[i]);
		cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US), "%s stays: %d %s %d", names[i],
		          att->n_errors, att->last_error, att->connected);
	}
	cr_assert_eq(registry_node_count(control_registry(w->c)), before, "no node registered");
	cr_assert_eq(tw_events(w, "session_refused", "joining needs an auth key"), 20);
	cr_assert_eq(tw_events(w, "session_refused", "is not known"), 20);
	cr_assert_eq(tw_events(w, "session_refused", "not an auth key"), 20);
	cr_assert_eq(tw_events(w, "session_refused", "0000000000000000"), 0, "no secret echoed");
	cr_assert_eq(tw_events(w, "node_registered", "fake-"), 0);
	tw_free(w);
}

Test(control, sec1_sec5_expired_revoked_and_spent_auth_keys_are_refused)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	struct fake *att = &w->f[SPARE];
	char expiring[REG_AUTHKEY_TEXT_LEN + 1], once[REG_AUTHKEY_TEXT_LEN + 1],
	    revoked[REG_AUTHKEY_TEXT_LEN + 1], line[64];
	int rc;

	cJSON_Delete(tw_cmd(w, ALICE, "authkey create --expiry 1s --tags tag:web", &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	tw_key_of(w->out, expiring);
	cJSON_Delete(tw_cmd(w, ALICE, "authkey create --tags tag:web", &rc));
	tw_key_of(w->out, once);
	cJSON_Delete(tw_cmd(w, ALICE, "authkey create --reusable --tags tag:web", &rc));
	tw_key_of(w->out, revoked);
	snprintf(line, sizeof(line), "authkey revoke %.12s", revoked + strlen(REG_AUTHKEY_PREFIX));
	cJSON_Delete(tw_cmd(w, ALICE, line, &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	tw_step(w, 1500000); /* past the expiry */

	const struct {
		const char *key, *name, *why;
	} cases[] = {
	    {expiring, "late", "expired at"},
	    {revoked, "barred", "was revoked"},
	    {once, "first", NULL}, /* joins */
	    {once, "second", "already used"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		att->auth = cases[i].key;
		fake_connect_as(w, SPARE, cases[i].name);
		if (!cases[i].why) {
			cr_assert(RUN_UNTIL(w, att->map != NULL, TW_TIMEOUT_US), "%s joins",
			          cases[i].name);
			fake_close(att);
			tw_step(w, 100000);
			continue;
		}
		cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US), "%s", cases[i].name);
		cr_assert(strstr(att->last_error, cases[i].why), "%s: %s", cases[i].name,
		          att->last_error);
		cr_assert_eq(registry_node_index(control_registry(w->c), cases[i].name), -ENOENT);
	}
	tw_free(w);
}

Test(control, sec2_a_handshake_to_another_control_key_is_refused_before_any_frame)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	struct fake *att = &w->f[SPARE];
	static const uint8_t other[WG_KEY_LEN] = {9, 9, 9};

	att->pin = other;
	fake_connect_as(w, SPARE, "spare");
	cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US));
	cr_assert_eq(att->n_welcome, 0);
	cr_assert_eq(att->n_errors, 0, "control says nothing to a peer that proved nothing");
	cr_assert_eq(tw_events(w, "session_refused", "does not open under control's key"), 1);
	cr_assert_eq(registry_node_index(control_registry(w->c), "spare"), -ENOENT);
	tw_free(w);
}

/* Whether `name` is among the peers of the fake's map. */
static bool fake_has_peer(const struct fake *f, const char *name)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f->map, "peers"))
	{
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name")) ?: "",
		           name) == 0)
			return true;
	}
	return false;
}

Test(control, sec2_a_revoked_node_key_ends_its_session_and_no_peer_keeps_it)
{
	const int nodes[] = {WEB_US, CL_US};
	struct tw *w = tw_setup(nodes, 2);
	int rc;

	tw_define_web(w);
	tw_ok(w, "approve svc:web web-us");
	fake_advertise(&w->f[WEB_US], "[{\"name\":\"svc:web\",\"ports\":[443,80]}]");
	cr_assert(RUN_UNTIL(w, fake_first_is(&w->f[CL_US], "svc:web", "web-us"), TW_TIMEOUT_US));
	cr_assert(fake_has_peer(&w->f[CL_US], "web-us"));

	cJSON_Delete(tw_cmd(w, BOB, "node revoke web-us", &rc));
	cr_assert_eq(rc, -EPERM, "a member may not: %s", w->out);
	cr_assert(!w->f[WEB_US].closed);
	cJSON_Delete(tw_cmd(w, ALICE, "node revoke web-us", &rc));
	cr_assert_eq(rc, 0, "%s", w->out);
	cr_assert(strstr(w->out, "\"key_revoked\":true"), "%s", w->out);
	cr_assert_eq(tw_events(w, "node_key_revoked", "\"node_name\":\"web-us\""), 1);
	/* Its session ends at once; its clients' maps lose it within the
	 * propagation bound. */
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].closed, TW_TIMEOUT_US));
	cr_assert(RUN_UNTIL(w, !fake_has_peer(&w->f[CL_US], "web-us"), TW_TIMEOUT_US));
	cr_assert_eq(fake_n_hosts(&w->f[CL_US], "svc:web"), 0);
	/* It may not come back with the same key, even with a valid auth key. */
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, w->f[WEB_US].closed, TW_TIMEOUT_US));
	cr_assert(strstr(w->f[WEB_US].last_error, "revoked by an admin"), "%s",
	          w->f[WEB_US].last_error);
	cJSON_Delete(tw_cmd(w, ALICE, "node revoke web-us", &rc));
	cr_assert_eq(rc, -EALREADY, "%s", w->out);
	/* The revocation is recorded (and saved with the node). */
	cr_assert(registry_node(control_registry(w->c),
	                        (size_t)registry_node_index(control_registry(w->c), "web-us"))
	              ->key_revoked);
	tw_free(w);
}

Test(control, sec2_a_node_rotates_its_key_and_then_only_the_new_one_is_taken)
{
	const int nodes[] = {WEB_US};
	struct tw *w = tw_setup(nodes, 1);
	struct fake *f = &w->f[WEB_US];
	struct wg_keypair next = fake_key("web-us rotated");
	char hex[2 * WG_KEY_LEN + 1], msg[160];

	hex_encode(next.pub, WG_KEY_LEN, hex);
	snprintf(msg, sizeof(msg), "{\"type\":\"rotate_key\",\"key\":\"%s\"}", hex);
	fake_send(f, msg);
	cr_assert(RUN_UNTIL(w, tw_events(w, "node_key_rotation", "web-us") == 1, TW_TIMEOUT_US));
	/* Until a session proves the new key, the old one is taken too (a
	 * crash before the node kept the new key locks nothing out). */
	fake_close(f);
	tw_step(w, 100000);
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, f->map != NULL, TW_TIMEOUT_US));
	cr_assert_eq(tw_events(w, "node_key_rotated", NULL), 0);
	/* The new key's session completes the rotation ... */
	fake_close(f);
	tw_step(w, 100000);
	f->key_name = "web-us rotated";
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, f->map != NULL, TW_TIMEOUT_US));
	cr_assert_eq(tw_events(w, "node_key_rotated", "\"node_name\":\"web-us\""), 1);
	const struct registry *reg = control_registry(w->c);
	const struct reg_node *n = registry_node(reg, (size_t)registry_node_index(reg, "web-us"));
	cr_assert(memcmp(n->key, next.pub, WG_KEY_LEN) == 0 && !n->has_next_key);
	/* ... and the old key is no longer taken. */
	fake_close(f);
	tw_step(w, 100000);
	f->key_name = NULL;
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, f->closed, TW_TIMEOUT_US));
	cr_assert(strstr(f->last_error, "registered with another node key"), "%s", f->last_error);
	/* A rotation to another node's key is refused. */
	const int more[] = {CL_US};
	fake_connect(w, more[0]);
	cr_assert(RUN_UNTIL(w, w->f[CL_US].map != NULL, TW_TIMEOUT_US));
	fake_send(&w->f[CL_US], msg);
	cr_assert(RUN_UNTIL(w, w->f[CL_US].closed, TW_TIMEOUT_US));
	cr_assert(strstr(w->f[CL_US].last_error, "that key is node web-us's"), "%s",
	          w->f[CL_US].last_error);
	tw_free(w);
}

Test(control, sec1_sec5_a_node_saved_without_a_key_binds_one_only_with_an_auth_key_for_it)
{
	struct tw *w = tw_persistent();
	struct fake *f = &w->f[WEB_US], *att = &w->f[SPARE];
	char *disk, err[256];

	/* State written before node keys: web-us's record without its key. */
	for (int i = 0; i < TW_NODES; i++)
		if (w->f[i].h >= 0)
			fake_close(&w->f[i]);
	control_free(w->c);
	w->c = NULL;
	disk = tw_disk(w);
	cJSON *doc = cJSON_Parse(disk), *node;
	free(disk);
	cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(
	                             cJSON_GetObjectItemCaseSensitive(doc, "registry"), "nodes"))
	{
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(node, "name")),
		           "web-us") == 0)
			cJSON_DeleteItemFromObjectCaseSensitive(node, "key");
	}
	disk = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	cr_assert_not_null(disk);
	cr_assert_eq(w->st->ops->write(w->st, w->state_path, disk, strlen(disk), err, sizeof(err)),
	             0, "%s", err);
	free(disk);
	cr_assert_eq(tw_start_control(w, w->state_path), 0);
	const struct registry *reg = control_registry(w->c);
	cr_assert_not(registry_node(reg, (size_t)registry_node_index(reg, "web-us"))->has_key);

	/* Someone else names it without an auth key: refused, nothing bound. */
	att->key_name = "squatter";
	att->auth = "";
	fake_connect_as(w, SPARE, "web-us");
	cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US));
	cr_assert(strstr(att->last_error, "binding one needs an auth key"), "%s", att->last_error);
	/* With an auth key for other tags: refused too. */
	char other[REG_AUTHKEY_TEXT_LEN + 1];
	const char *client[] = {"tag:client"};
	cr_assert_eq(
	    control_authkey_issue(w->c, "", client, 1, other, sizeof(other), err, sizeof(err)), 0,
	    "%s", err);
	att->auth = other;
	fake_connect_as(w, SPARE, "web-us");
	cr_assert(RUN_UNTIL(w, att->closed, TW_TIMEOUT_US));
	cr_assert(strstr(att->last_error, "tag:web is not carried"), "%s", att->last_error);
	cr_assert_not(registry_node(reg, (size_t)registry_node_index(reg, "web-us"))->has_key);
	/* The node itself, with a key for exactly its tags, binds its key. */
	memset(w->auth_key[WEB_US], 0, sizeof(w->auth_key[WEB_US]));
	fake_connect(w, WEB_US);
	cr_assert(RUN_UNTIL(w, f->map != NULL, TW_TIMEOUT_US));
	const struct reg_node *n = registry_node(reg, (size_t)registry_node_index(reg, "web-us"));
	struct wg_keypair kp = fake_key("web-us");
	cr_assert(n->has_key && memcmp(n->key, kp.pub, WG_KEY_LEN) == 0);
	tw_free(w);
}
