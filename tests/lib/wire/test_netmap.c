/* The netmap model: parsing, validation messages, limits, lookups and the
 * packet filter (SPEC ACL-1/3/4 as the host evaluates them, STR-6's peer
 * names). */
#include "lib/wire/netmap.h"

#include "tests/support/nested.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char good_doc[] =
    "{\"version\": 7, \"tailnet\": \"Example.TS.net.\","
    " \"self\": {\"name\": \"web-us\", \"addresses\": [\"100.64.0.1\", \"fd7a:115c:a1e0::1\"],"
    "          \"tags\": [\"tag:web\"]},"
    " \"peers\": [{\"name\": \"client-0\", \"addresses\": [\"100.64.0.3\"],"
    "             \"endpoint\": \"10.0.0.3:41641\", \"user\": \"bob@example.com\","
    "             \"display_name\": \"Bob\", \"tags\": []},"
    "            {\"name\": \"web-eu\", \"addresses\": [\"100.64.0.2\", \"fd7a:115c:a1e0::2\"],"
    "             \"endpoint\": \"10.0.0.2\", \"tags\": [\"tag:web\"]}],"
    " \"services\": [{\"name\": \"svc:web\", \"addresses\": [\"100.100.0.5\","
    "                 \"fd7a:115c:a1e0:ab12::5\"], \"ports\": [\"tcp:443\", \"tcp:8000-8100\"],"
    "                 \"hosts\": [\"web-eu\", \"web-us\"]}],"
    " \"host_services\": [{\"name\": \"svc:web\", \"addresses\": [\"100.100.0.5\"]}],"
    " \"filter\": [{\"src\": [\"100.64.0.3/32\"], \"proto\": [\"tcp\"],"
    "              \"dst\": [{\"net\": \"100.100.0.5/32\", \"ports\": \"443\"},"
    "                      {\"net\": \"100.64.0.1\", \"ports\": \"8000-8100\"}]},"
    "             {\"src\": [\"*\"], \"proto\": [\"udp\", 50],"
    "              \"dst\": [{\"net\": \"100.64.0.0/10\", \"ports\": \"*\"}]}],"
    " \"dns\": [{\"name\": \"Web.Example.ts.net\", \"addresses\": [\"100.100.0.5\"]}]}";

static struct io_addr ip(const char *s)
{
	struct io_addr a;
	cr_assert_eq(io_addr_parse(&a, s, 0), 0, "bad test address %s", s);
	return a;
}

static int parse(const char *doc, struct netmap *nm, char *err)
{
	return netmap_from_json(doc, strlen(doc), nm, err, NETMAP_ERR_LEN);
}

Test(netmap, good_document_parses_with_every_field)
{
	struct netmap nm;
	char err[NETMAP_ERR_LEN];

	cr_assert_eq(parse(good_doc, &nm, err), 0, "%s", err);
	cr_assert_eq(nm.version, 7);
	cr_assert_str_eq(nm.tailnet, "example.ts.net");
	cr_assert_str_eq(nm.self.name, "web-us");
	cr_assert_eq(nm.self.n_addrs, 2);
	cr_assert_eq(nm.n_peers, 2);
	cr_assert_str_eq(nm.peers[0].user, "bob@example.com");
	cr_assert_str_eq(nm.peers[0].display_name, "Bob");
	cr_assert_eq(nm.peers[1].endpoint.port, NETMAP_DEFAULT_PORT,
	             "an endpoint without a port gets the default");
	cr_assert_eq(nm.n_services, 1);
	cr_assert_eq(nm.services[0].n_ports, 2);
	cr_assert_eq(nm.services[0].ports[1].first, 8000);
	cr_assert_eq(nm.services[0].ports[1].last, 8100);
	cr_assert_eq(nm.services[0].n_hosts, 1, "this node's own name is skipped in hosts");
	cr_assert_eq(nm.services[0].hosts[0], 1);
	cr_assert_eq(nm.n_host_services, 1);
	cr_assert_eq(nm.n_rules, 2);
	cr_assert_eq(nm.rules[1].n_proto, 2);
	cr_assert_eq(nm.rules[1].proto[1], 50);
	cr_assert_str_eq(nm.dns[0].name, "web.example.ts.net");
	netmap_free(&nm);
}

