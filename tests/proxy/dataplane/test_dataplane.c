/* The overlay data plane over the seam, on both backends (compiled twice,
 * with dp_fixture_sim.c and dp_fixture_epoll.c; DP_SUITE names the suite).
 *
 * Three nodes: client (100.64.0.1), host-a (100.64.0.2), host-b
 * (100.64.0.3). svc:web (VIP 100.100.0.5, tcp:80) is hosted by both hosts,
 * svc:dns (VIP 100.100.0.6) by host-a only, in L3 mode: its UDP reaches a
 * socket bound on the VIP. Every node runs a data plane on port 41641 and
 * gets its netmap from JSON built here. */
#include "lib/wire/netmap.h"
#include "lib/wire/packet.h"
#include "proxy/dataplane/dataplane.h"
#include "tests/proxy/dp_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DP_SUITE
#define DP_SUITE dataplane
#endif
#define DP_STR_(x)    #x
#define DP_STR(x)     DP_STR_(x)
#define DP_SUITE_NAME DP_STR(DP_SUITE)

#define WORLD_TIMEOUT_US (10ull * 1000000)
#define CLIENT           0
#define HOST_A           1
#define HOST_B           2
#define WEB_VIP          "100.100.0.5"
#define DNS_VIP          "100.100.0.6"
#define WEB_PORT         80
#define DNS_PORT         5353

/* What the hosts accept by default: the client to svc:web (tcp) and to
 * svc:dns (udp). */
#define HOST_FILTER                                                                                \
	"[{\"src\":[\"100.64.0.1\"],\"proto\":[\"tcp\"],\"dst\":[{\"net\":\"" WEB_VIP "\","        \
	"\"ports\":\"80\"}]},{\"src\":[\"100.64.0.1\"],\"proto\":[\"udp\"],\"dst\":[{\"net\":"     \
	"\"" DNS_VIP "\",\"ports\":\"5353\"}]}]"

struct tnet {
	struct dpf *f;
	struct dataplane *dp[DPF_NODES];
	struct netmap *nm[DPF_NODES];
	uint64_t version[DPF_NODES];
	const char *host_services[DPF_NODES]; /* NULL: the default per node */
	unsigned omit[DPF_NODES];             /* nodes left out of node i's peers */
	char pcap_path[64];
};

static struct tnet *current;

/* Node i's netmap: `web_hosts` ranks svc:web's hosts (JSON array body),
 * `filter` is what node i accepts (a JSON array). */
static void set_map(struct tnet *t, int i, const char *web_hosts, const char *filter)
{
	char doc[4096], peers[1024];
	const char *host_services =
	    i == HOST_A ? "[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP
	                  "\"]},{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"]}]"
	    : i == HOST_B ? "[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\"]}]"
	                  : "[]";

	dpf_peers_json(t->f, i, t->omit[i], DATAPLANE_DEFAULT_PORT, false, peers, sizeof(peers));
	snprintf(doc, sizeof(doc),
	         "{\"version\":%llu,\"tailnet\":\"test.ts.net\","
	         "\"self\":{\"name\":\"%s\",\"addresses\":[\"100.64.0.%d\"]},"
	         "\"peers\":[%s],"
	         "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"" WEB_VIP "\"],"
	         "\"ports\":[\"tcp:80\"],\"hosts\":[%s]},"
	         "{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"],\"do_not_validate\":true,"
	         "\"hosts\":[%s]}],"
	         "\"host_services\":%s,\"filter\":%s}",
	         (unsigned long long)++t->version[i], t->f->node[i].name, i + 1, peers, web_hosts,
	         (t->omit[i] & (1u << HOST_A)) ? "" : "\"host-a\"",
	         t->host_services[i] ? t->host_services[i] : host_services, filter);

	struct netmap *nm = calloc(1, sizeof(*nm));
	char err[NETMAP_ERR_LEN];
	cr_assert_not_null(nm);
	cr_assert_eq(netmap_from_json(doc, strlen(doc), nm, err, sizeof(err)), 0, "%s in %s", err,
	             doc);
	cr_assert_eq(dataplane_set_netmap(t->dp[i], nm), 0, "node %d: TUN addresses", i);
	if (t->nm[i]) {
		netmap_free(t->nm[i]);
		free(t->nm[i]);
	}
	t->nm[i] = nm;
}

static void default_maps(struct tnet *t)
{
	set_map(t, CLIENT, "\"host-a\",\"host-b\"", "[]");
	set_map(t, HOST_A, "\"host-a\",\"host-b\"", HOST_FILTER);
	set_map(t, HOST_B, "\"host-a\",\"host-b\"", HOST_FILTER);
}

/* Starts data planes on the nodes in `mask`, the client's writing a pcap
 * when `pcap` is set. */
static struct tnet *tnet_new(unsigned mask, bool pcap)
{
	struct tnet *t = calloc(1, sizeof(*t));

	cr_assert_not_null(t);
	t->f = dpf_new_or_skip(t);
	current = t;
	if (pcap)
		snprintf(t->pcap_path, sizeof(t->pcap_path), "/tmp/test_dp_%d.pcap", (int)getpid());
	for (int i = 0; i < DPF_NODES; i++) {
		if (!(mask & (1u << i)))
			continue;
		struct dataplane_config cfg = {.listen = t->f->node[i].underlay};
		int err;
		if (pcap && i == CLIENT)
			cfg.pcap_path = t->pcap_path;
		t->dp[i] = dataplane_new(t->f->node[i].io, &cfg, &err);
		cr_assert_not_null(t->dp[i], "dataplane_new(%d): %d", i, err);
	}
	return t;
}

static void tnet_free_dataplanes(struct tnet *t)
{
	for (int i = 0; i < DPF_NODES; i++) {
		dataplane_free(t->dp[i]);
		t->dp[i] = NULL;
		if (t->nm[i]) {
			netmap_free(t->nm[i]);
			free(t->nm[i]);
			t->nm[i] = NULL;
		}
	}
}

static void teardown(void)
{
	struct tnet *t = current;

	if (!t)
		return;
	dpf_dump_events_if(t->f, "DP_DUMP_EVENTS");
	tnet_free_dataplanes(t);
	dpf_free(t->f);
	if (t->pcap_path[0])
		unlink(t->pcap_path);
	free(t);
	current = NULL;
}

static uint64_t drops(struct tnet *t, int node, enum dataplane_drop reason)
{
	struct dataplane_stats st;
	dataplane_stats(t->dp[node], &st);
	return st.drops[reason];
}

/* True when the event stream holds a line with every given fragment. */
static bool event_seen(struct tnet *t, const char *a, const char *b)
{
	char line[2048];
	bool found = false;

	fflush(t->f->events);
	rewind(t->f->events);
	while (!found && fgets(line, sizeof(line), t->f->events))
		found = strstr(line, a) && (!b || strstr(line, b));
	fseek(t->f->events, 0, SEEK_END);
	return found;
}

/* ---- a tiny TCP echo server and client over the seam ------------------- */

