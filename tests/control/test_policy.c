/* The tailnet policy: HuJSON parsing, validation messages naming the place,
 * and grant/auto-approver evaluation (SPEC ACL-1..3, APR-3, SVC-1). */
#define _GNU_SOURCE
#include "control/policy.h"

#include "tests/support/nested.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const base_doc =
    "{\n"
    "  // who owns which tags\n"
    "  \"groups\": {\"group:eng\": [\"alice@example.com\", \"bob@example.com\"]},\n"
    "  \"tagOwners\": {\n"
    "    \"tag:web\": [\"alice@example.com\"],\n"
    "    \"tag:client\": [\"group:eng\"],\n"
    "    \"tag:prod\": [\"autogroup:admin\"],\n"
    "    \"tag:infra\": [\"tag:prod\"],\n"
    "    \"tag:db\": [\"alice@example.com\"],\n"
    "  },\n"
    "  \"grants\": [\n"
    "    {\"src\": [\"tag:client\"], \"dst\": [\"svc:web\"], \"ip\": [\"443\", \"8000-8100\"]},\n"
    "    {\"src\": [\"group:eng\"], \"dst\": [\"tag:prod\"], \"ip\": [\"tcp:22\"]},\n"
    "    {\"src\": [\"autogroup:member\"], \"dst\": [\"svc:dns\"], \"ip\": [\"udp:53\"]},\n"
    "    {\"src\": [\"carol@example.com\"], \"dst\": [\"svc:db\"], \"ip\": [\"tcp:5432\"]},\n"
    "    {\"src\": [\"*\"], \"dst\": [\"svc:public\"], \"ip\": [\"*\"]},\n"
    "  ],\n"
    "  /* APR-3 */\n"
    "  \"autoApprovers\": {\"services\": {\"svc:web\": [\"tag:web\"], "
    "\"tag:prod\": [\"tag:infra\"]}},\n"
    "}\n";

static struct policy *parse_ok(const char *doc)
{
	struct policy *p = NULL;
	char err[POLICY_ERR_LEN] = "";
	int rc = policy_parse(doc, strlen(doc), &p, err, sizeof(err));

	cr_assert_eq(rc, 0, "parse failed: %d %s", rc, err);
	cr_assert_not_null(p);
	return p;
}

/* Parses a document expected to fail with rc and a message containing want. */
static void parse_bad(const char *doc, int want_rc, const char *want)
{
	struct policy *p = (struct policy *)1;
	char err[POLICY_ERR_LEN] = "";
	int rc = policy_parse(doc, strlen(doc), &p, err, sizeof(err));

	cr_assert_eq(rc, want_rc, "rc %d (want %d) for: %s\nerr: %s", rc, want_rc, doc, err);
	cr_assert_null(p);
	cr_assert(strstr(err, want), "message \"%s\" lacks \"%s\"", err, want);
}

/* A one-grant document around a src, dst and ip list (JSON fragments). */
static char *grant_doc(const char *src, const char *dst, const char *ip)
{
	char *s = NULL;

	cr_assert(asprintf(&s,
	                   "{\"groups\": {\"group:eng\": [\"alice@example.com\"]},"
	                   " \"tagOwners\": {\"tag:a\": [\"group:eng\"], \"tag:b\": []},"
	                   " \"grants\": [{\"src\": [\"tag:a\"], \"dst\": [\"svc:x\"], \"ip\": "
	                   "[\"1\"]},"
	                   " {\"src\": %s, \"dst\": %s, \"ip\": %s}]}",
	                   src, dst, ip) > 0);
	return s;
}

static void grant_bad(const char *src, const char *dst, const char *ip, const char *want)
{
	char *doc = grant_doc(src, dst, ip);

	parse_bad(doc, -EINVAL, want);
	free(doc);
}

static const char *const tags_client[] = {"tag:client"};
static const char *const tags_web[] = {"tag:web"};
static const char *const tags_prod[] = {"tag:prod"};
static const char *const tags_infra[] = {"tag:infra"};

