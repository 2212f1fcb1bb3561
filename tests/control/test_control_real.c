/* The coordination server as real processes on loopback: controld (epoll)
 * with a users file, curl against the admin API, svcadm, and a restart on
 * the same --state file. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/wire/mapsec.h"
#include "tests/support/prereq.h"

#define ADMIN_TOKEN  "admin-secret"
#define MEMBER_TOKEN "member-secret"

struct real {
	char dir[64];
	char users[128], policy[128], state[128], events[128], key_file[128];
	char auth_key[80]; /* made through the API on the first map_hello */
	int map_port, admin_port;
	pid_t pid;
	char url[64];
	/* > 0: controld runs with RLIMIT_FSIZE this low (writes past it fail
	 * with EFBIG, as on a full disk) and without an events file. */
	long fsize_limit;
};

static struct real g_real; /* test code: one controld per test process */

/* Stops controld; returns its exit status (-1: none running or killed). */
static int real_stop(void)
{
	int st = 0;

	if (g_real.pid <= 0)
		return -1;
	kill(g_real.pid, SIGTERM);
	waitpid(g_real.pid, &st, 0);
	g_real.pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void real_fini(void)
{
	char cmd[128];
	real_stop();
	if (g_real.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", g_real.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", g_real.dir);
	}
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	if (f) {
		size_t n = fread(buf, 1, (1 << 20) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static int tcp_connect_port(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void real_start(bool with_users)
{
	char map_port[16], admin_port[16];

	snprintf(map_port, sizeof(map_port), "%d", g_real.map_port);
	snprintf(admin_port, sizeof(admin_port), "%d", g_real.admin_port);
	g_real.pid = fork();
	cr_assert_geq(g_real.pid, 0);
	if (g_real.pid == 0) {
		const char *argv[20];
		int n = 0;
		argv[n++] = CONTROLD_PATH;
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--map-port";
		argv[n++] = map_port;
		argv[n++] = "--admin-port";
		argv[n++] = admin_port;
		argv[n++] = "--state";
		argv[n++] = g_real.state;
		argv[n++] = "--key-file";
		argv[n++] = g_real.key_file;
		if (g_real.fsize_limit > 0) {
			struct rlimit rl = {.rlim_cur = (rlim_t)g_real.fsize_limit,
			                    .rlim_max = (rlim_t)g_real.fsize_limit};
			signal(SIGXFSZ, SIG_IGN); /* stays ignored across exec: EFBIG */
			setrlimit(RLIMIT_FSIZE, &rl);
		} else {
			argv[n++] = "--events";
			argv[n++] = g_real.events;
		}
		if (with_users) {
			argv[n++] = "--users";
			argv[n++] = g_real.users;
			argv[n++] = "--policy";
			argv[n++] = g_real.policy;
		}
		argv[n] = NULL;
		execv(CONTROLD_PATH, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int fd = tcp_connect_port(g_real.admin_port);
		if (fd >= 0) {
			close(fd);
			return;
		}
		int st;
		cr_assert_eq(waitpid(g_real.pid, &st, WNOHANG), 0, "controld exited early");
		usleep(10000);
	}
	cr_assert_fail("controld did not start listening");
}

static void real_prepare(void)
{
	snprintf(g_real.dir, sizeof(g_real.dir), "/tmp/h6-real-XXXXXX");
	cr_assert_not_null(mkdtemp(g_real.dir));
	snprintf(g_real.users, sizeof(g_real.users), "%s/users.json", g_real.dir);
	snprintf(g_real.policy, sizeof(g_real.policy), "%s/policy.hujson", g_real.dir);
	snprintf(g_real.state, sizeof(g_real.state), "%s/state.json", g_real.dir);
	snprintf(g_real.events, sizeof(g_real.events), "%s/events.jsonl", g_real.dir);
	snprintf(g_real.key_file, sizeof(g_real.key_file), "%s/control.pub", g_real.dir);
	g_real.auth_key[0] = '\0';
	write_file(g_real.users,
	           "{\"alice@example.com\": {\"role\":\"admin\",\"token\":\"" ADMIN_TOKEN
	           "\",\"display_name\":\"Alice\"},\n"
	           " \"bob@example.com\": {\"role\":\"member\",\"token\":\"" MEMBER_TOKEN
	           "\",\"display_name\":\"Bob\"}}\n");
	write_file(g_real.policy, "{\n  // real test policy\n"
	                          "  \"tagOwners\": {\"tag:web\": [\"autogroup:admin\"],\n"
	                          "                \"tag:websvc\": [\"autogroup:admin\"]},\n"
	                          "  \"grants\": [{\"src\": [\"*\"], \"dst\": [\"svc:web\"], "
	                          "\"ip\": [\"443\"]}],\n}\n");
	g_real.map_port = free_port();
	do
		g_real.admin_port = free_port();
	while (g_real.admin_port == g_real.map_port);
	snprintf(g_real.url, sizeof(g_real.url), "http://127.0.0.1:%d", g_real.admin_port);
}

static void real_setup(void)
{
	real_prepare();
	real_start(true);
}

/* Runs a shell command; returns its exit status, stdout and stderr in
 * out/err (malloc'd, caller frees). */
static int run(const char *cmd, char **out, char **err)
{
	char full[4096], po[128], pe[128];
	snprintf(po, sizeof(po), "%s/out", g_real.dir);
	snprintf(pe, sizeof(pe), "%s/err", g_real.dir);
	snprintf(full, sizeof(full), "%s >%s 2>%s", cmd, po, pe);
	int st = system(full);
	*out = read_all(po);
	*err = read_all(pe);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* curl: returns the HTTP status, body in *body. */
static int curl(const char *method, const char *path, const char *token, const char *data,
                char **body)
{
	char cmd[2048], *err, *out;
	char bodyf[128], dataf[128];
	snprintf(bodyf, sizeof(bodyf), "%s/body", g_real.dir);
	snprintf(dataf, sizeof(dataf), "%s/data", g_real.dir);
	if (data)
		write_file(dataf, data);
	snprintf(cmd, sizeof(cmd), "curl -s -o %s -w '%%{http_code}' -X %s %s%s%s %s%s '%s%s'",
	         bodyf, method, token ? "-H 'Authorization: Bearer " : "", token ? token : "",
	         token ? "'" : "", data ? "-H 'Expect: 100-continue' --data-binary @" : "",
	         data ? dataf : "", g_real.url, path);
	cr_assert_eq(run(cmd, &out, &err), 0, "curl failed: %s", err);
	int status = atoi(out);
	free(out);
	free(err);
	*body = read_all(bodyf);
	return status;
}

static int svcadm(const char *token, const char *words, char **out, char **err)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "%s --control %s --token %s %s", SVCADM_PATH, g_real.url, token,
	         words);
	return run(cmd, out, err);
}

/* A frame's header: its 4-byte big-endian length. */
static void frame_header(uint8_t hdr[4], size_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

/* One frame: the header, then the bytes. */
static void write_frame(int fd, const void *data, size_t len)
{
	uint8_t hdr[4];
	frame_header(hdr, len);
	cr_assert_eq(write(fd, hdr, 4), 4);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
}

/* One whole frame's payload into buf (blocking), its header into hdr; its
 * length. */
static size_t read_frame(int fd, uint8_t *buf, size_t cap, uint8_t hdr[4])
{
	size_t got = 0, len;

	cr_assert_eq(recv(fd, hdr, 4, MSG_WAITALL), 4, "controld closed the session");
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	cr_assert_leq(len, cap);
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		cr_assert_gt(r, 0);
		got += (size_t)r;
	}
	return len;
}

/* An auth key for tag:web nodes, made by the admin through the API. */
static const char *real_auth_key(void)
{
	char *body;

	if (!g_real.auth_key[0]) {
		cr_assert_eq(curl("POST", "/api/authkeys", ADMIN_TOKEN,
		                  "{\"reusable\":true,\"tags\":[\"tag:web\"]}", &body),
		             201, "%s", body);
		cJSON *doc = cJSON_Parse(body);
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "key"));
		cr_assert(k && strlen(k) < sizeof(g_real.auth_key), "%s", body);
		snprintf(g_real.auth_key, sizeof(g_real.auth_key), "%s", k);
		cJSON_Delete(doc);
		free(body);
	}
	return g_real.auth_key;
}

/* A node's map session, blocking: the Noise handshake with controld's key
 * (from --key-file), a sealed hello as `name` with the node key of that
 * name, and the welcome. The session's keys stay in *sec. */
static int map_hello_sec(const char *name, struct mapsec *sec)
{
	char msg[512], *pub64 = read_all(g_real.key_file);
	uint8_t ctl[WG_KEY_LEN], seed[WG_KEY_LEN], e[WG_KEY_LEN], init[MAPSEC_INIT_LEN];
	uint8_t buf[4096], sealed[600];
	struct wg_keypair node;
	int fd = tcp_connect_port(g_real.map_port);

	cr_assert_geq(fd, 0);
	cr_assert_not_null(pub64, "controld wrote no --key-file");
	pub64[strcspn(pub64, "\n")] = '\0';
	cr_assert(wg_key_from_base64(ctl, pub64), "%s", pub64);
	free(pub64);
	cr_assert_eq(wg_hash(seed, "real node ", 10, name, strlen(name)), 0);
	cr_assert_eq(wg_keypair_from_seed(&node, seed), 0);
	memset(e, 0x42, sizeof(e));
	cr_assert_eq(
	    mapsec_client_start(sec, &node, ctl, e, (uint64_t)time(NULL) * 1000000000ull, init), 0);
	write_frame(fd, init, sizeof(init));
	uint8_t hdr[4];
	size_t n = read_frame(fd, buf, sizeof(buf), hdr);
	cr_assert_eq(mapsec_client_finish(sec, buf, n), 0, "controld's handshake response");
	int len = snprintf(msg, sizeof(msg),
	                   "{\"type\":\"hello\",\"proto\":1,\"node\":\"%s\",\"region\":\"local\","
	                   "\"tags\":[\"tag:web\"],\"endpoint\":\"127.0.0.1:41641\","
	                   "\"auth_key\":\"%s\"}",
	                   name, real_auth_key());
	frame_header(hdr, (size_t)len + MAPSEC_OVERHEAD);
	cr_assert_eq(mapsec_seal(sec, hdr, msg, (size_t)len, sealed), 0);
	write_frame(fd, sealed, (size_t)len + MAPSEC_OVERHEAD);
	n = read_frame(fd, buf, sizeof(buf) - 1, hdr);
	cr_assert_gt(n, MAPSEC_OVERHEAD);
	cr_assert_eq(mapsec_open(sec, hdr, buf, n, buf), 0, "a frame that does not open");
	buf[n - MAPSEC_OVERHEAD] = '\0';
	cr_assert(strstr((char *)buf, "\"welcome\""), "%s", buf);
	return fd;
}

static int map_hello(const char *name)
{
	struct mapsec sec;
	return map_hello_sec(name, &sec);
}

static bool has_curl(void)
{
	return system("command -v curl >/dev/null 2>&1") == 0;
}

Test(control_real, admin_api_with_curl_and_svcadm_survives_a_restart, .fini = real_fini,
     .timeout = 120)
{
	char *body, *out, *err;

	if (!has_curl())
		prereq_missing("curl is not installed");
	real_setup();

	cr_assert_eq(curl("GET", "/api/services", NULL, NULL, &body), 401, "%s", body);
	cr_assert(strstr(body, "\"error\""), "%s", body);
	free(body);
	cr_assert_eq(curl("GET", "/api/services", "wrong", NULL, &body), 401);
	free(body);
	const char *def =
	    "{\"description\":\"Web\",\"ports\":[\"tcp:443\"],\"tags\":[\"tag:websvc\"]}";
	cr_assert_eq(curl("PUT", "/api/services/svc:web", MEMBER_TOKEN, def, &body), 403, "%s",
	             body);
	free(body);
	cr_assert_eq(curl("PUT", "/api/services/svc:web", ADMIN_TOKEN, def, &body), 200, "%s",
	             body);
	free(body);
	cr_assert_eq(curl("GET", "/api/services", MEMBER_TOKEN, NULL, &body), 200);
	cJSON *doc = cJSON_Parse(body);
	const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "services"), 0);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s0, "name")),
	                 "svc:web", "%s", body);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s0, "dns")),
	                 "web.example.ts.net");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s0, "addresses")), 2);
	cJSON_Delete(doc);
	free(body);
	/* A policy sent with Expect: 100-continue (curl does so for large
	 * bodies): it must not wait out its one second for the interim answer. */
	char pol[4096];
	size_t pl = (size_t)snprintf(pol, sizeof(pol), "{\n// ");
	memset(pol + pl, 'x', 2000);
	pl += 2000;
	snprintf(pol + pl, sizeof(pol) - pl,
	         "\n\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"],"
	         " \"tag:websvc\": [\"autogroup:admin\"]},"
	         " \"grants\": [{\"src\": [\"*\"], \"dst\": [\"svc:web\"], \"ip\": [\"443\"]}]}\n");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(curl("PUT", "/api/policy", ADMIN_TOKEN, pol, &body), 200, "%s", body);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(body);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(secs, 0.9, "PUT /api/policy took %.2f s (100-continue not answered?)", secs);
	cr_assert_eq(curl("GET", "/api/policy", MEMBER_TOKEN, NULL, &body), 200);
	cr_assert(strstr(body, "xxxxxxxxxx"), "%s", body);
	free(body);
	cr_assert_eq(curl("GET", "/api/nope", ADMIN_TOKEN, NULL, &body), 404);
	free(body);
	cr_assert_eq(curl("GET", "/api/ca", ADMIN_TOKEN, NULL, &body), 200);
	cr_assert(strstr(body, "BEGIN CERTIFICATE"), "%s", body);
	free(body);

	/* svcadm: a node says hello, an admin approves it. */
	int fd = map_hello("web-1");
	cr_assert_eq(
	    curl("POST", "/api/services/svc:web/hosts/web-1/reject", MEMBER_TOKEN, NULL, &body),
	    403);
	free(body);
	cr_assert_eq(
	    curl("POST", "/api/services/svc:web/hosts/web-1/reject", ADMIN_TOKEN, NULL, &body), 200,
	    "%s", body);
	cr_assert(strstr(body, "\"state\":\"Rejected\""), "%s", body);
	free(body);
	cr_assert_eq(
	    curl("POST", "/api/services/svc%3Aweb/hosts/nobody/approve", ADMIN_TOKEN, NULL, &body),
	    404, "%s", body);
	free(body);
	cr_assert_eq(curl("DELETE", "/api/services/svc:nope", ADMIN_TOKEN, NULL, &body), 404);
	free(body);
	cr_assert_eq(curl("GET", "/api/nodes", MEMBER_TOKEN, NULL, &body), 200);
	cr_assert(strstr(body, "\"name\":\"web-1\"") && strstr(body, "\"connected\":true"), "%s",
	          body);
	free(body);
	cr_assert_eq(svcadm(MEMBER_TOKEN, "approve svc:web web-1", &out, &err), 1, "%s", err);
	cr_assert(strstr(err, "refused"), "%s", err);
	free(out);
	free(err);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "approve svc:web web-1", &out, &err), 0, "%s", err);
	cr_assert(strstr(out, "web-1"), "%s", out);
	free(out);
	free(err);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "aprove svc:web web-1", &out, &err), 2);
	cr_assert(strstr(err, "did you mean \"approve\""), "%s", err);
	free(out);
	free(err);
	char bad[256], words[300];
	snprintf(bad, sizeof(bad), "%s/bad.hujson", g_real.dir);
	write_file(bad,
	           "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"svc:We b\"], \"ip\": [\"1\"]}]}");
	snprintf(words, sizeof(words), "set-policy %s", bad);
	cr_assert_eq(svcadm(ADMIN_TOKEN, words, &out, &err), 1);
	cr_assert(strstr(err, "grants[0].dst[0]"), "the place is not named: %s", err);
	free(out);
	free(err);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "services", &out, &err), 0, "%s", err);
	cr_assert(strstr(out, "\"Pre-approved\"") || strstr(out, "\"approved\":\ttrue"), "%s", out);
	free(out);
	free(err);
	close(fd);

	/* Restart on the same state file, without bootstrap files. */
	cr_assert_eq(real_stop(), 0, "controld did not stop cleanly");
	real_start(false);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "service svc:web", &out, &err), 0, "%s", err);
	doc = cJSON_Parse(out);
	const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "hosts"), 0);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "node")), "web-1",
	                 "%s", out);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "approved")), "%s", out);
	cJSON_Delete(doc);
	free(out);
	free(err);
	char *ev = read_all(g_real.events);
	cr_assert(strstr(ev, "\"type\":\"host_decision\""), "%s", ev);
	cr_assert(strstr(ev, "\"type\":\"admin_refused\""));
	free(ev);
	cr_assert_eq(real_stop(), 0, "controld did not stop cleanly");
}

