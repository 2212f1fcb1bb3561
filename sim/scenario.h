/* The scenario loader: YAML text -> struct scenario, or a list of
 * `file:line:col: message` diagnostics. A pure function of (text, file
 * name): no ns-3, no I/O besides scenario_load_file() reading the file.
 *
 * The user-facing contract is /work/shared/SCENARIO.md (copied in the
 * project docs); what this version implements is docs/scenario-keys.md.
 * Every key the loader knows is described once, in the key tables that
 * scenario_keys() returns, so the docs' reference can be generated from
 * them.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Limits (a limit on everything). */
#define SCENARIO_NAME_MAX        63  /* scenario, region, node names (after expansion) */
#define SCENARIO_TAILNET_MAX     253 /* a DNS name */
#define SCENARIO_REGIONS_MAX     256
#define SCENARIO_LINKS_MAX       4096
#define SCENARIO_NODES_MAX       100000 /* after count expansion */
#define SCENARIO_COUNT_MAX       100000
#define SCENARIO_DIAGS_MAX       20 /* errors kept; later ones are counted only */
#define SCENARIO_FILE_MAX        (16u << 20)
#define SCENARIO_RAW_MAX         65536 /* stored raw text of tags/user/backends/serve */
#define SCENARIO_DURATION_MAX_US (86400ull * 1000000ull) /* one simulated day */
#define SCENARIO_LATENCY_MAX_US  (10ull * 1000000ull)
#define SCENARIO_BANDWIDTH_MAX   (400ull * 1000000000ull) /* 400 Gbps */
#define SCENARIO_SIZE_MAX        (100ull * 1000000ull)    /* 100 MB per request/response */
#define SCENARIO_RATE_MAX        100000.0                 /* per node per second */
#define SCENARIO_SEED_MAX        4294967295ull

/* Value kinds of keys; also the type names the docs print. */
enum scenario_kind {
	SCENARIO_KIND_NONE = 0,
	SCENARIO_KIND_STRING, /* a scalar */
	SCENARIO_KIND_NAME,   /* a scalar safe as a folder name */
	SCENARIO_KIND_INTEGER,
	SCENARIO_KIND_DURATION,  /* us ms s m */
	SCENARIO_KIND_RATE,      /* N/s */
	SCENARIO_KIND_BANDWIDTH, /* bps Kbps Mbps Gbps */
	SCENARIO_KIND_SIZE,      /* B KB MB (1000), KiB MiB (1024) */
	SCENARIO_KIND_PERCENT,   /* N% */
	SCENARIO_KIND_MAPPING,
	SCENARIO_KIND_SEQUENCE,
	SCENARIO_KIND_WORKLOAD, /* `off` or a mapping */
};

/* One key of one section. */
struct scenario_key {
	const char *name;
	enum scenario_kind kind;
	bool required;
	bool implemented;         /* false: accepted (type-checked) with a warning, ignored */
	const char *default_text; /* NULL: no default */
	const char *doc;
};

enum scenario_section {
	SCENARIO_SECTION_TOP = 0,
	SCENARIO_SECTION_LINK,
	SCENARIO_SECTION_ACCESS,
	SCENARIO_SECTION_NODE,
	SCENARIO_SECTION_UNDERLAY_WORKLOAD,
	SCENARIO_SECTION_COUNT,
};

/* The key table of a section, terminated by an entry with name NULL. */
const struct scenario_key *scenario_keys(enum scenario_section section);
const char *scenario_section_name(enum scenario_section section);
const char *scenario_kind_name(enum scenario_kind kind);

struct scenario_link_params {
	uint64_t latency_us;    /* one way */
	uint64_t bandwidth_bps; /* > 0 */
	double loss;            /* 0..1 */
};

struct scenario_region {
	char name[SCENARIO_NAME_MAX + 1];
};

struct scenario_link {
	int region_a, region_b; /* indexes into regions, a != b */
	struct scenario_link_params params;
};

/* One `nodes:` entry; count > 1 expands to name-0 .. name-(count-1). */
struct scenario_node_group {
	char name[SCENARIO_NAME_MAX + 1];
	int region;
	uint32_t count;
	uint32_t first_index; /* global index of the group's first node */
	/* Stored for later issues as compact JSON text; NULL when absent. */
	char *tags_json;
	char *user;
	char *backends_json;
	char *serve_json;
};

/* The built-in underlay request/response workload (project-added key). */
struct scenario_underlay_workload {
	bool enabled;
	double rate_per_s; /* per node, Poisson */
	uint64_t request_bytes;
	uint64_t response_bytes;
	uint64_t start_us;
	uint64_t stop_us;
	uint16_t port;
};

struct scenario {
	char name[SCENARIO_NAME_MAX + 1];
	uint64_t seed;
	uint64_t duration_us;
	char tailnet[SCENARIO_TAILNET_MAX + 1];
	struct scenario_region *regions;
	int region_count;
	struct scenario_link *links;
	int link_count;
	struct scenario_link_params access;
	struct scenario_node_group *groups;
	int group_count;
	uint32_t node_count; /* after expansion */
	struct scenario_underlay_workload underlay_workload;
};

/* Diagnostics: errors make the load fail, warnings do not. Each text is
 * complete: "file:line:col: message" or "file:line:col: warning: ...". */
struct scenario_diag {
	bool warning;
	unsigned line, column; /* 1-based; 0 for whole-file problems */
	char text[512];
};

struct scenario_diags {
	struct scenario_diag items[SCENARIO_DIAGS_MAX];
	size_t count;   /* kept in items */
	size_t errors;  /* all errors, kept or not */
	size_t dropped; /* diagnostics beyond SCENARIO_DIAGS_MAX */
};

/* Parses `len` bytes of YAML. On success returns 0 and a scenario owned by
 * the caller (scenario_free); otherwise returns -EINVAL with at least one
 * error in `diags` (-ENOMEM on allocation failure). `diags` is cleared
 * first; warnings may be present either way. */
int scenario_load_text(const char *text, size_t len, const char *filename, struct scenario **out,
                       struct scenario_diags *diags);
/* Reads `path` (at most SCENARIO_FILE_MAX bytes) and parses it; an unreadable
 * file is an error diagnostic "path: cannot read: reason" and -errno. */
int scenario_load_file(const char *path, struct scenario **out, struct scenario_diags *diags);
void scenario_free(struct scenario *sc);

/* Writes every diagnostic, one a line, and a note on dropped ones. */
void scenario_diags_print(const struct scenario_diags *diags, FILE *out);

/* Name of expanded node `index` (0 .. node_count-1) into buf; returns the
 * node's group, or NULL when index is out of range. */
const struct scenario_node_group *scenario_node_name(const struct scenario *sc, uint32_t index,
                                                     char *buf, size_t len);

/* Value parsers, also usable by the command line: 0 or -EINVAL with the
 * reason written to why (e.g. "bad unit 'sec' in duration '5sec' (expected
 * us, ms, s or m)"). A bare 0 needs no unit; any other number does. */
int scenario_parse_duration(const char *text, uint64_t *out_us, char *why, size_t why_len);
int scenario_parse_size(const char *text, uint64_t *out_bytes, char *why, size_t why_len);
int scenario_parse_bandwidth(const char *text, uint64_t *out_bps, char *why, size_t why_len);
int scenario_parse_rate(const char *text, double *out_per_s, char *why, size_t why_len);
/* "0.5%" -> 0.005; values above 100% are returned, not refused. */
int scenario_parse_percent(const char *text, double *out_fraction, char *why, size_t why_len);
bool scenario_name_is_safe(const char *name);

#endif
