/* Validation of what a user writes into a serve config (see serve_config.h):
 * service names (SVC-1), targets (CFG-3), mount paths (CFG-4) and the
 * invariants of a built config, with the quoting and port and path helpers
 * the JSON reader shares (serve_int.h). Messages name the rule broken. */
#include "proxy/serve/serve_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/numarg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- quoting, ports, paths ------------------------------------------------ */

const char *sv_quote_n(char *buf, size_t buf_len, const char *s, size_t n)
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

const char *sv_quote(char *buf, size_t buf_len, const char *s)
{
	return sv_quote_n(buf, buf_len, s, strlen(s));
}

int sv_parse_port_n(const char *s, size_t n, bool canonical, uint16_t *port)
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

void sv_clean_path(const char *in, char *out)
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
		         sv_quote(q, sizeof(q), name));
		return -EINVAL;
	}
	label = name + 4;
	n = strlen(label);
	if (n < 1 || n > SERVE_LABEL_MAX) {
		err_setf(
		    err, err_len, 0,
		    "invalid service name %s: the label after \"svc:\" must be 1-%d characters, "
		    "got %zu",
		    sv_quote(q, sizeof(q), name), SERVE_LABEL_MAX, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)label[i];

		if (!isalnum(c) && c != '-') {
			char cq[16];

			sv_quote_n(cq, sizeof(cq), label + i, 1);
			err_setf(
			    err, err_len, 0,
			    "invalid service name %s: only letters, digits and '-' are allowed, "
			    "found %s",
			    sv_quote(q, sizeof(q), name), cq);
			return -EINVAL;
		}
	}
	if (!isalnum((unsigned char)label[0])) {
		err_setf(
		    err, err_len, 0,
		    "invalid service name %s: must start with a letter or digit after \"svc:\"",
		    sv_quote(q, sizeof(q), name));
		return -EINVAL;
	}
	if (!isalnum((unsigned char)label[n - 1])) {
		err_setf(err, err_len, 0,
		         "invalid service name %s: must end with a letter or digit",
		         sv_quote(q, sizeof(q), name));
		return -EINVAL;
	}
	return 0;
}

/* --- targets ---------------------------------------------------------------- */

/* The host of "host[:port]" (n bytes): a bracketed IPv6 address, or a name
 * or IPv4 address. Sets *colon to the ':' before the port, NULL for none.
 * Writes the reason to `why` on failure. */
static int check_host(const char *s, size_t n, const char **colon, char *why, size_t why_len)
{
	const char *host = s;
	size_t host_n;

	*colon = NULL;
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
			*colon = s + host_n;
		}
		return 0;
	}
	*colon = memchr(s, ':', n);
	host_n = *colon ? (size_t)(*colon - s) : n;
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

			sv_quote_n(cq, sizeof(cq), host + i, 1);
			err_setf(why, why_len, 0, "invalid character %s in the host", cq);
			return -EINVAL;
		}
	}
	return 0;
}

