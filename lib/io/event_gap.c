/* The event-gap limiter (see event_gap.h): the first occurrence reported at
 * once, later ones counted and reported by a timer once the gap has passed. */
#include "lib/io/event_gap.h"
#include "lib/base/check.h"

static void event_gap_timer_fn(struct io_timer *timer)
{
	struct event_gap *gap = container_of(timer, struct event_gap, timer);

	if (gap->held == 0)
		return;
	uint64_t n = gap->held;
	gap->held = 0;
	gap->last_us = gap->io->ops->now_us(gap->io);
	gap->flush(gap, n);
}

void event_gap_init(struct event_gap *gap, struct io *io, uint64_t gap_us, event_gap_flush_fn flush)
{
	CHECK(gap && io && flush && gap_us > 0);
	*gap = (struct event_gap){.io = io, .flush = flush, .gap_us = gap_us};
	gap->timer.fn = event_gap_timer_fn;
}

uint64_t event_gap_note(struct event_gap *gap)
{
	uint64_t now = gap->io->ops->now_us(gap->io);

	if (!gap->written || now - gap->last_us >= gap->gap_us) {
		uint64_t n = gap->held + 1;
		gap->held = 0;
		gap->written = true;
		gap->last_us = now;
		if (io_timer_armed(&gap->timer))
			gap->io->ops->timer_disarm(gap->io, &gap->timer);
		return n;
	}
	gap->held++;
	if (!io_timer_armed(&gap->timer))
		gap->io->ops->timer_arm(gap->io, &gap->timer, gap->last_us + gap->gap_us - now);
	return 0;
}

void event_gap_stop(struct event_gap *gap)
{
	if (io_timer_armed(&gap->timer))
		gap->io->ops->timer_disarm(gap->io, &gap->timer);
	if (gap->held) {
		uint64_t n = gap->held;
		gap->held = 0;
		gap->flush(gap, n);
	}
}