static const struct policy_node n_client = {
    .user = "alice@example.com", .tags = tags_client, .n_tags = 1};
static const struct policy_node n_alice = {.user = "alice@example.com"};
static const struct policy_node n_carol = {.user = "carol@example.com"};
static const struct policy_node n_tagged_carol = {
    .user = "carol@example.com", .tags = tags_client, .n_tags = 1};
static const struct policy_node n_nobody = {.user = NULL};

static const struct policy_service s_web = {.name = "svc:web"};
static const struct policy_service s_api = {.name = "svc:api", .tags = tags_prod, .n_tags = 1};
static const struct policy_service s_other = {.name = "svc:other"};

/* ---- HuJSON ---- */

Test(policy, hujson_comments_and_trailing_commas_are_accepted)
{
	struct policy *p = parse_ok(base_doc);

	cr_assert_str_eq(policy_text(p), base_doc);
	cr_assert(policy_tag_known(p, "tag:web"));
	cr_assert(policy_tag_known(p, "tag:infra"));
	cr_assert_not(policy_tag_known(p, "tag:nope"));
	policy_free(p);
}

Test(policy, rel5_json_nested_deeper_than_1000_is_refused_by_the_parser)
{
	/* cJSON's nesting limit (1000) bounds the parser's recursion; the
	 * policy walks only the keys it knows */
	struct policy *p;
	char err[POLICY_ERR_LEN];
	char *deep = test_nested_brackets("{\"groups\": ", 1000, "}");
	char *ok = test_nested_brackets("{\"groups\": ", 998, "}");

	cr_assert_eq(policy_parse(deep, strlen(deep), &p, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "invalid JSON"), "%s", err);
	cr_assert_eq(policy_parse(ok, strlen(ok), &p, err, sizeof(err)), -EINVAL);
	cr_assert_null(strstr(err, "invalid JSON"), "%s", err); /* parsed, then refused */
	free(deep);
	free(ok);
}

Test(policy, hujson_comment_markers_inside_strings_are_kept)
{
	struct policy *p = parse_ok("{\"groups\": {\"group:a\": [\"x//y@z.com\", \"a/*b@c\"]},"
	                            "\"grants\": [{\"src\": [\"x//y@z.com\"], \"dst\": [\"*\"],"
	                            "\"ip\": [\"80\"]}]}");
	struct policy_node n = {.user = "x//y@z.com"};
	struct policy_ports ports;

	policy_service_ports(p, &n, &s_web, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 80));
	policy_free(p);
}

Test(policy, hujson_trailing_commas_nested_and_comment_at_end)
{
	struct policy *p =
	    parse_ok("{\"tagOwners\": {\"tag:a\": [\"x@y\",],},\n"
	             "\"grants\": [{\"src\": [\"tag:a\",], \"dst\": [\"*\" /* c */ ,],"
	             " \"ip\": [\"1\",], },],} // end");
	const char *tags[] = {"tag:a"};
	struct policy_node n = {.tags = tags, .n_tags = 1};
	struct policy_ports ports;

	policy_node_ports(p, &n, &n_carol, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 1));
	policy_free(p);
}

Test(policy, hujson_syntax_error_names_line_and_column)
{
	/* The bad token sits after a block comment spanning lines, whose
	 * stripping must not shift positions. */
	parse_bad("{\n  /* a\n comment */ \"grants\": [\n    {\"src\" [\"*\"]}\n  ]\n}\n", -EINVAL,
	          "line 4, column 12");
}

Test(policy, hujson_unterminated_comment_and_lone_comma_are_refused)
{
	parse_bad("{\n \"grants\": [] /* never ends\n}", -EINVAL,
	          "line 2, column 15: unterminated /* comment");
	parse_bad("{\"grants\": [,]}", -EINVAL, "line 1, column 13");
	parse_bad("{\"grants\": []} x", -EINVAL, "line 1, column 16: invalid JSON");
}

