/* The invariant checker's insides (invariant.h): the evidence read from a
 * run's events (invariant.c), the truth recomputed from the scenario and
 * its timeline (invariant_truth.c), and the rules (invariant_rules.c). */
#ifndef SIM_EXPLORE_INVARIANT_INT_H
#define SIM_EXPLORE_INVARIANT_INT_H

#include "sim/explore/invariant.h"

#include "control/policy.h"
#include "lib/base/htab.h"

#include <stdbool.h>
#include <stdint.h>

#define INV_NONE UINT32_MAX

enum inv_outcome { INV_OK = 0, INV_HTTP_ERROR, INV_REFUSED, INV_RESET, INV_TIMEOUT, INV_OVERLOAD };

/* One request_done line. */
struct inv_req {
	uint64_t start_us, done_us, bytes;
	uint32_t client, host; /* node indexes; host INV_NONE: none (no route) */
	uint32_t workload;     /* index into sc->workloads */
	uint8_t outcome;       /* enum inv_outcome */
};

/* One connection a host accepted for a service (L7 conn_accepted with
 * proxy svc:S:P, L4 with service svc:S:P). */
struct inv_accept {
	uint64_t t_us;
	uint32_t host, peer_ip; /* peer_ip: IPv4, host order */
	int service;            /* index into sc->services */
	uint16_t port;
};

/* One acceptance proven by a host's tailnet packets: a SYN-ACK from a
 * service VIP:port, or a UDP answer to a datagram sent to one. */
struct inv_pkt_accept {
	uint64_t t_us;
	uint32_t host, peer_ip, src_ip; /* src_ip: the answer's source as captured */
	int service;
	uint16_t port, peer_port;
	uint8_t proto; /* POLICY_PROTO_TCP or _UDP */
};

/* One conn_closed of a service connection, and a crash (all closed). */
struct inv_close {
	uint64_t t_us;
	uint32_t host;
	int service; /* -1: the host crashed */
};

/* One control host_state line. */
struct inv_state {
	uint64_t t_us;
	uint32_t host;
	int service;
	char state[24];
};

/* A stretch of time in which a fault may break paths. */
enum inv_window_kind {
	INV_W_NODE = 0,
	INV_W_CUT,
	INV_W_LINK,
	INV_W_CONTROL,
	INV_W_ACTION,
	INV_W_OTHER, /* an action the checker does not know: a fault from then on */
	INV_W_QUIET  /* a drain or advertise: it must cost no request (DRN-1, DRN-2, DRN-5) */
};

struct inv_window {
	uint64_t from_us, to_us; /* to_us UINT64_MAX: never healed */
	enum inv_window_kind kind;
	uint32_t node; /* INV_W_NODE: the node; INV_W_CUT: inv_cut_key() */
	/* INV_W_NODE: its daemon paused, not crashed: unavailable alike (it
	 * answers nothing), but it closes nothing and comes back as it was */
	bool pause;
};

/* A cut's key: its two regions (or nodes, for a cut between nodes), the
 * lower index first, so that a heal finds its partition. */
#define INV_CUT_BETWEEN_NODES 0x80000000u
static inline uint32_t inv_cut_key(bool between_nodes, uint32_t a, uint32_t b)
{
	return (between_nodes ? INV_CUT_BETWEEN_NODES : 0) | (a < b ? a : b) << 16 |
	       (a < b ? b : a);
}

/* The two regions a region cut separates; false for a cut between nodes
 * or another kind of window. */
static inline bool inv_cut_regions(const struct inv_window *w, int *ra, int *rb)
{
	if (w->kind != INV_W_CUT || (w->node & INV_CUT_BETWEEN_NODES))
		return false;
	*ra = (int)(w->node >> 16);
	*rb = (int)(w->node & 0xffffu);
	return true;
}

/* Per (host, service) what the timeline made of it. */
enum inv_approval { INV_PENDING = 0, INV_APPROVED, INV_REJECTED, INV_REVOKED };

struct inv_change {
	uint64_t at_us;
	uint32_t host;
	int service;
	int what; /* enum inv_change_kind */
};

enum inv_change_kind {
	INV_C_APPROVE = 0,
	INV_C_REJECT,
	INV_C_REVOKE,
	INV_C_DRAIN,
	INV_C_ADVERTISE,
	INV_C_CLEAR,
	INV_C_UNKNOWN, /* a change the checker does not model: not judged after */
	INV_C_TAGS     /* an admin set the node's tags (inv_tags_change has them) */
};

/* A node's tags from at_us on, as an admin's set-tags made them (the
 * timeline entry's tags: they outlive the check). */
struct inv_tags_change {
	uint64_t at_us;
	uint32_t node;
	size_t n_tags;
	const char *const *tags;
};

struct inv_run {
	const struct scenario *sc;
	uint64_t settle_us, end_us;
	uint64_t last_event_us;   /* the run's end as its events show it */
	struct policy *policy;    /* the scenario's (or an empty one) */
	uint64_t policy_until_us; /* first set-policy: grants unknown from then on */

	struct inv_req *req;
	size_t n_req, cap_req;
	struct inv_accept *acc;
	size_t n_acc, cap_acc;
	struct inv_close *cls;
	size_t n_cls, cap_cls;
	struct inv_state *st;
	size_t n_st, cap_st;

