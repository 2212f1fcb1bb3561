/* Rewriting a scenario file's text (explore_yaml.h). libyaml finds where
 * each top-level key and the values to edit lie in the text; the edits are
 * splices of that text, so everything else stays as the author wrote it.
 * A top-level section that changes (seed, explore, timeline, expect) is
 * cut from its key's line to the next top-level key's line and written
 * again: its own items verbatim (their text at their columns), the new
 * ones after them. */
#define _GNU_SOURCE /* asprintf, open_memstream */
#include "sim/explore/explore_yaml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TOP_KEYS_MAX 64
#define SPLICES_MAX  (EXPLORE_YAML_GROUPS_MAX + 8)

struct splice {
	size_t from, to;
	char *text; /* malloc'd */
};

struct top_key {
	const char *name;
	yaml_node_t *key, *value;
	size_t line_start; /* the byte where the key's line starts */
	size_t block_end;  /* where the next top-level key's line starts, or the end */
};

struct rewrite {
	const char *text;
	size_t len;
	yaml_document_t doc;
	struct top_key keys[TOP_KEYS_MAX];
	size_t n_keys;
	struct splice splices[SPLICES_MAX];
	size_t n_splices;
	char *why;
	size_t cap;
};

static size_t line_start_of(const char *text, size_t at)
{
	while (at > 0 && text[at - 1] != '\n')
		at--;
	return at;
}

static int add_splice(struct rewrite *rw, size_t from, size_t to, char *text)
{
	if (!text)
		return -ENOMEM;
	if (rw->n_splices == SPLICES_MAX) {
		free(text);
		snprintf(rw->why, rw->cap, "too many edits");
		return -EINVAL;
	}
	rw->splices[rw->n_splices++] = (struct splice){from, to, text};
	return 0;
}

static struct top_key *find_key(struct rewrite *rw, const char *name)
{
	for (size_t i = 0; i < rw->n_keys; i++)
		if (strcmp(rw->keys[i].name, name) == 0)
			return &rw->keys[i];
	return NULL;
}

static int index_keys(struct rewrite *rw)
{
	yaml_node_t *root = yaml_document_get_root_node(&rw->doc);

	if (!root || root->type != YAML_MAPPING_NODE) {
		snprintf(rw->why, rw->cap, "not a scenario (no top-level mapping)");
		return -EINVAL;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&rw->doc, p->key);
		if (!k || k->type != YAML_SCALAR_NODE || rw->n_keys == TOP_KEYS_MAX)
			continue;
		rw->keys[rw->n_keys++] =
		    (struct top_key){.name = (const char *)k->data.scalar.value,
		                     .key = k,
		                     .value = yaml_document_get_node(&rw->doc, p->value),
		                     .line_start = line_start_of(rw->text, k->start_mark.index)};
	}
	for (size_t i = 0; i < rw->n_keys; i++) {
		size_t end = rw->len;
		for (size_t j = 0; j < rw->n_keys; j++)
			if (rw->keys[j].line_start > rw->keys[i].line_start &&
			    rw->keys[j].line_start < end)
				end = rw->keys[j].line_start;
		rw->keys[i].block_end = end;
	}
	return 0;
}

/* Appends one item's source text to f at its own columns. */
static void item_verbatim(const struct rewrite *rw, const yaml_node_t *item, FILE *f)
{
	size_t from = item->start_mark.index, to = item->end_mark.index;
	size_t col = item->start_mark.column, dash = col;

	while (to > from && (rw->text[to - 1] == '\n' || rw->text[to - 1] == ' ' ||
	                     rw->text[to - 1] == '\r' || rw->text[to - 1] == '\t'))
		to--;
	/* The dash that opens the item, on its line before it. */
	size_t ls = line_start_of(rw->text, from);
	for (size_t i = from; i > ls; i--)
		if (rw->text[i - 1] == '-') {
			dash = i - 1 - ls;
			break;
		}
	if (dash + 2 > col)
		dash = col >= 2 ? col - 2 : 0;
	fprintf(f, "%*s- %*s%.*s\n", (int)dash, "", (int)(col - dash - 2), "", (int)(to - from),
	        rw->text + from);
}

/* Rewrites section `name` as a block sequence: its own items, then `add`.
 * Without the section, it is added at the end of the file. */
static int rewrite_sequence(struct rewrite *rw, const char *name, const char *const *add,
                            size_t n_add)
{
	struct top_key *k = find_key(rw, name);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f;

	if (!n_add)
		return 0;
	f = open_memstream(&buf, &blen);
	if (!f)
		return -ENOMEM;
	if (!k && rw->len && rw->text[rw->len - 1] != '\n')
		fputc('\n', f);
	fprintf(f, "%s:\n", name);
	if (k && k->value && k->value->type == YAML_SEQUENCE_NODE)
		for (yaml_node_item_t *it = k->value->data.sequence.items.start;
		     it < k->value->data.sequence.items.top; it++)
			item_verbatim(rw, yaml_document_get_node(&rw->doc, *it), f);
	for (size_t i = 0; i < n_add; i++)
		fprintf(f, "  - %s\n", add[i]);
	if (k && k->block_end < rw->len)
		fputc('\n', f); /* the blank line before the next section */
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (k)
		return add_splice(rw, k->line_start, k->block_end, buf);
	return add_splice(rw, rw->len, rw->len, buf);
}

