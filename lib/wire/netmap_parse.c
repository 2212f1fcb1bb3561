/* The netmap document in (see netmap.h for its shape and rules): every
 * member checked against its type and limit, every error naming its place
 * (`peers[3].endpoint: ...`), one step per top-level member, then the
 * lookup index built and checked for clashes (netmap.c). */
#include "lib/wire/netmap_int.h"
#include "lib/wire/wg.h"

#include "lib/base/check.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest piece of document text quoted into an error message. */
#define NM_QUOTE_MAX 64
/* Largest integer a JSON number carries exactly. */
#define NM_MAX_SAFE_INT 9007199254740991.0

/* ---- members and values ------------------------------------------------- */

/* Quotes document text for a message: printable ASCII kept, the rest as
 * \xNN, cut at NM_QUOTE_MAX. */
static const char *nm_quote(char *buf, size_t buf_len, const char *s)
{
	size_t o = 0;

	CHECK(buf_len >= 16);
	buf[o++] = '"';
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= NM_QUOTE_MAX || o + 8 >= buf_len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, buf_len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *nm_type_name(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsArray(item))
		return "an array";
	return "an object";
}

/* A member of `obj`; case-sensitive, first occurrence. */
static const cJSON *nm_member(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Reads a string member into a malloc'd copy (*out). With !required a
 * missing member gives "". Rejects non-strings, over-long and (when
 * !allow_empty) empty strings, and control characters. */
static int nm_get_string(struct nm_parse *p, const cJSON *obj, const char *key, const char *path,
                         bool required, bool allow_empty, char **out)
{
	const cJSON *item = nm_member(obj, key);
	const char *s = "";

	*out = NULL;
	if (!item) {
		if (required)
			return nm_fail(p, -EINVAL, "%s.%s: missing", path, key);
	} else {
		if (!cJSON_IsString(item))
			return nm_fail(p, -EINVAL, "%s.%s: expected a string, got %s", path, key,
			               nm_type_name(item));
		s = item->valuestring;
	}
	size_t n = strlen(s);
	if (n == 0 && !allow_empty && item)
		return nm_fail(p, -EINVAL, "%s.%s: empty", path, key);
	if (n > NETMAP_MAX_NAME)
		return nm_fail(p, -E2BIG, "%s.%s: longer than %d bytes", path, key,
		               NETMAP_MAX_NAME);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return nm_fail(p, -EINVAL, "%s.%s: control character in the text", path,
			               key);
	*out = strdup(s);
	return *out ? 0 : nm_fail(p, -ENOMEM, "out of memory");
}

/* An optional array member: *arr NULL when absent. Enforces `max`. */
static int nm_get_array(struct nm_parse *p, const cJSON *obj, const char *key, const char *path,
                        bool required, size_t max, const cJSON **arr, size_t *n)
{
	const cJSON *item = nm_member(obj, key);

	*arr = NULL;
	*n = 0;
	if (!item) {
		if (required)
			return nm_fail(p, -EINVAL, "%s%s%s: missing", path, *path ? "." : "", key);
		return 0;
	}
	if (!cJSON_IsArray(item))
		return nm_fail(p, -EINVAL, "%s%s%s: expected an array, got %s", path,
		               *path ? "." : "", key, nm_type_name(item));
	size_t count = (size_t)cJSON_GetArraySize(item);
	if (count > max)
		return nm_fail(p, -E2BIG, "%s%s%s: %zu entries, at most %zu allowed", path,
		               *path ? "." : "", key, count, max);
	*arr = item;
	*n = count;
	return 0;
}

static int nm_want_object(struct nm_parse *p, const cJSON *obj, const char *path)
{
	if (!cJSON_IsObject(obj))
		return nm_fail(p, -EINVAL, "%s: expected an object, got %s", path,
		               nm_type_name(obj));
	return 0;
}

/* Parses a bare IP address (no port, no brackets). */
static bool nm_parse_ip(const char *s, struct io_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->ip) == 1) {
		out->family = IO_AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out->ip) == 1) {
		out->family = IO_AF_INET6;
		return true;
	}
	return false;
}

/* True for 100.64.0.0/10 and fd7a:115c:a1e0::/48, the prefixes the TUN
 * device carries: an address outside them could never reach the device. */
