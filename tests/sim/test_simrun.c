/* simrun end to end on the shipped scenarios (the scenarios folder) and on
 * small scenarios written here: exit status, every output SCENARIO.md
 * lists, pcaps tshark can read, determinism, the timeline. */
#include "sim/scenario/scenario.h"
#include "tests/support/prereq.h"
#include "tests/support/shell.h"

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

static bool has_tshark(void)
{
	return shell_status("command -v tshark >/dev/null 2>&1") == 0;
}

/* simrun --quiet on `path` into `out`; stdout and stderr kept there. */
static int simrun(const char *out, const char *path, const char *extra)
{
	return shell_status("'%s' --quiet %s --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'",
	                    SIMRUN_PATH, extra ? extra : "", out, path, out, out);
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
		cr_assert_eq(shell_status("test -s '%s/reports/%s/%s'", out, name, files[i]), 0,
		             "%s: no %s", name, files[i]);
	cr_assert_eq(
	    shell_status("grep -q '\"type\":\"request_done\"' '%s/reports/%s/events.jsonl'", out,
	                 name),
	    0, "%s: no request_done event", name);
}

static bool has_capinfos(void)
{
	return shell_status("command -v capinfos >/dev/null 2>&1") == 0;
}

/* The pcaps folder holds exactly the files the run writes: each node's
 * underlay and tailnet capture, <node>-tailnet-restart-N.pcap for each
 * restart, control's underlay capture (none above the default limit).
 * capinfos (Wireshark's reader) reads every file to its end, each has its
 * link type (PPP on the underlay, raw IP on the tailnet), and every
 * underlay capture has packets (each node talks to control). */
static void check_pcaps(const char *out, const char *scenario_path)
{
	struct scenario *sc;
	struct scenario_diags d;
	char node[SCENARIO_NAME_MAX + 1], want[64];
	char dir[256];

	cr_assert_eq(scenario_load_file(scenario_path, &sc, &d), 0);
	snprintf(dir, sizeof(dir), "%s/pcaps/%s", out, sc->name);
	if (sc->node_count > 200) {
		cr_assert_neq(shell_status("ls '%s/'*.pcap >/dev/null 2>&1", dir), 0,
		              "pcaps written above 200 nodes by default");
		scenario_free(sc);
		return;
	}
	snprintf(want, sizeof(want), "%s/want", out);
	FILE *f = fopen(want, "w");
	cr_assert_not_null(f);
	fprintf(f, "control-underlay.pcap\n");
	for (uint32_t i = 0; i < sc->node_count; i++) {
		scenario_node_name(sc, i, node, sizeof(node));
		fprintf(f, "%s-underlay.pcap\n%s-tailnet.pcap\n", node, node);
		unsigned restarts = 0;
		for (size_t k = 0; k < sc->n_events; k++)
			if (sc->events[k].action == SCENARIO_ACTION_RESTART &&
			    sc->events[k].node == i)
				fprintf(f, "%s-tailnet-restart-%u.pcap\n", node, ++restarts);
	}
	fclose(f);
	cr_assert_eq(
	    shell_status(
	        "cd '%s' && ls | LC_ALL=C sort >'%s.have' && LC_ALL=C sort -o '%s' '%s' && "
	        "diff '%s' '%s.have' >&2",
	        dir, want, want, want, want, want),
	    0,
	    "%s: the pcaps written are not one per node and link, one per restart "
	    "and control's (diff above)",
	    sc->name);
	if (has_capinfos()) {
		cr_assert_eq(
		    shell_status("cd '%s' && capinfos -T -r -E -c -M *.pcap >'%s.info'", dir, want),
		    0, "%s: capinfos could not read every pcap to its end", sc->name);
		cr_assert_eq(
		    shell_status(
		        "awk -F'\\t' '{ w = $1 ~ /-underlay[.]pcap$/ ? \"ppp\" : \"rawip\"; "
		        "if ($2 != w || (w == \"ppp\" && $3 < 1)) { print; bad = 1 } } "
		        "END { exit bad }' '%s.info' >&2",
		        want),
		    0,
		    "%s: a pcap with the wrong link type, or an underlay pcap without "
		    "packets (above)",
		    sc->name);
	}
	scenario_free(sc);
}

