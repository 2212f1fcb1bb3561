/* A scenario file rewritten for `simrun shrink` (EXP-3): the author's text
 * kept (comments, order, style) with only these edits: the seed set, the
 * explore: section gone, node groups' counts lowered, entries added to the
 * timeline and to expect. The result is an ordinary scenario file. */
#ifndef SIM_EXPLORE_EXPLORE_YAML_H
#define SIM_EXPLORE_EXPLORE_YAML_H

#include <stddef.h>
#include <stdint.h>

#define EXPLORE_YAML_GROUPS_MAX 1024

struct explore_yaml_edit {
	uint64_t seed;
	/* Per `nodes:` entry (file order), its new count; 0 keeps it. */
	uint32_t counts[EXPLORE_YAML_GROUPS_MAX];
	size_t n_counts;
	/* Whole sequence items, one a line, each "{...}" (flow style). */
	const char *const *timeline;
	size_t n_timeline;
	const char *const *expect;
	size_t n_expect;
};

/* The edited text (malloc'd, NUL-terminated) in *out; 0, or -EINVAL with
 * why (text that is not a scenario's top-level mapping, a count on an
 * entry with none) or -ENOMEM. */
int explore_yaml_rewrite(const char *text, size_t len, const struct explore_yaml_edit *ed,
                         char **out, char *why, size_t cap);

#endif