Test(policy, nul_bytes_and_u0000_are_refused)
{
	struct policy *p = NULL;
	char err[POLICY_ERR_LEN] = "";
	static const char doc[] = "{\"grants\": []\0}";

	cr_assert_eq(policy_parse(doc, sizeof(doc) - 1, &p, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "line 1, column 14: NUL byte"), "%s", err);
	parse_bad("{\"groups\": {\"group:a\": [\"a@b\\u0000x\"]}}", -EINVAL, "\\u0000");
}

Test(policy, empty_policy_has_no_grants_and_no_tags)
{
	struct policy *p = NULL;
	struct policy_ports ports;

	cr_assert_eq(policy_new_empty(&p), 0);
	cr_assert_not(policy_tag_known(p, "tag:web"));
	policy_service_ports(p, &n_client, &s_web, &ports);
	cr_assert_eq(ports.n, 0);
	cr_assert_not(policy_auto_approves(p, &s_web, &n_client));
	cr_assert_not_null(policy_text(p));
	policy_free(p);
}

/* ---- validation ---- */

Test(policy, root_must_be_an_object)
{
	parse_bad("[]", -EINVAL, "must be a JSON object");
	parse_bad("", -EINVAL, "line 1, column 1");
}

Test(policy, unknown_top_level_key_suggests_the_close_one)
{
	parse_bad("{\"grant\": []}", -EINVAL, "unknown key \"grant\" (did you mean \"grants\"?)");
	parse_bad("{\"tagowners\": {}}", -EINVAL, "did you mean \"tagOwners\"?");
	parse_bad("{\"frobnicate\": {}}", -EINVAL, "unknown key \"frobnicate\"");
	{
		char err[POLICY_ERR_LEN] = "";
		struct policy *p = NULL;
		const char *doc = "{\"frobnicate\": {}}";

		policy_parse(doc, strlen(doc), &p, err, sizeof(err));
		cr_assert_null(strstr(err, "did you mean"), "%s", err);
	}
}

Test(policy, ignored_keys_and_duplicates)
{
	struct policy *p = parse_ok("{\"acls\": [1], \"hosts\": {}, \"ssh\": [], \"tests\": []}");

	policy_free(p);
	parse_bad("{\"grants\": [], \"grants\": []}", -EINVAL, "duplicate key \"grants\"");
	parse_bad("{\"tagOwners\": {\"tag:a\": [], \"tag:a\": []}}", -EINVAL,
	          "tagOwners: tag:a: defined twice");
}

Test(policy, svc1_bad_service_names_name_the_rule_and_place)
{
	grant_bad("[\"*\"]", "[\"svc:We b\"]", "[\"1\"]",
	          "grants[1].dst[0]: \"svc:We b\" is not a valid service name (SVC-1: the label "
	          "may hold only letters, digits and '-')");
	grant_bad("[\"*\"]", "[\"*\", \"svc:-web\"]", "[\"1\"]",
	          "grants[1].dst[1]: \"svc:-web\" is not a valid service name (SVC-1: the label "
	          "must start and end with a letter or digit)");
	grant_bad("[\"*\"]", "[\"svc:\"]", "[\"1\"]", "1-63 characters");
	grant_bad("[\"*\"]",
	          "[\"svc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]",
	          "[\"1\"]", "1-63 characters");
	grant_bad("[\"svc:web\"]", "[\"*\"]", "[\"1\"]",
	          "grants[1].src[0]: \"svc:web\": a service cannot be a source");
}

