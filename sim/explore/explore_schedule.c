/* Drawing a random fault schedule from a scenario's `explore:` menu and a
 * seed (explore_schedule.h): the kinds a seed enables, each kind's
 * arrivals, a free target for each fault, and the faults and heals as
 * timeline entries; and writing a schedule out as YAML. */
#include "sim/explore/explore_schedule.h"

#include "lib/base/rng.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Tries at finding a target with no fault of the same kind on it. */
#define TARGET_TRIES 8
/* No admin write before the tailnet has started (see kind_first_us). */
#define EXPLORE_ADMIN_FIRST_US 2000000ull
/* How long after nothing keeps a host from control it may take to
 * register again: the daemon's reconnect backoff (MAPPROTO_RETRY_MAX_MS,
 * 5 s) plus its hello across the slowest link, with room to spare. */
#define EXPLORE_REREGISTER_US 7000000ull
/* What a link fault adds to the link's latency, at least. */
#define LINK_EXTRA_US 50000ull
/* A slow origin's delay: 1 to ORIGIN_SLOW_STEPS steps. */
#define ORIGIN_SLOW_STEP_US 50000ull
#define ORIGIN_SLOW_STEPS   40
/* A jitter fault's jitter: 1..this many ms. */
#define JITTER_MAX_MS 20

/* Uniform in (0, 1]. */
static double unit_draw(uint64_t rng[RNG_STATE_WORDS])
{
	return (double)((rng_next_u64(rng) >> 11) + 1) * 0x1p-53;
}

/* Uniform in [0, n), n > 0. */
static uint64_t below_draw(uint64_t rng[RNG_STATE_WORDS], uint64_t n)
{
	return rng_next_u64(rng) % n;
}

/* Swarm: a random non-empty subset of the menu, as a mask of kinds. */
static uint32_t enabled_kinds_draw(const struct scenario_explore *ex, uint64_t rng[RNG_STATE_WORDS])
{
	uint32_t all = (1u << ex->n_faults) - 1, pick, kinds = 0;

	do
		pick = (uint32_t)rng_next_u64(rng) & all;
	while (!pick);
	for (size_t i = 0; i < ex->n_faults; i++)
		if (pick & (1u << i))
			kinds |= 1u << ex->faults[i].kind;
	return kinds;
}

/* The first `cap` faults of one kind that start after 0 and are healed by
 * end_us, with exponential gaps at the kind's rate. */
/* The earliest a fault of `kind` starts: an admin write on a host needs
 * control to know the host, which takes the tailnet's start (registrations
 * from far regions arrive after 100 ms and more); everything else from
 * the first microsecond. */
static uint64_t kind_first_us(enum scenario_fault_kind kind)
{
	return kind == SCENARIO_FAULT_REVOKE || kind == SCENARIO_FAULT_REJECT ||
	               kind == SCENARIO_FAULT_TAGS
	           ? EXPLORE_ADMIN_FIRST_US
	           : 1;
}

static size_t arrivals_draw(const struct scenario_explore_fault *f, uint64_t end_us, size_t cap,
                            uint64_t rng[RNG_STATE_WORDS], struct explore_fault *out)
{
	double mean_gap_us = 60e6 / (double)f->rate_per_min, t = 0;
	size_t n = 0;

	while (n < cap) {
		t += -log(unit_draw(rng)) * mean_gap_us;
		if (t >= (double)end_us)
			break;
		uint64_t start = (uint64_t)t;
		uint64_t lasts = f->min_us + below_draw(rng, f->max_us - f->min_us + 1);
		if (start < kind_first_us(f->kind) || start + lasts > end_us)
			continue;
		out[n++] = (struct explore_fault){
		    .kind = f->kind, .start_us = start, .heal_us = start + lasts};
	}
	return n;
}

static int fault_cmp(const void *x, const void *y)
{
	const struct explore_fault *a = x, *b = y;

	if (a->start_us != b->start_us)
		return a->start_us < b->start_us ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->heal_us != b->heal_us)
		return a->heal_us < b->heal_us ? -1 : 1;
	return 0;
}

/* A target of f's kind, drawn among the scenario's: a node, a link (a
 * partition cuts a link's two regions apart, a link fault slows it), a
 * host, a grant, or control (0). */
static uint32_t target_draw(const struct scenario *sc, const struct explore_schedule *s,
                            enum scenario_fault_kind kind, uint64_t rng[RNG_STATE_WORDS])
{
	switch (kind) {
	case SCENARIO_FAULT_CRASH:
	case SCENARIO_FAULT_ISOLATE:
	case SCENARIO_FAULT_ACCESS:
	case SCENARIO_FAULT_PAUSE:
		return (uint32_t)below_draw(rng, sc->node_count);
	case SCENARIO_FAULT_PARTITION:
	case SCENARIO_FAULT_LINK:
	case SCENARIO_FAULT_ONE_WAY:
	case SCENARIO_FAULT_LOSS:
	case SCENARIO_FAULT_JITTER:
	case SCENARIO_FAULT_DUPLICATE:
		return (uint32_t)below_draw(rng, (uint64_t)sc->link_count);
	case SCENARIO_FAULT_REVOKE:
	case SCENARIO_FAULT_REJECT:
	case SCENARIO_FAULT_DRAIN:
	case SCENARIO_FAULT_TAGS:
		return (uint32_t)below_draw(rng, s->n_hosts);
	case SCENARIO_FAULT_GRANT:
		return (uint32_t)below_draw(rng, scenario_policy_grants(sc));
	case SCENARIO_FAULT_ORIGIN:
		return s->origins[below_draw(rng, s->n_origins)];
	case SCENARIO_FAULT_ORIGIN_SLOW:
	case SCENARIO_FAULT_ORIGIN_ERROR:
		return s->http_origins[below_draw(rng, s->n_http_origins)];
	default:
		return 0;
	}
}

