/* The real binaries in two network namespaces (client, host) joined by a
 * veth pair: each runs a real `svcd` process with its own TUN device,
 * netmap file and local API socket; commands are real `svcctl` processes;
 * clients are the real `curl` and `psql` run inside the client namespace.
 *
 *   client  underlay 10.202.0.1  tailnet 100.64.0.1, fd7a:115c:a1e0::1
 *   host    underlay 10.202.0.2  tailnet 100.64.0.2, fd7a:115c:a1e0::2
 *   svc:web VIP 100.100.0.5, fd7a:115c:a1e0:ab12::5, hosted by host
 *
 * Skipped (with the reason) when not root; the PostgreSQL test also when
 * PostgreSQL is not installed. Namespaces, processes and the temp dir are
 * removed after every test. */
#define _GNU_SOURCE
#include "tests/support/netns.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/prereq.h"
#include "tests/support/shell.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VIP     "100.100.0.5"
#define VIP6    "fd7a:115c:a1e0:ab12::5"
#define OUT_MAX 65536
#define WAIT_MS 10000

struct real {
	char dir[64];
	char ns[2][NETNS_NAME_MAX]; /* client, host; empty until made */
	pid_t svcd[2], backend;
	struct pg_server pg;
	char out[OUT_MAX];
};

static struct real R;
static const char *const node_names[2] = {"client", "host"};

/* Runs a shell command, output (stdout and stderr) into R.out; returns the
 * exit status (or -1). */
#define sh(...) shell_run(R.out, sizeof(R.out), __VA_ARGS__)

static void sleep_ms(int ms)
{
	shell_sleep_ms(ms);
}

