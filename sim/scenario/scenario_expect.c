/* `expect`: expectations checked after the run (reports/expect.h). An
 * entry is one class of check (never, a state, a node's new connections,
 * or a workload's bounds); a workload entry with several bounds gives one
 * check per bound. */
#include "sim/scenario/scenario_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const scenario_state_words[] = {"Pending approval", "Needs configuration",
                                                   "Connected",        "Offline",
                                                   "Pre-approved",     "Draining",
                                                   "Rejected",         NULL};

enum cmp_unit { CMP_PERCENT, CMP_DURATION, CMP_COUNT };

/* The value after the operator (p, within v's text), in `unit`. */
static bool comparison_value(struct loader *ld, const char *key, const yaml_node_t *v,
                             const char *p, enum cmp_unit unit, double *value)
{
	const char *s = scalar(v);
	char why[200];

	switch (unit) {
	case CMP_PERCENT:
		if (scenario_parse_percent(p, value, why, sizeof(why))) {
			error_at(ld, v, "%s: %s", key, why);
			return false;
		}
		if (*value > 1.0) {
			error_at(ld, v, "%s %s is above 100%%", key, p);
			return false;
		}
		return true;
	case CMP_DURATION: {
		uint64_t us;
		if (scenario_parse_duration(p, &us, why, sizeof(why))) {
			error_at(ld, v, "%s: %s", key, why);
			return false;
		}
		*value = (double)us;
		return true;
	}
	case CMP_COUNT: {
		char *end;
		if (*p < '0' || *p > '9') {
			error_at(ld, v, "%s: expected a count like 0 or \">= 10\", got '%.60s'",
			         key, s);
			return false;
		}
		errno = 0;
		unsigned long long c = strtoull(p, &end, 10);
		if (*end || errno || c > 1000000000000ull) {
			error_at(ld, v, "%s: expected a count like 0 or \">= 10\", got '%.60s'",
			         key, s);
			return false;
		}
		*value = (double)c;
		return true;
	}
	}
	return false;
}

/* "<op> value" or a plain value (==): op one of == < <= > >=. */
static bool parse_comparison(struct loader *ld, const char *key, const yaml_node_t *v,
                             enum cmp_unit unit, enum expect_cmp *cmp, double *value)
{
	static const struct {
		const char *op;
		enum expect_cmp cmp;
	} ops[] = {{">=", EXPECT_CMP_GE}, {"<=", EXPECT_CMP_LE}, {"==", EXPECT_CMP_EQ},
	           {">", EXPECT_CMP_GT},  {"<", EXPECT_CMP_LT},  {"=", EXPECT_CMP_EQ}};
	static const char *const what[] = {"a percentage", "a duration", "a count"};
	static const char *const example[] = {">= 99.9%", "< 400ms", "0"};
	const char *s = scalar(v), *p = s;
	bool bad = false;

	while (*p == ' ')
		p++;
	*cmp = EXPECT_CMP_EQ;
	if (strchr("<>=!~", *p)) {
		size_t i = 0;
		for (; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strncmp(p, ops[i].op, strlen(ops[i].op)))
				break;
		if (i == sizeof(ops) / sizeof(ops[0])) {
			bad = true;
		} else {
			*cmp = ops[i].cmp;
			p += strlen(ops[i].op);
			if (*p && strchr("<>=!~", *p))
				bad = true;
		}
		while (*p == ' ')
			p++;
		if (!*p)
			bad = true;
	}
	if (bad) {
		error_at(ld, v,
		         "bad comparison '%.60s' for '%s' (expected ==, <, <=, > or >= and %s, "
		         "like \"%s\")",
		         s, key, what[unit], example[unit]);
		return false;
	}
	return comparison_value(ld, key, v, p, unit, value);
}

