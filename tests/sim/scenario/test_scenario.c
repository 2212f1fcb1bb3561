/* The scenario loader (sim/scenario/scenario.c) and the simrun command end to end.
 * Bad-scenario fixtures live in tests/sim/scenario/bad/; each test names the exact
 * diagnostic a user sees. */
#include "sim/scenario/scenario.h"
#include "tests/support/fault_words.h"
#include "tests/support/prereq.h"
#include "tests/support/shell.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined by the build"
#endif
#ifndef SIMRUN_PATH
#error "SIMRUN_PATH must be defined by the build"
#endif

#define BAD_DIR    SOURCE_DIR "/tests/sim/scenario/bad/"
#define QUICKSTART SOURCE_DIR "/scenarios/quickstart.yaml"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	char *buf = malloc(1 << 20);
	cr_assert_not_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Loads text under `filename`; returns the error code, diags filled. */
static int load(const char *text, const char *filename, struct scenario **sc,
                struct scenario_diags *diags)
{
	return scenario_load_text(text, strlen(text), filename, sc, diags);
}

static bool has_diag(const struct scenario_diags *d, const char *text)
{
	for (size_t i = 0; i < d->count; i++)
		if (!strcmp(d->items[i].text, text))
			return true;
	return false;
}

static void dump(const struct scenario_diags *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "  got: %s\n", d->items[i].text);
}

/* Loads tests/sim/scenario/bad/<fixture> (named by its bare file name in messages)
 * and expects exactly `expected` among the errors. */
static void expect_error(const char *fixture, const char *expected)
{
	char path[512];
	size_t len;
	struct scenario *sc = NULL;
	struct scenario_diags d;

	snprintf(path, sizeof(path), BAD_DIR "%s", fixture);
	char *text = read_all(path, &len);
	int err = scenario_load_text(text, len, fixture, &sc, &d);
	if (!has_diag(&d, expected))
		dump(&d);
	cr_assert_eq(err, -EINVAL, "%s loaded (err %d)", fixture, err);
	cr_assert_null(sc);
	cr_assert(d.errors >= 1);
	cr_assert(has_diag(&d, expected), "%s: expected diagnostic not found: %s", fixture,
	          expected);
	free(text);
}

/* ---- each kind of mistake, with its exact message ---- */

Test(scenario_errors, unknown_key_suggests_the_near_miss)
{
	expect_error("unknown-key.yaml",
	             "unknown-key.yaml:2:1: unknown key 'duraton' (did you mean 'duration'?)");
}

Test(scenario_errors, unknown_key_in_a_link_names_the_section)
{
	expect_error("unknown-link-key.yaml", "unknown-link-key.yaml:6:5: unknown key 'bandwith' "
	                                      "in link (did you mean 'bandwidth'?)");
}

Test(scenario_errors, wrong_type_names_what_was_expected_and_found)
{
	expect_error("wrong-type.yaml",
	             "wrong-type.yaml:2:10: expected a mapping for 'regions', got a sequence");
}

Test(scenario_errors, bad_unit_lists_the_valid_units)
{
	expect_error("bad-unit.yaml", "bad-unit.yaml:2:11: duration: bad unit 'sec' in duration "
	                              "'10sec' (expected us, ms, s or m)");
}

Test(scenario_errors, bad_unit_case_suggests_the_right_spelling)
{
	expect_error("bandwidth-case.yaml",
	             "bandwidth-case.yaml:3:35: bandwidth: bad unit 'gbps' in bandwidth '1gbps' "
	             "(expected bps, Kbps, Mbps or Gbps; did you mean 'Gbps'?)");
}

Test(scenario_errors, missing_unit_is_refused)
{
	expect_error("missing-unit.yaml", "missing-unit.yaml:5:14: latency: missing unit in "
	                                  "duration '40' (expected us, ms, s or m)");
}

Test(scenario_errors, negative_duration_is_refused)
{
	expect_error("negative.yaml", "negative.yaml:4:12: latency: negative duration '-5ms'");
}

Test(scenario_errors, malformed_number_is_refused)
{
	expect_error("bad-number.yaml",
	             "bad-number.yaml:3:27: rate: expected a rate like 5/s, got 'fast'");
}

Test(scenario_errors, count_below_one_is_out_of_range)
{
	expect_error("count-zero.yaml",
	             "count-zero.yaml:4:44: count must be between 1 and 100000, got 0");
}

Test(scenario_errors, count_above_the_limit_is_out_of_range)
{
	expect_error("count-too-big.yaml",
	             "count-too-big.yaml:6:12: count must be between 1 and 100000, got 200000");
}

Test(scenario_errors, too_many_nodes_in_total)
{
	expect_error("too-many-nodes.yaml",
	             "too-many-nodes.yaml:3:1: too many nodes: 120000 in total after count (max "
	             "100000)");
}

Test(scenario_errors, unknown_region_in_a_node_suggests_the_near_miss)
{
	expect_error(
	    "unknown-region.yaml",
	    "unknown-region.yaml:7:13: unknown region 'us-eats' (did you mean 'us-east'?)");
}

Test(scenario_errors, unknown_region_in_a_link_without_near_miss)
{
	expect_error("unknown-link-region.yaml",
	             "unknown-link-region.yaml:4:25: unknown region 'mars'");
}

Test(scenario_errors, duplicate_node_name_points_at_the_first)
{
	expect_error("duplicate-node.yaml",
	             "duplicate-node.yaml:6:12: duplicate node name 'web' (first at line 4)");
}

Test(scenario_errors, node_name_colliding_with_an_expanded_count)
{
	expect_error("duplicate-expanded-node.yaml",
	             "duplicate-expanded-node.yaml:5:12: duplicate node name 'client-2' (node "
	             "'client' with count 3 at line 4 makes it too)");
}

Test(scenario_errors, duplicate_region_points_at_the_first)
{
	expect_error("duplicate-region.yaml",
	             "duplicate-region.yaml:5:3: duplicate region 'us-east' (first at line 3)");
}

Test(scenario_errors, duplicate_key_points_at_the_first)
{
	expect_error("duplicate-key.yaml",
	             "duplicate-key.yaml:4:1: duplicate key 'seed' (first at line 2)");
}

Test(scenario_errors, link_to_itself_is_refused)
{
	expect_error("link-to-itself.yaml",
	             "link-to-itself.yaml:4:25: link from region 'us-east' to itself");
}

Test(scenario_errors, second_link_between_the_same_regions_is_refused)
{
	expect_error("duplicate-link.yaml", "duplicate-link.yaml:5:15: duplicate link between "
	                                    "'eu-west' and 'us-east' (first at line 4)");
}

Test(scenario_errors, between_needs_exactly_two_regions)
{
	expect_error("between-three.yaml",
	             "between-three.yaml:4:15: between must name exactly two regions, got 3");
}

Test(scenario_errors, missing_required_key)
{
	expect_error("missing-nodes.yaml", "missing-nodes.yaml:1:1: missing required key 'nodes'");
}

Test(scenario_errors, yaml_syntax_error_uses_the_parser_mark)
{
	expect_error("syntax-error.yaml",
	             "syntax-error.yaml:3:1: YAML syntax error: did not find expected ',' or '}' "
	             "(while parsing a flow mapping at line 2 column 10)");
}

Test(scenario_errors, empty_file)
{
	expect_error("empty.yaml", "empty.yaml:1:1: empty scenario file (expected a mapping with "
	                           "name, regions and nodes)");
}

Test(scenario_errors, loss_above_100_percent)
{
	expect_error("loss-over-100.yaml", "loss-over-100.yaml:4:56: loss 150% is above 100%");
}

Test(scenario_errors, name_unsafe_for_a_folder)
{
	expect_error("unsafe-name.yaml",
	             "unsafe-name.yaml:1:7: name '../etc/passwd' has characters unsafe for a "
	             "folder name (use letters, digits, '-', '_' and '.', starting with a letter "
	             "or digit)");
}

Test(scenario_errors, name_too_long)
{
	expect_error(
	    "name-too-long.yaml",
	    "name-too-long.yaml:4:12: node name 'a-very-long-node-name-that-goes-on-and-o...' "
	    "is longer than 63 characters");
}

Test(scenario_errors, integer_expected)
{
	expect_error("not-integer.yaml",
	             "not-integer.yaml:2:7: expected an integer for 'seed', got 'forty-two'");
}

Test(scenario_errors, workload_stop_after_the_end_of_the_run)
{
	expect_error("stop-after-duration.yaml", "stop-after-duration.yaml:4:38: stop 20s is "
	                                         "after the end of the run (duration 10s)");
}

Test(scenario_errors, unimplemented_key_must_still_be_well_formed)
{
	expect_error("unimplemented-wrong-type.yaml",
	             "unimplemented-wrong-type.yaml:5:11: expected a sequence for 'timeline', got "
	             "'5'");
}

Test(scenario_errors, top_level_must_be_a_mapping)
{
	expect_error(
	    "top-not-mapping.yaml",
	    "top-not-mapping.yaml:1:1: expected a mapping at the top level, got a sequence");
}

Test(scenario_errors, node_entry_must_be_a_mapping)
{
	expect_error("node-not-mapping.yaml",
	             "node-not-mapping.yaml:4:5: expected a mapping for a node, got 'web'");
}

Test(scenario_errors, tags_must_be_scalars)
{
	expect_error("tags-not-scalars.yaml",
	             "tags-not-scalars.yaml:4:39: expected a scalar in 'tags', got a mapping");
}

Test(scenario_errors, only_one_document)
{
	expect_error(
	    "two-documents.yaml",
	    "two-documents.yaml:6:1: only one YAML document is allowed in a scenario file");
}

Test(scenario_errors, unknown_user_in_a_node_suggests_the_near_miss)
{
	expect_error("unknown-user-in-node.yaml",
	             "unknown-user-in-node.yaml:15:43: unknown user 'bobb@example.com' (did you "
	             "mean 'bob@example.com'?)");
}

Test(scenario_errors, unknown_service_in_a_workload_target)
{
	expect_error("unknown-service-in-workload.yaml",
	             "unknown-service-in-workload.yaml:17:40: unknown service 'svc:wbe' (did you "
	             "mean 'svc:web'?)");
}

Test(scenario_errors, workload_glob_matching_no_node)
{
	expect_error("glob-matches-nothing.yaml",
	             "glob-matches-nothing.yaml:17:26: from 'clinet-*' matches no node (did you "
	             "mean 'client-*'?)");
}

Test(scenario_errors, cfg1_bad_serve_line_reports_the_serve_grammar_error)
{
	expect_error("bad-serve-line.yaml",
	             "bad-serve-line.yaml:18:9: bad serve command: invalid value \"44x\" for "
	             "--https: want a port number (1-65535): not a decimal integer");
}

Test(scenario_errors, bad_admin_verb_suggests_the_near_miss)
{
	expect_error(
	    "bad-admin-verb.yaml",
	    "bad-admin-verb.yaml:16:21: unknown admin command 'aprove' (expected define, "
	    "delete, approve, reject, revoke, set-policy or set-tags; did you mean 'approve'?)");
}

Test(scenario_errors, timeline_entry_at_or_after_the_end_of_the_run)
{
	expect_error("timeline-after-duration.yaml",
	             "timeline-after-duration.yaml:16:10: at 70s is not before the end of the run "
	             "(duration 60s)");
}

Test(scenario_errors, crash_of_an_unknown_node)
{
	expect_error(
	    "crash-unknown-node.yaml",
	    "crash-unknown-node.yaml:16:22: crash: unknown node 'web-su' (did you mean 'web-us'?)");
}

Test(scenario_errors, expectation_naming_an_unknown_workload)
{
	expect_error("expect-unknown-workload.yaml", "expect-unknown-workload.yaml:19:16: unknown "
	                                             "workload 'brwose' (did you mean 'browse'?)");
}

Test(scenario_errors, bad_comparison_operator)
{
	expect_error("bad-comparison.yaml",
	             "bad-comparison.yaml:19:29: bad comparison '=> 400ms' for 'p99' (expected ==, "
	             "<, <=, > or >= and a duration, like \"< 400ms\")");
}

Test(scenario_errors, sta1_bad_state_name_suggests_the_near_miss)
{
	expect_error("bad-state.yaml",
	             "bad-state.yaml:16:31: unknown state 'Conected' (expected Pending approval, "
	             "Needs configuration, Connected, Offline, Pre-approved, Draining or Rejected; "
	             "did you mean 'Connected'?)");
}

Test(scenario_errors, acl_bad_policy_error_points_at_the_yaml_node)
{
	expect_error("bad-policy.yaml", "bad-policy.yaml:10:22: policy: grants[0].dst[1]: tag "
	                                "\"tag:prod\" is not defined in tagOwners");
}

Test(scenario_errors, svc1_bad_service_name_names_the_rule)
{
	expect_error("bad-service-name.yaml",
	             "bad-service-name.yaml:13:12: service name 'svc:web_app' is not valid (SVC-1: "
	             "the label may hold only letters, digits and '-')");
}

Test(scenario_errors, svc4_udp_port_in_a_service_is_refused)
{
	expect_error("udp-port-in-service.yaml",
	             "udp-port-in-service.yaml:13:37: bad port 'udp:53' in service: services carry "
	             "TCP only (SVC-4)");
}

Test(scenario_errors, unknown_backend_kind_suggests_the_near_miss)
{
	expect_error("backend-kind-unknown.yaml",
	             "backend-kind-unknown.yaml:17:47: unknown backend kind 'htp' (expected http, "
	             "tcp-echo, tcp-sink or udp-echo; did you mean 'http'?)");
}

Test(scenario_errors, unknown_workload_kind_suggests_the_near_miss)
{
	expect_error(
	    "workload-kind-unknown.yaml",
	    "workload-kind-unknown.yaml:17:59: unknown workload kind 'tcp-steam' "
	    "(expected http, tcp-echo, tcp-stream or udp-echo; did you mean 'tcp-stream'?)");
}

