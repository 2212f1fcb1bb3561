/* The scenario loader: YAML text -> struct scenario, or a list of
 * `file:line:col: message` diagnostics. A pure function of (text, file
 * name): no ns-3, no I/O besides scenario_load_file() reading the file.
 *
 * The user-facing contract is SCENARIO.md; docs/scenario-keys.md says what
 * this version reads and checks. The whole language is validated before
 * anything runs: shapes, units, limits, names that must refer to something
 * (with a did-you-mean), serve lines (proxy/serve/serve_cmd.h's grammar), the
 * policy (control/policy.h's parser, errors mapped back to YAML positions),
 * admin commands, the timeline's order, and expectations (reports/expect.h).
 * Every key is described once, in the key tables scenario_keys() returns;
 * the docs' key reference and docs/scenario-schema.json are generated from
 * them (scenario_keys_markdown, scenario_schema_json).
 *
 * Everything a struct scenario points to is owned by it (scenario_free).
 */
#ifndef SIM_SCENARIO_SCENARIO_H
#define SIM_SCENARIO_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/base/list.h"
#include "reports/expect.h"

/* Limits (a limit on everything). */
#define SCENARIO_NAME_MAX          63  /* scenario, region, node, workload names (expanded) */
#define SCENARIO_TAILNET_MAX       253 /* a DNS name */
#define SCENARIO_REGIONS_MAX       256
#define SCENARIO_LINKS_MAX         4096
#define SCENARIO_NODES_MAX         100000 /* after count expansion */
#define SCENARIO_COUNT_MAX         100000
#define SCENARIO_DIAGS_MAX         20 /* errors kept; later ones are counted only */
#define SCENARIO_FILE_MAX          (16u << 20)
#define SCENARIO_USERS_MAX         4096
#define SCENARIO_LOGIN_MAX         253 /* a user login (alice@example.com) */
#define SCENARIO_DISPLAY_NAME_MAX  128
#define SCENARIO_TAG_MAX           128 /* "tag:..." */
#define SCENARIO_NODE_TAGS_MAX     8   /* tags of one node */
#define SCENARIO_SERVICES_MAX      4096
#define SCENARIO_SERVICE_NAME_MAX  67 /* "svc:" + a DNS label of at most 63 */
#define SCENARIO_SERVICE_TAGS_MAX  32
#define SCENARIO_SERVICE_PORTS_MAX 64
#define SCENARIO_DESCRIPTION_MAX   1024
#define SCENARIO_BACKENDS_MAX      8              /* backend programs of one node */
#define SCENARIO_SERVE_MAX         16             /* serve lines of one node */
#define SCENARIO_LINE_MAX          4096           /* one serve or admin command line */
#define SCENARIO_PATH_MAX          1024           /* a workload's HTTP path */
#define SCENARIO_FILES_MAX         32             /* files of one node (`files`) */
#define SCENARIO_FILE_PATH_MAX     255            /* a file's absolute path */
#define SCENARIO_FILES_BYTES_MAX   (16ull << 20)  /* bytes of one node's files */
#define SCENARIO_FILES_TOTAL_MAX   (256ull << 20) /* ... of every node's, after count */
#define SCENARIO_WORKLOADS_MAX     1024
#define SCENARIO_CONNECTIONS_MAX   4096 /* tcp-stream connections per node */
#define SCENARIO_UDP_REQUEST_MIN   8    /* udp-echo datagram bytes: a sequence number */
#define SCENARIO_UDP_REQUEST_MAX   1200 /* ... and at most what fits any path MTU */
#define SCENARIO_TIMELINE_MAX      10000
#define SCENARIO_EXPECT_MAX        EXPECT_MAX              /* checks, after splitting entries */
#define SCENARIO_POLICY_MAX        (1u << 20)              /* policy as JSON text */
#define SCENARIO_DURATION_MAX_US   (86400ull * 1000000ull) /* one simulated day */
#define SCENARIO_LATENCY_MAX_US    (10ull * 1000000ull)
#define SCENARIO_JITTER_MAX_US     (1000000ull)             /* a link's jitter */
#define SCENARIO_BANDWIDTH_MAX     (400ull * 1000000000ull) /* 400 Gbps */
#define SCENARIO_SIZE_MAX          (100ull * 1000000ull)    /* 100 MB per request/response */
#define SCENARIO_RATE_MAX          100000.0                 /* per node per second */
#define SCENARIO_SEED_MAX          4294967295ull

