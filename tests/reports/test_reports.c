/* The report writers (SPEC HAR-4, HAR-5): synthetic events files in, every
 * output checked (JSON parses, CSV rows, PNG/SVG, self-contained HTML),
 * exact percentiles, each expectation kind passing and failing with its
 * message, determinism, fault shading, malformed lines, limits, compare. */
#include "reports/report.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S(x)  (1000000ull * (x))
#define MS(x) (1000ull * (x))

struct fx {
	char dir[64];
	char events[128];
	char out[128];
	FILE *f;
};

static void fx_open(struct fx *x)
{
	snprintf(x->dir, sizeof(x->dir), "/tmp/test_reports-XXXXXX");
	cr_assert_not_null(mkdtemp(x->dir));
	snprintf(x->events, sizeof(x->events), "%s/events.jsonl", x->dir);
	snprintf(x->out, sizeof(x->out), "%s/out", x->dir);
	x->f = fopen(x->events, "w");
	cr_assert_not_null(x->f);
}

static void fx_close_events(struct fx *x)
{
	if (x->f)
		fclose(x->f);
	x->f = NULL;
}

static void fx_rm(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (!lstat(p, &st) && S_ISDIR(st.st_mode))
			fx_rm(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void fx_done(struct fx *x)
{
	fx_close_events(x);
	fx_rm(x->dir);
}

static void req(struct fx *x, uint64_t start_us, uint64_t lat_us, const char *wl,
                const char *client, const char *host, const char *outcome, int status)
{
	fprintf(x->f,
	        "{\"t_us\":%" PRIu64
	        ",\"node\":\"%s\",\"type\":\"request_done\",\"workload\":\"%s\","
	        "\"client\":\"%s\",\"host\":\"%s\",\"start_us\":%" PRIu64 ",\"latency_us\":%" PRIu64
	        ",\"outcome\":\"%s\",\"status\":%d,\"bytes\":100}\n",
	        start_us + lat_us, client, wl, client, host, start_us, lat_us, outcome, status);
}

static void ev(struct fx *x, uint64_t t_us, const char *node, const char *type, const char *fields)
{
	fprintf(x->f, "{\"t_us\":%" PRIu64 ",\"node\":\"%s\",\"type\":\"%s\"%s%s}\n", t_us, node,
	        type, *fields ? "," : "", fields);
}

static void mark(struct fx *x, uint64_t t_us, const char *action, const char *target)
{
	char f[256];

	snprintf(f, sizeof(f), "\"action\":\"%s\",\"target\":\"%s\",\"detail\":\"\"", action,
	         target);
	ev(x, t_us, "simrun", "timeline", f);
}

static const struct report_node_region regions[] = {
    {"client-0", "ap-south"},
    {"client-1", "eu-west"},
    {"web-us", "us-east"},
    {"web-eu", "eu-west"},
};

static const struct report_workload_service services[] = {{"browse", "svc:web"}};

static struct report_input fx_input(struct fx *x, const struct expect *ex, size_t n,
                                    struct expect_result *res, bool plots)
{
	fx_close_events(x);
	return (struct report_input){.events_path = x->events,
	                             .out_dir = x->out,
	                             .scenario = "unit",
	                             .seed = 42,
	                             .simulated_s = 60,
	                             .wall_s = 2,
	                             .peak_memory_bytes = 1 << 20,
	                             .events = 1000,
	                             .expects = ex,
	                             .n_expects = n,
	                             .results = res,
	                             .regions = regions,
	                             .n_regions = 4,
	                             .services = services,
	                             .n_services = 1,
	                             .plots = plots};
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char p[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static cJSON *load_report(struct fx *x)
{
	char *s = slurp(x->out, "report.json", NULL);
	cJSON *j;

	cr_assert_not_null(s, "report.json missing");
	j = cJSON_Parse(s);
	cr_assert_not_null(j, "report.json does not parse");
	free(s);
	return j;
}

static double jnum(const cJSON *j, const char *path)
{
	char buf[256], *save = NULL;
	const cJSON *cur = j;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save))
		cur = cJSON_GetObjectItemCaseSensitive(cur, t);
	cr_assert(cJSON_IsNumber(cur), "%s is not a number", path);
	return cur->valuedouble;
}

static void write_basic(struct fx *x)
{
	mark(x, S(5), "serve", "web-us");
	ev(x, S(1), "web-us", "conn_accepted", "\"proxy\":\"svc:web\",\"peer\":\"100.64.0.9\"");
	for (int i = 0; i < 100; i++)
		req(x, S(1) + MS(100) * (uint64_t)i, MS(10 + i), "browse",
		    i % 2 ? "client-1" : "client-0", i < 50 ? "web-us" : "web-eu", "ok", 200);
	req(x, S(12), MS(5), "browse", "client-0", "", "refused", 0);
	ev(x, S(2), "web-us", "conn_closed",
	   "\"proxy\":\"svc:web\",\"peer\":\"100.64.0.9\",\"bytes_in\":300,\"bytes_out\":2000");
	mark(x, S(20), "crash", "web-eu");
	mark(x, S(30), "restart", "web-eu");
	mark(x, S(40), "partition", "us-east,eu-west");
}

Test(reports, har4_every_output_exists_and_parses)
{
	struct fx x;
	fx_open(&x);
	write_basic(&x);
	struct report_input in = fx_input(&x, NULL, 0, NULL, true);
	char err[512] = "";
	int rc = report_write(&in, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);

	cJSON *j = load_report(&x);
	cr_assert_eq(jnum(j, "workloads/browse/requests"), 101);
	cr_assert_eq(jnum(j, "run/seed"), 42);
	cr_assert_eq(jnum(j, "run/simulated_s"), 60);
	cr_assert_eq(jnum(j, "run/peak_memory_bytes"), 1 << 20);
	cJSON_Delete(j);

	char *csv = slurp(x.out, "latency.csv", NULL);
	cr_assert_not_null(csv);
	cr_assert(!strncmp(csv, "start_us,client,host,workload,latency_us,outcome,status\n", 56));
	int rows = 0;
	for (char *p = csv; *p; p++)
		rows += *p == '\n';
	cr_assert_eq(rows, 102, "header + 101 rows, got %d", rows);
	free(csv);

	static const char *const plots[] = {"latency_cdf", "requests_per_host",
	                                    "latency_over_time"};
	for (int i = 0; i < 3; i++) {
		char name[64];
		size_t len;
		snprintf(name, sizeof(name), "%s.png", plots[i]);
		char *png = slurp(x.out, name, &len);
		cr_assert_not_null(png, "%s missing", name);
		cr_assert(len > 8 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", name);
		free(png);
		snprintf(name, sizeof(name), "%s.svg", plots[i]);
		char *svg = slurp(x.out, name, NULL);
		cr_assert_not_null(svg, "%s missing", name);
		cr_assert_not_null(strstr(svg, "<svg"), "%s has no svg root", name);
		cr_assert_not_null(strstr(svg, "</svg>"));
		free(svg);
	}
	char *md = slurp(x.out, "summary.md", NULL);
	cr_assert_not_null(md);
	cr_assert_not_null(strstr(md, "| browse | 101 | 100 |"));
	cr_assert_not_null(strstr(md, "](latency_cdf.png)"));
	free(md);
	char *html = slurp(x.out, "index.html", NULL);
	cr_assert_not_null(html);
	cr_assert_not_null(strstr(html, "<style>"));
	cr_assert_not_null(strstr(html, "src=\"data:image/png;base64,iVBORw0KGgo"));
	cr_assert_null(strstr(html, "http://"), "external reference in index.html");
	cr_assert_null(strstr(html, "https://"), "external reference in index.html");
	cr_assert_null(strstr(html, "<link"), "external stylesheet in index.html");
	cr_assert_null(strstr(html, "src=\"latency"), "image by file, not inline");
	free(html);
	fx_done(&x);
}

Test(reports, har4_percentiles_exact_on_known_data)
{
	struct fx x;
	fx_open(&x);
	/* 1..1000 ms in a scrambled order */
	for (unsigned i = 0; i < 1000; i++) {
		unsigned v = (i * 379) % 1000 + 1;
		req(&x, MS(i), MS(v), "browse", "client-0", "web-us", "ok", 200);
	}
	req(&x, S(2), S(9), "browse", "client-0", "web-us", "timeout", 0); /* not in percentiles */
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cJSON *j = load_report(&x);
	cr_assert_eq(jnum(j, "workloads/browse/latency_ms/p50"), 500);
	cr_assert_eq(jnum(j, "workloads/browse/latency_ms/p90"), 900);
	cr_assert_eq(jnum(j, "workloads/browse/latency_ms/p99"), 990);
	cr_assert_eq(jnum(j, "workloads/browse/latency_ms/p999"), 999);
	cr_assert_eq(jnum(j, "workloads/browse/latency_ms/max"), 1000);
	cr_assert_eq(jnum(j, "workloads/browse/failed/timeout"), 1);
	cr_assert_eq(jnum(j, "workloads/browse/ok"), 1000);
	cJSON_Delete(j);
	fx_done(&x);
}

Test(reports, har4_percentiles_per_client_region_and_host)
{
	struct fx x;
	fx_open(&x);
	for (int i = 0; i < 10; i++) {
		req(&x, MS(i), MS(100 + i), "browse", "client-0", "web-us", "ok", 200);
		req(&x, MS(i), MS(10 + i), "browse", "client-1", "web-eu", "ok", 200);
	}
	req(&x, MS(50), MS(1), "browse", "client-9", "web-eu", "ok", 200); /* no region */
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cJSON *j = load_report(&x);
	cr_assert_eq(jnum(j, "workloads/browse/regions/ap-south/latency_ms/max"), 109);
	cr_assert_eq(jnum(j, "workloads/browse/regions/ap-south/latency_ms/p50"), 104);
	cr_assert_eq(jnum(j, "workloads/browse/regions/eu-west/latency_ms/max"), 19);
	cr_assert_eq(jnum(j, "workloads/browse/regions/unknown/requests"), 1);
	cr_assert_eq(jnum(j, "workloads/browse/hosts/web-us/latency_ms/p99"), 109);
	cr_assert_eq(jnum(j, "workloads/browse/hosts/web-eu/requests"), 11);
	cr_assert_eq(jnum(j, "workloads/browse/hosts/web-eu/latency_ms/p50"), 14);
	cJSON_Delete(j);
	fx_done(&x);
}

Test(reports, har4_failures_counted_by_reason_and_success_rate)
{
	struct fx x;
	fx_open(&x);
	static const char *const outs[] = {"ok",    "ok",      "http_error", "refused",
	                                   "reset", "timeout", "overload",   "ok"};
	for (int i = 0; i < 8; i++)
		req(&x, MS(i), MS(3), "browse", "client-0", "web-us", outs[i], i == 2 ? 503 : 200);
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cJSON *j = load_report(&x);
	cr_assert_eq(jnum(j, "workloads/browse/ok"), 3);
	cr_assert_eq(jnum(j, "workloads/browse/failed/http_error"), 1);
	cr_assert_eq(jnum(j, "workloads/browse/failed/refused"), 1);
	cr_assert_eq(jnum(j, "workloads/browse/failed/reset"), 1);
	cr_assert_eq(jnum(j, "workloads/browse/failed/timeout"), 1);
	cr_assert_eq(jnum(j, "workloads/browse/failed/overload"), 1);
	cr_assert_float_eq(jnum(j, "workloads/browse/success_rate"), 0.375, 1e-9);
	cJSON_Delete(j);
	char *csv = slurp(x.out, "latency.csv", NULL);
	cr_assert_not_null(strstr(csv, "\n2000,client-0,web-us,browse,3000,http_error,503\n"), "%s",
	                   csv);
	free(csv);
	fx_done(&x);
}

Test(reports, har4_host_connections_series_and_bytes)
{
	struct fx x;
	fx_open(&x);
	ev(&x, MS(500), "web-us", "conn_accepted", "\"proxy\":\"p\",\"peer\":\"a\"");
	ev(&x, MS(1500), "web-us", "conn_accepted", "\"service\":\"tcp:22\",\"peer\":\"b\"");
	ev(&x, MS(2500), "web-us", "conn_closed",
	   "\"proxy\":\"p\",\"peer\":\"a\",\"bytes_in\":10,\"bytes_out\":20");
	ev(&x, MS(3000), "web-us", "conn_closed",
	   "\"service\":\"tcp:22\",\"peer\":\"b\",\"bytes_up\":5,\"bytes_down\":7");
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.simulated_s = 4;
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cJSON *j = load_report(&x);
	cr_assert_eq(jnum(j, "hosts/web-us/new_connections"), 2);
	cr_assert_eq(jnum(j, "hosts/web-us/bytes_in"), 15);
	cr_assert_eq(jnum(j, "hosts/web-us/bytes_out"), 27);
	cJSON *series = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "hosts"),
	                                     "web-us"),
	    "open_connections");
	cr_assert_eq(cJSON_GetArraySize(series), 5, "samples at 0..4 s");
	/* a sample at t counts the events at t: the close at 3 s is in */
	static const int want[] = {0, 1, 2, 0, 0};
	for (int i = 0; i < 5; i++) {
		cJSON *s = cJSON_GetArrayItem(series, i);
		cr_assert_eq(cJSON_GetArrayItem(s, 0)->valueint, i);
		cr_assert_eq(cJSON_GetArrayItem(s, 1)->valueint, want[i], "t=%d", i);
	}
	cJSON_Delete(j);
	fx_done(&x);
}

