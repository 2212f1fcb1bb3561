/* The scenario loader (see scenario.h). Walks libyaml's document tree so
 * every node carries its line and column; all checks are table-driven by
 * the key descriptors below. */
#include "sim/scenario/scenario.h"
#include "lib/base/check.h"

#include "control/policy.h"
#include "lib/base/errfmt.h"
#include "proxy/serve/serve_cmd.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SCENARIO_KEYS_MAX 32 /* per section */

/* ---- the key tables: the one place every key is described ---- */

#define KEY(n, k, req, def, text, ...)                                                             \
	{                                                                                          \
		.name = (n), .kind = (k), .required = (req), .implemented = true,                  \
		.default_text = (def), .doc = (text), __VA_ARGS__                                  \
	}
#define KEY_END                                                                                    \
	{                                                                                          \
		.name = NULL                                                                       \
	}

static const char *const scenario_role_words[] = {"owner", "admin", "network-admin", "member",
                                                  NULL};
static const char *const scenario_backend_words[] = {"http", "tcp-echo", "tcp-sink", "udp-echo",
                                                     NULL};
static const char *const scenario_workload_words[] = {"http", "tcp-echo", "tcp-stream", "udp-echo",
                                                      NULL};
static const char *const scenario_connection_words[] = {"new", "keepalive", NULL};
static const char *const scenario_control_words[] = {
    "crash", "restart", "disk-full", "fsync-fail", "disk-ok", "torn-write", NULL};
static const char *const scenario_never_words[] = {"request to a host that was not eligible", NULL};

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
};

static const struct scenario_key scenario_top_keys[] = {
    [TOP_NAME] = KEY("name", SCENARIO_KIND_NAME, true, NULL,
                     "Scenario name; names the output folders reports/<name> and pcaps/<name>."),
    [TOP_SEED] = KEY("seed", SCENARIO_KIND_INTEGER, false, "1",
                     "Random seed (1..4294967295); --seed overrides it."),
    [TOP_DURATION] = KEY("duration", SCENARIO_KIND_DURATION, false, "10s",
                         "Simulated time the run lasts (at most 1 day)."),
    [TOP_TAILNET] = KEY("tailnet", SCENARIO_KIND_STRING, false, "example.ts.net",
                        "MagicDNS suffix of the tailnet (a DNS name)."),
    [TOP_REGIONS] = KEY("regions", SCENARIO_KIND_ENTRIES, true, NULL,
                        "Region name -> {}; each region is a router its nodes hang off "
                        "(1..256 regions).",
                        .sub = SCENARIO_SECTION_REGION),
    [TOP_LINKS] = KEY("links", SCENARIO_KIND_SEQUENCE, false, NULL,
                      "Links between region routers; one-way latency, symmetric.",
                      .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_LINK),
    [TOP_ACCESS] =
        KEY("access", SCENARIO_KIND_MAPPING, false, NULL,
            "Default link between a node and its region router.", .sub = SCENARIO_SECTION_ACCESS),
    [TOP_NODES] =
        KEY("nodes", SCENARIO_KIND_SEQUENCE, true, NULL, "The nodes (at most 100000 after count).",
            .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_NODE),
    [TOP_UNDERLAY_WORKLOAD] = KEY("underlay_workload", SCENARIO_KIND_WORKLOAD, false,
                                  "on (off when `workloads` is given)",
                                  "The built-in underlay TCP request/response workload "
                                  "between all nodes, or `off`.",
                                  .sub = SCENARIO_SECTION_UNDERLAY_WORKLOAD, .project = true),
    [TOP_CONTROL] = KEY("control", SCENARIO_KIND_MAPPING, false, NULL,
                        "Where the coordination server runs.", .sub = SCENARIO_SECTION_CONTROL),
    [TOP_USERS] = KEY("users", SCENARIO_KIND_ENTRIES, false, NULL,
                      "Principals: login -> {role, display_name}.", .sub = SCENARIO_SECTION_USER),
    [TOP_POLICY] = KEY("policy", SCENARIO_KIND_OBJECT, false, NULL,
                       "The tailnet policy (tagOwners, groups, grants, autoApprovers), "
                       "validated like the control server does; every tag used anywhere "
                       "must be owned in tagOwners."),
    [TOP_SERVICES] =
        KEY("services", SCENARIO_KIND_SEQUENCE, false, NULL, "Services an admin defines at t=0.",
            .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_SERVICE),
    [TOP_WORKLOADS] =
        KEY("workloads", SCENARIO_KIND_SEQUENCE, false, NULL, "Tailnet client workloads.",
            .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_WORKLOAD),
    [TOP_TIMELINE] = KEY("timeline", SCENARIO_KIND_SEQUENCE, false, NULL,
                         "Faults and admin actions at given times (any order; run by time).",
                         .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_TIMELINE),
    [TOP_EXPECT] = KEY("expect", SCENARIO_KIND_SEQUENCE, false, NULL,
                       "Expectations checked after the run; any failure makes simrun exit 1.",
                       .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_EXPECT),
    KEY_END,
};

enum link_key { LINK_BETWEEN = 0, LINK_LATENCY, LINK_BANDWIDTH, LINK_LOSS };

static const struct scenario_key scenario_link_keys[] = {
    [LINK_BETWEEN] =
        KEY("between", SCENARIO_KIND_PAIR, true, NULL, "The two regions the link joins: [a, b]."),
    [LINK_LATENCY] =
        KEY("latency", SCENARIO_KIND_DURATION, true, NULL, "One-way latency, symmetric (max 10s)."),
    [LINK_BANDWIDTH] = KEY("bandwidth", SCENARIO_KIND_BANDWIDTH, false, "10Gbps",
                           "Link rate each way (max 400Gbps)."),
    [LINK_LOSS] = KEY("loss", SCENARIO_KIND_PERCENT, false, "0%",
                      "Probability a packet is dropped (at most 100%)."),
    KEY_END,
};

enum access_key { ACCESS_LATENCY = 0, ACCESS_BANDWIDTH, ACCESS_LOSS };

static const struct scenario_key scenario_access_keys[] = {
    [ACCESS_LATENCY] = KEY("latency", SCENARIO_KIND_DURATION, false, "1ms",
                           "One-way latency between a node and its region router."),
    [ACCESS_BANDWIDTH] =
        KEY("bandwidth", SCENARIO_KIND_BANDWIDTH, false, "1Gbps", "Access link rate each way."),
    [ACCESS_LOSS] =
        KEY("loss", SCENARIO_KIND_PERCENT, false, "0%", "Probability a packet is dropped."),
    KEY_END,
};

enum node_key {
	NODE_NAME = 0,
	NODE_REGION,
	NODE_COUNT,
	NODE_TAGS,
	NODE_USER,
	NODE_BACKENDS,
	NODE_SERVE
};

static const struct scenario_key scenario_node_keys[] = {
    [NODE_NAME] = KEY("name", SCENARIO_KIND_NAME, true, NULL,
                      "Node name (with count > 1: the prefix of name-0 .. name-(count-1))."),
    [NODE_REGION] =
        KEY("region", SCENARIO_KIND_STRING, true, NULL, "The region the node hangs off."),
    [NODE_COUNT] =
        KEY("count", SCENARIO_KIND_INTEGER, false, "1", "How many such nodes (1..100000)."),
    [NODE_TAGS] = KEY("tags", SCENARIO_KIND_SEQUENCE, false, NULL,
                      "ACL tags the node carries (at most 8; each owned in policy tagOwners).",
                      .item = SCENARIO_KIND_STRING),
    [NODE_USER] = KEY("user", SCENARIO_KIND_STRING, false, NULL,
                      "Owning user (a login declared in users); user-owned nodes get identity "
                      "headers."),
    [NODE_BACKENDS] = KEY("backends", SCENARIO_KIND_SEQUENCE, false, NULL,
                          "Programs the node runs on its own loopback (at most 8).",
                          .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_BACKEND),
    [NODE_SERVE] = KEY("serve", SCENARIO_KIND_SEQUENCE, false, NULL,
                       "`serve` command lines run at start and after a restart (same grammar "
                       "as the CLI; at most 16).",
                       .item = SCENARIO_KIND_STRING),
    KEY_END,
};

enum rr_key { RR_RATE = 0, RR_REQUEST, RR_RESPONSE, RR_START, RR_STOP, RR_PORT };

static const struct scenario_key scenario_rr_keys[] = {
    [RR_RATE] = KEY("rate", SCENARIO_KIND_RATE, false, "1/s",
                    "Requests per second per node, Poisson arrivals."),
    [RR_REQUEST] = KEY("request", SCENARIO_KIND_SIZE, false, "200B",
                       "Bytes the client writes on each new connection."),
    [RR_RESPONSE] =
        KEY("response", SCENARIO_KIND_SIZE, false, "2KB", "Bytes the server answers with."),
    [RR_START] = KEY("start", SCENARIO_KIND_DURATION, false, "0s",
                     "Arrivals start at start + an exponential gap."),
    [RR_STOP] =
        KEY("stop", SCENARIO_KIND_DURATION, false, "duration", "No arrival at or after stop."),
    [RR_PORT] = KEY("port", SCENARIO_KIND_INTEGER, false, "7000",
                    "TCP port every node's server listens on (underlay address)."),
    KEY_END,
};

static const struct scenario_key scenario_region_keys[] = {
    KEY_END,
};

enum control_key { CONTROL_REGION = 0 };

static const struct scenario_key scenario_control_keys[] = {
    [CONTROL_REGION] = KEY("region", SCENARIO_KIND_STRING, false, "the first region",
                           "The region whose router the coordination server hangs off."),
    KEY_END,
};

enum user_key { USER_ROLE = 0, USER_DISPLAY_NAME };

static const struct scenario_key scenario_user_keys[] = {
    [USER_ROLE] = KEY("role", SCENARIO_KIND_STRING, false, "member",
                      "owner, admin and network-admin are admins (may define services and "
                      "approve hosts); member is not.",
                      .choices = scenario_role_words),
    [USER_DISPLAY_NAME] = KEY("display_name", SCENARIO_KIND_STRING, false, "the login",
                              "Name in the Tailscale-User-Name header (at most 128 bytes)."),
    KEY_END,
};

enum service_key { SERVICE_NAME = 0, SERVICE_DESCRIPTION, SERVICE_PORTS, SERVICE_TAGS };

static const struct scenario_key scenario_service_keys[] = {
    [SERVICE_NAME] = KEY("name", SCENARIO_KIND_STRING, true, NULL,
                         "svc: + one DNS label (SVC-1), e.g. svc:web."),
    [SERVICE_DESCRIPTION] =
        KEY("description", SCENARIO_KIND_STRING, false, "\"\"", "Free text (at most 1024 bytes)."),
    [SERVICE_PORTS] = KEY("ports", SCENARIO_KIND_SEQUENCE, false, "[]",
                          "tcp:N or tcp:N-M entries (TCP only, SVC-4), or [do-not-validate].",
                          .item = SCENARIO_KIND_STRING),
    [SERVICE_TAGS] = KEY("tags", SCENARIO_KIND_SEQUENCE, true, NULL,
                         "The service's tags: its identity in policy (1..32, each owned in "
                         "tagOwners).",
                         .item = SCENARIO_KIND_STRING),
    KEY_END,
};

enum backend_key { BACKEND_LISTEN = 0, BACKEND_KIND, BACKEND_SERVICE_TIME, BACKEND_BODY };

static const struct scenario_key scenario_backend_keys[] = {
    [BACKEND_LISTEN] =
        KEY("listen", SCENARIO_KIND_STRING, true, NULL, "127.0.0.1:PORT, unique per node."),
    [BACKEND_KIND] = KEY("kind", SCENARIO_KIND_STRING, false, "http",
                         "http (answers every request), tcp-echo, tcp-sink (reads and "
                         "discards), udp-echo.",
                         .choices = scenario_backend_words),
    [BACKEND_SERVICE_TIME] = KEY("service_time", SCENARIO_KIND_DURATION, false, "0s",
                                 "Time the program takes per request before answering."),
    [BACKEND_BODY] =
        KEY("body", SCENARIO_KIND_SIZE, false, "1KB", "http: bytes of each response body."),
    KEY_END,
};

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

static const struct scenario_key scenario_workload_keys[] = {
    [WL_NAME] = KEY("name", SCENARIO_KIND_NAME, true, NULL,
                    "Workload name (reports, expectations); unique."),
    [WL_FROM] = KEY("from", SCENARIO_KIND_STRING, true, NULL,
                    "The client nodes: a node name or a glob over node names (client-*); "
                    "must match at least one node."),
    [WL_TO] = KEY("to", SCENARIO_KIND_STRING, true, NULL,
                  "Target: <label>.<tailnet>:port (a service's or a node's MagicDNS name), "
                  "svc:X:port, or a VIP literal 100.x.y.z:port / [fd7a:115c:a1e0::n]:port."),
    [WL_KIND] = KEY("kind", SCENARIO_KIND_STRING, false, "http",
                    "http, tcp-echo, tcp-stream or udp-echo (one datagram per request, for L3 "
                    "services).",
                    .choices = scenario_workload_words),
    [WL_RATE] = KEY("rate", SCENARIO_KIND_RATE, false, "1/s",
                    "http, tcp-echo, udp-echo: requests per second per client node, Poisson "
                    "arrivals (seeded)."),
    [WL_CONNECTION] = KEY("connection", SCENARIO_KIND_STRING, false, "new",
                          "http, tcp-echo: new (one connection per request) or keepalive "
                          "(idle connections are reused, one request at a time on each; "
                          "a reused request's latency runs from its first byte written).",
                          .choices = scenario_connection_words),
    [WL_PATH] =
        KEY("path", SCENARIO_KIND_STRING, false, "/", "http: the request path (starts with /)."),
    [WL_REQUEST] = KEY("request", SCENARIO_KIND_SIZE, false, "0B",
                       "http: request body bytes (0: GET, else POST); tcp-echo: bytes per "
                       "request (0: 64B); tcp-stream: bytes per write (0: 1KB); udp-echo: "
                       "datagram bytes (0: 64B, else 8B..1200B)."),
    [WL_RESPONSE] = KEY("response", SCENARIO_KIND_SIZE, false, "0B",
                        "http: response body bytes asked for (X-Response-Bytes) and checked; a "
                        "different length counts as http_error (0: whatever the backend sends).",
                        .project = true),
    [WL_START] = KEY("start", SCENARIO_KIND_DURATION, false, "0s", "First arrival after start."),
    [WL_STOP] = KEY("stop", SCENARIO_KIND_DURATION, false, "duration",
                    "No arrival at or after stop (> start, <= duration)."),
    [WL_CONNECTIONS] =
        KEY("connections", SCENARIO_KIND_INTEGER, false, "1",
            "tcp-stream: long-lived connections per client node (1..4096).", .project = true),
    [WL_HOLD] = KEY("hold", SCENARIO_KIND_DURATION, false, "until stop",
                    "tcp-stream: how long each connection lives.", .project = true),
    KEY_END,
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
	TL_EXPECT_ERROR,
};

static const struct scenario_key scenario_timeline_keys[] = {
    [TL_AT] = KEY("at", SCENARIO_KIND_DURATION, true, NULL, "When (before the end of the run)."),
    [TL_NODE] =
        KEY("node", SCENARIO_KIND_STRING, false, NULL, "With run: the node that runs the command."),
    [TL_RUN] =
        KEY("run", SCENARIO_KIND_STRING, false, NULL, "A `serve ...` command line run on node."),
    [TL_CRASH] =
        KEY("crash", SCENARIO_KIND_STRING, false, NULL, "A node whose daemon dies (state lost)."),
    [TL_RESTART] = KEY("restart", SCENARIO_KIND_STRING, false, NULL,
                       "A node whose daemon comes back and re-runs its serve lines."),
    [TL_PARTITION] = KEY("partition", SCENARIO_KIND_PAIR, false, NULL,
                         "[A, B]: cut the links between two regions or two nodes."),
    [TL_HEAL] = KEY("heal", SCENARIO_KIND_PAIR, false, NULL, "[A, B]: undo a partition."),
    [TL_LINK] = KEY("link", SCENARIO_KIND_MAPPING, false, NULL,
                    "Change an existing link: between, then latency, bandwidth and/or loss.",
                    .sub = SCENARIO_SECTION_TIMELINE_LINK),
    [TL_ADMIN] = KEY("admin", SCENARIO_KIND_STRING, false, NULL,
                     "An admin console command: define svc:X [--ports=..] [--tags=..] "
                     "[--description=..], delete svc:X, approve|reject|revoke svc:X NODE, "
                     "set-policy FILE."),
    [TL_AS] = KEY("as", SCENARIO_KIND_STRING, false, NULL,
                  "With admin: the user (declared in users) who runs the command."),
    [TL_CONTROL] = KEY("control", SCENARIO_KIND_STRING, false, NULL,
                       "crash or restart the coordination server; or its disk: disk-full "
                       "(state writes fail, ENOSPC), fsync-fail (fsyncs fail, EIO), disk-ok "
                       "(healthy again), torn-write (power lost in the middle of a state "
                       "write: control is down, as after crash).",
                       .choices = scenario_control_words, .project = true),
    [TL_EXPECT_ERROR] = KEY("expect_error", SCENARIO_KIND_STRING, false, NULL,
                            "The action must fail, with a reason containing this text; "
                            "without it, an action that cannot be carried out fails the run "
                            "(exit 2).",
                            .project = true),
    KEY_END,
};

enum tlink_key { TLINK_BETWEEN = 0, TLINK_LATENCY, TLINK_BANDWIDTH, TLINK_LOSS };

static const struct scenario_key scenario_tlink_keys[] = {
    [TLINK_BETWEEN] =
        KEY("between", SCENARIO_KIND_PAIR, true, NULL, "The two regions of an existing link."),
    [TLINK_LATENCY] =
        KEY("latency", SCENARIO_KIND_DURATION, false, "unchanged", "New one-way latency."),
    [TLINK_BANDWIDTH] = KEY("bandwidth", SCENARIO_KIND_BANDWIDTH, false, "unchanged", "New rate."),
    [TLINK_LOSS] = KEY("loss", SCENARIO_KIND_PERCENT, false, "unchanged", "New loss."),
    KEY_END,
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
};

static const struct scenario_key scenario_expect_keys[] = {
    [EX_WORKLOAD] =
        KEY("workload", SCENARIO_KIND_STRING, false, NULL, "The workload the checks are about."),
    [EX_NODE] = KEY("node", SCENARIO_KIND_STRING, false, NULL,
                    "With new_connections: the node whose accepted connections count."),
    [EX_HOST] = KEY("host", SCENARIO_KIND_STRING, false, NULL,
                    "With service and state: the host whose state for the service is checked."),
    [EX_SERVICE] = KEY("service", SCENARIO_KIND_STRING, false, NULL, "With state: the service."),
    [EX_STATE] = KEY("state", SCENARIO_KIND_STRING, false, NULL,
                     "Pending approval, Needs configuration, Connected, Offline, Pre-approved, "
                     "Draining or Rejected (any case)."),
    [EX_AT] = KEY("at", SCENARIO_KIND_DURATION, false, NULL, "With state: when."),
    [EX_FROM] = KEY("from", SCENARIO_KIND_DURATION, false, "0s",
                    "With new_connections or resets: window start."),
    [EX_TO] = KEY("to", SCENARIO_KIND_DURATION, false, "the end",
                  "With new_connections or resets: window end."),
    [EX_AFTER] =
        KEY("after", SCENARIO_KIND_DURATION, false, NULL, "With failover_time: the fault's time."),
    [EX_SUCCESS_RATE] = KEY("success_rate", SCENARIO_KIND_COMPARISON, false, NULL,
                            "Share of ok requests: \">= 99.9%\"."),
    [EX_P50] = KEY("p50", SCENARIO_KIND_COMPARISON, false, NULL, "Median latency: \"< 50ms\"."),
    [EX_P90] = KEY("p90", SCENARIO_KIND_COMPARISON, false, NULL, "90th percentile latency."),
    [EX_P99] = KEY("p99", SCENARIO_KIND_COMPARISON, false, NULL, "99th percentile latency."),
    [EX_P999] = KEY("p999", SCENARIO_KIND_COMPARISON, false, NULL, "99.9th percentile latency."),
    [EX_MAX] = KEY("max", SCENARIO_KIND_COMPARISON, false, NULL, "Largest latency."),
    [EX_NEW_CONNECTIONS] = KEY("new_connections", SCENARIO_KIND_COMPARISON, false, NULL,
                               "Connections node accepted in [from, to]: 0 or \">= 10\"."),
    [EX_FAILOVER_TIME] = KEY("failover_time", SCENARIO_KIND_COMPARISON, false, NULL,
                             "From after to the first ok request on another host: \"< 3s\"."),
    [EX_RESETS] = KEY("resets", SCENARIO_KIND_COMPARISON, false, NULL,
                      "Requests (streams) of the workload that ended in a reset."),
    [EX_NEVER] = KEY("never", SCENARIO_KIND_STRING, false, NULL, "An invariant over the whole run.",
                     .choices = scenario_never_words, .project = true),
    KEY_END,
};

static const struct scenario_key *const scenario_tables[SCENARIO_SECTION_COUNT] = {
    [SCENARIO_SECTION_TOP] = scenario_top_keys,
    [SCENARIO_SECTION_LINK] = scenario_link_keys,
    [SCENARIO_SECTION_ACCESS] = scenario_access_keys,
    [SCENARIO_SECTION_NODE] = scenario_node_keys,
    [SCENARIO_SECTION_UNDERLAY_WORKLOAD] = scenario_rr_keys,
    [SCENARIO_SECTION_REGION] = scenario_region_keys,
    [SCENARIO_SECTION_CONTROL] = scenario_control_keys,
    [SCENARIO_SECTION_USER] = scenario_user_keys,
    [SCENARIO_SECTION_SERVICE] = scenario_service_keys,
    [SCENARIO_SECTION_BACKEND] = scenario_backend_keys,
    [SCENARIO_SECTION_WORKLOAD] = scenario_workload_keys,
    [SCENARIO_SECTION_TIMELINE] = scenario_timeline_keys,
    [SCENARIO_SECTION_TIMELINE_LINK] = scenario_tlink_keys,
    [SCENARIO_SECTION_EXPECT] = scenario_expect_keys,
};

