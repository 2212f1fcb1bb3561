/* WireGuard's four messages (lib/wire/wg.h): their layout, mac1 and mac2,
 * cookie replies, transport data, and the anti-replay window. */
#include "lib/wire/wg.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#define WG_LABEL_MAC1   "mac1----"
#define WG_LABEL_COOKIE "cookie--"

/* Offsets into the messages. */
#define WG_INIT_SENDER   4
#define WG_INIT_NOISE    8 /* ephemeral, static, timestamp: 32 + 48 + 28 */
#define WG_INIT_MAC1     116
#define WG_INIT_MAC2     132
#define WG_RESP_SENDER   4
#define WG_RESP_RECEIVER 8
#define WG_RESP_NOISE    12 /* ephemeral, empty: 32 + 16 */
#define WG_RESP_MAC1     60
#define WG_RESP_MAC2     76
#define WG_COOKIE_RCVR   4
#define WG_COOKIE_NONCE  8
#define WG_COOKIE_SEALED 32
#define WG_DATA_RECEIVER 4
#define WG_DATA_COUNTER  8
#define WG_NS_PER_S      1000000000ull

static void wg_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t wg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wg_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t wg_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void wg_put_type(uint8_t *msg, enum wg_msg_type t)
{
	wg_put32(msg, (uint32_t)t); /* one type byte, three reserved zeros */
}

enum wg_msg_type wg_msg_classify(const uint8_t *msg, size_t len)
{
	if (len < 4 || msg[1] || msg[2] || msg[3])
		return 0;
	switch (msg[0]) {
	case WG_MSG_INITIATION:
		return len == WG_INITIATION_LEN ? WG_MSG_INITIATION : 0;
	case WG_MSG_RESPONSE:
		return len == WG_RESPONSE_LEN ? WG_MSG_RESPONSE : 0;
	case WG_MSG_COOKIE_REPLY:
		return len == WG_COOKIE_REPLY_LEN ? WG_MSG_COOKIE_REPLY : 0;
	case WG_MSG_DATA:
		return len >= WG_DATA_MIN_LEN ? WG_MSG_DATA : 0;
	}
	return 0;
}

int wg_identity_init(struct wg_identity *id, const uint8_t priv_seed[WG_KEY_LEN])
{
	int rc = wg_keypair_from_seed(&id->kp, priv_seed);

	if (!rc)
		rc = wg_hash(id->mac1_key, WG_LABEL_MAC1, 8, id->kp.pub, WG_KEY_LEN);
	if (!rc)
		rc = wg_hash(id->cookie_key, WG_LABEL_COOKIE, 8, id->kp.pub, WG_KEY_LEN);
	return rc;
}

int wg_peer_macs_init(struct wg_peer_macs *m, const uint8_t peer_pub[WG_KEY_LEN])
{
	int rc;

	memset(m, 0, sizeof(*m));
	rc = wg_hash(m->mac1_key, WG_LABEL_MAC1, 8, peer_pub, WG_KEY_LEN);
	return rc ? rc : wg_hash(m->cookie_key, WG_LABEL_COOKIE, 8, peer_pub, WG_KEY_LEN);
}

/* Where mac1 sits in a handshake message of this length, or 0. */
static size_t wg_mac1_at(size_t len)
{
	return len == WG_INITIATION_LEN ? WG_INIT_MAC1 : len == WG_RESPONSE_LEN ? WG_RESP_MAC1 : 0;
}

/* mac1 and mac2 of a message we send (mac2 zero without a live cookie). */
static int wg_stamp_macs(uint8_t *msg, size_t len, struct wg_peer_macs *m, uint64_t now_ns)
{
	size_t at = wg_mac1_at(len);
	int rc = wg_mac(msg + at, m->mac1_key, WG_HASH_LEN, msg, at);

	if (rc)
		return rc;
	memcpy(m->last_mac1, msg + at, WG_MAC_LEN);
	if (m->cookie_at_ns && now_ns - m->cookie_at_ns < WG_COOKIE_SECRET_S * WG_NS_PER_S)
		return wg_mac(msg + at + WG_MAC_LEN, m->cookie, WG_MAC_LEN, msg, at + WG_MAC_LEN);
	memset(msg + at + WG_MAC_LEN, 0, WG_MAC_LEN);
	return 0;
}

