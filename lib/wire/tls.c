/* TLS over the seam (see tls.h): a random provider keyed from the seam's
 * PRNG (so handshakes replay in the simulator; real mode mixes in OS
 * entropy), contexts with their identity and trust, and connections driven
 * through memory BIOs. */
#include "lib/wire/tls.h"

#include "lib/base/check.h"
#include "lib/base/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Largest plaintext handed to one SSL_write: one record. */
#define TLS_WRITE_CHUNK (16 * 1024)
/* The random provider's name, algorithm and its seed parameter. */
#define TLS_RAND_PROVIDER "tailsim-rand"
#define TLS_RAND_ALG      "TAILSIM-SEAM"
#define TLS_RAND_PARAM    "tailsim-seed"

/* --- a deterministic random provider, one per library context ----------- */

/* Provider state, shared by every generator instance of one libctx: output
 * block i is SHA-256(key || i). A simulation needs repeatability, not
 * secrecy; real mode mixes OS entropy into the key (os_entropy). */
struct tls_rand_prov {
	uint8_t key[32];
	uint64_t counter;
};

struct tls_rand_inst {
	struct tls_rand_prov *prov;
	int state;
};

static void *tls_rand_newctx(void *provctx, void *parent, const OSSL_DISPATCH *parent_calls)
{
	struct tls_rand_inst *r = calloc(1, sizeof(*r));

	(void)parent;
	(void)parent_calls;
	if (!r)
		return NULL;
	r->prov = provctx;
	r->state = EVP_RAND_STATE_UNINITIALISED;
	return r;
}

static void tls_rand_freectx(void *vctx)
{
	free(vctx);
}

static int tls_rand_instantiate(void *vctx, unsigned int strength, int prediction_resistance,
                                const unsigned char *pstr, size_t pstr_len,
                                const OSSL_PARAM params[])
{
	struct tls_rand_inst *r = vctx;

	(void)strength;
	(void)prediction_resistance;
	(void)pstr;
	(void)pstr_len;
	(void)params;
	r->state = EVP_RAND_STATE_READY;
	return 1;
}

static int tls_rand_uninstantiate(void *vctx)
{
	struct tls_rand_inst *r = vctx;

	r->state = EVP_RAND_STATE_UNINITIALISED;
	return 1;
}

static int tls_rand_generate(void *vctx, unsigned char *out, size_t outlen, unsigned int strength,
                             int prediction_resistance, const unsigned char *adin, size_t adinlen)
{
	struct tls_rand_prov *p = ((struct tls_rand_inst *)vctx)->prov;

	(void)strength;
	(void)prediction_resistance;
	(void)adin;
	(void)adinlen;
	while (outlen > 0) {
		uint8_t in[40], block[EVP_MAX_MD_SIZE];
		unsigned int blen = 0;

		memcpy(in, p->key, 32);
		for (int i = 0; i < 8; i++)
			in[32 + i] = (uint8_t)(p->counter >> (8 * i));
		p->counter++;
		/* The default library context: never this provider's own. */
		if (!EVP_Digest(in, sizeof(in), block, &blen, EVP_sha256(), NULL))
			return 0;
		size_t n = outlen < blen ? outlen : blen;
		memcpy(out, block, n);
		out += n;
		outlen -= n;
	}
	return 1;
}

static int tls_rand_reseed(void *vctx, int prediction_resistance, const unsigned char *ent,
                           size_t ent_len, const unsigned char *adin, size_t adin_len)
{
	(void)vctx;
	(void)prediction_resistance;
	(void)ent;
	(void)ent_len;
	(void)adin;
	(void)adin_len;
	return 1;
}

static int tls_rand_enable_locking(void *vctx)
{
	(void)vctx;
	return 1;
}

static int tls_rand_lock(void *vctx)
{
	(void)vctx;
	return 1;
}

static void tls_rand_unlock(void *vctx)
{
	(void)vctx;
}

static const OSSL_PARAM *tls_rand_gettable_ctx_params(void *vctx, void *provctx)
{
	static const OSSL_PARAM known[] = {
	    OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
	    OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
	    OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
	    OSSL_PARAM_END,
	};

	(void)vctx;
	(void)provctx;
	return known;
}