Test(reports, har4_service_state_timeline_in_report)
{
	struct fx x;
	fx_open(&x);
	ev(&x, S(1), "control", "service_state",
	   "\"service\":\"svc:web\",\"state\":\"Pending approval\",\"previous\":\"\"");
	ev(&x, S(2), "control", "host_state",
	   "\"service\":\"svc:web\",\"node\":\"web-us\",\"state\":\"Connected\",\"previous\":\"\"");
	ev(&x, S(2), "control", "service_state",
	   "\"service\":\"svc:web\",\"state\":\"Connected\",\"prev\":\"Pending approval\"");
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cJSON *j = load_report(&x);
	cJSON *svc = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "services"), "svc:web");
	cJSON *states = cJSON_GetObjectItemCaseSensitive(svc, "states");
	cr_assert_eq(cJSON_GetArraySize(states), 2);
	cr_assert_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(states, 1), "state")->valuestring,
	    "Connected");
	cr_assert_eq(jnum(cJSON_GetArrayItem(states, 1), "t_us"), S(2));
	cJSON *hosts = cJSON_GetObjectItemCaseSensitive(svc, "hosts");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(hosts, "web-us")), 1);
	cJSON_Delete(j);
	fx_done(&x);
}

/* Runs the report with one expectation; returns its result. */
static struct expect_result run_one(struct fx *x, const struct expect *e)
{
	struct expect_result r;
	struct report_input in = fx_input(x, e, 1, &r, false);
	char err[512] = "";
	memset(&r, 0xa5, sizeof(r));
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	return r;
}

