/* The registry: service definitions (SVC), approvals (APR), eligibility and
 * steering (STR), states (STA), untagged hosts (CFG-11), persistence and
 * limits. */
#include "control/registry.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char test_policy[] =
    "{\n"
    "  // owners of every tag the tests use\n"
    "  \"tagOwners\": {\"tag:web\": [\"alice@example.com\"], \"tag:infra\": "
    "[\"alice@example.com\"],\n"
    "                \"tag:prod\": [\"alice@example.com\"], \"tag:edge\": "
    "[\"alice@example.com\"],\n"
    "                \"tag:client\": [\"alice@example.com\"]},\n"
    "  \"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"*\"]}],\n"
    "  \"autoApprovers\": {\"services\": {\"svc:auto\": [\"tag:infra\"], \"tag:prod\": "
    "[\"tag:edge\"]}},\n"
    "}\n";

static struct registry *reg;
static char err[REG_ERR_LEN];

static void set_policy(const char *text)
{
	struct policy *p = NULL;
	char perr[POLICY_ERR_LEN];

	cr_assert_eq(policy_parse(text, strlen(text), &p, perr, sizeof(perr)), 0, "%s", perr);
	cr_assert_eq(registry_set_policy(reg, NULL, p, err, sizeof(err)), 0, "%s", err);
}

static void setup(void)
{
	cr_assert_eq(registry_new(&reg, "example.ts.net"), 0);
	set_policy(test_policy);
	cr_assert_eq(registry_user_set(reg, "alice@example.com", REG_ROLE_OWNER, "Alice",
	                               "tok-alice-0123456789", err, sizeof(err)),
	             0);
	cr_assert_eq(registry_user_set(reg, "carol@example.com", REG_ROLE_ADMIN, "Carol", NULL, err,
	                               sizeof(err)),
	             0);
	cr_assert_eq(registry_user_set(reg, "nina@example.com", REG_ROLE_NETWORK_ADMIN, "Nina",
	                               NULL, err, sizeof(err)),
	             0);
	cr_assert_eq(registry_user_set(reg, "bob@example.com", REG_ROLE_MEMBER, "Bob", NULL, err,
	                               sizeof(err)),
	             0);
}

static void teardown(void)
{
	registry_free(reg);
	reg = NULL;
}

TestSuite(registry, .init = setup, .fini = teardown);

/* A connected, alive node; `tags` NULL-terminated list (or NULL). */
static size_t node_in(const char *name, const char *region, const char *tag)
{
	const char *tags[1] = {tag};
	struct reg_node_info info = {.name = name,
	                             .user = "alice@example.com",
	                             .region = region,
	                             .tags = tags,
	                             .n_tags = tag ? 1 : 0};
	int idx;

	io_addr_v4(&info.endpoint, 0xc0a80001, 41641);
	idx = registry_node_register(reg, &info, err, sizeof(err));
	cr_assert_geq(idx, 0, "%s", err);
	registry_node_set_connected(reg, (size_t)idx, true);
	registry_node_set_alive(reg, (size_t)idx, true);
	return (size_t)idx;
}

static int define(const char *actor, const char *name, const char *port, const char *tag)
{
	const char *ports[] = {port};
	const char *tags[] = {tag};
	struct reg_service_def def = {.name = name,
	                              .description = "test service",
	                              .ports = ports,
	                              .n_ports = 1,
	                              .tags = tags,
	                              .n_tags = 1};

	return registry_define_service(reg, actor, &def, err, sizeof(err));
}

static void define_ok(const char *name, const char *port, const char *tag)
{
	cr_assert_eq(define("alice@example.com", name, port, tag), 0, "%s", err);
}

static int advertise(size_t node, const char *service, uint16_t port, bool draining, bool tun)
{
	struct reg_advert a = {.service = service,
	                       .draining = draining,
	                       .tun = tun,
	                       .n_config_ports = port ? 1 : 0,
	                       .config_ports = &port};

	return registry_advertise(reg, node, &a, 1, err, sizeof(err));
}

static const struct reg_host *host(const char *service, const char *node)
{
	int i = registry_host_index(reg, service, node);

	cr_assert_geq(i, 0, "no host record %s/%s", service, node);
	return registry_host(reg, (size_t)i);
}

static int approve(const char *actor, const char *service, const char *node)
{
	return registry_decide(reg, actor, service, node, REG_DECISION_APPROVED, err, sizeof(err));
}

static enum reg_state hstate(const char *service, const char *node)
{
	return registry_host_state(reg, host(service, node));
}

static size_t rank(size_t client, const char *service, size_t *out)
{
	return registry_rank_hosts(reg, client, service, out, 16);
}

static char *addr_text(const struct io_addr *a, char *buf)
{
	return (char *)io_addr_format(a, false, buf, IO_ADDR_STRLEN);
}

/* ---- SVC-1 ------------------------------------------------------------- */

Test(registry, svc1_name_must_start_with_svc_prefix)
{
	cr_assert_not(registry_service_name_valid("web", err, sizeof(err)));
	cr_assert_str_eq(err, "web: a service name must start with \"svc:\"");
	cr_assert_not(registry_service_name_valid("SVC:web", err, sizeof(err)));
	cr_assert(registry_service_name_valid("svc:web", err, sizeof(err)));
	cr_assert(registry_service_name_valid("svc:a", err, sizeof(err)));
	cr_assert(registry_service_name_valid("svc:Web-2", err, sizeof(err)));
}

Test(registry, svc1_label_must_start_with_letter_or_digit)
{
	cr_assert_not(registry_service_name_valid("svc:-web", err, sizeof(err)));
	cr_assert_str_eq(err, "svc:-web: a service name's label must start with a letter or digit");
}

Test(registry, svc1_label_must_end_with_letter_or_digit)
{
	cr_assert_not(registry_service_name_valid("svc:web-", err, sizeof(err)));
	cr_assert_str_eq(err, "svc:web-: a service name's label must end with a letter or digit");
}

Test(registry, svc1_label_is_at_most_63_characters)
{
	char name[80] = "svc:";

	memset(name + 4, 'a', 63);
	name[67] = '\0';
	cr_assert(registry_service_name_valid(name, err, sizeof(err)), "%s", err);
	strcat(name, "a");
	cr_assert_not(registry_service_name_valid(name, err, sizeof(err)));
	cr_assert(strstr(err, "at most 63 characters"), "%s", err);
}

Test(registry, svc1_label_holds_only_letters_digits_and_dash)
{
	const char *bad[] = {"svc:we_b", "svc:a.b", "svc:we b", "svc:web:x", "svc:wéb"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(registry_service_name_valid(bad[i], err, sizeof(err)), "%s", bad[i]);
		cr_assert(strstr(err, "only letters, digits and '-'"), "%s", err);
	}
}

Test(registry, svc1_empty_label_is_refused)
{
	cr_assert_not(registry_service_name_valid("svc:", err, sizeof(err)));
	cr_assert(strstr(err, "needs a label"), "%s", err);
}

Test(registry, svc1_define_with_bad_name_is_refused_and_nothing_defined)
{
	uint64_t gen = registry_generation(reg);

	cr_assert_eq(define("alice@example.com", "svc:-web", "tcp:443", "tag:web"), -EINVAL);
	cr_assert(strstr(err, "must start with a letter or digit"), "%s", err);
	cr_assert_eq(registry_service_count(reg), 0);
	cr_assert_eq(registry_generation(reg), gen);
}

/* ---- SVC-2 ------------------------------------------------------------- */

