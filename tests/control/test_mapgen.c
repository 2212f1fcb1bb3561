/* mapgen: per-node netmaps from the registry (ACL-1..3, STR-2/3, L7-5) and
 * map session deltas. Every generated map must pass the daemon's own
 * validation (netmap_from_json). */
#include "control/mapgen.h"
#include "control/policy.h"
#include "control/registry.h"
#include "lib/base/hash.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/netmap.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADMIN "admin@example.com"

#define POL_OWNERS                                                                                 \
	"\"groups\": {\"group:eng\": [\"bob@example.com\"]},"                                      \
	" \"tagOwners\": {\"tag:web\": [\"admin@example.com\"], \"tag:db\": "                      \
	"[\"admin@example.com\"],"                                                                 \
	"   \"tag:client\": [\"admin@example.com\"], \"tag:svc\": [\"admin@example.com\"],"        \
	"   \"tag:prod\": [\"admin@example.com\"]},"
#define POL_GRANT_ENG "{\"src\": [\"group:eng\"], \"dst\": [\"svc:web\"], \"ip\": [\"tcp:443\"]},"
#define POL_GRANTS                                                                                 \
	"{\"src\": [\"tag:client\"], \"dst\": [\"svc:web\"], \"ip\": [\"tcp:443\", \"tcp:80\"]},"  \
	"{\"src\": [\"tag:client\"], \"dst\": [\"tag:prod\"], \"ip\": [\"tcp:5432\"]}"
#define POL_APPROVERS                                                                              \
	"\"autoApprovers\": {\"services\": {\"svc:web\": [\"tag:web\"], \"tag:prod\": "            \
	"[\"tag:db\"]}}"

static const char *test_policy =
    "{" POL_OWNERS "\"grants\": [" POL_GRANT_ENG POL_GRANTS "]," POL_APPROVERS "}";
/* The same without group:eng's grant (bob loses svc:web). */
static const char *policy_no_eng = "{" POL_OWNERS "\"grants\": [" POL_GRANTS "]," POL_APPROVERS "}";
/* Plus a node-to-node grant: clients may reach db hosts on port 22. */
static const char *policy_direct =
    "{" POL_OWNERS "\"grants\": [" POL_GRANT_ENG POL_GRANTS
    ",{\"src\": [\"tag:client\"], \"dst\": [\"tag:db\"], \"ip\": [\"22\"]}]," POL_APPROVERS "}";

struct fx {
	struct registry *r;
	struct mapgen *mg;
	char err[REG_ERR_LEN];
};