/* The YAML document, checked while it is parsed (REL-5): nesting of
 * mappings and sequences, anchors and alias uses, and its size with every
 * alias expanded (nodes, and bytes of scalar text: no more than a file
 * without aliases may hold). */
#define SCENARIO_DEPTH_MAX       64
#define SCENARIO_ANCHORS_MAX     1024
#define SCENARIO_ANCHOR_NAME_MAX 128
#define SCENARIO_ALIASES_MAX     10000
#define SCENARIO_YAML_NODES_MAX  2000000
#define SCENARIO_YAML_BYTES_MAX  SCENARIO_FILE_MAX
/* What workloads make the run set up, and the work of matching their
 * `from`: clients in all (a node a workload runs on; per connection for
 * tcp-stream), and node names tested by globs other than NAME or NAME*. */
#define SCENARIO_FROM_MAX       128
#define SCENARIO_CLIENTS_MAX    1000000
#define SCENARIO_GLOB_TESTS_MAX 4000000

/* Value kinds of keys; also the type names the docs print. */
enum scenario_kind {
	SCENARIO_KIND_NONE = 0,
	SCENARIO_KIND_STRING, /* a scalar (with `choices`: one of them) */
	SCENARIO_KIND_NAME,   /* a scalar safe as a folder name */
	SCENARIO_KIND_INTEGER,
	SCENARIO_KIND_DURATION,   /* us ms s m */
	SCENARIO_KIND_RATE,       /* N/s */
	SCENARIO_KIND_BANDWIDTH,  /* bps Kbps Mbps Gbps */
	SCENARIO_KIND_SIZE,       /* B KB MB (1000), KiB MiB (1024) */
	SCENARIO_KIND_PERCENT,    /* N% */
	SCENARIO_KIND_MAPPING,    /* the keys of section `sub` */
	SCENARIO_KIND_SEQUENCE,   /* items of kind `item` (MAPPING items: section `sub`) */
	SCENARIO_KIND_WORKLOAD,   /* `off` or a mapping of section `sub` */
	SCENARIO_KIND_ENTRIES,    /* a mapping name -> mapping of section `sub` */
	SCENARIO_KIND_OBJECT,     /* any mapping (the policy) */
	SCENARIO_KIND_PAIR,       /* a sequence of exactly two names */
	SCENARIO_KIND_COMPARISON, /* "<op> value" or a plain value meaning == */
	SCENARIO_KIND_FILES,      /* a mapping absolute path -> text or a mapping of `sub` */
};

enum scenario_section {
	SCENARIO_SECTION_TOP = 0,
	SCENARIO_SECTION_LINK,
	SCENARIO_SECTION_ACCESS,
	SCENARIO_SECTION_NODE,
	SCENARIO_SECTION_UNDERLAY_WORKLOAD,
	SCENARIO_SECTION_REGION,
	SCENARIO_SECTION_CONTROL,
	SCENARIO_SECTION_USER,
	SCENARIO_SECTION_SERVICE,
	SCENARIO_SECTION_BACKEND,
	SCENARIO_SECTION_WORKLOAD,
	SCENARIO_SECTION_TIMELINE,
	SCENARIO_SECTION_TIMELINE_LINK,
	SCENARIO_SECTION_EXPECT,
	SCENARIO_SECTION_FILE,
	SCENARIO_SECTION_EXPLORE,
	SCENARIO_SECTION_EXPLORE_FAULT,
	SCENARIO_SECTION_EXPECT_THROUGHOUT,
	SCENARIO_SECTION_EXPECT_EVENTUALLY,
	SCENARIO_SECTION_COUNT,
};