Test(registry, svc2_vips_are_unique_and_in_the_tailnet_ranges)
{
	char b1[IO_ADDR_STRLEN], b2[IO_ADDR_STRLEN];

	define_ok("svc:a", "tcp:80", "tag:web");
	define_ok("svc:b", "tcp:80", "tag:web");
	const struct reg_service *a = registry_service(reg, 0), *b = registry_service(reg, 1);

	cr_assert_str_eq(addr_text(&a->vip4, b1), "100.100.0.1");
	cr_assert_str_eq(addr_text(&a->vip6, b2), "fd7a:115c:a1e0:ab12::1");
	cr_assert_str_eq(addr_text(&b->vip4, b1), "100.100.0.2");
	cr_assert_str_eq(addr_text(&b->vip6, b2), "fd7a:115c:a1e0:ab12::2");
	cr_assert_eq(registry_service_by_vip(reg, &b->vip4), 1);
	cr_assert_eq(registry_service_by_vip(reg, &a->vip6), 0);
}

Test(registry, svc2_vip_is_stable_across_redefinition)
{
	struct io_addr v4, v6;

	define_ok("svc:web", "tcp:80", "tag:web");
	v4 = registry_service(reg, 0)->vip4;
	v6 = registry_service(reg, 0)->vip6;
	define_ok("svc:other", "tcp:80", "tag:web");
	define_ok("svc:web", "tcp:443", "tag:prod");
	cr_assert_eq(registry_service_count(reg), 2);
	cr_assert(io_addr_equal(&registry_service(reg, 0)->vip4, &v4, true));
	cr_assert(io_addr_equal(&registry_service(reg, 0)->vip6, &v6, true));
	cr_assert_eq(registry_service(reg, 0)->ports[0].first, 443);
	cr_assert_str_eq(registry_service(reg, 0)->tags[0], "tag:prod");
}

Test(registry, svc2_vip_is_not_reused_after_delete)
{
	struct io_addr v4;
	char b[IO_ADDR_STRLEN];

	define_ok("svc:web", "tcp:80", "tag:web");
	v4 = registry_service(reg, 0)->vip4;
	cr_assert_eq(registry_delete_service(reg, "carol@example.com", "svc:web", err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(registry_service_count(reg), 0);
	cr_assert_eq(registry_service_by_vip(reg, &v4), -ENOENT);
	define_ok("svc:web", "tcp:80", "tag:web");
	cr_assert_not(io_addr_equal(&registry_service(reg, 0)->vip4, &v4, false));
	cr_assert_str_eq(addr_text(&registry_service(reg, 0)->vip4, b), "100.100.0.2");
}

Test(registry, svc2_never_hands_out_100_100_100_100)
{
	char *json, *at, b[IO_ADDR_STRLEN];
	struct registry *r2;

	/* Move the counter to just before 100.100.100.100 (k = 100 * 256 + 100). */
	json = registry_to_json(reg);
	cr_assert(json);
	at = strstr(json, "\"next_service\":\t1");
	cr_assert(at, "%s", json);
	{
		char *patched = malloc(strlen(json) + 16);

		memcpy(patched, json, (size_t)(at - json));
		sprintf(patched + (at - json), "\"next_service\":\t25699%s",
		        at + strlen("\"next_service\":\t1"));
		free(json);
		json = patched;
	}
	cr_assert_eq(registry_from_json(json, strlen(json), &r2, err, sizeof(err)), 0, "%s", err);
	free(json);
	registry_free(reg);
	reg = r2;
	define_ok("svc:a", "tcp:80", "tag:web");
	define_ok("svc:b", "tcp:80", "tag:web");
	cr_assert_str_eq(addr_text(&registry_service(reg, 0)->vip4, b), "100.100.100.99");
	cr_assert_str_eq(addr_text(&registry_service(reg, 1)->vip4, b), "100.100.100.101");
	cr_assert_str_eq(addr_text(&registry_service(reg, 1)->vip6, b),
	                 "fd7a:115c:a1e0:ab12::6465");
}

/* ---- SVC-4 ------------------------------------------------------------- */

Test(registry, svc4_tcp_port_and_range_forms_are_accepted)
{
	const char *ports[] = {"tcp:443", "tcp:8000-8100", "tcp:1", "tcp:65535"};
	const char *tags[] = {"tag:web"};
	struct reg_service_def def = {
	    .name = "svc:web", .ports = ports, .n_ports = 4, .tags = tags, .n_tags = 1};
	const struct reg_service *s;

	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)), 0,
	             "%s", err);
	s = registry_service(reg, 0);
	cr_assert_eq(s->n_ports, 4);
	cr_assert_eq(s->ports[0].first, 443);
	cr_assert_eq(s->ports[0].last, 443);
	cr_assert_eq(s->ports[1].first, 8000);
	cr_assert_eq(s->ports[1].last, 8100);
	cr_assert_not(s->do_not_validate);
}

Test(registry, svc4_udp_is_refused)
{
	cr_assert_eq(define("alice@example.com", "svc:dns", "udp:53", "tag:web"), -EINVAL);
	cr_assert_str_eq(err, "udp:53: services carry TCP only (tcp:N or tcp:N-M)");
	cr_assert_eq(registry_service_count(reg), 0);
}

Test(registry, svc4_malformed_ports_are_refused)
{
	const char *bad[] = {"tcp:0",  "tcp:65536", "tcp:90-80", "tcp:",    "tcp:8a",     "443", "",
	                     "tcp:-5", "tcp:1-2-3", "tcp:+80",   "tcp: 80", "tcp:1234567"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(define("alice@example.com", "svc:web", bad[i], "tag:web"), -EINVAL,
		             "%s", bad[i]);
	cr_assert_eq(registry_service_count(reg), 0);
}

Test(registry, svc4_do_not_validate_is_the_single_entry)
{
	const char *ports[] = {"do-not-validate", "tcp:80"};
	const char *tags[] = {"tag:web"};
	struct reg_service_def def = {
	    .name = "svc:web", .ports = ports, .n_ports = 2, .tags = tags, .n_tags = 1};

	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)),
	             -EINVAL);
	cr_assert(strstr(err, "do-not-validate must be the only"), "%s", err);
	define_ok("svc:web", "do-not-validate", "tag:web");
	cr_assert(registry_service(reg, 0)->do_not_validate);
	cr_assert_eq(registry_service(reg, 0)->n_ports, 0);
}

Test(registry, svc4_at_least_one_port_entry)
{
	const char *tags[] = {"tag:web"};
	struct reg_service_def def = {.name = "svc:web", .tags = tags, .n_tags = 1};

	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)),
	             -EINVAL);
	cr_assert(strstr(err, "needs ports"), "%s", err);
}

Test(registry, limit_ports_per_service)
{
	const char *ports[REG_MAX_PORTS + 1];
	const char *tags[] = {"tag:web"};
	struct reg_service_def def = {
	    .name = "svc:web", .ports = ports, .n_ports = REG_MAX_PORTS, .tags = tags, .n_tags = 1};

	for (size_t i = 0; i <= REG_MAX_PORTS; i++)
		ports[i] = "tcp:80";
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)), 0,
	             "%s", err);
	def.n_ports = REG_MAX_PORTS + 1;
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)),
	             -E2BIG);
}

/* ---- SVC-5 ------------------------------------------------------------- */

Test(registry, svc5_a_service_needs_a_tag)
{
	const char *ports[] = {"tcp:80"};
	struct reg_service_def def = {.name = "svc:web", .ports = ports, .n_ports = 1};

	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)),
	             -EINVAL);
	cr_assert(strstr(err, "at least one tag"), "%s", err);
}

Test(registry, svc5_tags_must_be_owned_in_policy)
{
	cr_assert_eq(define("alice@example.com", "svc:web", "tcp:80", "tag:nobody"), -EINVAL);
	cr_assert(strstr(err, "tag:nobody is not owned"), "%s", err);
	cr_assert_eq(define("alice@example.com", "svc:web", "tcp:80", "web"), -EINVAL);
	cr_assert_eq(registry_service_count(reg), 0);
}