/* A shipped scenario runs to exit 0 with every output. */
static void shipped(const char *name)
{
	char out[64], path[512];

	snprintf(path, sizeof(path), SCENARIOS "%s.yaml", name);
	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	int st = simrun(out, path, NULL);
	if (st != 0)
		shell_status("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0, "%s: simrun exited %d", name, st);
	check_reports(out, name);
	check_pcaps(out, path);
	shell_status("rm -rf '%s'", out);
}

Test(simrun_scenarios, multi_region_steering_str3_har4_clients_use_their_region, .timeout = 300)
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

Test(simrun_scenarios, failover_keepalive_str7_kept_alive_clients_lose_only_requests_in_flight,
     .timeout = 300)
{
	shipped("failover-keepalive");
}

Test(simrun_scenarios, drain_under_load_drn2_streams_survive, .timeout = 300)
{
	shipped("drain-under-load");
}

Test(simrun_scenarios, control_restart_str8_costs_no_request, .timeout = 300)
{
	shipped("control-restart");
}

Test(simrun_scenarios, control_partition_str8_cut_off_regions_serve_themselves, .timeout = 300)
{
	shipped("control-partition");
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

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	cr_assert_eq(simrun(out, SCENARIOS "l4-tcp-forward.yaml", "--pcap none"), 0);
	cr_assert_eq(
	    shell_status("cd '%s/reports/l4-tcp-forward' && "
	                 "pool=$(grep -c '\"workload\":\"pool-eu\".*\"outcome\":\"ok\".*"
	                 "\"bytes\":512' events.jsonl) && "
	                 "echo=$(grep -c '\"workload\":\"echo-eu\"' events.jsonl) && "
	                 "conns=$(grep '\"node\":\"db-eu\"' events.jsonl | "
	                 "grep -c '\"type\":\"conn_accepted\"') && "
	                 "test \"$pool\" -ge 500 && test $((conns - echo)) -le $((pool / 5))",
	                 out),
	    0, "pool-eu did not reuse its connections");
	shell_status("rm -rf '%s'", out);
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

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	cr_assert_eq(simrun(out, SCENARIOS "l3-udp.yaml", "--pcap none"), 0);
	cr_assert_eq(
	    shell_status("cd '%s/reports/l3-udp' && "
	                 "n=$(grep -c '\"workload\":\"dns\"' events.jsonl) && "
	                 "ok=$(grep '\"workload\":\"dns\"' events.jsonl | "
	                 "grep -c '\"host\":\"dns\",.*\"outcome\":\"ok\",\"status\":0,"
	                 "\"bytes\":512') && test \"$n\" -ge 500 && test \"$ok\" -eq \"$n\"",
	                 out),
	    0, "udp-echo queries not all ok from host dns");
	shell_status("rm -rf '%s'", out);
}

/* multi-region-steering's api-eu runs on keepalive HTTPS connections with
 * 10KB answers: web-eu accepts far fewer connections than it serves
 * requests, and every answer has the size asked for. */
Test(simrun_scenarios, keepalive_https_workload_reuses_connections, .timeout = 300)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	cr_assert_eq(simrun(out, SCENARIOS "multi-region-steering.yaml", "--pcap none"), 0);
	cr_assert_eq(
	    shell_status("cd '%s/reports/multi-region-steering' && "
	                 "api=$(grep -c '\"workload\":\"api-eu\".*\"outcome\":\"ok\".*"
	                 "\"bytes\":10000' events.jsonl) && "
	                 "browse=$(grep -c '\"workload\":\"browse-eu\"' events.jsonl) && "
	                 "conns=$(grep '\"node\":\"web-eu\"' events.jsonl | "
	                 "grep -c '\"type\":\"conn_accepted\"') && "
	                 "test \"$api\" -ge 500 && test $((conns - browse)) -le $((api / 5))",
	                 out),
	    0, "api-eu did not reuse its connections");
	shell_status("rm -rf '%s'", out);
}

Test(simrun_scenarios, scale_1k_runs_within_a_minute, .timeout = 300)
{
	shipped("scale-1k");
	/* wall-clock facts live in run.json, never in report.json */
}

Test(simrun, har2_same_seed_gives_identical_events_report_and_pcaps, .timeout = 300)
{
	char a[64], b[64];

	cr_assert(shell_mkdtemp(a, sizeof(a), "test_simrun"));
	cr_assert(shell_mkdtemp(b, sizeof(b), "test_simrun"));
	cr_assert_eq(simrun(a, SCENARIOS "failover-crash.yaml", "--seed 21"), 0);
	cr_assert_eq(simrun(b, SCENARIOS "failover-crash.yaml", "--seed 21"), 0);
	cr_assert_eq(shell_status("cmp -s '%s/reports/failover-crash/events.jsonl' "
	                          "'%s/reports/failover-crash/events.jsonl'",
	                          a, b),
	             0, "events.jsonl differ");
	cr_assert_eq(shell_status("cmp -s '%s/reports/failover-crash/report.json' "
	                          "'%s/reports/failover-crash/report.json'",
	                          a, b),
	             0, "report.json differ");
	cr_assert_eq(shell_status("cmp -s '%s/reports/failover-crash/latency.csv' "
	                          "'%s/reports/failover-crash/latency.csv'",
	                          a, b),
	             0, "latency.csv differ");
	cr_assert_eq(shell_status("diff -r -q '%s/pcaps' '%s/pcaps' >/dev/null", a, b), 0,
	             "pcaps differ");
	/* the restarted daemon's capture is kept apart from the first one */
	cr_assert_eq(
	    shell_status("test -s '%s/pcaps/failover-crash/web-us-tailnet-restart-1.pcap'", a), 0);
	shell_status("rm -rf '%s' '%s'", a, b);
}