/* The loss `percent` % as the loader reads it back from the YAML this
 * file writes ("%.15g%"), so a schedule and its YAML give the same
 * simulation. */
static double loss_text_value(double percent)
{
	char text[64];
	double f = 0;

	snprintf(text, sizeof(text), "%.15g%%", percent);
	scenario_parse_percent(text, &f, NULL, 0);
	return f;
}

/* A latency `base` made 2..10 times longer plus LINK_EXTRA_US, at most
 * the loader's limit. */
static uint64_t slower_draw(uint64_t base, uint64_t rng[RNG_STATE_WORDS])
{
	uint64_t lat = base * (2 + below_draw(rng, 9)) + LINK_EXTRA_US;

	return lat < SCENARIO_LATENCY_MAX_US ? lat : SCENARIO_LATENCY_MAX_US;
}

/* Kinds that act through control: while one lasts, control must be up
 * with a healthy disk for the others' actions and heals to be carried
 * out, so they take turns. */
static bool through_control(enum scenario_fault_kind kind)
{
	return kind == SCENARIO_FAULT_CONTROL_CRASH || kind == SCENARIO_FAULT_CONTROL_DISK ||
	       kind == SCENARIO_FAULT_TORN_WRITE || kind == SCENARIO_FAULT_REVOKE ||
	       kind == SCENARIO_FAULT_REJECT || kind == SCENARIO_FAULT_GRANT ||
	       kind == SCENARIO_FAULT_TAGS;
}

/* The node whose daemon a crash, pause or drain fault acts on;
 * UINT32_MAX for other kinds. */
static uint32_t daemon_node(const struct explore_schedule *s, const struct explore_fault *f)
{
	if (f->kind == SCENARIO_FAULT_CRASH || f->kind == SCENARIO_FAULT_PAUSE)
		return f->target;
	return f->kind == SCENARIO_FAULT_DRAIN ? s->hosts[f->target].node : UINT32_MAX;
}

static bool is_origin_kind(enum scenario_fault_kind kind)
{
	return kind == SCENARIO_FAULT_ORIGIN || kind == SCENARIO_FAULT_ORIGIN_SLOW ||
	       kind == SCENARIO_FAULT_ORIGIN_ERROR;
}

/* Two faults that must not overlap: the same kind on the same target,
 * two acting through control, or two of crash, pause and drain on the
 * same node's daemon (a crashed daemon cannot be paused, a paused one
 * runs no serve command, and its restart or resume would undo the
 * other's). */
static bool faults_clash(const struct explore_schedule *s, const struct explore_fault *a,
                         const struct explore_fault *b)
{
	if (a->kind == b->kind && a->target == b->target)
		return true;
	/* one origin fault at a time on a node, so that each heal undoes its own */
	if (is_origin_kind(a->kind) && is_origin_kind(b->kind) && a->target == b->target)
		return true;
	if (through_control(a->kind) && through_control(b->kind))
		return true;
	uint32_t na = daemon_node(s, a), nb = daemon_node(s, b);
	/* two drains of one node's services and two crashes stay as they were */
	if (na == UINT32_MAX || na != nb || a->kind == b->kind)
		return false;
	return true;
}

static bool is_control_action(enum scenario_action a)
{
	return a == SCENARIO_ACTION_CONTROL_CRASH || a == SCENARIO_ACTION_CONTROL_RESTART ||
	       a == SCENARIO_ACTION_CONTROL_DISK || a == SCENARIO_ACTION_CONTROL_TORN_WRITE;
}

/* Does entry e act on the same node as f's (isolate, access, origin)
 * fault? */
static bool own_node_claims(const struct scenario_event *e, const struct explore_fault *f)
{
	if (e->node != f->target)
		return false;
	switch (f->kind) {
	case SCENARIO_FAULT_ISOLATE:
		return e->action == SCENARIO_ACTION_ISOLATE || e->action == SCENARIO_ACTION_REJOIN;
	case SCENARIO_FAULT_ACCESS:
		return e->action == SCENARIO_ACTION_LINK && e->access;
	default:
		return e->action == SCENARIO_ACTION_ORIGIN_CRASH ||
		       e->action == SCENARIO_ACTION_ORIGIN_RESTART ||
		       e->action == SCENARIO_ACTION_ORIGIN_SLOW ||
		       e->action == SCENARIO_ACTION_ORIGIN_ERROR ||
		       e->action == SCENARIO_ACTION_ORIGIN_OK;
	}
}

/* Does entry e cut one way (either way) between the regions of link l? */
static bool own_one_way_claims(const struct scenario_event *e, const struct scenario_link *l)
{
	return e->one_way &&
	       (e->action == SCENARIO_ACTION_PARTITION || e->action == SCENARIO_ACTION_HEAL) &&
	       ((e->a == (uint32_t)l->region_a && e->b == (uint32_t)l->region_b) ||
	        (e->a == (uint32_t)l->region_b && e->b == (uint32_t)l->region_a));
}

