/* The invariant checker (EXP-2): crafted events.jsonl files that break one
 * invariant each (exactly that one reported broken), a healthy run that
 * breaks none, unreadable input as an error, and real simrun runs of the
 * shipped scenarios holding every invariant that applies to them. */
#include "sim/explore/invariant.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two web hosts (auto-approved), two granted clients, one client no
 * grant allows; an HTTP workload, an echo workload and a kept-alive one. */
static const char scenario_head[] =
    "name: inv\nseed: 1\nduration: 30s\n"
    "regions: {a: {}, b: {}}\n"
    "links: [{between: [a, b], latency: 10ms}]\n"
    "control: {region: a}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com], tag:client: [alice@example.com],\n"
    "              tag:svc: [alice@example.com]}\n"
    "  autoApprovers: {services: {svc:web: [tag:web], svc:db: [tag:web]}}\n"
    "  grants:\n"
    "    - {src: [tag:client], dst: [svc:web], ip: [\"%s\"]}\n"
    "    - {src: [tag:client], dst: [svc:db], ip: [\"5432\"]}\n"
    "services:\n"
    "  - {name: svc:web, ports: [tcp:443], tags: [tag:svc]}\n"
    "  - {name: svc:db, ports: [tcp:5432], tags: [tag:svc]}\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web-1, region: a, tags: [tag:web],\n"
    "     backends: [{listen: 127.0.0.1:8080, kind: http}, {listen: 127.0.0.1:5432, kind: "
    "tcp-echo}],\n"
    "     serve: [serve --service=svc:web --https=443 127.0.0.1:8080,\n"
    "             serve --service=svc:db --tcp=5432 127.0.0.1:5432]}\n"
    "  - {name: web-2, region: b, tags: [tag:web],\n"
    "     backends: [{listen: 127.0.0.1:8080, kind: http}],\n"
    "     serve: [serve --service=svc:web --https=443 127.0.0.1:8080]}\n"
    "  - {name: client, region: a, count: 2, tags: [tag:client]}\n"
    "  - {name: other, region: a}\n"
    "workloads:\n"
    "  - {name: browse, from: client-*, to: web.example.ts.net:443, kind: http, rate: 10/s,\n"
    "     start: 1s, stop: 29s}\n"
    "  - {name: echo, from: client-0, to: db.example.ts.net:5432, kind: tcp-echo, rate: 1/s,\n"
    "     start: 1s, stop: 29s}\n"
    "  - {name: kept, from: client-0, to: web.example.ts.net:443, kind: http, rate: 1/s,\n"
    "     connection: keepalive, start: 1s, stop: 2s}\n";

