/* The scenario loader (see scenario.h). Walks libyaml's document tree so
 * every node carries its line and column; all checks are table-driven by
 * the key descriptors below. */
#include "scenario.h"
#include "check.h"

#include "errfmt.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SCENARIO_KEYS_MAX 32 /* per section; a seen-bitmask fits in 32 bits */

/* ---- the key tables: the one place every key is described ---- */

enum top_key {
	TOP_NAME = 0,
	TOP_SEED,
	TOP_DURATION,
	TOP_TAILNET,
	TOP_REGIONS,
	TOP_LINKS,
	TOP_ACCESS,
	TOP_NODES,
	TOP_UNDERLAY_WORKLOAD,
	TOP_CONTROL,
	TOP_USERS,
	TOP_POLICY,
	TOP_SERVICES,
	TOP_WORKLOADS,
	TOP_TIMELINE,
	TOP_EXPECT,
};

static const struct scenario_key scenario_top_keys[] = {
    [TOP_NAME] = {"name", SCENARIO_KIND_NAME, true, true, NULL,
                  "Scenario name; names the output folders reports/<name> and pcaps/<name>."},
    [TOP_SEED] = {"seed", SCENARIO_KIND_INTEGER, false, true, "1",
                  "Random seed (1..4294967295); --seed overrides it."},
    [TOP_DURATION] = {"duration", SCENARIO_KIND_DURATION, false, true, "10s",
                      "Simulated time the run lasts."},
    [TOP_TAILNET] = {"tailnet", SCENARIO_KIND_STRING, false, true, "example.ts.net",
                     "MagicDNS suffix of the tailnet."},
    [TOP_REGIONS] = {"regions", SCENARIO_KIND_MAPPING, true, true, NULL,
                     "Region name -> {} ; each region is a router that its nodes hang off."},
    [TOP_LINKS] = {"links", SCENARIO_KIND_SEQUENCE, false, true, NULL,
                   "Links between region routers (between, latency, bandwidth, loss)."},
    [TOP_ACCESS] = {"access", SCENARIO_KIND_MAPPING, false, true, NULL,
                    "Default link between a node and its region router."},
    [TOP_NODES] = {"nodes", SCENARIO_KIND_SEQUENCE, true, true, NULL,
                   "The nodes (name, region, count, tags, user, backends, serve)."},
    [TOP_UNDERLAY_WORKLOAD] = {"underlay_workload", SCENARIO_KIND_WORKLOAD, false, true, "on",
                               "Project-added: the built-in underlay TCP request/response "
                               "workload between all nodes, or `off`."},
    [TOP_CONTROL] = {"control", SCENARIO_KIND_MAPPING, false, false, NULL,
                     "Where the coordination server runs."},
    [TOP_USERS] = {"users", SCENARIO_KIND_MAPPING, false, false, NULL,
                   "Principals and their roles."},
    [TOP_POLICY] = {"policy", SCENARIO_KIND_MAPPING, false, false, NULL,
                    "Subset of the tailnet policy file."},
    [TOP_SERVICES] = {"services", SCENARIO_KIND_SEQUENCE, false, false, NULL,
                      "Services defined at t=0."},
    [TOP_WORKLOADS] = {"workloads", SCENARIO_KIND_SEQUENCE, false, false, NULL,
                       "Tailnet workloads."},
    [TOP_TIMELINE] = {"timeline", SCENARIO_KIND_SEQUENCE, false, false, NULL,
                      "Faults and admin actions at given times."},
    [TOP_EXPECT] = {"expect", SCENARIO_KIND_SEQUENCE, false, false, NULL,
                    "Expectations checked after the run."},
    {NULL, SCENARIO_KIND_NONE, false, false, NULL, NULL},
};

enum link_key { LINK_BETWEEN = 0, LINK_LATENCY, LINK_BANDWIDTH, LINK_LOSS };

static const struct scenario_key scenario_link_keys[] = {
    [LINK_BETWEEN] = {"between", SCENARIO_KIND_SEQUENCE, true, true, NULL,
                      "The two regions the link joins: [a, b]."},
    [LINK_LATENCY] = {"latency", SCENARIO_KIND_DURATION, true, true, NULL,
                      "One-way latency, symmetric (max 10s)."},
    [LINK_BANDWIDTH] = {"bandwidth", SCENARIO_KIND_BANDWIDTH, false, true, "10Gbps",
                        "Link rate each way."},
    [LINK_LOSS] = {"loss", SCENARIO_KIND_PERCENT, false, true, "0%",
                   "Probability a packet is dropped."},
    {NULL, SCENARIO_KIND_NONE, false, false, NULL, NULL},
};

enum access_key { ACCESS_LATENCY = 0, ACCESS_BANDWIDTH, ACCESS_LOSS };

static const struct scenario_key scenario_access_keys[] = {
    [ACCESS_LATENCY] = {"latency", SCENARIO_KIND_DURATION, false, true, "1ms",
                        "One-way latency between a node and its region router."},
    [ACCESS_BANDWIDTH] = {"bandwidth", SCENARIO_KIND_BANDWIDTH, false, true, "1Gbps",
                          "Access link rate each way."},
    [ACCESS_LOSS] = {"loss", SCENARIO_KIND_PERCENT, false, true, "0%",
                     "Probability a packet is dropped."},
    {NULL, SCENARIO_KIND_NONE, false, false, NULL, NULL},
};

enum node_key {
	NODE_NAME = 0,
	NODE_REGION,
	NODE_COUNT,
	NODE_TAGS,
	NODE_USER,
	NODE_BACKENDS,
	NODE_SERVE
};

static const struct scenario_key scenario_node_keys[] = {
    [NODE_NAME] = {"name", SCENARIO_KIND_NAME, true, true, NULL,
                   "Node name (with count > 1: the prefix of name-0 .. name-(count-1))."},
    [NODE_REGION] = {"region", SCENARIO_KIND_STRING, true, true, NULL,
                     "The region the node hangs off."},
    [NODE_COUNT] = {"count", SCENARIO_KIND_INTEGER, false, true, "1",
                    "How many such nodes (1..100000)."},
    [NODE_TAGS] = {"tags", SCENARIO_KIND_SEQUENCE, false, true, NULL,
                   "ACL tags (stored; used by a later version)."},
    [NODE_USER] = {"user", SCENARIO_KIND_STRING, false, true, NULL,
                   "Owning user (stored; used by a later version)."},
    [NODE_BACKENDS] = {"backends", SCENARIO_KIND_SEQUENCE, false, true, NULL,
                       "Programs on the node's loopback (stored; used by a later version)."},
    [NODE_SERVE] = {"serve", SCENARIO_KIND_SEQUENCE, false, true, NULL,
                    "`serve` commands run at start (stored; used by a later version)."},
    {NULL, SCENARIO_KIND_NONE, false, false, NULL, NULL},
};

