/* The faults `simrun explore` draws (EXP-1), carried out by simrun and
 * judged from what other nodes see: a client's requests (which host
 * answered, when they ended), not control's or the daemon's own account.
 * And drawn schedules of every kind, written as YAML timelines, run to
 * their end (EXP-6: an action that cannot be carried out fails the run). */
#include "sim/explore/explore_schedule.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SIMRUN_PATH
#error "SIMRUN_PATH must be defined by the build"
#endif

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Writes `text` as OUT/NAME.yaml and runs simrun on it (pcaps only with
 * `pcaps`); its exit status. */
static int simrun_text(const char *out, const char *name, const char *text, bool pcaps)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s.yaml", out, name);
	write_file(path, text);
	int st = run("'%s' --quiet %s --out '%s' '%s' >'%s/stdout' 2>'%s/stderr'", SIMRUN_PATH,
	             pcaps ? "" : "--pcap none", out, path, out, out);
	if (st != 0)
		run("cat '%s/stdout' '%s/stderr' >&2", out, out);
	return st;
}

/* One finished request, as the client logged it. */
struct req {
	uint64_t start_us, end_us;
	char host[32];
	char node[32]; /* the client */
	bool ok;
};

/* Every request_done event of OUT/reports/NAME/events.jsonl (malloc'd). */
static struct req *requests(const char *out, const char *name, size_t *n)
{
	char path[256], line[4096];
	size_t cap = 64;
	struct req *r = malloc(cap * sizeof(*r));

	snprintf(path, sizeof(path), "%s/reports/%s/events.jsonl", out, name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no %s", path);
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "\"type\":\"request_done\""))
			continue;
		cJSON *j = cJSON_Parse(line);
		cr_assert_not_null(j);
		if (*n == cap)
			r = realloc(r, (cap *= 2) * sizeof(*r));
		struct req *q = &r[(*n)++];
		q->start_us = (uint64_t)cJSON_GetObjectItem(j, "start_us")->valuedouble;
		q->end_us = (uint64_t)cJSON_GetObjectItem(j, "t_us")->valuedouble;
		snprintf(q->host, sizeof(q->host), "%s",
		         cJSON_GetObjectItem(j, "host")->valuestring);
		q->ok = !strcmp(cJSON_GetObjectItem(j, "outcome")->valuestring, "ok");
		snprintf(q->node, sizeof(q->node), "%s",
		         cJSON_GetStringValue(cJSON_GetObjectItem(j, "node")));
		cJSON_Delete(j);
	}
	fclose(f);
	return r;
}

/* A fresh OUT folder (char[64]), simrun on `text` in it (it must exit 0),
 * and its requests (malloc'd). */
static struct req *run_requests(char *out, const char *name, const char *text, bool pcaps,
                                size_t *n)
{
	snprintf(out, 64, "/tmp/test_simrun_faults.XXXXXX");
	cr_assert_not_null(mkdtemp(out));
	cr_assert_eq(simrun_text(out, name, text, pcaps), 0);
	return requests(out, name, n);
}

/* Requests started in [from_s, to_s): how many, and how many on `host`. */
static size_t started_on(const struct req *r, size_t n, double from_s, double to_s,
                         const char *host, size_t *on_host)
{
	size_t all = 0;

	*on_host = 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].start_us >= from_s * 1e6 && r[i].start_us < to_s * 1e6) {
			all++;
			*on_host += !strcmp(r[i].host, host) && r[i].ok;
		}
	return all;
}

#define POLICY_HEAD                                                                                \
	"{\"tagOwners\":{\"tag:web\":[\"alice@example.com\"],\"tag:client\":"                      \
	"[\"alice@example.com\"],\"tag:svc\":[\"alice@example.com\"]},\"autoApprovers\":"          \
	"{\"services\":{\"svc:web\":[\"tag:web\"]}},\"grants\":["
#define GRANT_CLIENT "{\"src\":[\"tag:client\"],\"dst\":[\"svc:web\"],\"ip\":[\"80\"]}"
#define GRANT_WEB    "{\"src\":[\"tag:web\"],\"dst\":[\"svc:web\"],\"ip\":[\"80\"]}"
/* One region, svc:web on web-0 and web-1 (HTTP on 80, each with its
 * origin), and the client a granted to it. */
#define TWO_WEB_HOSTS_AND_A_CLIENT                                                                 \
	"regions: {r: {}}\n"                                                                       \
	"users: {alice@example.com: {role: admin}}\n"                                              \
	"policy: " POLICY_HEAD GRANT_CLIENT "]}\n"                                                 \
	"services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"                          \
	"underlay_workload: off\n"                                                                 \
	"nodes:\n"                                                                                 \
	"  - {name: web, count: 2, region: r, tags: [tag:web], backends: [{listen: "               \
	"127.0.0.1:8080}],\n"                                                                      \
	"     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"                        \
	"  - {name: a, region: r, tags: [tag:client]}\n"

/* Two hosts of svc:web in one region (the client prefers web-0) and a
 * client; the timeline is each admin fault explore draws, as it writes
 * it, one after the other. */