static bool check_state(struct loader *ld, const yaml_node_t *v)
{
	char low[80], list[200];
	const char *lows[8];
	char lowbuf[8][40];
	size_t n = 0;

	for (; scenario_state_words[n]; n++) {
		if (!strcasecmp(scalar(v), scenario_state_words[n]))
			return true;
		snprintf(lowbuf[n], sizeof(lowbuf[n]), "%s", scenario_state_words[n]);
		for (char *c = lowbuf[n]; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		lows[n] = lowbuf[n];
	}
	snprintf(low, sizeof(low), "%s", scalar(v));
	for (char *c = low; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	ld_words_text(scenario_state_words, list, sizeof(list));
	const char *near = ld_nearest(low, lows, n);
	size_t pick = 0;
	while (near && lows[pick] != near)
		pick++;
	if (near)
		error_at(ld, v, "unknown state '%.60s' (expected %s; did you mean '%s'?)",
		         scalar(v), list, scenario_state_words[pick]);
	else
		error_at(ld, v, "unknown state '%.60s' (expected %s)", scalar(v), list);
	return false;
}

enum expect_class { CLASS_NEVER, CLASS_STATE, CLASS_NODE, CLASS_WORKLOAD, CLASS_INVARIANT };

static const char *const class_names[] = {"never", "state", "new_connections", "workload",
                                          "invariant"};

/* Which keys each class of expectation takes (bit i = expect key i). */
static const uint32_t class_keys[] = {
    [CLASS_NEVER] = 1u << EX_NEVER,
    [CLASS_STATE] = 1u << EX_SERVICE | 1u << EX_HOST | 1u << EX_STATE | 1u << EX_AT,
    [CLASS_NODE] = 1u << EX_NODE | 1u << EX_NEW_CONNECTIONS | 1u << EX_FROM | 1u << EX_TO,
    [CLASS_WORKLOAD] = 1u << EX_WORKLOAD | 1u << EX_SUCCESS_RATE | 1u << EX_P50 | 1u << EX_P90 |
                       1u << EX_P99 | 1u << EX_P999 | 1u << EX_MAX | 1u << EX_FAILOVER_TIME |
                       1u << EX_AFTER | 1u << EX_RESETS | 1u << EX_FROM | 1u << EX_TO |
                       1u << EX_THROUGHOUT | 1u << EX_EVENTUALLY,
    [CLASS_INVARIANT] = 1u << EX_INVARIANT,
};

static bool ex_time(struct loader *ld, const char *key, const yaml_node_t *v, uint64_t *out)
{
	if (!v)
		return true;
	if (!ld_get_duration(ld, key, v, SCENARIO_DURATION_MAX_US, "1 day", out))
		return false;
	if (*out > ld->sc->duration_us) {
		error_at(ld, v, "%s %s is after the end of the run (duration %llus)", key,
		         scalar(v), (unsigned long long)(ld->sc->duration_us / 1000000));
		return false;
	}
	return true;
}

static bool workload_ref(struct loader *ld, const yaml_node_t *v)
{
	struct scenario *sc = ld->sc;
	char hint[120];

	for (size_t i = 0; i < sc->n_workloads; i++)
		if (!strcmp(sc->workloads[i].name, scalar(v)))
			return true;
	const char **c = malloc(sizeof(*c) * (sc->n_workloads + 1));
	for (size_t i = 0; c && i < sc->n_workloads; i++)
		c[i] = sc->workloads[i].name;
	ld_hint_from(ld, scalar(v), c, sc->n_workloads, hint, sizeof(hint));
	free(c);
	error_at(ld, v, "unknown workload '%.80s'%s", scalar(v), hint);
	return false;
}

/* Appends one check built from `tmpl` for the comparison key k. */
static bool add_check(struct loader *ld, const struct expect *tmpl, yaml_node_t **keys,
                      yaml_node_t **vals, int k, enum expect_kind kind, enum cmp_unit unit,
                      const char *subject)
{
	struct scenario *sc = ld->sc;
	struct expect x = *tmpl;
	const char *s = scalar(vals[k]);

	if (!parse_comparison(ld, scenario_expect_keys[k].name, vals[k], unit, &x.cmp, &x.value))
		return false;
	if (sc->n_expects == SCENARIO_EXPECT_MAX) {
		error_at(ld, keys[k], "too many expectations (max %d checks)", SCENARIO_EXPECT_MAX);
		return false;
	}
	x.kind = kind;
	x.line = (unsigned)keys[k]->start_mark.line + 1;
	x.column = (unsigned)keys[k]->start_mark.column + 1;
	while (*s == ' ')
		s++;
	snprintf(x.text, sizeof(x.text), "%s %s %s%.200s", subject, scenario_expect_keys[k].name,
	         strchr("<>=", *s) ? "" : "== ", s);
	sc->expects[sc->n_expects++] = x;
	return true;
}

/* The class of an entry, from the key that names it; -1 after reporting
 * an entry that checks nothing. */
static int entry_class(struct loader *ld, const yaml_node_t *item, yaml_node_t **keys)
{
	if (keys[EX_NEVER])
		return CLASS_NEVER;
	if (keys[EX_INVARIANT])
		return CLASS_INVARIANT;
	if (keys[EX_STATE])
		return CLASS_STATE;
	if (keys[EX_NEW_CONNECTIONS])
		return CLASS_NODE;
	if (keys[EX_WORKLOAD])
		return CLASS_WORKLOAD;
	error_at(ld, item,
	         "expectation checks nothing (give a workload with success_rate, "
	         "p50, p90, p99, p999, max, failover_time or resets; a node with "
	         "new_connections; a service with state; never; or invariant)");
	return -1;
}

/* Every key given is one the class takes. */
static bool class_keys_apply(struct loader *ld, yaml_node_t **keys, enum expect_class cls)
{
	bool ok = true;

	for (int k = 0; scenario_expect_keys[k].name; k++) {
		if (keys[k] && !(class_keys[cls] & (1u << k))) {
			error_at(ld, keys[k], "'%s' does not apply to a %s expectation",
			         scenario_expect_keys[k].name, class_names[cls]);
			ok = false;
		}
	}
	return ok;
}

/* Appends a check that needs no comparison (never, state). */
static bool add_plain(struct loader *ld, const yaml_node_t *item, const struct expect *t)
{
	struct scenario *sc = ld->sc;

	if (sc->n_expects == SCENARIO_EXPECT_MAX) {
		error_at(ld, item, "too many expectations (max %d checks)", SCENARIO_EXPECT_MAX);
		return false;
	}
	sc->expects[sc->n_expects++] = *t;
	return true;
}

/* `never`: an invariant over the whole run. */
static bool load_never(struct loader *ld, const yaml_node_t *item, yaml_node_t **vals,
                       struct expect *t)
{
	if (ld_choice_ref(ld, "invariant", vals[EX_NEVER], scenario_never_words) < 0)
		return false;
	t->kind = EXPECT_NEVER_INELIGIBLE;
	snprintf(t->text, sizeof(t->text), "never: %s", scalar(vals[EX_NEVER]));
	return add_plain(ld, item, t);
}

/* `invariant`: one of explore's invariants, or all, must hold over the run
 * (judged by simrun from the events: sim/explore/invariant.h). */
static bool load_invariant(struct loader *ld, const yaml_node_t *item, yaml_node_t **vals,
                           struct expect *t)
{
	int id = ld_choice_ref(ld, "invariant", vals[EX_INVARIANT], scenario_invariant_words);

	if (id < 0)
		return false;
	t->kind = EXPECT_INVARIANT;
	t->invariants = id == SCENARIO_INVARIANTS ? (1u << SCENARIO_INVARIANTS) - 1 : 1u << id;
	snprintf(t->text, sizeof(t->text), "invariant: %s", scenario_invariant_words[id]);
	return add_plain(ld, item, t);
}

/* `state`: a service's state, or a host's state for it, at a time. */
static bool load_state(struct loader *ld, const yaml_node_t *item, yaml_node_t **keys,
                       yaml_node_t **vals, struct expect *t)
{
	uint32_t index;
	bool ok = true;

	if (!keys[EX_SERVICE] || !keys[EX_AT]) {
		error_at(ld, item, "a state expectation needs '%s'",
		         keys[EX_SERVICE] ? "at" : "service");
		return false;
	}
	if (!ld_service_ref(ld, "", vals[EX_SERVICE], scalar(vals[EX_SERVICE])))
		ok = false;
	if (vals[EX_HOST] && ld_node_ref(ld, "host: ", vals[EX_HOST], &index) < 0)
		ok = false;
	if (!check_state(ld, vals[EX_STATE]) || !ex_time(ld, "at", vals[EX_AT], &t->at_us))
		ok = false;
	if (!ok)
		return false;
	t->kind = vals[EX_HOST] ? EXPECT_HOST_STATE : EXPECT_SERVICE_STATE;
	snprintf(t->service, sizeof(t->service), "%s", scalar(vals[EX_SERVICE]));
	snprintf(t->state, sizeof(t->state), "%s", scalar(vals[EX_STATE]));
	if (vals[EX_HOST])
		snprintf(t->node, sizeof(t->node), "%s", scalar(vals[EX_HOST]));
	snprintf(t->text, sizeof(t->text), "%s%s%s state %s at %s",
	         vals[EX_HOST] ? scalar(vals[EX_HOST]) : "", vals[EX_HOST] ? " " : "", t->service,
	         t->state, scalar(vals[EX_AT]));
	return add_plain(ld, item, t);
}

/* throughout and eventually judge success_rate and percentiles only, one
 * form per entry; eventually's windows start at its own `after`. */
static bool form_keys_pair(struct loader *ld, yaml_node_t **keys, bool rates)
{
	static const int others[] = {EX_FAILOVER_TIME, EX_RESETS};
	bool ok = true;

	for (int f = EX_THROUGHOUT; f <= EX_EVENTUALLY; f++) {
		if (!keys[f])
			continue;
		if (!rates) {
			error_at(ld, keys[f],
			         "'%s' needs success_rate or a percentile (p50 .. max)",
			         scenario_expect_keys[f].name);
			ok = false;
		}
		for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
			if (keys[others[i]]) {
				error_at(
				    ld, keys[others[i]],
				    "'%s' cannot share an entry with '%s' (give it its own entry)",
				    scenario_expect_keys[others[i]].name,
				    scenario_expect_keys[f].name);
				ok = false;
			}
		}
	}
	if (keys[EX_THROUGHOUT] && keys[EX_EVENTUALLY]) {
		error_at(ld, keys[EX_EVENTUALLY],
		         "'eventually' and 'throughout' exclude each other");
		ok = false;
	}
	if (keys[EX_EVENTUALLY] && keys[EX_FROM]) {
		error_at(ld, keys[EX_FROM],
		         "'from' does not go with eventually (its windows start at its 'after')");
		ok = false;
	}
	return ok;
}

/* A workload entry's keys go together: failover_time with after, a
 * window with resets or rates, a form with rates, and at least one bound. */
static bool workload_keys_pair(struct loader *ld, const yaml_node_t *item, yaml_node_t **keys,
                               yaml_node_t **vals)
{
	bool ok = true;

	if (keys[EX_FAILOVER_TIME] && !keys[EX_AFTER]) {
		error_at(ld, keys[EX_FAILOVER_TIME],
		         "failover_time needs 'after' (the time of the fault)");
		ok = false;
	}
	if (keys[EX_AFTER] && !keys[EX_FAILOVER_TIME]) {
		error_at(ld, keys[EX_AFTER], "'after' goes with failover_time");
		ok = false;
	}
	bool rates = false;
	for (int k = EX_SUCCESS_RATE; k <= EX_MAX; k++)
		rates = rates || keys[k];
	for (int k = EX_FROM; k <= EX_TO; k++) {
		if (keys[k] && !keys[EX_RESETS] && !rates) {
			error_at(
			    ld, keys[k],
			    "'%s' goes with new_connections, resets, success_rate or a percentile",
			    scenario_expect_keys[k].name);
			ok = false;
		}
	}
	ok = form_keys_pair(ld, keys, rates) && ok;
	bool any = false;
	for (int k = EX_SUCCESS_RATE; k <= EX_RESETS; k++)
		any = any || keys[k];
	if (!any) {
		error_at(ld, item,
		         "expectation on workload '%.60s' checks nothing "
		         "(success_rate, p50, p90, p99, p999, max, failover_time or resets)",
		         vals[EX_WORKLOAD] ? scalar(vals[EX_WORKLOAD]) : "?");
		ok = false;
	}
	return ok;
}

/* The window of a node or workload entry: from, to, after, within the run. */
static bool load_window(struct loader *ld, yaml_node_t **vals, struct expect *t)
{
	bool ok = true;

	if (!ex_time(ld, "from", vals[EX_FROM], &t->from_us) ||
	    !ex_time(ld, "to", vals[EX_TO], &t->to_us) ||
	    !ex_time(ld, "after", vals[EX_AFTER], &t->after_us))
		ok = false;
	if (ok && vals[EX_FROM] && vals[EX_TO] && t->from_us > t->to_us) {
		error_at(ld, vals[EX_TO], "to %s is before from %s", scalar(vals[EX_TO]),
		         scalar(vals[EX_FROM]));
		ok = false;
	}
	return ok;
}

/* A form's window length: more than 0, within [from, end), at most
 * EXPECT_WINDOWS_MAX windows. */
static bool form_window(struct loader *ld, const char *form, const yaml_node_t *v, uint64_t from,
                        uint64_t end, uint64_t *out)
{
	if (!ld_get_duration(ld, "window", v, SCENARIO_DURATION_MAX_US, "1 day", out))
		return false;
	if (*out == 0) {
		error_at(ld, v, "%s window must be longer than 0s", form);
		return false;
	}
	if (*out > end - from) {
		error_at(ld, v, "%s window %s is longer than the %gs it judges (%gs to %gs)", form,
		         scalar(v), (double)(end - from) / 1e6, (double)from / 1e6,
		         (double)end / 1e6);
		return false;
	}
	uint64_t n = (end - from + *out - 1) / *out;
	if (n > EXPECT_WINDOWS_MAX) {
		error_at(ld, v, "%s window %s cuts %gs into %llu windows (max %d)", form, scalar(v),
		         (double)(end - from) / 1e6, (unsigned long long)n, EXPECT_WINDOWS_MAX);
		return false;
	}
	return true;
}

/* eventually's `after`: a time before the end, or last-heal. */
static bool eventually_after(struct loader *ld, const yaml_node_t *v, uint64_t end,
                             struct expect *t)
{
	static const char *const words[] = {"last-heal"};
	const char *s = v ? scalar(v) : "";
	char hint[96];

	if (!v)
		return true;
	if (!strcmp(s, "last-heal")) {
		t->after_last_heal = true;
		return true;
	}
	if (*s < '0' || *s > '9') {
		ld_did_you_mean(s, words, 1, hint, sizeof(hint));
		error_at(ld, v, "after: expected a time like 20s or last-heal, got '%.60s'%s", s,
		         hint);
		return false;
	}
	if (!ex_time(ld, "after", v, &t->after_us))
		return false;
	if (t->after_us >= end) {
		error_at(ld, v,
		         "eventually after %s leaves no time to judge (the span ends at %gs)", s,
		         (double)end / 1e6);
		return false;
	}
	return true;
}

/* `throughout` or `eventually` of a workload entry with rates (the keys
 * were paired already), and the emptiness of a rate window. */
static bool load_form(struct loader *ld, yaml_node_t **vals, struct expect *t)
{
	yaml_node_t *k2[SCENARIO_KEYS_MAX], *v2[SCENARIO_KEYS_MAX];
	uint64_t end = t->to_us == UINT64_MAX ? ld->sc->duration_us : t->to_us;

	if (vals[EX_FROM] && vals[EX_TO] && t->from_us == t->to_us) {
		error_at(ld, vals[EX_TO], "to %s equals from: the window [from, to) is empty",
		         scalar(vals[EX_TO]));
		return false;
	}
	if (vals[EX_THROUGHOUT]) {
		if (!ld_collect(ld, vals[EX_THROUGHOUT], SCENARIO_SECTION_EXPECT_THROUGHOUT,
		                " in throughout", k2, v2))
			return false;
		t->form = EXPECT_THROUGHOUT;
		return form_window(ld, "throughout", v2[THR_WINDOW], t->from_us, end,
		                   &t->window_us);
	}
	if (!vals[EX_EVENTUALLY])
		return true;
	if (!ld_collect(ld, vals[EX_EVENTUALLY], SCENARIO_SECTION_EXPECT_EVENTUALLY,
	                " in eventually", k2, v2))
		return false;
	t->form = EXPECT_EVENTUALLY;
	if (!ex_time(ld, "within", v2[EVT_WITHIN], &t->within_us) ||
	    !eventually_after(ld, v2[EVT_AFTER], end, t) ||
	    !form_window(ld, "eventually", v2[EVT_WINDOW], t->after_us, end, &t->window_us))
		return false;
	if (!t->after_last_heal && t->after_us + t->within_us > end) {
		error_at(ld, v2[EVT_WITHIN],
		         "eventually within %s after %gs ends past the span judged (%gs)",
		         scalar(v2[EVT_WITHIN]), (double)t->after_us / 1e6, (double)end / 1e6);
		return false;
	}
	return true;
}

/* The window and form of a workload entry's rate checks, for their text. */
static void form_text(yaml_node_t **vals, const struct expect *t, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (vals[EX_FROM] || vals[EX_TO])
		n += (size_t)snprintf(out, cap, " for requests started in [%s, %s)",
		                      vals[EX_FROM] ? scalar(vals[EX_FROM]) : "0s",
		                      vals[EX_TO] ? scalar(vals[EX_TO]) : "end");
	if (n >= cap)
		return;
	if (t->form == EXPECT_THROUGHOUT)
		snprintf(out + n, cap - n, " throughout (%gs windows)", (double)t->window_us / 1e6);
	else if (t->form == EXPECT_EVENTUALLY && t->after_last_heal)
		snprintf(out + n, cap - n, " eventually within %gs after last-heal (%gs windows)",
		         (double)t->within_us / 1e6, (double)t->window_us / 1e6);
	else if (t->form == EXPECT_EVENTUALLY)
		snprintf(out + n, cap - n, " eventually within %gs after %gs (%gs windows)",
		         (double)t->within_us / 1e6, (double)t->after_us / 1e6,
		         (double)t->window_us / 1e6);
}

/* `new_connections` of a node (the node is checked even when the window
 * is bad: `window_ok`). */
static bool load_node_check(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals,
                            struct expect *t, bool window_ok)
{
	uint32_t index;

	if (!vals[EX_NODE] || ld_node_ref(ld, "", vals[EX_NODE], &index) < 0 || !window_ok)
		return false;
	snprintf(t->node, sizeof(t->node), "%s", scalar(vals[EX_NODE]));
	return add_check(ld, t, keys, vals, EX_NEW_CONNECTIONS, EXPECT_NEW_CONNECTIONS, CMP_COUNT,
	                 t->node);
}

/* A workload's bounds, one check each (the workload is checked even when
 * the window is bad: `window_ok`). */
static bool load_workload_checks(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals,
                                 struct expect *t, bool window_ok)
{
	static const struct {
		int key;
		enum expect_kind kind;
		enum cmp_unit unit;
		enum expect_percentile pct;
	} checks[] = {
	    {EX_SUCCESS_RATE, EXPECT_SUCCESS_RATE, CMP_PERCENT, EXPECT_P50},
	    {EX_P50, EXPECT_LATENCY, CMP_DURATION, EXPECT_P50},
	    {EX_P90, EXPECT_LATENCY, CMP_DURATION, EXPECT_P90},
	    {EX_P99, EXPECT_LATENCY, CMP_DURATION, EXPECT_P99},
	    {EX_P999, EXPECT_LATENCY, CMP_DURATION, EXPECT_P999},
	    {EX_MAX, EXPECT_LATENCY, CMP_DURATION, EXPECT_MAX_LATENCY},
	    {EX_FAILOVER_TIME, EXPECT_FAILOVER_TIME, CMP_DURATION, EXPECT_P50},
	    {EX_RESETS, EXPECT_RESETS, CMP_COUNT, EXPECT_P50},
	};
	bool ok = true;

	if (!vals[EX_WORKLOAD] || !workload_ref(ld, vals[EX_WORKLOAD]) || !window_ok)
		return false;
	snprintf(t->workload, sizeof(t->workload), "%s", scalar(vals[EX_WORKLOAD]));
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (!vals[checks[i].key]) {
			if (keys[checks[i].key])
				ok = false;
			continue;
		}
		t->percentile = checks[i].pct;
		if (!add_check(ld, t, keys, vals, checks[i].key, checks[i].kind, checks[i].unit,
		               t->workload))
			ok = false;
	}
	return ok;
}

