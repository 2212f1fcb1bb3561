/* The scenario loader (sim/scenario.c) and the simrun command end to end.
 * Bad-scenario fixtures live in tests/sim/bad/; each test names the exact
 * diagnostic a user sees. */
#include "scenario.h"

#include <criterion/criterion.h>
#include <errno.h>
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

#define BAD_DIR    SOURCE_DIR "/tests/sim/bad/"
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

/* Loads tests/sim/bad/<fixture> (named by its bare file name in messages)
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

Test(scenario_errors, every_fixture_is_refused)
{
	/* Guards against a fixture that silently became valid. */
	static const char *const fixtures[] = {
	    "unknown-key.yaml",
	    "unknown-link-key.yaml",
	    "wrong-type.yaml",
	    "bad-unit.yaml",
	    "missing-unit.yaml",
	    "negative.yaml",
	    "count-zero.yaml",
	    "count-too-big.yaml",
	    "unknown-region.yaml",
	    "duplicate-node.yaml",
	    "duplicate-region.yaml",
	    "link-to-itself.yaml",
	    "missing-nodes.yaml",
	    "syntax-error.yaml",
	    "empty.yaml",
	    "loss-over-100.yaml",
	    "unsafe-name.yaml",
	    "not-integer.yaml",
	    "name-too-long.yaml",
	    "duplicate-key.yaml",
	    "bandwidth-case.yaml",
	    "too-many-nodes.yaml",
	    "duplicate-link.yaml",
	    "between-three.yaml",
	    "stop-after-duration.yaml",
	    "unimplemented-wrong-type.yaml",
	    "two-documents.yaml",
	};
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		char path[512];
		struct scenario *sc;
		struct scenario_diags d;
		snprintf(path, sizeof(path), BAD_DIR "%s", fixtures[i]);
		cr_assert_neq(scenario_load_file(path, &sc, &d), 0, "%s loaded", fixtures[i]);
	}
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