static void set_policy(struct fx *f, const char *text, const char *actor)
{
	struct policy *p;
	char err[POLICY_ERR_LEN];

	cr_assert_eq(policy_parse(text, strlen(text), &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(registry_set_policy(f->r, actor, p, f->err, sizeof(f->err)), 0, "%s", f->err);
}

/* The node key a test node has: its name's hash, spread over 32 bytes. */
static void node_key(const char *name, uint8_t key[REG_KEY_LEN])
{
	uint64_t h = hash_str(name);

	for (int i = 0; i < REG_KEY_LEN; i++)
		key[i] = (uint8_t)(h >> (8 * (i % 8))) ^ (uint8_t)i;
}

/* Registers a live, connected node; `tag` NULL for an untagged node. */
static size_t add_node(struct fx *f, const char *name, const char *user, const char *region,
                       const char *tag, const char *endpoint)
{
	const char *tags[1] = {tag};
	uint8_t key[REG_KEY_LEN];
	struct reg_node_info info = {.name = name,
	                             .user = user,
	                             .region = region,
	                             .tags = tags,
	                             .n_tags = tag ? 1 : 0,
	                             .key = key};
	int idx;

	node_key(name, key);
	cr_assert_eq(io_addr_parse(&info.endpoint, endpoint, 41641), 0, "%s", endpoint);
	idx = registry_node_register(f->r, &info, f->err, sizeof(f->err));
	cr_assert_geq(idx, 0, "%s: %s", name, f->err);
	registry_node_set_connected(f->r, (size_t)idx, true);
	registry_node_set_alive(f->r, (size_t)idx, true);
	return (size_t)idx;
}

static void define(struct fx *f, const char *name, const char *port1, const char *port2,
                   const char *tag)
{
	const char *ports[2] = {port1, port2};
	const char *tags[1] = {tag};
	struct reg_service_def def = {.name = name,
	                              .description = "",
	                              .ports = ports,
	                              .n_ports = port2 ? 2 : 1,
	                              .tags = tags,
	                              .n_tags = 1};

	cr_assert_eq(registry_define_service(f->r, ADMIN, &def, f->err, sizeof(f->err)), 0, "%s",
	             f->err);
}

static void advertise(struct fx *f, size_t node, const char *svc, bool draining, uint16_t p1,
                      uint16_t p2)
{
	uint16_t ports[2] = {p1, p2};
	struct reg_advert a = {.service = svc,
	                       .draining = draining,
	                       .n_config_ports = p2 ? 2 : 1,
	                       .config_ports = ports};

	cr_assert_eq(registry_advertise(f->r, node, &a, 1, f->err, sizeof(f->err)), 0, "%s",
	             f->err);
}

enum { WEB_US, WEB_EU, DB_1, BOB, CAROL, CLIENT_1 };

static const char *test_cert(void *ctx, size_t node, const char *service)
{
	(void)ctx;
	if (node == WEB_US && strcmp(service, "svc:web") == 0)
		return "-----BEGIN CERTIFICATE-----\nWEBUS\n-----END CERTIFICATE-----\n";
	return NULL;
}

static void fx_init(struct fx *f)
{
	struct mapgen_options opt = {.ca_pem = "-----BEGIN CERTIFICATE-----\nCA\n",
	                             .cert_fn = test_cert};

	memset(f, 0, sizeof(*f));
	cr_assert_eq(registry_new(&f->r, "example.ts.net"), 0);
	cr_assert_eq(
	    registry_user_set(f->r, ADMIN, REG_ROLE_ADMIN, "Admin", NULL, f->err, sizeof(f->err)),
	    0, "%s", f->err);
	cr_assert_eq(registry_user_set(f->r, "bob@example.com", REG_ROLE_MEMBER, "Bob", NULL,
	                               f->err, sizeof(f->err)),
	             0, "%s", f->err);
	cr_assert_eq(registry_user_set(f->r, "carol@example.com", REG_ROLE_MEMBER, "Carol", NULL,
	                               f->err, sizeof(f->err)),
	             0, "%s", f->err);
	set_policy(f, test_policy, NULL);
	cr_assert_eq(add_node(f, "web-us", "", "us", "tag:web", "10.0.0.1:41641"), WEB_US);
	cr_assert_eq(add_node(f, "web-eu", "", "eu", "tag:web", "10.0.0.2:41641"), WEB_EU);
	cr_assert_eq(add_node(f, "db-1", "", "us", "tag:db", "10.0.0.3:41641"), DB_1);
	cr_assert_eq(add_node(f, "bob-laptop", "bob@example.com", "us", NULL, "10.0.0.4:41641"),
	             BOB);
	cr_assert_eq(add_node(f, "carol-laptop", "carol@example.com", "us", NULL, "10.0.0.5:41641"),
	             CAROL);
	cr_assert_eq(add_node(f, "client-1", "", "eu", "tag:client", "10.0.0.6:41641"), CLIENT_1);
	define(f, "svc:web", "tcp:443", "tcp:80", "tag:svc");
	define(f, "svc:db", "tcp:5432", NULL, "tag:prod");
	advertise(f, WEB_US, "svc:web", false, 443, 80);
	advertise(f, WEB_EU, "svc:web", false, 443, 80);
	advertise(f, DB_1, "svc:db", false, 5432, 0);
	cr_assert_eq(mapgen_new(&f->mg, f->r, &opt), 0);
}

static void fx_fini(struct fx *f)
{
	mapgen_free(f->mg);
	registry_free(f->r);
}

/* The node's map, checked with the daemon's validation; *nm filled when
 * given (caller netmap_free()s it). */
static cJSON *get_map(struct fx *f, size_t node, uint64_t version, struct netmap *nm)
{
	cJSON *map = mapgen_node_map(f->mg, node, version);
	char err[NETMAP_ERR_LEN], *text;
	struct netmap tmp;
	int rc;

	cr_assert(map, "no map for node %zu", node);
	text = cJSON_PrintUnformatted(map);
	cr_assert(text);
	rc = netmap_from_json(text, strlen(text), nm ? nm : &tmp, err, sizeof(err));
	cr_assert_eq(rc, 0, "node %zu: netmap_from_json: %s\n%.2000s", node, err, text);
	if (!nm)
		netmap_free(&tmp);
	free(text);
	/* Peers by name and rules by id, strictly increasing: unique, and in
	 * the order mapproto_apply_delta keeps. */
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "id" : "name", *prev = NULL;
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(map, k ? "filter" : "peers"))
		{
			const cJSON *v = cJSON_GetObjectItem(e, key);
			cr_assert(cJSON_IsString(v), "node %zu: entry without %s", node, key);
			cr_assert(!prev || strcmp(prev, v->valuestring) < 0,
			          "node %zu: %s after %s", node, v->valuestring, prev);
			prev = v->valuestring;
		}
	}
	return map;
}

static const cJSON *find_named(const cJSON *arr, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *n = cJSON_GetObjectItem(e, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return e;
	}
	return NULL;
}

static const cJSON *section(const cJSON *map, const char *key)
{
	const cJSON *s = cJSON_GetObjectItem(map, key);

	cr_assert(s, "map has no %s", key);
	return s;
}

/* "name1,name2" of a string array. */
static void join_strings(const cJSON *arr, char *buf, size_t len)
{
	const cJSON *e;
	size_t o = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, arr) o +=
	    (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", e->valuestring);
}

static void join_names(const cJSON *arr, char *buf, size_t len)
{
	const cJSON *e;
	size_t o = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, arr) o += (size_t)snprintf(
	    buf + o, len - o, "%s%s", o ? "," : "", cJSON_GetObjectItem(e, "name")->valuestring);
}