static int tls_rand_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct tls_rand_inst *r = vctx;
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE);
	if (p && !OSSL_PARAM_set_int(p, r->state))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH);
	if (p && !OSSL_PARAM_set_uint(p, 256))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);
	if (p && !OSSL_PARAM_set_size_t(p, 1 << 16))
		return 0;
	return 1;
}

static const OSSL_PARAM *tls_rand_settable_ctx_params(void *vctx, void *provctx)
{
	static const OSSL_PARAM known[] = {
	    OSSL_PARAM_octet_string(TLS_RAND_PARAM, NULL, 0),
	    OSSL_PARAM_END,
	};

	(void)vctx;
	(void)provctx;
	return known;
}

/* Keys the provider (all instances of this libctx) and restarts its counter. */
static int tls_rand_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct tls_rand_prov *prov = ((struct tls_rand_inst *)vctx)->prov;
	const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, TLS_RAND_PARAM);

	if (p) {
		if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data_size != sizeof(prov->key))
			return 0;
		memcpy(prov->key, p->data, sizeof(prov->key));
		prov->counter = 0;
	}
	return 1;
}

static const OSSL_DISPATCH tls_rand_functions[] = {
    {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))tls_rand_newctx},
    {OSSL_FUNC_RAND_FREECTX, (void (*)(void))tls_rand_freectx},
    {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))tls_rand_instantiate},
    {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))tls_rand_uninstantiate},
    {OSSL_FUNC_RAND_GENERATE, (void (*)(void))tls_rand_generate},
    {OSSL_FUNC_RAND_RESEED, (void (*)(void))tls_rand_reseed},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))tls_rand_enable_locking},
    {OSSL_FUNC_RAND_LOCK, (void (*)(void))tls_rand_lock},
    {OSSL_FUNC_RAND_UNLOCK, (void (*)(void))tls_rand_unlock},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, (void (*)(void))tls_rand_gettable_ctx_params},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))tls_rand_get_ctx_params},
    {OSSL_FUNC_RAND_SETTABLE_CTX_PARAMS, (void (*)(void))tls_rand_settable_ctx_params},
    {OSSL_FUNC_RAND_SET_CTX_PARAMS, (void (*)(void))tls_rand_set_ctx_params},
    {0, NULL},
};

static const OSSL_ALGORITHM tls_rand_algs[] = {
    {TLS_RAND_ALG, "provider=" TLS_RAND_PROVIDER, tls_rand_functions, NULL},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *tls_rand_query(void *provctx, int operation_id, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	return operation_id == OSSL_OP_RAND ? tls_rand_algs : NULL;
}

static void tls_rand_teardown(void *provctx)
{
	OPENSSL_cleanse(provctx, sizeof(struct tls_rand_prov));
	free(provctx);
}

static const OSSL_DISPATCH tls_rand_provider_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))tls_rand_teardown},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))tls_rand_query},
    {0, NULL},
};

static int tls_rand_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                                  const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*provctx = calloc(1, sizeof(struct tls_rand_prov));
	if (!*provctx)
		return 0;
	*out = tls_rand_provider_functions;
	return 1;
}

/* --- contexts ------------------------------------------------------------ */

struct tls_ctx {
	OSSL_LIB_CTX *libctx;
	OSSL_PROVIDER *prov_default;
	OSSL_PROVIDER *prov_rand;
	SSL_CTX *ssl;
	bool server;
	bool insecure;
};