#define TC_BUF 4096

struct tconn {
	struct io *io;
	int h;
	bool connected, error, eof;
	char rx[TC_BUF];
	size_t rx_len;
	uint64_t rx_total;
};

struct tserver {
	struct io *io;
	int listener;
	int accepted;
	uint64_t bytes;
	struct tconn conns[8];
	struct io_addr peers[8];
	bool echo;
};

static void tconn_cb(void *ctx, int h, unsigned events)
{
	struct tconn *c = ctx;
	(void)h;

	if (events & IO_ERROR)
		c->error = true;
	if (events & IO_WRITABLE)
		c->connected = true;
	if (events & IO_READABLE) {
		for (;;) {
			char buf[TC_BUF];
			ssize_t n = c->io->ops->tcp_read(c->io, c->h, buf, sizeof(buf));
			if (n == 0)
				c->eof = true;
			if (n <= 0)
				break;
			c->rx_total += (uint64_t)n;
			size_t room = sizeof(c->rx) - 1 - c->rx_len;
			size_t take = (size_t)n < room ? (size_t)n : room;
			memcpy(c->rx + c->rx_len, buf, take);
			c->rx_len += take;
			c->rx[c->rx_len] = '\0';
		}
	}
}

/* Server side: counts bytes, echoes small messages back. */
static void tserver_conn_cb(void *ctx, int h, unsigned events)
{
	struct tconn *c = ctx;

	(void)h;
	if (events & IO_ERROR)
		c->error = true;
	if (!(events & IO_READABLE))
		return;
	for (;;) {
		char buf[TC_BUF];
		ssize_t n = c->io->ops->tcp_read(c->io, c->h, buf, sizeof(buf));
		if (n == 0)
			c->eof = true;
		if (n <= 0)
			break;
		c->rx_total += (uint64_t)n;
		if (c->connected) /* `connected` marks an echoing server conn */
			cr_assert_eq(c->io->ops->tcp_write(c->io, c->h, buf, (size_t)n), n);
	}
}

static void tserver_accept_cb(void *ctx, int h, unsigned events)
{
	struct tserver *s = ctx;
	(void)h;
	(void)events;
	for (;;) {
		struct io_addr peer;
		struct tconn *c = &s->conns[s->accepted < 8 ? s->accepted : 7];
		int ch = s->io->ops->tcp_accept(s->io, s->listener, &peer, tserver_conn_cb, c);
		if (ch < 0)
			break;
		memset(c, 0, sizeof(*c));
		c->io = s->io;
		c->h = ch;
		c->connected = s->echo;
		s->peers[s->accepted < 8 ? s->accepted : 7] = peer;
		s->accepted++;
	}
}

static void tserver_start(struct tserver *s, struct io *io, const char *vip, bool echo)
{
	struct io_addr a = dpf_ip(vip, WEB_PORT);

	memset(s, 0, sizeof(*s));
	s->io = io;
	s->echo = echo;
	s->listener = io->ops->tcp_listen(io, &a, 16, tserver_accept_cb, s);
	cr_assert_geq(s->listener, 0, "listen on %s:%d: %d", vip, WEB_PORT, s->listener);
}

/* Client, host-a and host-b with the default maps, and a web server on the
 * VIP at each host. */
static struct tnet *tnet_two_hosts(bool pcap, struct tserver *sa, struct tserver *sb)
{
	struct tnet *t = tnet_new(7, pcap);

	default_maps(t);
	tserver_start(sa, t->f->node[HOST_A].io, WEB_VIP, true);
	tserver_start(sb, t->f->node[HOST_B].io, WEB_VIP, true);
	return t;
}

static void tconn_start(struct tconn *c, struct io *io, const char *dst, uint16_t port)
{
	struct io_addr a = dpf_ip(dst, port);

	memset(c, 0, sizeof(*c));
	c->io = io;
	c->h = io->ops->tcp_connect(io, &a, NULL, tconn_cb, c);
	cr_assert_geq(c->h, 0, "connect to %s:%u: %d", dst, port, c->h);
}

struct wait_conn {
	struct tconn *c;
	struct tserver *s[2];
	int want_accepts; /* over both servers */
	size_t want_rx;
};

static bool conn_ready(void *arg)
{
	struct wait_conn *w = arg;
	int acc = 0;

	for (int i = 0; i < 2; i++)
		acc += w->s[i] ? w->s[i]->accepted : 0;
	return w->c->error || (w->c->connected && acc >= w->want_accepts);
}

static bool rx_ready(void *arg)
{
	struct wait_conn *w = arg;
	return w->c->error || w->c->rx_len >= w->want_rx;
}

static bool conn_failed(void *arg)
{
	return ((struct tconn *)arg)->error;
}

/* Sends `msg` on c and waits for its echo. */
static void echo_round(struct tnet *t, struct tconn *c, const char *msg)
{
	struct wait_conn w = {.c = c};
	size_t n = strlen(msg);

	c->rx_len = 0;
	c->rx[0] = '\0';
	w.want_rx = n;
	cr_assert_eq(c->io->ops->tcp_write(c->io, c->h, msg, n), (ssize_t)n);
	cr_assert(dpf_run_until(t->f, rx_ready, &w, WORLD_TIMEOUT_US), "no echo of \"%s\"", msg);
	cr_assert_not(c->error);
	cr_assert_str_eq(c->rx, msg);
}

static struct dataplane_tuple tuple_of(struct tconn *c)
{
	struct dataplane_tuple tp = {.proto = PACKET_PROTO_TCP};
	cr_assert_eq(c->io->ops->sock_name(c->io, c->h, false, &tp.src), 0);
	cr_assert_eq(c->io->ops->sock_name(c->io, c->h, true, &tp.dst), 0);
	return tp;
}

/* ---- STR-6 --------------------------------------------------------------- */