/* set-tags through svcadm and PUT /api/nodes/NODE/tags: refusals with
 * their status, and the tags stand after a restart and a new hello. */
Test(control_real, set_tags_through_svcadm_and_the_api_survive_a_restart, .fini = real_fini,
     .timeout = 120)
{
	char *body, *out, *err;

	if (!has_curl())
		prereq_missing("curl is not installed");
	real_setup();
	int fd = map_hello("web-1");
	cr_assert_eq(svcadm(ADMIN_TOKEN, "set-tags web-1 tag:websvc", &out, &err), 0, "%s", err);
	cr_assert(strstr(out, "tag:websvc"), "%s", out);
	free(out);
	free(err);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "set-tags web-1 tag:nobody", &out, &err), 1);
	cr_assert(strstr(err, "tag:nobody is not owned"), "%s", err);
	free(out);
	free(err);
	cr_assert_eq(
	    curl("PUT", "/api/nodes/web-1/tags", MEMBER_TOKEN, "{\"tags\":[\"tag:web\"]}", &body),
	    403, "%s", body);
	free(body);
	cr_assert_eq(
	    curl("PUT", "/api/nodes/nobody/tags", ADMIN_TOKEN, "{\"tags\":[\"tag:web\"]}", &body),
	    404, "%s", body);
	free(body);
	cr_assert_eq(
	    curl("PUT", "/api/nodes/web-1/tags", ADMIN_TOKEN, "{\"tags\":\"tag:web\"}", &body), 400,
	    "%s", body);
	cr_assert(strstr(body, "array of strings"), "%s", body);
	free(body);
	cr_assert_eq(curl("PUT", "/api/nodes/web-1/tags", ADMIN_TOKEN,
	                  "{\"tags\":[\"tag:web\",\"tag:websvc\"]}", &body),
	             200, "%s", body);
	free(body);
	close(fd);

	cr_assert_eq(real_stop(), 0, "controld did not stop cleanly");
	real_start(false);
	fd = map_hello("web-1"); /* claims tag:web alone */
	cr_assert_eq(curl("GET", "/api/nodes", MEMBER_TOKEN, NULL, &body), 200);
	cr_assert(strstr(body, "\"tags\":[\"tag:web\",\"tag:websvc\"],\"tags_by_admin\":true"),
	          "%s", body);
	free(body);
	close(fd);
	char *ev = read_all(g_real.events);
	cr_assert(strstr(ev, "\"type\":\"node_tags_set\""), "%s", ev);
	free(ev);
	cr_assert_eq(real_stop(), 0, "controld did not stop cleanly");
}