/* Checks "host[:port]" of n bytes. Writes the reason to `why` on failure. */
static int check_hostport(const char *s, size_t n, bool port_required, char *why, size_t why_len)
{
	const char *colon;
	uint16_t port;
	int rc;

	rc = check_host(s, n, &colon, why, why_len);
	if (rc)
		return rc;
	if (!colon) {
		if (port_required) {
			err_setf(why, why_len, 0, "missing port (want PORT, HOST:PORT or a URL)");
			return -EINVAL;
		}
		return 0;
	}
	rc = sv_parse_port_n(colon + 1, n - (size_t)(colon + 1 - s), false, &port);
	if (rc == -1 && colon + 1 == s + n) {
		err_setf(why, why_len, 0, "missing port after ':'");
		return -EINVAL;
	}
	if (rc == -1) {
		char q[QBUF_LEN];

		err_setf(why, why_len, 0, "invalid port %s",
		         sv_quote_n(q, sizeof(q), colon + 1, n - (size_t)(colon + 1 - s)));
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

/* A proxy target `raw` whose host[:port] part is hp[0..hp_len): no space
 * or control character anywhere, and a valid host and port. */
static int check_proxy_target(const char *raw, const char *hp, size_t hp_len, bool port_required,
                              char *why, size_t why_len)
{
	if (has_space_or_ctl(raw, strlen(raw))) {
		err_setf(why, why_len, 0, "contains a space or control character");
		return -EINVAL;
	}
	return check_hostport(hp, hp_len, port_required, why, why_len);
}

static bool scheme_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

/* A web target with a scheme: http://, https:// or https+insecure://
 * HOST[:PORT][/path], the scheme written lower-case. `sep` is the "://". */
static int web_url_target(const char *raw, const char *sep, enum serve_handler_kind *kind,
                          char *out, size_t out_len, char *why, size_t why_len)
{
	size_t sn = (size_t)(sep - raw);
	const char *auth = sep + 3, *slash;
	size_t an;
	int rc;

	if (!scheme_is(raw, sn, "http") && !scheme_is(raw, sn, "https") &&
	    !scheme_is(raw, sn, "https+insecure")) {
		char q[QBUF_LEN];

		err_setf(why, why_len, 0, "unknown scheme %s (want http, https or https+insecure)",
		         sv_quote_n(q, sizeof(q), raw, sn));
		return -EINVAL;
	}
	slash = strchr(auth, '/');
	an = slash ? (size_t)(slash - auth) : strlen(auth);
	rc = check_proxy_target(raw, auth, an, false, why, why_len);
	if (rc)
		return rc;
	*kind = SERVE_HANDLER_PROXY;
	snprintf(out, out_len, "%s", raw);
	for (size_t i = 0; i < sn; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

/* A bare port number names this host: prefix ("http://" or "") then
 * 127.0.0.1:PORT into out. 1 when raw was a port, 0 when it is not a
 * number, -EINVAL (why set) for a port out of range. */
static int local_port_target(const char *raw, const char *prefix, char *out, size_t out_len,
                             char *why, size_t why_len)
{
	uint16_t port;
	int rc = sv_parse_port_n(raw, strlen(raw), false, &port);

	if (rc == 0) {
		snprintf(out, out_len, "%s127.0.0.1:%u", prefix, port);
		return 1;
	}
	if (rc == -2) {
		err_setf(why, why_len, 0, "port %.16s is out of range (1-65535)", raw);
		return -EINVAL;
	}
	return 0;
}

/* A web target without a scheme: HOST:PORT[/path], proxied over http://. */
static int web_hostport_target(const char *raw, enum serve_handler_kind *kind, char *out,
                               size_t out_len, char *why, size_t why_len)
{
	const char *slash = strchr(raw, '/');
	size_t an = slash ? (size_t)(slash - raw) : strlen(raw);
	int rc;

	if (!memchr(raw, ':', an) && (raw[0] == '.' || slash || raw[0] == '~')) {
		err_setf(why, why_len, 0,
		         "a relative path (file and directory targets must be "
		         "absolute paths)");
		return -EINVAL;
	}
	rc = check_proxy_target(raw, raw, an, true, why, why_len);
	if (rc)
		return rc;
	*kind = SERVE_HANDLER_PROXY;
	snprintf(out, out_len, "http://%s", raw);
	return 0;
}

/* The web (HTTPS/HTTP) half of serve_target_parse: text:TEXT, an absolute
 * path, a port on this host, a URL or HOST:PORT. */
static int web_target(const char *raw, enum serve_handler_kind *kind, char *out, size_t out_len,
                      char *why, size_t why_len)
{
	const char *sep = strstr(raw, "://");
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
		sv_clean_path(raw, out);
		return 0;
	}
	rc = local_port_target(raw, "http://", out, out_len, why, why_len);
	if (rc > 0)
		*kind = SERVE_HANDLER_PROXY;
	if (rc)
		return rc < 0 ? rc : 0;
	if (sep)
		return web_url_target(raw, sep, kind, out, out_len, why, why_len);
	return web_hostport_target(raw, kind, out, out_len, why, why_len);
}

/* The TCP half of serve_target_parse: "host:port" out. */
static int tcp_target(const char *raw, char *out, size_t out_len, char *why, size_t why_len)
{
	const char *sep = strstr(raw, "://");
	const char *auth = raw;
	size_t an;
	int rc;

	rc = local_port_target(raw, "", out, out_len, why, why_len);
	if (rc)
		return rc < 0 ? rc : 0;
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
			         sv_quote_n(q, sizeof(q), raw, sn));
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
		err_setf(err, err_len, 0, "invalid target %s: %s", sv_quote(q, sizeof(q), raw),
		         why);
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
			    sv_quote(q, sizeof(q), tmp));
			return -EINVAL;
		}
	}
	sv_clean_path(tmp, clean);
	cn = strlen(clean);
	if (!(strcmp(tmp, clean) == 0 ||
	      (cn + 1 == n && strncmp(tmp, clean, cn) == 0 && tmp[n - 1] == '/'))) {
		err_setf(err, err_len, 0, "invalid mount point %s: not a clean path (want %s)",
		         sv_quote(q, sizeof(q), tmp), clean);
		return -EINVAL;
	}
	snprintf(out, out_len, "%s", tmp);
	return 0;
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
			err_setf(err, err_len, 0, "Services[%s]: %s",
			         sv_quote(q, sizeof(q), s->name), why);
			return -EINVAL;
		}
		if (i > 0 && strcmp(cfg->services[i - 1].name, s->name) >= 0) {
			err_setf(err, err_len, 0, "Services[%s]: duplicate or unsorted service",
			         sv_quote(q, sizeof(q), s->name));
			return -EINVAL;
		}
		if (s->tun && s->n_ports) {
			err_setf(err, err_len, 0,
			         "Services[%s]: Tun cannot be combined with TCP or Web handlers",
			         sv_quote(q, sizeof(q), s->name));
			return -EINVAL;
		}
		if (s->n_ports > SERVE_MAX_PORTS) {
			err_setf(err, err_len, 0,
			         "Services[%s].TCP: too many ports (%zu, limit %d)",
			         sv_quote(q, sizeof(q), s->name), s->n_ports, SERVE_MAX_PORTS);
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
				         sv_quote(q, sizeof(q), s->name), p->port);
				return -EINVAL;
			}
		}
	}
	return 0;
}