static bool wait_file(const char *path, int ms)
{
	return shell_wait_file(path, ms);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void real_teardown(void)
{
	char path[128];

	for (int i = 0; i < 2; i++)
		if (R.svcd[i] > 0)
			kill(R.svcd[i], SIGTERM);
	if (R.backend > 0)
		kill(R.backend, SIGTERM);
	for (int i = 0; i < 2; i++)
		if (R.svcd[i] > 0) {
			int st;
			waitpid(R.svcd[i], &st, 0);
			if (getenv("SVCD_REAL_DUMP")) {
				snprintf(path, sizeof(path), "%s/%s.events", R.dir, node_names[i]);
				pg_print_file(path);
				snprintf(path, sizeof(path), "%s/%s.log", R.dir, node_names[i]);
				pg_print_file(path);
			}
		}
	if (R.backend > 0)
		waitpid(R.backend, NULL, 0);
	pg_server_stop(&R.pg);
	for (int i = 0; i < 2; i++)
		netns_del(R.ns[i]);
	if (R.dir[0])
		netns_sh("rm -rf %s", R.dir);
	memset(&R, 0, sizeof(R));
}

/* The netmap of node i (0 client, 1 host). */
static void write_netmap(int i, const char *path)
{
	char doc[4096];
	int peer = 1 - i;
	static const char *const user[2] = {
	    "\"user\":\"alice@example.com\",\"display_name\":\"Alice Example\",\"tags\":[]",
	    "\"user\":\"\",\"tags\":[\"tag:web\"]"};

	snprintf(
	    doc, sizeof(doc),
	    "{\"version\":1,\"tailnet\":\"example.ts.net\","
	    "\"self\":{\"name\":\"%s\",\"addresses\":[\"100.64.0.%d\",\"fd7a:115c:a1e0::%d\"],%s},"
	    "\"peers\":[{\"name\":\"%s\",\"addresses\":[\"100.64.0.%d\",\"fd7a:115c:a1e0::%d\"],"
	    "\"endpoint\":\"10.202.0.%d:41641\",%s}],"
	    "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"" VIP "\",\"" VIP6 "\"],"
	    "\"ports\":[\"tcp:80\",\"tcp:5432\"],\"hosts\":[\"host\"]}],"
	    "\"host_services\":%s,\"filter\":%s}\n",
	    node_names[i], i + 1, i + 1, user[i], node_names[peer], peer + 1, peer + 1, peer + 1,
	    user[peer],
	    i == 1 ? "[{\"name\":\"svc:web\",\"addresses\":[\"" VIP "\",\"" VIP6 "\"]}]" : "[]",
	    i == 1 ? "[{\"src\":[\"100.64.0.1\",\"fd7a:115c:a1e0::1\"],\"proto\":[\"tcp\"],"
	             "\"dst\":[{\"net\":\"" VIP "\",\"ports\":\"*\"},{\"net\":\"" VIP6
	             "\",\"ports\":\"*\"}]}]"
	           : "[]");
	write_file(path, doc);
}

/* Namespaces, veth, two svcd processes and the host's backends. */
static void real_setup(void)
{
	char veth[2][NETNS_NAME_MAX];
	const char *skip = NULL;
	char path[2][128], sock[2][128], events[2][128], log[2][128], under[2][32], ready[128];
	char cert[128], key[128];

	memset(&R, 0, sizeof(R));
	if (geteuid() != 0)
		prereq_missing("needs root for network namespaces and TUN devices");
	snprintf(R.dir, sizeof(R.dir), "/tmp/svcdreal.XXXXXX");
	cr_assert_not_null(mkdtemp(R.dir));
	chmod(R.dir, 0755); /* postgres (another user) reads nothing here, but psql's cwd */
	for (int i = 0; i < 2; i++) {
		if (!netns_add(R.ns[i], "sv", "ch"[i], &skip))
			prereq_missing("%s", skip);
		netns_unique_name(veth[i], sizeof(veth[i]), "svc", "ch"[i]);
	}
	cr_assert(netns_veth(R.ns[0], veth[0], R.ns[1], veth[1]), "veth pair");
	for (int i = 0; i < 2; i++) {
		char cidr[32];

		snprintf(cidr, sizeof(cidr), "10.202.0.%d/24", i + 1);
		cr_assert(netns_addr_up(R.ns[i], veth[i], cidr));
	}
	/* A certificate for HTTPS and TLS-terminated TCP (the next issue has
	 * control issue them). */
	cr_assert(netns_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
	                   "-nodes -subj /CN=web.example.ts.net -days 1 -keyout %s/key.pem "
	                   "-out %s/cert.pem",
	                   R.dir, R.dir),
	          "openssl req");
	snprintf(cert, sizeof(cert), "%s/cert.pem", R.dir);
	snprintf(key, sizeof(key), "%s/key.pem", R.dir);
	for (int i = 0; i < 2; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%s.json", R.dir, node_names[i]);
		snprintf(sock[i], sizeof(sock[i]), "%s/%s.sock", R.dir, node_names[i]);
		snprintf(events[i], sizeof(events[i]), "%s/%s.events", R.dir, node_names[i]);
		snprintf(log[i], sizeof(log[i]), "%s/%s.log", R.dir, node_names[i]);
		snprintf(under[i], sizeof(under[i]), "10.202.0.%d", i + 1);
		write_netmap(i, path[i]);
		char *args[] = {SVCD_PATH,
		                "--name",
		                (char *)node_names[i],
		                "--underlay",
		                under[i],
		                "--tun",
		                "svctun0",
		                "--socket",
		                sock[i],
		                "--netmap",
		                path[i],
		                "--events",
		                events[i],
		                "--drain-grace",
		                "1s",
		                "--cert",
		                cert,
		                "--key",
		                key,
		                NULL};
		R.svcd[i] = netns_spawn(R.ns[i], args, log[i]);
		cr_assert_gt(R.svcd[i], 0);
	}
	for (int i = 0; i < 2; i++)
		if (!wait_file(sock[i], WAIT_MS)) {
			pg_print_file(log[i]);
			cr_assert_fail("svcd %s did not create its socket", node_names[i]);
		}
	snprintf(ready, sizeof(ready), "%s/backend.ready", R.dir);
	char *bargs[] = {
	    BACKEND_PATH, "--http", "127.0.0.1:8080", "--tcp-echo", "127.0.0.1:9000", "--ready",
	    ready,        NULL};
	char blog[160];
	snprintf(blog, sizeof(blog), "%s/backend.log", R.dir);
	R.backend = netns_spawn(R.ns[1], bargs, blog);
	cr_assert(wait_file(ready, WAIT_MS), "backend did not start");
}

