/* The serve config's JSON form (see serve_config.h for the shape, SPEC
 * CFG-9, CFG-10): the reader checks every member and limit and names the
 * place of the first error (`Services["svc:a"].TCP["443"]: ...`); the
 * writer prints the vendor CLI's layout, deterministically. */
#include "proxy/serve/serve_int.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- JSON in ----------------------------------------------------------------- */

/* Parser state: the config being built and where we are, for messages. */
struct jin {
	struct serve_config *cfg;
	char *err;
	size_t err_len;
	char place[SERVE_ERR_LEN]; /* e.g. Services["svc:a"].TCP["443"] */
};

__attribute__((format(printf, 3, 4))) static int jfail(struct jin *j, int rc, const char *fmt, ...)
{
	char msg[SERVE_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (j->place[0])
		err_setf(j->err, j->err_len, 0, "%s: %s", j->place, msg);
	else
		err_setf(j->err, j->err_len, 0, "%s", msg);
	return rc;
}

/* Appends `.Name` or `["key"]` to the place; returns the old length to restore. */
static size_t place_push(struct jin *j, const char *dot, const char *key)
{
	size_t old = strlen(j->place);
	char q[QBUF_LEN];

	if (dot)
		snprintf(j->place + old, sizeof(j->place) - old, "%s%s", old ? "." : "", dot);
	else {
		CHECK(key != NULL);
		snprintf(j->place + old, sizeof(j->place) - old, "[%s]",
		         sv_quote(q, sizeof(q), key));
	}
	return old;
}

static void place_pop(struct jin *j, size_t old)
{
	j->place[old] = '\0';
}

static int count_children(const cJSON *o)
{
	int n = 0;

	for (const cJSON *c = o->child; c; c = c->next)
		n++;
	return n;
}

/* Refuses a key seen earlier in the same object. */
static int check_dup(struct jin *j, const cJSON *first, const cJSON *item)
{
	char q[QBUF_LEN];

	for (const cJSON *c = first; c != item; c = c->next) {
		if (strcmp(c->string, item->string) == 0)
			return jfail(j, -EINVAL, "duplicate key %s",
			             sv_quote(q, sizeof(q), item->string));
	}
	return 0;
}

/* The index of member c's key in `keys` (NULL-ended) once no earlier
 * member of obj has the same key; else the error, `want` listing the keys
 * in its message. */
static int member_key(struct jin *j, const cJSON *obj, const cJSON *c, const char *const keys[],
                      const char *want)
{
	char q[QBUF_LEN];
	int rc = check_dup(j, obj->child, c);

	if (rc)
		return rc;
	for (int i = 0; keys[i]; i++)
		if (strcmp(c->string, keys[i]) == 0)
			return i;
	return jfail(j, -EINVAL, "unknown key %s (want %s)", sv_quote(q, sizeof(q), c->string),
	             want);
}

static int want_object(struct jin *j, const cJSON *o)
{
	if (!cJSON_IsObject(o))
		return jfail(j, -EINVAL, "must be an object");
	return 0;
}

static int want_bool(struct jin *j, const cJSON *o)
{
	if (!cJSON_IsBool(o))
		return jfail(j, -EINVAL, "must be true or false");
	return 0;
}

static int want_string(struct jin *j, const cJSON *o, size_t max)
{
	size_t n;

	if (!cJSON_IsString(o) || !o->valuestring)
		return jfail(j, -EINVAL, "must be a string");
	n = strlen(o->valuestring);
	if (n > max)
		return jfail(j, -E2BIG, "too long (%zu bytes, limit %zu)", n, max);
	return 0;
}

/* The members of one TCP port entry. */
struct port_keys {
	bool https, http;
	const char *fwd, *tls; /* TCPForward, TerminateTLS */
};

/* Reads the members of a TCP port entry, each checked for its type. */
static int read_port_keys(struct jin *j, const cJSON *item, struct port_keys *k)
{
	static const char *const keys[] = {"HTTPS", "HTTP", "TCPForward", "TerminateTLS", NULL};
	size_t old;
	int rc;

	for (const cJSON *c = item->child; c; c = c->next) {
		int key = member_key(j, item, c, keys, "HTTPS, HTTP, TCPForward or TerminateTLS");

		if (key < 0)
			return key;
		old = place_push(j, c->string, NULL);
		switch (key) {
		case 0:
		case 1:
			rc = want_bool(j, c);
			*(key == 0 ? &k->https : &k->http) = cJSON_IsTrue(c);
			break;
		case 2:
			rc = want_string(j, c, SERVE_MAX_TARGET_LEN);
			k->fwd = rc ? NULL : c->valuestring;
			break;
		default:
			rc = want_string(j, c, SERVE_MAX_SUFFIX_LEN + 1 + SERVE_LABEL_MAX);
			if (!rc && !c->valuestring[0])
				rc = jfail(j, -EINVAL, "must not be empty");
			k->tls = rc ? NULL : c->valuestring;
			break;
		}
		if (rc)
			return rc;
		place_pop(j, old);
	}
	return 0;
}

/* The members name exactly one serve type. */
static int check_port_keys(struct jin *j, const struct port_keys *k)
{
	if (k->https && k->http)
		return jfail(j, -EINVAL, "HTTPS and HTTP are exclusive");
	if ((k->https || k->http) && k->fwd)
		return jfail(j, -EINVAL, "%s and TCPForward are exclusive",
		             k->https ? "HTTPS" : "HTTP");
	if ((k->https || k->http) && k->tls)
		return jfail(j, -EINVAL, "%s and TerminateTLS are exclusive",
		             k->https ? "HTTPS" : "HTTP");
	if (k->tls && !k->fwd)
		return jfail(j, -EINVAL, "TerminateTLS needs TCPForward");
	if (!k->https && !k->http && !k->fwd)
		return jfail(j, -EINVAL, "no serve type (want HTTPS, HTTP or TCPForward)");
	return 0;
}

/* A TCP or TLS-terminated TCP port: its TCPForward target (CFG-3) and the
 * name TLS is terminated for. */
static int set_port_forward(struct jin *j, struct serve_port *p, const struct port_keys *k)
{
	char out[SERVE_MAX_TARGET_LEN + 1], why[SERVE_ERR_LEN];
	enum serve_handler_kind kind;
	int rc;

	p->type = k->tls ? SERVE_TYPE_TLS_TCP : SERVE_TYPE_TCP;
	rc = serve_target_parse(SERVE_TYPE_TCP, k->fwd, &kind, out, sizeof(out), why, sizeof(why));
	if (rc) {
		place_push(j, "TCPForward", NULL);
		return jfail(j, rc, "%s", why);
	}
	p->tcp_forward = strdup(out);
	p->terminate_tls = k->tls ? strdup(k->tls) : NULL;
	if (!p->tcp_forward || (k->tls && !p->terminate_tls))
		return jfail(j, -ENOMEM, "out of memory");
	return 0;
}

/* How the members of one object are parsed: each by fn, at its own
 * ["key"] place, at most max of them (`what` names them in messages). */
struct members {
	int (*fn)(struct jin *j, void *ctx, const cJSON *member);
	int max;
	const char *what;
	bool need_one; /* an empty object is refused */
	bool no_dups;  /* a key seen earlier in the object is refused */
};

/* Parses object `obj`, the member `key` of the current place, member by
 * member as m says; ctx goes to each call. */
static int parse_section(struct jin *j, const char *key, const cJSON *obj, const struct members *m,
                         void *ctx)
{
	size_t old = place_push(j, key, NULL);
	int rc;

	rc = want_object(j, obj);
	if (rc)
		return rc;
	if (count_children(obj) > m->max)
		return jfail(j, -E2BIG, "too many %s (%d, limit %d)", m->what, count_children(obj),
		             m->max);
	if (m->need_one && !obj->child)
		return jfail(j, -EINVAL, "no %s", m->what);
	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t o2;

		if (m->no_dups && (rc = check_dup(j, obj->child, c)))
			return rc;
		o2 = place_push(j, NULL, c->string);
		rc = m->fn(j, ctx, c);
		if (rc)
			return rc;
		place_pop(j, o2);
	}
	place_pop(j, old);
	return 0;
}