static struct scenario *load_scenario(const char *port, const char *timeline)
{
	char text[8192];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	int n = snprintf(text, sizeof(text), scenario_head, port);
	if (timeline)
		snprintf(text + n, sizeof(text) - (size_t)n, "timeline:\n%s", timeline);
	int err = scenario_load_text(text, strlen(text), "inv.yaml", &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	return sc;
}

/* An events file being written. */
struct evs {
	char path[64];
	FILE *f;
};

static void evs_open(struct evs *e)
{
	snprintf(e->path, sizeof(e->path), "/tmp/test_invariant.XXXXXX");
	int fd = mkstemp(e->path);
	cr_assert_geq(fd, 0);
	e->f = fdopen(fd, "w");
	cr_assert_not_null(e->f);
}

static void ev(struct evs *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev(struct evs *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(e->f, fmt, ap);
	va_end(ap);
	fputc('\n', e->f);
}

static const char *const client_ip[] = {"100.64.0.1", "100.64.0.2"};

static void ev_request(struct evs *e, const char *workload, int client, const char *host,
                       unsigned long long start, unsigned long long done, const char *outcome,
                       unsigned long long bytes)
{
	ev(e,
	   "{\"t_us\":%llu,\"node\":\"client-%d\",\"type\":\"request_done\",\"workload\":\"%s\","
	   "\"client\":\"client-%d\",\"host\":\"%s\",\"start_us\":%llu,\"latency_us\":%llu,"
	   "\"outcome\":\"%s\",\"status\":200,\"bytes\":%llu}",
	   done, client, workload, client, host, start, done - start, outcome, bytes);
}

static void ev_accept(struct evs *e, unsigned long long t, const char *host, const char *peer,
                      bool close)
{
	ev(e,
	   "{\"t_us\":%llu,\"node\":\"%s\",\"type\":\"conn_accepted\",\"proxy\":\"svc:web:443\","
	   "\"peer\":\"%s\",\"conns\":1}",
	   t, host, peer);
	if (close)
		ev(e,
		   "{\"t_us\":%llu,\"node\":\"%s\",\"type\":\"conn_closed\",\"proxy\":\"svc:web:"
		   "443\","
		   "\"peer\":\"%s\",\"reason\":\"done\"}",
		   t + 2000, host, peer);
}

static void ev_state(struct evs *e, unsigned long long t, const char *host, const char *state)
{
	ev(e,
	   "{\"t_us\":%llu,\"node\":\"control\",\"type\":\"host_state\",\"service\":\"svc:web\","
	   "\"node_name\":\"%s\",\"state\":\"%s\",\"previous\":\"\"}",
	   t, host, state);
}

/* What a healthy run shows; each knob breaks it in one way. */
struct healthy {
	unsigned long long client1_first_map; /* control's first map to client-1; 0: 5 ms */
	unsigned long long crash_us;          /* web-1 crashes: requests go to web-2 from then */
	unsigned long long failover_us;       /* ... once this long has passed */
	unsigned long long client1_stop;      /* client-1's last request (0: 29s) */
	unsigned long long echo_bytes;        /* what an echo brings back (0: 64) */
};

static void write_healthy(struct evs *e, const struct healthy *h)
{
	for (int c = 0; c < 2; c++) {
		/* control's first map to the client: from then on it has joined */
		ev(e,
		   "{\"t_us\":%llu,\"node\":\"control\",\"type\":\"netmap_sent\",\"node_name\":"
		   "\"client-%d\",\"version\":1,\"kind\":\"full\",\"bytes\":900}",
		   c == 1 && h->client1_first_map ? h->client1_first_map : 5000ull, c);
		ev(e,
		   "{\"t_us\":10000,\"node\":\"client-%d\",\"type\":\"flow_new\",\"proto\":6,"
		   "\"src\":\"%s:49154\",\"dst\":\"100.100.0.1:443\",\"dir\":\"out\"}",
		   c, client_ip[c]);
	}
	ev(e, "{\"t_us\":10000,\"node\":\"other\",\"type\":\"no_route\",\"count\":1,\"proto\":6,"
	      "\"src\":\"100.64.0.9:49154\",\"dst\":\"100.100.0.1:443\"}");
	ev_state(e, 20000, "web-1", "Connected");
	ev_state(e, 20000, "web-2", "Connected");
	ev(e, "{\"t_us\":20000,\"node\":\"control\",\"type\":\"host_state\",\"service\":"
	      "\"svc:db\",\"node_name\":\"web-1\",\"state\":\"Connected\",\"previous\":\"\"}");
	for (unsigned long long t = 1000000; t < 29000000; t += 100000) {
		for (int c = 0; c < 2; c++) {
			if (c == 1 && h->client1_stop && t > h->client1_stop)
				continue;
			bool moved = h->crash_us && t >= h->crash_us;
			if (moved && t < h->crash_us + h->failover_us) {
				ev_request(e, "browse", c, "web-1", t, t + 50000, "reset", 0);
				continue;
			}
			const char *host = moved ? "web-2" : "web-1";
			ev_accept(e, t + 5000, host, client_ip[c], true);
			ev_request(e, "browse", c, host, t, t + 10000, "ok", 2000);
		}
		if (t % 1000000 == 0 && !(h->crash_us && t >= h->crash_us))
			ev_request(e, "echo", 0, "web-1", t, t + 8000, "ok",
			           h->echo_bytes ? h->echo_bytes : 64);
	}
	/* the run's end, as simrun marks it */
	ev(e, "{\"t_us\":30000000,\"node\":\"web-1\",\"type\":\"proxy_stopped\",\"service\":"
	      "\"svc:web\",\"port\":443,\"reason\":\"shutdown\"}");
	if (h->crash_us) {
		ev(e,
		   "{\"t_us\":%llu,\"node\":\"web-1\",\"type\":\"node_crash\",\"node\":\"web-1\"}",
		   h->crash_us);
		ev_state(e, h->crash_us + 20000, "web-1", "Offline");
		ev_state(e, 20100000, "web-1", "Connected");
	}
}

static struct invariant_result check(const struct scenario *sc, struct evs *e)
{
	struct invariant_result res;
	char err[256];

	fclose(e->f);
	int rc = invariants_check(sc, e->path, NULL, INVARIANT_ALL, &res, err, sizeof(err));
	unlink(e->path);
	cr_assert_eq(rc, 0, "invariants_check: %s", err);
	return res;
}

static void expect_broken(const struct invariant_result *res, uint32_t want)
{
	for (int i = 0; i < INVARIANT_KINDS; i++)
		if (res->broken & (1u << i))
			cr_log_info("%s broken: %s at %llu: %s", invariant_name(i),
			            res->first[i].node, (unsigned long long)res->first[i].t_us,
			            res->first[i].what);
	cr_assert_eq(res->broken, want, "broken 0x%x, expected 0x%x", res->broken, want);
	cr_assert_eq(res->checked & want, want, "a broken invariant is also checked");
	for (int i = 0; i < INVARIANT_KINDS; i++)
		cr_assert_eq(res->count[i] > 0, (want >> i & 1) != 0, "%s count",
		             invariant_name(i));
}

/* Runs the healthy events of `h` plus `extra`, on the scenario with the
 * given timeline, and expects exactly `want` broken. */
static struct invariant_result run_case(const char *timeline, const struct healthy *h,
                                        void (*extra)(struct evs *e), uint32_t want)
{
	struct scenario *sc = load_scenario("443", timeline);
	struct evs e;

	evs_open(&e);
	write_healthy(&e, h);
	if (extra)
		extra(&e);
	struct invariant_result res = check(sc, &e);
	expect_broken(&res, want);
	scenario_free(sc);
	return res;
}

#define BIT(id) (1u << (id))

Test(invariant, exp_2_names_are_stable_and_found_back)
{
	cr_assert_str_eq(invariant_name(INVARIANT_GRANT), "grant-safety");
	cr_assert_str_eq(invariant_name(INVARIANT_CONTROL_OUTAGE), "control-outage");
	cr_assert_str_eq(invariant_name(INVARIANT_KINDS), "?");
	for (int i = 0; i < INVARIANT_KINDS; i++)
		cr_assert_eq(invariant_by_name(invariant_name(i)), i);
	cr_assert_eq(invariant_by_name("grant"), -1);
	cr_assert_eq(invariant_by_name(NULL), -1);
}

Test(invariant, exp_2_a_healthy_run_breaks_nothing)
{
	struct healthy h = {0};
	struct invariant_result res = run_case(NULL, &h, NULL, 0);
	uint32_t want = BIT(INVARIANT_GRANT) | BIT(INVARIANT_ELIGIBLE) | BIT(INVARIANT_STREAM) |
	                BIT(INVARIANT_OUTCOME) | BIT(INVARIANT_REACH) | BIT(INVARIANT_RECOVERY) |
	                BIT(INVARIANT_CONTROL_VIEW);
	cr_assert_eq(res.checked & want, want, "checked 0x%x", res.checked);
	cr_assert_eq(res.checked & BIT(INVARIANT_DRAIN), 0, "no drain in the run: not checked");
	cr_assert_eq(res.checked & BIT(INVARIANT_CONTROL_OUTAGE), 0,
	             "no control fault: not checked");
}

static void accept_from_ungranted(struct evs *e)
{
	ev_accept(e, 10005000, "web-1", "100.64.0.9", true);
}

Test(invariant, exp_2_grant_safety_a_connection_no_grant_allows)
{
	struct healthy h = {0};
	struct invariant_result res =
	    run_case(NULL, &h, accept_from_ungranted, BIT(INVARIANT_GRANT));
	cr_assert_str_eq(res.first[INVARIANT_GRANT].node, "web-1");
	cr_assert_not_null(strstr(res.first[INVARIANT_GRANT].what, "other"));
	cr_assert_eq(res.first[INVARIANT_GRANT].t_us, 10005000);
}

static void accept_on_drained(struct evs *e)
{
	ev_accept(e, 20000000, "web-2", client_ip[0], true);
}

Test(invariant, exp_2_eligible_safety_a_drained_host_takes_a_new_connection)
{
	struct healthy h = {0};
	run_case("  - {at: 5s, node: web-2, run: serve drain svc:web}\n", &h, accept_on_drained,
	         BIT(INVARIANT_ELIGIBLE));
}

Test(invariant, exp_2_eligible_safety_inside_the_drain_bound_is_allowed)
{
	struct healthy h = {0};
	/* 5 s after the drain: clients may still be on their way there */
	run_case("  - {at: 15s, node: web-2, run: serve drain svc:web}\n", &h, accept_on_drained,
	         0);
}

Test(invariant, exp_2_stream_integrity_an_echo_short_of_bytes_called_ok)
{
	struct healthy h = {.echo_bytes = 60};
	run_case(NULL, &h, NULL, BIT(INVARIANT_STREAM));
}

static void admin_forgotten(struct evs *e)
{
	ev_state(e, 6100000, "web-2", "Connected"); /* control forgot the rejection */
	ev_state(e, 7000000, "web-2", "Rejected");
}

Test(invariant, exp_2_admin_durable_a_rejection_forgotten_across_control_restart)
{
	struct healthy h = {0};
	run_case("  - {at: 3s, admin: reject svc:web web-2, as: alice@example.com}\n"
	         "  - {at: 5s, control: crash}\n"
	         "  - {at: 6s, control: restart}\n",
	         &h, admin_forgotten, BIT(INVARIANT_ADMIN_DURABLE));
}

static void outcome_unknown(struct evs *e)
{
	ev_request(e, "browse", 0, "web-1", 12000000, 12010000, "lost", 0);
}

Test(invariant, exp_2_request_outcome_a_request_without_a_known_outcome)
{
	struct healthy h = {0};
	run_case(NULL, &h, outcome_unknown, BIT(INVARIANT_OUTCOME));
}

Test(invariant, exp_2_reach_a_granted_client_stops_reaching_its_service)
{
	struct healthy h = {.client1_stop = 4000000};
	run_case(NULL, &h, NULL, BIT(INVARIANT_REACH));
}

static void failure_outside_faults(struct evs *e)
{
	ev_request(e, "browse", 0, "web-1", 14050000, 15050000, "timeout", 0);
}

Test(invariant, exp_2_recovery_a_failure_outside_every_fault_window)
{
	struct healthy h = {0};
	run_case(NULL, &h, failure_outside_faults, BIT(INVARIANT_RECOVERY));
}

Test(invariant, exp_2_recovery_a_failure_inside_a_fault_window_is_allowed)
{
	struct healthy h = {0};
	run_case("  - {at: 14s, partition: [a, b]}\n  - {at: 16s, heal: [a, b]}\n", &h,
	         failure_outside_faults, 0);
}

/* A live origin that answers late or with errors is a fault like its
 * crash: failures while it lasts are excused, not after its origin_ok. */
Test(invariant, exp_2_recovery_a_failure_while_the_origin_errs_is_allowed)
{
	struct healthy h = {0};
	run_case("  - {at: 14s, origin_error: web-1}\n  - {at: 16s, origin_ok: web-1}\n", &h,
	         failure_outside_faults, 0);
	run_case("  - {at: 14s, origin_slow: web-1, delay: 2s}\n  - {at: 16s, origin_ok: web-1}\n",
	         &h, failure_outside_faults, 0);
}

Test(invariant, exp_2_recovery_a_failure_after_the_origin_is_ok_again)
{
	struct healthy h = {0};
	run_case("  - {at: 8s, origin_error: web-1}\n  - {at: 9s, origin_ok: web-1}\n", &h,
	         failure_outside_faults, BIT(INVARIANT_RECOVERY));
}

/* A drain moves clients off without a failure (DRN-1, DRN-2): it excuses
 * none; a `serve clear` may end connections (DRN-4), so it does. */
Test(invariant, exp_2_recovery_drn_1_a_failure_right_after_a_drain_is_not_excused)
{
	struct healthy h = {0};
	run_case("  - {at: 14s, node: web-2, run: serve drain svc:web}\n", &h,
	         failure_outside_faults, BIT(INVARIANT_RECOVERY));
}

Test(invariant, exp_2_recovery_drn_4_a_failure_right_after_a_clear_is_allowed)
{
	struct healthy h = {0};
	run_case("  - {at: 14s, node: web-2, run: serve clear svc:web}\n", &h,
	         failure_outside_faults, 0);
}

static void control_wrong_at_end(struct evs *e)
{
	ev_state(e, 20000000, "web-1", "Offline");
}

Test(invariant, exp_2_control_view_differs_from_the_truth)
{
	struct healthy h = {0};
	run_case(NULL, &h, control_wrong_at_end, BIT(INVARIANT_CONTROL_VIEW));
}

static void open_forever(struct evs *e)
{
	ev_accept(e, 3000000, "web-2", client_ip[1], false);
}

Test(invariant, exp_2_drain_a_connection_never_closes)
{
	struct healthy h = {0};
	run_case("  - {at: 5s, node: web-2, run: serve drain svc:web}\n", &h, open_forever,
	         BIT(INVARIANT_DRAIN));
}

Test(invariant, exp_2_failover_str_4_slower_than_a_second)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 1500000};
	run_case("  - {at: 10s, crash: web-1}\n  - {at: 20s, restart: web-1}\n", &h, NULL,
	         BIT(INVARIANT_FAILOVER));
}