Test(registry, limit_tags_per_service_and_description_length)
{
	const char *ports[] = {"tcp:80"};
	const char *tags[REG_MAX_TAGS + 1];
	char desc[REG_MAX_DESC + 2];
	struct reg_service_def def = {
	    .name = "svc:web", .ports = ports, .n_ports = 1, .tags = tags, .n_tags = REG_MAX_TAGS};

	for (size_t i = 0; i <= REG_MAX_TAGS; i++)
		tags[i] = "tag:web";
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)), 0,
	             "%s", err);
	def.n_tags = REG_MAX_TAGS + 1;
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)),
	             -E2BIG);
	def.n_tags = 1;
	memset(desc, 'd', REG_MAX_DESC);
	desc[REG_MAX_DESC] = '\0';
	def.description = desc;
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)), 0,
	             "%s", err);
	strcat(desc, "d");
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)),
	             -E2BIG);
}

Test(registry, limit_node_name_length_and_tags_per_node)
{
	char name[REG_MAX_NAME + 2];
	const char *tags[REG_MAX_TAGS + 1];
	struct reg_node_info info = {.name = name, .user = "", .region = "eu", .tags = tags};

	for (size_t i = 0; i <= REG_MAX_TAGS; i++)
		tags[i] = "tag:web";
	io_addr_v4(&info.endpoint, 0x01020304, 1);
	memset(name, 'n', REG_MAX_NAME);
	name[REG_MAX_NAME] = '\0';
	cr_assert_geq(registry_node_register(reg, &info, err, sizeof(err)), 0, "%s", err);
	strcat(name, "n");
	cr_assert_eq(registry_node_register(reg, &info, err, sizeof(err)), -EINVAL);
	name[5] = '\0';
	info.n_tags = REG_MAX_TAGS + 1;
	cr_assert_eq(registry_node_register(reg, &info, err, sizeof(err)), -E2BIG);
	cr_assert_eq(registry_node_count(reg), 1);
}

/* ---- SVC-6 ------------------------------------------------------------- */

Test(registry, svc6_member_is_refused_and_nothing_changes)
{
	uint64_t gen = registry_generation(reg);

	cr_assert_eq(define("bob@example.com", "svc:web", "tcp:80", "tag:web"), -EPERM);
	cr_assert_str_eq(err, "bob@example.com (member) may not define services: only owner, admin "
	                      "or network-admin");
	cr_assert_eq(registry_generation(reg), gen);
	cr_assert_eq(registry_service_count(reg), 0);
	cr_assert_eq(define("eve@example.com", "svc:web", "tcp:80", "tag:web"), -EPERM);
	cr_assert(strstr(err, "unknown user"), "%s", err);
	cr_assert_eq(registry_service_count(reg), 0);
}

Test(registry, svc6_member_cannot_change_or_delete)
{
	uint64_t gen;

	define_ok("svc:web", "tcp:80", "tag:web");
	gen = registry_generation(reg);
	cr_assert_eq(define("bob@example.com", "svc:web", "tcp:81", "tag:web"), -EPERM);
	cr_assert_eq(registry_delete_service(reg, "bob@example.com", "svc:web", err, sizeof(err)),
	             -EPERM);
	cr_assert(strstr(err, "may not delete services"), "%s", err);
	cr_assert_eq(registry_generation(reg), gen);
	cr_assert_eq(registry_service_count(reg), 1);
	cr_assert_eq(registry_service(reg, 0)->ports[0].first, 80);
}

Test(registry, svc6_owner_admin_and_network_admin_may_define)
{
	cr_assert_eq(define("alice@example.com", "svc:a", "tcp:80", "tag:web"), 0, "%s", err);
	cr_assert_eq(define("carol@example.com", "svc:b", "tcp:80", "tag:web"), 0, "%s", err);
	cr_assert_eq(define("nina@example.com", "svc:c", "tcp:80", "tag:web"), 0, "%s", err);
	cr_assert_eq(registry_service_count(reg), 3);
	cr_assert_eq(registry_delete_service(reg, "nina@example.com", "svc:nope", err, sizeof(err)),
	             -ENOENT);
}

/* ---- APR --------------------------------------------------------------- */

Test(registry, apr1_advertising_host_is_pending)
{
	size_t h = node_in("h1", "eu", "tag:web"), c = node_in("c1", "eu", NULL), out[16];

	define_ok("svc:web", "tcp:80", "tag:web");
	cr_assert_eq(advertise(h, "svc:web", 80, false, false), 0, "%s", err);
	cr_assert_not(registry_host_approved(reg, host("svc:web", "h1")));
	cr_assert_not(registry_host_eligible(reg, host("svc:web", "h1")));
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_PENDING_APPROVAL);
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_PENDING_APPROVAL);
	cr_assert_eq(rank(c, "svc:web", out), 0);
}

Test(registry, apr2_admin_approval_makes_host_carry_traffic)
{
	size_t h = node_in("h1", "eu", "tag:web"), c = node_in("c1", "eu", NULL), out[16];

	define_ok("svc:web", "tcp:80", "tag:web");
	advertise(h, "svc:web", 80, false, false);
	cr_assert_eq(approve("carol@example.com", "svc:web", "h1"), 0, "%s", err);
	cr_assert(registry_host_approved(reg, host("svc:web", "h1")));
	cr_assert_not(registry_host_auto_approved(reg, host("svc:web", "h1")));
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_CONNECTED);
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_CONNECTED);
	cr_assert_eq(rank(c, "svc:web", out), 1);
	cr_assert_eq(out[0], h);
}

Test(registry, apr2_admin_rejection_keeps_host_out)
{
	size_t h = node_in("h1", "eu", "tag:web"), c = node_in("c1", "eu", NULL), out[16];

	define_ok("svc:web", "tcp:80", "tag:web");
	advertise(h, "svc:web", 80, false, false);
	cr_assert_eq(registry_decide(reg, "nina@example.com", "svc:web", "h1",
	                             REG_DECISION_REJECTED, err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_REJECTED);
	cr_assert_eq(rank(c, "svc:web", out), 0);
	/* The rejection survives a re-advertisement. */
	advertise(h, "svc:web", 80, false, false);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_REJECTED);
}

Test(registry, apr2_non_admin_cannot_approve)
{
	size_t h = node_in("h1", "eu", "tag:web");
	uint64_t gen;

	define_ok("svc:web", "tcp:80", "tag:web");
	advertise(h, "svc:web", 80, false, false);
	gen = registry_generation(reg);
	cr_assert_eq(approve("bob@example.com", "svc:web", "h1"), -EPERM);
	cr_assert(strstr(err, "bob@example.com (member) may not approve"), "%s", err);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_PENDING_APPROVAL);
	cr_assert_eq(registry_generation(reg), gen);
	cr_assert_eq(approve("carol@example.com", "svc:nope", "h1"), -ENOENT);
	cr_assert_eq(approve("carol@example.com", "svc:web", "nope"), -ENOENT);
}

Test(registry, apr3_auto_approval_by_service_name)
{
	size_t h = node_in("h1", "eu", "tag:infra"), h2 = node_in("h2", "eu", "tag:web");

	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(h, "svc:auto", 80, false, false);
	advertise(h2, "svc:auto", 80, false, false);
	cr_assert(registry_host_auto_approved(reg, host("svc:auto", "h1")));
	cr_assert(registry_host_approved(reg, host("svc:auto", "h1")));
	cr_assert_eq(hstate("svc:auto", "h1"), REG_STATE_CONNECTED);
	/* A host without an approver tag stays pending. */
	cr_assert_not(registry_host_approved(reg, host("svc:auto", "h2")));
	cr_assert_eq(hstate("svc:auto", "h2"), REG_STATE_PENDING_APPROVAL);
}