/* One port of a service's TCP member (ctx: the service). */
static int parse_port_entry(struct jin *j, void *ctx, const cJSON *item)
{
	struct serve_service *svc = ctx;
	struct port_keys k = {0};
	struct serve_port *p;
	uint16_t port;
	int rc;

	rc = sv_parse_port_n(item->string, strlen(item->string), true, &port);
	if (rc)
		return jfail(j, -EINVAL, "port must be a number from 1 to 65535");
	if (serve_service_find_port(svc, port))
		return jfail(j, -EINVAL, "duplicate port %u", port);
	rc = want_object(j, item);
	if (rc)
		return rc;
	rc = read_port_keys(j, item, &k);
	if (rc)
		return rc;
	rc = check_port_keys(j, &k);
	if (rc)
		return rc;
	if (svc->n_ports >= SERVE_MAX_PORTS)
		return jfail(j, -E2BIG, "too many ports (limit %d)", SERVE_MAX_PORTS);
	p = serve_service_add_port(svc, port);
	if (!p)
		return jfail(j, -ENOMEM, "out of memory");
	if (k.https || k.http) {
		p->type = k.https ? SERVE_TYPE_HTTPS : SERVE_TYPE_HTTP;
		return 0;
	}
	return set_port_forward(j, p, &k);
}