static const char admin_scenario[] =
    "name: adminfaults\n"
    "duration: 20s\n"
    "regions: {r: {}}\n"
    "users: {bob@example.com: {role: member}, alice@example.com: {role: admin}}\n"
    "policy: " POLICY_HEAD GRANT_CLIENT "," GRANT_WEB "]}\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, count: 2, region: r, tags: [tag:web], backends: [{listen: "
    "127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"
    "  - {name: a, region: r, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 19s}\n"
    "timeline:\n"
    "  - {at: 3s, node: web-0, run: \"serve drain svc:web\"}\n"
    "  - {at: 6s, node: web-0, run: \"serve advertise svc:web\"}\n"
    "  - {at: 8s, admin: \"revoke svc:web web-0\", as: \"alice@example.com\"}\n"
    "  - {at: 10s, admin: \"approve svc:web web-0\", as: \"alice@example.com\"}\n"
    "  - {at: 12s, admin: \"reject svc:web web-0\", as: \"alice@example.com\"}\n"
    "  - {at: 14s, admin: \"approve svc:web web-0\", as: \"alice@example.com\"}\n"
    "  - {at: 16s, admin: \"set-policy\", as: \"alice@example.com\", policy: " POLICY_HEAD GRANT_WEB
    "]}}\n"
    "  - {at: 18s, admin: \"set-policy\", as: \"alice@example.com\", policy: " POLICY_HEAD
        GRANT_CLIENT "," GRANT_WEB "]}}\n";

/* While web-0 is drained, revoked or rejected, the client's new requests
 * go to web-1 only; once it is advertised or approved again they come
 * back to web-0. */
static void moved_off_and_back(const struct req *r, size_t n, double fault_s, double heal_s,
                               const char *what)
{
	size_t on, all = started_on(r, n, fault_s + 0.3, heal_s - 0.1, "web-1", &on);

	cr_assert_gt(all, 10, "%s: too few requests to judge", what);
	cr_assert_eq(on, all, "%s: %zu of %zu requests in the fault went elsewhere than web-1",
	             what, all - on, all);
	all = started_on(r, n, heal_s + 0.3, heal_s + 1.9, "web-0", &on);
	cr_assert_gt(on, 0, "%s: no request on web-0 after the heal", what);
}

Test(simrun_faults, exp_1_drain_revoke_reject_and_a_removed_grant_happen_and_heal, .timeout = 300)
{
	char out[64];
	size_t n;

	struct req *r = run_requests(out, "adminfaults", admin_scenario, false, &n);
	moved_off_and_back(r, n, 3, 6, "drain");
	moved_off_and_back(r, n, 8, 10, "revoke");
	moved_off_and_back(r, n, 12, 14, "reject");
	/* Without its grant the client gets nothing through: no request
	 * succeeds, and none started after the cut ends, until the policy is
	 * back; then the held ones succeed. (One in flight at the cut may be
	 * reset when its host stops answering.) */
	size_t ended_in_cut = 0, held_then_ok = 0;
	for (size_t i = 0; i < n; i++) {
		ended_in_cut += r[i].end_us >= 16300000 && r[i].end_us < 18000000 &&
		                (r[i].ok || r[i].start_us >= 16300000);
		held_then_ok += r[i].start_us >= 16300000 && r[i].start_us < 18000000 &&
		                r[i].end_us >= 18000000 && r[i].ok;
	}
	cr_assert_eq(ended_in_cut, 0, "%zu requests ended while the grant was removed",
	             ended_in_cut);
	cr_assert_gt(held_then_ok, 10);
	cr_assert_eq(run("test \"$(grep -c '\"type\":\"timeline\"' "
	                 "'%s/reports/adminfaults/events.jsonl')\" = 8",
	                 out),
	             0);
	cr_assert_eq(
	    run("grep -q '\"detail\":\"set-policy (.* bytes given) (as alice@example.com)' "
	        "'%s/reports/adminfaults/events.jsonl'",
	        out),
	    0);
	free(r);
	run("rm -rf '%s'", out);
}

/* Two hosts of svc:web auto-approved by tag:web, client a granted by
 * tag:client, client b with tag:other (no grant): an admin takes web-0's
 * auto-approving tag away and gives it back, gives b a granted tag, and a
 * member's set-tags is refused as expected (EXP-6). */
static const char tags_scenario[] =
    "name: settags\n"
    "duration: 16s\n"
    "regions: {r: {}}\n"
    "users: {bob@example.com: {role: member}, alice@example.com: {role: admin}}\n"
    "policy: " POLICY_HEAD GRANT_CLIENT "]}\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, count: 2, region: r, tags: [tag:web], backends: [{listen: "
    "127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"
    "  - {name: a, region: r, tags: [tag:client]}\n"
    "  - {name: b, region: r, tags: [tag:svc]}\n"
    "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 15s}\n"
    "  - {name: wb, from: b, to: svc:web:80, rate: 10/s, start: 1s, stop: 15s}\n"
    "timeline:\n"
    "  - {at: 3s, admin: \"set-tags web-0 tag:svc\", as: \"alice@example.com\"}\n"
    "  - {at: 6s, admin: \"set-tags web-0 tag:web\", as: \"alice@example.com\"}\n"
    "  - {at: 8s, admin: \"set-tags b tag:client\", as: \"alice@example.com\"}\n"
    "  - {at: 9s, admin: \"set-tags b tag:web\", as: \"bob@example.com\",\n"
    "     expect_error: \"may not set a node's tags\"}\n";

