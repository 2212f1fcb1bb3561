/* Internal to svc_reports: the compact data the events reduce to, shared by
 * the ingest (events.c), the expectations (expect.c), the plots (plot.c)
 * and the writers (report.c). */
#ifndef REPORTS_REPORT_INT_H
#define REPORTS_REPORT_INT_H

#include "reports/report.h"

#include "lib/base/htab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RP_NONE UINT32_MAX

/* Interned strings: id <-> name; region[id] is the node's region id. */
struct rp_names {
	char **str;
	uint32_t *region;
	size_t n, cap;
	struct htab index; /* hash_str of a name -> its id */
};

int rp_names_intern(struct rp_names *t, const char *s, uint32_t *id);
uint32_t rp_names_find(const struct rp_names *t, const char *s);
void rp_names_free(struct rp_names *t);

enum rp_outcome {
	RP_OK = 0,
	RP_HTTP_ERROR,
	RP_REFUSED,
	RP_RESET,
	RP_TIMEOUT,
	RP_OVERLOAD,
	RP_OTHER,
	RP_OUTCOMES,
};

extern const char *const rp_outcome_names[RP_OUTCOMES];

/* One request_done, 24 bytes. */
struct rp_req {
	uint64_t start_us;
	uint32_t latency_us;     /* clamped to UINT32_MAX */
	uint32_t host;           /* name id ("" is a name too) */
	uint32_t client;         /* name id */
	uint16_t workload;       /* index into rp_data.wl */
	uint16_t outcome_status; /* outcome << 13 | min(status, 8191) */
};

static inline enum rp_outcome rp_req_outcome(const struct rp_req *r)
{
	return (enum rp_outcome)(r->outcome_status >> 13);
}

static inline unsigned rp_req_status(const struct rp_req *r)
{
	return r->outcome_status & 0x1fff;
}

struct rp_workload {
	uint32_t name;
	uint32_t service; /* name id or RP_NONE */
	uint64_t requests;
	uint64_t by_outcome[RP_OUTCOMES];
};

struct rp_host {
	uint32_t name;
	uint64_t new_conns, closed, bytes_in, bytes_out, requests;
	int64_t open;
	uint32_t *series; /* open connections at second s, s = 0..n_series-1 */
	size_t n_series, cap_series;
};

struct rp_state {
	uint64_t t_us;
	uint32_t service, host; /* host RP_NONE: the service's own state */
	uint32_t state;
};

struct rp_mark {
	uint64_t t_us;
	uint32_t node, action, target, detail;
};

/* A shaded interval of the run (crash..restart, partition..heal). */
struct rp_window {
	uint64_t from_us, to_us;
	uint32_t label;  /* name id of the target */
	uint32_t action; /* name id: "crash", "partition", "control" */
};

struct rp_data {
	struct rp_names names;
	struct rp_workload *wl;
	size_t n_wl;
	uint32_t *wl_of; /* name id -> workload index + 1 (0: none) */
	struct rp_host *hosts;
	size_t n_hosts;
	uint32_t *host_of; /* name id -> host index + 1 (0: none) */
	size_t map_cap;    /* entries in wl_of / host_of */
	struct rp_req *req;
	size_t n_req, cap_req;
	struct rp_state *states;
	size_t n_states, cap_states;
	struct rp_mark *marks;
	size_t n_marks, cap_marks;
	uint64_t marks_dropped;
	uint64_t end_us; /* the run's end: max(simulated time, last event) */
	uint64_t lines, malformed;
	/* NEW_CONNECTIONS expectations are counted while reading. */
	const struct expect *ex;
	size_t n_ex;
	uint32_t *ex_node; /* name id per expectation */
	uint64_t *ex_count;
	/* Tailnet pcaps the events say are incomplete (pcap_write_failed),
	 * at most REPORT_MAX_FAILED_PCAPS (name ids). */
	struct rp_failed_pcap {
		uint32_t path, why;
	} * failed_pcaps;
	size_t n_failed_pcaps;
};

int rp_data_init(struct rp_data *d, const struct report_input *in, char *err, size_t err_len);
void rp_data_free(struct rp_data *d);
/* Reads the events; writes latency.csv rows to csv as it goes. */
int rp_ingest(struct rp_data *d, const char *path, FILE *csv, char *err, size_t err_len);
/* Closes every host series at the run's end. */
int rp_finish(struct rp_data *d, char *err, size_t err_len);

static inline const char *rp_name(const struct rp_data *d, uint32_t id)
{
	return id == RP_NONE ? "" : d->names.str[id];
}

/* Fault windows from the timeline marks (crash..restart, partition..heal,
 * control crash..restart; an open one ends at the run's end). Returns
 * the count, or -ENOMEM. *out is malloc'd. */
int rp_fault_windows(const struct rp_data *d, struct rp_window **out);

/* Nearest-rank percentile of sorted v[0..n-1]; p in (0, 1]. */
uint32_t rp_percentile(const uint32_t *v, size_t n, double p);

/* Sorts u32 values ascending. */
void rp_sort_u32(uint32_t *v, size_t n);

/* Evaluates one expectation. */
void rp_expect_eval(const struct rp_data *d, size_t index, const struct expect *e,
                    struct expect_result *r);

/* Writes the gnuplot data and script and runs it; fills the file names it
 * made (relative to the folder). */
/* The report's output files (report.c). Each stream keeps why a write
 * failed (lib/base/outfile.h); a file that could not be written completely
 * is told to in->output_failed and counted, and writing goes on with the
 * next file, so that every incomplete one is named. */
struct rp_outputs {
	const struct report_input *in;
	size_t failed;
};
struct rp_out;
/* Opens dir/name for writing; NULL (reported, counted) when it cannot. */
FILE *rp_out_open(struct rp_outputs *o, const char *dir, const char *name, struct rp_out **out);
/* Closes it; false when it could not be written completely (reported). */
bool rp_out_close(struct rp_outputs *o, struct rp_out *out);
/* Reports `path` as not written completely, for `why`. */
void rp_output_failed(struct rp_outputs *o, const char *path, const char *why);

int rp_plot(const struct rp_data *d, const struct report_input *in, struct rp_outputs *outs,
            char *err, size_t err_len);

/* Appends JSON-escaped s (with quotes) to f. */
void rp_json_str(FILE *f, const char *s);

/* snprintf whose truncation is intended (messages are cut to fit). */
__attribute__((format(printf, 3, 4))) void rp_fmt(char *out, size_t cap, const char *fmt, ...);

/* Formats v with up to `decimals` decimals, trailing zeros trimmed. */
void rp_format_trim(double v, int decimals, char *out, size_t cap);

/* gnuplot, for the report's plots and the perf history charts: the binary
 * (the given one, else "gnuplot" on PATH); running `gnuplot SCRIPT` in
 * dir, its output in dir/gnuplot.log (removed when empty); whether it
 * wrote an image whole (a PNG ends with its IEND chunk, an SVG with
 * </svg>: gnuplot exits 0 on a full disk). */
int rp_find_gnuplot(const char *given, char *out, size_t cap);
int rp_run_gnuplot(const char *bin, const char *dir, const char *script, char *err, size_t err_len);
bool rp_image_complete(const char *path, bool svg);
/* Copies an image file (an SVG chart) into a page being written; false
 * when it cannot be read. */
bool rp_image_inline(const char *path, FILE *out);

#endif