/* Whether the scenario's own timeline claims f's target, so that the two
 * would clash (a restart of a node it crashed itself, a serve command on a
 * node the fault took down, a heal undoing its own partition or link
 * change, an admin action while control is down): such faults are left
 * out, and the scenario's own timeline runs as written. */
static bool own_timeline_claims(const struct scenario *sc, const struct explore_schedule *s,
                                const struct explore_fault *f)
{
	for (size_t i = 0; i < sc->n_events; i++) {
		const struct scenario_event *e = &sc->events[i];
		switch (f->kind) {
		case SCENARIO_FAULT_CRASH:
		case SCENARIO_FAULT_DRAIN:
		case SCENARIO_FAULT_PAUSE:
			if ((e->action == SCENARIO_ACTION_CRASH ||
			     e->action == SCENARIO_ACTION_RESTART ||
			     e->action == SCENARIO_ACTION_SERVE ||
			     e->action == SCENARIO_ACTION_PAUSE ||
			     e->action == SCENARIO_ACTION_RESUME) &&
			    e->node == daemon_node(s, f))
				return true;
			break;
		case SCENARIO_FAULT_ISOLATE:
		case SCENARIO_FAULT_ACCESS:
		case SCENARIO_FAULT_ORIGIN:
		case SCENARIO_FAULT_ORIGIN_SLOW:
		case SCENARIO_FAULT_ORIGIN_ERROR:
			if (own_node_claims(e, f))
				return true;
			break;
		case SCENARIO_FAULT_ONE_WAY:
			if (own_one_way_claims(e, &sc->links[f->target]))
				return true;
			break;
		case SCENARIO_FAULT_LOSS:
		case SCENARIO_FAULT_JITTER:
		case SCENARIO_FAULT_DUPLICATE:
			if (e->action == SCENARIO_ACTION_LINK && e->link == (int)f->target)
				return true;
			break;
		case SCENARIO_FAULT_PARTITION:
		case SCENARIO_FAULT_LINK: {
			const struct scenario_link *l = &sc->links[f->target];
			if (e->action == SCENARIO_ACTION_LINK && e->link == (int)f->target)
				return true;
			if ((e->action == SCENARIO_ACTION_PARTITION ||
			     e->action == SCENARIO_ACTION_HEAL) &&
			    !e->between_nodes && f->kind == SCENARIO_FAULT_PARTITION &&
			    ((e->a == (uint32_t)l->region_a && e->b == (uint32_t)l->region_b) ||
			     (e->a == (uint32_t)l->region_b && e->b == (uint32_t)l->region_a)))
				return true;
			break;
		}
		default:
			if (is_control_action(e->action))
				return true;
			/* its heal sets back the tags the scenario gives the node */
			if (f->kind == SCENARIO_FAULT_TAGS && e->action == SCENARIO_ACTION_ADMIN &&
			    e->verb == SCENARIO_ADMIN_SET_TAGS &&
			    e->host == s->hosts[f->target].node)
				return true;
			if (e->action == SCENARIO_ACTION_ADMIN && e->at_us >= f->start_us &&
			    e->at_us <= f->heal_us)
				return true;
			break;
		}
	}
	return false;
}

/* The scenario's tags of `node` as bits over s->tag_names into *mask;
 * false when it has none or one beyond them. */
static bool node_tags_mask(const struct scenario *sc, const struct explore_schedule *s,
                           uint32_t node, uint32_t *mask)
{
	char name[SCENARIO_NAME_MAX + 16];
	const struct scenario_node_group *g = scenario_node_name(sc, node, name, sizeof(name));

	*mask = 0;
	for (size_t i = 0; g && i < g->n_tags; i++) {
		size_t k = 0;
		while (k < s->n_tag_names && strcmp(s->tag_names[k], g->tags[i]) != 0)
			k++;
		if (k == s->n_tag_names)
			return false;
		*mask |= 1u << k;
	}
	return *mask != 0;
}

/* The bit of mask's k-th set bit (k < its popcount). */
static uint32_t nth_bit(uint32_t mask, uint64_t k)
{
	for (uint32_t b = 0; b < 32; b++)
		if ((mask >> b & 1u) && k-- == 0)
			return 1u << b;
	return 0;
}

/* Another owned tag set for a node carrying `cur`: one of its tags
 * dropped, a tag it lacks alone, or any 1..EXPLORE_TAGS_SET_MAX owned
 * tags; false when a few draws find none different. */
static bool tags_draw(const struct explore_schedule *s, uint32_t cur, uint64_t rng[RNG_STATE_WORDS],
                      uint32_t *out)
{
	size_t n = s->n_tag_names;
	uint32_t all = n >= 32 ? UINT32_MAX : (1u << n) - 1, m;

	for (int t = 0; n && t < TARGET_TRIES; t++) {
		int have = __builtin_popcount(cur), lack = __builtin_popcount(all & ~cur);
		switch (below_draw(rng, 3)) {
		case 0:
			m = have >= 2 ? cur & ~nth_bit(cur, below_draw(rng, (uint64_t)have)) : 0;
			break;
		case 1:
			m = lack ? nth_bit(all & ~cur, below_draw(rng, (uint64_t)lack)) : 0;
			break;
		default:
			m = 0;
			for (uint64_t k = 1 + below_draw(rng, n < EXPLORE_TAGS_SET_MAX
			                                          ? n
			                                          : EXPLORE_TAGS_SET_MAX);
			     k > 0; k--)
				m |= 1u << below_draw(rng, n);
			break;
		}
		if (m && m != cur) {
			*out = m;
			return true;
		}
	}
	return false;
}

