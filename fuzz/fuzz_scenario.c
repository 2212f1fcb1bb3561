/* libFuzzer target: the scenario loader (sim/scenario/scenario.h) on any bytes must
 * never crash, leak or take long (REL-5: the run's -timeout and
 * -rss_limit_mb bound each input), and either return a scenario whose
 * nodes and workloads hold together, or refuse it with diagnostics that
 * each begin `file:line:col: ` (only "out of memory" has no position). */
#include "fuzz/fuzz.h"
#include "sim/scenario/scenario.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define FZ_FILE "f.yaml"

/* "f.yaml:LINE:COL: " with LINE and COL >= 1. */
static bool fz_has_position(const char *text)
{
	const char *p = text + strlen(FZ_FILE);

	if (strncmp(text, FZ_FILE ":", strlen(FZ_FILE) + 1) != 0)
		return false;
	for (int field = 0; field < 2; field++) {
		p++;
		if (*p < '1' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p != ':')
			return false;
	}
	return p[1] == ' ' && p[2] != '\0';
}

/* A loaded scenario: each of (at most the first 2000) nodes is found by
 * its own name, and every workload's `from` matches a node. */
static void fz_check_scenario(const struct scenario *sc)
{
	char name[SCENARIO_NAME_MAX + 16];
	uint32_t index, n = sc->node_count < 2000 ? sc->node_count : 2000;

	FUZZ_ASSERT(sc->node_count >= 1 && sc->node_count <= SCENARIO_NODES_MAX);
	for (uint32_t i = 0; i < n; i++) {
		FUZZ_ASSERT(scenario_node_name(sc, i, name, sizeof(name)) != NULL);
		FUZZ_ASSERT(strlen(name) <= SCENARIO_NAME_MAX);
		FUZZ_ASSERT(scenario_node_find(sc, name, &index) == 0 && index == i);
	}
	if (sc->node_count > 2000)
		return;
	for (size_t w = 0; w < sc->n_workloads; w++) {
		bool any = false;
		for (uint32_t i = 0; i < sc->node_count && !any; i++)
			any = scenario_workload_has_client(sc, &sc->workloads[w], i);
		FUZZ_ASSERT(any);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *sc;
	struct scenario_diags d;
	int err = scenario_load_text((const char *)data, size, FZ_FILE, &sc, &d);

	FUZZ_ASSERT(d.count <= SCENARIO_DIAGS_MAX);
	for (size_t i = 0; i < d.count; i++)
		FUZZ_ASSERT(
		    fz_has_position(d.items[i].text) ||
		    (err == -ENOMEM && !strcmp(d.items[i].text, FZ_FILE ": out of memory")));
	for (size_t i = 1; i < d.count; i++) /* sorted by position */
		FUZZ_ASSERT(d.items[i - 1].line < d.items[i].line ||
		            (d.items[i - 1].line == d.items[i].line &&
		             d.items[i - 1].column <= d.items[i].column) ||
		            d.items[i].line == 0);
	if (err == 0) {
		FUZZ_ASSERT(sc != NULL && d.errors == 0);
		fz_check_scenario(sc);
		scenario_free(sc);
		return 0;
	}
	FUZZ_ASSERT(sc == NULL && (err == -EINVAL || err == -ENOMEM));
	FUZZ_ASSERT(d.errors > 0 && d.count > 0);
	return 0;
}
