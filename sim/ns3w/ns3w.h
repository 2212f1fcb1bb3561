/* ns3w: a C interface over Debian's ns-3 3.37, with every ns-3 type hidden.
 *
 * One world per process at a time (ns-3's simulator is a singleton).
 * Build the topology (regions, region links, nodes), call ns3w_finalize(),
 * then open sockets, arm timers and run. Addresses are IPv4 in host byte
 * order. Every node id and region id is a small dense integer, so callers
 * can index their own arrays with them.
 *
 * Underlay addressing (fixed, documented so pcaps read naturally):
 *   host n (n = 0..N-1, global order of creation) : 10.x.y.z = 10.0.0.0 + n + 1
 *   router side of host n's access link          : 11.x.y.z = 11.0.0.0 + n + 1
 *   region link k, ends a/b                      : 12.0.0.0 + 4k + 1 / + 2
 * Routing is a small hash-based protocol (no global routing): a host sends
 * everything that is not tailnet over its access link; a router delivers
 * to its own hosts by hash lookup and forwards other hosts' packets along
 * the lowest-latency path of up region links (recomputed on link changes).
 *
 * TCP follows the seam's rules (lib/io/io.h): non-blocking, -errno results,
 * edge-like readiness callbacks that never run inside the call that caused
 * them, no callback after ns3w_sock_close(). ns-3's socket traps (forked
 * accept sockets without callbacks, recv callbacks not repeated, partial
 * sends, close callbacks after close) are handled here.
 *
 * TCP settings, Linux-like where ns-3 differs: MSS 1448, MinRto 200 ms,
 * delayed ACK 40 ms, TIME_WAIT 2 x NS3W_DEFAULT_TCP_MSL_US. Two ns-3 3.37
 * bugs are worked around: a sender with exactly a window in flight crashes
 * (ns3w_tcp_fix.cc redefines TcpTxBuffer::NextSeg around the original), and a
 * FIN|ACK's acknowledgment, which ns-3 ignores in ESTABLISHED, is honoured
 * by the wrapper's close path.
 */
#ifndef SIM_NS3W_NS3W_H
#define SIM_NS3W_NS3W_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ns3w_world;
struct ns3w_sock;
struct ns3w_timer;

/* TIME_WAIT lasts 2 x MSL. ns-3 finds a segment's socket by walking every
 * endpoint of the node, TIME_WAIT ones included, so a proxy host closing
 * hundreds of connections a second would pay for each of them on every
 * packet (Linux hashes them and keeps them for 60 s at no such cost). 10 ms
 * outlives any retransmission a loss-free link can cause; on lossy links a
 * peer's late FIN retransmission gets a RST, after both ends are closed. */
#define NS3W_DEFAULT_TCP_MSL_US (10ull * 1000)

struct ns3w_world_config {
	uint64_t seed;       /* ns-3 RngSeedManager seed (>= 1) */
	uint64_t run;        /* ns-3 run number, default 1 */
	uint32_t tcp_mss;    /* 0: 1448 */
	uint64_t tcp_msl_us; /* 0: NS3W_DEFAULT_TCP_MSL_US */
};

struct ns3w_link_params {
	uint64_t latency_us;    /* one way */
	uint64_t bandwidth_bps; /* 0: 10 Gbit/s */
	double loss;            /* drop probability per packet, 0..1 */
	/* Each packet's one-way delay is latency plus a uniform draw in
	 * [0, jitter_us], so packets may overtake each other. */
	uint64_t jitter_us;
	/* Share (0..1) of packets held back by an extra latency + jitter_us
	 * (at least NS3W_REORDER_MIN_US), so later packets arrive first. */
	double reorder;
	/* Share (0..1) of packets delivered twice (the copy with its own
	 * delay draw). With jitter, reorder and duplicate 0 a link behaves
	 * exactly as a plain point-to-point link: no random draw is made. */
	double duplicate;
};
/* Limits of ns3w_link_params. */
#define NS3W_JITTER_MAX_US  (10ull * 1000000ull)
#define NS3W_REORDER_MIN_US 1000ull

enum ns3w_events {
	NS3W_READABLE = 1u << 0,
	NS3W_WRITABLE = 1u << 1,
	NS3W_ERROR = 1u << 2,
};

typedef void (*ns3w_sock_fn)(void *ctx, struct ns3w_sock *sock, unsigned events);
typedef void (*ns3w_dgram_fn)(void *ctx, struct ns3w_sock *sock, const uint8_t *data, size_t len,
                              uint32_t src_ip, uint16_t src_port);
typedef void (*ns3w_packet_fn)(void *ctx, const uint8_t *pkt, size_t len);
typedef void (*ns3w_timer_fn)(void *ctx);

/* World. ns3w_world_new returns NULL if a world already exists. */
struct ns3w_world *ns3w_world_new(const struct ns3w_world_config *config);
void ns3w_world_free(struct ns3w_world *world);

/* Topology, before ns3w_finalize(). Return an id >= 0 or -errno. */
int ns3w_region_add(struct ns3w_world *world);
int ns3w_region_link(struct ns3w_world *world, int region_a, int region_b,
                     const struct ns3w_link_params *params);
/* A host hanging off its region's router by its own access link. With
 * `tun`, the node also gets a tailnet device (see ns3w_tun_*). */
int ns3w_node_add(struct ns3w_world *world, int region, const struct ns3w_link_params *access,
                  bool tun);
int ns3w_finalize(struct ns3w_world *world);

int ns3w_node_count(const struct ns3w_world *world);
uint32_t ns3w_node_underlay_ip(const struct ns3w_world *world, int node);
int ns3w_node_region(const struct ns3w_world *world, int node);

