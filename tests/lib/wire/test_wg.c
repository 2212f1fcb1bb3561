/* WireGuard's building blocks (for SPEC SEC-3 and SEC-4, whose own tests
 * come with the WireGuard overlay): the Noise IKpsk2 handshake against the
 * Noise protocol's published test vectors (the cacophony set), keys against
 * wireguard-tools' `wg pubkey`, the four messages, cookies under load, and
 * the anti-replay window. */
#include "lib/base/hex.h"
#include "lib/wire/wg.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void unhex(uint8_t *out, size_t len, const char *text)
{
	cr_assert(hex_decode(text, out, len), "bad hex in the test: %s", text);
}

static void seed_of(uint8_t seed[WG_KEY_LEN], uint8_t base)
{
	for (int i = 0; i < WG_KEY_LEN; i++)
		seed[i] = (uint8_t)(base + 7 * i);
}

/* ---- the published vectors ---------------------------------------------- */

/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s from the cacophony vector set:
 * prologue "John Galt", one psk, four messages (two of them transport). */
#define V_PROLOGUE   "4a6f686e2047616c74"
#define V_PSK        "54686973206973206d7920417573747269616e20706572737065637469766521"
#define V_INIT_S     "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"
#define V_INIT_E     "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"
#define V_RESP_S_PUB "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62"
#define V_RESP_S     "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"
#define V_RESP_E     "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"
#define V_HASH       "f5191b875290abcd41347ac3622d9679688a7e980229cb937ef748336cfde0e5"
#define V_PAYLOAD0   "4c756477696720766f6e204d69736573"
#define V_MSG0                                                                                     \
	"ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98ddd8e2ad5752" \
	"7"                                                                                        \
	"207feb56253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84831215f2441e" \
	"b"                                                                                        \
	"a616548e832985464cf17e51ee93109008399a21f7e13f"
#define V_PAYLOAD1 "4d757272617920526f746862617264"
#define V_MSG1                                                                                     \
	"95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef0751b8f007572" \
	"d"                                                                                        \
	"ab0322217755c0632f365717edbf34d33e87a"
#define V_PAYLOAD2 "462e20412e20486179656b"
#define V_MSG2     "8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7"
#define V_PAYLOAD3 "4361726c204d656e676572"
#define V_MSG3     "07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef"

static void vec_check(const uint8_t *got, size_t len, const char *want_hex, const char *what)
{
	uint8_t want[256];

	cr_assert_eq(strlen(want_hex), 2 * len, "%s: length %zu", what, len);
	unhex(want, len, want_hex);
	cr_assert(memcmp(got, want, len) == 0, "%s differs from the published vector", what);
}

Test(wg, the_handshake_and_transport_match_the_noise_ikpsk2_vectors)
{
	uint8_t seed[WG_KEY_LEN], prologue[9], psk[WG_KEY_LEN], e_i[WG_KEY_LEN], e_r[WG_KEY_LEN];
	uint8_t p0[16], p1[15], p2[11], p3[11], m0[112], m1[63], m2[27], m3[27], got[64];
	struct wg_keypair init_s, resp_s;
	struct wg_noise ini, rsp;
	uint8_t i_send[32], i_recv[32], r_send[32], r_recv[32];

	unhex(prologue, sizeof(prologue), V_PROLOGUE);
	unhex(psk, sizeof(psk), V_PSK);
	unhex(seed, sizeof(seed), V_INIT_S);
	cr_assert_eq(wg_keypair_from_seed(&init_s, seed), 0);
	unhex(seed, sizeof(seed), V_RESP_S);
	cr_assert_eq(wg_keypair_from_seed(&resp_s, seed), 0);
	vec_check(resp_s.pub, 32, V_RESP_S_PUB, "the responder's public key");
	unhex(e_i, sizeof(e_i), V_INIT_E);
	unhex(e_r, sizeof(e_r), V_RESP_E);
	unhex(p0, sizeof(p0), V_PAYLOAD0);
	unhex(p1, sizeof(p1), V_PAYLOAD1);
	unhex(p2, sizeof(p2), V_PAYLOAD2);
	unhex(p3, sizeof(p3), V_PAYLOAD3);

	cr_assert_eq(wg_noise_start(&ini, true, &init_s, resp_s.pub, prologue, sizeof(prologue)),
	             0);
	cr_assert_eq(wg_noise_start(&rsp, false, &resp_s, resp_s.pub, prologue, sizeof(prologue)),
	             0);
	cr_assert_eq(sizeof(m0), WG_NOISE_INIT_LEN(sizeof(p0)));
	cr_assert_eq(wg_noise_write_init(&ini, e_i, p0, sizeof(p0), m0), 0);
	vec_check(m0, sizeof(m0), V_MSG0, "message 1");
	cr_assert_eq(wg_noise_read_init(&rsp, m0, sizeof(m0), got), 0);
	cr_assert(memcmp(got, p0, sizeof(p0)) == 0);
	cr_assert(memcmp(rsp.rs, init_s.pub, 32) == 0, "the responder learnt the caller's key");

	cr_assert_eq(wg_noise_write_resp(&rsp, e_r, psk, p1, sizeof(p1), m1), 0);
	vec_check(m1, sizeof(m1), V_MSG1, "message 2");
	cr_assert_eq(wg_noise_read_resp(&ini, psk, m1, sizeof(m1), got), 0);
	cr_assert(memcmp(got, p1, sizeof(p1)) == 0);
	vec_check(ini.h, 32, V_HASH, "the initiator's handshake hash");
	vec_check(rsp.h, 32, V_HASH, "the responder's handshake hash");

	cr_assert_eq(wg_noise_split(&ini, i_send, i_recv), 0);
	cr_assert_eq(wg_noise_split(&rsp, r_send, r_recv), 0);
	cr_assert_eq(wg_aead_seal(m2, i_send, 0, p2, sizeof(p2), NULL, 0), 0);
	vec_check(m2, sizeof(m2), V_MSG2, "transport message 3");
	cr_assert_eq(wg_aead_open(got, r_recv, 0, m2, sizeof(m2), NULL, 0), 0);
	cr_assert_eq(wg_aead_seal(m3, r_send, 0, p3, sizeof(p3), NULL, 0), 0);
	vec_check(m3, sizeof(m3), V_MSG3, "transport message 4");
	cr_assert_eq(wg_aead_open(got, i_recv, 0, m3, sizeof(m3), NULL, 0), 0);
	cr_assert(memcmp(got, p3, sizeof(p3)) == 0);
}