Test(registry, apr3_auto_approval_by_service_tag)
{
	size_t h = node_in("h1", "eu", "tag:edge");

	define_ok("svc:shop", "tcp:80", "tag:prod");
	define_ok("svc:blog", "tcp:80", "tag:web");
	advertise(h, "svc:shop", 80, false, false);
	cr_assert(registry_host_auto_approved(reg, host("svc:shop", "h1")));
	cr_assert_eq(hstate("svc:shop", "h1"), REG_STATE_CONNECTED);
	advertise(h, "svc:blog", 80, false, false);
	cr_assert_not(registry_host_approved(reg, host("svc:blog", "h1")));
}

Test(registry, apr4_pre_approved_hosts_are_shown)
{
	size_t out[8];

	node_in("h1", "eu", "tag:infra");
	node_in("h2", "eu", "tag:web");
	node_in("h3", "eu", "tag:web");
	define_ok("svc:auto", "tcp:80", "tag:web");
	/* h1 by policy (no host record), h3 by an approval ahead of any advertisement. */
	cr_assert_eq(registry_host_index(reg, "svc:auto", "h1"), -ENOENT);
	cr_assert_eq(approve("alice@example.com", "svc:auto", "h3"), 0, "%s", err);
	cr_assert_eq(hstate("svc:auto", "h3"), REG_STATE_PRE_APPROVED);
	cr_assert_eq(registry_pre_approved_nodes(reg, "svc:auto", out, 8), 2);
	cr_assert_eq(out[0], 0);
	cr_assert_eq(out[1], 2);
	cr_assert_eq(registry_service_state(reg, "svc:auto"), REG_STATE_PRE_APPROVED);
	/* Once it advertises it is no longer pre-approved. */
	advertise(0, "svc:auto", 80, false, false);
	cr_assert_eq(registry_pre_approved_nodes(reg, "svc:auto", out, 8), 1);
	cr_assert_eq(out[0], 2);
}

Test(registry, apr4_policy_pre_approval_alone_gives_service_state)
{
	node_in("h1", "eu", "tag:infra");
	define_ok("svc:auto", "tcp:80", "tag:web");
	cr_assert_eq(registry_service_state(reg, "svc:auto"), REG_STATE_PRE_APPROVED);
	define_ok("svc:other", "tcp:80", "tag:web");
	cr_assert_eq(registry_service_state(reg, "svc:other"), REG_STATE_OFFLINE);
}

Test(registry, apr5_revoke_removes_host_from_ranking)
{
	size_t h = node_in("h1", "eu", "tag:infra"), c = node_in("c1", "eu", NULL), out[16];

	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(h, "svc:auto", 80, false, false);
	cr_assert_eq(rank(c, "svc:auto", out), 1);
	cr_assert_eq(registry_decide(reg, "carol@example.com", "svc:auto", "h1",
	                             REG_DECISION_REVOKED, err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(rank(c, "svc:auto", out), 0);
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h1")));
	approve("carol@example.com", "svc:auto", "h1");
	cr_assert_eq(rank(c, "svc:auto", out), 1);
}

Test(registry, apr5_removing_the_auto_approver_removes_host_from_ranking)
{
	size_t h = node_in("h1", "eu", "tag:infra"), c = node_in("c1", "eu", NULL), out[16];

	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(h, "svc:auto", 80, false, false);
	cr_assert_eq(rank(c, "svc:auto", out), 1);
	set_policy("{\"tagOwners\": {\"tag:web\": [\"alice@example.com\"], \"tag:infra\": "
	           "[\"alice@example.com\"]}}");
	cr_assert_eq(rank(c, "svc:auto", out), 0);
	cr_assert_eq(hstate("svc:auto", "h1"), REG_STATE_PENDING_APPROVAL);
}

Test(registry, policy_change_is_an_admin_action)
{
	struct policy *p = NULL;
	char perr[POLICY_ERR_LEN];
	uint64_t gen = registry_generation(reg);

	cr_assert_eq(policy_new_empty(&p), 0);
	cr_assert_eq(registry_set_policy(reg, "bob@example.com", p, err, sizeof(err)), -EPERM);
	cr_assert_eq(registry_generation(reg), gen);
	cr_assert_eq(registry_set_policy(reg, "carol@example.com", p, err, sizeof(err)), 0);
	cr_assert_gt(registry_generation(reg), gen);
	(void)perr;
}

/* ---- STR-2 eligibility ------------------------------------------------- */

Test(registry, str2_each_eligibility_condition)
{
	size_t h = node_in("h1", "eu", "tag:infra");
	const char *ports[] = {"tcp:80", "tcp:443"};
	const char *tags[] = {"tag:web"};
	struct reg_service_def def = {
	    .name = "svc:auto", .ports = ports, .n_ports = 2, .tags = tags, .n_tags = 1};
	uint16_t both[] = {443, 80};
	struct reg_advert a = {.service = "svc:auto", .n_config_ports = 2, .config_ports = both};

	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)), 0);
	cr_assert_eq(registry_advertise(reg, h, &a, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert(registry_host_eligible(reg, host("svc:auto", "h1")));
	/* Not configured for every port. */
	advertise(h, "svc:auto", 80, false, false);
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h1")));
	/* A tun host takes every port. */
	advertise(h, "svc:auto", 0, false, true);
	cr_assert(registry_host_eligible(reg, host("svc:auto", "h1")));
	/* Draining. */
	advertise(h, "svc:auto", 0, true, true);
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h1")));
	/* Not alive. */
	advertise(h, "svc:auto", 0, false, true);
	registry_node_set_alive(reg, h, false);
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h1")));
	registry_node_set_alive(reg, h, true);
	/* Not approved. */
	registry_decide(reg, "alice@example.com", "svc:auto", "h1", REG_DECISION_REVOKED, err,
	                sizeof(err));
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h1")));
	approve("alice@example.com", "svc:auto", "h1");
	cr_assert(registry_host_eligible(reg, host("svc:auto", "h1")));
	/* Not advertising (record kept by the decision). */
	cr_assert_eq(registry_advertise(reg, h, NULL, 0, err, sizeof(err)), 0);
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h1")));
}

Test(registry, str2_do_not_validate_accepts_any_config)
{
	size_t h = node_in("h1", "eu", "tag:infra");

	define_ok("svc:auto", "do-not-validate", "tag:web");
	advertise(h, "svc:auto", 0, false, false);
	cr_assert(registry_host_eligible(reg, host("svc:auto", "h1")));
}

Test(registry, sta2_range_needs_every_port_configured)
{
	size_t h = node_in("h1", "eu", "tag:infra");
	uint16_t ports[] = {8000, 8001, 8002};
	struct reg_advert a = {.service = "svc:auto", .n_config_ports = 2, .config_ports = ports};

	define_ok("svc:auto", "tcp:8000-8002", "tag:web");
	registry_advertise(reg, h, &a, 1, err, sizeof(err));
	cr_assert_eq(hstate("svc:auto", "h1"), REG_STATE_NEEDS_CONFIGURATION);
	cr_assert_eq(registry_service_state(reg, "svc:auto"), REG_STATE_NEEDS_CONFIGURATION);
	a.n_config_ports = 3;
	registry_advertise(reg, h, &a, 1, err, sizeof(err));
	cr_assert_eq(hstate("svc:auto", "h1"), REG_STATE_CONNECTED);
}

/* ---- STR-3 steering ---------------------------------------------------- */

static uint64_t test_latency(void *ctx, const char *a, const char *b)
{
	(void)ctx;
	/* eu-us 80 ms, eu-ap 150 ms, us-ap 100 ms. */
	if ((!strcmp(a, "eu") && !strcmp(b, "us")) || (!strcmp(a, "us") && !strcmp(b, "eu")))
		return 80000;
	if ((!strcmp(a, "us") && !strcmp(b, "ap")) || (!strcmp(a, "ap") && !strcmp(b, "us")))
		return 100000;
	return 150000;
}

Test(registry, str3_same_region_first_then_lowest_latency)
{
	size_t ap = node_in("h-ap", "ap", "tag:infra"), us = node_in("h-us", "us", "tag:infra");
	size_t eu = node_in("h-eu", "eu", "tag:infra"), c = node_in("c-eu", "eu", NULL);
	size_t cap = node_in("c-ap", "ap", NULL), out[16];

	registry_set_latency_fn(reg, test_latency, NULL);
	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(ap, "svc:auto", 80, false, false);
	advertise(us, "svc:auto", 80, false, false);
	advertise(eu, "svc:auto", 80, false, false);
	cr_assert_eq(rank(c, "svc:auto", out), 3);
	cr_assert_eq(out[0], eu);
	cr_assert_eq(out[1], us);
	cr_assert_eq(out[2], ap);
	cr_assert_eq(rank(cap, "svc:auto", out), 3);
	cr_assert_eq(out[0], ap);
	cr_assert_eq(out[1], us);
	cr_assert_eq(out[2], eu);
	/* The same-region host dies: the next by latency leads. */
	registry_node_set_alive(reg, eu, false);
	cr_assert_eq(rank(c, "svc:auto", out), 2);
	cr_assert_eq(out[0], us);
	/* max bounds the output. */
	cr_assert_eq(registry_rank_hosts(reg, c, "svc:auto", out, 1), 1);
}

Test(registry, str3_rendezvous_spreads_clients_and_is_stable)
{
	size_t a = node_in("host-a", "eu", "tag:infra"), b = node_in("host-b", "eu", "tag:infra");
	size_t x = node_in("host-x", "eu", "tag:infra");
	size_t first[100], out[16];
	int on_a = 0, on_b = 0;
	char name[32];

	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(a, "svc:auto", 80, false, false);
	advertise(b, "svc:auto", 80, false, false);
	for (int i = 0; i < 100; i++) {
		size_t c;

		snprintf(name, sizeof(name), "client-%d", i);
		c = node_in(name, "eu", NULL);
		cr_assert_eq(rank(c, "svc:auto", out), 2);
		first[i] = out[0];
		on_a += out[0] == a;
		on_b += out[0] == b;
		/* Deterministic. */
		rank(c, "svc:auto", out);
		cr_assert_eq(out[0], first[i]);
	}
	cr_assert(on_a >= 30 && on_a <= 70, "host-a got %d", on_a);
	cr_assert(on_b >= 30 && on_b <= 70, "host-b got %d", on_b);
	/* A third host joins: clients that stay keep their host (no reshuffle
	 * between a and b). */
	advertise(x, "svc:auto", 80, false, false);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "client-%d", i);
		rank((size_t)registry_node_index(reg, name), "svc:auto", out);
		cr_assert(out[0] == first[i] || out[0] == x);
	}
}