static bool target_busy(const struct explore_schedule *s, size_t n_done,
                        const struct explore_fault *f)
{
	for (size_t i = 0; i < n_done; i++)
		if (s->faults[i].heal_us >= f->start_us && faults_clash(s, &s->faults[i], f))
			return true;
	return false;
}

/* Whether fault a may keep `node` from registering with control: control
 * down, the node's daemon down or cut off, or its region or control's cut
 * off by a partition (either way). */
static bool keeps_from_control(const struct scenario *sc, const struct explore_fault *a,
                               uint32_t node)
{
	switch (a->kind) {
	case SCENARIO_FAULT_CONTROL_CRASH:
	case SCENARIO_FAULT_TORN_WRITE:
		return true;
	case SCENARIO_FAULT_CRASH:
	case SCENARIO_FAULT_PAUSE:
	case SCENARIO_FAULT_ISOLATE:
		return a->target == node;
	case SCENARIO_FAULT_PARTITION:
	case SCENARIO_FAULT_ONE_WAY: {
		const struct scenario_link *l = &sc->links[a->target];
		char name[SCENARIO_NAME_MAX + 16];
		const struct scenario_node_group *g =
		    scenario_node_name(sc, node, name, sizeof(name));
		int r = g ? g->region : -1;
		return l->region_a == r || l->region_b == r || l->region_a == sc->control_region ||
		       l->region_b == sc->control_region;
	}
	default:
		return false;
	}
}

/* An admin write on a host (revoke, reject, tags) names it to control,
 * which knows it only once the host has registered: control loses a host
 * it never stored when it crashes, and a host cut off from the start has
 * not registered yet. So such a fault waits until every earlier fault that
 * could keep the host away has healed, and the host had time to come back. */
static bool host_maybe_unknown(const struct scenario *sc, const struct explore_schedule *s,
                               size_t n_done, const struct explore_fault *f)
{
	if (f->kind != SCENARIO_FAULT_REVOKE && f->kind != SCENARIO_FAULT_REJECT &&
	    f->kind != SCENARIO_FAULT_TAGS)
		return false;
	for (size_t i = 0; i < n_done; i++) {
		const struct explore_fault *a = &s->faults[i];
		if (a->start_us <= f->start_us &&
		    a->heal_us + EXPLORE_REREGISTER_US > f->start_us &&
		    keeps_from_control(sc, a, s->hosts[f->target].node))
			return true;
	}
	return false;
}

/* Gives f a target no fault in force clashes with; false if a few draws
 * find none (the fault is then left out). */
static bool target_assign(const struct scenario *sc, const struct explore_schedule *s,
                          size_t n_done, struct explore_fault *f, uint64_t rng[RNG_STATE_WORDS])
{
	for (int i = 0; i < TARGET_TRIES; i++) {
		f->target = target_draw(sc, s, f->kind, rng);
		if (target_busy(s, n_done, f) || own_timeline_claims(sc, s, f) ||
		    host_maybe_unknown(sc, s, n_done, f))
			continue;
		if (f->kind == SCENARIO_FAULT_LINK)
			f->latency_us = slower_draw(sc->links[f->target].params.latency_us, rng);
		if (f->kind == SCENARIO_FAULT_CONTROL_DISK)
			f->disk =
			    below_draw(rng, 2) ? SCENARIO_DISK_FSYNC_FAIL : SCENARIO_DISK_FULL;
		if (f->kind == SCENARIO_FAULT_ONE_WAY)
			f->reverse = below_draw(rng, 2);
		if (f->kind == SCENARIO_FAULT_ACCESS) {
			f->latency_us = slower_draw(sc->access.latency_us, rng);
			f->loss = loss_text_value((double)(1 + below_draw(rng, 10)));
		}
		if (f->kind == SCENARIO_FAULT_LOSS)
			f->loss = loss_text_value((double)(1 + below_draw(rng, 20)));
		if (f->kind == SCENARIO_FAULT_ORIGIN_SLOW)
			f->latency_us =
			    ORIGIN_SLOW_STEP_US * (1 + below_draw(rng, ORIGIN_SLOW_STEPS));
		if (f->kind == SCENARIO_FAULT_TAGS) {
			uint32_t cur;
			if (!node_tags_mask(sc, s, s->hosts[f->target].node, &cur) ||
			    !tags_draw(s, cur, rng, &f->tags))
				continue;
		}
		if (f->kind == SCENARIO_FAULT_JITTER) {
			f->jitter_us = (1 + below_draw(rng, JITTER_MAX_MS)) * 1000;
			f->reorder = loss_text_value((double)(1 + below_draw(rng, 10)));
		}
		if (f->kind == SCENARIO_FAULT_DUPLICATE)
			f->duplicate = loss_text_value((double)(1 + below_draw(rng, 25)));
		return true;
	}
	return false;
}

/* A string the schedule owns (events point at it); NULL when out of
 * memory. */
static const char *schedule_text(struct explore_schedule *s, char *text)
{
	char **t = text ? realloc(s->texts, (s->n_texts + 1) * sizeof(*t)) : NULL;

	if (!t) {
		free(text);
		return NULL;
	}
	s->texts = t;
	s->texts[s->n_texts++] = text;
	return text;
}

static const char *schedule_printf(struct explore_schedule *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *schedule_printf(struct explore_schedule *s, const char *fmt, ...)
{
	va_list ap, again;
	char *text = NULL;
	int n;

	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n >= 0 && (text = malloc((size_t)n + 1)))
		vsnprintf(text, (size_t)n + 1, fmt, again);
	va_end(again);
	va_end(ap);
	return schedule_text(s, text);
}