static const char *const scenario_section_names[SCENARIO_SECTION_COUNT] = {
    [SCENARIO_SECTION_TOP] = "top level",
    [SCENARIO_SECTION_LINK] = "link",
    [SCENARIO_SECTION_ACCESS] = "access",
    [SCENARIO_SECTION_NODE] = "node",
    [SCENARIO_SECTION_UNDERLAY_WORKLOAD] = "underlay_workload",
    [SCENARIO_SECTION_REGION] = "region",
    [SCENARIO_SECTION_CONTROL] = "control",
    [SCENARIO_SECTION_USER] = "user",
    [SCENARIO_SECTION_SERVICE] = "service",
    [SCENARIO_SECTION_BACKEND] = "backend",
    [SCENARIO_SECTION_WORKLOAD] = "workload",
    [SCENARIO_SECTION_TIMELINE] = "timeline entry",
    [SCENARIO_SECTION_TIMELINE_LINK] = "timeline link",
    [SCENARIO_SECTION_EXPECT] = "expectation",
};

const struct scenario_key *scenario_keys(enum scenario_section section)
{
	if ((unsigned)section >= SCENARIO_SECTION_COUNT)
		return NULL;
	return scenario_tables[section];
}

const char *scenario_section_name(enum scenario_section section)
{
	if ((unsigned)section >= SCENARIO_SECTION_COUNT)
		return "?";
	return scenario_section_names[section];
}

const char *scenario_kind_name(enum scenario_kind kind)
{
	switch (kind) {
	case SCENARIO_KIND_NONE:
		return "nothing";
	case SCENARIO_KIND_STRING:
		return "string";
	case SCENARIO_KIND_NAME:
		return "name";
	case SCENARIO_KIND_INTEGER:
		return "integer";
	case SCENARIO_KIND_DURATION:
		return "duration";
	case SCENARIO_KIND_RATE:
		return "rate";
	case SCENARIO_KIND_BANDWIDTH:
		return "bandwidth";
	case SCENARIO_KIND_SIZE:
		return "size";
	case SCENARIO_KIND_PERCENT:
		return "percentage";
	case SCENARIO_KIND_MAPPING:
		return "mapping";
	case SCENARIO_KIND_SEQUENCE:
		return "sequence";
	case SCENARIO_KIND_WORKLOAD:
		return "`off` or mapping";
	case SCENARIO_KIND_ENTRIES:
		return "mapping of names";
	case SCENARIO_KIND_OBJECT:
		return "policy mapping";
	case SCENARIO_KIND_PAIR:
		return "pair [a, b]";
	case SCENARIO_KIND_COMPARISON:
		return "comparison";
	}
	return "?";
}

const char *scenario_role_name(enum scenario_role role)
{
	if ((unsigned)role > SCENARIO_ROLE_MEMBER)
		return "?";
	return scenario_role_words[role];
}

/* ---- numbers with units ---- */

struct unit {
	const char *suffix;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000}, {NULL, 0}};
static const struct unit size_units[] = {{"B", 1},      {"KB", 1000},     {"MB", 1000000},
                                         {"KiB", 1024}, {"MiB", 1048576}, {NULL, 0}};
static const struct unit bandwidth_units[] = {
    {"bps", 1}, {"Kbps", 1000}, {"Mbps", 1000000}, {"Gbps", 1000000000}, {NULL, 0}};

/* Splits "[-]digits[.digits]rest". Returns false when no digit leads. */
static bool split_number(const char *text, bool *neg, unsigned __int128 *mant, unsigned *frac,
                         const char **rest)
{
	const char *p = text;
	unsigned digits = 0;

	*neg = false;
	*mant = 0;
	*frac = 0;
	if (*p == '-' || *p == '+') {
		*neg = *p == '-';
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (digits++ < 30)
			*mant = *mant * 10 + (unsigned)(*p - '0');
		else
			*mant = (unsigned __int128)-1; /* absurdly long: saturate */
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (*frac < 12) {
				*mant = *mant * 10 + (unsigned)(*p - '0');
				(*frac)++;
			}
		}
	}
	*rest = p;
	return true;
}

static bool text_is_zero(const char *text)
{
	const char *p = text;

	if (*p == '+')
		p++;
	if (*p != '0')
		return false;
	while (*p == '0')
		p++;
	if (*p == '.') {
		p++;
		if (!*p)
			return false;
		while (*p == '0')
			p++;
	}
	return *p == '\0';
}

/* The unit list as "us, ms, s or m". */
static void units_text(const struct unit *units, char *buf, size_t len)
{
	size_t n = 0, count = 0;

	while (units[count].suffix)
		count++;
	buf[0] = '\0';
	for (size_t i = 0; i < count && n < len; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
		int w = snprintf(buf + n, len - n, "%s%s", sep, units[i].suffix);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* Parses a number with one of `units` into an integer number of base units
 * (rounded down). */
static int parse_with_units(const char *text, const char *what, const char *example,
                            const struct unit *units, uint64_t *out, char *why, size_t why_len)
{
	bool neg;
	unsigned __int128 mant, value;
	unsigned frac;
	const char *rest;
	char list[64];

	units_text(units, list, sizeof(list));
	if (!split_number(text, &neg, &mant, &frac, &rest)) {
		err_setf(why, why_len, 0, "expected a %s like %s, got '%s'", what, example, text);
		return -EINVAL;
	}
	if (neg && !text_is_zero(text + 1)) {
		err_setf(why, why_len, 0, "negative %s '%s'", what, text);
		return -EINVAL;
	}
	if (*rest == '\0') {
		if (text_is_zero(text + (neg ? 1 : 0))) {
			*out = 0;
			return 0;
		}
		err_setf(why, why_len, 0, "missing unit in %s '%s' (expected %s)", what, text,
		         list);
		return -EINVAL;
	}
	const struct unit *u = NULL;
	for (size_t i = 0; units[i].suffix; i++)
		if (strcmp(rest, units[i].suffix) == 0)
			u = &units[i];
	if (!u) {
		const struct unit *near = NULL;
		for (size_t i = 0; units[i].suffix; i++)
			if (strcasecmp(rest, units[i].suffix) == 0)
				near = &units[i];
		if (near)
			err_setf(why, why_len, 0,
			         "bad unit '%s' in %s '%s' (expected %s; did you mean '%s'?)", rest,
			         what, text, list, near->suffix);
		else
			err_setf(why, why_len, 0, "bad unit '%s' in %s '%s' (expected %s)", rest,
			         what, text, list);
		return -EINVAL;
	}
	value = mant * u->mult;
	if (mant != 0 && value / mant != u->mult)
		value = (unsigned __int128)-1;
	for (unsigned i = 0; i < frac; i++)
		value /= 10;
	if (value > UINT64_MAX) {
		err_setf(why, why_len, 0, "%s '%s' is out of range", what, text);
		return -EINVAL;
	}
	*out = (uint64_t)value;
	return 0;
}

int scenario_parse_duration(const char *text, uint64_t *out_us, char *why, size_t why_len)
{
	return parse_with_units(text, "duration", "250ms", duration_units, out_us, why, why_len);
}

int scenario_parse_size(const char *text, uint64_t *out_bytes, char *why, size_t why_len)
{
	return parse_with_units(text, "size", "2KB", size_units, out_bytes, why, why_len);
}

int scenario_parse_bandwidth(const char *text, uint64_t *out_bps, char *why, size_t why_len)
{
	return parse_with_units(text, "bandwidth", "1Gbps", bandwidth_units, out_bps, why, why_len);
}

/* A decimal number with a fixed suffix, as a double. */
static int parse_suffixed(const char *text, const char *what, const char *example,
                          const char *suffix, double *out, char *why, size_t why_len)
{
	bool neg;
	unsigned __int128 mant;
	unsigned frac;
	const char *rest;

	if (!split_number(text, &neg, &mant, &frac, &rest)) {
		err_setf(why, why_len, 0, "expected a %s like %s, got '%s'", what, example, text);
		return -EINVAL;
	}
	if (neg && !text_is_zero(text + 1)) {
		err_setf(why, why_len, 0, "negative %s '%s'", what, text);
		return -EINVAL;
	}
	if (*rest == '\0') {
		if (text_is_zero(text + (neg ? 1 : 0))) {
			*out = 0;
			return 0;
		}
		err_setf(why, why_len, 0, "missing unit in %s '%s' (expected %s)", what, text,
		         suffix);
		return -EINVAL;
	}
	if (strcmp(rest, suffix) != 0) {
		err_setf(why, why_len, 0, "bad unit '%s' in %s '%s' (expected %s)", rest, what,
		         text, suffix);
		return -EINVAL;
	}
	double v = (double)mant;
	for (unsigned i = 0; i < frac; i++)
		v /= 10.0;
	*out = v;
	return 0;
}

int scenario_parse_rate(const char *text, double *out_per_s, char *why, size_t why_len)
{
	return parse_suffixed(text, "rate", "5/s", "/s", out_per_s, why, why_len);
}

int scenario_parse_percent(const char *text, double *out_fraction, char *why, size_t why_len)
{
	double pct;
	int err = parse_suffixed(text, "percentage", "0.5%", "%", &pct, why, why_len);

	if (err)
		return err;
	*out_fraction = pct / 100.0;
	return 0;
}

bool scenario_name_is_safe(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

/* ---- did you mean ---- */

#define NEAR_MAX 2 /* the edit distance a did-you-mean accepts */

/* The edit distance between a and b when it is at most NEAR_MAX, else
 * NEAR_MAX + 1. Only cells within NEAR_MAX of the diagonal can hold a
 * near miss, so only those are computed: linear in the length, however
 * long the words (a hint is sought for every unknown key). */
static unsigned near_distance(const char *a, size_t la, const char *b, size_t lb)
{
	enum { FAR = NEAR_MAX + 1 };
	unsigned row[SCENARIO_LOGIN_MAX + 2];

	if (la > lb + NEAR_MAX || lb > la + NEAR_MAX || lb > SCENARIO_LOGIN_MAX)
		return FAR;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j <= NEAR_MAX ? (unsigned)j : FAR;
	for (size_t i = 1; i <= la; i++) {
		size_t lo = i > NEAR_MAX ? i - NEAR_MAX : 1;
		size_t hi = i + NEAR_MAX < lb ? i + NEAR_MAX : lb;
		unsigned diag = row[lo - 1], least = FAR;
		/* row[j] still holds row i-1 for j >= lo; beyond its band it
		 * was never written and reads FAR */
		row[lo - 1] = lo == 1 ? (unsigned)i : FAR;
		if (row[lo - 1] > FAR)
			row[lo - 1] = FAR;
		for (size_t j = lo; j <= hi; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best < FAR ? best : FAR;
			if (row[j] < least)
				least = row[j];
			diag = up;
		}
		if (least >= FAR)
			return FAR;
	}
	return row[lb];
}

/* The closest candidate within edit distance NEAR_MAX, or NULL. */
static const char *nearest(const char *word, const char *const *cands, size_t n)
{
	unsigned best = NEAR_MAX + 1;
	const char *pick = NULL;
	size_t lw = strlen(word);

	if (lw > SCENARIO_LOGIN_MAX + NEAR_MAX) /* no candidate is that long */
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = near_distance(word, lw, cands[i], strlen(cands[i]));
		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	return pick;
}

/* Fills buf with " (did you mean 'x'?)" for the closest candidate within
 * distance 2, or "". */
static void did_you_mean(const char *word, const char *const *cands, size_t n, char *buf,
                         size_t len)
{
	const char *pick = nearest(word, cands, n);

	if (pick)
		snprintf(buf, len, " (did you mean '%s'?)", pick);
	else if (len)
		buf[0] = '\0';
}

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
};

static void diags_add(struct scenario_diags *diags, bool warning, unsigned line, unsigned col,
                      const char *filename, const char *msg)
{
	if (!warning)
		diags->errors++;
	if (diags->count == SCENARIO_DIAGS_MAX) {
		diags->dropped++;
		return;
	}
	struct scenario_diag *d = &diags->items[diags->count++];
	d->warning = warning;
	d->line = line;
	d->column = col;
	if (line)
		snprintf(d->text, sizeof(d->text), "%s:%u:%u: %s%s", filename, line, col,
		         warning ? "warning: " : "", msg);
	else
		snprintf(d->text, sizeof(d->text), "%s: %s%s", filename, warning ? "warning: " : "",
		         msg);
}

static void report(struct loader *ld, bool warning, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(struct loader *ld, bool warning, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(ld->diags, warning, (unsigned)at->start_mark.line + 1,
	          (unsigned)at->start_mark.column + 1, ld->filename, msg);
}

/* An error at a remembered position (line, column 1-based). */
static void error_pos(struct loader *ld, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error_pos(struct loader *ld, unsigned line, unsigned column, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(ld->diags, false, line, column, ld->filename, msg);
}

#define error_at(ld, at, ...) report(ld, false, at, __VA_ARGS__)
#define warn_at(ld, at, ...)  report(ld, true, at, __VA_ARGS__)

static yaml_node_t *node_get(struct loader *ld, int id)
{
	yaml_node_t *n = yaml_document_get_node(ld->doc, id);
	CHECK(n != NULL);
	return n;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = scalar(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* "a mapping", "a sequence", "'text'" or "nothing": what a value is. */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (is_null(n))
		return "nothing";
	snprintf(buf, len, "'%.60s%s'", scalar(n), strlen(scalar(n)) > 60 ? "..." : "");
	return buf;
}

/* True when a sequence item is a mapping; else reports "expected a mapping
 * for `what`" at it. */
static bool is_mapping_for(struct loader *ld, const yaml_node_t *item, const char *what)
{
	char buf[80];

	if (item->type == YAML_MAPPING_NODE)
		return true;
	error_at(ld, item, "expected a mapping for %s, got %s", what,
	         describe(item, buf, sizeof(buf)));
	return false;
}

/* Checks a value's YAML shape against a key's kind. */
static bool check_shape(struct loader *ld, const struct scenario_key *key, const yaml_node_t *v)
{
	char buf[80];
	const char *want = NULL;

	switch (key->kind) {
	case SCENARIO_KIND_MAPPING:
	case SCENARIO_KIND_ENTRIES:
	case SCENARIO_KIND_OBJECT:
		if (v->type == YAML_MAPPING_NODE)
			return true;
		want = "a mapping";
		break;
	case SCENARIO_KIND_SEQUENCE:
	case SCENARIO_KIND_PAIR:
		if (v->type == YAML_SEQUENCE_NODE)
			return true;
		want = "a sequence";
		break;
	case SCENARIO_KIND_WORKLOAD:
		if (v->type == YAML_MAPPING_NODE || is_null(v) ||
		    (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "off")))
			return true;
		want = "'off' or a mapping";
		break;
	case SCENARIO_KIND_INTEGER:
		if (v->type == YAML_SCALAR_NODE && !is_null(v))
			return true;
		want = "an integer";
		break;
	case SCENARIO_KIND_NONE:
		CHECK(0);
		break;
	default:
		if (v->type == YAML_SCALAR_NODE && !is_null(v))
			return true;
		want =
		    key->kind == SCENARIO_KIND_STRING || key->kind == SCENARIO_KIND_NAME
		        ? "a scalar"
		        : (key->kind == SCENARIO_KIND_DURATION    ? "a duration"
		           : key->kind == SCENARIO_KIND_RATE      ? "a rate"
		           : key->kind == SCENARIO_KIND_BANDWIDTH ? "a bandwidth"
		           : key->kind == SCENARIO_KIND_SIZE      ? "a size"
		           : key->kind == SCENARIO_KIND_PERCENT   ? "a percentage"
		                                                : "a comparison like \"< 400ms\"");
		break;
	}
	error_at(ld, v, "expected %s for '%s', got %s", want, key->name,
	         describe(v, buf, sizeof(buf)));
	return false;
}

/* One mapping checked against a key table: unknown keys (with a did you
 * mean), duplicates, shapes and required keys. vals[i]/keys[i] receive the
 * value/key node of table entry i, or NULL. Returns false on any error. */
static bool collect(struct loader *ld, const yaml_node_t *map, enum scenario_section section,
                    const char *where, yaml_node_t **keys, yaml_node_t **vals)
{
	const struct scenario_key *table = scenario_keys(section);
	const char *names[SCENARIO_KEYS_MAX];
	size_t n = 0;
	bool ok = true;
	char buf[80];

	CHECK(map->type == YAML_MAPPING_NODE);
	for (; table[n].name; n++) {
		CHECK(n < SCENARIO_KEYS_MAX);
		names[n] = table[n].name;
		keys[n] = vals[n] = NULL;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		if (k->type != YAML_SCALAR_NODE) {
			error_at(ld, k, "expected a key name%s, got %s", where,
			         describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		size_t i = 0;
		while (i < n && strcmp(names[i], scalar(k)) != 0)
			i++;
		if (i == n) {
			char hint[96];
			did_you_mean(scalar(k), names, n, hint, sizeof(hint));
			error_at(ld, k, "unknown key '%.80s'%s%s", scalar(k), where, hint);
			ok = false;
			continue;
		}
		if (keys[i]) {
			error_at(ld, k, "duplicate key '%s'%s (first at line %u)", names[i], where,
			         (unsigned)keys[i]->start_mark.line + 1);
			ok = false;
			continue;
		}
		keys[i] = k;
		if (!check_shape(ld, &table[i], v)) {
			ok = false;
			continue;
		}
		vals[i] = v;
	}
	for (size_t i = 0; i < n; i++) {
		if (table[i].required && !keys[i]) {
			error_at(ld, map, "missing required key '%s'%s", names[i], where);
			ok = false;
		}
	}
	return ok;
}

/* Integer in [min, max]. */
static bool get_integer(struct loader *ld, const char *key, const yaml_node_t *v, long long min,
                        long long max, long long *out)
{
	const char *s = scalar(v);
	char *end;

	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (end == s || *end || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) {
		error_at(ld, v, "expected an integer for '%s', got '%.60s'", key, s);
		return false;
	}
	if (errno == ERANGE || x < min || x > max) {
		error_at(ld, v, "%s must be between %lld and %lld, got %.60s", key, min, max, s);
		return false;
	}
	*out = x;
	return true;
}

static bool get_duration(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t max_us,
                         const char *max_text, uint64_t *out)
{
	char why[200];

	if (scenario_parse_duration(scalar(v), out, why, sizeof(why))) {
		error_at(ld, v, "%s: %s", key, why);
		return false;
	}
	if (*out > max_us) {
		error_at(ld, v, "%s %s is out of range (max %s)", key, scalar(v), max_text);
		return false;
	}
	return true;
}

static bool get_size(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t *out)
{
	char why[200];

	if (scenario_parse_size(scalar(v), out, why, sizeof(why))) {
		error_at(ld, v, "%s: %s", key, why);
		return false;
	}
	if (*out > SCENARIO_SIZE_MAX) {
		error_at(ld, v, "%s %s is out of range (max 100MB)", key, scalar(v));
		return false;
	}
	return true;
}

/* A name: non-empty, at most SCENARIO_NAME_MAX, safe as a folder name. */
static bool check_name(struct loader *ld, const char *what, const yaml_node_t *v)
{
	const char *s = scalar(v);

	if (strlen(s) > SCENARIO_NAME_MAX) {
		error_at(ld, v, "%s '%.40s...' is longer than %d characters", what, s,
		         SCENARIO_NAME_MAX);
		return false;
	}
	if (!scenario_name_is_safe(s)) {
		error_at(ld, v,
		         "%s '%s' has characters unsafe for a folder name (use letters, digits, "
		         "'-', '_' and '.', starting with a letter or digit)",
		         what, s);
		return false;
	}
	return true;
}

static bool tailnet_is_dns_name(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > SCENARIO_TAILNET_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || (c == '-' && label > 0);
		if (!ok)
			return false;
		label++;
	}
	return true;
}

/* Link parameters (a link or `access`) from collected values at the
 * given table indexes. */
static bool get_link_params(struct loader *ld, yaml_node_t *lat, yaml_node_t *bw, yaml_node_t *loss,
                            struct scenario_link_params *out)
{
	bool ok = true;
	char why[200];

	if (lat &&
	    !get_duration(ld, "latency", lat, SCENARIO_LATENCY_MAX_US, "10s", &out->latency_us))
		ok = false;
	if (bw) {
		uint64_t bps;
		if (scenario_parse_bandwidth(scalar(bw), &bps, why, sizeof(why))) {
			error_at(ld, bw, "bandwidth: %s", why);
			ok = false;
		} else if (bps == 0) {
			error_at(ld, bw, "bandwidth must be more than 0");
			ok = false;
		} else if (bps > SCENARIO_BANDWIDTH_MAX) {
			error_at(ld, bw, "bandwidth %s is out of range (max 400Gbps)", scalar(bw));
			ok = false;
		} else {
			out->bandwidth_bps = bps;
		}
	}
	if (loss) {
		double f;
		if (scenario_parse_percent(scalar(loss), &f, why, sizeof(why))) {
			error_at(ld, loss, "loss: %s", why);
			ok = false;
		} else if (f > 1.0) {
			error_at(ld, loss, "loss %s is above 100%%", scalar(loss));
			ok = false;
		} else {
			out->loss = f;
		}
	}
	return ok;
}

static int region_find(const struct scenario *sc, const char *name)
{
	for (int i = 0; i < sc->region_count; i++)
		if (!strcmp(sc->regions[i].name, name))
			return i;
	return -1;
}

/* A region reference: the index, or -1 after reporting it (with a did
 * you mean among the declared regions). */
static int region_ref(struct loader *ld, const yaml_node_t *v)
{
	char buf[80];

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		error_at(ld, v, "expected a region name, got %s", describe(v, buf, sizeof(buf)));
		return -1;
	}
	int r = region_find(ld->sc, scalar(v));
	if (r >= 0)
		return r;

	const char **names = malloc(sizeof(*names) * (size_t)(ld->sc->region_count + 1));
	char hint[96] = "";
	if (names) {
		for (int i = 0; i < ld->sc->region_count; i++)
			names[i] = ld->sc->regions[i].name;
		did_you_mean(scalar(v), names, (size_t)ld->sc->region_count, hint, sizeof(hint));
		free(names);
	}
	error_at(ld, v, "unknown region '%.80s'%s", scalar(v), hint);
	return -1;
}

static bool load_regions(struct loader *ld, const yaml_node_t *map)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	bool ok = true;
	char buf[80];

	if (n == 0) {
		error_at(ld, map, "regions must name at least one region");
		return false;
	}
	if (n > SCENARIO_REGIONS_MAX) {
		error_at(ld, map, "too many regions: %zu (max %d)", n, SCENARIO_REGIONS_MAX);
		return false;
	}
	sc->regions = calloc(n, sizeof(*sc->regions));
	if (!sc->regions) {
		ld->oom = true;
		return false;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			error_at(ld, k, "expected a region name, got %s",
			         describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		if (!check_name(ld, "region name", k)) {
			ok = false;
			continue;
		}
		int dup = region_find(sc, scalar(k));
		if (dup >= 0) {
			/* find the first key's line for the message */
			unsigned line = 0;
			for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
				yaml_node_t *qk = node_get(ld, q->key);
				if (qk->type == YAML_SCALAR_NODE &&
				    !strcmp(scalar(qk), scalar(k))) {
					line = (unsigned)qk->start_mark.line + 1;
					break;
				}
			}
			error_at(ld, k, "duplicate region '%s' (first at line %u)", scalar(k),
			         line);
			ok = false;
			continue;
		}
		if (v->type == YAML_MAPPING_NODE) {
			if (v->data.mapping.pairs.top != v->data.mapping.pairs.start) {
				yaml_node_t *k0 = node_get(ld, v->data.mapping.pairs.start->key);
				error_at(ld, k0,
				         "unknown key '%.60s' in region '%s' (regions take no keys "
				         "in this version; use {})",
				         k0->type == YAML_SCALAR_NODE ? scalar(k0) : "?",
				         scalar(k));
				ok = false;
			}
		} else if (!is_null(v)) {
			error_at(ld, v, "expected a mapping ({}) for region '%s', got %s",
			         scalar(k), describe(v, buf, sizeof(buf)));
			ok = false;
		}
		snprintf(sc->regions[sc->region_count].name, sizeof(sc->regions[0].name), "%s",
		         scalar(k));
		sc->region_count++;
	}
	return ok;
}

static bool load_links(struct loader *ld, const yaml_node_t *seq,
                       const struct scenario_link_params *defaults)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	bool ok = true;
	unsigned *first_line;

	if (n > SCENARIO_LINKS_MAX) {
		error_at(ld, seq, "too many links: %zu (max %d)", n, SCENARIO_LINKS_MAX);
		return false;
	}
	sc->links = calloc(n ? n : 1, sizeof(*sc->links));
	first_line = calloc(n ? n : 1, sizeof(*first_line));
	if (!sc->links || !first_line) {
		free(first_line);
		ld->oom = true;
		return false;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node_get(ld, *it), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		if (!is_mapping_for(ld, item, "a link")) {
			ok = false;
			continue;
		}
		if (!collect(ld, item, SCENARIO_SECTION_LINK, " in link", keys, vals)) {
			ok = false;
			/* still check what can be checked */
		}
		struct scenario_link link = {.region_a = -1, .region_b = -1, .params = *defaults};
		bool link_ok = true;
		if (vals[LINK_BETWEEN]) {
			yaml_node_t *b = vals[LINK_BETWEEN];
			size_t bn =
			    (size_t)(b->data.sequence.items.top - b->data.sequence.items.start);
			if (bn != 2) {
				error_at(ld, b, "between must name exactly two regions, got %zu",
				         bn);
				link_ok = false;
			} else {
				yaml_node_t *ra = node_get(ld, b->data.sequence.items.start[0]);
				yaml_node_t *rb = node_get(ld, b->data.sequence.items.start[1]);
				link.region_a = region_ref(ld, ra);
				link.region_b = region_ref(ld, rb);
				if (link.region_a < 0 || link.region_b < 0) {
					link_ok = false;
				} else if (link.region_a == link.region_b) {
					error_at(ld, rb, "link from region '%s' to itself",
					         sc->regions[link.region_a].name);
					link_ok = false;
				} else {
					for (int i = 0; i < sc->link_count; i++) {
						struct scenario_link *o = &sc->links[i];
						if ((o->region_a == link.region_a &&
						     o->region_b == link.region_b) ||
						    (o->region_a == link.region_b &&
						     o->region_b == link.region_a)) {
							error_at(
							    ld, b,
							    "duplicate link between '%s' and '%s' "
							    "(first at line %u)",
							    sc->regions[link.region_a].name,
							    sc->regions[link.region_b].name,
							    first_line[i]);
							link_ok = false;
							break;
						}
					}
				}
			}
		}
		if (!get_link_params(ld, vals[LINK_LATENCY], vals[LINK_BANDWIDTH], vals[LINK_LOSS],
		                     &link.params))
			link_ok = false;
		if (!link_ok || !vals[LINK_BETWEEN] || !vals[LINK_LATENCY]) {
			ok = false;
			continue;
		}
		first_line[sc->link_count] = (unsigned)item->start_mark.line + 1;
		sc->links[sc->link_count++] = link;
	}
	free(first_line);
	return ok;
}

/* ---- strings the scenario owns ---- */

struct scenario_chunk {
	struct scenario_chunk *next;
	size_t used, cap;
	char data[];
};

#define SCENARIO_CHUNK_BYTES 65536

/* Copies n bytes of s (plus a NUL) into the scenario's string chunks. On
 * allocation failure marks the load out of memory and returns "". */
static const char *ld_strndup(struct loader *ld, const char *s, size_t n)
{
	struct scenario_chunk *c = ld->sc->strings;

	if (!c || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > SCENARIO_CHUNK_BYTES ? n + 1 : SCENARIO_CHUNK_BYTES;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			ld->oom = true;
			return "";
		}
		c->next = ld->sc->strings;
		c->used = 0;
		c->cap = cap;
		ld->sc->strings = c;
	}
	char *d = c->data + c->used;
	memcpy(d, s, n);
	d[n] = '\0';
	c->used += n + 1;
	return d;
}

static const char *ld_strdup(struct loader *ld, const char *s)
{
	return ld_strndup(ld, s, strlen(s));
}

/* ---- small YAML helpers ---- */

static size_t seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *seq_item(struct loader *ld, const yaml_node_t *seq, size_t i)
{
	return node_get(ld, seq->data.sequence.items.start[i]);
}

static void pos_of(const yaml_node_t *n, unsigned *line, unsigned *column)
{
	*line = (unsigned)n->start_mark.line + 1;
	*column = (unsigned)n->start_mark.column + 1;
}

/* Every item of a sequence is a non-empty scalar (tags, serve lines, ports). */
static bool seq_scalars(struct loader *ld, const char *key, const yaml_node_t *seq)
{
	char buf[80];
	bool ok = true;

	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (item->type != YAML_SCALAR_NODE || is_null(item)) {
			error_at(ld, item, "expected a scalar in '%s', got %s", key,
			         describe(item, buf, sizeof(buf)));
			ok = false;
		}
	}
	return ok;
}

