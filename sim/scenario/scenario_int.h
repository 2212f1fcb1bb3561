/* Internal to the scenario loader (svc_scenario): what its files share. The
 * loader state, the key tables' indexes, YAML accessors, and the helpers
 * each file offers the others, grouped by the file that defines them. Every
 * function here starts with ld_ (the loader's), so none can collide with a
 * symbol of another library linked into the same program.
 *
 * The files, by concern: scenario_keys.c (the key tables), scenario_units.c
 * (numbers with units), scenario_hint.c (did-you-mean), scenario_yaml.c (the
 * YAML tree within its limits, REL-5), scenario_check.c (what every section
 * checks), scenario_names.c (names and references), one loader per
 * top-level section (scenario_topology.c, scenario_policy.c,
 * scenario_services.c, scenario_nodes.c, scenario_workloads.c,
 * scenario_timeline.c, scenario_expect.c; a node's files in
 * scenario_files.c), and scenario_load.c (the entry points and the order
 * the sections load in). */
#ifndef SIM_SCENARIO_SCENARIO_INT_H
#define SIM_SCENARIO_SCENARIO_INT_H

#include "sim/scenario/scenario.h"

#include "lib/base/check.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#define SCENARIO_KEYS_MAX 32 /* per section */

/* ---- the key tables (scenario_keys.c): each section's keys by index ---- */

enum top_key {
	TOP_NAME = 0,
	TOP_SEED,
	TOP_DURATION,
	TOP_TAILNET,
	TOP_REGIONS,
	TOP_LINKS,
	TOP_ACCESS,
	TOP_NODES,
	TOP_UNDERLAY_WORKLOAD,
	TOP_CONTROL,
	TOP_USERS,
	TOP_POLICY,
	TOP_SERVICES,
	TOP_WORKLOADS,
	TOP_TIMELINE,
	TOP_EXPECT,
	TOP_EXPLORE,
};

enum explore_key { EXPLORE_FAULTS = 0, EXPLORE_QUIET_TAIL, EXPLORE_MAX_FAULTS, EXPLORE_SETTLE };

enum explore_fault_key { EFAULT_KIND = 0, EFAULT_RATE, EFAULT_MIN, EFAULT_MAX };

enum link_key {
	LINK_BETWEEN = 0,
	LINK_LATENCY,
	LINK_BANDWIDTH,
	LINK_LOSS,
	LINK_JITTER,
	LINK_REORDER,
	LINK_DUPLICATE,
};

enum access_key {
	ACCESS_LATENCY = 0,
	ACCESS_BANDWIDTH,
	ACCESS_LOSS,
	ACCESS_JITTER,
	ACCESS_REORDER,
	ACCESS_DUPLICATE,
};

enum node_key {
	NODE_NAME = 0,
	NODE_REGION,
	NODE_COUNT,
	NODE_TAGS,
	NODE_USER,
	NODE_BACKENDS,
	NODE_SERVE,
	NODE_FILES,
};

enum file_key { FILE_SIZE = 0 };

enum rr_key { RR_RATE = 0, RR_REQUEST, RR_RESPONSE, RR_START, RR_STOP, RR_PORT };

enum control_key { CONTROL_REGION = 0 };

enum user_key { USER_ROLE = 0, USER_DISPLAY_NAME };

enum service_key { SERVICE_NAME = 0, SERVICE_DESCRIPTION, SERVICE_PORTS, SERVICE_TAGS };

enum backend_key { BACKEND_LISTEN = 0, BACKEND_KIND, BACKEND_SERVICE_TIME, BACKEND_BODY };

enum workload_key {
	WL_NAME = 0,
	WL_FROM,
	WL_TO,
	WL_KIND,
	WL_RATE,
	WL_CONNECTION,
	WL_PATH,
	WL_REQUEST,
	WL_RESPONSE,
	WL_START,
	WL_STOP,
	WL_CONNECTIONS,
	WL_HOLD,
};