/* The scenario's policy without grant `skip`, as JSON text; NULL when out
 * of memory. */
static const char *policy_without_grant(const struct scenario *sc, struct explore_schedule *s,
                                        uint32_t skip)
{
	cJSON *p = cJSON_Parse(sc->policy_json);
	char *text = NULL;

	if (p) {
		cJSON_DeleteItemFromArray(cJSON_GetObjectItemCaseSensitive(p, "grants"), (int)skip);
		text = cJSON_PrintUnformatted(p);
		cJSON_Delete(p);
	}
	return schedule_text(s, text);
}

/* Admin and drain faults: the timeline entry that starts or heals f; false
 * when out of memory. */
static bool host_event(const struct scenario *sc, struct explore_schedule *s,
                       const struct explore_fault *f, bool heal, struct scenario_event *e)
{
	const struct scenario_host *h;
	char node[SCENARIO_NAME_MAX + 16];

	if (f->kind != SCENARIO_FAULT_GRANT && f->target >= s->n_hosts)
		return false; /* a host index from another scenario: no entry */
	h = f->kind == SCENARIO_FAULT_GRANT ? NULL : &s->hosts[f->target];
	e->user = scenario_admin_user(sc);
	if (f->kind == SCENARIO_FAULT_GRANT) {
		e->action = SCENARIO_ACTION_ADMIN;
		e->verb = SCENARIO_ADMIN_SET_POLICY;
		e->command = "set-policy";
		e->policy = heal ? sc->policy_json : policy_without_grant(sc, s, f->target);
		return e->policy != NULL;
	}
	if (f->kind == SCENARIO_FAULT_DRAIN) {
		e->action = SCENARIO_ACTION_SERVE;
		e->node = h->node;
		e->run =
		    schedule_printf(s, "serve %s %s", heal ? "advertise" : "drain", h->service);
		return e->run != NULL;
	}
	scenario_node_name(sc, h->node, node, sizeof(node));
	e->action = SCENARIO_ACTION_ADMIN;
	e->verb = heal                               ? SCENARIO_ADMIN_APPROVE
	          : f->kind == SCENARIO_FAULT_REVOKE ? SCENARIO_ADMIN_REVOKE
	                                             : SCENARIO_ADMIN_REJECT;
	e->host = h->node;
	snprintf(e->service, sizeof(e->service), "%s", h->service);
	e->command = schedule_printf(s, "%s %s %s",
	                             heal                               ? "approve"
	                             : f->kind == SCENARIO_FAULT_REVOKE ? "revoke"
	                                                                : "reject",
	                             h->service, node);
	return e->command != NULL;
}

/* A tags fault's entry: set-tags with the drawn tags, or with the
 * scenario's own for the heal; false when out of memory. */
static bool tags_event(const struct scenario *sc, struct explore_schedule *s,
                       const struct explore_fault *f, bool heal, struct scenario_event *e)
{
	if (f->target >= s->n_hosts)
		return false; /* a host index from another scenario: no entry */
	const struct scenario_host *h = &s->hosts[f->target];
	char node[SCENARIO_NAME_MAX + 16], cmd[SCENARIO_LINE_MAX];
	const struct scenario_node_group *g = scenario_node_name(sc, h->node, node, sizeof(node));
	size_t o;

	e->action = SCENARIO_ACTION_ADMIN;
	e->verb = SCENARIO_ADMIN_SET_TAGS;
	e->user = scenario_admin_user(sc);
	e->host = h->node;
	e->n_tags = 0;
	for (size_t i = 0; heal && g && i < g->n_tags; i++)
		e->tags[e->n_tags++] = g->tags[i];
	for (size_t i = 0; !heal && i < s->n_tag_names && e->n_tags < SCENARIO_NODE_TAGS_MAX; i++)
		if (f->tags >> i & 1u)
			e->tags[e->n_tags++] = s->tag_names[i];
	o = (size_t)snprintf(cmd, sizeof(cmd), "set-tags %s", node);
	for (size_t i = 0; i < e->n_tags && o < sizeof(cmd); i++)
		o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, " %s", e->tags[i]);
	e->command = schedule_printf(s, "%s", cmd);
	return e->command != NULL;
}

/* The timeline entry that starts (heal false) or heals fault f; false
 * when out of memory. */