/* ---- STA states -------------------------------------------------------- */

Test(registry, sta1_each_host_state_is_reached)
{
	size_t h = node_in("h1", "eu", "tag:web");

	define_ok("svc:web", "tcp:80", "tag:web");
	advertise(h, "svc:web", 80, false, false);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_PENDING_APPROVAL);
	approve("alice@example.com", "svc:web", "h1");
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_CONNECTED);
	advertise(h, "svc:web", 81, false, false);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_NEEDS_CONFIGURATION);
	advertise(h, "svc:web", 80, true, false);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_DRAINING);
	registry_node_set_connected(reg, h, false);
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_OFFLINE);
	registry_node_set_connected(reg, h, true);
	registry_advertise(reg, h, NULL, 0, err, sizeof(err));
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_PRE_APPROVED);
	registry_decide(reg, "alice@example.com", "svc:web", "h1", REG_DECISION_REJECTED, err,
	                sizeof(err));
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_REJECTED);
}

Test(registry, sta1_service_state_precedence)
{
	size_t h1 = node_in("h1", "eu", "tag:web"), h2 = node_in("h2", "eu", "tag:web");
	size_t h3 = node_in("h3", "eu", "tag:web");

	define_ok("svc:web", "tcp:80", "tag:web");
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_OFFLINE);
	approve("alice@example.com", "svc:web", "h1");
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_PRE_APPROVED);
	advertise(h2, "svc:web", 80, false, false);
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_PENDING_APPROVAL);
	advertise(h1, "svc:web", 81, false, false);
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_NEEDS_CONFIGURATION);
	approve("alice@example.com", "svc:web", "h3");
	advertise(h3, "svc:web", 80, true, false);
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_DRAINING);
	advertise(h1, "svc:web", 80, false, false);
	cr_assert_eq(registry_service_state(reg, "svc:web"), REG_STATE_CONNECTED);
	cr_assert_eq(registry_service_state(reg, "svc:undefined"), REG_STATE_OFFLINE);
}

Test(registry, sta3_offline_when_no_approved_host_is_alive)
{
	size_t h = node_in("h1", "eu", "tag:infra");

	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(h, "svc:auto", 80, false, false);
	cr_assert_eq(registry_service_state(reg, "svc:auto"), REG_STATE_CONNECTED);
	registry_node_set_alive(reg, h, false);
	cr_assert_eq(hstate("svc:auto", "h1"), REG_STATE_OFFLINE);
	cr_assert_eq(registry_service_state(reg, "svc:auto"), REG_STATE_OFFLINE);
}

Test(registry, state_and_role_names_parse_back)
{
	enum reg_state s;
	enum reg_role ro;

	for (int i = REG_STATE_OFFLINE; i <= REG_STATE_REJECTED; i++) {
		cr_assert_eq(reg_state_parse(reg_state_name((enum reg_state)i), &s), 0);
		cr_assert_eq((int)s, i);
	}
	cr_assert_eq(reg_state_parse("pending APPROVAL", &s), 0);
	cr_assert_eq(s, REG_STATE_PENDING_APPROVAL);
	cr_assert_eq(reg_state_parse("nope", &s), -EINVAL);
	cr_assert_eq(reg_role_parse("network-admin", &ro), 0);
	cr_assert_eq(ro, REG_ROLE_NETWORK_ADMIN);
	cr_assert_str_eq(reg_role_name(REG_ROLE_MEMBER), "member");
	cr_assert_eq(reg_role_parse("root", &ro), -EINVAL);
}

/* ---- CFG-11 ------------------------------------------------------------ */

Test(registry, cfg11_untagged_node_cannot_advertise)
{
	size_t u = node_in("laptop", "eu", NULL);

	define_ok("svc:web", "tcp:80", "tag:web");
	cr_assert_eq(advertise(u, "svc:web", 80, false, false), -EPERM);
	cr_assert(strstr(err, "untagged node cannot host"), "%s", err);
	cr_assert_eq(registry_host_index(reg, "svc:web", "laptop"), -ENOENT);
	cr_assert_eq(registry_host_count(reg), 0);
}

Test(registry, advertising_refuses_bad_entries_but_applies_the_rest)
{
	size_t h = node_in("h1", "eu", "tag:web");
	uint16_t p = 80;
	struct reg_advert a[2] = {{.service = "svc:-bad", .n_config_ports = 1, .config_ports = &p},
	                          {.service = "svc:web", .n_config_ports = 1, .config_ports = &p}};

	cr_assert_eq(registry_advertise(reg, h, a, 2, err, sizeof(err)), -EINVAL);
	cr_assert_geq(registry_host_index(reg, "svc:web", "h1"), 0);
	cr_assert_eq(registry_host_index(reg, "svc:-bad", "h1"), -ENOENT);
	a[0].service = "svc:x";
	a[0].n_config_ports = REG_MAX_PORTS + 1;
	cr_assert_eq(registry_advertise(reg, h, a, 2, err, sizeof(err)), -E2BIG);
	cr_assert_eq(registry_advertise(reg, 99, a, 2, err, sizeof(err)), -ENOENT);
}

/* ---- nodes, users, generation ------------------------------------------ */

