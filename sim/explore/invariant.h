/* The invariant checker of `simrun explore` (EXP-2): judges one run from
 * evidence independent of the components under test (the packets on the
 * hosts' tailnet interfaces, host-side events, the client workloads'
 * request_done lines, the timeline as carried out)
 * against truth recomputed from the scenario: its policy (control's
 * parser and evaluator, as a library, not control's decisions), the
 * timeline's admin and serve actions, crashes and faults. An invariant
 * that cannot be judged soundly for a run is left out of `checked`
 * rather than guessed; sim/explore/README.md lists what each one reads
 * and its bounds. A pure function of its inputs (reads the events file
 * and the pcaps; no global state). */
#ifndef SIM_EXPLORE_INVARIANT_H
#define SIM_EXPLORE_INVARIANT_H

#include "sim/scenario/scenario.h"

#include <stddef.h>
#include <stdint.h>

enum invariant_id {
	INVARIANT_GRANT = 0,
	INVARIANT_ELIGIBLE,
	INVARIANT_STREAM,
	INVARIANT_ADMIN_DURABLE,
	INVARIANT_OUTCOME,
	INVARIANT_REACH,
	INVARIANT_RECOVERY,
	INVARIANT_CONTROL_VIEW,
	INVARIANT_DRAIN,
	INVARIANT_FAILOVER,
	INVARIANT_KEEPALIVE_RESET,
	INVARIANT_CONTROL_OUTAGE,
	INVARIANT_KINDS
};

#define INVARIANT_ALL ((uint32_t)((1u << INVARIANT_KINDS) - 1))

/* Bounds (SPEC IDs in sim/explore/README.md). */
#define INVARIANT_SETTLE_DEFAULT_US (5ull * 1000000) /* explore: settle */
#define INVARIANT_FAILOVER_US       (1000ull * 1000) /* STR-4 */
#define INVARIANT_KEEPALIVE_US      (2000ull * 1000) /* STR-7: probe verdict + a retry */
#define INVARIANT_STARTUP_US        (2000ull * 1000) /* first maps, certificates, approvals */
#define INVARIANT_DRAIN_BOUND_US    (7000ull * 1000) /* drain grace 5 s + drain settle 1 s + 1 s */
/* Limits: one events line, lines in all. */
#define INVARIANT_LINE_MAX   (64u << 10)
#define INVARIANT_EVENTS_MAX (200u * 1000 * 1000)
/* Limits on the tailnet pcaps: bytes of one file, packets of one file,
 * restart files of one node. */
#define INVARIANT_PCAP_BYTES_MAX    (16ull << 30)
#define INVARIANT_PCAP_PACKETS_MAX  (200ull * 1000 * 1000)
#define INVARIANT_PCAP_RESTARTS_MAX 1000u

/* Stable kebab-case names ("grant-safety"); "?" out of range. */
const char *invariant_name(enum invariant_id id);
/* The id of `name`, or -1. */
int invariant_by_name(const char *name);

struct invariant_violation {
	enum invariant_id id;
	uint64_t t_us;
	char node[64];
	char what[256];
};

struct invariant_result {
	uint32_t checked; /* bit per invariant that applied to this run */
	uint32_t broken;  /* bit per invariant broken */
	uint64_t count[INVARIANT_KINDS];
	struct invariant_violation first[INVARIANT_KINDS]; /* earliest of each broken one */
};

/* Checks the run of `sc` (its timeline including drawn faults) whose events
 * are in events_path and whose pcaps are in pcap_dir (NULL: none): a host
 * with a <node>-tailnet.pcap there is judged from its packets for
 * grant-safety and eligible-safety, the others from their events (see the
 * README). `which`: mask of invariants to check. Returns 0 with *out
 * filled, or a negative errno with `err` saying why (an unreadable,
 * truncated or malformed input is an error, never "held"). */
int invariants_check(const struct scenario *sc, const char *events_path, const char *pcap_dir,
                     uint32_t which, struct invariant_result *out, char *err, size_t errcap);

/* Limits on the pcaps read; 0 in a field: its INVARIANT_PCAP_* default. */
struct invariant_limits {
	uint64_t pcap_bytes;   /* one file */
	uint64_t pcap_packets; /* one file */
};

/* invariants_check with other limits (NULL: the defaults). */
int invariants_check_limited(const struct scenario *sc, const char *events_path,
                             const char *pcap_dir, uint32_t which,
                             const struct invariant_limits *limits, struct invariant_result *out,
                             char *err, size_t errcap);

#endif