static bool nm_in_tailnet(const struct io_addr *a)
{
	static const uint8_t v6[6] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};

	if (a->family == IO_AF_INET)
		return a->ip[0] == 100 && (a->ip[1] & 0xc0) == 64;
	return memcmp(a->ip, v6, sizeof(v6)) == 0;
}

/* "addresses": 1..NETMAP_MAX_ADDRS distinct tailnet addresses. */
static int nm_parse_addrs(struct nm_parse *p, const cJSON *obj, const char *path,
                          struct io_addr *addrs, size_t *n_addrs)
{
	const cJSON *arr, *item;
	char q[NM_QUOTE_MAX * 4 + 16];
	size_t n, i = 0;
	int rc = nm_get_array(p, obj, "addresses", path, true, NETMAP_MAX_ADDRS, &arr, &n);

	if (rc)
		return rc;
	if (n == 0)
		return nm_fail(p, -EINVAL, "%s.addresses: empty", path);
	cJSON_ArrayForEach(item, arr)
	{
		if (!cJSON_IsString(item))
			return nm_fail(p, -EINVAL, "%s.addresses[%zu]: expected a string, got %s",
			               path, i, nm_type_name(item));
		if (!nm_parse_ip(item->valuestring, &addrs[i]))
			return nm_fail(p, -EINVAL, "%s.addresses[%zu]: %s is not an IP address",
			               path, i, nm_quote(q, sizeof(q), item->valuestring));
		if (!nm_in_tailnet(&addrs[i]))
			return nm_fail(p, -EINVAL,
			               "%s.addresses[%zu]: %s is outside the tailnet "
			               "(100.64.0.0/10, fd7a:115c:a1e0::/48)",
			               path, i, item->valuestring);
		for (size_t j = 0; j < i; j++)
			if (io_addr_equal(&addrs[j], &addrs[i], false))
				return nm_fail(p, -EINVAL, "%s.addresses[%zu]: %s listed twice",
				               path, i, item->valuestring);
		i++;
	}
	*n_addrs = n;
	return 0;
}

/* A node's endpoint, "ip:port" (required for a peer). */
static int nm_parse_endpoint(struct nm_parse *p, const cJSON *obj, const char *path, bool is_peer,
                             struct io_addr *endpoint)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *item = nm_member(obj, "endpoint");

	if (is_peer && !item)
		return nm_fail(p, -EINVAL, "%s.endpoint: missing", path);
	if (!item)
		return 0;
	if (!cJSON_IsString(item))
		return nm_fail(p, -EINVAL, "%s.endpoint: expected a string, got %s", path,
		               nm_type_name(item));
	if (io_addr_parse(endpoint, item->valuestring, NETMAP_DEFAULT_PORT) != 0 ||
	    endpoint->port == 0)
		return nm_fail(p, -EINVAL,
		               "%s.endpoint: %s is not an underlay endpoint (\"ip:port\")", path,
		               nm_quote(q, sizeof(q), item->valuestring));
	return 0;
}

/* A node's tags, each "tag:name". */
static int nm_parse_tags(struct nm_parse *p, const cJSON *obj, const char *path,
                         struct netmap_node *node)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *arr, *item;
	size_t n, i = 0;
	int rc;

	if ((rc = nm_get_array(p, obj, "tags", path, false, NETMAP_MAX_TAGS, &arr, &n)))
		return rc;
	node->tags = calloc(n ? n : 1, sizeof(char *));
	if (!node->tags)
		return nm_fail(p, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(item, arr)
	{
		if (!cJSON_IsString(item))
			return nm_fail(p, -EINVAL, "%s.tags[%zu]: expected a string, got %s", path,
			               i, nm_type_name(item));
		const char *t = item->valuestring;
		if (strncmp(t, "tag:", 4) != 0 || t[4] == '\0' || strlen(t) > NETMAP_MAX_NAME)
			return nm_fail(p, -EINVAL, "%s.tags[%zu]: %s is not a tag (\"tag:name\")",
			               path, i, nm_quote(q, sizeof(q), t));
		node->tags[i] = strdup(t);
		if (!node->tags[i])
			return nm_fail(p, -ENOMEM, "out of memory");
		node->n_tags = ++i;
	}
	return 0;
}