Test(scenario_errors, near_miss_key_in_a_workload)
{
	expect_error("near-miss-key-in-workload.yaml",
	             "near-miss-key-in-workload.yaml:20:5: unknown key 'rte' in workload (did you "
	             "mean 'rate'?)");
}

Test(scenario_errors, tag_not_owned_in_policy_suggests_the_near_miss)
{
	expect_error("tag-not-owned.yaml", "tag-not-owned.yaml:14:44: tag 'tag:wbe' is not owned "
	                                   "in policy tagOwners (did you mean 'tag:web'?)");
}

Test(scenario_errors, timeline_entry_with_two_actions)
{
	expect_error("two-actions.yaml", "two-actions.yaml:16:29: timeline entry has two actions, "
	                                 "'crash' and 'restart' (write one entry for each)");
}

Test(scenario_errors, admin_as_an_unknown_user)
{
	expect_error("admin-unknown-user.yaml",
	             "admin-unknown-user.yaml:16:49: unknown user 'carol@example.com'");
}

Test(scenario_errors, expectation_key_that_does_not_apply)
{
	expect_error(
	    "expect-key-does-not-apply.yaml",
	    "expect-key-does-not-apply.yaml:16:51: 'p99' does not apply to a state expectation");
}

Test(scenario_errors, unknown_role_suggests_the_near_miss)
{
	expect_error("unknown-role.yaml",
	             "unknown-role.yaml:6:29: unknown role 'admn' (expected owner, admin, "
	             "network-admin or member; did you mean 'admin'?)");
}

Test(scenario_errors, partition_of_a_region_and_a_node)
{
	expect_error("partition-region-and-node.yaml",
	             "partition-region-and-node.yaml:16:36: partition: 'us-east' is a region and "
	             "'web-us' a node; name two regions or two nodes");
}

Test(scenario_errors, svc3_target_outside_the_tailnet)
{
	expect_error(
	    "target-outside-tailnet.yaml",
	    "target-outside-tailnet.yaml:18:38: to 'web.other.net:443' is not a name in the "
	    "tailnet (expected <name>.example.ts.net:port, svc:NAME:port or a VIP address)");
}

Test(scenario_errors, failover_time_needs_after)
{
	expect_error("failover-without-after.yaml",
	             "failover-without-after.yaml:19:24: failover_time needs 'after' (the time of "
	             "the fault)");
}

Test(scenario_errors, backend_must_listen_on_loopback)
{
	expect_error("backend-listen-not-loopback.yaml",
	             "backend-listen-not-loopback.yaml:16:25: listen '0.0.0.0:8080' must be "
	             "127.0.0.1:PORT (port 1..65535)");
}

Test(scenario_errors, workload_key_for_another_kind)
{
	expect_error("key-not-for-this-kind.yaml",
	             "key-not-for-this-kind.yaml:17:78: 'path' applies to http workloads only");
}

Test(scenario_errors, udp_echo_workload_has_no_connection_mode)
{
	expect_error("udp-echo-connection.yaml",
	             "udp-echo-connection.yaml:17:64: 'connection' applies to http and tcp-echo "
	             "workloads only");
}

Test(scenario_errors, udp_echo_workload_has_no_response_size)
{
	expect_error("udp-echo-response.yaml",
	             "udp-echo-response.yaml:17:64: 'response' applies to http workloads only");
}

Test(scenario_errors, udp_echo_request_above_one_datagram)
{
	expect_error("udp-echo-request-too-large.yaml",
	             "udp-echo-request-too-large.yaml:17:73: request 2KB does not fit a "
	             "udp-echo datagram (8B..1200B, or 0 for 64B)");
}

Test(scenario_good, udp_echo_workload_loads)
{
	const char *text =
	    "name: t\nduration: 10s\nregions: {us-east: {}}\n"
	    "users: {alice@example.com: {role: admin}}\n"
	    "policy: {tagOwners: {tag:dns: [alice@example.com]}}\n"
	    "services: [{name: svc:dns, ports: [do-not-validate], tags: [tag:dns]}]\n"
	    "nodes:\n  - {name: dns, region: us-east, tags: [tag:dns]}\n"
	    "  - {name: client, region: us-east}\n"
	    "workloads:\n  - {name: q, from: client, to: svc:dns:53, kind: udp-echo, "
	    "rate: 5/s, request: 1200B}\n";
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load(text, "udp.yaml", &sc, &d);

	if (err)
		dump(&d);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->n_workloads, 1);
	cr_assert_eq(sc->workloads[0].kind, SCENARIO_WORKLOAD_UDP_ECHO);
	cr_assert_eq(sc->workloads[0].request_bytes, 1200);
	cr_assert_eq(sc->workloads[0].port, 53);
	scenario_free(sc);
}

Test(scenario_errors, timeline_run_needs_a_node)
{
	expect_error("run-without-node.yaml",
	             "run-without-node.yaml:16:14: 'run' needs 'node' (the node that runs it)");
}

Test(scenario_errors, restart_of_a_node_that_is_not_down)
{
	expect_error("restart-before-crash.yaml",
	             "restart-before-crash.yaml:16:15: restart of 'web-us' at 10s, which is not "
	             "down (no crash before it)");
}

Test(scenario_errors, heal_of_what_is_not_cut)
{
	expect_error("heal-without-partition.yaml",
	             "heal-without-partition.yaml:18:15: heal at 36s of what is not cut (no "
	             "partition of the same two before it)");
}

Test(scenario_errors, timeline_link_change_needs_an_existing_link)
{
	expect_error("link-change-without-link.yaml",
	             "link-change-without-link.yaml:10:31: no link between 'eu-west' and "
	             "'ap-south' (a timeline link changes a link given in links)");
}

Test(scenario_errors, serve_command_on_a_crashed_node)
{
	expect_error("serve-on-crashed-node.yaml",
	             "serve-on-crashed-node.yaml:6:23: 'a' is down at 3s (crashed at line 5): its "
	             "serve command cannot run");
}

/* expect_error (EXP-6) needs the text the reason contains; an entry that
 * carries it is not refused for the timeline's order (the run checks that
 * it fails) and changes no state: the crash at 20s still hits a running
 * node. */
Test(scenario_errors, expect_error_needs_its_text_and_lifts_the_order_check)
{
	static const char head[] = "name: t\nduration: 60s\nregions: {r: {}}\n"
	                           "nodes: [{name: a, region: r}]\ntimeline:\n";
	char text[1024], long_text[SCENARIO_EXPECT_ERROR_MAX + 2];
	struct scenario *sc;
	struct scenario_diags d;

	snprintf(text, sizeof(text), "%s  - {at: 10s, restart: a, expect_error: \"\"}\n", head);
	cr_assert_eq(load(text, "e.yaml", &sc, &d), -EINVAL);
	cr_assert(has_diag(&d, "e.yaml:6:41: expect_error needs the text the failure's reason "
	                       "contains (1 to 256 bytes)"));
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	snprintf(text, sizeof(text), "%s  - {at: 10s, restart: a, expect_error: %s}\n", head,
	         long_text);
	cr_assert_eq(load(text, "e.yaml", &sc, &d), -EINVAL);
	cr_assert_eq(d.errors, 1);
	snprintf(text, sizeof(text),
	         "%s  - {at: 10s, restart: a, expect_error: not down}\n  - {at: 20s, crash: a}\n",
	         head);
	if (load(text, "e.yaml", &sc, &d) != 0)
		dump(&d);
	cr_assert_not_null(sc);
	cr_assert_str_eq(sc->events[0].expect_error, "not down");
	cr_assert_null(sc->events[1].expect_error);
	scenario_free(sc);
}

Test(scenario_errors, every_fixture_is_refused)
{
	/* Guards against a fixture that silently became valid: every file in
	 * tests/sim/scenario/bad/ must fail to load. */
	DIR *dir = opendir(BAD_DIR);
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(dir);
	while ((e = readdir(dir))) {
		char path[512];
		struct scenario *sc;
		struct scenario_diags d;
		if (!strstr(e->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), BAD_DIR "%s", e->d_name);
		cr_assert_neq(scenario_load_file(path, &sc, &d), 0, "%s loaded", e->d_name);
		cr_assert_gt(d.errors, 0, "%s: no error", e->d_name);
		n++;
	}
	closedir(dir);
	cr_assert_geq(n, 64, "only %zu fixtures", n);
}

Test(scenario_errors, several_mistakes_are_all_reported_in_file_order)
{
	struct scenario *sc;
	struct scenario_diags d;
	const char *text = "name: many\n"
	                   "regions: {a: {}}\n"
	                   "nodes:\n"
	                   "  - {name: x, region: b}\n"
	                   "  - {name: y, region: a, cuont: 2}\n"
	                   "duration: 5 s\n";
	cr_assert_eq(load(text, "m.yaml", &sc, &d), -EINVAL);
	if (d.errors != 3)
		dump(&d);
	cr_assert_eq(d.errors, 3);
	cr_assert_str_eq(d.items[0].text, "m.yaml:4:23: unknown region 'b' (did you mean 'a'?)");
	cr_assert_str_eq(d.items[1].text,
	                 "m.yaml:5:26: unknown key 'cuont' in node (did you mean 'count'?)");
	cr_assert_str_eq(d.items[2].text, "m.yaml:6:11: duration: bad unit ' s' in duration '5 "
	                                  "s' (expected us, ms, s or m)");
}

Test(scenario_errors, unreadable_file)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(scenario_load_file("/nonexistent/x.yaml", &sc, &d), -ENOENT);
	cr_assert_str_eq(d.items[0].text, "/nonexistent/x.yaml: cannot read: No such file or "
	                                  "directory");
}

/* ---- good files ---- */

