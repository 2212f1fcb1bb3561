/* The tailnet CA (SPEC L7-5): deterministic issuance, chain and hostname
 * verification, and a TLS 1.3 handshake with an issued certificate. */
#include "lib/wire/ca.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define NAME "web.tail1234.ts.net"
/* 2030-01-01, inside the fixed validity window. */
#define VERIFY_TIME ((time_t)1893456000)

static void seed_fill(uint8_t seed[CA_SEED_LEN], uint8_t base)
{
	for (int i = 0; i < CA_SEED_LEN; i++)
		seed[i] = (uint8_t)(base + i);
}

static struct ca *ca_make(uint8_t base)
{
	uint8_t seed[CA_SEED_LEN];
	struct ca *ca = NULL;
	char err[CA_ERR_LEN] = "";

	seed_fill(seed, base);
	cr_assert_eq(ca_new(&ca, seed, "tail1234.ts.net", err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(ca);
	return ca;
}

/* A leaf for NAME issued by `ca` on the key from seed `key_base`. */
static char *leaf_make(struct ca *ca, uint8_t key_base, char **key_pem)
{
	uint8_t seed[CA_SEED_LEN];
	char *hex = NULL, *pem;
	char err[CA_ERR_LEN] = "";

	seed_fill(seed, key_base);
	cr_assert_eq(ca_keypair_from_seed(seed, key_pem, &hex), 0);
	cr_assert_eq(strlen(hex), CA_PUBKEY_HEX);
	pem = ca_issue(ca, hex, NAME, 42, err, sizeof(err));
	cr_assert_not_null(pem, "%s", err);
	free(hex);
	return pem;
}

static X509 *pem_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	cr_assert_not_null(x);
	BIO_free(bio);
	return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	cr_assert_not_null(k);
	BIO_free(bio);
	return k;
}

/* X509_verify_cert of leaf against a store holding only ca_pem, at a fixed
 * time; returns the verification error (X509_V_OK on success). */
static int verify_leaf(const char *leaf_pem, const char *ca_pem)
{
	X509 *leaf = pem_cert(leaf_pem), *root = pem_cert(ca_pem);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc;

	cr_assert_eq(X509_STORE_add_cert(store, root), 1);
	cr_assert_eq(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), VERIFY_TIME);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
	rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	X509_free(root);
	return rc;
}

Test(ca, same_seed_gives_identical_ca_and_leaf)
{
	struct ca *a = ca_make(1), *b = ca_make(1);
	char *ka = NULL, *kb = NULL;
	char *la = leaf_make(a, 50, &ka), *lb = leaf_make(b, 50, &kb);

	cr_assert_str_eq(ca_cert_pem(a), ca_cert_pem(b));
	cr_assert_str_eq(la, lb);
	cr_assert_str_eq(ka, kb);
	cr_assert_eq(memcmp(ca_seed(a), ca_seed(b), CA_SEED_LEN), 0);
	cr_assert(strstr(ka, "-----BEGIN PRIVATE KEY-----"));
	free(la);
	free(lb);
	free(ka);
	free(kb);
	ca_free(a);
	ca_free(b);
}

Test(ca, different_seed_gives_different_ca)
{
	struct ca *a = ca_make(1), *b = ca_make(2);
	char *ka = NULL, *kb = NULL;
	char *la = leaf_make(a, 50, &ka), *lb = leaf_make(a, 51, &kb);

	cr_assert_str_neq(ca_cert_pem(a), ca_cert_pem(b));
	cr_assert_str_neq(la, lb);
	cr_assert_str_neq(ka, kb);
	free(la);
	free(lb);
	free(ka);
	free(kb);
	ca_free(a);
	ca_free(b);
}