/* A node's key: 44 characters of base64 for 32 bytes, when present. */
static int nm_parse_key(struct nm_parse *p, const cJSON *obj, const char *path,
                        struct netmap_node *node)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *item = nm_member(obj, "key");

	if (!item)
		return 0;
	if (!cJSON_IsString(item) || !wg_key_from_base64(node->key, item->valuestring))
		return nm_fail(p, -EINVAL, "%s.key: %s is not a node key (44 characters of base64)",
		               path,
		               cJSON_IsString(item) ? nm_quote(q, sizeof(q), item->valuestring)
		                                    : nm_type_name(item));
	node->has_key = true;
	return 0;
}

/* This node (self) or a peer. */
static int nm_parse_node(struct nm_parse *p, const cJSON *obj, const char *path, bool is_peer,
                         struct netmap_node *node)
{
	int rc;

	if ((rc = nm_want_object(p, obj, path)) ||
	    (rc = nm_get_string(p, obj, "name", path, true, false, &node->name)) ||
	    (rc = nm_parse_addrs(p, obj, path, node->addrs, &node->n_addrs)) ||
	    (rc = nm_get_string(p, obj, "user", path, false, true, &node->user)) ||
	    (rc = nm_get_string(p, obj, "display_name", path, false, true, &node->display_name)) ||
	    (rc = nm_parse_endpoint(p, obj, path, is_peer, &node->endpoint)) ||
	    (rc = nm_parse_tags(p, obj, path, node)) || (rc = nm_parse_key(p, obj, path, node)))
		return rc;
	return 0;
}

/* Parses "N" or "N-M" (1..65535, N <= M); `allow_star` takes "*" as 0-65535. */
static bool nm_parse_port_range(const char *s, bool allow_star, uint16_t *first, uint16_t *last)
{
	unsigned long a, b;
	char *end;

	if (allow_star && strcmp(s, "*") == 0) {
		*first = 0;
		*last = 65535;
		return true;
	}
	if (*s < '0' || *s > '9')
		return false;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		const char *t = end + 1;
		if (*t < '0' || *t > '9')
			return false;
		b = strtoul(t, &end, 10);
	}
	if (*end != '\0' || a == 0 || a > 65535 || b > 65535 || b < a)
		return false;
	*first = (uint16_t)a;
	*last = (uint16_t)b;
	return true;
}

/* A service's ports, each "tcp:N" or "tcp:N-M". */
static int nm_parse_service_ports(struct nm_parse *p, const cJSON *obj, const char *path,
                                  struct netmap_service *svc)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *arr, *item;
	size_t n, i = 0;
	int rc;

	if ((rc = nm_get_array(p, obj, "ports", path, false, NETMAP_MAX_RULE_ENTRIES, &arr, &n)))
		return rc;
	svc->ports = calloc(n ? n : 1, sizeof(*svc->ports));
	if (!svc->ports)
		return nm_fail(p, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(item, arr)
	{
		if (!cJSON_IsString(item))
			return nm_fail(p, -EINVAL, "%s.ports[%zu]: expected a string, got %s", path,
			               i, nm_type_name(item));
		const char *s = item->valuestring;
		if (strncmp(s, "tcp:", 4) != 0 ||
		    !nm_parse_port_range(s + 4, false, &svc->ports[i].first, &svc->ports[i].last))
			return nm_fail(p, -EINVAL,
			               "%s.ports[%zu]: %s is not a port (\"tcp:443\" or "
			               "\"tcp:8000-8100\")",
			               path, i, nm_quote(q, sizeof(q), s));
		svc->n_ports = ++i;
	}
	return 0;
}

/* A service's hosts, best first: peer names, each once (this node's own
 * name is skipped). */
static int nm_parse_service_hosts(struct nm_parse *p, const cJSON *obj, const char *path,
                                  const struct netmap *nm, struct netmap_service *svc)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *arr, *item;
	size_t n, i = 0;
	int rc;

	if ((rc = nm_get_array(p, obj, "hosts", path, false, NETMAP_MAX_HOSTS, &arr, &n)))
		return rc;
	svc->hosts = calloc(n ? n : 1, sizeof(int));
	if (!svc->hosts)
		return nm_fail(p, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(item, arr)
	{
		if (!cJSON_IsString(item))
			return nm_fail(p, -EINVAL, "%s.hosts[%zu]: expected a string, got %s", path,
			               i, nm_type_name(item));
		/* This node reaches a VIP it hosts locally: the address is on its
		 * own device, so the packets never reach the data plane. */
		if (strcmp(item->valuestring, nm->self.name) == 0) {
			i++;
			continue;
		}
		int peer = netmap_peer_by_name(nm, item->valuestring);
		if (peer < 0)
			return nm_fail(p, -EINVAL, "%s.hosts[%zu]: unknown peer %s", path, i,
			               nm_quote(q, sizeof(q), item->valuestring));
		for (size_t j = 0; j < svc->n_hosts; j++)
			if (svc->hosts[j] == peer)
				return nm_fail(p, -EINVAL, "%s.hosts[%zu]: %s listed twice", path,
				               i, nm_quote(q, sizeof(q), item->valuestring));
		svc->hosts[svc->n_hosts++] = peer;
		i++;
	}
	return 0;
}