enum timeline_key {
	TL_AT = 0,
	TL_NODE,
	TL_RUN,
	TL_CRASH,
	TL_RESTART,
	TL_PARTITION,
	TL_HEAL,
	TL_LINK,
	TL_ADMIN,
	TL_AS,
	TL_CONTROL,
	TL_POLICY,
	TL_ISOLATE,
	TL_REJOIN,
	TL_PARTITION_ONE_WAY,
	TL_HEAL_ONE_WAY,
	TL_ORIGIN_CRASH,
	TL_ORIGIN_RESTART,
	TL_ORIGIN_SLOW,
	TL_ORIGIN_ERROR,
	TL_ORIGIN_OK,
	TL_DELAY,
	TL_EXPECT_ERROR,
	TL_PAUSE,
	TL_RESUME,
};

enum tlink_key {
	TLINK_BETWEEN = 0,
	TLINK_LATENCY,
	TLINK_BANDWIDTH,
	TLINK_LOSS,
	TLINK_NODE,
	TLINK_JITTER,
	TLINK_REORDER,
	TLINK_DUPLICATE,
};

enum expect_key {
	EX_WORKLOAD = 0,
	EX_NODE,
	EX_HOST,
	EX_SERVICE,
	EX_STATE,
	EX_AT,
	EX_FROM,
	EX_TO,
	EX_AFTER,
	EX_SUCCESS_RATE,
	EX_P50,
	EX_P90,
	EX_P99,
	EX_P999,
	EX_MAX,
	EX_NEW_CONNECTIONS,
	EX_FAILOVER_TIME,
	EX_RESETS,
	EX_NEVER,
	EX_THROUGHOUT,
	EX_EVENTUALLY,
	EX_INVARIANT,
};

enum throughout_key { THR_WINDOW = 0 };

enum eventually_key { EVT_WITHIN = 0, EVT_AFTER, EVT_WINDOW };

/* The words a string key accepts (NULL-terminated), and the two tables
 * whose key names messages quote by index. */
extern const char *const scenario_role_words[];
extern const char *const scenario_backend_words[];
extern const char *const scenario_workload_words[];
extern const char *const scenario_connection_words[];
extern const char *const scenario_control_words[];
extern const char *const scenario_never_words[];
extern const char *const scenario_fault_words[];
extern const struct scenario_key scenario_timeline_keys[];
extern const struct scenario_key scenario_expect_keys[];

/* ---- the loader ---- */

struct loader {
	const char *filename;
	yaml_document_t *doc;
	struct scenario_diags *diags;
	struct scenario *sc;
	bool oom;
	struct policy *policy; /* parsed policy (tags owned), NULL: none */
	const yaml_node_t *policy_node;
	const char **defined; /* services an admin `define` in the timeline creates */
	size_t n_defined;
	bool nodes_ok; /* node names are good: references can be checked */
	/* lookups in O(log n), so references cost no scan of every name */
	struct scenario_node_group **by_name; /* groups by name, once unique */
	const char **services;                /* services and defines, sorted */
	size_t n_services;
	const struct scenario_user **users; /* by login (then file order) */
	uint64_t clients, glob_tests;       /* workload clients, names tested by globs */
	uint64_t file_bytes;                /* every node's `files`, after count */
};

/* The strings a scenario owns (ld_strdup), freed with it. */
struct scenario_chunk {
	struct list_node link; /* in scenario.strings, the newest first */
	size_t used, cap;
	char data[];
};

/* ---- small YAML helpers ---- */

static inline yaml_node_t *node_get(struct loader *ld, int id)
{
	yaml_node_t *n = yaml_document_get_node(ld->doc, id);
	CHECK(n != NULL);
	return n;
}

