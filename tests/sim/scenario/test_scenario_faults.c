/* The scenario keys explore's fault kinds use (EXP-1): the kinds' needs
 * (an admin user, a host, a grant), the timeline's set-policy with the
 * policy itself, and their errors with the position and a did you mean. */
#include "sim/scenario/scenario.h"
#include "tests/support/fault_words.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Users bob (member) and alice (admin), a policy with one grant, two
 * nodes: web-0 and web-1 serve svc:web (and svc:db on port 81), c does
 * not. The body follows on line 13. */
static const char head[] =
    "name: f\nduration: 60s\nregions: {a: {}}\n"
    "users: {bob@example.com: {role: member}, alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com]}\n"
    "  grants: [{src: [\"*\"], dst: [svc:web], ip: [\"80\"]}]\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:web]}, "
    "{name: svc:db, ports: [tcp:81], tags: [tag:web]}]\n"
    "nodes:\n"
    "  - {name: web, region: a, count: 2, tags: [tag:web], serve: [serve --service=svc:web "
    "--http=80 127.0.0.1:8080, serve --service=svc:db --http=81 127.0.0.1:8081]}\n"
    "  - {name: c, region: a}\n"
    "underlay_workload: off\n";

static int load(const char *h, const char *body, struct scenario **sc, struct scenario_diags *d)
{
	size_t n = strlen(h) + strlen(body) + 1;
	char *text = malloc(n);

	snprintf(text, n, "%s%s", h, body);
	int err = scenario_load_text(text, strlen(text), "f.yaml", sc, d);
	free(text);
	return err;
}

static void expect_error_with(const char *h, const char *body, const char *msg)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	bool found = false;

	cr_assert_eq(load(h, body, &sc, &d), -EINVAL);
	cr_assert_null(sc);
	for (size_t i = 0; i < d.count; i++)
		found = found || !strcmp(d.items[i].text, msg);
	if (!found)
		scenario_diags_print(&d, stderr);
	cr_assert(found, "expected: %s", msg);
}

static void expect_error(const char *body, const char *msg)
{
	expect_error_with(head, body, msg);
}

Test(scenario_faults, exp_1_hosts_are_the_nodes_whose_serve_lines_advertise_a_service)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	struct scenario_host h[8];

	cr_assert_eq(load(head, "", &sc, &d), 0);
	cr_assert_eq(scenario_hosts(sc, h, 8), 4);
	cr_assert_eq(h[0].node, 0);
	cr_assert_str_eq(h[0].service, "svc:web");
	cr_assert_eq(h[1].node, 0);
	cr_assert_str_eq(h[1].service, "svc:db");
	cr_assert_eq(h[3].node, 1);
	cr_assert_str_eq(h[3].service, "svc:db");
	cr_assert_eq(scenario_hosts(sc, h, 1), 4, "counts beyond cap");
	cr_assert_eq(scenario_admin_user(sc), 1, "bob is a member: alice runs admin faults");
	cr_assert_eq(scenario_policy_grants(sc), 1);
	scenario_free(sc);
}

Test(scenario_faults, exp_1_menu_of_every_new_kind_loads)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load(head,
	               "explore:\n  faults: [{kind: control-disk, rate: 1}, {kind: torn-write, "
	               "rate: 1}, {kind: revoke, rate: 1}, {kind: reject, rate: 1}, {kind: drain, "
	               "rate: 1}, {kind: grant, rate: 1}]\n",
	               &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->explore.n_faults, 6);
	cr_assert_eq(sc->explore.faults[5].kind, SCENARIO_FAULT_GRANT);
	cr_assert_str_eq(scenario_fault_kind_name(SCENARIO_FAULT_TORN_WRITE), "torn-write");
	scenario_free(sc);
}

Test(scenario_faults, exp_1_misspelt_kind_suggests_the_near_miss)
{
	char kinds[1024], msg[1200];

	snprintf(msg, sizeof(msg),
	         "f.yaml:14:19: unknown fault kind 'drian' (expected %s; did you mean 'drain'?)",
	         fault_words_list(kinds, sizeof(kinds)));
	expect_error("explore:\n  faults: [{kind: drian, rate: 1}]\n", msg);
}