/* The one handler member of a mount (`which` is Path, Text or Proxy)
 * checked and turned into its kind and stored value (out). */
static int handler_value(struct jin *j, const char *which, const cJSON *val,
                         enum serve_handler_kind *kind, char out[SERVE_MAX_TARGET_LEN + 1])
{
	char why[SERVE_ERR_LEN];
	int rc;

	if (strcmp(which, "Path") == 0) {
		rc = want_string(j, val, SERVE_MAX_PATH_LEN);
		if (rc)
			return rc;
		if (val->valuestring[0] != '/')
			return jfail(j, -EINVAL, "must be an absolute path");
		sv_clean_path(val->valuestring, out);
		*kind = SERVE_HANDLER_PATH;
		return 0;
	}
	rc = want_string(j, val, SERVE_MAX_TARGET_LEN);
	if (rc)
		return rc;
	if (strcmp(which, "Text") == 0) {
		if (!val->valuestring[0])
			return jfail(j, -EINVAL, "text cannot be an empty string");
		snprintf(out, SERVE_MAX_TARGET_LEN + 1, "%s", val->valuestring);
		*kind = SERVE_HANDLER_TEXT;
		return 0;
	}
	if (strncmp(val->valuestring, "text:", 5) == 0 || val->valuestring[0] == '/')
		return jfail(j, -EINVAL,
		             "must be a URL, HOST:PORT or port (use Text or Path for the others)");
	rc = serve_target_parse(SERVE_TYPE_HTTP, val->valuestring, kind, out,
	                        SERVE_MAX_TARGET_LEN + 1, why, sizeof(why));
	return rc ? jfail(j, rc, "%s", why) : 0;
}

