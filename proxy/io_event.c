#include "io_event.h"

#include <errno.h>
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

int io_event_format(char *buf, size_t cap, uint64_t t_us, const char *node, const char *type,
                    const char *fields)
{
	char node_esc[256], type_esc[128];

	if (io_json_escape(node_esc, sizeof(node_esc), node ? node : "") < 0 ||
	    io_json_escape(type_esc, sizeof(type_esc), type) < 0)
		return -ENOSPC;
	int n =
	    snprintf(buf, cap, "{\"t_us\":%llu,\"node\":\"%s\",\"type\":\"%s\"%s%s}\n",
	             (unsigned long long)t_us, node_esc, type_esc, fields[0] ? "," : "", fields);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