Test(simrun_faults, exp_1_set_tags_moves_auto_approval_and_grants_and_heals, .timeout = 300)
{
	char out[64];
	size_t n;

	struct req *r = run_requests(out, "settags", tags_scenario, false, &n);
	size_t na = 0, b_early = 0, b_late = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(r[i].node, "b")) {
			b_early += r[i].ok && r[i].end_us < 8000000;
			b_late += r[i].ok && r[i].start_us >= 8500000;
		} else {
			r[na++] = r[i];
		}
	}
	moved_off_and_back(r, na, 3, 6, "tag:web taken from web-0");
	/* b: nothing gets through before its tag is granted, then it does. */
	cr_assert_eq(b_early, 0, "b got %zu answers before it had a granted tag", b_early);
	cr_assert_gt(b_late, 20, "b's requests fail with a granted tag");
	free(r);
	cr_assert_eq(run("grep -c '\"type\":\"node_tags_set\"' '%s/reports/settags/events.jsonl' "
	                 "| grep -qx 3",
	                 out),
	             0);
	run("rm -rf '%s'", out);
}

/* One IPv4 packet of an underlay pcap (LINKTYPE_PPP, as ns-3 writes it). */
struct pkt {
	double t_s;
	uint32_t src, dst;
};

/* Every IPv4 packet of OUT/pcaps/NAME/NODE-underlay.pcap (malloc'd). */
static struct pkt *underlay(const char *out, const char *name, const char *node, size_t *n)
{
	char path[256];
	uint8_t h[24], rec[16], data[64];
	size_t cap = 256;
	struct pkt *p = malloc(cap * sizeof(*p));

	snprintf(path, sizeof(path), "%s/pcaps/%s/%s-underlay.pcap", out, name, node);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "no %s", path);
	cr_assert_eq(fread(h, 1, sizeof(h), f), sizeof(h));
	*n = 0;
	while (fread(rec, 1, sizeof(rec), f) == sizeof(rec)) {
		uint32_t ts, tu, incl;
		memcpy(&ts, rec, 4);
		memcpy(&tu, rec + 4, 4);
		memcpy(&incl, rec + 8, 4);
		size_t take = incl < sizeof(data) ? incl : sizeof(data);
		cr_assert_eq(fread(data, 1, take, f), take);
		fseek(f, (long)(incl - take), SEEK_CUR);
		if (take < 22 || data[0] != 0x00 || data[1] != 0x21) /* PPP, IPv4 */
			continue;
		if (*n == cap)
			p = realloc(p, (cap *= 2) * sizeof(*p));
		p[*n].t_s = ts + tu / 1e6;
		p[*n].src = (uint32_t)data[14] << 24 | data[15] << 16 | data[16] << 8 | data[17];
		p[*n].dst = (uint32_t)data[18] << 24 | data[19] << 16 | data[20] << 8 | data[21];
		(*n)++;
	}
	fclose(f);
	return p;
}

/* A node's underlay address: the source of most packets in its capture. */
static uint32_t own_address(const struct pkt *p, size_t n)
{
	uint32_t best = 0;
	size_t best_n = 0;

	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		for (size_t j = 0; j < n; j++)
			k += p[j].src == p[i].src;
		if (k > best_n) {
			best_n = k;
			best = p[i].src;
		}
	}
	return best;
}

static size_t packets(const struct pkt *p, size_t n, uint32_t src, uint32_t dst, double from_s,
                      double to_s)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i].src == src && p[i].dst == dst && p[i].t_s >= from_s && p[i].t_s < to_s;
	return k;
}

/* Requests that ended in [from_s, to_s). */
static size_t ended(const struct req *r, size_t n, double from_s, double to_s)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += r[i].end_us >= from_s * 1e6 && r[i].end_us < to_s * 1e6;
	return k;
}

/* Requests that ended in [from_s, to_s) and either succeeded or started
 * at start_s or later. */
static size_t ended_since(const struct req *r, size_t n, double from_s, double to_s, double start_s)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += r[i].end_us >= from_s * 1e6 && r[i].end_us < to_s * 1e6 &&
		     (r[i].ok || r[i].start_us >= start_s * 1e6);
	return k;
}

/* The median latency (ms) of the requests started in [from_s, to_s). */
static double median_ms(const struct req *r, size_t n, double from_s, double to_s)
{
	double *l = malloc((n ? n : 1) * sizeof(*l));
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (r[i].start_us >= from_s * 1e6 && r[i].start_us < to_s * 1e6)
			l[k++] = (double)(r[i].end_us - r[i].start_us) / 1000.0;
	cr_assert_gt(k, 5, "too few requests started in [%g, %g) s", from_s, to_s);
	for (size_t i = 1; i < k; i++) /* insertion sort: a few dozen */
		for (size_t j = i; j > 0 && l[j - 1] > l[j]; j--) {
			double t = l[j];
			l[j] = l[j - 1];
			l[j - 1] = t;
		}
	double m = l[k / 2];
	free(l);
	return m;
}