static struct io_addr node_addr(struct fx *f, size_t node, bool v6)
{
	const struct reg_node *n = registry_node(f->r, node);

	return v6 ? n->addr6 : n->addr4;
}

static struct io_addr vip(struct fx *f, const char *svc, bool v6)
{
	const struct reg_service *s =
	    registry_service(f->r, (size_t)registry_service_index(f->r, svc));

	return v6 ? s->vip6 : s->vip4;
}

Test(mapgen, acl1_client_without_grant_gets_no_service_and_no_dns)
{
	struct fx f;
	fx_init(&f);
	cJSON *map = get_map(&f, CAROL, 1, NULL);

	cr_assert_eq(cJSON_GetArraySize(section(map, "services")), 0);
	cr_assert_eq(cJSON_GetArraySize(section(map, "dns")), 0);
	cr_assert_eq(cJSON_GetArraySize(section(map, "peers")), 0);
	cr_assert_not(mapgen_may_reach(f.mg, CAROL, "svc:web", 6, 443));
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, acl1_client_with_grant_gets_service_dns_and_ranked_hosts)
{
	struct fx f;
	fx_init(&f);
	struct netmap nm;
	cJSON *map = get_map(&f, BOB, 1, &nm);
	const cJSON *svc = find_named(section(map, "services"), "svc:web");
	char buf[256];

	cr_assert(svc);
	cr_assert_null(find_named(section(map, "services"), "svc:db"));
	join_strings(cJSON_GetObjectItem(svc, "hosts"), buf, sizeof(buf));
	cr_assert_str_eq(buf, "web-us,web-eu");
	join_strings(cJSON_GetObjectItem(svc, "ports"), buf, sizeof(buf));
	cr_assert_str_eq(buf, "tcp:443,tcp:80");
	cr_assert_eq(cJSON_GetArraySize(section(map, "dns")), 1);
	const struct netmap_dns_record *rec = netmap_dns_lookup(&nm, "web.example.ts.net");
	cr_assert(rec);
	struct io_addr v4 = vip(&f, "svc:web", false);
	cr_assert(io_addr_equal(&rec->addrs[0], &v4, false));
	cr_assert_null(netmap_dns_lookup(&nm, "db.example.ts.net"));
	cr_assert(mapgen_may_reach(f.mg, BOB, "svc:web", 6, 443));
	cr_assert_not(mapgen_may_reach(f.mg, BOB, "svc:web", 6, 80));
	netmap_free(&nm);
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, acl2_tag_grant_reaches_every_service_carrying_the_tag)
{
	struct fx f;
	fx_init(&f);
	cJSON *map = get_map(&f, CLIENT_1, 1, NULL);
	const cJSON *db = find_named(section(map, "services"), "svc:db");
	char buf[128];

	cr_assert(db, "tag:prod grant gives svc:db");
	cr_assert(find_named(section(map, "services"), "svc:web"));
	join_strings(cJSON_GetObjectItem(db, "hosts"), buf, sizeof(buf));
	cr_assert_str_eq(buf, "db-1");
	cr_assert(mapgen_may_reach(f.mg, CLIENT_1, "svc:db", 6, 5432));
	cr_assert_not(mapgen_may_reach(f.mg, CLIENT_1, "svc:db", 17, 5432));
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, acl3_port_sets_compiled_into_the_host_filter)
{
	struct fx f;
	fx_init(&f);
	struct netmap nm;
	cJSON *map = get_map(&f, WEB_US, 1, &nm);

	for (int v6 = 0; v6 < 2; v6++) {
		struct io_addr web = vip(&f, "svc:web", v6), bob = node_addr(&f, BOB, v6),
		               carol = node_addr(&f, CAROL, v6), cl = node_addr(&f, CLIENT_1, v6),
		               self = node_addr(&f, WEB_US, v6);
		cr_assert(netmap_filter_allows(&nm, &bob, &web, 6, 443), "v6=%d", v6);
		cr_assert_not(netmap_filter_allows(&nm, &bob, &web, 6, 80), "ACL-3 v6=%d", v6);
		cr_assert_not(netmap_filter_allows(&nm, &bob, &web, 17, 443), "udp v6=%d", v6);
		cr_assert(netmap_filter_allows(&nm, &cl, &web, 6, 80));
		cr_assert(netmap_filter_allows(&nm, &cl, &web, 6, 443));
		cr_assert_not(netmap_filter_allows(&nm, &cl, &web, 6, 8080));
		cr_assert_not(netmap_filter_allows(&nm, &carol, &web, 6, 443), "unlisted client");
		cr_assert_not(netmap_filter_allows(&nm, &bob, &self, 6, 443), "host's own address");
	}
	netmap_free(&nm);
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, acl_direct_node_grant_compiles_filter_towards_own_address)
{
	struct fx f;
	fx_init(&f);
	set_policy(&f, policy_direct, ADMIN);
	struct netmap nm;
	cJSON *map = get_map(&f, DB_1, 1, &nm);
	struct io_addr me = node_addr(&f, DB_1, false), cl = node_addr(&f, CLIENT_1, false),
	               bob = node_addr(&f, BOB, false);

	cr_assert(netmap_filter_allows(&nm, &cl, &me, 6, 22));
	cr_assert(netmap_filter_allows(&nm, &cl, &me, 17, 22));
	cr_assert_not(netmap_filter_allows(&nm, &cl, &me, 6, 23));
	cr_assert_not(netmap_filter_allows(&nm, &bob, &me, 6, 22));
	cr_assert_geq(netmap_peer_by_name(&nm, "client-1"), 0);
	netmap_free(&nm);
	cJSON_Delete(map);
	map = get_map(&f, CLIENT_1, 1, &nm);
	cr_assert_geq(netmap_peer_by_name(&nm, "db-1"), 0, "client reaches db-1 directly");
	netmap_free(&nm);
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, str2_pending_draining_and_dead_hosts_absent_from_hosts)
{
	struct fx f;
	fx_init(&f);
	size_t pend = add_node(&f, "web-pending", "", "us", "tag:db", "10.0.0.9:41641");
	size_t dead = add_node(&f, "web-dead", "", "us", "tag:web", "10.0.0.10:41641");
	size_t drain = add_node(&f, "web-drain", "", "us", "tag:web", "10.0.0.11:41641");
	advertise(&f, pend, "svc:web", false, 443, 80);
	advertise(&f, dead, "svc:web", false, 443, 80);
	advertise(&f, drain, "svc:web", true, 443, 80);
	registry_node_set_alive(f.r, dead, false);
	cJSON *map = get_map(&f, BOB, 1, NULL);
	const cJSON *svc = find_named(section(map, "services"), "svc:web");
	char buf[256];

	join_strings(cJSON_GetObjectItem(svc, "hosts"), buf, sizeof(buf));
	cr_assert_str_eq(buf, "web-us,web-eu");
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, str3_ranking_carried_to_hosts)
{
	struct fx f;
	fx_init(&f);
	size_t clients[] = {BOB, CLIENT_1};

	for (size_t i = 0; i < 2; i++) {
		size_t ranked[NETMAP_MAX_HOSTS], n;
		char want[256] = "", got[256];
		size_t o = 0;
		cJSON *map = get_map(&f, clients[i], 1, NULL);

		n = registry_rank_hosts(f.r, clients[i], "svc:web", ranked, NETMAP_MAX_HOSTS);
		cr_assert_eq(n, 2);
		for (size_t k = 0; k < n; k++)
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s", k ? "," : "",
			                      registry_node(f.r, ranked[k])->name);
		join_strings(
		    cJSON_GetObjectItem(find_named(section(map, "services"), "svc:web"), "hosts"),
		    got, sizeof(got));
		cr_assert_str_eq(got, want);
		cJSON_Delete(map);
	}
	/* Region first: the eu client is steered to web-eu. */
	cJSON *map = get_map(&f, CLIENT_1, 1, NULL);
	const cJSON *hosts =
	    cJSON_GetObjectItem(find_named(section(map, "services"), "svc:web"), "hosts");
	cr_assert_str_eq(cJSON_GetArrayItem(hosts, 0)->valuestring, "web-eu");
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, host_peers_are_its_allowed_clients_client_peers_only_its_hosts)
{
	struct fx f;
	fx_init(&f);
	char buf[512];
	cJSON *map = get_map(&f, WEB_US, 1, NULL);

	join_names(section(map, "peers"), buf, sizeof(buf));
	cr_assert_str_eq(buf, "bob-laptop,client-1");
	cJSON_Delete(map);
	map = get_map(&f, BOB, 1, NULL);
	join_names(section(map, "peers"), buf, sizeof(buf));
	cr_assert_str_eq(buf, "web-eu,web-us");
	const cJSON *peer = find_named(section(map, "peers"), "web-us");
	cr_assert_str_eq(cJSON_GetObjectItem(peer, "endpoint")->valuestring, "10.0.0.1:41641");
	cJSON_Delete(map);
	map = get_map(&f, WEB_US, 1, NULL);
	peer = find_named(section(map, "peers"), "bob-laptop");
	cr_assert_str_eq(cJSON_GetObjectItem(peer, "user")->valuestring, "bob@example.com");
	cr_assert_str_eq(cJSON_GetObjectItem(peer, "display_name")->valuestring, "Bob");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(peer, "addresses")), 2);
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, self_carries_identity)
{
	struct fx f;
	fx_init(&f);
	cJSON *map = get_map(&f, BOB, 1, NULL);
	const cJSON *self = section(map, "self");

	cr_assert_str_eq(cJSON_GetObjectItem(self, "name")->valuestring, "bob-laptop");
	cr_assert_str_eq(cJSON_GetObjectItem(self, "display_name")->valuestring, "Bob");
	cr_assert_null(cJSON_GetObjectItem(self, "endpoint"));
	cr_assert_eq(cJSON_GetObjectItem(map, "version")->valuedouble, 1);
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, host_services_only_for_approved_advertising_hosts_draining_included)
{
	struct fx f;
	fx_init(&f);
	size_t pend = add_node(&f, "web-pending", "", "us", "tag:db", "10.0.0.9:41641");
	size_t pre = add_node(&f, "web-pre", "", "us", "tag:web", "10.0.0.12:41641");
	advertise(&f, pend, "svc:web", false, 443, 80);
	cr_assert_eq(registry_decide(f.r, ADMIN, "svc:web", "web-pre", REG_DECISION_APPROVED, f.err,
	                             sizeof(f.err)),
	             0, "%s", f.err);
	advertise(&f, WEB_EU, "svc:web", true, 443, 80); /* draining */
	struct {
		size_t node;
		int n;
	} want[] = {{WEB_US, 1}, {WEB_EU, 1}, {DB_1, 1}, {pend, 0}, {pre, 0}, {BOB, 0}};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cJSON *map = get_map(&f, want[i].node, 1, NULL);
		cr_assert_eq(cJSON_GetArraySize(section(map, "host_services")), want[i].n,
		             "node %zu", want[i].node);
		cJSON_Delete(map);
	}
	/* The draining host still accepts its clients (open connections). */
	struct netmap nm;
	cJSON *map = get_map(&f, WEB_EU, 1, &nm);
	struct io_addr web = vip(&f, "svc:web", false), bob = node_addr(&f, BOB, false);
	cr_assert(netmap_filter_allows(&nm, &bob, &web, 6, 443));
	cr_assert(netmap_host_service_by_vip(&nm, &web));
	netmap_free(&nm);
	cJSON_Delete(map);
	/* A pending host has no VIPs and accepts nobody. */
	map = get_map(&f, pend, 1, &nm);
	cr_assert_eq(nm.n_rules, 0);
	netmap_free(&nm);
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, l7_5_cert_pem_and_ca_pem_carried)
{
	struct fx f;
	fx_init(&f);
	cJSON *map = get_map(&f, WEB_US, 1, NULL);
	const cJSON *hs = find_named(section(map, "host_services"), "svc:web");

	cr_assert(hs);
	cr_assert(strstr(cJSON_GetObjectItem(hs, "cert_pem")->valuestring, "WEBUS"));
	cr_assert(strstr(cJSON_GetObjectItem(map, "ca_pem")->valuestring, "CA"));
	cJSON_Delete(map);
	map = get_map(&f, WEB_EU, 1, NULL);
	hs = find_named(section(map, "host_services"), "svc:web");
	cr_assert_null(cJSON_GetObjectItem(hs, "cert_pem"), "callback gave none");
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, do_not_validate_service_has_no_ports_and_the_flag)
{
	struct fx f;
	fx_init(&f);
	define(&f, "svc:any", "do-not-validate", NULL, "tag:prod");
	cJSON *map = get_map(&f, CLIENT_1, 1, NULL);
	const cJSON *svc = find_named(section(map, "services"), "svc:any");

	cr_assert(svc);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(svc, "ports")), 0);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(svc, "do_not_validate")));
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, policy_change_applies_on_the_next_map)
{
	struct fx f;
	fx_init(&f);
	cJSON *map = get_map(&f, BOB, 1, NULL);

	cr_assert_eq(cJSON_GetArraySize(section(map, "services")), 1);
	cJSON_Delete(map);
	set_policy(&f, policy_no_eng, ADMIN);
	map = get_map(&f, BOB, 2, NULL);
	cr_assert_eq(cJSON_GetArraySize(section(map, "services")), 0);
	cJSON_Delete(map);
	cr_assert_not(mapgen_may_reach(f.mg, BOB, "svc:web", 6, 443));
	fx_fini(&f);
}