/* "a, b or c" from a NULL-terminated word list. */
static void words_text(const char *const *words, char *buf, size_t len)
{
	size_t n = 0, count = 0;

	while (words[count])
		count++;
	buf[0] = '\0';
	for (size_t i = 0; i < count && n < len; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
		int w = snprintf(buf + n, len - n, "%s%s", sep, words[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* A scalar that must be one of `words`: its index, or -1 after reporting
 * "unknown <what> 'x' (expected a, b or c; did you mean 'b'?)". */
static int choice_ref(struct loader *ld, const char *what, const yaml_node_t *v,
                      const char *const *words)
{
	char list[200];
	size_t n = 0;

	for (; words[n]; n++)
		if (!strcmp(words[n], scalar(v)))
			return (int)n;
	words_text(words, list, sizeof(list));
	const char *near = nearest(scalar(v), words, n);
	if (near)
		error_at(ld, v, "unknown %s '%.80s' (expected %s; did you mean '%s'?)", what,
		         scalar(v), list, near);
	else
		error_at(ld, v, "unknown %s '%.80s' (expected %s)", what, scalar(v), list);
	return -1;
}

/* ---- names: users, nodes, services, workloads ---- */

int scenario_user_find(const struct scenario *sc, const char *login)
{
	for (size_t i = 0; i < sc->n_users; i++)
		if (!strcmp(sc->users[i].login, login))
			return (int)i;
	return -1;
}

int scenario_service_find(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->n_services; i++)
		if (!strcmp(sc->services[i].name, name))
			return (int)i;
	return -1;
}

int scenario_node_find(const struct scenario *sc, const char *name, uint32_t *index)
{
	for (int i = 0; i < sc->group_count; i++) {
		const struct scenario_node_group *g = &sc->groups[i];
		size_t n = strlen(g->name);
		if (g->count == 1) {
			if (!strcmp(name, g->name)) {
				*index = g->first_index;
				return 0;
			}
			continue;
		}
		if (strncmp(name, g->name, n) != 0 || name[n] != '-')
			continue;
		const char *d = name + n + 1;
		if (*d < '0' || *d > '9' || (d[0] == '0' && d[1]) || strlen(d) > 9)
			continue;
		char *end;
		unsigned long v = strtoul(d, &end, 10);
		if (*end || v >= g->count)
			continue;
		*index = g->first_index + (uint32_t)v;
		return 0;
	}
	return -ENOENT;
}

static int group_name_cmp(const void *key, const void *elem)
{
	const struct scenario_node_group *const *g = elem;
	return strcmp(key, (*g)->name);
}

/* The sorted group named `name` (count any), or NULL. */
static const struct scenario_node_group *ld_group(const struct loader *ld, const char *name)
{
	struct scenario_node_group **g = bsearch(name, ld->by_name, (size_t)ld->sc->group_count,
	                                         sizeof(*ld->by_name), group_name_cmp);
	return g ? *g : NULL;
}

/* scenario_node_find() by binary search once the names are known unique
 * (a timeline of 10,000 references to 100,000 nodes took 80 s as a scan). */
static int ld_node_find(struct loader *ld, const char *name, uint32_t *index)
{
	char prefix[SCENARIO_NAME_MAX + 1];
	const struct scenario_node_group *g;

	if (!ld->by_name)
		return scenario_node_find(ld->sc, name, index);
	g = ld_group(ld, name);
	if (g && g->count == 1) {
		*index = g->first_index;
		return 0;
	}
	const char *dash = strrchr(name, '-');
	if (!dash || (size_t)(dash - name) > SCENARIO_NAME_MAX)
		return -ENOENT;
	memcpy(prefix, name, (size_t)(dash - name));
	prefix[dash - name] = '\0';
	g = ld_group(ld, prefix);
	const char *d = dash + 1;
	if (!g || g->count == 1 || *d < '0' || *d > '9' || (d[0] == '0' && d[1]) || strlen(d) > 9)
		return -ENOENT;
	char *end;
	unsigned long v = strtoul(d, &end, 10);
	if (*end || v >= g->count)
		return -ENOENT;
	*index = g->first_index + (uint32_t)v;
	return 0;
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Once services and the timeline's defines are known: their names, sorted
 * (service_known() is asked for every serve line). */
static void index_services(struct loader *ld)
{
	size_t n = ld->sc->n_services + ld->n_defined;

	ld->services = malloc(sizeof(*ld->services) * (n ? n : 1));
	if (!ld->services) {
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < ld->sc->n_services; i++)
		ld->services[i] = ld->sc->services[i].name;
	for (size_t i = 0; i < ld->n_defined; i++)
		ld->services[ld->sc->n_services + i] = ld->defined[i];
	qsort(ld->services, n, sizeof(*ld->services), str_ptr_cmp);
	ld->n_services = n;
}

static int user_ptr_cmp(const void *a, const void *b)
{
	const struct scenario_user *const *x = a, *const *y = b;
	int c = strcmp((*x)->login, (*y)->login);
	return c ? c : (*x > *y) - (*x < *y);
}

/* Once users are loaded: their indexes by login (a node names its user). */
static void index_users(struct loader *ld)
{
	size_t n = ld->sc->n_users;

	ld->users = malloc(sizeof(*ld->users) * (n ? n : 1));
	if (!ld->users) {
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		ld->users[i] = &ld->sc->users[i];
	qsort(ld->users, n, sizeof(*ld->users), user_ptr_cmp);
}

/* scenario_user_find(): the first user with that login, or -1. */
static int ld_user_find(struct loader *ld, const char *login)
{
	const struct scenario *sc = ld->sc;
	size_t lo = 0, hi = sc->n_users;

	if (!ld->users)
		return scenario_user_find(sc, login);
	while (lo < hi) { /* the first login >= login */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(ld->users[mid]->login, login) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sc->n_users && !strcmp(ld->users[lo]->login, login))
		return (int)(ld->users[lo] - sc->users);
	return -1;
}

bool scenario_workload_has_client(const struct scenario *sc, const struct scenario_workload *w,
                                  uint32_t index)
{
	char name[SCENARIO_NAME_MAX + 16];

	if (!scenario_node_name(sc, index, name, sizeof(name)))
		return false;
	return fnmatch(w->from, name, 0) == 0;
}

/* Did-you-mean hints cost a scan of every candidate: skip them once no
 * more diagnostics are kept (their text would be dropped anyway). */
static bool hints_wanted(const struct loader *ld)
{
	return ld->diags->count < SCENARIO_DIAGS_MAX;
}

/* did_you_mean over a list built on the heap (NULL: out of memory, or
 * hints not wanted). */
static void hint_from(struct loader *ld, const char *word, const char **cands, size_t n, char *hint,
                      size_t len)
{
	hint[0] = '\0';
	if (cands)
		did_you_mean(word, cands, n, hint, len);
	else if (hints_wanted(ld))
		ld->oom = true;
}

/* A user reference: the index, or -1 after reporting it. */
static int user_ref(struct loader *ld, const yaml_node_t *v)
{
	struct scenario *sc = ld->sc;
	char hint[300];

	int u = ld_user_find(ld, scalar(v));
	if (u >= 0)
		return u;
	const char **names = malloc(sizeof(*names) * (sc->n_users + 1));
	for (size_t i = 0; names && i < sc->n_users; i++)
		names[i] = sc->users[i].login;
	hint_from(ld, scalar(v), names, sc->n_users, hint, sizeof(hint));
	free(names);
	if (sc->n_users == 0)
		error_at(ld, v, "unknown user '%.80s' (no users are declared)", scalar(v));
	else
		error_at(ld, v, "unknown user '%.80s'%s", scalar(v), hint);
	return -1;
}

/* Candidate node names for a did-you-mean: single nodes by name, groups
 * as name-N (N from `word`'s "-N" ending when the group has that many, else
 * 0; name-* for globs), each with `suffix` appended. One malloc'd block
 * (pointers, then strings) the caller frees; NULL when out of memory or
 * when hints are not wanted. */
static const char **node_cands_suffixed(struct loader *ld, size_t *n, bool globs,
                                        const char *suffix, const char *word)
{
	struct scenario *sc = ld->sc;
	size_t count = (size_t)sc->group_count, bytes = 0, slen = strlen(suffix);
	const char *dash = word ? strrchr(word, '-') : NULL;
	unsigned long want = 0;

	*n = 0;
	if (!hints_wanted(ld))
		return NULL;
	if (dash && dash[1] && strlen(dash + 1) <= 9 &&
	    strspn(dash + 1, "0123456789") == strlen(dash + 1))
		want = strtoul(dash + 1, NULL, 10);
	for (size_t i = 0; i < count; i++)
		bytes += strlen(sc->groups[i].name) + 12 + slen;
	const char **c = malloc(sizeof(*c) * (count + 1) + bytes);
	if (!c)
		return NULL;
	char *p = (char *)(c + count + 1);
	for (size_t i = 0; i < count; i++) {
		const struct scenario_node_group *g = &sc->groups[i];
		int w;
		if (g->count == 1)
			w = sprintf(p, "%s%s", g->name, suffix);
		else if (globs)
			w = sprintf(p, "%s-*%s", g->name, suffix);
		else
			w = sprintf(p, "%s-%lu%s", g->name, want < g->count ? want : 0, suffix);
		c[(*n)++] = p;
		p += w + 1;
	}
	return c;
}

static const char **node_cands(struct loader *ld, size_t *n, bool globs, const char *word)
{
	return node_cands_suffixed(ld, n, globs, "", word);
}

/* An expanded node name: 0 and *index, or -1 after reporting it. */
static int node_ref(struct loader *ld, const char *what, const yaml_node_t *v, uint32_t *index)
{
	char hint[120];
	size_t n;

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		char buf[80];
		error_at(ld, v, "expected a node name, got %s", describe(v, buf, sizeof(buf)));
		return -1;
	}
	if (ld_node_find(ld, scalar(v), index) == 0)
		return 0;
	const char **c = node_cands(ld, &n, false, scalar(v));
	hint_from(ld, scalar(v), c, n, hint, sizeof(hint));
	free(c);
	error_at(ld, v, "%sunknown node '%.80s'%s", what, scalar(v), hint);
	return -1;
}

static bool service_known(struct loader *ld, const char *name)
{
	if (ld->services)
		return bsearch(&name, ld->services, ld->n_services, sizeof(*ld->services),
		               str_ptr_cmp) != NULL;
	if (scenario_service_find(ld->sc, name) >= 0)
		return true;
	for (size_t i = 0; i < ld->n_defined; i++)
		if (!strcmp(ld->defined[i], name))
			return true;
	return false;
}

/* The did-you-mean among every known service ("svc:web"), or with `dns`
 * among their MagicDNS names (label.tailnet) and the nodes' names. */
static void service_hint(struct loader *ld, const char *word, bool dns, char *hint, size_t len)
{
	struct scenario *sc = ld->sc;
	size_t n = 0, nodes = 0, services = sc->n_services + ld->n_defined;
	char suffix[SCENARIO_TAILNET_MAX + 2];
	const char **nc = NULL, **c;
	char(*names)[SCENARIO_SERVICE_NAME_MAX + SCENARIO_TAILNET_MAX + 2] = NULL;

	hint[0] = '\0';
	if (!hints_wanted(ld))
		return;
	snprintf(suffix, sizeof(suffix), ".%s", sc->tailnet);
	if (dns) {
		nc = node_cands_suffixed(ld, &nodes, false, suffix, NULL);
		names = malloc(sizeof(*names) * (services + 1));
	}
	c = malloc(sizeof(*c) * (services + nodes + 1));
	if (!c || (dns && (!nc || !names))) {
		ld->oom = true;
		goto out;
	}
	for (size_t i = 0; i < services; i++) {
		const char *name =
		    i < sc->n_services ? sc->services[i].name : ld->defined[i - sc->n_services];
		if (dns) {
			snprintf(names[i], sizeof(names[i]), "%s%s", name + 4, suffix);
			c[n++] = names[i];
		} else {
			c[n++] = name;
		}
	}
	for (size_t i = 0; i < nodes; i++)
		c[n++] = nc[i];
	did_you_mean(word, c, n, hint, len);
out:
	free(c);
	free(nc);
	free(names);
}

/* A reference to a service defined in services or by a timeline define:
 * true, or false after reporting it. */
static bool service_ref(struct loader *ld, const char *what, const yaml_node_t *at,
                        const char *name)
{
	char hint[160];

	if (service_known(ld, name))
		return true;
	service_hint(ld, name, false, hint, sizeof(hint));
	error_at(ld, at, "%sunknown service '%.80s'%s", what, name, hint);
	return false;
}

const char *scenario_service_name_problem(const char *name)
{
	size_t len;

	if (strncmp(name, "svc:", 4) != 0)
		return "a service name starts with 'svc:'";
	name += 4;
	len = strlen(name);
	if (len == 0)
		return "the label after 'svc:' is empty";
	if (len > 63)
		return "the label after 'svc:' is longer than 63 characters";
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-')
			return "the label may hold only letters, digits and '-'";
	}
	if (name[0] == '-' || name[len - 1] == '-')
		return "the label must start and end with a letter or digit";
	return NULL;
}

/* SVC-1 on a scalar; reports "service name 'x' is not valid (SVC-1: ...)". */
static bool check_service_name(struct loader *ld, const yaml_node_t *at, const char *name)
{
	const char *why = scenario_service_name_problem(name);

	if (!why)
		return true;
	error_at(ld, at, "service name '%.80s' is not valid (SVC-1: %s)", name, why);
	return false;
}

/* ---- tags (owned in policy tagOwners) ---- */

/* A tag used by a node, a service or a define: "tag:x", owned in the
 * policy's tagOwners. */
static bool check_tag(struct loader *ld, const yaml_node_t *at, const char *tag)
{
	char hint[160] = "";

	if (strncmp(tag, "tag:", 4) != 0 || !tag[4]) {
		error_at(ld, at, "tag '%.80s' must be 'tag:' and a name", tag);
		return false;
	}
	if (strlen(tag) > SCENARIO_TAG_MAX) {
		error_at(ld, at, "tag '%.40s...' is longer than %d characters", tag,
		         SCENARIO_TAG_MAX);
		return false;
	}
	if (ld->policy && policy_tag_known(ld->policy, tag))
		return true;
	if (!ld->policy_node) {
		error_at(ld, at,
		         "tag '%.80s' is not owned in policy tagOwners (there is no policy)", tag);
		return false;
	}
	if (!ld->policy) /* the policy is bad: reported there */
		return false;
	/* did you mean: among the tagOwners keys of the YAML policy */
	const yaml_node_t *p = ld->policy_node;
	for (yaml_node_pair_t *q = p->data.mapping.pairs.start; q < p->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = node_get(ld, q->key), *v = node_get(ld, q->value);
		if (k->type != YAML_SCALAR_NODE || strcmp(scalar(k), "tagOwners") != 0 ||
		    v->type != YAML_MAPPING_NODE)
			continue;
		size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
		const char **c = malloc(sizeof(*c) * (n + 1));
		size_t m = 0;
		for (size_t i = 0; c && i < n; i++) {
			yaml_node_t *tk = node_get(ld, v->data.mapping.pairs.start[i].key);
			if (tk->type == YAML_SCALAR_NODE)
				c[m++] = scalar(tk);
		}
		hint_from(ld, tag, c, m, hint, sizeof(hint));
		free(c);
	}
	error_at(ld, at, "tag '%.80s' is not owned in policy tagOwners%s", tag, hint);
	return false;
}

static bool load_node_tags(struct loader *ld, const yaml_node_t *seq, struct scenario_node_group *g)
{
	bool ok = seq_scalars(ld, "tags", seq);

	if (!ok)
		return false;
	if (seq_len(seq) > SCENARIO_NODE_TAGS_MAX) {
		error_at(ld, seq, "too many tags: %zu (max %d)", seq_len(seq),
		         SCENARIO_NODE_TAGS_MAX);
		return false;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *t = seq_item(ld, seq, i);
		if (!check_tag(ld, t, scalar(t))) {
			ok = false;
			continue;
		}
		g->tags[g->n_tags++] = ld_strdup(ld, scalar(t));
	}
	return ok;
}

/* ---- backends and serve lines of a node ---- */

/* "127.0.0.1:PORT" -> port. */
static bool parse_listen(const char *s, uint16_t *port)
{
	static const char prefix[] = "127.0.0.1:";
	char *end;

	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	s += sizeof(prefix) - 1;
	if (*s < '1' || *s > '9')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool load_backends(struct loader *ld, const yaml_node_t *seq, struct scenario_node_group *g)
{
	bool ok = true;
	unsigned first_line[SCENARIO_BACKENDS_MAX];

	if (seq_len(seq) > SCENARIO_BACKENDS_MAX) {
		error_at(ld, seq, "too many backends: %zu (max %d)", seq_len(seq),
		         SCENARIO_BACKENDS_MAX);
		return false;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *item = seq_item(ld, seq, i), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		struct scenario_backend b = {.kind = SCENARIO_BACKEND_HTTP, .body_bytes = 1000};
		if (!is_mapping_for(ld, item, "a backend")) {
			ok = false;
			continue;
		}
		bool b_ok = collect(ld, item, SCENARIO_SECTION_BACKEND, " in backend", keys, vals);
		if (vals[BACKEND_LISTEN]) {
			if (!parse_listen(scalar(vals[BACKEND_LISTEN]), &b.port)) {
				error_at(ld, vals[BACKEND_LISTEN],
				         "listen '%.80s' must be 127.0.0.1:PORT (port 1..65535)",
				         scalar(vals[BACKEND_LISTEN]));
				b_ok = false;
			} else {
				for (size_t j = 0; j < g->n_backends; j++) {
					if (g->backends[j].port != b.port)
						continue;
					error_at(ld, vals[BACKEND_LISTEN],
					         "two backends listen on 127.0.0.1:%u (first at "
					         "line %u)",
					         b.port, first_line[j]);
					b_ok = false;
				}
			}
		}
		if (vals[BACKEND_KIND]) {
			int k = choice_ref(ld, "backend kind", vals[BACKEND_KIND],
			                   scenario_backend_words);
			if (k < 0)
				b_ok = false;
			else
				b.kind = (enum scenario_backend_kind)k;
		}
		if (vals[BACKEND_SERVICE_TIME] &&
		    !get_duration(ld, "service_time", vals[BACKEND_SERVICE_TIME],
		                  SCENARIO_LATENCY_MAX_US, "10s", &b.service_time_us))
			b_ok = false;
		if (vals[BACKEND_BODY] && !get_size(ld, "body", vals[BACKEND_BODY], &b.body_bytes))
			b_ok = false;
		if (!b_ok) {
			ok = false;
			continue;
		}
		first_line[g->n_backends] = (unsigned)item->start_mark.line + 1;
		g->backends[g->n_backends++] = b;
	}
	return ok;
}

/* A serve command line: parsed with the daemon's own grammar; a service
 * it names should exist (a warning: a scenario may test the refusal). */
static bool check_serve_line(struct loader *ld, const yaml_node_t *v)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[SERVE_ERR_LEN];
	bool ok = true;

	if (!op) {
		ld->oom = true;
		return false;
	}
	if (strlen(scalar(v)) > SCENARIO_LINE_MAX) {
		error_at(ld, v, "serve line is longer than %d bytes", SCENARIO_LINE_MAX);
		ok = false;
	} else if (strncmp(scalar(v), "serve", 5) != 0 ||
	           (scalar(v)[5] != ' ' && scalar(v)[5] != '\t' && scalar(v)[5] != '\0')) {
		error_at(ld, v, "a serve line starts with 'serve', got '%.80s'", scalar(v));
		ok = false;
	} else if (serve_cmd_parse_line(scalar(v), strlen(scalar(v)), op, err, sizeof(err))) {
		error_at(ld, v, "bad serve command: %s", err);
		ok = false;
	} else if (op->service[0] && !service_known(ld, op->service)) {
		char hint[160];
		service_hint(ld, op->service, false, hint, sizeof(hint));
		warn_at(ld, v,
		        "serve names service '%s', which neither services nor a timeline "
		        "define creates%s",
		        op->service, hint);
	}
	free(op);
	return ok;
}

static bool load_serve_lines(struct loader *ld, const yaml_node_t *seq,
                             struct scenario_node_group *g)
{
	bool ok = seq_scalars(ld, "serve", seq);

	if (!ok)
		return false;
	if (seq_len(seq) > SCENARIO_SERVE_MAX) {
		error_at(ld, seq, "too many serve lines: %zu (max %d)", seq_len(seq),
		         SCENARIO_SERVE_MAX);
		return false;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *v = seq_item(ld, seq, i);
		if (!check_serve_line(ld, v)) {
			ok = false;
			continue;
		}
		struct scenario_serve_line *l = &g->serve[g->n_serve++];
		l->text = ld_strdup(ld, scalar(v));
		pos_of(v, &l->line, &l->column);
	}
	return ok;
}

/* ---- users, control, policy, services ---- */

static bool load_users(struct loader *ld, const yaml_node_t *map)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	bool ok = true;
	char buf[80];

	if (n > SCENARIO_USERS_MAX) {
		error_at(ld, map, "too many users: %zu (max %d)", n, SCENARIO_USERS_MAX);
		return false;
	}
	sc->users = calloc(n ? n : 1, sizeof(*sc->users));
	if (!sc->users) {
		ld->oom = true;
		return false;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
		struct scenario_user u = {.role = SCENARIO_ROLE_MEMBER};
		bool u_ok = true;

		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			error_at(ld, k, "expected a user login, got %s",
			         describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		const char *login = scalar(k);
		if (strlen(login) > SCENARIO_LOGIN_MAX || strpbrk(login, " \t,\"") ||
		    !strchr(login, '@') || login[0] == '@') {
			error_at(ld, k,
			         "user login '%.80s' must look like name@domain (no blanks, "
			         "commas or quotes, at most %d characters)",
			         login, SCENARIO_LOGIN_MAX);
			ok = false;
			continue;
		}
		int dup = scenario_user_find(sc, login);
		if (dup >= 0) {
			error_at(ld, k, "duplicate user '%s'", login);
			ok = false;
			continue;
		}
		if (v->type == YAML_MAPPING_NODE) {
			u_ok = collect(ld, v, SCENARIO_SECTION_USER, " in user", keys, vals);
			if (vals[USER_ROLE]) {
				int r =
				    choice_ref(ld, "role", vals[USER_ROLE], scenario_role_words);
				if (r < 0)
					u_ok = false;
				else
					u.role = (enum scenario_role)r;
			}
			if (vals[USER_DISPLAY_NAME]) {
				const char *d = scalar(vals[USER_DISPLAY_NAME]);
				if (strlen(d) > SCENARIO_DISPLAY_NAME_MAX) {
					error_at(ld, vals[USER_DISPLAY_NAME],
					         "display_name is longer than %d bytes",
					         SCENARIO_DISPLAY_NAME_MAX);
					u_ok = false;
				} else {
					snprintf(u.display_name, sizeof(u.display_name), "%s", d);
				}
			}
		} else if (!is_null(v)) {
			error_at(ld, v, "expected a mapping ({role: ...}) for user '%s', got %s",
			         login, describe(v, buf, sizeof(buf)));
			u_ok = false;
		}
		snprintf(u.login, sizeof(u.login), "%s", login);
		sc->users[sc->n_users++] = u; /* kept even when bad: no cascade of unknown user */
		if (!u_ok)
			ok = false;
	}
	return ok;
}

/* YAML -> cJSON for the policy: mappings are objects, sequences arrays,
 * plain null/true/false the JSON literals, every other scalar a string
 * (so `ip: [443]` means "443"). NULL on error (reported) or OOM, or when
 * *json_bytes, a lower bound of the JSON text's length kept as nodes are
 * added, passes SCENARIO_POLICY_MAX (not reported: the caller does): an
 * alias expands here, so the size is checked as it grows. */
static cJSON *yaml_to_json(struct loader *ld, const yaml_node_t *n, int depth, size_t *json_bytes)
{
	cJSON *out = NULL;
	char buf[80];

	if (depth > 32) {
		error_at(ld, n, "policy nests more than 32 deep");
		return NULL;
	}
	/* a string's quotes, a literal's or an empty collection's length */
	*json_bytes += n->type == YAML_SCALAR_NODE ? strlen(scalar(n)) + 2 : 2;
	if (*json_bytes > SCENARIO_POLICY_MAX)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = scalar(n);
		bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (is_null(n))
			out = cJSON_CreateNull();
		else if (plain && !strcmp(s, "true"))
			out = cJSON_CreateTrue();
		else if (plain && !strcmp(s, "false"))
			out = cJSON_CreateFalse();
		else
			out = cJSON_CreateString(s);
		break;
	}
	case YAML_SEQUENCE_NODE:
		out = cJSON_CreateArray();
		for (size_t i = 0; out && i < seq_len(n); i++) {
			*json_bytes += i > 0; /* a comma */
			cJSON *c = yaml_to_json(ld, seq_item(ld, n, i), depth + 1, json_bytes);
			if (!c) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToArray(out, c);
		}
		break;
	case YAML_MAPPING_NODE:
		out = cJSON_CreateObject();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     out && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_get(ld, p->key);
			if (k->type != YAML_SCALAR_NODE || is_null(k)) {
				error_at(ld, k, "expected a key name in policy, got %s",
				         describe(k, buf, sizeof(buf)));
				cJSON_Delete(out);
				return NULL;
			}
			/* "key": and a comma */
			*json_bytes += strlen(scalar(k)) + 3 + (p > n->data.mapping.pairs.start);
			cJSON *c = yaml_to_json(ld, node_get(ld, p->value), depth + 1, json_bytes);
			if (!c) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToObject(out, scalar(k), c);
		}
		break;
	case YAML_NO_NODE:
		break;
	}
	if (!out)
		ld->oom = true;
	return out;
}