Test(scenario_faults, exp_1_admin_kinds_need_an_admin_user)
{
	static const char members[] =
	    "name: f\nregions: {a: {}}\n"
	    "users: {bob@example.com: {role: member}}\n"
	    "policy: {grants: [{src: [\"*\"], dst: [\"*\"], ip: [\"*\"]}]}\n"
	    "nodes: [{name: web, region: a, serve: [serve "
	    "--service=svc:web --http=80 127.0.0.1:8080]}]\n"
	    "services: [{name: svc:web, ports: [tcp:80]}]\n";
	expect_error_with(members, "explore:\n  faults: [{kind: revoke, rate: 1}]\n",
	                  "f.yaml:8:19: revoke and reject faults need an owner, admin or "
	                  "network-admin in users");
	expect_error_with(members, "explore:\n  faults: [{kind: grant, rate: 1}]\n",
	                  "f.yaml:8:19: grant faults need an owner, admin or network-admin in "
	                  "users");
}

Test(scenario_faults, exp_1_host_and_grant_kinds_need_a_target)
{
	static const char bare[] = "name: f\nregions: {a: {}}\n"
	                           "users: {alice@example.com: {role: owner}}\n"
	                           "nodes: [{name: c, region: a}]\n";
	expect_error_with(bare, "explore:\n  faults: [{kind: drain, rate: 1}]\n",
	                  "f.yaml:6:19: drain faults need a host (a node whose serve lines "
	                  "advertise a service)");
	expect_error_with(bare, "explore:\n  faults: [{kind: reject, rate: 1}]\n",
	                  "f.yaml:6:19: revoke and reject faults need a host (a node whose serve "
	                  "lines advertise a service)");
	expect_error_with(bare, "explore:\n  faults: [{kind: grant, rate: 1}]\n",
	                  "f.yaml:6:19: grant faults need a policy with at least one grant");
}

/* set-tags sets owned tags only, and the fault's heal sets the node's own
 * back: a host whose tags are all owned, and another owned set to draw. */
Test(scenario_faults, exp_1_tags_kind_needs_a_host_with_owned_tags_and_another_owned_tag)
{
	static const char msg[] =
	    "f.yaml:14:19: tags faults need a host (a node whose serve lines advertise a "
	    "service) whose tags are all in the policy's tagOwners, and two owned tags at "
	    "least";
	static const char tags_menu[] = "explore:\n  faults: [{kind: tags, rate: 1}]\n";
	char two[sizeof(head) + 64];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	/* head owns tag:web only: no other set to draw */
	expect_error(tags_menu, msg);
	/* two owned tags, but the hosts carry one that is not owned */
	snprintf(two, sizeof(two), "%s", head);
	char *owners = strstr(two, "{tag:web: [alice@example.com]}");
	cr_assert_not_null(owners);
	const char *both = "{tag:web: [alice@example.com], tag:db: [alice@example.com]}\n";
	char rest[sizeof(head)];
	snprintf(rest, sizeof(rest), "%s", strchr(owners, '\n') + 1);
	snprintf(owners, sizeof(two) - (size_t)(owners - two), "%s%s", both, rest);
	cr_assert_eq(load(two, tags_menu, &sc, &d), 0);
	scenario_free(sc);
	char *web = strstr(two, "tags: [tag:web], serve");
	cr_assert_not_null(web);
	memcpy(web, "tags: [tag:xyz], serve", 22);
	expect_error_with(two, tags_menu, msg);
}

Test(scenario_faults, exp_1_set_policy_with_the_policy_in_the_entry_loads_as_json)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load(head,
	               "timeline:\n  - {at: 1s, admin: set-policy, as: alice@example.com,\n"
	               "     policy: {tagOwners: {tag:web: [alice@example.com]}, grants: []}}\n"
	               "  - {at: 2s, admin: set-policy p.json, as: alice@example.com}\n",
	               &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->n_events, 2);
	cr_assert_eq(sc->events[0].verb, SCENARIO_ADMIN_SET_POLICY);
	cr_assert_null(sc->events[0].file);
	cr_assert_str_eq(sc->events[0].policy,
	                 "{\"tagOwners\":{\"tag:web\":[\"alice@example.com\"]},\"grants\":[]}");
	cr_assert_str_eq(sc->events[1].file, "p.json");
	cr_assert_null(sc->events[1].policy);
	scenario_free(sc);
}