Test(mapgen, nodes_sharing_an_endpoint_give_one_peer_and_a_valid_map)
{
	struct fx f;
	fx_init(&f);
	size_t dup = add_node(&f, "client-dup", "", "eu", "tag:client", "10.0.0.6:41641");
	registry_node_set_connected(f.r, CLIENT_1, false);
	struct netmap nm;
	cJSON *map = get_map(&f, WEB_US, 1, &nm);

	cr_assert_geq(netmap_peer_by_name(&nm, "client-dup"), 0, "the connected one wins");
	cr_assert_lt(netmap_peer_by_name(&nm, "client-1"), 0);
	(void)dup;
	netmap_free(&nm);
	cJSON_Delete(map);
	fx_fini(&f);
}

/* Users the policy never names share one identity class (only `*` and
 * autogroup:member can match them); a named user keeps its own answers,
 * also when the name is spelled with a JSON escape. */
Test(mapgen, acl1_unnamed_members_share_answers_named_users_keep_theirs)
{
	static const char *policies[] = {
	    "{" POL_OWNERS "\"grants\": [" POL_GRANT_ENG
	    "{\"src\": [\"autogroup:member\"], \"dst\": [\"svc:db\"], \"ip\": [\"5432\"]},"
	    "{\"src\": [\"carol@example.com\"], \"dst\": [\"tag:svc\"], \"ip\": [\"80\"]}"
	    "]," POL_APPROVERS "}",
	    "{" POL_OWNERS "\"grants\": [" POL_GRANT_ENG
	    "{\"src\": [\"autogroup:member\"], \"dst\": [\"svc:db\"], \"ip\": [\"5432\"]},"
	    "{\"src\": [\"carol\\u0040example.com\"], \"dst\": [\"tag:svc\"], \"ip\": [\"80\"]}"
	    "]," POL_APPROVERS "}",
	};

	for (size_t k = 0; k < 2; k++) {
		struct fx f;
		fx_init(&f);
		cr_assert_eq(registry_user_set(f.r, "dave@example.com", REG_ROLE_MEMBER, "Dave",
		                               NULL, f.err, sizeof(f.err)),
		             0, "%s", f.err);
		size_t dave =
		    add_node(&f, "dave-pc", "dave@example.com", "us", NULL, "10.0.0.30:41641");
		set_policy(&f, policies[k], ADMIN);
		cr_assert(mapgen_may_reach(f.mg, dave, "svc:db", 6, 5432), "policy %zu", k);
		cr_assert_not(mapgen_may_reach(f.mg, dave, "svc:web", 6, 80), "policy %zu", k);
		cr_assert_not(mapgen_may_reach(f.mg, dave, "svc:web", 6, 443), "policy %zu", k);
		cr_assert(mapgen_may_reach(f.mg, CAROL, "svc:db", 6, 5432), "policy %zu", k);
		cr_assert(mapgen_may_reach(f.mg, CAROL, "svc:web", 6, 80), "policy %zu", k);
		cr_assert_not(mapgen_may_reach(f.mg, CAROL, "svc:web", 6, 443), "policy %zu", k);
		cr_assert(mapgen_may_reach(f.mg, BOB, "svc:web", 6, 443), "policy %zu", k);
		cr_assert_not(mapgen_may_reach(f.mg, BOB, "svc:web", 6, 80), "policy %zu", k);
		cJSON *map = get_map(&f, dave, 1, NULL);
		cr_assert_eq(cJSON_GetArraySize(section(map, "services")), 1);
		cJSON_Delete(map);
		fx_fini(&f);
	}
}