/* The host in region r, the client in s (control in r); the timeline is
 * each network fault explore draws, as it writes it. */
static const char net_scenario[] =
    "name: netfaults\n"
    "duration: 20s\n"
    "regions: {r: {}, s: {}}\n"
    "links: [{between: [r, s], latency: 10ms}]\n"
    "control: {region: r}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy: " POLICY_HEAD GRANT_CLIENT "]}\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, region: r, tags: [tag:web], backends: [{listen: 127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"
    "  - {name: a, region: s, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 19s}\n"
    "timeline:\n"
    "  - {at: 2000000us, isolate: web}\n"
    "  - {at: 4000000us, rejoin: web}\n"
    "  - {at: 7000000us, partition_one_way: [s, r]}\n"
    "  - {at: 9000000us, heal_one_way: [s, r]}\n"
    "  - {at: 11000000us, link: {node: web, latency: 200000us, loss: \"0%\"}}\n"
    "  - {at: 13000000us, link: {node: web, latency: 0us, loss: \"0%\"}}\n"
    "  - {at: 15000000us, link: {between: [r, s], loss: \"50%\"}}\n"
    "  - {at: 17000000us, link: {between: [r, s], loss: \"0%\"}}\n";

Test(simrun_faults, exp_1_isolate_one_way_partition_access_and_loss_happen_and_heal, .timeout = 300)
{
	char out[64];
	size_t n, nw, na;

	struct req *r = run_requests(out, "netfaults", net_scenario, true, &n);
	/* isolate: nothing gets through to web until it rejoins (a request in
	 * flight at the cut may be reset once web stops answering probes) */
	cr_assert_eq(ended_since(r, n, 2.2, 4.0, 2.0), 0, "requests ended while web was cut off");
	cr_assert_gt(ended(r, n, 4.0, 6.0), 10);
	/* one way: a's packets never reach web, web's still reach a */
	struct pkt *pw = underlay(out, "netfaults", "web", &nw);
	struct pkt *pa = underlay(out, "netfaults", "a", &na);
	uint32_t web = own_address(pw, nw), a = own_address(pa, na);
	cr_assert_neq(web, a);
	cr_assert_eq(ended(r, n, 7.2, 9.0), 0, "requests ended during the one-way partition");
	cr_assert_gt(packets(pa, na, a, web, 7.2, 9.0), 10, "a sent nothing to web");
	cr_assert_eq(packets(pw, nw, a, web, 7.2, 9.0), 0, "a's packets reached web from s to r");
	cr_assert_gt(packets(pa, na, web, a, 7.2, 9.0), 0, "web's packets did not reach a");
	cr_assert_gt(packets(pw, nw, a, web, 9.0, 10.0), 10, "nothing from a after the heal");
	/* access: web's own link 200 ms slower each way; then back */
	double base = median_ms(r, n, 5.0, 6.5), slow = median_ms(r, n, 11.2, 12.8);
	cr_assert_gt(slow, base + 4 * 200 - 50, "base %g ms, with the slow access link %g ms", base,
	             slow);
	cr_assert_lt(median_ms(r, n, 13.5, 14.8), base + 10);
	/* loss: half the packets between the regions lost: retransmissions */
	cr_assert_gt(median_ms(r, n, 15.2, 16.8), base + 150);
	cr_assert_lt(median_ms(r, n, 17.5, 18.8), base + 10);
	free(pw);
	free(pa);
	free(r);
	run("rm -rf '%s'", out);
}

/* An L3 service (udp-echo and tcp-echo behind --tun) in r, its client in
 * s; the region link duplicates every packet, then jitters and reorders,
 * each healed as explore writes it. */
static const char quality_scenario[] =
    "name: quality\n"
    "duration: 16s\n"
    "regions: {r: {}, s: {}}\n"
    "links: [{between: [r, s], latency: 10ms}]\n"
    "control: {region: r}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy: {tagOwners: {tag:dns: [alice@example.com], tag:client: [alice@example.com]},\n"
    "  autoApprovers: {services: {svc:dns: [tag:dns]}},\n"
    "  grants: [{src: [tag:client], dst: [svc:dns], ip: [\"*\"]}]}\n"
    "services: [{name: svc:dns, ports: [do-not-validate], tags: [tag:dns]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: dns, region: r, tags: [tag:dns], backends: [{listen: 127.0.0.1:5353, kind: "
    "udp-echo}, {listen: 127.0.0.1:7, kind: tcp-echo}], serve: [serve --service=svc:dns "
    "--tun]}\n"
    "  - {name: a, region: s, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: udp, from: a, to: svc:dns:5353, kind: udp-echo, rate: 40/s, start: 1s, stop: "
    "15s}\n"
    "  - {name: tcp, from: a, to: svc:dns:7, kind: tcp-echo, rate: 20/s, start: 1s, stop: "
    "15s}\n"
    "timeline:\n"
    "  - {at: 3000000us, link: {between: [r, s], duplicate: \"100%\"}}\n"
    "  - {at: 6000000us, link: {between: [r, s], duplicate: \"0%\"}}\n"
    "  - {at: 8000000us, link: {between: [r, s], jitter: 20000us, reorder: \"30%\"}}\n"
    "  - {at: 11000000us, link: {between: [r, s], jitter: 0us, reorder: \"0%\"}}\n"
    "expect:\n"
    "  - {workload: udp, success_rate: \"100%\"}\n"
    "  - {workload: tcp, success_rate: \"100%\"}\n"
    "  - {invariant: request-outcome}\n";