Test(invariant, exp_2_failover_str_4_within_a_second_holds)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	struct invariant_result res =
	    run_case("  - {at: 10s, crash: web-1}\n  - {at: 20s, restart: web-1}\n", &h, NULL, 0);
	cr_assert(res.checked & BIT(INVARIANT_FAILOVER));
}

/* STR-4 across a cut: client-0 (region a) had a request open to web-2
 * (region b) when a and b were cut apart at 10 s; a new request it still
 * sends across the cut once the bound has passed breaks it. */
static const char cut_ab[] = "  - {at: 10s, partition: [a, b]}\n  - {at: 14s, heal: [a, b]}\n";

static void across_the_cut(struct evs *e, unsigned long long late_start)
{
	ev_request(e, "browse", 0, "web-2", 9900000, 10300000, "reset", 0);
	ev_request(e, "browse", 0, "web-2", late_start, late_start + 2000000, "timeout", 0);
}

static void across_the_cut_late(struct evs *e)
{
	across_the_cut(e, 11000000);
}

static void across_the_cut_in_time(struct evs *e)
{
	across_the_cut(e, 10999999);
}

Test(invariant, exp_2_failover_str_4_a_new_request_still_sent_across_a_cut)
{
	struct healthy h = {0};
	struct invariant_result res =
	    run_case(cut_ab, &h, across_the_cut_late, BIT(INVARIANT_FAILOVER));
	cr_assert_str_eq(res.first[INVARIANT_FAILOVER].node, "client-0");
	cr_assert_eq(res.first[INVARIANT_FAILOVER].t_us, 11000000);
}