Test(DP_SUITE, str6_open_connection_stays_on_its_host_while_new_ones_follow_the_new_ranking,
     .fini = teardown, .timeout = 120)
{
	struct tserver sa, sb;
	struct tnet *t = tnet_two_hosts(true, &sa, &sb);
	struct tconn c1, c2;
	struct io *cio = t->f->node[CLIENT].io;

	tconn_start(&c1, cio, WEB_VIP, WEB_PORT);
	struct wait_conn w = {.c = &c1, .s = {&sa, &sb}, .want_accepts = 1};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US), "first connection");
	cr_assert_not(c1.error);
	cr_assert_eq(sa.accepted, 1, "the first ranked host takes the connection");
	cr_assert_eq(sb.accepted, 0);
	echo_round(t, &c1, "before the swap");
	struct dataplane_tuple tp = tuple_of(&c1);
	cr_assert_str_eq(dataplane_flow_host(t->dp[CLIENT], &tp), "host-a");
	cr_assert(io_addr_equal(&tp.src,
	                        &(struct io_addr){.family = IO_AF_INET, .ip = {100, 64, 0, 1}},
	                        false),
	          "the client speaks from its tailnet address");

	/* Steering changes: host-b first. */
	set_map(t, CLIENT, "\"host-b\",\"host-a\"", "[]");
	echo_round(t, &c1, "after the swap, still on host-a");
	cr_assert_str_eq(dataplane_flow_host(t->dp[CLIENT], &tp), "host-a");
	cr_assert_eq(sb.accepted, 0, "the open connection did not move");
	cr_assert_geq(sa.conns[0].rx_total, strlen("before the swap") + 10);

	tconn_start(&c2, cio, WEB_VIP, WEB_PORT);
	w = (struct wait_conn){.c = &c2, .s = {&sa, &sb}, .want_accepts = 2};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US), "second connection");
	cr_assert_not(c2.error);
	cr_assert_eq(sb.accepted, 1, "a new connection follows the new ranking");
	cr_assert_eq(sa.accepted, 1);
	echo_round(t, &c2, "new connection on host-b");
	struct dataplane_tuple tp2 = tuple_of(&c2);
	cr_assert_str_eq(dataplane_flow_host(t->dp[CLIENT], &tp2), "host-b");
	echo_round(t, &c1, "and the old one still works");

	cr_assert(event_seen(t, "\"type\":\"netmap_applied\"", "\"version\":2"));
	cr_assert(event_seen(t, "\"type\":\"flow_new\"", "\"host\":\"host-b\""));

	/* The client's tailnet pcap holds both directions and tshark reads it. */
	struct dataplane_stats st;
	dataplane_stats(t->dp[CLIENT], &st);
	cr_assert_gt(st.tun_in_packets, 0);
	cr_assert_gt(st.tun_out_packets, 0);
	uint64_t want = st.tun_in_packets + st.tun_out_packets;
	dataplane_free(t->dp[CLIENT]);
	t->dp[CLIENT] = NULL;
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(t->pcap_path, errbuf);
	cr_assert_not_null(p, "%s", errbuf);
	cr_assert_eq(pcap_datalink(p), DLT_RAW);
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t n = 0;
	while (pcap_next_ex(p, &h, &data) == 1)
		n++;
	pcap_close(p);
	cr_assert_eq(n, want, "pcap holds %llu packets, %llu crossed the device",
	             (unsigned long long)n, (unsigned long long)want);
	if (access("/usr/bin/tshark", X_OK) == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "tshark -r %s -Y tcp.port==80 2>/dev/null | grep -q .",
		         t->pcap_path);
		cr_assert_eq(system(cmd), 0, "tshark cannot read %s", t->pcap_path);
	}
}

/* What a draining host's settle reads (svcd.h): when the last new inbound
 * flow to a hosted service began; traffic on a flow already open does not
 * move it. */
Test(DP_SUITE, the_last_new_inbound_flow_of_each_hosted_service_is_remembered, .fini = teardown,
     .timeout = 120)
{
	struct tnet *t = tnet_new(7, false);
	struct tserver sa, sb;
	struct tconn c1, c2;
	struct io *cio = t->f->node[CLIENT].io, *hio = t->f->node[HOST_A].io;

	default_maps(t);
	tserver_start(&sa, hio, WEB_VIP, true);
	tserver_start(&sb, t->f->node[HOST_B].io, WEB_VIP, true);
	cr_assert_eq(dataplane_last_inbound_flow_us(t->dp[HOST_A], "svc:web"), 0);

	tconn_start(&c1, cio, WEB_VIP, WEB_PORT);
	struct wait_conn w = {.c = &c1, .s = {&sa, &sb}, .want_accepts = 1};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	uint64_t first = dataplane_last_inbound_flow_us(t->dp[HOST_A], "svc:web");
	cr_assert_gt(first, 0);
	cr_assert_leq(first, hio->ops->now_us(hio));
	cr_assert_eq(dataplane_last_inbound_flow_us(t->dp[HOST_A], "svc:other"), 0);
	cr_assert_eq(dataplane_last_inbound_flow_us(t->dp[HOST_B], "svc:web"), 0, "not host-b's");

	echo_round(t, &c1, "on the open flow");
	cr_assert_eq(dataplane_last_inbound_flow_us(t->dp[HOST_A], "svc:web"), first);

	tconn_start(&c2, cio, WEB_VIP, WEB_PORT);
	w = (struct wait_conn){.c = &c2, .s = {&sa, &sb}, .want_accepts = 2};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	cr_assert_gt(dataplane_last_inbound_flow_us(t->dp[HOST_A], "svc:web"), first);
}

/* Local failover's hook: a host marked dead takes no new flows. */
Test(DP_SUITE, str4_new_connections_skip_a_host_marked_dead, .fini = teardown, .timeout = 120)
{
	struct tserver sa, sb;
	struct tnet *t = tnet_two_hosts(false, &sa, &sb);
	struct tconn c1;

	cr_assert_eq(dataplane_mark_peer_dead(t->dp[CLIENT], "host-a"), 0);
	cr_assert_eq(dataplane_mark_peer_dead(t->dp[CLIENT], "nobody"), -ENOENT);
	tconn_start(&c1, t->f->node[CLIENT].io, WEB_VIP, WEB_PORT);
	struct wait_conn w = {.c = &c1, .s = {&sa, &sb}, .want_accepts = 1};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	cr_assert_eq(sb.accepted, 1);
	cr_assert_eq(sa.accepted, 0);
	/* The mark survives a new netmap (by name). */
	set_map(t, CLIENT, "\"host-a\",\"host-b\"", "[]");
	struct tconn c2;
	tconn_start(&c2, t->f->node[CLIENT].io, WEB_VIP, WEB_PORT);
	w = (struct wait_conn){.c = &c2, .s = {&sa, &sb}, .want_accepts = 2};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	cr_assert_eq(sb.accepted, 2);
	cr_assert_eq(dataplane_mark_peer_alive(t->dp[CLIENT], "host-a"), 0);
	struct tconn c3;
	tconn_start(&c3, t->f->node[CLIENT].io, WEB_VIP, WEB_PORT);
	w = (struct wait_conn){.c = &c3, .s = {&sa, &sb}, .want_accepts = 3};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	cr_assert_eq(sa.accepted, 1);
}

/* ---- LIM-2 --------------------------------------------------------------- */

struct dgram_sink {
	int count;
	char data[256];
	size_t len;
	struct io_addr src;
	struct io *io; /* set: echo back */
};

static void dgram_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                     const struct io_addr *src)
{
	struct dgram_sink *s = ctx;

	s->count++;
	s->len = len < sizeof(s->data) ? len : sizeof(s->data);
	memcpy(s->data, data, s->len);
	s->src = *src;
	if (s->io)
		cr_assert_geq(s->io->ops->udp_send(s->io, handle, data, len, src), 0);
}

static bool dgram_arrived(void *arg)
{
	return ((struct dgram_sink *)arg)->count > 0;
}

