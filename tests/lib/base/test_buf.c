/* lib/base/buf.h: appends and printf build NUL-terminated text, the
 * maximum is checked before growing, errors stick until reset or take,
 * reads straight into the buffer are counted by commit, and the front of a
 * queue can be dropped. */
#include "lib/base/buf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

Test(buf, appends_and_printf_build_text)
{
	struct buf b = BUF_INIT(BUF_NO_MAX);

	cr_assert_eq(buf_puts(&b, "port "), 0);
	cr_assert_eq(buf_printf(&b, "%d/%s", 443, "tcp"), 0);
	cr_assert_eq(buf_append(&b, "!", 1), 0);
	cr_assert_eq(b.len, strlen("port 443/tcp!"));
	cr_assert_str_eq(b.data, "port 443/tcp!");
	buf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.max, BUF_NO_MAX);
}

Test(buf, grows_past_many_doublings)
{
	struct buf b = BUF_INIT(BUF_NO_MAX);

	for (int i = 0; i < 10000; i++)
		cr_assert_eq(buf_printf(&b, "%04d", i % 10000), 0);
	cr_assert_eq(b.len, 40000);
	cr_assert_eq(memcmp(b.data + 4 * 9999, "9999", 4), 0);
	cr_assert_eq(b.data[b.len], '\0');
	buf_free(&b);
}

Test(buf, maximum_is_checked_before_growth_and_the_error_sticks)
{
	struct buf b = BUF_INIT(10);

	cr_assert_eq(buf_puts(&b, "0123456789"), 0);
	cr_assert_leq(b.cap, 10);
	cr_assert_eq(buf_puts(&b, "x"), -E2BIG);
	cr_assert_eq(b.err, -E2BIG);
	cr_assert_eq(buf_puts(&b, ""), -E2BIG, "sticky");
	cr_assert_eq(b.len, 10, "nothing appended on error");
	cr_assert_null(buf_take(&b, NULL), "an errored buffer gives nothing");
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(buf_printf(&b, "%s", "0123456789abc"), -E2BIG);
	buf_reset(&b);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(buf_puts(&b, "ok"), 0);
	buf_free(&b);
}

Test(buf, take_hands_over_the_text)
{
	struct buf b = BUF_INIT(100);
	size_t len = 99;
	char *s = buf_take(&b, &len);

	cr_assert_str_eq(s, "", "an empty buffer gives an empty string");
	cr_assert_eq(len, 0);
	free(s);
	buf_puts(&b, "hello");
	s = buf_take(&b, &len);
	cr_assert_str_eq(s, "hello");
	cr_assert_eq(len, 5);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.max, 100);
	free(s);
}

Test(buf, reads_into_room_and_queue_drains_from_front)
{
	struct buf b = BUF_INIT(1000);

	cr_assert_eq(buf_reserve(&b, 8), 0);
	cr_assert_geq(buf_room(&b), 8);
	memcpy(b.data + b.len, "abcdefgh", 8);
	buf_commit(&b, 8);
	cr_assert_str_eq(b.data, "abcdefgh");
	buf_drop_front(&b, 3);
	cr_assert_str_eq(b.data, "defgh");
	cr_assert_eq(b.len, 5);
	buf_drop_front(&b, 5);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(b.data, "");
	buf_free(&b);
}

Test(buf, reserve_reaches_exactly_the_maximum)
{
	struct buf b = BUF_INIT(100);

	cr_assert_eq(buf_reserve(&b, 100), 0);
	cr_assert_eq(b.cap, 100);
	cr_assert_eq(buf_reserve(&b, 101), -E2BIG);
	buf_free(&b);
}