bool wg_mac1_ok(const struct wg_identity *self, const uint8_t *msg, size_t len)
{
	size_t at = wg_mac1_at(len);
	uint8_t want[WG_MAC_LEN];

	return at && wg_mac(want, self->mac1_key, WG_HASH_LEN, msg, at) == 0 &&
	       CRYPTO_memcmp(want, msg + at, WG_MAC_LEN) == 0;
}

int wg_cookie_for(uint8_t cookie[WG_MAC_LEN], const uint8_t secret[WG_HASH_LEN], const void *src,
                  size_t src_len)
{
	return wg_mac(cookie, secret, WG_HASH_LEN, src, src_len);
}

bool wg_mac2_ok(const uint8_t cookie[WG_MAC_LEN], const uint8_t *msg, size_t len)
{
	size_t at = wg_mac1_at(len);
	uint8_t want[WG_MAC_LEN];

	return at && wg_mac(want, cookie, WG_MAC_LEN, msg, at + WG_MAC_LEN) == 0 &&
	       CRYPTO_memcmp(want, msg + at + WG_MAC_LEN, WG_MAC_LEN) == 0;
}

int wg_initiation_create(uint8_t out[WG_INITIATION_LEN], struct wg_noise *n,
                         const struct wg_identity *self, const uint8_t peer_pub[WG_KEY_LEN],
                         uint32_t sender_index, const uint8_t e_seed[WG_KEY_LEN],
                         const uint8_t timestamp[WG_TIMESTAMP_LEN], struct wg_peer_macs *macs,
                         uint64_t now_ns)
{
	int rc = wg_noise_start(n, true, &self->kp, peer_pub, WG_IDENTIFIER, strlen(WG_IDENTIFIER));

	wg_put_type(out, WG_MSG_INITIATION);
	wg_put32(out + WG_INIT_SENDER, sender_index);
	if (!rc)
		rc = wg_noise_write_init(n, e_seed, timestamp, WG_TIMESTAMP_LEN,
		                         out + WG_INIT_NOISE);
	return rc ? rc : wg_stamp_macs(out, WG_INITIATION_LEN, macs, now_ns);
}

int wg_initiation_consume(const uint8_t msg[WG_INITIATION_LEN], struct wg_noise *n,
                          const struct wg_identity *self, uint32_t *sender_index,
                          uint8_t timestamp[WG_TIMESTAMP_LEN])
{
	int rc =
	    wg_noise_start(n, false, &self->kp, self->kp.pub, WG_IDENTIFIER, strlen(WG_IDENTIFIER));

	if (!rc)
		rc = wg_noise_read_init(n, msg + WG_INIT_NOISE, WG_NOISE_INIT_LEN(WG_TIMESTAMP_LEN),
		                        timestamp);
	*sender_index = wg_get32(msg + WG_INIT_SENDER);
	return rc;
}

int wg_response_create(uint8_t out[WG_RESPONSE_LEN], struct wg_noise *n, uint32_t sender_index,
                       uint32_t receiver_index, const uint8_t e_seed[WG_KEY_LEN],
                       const uint8_t psk[WG_KEY_LEN], struct wg_peer_macs *macs, uint64_t now_ns)
{
	int rc;

	wg_put_type(out, WG_MSG_RESPONSE);
	wg_put32(out + WG_RESP_SENDER, sender_index);
	wg_put32(out + WG_RESP_RECEIVER, receiver_index);
	rc = wg_noise_write_resp(n, e_seed, psk, "", 0, out + WG_RESP_NOISE);
	return rc ? rc : wg_stamp_macs(out, WG_RESPONSE_LEN, macs, now_ns);
}

int wg_response_consume(const uint8_t msg[WG_RESPONSE_LEN], struct wg_noise *n,
                        const uint8_t psk[WG_KEY_LEN], uint32_t *sender_index)
{
	uint8_t empty[1];

	*sender_index = wg_get32(msg + WG_RESP_SENDER);
	return wg_noise_read_resp(n, psk, msg + WG_RESP_NOISE, WG_NOISE_RESP_LEN(0), empty);
}