static struct expect ex_new(enum expect_kind k, const char *wl)
{
	struct expect e = {.kind = k, .to_us = UINT64_MAX};
	snprintf(e.workload, sizeof(e.workload), "%s", wl);
	snprintf(e.text, sizeof(e.text), "test expectation");
	return e;
}

Test(reports, expect_success_rate_pass_and_fail)
{
	struct fx x;
	fx_open(&x);
	for (int i = 0; i < 1000; i++)
		req(&x, MS(i), MS(1), "browse", "client-0", "web-us", i == 7 ? "overload" : "ok",
		    200);
	struct expect e = ex_new(EXPECT_SUCCESS_RATE, "browse");
	e.cmp = EXPECT_CMP_GE;
	e.value = 99.9 / 100; /* as "99.9%" parses */
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert_float_eq(r.measured, 0.999, 1e-12);
	e.value = 0.9995;
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message, "expected browse success_rate >= 99.95%, measured 99.9%");
	fx_done(&x);
}

Test(reports, expect_latency_pass_and_fail_with_message)
{
	struct fx x;
	fx_open(&x);
	for (int i = 0; i < 100; i++)
		req(&x, MS(i), i == 99 ? 412300 : MS(100), "browse", "client-0", "web-us", "ok",
		    200);
	struct expect e = ex_new(EXPECT_LATENCY, "browse");
	e.cmp = EXPECT_CMP_LT;
	e.percentile = EXPECT_P99;
	e.value = MS(400);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "p99 of 100 is the 99th: 100ms (%s)", r.message);
	e.percentile = EXPECT_MAX_LATENCY;
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message, "expected browse max < 400ms, measured 412.3ms");
	cr_assert_str_eq(r.measured_text, "412.3ms");
	cr_assert_float_eq(r.measured, 412300, 1e-9);
	fx_done(&x);
}