/* One mount of a port's Handlers (ctx: the port). */
static int parse_handler(struct jin *j, void *ctx, const cJSON *item)
{
	struct serve_port *p = ctx;
	char mount[SERVE_MAX_PATH_LEN + 1], why[SERVE_ERR_LEN];
	const cJSON *val = NULL;
	const char *which = NULL;
	enum serve_handler_kind kind = SERVE_HANDLER_NONE;
	struct serve_handler *h;
	char out[SERVE_MAX_TARGET_LEN + 1];
	size_t old;
	int rc;

	if (item->string[0] != '/')
		return jfail(j, -EINVAL, "mount point must start with '/'");
	rc = serve_mount_parse(item->string, mount, sizeof(mount), why, sizeof(why));
	if (rc)
		return jfail(j, rc, "%s", why);
	if (serve_port_find_handler(p, mount))
		return jfail(j, -EINVAL, "duplicate mount point");
	rc = want_object(j, item);
	if (rc)
		return rc;
	for (const cJSON *c = item->child; c; c = c->next) {
		static const char *const keys[] = {"Proxy", "Text", "Path", NULL};

		rc = member_key(j, item, c, keys, "Proxy, Text or Path");
		if (rc < 0)
			return rc;
		if (which)
			return jfail(j, -EINVAL, "%s and %s are exclusive", which, c->string);
		which = c->string;
		val = c;
	}
	if (!which)
		return jfail(j, -EINVAL, "no handler (want Proxy, Text or Path)");
	old = place_push(j, which, NULL);
	rc = handler_value(j, which, val, &kind, out);
	if (rc)
		return rc;
	place_pop(j, old);
	if (p->n_handlers >= SERVE_MAX_HANDLERS)
		return jfail(j, -E2BIG, "too many handlers (limit %d)", SERVE_MAX_HANDLERS);
	h = serve_port_add_handler(p, mount);
	if (!h)
		return jfail(j, -ENOMEM, "out of memory");
	h->kind = kind;
	h->value = strdup(out);
	if (!h->value)
		return jfail(j, -ENOMEM, "out of memory");
	return 0;
}

static const struct members handler_members = {
    .fn = parse_handler, .max = SERVE_MAX_HANDLERS, .what = "handlers", .need_one = true};

/* One "host:port" of a service's Web member (ctx: the service). */
static int parse_web_entry(struct jin *j, void *ctx, const cJSON *item)
{
	struct serve_service *svc = ctx;
	const char *key = item->string, *colon = strrchr(key, ':');
	const char *label = svc->name + 4;
	size_t hn, ln = strlen(label);
	struct serve_port *p;
	const cJSON *handlers = NULL;
	uint16_t port;
	int rc;

	if (!colon)
		return jfail(j, -EINVAL, "key must be HOST:PORT");
	hn = (size_t)(colon - key);
	if (sv_parse_port_n(colon + 1, strlen(colon + 1), true, &port))
		return jfail(j, -EINVAL, "port must be a number from 1 to 65535");
	if (!((hn == ln && strncasecmp(key, label, ln) == 0) ||
	      (j->cfg->suffix[0] && hn == ln + 1 + strlen(j->cfg->suffix) &&
	       strncasecmp(key, label, ln) == 0 && key[ln] == '.' &&
	       strncasecmp(key + ln + 1, j->cfg->suffix, hn - ln - 1) == 0))) {
		char q[QBUF_LEN];

		if (j->cfg->suffix[0])
			return jfail(
			    j, -EINVAL, "host %s is not this service's name (want %s or %s.%s)",
			    sv_quote_n(q, sizeof(q), key, hn), label, label, j->cfg->suffix);
		return jfail(j, -EINVAL, "host %s is not this service's name (want %s)",
		             sv_quote_n(q, sizeof(q), key, hn), label);
	}
	p = serve_service_find_port(svc, port);
	if (!p)
		return jfail(j, -EINVAL, "port %u has no HTTPS or HTTP entry in TCP", port);
	if (!is_web_type(p->type))
		return jfail(j, -EINVAL, "port %u is a %s port in TCP, not HTTPS or HTTP", port,
		             serve_type_name(p->type));
	if (p->n_handlers)
		return jfail(j, -EINVAL, "duplicate entry for port %u", port);
	rc = want_object(j, item);
	if (rc)
		return rc;
	for (const cJSON *c = item->child; c; c = c->next) {
		static const char *const keys[] = {"Handlers", NULL};

		rc = member_key(j, item, c, keys, "Handlers");
		if (rc < 0)
			return rc;
		handlers = c;
	}
	if (!handlers)
		return jfail(j, -EINVAL, "no Handlers");
	return parse_section(j, "Handlers", handlers, &handler_members, p);
}

