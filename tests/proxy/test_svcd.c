/* The node daemon end to end over the seam, on both backends (compiled
 * twice, with dp_fixture_sim.c and dp_fixture_epoll.c; SVCD_SUITE names
 * the suite): three nodes, each running a whole svcd.
 *
 *   client  100.64.0.1  user-owned (alice@example.com)
 *   host-a  100.64.0.2  tag:web, hosts svc:web and svc:dns
 *   host-b  100.64.0.3  tag:web, hosts svc:web
 *
 * svc:web has VIP 100.100.0.5 (and an IPv6 VIP, which the sim refuses:
 * tolerated), svc:dns 100.100.0.6. Each host runs an HTTP backend on
 * 127.0.0.1:8080 and a TCP echo on 127.0.0.1:9000. The client's netmap
 * ranks svc:web's hosts host-a first unless a test re-ranks it (as
 * control would after a drain). Commands go through the daemon's own
 * entry points: svcd_serve_line and the local API (svcd_local_request). */
#define _GNU_SOURCE
#include "apps/backend_apps.h"
#include "apps/http_backend.h"
#include "lib/wire/localapi.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/svcd.h"
#include "tests/proxy/dp_fixture.h"
#include "tests/proxy/tconn.h"
#include "tests/support/prereq.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SVCD_SUITE
#define SVCD_SUITE svcd
#endif

#define CLIENT            0
#define HOST_A            1
#define HOST_B            2
#define WEB_VIP           "100.100.0.5"
#define WEB_VIP6          "fd7a:115c:a1e0:ab12::5"
#define DNS_VIP           "100.100.0.6"
#define HTTP_BACKEND_PORT 8080
#define ECHO_PORT         9000
#define UDP_PORT          5353
#define GRACE_US          (1000000ull)
#define STEP_TIMEOUT_US   (10ull * 1000000)

struct tw {
	struct dpf *f;
	struct svcd *d[DPF_NODES];
	struct http_backend *hb[DPF_NODES];
	struct backend_tcp *echo[DPF_NODES];
	uint64_t version[DPF_NODES];
	bool unapproved[DPF_NODES]; /* netmap lists no host_services for the node */
	char out[SVCD_OUT_MAX];
};

static struct tw *current;

/* Node i's netmap. `web_hosts` is the body of svc:web's ranked host list
 * as the client sees it; `self_tags` the JSON array of node i's tags. */
static void set_map_tags(struct tw *t, int i, const char *web_hosts, const char *self_tags)
{
	char doc[8192], peers[2048], err[NETMAP_ERR_LEN];
	const char *host_services =
	    t->unapproved[i] ? "[]"
	    : i == HOST_A    ? "[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\",\"" WEB_VIP6
	                    "\"]},{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"]}]"
	    : i == HOST_B ? "[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\",\"" WEB_VIP6
	                    "\"]}]"
	                  : "[]";
	const char *filter = i == CLIENT ? "[]"
	                                 : "[{\"src\":[\"100.64.0.1\"],\"dst\":[{\"net\":\"" WEB_VIP
	                                   "/32\",\"ports\":\"*\"},{\"net\":\"" DNS_VIP
	                                   "/32\",\"ports\":\"*\"}]}]";

	dpf_peers_json(t->f, i, 0, DATAPLANE_DEFAULT_PORT, true, peers, sizeof(peers));
	snprintf(doc, sizeof(doc),
	         "{\"version\":%llu,\"tailnet\":\"example.ts.net\","
	         "\"self\":{\"name\":\"%s\",\"addresses\":[\"100.64.0.%d\"],\"tags\":%s},"
	         "\"peers\":[%s],"
	         "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\",\"" WEB_VIP6
	         "\"],\"ports\":[\"tcp:80\",\"tcp:443\",\"tcp:5432\"],\"hosts\":[%s]},"
	         "{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"],\"do_not_validate\":true,"
	         "\"hosts\":[\"host-a\"]}],"
	         "\"host_services\":%s,\"filter\":%s}",
	         (unsigned long long)++t->version[i], t->f->node[i].name, i + 1, self_tags, peers,
	         web_hosts, host_services, filter);
	cr_assert_eq(svcd_set_netmap_json(t->d[i], doc, strlen(doc), err, sizeof(err)), 0,
	             "node %d netmap: %s", i, err);
}

