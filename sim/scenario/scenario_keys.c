/* The key tables: the one place every scenario key is described (name,
 * kind, required, default, doc text, the words a string key accepts), and
 * the names of sections and kinds. The loader checks every mapping against
 * these tables (ld_collect); scenario_schema.c generates the docs' key
 * reference and docs/scenario-schema.json from them. */
#include "sim/scenario/scenario_int.h"

#define KEY(n, k, req, def, text, ...)                                                             \
	{                                                                                          \
		.name = (n), .kind = (k), .required = (req), .implemented = true,                  \
		.default_text = (def), .doc = (text), __VA_ARGS__                                  \
	}
#define KEY_END                                                                                    \
	{                                                                                          \
		.name = NULL                                                                       \
	}

const char *const scenario_role_words[] = {"owner", "admin", "network-admin", "member", NULL};
const char *const scenario_backend_words[] = {"http", "tcp-echo", "tcp-sink", "udp-echo", NULL};
const char *const scenario_workload_words[] = {"http", "tcp-echo", "tcp-stream", "udp-echo", NULL};
const char *const scenario_connection_words[] = {"new", "keepalive", NULL};
const char *const scenario_control_words[] = {"crash",   "restart",    "disk-full", "fsync-fail",
                                              "disk-ok", "torn-write", NULL};
const char *const scenario_fault_words[] = {
    "crash",        "partition",  "link",    "control-crash",
    "control-disk", "torn-write", "revoke",  "reject",
    "drain",        "grant",      "isolate", "one-way",
    "access",       "loss",       "origin",  "origin-slow",
    "origin-error", "pause",      "tags",    "jitter",
    "duplicate",    NULL};
const char *const scenario_never_words[] = {"request to a host that was not eligible", NULL};
/* The invariants of sim/explore/invariant.h, in its enum's order (it names
 * them from this table), then "all". */
const char *const scenario_invariant_words[] = {"grant-safety",
                                                "eligible-safety",
                                                "stream-integrity",
                                                "admin-durable",
                                                "request-outcome",
                                                "reach",
                                                "recovery",
                                                "control-view",
                                                "drain-completes",
                                                "failover-time",
                                                "keepalive-reset",
                                                "control-outage",
                                                "all",
                                                NULL};

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
    [TOP_EXPLORE] = KEY("explore", SCENARIO_KIND_MAPPING, false, NULL,
                        "What `simrun explore` may do to the run: the fault menu it draws "
                        "random schedules from.",
                        .sub = SCENARIO_SECTION_EXPLORE, .project = true),
    KEY_END,
};

static const struct scenario_key scenario_link_keys[] = {
    [LINK_BETWEEN] =
        KEY("between", SCENARIO_KIND_PAIR, true, NULL, "The two regions the link joins: [a, b]."),
    [LINK_LATENCY] =
        KEY("latency", SCENARIO_KIND_DURATION, true, NULL, "One-way latency, symmetric (max 10s)."),
    [LINK_BANDWIDTH] = KEY("bandwidth", SCENARIO_KIND_BANDWIDTH, false, "10Gbps",
                           "Link rate each way (max 400Gbps)."),
    [LINK_LOSS] = KEY("loss", SCENARIO_KIND_PERCENT, false, "0%",
                      "Probability a packet is dropped (at most 100%)."),
    [LINK_JITTER] = KEY("jitter", SCENARIO_KIND_DURATION, false, "0s",
                        "Each packet's one-way delay is latency plus a uniform draw in "
                        "[0, jitter], so packets overtake each other (max 1s).",
                        .project = true),
    [LINK_REORDER] = KEY("reorder", SCENARIO_KIND_PERCENT, false, "0%",
                         "Share of packets held back by latency + jitter more (at least 1ms), "
                         "so later ones arrive first.",
                         .project = true),
    [LINK_DUPLICATE] = KEY("duplicate", SCENARIO_KIND_PERCENT, false, "0%",
                           "Share of packets delivered twice.", .project = true),
    KEY_END,
};