Test(policy, undefined_tag_and_group_are_refused_with_place)
{
	grant_bad("[\"tag:nope\"]", "[\"*\"]", "[\"1\"]",
	          "grants[1].src[0]: tag \"tag:nope\" is not defined in tagOwners");
	grant_bad("[\"*\"]", "[\"group:ops\"]", "[\"1\"]",
	          "grants[1].dst[0]: group \"group:ops\" is not defined in groups");
	grant_bad("[\"tag:bad name\"]", "[\"*\"]", "[\"1\"]",
	          "grants[1].src[0]: \"tag:bad name\" is not a valid tag");
	parse_bad("{\"tagOwners\": {\"tag:a\": [\"tag:b\"]}}", -EINVAL,
	          "tagOwners: tag:a[0]: tag \"tag:b\" is not defined in tagOwners");
	parse_bad("{\"tagOwners\": {\"tag:a\": [\"group:x\"]}}", -EINVAL,
	          "tagOwners: tag:a[0]: group \"group:x\" is not defined in groups");
	parse_bad("{\"tagOwners\": {\"tag:a\": [\"nobody\"]}}", -EINVAL,
	          "tagOwners: tag:a[0]: \"nobody\" is not a tag owner");
	parse_bad("{\"tagOwners\": {\"web\": []}}", -EINVAL,
	          "tagOwners: \"web\" is not a valid tag");
	parse_bad("{\"tagOwners\": {\"tag:a\": \"alice@x\"}}", -EINVAL,
	          "tagOwners: tag:a: must be an array of owners");
}

Test(policy, group_definitions_are_validated)
{
	parse_bad("{\"groups\": {\"eng\": []}}", -EINVAL,
	          "groups: \"eng\" is not a valid group name");
	parse_bad("{\"groups\": {\"group:eng\": [\"bob\"]}}", -EINVAL,
	          "groups: group:eng[0]: \"bob\" is not a user login");
	parse_bad("{\"groups\": {\"group:a\": [], \"group:eng\": [\"group:a\"]}}", -EINVAL,
	          "groups: group:eng[0]: \"group:a\": groups cannot contain groups");
	parse_bad("{\"groups\": []}", -EINVAL, "groups: must be an object");
	parse_bad("{\"groups\": {\"group:a\": [1]}}", -EINVAL,
	          "groups: group:a[0]: must be a string");
}

Test(policy, bad_selectors_and_shapes_are_refused)
{
	grant_bad("[\"autogroup:admin\"]", "[\"*\"]", "[\"1\"]",
	          "grants[1].src[0]: \"autogroup:admin\" is not supported here");
	grant_bad("[\"*\"]", "[\"autogroup:member\"]", "[\"1\"]",
	          "grants[1].dst[0]: \"autogroup:member\" is not supported here");
	grant_bad("[\"bob\"]", "[\"*\"]", "[\"1\"]",
	          "grants[1].src[0]: \"bob\" is not a valid selector");
	grant_bad("\"*\"", "[\"*\"]", "[\"1\"]", "grants[1].src: must be an array");
	grant_bad("[\"*\"]", "[42]", "[\"1\"]", "grants[1].dst[0]: must be a string");
	parse_bad("{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"]}]}", -EINVAL,
	          "grants[0]: missing \"ip\"");
	parse_bad("{\"grants\": [{\"src\": [\"*\"], \"dsts\": [\"*\"], \"ip\": []}]}", -EINVAL,
	          "grants[0]: unknown key \"dsts\" (did you mean \"dst\"?)");
	parse_bad("{\"grants\": [{\"src\": [], \"src\": [], \"dst\": [], \"ip\": []}]}", -EINVAL,
	          "grants[0]: duplicate key \"src\"");
	parse_bad("{\"grants\": [7]}", -EINVAL, "grants[0]: must be an object");
	parse_bad("{\"grants\": {}}", -EINVAL, "grants: must be an array");
}

Test(policy, bad_ports_are_refused_with_reason)
{
	grant_bad("[\"*\"]", "[\"*\"]", "[\"80\", \"0\"]",
	          "grants[1].ip[1]: \"0\": port out of range 1-65535");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"65536\"]", "port out of range 1-65535");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"100-50\"]",
	          "grants[1].ip[0]: \"100-50\": range is reversed");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"sctp:80\"]", "\"sctp:80\": unknown protocol");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"http\"]", "\"http\": not a port, a range N-M or *");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"80-\"]", "not a port, a range N-M or *");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"80x\"]", "not a port, a range N-M or *");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"-80\"]", "not a port, a range N-M or *");
	grant_bad("[\"*\"]", "[\"*\"]", "[\"000000080\"]", "port out of range");
}