Test(reports, expect_new_connections_in_window)
{
	struct fx x;
	fx_open(&x);
	ev(&x, S(5), "web-us", "conn_accepted", "\"proxy\":\"p\",\"peer\":\"a\"");
	ev(&x, S(13), "web-us", "conn_accepted", "\"proxy\":\"p\",\"peer\":\"a\"");
	ev(&x, S(13), "web-eu", "conn_accepted", "\"proxy\":\"p\",\"peer\":\"a\"");
	struct expect e = ex_new(EXPECT_NEW_CONNECTIONS, "");
	snprintf(e.node, sizeof(e.node), "web-us");
	e.from_us = S(12);
	e.to_us = S(20);
	e.value = 0;
	struct expect_result r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message,
	                 "expected new_connections on web-us in [12s, 20s] == 0, measured 1");
	e.from_us = S(14);
	e.to_us = UINT64_MAX;
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert_eq(r.measured, 0);
	fx_done(&x);
}

Test(reports, expect_service_state_at_time)
{
	struct fx x;
	fx_open(&x);
	ev(&x, S(1), "control", "service_state",
	   "\"service\":\"svc:web\",\"state\":\"Pending approval\"");
	ev(&x, S(10), "control", "service_state",
	   "\"service\":\"svc:web\",\"state\":\"Connected\"");
	struct expect e = ex_new(EXPECT_SERVICE_STATE, "");
	snprintf(e.service, sizeof(e.service), "svc:web");
	snprintf(e.state, sizeof(e.state), "connected");
	e.at_us = S(15);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	e.at_us = S(5);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message,
	                 "expected state of svc:web at 5s == connected, measured Pending approval");
	snprintf(e.state, sizeof(e.state), "pending-approval");
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	e.at_us = S(0);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "none");
	fx_done(&x);
}

Test(reports, expect_host_state_at_time)
{
	struct fx x;
	fx_open(&x);
	ev(&x, S(1), "control", "host_state",
	   "\"service\":\"svc:web\",\"node\":\"web-us\",\"state\":\"Connected\"");
	ev(&x, S(10), "control", "host_state",
	   "\"service\":\"svc:web\",\"host\":\"web-us\",\"state\":\"Draining\"");
	struct expect e = ex_new(EXPECT_HOST_STATE, "");
	snprintf(e.service, sizeof(e.service), "svc:web");
	snprintf(e.node, sizeof(e.node), "web-us");
	snprintf(e.state, sizeof(e.state), "draining");
	e.at_us = S(11);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	e.at_us = S(9);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(
	    r.message,
	    "expected state of web-us for svc:web at 9s == draining, measured Connected");
	snprintf(e.node, sizeof(e.node), "web-eu");
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "none");
	fx_done(&x);
}

Test(reports, expect_failover_time)
{
	struct fx x;
	fx_open(&x);
	for (int i = 0; i < 20; i++) /* served by web-eu until the fault */
		req(&x, S(i), MS(50), "browse", "client-0", "web-eu", "ok", 200);
	req(&x, S(20), S(10), "browse", "client-0", "", "timeout", 0);
	req(&x, S(21), MS(50), "browse", "client-0", "web-eu", "ok", 200); /* same host: no */
	req(&x, S(22), MS(500), "browse", "client-0", "web-us", "ok", 200);
	req(&x, S(23), MS(50), "browse", "client-0", "web-us", "ok", 200);
	struct expect e = ex_new(EXPECT_FAILOVER_TIME, "browse");
	e.after_us = S(20);
	e.cmp = EXPECT_CMP_LT;
	e.value = S(3);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert_float_eq(r.measured, S(2) + MS(500), 1e-6);
	e.value = S(2);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message, "expected browse failover_time after 20s < 2s, measured 2.5s");
	e.after_us = S(30); /* nothing after: fails, says why */
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert(strstr(r.measured_text, "none"), "%s", r.measured_text);
	fx_done(&x);
}

Test(reports, expect_resets_counted_in_window)
{
	struct fx x;
	fx_open(&x);
	req(&x, S(1), S(10), "stream", "client-0", "web-us", "reset", 0); /* at 11 s */
	req(&x, S(1), S(30), "stream", "client-0", "web-us", "ok", 0);
	struct expect e = ex_new(EXPECT_RESETS, "stream");
	e.value = 0;
	struct expect_result r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message, "expected stream resets in [0ms, end] == 0, measured 1");
	e.from_us = S(12);
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	fx_done(&x);
}

