/* Always-on checks for programmer errors (never compiled out: corrupt state
 * must stop the process, not run on), and container_of for callbacks that
 * hand back a pointer to an embedded member. */
#ifndef LIB_BASE_CHECK_H
#define LIB_BASE_CHECK_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
