/* Secured map sessions (SPEC SEC-2, SEC-5): the daemon proves its node key
 * and checks control's pinned key; sealed frames open once, in order, and
 * only in the session that sealed them. */
#include "lib/wire/mapsec.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define T0_NS (1767225600ull * 1000000000ull)
/* The frame header the seal authenticates (any four bytes here). */
static const uint8_t HDR[MAPSEC_HDR_LEN] = {0, 0, 0, 20};

static void seed_of(uint8_t seed[WG_KEY_LEN], uint8_t base)
{
	for (int i = 0; i < WG_KEY_LEN; i++)
		seed[i] = (uint8_t)(base * 31 + i);
}

static struct wg_keypair keypair(uint8_t base)
{
	uint8_t seed[WG_KEY_LEN];
	struct wg_keypair kp;

	seed_of(seed, base);
	cr_assert_eq(wg_keypair_from_seed(&kp, seed), 0);
	return kp;
}

/* A whole handshake: node `node` to control `ctl`, pinned key `pinned`. */
static int handshake(struct mapsec *cli, struct mapsec *srv, const struct wg_keypair *node,
                     const struct wg_keypair *ctl, const uint8_t pinned[WG_KEY_LEN],
                     uint8_t ts[WG_TIMESTAMP_LEN], uint8_t init[MAPSEC_INIT_LEN])
{
	uint8_t e1[WG_KEY_LEN], e2[WG_KEY_LEN], resp[MAPSEC_RESP_LEN];
	int rc;

	seed_of(e1, 7);
	seed_of(e2, 8);
	cr_assert_eq(mapsec_client_start(cli, node, pinned, e1, T0_NS, init), 0);
	rc = mapsec_server_accept(srv, ctl, init, MAPSEC_INIT_LEN, e2, ts, resp);
	if (rc)
		return rc;
	return mapsec_client_finish(cli, resp, sizeof(resp));
}

Test(mapsec, sec2_a_session_proves_the_node_key_and_carries_frames_both_ways)
{
	struct wg_keypair node = keypair(1), ctl = keypair(2);
	struct mapsec cli, srv;
	uint8_t ts[WG_TIMESTAMP_LEN], want_ts[WG_TIMESTAMP_LEN], init[MAPSEC_INIT_LEN];
	uint8_t sealed[64], opened[64];

	cr_assert_eq(handshake(&cli, &srv, &node, &ctl, ctl.pub, ts, init), 0);
	cr_assert_eq(cli.state, MAPSEC_OPEN);
	cr_assert_eq(srv.state, MAPSEC_OPEN);
	cr_assert(memcmp(srv.peer_pub, node.pub, WG_KEY_LEN) == 0, "control learnt the node key");
	cr_assert(memcmp(cli.peer_pub, ctl.pub, WG_KEY_LEN) == 0);
	wg_tai64n(want_ts, T0_NS);
	cr_assert(memcmp(ts, want_ts, sizeof(ts)) == 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(mapsec_seal(&cli, HDR, "{\"type\":\"hello\"}", 16, sealed), 0);
		cr_assert_eq(mapsec_open(&srv, HDR, sealed, 16 + MAPSEC_OVERHEAD, opened), 0);
		cr_assert(memcmp(opened, "{\"type\":\"hello\"}", 16) == 0);
		cr_assert_eq(mapsec_seal(&srv, HDR, "{\"type\":\"welcome\"}", 18, sealed), 0);
		cr_assert_eq(mapsec_open(&cli, HDR, sealed, 18 + MAPSEC_OVERHEAD, opened), 0);
	}
}

Test(mapsec, sec2_a_daemon_refuses_a_control_without_the_pinned_key)
{
	struct wg_keypair node = keypair(1), ctl = keypair(2), impostor = keypair(3);
	struct mapsec cli, srv;
	uint8_t ts[WG_TIMESTAMP_LEN], init[MAPSEC_INIT_LEN], resp[MAPSEC_RESP_LEN], e[WG_KEY_LEN];

	/* The impostor cannot open message 1 sealed to the real key ... */
	cr_assert_eq(handshake(&cli, &srv, &node, &impostor, ctl.pub, ts, init), -EBADMSG);
	/* ... and a response it makes up under its own key does not open. */
	seed_of(e, 9);
	cr_assert_eq(mapsec_client_start(&cli, &node, ctl.pub, e, T0_NS, init), 0);
	cr_assert_eq(mapsec_server_accept(&srv, &impostor, init, sizeof(init), e, ts, resp),
	             -EBADMSG);
	memset(resp, 0x33, sizeof(resp));
	cr_assert_neq(mapsec_client_finish(&cli, resp, sizeof(resp)), 0);
	cr_assert_neq(cli.state, MAPSEC_OPEN);
}