/* A service's TCP member (its ports) and Web member (the handlers of its
 * HTTPS and HTTP ports). */
static const struct members port_members = {
    .fn = parse_port_entry, .max = SERVE_MAX_PORTS, .what = "ports"};
static const struct members web_members = {
    .fn = parse_web_entry, .max = SERVE_MAX_PORTS, .what = "entries"};

/* Every HTTPS or HTTP port in TCP has its handlers in Web. */
static int check_web_ports_served(struct jin *j, const struct serve_service *svc)
{
	for (size_t i = 0; i < svc->n_ports; i++) {
		const struct serve_port *p = &svc->ports[i];
		char host[SERVE_MAX_SUFFIX_LEN + SERVE_LABEL_MAX + 2];

		if (!is_web_type(p->type) || p->n_handlers)
			continue;
		serve_service_host(j->cfg, svc->name, host, sizeof(host));
		place_push(j, "TCP", NULL);
		{
			char key[16];

			snprintf(key, sizeof(key), "%u", p->port);
			place_push(j, NULL, key);
		}
		return jfail(j, -EINVAL, "%s port has no Web handlers (want Web[\"%s:%u\"])",
		             p->type == SERVE_TYPE_HTTPS ? "HTTPS" : "HTTP", host, p->port);
	}
	return 0;
}

/* One service of the Services member (no ctx). */
static int parse_service(struct jin *j, void *ctx, const cJSON *item)
{
	const cJSON *tcp = NULL, *web = NULL, *tun = NULL;
	struct serve_service *svc;
	char why[SERVE_ERR_LEN];
	size_t old;
	int rc;
	(void)ctx;

	rc = serve_name_check(item->string, why, sizeof(why));
	if (rc)
		return jfail(j, rc, "%s", why);
	rc = want_object(j, item);
	if (rc)
		return rc;
	for (const cJSON *c = item->child; c; c = c->next) {
		static const char *const keys[] = {"TCP", "Web", "Tun", NULL};
		const cJSON **slot[] = {&tcp, &web, &tun};

		rc = member_key(j, item, c, keys, "TCP, Web or Tun");
		if (rc < 0)
			return rc;
		*slot[rc] = c;
	}
	svc = serve_config_add_service(j->cfg, item->string);
	if (!svc)
		return jfail(j, -ENOMEM, "out of memory");
	if (tun) {
		old = place_push(j, "Tun", NULL);
		rc = want_bool(j, tun);
		if (rc)
			return rc;
		place_pop(j, old);
		svc->tun = cJSON_IsTrue(tun);
	}
	if (tcp) {
		rc = parse_section(j, "TCP", tcp, &port_members, svc);
		if (rc)
			return rc;
	}
	if (web) {
		rc = parse_section(j, "Web", web, &web_members, svc);
		if (rc)
			return rc;
	}
	if (svc->tun && ((tcp && tcp->child) || (web && web->child)))
		return jfail(j, -EINVAL, "Tun cannot be combined with TCP or Web handlers");
	return check_web_ports_served(j, svc);
}

/* Line and column (1-based) of byte offset `off`. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Parses the text into a JSON object: within the size limit, no NUL byte,
 * valid JSON with only whitespace after it. *root_out NULL on error. */