static const struct scenario_key scenario_access_keys[] = {
    [ACCESS_LATENCY] = KEY("latency", SCENARIO_KIND_DURATION, false, "1ms",
                           "One-way latency between a node and its region router."),
    [ACCESS_BANDWIDTH] =
        KEY("bandwidth", SCENARIO_KIND_BANDWIDTH, false, "1Gbps", "Access link rate each way."),
    [ACCESS_LOSS] =
        KEY("loss", SCENARIO_KIND_PERCENT, false, "0%", "Probability a packet is dropped."),
    [ACCESS_JITTER] =
        KEY("jitter", SCENARIO_KIND_DURATION, false, "0s",
            "Random extra delay per packet, uniform in [0, jitter] (max 1s).", .project = true),
    [ACCESS_REORDER] =
        KEY("reorder", SCENARIO_KIND_PERCENT, false, "0%",
            "Share of packets held back so later ones arrive first.", .project = true),
    [ACCESS_DUPLICATE] = KEY("duplicate", SCENARIO_KIND_PERCENT, false, "0%",
                             "Share of packets delivered twice.", .project = true),
    KEY_END,
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
    [NODE_FILES] = KEY("files", SCENARIO_KIND_FILES, false, NULL,
                       "Files in the node's own in-memory tree, what a serve `path` handler "
                       "serves (a simulated node never sees the host's files): absolute path "
                       "-> the file's text, or {size: N} for N generated bytes. At most 32 "
                       "files, paths of at most 255 bytes without `.`, `..` or empty parts, "
                       "16MiB per node and 256MiB over every node after count.",
                       .sub = SCENARIO_SECTION_FILE, .project = true),
    KEY_END,
};

static const struct scenario_key scenario_file_keys[] = {
    [FILE_SIZE] = KEY("size", SCENARIO_KIND_SIZE, true, NULL,
                      "Bytes of generated content: the 64-byte line "
                      "`abc...xyzABC...XYZ0123456789+` and a newline, repeated and cut at size."),
    KEY_END,
};

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

static const struct scenario_key scenario_explore_keys[] = {
    [EXPLORE_FAULTS] =
        KEY("faults", SCENARIO_KIND_SEQUENCE, true, NULL,
            "The fault menu: each kind at most once; a seed enables a random "
            "non-empty subset of it.",
            .item = SCENARIO_KIND_MAPPING, .sub = SCENARIO_SECTION_EXPLORE_FAULT, .project = true),
    [EXPLORE_QUIET_TAIL] = KEY("quiet_tail", SCENARIO_KIND_DURATION, false, "0",
                               "Time before the end in which no fault starts and every fault "
                               "is healed (less than the duration).",
                               .project = true),
    [EXPLORE_MAX_FAULTS] = KEY("max_faults", SCENARIO_KIND_INTEGER, false, "100",
                               "Most faults one schedule holds (1..10000).", .project = true),
    [EXPLORE_SETTLE] = KEY("settle", SCENARIO_KIND_DURATION, false, "5s",
                           "The invariant checker's liveness bound: after the last heal "
                           "(and after each fault's end), how long until every granted "
                           "client reaches its services and no request fails (less than the "
                           "duration; half of a duration under 10s by default). Liveness is judged "
                           "from the last heal + settle to the "
                           "end, so a quiet_tail longer than settle leaves it room.",
                           .project = true),
    KEY_END,
};