/* One key of one section. */
struct scenario_key {
	const char *name;
	enum scenario_kind kind;
	bool required;
	bool implemented;         /* false: accepted (type-checked) with a warning, ignored */
	const char *default_text; /* NULL: no default */
	const char *doc;
	enum scenario_section sub;  /* MAPPING, WORKLOAD, ENTRIES, SEQUENCE of MAPPING */
	enum scenario_kind item;    /* SEQUENCE: kind of each item */
	const char *const *choices; /* STRING: the accepted words (NULL-terminated), or NULL */
	bool project;               /* added by the project (not in SCENARIO.md) */
};

/* The key table of a section, terminated by an entry with name NULL. */
const struct scenario_key *scenario_keys(enum scenario_section section);
const char *scenario_section_name(enum scenario_section section);
const char *scenario_kind_name(enum scenario_kind kind);
/* "20s", "1500ms", "250us": a time as a scenario would write it, for
 * messages. Returns buf. */
const char *scenario_time_text(uint64_t us, char *buf, size_t len);

/* The JSON Schema (draft 2020-12) of the scenario file, generated from the
 * key tables (docs/scenario-schema.json is this text), and the Markdown key
 * reference (the generated part of docs/scenario-keys.md). malloc'd, NULL
 * on -ENOMEM. */
char *scenario_schema_json(void);
char *scenario_keys_markdown(void);

struct scenario_link_params {
	uint64_t latency_us;    /* one way */
	uint64_t bandwidth_bps; /* > 0 */
	double loss;            /* 0..1 */
	uint64_t jitter_us;     /* each packet's delay: latency + uniform [0, jitter] */
	double reorder;         /* 0..1 of packets held back by latency + jitter (>= 1 ms) */
	double duplicate;       /* 0..1 of packets delivered twice */
};

struct scenario_region {
	char name[SCENARIO_NAME_MAX + 1];
};

struct scenario_link {
	int region_a, region_b; /* indexes into regions, a != b */
	struct scenario_link_params params;
};

enum scenario_role {
	SCENARIO_ROLE_OWNER = 0,
	SCENARIO_ROLE_ADMIN,
	SCENARIO_ROLE_NETWORK_ADMIN,
	SCENARIO_ROLE_MEMBER,
};

struct scenario_user {
	char login[SCENARIO_LOGIN_MAX + 1];
	enum scenario_role role;
	char display_name[SCENARIO_DISPLAY_NAME_MAX + 1]; /* "" when not given */
};

struct scenario_port_range {
	uint16_t first, last; /* TCP, first <= last */
};

/* A service defined at t=0 (SVC-1, SVC-4, SVC-5). */
struct scenario_service {
	char name[SCENARIO_SERVICE_NAME_MAX + 1]; /* "svc:web" */
	const char *description;                  /* "" when not given */
	bool do_not_validate;                     /* ports: [do-not-validate] */
	size_t n_ports;
	struct scenario_port_range ports[SCENARIO_SERVICE_PORTS_MAX];
	const char *ports_text; /* "tcp:443,tcp:80" or "do-not-validate" (admin --ports=) */
	size_t n_tags;
	const char *tags[SCENARIO_SERVICE_TAGS_MAX];
	unsigned line, column;
};

enum scenario_backend_kind {
	SCENARIO_BACKEND_HTTP = 0,
	SCENARIO_BACKEND_TCP_ECHO,
	SCENARIO_BACKEND_TCP_SINK,
	SCENARIO_BACKEND_UDP_ECHO,
};

/* A program on a node's loopback. */
struct scenario_backend {
	enum scenario_backend_kind kind;
	uint16_t port; /* listens on 127.0.0.1:port */
	uint64_t service_time_us;
	uint64_t body_bytes; /* http: response body */
};

/* A serve command line and where it is written. */
struct scenario_serve_line {
	const char *text;
	unsigned line, column;
};