Test(scenario_good, units_parse_to_base_units)
{
	uint64_t v;
	double f;
	char why[200];

	cr_assert_eq(scenario_parse_duration("250us", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 250);
	cr_assert_eq(scenario_parse_duration("1.5ms", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 1500);
	cr_assert_eq(scenario_parse_duration("2s", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 2000000);
	cr_assert_eq(scenario_parse_duration("1m", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 60000000);
	cr_assert_eq(scenario_parse_duration("0", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(scenario_parse_size("2KB", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 2000);
	cr_assert_eq(scenario_parse_size("2KiB", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 2048);
	cr_assert_eq(scenario_parse_size("1.5MB", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 1500000);
	cr_assert_eq(scenario_parse_bandwidth("100Mbps", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 100000000);
	cr_assert_eq(scenario_parse_bandwidth("10Gbps", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 10000000000ull);
	cr_assert_eq(scenario_parse_bandwidth("56Kbps", &v, why, sizeof(why)), 0);
	cr_assert_eq(v, 56000);
	cr_assert_eq(scenario_parse_rate("2.5/s", &f, why, sizeof(why)), 0);
	cr_assert_float_eq(f, 2.5, 1e-12);
	cr_assert_eq(scenario_parse_percent("0.5%", &f, why, sizeof(why)), 0);
	cr_assert_float_eq(f, 0.005, 1e-12);
	cr_assert_eq(scenario_parse_duration("5", &v, why, sizeof(why)), -EINVAL);
	cr_assert_str_eq(why, "missing unit in duration '5' (expected us, ms, s or m)");
}

Test(scenario_good, defaults_apply_when_keys_are_absent)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: tiny\nregions: {r: {}}\nnodes: [{name: a, region: r}, {name: b, "
	                  "region: r}]\n",
	                  "t.yaml", &sc, &d),
	             0);
	cr_assert_eq(d.count, 0);
	cr_assert_eq(sc->seed, 1);
	cr_assert_eq(sc->duration_us, 10000000);
	cr_assert_str_eq(sc->tailnet, "example.ts.net");
	cr_assert_eq(sc->access.latency_us, 1000);
	cr_assert_eq(sc->access.bandwidth_bps, 1000000000ull);
	const struct scenario_underlay_workload *w = &sc->underlay_workload;
	cr_assert(w->enabled);
	cr_assert_float_eq(w->rate_per_s, 1.0, 1e-12);
	cr_assert_eq(w->request_bytes, 200);
	cr_assert_eq(w->response_bytes, 2000);
	cr_assert_eq(w->start_us, 0);
	cr_assert_eq(w->stop_us, 10000000);
	cr_assert_eq(w->port, 7000);
	scenario_free(sc);
}

Test(scenario_good, count_expands_names_in_order)
{
	struct scenario *sc;
	struct scenario_diags d;
	char name[80];
	cr_assert_eq(load("name: expand\nregions: {r: {}, s: {}}\n"
	                  "links: [{between: [r, s], latency: 5ms, bandwidth: 100Mbps, loss: 1%}]\n"
	                  "nodes:\n  - {name: web, region: r}\n  - {name: client, region: s, "
	                  "count: 12}\n  - {name: db, region: r}\n",
	                  "e.yaml", &sc, &d),
	             0);
	cr_assert_eq(sc->node_count, 14);
	cr_assert_eq(sc->link_count, 1);
	cr_assert_eq(sc->links[0].params.latency_us, 5000);
	cr_assert_eq(sc->links[0].params.bandwidth_bps, 100000000);
	cr_assert_float_eq(sc->links[0].params.loss, 0.01, 1e-12);
	cr_assert_str_eq(scenario_node_name(sc, 0, name, sizeof(name))->name, "web");
	cr_assert_str_eq(name, "web");
	scenario_node_name(sc, 1, name, sizeof(name));
	cr_assert_str_eq(name, "client-0");
	const struct scenario_node_group *g = scenario_node_name(sc, 12, name, sizeof(name));
	cr_assert_str_eq(name, "client-11");
	cr_assert_eq(g->region, 1);
	scenario_node_name(sc, 13, name, sizeof(name));
	cr_assert_str_eq(name, "db");
	cr_assert_null(scenario_node_name(sc, 14, name, sizeof(name)));
	scenario_free(sc);
}

Test(scenario_good, contract_example_loads_without_errors_or_warnings)
{
	char path[512];
	size_t len;
	struct scenario *sc;
	struct scenario_diags d;

	/* The example of SCENARIO.md, byte for byte, kept as a fixture. */
	snprintf(path, sizeof(path), SOURCE_DIR "/tests/sim/scenario/good/contract-example.yaml");
	char *text = read_all(path, &len);
	cr_assert_eq(scenario_load_text(text, len, "c.yaml", &sc, &d), 0);
	if (d.count)
		dump(&d);
	cr_assert_eq(d.count, 0);
	cr_assert_eq(sc->node_count, 102);
	cr_assert_eq(sc->seed, 42);
	cr_assert_eq(sc->duration_us, 60000000);
	cr_assert_eq(sc->control_region, 0);
	cr_assert_eq(sc->n_users, 2);
	cr_assert_str_eq(sc->users[0].login, "alice@example.com");
	cr_assert_eq(sc->users[0].role, SCENARIO_ROLE_ADMIN);
	cr_assert_eq(sc->users[1].role, SCENARIO_ROLE_MEMBER);
	cr_assert_not_null(sc->policy_json);
	cr_assert_not_null(strstr(sc->policy_json, "\"tag:prod-service\":[\"tag:prod-infra\"]"));
	cr_assert_not_null(strstr(sc->policy_json, "\"ip\":[\"443\"]"));
	cr_assert_eq(sc->n_services, 1);
	cr_assert_str_eq(sc->services[0].name, "svc:web");
	cr_assert_str_eq(sc->services[0].description, "internal web app");
	cr_assert_eq(sc->services[0].n_ports, 1);
	cr_assert_eq(sc->services[0].ports[0].first, 443);
	cr_assert_eq(sc->services[0].ports[0].last, 443);
	cr_assert_str_eq(sc->services[0].ports_text, "tcp:443");
	cr_assert_str_eq(sc->services[0].tags[0], "tag:prod-service");
	/* nodes */
	const struct scenario_node_group *web = &sc->groups[0], *eu = &sc->groups[1];
	cr_assert_eq(web->n_tags, 1);
	cr_assert_str_eq(web->tags[0], "tag:web");
	cr_assert_eq(web->user, -1);
	cr_assert_eq(web->n_backends, 1);
	cr_assert_eq(web->backends[0].kind, SCENARIO_BACKEND_HTTP);
	cr_assert_eq(web->backends[0].port, 8080);
	cr_assert_eq(web->backends[0].service_time_us, 2000);
	cr_assert_eq(web->backends[0].body_bytes, 2000);
	cr_assert_eq(web->n_serve, 1);
	cr_assert_str_eq(web->serve[0].text, "serve --service=svc:web --https=443 127.0.0.1:8080");
	cr_assert_eq(web->serve[0].line, 58);
	cr_assert_eq(web->serve[0].column, 9);
	cr_assert_eq(eu->backends[0].body_bytes, 1000, "default body 1KB");
	cr_assert_str_eq(eu->serve[0].text, "serve --service=svc:web --https=443 8080");
	cr_assert_eq(sc->groups[2].user, 1);
	cr_assert_eq(sc->groups[2].count, 100);
	/* workloads */
	cr_assert_eq(sc->n_workloads, 1);
	const struct scenario_workload *w = &sc->workloads[0];
	cr_assert_str_eq(w->name, "browse");
	cr_assert_str_eq(w->from, "client-*");
	cr_assert_eq(w->target, SCENARIO_TARGET_SERVICE);
	cr_assert_str_eq(w->service, "svc:web");
	cr_assert_str_eq(w->host_name, "web.example.ts.net");
	cr_assert_eq(w->port, 443);
	cr_assert_eq(w->kind, SCENARIO_WORKLOAD_HTTP);
	cr_assert_float_eq(w->rate_per_s, 5.0, 1e-12);
	cr_assert_eq(w->connection, SCENARIO_CONNECTION_NEW);
	cr_assert_str_eq(w->path, "/");
	cr_assert_eq(w->request_bytes, 200);
	cr_assert_eq(w->start_us, 1000000);
	cr_assert_eq(w->stop_us, 55000000);
	cr_assert(scenario_workload_has_client(sc, w, 2));
	cr_assert_not(scenario_workload_has_client(sc, w, 0));
	/* the timeline, sorted by time */
	cr_assert_eq(sc->n_events, 7);
	static const uint64_t at_s[] = {5, 10, 20, 25, 30, 35, 40};
	for (size_t i = 0; i < 7; i++)
		cr_assert_eq(sc->events[i].at_us, at_s[i] * 1000000, "event %zu", i);
	const struct scenario_event *e = &sc->events[0];
	cr_assert_eq(e->action, SCENARIO_ACTION_ADMIN);
	cr_assert_eq(e->verb, SCENARIO_ADMIN_APPROVE);
	cr_assert_str_eq(e->service, "svc:web");
	cr_assert_eq(e->host, 1);
	cr_assert_eq(e->user, 0);
	cr_assert_str_eq(e->command, "approve svc:web web-eu");
	cr_assert_eq(sc->events[1].action, SCENARIO_ACTION_SERVE);
	cr_assert_eq(sc->events[1].node, 0);
	cr_assert_str_eq(sc->events[1].run, "serve drain svc:web");
	cr_assert_eq(sc->events[2].action, SCENARIO_ACTION_CRASH);
	cr_assert_eq(sc->events[2].node, 1);
	cr_assert_eq(sc->events[3].action, SCENARIO_ACTION_PARTITION);
	cr_assert_not(sc->events[3].between_nodes);
	cr_assert_eq(sc->events[3].a, 0);
	cr_assert_eq(sc->events[3].b, 1);
	cr_assert_eq(sc->events[4].action, SCENARIO_ACTION_RESTART);
	cr_assert_eq(sc->events[5].action, SCENARIO_ACTION_HEAL);
	const struct scenario_event *l = &sc->events[6];
	cr_assert_eq(l->action, SCENARIO_ACTION_LINK);
	cr_assert_eq(l->link, 0);
	cr_assert(l->set_latency && l->set_loss && !l->set_bandwidth);
	cr_assert_eq(l->params.latency_us, 200000);
	cr_assert_float_eq(l->params.loss, 0.05, 1e-12);
	/* expectations: the first entry holds two checks */
	cr_assert_eq(sc->n_expects, 6);
	const struct expect *x = sc->expects;
	cr_assert_eq(x[0].kind, EXPECT_SUCCESS_RATE);
	cr_assert_eq(x[0].cmp, EXPECT_CMP_GE);
	cr_assert_float_eq(x[0].value, 0.999, 1e-12);
	cr_assert_str_eq(x[0].workload, "browse");
	cr_assert_str_eq(x[0].text, "browse success_rate >= 99.9%");
	cr_assert_eq(x[1].kind, EXPECT_LATENCY);
	cr_assert_eq(x[1].percentile, EXPECT_P99);
	cr_assert_eq(x[1].cmp, EXPECT_CMP_LT);
	cr_assert_float_eq(x[1].value, 400000.0, 1e-9);
	cr_assert_eq(x[2].kind, EXPECT_NEW_CONNECTIONS);
	cr_assert_str_eq(x[2].node, "web-us");
	cr_assert_eq(x[2].cmp, EXPECT_CMP_EQ);
	cr_assert_float_eq(x[2].value, 0.0, 1e-12);
	cr_assert_eq(x[2].from_us, 12000000);
	cr_assert_eq(x[2].to_us, UINT64_MAX);
	cr_assert_eq(x[3].kind, EXPECT_SERVICE_STATE);
	cr_assert_str_eq(x[3].service, "svc:web");
	cr_assert_str_eq(x[3].state, "Connected");
	cr_assert_eq(x[3].at_us, 15000000);
	cr_assert_eq(x[4].kind, EXPECT_HOST_STATE);
	cr_assert_str_eq(x[4].node, "web-us");
	cr_assert_str_eq(x[4].state, "draining");
	cr_assert_eq(x[5].kind, EXPECT_FAILOVER_TIME);
	cr_assert_eq(x[5].after_us, 20000000);
	cr_assert_float_eq(x[5].value, 3000000.0, 1e-9);
	cr_assert_eq(x[5].line, 96);
	cr_assert_eq(x[5].column, 24);
	free(text);
	scenario_free(sc);
}

Test(scenario_good, underlay_workload_can_be_turned_off)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: quiet\nregions: {r: {}}\nunderlay_workload: off\n"
	                  "nodes: [{name: a, region: r}]\n",
	                  "o.yaml", &sc, &d),
	             0);
	cr_assert_not(sc->underlay_workload.enabled);
	cr_assert_eq(d.count, 0);
	scenario_free(sc);
}

Test(scenario_good, key_tables_describe_every_key)
{
	for (int s = 0; s < SCENARIO_SECTION_COUNT; s++) {
		const struct scenario_key *k = scenario_keys((enum scenario_section)s);
		cr_assert_not_null(k);
		for (; k->name; k++) {
			cr_assert_not_null(k->doc, "%s.%s has no doc", scenario_section_name(s),
			                   k->name);
			cr_assert_neq(k->kind, SCENARIO_KIND_NONE);
		}
	}
}

/* ---- simrun end to end ---- */

static void simrun_quickstart(const char *out, unsigned seed)
{
	int st = shell_status("'%s' --quiet --seed %u --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'",
	                      SIMRUN_PATH, seed, out, QUICKSTART, out, out);
	if (st != 0)
		shell_status("cat '%s/stderr' >&2", out);
	cr_assert_eq(st, 0, "simrun exited %d", st);
}

Test(simrun, quickstart_runs_and_writes_ok_requests, .timeout = 120)
{
	char out[64], path[256];
	size_t len;

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	simrun_quickstart(out, 1);
	snprintf(path, sizeof(path), "%s/reports/quickstart/events.jsonl", out);
	char *text = read_all(path, &len);
	cr_assert_gt(len, 0);
	cr_assert_not_null(strstr(text, "\"type\":\"rr_done\""));
	cr_assert_not_null(strstr(text, "\"outcome\":\"ok\""));
	cr_assert_not_null(strstr(text, "\"workload\":\"office\""), "no service request");
	free(text);
	snprintf(path, sizeof(path), "%s/pcaps/quickstart/client-0-underlay.pcap", out);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "no %s", path);
	cr_assert_gt(st.st_size, 24);
	shell_status("rm -rf '%s'", out);
}

/* With seed 2 an Asian client opens a connection to web-eu just before
 * its map moves it to the US: its SYN is at web-eu when control confirms
 * the drain, its ACK and request are not. web-eu waits for that handshake
 * (drain_settling) before closing its listener, so the request is served
 * instead of reset (DRN-1). */
Test(simrun, drain_waits_for_handshakes_already_on_their_way_DRN_1, .timeout = 120)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	simrun_quickstart(out, 2);
	cr_assert_eq(
	    shell_status(
	        "cd '%s/reports/quickstart' && "
	        "grep -q '\"type\":\"drain_settling\".*\"by\":\"control\"' events.jsonl && "
	        "! grep '\"type\":\"request_done\"' events.jsonl | grep -v -q "
	        "'\"outcome\":\"ok\"'",
	        out),
	    0, "a request failed during the drain, or the drain did not settle");
	shell_status("rm -rf '%s'", out);
}

Test(simrun, same_seed_gives_identical_events_and_pcaps, .timeout = 240)
{
	char a[64], b[64];

	cr_assert(shell_mkdtemp(a, sizeof(a), "test_scenario"));
	cr_assert(shell_mkdtemp(b, sizeof(b), "test_scenario"));
	simrun_quickstart(a, 7);
	simrun_quickstart(b, 7);
	cr_assert_eq(shell_status("cmp -s '%s/reports/quickstart/events.jsonl' "
	                          "'%s/reports/quickstart/events.jsonl'",
	                          a, b),
	             0, "events.jsonl differ");
	cr_assert_eq(shell_status("diff -r -q '%s/pcaps' '%s/pcaps' >/dev/null", a, b), 0,
	             "pcaps differ");
	/* an underlay pcap per node and control, a tailnet pcap per daemon */
	cr_assert_eq(
	    shell_status("ls '%s/pcaps/quickstart/' | grep -c underlay.pcap | grep -qx 9", a), 0,
	    "expected 9 underlay pcaps");
	cr_assert_eq(
	    shell_status("ls '%s/pcaps/quickstart/' | grep -c tailnet.pcap | grep -qx 8", a), 0,
	    "expected 8 tailnet pcaps");
	shell_status("rm -rf '%s' '%s'", a, b);
}

Test(simrun, different_seed_gives_different_events, .timeout = 240)
{
	char a[64], b[64];

	cr_assert(shell_mkdtemp(a, sizeof(a), "test_scenario"));
	cr_assert(shell_mkdtemp(b, sizeof(b), "test_scenario"));
	simrun_quickstart(a, 1);
	simrun_quickstart(b, 2);
	cr_assert_neq(shell_status("cmp -s '%s/reports/quickstart/events.jsonl' "
	                           "'%s/reports/quickstart/events.jsonl'",
	                           a, b),
	              0, "events.jsonl are identical across seeds");
	shell_status("rm -rf '%s' '%s'", a, b);
}

Test(simrun, tshark_reads_every_pcap, .timeout = 120)
{
	char out[64];

	if (shell_status("command -v tshark >/dev/null 2>&1") != 0)
		prereq_missing("tshark is not installed");
	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	simrun_quickstart(out, 1);
	cr_assert_eq(
	    shell_status("set -e; n=0; for f in '%s'/pcaps/quickstart/*.pcap; do "
	                 "tshark -r \"$f\" -c 1 >/dev/null 2>&1; n=$((n+1)); done; test $n -eq 17",
	                 out),
	    0, "tshark could not read a pcap");
	cr_assert_eq(
	    shell_status("tshark -r '%s/pcaps/quickstart/web-us-underlay.pcap' -Y 'tcp.port == "
	                 "7000' 2>/dev/null | grep -q TCP",
	                 out),
	    0, "no workload TCP in web-us's pcap");
	shell_status("rm -rf '%s'", out);
}

Test(simrun, check_on_a_bad_file_exits_2_with_the_message)
{
	char out[64], path[256];
	size_t len;

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	int st =
	    shell_status("cd '%s' && '%s' --check unknown-region.yaml 2>'%s/stderr' >/dev/null",
	                 BAD_DIR, SIMRUN_PATH, out);
	cr_assert_eq(st, 2);
	snprintf(path, sizeof(path), "%s/stderr", out);
	char *text = read_all(path, &len);
	cr_assert_str_eq(text, "unknown-region.yaml:7:13: unknown region 'us-eats' (did you mean "
	                       "'us-east'?)\n");
	free(text);
	shell_status("rm -rf '%s'", out);
}

Test(simrun, check_on_a_good_file_exits_0_and_writes_nothing)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	cr_assert_eq(
	    shell_status("cd '%s' && '%s' --check '%s' >/dev/null", out, SIMRUN_PATH, QUICKSTART),
	    0);
	cr_assert_eq(shell_status("test -z \"$(ls -A '%s')\"", out), 0, "--check wrote files");
	shell_status("rm -rf '%s'", out);
}

Test(simrun, bad_option_prints_usage_and_exits_2)
{
	cr_assert_eq(
	    shell_status("'%s' --frobnicate x.yaml 2>&1 | grep -q '^usage: simrun'", SIMRUN_PATH),
	    0);
	cr_assert_eq(shell_status("'%s' --frobnicate x.yaml >/dev/null 2>&1", SIMRUN_PATH), 2);
	cr_assert_eq(shell_status("'%s' >/dev/null 2>&1", SIMRUN_PATH), 2);
	cr_assert_eq(shell_status("'%s' --seed 0 '%s' >/dev/null 2>&1", SIMRUN_PATH, QUICKSTART),
	             2);
	cr_assert_eq(shell_status("'%s' --help | grep -q -- '--pcap'", SIMRUN_PATH), 0);
}

/* ---- the whole language: every key, typed ---- */

#define GOOD_DIR SOURCE_DIR "/tests/sim/scenario/good/"

static struct scenario *load_good(const char *name)
{
	char path[512];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	snprintf(path, sizeof(path), GOOD_DIR "%s", name);
	int err = scenario_load_file(path, &sc, &d);
	if (err || d.count)
		dump(&d);
	cr_assert_eq(err, 0, "%s did not load", name);
	cr_assert_eq(d.count, 0, "%s: diagnostics", name);
	return sc;
}

Test(scenario_good, every_key_file_loads_into_typed_structures)
{
	struct scenario *sc = load_good("every-key.yaml");

	cr_assert_str_eq(sc->tailnet, "corp.ts.net");
	cr_assert_eq(sc->duration_us, 120000000);
	cr_assert_eq(sc->control_region, 1);
	cr_assert_eq(sc->access.latency_us, 500);
	cr_assert_eq(sc->n_users, 5);
	cr_assert_eq(sc->users[0].role, SCENARIO_ROLE_OWNER);
	cr_assert_eq(sc->users[2].role, SCENARIO_ROLE_NETWORK_ADMIN);
	cr_assert_str_eq(sc->users[1].display_name, "Alice Admin");
	cr_assert_str_eq(sc->users[4].display_name, "");
	cr_assert_eq(sc->users[4].role, SCENARIO_ROLE_MEMBER, "role defaults to member");
	/* services */
	cr_assert_eq(sc->services[0].n_ports, 2);
	cr_assert_eq(sc->services[0].ports[1].first, 8000);
	cr_assert_eq(sc->services[0].ports[1].last, 8001);
	cr_assert_str_eq(sc->services[0].ports_text, "tcp:443,tcp:8000-8001");
	cr_assert(sc->services[1].do_not_validate);
	cr_assert_eq(sc->services[1].n_ports, 0);
	cr_assert_str_eq(sc->services[1].description, "");
	/* backends */
	const struct scenario_node_group *web = &sc->groups[0];
	cr_assert_eq(web->n_backends, 4);
	cr_assert_eq(web->backends[1].kind, SCENARIO_BACKEND_TCP_ECHO);
	cr_assert_eq(web->backends[2].kind, SCENARIO_BACKEND_TCP_SINK);
	cr_assert_eq(web->backends[3].kind, SCENARIO_BACKEND_UDP_ECHO);
	cr_assert_eq(web->backends[3].port, 5353);
	cr_assert_eq(sc->groups[1].n_tags, 2);
	/* underlay workload */
	cr_assert_eq(sc->underlay_workload.response_bytes, 1024);
	cr_assert_eq(sc->underlay_workload.port, 7100);
	/* workloads */
	cr_assert_eq(sc->n_workloads, 6);
	const struct scenario_workload *w = sc->workloads;
	cr_assert_eq(w[0].connection, SCENARIO_CONNECTION_KEEPALIVE);
	cr_assert_str_eq(w[0].path, "/index.html");
	cr_assert_eq(w[0].response_bytes, 2000);
	cr_assert_str_eq(w[0].service, "svc:web");
	cr_assert_eq(w[1].kind, SCENARIO_WORKLOAD_TCP_ECHO);
	cr_assert_eq(w[1].target, SCENARIO_TARGET_SERVICE);
	cr_assert_str_eq(w[1].host_name, "echo.corp.ts.net");
	cr_assert_eq(w[1].port, 7000);
	cr_assert_eq(w[1].stop_us, 120000000, "stop defaults to the duration");
	cr_assert_eq(w[2].kind, SCENARIO_WORKLOAD_TCP_STREAM);
	cr_assert_eq(w[2].connections, 3);
	cr_assert_eq(w[2].hold_us, 30000000);
	cr_assert(scenario_workload_has_client(sc, &w[2], 3)); /* client-1 */
	cr_assert_not(scenario_workload_has_client(sc, &w[2], 2));
	cr_assert_eq(w[3].target, SCENARIO_TARGET_NODE);
	cr_assert_eq(w[3].node, 1);
	cr_assert_eq(w[4].target, SCENARIO_TARGET_VIP);
	cr_assert_str_eq(w[4].address, "100.100.1.2");
	cr_assert_str_eq(w[5].address, "fd7a:115c:a1e0::5");
	cr_assert_eq(w[5].port, 443);
	/* timeline: sorted by time, equal times in file order */
	cr_assert_eq(sc->n_events, 32);
	cr_assert(sc->events[23].set_jitter && sc->events[23].set_duplicate);
	cr_assert_eq(sc->events[23].params.jitter_us, 20000);
	cr_assert_eq(sc->links[1].params.jitter_us, 5000);
	for (size_t i = 1; i < sc->n_events; i++)
		cr_assert_leq(sc->events[i - 1].at_us, sc->events[i].at_us);
	cr_assert_eq(sc->events[0].verb, SCENARIO_ADMIN_APPROVE);
	cr_assert_eq(sc->events[1].verb, SCENARIO_ADMIN_DEFINE);
	cr_assert_str_eq(sc->events[1].service, "svc:new");
	cr_assert_eq(sc->events[1].user, 2);
	cr_assert_eq(sc->events[2].verb, SCENARIO_ADMIN_REJECT);
	cr_assert_eq(sc->events[3].verb, SCENARIO_ADMIN_REVOKE);
	cr_assert_eq(sc->events[4].verb, SCENARIO_ADMIN_DELETE);
	cr_assert_eq(sc->events[5].verb, SCENARIO_ADMIN_SET_POLICY);
	cr_assert_str_eq(sc->events[5].file, "policy-v2.hujson");
	const struct scenario_event *p = &sc->events[9];
	cr_assert_eq(p->action, SCENARIO_ACTION_PARTITION);
	cr_assert(p->between_nodes);
	cr_assert_eq(p->a, 2);
	cr_assert_eq(p->b, 1);
	const struct scenario_event *l = &sc->events[12];
	cr_assert_eq(l->action, SCENARIO_ACTION_LINK);
	cr_assert_eq(l->params.bandwidth_bps, 10000000);
	cr_assert(l->set_bandwidth);
	cr_assert_eq(sc->events[13].action, SCENARIO_ACTION_CONTROL_CRASH);
	cr_assert_eq(sc->events[14].action, SCENARIO_ACTION_CONTROL_RESTART);
	cr_assert_str_eq(sc->events[15].policy,
	                 "{\"tagOwners\":{\"tag:web\":[\"alice@example.com\"]}}");
	cr_assert_eq(sc->events[16].action, SCENARIO_ACTION_ISOLATE);
	cr_assert_eq(sc->events[17].action, SCENARIO_ACTION_REJOIN);
	cr_assert(sc->events[18].one_way);
	cr_assert(sc->events[20].access);
	cr_assert_eq(sc->events[21].action, SCENARIO_ACTION_ORIGIN_CRASH);
	cr_assert_eq(sc->events[24].action, SCENARIO_ACTION_PAUSE);
	cr_assert_eq(sc->events[25].action, SCENARIO_ACTION_RESUME);
	cr_assert_eq(sc->events[25].node, sc->events[24].node);
	cr_assert_eq(sc->events[26].action, SCENARIO_ACTION_HEAL);
	cr_assert_null(sc->events[26].expect_error);
	cr_assert_eq(sc->events[27].action, SCENARIO_ACTION_ORIGIN_SLOW);
	cr_assert_eq(sc->events[27].delay_us, 300000);
	cr_assert_eq(sc->events[28].action, SCENARIO_ACTION_ORIGIN_OK);
	cr_assert_eq(sc->events[29].action, SCENARIO_ACTION_ORIGIN_ERROR);
	cr_assert_str_eq(sc->events[31].expect_error, "may not approve");
	/* expectations: 6 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 checks */
	cr_assert_eq(sc->n_expects, 18);
	const struct expect *x = sc->expects;
	cr_assert_eq(x[1].percentile, EXPECT_P50);
	cr_assert_eq(x[2].percentile, EXPECT_P90);
	cr_assert_eq(x[2].cmp, EXPECT_CMP_LE);
	cr_assert_eq(x[4].percentile, EXPECT_P999);
	cr_assert_eq(x[5].percentile, EXPECT_MAX_LATENCY);
	cr_assert_float_eq(x[5].value, 2000000.0, 1e-9);
	cr_assert_eq(x[6].to_us, 19000000);
	cr_assert_eq(x[7].cmp, EXPECT_CMP_GE);
	cr_assert_float_eq(x[7].value, 10.0, 1e-12);
	cr_assert_str_eq(x[10].service, "svc:new", "a service a timeline define creates");
	cr_assert_eq(x[12].kind, EXPECT_RESETS);
	cr_assert_eq(x[12].to_us, 120000000);
	cr_assert_eq(x[13].cmp, EXPECT_CMP_EQ);
	cr_assert_str_eq(x[13].text, "echo resets == 0");
	cr_assert_eq(x[14].kind, EXPECT_NEVER_INELIGIBLE);
	cr_assert_eq(x[15].kind, EXPECT_INVARIANT);
	cr_assert_eq(x[15].invariants, 1u << 6, "recovery, the 7th invariant");
	cr_assert_eq(x[16].form, EXPECT_THROUGHOUT);
	cr_assert_eq(x[16].window_us, 5000000);
	cr_assert_eq(x[17].form, EXPECT_EVENTUALLY);
	cr_assert(x[17].after_last_heal);
	uint32_t idx;
	cr_assert_eq(scenario_node_find(sc, "client-3", &idx), 0);
	cr_assert_eq(idx, 5);
	cr_assert_eq(scenario_node_find(sc, "client-4", &idx), -ENOENT);
	cr_assert_eq(scenario_node_find(sc, "client-03", &idx), -ENOENT);
	cr_assert_eq(scenario_node_find(sc, "client", &idx), -ENOENT);
	scenario_free(sc);
}

/* Every key name that occurs anywhere in a YAML node tree. */
static void collect_keys(yaml_document_t *doc, yaml_node_t *n, char names[][40], size_t *count,
                         int depth)
{
	if (depth > 40)
		return;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			collect_keys(doc, yaml_document_get_node(doc, *it), names, count,
			             depth + 1);
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (k->type == YAML_SCALAR_NODE && *count < 512)
				snprintf(names[(*count)++], 40, "%s", (char *)k->data.scalar.value);
			collect_keys(doc, yaml_document_get_node(doc, p->value), names, count,
			             depth + 1);
		}
	}
}

Test(scenario_good, every_key_of_every_table_is_used_in_a_good_file)
{
	static char names[512][40];
	size_t count = 0, len;
	yaml_parser_t parser;
	yaml_document_t doc;
	char *text = read_all(GOOD_DIR "every-key.yaml", &len);

	cr_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	cr_assert(yaml_parser_load(&parser, &doc));
	collect_keys(&doc, yaml_document_get_root_node(&doc), names, &count, 0);
	for (int s = 0; s < SCENARIO_SECTION_COUNT; s++) {
		for (const struct scenario_key *k = scenario_keys((enum scenario_section)s);
		     k->name; k++) {
			bool found = false;
			for (size_t i = 0; i < count && !found; i++)
				found = !strcmp(names[i], k->name);
			cr_assert(found, "key %s.%s is not in every-key.yaml",
			          scenario_section_name((enum scenario_section)s), k->name);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(text);
}

/* ---- the schema and the key reference are generated from the tables ---- */

/* With SCENARIO_REGEN=1 in the environment, writes `text` to `path`
 * instead of comparing (how the committed files are made). */
static void expect_file_equals(const char *path, const char *text)
{
	size_t len;

	if (getenv("SCENARIO_REGEN")) {
		FILE *f = fopen(path, "wb");
		cr_assert_not_null(f);
		fputs(text, f);
		fclose(f);
	}
	char *have = read_all(path, &len);
	cr_assert_str_eq(have, text,
	                 "%s differs from the generated text; regenerate with "
	                 "SCENARIO_REGEN=1 test_scenario --filter 'docs/*'",
	                 path);
	free(have);
}

Test(docs, committed_schema_equals_the_generated_schema)
{
	char *schema = scenario_schema_json();

	cr_assert_not_null(schema);
	cr_assert_not_null(strstr(schema, "\"$schema\":\t\"https://json-schema.org/draft/2020-12/"
	                                  "schema\""));
	cr_assert_not_null(strstr(schema, "\"failover_time\""));
	cr_assert_not_null(strstr(schema, "\"tcp-stream\""));
	expect_file_equals(SOURCE_DIR "/docs/scenario-schema.json", schema);
	free(schema);
}

Test(docs, key_reference_in_the_docs_equals_the_generated_table)
{
	static const char begin[] = "<!-- generated: scenario_keys_markdown() -->\n";
	static const char end[] = "<!-- end of generated part -->\n";
	char *md = scenario_keys_markdown(), *doc, *b, *e;
	size_t len;

	cr_assert_not_null(md);
	doc = read_all(SOURCE_DIR "/docs/scenario-keys.md", &len);
	b = strstr(doc, begin);
	cr_assert_not_null(b, "no generated-part marker in docs/scenario-keys.md");
	b += strlen(begin);
	e = strstr(b, end);
	cr_assert_not_null(e);
	if (getenv("SCENARIO_REGEN")) {
		FILE *f = fopen(SOURCE_DIR "/docs/scenario-keys.md", "wb");
		cr_assert_not_null(f);
		fwrite(doc, 1, (size_t)(b - doc), f);
		fputs(md, f);
		fputs(e, f);
		fclose(f);
	} else {
		*e = '\0';
		cr_assert_str_eq(b, md,
		                 "docs/scenario-keys.md's key tables differ from the "
		                 "generated text; regenerate with SCENARIO_REGEN=1");
	}
	cr_assert_not_null(strstr(md, "| `connections` (project) |"));
	free(doc);
	free(md);
}

/* ---- limits, each tested ---- */

static const char limits_head[] = "name: lim\nduration: 60s\nregions: {r: {}}\n"
                                  "users: {a@x.com: {role: admin}}\n"
                                  "policy: {tagOwners: {tag:t: [a@x.com]}}\n";

/* Loads limits_head + body and expects exactly `msg` (with line:col). */
static void expect_limit(const char *body, const char *msg)
{
	struct scenario *sc;
	struct scenario_diags d;
	size_t n = strlen(limits_head) + strlen(body) + 1;
	char *text = malloc(n);

	snprintf(text, n, "%s%s", limits_head, body);
	int err = load(text, "l.yaml", &sc, &d);
	if (!has_diag(&d, msg))
		dump(&d);
	cr_assert_eq(err, -EINVAL);
	cr_assert(has_diag(&d, msg), "expected: %s", msg);
	free(text);
}

Test(scenario_limits, node_tags_at_most_8)
{
	expect_limit("nodes: [{name: n, region: r, tags: [tag:t, tag:t, tag:t, tag:t, tag:t, "
	             "tag:t, tag:t, tag:t, tag:t]}]\n",
	             "l.yaml:6:36: too many tags: 9 (max 8)");
}

Test(scenario_limits, serve_lines_at_most_16)
{
	char body[2048] = "nodes: [{name: n, region: r, serve: [";
	for (int i = 0; i < 17; i++)
		strcat(body, i ? ", serve reset" : "serve reset");
	strcat(body, "]}]\n");
	expect_limit(body, "l.yaml:6:37: too many serve lines: 17 (max 16)");
}

Test(scenario_limits, backends_at_most_8)
{
	char body[2048] = "nodes: [{name: n, region: r, backends: [";
	for (int i = 0; i < 9; i++) {
		char b[64];
		snprintf(b, sizeof(b), "%s{listen: 127.0.0.1:%d}", i ? ", " : "", 8000 + i);
		strcat(body, b);
	}
	strcat(body, "]}]\n");
	expect_limit(body, "l.yaml:6:40: too many backends: 9 (max 8)");
}

Test(scenario_limits, service_needs_1_to_32_tags)
{
	expect_limit("services: [{name: svc:a, tags: []}]\nnodes: [{name: n, region: r}]\n",
	             "l.yaml:6:32: a service has 1 to 32 tags (SVC-5), got 0");
}

Test(scenario_limits, service_label_at_most_63)
{
	expect_limit(
	    "services: [{name: svc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaa, tags: [tag:t]}]\nnodes: [{name: n, region: r}]\n",
	    "l.yaml:6:19: service name 'svc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaa' is not valid (SVC-1: the label after 'svc:' is longer than 63 "
	    "characters)");
}

Test(scenario_limits, tcp_stream_connections_at_most_4096)
{
	expect_limit("nodes: [{name: n, region: r}, {name: m, region: r}]\n"
	             "workloads: [{name: w, from: n, to: m.example.ts.net:80, kind: tcp-stream, "
	             "connections: 5000}]\n",
	             "l.yaml:7:88: connections must be between 1 and 4096, got 5000");
}

Test(scenario_limits, workload_rate_above_the_limit)
{
	expect_limit("nodes: [{name: n, region: r}, {name: m, region: r}]\n"
	             "workloads: [{name: w, from: n, to: m.example.ts.net:80, rate: 200000/s}]\n",
	             "l.yaml:7:63: rate 200000/s is out of range (more than 0, at most 100000/s)");
}

Test(scenario_limits, expectation_percentage_above_100)
{
	expect_limit("nodes: [{name: n, region: r}, {name: m, region: r}]\n"
	             "workloads: [{name: w, from: n, to: m.example.ts.net:80}]\n"
	             "expect: [{workload: w, success_rate: \">= 101%\"}]\n",
	             "l.yaml:8:38: success_rate 101% is above 100%");
}

Test(scenario_limits, admin_command_word_count)
{
	expect_limit("nodes: [{name: n, region: r}]\ntimeline: [{at: 1s, as: a@x.com, admin: "
	             "\"define svc:a a a a a a a a a a a a a a a a a\"}]\n",
	             "l.yaml:7:41: admin: too many words");
}

/* ---- more rules, inline ---- */

Test(scenario_rules, comparisons_parse_every_operator)
{
	static const struct {
		const char *text;
		enum expect_cmp cmp;
		double value;
	} cases[] = {
	    {"0", EXPECT_CMP_EQ, 0},        {"\"== 3\"", EXPECT_CMP_EQ, 3},
	    {"\"=3\"", EXPECT_CMP_EQ, 3},   {"\"< 3\"", EXPECT_CMP_LT, 3},
	    {"\"<=3\"", EXPECT_CMP_LE, 3},  {"\">  3\"", EXPECT_CMP_GT, 3},
	    {"\">= 3\"", EXPECT_CMP_GE, 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct scenario *sc;
		struct scenario_diags d;
		snprintf(text, sizeof(text),
		         "name: c\nregions: {r: {}}\nnodes: [{name: n, region: r}, {name: m, "
		         "region: r}]\nexpect: [{node: n, new_connections: %s}]\n",
		         cases[i].text);
		cr_assert_eq(load(text, "c.yaml", &sc, &d), 0, "%s", cases[i].text);
		cr_assert_eq(sc->expects[0].cmp, cases[i].cmp, "%s", cases[i].text);
		cr_assert_float_eq(sc->expects[0].value, cases[i].value, 1e-12);
		scenario_free(sc);
	}
}

Test(scenario_rules, states_are_case_insensitive)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nusers: {a@x.com: {role: admin}}\n"
	                  "policy: {tagOwners: {tag:t: [a@x.com]}}\n"
	                  "services: [{name: svc:s, tags: [tag:t]}]\n"
	                  "nodes: [{name: n, region: r}]\n"
	                  "expect:\n  - {service: svc:s, state: pending APPROVAL, at: 1s}\n"
	                  "  - {service: svc:s, state: needs configuration, at: 1s}\n"
	                  "  - {service: svc:s, state: PRE-APPROVED, at: 1s}\n"
	                  "  - {service: svc:s, state: offline, at: 1s}\n"
	                  "  - {host: n, service: svc:s, state: Rejected, at: 1s}\n",
	                  "s.yaml", &sc, &d),
	             0);
	cr_assert_eq(sc->n_expects, 5);
	cr_assert_str_eq(sc->expects[0].state, "pending APPROVAL");
	scenario_free(sc);
}

Test(scenario_rules, policy_error_on_a_tag_owner_points_at_the_tag)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                  "policy:\n  tagOwners:\n    tag:web: [group:nope]\n",
	                  "p.yaml", &sc, &d),
	             -EINVAL);
	cr_assert_eq(d.items[0].line, 6);
	cr_assert_str_eq(d.items[0].text, "p.yaml:6:15: policy: tagOwners: tag:web[0]: group "
	                                  "\"group:nope\" is not defined in groups");
}

