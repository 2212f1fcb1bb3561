/* WireGuard's primitives (lib/wire/wg.h) over OpenSSL, and libsodium for
 * XChaCha20-Poly1305. Each call builds and frees its own OpenSSL objects:
 * no state outlives a call. */
#include "lib/wire/wg.h"

#include <errno.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <sodium.h>
#include <string.h>

int wg_keypair_from_seed(struct wg_keypair *kp, const uint8_t seed[WG_KEY_LEN])
{
	EVP_PKEY *k;
	size_t len = WG_KEY_LEN;
	int rc = -ENOMEM;

	memcpy(kp->priv, seed, WG_KEY_LEN);
	kp->priv[0] &= 248;
	kp->priv[31] = (uint8_t)((kp->priv[31] & 127) | 64);
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, kp->priv, WG_KEY_LEN);
	if (k && EVP_PKEY_get_raw_public_key(k, kp->pub, &len) == 1 && len == WG_KEY_LEN)
		rc = 0;
	EVP_PKEY_free(k);
	return rc;
}

static bool wg_all_zero(const uint8_t *b, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

int wg_dh(uint8_t out[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN])
{
	EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, WG_KEY_LEN);
	EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, WG_KEY_LEN);
	EVP_PKEY_CTX *ctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	size_t len = WG_KEY_LEN;
	int rc = -ENOMEM;

	if (ctx && theirs && EVP_PKEY_derive_init(ctx) == 1) {
		/* OpenSSL refuses a zero result itself; either way it is -EPROTO. */
		if (EVP_PKEY_derive_set_peer(ctx, theirs) == 1 &&
		    EVP_PKEY_derive(ctx, out, &len) == 1 && len == WG_KEY_LEN &&
		    !wg_all_zero(out, WG_KEY_LEN))
			rc = 0;
		else
			rc = -EPROTO;
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(theirs);
	EVP_PKEY_free(mine);
	if (rc < 0)
		OPENSSL_cleanse(out, WG_KEY_LEN);
	return rc;
}

int wg_hash(uint8_t out[WG_HASH_LEN], const void *a, size_t a_len, const void *b, size_t b_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_blake2s256(), NULL) == 1 &&
	         EVP_DigestUpdate(ctx, a, a_len) == 1 &&
	         (!b || EVP_DigestUpdate(ctx, b, b_len) == 1) &&
	         EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == WG_HASH_LEN;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -ENOMEM;
}

int wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t key_len, const void *in, size_t len)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t size = WG_MAC_LEN, got = 0;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, key_len),
	    OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
	    OSSL_PARAM_construct_end(),
	};
	int ok = ctx && EVP_MAC_init(ctx, NULL, 0, params) == 1 &&
	         EVP_MAC_update(ctx, in, len) == 1 &&
	         EVP_MAC_final(ctx, out, &got, WG_MAC_LEN) == 1 && got == WG_MAC_LEN;

	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -ENOMEM;
}

static int wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t key[WG_HASH_LEN], const void *in,
                   size_t len)
{
	unsigned int got = 0;

	if (!HMAC(EVP_blake2s256(), key, WG_HASH_LEN, in, len, out, &got) || got != WG_HASH_LEN)
		return -ENOMEM;
	return 0;
}

