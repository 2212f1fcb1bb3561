/* The netmap model: JSON parse/validate/print and O(1) lookups (see netmap.h). */
#include "lib/wire/netmap.h"
#include "lib/base/check.h"

#include "lib/base/errfmt.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest piece of document text quoted into an error message. */
#define NM_QUOTE_MAX 64
/* Longest JSON path named in a message ("services[4095].hosts[63]"). */
#define NM_PATH_MAX 96
/* Largest integer a JSON number carries exactly. */
#define NM_MAX_SAFE_INT 9007199254740991.0

/* ---- hash tables ------------------------------------------------------- */

/* Open addressing, linear probing, at most half full; built once per
 * netmap and read-only afterwards. An address key includes the port, so
 * the same table type serves tailnet addresses (port 0) and endpoints. */
struct nm_addr_slot {
	struct io_addr key;
	int32_t value; /* -1: empty */
};

struct nm_addr_table {
	size_t mask;
	struct nm_addr_slot *slots;
};

struct nm_str_slot {
	const char *key; /* NULL: empty; points into the netmap */
	int32_t value;
};

struct nm_str_table {
	size_t mask;
	struct nm_str_slot *slots;
};

struct netmap_index {
	struct nm_addr_table peer_addr;
	struct nm_addr_table endpoint;
	struct nm_addr_table vip;
	struct nm_addr_table host_vip;
	struct nm_str_table peer_name;
	struct nm_str_table svc_name;
	struct nm_str_table dns_name;
};

static uint64_t nm_hash_bytes(const void *data, size_t len, uint64_t h)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static uint64_t nm_hash_addr(const struct io_addr *a)
{
	uint8_t k[19];

	k[0] = a->family;
	k[1] = (uint8_t)(a->port >> 8);
	k[2] = (uint8_t)a->port;
	memcpy(k + 3, a->ip, 16);
	return nm_hash_bytes(k, a->family == IO_AF_INET6 ? 19 : 7, 0xcbf29ce484222325ull);
}

static bool nm_addr_key_equal(const struct io_addr *a, const struct io_addr *b)
{
	return io_addr_equal(a, b, true);
}

/* Sizes a table for `n` keys; returns 0 or -ENOMEM. */
static size_t nm_table_cap(size_t n)
{
	size_t cap = 8;

	while (cap < 2 * n)
		cap <<= 1;
	return cap;
}

