/* The `serve` command grammar, its application to a config, and its output
 * (see serve_cmd.h). */
#include "proxy/serve/serve_cmd.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/numarg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest user text echoed in a message, and the longest text shown in a
 * handler tree (as the vendor CLI does). */
#define SERVE_CMD_ECHO_MAX  80
#define SERVE_CMD_TEXT_SHOW 20

/* --- tokeniser ------------------------------------------------------------------ */

/* Copies the piece of a word at line[*i_io] into buf at *o_io, as a POSIX
 * shell reads it: a single-quoted string, a double-quoted one (where a
 * backslash escapes only $ ` " \ and a newline), a backslash-escaped
 * character, or a plain one. 0, or -EINVAL for an unterminated quote or a
 * trailing backslash. */
static int tok_piece(const char *line, size_t len, size_t *i_io, char *buf, size_t *o_io, char *err,
                     size_t err_len)
{
	size_t i = *i_io, o = *o_io;
	char c = line[i];

	if (c == '\'') {
		const char *close = memchr(line + i + 1, '\'', len - i - 1);
		size_t n;

		if (!close)
			return err_setf(err, err_len, -EINVAL, "unterminated single quote");
		n = (size_t)(close - (line + i + 1));
		memcpy(buf + o, line + i + 1, n);
		o += n;
		i += n + 2;
	} else if (c == '"') {
		i++;
		for (;;) {
			if (i >= len)
				return err_setf(err, err_len, -EINVAL, "unterminated double quote");
			c = line[i];
			if (c == '"') {
				i++;
				break;
			}
			if (c == '\\' && i + 1 < len && strchr("$`\"\\\n", line[i + 1]) != NULL) {
				if (line[i + 1] != '\n')
					buf[o++] = line[i + 1];
				i += 2;
				continue;
			}
			buf[o++] = c;
			i++;
		}
	} else if (c == '\\') {
		if (i + 1 >= len)
			return err_setf(err, err_len, -EINVAL, "trailing backslash");
		if (line[i + 1] != '\n')
			buf[o++] = line[i + 1];
		i += 2;
	} else {
		buf[o++] = c;
		i++;
	}
	*i_io = i;
	*o_io = o;
	return 0;
}

int serve_cmd_tokenize(const char *line, size_t len, struct serve_argv *out, char *err,
                       size_t err_len)
{
	size_t i = 0, o = 0, word_start = 0;
	bool in_word = false;
	int rc;

	out->argc = 0;
	out->argv[0] = NULL;
	if (len > SERVE_CMD_MAX_LINE)
		return err_setf(err, err_len, -E2BIG,
		                "command line is too long (%zu bytes, limit %d)", len,
		                SERVE_CMD_MAX_LINE);
	if (memchr(line, '\0', len))
		return err_setf(err, err_len, -EINVAL, "command line contains a NUL byte");
	for (;;) {
		char c = i < len ? line[i] : '\0';
		bool end = i >= len;

		if (!in_word) {
			if (end)
				break;
			if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				i++;
				continue;
			}
			if (out->argc >= SERVE_CMD_MAX_ARGS)
				return err_setf(err, err_len, -E2BIG,
				                "too many arguments (limit %d)",
				                SERVE_CMD_MAX_ARGS);
			in_word = true;
			word_start = o;
		}
		if (end || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			out->buf[o++] = '\0';
			out->argv[out->argc++] = out->buf + word_start;
			out->argv[out->argc] = NULL;
			in_word = false;
			continue;
		}
		rc = tok_piece(line, len, &i, out->buf, &o, err, err_len);
		if (rc)
			return rc;
		if (o - word_start > SERVE_CMD_MAX_ARG_LEN)
			return err_setf(err, err_len, -E2BIG,
			                "argument %d is too long (limit %d bytes)", out->argc + 1,
			                SERVE_CMD_MAX_ARG_LEN);
	}
	CHECK(o <= sizeof(out->buf));
	return 0;
}

/* --- parser --------------------------------------------------------------------- */

/* Flags the parser knows; each section of the command accepts a subset. */
enum serve_flag {
	SF_NONE = 0,
	SF_SERVICE,
	SF_HTTPS,
	SF_HTTP,
	SF_TCP,
	SF_TLS_TCP,
	SF_SET_PATH,
	SF_TUN,
	SF_BG,
	SF_YES,
	SF_JSON,
	SF_COUNT,
};

static const char serve_flag_names[SF_COUNT][20] = {
    [SF_SERVICE] = "service",
    [SF_HTTPS] = "https",
    [SF_HTTP] = "http",
    [SF_TCP] = "tcp",
    [SF_TLS_TCP] = "tls-terminated-tcp",
    [SF_SET_PATH] = "set-path",
    [SF_TUN] = "tun",
    [SF_BG] = "bg",
    [SF_YES] = "yes",
    [SF_JSON] = "json",
};