/* A file in a node's own tree (project-added key `files`): the text
 * written in the scenario, or `size` generated bytes. */
struct scenario_file {
	const char *path;    /* absolute and clean, at most SCENARIO_FILE_PATH_MAX */
	const char *content; /* NULL: generated (scenario_file_bytes) */
	uint64_t size;       /* bytes (content's length when written) */
	unsigned line, column;
};

/* A file's bytes into `out` (f->size bytes): its text, or the generated
 * content, the 64-byte line "abc...xyzABC...XYZ0123456789+\n" repeated and
 * cut at `size`. */
void scenario_file_bytes(const struct scenario_file *f, uint8_t *out);

/* One `nodes:` entry; count > 1 expands to name-0 .. name-(count-1). */
struct scenario_node_group {
	char name[SCENARIO_NAME_MAX + 1];
	int region;
	uint32_t count;
	uint32_t first_index; /* global index of the group's first node */
	int user;             /* index into users, -1: none */
	size_t n_tags;
	const char *tags[SCENARIO_NODE_TAGS_MAX];
	size_t n_backends;
	struct scenario_backend backends[SCENARIO_BACKENDS_MAX];
	size_t n_serve;
	struct scenario_serve_line serve[SCENARIO_SERVE_MAX];
	size_t n_files;
	struct scenario_file *files; /* malloc'd; every node of the group gets them */
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

enum scenario_workload_kind {
	SCENARIO_WORKLOAD_HTTP = 0,
	SCENARIO_WORKLOAD_TCP_ECHO,
	SCENARIO_WORKLOAD_TCP_STREAM,
	SCENARIO_WORKLOAD_UDP_ECHO, /* one datagram per request, echoed (L3 services) */
};

enum scenario_connection {
	SCENARIO_CONNECTION_NEW = 0, /* one connection per request */
	SCENARIO_CONNECTION_KEEPALIVE,
};

enum scenario_target_kind {
	SCENARIO_TARGET_SERVICE = 0, /* svc:X:port or <label>.<tailnet>:port of a service */
	SCENARIO_TARGET_NODE,        /* <node>.<tailnet>:port: a node's MagicDNS name */
	SCENARIO_TARGET_VIP,         /* an address literal: 100.x.y.z:port or [fd7a:...]:port */
};

/* A tailnet client workload: every node `from` matches is a client. */
struct scenario_workload {
	char name[SCENARIO_NAME_MAX + 1];
	const char *from; /* a node name or fnmatch glob over expanded names */
	const char *to;   /* as written */
	enum scenario_target_kind target;
	char service[SCENARIO_SERVICE_NAME_MAX + 1]; /* SERVICE: "svc:web" */
	uint32_t node;                               /* NODE: expanded node index */
	char address[64];                            /* VIP: the address without the port */
	const char *host_name; /* the DNS name of `to` ("web.example.ts.net"); VIP: address */
	uint16_t port;
	enum scenario_workload_kind kind;
	double rate_per_s; /* per client node; http, tcp-echo and udp-echo */
	enum scenario_connection connection;
	const char *path;        /* http: default "/" */
	uint64_t request_bytes;  /* http: 0 = GET, else a POST body; tcp-echo, udp-echo: 0 = 64 */
	uint64_t response_bytes; /* 0 = what the backend sends */
	uint64_t start_us, stop_us;
	uint32_t connections; /* tcp-stream: per client node */
	uint64_t hold_us;     /* tcp-stream: each stream's lifetime; 0 = until stop */
	unsigned line, column;
};

enum scenario_action {
	SCENARIO_ACTION_SERVE = 0, /* {node, run: "serve ..."} */
	SCENARIO_ACTION_CRASH,
	SCENARIO_ACTION_RESTART,
	SCENARIO_ACTION_PARTITION,
	SCENARIO_ACTION_HEAL,
	SCENARIO_ACTION_LINK,
	SCENARIO_ACTION_ADMIN,
	SCENARIO_ACTION_CONTROL_CRASH,
	SCENARIO_ACTION_CONTROL_RESTART,
	SCENARIO_ACTION_CONTROL_DISK,       /* {control: disk-full|fsync-fail|disk-ok} */
	SCENARIO_ACTION_CONTROL_TORN_WRITE, /* a crash in the middle of a state write */
	SCENARIO_ACTION_ISOLATE,            /* {isolate: NODE}: its access link down */
	SCENARIO_ACTION_REJOIN,             /* {rejoin: NODE}: up again */
	SCENARIO_ACTION_ORIGIN_CRASH,       /* {origin_crash: NODE}: its backends die */
	SCENARIO_ACTION_ORIGIN_RESTART,     /* {origin_restart: NODE}: they start again */
	SCENARIO_ACTION_ORIGIN_SLOW,        /* {origin_slow: NODE, delay: D}: HTTP answers D late */
	SCENARIO_ACTION_ORIGIN_ERROR,       /* {origin_error: NODE}: HTTP answers 500 */
	SCENARIO_ACTION_ORIGIN_OK,          /* {origin_ok: NODE}: healthy again */
	SCENARIO_ACTION_PAUSE,              /* {pause: NODE}: its daemon stopped (SIGSTOP) */
	SCENARIO_ACTION_RESUME,             /* {resume: NODE}: continued (SIGCONT) */
};

/* CONTROL_DISK: the state of control's disk from then on. */
enum scenario_disk {
	SCENARIO_DISK_OK = 0,
	SCENARIO_DISK_FULL,
	SCENARIO_DISK_FSYNC_FAIL,
};

enum scenario_admin_verb {
	SCENARIO_ADMIN_DEFINE = 0,
	SCENARIO_ADMIN_DELETE,
	SCENARIO_ADMIN_APPROVE,
	SCENARIO_ADMIN_REJECT,
	SCENARIO_ADMIN_REVOKE,
	SCENARIO_ADMIN_SET_POLICY,
	SCENARIO_ADMIN_SET_TAGS, /* set-tags NODE TAG...: the node in host, tags in tags */
};

/* One timeline entry; entries are sorted by `at_us`, equal times in file
 * order. The loader has checked that the order makes sense (a restart
 * follows a crash, a heal a partition, no serve command on a crashed node). */
struct scenario_event {
	uint64_t at_us;
	enum scenario_action action;
	uint32_t node;      /* SERVE, CRASH, RESTART, PAUSE, RESUME: expanded node index */
	const char *run;    /* SERVE: the serve line */
	bool between_nodes; /* PARTITION, HEAL: a, b are node indexes, else region indexes */
	uint32_t a, b;
	bool one_way; /* PARTITION, HEAL of regions: only packets from a to b */
	int link;     /* LINK: index into links; -1: node's access link (access) */
	bool access;  /* LINK: the access link of `node` */
	bool set_latency, set_bandwidth, set_loss;   /* LINK: which parameters change */
	bool set_jitter, set_reorder, set_duplicate; /* LINK: ... */
	struct scenario_link_params params;          /* LINK */
	const char *command;                         /* ADMIN: the admin command line as written */
	enum scenario_admin_verb verb;               /* ADMIN */
	char service[SCENARIO_SERVICE_NAME_MAX + 1]; /* ADMIN but SET_POLICY, SET_TAGS */
	uint32_t host; /* ADMIN APPROVE, REJECT, REVOKE, SET_TAGS: node index */
	size_t n_tags; /* ADMIN SET_TAGS: the node's tags from then on */
	const char *tags[SCENARIO_NODE_TAGS_MAX];
	const char *file; /* ADMIN SET_POLICY: as written; or NULL */
	/* ADMIN SET_POLICY without a file: the policy itself, as JSON text
	 * (the timeline entry's `policy` key; explore's grant faults). */
	const char *policy;
	int user;                /* ADMIN: index into users (`as`) */
	enum scenario_disk disk; /* CONTROL_DISK */
	uint64_t delay_us;       /* ORIGIN_SLOW: how much later each answer comes */
	unsigned line, column;   /* of the action key (messages) */
	/* expect_error (EXP-6): NULL, the action must be carried out; else it
	 * must fail with a reason containing this text. */
	const char *expect_error;
};
/* Longest expect_error text. */
#define SCENARIO_EXPECT_ERROR_MAX 256
/* Longest origin_slow delay (= HTTP_BACKEND_MAX_FAULT_DELAY_US). */
#define SCENARIO_ORIGIN_DELAY_MAX_US (60ull * 1000000)
/* The status an erroring origin answers with. */
#define SCENARIO_ORIGIN_ERROR_STATUS 500

/* The faults `simrun explore` may draw (EXP-1): kinds the timeline carries
 * out, each paired with its heal (crash/restart, partition/heal, a link
 * change and its undo, control crash/restart, a disk fault and disk-ok, a
 * torn write and control's restart, revoke or reject and approve, drain
 * and advertise, a grant removed and the policy restored, a node's tags
 * set by an admin and set back). */
enum scenario_fault_kind {
	SCENARIO_FAULT_CRASH = 0,
	SCENARIO_FAULT_PARTITION,
	SCENARIO_FAULT_LINK,
	SCENARIO_FAULT_CONTROL_CRASH,
	SCENARIO_FAULT_CONTROL_DISK,
	SCENARIO_FAULT_TORN_WRITE,
	SCENARIO_FAULT_REVOKE,
	SCENARIO_FAULT_REJECT,
	SCENARIO_FAULT_DRAIN,
	SCENARIO_FAULT_GRANT,
	SCENARIO_FAULT_ISOLATE,
	SCENARIO_FAULT_ONE_WAY,
	SCENARIO_FAULT_ACCESS,
	SCENARIO_FAULT_LOSS,
	SCENARIO_FAULT_ORIGIN,
	SCENARIO_FAULT_ORIGIN_SLOW,
	SCENARIO_FAULT_ORIGIN_ERROR,
	SCENARIO_FAULT_PAUSE,
	SCENARIO_FAULT_TAGS,      /* a host's node gets another owned tag set; heal: its own */
	SCENARIO_FAULT_JITTER,    /* a link's jitter and reorder, then back */
	SCENARIO_FAULT_DUPLICATE, /* a link's duplicate, then back */
	SCENARIO_FAULT_KINDS,
};
/* The invariants an `invariant:` expectation names (sim/explore/invariant.h
 * keeps its enum in this order), then "all"; NULL-terminated. */
extern const char *const scenario_invariant_words[];
#define SCENARIO_INVARIANTS 12 /* before "all" */

/* "crash", "partition", "link", "control-crash", "control-disk", ... */
const char *scenario_fault_kind_name(enum scenario_fault_kind kind);

struct scenario;

/* A host: a node whose serve lines advertise a service (a serve line that
 * names it, except drain and clear). What explore's admin and drain faults
 * act on. */
struct scenario_host {
	uint32_t node;
	char service[SCENARIO_SERVICE_NAME_MAX + 1];
};
/* The scenario's hosts, in node then serve-line order, each pair once;
 * the first `cap` in out. Returns how many there are. */
size_t scenario_hosts(const struct scenario *sc, struct scenario_host *out, size_t cap);
/* The first user who may run admin writes (owner, admin, network-admin):
 * its index in users, or -1. */
int scenario_admin_user(const struct scenario *sc);
/* Does expanded node `node` run backend programs? */
bool scenario_node_has_backends(const struct scenario *sc, uint32_t node);
/* Whether one of them is an http backend (origin_slow, origin_error). */
bool scenario_node_has_http_backend(const struct scenario *sc, uint32_t node);
/* The number of grants in the scenario's policy (0 without one). */
size_t scenario_policy_grants(const struct scenario *sc);

struct scenario_event;
/* Do two timeline entries cut (or mend) the same thing: the same two
 * regions or nodes (a one-way partition: in the same direction), or the
 * same isolated node? The loader and the simulator pair partitions with
 * heals by it. */
bool scenario_cut_same(const struct scenario_event *x, const struct scenario_event *y);
/* The link parameters a `link:` entry sets (set_latency, ...), written
 * over `p`: what the link is after it. The simulator and the checker
 * both follow links by it. */
void scenario_link_params_apply(struct scenario_link_params *p, const struct scenario_event *e);

#define SCENARIO_EXPLORE_RATE_MAX   600   /* faults per simulated minute */
#define SCENARIO_EXPLORE_FAULTS_MAX 10000 /* max_faults */

/* One entry of the fault menu. */
struct scenario_explore_fault {
	enum scenario_fault_kind kind;
	uint32_t rate_per_min;   /* mean faults per simulated minute */
	uint64_t min_us, max_us; /* how long a fault lasts before its heal */
	unsigned line, column;
};

/* The optional `explore:` section; present false when absent. */
struct scenario_explore {
	bool present;
	struct scenario_explore_fault faults[SCENARIO_FAULT_KINDS]; /* each kind once */
	size_t n_faults;
	uint64_t quiet_tail_us; /* before the end: no fault starts, all healed */
	uint32_t max_faults;
	/* The liveness bound of the invariant checker (EXP-2): how long after
	 * the last heal everything must work again; 0 when the section is
	 * absent (the checker's default then). */
	uint64_t settle_us;
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
	int control_region; /* where the coordination server runs */
	struct scenario_user *users;
	size_t n_users;
	char *policy_json; /* the policy as JSON text for policy_parse; NULL: none given */
	struct scenario_service *services;
	size_t n_services;
	struct scenario_workload *workloads;
	size_t n_workloads;
	struct scenario_event *events; /* the timeline, by time */
	size_t n_events;
	struct expect *expects; /* one check each (an entry with two bounds gives two) */
	size_t n_expects;
	struct scenario_explore explore;
	/* scenario_clip dropped a timeline entry only a tailnet world can carry
	 * out: the world stays the one the whole scenario needs */
	bool clipped_tailnet_action;
	struct list_head strings; /* chunks owning every const char * above */
};

/* Whether a timeline entry needs a tailnet world (daemons, control): any
 * action but partition, heal and link. */
bool scenario_event_needs_tailnet(const struct scenario_event *e);

/* What scenario_clip cut, for a note to the user. */
struct scenario_clip_note {
	size_t events_dropped; /* timeline entries at or after the new end */
	size_t workloads_cut;  /* workloads that would have run past it */
};

/* The scenario cut to its first duration_us (more than 0, at most its
 * duration): timeline entries at or after the new end are dropped, every
 * workload stops by it, the explore section's settle bound is halved when
 * it no longer fits. Expectations stay as written (one about a later time
 * sees what the shorter run did). 0, or -EINVAL with why. */
int scenario_clip(struct scenario *sc, uint64_t duration_us, struct scenario_clip_note *note,
                  char *why, size_t why_len);

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
 * error in `diags` (-ENOMEM on allocation failure, -EFBIG for more than
 * SCENARIO_FILE_MAX bytes, refused before parsing). `diags` is cleared
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

/* Expanded node index of `name` ("web-us", "client-7"): 0 and *index, or
 * -ENOENT. */
int scenario_node_find(const struct scenario *sc, const char *name, uint32_t *index);
/* Does expanded node `index` belong to workload w's clients (`from`)? */
bool scenario_workload_has_client(const struct scenario *sc, const struct scenario_workload *w,
                                  uint32_t index);
/* The user index of `login`, or -1. */
int scenario_user_find(const struct scenario *sc, const char *login);
/* The service index of `name` ("svc:web") among services, or -1. */
int scenario_service_find(const struct scenario *sc, const char *name);
/* "owner", "admin", "network-admin", "member". */
const char *scenario_role_name(enum scenario_role role);
/* SVC-1: NULL when `name` is a valid service name, else the rule broken. */
const char *scenario_service_name_problem(const char *name);

#endif
