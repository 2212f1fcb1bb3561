/* A limit on how often one kind of event is written: the first occurrence
 * is reported at once, later ones within `gap_us` are counted and reported
 * together (with their count) when the gap has passed. A flood (connections
 * shed by the thousand) then costs a line a second, and no occurrence goes
 * unreported: the owner's flush writes the held count from a timer.
 *
 * The owner embeds the struct, calls event_gap_init once and
 * event_gap_stop before freeing it (which reports what is still held). */
#ifndef LIB_IO_EVENT_GAP_H
#define LIB_IO_EVENT_GAP_H

#include "lib/io/io.h"

#include <stdint.h>

struct event_gap;

/* Writes one event for `count` (>= 1) occurrences. */
typedef void (*event_gap_flush_fn)(struct event_gap *gap, uint64_t count);

struct event_gap {
	struct io_timer timer;
	struct io *io;
	event_gap_flush_fn flush;
	uint64_t gap_us;
	uint64_t last_us; /* when the last event was written */
	uint64_t held;    /* occurrences since then, not yet reported */
	bool written;     /* an event was written at least once */
};

void event_gap_init(struct event_gap *gap, struct io *io, uint64_t gap_us,
                    event_gap_flush_fn flush);
/* One occurrence: returns how many occurrences the caller reports now
 * (this one and any held), or 0 when it is held for a later flush. */
uint64_t event_gap_note(struct event_gap *gap);
/* Reports what is held and disarms the timer. */
void event_gap_stop(struct event_gap *gap);

#endif
