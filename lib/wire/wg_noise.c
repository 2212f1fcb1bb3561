/* The Noise IKpsk2 handshake (lib/wire/wg.h): the symmetric state's
 * MixHash, MixKey, MixKeyAndHash, EncryptAndHash and Split, and the two
 * messages. Every key a step leaves behind is wiped before it returns. */
#include "lib/wire/wg.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#define WG_ZERO_NONCE 0

static int wg_mix_hash(struct wg_noise *n, const void *in, size_t len)
{
	return wg_hash(n->h, n->h, WG_HASH_LEN, in, len);
}

/* MixKey(dh(priv, pub)): the new chaining key, and the cipher key in k. */
static int wg_mix_dh(struct wg_noise *n, uint8_t k[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN],
                     const uint8_t pub[WG_KEY_LEN])
{
	uint8_t shared[WG_KEY_LEN];
	int rc = wg_dh(shared, priv, pub);

	if (!rc)
		rc = wg_kdf(n->ck, shared, sizeof(shared), n->ck, k, NULL);
	OPENSSL_cleanse(shared, sizeof(shared));
	return rc;
}

/* EncryptAndHash: out gets len + 16 bytes; h absorbs the ciphertext. */
static int wg_encrypt_hash(struct wg_noise *n, const uint8_t k[WG_KEY_LEN], const void *in,
                           size_t len, uint8_t *out)
{
	int rc = wg_aead_seal(out, k, WG_ZERO_NONCE, in, len, n->h, WG_HASH_LEN);

	return rc ? rc : wg_mix_hash(n, out, len + WG_TAG_LEN);
}

static int wg_decrypt_hash(struct wg_noise *n, const uint8_t k[WG_KEY_LEN], const uint8_t *in,
                           size_t len, uint8_t *out)
{
	int rc = wg_aead_open(out, k, WG_ZERO_NONCE, in, len, n->h, WG_HASH_LEN);

	return rc ? rc : wg_mix_hash(n, in, len);
}

/* The "e" token with a psk in the pattern: h and ck both take e's key. */
static int wg_mix_ephemeral(struct wg_noise *n, const uint8_t e_pub[WG_KEY_LEN])
{
	int rc = wg_mix_hash(n, e_pub, WG_KEY_LEN);

	return rc ? rc : wg_kdf(n->ck, e_pub, WG_KEY_LEN, n->ck, NULL, NULL);
}

int wg_noise_start(struct wg_noise *n, bool initiator, const struct wg_keypair *s,
                   const uint8_t responder_pub[WG_KEY_LEN], const void *prologue,
                   size_t prologue_len)
{
	int rc;

	memset(n, 0, sizeof(*n));
	n->initiator = initiator;
	n->s = *s;
	/* The construction is longer than a hash: h = HASH(name), ck = h. */
	rc = wg_hash(n->ck, WG_CONSTRUCTION, strlen(WG_CONSTRUCTION), NULL, 0);
	memcpy(n->h, n->ck, WG_HASH_LEN);
	if (!rc)
		rc = wg_mix_hash(n, prologue, prologue_len);
	if (!rc)
		rc = wg_mix_hash(n, responder_pub, WG_KEY_LEN);
	if (initiator)
		memcpy(n->rs, responder_pub, WG_KEY_LEN);
	return rc;
}