Test(policy, auto_approvers_are_validated)
{
	parse_bad("{\"autoApprovers\": {\"services\": {\"svc:web\": [\"alice@x.com\"]}}}", -EINVAL,
	          "autoApprovers.services[\"svc:web\"][0]: \"alice@x.com\" is not a tag");
	parse_bad("{\"autoApprovers\": {\"services\": {\"svc:web\": [\"tag:x\"]}}}", -EINVAL,
	          "autoApprovers.services[\"svc:web\"][0]: tag \"tag:x\" is not defined");
	parse_bad("{\"autoApprovers\": {\"services\": {\"svc:w_b\": []}}}", -EINVAL,
	          "autoApprovers.services[\"svc:w_b\"]: \"svc:w_b\" is not a valid service name");
	parse_bad("{\"autoApprovers\": {\"services\": {\"tag:p\": []}}}", -EINVAL,
	          "autoApprovers.services[\"tag:p\"]: tag \"tag:p\" is not defined in tagOwners");
	parse_bad("{\"autoApprovers\": {\"services\": {\"web\": []}}}", -EINVAL,
	          "autoApprovers.services: \"web\" is not a service name");
	parse_bad("{\"autoApprovers\": {\"service\": {}}}", -EINVAL,
	          "autoApprovers: unknown key \"service\" (did you mean \"services\"?)");
	parse_bad("{\"autoApprovers\": {\"services\": {\"svc:a\": [], \"svc:a\": []}}}", -EINVAL,
	          "autoApprovers.services: duplicate key \"svc:a\"");
}

/* ---- limits ---- */

/* A document of n grants. */
static char *many_grants(size_t n)
{
	size_t cap = 64 + n * 48;
	char *s = malloc(cap);
	size_t off;

	cr_assert_not_null(s);
	off = (size_t)snprintf(s, cap, "{\"grants\": [");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off,
		                        "%s{\"src\":[\"*\"],\"dst\":[\"*\"],\"ip\":[\"%zu\"]}",
		                        i ? "," : "", i % 65535 + 1);
	snprintf(s + off, cap - off, "]}");
	return s;
}

Test(policy, limit_grants_at_most_max)
{
	char *ok = many_grants(POLICY_MAX_GRANTS), *bad = many_grants(POLICY_MAX_GRANTS + 1);
	struct policy *p = parse_ok(ok);
	struct policy_ports ports;

	/* 1024 single ports 1..1024 merge into one range. */
	policy_node_ports(p, &n_alice, &n_carol, &ports);
	cr_assert_eq(ports.n, 1);
	cr_assert_eq(ports.r[0].first, 1);
	cr_assert_eq(ports.r[0].last, POLICY_MAX_GRANTS);
	policy_free(p);
	parse_bad(bad, -E2BIG, "grants: 1025 grants, at most 1024");
	free(ok);
	free(bad);
}

Test(policy, limit_document_size)
{
	size_t n = POLICY_MAX_BYTES + 1;
	char *doc = malloc(n);
	struct policy *p = NULL;
	char err[POLICY_ERR_LEN] = "";

	cr_assert_not_null(doc);
	memset(doc, ' ', n);
	doc[0] = '{';
	doc[n - 1] = '}';
	cr_assert_eq(policy_parse(doc, n, &p, err, sizeof(err)), -E2BIG);
	cr_assert_null(p);
	cr_assert(strstr(err, "at most 1048576"), "%s", err);
	/* One byte less is fine. */
	doc[n - 2] = '}';
	cr_assert_eq(policy_parse(doc, n - 1, &p, err, sizeof(err)), 0, "%s", err);
	policy_free(p);
	free(doc);
}

