/* What every section's loader shares: diagnostics at YAML positions, a
 * mapping checked against a key table (unknown keys with a did-you-mean,
 * duplicates, shapes, required keys), scalar values (integers, durations,
 * sizes, names, one of a word list), and the strings a scenario owns. */
#include "sim/scenario/scenario_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ld_diags_add(struct scenario_diags *diags, bool warning, unsigned line, unsigned col,
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

void ld_report(struct loader *ld, bool warning, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld_diags_add(ld->diags, warning, (unsigned)at->start_mark.line + 1,
	             (unsigned)at->start_mark.column + 1, ld->filename, msg);
}

/* An error at a remembered position (line, column 1-based). */
void ld_error_pos(struct loader *ld, unsigned line, unsigned column, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld_diags_add(ld->diags, false, line, column, ld->filename, msg);
}

/* "a mapping", "a sequence", "'text'" or "nothing": what a value is. */
const char *ld_describe(const yaml_node_t *n, char *buf, size_t len)
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

/* True when a sequence item is a mapping; else reports "expected a mapping
 * for `what`" at it. */
bool ld_is_mapping_for(struct loader *ld, const yaml_node_t *item, const char *what)
{
	char buf[80];

	if (item->type == YAML_MAPPING_NODE)
		return true;
	error_at(ld, item, "expected a mapping for %s, got %s", what,
	         ld_describe(item, buf, sizeof(buf)));
	return false;
}

/* Checks a value's YAML shape against a key's kind. */
static bool check_shape(struct loader *ld, const struct scenario_key *key, const yaml_node_t *v)
{
	char buf[80];
	const char *want = NULL;

	switch (key->kind) {
	case SCENARIO_KIND_MAPPING:
	case SCENARIO_KIND_ENTRIES:
	case SCENARIO_KIND_OBJECT:
	case SCENARIO_KIND_FILES:
		if (v->type == YAML_MAPPING_NODE)
			return true;
		want = "a mapping";
		break;
	case SCENARIO_KIND_SEQUENCE:
	case SCENARIO_KIND_PAIR:
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
		want =
		    key->kind == SCENARIO_KIND_STRING || key->kind == SCENARIO_KIND_NAME
		        ? "a scalar"
		        : (key->kind == SCENARIO_KIND_DURATION    ? "a duration"
		           : key->kind == SCENARIO_KIND_RATE      ? "a rate"
		           : key->kind == SCENARIO_KIND_BANDWIDTH ? "a bandwidth"
		           : key->kind == SCENARIO_KIND_SIZE      ? "a size"
		           : key->kind == SCENARIO_KIND_PERCENT   ? "a percentage"
		                                                : "a comparison like \"< 400ms\"");
		break;
	}
	error_at(ld, v, "expected %s for '%s', got %s", want, key->name,
	         ld_describe(v, buf, sizeof(buf)));
	return false;
}

/* One mapping checked against a key table: unknown keys (with a did you
 * mean), duplicates, shapes and required keys. vals[i]/keys[i] receive the
 * value/key node of table entry i, or NULL. Returns false on any error. */
bool ld_collect(struct loader *ld, const yaml_node_t *map, enum scenario_section section,
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
			         ld_describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		size_t i = 0;
		while (i < n && strcmp(names[i], scalar(k)) != 0)
			i++;
		if (i == n) {
			char hint[96];
			ld_did_you_mean(scalar(k), names, n, hint, sizeof(hint));
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
bool ld_get_integer(struct loader *ld, const char *key, const yaml_node_t *v, long long min,
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

bool ld_get_duration(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t max_us,
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

bool ld_get_size(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t *out)
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
bool ld_check_name(struct loader *ld, const char *what, const yaml_node_t *v)
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

#define SCENARIO_CHUNK_BYTES 65536

/* Copies n bytes of s (plus a NUL) into the scenario's string chunks. On
 * allocation failure marks the load out of memory and returns "". */
const char *ld_strndup(struct loader *ld, const char *s, size_t n)
{
	struct scenario_chunk *c = list_item(ld->sc->strings.first, struct scenario_chunk, link);

	if (!c || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > SCENARIO_CHUNK_BYTES ? n + 1 : SCENARIO_CHUNK_BYTES;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			ld->oom = true;
			return "";
		}
		c->link = (struct list_node){0};
		c->used = 0;
		c->cap = cap;
		list_push_front(&ld->sc->strings, &c->link);
	}
	char *d = c->data + c->used;
	memcpy(d, s, n);
	d[n] = '\0';
	c->used += n + 1;
	return d;
}

const char *ld_strdup(struct loader *ld, const char *s)
{
	return ld_strndup(ld, s, strlen(s));
}

/* Every item of a sequence is a non-empty scalar (tags, serve lines, ports). */
bool ld_seq_scalars(struct loader *ld, const char *key, const yaml_node_t *seq)
{
	char buf[80];
	bool ok = true;

	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (item->type != YAML_SCALAR_NODE || is_null(item)) {
			error_at(ld, item, "expected a scalar in '%s', got %s", key,
			         ld_describe(item, buf, sizeof(buf)));
			ok = false;
		}
	}
	return ok;
}

/* "a, b or c" from a NULL-terminated word list. */
void ld_words_text(const char *const *words, char *buf, size_t len)
{
	size_t n = 0, count = 0;

	while (words[count])
		count++;
	buf[0] = '\0';
	for (size_t i = 0; i < count && n < len; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
		int w = snprintf(buf + n, len - n, "%s%s", sep, words[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* A scalar that must be one of `words`: its index, or -1 after reporting
 * "unknown <what> 'x' (expected a, b or c; did you mean 'b'?)". */
int ld_choice_ref(struct loader *ld, const char *what, const yaml_node_t *v,
                  const char *const *words)
{
	char list[200];
	size_t n = 0;

	for (; words[n]; n++)
		if (!strcmp(words[n], scalar(v)))
			return (int)n;
	ld_words_text(words, list, sizeof(list));
	const char *near = ld_nearest(scalar(v), words, n);
	if (near)
		error_at(ld, v, "unknown %s '%.80s' (expected %s; did you mean '%s'?)", what,
		         scalar(v), list, near);
	else
		error_at(ld, v, "unknown %s '%.80s' (expected %s)", what, scalar(v), list);
	return -1;
}