Test(scenario_rules, policy_unknown_key_points_at_the_key)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                  "policy:\n  tagOwner: {}\n",
	                  "p.yaml", &sc, &d),
	             -EINVAL);
	cr_assert_eq(d.errors, 1);
	cr_assert_eq(d.items[0].line, 5);
	cr_assert_eq(d.items[0].column, 3);
}

Test(scenario_rules, services_from_a_timeline_define_may_be_named)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nduration: 20s\nregions: {r: {}}\n"
	                  "users: {a@x.com: {role: admin}}\n"
	                  "policy: {tagOwners: {tag:t: [a@x.com]}}\n"
	                  "nodes: [{name: n, region: r, tags: [tag:t], serve: [serve "
	                  "--service=svc:late --tcp=5000 127.0.0.1:5000]}, {name: m, region: r}]\n"
	                  "workloads: [{name: w, from: m, to: late.example.ts.net:5000, kind: "
	                  "tcp-echo}]\n"
	                  "timeline: [{at: 2s, admin: define svc:late --ports=tcp:5000 "
	                  "--tags=tag:t, as: a@x.com}]\n",
	                  "d.yaml", &sc, &d),
	             0);
	cr_assert_eq(d.count, 0);
	cr_assert_eq(sc->workloads[0].target, SCENARIO_TARGET_SERVICE);
	cr_assert_str_eq(sc->workloads[0].service, "svc:late");
	scenario_free(sc);
}

