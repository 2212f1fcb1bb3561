/* The core flow with the real binaries: the coordination server (`controld`,
 * admin CLI `svcadm`) and three node daemons (`svcd`, CLI `svcctl`), each in
 * its own network namespace (each svcd with its own TUN device), the
 * underlay a bridge in a fifth namespace joined to each by a veth pair, and
 * real clients (`curl`) run inside the client's namespace, resolving
 * web.example.ts.net through the client svcd's MagicDNS (100.100.100.100).
 *
 *   ctl     10.203.0.1  controld (map 8301, admin API 8300)
 *   host-a  10.203.0.2  svcd --tag tag:web, HTTP origin on 127.0.0.1:8080
 *   host-b  10.203.0.3  svcd --tag tag:web, HTTP origin on 127.0.0.1:8080
 *   client  10.203.0.4  svcd --user bob@example.com --magic-dns
 *
 * Skipped (with the reason) when not root or without /dev/net/tun. Every
 * test builds and removes all of it (namespaces, processes, the temp dir,
 * /etc/netns/<client>). SVCD_REAL_DUMP=1 prints every daemon's events and
 * log at teardown. */
#define _GNU_SOURCE
#include "tests/support/netns.h"
#include "tests/support/prereq.h"
#include "tests/support/shell.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX     65536
#define WAIT_MS     15000
#define CTL_IP      "10.203.0.1"
#define ADMIN_URL   "http://" CTL_IP ":8300"
#define ALICE_TOKEN "alice-token"
#define BOB_TOKEN   "bob-token"
#define WEB_URL     "http://web.example.ts.net"

enum { NS_BR, NS_CTL, NS_A, NS_B, NS_CLIENT, NS_COUNT };
enum { N_A, N_B, N_CLIENT, N_COUNT }; /* svcd nodes; node i lives in NS_A + i */

struct real {
	char dir[64];
	char ns[NS_COUNT][NETNS_NAME_MAX]; /* empty until made */
	char etc_netns[64];                /* /etc/netns/<client ns>, once written */
	pid_t controld, svcd[N_COUNT], backend[2], bg;
	char out[OUT_MAX];
	char control_key[64]; /* controld's public key, from its --key-file */
};

static struct real R;
static const char *const node_names[N_COUNT] = {"host-a", "host-b", "client"};
static const char ns_tags[NS_COUNT] = {'x', 'c', 'a', 'b', 'k'};

/* Runs a shell command, output (stdout and stderr) into R.out; returns the
 * exit status (or -1). */
#define sh(...) shell_run(R.out, sizeof(R.out), __VA_ARGS__)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* Copies a file to stderr under a header (nothing when it cannot be
 * opened). */