static void set_map(struct tw *t, int i, const char *web_hosts)
{
	set_map_tags(t, i, web_hosts, i == CLIENT ? "[]" : "[\"tag:web\"]");
}

static struct tw *tw_new(void)
{
	const char *reason = NULL;
	struct tw *t = calloc(1, sizeof(*t));

	cr_assert_not_null(t);
	t->f = dpf_new(&reason);
	if (!t->f) {
		free(t);
		prereq_missing("%s", reason ? reason : "backend unavailable");
	}
	current = t;
	for (int i = 0; i < DPF_NODES; i++) {
		struct svcd_config cfg = {.name = t->f->node[i].name,
		                          .underlay = t->f->node[i].underlay,
		                          .drain_grace_us = GRACE_US};
		cfg.underlay.port = DATAPLANE_DEFAULT_PORT;
		cr_assert_eq(svcd_new(&t->d[i], t->f->node[i].io, &cfg), 0, "svcd_new(%d)", i);
		if (i == CLIENT)
			continue;
		struct io_addr hb = dpf_ip("127.0.0.1", HTTP_BACKEND_PORT),
		               ea = dpf_ip("127.0.0.1", ECHO_PORT);
		const struct http_backend_config bc = {.name = i == HOST_A ? "web-a" : "web-b"};
		cr_assert_eq(http_backend_new(&t->hb[i], t->f->node[i].io, &bc, &hb, NULL), 0);
		cr_assert_eq(backend_tcp_echo_start(t->f->node[i].io, &ea, &t->echo[i]), 0);
	}
	for (int i = 0; i < DPF_NODES; i++)
		set_map(t, i, "\"host-a\",\"host-b\"");
	return t;
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
	dpf_free(t->f);
	free(t);
	current = NULL;
}

/* Runs `serve ...` on node i; asserts the result code. */
static const char *serve(struct tw *t, int i, int want_rc, const char *line)
{
	int rc = svcd_serve_line(t->d[i], line, t->out, sizeof(t->out));
	cr_assert_eq(rc, want_rc, "node %d `%s`: rc %d, output:\n%s", i, line, rc, t->out);
	return t->out;
}

/* ---- a client over the seam ---------------------------------------------- */

static void tconn_start(struct tw *t, struct tconn *c, const char *dst, uint16_t port,
                        const char *tx)
{
	struct io_addr a = dpf_ip(dst, port);
	int h = tconn_open(c, t->f->node[CLIENT].io, &a, tx);

	cr_assert_geq(h, 0, "connect to %s:%u: %d", dst, port, h);
}

/* One HTTP request with Connection: close; returns the whole response. */
static const char *http_get(struct tw *t, struct tconn *c, uint16_t port, const char *path,
                            const char *extra_headers)
{
	static char req[1024]; /* test-only scratch */
	snprintf(req, sizeof(req),
	         "GET %s HTTP/1.1\r\nHost: web.example.ts.net\r\n%sConnection: close\r\n\r\n", path,
	         extra_headers ? extra_headers : "");
	tconn_start(t, c, WEB_VIP, port, req);
	cr_assert(dpf_run_until(t->f, tconn_finished, c, STEP_TIMEOUT_US),
	          "GET %s: no complete answer (got %zu bytes: %s)", path, c->rx_len, c->rx);
	tconn_close(c);
	return c->rx;
}

/* An echo round trip on an open connection. */
static void echo_roundtrip(struct tw *t, struct tconn *c, const char *msg)
{
	tconn_echo_roundtrip(t->f, c, msg, STEP_TIMEOUT_US);
}

static uint64_t echo_accepted(struct tw *t, int host)
{
	struct backend_tcp_stats st;
	backend_tcp_get_stats(t->echo[host], &st);
	return st.accepted;
}

/* A new L4 connection through the VIP: echoes `msg` or fails. Returns 0 or
 * the client's error. */
