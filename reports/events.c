/* Reading events.jsonl into the compact rp_data: a flat JSON-object scanner
 * (strings unescaped in place, numbers, literals; nested values skipped),
 * the string table, and the per-type reducers. */
#include "reports/report_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hash.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const rp_outcome_names[RP_OUTCOMES] = {
    "ok", "http_error", "refused", "reset", "timeout", "overload", "other",
};

/* ---- string table ---- */

/* Does the name with id `idx` equal `key`? */
static bool rp_names_eq(const void *ctx, size_t idx, const void *key)
{
	const struct rp_names *t = ctx;

	return strcmp(t->str[idx], key) == 0;
}

/* The id of s, or RP_NONE when it was never interned. */
uint32_t rp_names_find(const struct rp_names *t, const char *s)
{
	long id = htab_find(&t->index, hash_str(s), rp_names_eq, t, s);

	return id < 0 ? RP_NONE : (uint32_t)id;
}

/* Interns s (copied); *id its id. -ENOSPC past REPORT_MAX_NAMES. */
int rp_names_intern(struct rp_names *t, const char *s, uint32_t *id)
{
	uint32_t found = rp_names_find(t, s);

	if (found != RP_NONE) {
		*id = found;
		return 0;
	}
	if (t->n >= REPORT_MAX_NAMES)
		return -ENOSPC;
	if (htab_reserve(&t->index, t->n + 1) < 0)
		return -ENOMEM;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 128;
		char **str = realloc(t->str, cap * sizeof(*str));
		if (!str)
			return -ENOMEM;
		t->str = str;
		uint32_t *region = realloc(t->region, cap * sizeof(*region));
		if (!region)
			return -ENOMEM;
		t->region = region;
		t->cap = cap;
	}
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	t->str[t->n] = copy;
	t->region[t->n] = RP_NONE;
	int rc = htab_insert(&t->index, hash_str(s), t->n);
	CHECK(rc == 0); /* the room was reserved above */
	*id = (uint32_t)t->n++;
	return 0;
}

void rp_names_free(struct rp_names *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->str[i]);
	free(t->str);
	free(t->region);
	htab_free(&t->index);
	memset(t, 0, sizeof(*t));
}

/* ---- flat JSON object scanner ---- */

#define RP_FIELDS_MAX 32

enum rp_jtype { RP_J_STR, RP_J_NUM, RP_J_LIT, RP_J_NESTED };

struct rp_field {
	const char *key;
	enum rp_jtype type;
	const char *str; /* RP_J_STR: unescaped, NUL-terminated */
	double num;
	uint64_t u; /* RP_J_NUM: the value when a non-negative integer */
	bool is_uint;
};

static const char *rp_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static int rp_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Unescapes the string starting at the quote *pp in place; returns the
 * value (NUL-terminated inside the line) and moves *pp past the closing
 * quote, or NULL when malformed. */
static char *rp_jstring(char **pp)
{
	char *p = *pp + 1, *w = p, *start = p;

	for (;;) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20)
			return NULL;
		if (c != '\\') {
			*w++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case '"':
			*w++ = '"';
			break;
		case '\\':
			*w++ = '\\';
			break;
		case '/':
			*w++ = '/';
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'u': {
			unsigned cp, lo;
			if (rp_hex4(p + 1, &cp))
				return NULL;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p[1] != '\\' || p[2] != 'u' || rp_hex4(p + 3, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return NULL;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return NULL;
			}
			if (cp == 0)
				return NULL;
			if (cp < 0x80) {
				*w++ = (char)cp;
			} else if (cp < 0x800) {
				*w++ = (char)(0xc0 | (cp >> 6));
				*w++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*w++ = (char)(0xe0 | (cp >> 12));
				*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*w++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*w++ = (char)(0xf0 | (cp >> 18));
				*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
				*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*w++ = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default:
			return NULL;
		}
		p++;
	}
	*pp = p + 1;
	*w = '\0';
	return start;
}

