/* Secured map sessions (SPEC SEC-2): the map protocol's frames
 * (lib/wire/mapproto.h) inside a Noise IKpsk2 session, the handshake
 * WireGuard uses (lib/wire/wg.h) with the map protocol's own prologue.
 *
 *   daemon -> control   frame 1: Noise message 1, payload the daemon's
 *                       TAI64N time (MAPSEC_INIT_LEN bytes). It names the
 *                       node's static key and proves the daemon holds it
 *                       together with control's (es, ss).
 *   control -> daemon   frame 1: Noise message 2, empty payload
 *                       (MAPSEC_RESP_LEN bytes). It opens only under the
 *                       private key of the control key the daemon pinned.
 *   then, both ways     every frame's payload sealed with ChaCha20-Poly1305
 *                       under the direction's key, the nonce an implicit
 *                       counter from 0 (TCP keeps frames in order), so a
 *                       frame dropped, replayed or reordered fails to open.
 *
 * Control learns the node's key from message 1, yet holds proof that the
 * daemon has that key only once the daemon's first sealed frame (its
 * hello) opens: a replayed message 1 gets a response nobody can use.
 * Control therefore acts on a session (binding it to a node, replacing an
 * older session) only from the hello on, and a session replaces the
 * node's live one only when its handshake's timestamp is newer. (Each
 * message 1 costs control its DH work before it can tell a replay; the
 * session limit bounds how many wait for a hello.)
 *
 * Pure code: callers pass ephemeral seeds and times. Returns 0 or a
 * negative errno as lib/wire/wg.h; -EOVERFLOW when a direction's counter
 * is spent (the session must end). */
#ifndef LIB_WIRE_MAPSEC_H
#define LIB_WIRE_MAPSEC_H

#include "lib/wire/wg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAPSEC_PROLOGUE "svc map session v2"
#define MAPSEC_INIT_LEN WG_NOISE_INIT_LEN(WG_TIMESTAMP_LEN) /* 108 */
#define MAPSEC_RESP_LEN WG_NOISE_RESP_LEN(0)                /* 48 */
#define MAPSEC_OVERHEAD WG_TAG_LEN                          /* per sealed frame */
#define MAPSEC_HDR_LEN  4 /* a frame's header, the associated data of its seal */

enum mapsec_state {
	MAPSEC_NONE = 0,
	MAPSEC_WAIT_RESP, /* daemon: message 1 sent */
	MAPSEC_OPEN,      /* transport keys in place */
};

struct mapsec {
	enum mapsec_state state;
	struct wg_noise hs;
	uint8_t send_key[WG_KEY_LEN], recv_key[WG_KEY_LEN];
	uint64_t send_n, recv_n;
	uint8_t peer_pub[WG_KEY_LEN]; /* the other side's static key */
};

/* Daemon: message 1 to control (whose key the daemon pinned). */
int mapsec_client_start(struct mapsec *m, const struct wg_keypair *node,
                        const uint8_t control_pub[WG_KEY_LEN], const uint8_t e_seed[WG_KEY_LEN],
                        uint64_t unix_ns, uint8_t out[MAPSEC_INIT_LEN]);
/* Daemon: control's message 2; the session is open after it. */
int mapsec_client_finish(struct mapsec *m, const uint8_t *msg, size_t len);
/* Control: takes message 1 (len must be MAPSEC_INIT_LEN), answers with
 * message 2, and opens the session. The node's claimed key is in
 * m->peer_pub and its timestamp in ts. */
int mapsec_server_accept(struct mapsec *m, const struct wg_keypair *control, const uint8_t *msg,
                         size_t len, const uint8_t e_seed[WG_KEY_LEN], uint8_t ts[WG_TIMESTAMP_LEN],
                         uint8_t out[MAPSEC_RESP_LEN]);
/* Seals a frame's payload: out gets len + MAPSEC_OVERHEAD bytes. The
 * frame's header (its length word, with the zlib flag) is authenticated
 * too, as associated data: nobody on the path can flip the flag. */
int mapsec_seal(struct mapsec *m, const uint8_t hdr[MAPSEC_HDR_LEN], const void *in, size_t len,
                uint8_t *out);
/* Opens a sealed payload of len bytes into out (len - MAPSEC_OVERHEAD),
 * under the header it came with. */
int mapsec_open(struct mapsec *m, const uint8_t hdr[MAPSEC_HDR_LEN], const uint8_t *in, size_t len,
                uint8_t *out);
/* Wipes the keys. */
void mapsec_clear(struct mapsec *m);

#endif