static int nm_addr_table_init(struct nm_addr_table *t, size_t n)
{
	size_t cap = nm_table_cap(n);

	t->slots = malloc(cap * sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		t->slots[i].value = -1;
	t->mask = cap - 1;
	return 0;
}

/* Inserts key -> value; returns 0, or the value already stored for the key
 * (>= 0) as a positive number + 1 so callers can name the clash. */
static int nm_addr_table_put(struct nm_addr_table *t, const struct io_addr *key, int32_t value)
{
	size_t i = (size_t)nm_hash_addr(key) & t->mask;

	for (;;) {
		struct nm_addr_slot *s = &t->slots[i];
		if (s->value < 0) {
			s->key = *key;
			s->value = value;
			return 0;
		}
		if (nm_addr_key_equal(&s->key, key))
			return s->value + 1;
		i = (i + 1) & t->mask;
	}
}

static int32_t nm_addr_table_get(const struct nm_addr_table *t, const struct io_addr *key)
{
	if (!t->slots)
		return -1;
	size_t i = (size_t)nm_hash_addr(key) & t->mask;

	for (;;) {
		const struct nm_addr_slot *s = &t->slots[i];
		if (s->value < 0)
			return -1;
		if (nm_addr_key_equal(&s->key, key))
			return s->value;
		i = (i + 1) & t->mask;
	}
}

static int nm_str_table_init(struct nm_str_table *t, size_t n)
{
	size_t cap = nm_table_cap(n);

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = cap - 1;
	return 0;
}

static int nm_str_table_put(struct nm_str_table *t, const char *key, int32_t value)
{
	size_t i = (size_t)nm_hash_bytes(key, strlen(key), 0xcbf29ce484222325ull) & t->mask;

	for (;;) {
		struct nm_str_slot *s = &t->slots[i];
		if (!s->key) {
			s->key = key;
			s->value = value;
			return 0;
		}
		if (strcmp(s->key, key) == 0)
			return s->value + 1;
		i = (i + 1) & t->mask;
	}
}

static int32_t nm_str_table_get(const struct nm_str_table *t, const char *key)
{
	if (!t->slots)
		return -1;
	size_t i = (size_t)nm_hash_bytes(key, strlen(key), 0xcbf29ce484222325ull) & t->mask;

	for (;;) {
		const struct nm_str_slot *s = &t->slots[i];
		if (!s->key)
			return -1;
		if (strcmp(s->key, key) == 0)
			return s->value;
		i = (i + 1) & t->mask;
	}
}

static void nm_index_free(struct netmap_index *ix)
{
	if (!ix)
		return;
	free(ix->peer_addr.slots);
	free(ix->endpoint.slots);
	free(ix->vip.slots);
	free(ix->host_vip.slots);
	free(ix->peer_name.slots);
	free(ix->svc_name.slots);
	free(ix->dns_name.slots);
	free(ix);
}

/* ---- parsing ----------------------------------------------------------- */

struct nm_parse {
	char *err;
	size_t err_len;
};

/* Fails a parse: the message goes to the caller's buffer, rc comes back. */
#define nm_fail(p, rc, ...) err_setf((p)->err, (p)->err_len, (rc), __VA_ARGS__)

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

static int nm_parse_node(struct nm_parse *p, const cJSON *obj, const char *path, bool is_peer,
                         struct netmap_node *node)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *arr, *item;
	size_t n, i = 0;
	int rc;

	if (!cJSON_IsObject(obj))
		return nm_fail(p, -EINVAL, "%s: expected an object, got %s", path,
		               nm_type_name(obj));
	if ((rc = nm_get_string(p, obj, "name", path, true, false, &node->name)) ||
	    (rc = nm_parse_addrs(p, obj, path, node->addrs, &node->n_addrs)) ||
	    (rc = nm_get_string(p, obj, "user", path, false, true, &node->user)) ||
	    (rc = nm_get_string(p, obj, "display_name", path, false, true, &node->display_name)))
		return rc;

	item = nm_member(obj, "endpoint");
	if (is_peer && !item)
		return nm_fail(p, -EINVAL, "%s.endpoint: missing", path);
	if (item) {
		if (!cJSON_IsString(item))
			return nm_fail(p, -EINVAL, "%s.endpoint: expected a string, got %s", path,
			               nm_type_name(item));
		if (io_addr_parse(&node->endpoint, item->valuestring, NETMAP_DEFAULT_PORT) != 0 ||
		    node->endpoint.port == 0)
			return nm_fail(p, -EINVAL,
			               "%s.endpoint: %s is not an underlay endpoint (\"ip:port\")",
			               path, nm_quote(q, sizeof(q), item->valuestring));
	}

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

static int nm_parse_service(struct nm_parse *p, const cJSON *obj, const char *path, bool hosted,
                            const struct netmap *nm, struct netmap_service *svc)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *arr, *item;
	size_t n, i = 0;
	int rc;

	if (!cJSON_IsObject(obj))
		return nm_fail(p, -EINVAL, "%s: expected an object, got %s", path,
		               nm_type_name(obj));
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

	if ((rc = nm_get_array(p, obj, "hosts", path, false, NETMAP_MAX_HOSTS, &arr, &n)))
		return rc;
	svc->hosts = calloc(n ? n : 1, sizeof(int));
	if (!svc->hosts)
		return nm_fail(p, -ENOMEM, "out of memory");
	i = 0;
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

static int nm_parse_rule(struct nm_parse *p, const cJSON *obj, const char *path,
                         struct netmap_filter_rule *r)
{
	char q[NM_QUOTE_MAX * 4 + 16];
	const cJSON *arr, *item;
	size_t n, i = 0;
	int rc;

	if (!cJSON_IsObject(obj))
		return nm_fail(p, -EINVAL, "%s: expected an object, got %s", path,
		               nm_type_name(obj));
	if ((rc = nm_get_array(p, obj, "src", path, true, NETMAP_MAX_RULE_ENTRIES, &arr, &n)))
		return rc;
	if (n == 0)
		return nm_fail(p, -EINVAL, "%s.src: empty", path);
	r->src = calloc(n, sizeof(*r->src));
	if (!r->src)
		return nm_fail(p, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(item, arr)
	{
		if (!cJSON_IsString(item) || !nm_parse_prefix(item->valuestring, &r->src[i]))
			return nm_fail(
			    p, -EINVAL,
			    "%s.src[%zu]: expected \"*\", an address or a prefix, got %s", path, i,
			    cJSON_IsString(item) ? nm_quote(q, sizeof(q), item->valuestring)
			                         : nm_type_name(item));
		r->n_src = ++i;
	}

	if ((rc = nm_get_array(p, obj, "proto", path, false, 8, &arr, &n)))
		return rc;
	r->proto = calloc(n ? n : 1, 1);
	if (!r->proto)
		return nm_fail(p, -ENOMEM, "out of memory");
	i = 0;
	cJSON_ArrayForEach(item, arr)
	{
		uint8_t proto;
		if (cJSON_IsString(item) && strcmp(item->valuestring, "tcp") == 0)
			proto = NETMAP_PROTO_TCP;
		else if (cJSON_IsString(item) && strcmp(item->valuestring, "udp") == 0)
			proto = NETMAP_PROTO_UDP;
		else if (cJSON_IsString(item) && strcmp(item->valuestring, "icmp") == 0)
			proto = NETMAP_PROTO_ICMP;
		else if (cJSON_IsNumber(item) && item->valuedouble >= 1 &&
		         item->valuedouble <= 255 && item->valuedouble == floor(item->valuedouble))
			proto = (uint8_t)item->valuedouble;
		else
			return nm_fail(p, -EINVAL,
			               "%s.proto[%zu]: expected \"tcp\", \"udp\", \"icmp\" or a "
			               "protocol number 1-255",
			               path, i);
		r->proto[i] = proto;
		r->n_proto = ++i;
	}

	if ((rc = nm_get_array(p, obj, "dst", path, true, NETMAP_MAX_RULE_ENTRIES, &arr, &n)))
		return rc;
	if (n == 0)
		return nm_fail(p, -EINVAL, "%s.dst: empty", path);
	r->dst = calloc(n, sizeof(*r->dst));
	if (!r->dst)
		return nm_fail(p, -ENOMEM, "out of memory");
	i = 0;
	cJSON_ArrayForEach(item, arr)
	{
		struct netmap_filter_dst *d = &r->dst[i];
		if (!cJSON_IsObject(item))
			return nm_fail(p, -EINVAL, "%s.dst[%zu]: expected an object, got %s", path,
			               i, nm_type_name(item));
		const cJSON *net = nm_member(item, "net"), *ports = nm_member(item, "ports");
		if (!net)
			return nm_fail(p, -EINVAL, "%s.dst[%zu].net: missing", path, i);
		if (!cJSON_IsString(net) || !nm_parse_prefix(net->valuestring, &d->net))
			return nm_fail(p, -EINVAL,
			               "%s.dst[%zu].net: expected \"*\", an address or a prefix",
			               path, i);
		if (!ports)
			return nm_fail(p, -EINVAL, "%s.dst[%zu].ports: missing", path, i);
		if (!cJSON_IsString(ports) ||
		    !nm_parse_port_range(ports->valuestring, true, &d->port_first, &d->port_last))
			return nm_fail(p, -EINVAL,
			               "%s.dst[%zu].ports: expected \"*\", \"N\" or \"N-M\" "
			               "(1-65535)",
			               path, i);
		r->n_dst = ++i;
	}
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

/* Builds the lookup tables, reporting clashes (a tailnet address owned by
 * two peers, a VIP on two services, ...). */
static int nm_build_index(struct nm_parse *p, struct netmap *nm)
{
	struct netmap_index *ix = calloc(1, sizeof(*ix));
	size_t n_peer_addrs = 0, n_vips = 0, n_host_vips = 0;
	char path[NM_PATH_MAX];
	int rc;

	if (!ix)
		return nm_fail(p, -ENOMEM, "out of memory");
	nm->index = ix;
	for (size_t i = 0; i < nm->n_peers; i++)
		n_peer_addrs += nm->peers[i].n_addrs;
	if (nm_addr_table_init(&ix->peer_addr, n_peer_addrs) ||
	    nm_addr_table_init(&ix->endpoint, nm->n_peers) ||
	    nm_str_table_init(&ix->peer_name, nm->n_peers + 1))
		return nm_fail(p, -ENOMEM, "out of memory");
	for (size_t i = 0; i < nm->n_peers; i++) {
		struct netmap_node *peer = &nm->peers[i];
		snprintf(path, sizeof(path), "peers[%zu]", i);
		if (strcmp(peer->name, nm->self.name) == 0)
			return nm_fail(p, -EINVAL, "%s.name: \"%s\" is this node's own name", path,
			               peer->name);
		rc = nm_str_table_put(&ix->peer_name, peer->name, (int32_t)i);
		if (rc)
			return nm_fail(p, -EINVAL, "%s.name: \"%s\" already names peers[%d]", path,
			               peer->name, rc - 1);
		for (size_t a = 0; a < peer->n_addrs; a++) {
			char s[IO_ADDR_STRLEN];
			io_addr_format(&peer->addrs[a], false, s, sizeof(s));
			if (netmap_is_self_addr(nm, &peer->addrs[a]))
				return nm_fail(p, -EINVAL,
				               "%s.addresses[%zu]: %s is this node's own address",
				               path, a, s);
			rc = nm_addr_table_put(&ix->peer_addr, &peer->addrs[a], (int32_t)i);
			if (rc)
				return nm_fail(p, -EINVAL,
				               "%s.addresses[%zu]: %s already belongs to peers[%d]",
				               path, a, s, rc - 1);
		}
		rc = nm_addr_table_put(&ix->endpoint, &peer->endpoint, (int32_t)i);
		if (rc) {
			char s[IO_ADDR_STRLEN];
			return nm_fail(p, -EINVAL, "%s.endpoint: %s is also peers[%d]'s endpoint",
			               path, io_addr_format(&peer->endpoint, true, s, sizeof(s)),
			               rc - 1);
		}
	}

	for (size_t i = 0; i < nm->n_services; i++)
		n_vips += nm->services[i].n_addrs;
	for (size_t i = 0; i < nm->n_host_services; i++)
		n_host_vips += nm->host_services[i].n_addrs;
	if (nm_addr_table_init(&ix->vip, n_vips) ||
	    nm_addr_table_init(&ix->host_vip, n_host_vips) ||
	    nm_str_table_init(&ix->svc_name, nm->n_services) ||
	    nm_str_table_init(&ix->dns_name, nm->n_dns))
		return nm_fail(p, -ENOMEM, "out of memory");
	for (int pass = 0; pass < 2; pass++) {
		bool hosted = pass == 1;
		size_t n = hosted ? nm->n_host_services : nm->n_services;
		struct netmap_service *list = hosted ? nm->host_services : nm->services;
		struct nm_addr_table *t = hosted ? &ix->host_vip : &ix->vip;
		const char *what = hosted ? "host_services" : "services";

		for (size_t i = 0; i < n; i++) {
			struct netmap_service *svc = &list[i];
			snprintf(path, sizeof(path), "%s[%zu]", what, i);
			if (!hosted) {
				rc = nm_str_table_put(&ix->svc_name, svc->name, (int32_t)i);
				if (rc)
					return nm_fail(p, -EINVAL,
					               "%s.name: \"%s\" already names %s[%d]", path,
					               svc->name, what, rc - 1);
			} else {
				for (size_t j = 0; j < i; j++)
					if (strcmp(list[j].name, svc->name) == 0)
						return nm_fail(p, -EINVAL,
						               "%s.name: \"%s\" already names "
						               "%s[%zu]",
						               path, svc->name, what, j);
			}
			for (size_t a = 0; a < svc->n_addrs; a++) {
				char s[IO_ADDR_STRLEN];
				io_addr_format(&svc->addrs[a], false, s, sizeof(s));
				if (netmap_is_self_addr(nm, &svc->addrs[a]) ||
				    nm_addr_table_get(&ix->peer_addr, &svc->addrs[a]) >= 0)
					return nm_fail(p, -EINVAL,
					               "%s.addresses[%zu]: %s is a node's address, "
					               "not a VIP",
					               path, a, s);
				rc = nm_addr_table_put(t, &svc->addrs[a], (int32_t)i);
				if (rc)
					return nm_fail(
					    p, -EINVAL,
					    "%s.addresses[%zu]: %s is already %s[%d]'s VIP", path,
					    a, s, what, rc - 1);
			}
		}
	}
	for (size_t i = 0; i < nm->n_dns; i++) {
		rc = nm_str_table_put(&ix->dns_name, nm->dns[i].name, (int32_t)i);
		if (rc)
			return nm_fail(p, -EINVAL, "dns[%zu].name: \"%s\" already names dns[%d]", i,
			               nm->dns[i].name, rc - 1);
	}
	return 0;
}

static int nm_parse_doc(struct nm_parse *p, const cJSON *root, struct netmap *nm)
{
	const cJSON *arr, *item;
	char path[NM_PATH_MAX];
	size_t n, i;
	int rc;

	if (!cJSON_IsObject(root))
		return nm_fail(p, -EINVAL, "netmap: expected an object, got %s",
		               nm_type_name(root));
	item = nm_member(root, "version");
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

	item = nm_member(root, "self");
	if (!item)
		return nm_fail(p, -EINVAL, "self: missing");
	if ((rc = nm_parse_node(p, item, "self", false, &nm->self)))
		return rc;

	if ((rc = nm_get_array(p, root, "peers", "", false, NETMAP_MAX_PEERS, &arr, &n)))
		return rc;
	nm->peers = calloc(n ? n : 1, sizeof(*nm->peers));
	if (!nm->peers)
		return nm_fail(p, -ENOMEM, "out of memory");
	i = 0;
	cJSON_ArrayForEach(item, arr)
	{
		snprintf(path, sizeof(path), "peers[%zu]", i);
		nm->n_peers = i + 1; /* so netmap_free sees the partial entry */
		if ((rc = nm_parse_node(p, item, path, true, &nm->peers[i])))
			return rc;
		i++;
	}

	/* Peers are known: index them first, so `hosts` can name them. The
	 * service tables are built (again) once services are parsed. */
	{
		struct netmap tmp = *nm;
		tmp.n_services = tmp.n_host_services = tmp.n_dns = 0;
		rc = nm_build_index(p, &tmp);
		nm->index = tmp.index;
		if (rc)
			return rc;
	}

	for (int pass = 0; pass < 2; pass++) {
		bool hosted = pass == 1;
		const char *key = hosted ? "host_services" : "services";
		struct netmap_service **list = hosted ? &nm->host_services : &nm->services;
		size_t *count = hosted ? &nm->n_host_services : &nm->n_services;

		if ((rc = nm_get_array(p, root, key, "", false, NETMAP_MAX_SERVICES, &arr, &n)))
			return rc;
		*list = calloc(n ? n : 1, sizeof(**list));
		if (!*list)
			return nm_fail(p, -ENOMEM, "out of memory");
		i = 0;
		cJSON_ArrayForEach(item, arr)
		{
			snprintf(path, sizeof(path), "%s[%zu]", key, i);
			*count = i + 1;
			if ((rc = nm_parse_service(p, item, path, hosted, nm, &(*list)[i])))
				return rc;
			i++;
		}
	}

	if ((rc = nm_get_array(p, root, "filter", "", false, NETMAP_MAX_FILTER_RULES, &arr, &n)))
		return rc;
	nm->rules = calloc(n ? n : 1, sizeof(*nm->rules));
	if (!nm->rules)
		return nm_fail(p, -ENOMEM, "out of memory");
	i = 0;
	cJSON_ArrayForEach(item, arr)
	{
		snprintf(path, sizeof(path), "filter[%zu]", i);
		nm->n_rules = i + 1;
		if ((rc = nm_parse_rule(p, item, path, &nm->rules[i])))
			return rc;
		i++;
	}

	if ((rc = nm_get_array(p, root, "dns", "", false, NETMAP_MAX_SERVICES, &arr, &n)))
		return rc;
	nm->dns = calloc(n ? n : 1, sizeof(*nm->dns));
	if (!nm->dns)
		return nm_fail(p, -ENOMEM, "out of memory");
	i = 0;
	cJSON_ArrayForEach(item, arr)
	{
		struct netmap_dns_record *d = &nm->dns[i];
		snprintf(path, sizeof(path), "dns[%zu]", i);
		nm->n_dns = i + 1;
		if (!cJSON_IsObject(item))
			return nm_fail(p, -EINVAL, "%s: expected an object, got %s", path,
			               nm_type_name(item));
		if ((rc = nm_get_string(p, item, "name", path, true, false, &d->name)))
			return rc;
		if (!nm_normalise_dns(d->name))
			return nm_fail(p, -EINVAL, "%s.name: \"%s\" is not a DNS name", path,
			               d->name);
		if ((rc = nm_parse_addrs(p, item, path, d->addrs, &d->n_addrs)))
			return rc;
		i++;
	}

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

/* ---- printing ---------------------------------------------------------- */

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

char *netmap_to_json(const struct netmap *nm)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char buf[96], pb[80];
	char *out;

	if (!root)
		return NULL;
	cJSON_AddNumberToObject(root, "version", (double)nm->version);
	cJSON_AddStringToObject(root, "tailnet", nm->tailnet ? nm->tailnet : "");
	cJSON_AddItemToObject(root, "self", nm_node_json(&nm->self, false));
	arr = cJSON_AddArrayToObject(root, "peers");
	for (size_t i = 0; i < nm->n_peers; i++)
		cJSON_AddItemToArray(arr, nm_node_json(&nm->peers[i], true));
	for (int pass = 0; pass < 2; pass++) {
		bool hosted = pass == 1;
		size_t n = hosted ? nm->n_host_services : nm->n_services;
		const struct netmap_service *list = hosted ? nm->host_services : nm->services;

		arr = cJSON_AddArrayToObject(root, hosted ? "host_services" : "services");
		for (size_t i = 0; i < n; i++) {
			const struct netmap_service *svc = &list[i];
			cJSON *o = cJSON_CreateObject(), *a;
			cJSON_AddStringToObject(o, "name", svc->name);
			cJSON_AddItemToObject(o, "addresses",
			                      nm_addrs_json(svc->addrs, svc->n_addrs));
			if (!hosted) {
				a = cJSON_AddArrayToObject(o, "ports");
				for (size_t j = 0; j < svc->n_ports; j++) {
					snprintf(buf, sizeof(buf), "tcp:%s",
					         nm_range_format(svc->ports[j].first,
					                         svc->ports[j].last, false, pb,
					                         sizeof(pb)));
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
	}
	arr = cJSON_AddArrayToObject(root, "filter");
	for (size_t i = 0; i < nm->n_rules; i++) {
		const struct netmap_filter_rule *r = &nm->rules[i];
		cJSON *o = cJSON_CreateObject(), *a;
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
			                        nm_range_format(r->dst[j].port_first,
			                                        r->dst[j].port_last, true, pb,
			                                        sizeof(pb)));
			cJSON_AddItemToArray(a, d);
		}
		cJSON_AddItemToArray(arr, o);
	}
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

/* ---- freeing ----------------------------------------------------------- */

static void nm_node_free(struct netmap_node *node)
{
	free(node->name);
	free(node->user);
	free(node->display_name);
	for (size_t i = 0; i < node->n_tags; i++)
		free(node->tags[i]);
	free(node->tags);
}

static void nm_services_free(struct netmap_service *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].ports);
		free(list[i].hosts);
	}
	free(list);
}

void netmap_free(struct netmap *nm)
{
	if (!nm)
		return;
	free(nm->tailnet);
	nm_node_free(&nm->self);
	for (size_t i = 0; i < nm->n_peers; i++)
		nm_node_free(&nm->peers[i]);
	free(nm->peers);
	nm_services_free(nm->services, nm->n_services);
	nm_services_free(nm->host_services, nm->n_host_services);
	for (size_t i = 0; i < nm->n_rules; i++) {
		free(nm->rules[i].src);
		free(nm->rules[i].proto);
		free(nm->rules[i].dst);
	}
	free(nm->rules);
	for (size_t i = 0; i < nm->n_dns; i++)
		free(nm->dns[i].name);
	free(nm->dns);
	nm_index_free(nm->index);
	memset(nm, 0, sizeof(*nm));
}

/* ---- lookups ----------------------------------------------------------- */

/* Tailnet address keys carry port 0, whatever the caller's port. */
static struct io_addr nm_addr_key(const struct io_addr *a)
{
	struct io_addr k;

	memset(&k, 0, sizeof(k));
	k.family = a->family;
	memcpy(k.ip, a->ip, a->family == IO_AF_INET6 ? 16 : 4);
	return k;
}

int netmap_peer_by_addr(const struct netmap *nm, const struct io_addr *tailnet_addr)
{
	const struct netmap_index *ix = nm->index;
	struct io_addr k = nm_addr_key(tailnet_addr);

	return ix ? nm_addr_table_get(&ix->peer_addr, &k) : -1;
}

int netmap_peer_by_endpoint(const struct netmap *nm, const struct io_addr *endpoint)
{
	const struct netmap_index *ix = nm->index;
	struct io_addr k = nm_addr_key(endpoint);

	k.port = endpoint->port;
	return ix ? nm_addr_table_get(&ix->endpoint, &k) : -1;
}

int netmap_peer_by_name(const struct netmap *nm, const char *name)
{
	const struct netmap_index *ix = nm->index;

	return ix ? nm_str_table_get(&ix->peer_name, name) : -1;
}

const struct netmap_service *netmap_service_by_vip(const struct netmap *nm,
                                                   const struct io_addr *vip)
{
	const struct netmap_index *ix = nm->index;
	struct io_addr k = nm_addr_key(vip);
	int32_t i = ix ? nm_addr_table_get(&ix->vip, &k) : -1;

	return i < 0 ? NULL : &nm->services[i];
}

const struct netmap_service *netmap_service_by_name(const struct netmap *nm, const char *name)
{
	const struct netmap_index *ix = nm->index;
	int32_t i = ix ? nm_str_table_get(&ix->svc_name, name) : -1;

	return i < 0 ? NULL : &nm->services[i];
}

const struct netmap_service *netmap_host_service_by_vip(const struct netmap *nm,
                                                        const struct io_addr *vip)
{
	const struct netmap_index *ix = nm->index;
	struct io_addr k = nm_addr_key(vip);
	int32_t i = ix ? nm_addr_table_get(&ix->host_vip, &k) : -1;

	return i < 0 ? NULL : &nm->host_services[i];
}

/* Looks a name up as given, lower-cased and without one trailing dot. */
const struct netmap_dns_record *netmap_dns_lookup(const struct netmap *nm, const char *name)
{
	const struct netmap_index *ix = nm->index;
	char buf[NETMAP_MAX_NAME + 2];
	size_t n = strlen(name);

	if (!ix || n == 0 || n > NETMAP_MAX_NAME + 1)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	if (buf[n - 1] == '.')
		buf[n - 1] = '\0';
	int32_t i = nm_str_table_get(&ix->dns_name, buf);
	return i < 0 ? NULL : &nm->dns[i];
}

bool netmap_is_self_addr(const struct netmap *nm, const struct io_addr *addr)
{
	for (size_t i = 0; i < nm->self.n_addrs; i++)
		if (io_addr_equal(&nm->self.addrs[i], addr, false))
			return true;
	return false;
}

static bool nm_prefix_contains(const struct netmap_prefix *pfx, const struct io_addr *a)
{
	unsigned full, rest;

	if (pfx->addr.family == IO_AF_NONE)
		return true;
	if (pfx->addr.family != a->family)
		return false;
	full = pfx->bits / 8;
	rest = pfx->bits % 8;
	if (memcmp(pfx->addr.ip, a->ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a->ip[full] & mask) == pfx->addr.ip[full];
}

/* First-match-wins makes no sense for allow-only rules: any rule that
 * matches source, protocol, destination and port allows. Linear in the
 * rules; the data plane asks only for flow-opening packets. */
bool netmap_filter_allows(const struct netmap *nm, const struct io_addr *src,
                          const struct io_addr *dst, uint8_t proto, uint16_t dst_port)
{
	for (size_t i = 0; i < nm->n_rules; i++) {
		const struct netmap_filter_rule *r = &nm->rules[i];
		bool ok = r->n_proto == 0;

		for (size_t j = 0; !ok && j < r->n_proto; j++)
			ok = r->proto[j] == proto;
		if (!ok)
			continue;
		ok = false;
		for (size_t j = 0; !ok && j < r->n_src; j++)
			ok = nm_prefix_contains(&r->src[j], src);
		if (!ok)
			continue;
		for (size_t j = 0; j < r->n_dst; j++) {
			const struct netmap_filter_dst *d = &r->dst[j];
			if (dst_port >= d->port_first && dst_port <= d->port_last &&
			    nm_prefix_contains(&d->net, dst))
				return true;
		}
	}
	return false;
}