Test(scenario_faults, exp_1_policy_key_errors_name_the_place)
{
	expect_error("timeline:\n  - {at: 1s, crash: web-0, policy: {grants: []}}\n",
	             "f.yaml:14:28: 'policy' goes with 'admin: set-policy' (the policy it sets)");
	expect_error("timeline:\n  - {at: 1s, admin: revoke svc:web web-0, as: alice@example.com, "
	             "policy: {grants: []}}\n",
	             "f.yaml:14:66: 'policy' goes with 'admin: set-policy' (the policy it sets)");
	expect_error("timeline:\n  - {at: 1s, admin: set-policy p.json, as: alice@example.com, "
	             "policy: {grants: []}}\n",
	             "f.yaml:14:63: admin set-policy takes a file or a policy, not both");
	expect_error("timeline:\n  - {at: 1s, admin: set-policy, as: alice@example.com}\n",
	             "f.yaml:14:21: admin set-policy takes one file (set-policy FILE) or, with "
	             "none, the entry's policy key");
	expect_error("timeline:\n  - {at: 1s, admin: set-policy, as: alice@example.com, "
	             "polcy: {grants: []}}\n",
	             "f.yaml:14:56: unknown key 'polcy' in timeline entry (did you mean "
	             "'policy'?)");
	expect_error("timeline:\n  - {at: 1s, admin: set-policy, as: alice@example.com, "
	             "policy: [a]}\n",
	             "f.yaml:14:64: expected a mapping for 'policy', got a sequence");
}

Test(scenario_faults, exp_1_a_policy_in_the_timeline_is_checked_like_control_does)
{
	expect_error("timeline:\n  - {at: 1s, admin: set-policy, as: alice@example.com, "
	             "policy: {grants: [{src: [\"*\"], dts: [\"*\"]}]}}\n",
	             "f.yaml:14:87: policy: grants[0]: unknown key \"dts\" (did you mean "
	             "\"dst\"?)");
}

/* Two regions with a link for the network faults; nodes web-0, web-1, c
 * as above. The body follows on line 13. */
static const char two_regions[] =
    "name: f\nduration: 60s\nregions: {a: {}, b: {}}\n"
    "links: [{between: [a, b], latency: 5ms}]\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com]}\n"
    "  grants: [{src: [\"*\"], dst: [svc:web], ip: [\"80\"]}]\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:web]}]\n"
    "nodes:\n"
    "  - {name: web, region: a, count: 2, tags: [tag:web], serve: [serve --service=svc:web "
    "--http=80 127.0.0.1:8080]}\n"
    "  - {name: c, region: b}\n";

Test(scenario_faults, exp_1_network_fault_entries_load)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load(two_regions,
	               "timeline:\n"
	               "  - {at: 1s, isolate: web-1}\n"
	               "  - {at: 2s, rejoin: web-1}\n"
	               "  - {at: 3s, partition_one_way: [b, a]}\n"
	               "  - {at: 3s, partition_one_way: [a, b]}\n"
	               "  - {at: 4s, heal_one_way: [b, a]}\n"
	               "  - {at: 4s, heal_one_way: [a, b]}\n"
	               "  - {at: 5s, link: {node: c, latency: 50ms, loss: \"2%\"}}\n",
	               &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->n_events, 7);
	cr_assert_eq(sc->events[0].action, SCENARIO_ACTION_ISOLATE);
	cr_assert_eq(sc->events[0].node, 1);
	cr_assert_eq(sc->events[1].action, SCENARIO_ACTION_REJOIN);
	cr_assert(sc->events[2].one_way);
	cr_assert_eq(sc->events[2].a, 1, "from b");
	cr_assert_eq(sc->events[2].b, 0, "to a");
	cr_assert_eq(sc->events[5].action, SCENARIO_ACTION_HEAL);
	const struct scenario_event *l = &sc->events[6];
	cr_assert(l->access && l->link == -1 && l->node == 2 && l->set_latency && l->set_loss &&
	          !l->set_bandwidth);
	cr_assert_eq(l->params.latency_us, 50000);
	scenario_free(sc);
}