int wg_kdf(const uint8_t ck[WG_HASH_LEN], const void *in, size_t len, uint8_t out1[WG_HASH_LEN],
           uint8_t out2[WG_HASH_LEN], uint8_t out3[WG_HASH_LEN])
{
	uint8_t prk[WG_HASH_LEN], t[WG_HASH_LEN + 1];
	int rc = wg_hmac(prk, ck, in, len);

	/* T1 = HMAC(prk, 0x1), Ti = HMAC(prk, Ti-1 || i). */
	t[0] = 1;
	if (!rc)
		rc = wg_hmac(out1, prk, t, 1);
	if (!rc && out2) {
		memcpy(t, out1, WG_HASH_LEN);
		t[WG_HASH_LEN] = 2;
		rc = wg_hmac(out2, prk, t, sizeof(t));
	}
	if (!rc && out2 && out3) {
		memcpy(t, out2, WG_HASH_LEN);
		t[WG_HASH_LEN] = 3;
		rc = wg_hmac(out3, prk, t, sizeof(t));
	}
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

/* One ChaCha20-Poly1305 operation; `len` is the input length either way. */
static int wg_aead(bool seal, uint8_t *out, const uint8_t key[WG_KEY_LEN], uint64_t counter,
                   const uint8_t *in, size_t len, const void *ad, size_t ad_len)
{
	uint8_t nonce[12] = {0};
	size_t text = seal ? len : len - WG_TAG_LEN;
	EVP_CIPHER_CTX *ctx;
	int n = 0, rc = -ENOMEM;

	if ((!seal && len < WG_TAG_LEN) || text > INT_MAX || ad_len > INT_MAX)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce, seal) != 1)
		goto out;
	if (!seal &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, WG_TAG_LEN, (void *)(in + text)) != 1)
		goto out;
	if (ad_len && EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len) != 1)
		goto out;
	if (text && EVP_CipherUpdate(ctx, out, &n, in, (int)text) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + text, &n) != 1) {
		rc = seal ? -ENOMEM : -EBADMSG;
		goto out;
	}
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, WG_TAG_LEN, out + text) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc < 0 && !seal)
		OPENSSL_cleanse(out, text);
	return rc;
}

int wg_aead_seal(uint8_t *out, const uint8_t key[WG_KEY_LEN], uint64_t counter, const void *in,
                 size_t len, const void *ad, size_t ad_len)
{
	return wg_aead(true, out, key, counter, in, len, ad, ad_len);
}

int wg_aead_open(uint8_t *out, const uint8_t key[WG_KEY_LEN], uint64_t counter, const void *in,
                 size_t len, const void *ad, size_t ad_len)
{
	return wg_aead(false, out, key, counter, in, len, ad, ad_len);
}

int wg_xaead_seal(uint8_t *out, const uint8_t key[WG_KEY_LEN], const uint8_t nonce[WG_XNONCE_LEN],
                  const void *in, size_t len, const void *ad, size_t ad_len)
{
	unsigned long long got = 0;

	if (sodium_init() < 0)
		return -ENOMEM;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, &got, in, len, ad, ad_len, NULL, nonce,
	                                           key);
	return 0;
}

int wg_xaead_open(uint8_t *out, const uint8_t key[WG_KEY_LEN], const uint8_t nonce[WG_XNONCE_LEN],
                  const void *in, size_t len, const void *ad, size_t ad_len)
{
	unsigned long long got = 0;

	if (sodium_init() < 0)
		return -ENOMEM;
	if (len < WG_TAG_LEN)
		return -EINVAL;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &got, NULL, in, len, ad, ad_len, nonce,
	                                               key) != 0)
		return -EBADMSG;
	return 0;
}

void wg_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t unix_ns)
{
	/* The TAI64 label as WireGuard writes it: 2^62 plus TAI's ten seconds. */
	uint64_t s = (1ull << 62) + 10 + unix_ns / 1000000000ull;
	uint32_t ns = (uint32_t)(unix_ns % 1000000000ull);

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(s >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (24 - 8 * i));
}

void wg_key_to_base64(char out[WG_KEY_BASE64_LEN + 1], const uint8_t key[WG_KEY_LEN])
{
	EVP_EncodeBlock((unsigned char *)out, key, WG_KEY_LEN);
	out[WG_KEY_BASE64_LEN] = '\0';
}

bool wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *text)
{
	uint8_t raw[WG_KEY_LEN + 1];

	/* 44 characters decode to 33 bytes, the last a padding zero. */
	if (!text || strlen(text) != WG_KEY_BASE64_LEN || text[43] != '=' || text[42] == '=')
		return false;
	if (EVP_DecodeBlock(raw, (const unsigned char *)text, WG_KEY_BASE64_LEN) != WG_KEY_LEN + 1)
		return false;
	memcpy(key, raw, WG_KEY_LEN);
	OPENSSL_cleanse(raw, sizeof(raw));
	return true;
}