/* A service (or, `hosted`, a host service: name and addresses only). */
static int nm_parse_service(struct nm_parse *p, const cJSON *obj, const char *path, bool hosted,
                            const struct netmap *nm, struct netmap_service *svc)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *item;
	int rc;

	if ((rc = nm_want_object(p, obj, path)))
		return rc;
	if ((rc = nm_get_string(p, obj, "name", path, true, false, &svc->name)))
		return rc;
	if (strncmp(svc->name, "svc:", 4) != 0 || svc->name[4] == '\0')
		return nm_fail(p, -EINVAL, "%s.name: %s is not a service name (\"svc:name\")", path,
		               nm_quote(q, sizeof(q), svc->name));
	if ((rc = nm_parse_addrs(p, obj, path, svc->addrs, &svc->n_addrs)))
		return rc;
	if (hosted)
		return 0;
	item = nm_member(obj, "do_not_validate");
	if (item && !cJSON_IsBool(item))
		return nm_fail(p, -EINVAL, "%s.do_not_validate: expected a boolean, got %s", path,
		               nm_type_name(item));
	svc->do_not_validate = item && cJSON_IsTrue(item);
	if ((rc = nm_parse_service_ports(p, obj, path, svc)) ||
	    (rc = nm_parse_service_hosts(p, obj, path, nm, svc)))
		return rc;
	return 0;
}

/* "*", a bare address (a host prefix) or "addr/bits". */
static bool nm_parse_prefix(const char *s, struct netmap_prefix *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long bits;
	char *end;

	memset(out, 0, sizeof(*out));
	if (strcmp(s, "*") == 0)
		return true;
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!nm_parse_ip(buf, &out->addr))
		return false;
	unsigned max = out->addr.family == IO_AF_INET ? 32 : 128;
	if (!slash) {
		out->bits = (uint8_t)max;
		return true;
	}
	if (slash[1] < '0' || slash[1] > '9')
		return false;
	bits = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || bits > max)
		return false;
	out->bits = (uint8_t)bits;
	/* Keep the network part only, so matching can compare whole bytes. */
	for (unsigned b = (unsigned)bits; b < max; b++)
		out->addr.ip[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	return true;
}

/* ---- filter rules ------------------------------------------------------ */

/* One entry of a rule's src: "*", an address or a prefix. `where` names
 * it in messages ("filter[0].src[1]"). */
static int nm_rule_src_entry(struct nm_parse *p, const cJSON *item, const char *where, void *out)
{
	char q[NM_QUOTE_MAX * 4 + 16];

	if (!cJSON_IsString(item) || !nm_parse_prefix(item->valuestring, out))
		return nm_fail(p, -EINVAL, "%s: expected \"*\", an address or a prefix, got %s",
		               where,
		               cJSON_IsString(item) ? nm_quote(q, sizeof(q), item->valuestring)
		                                    : nm_type_name(item));
	return 0;
}

/* One entry of a rule's proto: a name or a number 1-255. */
static int nm_rule_proto_entry(struct nm_parse *p, const cJSON *item, const char *where, void *out)
{
	uint8_t *proto = out;

	if (cJSON_IsString(item) && strcmp(item->valuestring, "tcp") == 0)
		*proto = NETMAP_PROTO_TCP;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "udp") == 0)
		*proto = NETMAP_PROTO_UDP;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "icmp") == 0)
		*proto = NETMAP_PROTO_ICMP;
	else if (cJSON_IsNumber(item) && item->valuedouble >= 1 && item->valuedouble <= 255 &&
	         item->valuedouble == floor(item->valuedouble))
		*proto = (uint8_t)item->valuedouble;
	else
		return nm_fail(p, -EINVAL,
		               "%s: expected \"tcp\", \"udp\", \"icmp\" or a protocol number 1-255",
		               where);
	return 0;
}