Test(registry, nodes_get_addresses_in_order_and_are_found_by_them)
{
	char b[IO_ADDR_STRLEN];
	size_t n1 = node_in("n1", "eu", NULL), n2 = node_in("n2", "eu", NULL);
	const struct reg_node *n = registry_node(reg, n2);

	cr_assert_eq(n1, 0);
	cr_assert_str_eq(addr_text(&registry_node(reg, n1)->addr4, b), "100.64.0.1");
	cr_assert_str_eq(addr_text(&n->addr4, b), "100.64.0.2");
	cr_assert_str_eq(addr_text(&n->addr6, b), "fd7a:115c:a1e0::6440:2");
	cr_assert_eq(registry_node_by_addr(reg, &n->addr6), (int)n2);
	cr_assert_eq(registry_node_by_addr(reg, &n->addr4), (int)n2);
	/* Re-registering updates, keeping index and addresses. */
	cr_assert_eq(node_in("n1", "us", "tag:web"), n1);
	cr_assert_str_eq(registry_node(reg, n1)->region, "us");
	cr_assert_str_eq(addr_text(&registry_node(reg, n1)->addr4, b), "100.64.0.1");
	cr_assert_eq(registry_node_index(reg, "zz"), -ENOENT);
}

Test(registry, node_with_unowned_tag_is_refused)
{
	const char *tags[] = {"tag:nobody"};
	struct reg_node_info info = {
	    .name = "h", .user = "", .region = "eu", .tags = tags, .n_tags = 1};

	io_addr_v4(&info.endpoint, 0x01020304, 1);
	cr_assert_eq(registry_node_register(reg, &info, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "tag:nobody"), "%s", err);
	info.n_tags = 0;
	info.region = "";
	cr_assert_eq(registry_node_register(reg, &info, err, sizeof(err)), -EINVAL);
	cr_assert_eq(registry_node_count(reg), 0);
}

Test(registry, generation_bumps_on_liveness_and_advertisements)
{
	size_t h = node_in("h1", "eu", "tag:web");
	uint64_t g = registry_generation(reg);

	registry_node_set_alive(reg, h, false);
	cr_assert_gt(registry_generation(reg), g);
	g = registry_generation(reg);
	advertise(h, "svc:web", 80, false, false);
	cr_assert_gt(registry_generation(reg), g);
	g = registry_generation(reg);
	advertise(h, "svc:web", 80, true, false);
	cr_assert_gt(registry_generation(reg), g);
}

Test(registry, users_by_token_and_tokens_unique)
{
	cr_assert_str_eq(registry_user_by_token(reg, "tok-alice-0123456789")->login,
	                 "alice@example.com");
	cr_assert_null(registry_user_by_token(reg, "nope"));
	cr_assert_eq(registry_user_set(reg, "bob@example.com", REG_ROLE_MEMBER, "Bob",
	                               "tok-alice-0123456789", err, sizeof(err)),
	             -EEXIST);
	cr_assert(registry_is_admin(reg, "nina@example.com"));
	cr_assert_not(registry_is_admin(reg, "bob@example.com"));
	cr_assert_not(registry_is_admin(reg, NULL));
}

Test(registry, delete_drops_decisions_so_redefinition_starts_pending)
{
	size_t h = node_in("h1", "eu", "tag:web");

	define_ok("svc:web", "tcp:80", "tag:web");
	node_in("h2", "eu", "tag:web");
	approve("alice@example.com", "svc:web", "h1");
	approve("alice@example.com", "svc:web", "h2");
	advertise(h, "svc:web", 80, false, false);
	cr_assert_eq(registry_host_count(reg), 2);
	registry_delete_service(reg, "alice@example.com", "svc:web", err, sizeof(err));
	cr_assert_eq(registry_host_count(reg), 1); /* h1 still advertises */
	define_ok("svc:web", "tcp:80", "tag:web");
	cr_assert_eq(hstate("svc:web", "h1"), REG_STATE_PENDING_APPROVAL);
}

Test(registry, host_records_go_when_neither_advertised_nor_decided)
{
	size_t h1 = node_in("h1", "eu", "tag:web"), h2 = node_in("h2", "eu", "tag:web");
	uint16_t p = 80;
	struct reg_advert a[3] = {{.service = "svc:a", .n_config_ports = 1, .config_ports = &p},
	                          {.service = "svc:b", .n_config_ports = 1, .config_ports = &p},
	                          {.service = "svc:c", .n_config_ports = 1, .config_ports = &p}};

	registry_advertise(reg, h1, a, 3, err, sizeof(err));
	registry_advertise(reg, h2, a, 3, err, sizeof(err));
	cr_assert_eq(registry_host_count(reg), 6);
	registry_advertise(reg, h1, &a[1], 1, err, sizeof(err));
	cr_assert_eq(registry_host_count(reg), 4);
	cr_assert_eq(registry_host_index(reg, "svc:a", "h1"), -ENOENT);
	for (int i = 0; i < 3; i++)
		cr_assert_geq(registry_host_index(reg, a[i].service, "h2"), 0);
	cr_assert_geq(registry_host_index(reg, "svc:b", "h1"), 0);
	for (size_t i = 0; i < registry_host_count(reg); i++) {
		const struct reg_host *hh = registry_host(reg, i);

		cr_assert_eq(registry_host_index(reg, hh->service, hh->node), (int)i);
	}
}

/* ---- persistence ------------------------------------------------------- */

static void populate(void)
{
	const char *ports[] = {"tcp:443", "tcp:8000-8100"};
	const char *tags[] = {"tag:web", "tag:prod"};
	struct reg_service_def def = {.name = "svc:shop",
	                              .description = "the \"shop\"\nline two",
	                              .ports = ports,
	                              .n_ports = 2,
	                              .tags = tags,
	                              .n_tags = 2};
	struct reg_node_info info = {
	    .name = "v6node", .user = "", .region = "us", .tls_key = "abcd"};
	size_t h = node_in("h1", "eu", "tag:web");

	node_in("h2", "us", "tag:edge");
	cr_assert_eq(io_addr_parse(&info.endpoint, "[2001:db8::1]:41641", 0), 0);
	cr_assert_geq(registry_node_register(reg, &info, err, sizeof(err)), 0, "%s", err);
	define_ok("svc:web", "tcp:80", "tag:web");
	cr_assert_eq(registry_define_service(reg, "alice@example.com", &def, err, sizeof(err)), 0);
	define_ok("svc:gone", "tcp:80", "tag:web");
	define_ok("svc:raw", "do-not-validate", "tag:web");
	registry_delete_service(reg, "alice@example.com", "svc:gone", err, sizeof(err));
	advertise(h, "svc:web", 80, false, false);
	approve("alice@example.com", "svc:raw", "h2");
	approve("alice@example.com", "svc:web", "h1");
	registry_decide(reg, "alice@example.com", "svc:shop", "h1", REG_DECISION_REJECTED, err,
	                sizeof(err));
	registry_decide(reg, "alice@example.com", "svc:web", "h2", REG_DECISION_REVOKED, err,
	                sizeof(err));
}

