/* The admin command-line grammar: tokenizer, then one parser per command. */
#include "control/admin_cmd.h"

#include "lib/base/errfmt.h"
#include "lib/base/numarg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct admin_cmd_word {
	const char *name; /* one word, or two: "authkey create" */
	enum admin_cmd_kind kind;
	int min_args, max_args; /* positional words after the command */
	const char *usage;
};

static const struct admin_cmd_word admin_cmd_words[] = {
    {"define", ADMIN_CMD_DEFINE, 1, 1,
     "define svc:X [--ports=tcp:443,...] [--tags=tag:a,...] [--description=TEXT]"},
    {"delete", ADMIN_CMD_DELETE, 1, 1, "delete svc:X"},
    {"approve", ADMIN_CMD_APPROVE, 2, 2, "approve svc:X NODE"},
    {"reject", ADMIN_CMD_REJECT, 2, 2, "reject svc:X NODE"},
    {"revoke", ADMIN_CMD_REVOKE, 2, 2, "revoke svc:X NODE"},
    {"set-policy", ADMIN_CMD_SET_POLICY, 1, 1, "set-policy FILE"},
    {"set-tags", ADMIN_CMD_SET_TAGS, 2, ADMIN_CMD_MAX_WORDS, "set-tags NODE tag:a [tag:b ...]"},
    {"services", ADMIN_CMD_SERVICES, 0, 0, "services"},
    {"service", ADMIN_CMD_SERVICE, 1, 1, "service svc:X"},
    {"nodes", ADMIN_CMD_NODES, 0, 0, "nodes"},
    {"policy", ADMIN_CMD_POLICY, 0, 0, "policy"},
    {"authkeys", ADMIN_CMD_AUTHKEYS, 0, 0, "authkeys"},
    {"authkey create", ADMIN_CMD_AUTHKEY_CREATE, 0, 0,
     "authkey create [--reusable] [--expiry=24h] [--tags=tag:a,...]"},
    {"authkey revoke", ADMIN_CMD_AUTHKEY_REVOKE, 1, 1, "authkey revoke ID"},
    {"node revoke", ADMIN_CMD_NODE_REVOKE, 1, 1, "node revoke NODE"},
};

#define ADMIN_CMD_N_WORDS (sizeof(admin_cmd_words) / sizeof(admin_cmd_words[0]))

const char *admin_cmd_name(enum admin_cmd_kind kind)
{
	for (size_t i = 0; i < ADMIN_CMD_N_WORDS; i++)
		if (admin_cmd_words[i].kind == kind)
			return admin_cmd_words[i].name;
	return "none";
}

bool admin_cmd_read_only(enum admin_cmd_kind kind)
{
	return kind == ADMIN_CMD_SERVICES || kind == ADMIN_CMD_SERVICE || kind == ADMIN_CMD_NODES ||
	       kind == ADMIN_CMD_POLICY || kind == ADMIN_CMD_AUTHKEYS;
}

void admin_cmd_free(struct admin_cmd *cmd)
{
	if (!cmd)
		return;
	free(cmd->buf);
	memset(cmd, 0, sizeof(*cmd));
}

/* Levenshtein distance of two short words (capped at 32 chars each). */
static size_t admin_cmd_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t prev[33], cur[33];

	if (la > 32 || lb > 32)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

/* Splits `line` into NUL-terminated words in cmd->buf. Returns the count or
 * -errno. */
