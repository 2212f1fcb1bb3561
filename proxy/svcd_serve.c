/* svcd_serve.c: `serve` commands, the serve config file and the local API. */
#define _GNU_SOURCE
#include "lib/base/check.h"
#include "lib/wire/localapi.h"
#include "proxy/svcd_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int svcd_set_serve_config_json(struct svcd *d, const char *json, size_t len, char *err,
                               size_t err_len)
{
	struct serve_config tmp;
	int rc;

	rc = serve_config_from_json(json, len, d->cfg.suffix, &tmp, err, err_len);
	if (rc < 0)
		return rc;
	rc = svcd_check_config(d, &tmp, err, err_len);
	if (rc == 0) {
		serve_config_swap(&d->cfg, &tmp);
		io_event(d->io, "serve_applied", IO_STR("verb", "config"),
		         IO_U64("services", d->cfg.n_services));
		svcd_reconcile(d);
		svcd_readvertise(d);
	}
	serve_config_free(&tmp);
	return rc;
}

char *svcd_serve_status_json(const struct svcd *d)
{
	return serve_config_to_json(&d->cfg, true);
}

static const char *verb_name(enum serve_verb v)
{
	switch (v) {
	case SERVE_VERB_SET:
		return "set";
	case SERVE_VERB_OFF:
		return "off";
	case SERVE_VERB_DRAIN:
		return "drain";
	case SERVE_VERB_CLEAR:
		return "clear";
	case SERVE_VERB_RESET:
		return "reset";
	case SERVE_VERB_ADVERTISE:
		return "advertise";
	case SERVE_VERB_STATUS:
		return "status";
	case SERVE_VERB_NONE:
		break;
	}
	return "none";
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The CFG-12 message for a SET: approved when the netmap lists the
 * service among those this host may host; then its VIPs are shown. */
static char *svcd_set_message(const struct svcd *d, const struct serve_op *op)
{
	const struct netmap_service *hs = svcd_hosted(d, op->service);
	char bufs[NETMAP_MAX_ADDRS][IO_ADDR_STRLEN];
	const char *addrs[NETMAP_MAX_ADDRS];
	size_t n = 0;

	for (size_t i = 0; hs && i < hs->n_addrs && i < NETMAP_MAX_ADDRS; i++) {
		addrs[n] = io_addr_format(&hs->addrs[i], false, bufs[n], sizeof(bufs[n]));
		n++;
	}
	return serve_cmd_message(&d->cfg, op, hs != NULL, n ? addrs : NULL, n);
}

/* `serve status` (text) or `serve status --json` (with a newline) into
 * *out. 0 or -ENOMEM. */
static int svcd_status(const struct svcd *d, bool json, char **out)
{
	*out = json ? serve_config_to_json(&d->cfg, true) : serve_status_text(&d->cfg, &d->adv);
	if (*out && json) {
		size_t n = strlen(*out);
		char *s = realloc(*out, n + 2);
		if (s) {
			s[n] = '\n';
			s[n + 1] = '\0';
			*out = s;
		}
	}
	return *out ? 0 : -ENOMEM;
}

/* What the CLI prints after an applied op (malloc'd; NULL: no memory). */
static char *svcd_op_message(const struct svcd *d, const struct serve_op *op)
{
	switch (op->verb) {
	case SERVE_VERB_SET:
		return svcd_set_message(d, op);
	case SERVE_VERB_DRAIN:
		return xprintf("%s is draining: no new connections will be steered to this host; "
		               "open connections continue.\n",
		               op->service);
	case SERVE_VERB_ADVERTISE:
		return xprintf("%s is advertised by this host.\n", op->service);
	default:
		return strdup("");
	}
}

/* Runs a parsed op. Returns 0 or -errno; *out gets the malloc'd text the
 * CLI prints (or NULL on -ENOMEM). */
static int svcd_run_op(struct svcd *d, const struct serve_op *op, char **out)
{
	char err[SVCD_ERR_LEN];
	struct serve_config tmp;
	struct serve_adv *tadv, *old;
	int rc;

	*out = NULL;
	if (op->verb == SERVE_VERB_STATUS)
		return svcd_status(d, op->json, out);
	if (op->verb == SERVE_VERB_SET || op->verb == SERVE_VERB_ADVERTISE) {
		/* before control's first map, the tags this node claims */
		bool tagged = d->nm ? d->nm->self.n_tags > 0 : d->config_tagged;
		if (!serve_host_may_serve(tagged, op->service, err, sizeof(err))) {
			*out = xprintf("%s\n", err);
			return -EPERM;
		}
	}
	tadv = malloc(2 * sizeof(*tadv));
	if (!tadv)
		return -ENOMEM;
	old = tadv + 1;
	*tadv = d->adv;
	*old = d->adv;
	rc = serve_config_clone(&tmp, &d->cfg);
	if (rc < 0) {
		free(tadv);
		return rc;
	}
	err[0] = '\0';
	rc = serve_cmd_apply(&tmp, tadv, op, err, sizeof(err));
	if (rc == 0)
		rc = svcd_check_config(d, &tmp, err, sizeof(err));
	if (rc < 0) {
		*out = xprintf("%s\n", err);
		goto out_free_copies;
	}
	serve_config_swap(&d->cfg, &tmp);
	d->adv = *tadv;
	io_event(d->io, "serve_applied", IO_STR("verb", verb_name(op->verb)),
	         IO_STR("service", op->service), IO_U64("port", op->port));
	svcd_adv_transitions(d, old);
	svcd_reconcile(d);
	svcd_release_states(d);
	svcd_readvertise(d);

	*out = svcd_op_message(d, op);
	if (!*out)
		rc = -ENOMEM;
out_free_copies:
	serve_config_free(&tmp);
	free(tadv);
	return rc;
}

static int svcd_copy_out(char *text, int rc, char *out, size_t out_len)
{
	if (out && out_len) {
		if (text)
			snprintf(out, out_len, "%s", text);
		else
			snprintf(out, out_len, "%s\n", strerror(-rc));
	}
	free(text);
	return rc;
}

static int svcd_serve_argv_alloc(struct svcd *d, int argc, char **argv, char **out)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[SVCD_ERR_LEN];
	int rc;

	*out = NULL;
	if (!op)
		return -ENOMEM;
	err[0] = '\0';
	rc = serve_cmd_parse(argc, argv, op, err, sizeof(err));
	if (rc < 0)
		*out = xprintf("%s\n", err);
	else
		rc = svcd_run_op(d, op, out);
	free(op);
	return rc;
}