static void print_file(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Stops a child: `sig`, then SIGKILL when it has not gone within 5 s.
 * Returns the wait status (or -1); zeroes *pid. */
static int stop_child(pid_t *pid, int sig)
{
	int st = -1;

	if (*pid <= 0)
		return -1;
	kill(*pid, sig);
	for (int t = 0; t < 5000; t += 10) {
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			return st;
		}
		shell_sleep_ms(10);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
	return st;
}

static void path_of(char *out, size_t len, const char *name, const char *ext)
{
	snprintf(out, len, "%s/%s.%s", R.dir, name, ext);
}

static void core_teardown(void)
{
	char path[128];
	bool dump = getenv("SVCD_REAL_DUMP") != NULL;

	stop_child(&R.bg, SIGKILL);
	for (int i = 0; i < N_COUNT; i++)
		stop_child(&R.svcd[i], SIGTERM);
	stop_child(&R.controld, SIGTERM);
	for (int i = 0; i < 2; i++)
		stop_child(&R.backend[i], SIGTERM);
	/* A sanitizer's report in a daemon's log is always shown (and fails
	 * the test). */
	for (int i = 0; R.dir[0] && i <= N_COUNT; i++) {
		path_of(path, sizeof(path), i < N_COUNT ? node_names[i] : "control", "log");
		if (netns_sh("grep -q Sanitizer %s", path)) {
			print_file(path);
			cr_expect_fail("a sanitizer report in %s", path);
		}
	}
	if (dump && R.dir[0]) {
		for (int i = 0; i < N_COUNT; i++) {
			path_of(path, sizeof(path), node_names[i], "events");
			print_file(path);
			path_of(path, sizeof(path), node_names[i], "log");
			print_file(path);
		}
		path_of(path, sizeof(path), "control", "events");
		print_file(path);
		path_of(path, sizeof(path), "control", "log");
		print_file(path);
	}
	for (int i = 0; i < NS_COUNT; i++)
		netns_del(R.ns[i]);
	if (R.etc_netns[0])
		netns_sh("rm -rf %s", R.etc_netns);
	if (R.dir[0])
		netns_sh("rm -rf %s", R.dir);
	memset(&R, 0, sizeof(R));
}

static const char users_json[] =
    "{\"alice@example.com\": {\"role\": \"admin\", \"token\": \"" ALICE_TOKEN "\",\n"
    "                        \"display_name\": \"Alice Example\"},\n"
    " \"bob@example.com\": {\"role\": \"member\", \"token\": \"" BOB_TOKEN "\",\n"
    "                      \"display_name\": \"Bob Example\"}}\n";

static const char policy_hujson[] =
    "{\n"
    "  // who owns which tags\n"
    "  \"tagOwners\": {\"tag:web\": [\"alice@example.com\"],\n"
    "                \"tag:prod\": [\"alice@example.com\"]},\n"
    "  \"grants\": [\n"
    "    {\"src\": [\"autogroup:member\"], \"dst\": [\"svc:web\"], \"ip\": [\"80\", \"443\"]},\n"
    "  ],\n"
    "}\n";

/* controld in the ctl namespace, on the same state file every time. */
static void start_controld(void)
{
	char state[128], users[128], policy[128], events[128], log[128];

	path_of(state, sizeof(state), "control", "state");
	path_of(users, sizeof(users), "users", "json");
	path_of(policy, sizeof(policy), "policy", "hujson");
	path_of(events, sizeof(events), "control", "events");
	path_of(log, sizeof(log), "control", "log");
	char key[128];
	path_of(key, sizeof(key), "control", "pub");
	char *args[] = {CONTROLD_PATH, "--listen",   CTL_IP,     "--state", state,
	                "--users",     users,        "--policy", policy,    "--events",
	                events,        "--key-file", key,        NULL};
	R.controld = netns_spawn(R.ns[NS_CTL], args, log);
	cr_assert_gt(R.controld, 0);
}

/* svcd for node i, against control. */
static void start_svcd(int i)
{
	char sock[128], events[128], log[128], under[32];

	path_of(sock, sizeof(sock), node_names[i], "sock");
	path_of(events, sizeof(events), node_names[i], "events");
	path_of(log, sizeof(log), node_names[i], "log");
	snprintf(under, sizeof(under), "10.203.0.%d", i + 2);
	char state_dir[128], auth[160];
	path_of(state_dir, sizeof(state_dir), node_names[i], "state");
	snprintf(auth, sizeof(auth), "file:%s/%s.authkey", R.dir, node_names[i]);
	char *args[32] = {SVCD_PATH,       "--name",   (char *)node_names[i],
	                  "--underlay",    under,      "--tun",
	                  "svctun0",       "--socket", sock,
	                  "--events",      events,     "--control",
	                  CTL_IP,          "--region", "us-east",
	                  "--drain-grace", "1s"};
	int n = 17;
	args[n++] = "--control-key";
	args[n++] = R.control_key;
	args[n++] = "--state-dir";
	args[n++] = state_dir;
	args[n++] = "--auth-key";
	args[n++] = auth;
	if (i == N_CLIENT) {
		args[n++] = "--user";
		args[n++] = "bob@example.com";
		args[n++] = "--magic-dns";
	} else {
		args[n++] = "--tag";
		args[n++] = "tag:web";
	}
	args[n] = NULL;
	unlink(sock);
	R.svcd[i] = netns_spawn(R.ns[NS_A + i], args, log);
	cr_assert_gt(R.svcd[i], 0);
	if (!shell_wait_file(sock, WAIT_MS)) {
		print_file(log);
		cr_assert_fail("svcd %s did not create its socket", node_names[i]);
	}
}

/* svcadm in the ctl namespace as alice (or with the token given). */
#define SVCADM_AS(token, args)                                                                     \
	"ip netns exec %s " SVCADM_PATH " --control " ADMIN_URL " --token " token " " args,        \
	    R.ns[NS_CTL]
#define SVCADM(args) SVCADM_AS(ALICE_TOKEN, args)

/* svcctl on node i. */
#define SVCCTL(i, args)                                                                            \
	"ip netns exec %s " SVCCTL_PATH " --socket %s/%s.sock " args, R.ns[NS_A + (i)], R.dir,     \
	    node_names[i]

/* curl in the client namespace. */
#define CURL(args) "ip netns exec %s curl -sS " args, R.ns[NS_CLIENT]

/* Parses R.out as JSON (asserting it is). */
static cJSON *out_json(void)
{
	cJSON *doc = cJSON_Parse(R.out);
	cr_assert_not_null(doc, "not JSON: %s", R.out);
	return doc;
}

/* True when `svcadm nodes` shows every node connected. */
static bool all_nodes_connected(void)
{
	if (sh(SVCADM("nodes")) != 0)
		return false;
	cJSON *doc = cJSON_Parse(R.out), *n;
	int connected = 0;
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(doc, "nodes"))
	{
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "connected")))
			connected++;
	}
	cJSON_Delete(doc);
	return connected == N_COUNT;
}