static bool flag_is_bool(enum serve_flag f)
{
	return f == SF_TUN || f == SF_BG || f == SF_YES || f == SF_JSON;
}

/* What the flags said, before checking how they combine. */
struct flagset {
	bool given[SF_COUNT];
	const char *val[SF_COUNT]; /* string flags */
	bool bval[SF_COUNT];       /* bool flags */
	uint16_t port[SF_COUNT];   /* port flags */
};

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, bool *v)
{
	static const char t[][6] = {"1", "t", "T", "true", "TRUE", "True"};
	static const char f[][6] = {"0", "f", "F", "false", "FALSE", "False"};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(s, t[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Echoes user text into a message, cut at SERVE_CMD_ECHO_MAX. */
static const char *echo(char *buf, size_t buf_len, const char *s)
{
	size_t n = strlen(s);

	if (n > SERVE_CMD_ECHO_MAX)
		snprintf(buf, buf_len, "%.*s...", SERVE_CMD_ECHO_MAX, s);
	else
		snprintf(buf, buf_len, "%s", s);
	return buf;
}

#define ECHO_LEN (SERVE_CMD_ECHO_MAX + 8)

/* The flag whose name is name[0..nn), or SF_NONE. */
static enum serve_flag flag_by_name(const char *name, size_t nn)
{
	for (int k = 1; k < SF_COUNT; k++) {
		if (strlen(serve_flag_names[k]) == nn &&
		    strncmp(serve_flag_names[k], name, nn) == 0)
			return (enum serve_flag)k;
	}
	return SF_NONE;
}

/* The port a port flag (--https, --http, --tcp, --tls-terminated-tcp)
 * gives, 1-65535. */
static int flag_port(enum serve_flag f, const char *val, uint16_t *port, char *err, size_t err_len)
{
	char why[96], e[ECHO_LEN];
	int rc = numarg_port(val, port, why, sizeof(why));

	if (rc == -ERANGE)
		return err_setf(err, err_len, -EINVAL, "port %s is out of range for --%s (1-65535)",
		                echo(e, sizeof(e), val), serve_flag_names[f]);
	if (rc < 0)
		return err_setf(err, err_len, -EINVAL,
		                "invalid value \"%s\" for --%s: want a port number (1-65535): %s",
		                echo(e, sizeof(e), val), serve_flag_names[f], why);
	return 0;
}

/* Parses flags from argv[*i] on, allowing only those in `allowed`, until the
 * first positional argument (or after "--"). */
static int parse_flags(int argc, char *const argv[], int *i, const bool allowed[SF_COUNT],
                       const char *where, struct flagset *fs, char *err, size_t err_len)
{
	char e1[ECHO_LEN];

	for (; *i < argc; (*i)++) {
		const char *a = argv[*i], *name, *sep, *val = NULL;
		enum serve_flag f = SF_NONE;
		size_t nn;

		if (strcmp(a, "--") == 0) {
			(*i)++;
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0')
			return 0;
		name = a + (a[1] == '-' ? 2 : 1);
		if (name[0] == '\0' || name[0] == '-' || name[0] == '=' || name[0] == ':')
			return err_setf(err, err_len, -EINVAL, "bad flag syntax: %s",
			                echo(e1, sizeof(e1), a));
		sep = strpbrk(name, "=:");
		nn = sep ? (size_t)(sep - name) : strlen(name);
		if (sep)
			val = sep + 1;
		f = flag_by_name(name, nn);
		if (f == SF_NONE)
			return err_setf(err, err_len, -EINVAL, "unknown flag --%.*s",
			                (int)(nn > 64 ? 64 : nn), name);
		if (!allowed[f])
			return err_setf(err, err_len, -EINVAL, "flag --%s is not accepted by %s",
			                serve_flag_names[f], where);
		fs->given[f] = true;
		if (flag_is_bool(f)) {
			fs->bval[f] = true;
			if (val && parse_bool(val, &fs->bval[f]))
				return err_setf(
				    err, err_len, -EINVAL,
				    "invalid boolean value \"%s\" for --%s (want true or "
				    "false)",
				    echo(e1, sizeof(e1), val), serve_flag_names[f]);
			continue;
		}
		if (!val) {
			if (*i + 1 >= argc)
				return err_setf(err, err_len, -EINVAL,
				                "flag needs an argument: --%s",
				                serve_flag_names[f]);
			val = argv[++(*i)];
		}
		fs->val[f] = val;
		if (f == SF_HTTPS || f == SF_HTTP || f == SF_TCP || f == SF_TLS_TCP) {
			int rc = flag_port(f, val, &fs->port[f], err, err_len);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int parse_subcommand(int argc, char *const argv[], int i, const struct flagset *top,
                            struct serve_op *op, char *err, size_t err_len)
{
	const char *sub = argv[i];
	char where[32], e1[ECHO_LEN];
	bool allowed[SF_COUNT] = {false};
	struct flagset fs;
	int rc, nargs;

	snprintf(where, sizeof(where), "serve %s", sub);
	for (int k = 1; k < SF_COUNT; k++) {
		if (top->given[k] && k != SF_BG && k != SF_YES && k != SF_SERVICE)
			return err_setf(err, err_len, -EINVAL, "flag --%s is not accepted by %s",
			                serve_flag_names[k], where);
	}
	if (strcmp(sub, "status") == 0) {
		op->verb = SERVE_VERB_STATUS;
		allowed[SF_JSON] = true;
	} else if (strcmp(sub, "reset") == 0) {
		op->verb = SERVE_VERB_RESET;
	} else {
		op->verb = strcmp(sub, "drain") == 0   ? SERVE_VERB_DRAIN
		           : strcmp(sub, "clear") == 0 ? SERVE_VERB_CLEAR
		                                       : SERVE_VERB_ADVERTISE;
		allowed[SF_SERVICE] = true;
	}
	if (top->given[SF_SERVICE] && !allowed[SF_SERVICE])
		return err_setf(err, err_len, -EINVAL, "flag --service is not accepted by %s",
		                where);
	fs = *top;
	i++;
	rc = parse_flags(argc, argv, &i, allowed, where, &fs, err, err_len);
	if (rc)
		return rc;
	nargs = argc - i;
	op->json = fs.bval[SF_JSON];
	if (op->verb == SERVE_VERB_STATUS || op->verb == SERVE_VERB_RESET) {
		if (nargs)
			return err_setf(err, err_len, -EINVAL, "%s takes no arguments (got \"%s\")",
			                where, echo(e1, sizeof(e1), argv[i]));
		return 0;
	}
	if (nargs == 1 && fs.given[SF_SERVICE] && strcmp(argv[i], fs.val[SF_SERVICE]) != 0)
		return err_setf(err, err_len, -EINVAL,
		                "%s: --service and the argument name different "
		                "services",
		                where);
	if (nargs > 1 || (nargs == 0 && !fs.given[SF_SERVICE]))
		return err_setf(err, err_len, -EINVAL,
		                "%s takes exactly one service name (%s svc:<name>)", where, where);
	snprintf(op->service, sizeof(op->service), "%s", nargs ? argv[i] : fs.val[SF_SERVICE]);
	if (strlen(nargs ? argv[i] : fs.val[SF_SERVICE]) > SERVE_NAME_MAX)
		return serve_name_check(nargs ? argv[i] : fs.val[SF_SERVICE], err, err_len);
	return serve_name_check(op->service, err, err_len);
}

/* serve --service=svc:X ...: the service named, and background mode only. */
static int parse_set_service(const struct flagset *fs, struct serve_op *op, char *err,
                             size_t err_len)
{
	int rc;

	if (!fs->given[SF_SERVICE])
		return err_setf(
		    err, err_len, -EINVAL,
		    "--service=svc:<name> is required (this daemon serves services only)");
	if (strlen(fs->val[SF_SERVICE]) > SERVE_NAME_MAX)
		return serve_name_check(fs->val[SF_SERVICE], err, err_len);
	snprintf(op->service, sizeof(op->service), "%s", fs->val[SF_SERVICE]);
	rc = serve_name_check(op->service, err, err_len);
	if (rc)
		return rc;
	if (fs->given[SF_BG] && !fs->bval[SF_BG])
		return err_setf(
		    err, err_len, -EINVAL,
		    "--service is only compatible with background mode (--bg=false given)");
	op->yes = fs->bval[SF_YES];
	return 0;
}

/* The serve type and port: at most one of --https, --http, --tcp,
 * --tls-terminated-tcp and --tun (none: --https=443). */
static int parse_set_type(const struct flagset *fs, struct serve_op *op, char *err, size_t err_len)
{
	static const enum serve_flag type_flags[] = {SF_HTTPS, SF_HTTP, SF_TCP, SF_TLS_TCP};
	static const enum serve_type type_of[] = {SERVE_TYPE_HTTPS, SERVE_TYPE_HTTP, SERVE_TYPE_TCP,
	                                          SERVE_TYPE_TLS_TCP};
	int ntypes = 0;

	op->type = SERVE_TYPE_HTTPS;
	op->port = 443;
	for (size_t k = 0; k < sizeof(type_flags) / sizeof(type_flags[0]); k++) {
		if (fs->given[type_flags[k]]) {
			ntypes++;
			op->type = type_of[k];
			op->port = fs->port[type_flags[k]];
		}
	}
	if (fs->given[SF_TUN] && fs->bval[SF_TUN]) {
		ntypes++;
		op->type = SERVE_TYPE_TUN;
		op->port = 0;
	}
	if (ntypes > 1)
		return err_setf(err, err_len, -EINVAL,
		                "cannot serve multiple types for a single mount point (give one of "
		                "--https, --http, --tcp, --tls-terminated-tcp, --tun)");
	return 0;
}

/* The positional arguments argv[i..]: TARGET, TARGET off, or for --tun
 * nothing or off. Sets *off. */
static int parse_set_args(int argc, char *const argv[], int i, const struct serve_op *op, bool *off,
                          char *err, size_t err_len)
{
	int nargs = argc - i;
	char e1[ECHO_LEN];

	*off = nargs > 0 && strcmp(argv[argc - 1], "off") == 0;
	if (nargs > 2)
		return err_setf(err, err_len, -EINVAL,
		                "invalid number of arguments (%d; want TARGET or TARGET off)",
		                nargs);
	if (nargs == 2 && !*off)
		return err_setf(
		    err, err_len, -EINVAL,
		    "invalid argument format: \"%s\" after the target (only \"off\" may "
		    "follow it)",
		    echo(e1, sizeof(e1), argv[argc - 1]));
	if (op->type == SERVE_TYPE_TUN && (nargs - (*off ? 1 : 0)) > 0)
		return err_setf(err, err_len, -EINVAL, "--tun takes no target (got \"%s\")",
		                echo(e1, sizeof(e1), argv[i]));
	if (op->type != SERVE_TYPE_TUN && nargs == 0)
		return err_setf(err, err_len, -EINVAL,
		                "missing target (serve --service=%s --%s=%u TARGET)", op->service,
		                serve_type_name(op->type), op->port);
	return 0;
}

/* --set-path, for --https and --http only (CFG-4); "/" without it. */
static int parse_set_mount(const struct flagset *fs, struct serve_op *op, char *err, size_t err_len)
{
	op->path_set = fs->given[SF_SET_PATH];
	if (op->path_set && (op->type == SERVE_TYPE_TCP || op->type == SERVE_TYPE_TLS_TCP ||
	                     op->type == SERVE_TYPE_TUN))
		return err_setf(
		    err, err_len, -EINVAL,
		    "--set-path cannot be used with --%s (only --https and --http serve "
		    "paths)",
		    serve_type_name(op->type));
	if (op->type == SERVE_TYPE_HTTPS || op->type == SERVE_TYPE_HTTP)
		return serve_mount_parse(op->path_set ? fs->val[SF_SET_PATH] : "", op->mount,
		                         sizeof(op->mount), err, err_len);
	return 0;
}

int serve_cmd_parse(int argc, char *const argv[], struct serve_op *op, char *err, size_t err_len)
{
	bool allowed[SF_COUNT];
	struct flagset fs;
	int i = 1, rc;
	bool off;

	memset(op, 0, sizeof(*op));
	memset(&fs, 0, sizeof(fs));
	if (err && err_len)
		err[0] = '\0';
	if (argc < 1 || strcmp(argv[0], "serve") != 0)
		return err_setf(err, err_len, -EINVAL, "not a serve command (want \"serve ...\")");
	for (int k = 0; k < SF_COUNT; k++)
		allowed[k] = k != SF_JSON && k != SF_NONE;
	rc = parse_flags(argc, argv, &i, allowed, "serve", &fs, err, err_len);
	if (rc)
		return rc;
	if (i < argc && i > 0 && strcmp(argv[i - 1], "--") != 0 &&
	    (strcmp(argv[i], "status") == 0 || strcmp(argv[i], "reset") == 0 ||
	     strcmp(argv[i], "drain") == 0 || strcmp(argv[i], "clear") == 0 ||
	     strcmp(argv[i], "advertise") == 0))
		return parse_subcommand(argc, argv, i, &fs, op, err, err_len);
	if (argc == 1)
		return err_setf(
		    err, err_len, -EINVAL,
		    "missing arguments (serve --service=svc:<name> [--https=N] TARGET, or "
		    "serve status|reset|drain|clear|advertise)");

	/* serve --service=... [type] [--set-path] TARGET [off] */
	rc = parse_set_service(&fs, op, err, err_len);
	if (rc)
		return rc;
	rc = parse_set_type(&fs, op, err, err_len);
	if (rc)
		return rc;
	rc = parse_set_args(argc, argv, i, op, &off, err, err_len);
	if (rc)
		return rc;
	rc = parse_set_mount(&fs, op, err, err_len);
	if (rc)
		return rc;
	if (off) {
		op->verb = SERVE_VERB_OFF;
		return 0;
	}
	op->verb = SERVE_VERB_SET;
	if (op->type == SERVE_TYPE_TUN)
		return 0;
	return serve_target_parse(op->type, argv[i], &op->kind, op->value, sizeof(op->value), err,
	                          err_len);
}

int serve_cmd_parse_line(const char *line, size_t len, struct serve_op *op, char *err,
                         size_t err_len)
{
	struct serve_argv *av = malloc(sizeof(*av));
	int rc, skip = 0;

	memset(op, 0, sizeof(*op));
	if (!av)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	rc = serve_cmd_tokenize(line, len, av, err, err_len);
	if (rc)
		goto out_free;
	if (av->argc > 0 &&
	    (strcmp(av->argv[0], "tailscale") == 0 || strcmp(av->argv[0], "svcctl") == 0))
		skip = 1;
	rc = serve_cmd_parse(av->argc - skip, av->argv + skip, op, err, err_len);
out_free:
	free(av);
	return rc;
}

/* --- apply ---------------------------------------------------------------------- */

/* What `serve ... TARGET` may not change: a TUN service gets no ports, a
 * service with ports does not become TUN, and a port keeps its type. *p is
 * the port already there, or NULL. 0 or -EBUSY with the command that
 * clears the way. */
static int set_check_conflict(const struct serve_service *svc, const struct serve_op *op,
                              struct serve_port **p, char *err, size_t err_len)
{
	const char *name = op->service;

	*p = NULL;
	if (op->type == SERVE_TYPE_TUN) {
		if (svc && svc->n_ports)
			return err_setf(
			    err, err_len, -EBUSY,
			    "%s already has TCP or Web handlers, cannot serve it in TUN mode "
			    "(run: %s serve clear %s)",
			    name, SERVE_CMD_PROG, name);
		return 0;
	}
	if (svc && svc->tun)
		return err_setf(err, err_len, -EBUSY,
		                "%s is already served in TUN mode, cannot add TCP or Web "
		                "handlers (run: %s serve --service=%s --tun off)",
		                name, SERVE_CMD_PROG, name);
	*p = svc ? serve_service_find_port(svc, op->port) : NULL;
	if (*p && (*p)->type != op->type)
		return err_setf(err, err_len, -EBUSY,
		                "port %u is already serving %s for %s; cannot serve %s there "
		                "(first run: %s serve --service=%s --%s=%u off)",
		                op->port, serve_type_name((*p)->type), name,
		                serve_type_name(op->type), SERVE_CMD_PROG, name,
		                serve_type_name((*p)->type), op->port);
	return 0;
}

/* An HTTPS or HTTP port's handler at op->mount, added or replaced. */
static int set_handler(struct serve_port *p, const struct serve_op *op, char *err, size_t err_len)
{
	struct serve_handler *h = serve_port_find_handler(p, op->mount);
	char *v = strdup(op->value);

	if (!v)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	if (!h) {
		if (p->n_handlers >= SERVE_MAX_HANDLERS) {
			free(v);
			return err_setf(err, err_len, -E2BIG,
			                "cannot add %s to port %u of %s: too many handlers "
			                "(limit %d)",
			                op->mount, op->port, op->service, SERVE_MAX_HANDLERS);
		}
		h = serve_port_add_handler(p, op->mount);
		if (!h) {
			free(v);
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		}
	}
	free(h->value);
	h->value = v;
	h->kind = op->kind;
	return 0;
}

/* A TCP port's forward target, and for TLS-terminated TCP the service's
 * host name TLS is terminated for. */
static int set_forward(const struct serve_config *cfg, struct serve_port *p,
                       const struct serve_op *op, char *err, size_t err_len)
{
	free(p->tcp_forward);
	p->tcp_forward = strdup(op->value);
	if (!p->tcp_forward)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	if (op->type == SERVE_TYPE_TLS_TCP) {
		char host[SERVE_MAX_SUFFIX_LEN + SERVE_LABEL_MAX + 2];

		CHECK(serve_service_host(cfg, op->service, host, sizeof(host)) == 0);
		free(p->terminate_tls);
		p->terminate_tls = strdup(host);
		if (!p->terminate_tls)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
	}
	return 0;
}

static int apply_set(struct serve_config *cfg, struct serve_adv *adv, const struct serve_op *op,
                     char *err, size_t err_len)
{
	struct serve_service *svc = serve_config_find(cfg, op->service);
	struct serve_port *p;
	const char *name = op->service;
	int rc;

	rc = set_check_conflict(svc, op, &p, err, err_len);
	if (rc)
		return rc;
	if (!svc) {
		if (cfg->n_services >= SERVE_MAX_SERVICES)
			return err_setf(err, err_len, -E2BIG,
			                "cannot serve %s: too many services (limit %d)", name,
			                SERVE_MAX_SERVICES);
		svc = serve_config_add_service(cfg, name);
		if (!svc)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
	}
	if (serve_adv_get(adv, name) == SERVE_ADV_NONE && adv->n >= SERVE_MAX_SERVICES)
		return err_setf(err, err_len, -E2BIG,
		                "cannot advertise %s: too many advertised services (limit %d)",
		                name, SERVE_MAX_SERVICES);
	CHECK(serve_adv_set(adv, name, SERVE_ADV_ACTIVE) == 0);
	if (op->type == SERVE_TYPE_TUN) {
		svc->tun = true;
		return 0;
	}
	if (!p) {
		if (svc->n_ports >= SERVE_MAX_PORTS)
			return err_setf(err, err_len, -E2BIG,
			                "cannot serve %s on port %u: too many ports (limit %d)",
			                name, op->port, SERVE_MAX_PORTS);
		p = serve_service_add_port(svc, op->port);
		if (!p)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		p->type = op->type;
	}
	if (op->type == SERVE_TYPE_HTTPS || op->type == SERVE_TYPE_HTTP)
		return set_handler(p, op, err, err_len);
	return set_forward(cfg, p, op, err, err_len);
}

static int apply_off(struct serve_config *cfg, const struct serve_op *op, char *err, size_t err_len)
{
	struct serve_service *svc = serve_config_find(cfg, op->service);
	const char *name = op->service;
	struct serve_port *p;

	if (!svc)
		return err_setf(err, err_len, -ENOENT, "%s has no serve config", name);
	if (op->type == SERVE_TYPE_TUN) {
		if (!svc->tun)
			return err_setf(err, err_len, -ENOENT, "%s is not served in TUN mode",
			                name);
		serve_config_remove_service(cfg, svc);
		return 0;
	}
	if (svc->tun)
		return err_setf(
		    err, err_len, -ENOENT,
		    "%s is served in TUN mode and has no ports (run: %s serve --service=%s "
		    "--tun off)",
		    name, SERVE_CMD_PROG, name);
	p = serve_service_find_port(svc, op->port);
	if (!p)
		return err_setf(err, err_len, -ENOENT, "%s has no handler on port %u", name,
		                op->port);
	if (p->type != op->type)
		return err_setf(err, err_len, -EINVAL,
		                "port %u of %s is serving %s, not %s (off takes the same flags: %s "
		                "serve --service=%s --%s=%u off)",
		                op->port, name, serve_type_name(p->type), serve_type_name(op->type),
		                SERVE_CMD_PROG, name, serve_type_name(p->type), op->port);
	if ((op->type == SERVE_TYPE_HTTPS || op->type == SERVE_TYPE_HTTP) && op->path_set) {
		struct serve_handler *h = serve_port_find_handler(p, op->mount);

		if (!h)
			return err_setf(err, err_len, -ENOENT,
			                "%s has no handler for path %s on port %u", name, op->mount,
			                op->port);
		serve_port_remove_handler(p, h);
		if (p->n_handlers > 0)
			return 0;
	}
	serve_service_remove_port(svc, p);
	if (svc->n_ports == 0 && !svc->tun)
		serve_config_remove_service(cfg, svc);
	return 0;
}

static int apply_op(struct serve_config *cfg, struct serve_adv *adv, const struct serve_op *op,
                    char *err, size_t err_len)
{
	struct serve_service *svc;

	switch (op->verb) {
	case SERVE_VERB_SET:
		return apply_set(cfg, adv, op, err, err_len);
	case SERVE_VERB_OFF:
		return apply_off(cfg, op, err, err_len);
	case SERVE_VERB_DRAIN:
		if (serve_adv_get(adv, op->service) == SERVE_ADV_NONE)
			return err_setf(err, err_len, -ENOENT,
			                "%s is not advertised by this machine", op->service);
		return serve_adv_set(adv, op->service, SERVE_ADV_DRAINING);
	case SERVE_VERB_CLEAR:
		svc = serve_config_find(cfg, op->service);
		if (!svc && serve_adv_get(adv, op->service) == SERVE_ADV_NONE)
			return err_setf(err, err_len, -ENOENT, "%s has no serve config",
			                op->service);
		if (svc)
			serve_config_remove_service(cfg, svc);
		return serve_adv_set(adv, op->service, SERVE_ADV_NONE);
	case SERVE_VERB_RESET:
		serve_config_free(cfg);
		serve_adv_init(adv);
		return 0;
	case SERVE_VERB_ADVERTISE:
		if (serve_adv_set(adv, op->service, SERVE_ADV_ACTIVE))
			return err_setf(
			    err, err_len, -E2BIG,
			    "cannot advertise %s: too many advertised services (limit %d)",
			    op->service, SERVE_MAX_SERVICES);
		return 0;
	case SERVE_VERB_STATUS:
		return 0;
	case SERVE_VERB_NONE:
		break;
	}
	CHECK(!"serve_cmd_apply: op not parsed");
	return -EINVAL;
}

int serve_cmd_apply(struct serve_config *cfg, struct serve_adv *adv, const struct serve_op *op,
                    char *err, size_t err_len)
{
	struct serve_config tmp;
	struct serve_adv *tadv;
	char verr[SERVE_ERR_LEN];
	int rc;

	if (err && err_len)
		err[0] = '\0';
	if (op->verb == SERVE_VERB_STATUS)
		return 0;
	tadv = malloc(sizeof(*tadv));
	if (!tadv)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	*tadv = *adv;
	rc = serve_config_clone(&tmp, cfg);
	if (rc) {
		free(tadv);
		return err_setf(err, err_len, rc, "out of memory");
	}
	rc = apply_op(&tmp, tadv, op, err, err_len);
	if (rc == 0) {
		/* A command must never produce a config the JSON route would refuse. */
		CHECK(serve_config_validate(&tmp, verr, sizeof(verr)) == 0);
		serve_config_swap(cfg, &tmp);
		*adv = *tadv;
	}
	serve_config_free(&tmp);
	free(tadv);
	return rc;
}

/* --- output ------------------------------------------------------------------- */

/* Output text is bounded by the configuration's own limits (services,
 * ports, handlers, value lengths). */
#define SERVE_OUT_INIT BUF_INIT(BUF_NO_MAX)

/* The handler tree lines for one port, vendor layout:
 *   https://web.tailnet.ts.net/path
 *   |-- proxy http://127.0.0.1:3000
 * mounts shortest first; TCP ports as "|-- tcp://..." and "|--> tcp://...". */
static void render_port(struct buf *sb, const char *host, const struct serve_port *p,
                        const char *const *addrs, size_t n_addrs)
{
	if (p->type == SERVE_TYPE_HTTPS || p->type == SERVE_TYPE_HTTP) {
		const char *scheme = p->type == SERVE_TYPE_HTTPS ? "https" : "http";
		bool default_port = (p->type == SERVE_TYPE_HTTPS && p->port == 443) ||
		                    (p->type == SERVE_TYPE_HTTP && p->port == 80);
		char port_part[8] = "";
		bool *done = calloc(p->n_handlers ? p->n_handlers : 1, sizeof(*done));

		if (!done) {
			sb->err = -ENOMEM;
			return;
		}
		if (!default_port)
			snprintf(port_part, sizeof(port_part), ":%u", p->port);
		for (size_t round = 0; round < p->n_handlers; round++) {
			const struct serve_handler *h = NULL;
			size_t best = 0;

			/* Handlers are sorted by mount; a stable pick by length keeps it. */
			for (size_t k = 0; k < p->n_handlers; k++) {
				if (!done[k] &&
				    (!h || strlen(p->handlers[k].mount) < strlen(h->mount))) {
					h = &p->handlers[k];
					best = k;
				}
			}
			done[best] = true;
			buf_printf(sb, "%s://%s%s%s\n", scheme, host, port_part, h->mount);
			if (h->kind == SERVE_HANDLER_TEXT) {
				size_t n = strlen(h->value);

				if (n > SERVE_CMD_TEXT_SHOW)
					buf_printf(sb, "|-- text  \"%.*s...\"\n\n",
					           SERVE_CMD_TEXT_SHOW - 3, h->value);
				else
					buf_printf(sb, "|-- text  \"%s\"\n\n", h->value);
			} else {
				buf_printf(sb, "|-- %-5s %s\n\n",
				           h->kind == SERVE_HANDLER_PATH ? "path" : "proxy",
				           h->value);
			}
		}
		free(done);
		return;
	}
	buf_printf(sb, "|-- tcp://%s:%u (%s)\n", host, p->port,
	           p->type == SERVE_TYPE_TLS_TCP ? "TLS terminated" : "TLS over TCP");
	for (size_t k = 0; k < n_addrs; k++) {
		if (strchr(addrs[k], ':'))
			buf_printf(sb, "|-- tcp://[%s]:%u\n", addrs[k], p->port);
		else
			buf_printf(sb, "|-- tcp://%s:%u\n", addrs[k], p->port);
	}
	buf_printf(sb, "|--> tcp://%s\n\n", p->tcp_forward);
}

char *serve_cmd_message(const struct serve_config *cfg, const struct serve_op *op, bool approved,
                        const char *const *addrs, size_t n_addrs)
{
	char host[SERVE_MAX_SUFFIX_LEN + SERVE_LABEL_MAX + 2];
	const struct serve_service *svc = serve_config_find(cfg, op->service);
	struct buf sb = SERVE_OUT_INIT;

	CHECK(op->verb == SERVE_VERB_SET);
	CHECK(serve_service_host(cfg, op->service, host, sizeof(host)) == 0);
	if (approved)
		buf_printf(&sb, "Available within your tailnet:\n\n");
	else
		buf_printf(&sb,
		           "This machine is configured as a service proxy for `%s`, but approval "
		           "from an admin is required. Once approved, it will be available in your "
		           "Tailnet as:\n\n",
		           op->service);
	if (op->type == SERVE_TYPE_TUN) {
		buf_printf(
		    &sb, "IPv4 and IPv6 traffic to %s is being routed to your operating system.\n",
		    host);
		buf_printf(&sb,
		           "To disable the service in TUN mode, run: %s serve --service=%s --tun "
		           "off\n",
		           SERVE_CMD_PROG, op->service);
	} else {
		const struct serve_port *p = svc ? serve_service_find_port(svc, op->port) : NULL;

		if (p)
			render_port(&sb, host, p, approved ? addrs : NULL, approved ? n_addrs : 0);
		buf_printf(&sb, "Serve started and running in the background.\n");
		buf_printf(&sb, "To disable the proxy, run: %s serve --service=%s --%s=%u off\n",
		           SERVE_CMD_PROG, op->service, serve_type_name(op->type), op->port);
	}
	buf_printf(&sb, "To remove config for the service, run: %s serve clear %s\n",
	           SERVE_CMD_PROG, op->service);
	return buf_take(&sb, NULL);
}

static void render_service(struct buf *sb, const struct serve_config *cfg, const char *name,
                           const struct serve_service *svc, enum serve_adv_state st)
{
	char host[SERVE_MAX_SUFFIX_LEN + SERVE_LABEL_MAX + 2];

	CHECK(serve_service_host(cfg, name, host, sizeof(host)) == 0);
	buf_printf(sb, "%s (%s)\n", name,
	           st == SERVE_ADV_ACTIVE     ? "advertised"
	           : st == SERVE_ADV_DRAINING ? "draining"
	                                      : "not advertised");
	if (!svc) {
		buf_printf(sb, "|-- no serve config\n\n");
		return;
	}
	if (svc->tun)
		buf_printf(sb,
		           "|-- tun: IPv4 and IPv6 traffic to %s goes to the operating system\n\n",
		           host);
	for (size_t i = 0; i < svc->n_ports; i++)
		render_port(sb, host, &svc->ports[i], NULL, 0);
	if (!svc->tun && svc->n_ports == 0)
		buf_printf(sb, "|-- no handlers\n\n");
}

char *serve_status_text(const struct serve_config *cfg, const struct serve_adv *adv)
{
	struct buf sb = SERVE_OUT_INIT;
	size_t i = 0, k = 0;

	if (cfg->n_services == 0 && adv->n == 0) {
		buf_printf(&sb, "No serve config\n");
		return buf_take(&sb, NULL);
	}
	/* Merge the two name-sorted lists. */
	while (i < cfg->n_services || k < adv->n) {
		int c;

		if (i >= cfg->n_services)
			c = 1;
		else if (k >= adv->n)
			c = -1;
		else
			c = strcmp(cfg->services[i].name, adv->e[k].name);
		if (c < 0) {
			render_service(&sb, cfg, cfg->services[i].name, &cfg->services[i],
			               SERVE_ADV_NONE);
			i++;
		} else if (c > 0) {
			render_service(&sb, cfg, adv->e[k].name, NULL, adv->e[k].state);
			k++;
		} else {
			render_service(&sb, cfg, cfg->services[i].name, &cfg->services[i],
			               adv->e[k].state);
			i++;
			k++;
		}
	}
	return buf_take(&sb, NULL);
}