Test(netmap, rel5_json_nested_deeper_than_1000_is_refused_by_the_parser)
{
	struct netmap nm;
	char err[256];
	char *deep = test_nested_brackets("{\"peers\": ", 1000, "}");

	cr_assert_eq(netmap_from_json(deep, strlen(deep), &nm, err, sizeof(err)), -EINVAL);
	cr_assert(err[0] != '\0');
	free(deep);
}

Test(netmap, lookups_find_peers_services_and_records_in_constant_time)
{
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	struct io_addr a;

	cr_assert_eq(parse(good_doc, &nm, err), 0, "%s", err);
	a = ip("100.64.0.2");
	cr_assert_eq(netmap_peer_by_addr(&nm, &a), 1);
	a = ip("fd7a:115c:a1e0::2");
	cr_assert_eq(netmap_peer_by_addr(&nm, &a), 1);
	a = ip("100.64.0.3:999"); /* ports do not matter for tailnet addresses */
	cr_assert_eq(netmap_peer_by_addr(&nm, &a), 0);
	a = ip("100.64.0.9");
	cr_assert_eq(netmap_peer_by_addr(&nm, &a), -1);
	cr_assert_eq(netmap_peer_by_name(&nm, "web-eu"), 1);
	cr_assert_eq(netmap_peer_by_name(&nm, "web-us"), -1, "self is not a peer");
	a = ip("10.0.0.3:41641");
	cr_assert_eq(netmap_peer_by_endpoint(&nm, &a), 0);
	a = ip("10.0.0.3:41642");
	cr_assert_eq(netmap_peer_by_endpoint(&nm, &a), -1, "endpoints match ip and port");
	a = ip("fd7a:115c:a1e0:ab12::5");
	cr_assert_not_null(netmap_service_by_vip(&nm, &a));
	cr_assert_null(netmap_host_service_by_vip(&nm, &a), "only one VIP is hosted here");
	a = ip("100.100.0.5");
	cr_assert_str_eq(netmap_host_service_by_vip(&nm, &a)->name, "svc:web");
	cr_assert_str_eq(netmap_service_by_name(&nm, "svc:web")->name, "svc:web");
	cr_assert_null(netmap_service_by_name(&nm, "svc:nope"));
	cr_assert_not_null(netmap_dns_lookup(&nm, "WEB.example.ts.net."));
	cr_assert_null(netmap_dns_lookup(&nm, "db.example.ts.net"));
	a = ip("fd7a:115c:a1e0::1");
	cr_assert(netmap_is_self_addr(&nm, &a));
	a = ip("100.64.0.2");
	cr_assert_not(netmap_is_self_addr(&nm, &a));
	netmap_free(&nm);
}

/* ACL-1/ACL-3: a grant covers its sources, protocols and ports only. */
Test(netmap, acl3_filter_allows_granted_ports_and_refuses_the_others)
{
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	struct io_addr client = ip("100.64.0.3"), other = ip("100.64.0.2");
	struct io_addr vip = ip("100.100.0.5"), self = ip("100.64.0.1");

	cr_assert_eq(parse(good_doc, &nm, err), 0, "%s", err);
	cr_assert(netmap_filter_allows(&nm, &client, &vip, 6, 443));
	cr_assert_not(netmap_filter_allows(&nm, &client, &vip, 6, 444), "port outside the grant");
	cr_assert_not(netmap_filter_allows(&nm, &other, &vip, 6, 443), "source not granted");
	cr_assert(netmap_filter_allows(&nm, &client, &self, 6, 8000));
	cr_assert(netmap_filter_allows(&nm, &client, &self, 6, 8100));
	cr_assert_not(netmap_filter_allows(&nm, &client, &self, 6, 8101));
	cr_assert(netmap_filter_allows(&nm, &other, &vip, 17, 53), "udp rule from anyone");
	cr_assert(netmap_filter_allows(&nm, &other, &vip, 50, 0), "protocol by number");
	cr_assert_not(netmap_filter_allows(&nm, &other, &vip, 1, 0), "icmp not granted");
	netmap_free(&nm);
}

Test(netmap, empty_filter_refuses_everything_and_any_prefix_allows_everything)
{
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	struct io_addr a = ip("100.64.0.3"), b = ip("fd7a:115c:a1e0::1");
	const char *none = "{\"version\":1,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"n\","
	                   "\"addresses\":[\"100.64.0.1\"]}}";
	const char *all = "{\"version\":1,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"n\","
	                  "\"addresses\":[\"100.64.0.1\"]},\"filter\":[{\"src\":[\"*\"],"
	                  "\"dst\":[{\"net\":\"*\",\"ports\":\"*\"}]}]}";

	cr_assert_eq(parse(none, &nm, err), 0, "%s", err);
	cr_assert_not(netmap_filter_allows(&nm, &a, &b, 6, 22));
	netmap_free(&nm);
	cr_assert_eq(parse(all, &nm, err), 0, "%s", err);
	cr_assert(netmap_filter_allows(&nm, &a, &b, 6, 22));
	cr_assert(netmap_filter_allows(&nm, &b, &a, 1, 0));
	netmap_free(&nm);
}

