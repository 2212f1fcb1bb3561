/* WireGuard as published (the whitepaper's section 5, which wireguard-go
 * and the Linux module follow) and the Noise handshake it is built on:
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s. Pure code: no I/O, no clock, no
 * random source. Callers pass ephemeral key seeds, timestamps and cookie
 * secrets, so a simulated run stays deterministic. Every primitive is
 * OpenSSL's (X25519, BLAKE2s, HMAC, ChaCha20-Poly1305) except
 * XChaCha20-Poly1305 for the cookie reply, which OpenSSL lacks: libsodium.
 *
 * Two users:
 *  - the data plane speaks WireGuard's four messages (initiation 148 bytes,
 *    response 92, cookie reply 64, transport data 16 + payload + 16);
 *  - map sessions (lib/wire/mapproto.h) run the same handshake with their
 *    own prologue over the TCP stream, then seal every frame.
 *
 * Keys are 32 raw bytes; `wg` shows them in base64 (wg_key_to_base64).
 * Functions return 0 or a negative errno: -EINVAL for a message of the
 * wrong shape, -EBADMSG for one that does not authenticate, -EPROTO for a
 * DH that yields zero (a low-order point), -ENOMEM.
 */
#ifndef LIB_WIRE_WG_H
#define LIB_WIRE_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_KEY_LEN        32
#define WG_HASH_LEN       32
#define WG_TAG_LEN        16 /* Poly1305 */
#define WG_MAC_LEN        16 /* mac1, mac2, cookie */
#define WG_TIMESTAMP_LEN  12 /* TAI64N */
#define WG_XNONCE_LEN     24
#define WG_KEY_BASE64_LEN 44 /* without the NUL */

/* The handshake's fixed strings (hashed into its first chaining key). */
#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER   "WireGuard v1 zx2c4 Jason@zx2c4.com"

enum wg_msg_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_DATA = 4,
};

#define WG_INITIATION_LEN   148
#define WG_RESPONSE_LEN     92
#define WG_COOKIE_REPLY_LEN 64
#define WG_DATA_HDR_LEN     16
#define WG_DATA_MIN_LEN     (WG_DATA_HDR_LEN + WG_TAG_LEN) /* a keepalive */

/* The protocol's timers and limits (whitepaper section 6). */
#define WG_REKEY_AFTER_MESSAGES  (1ull << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ull << 13))
#define WG_REKEY_AFTER_S         120
#define WG_REJECT_AFTER_S        180
#define WG_REKEY_ATTEMPT_S       90
#define WG_REKEY_TIMEOUT_S       5
#define WG_KEEPALIVE_S           10
#define WG_COOKIE_SECRET_S       120 /* a cookie secret (and a cookie) lives this long */
/* Counters this far behind the highest seen are too old (a bitmap window,
 * as RFC 6479 describes; the Linux module keeps 8,192 minus a word). */
#define WG_REPLAY_WINDOW 2048

/* ---- primitives --------------------------------------------------------- */

struct wg_keypair {
	uint8_t priv[WG_KEY_LEN];
	uint8_t pub[WG_KEY_LEN];
};

/* A key pair from 32 secret bytes (clamped as X25519 requires). */
int wg_keypair_from_seed(struct wg_keypair *kp, const uint8_t seed[WG_KEY_LEN]);
/* out = X25519(priv, pub); -EPROTO when the result is all zeros. */
int wg_dh(uint8_t out[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN]);
/* BLAKE2s-256 of a || b (b may be NULL). */
int wg_hash(uint8_t out[WG_HASH_LEN], const void *a, size_t a_len, const void *b, size_t b_len);
/* Keyed BLAKE2s with a 16-byte output: mac1, mac2 and cookies. */
int wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t key_len, const void *in, size_t len);
/* The HKDF of the whitepaper (HMAC-BLAKE2s): up to three 32-byte outputs
 * (out2, out3 may be NULL). */
int wg_kdf(const uint8_t ck[WG_HASH_LEN], const void *in, size_t len, uint8_t out1[WG_HASH_LEN],
           uint8_t out2[WG_HASH_LEN], uint8_t out3[WG_HASH_LEN]);
/* ChaCha20-Poly1305 with the nonce 0^32 || little-endian counter: out gets
 * len + WG_TAG_LEN bytes; open takes those and gives len - WG_TAG_LEN. */
int wg_aead_seal(uint8_t *out, const uint8_t key[WG_KEY_LEN], uint64_t counter, const void *in,
                 size_t len, const void *ad, size_t ad_len);
int wg_aead_open(uint8_t *out, const uint8_t key[WG_KEY_LEN], uint64_t counter, const void *in,
                 size_t len, const void *ad, size_t ad_len);