/* More rules than NETMAP_MAX_FILTER_RULES: the rest are dropped (refused
 * traffic, never a map the daemon rejects). */
Test(mapgen, filter_rule_limit_drops_rules_and_map_stays_valid)
{
	struct fx f;
	fx_init(&f);
	const size_t n = NETMAP_MAX_FILTER_RULES / 2 + 10;
	struct reg_advert *adv = calloc(n, sizeof(*adv));
	char(*names)[32] = calloc(n, sizeof(*names));
	uint16_t port = 443;

	set_policy(&f,
	           "{" POL_OWNERS "\"grants\": [{\"src\": [\"tag:client\"], \"dst\": [\"tag:svc\"],"
	           " \"ip\": [\"tcp:443\", \"udp:53\"]}],"
	           " \"autoApprovers\": {\"services\": {\"tag:svc\": [\"tag:web\"]}}}",
	           ADMIN);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "svc:s%zu", i);
		define(&f, names[i], "tcp:443", NULL, "tag:svc");
		adv[i] = (struct reg_advert){
		    .service = names[i], .n_config_ports = 1, .config_ports = &port};
	}
	cr_assert_eq(registry_advertise(f.r, WEB_US, adv, n, f.err, sizeof(f.err)), 0, "%s", f.err);
	struct netmap nm;
	cJSON *map = get_map(&f, WEB_US, 1, &nm);
	cr_assert_eq(nm.n_rules, NETMAP_MAX_FILTER_RULES);
	cr_assert_eq(nm.n_host_services, n);
	netmap_free(&nm);
	cJSON_Delete(map);
	free(adv);
	free(names);
	fx_fini(&f);
}

