/* The `serve` command: tokenising a command line, parsing it into an
 * operation, applying the operation to a serve config as a whole, and
 * rendering what the command prints (SPEC CFG-1..12, L3-2).
 *
 * Pure code: no I/O, no seam calls, no process state. Used by the daemon's
 * local API, `svcctl serve ...` and scenario files (same grammar).
 *
 * Grammar (flags take `--f=V`, `--f V` or the vendor doc's `--f:V`; one or two
 * leading dashes; flags stop at the first positional argument or `--`):
 *
 *   serve --service=svc:X [--https=N|--http=N|--tcp=N|--tls-terminated-tcp=N]
 *         [--set-path=/p] [--bg] [--yes] TARGET
 *   serve --service=svc:X [same flags] [TARGET] off
 *   serve --service=svc:X --tun [off]
 *   serve drain svc:X | serve clear svc:X | serve advertise svc:X
 *   serve reset | serve status [--json]
 *
 * A leading `tailscale` or `svcctl` word is skipped by serve_cmd_parse_line.
 */
#ifndef PROXY_SERVE_SERVE_CMD_H
#define PROXY_SERVE_SERVE_CMD_H

#include "proxy/serve/serve_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_CMD_MAX_ARGS    32                          /* words in one command line */
#define SERVE_CMD_MAX_LINE    16384                       /* bytes in one command line */
#define SERVE_CMD_MAX_ARG_LEN (SERVE_MAX_TARGET_LEN + 64) /* bytes in one word */

/* The program name the printed hints use ("svcctl serve --service=..."). */
#define SERVE_CMD_PROG "svcctl"

/* A tokenised command line; argv points into buf. Plain value, no heap. */
struct serve_argv {
	int argc;
	char *argv[SERVE_CMD_MAX_ARGS + 1]; /* NULL-terminated */
	char buf[SERVE_CMD_MAX_LINE + SERVE_CMD_MAX_ARGS + 1];
};

enum serve_verb {
	SERVE_VERB_NONE = 0,
	SERVE_VERB_SET,       /* serve --service=... TARGET (or --tun) */
	SERVE_VERB_OFF,       /* serve --service=... off */
	SERVE_VERB_DRAIN,     /* serve drain svc:X */
	SERVE_VERB_CLEAR,     /* serve clear svc:X */
	SERVE_VERB_RESET,     /* serve reset */
	SERVE_VERB_ADVERTISE, /* serve advertise svc:X */
	SERVE_VERB_STATUS,    /* serve status [--json] */
};

/* One parsed command. */
struct serve_op {
	enum serve_verb verb;
	char service[SERVE_NAME_MAX + 1];     /* SET, OFF, DRAIN, CLEAR, ADVERTISE */
	enum serve_type type;                 /* SET, OFF: HTTPS unless a flag says otherwise */
	uint16_t port;                        /* SET, OFF: 443 by default; 0 with TUN */
	bool path_set;                        /* --set-path was given */
	char mount[SERVE_MAX_PATH_LEN + 1];   /* SET, OFF on web types: "/" by default */
	enum serve_handler_kind kind;         /* SET on web types */
	char value[SERVE_MAX_TARGET_LEN + 1]; /* SET: handler value, or "host:port" for TCP */
	bool json;                            /* STATUS */
	bool yes;                             /* --yes: accepted; nothing here prompts */
};

/* Splits a command line of `len` bytes into words with shell-like quoting:
 * whitespace separates, '...' is literal, "..." honours \" \\ \$ \` and
 * backslash-newline, a bare backslash quotes the next character. Refuses
 * unterminated quotes, a trailing backslash, NUL bytes and anything over
 * SERVE_CMD_MAX_LINE / _ARGS / _ARG_LEN. 0 or -EINVAL/-E2BIG with `err`. */
int serve_cmd_tokenize(const char *line, size_t len, struct serve_argv *out, char *err,
                       size_t err_len);

/* Parses argv (argv[0] must be "serve") into `*op`. Checks everything that
 * does not depend on the current config: flags, service name (SVC-1),
 * targets (CFG-3), --set-path (CFG-4), argument counts. 0 or -EINVAL/-E2BIG
 * with `err` saying what is wrong. */
int serve_cmd_parse(int argc, char *const argv[], struct serve_op *op, char *err, size_t err_len);

/* Tokenises and parses a line; a leading "tailscale" or "svcctl" is skipped. */
int serve_cmd_parse_line(const char *line, size_t len, struct serve_op *op, char *err,
                         size_t err_len);

/* Applies `op` to the config and advertisement state as a whole: the work is
 * done on a copy, swapped in only on success; on error nothing changes.
 * STATUS changes nothing. Returns 0, or -EBUSY (port/service in use by
 * another type, CFG-5/L3-2), -ENOENT (nothing to turn off/drain/clear),
 * -EINVAL (off with other flags than the original), -E2BIG (a limit),
 * -ENOMEM; `err` says what, naming the service and port. */
int serve_cmd_apply(struct serve_config *cfg, struct serve_adv *adv, const struct serve_op *op,
                    char *err, size_t err_len);

/* CFG-12: what `serve` prints after a successful SET. `approved` picks the
 * "approval from an admin is required" or "Available within your tailnet:"
 * form; `addrs` (the service's VIPs, may be NULL) are listed for TCP ports
 * when approved. Returns a malloc'd string (NULL on -ENOMEM). */
char *serve_cmd_message(const struct serve_config *cfg, const struct serve_op *op, bool approved,
                        const char *const *addrs, size_t n_addrs);

/* CFG-9: the human `serve status` form: per service (configured or
 * advertised) its advertisement state and a handler tree; "No serve
 * config\n" when there is nothing. malloc'd, NULL on -ENOMEM. */
char *serve_status_text(const struct serve_config *cfg, const struct serve_adv *adv);

#endif
