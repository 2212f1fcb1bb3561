/* simrun: runs a scenario file in simulation.
 *
 *   simrun [--seed N] [--duration D] [--out DIR] [--pcap all|none|NODE-GLOB] [--quiet]
 *          [--check] scenario.yaml
 *
 * Builds the world (sim/world.h: a bare underlay world or a whole
 * simulated tailnet), runs it with the timeline applied at its times, then
 * writes the reports (reports/report.h) from events.jsonl and checks the
 * expectations. Exit status: 0 every expectation holds, 1 one failed (each
 * printed), 2 invalid input or a failed run. Output files depend only on
 * the scenario and the seed; wall-clock figures go to run.json, the end of
 * summary.md and the terminal only.
 *
 * A full disk: every output that could not be written completely
 * (events.jsonl, each pcap, report.json, latency.csv, the plots' data and
 * images, summary.md, index.html, run.json) is named on stderr with the
 * reason, and simrun exits 2. Without a complete events.jsonl no report
 * is written (and an earlier run's is removed: it would look current).
 */
#include "lib/base/numarg.h"
#include "sim/explore/explore.h"
#include "sim/scenario/scenario.h"
#include "sim/simrun_run.h"
#include "sim/world.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void simrun_usage(FILE *f)
{
	fprintf(f,
	        "usage: simrun [--seed N] [--duration D] [--out DIR] [--pcap all|none|NODE-GLOB]\n"
	        "              [--quiet] [--check] scenario.yaml\n"
	        "\n"
	        "Runs a scenario in simulation (ns-3) and writes\n"
	        "  DIR/reports/<name>/events.jsonl   every event, one JSON object a line\n"
	        "  DIR/reports/<name>/report.json, latency.csv, *.png, *.svg, summary.md,\n"
	        "    index.html, run.json (wall-clock facts)\n"
	        "  DIR/pcaps/<name>/<node>-underlay.pcap and <node>-tailnet.pcap\n"
	        "\n"
	        "  --seed N       override the scenario's seed (1..4294967295)\n"
	        "  --duration D   run only the first D of the scenario (5s, 500ms): later\n"
	        "                 timeline entries dropped, workloads stopped by D;\n"
	        "                 expectations judged as written\n"
	        "  --out DIR      output folder (default .)\n"
	        "  --pcap WHICH   all, none, or a glob of node names (default all; none above %d "
	        "nodes)\n"
	        "  --quiet        no progress line and no notes\n"
	        "  --keep-state   keep control's state file (reports/<name>/control-state.json)\n"
	        "  --check        validate the scenario file and exit (0 valid, 2 invalid)\n"
	        "  --help         this text\n"
	        "\n"
	        "Exit status: 0 all expectations hold, 1 an expectation failed, 2 invalid input\n"
	        "or a failed run (a timeline action that could not be carried out, unless its\n"
	        "entry says expect_error: \"TEXT\" and the reason contains TEXT).\n"
	        "Scenario keys: docs/scenario-keys.md\n",
	        WORLD_PCAP_DEFAULT_MAX_NODES);
}

/* Returns -1 to continue, or an exit status. */
static int simrun_parse_args(int argc, char **argv, struct simrun_args *a)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"out", required_argument, NULL, 'o'},
	    {"pcap", required_argument, NULL, 'p'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"check", no_argument, NULL, 'c'},
	    {"keep-state", no_argument, NULL, 'k'},
	    {"duration", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': {
			uint64_t v = 0;
			char why[128];
			if (numarg_u64(optarg, 1, SCENARIO_SEED_MAX, &v, why, sizeof(why)) < 0) {
				fprintf(stderr, "simrun: bad --seed '%s': %s\n", optarg, why);
				simrun_usage(stderr);
				return SIMRUN_EXIT_INVALID;
			}
			a->seed = v;
			a->has_seed = true;
			break;
		}
		case 'd': {
			char why[128] = "must be more than 0";
			if (scenario_parse_duration(optarg, &a->duration_us, why, sizeof(why)) <
			        0 ||
			    a->duration_us == 0) {
				fprintf(stderr, "simrun: bad --duration '%s': %s\n", optarg, why);
				simrun_usage(stderr);
				return SIMRUN_EXIT_INVALID;
			}
			break;
		}
		case 'o':
			a->out_dir = optarg;
			break;
		case 'p':
			if (world_pcap_check(optarg)) {
				fprintf(stderr, "simrun: --pcap wants all, none or a node glob\n");
				simrun_usage(stderr);
				return SIMRUN_EXIT_INVALID;
			}
			a->pcap = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'c':
			a->check = true;
			break;
		case 'k':
			a->keep_state = true;
			break;
		case 'h':
			simrun_usage(stdout);
			return SIMRUN_EXIT_OK;
		default:
			simrun_usage(stderr);
			return SIMRUN_EXIT_INVALID;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "simrun: %s\n",
		        optind >= argc ? "missing scenario file"
		                       : "exactly one scenario file expected");
		simrun_usage(stderr);
		return SIMRUN_EXIT_INVALID;
	}
	a->scenario = argv[optind];
	return -1;
}
int main(int argc, char **argv)
{
	struct simrun_args a;
	struct scenario *sc;
	struct scenario_diags diags;

	if (argc > 1 && strcmp(argv[1], "explore") == 0)
		return explore_cmd(argc - 1, argv + 1, argv[0]);
	if (argc > 1 && strcmp(argv[1], "explore-merge") == 0)
		return explore_merge_cmd(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "shrink") == 0)
		return explore_shrink_cmd(argc - 1, argv + 1, argv[0]);
	int status = simrun_parse_args(argc, argv, &a);

	if (status >= 0)
		return status;
	int err = scenario_load_file(a.scenario, &sc, &diags);
	scenario_diags_print(&diags, stderr);
	if (err) {
		if (err == -ENOMEM)
			fprintf(stderr, "simrun: out of memory\n");
		return SIMRUN_EXIT_INVALID;
	}
	if (a.has_seed)
		sc->seed = a.seed;
	if (a.duration_us) {
		struct scenario_clip_note note;
		char why[160];
		if (scenario_clip(sc, a.duration_us, &note, why, sizeof(why)) < 0) {
			fprintf(stderr, "simrun: --duration: %s\n", why);
			scenario_free(sc);
			return SIMRUN_EXIT_INVALID;
		}
		if (!a.quiet && (note.events_dropped || note.workloads_cut))
			fprintf(stderr,
			        "simrun: note: --duration %.6gs: %zu timeline entries after it "
			        "dropped, %zu workloads stopped early\n",
			        (double)a.duration_us / 1e6, note.events_dropped,
			        note.workloads_cut);
	}
	if (a.check) {
		if (!a.quiet)
			printf("%s: ok (%d regions, %d links, %u nodes)\n", a.scenario,
			       sc->region_count, sc->link_count, sc->node_count);
		scenario_free(sc);
		return SIMRUN_EXIT_OK;
	}
	status = simrun_run(&a, sc);
	scenario_free(sc);
	return status;
}
