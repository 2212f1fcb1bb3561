/* The admin API over HTTP/1.1 (control.h lists the routes): connections
 * with limits, bearer-token authentication, a routing table from method and
 * path to a handler, and replies. Commands themselves run in
 * control_admin_cmd.c. */
#include "control/control_int.h"

#include "control/policy.h"
#include "lib/base/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- admin HTTP API ----------------------------------------------------- */

void ctl_admin_close(struct ctl_admin *a)
{
	if (a->closed)
		return;
	a->closed = true;
	a->c->n_to_reap++;
	a->c->io->ops->close(a->c->io, a->handle, false);
	a->handle = -1;
}

void ctl_admin_free(struct ctl_admin *a)
{
	http_head_free(a->head);
	buf_free(&a->in);
	buf_free(&a->body);
	buf_free(&a->out);
	free(a);
}

static void ctl_admin_flush(struct ctl_admin *a)
{
	struct io *io = a->c->io;

	while (!a->closed && a->out_off < a->out.len) {
		ssize_t w = io->ops->tcp_write(io, a->handle, a->out.data + a->out_off,
		                               a->out.len - a->out_off);
		if (w == -EAGAIN)
			return;
		if (w < 0) {
			ctl_admin_close(a);
			return;
		}
		if (w > 0)
			a->last_us = io->ops->now_us(io);
		a->out_off += (size_t)w;
	}
	if (a->out_off == a->out.len) {
		buf_reset(&a->out);
		a->out_off = 0;
		if (a->close_after)
			ctl_admin_close(a);
	}
}

/* Queues one response: status, content type, body. */
static void ctl_admin_reply(struct ctl_admin *a, int status, const char *ctype, const char *body,
                            size_t body_len, bool close)
{
	char head[512];
	const char *extra = status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
	int hl =
	    http_msg_write_simple(status, ctype, body_len, false, extra, close, head, sizeof(head));

	if (hl < 0 || a->out.len + (size_t)hl + body_len > CTL_ADMIN_OUT_MAX ||
	    buf_append(&a->out, head, (size_t)hl) < 0 || buf_append(&a->out, body, body_len) < 0) {
		ctl_admin_close(a);
		return;
	}
	if (close)
		a->close_after = true;
	ctl_admin_flush(a);
}

/* Queues bytes as they are (an interim 100 Continue). */
static void ctl_admin_raw(struct ctl_admin *a, const char *text)
{
	if (buf_puts(&a->out, text) < 0) {
		ctl_admin_close(a);
		return;
	}
	ctl_admin_flush(a);
}

static void ctl_admin_json(struct ctl_admin *a, int status, char *json, bool close)
{
	if (!json) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		ctl_admin_reply(a, 500, "application/json", oom, sizeof(oom) - 1, true);
		return;
	}
	ctl_admin_reply(a, status, "application/json", json, strlen(json), close);
	free(json);
}

static void ctl_admin_error(struct ctl_admin *a, int status, const char *msg, bool close)
{
	ctl_admin_json(a, status, ctl_error_json(msg), close);
}

static int ctl_status_of(int rc)
{
	switch (rc) {
	case 0:
		return 200;
	case -EPERM:
	case -EACCES:
		return 403;
	case -ENOENT:
		return 404;
	case -E2BIG:
	case -EFBIG:
		return 413;
	case -ENOMEM:
		return 500;
	case -EEXIST:
	case -EALREADY:
		return 409;
	default:
		return 400;
	}
}

/* Runs a command for the API and answers it, `ok_status` on success: a
 * write whose state could not be made durable is 503 (nothing changed;
 * the client may retry). */
static void ctl_admin_exec_as(struct ctl_admin *a, const char *actor, const struct admin_cmd *cmd,
                              const char *policy_text, size_t policy_len, int ok_status, bool close)
{
	char *json = NULL;
	bool not_saved = false;
	int rc = ctl_exec(a->c, actor, cmd, policy_text, policy_len, &json, &not_saved);

	ctl_admin_json(a, not_saved ? 503 : rc == 0 ? ok_status : ctl_status_of(rc), json, close);
}

static void ctl_admin_exec(struct ctl_admin *a, const char *actor, const struct admin_cmd *cmd,
                           const char *policy_text, size_t policy_len, bool close)
{
	ctl_admin_exec_as(a, actor, cmd, policy_text, policy_len, 200, close);
}