Test(policy, limit_entries_per_list_and_name_length)
{
	size_t cap = 16 * (POLICY_MAX_SELECTORS + 2) + 128;
	char *list = malloc(cap), *doc;
	size_t off = 0;
	char longname[POLICY_MAX_NAME + 16];

	cr_assert_not_null(list);
	off += (size_t)snprintf(list + off, cap - off, "[");
	for (int i = 0; i < POLICY_MAX_SELECTORS + 1; i++)
		off += (size_t)snprintf(list + off, cap - off, "%s\"%d\"", i ? "," : "", i + 1);
	snprintf(list + off, cap - off, "]");
	doc = grant_doc("[\"*\"]", "[\"*\"]", list);
	parse_bad(doc, -E2BIG, "grants[1].ip: more than 256 entries");
	free(doc);
	free(list);

	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "\"x@", 3);
	memcpy(longname + POLICY_MAX_NAME + 2, "\"]", 3);
	{
		char src[POLICY_MAX_NAME + 32];
		struct policy *p;

		/* exactly POLICY_MAX_NAME characters is fine */
		snprintf(src, sizeof(src), "[%.*s\"]", POLICY_MAX_NAME + 1, longname);
		doc = grant_doc(src, "[\"*\"]", "[\"1\"]");
		p = parse_ok(doc);
		policy_free(p);
		free(doc);
		snprintf(src, sizeof(src), "[%s", longname);
		doc = grant_doc(src, "[\"*\"]", "[\"1\"]");
		parse_bad(doc, -E2BIG, "grants[1].src[0]: longer than 253 characters");
		free(doc);
	}
}

Test(policy, limit_tags_groups_approvers)
{
	size_t cap = (POLICY_MAX_TAGS + 1) * 40 + 64;
	char *doc = malloc(cap);
	size_t off;

	cr_assert_not_null(doc);
	off = (size_t)snprintf(doc, cap, "{\"tagOwners\": {");
	for (int i = 0; i <= POLICY_MAX_TAGS; i++)
		off += (size_t)snprintf(doc + off, cap - off, "%s\"tag:t%d\": []", i ? "," : "", i);
	snprintf(doc + off, cap - off, "}}");
	parse_bad(doc, -E2BIG, "tagOwners: more than 1024 tags");

	off = (size_t)snprintf(doc, cap, "{\"groups\": {");
	for (int i = 0; i <= POLICY_MAX_GROUPS; i++)
		off +=
		    (size_t)snprintf(doc + off, cap - off, "%s\"group:g%d\": []", i ? "," : "", i);
	snprintf(doc + off, cap - off, "}}");
	parse_bad(doc, -E2BIG, "groups: more than 1024 groups");

	off = (size_t)snprintf(doc, cap, "{\"autoApprovers\": {\"services\": {");
	for (int i = 0; i <= POLICY_MAX_APPROVERS; i++)
		off += (size_t)snprintf(doc + off, cap - off, "%s\"svc:s%d\": []", i ? "," : "", i);
	snprintf(doc + off, cap - off, "}}}");
	parse_bad(doc, -E2BIG, "autoApprovers.services: more than 1024 entries");
	free(doc);
}

/* ---- evaluation ---- */

Test(policy, acl1_grant_to_service_allows_listed_ports)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;

	policy_service_ports(p, &n_client, &s_web, &ports);
	cr_assert_eq(ports.n, 2);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 443));
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_UDP, 443));
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 8000));
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 8100));
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 8101));
	policy_free(p);
}

Test(policy, acl1_no_grant_means_no_ports)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;

	/* svc:other has no grant at all; n_nobody (no user, no tag) matches nothing. */
	policy_service_ports(p, &n_client, &s_other, &ports);
	cr_assert_eq(ports.n, 0);
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 443));
	policy_service_ports(p, &n_nobody, &s_web, &ports);
	cr_assert_eq(ports.n, 0);
	policy_free(p);
}