enum rr_key { RR_RATE = 0, RR_REQUEST, RR_RESPONSE, RR_START, RR_STOP, RR_PORT };

static const struct scenario_key scenario_rr_keys[] = {
    [RR_RATE] = {"rate", SCENARIO_KIND_RATE, false, true, "1/s",
                 "Requests per second per node, Poisson arrivals."},
    [RR_REQUEST] = {"request", SCENARIO_KIND_SIZE, false, true, "200B",
                    "Bytes the client writes on each new connection."},
    [RR_RESPONSE] = {"response", SCENARIO_KIND_SIZE, false, true, "2KB",
                     "Bytes the server answers with."},
    [RR_START] = {"start", SCENARIO_KIND_DURATION, false, true, "0s",
                  "Arrivals start at start + an exponential gap."},
    [RR_STOP] = {"stop", SCENARIO_KIND_DURATION, false, true, "duration",
                 "No arrival at or after stop."},
    [RR_PORT] = {"port", SCENARIO_KIND_INTEGER, false, true, "7000",
                 "TCP port every node's server listens on (underlay address)."},
    {NULL, SCENARIO_KIND_NONE, false, false, NULL, NULL},
};

const struct scenario_key *scenario_keys(enum scenario_section section)
{
	switch (section) {
	case SCENARIO_SECTION_TOP:
		return scenario_top_keys;
	case SCENARIO_SECTION_LINK:
		return scenario_link_keys;
	case SCENARIO_SECTION_ACCESS:
		return scenario_access_keys;
	case SCENARIO_SECTION_NODE:
		return scenario_node_keys;
	case SCENARIO_SECTION_UNDERLAY_WORKLOAD:
		return scenario_rr_keys;
	case SCENARIO_SECTION_COUNT:
		break;
	}
	return NULL;
}

const char *scenario_section_name(enum scenario_section section)
{
	switch (section) {
	case SCENARIO_SECTION_TOP:
		return "top level";
	case SCENARIO_SECTION_LINK:
		return "link";
	case SCENARIO_SECTION_ACCESS:
		return "access";
	case SCENARIO_SECTION_NODE:
		return "node";
	case SCENARIO_SECTION_UNDERLAY_WORKLOAD:
		return "underlay_workload";
	case SCENARIO_SECTION_COUNT:
		break;
	}
	return "?";
}

const char *scenario_kind_name(enum scenario_kind kind)
{
	switch (kind) {
	case SCENARIO_KIND_NONE:
		return "nothing";
	case SCENARIO_KIND_STRING:
		return "string";
	case SCENARIO_KIND_NAME:
		return "name";
	case SCENARIO_KIND_INTEGER:
		return "integer";
	case SCENARIO_KIND_DURATION:
		return "duration";
	case SCENARIO_KIND_RATE:
		return "rate";
	case SCENARIO_KIND_BANDWIDTH:
		return "bandwidth";
	case SCENARIO_KIND_SIZE:
		return "size";
	case SCENARIO_KIND_PERCENT:
		return "percentage";
	case SCENARIO_KIND_MAPPING:
		return "mapping";
	case SCENARIO_KIND_SEQUENCE:
		return "sequence";
	case SCENARIO_KIND_WORKLOAD:
		return "`off` or mapping";
	}
	return "?";
}

/* ---- numbers with units ---- */

struct unit {
	const char *suffix;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000}, {NULL, 0}};
static const struct unit size_units[] = {{"B", 1},      {"KB", 1000},     {"MB", 1000000},
                                         {"KiB", 1024}, {"MiB", 1048576}, {NULL, 0}};
static const struct unit bandwidth_units[] = {
    {"bps", 1}, {"Kbps", 1000}, {"Mbps", 1000000}, {"Gbps", 1000000000}, {NULL, 0}};

/* Splits "[-]digits[.digits]rest". Returns false when no digit leads. */
static bool split_number(const char *text, bool *neg, unsigned __int128 *mant, unsigned *frac,
                         const char **rest)
{
	const char *p = text;
	unsigned digits = 0;

	*neg = false;
	*mant = 0;
	*frac = 0;
	if (*p == '-' || *p == '+') {
		*neg = *p == '-';
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (digits++ < 30)
			*mant = *mant * 10 + (unsigned)(*p - '0');
		else
			*mant = (unsigned __int128)-1; /* absurdly long: saturate */
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (*frac < 12) {
				*mant = *mant * 10 + (unsigned)(*p - '0');
				(*frac)++;
			}
		}
	}
	*rest = p;
	return true;
}

static bool text_is_zero(const char *text)
{
	const char *p = text;

	if (*p == '+')
		p++;
	if (*p != '0')
		return false;
	while (*p == '0')
		p++;
	if (*p == '.') {
		p++;
		if (!*p)
			return false;
		while (*p == '0')
			p++;
	}
	return *p == '\0';
}

