/* The underlay's shape: `regions`, `links` and the link parameters they
 * and `access` share, region references, and the warning about regions
 * nothing links. */
#include "sim/scenario/scenario_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Link parameters (a link or `access`) from collected values at the
 * given table indexes. */
/* A percentage of packets (loss, reorder, duplicate): 0..100%. */
static bool ld_get_share(struct loader *ld, const char *what, yaml_node_t *v, double *out)
{
	char why[200];
	double f;

	if (!v)
		return true;
	if (scenario_parse_percent(scalar(v), &f, why, sizeof(why))) {
		error_at(ld, v, "%s: %s", what, why);
		return false;
	}
	if (f > 1.0) {
		error_at(ld, v, "%s %s is above 100%%", what, scalar(v));
		return false;
	}
	*out = f;
	return true;
}

bool ld_get_link_params(struct loader *ld, const struct ld_link_vals *v,
                        struct scenario_link_params *out)
{
	yaml_node_t *bw = v->bandwidth;
	bool ok = true;
	char why[200];

	if (v->latency && !ld_get_duration(ld, "latency", v->latency, SCENARIO_LATENCY_MAX_US,
	                                   "10s", &out->latency_us))
		ok = false;
	if (v->jitter && !ld_get_duration(ld, "jitter", v->jitter, SCENARIO_JITTER_MAX_US, "1s",
	                                  &out->jitter_us))
		ok = false;
	if (bw) {
		uint64_t bps;
		if (scenario_parse_bandwidth(scalar(bw), &bps, why, sizeof(why))) {
			error_at(ld, bw, "bandwidth: %s", why);
			ok = false;
		} else if (bps == 0) {
			error_at(ld, bw, "bandwidth must be more than 0");
			ok = false;
		} else if (bps > SCENARIO_BANDWIDTH_MAX) {
			error_at(ld, bw, "bandwidth %s is out of range (max 400Gbps)", scalar(bw));
			ok = false;
		} else {
			out->bandwidth_bps = bps;
		}
	}
	if (!ld_get_share(ld, "loss", v->loss, &out->loss))
		ok = false;
	if (!ld_get_share(ld, "reorder", v->reorder, &out->reorder))
		ok = false;
	if (!ld_get_share(ld, "duplicate", v->duplicate, &out->duplicate))
		ok = false;
	return ok;
}

int ld_region_find(const struct scenario *sc, const char *name)
{
	for (int i = 0; i < sc->region_count; i++)
		if (!strcmp(sc->regions[i].name, name))
			return i;
	return -1;
}

/* A region reference: the index, or -1 after reporting it (with a did
 * you mean among the declared regions). */
int ld_region_ref(struct loader *ld, const yaml_node_t *v)
{
	char buf[80];

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		error_at(ld, v, "expected a region name, got %s", ld_describe(v, buf, sizeof(buf)));
		return -1;
	}
	int r = ld_region_find(ld->sc, scalar(v));
	if (r >= 0)
		return r;

	const char **names = malloc(sizeof(*names) * (size_t)(ld->sc->region_count + 1));
	char hint[96] = "";
	if (names) {
		for (int i = 0; i < ld->sc->region_count; i++)
			names[i] = ld->sc->regions[i].name;
		ld_did_you_mean(scalar(v), names, (size_t)ld->sc->region_count, hint, sizeof(hint));
		free(names);
	}
	error_at(ld, v, "unknown region '%.80s'%s", scalar(v), hint);
	return -1;
}

bool ld_load_regions(struct loader *ld, const yaml_node_t *map)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	bool ok = true;
	char buf[80];

	if (n == 0) {
		error_at(ld, map, "regions must name at least one region");
		return false;
	}
	if (n > SCENARIO_REGIONS_MAX) {
		error_at(ld, map, "too many regions: %zu (max %d)", n, SCENARIO_REGIONS_MAX);
		return false;
	}
	sc->regions = calloc(n, sizeof(*sc->regions));
	if (!sc->regions) {
		ld->oom = true;
		return false;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			error_at(ld, k, "expected a region name, got %s",
			         ld_describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		if (!ld_check_name(ld, "region name", k)) {
			ok = false;
			continue;
		}
		int dup = ld_region_find(sc, scalar(k));
		if (dup >= 0) {
			/* find the first key's line for the message */
			unsigned line = 0;
			for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
				yaml_node_t *qk = node_get(ld, q->key);
				if (qk->type == YAML_SCALAR_NODE &&
				    !strcmp(scalar(qk), scalar(k))) {
					line = (unsigned)qk->start_mark.line + 1;
					break;
				}
			}
			error_at(ld, k, "duplicate region '%s' (first at line %u)", scalar(k),
			         line);
			ok = false;
			continue;
		}
		if (v->type == YAML_MAPPING_NODE) {
			if (v->data.mapping.pairs.top != v->data.mapping.pairs.start) {
				yaml_node_t *k0 = node_get(ld, v->data.mapping.pairs.start->key);
				error_at(
				    ld, k0,
				    "unknown key '%.60s' in region '%s' (regions take no keys; "
				    "use {})",
				    k0->type == YAML_SCALAR_NODE ? scalar(k0) : "?", scalar(k));
				ok = false;
			}
		} else if (!is_null(v)) {
			error_at(ld, v, "expected a mapping ({}) for region '%s', got %s",
			         scalar(k), ld_describe(v, buf, sizeof(buf)));
			ok = false;
		}
		snprintf(sc->regions[sc->region_count].name, sizeof(sc->regions[0].name), "%s",
		         scalar(k));
		sc->region_count++;
	}
	return ok;
}