static void tls_err(char *err, size_t err_len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (err && err_len)
		snprintf(err, err_len, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* Reads a whole PEM file of at most TLS_MAX_PEM_BYTES into a malloc'd,
 * NUL-terminated buffer. 0, -errno, -E2BIG. */
static int tls_read_file(const char *path, char **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n = 0;

	if (!f)
		return -errno;
	buf = malloc(TLS_MAX_PEM_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	while (n <= TLS_MAX_PEM_BYTES) {
		size_t r = fread(buf + n, 1, TLS_MAX_PEM_BYTES + 1 - n, f);
		if (r == 0)
			break;
		n += r;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad || n > TLS_MAX_PEM_BYTES) {
		free(buf);
		return bad ? -EIO : -E2BIG;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

/* PEM from memory or a file into a memory BIO. */
static int tls_pem_bio(const char *pem, const char *file, BIO **out, char *err, size_t err_len,
                       const char *what)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (pem) {
		len = strlen(pem);
		if (len > TLS_MAX_PEM_BYTES) {
			snprintf(err, err_len, "%s: PEM over %d bytes", what, TLS_MAX_PEM_BYTES);
			return -E2BIG;
		}
		*out = BIO_new_mem_buf(pem, (int)len);
		return *out ? 0 : -ENOMEM;
	}
	if (!file) {
		snprintf(err, err_len, "%s: not given", what);
		return -EINVAL;
	}
	rc = tls_read_file(file, &text, &len);
	if (rc < 0) {
		snprintf(err, err_len, "%s: %s: %s", what, file,
		         rc == -E2BIG ? "file too large" : strerror(-rc));
		return rc == -E2BIG ? -E2BIG : -EINVAL;
	}
	/* A read-write memory BIO owns a copy, so the text can go now. */
	*out = BIO_new(BIO_s_mem());
	if (!*out || BIO_write(*out, text, (int)len) != (int)len) {
		BIO_free(*out);
		free(text);
		return -ENOMEM;
	}
	free(text);
	return 0;
}

static int tls_load_server_identity(struct tls_ctx *ctx, const struct tls_ctx_config *cfg,
                                    char *err, size_t err_len)
{
	BIO *bio = NULL;
	X509 *x;
	EVP_PKEY *key;
	int rc, n = 0;

	rc = tls_pem_bio(cfg->cert_pem, cfg->cert_file, &bio, err, err_len, "certificate");
	if (rc < 0)
		return rc;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = n == 0 ? SSL_CTX_use_certificate(ctx->ssl, x)
		                : SSL_CTX_add0_chain_cert(ctx->ssl, x);
		if (n == 0 || !ok)
			X509_free(x);
		if (!ok) {
			BIO_free(bio);
			tls_err(err, err_len, "certificate refused");
			return -EINVAL;
		}
		n++;
	}
	ERR_clear_error(); /* the end of the PEM stream */
	BIO_free(bio);
	if (n == 0) {
		snprintf(err, err_len, "certificate: no PEM certificate found");
		return -EINVAL;
	}
	rc = tls_pem_bio(cfg->key_pem, cfg->key_file, &bio, err, err_len, "key");
	if (rc < 0)
		return rc;
	key = PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL, ctx->libctx, NULL);
	BIO_free(bio);
	if (!key) {
		tls_err(err, err_len, "key: no PEM private key found");
		return -EINVAL;
	}
	rc = SSL_CTX_use_PrivateKey(ctx->ssl, key);
	EVP_PKEY_free(key);
	if (rc != 1 || SSL_CTX_check_private_key(ctx->ssl) != 1) {
		tls_err(err, err_len, "key does not match the certificate");
		return -EINVAL;
	}
	return 0;
}

static int tls_load_trust(struct tls_ctx *ctx, const struct tls_ctx_config *cfg, char *err,
                          size_t err_len)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
	BIO *bio = NULL;
	X509 *x;
	int rc, n = 0;

	rc = tls_pem_bio(cfg->ca_pem, cfg->ca_file, &bio, err, err_len, "CA");
	if (rc < 0)
		return rc;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(store, x);
		X509_free(x);
		if (!ok) {
			BIO_free(bio);
			tls_err(err, err_len, "CA certificate refused");
			return -EINVAL;
		}
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (n == 0) {
		snprintf(err, err_len, "CA: no PEM certificate found");
		return -EINVAL;
	}
	return 0;
}

/* Gives the context's libctx its own generator keyed from the seam. */
static int tls_setup_rand(struct tls_ctx *ctx, struct io *io, bool os_entropy)
{
	uint8_t key[32];
	EVP_RAND_CTX *primary;
	OSSL_PARAM params[2];

	if (!OSSL_PROVIDER_add_builtin(ctx->libctx, TLS_RAND_PROVIDER, tls_rand_provider_init) ||
	    !RAND_set_DRBG_type(ctx->libctx, TLS_RAND_ALG, "provider=" TLS_RAND_PROVIDER, NULL,
	                        NULL))
		return -ENOMEM;
	ctx->prov_rand = OSSL_PROVIDER_load(ctx->libctx, TLS_RAND_PROVIDER);
	if (!ctx->prov_rand)
		return -ENOMEM;
	for (int i = 0; i < 4; i++) {
		uint64_t r = io->ops->random_u64(io);
		for (int b = 0; b < 8; b++)
			key[i * 8 + b] = (uint8_t)(r >> (8 * b));
	}
	if (os_entropy) {
		uint8_t os[32];
		/* The default (process) context: real OS randomness. */
		if (RAND_bytes(os, sizeof(os)) != 1)
			return -EIO;
		for (size_t i = 0; i < sizeof(key); i++)
			key[i] ^= os[i];
		OPENSSL_cleanse(os, sizeof(os));
	}
	primary = RAND_get0_primary(ctx->libctx);
	if (!primary || !RAND_get0_public(ctx->libctx) || !RAND_get0_private(ctx->libctx))
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_octet_string(TLS_RAND_PARAM, key, sizeof(key));
	params[1] = OSSL_PARAM_construct_end();
	int ok = EVP_RAND_CTX_set_params(primary, params);
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -EINVAL;
}

int tls_ctx_new(struct tls_ctx **out, struct io *io, const struct tls_ctx_config *cfg, char *err,
                size_t err_len)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc = -ENOMEM;

	CHECK(out && io && cfg);
	*out = NULL;
	if (err && err_len)
		err[0] = '\0';
	if (!ctx)
		return -ENOMEM;
	ctx->server = cfg->server;
	ctx->insecure = cfg->insecure;
	ctx->libctx = OSSL_LIB_CTX_new();
	if (!ctx->libctx)
		goto out_free;
	ctx->prov_default = OSSL_PROVIDER_load(ctx->libctx, "default");
	if (!ctx->prov_default) {
		tls_err(err, err_len, "cannot load the default provider");
		goto out_free;
	}
	rc = tls_setup_rand(ctx, io, cfg->os_entropy);
	if (rc < 0) {
		tls_err(err, err_len, "cannot set up the seam random generator");
		goto out_free;
	}
	rc = -ENOMEM;
	ctx->ssl = SSL_CTX_new_ex(ctx->libctx, NULL,
	                          cfg->server ? TLS_server_method() : TLS_client_method());
	if (!ctx->ssl) {
		tls_err(err, err_len, "SSL_CTX_new_ex");
		goto out_free;
	}
	SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
	/* Nothing that depends on wall-clock time or earlier runs may reach
	 * the wire: no tickets, no resumption cache. */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx->ssl, 0);
	SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (cfg->server) {
		rc = tls_load_server_identity(ctx, cfg, err, err_len);
		if (rc < 0)
			goto out_free;
	} else if (!cfg->insecure) {
		if (!cfg->ca_pem && !cfg->ca_file) {
			if (SSL_CTX_set_default_verify_paths(ctx->ssl) != 1) {
				tls_err(err, err_len, "cannot load the system trust store");
				rc = -EINVAL;
				goto out_free;
			}
		} else {
			rc = tls_load_trust(ctx, cfg, err, err_len);
			if (rc < 0)
				goto out_free;
		}
		SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_NONE, NULL);
	}
	*out = ctx;
	return 0;

