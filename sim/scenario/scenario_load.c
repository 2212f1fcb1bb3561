/* The scenario loader's entry points (see scenario.h): the file read
 * within its limit, the document composed (scenario_yaml.c), the top-level
 * mapping loaded section by section in dependency order (load_top), the
 * diagnostics sorted, and the scenario freed. */
#include "control/policy.h"
#include "sim/scenario/scenario_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool tailnet_is_dns_name(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > SCENARIO_TAILNET_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || (c == '-' && label > 0);
		if (!ok)
			return false;
		label++;
	}
	return true;
}

/* name, seed, duration and tailnet; *duration_ok false when the duration
 * is bad (times elsewhere are compared with it). */
static bool load_run(struct loader *ld, yaml_node_t **vals, bool *duration_ok)
{
	struct scenario *sc = ld->sc;
	bool ok = true;

	if (vals[TOP_NAME]) {
		if (ld_check_name(ld, "name", vals[TOP_NAME]))
			snprintf(sc->name, sizeof(sc->name), "%s", scalar(vals[TOP_NAME]));
		else
			ok = false;
	}
	if (vals[TOP_SEED]) {
		long long seed;
		if (ld_get_integer(ld, "seed", vals[TOP_SEED], 1, (long long)SCENARIO_SEED_MAX,
		                   &seed))
			sc->seed = (uint64_t)seed;
		else
			ok = false;
	}
	if (vals[TOP_DURATION]) {
		if (!ld_get_duration(ld, "duration", vals[TOP_DURATION], SCENARIO_DURATION_MAX_US,
		                     "1 day", &sc->duration_us)) {
			ok = *duration_ok = false;
		} else if (sc->duration_us == 0) {
			error_at(ld, vals[TOP_DURATION], "duration must be more than 0");
			ok = *duration_ok = false;
		}
	}
	if (vals[TOP_TAILNET]) {
		if (tailnet_is_dns_name(scalar(vals[TOP_TAILNET]))) {
			snprintf(sc->tailnet, sizeof(sc->tailnet), "%s", scalar(vals[TOP_TAILNET]));
		} else {
			error_at(ld, vals[TOP_TAILNET], "tailnet '%.80s' is not a DNS name",
			         scalar(vals[TOP_TAILNET]));
			ok = false;
		}
	}
	return ok;
}

/* The whole document, section by section in the order they depend on each
 * other: regions before what names them (links, control, nodes); users and
 * the policy before nodes (their user, their tags); services and the
 * timeline's defines before what names a service; nodes and the duration
 * before workloads, the timeline and expectations. A section is checked
 * against what it names only when that is good, so one mistake is not
 * reported many times. */
static bool load_top(struct loader *ld, yaml_node_t *root)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	char buf[80];
	bool ok, duration_ok = true;

	if (root->type != YAML_MAPPING_NODE) {
		error_at(ld, root, "expected a mapping at the top level, got %s",
		         ld_describe(root, buf, sizeof(buf)));
		return false;
	}
	ok = ld_collect(ld, root, SCENARIO_SECTION_TOP, "", keys, vals);
	if (!load_run(ld, vals, &duration_ok))
		ok = false;
	bool regions_ok = vals[TOP_REGIONS] && ld_load_regions(ld, vals[TOP_REGIONS]);
	if (vals[TOP_REGIONS] && !regions_ok)
		ok = false;
	if (vals[TOP_ACCESS] && !ld_load_access(ld, vals[TOP_ACCESS]))
		ok = false;
	struct scenario_link_params link_defaults = {.bandwidth_bps = 10000000000ull};
	if (regions_ok && vals[TOP_LINKS] && !ld_load_links(ld, vals[TOP_LINKS], &link_defaults))
		ok = false;
	if (vals[TOP_CONTROL] && !ld_load_control(ld, vals[TOP_CONTROL], regions_ok))
		ok = false;
	if (vals[TOP_USERS] && !ld_load_users(ld, vals[TOP_USERS]))
		ok = false;
	ld_index_users(ld);
	if (vals[TOP_POLICY] && !ld_load_policy(ld, keys[TOP_POLICY], vals[TOP_POLICY]))
		ok = false;
	if (vals[TOP_SERVICES] && !ld_load_services(ld, vals[TOP_SERVICES]))
		ok = false;
	if (vals[TOP_TIMELINE])
		ld_scan_defines(ld, vals[TOP_TIMELINE]);
	ld_index_services(ld);
	bool nodes_ok =
	    regions_ok && vals[TOP_NODES] && ld_load_nodes(ld, keys[TOP_NODES], vals[TOP_NODES]);
	if (vals[TOP_NODES] && !nodes_ok)
		ok = false;
	if (keys[TOP_UNDERLAY_WORKLOAD] && !vals[TOP_UNDERLAY_WORKLOAD])
		ok = false;
	else if (!ld_load_underlay_workload(ld, vals[TOP_UNDERLAY_WORKLOAD], duration_ok))
		ok = false;
	/* A scenario with tailnet workloads measures those: the underlay
	 * traffic is opt-in there. */
	if (!keys[TOP_UNDERLAY_WORKLOAD] && keys[TOP_WORKLOADS])
		sc->underlay_workload.enabled = false;
	bool refs_ok = ld->nodes_ok && duration_ok;
	if (refs_ok && vals[TOP_WORKLOADS] && !ld_load_workloads(ld, vals[TOP_WORKLOADS]))
		ok = false;
	if (refs_ok && vals[TOP_TIMELINE] && !ld_load_timeline(ld, vals[TOP_TIMELINE]))
		ok = false;
	if (refs_ok && vals[TOP_EXPECT] && !ld_load_expect(ld, vals[TOP_EXPECT]))
		ok = false;
	if (refs_ok && vals[TOP_EXPLORE] && !ld_load_explore(ld, vals[TOP_EXPLORE]))
		ok = false;
	if (ok && sc->underlay_workload.enabled && sc->node_count < 2)
		warn_at(ld, keys[TOP_NODES],
		        "the underlay workload needs at least two nodes; it sends nothing");
	if (ok && regions_ok && nodes_ok)
		ld_warn_disconnected(ld, keys[TOP_LINKS] ? keys[TOP_LINKS] : keys[TOP_REGIONS]);
	return ok;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct scenario_diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return 0;
}