/* svcctl in node i's namespace. */
#define SVCCTL(i, args)                                                                            \
	"ip netns exec %s " SVCCTL_PATH " --socket %s/%s.sock " args, R.ns[i], R.dir, node_names[i]

/* curl in the client namespace. */
#define CURL(args) "ip netns exec %s curl -sS -m 5 " args, R.ns[0]

Test(svcd_real, cfg_1_l7_4_curl_through_the_vip_sees_the_proxy_and_forwarded_headers,
     .init = real_setup, .fini = real_teardown, .timeout = 120)
{
	int rc = sh(SVCCTL(1, "serve --service=svc:web --http=80 127.0.0.1:8080"));
	cr_assert_eq(rc, 0, "svcctl serve: %d\n%s", rc, R.out);
	cr_assert(strstr(R.out, "Available within your tailnet"), "CFG-12: %s", R.out);

	rc = sh(CURL("-H 'X-Forwarded-For: 6.6.6.6' -H 'Tailscale-User-Login: mallory' "
	             "http://" VIP "/headers"));
	cr_assert_eq(rc, 0, "curl: %d\n%s", rc, R.out);
	cr_assert(strcasestr(R.out, "X-Forwarded-For: 100.64.0.1"), "XFF: %s", R.out);
	cr_assert(strcasestr(R.out, "X-Forwarded-Proto: http"), "%s", R.out);
	cr_assert(strcasestr(R.out, "Tailscale-User-Login: alice@example.com"), "%s", R.out);
	cr_assert(strcasestr(R.out, "Tailscale-User-Name: Alice Example"), "%s", R.out);
	cr_assert_null(strstr(R.out, "6.6.6.6"), "client XFF dropped: %s", R.out);
	cr_assert_null(strstr(R.out, "mallory"), "client identity dropped: %s", R.out);

	/* The IPv6 VIP too (real mode only). */
	rc = sh(CURL("-g http://[" VIP6 "]/headers"));
	cr_assert_eq(rc, 0, "curl over IPv6: %d\n%s", rc, R.out);
	cr_assert(strcasestr(R.out, "X-Forwarded-For: fd7a:115c:a1e0::1"), "XFF v6: %s", R.out);

	rc = sh(SVCCTL(1, "status --json"));
	cr_assert_eq(rc, 0);
	cr_assert(strstr(R.out, "\"svc:web\"") && strstr(R.out, "http://127.0.0.1:8080"), "%s",
	          R.out);

	/* SIGTERM: a clean shutdown (exit 0; under the sanitizers, no leak),
	 * the socket and the TUN addresses gone. */
	int st;
	cr_assert_eq(kill(R.svcd[1], SIGTERM), 0);
	cr_assert_eq(waitpid(R.svcd[1], &st, 0), R.svcd[1]);
	R.svcd[1] = 0;
	char log[128];
	snprintf(log, sizeof(log), "%s/host.log", R.dir);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		pg_print_file(log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "svcd exit status %d", st);
	char sock[128];
	snprintf(sock, sizeof(sock), "%s/host.sock", R.dir);
	cr_assert_neq(access(sock, F_OK), 0, "socket removed");
	sh("ip -n %s addr show dev svctun0", R.ns[1]);
	cr_assert_null(strstr(R.out, "100.100.0.5"), "VIP removed from the device: %s", R.out);
}