/* In mapping `map`, the pair whose key is the longest prefix of `p`
 * followed by one of `ends`; its length in *len. */
static yaml_node_pair_t *key_prefix(struct loader *ld, const yaml_node_t *map, const char *p,
                                    const char *ends, size_t *len)
{
	yaml_node_pair_t *best = NULL;

	*len = 0;
	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < map->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = node_get(ld, q->key);
		if (k->type != YAML_SCALAR_NODE)
			continue;
		size_t n = strlen(scalar(k));
		if (n > *len && !strncmp(p, scalar(k), n) && p[n] && strchr(ends, p[n])) {
			best = q;
			*len = n;
		}
	}
	return best;
}

/* Maps the place a policy error names (`grants[0].dst[1]: ...`,
 * `tagOwners: tag:web: ...`, `autoApprovers.services["svc:x"][0]: ...`)
 * back to the YAML node it came from; the policy key when nothing
 * matches. */
static const yaml_node_t *policy_place(struct loader *ld, const yaml_node_t *root, const char *msg)
{
	const yaml_node_t *cur = root, *at = root;
	const char *p = msg;
	size_t len;

	for (int steps = 0; *p && steps < 64; steps++) {
		if (*p == '[' && p[1] == '"' && cur->type == YAML_MAPPING_NODE) {
			const char *q = strchr(p + 2, '"');
			yaml_node_pair_t *pair = NULL;
			if (!q || q[1] != ']')
				break;
			for (yaml_node_pair_t *r = cur->data.mapping.pairs.start;
			     r < cur->data.mapping.pairs.top; r++) {
				yaml_node_t *k = node_get(ld, r->key);
				if (k->type == YAML_SCALAR_NODE &&
				    strlen(scalar(k)) == (size_t)(q - p - 2) &&
				    !strncmp(scalar(k), p + 2, (size_t)(q - p - 2)))
					pair = r;
			}
			if (!pair)
				break;
			at = node_get(ld, pair->key);
			cur = node_get(ld, pair->value);
			p = q + 2;
			continue;
		}
		if (*p == '[' && cur->type == YAML_SEQUENCE_NODE) {
			char *end;
			unsigned long i = strtoul(p + 1, &end, 10);
			if (end == p + 1 || *end != ']' || i >= seq_len(cur))
				break;
			cur = at = seq_item(ld, cur, i);
			p = end + 1;
			continue;
		}
		if (cur->type != YAML_MAPPING_NODE)
			break;
		const char *name = p;
		if (*p == '.')
			name = p + 1;
		else if (p[0] == ':' && p[1] == ' ')
			name = p + 2;
		else if (p != msg)
			break;
		yaml_node_pair_t *pair = key_prefix(ld, cur, name, ".[: ", &len);
		if (!pair)
			break;
		at = node_get(ld, pair->key);
		cur = node_get(ld, pair->value);
		p = name + len;
	}
	/* `unknown key "x"` / `duplicate key "x"`: point at that key */
	const char *uk = strstr(p, "key \"");
	if (uk && cur->type == YAML_MAPPING_NODE) {
		uk += 5;
		const char *q = strchr(uk, '"');
		for (yaml_node_pair_t *r = cur->data.mapping.pairs.start;
		     q && r < cur->data.mapping.pairs.top; r++) {
			yaml_node_t *k = node_get(ld, r->key);
			if (k->type == YAML_SCALAR_NODE && strlen(scalar(k)) == (size_t)(q - uk) &&
			    !strncmp(scalar(k), uk, (size_t)(q - uk)))
				at = k;
		}
	}
	return at;
}

static bool load_policy(struct loader *ld, const yaml_node_t *key, const yaml_node_t *map)
{
	char err[POLICY_ERR_LEN];
	bool ok = false;

	ld->policy_node = map;
	size_t json_bytes = 0;
	cJSON *j = yaml_to_json(ld, map, 0, &json_bytes);
	if (!j) {
		if (json_bytes > SCENARIO_POLICY_MAX)
			error_at(ld, key, "policy is more than %u bytes as JSON",
			         SCENARIO_POLICY_MAX);
		return false;
	}
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!text) {
		ld->oom = true;
		return false;
	}
	size_t len = strlen(text);
	if (len > SCENARIO_POLICY_MAX) {
		error_at(ld, key, "policy is %zu bytes as JSON (max %u)", len, SCENARIO_POLICY_MAX);
		goto out;
	}
	int rc = policy_parse(text, len, &ld->policy, err, sizeof(err));
	if (rc == -ENOMEM) {
		ld->oom = true;
		goto out;
	}
	if (rc) {
		const yaml_node_t *at = policy_place(ld, map, err);
		error_at(ld, at == map ? key : at, "policy: %s", err);
		goto out;
	}
	ld->sc->policy_json = text;
	text = NULL;
	ok = true;
out:
	free(text);
	return ok;
}

/* "tcp:N", "tcp:N-M" (SVC-4). NULL when good, else why not. */
static const char *parse_port_range(const char *s, struct scenario_port_range *r)
{
	char *end;
	unsigned long a, b;

	if (!strncmp(s, "udp:", 4))
		return "services carry TCP only (SVC-4)";
	if (strncmp(s, "tcp:", 4) != 0)
		return "expected tcp:N, tcp:N-M or do-not-validate";
	s += 4;
	if (*s < '0' || *s > '9')
		return "expected tcp:N, tcp:N-M or do-not-validate";
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		s = end + 1;
		if (*s < '0' || *s > '9')
			return "expected tcp:N, tcp:N-M or do-not-validate";
		b = strtoul(s, &end, 10);
	}
	if (*end)
		return "expected tcp:N, tcp:N-M or do-not-validate";
	if (a < 1 || a > 65535 || b < 1 || b > 65535)
		return "ports are 1..65535";
	if (b < a)
		return "the range ends before it starts";
	r->first = (uint16_t)a;
	r->last = (uint16_t)b;
	return NULL;
}

static bool load_services(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_SERVICES_MAX) {
		error_at(ld, seq, "too many services: %zu (max %d)", n, SCENARIO_SERVICES_MAX);
		return false;
	}
	sc->services = calloc(n ? n : 1, sizeof(*sc->services));
	if (!sc->services) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		struct scenario_service *s = &sc->services[sc->n_services];
		if (!is_mapping_for(ld, item, "a service")) {
			ok = false;
			continue;
		}
		bool s_ok = collect(ld, item, SCENARIO_SECTION_SERVICE, " in service", keys, vals);
		memset(s, 0, sizeof(*s));
		s->description = "";
		s->ports_text = "";
		pos_of(item, &s->line, &s->column);
		if (vals[SERVICE_NAME]) {
			const char *name = scalar(vals[SERVICE_NAME]);
			if (!check_service_name(ld, vals[SERVICE_NAME], name)) {
				s_ok = false;
			} else if (scenario_service_find(sc, name) >= 0) {
				error_at(ld, vals[SERVICE_NAME],
				         "duplicate service '%s' (first at line %u)", name,
				         sc->services[scenario_service_find(sc, name)].line);
				s_ok = false;
			} else {
				snprintf(s->name, sizeof(s->name), "%s", name);
			}
		}
		if (vals[SERVICE_DESCRIPTION]) {
			if (strlen(scalar(vals[SERVICE_DESCRIPTION])) > SCENARIO_DESCRIPTION_MAX) {
				error_at(ld, vals[SERVICE_DESCRIPTION],
				         "description is longer than %d bytes",
				         SCENARIO_DESCRIPTION_MAX);
				s_ok = false;
			} else {
				s->description = ld_strdup(ld, scalar(vals[SERVICE_DESCRIPTION]));
			}
		}
		yaml_node_t *ports = vals[SERVICE_PORTS];
		if (ports && seq_scalars(ld, "ports", ports)) {
			char text[SCENARIO_SERVICE_PORTS_MAX * 16] = "";
			size_t tl = 0;
			if (seq_len(ports) > SCENARIO_SERVICE_PORTS_MAX) {
				error_at(ld, ports, "too many ports: %zu (max %d)", seq_len(ports),
				         SCENARIO_SERVICE_PORTS_MAX);
				s_ok = false;
			}
			for (size_t j = 0; s_ok && j < seq_len(ports); j++) {
				yaml_node_t *pv = seq_item(ld, ports, j);
				const char *why;
				if (!strcmp(scalar(pv), "do-not-validate")) {
					if (seq_len(ports) != 1) {
						error_at(ld, pv,
						         "do-not-validate must be the only "
						         "entry of ports");
						s_ok = false;
					}
					s->do_not_validate = true;
				} else if ((why = parse_port_range(scalar(pv),
				                                   &s->ports[s->n_ports]))) {
					error_at(ld, pv, "bad port '%.40s' in service: %s",
					         scalar(pv), why);
					s_ok = false;
					continue;
				} else {
					s->n_ports++;
				}
				int w = snprintf(text + tl, sizeof(text) - tl, "%s%s", j ? "," : "",
				                 scalar(pv));
				if (w > 0 && (size_t)w < sizeof(text) - tl)
					tl += (size_t)w;
			}
			s->ports_text = ld_strdup(ld, text);
		} else if (ports) {
			s_ok = false;
		}
		yaml_node_t *tags = vals[SERVICE_TAGS];
		if (tags && seq_scalars(ld, "tags", tags)) {
			if (seq_len(tags) == 0 || seq_len(tags) > SCENARIO_SERVICE_TAGS_MAX) {
				error_at(ld, tags, "a service has 1 to %d tags (SVC-5), got %zu",
				         SCENARIO_SERVICE_TAGS_MAX, seq_len(tags));
				s_ok = false;
			}
			for (size_t j = 0; s_ok && j < seq_len(tags); j++) {
				yaml_node_t *t = seq_item(ld, tags, j);
				if (!check_tag(ld, t, scalar(t)))
					s_ok = false;
				else
					s->tags[s->n_tags++] = ld_strdup(ld, scalar(t));
			}
		} else if (tags) {
			s_ok = false;
		}
		if (s->name[0]) /* keep the name known even when the rest is bad */
			sc->n_services++;
		if (!s_ok)
			ok = false;
	}
	return ok;
}

/* ---- admin commands (timeline) ---- */

#define ADMIN_WORDS_MAX 16

struct admin_words {
	int n;
	char *w[ADMIN_WORDS_MAX];
	char buf[SCENARIO_LINE_MAX + ADMIN_WORDS_MAX + 1];
};

static const char *const scenario_admin_words[] = {"define", "delete",     "approve", "reject",
                                                   "revoke", "set-policy", NULL};

/* Splits an admin command like control does: blanks separate words, a
 * double-quoted span (with \" and \\) keeps its blanks. NULL, or why not. */