static bool fault_event(const struct scenario *sc, struct explore_schedule *s,
                        const struct explore_fault *f, bool heal, struct scenario_event *e)
{
	*e = (struct scenario_event){
	    .at_us = heal ? f->heal_us : f->start_us, .user = -1, .link = -1};
	switch (f->kind) {
	case SCENARIO_FAULT_CRASH:
		e->action = heal ? SCENARIO_ACTION_RESTART : SCENARIO_ACTION_CRASH;
		e->node = f->target;
		break;
	case SCENARIO_FAULT_PARTITION:
		e->action = heal ? SCENARIO_ACTION_HEAL : SCENARIO_ACTION_PARTITION;
		e->a = (uint32_t)sc->links[f->target].region_a;
		e->b = (uint32_t)sc->links[f->target].region_b;
		break;
	case SCENARIO_FAULT_LINK: {
		const struct scenario_link *l = &sc->links[f->target];
		e->action = SCENARIO_ACTION_LINK;
		e->link = (int)f->target;
		e->a = (uint32_t)l->region_a;
		e->b = (uint32_t)l->region_b;
		e->set_latency = true;
		e->params = l->params;
		if (!heal)
			e->params.latency_us = f->latency_us;
		break;
	}
	case SCENARIO_FAULT_CONTROL_DISK:
		e->action = SCENARIO_ACTION_CONTROL_DISK;
		e->disk = heal ? SCENARIO_DISK_OK : f->disk;
		break;
	case SCENARIO_FAULT_ISOLATE:
		e->action = heal ? SCENARIO_ACTION_REJOIN : SCENARIO_ACTION_ISOLATE;
		e->node = f->target;
		break;
	case SCENARIO_FAULT_ORIGIN:
		e->action = heal ? SCENARIO_ACTION_ORIGIN_RESTART : SCENARIO_ACTION_ORIGIN_CRASH;
		e->node = f->target;
		break;
	case SCENARIO_FAULT_ORIGIN_SLOW:
	case SCENARIO_FAULT_ORIGIN_ERROR:
		e->action = heal                                    ? SCENARIO_ACTION_ORIGIN_OK
		            : f->kind == SCENARIO_FAULT_ORIGIN_SLOW ? SCENARIO_ACTION_ORIGIN_SLOW
		                                                    : SCENARIO_ACTION_ORIGIN_ERROR;
		e->node = f->target;
		e->delay_us = heal || f->kind == SCENARIO_FAULT_ORIGIN_ERROR ? 0 : f->latency_us;
		break;
	case SCENARIO_FAULT_PAUSE:
		e->action = heal ? SCENARIO_ACTION_RESUME : SCENARIO_ACTION_PAUSE;
		e->node = f->target;
		break;
	case SCENARIO_FAULT_ONE_WAY: {
		const struct scenario_link *l = &sc->links[f->target];
		e->action = heal ? SCENARIO_ACTION_HEAL : SCENARIO_ACTION_PARTITION;
		e->one_way = true;
		e->a = (uint32_t)(f->reverse ? l->region_b : l->region_a);
		e->b = (uint32_t)(f->reverse ? l->region_a : l->region_b);
		break;
	}
	case SCENARIO_FAULT_ACCESS:
		e->action = SCENARIO_ACTION_LINK;
		e->access = true;
		e->node = f->target;
		e->set_latency = e->set_loss = true;
		e->params.latency_us = heal ? sc->access.latency_us : f->latency_us;
		e->params.loss = heal ? loss_text_value(sc->access.loss * 100) : f->loss;
		break;
	case SCENARIO_FAULT_LOSS: {
		const struct scenario_link *l = &sc->links[f->target];
		e->action = SCENARIO_ACTION_LINK;
		e->link = (int)f->target;
		e->a = (uint32_t)l->region_a;
		e->b = (uint32_t)l->region_b;
		e->set_loss = true;
		e->params = l->params;
		e->params.loss = heal ? loss_text_value(l->params.loss * 100) : f->loss;
		break;
	}
	case SCENARIO_FAULT_JITTER:
	case SCENARIO_FAULT_DUPLICATE: {
		/* each kind sets back only what it changed (to the scenario's
		 * value): link and loss faults on the same link compose with it */
		const struct scenario_link *l = &sc->links[f->target];
		e->action = SCENARIO_ACTION_LINK;
		e->link = (int)f->target;
		e->a = (uint32_t)l->region_a;
		e->b = (uint32_t)l->region_b;
		e->params = l->params;
		if (f->kind == SCENARIO_FAULT_DUPLICATE) {
			e->set_duplicate = true;
			e->params.duplicate =
			    heal ? loss_text_value(l->params.duplicate * 100) : f->duplicate;
			break;
		}
		e->set_jitter = e->set_reorder = true;
		e->params.jitter_us = heal ? l->params.jitter_us : f->jitter_us;
		e->params.reorder = heal ? loss_text_value(l->params.reorder * 100) : f->reorder;
		break;
	}
	case SCENARIO_FAULT_TORN_WRITE:
		e->action =
		    heal ? SCENARIO_ACTION_CONTROL_RESTART : SCENARIO_ACTION_CONTROL_TORN_WRITE;
		break;
	case SCENARIO_FAULT_REVOKE:
	case SCENARIO_FAULT_REJECT:
	case SCENARIO_FAULT_DRAIN:
	case SCENARIO_FAULT_GRANT:
		return host_event(sc, s, f, heal, e);
	case SCENARIO_FAULT_TAGS:
		return tags_event(sc, s, f, heal, e);
	default:
		e->action = heal ? SCENARIO_ACTION_CONTROL_RESTART : SCENARIO_ACTION_CONTROL_CRASH;
		break;
	}
	return true;
}

struct seq_event {
	struct scenario_event e;
	size_t seq;
};