static int parse_document(const char *text, size_t len, cJSON **root_out, char *err, size_t err_len)
{
	const char *end = NULL;
	cJSON *root;

	*root_out = NULL;
	if (len > SERVE_MAX_JSON_BYTES) {
		err_setf(err, err_len, 0, "serve config is too large (%zu bytes, limit %d)", len,
		         SERVE_MAX_JSON_BYTES);
		return -E2BIG;
	}
	if (memchr(text, '\0', len)) {
		err_setf(err, err_len, 0, "invalid JSON: contains a NUL byte");
		return -EINVAL;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root) {
		size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		size_t line, col;

		line_col(text, off, &line, &col);
		err_setf(err, err_len, 0, "invalid JSON at line %zu, column %zu", line, col);
		return -EINVAL;
	}
	/* Only whitespace may follow the document. */
	for (size_t off = (size_t)(end - text); off < len; off++) {
		if (!isspace((unsigned char)text[off])) {
			size_t line, col;

			line_col(text, off, &line, &col);
			err_setf(err, err_len, 0,
			         "invalid JSON at line %zu, column %zu: text after the end", line,
			         col);
			cJSON_Delete(root);
			return -EINVAL;
		}
	}
	if (!cJSON_IsObject(root)) {
		err_setf(err, err_len, 0, "serve config must be a JSON object");
		cJSON_Delete(root);
		return -EINVAL;
	}
	*root_out = root;
	return 0;
}

/* The document's one member, Services (*services NULL when absent). */
static int find_services(const cJSON *root, const cJSON **services, char *err, size_t err_len)
{
	*services = NULL;
	for (const cJSON *c = root->child; c; c = c->next) {
		char q[QBUF_LEN];

		if (strcmp(c->string, "Services") != 0) {
			err_setf(err, err_len, 0, "unknown key %s (want Services)",
			         sv_quote(q, sizeof(q), c->string));
			return -EINVAL;
		}
		if (*services) {
			err_setf(err, err_len, 0, "duplicate key \"Services\"");
			return -EINVAL;
		}
		*services = c;
	}
	return 0;
}

static const struct members service_members = {
    .fn = parse_service, .max = SERVE_MAX_SERVICES, .what = "services", .no_dups = true};

/* Every service of the Services member. */
static int parse_services(struct jin *j, const cJSON *services)
{
	j->place[0] = '\0';
	return parse_section(j, "Services", services, &service_members, NULL);
}

int serve_config_from_json(const char *text, size_t len, const char *tailnet_suffix,
                           struct serve_config *out, char *err, size_t err_len)
{
	struct jin j = {.cfg = out, .err = err, .err_len = err_len};
	const cJSON *services;
	cJSON *root;
	int rc;

	serve_config_init(out, tailnet_suffix);
	if (err && err_len)
		err[0] = '\0';
	rc = parse_document(text, len, &root, err, err_len);
	if (rc)
		return rc;
	rc = find_services(root, &services, err, err_len);
	if (!rc && services)
		rc = parse_services(&j, services);
	cJSON_Delete(root);
	if (rc)
		serve_config_free(out);
	return rc;
}

/* --- JSON out ----------------------------------------------------------------- */

/* Output in the vendor CLI's layout (Go's MarshalIndent, 2 spaces). The
 * text is bounded by the configuration's own limits. */
struct jout {
	struct buf b;
	bool pretty;
	int depth;
	bool first[8];
};

static void jo_put(struct jout *o, const char *s, size_t n)
{
	buf_append(&o->b, s, n);
}

static void jo_puts(struct jout *o, const char *s)
{
	buf_puts(&o->b, s);
}

static void jo_newline(struct jout *o)
{
	if (!o->pretty)
		return;
	jo_put(o, "\n", 1);
	for (int i = 0; i < o->depth; i++)
		jo_put(o, "  ", 2);
}

static void jo_str(struct jout *o, const char *s)
{
	jo_put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		switch (c) {
		case '"':
			jo_put(o, "\\\"", 2);
			break;
		case '\\':
			jo_put(o, "\\\\", 2);
			break;
		case '\n':
			jo_put(o, "\\n", 2);
			break;
		case '\r':
			jo_put(o, "\\r", 2);
			break;
		case '\t':
			jo_put(o, "\\t", 2);
			break;
		default:
			/* Go also escapes <, > and & for HTML safety. */
			if (c < 0x20 || c == '<' || c == '>' || c == '&') {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				jo_put(o, esc, 6);
			} else {
				jo_put(o, (const char *)&c, 1);
			}
		}
	}
	jo_put(o, "\"", 1);
}

