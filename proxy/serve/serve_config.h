/* The node daemon's serve configuration: what each service this host runs a
 * Service Proxy for listens on, and where each port/path goes.
 *
 * Pure code: no I/O, no seam calls, no process state. The JSON form is the
 * one `serve status --json` prints and the config-file route accepts
 * (SPEC CFG-9, CFG-10):
 *
 *   {"Services": {"svc:X": {"TCP": {"443": {"HTTPS": true}},
 *                            "Web": {"X.<suffix>:443": {"Handlers": {"/": {"Proxy": "..."}}}},
 *                            "Tun": true}}}
 *
 * Web keys are printed as `<label>.<tailnet-suffix>:<port>` (SPEC CFG-9); with an
 * empty suffix they are `<label>:<port>`, which is also what the vendor doc
 * shows, and both spellings are accepted on input.
 *
 * Whether a service is advertised or draining is the daemon's own state (the
 * vendor client keeps it in its prefs, not in the serve config), so it lives in
 * `struct serve_adv`, never in the JSON.
 *
 * Every input is checked against a named limit below; a config that breaks
 * one is refused as a whole with a message naming the place.
 */
#ifndef PROXY_SERVE_SERVE_CONFIG_H
#define PROXY_SERVE_SERVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_MAX_SERVICES   64                    /* services in one config / advertised at once */
#define SERVE_MAX_PORTS      64                    /* TCP ports per service */
#define SERVE_MAX_HANDLERS   64                    /* web handlers (paths) per port */
#define SERVE_MAX_PATH_LEN   1024                  /* mount path or file/dir path, bytes */
#define SERVE_MAX_TARGET_LEN 4096                  /* a target (URL, text, host:port), bytes */
#define SERVE_MAX_JSON_BYTES (1 << 20)             /* whole JSON document */
#define SERVE_MAX_SUFFIX_LEN 253                   /* tailnet DNS suffix */
#define SERVE_LABEL_MAX      63                    /* DNS label of a service name */
#define SERVE_NAME_MAX       (4 + SERVE_LABEL_MAX) /* "svc:" + label */
#define SERVE_ERR_LEN        512                   /* a good size for error buffers */

/* What a TCP port of a service does (and the serve command's type flag). */
enum serve_type {
	SERVE_TYPE_NONE = 0,
	SERVE_TYPE_HTTPS,   /* --https: TLS + HTTP handlers */
	SERVE_TYPE_HTTP,    /* --http: HTTP handlers */
	SERVE_TYPE_TCP,     /* --tcp: raw TCP forwarder */
	SERVE_TYPE_TLS_TCP, /* --tls-terminated-tcp: TLS terminated, then forwarded */
	SERVE_TYPE_TUN,     /* --tun: whole service at L3 (never a port's type) */
};

enum serve_handler_kind {
	SERVE_HANDLER_NONE = 0,
	SERVE_HANDLER_PROXY, /* value: http://, https:// or https+insecure:// URL */
	SERVE_HANDLER_TEXT,  /* value: the text */
	SERVE_HANDLER_PATH,  /* value: absolute file or directory path */
};

struct serve_handler {
	char *mount; /* "/", "/api", "/static/": clean, starts with '/' */
	enum serve_handler_kind kind;
	char *value;
};

struct serve_port {
	uint16_t port;
	enum serve_type type;           /* HTTPS, HTTP, TCP or TLS_TCP */
	char *tcp_forward;              /* TCP, TLS_TCP: "host:port" */
	char *terminate_tls;            /* TLS_TCP: the name TLS is terminated for */
	size_t n_handlers;              /* HTTPS, HTTP: >= 1 */
	struct serve_handler *handlers; /* sorted by mount (strcmp) */
};

struct serve_service {
	char name[SERVE_NAME_MAX + 1]; /* "svc:label" */
	bool tun;                      /* L3: no ports then */
	size_t n_ports;
	struct serve_port *ports; /* sorted by port */
};

struct serve_config {
	char suffix[SERVE_MAX_SUFFIX_LEN + 1]; /* tailnet DNS suffix, may be "" */
	size_t n_services;
	struct serve_service *services; /* sorted by name */
};

enum serve_adv_state {
	SERVE_ADV_NONE = 0,
	SERVE_ADV_ACTIVE,   /* advertised: eligible for new connections */
	SERVE_ADV_DRAINING, /* drained: no new connections, open ones continue */
};

struct serve_adv_entry {
	char name[SERVE_NAME_MAX + 1];
	enum serve_adv_state state;
};

/* The services this host advertises (or drains). Plain value: copy freely. */
struct serve_adv {
	size_t n;
	struct serve_adv_entry e[SERVE_MAX_SERVICES]; /* sorted by name */
};

/* --- the config ------------------------------------------------------- */

/* Makes an empty config for a tailnet suffix ("" or NULL for none; a suffix
 * longer than SERVE_MAX_SUFFIX_LEN is a programmer error). */
void serve_config_init(struct serve_config *cfg, const char *tailnet_suffix);

/* Frees everything `cfg` owns and leaves it empty (suffix kept). */
void serve_config_free(struct serve_config *cfg);