Test(simrun_faults, exp_1_duplicate_jitter_and_reorder_happen_heal_and_count_each_request_once,
     .timeout = 300)
{
	char out[64];
	size_t n, na;

	snprintf(out, sizeof(out), "/tmp/test_simrun_faults.XXXXXX");
	cr_assert_not_null(mkdtemp(out));
	/* every request succeeds (expectations hold): a duplicated echo or
	 * segment is neither a failure nor a second request */
	cr_assert_eq(simrun_text(out, "quality", quality_scenario, true), 0);
	struct req *r = requests(out, "quality", &n);
	for (size_t i = 0; i < n; i++) {
		cr_assert(r[i].ok);
		for (size_t j = i + 1; j < n; j++)
			cr_assert_neq(r[i].start_us, r[j].start_us, "a request counted twice");
	}
	/* duplicate: a sees at least twice the packets from dns (the pcap
	 * shows both copies), and as many after the heal as before */
	struct pkt *pa = underlay(out, "quality", "a", &na);
	cr_assert_gt(na, 0);
	/* a's address: in every packet of its capture (duplicates make the
	 * peer the most frequent source) */
	uint32_t a = pa[0].src, dns = 0;
	for (size_t i = 0; i < na; i++)
		if (pa[i].src != a && pa[i].dst != a)
			a = pa[0].dst;
	for (size_t i = 0, best = 0; i < na; i++) /* dns: who sends a the most (not control) */
		if (pa[i].dst == a && pa[i].src != dns) {
			size_t k = packets(pa, na, pa[i].src, a, 0, 100);
			if (k > best) {
				best = k;
				dns = pa[i].src;
			}
		}
	size_t before = packets(pa, na, dns, a, 1.2, 2.9);
	size_t during = packets(pa, na, dns, a, 3.1, 4.8);
	size_t after = packets(pa, na, dns, a, 6.1, 7.8);
	cr_assert_gt(before, 50);
	cr_assert_geq(during * 10, before * 18, "before %zu, duplicated %zu", before, during);
	cr_assert_lt(after * 10, before * 13, "before %zu, after the heal %zu", before, after);
	/* jitter 0..20 ms and 30% held back, each way: slower; then back */
	double base = median_ms(r, n, 6.2, 7.8), jit = median_ms(r, n, 8.2, 10.8);
	cr_assert_gt(jit, base + 8, "base %g ms, with jitter %g ms", base, jit);
	cr_assert_lt(median_ms(r, n, 11.5, 14.5), base + 2);
	free(pa);
	free(r);
	run("rm -rf '%s'", out);
}

/* Two hosts; web-0's backend dies at 3s while its daemon lives. */
static const char origin_scenario[] =
    "name: originfaults\n"
    "duration: 10s\n" TWO_WEB_HOSTS_AND_A_CLIENT "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 9s}\n"
    "timeline:\n"
    "  - {at: 3000000us, origin_crash: web-0}\n"
    "  - {at: 6000000us, origin_restart: web-0}\n";

Test(simrun_faults, exp_1_origin_crash_fails_requests_on_a_live_daemon_until_restart,
     .timeout = 300)
{
	char out[64];
	size_t n, ok_before = 0, failed_during = 0, ok_during = 0, ok_after = 0;

	struct req *r = run_requests(out, "originfaults", origin_scenario, false, &n);
	for (size_t i = 0; i < n; i++) {
		double t = (double)r[i].start_us / 1e6;
		bool web0 = !strcmp(r[i].host, "web-0");
		ok_before += t < 3.0 && web0 && r[i].ok;
		failed_during += t >= 3.1 && t < 6.0 && web0 && !r[i].ok;
		ok_during += t >= 3.1 && t < 6.0 && web0 && r[i].ok;
		ok_after += t >= 6.1 && web0 && r[i].ok;
	}
	/* web-0's daemon still answers (it is alive), its backend does not */
	cr_assert_gt(ok_before, 10);
	cr_assert_gt(failed_during, 10);
	cr_assert_eq(ok_during, 0, "%zu requests on web-0 succeeded with its backend down",
	             ok_during);
	cr_assert_gt(ok_after, 10);
	free(r);
	run("rm -rf '%s'", out);
}