Test(scenario_rules, serve_line_naming_an_undefined_service_is_a_warning)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nusers: {a@x.com: {role: admin}}\n"
	                  "policy: {tagOwners: {tag:t: [a@x.com]}}\n"
	                  "services: [{name: svc:web, tags: [tag:t]}]\n"
	                  "nodes: [{name: n, region: r, serve: [serve --service=svc:wbe "
	                  "--https=443 8080]}]\n",
	                  "w.yaml", &sc, &d),
	             0);
	cr_assert_eq(d.errors, 0);
	cr_assert(has_diag(&d, "w.yaml:6:38: warning: serve names service 'svc:wbe', which neither "
	                       "services nor a timeline define creates (did you mean 'svc:web'?)"));
	scenario_free(sc);
}

Test(scenario_rules, mistakes_in_several_sections_are_all_reported)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nusers: {a@x.com: {rle: admin}}\n"
	                  "services: [{name: web, tags: [tag:t]}]\n"
	                  "nodes: [{name: n, region: r, user: b@x.com}]\n"
	                  "timeline: [{at: 1s, restart: m}]\n",
	                  "m.yaml", &sc, &d),
	             -EINVAL);
	cr_assert_eq(d.errors, 4);
	cr_assert_str_eq(d.items[0].text,
	                 "m.yaml:3:19: unknown key 'rle' in user (did you mean 'role'?)");
	cr_assert_str_eq(d.items[1].text, "m.yaml:4:19: service name 'web' is not valid (SVC-1: "
	                                  "a service name starts with 'svc:')");
	cr_assert_str_eq(d.items[2].text, "m.yaml:5:36: unknown user 'b@x.com' (did you mean "
	                                  "'a@x.com'?)");
	cr_assert_str_eq(d.items[3].text, "m.yaml:6:30: restart: unknown node 'm' (did you mean "
	                                  "'n'?)");
}

Test(simrun, check_accepts_every_good_file_silently)
{
	char out[64];

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	cr_assert_eq(shell_status("set -e; for f in '%s'*.yaml; do '%s' --check \"$f\" >/dev/null "
	                          "2>'%s/err'; test ! -s '%s/err'; done",
	                          GOOD_DIR, SIMRUN_PATH, out, out),
	             0, "a good file failed --check or printed a diagnostic");
	shell_status("rm -rf '%s'", out);
}

Test(simrun, check_on_a_bad_policy_exits_2_with_the_mapped_position)
{
	char out[64], path[256];
	size_t len;

	cr_assert(shell_mkdtemp(out, sizeof(out), "test_scenario"));
	int st = shell_status("cd '%s' && '%s' --check bad-policy.yaml 2>'%s/stderr' >/dev/null",
	                      BAD_DIR, SIMRUN_PATH, out);
	cr_assert_eq(st, 2);
	snprintf(path, sizeof(path), "%s/stderr", out);
	char *text = read_all(path, &len);
	cr_assert_str_eq(text, "bad-policy.yaml:10:22: policy: grants[0].dst[1]: tag \"tag:prod\" "
	                       "is not defined in tagOwners\n");
	free(text);
	shell_status("rm -rf '%s'", out);
}

Test(scenario_rules, workload_port_outside_the_service_ports_is_a_warning)
{
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nusers: {a@x.com: {role: admin}}\n"
	                  "policy: {tagOwners: {tag:t: [a@x.com]}}\n"
	                  "services: [{name: svc:web, ports: [tcp:443, tcp:8000-8010], tags: "
	                  "[tag:t]}]\n"
	                  "nodes: [{name: n, region: r}, {name: m, region: r}]\n"
	                  "workloads:\n  - {name: a, from: n, to: web.example.ts.net:8005}\n"
	                  "  - {name: b, from: n, to: web.example.ts.net:80}\n",
	                  "p.yaml", &sc, &d),
	             0);
	cr_assert_eq(d.count, 1);
	cr_assert_str_eq(d.items[0].text, "p.yaml:9:28: warning: port 80 is not one of svc:web's "
	                                  "ports (tcp:443,tcp:8000-8010)");
	scenario_free(sc);
}

