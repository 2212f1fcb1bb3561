/* The YAML document, composed from libyaml's parser events within limits
 * (REL-5): nesting, anchors, alias uses and the size with every alias
 * expanded are checked before the node they bound is added. */
#include "sim/scenario/scenario_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void syntax_error(struct loader *ld, const yaml_parser_t *parser)
{
	char msg[400];
	const yaml_mark_t *m = &parser->problem_mark;

	if (parser->error == YAML_MEMORY_ERROR) {
		ld->oom = true;
		return;
	}
	if (parser->context)
		snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s at line %zu column %zu)",
		         parser->problem ? parser->problem : "?", parser->context,
		         parser->context_mark.line + 1, parser->context_mark.column + 1);
	else
		snprintf(msg, sizeof(msg), "YAML syntax error: %s",
		         parser->problem ? parser->problem : "?");
	ld_diags_add(ld->diags, false, (unsigned)m->line + 1, (unsigned)m->column + 1, ld->filename,
	             msg);
}

/* ---- the document, composed from parser events within limits ---- */

/* libyaml's yaml_parser_load() builds the whole tree before anything can be
 * checked: nested aliases then expand without bound in whoever walks the
 * tree (a 1 KB "billion laughs" policy became gigabytes of JSON), and a
 * deeply nested document costs its scanner quadratic time. So the tree is
 * built here, one event at a time, and each limit is checked before the
 * node it bounds is added: nesting (SCENARIO_DEPTH_MAX), anchors and alias
 * uses, and the document's size with every alias expanded (an alias adds
 * the expanded size of what it names). An alias to a node still open is a
 * cycle and refused, so the tree is a DAG and the sizes are finite. */

struct compose_anchor {
	char name[SCENARIO_ANCHOR_NAME_MAX + 1];
	size_t len;
	int node;
	bool open;             /* its collection has not ended yet */
	unsigned line;         /* where it was defined (messages) */
	uint64_t nodes, bytes; /* what it names, aliases expanded */
};

struct compose_frame {
	int node;
	int key;               /* a mapping's key waiting for its value, 0: none */
	int anchor;            /* index into anchors, -1: none */
	uint64_t nodes, bytes; /* the collection so far, aliases expanded */
};

struct composer {
	struct loader *ld;
	yaml_document_t *doc;
	struct compose_frame stack[SCENARIO_DEPTH_MAX];
	size_t depth;
	struct compose_anchor *anchors; /* SCENARIO_ANCHORS_MAX, allocated at the first */
	size_t n_anchors, n_aliases;
	uint64_t nodes, bytes; /* the document so far, aliases expanded */
};