/* The unit list as "us, ms, s or m". */
static void units_text(const struct unit *units, char *buf, size_t len)
{
	size_t n = 0, count = 0;

	while (units[count].suffix)
		count++;
	buf[0] = '\0';
	for (size_t i = 0; i < count && n < len; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
		int w = snprintf(buf + n, len - n, "%s%s", sep, units[i].suffix);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* Parses a number with one of `units` into an integer number of base units
 * (rounded down). */
static int parse_with_units(const char *text, const char *what, const char *example,
                            const struct unit *units, uint64_t *out, char *why, size_t why_len)
{
	bool neg;
	unsigned __int128 mant, value;
	unsigned frac;
	const char *rest;
	char list[64];

	units_text(units, list, sizeof(list));
	if (!split_number(text, &neg, &mant, &frac, &rest)) {
		err_setf(why, why_len, 0, "expected a %s like %s, got '%s'", what, example, text);
		return -EINVAL;
	}
	if (neg && !text_is_zero(text + 1)) {
		err_setf(why, why_len, 0, "negative %s '%s'", what, text);
		return -EINVAL;
	}
	if (*rest == '\0') {
		if (text_is_zero(text + (neg ? 1 : 0))) {
			*out = 0;
			return 0;
		}
		err_setf(why, why_len, 0, "missing unit in %s '%s' (expected %s)", what, text,
		         list);
		return -EINVAL;
	}
	const struct unit *u = NULL;
	for (size_t i = 0; units[i].suffix; i++)
		if (strcmp(rest, units[i].suffix) == 0)
			u = &units[i];
	if (!u) {
		const struct unit *near = NULL;
		for (size_t i = 0; units[i].suffix; i++)
			if (strcasecmp(rest, units[i].suffix) == 0)
				near = &units[i];
		if (near)
			err_setf(why, why_len, 0,
			         "bad unit '%s' in %s '%s' (expected %s; did you mean '%s'?)", rest,
			         what, text, list, near->suffix);
		else
			err_setf(why, why_len, 0, "bad unit '%s' in %s '%s' (expected %s)", rest,
			         what, text, list);
		return -EINVAL;
	}
	value = mant * u->mult;
	if (mant != 0 && value / mant != u->mult)
		value = (unsigned __int128)-1;
	for (unsigned i = 0; i < frac; i++)
		value /= 10;
	if (value > UINT64_MAX) {
		err_setf(why, why_len, 0, "%s '%s' is out of range", what, text);
		return -EINVAL;
	}
	*out = (uint64_t)value;
	return 0;
}

int scenario_parse_duration(const char *text, uint64_t *out_us, char *why, size_t why_len)
{
	return parse_with_units(text, "duration", "250ms", duration_units, out_us, why, why_len);
}

int scenario_parse_size(const char *text, uint64_t *out_bytes, char *why, size_t why_len)
{
	return parse_with_units(text, "size", "2KB", size_units, out_bytes, why, why_len);
}

int scenario_parse_bandwidth(const char *text, uint64_t *out_bps, char *why, size_t why_len)
{
	return parse_with_units(text, "bandwidth", "1Gbps", bandwidth_units, out_bps, why, why_len);
}

/* A decimal number with a fixed suffix, as a double. */
static int parse_suffixed(const char *text, const char *what, const char *example,
                          const char *suffix, double *out, char *why, size_t why_len)
{
	bool neg;
	unsigned __int128 mant;
	unsigned frac;
	const char *rest;

	if (!split_number(text, &neg, &mant, &frac, &rest)) {
		err_setf(why, why_len, 0, "expected a %s like %s, got '%s'", what, example, text);
		return -EINVAL;
	}
	if (neg && !text_is_zero(text + 1)) {
		err_setf(why, why_len, 0, "negative %s '%s'", what, text);
		return -EINVAL;
	}
	if (*rest == '\0') {
		if (text_is_zero(text + (neg ? 1 : 0))) {
			*out = 0;
			return 0;
		}
		err_setf(why, why_len, 0, "missing unit in %s '%s' (expected %s)", what, text,
		         suffix);
		return -EINVAL;
	}
	if (strcmp(rest, suffix) != 0) {
		err_setf(why, why_len, 0, "bad unit '%s' in %s '%s' (expected %s)", rest, what,
		         text, suffix);
		return -EINVAL;
	}
	double v = (double)mant;
	for (unsigned i = 0; i < frac; i++)
		v /= 10.0;
	*out = v;
	return 0;
}

int scenario_parse_rate(const char *text, double *out_per_s, char *why, size_t why_len)
{
	return parse_suffixed(text, "rate", "5/s", "/s", out_per_s, why, why_len);
}

int scenario_parse_percent(const char *text, double *out_fraction, char *why, size_t why_len)
{
	double pct;
	int err = parse_suffixed(text, "percentage", "0.5%", "%", &pct, why, why_len);

	if (err)
		return err;
	*out_fraction = pct / 100.0;
	return 0;
}

bool scenario_name_is_safe(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

/* ---- did you mean ---- */

static unsigned levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[SCENARIO_NAME_MAX + 2];

	if (la > SCENARIO_NAME_MAX || lb > SCENARIO_NAME_MAX)
		return UINT_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Fills buf with " (did you mean 'x'?)" for the closest candidate within
 * distance 2, or "". */
static void did_you_mean(const char *word, const char *const *cands, size_t n, char *buf,
                         size_t len)
{
	unsigned best = 3;
	const char *pick = NULL;

	for (size_t i = 0; i < n; i++) {
		unsigned d = levenshtein(word, cands[i]);
		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	if (pick)
		snprintf(buf, len, " (did you mean '%s'?)", pick);
	else if (len)
		buf[0] = '\0';
}

/* ---- the loader ---- */

struct loader {
	const char *filename;
	yaml_document_t *doc;
	struct scenario_diags *diags;
	struct scenario *sc;
	bool oom;
};

static void diags_add(struct scenario_diags *diags, bool warning, unsigned line, unsigned col,
                      const char *filename, const char *msg)
{
	if (!warning)
		diags->errors++;
	if (diags->count == SCENARIO_DIAGS_MAX) {
		diags->dropped++;
		return;
	}
	struct scenario_diag *d = &diags->items[diags->count++];
	d->warning = warning;
	d->line = line;
	d->column = col;
	if (line)
		snprintf(d->text, sizeof(d->text), "%s:%u:%u: %s%s", filename, line, col,
		         warning ? "warning: " : "", msg);
	else
		snprintf(d->text, sizeof(d->text), "%s: %s%s", filename, warning ? "warning: " : "",
		         msg);
}

static void report(struct loader *ld, bool warning, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(struct loader *ld, bool warning, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(ld->diags, warning, (unsigned)at->start_mark.line + 1,
	          (unsigned)at->start_mark.column + 1, ld->filename, msg);
}

#define error_at(ld, at, ...) report(ld, false, at, __VA_ARGS__)
#define warn_at(ld, at, ...)  report(ld, true, at, __VA_ARGS__)

static yaml_node_t *node_get(struct loader *ld, int id)
{
	yaml_node_t *n = yaml_document_get_node(ld->doc, id);
	CHECK(n != NULL);
	return n;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = scalar(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* "a mapping", "a sequence", "'text'" or "nothing": what a value is. */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (is_null(n))
		return "nothing";
	snprintf(buf, len, "'%.60s%s'", scalar(n), strlen(scalar(n)) > 60 ? "..." : "");
	return buf;
}

/* Checks a value's YAML shape against a key's kind. */
static bool check_shape(struct loader *ld, const struct scenario_key *key, const yaml_node_t *v)
{
	char buf[80];
	const char *want = NULL;

	switch (key->kind) {
	case SCENARIO_KIND_MAPPING:
		if (v->type == YAML_MAPPING_NODE)
			return true;
		want = "a mapping";
		break;
	case SCENARIO_KIND_SEQUENCE:
		if (v->type == YAML_SEQUENCE_NODE)
			return true;
		want = "a sequence";
		break;
	case SCENARIO_KIND_WORKLOAD:
		if (v->type == YAML_MAPPING_NODE || is_null(v) ||
		    (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "off")))
			return true;
		want = "'off' or a mapping";
		break;
	case SCENARIO_KIND_INTEGER:
		if (v->type == YAML_SCALAR_NODE && !is_null(v))
			return true;
		want = "an integer";
		break;
	case SCENARIO_KIND_NONE:
		CHECK(0);
		break;
	default:
		if (v->type == YAML_SCALAR_NODE && !is_null(v))
			return true;
		want = key->kind == SCENARIO_KIND_STRING || key->kind == SCENARIO_KIND_NAME
		           ? "a scalar"
		           : (key->kind == SCENARIO_KIND_DURATION    ? "a duration"
		              : key->kind == SCENARIO_KIND_RATE      ? "a rate"
		              : key->kind == SCENARIO_KIND_BANDWIDTH ? "a bandwidth"
		              : key->kind == SCENARIO_KIND_SIZE      ? "a size"
		                                                     : "a percentage");
		break;
	}
	error_at(ld, v, "expected %s for '%s', got %s", want, key->name,
	         describe(v, buf, sizeof(buf)));
	return false;
}

/* One mapping checked against a key table: unknown keys (with a did you
 * mean), duplicates, shapes and required keys. vals[i]/keys[i] receive the
 * value/key node of table entry i, or NULL. Returns false on any error. */
static bool collect(struct loader *ld, const yaml_node_t *map, enum scenario_section section,
                    const char *where, yaml_node_t **keys, yaml_node_t **vals)
{
	const struct scenario_key *table = scenario_keys(section);
	const char *names[SCENARIO_KEYS_MAX];
	size_t n = 0;
	bool ok = true;
	char buf[80];

	CHECK(map->type == YAML_MAPPING_NODE);
	for (; table[n].name; n++) {
		CHECK(n < SCENARIO_KEYS_MAX);
		names[n] = table[n].name;
		keys[n] = vals[n] = NULL;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		if (k->type != YAML_SCALAR_NODE) {
			error_at(ld, k, "expected a key name%s, got %s", where,
			         describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		size_t i = 0;
		while (i < n && strcmp(names[i], scalar(k)) != 0)
			i++;
		if (i == n) {
			char hint[96];
			did_you_mean(scalar(k), names, n, hint, sizeof(hint));
			error_at(ld, k, "unknown key '%.80s'%s%s", scalar(k), where, hint);
			ok = false;
			continue;
		}
		if (keys[i]) {
			error_at(ld, k, "duplicate key '%s'%s (first at line %u)", names[i], where,
			         (unsigned)keys[i]->start_mark.line + 1);
			ok = false;
			continue;
		}
		keys[i] = k;
		if (!check_shape(ld, &table[i], v)) {
			ok = false;
			continue;
		}
		vals[i] = v;
	}
	for (size_t i = 0; i < n; i++) {
		if (table[i].required && !keys[i]) {
			error_at(ld, map, "missing required key '%s'%s", names[i], where);
			ok = false;
		}
	}
	return ok;
}

/* Integer in [min, max]. */
static bool get_integer(struct loader *ld, const char *key, const yaml_node_t *v, long long min,
                        long long max, long long *out)
{
	const char *s = scalar(v);
	char *end;

	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (end == s || *end || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) {
		error_at(ld, v, "expected an integer for '%s', got '%.60s'", key, s);
		return false;
	}
	if (errno == ERANGE || x < min || x > max) {
		error_at(ld, v, "%s must be between %lld and %lld, got %.60s", key, min, max, s);
		return false;
	}
	*out = x;
	return true;
}

static bool get_duration(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t max_us,
                         const char *max_text, uint64_t *out)
{
	char why[200];

	if (scenario_parse_duration(scalar(v), out, why, sizeof(why))) {
		error_at(ld, v, "%s: %s", key, why);
		return false;
	}
	if (*out > max_us) {
		error_at(ld, v, "%s %s is out of range (max %s)", key, scalar(v), max_text);
		return false;
	}
	return true;
}

static bool get_size(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t *out)
{
	char why[200];

	if (scenario_parse_size(scalar(v), out, why, sizeof(why))) {
		error_at(ld, v, "%s: %s", key, why);
		return false;
	}
	if (*out > SCENARIO_SIZE_MAX) {
		error_at(ld, v, "%s %s is out of range (max 100MB)", key, scalar(v));
		return false;
	}
	return true;
}

/* A name: non-empty, at most SCENARIO_NAME_MAX, safe as a folder name. */
static bool check_name(struct loader *ld, const char *what, const yaml_node_t *v)
{
	const char *s = scalar(v);

	if (strlen(s) > SCENARIO_NAME_MAX) {
		error_at(ld, v, "%s '%.40s...' is longer than %d characters", what, s,
		         SCENARIO_NAME_MAX);
		return false;
	}
	if (!scenario_name_is_safe(s)) {
		error_at(ld, v,
		         "%s '%s' has characters unsafe for a folder name (use letters, digits, "
		         "'-', '_' and '.', starting with a letter or digit)",
		         what, s);
		return false;
	}
	return true;
}

static bool tailnet_is_dns_name(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > SCENARIO_TAILNET_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || (c == '-' && label > 0);
		if (!ok)
			return false;
		label++;
	}
	return true;
}

/* Link parameters (a link or `access`) from collected values at the
 * given table indexes. */
static bool get_link_params(struct loader *ld, yaml_node_t *lat, yaml_node_t *bw, yaml_node_t *loss,
                            struct scenario_link_params *out)
{
	bool ok = true;
	char why[200];

	if (lat &&
	    !get_duration(ld, "latency", lat, SCENARIO_LATENCY_MAX_US, "10s", &out->latency_us))
		ok = false;
	if (bw) {
		uint64_t bps;
		if (scenario_parse_bandwidth(scalar(bw), &bps, why, sizeof(why))) {
			error_at(ld, bw, "bandwidth: %s", why);
			ok = false;
		} else if (bps == 0) {
			error_at(ld, bw, "bandwidth must be more than 0");
			ok = false;
		} else if (bps > SCENARIO_BANDWIDTH_MAX) {
			error_at(ld, bw, "bandwidth %s is out of range (max 400Gbps)", scalar(bw));
			ok = false;
		} else {
			out->bandwidth_bps = bps;
		}
	}
	if (loss) {
		double f;
		if (scenario_parse_percent(scalar(loss), &f, why, sizeof(why))) {
			error_at(ld, loss, "loss: %s", why);
			ok = false;
		} else if (f > 1.0) {
			error_at(ld, loss, "loss %s is above 100%%", scalar(loss));
			ok = false;
		} else {
			out->loss = f;
		}
	}
	return ok;
}

static int region_find(const struct scenario *sc, const char *name)
{
	for (int i = 0; i < sc->region_count; i++)
		if (!strcmp(sc->regions[i].name, name))
			return i;
	return -1;
}

/* A region reference: the index, or -1 after reporting it (with a did
 * you mean among the declared regions). */
static int region_ref(struct loader *ld, const yaml_node_t *v)
{
	char buf[80];

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		error_at(ld, v, "expected a region name, got %s", describe(v, buf, sizeof(buf)));
		return -1;
	}
	int r = region_find(ld->sc, scalar(v));
	if (r >= 0)
		return r;

	const char **names = malloc(sizeof(*names) * (size_t)(ld->sc->region_count + 1));
	char hint[96] = "";
	if (names) {
		for (int i = 0; i < ld->sc->region_count; i++)
			names[i] = ld->sc->regions[i].name;
		did_you_mean(scalar(v), names, (size_t)ld->sc->region_count, hint, sizeof(hint));
		free(names);
	}
	error_at(ld, v, "unknown region '%.80s'%s", scalar(v), hint);
	return -1;
}

static bool load_regions(struct loader *ld, const yaml_node_t *map)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	bool ok = true;
	char buf[80];

	if (n == 0) {
		error_at(ld, map, "regions must name at least one region");
		return false;
	}
	if (n > SCENARIO_REGIONS_MAX) {
		error_at(ld, map, "too many regions: %zu (max %d)", n, SCENARIO_REGIONS_MAX);
		return false;
	}
	sc->regions = calloc(n, sizeof(*sc->regions));
	if (!sc->regions) {
		ld->oom = true;
		return false;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			error_at(ld, k, "expected a region name, got %s",
			         describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		if (!check_name(ld, "region name", k)) {
			ok = false;
			continue;
		}
		int dup = region_find(sc, scalar(k));
		if (dup >= 0) {
			/* find the first key's line for the message */
			unsigned line = 0;
			for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
				yaml_node_t *qk = node_get(ld, q->key);
				if (qk->type == YAML_SCALAR_NODE &&
				    !strcmp(scalar(qk), scalar(k))) {
					line = (unsigned)qk->start_mark.line + 1;
					break;
				}
			}
			error_at(ld, k, "duplicate region '%s' (first at line %u)", scalar(k),
			         line);
			ok = false;
			continue;
		}
		if (v->type == YAML_MAPPING_NODE) {
			if (v->data.mapping.pairs.top != v->data.mapping.pairs.start) {
				yaml_node_t *k0 = node_get(ld, v->data.mapping.pairs.start->key);
				error_at(ld, k0,
				         "unknown key '%.60s' in region '%s' (regions take no keys "
				         "in this version; use {})",
				         k0->type == YAML_SCALAR_NODE ? scalar(k0) : "?",
				         scalar(k));
				ok = false;
			}
		} else if (!is_null(v)) {
			error_at(ld, v, "expected a mapping ({}) for region '%s', got %s",
			         scalar(k), describe(v, buf, sizeof(buf)));
			ok = false;
		}
		snprintf(sc->regions[sc->region_count].name, sizeof(sc->regions[0].name), "%s",
		         scalar(k));
		sc->region_count++;
	}
	return ok;
}

static bool load_links(struct loader *ld, const yaml_node_t *seq,
                       const struct scenario_link_params *defaults)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	bool ok = true;
	char buf[80];
	unsigned *first_line;

	if (n > SCENARIO_LINKS_MAX) {
		error_at(ld, seq, "too many links: %zu (max %d)", n, SCENARIO_LINKS_MAX);
		return false;
	}
	sc->links = calloc(n ? n : 1, sizeof(*sc->links));
	first_line = calloc(n ? n : 1, sizeof(*first_line));
	if (!sc->links || !first_line) {
		free(first_line);
		ld->oom = true;
		return false;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node_get(ld, *it), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		if (item->type != YAML_MAPPING_NODE) {
			error_at(ld, item, "expected a mapping for a link, got %s",
			         describe(item, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		if (!collect(ld, item, SCENARIO_SECTION_LINK, " in link", keys, vals)) {
			ok = false;
			/* still check what can be checked */
		}
		struct scenario_link link = {.region_a = -1, .region_b = -1, .params = *defaults};
		bool link_ok = true;
		if (vals[LINK_BETWEEN]) {
			yaml_node_t *b = vals[LINK_BETWEEN];
			size_t bn =
			    (size_t)(b->data.sequence.items.top - b->data.sequence.items.start);
			if (bn != 2) {
				error_at(ld, b, "between must name exactly two regions, got %zu",
				         bn);
				link_ok = false;
			} else {
				yaml_node_t *ra = node_get(ld, b->data.sequence.items.start[0]);
				yaml_node_t *rb = node_get(ld, b->data.sequence.items.start[1]);
				link.region_a = region_ref(ld, ra);
				link.region_b = region_ref(ld, rb);
				if (link.region_a < 0 || link.region_b < 0) {
					link_ok = false;
				} else if (link.region_a == link.region_b) {
					error_at(ld, rb, "link from region '%s' to itself",
					         sc->regions[link.region_a].name);
					link_ok = false;
				} else {
					for (int i = 0; i < sc->link_count; i++) {
						struct scenario_link *o = &sc->links[i];
						if ((o->region_a == link.region_a &&
						     o->region_b == link.region_b) ||
						    (o->region_a == link.region_b &&
						     o->region_b == link.region_a)) {
							error_at(
							    ld, b,
							    "duplicate link between '%s' and '%s' "
							    "(first at line %u)",
							    sc->regions[link.region_a].name,
							    sc->regions[link.region_b].name,
							    first_line[i]);
							link_ok = false;
							break;
						}
					}
				}
			}
		}
		if (!get_link_params(ld, vals[LINK_LATENCY], vals[LINK_BANDWIDTH], vals[LINK_LOSS],
		                     &link.params))
			link_ok = false;
		if (!link_ok || !vals[LINK_BETWEEN] || !vals[LINK_LATENCY]) {
			ok = false;
			continue;
		}
		first_line[sc->link_count] = (unsigned)item->start_mark.line + 1;
		sc->links[sc->link_count++] = link;
	}
	free(first_line);
	return ok;
}

/* ---- raw values kept as JSON text ---- */

struct strbuf {
	char *data;
	size_t len, cap;
	bool overflow;
};

static void sb_put(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->overflow)
		return;
	if (sb->len + n + 1 > SCENARIO_RAW_MAX) {
		sb->overflow = true;
		return;
	}
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 64;
		while (cap < sb->len + n + 1)
			cap *= 2;
		char *d = realloc(sb->data, cap);
		if (!d) {
			sb->overflow = true;
			return;
		}
		sb->data = d;
		sb->cap = cap;
	}
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

static void sb_json_string(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	sb_put(sb, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p};
			sb_put(sb, e, 2);
		} else if (*p < 0x20) {
			char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
			sb_put(sb, e, 6);
		} else {
			sb_put(sb, (const char *)p, 1);
		}
	}
	sb_put(sb, "\"", 1);
}

/* Renders a YAML node as compact JSON (scalars as strings). */
static bool to_json(struct loader *ld, const yaml_node_t *n, struct strbuf *sb, int depth)
{
	if (depth > 32)
		return false;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (is_null(n))
			sb_put(sb, "null", 4);
		else
			sb_json_string(sb, scalar(n));
		return true;
	case YAML_SEQUENCE_NODE:
		sb_put(sb, "[", 1);
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			if (it != n->data.sequence.items.start)
				sb_put(sb, ",", 1);
			if (!to_json(ld, node_get(ld, *it), sb, depth + 1))
				return false;
		}
		sb_put(sb, "]", 1);
		return true;
	case YAML_MAPPING_NODE:
		sb_put(sb, "{", 1);
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_get(ld, p->key);
			if (p != n->data.mapping.pairs.start)
				sb_put(sb, ",", 1);
			if (k->type != YAML_SCALAR_NODE)
				return false;
			sb_json_string(sb, scalar(k));
			sb_put(sb, ":", 1);
			if (!to_json(ld, node_get(ld, p->value), sb, depth + 1))
				return false;
		}
		sb_put(sb, "}", 1);
		return true;
	case YAML_NO_NODE:
		break;
	}
	return false;
}