/* Two hosts; web-0's daemon is paused from 3s to 6s (SIGSTOP, SIGCONT). */
static const char pause_scenario[] =
    "name: pausefaults\n"
    "duration: 10s\n" TWO_WEB_HOSTS_AND_A_CLIENT "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 9s}\n"
    "timeline:\n"
    "  - {at: 3000000us, pause: web-0}\n"
    "  - {at: 6000000us, resume: web-0}\n";

/* How many lines of OUT/reports/NAME/events.jsonl match the grep -E
 * pattern `re` (single-quoted in the shell). */
static int count_lines(const char *out, const char *name, const char *re)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "grep -cE '%s' '%s/reports/%s/events.jsonl'", re, out, name);
	FILE *p = popen(cmd, "r");
	int n = -1;
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* STR-4 for a gray failure: web-0 answers nothing while paused but closes
 * nothing, so its client fails over on its own probes within the bound
 * (control only sees silence); the SYNs the paused daemon was sent are
 * handed to it at the resume, in order, and it serves again. */
Test(simrun_faults, exp_1_pause_fails_clients_over_and_hands_over_what_was_held_on_resume,
     .timeout = 300)
{
	char out[64];
	size_t n, ok_web0_paused = 0, first_web1 = 0, ok_web0_after = 0;
	uint64_t first_ok_us = UINT64_MAX;

	struct req *r = run_requests(out, "pausefaults", pause_scenario, false, &n);
	for (size_t i = 0; i < n; i++) {
		bool web0 = !strcmp(r[i].host, "web-0");
		ok_web0_paused +=
		    web0 && r[i].ok && r[i].start_us >= 3000000 && r[i].end_us < 6000000;
		ok_web0_after += web0 && r[i].ok && r[i].start_us >= 6500000;
		if (r[i].start_us >= 3000000 && r[i].ok && !web0 && r[i].end_us < first_ok_us) {
			first_ok_us = r[i].end_us;
			first_web1 = i;
		}
	}
	cr_assert_eq(ok_web0_paused, 0, "%zu answers from web-0 while it was paused",
	             ok_web0_paused);
	cr_assert_lt(first_ok_us, 4000000, "no ok answer from web-1 within 1 s of the pause");
	cr_assert_str_eq(r[first_web1].host, "web-1");
	cr_assert_gt(ok_web0_after, 10, "web-0 does not serve after its resume");
	/* the events: pause and resume, nothing of web-0's daemon between */
	cr_assert_eq(count_lines(out, "pausefaults",
	                         "\"t_us\":3000000,\"node\":\"web-0\",\"type\":\"pause\""),
	             1);
	cr_assert_eq(
	    count_lines(out, "pausefaults",
	                "\"t_us\":6000000,\"node\":\"web-0\",\"type\":\"resume\",\"held\":[1-9]"),
	    1);
	cr_assert_eq(
	    count_lines(out, "pausefaults", "\"type\":\"timeline\",\"action\":\"(pause|resume)\""),
	    2);
	cr_assert_eq(count_lines(out, "pausefaults", "\"t_us\":([3-5][0-9]{6}),\"node\":\"web-0\""),
	             1, "web-0's daemon ran while paused (only its pause event may be there)");
	/* the SYNs a sent to web-0 while it was paused reach it at the resume,
	 * in the order they were sent (their source ports rise) */
	int held = count_lines(out, "pausefaults",
	                       "\"t_us\":6000000,\"node\":\"web-0\",\"type\":\"flow_new\"");
	cr_assert_gt(held, 0, "nothing held was handed over at the resume");
	cr_assert_eq(run("grep -E '\"t_us\":6000000,\"node\":\"web-0\",\"type\":\"flow_new\"' "
	                 "'%s/reports/pausefaults/events.jsonl' | sed 's/.*\"src\":\"[0-9.]*:"
	                 "\\([0-9]*\\)\".*/\\1/' | sort -c -n",
	                 out),
	             0, "the held SYNs were handed over out of order");
	free(r);
	run("rm -rf '%s'", out);
}

/* EXP-6 for pause and resume: a pause of a crashed node and a resume of a
 * running one fail with their reasons; a crash while paused works and the
 * restarted daemon is not paused (it can be paused again). Without
 * expect_error, a pause of a crashed node stops the run (exit 2). */
static const char pause_order_scenario[] =
    "name: pauseorder\n"
    "duration: 10s\n" TWO_WEB_HOSTS_AND_A_CLIENT "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 9s}\n"
    "timeline:\n"
    "  - {at: 2s, crash: web-0}\n"
    "  - {at: 2500ms, pause: web-0, expect_error: \"web-0 is down (crashed)\"}\n"
    "  - {at: 3s, restart: web-0}\n"
    "  - {at: 3500ms, resume: web-0, expect_error: \"web-0 is not paused\"}\n"
    "  - {at: 4s, pause: web-0}\n"
    "  - {at: 4500ms, pause: web-0, expect_error: \"web-0 is already paused\"}\n"
    "  - {at: 5s, crash: web-0}\n"
    "  - {at: 6s, restart: web-0}\n"
    "  - {at: 7s, pause: web-0}\n"
    "  - {at: 7500ms, resume: web-0}\n";