Test(reports, expect_never_ineligible_host)
{
	struct fx x;
	fx_open(&x);
	ev(&x, S(1), "control", "host_state",
	   "\"service\":\"svc:web\",\"node\":\"web-us\",\"state\":\"Connected\"");
	ev(&x, S(10), "control", "host_state",
	   "\"service\":\"svc:web\",\"node\":\"web-us\",\"state\":\"Draining\"");
	req(&x, S(2), MS(5), "browse", "client-0", "web-us", "ok", 200);
	/* within the 1 s map propagation slack after the drain */
	req(&x, S(10) + MS(900), MS(5), "browse", "client-0", "web-us", "ok", 200);
	/* failures do not count */
	req(&x, S(15), MS(5), "browse", "client-0", "web-us", "reset", 0);
	struct expect e = ex_new(EXPECT_NEVER_INELIGIBLE, "");
	snprintf(e.text, sizeof(e.text), "request to a host that was not eligible");
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	/* now one at 11.5 s: past the slack */
	x.f = fopen(x.events, "a");
	req(&x, S(11) + MS(500), MS(5), "browse", "client-0", "web-us", "ok", 200);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_eq(r.measured, 1);
	cr_assert_str_eq(r.message, "expected never: request to a host that was not eligible, "
	                            "measured 1 (first: browse at 11.5s on web-us)");
	fx_done(&x);
}

Test(reports, expect_unknown_workload_fails_with_none)
{
	struct fx x;
	fx_open(&x);
	req(&x, S(1), MS(5), "browse", "client-0", "web-us", "ok", 200);
	struct expect e = ex_new(EXPECT_LATENCY, "nosuch");
	e.cmp = EXPECT_CMP_LT;
	e.value = MS(1);
	struct expect_result r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert(strstr(r.measured_text, "none"), "%s", r.measured_text);
	fx_done(&x);
}

Test(reports, har2_same_events_give_byte_identical_outputs)
{
	struct fx x;
	fx_open(&x);
	write_basic(&x);
	struct expect e = ex_new(EXPECT_LATENCY, "browse");
	e.value = MS(50);
	struct expect_result r;
	struct report_input in = fx_input(&x, &e, 1, &r, true);
	char err[512] = "", out2[160];
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	snprintf(out2, sizeof(out2), "%s/second/nested", x.dir);
	in.out_dir = out2;
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	static const char *const files[] = {"report.json",
	                                    "latency.csv",
	                                    "summary.md",
	                                    "index.html",
	                                    "plots.gp",
	                                    "latency_cdf.png",
	                                    "latency_cdf.svg",
	                                    "requests_per_host.png",
	                                    "requests_per_host.svg",
	                                    "latency_over_time.png",
	                                    "latency_over_time.svg",
	                                    "latency_cdf.dat",
	                                    "requests_per_host.dat",
	                                    "latency_over_time.dat"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t la, lb;
		char *a = slurp(x.out, files[i], &la), *b = slurp(out2, files[i], &lb);
		cr_assert_not_null(a, "%s", files[i]);
		cr_assert_not_null(b, "%s", files[i]);
		cr_assert(la == lb && !memcmp(a, b, la), "%s differs between runs", files[i]);
		free(a);
		free(b);
	}
	fx_done(&x);
}

Test(reports, har4_fault_windows_shaded_and_timeline_marked)
{
	struct fx x;
	fx_open(&x);
	write_basic(&x); /* crash 20..30 s, partition from 40 s never healed */
	struct report_input in = fx_input(&x, NULL, 0, NULL, true);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	char *gp = slurp(x.out, "plots.gp", NULL);
	cr_assert_not_null(gp);
	cr_assert_not_null(strstr(gp, "rect from 20, graph 0 to 30, graph 1 behind"), "%s", gp);
	/* the open partition ends at the run's end (60 s) */
	cr_assert_not_null(strstr(gp, "rect from 40, graph 0 to 60, graph 1 behind"), "%s", gp);
	cr_assert_not_null(strstr(gp, "set arrow from 5, graph 0 to 5, graph 1 nohead"));
	cr_assert_not_null(strstr(gp, "set label \"crash web-eu\" at 20"));
	cr_assert_not_null(strstr(gp, "set terminal pngcairo"));
	cr_assert_not_null(strstr(gp, "set terminal svg"));
	free(gp);
	cJSON *j = load_report(&x);
	cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "fault_windows");
	cr_assert_eq(cJSON_GetArraySize(w), 2);
	cr_assert_eq(jnum(cJSON_GetArrayItem(w, 1), "to_us"), S(60));
	cJSON_Delete(j);
	fx_done(&x);
}