static int l4_try(struct tw *t, const char *msg)
{
	struct tconn c;
	struct tconn_wait w = {&c, msg};

	tconn_start(t, &c, WEB_VIP, 5432, msg);
	dpf_run_until(t->f, tconn_has, &w, STEP_TIMEOUT_US);
	int rc = c.err ? c.err : strstr(c.rx, msg) ? 0 : -ETIMEDOUT;
	tconn_close(&c);
	return rc;
}

/* ---- CFG ------------------------------------------------------------------ */

Test(SVCD_SUITE, cfg_1_serve_writes_config_advertises_and_the_vip_reaches_the_proxy,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();
	struct tconn c;

	const char *out = serve(t, HOST_A, 0, "serve --service=svc:web --http=80 8080");
	cr_assert(strstr(out, "Available within your tailnet"), "CFG-12 message: %s", out);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 80));
	char *st = svcd_serve_status_json(t->d[HOST_A]);
	cr_assert(strstr(st, "\"svc:web\"") && strstr(st, "http://127.0.0.1:8080"), "%s", st);
	free(st);
	cr_assert_geq(dpf_events_count(t->f, "\"host_advertising\"", "svc:web"), 1);
	cr_assert_geq(dpf_events_count(t->f, "\"proxy_listening\"", "100.100.0.5:80"), 1);

	const char *r = http_get(t, &c, 80, "/headers", "X-Forwarded-For: 6.6.6.6\r\n");
	cr_assert(strncmp(r, "HTTP/1.1 200", 12) == 0, "answer: %s", r);
	cr_assert(strstr(r, "X-Forwarded-For: 100.64.0.1") ||
	              strstr(r, "x-forwarded-for: 100.64.0.1"),
	          "L7-4 XFF: %s", r);
	cr_assert_null(strstr(r, "6.6.6.6"), "client-sent XFF must be dropped: %s", r);
	cr_assert(strcasestr(r, "Tailscale-User-Login: alice@example.com"), "identity: %s", r);
	cr_assert_eq(http_backend_stats(t->hb[HOST_A])->requests, 1, "steered to host-a");
	cr_assert_eq(http_backend_stats(t->hb[HOST_B])->requests, 0);
}

Test(SVCD_SUITE, cfg_11_an_untagged_host_is_refused, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new();

	set_map_tags(t, HOST_A, "\"host-a\",\"host-b\"", "[]");
	const char *out = serve(t, HOST_A, -EPERM, "serve --service=svc:web --http=80 8080");
	cr_assert(strstr(out, "svc:web") && strstr(out, "tag"), "refusal: %s", out);
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 80));
	serve(t, HOST_A, -EPERM, "serve advertise svc:web");
}

Test(SVCD_SUITE, cfg_12_an_unapproved_service_prints_the_approval_message_and_does_not_listen,
     .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new();

	const char *out = serve(t, HOST_B, 0, "serve --service=svc:dns --http=80 text:hi");
	cr_assert(strstr(out, "approval"), "CFG-12 pending form: %s", out);
	cr_assert_not(svcd_is_listening(t->d[HOST_B], "svc:dns", 80));
}

Test(SVCD_SUITE, cfg_6_7_8_changes_apply_to_live_traffic, .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();
	struct tconn c;

	serve(t, HOST_A, 0, "serve --service=svc:web --http=80 text:one");
	serve(t, HOST_A, 0, "serve --service=svc:web --http=80 --set-path=/api 8080");
	cr_assert(strstr(http_get(t, &c, 80, "/", NULL), "one"), "%s", c.rx);
	cr_assert(strstr(http_get(t, &c, 80, "/api/headers", NULL), "X-Forwarded-For") ||
	              strcasestr(c.rx, "x-forwarded-for"),
	          "mount /api proxied: %s", c.rx);

	/* CFG-6: the same service/port/path with a new target. */
	serve(t, HOST_A, 0, "serve --service=svc:web --http=80 text:two");
	cr_assert(strstr(http_get(t, &c, 80, "/", NULL), "two"), "CFG-6: %s", c.rx);

	/* CFG-7: off removes only that path. */
	serve(t, HOST_A, 0, "serve --service=svc:web --http=80 --set-path=/api off");
	/* /api/... now falls back to the "/" handler. */
	http_get(t, &c, 80, "/api/headers", NULL);
	cr_assert(strstr(c.rx, "two") && !strcasestr(c.rx, "x-forwarded-for"), "CFG-7: %s", c.rx);
	cr_assert(strstr(http_get(t, &c, 80, "/", NULL), "two"), "CFG-7 others stay: %s", c.rx);

	/* CFG-8: clear stops everything for the service. */
	serve(t, HOST_A, 0, "serve clear svc:web");
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 80));
	tconn_start(t, &c, WEB_VIP, 80, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert(dpf_run_until(t->f, tconn_finished, &c, STEP_TIMEOUT_US));
	cr_assert_eq(c.err, -ECONNREFUSED, "after clear: err %d rx %s", c.err, c.rx);
	tconn_close(&c);
	char *st = svcd_serve_status_json(t->d[HOST_A]);
	cr_assert_null(strstr(st, "svc:web"), "config gone: %s", st);
	free(st);
}