	/* acceptances proven by packets, of hosts with a tailnet pcap */
	struct inv_pkt_accept *pacc;
	size_t n_pacc, cap_pacc;
	bool *pcap_host; /* [node]: judged from its tailnet pcap, not its conn_accepted */
	const char *pcap_dir;
	struct invariant_limits limits;
	/* service VIP (IPv4) -> service, from clients' outbound flow_new lines;
	 * service -2: two services claimed it (never judged) */
	uint32_t *vip_addr;
	int *vip_svc;
	size_t n_vip, cap_vip;
	struct htab vip_index;

	/* tailnet IPv4 -> node, from each node's own outbound flows */
	uint32_t *ip_addr, *ip_node;
	size_t n_ip, cap_ip;
	struct htab ip_index;
	struct htab name_index; /* node name -> index */
	char (*names)[SCENARIO_NAME_MAX + 1];
	/* When control first sent each node a map (its netmap_sent events);
	 * UINT64_MAX: never. Before it the node has not joined the tailnet. */
	uint64_t *first_map_us;

	struct inv_window *win;
	size_t n_win, cap_win;
	struct inv_change *chg;
	size_t n_chg, cap_chg;
	struct inv_tags_change *tagc; /* by time */
	size_t n_tagc, cap_tagc;
	bool *serves;          /* [node * n_services]: a serve line of the node sets the service */
	bool *auto_ok;         /* [node * n_services]: policy approves it automatically */
	uint64_t last_heal_us; /* latest end of a healed window */
	bool open_fault;       /* a window never healed */
	bool control_restarted;

	struct invariant_result *out;
	uint32_t which;
};

/* invariant.c */
void inv_violation(struct inv_run *r, enum invariant_id id, uint64_t t_us, uint32_t node,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void inv_checked(struct inv_run *r, enum invariant_id id);
uint32_t inv_node(const struct inv_run *r, const char *name);
uint32_t inv_ip_node(const struct inv_run *r, uint32_t ip);
int inv_grow(void **arr, size_t *cap, size_t n, size_t size);

/* invariant_pcap.c */
/* Which nodes have a tailnet pcap in r->pcap_dir (r->pcap_host). */
int inv_pcap_find(struct inv_run *r, char *err, size_t errcap);
/* Notes a VIP's service from a client's outbound flow_new. */
int inv_vip_add(struct inv_run *r, uint32_t vip, int svc);
/* Streams every host's tailnet pcaps into r->pacc. */
int inv_pcap_read(struct inv_run *r, char *err, size_t errcap);
void inv_pcap_free(struct inv_run *r);

/* invariant_truth.c */
int inv_truth_build(struct inv_run *r, char *err, size_t errcap);
void inv_truth_free(struct inv_run *r);
/* May `client` open a new flow to service `svc` on (proto, port) at t by
 * the policy and the client's tags then (ACL-4)? -1: unknown, also for a
 * while after set-tags took a grant away: until the settle bound, or
 * longer when a fault window may delay the maps. */
int inv_granted(const struct inv_run *r, uint32_t client, int svc, uint8_t proto, uint16_t port,
                uint64_t at_us);
/* May `client` get an answer from `svc` at t: as inv_granted, but unknown
 * once a set-tags took a grant away before t (the answer may come on a
 * flow opened while it was granted: ACL-4 filters new flows only). */
int inv_granted_answer(const struct inv_run *r, uint32_t client, int svc, uint8_t proto,
                       uint16_t port, uint64_t at_us);
/* Was `host` eligible for `svc` at some time in [from, to]? -1: unknown. */
int inv_eligible_during(const struct inv_run *r, uint32_t host, int svc, uint64_t from_us,
                        uint64_t to_us);
/* Was `host` eligible for `svc` throughout [from, to]? -1: unknown. */
int inv_eligible_throughout(const struct inv_run *r, uint32_t host, int svc, uint64_t from_us,
                            uint64_t to_us);
bool inv_alive_throughout(const struct inv_run *r, uint32_t node, uint64_t from_us, uint64_t to_us);
/* Does [from, to] meet a window (each extended by settle) of a kind in
 * kinds (bit per enum inv_window_kind), other than `except`? */
/* When window w stops mattering: its heal plus the settle bound (a node
 * gone for good: the instant it went); UINT64_MAX: never. */
uint64_t inv_window_end(const struct inv_run *r, const struct inv_window *w);
bool inv_in_window(const struct inv_run *r, uint64_t from_us, uint64_t to_us, uint32_t kinds,
                   const struct inv_window *except);
/* The approval truth of (host, svc) at t; -1: unknown. */
int inv_approval_at(const struct inv_run *r, uint32_t host, int svc, uint64_t at_us);

/* invariant_rules.c, invariant_live.c */
uint8_t inv_proto(const struct scenario_workload *w);
/* The service a request's workload targets, or -1 (node or address targets). */
int inv_req_service(const struct inv_run *r, const struct inv_req *q);
void inv_check_safety(struct inv_run *r);
void inv_check_liveness(struct inv_run *r);

#define INV_ALL_WINDOWS 0x7fu
/* Windows of faults that break paths or delay what a node learns. */
#define INV_FAULT_WINDOWS                                                                          \
	((1u << INV_W_NODE) | (1u << INV_W_CUT) | (1u << INV_W_LINK) | (1u << INV_W_CONTROL) |     \
	 (1u << INV_W_OTHER))

#endif
