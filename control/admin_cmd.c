/* The admin command-line grammar: tokenizer, then one parser per command. */
#include "control/admin_cmd.h"

#include "lib/base/errfmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct admin_cmd_word {
	const char *name;
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
	       kind == ADMIN_CMD_POLICY;
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

int admin_cmd_parse(struct admin_cmd *cmd, const char *line, char *err, size_t err_len)
{
	char *words[ADMIN_CMD_MAX_WORDS];
	const struct admin_cmd_word *w = NULL;
	const char *pos[ADMIN_CMD_MAX_WORDS];
	int n, n_pos = 0, rc;

	memset(cmd, 0, sizeof(*cmd));
	if (!line)
		return err_setf(err, err_len, -EINVAL, "empty command");
	n = admin_cmd_split(cmd, line, words, err, err_len);
	if (n < 0)
		return n;
	if (n == 0)
		return err_setf(err, err_len, -EINVAL, "empty command");
	for (size_t i = 0; i < ADMIN_CMD_N_WORDS && !w; i++)
		if (strcmp(words[0], admin_cmd_words[i].name) == 0)
			w = &admin_cmd_words[i];
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
		                "policy)",
		                words[0]);
	}
	cmd->kind = w->kind;
	for (int i = 1; i < n; i++) {
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
		                w->kind == ADMIN_CMD_SET_POLICY ? "FILE"
		                : w->kind == ADMIN_CMD_SET_TAGS ? (n_pos == 0 ? "NODE" : "a tag")
		                : n_pos == 0                    ? "svc:X"
		                                                : "NODE",
		                w->usage);
	switch (w->kind) {
	case ADMIN_CMD_SET_POLICY:
		cmd->file = pos[0];
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