Test(svcd_real, drn_1_5_drain_closes_the_listener_after_grace_and_advertise_reopens,
     .init = real_setup, .fini = real_teardown, .timeout = 120)
{
	cr_assert_eq(sh(SVCCTL(1, "serve --service=svc:web --http=80 text:hello")), 0, "%s", R.out);
	cr_assert_eq(sh(CURL("http://" VIP "/")), 0, "%s", R.out);
	cr_assert(strstr(R.out, "hello"));
	cr_assert_eq(sh(SVCCTL(1, "serve drain svc:web")), 0, "%s", R.out);
	sleep_ms(1500);
	int rc = sh(CURL("http://" VIP "/"));
	cr_assert_eq(rc, 7, "after drain+grace: connection refused expected, curl %d: %s", rc,
	             R.out);
	cr_assert_eq(sh(SVCCTL(1, "serve advertise svc:web")), 0, "%s", R.out);
	cr_assert_eq(sh(CURL("http://" VIP "/")), 0, "%s", R.out);
	cr_assert(strstr(R.out, "hello"));
}

Test(svcd_real, l4_3_psql_through_the_l4_proxy_to_a_real_postgres, .init = real_setup,
     .fini = real_teardown, .timeout = 180)
{
	const char *skip = NULL;
	char nspath[96];
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	/* Start PostgreSQL inside the host namespace, on its 127.0.0.1. */
	snprintf(nspath, sizeof(nspath), "/var/run/netns/%s", R.ns[1]);
	int target = open(nspath, O_RDONLY | O_CLOEXEC);
	cr_assert(home >= 0 && target >= 0);
	cr_assert_eq(setns(target, CLONE_NEWNET), 0);
	int rc = pg_server_start(&R.pg, &skip);
	cr_assert_eq(setns(home, CLONE_NEWNET), 0);
	close(target);
	close(home);
	if (rc == 1)
		prereq_missing("%s", skip);
	cr_assert_eq(rc, 0, "PostgreSQL did not start");

	rc = sh(SVCCTL(1, "serve --service=svc:web --tcp=5432 127.0.0.1:%u"), R.pg.port);
	cr_assert_eq(rc, 0, "%s", R.out);
	rc = sh("cd / && ip netns exec %s %s -X -At -v ON_ERROR_STOP=1 -h " VIP
	        " -p 5432 -U postgres -d postgres -c 'select 40+2' -c 'select inet_client_addr()'",
	        R.ns[0], R.pg.psql);
	cr_assert_eq(rc, 0, "psql through the proxy: %d\n%s", rc, R.out);
	cr_assert(strstr(R.out, "42\n"), "%s", R.out);
	cr_assert(strstr(R.out, "127.0.0.1"), "the server sees the proxy's connection: %s", R.out);
}

Test(svcd_real, svcctl_reports_a_daemon_that_is_not_running_and_bad_usage, .timeout = 30)
{
	char path[] = "/tmp/svcd-nonexistent.sock";
	int rc = sh(SVCCTL_PATH " --socket %s status", path);
	cr_assert_eq(rc, 1, "%s", R.out);
	cr_assert(strstr(R.out, "not running"), "%s", R.out);
	rc = sh(SVCCTL_PATH " frobnicate");
	cr_assert_eq(rc, 2, "%s", R.out);
	cr_assert(strstr(R.out, "unknown command"), "%s", R.out);
	rc = sh(SVCCTL_PATH " serve-config /nonexistent/file.json");
	cr_assert_eq(rc, 1, "%s", R.out);
	cr_assert(strstr(R.out, "No such file"), "%s", R.out);
}

Test(svcd_real, svcd_bad_arguments_print_usage_and_exit_2, .timeout = 30)
{
	int rc = sh(SVCD_PATH " --name x");
	cr_assert_eq(rc, 2, "%s", R.out);
	cr_assert(strstr(R.out, "usage: svcd"), "%s", R.out);
	rc = sh(SVCD_PATH " --name x --underlay nope");
	cr_assert_eq(rc, 2, "%s", R.out);
	cr_assert(strstr(R.out, "bad --underlay"), "%s", R.out);
	rc = sh(SVCD_PATH " --name x --underlay 127.0.0.1 --drain-grace 5parsecs");
	cr_assert_eq(rc, 2, "%s", R.out);
	rc = sh(SVCD_PATH " --name x --underlay 127.0.0.1 --bogus");
	cr_assert_eq(rc, 2, "%s", R.out);
	cr_assert(strstr(R.out, "--bogus"), "%s", R.out);
}