static void jo_open(struct jout *o)
{
	CHECK(o->depth + 1 < (int)(sizeof(o->first) / sizeof(o->first[0])));
	jo_put(o, "{", 1);
	o->depth++;
	o->first[o->depth] = true;
}

static void jo_key(struct jout *o, const char *key)
{
	if (!o->first[o->depth])
		jo_put(o, ",", 1);
	o->first[o->depth] = false;
	jo_newline(o);
	jo_str(o, key);
	jo_puts(o, o->pretty ? ": " : ":");
}

static void jo_close(struct jout *o)
{
	bool empty = o->first[o->depth];

	o->depth--;
	if (!empty)
		jo_newline(o);
	jo_put(o, "}", 1);
}

/* A service's TCP member, one entry per port; true when any port is HTTPS
 * or HTTP (then the service has a Web member too). */
static bool jo_tcp(struct jout *o, const struct serve_service *s)
{
	bool any_web = false;

	if (s->n_ports) {
		jo_key(o, "TCP");
		jo_open(o);
	}
	for (size_t k = 0; k < s->n_ports; k++) {
		const struct serve_port *p = &s->ports[k];
		char key[16];

		snprintf(key, sizeof(key), "%u", p->port);
		jo_key(o, key);
		jo_open(o);
		if (p->type == SERVE_TYPE_HTTPS) {
			jo_key(o, "HTTPS");
			jo_puts(o, "true");
		} else if (p->type == SERVE_TYPE_HTTP) {
			jo_key(o, "HTTP");
			jo_puts(o, "true");
		} else {
			jo_key(o, "TCPForward");
			jo_str(o, p->tcp_forward);
			if (p->terminate_tls) {
				jo_key(o, "TerminateTLS");
				jo_str(o, p->terminate_tls);
			}
		}
		any_web |= is_web_type(p->type);
		jo_close(o);
	}
	if (s->n_ports)
		jo_close(o);
	return any_web;
}

/* A service's Web member: "<host>:<port>" -> Handlers -> mount -> handler. */
static void jo_web(struct jout *o, const struct serve_config *cfg, const struct serve_service *s)
{
	char host[SERVE_MAX_SUFFIX_LEN + SERVE_LABEL_MAX + 2];

	serve_service_host(cfg, s->name, host, sizeof(host));
	jo_key(o, "Web");
	jo_open(o);
	for (size_t k = 0; k < s->n_ports; k++) {
		const struct serve_port *p = &s->ports[k];
		char key[sizeof(host) + 8];

		if (!is_web_type(p->type))
			continue;
		snprintf(key, sizeof(key), "%s:%u", host, p->port);
		jo_key(o, key);
		jo_open(o);
		jo_key(o, "Handlers");
		jo_open(o);
		for (size_t h = 0; h < p->n_handlers; h++) {
			const struct serve_handler *hd = &p->handlers[h];

			jo_key(o, hd->mount);
			jo_open(o);
			jo_key(o, hd->kind == SERVE_HANDLER_PATH    ? "Path"
			          : hd->kind == SERVE_HANDLER_PROXY ? "Proxy"
			                                            : "Text");
			jo_str(o, hd->value);
			jo_close(o);
		}
		jo_close(o);
		jo_close(o);
	}
	jo_close(o);
}

char *serve_config_to_json(const struct serve_config *cfg, bool pretty)
{
	struct jout o = {.b = BUF_INIT(BUF_NO_MAX), .pretty = pretty};

	jo_open(&o);
	if (cfg->n_services) {
		jo_key(&o, "Services");
		jo_open(&o);
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct serve_service *s = &cfg->services[i];

		jo_key(&o, s->name);
		jo_open(&o);
		if (jo_tcp(&o, s))
			jo_web(&o, cfg, s);
		if (s->tun) {
			jo_key(&o, "Tun");
			jo_puts(&o, "true");
		}
		jo_close(&o);
	}
	if (cfg->n_services)
		jo_close(&o);
	jo_close(&o);
	return buf_take(&o.b, NULL);
}