static inline const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = scalar(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static inline size_t seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static inline yaml_node_t *seq_item(struct loader *ld, const yaml_node_t *seq, size_t i)
{
	return node_get(ld, seq->data.sequence.items.start[i]);
}

static inline void pos_of(const yaml_node_t *n, unsigned *line, unsigned *column)
{
	*line = (unsigned)n->start_mark.line + 1;
	*column = (unsigned)n->start_mark.column + 1;
}

/* ---- did-you-mean (scenario_hint.c) ---- */

/* The closest candidate within edit distance 2, or NULL. */
const char *ld_nearest(const char *word, const char *const *cands, size_t n);
/* Fills buf with " (did you mean 'x'?)" for the closest candidate within
 * distance 2, or "". */
void ld_did_you_mean(const char *word, const char *const *cands, size_t n, char *buf, size_t len);
/* Did-you-mean hints cost a scan of every candidate: not once no more
 * diagnostics are kept. */
bool ld_hints_wanted(const struct loader *ld);
/* ld_did_you_mean over a list built on the heap (NULL: out of memory, or
 * hints not wanted). */
void ld_hint_from(struct loader *ld, const char *word, const char **cands, size_t n, char *hint,
                  size_t len);

/* ---- diagnostics and values every section checks (scenario_check.c) ---- */

void ld_diags_add(struct scenario_diags *diags, bool warning, unsigned line, unsigned col,
                  const char *filename, const char *msg);
/* A diagnostic at a YAML node's position. */
void ld_report(struct loader *ld, bool warning, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error at a remembered position (line, column 1-based). */
void ld_error_pos(struct loader *ld, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define error_at(ld, at, ...) ld_report(ld, false, at, __VA_ARGS__)
#define warn_at(ld, at, ...)  ld_report(ld, true, at, __VA_ARGS__)

/* "a mapping", "a sequence", "'text'" or "nothing": what a value is. */
const char *ld_describe(const yaml_node_t *n, char *buf, size_t len);
/* True when a sequence item is a mapping; else reports "expected a mapping
 * for `what`" at it. */
bool ld_is_mapping_for(struct loader *ld, const yaml_node_t *item, const char *what);
/* One mapping checked against a key table: unknown keys (with a did you
 * mean), duplicates, shapes and required keys. vals[i]/keys[i] receive the
 * value/key node of table entry i, or NULL. Returns false on any error. */
bool ld_collect(struct loader *ld, const yaml_node_t *map, enum scenario_section section,
                const char *where, yaml_node_t **keys, yaml_node_t **vals);
/* Integer in [min, max]. */
bool ld_get_integer(struct loader *ld, const char *key, const yaml_node_t *v, long long min,
                    long long max, long long *out);
bool ld_get_duration(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t max_us,
                     const char *max_text, uint64_t *out);
bool ld_get_size(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t *out);
/* A name: non-empty, at most SCENARIO_NAME_MAX, safe as a folder name. */
bool ld_check_name(struct loader *ld, const char *what, const yaml_node_t *v);
/* A copy the scenario owns; "" (and ld->oom) when out of memory. */
const char *ld_strdup(struct loader *ld, const char *s);
/* The same for `n` bytes (a NUL added after them). */
const char *ld_strndup(struct loader *ld, const char *s, size_t n);
/* Every item of a sequence is a non-empty scalar (tags, serve lines, ports). */
bool ld_seq_scalars(struct loader *ld, const char *key, const yaml_node_t *seq);
/* "a, b or c" from a NULL-terminated word list. */
void ld_words_text(const char *const *words, char *buf, size_t len);
/* A scalar that must be one of `words`: its index, or -1 after reporting
 * "unknown <what> 'x' (expected a, b or c; did you mean 'b'?)". */
int ld_choice_ref(struct loader *ld, const char *what, const yaml_node_t *v,
                  const char *const *words);

/* ---- names and references (scenario_names.c) ---- */

/* The group named `name` (count any) once names are unique, or NULL. */
const struct scenario_node_group *ld_group(const struct loader *ld, const char *name);
/* scenario_node_find() by binary search once the names are known unique. */
int ld_node_find(struct loader *ld, const char *name, uint32_t *index);
/* Once services and the timeline's defines are known: their names, sorted. */
void ld_index_services(struct loader *ld);
/* Once users are loaded: their indexes by login. */
void ld_index_users(struct loader *ld);
/* A user reference: the index, or -1 after reporting it. */
int ld_user_ref(struct loader *ld, const yaml_node_t *v);
/* Candidate node names for a did-you-mean (malloc'd; NULL when out of
 * memory or when hints are not wanted). */
const char **ld_node_cands(struct loader *ld, size_t *n, bool globs, const char *word);
/* An expanded node name: 0 and *index, or -1 after reporting it. */
int ld_node_ref(struct loader *ld, const char *what, const yaml_node_t *v, uint32_t *index);
/* Is `name` a service in services or created by a timeline define? */
bool ld_service_known(struct loader *ld, const char *name);
/* The did-you-mean among every known service, or with `dns` among their
 * MagicDNS names and the nodes' names. */
void ld_service_hint(struct loader *ld, const char *word, bool dns, char *hint, size_t len);
/* A reference to a known service: true, or false after reporting it. */
bool ld_service_ref(struct loader *ld, const char *what, const yaml_node_t *at, const char *name);
/* SVC-1 on a scalar; reports "service name 'x' is not valid (SVC-1: ...)". */
bool ld_check_service_name(struct loader *ld, const yaml_node_t *at, const char *name);

/* ---- the YAML document within its limits (scenario_yaml.c) ---- */

/* Parses the stream's first document into *doc. 1: a document (the caller
 * deletes it); 0: the stream holds none; -1: an error, reported. */
int ld_compose_document(struct loader *ld, yaml_parser_t *parser, yaml_document_t *doc);
/* After the document the stream must end: one document per file. */
bool ld_compose_end(struct loader *ld, yaml_parser_t *parser);

/* ---- one loader per top-level section ---- */

/* scenario_topology.c: regions, links, access. */
/* The values of a link's parameter keys (NULL: not given). */
struct ld_link_vals {
	yaml_node_t *latency, *bandwidth, *loss, *jitter, *reorder, *duplicate;
};
bool ld_get_link_params(struct loader *ld, const struct ld_link_vals *v,
                        struct scenario_link_params *out);
int ld_region_find(const struct scenario *sc, const char *name);
int ld_region_ref(struct loader *ld, const yaml_node_t *v);
bool ld_load_regions(struct loader *ld, const yaml_node_t *map);
bool ld_load_links(struct loader *ld, const yaml_node_t *seq,
                   const struct scenario_link_params *defaults);
/* `access` and `control` (with `regions_ok`: control's region is checked
 * only against a good list of regions). */
bool ld_load_access(struct loader *ld, const yaml_node_t *map);
bool ld_load_control(struct loader *ld, const yaml_node_t *map, bool regions_ok);
void ld_warn_disconnected(struct loader *ld, const yaml_node_t *at);
/* scenario_policy.c: users, policy and the tags it owns. */
bool ld_load_users(struct loader *ld, const yaml_node_t *map);
bool ld_load_policy(struct loader *ld, const yaml_node_t *key, const yaml_node_t *map);
/* A policy written in YAML (`map`, under `key`) as JSON text control
 * accepts, owned by the scenario; NULL after reporting why not. With
 * `parsed`, *parsed gets the parsed policy (the caller frees it). */
const char *ld_policy_text(struct loader *ld, const yaml_node_t *key, const yaml_node_t *map,
                           struct policy **parsed);
bool ld_check_tag(struct loader *ld, const yaml_node_t *at, const char *tag);
/* scenario_services.c */
const char *ld_parse_port_range(const char *s, struct scenario_port_range *r);
bool ld_load_services(struct loader *ld, const yaml_node_t *seq);
/* scenario_nodes.c */
bool ld_check_serve_line(struct loader *ld, const yaml_node_t *v);
bool ld_load_nodes(struct loader *ld, const yaml_node_t *key_node, const yaml_node_t *seq);
/* A node's `files` (scenario_files.c) into g (its count known). */
bool ld_load_files(struct loader *ld, const yaml_node_t *map, struct scenario_node_group *g);
/* scenario_workloads.c */
bool ld_load_workloads(struct loader *ld, const yaml_node_t *seq);
bool ld_load_underlay_workload(struct loader *ld, const yaml_node_t *v, bool duration_ok);
/* scenario_timeline.c */
void ld_scan_defines(struct loader *ld, const yaml_node_t *seq);
bool ld_load_timeline(struct loader *ld, const yaml_node_t *seq);
/* scenario_expect.c */
bool ld_load_expect(struct loader *ld, const yaml_node_t *seq);

/* ---- the explore section (scenario_explore.c) ---- */

bool ld_load_explore(struct loader *ld, const yaml_node_t *map);

#endif