/* Deep copy into `dst` (uninitialised). 0 or -ENOMEM (dst left empty). */
int serve_config_clone(struct serve_config *dst, const struct serve_config *src);

/* Exchanges two configs: the apply-as-a-whole step. */
void serve_config_swap(struct serve_config *a, struct serve_config *b);

/* Parses and validates a whole JSON document of `len` bytes (not necessarily
 * NUL-terminated). On success `*out` (uninitialised on entry) holds the new
 * config and 0 is returned; on error `*out` is left empty, `err` says what
 * and where, and -EINVAL (bad document), -E2BIG (a limit) or -ENOMEM is
 * returned. The caller swaps it in only on success. */
int serve_config_from_json(const char *text, size_t len, const char *tailnet_suffix,
                           struct serve_config *out, char *err, size_t err_len);

/* Prints the config as JSON: 2-space indented like the vendor CLI when
 * `pretty`, compact otherwise. Empty config prints `{}`. Returns a malloc'd
 * NUL-terminated string or NULL on allocation failure. Deterministic. */
char *serve_config_to_json(const struct serve_config *cfg, bool pretty);

/* Checks a config's invariants (the same rules the JSON parser applies).
 * 0 or -EINVAL/-E2BIG with `err` naming the place. */
int serve_config_validate(const struct serve_config *cfg, char *err, size_t err_len);

bool serve_config_is_empty(const struct serve_config *cfg);

/* Lookups; NULL when absent. Pointers stay valid until the config changes. */
struct serve_service *serve_config_find(const struct serve_config *cfg, const char *name);
struct serve_port *serve_service_find_port(const struct serve_service *svc, uint16_t port);
struct serve_handler *serve_port_find_handler(const struct serve_port *port, const char *mount);

/* The handler whose mount is the longest one matching a request path (a
 * mount matches the path itself, its subpaths, and, ending in '/', anything
 * under it). NULL when none matches. For the L7 proxy (SPEC L7-2). */
const struct serve_handler *serve_port_match(const struct serve_port *port, const char *path,
                                             size_t path_len);

/* "https", "http", "tcp", "tls-terminated-tcp", "tun" (the flag names). */
const char *serve_type_name(enum serve_type type);

/* The service's DNS host name: "<label>.<suffix>", or "<label>" with no
 * suffix. 0 or -ENAMETOOLONG. */
int serve_service_host(const struct serve_config *cfg, const char *name, char *out, size_t out_len);

/* --- names, targets, mounts -------------------------------------------- */

/* SVC-1: "svc:" + one DNS label (1-63 letters, digits, '-', starting and
 * ending with a letter or digit). 0 or -EINVAL with `err` naming the rule. */
int serve_name_check(const char *name, char *err, size_t err_len);

/* CFG-3: expands a command-line target for a serve type into its stored
 * form: for HTTPS/HTTP a handler (kind + value: proxy URL, text, clean
 * absolute path); for TCP/TLS_TCP "host:port" (kind NONE). `out` must hold
 * SERVE_MAX_TARGET_LEN + 1 bytes. 0 or -EINVAL/-E2BIG with `err` saying why. */
int serve_target_parse(enum serve_type type, const char *raw, enum serve_handler_kind *kind,
                       char *out, size_t out_len, char *err, size_t err_len);

/* CFG-4: checks a mount path ("" means "/"; a missing leading '/' is added)
 * and writes it to `out` (SERVE_MAX_PATH_LEN + 1 bytes). Refuses paths that
 * are not clean ("/a/../b", "//x"), too long, or hold spaces, control
 * characters, '?' or '#'. 0 or -EINVAL/-E2BIG. */
int serve_mount_parse(const char *raw, char *out, size_t out_len, char *err, size_t err_len);

/* --- advertisement state ----------------------------------------------- */

void serve_adv_init(struct serve_adv *adv);
enum serve_adv_state serve_adv_get(const struct serve_adv *adv, const char *name);
/* Sets a service's state (NONE removes it). 0 or -E2BIG past SERVE_MAX_SERVICES. */
int serve_adv_set(struct serve_adv *adv, const char *name, enum serve_adv_state state);

/* --- mutators (for serve_cmd.c; keep the sort order and limits yourself) --- */

/* Sorted inserts of a new zeroed element; NULL on -ENOMEM. Pointers into the
 * same array are invalidated. */
struct serve_service *serve_config_add_service(struct serve_config *cfg, const char *name);
struct serve_port *serve_service_add_port(struct serve_service *svc, uint16_t port);
struct serve_handler *serve_port_add_handler(struct serve_port *p, const char *mount);
void serve_config_remove_service(struct serve_config *cfg, struct serve_service *svc);
void serve_service_remove_port(struct serve_service *svc, struct serve_port *p);
void serve_port_remove_handler(struct serve_port *p, struct serve_handler *h);

/* --- CFG-11 -------------------------------------------------------------- */

/* A service host must be a tagged node. Returns true when `node_has_tags`;
 * otherwise writes the refusal for `service` to `err` and returns false. */
bool serve_host_may_serve(bool node_has_tags, const char *service, char *err, size_t err_len);

#endif