Test(netmap, printed_json_parses_back_to_the_same_text)
{
	struct netmap nm, again;
	char err[NETMAP_ERR_LEN];

	cr_assert_eq(parse(good_doc, &nm, err), 0, "%s", err);
	char *out = netmap_to_json(&nm);
	cr_assert_not_null(out);
	cr_assert_eq(parse(out, &again, err), 0, "%s in %s", err, out);
	char *out2 = netmap_to_json(&again);
	cr_assert_str_eq(out, out2);
	free(out);
	free(out2);
	netmap_free(&nm);
	netmap_free(&again);
}

/* One bad document per error class, with the exact message. */
struct bad_case {
	const char *doc;
	int rc;
	const char *msg;
};

#define SELF "\"self\":{\"name\":\"n\",\"addresses\":[\"100.64.0.1\"]}"
#define HEAD "{\"version\":1,\"tailnet\":\"t.ts.net\"," SELF
#define PEER(name, addr, ep)                                                                       \
	"{\"name\":\"" name "\",\"addresses\":[\"" addr "\"],\"endpoint\":\"" ep "\"}"

static const struct bad_case bad_cases[] = {
    {"[1,2", -EINVAL, "netmap: invalid JSON near byte 3"},
    {"[]", -EINVAL, "netmap: expected an object, got an array"},
    {"{\"tailnet\":\"t.ts.net\"," SELF "}", -EINVAL, "version: missing"},
    {"{\"version\":-1,\"tailnet\":\"t\"," SELF "}", -EINVAL,
     "version: expected a whole number >= 0"},
    {"{\"version\":1.5,\"tailnet\":\"t\"," SELF "}", -EINVAL,
     "version: expected a whole number >= 0"},
    {"{\"version\":1," SELF "}", -EINVAL, "netmap.tailnet: missing"},
    {"{\"version\":1,\"tailnet\":7," SELF "}", -EINVAL,
     "netmap.tailnet: expected a string, got a number"},
    {"{\"version\":1,\"tailnet\":\"a..b\"," SELF "}", -EINVAL,
     "netmap.tailnet: \"a..b\" is not a DNS name"},
    {"{\"version\":1,\"tailnet\":\"t..\"," SELF "}", -EINVAL,
     "netmap.tailnet: \"t..\" is not a DNS name"},
    {"{\"version\":1,\"tailnet\":\"t\"}", -EINVAL, "self: missing"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":[]}", -EINVAL,
     "self: expected an object, got an array"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"addresses\":[\"100.64.0.1\"]}}", -EINVAL,
     "self.name: missing"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"\",\"addresses\":[\"100.64.0.1\"]}}",
     -EINVAL, "self.name: empty"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"a\\u0001\",\"addresses\":"
     "[\"100.64.0.1\"]}}",
     -EINVAL, "self.name: control character in the text"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\"}}", -EINVAL,
     "self.addresses: missing"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\",\"addresses\":[]}}", -EINVAL,
     "self.addresses: empty"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\",\"addresses\":[\"x\"]}}", -EINVAL,
     "self.addresses[0]: \"x\" is not an IP address"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\",\"addresses\":[\"10.0.0.1\"]}}",
     -EINVAL,
     "self.addresses[0]: 10.0.0.1 is outside the tailnet (100.64.0.0/10, fd7a:115c:a1e0::/48)"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\",\"addresses\":[\"100.64.0.1\","
     "\"100.64.0.1\"]}}",
     -EINVAL, "self.addresses[1]: 100.64.0.1 listed twice"},
    {"{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\",\"addresses\":[\"100.64.0.1\"],"
     "\"tags\":[\"web\"]}}",
     -EINVAL, "self.tags[0]: \"web\" is not a tag (\"tag:name\")"},
    {HEAD ",\"peers\":{}}", -EINVAL, "peers: expected an array, got an object"},
    {HEAD ",\"peers\":[{\"name\":\"p\",\"addresses\":[\"100.64.0.2\"]}]}", -EINVAL,
     "peers[0].endpoint: missing"},
    {HEAD ",\"peers\":[" PEER("p", "100.64.0.2", "10.0.0.2:x") "]}", -EINVAL,
     "peers[0].endpoint: \"10.0.0.2:x\" is not an underlay endpoint (\"ip:port\")"},
    {HEAD ",\"peers\":[" PEER("n", "100.64.0.2", "10.0.0.2") "]}", -EINVAL,
     "peers[0].name: \"n\" is this node's own name"},
    {HEAD ",\"peers\":[" PEER("p", "100.64.0.2", "10.0.0.2") "," PEER("p", "100.64.0.3",
                                                                      "10.0.0.3") "]}",
     -EINVAL, "peers[1].name: \"p\" already names peers[0]"},
    {HEAD ",\"peers\":[" PEER("p", "100.64.0.2", "10.0.0.2") "," PEER("q", "100.64.0.2",
                                                                      "10.0.0.3") "]}",
     -EINVAL, "peers[1].addresses[0]: 100.64.0.2 already belongs to peers[0]"},
    {HEAD ",\"peers\":[" PEER("p", "100.64.0.1", "10.0.0.2") "]}", -EINVAL,
     "peers[0].addresses[0]: 100.64.0.1 is this node's own address"},
    {HEAD ",\"peers\":[" PEER("p", "100.64.0.2", "10.0.0.2") "," PEER("q", "100.64.0.3",
                                                                      "10.0.0.2:41641") "]}",
     -EINVAL, "peers[1].endpoint: 10.0.0.2:41641 is also peers[0]'s endpoint"},
    {HEAD ",\"services\":[{\"name\":\"web\",\"addresses\":[\"100.100.0.1\"]}]}", -EINVAL,
     "services[0].name: \"web\" is not a service name (\"svc:name\")"},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"],"
          "\"ports\":[\"udp:53\"]}]}",
     -EINVAL, "services[0].ports[0]: \"udp:53\" is not a port (\"tcp:443\" or \"tcp:8000-8100\")"},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"],"
          "\"ports\":[\"tcp:90-80\"]}]}",
     -EINVAL,
     "services[0].ports[0]: \"tcp:90-80\" is not a port (\"tcp:443\" or \"tcp:8000-8100\")"},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"],"
          "\"hosts\":[\"ghost\"]}]}",
     -EINVAL, "services[0].hosts[0]: unknown peer \"ghost\""},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"],"
          "\"do_not_validate\":1}]}",
     -EINVAL, "services[0].do_not_validate: expected a boolean, got a number"},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"]},"
          "{\"name\":\"svc:v\",\"addresses\":[\"100.100.0.1\"]}]}",
     -EINVAL, "services[1].addresses[0]: 100.100.0.1 is already services[0]'s VIP"},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"]},"
          "{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.2\"]}]}",
     -EINVAL, "services[1].name: \"svc:w\" already names services[0]"},
    {HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.64.0.1\"]}]}", -EINVAL,
     "services[0].addresses[0]: 100.64.0.1 is a node's address, not a VIP"},
    {HEAD ",\"host_services\":[{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.1\"]},"
          "{\"name\":\"svc:w\",\"addresses\":[\"100.100.0.2\"]}]}",
     -EINVAL, "host_services[1].name: \"svc:w\" already names host_services[0]"},
    {HEAD ",\"filter\":[{\"dst\":[{\"net\":\"*\",\"ports\":\"*\"}]}]}", -EINVAL,
     "filter[0].src: missing"},
    {HEAD ",\"filter\":[{\"src\":[],\"dst\":[{\"net\":\"*\",\"ports\":\"*\"}]}]}", -EINVAL,
     "filter[0].src: empty"},
    {HEAD ",\"filter\":[{\"src\":[\"100.64.0.0/33\"],\"dst\":[{\"net\":\"*\",\"ports\":\"*\"}]}]}",
     -EINVAL, "filter[0].src[0]: expected \"*\", an address or a prefix, got \"100.64.0.0/33\""},
    {HEAD ",\"filter\":[{\"src\":[\"*\"],\"proto\":[\"sctp\"],\"dst\":[{\"net\":\"*\","
          "\"ports\":\"*\"}]}]}",
     -EINVAL, "filter[0].proto[0]: expected \"tcp\", \"udp\", \"icmp\" or a protocol number 1-255"},
    {HEAD ",\"filter\":[{\"src\":[\"*\"]}]}", -EINVAL, "filter[0].dst: missing"},
    {HEAD ",\"filter\":[{\"src\":[\"*\"],\"dst\":[{\"ports\":\"*\"}]}]}", -EINVAL,
     "filter[0].dst[0].net: missing"},
    {HEAD ",\"filter\":[{\"src\":[\"*\"],\"dst\":[{\"net\":\"*\"}]}]}", -EINVAL,
     "filter[0].dst[0].ports: missing"},
    {HEAD ",\"filter\":[{\"src\":[\"*\"],\"dst\":[{\"net\":\"*\",\"ports\":\"0\"}]}]}", -EINVAL,
     "filter[0].dst[0].ports: expected \"*\", \"N\" or \"N-M\" (1-65535)"},
    {HEAD ",\"dns\":[{\"name\":\"a b\",\"addresses\":[\"100.100.0.1\"]}]}", -EINVAL,
     "dns[0].name: \"a b\" is not a DNS name"},
    {HEAD ",\"dns\":[{\"name\":\"a.t\",\"addresses\":[\"100.100.0.1\"]},"
          "{\"name\":\"A.t.\",\"addresses\":[\"100.100.0.2\"]}]}",
     -EINVAL, "dns[1].name: \"a.t\" already names dns[0]"},
};