/* --drain-grace and --control's port: decimal, finite, in range, or exit 2
 * with the reason. Without --underlay an accepted value still exits 2, so
 * no case starts a daemon. */
Test(svcd_real, har_6_drn_1_numeric_options_refuse_nan_hex_negative_and_out_of_range_with_why,
     .timeout = 30)
{
	static const struct {
		const char *args, *msg;
	} cases[] = {
	    {"--drain-grace nan", "bad --drain-grace \"nan\": not a finite number"},
	    {"--drain-grace inf", "bad --drain-grace \"inf\": not a finite number"},
	    {"--drain-grace 0x10", "bad --drain-grace \"0x10\": hexadecimal is not accepted"},
	    {"--drain-grace -1s", "bad --drain-grace \"-1s\": negative values are not accepted"},
	    {"--drain-grace 1e3", "bad --drain-grace \"1e3\": exponents are not accepted"},
	    {"--drain-grace 0", "bad --drain-grace \"0\": out of range (1ms to 1h)"},
	    {"--drain-grace 1e300", "bad --drain-grace \"1e300\": exponents are not accepted"},
	    {"--drain-grace 2h", "bad --drain-grace \"2h\": out of range (1ms to 1h)"},
	    {"--drain-grace 5parsecs", "unknown unit \"parsecs\""},
	    {"--control 127.0.0.1:0", "bad --control \"127.0.0.1:0\""},
	    {"--control 127.0.0.1:+80", "bad --control \"127.0.0.1:+80\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sh(SVCD_PATH " --name x %s", cases[i].args);
		cr_assert_eq(rc, 2, "%s: exit %d", cases[i].args, rc);
		cr_assert(strstr(R.out, cases[i].msg), "%s: \"%s\" lacks \"%s\"", cases[i].args,
		          R.out, cases[i].msg);
	}
}

Test(svcd_real, the_local_api_refuses_bad_requests_and_svcctl_shows_command_errors,
     .init = real_setup, .fini = real_teardown, .timeout = 60)
{
	int rc = sh(SVCCTL(1, "serve --service=web --http=80 8080"));
	cr_assert_eq(rc, 1, "%s", R.out);
	cr_assert(strstr(R.out, "svc:"), "names the rule: %s", R.out);
	rc = sh(SVCCTL(0, "serve --service=svc:web --http=80 8080"));
	cr_assert_eq(rc, 1, "CFG-11 on the untagged client: %s", R.out);
	/* A raw malformed request on the socket: status 2, the daemon lives on. */
	rc = sh("printf 'not json\\n' | ip netns exec %s python3 -c \"import socket,sys;"
	        "s=socket.socket(socket.AF_UNIX);s.connect('%s/host.sock');"
	        "s.sendall(sys.stdin.buffer.read());print(s.recv(4096).decode())\"",
	        R.ns[1], R.dir);
	cr_assert(strstr(R.out, "\"status\":2") && strstr(R.out, "not valid JSON"), "%s", R.out);
	cr_assert_eq(sh(SVCCTL(1, "status")), 0, "still alive: %s", R.out);

	/* Limits: a request line over 1 MiB is refused and the connection
	 * closed; past 16 clients at once a client is told to try again. */
	rc = sh("ip netns exec %s python3 -c \"import socket;"
	        "s=socket.socket(socket.AF_UNIX);s.connect('%s/host.sock');"
	        "s.sendall(b'x'*(1024*1024+10));print(s.recv(4096).decode());"
	        "cs=[socket.socket(socket.AF_UNIX) for i in range(17)];"
	        "[c.connect('%s/host.sock') for c in cs];"
	        "print(cs[16].recv(4096).decode())\"",
	        R.ns[1], R.dir, R.dir);
	cr_assert(strstr(R.out, "longer than 1048576 bytes"), "%s", R.out);
	cr_assert(strstr(R.out, "too many local API clients"), "%s", R.out);
	cr_assert_eq(sh(SVCCTL(1, "status")), 0, "still alive: %s", R.out);
}

Test(svcd_real, l7_https_and_l4_2_tls_terminated_tcp_with_the_certificate_file, .init = real_setup,
     .fini = real_teardown, .timeout = 120)
{
	int rc = sh(SVCCTL(1, "serve --service=svc:web --https=443 127.0.0.1:8080"));
	cr_assert_eq(rc, 0, "%s", R.out);
	rc = sh(CURL("-k https://" VIP "/headers"));
	cr_assert_eq(rc, 0, "curl https: %d\n%s", rc, R.out);
	cr_assert(strcasestr(R.out, "X-Forwarded-Proto: https"), "%s", R.out);
	cr_assert(strcasestr(R.out, "X-Forwarded-For: 100.64.0.1"), "%s", R.out);
	rc = sh(CURL("-kv https://" VIP "/ -o /dev/null"));
	cr_assert(strstr(R.out, "CN=web.example.ts.net"), "the certificate served: %s", R.out);

	rc = sh(SVCCTL(1, "serve --service=svc:web --tls-terminated-tcp=5432 127.0.0.1:9000"));
	cr_assert_eq(rc, 0, "%s", R.out);
	rc = sh("(echo tls-hello; sleep 1) | ip netns exec %s timeout 10 openssl s_client -quiet "
	        "-no_ign_eof -connect " VIP ":5432",
	        R.ns[0]);
	cr_assert(strstr(R.out, "tls-hello"), "L4-2 echo through TLS termination (%d): %s", rc,
	          R.out);
}

/* ---- REL-1: a flood of idle connections ------------------------------- */

#define FLOOD_PER_PORT 700 /* two ports: more than svcd's 1024 handles */

struct flood_result {
	int opened;  /* connections the client's stack established */
	int shed;    /* of those, closed by the far end while idle */
	int refused; /* connects that failed outright */
};

/* In the client namespace: opens FLOOD_PER_PORT connections to each of the
 * VIP's ports 80 and 5432, sends nothing, waits, counts the ones the far
 * end closed, then closes them all. Runs in a forked child. */
static struct flood_result flood_idle_connections(void)
{
	struct flood_result res = {0};
	static int fds[2 * FLOOD_PER_PORT];
	char nspath[96];
	struct rlimit rl = {4096, 4096};

	snprintf(nspath, sizeof(nspath), "/var/run/netns/%s", R.ns[0]);
	int target = open(nspath, O_RDONLY | O_CLOEXEC);
	if (target < 0 || setns(target, CLONE_NEWNET) != 0 || setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		res.opened = -1;
		return res;
	}
	for (int i = 0; i < 2 * FLOOD_PER_PORT; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons(i % 2 ? 5432 : 80)};
		inet_pton(AF_INET, VIP, &sa.sin_addr);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fds[i] >= 0)
			(void)connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	shell_sleep_ms(3000);
	for (int i = 0; i < 2 * FLOOD_PER_PORT; i++) {
		int err = 0;
		socklen_t len = sizeof(err);
		char b;
		if (fds[i] < 0 || getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    (err && err != ECONNRESET)) {
			res.refused++;
			continue;
		}
		ssize_t n = recv(fds[i], &b, 1, MSG_DONTWAIT | MSG_PEEK);
		if (n == 0 || err == ECONNRESET || (n < 0 && errno == ECONNRESET)) {
			res.opened++;
			res.shed++;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			res.opened++;
		} else {
			res.refused++;
		}
	}
	for (int i = 0; i < 2 * FLOOD_PER_PORT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return res;
}

Test(svcd_real, rel1_an_idle_connection_flood_is_shed_and_the_vip_ports_recover, .init = real_setup,
     .fini = real_teardown, .timeout = 180)
{
	int rc = sh(SVCCTL(1, "serve --service=svc:web --http=80 text:hello"));
	cr_assert_eq(rc, 0, "%s", R.out);
	rc = sh(SVCCTL(1, "serve --service=svc:web --tcp=5432 127.0.0.1:9000"));
	cr_assert_eq(rc, 0, "%s", R.out);
	cr_assert_eq(sh(CURL("http://" VIP "/")), 0, "%s", R.out);

	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct flood_result res = flood_idle_connections();
		(void)!write(pipefd[1], &res, sizeof(res));
		_exit(0);
	}
	close(pipefd[1]);
	struct flood_result res;
	ssize_t got = read(pipefd[0], &res, sizeof(res));
	close(pipefd[0]);
	waitpid(child, NULL, 0);
	cr_assert_eq(got, (ssize_t)sizeof(res));
	cr_assert_geq(res.opened, 0, "the flood could not enter the client namespace");
	/* Every client has gone: both ports accept and serve again. */
	sleep_ms(1000);
	rc = sh(CURL("http://" VIP "/"));
	cr_assert_eq(rc, 0, "L7 port after the flood: curl %d: %s", rc, R.out);
	cr_assert(strstr(R.out, "hello"), "%s", R.out);
	rc = sh("echo rel1-echo | ip netns exec %s timeout 10 python3 -c \"import socket,sys;"
	        "s=socket.create_connection(('" VIP "',5432),timeout=5);"
	        "s.sendall(sys.stdin.buffer.read());print(s.recv(100).decode())\"",
	        R.ns[0]);
	cr_assert_eq(rc, 0, "L4 port after the flood: %d: %s", rc, R.out);
	cr_assert(strstr(R.out, "rel1-echo"), "%s", R.out);
	/* The far end is svcd on the host: evidence of shedding is both the
	 * client's view (connections closed while idle) and the host's events. */
	cr_assert_gt(res.shed, 0, "no connection was shed (opened %d, refused %d)", res.opened,
	             res.refused);
	sh("grep -c '\"limit_hit\".*node_handles' %s/host.events", R.dir);
	cr_assert_gt(atoi(R.out), 0, "limit_hit node_handles events: %s", R.out);

	sh("ip netns exec %s ss -ltnH", R.ns[1]);
	fprintf(stderr, "rel1 flood: opened %d, shed %d, refused %d\nlisteners:\n%s", res.opened,
	        res.shed, res.refused, R.out);
}

