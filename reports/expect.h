/* Expectations of a scenario (SCENARIO.md `expect:`), as the scenario
 * loader produces them and the report evaluates them against the event
 * stream (events are the truth: every measured value comes from
 * events.jsonl).
 *
 * One entry is one kind of check:
 *   {workload: W, success_rate: ">= 99.9%", p50/p90/p99/p999/max: "< 400ms"}
 *       over W's request_done events (overload counts as a failure; the
 *       percentiles over the ok ones); several bounds in one entry are
 *       several checks sharing the entry. With from/to: only the requests
 *       that start in [from, to). The form says how the span is judged:
 *       EXPECT_WHOLE  all of it at once;
 *       EXPECT_THROUGHOUT  cut into consecutive windows of window_us from
 *           `from` (the last one may be shorter), every window holds; a
 *           window with nothing to measure (no requests; for a percentile,
 *           no ok requests) holds, and at least one window must have some;
 *       EXPECT_EVENTUALLY  windows of window_us from `after` (the time, or
 *           with after_last_heal the end of the last fault window of the
 *           run: crash..restart, partition..heal, control crash..restart;
 *           0 when nothing failed): the bound holds in every window from
 *           some window start t <= after + within_us to the end, with at
 *           least one window there to measure; measured is t - after.
 *   {node: N, new_connections: 0, from: 12s, to: 20s}
 *       conn_accepted events on node N (any Service Proxy) in [from, to];
 *       the value may carry a comparison (">= 10").
 *   {service: S, state: Connected, at: 15s}      the service's state (from
 *       control's service_state events) at that time, case-insensitive.
 *   {host: H, service: S, state: draining, at: 11s}  the host's state for S.
 *   {workload: W, failover_time: "< 3s", after: 20s}
 *       time from `after` to the completion of the first ok request of W
 *       that started at or after `after` on a host other than the host
 *       W's last ok request before `after` used (the fault's host).
 *   {workload: W, resets: 0}  (also with from/to) requests of W whose
 *       outcome is reset (tcp-stream: a stream broken by a drain).
 *   {never: "request to a host that was not eligible"}
 *       no ok request_done of any workload started at t on host H for
 *       service S unless H's state for S was Connected at some time in
 *       [t - EXPECT_ELIGIBLE_SLACK_US, t] (map propagation allowance).
 */
#ifndef REPORTS_EXPECT_H
#define REPORTS_EXPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPECT_NAME_MAX          128
#define EXPECT_ELIGIBLE_SLACK_US (1000000ull)
#define EXPECT_MAX               1024
#define EXPECT_WINDOWS_MAX       100000 /* windows one throughout/eventually judges */

enum expect_kind {
	EXPECT_NONE = 0,
	EXPECT_SUCCESS_RATE,    /* value: fraction 0..1 */
	EXPECT_LATENCY,         /* value: microseconds; `percentile` says which */
	EXPECT_NEW_CONNECTIONS, /* value: count */
	EXPECT_SERVICE_STATE,   /* state */
	EXPECT_HOST_STATE,      /* state */
	EXPECT_FAILOVER_TIME,   /* value: microseconds */
	EXPECT_RESETS,          /* value: count */
	EXPECT_NEVER_INELIGIBLE,
	EXPECT_INVARIANT, /* judged by the caller (simrun: sim/explore/invariant.h) */
};

enum expect_form {
	EXPECT_WHOLE = 0,
	EXPECT_THROUGHOUT,
	EXPECT_EVENTUALLY,
};

enum expect_cmp {
	EXPECT_CMP_EQ = 0,
	EXPECT_CMP_LT,
	EXPECT_CMP_LE,
	EXPECT_CMP_GT,
	EXPECT_CMP_GE,
};

enum expect_percentile {
	EXPECT_P50 = 0,
	EXPECT_P90,
	EXPECT_P99,
	EXPECT_P999,
	EXPECT_MAX_LATENCY,
};

struct expect {
	enum expect_kind kind;
	unsigned line, column; /* where it is in the scenario file (messages) */
	char workload[EXPECT_NAME_MAX + 1];
	char node[EXPECT_NAME_MAX + 1];    /* NEW_CONNECTIONS; HOST_STATE: the host */
	char service[EXPECT_NAME_MAX + 1]; /* SERVICE_STATE, HOST_STATE */
	char state[64];                    /* as written */
	enum expect_cmp cmp;
	double value;
	enum expect_percentile percentile;
	uint64_t from_us, to_us; /* window; to_us UINT64_MAX: open */
	uint64_t at_us;          /* states */
	uint64_t after_us;       /* failover; EXPECT_EVENTUALLY */
	enum expect_form form;   /* SUCCESS_RATE, LATENCY */
	uint64_t window_us;      /* EXPECT_THROUGHOUT, EXPECT_EVENTUALLY */
	uint64_t within_us;      /* EXPECT_EVENTUALLY */
	bool after_last_heal;    /* EXPECT_EVENTUALLY: after is the last heal */
	uint32_t invariants;     /* EXPECT_INVARIANT: bit per invariant id */
	char text[256];          /* the expectation as written, for reports */
};

/* The outcome of one expectation. */
struct expect_result {
	bool pass;
	double measured;         /* in the expectation's unit (fraction, us, count) */
	char measured_text[128]; /* "99.95%", "412.3ms", "Connected", "none" */
	char message[256];       /* "expected p99 < 400ms, measured 412.3ms" */
};

#endif
