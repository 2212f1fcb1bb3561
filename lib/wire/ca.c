/* The tailnet CA (see ca.h): Ed25519 keys from seeds, certificates built
 * field by field so the same inputs always give the same DER. */
#include "lib/wire/ca.h"

#include "lib/base/errfmt.h"
#include "lib/base/hex.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CA_NOT_BEFORE   "20250101000000Z"
#define CA_NOT_AFTER    "20350101000000Z"
#define CA_MAX_TAILNET  60  /* the CA's CN is "<tailnet> CA", at most 64 */
#define CA_MAX_DNS_NAME 253 /* RFC 1035 */
#define CA_MAX_CN       64  /* X.520 upper bound of commonName */

struct ca {
	uint8_t seed[CA_SEED_LEN];
	char tailnet[CA_MAX_TAILNET + 1];
	EVP_PKEY *key;
	X509 *cert;
	char *cert_pem;
};

/* Appends OpenSSL's first queued error to a message, then clears the queue
 * so a later caller does not see stale errors. */
static int ca_ssl_err(char *err, size_t err_len, int rc, const char *what)
{
	char buf[160];
	unsigned long e = ERR_peek_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "no detail");
	ERR_clear_error();
	return err_setf(err, err_len, rc, "%s: %s", what, buf);
}

/* A malloc'd NUL-terminated copy of a memory BIO's contents, or NULL. */
static char *ca_bio_string(BIO *bio)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

static char *ca_cert_to_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio && PEM_write_bio_X509(bio, x) == 1)
		s = ca_bio_string(bio);
	BIO_free(bio);
	return s;
}

/* Adds one X.509v3 extension given in openssl.cnf syntax; `issuer` supplies
 * the key identifier for authorityKeyIdentifier. */
static bool ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return false;
	ok = X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static bool ca_add_name(X509_NAME *name, const char *field, const char *value)
{
	return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value,
	                                  -1, -1, 0) == 1;
}

/* The parts every certificate shares: version 3, serial, fixed validity,
 * subject key. */
static bool ca_cert_base(X509 *x, uint64_t serial, EVP_PKEY *subject_key)
{
	return X509_set_version(x, X509_VERSION_3) == 1 &&
	       ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) == 1 &&
	       ASN1_TIME_set_string_X509(X509_getm_notBefore(x), CA_NOT_BEFORE) == 1 &&
	       ASN1_TIME_set_string_X509(X509_getm_notAfter(x), CA_NOT_AFTER) == 1 &&
	       X509_set_pubkey(x, subject_key) == 1;
}

/* The tailnet name goes into the subject: short and plain. */
static bool ca_tailnet_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > CA_MAX_TAILNET)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return false;
	return true;
}

/* A DNS name: dot-separated labels of 1-63 letters, digits or '-', not
 * starting or ending with '-', 253 characters at most. */
static bool ca_dns_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, label = 0;

	if (n < 1 || n > CA_MAX_DNS_NAME)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (label == 0 && s[i] == '-')
			return false;
		label++;
	}
	return true;
}

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca->cert_pem);
	OPENSSL_cleanse(ca->seed, sizeof(ca->seed));
	free(ca);
}

int ca_new(struct ca **out, const uint8_t seed[CA_SEED_LEN], const char *tailnet, char *err,
           size_t err_len)
{
	struct ca *ca;
	X509_NAME *name;
	char cn[CA_MAX_CN + 1];
	int rc;

	*out = NULL;
	if (!ca_tailnet_ok(tailnet))
		return err_setf(err, err_len, -EINVAL,
		                "tailnet name must be 1-%d letters, digits, '-', '.' or '_'",
		                CA_MAX_TAILNET);
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	memcpy(ca->seed, seed, CA_SEED_LEN);
	snprintf(ca->tailnet, sizeof(ca->tailnet), "%s", tailnet);
	snprintf(cn, sizeof(cn), "%s CA", tailnet);
	ca->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CA_SEED_LEN);
	if (!ca->key) {
		rc = ca_ssl_err(err, err_len, -EINVAL, "CA key");
		goto fail;
	}
	ca->cert = X509_new();
	if (!ca->cert || !ca_cert_base(ca->cert, 1, ca->key)) {
		rc = ca_ssl_err(err, err_len, -ENOMEM, "CA certificate");
		goto fail;
	}
	name = X509_get_subject_name(ca->cert);
	if (!ca_add_name(name, "O", tailnet) || !ca_add_name(name, "CN", cn) ||
	    X509_set_issuer_name(ca->cert, name) != 1 ||
	    !ca_add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE") ||
	    !ca_add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !ca_add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash")) {
		rc = ca_ssl_err(err, err_len, -ENOMEM, "CA certificate fields");
		goto fail;
	}
	/* Ed25519 signs without a separate digest: md must be NULL. */
	if (X509_sign(ca->cert, ca->key, NULL) <= 0) {
		rc = ca_ssl_err(err, err_len, -EINVAL, "CA certificate signature");
		goto fail;
	}
	ca->cert_pem = ca_cert_to_pem(ca->cert);
	if (!ca->cert_pem) {
		rc = ca_ssl_err(err, err_len, -ENOMEM, "CA certificate PEM");
		goto fail;
	}
	*out = ca;
	return 0;
fail:
	ca_free(ca);
	return rc;
}

const char *ca_cert_pem(const struct ca *ca)
{
	return ca->cert_pem;
}

const uint8_t *ca_seed(const struct ca *ca)
{
	return ca->seed;
}