Test(simrun_faults, exp_6_pause_of_a_crashed_node_fails_and_a_crash_ends_a_pause, .timeout = 300)
{
	char out[64], path[256];
	size_t n, ok_web0_end = 0;

	snprintf(out, sizeof(out), "/tmp/test_simrun_faults.XXXXXX");
	cr_assert_not_null(mkdtemp(out));
	cr_assert_eq(simrun_text(out, "pauseorder", pause_order_scenario, false), 0);
	cr_assert_eq(count_lines(out, "pauseorder",
	                         "\"action\":\"pause\",.*failed as expected: web-0 "
	                         "is down \\(crashed\\): nothing to pause"),
	             1);
	cr_assert_eq(count_lines(out, "pauseorder",
	                         "\"action\":\"resume\",.*failed as expected: web-0 is not paused"),
	             1);
	cr_assert_eq(
	    count_lines(out, "pauseorder", "\"node\":\"web-0\",\"type\":\"(pause|resume)\""), 3,
	    "pause at 4s and 7s, resume at 7.5s");
	struct req *r = requests(out, "pauseorder", &n);
	for (size_t i = 0; i < n; i++)
		ok_web0_end += !strcmp(r[i].host, "web-0") && r[i].ok && r[i].start_us >= 8000000;
	cr_assert_gt(ok_web0_end, 5, "web-0 serves again after its last resume");
	free(r);
	/* the same pause without expect_error: the run stops with the reason */
	char *text = strdup(pause_order_scenario);
	char *cut = strstr(text, ", expect_error: \"web-0 is down (crashed)\"");
	cr_assert_not_null(cut);
	memmove(cut, cut + strlen(", expect_error: \"web-0 is down (crashed)\""),
	        strlen(cut + strlen(", expect_error: \"web-0 is down (crashed)\"")) + 1);
	snprintf(path, sizeof(path), "%s/bad.yaml", out);
	write_file(path, text);
	cr_assert_eq(run("'%s' --quiet --pcap none --out '%s' '%s' 2>'%s/err' >/dev/null",
	                 SIMRUN_PATH, out, path, out),
	             2);
	cr_assert_eq(run("grep -q \"pause of 'web-0' at 2500ms, which is down (crashed at line "
	                 "15)\" '%s/err'",
	                 out),
	             0);
	free(text);
	run("rm -rf '%s'", out);
}

/* Backend answers of `node` by status, from its own backend_request
 * events (the origin's evidence, not the client's): how many answered in
 * [from_s, to_s) with `status`, and how many with another. */
static void backend_answers(const char *out, const char *name, const char *node, double from_s,
                            double to_s, int status, size_t *with, size_t *other)
{
	char path[256], line[4096], who[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/reports/%s/events.jsonl", out, name);
	snprintf(who, sizeof(who), "\"node\":\"%s\"", node);
	f = fopen(path, "r");
	cr_assert_not_null(f, "no %s", path);
	*with = *other = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "\"type\":\"backend_request\"") || !strstr(line, who))
			continue;
		cJSON *j = cJSON_Parse(line);
		cr_assert_not_null(j);
		double t = cJSON_GetObjectItem(j, "t_us")->valuedouble / 1e6;
		int st = cJSON_GetObjectItem(j, "status")->valueint;
		if (t >= from_s && t < to_s) {
			*with += st == status;
			*other += st != status;
		}
		cJSON_Delete(j);
	}
	fclose(f);
}

/* web-0's origin answers errors from 3 s, is slow from 6 s (400 ms more per
 * answer), healthy from 8 s; its daemon lives throughout. */
static const char origin_bad_scenario[] =
    "name: originbad\n"
    "duration: 11s\n" TWO_WEB_HOSTS_AND_A_CLIENT "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 20/s, start: 1s, stop: 10s}\n"
    "timeline:\n"
    "  - {at: 3s, origin_error: web-0}\n"
    "  - {at: 6s, origin_ok: web-0}\n"
    "  - {at: 6s, origin_slow: web-0, delay: 400ms}\n"
    "  - {at: 8s, origin_ok: web-0}\n";