Test(invariant, exp_2_failover_str_4_across_a_cut_within_the_bound_holds)
{
	struct healthy h = {0};
	struct invariant_result res = run_case(cut_ab, &h, across_the_cut_in_time, 0);
	cr_assert(res.checked & BIT(INVARIANT_FAILOVER));
}

static void kept_alive_hangs(struct evs *e)
{
	ev_request(e, "kept", 0, "web-1", 9900000, 13000000, "timeout", 0);
}

Test(invariant, exp_2_keepalive_reset_str_7_a_kept_alive_request_to_a_dead_host_hangs)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	run_case("  - {at: 10s, crash: web-1}\n  - {at: 20s, restart: web-1}\n", &h,
	         kept_alive_hangs, BIT(INVARIANT_KEEPALIVE_RESET));
}

/* STR-7: a kept-alive request that hangs past the host's restart hung all
 * the same; one reset at the bound (2 s after the crash) holds. */
static const char crash_short[] = "  - {at: 10s, crash: web-1}\n  - {at: 11s, restart: web-1}\n";

static void kept_alive_hangs_past_restart(struct evs *e)
{
	ev_request(e, "kept", 0, "web-1", 9900000, 19900000, "timeout", 0);
}

static void kept_alive_reset_at_the_bound(struct evs *e)
{
	ev_request(e, "kept", 0, "web-1", 9900000, 12000000, "reset", 0);
}

Test(invariant, exp_2_keepalive_reset_str_7_a_hang_past_the_restart)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	run_case(crash_short, &h, kept_alive_hangs_past_restart, BIT(INVARIANT_KEEPALIVE_RESET));
}

Test(invariant, exp_2_keepalive_reset_str_7_a_reset_at_the_bound_holds)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	struct invariant_result res = run_case(crash_short, &h, kept_alive_reset_at_the_bound, 0);
	cr_assert(res.checked & BIT(INVARIANT_KEEPALIVE_RESET));
}