static const struct scenario_key scenario_explore_fault_keys[] = {
    [EFAULT_KIND] =
        KEY("kind", SCENARIO_KIND_STRING, true, NULL,
            "crash (a node, then its restart), partition (a link's two regions, "
            "then the heal), link (a link's latency and loss, then back), control-crash "
            "(then its restart), control-disk (disk-full or fsync-fail, then disk-ok), "
            "torn-write (control dies in the middle of a state write, then its restart), "
            "revoke or reject (a host: a node whose serve lines advertise a service; then "
            "approve), drain (serve drain on a host, then serve advertise), grant (the "
            "policy without one of its grants, then the policy again), isolate (a node cut "
            "off, then rejoined), one-way (a link's regions cut one way, then healed), "
            "access (a node's access link slower and lossy, then back), loss (a link's "
            "loss, then back), origin (a node's backend programs die while its daemon "
            "lives, then start again), origin-slow (a node's http backends answer late, "
            "then healthy again), origin-error (they answer 500, then healthy again), pause "
            "(a node's daemon stopped, SIGSTOP, then continued), tags (set-tags on a host's "
            "node: another set of tagOwners' tags, then its own again), jitter (a link's "
            "jitter and reorder, then back), duplicate (a link duplicates a share of packets, "
            "then back). Admin kinds run as the first owner, admin or "
            "network-admin "
            "in users.",
            .choices = scenario_fault_words, .project = true),
    [EFAULT_RATE] = KEY("rate", SCENARIO_KIND_INTEGER, true, NULL,
                        "Mean faults of this kind per simulated minute (1..600).", .project = true),
    [EFAULT_MIN] = KEY("min", SCENARIO_KIND_DURATION, false, "1s",
                       "Shortest time a fault lasts before its heal.", .project = true),
    [EFAULT_MAX] = KEY("max", SCENARIO_KIND_DURATION, false, "10s",
                       "Longest time a fault lasts (at least min).", .project = true),
    KEY_END,
};

static const struct scenario_key scenario_control_keys[] = {
    [CONTROL_REGION] = KEY("region", SCENARIO_KIND_STRING, false, "the first region",
                           "The region whose router the coordination server hangs off."),
    KEY_END,
};

static const struct scenario_key scenario_user_keys[] = {
    [USER_ROLE] = KEY("role", SCENARIO_KIND_STRING, false, "member",
                      "owner, admin and network-admin are admins (may define services and "
                      "approve hosts); member is not.",
                      .choices = scenario_role_words),
    [USER_DISPLAY_NAME] = KEY("display_name", SCENARIO_KIND_STRING, false, "the login",
                              "Name in the Tailscale-User-Name header (at most 128 bytes)."),
    KEY_END,
};

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

