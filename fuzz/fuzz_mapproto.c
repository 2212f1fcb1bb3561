/* libFuzzer target: the map session codec. Framing must agree with itself
 * however the stream is cut; a parsed message is an object with its type;
 * a delta either applies or leaves the map byte-for-byte unchanged. */
#include "fuzz/fuzz.h"
#include "lib/wire/mapproto.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char fuzz_base_map[] =
    "{\"version\":8,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\"},"
    "\"peers\":[{\"name\":\"a\"},{\"name\":\"b\",\"x\":[1]}],\"dns\":[],\"ca_pem\":\"X\","
    "\"filter\":[{\"id\":\"r1\",\"src\":[\"*\"]},{\"id\":\"r3\"}]}";

/* Frames: every frame found in the whole buffer is found again when the
 * stream is fed in two pieces; a compressed one inflates within its limit
 * or is refused, never more. */
static void fuzz_frames(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		const uint8_t *p = NULL;
		size_t plen = 0;
		bool zlib = false;
		ssize_t n = mapproto_frame_parse(data + off, size - off, 4096, &p, &plen, &zlib);

		if (n < 0) {
			FUZZ_ASSERT(n == -1 || n == -2);
			return;
		}
		FUZZ_ASSERT((size_t)n == plen + MAPPROTO_HDR_LEN && plen > 0 && plen <= 4096);
		FUZZ_ASSERT(
		    mapproto_frame_parse(data + off, (size_t)n - 1, 4096, &p, &plen, &zlib) == -2);
		if (zlib) {
			uint8_t *raw = NULL;
			size_t raw_len = 0;
			int rc = mapproto_inflate(p, plen, 65536, &raw, &raw_len);
			FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
			FUZZ_ASSERT(rc != 0 || (raw && raw_len > 0 && raw_len <= 65536));
			free(raw);
		}
		off += (size_t)n;
	}
}

/* A message, and when it is a netmap delta, applied to a fixed map. */
static void fuzz_message(const uint8_t *data, size_t size)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *msg = NULL, *map;
	enum mapproto_type t = mapproto_parse(data, size, &msg, err, sizeof(err));
	char *before, *after;
	int rc;

	if (t == MAPPROTO_NONE) {
		FUZZ_ASSERT(!msg && err[0]);
		return;
	}
	FUZZ_ASSERT(cJSON_IsObject(msg));
	map = cJSON_Parse(fuzz_base_map);
	FUZZ_ASSERT(map);
	before = cJSON_PrintUnformatted(map);
	rc = mapproto_apply_delta(map, msg, err, sizeof(err));
	after = cJSON_PrintUnformatted(map);
	FUZZ_ASSERT(before && after);
	if (rc) {
		FUZZ_ASSERT(rc == -EINVAL || rc == -ESTALE || rc == -ENOMEM);
		FUZZ_ASSERT(err[0]);
		FUZZ_ASSERT(strcmp(before, after) == 0);
	}
	free(before);
	free(after);
	cJSON_Delete(map);
	cJSON_Delete(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the route so the corpus can specialise. */
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_message(data + 1, size - 1);
	else
		fuzz_frames(data + 1, size - 1);
	return 0;
}