/* A paused host answers nothing, as a crashed one: its clients must fail
 * over within STR-4's bound, and a kept-alive request to it must not
 * hang past STR-7's while it stays paused; one that ends after the
 * resume is fine (the host came back). A paused client is still judged
 * by reach after the heal, a crashed one is not. */
static const char pause_long[] = "  - {at: 10s, pause: web-1}\n  - {at: 20s, resume: web-1}\n";
static const char pause_short[] = "  - {at: 10s, pause: web-1}\n  - {at: 11s, resume: web-1}\n";

Test(invariant, exp_2_failover_str_4_after_a_pause_slower_than_a_second)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 1500000};
	struct invariant_result res = run_case(pause_long, &h, NULL, BIT(INVARIANT_FAILOVER));
	cr_assert(strstr(res.first[INVARIANT_FAILOVER].what, "web-1's pause"), "%s",
	          res.first[INVARIANT_FAILOVER].what);
}

Test(invariant, exp_2_failover_str_4_after_a_pause_within_a_second_holds)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	struct invariant_result res = run_case(pause_long, &h, NULL, 0);
	cr_assert(res.checked & BIT(INVARIANT_FAILOVER));
}

Test(invariant, exp_2_keepalive_reset_str_7_a_kept_alive_request_hangs_on_a_paused_host)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	run_case(pause_long, &h, kept_alive_hangs, BIT(INVARIANT_KEEPALIVE_RESET));
}

Test(invariant, exp_2_keepalive_reset_str_7_a_request_ending_after_the_resume_holds)
{
	struct healthy h = {.crash_us = 10000000, .failover_us = 300000};
	struct invariant_result res = run_case(pause_short, &h, kept_alive_hangs_past_restart, 0);
	cr_assert(res.checked & BIT(INVARIANT_KEEPALIVE_RESET));
}

Test(invariant, exp_2_reach_judges_a_paused_client_but_not_a_crashed_one)
{
	struct healthy h = {.client1_stop = 6000000};
	run_case("  - {at: 4s, pause: client-1}\n  - {at: 5s, resume: client-1}\n", &h, NULL,
	         BIT(INVARIANT_REACH));
	run_case("  - {at: 4s, crash: client-1}\n  - {at: 5s, restart: client-1}\n", &h, NULL, 0);
}

static void fails_during_control_outage(struct evs *e)
{
	ev_request(e, "browse", 1, "web-1", 10950000, 11000000, "refused", 0);
}

Test(invariant, exp_2_control_outage_str_8_a_request_fails_while_only_control_is_down)
{
	struct healthy h = {0};
	run_case("  - {at: 10s, control: crash}\n  - {at: 12s, control: restart}\n", &h,
	         fails_during_control_outage, BIT(INVARIANT_CONTROL_OUTAGE));
}

/* STR-8 is about a daemon serving from its last map: a client that never
 * had one (control down before it joined) is not judged by it. */
Test(invariant, exp_2_control_outage_str_8_a_client_without_a_map_yet_is_not_judged)
{
	struct healthy h = {.client1_first_map = 12000000};
	run_case("  - {at: 10s, control: crash}\n  - {at: 12s, control: restart}\n", &h,
	         fails_during_control_outage, 0);
}

/* A run stopped early (an action that could not be carried out) is judged
 * up to its last event: nothing after it is missing. */
Test(invariant, exp_2_a_run_stopped_early_is_judged_up_to_its_last_event)
{
	struct scenario *sc = load_scenario("443", NULL);
	struct invariant_result res;
	struct evs e;

	evs_open(&e);
	ev_state(&e, 20000, "web-1", "Connected");
	for (int c = 0; c < 2; c++)
		ev_request(&e, "browse", c, "web-1", 1500000, 1510000, "ok", 2000);
	res = check(sc, &e);
	expect_broken(&res, 0);
	cr_assert_eq(res.checked & (BIT(INVARIANT_REACH) | BIT(INVARIANT_CONTROL_VIEW)), 0);
	scenario_free(sc);
}

Test(invariant, exp_2_which_masks_what_is_checked)
{
	struct scenario *sc = load_scenario("443", NULL);
	struct healthy h = {0};
	struct invariant_result res;
	struct evs e;
	char err[256];

	evs_open(&e);
	write_healthy(&e, &h);
	accept_from_ungranted(&e);
	fclose(e.f);
	cr_assert_eq(
	    invariants_check(sc, e.path, NULL, BIT(INVARIANT_RECOVERY), &res, err, sizeof(err)), 0);
	unlink(e.path);
	cr_assert_eq(res.checked, BIT(INVARIANT_RECOVERY));
	cr_assert_eq(res.broken, 0);
	scenario_free(sc);
}