const struct scenario_key scenario_timeline_keys[] = {
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
                    "Change an existing link: between (or a node's access link: node), then "
                    "latency, bandwidth, loss, jitter, reorder and/or duplicate.",
                    .sub = SCENARIO_SECTION_TIMELINE_LINK),
    [TL_ADMIN] = KEY("admin", SCENARIO_KIND_STRING, false, NULL,
                     "An admin console command: define svc:X [--ports=..] [--tags=..] "
                     "[--description=..], delete svc:X, approve|reject|revoke svc:X NODE, "
                     "set-tags NODE TAG... (the node's tags from then on, each owned in "
                     "tagOwners), set-policy FILE, or set-policy with the policy in "
                     "`policy`."),
    [TL_AS] = KEY("as", SCENARIO_KIND_STRING, false, NULL,
                  "With admin: the user (declared in users) who runs the command."),
    [TL_CONTROL] = KEY("control", SCENARIO_KIND_STRING, false, NULL,
                       "crash or restart the coordination server; or its disk: disk-full "
                       "(state writes fail, ENOSPC), fsync-fail (fsyncs fail, EIO), disk-ok "
                       "(healthy again), torn-write (power lost in the middle of a state "
                       "write: control is down, as after crash).",
                       .choices = scenario_control_words, .project = true),
    [TL_POLICY] = KEY("policy", SCENARIO_KIND_OBJECT, false, NULL,
                      "With `admin: set-policy` (no FILE): the policy it sets, written like "
                      "the top-level policy (what explore writes for its grant faults).",
                      .project = true),
    [TL_ISOLATE] = KEY("isolate", SCENARIO_KIND_STRING, false, NULL,
                       "A node cut off: its access link down both ways (its daemon runs on).",
                       .project = true),
    [TL_REJOIN] = KEY("rejoin", SCENARIO_KIND_STRING, false, NULL,
                      "An isolated node's access link up again.", .project = true),
    [TL_PARTITION_ONE_WAY] = KEY("partition_one_way", SCENARIO_KIND_PAIR, false, NULL,
                                 "[FROM, TO]: two regions with a link between them; packets "
                                 "from FROM's hosts to TO's are dropped, the other way pass.",
                                 .project = true),
    [TL_HEAL_ONE_WAY] = KEY("heal_one_way", SCENARIO_KIND_PAIR, false, NULL,
                            "[FROM, TO]: undo a partition_one_way.", .project = true),
    [TL_ORIGIN_CRASH] = KEY("origin_crash", SCENARIO_KIND_STRING, false, NULL,
                            "A node whose backend programs die (connections reset, "
                            "listeners closed) while its daemon lives.",
                            .project = true),
    [TL_ORIGIN_RESTART] =
        KEY("origin_restart", SCENARIO_KIND_STRING, false, NULL,
            "A node whose backend programs start again after origin_crash.", .project = true),
    [TL_ORIGIN_SLOW] = KEY("origin_slow", SCENARIO_KIND_STRING, false, NULL,
                           "A node whose http backends answer `delay` later than they "
                           "would (a slow origin) while its daemon lives.",
                           .project = true),
    [TL_ORIGIN_ERROR] = KEY("origin_error", SCENARIO_KIND_STRING, false, NULL,
                            "A node whose http backends answer every request with 500 "
                            "and no body while its daemon lives.",
                            .project = true),
    [TL_ORIGIN_OK] = KEY("origin_ok", SCENARIO_KIND_STRING, false, NULL,
                         "A node whose http backends are healthy again after origin_slow "
                         "or origin_error.",
                         .project = true),
    [TL_DELAY] =
        KEY("delay", SCENARIO_KIND_DURATION, false, NULL,
            "With origin_slow: how much later each answer comes (up to 60s).", .project = true),
    [TL_EXPECT_ERROR] = KEY("expect_error", SCENARIO_KIND_STRING, false, NULL,
                            "The action must fail, with a reason containing this text; "
                            "without it, an action that cannot be carried out fails the run "
                            "(exit 2).",
                            .project = true),
    [TL_PAUSE] = KEY("pause", SCENARIO_KIND_STRING, false, NULL,
                     "A node whose daemon is stopped (SIGSTOP, a gray failure): it runs "
                     "nothing and closes nothing; its backends run on.",
                     .project = true),
    [TL_RESUME] = KEY("resume", SCENARIO_KIND_STRING, false, NULL,
                      "A paused node's daemon continued: what was held is delivered, "
                      "overdue timers fire.",
                      .project = true),
    KEY_END,
};

static const struct scenario_key scenario_tlink_keys[] = {
    [TLINK_BETWEEN] = KEY("between", SCENARIO_KIND_PAIR, false, NULL,
                          "The two regions of an existing link (or node)."),
    [TLINK_LATENCY] =
        KEY("latency", SCENARIO_KIND_DURATION, false, "unchanged", "New one-way latency."),
    [TLINK_BANDWIDTH] = KEY("bandwidth", SCENARIO_KIND_BANDWIDTH, false, "unchanged", "New rate."),
    [TLINK_LOSS] = KEY("loss", SCENARIO_KIND_PERCENT, false, "unchanged", "New loss."),
    [TLINK_NODE] = KEY("node", SCENARIO_KIND_STRING, false, NULL,
                       "Instead of between: the node whose access link changes.", .project = true),
    [TLINK_JITTER] =
        KEY("jitter", SCENARIO_KIND_DURATION, false, "unchanged", "New jitter.", .project = true),
    [TLINK_REORDER] = KEY("reorder", SCENARIO_KIND_PERCENT, false, "unchanged",
                          "New share of packets held back.", .project = true),
    [TLINK_DUPLICATE] = KEY("duplicate", SCENARIO_KIND_PERCENT, false, "unchanged",
                            "New share of packets delivered twice.", .project = true),
    KEY_END,
};