static const char *admin_split(const char *line, struct admin_words *aw)
{
	const char *p = line;
	size_t o = 0;

	aw->n = 0;
	if (strlen(line) > SCENARIO_LINE_MAX)
		return "the command is too long";
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return NULL;
		if (aw->n == ADMIN_WORDS_MAX)
			return "too many words";
		aw->w[aw->n++] = aw->buf + o;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p != '"') {
				aw->buf[o++] = *p++;
				continue;
			}
			for (p++; *p != '"'; p++) {
				if (!*p)
					return "unterminated \"";
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				aw->buf[o++] = *p;
			}
			p++;
		}
		aw->buf[o++] = '\0';
	}
}

/* Before the nodes are checked: the services `define` commands in the
 * timeline create, so serve lines, workloads and expectations may name
 * them. Malformed entries are reported later, by load_timeline. */
static void scan_defines(struct loader *ld, const yaml_node_t *seq)
{
	struct admin_words *aw = malloc(sizeof(*aw));
	size_t n = seq_len(seq);

	ld->defined = calloc(n ? n : 1, sizeof(*ld->defined));
	if (!aw || !ld->defined) {
		free(aw);
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (item->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
		     p < item->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
			if (k->type != YAML_SCALAR_NODE || strcmp(scalar(k), "admin") != 0 ||
			    v->type != YAML_SCALAR_NODE)
				continue;
			if (!admin_split(scalar(v), aw) && aw->n >= 2 &&
			    !strcmp(aw->w[0], "define") && !scenario_service_name_problem(aw->w[1]))
				ld->defined[ld->n_defined++] = ld_strdup(ld, aw->w[1]);
			break; /* one admin key per entry (a duplicate is reported later) */
		}
	}
	free(aw);
}

/* A comma-separated option value (--ports=a,b / --tags=a,b), each item checked. */
static bool admin_list(struct loader *ld, const yaml_node_t *v, const char *opt, char *list,
                       bool tags)
{
	bool ok = true;
	char *save = NULL;

	if (!*list) {
		error_at(ld, v, "admin define: %s needs a value", opt);
		return false;
	}
	for (char *it = strtok_r(list, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		struct scenario_port_range r;
		const char *why;
		if (tags) {
			if (!check_tag(ld, v, it))
				ok = false;
		} else if (strcmp(it, "do-not-validate") != 0 && (why = parse_port_range(it, &r))) {
			error_at(ld, v, "admin define: bad port '%.40s': %s", it, why);
			ok = false;
		}
	}
	return ok;
}

static bool check_admin(struct loader *ld, const yaml_node_t *v, struct scenario_event *e)
{
	struct admin_words *aw = malloc(sizeof(*aw));
	const char *why;
	bool ok = false;
	int verb = -1;

	if (!aw) {
		ld->oom = true;
		return false;
	}
	why = admin_split(scalar(v), aw);
	if (why) {
		error_at(ld, v, "admin: %s", why);
		goto out;
	}
	if (aw->n == 0) {
		error_at(ld, v, "admin: the command is empty");
		goto out;
	}
	for (int i = 0; scenario_admin_words[i]; i++)
		if (!strcmp(aw->w[0], scenario_admin_words[i]))
			verb = i;
	if (verb < 0) {
		char list[120];
		const char *near = nearest(aw->w[0], scenario_admin_words, 6);
		words_text(scenario_admin_words, list, sizeof(list));
		if (near)
			error_at(ld, v,
			         "unknown admin command '%.40s' (expected %s; did you mean '%s'?)",
			         aw->w[0], list, near);
		else
			error_at(ld, v, "unknown admin command '%.40s' (expected %s)", aw->w[0],
			         list);
		goto out;
	}
	e->verb = (enum scenario_admin_verb)verb;
	e->command = ld_strdup(ld, scalar(v));
	switch (e->verb) {
	case SCENARIO_ADMIN_DEFINE:
		if (aw->n < 2) {
			error_at(ld, v,
			         "admin define needs a service: define svc:NAME [--ports=..] "
			         "[--tags=..] [--description=..]");
			goto out;
		}
		if (!check_service_name(ld, v, aw->w[1]))
			goto out;
		ok = true;
		for (int i = 2; i < aw->n; i++) {
			char *w = aw->w[i];
			if (!strncmp(w, "--ports=", 8))
				ok = admin_list(ld, v, "--ports", w + 8, false) && ok;
			else if (!strncmp(w, "--tags=", 7))
				ok = admin_list(ld, v, "--tags", w + 7, true) && ok;
			else if (strncmp(w, "--description=", 14) != 0) {
				error_at(ld, v,
				         "admin define: unknown option '%.40s' (expected "
				         "--ports=, --tags= or --description=)",
				         w);
				ok = false;
			}
		}
		break;
	case SCENARIO_ADMIN_DELETE:
		if (aw->n != 2) {
			error_at(ld, v, "admin delete takes one service: delete svc:NAME");
			goto out;
		}
		ok = service_ref(ld, "admin delete: ", v, aw->w[1]);
		break;
	case SCENARIO_ADMIN_APPROVE:
	case SCENARIO_ADMIN_REJECT:
	case SCENARIO_ADMIN_REVOKE:
		if (aw->n != 3) {
			error_at(ld, v, "admin %s takes a service and a node: %s svc:NAME NODE",
			         aw->w[0], aw->w[0]);
			goto out;
		}
		ok = service_ref(ld, "admin: ", v, aw->w[1]);
		if (ld_node_find(ld, aw->w[2], &e->host)) {
			char hint[120];
			size_t n;
			const char **c = node_cands(ld, &n, false, aw->w[2]);
			hint_from(ld, aw->w[2], c, n, hint, sizeof(hint));
			free(c);
			error_at(ld, v, "admin %s: unknown node '%.80s'%s", aw->w[0], aw->w[2],
			         hint);
			ok = false;
		}
		break;
	case SCENARIO_ADMIN_SET_POLICY:
		if (aw->n != 2) {
			error_at(ld, v, "admin set-policy takes one file: set-policy FILE");
			goto out;
		}
		e->file = ld_strdup(ld, aw->w[1]);
		ok = true;
		break;
	}
	if (ok && e->verb != SCENARIO_ADMIN_SET_POLICY)
		snprintf(e->service, sizeof(e->service), "%s", aw->w[1]);
out:
	free(aw);
	return ok;
}

/* ---- workloads ---- */

/* How many k in [0, n) are written in decimal starting with digits `d`. */
static uint64_t count_decimal_prefix(const char *d, uint32_t n)
{
	size_t len = strlen(d);
	uint64_t v = 0, count = 0;

	if (len == 0)
		return n;
	if (len > 10 || strspn(d, "0123456789") != len)
		return 0;
	if (d[0] == '0')
		return len == 1 && n > 0;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (uint64_t)(d[i] - '0');
	/* d, d0..d9, d00..d99, ... below n */
	for (uint64_t lo = v, span = 1; lo < n; lo *= 10, span *= 10)
		count += (lo + span - 1 < n ? lo + span - 1 : n - 1) - lo + 1;
	return count;
}

/* Expanded node names that start with `lit`, counted over the sorted
 * groups (no name is formatted), stopping past `cap`. */
static uint64_t count_prefix(struct loader *ld, const char *lit, uint64_t cap)
{
	size_t n = (size_t)ld->sc->group_count, ll = strlen(lit), lo = 0, hi = n;
	char name[SCENARIO_NAME_MAX + 1];
	uint64_t count = 0;

	while (lo < hi) { /* the first group name >= lit */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(ld->by_name[mid]->name, lit) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* groups named lit...: every name they expand to */
	for (size_t i = lo; i < n && count <= cap && !strncmp(ld->by_name[i]->name, lit, ll); i++)
		count += ld->by_name[i]->count;
	/* lit is "group-" and the start of an index */
	for (size_t cut = 1; cut < ll && cut <= SCENARIO_NAME_MAX && count <= cap; cut++) {
		if (lit[cut] != '-')
			continue;
		memcpy(name, lit, cut);
		name[cut] = '\0';
		const struct scenario_node_group *g = ld_group(ld, name);
		if (g && g->count > 1)
			count += count_decimal_prefix(lit + cut + 1, g->count);
	}
	return count;
}

/* How many nodes `from` names (counted up to SCENARIO_CLIENTS_MAX + 1),
 * within bounded work: a plain name is looked up, NAME* counted over the
 * sorted groups, and any other glob tested with fnmatch() against every
 * node name, SCENARIO_GLOB_TESTS_MAX names in all (glibc's fnmatch takes
 * microseconds on a hostile glob: 1024 of them over 100,000 nodes took
 * minutes). -E2BIG when that budget is spent. */
static int from_clients(struct loader *ld, const char *glob, uint64_t *count)
{
	const struct scenario *sc = ld->sc;
	static const char specials[] = "*?[\\";
	size_t len = strlen(glob), plain = strcspn(glob, specials);
	char name[SCENARIO_NAME_MAX + 16];
	uint32_t index;

	*count = 0;
	if (plain == len) {
		*count = ld_node_find(ld, glob, &index) == 0;
		return 0;
	}
	if (plain == len - 1 && glob[plain] == '*') {
		char lit[SCENARIO_FROM_MAX + 1];
		memcpy(lit, glob, plain);
		lit[plain] = '\0';
		*count = count_prefix(ld, lit, SCENARIO_CLIENTS_MAX);
		return 0;
	}
	if (ld->glob_tests + sc->node_count > SCENARIO_GLOB_TESTS_MAX)
		return -E2BIG;
	ld->glob_tests += sc->node_count;
	for (uint32_t i = 0; i < sc->node_count && *count <= SCENARIO_CLIENTS_MAX; i++) {
		scenario_node_name(sc, i, name, sizeof(name));
		*count += fnmatch(glob, name, 0) == 0;
	}
	return 0;
}

static bool is_vip4(const unsigned char *a)
{
	return a[0] == 100 && (a[1] & 0xc0) == 64;
}

static bool is_vip6(const unsigned char *a)
{
	static const unsigned char prefix[6] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* `to`: <label>.<tailnet>:port, svc:X:port, or a VIP literal. */
static bool parse_target(struct loader *ld, const yaml_node_t *v, struct scenario_workload *w)
{
	struct scenario *sc = ld->sc;
	const char *s = scalar(v), *colon = strrchr(s, ':');
	char host[SCENARIO_TAILNET_MAX + 8], *end;
	unsigned char addr[16];

	w->to = ld_strdup(ld, s);
	if (!colon || colon == s || colon[1] < '0' || colon[1] > '9' ||
	    (strchr(s, ':') == colon && !strncmp(s, "svc:", 4))) {
		error_at(ld, v, "to '%.80s' needs a port (like web.%s:443 or svc:web:443)", s,
		         sc->tailnet);
		return false;
	}
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		error_at(ld, v, "to '%.80s': bad port '%.20s' (1..65535)", s, colon + 1);
		return false;
	}
	w->port = (uint16_t)port;
	if ((size_t)(colon - s) >= sizeof(host)) {
		error_at(ld, v, "to '%.80s...' is too long", s);
		return false;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (!strncmp(host, "svc:", 4)) {
		if (!check_service_name(ld, v, host) || !service_ref(ld, "", v, host))
			return false;
		w->target = SCENARIO_TARGET_SERVICE;
		size_t sl = strnlen(host, sizeof(w->service) - 1); /* checked above */
		memcpy(w->service, host, sl);
		w->service[sl] = '\0';
		char dns[sizeof(w->service) + SCENARIO_TAILNET_MAX + 2];
		snprintf(dns, sizeof(dns), "%s.%s", w->service + 4, sc->tailnet);
		w->host_name = ld_strdup(ld, dns);
		return true;
	}
	if (host[0] == '[') {
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']') {
			error_at(ld, v,
			         "to '%.80s': an IPv6 VIP is written [fd7a:115c:a1e0::n]:port", s);
			return false;
		}
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, addr) != 1 || !is_vip6(addr)) {
			error_at(ld, v,
			         "to '%.80s': '%s' is not a tailnet IPv6 address "
			         "(fd7a:115c:a1e0::/48)",
			         s, host + 1);
			return false;
		}
		w->target = SCENARIO_TARGET_VIP;
		size_t al = strnlen(host + 1, sizeof(w->address) - 1);
		memcpy(w->address, host + 1, al);
		w->address[al] = '\0';
		w->host_name = ld_strdup(ld, w->address);
		return true;
	}
	if (strspn(host, "0123456789.") == strlen(host)) {
		if (inet_pton(AF_INET, host, addr) != 1 || !is_vip4(addr)) {
			error_at(ld, v,
			         "to '%.80s': '%s' is not a tailnet IPv4 address "
			         "(100.64.0.0/10)",
			         s, host);
			return false;
		}
		w->target = SCENARIO_TARGET_VIP;
		size_t al = strnlen(host, sizeof(w->address) - 1);
		memcpy(w->address, host, al);
		w->address[al] = '\0';
		w->host_name = ld_strdup(ld, w->address);
		return true;
	}
	/* a MagicDNS name: one label, then the tailnet suffix */
	size_t hl = strlen(host), tl = strlen(sc->tailnet);
	char *dot = strchr(host, '.');
	if (!dot || hl != (size_t)(dot - host) + 1 + tl || strcasecmp(dot + 1, sc->tailnet) != 0 ||
	    dot == host) {
		error_at(ld, v,
		         "to '%.80s' is not a name in the tailnet (expected "
		         "<name>.%s:port, svc:NAME:port or a VIP address)",
		         s, sc->tailnet);
		return false;
	}
	char label[SCENARIO_TAILNET_MAX + 8];
	snprintf(label, sizeof(label), "svc:%.*s", (int)(dot - host), host);
	if (!scenario_service_name_problem(label) && service_known(ld, label)) {
		w->target = SCENARIO_TARGET_SERVICE;
		snprintf(w->service, sizeof(w->service), "%.*s", (int)sizeof(w->service) - 1,
		         label);
	} else if (ld_node_find(ld, label + 4, &w->node) == 0) {
		w->target = SCENARIO_TARGET_NODE;
	} else {
		char hint[200];
		service_hint(ld, host, true, hint, sizeof(hint));
		error_at(ld, v, "to '%.80s' names no service (%s) and no node%s", s, label, hint);
		return false;
	}
	w->host_name = ld_strdup(ld, host);
	return true;
}

/* A service target's port should be one of the service's ports (STA-2:
 * hosts need a config for them); a warning, a scenario may test it. */
static void check_target_port(struct loader *ld, const yaml_node_t *v,
                              const struct scenario_workload *w)
{
	int i =
	    w->target == SCENARIO_TARGET_SERVICE ? scenario_service_find(ld->sc, w->service) : -1;
	if (i < 0)
		return;
	const struct scenario_service *s = &ld->sc->services[i];
	if (s->do_not_validate || s->n_ports == 0)
		return;
	for (size_t j = 0; j < s->n_ports; j++)
		if (w->port >= s->ports[j].first && w->port <= s->ports[j].last)
			return;
	warn_at(ld, v, "port %u is not one of %s's ports (%s)", w->port, s->name, s->ports_text);
}

/* A key that applies to some workload kinds only. */
static bool wl_applies(struct loader *ld, yaml_node_t *key, bool applies, const char *kinds)
{
	if (!key || applies)
		return true;
	error_at(ld, key, "'%s' applies to %s workloads only", scalar(key), kinds);
	return false;
}

static bool load_workloads(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;
	char why[200];

	if (n > SCENARIO_WORKLOADS_MAX) {
		error_at(ld, seq, "too many workloads: %zu (max %d)", n, SCENARIO_WORKLOADS_MAX);
		return false;
	}
	sc->workloads = calloc(n ? n : 1, sizeof(*sc->workloads));
	if (!sc->workloads) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		struct scenario_workload *w = &sc->workloads[sc->n_workloads];
		if (!is_mapping_for(ld, item, "a workload")) {
			ok = false;
			continue;
		}
		bool w_ok =
		    collect(ld, item, SCENARIO_SECTION_WORKLOAD, " in workload", keys, vals);
		memset(w, 0, sizeof(*w));
		*w = (struct scenario_workload){
		    .rate_per_s = 1.0,
		    .path = "/",
		    .stop_us = sc->duration_us,
		    .connections = 1,
		    .from = "",
		    .to = "",
		    .host_name = "",
		};
		pos_of(item, &w->line, &w->column);
		if (vals[WL_NAME]) {
			const char *name = scalar(vals[WL_NAME]);
			bool dup = false;
			for (size_t j = 0; j < sc->n_workloads; j++) {
				if (strcmp(sc->workloads[j].name, name) != 0)
					continue;
				error_at(ld, vals[WL_NAME],
				         "duplicate workload '%s' (first at line %u)", name,
				         sc->workloads[j].line);
				dup = true;
			}
			if (dup || !check_name(ld, "workload name", vals[WL_NAME]))
				w_ok = false;
			else
				snprintf(w->name, sizeof(w->name), "%s", name);
		}
		uint64_t clients = 0;
		if (vals[WL_FROM] && ld->nodes_ok) {
			const char *from = scalar(vals[WL_FROM]);
			int rc;
			if (strlen(from) > SCENARIO_FROM_MAX) {
				error_at(ld, vals[WL_FROM],
				         "from '%.40s...' is longer than %d bytes", from,
				         SCENARIO_FROM_MAX);
				w_ok = false;
			} else if ((rc = from_clients(ld, from, &clients)) < 0) {
				error_at(
				    ld, vals[WL_FROM],
				    "from '%.80s': globs would test more than %d node names in "
				    "all (a glob other than NAME or NAME* is tested against "
				    "every node)",
				    from, SCENARIO_GLOB_TESTS_MAX);
				w_ok = false;
			} else if (clients == 0) {
				char hint[120];
				size_t nc;
				const char **c =
				    node_cands(ld, &nc, strchr(from, '*') != NULL, from);
				hint_from(ld, from, c, nc, hint, sizeof(hint));
				free(c);
				error_at(ld, vals[WL_FROM], "from '%.80s' matches no node%s", from,
				         hint);
				w_ok = false;
			}
			if (clients)
				w->from = ld_strdup(ld, from);
		}
		if (vals[WL_TO] && ld->nodes_ok) {
			if (!parse_target(ld, vals[WL_TO], w))
				w_ok = false;
			else
				check_target_port(ld, vals[WL_TO], w);
		}
		if (vals[WL_KIND]) {
			int k =
			    choice_ref(ld, "workload kind", vals[WL_KIND], scenario_workload_words);
			if (k < 0) {
				w_ok = false;
				k = 0;
			}
			w->kind = (enum scenario_workload_kind)k;
		}
		bool http = w->kind == SCENARIO_WORKLOAD_HTTP;
		bool stream = w->kind == SCENARIO_WORKLOAD_TCP_STREAM;
		bool udp = w->kind == SCENARIO_WORKLOAD_UDP_ECHO;
		if (!wl_applies(ld, keys[WL_RATE], !stream, "http, tcp-echo and udp-echo") ||
		    !wl_applies(ld, keys[WL_CONNECTION], !stream && !udp, "http and tcp-echo") ||
		    !wl_applies(ld, keys[WL_PATH], http, "http") ||
		    !wl_applies(ld, keys[WL_RESPONSE], http, "http") ||
		    !wl_applies(ld, keys[WL_CONNECTIONS], stream, "tcp-stream") ||
		    !wl_applies(ld, keys[WL_HOLD], stream, "tcp-stream"))
			w_ok = false;
		if (vals[WL_RATE]) {
			if (scenario_parse_rate(scalar(vals[WL_RATE]), &w->rate_per_s, why,
			                        sizeof(why))) {
				error_at(ld, vals[WL_RATE], "rate: %s", why);
				w_ok = false;
			} else if (w->rate_per_s <= 0 || w->rate_per_s > SCENARIO_RATE_MAX) {
				error_at(ld, vals[WL_RATE],
				         "rate %s is out of range (more than 0, at "
				         "most 100000/s)",
				         scalar(vals[WL_RATE]));
				w_ok = false;
			}
		}
		if (vals[WL_CONNECTION]) {
			int c = choice_ref(ld, "connection", vals[WL_CONNECTION],
			                   scenario_connection_words);
			if (c < 0)
				w_ok = false;
			else
				w->connection = (enum scenario_connection)c;
		}
		if (vals[WL_PATH]) {
			const char *path = scalar(vals[WL_PATH]);
			if (path[0] != '/' || strlen(path) > SCENARIO_PATH_MAX ||
			    strpbrk(path, " \t\r\n")) {
				error_at(ld, vals[WL_PATH],
				         "path '%.80s' must start with / and have "
				         "no blanks (at most %d bytes)",
				         path, SCENARIO_PATH_MAX);
				w_ok = false;
			} else {
				w->path = ld_strdup(ld, path);
			}
		}
		if (vals[WL_REQUEST] &&
		    !get_size(ld, "request", vals[WL_REQUEST], &w->request_bytes)) {
			w_ok = false;
		} else if (vals[WL_REQUEST] && udp && w->request_bytes &&
		           (w->request_bytes < SCENARIO_UDP_REQUEST_MIN ||
		            w->request_bytes > SCENARIO_UDP_REQUEST_MAX)) {
			error_at(ld, vals[WL_REQUEST],
			         "request %s does not fit a udp-echo datagram (%dB..%dB, or 0 for "
			         "64B)",
			         scalar(vals[WL_REQUEST]), SCENARIO_UDP_REQUEST_MIN,
			         SCENARIO_UDP_REQUEST_MAX);
			w_ok = false;
		}
		if (vals[WL_RESPONSE] &&
		    !get_size(ld, "response", vals[WL_RESPONSE], &w->response_bytes))
			w_ok = false;
		if (vals[WL_START] &&
		    !get_duration(ld, "start", vals[WL_START], SCENARIO_DURATION_MAX_US, "1 day",
		                  &w->start_us))
			w_ok = false;
		if (vals[WL_STOP]) {
			if (!get_duration(ld, "stop", vals[WL_STOP], SCENARIO_DURATION_MAX_US,
			                  "1 day", &w->stop_us)) {
				w_ok = false;
			} else if (w->stop_us > sc->duration_us) {
				error_at(ld, vals[WL_STOP],
				         "stop %s is after the end of the run (duration %llus)",
				         scalar(vals[WL_STOP]),
				         (unsigned long long)(sc->duration_us / 1000000));
				w_ok = false;
			}
		}
		if (w_ok && w->start_us >= w->stop_us) {
			error_at(ld, vals[WL_START] ? vals[WL_START] : item,
			         "start must be before stop (start %lluus, stop %lluus)",
			         (unsigned long long)w->start_us, (unsigned long long)w->stop_us);
			w_ok = false;
		}
		if (vals[WL_CONNECTIONS]) {
			long long c;
			if (get_integer(ld, "connections", vals[WL_CONNECTIONS], 1,
			                SCENARIO_CONNECTIONS_MAX, &c))
				w->connections = (uint32_t)c;
			else
				w_ok = false;
		}
		if (vals[WL_HOLD] && !get_duration(ld, "hold", vals[WL_HOLD],
		                                   SCENARIO_DURATION_MAX_US, "1 day", &w->hold_us))
			w_ok = false;
		/* what the run will set up: one client per node (per connection
		 * for tcp-stream), so a glob cannot make it allocate without bound */
		uint64_t adds = clients * (stream ? w->connections : 1);
		ld->clients += adds;
		if (adds && ld->clients > SCENARIO_CLIENTS_MAX &&
		    ld->clients - adds <= SCENARIO_CLIENTS_MAX) {
			error_at(
			    ld, vals[WL_FROM],
			    "workloads have more than %d clients in all with this one (it adds "
			    "%llu%s)",
			    SCENARIO_CLIENTS_MAX, (unsigned long long)adds,
			    stream ? ": one per connection" : "");
			w_ok = false;
		}
		if (w->name[0]) /* known by name even when bad: no cascade in expect */
			sc->n_workloads++;
		if (!w_ok)
			ok = false;
	}
	return ok;
}

