/* A seam wrapper for tests: forwards every op to an inner `struct io` and
 * keeps the structured events emitted through it, so a test can assert on
 * the events (the record of truth) as well as on behaviour. */
#ifndef TESTS_LIB_IO_IO_TAP_H
#define TESTS_LIB_IO_IO_TAP_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>

/* Events kept per tap; later ones are counted but not stored. */
#define IO_TAP_EVENTS_MAX 4096
#define IO_TAP_TYPE_MAX   48

struct io_tap_event {
	char type[IO_TAP_TYPE_MAX];
	char fields[IO_EVENT_FIELDS_MAX];
};

struct io_tap {
	struct io io; /* first: handed to the code under test */
	struct io_ops ops;
	struct io *inner;
	struct io_tap_event *events;
	size_t count, dropped;
	bool echo; /* also print events to stderr */
};

/* Wraps `inner`; returns NULL on -ENOMEM. */
struct io_tap *io_tap_new(struct io *inner);
void io_tap_free(struct io_tap *tap);
/* Events of `type` whose fields contain `needle` (NULL: any). */
size_t io_tap_count(const struct io_tap *tap, const char *type, const char *needle);
/* The last such event, or NULL. */
const struct io_tap_event *io_tap_last(const struct io_tap *tap, const char *type,
                                       const char *needle);
/* Prints every kept event to stderr (for a failing test's diagnosis). */
void io_tap_dump(const struct io_tap *tap);

#endif