/* Every daemon has applied a netmap from control (its events say so). */
static bool all_nodes_mapped(void)
{
	char path[128];

	for (int i = 0; i < N_COUNT; i++) {
		path_of(path, sizeof(path), node_names[i], "events");
		if (sh("grep -q '\"type\":\"netmap_applied\"' %s", path) != 0)
			return false;
	}
	return true;
}

/* Connected to control and holding a netmap: only then does `serve`
 * know the tailnet's name (CFG-12's URLs). */
static bool wait_all_connected(int ms)
{
	for (double end = now_s() + ms / 1000.0; now_s() < end; shell_sleep_ms(100))
		if (all_nodes_connected() && all_nodes_mapped())
			return true;
	return false;
}

/* Everything: namespaces, bridge, controld, the three daemons, the hosts'
 * origins, the client's resolv.conf; returns once every node is connected
 * to control. */
/* What a node's operator needs before starting svcd (SEC-1, SEC-2):
 * control's public key from controld's --key-file, and an auth key per
 * node: the hosts' tagged one from alice (an admin), the client's own
 * from bob (a member makes keys for his own nodes). */
static void make_auth_keys(void)
{
	char path[128];

	path_of(path, sizeof(path), "control", "pub");
	cr_assert(shell_wait_file(path, WAIT_MS), "controld wrote no --key-file");
	cr_assert_eq(sh("cat %s", path), 0, "%s", R.out);
	snprintf(R.control_key, sizeof(R.control_key), "%.*s", (int)strcspn(R.out, "\n"), R.out);
	for (int i = 0; i < N_COUNT; i++) {
		int rc = i == N_CLIENT ? sh(SVCADM_AS(BOB_TOKEN, "authkey create"))
		                       : sh(SVCADM("authkey create --tags tag:web"));
		cr_assert_eq(rc, 0, "authkey create: %s", R.out);
		cJSON *doc = out_json();
		const char *key =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "key"));
		cr_assert_not_null(key, "%s", R.out);
		snprintf(path, sizeof(path), "%s/%s.authkey", R.dir, node_names[i]);
		write_file(path, key);
		cJSON_Delete(doc);
	}
}

static void core_setup(void)
{
	const char *skip = NULL;
	char dev[2][NETNS_NAME_MAX], path[128], ready[128], log[128];

	memset(&R, 0, sizeof(R));
	if (!netns_can_run_tun(&skip))
		prereq_missing("%s", skip);
	snprintf(R.dir, sizeof(R.dir), "/tmp/corereal.XXXXXX");
	cr_assert_not_null(mkdtemp(R.dir));
	chmod(R.dir, 0755);
	for (int i = 0; i < NS_COUNT; i++)
		if (!netns_add(R.ns[i], "cf", ns_tags[i], &skip))
			prereq_missing("%s", skip);
	cr_assert(netns_sh("ip -n %s link add br0 type bridge && ip -n %s link set br0 up",
	                   R.ns[NS_BR], R.ns[NS_BR]),
	          "bridge");
	for (int i = NS_CTL; i < NS_COUNT; i++) {
		char cidr[32];

		netns_unique_name(dev[0], sizeof(dev[0]), "cfp", ns_tags[i]);
		netns_unique_name(dev[1], sizeof(dev[1]), "cfv", ns_tags[i]);
		cr_assert(netns_veth(R.ns[NS_BR], dev[0], R.ns[i], dev[1]), "veth");
		cr_assert(netns_sh("ip -n %s link set %s master br0 && ip -n %s link set %s up",
		                   R.ns[NS_BR], dev[0], R.ns[NS_BR], dev[0]),
		          "bridge port");
		snprintf(cidr, sizeof(cidr), "10.203.0.%d/24", i);
		cr_assert(netns_addr_up(R.ns[i], dev[1], cidr));
	}
	/* MagicDNS for the client's processes: `ip netns exec` bind-mounts
	 * this over /etc/resolv.conf. */
	snprintf(R.etc_netns, sizeof(R.etc_netns), "/etc/netns/%s", R.ns[NS_CLIENT]);
	cr_assert(netns_sh("mkdir -p %s", R.etc_netns));
	snprintf(path, sizeof(path), "%s/resolv.conf", R.etc_netns);
	write_file(path, "nameserver 100.100.100.100\n");

	path_of(path, sizeof(path), "users", "json");
	write_file(path, users_json);
	path_of(path, sizeof(path), "policy", "hujson");
	write_file(path, policy_hujson);
	start_controld();
	make_auth_keys();
	for (int i = 0; i < N_COUNT; i++)
		start_svcd(i);
	for (int i = 0; i < 2; i++) {
		snprintf(ready, sizeof(ready), "%s/backend-%d.ready", R.dir, i);
		snprintf(log, sizeof(log), "%s/backend-%d.log", R.dir, i);
		char *bargs[] = {BACKEND_PATH, "--http", "127.0.0.1:8080", "--ready", ready, NULL};
		R.backend[i] = netns_spawn(R.ns[NS_A + i], bargs, log);
		cr_assert_gt(R.backend[i], 0);
		cr_assert(shell_wait_file(ready, WAIT_MS), "backend %d did not start", i);
	}
	if (!wait_all_connected(WAIT_MS)) {
		path_of(path, sizeof(path), "control", "log");
		print_file(path);
		cr_assert_fail("every node connects to control: %s", R.out);
	}
}

