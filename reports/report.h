/* The report writers (SCENARIO.md "Outputs", SPEC HAR-4/HAR-5): everything
 * is computed from events.jsonl (plus the run facts the caller passes),
 * never from private counters.
 *
 * report_write reads the events file line by line (tens of millions of
 * lines are fine: per request it keeps 24 bytes, never the file) and
 * writes into in->out_dir:
 *   report.json   per workload (requests, ok, failed by reason, latency
 *                 p50/p90/p99/p999/max of the ok requests, in ms; also per
 *                 client region and per host), per host (new connections,
 *                 open connections per second, bytes, requests served),
 *                 per service (state timeline, host state timelines),
 *                 expectations (text, pass, measured), the run facts.
 *   latency.csv   start_us,client,host,workload,latency_us,outcome,status
 *                 one row per request_done, in event order.
 *   *.gp *.dat *.png *.svg  gnuplot plots (when in->plots): latency CDF per
 *                 workload and region, requests per host per second with
 *                 the timeline marked, latency over time with the fault
 *                 windows shaded.
 *   summary.md, index.html (self-contained: inline CSS, PNGs as data URIs).
 * The same events give byte-identical files.
 *
 * Percentiles are nearest-rank (the ceil(p*n)-th smallest) over the
 * requests whose outcome is ok; failures are counted by reason.
 */
#ifndef REPORTS_REPORT_H
#define REPORTS_REPORT_H

#include "reports/expect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Limits (each one is tested). */
#define REPORT_LINE_MAX         65536      /* longer event lines are malformed */
#define REPORT_MAX_NAMES        (1u << 20) /* distinct strings (nodes, workloads, ...) */
#define REPORT_MAX_WORKLOADS    4096
#define REPORT_MAX_HOSTS        65536
#define REPORT_MAX_REQUESTS     (200ull * 1000 * 1000)
#define REPORT_MAX_STATES       (1u << 20)   /* service_state + host_state events */
#define REPORT_MAX_MARKS        100000       /* timeline events kept */
#define REPORT_MAX_SERIES_S     (7u * 86400) /* per-second series stop here */
#define REPORT_PLOT_MAX_SERIES  16           /* lines per plot; the rest is "other" */
#define REPORT_PLOT_MAX_MARKS   200          /* timeline marks drawn */
#define REPORT_MAX_FAILED_PCAPS 1024         /* pcap_write_failed events kept */

/* A node's region (clients' regions group the latency percentiles). */
struct report_node_region {
	const char *node;
	const char *region;
};

/* A workload's target service (for the `never` expectation). */
struct report_workload_service {
	const char *workload;
	const char *service;
};

/* What report_write found in the events (optional output). */
struct report_stats {
	uint64_t lines;     /* non-empty lines read */
	uint64_t malformed; /* lines skipped: not a JSON object, missing fields, too long */
	uint64_t requests;  /* request_done events */
	size_t failed_expectations;
};

struct report_input {
	const char *events_path; /* reports/<name>/events.jsonl */
	const char *out_dir;     /* reports/<name>/ (created when missing) */
	const char *scenario;    /* name */
	uint64_t seed;
	double simulated_s, wall_s;
	uint64_t peak_memory_bytes;
	uint64_t events; /* as the run counted them */
	const struct expect *expects;
	size_t n_expects;              /* <= EXPECT_MAX */
	struct expect_result *results; /* n_expects entries, filled */
	const struct report_node_region *regions;
	size_t n_regions;
	const struct report_workload_service *services;
	size_t n_services;
	/* Called for each output file that could not be written completely
	 * (a full disk), with its path and why, and for each tailnet pcap the
	 * events say was (pcap_write_failed); NULL: not told. */
	void (*output_failed)(void *ctx, const char *path, const char *why);
	void *output_ctx;
	bool plots;                 /* run gnuplot */
	const char *gnuplot;        /* the binary; NULL: "gnuplot" found on PATH */
	struct report_stats *stats; /* NULL or filled */
};

/* Reads in->events_path and writes every output listed above; fills
 * in->results. Returns 0 (expectation failures are not errors: see the
 * results) or -errno with a message in err: unreadable events, an
 * unwritable folder, a limit exceeded, gnuplot missing or failing, or
 * -EIO when an output could not be written completely (each one told to
 * in->output_failed; the others are still written). A plot whose data
 * could not be written is not drawn (its old images are removed), and
 * every image gnuplot drew is checked whole (PNG up to IEND, SVG up to
 * </svg>): gnuplot says nothing when the disk is full. */
int report_write(const struct report_input *in, char *err, size_t err_len);

/* Text escaped for HTML (<, >, &, "), and for a Markdown table cell (|
 * escaped, newlines as spaces): the reports' and explore's pages. */
void report_html_text(FILE *f, const char *s);
void report_md_cell(FILE *f, const char *s);

/* A JSON file of at most `max` bytes, parsed (report.json, the perf
 * results and thresholds): NULL with -errno in *rc and "path: why" in err
 * when it cannot be read, is larger (checked before reading it), or is not
 * JSON (with the byte where parsing stopped). */
struct cJSON *report_json_read(const char *path, size_t max, char *err, size_t err_len, int *rc);

/* Regression thresholds (HAR-5). Fractions: 0.10 is 10%. */
struct report_thresholds {
	double max_latency_increase; /* a percentile up more than this */
	double min_latency_delta_ms; /* ... and by at least this many ms */
	double max_success_drop;     /* success rate down more than this (absolute) */
	double max_speed_drop;       /* simulated/wall speed down more than this */
};

#define REPORT_THRESHOLDS_DEFAULT                                                                  \
	{                                                                                          \
		.max_latency_increase = 0.10, .min_latency_delta_ms = 0.1,                         \
		.max_success_drop = 0.001, .max_speed_drop = 0.20                                  \
	}

#define REPORT_COMPARE_MAX 4096 /* compared metrics */

/* One compared metric. change: relative for latency and speed
 * ((cur - base) / base), absolute for success rates (cur - base). */
struct report_delta {
	char metric[192]; /* "browse p99_ms", "browse success_rate", "run speed" */
	double base, cur, change;
	bool regression;
};

/* Compares two report.json files metric by metric (workloads present in
 * both). Fills up to cap deltas in out, *n their count, *regressions how
 * many are regressions. Returns 0 or -errno (unreadable or not a report)
 * with a message in err. */
int report_compare(const char *base_path, const char *cur_path, const struct report_thresholds *th,
                   struct report_delta *out, size_t cap, size_t *n, size_t *regressions, char *err,
                   size_t err_len);

/* Formats a duration as the messages do: "412.3ms", "3s", "0.25ms". */
void report_format_us(double us, char *out, size_t cap);

#endif