/* Builds "head" + `n` copies of `item` (with %zu replaced by the index) + "tail". */
static char *repeat(const char *head, const char *item, size_t n, const char *tail)
{
	size_t cap = strlen(head) + strlen(tail) + n * (strlen(item) + 24) + 1, len;
	char *text = malloc(cap);

	cr_assert_not_null(text);
	len = (size_t)snprintf(text, cap, "%s", head);
	const char *mark = strstr(item, "%zu");
	cr_assert_not_null(mark);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%.*s%zu%s", (int)(mark - item),
		                        item, i, mark + 3);
	snprintf(text + len, cap - len, "%s", tail);
	return text;
}

static void expect_big_error(char *text, const char *msg)
{
	struct scenario *sc;
	struct scenario_diags d;

	int err = load(text, "b.yaml", &sc, &d);
	if (!has_diag(&d, msg))
		dump(&d);
	cr_assert_eq(err, -EINVAL);
	cr_assert(has_diag(&d, msg), "expected: %s", msg);
	free(text);
}

Test(scenario_limits, users_at_most_4096)
{
	expect_big_error(
	    repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\nusers:\n",
	           "  u%zu@x.com: {}\n", 4097, ""),
	    "b.yaml:5:3: too many users: 4097 (max 4096)");
}

Test(scenario_limits, services_at_most_4096)
{
	expect_big_error(
	    repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\nservices:\n",
	           "  - {name: svc:s%zu, tags: [tag:t]}\n", 4097, ""),
	    "b.yaml:5:3: too many services: 4097 (max 4096)");
}

Test(scenario_limits, workloads_at_most_1024)
{
	expect_big_error(repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                        "workloads:\n",
	                        "  - {name: w%zu, from: n, to: n.example.ts.net:80}\n", 1025, ""),
	                 "b.yaml:5:3: too many workloads: 1025 (max 1024)");
}

Test(scenario_limits, timeline_entries_at_most_10000)
{
	expect_big_error(repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                        "timeline:\n",
	                        "  - {at: 1s, node: n, run: serve reset} # %zu\n", 10001, ""),
	                 "b.yaml:5:3: too many timeline entries: 10001 (max 10000)");
}

Test(scenario_limits, expectation_checks_at_most_1024)
{
	/* 205 entries of 5 bounds: the 1025th check is refused */
	expect_big_error(repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                        "workloads: [{name: w, from: n, to: n.example.ts.net:80}]\n"
	                        "expect:\n",
	                        "  - {workload: w, p50: 1s, p90: 1s, p99: 1s, p999: 1s, max: 1s} "
	                        "# %zu\n",
	                        205, ""),
	                 "b.yaml:210:56: too many expectations (max 1024 checks)");
}

Test(scenario_limits, serve_line_at_most_4096_bytes)
{
	expect_big_error(
	    repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r, serve: "
	           "[\"serve --service=svc:a --https=443 text:",
	           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%zu", 80,
	           "\"]}]\n"),
	    "b.yaml:3:38: serve line is longer than 4096 bytes");
}

Test(scenario_limits, description_at_most_1024_bytes)
{
	expect_big_error(repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                        "services: [{name: svc:a, tags: [tag:t], description: \"",
	                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%zu", 30,
	                        "\"}]\n"),
	                 "b.yaml:4:54: description is longer than 1024 bytes");
}