static int admin_cmd_split(struct admin_cmd *cmd, const char *line, char **words, char *err,
                           size_t err_len)
{
	size_t len = strlen(line);
	int n = 0;

	if (len > ADMIN_CMD_MAX_LINE)
		return err_setf(err, err_len, -E2BIG, "command longer than %u bytes",
		                ADMIN_CMD_MAX_LINE);
	cmd->buf = malloc(len + 1);
	if (!cmd->buf)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	char *o = cmd->buf;
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		if (n == ADMIN_CMD_MAX_WORDS)
			return err_setf(err, err_len, -E2BIG, "more than %d words",
			                ADMIN_CMD_MAX_WORDS);
		words[n++] = o;
		bool quoted = false;
		while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'))) {
			if (*p == '"') {
				quoted = !quoted;
				p++;
				continue;
			}
			if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			if ((unsigned char)*p < 0x20 && *p != '\t')
				return err_setf(err, err_len, -EINVAL,
				                "control character in word %d", n);
			*o++ = *p++;
		}
		if (quoted)
			return err_setf(err, err_len, -EINVAL, "unterminated quote in word %d", n);
		*o++ = '\0';
	}
	return n;
}

/* Splits a comma-separated option value in place into `out` (at most max). */
static int admin_cmd_list(char *value, const char *opt, const char **out, size_t max, size_t *n,
                          char *err, size_t err_len)
{
	*n = 0;
	if (!*value)
		return err_setf(err, err_len, -EINVAL, "%s needs a value", opt);
	for (char *s = value;;) {
		char *comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		if (!*s)
			return err_setf(err, err_len, -EINVAL, "%s: empty entry", opt);
		if (*n == max)
			return err_setf(err, err_len, -E2BIG, "%s: more than %zu entries", opt,
			                max);
		out[(*n)++] = s;
		if (!comma)
			break;
		s = comma + 1;
	}
	return 0;
}

