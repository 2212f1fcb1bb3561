/* The map session protocol between a node daemon and control, shared by
 * both sides: framing, message shapes, and applying netmap deltas.
 *
 * Pure code: no I/O. Parsers are incremental (bytes consumed | -2
 * incomplete | -1 malformed).
 *
 * Transport: one TCP connection from the daemon to control's map port
 * (MAPPROTO_DEFAULT_PORT) on the underlay. Each frame is a 4-byte
 * big-endian length followed by that many bytes of one JSON object with a
 * "type" member. A length of 0 or above MAPPROTO_MAX_FRAME, bytes that are
 * not a JSON object, or an unknown "type" end the session (the receiver
 * sends {"type":"error","message":...} when it can, then closes).
 * Compression: a daemon whose hello says "compress":"zlib" may get frames
 * from control with MAPPROTO_FRAME_ZLIB set in the length word; the payload
 * is then the JSON object deflated (zlib format), at most MAPPROTO_MAX_FRAME
 * bytes once inflated. Control compresses frames of MAPPROTO_COMPRESS_MIN
 * bytes or more when that saves bytes: a host's netmap in a large tailnet
 * lists every client (1.6 MB at 10,000 nodes, about a seventh of that deflated).
 * Daemons never compress; a compressed frame nobody asked for is an error.
 *
 * Daemon -> control:
 *   {"type":"hello","proto":1,"node":"web-us","user":"","region":"us-east",
 *    "tags":["tag:web"],"endpoint":"10.0.0.1:41641","tls_key":"<64 hex>",
 *    "compress":"zlib"}
 *       first frame, exactly once. tls_key: the node's Ed25519 public key
 *       for the certificates control issues it (L7-5); optional. compress:
 *       the daemon takes compressed frames; optional.
 *   {"type":"advertise","services":[{"name":"svc:web","draining":false,
 *    "tun":false,"ports":[443,80]}]}
 *       the whole set of services this node advertises, with the ports its
 *       serve config handles; sent after hello and on every change.
 *   {"type":"ack","version":7}       the netmap `version` is applied.
 *   {"type":"resync"}                a delta did not fit the map the
 *                                    daemon holds: send a full map.
 *   {"type":"heartbeat"}             every heartbeat_ms when nothing else
 *                                    went up.
 *   {"type":"rotate_key","key":"<64 hex>"}
 *                                    move the node to this key (SEC-2): the
 *                                    session proved the current one. Until a
 *                                    session proves the new key, both are
 *                                    taken; sending it again is harmless.
 *
 * Control -> daemon:
 *   {"type":"welcome","heartbeat_ms":10000,"dead_after_ms":30000}
 *   {"type":"liveness","heartbeat_ms":1000,"dead_after_ms":3000}
 *       new heartbeat and silence limits, any time after the welcome (both
 *       ways: control holds the session to them too). Control keeps hosts
 *       (nodes advertising a service: their liveness steers traffic) on
 *       the tight pair and every other node on the idle pair, which spares
 *       it most of the heartbeat load of a large tailnet.
 *   {"type":"netmap","version":8,"full":{...netmap document...}}
 *   {"type":"netmap","version":9,"base":8,"delta":{
 *       "peers_upsert":[{...peer...}],   "peers_remove":["name"],
 *       "set":{"self":..,"services":..,"host_services":..,"filter":..,
 *              "dns":..,"ca_pem":..,"tailnet":..}}}
 *       a delta applies to the map of version `base` only; each member of
 *       "set" replaces that top-level member whole (JSON null removes it);
 *       peers are matched by "name".
 *       Filter rules may carry an "id" (unique, unknown to netmap_parse.c): then
 *       "filter_upsert":[{...rule...}] and "filter_remove":["id"] change
 *       them one by one, like peers ("set" may not also name "filter").
 *       Peers and rules a delta adds are placed in strcmp order of their
 *       name/id (control generates both arrays in that order).
 *   {"type":"drain_confirmed","service":"svc:web"}
 *       every client that could be steered to this host for the service
 *       has acknowledged a netmap without it (DRN-1/3).
 *   {"type":"advertise_refused","service":"svc:web","message":"..."}
 *   {"type":"heartbeat"}
 *   {"type":"key_rotated","key":"<64 hex>"}
 *       control recorded the rotation (durably): the next session may
 *       prove the new key, and doing so makes it the only one.
 *   {"type":"error","message":"..."}   then control closes.
 */