/* ---- timeline ---- */

/* A pair of regions or of nodes (partition, heal): both of one sort. */
static bool pair_ref(struct loader *ld, const char *what, const yaml_node_t *seq, bool *nodes,
                     uint32_t *a, uint32_t *b)
{
	struct scenario *sc = ld->sc;
	bool is_node[2];
	uint32_t idx[2];
	char buf[80];

	if (seq_len(seq) != 2) {
		error_at(ld, seq, "%s must name exactly two regions or two nodes, got %zu", what,
		         seq_len(seq));
		return false;
	}
	for (size_t i = 0; i < 2; i++) {
		yaml_node_t *v = seq_item(ld, seq, i);
		if (v->type != YAML_SCALAR_NODE || is_null(v)) {
			error_at(ld, v, "expected a region or node name, got %s",
			         describe(v, buf, sizeof(buf)));
			return false;
		}
		int r = region_find(sc, scalar(v));
		if (r >= 0) {
			is_node[i] = false;
			idx[i] = (uint32_t)r;
		} else if (ld_node_find(ld, scalar(v), &idx[i]) == 0) {
			is_node[i] = true;
		} else {
			size_t nc;
			const char **c = node_cands(ld, &nc, false, scalar(v));
			const char **all =
			    malloc(sizeof(*all) * (nc + (size_t)sc->region_count + 1));
			char hint[120];
			for (size_t j = 0; all && j < nc; j++)
				all[j] = c[j];
			for (int j = 0; all && j < sc->region_count; j++)
				all[nc + (size_t)j] = sc->regions[j].name;
			hint_from(ld, scalar(v), all, nc + (size_t)sc->region_count, hint,
			          sizeof(hint));
			free(all);
			free(c);
			error_at(ld, v, "unknown region or node '%.80s'%s", scalar(v), hint);
			return false;
		}
	}
	yaml_node_t *second = seq_item(ld, seq, 1);
	const char *na = scalar(seq_item(ld, seq, 0)), *nb = scalar(second);
	if (is_node[0] != is_node[1]) {
		error_at(ld, second,
		         "%s: '%s' is a %s and '%s' a %s; name two regions or two nodes", what, na,
		         is_node[0] ? "node" : "region", nb, is_node[1] ? "node" : "region");
		return false;
	}
	if (idx[0] == idx[1]) {
		error_at(ld, second, "%s names '%s' twice", what, nb);
		return false;
	}
	*nodes = is_node[0];
	*a = idx[0];
	*b = idx[1];
	return true;
}

static int link_find(const struct scenario *sc, uint32_t a, uint32_t b)
{
	for (int i = 0; i < sc->link_count; i++) {
		const struct scenario_link *l = &sc->links[i];
		if (((uint32_t)l->region_a == a && (uint32_t)l->region_b == b) ||
		    ((uint32_t)l->region_a == b && (uint32_t)l->region_b == a))
			return i;
	}
	return -1;
}

static bool load_timeline_link(struct loader *ld, const yaml_node_t *map, struct scenario_event *e)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = collect(ld, map, SCENARIO_SECTION_TIMELINE_LINK, " in link", keys, vals);
	bool nodes;

	if (vals[TLINK_BETWEEN]) {
		if (!pair_ref(ld, "between", vals[TLINK_BETWEEN], &nodes, &e->a, &e->b)) {
			ok = false;
		} else if (nodes) {
			error_at(ld, vals[TLINK_BETWEEN],
			         "a timeline link is between two regions, not nodes");
			ok = false;
		} else if ((e->link = link_find(sc, e->a, e->b)) < 0) {
			error_at(ld, vals[TLINK_BETWEEN],
			         "no link between '%s' and '%s' (a timeline link changes a link "
			         "given in links)",
			         sc->regions[e->a].name, sc->regions[e->b].name);
			ok = false;
		}
	}
	if (!vals[TLINK_LATENCY] && !vals[TLINK_BANDWIDTH] && !vals[TLINK_LOSS] && ok) {
		error_at(ld, map,
		         "a timeline link changes at least one of latency, bandwidth, loss");
		ok = false;
	}
	if (!get_link_params(ld, vals[TLINK_LATENCY], vals[TLINK_BANDWIDTH], vals[TLINK_LOSS],
	                     &e->params))
		ok = false;
	e->set_latency = vals[TLINK_LATENCY] != NULL;
	e->set_bandwidth = vals[TLINK_BANDWIDTH] != NULL;
	e->set_loss = vals[TLINK_LOSS] != NULL;
	return ok;
}

static int event_cmp(const void *x, const void *y)
{
	const struct scenario_event *a = x, *b = y;

	if (a->at_us != b->at_us)
		return a->at_us < b->at_us ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return (a->column > b->column) - (a->column < b->column);
}

static const int timeline_actions[] = {TL_RUN,  TL_CRASH, TL_RESTART, TL_PARTITION,
                                       TL_HEAL, TL_LINK,  TL_ADMIN,   TL_CONTROL};

static bool load_timeline_entry(struct loader *ld, yaml_node_t *item, struct scenario_event *e)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = collect(ld, item, SCENARIO_SECTION_TIMELINE, " in timeline entry", keys, vals);
	int action = -1;

	pos_of(item, &e->line, &e->column);
	e->user = -1;
	e->link = -1;
	if (vals[TL_AT]) {
		if (!get_duration(ld, "at", vals[TL_AT], SCENARIO_DURATION_MAX_US, "1 day",
		                  &e->at_us)) {
			ok = false;
		} else if (e->at_us >= sc->duration_us) {
			error_at(ld, vals[TL_AT],
			         "at %s is not before the end of the run (duration %llus)",
			         scalar(vals[TL_AT]),
			         (unsigned long long)(sc->duration_us / 1000000));
			ok = false;
		}
	}
	for (size_t i = 0; i < sizeof(timeline_actions) / sizeof(timeline_actions[0]); i++) {
		int k = timeline_actions[i];
		if (!keys[k])
			continue;
		if (action >= 0) {
			error_at(ld, keys[k],
			         "timeline entry has two actions, '%s' and '%s' (write one entry "
			         "for each)",
			         scenario_timeline_keys[action].name,
			         scenario_timeline_keys[k].name);
			return false;
		}
		action = k;
	}
	if (action < 0) {
		error_at(ld, item,
		         "timeline entry has no action (one of run with node, crash, "
		         "restart, partition, heal, link, admin with as, control)");
		return false;
	}
	if (keys[TL_NODE] && action != TL_RUN) {
		error_at(ld, keys[TL_NODE],
		         "'node' goes with 'run' (a serve command on that node)");
		ok = false;
	}
	if (keys[TL_AS] && action != TL_ADMIN) {
		error_at(ld, keys[TL_AS], "'as' goes with 'admin' (the user running the command)");
		ok = false;
	}
	if (vals[TL_EXPECT_ERROR]) {
		size_t len = strlen(scalar(vals[TL_EXPECT_ERROR]));
		if (len == 0 || len > SCENARIO_EXPECT_ERROR_MAX) {
			error_at(
			    ld, vals[TL_EXPECT_ERROR],
			    "expect_error needs the text the failure's reason contains (1 to %d "
			    "bytes)",
			    SCENARIO_EXPECT_ERROR_MAX);
			ok = false;
		} else {
			e->expect_error = ld_strdup(ld, scalar(vals[TL_EXPECT_ERROR]));
		}
	}
	if (!vals[action] || !ok)
		return false;
	pos_of(keys[action], &e->line, &e->column); /* unique, in file order: sorts stably */
	switch (action) {
	case TL_RUN:
		e->action = SCENARIO_ACTION_SERVE;
		if (!keys[TL_NODE]) {
			error_at(ld, keys[TL_RUN], "'run' needs 'node' (the node that runs it)");
			return false;
		}
		if (!vals[TL_NODE] || node_ref(ld, "", vals[TL_NODE], &e->node) < 0)
			return false;
		if (!check_serve_line(ld, vals[TL_RUN]))
			return false;
		e->run = ld_strdup(ld, scalar(vals[TL_RUN]));
		return true;
	case TL_CRASH:
	case TL_RESTART:
		e->action = action == TL_CRASH ? SCENARIO_ACTION_CRASH : SCENARIO_ACTION_RESTART;
		return node_ref(ld, action == TL_CRASH ? "crash: " : "restart: ", vals[action],
		                &e->node) == 0;
	case TL_PARTITION:
	case TL_HEAL:
		e->action =
		    action == TL_PARTITION ? SCENARIO_ACTION_PARTITION : SCENARIO_ACTION_HEAL;
		if (!pair_ref(ld, scalar(keys[action]), vals[action], &e->between_nodes, &e->a,
		              &e->b))
			return false;
		if (!e->between_nodes && link_find(sc, e->a, e->b) < 0) {
			error_at(ld, vals[action], "%s: no link between regions '%s' and '%s'",
			         scalar(keys[action]), sc->regions[e->a].name,
			         sc->regions[e->b].name);
			return false;
		}
		return true;
	case TL_LINK:
		e->action = SCENARIO_ACTION_LINK;
		return load_timeline_link(ld, vals[TL_LINK], e);
	case TL_ADMIN:
		e->action = SCENARIO_ACTION_ADMIN;
		if (!keys[TL_AS]) {
			error_at(ld, keys[TL_ADMIN],
			         "'admin' needs 'as' (the user running the "
			         "command)");
			ok = false;
		} else if (vals[TL_AS] && (e->user = user_ref(ld, vals[TL_AS])) < 0) {
			ok = false;
		}
		if (!check_admin(ld, vals[TL_ADMIN], e))
			ok = false;
		return ok;
	case TL_CONTROL: {
		int c = choice_ref(ld, "control action", vals[TL_CONTROL], scenario_control_words);
		if (c < 0)
			return false;
		static const enum scenario_action control_actions[] = {
		    SCENARIO_ACTION_CONTROL_CRASH, SCENARIO_ACTION_CONTROL_RESTART,
		    SCENARIO_ACTION_CONTROL_DISK,  SCENARIO_ACTION_CONTROL_DISK,
		    SCENARIO_ACTION_CONTROL_DISK,  SCENARIO_ACTION_CONTROL_TORN_WRITE};
		static const enum scenario_disk disks[] = {
		    SCENARIO_DISK_OK,         SCENARIO_DISK_OK, SCENARIO_DISK_FULL,
		    SCENARIO_DISK_FSYNC_FAIL, SCENARIO_DISK_OK, SCENARIO_DISK_OK};
		e->action = control_actions[c];
		e->disk = disks[c];
		return true;
	}
	}
	return false;
}

const char *scenario_time_text(uint64_t us, char *buf, size_t len)
{
	if (us % 1000000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(us / 1000000));
	else if (us % 1000 == 0)
		snprintf(buf, len, "%llums", (unsigned long long)(us / 1000));
	else
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	return buf;
}

/* The timeline in time order must make sense: a crash hits a running
 * node, a restart a crashed one, a serve command a running one; a
 * partition cuts what is whole, a heal mends what is cut; the control
 * server likewise. An entry marked expect_error is meant to fail: it is
 * not refused here (the run checks that it fails) and changes no state. */
static bool check_timeline_order(struct loader *ld)
{
	struct scenario *sc = ld->sc;
	size_t *down = calloc(sc->node_count ? sc->node_count : 1, sizeof(*down));
	size_t *cuts = calloc(sc->n_events ? sc->n_events : 1, sizeof(*cuts));
	size_t n_cuts = 0, control_down = 0;
	char name[SCENARIO_NAME_MAX + 16], t[32];
	bool ok = true;

	if (!down || !cuts) {
		free(down);
		free(cuts);
		ld->oom = true;
		return false;
	}
	/* down[node] / control_down: 1 + index of the crash event, 0 when up */
	for (size_t i = 0; i < sc->n_events; i++) {
		const struct scenario_event *e = &sc->events[i];
		scenario_time_text(e->at_us, t, sizeof(t));
		switch (e->action) {
		case SCENARIO_ACTION_CRASH:
		case SCENARIO_ACTION_RESTART:
		case SCENARIO_ACTION_SERVE: {
			size_t *d = &down[e->node];
			scenario_node_name(sc, e->node, name, sizeof(name));
			if (e->expect_error)
				break;
			if (e->action == SCENARIO_ACTION_CRASH && *d) {
				error_pos(ld, e->line, e->column,
				          "crash of '%s' at %s, which is already down (crashed at "
				          "line %u)",
				          name, t, sc->events[*d - 1].line);
				ok = false;
			} else if (e->action == SCENARIO_ACTION_RESTART && !*d) {
				error_pos(
				    ld, e->line, e->column,
				    "restart of '%s' at %s, which is not down (no crash before it)",
				    name, t);
				ok = false;
			} else if (e->action == SCENARIO_ACTION_SERVE && *d) {
				error_pos(
				    ld, e->line, e->column,
				    "'%s' is down at %s (crashed at line %u): its serve command "
				    "cannot run",
				    name, t, sc->events[*d - 1].line);
				ok = false;
			}
			if (e->action == SCENARIO_ACTION_CRASH)
				*d = i + 1;
			else if (e->action == SCENARIO_ACTION_RESTART)
				*d = 0;
			break;
		}
		case SCENARIO_ACTION_PARTITION:
		case SCENARIO_ACTION_HEAL: {
			size_t j = 0;
			if (e->expect_error)
				break;
			for (; j < n_cuts; j++) {
				const struct scenario_event *c = &sc->events[cuts[j]];
				if (c->between_nodes == e->between_nodes &&
				    ((c->a == e->a && c->b == e->b) ||
				     (c->a == e->b && c->b == e->a)))
					break;
			}
			if (e->action == SCENARIO_ACTION_PARTITION && j < n_cuts) {
				error_pos(
				    ld, e->line, e->column,
				    "partition at %s of what is already cut (partition at line "
				    "%u)",
				    t, sc->events[cuts[j]].line);
				ok = false;
			} else if (e->action == SCENARIO_ACTION_HEAL && j == n_cuts) {
				error_pos(ld, e->line, e->column,
				          "heal at %s of what is not cut (no partition of the same "
				          "two before it)",
				          t);
				ok = false;
			} else if (e->action == SCENARIO_ACTION_PARTITION) {
				cuts[n_cuts++] = i;
			} else {
				cuts[j] = cuts[--n_cuts];
			}
			break;
		}
		case SCENARIO_ACTION_CONTROL_CRASH:
		case SCENARIO_ACTION_CONTROL_TORN_WRITE:
			if (e->expect_error)
				break;
			if (control_down) {
				error_pos(ld, e->line, e->column,
				          "control %s at %s, but control is already down (crashed "
				          "at line %u)",
				          e->action == SCENARIO_ACTION_CONTROL_CRASH ? "crash"
				                                                     : "torn-write",
				          t, sc->events[control_down - 1].line);
				ok = false;
			}
			control_down = i + 1;
			break;
		case SCENARIO_ACTION_CONTROL_RESTART:
			if (e->expect_error)
				break;
			if (!control_down) {
				error_pos(ld, e->line, e->column,
				          "control restart at %s, but control is not down", t);
				ok = false;
			}
			control_down = 0;
			break;
		case SCENARIO_ACTION_LINK:
		case SCENARIO_ACTION_ADMIN:
		case SCENARIO_ACTION_CONTROL_DISK:
			break;
		}
	}
	free(down);
	free(cuts);
	return ok;
}

static bool load_timeline(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_TIMELINE_MAX) {
		error_at(ld, seq, "too many timeline entries: %zu (max %d)", n,
		         SCENARIO_TIMELINE_MAX);
		return false;
	}
	sc->events = calloc(n ? n : 1, sizeof(*sc->events));
	if (!sc->events) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (!is_mapping_for(ld, item, "a timeline entry")) {
			ok = false;
			continue;
		}
		struct scenario_event *e = &sc->events[sc->n_events];
		memset(e, 0, sizeof(*e));
		if (load_timeline_entry(ld, item, e))
			sc->n_events++;
		else
			ok = false;
	}
	/* by time; equal times keep file order (line, column are unique) */
	qsort(sc->events, sc->n_events, sizeof(*sc->events), event_cmp);
	if (ok && !check_timeline_order(ld))
		ok = false;
	return ok;
}

/* ---- expectations ---- */

static const char *const scenario_state_words[] = {"Pending approval", "Needs configuration",
                                                   "Connected",        "Offline",
                                                   "Pre-approved",     "Draining",
                                                   "Rejected",         NULL};

enum cmp_unit { CMP_PERCENT, CMP_DURATION, CMP_COUNT };

/* "<op> value" or a plain value (==): op one of == < <= > >=. */
static bool parse_comparison(struct loader *ld, const char *key, const yaml_node_t *v,
                             enum cmp_unit unit, enum expect_cmp *cmp, double *value)
{
	static const struct {
		const char *op;
		enum expect_cmp cmp;
	} ops[] = {{">=", EXPECT_CMP_GE}, {"<=", EXPECT_CMP_LE}, {"==", EXPECT_CMP_EQ},
	           {">", EXPECT_CMP_GT},  {"<", EXPECT_CMP_LT},  {"=", EXPECT_CMP_EQ}};
	static const char *const what[] = {"a percentage", "a duration", "a count"};
	static const char *const example[] = {">= 99.9%", "< 400ms", "0"};
	const char *s = scalar(v), *p = s;
	char why[200];
	bool bad = false;

	while (*p == ' ')
		p++;
	*cmp = EXPECT_CMP_EQ;
	if (strchr("<>=!~", *p)) {
		size_t i = 0;
		for (; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strncmp(p, ops[i].op, strlen(ops[i].op)))
				break;
		if (i == sizeof(ops) / sizeof(ops[0])) {
			bad = true;
		} else {
			*cmp = ops[i].cmp;
			p += strlen(ops[i].op);
			if (*p && strchr("<>=!~", *p))
				bad = true;
		}
		while (*p == ' ')
			p++;
		if (!*p)
			bad = true;
	}
	if (bad) {
		error_at(ld, v,
		         "bad comparison '%.60s' for '%s' (expected ==, <, <=, > or >= and %s, "
		         "like \"%s\")",
		         s, key, what[unit], example[unit]);
		return false;
	}
	switch (unit) {
	case CMP_PERCENT:
		if (scenario_parse_percent(p, value, why, sizeof(why))) {
			error_at(ld, v, "%s: %s", key, why);
			return false;
		}
		if (*value > 1.0) {
			error_at(ld, v, "%s %s is above 100%%", key, p);
			return false;
		}
		return true;
	case CMP_DURATION: {
		uint64_t us;
		if (scenario_parse_duration(p, &us, why, sizeof(why))) {
			error_at(ld, v, "%s: %s", key, why);
			return false;
		}
		*value = (double)us;
		return true;
	}
	case CMP_COUNT: {
		char *end;
		if (*p < '0' || *p > '9') {
			error_at(ld, v, "%s: expected a count like 0 or \">= 10\", got '%.60s'",
			         key, s);
			return false;
		}
		errno = 0;
		unsigned long long c = strtoull(p, &end, 10);
		if (*end || errno || c > 1000000000000ull) {
			error_at(ld, v, "%s: expected a count like 0 or \">= 10\", got '%.60s'",
			         key, s);
			return false;
		}
		*value = (double)c;
		return true;
	}
	}
	return false;
}