int wg_cookie_reply_create(uint8_t out[WG_COOKIE_REPLY_LEN], const struct wg_identity *self,
                           uint32_t receiver_index, const uint8_t nonce[WG_XNONCE_LEN],
                           const uint8_t cookie[WG_MAC_LEN], const uint8_t *msg, size_t len)
{
	size_t at = wg_mac1_at(len);

	if (!at)
		return -EINVAL;
	wg_put_type(out, WG_MSG_COOKIE_REPLY);
	wg_put32(out + WG_COOKIE_RCVR, receiver_index);
	memcpy(out + WG_COOKIE_NONCE, nonce, WG_XNONCE_LEN);
	/* Bound to the mac1 it answers, so it cannot be replayed elsewhere. */
	return wg_xaead_seal(out + WG_COOKIE_SEALED, self->cookie_key, nonce, cookie, WG_MAC_LEN,
	                     msg + at, WG_MAC_LEN);
}

int wg_cookie_reply_consume(const uint8_t msg[WG_COOKIE_REPLY_LEN], struct wg_peer_macs *macs,
                            uint64_t now_ns)
{
	uint8_t cookie[WG_MAC_LEN];
	int rc =
	    wg_xaead_open(cookie, macs->cookie_key, msg + WG_COOKIE_NONCE, msg + WG_COOKIE_SEALED,
	                  WG_MAC_LEN + WG_TAG_LEN, macs->last_mac1, WG_MAC_LEN);

	if (!rc) {
		memcpy(macs->cookie, cookie, WG_MAC_LEN);
		macs->cookie_at_ns = now_ns ? now_ns : 1;
	}
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return rc;
}

int wg_data_seal(uint8_t *out, const uint8_t key[WG_KEY_LEN], uint32_t receiver_index,
                 uint64_t counter, const void *packet, size_t len)
{
	wg_put_type(out, WG_MSG_DATA);
	wg_put32(out + WG_DATA_RECEIVER, receiver_index);
	wg_put64(out + WG_DATA_COUNTER, counter);
	return wg_aead_seal(out + WG_DATA_HDR_LEN, key, counter, packet, len, NULL, 0);
}

void wg_data_header(const uint8_t *msg, uint32_t *receiver_index, uint64_t *counter)
{
	*receiver_index = wg_get32(msg + WG_DATA_RECEIVER);
	*counter = wg_get64(msg + WG_DATA_COUNTER);
}

int wg_data_open(uint8_t *out, const uint8_t key[WG_KEY_LEN], const uint8_t *msg, size_t len)
{
	if (len < WG_DATA_MIN_LEN)
		return -EINVAL;
	return wg_aead_open(out, key, wg_get64(msg + WG_DATA_COUNTER), msg + WG_DATA_HDR_LEN,
	                    len - WG_DATA_HDR_LEN, NULL, 0);
}

/* ---- anti-replay: a ring of bits, one per counter below `top` ----------- */

#define WG_REPLAY_WORDS (WG_REPLAY_WINDOW / 64)

bool wg_replay_fresh(const struct wg_replay *r, uint64_t counter)
{
	if (counter >= WG_REJECT_AFTER_MESSAGES)
		return false;
	if (counter >= r->top)
		return true;
	/* The window's lowest word may be partly reused by the top one. */
	if (r->top - counter > WG_REPLAY_WINDOW - 64)
		return false;
	return !(r->bits[(counter / 64) % WG_REPLAY_WORDS] >> (counter % 64) & 1);
}

bool wg_replay_accept(struct wg_replay *r, uint64_t counter)
{
	if (!wg_replay_fresh(r, counter))
		return false;
	if (counter >= r->top) {
		uint64_t from = r->top / 64 + (r->top % 64 ? 1 : 0);
		uint64_t to = counter / 64;
		/* Words the window slides over start empty. */
		if (r->top == 0)
			from = 0;
		if (to >= from) {
			uint64_t n = to - from + 1;
			if (n > WG_REPLAY_WORDS)
				n = WG_REPLAY_WORDS;
			for (uint64_t i = 0; i < n; i++)
				r->bits[(to - i) % WG_REPLAY_WORDS] = 0;
		}
		r->top = counter + 1;
	}
	r->bits[(counter / 64) % WG_REPLAY_WORDS] |= 1ull << (counter % 64);
	return true;
}