int wg_noise_write_init(struct wg_noise *n, const uint8_t e_seed[WG_KEY_LEN], const void *payload,
                        size_t len, uint8_t *out)
{
	uint8_t k[WG_KEY_LEN];
	int rc = n->initiator ? wg_keypair_from_seed(&n->e, e_seed) : -EINVAL;

	if (!rc) {
		memcpy(out, n->e.pub, WG_KEY_LEN);
		rc = wg_mix_ephemeral(n, n->e.pub);
	}
	if (!rc)
		rc = wg_mix_dh(n, k, n->e.priv, n->rs); /* es */
	if (!rc)
		rc = wg_encrypt_hash(n, k, n->s.pub, WG_KEY_LEN, out + 32); /* s */
	if (!rc)
		rc = wg_mix_dh(n, k, n->s.priv, n->rs); /* ss */
	if (!rc)
		rc = wg_encrypt_hash(n, k, payload, len, out + 80);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int wg_noise_read_init(struct wg_noise *n, const uint8_t *msg, size_t msg_len, uint8_t *payload)
{
	uint8_t k[WG_KEY_LEN];
	int rc;

	if (n->initiator || msg_len < WG_NOISE_INIT_LEN(0))
		return -EINVAL;
	memcpy(n->re, msg, WG_KEY_LEN);
	rc = wg_mix_ephemeral(n, n->re);
	if (!rc)
		rc = wg_mix_dh(n, k, n->s.priv, n->re); /* es */
	if (!rc)
		rc = wg_decrypt_hash(n, k, msg + 32, WG_KEY_LEN + WG_TAG_LEN, n->rs); /* s */
	if (!rc)
		rc = wg_mix_dh(n, k, n->s.priv, n->rs); /* ss */
	if (!rc)
		rc = wg_decrypt_hash(n, k, msg + 80, msg_len - 80, payload);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

/* The psk token: ck, a hash input and the key for the payload. */
static int wg_mix_psk(struct wg_noise *n, uint8_t k[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];
	int rc = wg_kdf(n->ck, psk, WG_KEY_LEN, n->ck, tau, k);

	if (!rc)
		rc = wg_mix_hash(n, tau, sizeof(tau));
	OPENSSL_cleanse(tau, sizeof(tau));
	return rc;
}

int wg_noise_write_resp(struct wg_noise *n, const uint8_t e_seed[WG_KEY_LEN],
                        const uint8_t psk[WG_KEY_LEN], const void *payload, size_t len,
                        uint8_t *out)
{
	uint8_t k[WG_KEY_LEN];
	int rc = n->initiator ? -EINVAL : wg_keypair_from_seed(&n->e, e_seed);

	if (!rc) {
		memcpy(out, n->e.pub, WG_KEY_LEN);
		rc = wg_mix_ephemeral(n, n->e.pub);
	}
	if (!rc)
		rc = wg_mix_dh(n, k, n->e.priv, n->re); /* ee */
	if (!rc)
		rc = wg_mix_dh(n, k, n->e.priv, n->rs); /* se */
	if (!rc)
		rc = wg_mix_psk(n, k, psk);
	if (!rc)
		rc = wg_encrypt_hash(n, k, payload, len, out + 32);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int wg_noise_read_resp(struct wg_noise *n, const uint8_t psk[WG_KEY_LEN], const uint8_t *msg,
                       size_t msg_len, uint8_t *payload)
{
	uint8_t k[WG_KEY_LEN];
	int rc;

	if (!n->initiator || msg_len < WG_NOISE_RESP_LEN(0))
		return -EINVAL;
	memcpy(n->re, msg, WG_KEY_LEN);
	rc = wg_mix_ephemeral(n, n->re);
	if (!rc)
		rc = wg_mix_dh(n, k, n->e.priv, n->re); /* ee */
	if (!rc)
		rc = wg_mix_dh(n, k, n->s.priv, n->re); /* se */
	if (!rc)
		rc = wg_mix_psk(n, k, psk);
	if (!rc)
		rc = wg_decrypt_hash(n, k, msg + 32, msg_len - 32, payload);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int wg_noise_split(struct wg_noise *n, uint8_t send[WG_KEY_LEN], uint8_t recv[WG_KEY_LEN])
{
	uint8_t k1[WG_KEY_LEN], k2[WG_KEY_LEN];
	int rc = wg_kdf(n->ck, "", 0, k1, k2, NULL);

	/* The initiator sends with the first key, the responder with the second. */
	if (!rc) {
		memcpy(send, n->initiator ? k1 : k2, WG_KEY_LEN);
		memcpy(recv, n->initiator ? k2 : k1, WG_KEY_LEN);
	}
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(&n->ck, sizeof(n->ck));
	OPENSSL_cleanse(&n->e, sizeof(n->e));
	return rc;
}
