/* The one intrusive doubly linked list: a struct list_node embedded in each
 * item, a struct list_head {first, last} in the owner, container_of
 * (check.h) to get from a node back to its item. NULL-terminated rather
 * than circular, so a zeroed head is an empty list, a zeroed node is
 * unlinked, and an owner holding a head may be moved (realloc'd) freely.
 * Nothing allocates; every operation is O(1). */
#ifndef LIB_BASE_LIST_H
#define LIB_BASE_LIST_H

#include "lib/base/check.h"

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev, *next; /* towards first / towards last */
};

struct list_head {
	struct list_node *first, *last;
	size_t n; /* nodes linked */
};

static inline bool list_empty(const struct list_head *h)
{
	return h->first == NULL;
}

/* Is n linked into h? (A node is in at most one list at a time.) */
static inline bool list_linked(const struct list_head *h, const struct list_node *n)
{
	return n->prev != NULL || h->first == n;
}

/* Links an unlinked node as the first of h. */
static inline void list_push_front(struct list_head *h, struct list_node *n)
{
	CHECK(!list_linked(h, n));
	n->prev = NULL;
	n->next = h->first;
	if (h->first)
		h->first->prev = n;
	else
		h->last = n;
	h->first = n;
	h->n++;
}

/* Links an unlinked node as the last of h. */
static inline void list_push_back(struct list_head *h, struct list_node *n)
{
	CHECK(!list_linked(h, n));
	n->next = NULL;
	n->prev = h->last;
	if (h->last)
		h->last->next = n;
	else
		h->first = n;
	h->last = n;
	h->n++;
}

/* Unlinks n from h; a node that is not linked is left alone. */
static inline void list_remove(struct list_head *h, struct list_node *n)
{
	if (!list_linked(h, n))
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		h->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		h->last = n->prev;
	n->prev = n->next = NULL;
	h->n--;
}

/* Unlinks and returns the first (last) node, or NULL when h is empty. */
static inline struct list_node *list_pop_front(struct list_head *h)
{
	struct list_node *n = h->first;

	if (n)
		list_remove(h, n);
	return n;
}

static inline struct list_node *list_pop_back(struct list_head *h)
{
	struct list_node *n = h->last;

	if (n)
		list_remove(h, n);
	return n;
}

/* The item holding node n (NULL for a NULL node); n is evaluated once. */
#define list_item(n, type, member)                                                                 \
	__extension__({                                                                            \
		struct list_node *list_item_n_ = (n);                                              \
		list_item_n_ ? container_of(list_item_n_, type, member) : (type *)NULL;            \
	})

/* Walks h first to last; `n` may be unlinked (and its item freed) in the
 * body, `tmp` keeps the walk going. */
#define list_for_each_safe(n, tmp, h)                                                              \
	for ((n) = (h)->first; (n) && ((tmp) = (n)->next, 1); (n) = (tmp))

/* Walks h first to last; the body must not unlink. */
#define list_for_each(n, h) for ((n) = (h)->first; (n); (n) = (n)->next)

#endif
