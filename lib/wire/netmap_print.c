/* The netmap document out (see netmap.h): the form netmap_from_json reads,
 * compact, members in a fixed order. */
#include "lib/wire/netmap_int.h"
#include "lib/wire/wg.h"

#include <cjson/cJSON.h>
#include <stdio.h>

static cJSON *nm_addrs_json(const struct io_addr *addrs, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char s[IO_ADDR_STRLEN];

	for (size_t i = 0; arr && i < n; i++)
		cJSON_AddItemToArray(
		    arr, cJSON_CreateString(io_addr_format(&addrs[i], false, s, sizeof(s))));
	return arr;
}

static cJSON *nm_node_json(const struct netmap_node *node, bool is_peer)
{
	cJSON *o = cJSON_CreateObject(), *tags;
	char s[IO_ADDR_STRLEN];

	cJSON_AddStringToObject(o, "name", node->name);
	cJSON_AddItemToObject(o, "addresses", nm_addrs_json(node->addrs, node->n_addrs));
	if (is_peer)
		cJSON_AddStringToObject(o, "endpoint",
		                        io_addr_format(&node->endpoint, true, s, sizeof(s)));
	cJSON_AddStringToObject(o, "user", node->user ? node->user : "");
	cJSON_AddStringToObject(o, "display_name", node->display_name ? node->display_name : "");
	tags = cJSON_AddArrayToObject(o, "tags");
	for (size_t i = 0; tags && i < node->n_tags; i++)
		cJSON_AddItemToArray(tags, cJSON_CreateString(node->tags[i]));
	if (node->has_key) {
		char key[WG_KEY_BASE64_LEN + 1];
		wg_key_to_base64(key, node->key);
		cJSON_AddStringToObject(o, "key", key);
	}
	return o;
}

static const char *nm_prefix_format(const struct netmap_prefix *pfx, char *buf, size_t len)
{
	char s[IO_ADDR_STRLEN];

	if (pfx->addr.family == IO_AF_NONE)
		snprintf(buf, len, "*");
	else
		snprintf(buf, len, "%s/%u", io_addr_format(&pfx->addr, false, s, sizeof(s)),
		         pfx->bits);
	return buf;
}

static const char *nm_range_format(uint16_t first, uint16_t last, bool star, char *buf, size_t len)
{
	if (star && first == 0 && last == 65535)
		snprintf(buf, len, "*");
	else if (first == last)
		snprintf(buf, len, "%u", first);
	else
		snprintf(buf, len, "%u-%u", first, last);
	return buf;
}

/* services (hosted false: name, addresses, ports, hosts) or host_services
 * (name and addresses). */
static cJSON *nm_services_json(const struct netmap *nm, bool hosted)
{
	size_t n = hosted ? nm->n_host_services : nm->n_services;
	const struct netmap_service *list = hosted ? nm->host_services : nm->services;
	cJSON *arr = cJSON_CreateArray();
	char buf[96], pb[80];

	for (size_t i = 0; arr && i < n; i++) {
		const struct netmap_service *svc = &list[i];
		cJSON *o = cJSON_CreateObject(), *a;
		cJSON_AddStringToObject(o, "name", svc->name);
		cJSON_AddItemToObject(o, "addresses", nm_addrs_json(svc->addrs, svc->n_addrs));
		if (!hosted) {
			a = cJSON_AddArrayToObject(o, "ports");
			for (size_t j = 0; j < svc->n_ports; j++) {
				snprintf(buf, sizeof(buf), "tcp:%s",
				         nm_range_format(svc->ports[j].first, svc->ports[j].last,
				                         false, pb, sizeof(pb)));
				cJSON_AddItemToArray(a, cJSON_CreateString(buf));
			}
			if (svc->do_not_validate)
				cJSON_AddTrueToObject(o, "do_not_validate");
			a = cJSON_AddArrayToObject(o, "hosts");
			for (size_t j = 0; j < svc->n_hosts; j++)
				cJSON_AddItemToArray(
				    a, cJSON_CreateString(nm->peers[svc->hosts[j]].name));
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *nm_rule_json(const struct netmap_filter_rule *r)
{
	cJSON *o = cJSON_CreateObject(), *a;
	char buf[96], pb[80];

	a = cJSON_AddArrayToObject(o, "src");
	for (size_t j = 0; j < r->n_src; j++)
		cJSON_AddItemToArray(
		    a, cJSON_CreateString(nm_prefix_format(&r->src[j], buf, sizeof(buf))));
	a = cJSON_AddArrayToObject(o, "proto");
	for (size_t j = 0; j < r->n_proto; j++) {
		if (r->proto[j] == NETMAP_PROTO_TCP)
			cJSON_AddItemToArray(a, cJSON_CreateString("tcp"));
		else if (r->proto[j] == NETMAP_PROTO_UDP)
			cJSON_AddItemToArray(a, cJSON_CreateString("udp"));
		else if (r->proto[j] == NETMAP_PROTO_ICMP)
			cJSON_AddItemToArray(a, cJSON_CreateString("icmp"));
		else
			cJSON_AddItemToArray(a, cJSON_CreateNumber(r->proto[j]));
	}
	a = cJSON_AddArrayToObject(o, "dst");
	for (size_t j = 0; j < r->n_dst; j++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "net",
		                        nm_prefix_format(&r->dst[j].net, buf, sizeof(buf)));
		cJSON_AddStringToObject(d, "ports",
		                        nm_range_format(r->dst[j].port_first, r->dst[j].port_last,
		                                        true, pb, sizeof(pb)));
		cJSON_AddItemToArray(a, d);
	}
	return o;
}

char *netmap_to_json(const struct netmap *nm)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *out;

	if (!root)
		return NULL;
	cJSON_AddNumberToObject(root, "version", (double)nm->version);
	cJSON_AddStringToObject(root, "tailnet", nm->tailnet ? nm->tailnet : "");
	cJSON_AddItemToObject(root, "self", nm_node_json(&nm->self, false));
	arr = cJSON_AddArrayToObject(root, "peers");
	for (size_t i = 0; i < nm->n_peers; i++)
		cJSON_AddItemToArray(arr, nm_node_json(&nm->peers[i], true));
	cJSON_AddItemToObject(root, "services", nm_services_json(nm, false));
	cJSON_AddItemToObject(root, "host_services", nm_services_json(nm, true));
	arr = cJSON_AddArrayToObject(root, "filter");
	for (size_t i = 0; i < nm->n_rules; i++)
		cJSON_AddItemToArray(arr, nm_rule_json(&nm->rules[i]));
	arr = cJSON_AddArrayToObject(root, "dns");
	for (size_t i = 0; i < nm->n_dns; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", nm->dns[i].name);
		cJSON_AddItemToObject(o, "addresses",
		                      nm_addrs_json(nm->dns[i].addrs, nm->dns[i].n_addrs));
		cJSON_AddItemToArray(arr, o);
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}