static void compose_error(struct composer *c, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void compose_error(struct composer *c, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld_diags_add(c->ld->diags, false, (unsigned)m->line + 1, (unsigned)m->column + 1,
	             c->ld->filename, msg);
}

/* Adds a node of expanded size (nodes, bytes) to the document's total, or
 * reports the limit it would pass (`alias`: the alias that adds it). */
static bool compose_grow(struct composer *c, const yaml_mark_t *m, uint64_t nodes, uint64_t bytes,
                         const char *alias)
{
	/* both totals stay <= their limits, and an anchor's size is part of
	 * the total: the sums cannot overflow */
	c->nodes += nodes;
	c->bytes += bytes;
	if (c->nodes <= SCENARIO_YAML_NODES_MAX && c->bytes <= SCENARIO_YAML_BYTES_MAX)
		return true;
	const char *what = c->nodes > SCENARIO_YAML_NODES_MAX ? "nodes" : "bytes of text";
	unsigned long long max = c->nodes > SCENARIO_YAML_NODES_MAX
	                             ? (unsigned long long)SCENARIO_YAML_NODES_MAX
	                             : (unsigned long long)SCENARIO_YAML_BYTES_MAX;
	if (alias)
		compose_error(c, m, "alias '*%.40s' expands the document past the limit of %llu %s",
		              alias, max, what);
	else
		compose_error(c, m, "the document passes the limit of %llu %s", max, what);
	return false;
}

/* Hangs node `id` (expanded size nodes, bytes) under the open collection,
 * or makes it the root. */
static bool compose_attach(struct composer *c, int id, uint64_t nodes, uint64_t bytes)
{
	if (c->depth == 0)
		return true; /* the root: the document's first node */
	struct compose_frame *f = &c->stack[c->depth - 1];
	f->nodes += nodes;
	f->bytes += bytes;
	yaml_node_t *parent = yaml_document_get_node(c->doc, f->node);
	CHECK(parent != NULL);
	if (parent->type == YAML_SEQUENCE_NODE)
		return yaml_document_append_sequence_item(c->doc, f->node, id) != 0;
	if (!f->key) {
		f->key = id;
		return true;
	}
	int key = f->key;
	f->key = 0;
	return yaml_document_append_mapping_pair(c->doc, f->node, key, id) != 0;
}

/* Records `&name` for node id; its index, or -1 after reporting why not. */
static int compose_anchor(struct composer *c, const yaml_char_t *name, const yaml_mark_t *m, int id,
                          bool open, uint64_t nodes, uint64_t bytes)
{
	size_t len = strlen((const char *)name);

	if (len > SCENARIO_ANCHOR_NAME_MAX) {
		compose_error(c, m, "anchor '&%.40s...' is longer than %d bytes", name,
		              SCENARIO_ANCHOR_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < c->n_anchors; i++) {
		if (c->anchors[i].len == len && !memcmp(c->anchors[i].name, name, len)) {
			compose_error(c, m, "duplicate anchor '&%s' (first at line %u)", name,
			              c->anchors[i].line);
			return -1;
		}
	}
	if (c->n_anchors == SCENARIO_ANCHORS_MAX) {
		compose_error(c, m, "more than %d anchors", SCENARIO_ANCHORS_MAX);
		return -1;
	}
	if (!c->anchors) {
		c->anchors = malloc(sizeof(*c->anchors) * SCENARIO_ANCHORS_MAX);
		if (!c->anchors) {
			c->ld->oom = true;
			return -1;
		}
	}
	struct compose_anchor *a = &c->anchors[c->n_anchors];
	memcpy(a->name, name, len + 1);
	a->len = len;
	a->node = id;
	a->open = open;
	a->line = (unsigned)m->line + 1;
	a->nodes = nodes;
	a->bytes = bytes;
	return (int)c->n_anchors++;
}

static bool compose_alias(struct composer *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	size_t len = strlen(name);
	const struct compose_anchor *a = NULL;

	if (++c->n_aliases > SCENARIO_ALIASES_MAX) {
		compose_error(c, &ev->start_mark, "more than %d alias uses", SCENARIO_ALIASES_MAX);
		return false;
	}
	for (size_t i = 0; i < c->n_anchors && !a; i++)
		if (c->anchors[i].len == len && !memcmp(c->anchors[i].name, name, len))
			a = &c->anchors[i];
	if (!a) {
		compose_error(c, &ev->start_mark, "alias '*%.80s' names no anchor before it", name);
		return false;
	}
	if (a->open) {
		compose_error(c, &ev->start_mark,
		              "alias '*%.80s' is inside the node it names (line %u): a cycle", name,
		              a->line);
		return false;
	}
	if (!compose_grow(c, &ev->start_mark, a->nodes, a->bytes, name))
		return false;
	if (!compose_attach(c, a->node, a->nodes, a->bytes)) {
		c->ld->oom = true;
		return false;
	}
	return true;
}

static void compose_marks(struct composer *c, int id, const yaml_event_t *ev)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, id);
	CHECK(n != NULL);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

static bool compose_scalar(struct composer *c, const yaml_event_t *ev)
{
	size_t len = ev->data.scalar.length;

	if (!compose_grow(c, &ev->start_mark, 1, len, NULL))
		return false;
	int id = yaml_document_add_scalar(c->doc, NULL, ev->data.scalar.value, (int)len,
	                                  ev->data.scalar.style);
	if (!id) {
		c->ld->oom = true;
		return false;
	}
	compose_marks(c, id, ev);
	if (ev->data.scalar.anchor &&
	    compose_anchor(c, ev->data.scalar.anchor, &ev->start_mark, id, false, 1, len) < 0)
		return false;
	if (!compose_attach(c, id, 1, len)) {
		c->ld->oom = true;
		return false;
	}
	return true;
}

static bool compose_open(struct composer *c, const yaml_event_t *ev)
{
	bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
	const yaml_char_t *anchor =
	    seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;

	if (c->depth == SCENARIO_DEPTH_MAX) {
		compose_error(c, &ev->start_mark, "mappings and sequences nest more than %d deep",
		              SCENARIO_DEPTH_MAX);
		return false;
	}
	if (!compose_grow(c, &ev->start_mark, 1, 0, NULL))
		return false;
	int id = seq ? yaml_document_add_sequence(c->doc, NULL, ev->data.sequence_start.style)
	             : yaml_document_add_mapping(c->doc, NULL, ev->data.mapping_start.style);
	if (!id || !compose_attach(c, id, 0, 0)) { /* its size goes up when it ends */
		c->ld->oom = true;
		return false;
	}
	compose_marks(c, id, ev);
	struct compose_frame *f = &c->stack[c->depth++];
	*f = (struct compose_frame){.node = id, .anchor = -1, .nodes = 1};
	if (anchor && (f->anchor = compose_anchor(c, anchor, &ev->start_mark, id, true, 0, 0)) < 0)
		return false;
	return true;
}

static void compose_close(struct composer *c, const yaml_event_t *ev)
{
	CHECK(c->depth > 0);
	struct compose_frame f = c->stack[--c->depth];
	yaml_node_t *n = yaml_document_get_node(c->doc, f.node);
	CHECK(n != NULL && f.key == 0);
	n->end_mark = ev->end_mark;
	if (f.anchor >= 0) {
		struct compose_anchor *a = &c->anchors[f.anchor];
		a->open = false;
		a->nodes = f.nodes;
		a->bytes = f.bytes;
	}
	if (c->depth > 0) {
		c->stack[c->depth - 1].nodes += f.nodes;
		c->stack[c->depth - 1].bytes += f.bytes;
	}
}

/* Parses the stream's first document into *doc. 1: a document (the caller
 * deletes it); 0: the stream holds none; -1: an error, reported. */
int ld_compose_document(struct loader *ld, yaml_parser_t *parser, yaml_document_t *doc)
{
	struct composer c = {.ld = ld, .doc = doc};
	bool started = false, ok = true;
	int rc = -1;

	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(parser, &ev)) {
			syntax_error(ld, parser);
			break;
		}
		yaml_event_type_t type = ev.type;
		switch (type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_NO_EVENT:
		case YAML_STREAM_END_EVENT:
			rc = 0;
			break;
		case YAML_DOCUMENT_START_EVENT:
			started = yaml_document_initialize(doc, NULL, NULL, NULL,
			                                   ev.data.document_start.implicit, 1);
			ok = started;
			if (!ok)
				ld->oom = true;
			break;
		case YAML_ALIAS_EVENT:
			ok = compose_alias(&c, &ev);
			break;
		case YAML_SCALAR_EVENT:
			ok = compose_scalar(&c, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			ok = compose_open(&c, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			compose_close(&c, &ev);
			break;
		}
		yaml_event_delete(&ev);
		if (!ok || type == YAML_STREAM_END_EVENT || type == YAML_NO_EVENT)
			break;
		if (type == YAML_DOCUMENT_END_EVENT) {
			rc = 1;
			break;
		}
	}
	if (rc != 1 && started)
		yaml_document_delete(doc);
	free(c.anchors);
	return rc;
}

/* After the document the stream must end: one document per file. */
bool ld_compose_end(struct loader *ld, yaml_parser_t *parser)
{
	yaml_event_t ev;
	bool ok = false;

	if (!yaml_parser_parse(parser, &ev)) {
		syntax_error(ld, parser);
		return false;
	}
	if (ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_NO_EVENT) {
		yaml_event_delete(&ev);
		return true;
	}
	yaml_event_delete(&ev); /* the second document's start: report its root */
	if (!yaml_parser_parse(parser, &ev)) {
		syntax_error(ld, parser);
		return false;
	}
	ld_error_pos(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
	             "only one YAML document is allowed in a scenario file");
	yaml_event_delete(&ev);
	return ok;
}
