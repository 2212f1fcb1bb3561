/* The tailnet's certificate authority (L7-5), with OpenSSL.
 *
 * Ed25519 throughout: keys come from 32-byte seeds (the seam's random in
 * control and the daemon), and Ed25519 signatures are deterministic, so a
 * simulated run issues byte-identical certificates for the same seed.
 * Validity is fixed (2025-01-01 to 2035-01-01) rather than read from a
 * clock: the seam's clock is monotonic, not calendar time.
 *
 * Pure code apart from OpenSSL: no I/O.
 */
#ifndef LIB_WIRE_CA_H
#define LIB_WIRE_CA_H

#include <stddef.h>
#include <stdint.h>

#define CA_SEED_LEN   32
#define CA_PUBKEY_HEX 64 /* hex chars of an Ed25519 public key */
#define CA_ERR_LEN    256

struct ca;

/* A CA whose key derives from `seed`; the certificate's subject names the
 * tailnet (1-60 letters, digits, '-', '.' or '_'; else -EINVAL). 0 or -errno. */
int ca_new(struct ca **out, const uint8_t seed[CA_SEED_LEN], const char *tailnet, char *err,
           size_t err_len);
void ca_free(struct ca *ca);
const char *ca_cert_pem(const struct ca *ca);
/* The seed, for persistence. */
const uint8_t *ca_seed(const struct ca *ca);

/* Issues a leaf certificate for `dns_name` (subjectAltName DNS, serverAuth)
 * on the Ed25519 public key given as 64 hex chars, serial from `serial`.
 * Returns malloc'd PEM (leaf then CA), or NULL with err. Refused: a key
 * that is not exactly 64 hex chars, a name that is not a DNS name (labels
 * of 1-63 letters/digits/'-', at most 253 chars), serial 0. The subject is
 * O=<tailnet>, CN=<dns_name> when it fits in 64 chars. */
char *ca_issue(struct ca *ca, const char *pubkey_hex, const char *dns_name, uint64_t serial,
               char *err, size_t err_len);

/* Daemon side: an Ed25519 key pair from a seed, as PEM private key and hex
 * public key (malloc'd both). 0 or -errno. */
int ca_keypair_from_seed(const uint8_t seed[CA_SEED_LEN], char **key_pem, char **pubkey_hex);

#endif