Test(netmap, every_error_class_gets_its_message_and_leaves_the_map_empty)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct netmap nm;
		char err[NETMAP_ERR_LEN];
		int rc = parse(bad_cases[i].doc, &nm, err);

		cr_expect_eq(rc, bad_cases[i].rc, "case %zu: rc %d (%s)", i, rc, err);
		cr_expect_str_eq(err, bad_cases[i].msg, "case %zu: got \"%s\"", i, err);
		cr_expect_eq(nm.n_peers, 0);
		cr_expect_null(nm.index);
		cr_expect_null(nm.peers);
	}
}

Test(netmap, limits_refuse_too_many_entries_with_e2big)
{
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	size_t cap = 64 + 8 * (NETMAP_MAX_HOSTS + 2);
	char *doc = malloc(cap);
	size_t o = 0;

	/* A service with one host more than allowed. */
	o += (size_t)snprintf(doc + o, cap - o,
	                      HEAD ",\"services\":[{\"name\":\"svc:w\",\"addresses\":"
	                           "[\"100.100.0.1\"],\"hosts\":[");
	for (int i = 0; i <= NETMAP_MAX_HOSTS; i++)
		o += (size_t)snprintf(doc + o, cap - o, "%s\"h\"", i ? "," : "");
	snprintf(doc + o, cap - o, "]}]}");
	cr_assert_eq(parse(doc, &nm, err), -E2BIG);
	cr_assert_str_eq(err, "services[0].hosts: 65 entries, at most 64 allowed");
	free(doc);

	const char *addrs9 = "{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"n\","
	                     "\"addresses\":[\"100.64.0.1\",\"100.64.0.2\",\"100.64.0.3\","
	                     "\"100.64.0.4\",\"100.64.0.5\",\"100.64.0.6\",\"100.64.0.7\","
	                     "\"100.64.0.8\",\"100.64.0.9\"]}}";
	cr_assert_eq(parse(addrs9, &nm, err), -E2BIG);
	cr_assert_str_eq(err, "self.addresses: 9 entries, at most 8 allowed");

	char name[NETMAP_MAX_NAME + 64];
	memset(name, 'a', sizeof(name));
	snprintf(name + NETMAP_MAX_NAME + 1, sizeof(name) - NETMAP_MAX_NAME - 1, "\"}");
	char big[NETMAP_MAX_NAME + 256];
	snprintf(big, sizeof(big),
	         "{\"version\":1,\"tailnet\":\"t\",\"self\":{\"addresses\":[\"100.64.0.1\"],"
	         "\"name\":\"%.*s\"}}",
	         NETMAP_MAX_NAME + 1, name);
	cr_assert_eq(parse(big, &nm, err), -E2BIG);
	cr_assert_str_eq(err, "self.name: longer than 253 bytes");

	cr_assert_eq(netmap_from_json("{}", NETMAP_MAX_JSON_BYTES + 1ull, &nm, err, sizeof(err)),
	             -E2BIG);
	cr_assert_str_eq(err, "netmap: 67108865 bytes, at most 67108864 allowed");
}