Test(SVCD_SUITE, cfg_10_the_config_file_route_through_the_local_api_then_advertise,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();
	struct tconn c;
	const char *doc = "{\"Services\":{\"svc:web\":{\"TCP\":{\"80\":{\"HTTP\":true}},"
	                  "\"Web\":{\"web.example.ts.net:80\":{\"Handlers\":{\"/\":{\"Text\":"
	                  "\"from-file\"}}}}}}}";
	struct localapi_request req = {
	    .op = LOCALAPI_OP_SERVE_CONFIG, .document = (char *)doc, .doc_len = strlen(doc)};
	bool too_big;
	char *line = localapi_request_format(&req, &too_big), *resp, *output;
	int status;

	resp = svcd_local_request(t->d[HOST_A], line, strlen(line));
	cr_assert_eq(localapi_response_parse(resp, strlen(resp), &status, &output, NULL, 0), 0);
	cr_assert_eq(status, 0, "%s", output);
	free(resp), free(output), free(line);
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 80), "not advertised yet");

	/* A bad document changes nothing. */
	const char *bad = "{\"op\":\"serve-config\",\"document\":\"{\\\"Services\\\":7}\"}\n";
	resp = svcd_local_request(t->d[HOST_A], bad, strlen(bad));
	cr_assert_eq(localapi_response_parse(resp, strlen(resp), &status, &output, NULL, 0), 0);
	cr_assert_eq(status, 1);
	cr_assert(strstr(output, "Services"), "names the place: %s", output);
	free(resp), free(output);

	const char *adv = "{\"op\":\"serve\",\"argv\":[\"serve\",\"advertise\",\"svc:web\"]}\n";
	resp = svcd_local_request(t->d[HOST_A], adv, strlen(adv));
	cr_assert(strstr(resp, "\"status\":0"), "%s", resp);
	free(resp);
	cr_assert(strstr(http_get(t, &c, 80, "/", NULL), "from-file"), "%s", c.rx);

	const char *st = "{\"op\":\"status\",\"json\":true}\n";
	resp = svcd_local_request(t->d[HOST_A], st, strlen(st));
	cr_assert(strstr(resp, "from-file"), "%s", resp);
	free(resp);
}

Test(SVCD_SUITE, https_without_a_certificate_is_refused_at_serve_time, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new();
	const char *out = serve(t, HOST_A, -EINVAL, "serve --service=svc:web --https=443 8080");
	cr_assert(strstr(out, "--cert"), "%s", out);
	char *st = svcd_serve_status_json(t->d[HOST_A]);
	cr_assert_null(strstr(st, "svc:web"), "nothing changed: %s", st);
	free(st);
}

/* ---- L4 -------------------------------------------------------------------- */