Test(wg, the_first_chaining_key_is_the_hash_of_the_construction)
{
	/* HASH("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"), as other
	 * implementations precompute it. */
	static const uint8_t want[32] = {96,  226, 109, 174, 243, 39,  239, 192, 46,  195, 53,
	                                 226, 160, 37,  210, 208, 22,  235, 66,  6,   248, 114,
	                                 119, 245, 45,  56,  209, 152, 139, 120, 205, 54};
	uint8_t got[32];

	cr_assert_eq(wg_hash(got, WG_CONSTRUCTION, strlen(WG_CONSTRUCTION), NULL, 0), 0);
	cr_assert(memcmp(got, want, 32) == 0);
	/* BLAKE2s-256("abc"), RFC 7693 appendix B. */
	cr_assert_eq(wg_hash(got, "abc", 3, NULL, 0), 0);
	vec_check(got, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
	          "BLAKE2s-256(abc)");
}

Test(wg, public_keys_and_their_text_match_wireguard_tools)
{
	uint8_t seed[WG_KEY_LEN], back[WG_KEY_LEN];
	char priv64[WG_KEY_BASE64_LEN + 1], pub64[WG_KEY_BASE64_LEN + 1], cmd[160], line[128] = "";
	struct wg_keypair kp;
	FILE *p;

	seed_of(seed, 3);
	cr_assert_eq(wg_keypair_from_seed(&kp, seed), 0);
	wg_key_to_base64(priv64, kp.priv);
	wg_key_to_base64(pub64, kp.pub);
	snprintf(cmd, sizeof(cmd), "echo %s | wg pubkey", priv64);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(line, sizeof(line), p),
	                   "`wg pubkey` said nothing: is it installed?");
	cr_assert_eq(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	cr_assert_str_eq(line, pub64, "wg pubkey gives %s, we %s", line, pub64);
	cr_assert(wg_key_from_base64(back, pub64));
	cr_assert(memcmp(back, kp.pub, 32) == 0);
	cr_assert_not(wg_key_from_base64(back, "short"));
	cr_assert_not(wg_key_from_base64(back, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!="));
	cr_assert_not(wg_key_from_base64(back, NULL));
}

/* ---- WireGuard's messages ----------------------------------------------- */

struct pair {
	struct wg_identity a, b;      /* a initiates */
	struct wg_peer_macs a2b, b2a; /* what each knows of the other */
	uint8_t psk[WG_KEY_LEN];
};

static void pair_init(struct pair *p)
{
	uint8_t seed[WG_KEY_LEN];

	seed_of(seed, 1);
	cr_assert_eq(wg_identity_init(&p->a, seed), 0);
	seed_of(seed, 2);
	cr_assert_eq(wg_identity_init(&p->b, seed), 0);
	cr_assert_eq(wg_peer_macs_init(&p->a2b, p->b.kp.pub), 0);
	cr_assert_eq(wg_peer_macs_init(&p->b2a, p->a.kp.pub), 0);
	memset(p->psk, 0, sizeof(p->psk));
}

static void initiation(struct pair *p, struct wg_noise *n, uint8_t msg[WG_INITIATION_LEN],
                       uint64_t now_ns)
{
	uint8_t e[WG_KEY_LEN], ts[WG_TIMESTAMP_LEN];

	seed_of(e, 9);
	wg_tai64n(ts, 1767225600ull * 1000000000ull + now_ns);
	cr_assert_eq(
	    wg_initiation_create(msg, n, &p->a, p->b.kp.pub, 0x11223344, e, ts, &p->a2b, now_ns),
	    0);
}

Test(wg, a_handshake_gives_both_sides_keys_that_carry_data_both_ways)
{
	struct pair p;
	struct wg_noise ni, nr;
	uint8_t init[WG_INITIATION_LEN], resp[WG_RESPONSE_LEN], ts[WG_TIMESTAMP_LEN], e[WG_KEY_LEN];
	uint8_t a_send[32], a_recv[32], b_send[32], b_recv[32], data[WG_DATA_MIN_LEN + 32], out[32];
	uint32_t idx;
	uint64_t ctr;

	pair_init(&p);
	initiation(&p, &ni, init, 5);
	cr_assert_eq(wg_msg_classify(init, sizeof(init)), WG_MSG_INITIATION);
	cr_assert(wg_mac1_ok(&p.b, init, sizeof(init)));
	cr_assert_not(wg_mac1_ok(&p.a, init, sizeof(init)), "mac1 names its receiver");
	cr_assert_eq(wg_initiation_consume(init, &nr, &p.b, &idx, ts), 0);
	cr_assert_eq(idx, 0x11223344);
	cr_assert(memcmp(nr.rs, p.a.kp.pub, 32) == 0);
	seed_of(e, 10);
	cr_assert_eq(wg_response_create(resp, &nr, 77, idx, e, p.psk, &p.b2a, 5), 0);
	cr_assert_eq(wg_msg_classify(resp, sizeof(resp)), WG_MSG_RESPONSE);
	cr_assert(wg_mac1_ok(&p.a, resp, sizeof(resp)));
	cr_assert_eq(wg_response_consume(resp, &ni, p.psk, &idx), 0);
	cr_assert_eq(idx, 77);
	cr_assert_eq(wg_noise_split(&ni, a_send, a_recv), 0);
	cr_assert_eq(wg_noise_split(&nr, b_send, b_recv), 0);
	cr_assert(memcmp(a_send, b_recv, 32) == 0 && memcmp(b_send, a_recv, 32) == 0);

	cr_assert_eq(wg_data_seal(data, a_send, 77, 0, "0123456789abcdef0123456789abcdef", 32), 0);
	cr_assert_eq(wg_msg_classify(data, sizeof(data)), WG_MSG_DATA);
	wg_data_header(data, &idx, &ctr);
	cr_assert(idx == 77 && ctr == 0);
	cr_assert_eq(wg_data_open(out, b_recv, data, sizeof(data)), 0);
	cr_assert(memcmp(out, "0123456789abcdef0123456789abcdef", 32) == 0);
	cr_assert_eq(wg_data_open(out, a_recv, data, sizeof(data)), -EBADMSG,
	             "a key of the other direction");
	data[8] ^= 1; /* the counter is part of the nonce */
	cr_assert_eq(wg_data_open(out, b_recv, data, sizeof(data)), -EBADMSG);
}

Test(wg, a_changed_byte_anywhere_in_a_handshake_is_refused)
{
	struct pair p;
	struct wg_noise ni, nr;
	uint8_t init[WG_INITIATION_LEN], bad[WG_INITIATION_LEN], ts[WG_TIMESTAMP_LEN];
	uint32_t idx;

	pair_init(&p);
	initiation(&p, &ni, init, 5);
	for (size_t i = 0; i < sizeof(init); i++) {
		memcpy(bad, init, sizeof(bad));
		bad[i] ^= 0x40;
		/* mac1 covers everything before it and itself is checked; the
		 * Noise part authenticates itself too. */
		bool mac1 = wg_mac1_ok(&p.b, bad, sizeof(bad));
		if (i < 132) {
			cr_assert_not(mac1, "byte %zu changed, mac1 still matched", i);
			if (i >= 8 && i < 116)
				cr_assert_neq(wg_initiation_consume(bad, &nr, &p.b, &idx, ts), 0,
				              "byte %zu changed, the initiation opened", i);
		} else {
			/* mac2 is outside mac1: judged only under load, by its cookie. */
			cr_assert(mac1, "byte %zu is mac2's", i);
		}
	}
	cr_assert_eq(wg_msg_classify(init, sizeof(init) - 1), 0);
	cr_assert_eq(wg_msg_classify(init, 3), 0);
	memcpy(bad, init, sizeof(bad));
	bad[1] = 1; /* reserved bytes must be zero */
	cr_assert_eq(wg_msg_classify(bad, sizeof(bad)), 0);
}

Test(wg, a_cookie_reply_makes_the_next_initiation_carry_mac2)
{
	struct pair p;
	struct wg_noise ni;
	uint8_t init[WG_INITIATION_LEN], reply[WG_COOKIE_REPLY_LEN], secret[32], cookie[16];
	uint8_t nonce[WG_XNONCE_LEN] = {1, 2, 3};
	static const uint8_t src[] = {10, 0, 0, 1, 0xca, 0x6c}; /* 10.0.0.1:51820 */
	uint64_t now = 1000000000ull;

	pair_init(&p);
	memset(secret, 0x5a, sizeof(secret));
	initiation(&p, &ni, init, now);
	cr_assert_eq(wg_cookie_for(cookie, secret, src, sizeof(src)), 0);
	cr_assert_not(wg_mac2_ok(cookie, init, sizeof(init)), "no cookie yet: mac2 is zero");
	cr_assert_eq(
	    wg_cookie_reply_create(reply, &p.b, 0x11223344, nonce, cookie, init, sizeof(init)), 0);
	cr_assert_eq(wg_msg_classify(reply, sizeof(reply)), WG_MSG_COOKIE_REPLY);
	cr_assert_eq(wg_cookie_reply_consume(reply, &p.a2b, now), 0);
	initiation(&p, &ni, init, now + 1);
	cr_assert(wg_mac1_ok(&p.b, init, sizeof(init)));
	cr_assert(wg_mac2_ok(cookie, init, sizeof(init)), "the initiation proves the address");

	/* The reply is bound to the mac1 it answered: a newer one does not
	 * take it. */
	cr_assert_eq(wg_cookie_reply_consume(reply, &p.a2b, now), -EBADMSG);
	/* A cookie older than two minutes is not used. */
	initiation(&p, &ni, init, now + 121ull * 1000000000ull);
	cr_assert_not(wg_mac2_ok(cookie, init, sizeof(init)));
}

/* ---- anti-replay -------------------------------------------------------- */

Test(wg, the_replay_window_takes_each_counter_once)
{
	struct wg_replay r = {0};

	for (uint64_t c = 0; c < 100; c++)
		cr_assert(wg_replay_accept(&r, c));
	cr_assert_not(wg_replay_accept(&r, 99), "a replay");
	cr_assert_not(wg_replay_accept(&r, 0));
	/* Out of order inside the window: each once. */
	cr_assert(wg_replay_accept(&r, 1000));
	cr_assert(wg_replay_accept(&r, 500));
	cr_assert_not(wg_replay_accept(&r, 500));
	cr_assert(wg_replay_fresh(&r, 999));
	/* A jump past the window forgets what it held. */
	cr_assert(wg_replay_accept(&r, 1000 + 5000));
	cr_assert_not(wg_replay_fresh(&r, 999), "too old");
	cr_assert_not(wg_replay_fresh(&r, 6000 - WG_REPLAY_WINDOW));
	cr_assert(wg_replay_accept(&r, 6000 - 1000));
	cr_assert_not(wg_replay_accept(&r, 6000));
	cr_assert_not(wg_replay_accept(&r, WG_REJECT_AFTER_MESSAGES),
	              "the last counters are spent");

	/* A bit left from a counter the window slid past must not refuse the
	 * counter that later lands on the same bit. */
	struct wg_replay q = {0};
	cr_assert(wg_replay_accept(&q, 10));
	cr_assert(wg_replay_accept(&q, 10 + 2 * WG_REPLAY_WINDOW + 1));
	cr_assert(wg_replay_accept(&q, 10 + 2 * WG_REPLAY_WINDOW), "a stale bit refused it");
}

Test(wg, the_replay_window_never_takes_a_counter_twice_in_any_order)
{
	/* Every counter of a shuffled run within the window is taken once;
	 * the same run again is refused whole. */
	struct wg_replay r = {0};
	uint64_t order[1024];
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < 1024; i++)
		order[i] = i;
	for (size_t i = 1023; i > 0; i--) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t j = x % (i + 1);
		uint64_t t = order[i];
		order[i] = order[j], order[j] = t;
	}
	for (size_t i = 0; i < 1024; i++)
		cr_assert(wg_replay_accept(&r, 70000 + order[i]), "counter %lu",
		          (unsigned long)order[i]);
	for (size_t i = 0; i < 1024; i++)
		cr_assert_not(wg_replay_accept(&r, 70000 + order[i]));
}