Test(policy, acl2_tag_dst_reaches_every_service_and_node_with_the_tag)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;
	struct policy_node prod_node = {.user = "ops@example.com", .tags = tags_prod, .n_tags = 1};
	struct policy_service api2 = {.name = "svc:api2", .tags = tags_prod, .n_tags = 1};

	policy_service_ports(p, &n_alice, &s_api, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 22));
	policy_service_ports(p, &n_alice, &api2, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 22));
	policy_node_ports(p, &n_alice, &prod_node, &ports);
	cr_assert_eq(ports.n, 1);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 22));
	/* a node without the tag is not reached by that grant */
	policy_node_ports(p, &n_alice, &n_carol, &ports);
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 22));
	policy_free(p);
}

Test(policy, acl3_port_outside_grant_is_refused)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;

	policy_service_ports(p, &n_client, &s_web, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 443));
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 80));
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 444));
	policy_free(p);
}

Test(policy, src_kinds_tag_user_group_member_and_star)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;
	struct policy_service db = {.name = "svc:db"}, dns = {.name = "svc:dns"},
	                      pub = {.name = "svc:public"};
	struct policy_node bob_tagged = {.user = "bob@example.com", .tags = tags_web, .n_tags = 1};

	/* tag: the client tag reaches svc:web; alice untagged does not */
	policy_service_ports(p, &n_alice, &s_web, &ports);
	cr_assert_eq(ports.n, 0);
	/* user: carol's untagged node reaches svc:db, her tagged node does not */
	policy_service_ports(p, &n_carol, &db, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 5432));
	policy_service_ports(p, &n_tagged_carol, &db, &ports);
	cr_assert_eq(ports.n, 0);
	/* group: bob untagged is in group:eng; tagged he is not */
	policy_service_ports(p, &(struct policy_node){.user = "bob@example.com"}, &s_api, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 22));
	policy_service_ports(p, &bob_tagged, &s_api, &ports);
	cr_assert_eq(ports.n, 0);
	/* autogroup:member: untagged user nodes only */
	policy_service_ports(p, &n_carol, &dns, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_UDP, 53));
	policy_service_ports(p, &n_client, &dns, &ports);
	cr_assert_eq(ports.n, 0);
	policy_service_ports(p, &n_nobody, &dns, &ports);
	cr_assert_eq(ports.n, 0);
	/* "*": every node, every port */
	policy_service_ports(p, &n_nobody, &pub, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 1));
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_UDP, 65535));
	policy_free(p);
}

Test(policy, proto_specific_ports_apply_to_one_protocol)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;
	struct policy_service dns = {.name = "svc:dns"};

	policy_service_ports(p, &n_carol, &dns, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_UDP, 53));
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 53));
	policy_service_ports(p, &n_alice, &s_api, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 22));
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_UDP, 22));
	policy_free(p);
}

Test(policy, ports_merge_across_grants_sorted_by_proto)
{
	struct policy *p = parse_ok(
	    "{\"grants\": ["
	    "{\"src\": [\"*\"], \"dst\": [\"svc:a\"], \"ip\": [\"udp:10\", \"100-200\", \"5\"]},"
	    "{\"src\": [\"*\"], \"dst\": [\"svc:a\"], \"ip\": [\"201-300\", \"tcp:7\", \"150\", "
	    "\"udp:11-12\", \"6\"]},"
	    "{\"src\": [\"*\"], \"dst\": [\"svc:b\"], \"ip\": [\"9\"]}]}");
	struct policy_service a = {.name = "svc:a"};
	struct policy_ports ports;

	policy_service_ports(p, &n_alice, &a, &ports);
	cr_assert_eq(ports.n, 4);
	cr_assert_not(ports.truncated);
	cr_assert(ports.r[0].proto == POLICY_PROTO_ANY && ports.r[0].first == 5 &&
	          ports.r[0].last == 6);
	cr_assert(ports.r[1].proto == POLICY_PROTO_ANY && ports.r[1].first == 100 &&
	          ports.r[1].last == 300);
	cr_assert(ports.r[2].proto == POLICY_PROTO_TCP && ports.r[2].first == 7);
	cr_assert(ports.r[3].proto == POLICY_PROTO_UDP && ports.r[3].first == 10 &&
	          ports.r[3].last == 12);
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 9));
	policy_free(p);
}