/* One entry of a rule's dst: a {net, ports} object. */
static int nm_rule_dst_entry(struct nm_parse *p, const cJSON *item, const char *where, void *out)
{
	struct netmap_filter_dst *d = out;
	int rc = nm_want_object(p, item, where);

	if (rc)
		return rc;
	const cJSON *net = nm_member(item, "net"), *ports = nm_member(item, "ports");
	if (!net)
		return nm_fail(p, -EINVAL, "%s.net: missing", where);
	if (!cJSON_IsString(net) || !nm_parse_prefix(net->valuestring, &d->net))
		return nm_fail(p, -EINVAL, "%s.net: expected \"*\", an address or a prefix", where);
	if (!ports)
		return nm_fail(p, -EINVAL, "%s.ports: missing", where);
	if (!cJSON_IsString(ports) ||
	    !nm_parse_port_range(ports->valuestring, true, &d->port_first, &d->port_last))
		return nm_fail(p, -EINVAL, "%s.ports: expected \"*\", \"N\" or \"N-M\" (1-65535)",
		               where);
	return 0;
}

/* A rule's three arrays: src ("*", addresses or prefixes, at least one),
 * proto (absent or empty means any) and dst (at least one). */
enum nm_rule_part {
	NM_RULE_SRC = 0,
	NM_RULE_PROTO,
	NM_RULE_DST,
};

static const struct {
	const char *key;
	bool required;
	size_t max;
	int (*entry)(struct nm_parse *p, const cJSON *item, const char *where, void *out);
} nm_rule_parts[] = {
    [NM_RULE_SRC] = {"src", true, NETMAP_MAX_RULE_ENTRIES, nm_rule_src_entry},
    [NM_RULE_PROTO] = {"proto", false, 8, nm_rule_proto_entry},
    [NM_RULE_DST] = {"dst", true, NETMAP_MAX_RULE_ENTRIES, nm_rule_dst_entry},
};

/* Makes room for n entries of `part` in r: its array in *items, its entry
 * size in *size; returns its count, kept at the entries parsed so far.
 * Returns NULL without memory. */
static size_t *nm_rule_part_alloc(struct netmap_filter_rule *r, enum nm_rule_part part, size_t n,
                                  char **items, size_t *size)
{
	size_t k = n ? n : 1;

	switch (part) {
	case NM_RULE_SRC:
		*size = sizeof(*r->src);
		*items = (char *)(r->src = calloc(k, *size));
		return r->src ? &r->n_src : NULL;
	case NM_RULE_PROTO:
		*size = sizeof(*r->proto);
		*items = (char *)(r->proto = calloc(k, *size));
		return r->proto ? &r->n_proto : NULL;
	case NM_RULE_DST:
		*size = sizeof(*r->dst);
		*items = (char *)(r->dst = calloc(k, *size));
		return r->dst ? &r->n_dst : NULL;
	}
	return NULL;
}

static int nm_parse_rule_part(struct nm_parse *p, const cJSON *obj, const char *path,
                              enum nm_rule_part part, struct netmap_filter_rule *r)
{
	const char *key = nm_rule_parts[part].key;
	const cJSON *arr, *item;
	char where[NM_PATH_MAX + 32], *items;
	size_t n, i = 0, size, *count;
	int rc;

	if ((rc = nm_get_array(p, obj, key, path, nm_rule_parts[part].required,
	                       nm_rule_parts[part].max, &arr, &n)))
		return rc;
	if (nm_rule_parts[part].required && n == 0)
		return nm_fail(p, -EINVAL, "%s.%s: empty", path, key);
	count = nm_rule_part_alloc(r, part, n, &items, &size);
	if (!count)
		return nm_fail(p, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(item, arr)
	{
		snprintf(where, sizeof(where), "%s.%s[%zu]", path, key, i);
		if ((rc = nm_rule_parts[part].entry(p, item, where, items + i * size)))
			return rc;
		*count = ++i;
	}
	return 0;
}

static int nm_parse_rule(struct nm_parse *p, const cJSON *obj, const char *path,
                         struct netmap_filter_rule *r)
{
	int rc;