/* STR-6's re-pinning relies on names: the same peer keeps its name when
 * its index moves between maps. */
Test(netmap, a_large_map_of_peers_resolves_every_address_and_name)
{
	enum { N = 5000 };
	size_t cap = 128 + (size_t)N * 128;
	char *doc = malloc(cap);
	size_t o = 0;
	struct netmap nm;
	char err[NETMAP_ERR_LEN];

	o += (size_t)snprintf(doc + o, cap - o, HEAD ",\"peers\":[");
	for (int i = 0; i < N; i++)
		o += (size_t)snprintf(doc + o, cap - o,
		                      "%s{\"name\":\"p%d\",\"addresses\":[\"100.65.%d.%d\"],"
		                      "\"endpoint\":\"10.1.%d.%d:41641\"}",
		                      i ? "," : "", i, i / 256, i % 256, i / 256, i % 256);
	snprintf(doc + o, cap - o, "]}");
	cr_assert_eq(parse(doc, &nm, err), 0, "%s", err);
	for (int i = 0; i < N; i++) {
		char s[32];
		struct io_addr a;
		snprintf(s, sizeof(s), "100.65.%d.%d", i / 256, i % 256);
		a = ip(s);
		cr_assert_eq(netmap_peer_by_addr(&nm, &a), i);
		snprintf(s, sizeof(s), "p%d", i);
		cr_assert_eq(netmap_peer_by_name(&nm, s), i);
	}
	netmap_free(&nm);
	free(doc);
}