/* `between`: two regions, not the same, not linked before (first_line[i]:
 * where link i is written). */
static bool link_between(struct loader *ld, const yaml_node_t *b, struct scenario_link *link,
                         const unsigned *first_line)
{
	struct scenario *sc = ld->sc;
	size_t bn = (size_t)(b->data.sequence.items.top - b->data.sequence.items.start);

	if (bn != 2) {
		error_at(ld, b, "between must name exactly two regions, got %zu", bn);
		return false;
	}
	yaml_node_t *ra = node_get(ld, b->data.sequence.items.start[0]);
	yaml_node_t *rb = node_get(ld, b->data.sequence.items.start[1]);
	link->region_a = ld_region_ref(ld, ra);
	link->region_b = ld_region_ref(ld, rb);
	if (link->region_a < 0 || link->region_b < 0)
		return false;
	if (link->region_a == link->region_b) {
		error_at(ld, rb, "link from region '%s' to itself",
		         sc->regions[link->region_a].name);
		return false;
	}
	for (int i = 0; i < sc->link_count; i++) {
		struct scenario_link *o = &sc->links[i];
		if ((o->region_a == link->region_a && o->region_b == link->region_b) ||
		    (o->region_a == link->region_b && o->region_b == link->region_a)) {
			error_at(ld, b,
			         "duplicate link between '%s' and '%s' "
			         "(first at line %u)",
			         sc->regions[link->region_a].name, sc->regions[link->region_b].name,
			         first_line[i]);
			return false;
		}
	}
	return true;
}

bool ld_load_links(struct loader *ld, const yaml_node_t *seq,
                   const struct scenario_link_params *defaults)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	bool ok = true;
	unsigned *first_line;

	if (n > SCENARIO_LINKS_MAX) {
		error_at(ld, seq, "too many links: %zu (max %d)", n, SCENARIO_LINKS_MAX);
		return false;
	}
	sc->links = calloc(n ? n : 1, sizeof(*sc->links));
	first_line = calloc(n ? n : 1, sizeof(*first_line));
	if (!sc->links || !first_line) {
		free(first_line);
		ld->oom = true;
		return false;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node_get(ld, *it), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		if (!ld_is_mapping_for(ld, item, "a link")) {
			ok = false;
			continue;
		}
		if (!ld_collect(ld, item, SCENARIO_SECTION_LINK, " in link", keys, vals)) {
			ok = false;
			/* still check what can be checked */
		}
		struct scenario_link link = {.region_a = -1, .region_b = -1, .params = *defaults};
		bool link_ok = true;
		if (vals[LINK_BETWEEN] && !link_between(ld, vals[LINK_BETWEEN], &link, first_line))
			link_ok = false;
		struct ld_link_vals lv = {vals[LINK_LATENCY], vals[LINK_BANDWIDTH],
		                          vals[LINK_LOSS],    vals[LINK_JITTER],
		                          vals[LINK_REORDER], vals[LINK_DUPLICATE]};
		if (!ld_get_link_params(ld, &lv, &link.params))
			link_ok = false;
		if (!link_ok || !vals[LINK_BETWEEN] || !vals[LINK_LATENCY]) {
			ok = false;
			continue;
		}
		first_line[sc->link_count] = (unsigned)item->start_mark.line + 1;
		sc->links[sc->link_count++] = link;
	}
	free(first_line);
	return ok;
}

/* `access`: the default link between a node and its region router. */
bool ld_load_access(struct loader *ld, const yaml_node_t *map)
{
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, map, SCENARIO_SECTION_ACCESS, " in access", keys, vals);

	struct ld_link_vals lv = {vals[ACCESS_LATENCY], vals[ACCESS_BANDWIDTH],
	                          vals[ACCESS_LOSS],    vals[ACCESS_JITTER],
	                          vals[ACCESS_REORDER], vals[ACCESS_DUPLICATE]};

	if (!ld_get_link_params(ld, &lv, &ld->sc->access))
		ok = false;
	return ok;
}

/* `control`: the region the coordination server hangs off (checked only
 * against a good list of regions: `regions_ok`). */
bool ld_load_control(struct loader *ld, const yaml_node_t *map, bool regions_ok)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, map, SCENARIO_SECTION_CONTROL, " in control", keys, vals);

	if (regions_ok && vals[CONTROL_REGION]) {
		sc->control_region = ld_region_ref(ld, vals[CONTROL_REGION]);
		if (sc->control_region < 0) {
			sc->control_region = 0;
			ok = false;
		}
	}
	return ok;
}

/* Union-find over regions to warn about regions nothing can reach. */
static int uf_find(int *parent, int x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

void ld_warn_disconnected(struct loader *ld, const yaml_node_t *at)
{
	struct scenario *sc = ld->sc;
	int parent[SCENARIO_REGIONS_MAX];
	bool used[SCENARIO_REGIONS_MAX] = {false};

	for (int i = 0; i < sc->region_count; i++)
		parent[i] = i;
	for (int i = 0; i < sc->link_count; i++)
		parent[uf_find(parent, sc->links[i].region_a)] =
		    uf_find(parent, sc->links[i].region_b);
	for (int i = 0; i < sc->group_count; i++)
		used[sc->groups[i].region] = true;
	int first = -1;
	for (int i = 0; i < sc->region_count; i++) {
		if (!used[i])
			continue;
		if (first < 0) {
			first = i;
		} else if (uf_find(parent, i) != uf_find(parent, first)) {
			warn_at(ld, at,
			        "region '%s' has no path to region '%s' (add a link); their nodes "
			        "cannot reach each other",
			        sc->regions[i].name, sc->regions[first].name);
		}
	}
}