/* 64 hex chars to 32 bytes; false on anything else. */
static bool ca_parse_pubkey_hex(const char *hex, uint8_t raw[CA_PUBKEY_HEX / 2])
{
	return hex_decode(hex, raw, CA_PUBKEY_HEX / 2);
}

/* Why a certificate cannot be issued for these inputs (0 when it can). */
static int ca_issue_check(const char *pubkey_hex, const char *dns_name, uint64_t serial,
                          uint8_t raw[CA_PUBKEY_HEX / 2], char *err, size_t err_len)
{
	if (!ca_parse_pubkey_hex(pubkey_hex, raw))
		return err_setf(err, err_len, -EINVAL, "public key must be %d hex characters",
		                CA_PUBKEY_HEX);
	if (!ca_dns_name_ok(dns_name))
		return err_setf(
		    err, err_len, -EINVAL,
		    "\"%.*s\" is not a DNS name (labels of 1-63 letters, digits or '-', "
		    "at most %d characters)",
		    CA_MAX_DNS_NAME, dns_name ? dns_name : "", CA_MAX_DNS_NAME);
	if (serial == 0)
		return err_setf(err, err_len, -EINVAL, "serial must be positive");
	return 0;
}

/* The leaf's names and extensions: the tailnet as O, the name as CN (when
 * it fits) and SAN, a server-only key, issued by the CA. */
static bool ca_leaf_fields(const struct ca *ca, X509 *x, const char *dns_name)
{
	X509_NAME *name = X509_get_subject_name(x);
	char san[CA_MAX_DNS_NAME + 8];

	snprintf(san, sizeof(san), "DNS:%s", dns_name);
	return ca_add_name(name, "O", ca->tailnet) &&
	       (strlen(dns_name) > CA_MAX_CN || ca_add_name(name, "CN", dns_name)) &&
	       X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) == 1 &&
	       ca_add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
	       ca_add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") &&
	       ca_add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") &&
	       ca_add_ext(x, ca->cert, NID_subject_alt_name, san) &&
	       ca_add_ext(x, ca->cert, NID_subject_key_identifier, "hash") &&
	       ca_add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always");
}

/* The signed leaf's PEM followed by the CA's: the chain a server sends. */
static char *ca_chain_pem(const struct ca *ca, X509 *x, char *err, size_t err_len)
{
	char *leaf = ca_cert_to_pem(x), *pem;
	size_t n_leaf, n_ca;

	if (!leaf) {
		ca_ssl_err(err, err_len, -ENOMEM, "certificate PEM");
		return NULL;
	}
	n_leaf = strlen(leaf);
	n_ca = strlen(ca->cert_pem);
	pem = malloc(n_leaf + n_ca + 1);
	if (!pem) {
		err_setf(err, err_len, -ENOMEM, "out of memory");
	} else {
		memcpy(pem, leaf, n_leaf);
		memcpy(pem + n_leaf, ca->cert_pem, n_ca + 1);
	}
	free(leaf);
	return pem;
}

char *ca_issue(struct ca *ca, const char *pubkey_hex, const char *dns_name, uint64_t serial,
               char *err, size_t err_len)
{
	uint8_t raw[CA_PUBKEY_HEX / 2];
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	char *pem = NULL;

	if (ca_issue_check(pubkey_hex, dns_name, serial, raw, err, err_len) < 0)
		return NULL;
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
	if (!pub) {
		ca_ssl_err(err, err_len, -EINVAL, "public key");
		goto out;
	}
	x = X509_new();
	if (!x || !ca_cert_base(x, serial, pub)) {
		ca_ssl_err(err, err_len, -ENOMEM, "certificate");
		goto out;
	}
	if (!ca_leaf_fields(ca, x, dns_name)) {
		ca_ssl_err(err, err_len, -ENOMEM, "certificate fields");
		goto out;
	}
	if (X509_sign(x, ca->key, NULL) <= 0) {
		ca_ssl_err(err, err_len, -EINVAL, "certificate signature");
		goto out;
	}
	pem = ca_chain_pem(ca, x, err, err_len);
out:
	X509_free(x);
	EVP_PKEY_free(pub);
	return pem;
}

int ca_keypair_from_seed(const uint8_t seed[CA_SEED_LEN], char **key_pem, char **pubkey_hex)
{
	static const char hexdig[] = "0123456789abcdef";
	EVP_PKEY *key;
	BIO *bio = NULL;
	uint8_t raw[CA_PUBKEY_HEX / 2];
	size_t raw_len = sizeof(raw);
	char *pem = NULL, *hex = NULL;
	int rc = -ENOMEM;

	*key_pem = NULL;
	*pubkey_hex = NULL;
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CA_SEED_LEN);
	if (!key) {
		rc = -EINVAL;
		goto out;
	}
	if (EVP_PKEY_get_raw_public_key(key, raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
		rc = -EINVAL;
		goto out;
	}
	/* Secure memory: the private key's PEM is wiped when the BIO goes. */
	bio = BIO_new(BIO_s_secmem());
	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	pem = ca_bio_string(bio);
	hex = malloc(CA_PUBKEY_HEX + 1);
	if (!pem || !hex)
		goto out;
	for (size_t i = 0; i < raw_len; i++) {
		hex[2 * i] = hexdig[raw[i] >> 4];
		hex[2 * i + 1] = hexdig[raw[i] & 15];
	}
	hex[CA_PUBKEY_HEX] = '\0';
	*key_pem = pem;
	*pubkey_hex = hex;
	pem = NULL;
	hex = NULL;
	rc = 0;
out:
	if (rc)
		ERR_clear_error();
	if (pem)
		OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	free(hex);
	BIO_free(bio);
	EVP_PKEY_free(key);
	return rc;
}