Test(invariant, exp_2_unreadable_or_malformed_events_are_an_error_never_held)
{
	struct scenario *sc = load_scenario("443", NULL);
	struct invariant_result res;
	struct evs e;
	char err[256];

	cr_assert_eq(invariants_check(sc, "/nonexistent/events.jsonl", NULL, INVARIANT_ALL, &res,
	                              err, sizeof(err)),
	             -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/events.jsonl: cannot read"));
	evs_open(&e);
	ev(&e, "{\"t_us\":1,\"node\":\"a\",\"type\":\"x\"}");
	ev(&e, "{\"t_us\":2,\"node\":");
	fclose(e.f);
	cr_assert_eq(invariants_check(sc, e.path, NULL, INVARIANT_ALL, &res, err, sizeof(err)),
	             -EINVAL);
	cr_assert_not_null(strstr(err, ":2: not a JSON object"), "%s", err);
	evs_open(&e);
	for (unsigned i = 0; i < INVARIANT_LINE_MAX / 8 + 1; i++)
		fputs("        ", e.f);
	fclose(e.f);
	cr_assert_eq(invariants_check(sc, e.path, NULL, INVARIANT_ALL, &res, err, sizeof(err)),
	             -E2BIG);
	unlink(e.path);
	scenario_free(sc);
}

#ifdef SIMRUN_PATH
/* A real run of a shipped scenario into a fresh folder (every node's
 * pcaps); its events path and pcap folder. */
static void simrun(const char *name, char *events, size_t len, char *pcaps, size_t pcaps_len)
{
	char dir[64], cmd[2048];

	snprintf(dir, sizeof(dir), "/tmp/test_invariant_run.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
	         "'%s' --quiet --pcap all --out '%s' '%s/scenarios/%s.yaml' >'%s/log' 2>&1",
	         SIMRUN_PATH, dir, SOURCE_DIR, name, dir);
	int st = system(cmd);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "simrun %s failed", name);
	snprintf(events, len, "%s/reports/%s/events.jsonl", dir, name);
	snprintf(pcaps, pcaps_len, "%s/pcaps/%s", dir, name);
}

static struct scenario *load_shipped(const char *name)
{
	char path[1024];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	snprintf(path, sizeof(path), "%s/scenarios/%s.yaml", SOURCE_DIR, name);
	cr_assert_eq(scenario_load_file(path, &sc, &d), 0);
	return sc;
}

/* Every shipped fault scenario holds every invariant that applies to it,
 * and together they exercise all but admin-durable (no shipped scenario
 * crashes control after an admin decision). */
Test(invariant_real, exp_2_shipped_scenarios_hold_every_invariant, .timeout = 900)
{
	static const char *const names[] = {"failover-crash",     "failover-keepalive",
	                                    "failover-partition", "drain-under-load",
	                                    "control-restart",    "control-partition",
	                                    "approval-workflow",  "grants",
	                                    "l4-tcp-forward",     "l3-udp",
	                                    "quickstart"};
	uint32_t checked = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char events[256], pcaps[256], err[256];
		struct invariant_result res;
		struct scenario *sc = load_shipped(names[i]);
		simrun(names[i], events, sizeof(events), pcaps, sizeof(pcaps));
		cr_assert_eq(
		    invariants_check(sc, events, pcaps, INVARIANT_ALL, &res, err, sizeof(err)), 0,
		    "%s: %s", names[i], err);
		for (int k = 0; k < INVARIANT_KINDS; k++)
			cr_expect_eq(res.broken & (1u << k), 0, "%s: %s broken: %s at %llu: %s",
			             names[i], invariant_name(k), res.first[k].node,
			             (unsigned long long)res.first[k].t_us, res.first[k].what);
		checked |= res.checked;
		scenario_free(sc);
	}
	cr_assert_eq(checked, INVARIANT_ALL & ~BIT(INVARIANT_ADMIN_DURABLE), "checked 0x%x",
	             checked);
}

/* A shipped scenario's text with `from` replaced by `to` (once), and
 * `from2` by `to2` unless NULL, loaded. */