/* One svcd (the host's namespace, no netmap) with its events in a file:
 * enough for the local API. */
static void api_setup(void)
{
	const char *skip = NULL;
	char sock[128], events[128], log[128];

	memset(&R, 0, sizeof(R));
	if (geteuid() != 0)
		prereq_missing("needs root for network namespaces and TUN devices");
	snprintf(R.dir, sizeof(R.dir), "/tmp/svcdreal.XXXXXX");
	cr_assert_not_null(mkdtemp(R.dir));
	if (!netns_add(R.ns[1], "sv", 'a', &skip))
		prereq_missing("%s", skip);
	snprintf(sock, sizeof(sock), "%s/host.sock", R.dir);
	snprintf(events, sizeof(events), "%s/host.events", R.dir);
	snprintf(log, sizeof(log), "%s/host.log", R.dir);
	char *args[] = {SVCD_PATH, "--name",   "host", "--underlay", "127.0.0.1", "--tun",
	                "svctun0", "--socket", sock,   "--events",   events,      NULL};
	R.svcd[1] = netns_spawn(R.ns[1], args, log);
	cr_assert_gt(R.svcd[1], 0);
	if (!wait_file(sock, WAIT_MS)) {
		pg_print_file(log);
		cr_assert_fail("svcd did not create its socket");
	}
}

