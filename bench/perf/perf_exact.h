/* The exact metrics of one simulated run (SPEC PRF-1): figures read from
 * the run's report.json, run.json, events.jsonl and underlay pcaps, all
 * deterministic for the scenario's seed. Each name starts with the
 * scenario's:
 *   S.W.latency_p50_ms, _p99_ms, _p999_ms, S.W.success_rate   per workload W
 *   S.W.failover_ms, _ms_2, ...   W's failover_time expectations' measures, in order
 *   S.ns3_events_per_sim_s     simulator events per simulated second
 *   S.underlay_bytes_per_request   bytes in the nodes' underlay captures
 *                              (both ends of each packet) per request
 *   S.map_propagation_p50_ms, _max_ms   a control change (the netmaps it
 *                              sends at one instant) to the last daemon
 *                              applying its version
 *   S.H.SVC.drain_complete_ms  a timeline `serve drain SVC` on host H to
 *                              the host's drain_complete for SVC
 *   S.H.SVC.approval_to_traffic_ms   a timeline `approve SVC H` to the
 *                              first connection H's proxy for SVC accepts
 *   S.control_outage.failed_requests, .latency_p99_ms   requests started
 *                              from a control crash to 5 s after its restart
 * A figure a run has no evidence for is left out (the compare then names
 * it MISSING against a baseline that has it). */
#ifndef BENCH_PERF_PERF_EXACT_H
#define BENCH_PERF_PERF_EXACT_H

#include "reports/perf_result.h"

#include <stddef.h>

/* Limits on what one run's files may hold. */
#define PERF_EXACT_EVENT_LINE_MAX 65536
#define PERF_EXACT_CHANGES_MAX    100000  /* control changes followed */
#define PERF_EXACT_PENDING_MAX    1000000 /* netmaps sent and not yet applied */

/* Adds the metrics of the run simrun wrote under out_dir for `scenario`
 * (out_dir/reports/SCENARIO/, out_dir/pcaps/SCENARIO/). 0 or -errno with a
 * message in err. */
int perf_exact_collect(struct perf_result *r, const char *out_dir, const char *scenario, char *err,
                       size_t err_len);

/* A metric name part: lower case, anything outside [a-z0-9._:-] as '-'. */
void perf_name_part(const char *in, char *out, size_t cap);

#endif