Test(reports, malformed_lines_are_counted_and_skipped)
{
	struct fx x;
	fx_open(&x);
	req(&x, S(1), MS(5), "browse", "client-0", "web-us", "ok", 200);
	fputs("not json at all\n", x.f);
	fputs("{\"t_us\":1,\"node\":\"a\",\"type\":\"request_done\"\n", x.f);  /* cut */
	fputs("{\"t_us\":-1,\"node\":\"a\",\"type\":\"x\"}\n", x.f);           /* bad t_us */
	fputs("{\"t_us\":1,\"node\":\"a\",\"type\":\"request_done\"}\n", x.f); /* no fields */
	fputs("{\"t_us\":1,\"node\":\"a\\q\",\"type\":\"x\"}\n", x.f);         /* bad escape */
	fputs("[1,2]\n", x.f);
	fputs("\n", x.f); /* empty lines are not events */
	fputs("{\"t_us\":2,\"node\":\"a\",\"type\":\"other\",\"nested\":{\"a\":[1,{}]},"
	      "\"u\":\"\\u00e9\\ud83d\\ude00\"}\n",
	      x.f); /* fine */
	req(&x, S(2), MS(5), "browse", "client-0", "web-us", "ok", 200);
	fputs("{\"t_us\":3,\"node\":\"a\",\"type\":\"request_done\",\"workload\":\"browse\"", x.f);
	struct report_stats st;
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.stats = &st;
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.malformed, 7, "malformed %" PRIu64, st.malformed);
	cr_assert_eq(st.lines, 10);
	cr_assert_eq(st.requests, 2);
	cJSON *j = load_report(&x);
	cr_assert_eq(jnum(j, "run/malformed_lines"), 7);
	cr_assert_eq(jnum(j, "workloads/browse/requests"), 2);
	cJSON_Delete(j);
	fx_done(&x);
}

Test(reports, limit_line_longer_than_max_is_malformed)
{
	struct fx x;
	fx_open(&x);
	char *pad = malloc(REPORT_LINE_MAX + 1);
	cr_assert_not_null(pad);
	/* exactly REPORT_LINE_MAX bytes is fine, one more is not */
	for (int extra = 0; extra < 2; extra++) {
		const char *head = "{\"t_us\":1,\"node\":\"a\",\"type\":\"x\",\"pad\":\"";
		size_t fill = REPORT_LINE_MAX + (size_t)extra - strlen(head) - 2;
		memset(pad, 'a', fill);
		pad[fill] = '\0';
		fprintf(x.f, "%s%s\"}\n", head, pad);
	}
	req(&x, S(1), MS(5), "browse", "client-0", "web-us", "ok", 200);
	free(pad);
	struct report_stats st;
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.stats = &st;
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.lines, 3);
	cr_assert_eq(st.malformed, 1);
	cr_assert_eq(st.requests, 1, "the line after the long one is read whole");
	fx_done(&x);
}

Test(reports, limit_too_many_workloads_is_an_error)
{
	struct fx x;
	fx_open(&x);
	for (int i = 0; i <= REPORT_MAX_WORKLOADS; i++) {
		char wl[32];
		snprintf(wl, sizeof(wl), "w%d", i);
		req(&x, S(1), MS(5), wl, "client-0", "web-us", "ok", 200);
	}
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.n_services = 0;
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), -ENOSPC);
	cr_assert(strstr(err, "limit"), "%s", err);
	fx_done(&x);
}

Test(reports, limit_too_many_expectations_is_an_error)
{
	struct fx x;
	fx_open(&x);
	struct expect e = ex_new(EXPECT_RESETS, "w");
	struct expect_result r;
	struct report_input in = fx_input(&x, &e, EXPECT_MAX + 1, &r, false);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), -EINVAL);
	fx_done(&x);
}

Test(reports, csv_cells_with_commas_are_quoted)
{
	struct fx x;
	fx_open(&x);
	req(&x, S(1), MS(5), "a,b", "client-0", "web-us", "ok", 200);
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	char *csv = slurp(x.out, "latency.csv", NULL);
	cr_assert_not_null(strstr(csv, "1000000,client-0,web-us,\"a,b\",5000,ok,200\n"), "%s", csv);
	free(csv);
	fx_done(&x);
}

Test(reports, missing_events_file_is_a_precise_error)
{
	struct fx x;
	fx_open(&x);
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.events_path = "/nonexistent/events.jsonl";
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "/nonexistent/events.jsonl"), "%s", err);
	fx_done(&x);
}

Test(reports, missing_gnuplot_is_reported_by_name)
{
	struct fx x;
	fx_open(&x);
	req(&x, S(1), MS(5), "browse", "client-0", "web-us", "ok", 200);
	struct report_input in = fx_input(&x, NULL, 0, NULL, true);
	in.gnuplot = "/nonexistent/gnuplot";
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "gnuplot"), "%s", err);
	fx_done(&x);
}

Test(reports, empty_events_still_give_every_output)
{
	struct fx x;
	fx_open(&x);
	struct report_input in = fx_input(&x, NULL, 0, NULL, true);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cJSON *j = load_report(&x);
	cJSON_Delete(j);
	size_t len;
	char *png = slurp(x.out, "latency_cdf.png", &len);
	cr_assert_not_null(png);
	free(png);
	fx_done(&x);
}

/* Writes a report.json with one workload's numbers. */
static void write_report(const char *path, double p99, double success, double speed)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "{\"run\":{\"speed\":%g},\"workloads\":{\"browse\":{\"success_rate\":%g,"
	        "\"latency_ms\":{\"p50\":10,\"p90\":20,\"p99\":%g,\"p999\":60,\"max\":70}}}}\n",
	        speed, success, p99);
	fclose(f);
}

