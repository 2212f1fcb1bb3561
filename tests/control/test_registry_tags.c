/* Tags an admin sets on a node (registry_node_set_tags, issue 13 EXP-1,
 * SEC-1's direction): they replace the node's own claim for good, the
 * rules that read tags follow them (CFG-11, APR-3/5, ACL-1/2), explicit
 * decisions stand, they survive persistence, and bad input is refused
 * with nothing changed. */
#define _GNU_SOURCE
#include "control/registry.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tags_policy[] =
    "{\"tagOwners\": {\"tag:web\": [\"alice@example.com\"], \"tag:infra\": "
    "[\"alice@example.com\"], \"tag:client\": [\"alice@example.com\"], \"tag:svc\": "
    "[\"alice@example.com\"]},\n"
    " \"grants\": [{\"src\": [\"tag:client\"], \"dst\": [\"svc:auto\"], \"ip\": [\"443\"]}],\n"
    " \"autoApprovers\": {\"services\": {\"svc:auto\": [\"tag:infra\"]}}}\n";

static struct registry *reg;
static char err[REG_ERR_LEN];

#define ALICE "alice@example.com"
#define BOB   "bob@example.com"

static void setup(void)
{
	struct policy *p = NULL;
	char perr[POLICY_ERR_LEN];

	cr_assert_eq(registry_new(&reg, "example.ts.net"), 0);
	cr_assert_eq(policy_parse(tags_policy, strlen(tags_policy), &p, perr, sizeof(perr)), 0,
	             "%s", perr);
	cr_assert_eq(registry_set_policy(reg, NULL, p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(registry_user_set(reg, ALICE, REG_ROLE_ADMIN, "Alice", NULL, err, sizeof(err)),
	             0);
	cr_assert_eq(registry_user_set(reg, BOB, REG_ROLE_MEMBER, "Bob", NULL, err, sizeof(err)),
	             0);
}

static void teardown(void)
{
	registry_free(reg);
	reg = NULL;
}

TestSuite(reg_tags, .init = setup, .fini = teardown);

/* A hello from `name` claiming one tag: the node's index (or -errno). */
static int hello(const char *name, const char *tag)
{
	const char *tags[1] = {tag};
	struct reg_node_info info = {
	    .name = name, .user = "", .region = "us", .tags = tags, .n_tags = tag ? 1 : 0};

	io_addr_v4(&info.endpoint, 0xc0a80001, 41641);
	int idx = registry_node_register(reg, &info, err, sizeof(err));
	if (idx >= 0) {
		registry_node_set_connected(reg, (size_t)idx, true);
		registry_node_set_alive(reg, (size_t)idx, true);
	}
	return idx;
}

static const struct reg_node *node(const char *name)
{
	int i = registry_node_index(reg, name);
	cr_assert_geq(i, 0, "no node %s", name);
	return registry_node(reg, (size_t)i);
}

static int set_tags(const char *actor, const char *name, const char *a, const char *b)
{
	const char *tags[2] = {a, b};
	return registry_node_set_tags(reg, actor, name, tags, a ? (b ? 2 : 1) : 0, err,
	                              sizeof(err));
}

/* svc:auto defined, `name` advertising it with port 443 configured. */
static const struct reg_host *auto_host(const char *name)
{
	const char *ports[] = {"tcp:443"}, *tags[] = {"tag:svc"};
	struct reg_service_def def = {.name = "svc:auto",
	                              .description = "",
	                              .ports = ports,
	                              .n_ports = 1,
	                              .tags = tags,
	                              .n_tags = 1};
	uint16_t port = 443;
	struct reg_advert a = {.service = "svc:auto", .n_config_ports = 1, .config_ports = &port};

	if (registry_service_index(reg, "svc:auto") < 0)
		cr_assert_eq(registry_define_service(reg, ALICE, &def, err, sizeof(err)), 0, "%s",
		             err);
	int ni = registry_node_index(reg, name);
	cr_assert_eq(registry_advertise(reg, (size_t)ni, &a, 1, err, sizeof(err)), 0, "%s", err);
	return registry_host(reg, (size_t)registry_host_index(reg, "svc:auto", name));
}

Test(reg_tags, sec1_a_later_hello_does_not_override_the_admins_tags)
{
	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:infra", NULL), 0, "%s", err);
	cr_assert(node("web-1")->tags_by_admin);
	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	cr_assert_eq(node("web-1")->n_tags, 1);
	cr_assert_str_eq(node("web-1")->tags[0], "tag:infra", "the hello's claim took over");
	/* The ignored claim is not judged against tagOwners, only its form. */
	cr_assert_geq(hello("web-1", "tag:nobody"), 0, "%s", err);
	cr_assert_eq(hello("web-1", "web"), -EINVAL);
	/* A node whose tags no admin set still takes its claim. */
	cr_assert_geq(hello("web-2", "tag:web"), 0, "%s", err);
	cr_assert_geq(hello("web-2", "tag:client"), 0, "%s", err);
	cr_assert_str_eq(node("web-2")->tags[0], "tag:client");
}

Test(reg_tags, apr3_auto_approval_follows_the_new_tags_both_ways)
{
	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	const struct reg_host *h = auto_host("web-1");
	cr_assert(!registry_host_approved(reg, h), "tag:web is no auto-approver");
	cr_assert_eq(registry_host_state(reg, h), REG_STATE_PENDING_APPROVAL);
	uint64_t gen = registry_generation(reg);
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:web", "tag:infra"), 0, "%s", err);
	cr_assert_gt(registry_generation(reg), gen, "maps are not regenerated");
	cr_assert(registry_host_auto_approved(reg, h));
	cr_assert(registry_host_eligible(reg, h), "APR-3: the pending host is approved now");
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:web", NULL), 0, "%s", err);
	cr_assert(!registry_host_eligible(reg, h), "APR-5: its auto-approver's tag is gone");
	cr_assert_eq(registry_host_state(reg, h), REG_STATE_PENDING_APPROVAL);
	cr_assert(h->advertising, "the advertisement stays as the node sent it");
}

Test(reg_tags, apr5_an_explicit_decision_stands_whatever_the_tags)
{
	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	cr_assert_geq(hello("web-2", "tag:web"), 0, "%s", err);
	const struct reg_host *h1 = auto_host("web-1");
	const struct reg_host *h2 = auto_host("web-2");
	cr_assert_eq(registry_decide(reg, ALICE, "svc:auto", "web-1", REG_DECISION_APPROVED, err,
	                             sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(registry_decide(reg, ALICE, "svc:auto", "web-2", REG_DECISION_REVOKED, err,
	                             sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:client", NULL), 0, "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-2", "tag:infra", NULL), 0, "%s", err);
	h1 = registry_host(reg, (size_t)registry_host_index(reg, "svc:auto", "web-1"));
	h2 = registry_host(reg, (size_t)registry_host_index(reg, "svc:auto", "web-2"));
	cr_assert(registry_host_eligible(reg, h1), "an admin's approval does not hang on tags");
	cr_assert(!registry_host_eligible(reg, h2), "a revoked host came back by its new tag");
	cr_assert_eq(h2->decision, REG_DECISION_REVOKED);
}

Test(reg_tags, persisted_tags_and_their_origin_survive_a_reload)
{
	struct registry *back = NULL;

	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	cr_assert_geq(hello("web-2", "tag:web"), 0, "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:infra", "tag:client"), 0, "%s", err);
	char *json = registry_to_json(reg);
	cr_assert_not_null(json);
	cr_assert_eq(registry_from_json(json, strlen(json), &back, err, sizeof(err)), 0, "%s", err);
	free(json);
	registry_free(reg);
	reg = back;
	cr_assert(node("web-1")->tags_by_admin);
	cr_assert(!node("web-2")->tags_by_admin);
	cr_assert_eq(node("web-1")->n_tags, 2);
	cr_assert_str_eq(node("web-1")->tags[1], "tag:client");
	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	cr_assert_str_eq(node("web-1")->tags[0], "tag:infra", "the origin was not persisted");
}

Test(reg_tags, a_bad_tags_flag_in_saved_state_is_refused_with_its_place)
{
	struct registry *back = NULL;

	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	char *json = registry_to_json(reg);
	char *at = strstr(json, "\"tls_key\"");
	cr_assert_not_null(at);
	char *bad = NULL;
	cr_assert_gt(asprintf(&bad, "%.*s\"tags_by_admin\":1,%s", (int)(at - json), json, at), 0);
	cr_assert_eq(registry_from_json(bad, strlen(bad), &back, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "nodes[0].tags_by_admin"), "%s", err);
	free(bad);
	free(json);
}

Test(reg_tags, bad_input_is_refused_precisely_and_nothing_changes)
{
	const char *many[REG_MAX_TAGS + 1];

	cr_assert_geq(hello("web-1", "tag:web"), 0, "%s", err);
	uint64_t gen = registry_generation(reg);
	cr_assert_eq(set_tags(ALICE, "nope", "tag:web", NULL), -ENOENT);
	cr_assert(strstr(err, "unknown node \"nope\""), "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:nobody", NULL), -EPERM);
	cr_assert(strstr(err, "tag:nobody is not owned"), "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", "web", NULL), -EINVAL);
	cr_assert(strstr(err, "not a tag"), "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", "tag:web", "tag:web"), -EINVAL);
	cr_assert(strstr(err, "given twice"), "%s", err);
	cr_assert_eq(set_tags(ALICE, "web-1", NULL, NULL), -EINVAL);
	cr_assert(strstr(err, "at least one tag"), "%s", err);
	cr_assert_eq(set_tags(BOB, "web-1", "tag:infra", NULL), -EPERM);
	cr_assert(strstr(err, "may not set a node's tags"), "%s", err);
	for (size_t i = 0; i <= REG_MAX_TAGS; i++)
		many[i] = "tag:web";
	cr_assert_eq(
	    registry_node_set_tags(reg, ALICE, "web-1", many, REG_MAX_TAGS + 1, err, sizeof(err)),
	    -E2BIG);
	cr_assert(strstr(err, "at most 32 tags"), "%s", err);
	cr_assert_eq(registry_generation(reg), gen);
	cr_assert_str_eq(node("web-1")->tags[0], "tag:web");
	cr_assert(!node("web-1")->tags_by_admin);
}