Test(SVCD_SUITE, l4_1_tcp_through_the_full_overlay_path_with_half_close, .fini = teardown,
     .timeout = 120)
{
	struct tw *t = tw_new();
	struct tconn c;

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	tconn_start(t, &c, WEB_VIP, 5432, "ping-1");
	struct tconn_wait w = {&c, "ping-1"};
	cr_assert(dpf_run_until(t->f, tconn_has, &w, STEP_TIMEOUT_US), "rx %s err %d", c.rx, c.err);
	/* half-close: the echo finishes and closes its side */
	cr_assert_eq(c.io->ops->tcp_shutdown(c.io, c.h), 0);
	cr_assert(dpf_run_until(t->f, tconn_finished, &c, STEP_TIMEOUT_US));
	cr_assert(c.eof && c.err == 0, "clean EOF after half-close (err %d)", c.err);
	tconn_close(&c);
	cr_assert_eq(echo_accepted(t, HOST_A), 1);
}

/* ---- DRN --------------------------------------------------------------- */

Test(SVCD_SUITE, drn_1_2_drain_refuses_new_connections_after_grace_while_open_ones_continue,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();
	struct tconn longc;

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	serve(t, HOST_B, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	tconn_start(t, &longc, WEB_VIP, 5432, NULL);
	cr_assert(dpf_run_until(t->f, tconn_up, &longc, STEP_TIMEOUT_US));
	echo_roundtrip(t, &longc, "before-drain");
	cr_assert_eq(echo_accepted(t, HOST_A), 1);

	const char *out = serve(t, HOST_A, 0, "serve drain svc:web");
	cr_assert(strstr(out, "draining"), "%s", out);
	cr_assert_eq(dpf_events_count(t->f, "\"host_draining\"", "svc:web"), 1);
	/* Control re-ranks the client away from host-a at once. */
	set_map(t, CLIENT, "\"host-b\",\"host-a\"");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(l4_try(t, "during-grace"), 0, "DRN-1: no failed connection");
	dpf_run_for(t->f, GRACE_US + 300000);
	cr_assert_eq(dpf_events_count(t->f, "\"host_drained\"", "svc:web"), 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(l4_try(t, "after-grace"), 0, "DRN-1: no failed connection");
	cr_assert_eq(echo_accepted(t, HOST_A), 1, "no new connection reached host-a");
	cr_assert_eq(echo_accepted(t, HOST_B), 6);

	/* DRN-2: the connection open at drain time still works. */
	echo_roundtrip(t, &longc, "after-drain");
	cr_assert_eq(svcd_open_connections(t->d[HOST_A], "svc:web"), 1);

	/* A client still steered to host-a (stale map) is refused there. */
	set_map(t, CLIENT, "\"host-a\",\"host-b\"");
	cr_assert_eq(l4_try(t, "stale"), -ECONNREFUSED, "DRN-1: a drained host accepted");
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));

	/* It closes normally; the drain completes. */
	cr_assert_eq(longc.io->ops->tcp_shutdown(longc.io, longc.h), 0);
	cr_assert(dpf_run_until(t->f, tconn_finished, &longc, STEP_TIMEOUT_US));
	cr_assert(longc.eof && longc.err == 0, "DRN-2: closed normally, err %d", longc.err);
	tconn_close(&longc);
	dpf_run_for(t->f, 500000);
	cr_assert_eq(svcd_open_connections(t->d[HOST_A], "svc:web"), 0);
	cr_assert_eq(dpf_events_count(t->f, "\"drain_complete\"", "svc:web"), 1);
	cr_assert_eq(dpf_events_count(t->f, "\"connections_reset\"", NULL), 0);
}

Test(SVCD_SUITE, drn_4_clear_without_drain_resets_open_connections_and_counts_them,
     .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();
	struct tconn c[2];

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	for (int i = 0; i < 2; i++) {
		tconn_start(t, &c[i], WEB_VIP, 5432, NULL);
		cr_assert(dpf_run_until(t->f, tconn_up, &c[i], STEP_TIMEOUT_US));
		echo_roundtrip(t, &c[i], "hello");
	}
	cr_assert_eq(svcd_open_connections(t->d[HOST_A], "svc:web"), 2);
	serve(t, HOST_A, 0, "serve clear svc:web");
	for (int i = 0; i < 2; i++) {
		cr_assert(dpf_run_until(t->f, tconn_finished, &c[i], STEP_TIMEOUT_US));
		cr_assert_eq(c[i].err, -ECONNRESET, "conn %d: err %d eof %d", i, c[i].err,
		             c[i].eof);
		tconn_close(&c[i]);
	}
	cr_assert_eq(dpf_events_count(t->f, "\"connections_reset\"", "\"count\":2"), 1);
}