Test(registry, persistence_round_trip_is_exact)
{
	struct registry *r2;
	char *j1, *j2;
	char b[IO_ADDR_STRLEN];

	populate();
	j1 = registry_to_json(reg);
	cr_assert(j1);
	cr_assert_eq(registry_from_json(j1, strlen(j1), &r2, err, sizeof(err)), 0, "%s", err);
	j2 = registry_to_json(r2);
	cr_assert_str_eq(j1, j2);
	cr_assert_eq(registry_generation(r2), registry_generation(reg));
	cr_assert_eq(registry_service_count(r2), 3);
	cr_assert_str_eq(addr_text(&registry_service(r2, 1)->vip4, b), "100.100.0.2");
	cr_assert_str_eq(registry_service(r2, 1)->description, "the \"shop\"\nline two");
	cr_assert_eq(registry_node_index(r2, "v6node"), 2);
	cr_assert_str_eq(registry_node(r2, 2)->tls_key, "abcd");
	cr_assert_eq(registry_node(r2, 2)->endpoint.port, 41641);
	cr_assert_eq(registry_host(r2, (size_t)registry_host_index(r2, "svc:shop", "h1"))->decision,
	             REG_DECISION_REJECTED);
	cr_assert_str_eq(registry_user_by_token(r2, "tok-alice-0123456789")->login,
	                 "alice@example.com");
	cr_assert_str_eq(policy_text(registry_policy(r2)), test_policy);
	/* Counters survive: the next service does not reuse svc:gone's VIP. */
	{
		struct registry *keep = reg;

		reg = r2;
		define_ok("svc:next", "tcp:80", "tag:web");
		cr_assert_str_eq(addr_text(&registry_service(reg, 3)->vip4, b), "100.100.0.5");
		reg = keep;
	}
	registry_free(r2);
	free(j1);
	free(j2);
}

static void expect_refused(const char *json, const char *place)
{
	struct registry *r2 = NULL;

	cr_assert_neq(registry_from_json(json, strlen(json), &r2, err, sizeof(err)), 0, "%s", json);
	cr_assert_null(r2);
	cr_assert(strstr(err, place), "want '%s' in '%s'", place, err);
}

/* Replaces the first `from` in the registry's JSON by `to` and expects a refusal. */
static void mutate_refused(const char *from, const char *to, const char *place)
{
	char *j = registry_to_json(reg), *at, *m;

	cr_assert(j);
	at = strstr(j, from);
	cr_assert(at, "'%s' not in %s", from, j);
	m = malloc(strlen(j) + strlen(to) + 1);
	memcpy(m, j, (size_t)(at - j));
	strcpy(m + (at - j), to);
	strcat(m, at + strlen(from));
	expect_refused(m, place);
	free(m);
	free(j);
}

Test(registry, persistence_refuses_malformed_documents_with_place)
{
	populate();
	expect_refused("{", "malformed");
	expect_refused("[]", "malformed");
	expect_refused("{\"tailnet\": \"x\"}", "registry.policy");
	mutate_refused("\"svc:web\"", "\"svc:-web\"", "services[0]");
	mutate_refused("\"tcp:443\"", "\"udp:53\"", "services[1]");
	mutate_refused("\"100.64.0.2\"", "\"100.64.0.1\"", "nodes[1]");
	mutate_refused("\"100.100.0.1\"", "\"100.100.100.100\"", "services[0]");
	mutate_refused("\"100.100.0.1\"", "\"10.0.0.1\"", "services[0]");
	mutate_refused("\"rejected\"", "\"maybe\"", "decisions[");
	mutate_refused("\"owner\"", "\"root\"", "users[0].role");
	mutate_refused("\"region\":\t\"eu\"", "\"region\":\t7", "nodes[0].region");
	mutate_refused("\"next_node\":\t", "\"next_node\":\t-", "counters.next_node");
	mutate_refused("\"tagOwners", "\"bogus\\\": 1, \\\"tagOwners", "policy");
	mutate_refused("\"node\":\t\"h2\"", "\"node\":\t\"h9\"", "decisions[");
}

/* ---- scale ------------------------------------------------------------- */

Test(registry, limit_100k_nodes_register_fast_and_the_next_is_refused)
{
	struct reg_node_info info = {.user = "", .region = "eu"};
	struct timespec t0, t1;
	char name[32];
	double secs;

	io_addr_v4(&info.endpoint, 0x01020304, 1);
	info.name = name;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < REG_MAX_NODES; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		if (registry_node_register(reg, &info, err, sizeof(err)) != i)
			cr_assert_fail("node %d: %s", i, err);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_log_info("100k nodes registered in %.3f s", secs);
	cr_assert_lt(secs, 5.0, "took %.3f s", secs);
	cr_assert_eq(registry_node_count(reg), REG_MAX_NODES);
	cr_assert_eq(registry_node_index(reg, "node-99999"), 99999);
	cr_assert_eq(registry_node_by_addr(reg, &registry_node(reg, 54321)->addr6), 54321);
	snprintf(name, sizeof(name), "node-extra");
	cr_assert_eq(registry_node_register(reg, &info, err, sizeof(err)), -ENOSPC);
}

Test(registry, limit_hosts_per_service)
{
	char name[32];
	size_t idx = 0;

	for (int i = 0; i <= REG_MAX_HOSTS; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		idx = node_in(name, "eu", "tag:web");
		if (i < REG_MAX_HOSTS)
			cr_assert_eq(advertise(idx, "svc:web", 80, false, false), 0, "%s", err);
	}
	cr_assert_eq(advertise(idx, "svc:web", 80, false, false), -ENOSPC);
	cr_assert(strstr(err, "hosts per service"), "%s", err);
	cr_assert_eq(registry_host_count(reg), REG_MAX_HOSTS);
}

Test(registry, limit_services)
{
	char name[32];

	for (int i = 0; i < REG_MAX_SERVICES; i++) {
		snprintf(name, sizeof(name), "svc:s%d", i);
		define_ok(name, "tcp:80", "tag:web");
	}
	cr_assert_eq(define("alice@example.com", "svc:one-more", "tcp:80", "tag:web"), -ENOSPC);
	cr_assert_eq(registry_service_count(reg), REG_MAX_SERVICES);
	/* Redefining an existing one still works at the limit. */
	define_ok("svc:s7", "tcp:81", "tag:web");
}

Test(registry, persistence_refuses_duplicate_user_token_with_place)
{
	char bob[REG_SHA256_HEX_LEN + 3], alice[REG_SHA256_HEX_LEN + 3];

	registry_user_set(reg, "bob@example.com", REG_ROLE_MEMBER, "Bob", "tok-bob-0123456789", err,
	                  sizeof(err));
	snprintf(bob, sizeof(bob), "\"%s\"", registry_user(reg, "bob@example.com")->token_sha256);
	snprintf(alice, sizeof(alice), "\"%s\"",
	         registry_user(reg, "alice@example.com")->token_sha256);
	mutate_refused(bob, alice, "users[3]");
}

/* Random advertisement churn: the indexes (by key, per service, per node)
 * stay consistent with the records after every kind of removal. */
Test(registry, host_indexes_stay_consistent_under_churn)
{
	enum { N_NODES = 40, N_SVC = 6, ROUNDS = 400 };
	bool want[N_NODES][N_SVC] = {{false}};
	static const char *const svcs[N_SVC] = {"svc:a", "svc:b", "svc:c",
	                                        "svc:d", "svc:e", "svc:f"};
	uint64_t seed = 42;
	char name[16];

	for (int i = 0; i < N_NODES; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		node_in(name, "eu", "tag:web");
	}
	define_ok("svc:a", "tcp:80", "tag:web");
	for (int round = 0; round < ROUNDS; round++) {
		struct reg_advert a[N_SVC];
		size_t n = 0, node;
		size_t expect = 0, c, out[N_NODES];

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		node = (size_t)(seed >> 33) % N_NODES;
		for (int s = 0; s < N_SVC; s++) {
			want[node][s] = (seed >> (20 + s)) & 1;
			if (want[node][s])
				a[n++] = (struct reg_advert){.service = svcs[s], .tun = true};
		}
		registry_advertise(reg, node, a, n, err, sizeof(err));
		if (round % 50 == 0)
			approve("alice@example.com", "svc:a", "n3");
		for (int i = 0; i < N_NODES; i++)
			for (int s = 0; s < N_SVC; s++)
				expect += want[i][s] || (i == 3 && s == 0);
		cr_assert_eq(registry_host_count(reg), expect, "round %d", round);
		for (size_t i = 0; i < registry_host_count(reg); i++) {
			const struct reg_host *h = registry_host(reg, i);

			cr_assert_eq(registry_host_index(reg, h->service, h->node), (int)i);
		}
		c = want[3][0] ? 1 : 0;
		/* Only n3 is approved for svc:a: it is the only rankable host. */
		cr_assert_eq(rank(0, "svc:a", out), c, "round %d", round);
	}
}