	if ((rc = nm_want_object(p, obj, path)))
		return rc;
	if ((rc = nm_parse_rule_part(p, obj, path, NM_RULE_SRC, r)) ||
	    (rc = nm_parse_rule_part(p, obj, path, NM_RULE_PROTO, r)) ||
	    (rc = nm_parse_rule_part(p, obj, path, NM_RULE_DST, r)))
		return rc;
	return 0;
}

/* Lower-cases a DNS name in place and drops one trailing dot; rejects
 * what cannot be a name (empty labels, bytes outside [a-z0-9-_.]). */
static bool nm_normalise_dns(char *name)
{
	size_t n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || name[0] == '.' || name[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)name[i]);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
		if (c == '.' && name[i + 1] == '.')
			return false;
	}
	/* Valid: only now change the text, so messages quote what was sent. */
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	name[n] = '\0';
	return true;
}

/* version (a whole number a JSON number carries exactly) and tailnet (a
 * DNS name, stored lower-case). */
static int nm_parse_header(struct nm_parse *p, const cJSON *root, struct netmap *nm)
{
	const cJSON *item = nm_member(root, "version");
	int rc;

	if (!item)
		return nm_fail(p, -EINVAL, "version: missing");
	if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > NM_MAX_SAFE_INT ||
	    item->valuedouble != floor(item->valuedouble))
		return nm_fail(p, -EINVAL, "version: expected a whole number >= 0");
	nm->version = (uint64_t)item->valuedouble;

	if ((rc = nm_get_string(p, root, "tailnet", "netmap", true, false, &nm->tailnet)))
		return rc;
	if (!nm_normalise_dns(nm->tailnet))
		return nm_fail(p, -EINVAL, "netmap.tailnet: \"%s\" is not a DNS name", nm->tailnet);
	return 0;
}

static int nm_parse_self(struct nm_parse *p, const cJSON *root, struct netmap *nm)
{
	const cJSON *item = nm_member(root, "self");

	if (!item)
		return nm_fail(p, -EINVAL, "self: missing");
	return nm_parse_node(p, item, "self", false, &nm->self);
}

/* Peers are known: index them first, so `hosts` can name them. The
 * service tables are built (again) once services are parsed. */
static int nm_index_peers(struct nm_parse *p, struct netmap *nm)
{
	struct netmap tmp = *nm;
	int rc;

	tmp.n_services = tmp.n_host_services = tmp.n_dns = 0;
	rc = nm_build_index(p, &tmp);
	nm->index = tmp.index;
	return rc;
}

/* services (hosted false) or host_services (true). */
static int nm_parse_dns_record(struct nm_parse *p, const cJSON *item, const char *path,
                               struct netmap_dns_record *d)
{
	int rc;

	if ((rc = nm_want_object(p, item, path)))
		return rc;
	if ((rc = nm_get_string(p, item, "name", path, true, false, &d->name)))
		return rc;
	if (!nm_normalise_dns(d->name))
		return nm_fail(p, -EINVAL, "%s.name: \"%s\" is not a DNS name", path, d->name);
	return nm_parse_addrs(p, item, path, d->addrs, &d->n_addrs);
}

/* ---- the document's arrays --------------------------------------------- */

/* The arrays of a netmap document, each parsed entry by entry. */
enum nm_list {
	NM_LIST_PEERS = 0,
	NM_LIST_SERVICES,
	NM_LIST_HOST_SERVICES,
	NM_LIST_FILTER,
	NM_LIST_DNS,
};

static const struct {
	const char *key;
	size_t max;
} nm_lists[] = {
    [NM_LIST_PEERS] = {"peers", NETMAP_MAX_PEERS},
    [NM_LIST_SERVICES] = {"services", NETMAP_MAX_SERVICES},
    [NM_LIST_HOST_SERVICES] = {"host_services", NETMAP_MAX_SERVICES},
    [NM_LIST_FILTER] = {"filter", NETMAP_MAX_FILTER_RULES},
    [NM_LIST_DNS] = {"dns", NETMAP_MAX_SERVICES},
};

/* Allocates list l for n entries. Returns its count, which the caller
 * keeps at the entries begun so far (so freeing a netmap whose parse
 * failed frees what was made), or NULL without memory. */