Test(SVCD_SUITE, drn_5_advertise_after_drain_listens_again, .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	serve(t, HOST_A, 0, "serve drain svc:web");
	dpf_run_for(t->f, GRACE_US + 300000);
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	cr_assert_eq(l4_try(t, "drained"), -ECONNREFUSED);
	serve(t, HOST_A, 0, "serve advertise svc:web");
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	cr_assert_eq(l4_try(t, "back"), 0);
	cr_assert_geq(dpf_events_count(t->f, "\"host_advertising\"", "\"undrained\":true"), 1);
}

Test(SVCD_SUITE, drn_5_advertise_during_grace_cancels_the_drain, .fini = teardown, .timeout = 120)
{
	struct tw *t = tw_new();

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	serve(t, HOST_A, 0, "serve drain svc:web");
	serve(t, HOST_A, 0, "serve advertise svc:web");
	dpf_run_for(t->f, GRACE_US + 300000);
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	cr_assert_eq(dpf_events_count(t->f, "\"host_drained\"", NULL), 0);
	cr_assert_eq(l4_try(t, "still"), 0);
}

/* ---- LIM-1, L3-1 ---------------------------------------------------------- */

struct dgram_sink {
	int count;
	struct io_addr src;
};

static void dgram_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                     const struct io_addr *src)
{
	struct dgram_sink *s = ctx;
	(void)handle, (void)data, (void)len;
	s->count++;
	s->src = *src;
}

static bool dgram_arrived(void *arg)
{
	return ((struct dgram_sink *)arg)->count > 0;
}

/* Sends one datagram from the client to vip:UDP_PORT, where host-a runs a
 * udp-echo; true when the answer comes back. */
static bool udp_roundtrip(struct tw *t, const char *vip)
{
	struct io *cio = t->f->node[CLIENT].io, *aio = t->f->node[HOST_A].io;
	struct backend_udp_echo *ue;
	struct dgram_sink sink = {0};
	struct io_addr va = dpf_ip(vip, UDP_PORT), cl = dpf_ip("100.64.0.1", 0);

	cr_assert_eq(backend_udp_echo_start(aio, &va, &ue), 0, "udp-echo on %s", vip);
	int cu = cio->ops->udp_open(cio, &cl, dgram_cb, &sink);
	cr_assert_geq(cu, 0);
	cr_assert_geq(cio->ops->udp_send(cio, cu, "query", 5, &va), 0);
	bool ok = dpf_run_until(t->f, dgram_arrived, &sink, 2000000);
	cio->ops->close(cio, cu, false);
	backend_udp_echo_free(ue);
	return ok;
}

Test(SVCD_SUITE, lim_1_udp_to_a_service_vip_without_tun_is_not_delivered, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new();

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	cr_assert_not(udp_roundtrip(t, WEB_VIP), "LIM-1: UDP reached a non-L3 service");
	cr_assert_geq(dpf_events_count(t->f, "\"service_non_tcp_refused\"", "svc:web"), 1);
	cr_assert_eq(l4_try(t, "tcp-still-works"), 0);
}

/* A packet LIM-1 refuses is a policy drop, not a device failure: the data
 * plane counts it as handed to the stack (tun_out), as when the filter sat
 * in the TUN write itself. */
Test(SVCD_SUITE, lim_1_a_refused_packet_counts_as_handed_to_the_stack, .fini = teardown,
     .timeout = 60)
{
	struct tw *t = tw_new();
	struct dataplane_stats before, after;

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	dataplane_stats(svcd_dataplane(t->d[HOST_A]), &before);
	cr_assert_not(udp_roundtrip(t, WEB_VIP));
	dataplane_stats(svcd_dataplane(t->d[HOST_A]), &after);
	cr_assert_eq(after.tun_out_packets - before.tun_out_packets, 1);
	cr_assert_eq(after.tun_out_bytes - before.tun_out_bytes, 20 + 8 + 5);
}