/* The JSON object of `host` for svc:web in `svcadm services` output (a
 * detached copy; NULL when absent), and the service's state into svc_state. */
static cJSON *web_host(const char *host, char *svc_state, size_t len)
{
	cJSON *doc, *s, *h, *found = NULL;

	if (svc_state && len)
		svc_state[0] = '\0';
	if (sh(SVCADM("services")) != 0)
		return NULL;
	doc = out_json();
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(doc, "services"))
	{
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
		if (!name || strcmp(name, "svc:web") != 0)
			continue;
		if (svc_state)
			snprintf(svc_state, len, "%s",
			         cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "state"))
			             ?: "");
		cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(s, "hosts"))
		{
			const char *node =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "node"));
			if (node && strcmp(node, host) == 0)
				found = cJSON_Duplicate(h, true);
		}
	}
	cJSON_Delete(doc);
	return found;
}

static const char *str_item(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key)) ?: "";
}

/* Waits until `svcadm services` shows `host` in `state` for svc:web. */
static bool wait_host_state(const char *host, const char *state, int ms)
{
	for (double end = now_s() + ms / 1000.0; now_s() < end; shell_sleep_ms(100)) {
		cJSON *h = web_host(host, NULL, 0);
		bool ok = h && strcmp(str_item(h, "state"), state) == 0;
		cJSON_Delete(h);
		if (ok)
			return true;
	}
	return false;
}

/* curl `url_args` from the client until it exits 0 (each try at most 1 s,
 * 50 ms apart); true on success, R.out holding the answer. */
static bool wait_curl(const char *url_args, int ms)
{
	for (double end = now_s() + ms / 1000.0; now_s() < end; shell_sleep_ms(50))
		if (sh(CURL("--max-time 1 %s"), url_args) == 0)
			return true;
	return false;
}

/* How many connections node i's proxies accepted so far (its events). */
static int accepted(int i)
{
	char path[128], line[4096];
	int n = 0;

	path_of(path, sizeof(path), node_names[i], "events");
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "\"type\":\"conn_accepted\""))
			n++;
	fclose(f);
	return n;
}

/* The client's tailnet addresses (from `svcadm nodes`), into a[2]. */
static void client_addresses(char a[2][64])
{
	cJSON *n;

	a[0][0] = a[1][0] = '\0';
	cr_assert_eq(sh(SVCADM("nodes")), 0, "%s", R.out);
	cJSON *doc = out_json();
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(doc, "nodes"))
	{
		if (strcmp(str_item(n, "name"), "client") != 0)
			continue;
		cJSON *addrs = cJSON_GetObjectItemCaseSensitive(n, "addresses");
		for (int k = 0; k < 2 && k < cJSON_GetArraySize(addrs); k++)
			snprintf(a[k], 64, "%s",
			         cJSON_GetStringValue(cJSON_GetArrayItem(addrs, k)) ?: "");
	}
	cJSON_Delete(doc);
	cr_assert(a[0][0] && a[1][0], "client addresses in `svcadm nodes`");
}

/* svc:web on tcp:80 served by the hosts listed (N_A, N_B) and approved. */
static void web_on(const int *hosts, int n_hosts)
{
	cr_assert_eq(sh(SVCADM("define svc:web --ports=tcp:80 --tags=tag:prod")), 0, "%s", R.out);
	for (int k = 0; k < n_hosts; k++) {
		int i = hosts[k];
		cr_assert_eq(sh(SVCCTL(i, "serve --service=svc:web --http=80 8080")), 0, "%s",
		             R.out);
		cr_assert(wait_host_state(node_names[i], "Pending approval", WAIT_MS), "%s", R.out);
		cr_assert_eq(sh(SVCADM("approve svc:web %s"), node_names[i]), 0, "%s", R.out);
		cr_assert(wait_host_state(node_names[i], "Connected", WAIT_MS), "%s approved: %s",
		          node_names[i], R.out);
	}
	cr_assert(wait_curl(WEB_URL "/", WAIT_MS), "svc:web reachable: %s", R.out);
}

/* Which host (N_A or N_B) takes the client's next connection: one probe
 * request, attributed by the hosts' conn_accepted events. */
static int serving_host(void)
{
	int before[2] = {accepted(N_A), accepted(N_B)};

	cr_assert_eq(sh(CURL("--max-time 2 " WEB_URL "/")), 0, "%s", R.out);
	for (int t = 0; t < 2000; t += 20) {
		for (int i = 0; i < 2; i++)
			if (accepted(i) > before[i])
				return i;
		shell_sleep_ms(20);
	}
	cr_assert_fail("neither host logged the probe connection");
	return -1;
}