out_free:
	tls_ctx_free(ctx);
	return rc;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl);
	if (ctx->prov_rand)
		OSSL_PROVIDER_unload(ctx->prov_rand);
	if (ctx->prov_default)
		OSSL_PROVIDER_unload(ctx->prov_default);
	OSSL_LIB_CTX_free(ctx->libctx);
	free(ctx);
}

bool tls_ctx_is_server(const struct tls_ctx *ctx)
{
	return ctx->server;
}

/* --- connections --------------------------------------------------------- */

struct tls_conn {
	struct tls_ctx *ctx;
	struct io *io;
	int handle;
	SSL *ssl;
	BIO *rbio; /* network -> SSL */
	BIO *wbio; /* SSL -> network */
	size_t out_off, out_len;
	bool connected;     /* the handle can carry bytes (client: connect done) */
	bool eof_in;        /* the peer's FIN came */
	bool shutdown_want; /* FIN once the ciphertext is out */
	bool fin_sent;
	int error; /* sticky, negative errno */
	uint64_t hash_sent, hash_recv;
	char why[TLS_ERR_LEN];
	uint8_t out[TLS_MAX_CIPHERTEXT_OUT]; /* ciphertext not yet taken by the seam */
};

static struct tls_conn *tls_conn_new(struct tls_ctx *ctx, struct io *io, int handle)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ctx = ctx;
	c->io = io;
	c->handle = handle;
	c->hash_sent = c->hash_recv = HASH_FNV1A_INIT;
	c->ssl = SSL_new(ctx->ssl);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		SSL_free(c->ssl);
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		free(c);
		return NULL;
	}
	/* An empty read BIO means "wait", not EOF. */
	BIO_set_mem_eof_return(c->rbio, -1);
	BIO_set_mem_eof_return(c->wbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	return c;
}

struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx, struct io *io, int handle)
{
	CHECK(ctx && ctx->server);
	struct tls_conn *c = tls_conn_new(ctx, io, handle);

	if (!c)
		return NULL;
	c->connected = true;
	SSL_set_accept_state(c->ssl);
	return c;
}

static bool tls_is_ip_literal(const char *host)
{
	return strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host);
}

struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, struct io *io, int handle,
                                     const char *host)
{
	CHECK(ctx && !ctx->server);
	if (host && strlen(host) > TLS_MAX_HOST_LEN)
		return NULL;
	struct tls_conn *c = tls_conn_new(ctx, io, handle);

	if (!c)
		return NULL;
	SSL_set_connect_state(c->ssl);
	if (host && host[0]) {
		bool ip = tls_is_ip_literal(host);
		int ok = 1;

		if (!ip)
			ok = SSL_set_tlsext_host_name(c->ssl, host);
		if (ok && !ctx->insecure)
			ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host)
			        : SSL_set1_host(c->ssl, host);
		if (!ok) {
			tls_conn_free(c);
			return NULL;
		}
	}
	return c;
}

/* Moves ciphertext from the SSL write BIO to the seam until the seam pushes
 * back. 0, or the seam's -errno (sticky). */
static int tls_flush(struct tls_conn *c)
{
	if (!c->connected)
		return 0;
	for (;;) {
		if (c->out_off == c->out_len) {
			c->out_off = c->out_len = 0;
			int n = BIO_read(c->wbio, c->out, (int)sizeof(c->out));
			if (n <= 0)
				break;
			c->out_len = (size_t)n;
		}
		ssize_t w = c->io->ops->tcp_write(c->io, c->handle, c->out + c->out_off,
		                                  c->out_len - c->out_off);
		if (w == -EAGAIN || w == -ENOTCONN)
			return 0;
		if (w < 0) {
			c->error = (int)w;
			return (int)w;
		}
		c->hash_sent = hash_fnv1a(c->hash_sent, c->out + c->out_off, (size_t)w);
		c->out_off += (size_t)w;
	}
	if (c->shutdown_want && !c->fin_sent && tls_conn_pending_out(c) == 0) {
		c->fin_sent = true;
		int rc = c->io->ops->tcp_shutdown(c->io, c->handle);
		if (rc < 0 && rc != -ENOTCONN) {
			c->error = rc;
			return rc;
		}
	}
	return 0;
}

/* Reads one chunk of ciphertext from the seam into the SSL read BIO.
 * Bytes read, 0 at EOF, -EAGAIN (also while enough is buffered), -errno. */
static ssize_t tls_pull(struct tls_conn *c)
{
	uint8_t buf[TLS_READ_CHUNK];

	if (c->eof_in)
		return 0;
	if (BIO_ctrl_pending(c->rbio) >= TLS_MAX_CIPHERTEXT_IN)
		return -EAGAIN;
	ssize_t n = c->io->ops->tcp_read(c->io, c->handle, buf, sizeof(buf));
	if (n == 0)
		c->eof_in = true;
	if (n <= 0)
		return n;
	c->hash_recv = hash_fnv1a(c->hash_recv, buf, (size_t)n);
	if (BIO_write(c->rbio, buf, (int)n) != (int)n) {
		c->error = -ENOMEM;
		return -ENOMEM;
	}
	return n;
}