Test(ca, l7_5_leaf_verifies_against_its_ca_only)
{
	struct ca *a = ca_make(1), *other = ca_make(9);
	char *key = NULL, *leaf = leaf_make(a, 50, &key);

	cr_assert_eq(verify_leaf(leaf, ca_cert_pem(a)), X509_V_OK);
	cr_assert_neq(verify_leaf(leaf, ca_cert_pem(other)), X509_V_OK);
	/* the issued PEM carries the CA after the leaf */
	cr_assert(strstr(leaf, ca_cert_pem(a)));
	free(leaf);
	free(key);
	ca_free(a);
	ca_free(other);
}

Test(ca, leaf_has_name_usage_and_validity)
{
	struct ca *a = ca_make(1);
	char *key = NULL, *pem = leaf_make(a, 50, &key);
	X509 *leaf = pem_cert(pem), *root = pem_cert(ca_cert_pem(a));
	BASIC_CONSTRAINTS *bc;

	cr_assert_eq(X509_check_host(leaf, NAME, 0, 0, NULL), 1);
	cr_assert_neq(X509_check_host(leaf, "db.tail1234.ts.net", 0, 0, NULL), 1);
	cr_assert_eq(X509_check_ca(leaf), 0);
	cr_assert_neq(X509_check_ca(root), 0);
	cr_assert(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	cr_assert(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE);
	cr_assert(X509_get_key_usage(root) & KU_KEY_CERT_SIGN);
	cr_assert_eq(ASN1_INTEGER_get(X509_get0_serialNumber(leaf)), 42);
	cr_assert_not_null(X509_get0_authority_key_id(leaf));
	cr_assert_eq(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf), X509_get0_subject_key_id(root)),
	    0);
	bc = X509_get_ext_d2i(root, NID_basic_constraints, NULL, NULL);
	cr_assert(bc && bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	cr_assert_eq(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf), (time_t)1735689600), 0);
	cr_assert_eq(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf), (time_t)2051222400), 0);
	cr_assert_eq(EVP_PKEY_get_id(X509_get0_pubkey(leaf)), EVP_PKEY_ED25519);
	X509_free(leaf);
	X509_free(root);
	free(pem);
	free(key);
	ca_free(a);
}

Test(ca, bad_inputs_give_null_with_message)
{
	struct ca *a = ca_make(1), *c = NULL;
	char err[CA_ERR_LEN] = "";
	char hex[CA_PUBKEY_HEX + 2];
	uint8_t seed[CA_SEED_LEN] = {0};
	char *key = NULL, *good = NULL;

	cr_assert_eq(ca_keypair_from_seed(seed, &key, &good), 0);
	cr_assert_null(ca_issue(a, "abc", NAME, 1, err, sizeof(err)));
	cr_assert(strstr(err, "public key must be 64 hex characters"), "%s", err);
	memset(hex, 'g', CA_PUBKEY_HEX);
	hex[CA_PUBKEY_HEX] = '\0';
	err[0] = '\0';
	cr_assert_null(ca_issue(a, hex, NAME, 1, err, sizeof(err)));
	cr_assert(strstr(err, "hex"), "%s", err);
	memcpy(hex, good, CA_PUBKEY_HEX);
	hex[CA_PUBKEY_HEX] = '0';
	hex[CA_PUBKEY_HEX + 1] = '\0';
	cr_assert_null(ca_issue(a, hex, NAME, 1, err, sizeof(err)));
	cr_assert_null(ca_issue(a, good, "bad name", 1, err, sizeof(err)));
	cr_assert(strstr(err, "is not a DNS name"), "%s", err);
	cr_assert_null(ca_issue(a, good, "-x.ts.net", 1, err, sizeof(err)));
	cr_assert_null(ca_issue(a, good, "a..b", 1, err, sizeof(err)));
	cr_assert_null(ca_issue(a, good, NAME, 0, err, sizeof(err)));
	cr_assert(strstr(err, "serial"), "%s", err);
	cr_assert_eq(ca_new(&c, seed, "", err, sizeof(err)), -EINVAL);
	cr_assert_null(c);
	cr_assert(strstr(err, "tailnet name"), "%s", err);
	free(key);
	free(good);
	ca_free(a);
}

