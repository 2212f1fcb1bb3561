/* simrun --duration: a scenario cut to its first part (scenario.h,
 * scenario_clip). The benchmarks' smoke runs and the perf suite's counted
 * runs use it instead of editing a copy of the file's text. */
#include "sim/scenario/scenario.h"

#include <errno.h>
#include <stdio.h>

bool scenario_event_needs_tailnet(const struct scenario_event *e)
{
	return e->action != SCENARIO_ACTION_PARTITION && e->action != SCENARIO_ACTION_HEAL &&
	       e->action != SCENARIO_ACTION_LINK;
}

int scenario_clip(struct scenario *sc, uint64_t duration_us, struct scenario_clip_note *note,
                  char *why, size_t why_len)
{
	*note = (struct scenario_clip_note){0};
	if (duration_us == 0 || duration_us > sc->duration_us) {
		snprintf(why, why_len,
		         "must be more than 0 and at most the scenario's duration (%.6gs)",
		         (double)sc->duration_us / 1e6);
		return -EINVAL;
	}
	sc->duration_us = duration_us;
	/* the timeline is sorted by time: what is left is a prefix */
	size_t keep = 0;
	while (keep < sc->n_events && sc->events[keep].at_us < duration_us)
		keep++;
	note->events_dropped = sc->n_events - keep;
	for (size_t i = keep; i < sc->n_events; i++)
		sc->clipped_tailnet_action |= scenario_event_needs_tailnet(&sc->events[i]);
	sc->n_events = keep;
	for (size_t i = 0; i < sc->n_workloads; i++) {
		struct scenario_workload *w = &sc->workloads[i];
		if (w->stop_us > duration_us) {
			w->stop_us = duration_us;
			note->workloads_cut++;
		}
	}
	if (sc->underlay_workload.stop_us > duration_us)
		sc->underlay_workload.stop_us = duration_us;
	/* the invariant checker's liveness bound, as the loader sets it for a
	 * short scenario */
	if (sc->explore.settle_us >= duration_us)
		sc->explore.settle_us = duration_us / 2;
	return 0;
}