/* Lines of the host's event file holding `needle`. */
static unsigned host_events(const char *needle)
{
	char path[128], line[2048];
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/host.events", R.dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

Test(svcd_real, rel6_idle_local_api_clients_time_out_and_a_refused_svcctl_prints_why,
     .init = api_setup, .fini = real_teardown, .timeout = 60)
{
	enum { HELD = 20 };
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int held[HELD];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/host.sock", R.dir);
	for (int i = 0; i < HELD; i++) {
		held[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(held[i], (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
		             strerror(errno));
	}
	sleep_ms(200);
	/* Every svcctl refused at the limit says why and fails. */
	for (int k = 0; k < 5; k++) {
		int rc = sh(SVCCTL(1, "status"));
		cr_assert_eq(rc, 1, "svcctl at the limit: %d: %s", rc, R.out);
		cr_assert(strstr(R.out, "too many local API clients"),
		          "refusal #%d not printed: %s", k, R.out);
	}
	cr_assert_geq(host_events("\"type\":\"local_api_refused\""), 1, "the daemon's event");

	/* The idle clients lose their slots after the timeout (3 s); then
	 * svcctl is served while the 20 connections are still open. */
	for (int i = 0; i < 100 && host_events("\"type\":\"local_api_idle_closed\"") < 16; i++)
		sleep_ms(100);
	cr_assert_eq(host_events("\"type\":\"local_api_idle_closed\""), 16);
	int rc = sh(SVCCTL(1, "status"));
	cr_assert_eq(rc, 0, "svcctl after the idle timeout: %d: %s", rc, R.out);
	for (int i = 0; i < HELD; i++)
		close(held[i]);
}

/* A full disk under --events (/dev/full, and a filled 64 KiB tmpfs in a
 * private mount namespace) is named with its errno, the daemon keeps
 * running and exits 1; under --tailnet-pcap, its event names it; a
 * --netmap that is a directory says so rather than "Input/output error". */
Test(svcd_real, har_6_events_on_a_full_disk_and_a_netmap_directory_name_their_errno,
     .fini = real_teardown, .timeout = 60)
{
	const char *skip = NULL;

	memset(&R, 0, sizeof(R));
	if (geteuid() != 0)
		prereq_missing("needs root for network namespaces, TUN devices and mounts");
	snprintf(R.dir, sizeof(R.dir), "/tmp/svcdreal.XXXXXX");
	cr_assert_not_null(mkdtemp(R.dir));
	if (!netns_add(R.ns[1], "sv", 'e', &skip))
		prereq_missing("%s", skip);
#define SVCD_FOR(secs, extra)                                                                      \
	"timeout --preserve-status -s TERM " secs " ip netns exec %s " SVCD_PATH                   \
	" --name host --underlay 127.0.0.1 --tun svctun0 --socket %s/e.sock " extra,               \
	    R.ns[1], R.dir

	int rc = sh(SVCD_FOR("2", "--events /dev/full"));
	cr_assert_eq(rc, 1, "exit %d: %s", rc, R.out);
	cr_assert(strstr(R.out, "svcd: --events /dev/full: No space left on device"), "%s", R.out);
	rc = sh(SVCD_FOR("2", "--netmap %s"), R.dir);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, R.out);
	cr_assert(strstr(R.out, "svcd: --netmap /tmp/svcdreal.") &&
	              strstr(R.out, ": Is a directory"),
	          "%s", R.out);

	/* The tailnet pcap on a full disk: its event says so, with the path. */
	rc = sh(SVCD_FOR("2", "--tailnet-pcap /dev/full --events %s/e.events"), R.dir);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, R.out);
	rc = sh("grep -c '\"type\":\"pcap_write_failed\",\"path\":\"/dev/full\",\"error\":"
	        "\"No space left on device\"' %s/e.events",
	        R.dir);
	cr_assert_eq(rc, 0, "no pcap_write_failed event: %s", R.out);

	char mnt[96];
	snprintf(mnt, sizeof(mnt), "%s/mnt", R.dir);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	rc = sh("unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs %s && "
	        "{ dd if=/dev/zero of=%s/fill bs=4k count=64 2>/dev/null; true; } && "
	        "timeout --preserve-status -s TERM 2 ip netns exec %s " SVCD_PATH
	        " --name host --underlay 127.0.0.1 --tun svctun0 --socket %s/e.sock "
	        "--events %s/events.jsonl'",
	        mnt, mnt, R.ns[1], R.dir, mnt);
	if (strstr(R.out, "unshare") && strstr(R.out, "ermission"))
		prereq_missing("no private mount namespace here: %s", R.out);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, R.out);
	char want[160];
	snprintf(want, sizeof(want), "svcd: --events %s/events.jsonl: No space left on device",
	         mnt);
	cr_assert(strstr(R.out, want), "want \"%s\" in: %s", want, R.out);
#undef SVCD_FOR
}