Test(core_real, cfg_12_apr_1_2_l7_4_svc_3_har_6_core_flow_define_serve_approve_curl_by_name,
     .init = core_setup, .fini = core_teardown, .timeout = 180)
{
	char state[64], addr[2][64];

	client_addresses(addr);
	int rc = sh(SVCADM("define svc:web --ports=tcp:80 --tags=tag:prod"));
	cr_assert_eq(rc, 0, "define: %d %s", rc, R.out);

	/* CFG-12: the host is told approval is needed. */
	rc = sh(SVCCTL(N_A, "serve --service=svc:web --http=80 8080"));
	cr_assert_eq(rc, 0, "serve: %d %s", rc, R.out);
	cr_assert(strstr(R.out, "approval from an admin is required"), "CFG-12: %s", R.out);
	cr_assert(strstr(R.out, "http://web.example.ts.net/"), "%s", R.out);

	/* APR-1, STA-1: pending, and not reachable. */
	cr_assert(wait_host_state("host-a", "Pending approval", WAIT_MS), "APR-1: %s", R.out);
	cJSON *h = web_host("host-a", state, sizeof(state));
	cr_assert_not_null(h);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(h, "approved")));
	cJSON_Delete(h);
	cr_assert_str_eq(state, "Pending approval", "STA-1 service state");
	double t0 = now_s();
	rc = sh(CURL("--max-time 2 " WEB_URL "/headers"));
	double took = now_s() - t0;
	cr_assert_neq(rc, 0, "APR-1: an unapproved host serves nothing: %s", R.out);
	cr_assert_lt(took, 3.5, "the refusal is quick (%.2f s)", took);

	/* APR-2: approved, reachable by name within seconds. */
	rc = sh(SVCADM("approve svc:web host-a"));
	cr_assert_eq(rc, 0, "approve: %d %s", rc, R.out);
	t0 = now_s();
	cr_assert(wait_curl("-w '\\n%{http_code}' " WEB_URL "/headers", WAIT_MS),
	          "APR-2: reachable after approval: %s", R.out);
	fprintf(stderr, "core_real: reachable %.2f s after approval\n", now_s() - t0);
	cr_assert(strstr(R.out, "\n200"), "STR-1: %s", R.out);
	char xff[2][128];
	for (int k = 0; k < 2; k++)
		snprintf(xff[k], sizeof(xff[k]), "X-Forwarded-For: %s\n", addr[k]);
	cr_assert(strcasestr(R.out, xff[0]) || strcasestr(R.out, xff[1]),
	          "L7-4: XFF is the client's tailnet address (%s or %s): %s", addr[0], addr[1],
	          R.out);
	cr_assert(strcasestr(R.out, "Tailscale-User-Login: bob@example.com"), "L7-4: %s", R.out);
	cr_assert(strcasestr(R.out, "Host: web.example.ts.net"), "%s", R.out);
	cr_assert(wait_host_state("host-a", "Connected", WAIT_MS), "STA-1: %s", R.out);
	cJSON_Delete(web_host("host-a", state, sizeof(state)));
	cr_assert_str_eq(state, "Connected", "STA-1 service state");
}

Test(core_real, l7_5_https_verifies_against_the_tailnet_ca, .init = core_setup,
     .fini = core_teardown, .timeout = 180)
{
	char ca[128];

	cr_assert_eq(sh(SVCADM("define svc:web --ports=tcp:443 --tags=tag:prod")), 0, "%s", R.out);
	cr_assert_eq(sh(SVCCTL(N_A, "serve --service=svc:web --https=443 8080")), 0, "%s", R.out);
	cr_assert(wait_host_state("host-a", "Pending approval", WAIT_MS), "%s", R.out);
	cr_assert_eq(sh(SVCADM("approve svc:web host-a")), 0, "%s", R.out);

	/* The CA certificate, as a user fetches it (svcadm ca), and the same
	 * from the admin API itself. */
	path_of(ca, sizeof(ca), "ca", "pem");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "ip netns exec %s " SVCADM_PATH " --control " ADMIN_URL " --token " ALICE_TOKEN
	         " ca > %s",
	         R.ns[NS_CTL], ca);
	cr_assert_eq(sh("%s", cmd), 0, "svcadm ca: %s", R.out);
	int rc = sh("ip netns exec %s curl -sS -f -H 'Authorization: Bearer " ALICE_TOKEN
	            "' " ADMIN_URL "/api/ca | cmp - %s",
	            R.ns[NS_CTL], ca);
	cr_assert_eq(rc, 0, "GET /api/ca gives the same PEM: %s", R.out);
	cr_assert_eq(sh("openssl x509 -noout -subject -in %s", ca), 0, "a PEM certificate: %s",
	             R.out);

	char args[256];
	snprintf(args, sizeof(args),
	         "--cacert %s -w '\\n%%{http_code}' https://web.example.ts.net/", ca);
	cr_assert(wait_curl(args, WAIT_MS), "L7-5: verifies with the tailnet CA: %s", R.out);
	cr_assert(strstr(R.out, "\n200"), "%s", R.out);
	snprintf(args, sizeof(args), "--cacert %s https://web.example.ts.net/headers", ca);
	cr_assert_eq(sh(CURL("--max-time 5 %s"), args), 0, "%s", R.out);
	cr_assert(strcasestr(R.out, "X-Forwarded-Proto: https"), "%s", R.out);
	cr_assert(strcasestr(R.out, "Tailscale-User-Login: bob@example.com"), "%s", R.out);

	/* Without the CA: curl's "certificate problem" (60). */
	rc = sh(CURL("--max-time 5 https://web.example.ts.net/"));
	cr_assert_eq(rc, 60, "verification fails without the CA (curl %d): %s", rc, R.out);
}

