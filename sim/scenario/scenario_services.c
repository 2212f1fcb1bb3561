/* `services`: the services an admin defines at t=0 (SVC-1 names, SVC-4
 * TCP ports, SVC-5 tags), and the port ranges admin defines use too. */
#include "sim/scenario/scenario_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "tcp:N", "tcp:N-M" (SVC-4). NULL when good, else why not. */
const char *ld_parse_port_range(const char *s, struct scenario_port_range *r)
{
	char *end;
	unsigned long a, b;

	if (!strncmp(s, "udp:", 4))
		return "services carry TCP only (SVC-4)";
	if (strncmp(s, "tcp:", 4) != 0)
		return "expected tcp:N, tcp:N-M or do-not-validate";
	s += 4;
	if (*s < '0' || *s > '9')
		return "expected tcp:N, tcp:N-M or do-not-validate";
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		s = end + 1;
		if (*s < '0' || *s > '9')
			return "expected tcp:N, tcp:N-M or do-not-validate";
		b = strtoul(s, &end, 10);
	}
	if (*end)
		return "expected tcp:N, tcp:N-M or do-not-validate";
	if (a < 1 || a > 65535 || b < 1 || b > 65535)
		return "ports are 1..65535";
	if (b < a)
		return "the range ends before it starts";
	r->first = (uint16_t)a;
	r->last = (uint16_t)b;
	return NULL;
}

/* `name`: SVC-1, unique. */
static bool service_name(struct loader *ld, const yaml_node_t *v, struct scenario_service *s)
{
	struct scenario *sc = ld->sc;
	const char *name = scalar(v);

	if (!ld_check_service_name(ld, v, name))
		return false;
	if (scenario_service_find(sc, name) >= 0) {
		error_at(ld, v, "duplicate service '%s' (first at line %u)", name,
		         sc->services[scenario_service_find(sc, name)].line);
		return false;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	return true;
}

/* `ports` (SVC-4) and their text for admin --ports=. Returns `ok` (the
 * service so far), false after a mistake; entries are checked only while
 * the service is good. */
static bool service_ports(struct loader *ld, const yaml_node_t *ports, struct scenario_service *s,
                          bool ok)
{
	char text[SCENARIO_SERVICE_PORTS_MAX * 16] = "";
	size_t tl = 0;

	if (!ld_seq_scalars(ld, "ports", ports))
		return false;
	if (seq_len(ports) > SCENARIO_SERVICE_PORTS_MAX) {
		error_at(ld, ports, "too many ports: %zu (max %d)", seq_len(ports),
		         SCENARIO_SERVICE_PORTS_MAX);
		ok = false;
	}
	for (size_t j = 0; ok && j < seq_len(ports); j++) {
		yaml_node_t *pv = seq_item(ld, ports, j);
		const char *why;
		if (!strcmp(scalar(pv), "do-not-validate")) {
			if (seq_len(ports) != 1) {
				error_at(ld, pv,
				         "do-not-validate must be the only "
				         "entry of ports");
				ok = false;
			}
			s->do_not_validate = true;
		} else if ((why = ld_parse_port_range(scalar(pv), &s->ports[s->n_ports]))) {
			error_at(ld, pv, "bad port '%.40s' in service: %s", scalar(pv), why);
			ok = false;
			continue;
		} else {
			s->n_ports++;
		}
		int w = snprintf(text + tl, sizeof(text) - tl, "%s%s", j ? "," : "", scalar(pv));
		if (w > 0 && (size_t)w < sizeof(text) - tl)
			tl += (size_t)w;
	}
	s->ports_text = ld_strdup(ld, text);
	return ok;
}

/* `tags` (SVC-5), each owned in tagOwners. Returns `ok` (the service so
 * far), false after a mistake; tags are checked only while the service is
 * good. */
static bool service_tags(struct loader *ld, const yaml_node_t *tags, struct scenario_service *s,
                         bool ok)
{
	if (!ld_seq_scalars(ld, "tags", tags))
		return false;
	if (seq_len(tags) == 0 || seq_len(tags) > SCENARIO_SERVICE_TAGS_MAX) {
		error_at(ld, tags, "a service has 1 to %d tags (SVC-5), got %zu",
		         SCENARIO_SERVICE_TAGS_MAX, seq_len(tags));
		ok = false;
	}
	for (size_t j = 0; ok && j < seq_len(tags); j++) {
		yaml_node_t *t = seq_item(ld, tags, j);
		if (!ld_check_tag(ld, t, scalar(t)))
			ok = false;
		else
			s->tags[s->n_tags++] = ld_strdup(ld, scalar(t));
	}
	return ok;
}

/* One service entry into *s. */
static bool load_service(struct loader *ld, yaml_node_t *item, struct scenario_service *s)
{
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, item, SCENARIO_SECTION_SERVICE, " in service", keys, vals);

	memset(s, 0, sizeof(*s));
	s->description = "";
	s->ports_text = "";
	pos_of(item, &s->line, &s->column);
	if (vals[SERVICE_NAME] && !service_name(ld, vals[SERVICE_NAME], s))
		ok = false;
	if (vals[SERVICE_DESCRIPTION]) {
		if (strlen(scalar(vals[SERVICE_DESCRIPTION])) > SCENARIO_DESCRIPTION_MAX) {
			error_at(ld, vals[SERVICE_DESCRIPTION],
			         "description is longer than %d bytes", SCENARIO_DESCRIPTION_MAX);
			ok = false;
		} else {
			s->description = ld_strdup(ld, scalar(vals[SERVICE_DESCRIPTION]));
		}
	}
	if (vals[SERVICE_PORTS])
		ok = service_ports(ld, vals[SERVICE_PORTS], s, ok);
	if (vals[SERVICE_TAGS])
		ok = service_tags(ld, vals[SERVICE_TAGS], s, ok);
	return ok;
}

bool ld_load_services(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_SERVICES_MAX) {
		error_at(ld, seq, "too many services: %zu (max %d)", n, SCENARIO_SERVICES_MAX);
		return false;
	}
	sc->services = calloc(n ? n : 1, sizeof(*sc->services));
	if (!sc->services) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		struct scenario_service *s = &sc->services[sc->n_services];
		if (!ld_is_mapping_for(ld, item, "a service")) {
			ok = false;
			continue;
		}
		if (!load_service(ld, item, s))
			ok = false;
		if (s->name[0]) /* keep the name known even when the rest is bad */
			sc->n_services++;
	}
	return ok;
}