static struct scenario *load_edited_in(const char *name, const char *from, const char *to,
                                       const char *from2, const char *to2)
{
	char path[1024];
	struct scenario *sc = NULL;
	struct scenario_diags d;
	size_t cap = (1 << 16) + 256;

	snprintf(path, sizeof(path), "%s/scenarios/%s.yaml", SOURCE_DIR, name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char *text = calloc(1, cap), *edited = calloc(1, cap);
	cr_assert(text && edited);
	cr_assert_lt(fread(text, 1, (1 << 16) - 1, f), (size_t)(1 << 16) - 1);
	fclose(f);
	for (int k = 0; k < 2; k++) {
		const char *x = k ? from2 : from, *y = k ? to2 : to;
		char *at = x ? strstr(text, x) : NULL;
		if (!x)
			break;
		cr_assert_not_null(at, "%s", x);
		snprintf(edited, cap, "%.*s%s%s", (int)(at - text), text, y, at + strlen(x));
		memcpy(text, edited, cap);
	}
	int err = scenario_load_text(text, strlen(text), path, &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	free(edited);
	free(text);
	return sc;
}

static struct scenario *load_edited(const char *from, const char *to)
{
	return load_edited_in("failover-crash", from, to, NULL, NULL);
}

/* Real evidence against a stricter policy: the same run judged as if the
 * grant named another port breaks grant-safety alone. */
Test(invariant_real, exp_2_grant_safety_fires_on_a_real_run_against_another_policy, .timeout = 300)
{
	char events[256], pcaps[256], err[256];
	struct invariant_result res;

	simrun("failover-crash", events, sizeof(events), pcaps, sizeof(pcaps));
	struct scenario *sc = load_edited("ip: [\"443\"]", "ip: [\"444\"]");
	cr_assert_eq(invariants_check(sc, events, NULL, INVARIANT_ALL, &res, err, sizeof(err)), 0);
	expect_broken(&res, BIT(INVARIANT_GRANT));
	scenario_free(sc);
}

/* events without the lines a host or a client says about acceptance
 * (conn_accepted, request_done): what is left names VIPs and addresses. */
static void strip_claims(const char *events, char *out, size_t len)
{
	char cmd[1024];

	snprintf(out, len, "%s.stripped", events);
	snprintf(cmd, sizeof(cmd), "grep -v '\"conn_accepted\"\\|\"request_done\"' '%s' >'%s'",
	         events, out);
	cr_assert_eq(system(cmd), 0);
}

/* EXP-2 from packets alone: a real run judged against a policy without its
 * grant, with every acceptance claim deleted from the events, breaks
 * grant-safety from the hosts' SYN-ACKs (the violation names the packet);
 * without the pcaps nothing is left to judge; judged against hosts that
 * were never approved (and no crash), the same SYN-ACKs break
 * eligible-safety; with the
 * scenario's own policy nothing breaks. */
Test(invariant_real, exp_2_grant_safety_from_tailnet_packets_alone, .timeout = 300)
{
	char events[256], stripped[300], pcaps[256], err[256];
	struct invariant_result res;

	simrun("failover-crash", events, sizeof(events), pcaps, sizeof(pcaps));
	strip_claims(events, stripped, sizeof(stripped));

	struct scenario *sc = load_edited("ip: [\"443\"]", "ip: [\"444\"]");
	cr_assert_eq(invariants_check(sc, stripped, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             0, "%s", err);
	cr_assert(res.broken & BIT(INVARIANT_GRANT));
	cr_assert_eq(res.broken & BIT(INVARIANT_ELIGIBLE), 0, "%s",
	             res.first[INVARIANT_ELIGIBLE].what);
	const struct invariant_violation *v = &res.first[INVARIANT_GRANT];
	cr_assert(strncmp(v->node, "web-", 4) == 0, "%s", v->node);
	cr_assert_not_null(strstr(v->what, "SYN-ACK"), "%s", v->what);
	cr_assert_not_null(strstr(v->what, "100.100."), "%s", v->what);
	cr_assert_not_null(strstr(v->what, "tcp svc:web:443"), "%s", v->what);
	cr_assert_gt(res.count[INVARIANT_GRANT], 100);
	cr_assert_eq(invariants_check(sc, stripped, NULL, INVARIANT_ALL, &res, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(res.broken & BIT(INVARIANT_GRANT), 0);
	cr_assert_eq(res.checked & BIT(INVARIANT_GRANT), 0);
	scenario_free(sc);

	/* judged as a run without its crash, whose fault window would
	 * excuse every SYN-ACK after the startup window */
	sc = load_edited_in(
	    "failover-crash", "svc:web: [tag:web]", "svc:web: [tag:client]",
	    "timeline:\n  - {at: 5s, crash: web-us}\n  - {at: 10s, restart: web-us}\n", "");
	cr_assert_eq(invariants_check(sc, stripped, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             0, "%s", err);
	cr_assert(res.broken & BIT(INVARIANT_ELIGIBLE));
	cr_assert_not_null(strstr(res.first[INVARIANT_ELIGIBLE].what, "not approved"), "%s",
	                   res.first[INVARIANT_ELIGIBLE].what);
	cr_assert_not_null(strstr(res.first[INVARIANT_ELIGIBLE].what, "SYN-ACK"));
	scenario_free(sc);

	sc = load_shipped("failover-crash");
	cr_assert_eq(invariants_check(sc, stripped, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             0, "%s", err);
	cr_assert(res.checked & BIT(INVARIANT_GRANT));
	cr_assert(res.checked & BIT(INVARIANT_ELIGIBLE));
	cr_assert_eq(res.broken & (BIT(INVARIANT_GRANT) | BIT(INVARIANT_ELIGIBLE)), 0, "%s",
	             res.first[INVARIANT_GRANT].what);
	scenario_free(sc);
}

/* An L3 service's datagrams: the host's UDP answers (from its own address,
 * which the data plane rewrites to the VIP after the capture) to clients
 * that sent to the VIP prove acceptance; a policy granting only tcp:7
 * breaks grant-safety from them alone. */
Test(invariant_real, exp_2_grant_safety_from_udp_answers_alone, .timeout = 300)
{
	char events[256], stripped[300], pcaps[256], err[256];
	struct invariant_result res;

	simrun("l3-udp", events, sizeof(events), pcaps, sizeof(pcaps));
	strip_claims(events, stripped, sizeof(stripped));
	struct scenario *sc =
	    load_edited_in("l3-udp", "ip: [\"*\"]", "ip: [\"tcp:7\"]", NULL, NULL);
	cr_assert_eq(invariants_check(sc, stripped, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             0, "%s", err);
	cr_assert(res.broken & BIT(INVARIANT_GRANT));
	cr_assert_not_null(strstr(res.first[INVARIANT_GRANT].what, "a datagram"), "%s",
	                   res.first[INVARIANT_GRANT].what);
	cr_assert_not_null(strstr(res.first[INVARIANT_GRANT].what, "udp svc:dns:5353"));
	cr_assert_not_null(strstr(res.first[INVARIANT_GRANT].what, "(UDP answer)"));
	scenario_free(sc);
}

/* A pcap that is cut short, not a pcap, or over a limit is an error with
 * the file named, never "held". */
Test(invariant_real, exp_2_a_bad_or_oversized_pcap_is_an_error_never_held, .timeout = 300)
{
	char events[256], pcaps[256], err[512], path[512], cmd[2048];
	struct invariant_result res;
	struct invariant_limits lim = {0};

	simrun("failover-crash", events, sizeof(events), pcaps, sizeof(pcaps));
	struct scenario *sc = load_shipped("failover-crash");

	lim.pcap_packets = 10;
	cr_assert_eq(invariants_check_limited(sc, events, pcaps, INVARIANT_ALL, &lim, &res, err,
	                                      sizeof(err)),
	             -E2BIG);
	cr_assert_not_null(strstr(err, "more than 10 packets"), "%s", err);
	lim = (struct invariant_limits){.pcap_bytes = 1000};
	cr_assert_eq(invariants_check_limited(sc, events, pcaps, INVARIANT_ALL, &lim, &res, err,
	                                      sizeof(err)),
	             -EFBIG);
	cr_assert_not_null(strstr(err, "-tailnet.pcap: "), "%s", err);

	/* cut in the middle of a record */
	snprintf(path, sizeof(path), "%s/web-eu-tailnet.pcap", pcaps);
	snprintf(cmd, sizeof(cmd), "truncate -s -7 '%s'", path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(invariants_check(sc, events, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             -EINVAL);
	cr_assert_not_null(strstr(err, "web-eu-tailnet.pcap: packet"), "%s", err);
	cr_assert_eq(res.checked, 0);

	/* garbage */
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("this is not a pcap file, not at all", f);
	fclose(f);
	cr_assert_eq(invariants_check(sc, events, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             -EINVAL);
	cr_assert_not_null(strstr(err, "web-eu-tailnet.pcap: not a readable pcap"), "%s", err);

	/* a restart's capture is read too */
	snprintf(path, sizeof(path), "%s/web-us-tailnet-restart-1.pcap", pcaps);
	snprintf(cmd, sizeof(cmd),
	         "cp '%s/web-us-tailnet.pcap' '%s/web-eu-tailnet.pcap' && "
	         "truncate -s 30 '%s'",
	         pcaps, pcaps, path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(invariants_check(sc, events, pcaps, INVARIANT_ALL, &res, err, sizeof(err)),
	             -EINVAL);
	cr_assert_not_null(strstr(err, "web-us-tailnet-restart-1.pcap"), "%s", err);
	scenario_free(sc);
}
#endif

/* ---- set-tags: the truth follows the tags an admin sets (issue 13) ------ */

/* web-2 loses tag:web (its auto-approver for svc:web); control shows it
 * pending, and it accepts a new connection at 20 s anyway. */
static void accept_after_tag_loss(struct evs *e)
{
	ev_state(e, 5100000, "web-2", "Pending approval");
	ev_state(e, 25000000, "web-2", "Connected");
	ev_accept(e, 20000000, "web-2", client_ip[0], true);
}

Test(invariant, exp_2_eligible_safety_a_host_whose_auto_approving_tag_is_gone)
{
	struct healthy h = {0};
	struct invariant_result res =
	    run_case("  - {at: 5s, admin: set-tags web-2 tag:svc, as: alice@example.com}\n"
	             "  - {at: 25s, admin: set-tags web-2 tag:web, as: alice@example.com}\n",
	             &h, accept_after_tag_loss, BIT(INVARIANT_ELIGIBLE));
	cr_assert_not_null(strstr(res.first[INVARIANT_ELIGIBLE].what, "not approved"), "%s",
	                   res.first[INVARIANT_ELIGIBLE].what);
	/* within the propagation bound of the change it may still accept */
	run_case("  - {at: 19800ms, admin: set-tags web-2 tag:svc, as: alice@example.com}\n"
	         "  - {at: 25s, admin: set-tags web-2 tag:web, as: alice@example.com}\n",
	         &h, accept_after_tag_loss, 0);
	/* an admin's approval stands whatever the tags */
	run_case("  - {at: 3s, admin: approve svc:web web-2, as: alice@example.com}\n"
	         "  - {at: 5s, admin: set-tags web-2 tag:svc, as: alice@example.com}\n"
	         "  - {at: 25s, admin: set-tags web-2 tag:web, as: alice@example.com}\n",
	         &h, accept_after_tag_loss, 0);
}

Test(invariant, exp_2_control_view_follows_the_tags_set_last)
{
	struct healthy h = {0};
	/* the run ends with web-2 without its auto-approving tag: control
	 * must show it pending, not Connected */
	run_case("  - {at: 5s, admin: set-tags web-2 tag:svc, as: alice@example.com}\n", &h, NULL,
	         BIT(INVARIANT_CONTROL_VIEW));
}

Test(invariant, exp_2_grant_safety_a_client_that_gains_a_granted_tag_may_connect)
{
	struct healthy h = {0};
	/* `other` (no grant) accepted at 10 s: allowed once it carries tag:client */
	run_case("  - {at: 5s, admin: set-tags other tag:client, as: alice@example.com}\n", &h,
	         accept_from_ungranted, 0);
	run_case("  - {at: 12s, admin: set-tags other tag:client, as: alice@example.com}\n", &h,
	         accept_from_ungranted, BIT(INVARIANT_GRANT));
}

Test(invariant, exp_2_grant_safety_a_client_that_lost_its_granted_tag_after_the_bound)
{
	struct healthy h = {0};
	/* client-1's new connections go on being accepted after it lost tag:client */
	struct invariant_result res =
	    run_case("  - {at: 5s, admin: set-tags client-1 tag:svc, as: alice@example.com}\n", &h,
	             NULL, BIT(INVARIANT_GRANT));
	cr_assert_geq(res.first[INVARIANT_GRANT].t_us, 10000000, "judged inside the bound");
	/* the last ones, within the bound of the change: not judged */
	run_case("  - {at: 28800ms, admin: set-tags client-1 tag:svc, as: alice@example.com}\n", &h,
	         NULL, 0);
}