/* ---- messages -------------------------------------------------------- */

static cJSON *apply_msg(cJSON *held, const char *text, bool is_delta)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *msg = NULL;
	enum mapproto_type t =
	    mapproto_parse((const uint8_t *)text, strlen(text), &msg, err, sizeof(err));

	cr_assert_eq(t, MAPPROTO_NETMAP, "%s", err);
	if (is_delta) {
		cr_assert(held);
		cr_assert_eq(mapproto_apply_delta(held, msg, err, sizeof(err)), 0, "%s", err);
	} else {
		cJSON_Delete(held);
		held = cJSON_DetachItemFromObject(msg, "full");
		cr_assert(held);
	}
	cJSON_Delete(msg);
	return held;
}

static void assert_same(const cJSON *a, const cJSON *b)
{
	char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);

	cr_assert_str_eq(x, y);
	free(x);
	free(y);
}

Test(mapgen, delta_round_trip_over_a_series_of_registry_changes)
{
	struct fx f;
	fx_init(&f);
	struct mapgen_sent *sent = mapgen_sent_new();
	size_t watch[] = {WEB_US, BOB};
	struct mapgen_sent *sents[2] = {sent, mapgen_sent_new()};
	cJSON *held[2] = {NULL, NULL};
	uint64_t version[2] = {0, 0};
	int deltas = 0;

	for (int step = 0; step < 8; step++) {
		switch (step) {
		case 1: /* a new client appears */
			add_node(&f, "client-2", "", "eu", "tag:client", "10.0.0.20:41641");
			break;
		case 2: /* a host drains */
			advertise(&f, WEB_EU, "svc:web", true, 443, 80);
			break;
		case 3: /* a client changes endpoint */
			add_node(&f, "client-2", "", "eu", "tag:client", "10.0.0.21:41641");
			break;
		case 4: /* a host dies */
			registry_node_set_alive(f.r, WEB_EU, false);
			break;
		case 5: /* a client loses access */
			set_policy(&f, policy_no_eng, ADMIN);
			registry_node_set_alive(f.r, WEB_EU, true);
			advertise(&f, WEB_EU, "svc:web", false, 443, 80);
			break;
		case 6: /* a new service */
			define(&f, "svc:new", "tcp:8080", NULL, "tag:svc");
			break;
		case 7: /* nothing changed */
			break;
		}
		for (int w = 0; w < 2; w++) {
			cJSON *map = get_map(&f, watch[w], version[w] + 1, NULL);
			bool is_delta;
			size_t len;
			char *text = mapgen_message(sents[w], map, &is_delta, &len);

			if (!text) {
				cr_assert_eq(errno, 0);
				cr_assert(step > 0, "first message is never empty");
				cr_assert(held[w]);
				/* nothing changed: the held map equals the new one
				 * but for the version */
				cJSON_ReplaceItemInObject(map, "version",
				                          cJSON_CreateNumber((double)version[w]));
				assert_same(held[w], map);
				cJSON_Delete(map);
				continue;
			}
			cr_assert_eq(len, strlen(text));
			cr_assert(step > 0 || !is_delta, "first message is full");
			deltas += is_delta;
			held[w] = apply_msg(held[w], text, is_delta);
			assert_same(held[w], map);
			version[w]++;
			free(text);
			cJSON_Delete(map);
		}
	}
	cr_assert_geq(deltas, 3, "deltas were sent");
	for (int w = 0; w < 2; w++) {
		cJSON_Delete(held[w]);
		mapgen_sent_free(sents[w]);
	}
	fx_fini(&f);
}

