/* The local API wire format (see localapi.h): reading a request from a
 * file or stream, framing lines, and parsing and formatting requests and
 * responses. Pure code apart from the stream reads. */
#include "lib/wire/localapi.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCALAPI_READ_FIRST 65536 /* the first read of a stream */

char *localapi_read_stream(FILE *f, size_t max, size_t *len)
{
	/* One byte past max tells a stream that is too large. */
	struct buf b = BUF_INIT(max < BUF_NO_MAX ? max + 1 : BUF_NO_MAX);
	int read_errno = 0;

	for (;;) {
		if (buf_room(&b) == 0) {
			size_t left = b.max - b.len, want = b.cap ? 1 : LOCALAPI_READ_FIRST;

			if (left == 0)
				break;
			if (buf_reserve(&b, want < left ? want : left)) {
				errno = ENOMEM;
				goto out_fail;
			}
		}
		errno = 0;
		size_t r = fread(b.data + b.len, 1, buf_room(&b), f);
		buf_commit(&b, r);
		if (r == 0) {
			read_errno = errno; /* why the read failed (EISDIR, EIO...) */
			break;
		}
	}
	if (b.len > max) {
		errno = EFBIG;
		goto out_fail;
	}
	if (ferror(f)) {
		errno = read_errno ? read_errno : EIO;
		goto out_fail;
	}
	char *text = buf_take(&b, len);
	if (!text)
		errno = ENOMEM;
	return text;
out_fail:
	buf_free(&b);
	return NULL;
}

char *localapi_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf;
	int saved;

	if (!f)
		return NULL;
	buf = localapi_read_stream(f, max, len);
	saved = errno;
	if (f != stdin)
		fclose(f);
	errno = saved;
	return buf;
}

ssize_t localapi_frame(const char *buf, size_t len, size_t max)
{
	size_t scan = len < max + 1 ? len : max + 1;
	const char *nl = memchr(buf, '\n', scan);

	if (nl)
		return (ssize_t)(nl - buf) + 1;
	return len > max ? -1 : -2;
}

const char *localapi_op_name(enum localapi_op op)
{
	switch (op) {
	case LOCALAPI_OP_SERVE:
		return "serve";
	case LOCALAPI_OP_SERVE_CONFIG:
		return "serve-config";
	case LOCALAPI_OP_NETMAP:
		return "netmap";
	case LOCALAPI_OP_STATUS:
		return "status";
	case LOCALAPI_OP_ROTATE_KEY:
		return "rotate-key";
	case LOCALAPI_OP_NONE:
		break;
	}
	return "none";
}

static enum localapi_op op_from_name(const char *name)
{
	static const enum localapi_op ops[] = {LOCALAPI_OP_SERVE, LOCALAPI_OP_SERVE_CONFIG,
	                                       LOCALAPI_OP_NETMAP, LOCALAPI_OP_STATUS,
	                                       LOCALAPI_OP_ROTATE_KEY};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(name, localapi_op_name(ops[i])) == 0)
			return ops[i];
	return LOCALAPI_OP_NONE;
}

void localapi_request_free(struct localapi_request *req)
{
	if (!req)
		return;
	for (int i = 0; i < req->argc; i++)
		free(req->argv[i]);
	free(req->document);
	memset(req, 0, sizeof(*req));
}

static int parse_argv(const cJSON *arr, struct localapi_request *out, char *err, size_t err_len)
{
	const cJSON *it;
	int n = 0;

	if (!cJSON_IsArray(arr))
		return err_setf(err, err_len, -EINVAL, "\"argv\" must be an array of strings");
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it))
			return err_setf(err, err_len, -EINVAL, "argv[%d] is not a string", n);
		if (n >= LOCALAPI_MAX_ARGS)
			return err_setf(err, err_len, -E2BIG, "argv has more than %d words",
			                LOCALAPI_MAX_ARGS);
		size_t len = strlen(it->valuestring);
		if (len > LOCALAPI_MAX_ARG_LEN)
			return err_setf(err, err_len, -E2BIG, "argv[%d] is longer than %d bytes", n,
			                LOCALAPI_MAX_ARG_LEN);
		out->argv[n] = strdup(it->valuestring);
		if (!out->argv[n])
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		out->argc = ++n;
	}
	if (n == 0)
		return err_setf(err, err_len, -EINVAL, "argv is empty");
	out->argv[n] = NULL;
	return 0;
}

/* Parses one line (its '\n' dropped) as exactly one JSON object; *root
 * gets it. 0 or a negative errno with `err` set. */
static int request_json(const char *line, size_t len, cJSON **root, char *err, size_t err_len)
{
	const char *end = NULL;

	if (len > LOCALAPI_MAX_REQUEST_BYTES)
		return err_setf(err, err_len, -E2BIG, "request is longer than %u bytes",
		                LOCALAPI_MAX_REQUEST_BYTES);
	if (len == 0)
		return err_setf(err, err_len, -EINVAL, "empty request");
	*root = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!*root) {
		size_t at = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
		return err_setf(err, err_len, -EINVAL, "request is not valid JSON (near byte %zu)",
		                at);
	}
	if (!cJSON_IsObject(*root))
		return err_setf(err, err_len, -EINVAL, "request must be a JSON object");
	/* One object per line: anything but blanks after it is a second
	 * request glued on, or garbage; either way not what was meant. */
	for (size_t at = (size_t)(end - line); at < len; at++)
		if (line[at] != ' ' && line[at] != '\t' && line[at] != '\r')
			return err_setf(err, err_len, -EINVAL,
			                "unexpected bytes after the request object (at byte %zu): "
			                "one JSON object per line",
			                at);
	return 0;
}

