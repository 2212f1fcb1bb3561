/* Serve configuration model, validation and JSON form (see serve_config.h). */
#include "proxy/serve/serve_config.h"
#include "lib/base/check.h"

#include "lib/base/errfmt.h"
#include "lib/base/numarg.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest piece of user text quoted into a message. */
#define SERVE_QUOTE_MAX 80

/* Writes `s` (n bytes) as a double-quoted string safe to print: control and
 * non-ASCII bytes as \xNN, cut at SERVE_QUOTE_MAX with "...". */
static const char *quote_n(char *buf, size_t buf_len, const char *s, size_t n)
{
	size_t o = 0;

	CHECK(buf_len >= 8);
	buf[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= SERVE_QUOTE_MAX || o + 8 >= buf_len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(buf + o, buf_len - o, "\\x%02x", c);
		} else {
			if (c == '"' || c == '\\')
				buf[o++] = '\\';
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

#define QBUF_LEN (SERVE_QUOTE_MAX * 4 + 16)

static const char *quote(char *buf, size_t buf_len, const char *s)
{
	return quote_n(buf, buf_len, s, strlen(s));
}

/* --- small helpers ------------------------------------------------------ */

const char *serve_type_name(enum serve_type type)
{
	switch (type) {
	case SERVE_TYPE_HTTPS:
		return "https";
	case SERVE_TYPE_HTTP:
		return "http";
	case SERVE_TYPE_TCP:
		return "tcp";
	case SERVE_TYPE_TLS_TCP:
		return "tls-terminated-tcp";
	case SERVE_TYPE_TUN:
		return "tun";
	case SERVE_TYPE_NONE:
		break;
	}
	return "none";
}

static bool is_web_type(enum serve_type t)
{
	return t == SERVE_TYPE_HTTPS || t == SERVE_TYPE_HTTP;
}

static bool is_tcp_type(enum serve_type t)
{
	return t == SERVE_TYPE_TCP || t == SERVE_TYPE_TLS_TCP;
}

/* Parses 1-65535 from exactly `n` decimal digits (numarg.h). 0, -1 not a
 * number, -2 out of range. Targets are typed by hand, so unless
 * `canonical` (the JSON document's keys) leading zeros are skipped. */
static int parse_port_n(const char *s, size_t n, bool canonical, uint16_t *port)
{
	uint64_t v = 0;

	while (!canonical && n > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		s++, n--;
	int rc = numarg_u64n(s, n, 1, 65535, &v, NULL, 0);
	if (rc == -ERANGE)
		return -2;
	if (rc < 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static bool has_space_or_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/* Lexical clean of an absolute path, like Go's path.Clean: collapses '//',
 * drops '.', resolves '..' (never above '/'), no trailing '/' except root.
 * `out` needs strlen(in) + 2 bytes. */
static void clean_path(const char *in, char *out)
{
	size_t o = 0;
	const char *p = in;

	out[o++] = '/';
	while (*p) {
		const char *seg;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			continue;
		}
		if (o > 1)
			out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
	}
	out[o] = '\0';
}

/* --- names ---------------------------------------------------------------- */

int serve_name_check(const char *name, char *err, size_t err_len)
{
	char q[QBUF_LEN];
	const char *label;
	size_t n;

	if (strncmp(name, "svc:", 4) != 0) {
		err_setf(err, err_len, 0, "invalid service name %s: must start with \"svc:\"",
		         quote(q, sizeof(q), name));
		return -EINVAL;
	}
	label = name + 4;
	n = strlen(label);
	if (n < 1 || n > SERVE_LABEL_MAX) {
		err_setf(
		    err, err_len, 0,
		    "invalid service name %s: the label after \"svc:\" must be 1-%d characters, "
		    "got %zu",
		    quote(q, sizeof(q), name), SERVE_LABEL_MAX, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)label[i];

		if (!isalnum(c) && c != '-') {
			char cq[16];

			quote_n(cq, sizeof(cq), label + i, 1);
			err_setf(
			    err, err_len, 0,
			    "invalid service name %s: only letters, digits and '-' are allowed, "
			    "found %s",
			    quote(q, sizeof(q), name), cq);
			return -EINVAL;
		}
	}
	if (!isalnum((unsigned char)label[0])) {
		err_setf(
		    err, err_len, 0,
		    "invalid service name %s: must start with a letter or digit after \"svc:\"",
		    quote(q, sizeof(q), name));
		return -EINVAL;
	}
	if (!isalnum((unsigned char)label[n - 1])) {
		err_setf(err, err_len, 0,
		         "invalid service name %s: must end with a letter or digit",
		         quote(q, sizeof(q), name));
		return -EINVAL;
	}
	return 0;
}

/* --- targets ---------------------------------------------------------------- */

/* Checks "host[:port]" of n bytes. Writes the reason to `why` on failure. */
static int check_hostport(const char *s, size_t n, bool port_required, char *why, size_t why_len)
{
	const char *host = s, *colon = NULL;
	size_t host_n;
	uint16_t port;
	int rc;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close) {
			err_setf(why, why_len, 0, "unclosed '[' in the host");
			return -EINVAL;
		}
		for (const char *c = s + 1; c < close; c++) {
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.') {
				err_setf(why, why_len, 0, "invalid IPv6 address in the host");
				return -EINVAL;
			}
		}
		if (close == s + 1) {
			err_setf(why, why_len, 0, "missing host");
			return -EINVAL;
		}
		host_n = (size_t)(close - s) + 1;
		if (host_n < n) {
			if (s[host_n] != ':') {
				err_setf(why, why_len, 0, "unexpected text after ']'");
				return -EINVAL;
			}
			colon = s + host_n;
		}
	} else {
		colon = memchr(s, ':', n);
		host_n = colon ? (size_t)(colon - s) : n;
		if (host_n == 0) {
			err_setf(why, why_len, 0, "missing host");
			return -EINVAL;
		}
		if (host_n > SERVE_MAX_SUFFIX_LEN) {
			err_setf(why, why_len, 0, "host is longer than %d characters",
			         SERVE_MAX_SUFFIX_LEN);
			return -EINVAL;
		}
		for (size_t i = 0; i < host_n; i++) {
			unsigned char c = (unsigned char)host[i];

			if (!isalnum(c) && c != '.' && c != '-' && c != '_') {
				char cq[16];

				quote_n(cq, sizeof(cq), host + i, 1);
				err_setf(why, why_len, 0, "invalid character %s in the host", cq);
				return -EINVAL;
			}
		}
	}
	if (!colon) {
		if (port_required) {
			err_setf(why, why_len, 0, "missing port (want PORT, HOST:PORT or a URL)");
			return -EINVAL;
		}
		return 0;
	}
	rc = parse_port_n(colon + 1, n - (size_t)(colon + 1 - s), false, &port);
	if (rc == -1 && colon + 1 == s + n) {
		err_setf(why, why_len, 0, "missing port after ':'");
		return -EINVAL;
	}
	if (rc == -1) {
		char q[QBUF_LEN];

		err_setf(why, why_len, 0, "invalid port %s",
		         quote_n(q, sizeof(q), colon + 1, n - (size_t)(colon + 1 - s)));
		return -EINVAL;
	}
	if (rc == -2) {
		err_setf(why, why_len, 0, "port %.*s is out of range (1-65535)",
		         (int)(n - (size_t)(colon + 1 - s) > 16 ? 16 : n - (size_t)(colon + 1 - s)),
		         colon + 1);
		return -EINVAL;
	}
	return 0;
}

static bool scheme_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

/* The web (HTTPS/HTTP) half of serve_target_parse. */
static int web_target(const char *raw, enum serve_handler_kind *kind, char *out, size_t out_len,
                      char *why, size_t why_len)
{
	const char *sep = strstr(raw, "://");
	uint16_t port;
	int rc;

	if (strncmp(raw, "text:", 5) == 0) {
		if (raw[5] == '\0') {
			err_setf(why, why_len, 0, "text cannot be an empty string");
			return -EINVAL;
		}
		*kind = SERVE_HANDLER_TEXT;
		snprintf(out, out_len, "%s", raw + 5);
		return 0;
	}
	if (raw[0] == '/') {
		if (strlen(raw) > SERVE_MAX_PATH_LEN) {
			err_setf(why, why_len, 0, "path is longer than %d bytes",
			         SERVE_MAX_PATH_LEN);
			return -E2BIG;
		}
		*kind = SERVE_HANDLER_PATH;
		clean_path(raw, out);
		return 0;
	}
	rc = parse_port_n(raw, strlen(raw), false, &port);
	if (rc == 0) {
		*kind = SERVE_HANDLER_PROXY;
		snprintf(out, out_len, "http://127.0.0.1:%u", port);
		return 0;
	}
	if (rc == -2) {
		err_setf(why, why_len, 0, "port %.16s is out of range (1-65535)", raw);
		return -EINVAL;
	}
	if (sep) {
		size_t sn = (size_t)(sep - raw);
		const char *auth = sep + 3, *slash;
		size_t an;

		if (!scheme_is(raw, sn, "http") && !scheme_is(raw, sn, "https") &&
		    !scheme_is(raw, sn, "https+insecure")) {
			char q[QBUF_LEN];

			err_setf(why, why_len, 0,
			         "unknown scheme %s (want http, https or https+insecure)",
			         quote_n(q, sizeof(q), raw, sn));
			return -EINVAL;
		}
		slash = strchr(auth, '/');
		an = slash ? (size_t)(slash - auth) : strlen(auth);
		if (has_space_or_ctl(raw, strlen(raw))) {
			err_setf(why, why_len, 0, "contains a space or control character");
			return -EINVAL;
		}
		rc = check_hostport(auth, an, false, why, why_len);
		if (rc)
			return rc;
		*kind = SERVE_HANDLER_PROXY;
		snprintf(out, out_len, "%s", raw);
		for (size_t i = 0; i < sn; i++)
			out[i] = (char)tolower((unsigned char)out[i]);
		return 0;
	}
	{
		const char *slash = strchr(raw, '/');
		size_t an = slash ? (size_t)(slash - raw) : strlen(raw);

		if (!memchr(raw, ':', an) && (raw[0] == '.' || slash || raw[0] == '~')) {
			err_setf(why, why_len, 0,
			         "a relative path (file and directory targets must be "
			         "absolute paths)");
			return -EINVAL;
		}
		if (has_space_or_ctl(raw, strlen(raw))) {
			err_setf(why, why_len, 0, "contains a space or control character");
			return -EINVAL;
		}
		rc = check_hostport(raw, an, true, why, why_len);
		if (rc)
			return rc;
		*kind = SERVE_HANDLER_PROXY;
		snprintf(out, out_len, "http://%s", raw);
		return 0;
	}
}

/* The TCP half of serve_target_parse: "host:port" out. */
static int tcp_target(const char *raw, char *out, size_t out_len, char *why, size_t why_len)
{
	const char *sep = strstr(raw, "://");
	const char *auth = raw;
	size_t an;
	uint16_t port;
	int rc;

	rc = parse_port_n(raw, strlen(raw), false, &port);
	if (rc == 0) {
		snprintf(out, out_len, "127.0.0.1:%u", port);
		return 0;
	}
	if (rc == -2) {
		err_setf(why, why_len, 0, "port %.16s is out of range (1-65535)", raw);
		return -EINVAL;
	}
	if (strncmp(raw, "text:", 5) == 0 || raw[0] == '/') {
		err_setf(why, why_len, 0,
		         "a TCP target must be PORT, HOST:PORT or tcp://HOST:PORT "
		         "(text and file targets need --https or --http)");
		return -EINVAL;
	}
	if (sep) {
		size_t sn = (size_t)(sep - raw);

		if (!scheme_is(raw, sn, "tcp")) {
			char q[QBUF_LEN];

			err_setf(why, why_len, 0,
			         "unknown scheme %s for a TCP target (want tcp://HOST:PORT or "
			         "HOST:PORT)",
			         quote_n(q, sizeof(q), raw, sn));
			return -EINVAL;
		}
		auth = sep + 3;
	}
	an = strlen(auth);
	if (an > 0 && auth[an - 1] == '/')
		an--;
	if (memchr(auth, '/', an)) {
		err_setf(why, why_len, 0, "a TCP target takes no path");
		return -EINVAL;
	}
	rc = check_hostport(auth, an, true, why, why_len);
	if (rc)
		return rc;
	snprintf(out, out_len, "%.*s", (int)an, auth);
	return 0;
}

int serve_target_parse(enum serve_type type, const char *raw, enum serve_handler_kind *kind,
                       char *out, size_t out_len, char *err, size_t err_len)
{
	char q[QBUF_LEN], why[SERVE_ERR_LEN];
	size_t n = strlen(raw);
	int rc;

	CHECK(out_len >= SERVE_MAX_TARGET_LEN + 1);
	CHECK(is_web_type(type) || is_tcp_type(type));
	*kind = SERVE_HANDLER_NONE;
	if (n == 0) {
		err_setf(
		    err, err_len, 0,
		    "empty target (want a port, HOST:PORT, a URL, text:TEXT or an absolute path)");
		return -EINVAL;
	}
	if (n > SERVE_MAX_TARGET_LEN) {
		err_setf(err, err_len, 0, "target is too long (%zu bytes, limit %d)", n,
		         SERVE_MAX_TARGET_LEN);
		return -E2BIG;
	}
	why[0] = '\0';
	if (is_web_type(type))
		rc = web_target(raw, kind, out, out_len, why, sizeof(why));
	else
		rc = tcp_target(raw, out, out_len, why, sizeof(why));
	if (rc)
		err_setf(err, err_len, 0, "invalid target %s: %s", quote(q, sizeof(q), raw), why);
	return rc;
}

int serve_mount_parse(const char *raw, char *out, size_t out_len, char *err, size_t err_len)
{
	char q[QBUF_LEN];
	char tmp[SERVE_MAX_PATH_LEN + 2];
	char clean[SERVE_MAX_PATH_LEN + 3];
	size_t n = strlen(raw), cn;

	CHECK(out_len >= SERVE_MAX_PATH_LEN + 1);
	if (n == 0)
		raw = "/";
	if (n + (raw[0] == '/' ? 0 : 1) > SERVE_MAX_PATH_LEN) {
		err_setf(err, err_len, 0, "mount point is too long (%zu bytes, limit %d)", n,
		         SERVE_MAX_PATH_LEN);
		return -E2BIG;
	}
	snprintf(tmp, sizeof(tmp), "%s%s", raw[0] == '/' ? "" : "/", raw);
	n = strlen(tmp);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tmp[i];

		if (c <= 0x20 || c == 0x7f || c == '?' || c == '#') {
			err_setf(
			    err, err_len, 0,
			    "invalid mount point %s: spaces, control characters, '?' and '#' are "
			    "not allowed",
			    quote(q, sizeof(q), tmp));
			return -EINVAL;
		}
	}
	clean_path(tmp, clean);
	cn = strlen(clean);
	if (!(strcmp(tmp, clean) == 0 ||
	      (cn + 1 == n && strncmp(tmp, clean, cn) == 0 && tmp[n - 1] == '/'))) {
		err_setf(err, err_len, 0, "invalid mount point %s: not a clean path (want %s)",
		         quote(q, sizeof(q), tmp), clean);
		return -EINVAL;
	}
	snprintf(out, out_len, "%s", tmp);
	return 0;
}