const struct scenario_key scenario_expect_keys[] = {
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
                    "Window start. new_connections and resets count what happens at or "
                    "after it; success_rate and the percentiles judge the requests that "
                    "start at or after it."),
    [EX_TO] = KEY("to", SCENARIO_KIND_DURATION, false, "the end",
                  "Window end. new_connections and resets count what happens up to it "
                  "(included); success_rate and the percentiles judge the requests that "
                  "start before it."),
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
    [EX_THROUGHOUT] = KEY("throughout", SCENARIO_KIND_MAPPING, false, NULL,
                          "With success_rate or percentiles: the bounds hold in every window "
                          "of [from, to) cut into consecutive windows (the last may be "
                          "shorter); a window with nothing to measure holds, and at least one "
                          "must have something.",
                          .sub = SCENARIO_SECTION_EXPECT_THROUGHOUT, .project = true),
    [EX_EVENTUALLY] = KEY("eventually", SCENARIO_KIND_MAPPING, false, NULL,
                          "With success_rate or percentiles: windows run from `after` to `to`; "
                          "the bounds hold in every window from one that starts at most "
                          "`within` after `after` to the end (with at least one window there "
                          "to measure). Measured: when they start to hold, after `after`.",
                          .sub = SCENARIO_SECTION_EXPECT_EVENTUALLY, .project = true),
    [EX_INVARIANT] = KEY("invariant", SCENARIO_KIND_STRING, false, NULL,
                         "An invariant of simrun explore (docs/explore.md) judged over the "
                         "run from its events, or all of them: the run must not break it.",
                         .choices = scenario_invariant_words, .project = true),
    KEY_END,
};

static const struct scenario_key scenario_throughout_keys[] = {
    [THR_WINDOW] = KEY("window", SCENARIO_KIND_DURATION, true, NULL,
                       "Length of each window (more than 0, at most the span judged; at most "
                       "100000 windows)."),
    KEY_END,
};

static const struct scenario_key scenario_eventually_keys[] = {
    [EVT_WITHIN] = KEY("within", SCENARIO_KIND_DURATION, true, NULL,
                       "How long after `after` the bounds may take to start holding."),
    [EVT_AFTER] = KEY("after", SCENARIO_KIND_STRING, false, "0s",
                      "A time, or `last-heal`: the end of the run's last fault (crash until "
                      "restart, partition until heal, control crash until restart; 0s when "
                      "there is none)."),
    [EVT_WINDOW] = KEY("window", SCENARIO_KIND_DURATION, true, NULL,
                       "Length of each window (more than 0; at most 100000 windows)."),
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
    [SCENARIO_SECTION_FILE] = scenario_file_keys,
    [SCENARIO_SECTION_EXPLORE] = scenario_explore_keys,
    [SCENARIO_SECTION_EXPLORE_FAULT] = scenario_explore_fault_keys,
    [SCENARIO_SECTION_EXPECT_THROUGHOUT] = scenario_throughout_keys,
    [SCENARIO_SECTION_EXPECT_EVENTUALLY] = scenario_eventually_keys,
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
    [SCENARIO_SECTION_FILE] = "file",
    [SCENARIO_SECTION_EXPLORE] = "explore",
    [SCENARIO_SECTION_EXPLORE_FAULT] = "explore fault",
    [SCENARIO_SECTION_EXPECT_THROUGHOUT] = "throughout",
    [SCENARIO_SECTION_EXPECT_EVENTUALLY] = "eventually",
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
	case SCENARIO_KIND_FILES:
		return "mapping of paths";
	}
	return "?";
}

const char *scenario_role_name(enum scenario_role role)
{
	if ((unsigned)role > SCENARIO_ROLE_MEMBER)
		return "?";
	return scenario_role_words[role];
}