/* ---- STR-8: lost nodes, hosts saved across a control restart ------------- */

Test(registry, str_8_a_lost_host_ranks_after_every_alive_host_and_a_dead_one_not_at_all)
{
	size_t eu = node_in("h-eu", "eu", "tag:infra"), us = node_in("h-us", "us", "tag:infra");
	size_t c = node_in("c-eu", "eu", NULL), out[16];

	registry_set_latency_fn(reg, test_latency, NULL);
	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(eu, "svc:auto", 80, false, false);
	advertise(us, "svc:auto", 80, false, false);
	cr_assert_eq(rank(c, "svc:auto", out), 2);
	cr_assert_eq(out[0], eu);
	/* Control lost sight of h-eu: the client may still reach it. */
	uint64_t gen = registry_generation(reg);
	registry_node_set_lost(reg, eu);
	cr_assert_gt(registry_generation(reg), gen);
	cr_assert(registry_node(reg, eu)->lost);
	cr_assert_not(registry_node(reg, eu)->alive);
	cr_assert_not(registry_host_eligible(reg, host("svc:auto", "h-eu")), "STR-2");
	cr_assert_eq(hstate("svc:auto", "h-eu"), REG_STATE_OFFLINE);
	cr_assert_eq(rank(c, "svc:auto", out), 2);
	cr_assert_eq(out[0], us, "every alive host first");
	cr_assert_eq(out[1], eu, "the lost one stays, last");
	/* Only lost hosts left: still ranked, in the usual order. */
	registry_node_set_lost(reg, us);
	cr_assert_eq(rank(c, "svc:auto", out), 2);
	cr_assert_eq(out[0], eu);
	/* Known dead (its session closed): gone; back: alive, first again. */
	registry_node_set_alive(reg, eu, false);
	cr_assert_not(registry_node(reg, eu)->lost);
	cr_assert_eq(rank(c, "svc:auto", out), 1);
	cr_assert_eq(out[0], us);
	registry_node_set_alive(reg, eu, true);
	registry_node_set_alive(reg, us, true);
	cr_assert_not(registry_node(reg, us)->lost);
	cr_assert_eq(rank(c, "svc:auto", out), 2);
	cr_assert_eq(out[0], eu);
}

Test(registry, str_8_serving_hosts_are_saved_and_load_as_lost)
{
	size_t a = node_in("h-a", "us", "tag:infra"), b = node_in("h-b", "us", "tag:infra");
	size_t d = node_in("h-d", "us", "tag:infra"), x = node_in("h-x", "us", "tag:infra");
	size_t l = node_in("h-l", "us", "tag:infra"), c = node_in("c-us", "us", NULL);
	const uint16_t ports[] = {80, 443};
	const struct reg_advert two = {
	    .service = "svc:auto", .n_config_ports = 2, .config_ports = ports};
	struct registry *r2;
	size_t out[16];

	define_ok("svc:auto", "tcp:80", "tag:web");
	cr_assert_eq(registry_advertise(reg, a, &two, 1, err, sizeof(err)), 0, "%s", err);
	advertise(b, "svc:auto", 0, false, true);      /* an L3 host */
	advertise(d, "svc:auto", 80, true, false);     /* draining: not saved */
	advertise(x, "svc:auto", 80, false, false);    /* dead: not saved */
	advertise(l, "svc:not-yet", 80, false, false); /* lost, undefined service */
	registry_node_set_alive(reg, x, false);
	registry_node_set_lost(reg, l);
	char *j = registry_to_json(reg);
	cr_assert(j);
	cr_assert_eq(registry_from_json(j, strlen(j), &r2, err, sizeof(err)), 0, "%s", err);
	free(j);

	const struct reg_host *h =
	    registry_host(r2, (size_t)registry_host_index(r2, "svc:auto", "h-a"));
	cr_assert(h->advertising);
	cr_assert_not(h->tun);
	cr_assert_eq(h->n_config_ports, 2);
	cr_assert_eq(h->config_ports[1], 443);
	h = registry_host(r2, (size_t)registry_host_index(r2, "svc:auto", "h-b"));
	cr_assert(h->advertising && h->tun);
	cr_assert_lt(registry_host_index(r2, "svc:auto", "h-d"), 0, "a draining host is not saved");
	cr_assert_lt(registry_host_index(r2, "svc:auto", "h-x"), 0, "a dead host is not saved");
	cr_assert_geq(registry_host_index(r2, "svc:not-yet", "h-l"), 0, "a lost host is saved");
	for (size_t i = 0; i < registry_node_count(r2); i++) {
		const struct reg_node *n = registry_node(r2, i);
		bool hosting = i == a || i == b || i == l;
		cr_assert_not(n->alive || n->connected, "%s: no liveness is loaded", n->name);
		cr_assert_eq(n->lost, hosting, "%s: lost only when it was serving", n->name);
	}
	/* Lost hosts keep their place in steering until told otherwise. */
	cr_assert_eq(registry_rank_hosts(r2, c, "svc:auto", out, 16), 2);
	/* The saved form is stable. */
	char *j2 = registry_to_json(r2), *j3;
	struct registry *r3;
	cr_assert_eq(registry_from_json(j2, strlen(j2), &r3, err, sizeof(err)), 0, "%s", err);
	j3 = registry_to_json(r3);
	cr_assert_str_eq(j2, j3);
	registry_free(r3);
	registry_free(r2);
	free(j2);
	free(j3);
}

Test(registry, str_8_malformed_hosting_entries_are_refused_with_place)
{
	size_t a = node_in("h-a", "us", "tag:infra");

	define_ok("svc:auto", "tcp:80", "tag:web");
	advertise(a, "svc:auto", 80, false, false);
	mutate_refused("\"node\":\t\"h-a\",\n\t\t\t\"tun\"", "\"node\":\t\"h-zz\",\n\t\t\t\"tun\"",
	               "hosting[0].node");
	mutate_refused("\"tun\":\tfalse", "\"tun\":\t1", "hosting[0]");
	mutate_refused("\"ports\":\t[80]", "\"ports\":\t[0]", "hosting[0].ports");
	mutate_refused("\"ports\":\t[80]", "\"ports\":\t[80.5]", "hosting[0].ports");
	mutate_refused("\"ports\":\t[80]", "\"ports\":\t\"80\"", "hosting[0]");
	mutate_refused("\"hosting\":\t[", "\"hosting\":\t{}, \"x\": [", "hosting");
	mutate_refused("\"service\":\t\"svc:auto\",\n\t\t\t\"node\"",
	               "\"service\":\t\"web\",\n\t\t\t\"node\"", "svc:");
	/* Twice the same host. */
	char *j = registry_to_json(reg), *at = strstr(j, "\"hosting\":\t[");
	cr_assert(at);
	char *open = strchr(at, '{'), *close = strchr(open, '}');
	size_t elen = (size_t)(close - open + 1);
	char *m = malloc(strlen(j) + elen + 2);
	memcpy(m, j, (size_t)(close - j + 1));
	m[close - j + 1] = ',';
	memcpy(m + (close - j + 2), open, elen);
	strcpy(m + (close - j + 2) + elen, close + 1);
	expect_refused(m, "appears twice");
	free(m);
	free(j);
	/* More ports than a host may have. */
	char big[2048] = "\"ports\":\t[";
	for (int i = 1; i <= REG_MAX_PORTS + 1; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s%d", i > 1 ? "," : "", i);
	strcat(big, "]");
	mutate_refused("\"ports\":\t[80]", big, "hosting[0].ports");
}