Test(ca, limit_dns_name_length)
{
	struct ca *a = ca_make(1);
	char err[CA_ERR_LEN] = "";
	uint8_t seed[CA_SEED_LEN] = {3};
	char *key = NULL, *hex = NULL, *pem;
	char name[300];
	X509 *leaf;

	cr_assert_eq(ca_keypair_from_seed(seed, &key, &hex), 0);
	/* 4 labels of 63 + 3 dots = 255 > 253; 3 x 63 + 61 + 3 dots = 253 ok */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	pem = ca_issue(a, hex, name, 7, err, sizeof(err));
	cr_assert_not_null(pem, "%s", err);
	leaf = pem_cert(pem);
	cr_assert_eq(X509_check_host(leaf, name, 0, 0, NULL), 1);
	X509_free(leaf);
	free(pem);
	name[253] = 'a';
	name[254] = '\0';
	cr_assert_null(ca_issue(a, hex, name, 7, err, sizeof(err)));
	name[0] = 'a';
	memset(name, 'b', 64);
	name[64] = '\0';
	cr_assert_null(ca_issue(a, hex, name, 7, err, sizeof(err)), "64-char label");
	free(key);
	free(hex);
	ca_free(a);
}

/* Runs both sides of an in-memory handshake until done or stuck. */
static bool handshake(SSL *client, SSL *server)
{
	int done_c = 0, done_s = 0;

	for (int i = 0; i < 100 && !(done_c == 1 && done_s == 1); i++) {
		if (done_c != 1) {
			done_c = SSL_do_handshake(client);
			if (done_c <= 0 && SSL_get_error(client, done_c) != SSL_ERROR_WANT_READ)
				return false;
		}
		if (done_s != 1) {
			done_s = SSL_do_handshake(server);
			if (done_s <= 0 && SSL_get_error(server, done_s) != SSL_ERROR_WANT_READ)
				return false;
		}
	}
	return done_c == 1 && done_s == 1;
}

/* A server using the issued chain and a client trusting ca_pem that checks
 * `host`; returns whether the handshake and one message exchange succeed. */
static bool tls_pair_works(const char *chain_pem, const char *key_pem, const char *ca_pem,
                           const char *host)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	X509 *leaf = pem_cert(chain_pem), *root = pem_cert(ca_pem);
	EVP_PKEY *key = pem_key(key_pem);
	SSL *s, *c;
	BIO *bs, *bc;
	char buf[16] = "";
	bool ok;

	cr_assert(sctx && cctx);
	cr_assert_eq(SSL_CTX_use_certificate(sctx, leaf), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(sctx, key), 1);
	cr_assert_eq(SSL_CTX_check_private_key(sctx), 1);
	cr_assert_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), root), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	cr_assert_eq(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	cr_assert_eq(SSL_set1_host(c, host), 1);
	SSL_set_tlsext_host_name(c, host);
	X509_VERIFY_PARAM_set_time(SSL_get0_param(c), VERIFY_TIME);
	ok = handshake(c, s);
	if (ok) {
		cr_assert_eq(SSL_get_verify_result(c), X509_V_OK);
		cr_assert_eq(SSL_write(c, "hello", 5), 5);
		cr_assert_eq(SSL_read(s, buf, sizeof(buf)), 5);
		cr_assert_eq(memcmp(buf, "hello", 5), 0);
	}
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(leaf);
	X509_free(root);
	EVP_PKEY_free(key);
	return ok;
}

Test(ca, l7_5_tls_handshake_with_issued_certificate)
{
	struct ca *a = ca_make(1), *other = ca_make(9);
	char *key = NULL, *chain = leaf_make(a, 50, &key);

	cr_assert(tls_pair_works(chain, key, ca_cert_pem(a), NAME));
	cr_assert_not(tls_pair_works(chain, key, ca_cert_pem(a), "db.tail1234.ts.net"),
	              "wrong host name must fail");
	cr_assert_not(tls_pair_works(chain, key, ca_cert_pem(other), NAME),
	              "untrusted CA must fail");
	free(chain);
	free(key);
	ca_free(a);
	ca_free(other);
}
