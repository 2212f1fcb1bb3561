/* The admin command-line grammar (control/control.h), parsed into a struct.
 *
 *   define svc:X [--ports=tcp:443,tcp:80] [--tags=tag:a,tag:b] [--description=TEXT]
 *   delete svc:X
 *   approve|reject|revoke svc:X NODE
 *   set-tags NODE TAG...   (1 to REG_MAX_TAGS tags; replaces the node's tags)
 *   set-policy FILE
 *   services | service svc:X | nodes | policy
 *   authkey create [--reusable] [--expiry=24h] [--tags=tag:a,tag:b]
 *   authkey revoke ID
 *   authkeys
 *
 * Words are separated by blanks; a double-quoted span (with \" and \\
 * escapes) keeps its blanks: --description="Web front end". authkey
 * create's options also take their value as the next word (--expiry 24h).
 * An expiry is a duration from now (numarg_duration_us: 90m, 24h, 3600 is
 * seconds), whole seconds, 1 s to ADMIN_CMD_MAX_EXPIRY_S; none: the key
 * never expires.
 *
 * Pure code: no I/O. Errors name the offending word
 * (`unknown command "aprove" (did you mean "approve"?)`).
 */
#ifndef CONTROL_ADMIN_CMD_H
#define CONTROL_ADMIN_CMD_H

#include "control/registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_CMD_MAX_LINE     8192
#define ADMIN_CMD_MAX_WORDS    (REG_MAX_TAGS + 8) /* set-tags NODE and its tags, and slack */
#define ADMIN_CMD_ERR_LEN      256
#define ADMIN_CMD_MAX_EXPIRY_S (3650ull * 24 * 3600) /* an auth key's: ten years */

enum admin_cmd_kind {
	ADMIN_CMD_NONE = 0,
	ADMIN_CMD_DEFINE,
	ADMIN_CMD_DELETE,
	ADMIN_CMD_APPROVE,
	ADMIN_CMD_REJECT,
	ADMIN_CMD_REVOKE,
	ADMIN_CMD_SET_POLICY,
	ADMIN_CMD_SERVICES,
	ADMIN_CMD_SERVICE,
	ADMIN_CMD_NODES,
	ADMIN_CMD_POLICY,
	ADMIN_CMD_SET_TAGS,
	ADMIN_CMD_AUTHKEYS,
	ADMIN_CMD_AUTHKEY_CREATE,
	ADMIN_CMD_AUTHKEY_REVOKE,
	ADMIN_CMD_NODE_REVOKE,
};

struct admin_cmd {
	enum admin_cmd_kind kind;
	const char *service;     /* define, delete, decisions, service */
	const char *node;        /* decisions, set-tags */
	const char *file;        /* set-policy */
	const char *description; /* define: NULL when not given */
	const char *authkey_id;  /* authkey revoke */
	bool reusable;           /* authkey create */
	uint64_t expiry_s;       /* authkey create: seconds from now; 0: never */
	bool has_ports, has_tags;
	size_t n_ports;
	const char *ports[REG_MAX_PORTS];
	size_t n_tags; /* define --tags=, set-tags, authkey create --tags */
	const char *tags[REG_MAX_TAGS];
	char *buf; /* the words, NUL-separated: every pointer above points here */
};

/* Parses `line` into `cmd` (which the caller frees with admin_cmd_free,
 * also after a failure). 0, or -EINVAL/-E2BIG/-ENOMEM with `err` naming
 * the word. */
int admin_cmd_parse(struct admin_cmd *cmd, const char *line, char *err, size_t err_len);
void admin_cmd_free(struct admin_cmd *cmd);
/* "define", "approve", "authkey create", ... */
const char *admin_cmd_name(enum admin_cmd_kind kind);
/* Read-only commands (services, service, nodes, policy, authkeys). */
bool admin_cmd_read_only(enum admin_cmd_kind kind);

#endif