Test(scenario_faults, exp_1_network_fault_entry_errors_name_the_place)
{
	expect_error_with(two_regions, "timeline:\n  - {at: 1s, isolat: web-1}\n",
	                  "f.yaml:14:14: unknown key 'isolat' in timeline entry (did you mean "
	                  "'isolate'?)");
	expect_error_with(two_regions, "timeline:\n  - {at: 1s, isolate: web-7}\n",
	                  "f.yaml:14:23: isolate: unknown node 'web-7' (did you mean 'web-0'?)");
	expect_error_with(two_regions, "timeline:\n  - {at: 1s, rejoin: c}\n",
	                  "f.yaml:14:14: rejoin at 1s of what is not cut (no isolate of the same "
	                  "node before it)");
	expect_error_with(
	    two_regions, "timeline:\n  - {at: 1s, isolate: c}\n  - {at: 2s, isolate: c}\n",
	    "f.yaml:15:14: isolate at 2s of what is already cut (isolate at line 14)");
	expect_error_with(two_regions, "timeline:\n  - {at: 1s, partition_one_way: [web-0, c]}\n",
	                  "f.yaml:14:33: partition_one_way is between two regions, not nodes");
	expect_error_with(two_regions,
	                  "timeline:\n  - {at: 1s, partition_one_way: [a, b]}\n"
	                  "  - {at: 2s, heal_one_way: [b, a]}\n",
	                  "f.yaml:15:14: heal_one_way at 2s of what is not cut (no "
	                  "partition_one_way of the same two before it)");
	expect_error_with(
	    two_regions,
	    "timeline:\n  - {at: 1s, link: {node: c, between: [a, b], latency: 1ms}}\n",
	    "f.yaml:14:20: a timeline link names either between (two regions) or "
	    "node (its access link)");
	expect_error_with(two_regions, "timeline:\n  - {at: 1s, link: {node: x, latency: 1ms}}\n",
	                  "f.yaml:14:27: link: unknown node 'x' (did you mean 'c'?)");
}

Test(scenario_faults, exp_1_origin_entries_need_backends_and_order)
{
	static const char with_backends[] =
	    "name: f\nduration: 60s\nregions: {a: {}}\n"
	    "nodes: [{name: web, region: a, backends: [{listen: 127.0.0.1:8080}]}, {name: c, "
	    "region: a}]\n";
	struct scenario *sc = NULL;
	struct scenario_diags d;

	cr_assert_eq(load(with_backends,
	                  "timeline:\n  - {at: 1s, origin_crash: web}\n  - {at: 2s, "
	                  "origin_restart: web}\n",
	                  &sc, &d),
	             0);
	cr_assert_eq(sc->events[0].action, SCENARIO_ACTION_ORIGIN_CRASH);
	cr_assert_eq(sc->events[1].action, SCENARIO_ACTION_ORIGIN_RESTART);
	scenario_free(sc);
	expect_error_with(with_backends, "timeline:\n  - {at: 1s, origin_crash: c}\n",
	                  "f.yaml:6:28: 'c' has no backends (origin faults act on them)");
	expect_error_with(with_backends, "timeline:\n  - {at: 1s, origin_restart: web}\n",
	                  "f.yaml:6:14: origin_restart of 'web' at 1s, whose backends are not "
	                  "down (no origin_crash before it)");
	expect_error_with(with_backends, "timeline:\n  - {at: 1s, origin_crsh: web}\n",
	                  "f.yaml:6:14: unknown key 'origin_crsh' in timeline entry (did you "
	                  "mean 'origin_crash'?)");
	expect_error_with("name: f\nduration: 60s\nregions: {a: {}}\nnodes: [{name: c, region: "
	                  "a}]\n",
	                  "explore:\n  faults: [{kind: origin, rate: 1}]\n",
	                  "f.yaml:6:19: origin faults need a node with backends");
}