/* Links, at any time. Region links have the id ns3w_region_link returned;
 * a host's access link is named by ns3w_node_access_link(). Taking a link
 * down drops every packet on it both ways; routing moves around it. */
int ns3w_node_access_link(const struct ns3w_world *world, int node);
int ns3w_link_set_up(struct ns3w_world *world, int link, bool up);
int ns3w_link_set_params(struct ns3w_world *world, int link, const struct ns3w_link_params *params);
/* A link's parameters now. 0 or -EINVAL. */
int ns3w_link_get_params(const struct ns3w_world *world, int link, struct ns3w_link_params *out);
/* Node-pair partition: while blocked, routers drop every packet between
 * the two hosts' underlay addresses (both ways); other traffic is
 * untouched. Tailnet traffic between them rides the underlay, so it is
 * cut too. 0 or -EINVAL. */
int ns3w_block_pair(struct ns3w_world *world, int node_a, int node_b, bool blocked);
/* One-way region partition: while blocked, routers drop every packet from
 * a host of `from_region` to a host of `to_region`; the other way, and
 * everything else, passes. 0 or -EINVAL. */
int ns3w_block_regions_one_way(struct ns3w_world *world, int from_region, int to_region,
                               bool blocked);

/* Time. Events run in node `node`'s context (-1: none). */
uint64_t ns3w_now_us(const struct ns3w_world *world);
/* Runs until `until_us` or ns3w_stop(); returns the time reached. */
uint64_t ns3w_run(struct ns3w_world *world, uint64_t until_us);
void ns3w_stop(struct ns3w_world *world);
uint64_t ns3w_events_executed(const struct ns3w_world *world);

/* One-shot timer; the handle is invalid once it fired or was cancelled. */
struct ns3w_timer *ns3w_timer_start(struct ns3w_world *world, int node, uint64_t delay_us,
                                    ns3w_timer_fn fn, void *ctx);
void ns3w_timer_cancel(struct ns3w_world *world, struct ns3w_timer *timer);

/* TCP. ip 0 = any local address; *err gets -errno when NULL is returned. */
struct ns3w_sock *ns3w_tcp_listen(struct ns3w_world *world, int node, uint32_t ip, uint16_t port,
                                  int backlog, ns3w_sock_fn fn, void *ctx, int *err);
struct ns3w_sock *ns3w_tcp_connect(struct ns3w_world *world, int node, uint32_t dst_ip,
                                   uint16_t dst_port, uint32_t src_ip, ns3w_sock_fn fn, void *ctx,
                                   int *err);
/* NULL with *err = -EAGAIN when nothing is pending. */
struct ns3w_sock *ns3w_tcp_accept(struct ns3w_sock *listener, ns3w_sock_fn fn, void *ctx,
                                  uint32_t *peer_ip, uint16_t *peer_port, int *err);
ssize_t ns3w_tcp_read(struct ns3w_sock *sock, void *buf, size_t len);
ssize_t ns3w_tcp_write(struct ns3w_sock *sock, const void *buf, size_t len);
int ns3w_tcp_shutdown(struct ns3w_sock *sock);

/* UDP. */
struct ns3w_sock *ns3w_udp_open(struct ns3w_world *world, int node, uint32_t ip, uint16_t port,
                                ns3w_dgram_fn fn, void *ctx, int *err);
int ns3w_udp_send(struct ns3w_sock *sock, const void *data, size_t len, uint32_t dst_ip,
                  uint16_t dst_port);

int ns3w_sock_name(struct ns3w_sock *sock, bool peer, uint32_t *ip, uint16_t *port);
/* Graceful close (FIN after queued data) or, with `abort`, RST. */
int ns3w_sock_close(struct ns3w_sock *sock, bool abort);
/* TCP sockets of closed handles that are still alive: ns-3 still ending
 * their connection, or the wrapper holding them for a moment after its
 * last call into them. One leaves the count when it is freed; for tests. */
size_t ns3w_tcp_closed_alive(const struct ns3w_world *world);

/* Tailnet device (ns-3 VirtualNetDevice) of a node added with `tun`.
 * Packets the node's stack routes to 100.64.0.0/10 come out through `fn`
 * as raw IPv4 packets; ns3w_tun_write hands a raw IPv4 packet to the
 * node's stack as if it arrived on the device. */
int ns3w_tun_attach(struct ns3w_world *world, int node, ns3w_packet_fn fn, void *ctx);
int ns3w_tun_write(struct ns3w_world *world, int node, const void *pkt, size_t len);
int ns3w_tun_addr_add(struct ns3w_world *world, int node, uint32_t ip, int prefix_len);
int ns3w_tun_addr_del(struct ns3w_world *world, int node, uint32_t ip);

/* pcap (LINKTYPE_PPP for the access link as ns-3 writes it, LINKTYPE_RAW
 * for the tailnet device). Call after ns3w_finalize(), before running. */
int ns3w_pcap_underlay(struct ns3w_world *world, int node, const char *path);
int ns3w_pcap_tun(struct ns3w_world *world, int node, const char *path);
/* Closes every capture (after the run, before ns3w_world_free) and calls
 * fn(ctx, path, -errno) for each one that could not be written completely
 * (0 for an errno lost: a write failed earlier and the stream kept only
 * its flag). Returns how many failed. */
typedef void (*ns3w_pcap_failed_fn)(void *ctx, const char *path, int err);
size_t ns3w_pcap_close_all(struct ns3w_world *world, ns3w_pcap_failed_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