static bool check_state(struct loader *ld, const yaml_node_t *v)
{
	char low[80], list[200];
	const char *lows[8];
	char lowbuf[8][40];
	size_t n = 0;

	for (; scenario_state_words[n]; n++) {
		if (!strcasecmp(scalar(v), scenario_state_words[n]))
			return true;
		snprintf(lowbuf[n], sizeof(lowbuf[n]), "%s", scenario_state_words[n]);
		for (char *c = lowbuf[n]; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		lows[n] = lowbuf[n];
	}
	snprintf(low, sizeof(low), "%s", scalar(v));
	for (char *c = low; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	words_text(scenario_state_words, list, sizeof(list));
	const char *near = nearest(low, lows, n);
	size_t pick = 0;
	while (near && lows[pick] != near)
		pick++;
	if (near)
		error_at(ld, v, "unknown state '%.60s' (expected %s; did you mean '%s'?)",
		         scalar(v), list, scenario_state_words[pick]);
	else
		error_at(ld, v, "unknown state '%.60s' (expected %s)", scalar(v), list);
	return false;
}

enum expect_class { CLASS_NEVER, CLASS_STATE, CLASS_NODE, CLASS_WORKLOAD };

static const char *const class_names[] = {"never", "state", "new_connections", "workload"};

/* Which keys each class of expectation takes (bit i = expect key i). */
static const uint32_t class_keys[] = {
    [CLASS_NEVER] = 1u << EX_NEVER,
    [CLASS_STATE] = 1u << EX_SERVICE | 1u << EX_HOST | 1u << EX_STATE | 1u << EX_AT,
    [CLASS_NODE] = 1u << EX_NODE | 1u << EX_NEW_CONNECTIONS | 1u << EX_FROM | 1u << EX_TO,
    [CLASS_WORKLOAD] = 1u << EX_WORKLOAD | 1u << EX_SUCCESS_RATE | 1u << EX_P50 | 1u << EX_P90 |
                       1u << EX_P99 | 1u << EX_P999 | 1u << EX_MAX | 1u << EX_FAILOVER_TIME |
                       1u << EX_AFTER | 1u << EX_RESETS | 1u << EX_FROM | 1u << EX_TO,
};

static bool ex_time(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t *out)
{
	if (!v)
		return true;
	if (!get_duration(ld, key, v, SCENARIO_DURATION_MAX_US, "1 day", out))
		return false;
	if (*out > ld->sc->duration_us) {
		error_at(ld, v, "%s %s is after the end of the run (duration %llus)", key,
		         scalar(v), (unsigned long long)(ld->sc->duration_us / 1000000));
		return false;
	}
	return true;
}

static bool workload_ref(struct loader *ld, const yaml_node_t *v)
{
	struct scenario *sc = ld->sc;
	char hint[120];

	for (size_t i = 0; i < sc->n_workloads; i++)
		if (!strcmp(sc->workloads[i].name, scalar(v)))
			return true;
	const char **c = malloc(sizeof(*c) * (sc->n_workloads + 1));
	for (size_t i = 0; c && i < sc->n_workloads; i++)
		c[i] = sc->workloads[i].name;
	hint_from(ld, scalar(v), c, sc->n_workloads, hint, sizeof(hint));
	free(c);
	error_at(ld, v, "unknown workload '%.80s'%s", scalar(v), hint);
	return false;
}

/* Appends one check built from `tmpl` for the comparison key k. */
static bool add_check(struct loader *ld, const struct expect *tmpl, yaml_node_t **keys,
                      yaml_node_t **vals, int k, enum expect_kind kind, enum cmp_unit unit,
                      const char *subject)
{
	struct scenario *sc = ld->sc;
	struct expect x = *tmpl;
	const char *s = scalar(vals[k]);

	if (!parse_comparison(ld, scenario_expect_keys[k].name, vals[k], unit, &x.cmp, &x.value))
		return false;
	if (sc->n_expects == SCENARIO_EXPECT_MAX) {
		error_at(ld, keys[k], "too many expectations (max %d checks)", SCENARIO_EXPECT_MAX);
		return false;
	}
	x.kind = kind;
	x.line = (unsigned)keys[k]->start_mark.line + 1;
	x.column = (unsigned)keys[k]->start_mark.column + 1;
	while (*s == ' ')
		s++;
	snprintf(x.text, sizeof(x.text), "%s %s %s%.200s", subject, scenario_expect_keys[k].name,
	         strchr("<>=", *s) ? "" : "== ", s);
	sc->expects[sc->n_expects++] = x;
	return true;
}

static bool load_expect_entry(struct loader *ld, yaml_node_t *item)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = collect(ld, item, SCENARIO_SECTION_EXPECT, " in expectation", keys, vals);
	enum expect_class cls;
	struct expect t = {.to_us = UINT64_MAX};
	uint32_t index;

	pos_of(item, &t.line, &t.column);
	if (keys[EX_NEVER])
		cls = CLASS_NEVER;
	else if (keys[EX_STATE])
		cls = CLASS_STATE;
	else if (keys[EX_NEW_CONNECTIONS])
		cls = CLASS_NODE;
	else if (keys[EX_WORKLOAD])
		cls = CLASS_WORKLOAD;
	else {
		error_at(ld, item,
		         "expectation checks nothing (give a workload with success_rate, "
		         "p50, p90, p99, p999, max, failover_time or resets; a node with "
		         "new_connections; a service with state; or never)");
		return false;
	}
	for (int k = 0; scenario_expect_keys[k].name; k++) {
		if (keys[k] && !(class_keys[cls] & (1u << k))) {
			error_at(ld, keys[k], "'%s' does not apply to a %s expectation",
			         scenario_expect_keys[k].name, class_names[cls]);
			ok = false;
		}
	}
	if (!ok)
		return false;
	switch (cls) {
	case CLASS_NEVER:
		if (choice_ref(ld, "invariant", vals[EX_NEVER], scenario_never_words) < 0)
			return false;
		if (sc->n_expects == SCENARIO_EXPECT_MAX) {
			error_at(ld, item, "too many expectations (max %d checks)",
			         SCENARIO_EXPECT_MAX);
			return false;
		}
		t.kind = EXPECT_NEVER_INELIGIBLE;
		snprintf(t.text, sizeof(t.text), "never: %s", scalar(vals[EX_NEVER]));
		sc->expects[sc->n_expects++] = t;
		return true;
	case CLASS_STATE:
		if (!keys[EX_SERVICE] || !keys[EX_AT]) {
			error_at(ld, item, "a state expectation needs '%s'",
			         keys[EX_SERVICE] ? "at" : "service");
			return false;
		}
		if (!service_ref(ld, "", vals[EX_SERVICE], scalar(vals[EX_SERVICE])))
			ok = false;
		if (vals[EX_HOST] && node_ref(ld, "host: ", vals[EX_HOST], &index) < 0)
			ok = false;
		if (!check_state(ld, vals[EX_STATE]) || !ex_time(ld, "at", vals[EX_AT], &t.at_us))
			ok = false;
		if (!ok)
			return false;
		t.kind = vals[EX_HOST] ? EXPECT_HOST_STATE : EXPECT_SERVICE_STATE;
		snprintf(t.service, sizeof(t.service), "%s", scalar(vals[EX_SERVICE]));
		snprintf(t.state, sizeof(t.state), "%s", scalar(vals[EX_STATE]));
		if (vals[EX_HOST])
			snprintf(t.node, sizeof(t.node), "%s", scalar(vals[EX_HOST]));
		snprintf(t.text, sizeof(t.text), "%s%s%s state %s at %s",
		         vals[EX_HOST] ? scalar(vals[EX_HOST]) : "", vals[EX_HOST] ? " " : "",
		         t.service, t.state, scalar(vals[EX_AT]));
		if (sc->n_expects == SCENARIO_EXPECT_MAX) {
			error_at(ld, item, "too many expectations (max %d checks)",
			         SCENARIO_EXPECT_MAX);
			return false;
		}
		sc->expects[sc->n_expects++] = t;
		return true;
	case CLASS_NODE:
		if (!keys[EX_NODE]) {
			error_at(ld, item, "a new_connections expectation needs 'node'");
			return false;
		}
		break;
	case CLASS_WORKLOAD:
		if (keys[EX_FAILOVER_TIME] && !keys[EX_AFTER]) {
			error_at(ld, keys[EX_FAILOVER_TIME],
			         "failover_time needs 'after' (the time of the fault)");
			ok = false;
		}
		if (keys[EX_AFTER] && !keys[EX_FAILOVER_TIME]) {
			error_at(ld, keys[EX_AFTER], "'after' goes with failover_time");
			ok = false;
		}
		for (int k = EX_FROM; k <= EX_TO; k++) {
			if (keys[k] && !keys[EX_RESETS]) {
				error_at(ld, keys[k], "'%s' goes with new_connections or resets",
				         scenario_expect_keys[k].name);
				ok = false;
			}
		}
		bool any = false;
		for (int k = EX_SUCCESS_RATE; k <= EX_RESETS; k++)
			any = any || keys[k];
		if (!any) {
			error_at(
			    ld, item,
			    "expectation on workload '%.60s' checks nothing "
			    "(success_rate, p50, p90, p99, p999, max, failover_time or resets)",
			    vals[EX_WORKLOAD] ? scalar(vals[EX_WORKLOAD]) : "?");
			ok = false;
		}
		if (!ok)
			return false;
		break;
	}
	/* node and workload checks: names, window, then one check per bound */
	if (!ex_time(ld, "from", vals[EX_FROM], &t.from_us) ||
	    !ex_time(ld, "to", vals[EX_TO], &t.to_us) ||
	    !ex_time(ld, "after", vals[EX_AFTER], &t.after_us))
		ok = false;
	if (ok && vals[EX_FROM] && vals[EX_TO] && t.from_us > t.to_us) {
		error_at(ld, vals[EX_TO], "to %s is before from %s", scalar(vals[EX_TO]),
		         scalar(vals[EX_FROM]));
		ok = false;
	}
	if (cls == CLASS_NODE) {
		if (!vals[EX_NODE] || node_ref(ld, "", vals[EX_NODE], &index) < 0 || !ok)
			return false;
		snprintf(t.node, sizeof(t.node), "%s", scalar(vals[EX_NODE]));
		return add_check(ld, &t, keys, vals, EX_NEW_CONNECTIONS, EXPECT_NEW_CONNECTIONS,
		                 CMP_COUNT, t.node);
	}
	if (!vals[EX_WORKLOAD] || !workload_ref(ld, vals[EX_WORKLOAD]) || !ok)
		return false;
	snprintf(t.workload, sizeof(t.workload), "%s", scalar(vals[EX_WORKLOAD]));
	static const struct {
		int key;
		enum expect_kind kind;
		enum cmp_unit unit;
		enum expect_percentile pct;
	} checks[] = {
	    {EX_SUCCESS_RATE, EXPECT_SUCCESS_RATE, CMP_PERCENT, EXPECT_P50},
	    {EX_P50, EXPECT_LATENCY, CMP_DURATION, EXPECT_P50},
	    {EX_P90, EXPECT_LATENCY, CMP_DURATION, EXPECT_P90},
	    {EX_P99, EXPECT_LATENCY, CMP_DURATION, EXPECT_P99},
	    {EX_P999, EXPECT_LATENCY, CMP_DURATION, EXPECT_P999},
	    {EX_MAX, EXPECT_LATENCY, CMP_DURATION, EXPECT_MAX_LATENCY},
	    {EX_FAILOVER_TIME, EXPECT_FAILOVER_TIME, CMP_DURATION, EXPECT_P50},
	    {EX_RESETS, EXPECT_RESETS, CMP_COUNT, EXPECT_P50},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (!vals[checks[i].key]) {
			if (keys[checks[i].key])
				ok = false;
			continue;
		}
		t.percentile = checks[i].pct;
		if (!add_check(ld, &t, keys, vals, checks[i].key, checks[i].kind, checks[i].unit,
		               t.workload))
			ok = false;
	}
	return ok;
}

static bool load_expect(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_EXPECT_MAX) {
		error_at(ld, seq, "too many expectations: %zu (max %d)", n, SCENARIO_EXPECT_MAX);
		return false;
	}
	sc->expects = calloc(SCENARIO_EXPECT_MAX, sizeof(*sc->expects));
	if (!sc->expects) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (!is_mapping_for(ld, item, "an expectation")) {
			ok = false;
			continue;
		}
		if (!load_expect_entry(ld, item))
			ok = false;
	}
	return ok;
}

static int group_cmp(const void *a, const void *b)
{
	const struct scenario_node_group *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);
	if (c)
		return c;
	return (*x < *y) ? -1 : (*x > *y);
}

static unsigned digits_of(uint32_t v)
{
	unsigned d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* Expanded names must be unique: equal group names, and a single node
 * named like another group's expansion ("client-3" next to client x5). */
static bool check_node_names(struct loader *ld, yaml_node_t **name_nodes)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)sc->group_count;
	struct scenario_node_group **sorted = malloc(sizeof(*sorted) * (n ? n : 1));
	bool ok = true;

	if (!sorted) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &sc->groups[i];
	qsort(sorted, n, sizeof(*sorted), group_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) != 0)
			continue;
		size_t later = (size_t)(sorted[i] - sc->groups);
		size_t first = (size_t)(sorted[i - 1] - sc->groups);
		error_at(ld, name_nodes[later], "duplicate node name '%s' (first at line %u)",
		         sorted[i]->name, (unsigned)name_nodes[first]->start_mark.line + 1);
		ok = false;
	}
	for (size_t i = 0; i < n; i++) {
		struct scenario_node_group *g = &sc->groups[i];
		if (g->count != 1)
			continue;
		char *dash = strrchr(g->name, '-');
		if (!dash || !dash[1] || (dash[1] == '0' && dash[2]))
			continue;
		char *end;
		unsigned long idx = strtoul(dash + 1, &end, 10);
		if (*end || dash[1] < '0' || dash[1] > '9')
			continue;
		struct scenario_node_group key;
		struct scenario_node_group *keyp = &key;
		size_t plen = (size_t)(dash - g->name);
		memcpy(key.name, g->name, plen);
		key.name[plen] = '\0';
		/* any group with that exact prefix name and count > idx */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(sorted[mid]->name, keyp->name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && !strcmp(sorted[lo]->name, key.name); lo++) {
			if (sorted[lo]->count > 1 && idx < sorted[lo]->count) {
				size_t other = (size_t)(sorted[lo] - sc->groups);
				error_at(
				    ld, name_nodes[i],
				    "duplicate node name '%s' (node '%s' with count %u at line %u "
				    "makes it too)",
				    g->name, sorted[lo]->name, sorted[lo]->count,
				    (unsigned)name_nodes[other]->start_mark.line + 1);
				ok = false;
				break;
			}
		}
	}
	if (ok)
		ld->by_name = sorted; /* names are unique: an index for ld_node_find */
	else
		free(sorted);
	return ok;
}

static bool load_nodes(struct loader *ld, const yaml_node_t *key_node, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	bool ok = true, names_ok = true;
	uint64_t total = 0;
	yaml_node_t **name_nodes;

	if (n == 0) {
		error_at(ld, seq, "nodes must list at least one node");
		return false;
	}
	if (n > SCENARIO_NODES_MAX) {
		error_at(ld, key_node, "too many nodes: %zu entries (max %d)", n,
		         SCENARIO_NODES_MAX);
		return false;
	}
	sc->groups = calloc(n, sizeof(*sc->groups));
	name_nodes = calloc(n, sizeof(*name_nodes));
	if (!sc->groups || !name_nodes) {
		free(name_nodes);
		ld->oom = true;
		return false;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node_get(ld, *it), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		if (!is_mapping_for(ld, item, "a node")) {
			ok = false;
			continue;
		}
		bool node_ok = collect(ld, item, SCENARIO_SECTION_NODE, " in node", keys, vals);
		struct scenario_node_group g = {.region = -1, .count = 1, .user = -1};
		if (vals[NODE_NAME]) {
			if (check_name(ld, "node name", vals[NODE_NAME]))
				snprintf(g.name, sizeof(g.name), "%s", scalar(vals[NODE_NAME]));
			else
				node_ok = false;
		}
		if (vals[NODE_REGION]) {
			g.region = region_ref(ld, vals[NODE_REGION]);
			if (g.region < 0)
				node_ok = false;
		}
		if (vals[NODE_COUNT]) {
			long long c;
			if (get_integer(ld, "count", vals[NODE_COUNT], 1, SCENARIO_COUNT_MAX, &c))
				g.count = (uint32_t)c;
			else
				node_ok = false;
		}
		if (g.name[0] && g.count > 1 &&
		    strlen(g.name) + 1 + digits_of(g.count - 1) > SCENARIO_NAME_MAX) {
			error_at(
			    ld, vals[NODE_NAME],
			    "node name '%s' with count %u makes names longer than %d characters",
			    g.name, g.count, SCENARIO_NAME_MAX);
			node_ok = false;
		}
		if (vals[NODE_TAGS] && !load_node_tags(ld, vals[NODE_TAGS], &g))
			node_ok = false;
		if (vals[NODE_USER]) {
			g.user = user_ref(ld, vals[NODE_USER]);
			if (g.user < 0)
				node_ok = false;
		}
		if (vals[NODE_BACKENDS] && !load_backends(ld, vals[NODE_BACKENDS], &g))
			node_ok = false;
		if (vals[NODE_SERVE] && !load_serve_lines(ld, vals[NODE_SERVE], &g))
			node_ok = false;
		name_nodes[sc->group_count] = vals[NODE_NAME] ? vals[NODE_NAME] : item;
		g.first_index = (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total);
		total += g.count;
		sc->groups[sc->group_count++] = g;
		if (!g.name[0] || g.region < 0)
			names_ok = false;
		if (!node_ok)
			ok = false;
	}
	if (total > SCENARIO_NODES_MAX) {
		error_at(ld, key_node, "too many nodes: %llu in total after count (max %d)",
		         (unsigned long long)total, SCENARIO_NODES_MAX);
		ok = false;
	}
	if (names_ok && !check_node_names(ld, name_nodes))
		names_ok = false;
	if (!names_ok)
		ok = false;
	sc->node_count = (uint32_t)(total > SCENARIO_NODES_MAX ? 0 : total);
	ld->nodes_ok = names_ok && total <= SCENARIO_NODES_MAX;
	free(name_nodes);
	return ok;
}

static bool load_underlay_workload(struct loader *ld, const yaml_node_t *v, bool duration_ok)
{
	struct scenario *sc = ld->sc;
	struct scenario_underlay_workload *w = &sc->underlay_workload;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	char why[200];
	bool ok;

	w->stop_us = sc->duration_us;
	if (!v)
		return true;
	if (v->type == YAML_SCALAR_NODE) {
		if (!strcmp(scalar(v), "off"))
			w->enabled = false;
		return true; /* null: defaults */
	}
	ok =
	    collect(ld, v, SCENARIO_SECTION_UNDERLAY_WORKLOAD, " in underlay_workload", keys, vals);
	if (vals[RR_RATE]) {
		if (scenario_parse_rate(scalar(vals[RR_RATE]), &w->rate_per_s, why, sizeof(why))) {
			error_at(ld, vals[RR_RATE], "rate: %s", why);
			ok = false;
		} else if (w->rate_per_s > SCENARIO_RATE_MAX) {
			error_at(ld, vals[RR_RATE], "rate %s is out of range (max 100000/s)",
			         scalar(vals[RR_RATE]));
			ok = false;
		}
	}
	if (vals[RR_REQUEST] && !get_size(ld, "request", vals[RR_REQUEST], &w->request_bytes))
		ok = false;
	if (vals[RR_RESPONSE] && !get_size(ld, "response", vals[RR_RESPONSE], &w->response_bytes))
		ok = false;
	if (vals[RR_START] && !get_duration(ld, "start", vals[RR_START], SCENARIO_DURATION_MAX_US,
	                                    "1 day", &w->start_us))
		ok = false;
	if (vals[RR_STOP] && !get_duration(ld, "stop", vals[RR_STOP], SCENARIO_DURATION_MAX_US,
	                                   "1 day", &w->stop_us))
		ok = false;
	if (vals[RR_PORT]) {
		long long port;
		if (get_integer(ld, "port", vals[RR_PORT], 1, 65535, &port))
			w->port = (uint16_t)port;
		else
			ok = false;
	}
	if (ok && duration_ok && w->stop_us > sc->duration_us) {
		error_at(ld, vals[RR_STOP], "stop %s is after the end of the run (duration %llus)",
		         scalar(vals[RR_STOP]), (unsigned long long)(sc->duration_us / 1000000));
		ok = false;
	}
	if (ok && w->start_us >= w->stop_us) {
		const yaml_node_t *at = vals[RR_START] ? vals[RR_START] : v;
		error_at(ld, at, "start must be before stop (start %lluus, stop %lluus)",
		         (unsigned long long)w->start_us, (unsigned long long)w->stop_us);
		ok = false;
	}
	return ok;
}