Test(DP_SUITE, lim2_a_host_never_opens_a_connection_or_sends_a_datagram_from_a_vip,
     .fini = teardown, .timeout = 120)
{
	struct tnet *t = tnet_new(7, false);
	struct io *cio = t->f->node[CLIENT].io, *aio = t->f->node[HOST_A].io;
	struct tserver sc;
	struct dgram_sink udp_in = {0};

	/* The client accepts anything from host-a on 9000-9001: whatever is
	 * refused below is refused by host-a's data plane (LIM-2). */
	set_map(t, CLIENT, "\"host-a\"",
	        "[{\"src\":[\"*\"],\"dst\":[{\"net\":\"100.64.0.1\",\"ports\":\"9000-9001\"}]}]");
	set_map(t, HOST_A, "\"host-a\"", HOST_FILTER);
	set_map(t, HOST_B, "\"host-a\"", HOST_FILTER);
	memset(&sc, 0, sizeof(sc));
	sc.io = cio;
	struct io_addr l = dpf_ip("100.64.0.1", 9000);
	sc.listener = cio->ops->tcp_listen(cio, &l, 16, tserver_accept_cb, &sc);
	cr_assert_geq(sc.listener, 0);
	l.port = 9001;
	int cu = cio->ops->udp_open(cio, &l, dgram_cb, &udp_in);
	cr_assert_geq(cu, 0);

	/* From its own address host-a may connect: the path works. */
	struct tconn ok;
	tconn_start(&ok, aio, "100.64.0.1", 9000);
	struct wait_conn w = {.c = &ok, .s = {&sc}, .want_accepts = 1};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	cr_assert_not(ok.error);

	/* From the VIP it may not. (ns-3's TCP replaces a bound source
	 * address with the route's on connect, so in the sim the stack itself
	 * never sends such a SYN; on Linux it does and the data plane drops it.) */
	struct tconn bad = {.io = aio};
	struct io_addr vip = dpf_ip(WEB_VIP, 0), dst = dpf_ip("100.64.0.1", 9000), local;
	bad.h = aio->ops->tcp_connect(aio, &dst, &vip, tconn_cb, &bad);
	cr_assert_geq(bad.h, 0);
	/* 2.5 s: between SYN retries (0, 1, 3 s), so the drop count read
	 * below is stable */
	dpf_run_for(t->f, 2500000);
	for (int i = 0; i < sc.accepted && i < 8; i++)
		cr_assert_not(io_addr_equal(&sc.peers[i], &vip, false),
		              "a connection from the VIP reached the client");
	cr_assert_eq(aio->ops->sock_name(aio, bad.h, false, &local), 0);
	if (io_addr_equal(&local, &vip, false)) {
		cr_assert_eq(sc.accepted, 1);
		cr_assert_not(bad.connected);
		cr_assert_geq(drops(t, HOST_A, DATAPLANE_DROP_VIP_OUTBOUND), 1);
	}
	aio->ops->close(aio, bad.h, true); /* no more SYN retries */

	/* Nor a datagram from the VIP. */
	int au = aio->ops->udp_open(aio, &vip, dgram_cb, &udp_in);
	cr_assert_geq(au, 0);
	dst.port = 9001;
	uint64_t before = drops(t, HOST_A, DATAPLANE_DROP_VIP_OUTBOUND);
	cr_assert_geq(aio->ops->udp_send(aio, au, "x", 1, &dst), 0);
	dpf_run_until(t->f, dgram_arrived, &udp_in, 1000000);
	cr_assert_eq(udp_in.count, 0, "a datagram from the VIP reached the client");
	cr_assert_eq(drops(t, HOST_A, DATAPLANE_DROP_VIP_OUTBOUND), before + 1);
	cr_assert(event_seen(t, "\"type\":\"vip_outbound_refused\"", "\"node\":\"host-a\""));
	aio->ops->close(aio, au, false);
	cio->ops->close(cio, cu, false);
}

/* ---- ACL-4 --------------------------------------------------------------- */

#define FILTER_NOBODY                                                                              \
	"[{\"src\":[\"100.64.0.99\"],\"proto\":[\"tcp\"],\"dst\":[{\"net\":\"" WEB_VIP "\","       \
	"\"ports\":\"80\"}]}]"

Test(DP_SUITE, acl4_the_host_refuses_a_client_its_filter_does_not_allow_even_with_a_stale_map,
     .fini = teardown, .timeout = 120)
{
	struct tnet *t = tnet_new(7, false);
	struct tserver sa;
	struct tconn c1, c2, c3;
	struct io *cio = t->f->node[CLIENT].io;

	/* The client's map still routes svc:web to host-a; host-a's filter
	 * no longer lets the client in. */
	set_map(t, CLIENT, "\"host-a\"", "[]");
	set_map(t, HOST_A, "\"host-a\"", FILTER_NOBODY);
	set_map(t, HOST_B, "\"host-a\"", HOST_FILTER);
	tserver_start(&sa, t->f->node[HOST_A].io, WEB_VIP, true);

	tconn_start(&c1, cio, WEB_VIP, WEB_PORT);
	dpf_run_for(t->f, 2500000);
	cr_assert_eq(sa.accepted, 0, "the filter let a refused client in");
	cr_assert_not(c1.connected);
	cr_assert_geq(drops(t, HOST_A, DATAPLANE_DROP_FILTER), 1);
	cr_assert(event_seen(t, "\"type\":\"filter_refused\"", "\"dst\":\"100.100.0.5:80\""));
	cio->ops->close(cio, c1.h, true);

	/* A policy change applies to new connections... */
	set_map(t, HOST_A, "\"host-a\"", HOST_FILTER);
	tconn_start(&c2, cio, WEB_VIP, WEB_PORT);
	struct wait_conn w = {.c = &c2, .s = {&sa}, .want_accepts = 1};
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US));
	cr_assert_not(c2.error);
	echo_round(t, &c2, "allowed now");

	/* ...and only to new ones: revoking keeps the open one going. */
	set_map(t, HOST_A, "\"host-a\"", FILTER_NOBODY);
	echo_round(t, &c2, "still open after the revocation");
	tconn_start(&c3, cio, WEB_VIP, WEB_PORT);
	dpf_run_for(t->f, 2500000);
	cr_assert_eq(sa.accepted, 1);
	cr_assert_not(c3.connected);
	cio->ops->close(cio, c3.h, true);
}

/* ---- forged sources and garbage on the overlay port ------------------------ */

static uint16_t csum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A data datagram carrying an IPv4/UDP packet src -> dst with `payload`. */
static size_t craft(uint8_t *b, const char *src, uint16_t sport, const char *dst, uint16_t dport,
                    const char *payload)
{
	size_t pl = strlen(payload), n = 20 + 8 + pl;
	struct io_addr s = dpf_ip(src, 0), d = dpf_ip(dst, 0);
	uint8_t *p = b + DATAPLANE_HDR_LEN;

	b[0] = DATAPLANE_MAGIC, b[1] = DATAPLANE_VERSION, b[2] = DATAPLANE_MSG_DATA, b[3] = 0;
	memset(p, 0, n);
	p[0] = 0x45;
	p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
	p[8] = 64;
	p[9] = 17;
	memcpy(p + 12, s.ip, 4);
	memcpy(p + 16, d.ip, 4);
	uint16_t c = csum16(p, 20);
	p[10] = (uint8_t)(c >> 8), p[11] = (uint8_t)c;
	p[20] = (uint8_t)(sport >> 8), p[21] = (uint8_t)sport;
	p[22] = (uint8_t)(dport >> 8), p[23] = (uint8_t)dport;
	p[24] = (uint8_t)((8 + pl) >> 8), p[25] = (uint8_t)(8 + pl);
	memcpy(p + 28, payload, pl); /* UDP checksum 0: none (IPv4) */
	return DATAPLANE_HDR_LEN + n;
}