Test(core_real, str_4_failover_after_sigkill_of_the_serving_host, .init = core_setup,
     .fini = core_teardown, .timeout = 180)
{
	const int both[] = {N_A, N_B};

	web_on(both, 2);
	int dead = serving_host(), other = 1 - dead;
	int before = accepted(other);

	/* SIGKILL: no goodbye; the kernel closes its control session and the
	 * TUN device goes with the process. */
	cr_assert_eq(kill(R.svcd[dead], SIGKILL), 0);
	waitpid(R.svcd[dead], NULL, 0);
	R.svcd[dead] = 0;
	double t0 = now_s();
	bool ok = wait_curl("-w '\\n%{http_code}' " WEB_URL "/", 30000);
	double took = now_s() - t0;
	fprintf(stderr, "core_real: STR-4 failover from %s to %s took %.3f s\n", node_names[dead],
	        node_names[other], took);
	cr_assert(ok, "service back after the host died: %s", R.out);
	cr_assert(strstr(R.out, "\n200"), "%s", R.out);
	cr_assert_lt(took, 5.0, "STR-4: failover within 5 s (took %.3f s)", took);
	cr_assert_gt(accepted(other), before, "served by %s", node_names[other]);
	cr_assert(wait_host_state(node_names[dead], "Offline", WAIT_MS), "dead host: %s", R.out);
}

Test(core_real, drn_1_2_drain_finishes_in_flight_and_moves_new_requests, .init = core_setup,
     .fini = core_teardown, .timeout = 180)
{
	const int both[] = {N_A, N_B};
	char res[128];

	web_on(both, 2);
	int drained = serving_host(), other = 1 - drained;
	int before = accepted(drained), before_other = accepted(other);

	/* A 3 s request in flight to the host about to drain. */
	path_of(res, sizeof(res), "long", "out");
	char *cargs[] = {"curl", "-sS",          "--max-time",
	                 "20",   "-o",           "/dev/null",
	                 "-w",   "%{http_code}", WEB_URL "/sleep/3000000",
	                 NULL};
	R.bg = netns_spawn(R.ns[NS_CLIENT], cargs, res);
	cr_assert_gt(R.bg, 0);
	for (int t = 0; accepted(drained) == before; t += 20) {
		cr_assert_lt(t, WAIT_MS, "the long request reached %s", node_names[drained]);
		shell_sleep_ms(20);
	}
	double t0 = now_s();
	int rc = sh(SVCCTL(drained, "serve drain svc:web"));
	cr_assert_eq(rc, 0, "drain: %s", R.out);

	/* New requests while it drains: every one succeeds. */
	int tries = 0, failures = 0, st = -1;
	char first_fail[512] = "";
	while (waitpid(R.bg, &st, WNOHANG) == 0) {
		cr_assert_lt(now_s() - t0, 25.0, "the long request ends");
		rc = sh(CURL("--max-time 2 -o /dev/null -w '%%{http_code}' " WEB_URL "/"));
		tries++;
		if (rc != 0 || strcmp(R.out, "200") != 0) {
			if (!failures++)
				snprintf(first_fail, sizeof(first_fail), "curl %d: %.400s", rc,
				         R.out);
		}
		shell_sleep_ms(50);
	}
	R.bg = 0;
	double took = now_s() - t0;
	FILE *f = fopen(res, "r");
	char code[64] = "";
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(code, sizeof(code), f));
	fclose(f);
	fprintf(stderr,
	        "core_real: DRN-1/2 %d requests during the drain, %d failed; long request "
	        "%s after %.2f s\n",
	        tries, failures, code, took);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "DRN-2: the in-flight request completes "
	          "(curl status %d): %s",
	          st, code);
	cr_assert_str_eq(code, "200", "DRN-2: in-flight request answered 200");
	cr_assert_eq(failures, 0, "DRN-1: zero failures during the drain (%d of %d): %s", failures,
	             tries, first_fail);
	cr_assert_gt(tries, 0);
	/* After the drain, new connections go to the other host. */
	int on_other = accepted(other);
	for (int k = 0; k < 5; k++)
		cr_assert_eq(sh(CURL("--max-time 2 " WEB_URL "/")), 0, "%s", R.out);
	cr_assert_gt(on_other, before_other, "requests moved to %s during the drain",
	             node_names[other]);
	int on_drained = accepted(drained);
	for (int k = 0; k < 5; k++)
		cr_assert_eq(sh(CURL("--max-time 2 " WEB_URL "/")), 0, "%s", R.out);
	cr_assert_eq(accepted(drained), on_drained, "nothing new reaches the drained host");
	cr_assert_geq(accepted(other), on_other + 5, "%s takes them", node_names[other]);
}