/* Union-find over regions to warn about regions nothing can reach. */
static int uf_find(int *parent, int x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

static void warn_disconnected(struct loader *ld, const yaml_node_t *at)
{
	struct scenario *sc = ld->sc;
	int parent[SCENARIO_REGIONS_MAX];
	bool used[SCENARIO_REGIONS_MAX] = {false};

	for (int i = 0; i < sc->region_count; i++)
		parent[i] = i;
	for (int i = 0; i < sc->link_count; i++)
		parent[uf_find(parent, sc->links[i].region_a)] =
		    uf_find(parent, sc->links[i].region_b);
	for (int i = 0; i < sc->group_count; i++)
		used[sc->groups[i].region] = true;
	int first = -1;
	for (int i = 0; i < sc->region_count; i++) {
		if (!used[i])
			continue;
		if (first < 0) {
			first = i;
		} else if (uf_find(parent, i) != uf_find(parent, first)) {
			warn_at(ld, at,
			        "region '%s' has no path to region '%s' (add a link); their nodes "
			        "cannot reach each other",
			        sc->regions[i].name, sc->regions[first].name);
		}
	}
}

/* The whole document. */
static bool load_top(struct loader *ld, yaml_node_t *root)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	char buf[80];
	bool ok, duration_ok = true;

	if (root->type != YAML_MAPPING_NODE) {
		error_at(ld, root, "expected a mapping at the top level, got %s",
		         describe(root, buf, sizeof(buf)));
		return false;
	}
	ok = collect(ld, root, SCENARIO_SECTION_TOP, "", keys, vals);

	if (vals[TOP_NAME]) {
		if (check_name(ld, "name", vals[TOP_NAME]))
			snprintf(sc->name, sizeof(sc->name), "%s", scalar(vals[TOP_NAME]));
		else
			ok = false;
	}
	if (vals[TOP_SEED]) {
		long long seed;
		if (get_integer(ld, "seed", vals[TOP_SEED], 1, (long long)SCENARIO_SEED_MAX, &seed))
			sc->seed = (uint64_t)seed;
		else
			ok = false;
	}
	if (vals[TOP_DURATION]) {
		if (!get_duration(ld, "duration", vals[TOP_DURATION], SCENARIO_DURATION_MAX_US,
		                  "1 day", &sc->duration_us)) {
			ok = duration_ok = false;
		} else if (sc->duration_us == 0) {
			error_at(ld, vals[TOP_DURATION], "duration must be more than 0");
			ok = duration_ok = false;
		}
	}
	if (vals[TOP_TAILNET]) {
		if (tailnet_is_dns_name(scalar(vals[TOP_TAILNET]))) {
			snprintf(sc->tailnet, sizeof(sc->tailnet), "%s", scalar(vals[TOP_TAILNET]));
		} else {
			error_at(ld, vals[TOP_TAILNET], "tailnet '%.80s' is not a DNS name",
			         scalar(vals[TOP_TAILNET]));
			ok = false;
		}
	}
	bool regions_ok = vals[TOP_REGIONS] && load_regions(ld, vals[TOP_REGIONS]);
	if (vals[TOP_REGIONS] && !regions_ok)
		ok = false;
	if (vals[TOP_ACCESS]) {
		yaml_node_t *ak[SCENARIO_KEYS_MAX], *av[SCENARIO_KEYS_MAX];
		if (!collect(ld, vals[TOP_ACCESS], SCENARIO_SECTION_ACCESS, " in access", ak, av))
			ok = false;
		if (!get_link_params(ld, av[ACCESS_LATENCY], av[ACCESS_BANDWIDTH], av[ACCESS_LOSS],
		                     &sc->access))
			ok = false;
	}
	/* Links and nodes name regions: check them only against a good list
	 * so one mistake is not reported many times. */
	struct scenario_link_params link_defaults = {.bandwidth_bps = 10000000000ull};
	if (regions_ok && vals[TOP_LINKS] && !load_links(ld, vals[TOP_LINKS], &link_defaults))
		ok = false;
	if (vals[TOP_CONTROL]) {
		yaml_node_t *ck[SCENARIO_KEYS_MAX], *cv[SCENARIO_KEYS_MAX];
		if (!collect(ld, vals[TOP_CONTROL], SCENARIO_SECTION_CONTROL, " in control", ck,
		             cv))
			ok = false;
		if (regions_ok && cv[CONTROL_REGION]) {
			sc->control_region = region_ref(ld, cv[CONTROL_REGION]);
			if (sc->control_region < 0) {
				sc->control_region = 0;
				ok = false;
			}
		}
	}
	if (vals[TOP_USERS] && !load_users(ld, vals[TOP_USERS]))
		ok = false;
	index_users(ld);
	if (vals[TOP_POLICY] && !load_policy(ld, keys[TOP_POLICY], vals[TOP_POLICY]))
		ok = false;
	if (vals[TOP_SERVICES] && !load_services(ld, vals[TOP_SERVICES]))
		ok = false;
	if (vals[TOP_TIMELINE])
		scan_defines(ld, vals[TOP_TIMELINE]);
	index_services(ld);
	bool nodes_ok =
	    regions_ok && vals[TOP_NODES] && load_nodes(ld, keys[TOP_NODES], vals[TOP_NODES]);
	if (vals[TOP_NODES] && !nodes_ok)
		ok = false;
	if (keys[TOP_UNDERLAY_WORKLOAD] && !vals[TOP_UNDERLAY_WORKLOAD])
		ok = false;
	else if (!load_underlay_workload(ld, vals[TOP_UNDERLAY_WORKLOAD], duration_ok))
		ok = false;
	/* A scenario with tailnet workloads measures those: the underlay
	 * traffic is opt-in there. */
	if (!keys[TOP_UNDERLAY_WORKLOAD] && keys[TOP_WORKLOADS])
		sc->underlay_workload.enabled = false;
	/* Workloads, timeline and expectations name nodes and compare times
	 * with the duration: checked only against good names and duration. */
	bool refs_ok = ld->nodes_ok && duration_ok;
	if (refs_ok && vals[TOP_WORKLOADS] && !load_workloads(ld, vals[TOP_WORKLOADS]))
		ok = false;
	if (refs_ok && vals[TOP_TIMELINE] && !load_timeline(ld, vals[TOP_TIMELINE]))
		ok = false;
	if (refs_ok && vals[TOP_EXPECT] && !load_expect(ld, vals[TOP_EXPECT]))
		ok = false;
	if (ok && sc->underlay_workload.enabled && sc->node_count < 2)
		warn_at(ld, keys[TOP_NODES],
		        "the underlay workload needs at least two nodes; it sends nothing");
	if (ok && regions_ok && nodes_ok)
		warn_disconnected(ld, keys[TOP_LINKS] ? keys[TOP_LINKS] : keys[TOP_REGIONS]);
	return ok;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct scenario_diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return 0;
}

/* Insertion sort: stable, and at most SCENARIO_DIAGS_MAX items. */
static void diags_sort(struct scenario_diags *diags)
{
	for (size_t i = 1; i < diags->count; i++) {
		struct scenario_diag d = diags->items[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&diags->items[j - 1], &d) > 0) {
			diags->items[j] = diags->items[j - 1];
			j--;
		}
		diags->items[j] = d;
	}
}

static void scenario_defaults(struct scenario *sc)
{
	sc->seed = 1;
	sc->duration_us = 10ull * 1000000;
	snprintf(sc->tailnet, sizeof(sc->tailnet), "example.ts.net");
	sc->access.latency_us = 1000;
	sc->access.bandwidth_bps = 1000000000ull;
	sc->access.loss = 0;
	sc->underlay_workload = (struct scenario_underlay_workload){
	    .enabled = true,
	    .rate_per_s = 1.0,
	    .request_bytes = 200,
	    .response_bytes = 2000,
	    .start_us = 0,
	    .stop_us = 0, /* duration, set after parsing */
	    .port = 7000,
	};
}

static void syntax_error(struct loader *ld, const yaml_parser_t *parser)
{
	char msg[400];
	const yaml_mark_t *m = &parser->problem_mark;

	if (parser->error == YAML_MEMORY_ERROR) {
		ld->oom = true;
		return;
	}
	if (parser->context)
		snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s at line %zu column %zu)",
		         parser->problem ? parser->problem : "?", parser->context,
		         parser->context_mark.line + 1, parser->context_mark.column + 1);
	else
		snprintf(msg, sizeof(msg), "YAML syntax error: %s",
		         parser->problem ? parser->problem : "?");
	diags_add(ld->diags, false, (unsigned)m->line + 1, (unsigned)m->column + 1, ld->filename,
	          msg);
}

/* ---- the document, composed from parser events within limits ---- */

/* libyaml's yaml_parser_load() builds the whole tree before anything can be
 * checked: nested aliases then expand without bound in whoever walks the
 * tree (a 1 KB "billion laughs" policy became gigabytes of JSON), and a
 * deeply nested document costs its scanner quadratic time. So the tree is
 * built here, one event at a time, and each limit is checked before the
 * node it bounds is added: nesting (SCENARIO_DEPTH_MAX), anchors and alias
 * uses, and the document's size with every alias expanded (an alias adds
 * the expanded size of what it names). An alias to a node still open is a
 * cycle and refused, so the tree is a DAG and the sizes are finite. */

struct compose_anchor {
	char name[SCENARIO_ANCHOR_NAME_MAX + 1];
	size_t len;
	int node;
	bool open;             /* its collection has not ended yet */
	unsigned line;         /* where it was defined (messages) */
	uint64_t nodes, bytes; /* what it names, aliases expanded */
};

struct compose_frame {
	int node;
	int key;               /* a mapping's key waiting for its value, 0: none */
	int anchor;            /* index into anchors, -1: none */
	uint64_t nodes, bytes; /* the collection so far, aliases expanded */
};

struct composer {
	struct loader *ld;
	yaml_document_t *doc;
	struct compose_frame stack[SCENARIO_DEPTH_MAX];
	size_t depth;
	struct compose_anchor *anchors; /* SCENARIO_ANCHORS_MAX, allocated at the first */
	size_t n_anchors, n_aliases;
	uint64_t nodes, bytes; /* the document so far, aliases expanded */
};

static void compose_error(struct composer *c, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void compose_error(struct composer *c, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(c->ld->diags, false, (unsigned)m->line + 1, (unsigned)m->column + 1,
	          c->ld->filename, msg);
}

/* Adds a node of expanded size (nodes, bytes) to the document's total, or
 * reports the limit it would pass (`alias`: the alias that adds it). */
static bool compose_grow(struct composer *c, const yaml_mark_t *m, uint64_t nodes, uint64_t bytes,
                         const char *alias)
{
	/* both totals stay <= their limits, and an anchor's size is part of
	 * the total: the sums cannot overflow */
	c->nodes += nodes;
	c->bytes += bytes;
	if (c->nodes <= SCENARIO_YAML_NODES_MAX && c->bytes <= SCENARIO_YAML_BYTES_MAX)
		return true;
	const char *what = c->nodes > SCENARIO_YAML_NODES_MAX ? "nodes" : "bytes of text";
	unsigned long long max = c->nodes > SCENARIO_YAML_NODES_MAX
	                             ? (unsigned long long)SCENARIO_YAML_NODES_MAX
	                             : (unsigned long long)SCENARIO_YAML_BYTES_MAX;
	if (alias)
		compose_error(c, m, "alias '*%.40s' expands the document past the limit of %llu %s",
		              alias, max, what);
	else
		compose_error(c, m, "the document passes the limit of %llu %s", max, what);
	return false;
}

/* Hangs node `id` (expanded size nodes, bytes) under the open collection,
 * or makes it the root. */
static bool compose_attach(struct composer *c, int id, uint64_t nodes, uint64_t bytes)
{
	if (c->depth == 0)
		return true; /* the root: the document's first node */
	struct compose_frame *f = &c->stack[c->depth - 1];
	f->nodes += nodes;
	f->bytes += bytes;
	yaml_node_t *parent = yaml_document_get_node(c->doc, f->node);
	CHECK(parent != NULL);
	if (parent->type == YAML_SEQUENCE_NODE)
		return yaml_document_append_sequence_item(c->doc, f->node, id) != 0;
	if (!f->key) {
		f->key = id;
		return true;
	}
	int key = f->key;
	f->key = 0;
	return yaml_document_append_mapping_pair(c->doc, f->node, key, id) != 0;
}

/* Records `&name` for node id; its index, or -1 after reporting why not. */
static int compose_anchor(struct composer *c, const yaml_char_t *name, const yaml_mark_t *m, int id,
                          bool open, uint64_t nodes, uint64_t bytes)
{
	size_t len = strlen((const char *)name);

	if (len > SCENARIO_ANCHOR_NAME_MAX) {
		compose_error(c, m, "anchor '&%.40s...' is longer than %d bytes", name,
		              SCENARIO_ANCHOR_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < c->n_anchors; i++) {
		if (c->anchors[i].len == len && !memcmp(c->anchors[i].name, name, len)) {
			compose_error(c, m, "duplicate anchor '&%s' (first at line %u)", name,
			              c->anchors[i].line);
			return -1;
		}
	}
	if (c->n_anchors == SCENARIO_ANCHORS_MAX) {
		compose_error(c, m, "more than %d anchors", SCENARIO_ANCHORS_MAX);
		return -1;
	}
	if (!c->anchors) {
		c->anchors = malloc(sizeof(*c->anchors) * SCENARIO_ANCHORS_MAX);
		if (!c->anchors) {
			c->ld->oom = true;
			return -1;
		}
	}
	struct compose_anchor *a = &c->anchors[c->n_anchors];
	memcpy(a->name, name, len + 1);
	a->len = len;
	a->node = id;
	a->open = open;
	a->line = (unsigned)m->line + 1;
	a->nodes = nodes;
	a->bytes = bytes;
	return (int)c->n_anchors++;
}

static bool compose_alias(struct composer *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	size_t len = strlen(name);
	const struct compose_anchor *a = NULL;

	if (++c->n_aliases > SCENARIO_ALIASES_MAX) {
		compose_error(c, &ev->start_mark, "more than %d alias uses", SCENARIO_ALIASES_MAX);
		return false;
	}
	for (size_t i = 0; i < c->n_anchors && !a; i++)
		if (c->anchors[i].len == len && !memcmp(c->anchors[i].name, name, len))
			a = &c->anchors[i];
	if (!a) {
		compose_error(c, &ev->start_mark, "alias '*%.80s' names no anchor before it", name);
		return false;
	}
	if (a->open) {
		compose_error(c, &ev->start_mark,
		              "alias '*%.80s' is inside the node it names (line %u): a cycle", name,
		              a->line);
		return false;
	}
	if (!compose_grow(c, &ev->start_mark, a->nodes, a->bytes, name))
		return false;
	if (!compose_attach(c, a->node, a->nodes, a->bytes)) {
		c->ld->oom = true;
		return false;
	}
	return true;
}

static void compose_marks(struct composer *c, int id, const yaml_event_t *ev)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, id);
	CHECK(n != NULL);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

static bool compose_scalar(struct composer *c, const yaml_event_t *ev)
{
	size_t len = ev->data.scalar.length;

	if (!compose_grow(c, &ev->start_mark, 1, len, NULL))
		return false;
	int id = yaml_document_add_scalar(c->doc, NULL, ev->data.scalar.value, (int)len,
	                                  ev->data.scalar.style);
	if (!id) {
		c->ld->oom = true;
		return false;
	}
	compose_marks(c, id, ev);
	if (ev->data.scalar.anchor &&
	    compose_anchor(c, ev->data.scalar.anchor, &ev->start_mark, id, false, 1, len) < 0)
		return false;
	if (!compose_attach(c, id, 1, len)) {
		c->ld->oom = true;
		return false;
	}
	return true;
}

static bool compose_open(struct composer *c, const yaml_event_t *ev)
{
	bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
	const yaml_char_t *anchor =
	    seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;

	if (c->depth == SCENARIO_DEPTH_MAX) {
		compose_error(c, &ev->start_mark, "mappings and sequences nest more than %d deep",
		              SCENARIO_DEPTH_MAX);
		return false;
	}
	if (!compose_grow(c, &ev->start_mark, 1, 0, NULL))
		return false;
	int id = seq ? yaml_document_add_sequence(c->doc, NULL, ev->data.sequence_start.style)
	             : yaml_document_add_mapping(c->doc, NULL, ev->data.mapping_start.style);
	if (!id || !compose_attach(c, id, 0, 0)) { /* its size goes up when it ends */
		c->ld->oom = true;
		return false;
	}
	compose_marks(c, id, ev);
	struct compose_frame *f = &c->stack[c->depth++];
	*f = (struct compose_frame){.node = id, .anchor = -1, .nodes = 1};
	if (anchor && (f->anchor = compose_anchor(c, anchor, &ev->start_mark, id, true, 0, 0)) < 0)
		return false;
	return true;
}

static void compose_close(struct composer *c, const yaml_event_t *ev)
{
	CHECK(c->depth > 0);
	struct compose_frame f = c->stack[--c->depth];
	yaml_node_t *n = yaml_document_get_node(c->doc, f.node);
	CHECK(n != NULL && f.key == 0);
	n->end_mark = ev->end_mark;
	if (f.anchor >= 0) {
		struct compose_anchor *a = &c->anchors[f.anchor];
		a->open = false;
		a->nodes = f.nodes;
		a->bytes = f.bytes;
	}
	if (c->depth > 0) {
		c->stack[c->depth - 1].nodes += f.nodes;
		c->stack[c->depth - 1].bytes += f.bytes;
	}
}

/* Parses the stream's first document into *doc. 1: a document (the caller
 * deletes it); 0: the stream holds none; -1: an error, reported. */
static int compose_document(struct loader *ld, yaml_parser_t *parser, yaml_document_t *doc)
{
	struct composer c = {.ld = ld, .doc = doc};
	bool started = false, ok = true;
	int rc = -1;

	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(parser, &ev)) {
			syntax_error(ld, parser);
			break;
		}
		yaml_event_type_t type = ev.type;
		switch (type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_NO_EVENT:
		case YAML_STREAM_END_EVENT:
			rc = 0;
			break;
		case YAML_DOCUMENT_START_EVENT:
			started = yaml_document_initialize(doc, NULL, NULL, NULL,
			                                   ev.data.document_start.implicit, 1);
			ok = started;
			if (!ok)
				ld->oom = true;
			break;
		case YAML_ALIAS_EVENT:
			ok = compose_alias(&c, &ev);
			break;
		case YAML_SCALAR_EVENT:
			ok = compose_scalar(&c, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			ok = compose_open(&c, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			compose_close(&c, &ev);
			break;
		}
		yaml_event_delete(&ev);
		if (!ok || type == YAML_STREAM_END_EVENT || type == YAML_NO_EVENT)
			break;
		if (type == YAML_DOCUMENT_END_EVENT) {
			rc = 1;
			break;
		}
	}
	if (rc != 1 && started)
		yaml_document_delete(doc);
	free(c.anchors);
	return rc;
}

/* After the document the stream must end: one document per file. */
static bool compose_end(struct loader *ld, yaml_parser_t *parser)
{
	yaml_event_t ev;
	bool ok = false;

	if (!yaml_parser_parse(parser, &ev)) {
		syntax_error(ld, parser);
		return false;
	}
	if (ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_NO_EVENT) {
		yaml_event_delete(&ev);
		return true;
	}
	yaml_event_delete(&ev); /* the second document's start: report its root */
	if (!yaml_parser_parse(parser, &ev)) {
		syntax_error(ld, parser);
		return false;
	}
	error_pos(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
	          "only one YAML document is allowed in a scenario file");
	yaml_event_delete(&ev);
	return ok;
}

int scenario_load_text(const char *text, size_t len, const char *filename, struct scenario **out,
                       struct scenario_diags *diags)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct scenario *sc;
	struct loader ld = {.filename = filename, .doc = &doc, .diags = diags};
	int err = -EINVAL;

	memset(diags, 0, sizeof(*diags));
	*out = NULL;
	if (len > SCENARIO_FILE_MAX) {
		char msg[80];
		snprintf(msg, sizeof(msg), "file is larger than %u bytes", SCENARIO_FILE_MAX);
		diags_add(diags, false, 0, 0, filename, msg);
		return -EFBIG;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	scenario_defaults(sc);
	ld.sc = sc;
	if (!yaml_parser_initialize(&parser)) {
		free(sc);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc = compose_document(&ld, &parser, &doc);
	if (rc < 0)
		goto out_parser;
	if (rc == 0) {
		diags_add(diags, false, 1, 1, filename,
		          "empty scenario file (expected a mapping with name, regions and nodes)");
		goto out_parser;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	CHECK(root != NULL);
	bool ok = load_top(&ld, root);

	if (!compose_end(&ld, &parser))
		ok = false;
	if (ok && !ld.oom) {
		*out = sc;
		sc = NULL;
		err = 0;
	}
	yaml_document_delete(&doc);
	policy_free(ld.policy);
	free(ld.defined);
	free(ld.by_name);
	free(ld.services);
	free(ld.users);
out_parser:
	yaml_parser_delete(&parser);
	if (ld.oom) {
		err = -ENOMEM;
		diags_add(diags, false, 0, 0, filename, "out of memory");
	}
	scenario_free(sc);
	diags_sort(diags);
	CHECK(err != -EINVAL || diags->errors > 0);
	return err;
}

int scenario_load_file(const char *path, struct scenario **out, struct scenario_diags *diags)
{
	FILE *f;
	char *buf;
	size_t n;
	int err;
	char msg[300];

	memset(diags, 0, sizeof(*diags));
	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-err));
		diags_add(diags, false, 0, 0, path, msg);
		return err;
	}
	buf = malloc(SCENARIO_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, SCENARIO_FILE_MAX + 1, f);
	if (ferror(f)) {
		err = -EIO;
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
		diags_add(diags, false, 0, 0, path, msg);
		goto out;
	}
	if (n > SCENARIO_FILE_MAX) {
		err = -EFBIG;
		snprintf(msg, sizeof(msg), "file is larger than %u bytes", SCENARIO_FILE_MAX);
		diags_add(diags, false, 0, 0, path, msg);
		goto out;
	}
	err = scenario_load_text(buf, n, path, out, diags);
out:
	free(buf);
	fclose(f);
	return err;
}

void scenario_free(struct scenario *sc)
{
	if (!sc)
		return;
	while (sc->strings) {
		struct scenario_chunk *next = sc->strings->next;
		free(sc->strings);
		sc->strings = next;
	}
	free(sc->expects);
	free(sc->events);
	free(sc->workloads);
	free(sc->services);
	free(sc->policy_json);
	free(sc->users);
	free(sc->groups);
	free(sc->links);
	free(sc->regions);
	free(sc);
}

void scenario_diags_print(const struct scenario_diags *diags, FILE *out)
{
	for (size_t i = 0; i < diags->count; i++)
		fprintf(out, "%s\n", diags->items[i].text);
	if (diags->dropped)
		fprintf(out, "(%zu more diagnostics not shown)\n", diags->dropped);
}

const struct scenario_node_group *scenario_node_name(const struct scenario *sc, uint32_t index,
                                                     char *buf, size_t len)
{
	int lo = 0, hi = sc->group_count - 1;

	if (index >= sc->node_count)
		return NULL;
	/* last group whose first_index <= index (groups are in order) */
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (sc->groups[mid].first_index <= index)
			lo = mid;
		else
			hi = mid - 1;
	}
	const struct scenario_node_group *g = &sc->groups[lo];
	if (g->count == 1)
		snprintf(buf, len, "%s", g->name);
	else
		snprintf(buf, len, "%s-%u", g->name, index - g->first_index);
	return g;
}
