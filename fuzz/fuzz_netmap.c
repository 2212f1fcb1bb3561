/* libFuzzer target: the netmap parser never crashes or leaks on any input;
 * a document it accepts prints to JSON that parses back to the same text,
 * and every lookup works on it. */
#include "fuzz/fuzz.h"
#include "lib/wire/netmap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netmap nm, again;
	char err[NETMAP_ERR_LEN];
	char *text = malloc(size + 1);

	FUZZ_ASSERT(text);
	memcpy(text, data, size);
	text[size] = '\0';
	if (netmap_from_json(text, size, &nm, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		FUZZ_ASSERT(nm.index == NULL && nm.peers == NULL);
		free(text);
		return 0;
	}
	char *out = netmap_to_json(&nm);
	FUZZ_ASSERT(out);
	FUZZ_ASSERT(netmap_from_json(out, strlen(out), &again, err, sizeof(err)) == 0);
	char *out2 = netmap_to_json(&again);
	FUZZ_ASSERT(out2 && strcmp(out, out2) == 0);
	for (size_t i = 0; i < nm.n_peers; i++) {
		FUZZ_ASSERT(netmap_peer_by_name(&nm, nm.peers[i].name) == (int)i);
		FUZZ_ASSERT(netmap_peer_by_endpoint(&nm, &nm.peers[i].endpoint) == (int)i);
		for (size_t a = 0; a < nm.peers[i].n_addrs; a++)
			FUZZ_ASSERT(netmap_peer_by_addr(&nm, &nm.peers[i].addrs[a]) == (int)i);
	}
	for (size_t i = 0; i < nm.n_services; i++)
		for (size_t a = 0; a < nm.services[i].n_addrs; a++)
			FUZZ_ASSERT(netmap_service_by_vip(&nm, &nm.services[i].addrs[a]) ==
			            &nm.services[i]);
	for (size_t i = 0; i < nm.n_dns; i++)
		FUZZ_ASSERT(netmap_dns_lookup(&nm, nm.dns[i].name) == &nm.dns[i]);
	if (nm.n_peers && nm.self.n_addrs)
		(void)netmap_filter_allows(&nm, &nm.peers[0].addrs[0], &nm.self.addrs[0], 6, 443);
	free(out);
	free(out2);
	netmap_free(&nm);
	netmap_free(&again);
	free(text);
	return 0;
}
