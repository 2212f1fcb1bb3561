/* simrun end to end on the shipped scenarios (the scenarios folder) and on
 * small scenarios written here: exit status, every output SCENARIO.md
 * lists, pcaps tshark can read, determinism, the timeline. */
#include "scenario.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined by the build"
#endif
#ifndef SIMRUN_PATH
#error "SIMRUN_PATH must be defined by the build"
#endif

#define SCENARIOS SOURCE_DIR "/scenarios/"

/* Runs a shell command; returns its exit status (or -1). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/test_simrun.XXXXXX");
	cr_assert_not_null(mkdtemp(buf));
}

static bool has_tshark(void)
{
	return run("command -v tshark >/dev/null 2>&1") == 0;
}

/* simrun --quiet on `path` into `out`; stdout and stderr kept there. */
static int simrun(const char *out, const char *path, const char *extra)
{
	return run("'%s' --quiet %s --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'", SIMRUN_PATH,
	           extra ? extra : "", out, path, out, out);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Every report output exists and is not empty. */
static void check_reports(const char *out, const char *name)
{
	static const char *const files[] = {
	    "events.jsonl",
	    "report.json",
	    "latency.csv",
	    "summary.md",
	    "index.html",
	    "run.json",
	    "latency_cdf.png",
	    "latency_cdf.svg",
	    "requests_per_host.png",
	    "requests_per_host.svg",
	    "latency_over_time.png",
	    "latency_over_time.svg",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		cr_assert_eq(run("test -s '%s/reports/%s/%s'", out, name, files[i]), 0, "%s: no %s",
		             name, files[i]);
	cr_assert_eq(
	    run("grep -q '\"type\":\"request_done\"' '%s/reports/%s/events.jsonl'", out, name), 0,
	    "%s: no request_done event", name);
}

/* Each node's underlay and tailnet pcap and control's underlay pcap exist
 * (or, above the default limit, none) and tshark reads every file. */
static void check_pcaps(const char *out, const char *scenario_path)
{
	struct scenario *sc;
	struct scenario_diags d;
	char node[SCENARIO_NAME_MAX + 1];

	cr_assert_eq(scenario_load_file(scenario_path, &sc, &d), 0);
	if (sc->node_count > 200) {
		cr_assert_neq(run("ls '%s/pcaps/%s/'*.pcap >/dev/null 2>&1", out, sc->name), 0,
		              "pcaps written above 200 nodes by default");
		scenario_free(sc);
		return;
	}
	for (uint32_t i = 0; i < sc->node_count; i++) {
		scenario_node_name(sc, i, node, sizeof(node));
		cr_assert_eq(run("test -s '%s/pcaps/%s/%s-underlay.pcap'", out, sc->name, node), 0,
		             "no underlay pcap of %s", node);
		cr_assert_eq(run("test -s '%s/pcaps/%s/%s-tailnet.pcap'", out, sc->name, node), 0,
		             "no tailnet pcap of %s", node);
	}
	cr_assert_eq(run("test -s '%s/pcaps/%s/control-underlay.pcap'", out, sc->name), 0);
	if (has_tshark())
		cr_assert_eq(run("set -e; for f in '%s'/pcaps/%s/*.pcap; do "
		                 "tshark -r \"$f\" -c 1 >/dev/null 2>&1 || { echo \"$f\" >&2; "
		                 "exit 1; }; done",
		                 out, sc->name),
		             0, "tshark could not read a pcap");
	scenario_free(sc);
}

/* A shipped scenario runs to exit 0 with every output. */
static void shipped(const char *name)
{
	char out[64], path[512];

	snprintf(path, sizeof(path), SCENARIOS "%s.yaml", name);
	tmpdir(out, sizeof(out));
	int st = simrun(out, path, NULL);
	if (st != 0)
		run("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0, "%s: simrun exited %d", name, st);
	check_reports(out, name);
	check_pcaps(out, path);
	run("rm -rf '%s'", out);
}

Test(simrun_scenarios, multi_region_steering_str3_har3_har4_clients_use_their_region,
     .timeout = 300)
{
	shipped("multi-region-steering");
}

Test(simrun_scenarios, failover_crash_str4_under_a_second, .timeout = 300)
{
	shipped("failover-crash");
}

Test(simrun_scenarios, failover_partition_str4, .timeout = 300)
{
	shipped("failover-partition");
}

Test(simrun_scenarios, drain_under_load_drn2_streams_survive, .timeout = 300)
{
	shipped("drain-under-load");
}

Test(simrun_scenarios, approval_workflow_apr_pending_host_carries_nothing, .timeout = 300)
{
	shipped("approval-workflow");
}

Test(simrun_scenarios, grants_acl_allowed_and_denied_clients, .timeout = 300)
{
	shipped("grants");
}

Test(simrun_scenarios, l4_tcp_forward_echo_through_tcp, .timeout = 300)
{
	shipped("l4-tcp-forward");
}

/* l4-tcp-forward's pool-eu keeps its echo connections open: db-eu accepts
 * far fewer connections than pool-eu makes echoes, all whole. */
Test(simrun_scenarios, keepalive_tcp_echo_workload_reuses_connections_L4_1, .timeout = 300)
{
	char out[64];

	tmpdir(out, sizeof(out));
	cr_assert_eq(simrun(out, SCENARIOS "l4-tcp-forward.yaml", "--pcap none"), 0);
	cr_assert_eq(run("cd '%s/reports/l4-tcp-forward' && "
	                 "pool=$(grep -c '\"workload\":\"pool-eu\".*\"outcome\":\"ok\".*"
	                 "\"bytes\":512' events.jsonl) && "
	                 "echo=$(grep -c '\"workload\":\"echo-eu\"' events.jsonl) && "
	                 "conns=$(grep '\"node\":\"db-eu\"' events.jsonl | "
	                 "grep -c '\"type\":\"conn_accepted\"') && "
	                 "test \"$pool\" -ge 500 && test $((conns - echo)) -le $((pool / 5))",
	                 out),
	             0, "pool-eu did not reuse its connections");
	run("rm -rf '%s'", out);
}

Test(simrun_scenarios, l3_tun_service_answers_from_the_host_stack, .timeout = 300)
{
	shipped("l3-udp");
}

/* l3-udp's udp-echo workload: every query through the L3 VIP comes back
 * from the host's udp-echo program, attributed to the host. */
Test(simrun_scenarios, l3_udp_echo_workload_is_ok_through_the_l3_vip, .timeout = 300)
{
	char out[64];

	tmpdir(out, sizeof(out));
	cr_assert_eq(simrun(out, SCENARIOS "l3-udp.yaml", "--pcap none"), 0);
	cr_assert_eq(run("cd '%s/reports/l3-udp' && "
	                 "n=$(grep -c '\"workload\":\"dns\"' events.jsonl) && "
	                 "ok=$(grep '\"workload\":\"dns\"' events.jsonl | "
	                 "grep -c '\"host\":\"dns\",.*\"outcome\":\"ok\",\"status\":0,"
	                 "\"bytes\":512') && test \"$n\" -ge 500 && test \"$ok\" -eq \"$n\"",
	                 out),
	             0, "udp-echo queries not all ok from host dns");
	run("rm -rf '%s'", out);
}

/* multi-region-steering's api-eu runs on keepalive HTTPS connections with
 * 10KB answers: web-eu accepts far fewer connections than it serves
 * requests, and every answer has the size asked for. */
Test(simrun_scenarios, keepalive_https_workload_reuses_connections, .timeout = 300)
{
	char out[64];

	tmpdir(out, sizeof(out));
	cr_assert_eq(simrun(out, SCENARIOS "multi-region-steering.yaml", "--pcap none"), 0);
	cr_assert_eq(run("cd '%s/reports/multi-region-steering' && "
	                 "api=$(grep -c '\"workload\":\"api-eu\".*\"outcome\":\"ok\".*"
	                 "\"bytes\":10000' events.jsonl) && "
	                 "browse=$(grep -c '\"workload\":\"browse-eu\"' events.jsonl) && "
	                 "conns=$(grep '\"node\":\"web-eu\"' events.jsonl | "
	                 "grep -c '\"type\":\"conn_accepted\"') && "
	                 "test \"$api\" -ge 500 && test $((conns - browse)) -le $((api / 5))",
	                 out),
	             0, "api-eu did not reuse its connections");
	run("rm -rf '%s'", out);
}

Test(simrun_scenarios, scale_1k_runs_within_a_minute, .timeout = 300)
{
	shipped("scale-1k");
	/* wall-clock facts live in run.json, never in report.json */
}

Test(simrun, har2_same_seed_gives_identical_events_report_and_pcaps, .timeout = 300)
{
	char a[64], b[64];

	tmpdir(a, sizeof(a));
	tmpdir(b, sizeof(b));
	cr_assert_eq(simrun(a, SCENARIOS "failover-crash.yaml", "--seed 21"), 0);
	cr_assert_eq(simrun(b, SCENARIOS "failover-crash.yaml", "--seed 21"), 0);
	cr_assert_eq(run("cmp -s '%s/reports/failover-crash/events.jsonl' "
	                 "'%s/reports/failover-crash/events.jsonl'",
	                 a, b),
	             0, "events.jsonl differ");
	cr_assert_eq(run("cmp -s '%s/reports/failover-crash/report.json' "
	                 "'%s/reports/failover-crash/report.json'",
	                 a, b),
	             0, "report.json differ");
	cr_assert_eq(run("cmp -s '%s/reports/failover-crash/latency.csv' "
	                 "'%s/reports/failover-crash/latency.csv'",
	                 a, b),
	             0, "latency.csv differ");
	cr_assert_eq(run("diff -r -q '%s/pcaps' '%s/pcaps' >/dev/null", a, b), 0, "pcaps differ");
	/* the restarted daemon's capture is kept apart from the first one */
	cr_assert_eq(run("test -s '%s/pcaps/failover-crash/web-us-tailnet-restart-1.pcap'", a), 0);
	run("rm -rf '%s' '%s'", a, b);
}

Test(simrun, report_json_has_no_wall_clock_and_run_json_has_it, .timeout = 300)
{
	char out[64];

	tmpdir(out, sizeof(out));
	cr_assert_eq(simrun(out, SCENARIOS "l3-udp.yaml", NULL), 0);
	cr_assert_eq(run("grep -q '\"wall_s\":0,' '%s/reports/l3-udp/report.json'", out), 0);
	cr_assert_eq(run("grep -q '\"peak_memory_bytes\":0,' '%s/reports/l3-udp/report.json'", out),
	             0);
	cr_assert_eq(run("grep -Eq '\"wall_s\":[0-9.]+,' '%s/reports/l3-udp/run.json' && grep -Eq "
	                 "'\"peak_memory_bytes\":[1-9][0-9]*' '%s/reports/l3-udp/run.json'",
	                 out, out),
	             0, "run.json lacks the wall-clock facts");
	cr_assert_eq(run("grep -q '^Wall clock' '%s/reports/l3-udp/summary.md'", out), 0);
	run("rm -rf '%s'", out);
}

Test(simrun, timeline_actions_are_events_in_time_order, .timeout = 300)
{
	char out[64];

	tmpdir(out, sizeof(out));
	cr_assert_eq(simrun(out, SCENARIOS "failover-crash.yaml", NULL), 0);
	cr_assert_eq(run("grep '\"type\":\"timeline\"' '%s/reports/failover-crash/events.jsonl' | "
	                 "cut -d, -f1-5 | tr '\\n' '|' | grep -qx "
	                 "'{\"t_us\":5000000,\"node\":\"simrun\",\"type\":\"timeline\","
	                 "\"action\":\"crash\",\"target\":\"web-us\"|"
	                 "{\"t_us\":10000000,\"node\":\"simrun\",\"type\":\"timeline\","
	                 "\"action\":\"restart\",\"target\":\"web-us\"|'",
	                 out),
	             0, "timeline events missing or out of order");
	/* the crash is followed by the daemon's own event, in file order */
	cr_assert_eq(run("grep -n 'node_crash\\|\"action\":\"crash\"' "
	                 "'%s/reports/failover-crash/events.jsonl' | head -2 | grep -c . | "
	                 "grep -qx 2",
	                 out),
	             0);
	run("rm -rf '%s'", out);
}

Test(simrun, har1_failing_expectation_exits_1_and_prints_it, .timeout = 300)
{
	char out[64], path[128];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/tight.yaml", out);
	cr_assert_eq(run("sed 's/p99: \"< 10ms\"/p99: \"< 1us\"/' '%s' >'%s'",
	                 SCENARIOS "l3-udp.yaml", path),
	             0);
	cr_assert_eq(run("grep -q '< 1us' '%s'", path), 0);
	cr_assert_eq(simrun(out, path, NULL), 1);
	cr_assert_eq(run("grep -q '^FAILED .*tight.yaml:[0-9]*: echo p99 < 1us: expected echo p99 "
	                 "< [0-9.]*ms, measured [0-9.]*ms' '%s/stdout'",
	                 out),
	             0, "the failed expectation is not printed");
	cr_assert_eq(run("grep -q '3 of 5 expectations hold' '%s/stdout'", out), 0);
	run("rm -rf '%s'", out);
}

Test(simrun, har1_invalid_scenario_exits_2_with_the_position)
{
	char out[64], path[128];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/bad.yaml", out);
	write_file(path,
	           "name: bad\nregions: {r: {}}\nnodes: [{name: a, region: r}]\n"
	           "workloads: [{name: w, from: a, to: svc:web:80, kind: http, rates: 1/s}]\n");
	cr_assert_eq(simrun(out, path, NULL), 2);
	cr_assert_eq(run("grep -q 'bad.yaml:[0-9]*:[0-9]*: ' '%s/stderr'", out), 0);
	cr_assert_eq(run("test ! -e '%s/reports'", out), 0, "an invalid file wrote outputs");
	run("rm -rf '%s'", out);
}

/* --seed: decimal digits in 1..4294967295 or exit 2 with the reason (no
 * sign, blank, hexadecimal, octal-looking zero or overflow). */
Test(simrun, har_1_seed_refuses_signs_blanks_hex_and_out_of_range_with_why)
{
	static const struct {
		const char *seed, *msg;
	} cases[] = {
	    {"+5", "bad --seed '+5': a sign is not accepted"},
	    {"' 5'", "bad --seed ' 5': blanks are not accepted"},
	    {"0x10", "bad --seed '0x10': hexadecimal is not accepted"},
	    {"010", "bad --seed '010': leading zeros are not accepted"},
	    {"-1", "bad --seed '-1': negative values are not accepted"},
	    {"4294967296", "bad --seed '4294967296': out of range (1 to 4294967295)"},
	    {"0", "out of range (1 to 4294967295)"},
	};
	char out[64], cmd[128];

	tmpdir(out, sizeof(out));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "--check --seed %s", cases[i].seed);
		cr_assert_eq(simrun(out, SCENARIOS "quickstart.yaml", cmd), 2, "--seed %s accepted",
		             cases[i].seed);
		cr_assert_eq(run("grep -qF -- \"%s\" '%s/stderr'", cases[i].msg, out), 0,
		             "--seed %s: no \"%s\"", cases[i].seed, cases[i].msg);
	}
	cr_assert_eq(simrun(out, SCENARIOS "quickstart.yaml", "--check --seed 4294967295"), 0);
	run("rm -rf '%s'", out);
}

static const char pair_scenario[] =
    "name: pair\n"
    "duration: 12s\n"
    "regions: {r: {}}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com], tag:client: [alice@example.com],\n"
    "              tag:svc: [alice@example.com]}\n"
    "  autoApprovers: {services: {svc:web: [tag:web]}}\n"
    "  grants: [{src: [tag:client], dst: [svc:web], ip: [\"80\"]}]\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, region: r, tags: [tag:web], backends: [{listen: 127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"
    "  - {name: a, region: r, tags: [tag:client]}\n"
    "  - {name: b, region: r, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 10/s, start: 1s, stop: 8s}\n"
    "  - {name: wb, from: b, to: svc:web:80, rate: 10/s, start: 1s, stop: 8s}\n"
    "timeline:\n"
    "  - {at: 3s, partition: [a, web]}\n"
    "  - {at: 5s, heal: [a, web]}\n"
    "expect:\n"
    "  - {workload: wb, success_rate: \"100%\", max: \"< 50ms\"}\n"
    "  - {workload: wa, max: \"> 500ms\"}\n";

Test(simrun, node_pair_partition_cuts_only_that_pair, .timeout = 300)
{
	char out[64], path[128];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	write_file(path, pair_scenario);
	int st = simrun(out, path, NULL);
	if (st != 0)
		run("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0);
	cr_assert_eq(run("grep -q '\"action\":\"partition\",\"target\":\"a,web\"' "
	                 "'%s/reports/pair/events.jsonl'",
	                 out),
	             0);
	run("rm -rf '%s'", out);
}

Test(simrun, set_policy_reads_the_file_next_to_the_scenario, .timeout = 300)
{
	char out[64], path[128], policy[128];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/sub", out);
	cr_assert_eq(mkdir(path, 0777), 0);
	snprintf(policy, sizeof(policy), "%s/sub/open.json", out);
	write_file(policy, "{\"tagOwners\": {\"tag:web\": [\"alice@example.com\"],\n"
	                   " \"tag:client\": [\"alice@example.com\"],\n"
	                   " \"tag:svc\": [\"alice@example.com\"]},\n"
	                   " \"autoApprovers\": {\"services\": {\"svc:web\": [\"tag:web\"]}},\n"
	                   " \"grants\": [{\"src\": [\"*\"], \"dst\": [\"svc:web\"], "
	                   "\"ip\": [\"80\"]}]}\n");
	snprintf(path, sizeof(path), "%s/sub/pair.yaml", out);
	char text[sizeof(pair_scenario) + 256];
	snprintf(text, sizeof(text), "%s", pair_scenario);
	char *tl = strstr(text, "timeline:\n");
	cr_assert_not_null(tl);
	snprintf(tl, sizeof(text) - (size_t)(tl - text),
	         "timeline:\n"
	         "  - {at: 2s, admin: set-policy open.json, as: alice@example.com}\n");
	write_file(path, text);
	/* run from elsewhere: the path is relative to the scenario's folder */
	int st = run("cd / && '%s' --quiet --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'", SIMRUN_PATH,
	             out, path, out, out);
	if (st != 0)
		run("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0);
	cr_assert_eq(run("grep '\"action\":\"admin\"' '%s/reports/pair/events.jsonl' | "
	                 "grep -q 'set-policy open.json (as alice@example.com)\"'",
	                 out),
	             0, "set-policy failed or left no timeline event");
	cr_assert_eq(run("grep -q '\"type\":\"policy_set\"' '%s/reports/pair/events.jsonl'", out),
	             0);
	run("rm -rf '%s'", out);
}

Test(simrun, failed_timeline_action_is_a_warning_event, .timeout = 300)
{
	char out[64], path[128];
	char text[sizeof(pair_scenario) + 256];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	snprintf(text, sizeof(text), "%s", pair_scenario);
	char *tl = strstr(text, "timeline:\n");
	cr_assert_not_null(tl);
	snprintf(tl, sizeof(text) - (size_t)(tl - text),
	         "timeline:\n  - {at: 2s, node: web, run: serve drain svc:nothere}\n");
	write_file(path, text);
	cr_assert_eq(run("'%s' --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'", SIMRUN_PATH, out, path,
	                 out, out),
	             0);
	cr_assert_eq(run("grep '\"action\":\"serve\"' '%s/reports/pair/events.jsonl' | "
	                 "grep -q 'serve drain svc:nothere; failed: '",
	                 out),
	             0);
	cr_assert_eq(run("grep -q '^warning: timeline:[0-9]*: at 2.000000s serve web' "
	                 "'%s/stderr'",
	                 out),
	             0);
	run("rm -rf '%s'", out);
}

Test(simrun, pcap_glob_selects_the_nodes_captured, .timeout = 300)
{
	char out[64], path[128];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	write_file(path, pair_scenario);
	cr_assert_eq(simrun(out, path, "--pcap 'a'"), 0);
	cr_assert_eq(run("cd '%s/pcaps/pair' && test \"$(ls | tr '\\n' ' ')\" = "
	                 "'a-tailnet.pcap a-underlay.pcap '",
	                 out),
	             0, "--pcap a wrote other files");
	cr_assert_eq(simrun(out, path, "--pcap none"), 0);
	cr_assert_neq(run("ls '%s/pcaps/pair/'*.pcap >/dev/null 2>&1", out), 0,
	              "--pcap none left pcaps behind");
	run("rm -rf '%s'", out);
}

Test(simrun, control_state_file_is_removed_unless_kept, .timeout = 300)
{
	char out[64], path[128];

	tmpdir(out, sizeof(out));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	write_file(path, pair_scenario);
	cr_assert_eq(simrun(out, path, "--pcap none"), 0);
	cr_assert_eq(run("test ! -e '%s/reports/pair/control-state.json'", out), 0);
	cr_assert_eq(simrun(out, path, "--pcap none --keep-state"), 0);
	cr_assert_eq(run("test -s '%s/reports/pair/control-state.json'", out), 0);
	/* a kept state file does not leak into the next run */
	char a[160];
	snprintf(a, sizeof(a), "%s/first.jsonl", out);
	cr_assert_eq(run("cp '%s/reports/pair/events.jsonl' '%s'", out, a), 0);
	cr_assert_eq(simrun(out, path, "--pcap none"), 0);
	cr_assert_eq(run("cmp -s '%s/reports/pair/events.jsonl' '%s'", out, a), 0);
	run("rm -rf '%s'", out);
}

/* ---- a full disk (HAR-1: a failed run exits 2, saying what failed) ---- */

static const char small_scenario[] =
    "name: small\n"
    "duration: 6s\n"
    "regions: {r: {}}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com], tag:client: [alice@example.com],\n"
    "              tag:svc: [alice@example.com]}\n"
    "  autoApprovers: {services: {svc:web: [tag:web]}}\n"
    "  grants: [{src: [tag:client], dst: [svc:web], ip: [\"80\"]}]\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, region: r, tags: [tag:web], backends: [{listen: 127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"
    "  - {name: a, region: r, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 50/s, start: 1s, stop: 5s}\n";

/* A whole file (malloc'd, NUL-terminated, *len bytes), or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - n < 65536) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap + 1);
			cr_assert_not_null(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Whether `got` is the complete version of `want` (the reference run's
 * file): byte for byte, except the wall-clock facts (run.json entirely,
 * summary.md's last line), which must only be whole. */
static bool same_output(const char *name, const char *want, size_t want_len, const char *got,
                        size_t got_len)
{
	if (!got)
		return false;
	if (strcmp(name, "run.json") == 0)
		return got_len > 2 && got[0] == '{' && strstr(got, "\"ns3_events\":") &&
		       strcmp(got + got_len - 2, "}\n") == 0;
	if (strcmp(name, "summary.md") == 0) {
		const char *w = strstr(want, "\nWall clock"), *g = strstr(got, "\nWall clock");
		return w && g && w - want == g - got &&
		       memcmp(want, got, (size_t)(w - want)) == 0 && got_len > 6 &&
		       strcmp(got + got_len - 6, "MiB.\n") == 0;
	}
	return want_len == got_len && memcmp(want, got, want_len) == 0;
}

/* Runs simrun into a tmpfs of `size` in a private mount namespace and
 * checks every output of the reference run in `ref` (folder `sub`,
 * reports/small or pcaps/small): each file that is not complete is named
 * on stderr ("could not write PATH completely"), and each named one is
 * indeed not complete; with events.jsonl incomplete no report may be left
 * (not even an earlier one). Returns how many were named. */
static size_t full_disk_run(const char *ref, const char *size, const char *extra,
                            const char *const subs[], size_t n_subs)
{
	char work[64], mnt[96], err_path[128], cmd_rc_path[128], ent[512];
	size_t named = 0, len;

	tmpdir(work, sizeof(work));
	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	/* A stale report from an earlier run, to be removed or replaced. */
	run("mkdir -p '%s/copy/reports/small' && echo stale > '%s/copy/reports/small/report.json'",
	    work, work);
	int rc = run("unshare -m sh -c \"mount -t tmpfs -o size=%s tmpfs '%s' && "
	             "cp -a '%s/copy/reports' '%s/' && "
	             "'%s' --quiet %s --out '%s' '%s/s.yaml' >'%s/stdout' 2>'%s/stderr'; "
	             "echo \\$? > '%s/rc'; rm -rf '%s/copy'; cp -a '%s' '%s/copy'\"",
	             size, mnt, work, mnt, SIMRUN_PATH, extra, mnt, ref, work, work, work, work,
	             mnt, work);
	cr_assert_eq(rc, 0, "unshare/mount failed");
	snprintf(cmd_rc_path, sizeof(cmd_rc_path), "%s/rc", work);
	char *rc_text = slurp(cmd_rc_path, &len);
	cr_assert_not_null(rc_text);
	snprintf(err_path, sizeof(err_path), "%s/stderr", work);
	char *err = slurp(err_path, &len);
	cr_assert_not_null(err);
	cr_assert_eq(atoi(rc_text), 2, "simrun on a %s disk exited %s: %s", size, rc_text, err);
	free(rc_text);
	bool no_report = strstr(err, "no report written") != NULL;
	for (size_t s = 0; s < n_subs; s++) {
		char dir[256];
		snprintf(dir, sizeof(dir), "%s/%s", ref, subs[s]);
		snprintf(ent, sizeof(ent), "ls '%s' > '%s/ls'", dir, work);
		cr_assert_eq(run("%s", ent), 0);
		snprintf(ent, sizeof(ent), "%s/ls", work);
		FILE *names = fopen(ent, "r");
		char name[256];
		while (names && fgets(name, sizeof(name), names)) {
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, "control-state.json") == 0 ||
			    strcmp(name, "gnuplot.log") == 0 || strcmp(name, "s.yaml") == 0)
				continue;
			char want_path[512], got_path[512], said[512];
			size_t want_len, got_len = 0;
			snprintf(want_path, sizeof(want_path), "%s/%s", dir, name);
			snprintf(got_path, sizeof(got_path), "%s/copy/%s/%s", work, subs[s], name);
			snprintf(said, sizeof(said), "could not write %s/%s/%s completely", mnt,
			         subs[s], name);
			char *want = slurp(want_path, &want_len);
			char *got = slurp(got_path, &got_len);
			bool complete = same_output(name, want, want_len, got, got_len);
			bool is_named = strstr(err, said) != NULL;
			if (no_report && strncmp(subs[s], "reports", 7) == 0 &&
			    strcmp(name, "events.jsonl") != 0) {
				cr_assert_null(got,
				               "%s: a report was left next to an incomplete "
				               "events.jsonl",
				               name);
			} else {
				cr_assert(complete || is_named,
				          "%s disk: %s is incomplete but not named:\n%s", size,
				          name, err);
				cr_assert(!complete || !is_named,
				          "%s disk: %s is complete but named", size, name);
			}
			named += is_named;
			free(want);
			free(got);
		}
		if (names)
			fclose(names);
	}
	free(err);
	run("rm -rf '%s'", work);
	return named;
}

Test(simrun, har_1_a_full_disk_names_every_output_it_could_not_write_and_exits_2, .timeout = 120)
{
	static const char *const both[] = {"reports/small", "pcaps/small"};
	char ref[64], path[128];
	size_t len;

	if (geteuid() != 0)
		cr_skip_test("needs root to mount a tmpfs in a private mount namespace");
	if (run("unshare -m true 2>/dev/null") != 0)
		cr_skip_test("no private mount namespace here");
	tmpdir(ref, sizeof(ref));
	snprintf(path, sizeof(path), "%s/s.yaml", ref);
	write_file(path, small_scenario);
	cr_assert_eq(run("'%s' --quiet --keep-state --pcap 'web' --out '%s' '%s' >/dev/null 2>&1",
	                 SIMRUN_PATH, ref, path),
	             0, "the reference run failed");
	/* Too small for anything: events.jsonl and the pcaps fail; no report. */
	cr_assert_geq(full_disk_run(ref, "64k", "--pcap web", both, 2), 2);
	/* Room for the events (and control's state file, twice while it is
	 * replaced) but not for the whole report. */
	snprintf(path, sizeof(path), "%s/reports/small/events.jsonl", ref);
	char *ev = slurp(path, &len);
	cr_assert_not_null(ev);
	free(ev);
	size_t pages = (len + 4095) / 4096;
	snprintf(path, sizeof(path), "%s/reports/small/control-state.json", ref);
	char *state = slurp(path, &len);
	pages += state ? 2 * ((len + 4095) / 4096) : 0;
	free(state);
	char size[32];
	snprintf(size, sizeof(size), "%zuk", (pages + 3) * 4);
	cr_assert_geq(full_disk_run(ref, size, "--pcap none", both, 1), 1);
	run("rm -rf '%s'", ref);
}
