/* The list of explore fault kinds as the scenario loader's messages write
 * it ("crash, partition, ... or origin-error"), from the kinds' own names,
 * so that tests of those messages follow the menu as it grows. */
#ifndef TESTS_SUPPORT_FAULT_WORDS_H
#define TESTS_SUPPORT_FAULT_WORDS_H

#include "sim/scenario/scenario.h"

#include <stdio.h>
#include <string.h>

static inline const char *fault_words_list(char *out, size_t cap)
{
	size_t len = 0;

	out[0] = '\0';
	for (int k = 0; k < SCENARIO_FAULT_KINDS && len < cap; k++) {
		const char *sep = k == 0 ? "" : k == SCENARIO_FAULT_KINDS - 1 ? " or " : ", ";
		len += (size_t)snprintf(out + len, cap - len, "%s%s", sep,
		                        scenario_fault_kind_name((enum scenario_fault_kind)k));
	}
	return out;
}

#endif