/* Decodes %XX in place; false on a bad escape or a NUL. */
static bool ctl_url_decode(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p == '%') {
			int hi = hex_nibble(p[1]), lo = hi < 0 ? -1 : hex_nibble(p[2]);
			if (lo < 0)
				return false;
			int v = hi * 16 + lo;
			if (v == 0)
				return false;
			*o++ = (char)v;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return true;
}

/* A body member that must be an array of at most `max` strings, into
 * out[*n] (pointing into the body). 0 or -EINVAL with msg. */
static int ctl_body_strings(const cJSON *a, const char **out, size_t max, size_t *n,
                            const char *not_array, const char *too_many, const char **msg)
{
	const cJSON *e;

	if (!cJSON_IsArray(a)) {
		*msg = not_array;
		return -EINVAL;
	}
	cJSON_ArrayForEach(e, a)
	{
		if (!cJSON_IsString(e) || *n == max) {
			*msg = cJSON_IsString(e) ? too_many : not_array;
			return -EINVAL;
		}
		out[(*n)++] = e->valuestring;
	}
	return 0;
}

/* Builds a define command from a PUT body. 0 or -EINVAL with msg. */
static int ctl_define_from_body(const cJSON *body, const char *name, struct admin_cmd *cmd,
                                const char **msg)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "description");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "ports");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "tags");

	memset(cmd, 0, sizeof(*cmd));
	cmd->kind = ADMIN_CMD_DEFINE;
	cmd->service = name;
	if (!cJSON_IsObject(body)) {
		*msg = "body: want {\"description\", \"ports\", \"tags\"}";
		return -EINVAL;
	}
	if (d) {
		if (!cJSON_IsString(d)) {
			*msg = "body: \"description\" must be a string";
			return -EINVAL;
		}
		cmd->description = d->valuestring;
	}
	if (p) {
		cmd->has_ports = true;
		if (ctl_body_strings(p, cmd->ports, REG_MAX_PORTS, &cmd->n_ports,
		                     "body: \"ports\" must be an array of strings",
		                     "body: \"ports\" must be at most 64 strings", msg) < 0)
			return -EINVAL;
	}
	if (t) {
		cmd->has_tags = true;
		if (ctl_body_strings(t, cmd->tags, REG_MAX_TAGS, &cmd->n_tags,
		                     "body: \"tags\" must be an array of strings",
		                     "body: \"tags\" must be at most 32 strings", msg) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Builds an authkey create from a POST body {"reusable": bool, "expiry_s":
 * seconds from now, "tags": [...]} (each optional; any other member is
 * refused, so a misspelt "expiry" never makes a key that lives forever).
 * 0 or -EINVAL with msg. */
static int ctl_authkey_from_body(const cJSON *body, struct admin_cmd *cmd, const char **msg)
{
	const cJSON *m, *seen;

	memset(cmd, 0, sizeof(*cmd));
	cmd->kind = ADMIN_CMD_AUTHKEY_CREATE;
	if (!cJSON_IsObject(body)) {
		*msg = "body: want {\"reusable\": bool, \"expiry_s\": N, \"tags\": [...]}";
		return -EINVAL;
	}
	cJSON_ArrayForEach(m, body)
	{
		for (seen = body->child; seen != m; seen = seen->next)
			if (strcmp(seen->string, m->string) == 0) {
				*msg = "body: a member is given twice";
				return -EINVAL;
			}
		if (strcmp(m->string, "reusable") == 0) {
			if (!cJSON_IsBool(m)) {
				*msg = "body: \"reusable\" must be true or false";
				return -EINVAL;
			}
			cmd->reusable = cJSON_IsTrue(m);
		} else if (strcmp(m->string, "expiry_s") == 0) {
			if (!cJSON_IsNumber(m) || m->valuedouble < 1 ||
			    m->valuedouble > (double)ADMIN_CMD_MAX_EXPIRY_S ||
			    m->valuedouble != (double)(uint64_t)m->valuedouble) {
				*msg = "body: \"expiry_s\" must be whole seconds from now, 1 to "
				       "315360000 (ten years)";
				return -EINVAL;
			}
			cmd->expiry_s = (uint64_t)m->valuedouble;
		} else if (strcmp(m->string, "tags") == 0) {
			cmd->has_tags = true;
			if (ctl_body_strings(m, cmd->tags, REG_MAX_TAGS, &cmd->n_tags,
			                     "body: \"tags\" must be an array of strings",
			                     "body: \"tags\" must be at most 32 strings", msg) < 0)
				return -EINVAL;
		} else {
			*msg = "body: unknown member (want \"reusable\", \"expiry_s\", \"tags\")";
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- routing ------------------------------------------------------------ */

#define CTL_ROUTE_MAX_ARGS 3

/* One request being routed: who asked, and the path's variable parts. */
struct ctl_req {
	const char *actor; /* the bearer token's user */
	bool close;        /* no keep-alive: close after the reply */
	const char *arg[CTL_ROUTE_MAX_ARGS];
};

typedef void (*ctl_route_fn)(struct ctl_admin *a, struct ctl_req *req);

/* A route: an HTTP method and a path pattern. In a pattern, `*` is one
 * path segment (possibly empty), `+` one non-empty segment and a final
 * `**` the rest of the path (possibly empty, possibly with slashes); each
 * is passed to the handler in order. */
struct ctl_route {
	const char *method;
	const char *pattern;
	ctl_route_fn fn;
};

static const char *ctl_body(const struct ctl_admin *a)
{
	return a->body.data ? a->body.data : "";
}

static void ctl_route_cmd(struct ctl_admin *a, struct ctl_req *req, enum admin_cmd_kind kind)
{
	struct admin_cmd cmd = {.kind = kind, .service = req->arg[0]};

	ctl_admin_exec(a, req->actor, &cmd, NULL, 0, req->close);
}

static void ctl_get_services(struct ctl_admin *a, struct ctl_req *req)
{
	ctl_route_cmd(a, req, ADMIN_CMD_SERVICES);
}

static void ctl_get_service(struct ctl_admin *a, struct ctl_req *req)
{
	ctl_route_cmd(a, req, ADMIN_CMD_SERVICE);
}

static void ctl_delete_service(struct ctl_admin *a, struct ctl_req *req)
{
	ctl_route_cmd(a, req, ADMIN_CMD_DELETE);
}

static void ctl_get_nodes(struct ctl_admin *a, struct ctl_req *req)
{
	ctl_route_cmd(a, req, ADMIN_CMD_NODES);
}

/* PUT /api/services/svc:X: a define from the JSON body. */
static void ctl_put_service(struct ctl_admin *a, struct ctl_req *req)
{
	cJSON *body = cJSON_ParseWithLength(ctl_body(a), a->body.len);
	struct admin_cmd cmd;
	const char *msg = NULL;

	if (ctl_define_from_body(body, req->arg[0], &cmd, &msg) < 0)
		ctl_admin_error(a, 400, msg, req->close);
	else
		ctl_admin_exec(a, req->actor, &cmd, NULL, 0, req->close);
	cJSON_Delete(body);
}

/* POST /api/services/svc:X/hosts/NODE/{approve|reject|revoke}. */
static void ctl_post_host_decision(struct ctl_admin *a, struct ctl_req *req)
{
	static const struct {
		const char *verb;
		enum admin_cmd_kind kind;
	} verbs[] = {
	    {"approve", ADMIN_CMD_APPROVE},
	    {"reject", ADMIN_CMD_REJECT},
	    {"revoke", ADMIN_CMD_REVOKE},
	};

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(req->arg[2], verbs[i].verb) != 0)
			continue;
		struct admin_cmd cmd = {
		    .kind = verbs[i].kind, .service = req->arg[0], .node = req->arg[1]};
		ctl_admin_exec(a, req->actor, &cmd, NULL, 0, req->close);
		return;
	}
	ctl_admin_error(a, 404, "no such API path", req->close);
}

/* PUT /api/nodes/NODE/tags {"tags": ["tag:a", ...]}: set-tags. */
static void ctl_put_node_tags(struct ctl_admin *a, struct ctl_req *req)
{
	cJSON *body = cJSON_ParseWithLength(ctl_body(a), a->body.len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "tags");
	struct admin_cmd cmd = {.kind = ADMIN_CMD_SET_TAGS, .node = req->arg[0], .has_tags = true};
	const char *msg = "body: want {\"tags\": [\"tag:a\", ...]}";

	if (!cJSON_IsObject(body) || !t ||
	    ctl_body_strings(t, cmd.tags, REG_MAX_TAGS, &cmd.n_tags,
	                     "body: \"tags\" must be an array of strings",
	                     "body: \"tags\" must be at most 32 strings", &msg) < 0)
		ctl_admin_error(a, 400, msg, req->close);
	else
		ctl_admin_exec(a, req->actor, &cmd, NULL, 0, req->close);
	cJSON_Delete(body);
}

static void ctl_get_authkeys(struct ctl_admin *a, struct ctl_req *req)
{
	ctl_route_cmd(a, req, ADMIN_CMD_AUTHKEYS);
}

/* POST /api/authkeys: 201 with the key's text, shown this once. */
static void ctl_post_authkey(struct ctl_admin *a, struct ctl_req *req)
{
	cJSON *body = cJSON_ParseWithLength(ctl_body(a), a->body.len);
	struct admin_cmd cmd;
	const char *msg = NULL;

	if (ctl_authkey_from_body(body, &cmd, &msg) < 0)
		ctl_admin_error(a, 400, msg, req->close);
	else
		ctl_admin_exec_as(a, req->actor, &cmd, NULL, 0, 201, req->close);
	cJSON_Delete(body);
}

/* DELETE /api/authkeys/ID: revoke. */
static void ctl_delete_authkey(struct ctl_admin *a, struct ctl_req *req)
{
	struct admin_cmd cmd = {.kind = ADMIN_CMD_AUTHKEY_REVOKE, .authkey_id = req->arg[0]};

	ctl_admin_exec(a, req->actor, &cmd, NULL, 0, req->close);
}

static void ctl_get_policy(struct ctl_admin *a, struct ctl_req *req)
{
	const char *text = policy_text(registry_policy(a->c->reg));

	text = text ? text : "";
	ctl_admin_reply(a, 200, "application/hujson", text, strlen(text), req->close);
}

static void ctl_put_policy(struct ctl_admin *a, struct ctl_req *req)
{
	struct admin_cmd cmd = {.kind = ADMIN_CMD_SET_POLICY};

	ctl_admin_exec(a, req->actor, &cmd, ctl_body(a), a->body.len, req->close);
}

static void ctl_get_ca(struct ctl_admin *a, struct ctl_req *req)
{
	const char *pem = control_ca_pem(a->c);

	ctl_admin_reply(a, 200, "application/x-pem-file", pem, strlen(pem), req->close);
}

/* POST /api/command {"line": "..."}: any command but set-policy, whose
 * file would be read here instead of on the client. */
static void ctl_post_command(struct ctl_admin *a, struct ctl_req *req)
{
	cJSON *body = cJSON_ParseWithLength(ctl_body(a), a->body.len);
	const char *line = ctl_json_str(body, "line");
	char err[ADMIN_CMD_ERR_LEN] = "";
	struct admin_cmd cmd;

	if (!line) {
		ctl_admin_error(a, 400, "body: want {\"line\": \"<admin command>\"}", req->close);
		goto out;
	}
	int rc = admin_cmd_parse(&cmd, line, err, sizeof(err));
	if (rc == 0 && cmd.kind == ADMIN_CMD_SET_POLICY) {
		rc = -EINVAL;
		snprintf(err, sizeof(err),
		         "set-policy reads a file on the client: PUT /api/policy "
		         "with the policy text");
	}
	if (rc < 0)
		ctl_admin_error(a, ctl_status_of(rc), err, req->close);
	else
		ctl_admin_exec(a, req->actor, &cmd, NULL, 0, req->close);
	admin_cmd_free(&cmd);
out:
	cJSON_Delete(body);
}

static const struct ctl_route ctl_routes[] = {
    {"GET", "/api/services", ctl_get_services},
    {"GET", "/api/services/*", ctl_get_service},
    {"PUT", "/api/services/*", ctl_put_service},
    {"DELETE", "/api/services/*", ctl_delete_service},
    {"POST", "/api/services/*/hosts/+/**", ctl_post_host_decision},
    {"GET", "/api/nodes", ctl_get_nodes},
    {"PUT", "/api/nodes/+/tags", ctl_put_node_tags},
    {"GET", "/api/authkeys", ctl_get_authkeys},
    {"POST", "/api/authkeys", ctl_post_authkey},
    {"DELETE", "/api/authkeys/+", ctl_delete_authkey},
    {"GET", "/api/policy", ctl_get_policy},
    {"PUT", "/api/policy", ctl_put_policy},
    {"GET", "/api/ca", ctl_get_ca},
    {"POST", "/api/command", ctl_post_command},
};

/* Matches `path` against `pattern`; on a match, the variable parts are
 * cut out of `path` in place (NUL-terminated) when `arg` is given. */
static bool ctl_route_match(const char *pattern, char *path, const char **arg)
{
	char *cut[CTL_ROUTE_MAX_ARGS];
	size_t n = 0;
	const char *p = pattern;
	char *s = path;

	while (*p) {
		if (strcmp(p, "**") == 0) {
			cut[n] = NULL;
			if (arg)
				arg[n] = s;
			n++;
			s += strlen(s);
			p += 2;
			break;
		}
		if (*p == '*' || *p == '+') {
			size_t len = strcspn(s, "/");
			if (*p == '+' && len == 0)
				return false;
			if (arg)
				arg[n] = s;
			cut[n++] = s[len] ? s + len : NULL;
			s += len;
			p++;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	if (*s)
		return false;
	for (size_t i = 0; arg && i < n; i++)
		if (cut[i])
			*cut[i] = '\0';
	return true;
}

/* Finds the route for `method` and `path`: 404 when no pattern matches,
 * 405 when one does but not with this method. */
static void ctl_route(struct ctl_admin *a, const char *method, char *path, struct ctl_req *req)
{
	bool path_known = false;

	for (size_t i = 0; i < sizeof(ctl_routes) / sizeof(ctl_routes[0]); i++) {
		const struct ctl_route *r = &ctl_routes[i];
		if (!ctl_route_match(r->pattern, path, NULL))
			continue;
		path_known = true;
		if (strcmp(r->method, method) != 0)
			continue;
		ctl_route_match(r->pattern, path, req->arg);
		r->fn(a, req);
		return;
	}
	if (path_known)
		ctl_admin_error(a, 405, "method not allowed here", req->close);
	else
		ctl_admin_error(a, 404, "no such API path", req->close);
}

/* The user named by the request's bearer token, or NULL. */
static const struct reg_user *ctl_admin_user(const struct ctl_admin *a)
{
	size_t alen = 0;
	const char *auth = http_head_get(a->head, "Authorization", &alen);
	char token[512];

	if (!auth || alen <= 7 || alen - 7 >= sizeof(token) || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	memcpy(token, auth + 7, alen - 7);
	token[alen - 7] = '\0';
	return registry_user_by_token(a->c->reg, token);
}

/* The request's path without its query, percent-decoded into `path`:
 * 0, or the HTTP status of the error already answered. */
static int ctl_admin_path(struct ctl_admin *a, char *path, size_t cap, bool close)
{
	const struct http_head *h = a->head;

	if (h->target_len >= cap) {
		ctl_admin_error(a, 414, "request target too long", close);
		return 414;
	}
	memcpy(path, http_head_target(h), h->target_len);
	path[h->target_len] = '\0';
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (!ctl_url_decode(path)) {
		ctl_admin_error(a, 400, "bad percent-encoding in the path", close);
		return 400;
	}
	return 0;
}

/* Answers one complete request: authenticate, read the path, route. */
static void ctl_admin_request(struct ctl_admin *a)
{
	const struct http_head *h = a->head;
	struct ctl_req req = {.close = !h->keep_alive};
	char path[2048];

	const struct reg_user *user = ctl_admin_user(a);
	a->last_us = a->c->io->ops->now_us(a->c->io);
	if (!user) {
		/* No keep-alive for a peer without a token: it cannot hold a
		 * slot with a 401 a minute, nor pile up answers it never reads. */
		ctl_admin_error(a, 401, "unknown or missing bearer token", true);
		return;
	}
	req.actor = user->login;
	if (ctl_admin_path(a, path, sizeof(path), req.close) != 0)
		return;
	ctl_route(a, llhttp_method_name((llhttp_method_t)h->method), path, &req);
}

static int ctl_admin_body_fn(void *ctx, const char *data, size_t len)
{
	struct ctl_admin *a = ctx;

	if (a->body.len + len > CONTROL_ADMIN_MAX_BODY) {
		a->body_too_big = true;
		return -1;
	}
	return buf_append(&a->body, data, len) < 0 ? -1 : 0;
}

static void ctl_admin_parse(struct ctl_admin *a)
{
	while (!a->closed && !a->close_after) {
		size_t used = 0;
		enum http_parse_status st = http_parser_feed(&a->parser, a->in.data + a->in_off,
		                                             a->in.len - a->in_off, &used);
		a->in_off += used;
		if (st == HTTP_PARSE_MORE)
			break;
		if (st == HTTP_PARSE_ERROR) {
			if (a->body_too_big)
				ctl_admin_error(a, 413, "body too large", true);
			else if (a->parser.error_status == 431)
				ctl_admin_error(a, 431, "request head too large", true);
			else
				ctl_admin_error(
				    a, 400, a->parser.why ? a->parser.why : "bad request", true);
			return;
		}
		if (st == HTTP_PARSE_HEAD) {
			buf_reset(&a->body);
			a->body_too_big = false;
			if (a->head->body == HTTP_BODY_LENGTH &&
			    a->head->content_length > CONTROL_ADMIN_MAX_BODY) {
				ctl_admin_error(a, 413, "body too large", true);
				return;
			}
			size_t elen = 0;
			const char *expect = http_head_get(a->head, "Expect", &elen);
			if (expect && elen == 12 && strncasecmp(expect, "100-continue", 12) == 0 &&
			    a->head->body != HTTP_BODY_NONE) {
				char cont[64];
				if (http_msg_write_interim(100, cont, sizeof(cont)) > 0)
					ctl_admin_raw(a, cont);
			}
			http_parser_resume(&a->parser);
			continue;
		}
		/* DONE */
		ctl_admin_request(a);
		http_parser_resume(&a->parser);
	}
	if (a->in_off == a->in.len) {
		buf_reset(&a->in);
		a->in_off = 0;
	}
}

static void ctl_admin_cb(void *ctx, int handle, unsigned events)
{
	struct ctl_admin *a = ctx;
	struct control *c = a->c;
	struct io *io = c->io;
	(void)handle;

	/* Bytes in do not restart the idle clock (a peer trickling a request
	 * would hold its slot for good): answers and bytes out do. */
	if (events & IO_ERROR)
		ctl_admin_close(a);
	if (!a->closed && (events & IO_WRITABLE))
		ctl_admin_flush(a);
	while (!a->closed && (events & IO_READABLE)) {
		buf_drop_front(&a->in, a->in_off);
		a->in_off = 0;
		if (buf_room(&a->in) < 4096) {
			/* Twice the room (16 KiB first), up to a bound: the parser
			 * consumes everything it accepts, so a buffer that full
			 * means a peer far past every limit. */
			size_t ncap = a->in.cap ? a->in.cap * 2 : 16384;
			if (ncap > CONTROL_ADMIN_MAX_HEADER + CONTROL_ADMIN_MAX_BODY + 65536 ||
			    buf_reserve(&a->in, ncap - a->in.len) < 0) {
				ctl_admin_close(a);
				break;
			}
		}
		ssize_t r =
		    io->ops->tcp_read(io, a->handle, a->in.data + a->in.len, buf_room(&a->in));
		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			ctl_admin_close(a);
			break;
		}
		if (a->close_after)
			continue; /* answering an error: ignore the rest */
		buf_commit(&a->in, (size_t)r);
		ctl_admin_parse(a);
	}
	ctl_reap(c);
}

void ctl_admin_listen_cb(void *ctx, int listener, unsigned events)
{
	struct control *c = ctx;
	(void)events;

	for (;;) {
		int slot = -1;
		for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS && slot < 0; i++)
			if (!c->admins[i])
				slot = i;
		struct ctl_admin *a = calloc(1, sizeof(*a));
		struct io_addr peer;
		if (!a)
			break;
		a->c = c;
		a->in = BUF_INIT(BUF_NO_MAX);
		a->body = BUF_INIT(BUF_NO_MAX);
		a->out = BUF_INIT(BUF_NO_MAX);
		int h = c->io->ops->tcp_accept(c->io, listener, &peer, ctl_admin_cb, a);
		if (h < 0) {
			free(a);
			break;
		}
		a->handle = h;
		if (slot < 0) {
			static const char busy[] = "{\"error\":\"too many admin connections\"}";
			char resp[256];
			int n =
			    http_msg_write_simple(503, "application/json", sizeof(busy) - 1, false,
			                          NULL, true, resp, sizeof(resp) - sizeof(busy));
			if (n > 0) {
				memcpy(resp + n, busy, sizeof(busy) - 1);
				c->io->ops->tcp_write(c->io, h, resp, (size_t)n + sizeof(busy) - 1);
			}
			c->io->ops->close(c->io, h, false);
			free(a);
			continue;
		}
		a->head = http_head_new(CONTROL_ADMIN_MAX_HEADER, CTL_ADMIN_MAX_HEADERS);
		if (!a->head) {
			c->io->ops->close(c->io, h, true);
			free(a);
			continue;
		}
		http_parser_init(&a->parser, true, a->head, ctl_admin_body_fn, a);
		a->last_us = c->io->ops->now_us(c->io);
		c->admins[slot] = a;
	}
}