static int rewrite_counts(struct rewrite *rw, const struct explore_yaml_edit *ed)
{
	struct top_key *k = find_key(rw, "nodes");
	size_t i = 0;

	if (!ed->n_counts)
		return 0;
	if (!k || !k->value || k->value->type != YAML_SEQUENCE_NODE) {
		snprintf(rw->why, rw->cap, "no nodes: sequence to change counts in");
		return -EINVAL;
	}
	for (yaml_node_item_t *it = k->value->data.sequence.items.start;
	     it < k->value->data.sequence.items.top && i < ed->n_counts; it++, i++) {
		yaml_node_t *g = yaml_document_get_node(&rw->doc, *it);
		if (!ed->counts[i])
			continue;
		yaml_node_t *count = NULL;
		if (g && g->type == YAML_MAPPING_NODE)
			for (yaml_node_pair_t *p = g->data.mapping.pairs.start;
			     p < g->data.mapping.pairs.top; p++) {
				yaml_node_t *pk = yaml_document_get_node(&rw->doc, p->key);
				if (pk && pk->type == YAML_SCALAR_NODE &&
				    strcmp((const char *)pk->data.scalar.value, "count") == 0)
					count = yaml_document_get_node(&rw->doc, p->value);
			}
		if (!count || count->type != YAML_SCALAR_NODE) {
			snprintf(rw->why, rw->cap, "nodes entry %zu has no count to change", i + 1);
			return -EINVAL;
		}
		char *num = NULL;
		if (asprintf(&num, "%u", ed->counts[i]) < 0)
			return -ENOMEM;
		int err = add_splice(rw, count->start_mark.index, count->end_mark.index, num);
		if (err)
			return err;
	}
	return 0;
}

static int splice_cmp(const void *x, const void *y)
{
	const struct splice *a = x, *b = y;
	return a->from < b->from ? -1 : a->from > b->from;
}

/* The text with every splice applied (they do not overlap). */
static int apply(struct rewrite *rw, char **out)
{
	char *buf = NULL;
	size_t blen = 0, at = 0;
	FILE *f = open_memstream(&buf, &blen);

	if (!f)
		return -ENOMEM;
	qsort(rw->splices, rw->n_splices, sizeof(rw->splices[0]), splice_cmp);
	for (size_t i = 0; i < rw->n_splices; i++) {
		const struct splice *s = &rw->splices[i];
		if (s->from < at) {
			fclose(f);
			free(buf);
			snprintf(rw->why, rw->cap, "overlapping edits");
			return -EINVAL;
		}
		fwrite(rw->text + at, 1, s->from - at, f);
		fputs(s->text, f);
		at = s->to;
	}
	fwrite(rw->text + at, 1, rw->len - at, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

static int rewrite_all(struct rewrite *rw, const struct explore_yaml_edit *ed, char **out)
{
	struct top_key *k;
	int err = index_keys(rw);
	char *seed = NULL;

	if (err)
		return err;
	if (asprintf(&seed, "seed: %llu\n", (unsigned long long)ed->seed) < 0)
		return -ENOMEM;
	if ((k = find_key(rw, "seed")))
		err = add_splice(rw, k->line_start, k->block_end, seed);
	else
		err = add_splice(rw, 0, 0, seed);
	if (!err && (k = find_key(rw, "explore")))
		err = add_splice(rw, k->line_start, k->block_end, strdup(""));
	if (!err)
		err = rewrite_counts(rw, ed);
	if (!err)
		err = rewrite_sequence(rw, "timeline", ed->timeline, ed->n_timeline);
	if (!err)
		err = rewrite_sequence(rw, "expect", ed->expect, ed->n_expect);
	if (!err)
		err = apply(rw, out);
	return err;
}

int explore_yaml_rewrite(const char *text, size_t len, const struct explore_yaml_edit *ed,
                         char **out, char *why, size_t cap)
{
	struct rewrite rw = {.text = text, .len = len, .why = why, .cap = cap};
	yaml_parser_t parser;
	int err;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &rw.doc)) {
		snprintf(why, cap, "line %zu: %s", parser.problem_mark.line + 1,
		         parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	err = rewrite_all(&rw, ed, out);
	for (size_t i = 0; i < rw.n_splices; i++)
		free(rw.splices[i].text);
	yaml_document_delete(&rw.doc);
	yaml_parser_delete(&parser);
	return err;
}