/* Insertion sort: stable, and at most SCENARIO_DIAGS_MAX items. */
static void diags_sort(struct scenario_diags *diags)
{
	for (size_t i = 1; i < diags->count; i++) {
		struct scenario_diag d = diags->items[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&diags->items[j - 1], &d) > 0) {
			diags->items[j] = diags->items[j - 1];
			j--;
		}
		diags->items[j] = d;
	}
}

static void scenario_defaults(struct scenario *sc)
{
	sc->seed = 1;
	sc->duration_us = 10ull * 1000000;
	snprintf(sc->tailnet, sizeof(sc->tailnet), "example.ts.net");
	sc->access.latency_us = 1000;
	sc->access.bandwidth_bps = 1000000000ull;
	sc->access.loss = 0;
	sc->underlay_workload = (struct scenario_underlay_workload){
	    .enabled = true,
	    .rate_per_s = 1.0,
	    .request_bytes = 200,
	    .response_bytes = 2000,
	    .start_us = 0,
	    .stop_us = 0, /* duration, set after parsing */
	    .port = 7000,
	};
}

int scenario_load_text(const char *text, size_t len, const char *filename, struct scenario **out,
                       struct scenario_diags *diags)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct scenario *sc;
	struct loader ld = {.filename = filename, .doc = &doc, .diags = diags};
	int err = -EINVAL;

	memset(diags, 0, sizeof(*diags));
	*out = NULL;
	if (len > SCENARIO_FILE_MAX) {
		char msg[80];
		snprintf(msg, sizeof(msg), "file is larger than %u bytes", SCENARIO_FILE_MAX);
		ld_diags_add(diags, false, 0, 0, filename, msg);
		return -EFBIG;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	scenario_defaults(sc);
	ld.sc = sc;
	if (!yaml_parser_initialize(&parser)) {
		free(sc);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc = ld_compose_document(&ld, &parser, &doc);
	if (rc < 0)
		goto out_parser;
	if (rc == 0) {
		ld_diags_add(
		    diags, false, 1, 1, filename,
		    "empty scenario file (expected a mapping with name, regions and nodes)");
		goto out_parser;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	CHECK(root != NULL);
	bool ok = load_top(&ld, root);

	if (!ld_compose_end(&ld, &parser))
		ok = false;
	if (ok && !ld.oom) {
		*out = sc;
		sc = NULL;
		err = 0;
	}
	yaml_document_delete(&doc);
	policy_free(ld.policy);
	free(ld.defined);
	free(ld.by_name);
	free(ld.services);
	free(ld.users);
out_parser:
	yaml_parser_delete(&parser);
	if (ld.oom) {
		err = -ENOMEM;
		ld_diags_add(diags, false, 0, 0, filename, "out of memory");
	}
	scenario_free(sc);
	diags_sort(diags);
	CHECK(err != -EINVAL || diags->errors > 0);
	return err;
}

int scenario_load_file(const char *path, struct scenario **out, struct scenario_diags *diags)
{
	FILE *f;
	char *buf;
	size_t n;
	int err;
	char msg[300];

	memset(diags, 0, sizeof(*diags));
	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-err));
		ld_diags_add(diags, false, 0, 0, path, msg);
		return err;
	}
	buf = malloc(SCENARIO_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, SCENARIO_FILE_MAX + 1, f);
	if (ferror(f)) {
		err = -EIO;
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
		ld_diags_add(diags, false, 0, 0, path, msg);
		goto out;
	}
	if (n > SCENARIO_FILE_MAX) {
		err = -EFBIG;
		snprintf(msg, sizeof(msg), "file is larger than %u bytes", SCENARIO_FILE_MAX);
		ld_diags_add(diags, false, 0, 0, path, msg);
		goto out;
	}
	err = scenario_load_text(buf, n, path, out, diags);
out:
	free(buf);
	fclose(f);
	return err;
}

void scenario_free(struct scenario *sc)
{
	if (!sc)
		return;
	struct list_node *n;

	while ((n = list_pop_front(&sc->strings)))
		free(list_item(n, struct scenario_chunk, link));
	free(sc->expects);
	free(sc->events);
	free(sc->workloads);
	free(sc->services);
	free(sc->policy_json);
	free(sc->users);
	for (int i = 0; sc->groups && i < sc->group_count; i++)
		free(sc->groups[i].files);
	free(sc->groups);
	free(sc->links);
	free(sc->regions);
	free(sc);
}

void scenario_diags_print(const struct scenario_diags *diags, FILE *out)
{
	for (size_t i = 0; i < diags->count; i++)
		fprintf(out, "%s\n", diags->items[i].text);
	if (diags->dropped)
		fprintf(out, "(%zu more diagnostics not shown)\n", diags->dropped);
}