Test(DP_SUITE, acl4_a_datagram_forged_with_another_peers_source_is_dropped, .fini = teardown,
     .timeout = 120)
{
	/* host-b runs no data plane: the test speaks from its endpoint. */
	struct tnet *t = tnet_new((1u << CLIENT) | (1u << HOST_A), false);
	struct io *aio = t->f->node[HOST_A].io, *bio = t->f->node[HOST_B].io;
	struct dgram_sink sink = {0};
	uint8_t b[256];

	set_map(t, CLIENT, "\"host-a\"", "[]");
	set_map(
	    t, HOST_A, "\"host-a\"",
	    "[{\"src\":[\"*\"],\"proto\":[\"udp\"],\"dst\":[{\"net\":\"*\",\"ports\":\"*\"}]}]");
	struct io_addr l = dpf_ip("100.64.0.2", 7000);
	int au = aio->ops->udp_open(aio, &l, dgram_cb, &sink);
	cr_assert_geq(au, 0);
	struct io_addr bep = t->f->node[HOST_B].underlay, aep = t->f->node[HOST_A].underlay;
	bep.port = aep.port = DATAPLANE_DEFAULT_PORT;
	int bu = bio->ops->udp_open(bio, &bep, dgram_cb, &sink);
	cr_assert_geq(bu, 0);

	/* host-b claims to be the client, then to be svc:web's VIP. */
	size_t n = craft(b, "100.64.0.1", 1234, "100.64.0.2", 7000, "forged");
	cr_assert_geq(bio->ops->udp_send(bio, bu, b, n, &aep), 0);
	n = craft(b, WEB_VIP, 80, "100.64.0.2", 7000, "forged vip");
	cr_assert_geq(bio->ops->udp_send(bio, bu, b, n, &aep), 0);
	dpf_run_until(t->f, dgram_arrived, &sink, 500000);
	cr_assert_eq(sink.count, 0, "a forged datagram was delivered: %.*s", (int)sink.len,
	             sink.data);
	cr_assert_eq(drops(t, HOST_A, DATAPLANE_DROP_FORGED_SOURCE), 2);
	cr_assert(event_seen(t, "\"type\":\"forged_source\"", "\"src\":\"100.64.0.1:1234\""));

	/* The same datagram with host-b's own source gets through. */
	n = craft(b, "100.64.0.3", 1234, "100.64.0.2", 7000, "honest");
	cr_assert_geq(bio->ops->udp_send(bio, bu, b, n, &aep), 0);
	cr_assert(dpf_run_until(t->f, dgram_arrived, &sink, WORLD_TIMEOUT_US));
	cr_assert_eq(sink.len, 6);
	cr_assert_eq(memcmp(sink.data, "honest", 6), 0);
	struct io_addr want = dpf_ip("100.64.0.3", 1234);
	cr_assert(io_addr_equal(&sink.src, &want, true));

	/* From an endpoint no peer has: dropped. */
	struct io_addr other = t->f->node[HOST_B].underlay;
	other.port = 41999;
	int ou = bio->ops->udp_open(bio, &other, dgram_cb, &sink);
	cr_assert_geq(ou, 0);
	sink.count = 0;
	n = craft(b, "100.64.0.3", 1234, "100.64.0.2", 7000, "stranger");
	cr_assert_geq(bio->ops->udp_send(bio, ou, b, n, &aep), 0);
	dpf_run_until(t->f, dgram_arrived, &sink, 500000);
	cr_assert_eq(sink.count, 0);
	cr_assert_eq(drops(t, HOST_A, DATAPLANE_DROP_UNKNOWN_PEER), 1);
	aio->ops->close(aio, au, false);
	bio->ops->close(bio, bu, false);
	bio->ops->close(bio, ou, false);
}

/* ---- L3-1 ---------------------------------------------------------------- */

Test(DP_SUITE, l3_1_udp_to_a_vip_reaches_a_socket_bound_on_the_host_and_the_answer_returns,
     .fini = teardown, .timeout = 120)
{
	struct tnet *t = tnet_new(7, false);
	struct io *cio = t->f->node[CLIENT].io, *aio = t->f->node[HOST_A].io;
	struct dgram_sink server = {.io = aio}, client = {0};

	default_maps(t);
	struct io_addr vip = dpf_ip(DNS_VIP, DNS_PORT), cl = dpf_ip("100.64.0.1", 0);
	int su = aio->ops->udp_open(aio, &vip, dgram_cb, &server);
	cr_assert_geq(su, 0, "bind on the VIP: %d", su);
	int cu = cio->ops->udp_open(cio, &cl, dgram_cb, &client);
	cr_assert_geq(cu, 0);
	cr_assert_geq(cio->ops->udp_send(cio, cu, "query?", 6, &vip), 0);
	cr_assert(dpf_run_until(t->f, dgram_arrived, &client, WORLD_TIMEOUT_US),
	          "no answer (server saw %d)", server.count);
	cr_assert_eq(server.count, 1);
	cr_assert_eq(server.src.family, IO_AF_INET);
	cr_assert_eq(io_addr_v4_host(&server.src), 0x64400001u,
	             "the host sees the client's address");
	cr_assert_eq(client.len, 6);
	cr_assert_eq(memcmp(client.data, "query?", 6), 0, "the packet arrived unmodified");
	cr_assert(io_addr_equal(&client.src, &vip, true), "the answer comes from the VIP");

	struct dataplane_tuple tp = {.proto = PACKET_PROTO_UDP, .src = server.src, .dst = vip};
	cr_assert_str_eq(dataplane_flow_host(t->dp[HOST_A], &tp), "client");
	cr_assert_str_eq(dataplane_flow_host(t->dp[CLIENT], &tp), "host-a");
	aio->ops->close(aio, su, false);
	cio->ops->close(cio, cu, false);
}

/* A program bound to 0.0.0.0 answers from the host's own address (nothing
 * tells it where the datagram went); the data plane sends the answer from
 * the VIP the client asked, which the client's flow and filter expect. */