/* Skips a nested object or array (strings respected); NULL if unbalanced. */
static char *rp_jskip_nested(char *p)
{
	int depth = 0;

	for (;;) {
		char c = *p;
		if (!c)
			return NULL;
		if (c == '"') {
			if (!rp_jstring(&p))
				return NULL;
			continue;
		}
		if (c == '{' || c == '[') {
			if (++depth > 64)
				return NULL;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return p + 1;
		}
		p++;
	}
}

/* Scans one line holding a JSON object into fields (keys and string
 * values unescaped in place). Returns the field count or -1 when the line
 * is not one well-formed object. */
static int rp_jscan(char *line, struct rp_field *f, int max)
{
	char *p = (char *)rp_ws(line);
	int n = 0;

	if (*p != '{')
		return -1;
	p = (char *)rp_ws(p + 1);
	if (*p == '}')
		return *rp_ws(p + 1) ? -1 : 0;
	for (;;) {
		struct rp_field tmp, *cur = n < max ? &f[n] : &tmp;
		if (*p != '"')
			return -1;
		cur->key = rp_jstring(&p);
		if (!cur->key)
			return -1;
		p = (char *)rp_ws(p);
		if (*p != ':')
			return -1;
		p = (char *)rp_ws(p + 1);
		cur->is_uint = false;
		if (*p == '"') {
			cur->type = RP_J_STR;
			cur->str = rp_jstring(&p);
			if (!cur->str)
				return -1;
		} else if (*p == '{' || *p == '[') {
			cur->type = RP_J_NESTED;
			p = rp_jskip_nested(p);
			if (!p)
				return -1;
		} else if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4)) {
			cur->type = RP_J_LIT;
			p += 4;
		} else if (!strncmp(p, "false", 5)) {
			cur->type = RP_J_LIT;
			p += 5;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			char *end = p;
			uint64_t u = 0;
			bool big = false;
			cur->type = RP_J_NUM;
			/* integers (almost every number in an event) without strtod */
			while (*end >= '0' && *end <= '9') {
				unsigned dgt = (unsigned)(*end++ - '0');
				big |= u > (UINT64_MAX - dgt) / 10;
				u = u * 10 + dgt;
			}
			if (end > p && !big && *end != '.' && *end != 'e' && *end != 'E' &&
			    (*p != '0' || end == p + 1)) {
				cur->u = u;
				cur->num = (double)u;
				cur->is_uint = true;
			} else {
				cur->num = strtod(p, &end);
				if (end == p || !isfinite(cur->num))
					return -1;
			}
			p = end;
		} else {
			return -1;
		}
		n++;
		p = (char *)rp_ws(p);
		if (*p == ',') {
			p = (char *)rp_ws(p + 1);
			continue;
		}
		if (*p != '}')
			return -1;
		return *rp_ws(p + 1) ? -1 : (n < max ? n : max);
	}
}

static const struct rp_field *rp_get(const struct rp_field *f, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(f[i].key, key) == 0)
			return &f[i];
	return NULL;
}

static const char *rp_get_str(const struct rp_field *f, int n, const char *key)
{
	const struct rp_field *x = rp_get(f, n, key);

	return x && x->type == RP_J_STR ? x->str : NULL;
}

static bool rp_get_u64(const struct rp_field *f, int n, const char *key, uint64_t *out)
{
	const struct rp_field *x = rp_get(f, n, key);

	if (!x || x->type != RP_J_NUM || !x->is_uint)
		return false;
	*out = x->u;
	return true;
}

/* ---- rp_data ---- */

