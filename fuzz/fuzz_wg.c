/* libFuzzer target: what a peer's bytes reach in WireGuard and the map
 * session's Noise layer: nothing crashes or reads out of bounds (ASan), a
 * frame the fuzzer made up never opens in a session it has no keys for,
 * and the replay window never takes a counter twice. */
#include "fuzz/fuzz.h"
#include "lib/wire/mapsec.h"
#include "lib/wire/wg.h"

#include <string.h>

/* Fixed identities: the fuzzer plays a peer that knows none of them. */
static void fuzz_keys(struct wg_identity *self, struct wg_keypair *peer)
{
	uint8_t seed[WG_KEY_LEN];

	memset(seed, 0x11, sizeof(seed));
	FUZZ_ASSERT(wg_identity_init(self, seed) == 0);
	memset(seed, 0x22, sizeof(seed));
	FUZZ_ASSERT(wg_keypair_from_seed(peer, seed) == 0);
}

/* WireGuard's messages as a receiver meets them. */
static void fuzz_messages(const uint8_t *data, size_t size)
{
	struct wg_identity self;
	struct wg_keypair peer;
	struct wg_noise n;
	struct wg_peer_macs macs;
	uint8_t ts[WG_TIMESTAMP_LEN] = {0}, out[2048], key[WG_KEY_LEN] = {0};
	uint32_t idx;
	uint64_t ctr;

	fuzz_keys(&self, &peer);
	FUZZ_ASSERT(wg_peer_macs_init(&macs, peer.pub) == 0);
	switch (wg_msg_classify(data, size)) {
	case WG_MSG_INITIATION:
		/* Anyone knowing our public key can make one that opens; the
		 * fuzzer checks that nothing else breaks. */
		(void)wg_mac1_ok(&self, data, size);
		(void)wg_initiation_consume(data, &n, &self, &idx, ts);
		break;
	case WG_MSG_RESPONSE: {
		uint8_t e[WG_KEY_LEN] = {3};
		uint8_t init[WG_INITIATION_LEN];
		FUZZ_ASSERT(wg_initiation_create(init, &n, &self, peer.pub, 1, e, ts, &macs, 0) ==
		            0);
		FUZZ_ASSERT(wg_response_consume(data, &n, key, &idx) != 0);
		break;
	}
	case WG_MSG_COOKIE_REPLY:
		FUZZ_ASSERT(wg_cookie_reply_consume(data, &macs, 1) != 0);
		break;
	case WG_MSG_DATA:
		wg_data_header(data, &idx, &ctr);
		if (size - WG_DATA_MIN_LEN <= sizeof(out))
			FUZZ_ASSERT(wg_data_open(out, key, data, size) != 0);
		break;
	default:
		break;
	}
}

/* The map session: control meeting a first frame, and an open session
 * meeting frames it did not seal. */
static void fuzz_mapsec(const uint8_t *data, size_t size)
{
	struct wg_identity ctl;
	struct wg_keypair node;
	struct mapsec cli, srv;
	uint8_t hdr[MAPSEC_HDR_LEN] = {0, 0, 0, 40};
	uint8_t e[WG_KEY_LEN] = {5}, ts[WG_TIMESTAMP_LEN], init[MAPSEC_INIT_LEN],
	        resp[MAPSEC_RESP_LEN], out[4096];

	fuzz_keys(&ctl, &node);
	/* Anyone knowing control's public key can make a message 1 that opens:
	 * only crashes count here. */
	(void)mapsec_server_accept(&srv, &ctl.kp, data, size, e, ts, resp);
	FUZZ_ASSERT(mapsec_client_start(&cli, &node, ctl.kp.pub, e, 1, init) == 0);
	FUZZ_ASSERT(mapsec_server_accept(&srv, &ctl.kp, init, sizeof(init), e, ts, resp) == 0);
	FUZZ_ASSERT(mapsec_client_finish(&cli, resp, sizeof(resp)) == 0);
	if (size <= sizeof(out))
		FUZZ_ASSERT(mapsec_open(&srv, hdr, data, size, out) != 0);
	FUZZ_ASSERT(mapsec_client_finish(&cli, data, size) != 0); /* not waiting any more */
}

/* The replay window: counters from the input, each taken at most once. */
static void fuzz_replay(const uint8_t *data, size_t size)
{
	struct wg_replay r = {0};
	uint8_t seen[6000] = {0}; /* the model: every counter taken so far */

	for (size_t i = 0; i + 2 <= size; i += 2) {
		uint64_t c = (uint64_t)data[i] << 8 | data[i + 1];
		c = c * 37 % 6000; /* spread over more than two windows */
		bool fresh = wg_replay_fresh(&r, c);
		bool took = wg_replay_accept(&r, c);
		FUZZ_ASSERT(fresh == took);
		FUZZ_ASSERT(!(took && seen[c]));
		seen[c] |= took;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_messages(data + 1, size - 1);
		break;
	case 1:
		fuzz_mapsec(data + 1, size - 1);
		break;
	default:
		fuzz_replay(data + 1, size - 1);
		break;
	}
	return 0;
}