/* good_doc with node keys: self's, and each peer's (base64 as `wg` shows). */
#define KEY_A "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY_B "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define KEY_C "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="

static char *doc_with_keys(const char *self, const char *peer0, const char *peer1)
{
	cJSON *doc = cJSON_Parse(good_doc);
	cJSON *peers = cJSON_GetObjectItem(doc, "peers");
	char *text;

	cJSON_AddStringToObject(cJSON_GetObjectItem(doc, "self"), "key", self);
	cJSON_AddStringToObject(cJSON_GetArrayItem(peers, 0), "key", peer0);
	if (peer1)
		cJSON_AddStringToObject(cJSON_GetArrayItem(peers, 1), "key", peer1);
	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return text;
}

Test(netmap, sec1_node_keys_parse_print_back_and_find_their_peer)
{
	struct netmap nm, again;
	char err[NETMAP_ERR_LEN], *doc = doc_with_keys(KEY_A, KEY_B, KEY_C), *printed;
	uint8_t b[32], c[32];

	cr_assert_eq(parse(doc, &nm, err), 0, "%s", err);
	cr_assert(nm.self.has_key && nm.peers[0].has_key && nm.peers[1].has_key);
	memset(b, 2, sizeof(b));
	memset(c, 3, sizeof(c));
	cr_assert_eq(netmap_peer_by_key(&nm, b), 0);
	cr_assert_eq(netmap_peer_by_key(&nm, c), 1);
	cr_assert_eq(netmap_peer_by_key(&nm, nm.self.key), -1, "self is no peer");
	printed = netmap_to_json(&nm);
	cr_assert(strstr(printed, KEY_B) && strstr(printed, KEY_A), "%s", printed);
	cr_assert_eq(parse(printed, &again, err), 0, "%s", err);
	cr_assert(memcmp(again.peers[1].key, c, 32) == 0);
	netmap_free(&again);
	free(printed);
	netmap_free(&nm);
	free(doc);
}

Test(netmap, sec1_bad_repeated_or_own_node_keys_are_refused_with_their_place)
{
	static const struct {
		const char *self, *p0, *p1, *want;
	} bad[] = {
	    {KEY_A, "AQEB", NULL, "peers[0].key: \"AQEB\" is not a node key"},
	    {KEY_A, KEY_B, KEY_B, "peers[1].key: also peers[0]'s key"},
	    {KEY_A, KEY_A, NULL, "peers[0].key: this node's own key"},
	    {"not base64 at all, but 44 characters long!!", KEY_B, NULL, "self.key"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netmap nm;
		char err[NETMAP_ERR_LEN] = "",
		     *doc = doc_with_keys(bad[i].self, bad[i].p0, bad[i].p1);
		cr_assert_neq(parse(doc, &nm, err), 0, "case %zu parsed", i);
		cr_assert(strstr(err, bad[i].want), "case %zu: want '%s' in '%s'", i, bad[i].want,
		          err);
		free(doc);
	}
}