/* Records a TLS failure after SSL_get_error said SSL_ERROR_SSL/SYSCALL. */
static int tls_fail(struct tls_conn *c, const char *what)
{
	long vr = SSL_get_verify_result(c->ssl);

	if (vr != X509_V_OK)
		snprintf(c->why, sizeof(c->why), "%s: certificate: %s", what,
		         X509_verify_cert_error_string(vr));
	else
		tls_err(c->why, sizeof(c->why), what);
	ERR_clear_error();
	tls_flush(c); /* the alert, if any */
	c->error = -EPROTO;
	return -EPROTO;
}

/* Advances the handshake as far as the bytes at hand allow. 0 (done or
 * waiting) or -errno. */
static int tls_handshake_step(struct tls_conn *c)
{
	while (!SSL_is_init_finished(c->ssl)) {
		int r = SSL_do_handshake(c->ssl);
		int rc = tls_flush(c);

		if (rc < 0)
			return rc;
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ)
			return tls_fail(c, "handshake");
		ssize_t n = tls_pull(c);
		if (n == -EAGAIN)
			return 0;
		if (n == 0) {
			snprintf(c->why, sizeof(c->why), "handshake: peer closed");
			c->error = -ECONNRESET;
			return -ECONNRESET;
		}
		if (n < 0)
			return (int)n;
	}
	return 0;
}

int tls_conn_on_event(struct tls_conn *c, unsigned events)
{
	if (c->error)
		return c->error;
	if (events & IO_WRITABLE)
		c->connected = true;
	if (!c->connected)
		return 0;
	int rc = tls_flush(c);
	if (rc < 0)
		return rc;
	return tls_handshake_step(c);
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	if (c->error)
		return c->error;
	if (!c->connected)
		return -EAGAIN;
	if (len > INT32_MAX)
		len = INT32_MAX;
	for (;;) {
		int r = SSL_read(c->ssl, buf, (int)len);
		int rc = tls_flush(c);

		if (rc < 0)
			return rc;
		if (r > 0)
			return r;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e != SSL_ERROR_WANT_READ)
			return tls_fail(c, SSL_is_init_finished(c->ssl) ? "read" : "handshake");
		ssize_t n = tls_pull(c);
		if (n == 0)
			return 0; /* FIN without close_notify: EOF all the same */
		if (n < 0)
			return n;
	}
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	if (c->error)
		return c->error;
	if (c->shutdown_want)
		return -EPIPE;
	if (!c->connected)
		return -EAGAIN;
	int rc = tls_handshake_step(c);
	if (rc < 0)
		return rc;
	if (!SSL_is_init_finished(c->ssl))
		return -EAGAIN;
	rc = tls_flush(c);
	if (rc < 0)
		return rc;
	if (tls_conn_pending_out(c) >= TLS_MAX_CIPHERTEXT_OUT)
		return -EAGAIN;
	if (len == 0)
		return 0;
	int w = SSL_write(c->ssl, buf, (int)(len < TLS_WRITE_CHUNK ? len : TLS_WRITE_CHUNK));
	if (w <= 0)
		return tls_fail(c, "write");
	rc = tls_flush(c);
	if (rc < 0)
		return rc;
	return w;
}

int tls_conn_shutdown(struct tls_conn *c)
{
	if (c->error)
		return c->error;
	if (c->shutdown_want)
		return 0;
	c->shutdown_want = true;
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	ERR_clear_error();
	return tls_flush(c);
}

int tls_conn_close_notify(struct tls_conn *c)
{
	if (c->error)
		return c->error;
	if (!SSL_is_init_finished(c->ssl))
		return 0;
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	return tls_flush(c);
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl); /* frees both BIOs */
	ERR_clear_error();
	free(c);
}

bool tls_conn_handshake_done(const struct tls_conn *c)
{
	return SSL_is_init_finished(c->ssl);
}

size_t tls_conn_pending_out(const struct tls_conn *c)
{
	return (c->out_len - c->out_off) + BIO_ctrl_pending(c->wbio);
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->why;
}

void tls_conn_ciphertext_hash(const struct tls_conn *c, uint64_t *sent, uint64_t *received)
{
	*sent = c->hash_sent;
	*received = c->hash_recv;
}
