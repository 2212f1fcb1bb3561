/* The JSON-lines event format (see io_event.h) and the typed event API
 * (io_event in io.h): escaping, the member-by-member payload with its
 * whole-member truncation, and the line a backend writes. */
#include "lib/io/io_event.h"
#include "lib/base/check.h"
#include "lib/io/io.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int io_json_escape(char *out, size_t cap, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (cap == 0)
		return -ENOSPC;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char esc[7];
		size_t len = 0;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			len = 2;
		} else if (*p < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			len = 6;
		} else {
			esc[0] = (char)*p;
			len = 1;
		}
		if (n + len >= cap) {
			out[n] = '\0';
			return -ENOSPC;
		}
		memcpy(out + n, esc, len);
		n += len;
	}
	out[n] = '\0';
	return (int)n;
}

size_t io_event_fields_cut(const char *fields, size_t len, size_t max_len)
{
	size_t best = 0;
	int depth = 0;
	bool in_string = false, escaped = false;

	if (len <= max_len)
		return len;
	for (size_t i = 0; i <= max_len; i++) {
		char ch = fields[i];
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (ch == '\\')
				escaped = true;
			else if (ch == '"')
				in_string = false;
			continue;
		}
		if (ch == '"')
			in_string = true;
		else if (ch == '{' || ch == '[')
			depth++;
		else if (ch == '}' || ch == ']')
			depth--;
		else if (ch == ',' && depth == 0)
			best = i;
	}
	return best;
}

int io_event_format(char *buf, size_t cap, uint64_t t_us, const char *node, const char *type,
                    const char *fields)
{
	char node_esc[6 * IO_EVENT_NODE_MAX + 1], type_esc[6 * IO_EVENT_TYPE_MAX + 1];

	if (!node)
		node = "";
	if (strlen(node) > IO_EVENT_NODE_MAX || strlen(type) > IO_EVENT_TYPE_MAX)
		return -ENOSPC;
	io_json_escape(node_esc, sizeof(node_esc), node);
	io_json_escape(type_esc, sizeof(type_esc), type);
	int head = snprintf(buf, cap, "{\"t_us\":%llu,\"node\":\"%s\",\"type\":\"%s\"",
	                    (unsigned long long)t_us, node_esc, type_esc);
	const size_t mark_len = sizeof(IO_EVENT_TRUNCATED) - 1;
	/* The head, a comma, the mark and "}\n" must fit whatever happens. */
	if (head < 0 || (size_t)head + 1 + mark_len + 2 >= cap)
		return -ENOSPC;
	size_t n = (size_t)head, flen = strlen(fields);
	if (n + (flen ? 1 + flen : 0) + 2 < cap) {
		if (flen) {
			buf[n++] = ',';
			memcpy(buf + n, fields, flen);
			n += flen;
		}
	} else {
		/* Room for members: what is left after ",", the mark, "}\n" and
		 * the terminator; one byte of it goes to the comma after them. */
		size_t room = cap - n - 1 - mark_len - 2 - 1;
		size_t keep = room > 0 ? io_event_fields_cut(fields, flen, room - 1) : 0;
		buf[n++] = ',';
		if (keep) {
			memcpy(buf + n, fields, keep);
			n += keep;
			buf[n++] = ',';
		}
		memcpy(buf + n, IO_EVENT_TRUNCATED, mark_len);
		n += mark_len;
	}
	memcpy(buf + n, "}\n", 3);
	return (int)n + 2;
}

/* Appends one member at `n` when it fits in `cap` (with the terminator),
 * written straight into `buf`: only the caller's buffer bounds it. Returns
 * the new length, or 0 (and `buf` as it was) when it does not fit. */
static size_t field_append(char *buf, size_t cap, size_t n, const struct io_field *f)
{
	int w;

	if (cap <= n + 1)
		return 0;
	w = snprintf(buf + n, cap - n, "%s\"%s\":", n ? "," : "", f->key);
	if (w < 0 || (size_t)w >= cap - n)
		goto no_room;
	size_t o = n + (size_t)w;
	switch (f->kind) {
	case IO_FIELD_STR: {
		/* The quotes around the escaped text, and the terminator. */
		if (cap - o < 3)
			goto no_room;
		buf[o++] = '"';
		int e = io_json_escape(buf + o, cap - o - 1, f->v.s ? f->v.s : "");
		if (e < 0)
			goto no_room;
		o += (size_t)e;
		buf[o++] = '"';
		buf[o] = '\0';
		return o;
	}
	case IO_FIELD_U64:
		w = snprintf(buf + o, cap - o, "%llu", (unsigned long long)f->v.u);
		break;
	case IO_FIELD_I64:
		w = snprintf(buf + o, cap - o, "%lld", (long long)f->v.i);
		break;
	case IO_FIELD_BOOL:
		w = snprintf(buf + o, cap - o, "%s", f->v.b ? "true" : "false");
		break;
	case IO_FIELD_JSON:
		w = snprintf(buf + o, cap - o, "%s", f->v.s ? f->v.s : "null");
		break;
	default:
		goto no_room;
	}
	if (w < 0 || (size_t)w >= cap - o)
		goto no_room;
	return o + (size_t)w;

no_room:
	buf[n] = '\0';
	return 0;
}

size_t io_fields_format(char *buf, size_t cap, const struct io_field *fields, size_t n)
{
	const size_t mark_len = sizeof(IO_EVENT_TRUNCATED) - 1;
	/* What must stay free after the last member kept when some are left
	 * out: ",", the mark, the terminator. */
	const size_t reserve = 1 + mark_len + 1;
	size_t len = 0, cut = 0; /* cut: the members that leave room for the mark */

	CHECK(cap > mark_len + 2);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t next = field_append(buf, cap, len, &fields[i]);
		if (!next) {
			len = cut;
			if (len)
				buf[len++] = ',';
			memcpy(buf + len, IO_EVENT_TRUNCATED, mark_len + 1);
			return len + mark_len;
		}
		if (next + reserve <= cap)
			cut = next;
		len = next;
	}
	return len;
}

void io_event_emit(struct io *io, const char *type, const struct io_field *fields, size_t n)
{
	char buf[IO_EVENT_FIELDS_MAX];

	if (io->events_off)
		return;
	io_fields_format(buf, sizeof(buf), fields, n);
	io->ops->emit(io, type, buf);
}