/* Stores a raw value as JSON; `scalars_only` requires a sequence of
 * scalars (tags, serve). */
static bool get_raw(struct loader *ld, const char *key, const yaml_node_t *v, bool scalars_only,
                    char **out)
{
	struct strbuf sb = {0};
	char buf[80];

	if (scalars_only) {
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *item = node_get(ld, *it);
			if (item->type != YAML_SCALAR_NODE || is_null(item)) {
				error_at(ld, item, "expected a scalar in '%s', got %s", key,
				         describe(item, buf, sizeof(buf)));
				return false;
			}
		}
	}
	if (!to_json(ld, v, &sb, 0)) {
		free(sb.data);
		error_at(ld, v, "value of '%s' must use string keys and nest at most 32 deep", key);
		return false;
	}
	if (sb.overflow) {
		free(sb.data);
		error_at(ld, v, "value of '%s' is too large (max %d bytes)", key, SCENARIO_RAW_MAX);
		return false;
	}
	*out = sb.data;
	return true;
}

static int group_cmp(const void *a, const void *b)
{
	const struct scenario_node_group *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);
	if (c)
		return c;
	return (*x < *y) ? -1 : (*x > *y);
}

static unsigned digits_of(uint32_t v)
{
	unsigned d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* Expanded names must be unique: equal group names, and a single node
 * named like another group's expansion ("client-3" next to client x5). */
static bool check_node_names(struct loader *ld, yaml_node_t **name_nodes)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)sc->group_count;
	struct scenario_node_group **sorted = malloc(sizeof(*sorted) * (n ? n : 1));
	bool ok = true;

	if (!sorted) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &sc->groups[i];
	qsort(sorted, n, sizeof(*sorted), group_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) != 0)
			continue;
		size_t later = (size_t)(sorted[i] - sc->groups);
		size_t first = (size_t)(sorted[i - 1] - sc->groups);
		error_at(ld, name_nodes[later], "duplicate node name '%s' (first at line %u)",
		         sorted[i]->name, (unsigned)name_nodes[first]->start_mark.line + 1);
		ok = false;
	}
	for (size_t i = 0; i < n; i++) {
		struct scenario_node_group *g = &sc->groups[i];
		if (g->count != 1)
			continue;
		char *dash = strrchr(g->name, '-');
		if (!dash || !dash[1] || (dash[1] == '0' && dash[2]))
			continue;
		char *end;
		unsigned long idx = strtoul(dash + 1, &end, 10);
		if (*end || dash[1] < '0' || dash[1] > '9')
			continue;
		struct scenario_node_group key;
		struct scenario_node_group *keyp = &key;
		size_t plen = (size_t)(dash - g->name);
		memcpy(key.name, g->name, plen);
		key.name[plen] = '\0';
		/* any group with that exact prefix name and count > idx */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(sorted[mid]->name, keyp->name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && !strcmp(sorted[lo]->name, key.name); lo++) {
			if (sorted[lo]->count > 1 && idx < sorted[lo]->count) {
				size_t other = (size_t)(sorted[lo] - sc->groups);
				error_at(
				    ld, name_nodes[i],
				    "duplicate node name '%s' (node '%s' with count %u at line %u "
				    "makes it too)",
				    g->name, sorted[lo]->name, sorted[lo]->count,
				    (unsigned)name_nodes[other]->start_mark.line + 1);
				ok = false;
				break;
			}
		}
	}
	free(sorted);
	return ok;
}