Test(mapsec, sec2_a_replayed_handshake_gets_a_session_nobody_can_use)
{
	struct wg_keypair node = keypair(1), ctl = keypair(2);
	struct mapsec cli, srv, replay;
	uint8_t ts[WG_TIMESTAMP_LEN], init[MAPSEC_INIT_LEN], resp[MAPSEC_RESP_LEN], e[WG_KEY_LEN];
	uint8_t hello[16 + MAPSEC_OVERHEAD], out[16];

	cr_assert_eq(handshake(&cli, &srv, &node, &ctl, ctl.pub, ts, init), 0);
	cr_assert_eq(mapsec_seal(&cli, HDR, "{\"type\":\"hello\"}", 16, hello), 0);
	/* An eavesdropper replays message 1 and then the sealed hello: control
	 * answers with a fresh ephemeral, so the hello does not open. */
	seed_of(e, 42);
	cr_assert_eq(mapsec_server_accept(&replay, &ctl, init, sizeof(init), e, ts, resp), 0);
	cr_assert_eq(mapsec_open(&replay, HDR, hello, sizeof(hello), out), -EBADMSG);
	/* The real session is unaffected. */
	cr_assert_eq(mapsec_open(&srv, HDR, hello, sizeof(hello), out), 0);
}

Test(mapsec, sec2_frames_open_once_in_order_and_unchanged)
{
	struct wg_keypair node = keypair(1), ctl = keypair(2);
	struct mapsec cli, srv;
	uint8_t ts[WG_TIMESTAMP_LEN], init[MAPSEC_INIT_LEN], f0[20], f1[20], out[4];

	cr_assert_eq(handshake(&cli, &srv, &node, &ctl, ctl.pub, ts, init), 0);
	cr_assert_eq(mapsec_seal(&cli, HDR, "abcd", 4, f0), 0);
	cr_assert_eq(mapsec_seal(&cli, HDR, "efgh", 4, f1), 0);
	cr_assert_eq(mapsec_open(&srv, HDR, f1, sizeof(f1), out), -EBADMSG, "out of order");
	cr_assert_eq(mapsec_open(&srv, HDR, f0, sizeof(f0), out), 0);
	cr_assert_eq(mapsec_open(&srv, HDR, f0, sizeof(f0), out), -EBADMSG, "a replay");
	f1[3] ^= 1;
	cr_assert_eq(mapsec_open(&srv, HDR, f1, sizeof(f1), out), -EBADMSG, "a changed byte");
	f1[3] ^= 1;
	cr_assert_eq(mapsec_open(&srv, HDR, f1, sizeof(f1), out), 0);
	cr_assert(memcmp(out, "efgh", 4) == 0);
	cr_assert_eq(mapsec_open(&srv, HDR, f1, 3, out), -EINVAL, "shorter than a tag");
	/* The header is sealed with the frame: a flipped flag does not open. */
	static const uint8_t flipped[MAPSEC_HDR_LEN] = {0x80, 0, 0, 20};
	cr_assert_eq(mapsec_seal(&cli, HDR, "ijkl", 4, f0), 0);
	cr_assert_eq(mapsec_open(&srv, flipped, f0, sizeof(f0), out), -EBADMSG, "a changed header");
	cr_assert_eq(mapsec_seal(&srv, HDR, "x", 1, f0), 0);
	cr_assert_eq(mapsec_open(&srv, HDR, f0, 17, out), -EBADMSG, "its own direction's frame");
}

Test(mapsec, sec2_malformed_handshake_messages_are_refused)
{
	struct wg_keypair node = keypair(1), ctl = keypair(2);
	struct mapsec cli, srv;
	uint8_t ts[WG_TIMESTAMP_LEN], init[MAPSEC_INIT_LEN], resp[MAPSEC_RESP_LEN], e[WG_KEY_LEN];

	seed_of(e, 5);
	cr_assert_eq(mapsec_client_start(&cli, &node, ctl.pub, e, T0_NS, init), 0);
	cr_assert_eq(mapsec_server_accept(&srv, &ctl, init, sizeof(init) - 1, e, ts, resp),
	             -EINVAL);
	for (size_t i = 0; i < sizeof(init); i += 7) {
		init[i] ^= 0x80;
		cr_assert_neq(mapsec_server_accept(&srv, &ctl, init, sizeof(init), e, ts, resp), 0,
		              "byte %zu changed", i);
		cr_assert_neq(srv.state, MAPSEC_OPEN);
		init[i] ^= 0x80;
	}
	cr_assert_eq(mapsec_client_finish(&cli, resp, sizeof(resp) + 1), -EINVAL);
	cr_assert_eq(mapsec_seal(&srv, HDR, "x", 1, resp), -EINVAL, "no session yet");
}