Test(mapgen, unchanged_map_gives_null_and_full_after_reset)
{
	struct fx f;
	fx_init(&f);
	struct mapgen_sent *sent = mapgen_sent_new();
	bool is_delta = true;
	size_t len;
	cJSON *map = get_map(&f, WEB_US, 1, NULL);
	char *text = mapgen_message(sent, map, &is_delta, &len);

	cr_assert(text);
	cr_assert_not(is_delta);
	cr_assert(strstr(text, "\"full\":"));
	free(text);
	cJSON_Delete(map);
	map = get_map(&f, WEB_US, 2, NULL);
	errno = 1;
	cr_assert_null(mapgen_message(sent, map, &is_delta, &len));
	cr_assert_eq(errno, 0);
	cr_assert_not(is_delta);
	mapgen_sent_reset(sent);
	text = mapgen_message(sent, map, &is_delta, &len);
	cr_assert(text);
	cr_assert_not(is_delta);
	cr_assert(strstr(text, "\"full\":"));
	free(text);
	cJSON_Delete(map);
	mapgen_sent_free(sent);
	fx_fini(&f);
}

Test(mapgen, small_change_sends_a_delta_with_base)
{
	struct fx f;
	fx_init(&f);
	struct mapgen_sent *sent = mapgen_sent_new();
	bool is_delta;
	size_t len;
	cJSON *map = get_map(&f, WEB_US, 7, NULL);
	char *text = mapgen_message(sent, map, &is_delta, &len);

	free(text);
	cJSON_Delete(map);
	add_node(&f, "client-2", "", "eu", "tag:client", "10.0.0.20:41641");
	map = get_map(&f, WEB_US, 8, NULL);
	text = mapgen_message(sent, map, &is_delta, &len);
	cr_assert(text);
	cr_assert(is_delta, "%s", text);
	cr_assert(strstr(text, "\"base\":7"), "%s", text);
	cr_assert(strstr(text, "\"peers_upsert\":[{\"name\":\"client-2\""), "%s", text);
	cr_assert_null(strstr(text, "bob-laptop"), "unchanged peers are not resent");
	cr_assert(strstr(text, "\"filter_upsert\":[{\"id\":\"svc:web|"), "%s", text);
	cr_assert_null(strstr(text, "\"set\""), "nothing else changed: %s", text);
	free(text);
	cJSON_Delete(map);
	mapgen_sent_free(sent);
	fx_fini(&f);
}

Test(mapgen, delta_not_smaller_than_full_sends_full)
{
	struct mapgen_sent *sent = mapgen_sent_new();
	cJSON *a = cJSON_Parse("{\"version\":1,\"x\":\"a\"}");
	cJSON *b = cJSON_Parse("{\"version\":2,\"x\":\"b\"}");
	bool is_delta;
	size_t len;
	char *t1 = mapgen_message(sent, a, &is_delta, &len);
	char *t2 = mapgen_message(sent, b, &is_delta, &len);

	cr_assert(t1 && t2);
	cr_assert_not(is_delta, "%s", t2);
	cr_assert_str_eq(
	    t2, "{\"type\":\"netmap\",\"version\":2,\"full\":{\"version\":2,\"x\":\"b\"}}");
	free(t1);
	free(t2);
	cJSON_Delete(a);
	cJSON_Delete(b);
	mapgen_sent_free(sent);
}

