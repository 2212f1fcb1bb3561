/* lib/base/list.h: pushes at either end, removal from anywhere, pops, and a
 * walk that survives unlinking the current item; a zeroed head and node
 * are an empty list and an unlinked node. */
#include "lib/base/list.h"

#include <criterion/criterion.h>

struct item {
	int v;
	struct list_node link;
};

static void expect(const struct list_head *h, const int *want, size_t n)
{
	struct list_node *it;
	size_t i = 0;

	cr_assert_eq(h->n, n);
	list_for_each(it, h)
	{
		cr_assert_lt(i, n);
		cr_assert_eq(list_item(it, struct item, link)->v, want[i], "at %zu", i);
		i++;
	}
	cr_assert_eq(i, n);
	if (n) {
		cr_assert_eq(list_item(h->first, struct item, link)->v, want[0]);
		cr_assert_eq(list_item(h->last, struct item, link)->v, want[n - 1]);
	}
}

Test(list, zeroed_head_is_empty_and_zeroed_node_unlinked)
{
	struct list_head h = {0};
	struct item a = {.v = 1};

	cr_assert(list_empty(&h));
	cr_assert_not(list_linked(&h, &a.link));
	list_remove(&h, &a.link); /* harmless */
	cr_assert_null(list_pop_front(&h));
	cr_assert_null(list_pop_back(&h));
	cr_assert_null(list_item(h.first, struct item, link));
}

Test(list, push_front_and_back_keep_their_order)
{
	struct list_head h = {0};
	struct item it[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};

	list_push_front(&h, &it[1].link);
	list_push_front(&h, &it[0].link);
	list_push_back(&h, &it[2].link);
	list_push_back(&h, &it[3].link);
	expect(&h, (int[]){0, 1, 2, 3}, 4);
	cr_assert(list_linked(&h, &it[0].link));
}

Test(list, remove_from_middle_and_ends)
{
	struct list_head h = {0};
	struct item it[5];

	for (int i = 0; i < 5; i++) {
		it[i] = (struct item){.v = i};
		list_push_back(&h, &it[i].link);
	}
	list_remove(&h, &it[2].link);
	expect(&h, (int[]){0, 1, 3, 4}, 4);
	list_remove(&h, &it[0].link);
	list_remove(&h, &it[4].link);
	expect(&h, (int[]){1, 3}, 2);
	cr_assert_not(list_linked(&h, &it[2].link));
	cr_assert_eq(list_item(list_pop_back(&h), struct item, link)->v, 3);
	cr_assert_eq(list_item(list_pop_front(&h), struct item, link)->v, 1);
	cr_assert(list_empty(&h));
	cr_assert_eq(h.n, 0);
}

Test(list, safe_walk_survives_unlinking_the_current_item)
{
	struct list_head h = {0};
	struct item it[6];
	struct list_node *n, *tmp;

	for (int i = 0; i < 6; i++) {
		it[i] = (struct item){.v = i};
		list_push_back(&h, &it[i].link);
	}
	list_for_each_safe(n, tmp, &h)
	{
		if (list_item(n, struct item, link)->v % 2 == 0)
			list_remove(&h, n);
	}
	expect(&h, (int[]){1, 3, 5}, 3);
}

Test(list, head_survives_a_move)
{
	struct list_head h = {0}, moved;
	struct item a = {.v = 7}, b = {.v = 8};

	list_push_back(&h, &a.link);
	list_push_back(&h, &b.link);
	moved = h;
	list_remove(&moved, &a.link);
	expect(&moved, (int[]){8}, 1);
}