Test(scenario_limits, display_name_at_most_128_bytes)
{
	expect_big_error(repeat("name: b\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                        "users: {a@x.com: {display_name: \"",
	                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%zu", 3,
	                        "\"}}\n"),
	                 "b.yaml:4:33: display_name is longer than 128 bytes");
}

Test(scenario_rules, duplicate_admin_key_in_one_timeline_entry)
{
	/* two `admin` keys in one entry: an error, not a second define */
	struct scenario *sc;
	struct scenario_diags d;
	cr_assert_eq(load("name: c\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                  "users: {a@x.com: {role: admin}}\n"
	                  "timeline: [{at: 1s, admin: define svc:a, admin: define svc:b, as: "
	                  "a@x.com}]\n",
	                  "d.yaml", &sc, &d),
	             -EINVAL);
	cr_assert_str_eq(d.items[0].text,
	                 "d.yaml:5:42: duplicate key 'admin' in timeline entry (first at line 5)");
}

Test(docs, schema_accepts_the_good_files_and_is_a_valid_draft_2020_12_schema)
{
	if (shell_status("python3 -c 'import jsonschema, yaml' >/dev/null 2>&1") != 0)
		prereq_missing("python3 with jsonschema and yaml is not installed");
	cr_assert_eq(
	    shell_status(
	        "python3 -c '\n"
	        "import json, sys, yaml, jsonschema\n"
	        "s = json.load(open(sys.argv[1]))\n"
	        "jsonschema.Draft202012Validator.check_schema(s)\n"
	        "v = jsonschema.Draft202012Validator(s)\n"
	        "for f in sys.argv[2:]:\n"
	        "    e = list(v.iter_errors(yaml.safe_load(open(f))))\n"
	        "    assert not e, (f, e[0].message)\n"
	        "' '%s/docs/scenario-schema.json' '%s'*.yaml '%s/scenarios/quickstart.yaml'",
	        SOURCE_DIR, GOOD_DIR, SOURCE_DIR),
	    0, "the schema refused a good file");
	/* and it catches a near-miss key */
	cr_assert_neq(
	    shell_status("python3 -c '\n"
	                 "import json, sys, jsonschema\n"
	                 "jsonschema.validate({\"name\": \"x\", \"regions\": {}, \"nodes\": [], "
	                 "\"duraton\": \"1s\"}, json.load(open(sys.argv[1])))\n"
	                 "' '%s/docs/scenario-schema.json' 2>/dev/null",
	                 SOURCE_DIR),
	    0);
}

/* ---- REL-5: hostile documents are refused in bounded memory and time ---- */

#if defined(__SANITIZE_ADDRESS__)
#define REL5_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL5_ASAN 1
#endif
#endif
#ifdef REL5_ASAN
#define REL5_SLOWER 3 /* the sanitizer build runs about 3x slower */
#else
#define REL5_SLOWER 1
#endif

/* Loads `text` in a child process limited to 512 MiB more address space
 * than it already has (not under the address sanitizer, which reserves
 * terabytes up front) and to `secs` seconds, and expects `msg` among the
 * errors: a loader that blows up fails the test, not the machine. */
static void expect_bounded_error(const char *text, size_t len, unsigned secs, const char *msg)
{
	int status;

	fflush(NULL);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
#ifndef REL5_ASAN
		unsigned long pages = 0;
		FILE *f = fopen("/proc/self/statm", "r");
		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(3);
		fclose(f);
		rlim_t as = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (512ul << 20);
		struct rlimit rl = {.rlim_cur = as, .rlim_max = as};
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
#endif
		alarm(secs * REL5_SLOWER);
		struct scenario *sc;
		struct scenario_diags d;
		int err = scenario_load_text(text, len, "h.yaml", &sc, &d);
		if (err != -EINVAL || !has_diag(&d, msg)) {
			fprintf(stderr, "  load returned %d\n", err);
			dump(&d);
			_exit(1);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(!WIFSIGNALED(status), "the loader was killed by signal %d (%s): expected %s",
	          WTERMSIG(status),
	          WTERMSIG(status) == SIGALRM ? "it took longer than the time bound"
	                                      : "it crashed or ran out of memory",
	          msg);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "the loader did not report (exit %d): %s", WEXITSTATUS(status), msg);
}

/* `n` copies of `open`, then `n` of `close`, between head and tail. */
static char *nested(const char *head, const char *open, const char *close, size_t n,
                    const char *tail)
{
	size_t lo = strlen(open), lc = strlen(close), lh = strlen(head);
	char *text = malloc(lh + n * (lo + lc) + strlen(tail) + 1), *p = text;

	cr_assert_not_null(text);
	memcpy(p, head, lh);
	p += lh;
	for (size_t i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	for (size_t i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	strcpy(p, tail);
	return text;
}

Test(scenario_limits, rel5_billion_laughs_is_refused_at_the_alias_that_passes_the_limit)
{
	size_t len;
	char *text = read_all(BAD_DIR "billion-laughs.yaml", &len);

	/* unfixed: the policy's JSON grew to gigabytes before its 1 MiB check */
	expect_bounded_error(text, len, 20,
	                     "h.yaml:13:20: alias '*a5' expands the document past the limit of "
	                     "2000000 nodes");
	free(text);
}

Test(scenario_limits, rel5_deep_nesting_is_refused_while_parsing)
{
	/* 100,000 nested flow collections: unfixed, libyaml's scanner took
	 * quadratic time (over 30 s) before anything was checked */
	char *seqs = nested("name: h\npolicy: {x: ", "[", "]", 100000, "}\n");
	expect_bounded_error(seqs, strlen(seqs), 10,
	                     "h.yaml:2:75: mappings and sequences nest more than 64 deep");
	free(seqs);
	char *maps = nested("name: h\npolicy: ", "{a: ", "}", 100000, "\n");
	expect_bounded_error(maps, strlen(maps), 10,
	                     "h.yaml:2:261: mappings and sequences nest more than 64 deep");
	free(maps);
}

Test(scenario_limits, rel5_alias_uses_at_most_10000)
{
	char *text = repeat("name: h\nx: &a 1\ny: [", "*a, #%zu\n", 10001, "]\n");
	expect_bounded_error(text, strlen(text), 10, "h.yaml:10003:1: more than 10000 alias uses");
	free(text);
}

Test(scenario_limits, rel5_anchors_at_most_1024_with_names_of_at_most_128_bytes)
{
	char *text = repeat("name: h\nx: [", "&a%zu 1,\n", 1025, "]\n");
	expect_bounded_error(text, strlen(text), 10, "h.yaml:1026:1: more than 1024 anchors");
	free(text);
	char name[200];
	memset(name, 'n', 129);
	name[129] = '\0';
	char *one = malloc(300);
	snprintf(one, 300, "name: h\nx: &%s 1\n", name);
	expect_bounded_error(one, strlen(one), 10,
	                     "h.yaml:2:4: anchor '&nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' is "
	                     "longer than 128 bytes");
	free(one);
}

Test(scenario_limits, rel5_alias_inside_the_node_it_names_is_a_cycle)
{
	/* unfixed: libyaml made the policy contain itself */
	static const char text[] = "name: h\npolicy: &p {groups: {group:g: [*p]}}\n";
	expect_bounded_error(text, strlen(text), 10,
	                     "h.yaml:2:32: alias '*p' is inside the node it names (line 2): a "
	                     "cycle");
}

Test(scenario_limits, rel5_expanded_text_at_most_16_mib)
{
	/* a 1 MiB scalar named 17 times */
	size_t big = 1u << 20;
	char *text = malloc(big + 200), *p = text;
	p += sprintf(p, "name: h\nx: &b ");
	memset(p, 'x', big);
	p += big;
	p += sprintf(p, "\ny: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n");
	expect_bounded_error(text, (size_t)(p - text), 10,
	                     "h.yaml:3:61: alias '*b' expands the document past the limit of "
	                     "16777216 bytes of text");
	free(text);
}

/* 2,000,000 YAML nodes take 10 s under the sanitizer: tested in the normal
 * build only (left out, not skipped, so that no skip hides in the count). */
#ifndef REL5_ASAN
Test(scenario_limits, rel5_document_nodes_at_most_2000000)
{
	char *text = nested("name: h\nx: [", "a,", "", 2000000, "]\n");
	expect_bounded_error(text, strlen(text), 20,
	                     "h.yaml:2:3999995: the document passes the limit of 2000000 nodes");
	free(text);
}
#endif

Test(scenario_limits, rel5_text_larger_than_16_mib_is_refused_before_parsing)
{
	size_t len = SCENARIO_FILE_MAX + 1;
	char *text = malloc(len);
	struct scenario *sc;
	struct scenario_diags d;

	memset(text, '#', len);
	cr_assert_eq(scenario_load_text(text, len, "big.yaml", &sc, &d), -EFBIG);
	cr_assert_null(sc);
	cr_assert_str_eq(d.items[0].text, "big.yaml: file is larger than 16777216 bytes");
	free(text);
}

Test(scenario_limits, rel5_policy_size_is_checked_while_aliases_expand)
{
	/* a 100 KB member named 11 times: refused once the JSON passes 1 MiB,
	 * before the rest is converted */
	size_t big = 100000;
	char *text = malloc(big + 300), *p = text;
	p += sprintf(p, "name: h\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                "policy:\n  groups: {group:a: [&b \"");
	memset(p, 'x', big);
	p += big;
	p += sprintf(p, "\"], group:c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}\n");
	expect_bounded_error(text, (size_t)(p - text), 10,
	                     "h.yaml:4:1: policy is more than 1048576 bytes as JSON");
	free(text);
}

Test(scenario_limits, rel5_node_references_are_looked_up_not_scanned)
{
	/* 100,000 nodes and 10,000 timeline references to the last one:
	 * unfixed, each reference scanned every node (over 20 s) */
	char *nodes = repeat("name: h\nduration: 60s\nregions: {r: {}}\nnodes:\n",
	                     "  - {name: node-with-a-long-common-prefix-%zu, region: r}\n", 100000,
	                     "timeline:\n");
	char *refs = repeat("", "  - {at: 1s, crash: node-with-a-long-common-prefix-99999} #%zu\n",
	                    10000, "");
	size_t ln = strlen(nodes), lr = strlen(refs);
	char *text = malloc(ln + lr + 1);
	memcpy(text, nodes, ln);
	memcpy(text + ln, refs, lr + 1);
	/* the second crash of a node already down: every reference resolved */
	expect_bounded_error(text, ln + lr, 10,
	                     "h.yaml:100007:14: crash of 'node-with-a-long-common-prefix-99999' at "
	                     "1s, which is already down (crashed at line 100006)");
	free(nodes);
	free(refs);
	free(text);
}

Test(scenario_limits, rel5_from_at_most_128_bytes)
{
	char from[200];
	memset(from, '?', 129);
	from[129] = '\0';
	char *text = malloc(400);
	snprintf(text, 400,
	         "name: h\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	         "workloads: [{name: w, from: \"%s\", to: n.example.ts.net:80}]\n",
	         from);
	expect_bounded_error(text, strlen(text), 10,
	                     "h.yaml:4:29: from '????????????????????????????????????????...' is "
	                     "longer than 128 bytes");
	free(text);
}

Test(scenario_limits, rel5_globs_test_at_most_4000000_node_names)
{
	/* a glob other than NAME or NAME* is tested against every node: 40
	 * workloads over 100,000 nodes spend the budget, the 41st is refused
	 * (unfixed: 1024 hostile globs took a minute) */
	char *text =
	    repeat("name: h\nregions: {r: {}}\nnodes: [{name: n, region: r, count: "
	           "100000}]\nworkloads:\n",
	           "  - {name: w%zu, from: \"n-1?\", to: n-0.example.ts.net:80}\n", 41, "");
	expect_bounded_error(
	    text, strlen(text), 10,
	    "h.yaml:45:23: from 'n-1?': globs would test more than 4000000 node "
	    "names in all (a glob other than NAME or NAME* is tested against every "
	    "node)");
	free(text);
}

Test(scenario_limits, rel5_workload_clients_at_most_1000000)
{
	/* unfixed, simrun allocated 1024 x 100,000 clients (and 4096
	 * connections each) from a 100 KB file. NAME* globs are counted
	 * without a scan: 9 x 100,000 + 9 x 11,111 (n-1, n-10..n-19, ...)
	 * is 999,999; the next n-1* passes the limit. */
	char *all = repeat("name: h\nduration: 60s\nregions: {r: {}}\nnodes: [{name: n, region: r, "
	                   "count: 100000}]\nworkloads:\n",
	                   "  - {name: a%zu, from: \"n-*\", to: n-0.example.ts.net:80}\n", 9, "");
	char *some =
	    repeat(all, "  - {name: b%zu, from: \"n-1*\", to: n-0.example.ts.net:80}\n", 10, "");
	expect_bounded_error(
	    some, strlen(some), 10,
	    "h.yaml:24:22: workloads have more than 1000000 clients in all with this "
	    "one (it adds 11111)");
	free(all);
	free(some);
	static const char streams[] =
	    "name: h\nduration: 60s\nregions: {r: {}}\nnodes: [{name: n, region: r, count: 1000}]\n"
	    "workloads: [{name: s, from: \"n-*\", to: n-0.example.ts.net:80, kind: tcp-stream, "
	    "connections: 1001}]\n";
	expect_bounded_error(
	    streams, strlen(streams), 10,
	    "h.yaml:5:29: workloads have more than 1000000 clients in all with this "
	    "one (it adds 1001000: one per connection)");
}

Test(scenario_limits, rel5_near_misses_are_found_in_linear_time_among_long_names)
{
	/* the did-you-mean looks only near the diagonal: still exact */
	static const char text[] =
	    "name: h\nregions: {r: {}}\nnodes:\n"
	    "  - {name: a-very-long-node-name-that-shares-a-long-prefix-with-another, region: r}\n"
	    "  - {name: a-very-long-node-name-that-shares-a-long-prefix-with-anothe2, region: r}\n"
	    "timeline: [{at: 1s, crash: "
	    "a-very-long-node-nme-that-shares-a-long-prefix-with-anothr}]\n";
	expect_bounded_error(
	    text, strlen(text), 10,
	    "h.yaml:6:28: crash: unknown node "
	    "'a-very-long-node-nme-that-shares-a-long-prefix-with-anothr' (did you "
	    "mean 'a-very-long-node-name-that-shares-a-long-prefix-with-another'?)");
}

/* ---- a node's files (project-added key) ---- */

/* A one-node scenario whose node has `files:` followed by `entries` (lines
 * indented six spaces; the first entry is line 7). */
static int load_files(const char *entries, struct scenario **sc, struct scenario_diags *d)
{
	static char text[1 << 16];
	snprintf(text, sizeof(text),
	         "name: f\nregions: {r: {}}\nnodes:\n  - name: n\n    region: r\n    files:\n%s",
	         entries);
	return load(text, "f.yaml", sc, d);
}

static void expect_files_error(const char *entries, const char *expected)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load_files(entries, &sc, &d);

	if (!has_diag(&d, expected))
		dump(&d);
	cr_assert_eq(err, -EINVAL, "loaded: %s", entries);
	cr_assert_null(sc);
	cr_assert(has_diag(&d, expected), "expected diagnostic not found: %s", expected);
}

Test(scenario_files, text_and_generated_files_load_with_their_bytes)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;

	cr_assert_eq(load_files("      /srv/www/index.html: \"<h1>hi</h1>\\n\"\n"
	                        "      /srv/www/data/big.bin: {size: 130B}\n"
	                        "      /empty: \"\"\n",
	                        &sc, &d),
	             0);
	const struct scenario_node_group *g = &sc->groups[0];
	cr_assert_eq(g->n_files, 3);
	cr_assert_str_eq(g->files[0].path, "/srv/www/index.html");
	cr_assert_eq(g->files[0].size, 12);
	cr_assert_eq(g->files[0].line, 7);
	uint8_t buf[130];
	scenario_file_bytes(&g->files[0], buf);
	cr_assert(!memcmp(buf, "<h1>hi</h1>\n", 12));
	cr_assert_null(g->files[1].content);
	cr_assert_eq(g->files[1].size, 130);
	scenario_file_bytes(&g->files[1], buf);
	cr_assert(
	    !memcmp(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+\n", 64));
	cr_assert(!memcmp(buf + 64, buf, 64));
	cr_assert(!memcmp(buf + 128, "ab", 2));
	cr_assert_eq(g->files[2].size, 0);
	scenario_free(sc);
}

Test(scenario_files, paths_must_be_absolute_and_clean)
{
	expect_files_error("      srv/a.txt: hi\n",
	                   "f.yaml:7:7: file path 'srv/a.txt' is not absolute (it must start "
	                   "with '/')");
	expect_files_error("      /srv/../etc/passwd: hi\n",
	                   "f.yaml:7:7: file path '/srv/../etc/passwd' has a '..' part (a path "
	                   "may not climb)");
	expect_files_error("      /..: hi\n",
	                   "f.yaml:7:7: file path '/..' has a '..' part (a path may not climb)");
	expect_files_error("      /srv/./a: hi\n",
	                   "f.yaml:7:7: file path '/srv/./a' has a '.' part");
	expect_files_error("      /srv//a: hi\n",
	                   "f.yaml:7:7: file path '/srv//a' has an empty part ('//')");
	expect_files_error("      /srv/: hi\n",
	                   "f.yaml:7:7: file path '/srv/' ends with '/' (a directory)");
	expect_files_error("      /: hi\n",
	                   "f.yaml:7:7: file path '/' names the root directory, not a file");
	expect_files_error("      ? [a]\n      : hi\n",
	                   "f.yaml:7:9: expected a file path, got a sequence");
}

Test(scenario_files, path_at_most_255_bytes)
{
	char entries[400], expected[300], name[300];

	memset(name, 'a', 254);
	name[254] = '\0';
	snprintf(entries, sizeof(entries), "      /%s: hi\n", name); /* 255 bytes: fine */
	struct scenario *sc = NULL;
	struct scenario_diags d;
	cr_assert_eq(load_files(entries, &sc, &d), 0);
	scenario_free(sc);
	snprintf(entries, sizeof(entries), "      /%sa: hi\n", name);
	snprintf(expected, sizeof(expected),
	         "f.yaml:7:7: file path '/%.79s...' is longer than 255 bytes", name);
	expect_files_error(entries, expected);
}

Test(scenario_files, at_most_32_files_counted_before_any_is_loaded)
{
	char entries[4096];
	size_t n = 0;

	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(entries + n, sizeof(entries) - n, "      /f%d: x\n", i);
	expect_files_error(entries, "f.yaml:7:7: too many files: 33 (max 32)");
}

Test(scenario_files, a_path_is_one_file_not_a_file_and_a_directory)
{
	expect_files_error("      /a: x\n      /a: y\n",
	                   "f.yaml:8:7: duplicate file '/a' (first at line 7)");
	expect_files_error("      /a: x\n      /a/b: y\n",
	                   "f.yaml:8:7: file '/a/b' lies under '/a' (line 7), which is a file");
	expect_files_error("      /a/b: x\n      /a: y\n",
	                   "f.yaml:8:7: file '/a' is the directory of '/a/b' (line 7)");
}

Test(scenario_files, value_is_text_or_a_size)
{
	expect_files_error("      /a:\n",
	                   "f.yaml:7:10: expected the text of file '/a' or {size: N}, got nothing");
	expect_files_error(
	    "      /a: [x]\n",
	    "f.yaml:7:11: expected the text of file '/a' or {size: N}, got a sequence");
	expect_files_error("      /a: {sise: 1KB}\n",
	                   "f.yaml:7:12: unknown key 'sise' in file (did you mean 'size'?)");
	expect_files_error("      /a: {size: 200MB}\n",
	                   "f.yaml:7:18: size 200MB is out of range (max 100MB)");
	expect_files_error(
	    "      /a: {size: 1 MiB}\n",
	    "f.yaml:7:18: size: bad unit ' MiB' in size '1 MiB' (expected B, KB, MB, KiB or MiB)");
	struct scenario *sc = NULL;
	struct scenario_diags d;
	cr_assert_eq(load("name: f\nregions: {r: {}}\nnodes: [{name: n, region: r, files: [/a]}]\n",
	                  "f.yaml", &sc, &d),
	             -EINVAL);
}

Test(scenario_files, bytes_at_most_16mib_per_node_and_256mib_in_all_checked_before_making_them)
{
	expect_files_error("      /big: {size: 17MiB}\n",
	                   "f.yaml:7:13: file '/big' brings this node's files to 17825792 bytes "
	                   "(max 16MiB per node)");
	expect_files_error("      /a: {size: 10MiB}\n      /b: {size: 7MiB}\n",
	                   "f.yaml:8:11: file '/b' brings this node's files to 17825792 bytes "
	                   "(max 16MiB per node)");
	struct scenario *sc = NULL;
	struct scenario_diags d;
	cr_assert_eq(load("name: f\nregions: {r: {}}\nnodes:\n"
	                  "  - {name: n, region: r, count: 16, files: {/a: {size: 16MiB}}}\n"
	                  "  - {name: m, region: r, files: {/a: {size: 1B}}}\n",
	                  "f.yaml", &sc, &d),
	             -EINVAL);
	cr_assert(has_diag(&d, "f.yaml:5:38: file '/a' brings the files of every node to "
	                       "268435457 bytes after count (max 256MiB)"));
}

/* ---- the explore section (EXP-1) ---- */

static const char explore_head[] = "name: ex\nduration: 60s\nregions: {a: {}, b: {}}\n"
                                   "links: [{between: [a, b], latency: 10ms}]\n"
                                   "nodes: [{name: n, region: a, count: 3}]\n";

/* Loads explore_head + body; returns the error code, diags filled. */
static int load_explore(const char *body, struct scenario **sc, struct scenario_diags *d)
{
	size_t n = strlen(explore_head) + strlen(body) + 1;
	char *text = malloc(n);

	snprintf(text, n, "%s%s", explore_head, body);
	int err = load(text, "e.yaml", sc, d);
	free(text);
	return err;
}

static void expect_explore_error(const char *body, const char *msg)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load_explore(body, &sc, &d);

	if (!has_diag(&d, msg))
		dump(&d);
	cr_assert_eq(err, -EINVAL);
	cr_assert_null(sc);
	cr_assert(has_diag(&d, msg), "expected: %s", msg);
}

Test(scenario_explore, exp_1_menu_loads_with_rates_durations_and_defaults)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load_explore("explore:\n"
	                       "  faults:\n"
	                       "    - {kind: crash, rate: 2, min: 2s, max: 5s}\n"
	                       "    - {kind: partition, rate: 1}\n"
	                       "    - {kind: link, rate: 3}\n"
	                       "    - {kind: control-crash, rate: 1, max: 3s}\n"
	                       "  quiet_tail: 10s\n"
	                       "  max_faults: 7\n",
	                       &sc, &d);
	if (err)
		dump(&d);
	cr_assert_eq(err, 0);
	const struct scenario_explore *ex = &sc->explore;
	cr_assert(ex->present);
	cr_assert_eq(ex->n_faults, 4);
	cr_assert_eq(ex->faults[0].kind, SCENARIO_FAULT_CRASH);
	cr_assert_eq(ex->faults[0].rate_per_min, 2);
	cr_assert_eq(ex->faults[0].min_us, 2000000);
	cr_assert_eq(ex->faults[0].max_us, 5000000);
	cr_assert_eq(ex->faults[1].kind, SCENARIO_FAULT_PARTITION);
	cr_assert_eq(ex->faults[1].min_us, 1000000);
	cr_assert_eq(ex->faults[1].max_us, 10000000);
	cr_assert_eq(ex->faults[2].kind, SCENARIO_FAULT_LINK);
	cr_assert_eq(ex->faults[3].kind, SCENARIO_FAULT_CONTROL_CRASH);
	cr_assert_eq(ex->quiet_tail_us, 10000000);
	cr_assert_eq(ex->max_faults, 7);
	cr_assert_eq(ex->settle_us, 5000000, "settle defaults to 5s");
	cr_assert_str_eq(scenario_fault_kind_name(SCENARIO_FAULT_CONTROL_CRASH), "control-crash");
	scenario_free(sc);
}

Test(scenario_explore, exp_1_absent_section_is_not_present)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	cr_assert_eq(load_explore("", &sc, &d), 0);
	cr_assert_not(sc->explore.present);
	scenario_free(sc);
}

Test(scenario_explore, exp_1_misspelt_key_suggests_the_near_miss)
{
	expect_explore_error("explore:\n  faults: [{kind: crash, rate: 1}]\n  quiet_tial: 1s\n",
	                     "e.yaml:8:3: unknown key 'quiet_tial' in explore "
	                     "(did you mean 'quiet_tail'?)");
}

Test(scenario_explore, exp_1_unknown_fault_kind_lists_the_kinds)
{
	char kinds[1024], msg[1200];

	snprintf(msg, sizeof(msg),
	         "e.yaml:7:19: unknown fault kind 'crsh' (expected %s; did you mean 'crash'?)",
	         fault_words_list(kinds, sizeof(kinds)));
	cr_assert(strstr(kinds, "crash, partition, link, control-crash") == kinds);
	expect_explore_error("explore:\n  faults: [{kind: crsh, rate: 1}]\n", msg);
}

Test(scenario_explore, exp_1_a_kind_twice_is_refused)
{
	expect_explore_error("explore:\n  faults: [{kind: link, rate: 1}, {kind: link, rate: 2}]\n",
	                     "e.yaml:7:42: fault kind 'link' is on the menu twice");
}

Test(scenario_explore, exp_1_rate_out_of_range_is_refused)
{
	expect_explore_error("explore:\n  faults: [{kind: crash, rate: 601}]\n",
	                     "e.yaml:7:32: rate must be between 1 and 600, got 601");
}

Test(scenario_explore, exp_1_min_above_max_is_refused)
{
	expect_explore_error("explore:\n  faults: [{kind: crash, rate: 1, min: 5s, max: 2s}]\n",
	                     "e.yaml:7:40: min must be more than 0 and at most max");
}

Test(scenario_explore, exp_1_quiet_tail_must_leave_time_for_faults)
{
	expect_explore_error("explore:\n  faults: [{kind: crash, rate: 1}]\n  quiet_tail: 60s\n",
	                     "e.yaml:8:15: quiet_tail must be less than the duration");
}

Test(scenario_explore, exp_2_settle_is_read_and_must_be_less_than_the_duration)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err =
	    load_explore("explore:\n  faults: [{kind: crash, rate: 1}]\n  settle: 3s\n", &sc, &d);
	if (err)
		dump(&d);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->explore.settle_us, 3000000);
	scenario_free(sc);
	expect_explore_error("explore:\n  faults: [{kind: crash, rate: 1}]\n  settle: 60s\n",
	                     "e.yaml:8:11: settle must be more than 0 and less than the duration");
}

Test(scenario_explore, exp_1_more_entries_than_kinds_is_refused_before_work)
{
	char body[2048], msg[128];
	size_t n = (size_t)snprintf(body, sizeof(body), "explore:\n  faults: [");

	for (int i = 0; i <= SCENARIO_FAULT_KINDS; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{kind: crash, rate: 1}",
		                      i ? ", " : "");
	snprintf(body + n, sizeof(body) - n, "]\n");
	snprintf(msg, sizeof(msg), "e.yaml:7:11: faults must list 1..%d kinds, got %d",
	         SCENARIO_FAULT_KINDS, SCENARIO_FAULT_KINDS + 1);
	expect_explore_error(body, msg);
}

Test(scenario_explore, exp_1_link_faults_need_a_link)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	const char *text = "name: ex\nregions: {a: {}}\nnodes: [{name: n, region: a}]\n"
	                   "explore:\n  faults: [{kind: link, rate: 1}]\n";
	cr_assert_eq(load(text, "e.yaml", &sc, &d), -EINVAL);
	if (!has_diag(&d, "e.yaml:5:19: link faults need at least one link"))
		dump(&d);
	cr_assert(has_diag(&d, "e.yaml:5:19: link faults need at least one link"));
}

/* ---- expectation windows and forms: from/to, throughout, eventually (EXP-2) ---- */

/* failover-without-after.yaml's world, 60 s, and an expect section. */
static const char forms_head[] =
    "name: t\nduration: 60s\nregions: {us-east: {}, eu-west: {}}\n"
    "links: [{between: [us-east, eu-west], latency: 40ms}]\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy: {tagOwners: {tag:web: [alice@example.com]}}\n"
    "services: [{name: svc:web, ports: [tcp:443], tags: [tag:web]}]\n"
    "nodes: [{name: web-us, region: us-east, tags: [tag:web]}, {name: client, region: eu-west}]\n"
    "workloads: [{name: browse, from: client, to: web.example.ts.net:443}]\n"
    "expect:\n";

static int load_forms(const char *body, struct scenario **sc, struct scenario_diags *d)
{
	size_t n = strlen(forms_head) + strlen(body) + 1;
	char *text = malloc(n);

	snprintf(text, n, "%s%s", forms_head, body);
	int err = load(text, "f.yaml", sc, d);
	free(text);
	return err;
}

static void expect_forms_error(const char *body, const char *msg)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load_forms(body, &sc, &d);

	if (!has_diag(&d, msg))
		dump(&d);
	cr_assert_eq(err, -EINVAL);
	cr_assert_null(sc);
	cr_assert(has_diag(&d, msg), "expected: %s", msg);
}

Test(scenario_expect_forms, exp_2_windows_and_forms_load_on_rates_and_percentiles)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load_forms(
	    "  - {workload: browse, success_rate: \">= 99%\", p99: \"< 1s\", from: 10s, to: 20s}\n"
	    "  - {workload: browse, success_rate: \"== 100%\", throughout: {window: 2s}}\n"
	    "  - {workload: browse, p50: \"< 100ms\", eventually: {after: 30s, within: 5s, "
	    "window: 500ms}}\n"
	    "  - {workload: browse, max: \"< 2s\", eventually: {after: last-heal, within: 10s, "
	    "window: 1s}, to: 50s}\n"
	    "  - {workload: browse, p90: \"< 1s\", eventually: {within: 5s, window: 1s}}\n",
	    &sc, &d);

	if (err)
		dump(&d);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->n_expects, 6);
	const struct expect *e = sc->expects;
	cr_assert_eq(e[0].kind, EXPECT_SUCCESS_RATE);
	cr_assert_eq(e[0].form, EXPECT_WHOLE);
	cr_assert_eq(e[0].from_us, 10000000);
	cr_assert_eq(e[0].to_us, 20000000);
	cr_assert_str_eq(e[0].text,
	                 "browse success_rate >= 99% for requests started in [10s, 20s)");
	cr_assert_eq(e[1].kind, EXPECT_LATENCY);
	cr_assert_eq(e[1].from_us, 10000000);
	cr_assert_eq(e[2].form, EXPECT_THROUGHOUT);
	cr_assert_eq(e[2].window_us, 2000000);
	cr_assert_eq(e[2].to_us, UINT64_MAX);
	cr_assert_str_eq(e[2].text, "browse success_rate == 100% throughout (2s windows)");
	cr_assert_eq(e[3].form, EXPECT_EVENTUALLY);
	cr_assert_eq(e[3].after_us, 30000000);
	cr_assert_eq(e[3].within_us, 5000000);
	cr_assert_eq(e[3].window_us, 500000);
	cr_assert_not(e[3].after_last_heal);
	cr_assert_str_eq(e[3].text,
	                 "browse p50 < 100ms eventually within 5s after 30s (0.5s windows)");
	cr_assert(e[4].after_last_heal);
	cr_assert_eq(e[4].to_us, 50000000);
	cr_assert_str_eq(e[4].text, "browse max < 2s for requests started in [0s, 50s) eventually "
	                            "within 10s after last-heal (1s windows)");
	cr_assert_eq(e[5].form, EXPECT_EVENTUALLY, "after defaults to 0s");
	cr_assert_eq(e[5].after_us, 0);
	cr_assert_not(e[5].after_last_heal);
	scenario_free(sc);
}