/* --- the model ---------------------------------------------------------------- */

void serve_config_init(struct serve_config *cfg, const char *tailnet_suffix)
{
	if (!tailnet_suffix)
		tailnet_suffix = "";
	CHECK(strlen(tailnet_suffix) <= SERVE_MAX_SUFFIX_LEN);
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->suffix, sizeof(cfg->suffix), "%s", tailnet_suffix);
}

static void handler_free(struct serve_handler *h)
{
	free(h->mount);
	free(h->value);
	h->mount = h->value = NULL;
}

static void port_free(struct serve_port *p)
{
	for (size_t i = 0; i < p->n_handlers; i++)
		handler_free(&p->handlers[i]);
	free(p->handlers);
	free(p->tcp_forward);
	free(p->terminate_tls);
	memset(p, 0, sizeof(*p));
}

static void service_free(struct serve_service *s)
{
	for (size_t i = 0; i < s->n_ports; i++)
		port_free(&s->ports[i]);
	free(s->ports);
	s->ports = NULL;
	s->n_ports = 0;
}

void serve_config_free(struct serve_config *cfg)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		service_free(&cfg->services[i]);
	free(cfg->services);
	cfg->services = NULL;
	cfg->n_services = 0;
}

void serve_config_swap(struct serve_config *a, struct serve_config *b)
{
	struct serve_config t = *a;

	*a = *b;
	*b = t;
}

