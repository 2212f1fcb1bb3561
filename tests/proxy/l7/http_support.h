/* Test support for the L7 proxy suites: an event-recording seam wrapper, an
 * HTTP client on the seam (plain or TLS), and test certificates made with
 * OpenSSL at run time. Backend-neutral: the same code runs on epoll and sim.
 */
#ifndef TESTS_PROXY_L7_HTTP_SUPPORT_H
#define TESTS_PROXY_L7_HTTP_SUPPORT_H

#include "lib/io/io.h"
#include "lib/wire/http_msg.h"
#include "lib/wire/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- certificates --------------------------------------------------------------- */

struct ht_certs {
	char *ca_pem;
	char *cert_pem; /* leaf for `name`, signed by the CA */
	char *key_pem;
	char *other_ca_pem;                            /* an unrelated CA, for refusal tests */
	char cert_file[64], key_file[64], ca_file[64]; /* the same, on disk */
};

/* A CA and a leaf certificate for DNS `name`, IP 127.0.0.1 and `ip` (may
 * be NULL). */
void ht_certs_make(struct ht_certs *c, const char *name, const char *ip);
void ht_certs_free(struct ht_certs *c);

/* --- a client ---------------------------------------------------------------- */

#define HT_MAX_RESPONSES 32
#define HT_BODY_KEEP     (64 * 1024) /* body bytes kept for inspection */

struct ht_client {
	struct io *io;
	int handle;
	struct tls_conn *tls;
	bool connected, eof, failed;
	int error;
	char *req; /* bytes to send first */
	size_t req_len, req_off;
	uint64_t gen_left; /* then this many generated body bytes */
	bool gen_chunked;  /* framed as chunks (then the last chunk) */
	bool gen_final_sent;
	char frame[16 * 1024 + 32]; /* a generated body frame being sent */
	size_t frame_off, frame_len;
	uint64_t gen_sent;
	uint32_t send_delay_us; /* >0: trickle one byte per delay (slowloris) */
	struct io_timer trickle;
	bool shutdown_after_send;
	bool sent_all;
	/* Responses. */
	struct http_head *head;
	struct http_parser parser;
	int want;                        /* responses expected */
	bool head_req[HT_MAX_RESPONSES]; /* response i answers a HEAD */
	int n;
	int status[HT_MAX_RESPONSES];
	uint64_t body_bytes[HT_MAX_RESPONSES];
	bool pattern_ok;             /* every body byte i was 'a' + i % 26 */
	char body[HT_BODY_KEEP + 1]; /* of the last response */
	size_t body_len;
	char headers[8192]; /* of the last response, "Name: value\n" */
	uint64_t done_us, start_us;
};

/* Connects to `to` and sends `req` (copied), then `gen_bytes` generated
 * body bytes. With `tls` (a client context), speaks TLS with SNI/name
 * `host`. Expects `want` responses. */
void ht_client_start(struct ht_client *c, struct io *io, const struct io_addr *to,
                     struct tls_ctx *tls, const char *host, const char *req, uint64_t gen_bytes,
                     bool gen_chunked, int want);
/* Waits for `want` responses in all now (reads what is already there). */
void ht_client_expect(struct ht_client *c, int want);
/* Done: all responses read, or EOF/failure. */
bool ht_client_done(const struct ht_client *c);
bool ht_client_done_fn(void *arg);
void ht_client_close(struct ht_client *c);

#endif