Test(core_real, control_restart_keeps_services_vips_and_approvals, .init = core_setup,
     .fini = core_teardown, .timeout = 180)
{
	const int a[] = {N_A};
	char vip_before[64], vip_after[64];

	web_on(a, 1);
	cr_assert_eq(sh(SVCADM("service svc:web")), 0, "%s", R.out);
	cJSON *doc = out_json();
	snprintf(vip_before, sizeof(vip_before), "%s",
	         cJSON_GetStringValue(
	             cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "addresses"), 0))
	             ?: "");
	cJSON_Delete(doc);
	cr_assert(vip_before[0], "a VIP: %s", R.out);

	int st = stop_child(&R.controld, SIGTERM);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "controld stops cleanly (%d)", st);
	/* The data plane does not need control. */
	cr_assert(wait_curl(WEB_URL "/", WAIT_MS), "served while control is down: %s", R.out);

	start_controld();
	cr_assert(wait_all_connected(WAIT_MS), "the daemons reconnect: %s", R.out);
	cr_assert_eq(sh(SVCADM("service svc:web")), 0, "%s", R.out);
	doc = out_json();
	snprintf(vip_after, sizeof(vip_after), "%s",
	         cJSON_GetStringValue(
	             cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "addresses"), 0))
	             ?: "");
	cJSON_Delete(doc);
	cr_assert_str_eq(vip_after, vip_before, "the same VIP after the restart");
	cJSON *h = web_host("host-a", NULL, 0);
	cr_assert_not_null(h, "host-a still listed: %s", R.out);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "approved")), "still approved");
	cJSON_Delete(h);
	cr_assert(wait_host_state("host-a", "Connected", WAIT_MS), "%s", R.out);
	cr_assert(wait_curl("-w '\\n%{http_code}' " WEB_URL "/headers", WAIT_MS),
	          "curl after the restart: %s", R.out);
	cr_assert(strstr(R.out, "\n200"), "%s", R.out);
	cr_assert(strcasestr(R.out, "Tailscale-User-Login: bob@example.com"), "%s", R.out);
}

Test(core_real, svc_6_apr_2_members_cannot_define_or_approve_and_the_api_needs_a_token,
     .init = core_setup, .fini = core_teardown, .timeout = 120)
{
	cr_assert_eq(sh(SVCADM("define svc:web --ports=tcp:80 --tags=tag:prod")), 0, "%s", R.out);
	cr_assert_eq(sh(SVCCTL(N_A, "serve --service=svc:web --http=80 8080")), 0, "%s", R.out);
	cr_assert(wait_host_state("host-a", "Pending approval", WAIT_MS), "%s", R.out);

	int rc = sh(SVCADM_AS(BOB_TOKEN, "approve svc:web host-a"));
	cr_assert_eq(rc, 1, "a member cannot approve (exit %d): %s", rc, R.out);
	cr_assert(strcasestr(R.out, "member"), "the refusal says why: %s", R.out);
	cr_assert(wait_host_state("host-a", "Pending approval", WAIT_MS), "unchanged: %s", R.out);

	rc = sh(SVCADM_AS(BOB_TOKEN, "define svc:evil --ports=tcp:80"));
	cr_assert_eq(rc, 1, "a member cannot define (exit %d): %s", rc, R.out);

	rc = sh("ip netns exec %s curl -sS -o /dev/null -w '%%{http_code}' " ADMIN_URL
	        "/api/services",
	        R.ns[NS_CTL]);
	cr_assert_eq(rc, 0, "%s", R.out);
	cr_assert_str_eq(R.out, "401", "no token: 401");
	rc = sh("ip netns exec %s curl -sS -o /dev/null -w '%%{http_code}' -H 'Authorization: "
	        "Bearer nope' " ADMIN_URL "/api/services",
	        R.ns[NS_CTL]);
	cr_assert_str_eq(R.out, "401", "unknown token: 401");
	rc = sh("ip netns exec %s curl -sS -o /dev/null -w '%%{http_code}' -X POST -H "
	        "'Authorization: Bearer " BOB_TOKEN "' " ADMIN_URL
	        "/api/services/svc:web/hosts/host-a/approve",
	        R.ns[NS_CTL]);
	cr_assert_str_eq(R.out, "403", "a member approving over the API: 403");
}

