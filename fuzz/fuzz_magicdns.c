/* libFuzzer target: magicdns_answer never reads past its query nor
 * writes past its buffer, and what it writes is a well-formed reply to
 * that query (same id, QR set, at most one question). */
#include "fuzz/fuzz.h"
#include "lib/wire/netmap.h"
#include "proxy/magicdns.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char fuzz_map[] =
    "{\"version\":1,\"tailnet\":\"example.ts.net\",\"self\":{\"name\":\"c\",\"addresses\":"
    "[\"100.64.0.1\"]},\"dns\":[{\"name\":\"web.example.ts.net\",\"addresses\":"
    "[\"100.100.0.5\",\"fd7a:115c:a1e0:ab12::5\"]},{\"name\":\"a.example.ts.net\","
    "\"addresses\":[\"100.100.0.6\"]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	uint8_t resp[MAGICDNS_MAX_REPLY];
	/* A private copy, so ASan catches any read past `size`. */
	uint8_t *q = malloc(size ? size : 1);

	FUZZ_ASSERT(q);
	memcpy(q, data, size);
	FUZZ_ASSERT(netmap_from_json(fuzz_map, sizeof(fuzz_map) - 1, &nm, err, sizeof(err)) == 0);
	ssize_t n = magicdns_answer(&nm, q, size, resp, sizeof(resp));
	FUZZ_ASSERT(n >= 0 && n <= (ssize_t)sizeof(resp));
	if (n == 0) {
		FUZZ_ASSERT(size < 12);
	} else {
		FUZZ_ASSERT(n >= 12);
		FUZZ_ASSERT(resp[0] == q[0] && resp[1] == q[1]);
		FUZZ_ASSERT(resp[2] & 0x80);
		FUZZ_ASSERT(resp[4] == 0 && resp[5] <= 1);
		/* A smaller buffer never gets a partial reply. */
		uint8_t small[MAGICDNS_MAX_REPLY];
		FUZZ_ASSERT(magicdns_answer(&nm, q, size, small, (size_t)n - 1) == -ENOSPC);
		FUZZ_ASSERT(magicdns_answer(&nm, q, size, small, (size_t)n) == n);
		FUZZ_ASSERT(memcmp(small, resp, (size_t)n) == 0);
	}
	/* Without a netmap: never an answer record. */
	n = magicdns_answer(NULL, q, size, resp, sizeof(resp));
	FUZZ_ASSERT(n == 0 || (n >= 12 && resp[6] == 0 && resp[7] == 0));
	netmap_free(&nm);
	free(q);
	return 0;
}