Test(reports, har5_compare_flags_latency_success_and_speed_regressions)
{
	struct fx x;
	fx_open(&x);
	char base[160], cur[160];
	snprintf(base, sizeof(base), "%s/base.json", x.dir);
	snprintf(cur, sizeof(cur), "%s/cur.json", x.dir);
	struct report_thresholds th = REPORT_THRESHOLDS_DEFAULT;
	struct report_delta d[32];
	size_t n, reg;
	char err[256];

	write_report(base, 30, 0.999, 100);
	write_report(cur, 32, 0.999, 95); /* +6.7%, -5% speed: fine */
	cr_assert_eq(report_compare(base, cur, &th, d, 32, &n, &reg, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(n, 7);
	cr_assert_eq(reg, 0);

	write_report(cur, 34, 0.99, 50); /* +13% p99, -0.9pp success, -50% speed */
	cr_assert_eq(report_compare(base, cur, &th, d, 32, &n, &reg, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(reg, 3);
	bool p99 = false;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(d[i].metric, "browse p99_ms")) {
			p99 = d[i].regression;
			cr_assert_float_eq(d[i].change, 4.0 / 30, 1e-9);
		}
	cr_assert(p99);
	cr_assert_eq(
	    report_compare(base, "/nonexistent.json", &th, d, 32, &n, &reg, err, sizeof(err)),
	    -ENOENT);
	fx_done(&x);
}

static int run_reportdiff(const char *a, const char *b, const char *opt, const char *val)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		execl(REPORTDIFF_PATH, "reportdiff", a, b, opt, val, (char *)NULL);
		_exit(99);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

Test(reports, har5_reportdiff_exits_1_on_regression)
{
	struct fx x;
	fx_open(&x);
	char base[160], cur[160];
	snprintf(base, sizeof(base), "%s/base.json", x.dir);
	snprintf(cur, sizeof(cur), "%s/cur.json", x.dir);
	write_report(base, 30, 0.999, 100);
	write_report(cur, 34, 0.999, 100);
	cr_assert_eq(run_reportdiff(base, cur, "--max-latency-increase", "10%"), 1);
	cr_assert_eq(run_reportdiff(base, cur, "--max-latency-increase", "20%"), 0);
	cr_assert_eq(run_reportdiff(base, cur, "--max-latency-increase", "ten"), 2);
	cr_assert_eq(run_reportdiff(base, base, NULL, NULL), 0);
	fx_done(&x);
}

Test(reports, performance_one_million_requests)
{
	struct fx x;
	fx_open(&x);
	for (unsigned i = 0; i < 1000000; i++)
		req(&x, i * 50ull, 1000 + (i * 7919u) % 200000, "browse",
		    i % 3 ? "client-0" : "client-1", i % 2 ? "web-us" : "web-eu", "ok", 200);
	struct report_stats st;
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.stats = &st;
	char err[512] = "";
	for (int plots = 0; plots < 2; plots++) {
		struct timespec t0, t1;
		in.plots = plots;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		cr_assert_eq(st.requests, 1000000);
		fprintf(stderr, "report_write: 1,000,000 request_done lines %s in %.2f s\n",
		        plots ? "with plots" : "without plots",
		        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	fx_done(&x);
}

Test(reports, har4_marks_at_the_same_time_share_one_label)
{
	struct fx x;
	fx_open(&x);
	mark(&x, S(10), "crash", "web-eu");
	mark(&x, S(10), "partition", "us-east,eu-west");
	req(&x, S(1), MS(5), "browse", "client-0", "web-us", "ok", 200);
	struct report_input in = fx_input(&x, NULL, 0, NULL, true);
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	char *gp = slurp(x.out, "plots.gp", NULL);
	cr_assert_not_null(gp);
	cr_assert_not_null(
	    strstr(gp, "set label \"crash web-eu; partition us-east,eu-west\" at 10,"), "%s", gp);
	free(gp);
	fx_done(&x);
}

Test(reports, mutated_event_lines_never_crash)
{
	struct fx x;
	fx_open(&x);
	const char *base =
	    "{\"t_us\":12,\"node\":\"c\\u00e9\",\"type\":\"request_done\",\"workload\":"
	    "\"w\",\"client\":\"c\",\"host\":\"h\",\"start_us\":2,\"latency_us\":10,"
	    "\"outcome\":\"ok\",\"status\":200,\"n\":{\"a\":[1,\"]\"]}}";
	static const char alphabet[] = "{}[]\":,\\u0123456789eE.-+ tfnlrsa\x01\xff";
	uint64_t seed = 12345;
	size_t len = strlen(base);
	char line[512];
	for (int i = 0; i < 20000; i++) {
		memcpy(line, base, len + 1);
		int edits = 1 + i % 4;
		for (int e = 0; e < edits; e++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			size_t pos = (seed >> 33) % len;
			line[pos] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
			if (line[pos] == '\n')
				line[pos] = ' ';
		}
		fprintf(x.f, "%s\n", line);
	}
	struct report_stats st;
	struct report_input in = fx_input(&x, NULL, 0, NULL, false);
	in.stats = &st;
	in.n_services = 0;
	char err[512] = "";
	cr_assert_eq(report_write(&in, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.lines, 20000);
	cr_assert_gt(st.malformed, 1000, "most mutations break the line");
	cr_assert_lt(st.malformed, 20000, "some mutations keep it valid");
	fx_done(&x);
}

/* ---- windows and forms of rate and percentile expectations (EXP-2) ---- */

/* browse: a request every 100 ms from 0 to 30 s, 10 ms each; those that
 * start in [10s, 12s) time out, those in [12s, 13s) take 500 ms. */
static void fx_outage(struct fx *x)
{
	fx_open(x);
	for (uint64_t t = 0; t < S(30); t += MS(100)) {
		bool down = t >= S(10) && t < S(12), slow = t >= S(12) && t < S(13);
		req(x, t,
		    down   ? S(1)
		    : slow ? MS(500)
		           : MS(10),
		    "browse", "client-0", "web-us", down ? "timeout" : "ok", down ? 0 : 200);
	}
}

static struct expect ex_rate(uint64_t from, uint64_t to)
{
	struct expect e = ex_new(EXPECT_SUCCESS_RATE, "browse");
	e.cmp = EXPECT_CMP_EQ;
	e.value = 1.0;
	e.from_us = from;
	e.to_us = to;
	return e;
}

Test(reports, exp_2_a_window_that_excludes_the_failures_passes_one_that_includes_them_fails)
{
	struct fx x;
	fx_outage(&x);
	struct expect e = ex_rate(S(12), UINT64_MAX);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	e = ex_rate(0, S(10)); /* [0, 10s): the failure starting at 10 s is outside */
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	e = ex_rate(0, MS(10100));
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message, "expected browse success_rate == 100% for requests started in "
	                            "[0ms, 10.1s), measured 99.01%");
	e = ex_new(EXPECT_LATENCY, "browse");
	e.cmp = EXPECT_CMP_LT;
	e.percentile = EXPECT_P99;
	e.value = MS(100);
	e.from_us = S(13);
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	e.from_us = S(12);
	e.to_us = S(13);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "500ms");
	fx_done(&x);
}

Test(reports, exp_2_throughout_fails_on_the_first_bad_window_and_names_it)
{
	struct fx x;
	fx_outage(&x);
	struct expect e = ex_rate(0, UINT64_MAX);
	e.form = EXPECT_THROUGHOUT;
	e.window_us = S(1);
	struct expect_result r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.message, "expected browse success_rate == 100% in every 1s window of "
	                            "[0ms, 60s), measured 0% in [10s, 11s) (2 of 30 measured "
	                            "windows fail)");
	e.from_us = S(12); /* after the outage: every window holds */
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert_str_eq(r.measured_text, "worst 100% in [12s, 13s) (18 measured windows)");
	e.kind = EXPECT_LATENCY; /* but the slow second does not */
	e.percentile = EXPECT_P99;
	e.cmp = EXPECT_CMP_LT;
	e.value = MS(100);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "500ms in [12s, 13s) (1 of 18 measured windows fail)");
	e.from_us = S(13);
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	struct expect none = ex_rate(0, UINT64_MAX);
	snprintf(none.workload, sizeof(none.workload), "nosuch");
	none.form = EXPECT_THROUGHOUT;
	none.window_us = S(1);
	r = run_one(&x, &none);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "none (no window has anything to measure)");
	none.window_us = 0; /* never from the loader; judged, not looped on */
	r = run_one(&x, &none);
	cr_assert_not(r.pass);
	fx_done(&x);
}

Test(reports, exp_2_eventually_holds_when_the_bound_settles_within_the_bound)
{
	struct fx x;
	fx_outage(&x);
	struct expect e = ex_rate(0, UINT64_MAX);
	e.form = EXPECT_EVENTUALLY;
	e.after_us = S(10);
	e.within_us = S(2);
	e.window_us = S(1);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert_float_eq(r.measured, S(2), 1e-6);
	cr_assert_str_eq(r.message,
	                 "expected browse success_rate == 100% in every 1s window from "
	                 "at most 2s after 10s to 60s, measured holds from 12s (2s after; "
	                 "last failing window [11s, 12s): 0%)");
	e.within_us = S(1) + MS(999);
	r = run_one(&x, &e);
	cr_assert_not(r.pass, "%s", r.message);
	e.after_us = S(5);
	e.within_us = S(7);
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert_float_eq(r.measured, S(7), 1e-6);
	e.to_us = S(11); /* the span ends in the outage: it never holds for good */
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "none (nothing to measure from 11s on)");
	fx_done(&x);
}