Test(scenario_faults, exp_1_origin_slow_and_error_need_an_http_backend_a_delay_and_order)
{
	static const char nodes[] =
	    "name: f\nduration: 60s\nregions: {a: {}}\n"
	    "nodes: [{name: web, region: a, backends: [{listen: 127.0.0.1:8080}]}, {name: echo, "
	    "region: a, backends: [{kind: tcp-echo, listen: 127.0.0.1:7}]}]\n";
	struct scenario *sc = NULL;
	struct scenario_diags d;

	cr_assert_eq(load(nodes,
	                  "timeline:\n  - {at: 1s, origin_slow: web, delay: 250ms}\n"
	                  "  - {at: 2s, origin_ok: web}\n  - {at: 3s, origin_error: web}\n"
	                  "  - {at: 4s, origin_ok: web}\n",
	                  &sc, &d),
	             0);
	cr_assert_eq(sc->events[0].action, SCENARIO_ACTION_ORIGIN_SLOW);
	cr_assert_eq(sc->events[0].delay_us, 250000);
	cr_assert_eq(sc->events[1].action, SCENARIO_ACTION_ORIGIN_OK);
	cr_assert_eq(sc->events[2].action, SCENARIO_ACTION_ORIGIN_ERROR);
	scenario_free(sc);
	expect_error_with(nodes, "timeline:\n  - {at: 1s, origin_error: echo}\n",
	                  "f.yaml:6:28: 'echo' has no http backends (origin faults act on them)");
	expect_error_with(nodes, "timeline:\n  - {at: 1s, origin_slow: web}\n",
	                  "f.yaml:6:14: 'origin_slow' needs 'delay' (how late answers come)");
	expect_error_with(nodes, "timeline:\n  - {at: 1s, origin_slow: web, delay: 2m}\n",
	                  "f.yaml:6:39: delay 2m is out of range (max 60s)");
	expect_error_with(nodes, "timeline:\n  - {at: 1s, origin_error: web, delay: 1s}\n",
	                  "f.yaml:6:33: 'delay' goes with 'origin_slow' (how late its answers "
	                  "come)");
	expect_error_with(nodes, "timeline:\n  - {at: 1s, origin_ok: web}\n",
	                  "f.yaml:6:14: origin_ok of 'web' at 1s, whose origin is neither slow "
	                  "nor erroring (no origin_slow or origin_error before it)");
	expect_error_with(nodes,
	                  "timeline:\n  - {at: 1s, origin_error: web}\n"
	                  "  - {at: 2s, origin_slow: web, delay: 1s}\n",
	                  "f.yaml:7:14: origin_slow of 'web' at 2s, whose origin is already "
	                  "degraded (line 6; origin_ok first)");
	expect_error_with("name: f\nduration: 60s\nregions: {a: {}}\nnodes: [{name: c, region: "
	                  "a, backends: [{kind: udp-echo, listen: 127.0.0.1:9}]}]\n",
	                  "explore:\n  faults: [{kind: origin-error, rate: 1}]\n",
	                  "f.yaml:6:19: origin-slow and origin-error faults need a node with an "
	                  "http backend");
}

/* pause hits a running daemon not paused, resume a paused one; a paused
 * daemon runs no serve command; a crash ends a pause (EXP-1). */
Test(scenario_faults, exp_1_pause_and_resume_entries_keep_their_order)
{
	static const char one[] = "name: f\nduration: 60s\nregions: {a: {}}\n"
	                          "nodes: [{name: web, region: a}, {name: c, region: a}]\n";
	struct scenario *sc = NULL;
	struct scenario_diags d;

	cr_assert_eq(load(one,
	                  "timeline:\n  - {at: 1s, pause: web}\n  - {at: 2s, resume: web}\n"
	                  "  - {at: 3s, pause: c}\n  - {at: 4s, crash: c}\n"
	                  "  - {at: 5s, restart: c}\n  - {at: 6s, pause: c}\n",
	                  &sc, &d),
	             0);
	cr_assert_eq(sc->events[0].action, SCENARIO_ACTION_PAUSE);
	cr_assert_eq(sc->events[1].action, SCENARIO_ACTION_RESUME);
	cr_assert_eq(sc->events[1].node, 0);
	cr_assert_eq(sc->events[5].action, SCENARIO_ACTION_PAUSE);
	cr_assert_eq(sc->events[5].node, 1);
	scenario_free(sc);
	expect_error_with(one, "timeline:\n  - {at: 1s, resume: web}\n",
	                  "f.yaml:6:14: resume of 'web' at 1s, which is not paused (no pause "
	                  "before it)");
	expect_error_with(one, "timeline:\n  - {at: 1s, pause: web}\n  - {at: 2s, pause: web}\n",
	                  "f.yaml:7:14: pause of 'web' at 2s, which is already paused (pause at "
	                  "line 6)");
	expect_error_with(one, "timeline:\n  - {at: 1s, crash: web}\n  - {at: 2s, pause: web}\n",
	                  "f.yaml:7:14: pause of 'web' at 2s, which is down (crashed at line 6)");
	expect_error_with(one,
	                  "timeline:\n  - {at: 1s, pause: web}\n"
	                  "  - {at: 2s, node: web, run: serve drain svc:x}\n",
	                  "f.yaml:7:25: 'web' is paused at 2s (pause at line 6): its serve "
	                  "command cannot run");
	expect_error_with(one, "timeline:\n  - {at: 1s, paus: web}\n",
	                  "f.yaml:6:14: unknown key 'paus' in timeline entry (did you mean "
	                  "'pause'?)");
}