static int admin_cmd_option(struct admin_cmd *cmd, char *word, char *err, size_t err_len)
{
	char *eq = strchr(word, '=');
	static const char *const opts[] = {"--ports", "--tags", "--description"};

	if (eq)
		*eq = '\0';
	const char *value = eq ? eq + 1 : NULL;
	if (strcmp(word, "--ports") == 0 || strcmp(word, "--tags") == 0 ||
	    strcmp(word, "--description") == 0) {
		if (!value)
			return err_setf(err, err_len, -EINVAL, "%s needs =VALUE", word);
	}
	if (strcmp(word, "--ports") == 0) {
		if (cmd->has_ports)
			return err_setf(err, err_len, -EINVAL, "--ports given twice");
		cmd->has_ports = true;
		return admin_cmd_list(eq + 1, word, cmd->ports, REG_MAX_PORTS, &cmd->n_ports, err,
		                      err_len);
	}
	if (strcmp(word, "--tags") == 0) {
		if (cmd->has_tags)
			return err_setf(err, err_len, -EINVAL, "--tags given twice");
		cmd->has_tags = true;
		return admin_cmd_list(eq + 1, word, cmd->tags, REG_MAX_TAGS, &cmd->n_tags, err,
		                      err_len);
	}
	if (strcmp(word, "--description") == 0) {
		if (cmd->description)
			return err_setf(err, err_len, -EINVAL, "--description given twice");
		if (strlen(value) > REG_MAX_DESC)
			return err_setf(err, err_len, -E2BIG, "--description longer than %d bytes",
			                REG_MAX_DESC);
		cmd->description = value;
		return 0;
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (admin_cmd_distance(word, opts[i]) <= 2)
			return err_setf(err, err_len, -EINVAL,
			                "unknown option \"%s\" (did you mean \"%s\"?)", word,
			                opts[i]);
	return err_setf(err, err_len, -EINVAL, "unknown option \"%s\"", word);
}

/* One of authkey create's options at words[*i]: --reusable, or --expiry
 * and --tags with "=VALUE" or the next word as value (*i moves past it). */
static int admin_cmd_authkey_option(struct admin_cmd *cmd, char **words, int n, int *i, char *err,
                                    size_t err_len)
{
	static const char *const opts[] = {"--reusable", "--expiry", "--tags"};
	char *word = words[*i], *eq = strchr(word, '='), *value;
	uint64_t us = 0;
	int rc;

	if (eq)
		*eq = '\0';
	if (strcmp(word, "--reusable") == 0) {
		if (eq)
			return err_setf(err, err_len, -EINVAL, "--reusable takes no value");
		if (cmd->reusable)
			return err_setf(err, err_len, -EINVAL, "--reusable given twice");
		cmd->reusable = true;
		return 0;
	}
	if (strcmp(word, "--expiry") != 0 && strcmp(word, "--tags") != 0) {
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (admin_cmd_distance(word, opts[k]) <= 2)
				return err_setf(err, err_len, -EINVAL,
				                "unknown option \"%s\" (did you mean \"%s\"?)",
				                word, opts[k]);
		return err_setf(err, err_len, -EINVAL,
		                "unknown option \"%s\" (authkey create takes --reusable, "
		                "--expiry, --tags)",
		                word);
	}
	if (eq) {
		value = eq + 1;
	} else {
		if (*i + 1 >= n)
			return err_setf(err, err_len, -EINVAL, "%s needs a value", word);
		value = words[++*i];
	}
	if (strcmp(word, "--tags") == 0) {
		if (cmd->has_tags)
			return err_setf(err, err_len, -EINVAL, "--tags given twice");
		cmd->has_tags = true;
		return admin_cmd_list(value, word, cmd->tags, REG_MAX_TAGS, &cmd->n_tags, err,
		                      err_len);
	}
	if (cmd->expiry_s)
		return err_setf(err, err_len, -EINVAL, "--expiry given twice");
	rc =
	    numarg_duration_us(value, 1000000, ADMIN_CMD_MAX_EXPIRY_S * 1000000, &us, err, err_len);
	if (rc == 0 && us % 1000000 != 0)
		rc = err_setf(err, err_len, -EINVAL, "finer than a second");
	if (rc < 0) {
		char why[ADMIN_CMD_ERR_LEN];
		snprintf(why, sizeof(why), "%s", err);
		return err_setf(err, err_len, -EINVAL, "bad --expiry \"%.40s\": %s", value, why);
	}
	cmd->expiry_s = us / 1000000;
	return 0;
}

/* The grammar entry words[0] (and words[1]) name, with *used the words
 * its name takes; NULL when none does. */
static const struct admin_cmd_word *admin_cmd_find(char **words, int n, int *used)
{
	for (size_t i = 0; i < ADMIN_CMD_N_WORDS; i++) {
		const char *name = admin_cmd_words[i].name, *sp = strchr(name, ' ');
		size_t first = sp ? (size_t)(sp - name) : strlen(name);

		if (strncmp(words[0], name, first) != 0 || words[0][first] != '\0')
			continue;
		if (!sp) {
			*used = 1;
			return &admin_cmd_words[i];
		}
		if (n > 1 && strcmp(words[1], sp + 1) == 0) {
			*used = 2;
			return &admin_cmd_words[i];
		}
	}
	return NULL;
}

int admin_cmd_parse(struct admin_cmd *cmd, const char *line, char *err, size_t err_len)
{
	char *words[ADMIN_CMD_MAX_WORDS];
	const struct admin_cmd_word *w = NULL;
	const char *pos[ADMIN_CMD_MAX_WORDS];
	int n, n_pos = 0, used = 0, rc;

	memset(cmd, 0, sizeof(*cmd));
	if (!line)
		return err_setf(err, err_len, -EINVAL, "empty command");
	n = admin_cmd_split(cmd, line, words, err, err_len);
	if (n < 0)
		return n;
	if (n == 0)
		return err_setf(err, err_len, -EINVAL, "empty command");
	w = admin_cmd_find(words, n, &used);
	if (!w && strcmp(words[0], "node") == 0)
		return err_setf(err, err_len, -EINVAL,
		                "node: want revoke, not %s%s%s (usage: node revoke NODE)",
		                n > 1 ? "\"" : "nothing", n > 1 ? words[1] : "", n > 1 ? "\"" : "");
	if (!w && strcmp(words[0], "authkey") == 0)
		return err_setf(
		    err, err_len, -EINVAL,
		    "authkey: want create or revoke, not %s%s%s (usage: authkey create "
		    "[--reusable] [--expiry=24h] [--tags=tag:a,...] | authkey revoke ID)",
		    n > 1 ? "\"" : "nothing", n > 1 ? words[1] : "", n > 1 ? "\"" : "");
	if (!w) {
		const char *best = NULL;
		size_t best_d = 3;
		for (size_t i = 0; i < ADMIN_CMD_N_WORDS; i++) {
			size_t d = admin_cmd_distance(words[0], admin_cmd_words[i].name);
			if (d < best_d) {
				best_d = d;
				best = admin_cmd_words[i].name;
			}
		}
		if (best)
			return err_setf(err, err_len, -EINVAL,
			                "unknown command \"%s\" (did you mean \"%s\"?)", words[0],
			                best);
		return err_setf(err, err_len, -EINVAL,
		                "unknown command \"%s\" (commands: define, delete, approve, "
		                "reject, revoke, set-policy, set-tags, services, service, nodes, "
		                "policy, authkey, authkeys, node)",
		                words[0]);
	}
	cmd->kind = w->kind;
	for (int i = used; i < n; i++) {
		if (strncmp(words[i], "--", 2) == 0 && w->kind == ADMIN_CMD_AUTHKEY_CREATE) {
			rc = admin_cmd_authkey_option(cmd, words, n, &i, err, err_len);
			if (rc < 0)
				return rc;
			continue;
		}
		if (strncmp(words[i], "--", 2) == 0) {
			if (w->kind != ADMIN_CMD_DEFINE)
				return err_setf(err, err_len, -EINVAL,
				                "unexpected option \"%s\" (usage: %s)", words[i],
				                w->usage);
			rc = admin_cmd_option(cmd, words[i], err, err_len);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n_pos == w->max_args)
			return err_setf(err, err_len, -EINVAL, "unexpected word \"%s\" (usage: %s)",
			                words[i], w->usage);
		pos[n_pos++] = words[i];
	}
	if (n_pos < w->min_args)
		return err_setf(err, err_len, -EINVAL, "%s: missing %s (usage: %s)", w->name,
		                w->kind == ADMIN_CMD_SET_POLICY       ? "FILE"
		                : w->kind == ADMIN_CMD_AUTHKEY_REVOKE ? "ID"
		                : w->kind == ADMIN_CMD_NODE_REVOKE    ? "NODE"
		                : w->kind == ADMIN_CMD_SET_TAGS ? (n_pos == 0 ? "NODE" : "a tag")
		                : n_pos == 0                    ? "svc:X"
		                                                : "NODE",
		                w->usage);
	switch (w->kind) {
	case ADMIN_CMD_SET_POLICY:
		cmd->file = pos[0];
		break;
	case ADMIN_CMD_AUTHKEY_REVOKE:
		cmd->authkey_id = pos[0];
		break;
	case ADMIN_CMD_NODE_REVOKE:
		cmd->node = pos[0];
		break;
	case ADMIN_CMD_SET_TAGS:
		if ((size_t)n_pos - 1 > REG_MAX_TAGS)
			return err_setf(err, err_len, -E2BIG, "set-tags: at most %d tags per node",
			                REG_MAX_TAGS);
		cmd->node = pos[0];
		cmd->n_tags = (size_t)n_pos - 1;
		memcpy(cmd->tags, pos + 1, cmd->n_tags * sizeof(pos[0]));
		cmd->has_tags = true;
		break;
	case ADMIN_CMD_APPROVE:
	case ADMIN_CMD_REJECT:
	case ADMIN_CMD_REVOKE:
		cmd->node = pos[1];
		/* fall through */
	case ADMIN_CMD_DEFINE:
	case ADMIN_CMD_DELETE:
	case ADMIN_CMD_SERVICE:
		cmd->service = pos[0];
		if (strncmp(cmd->service, "svc:", 4) != 0)
			return err_setf(err, err_len, -EINVAL,
			                "\"%s\" is not a service name (want svc:NAME)",
			                cmd->service);
		break;
	default:
		break;
	}
	return 0;
}