Test(reports, exp_2_eventually_after_last_heal_starts_at_the_end_of_the_last_fault)
{
	struct fx x;
	fx_outage(&x);
	mark(&x, S(10), "crash", "web-us");
	mark(&x, S(12), "restart", "web-us");
	struct expect e = ex_rate(0, UINT64_MAX);
	e.form = EXPECT_EVENTUALLY;
	e.after_last_heal = true;
	e.within_us = 0;
	e.window_us = S(1);
	struct expect_result r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	cr_assert(strstr(r.message, "after the last heal at 12s"), "%s", r.message);
	e.kind = EXPECT_LATENCY; /* 500 ms requests in the first second after it */
	e.percentile = EXPECT_P99;
	e.cmp = EXPECT_CMP_LT;
	e.value = MS(100);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_float_eq(r.measured, S(1), 1e-6);
	e.within_us = S(1);
	r = run_one(&x, &e);
	cr_assert(r.pass, "%s", r.message);
	fx_done(&x);

	fx_outage(&x); /* a crash never restarted: the last heal is the run's end */
	mark(&x, S(10), "crash", "web-us");
	e = ex_rate(0, UINT64_MAX);
	e.form = EXPECT_EVENTUALLY;
	e.after_last_heal = true;
	e.within_us = S(5);
	e.window_us = S(1);
	r = run_one(&x, &e);
	cr_assert_not(r.pass);
	cr_assert_str_eq(r.measured_text, "none (nothing to measure from 60s on)");
	fx_done(&x);
}