/* LIM-1 covers every packet the daemon puts into its stack, not only those
 * from the tailnet: a MagicDNS answer to a query sent from a VIP of a
 * non-L3 service is refused like any other UDP to that VIP. */
Test(SVCD_SUITE, lim_1_a_magicdns_answer_to_a_service_vip_without_tun_is_not_delivered,
     .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new();
	struct io *aio = t->f->node[HOST_A].io;
	struct svcd_config c = {.name = t->f->node[HOST_A].name,
	                        .underlay = t->f->node[HOST_A].underlay,
	                        .drain_grace_us = GRACE_US,
	                        .magic_dns = true};
	static const uint8_t query[] = {0x12, 0x34, 0x01, 0,   0,   1, 0, 0, 0, 0, 0,
	                                0,    3,    'w',  'e', 'b', 0, 0, 1, 0, 1};

	svcd_free(t->d[HOST_A]);
	c.underlay.port = DATAPLANE_DEFAULT_PORT;
	cr_assert_eq(svcd_new(&t->d[HOST_A], aio, &c), 0);
	set_map(t, HOST_A, "\"host-a\",\"host-b\"");
	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");

	/* From the node's own address: answered. */
	struct dgram_sink own = {0}, vip = {0};
	struct io_addr me = dpf_ip("100.64.0.2", 5300), server = dpf_ip("100.100.100.100", 53);
	int u = aio->ops->udp_open(aio, &me, dgram_cb, &own);
	cr_assert_geq(u, 0);
	cr_assert_geq(aio->ops->udp_send(aio, u, query, sizeof(query), &server), 0);
	cr_assert(dpf_run_until(t->f, dgram_arrived, &own, 2000000), "no MagicDNS answer");
	aio->ops->close(aio, u, false);

	/* From svc:web's VIP: the answer is UDP to a non-L3 service's VIP. */
	struct io_addr va = dpf_ip(WEB_VIP, 5300);
	u = aio->ops->udp_open(aio, &va, dgram_cb, &vip);
	cr_assert_geq(u, 0);
	cr_assert_geq(aio->ops->udp_send(aio, u, query, sizeof(query), &server), 0);
	cr_assert_not(dpf_run_until(t->f, dgram_arrived, &vip, 500000),
	              "LIM-1: a MagicDNS answer reached svc:web's VIP");
	aio->ops->close(aio, u, false);
	cr_assert_geq(dpf_events_count(t->f, "\"service_non_tcp_refused\"", "svc:web"), 1);
}

Test(SVCD_SUITE, l3_1_udp_to_a_tun_service_reaches_the_host_stack, .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new();

	serve(t, HOST_A, 0, "serve --service=svc:dns --tun");
	cr_assert(udp_roundtrip(t, DNS_VIP), "L3-1: UDP to the --tun VIP got no answer");
	cr_assert_eq(dpf_events_count(t->f, "\"service_non_tcp_refused\"", NULL), 0);
	/* and off again: LIM-1 applies */
	serve(t, HOST_A, 0, "serve --service=svc:dns --tun off");
	cr_assert_not(udp_roundtrip(t, DNS_VIP), "UDP after --tun off");
}

Test(SVCD_SUITE, an_approval_revoked_by_the_netmap_stops_the_proxy_and_a_new_one_restarts_it,
     .fini = teardown, .timeout = 60)
{
	struct tw *t = tw_new();

	serve(t, HOST_A, 0, "serve --service=svc:web --tcp=5432 127.0.0.1:9000");
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	t->unapproved[HOST_A] = true;
	set_map(t, HOST_A, "\"host-a\",\"host-b\"");
	cr_assert_not(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	cr_assert_geq(dpf_events_count(t->f, "\"proxy_stopped\"", "\"reason\":\"removed\""), 1);
	t->unapproved[HOST_A] = false;
	set_map(t, HOST_A, "\"host-a\",\"host-b\"");
	cr_assert(svcd_is_listening(t->d[HOST_A], "svc:web", 5432));
	cr_assert_eq(l4_try(t, "approved-again"), 0);
}
