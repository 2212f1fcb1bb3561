/* TLS over the seam: OpenSSL driven through memory BIOs, so it works on any
 * seam TCP handle (the sim has no file descriptors).
 *
 * A `struct tls_ctx` holds one OpenSSL library context (OSSL_LIB_CTX) of its
 * own whose random generator is a tiny provider keyed from the seam's
 * random_u64: in simrun the same seed gives the same key shares, randoms and
 * signatures, so the same ciphertext and byte-identical pcaps. Session
 * tickets and the session cache are off (nothing time-dependent reaches the
 * wire). With `os_entropy` (real mode) OS randomness is mixed into the key.
 *
 * A `struct tls_conn` wraps one seam TCP handle it does not own. The owner
 * keeps the handle's callback and forwards every readiness event with
 * tls_conn_on_event(), then reads and writes plaintext with tls_conn_read()
 * and tls_conn_write(), which follow the seam's conventions (bytes, 0 at EOF,
 * -EAGAIN, -errno). Like the seam, reading is edge-like: after an event, read
 * until -EAGAIN; data already decrypted or buffered is not announced again.
 *
 * Limits: at most TLS_MAX_CIPHERTEXT_OUT bytes of ciphertext wait for the
 * seam (writes return -EAGAIN beyond), at most TLS_READ_CHUNK bytes of
 * ciphertext are read per step, and owners bound the handshake with
 * TLS_HANDSHAKE_TIMEOUT_US.
 */
#ifndef LIB_WIRE_TLS_H
#define LIB_WIRE_TLS_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_MAX_PEM_BYTES        (1 << 20)          /* a certificate/key/CA file */
#define TLS_READ_CHUNK           (16 * 1024)        /* ciphertext read per step */
#define TLS_MAX_CIPHERTEXT_OUT   (64 * 1024)        /* ciphertext waiting for the seam */
#define TLS_MAX_CIPHERTEXT_IN    (64 * 1024)        /* ciphertext read, not yet decrypted */
#define TLS_HANDSHAKE_TIMEOUT_US (10 * 1000 * 1000) /* for owners: handshake deadline */
#define TLS_MAX_HOST_LEN         253
#define TLS_ERR_LEN              256

struct tls_ctx;
struct tls_conn;

struct tls_ctx_config {
	bool server;
	/* Server: the certificate chain and key, from PEM files or memory
	 * (memory wins when both are set). */
	const char *cert_file, *key_file;
	const char *cert_pem, *key_pem;
	/* Client: the trust anchors (PEM file or memory; neither: the system
	 * store); ignored with `insecure`, which skips verification
	 * (https+insecure://). */
	const char *ca_file, *ca_pem;
	bool insecure;
	/* Mix OS randomness into the generator's key: real mode only; the sim
	 * leaves it false so runs repeat exactly. */
	bool os_entropy;
};

/* Builds a context. Returns 0 and sets *out, or -EINVAL (bad or missing
 * certificate/key/CA, with `err` saying which), -E2BIG (a PEM over
 * TLS_MAX_PEM_BYTES), -ENOMEM. `io` supplies randomness once, now. */
int tls_ctx_new(struct tls_ctx **out, struct io *io, const struct tls_ctx_config *cfg, char *err,
                size_t err_len);
/* Frees a context; connections made from it must be freed first. NULL ok. */
void tls_ctx_free(struct tls_ctx *ctx);
bool tls_ctx_is_server(const struct tls_ctx *ctx);

/* A server side on an accepted handle. NULL on -ENOMEM. */
struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx, struct io *io, int handle);
/* A client side on a (possibly still connecting) handle. `host` is sent as
 * SNI (unless it is an IP literal) and verified against the certificate
 * unless the context is insecure; NULL skips the name check. NULL on
 * -ENOMEM or a host longer than TLS_MAX_HOST_LEN. */
struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, struct io *io, int handle,
                                     const char *host);

/* Forward the handle's readiness here first. Drives the handshake and
 * flushes queued ciphertext. Returns 0, or a negative errno once the
 * connection is unusable (-EPROTO for a TLS failure, or the seam's error). */
int tls_conn_on_event(struct tls_conn *conn, unsigned events);

/* Plaintext bytes read, 0 at EOF (close_notify or the peer's FIN), -EAGAIN,
 * -EPROTO (TLS failure: bad record, failed verification) or the seam's
 * -errno. Completes the handshake on the way. */
ssize_t tls_conn_read(struct tls_conn *conn, void *buf, size_t len);
/* Plaintext bytes taken (maybe fewer than len), -EAGAIN while the handshake
 * runs or ciphertext backs up, or -errno. */
ssize_t tls_conn_write(struct tls_conn *conn, const void *buf, size_t len);
/* Sends close_notify, then FIN once queued ciphertext has left. 0 or -errno. */
int tls_conn_shutdown(struct tls_conn *conn);
/* Sends close_notify only, for an owner about to close the handle
 * gracefully (the close sends the FIN). Best effort: 0 or -errno. */
int tls_conn_close_notify(struct tls_conn *conn);
/* Frees the TLS state; the handle stays open and owned by the caller. */
void tls_conn_free(struct tls_conn *conn);

bool tls_conn_handshake_done(const struct tls_conn *conn);
/* Ciphertext queued for the seam (bytes). */
size_t tls_conn_pending_out(const struct tls_conn *conn);
/* The last TLS failure in words ("" when none). */
const char *tls_conn_error(const struct tls_conn *conn);
/* FNV-1a hashes of every ciphertext byte sent and received so far: lets
 * tests check that a run repeats exactly. */
void tls_conn_ciphertext_hash(const struct tls_conn *conn, uint64_t *sent, uint64_t *received);

#endif