Test(scenario_faults, exp_1_set_tags_loads_with_its_node_and_tags)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = load(head,
	               "timeline:\n  - {at: 1s, admin: \"set-tags web-1 tag:web\", as: "
	               "alice@example.com}\n",
	               &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	cr_assert_eq(sc->events[0].verb, SCENARIO_ADMIN_SET_TAGS);
	cr_assert_eq(sc->events[0].host, 1);
	cr_assert_eq(sc->events[0].n_tags, 1);
	cr_assert_str_eq(sc->events[0].tags[0], "tag:web");
	cr_assert_str_eq(sc->events[0].service, "");
	scenario_free(sc);
}

Test(scenario_faults, exp_1_set_tags_errors_name_the_node_the_tag_and_the_limit)
{
	expect_error(
	    "timeline:\n  - {at: 1s, admin: set-tags web-7 tag:web, as: alice@example.com}\n",
	    "f.yaml:14:21: admin set-tags: unknown node 'web-7' (did you mean 'web-0'?)");
	expect_error(
	    "timeline:\n  - {at: 1s, admin: set-tags web-1 tag:db, as: alice@example.com}\n",
	    "f.yaml:14:21: tag 'tag:db' is not owned in policy tagOwners (did you mean "
	    "'tag:web'?)");
	expect_error("timeline:\n  - {at: 1s, admin: set-tags web-1, as: alice@example.com}\n",
	             "f.yaml:14:21: admin set-tags takes a node and its tags: set-tags NODE tag:a "
	             "[tag:b ...]");
	expect_error("timeline:\n  - {at: 1s, admin: set-tags web-1 tag:web tag:web, as: "
	             "alice@example.com}\n",
	             "f.yaml:14:21: admin set-tags: tag 'tag:web' given twice");
	expect_error(
	    "timeline:\n  - {at: 1s, admin: set-tags web-1 tag:web tag:a tag:b tag:c tag:d "
	    "tag:e tag:f tag:g tag:h, as: alice@example.com}\n",
	    "f.yaml:14:21: admin set-tags: at most 8 tags per node");
	expect_error(
	    "timeline:\n  - {at: 1s, admin: set-tag web-1 tag:web, as: alice@example.com}\n",
	    "f.yaml:14:21: unknown admin command 'set-tag' (expected define, delete, "
	    "approve, reject, revoke, set-policy or set-tags; did you mean 'set-tags'?)");
}

/* Link quality keys (EXP-1): jitter, reorder and duplicate on links, the
 * access default and timeline link entries, with their limits. */