Test(simrun_faults, exp_1_origin_error_and_slow_degrade_a_live_origin_until_ok, .timeout = 300)
{
	char out[64];
	size_t n, with, other, failed_err = 0, ok_err = 0, slow = 0, fast_slow = 0, ok_after = 0;

	snprintf(out, sizeof(out), "/tmp/test_simrun_faults.XXXXXX");
	cr_assert_not_null(mkdtemp(out));
	cr_assert_eq(simrun_text(out, "originbad", origin_bad_scenario, false), 0);
	/* the origin's own answers: 500s exactly while it errs */
	backend_answers(out, "originbad", "web-0", 3.0, 6.0, 500, &with, &other);
	cr_assert_gt(with, 10);
	cr_assert_eq(other, 0, "%zu answers of web-0 were not 500 while erroring", other);
	backend_answers(out, "originbad", "web-0", 1.0, 3.0, 500, &with, &other);
	cr_assert_eq(with, 0);
	cr_assert_gt(other, 10);
	backend_answers(out, "originbad", "web-0", 6.0, 10.0, 500, &with, &other);
	cr_assert_eq(with, 0);
	/* what the client saw of web-0 */
	struct req *r = requests(out, "originbad", &n);
	for (size_t i = 0; i < n; i++) {
		double t = (double)r[i].start_us / 1e6;
		uint64_t took = r[i].end_us - r[i].start_us;
		if (strcmp(r[i].host, "web-0") != 0)
			continue;
		failed_err += t >= 3.05 && t < 6.0 && !r[i].ok;
		ok_err += t >= 3.05 && t < 6.0 && r[i].ok;
		slow += t >= 6.05 && t < 7.5 && r[i].ok && took >= 400000;
		fast_slow += t >= 6.05 && t < 7.5 && took < 400000;
		ok_after += t >= 8.5 && r[i].ok && took < 100000;
	}
	cr_assert_gt(failed_err, 10);
	cr_assert_eq(ok_err, 0, "%zu requests on web-0 succeeded while its origin erred", ok_err);
	cr_assert_gt(slow, 3);
	cr_assert_eq(fast_slow, 0, "%zu requests on web-0 were fast while its origin was slow",
	             fast_slow);
	cr_assert_gt(ok_after, 10);
	free(r);
	run("rm -rf '%s'", out);
}

/* A scenario with every kind explore draws on the menu; the timeline a
 * seed draws is appended. */
static const char explore_scenario[] =
    "name: drawn\n"
    "duration: 40s\n"
    "regions: {r: {}, s: {}}\n"
    "links: [{between: [r, s], latency: 10ms}]\n"
    "users: {bob@example.com: {role: member}, alice@example.com: {role: admin}}\n"
    "policy: " POLICY_HEAD GRANT_CLIENT "," GRANT_WEB "]}\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - {name: web, count: 2, region: r, tags: [tag:web], backends: [{listen: "
    "127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080]}\n"
    "  - {name: a, region: s, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: wa, from: a, to: svc:web:80, rate: 10/s, start: 1s, stop: 39s}\n"
    "explore:\n"
    "  faults:\n"
    "    - {kind: crash, rate: 6, min: 1s, max: 4s}\n"
    "    - {kind: partition, rate: 3, min: 1s, max: 3s}\n"
    "    - {kind: link, rate: 3, min: 1s, max: 3s}\n"
    "    - {kind: control-crash, rate: 3, min: 1s, max: 3s}\n"
    "    - {kind: control-disk, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: torn-write, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: revoke, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: reject, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: drain, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: grant, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: isolate, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: one-way, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: access, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: loss, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: origin, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: origin-slow, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: origin-error, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: pause, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: tags, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: jitter, rate: 6, min: 1s, max: 3s}\n"
    "    - {kind: duplicate, rate: 6, min: 1s, max: 3s}\n"
    "  quiet_tail: 5s\n";

Test(simrun_faults, exp_1_drawn_schedules_of_every_kind_are_carried_out_to_the_end, .timeout = 600)
{
	struct scenario_diags d;
	struct scenario *sc = NULL;
	uint32_t kinds = 0;
	char out[64];

	cr_assert_eq(
	    scenario_load_text(explore_scenario, strlen(explore_scenario), "drawn.yaml", &sc, &d),
	    0);
	snprintf(out, sizeof(out), "/tmp/test_simrun_faults.XXXXXX");
	cr_assert_not_null(mkdtemp(out));
	/* Seeds until every kind has run at least once. */
	for (uint64_t seed = 1; seed <= 40 && kinds != (1u << SCENARIO_FAULT_KINDS) - 1; seed++) {
		struct explore_schedule s;
		char *text = NULL;
		size_t len = 0;
		uint32_t these = 0;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		for (size_t i = 0; i < s.n_faults; i++)
			these |= 1u << s.faults[i].kind;
		if (!(these & ~kinds) || !s.n_events) {
			explore_schedule_free(&s);
			continue;
		}
		FILE *f = open_memstream(&text, &len);
		fputs(explore_scenario, f);
		cr_assert_eq(explore_schedule_write_yaml(sc, &s, f), 0);
		fclose(f);
		int st = simrun_text(out, "drawn", text, false);
		cr_assert_eq(st, 0, "seed %llu: simrun exited %d; its timeline:\n%s",
		             (unsigned long long)seed, st, strstr(text, "timeline:"));
		cr_assert_eq(run("test \"$(grep -c '\"type\":\"timeline\"' "
		                 "'%s/reports/drawn/events.jsonl')\" = %zu",
		                 out, s.n_events),
		             0, "seed %llu: not one timeline event per entry",
		             (unsigned long long)seed);
		cr_assert_neq(run("grep '\"type\":\"timeline\"' '%s/reports/drawn/events.jsonl' | "
		                  "grep -q failed",
		                  out),
		              0);
		kinds |= these;
		free(text);
		explore_schedule_free(&s);
	}
	cr_assert_eq(kinds, (1u << SCENARIO_FAULT_KINDS) - 1, "kinds run: %#x", kinds);
	scenario_free(sc);
	run("rm -rf '%s'", out);
}