/* Sends raw bytes and returns the status of the first answer (0: none). */
static int raw_status(int fd, const char *data, size_t len)
{
	char buf[1024];
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* control may answer and close before reading it all */
		off += (size_t)w;
	}
	ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);
	if (r < 12)
		return 0;
	buf[r] = '\0';
	return atoi(buf + 9);
}

Test(control_real, admin_api_limits_on_head_body_and_connections, .fini = real_fini, .timeout = 120)
{
	char *req;
	int fd;

	real_setup();
	/* Head over CONTROL_ADMIN_MAX_HEADER (16 KiB): 431. */
	size_t big = 20000;
	req = malloc(big + 256);
	int n = snprintf(req, 256, "GET /api/services HTTP/1.1\r\nHost: x\r\nX-Pad: ");
	memset(req + n, 'a', big);
	memcpy(req + n + big, "\r\n\r\n", 5);
	fd = tcp_connect_port(g_real.admin_port);
	cr_assert_eq(raw_status(fd, req, strlen(req)), 431);
	close(fd);
	free(req);
	/* Body over CONTROL_ADMIN_MAX_BODY (1 MiB): 413 from the length alone. */
	fd = tcp_connect_port(g_real.admin_port);
	const char *body_req =
	    "PUT /api/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN_TOKEN
	    "\r\nContent-Length: 2000000\r\n\r\n{";
	cr_assert_eq(raw_status(fd, body_req, strlen(body_req)), 413);
	close(fd);
	/* Connections: CONTROL_MAX_ADMIN_CONNS (64) held open, the next gets 503. */
	int fds[64];
	for (int i = 0; i < 64; i++) {
		fds[i] = tcp_connect_port(g_real.admin_port);
		cr_assert_geq(fds[i], 0);
	}
	usleep(200000);
	fd = tcp_connect_port(g_real.admin_port);
	cr_assert_geq(fd, 0);
	char buf[512];
	ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(r, 12);
	buf[r] = '\0';
	cr_assert_eq(atoi(buf + 9), 503, "%s", buf);
	close(fd);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	usleep(200000);
	/* Keep-alive: two requests on one connection both answered. */
	fd = tcp_connect_port(g_real.admin_port);
	const char *two =
	    "GET /api/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN_TOKEN
	    "\r\n\r\nGET /api/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " ADMIN_TOKEN
	    "\r\nConnection: close\r\n\r\n";
	cr_assert_eq(send(fd, two, strlen(two), 0), (ssize_t)strlen(two));
	char all[8192];
	size_t got = 0;
	while (got < sizeof(all) - 1) {
		r = recv(fd, all + got, sizeof(all) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	all[got] = '\0';
	char *second = strstr(all + 1, "HTTP/1.1 200");
	cr_assert(strncmp(all, "HTTP/1.1 200", 12) == 0 && second, "%s", all);
	close(fd);
}

/* ---- the state file at rest (REL-3, REL-4) ---- */

/* Runs controld on the test's state file expecting it to refuse to start:
 * its exit status (124: still running after 5 s, i.e. it started), and
 * its stderr in *err. */
static int controld_once(char **err)
{
	char cmd[1024], *out;
	snprintf(cmd, sizeof(cmd),
	         "timeout 5 %s --listen 127.0.0.1 --map-port %d --admin-port %d --state %s "
	         "--users %s --policy %s",
	         CONTROLD_PATH, g_real.map_port, g_real.admin_port, g_real.state, g_real.users,
	         g_real.policy);
	int st = run(cmd, &out, err);
	free(out);
	return st;
}

static unsigned file_mode(const char *path)
{
	struct stat sb;
	cr_assert_eq(lstat(path, &sb), 0, "%s: %s", path, strerror(errno));
	cr_assert(S_ISREG(sb.st_mode), "%s is not a regular file", path);
	return (unsigned)(sb.st_mode & 07777);
}

/* Names in the test's directory that look like a state temporary. */
static int leftover_temporaries(void)
{
	char cmd[256], *out, *err;
	snprintf(cmd, sizeof(cmd), "(ls -A %s | grep -c tmp || true)", g_real.dir);
	run(cmd, &out, &err);
	int n = atoi(out);
	free(out);
	free(err);
	return n;
}

Test(control_real, rel4_the_state_file_is_created_0600_whatever_the_umask, .fini = real_fini,
     .timeout = 60)
{
	char *body;

	if (!has_curl())
		prereq_missing("curl is not installed");
	real_prepare();
	mode_t old = umask(0);
	real_start(true);
	umask(old);
	cr_assert_eq(file_mode(g_real.state), 0600, "created %04o", file_mode(g_real.state));
	const char *def = "{\"ports\":[\"tcp:443\"],\"tags\":[\"tag:websvc\"]}";
	cr_assert_eq(curl("PUT", "/api/services/svc:web", ADMIN_TOKEN, def, &body), 200, "%s",
	             body);
	free(body);
	cr_assert_eq(file_mode(g_real.state), 0600, "rewritten %04o", file_mode(g_real.state));
	cr_assert_eq(leftover_temporaries(), 0);
}

Test(control_real, rel4_a_symlink_planted_at_the_temporary_name_is_not_followed, .fini = real_fini,
     .timeout = 60)
{
	char victim[160], tmp[160], *body, *seen;

	if (!has_curl())
		prereq_missing("curl is not installed");
	real_prepare();
	snprintf(victim, sizeof(victim), "%s/victim", g_real.dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", g_real.state);
	write_file(victim, "precious\n");
	cr_assert_eq(symlink(victim, tmp), 0);
	real_start(true); /* the first start writes the state */
	const char *def = "{\"ports\":[\"tcp:443\"],\"tags\":[\"tag:websvc\"]}";
	cr_assert_eq(curl("PUT", "/api/services/svc:web", ADMIN_TOKEN, def, &body), 200, "%s",
	             body);
	free(body);
	seen = read_all(victim);
	cr_assert_str_eq(seen, "precious\n", "the symlink's target was written");
	free(seen);
	cr_assert_eq(file_mode(g_real.state), 0600);
}

Test(control_real, rel4_a_symlink_at_the_state_name_is_refused_and_its_target_untouched,
     .fini = real_fini, .timeout = 60)
{
	char victim[160], *before, *after, *err;

	real_setup();
	cr_assert_eq(real_stop(), 0);
	snprintf(victim, sizeof(victim), "%s/victim", g_real.dir);
	cr_assert_eq(rename(g_real.state, victim), 0);
	cr_assert_eq(symlink(victim, g_real.state), 0);
	before = read_all(victim);
	int st = controld_once(&err);
	cr_assert_eq(st, 1, "controld exit %d (124: it started on the link): %s", st, err);
	cr_assert(strstr(err, g_real.state) && strstr(err, "symbolic link"), "%s", err);
	after = read_all(victim);
	cr_assert_str_eq(after, before);
	free(before);
	free(after);
	free(err);
}

Test(control_real, rel4_a_state_file_others_may_read_stops_controld_with_chmod_600,
     .fini = real_fini, .timeout = 60)
{
	char *err, fix[256];

	real_setup();
	cr_assert_eq(real_stop(), 0);
	cr_assert_eq(chmod(g_real.state, 0644), 0);
	int st = controld_once(&err);
	cr_assert_eq(st, 1, "controld exit %d (124: it started): %s", st, err);
	snprintf(fix, sizeof(fix), "chmod 600 %s", g_real.state);
	cr_assert(strstr(err, fix) && strstr(err, "0644"), "%s", err);
	free(err);
	/* The fix it names works. */
	cr_assert_eq(chmod(g_real.state, 0600), 0);
	real_start(true);
}

Test(control_real, rel3_svcadm_reports_a_write_control_could_not_save_and_nothing_changes,
     .fini = real_fini, .timeout = 60)
{
	char words[1200], *out, *err, *body;
	struct stat sb;

	if (!has_curl())
		prereq_missing("curl is not installed");
	real_setup();
	cr_assert_eq(real_stop(), 0);
	cr_assert_eq(stat(g_real.state, &sb), 0);
	/* Room for the state as it is, not for a service with a long description. */
	g_real.fsize_limit = (long)sb.st_size + 256;
	real_start(false);
	int n = snprintf(words, sizeof(words),
	                 "define svc:web --ports=tcp:443 --tags=tag:websvc --description=");
	memset(words + n, 'x', 900);
	words[n + 900] = '\0';
	int st = svcadm(ADMIN_TOKEN, words, &out, &err);
	cr_assert_neq(st, 0, "svcadm exit 0: %s", out);
	cr_assert(strstr(err, "HTTP 503") && strstr(err, "state not saved") &&
	              strstr(err, "nothing changed"),
	          "%s", err);
	free(out);
	free(err);
	cr_assert_eq(curl("GET", "/api/services", ADMIN_TOKEN, NULL, &body), 200);
	cr_assert_null(strstr(body, "svc:web"), "%s", body);
	free(body);
	cr_assert_eq(real_stop(), 0);
	g_real.fsize_limit = 0;
	real_start(false);
	cr_assert_eq(curl("GET", "/api/services", ADMIN_TOKEN, NULL, &body), 200);
	cr_assert_null(strstr(body, "svc:web"), "%s", body);
	free(body);
	st = svcadm(ADMIN_TOKEN, words, &out, &err);
	cr_assert_eq(st, 0, "%s", err);
	free(out);
	free(err);
}

/* Numbers on controld's and svcadm's command lines are decimal and in
 * range, or refused (exit 2) with the reason; none of these starts
 * controld or reaches a port the operator did not write. */
Test(control_real, har_6_numeric_options_refuse_signs_blanks_hex_and_out_of_range_with_why,
     .fini = real_fini, .timeout = 30)
{
	struct arg_case {
		const char *args, *msg;
	};
	static const struct arg_case controld[] = {
	    {"--map-port +8301", "bad --map-port \"+8301\": a sign is not accepted"},
	    {"--admin-port ' 8300'", "bad --admin-port \" 8300\": blanks are not accepted"},
	    {"--admin-port 0x20AC", "bad --admin-port \"0x20AC\": hexadecimal is not accepted"},
	    {"--map-port=08301", "bad --map-port \"08301\": leading zeros are not accepted"},
	    {"--map-port 65536", "bad --map-port \"65536\": out of range (1 to 65535)"},
	};
	static const struct arg_case svcadm[] = {
	    {"http://127.0.0.1:65616", "bad port \"65616\" in --control"},
	    {"http://127.0.0.1:http", "bad port \"http\" in --control"},
	    {"http://127.0.0.1:0x1F", "hexadecimal is not accepted"},
	};
	char cmd[512], *out, *err;

	snprintf(g_real.dir, sizeof(g_real.dir), "/tmp/ctlreal.XXXXXX");
	cr_assert_not_null(mkdtemp(g_real.dir));
	for (size_t i = 0; i < sizeof(controld) / sizeof(controld[0]); i++) {
		/* --bogus after the number: an accepted number still exits 2,
		 * but with the wrong message, and never starts a server. */
		snprintf(cmd, sizeof(cmd), "%s %s --bogus", CONTROLD_PATH, controld[i].args);
		int rc = run(cmd, &out, &err);
		cr_assert_eq(rc, 2, "%s: exit %d", cmd, rc);
		cr_assert(strstr(err, controld[i].msg), "%s: \"%s\" lacks \"%s\"", cmd, err,
		          controld[i].msg);
		free(out);
		free(err);
	}
	for (size_t i = 0; i < sizeof(svcadm) / sizeof(svcadm[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s --control %s --token t services", SVCADM_PATH,
		         svcadm[i].args);
		int rc = run(cmd, &out, &err);
		cr_assert_eq(rc, 2, "%s: exit %d (%s)", cmd, rc, err);
		cr_assert(strstr(err, svcadm[i].msg), "%s: \"%s\" lacks \"%s\"", cmd, err,
		          svcadm[i].msg);
		free(out);
		free(err);
	}
}

/* Sends `req` on a new admin connection and returns the whole answer
 * (malloc'd; control closes after Connection: close or an error). */
static char *admin_exchange(const char *req)
{
	int fd = tcp_connect_port(g_real.admin_port);
	cr_assert_geq(fd, 0);
	for (size_t off = 0, len = strlen(req); off < len;) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	char *all = calloc(1, 65536);
	size_t got = 0;
	while (got < 65535) {
		ssize_t r = recv(fd, all + got, 65535 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return all;
}

/* REL-1: a peer without a token gets one 401 and the connection closes:
 * it cannot keep an admin slot with a request a minute, nor make control
 * queue answers to pipelined requests it never reads. Evidence: the bytes
 * and the EOF on the wire. */
Test(control_real, rel1_a_client_without_a_token_gets_one_401_and_the_connection_closes,
     .fini = real_fini, .timeout = 60)
{
	static const char two[] = "GET /api/nodes HTTP/1.1\r\nHost: x\r\n\r\n"
	                          "GET /api/nodes HTTP/1.1\r\nHost: x\r\n\r\n";
	real_setup();
	int fd = tcp_connect_port(g_real.admin_port);
	cr_assert_geq(fd, 0);
	struct timeval tv = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(send(fd, two, sizeof(two) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(two) - 1);
	char buf[4096];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(buf) - 1 && (r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)r;
	bool eof = r == 0;
	buf[got] = '\0';
	close(fd);
	cr_assert(strncmp(buf, "HTTP/1.1 401 ", 13) == 0, "%s", buf);
	cr_assert_null(strstr(buf + 13, "HTTP/1.1 401 "), "a second answer: %s", buf);
	cr_assert(strcasestr(buf, "\r\nConnection: close\r\n"), "%s", buf);
	cr_assert(eof, "the connection stayed open (%s)", strerror(errno));
}

/* Every status the admin API answers with carries its reason phrase on
 * the wire, and the 503 of a full connection table its whole body. */
Test(control_real, svc_6_every_admin_api_status_line_has_its_reason_phrase, .fini = real_fini,
     .timeout = 120)
{
#define ADMIN_AUTH "Authorization: Bearer " ADMIN_TOKEN "\r\n"
	char long_target[3000];
	static const struct {
		const char *req, *line;
	} cases[] = {
	    {"GET /api/nodes HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH "Connection: close\r\n\r\n",
	     "HTTP/1.1 200 OK\r\n"},
	    {"GET /api/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 401 Unauthorized\r\n"},
	    {"POST /api/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " MEMBER_TOKEN
	     "\r\nContent-Length: 26\r\nConnection: close\r\n\r\n{\"line\":\"define svc:nope\"}",
	     "HTTP/1.1 403 Forbidden\r\n"},
	    {"GET /api/nope HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH "Connection: close\r\n\r\n",
	     "HTTP/1.1 404 Not Found\r\n"},
	    {"DELETE /api/nodes HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH "Connection: close\r\n\r\n",
	     "HTTP/1.1 405 Method Not Allowed\r\n"},
	    {"POST /api/command HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH
	     "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
	     "HTTP/1.1 400 Bad Request\r\n"},
	    {"PUT /api/policy HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH "Content-Length: 2000000\r\n\r\n",
	     "HTTP/1.1 413 Content Too Large\r\n"},
	    {"PUT /api/policy HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH
	     "Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 100 Continue\r\n"},
	};
	real_setup();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *all = admin_exchange(cases[i].req);
		cr_assert_eq(strncmp(all, cases[i].line, strlen(cases[i].line)), 0,
		             "case %zu: want \"%.30s\", got \"%.60s\"", i, cases[i].line, all);
		if (strstr(cases[i].line, " 401 "))
			cr_assert(strcasestr(all, "\r\nWWW-Authenticate: Bearer\r\n"), "%s", all);
		free(all);
	}
	/* 414: a target longer than control's path buffer. */
	memset(long_target, 'a', sizeof(long_target));
	memcpy(long_target, "/api/", 5);
	long_target[sizeof(long_target) - 1] = '\0';
	char req[4096];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n" ADMIN_AUTH "\r\n", long_target);
	char *all = admin_exchange(req);
	cr_assert_eq(strncmp(all, "HTTP/1.1 414 URI Too Long\r\n", 27), 0, "%.60s", all);
	free(all);
	/* 431: a head over 16 KiB. */
	char *big = malloc(20100);
	int n = snprintf(big, 100, "GET /api/nodes HTTP/1.1\r\nHost: x\r\nX-Pad: ");
	memset(big + n, 'a', 20000);
	memcpy(big + n + 20000, "\r\n\r\n", 5);
	all = admin_exchange(big);
	cr_assert_eq(strncmp(all, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46), 0,
	             "%.60s", all);
	free(all);
	free(big);
	/* 503 past 64 connections: the status line and a body as long as
	 * its Content-Length says, which is JSON. */
	int fds[64];
	for (int i = 0; i < 64; i++)
		cr_assert_geq(fds[i] = tcp_connect_port(g_real.admin_port), 0);
	usleep(200000);
	all = admin_exchange("");
	cr_assert_eq(strncmp(all, "HTTP/1.1 503 Service Unavailable\r\n", 34), 0, "%.60s", all);
	char *cl = strcasestr(all, "\r\nContent-Length: "), *body = strstr(all, "\r\n\r\n");
	cr_assert(cl && body, "%s", all);
	body += 4;
	cr_assert_eq(strlen(body), (size_t)atoi(cl + 18), "Content-Length vs body: %s", all);
	cJSON *doc = cJSON_Parse(body);
	cr_assert(cJSON_IsObject(doc), "503 body is not JSON: %s", body);
	cJSON_Delete(doc);
	free(all);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
#undef ADMIN_AUTH
}

/* controld's events on a full disk: named with their errno (not lost in
 * silence), controld keeps serving and exits 1. */
Test(control_real, har_6_events_on_a_full_disk_name_their_errno, .fini = real_fini, .timeout = 30)
{
	char cmd[512], *out, *err;

	snprintf(g_real.dir, sizeof(g_real.dir), "/tmp/ctlreal.XXXXXX");
	cr_assert_not_null(mkdtemp(g_real.dir));
	int map_port = free_port(), admin_port = free_port();
	snprintf(cmd, sizeof(cmd),
	         "timeout --preserve-status -s TERM 2 %s --listen 127.0.0.1 --map-port %d "
	         "--admin-port %d --state %s/state.json --events /dev/full",
	         CONTROLD_PATH, map_port, admin_port, g_real.dir);
	int rc = run(cmd, &out, &err);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
	cr_assert(strstr(err, "controld: --events /dev/full: No space left on device"), "%s", err);
	free(out);
	free(err);
}

/* svcadm's authkey commands against a real controld: the key is shown
 * once, the state file holds neither it nor the admin token, a restart
 * keeps the key, and a revoke through the API shows in the listing. */
Test(control_real, sec1_svcadm_makes_lists_and_revokes_auth_keys_and_the_state_holds_no_secret,
     .fini = real_fini, .timeout = 120)
{
	char *out, *err, *body, key[64] = "", id[16] = "", path[64];

	if (!has_curl())
		prereq_missing("curl is not installed");
	real_setup();
	cr_assert_eq(svcadm(ADMIN_TOKEN, "authkey create --reusable --expiry 24h --tags tag:web",
	                    &out, &err),
	             0, "%s", err);
	const char *k = strstr(out, "\"key\":");
	cr_assert(k && sscanf(k, "\"key\": \"%52[^\"]\"", key) == 1, "%s", out);
	cr_assert_eq(strlen(key), 52, "%s", out);
	memcpy(id, key + 7, 12);
	free(out);
	free(err);
	cr_assert_eq(svcadm(MEMBER_TOKEN, "authkey create --tags tag:web", &out, &err), 1);
	cr_assert(strstr(err, "HTTP 403") && strstr(err, "may not create a tagged auth key"), "%s",
	          err);
	free(out);
	free(err);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "authkey create --expiry soon", &out, &err), 2);
	cr_assert(strstr(err, "bad --expiry \"soon\""), "%s", err);
	free(out);
	free(err);

	char *state = read_all(g_real.state);
	cr_assert(strstr(state, id), "%s", state);
	cr_assert_null(strstr(state, key + 20), "the key's secret is on disk");
	cr_assert_null(strstr(state, ADMIN_TOKEN), "the admin token is on disk");
	free(state);

	cr_assert_eq(real_stop(), 0, "controld did not stop cleanly");
	real_start(false);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "authkeys", &out, &err), 0, "%s", err);
	cr_assert(strstr(out, id) && !strstr(out, key + 20), "%s", out);
	free(out);
	free(err);
	snprintf(path, sizeof(path), "/api/authkeys/%s", id);
	cr_assert_eq(curl("DELETE", path, ADMIN_TOKEN, NULL, &body), 200, "%s", body);
	free(body);
	cr_assert_eq(svcadm(ADMIN_TOKEN, "authkeys", &out, &err), 0, "%s", err);
	cr_assert(strstr(out, "\"revoked\":\ttrue"), "%s", out);
	free(out);
	free(err);
	char *ev = read_all(g_real.events);
	cr_assert(strstr(ev, "\"type\":\"authkey_created\"") &&
	              strstr(ev, "\"type\":\"authkey_revoked\""),
	          "%s", ev);
	cr_assert_null(strstr(ev, key + 20), "the key's secret is in the events");
	free(ev);
}