/* How many lines of node i's events have type `type`. */
static int count_events(int i, const char *type)
{
	char path[128], line[4096], want[96];
	int n = 0;

	path_of(path, sizeof(path), node_names[i], "events");
	snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want))
			n++;
	fclose(f);
	return n;
}

/* Three curls of `path` to host i; true when the host logs a conn_closed
 * for each within 5 s (R.out: its sockets in CLOSE-WAIT otherwise). */
static bool closes_seen(int i, const char *path)
{
	int closed0 = count_events(i, "conn_closed"), acc0 = accepted(i);

	for (int k = 0; k < 3; k++)
		cr_assert_eq(sh(CURL("--max-time 2 " WEB_URL "%s"), path), 0, "%s", R.out);
	cr_assert_eq(accepted(i) - acc0, 3, "all three reached %s", node_names[i]);
	for (double end = now_s() + 5; now_s() < end; shell_sleep_ms(50))
		if (count_events(i, "conn_closed") - closed0 >= 3)
			return true;
	sh("ip netns exec %s ss -tan state close-wait", R.ns[NS_A + i]);
	return false;
}

Test(core_real, drn_3_closed_client_connections_end_and_the_drain_completes, .init = core_setup,
     .fini = core_teardown, .timeout = 120)
{
	const int both[] = {N_A, N_B};

	web_on(both, 2);
	int drained = serving_host();

	/* Every curl has exited: the host sees each close (conn_closed), for
	 * answers with a body and for empty ones (Content-Length: 0). */
	cr_expect(closes_seen(drained, "/bytes/100"),
	          "the host closes the connections the clients closed (answers with a body); "
	          "CLOSE-WAIT:\n%s",
	          R.out);
	cr_expect(closes_seen(drained, "/"),
	          "the host closes the connections the clients closed (empty answers); "
	          "CLOSE-WAIT:\n%s",
	          R.out);

	/* DRN-3: draining completes once no connection remains. */
	cr_assert_eq(sh(SVCCTL(drained, "serve drain svc:web")), 0, "%s", R.out);
	bool complete = false;
	for (double end = now_s() + 5; !complete && now_s() < end; shell_sleep_ms(50))
		complete = count_events(drained, "drain_complete") > 0;
	cr_assert(complete, "DRN-3: drain_complete on %s once no connection remains",
	          node_names[drained]);
	cr_assert_eq(sh(CURL("--max-time 2 " WEB_URL "/")), 0, "%s", R.out);
}

/* Waits until `cmd` (a shell command) exits 0. */
static bool wait_sh(int ms, const char *cmd)
{
	for (double end = now_s() + ms / 1000.0; now_s() < end; shell_sleep_ms(100))
		if (sh("%s", cmd) == 0)
			return true;
	return false;
}

Test(core_real, sec2_svcctl_rotate_key_moves_the_node_to_a_new_key_that_survives_a_restart,
     .init = core_setup, .fini = core_teardown, .timeout = 180)
{
	char key_file[160], before[64], cmd[512];

	snprintf(key_file, sizeof(key_file), "%s/host-a.state/node.key", R.dir);
	cr_assert_eq(sh("cat %s", key_file), 0, "%s", R.out);
	snprintf(before, sizeof(before), "%.*s", (int)strcspn(R.out, "\n"), R.out);
	cr_assert_eq(sh(SVCCTL(N_A, "rotate-key")), 0, "%s", R.out);
	cr_assert(strstr(R.out, "rotating to node key"), "%s", R.out);
	/* Control records it, the daemon keeps the new key and reconnects
	 * proving it: controld's events say so. */
	snprintf(cmd, sizeof(cmd),
	         "grep -q '\"type\":\"node_key_rotated\",\"node_name\":\"host-a\"' "
	         "%s/control.events",
	         R.dir);
	cr_assert(wait_sh(WAIT_MS, cmd), "no node_key_rotated from controld");
	cr_assert_eq(sh("cat %s", key_file), 0, "%s", R.out);
	cr_assert_neq(strncmp(R.out, before, strlen(before)), 0, "node.key is the new key");
	cr_assert(wait_all_connected(WAIT_MS), "%s", R.out);
	/* Restarted, the daemon proves the new key: no session is refused. */
	stop_child(&R.svcd[N_A], SIGTERM);
	start_svcd(N_A);
	cr_assert(wait_all_connected(WAIT_MS), "back with the new key: %s", R.out);
	snprintf(cmd, sizeof(cmd), "grep -c '\"type\":\"session_refused\"' %s/control.events",
	         R.dir);
	sh("%s", cmd);
	cr_assert_eq(atoi(R.out), 0, "no session refused: %s", R.out);
}