Test(DP_SUITE, l3_1_an_answer_from_a_wildcard_socket_leaves_from_the_vip, .fini = teardown,
     .timeout = 120)
{
	struct tnet *t = tnet_new(7, false);
	struct io *cio = t->f->node[CLIENT].io, *aio = t->f->node[HOST_A].io;
	struct dgram_sink server = {.io = aio}, client = {0};

	default_maps(t);
	struct io_addr any = dpf_ip("0.0.0.0", DNS_PORT), vip = dpf_ip(DNS_VIP, DNS_PORT),
	               cl = dpf_ip("100.64.0.1", 0);
	int su = aio->ops->udp_open(aio, &any, dgram_cb, &server);
	cr_assert_geq(su, 0, "bind on 0.0.0.0: %d", su);
	int cu = cio->ops->udp_open(cio, &cl, dgram_cb, &client);
	cr_assert_geq(cu, 0);
	cr_assert_geq(cio->ops->udp_send(cio, cu, "query?", 6, &vip), 0);
	cr_assert(dpf_run_until(t->f, dgram_arrived, &client, WORLD_TIMEOUT_US),
	          "no answer (server saw %d, client refused %llu)", server.count,
	          (unsigned long long)drops(t, CLIENT, DATAPLANE_DROP_FILTER));
	cr_assert_eq(client.len, 6);
	cr_assert_eq(memcmp(client.data, "query?", 6), 0, "checksums fixed, payload intact");
	cr_assert(io_addr_equal(&client.src, &vip, true), "the answer comes from the VIP");
	cr_assert_eq(drops(t, CLIENT, DATAPLANE_DROP_FILTER), 0);
	aio->ops->close(aio, su, false);
	cio->ops->close(cio, cu, false);
}

/* ---- garbage does not disturb a transfer --------------------------------- */

#define BULK_BYTES (256 * 1024)

struct bulk {
	struct tnet *t;
	struct tconn c;
	struct tserver *s;
	uint64_t sent;
	int garbage_sent;
	int garbage_sock;
	struct io_addr target;
};

static void bulk_pump(struct bulk *b)
{
	static const char chunk[1024] = {[0 ... 1023] = 'z'};

	while (b->c.connected && b->sent < BULK_BYTES) {
		size_t n =
		    BULK_BYTES - b->sent < sizeof(chunk) ? BULK_BYTES - b->sent : sizeof(chunk);
		ssize_t w = b->c.io->ops->tcp_write(b->c.io, b->c.h, chunk, n);
		if (w <= 0)
			break;
		b->sent += (uint64_t)w;
	}
}

static void bulk_cb(void *ctx, int h, unsigned events)
{
	struct bulk *b = ctx;

	tconn_cb(&b->c, h, events);
	if (events & IO_WRITABLE)
		bulk_pump(b);
}

/* Called between steps: one piece of garbage each time, of every kind. */
static bool bulk_done(void *arg)
{
	struct bulk *b = arg;
	struct io *bio = b->t->f->node[HOST_B].io;
	uint8_t g[DATAPLANE_HDR_LEN + 1600];
	size_t n;

	if (b->garbage_sent < 400) {
		memset(g, 0xa5, sizeof(g));
		switch (b->garbage_sent % 6) {
		case 0: /* too short for a header */
			n = 2;
			break;
		case 1: /* wrong magic */
			n = 64;
			break;
		case 2: /* a message type nobody speaks */
			n = craft(g, "100.64.0.3", 1, "100.64.0.2", 2, "p");
			g[2] = 9;
			break;
		case 3: /* inner packet above the MTU */
			n = sizeof(g);
			g[0] = DATAPLANE_MAGIC, g[1] = DATAPLANE_VERSION, g[2] = DATAPLANE_MSG_DATA;
			break;
		case 4: /* truncated IP packet */
			n = craft(g, "100.64.0.3", 1, "100.64.0.2", 2, "truncated") - 5;
			break;
		default: /* a packet claiming to be the client, from host-b */
			n = craft(g, "100.64.0.1", 1, WEB_VIP, 80, "hijack");
			break;
		}
		bio->ops->udp_send(bio, b->garbage_sock, g, n, &b->target);
		b->garbage_sent++;
	}
	return b->c.error || (b->s->conns[0].rx_total >= BULK_BYTES && b->garbage_sent >= 60);
}

Test(DP_SUITE, malformed_and_oversized_datagrams_are_dropped_without_disturbing_a_transfer,
     .fini = teardown, .timeout = 120)
{
	struct tnet *t = tnet_new((1u << CLIENT) | (1u << HOST_A), false);
	struct tserver sa;
	struct bulk b = {.t = t};
	struct io *cio = t->f->node[CLIENT].io, *bio = t->f->node[HOST_B].io;

	set_map(t, CLIENT, "\"host-a\"", "[]");
	set_map(t, HOST_A, "\"host-a\"", HOST_FILTER);
	tserver_start(&sa, t->f->node[HOST_A].io, WEB_VIP, false);
	b.s = &sa;
	struct io_addr bep = t->f->node[HOST_B].underlay;
	bep.port = DATAPLANE_DEFAULT_PORT;
	b.garbage_sock = bio->ops->udp_open(bio, &bep, dgram_cb, &(struct dgram_sink){0});
	cr_assert_geq(b.garbage_sock, 0);
	b.target = t->f->node[HOST_A].underlay;
	b.target.port = DATAPLANE_DEFAULT_PORT;

	struct io_addr vip = dpf_ip(WEB_VIP, WEB_PORT);
	b.c.io = cio;
	b.c.h = cio->ops->tcp_connect(cio, &vip, NULL, bulk_cb, &b);
	cr_assert_geq(b.c.h, 0);
	cr_assert(dpf_run_until(t->f, bulk_done, &b, 30ull * 1000000),
	          "transfer stalled: sent %llu, received %llu, garbage %d",
	          (unsigned long long)b.sent, (unsigned long long)sa.conns[0].rx_total,
	          b.garbage_sent);
	cr_assert_not(b.c.error);
	cr_assert_eq(sa.accepted, 1);
	cr_assert_eq(sa.conns[0].rx_total, BULK_BYTES);
	cr_assert_not(sa.conns[0].error);
	cr_assert_gt(drops(t, HOST_A, DATAPLANE_DROP_BAD_HEADER), 0);
	cr_assert_gt(drops(t, HOST_A, DATAPLANE_DROP_UNSUPPORTED_TYPE), 0);
	cr_assert_gt(drops(t, HOST_A, DATAPLANE_DROP_OVERSIZED), 0);
	cr_assert_gt(drops(t, HOST_A, DATAPLANE_DROP_MALFORMED), 0);
	cr_assert_gt(drops(t, HOST_A, DATAPLANE_DROP_FORGED_SOURCE), 0);
	/* Drop events are rate-limited: far fewer events than drops. */
	struct dataplane_stats st;
	dataplane_stats(t->dp[HOST_A], &st);
	cr_assert_geq(st.drops[DATAPLANE_DROP_BAD_HEADER], 20);
	bio->ops->close(bio, b.garbage_sock, false);
}

/* The data plane puts the node's addresses and hosted VIPs on the device,
 * changes only the differences, and takes them off when freed. */