/* Grows the name-indexed maps to cover every interned name. */
static int rp_maps_fit(struct rp_data *d)
{
	if (d->names.n <= d->map_cap)
		return 0;
	size_t cap = d->map_cap ? d->map_cap : 256;
	while (cap < d->names.n)
		cap *= 2;
	uint32_t *w = realloc(d->wl_of, cap * sizeof(*w));
	if (!w)
		return -ENOMEM;
	d->wl_of = w;
	uint32_t *h = realloc(d->host_of, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	d->host_of = h;
	memset(d->wl_of + d->map_cap, 0, (cap - d->map_cap) * sizeof(*w));
	memset(d->host_of + d->map_cap, 0, (cap - d->map_cap) * sizeof(*h));
	d->map_cap = cap;
	return 0;
}

static int rp_intern(struct rp_data *d, const char *s, uint32_t *id)
{
	int rc = rp_names_intern(&d->names, s, id);

	return rc ? rc : rp_maps_fit(d);
}

static int rp_grow(void **arr, size_t *cap, size_t n, size_t size, size_t max)
{
	if (n < *cap)
		return 0;
	if (n >= max)
		return -ENOSPC;
	size_t c = *cap ? *cap * 2 : 64;
	if (c > max)
		c = max;
	void *p = realloc(*arr, c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

static int rp_workload(struct rp_data *d, uint32_t w, size_t *idx);

/* Sets up the tables from the input: regions, workload services, the
 * names the expectations count. */
int rp_data_init(struct rp_data *d, const struct report_input *in, char *err, size_t err_len)
{
	int rc = 0;

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < in->n_regions; i++) {
		uint32_t node, region;
		if (!in->regions[i].node || !in->regions[i].region)
			return err_setf(err, err_len, -EINVAL, "region map entry %zu is incomplete",
			                i);
		rc = rp_intern(d, in->regions[i].region, &region);
		if (!rc)
			rc = rp_intern(d, in->regions[i].node, &node);
		if (rc)
			goto fail;
		d->names.region[node] = region;
	}
	for (size_t i = 0; i < in->n_services; i++) {
		uint32_t w, s;
		if (!in->services[i].workload || !in->services[i].service)
			return err_setf(err, err_len, -EINVAL,
			                "service map entry %zu is incomplete", i);
		rc = rp_intern(d, in->services[i].workload, &w);
		if (!rc)
			rc = rp_intern(d, in->services[i].service, &s);
		if (rc)
			goto fail;
		size_t wi;
		rc = rp_workload(d, w, &wi);
		if (rc)
			goto fail;
		if (d->wl[wi].service == RP_NONE)
			d->wl[wi].service = s;
	}
	d->ex = in->expects;
	d->n_ex = in->n_expects;
	if (d->n_ex) {
		d->ex_node = calloc(d->n_ex, sizeof(*d->ex_node));
		d->ex_count = calloc(d->n_ex, sizeof(*d->ex_count));
		if (!d->ex_node || !d->ex_count) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < d->n_ex; i++) {
		d->ex_node[i] = RP_NONE;
		if (d->ex[i].kind == EXPECT_NEW_CONNECTIONS) {
			rc = rp_intern(d, d->ex[i].node, &d->ex_node[i]);
			if (rc)
				goto fail;
		}
	}
	d->end_us = in->simulated_s > 0 ? (uint64_t)llround(in->simulated_s * 1e6) : 0;
	return 0;
fail:
	return err_setf(err, err_len, rc, "report tables: %s", strerror(-rc));
}

void rp_data_free(struct rp_data *d)
{
	for (size_t i = 0; i < d->n_hosts; i++)
		free(d->hosts[i].series);
	free(d->hosts);
	free(d->wl);
	free(d->wl_of);
	free(d->host_of);
	free(d->req);
	free(d->states);
	free(d->marks);
	free(d->ex_node);
	free(d->ex_count);
	free(d->failed_pcaps);
	rp_names_free(&d->names);
	memset(d, 0, sizeof(*d));
}

/* The workload index of name id w, created on first sight. */
static int rp_workload(struct rp_data *d, uint32_t w, size_t *idx)
{
	if (!d->wl_of[w]) {
		if (d->n_wl >= REPORT_MAX_WORKLOADS)
			return -ENOSPC;
		struct rp_workload *nw = realloc(d->wl, (d->n_wl + 1) * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		d->wl = nw;
		memset(&d->wl[d->n_wl], 0, sizeof(*d->wl));
		d->wl[d->n_wl].name = w;
		d->wl[d->n_wl].service = RP_NONE;
		d->wl_of[w] = (uint32_t)++d->n_wl;
	}
	*idx = d->wl_of[w] - 1;
	return 0;
}

/* The host index of name id h, created on first sight. */
static int rp_host(struct rp_data *d, uint32_t h, struct rp_host **out)
{
	if (!d->host_of[h]) {
		if (d->n_hosts >= REPORT_MAX_HOSTS)
			return -ENOSPC;
		struct rp_host *nh = realloc(d->hosts, (d->n_hosts + 1) * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		d->hosts = nh;
		memset(&d->hosts[d->n_hosts], 0, sizeof(*d->hosts));
		d->hosts[d->n_hosts].name = h;
		d->host_of[h] = (uint32_t)++d->n_hosts;
	}
	*out = &d->hosts[d->host_of[h] - 1];
	return 0;
}

/* Records the host's open count for every whole second before t_us. */
static int rp_series_to(struct rp_host *h, uint64_t t_us, bool inclusive)
{
	for (;;) {
		uint64_t s = h->n_series;
		if (s >= REPORT_MAX_SERIES_S)
			return 0;
		if (inclusive ? s * 1000000 > t_us : s * 1000000 >= t_us)
			return 0;
		if (h->n_series == h->cap_series) {
			size_t c = h->cap_series ? h->cap_series * 2 : 64;
			uint32_t *p = realloc(h->series, c * sizeof(*p));
			if (!p)
				return -ENOMEM;
			h->series = p;
			h->cap_series = c;
		}
		h->series[h->n_series++] = h->open < 0 ? 0 : (uint32_t)h->open;
	}
}

int rp_finish(struct rp_data *d, char *err, size_t err_len)
{
	for (size_t i = 0; i < d->n_hosts; i++) {
		int rc = rp_series_to(&d->hosts[i], d->end_us, true);
		if (rc)
			return err_setf(err, err_len, rc, "open connection series: out of memory");
	}
	return 0;
}

static enum rp_outcome rp_outcome_of(const char *s)
{
	for (int i = 0; i < RP_OTHER; i++)
		if (strcmp(s, rp_outcome_names[i]) == 0)
			return (enum rp_outcome)i;
	return RP_OTHER;
}

/* Writes s as one CSV cell (quoted when it holds a separator or quote). */
static void rp_csv_cell(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int rp_on_request(struct rp_data *d, const struct rp_field *f, int n, uint64_t t_us,
                         FILE *csv)
{
	const char *wl = rp_get_str(f, n, "workload"), *outcome = rp_get_str(f, n, "outcome");
	const char *client = rp_get_str(f, n, "client"), *host = rp_get_str(f, n, "host");
	uint64_t start_us = t_us, latency_us = 0, status = 0;
	uint32_t w, c, h;
	size_t wi;
	int rc;

	if (!wl || !outcome)
		return 1;
	if (!client)
		client = "";
	if (!host)
		host = "";
	(void)rp_get_u64(f, n, "latency_us", &latency_us);
	if (!rp_get_u64(f, n, "start_us", &start_us))
		start_us = t_us >= latency_us ? t_us - latency_us : 0;
	(void)rp_get_u64(f, n, "status", &status);
	rc = rp_grow((void **)&d->req, &d->cap_req, d->n_req, sizeof(*d->req), REPORT_MAX_REQUESTS);
	if (!rc)
		rc = rp_intern(d, wl, &w);
	if (!rc)
		rc = rp_intern(d, client, &c);
	if (!rc)
		rc = rp_intern(d, host, &h);
	if (!rc)
		rc = rp_workload(d, w, &wi);
	if (rc)
		return rc;
	enum rp_outcome o = rp_outcome_of(outcome);
	struct rp_req *r = &d->req[d->n_req++];
	r->start_us = start_us;
	r->latency_us = latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
	r->host = h;
	r->client = c;
	r->workload = (uint16_t)wi;
	r->outcome_status = (uint16_t)((unsigned)o << 13 | (status > 8191 ? 8191 : status));
	d->wl[wi].requests++;
	d->wl[wi].by_outcome[o]++;
	if (*host) {
		struct rp_host *hp;
		rc = rp_host(d, h, &hp);
		if (rc)
			return rc;
		hp->requests++;
	}
	if (csv) {
		fprintf(csv, "%" PRIu64 ",", start_us);
		rp_csv_cell(csv, client);
		fputc(',', csv);
		rp_csv_cell(csv, host);
		fputc(',', csv);
		rp_csv_cell(csv, wl);
		fprintf(csv, ",%" PRIu64 ",", latency_us);
		rp_csv_cell(csv, outcome);
		fprintf(csv, ",%" PRIu64 "\n", status);
	}
	return 0;
}

static uint64_t rp_get_u64_or0(const struct rp_field *f, int n, const char *key)
{
	uint64_t v = 0;

	(void)rp_get_u64(f, n, key, &v);
	return v;
}

static int rp_on_conn(struct rp_data *d, const struct rp_field *f, int n, uint64_t t_us,
                      const char *node, bool accepted)
{
	struct rp_host *h;
	uint32_t id;
	int rc = rp_intern(d, node, &id);

	if (!rc)
		rc = rp_host(d, id, &h);
	if (!rc)
		rc = rp_series_to(h, t_us, false);
	if (rc)
		return rc;
	if (accepted) {
		h->new_conns++;
		h->open++;
		for (size_t i = 0; i < d->n_ex; i++) {
			const struct expect *e = &d->ex[i];
			if (e->kind == EXPECT_NEW_CONNECTIONS && d->ex_node[i] == id &&
			    t_us >= e->from_us && t_us <= e->to_us)
				d->ex_count[i]++;
		}
		return 0;
	}
	h->closed++;
	if (h->open > 0)
		h->open--;
	h->bytes_in += rp_get_u64_or0(f, n, "bytes_in") + rp_get_u64_or0(f, n, "bytes_up");
	h->bytes_out += rp_get_u64_or0(f, n, "bytes_out") + rp_get_u64_or0(f, n, "bytes_down");
	return 0;
}

static int rp_on_state(struct rp_data *d, const struct rp_field *f, int n, uint64_t t_us,
                       bool host_state)
{
	const char *svc = rp_get_str(f, n, "service"), *state = rp_get_str(f, n, "state");
	const char *host = rp_get_str(f, n, "host");
	uint32_t s, h = RP_NONE, st;
	int rc;

	/* control names the host "node_name" (the envelope's "node" is
	 * "control"); older lines used a second "node" member */
	if (!host)
		host = rp_get_str(f, n, "node_name");
	for (int i = n - 1; !host && i > 0; i--) {
		if (!strcmp(f[i].key, "node") && f[i].type == RP_J_STR &&
		    rp_get(f, n, "node") != &f[i])
			host = f[i].str;
	}
	if (!svc || !state || (host_state && !host))
		return 1;
	rc = rp_grow((void **)&d->states, &d->cap_states, d->n_states, sizeof(*d->states),
	             REPORT_MAX_STATES);
	if (!rc)
		rc = rp_intern(d, svc, &s);
	if (!rc)
		rc = rp_intern(d, state, &st);
	if (!rc && host_state)
		rc = rp_intern(d, host, &h);
	if (rc)
		return rc;
	d->states[d->n_states++] = (struct rp_state){t_us, s, h, st};
	return 0;
}

static int rp_on_mark(struct rp_data *d, const struct rp_field *f, int n, uint64_t t_us,
                      const char *node)
{
	const char *action = rp_get_str(f, n, "action"), *target = rp_get_str(f, n, "target");
	const char *detail = rp_get_str(f, n, "detail");
	struct rp_mark m = {.t_us = t_us};
	int rc;

	if (!action)
		return 1;
	if (d->n_marks >= REPORT_MAX_MARKS) {
		d->marks_dropped++;
		return 0;
	}
	rc = rp_grow((void **)&d->marks, &d->cap_marks, d->n_marks, sizeof(*d->marks),
	             REPORT_MAX_MARKS);
	if (!rc)
		rc = rp_intern(d, node, &m.node);
	if (!rc)
		rc = rp_intern(d, action, &m.action);
	if (!rc)
		rc = rp_intern(d, target ? target : "", &m.target);
	if (!rc)
		rc = rp_intern(d, detail ? detail : "", &m.detail);
	if (rc)
		return rc;
	d->marks[d->n_marks++] = m;
	return 0;
}

/* A tailnet pcap the daemon could not write completely: simrun names it. */
static int rp_on_pcap_failed(struct rp_data *d, const struct rp_field *f, int n)
{
	const char *path = rp_get_str(f, n, "path"), *why = rp_get_str(f, n, "error");
	struct rp_failed_pcap x;
	int rc;

	if (!path || !why)
		return 1;
	if (d->n_failed_pcaps >= REPORT_MAX_FAILED_PCAPS)
		return 0;
	if (!d->failed_pcaps) {
		d->failed_pcaps = calloc(REPORT_MAX_FAILED_PCAPS, sizeof(*d->failed_pcaps));
		if (!d->failed_pcaps)
			return -ENOMEM;
	}
	rc = rp_intern(d, path, &x.path);
	if (!rc)
		rc = rp_intern(d, why, &x.why);
	if (rc)
		return rc;
	d->failed_pcaps[d->n_failed_pcaps++] = x;
	return 0;
}

/* One line: 0 used or ignored, 1 malformed, -errno fatal. */
static int rp_line(struct rp_data *d, char *line, FILE *csv)
{
	struct rp_field f[RP_FIELDS_MAX];
	int n = rp_jscan(line, f, RP_FIELDS_MAX);
	const char *node, *type;
	uint64_t t_us;

	if (n < 0)
		return 1;
	node = rp_get_str(f, n, "node");
	type = rp_get_str(f, n, "type");
	if (!node || !type || !rp_get_u64(f, n, "t_us", &t_us))
		return 1;
	if (t_us > d->end_us)
		d->end_us = t_us;
	if (strcmp(type, "request_done") == 0)
		return rp_on_request(d, f, n, t_us, csv);
	if (strcmp(type, "conn_accepted") == 0)
		return rp_on_conn(d, f, n, t_us, node, true);
	if (strcmp(type, "conn_closed") == 0)
		return rp_on_conn(d, f, n, t_us, node, false);
	if (strcmp(type, "service_state") == 0)
		return rp_on_state(d, f, n, t_us, false);
	if (strcmp(type, "host_state") == 0)
		return rp_on_state(d, f, n, t_us, true);
	if (strcmp(type, "timeline") == 0)
		return rp_on_mark(d, f, n, t_us, node);
	if (strcmp(type, "pcap_write_failed") == 0)
		return rp_on_pcap_failed(d, f, n);
	return 0;
}

/* Reads the events file line by line (a line longer than REPORT_LINE_MAX
 * is malformed and skipped). */
int rp_ingest(struct rp_data *d, const char *path, FILE *csv, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	int rc = 0;

	if (!f)
		return err_setf(err, err_len, -errno, "%s: %s", path, strerror(errno));
	buf = malloc(REPORT_LINE_MAX + 2);
	if (!buf) {
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		goto out;
	}
	if (csv)
		fputs("start_us,client,host,workload,latency_us,outcome,status\n", csv);
	while (fgets(buf, REPORT_LINE_MAX + 2, f)) {
		size_t len = strlen(buf);
		bool too_long = false;
		if (len && buf[len - 1] != '\n' && !feof(f)) {
			int c;
			too_long = true;
			while ((c = getc(f)) != EOF && c != '\n')
				;
		}
		if (len - (len && buf[len - 1] == '\n') > REPORT_LINE_MAX)
			too_long = true;
		if (*rp_ws(buf) == '\0')
			continue;
		d->lines++;
		if (too_long) {
			d->malformed++;
			continue;
		}
		rc = rp_line(d, buf, csv);
		if (rc < 0) {
			err_setf(err, err_len, rc, "%s: line %" PRIu64 ": %s", path, d->lines,
			         rc == -ENOSPC ? "a report limit was exceeded" : strerror(-rc));
			goto out;
		}
		if (rc > 0)
			d->malformed++;
		rc = 0;
	}
	if (ferror(f))
		rc = err_setf(err, err_len, -EIO, "%s: read error", path);
out:
	free(buf);
	fclose(f);
	return rc;
}