Test(scenario_good, contract_example_loads_with_warnings_for_later_keys)
{
	char path[512];
	size_t len;
	struct scenario *sc;
	struct scenario_diags d;

	/* The example of SCENARIO.md, kept as a fixture. */
	snprintf(path, sizeof(path), SOURCE_DIR "/tests/sim/good/contract-example.yaml");
	char *text = read_all(path, &len);
	cr_assert_eq(scenario_load_text(text, len, "c.yaml", &sc, &d), 0);
	cr_assert_eq(d.errors, 0);
	cr_assert_eq(d.count, 7);
	cr_assert(has_diag(&d, "c.yaml:25:1: warning: key 'control' is not implemented yet by "
	                       "this simrun version; ignored"));
	cr_assert_eq(sc->node_count, 102);
	cr_assert_eq(sc->seed, 42);
	cr_assert_eq(sc->duration_us, 60000000);
	cr_assert_str_eq(sc->groups[0].tags_json, "[\"tag:web\"]");
	cr_assert_str_eq(sc->groups[2].user, "bob@example.com");
	cr_assert_str_eq(sc->groups[1].serve_json,
	                 "[\"serve --service=svc:web --https=443 8080\"]");
	cr_assert_str_eq(sc->groups[1].backends_json,
	                 "[{\"listen\":\"127.0.0.1:8080\",\"kind\":\"http\"}]");
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

/* Runs a shell command; returns its exit status (or -1). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4096];
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
	snprintf(buf, len, "/tmp/test_scenario.XXXXXX");
	cr_assert_not_null(mkdtemp(buf));
}

static void simrun_quickstart(const char *out, unsigned seed)
{
	int st = run("'%s' --quiet --seed %u --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'",
	             SIMRUN_PATH, seed, out, QUICKSTART, out, out);
	if (st != 0)
		run("cat '%s/stderr' >&2", out);
	cr_assert_eq(st, 0, "simrun exited %d", st);
}

Test(simrun, quickstart_runs_and_writes_ok_requests, .timeout = 120)
{
	char out[64], path[256];
	size_t len;

	tmpdir(out, sizeof(out));
	simrun_quickstart(out, 1);
	snprintf(path, sizeof(path), "%s/reports/quickstart/events.jsonl", out);
	char *text = read_all(path, &len);
	cr_assert_gt(len, 0);
	cr_assert_not_null(strstr(text, "\"type\":\"rr_done\""));
	cr_assert_not_null(strstr(text, "\"outcome\":\"ok\""));
	free(text);
	snprintf(path, sizeof(path), "%s/pcaps/quickstart/client-0-underlay.pcap", out);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "no %s", path);
	cr_assert_gt(st.st_size, 24);
	run("rm -rf '%s'", out);
}

Test(simrun, same_seed_gives_identical_events_and_pcaps, .timeout = 240)
{
	char a[64], b[64];

	tmpdir(a, sizeof(a));
	tmpdir(b, sizeof(b));
	simrun_quickstart(a, 7);
	simrun_quickstart(b, 7);
	cr_assert_eq(run("cmp -s '%s/reports/quickstart/events.jsonl' "
	                 "'%s/reports/quickstart/events.jsonl'",
	                 a, b),
	             0, "events.jsonl differ");
	cr_assert_eq(run("diff -r -q '%s/pcaps' '%s/pcaps' >/dev/null", a, b), 0, "pcaps differ");
	cr_assert_eq(run("ls '%s/pcaps/quickstart/' | grep -c underlay.pcap | grep -qx 8", a), 0,
	             "expected 8 pcaps");
	run("rm -rf '%s' '%s'", a, b);
}

Test(simrun, different_seed_gives_different_events, .timeout = 240)
{
	char a[64], b[64];

	tmpdir(a, sizeof(a));
	tmpdir(b, sizeof(b));
	simrun_quickstart(a, 1);
	simrun_quickstart(b, 2);
	cr_assert_neq(run("cmp -s '%s/reports/quickstart/events.jsonl' "
	                  "'%s/reports/quickstart/events.jsonl'",
	                  a, b),
	              0, "events.jsonl are identical across seeds");
	run("rm -rf '%s' '%s'", a, b);
}

Test(simrun, tshark_reads_every_pcap, .timeout = 120)
{
	char out[64];

	if (run("command -v tshark >/dev/null 2>&1") != 0)
		cr_skip_test("tshark is not installed");
	tmpdir(out, sizeof(out));
	simrun_quickstart(out, 1);
	cr_assert_eq(run("set -e; n=0; for f in '%s'/pcaps/quickstart/*.pcap; do "
	                 "tshark -r \"$f\" -c 1 >/dev/null 2>&1; n=$((n+1)); done; test $n -eq 8",
	                 out),
	             0, "tshark could not read a pcap");
	cr_assert_eq(run("tshark -r '%s/pcaps/quickstart/web-us-underlay.pcap' -Y 'tcp.port == "
	                 "7000' 2>/dev/null | grep -q TCP",
	                 out),
	             0, "no workload TCP in web-us's pcap");
	run("rm -rf '%s'", out);
}

Test(simrun, check_on_a_bad_file_exits_2_with_the_message)
{
	char out[64], path[256];
	size_t len;

	tmpdir(out, sizeof(out));
	int st = run("cd '%s' && '%s' --check unknown-region.yaml 2>'%s/stderr' >/dev/null",
	             BAD_DIR, SIMRUN_PATH, out);
	cr_assert_eq(st, 2);
	snprintf(path, sizeof(path), "%s/stderr", out);
	char *text = read_all(path, &len);
	cr_assert_str_eq(text, "unknown-region.yaml:7:13: unknown region 'us-eats' (did you mean "
	                       "'us-east'?)\n");
	free(text);
	run("rm -rf '%s'", out);
}

Test(simrun, check_on_a_good_file_exits_0_and_writes_nothing)
{
	char out[64];

	tmpdir(out, sizeof(out));
	cr_assert_eq(run("cd '%s' && '%s' --check '%s' >/dev/null", out, SIMRUN_PATH, QUICKSTART),
	             0);
	cr_assert_eq(run("test -z \"$(ls -A '%s')\"", out), 0, "--check wrote files");
	run("rm -rf '%s'", out);
}

Test(simrun, bad_option_prints_usage_and_exits_2)
{
	cr_assert_eq(run("'%s' --frobnicate x.yaml 2>&1 | grep -q '^usage: simrun'", SIMRUN_PATH),
	             0);
	cr_assert_eq(run("'%s' --frobnicate x.yaml >/dev/null 2>&1", SIMRUN_PATH), 2);
	cr_assert_eq(run("'%s' >/dev/null 2>&1", SIMRUN_PATH), 2);
	cr_assert_eq(run("'%s' --seed 0 '%s' >/dev/null 2>&1", SIMRUN_PATH, QUICKSTART), 2);
	cr_assert_eq(run("'%s' --help | grep -q -- '--pcap'", SIMRUN_PATH), 0);
}