Test(mapgen, map_without_version_is_einval)
{
	struct mapgen_sent *sent = mapgen_sent_new();
	cJSON *a = cJSON_Parse("{\"x\":1}");
	bool is_delta;
	size_t len;

	cr_assert_null(mapgen_message(sent, a, &is_delta, &len));
	cr_assert_eq(errno, EINVAL);
	cJSON_Delete(a);
	mapgen_sent_free(sent);
}

/* ---- scale ----------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `n_clients` clients (a mix of tagged clients and users' nodes) and four
 * hosts of two services. */
static void big_tailnet(struct fx *f, size_t n_clients)
{
	char name[64], ep[64], user[64];

	fx_init(f);
	for (size_t i = 0; i < n_clients; i++) {
		snprintf(name, sizeof(name), "c%05zu", i);
		snprintf(ep, sizeof(ep), "10.%zu.%zu.%zu:41641", 1 + i / 65536, (i / 256) % 256,
		         i % 256);
		if (i % 2) {
			add_node(f, name, "", i % 4 == 1 ? "us" : "eu", "tag:client", ep);
		} else {
			snprintf(user, sizeof(user), "u%zu@example.com", i % 50);
			if (i < 100)
				cr_assert_eq(registry_user_set(f->r, user, REG_ROLE_MEMBER, "U",
				                               NULL, f->err, sizeof(f->err)),
				             0, "%s", f->err);
			add_node(f, name, user, "us", NULL, ep);
		}
	}
}

Test(mapgen, client_maps_in_a_1000_node_tailnet_have_few_peers)
{
	struct fx f;
	big_tailnet(&f, 1000);
	size_t n = registry_node_count(f.r);

	for (size_t i = 6; i < n; i += 37) {
		cJSON *map = get_map(&f, i, 1, NULL);
		cr_assert_leq(cJSON_GetArraySize(section(map, "peers")), 3, "node %zu", i);
		cJSON_Delete(map);
	}
	cJSON *map = get_map(&f, WEB_US, 1, NULL);
	cr_assert_eq(cJSON_GetArraySize(section(map, "peers")), 1 + 1 + 500,
	             "bob, client-1 and the tagged clients");
	cJSON_Delete(map);
	fx_fini(&f);
}

Test(mapgen, building_all_maps_of_a_10000_node_tailnet_is_measured)
{
	struct fx f;
	big_tailnet(&f, 10000 - 6);
	size_t n = registry_node_count(f.r), bytes = 0;
	double t0 = now_s(), t1;
	struct mapgen_sent *sent = mapgen_sent_new();
	bool is_delta;
	size_t len;

	cr_assert_eq(n, 10000);
	for (size_t i = 0; i < n; i++) {
		cJSON *map = mapgen_node_map(f.mg, i, 1);
		cr_assert(map);
		char *text = cJSON_PrintUnformatted(map);
		bytes += strlen(text);
		free(text);
		cJSON_Delete(map);
	}
	t1 = now_s();
	printf("mapgen: %zu maps of a %zu-node tailnet (2 services) in %.3f s, %zu bytes\n", n, n,
	       t1 - t0, bytes);
	/* The host's map (thousands of peers and filter sources) is valid. */
	cJSON *map = get_map(&f, WEB_US, 1, NULL);
	char *text = mapgen_message(sent, map, &is_delta, &len);
	cJSON_Delete(map);
	free(text);
	add_node(&f, "late", "", "us", "tag:client", "10.200.0.1:41641");
	t0 = now_s();
	map = get_map(&f, WEB_US, 2, NULL);
	text = mapgen_message(sent, map, &is_delta, &len);
	t1 = now_s();
	cr_assert(is_delta);
	printf("mapgen: host map + delta after one join: %.3f s, delta %zu bytes\n", t1 - t0, len);
	cr_assert_lt(len, 16384, "one join changes one peer and one small rule");
	free(text);
	cJSON_Delete(map);
	mapgen_sent_free(sent);
	fx_fini(&f);
}

Test(mapgen, sec1_every_node_in_a_map_carries_its_node_key)
{
	struct fx f;
	fx_init(&f);
	struct netmap nm;
	cJSON *map = get_map(&f, BOB, 1, &nm);
	uint8_t key[REG_KEY_LEN];

	node_key("bob-laptop", key);
	cr_assert(nm.self.has_key && memcmp(nm.self.key, key, REG_KEY_LEN) == 0);
	cr_assert_gt(nm.n_peers, 0);
	for (size_t i = 0; i < nm.n_peers; i++) {
		node_key(nm.peers[i].name, key);
		cr_assert(nm.peers[i].has_key, "%s has no key", nm.peers[i].name);
		cr_assert_eq(netmap_peer_by_key(&nm, key), (int)i, "%s", nm.peers[i].name);
	}
	netmap_free(&nm);
	cJSON_Delete(map);
	fx_fini(&f);
}