Test(policy, more_ranges_than_fit_are_flagged_truncated)
{
	size_t cap = 16 * 100 + 128;
	char *list = malloc(cap), *doc;
	size_t off = 0;
	struct policy *p;
	struct policy_ports ports;

	cr_assert_not_null(list);
	off += (size_t)snprintf(list + off, cap - off, "[");
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(list + off, cap - off, "%s\"%d\"", i ? "," : "", 2 * i + 1);
	snprintf(list + off, cap - off, "]");
	doc = grant_doc("[\"*\"]", "[\"*\"]", list);
	p = parse_ok(doc);
	policy_service_ports(p, &n_alice, &s_web, &ports);
	cr_assert_eq(ports.n, POLICY_MAX_PORT_RANGES);
	cr_assert(ports.truncated);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 1));
	cr_assert_not(policy_ports_allow(&ports, POLICY_PROTO_TCP, 199));
	policy_free(p);
	free(doc);
	free(list);
}

Test(policy, dst_user_and_group_reach_untagged_nodes_not_services)
{
	struct policy *p =
	    parse_ok("{\"groups\": {\"group:eng\": [\"bob@example.com\"]},"
	             "\"grants\": [{\"src\": [\"*\"], \"dst\": [\"alice@example.com\","
	             "\"group:eng\"], \"ip\": [\"80\"]}]}");
	struct policy_ports ports;
	struct policy_node bob = {.user = "bob@example.com"};

	policy_node_ports(p, &n_carol, &n_alice, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 80));
	policy_node_ports(p, &n_carol, &bob, &ports);
	cr_assert(policy_ports_allow(&ports, POLICY_PROTO_TCP, 80));
	policy_node_ports(p, &n_carol, &n_client, &ports); /* alice's tagged node */
	cr_assert_eq(ports.n, 0);
	policy_service_ports(p, &n_carol, &s_web, &ports);
	cr_assert_eq(ports.n, 0);
	policy_free(p);
}

Test(policy, apr3_auto_approval_by_service_name)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_node web_host = {.user = "alice@example.com", .tags = tags_web, .n_tags = 1};

	cr_assert(policy_auto_approves(p, &s_web, &web_host));
	cr_assert_not(policy_auto_approves(p, &s_other, &web_host));
	policy_free(p);
}

Test(policy, apr3_auto_approval_by_service_tag)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_node infra = {.user = NULL, .tags = tags_infra, .n_tags = 1};

	cr_assert(policy_auto_approves(p, &s_api, &infra));
	cr_assert_not(policy_auto_approves(p, &s_web, &infra));
	policy_free(p);
}

Test(policy, apr3_no_approval_for_host_without_the_tag)
{
	struct policy *p = parse_ok(base_doc);
	struct policy_node web_host = {.user = "alice@example.com", .tags = tags_web, .n_tags = 1};

	cr_assert_not(policy_auto_approves(p, &s_web, &n_alice));
	cr_assert_not(policy_auto_approves(p, &s_web, &n_client));
	cr_assert_not(policy_auto_approves(p, &s_api, &web_host));
	policy_free(p);
}

Test(policy, evaluation_is_fast_enough_for_a_recompute)
{
	/* 10,000 nodes x 10 services per recompute: 100k calls. */
	struct policy *p = parse_ok(base_doc);
	struct policy_ports ports;
	size_t allowed = 0;

	clock_t start = clock();

	for (int i = 0; i < 100000; i++) {
		policy_service_ports(p, (i & 1) ? &n_client : &n_carol, &s_web, &ports);
		allowed += ports.n;
	}
	cr_assert_eq(allowed, 50000 * 2);
	/* generous even under sanitizers: about 1 ms per 100 calls */
	cr_assert_lt((double)(clock() - start) / CLOCKS_PER_SEC, 1.0);
	policy_free(p);
}