Test(scenario_expect_forms, exp_2_near_miss_keys_get_did_you_mean)
{
	expect_forms_error(
	    "  - {workload: browse, success_rate: \"== 100%\", throughut: {window: 1s}}\n",
	    "f.yaml:11:49: unknown key 'throughut' in expectation (did you mean "
	    "'throughout'?)");
	expect_forms_error(
	    "  - {workload: browse, success_rate: \"== 100%\", throughout: {windw: 1s}}\n",
	    "f.yaml:11:62: unknown key 'windw' in throughout (did you mean 'window'?)");
	expect_forms_error(
	    "  - {workload: browse, success_rate: \"== 100%\", "
	    "eventually: {within: 1s, window: 1s, afer: 2s}}\n",
	    "f.yaml:11:86: unknown key 'afer' in eventually (did you mean 'after'?)");
	expect_forms_error("  - {workload: browse, success_rate: \"== 100%\", "
	                   "eventually: {within: 1s, window: 1s, after: last-heel}}\n",
	                   "f.yaml:11:93: after: expected a time like 20s or last-heal, got "
	                   "'last-heel' (did you mean 'last-heal'?)");
	expect_forms_error(
	    "  - {workload: browse, success_rate: \"== 100%\", eventually: {window: 1s}}\n",
	    "f.yaml:11:61: missing required key 'within' in eventually");
}

Test(scenario_expect_forms, exp_2_bad_windows_are_precise_errors)
{
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", from: 20s, to: 10s}\n",
	                   "f.yaml:11:52: to 10s is before from 20s");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", from: 20s, to: 20s}\n",
	                   "f.yaml:11:52: to 20s equals from: the window [from, to) is empty");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", to: 70s}\n",
	                   "f.yaml:11:41: to 70s is after the end of the run (duration 60s)");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", throughout: {window: 0s}}\n",
	                   "f.yaml:11:58: throughout window must be longer than 0s");
	expect_forms_error(
	    "  - {workload: browse, p99: \"< 1s\", from: 50s, throughout: {window: 20s}}\n",
	    "f.yaml:11:69: throughout window 20s is longer than the 10s it judges (50s to 60s)");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", throughout: {window: 100us}}\n",
	                   "f.yaml:11:58: throughout window 100us cuts 60s into 600000 windows "
	                   "(max 100000)");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", "
	                   "eventually: {after: 50s, within: 20s, window: 1s}}\n",
	                   "f.yaml:11:70: eventually within 20s after 50s ends past the span "
	                   "judged (60s)");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", to: 30s, "
	                   "eventually: {after: 30s, within: 0s, window: 1s}}\n",
	                   "f.yaml:11:66: eventually after 30s leaves no time to judge (the span "
	                   "ends at 30s)");
}

Test(scenario_expect_forms, exp_2_forms_go_with_rates_and_one_at_a_time)
{
	expect_forms_error("  - {workload: browse, failover_time: \"< 1s\", after: 5s, from: 1s}\n",
	                   "f.yaml:11:58: 'from' goes with new_connections, resets, success_rate "
	                   "or a percentile");
	expect_forms_error("  - {workload: browse, resets: 0, throughout: {window: 1s}}\n",
	                   "f.yaml:11:35: 'throughout' needs success_rate or a percentile (p50 .. "
	                   "max)");
	expect_forms_error(
	    "  - {workload: browse, p99: \"< 1s\", resets: 0, throughout: {window: 1s}}\n",
	    "f.yaml:11:37: 'resets' cannot share an entry with 'throughout' (give it its own "
	    "entry)");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", throughout: {window: 1s}, "
	                   "eventually: {within: 1s, window: 1s}}\n",
	                   "f.yaml:11:63: 'eventually' and 'throughout' exclude each other");
	expect_forms_error("  - {workload: browse, p99: \"< 1s\", from: 5s, "
	                   "eventually: {within: 1s, window: 1s}}\n",
	                   "f.yaml:11:37: 'from' does not go with eventually (its windows start "
	                   "at its 'after')");
	expect_forms_error("  - {node: web-us, new_connections: 0, throughout: {window: 1s}}\n",
	                   "f.yaml:11:40: 'throughout' does not apply to a new_connections "
	                   "expectation");
}

/* `invariant:` names one of explore's invariants or all (EXP-2); a near miss
 * is answered with the name meant. */
Test(scenario_errors, exp_2_invariant_expectation_names_a_known_invariant)
{
	static const char base[] = "name: i\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	                           "expect:\n  - {invariant: %s}\n";
	char text[512];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	snprintf(text, sizeof(text), base, "all");
	cr_assert_eq(load(text, "i.yaml", &sc, &d), 0);
	cr_assert_eq(sc->expects[0].kind, EXPECT_INVARIANT);
	cr_assert_eq(sc->expects[0].invariants, (1u << SCENARIO_INVARIANTS) - 1);
	scenario_free(sc);
	snprintf(text, sizeof(text), base, "recovrey");
	cr_assert_neq(load(text, "i.yaml", &sc, &d), 0);
	cr_assert(has_diag(&d, "i.yaml:5:17: unknown invariant 'recovrey' (expected grant-safety, "
	                       "eligible-safety, stream-integrity, admin-durable, request-outcome, "
	                       "reach, recovery, control-view, drain-completes, failover-time, "
	                       "keepalive-reset, control-outage or all; did you mean 'recovery'?)"),
	          "%s", d.count ? d.items[0].text : "");
	snprintf(text, sizeof(text),
	         "name: i\nregions: {r: {}}\nnodes: [{name: n, region: r}]\n"
	         "expect:\n  - {invariant: reach, at: 1s}\n");
	cr_assert_neq(load(text, "i.yaml", &sc, &d), 0);
	cr_assert_geq(d.count, 1);
	cr_assert(strstr(d.items[0].text, "'at' does not apply to a invariant expectation"), "%s",
	          d.items[0].text);
}