Test(simrun, report_json_has_no_wall_clock_and_run_json_has_it, .timeout = 300)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	cr_assert_eq(simrun(out, SCENARIOS "l3-udp.yaml", NULL), 0);
	cr_assert_eq(shell_status("grep -q '\"wall_s\":0,' '%s/reports/l3-udp/report.json'", out),
	             0);
	cr_assert_eq(
	    shell_status("grep -q '\"peak_memory_bytes\":0,' '%s/reports/l3-udp/report.json'", out),
	    0);
	cr_assert_eq(
	    shell_status("grep -Eq '\"wall_s\":[0-9.]+,' '%s/reports/l3-udp/run.json' && grep -Eq "
	                 "'\"peak_memory_bytes\":[1-9][0-9]*' '%s/reports/l3-udp/run.json'",
	                 out, out),
	    0, "run.json lacks the wall-clock facts");
	cr_assert_eq(shell_status("grep -q '^Wall clock' '%s/reports/l3-udp/summary.md'", out), 0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, timeline_actions_are_events_in_time_order, .timeout = 300)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	cr_assert_eq(simrun(out, SCENARIOS "failover-crash.yaml", NULL), 0);
	cr_assert_eq(
	    shell_status("grep '\"type\":\"timeline\"' '%s/reports/failover-crash/events.jsonl' | "
	                 "cut -d, -f1-5 | tr '\\n' '|' | grep -qx "
	                 "'{\"t_us\":5000000,\"node\":\"simrun\",\"type\":\"timeline\","
	                 "\"action\":\"crash\",\"target\":\"web-us\"|"
	                 "{\"t_us\":10000000,\"node\":\"simrun\",\"type\":\"timeline\","
	                 "\"action\":\"restart\",\"target\":\"web-us\"|'",
	                 out),
	    0, "timeline events missing or out of order");
	/* the crash is followed by the daemon's own event, in file order */
	cr_assert_eq(
	    shell_status("grep -n 'node_crash\\|\"action\":\"crash\"' "
	                 "'%s/reports/failover-crash/events.jsonl' | head -2 | grep -c . | "
	                 "grep -qx 2",
	                 out),
	    0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, har1_failing_expectation_exits_1_and_prints_it, .timeout = 300)
{
	char out[64], path[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/tight.yaml", out);
	cr_assert_eq(shell_status("sed 's/p99: \"< 10ms\"/p99: \"< 1us\"/' '%s' >'%s'",
	                          SCENARIOS "l3-udp.yaml", path),
	             0);
	cr_assert_eq(shell_status("grep -q '< 1us' '%s'", path), 0);
	cr_assert_eq(simrun(out, path, NULL), 1);
	cr_assert_eq(
	    shell_status("grep -q '^FAILED .*tight.yaml:[0-9]*: echo p99 < 1us: expected echo p99 "
	                 "< [0-9.]*ms, measured [0-9.]*ms' '%s/stdout'",
	                 out),
	    0, "the failed expectation is not printed");
	cr_assert_eq(shell_status("grep -q '3 of 5 expectations hold' '%s/stdout'", out), 0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, har1_invalid_scenario_exits_2_with_the_position)
{
	char out[64], path[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/bad.yaml", out);
	write_file(path,
	           "name: bad\nregions: {r: {}}\nnodes: [{name: a, region: r}]\n"
	           "workloads: [{name: w, from: a, to: svc:web:80, kind: http, rates: 1/s}]\n");
	cr_assert_eq(simrun(out, path, NULL), 2);
	cr_assert_eq(shell_status("grep -q 'bad.yaml:[0-9]*:[0-9]*: ' '%s/stderr'", out), 0);
	cr_assert_eq(shell_status("test ! -e '%s/reports'", out), 0,
	             "an invalid file wrote outputs");
	shell_status("rm -rf '%s'", out);
}

/* simrun with `extra` on `scenario` exits 2 and says `msg` on stderr. */
static void refused_with(const char *out, const char *scenario, const char *extra, const char *msg)
{
	cr_expect_eq(simrun(out, scenario, extra), 2, "%s accepted", extra);
	cr_expect_eq(shell_status("grep -qF -- \"%s\" '%s/stderr'", msg, out), 0, "%s: no \"%s\"",
	             extra, msg);
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

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "--check --seed %s", cases[i].seed);
		refused_with(out, SCENARIOS "quickstart.yaml", cmd, cases[i].msg);
	}
	cr_assert_eq(simrun(out, SCENARIOS "quickstart.yaml", "--check --seed 4294967295"), 0);
	shell_status("rm -rf '%s'", out);
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

/* --duration D runs the first D of a scenario: judged from the run's
 * events and from Wireshark's reading of the captures, nothing happens
 * after D; the timeline entry before D is carried out, the one after is
 * not. Out-of-range values exit 2 with the reason. */
Test(simrun, har_1_duration_runs_only_the_first_part_of_the_scenario, .timeout = 300)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	/* failover-crash: 15 s, web-us crashes at 5 s and restarts at 10 s */
	int rc = simrun(out, SCENARIOS "failover-crash.yaml", "--duration 7s");
	cr_assert(rc == 0 || rc == 1, "exit %d", rc);
	const char *ev = "reports/failover-crash/events.jsonl";
	cr_expect_eq(shell_status("cd '%s' && test \"$(grep -c '\"action\":\"crash\"' %s)\" = 1 "
	                          "&& ! grep -q '\"action\":\"restart\"' %s",
	                          out, ev, ev),
	             0, "the crash at 5 s must be carried out, the restart at 10 s not");
	cr_expect_eq(
	    shell_status("cd '%s' && sed -n 's/^{\"t_us\":\\([0-9]*\\),.*/\\1/p' %s | "
	                 "sort -n | tail -1 | awk '{ exit !($1 > 6000000 && $1 <= 7000000) }'",
	                 out, ev),
	    0, "the last event is not in (6 s, 7 s]");
	if (has_capinfos())
		cr_expect_eq(
		    shell_status("cd '%s/pcaps/failover-crash' && for f in *.pcap; do "
		                 "capinfos -T -r -e -S \"$f\" | awk -F'\\t' "
		                 "'$2 != \"\" && $2 + 0 > 7.0 { bad = 1 } END { exit bad }' "
		                 "|| exit 1; done",
		                 out),
		    0, "a capture has a packet after 7 s");
	/* a world that needs daemons only for a crash after D keeps them */
	char bare[128];
	snprintf(bare, sizeof(bare), "%s/bare.yaml", out);
	write_file(bare, "name: bare\nduration: 10s\nregions: {a: {}}\n"
	                 "nodes: [{name: n, region: a, count: 2}]\n"
	                 "timeline: [{at: 6s, crash: n-0}, {at: 8s, restart: n-0}]\n");
	cr_assert_eq(simrun(out, bare, "--duration 3s --pcap none"), 0);
	cr_expect_eq(shell_status("test \"$(grep -c '\"type\":\"svcd_started\"' "
	                          "'%s/reports/bare/events.jsonl')\" = 2",
	                          out),
	             0, "the cut world lost the daemons the whole scenario has");
	/* out of range: 0, longer than the scenario, no unit */
	static const struct {
		const char *arg, *msg;
	} bad[] = {
	    {"0", "bad --duration '0': must be more than 0"},
	    {"16s", "--duration: must be more than 0 and at most the scenario's duration (15s)"},
	    {"7", "bad --duration '7'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char extra[64];
		snprintf(extra, sizeof(extra), "--duration %s", bad[i].arg);
		refused_with(out, SCENARIOS "failover-crash.yaml", extra, bad[i].msg);
	}
	shell_status("rm -rf '%s'", out);
}

Test(simrun, node_pair_partition_cuts_only_that_pair, .timeout = 300)
{
	char out[64], path[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	write_file(path, pair_scenario);
	int st = simrun(out, path, NULL);
	if (st != 0)
		shell_status("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0);
	cr_assert_eq(shell_status("grep -q '\"action\":\"partition\",\"target\":\"a,web\"' "
	                          "'%s/reports/pair/events.jsonl'",
	                          out),
	             0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, set_policy_reads_the_file_next_to_the_scenario, .timeout = 300)
{
	char out[64], path[128], policy[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
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
	int st = shell_status("cd / && '%s' --quiet --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'",
	                      SIMRUN_PATH, out, path, out, out);
	if (st != 0)
		shell_status("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0);
	cr_assert_eq(shell_status("grep '\"action\":\"admin\"' '%s/reports/pair/events.jsonl' | "
	                          "grep -q 'set-policy open.json (as alice@example.com)\"'",
	                          out),
	             0, "set-policy failed or left no timeline event");
	cr_assert_eq(
	    shell_status("grep -q '\"type\":\"policy_set\"' '%s/reports/pair/events.jsonl'", out),
	    0);
	shell_status("rm -rf '%s'", out);
}

/* EXP-6: a two-client tailnet with a member user (bob), whose timeline
 * the tests below write. */
static const char exp6_head[] =
    "name: exp6\n"
    "duration: 12s\n"
    "regions: {r: {}}\n"
    "users: {alice@example.com: {role: admin}, bob@example.com: {role: member}}\n"
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
    "  - {name: wb, from: b, to: svc:web:80, rate: 10/s, start: 1s, stop: 8s}\n"
    "expect:\n"
    "  - {workload: wb, success_rate: \"100%\"}\n"
    "timeline:\n";

/* Writes exp6_head + `timeline` to OUT/exp6.yaml and runs simrun on it
 * (stdout and stderr kept in OUT); returns its exit status. The first
 * timeline entry is on line 22. */
static int exp6_run(const char *out, const char *timeline)
{
	char path[128], text[sizeof(exp6_head) + 4096];

	snprintf(path, sizeof(path), "%s/exp6.yaml", out);
	cr_assert_lt(snprintf(text, sizeof(text), "%s%s", exp6_head, timeline), (int)sizeof(text));
	write_file(path, text);
	return shell_status("cd '%s' && '%s' --out . exp6.yaml >stdout 2>stderr", out, SIMRUN_PATH);
}

/* The run stopped at the failed entry: no report, and the entry's
 * timeline event says why. */
static void exp6_stopped(const char *out, const char *detail)
{
	cr_assert_eq(shell_status("test ! -e '%s/reports/exp6/report.json'", out), 0,
	             "a failed run wrote a report");
	cr_assert_eq(
	    shell_status("grep '\"type\":\"timeline\"' '%s/reports/exp6/events.jsonl' | tail -1 | "
	                 "grep -qF '%s'",
	                 out, detail),
	    0, "the last timeline event is not the failed one (%s)", detail);
	cr_assert_eq(
	    shell_status("grep -q 'run stopped at 2.000000s; events so far: ' '%s/stderr'", out),
	    0);
}

Test(simrun, exp6_serve_line_the_daemon_refuses_fails_the_run_naming_entry_time_and_reason,
     .timeout = 120)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	int st = exp6_run(out, "  - {at: 2s, node: web, run: serve drain svc:nothere}\n");
	cr_assert_eq(st, 2, "simrun exited %d, not 2 (a failed run)", st);
	cr_assert_eq(
	    shell_status("grep -qxF 'simrun: exp6.yaml:22: timeline entry at 2s (serve drain "
	                 "svc:nothere on web) could not be carried out: svc:nothere is not "
	                 "advertised by this machine' '%s/stderr'",
	                 out),
	    0, "no message naming the entry, its time and the daemon's reason");
	exp6_stopped(out, "serve drain svc:nothere; failed: svc:nothere is not advertised");
	shell_status("rm -rf '%s'", out);
}

Test(simrun, exp6_admin_action_control_refuses_fails_the_run_with_controls_reason, .timeout = 120)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	int st = exp6_run(out, "  - {at: 2s, admin: approve svc:web a, as: bob@example.com}\n");
	cr_assert_eq(st, 2, "simrun exited %d", st);
	cr_assert_eq(
	    shell_status("grep -qxF 'simrun: exp6.yaml:22: timeline entry at 2s (admin approve "
	                 "svc:web a as bob@example.com) could not be carried out: "
	                 "bob@example.com (member) may not approve hosts: only owner, admin or "
	                 "network-admin' '%s/stderr'",
	                 out),
	    0, "no message with control's reason");
	exp6_stopped(out, "failed: bob@example.com (member) may not approve hosts");
	/* with control down, an admin action cannot be carried out either */
	st = exp6_run(out, "  - {at: 1500ms, control: crash}\n"
	                   "  - {at: 2s, admin: approve svc:web a, as: alice@example.com}\n");
	cr_assert_eq(st, 2, "simrun exited %d", st);
	cr_assert_eq(
	    shell_status("grep -qF 'exp6.yaml:23: timeline entry at 2s (admin approve svc:web a "
	                 "as alice@example.com) could not be carried out: control is down' "
	                 "'%s/stderr'",
	                 out),
	    0);
	shell_status("rm -rf '%s'", out);
}

/* A workload that starts while control is down (a fault, as simrun explore
 * draws them) is no error of the run: its clients send to the service's
 * VIP and fail or succeed on their own merits (found by simrun explore,
 * chaos-mixed seed 5: the run stopped at the workload's start). */
Test(simrun, workload_starting_while_control_is_down_runs_and_recovers, .timeout = 120)
{
	char out[64], path[128], text[sizeof(exp6_head) + 512];
	const char *expect = strstr(exp6_head, "expect:\n");

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/down.yaml", out);
	/* Before its first map b fails; once control is back, all is ok. */
	snprintf(text, sizeof(text),
	         "%.*sexpect:\n  - {workload: wb, success_rate: \"100%%\", from: 5s}\n"
	         "timeline:\n  - {at: 5ms, control: crash}\n  - {at: 3s, control: restart}\n",
	         (int)(expect - exp6_head), exp6_head);
	write_file(path, text);
	int st =
	    shell_status("cd '%s' && '%s' --out . down.yaml >stdout 2>stderr", out, SIMRUN_PATH);
	cr_assert_eq(st, 0, "simrun exited %d", st);
	cr_assert_eq(shell_status("test -e '%s/reports/exp6/report.json'", out), 0);
	shell_status("rm -rf '%s'", out);
}

/* Every kind of action that cannot be carried out, each marked with the
 * reason it fails with: the run goes on and its expectation holds. */
Test(simrun, exp6_actions_marked_expect_error_fail_as_expected_and_the_run_goes_on, .timeout = 120)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	int st = exp6_run(
	    out,
	    "  - {at: 2s, node: web, run: serve drain svc:nothere, expect_error: not advertised}\n"
	    "  - {at: 2s, admin: approve svc:web a, as: bob@example.com,\n"
	    "     expect_error: may not approve}\n"
	    "  - {at: 3s, crash: a}\n"
	    "  - {at: 3500ms, crash: a, expect_error: a is already down}\n"
	    "  - {at: 4s, node: a, run: serve drain svc:web, expect_error: a is down}\n"
	    "  - {at: 4s, restart: a}\n"
	    "  - {at: 4s, restart: b, expect_error: b is not down}\n"
	    "  - {at: 5s, partition: [a, web]}\n"
	    "  - {at: 5s, partition: [web, a], expect_error: already cut (partition at line 30)}\n"
	    "  - {at: 6s, heal: [a, web]}\n"
	    "  - {at: 6s, heal: [web, a], expect_error: not cut}\n"
	    "  - {at: 9s, control: restart, expect_error: control is not down}\n"
	    "  - {at: 9s, control: crash}\n"
	    "  - {at: 9s, control: crash, expect_error: control is already down}\n"
	    "  - {at: 10s, admin: approve svc:web a, as: alice@example.com,\n"
	    "     expect_error: control is down}\n"
	    "  - {at: 11s, control: restart}\n");
	if (st != 0)
		shell_status("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0, "simrun exited %d", st);
	cr_assert_eq(shell_status("grep -c '\"type\":\"timeline\".*failed as expected: ' "
	                          "'%s/reports/exp6/events.jsonl' | grep -qx 10",
	                          out),
	             0, "not 10 timeline events saying an action failed as expected");
	cr_assert_eq(
	    shell_status("grep -qF 'timeline: 10 actions failed as their expect_error said' "
	                 "'%s/stdout'",
	                 out),
	    0);
	cr_assert_eq(
	    shell_status("grep -qF 'note: exp6.yaml:26: at 3500ms (crash a) failed as expected: "
	                 "a is already down' '%s/stderr'",
	                 out),
	    0);
	/* the actions not marked took effect: a was down from 3 s to 4 s */
	cr_assert_eq(
	    shell_status("grep -q '\"type\":\"node_crash\",\"node\":\"a\"' "
	                 "'%s/reports/exp6/events.jsonl' && grep -c '\"type\":\"node_restart\"' "
	                 "'%s/reports/exp6/events.jsonl' | grep -qx 1",
	                 out, out),
	    0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, exp6_marked_action_that_succeeds_or_fails_otherwise_fails_the_run, .timeout = 120)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	int st = exp6_run(out, "  - {at: 2s, crash: a, expect_error: already down}\n");
	cr_assert_eq(st, 2, "simrun exited %d", st);
	cr_assert_eq(
	    shell_status("grep -qxF 'simrun: exp6.yaml:22: timeline entry at 2s (crash a) "
	                 "succeeded, but expect_error says it fails with \"already down\"' "
	                 "'%s/stderr'",
	                 out),
	    0);
	exp6_stopped(out, "\"detail\":\"succeeded, expected to fail\"");
	st = exp6_run(out, "  - {at: 2s, node: web, run: serve drain svc:nothere, "
	                   "expect_error: not allowed}\n");
	cr_assert_eq(st, 2, "simrun exited %d", st);
	cr_assert_eq(
	    shell_status("grep -qxF 'simrun: exp6.yaml:22: timeline entry at 2s (serve drain "
	                 "svc:nothere on web) failed, but not with expect_error'\"'\"'s \"not "
	                 "allowed\": svc:nothere is not advertised by this machine' '%s/stderr'",
	                 out),
	    0);
	exp6_stopped(out, "failed: svc:nothere is not advertised");
	shell_status("rm -rf '%s'", out);
}

/* tshark reads all of DIR/NAME (exit 0, nothing on stderr but its
 * warning about root), as many packets as capinfos counted, each on the
 * link type `link` ("ppp" underlay, "raw" tailnet) and carrying IP. Its
 * packets, one line each ("protocols|tcp.srcport|tcp.dstport|udp.srcport|
 * udp.dstport"), go to DIR/NAME.txt for pcap_holds. */
static void tshark_reads(const char *dir, const char *name, const char *link)
{
	char t[512];

	snprintf(t, sizeof(t), "%s/%s", dir, name);
	int st =
	    shell_status("tshark -n -r '%s' -T fields -E separator='|' -e frame.protocols "
	                 "-e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport >'%s.txt' "
	                 "2>'%s.err'",
	                 t, t, t);
	bool quiet = shell_status("grep -v '^Running as user' '%s.err' | grep -q .", t) != 0;
	if (st != 0 || !quiet)
		shell_status("cat '%s.err' >&2", t);
	cr_assert_eq(st, 0, "tshark could not read %s (exit %d)", name, st);
	cr_assert(quiet, "tshark complained about %s (above)", name);
	cr_assert_eq(
	    shell_status(
	        "test \"$(wc -l <'%s.txt')\" -eq \"$(capinfos -T -r -c -M '%s' | cut -f2)\"", t, t),
	    0, "tshark read fewer packets of %s than it holds", name);
	cr_assert_eq(shell_status("grep -Evq '^%s:ip:' '%s.txt'", link, t), 1,
	             "%s: a packet that is not IP on link type %s", name, link);
}

/* At least `min` packets tshark_reads listed for DIR/NAME match the
 * extended regex `what`. */
static void pcap_holds(const char *dir, const char *name, const char *what, int min)
{
	cr_assert_eq(
	    shell_status("test \"$(grep -Ec '%s' '%s/%s.txt')\" -ge %d", what, dir, name, min), 0,
	    "%s: fewer than %d packets match %s", name, min, what);
}

/* HAR-3: every pcap a run writes (underlay and tailnet of each node, the
 * capture of a restarted daemon's second life, control's) opens in tshark
 * to its last packet, with its link type, and holds the traffic the run
 * made: HTTP to the service port on the tailnet of both clients and of the
 * host in each life, WireGuard-port datagrams and map-session TCP on every
 * node's underlay, map sessions on control's. */
Test(simrun_scenarios, har3_every_pcap_opens_in_tshark_with_its_link_type_and_its_traffic,
     .timeout = 300)
{
	static const char *const nodes[] = {"web", "a", "b"};
	static const char *const tailnets[] = {"web-tailnet.pcap", "web-tailnet-restart-1.pcap",
	                                       "a-tailnet.pcap", "b-tailnet.pcap"};
	char out[64], path[128], dir[128], name[64];
	char text[sizeof(pair_scenario) + 256];

	if (!has_tshark() || !has_capinfos())
		prereq_missing("tshark and capinfos are not installed (scripts/install-deps.sh)");
	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	snprintf(text, sizeof(text), "%s", pair_scenario);
	char *tl = strstr(text, "timeline:\n");
	cr_assert_not_null(tl);
	snprintf(tl, sizeof(text) - (size_t)(tl - text),
	         "timeline:\n  - {at: 3s, crash: web}\n  - {at: 4s, restart: web}\n");
	write_file(path, text);
	int st = simrun(out, path, NULL);
	if (st != 0)
		shell_status("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0);
	check_pcaps(out, path); /* exactly these 8 files, link types, whole */
	snprintf(dir, sizeof(dir), "%s/pcaps/pair", out);
	for (size_t i = 0; i < sizeof(tailnets) / sizeof(tailnets[0]); i++) {
		tshark_reads(dir, tailnets[i], "raw");
		pcap_holds(dir, tailnets[i], "^raw:ip:tcp.*[|]80([|]|$)", 20);
	}
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(name, sizeof(name), "%s-underlay.pcap", nodes[i]);
		tshark_reads(dir, name, "ppp");
		pcap_holds(dir, name, "^ppp:ip:udp.*[|]41641([|]|$)", 20);
		pcap_holds(dir, name, "^ppp:ip:tcp", 1);
	}
	tshark_reads(dir, "control-underlay.pcap", "ppp");
	pcap_holds(dir, "control-underlay.pcap", "^ppp:ip:tcp", 3);
	/* every file the run wrote was read: 4 tailnet, 3 node underlay, control */
	cr_assert_eq(shell_status("test \"$(ls '%s'/*.pcap | wc -l)\" -eq 8", dir), 0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, pcap_glob_selects_the_nodes_captured, .timeout = 300)
{
	char out[64], path[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	write_file(path, pair_scenario);
	cr_assert_eq(simrun(out, path, "--pcap 'a'"), 0);
	cr_assert_eq(shell_status("cd '%s/pcaps/pair' && test \"$(ls | tr '\\n' ' ')\" = "
	                          "'a-tailnet.pcap a-underlay.pcap '",
	                          out),
	             0, "--pcap a wrote other files");
	cr_assert_eq(simrun(out, path, "--pcap none"), 0);
	cr_assert_neq(shell_status("ls '%s/pcaps/pair/'*.pcap >/dev/null 2>&1", out), 0,
	              "--pcap none left pcaps behind");
	shell_status("rm -rf '%s'", out);
}

/* REL-3 in a scenario: control's disk fills, an admin write is refused
 * and does not come back; a write made once the disk is healthy survives
 * a power loss in the middle of the next state write. */
static const char disk_scenario[] =
    "name: disk\n"
    "duration: 6s\n"
    "regions: {r: {}}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com], tag:svc: [alice@example.com]}\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, region: r, tags: [tag:web]}\n"
    "timeline:\n"
    "  - {at: 1s, control: disk-full}\n"
    "  - {at: 1500ms, admin: define svc:refused --ports=tcp:81 --tags=tag:svc,\n"
    "     as: alice@example.com, expect_error: No space left on device}\n"
    "  - {at: 2s, control: disk-ok}\n"
    "  - {at: 2500ms, admin: define svc:kept --ports=tcp:82 --tags=tag:svc,\n"
    "     as: alice@example.com}\n"
    "  - {at: 3s, control: torn-write}\n"
    "  - {at: 4s, control: restart}\n";

Test(simrun, rel3_control_disk_faults_in_a_timeline_lose_only_what_was_refused, .timeout = 300)
{
	char out[64], path[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/disk.yaml", out);
	write_file(path, disk_scenario);
	int st = simrun(out, path, "--pcap none --keep-state");
	if (st != 0)
		shell_status("cat '%s/stdout' '%s/stderr' >&2", out, out);
	cr_assert_eq(st, 0);
	const char *ev = "reports/disk/events.jsonl";
	cr_assert_eq(
	    shell_status("grep -q '\"type\":\"storage_fault\".*\"fault\":\"disk-full\"' '%s/%s'",
	                 out, ev),
	    0);
	cr_assert_eq(
	    shell_status("grep 'define svc:refused' '%s/%s' | grep -q 'No space left on device'",
	                 out, ev),
	    0, "the refused write is not reported as refused");
	cr_assert_eq(shell_status("grep -q '\"fault\":\"torn-write\"' '%s/%s'", out, ev), 0);
	/* After the restart control holds svc:web and svc:kept only. */
	cr_assert_eq(
	    shell_status(
	        "grep '\"type\":\"control_ready\"' '%s/%s' | tail -1 | grep -q '\"services\":2'",
	        out, ev),
	    0);
	const char *state = "reports/disk/control-state.json";
	cr_assert_eq(shell_status("grep -q 'svc:kept' '%s/%s'", out, state), 0);
	cr_assert_neq(shell_status("grep -q 'svc:refused' '%s/%s'", out, state), 0);
	cr_assert_eq(shell_status("test \"$(stat -c %%a '%s/%s')\" = 600", out, state), 0);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, control_state_file_is_removed_unless_kept, .timeout = 300)
{
	char out[64], path[128];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_simrun"));
	snprintf(path, sizeof(path), "%s/pair.yaml", out);
	write_file(path, pair_scenario);
	cr_assert_eq(simrun(out, path, "--pcap none"), 0);
	cr_assert_eq(shell_status("test ! -e '%s/reports/pair/control-state.json'", out), 0);
	cr_assert_eq(simrun(out, path, "--pcap none --keep-state"), 0);
	cr_assert_eq(shell_status("test -s '%s/reports/pair/control-state.json'", out), 0);
	/* a kept state file does not leak into the next run */
	char a[160];
	snprintf(a, sizeof(a), "%s/first.jsonl", out);
	cr_assert_eq(shell_status("cp '%s/reports/pair/events.jsonl' '%s'", out, a), 0);
	cr_assert_eq(simrun(out, path, "--pcap none"), 0);
	cr_assert_eq(shell_status("cmp -s '%s/reports/pair/events.jsonl' '%s'", out, a), 0);
	shell_status("rm -rf '%s'", out);
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

	cr_assert(shell_mkdtemp(work, sizeof(work), "test_simrun"));
	snprintf(mnt, sizeof(mnt), "%s/mnt", work);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	/* A stale report from an earlier run, to be removed or replaced. */
	shell_status(
	    "mkdir -p '%s/copy/reports/small' && echo stale > '%s/copy/reports/small/report.json'",
	    work, work);
	int rc = shell_status("unshare -m sh -c \"mount -t tmpfs -o size=%s tmpfs '%s' && "
	                      "cp -a '%s/copy/reports' '%s/' && "
	                      "'%s' --quiet %s --out '%s' '%s/s.yaml' >'%s/stdout' 2>'%s/stderr'; "
	                      "echo \\$? > '%s/rc'; rm -rf '%s/copy'; cp -a '%s' '%s/copy'\"",
	                      size, mnt, work, mnt, SIMRUN_PATH, extra, mnt, ref, work, work, work,
	                      work, mnt, work);
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
		cr_assert_eq(shell_status("%s", ent), 0);
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
	shell_status("rm -rf '%s'", work);
	return named;
}

Test(simrun, har_1_a_full_disk_names_every_output_it_could_not_write_and_exits_2, .timeout = 120)
{
	static const char *const both[] = {"reports/small", "pcaps/small"};
	char ref[64], path[128];
	size_t len;

	if (geteuid() != 0)
		prereq_missing("needs root to mount a tmpfs in a private mount namespace");
	if (shell_status("unshare -m true 2>/dev/null") != 0)
		prereq_missing("no private mount namespace here");
	cr_assert(shell_mkdtemp(ref, sizeof(ref), "test_simrun"));
	snprintf(path, sizeof(path), "%s/s.yaml", ref);
	write_file(path, small_scenario);
	cr_assert_eq(
	    shell_status("'%s' --quiet --keep-state --pcap 'web' --out '%s' '%s' >/dev/null 2>&1",
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
	shell_status("rm -rf '%s'", ref);
}

/* A host's serve path handlers read its own in-memory tree (the
 * scenario's `files`), never the host machine's: the client's own
 * request_done events show the status and body bytes it received. */
Test(simrun, served_files_come_from_the_nodes_tree_and_a_seed_repeats_the_events, .timeout = 300)
{
	static const char scenario[] = SOURCE_DIR "/tests/sim/scenario/good/serve-files.yaml";
	char a[64], b[64], ev[128];

	cr_assert(shell_mkdtemp(a, sizeof(a), "test_simrun"));
	cr_assert(shell_mkdtemp(b, sizeof(b), "test_simrun"));
	cr_assert_eq(simrun(a, scenario, NULL), 0);
	snprintf(ev, sizeof(ev), "%s/reports/serve-files/events.jsonl", a);
	/* Each workload: enough requests, and every one got what it should. */
	static const struct {
		const char *workload, *answer;
		int at_least;
	} want[] = {
	    {"index", "\"status\":200,\"bytes\":42", 10},  /* index.html's text */
	    {"big", "\"status\":200,\"bytes\":300000", 5}, /* {size: 300KB} */
	    {"host", "\"status\":404,\"bytes\":", 3},      /* /etc is not in the tree */
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_eq(
		    shell_status("test $(grep -c '\"type\":\"request_done\",\"workload\":\"%s\"' "
		                 "'%s') -ge %d",
		                 want[i].workload, ev, want[i].at_least),
		    0, "%s: too few requests", want[i].workload);
		cr_assert_eq(
		    shell_status("! grep '\"type\":\"request_done\",\"workload\":\"%s\"' '%s' | "
		                 "grep -v '%s'",
		                 want[i].workload, ev, want[i].answer),
		    0, "%s: a request got something else than %s", want[i].workload,
		    want[i].answer);
	}
	cr_assert_eq(simrun(b, scenario, NULL), 0);
	cr_assert_eq(shell_status("cmp -s '%s' '%s/reports/serve-files/events.jsonl'", ev, b), 0,
	             "events.jsonl differ");
	shell_status("rm -rf '%s' '%s'", a, b);
}