Test(DP_SUITE, tun_addresses_follow_the_netmap, .fini = teardown, .timeout = 60)
{
	struct tnet *t = tnet_new(7, false);
	struct dataplane_stats st;

	default_maps(t);
	dataplane_stats(t->dp[HOST_A], &st);
	cr_assert_eq(st.tun_addrs, 3, "own address and two VIPs");
	dataplane_stats(t->dp[CLIENT], &st);
	cr_assert_eq(st.tun_addrs, 1);
	/* host-b stops hosting: only its own address stays. */
	dataplane_stats(t->dp[HOST_B], &st);
	cr_assert_eq(st.tun_addrs, 2);
	t->host_services[HOST_B] = "[]";
	set_map(t, HOST_B, "\"host-a\"", HOST_FILTER);
	dataplane_stats(t->dp[HOST_B], &st);
	cr_assert_eq(st.tun_addrs, 1);
	/* host-a's VIP moves to host-b: one VIP added there. */
	t->host_services[HOST_B] = "[{\"name\":\"svc:dns\",\"addresses\":[\"" DNS_VIP "\"]}]";
	set_map(t, HOST_B, "\"host-a\"", HOST_FILTER);
	dataplane_stats(t->dp[HOST_B], &st);
	cr_assert_eq(st.tun_addrs, 2);
	cr_assert_not(event_seen(t, "\"type\":\"tun_addr_failed\"", NULL));
}

/* ---- local failover: STR-4, STR-5, STR-6 ------------------------------------ */

static bool host_a_alive(void *arg)
{
	struct tnet *t = arg;
	return !dataplane_peer_is_dead(t->dp[CLIENT], "host-a");
}

/* Connects c to svc:web and waits until it is up and one more connection
 * was accepted over sa/sb; returns the seam time that took. */
static uint64_t connect_vip(struct tnet *t, struct tconn *c, struct tserver *sa, struct tserver *sb)
{
	struct io *cio = t->f->node[CLIENT].io;
	struct wait_conn w = {.c = c, .s = {sa, sb}};
	uint64_t t0 = cio->ops->now_us(cio);

	w.want_accepts = (sa ? sa->accepted : 0) + (sb ? sb->accepted : 0) + 1;
	tconn_start(c, cio, WEB_VIP, WEB_PORT);
	cr_assert(dpf_run_until(t->f, conn_ready, &w, WORLD_TIMEOUT_US),
	          "connection to the VIP: connected %d, accepted %d+%d", c->connected,
	          sa ? sa->accepted : -1, sb ? sb->accepted : -1);
	cr_assert_not(c->error);
	return cio->ops->now_us(cio) - t0;
}

Test(DP_SUITE, str4_a_dead_host_is_found_locally_and_new_connections_fail_over_within_1_s,
     .fini = teardown, .timeout = 120)
{
	struct tnet *t = tnet_new(7, false);
	struct tserver sa, sb;
	struct tconn cb, ca, c2, c3;
	struct io *aio = t->f->node[HOST_A].io, *cio = t->f->node[CLIENT].io;

	default_maps(t);
	tserver_start(&sa, aio, WEB_VIP, true);
	tserver_start(&sb, t->f->node[HOST_B].io, WEB_VIP, true);
	/* An established connection on host-b (ranked first for a moment)... */
	set_map(t, CLIENT, "\"host-b\",\"host-a\"", "[]");
	connect_vip(t, &cb, &sa, &sb);
	cr_assert_eq(sb.accepted, 1);
	echo_round(t, &cb, "on host-b");
	/* ...and one on host-a, first again. */
	set_map(t, CLIENT, "\"host-a\",\"host-b\"", "[]");
	connect_vip(t, &ca, &sa, &sb);
	cr_assert_eq(sa.accepted, 1);
	echo_round(t, &ca, "on host-a");

	/* host-a goes silent on the underlay: its data plane stops (its
	 * server keeps listening: the VIP is back when the data plane is). */
	dataplane_free(t->dp[HOST_A]);
	t->dp[HOST_A] = NULL;
	uint64_t took_us = connect_vip(t, &c2, &sa, &sb);
	fprintf(stderr,
	        "%s: failover: host-a's death to a completed connect via host-b: %llu.%03llu ms\n",
	        DP_SUITE_NAME, (unsigned long long)(took_us / 1000),
	        (unsigned long long)(took_us % 1000));
	cr_assert_eq(sb.accepted, 2, "the new connection went to host-b");
	struct dataplane_tuple tp = tuple_of(&c2);
	cr_assert_str_eq(dataplane_flow_host(t->dp[CLIENT], &tp), "host-b");
#ifdef DP_SIM
	cr_assert_lt(took_us, 1000000, "failover took %llu us", (unsigned long long)took_us);
#endif
	cr_assert(dataplane_peer_is_dead(t->dp[CLIENT], "host-a"));
	cr_assert(event_seen(t, "\"type\":\"peer_dead\"", "\"peer\":\"host-a\""));
	cr_assert(event_seen(t, "\"type\":\"flow_resteered\"", "\"to\":\"host-b\""));
	struct dataplane_stats st;
	dataplane_stats(t->dp[CLIENT], &st);
	cr_assert_geq(st.pings_sent, DATAPLANE_PROBE_COUNT);
	cr_assert_eq(st.peers_marked_dead, 1);
	cr_assert_geq(st.flows_resteered, 1);
	echo_round(t, &c2, "new connection on host-b");
	/* STR-6: the connection open on host-b went on undisturbed. */
	echo_round(t, &cb, "host-b's old connection is fine");
	struct dataplane_tuple tpb = tuple_of(&cb);
	cr_assert_str_eq(dataplane_flow_host(t->dp[CLIENT], &tpb), "host-b");
	/* STR-7: the established connection to host-a was not moved but
	 * ended (once host-a stayed silent up to the next dead PING): the
	 * client's stack took the RST the data plane wrote. */
	dpf_run_until(t->f, conn_failed, &ca, 2 * DATAPLANE_DEAD_PROBE_US);
	cr_assert(ca.error, "the connection to the dead host was reset");
	char byte;
	cr_assert_eq(cio->ops->tcp_read(cio, ca.h, &byte, 1), -ECONNRESET);
	cr_assert(event_seen(t, "\"type\":\"flows_reset\"", "\"peer\":\"host-a\""));

	/* STR-5: host-a comes back; the client sees it and new flows return. */
	struct dataplane_config cfg = {.listen = t->f->node[HOST_A].underlay};
	int err;
	t->dp[HOST_A] = dataplane_new(aio, &cfg, &err);
	cr_assert_not_null(t->dp[HOST_A], "%d", err);
	set_map(t, HOST_A, "\"host-a\",\"host-b\"", HOST_FILTER);
	dpf_node_restart_tun(t->f, HOST_A);
	cr_assert(dpf_run_until(t->f, host_a_alive, t, 3 * DATAPLANE_DEAD_PROBE_US),
	          "host-a not seen alive again");
	cr_assert(event_seen(t, "\"type\":\"peer_alive\"", "\"peer\":\"host-a\""));
	connect_vip(t, &c3, &sa, &sb);
	cr_assert_eq(sa.accepted, 2, "new connections return to host-a");
	cr_assert_eq(sb.accepted, 2);
	echo_round(t, &c3, "back on host-a");
	echo_round(t, &cb, "and host-b's connection still works");
}