static bool load_nodes(struct loader *ld, const yaml_node_t *key_node, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	bool ok = true;
	uint64_t total = 0;
	char buf[80];
	yaml_node_t **name_nodes;

	if (n == 0) {
		error_at(ld, seq, "nodes must list at least one node");
		return false;
	}
	if (n > SCENARIO_NODES_MAX) {
		error_at(ld, key_node, "too many nodes: %zu entries (max %d)", n,
		         SCENARIO_NODES_MAX);
		return false;
	}
	sc->groups = calloc(n, sizeof(*sc->groups));
	name_nodes = calloc(n, sizeof(*name_nodes));
	if (!sc->groups || !name_nodes) {
		free(name_nodes);
		ld->oom = true;
		return false;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node_get(ld, *it), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		if (item->type != YAML_MAPPING_NODE) {
			error_at(ld, item, "expected a mapping for a node, got %s",
			         describe(item, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		bool node_ok = collect(ld, item, SCENARIO_SECTION_NODE, " in node", keys, vals);
		struct scenario_node_group g = {.region = -1, .count = 1};
		if (vals[NODE_NAME]) {
			if (check_name(ld, "node name", vals[NODE_NAME]))
				snprintf(g.name, sizeof(g.name), "%s", scalar(vals[NODE_NAME]));
			else
				node_ok = false;
		}
		if (vals[NODE_REGION]) {
			g.region = region_ref(ld, vals[NODE_REGION]);
			if (g.region < 0)
				node_ok = false;
		}
		if (vals[NODE_COUNT]) {
			long long c;
			if (get_integer(ld, "count", vals[NODE_COUNT], 1, SCENARIO_COUNT_MAX, &c))
				g.count = (uint32_t)c;
			else
				node_ok = false;
		}
		if (g.name[0] && g.count > 1 &&
		    strlen(g.name) + 1 + digits_of(g.count - 1) > SCENARIO_NAME_MAX) {
			error_at(
			    ld, vals[NODE_NAME],
			    "node name '%s' with count %u makes names longer than %d characters",
			    g.name, g.count, SCENARIO_NAME_MAX);
			node_ok = false;
		}
		if (vals[NODE_TAGS] && !get_raw(ld, "tags", vals[NODE_TAGS], true, &g.tags_json))
			node_ok = false;
		if (vals[NODE_USER]) {
			g.user = strdup(scalar(vals[NODE_USER]));
			if (!g.user)
				ld->oom = true;
		}
		if (vals[NODE_BACKENDS] &&
		    !get_raw(ld, "backends", vals[NODE_BACKENDS], false, &g.backends_json))
			node_ok = false;
		if (vals[NODE_SERVE] &&
		    !get_raw(ld, "serve", vals[NODE_SERVE], true, &g.serve_json))
			node_ok = false;
		/* stored even when bad so scenario_free releases the raw strings */
		name_nodes[sc->group_count] = vals[NODE_NAME] ? vals[NODE_NAME] : item;
		g.first_index = (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total);
		total += g.count;
		sc->groups[sc->group_count++] = g;
		if (!node_ok || !g.name[0] || g.region < 0)
			ok = false;
	}
	if (total > SCENARIO_NODES_MAX) {
		error_at(ld, key_node, "too many nodes: %llu in total after count (max %d)",
		         (unsigned long long)total, SCENARIO_NODES_MAX);
		ok = false;
	}
	if (ok)
		ok = check_node_names(ld, name_nodes);
	sc->node_count = (uint32_t)(total > SCENARIO_NODES_MAX ? 0 : total);
	free(name_nodes);
	return ok;
}

static bool load_underlay_workload(struct loader *ld, const yaml_node_t *v, bool duration_ok)
{
	struct scenario *sc = ld->sc;
	struct scenario_underlay_workload *w = &sc->underlay_workload;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	char why[200];
	bool ok;

	w->stop_us = sc->duration_us;
	if (!v)
		return true;
	if (v->type == YAML_SCALAR_NODE) {
		if (!strcmp(scalar(v), "off"))
			w->enabled = false;
		return true; /* null: defaults */
	}
	ok =
	    collect(ld, v, SCENARIO_SECTION_UNDERLAY_WORKLOAD, " in underlay_workload", keys, vals);
	if (vals[RR_RATE]) {
		if (scenario_parse_rate(scalar(vals[RR_RATE]), &w->rate_per_s, why, sizeof(why))) {
			error_at(ld, vals[RR_RATE], "rate: %s", why);
			ok = false;
		} else if (w->rate_per_s > SCENARIO_RATE_MAX) {
			error_at(ld, vals[RR_RATE], "rate %s is out of range (max 100000/s)",
			         scalar(vals[RR_RATE]));
			ok = false;
		}
	}
	if (vals[RR_REQUEST] && !get_size(ld, "request", vals[RR_REQUEST], &w->request_bytes))
		ok = false;
	if (vals[RR_RESPONSE] && !get_size(ld, "response", vals[RR_RESPONSE], &w->response_bytes))
		ok = false;
	if (vals[RR_START] && !get_duration(ld, "start", vals[RR_START], SCENARIO_DURATION_MAX_US,
	                                    "1 day", &w->start_us))
		ok = false;
	if (vals[RR_STOP] && !get_duration(ld, "stop", vals[RR_STOP], SCENARIO_DURATION_MAX_US,
	                                   "1 day", &w->stop_us))
		ok = false;
	if (vals[RR_PORT]) {
		long long port;
		if (get_integer(ld, "port", vals[RR_PORT], 1, 65535, &port))
			w->port = (uint16_t)port;
		else
			ok = false;
	}
	if (ok && duration_ok && w->stop_us > sc->duration_us) {
		error_at(ld, vals[RR_STOP], "stop %s is after the end of the run (duration %llus)",
		         scalar(vals[RR_STOP]), (unsigned long long)(sc->duration_us / 1000000));
		ok = false;
	}
	if (ok && w->start_us >= w->stop_us) {
		const yaml_node_t *at = vals[RR_START] ? vals[RR_START] : v;
		error_at(ld, at, "start must be before stop (start %lluus, stop %lluus)",
		         (unsigned long long)w->start_us, (unsigned long long)w->stop_us);
		ok = false;
	}
	return ok;
}

/* Union-find over regions to warn about regions nothing can reach. */
static int uf_find(int *parent, int x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

static void warn_disconnected(struct loader *ld, const yaml_node_t *at)
{
	struct scenario *sc = ld->sc;
	int parent[SCENARIO_REGIONS_MAX];
	bool used[SCENARIO_REGIONS_MAX] = {false};

	for (int i = 0; i < sc->region_count; i++)
		parent[i] = i;
	for (int i = 0; i < sc->link_count; i++)
		parent[uf_find(parent, sc->links[i].region_a)] =
		    uf_find(parent, sc->links[i].region_b);
	for (int i = 0; i < sc->group_count; i++)
		used[sc->groups[i].region] = true;
	int first = -1;
	for (int i = 0; i < sc->region_count; i++) {
		if (!used[i])
			continue;
		if (first < 0) {
			first = i;
		} else if (uf_find(parent, i) != uf_find(parent, first)) {
			warn_at(ld, at,
			        "region '%s' has no path to region '%s' (add a link); their nodes "
			        "cannot reach each other",
			        sc->regions[i].name, sc->regions[first].name);
		}
	}
}

/* The whole document. */
static bool load_top(struct loader *ld, yaml_node_t *root)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	char buf[80];
	bool ok, duration_ok = true;

	if (root->type != YAML_MAPPING_NODE) {
		error_at(ld, root, "expected a mapping at the top level, got %s",
		         describe(root, buf, sizeof(buf)));
		return false;
	}
	ok = collect(ld, root, SCENARIO_SECTION_TOP, "", keys, vals);

	if (vals[TOP_NAME]) {
		if (check_name(ld, "name", vals[TOP_NAME]))
			snprintf(sc->name, sizeof(sc->name), "%s", scalar(vals[TOP_NAME]));
		else
			ok = false;
	}
	if (vals[TOP_SEED]) {
		long long seed;
		if (get_integer(ld, "seed", vals[TOP_SEED], 1, (long long)SCENARIO_SEED_MAX, &seed))
			sc->seed = (uint64_t)seed;
		else
			ok = false;
	}
	if (vals[TOP_DURATION]) {
		if (!get_duration(ld, "duration", vals[TOP_DURATION], SCENARIO_DURATION_MAX_US,
		                  "1 day", &sc->duration_us)) {
			ok = duration_ok = false;
		} else if (sc->duration_us == 0) {
			error_at(ld, vals[TOP_DURATION], "duration must be more than 0");
			ok = duration_ok = false;
		}
	}
	if (vals[TOP_TAILNET]) {
		if (tailnet_is_dns_name(scalar(vals[TOP_TAILNET]))) {
			snprintf(sc->tailnet, sizeof(sc->tailnet), "%s", scalar(vals[TOP_TAILNET]));
		} else {
			error_at(ld, vals[TOP_TAILNET], "tailnet '%.80s' is not a DNS name",
			         scalar(vals[TOP_TAILNET]));
			ok = false;
		}
	}
	bool regions_ok = vals[TOP_REGIONS] && load_regions(ld, vals[TOP_REGIONS]);
	if (vals[TOP_REGIONS] && !regions_ok)
		ok = false;
	if (vals[TOP_ACCESS]) {
		yaml_node_t *ak[SCENARIO_KEYS_MAX], *av[SCENARIO_KEYS_MAX];
		if (!collect(ld, vals[TOP_ACCESS], SCENARIO_SECTION_ACCESS, " in access", ak, av))
			ok = false;
		if (!get_link_params(ld, av[ACCESS_LATENCY], av[ACCESS_BANDWIDTH], av[ACCESS_LOSS],
		                     &sc->access))
			ok = false;
	}
	/* Links and nodes name regions: check them only against a good list
	 * so one mistake is not reported many times. */
	struct scenario_link_params link_defaults = {.bandwidth_bps = 10000000000ull};
	if (regions_ok && vals[TOP_LINKS] && !load_links(ld, vals[TOP_LINKS], &link_defaults))
		ok = false;
	bool nodes_ok =
	    regions_ok && vals[TOP_NODES] && load_nodes(ld, keys[TOP_NODES], vals[TOP_NODES]);
	if (vals[TOP_NODES] && !nodes_ok)
		ok = false;
	if (keys[TOP_UNDERLAY_WORKLOAD] && !vals[TOP_UNDERLAY_WORKLOAD])
		ok = false;
	else if (!load_underlay_workload(ld, vals[TOP_UNDERLAY_WORKLOAD], duration_ok))
		ok = false;
	for (int i = TOP_CONTROL; i <= TOP_EXPECT; i++) {
		if (vals[i])
			warn_at(ld, keys[i],
			        "key '%s' is not implemented yet by this simrun version; ignored",
			        scenario_top_keys[i].name);
	}
	if (ok && sc->underlay_workload.enabled && sc->node_count < 2)
		warn_at(ld, keys[TOP_NODES],
		        "the underlay workload needs at least two nodes; it sends nothing");
	if (ok && regions_ok && nodes_ok)
		warn_disconnected(ld, keys[TOP_LINKS] ? keys[TOP_LINKS] : keys[TOP_REGIONS]);
	return ok;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct scenario_diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return 0;
}

/* Insertion sort: stable, and at most SCENARIO_DIAGS_MAX items. */
static void diags_sort(struct scenario_diags *diags)
{
	for (size_t i = 1; i < diags->count; i++) {
		struct scenario_diag d = diags->items[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&diags->items[j - 1], &d) > 0) {
			diags->items[j] = diags->items[j - 1];
			j--;
		}
		diags->items[j] = d;
	}
}

static void scenario_defaults(struct scenario *sc)
{
	sc->seed = 1;
	sc->duration_us = 10ull * 1000000;
	snprintf(sc->tailnet, sizeof(sc->tailnet), "example.ts.net");
	sc->access.latency_us = 1000;
	sc->access.bandwidth_bps = 1000000000ull;
	sc->access.loss = 0;
	sc->underlay_workload = (struct scenario_underlay_workload){
	    .enabled = true,
	    .rate_per_s = 1.0,
	    .request_bytes = 200,
	    .response_bytes = 2000,
	    .start_us = 0,
	    .stop_us = 0, /* duration, set after parsing */
	    .port = 7000,
	};
}

static void syntax_error(struct loader *ld, const yaml_parser_t *parser)
{
	char msg[400];
	const yaml_mark_t *m = &parser->problem_mark;

	if (parser->error == YAML_MEMORY_ERROR) {
		ld->oom = true;
		return;
	}
	if (parser->context)
		snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s at line %zu column %zu)",
		         parser->problem ? parser->problem : "?", parser->context,
		         parser->context_mark.line + 1, parser->context_mark.column + 1);
	else
		snprintf(msg, sizeof(msg), "YAML syntax error: %s",
		         parser->problem ? parser->problem : "?");
	diags_add(ld->diags, false, (unsigned)m->line + 1, (unsigned)m->column + 1, ld->filename,
	          msg);
}

