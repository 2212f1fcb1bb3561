/* Test support for the L7 proxy suites (see http_support.h). */
#define _GNU_SOURCE
#include "tests/proxy/l7/http_support.h"
#include "lib/base/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* --- certificates ---------------------------------------------------------------- */

static EVP_PKEY *ht_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	CHECK(k);
	return k;
}

static void ht_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	CHECK(ex);
	CHECK(X509_add_ext(cert, ex, -1));
	X509_EXTENSION_free(ex);
}

static X509 *ht_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                     const char *san, long serial)
{
	X509 *x = X509_new();
	CHECK(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509 *iss = issuer ? issuer : x;
	if (ca) {
		ht_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
		ht_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		ht_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		ht_ext(x, iss, NID_ext_key_usage, "serverAuth");
		ht_ext(x, iss, NID_subject_alt_name, san);
	}
	CHECK(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static char *ht_pem_cert(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	CHECK(PEM_write_bio_X509(b, x));
	long n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static char *ht_pem_key(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	CHECK(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	long n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static void ht_write_file(char *path, size_t cap, const char *what, const char *text)
{
	snprintf(path, cap, "/tmp/ht-%d-%s.pem", (int)getpid(), what);
	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs(text, f);
	fclose(f);
}

void ht_certs_make(struct ht_certs *c, const char *name, const char *ip)
{
	char san[512];
	EVP_PKEY *ca_key = ht_key(), *leaf_key = ht_key(), *other_key = ht_key();
	X509 *ca = ht_cert(ca_key, "tailsim test CA", NULL, NULL, true, NULL, 1);
	X509 *other = ht_cert(other_key, "unrelated CA", NULL, NULL, true, NULL, 3);

	snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1%s%s", name, ip ? ",IP:" : "", ip ? ip : "");
	X509 *leaf = ht_cert(leaf_key, name, ca, ca_key, false, san, 2);
	memset(c, 0, sizeof(*c));
	c->ca_pem = ht_pem_cert(ca);
	c->cert_pem = ht_pem_cert(leaf);
	c->key_pem = ht_pem_key(leaf_key);
	c->other_ca_pem = ht_pem_cert(other);
	ht_write_file(c->cert_file, sizeof(c->cert_file), "cert", c->cert_pem);
	ht_write_file(c->key_file, sizeof(c->key_file), "key", c->key_pem);
	ht_write_file(c->ca_file, sizeof(c->ca_file), "ca", c->ca_pem);
	X509_free(ca);
	X509_free(leaf);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
}

void ht_certs_free(struct ht_certs *c)
{
	free(c->ca_pem);
	free(c->cert_pem);
	free(c->key_pem);
	free(c->other_ca_pem);
	unlink(c->cert_file);
	unlink(c->key_file);
	unlink(c->ca_file);
	memset(c, 0, sizeof(*c));
}

/* --- the client -------------------------------------------------------------------- */

static void ht_client_run(struct ht_client *c);

static int ht_on_body(void *ctx, const char *data, size_t len)
{
	struct ht_client *c = ctx;
	uint64_t base = c->body_bytes[c->n];

	for (size_t i = 0; i < len; i++)
		if (data[i] != (char)('a' + (base + i) % 26))
			c->pattern_ok = false;
	if (c->body_len < HT_BODY_KEEP) {
		size_t n = len < HT_BODY_KEEP - c->body_len ? len : HT_BODY_KEEP - c->body_len;
		memcpy(c->body + c->body_len, data, n);
		c->body_len += n;
		c->body[c->body_len] = '\0';
	}
	c->body_bytes[c->n] += len;
	return 0;
}

static void ht_client_fail(struct ht_client *c, int err)
{
	c->failed = true;
	c->error = err;
	c->done_us = c->io->ops->now_us(c->io);
}

static ssize_t ht_write(struct ht_client *c, const void *buf, size_t len)
{
	return c->tls ? tls_conn_write(c->tls, buf, len)
	              : c->io->ops->tcp_write(c->io, c->handle, buf, len);
}

/* Sends what can be sent now; false on failure. */
static bool ht_client_send(struct ht_client *c)
{
	if (!c->connected || c->sent_all)
		return true;
	if (c->send_delay_us && c->req_off < c->req_len) {
		if (!io_timer_armed(&c->trickle)) {
			ssize_t w = ht_write(c, c->req + c->req_off, 1);
			if (w > 0)
				c->req_off++;
			c->io->ops->timer_arm(c->io, &c->trickle, c->send_delay_us);
		}
		return true;
	}
	while (c->req_off < c->req_len) {
		ssize_t w = ht_write(c, c->req + c->req_off, c->req_len - c->req_off);
		if (w == -EAGAIN)
			return true;
		if (w < 0) {
			ht_client_fail(c, (int)w);
			return false;
		}
		c->req_off += (size_t)w;
	}
	for (;;) {
		while (c->frame_off < c->frame_len) {
			ssize_t w =
			    ht_write(c, c->frame + c->frame_off, c->frame_len - c->frame_off);
			if (w == -EAGAIN)
				return true;
			if (w < 0) {
				ht_client_fail(c, (int)w);
				return false;
			}
			c->frame_off += (size_t)w;
		}
		if (c->gen_left == 0)
			break;
		size_t n = c->gen_left < 16384 ? (size_t)c->gen_left : 16384;
		size_t hl = 0;
		if (c->gen_chunked)
			hl = (size_t)snprintf(c->frame, sizeof(c->frame), "%zx\r\n", n);
		for (size_t i = 0; i < n; i++)
			c->frame[hl + i] = (char)('a' + (c->gen_sent + i) % 26);
		c->frame_len = hl + n;
		if (c->gen_chunked) {
			memcpy(c->frame + c->frame_len, "\r\n", 2);
			c->frame_len += 2;
		}
		c->frame_off = 0;
		c->gen_left -= n;
		c->gen_sent += n;
	}
	if (c->gen_chunked && !c->gen_final_sent) {
		ssize_t w = ht_write(c, "0\r\n\r\n", 5);
		if (w == -EAGAIN)
			return true;
		if (w != 5) {
			ht_client_fail(c, w < 0 ? (int)w : -EIO);
			return false;
		}
		c->gen_final_sent = true;
	}
	c->sent_all = true;
	if (c->shutdown_after_send && !c->tls)
		c->io->ops->tcp_shutdown(c->io, c->handle);
	return true;
}

static void ht_client_recv(struct ht_client *c)
{
	char buf[16 * 1024];

	while (!ht_client_done(c)) {
		ssize_t n = c->tls ? tls_conn_read(c->tls, buf, sizeof(buf))
		                   : c->io->ops->tcp_read(c->io, c->handle, buf, sizeof(buf));
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			ht_client_fail(c, (int)n);
			return;
		}
		if (n == 0) {
			if (http_parser_finish(&c->parser) == HTTP_PARSE_DONE &&
			    c->n < HT_MAX_RESPONSES)
				c->n++;
			c->eof = true;
			c->done_us = c->io->ops->now_us(c->io);
			return;
		}
		size_t off = 0;
		bool kick = false;
		while ((off < (size_t)n || kick) && !ht_client_done(c)) {
			size_t used;
			kick = false;
			enum http_parse_status st =
			    http_parser_feed(&c->parser, buf + off, (size_t)n - off, &used);
			off += used;
			if (st == HTTP_PARSE_ERROR) {
				ht_client_fail(c, -EPROTO);
				return;
			}
			if (st == HTTP_PARSE_HEAD) {
				if (c->head->status / 100 != 1) {
					c->status[c->n] = c->head->status;
					c->body_len = 0;
					size_t hl = 0;
					for (size_t i = 0; i < c->head->n_headers; i++) {
						const struct http_header *x = &c->head->hdr[i];
						int w = snprintf(c->headers + hl,
						                 sizeof(c->headers) - hl,
						                 "%.*s: %.*s\n", (int)x->name_len,
						                 c->head->text.data + x->name_off,
						                 (int)x->value_len,
						                 c->head->text.data + x->value_off);
						if (w < 0 || (size_t)w >= sizeof(c->headers) - hl)
							break;
						hl += (size_t)w;
					}
				}
				http_parser_resume(&c->parser);
				/* Bodiless responses complete on an empty feed. */
				kick = true;
				continue;
			}
			if (st == HTTP_PARSE_DONE) {
				if (c->head->status / 100 != 1) {
					c->n++;
					if (c->n < HT_MAX_RESPONSES)
						http_parser_expect_no_body(&c->parser,
						                           c->head_req[c->n]);
				}
				http_parser_resume(&c->parser);
				if (ht_client_done(c))
					c->done_us = c->io->ops->now_us(c->io);
			}
		}
	}
}

static void ht_client_cb(void *ctx, int handle, unsigned events)
{
	struct ht_client *c = ctx;

	(void)handle;
	if (events & IO_WRITABLE)
		c->connected = true;
	if (c->tls) {
		int rc = tls_conn_on_event(c->tls, events);
		if (rc < 0) {
			ht_client_fail(c, rc);
			return;
		}
	}
	if (events & IO_ERROR && !c->tls) {
		char b;
		ssize_t r = c->io->ops->tcp_read(c->io, c->handle, &b, 1);
		ht_client_fail(c, r < 0 ? (int)r : -ECONNRESET);
		return;
	}
	ht_client_run(c);
}

static void ht_trickle_fn(struct io_timer *t)
{
	struct ht_client *c = container_of(t, struct ht_client, trickle);

	ht_client_run(c);
}

static void ht_client_run(struct ht_client *c)
{
	if (c->failed || c->handle < 0)
		return;
	if (!ht_client_send(c))
		return;
	ht_client_recv(c);
}

void ht_client_start(struct ht_client *c, struct io *io, const struct io_addr *to,
                     struct tls_ctx *tls, const char *host, const char *req, uint64_t gen_bytes,
                     bool gen_chunked, int want)
{
	uint32_t delay = c->send_delay_us;
	bool shut = c->shutdown_after_send;
	bool head_req[HT_MAX_RESPONSES];

	memcpy(head_req, c->head_req, sizeof(head_req));
	memset(c, 0, sizeof(*c));
	memcpy(c->head_req, head_req, sizeof(head_req));
	c->send_delay_us = delay;
	c->shutdown_after_send = shut;
	c->io = io;
	c->req = strdup(req);
	CHECK(c->req);
	c->req_len = strlen(req);
	c->gen_left = gen_bytes;
	c->gen_chunked = gen_chunked;
	c->want = want;
	c->pattern_ok = true;
	c->trickle.fn = ht_trickle_fn;
	c->start_us = io->ops->now_us(io);
	c->head = http_head_new(HTTP_MSG_DEFAULT_MAX_HEAD_BYTES, HTTP_MSG_DEFAULT_MAX_HEADERS);
	CHECK(c->head);
	http_parser_init(&c->parser, false, c->head, ht_on_body, c);
	http_parser_expect_no_body(&c->parser, c->head_req[0]);
	c->handle = io->ops->tcp_connect(io, to, NULL, ht_client_cb, c);
	if (c->handle < 0) {
		ht_client_fail(c, c->handle);
		return;
	}
	if (tls) {
		c->tls = tls_conn_new_client(tls, io, c->handle, host);
		CHECK(c->tls);
	}
}

void ht_client_expect(struct ht_client *c, int want)
{
	c->want = want;
	ht_client_run(c); /* what arrived meanwhile is not announced again */
}

bool ht_client_done(const struct ht_client *c)
{
	return c->failed || c->eof || c->n >= c->want;
}

bool ht_client_done_fn(void *arg)
{
	return ht_client_done(arg);
}

void ht_client_close(struct ht_client *c)
{
	if (c->io && io_timer_armed(&c->trickle))
		c->io->ops->timer_disarm(c->io, &c->trickle);
	if (c->tls)
		tls_conn_free(c->tls);
	c->tls = NULL;
	if (c->handle >= 0 && c->io)
		c->io->ops->close(c->io, c->handle, false);
	c->handle = -1;
	http_head_free(c->head);
	c->head = NULL;
	free(c->req);
	c->req = NULL;
}