static size_t *nm_list_alloc(struct netmap *nm, enum nm_list l, size_t n)
{
	size_t k = n ? n : 1;

	switch (l) {
	case NM_LIST_PEERS:
		return (nm->peers = calloc(k, sizeof(*nm->peers))) ? &nm->n_peers : NULL;
	case NM_LIST_SERVICES:
		return (nm->services = calloc(k, sizeof(*nm->services))) ? &nm->n_services : NULL;
	case NM_LIST_HOST_SERVICES:
		return (nm->host_services = calloc(k, sizeof(*nm->host_services)))
		           ? &nm->n_host_services
		           : NULL;
	case NM_LIST_FILTER:
		return (nm->rules = calloc(k, sizeof(*nm->rules))) ? &nm->n_rules : NULL;
	case NM_LIST_DNS:
		return (nm->dns = calloc(k, sizeof(*nm->dns))) ? &nm->n_dns : NULL;
	}
	return NULL;
}

/* Parses entry i of list l. */
static int nm_list_entry(struct nm_parse *p, enum nm_list l, const cJSON *item, const char *path,
                         struct netmap *nm, size_t i)
{
	switch (l) {
	case NM_LIST_PEERS:
		return nm_parse_node(p, item, path, true, &nm->peers[i]);
	case NM_LIST_SERVICES:
		return nm_parse_service(p, item, path, false, nm, &nm->services[i]);
	case NM_LIST_HOST_SERVICES:
		return nm_parse_service(p, item, path, true, nm, &nm->host_services[i]);
	case NM_LIST_FILTER:
		return nm_parse_rule(p, item, path, &nm->rules[i]);
	case NM_LIST_DNS:
		return nm_parse_dns_record(p, item, path, &nm->dns[i]);
	}
	return -EINVAL;
}

/* Parses the (optional) array of list l, entry by entry. */
static int nm_parse_list(struct nm_parse *p, const cJSON *root, enum nm_list l, struct netmap *nm)
{
	const cJSON *arr, *item;
	char path[NM_PATH_MAX];
	size_t n, i = 0, *count;
	int rc;

	if ((rc = nm_get_array(p, root, nm_lists[l].key, "", false, nm_lists[l].max, &arr, &n)))
		return rc;
	count = nm_list_alloc(nm, l, n);
	if (!count)
		return nm_fail(p, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(item, arr)
	{
		snprintf(path, sizeof(path), "%s[%zu]", nm_lists[l].key, i);
		*count = i + 1;
		if ((rc = nm_list_entry(p, l, item, path, nm, i)))
			return rc;
		i++;
	}
	return 0;
}

/* The whole document, member by member in the order of netmap.h (peers
 * before services: `hosts` name peers), then the index over all of it. */
static int nm_parse_doc(struct nm_parse *p, const cJSON *root, struct netmap *nm)
{
	int rc;

	if (!cJSON_IsObject(root))
		return nm_fail(p, -EINVAL, "netmap: expected an object, got %s",
		               nm_type_name(root));
	if ((rc = nm_parse_header(p, root, nm)) || (rc = nm_parse_self(p, root, nm)) ||
	    (rc = nm_parse_list(p, root, NM_LIST_PEERS, nm)) || (rc = nm_index_peers(p, nm)) ||
	    (rc = nm_parse_list(p, root, NM_LIST_SERVICES, nm)) ||
	    (rc = nm_parse_list(p, root, NM_LIST_HOST_SERVICES, nm)) ||
	    (rc = nm_parse_list(p, root, NM_LIST_FILTER, nm)) ||
	    (rc = nm_parse_list(p, root, NM_LIST_DNS, nm)))
		return rc;
	nm_index_free(nm->index);
	nm->index = NULL;
	return nm_build_index(p, nm);
}

int netmap_from_json(const char *text, size_t len, struct netmap *out, char *err, size_t err_len)
{
	struct nm_parse p = {.err = err, .err_len = err_len};
	cJSON *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && err_len)
		err[0] = '\0';
	if (len > NETMAP_MAX_JSON_BYTES)
		return nm_fail(&p, -E2BIG, "netmap: %zu bytes, at most %u allowed", len,
		               NETMAP_MAX_JSON_BYTES);
	root = cJSON_ParseWithLength(text, len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : len;
		return nm_fail(&p, -EINVAL, "netmap: invalid JSON near byte %zu", off);
	}
	rc = nm_parse_doc(&p, root, out);
	cJSON_Delete(root);
	if (rc)
		netmap_free(out);
	return rc;
}