Test(scenario_faults, exp_1_links_take_jitter_reorder_and_duplicate)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;

	cr_assert_eq(load("name: f\nduration: 60s\nregions: {a: {}, b: {}}\n"
	                  "links: [{between: [a, b], latency: 5ms, jitter: 2ms, reorder: 10%, "
	                  "duplicate: 0.5%}]\n"
	                  "access: {jitter: 300us, duplicate: 1%}\n"
	                  "nodes: [{name: c, region: a}]\n",
	                  "timeline:\n"
	                  "  - {at: 1s, link: {between: [a, b], jitter: 7ms}}\n"
	                  "  - {at: 2s, link: {node: c, reorder: 3%, duplicate: 100%}}\n",
	                  &sc, &d),
	             0);
	const struct scenario_link_params *p = &sc->links[0].params;
	cr_assert_eq(p->jitter_us, 2000);
	cr_assert_float_eq(p->reorder, 0.1, 1e-12);
	cr_assert_float_eq(p->duplicate, 0.005, 1e-12);
	cr_assert_eq(sc->access.jitter_us, 300);
	cr_assert_float_eq(sc->access.reorder, 0.0, 1e-12);
	cr_assert_float_eq(sc->access.duplicate, 0.01, 1e-12);
	const struct scenario_event *e = &sc->events[0];
	cr_assert(e->set_jitter && !e->set_reorder && !e->set_duplicate && !e->set_latency);
	cr_assert_eq(e->params.jitter_us, 7000);
	e = &sc->events[1];
	cr_assert(e->access && !e->set_jitter && e->set_reorder && e->set_duplicate);
	cr_assert_float_eq(e->params.duplicate, 1.0, 1e-12);
	scenario_free(sc);
	/* without them a link is as before: all three 0 */
	cr_assert_eq(load(two_regions, "", &sc, &d), 0);
	cr_assert(sc->links[0].params.jitter_us == 0 && sc->links[0].params.reorder == 0 &&
	          sc->links[0].params.duplicate == 0 && sc->access.jitter_us == 0);
	scenario_free(sc);
}

Test(scenario_faults, exp_1_link_quality_errors_name_the_limit_or_the_key_meant)
{
	expect_error_with(two_regions,
	                  "timeline:\n  - {at: 1s, link: {between: [a, b], reorder: 150%}}\n",
	                  "f.yaml:14:47: reorder 150% is above 100%");
	expect_error_with(two_regions,
	                  "timeline:\n  - {at: 1s, link: {between: [a, b], duplicate: 101%}}\n",
	                  "f.yaml:14:49: duplicate 101% is above 100%");
	expect_error_with(two_regions,
	                  "timeline:\n  - {at: 1s, link: {between: [a, b], jitter: 2s}}\n",
	                  "f.yaml:14:46: jitter 2s is out of range (max 1s)");
	expect_error_with(two_regions,
	                  "timeline:\n  - {at: 1s, link: {between: [a, b], jiter: 2ms}}\n",
	                  "f.yaml:14:38: unknown key 'jiter' in link (did you mean 'jitter'?)");
	expect_error_with(two_regions,
	                  "timeline:\n  - {at: 1s, link: {between: [a, b], reorder: lots}}\n",
	                  "f.yaml:14:47: reorder: expected a percentage like 0.5%, got 'lots'");
	expect_error_with(
	    "name: f\nregions: {a: {}, b: {}}\n"
	    "links: [{between: [a, b], latency: 5ms, duplicat: 1%}]\n",
	    "nodes: [{name: c, region: a}]\n",
	    "f.yaml:3:41: unknown key 'duplicat' in link (did you mean 'duplicate'?)");
	expect_error_with(
	    "name: f\nregions: {a: {}}\naccess: {jitter: 5}\n", "nodes: [{name: c, region: a}]\n",
	    "f.yaml:3:18: jitter: missing unit in duration '5' (expected us, ms, s or m)");
}

Test(scenario_faults, exp_1_jitter_and_duplicate_kinds_need_a_link)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;

	cr_assert_eq(load(two_regions,
	                  "explore:\n  faults: [{kind: jitter, rate: 2}, {kind: duplicate, rate: "
	                  "3}]\n",
	                  &sc, &d),
	             0);
	cr_assert_eq(sc->explore.n_faults, 2);
	cr_assert_eq(sc->explore.faults[0].kind, SCENARIO_FAULT_JITTER);
	cr_assert_eq(sc->explore.faults[1].kind, SCENARIO_FAULT_DUPLICATE);
	cr_assert_str_eq(scenario_fault_kind_name(SCENARIO_FAULT_DUPLICATE), "duplicate");
	scenario_free(sc);
	expect_error_with("name: f\nduration: 60s\nregions: {a: {}}\nnodes: [{name: c, region: "
	                  "a}]\n",
	                  "explore:\n  faults: [{kind: duplicate, rate: 1}]\n",
	                  "f.yaml:6:19: jitter and duplicate faults need at least one link");
}