/* One entry: its class, the keys that class takes, then its checks. */
static bool load_expect_entry(struct loader *ld, yaml_node_t *item)
{
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, item, SCENARIO_SECTION_EXPECT, " in expectation", keys, vals);
	struct expect t = {.to_us = UINT64_MAX};
	int cls;

	pos_of(item, &t.line, &t.column);
	cls = entry_class(ld, item, keys);
	if (cls < 0)
		return false;
	if (!class_keys_apply(ld, keys, (enum expect_class)cls))
		ok = false;
	if (!ok)
		return false;
	switch ((enum expect_class)cls) {
	case CLASS_NEVER:
		return load_never(ld, item, vals, &t);
	case CLASS_INVARIANT:
		return load_invariant(ld, item, vals, &t);
	case CLASS_STATE:
		return load_state(ld, item, keys, vals, &t);
	case CLASS_NODE:
		if (!keys[EX_NODE]) {
			error_at(ld, item, "a new_connections expectation needs 'node'");
			return false;
		}
		return load_node_check(ld, keys, vals, &t, load_window(ld, vals, &t));
	case CLASS_WORKLOAD: {
		if (!workload_keys_pair(ld, item, keys, vals))
			return false;
		size_t first = ld->sc->n_expects;
		bool window_ok = load_window(ld, vals, &t) && load_form(ld, vals, &t);
		if (!load_workload_checks(ld, keys, vals, &t, window_ok))
			return false;
		char suffix[120];
		form_text(vals, &t, suffix, sizeof(suffix));
		for (size_t i = first; suffix[0] && i < ld->sc->n_expects; i++) {
			struct expect *x = &ld->sc->expects[i];
			size_t len = strlen(x->text);
			if (x->kind == EXPECT_SUCCESS_RATE || x->kind == EXPECT_LATENCY)
				snprintf(x->text + len, sizeof(x->text) - len, "%s", suffix);
		}
		return true;
	}
	}
	return false;
}

bool ld_load_expect(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_EXPECT_MAX) {
		error_at(ld, seq, "too many expectations: %zu (max %d)", n, SCENARIO_EXPECT_MAX);
		return false;
	}
	sc->expects = calloc(SCENARIO_EXPECT_MAX, sizeof(*sc->expects));
	if (!sc->expects) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (!ld_is_mapping_for(ld, item, "an expectation")) {
			ok = false;
			continue;
		}
		if (!load_expect_entry(ld, item))
			ok = false;
	}
	return ok;
}