/* ---- STR-7 ----------------------------------------------------------------- */

/* Whether the client's tailnet pcap holds a RST from the VIP's port to
 * `local_port` (IPv4). */
static bool pcap_has_rst(const char *path, uint16_t local_port)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, errbuf);
	struct pcap_pkthdr *h;
	const u_char *d;
	bool found = false;

	cr_assert_not_null(p, "%s", errbuf);
	while (!found && pcap_next_ex(p, &h, &d) == 1) {
		size_t ihl = (size_t)(d[0] & 0x0f) * 4;
		if (h->caplen < ihl + 20 || d[0] >> 4 != 4 || d[9] != PACKET_PROTO_TCP)
			continue;
		const u_char *tcp = d + ihl;
		found = (tcp[0] << 8 | tcp[1]) == WEB_PORT &&
		        (tcp[2] << 8 | tcp[3]) == local_port && (tcp[13] & PACKET_TCP_RST);
	}
	pcap_close(p);
	return found;
}

/* Control's map drops host-a, which died: the client's idle kept-alive
 * connection to it is reset at once by its own data plane (the stack takes
 * the RST: a read says ECONNRESET), instead of hanging until the
 * application's timeout; the connection on host-b goes on. */
Test(DP_SUITE, str7_an_idle_connection_to_a_host_gone_from_the_map_is_reset_at_the_client,
     .fini = teardown, .timeout = 120)
{
	struct tserver sa, sb;
	struct tnet *t = tnet_two_hosts(true, &sa, &sb);
	struct tconn cb, ca;
	struct io *cio = t->f->node[CLIENT].io;

	set_map(t, CLIENT, "\"host-b\",\"host-a\"", "[]");
	connect_vip(t, &cb, &sa, &sb);
	set_map(t, CLIENT, "\"host-a\",\"host-b\"", "[]");
	connect_vip(t, &ca, &sa, &sb);
	cr_assert_eq(sa.accepted, 1);
	cr_assert_eq(sb.accepted, 1);
	echo_round(t, &ca, "a request on host-a, then idle");
	echo_round(t, &cb, "a request on host-b");
	struct dataplane_tuple tpa = tuple_of(&ca);

	/* host-a dies; control's next map no longer lists it. */
	dataplane_free(t->dp[HOST_A]);
	t->dp[HOST_A] = NULL;
	t->omit[CLIENT] = 1u << HOST_A;
	set_map(t, CLIENT, "\"host-b\"", "[]");
	uint64_t t0 = cio->ops->now_us(cio);
	cr_assert(dpf_run_until(t->f, conn_failed, &ca, 5 * 1000000), "no reset within 5 s");
	uint64_t took_us = cio->ops->now_us(cio) - t0;
	fprintf(stderr,
	        "%s: STR-7: map without host-a to the idle connection's reset: %llu.%03llu ms\n",
	        DP_SUITE_NAME, (unsigned long long)(took_us / 1000),
	        (unsigned long long)(took_us % 1000));
	cr_assert_lt(took_us, 1000000, "took %llu us", (unsigned long long)took_us);
	char byte;
	cr_assert_eq(cio->ops->tcp_read(cio, ca.h, &byte, 1), -ECONNRESET,
	             "the client's stack took the RST");
	cr_assert(event_seen(t, "\"type\":\"host_left\"", "\"peer\":\"host-a\""));
	cr_assert(event_seen(t, "\"type\":\"flows_reset\"", "\"reason\":\"left_map\""));
	cr_assert_null(dataplane_flow_host(t->dp[CLIENT], &tpa));
	echo_round(t, &cb, "host-b's connection goes on");
	cr_assert_not(cb.error);
	dataplane_free(t->dp[CLIENT]);
	t->dp[CLIENT] = NULL;
	cr_assert(pcap_has_rst(t->pcap_path, tpa.src.port), "the RST crossed the client's TUN");
}

/* A PING from a stranger gets no answer; a PONG with a nonce the client
 * never sent does not revive a dead host. */
Test(DP_SUITE, a_ping_from_an_unknown_endpoint_is_dropped_and_a_wrong_pong_ignored,
     .fini = teardown, .timeout = 120)
{
	struct tnet *t = tnet_new((1u << CLIENT) | (1u << HOST_B), false);
	struct io *aio = t->f->node[HOST_A].io;
	struct dgram_sink sink = {0};
	struct tserver sb;
	struct tconn c;
	uint8_t g[DATAPLANE_PROBE_LEN] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_PING};

	set_map(t, CLIENT, "\"host-a\",\"host-b\"", "[]");
	set_map(t, HOST_B, "\"host-a\",\"host-b\"", HOST_FILTER);
	tserver_start(&sb, t->f->node[HOST_B].io, WEB_VIP, true);
	struct io_addr cep = t->f->node[CLIENT].underlay;
	cep.port = DATAPLANE_DEFAULT_PORT;
	/* host-a runs no data plane; a socket on another port of it pings. */
	struct io_addr other = t->f->node[HOST_A].underlay;
	other.port = 41999;
	int ou = aio->ops->udp_open(aio, &other, dgram_cb, &sink);
	cr_assert_geq(ou, 0);
	cr_assert_geq(aio->ops->udp_send(aio, ou, g, sizeof(g), &cep), 0);
	dpf_run_until(t->f, dgram_arrived, &sink, 500000);
	cr_assert_eq(sink.count, 0, "a stranger got a pong");
	cr_assert_eq(drops(t, CLIENT, DATAPLANE_DROP_UNKNOWN_PEER), 1);

	/* host-a is silent: a connect fails over to host-b. */
	connect_vip(t, &c, NULL, &sb);
	cr_assert(dataplane_peer_is_dead(t->dp[CLIENT], "host-a"));
	/* From host-a's real endpoint: a PONG with a made-up nonce. */
	struct io_addr aep = t->f->node[HOST_A].underlay;
	aep.port = DATAPLANE_DEFAULT_PORT;
	int au = aio->ops->udp_open(aio, &aep, dgram_cb, &sink);
	cr_assert_geq(au, 0);
	g[2] = DATAPLANE_MSG_PONG;
	memset(g + DATAPLANE_HDR_LEN, 0x5a, 8);
	cr_assert_geq(aio->ops->udp_send(aio, au, g, sizeof(g), &cep), 0);
	dpf_run_for(t->f, 200000);
	cr_assert_eq(drops(t, CLIENT, DATAPLANE_DROP_BAD_PROBE), 1);
	cr_assert(dataplane_peer_is_dead(t->dp[CLIENT], "host-a"), "a wrong pong revived host-a");
	aio->ops->close(aio, ou, false);
	aio->ops->close(aio, au, false);
}