int scenario_load_text(const char *text, size_t len, const char *filename, struct scenario **out,
                       struct scenario_diags *diags)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct scenario *sc;
	struct loader ld = {.filename = filename, .doc = &doc, .diags = diags};
	int err = -EINVAL;

	memset(diags, 0, sizeof(*diags));
	*out = NULL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	scenario_defaults(sc);
	ld.sc = sc;
	if (!yaml_parser_initialize(&parser)) {
		free(sc);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&ld, &parser);
		goto out_parser;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		diags_add(diags, false, 1, 1, filename,
		          "empty scenario file (expected a mapping with name, regions and nodes)");
		goto out_doc;
	}
	bool ok = load_top(&ld, root);

	yaml_document_t next;
	if (!yaml_parser_load(&parser, &next)) {
		syntax_error(&ld, &parser);
		ok = false;
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&next);
		if (r2) {
			ld.doc = &next;
			error_at(&ld, r2, "only one YAML document is allowed in a scenario file");
			ld.doc = &doc;
			ok = false;
		}
		yaml_document_delete(&next);
	}
	if (ok && !ld.oom) {
		*out = sc;
		sc = NULL;
		err = 0;
	}
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	if (ld.oom) {
		err = -ENOMEM;
		diags_add(diags, false, 0, 0, filename, "out of memory");
	}
	scenario_free(sc);
	diags_sort(diags);
	CHECK(err != -EINVAL || diags->errors > 0);
	return err;
}