static int seq_event_cmp(const void *x, const void *y)
{
	const struct seq_event *a = x, *b = y;

	if (a->e.at_us != b->e.at_us)
		return a->e.at_us < b->e.at_us ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Every fault and its heal, by time (equal times in fault order). */
static int events_build(const struct scenario *sc, struct explore_schedule *s)
{
	size_t n = 2 * s->n_faults;
	struct seq_event *tmp = calloc(n ? n : 1, sizeof(*tmp));

	s->events = calloc(n ? n : 1, sizeof(*s->events));
	if (!tmp || !s->events) {
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		tmp[i].seq = i;
		if (!fault_event(sc, s, &s->faults[i / 2], i % 2, &tmp[i].e)) {
			free(tmp);
			return -ENOMEM;
		}
	}
	qsort(tmp, n, sizeof(*tmp), seq_event_cmp);
	for (size_t i = 0; i < n; i++)
		s->events[i] = tmp[i].e;
	s->n_events = n;
	free(tmp);
	return 0;
}

/* The targets admin, drain and origin faults are drawn among (and their
 * entries name): the scenario's hosts and nodes with backends. False when
 * out of memory. */
static bool schedule_targets(const struct scenario *sc, struct explore_schedule *out)
{
	out->origins = calloc(sc->node_count ? sc->node_count : 1, sizeof(*out->origins));
	out->http_origins = calloc(sc->node_count ? sc->node_count : 1, sizeof(*out->http_origins));
	for (uint32_t i = 0; out->origins && out->http_origins && i < sc->node_count; i++) {
		if (scenario_node_has_backends(sc, i))
			out->origins[out->n_origins++] = i;
		if (scenario_node_has_http_backend(sc, i))
			out->http_origins[out->n_http_origins++] = i;
	}
	out->n_hosts = scenario_hosts(sc, NULL, 0);
	out->hosts = calloc(out->n_hosts ? out->n_hosts : 1, sizeof(*out->hosts));
	if (out->hosts)
		scenario_hosts(sc, out->hosts, out->n_hosts);
	cJSON *p = sc->policy_json ? cJSON_Parse(sc->policy_json) : NULL;
	const cJSON *t;
	bool ok = true;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(p, "tagOwners"))
	{
		if (out->n_tag_names == EXPLORE_TAG_NAMES_MAX)
			break;
		const char *name = schedule_printf(out, "%s", t->string);
		ok = ok && name;
		if (name)
			out->tag_names[out->n_tag_names++] = name;
	}
	cJSON_Delete(p);
	return out->hosts && out->origins && out->http_origins && ok;
}

int explore_schedule_draw(const struct scenario *sc, uint64_t seed, struct explore_schedule *out)
{
	const struct scenario_explore *ex = &sc->explore;
	uint64_t rng[RNG_STATE_WORDS];
	uint64_t end_us = sc->duration_us - ex->quiet_tail_us;
	size_t cap = ex->max_faults, n_cand = 0, n = 0;

	memset(out, 0, sizeof(*out));
	if (!ex->present || ex->n_faults == 0 || ex->quiet_tail_us >= sc->duration_us)
		return -EINVAL;
	rng_seed(rng, seed);
	out->enabled = enabled_kinds_draw(ex, rng);
	struct explore_fault *cand = calloc(ex->n_faults * cap, sizeof(*cand));
	out->faults = calloc(cap, sizeof(*out->faults));
	if (!cand || !out->faults || !schedule_targets(sc, out)) {
		free(cand);
		explore_schedule_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ex->n_faults; i++)
		if (out->enabled & (1u << ex->faults[i].kind))
			n_cand += arrivals_draw(&ex->faults[i], end_us, cap, rng, cand + n_cand);
	qsort(cand, n_cand, sizeof(*cand), fault_cmp);
	for (size_t i = 0; i < n_cand && n < cap; i++)
		if (target_assign(sc, out, n, &cand[i], rng))
			out->faults[n++] = cand[i];
	out->n_faults = n;
	free(cand);
	if (events_build(sc, out)) {
		explore_schedule_free(out);
		return -ENOMEM;
	}
	return 0;
}

int explore_schedule_from_faults(const struct scenario *sc, uint32_t enabled,
                                 const struct explore_fault *faults, size_t n,
                                 struct explore_schedule *out)
{
	memset(out, 0, sizeof(*out));
	out->enabled = enabled;
	out->faults = calloc(n ? n : 1, sizeof(*out->faults));
	if (!out->faults || !schedule_targets(sc, out)) {
		explore_schedule_free(out);
		return -ENOMEM;
	}
	memcpy(out->faults, faults, n * sizeof(*faults));
	out->n_faults = n;
	qsort(out->faults, n, sizeof(*out->faults), fault_cmp);
	if (events_build(sc, out)) {
		explore_schedule_free(out);
		return -ENOMEM;
	}
	return 0;
}

void explore_schedule_free(struct explore_schedule *s)
{
	for (size_t i = 0; i < s->n_texts; i++)
		free(s->texts[i]);
	free(s->texts);
	free(s->hosts);
	free(s->origins);
	free(s->http_origins);
	free(s->faults);
	free(s->events);
	memset(s, 0, sizeof(*s));
}