#ifndef LIB_WIRE_MAPPROTO_H
#define LIB_WIRE_MAPPROTO_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAPPROTO_VERSION            1
#define MAPPROTO_DEFAULT_PORT       8301 /* map sessions (TCP, underlay) */
#define MAPPROTO_DEFAULT_ADMIN_PORT 8300 /* control's admin HTTP API */
#define MAPPROTO_HDR_LEN            4
#define MAPPROTO_MAX_FRAME          (32u << 20)
#define MAPPROTO_MAX_UP_FRAME       (1u << 20) /* daemon -> control frames */
#define MAPPROTO_HEARTBEAT_MS       1000       /* hosts */
#define MAPPROTO_DEAD_AFTER_MS      3000
#define MAPPROTO_IDLE_HEARTBEAT_MS  10000 /* nodes that advertise nothing */
#define MAPPROTO_IDLE_DEAD_AFTER_MS 30000
#define MAPPROTO_ERR_LEN            256
#define MAPPROTO_FRAME_ZLIB         0x80000000u /* length word flag: payload deflated */
#define MAPPROTO_COMPRESS_MIN       4096        /* smaller frames go as they are */

/* A daemon whose session ended tries again at least this often (its
 * backoff's cap): a restarted control can count on every live host being
 * back within its dead_after plus this (STR-8). */
#define MAPPROTO_RETRY_MAX_MS 5000

enum mapproto_type {
	MAPPROTO_NONE = 0,
	MAPPROTO_HELLO,
	MAPPROTO_ADVERTISE,
	MAPPROTO_ACK,
	MAPPROTO_RESYNC,
	MAPPROTO_HEARTBEAT,
	MAPPROTO_WELCOME,
	MAPPROTO_NETMAP,
	MAPPROTO_DRAIN_CONFIRMED,
	MAPPROTO_ADVERTISE_REFUSED,
	MAPPROTO_ERROR,
	MAPPROTO_LIVENESS,
	MAPPROTO_ROTATE_KEY,
	MAPPROTO_KEY_ROTATED,
};

/* Frame parser over a byte stream. Returns the frame's total length
 * (header + payload) with *payload and *payload_len set when a whole frame is
 * in buf[0..len), -2 when more bytes are needed, -1 when the header is
 * invalid (0 or above max_frame, or compressed while `zlib` is NULL). With
 * `zlib`, *zlib says whether the payload is deflated (mapproto_inflate). */
ssize_t mapproto_frame_parse(const uint8_t *buf, size_t len, size_t max_frame,
                             const uint8_t **payload, size_t *payload_len, bool *zlib);
/* Writes the 4-byte header for a payload of `len` bytes (ORed with
 * MAPPROTO_FRAME_ZLIB for a deflated one). */
void mapproto_frame_header(uint8_t hdr[MAPPROTO_HDR_LEN], uint32_t len);

/* Deflates `len` bytes into a new buffer (*out, the caller frees) of
 * *out_len bytes. 0, -ENOMEM, or -EOVERFLOW when deflating does not make
 * it smaller (send it as it is). */
int mapproto_deflate(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);
/* Inflates a deflated payload into a new buffer (*out, the caller frees)
 * of *out_len bytes, refusing to grow past `max_out`. 0, -EINVAL (corrupt
 * or truncated, or bytes after its end), -E2BIG (over max_out), -ENOMEM. */
int mapproto_inflate(const uint8_t *in, size_t len, size_t max_out, uint8_t **out, size_t *out_len);

/* Parses a payload into a JSON object and its type. Returns the type, or
 * MAPPROTO_NONE with `err` saying why (not JSON, not an object, no or
 * unknown type). The caller deletes *out. */
enum mapproto_type mapproto_parse(const uint8_t *payload, size_t len, cJSON **out, char *err,
                                  size_t err_len);
const char *mapproto_type_name(enum mapproto_type t);

/* Applies a netmap message's delta (the whole message object) to `map`
 * (a netmap document whose "version" must equal the delta's "base"),
 * in place, and sets "version". -ESTALE when the base does not match,
 * -EINVAL for a malformed delta (err says where); `map` is unchanged then. */
int mapproto_apply_delta(cJSON *map, const cJSON *msg, char *err, size_t err_len);

#endif