/* XChaCha20-Poly1305 (libsodium), for the cookie reply. */
int wg_xaead_seal(uint8_t *out, const uint8_t key[WG_KEY_LEN], const uint8_t nonce[WG_XNONCE_LEN],
                  const void *in, size_t len, const void *ad, size_t ad_len);
int wg_xaead_open(uint8_t *out, const uint8_t key[WG_KEY_LEN], const uint8_t nonce[WG_XNONCE_LEN],
                  const void *in, size_t len, const void *ad, size_t ad_len);

/* TAI64N of a Unix time in nanoseconds (12 bytes, big-endian, comparable
 * with memcmp). */
void wg_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t unix_ns);

/* Keys as `wg` shows them: standard base64 of the 32 bytes. from_base64
 * is false for anything but exactly 44 characters of a 32-byte key. */
void wg_key_to_base64(char out[WG_KEY_BASE64_LEN + 1], const uint8_t key[WG_KEY_LEN]);
bool wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *text);

/* ---- the Noise IKpsk2 handshake ----------------------------------------- *
 *   -> e, es, s, ss, {payload}        (initiator; knows the responder's s)
 *   <- e, ee, se, psk, {payload}      (responder)
 * Message 1 is 32 + 48 + payload + 16 bytes, message 2 is 32 + payload +
 * 16. The psk is 32 zero bytes when the peers share none. After message 2
 * both sides wg_noise_split for their transport keys; the responder has
 * proof of the initiator's key only once a transport message from it
 * opens under those keys (WireGuard's "key confirmation"). */
struct wg_noise {
	uint8_t ck[WG_HASH_LEN];
	uint8_t h[WG_HASH_LEN];
	struct wg_keypair s; /* ours */
	struct wg_keypair e; /* ours */
	uint8_t rs[WG_KEY_LEN];
	uint8_t re[WG_KEY_LEN];
	bool initiator;
};

#define WG_NOISE_INIT_LEN(payload) (32 + 48 + (payload) + WG_TAG_LEN)
#define WG_NOISE_RESP_LEN(payload) (32 + (payload) + WG_TAG_LEN)

/* Starts a handshake: the chaining key and hash of the construction, the
 * prologue mixed in, and the responder's static key. */
int wg_noise_start(struct wg_noise *n, bool initiator, const struct wg_keypair *s,
                   const uint8_t responder_pub[WG_KEY_LEN], const void *prologue,
                   size_t prologue_len);
/* Initiator: writes message 1 (WG_NOISE_INIT_LEN(len) bytes) with a fresh
 * ephemeral from e_seed. */
int wg_noise_write_init(struct wg_noise *n, const uint8_t e_seed[WG_KEY_LEN], const void *payload,
                        size_t len, uint8_t *out);
/* Responder: reads message 1 (msg_len bytes), learning n->rs (who claims to
 * be calling) and the payload (msg_len - 96 bytes into out). */
int wg_noise_read_init(struct wg_noise *n, const uint8_t *msg, size_t msg_len, uint8_t *payload);
/* Responder: writes message 2 (WG_NOISE_RESP_LEN(len) bytes). */
int wg_noise_write_resp(struct wg_noise *n, const uint8_t e_seed[WG_KEY_LEN],
                        const uint8_t psk[WG_KEY_LEN], const void *payload, size_t len,
                        uint8_t *out);
/* Initiator: reads message 2, payload (msg_len - 48 bytes) into out. */
int wg_noise_read_resp(struct wg_noise *n, const uint8_t psk[WG_KEY_LEN], const uint8_t *msg,
                       size_t msg_len, uint8_t *payload);
/* The transport keys once message 2 is through; wipes the handshake. */
int wg_noise_split(struct wg_noise *n, uint8_t send[WG_KEY_LEN], uint8_t recv[WG_KEY_LEN]);

/* ---- anti-replay -------------------------------------------------------- */

struct wg_replay {
	uint64_t top; /* highest counter accepted + 1; 0: none yet */
	uint64_t bits[WG_REPLAY_WINDOW / 64];
};

/* Whether `counter` may still be accepted (cheap, before decrypting). */
bool wg_replay_fresh(const struct wg_replay *r, uint64_t counter);
/* Marks `counter` seen, after it authenticated; false when it was not
 * fresh after all (a replay, or too old). */
bool wg_replay_accept(struct wg_replay *r, uint64_t counter);

/* ---- WireGuard's messages ----------------------------------------------- */

/* A device's own identity and the keys derived from it. */
struct wg_identity {
	struct wg_keypair kp;
	uint8_t mac1_key[WG_HASH_LEN];   /* HASH("mac1----" || pub): checks mac1 sent to us */
	uint8_t cookie_key[WG_HASH_LEN]; /* HASH("cookie--" || pub): seals our cookie replies */
};
int wg_identity_init(struct wg_identity *id, const uint8_t priv_seed[WG_KEY_LEN]);