int scenario_load_file(const char *path, struct scenario **out, struct scenario_diags *diags)
{
	FILE *f;
	char *buf;
	size_t n;
	int err;
	char msg[300];

	memset(diags, 0, sizeof(*diags));
	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-err));
		diags_add(diags, false, 0, 0, path, msg);
		return err;
	}
	buf = malloc(SCENARIO_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, SCENARIO_FILE_MAX + 1, f);
	if (ferror(f)) {
		err = -EIO;
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
		diags_add(diags, false, 0, 0, path, msg);
		goto out;
	}
	if (n > SCENARIO_FILE_MAX) {
		err = -EFBIG;
		snprintf(msg, sizeof(msg), "file is larger than %u bytes", SCENARIO_FILE_MAX);
		diags_add(diags, false, 0, 0, path, msg);
		goto out;
	}
	err = scenario_load_text(buf, n, path, out, diags);
out:
	free(buf);
	fclose(f);
	return err;
}

void scenario_free(struct scenario *sc)
{
	if (!sc)
		return;
	for (int i = 0; i < sc->group_count; i++) {
		free(sc->groups[i].tags_json);
		free(sc->groups[i].user);
		free(sc->groups[i].backends_json);
		free(sc->groups[i].serve_json);
	}
	free(sc->groups);
	free(sc->links);
	free(sc->regions);
	free(sc);
}

void scenario_diags_print(const struct scenario_diags *diags, FILE *out)
{
	for (size_t i = 0; i < diags->count; i++)
		fprintf(out, "%s\n", diags->items[i].text);
	if (diags->dropped)
		fprintf(out, "(%zu more diagnostics not shown)\n", diags->dropped);
}

const struct scenario_node_group *scenario_node_name(const struct scenario *sc, uint32_t index,
                                                     char *buf, size_t len)
{
	int lo = 0, hi = sc->group_count - 1;

	if (index >= sc->node_count)
		return NULL;
	/* last group whose first_index <= index (groups are in order) */
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (sc->groups[mid].first_index <= index)
			lo = mid;
		else
			hi = mid - 1;
	}
	const struct scenario_node_group *g = &sc->groups[lo];
	if (g->count == 1)
		snprintf(buf, len, "%s", g->name);
	else
		snprintf(buf, len, "%s-%u", g->name, index - g->first_index);
	return g;
}