int explore_schedule_merge(const struct scenario *sc, const struct explore_schedule *s,
                           struct scenario_event **out, size_t *n_out)
{
	size_t n = sc->n_events + s->n_events, i = 0, j = 0, k = 0;
	struct scenario_event *m = calloc(n ? n : 1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	while (i < sc->n_events || j < s->n_events) {
		bool own = j == s->n_events ||
		           (i < sc->n_events && sc->events[i].at_us <= s->events[j].at_us);
		m[k++] = own ? sc->events[i++] : s->events[j++];
	}
	*out = m;
	*n_out = n;
	return 0;
}

/* A YAML double-quoted scalar. */
static void yaml_quoted(const char *text, FILE *out)
{
	fputc('"', out);
	for (const char *p = text; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

/* A link entry: a region link (between) or a node's access link (node),
 * with the parameters it sets. */
static void link_write(const struct scenario *sc, const struct scenario_event *e, FILE *out)
{
	char name[SCENARIO_NAME_MAX + 16];

	if (e->access) {
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "link: {node: %s", name);
	} else {
		fprintf(out, "link: {between: [%s, %s]", sc->regions[e->a].name,
		        sc->regions[e->b].name);
	}
	if (e->set_latency)
		fprintf(out, ", latency: %lluus", (unsigned long long)e->params.latency_us);
	if (e->set_bandwidth)
		fprintf(out, ", bandwidth: %llubps", (unsigned long long)e->params.bandwidth_bps);
	if (e->set_loss)
		fprintf(out, ", loss: \"%.15g%%\"", e->params.loss * 100);
	if (e->set_jitter)
		fprintf(out, ", jitter: %lluus", (unsigned long long)e->params.jitter_us);
	if (e->set_reorder)
		fprintf(out, ", reorder: \"%.15g%%\"", e->params.reorder * 100);
	if (e->set_duplicate)
		fprintf(out, ", duplicate: \"%.15g%%\"", e->params.duplicate * 100);
	fputs("}}\n", out);
}

/* One entry as a flow mapping ("{at: 5000000us, crash: web-1}"). */
static void entry_write(const struct scenario *sc, const struct scenario_event *e, FILE *out)
{
	static const char *const disks[] = {
	    [SCENARIO_DISK_OK] = "disk-ok",
	    [SCENARIO_DISK_FULL] = "disk-full",
	    [SCENARIO_DISK_FSYNC_FAIL] = "fsync-fail",
	};
	char name[SCENARIO_NAME_MAX + 16];

	fprintf(out, "{at: %lluus, ", (unsigned long long)e->at_us);
	switch (e->action) {
	case SCENARIO_ACTION_CRASH:
	case SCENARIO_ACTION_RESTART:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "%s: %s}", e->action == SCENARIO_ACTION_CRASH ? "crash" : "restart",
		        name);
		break;
	case SCENARIO_ACTION_PARTITION:
	case SCENARIO_ACTION_HEAL:
		fprintf(out, "%s%s: [%s, %s]}",
		        e->action == SCENARIO_ACTION_PARTITION ? "partition" : "heal",
		        e->one_way ? "_one_way" : "", sc->regions[e->a].name,
		        sc->regions[e->b].name);
		break;
	case SCENARIO_ACTION_ISOLATE:
	case SCENARIO_ACTION_REJOIN:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "%s: %s}", e->action == SCENARIO_ACTION_ISOLATE ? "isolate" : "rejoin",
		        name);
		break;
	case SCENARIO_ACTION_ORIGIN_CRASH:
	case SCENARIO_ACTION_ORIGIN_RESTART:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "origin_%s: %s}",
		        e->action == SCENARIO_ACTION_ORIGIN_CRASH ? "crash" : "restart", name);
		break;
	case SCENARIO_ACTION_ORIGIN_SLOW:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "origin_slow: %s, delay: %lluus}", name,
		        (unsigned long long)e->delay_us);
		break;
	case SCENARIO_ACTION_ORIGIN_ERROR:
	case SCENARIO_ACTION_ORIGIN_OK:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "origin_%s: %s}",
		        e->action == SCENARIO_ACTION_ORIGIN_ERROR ? "error" : "ok", name);
		break;
	case SCENARIO_ACTION_PAUSE:
	case SCENARIO_ACTION_RESUME:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "%s: %s}", e->action == SCENARIO_ACTION_PAUSE ? "pause" : "resume",
		        name);
		break;
	case SCENARIO_ACTION_LINK:
		link_write(sc, e, out);
		break;
	case SCENARIO_ACTION_SERVE:
		scenario_node_name(sc, e->node, name, sizeof(name));
		fprintf(out, "node: %s, run: ", name);
		yaml_quoted(e->run, out);
		fputc('}', out);
		break;
	case SCENARIO_ACTION_ADMIN:
		fputs("admin: ", out);
		yaml_quoted(e->command, out);
		fputs(", as: ", out);
		yaml_quoted(e->user >= 0 ? sc->users[e->user].login : "?", out);
		if (e->policy) /* JSON is YAML: the policy as its text */
			fprintf(out, ", policy: %s", e->policy);
		fputc('}', out);
		break;
	case SCENARIO_ACTION_CONTROL_DISK:
		fprintf(out, "control: %s}", disks[e->disk]);
		break;
	case SCENARIO_ACTION_CONTROL_TORN_WRITE:
		fputs("control: torn-write}", out);
		break;
	default:
		fprintf(out, "control: %s}",
		        e->action == SCENARIO_ACTION_CONTROL_CRASH ? "crash" : "restart");
		break;
	}
}

char *explore_schedule_entry_dup(const struct scenario *sc, const struct scenario_event *e)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	entry_write(sc, e, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

void explore_schedule_entry_text(const struct scenario *sc, const struct scenario_event *e,
                                 char *out, size_t cap)
{
	char *text = explore_schedule_entry_dup(sc, e);

	snprintf(out, cap, "%s", text ? text : "");
	free(text);
}

int explore_schedule_write_yaml(const struct scenario *sc, const struct explore_schedule *s,
                                FILE *out)
{
	fputs(s->n_events ? "timeline:\n" : "timeline: []\n", out);
	for (size_t i = 0; i < s->n_events; i++) {
		fputs("  - ", out);
		entry_write(sc, &s->events[i], out);
		fputc('\n', out);
	}
	return ferror(out) ? -EIO : 0;
}