/* The members of op `out->op` from root. */
static int request_args(const cJSON *root, const char *op_text, struct localapi_request *out,
                        char *err, size_t err_len)
{
	const cJSON *v;

	switch (out->op) {
	case LOCALAPI_OP_SERVE:
		return parse_argv(cJSON_GetObjectItemCaseSensitive(root, "argv"), out, err,
		                  err_len);
	case LOCALAPI_OP_SERVE_CONFIG:
	case LOCALAPI_OP_NETMAP:
		v = cJSON_GetObjectItemCaseSensitive(root, "document");
		if (!cJSON_IsString(v))
			return err_setf(err, err_len, -EINVAL,
			                "op \"%s\" needs a \"document\" string",
			                localapi_op_name(out->op));
		out->document = strdup(v->valuestring);
		if (!out->document)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		out->doc_len = strlen(out->document);
		return 0;
	case LOCALAPI_OP_STATUS:
		v = cJSON_GetObjectItemCaseSensitive(root, "json");
		if (v && !cJSON_IsBool(v))
			return err_setf(err, err_len, -EINVAL, "\"json\" must be true or false");
		out->json = cJSON_IsTrue(v);
		return 0;
	case LOCALAPI_OP_ROTATE_KEY:
		return 0;
	case LOCALAPI_OP_NONE:
		break;
	}
	return err_setf(err, err_len, -EINVAL,
	                "unknown op \"%.64s\" (expected serve, serve-config, netmap or status)",
	                op_text);
}

int localapi_request_parse(const char *line, size_t len, struct localapi_request *out, char *err,
                           size_t err_len)
{
	cJSON *root = NULL;
	const cJSON *op;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > 0 && line[len - 1] == '\n')
		len--;
	rc = request_json(line, len, &root, err, err_len);
	if (rc == 0) {
		op = cJSON_GetObjectItemCaseSensitive(root, "op");
		if (!cJSON_IsString(op)) {
			rc = err_setf(err, err_len, -EINVAL, "request has no \"op\" string");
		} else {
			out->op = op_from_name(op->valuestring);
			rc = request_args(root, op->valuestring, out, err, err_len);
		}
	}
	cJSON_Delete(root);
	if (rc)
		localapi_request_free(out);
	return rc;
}

/* Turns malloc'd JSON text into one wire line by appending '\n'. Takes
 * ownership of text: returns the line, or NULL (text freed) without memory. */
static char *localapi_line_end(char *text)
{
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);

	if (!line) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *localapi_request_format(const struct localapi_request *req, bool *too_big)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;
	bool ok = root != NULL;

	*too_big = false;
	ok = ok && cJSON_AddStringToObject(root, "op", localapi_op_name(req->op));
	switch (req->op) {
	case LOCALAPI_OP_SERVE: {
		cJSON *arr = ok ? cJSON_AddArrayToObject(root, "argv") : NULL;
		ok = arr != NULL;
		for (int i = 0; ok && i < req->argc; i++) {
			cJSON *s = cJSON_CreateString(req->argv[i]);
			ok = s && cJSON_AddItemToArray(arr, s);
		}
		break;
	}
	case LOCALAPI_OP_SERVE_CONFIG:
	case LOCALAPI_OP_NETMAP:
		ok = ok &&
		     cJSON_AddStringToObject(root, "document", req->document ? req->document : "");
		break;
	case LOCALAPI_OP_STATUS:
		ok = ok && cJSON_AddBoolToObject(root, "json", req->json);
		break;
	case LOCALAPI_OP_ROTATE_KEY:
		break;
	case LOCALAPI_OP_NONE:
		CHECK(!"localapi_request_format: no op");
	}
	if (ok)
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	if (strlen(text) > LOCALAPI_MAX_REQUEST_BYTES) {
		*too_big = true;
		free(text);
		return NULL;
	}
	return localapi_line_end(text);
}

char *localapi_response_format(enum localapi_status status, const char *output)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;

	if (root && cJSON_AddNumberToObject(root, "status", (double)status) &&
	    cJSON_AddStringToObject(root, "output", output ? output : ""))
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	return localapi_line_end(text);
}

int localapi_response_parse(const char *line, size_t len, int *status, char **output, char *err,
                            size_t err_len)
{
	cJSON *root;
	const cJSON *st, *out;
	int rc = 0;

	*output = NULL;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	root = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return err_setf(err, err_len, -EINVAL, "the daemon's answer is not a JSON object");
	}
	st = cJSON_GetObjectItemCaseSensitive(root, "status");
	out = cJSON_GetObjectItemCaseSensitive(root, "output");
	if (!cJSON_IsNumber(st) || st->valuedouble < 0 || st->valuedouble > 255 ||
	    (out && !cJSON_IsString(out))) {
		rc =
		    err_setf(err, err_len, -EINVAL, "the daemon's answer lacks a valid \"status\"");
		goto out_free_json;
	}
	*status = (int)st->valuedouble;
	*output = strdup(out ? out->valuestring : "");
	if (!*output)
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
out_free_json:
	cJSON_Delete(root);
	return rc;
}