bool serve_config_is_empty(const struct serve_config *cfg)
{
	return cfg->n_services == 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

int serve_config_clone(struct serve_config *dst, const struct serve_config *src)
{
	bool oom = false;

	serve_config_init(dst, src->suffix);
	if (src->n_services == 0)
		return 0;
	dst->services = calloc(src->n_services, sizeof(*dst->services));
	if (!dst->services)
		return -ENOMEM;
	dst->n_services = src->n_services;
	for (size_t i = 0; i < src->n_services; i++) {
		const struct serve_service *ss = &src->services[i];
		struct serve_service *ds = &dst->services[i];

		memcpy(ds->name, ss->name, sizeof(ds->name));
		ds->tun = ss->tun;
		if (ss->n_ports == 0)
			continue;
		ds->ports = calloc(ss->n_ports, sizeof(*ds->ports));
		if (!ds->ports) {
			oom = true;
			break;
		}
		ds->n_ports = ss->n_ports;
		for (size_t j = 0; j < ss->n_ports; j++) {
			const struct serve_port *sp = &ss->ports[j];
			struct serve_port *dp = &ds->ports[j];

			dp->port = sp->port;
			dp->type = sp->type;
			dp->tcp_forward = dup_or_null(sp->tcp_forward, &oom);
			dp->terminate_tls = dup_or_null(sp->terminate_tls, &oom);
			if (sp->n_handlers == 0)
				continue;
			dp->handlers = calloc(sp->n_handlers, sizeof(*dp->handlers));
			if (!dp->handlers) {
				oom = true;
				break;
			}
			dp->n_handlers = sp->n_handlers;
			for (size_t k = 0; k < sp->n_handlers; k++) {
				dp->handlers[k].kind = sp->handlers[k].kind;
				dp->handlers[k].mount = dup_or_null(sp->handlers[k].mount, &oom);
				dp->handlers[k].value = dup_or_null(sp->handlers[k].value, &oom);
			}
		}
		if (oom)
			break;
	}
	if (oom) {
		serve_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

struct serve_service *serve_config_find(const struct serve_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return &cfg->services[i];
	return NULL;
}

struct serve_port *serve_service_find_port(const struct serve_service *svc, uint16_t port)
{
	for (size_t i = 0; i < svc->n_ports; i++)
		if (svc->ports[i].port == port)
			return &svc->ports[i];
	return NULL;
}

struct serve_handler *serve_port_find_handler(const struct serve_port *port, const char *mount)
{
	for (size_t i = 0; i < port->n_handlers; i++)
		if (strcmp(port->handlers[i].mount, mount) == 0)
			return &port->handlers[i];
	return NULL;
}

static bool mount_matches(const char *m, const char *path, size_t n)
{
	size_t mn = strlen(m);

	if (mn > n || memcmp(m, path, mn) != 0)
		return false;
	return mn == n || m[mn - 1] == '/' || path[mn] == '/';
}

const struct serve_handler *serve_port_match(const struct serve_port *port, const char *path,
                                             size_t path_len)
{
	const struct serve_handler *best = NULL;
	size_t best_n = 0;

	for (size_t i = 0; i < port->n_handlers; i++) {
		const struct serve_handler *h = &port->handlers[i];
		size_t mn = strlen(h->mount);

		if (mount_matches(h->mount, path, path_len) && (!best || mn > best_n)) {
			best = h;
			best_n = mn;
		}
	}
	return best;
}

int serve_service_host(const struct serve_config *cfg, const char *name, char *out, size_t out_len)
{
	const char *label = strncmp(name, "svc:", 4) == 0 ? name + 4 : name;
	size_t label_len = strlen(label), suffix_len = strlen(cfg->suffix);
	size_t len = label_len + (suffix_len ? 1 + suffix_len : 0);

	if (len >= out_len)
		return -ENAMETOOLONG;
	memcpy(out, label, label_len);
	if (suffix_len) {
		out[label_len] = '.';
		memcpy(out + label_len + 1, cfg->suffix, suffix_len);
	}
	out[len] = '\0';
	return 0;
}

/* Sorted inserts. Each returns the new zeroed element or NULL (-ENOMEM). */
static struct serve_service *service_insert(struct serve_config *cfg, const char *name)
{
	size_t i = 0;
	struct serve_service *arr;

	while (i < cfg->n_services && strcmp(cfg->services[i].name, name) < 0)
		i++;
	arr = realloc(cfg->services, (cfg->n_services + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	cfg->services = arr;
	memmove(&arr[i + 1], &arr[i], (cfg->n_services - i) * sizeof(*arr));
	cfg->n_services++;
	memset(&arr[i], 0, sizeof(arr[i]));
	snprintf(arr[i].name, sizeof(arr[i].name), "%s", name);
	return &arr[i];
}

static struct serve_port *port_insert(struct serve_service *svc, uint16_t port)
{
	size_t i = 0;
	struct serve_port *arr;

	while (i < svc->n_ports && svc->ports[i].port < port)
		i++;
	arr = realloc(svc->ports, (svc->n_ports + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	svc->ports = arr;
	memmove(&arr[i + 1], &arr[i], (svc->n_ports - i) * sizeof(*arr));
	svc->n_ports++;
	memset(&arr[i], 0, sizeof(arr[i]));
	arr[i].port = port;
	return &arr[i];
}

static struct serve_handler *handler_insert(struct serve_port *p, const char *mount)
{
	size_t i = 0;
	struct serve_handler *arr;
	char *m = strdup(mount);

	if (!m)
		return NULL;
	while (i < p->n_handlers && strcmp(p->handlers[i].mount, mount) < 0)
		i++;
	arr = realloc(p->handlers, (p->n_handlers + 1) * sizeof(*arr));
	if (!arr) {
		free(m);
		return NULL;
	}
	p->handlers = arr;
	memmove(&arr[i + 1], &arr[i], (p->n_handlers - i) * sizeof(*arr));
	p->n_handlers++;
	memset(&arr[i], 0, sizeof(arr[i]));
	arr[i].mount = m;
	return &arr[i];
}

struct serve_service *serve_config_add_service(struct serve_config *cfg, const char *name)
{
	return service_insert(cfg, name);
}

struct serve_port *serve_service_add_port(struct serve_service *svc, uint16_t port)
{
	return port_insert(svc, port);
}

struct serve_handler *serve_port_add_handler(struct serve_port *p, const char *mount)
{
	return handler_insert(p, mount);
}

void serve_config_remove_service(struct serve_config *cfg, struct serve_service *svc)
{
	size_t i = (size_t)(svc - cfg->services);

	CHECK(i < cfg->n_services);
	service_free(svc);
	memmove(&cfg->services[i], &cfg->services[i + 1], (cfg->n_services - i - 1) * sizeof(*svc));
	cfg->n_services--;
}

void serve_service_remove_port(struct serve_service *svc, struct serve_port *p)
{
	size_t i = (size_t)(p - svc->ports);

	CHECK(i < svc->n_ports);
	port_free(p);
	memmove(&svc->ports[i], &svc->ports[i + 1], (svc->n_ports - i - 1) * sizeof(*p));
	svc->n_ports--;
}

void serve_port_remove_handler(struct serve_port *p, struct serve_handler *h)
{
	size_t i = (size_t)(h - p->handlers);

	CHECK(i < p->n_handlers);
	handler_free(h);
	memmove(&p->handlers[i], &p->handlers[i + 1], (p->n_handlers - i - 1) * sizeof(*h));
	p->n_handlers--;
}

/* --- validation of a built config ---------------------------------------------- */

int serve_config_validate(const struct serve_config *cfg, char *err, size_t err_len)
{
	char q[QBUF_LEN];

	if (cfg->n_services > SERVE_MAX_SERVICES) {
		err_setf(err, err_len, 0, "Services: too many services (%zu, limit %d)",
		         cfg->n_services, SERVE_MAX_SERVICES);
		return -E2BIG;
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct serve_service *s = &cfg->services[i];
		char why[SERVE_ERR_LEN];

		if (serve_name_check(s->name, why, sizeof(why))) {
			err_setf(err, err_len, 0, "Services[%s]: %s", quote(q, sizeof(q), s->name),
			         why);
			return -EINVAL;
		}
		if (i > 0 && strcmp(cfg->services[i - 1].name, s->name) >= 0) {
			err_setf(err, err_len, 0, "Services[%s]: duplicate or unsorted service",
			         quote(q, sizeof(q), s->name));
			return -EINVAL;
		}
		if (s->tun && s->n_ports) {
			err_setf(err, err_len, 0,
			         "Services[%s]: Tun cannot be combined with TCP or Web handlers",
			         quote(q, sizeof(q), s->name));
			return -EINVAL;
		}
		if (s->n_ports > SERVE_MAX_PORTS) {
			err_setf(err, err_len, 0,
			         "Services[%s].TCP: too many ports (%zu, limit %d)",
			         quote(q, sizeof(q), s->name), s->n_ports, SERVE_MAX_PORTS);
			return -E2BIG;
		}
		for (size_t j = 0; j < s->n_ports; j++) {
			const struct serve_port *p = &s->ports[j];

			if (p->port == 0 || (j > 0 && s->ports[j - 1].port >= p->port) ||
			    p->n_handlers > SERVE_MAX_HANDLERS ||
			    (is_web_type(p->type) && (p->n_handlers == 0 || p->tcp_forward)) ||
			    (is_tcp_type(p->type) && (p->n_handlers || !p->tcp_forward)) ||
			    (p->type == SERVE_TYPE_TLS_TCP) != (p->terminate_tls != NULL) ||
			    !(is_web_type(p->type) || is_tcp_type(p->type))) {
				err_setf(err, err_len, 0,
				         "Services[%s].TCP[\"%u\"]: inconsistent port entry",
				         quote(q, sizeof(q), s->name), p->port);
				return -EINVAL;
			}
		}
	}
	return 0;
}

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
		snprintf(j->place + old, sizeof(j->place) - old, "[%s]", quote(q, sizeof(q), key));
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
			             quote(q, sizeof(q), item->string));
	}
	return 0;
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

static int parse_port_entry(struct jin *j, struct serve_service *svc, const cJSON *item)
{
	bool https = false, http = false;
	const char *fwd = NULL, *tls = NULL;
	struct serve_port *p;
	uint16_t port;
	size_t old;
	int rc;

	rc = parse_port_n(item->string, strlen(item->string), true, &port);
	if (rc)
		return jfail(j, -EINVAL, "port must be a number from 1 to 65535");
	if (serve_service_find_port(svc, port))
		return jfail(j, -EINVAL, "duplicate port %u", port);
	rc = want_object(j, item);
	if (rc)
		return rc;
	for (const cJSON *c = item->child; c; c = c->next) {
		char q[QBUF_LEN];

		rc = check_dup(j, item->child, c);
		if (rc)
			return rc;
		old = place_push(j, c->string, NULL);
		if (strcmp(c->string, "HTTPS") == 0) {
			rc = want_bool(j, c);
			https = cJSON_IsTrue(c);
		} else if (strcmp(c->string, "HTTP") == 0) {
			rc = want_bool(j, c);
			http = cJSON_IsTrue(c);
		} else if (strcmp(c->string, "TCPForward") == 0) {
			rc = want_string(j, c, SERVE_MAX_TARGET_LEN);
			fwd = rc ? NULL : c->valuestring;
		} else if (strcmp(c->string, "TerminateTLS") == 0) {
			rc = want_string(j, c, SERVE_MAX_SUFFIX_LEN + 1 + SERVE_LABEL_MAX);
			if (!rc && !c->valuestring[0])
				rc = jfail(j, -EINVAL, "must not be empty");
			tls = rc ? NULL : c->valuestring;
		} else {
			place_pop(j, old);
			return jfail(
			    j, -EINVAL,
			    "unknown key %s (want HTTPS, HTTP, TCPForward or TerminateTLS)",
			    quote(q, sizeof(q), c->string));
		}
		if (rc)
			return rc;
		place_pop(j, old);
	}
	if (https && http)
		return jfail(j, -EINVAL, "HTTPS and HTTP are exclusive");
	if ((https || http) && fwd)
		return jfail(j, -EINVAL, "%s and TCPForward are exclusive",
		             https ? "HTTPS" : "HTTP");
	if ((https || http) && tls)
		return jfail(j, -EINVAL, "%s and TerminateTLS are exclusive",
		             https ? "HTTPS" : "HTTP");
	if (tls && !fwd)
		return jfail(j, -EINVAL, "TerminateTLS needs TCPForward");
	if (!https && !http && !fwd)
		return jfail(j, -EINVAL, "no serve type (want HTTPS, HTTP or TCPForward)");
	if (svc->n_ports >= SERVE_MAX_PORTS)
		return jfail(j, -E2BIG, "too many ports (limit %d)", SERVE_MAX_PORTS);
	p = port_insert(svc, port);
	if (!p)
		return jfail(j, -ENOMEM, "out of memory");
	if (https || http) {
		p->type = https ? SERVE_TYPE_HTTPS : SERVE_TYPE_HTTP;
		return 0;
	}
	{
		char out[SERVE_MAX_TARGET_LEN + 1], why[SERVE_ERR_LEN];
		enum serve_handler_kind kind;

		p->type = tls ? SERVE_TYPE_TLS_TCP : SERVE_TYPE_TCP;
		rc = serve_target_parse(SERVE_TYPE_TCP, fwd, &kind, out, sizeof(out), why,
		                        sizeof(why));
		if (rc) {
			place_push(j, "TCPForward", NULL);
			return jfail(j, rc, "%s", why);
		}
		p->tcp_forward = strdup(out);
		p->terminate_tls = tls ? strdup(tls) : NULL;
		if (!p->tcp_forward || (tls && !p->terminate_tls))
			return jfail(j, -ENOMEM, "out of memory");
	}
	return 0;
}

static int parse_handler(struct jin *j, struct serve_port *p, const cJSON *item)
{
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
		char q[QBUF_LEN];

		rc = check_dup(j, item->child, c);
		if (rc)
			return rc;
		if (strcmp(c->string, "Proxy") && strcmp(c->string, "Text") &&
		    strcmp(c->string, "Path"))
			return jfail(j, -EINVAL, "unknown key %s (want Proxy, Text or Path)",
			             quote(q, sizeof(q), c->string));
		if (which)
			return jfail(j, -EINVAL, "%s and %s are exclusive", which, c->string);
		which = c->string;
		val = c;
	}
	if (!which)
		return jfail(j, -EINVAL, "no handler (want Proxy, Text or Path)");
	old = place_push(j, which, NULL);
	if (strcmp(which, "Path") == 0) {
		rc = want_string(j, val, SERVE_MAX_PATH_LEN);
		if (rc)
			return rc;
		if (val->valuestring[0] != '/')
			return jfail(j, -EINVAL, "must be an absolute path");
		clean_path(val->valuestring, out);
		kind = SERVE_HANDLER_PATH;
	} else if (strcmp(which, "Text") == 0) {
		rc = want_string(j, val, SERVE_MAX_TARGET_LEN);
		if (rc)
			return rc;
		if (!val->valuestring[0])
			return jfail(j, -EINVAL, "text cannot be an empty string");
		snprintf(out, sizeof(out), "%s", val->valuestring);
		kind = SERVE_HANDLER_TEXT;
	} else {
		rc = want_string(j, val, SERVE_MAX_TARGET_LEN);
		if (rc)
			return rc;
		if (strncmp(val->valuestring, "text:", 5) == 0 || val->valuestring[0] == '/')
			return jfail(j, -EINVAL,
			             "must be a URL, HOST:PORT or port (use Text or Path for the "
			             "others)");
		rc = serve_target_parse(SERVE_TYPE_HTTP, val->valuestring, &kind, out, sizeof(out),
		                        why, sizeof(why));
		if (rc)
			return jfail(j, rc, "%s", why);
	}
	place_pop(j, old);
	if (p->n_handlers >= SERVE_MAX_HANDLERS)
		return jfail(j, -E2BIG, "too many handlers (limit %d)", SERVE_MAX_HANDLERS);
	h = handler_insert(p, mount);
	if (!h)
		return jfail(j, -ENOMEM, "out of memory");
	h->kind = kind;
	h->value = strdup(out);
	if (!h->value)
		return jfail(j, -ENOMEM, "out of memory");
	return 0;
}

static int parse_web_entry(struct jin *j, struct serve_service *svc, const cJSON *item)
{
	const char *key = item->string, *colon = strrchr(key, ':');
	const char *label = svc->name + 4;
	size_t hn, ln = strlen(label);
	struct serve_port *p;
	const cJSON *handlers = NULL;
	uint16_t port;
	size_t old;
	int rc;

	if (!colon)
		return jfail(j, -EINVAL, "key must be HOST:PORT");
	hn = (size_t)(colon - key);
	if (parse_port_n(colon + 1, strlen(colon + 1), true, &port))
		return jfail(j, -EINVAL, "port must be a number from 1 to 65535");
	if (!((hn == ln && strncasecmp(key, label, ln) == 0) ||
	      (j->cfg->suffix[0] && hn == ln + 1 + strlen(j->cfg->suffix) &&
	       strncasecmp(key, label, ln) == 0 && key[ln] == '.' &&
	       strncasecmp(key + ln + 1, j->cfg->suffix, hn - ln - 1) == 0))) {
		char q[QBUF_LEN];

		if (j->cfg->suffix[0])
			return jfail(j, -EINVAL,
			             "host %s is not this service's name (want %s or %s.%s)",
			             quote_n(q, sizeof(q), key, hn), label, label, j->cfg->suffix);
		return jfail(j, -EINVAL, "host %s is not this service's name (want %s)",
		             quote_n(q, sizeof(q), key, hn), label);
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
		char q[QBUF_LEN];

		rc = check_dup(j, item->child, c);
		if (rc)
			return rc;
		if (strcmp(c->string, "Handlers") != 0)
			return jfail(j, -EINVAL, "unknown key %s (want Handlers)",
			             quote(q, sizeof(q), c->string));
		handlers = c;
	}
	if (!handlers)
		return jfail(j, -EINVAL, "no Handlers");
	old = place_push(j, "Handlers", NULL);
	rc = want_object(j, handlers);
	if (rc)
		return rc;
	if (count_children(handlers) > SERVE_MAX_HANDLERS)
		return jfail(j, -E2BIG, "too many handlers (%d, limit %d)",
		             count_children(handlers), SERVE_MAX_HANDLERS);
	if (!handlers->child)
		return jfail(j, -EINVAL, "no handlers");
	for (const cJSON *c = handlers->child; c; c = c->next) {
		size_t o2 = place_push(j, NULL, c->string);

		rc = parse_handler(j, p, c);
		if (rc)
			return rc;
		place_pop(j, o2);
	}
	place_pop(j, old);
	return 0;
}

static int parse_service(struct jin *j, const cJSON *item)
{
	const cJSON *tcp = NULL, *web = NULL, *tun = NULL;
	struct serve_service *svc;
	char why[SERVE_ERR_LEN];
	size_t old;
	int rc;

	rc = serve_name_check(item->string, why, sizeof(why));
	if (rc)
		return jfail(j, rc, "%s", why);
	rc = want_object(j, item);
	if (rc)
		return rc;
	for (const cJSON *c = item->child; c; c = c->next) {
		char q[QBUF_LEN];

		rc = check_dup(j, item->child, c);
		if (rc)
			return rc;
		if (strcmp(c->string, "TCP") == 0)
			tcp = c;
		else if (strcmp(c->string, "Web") == 0)
			web = c;
		else if (strcmp(c->string, "Tun") == 0)
			tun = c;
		else
			return jfail(j, -EINVAL, "unknown key %s (want TCP, Web or Tun)",
			             quote(q, sizeof(q), c->string));
	}
	svc = service_insert(j->cfg, item->string);
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
		old = place_push(j, "TCP", NULL);
		rc = want_object(j, tcp);
		if (rc)
			return rc;
		if (count_children(tcp) > SERVE_MAX_PORTS)
			return jfail(j, -E2BIG, "too many ports (%d, limit %d)",
			             count_children(tcp), SERVE_MAX_PORTS);
		for (const cJSON *c = tcp->child; c; c = c->next) {
			size_t o2 = place_push(j, NULL, c->string);

			rc = parse_port_entry(j, svc, c);
			if (rc)
				return rc;
			place_pop(j, o2);
		}
		place_pop(j, old);
	}
	if (web) {
		old = place_push(j, "Web", NULL);
		rc = want_object(j, web);
		if (rc)
			return rc;
		if (count_children(web) > SERVE_MAX_PORTS)
			return jfail(j, -E2BIG, "too many entries (%d, limit %d)",
			             count_children(web), SERVE_MAX_PORTS);
		for (const cJSON *c = web->child; c; c = c->next) {
			size_t o2 = place_push(j, NULL, c->string);

			rc = parse_web_entry(j, svc, c);
			if (rc)
				return rc;
			place_pop(j, o2);
		}
		place_pop(j, old);
	}
	if (svc->tun && ((tcp && tcp->child) || (web && web->child)))
		return jfail(j, -EINVAL, "Tun cannot be combined with TCP or Web handlers");
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

int serve_config_from_json(const char *text, size_t len, const char *tailnet_suffix,
                           struct serve_config *out, char *err, size_t err_len)
{
	struct jin j = {.cfg = out, .err = err, .err_len = err_len};
	const char *end = NULL;
	const cJSON *services = NULL;
	cJSON *root;
	int rc = 0;

	serve_config_init(out, tailnet_suffix);
	if (err && err_len)
		err[0] = '\0';
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
			rc = -EINVAL;
			goto out_delete;
		}
	}
	if (!cJSON_IsObject(root)) {
		err_setf(err, err_len, 0, "serve config must be a JSON object");
		rc = -EINVAL;
		goto out_delete;
	}
	for (const cJSON *c = root->child; c; c = c->next) {
		char q[QBUF_LEN];

		if (strcmp(c->string, "Services") != 0) {
			err_setf(err, err_len, 0, "unknown key %s (want Services)",
			         quote(q, sizeof(q), c->string));
			rc = -EINVAL;
			goto out_delete;
		}
		if (services) {
			err_setf(err, err_len, 0, "duplicate key \"Services\"");
			rc = -EINVAL;
			goto out_delete;
		}
		services = c;
	}
	if (services) {
		snprintf(j.place, sizeof(j.place), "Services");
		rc = want_object(&j, services);
		if (rc)
			goto out_delete;
		if (count_children(services) > SERVE_MAX_SERVICES) {
			rc = jfail(&j, -E2BIG, "too many services (%d, limit %d)",
			           count_children(services), SERVE_MAX_SERVICES);
			goto out_delete;
		}
		for (const cJSON *c = services->child; c; c = c->next) {
			size_t old;

			rc = check_dup(&j, services->child, c);
			if (rc)
				goto out_delete;
			old = place_push(&j, NULL, c->string);
			rc = parse_service(&j, c);
			if (rc)
				goto out_delete;
			place_pop(&j, old);
		}
	}
out_delete:
	cJSON_Delete(root);
	if (rc)
		serve_config_free(out);
	return rc;
}

/* --- JSON out ----------------------------------------------------------------- */

/* Growable output with the vendor CLI's layout (Go's MarshalIndent, 2 spaces). */
struct jout {
	char *buf;
	size_t len, cap;
	bool pretty, oom;
	int depth;
	bool first[8];
};

static void jo_put(struct jout *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *b;

		while (o->len + n + 1 > cap)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void jo_puts(struct jout *o, const char *s)
{
	jo_put(o, s, strlen(s));
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

char *serve_config_to_json(const struct serve_config *cfg, bool pretty)
{
	struct jout o = {.pretty = pretty};
	char host[SERVE_MAX_SUFFIX_LEN + SERVE_LABEL_MAX + 2];

	jo_open(&o);
	if (cfg->n_services) {
		jo_key(&o, "Services");
		jo_open(&o);
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct serve_service *s = &cfg->services[i];
		bool any_web = false;

		jo_key(&o, s->name);
		jo_open(&o);
		if (s->n_ports) {
			jo_key(&o, "TCP");
			jo_open(&o);
		}
		for (size_t k = 0; k < s->n_ports; k++) {
			const struct serve_port *p = &s->ports[k];
			char key[16];

			snprintf(key, sizeof(key), "%u", p->port);
			jo_key(&o, key);
			jo_open(&o);
			if (p->type == SERVE_TYPE_HTTPS) {
				jo_key(&o, "HTTPS");
				jo_puts(&o, "true");
			} else if (p->type == SERVE_TYPE_HTTP) {
				jo_key(&o, "HTTP");
				jo_puts(&o, "true");
			} else {
				jo_key(&o, "TCPForward");
				jo_str(&o, p->tcp_forward);
				if (p->terminate_tls) {
					jo_key(&o, "TerminateTLS");
					jo_str(&o, p->terminate_tls);
				}
			}
			any_web |= is_web_type(p->type);
			jo_close(&o);
		}
		if (s->n_ports)
			jo_close(&o);
		if (any_web) {
			serve_service_host(cfg, s->name, host, sizeof(host));
			jo_key(&o, "Web");
			jo_open(&o);
			for (size_t k = 0; k < s->n_ports; k++) {
				const struct serve_port *p = &s->ports[k];
				char key[sizeof(host) + 8];

				if (!is_web_type(p->type))
					continue;
				snprintf(key, sizeof(key), "%s:%u", host, p->port);
				jo_key(&o, key);
				jo_open(&o);
				jo_key(&o, "Handlers");
				jo_open(&o);
				for (size_t h = 0; h < p->n_handlers; h++) {
					const struct serve_handler *hd = &p->handlers[h];

					jo_key(&o, hd->mount);
					jo_open(&o);
					jo_key(&o, hd->kind == SERVE_HANDLER_PATH    ? "Path"
					           : hd->kind == SERVE_HANDLER_PROXY ? "Proxy"
					                                             : "Text");
					jo_str(&o, hd->value);
					jo_close(&o);
				}
				jo_close(&o);
				jo_close(&o);
			}
			jo_close(&o);
		}
		if (s->tun) {
			jo_key(&o, "Tun");
			jo_puts(&o, "true");
		}
		jo_close(&o);
	}
	if (cfg->n_services)
		jo_close(&o);
	jo_close(&o);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

/* --- advertisement ----------------------------------------------------------- */

void serve_adv_init(struct serve_adv *adv)
{
	memset(adv, 0, sizeof(*adv));
}

enum serve_adv_state serve_adv_get(const struct serve_adv *adv, const char *name)
{
	for (size_t i = 0; i < adv->n; i++)
		if (strcmp(adv->e[i].name, name) == 0)
			return adv->e[i].state;
	return SERVE_ADV_NONE;
}

int serve_adv_set(struct serve_adv *adv, const char *name, enum serve_adv_state state)
{
	size_t i = 0;

	CHECK(strlen(name) <= SERVE_NAME_MAX);
	while (i < adv->n && strcmp(adv->e[i].name, name) < 0)
		i++;
	if (i < adv->n && strcmp(adv->e[i].name, name) == 0) {
		if (state == SERVE_ADV_NONE) {
			memmove(&adv->e[i], &adv->e[i + 1], (adv->n - i - 1) * sizeof(adv->e[0]));
			adv->n--;
		} else {
			adv->e[i].state = state;
		}
		return 0;
	}
	if (state == SERVE_ADV_NONE)
		return 0;
	if (adv->n >= SERVE_MAX_SERVICES)
		return -E2BIG;
	memmove(&adv->e[i + 1], &adv->e[i], (adv->n - i) * sizeof(adv->e[0]));
	adv->n++;
	snprintf(adv->e[i].name, sizeof(adv->e[i].name), "%s", name);
	adv->e[i].state = state;
	return 0;
}

bool serve_host_may_serve(bool node_has_tags, const char *service, char *err, size_t err_len)
{
	if (node_has_tags)
		return true;
	err_setf(
	    err, err_len, 0,
	    "cannot serve %s: a service host must be a tagged node, and this machine has no tags",
	    service);
	return false;
}