int svcd_serve_argv(struct svcd *d, int argc, char **argv, char *out, size_t out_len)
{
	char *text;
	int rc = svcd_serve_argv_alloc(d, argc, argv, &text);
	return svcd_copy_out(text, rc, out, out_len);
}

int svcd_serve_line(struct svcd *d, const char *line, char *out, size_t out_len)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[SVCD_ERR_LEN];
	char *text = NULL;
	int rc;

	if (!op)
		return svcd_copy_out(NULL, -ENOMEM, out, out_len);
	err[0] = '\0';
	rc = serve_cmd_parse_line(line, strlen(line), op, err, sizeof(err));
	if (rc < 0)
		text = xprintf("%s\n", err);
	else
		rc = svcd_run_op(d, op, &text);
	free(op);
	return svcd_copy_out(text, rc, out, out_len);
}

char *svcd_local_request(struct svcd *d, const char *line, size_t len)
{
	struct localapi_request req;
	char err[SVCD_ERR_LEN];
	char *text = NULL, *resp;
	int rc;

	err[0] = '\0';
	rc = localapi_request_parse(line, len, &req, err, sizeof(err));
	if (rc < 0) {
		char msg[SVCD_ERR_LEN + 32];
		snprintf(msg, sizeof(msg), "bad request: %s\n", err);
		return localapi_response_format(LOCALAPI_STATUS_BAD_REQUEST, msg);
	}
	switch (req.op) {
	case LOCALAPI_OP_SERVE:
		rc = svcd_serve_argv_alloc(d, req.argc, req.argv, &text);
		break;
	case LOCALAPI_OP_SERVE_CONFIG:
		rc = svcd_set_serve_config_json(d, req.document, req.doc_len, err, sizeof(err));
		text = rc < 0 ? xprintf("serve config refused: %s\n", err) : strdup("");
		break;
	case LOCALAPI_OP_NETMAP:
		rc = svcd_set_netmap_json(d, req.document, req.doc_len, err, sizeof(err));
		text = rc < 0 ? xprintf("netmap refused: %s\n", err) : strdup("");
		break;
	case LOCALAPI_OP_STATUS: {
		struct serve_op op = {.verb = SERVE_VERB_STATUS, .json = req.json};
		rc = svcd_run_op(d, &op, &text);
		break;
	}
	case LOCALAPI_OP_ROTATE_KEY: {
		char out[256];
		rc = svcd_rotate_key(d, out, sizeof(out));
		text = rc < 0 ? xprintf("%s\n", out) : strdup(out);
		break;
	}
	case LOCALAPI_OP_NONE:
		CHECK(!"parsed request without an op");
	}
	localapi_request_free(&req);
	if (!text && rc == 0)
		rc = -ENOMEM;
	resp = localapi_response_format(rc == 0 ? LOCALAPI_STATUS_OK : LOCALAPI_STATUS_FAILED,
	                                text ? text : strerror(-rc));
	free(text);
	return resp;
}