/* What a device knows of a peer for messages it sends that peer. */
struct wg_peer_macs {
	uint8_t mac1_key[WG_HASH_LEN];   /* HASH("mac1----" || peer pub) */
	uint8_t cookie_key[WG_HASH_LEN]; /* HASH("cookie--" || peer pub): opens its replies */
	uint8_t last_mac1[WG_MAC_LEN];   /* of our last handshake message to it */
	uint8_t cookie[WG_MAC_LEN];      /* from its last cookie reply */
	uint64_t cookie_at_ns;           /* when that arrived; 0: no cookie */
};
int wg_peer_macs_init(struct wg_peer_macs *m, const uint8_t peer_pub[WG_KEY_LEN]);

/* Handshake initiation to a peer: Noise message 1 with a TAI64N payload,
 * then mac1 (and mac2 when a cookie from the peer is under 120 s old at
 * now_ns). The caller keeps `n` for the response. */
int wg_initiation_create(uint8_t out[WG_INITIATION_LEN], struct wg_noise *n,
                         const struct wg_identity *self, const uint8_t peer_pub[WG_KEY_LEN],
                         uint32_t sender_index, const uint8_t e_seed[WG_KEY_LEN],
                         const uint8_t timestamp[WG_TIMESTAMP_LEN], struct wg_peer_macs *macs,
                         uint64_t now_ns);
/* Opens an initiation addressed to us (mac1 already checked): the
 * initiator's static key in n->rs, its index, its timestamp. */
int wg_initiation_consume(const uint8_t msg[WG_INITIATION_LEN], struct wg_noise *n,
                          const struct wg_identity *self, uint32_t *sender_index,
                          uint8_t timestamp[WG_TIMESTAMP_LEN]);
/* Handshake response to an initiation consumed into `n`; then split. */
int wg_response_create(uint8_t out[WG_RESPONSE_LEN], struct wg_noise *n, uint32_t sender_index,
                       uint32_t receiver_index, const uint8_t e_seed[WG_KEY_LEN],
                       const uint8_t psk[WG_KEY_LEN], struct wg_peer_macs *macs, uint64_t now_ns);
/* Opens a response to our initiation `n` (mac1 already checked). */
int wg_response_consume(const uint8_t msg[WG_RESPONSE_LEN], struct wg_noise *n,
                        const uint8_t psk[WG_KEY_LEN], uint32_t *sender_index);

/* mac1 of a handshake message (initiation or response, by its length) is
 * right for us. */
bool wg_mac1_ok(const struct wg_identity *self, const uint8_t *msg, size_t len);
/* The cookie for a sender's underlay address (its bytes and port, as the
 * caller serialises them) under the current secret. */
int wg_cookie_for(uint8_t cookie[WG_MAC_LEN], const uint8_t secret[WG_HASH_LEN], const void *src,
                  size_t src_len);
/* mac2 of a handshake message matches `cookie`. */
bool wg_mac2_ok(const uint8_t cookie[WG_MAC_LEN], const uint8_t *msg, size_t len);
/* A cookie reply to handshake message `msg` (from the sender whose cookie
 * is `cookie`), sealed under our cookie key with a caller's random nonce. */
int wg_cookie_reply_create(uint8_t out[WG_COOKIE_REPLY_LEN], const struct wg_identity *self,
                           uint32_t receiver_index, const uint8_t nonce[WG_XNONCE_LEN],
                           const uint8_t cookie[WG_MAC_LEN], const uint8_t *msg, size_t len);
/* Takes a cookie reply from the peer of `macs` into macs->cookie. */
int wg_cookie_reply_consume(const uint8_t msg[WG_COOKIE_REPLY_LEN], struct wg_peer_macs *macs,
                            uint64_t now_ns);

/* Transport data: header (type 4, receiver index, counter) then the
 * sealed packet. The caller pads the packet to a multiple of 16. */
int wg_data_seal(uint8_t *out, const uint8_t key[WG_KEY_LEN], uint32_t receiver_index,
                 uint64_t counter, const void *packet, size_t len);
/* The header's receiver index and counter (len >= WG_DATA_MIN_LEN). */
void wg_data_header(const uint8_t *msg, uint32_t *receiver_index, uint64_t *counter);
/* Opens transport data into out (len - WG_DATA_MIN_LEN bytes). */
int wg_data_open(uint8_t *out, const uint8_t key[WG_KEY_LEN], const uint8_t *msg, size_t len);

/* The message type of a datagram, or 0 when its length cannot be that
 * type's (the first check a receiver makes). */
enum wg_msg_type wg_msg_classify(const uint8_t *msg, size_t len);

#endif
