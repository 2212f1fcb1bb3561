/* The L7 Service Proxy on both seam backends (SPEC L7-1..L7-5, CFG-6,
 * DRN-4 and the limits): one source, compiled with fixture_epoll.c and with
 * fixture_sim.c. The proxy and an HTTP backend run on node 0, clients on
 * node 1; all of them are seam code. */
#define _GNU_SOURCE
#include "tests/lib/io/fixture.h"
#include "tests/lib/io/io_tap.h"
#include "tests/proxy/l7/http_support.h"

#include "apps/http_backend.h"
#include "lib/io/fs.h"
#include "proxy/l7/http_proxy.h"
#include "tests/support/prereq.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HTTP_SUITE
#error "compile with -DHTTP_SUITE=<suite name>"
#endif

#define HOST    "web.tailnet.test"
#define RUN_US  (60ull * 1000 * 1000)
#define MAX_HND 8

struct world {
	struct fixture *f;
	struct io_tap *tap; /* node 0's seam, recording events */
	struct http_backend *backend;
	struct io_addr backend_addr;
	char backend_url[64];
	struct http_proxy *proxy;
	struct io_addr proxy_addr;
	struct http_proxy_config cfg;
	struct serve_port port;
	struct serve_handler hnd[MAX_HND];
	struct tls_ctx *server_tls;
	struct tls_ctx *client_tls;
	struct ht_certs certs;
	bool have_certs;
	/* whois */
	bool tagged;
	struct io_addr whois_seen;
	char whois_login[64];
	struct io_fs *fs; /* an in-memory tree on node 0's seam, or NULL */
};

static struct world W;

static bool test_whois(void *ctx, const struct io_addr *client, char *login, size_t login_len,
                       char *name, size_t name_len)
{
	struct world *w = ctx;

	w->whois_seen = *client;
	if (w->tagged)
		return false;
	snprintf(login, login_len, "%s", w->whois_login[0] ? w->whois_login : "alice@example.com");
	snprintf(name, name_len, "Alice Ästrand");
	return true;
}

static struct io *node_io(int i)
{
	return i == 0 ? &W.tap->io : W.f->node[1].io;
}

/* The origin on node 0 at `at` (port 0 picks one), answering 3 bytes. */
static void backend_start(const struct io_addr *at)
{
	const struct http_backend_config bc = {.body_bytes = 3, .name = "origin"};
	cr_assert_eq(http_backend_new(&W.backend, node_io(0), &bc, at, &W.backend_addr), 0);
}

/* A fixture, the event tap and a backend on node 0 at 127.0.0.1. */
static void world_begin(void)
{
	const char *reason = NULL;

	memset(&W, 0, sizeof(W));
	W.f = fixture_new(false, &reason);
	if (!W.f)
		prereq_missing("%s", reason ? reason : "no fixture");
	W.tap = io_tap_new(W.f->node[0].io);
	cr_assert_not_null(W.tap);
	struct io_addr lo;
	io_addr_v4(&lo, 0x7f000001u, 0);
	backend_start(&lo);
	snprintf(W.backend_url, sizeof(W.backend_url), "http://127.0.0.1:%u", W.backend_addr.port);
	W.port.type = SERVE_TYPE_HTTP;
	W.port.port = 80;
	W.port.handlers = W.hnd;
	W.cfg.name = "svc:web:80";
	W.cfg.handlers = &W.port;
	W.cfg.whois = test_whois;
	W.cfg.whois_ctx = &W;
}

static void add_handler(const char *mount, enum serve_handler_kind kind, const char *value)
{
	cr_assert_lt(W.port.n_handlers, MAX_HND);
	struct serve_handler *h = &W.hnd[W.port.n_handlers++];
	h->mount = strdup(mount);
	h->kind = kind;
	h->value = strdup(value);
}

static void use_tls(void)
{
	char err[TLS_ERR_LEN], ip[IO_ADDR_STRLEN];

	io_addr_format(&W.f->node[0].underlay, false, ip, sizeof(ip));
	ht_certs_make(&W.certs, HOST, ip);
	W.have_certs = true;
	const struct tls_ctx_config sc = {
	    .server = true, .cert_file = W.certs.cert_file, .key_file = W.certs.key_file};
	cr_assert_eq(tls_ctx_new(&W.server_tls, node_io(0), &sc, err, sizeof(err)), 0, "%s", err);
	const struct tls_ctx_config cc = {.ca_pem = W.certs.ca_pem};
	cr_assert_eq(tls_ctx_new(&W.client_tls, W.f->node[1].io, &cc, err, sizeof(err)), 0, "%s",
	             err);
	W.port.type = SERVE_TYPE_HTTPS;
	W.port.port = 443;
	W.cfg.tls = W.server_tls;
	W.cfg.name = "svc:web:443";
}

static void world_start(void)
{
	struct io_addr at = W.f->node[0].underlay;

	cr_assert_eq(http_proxy_new(&W.proxy, node_io(0), &W.cfg), 0);
	at.port = 0;
	cr_assert_eq(http_proxy_listen(W.proxy, &at, &W.proxy_addr), 0);
	cr_assert_neq(W.proxy_addr.port, 0);
}

static void world_end(void)
{
	http_proxy_free(W.proxy);
	if (W.fs) {
		cr_assert_eq(io_fs_mem_open_handles(W.fs), 0, "file handles left open");
		io_fs_free(W.fs);
	}
	http_backend_free(W.backend);
	tls_ctx_free(W.server_tls);
	tls_ctx_free(W.client_tls);
	for (size_t i = 0; i < W.port.n_handlers; i++) {
		free(W.hnd[i].mount);
		free(W.hnd[i].value);
	}
	if (W.have_certs)
		ht_certs_free(&W.certs);
	io_tap_free(W.tap);
	fixture_free(W.f);
	memset(&W, 0, sizeof(W));
}

/* Starts a client on node 1 and runs the world until it is done. */
static void run_client(struct ht_client *c, const char *req, uint64_t gen, bool chunked, int want)
{
	ht_client_start(c, W.f->node[1].io, &W.proxy_addr, W.cfg.tls ? W.client_tls : NULL, HOST,
	                req, gen, chunked, want);
	if (!fixture_run_until(W.f, ht_client_done_fn, c, RUN_US)) {
		io_tap_dump(W.tap);
		cr_assert_fail("client did not finish: connected %d sent %zu/%zu gen_left %llu "
		               "responses %d body %llu status %d",
		               c->connected, c->req_off, c->req_len,
		               (unsigned long long)c->gen_left, c->n,
		               (unsigned long long)c->body_bytes[c->n], c->status[c->n]);
	}
}

static bool run_for_done(void *arg)
{
	(void)arg;
	return false;
}

/* Lets the world run for `us` of its time. */
static void run_for(uint64_t us)
{
	fixture_run_until(W.f, run_for_done, NULL, us);
}

static const char *get(const char *path)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: " HOST "\r\n\r\n", path);
	return buf;
}

/* One GET on a connection of its own, answered 200, then closed: its
 * upstream connection goes back to the pool. */
static void one_request(void)
{
	struct ht_client c = {0};

	run_client(&c, get("/bytes/4"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	ht_client_close(&c);
}

/* --- L7-2 -------------------------------------------------------------------- */

Test(HTTP_SUITE, routes_by_longest_mount_and_strips_the_prefix_L7_2, .fini = world_end,
     .timeout = 120)
{
	char deep[96];
	struct ht_client c;

	world_begin();
	add_handler("/", SERVE_HANDLER_TEXT, "root\n");
	add_handler("/api/", SERVE_HANDLER_PROXY, W.backend_url);
	snprintf(deep, sizeof(deep), "%s/headers", W.backend_url);
	add_handler("/deep/", SERVE_HANDLER_PROXY, deep);
	world_start();

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/api/headers"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert(strncmp(c.body, "GET /headers\n", 13) == 0, "backend saw: %s", c.body);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/deep/x?q=1"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert(strncmp(c.body, "GET /headers/x?q=1\n", 19) == 0, "backend saw: %s", c.body);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/elsewhere"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "root\n");
	ht_client_close(&c);
	cr_assert_geq(io_tap_count(W.tap, "http_request", "\"mount\":\"/deep/\""), 1);
	cr_assert_geq(io_tap_count(W.tap, "http_request", "\"status\":200"), 3);
}

Test(HTTP_SUITE, unknown_path_gets_404, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/api/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&c, get("/nothing/here"), 0, false, 1);
	cr_assert_eq(c.status[0], 404);
	ht_client_close(&c);
	cr_assert_eq(io_tap_count(W.tap, "http_request", "\"status\":404"), 1);
}

/* --- L7-3 -------------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

/* A tree on the host in /tmp (real links, a real FIFO), which the proxy
 * reads on either seam: a seam without a file tree means the host's, while
 * a simulated node's own tree (empty here) never shows host files. */
static void make_tree(void)
{
	char p[160];

	W.tap->io.fs = NULL;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/http-tree-XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	snprintf(p, sizeof(p), "%s/pub", tmpdir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/pub/a.txt", tmpdir);
	write_file(p, "alpha\n");
	snprintf(p, sizeof(p), "%s/pub/page.html", tmpdir);
	write_file(p, "<p>hi</p>\n");
	snprintf(p, sizeof(p), "%s/pub/sub", tmpdir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/pub/sub/index.html", tmpdir);
	write_file(p, "<h1>index</h1>\n");
	snprintf(p, sizeof(p), "%s/secret.txt", tmpdir);
	write_file(p, "secret\n");
	snprintf(p, sizeof(p), "%s/pub/escape", tmpdir);
	char target[160];
	snprintf(target, sizeof(target), "%s/secret.txt", tmpdir);
	cr_assert_eq(symlink(target, p), 0);
}

static void remove_tree(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (tmpdir[0])
		cr_assert_eq(system(cmd), 0);
}

#ifdef HTTP_SIM
/* A simulated node reads its own tree, never the host's: /etc is there on
 * the machine running the test, not in node 0's (empty) tree. */
Test(HTTP_SUITE, simulated_node_never_serves_the_hosts_files, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	cr_assert_not_null(W.f->node[0].io->fs);
	add_handler("/", SERVE_HANDLER_PATH, "/etc");
	world_start();
	run_client(&c, get("/passwd"), 0, false, 1);
	cr_assert_eq(c.status[0], 404, "%d", c.status[0]);
	ht_client_close(&c);
	cr_assert_eq(io_fs_mem_add_file(W.f->node[0].io->fs, "/etc/passwd", "simulated\n", 10), 0);
	memset(&c, 0, sizeof(c));
	run_client(&c, get("/passwd"), 0, false, 1);
	cr_assert_eq(c.status[0], 200, "%d", c.status[0]);
	cr_assert_eq(io_fs_mem_open_handles(W.f->node[0].io->fs), 0);
	ht_client_close(&c);
}
#endif

/* REL-2: a directory's redirect stays on the site. It echoed the request
 * path, so on a "/" mount `GET //evil.example` (a directory of that name)
 * answered `Location: //evil.example/`: another site, for any browser. */
Test(HTTP_SUITE, rel2_a_directory_redirect_never_leads_off_the_site, .fini = world_end,
     .timeout = 120)
{
	char dir[160], sub[200];
	struct ht_client c = {0};

	world_begin();
	make_tree();
	snprintf(dir, sizeof(dir), "%s/pub", tmpdir);
	snprintf(sub, sizeof(sub), "%s/evil.example", dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	snprintf(sub, sizeof(sub), "%s/a:b", dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	add_handler("/", SERVE_HANDLER_PATH, dir);
	world_start();

	static const char *const paths[][2] = {
	    {"//evil.example", "Location: ./evil.example/"},
	    {"/evil.example", "Location: ./evil.example/"},
	    {"/a:b", "Location: ./a%3Ab/"},
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_client(&c, get(paths[i][0]), 0, false, 1);
		cr_assert_eq(c.status[0], 301, "%s: %d", paths[i][0], c.status[0]);
		cr_assert(strstr(c.headers, paths[i][1]), "%s: %s", paths[i][0], c.headers);
		cr_assert_null(strstr(c.headers, "Location: /"), "%s", c.headers);
		ht_client_close(&c);
	}
}

Test(HTTP_SUITE, text_file_and_directory_handlers_answer_L7_3, .fini = world_end, .timeout = 120)
{
	char dir[160], file[160];
	struct ht_client c = {0};

	world_begin();
	make_tree();
	snprintf(dir, sizeof(dir), "%s/pub", tmpdir);
	snprintf(file, sizeof(file), "%s/pub/a.txt", tmpdir);
	add_handler("/hello", SERVE_HANDLER_TEXT, "hello world");
	add_handler("/static/", SERVE_HANDLER_PATH, dir);
	add_handler("/one", SERVE_HANDLER_PATH, file);
	world_start();

	run_client(&c, get("/hello"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "hello world");
	cr_assert(strstr(c.headers, "Content-Type: text/plain"));
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/static/a.txt"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "alpha\n");
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/static/page.html"), 0, false, 1);
	cr_assert(strstr(c.headers, "Content-Type: text/html"), "%s", c.headers);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/static/sub/"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "<h1>index</h1>\n");
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/static/sub"), 0, false, 1);
	cr_assert_eq(c.status[0], 301);
	cr_assert(strstr(c.headers, "Location: ./sub/"), "%s", c.headers);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/static/"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert(strstr(c.body, "href=\"a.txt\""), "%s", c.body);
	cr_assert(strstr(c.body, "href=\"sub/\""), "%s", c.body);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/one"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "alpha\n");
	ht_client_close(&c);

	/* Never outside the root: dot segments (plain or encoded), links. */
	const char *bad[] = {"/static/../secret.txt", "/static/%2e%2e/secret.txt",
	                     "/static/sub/%2E%2E/%2e%2e/secret.txt", "/static/..%2fsecret.txt"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_client(&c, get(bad[i]), 0, false, 1);
		cr_assert_eq(c.status[0], 400, "%s gave %d", bad[i], c.status[0]);
		ht_client_close(&c);
	}
	memset(&c, 0, sizeof(c));
	run_client(&c, get("/static/escape"), 0, false, 1);
	cr_assert_eq(c.status[0], 404, "symlink out of the root gave %d", c.status[0]);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, "POST /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 0,
	           false, 1);
	cr_assert_eq(c.status[0], 405);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	c.head_req[0] = true;
	run_client(&c, "HEAD /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], 0);
	cr_assert(strstr(c.headers, "Content-Length: 6"), "%s", c.headers);
	ht_client_close(&c);
	remove_tree();
}

/* The file handler reads through the seam (lib/io/fs.h): a tree the
 * simulator controls serves like the host's, with the same protections. */
Test(HTTP_SUITE, file_handler_serves_an_in_memory_tree_through_the_seam_L7_3, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};
	const size_t big = 1u << 20;
	char *pattern = malloc(big);

	cr_assert_not_null(pattern);
	for (size_t i = 0; i < big; i++)
		pattern[i] = (char)('a' + i % 26);
	world_begin();
	cr_assert_eq(io_fs_mem_new(&W.fs), 0);
	cr_assert_eq(io_fs_mem_add_file(W.fs, "/srv/www/index.html", "<h1>home</h1>\n", 14), 0);
	cr_assert_eq(io_fs_mem_add_file(W.fs, "/srv/www/a.txt", "alpha\n", 6), 0);
	cr_assert_eq(io_fs_mem_add_file(W.fs, "/srv/www/big.txt", pattern, big), 0);
	cr_assert_eq(io_fs_mem_add_dir(W.fs, "/srv/www/sub"), 0);
	cr_assert_eq(io_fs_mem_add_file(W.fs, "/srv/www/sub/b.txt", "beta\n", 5), 0);
	cr_assert_eq(io_fs_mem_add_file(W.fs, "/srv/secret.txt", "secret\n", 7), 0);
	cr_assert_eq(io_fs_mem_add_link(W.fs, "/srv/www/escape", "../secret.txt"), 0);
	cr_assert_eq(io_fs_mem_add_link(W.fs, "/srv/www/alias.txt", "a.txt"), 0);
	cr_assert_eq(io_fs_mem_add_link(W.fs, "/srv/www/out/index.html", "/srv/secret.txt"), 0);
	cr_assert_eq(io_fs_mem_add_other(W.fs, "/srv/www/fifo"), 0);
	free(pattern);
	W.tap->io.fs = W.fs;
	add_handler("/", SERVE_HANDLER_PATH, "/srv/www");
	world_start();

	run_client(&c, get("/"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "<h1>home</h1>\n");
	cr_assert(strstr(c.headers, "Content-Type: text/html"), "%s", c.headers);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/alias.txt"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "alpha\n");
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/big.txt"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], big);
	cr_assert(c.pattern_ok, "the large file came back changed");
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/sub/"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert(strstr(c.body, "href=\"b.txt\""), "%s", c.body);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/sub"), 0, false, 1);
	cr_assert_eq(c.status[0], 301);
	cr_assert(strstr(c.headers, "Location: ./sub/"), "%s", c.headers);
	ht_client_close(&c);

	/* Never outside the root: dot segments are refused by the parser,
	 * links leading out (index.html too) and non-files get 404. */
	const char *bad[] = {"/../secret.txt", "/%2e%2e/secret.txt"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_client(&c, get(bad[i]), 0, false, 1);
		cr_assert_eq(c.status[0], 400, "%s gave %d", bad[i], c.status[0]);
		ht_client_close(&c);
	}
	const char *missing[] = {"/escape", "/out/", "/fifo", "/none.txt"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_client(&c, get(missing[i]), 0, false, 1);
		cr_assert_eq(c.status[0], 404, "%s gave %d", missing[i], c.status[0]);
		cr_assert_null(strstr(c.body, "secret"), "%s", c.body);
		ht_client_close(&c);
	}
}

/* --- REL-2 ------------------------------------------------------------------- */

/* What the secrets below must never show up as, in part or whole. */
static bool body_has(const struct ht_client *c, const char *needle)
{
	return memmem(c->body, c->body_len, needle, strlen(needle)) != NULL;
}

static void tree_add(const char *rel, bool dir)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	if (dir)
		cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s", p);
	else
		write_file(p, "inner\n");
}

static void tree_link(const char *target, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	cr_assert_eq(symlink(target, p), 0, "symlink %s", p);
}

/* A listing's title is the request path, HTML-escaped, and nothing more:
 * no byte of this request's other headers, of another connection's
 * request (one already closed, whose buffers went back to the heap, and
 * one still open) or of anything else in memory. */
Test(HTTP_SUITE, rel2_listing_never_shows_bytes_past_the_request_path, .fini = world_end,
     .timeout = 120)
{
	char dir[160], req[2048], pad[1200];
	struct ht_client other = {0}, open_other = {0}, c = {0};

	world_begin();
	make_tree();
	tree_add("pub/a&b<c>", true);
	tree_add("pub/a&b<c>/in.txt", false);
	snprintf(dir, sizeof(dir), "%s/pub", tmpdir);
	add_handler("/files/", SERVE_HANDLER_PATH, dir);
	add_handler("/t", SERVE_HANDLER_TEXT, "t");
	world_start();

	/* Another client's request, its secrets far into a long head. */
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(req, sizeof(req),
	         "GET /t?%s HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: Bearer OTHERSECRET-b7\r\n"
	         "Cookie: session=OTHERSECRET-c9\r\n\r\n",
	         pad);
	run_client(&other, req, 0, false, 1);
	cr_assert_eq(other.status[0], 200);
	ht_client_close(&other);
	run_for(100 * 1000);
	run_client(&open_other,
	           "GET /t HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: Bearer OPENSECRET-d4\r\n"
	           "Cookie: session=OPENSECRET-e5\r\n\r\n",
	           0, false, 1);
	cr_assert_eq(open_other.status[0], 200);

	const char *const paths[] = {"/files/", "/files/a&b<c>/", "/files/a%26b%3Cc%3E/"};
	const char *const titles[] = {"<title>/files/</title>\n",
	                              "<title>/files/a&amp;b&lt;c&gt;/</title>\n",
	                              "<title>/files/a%26b%3Cc%3E/</title>\n"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memset(&c, 0, sizeof(c));
		snprintf(req, sizeof(req),
		         "GET %s HTTP/1.1\r\nHost: " HOST
		         "\r\nAuthorization: Bearer OWNSECRET-a1\r\n"
		         "Cookie: own=OWNSECRET-a2\r\n\r\n",
		         paths[i]);
		run_client(&c, req, 0, false, 1);
		cr_assert_eq(c.status[0], 200, "%s gave %d", paths[i], c.status[0]);
		cr_assert(strstr(c.headers, "Content-Type: text/html"), "%s", c.headers);
		const char *const leaks[] = {"SECRET",  "Bearer", "Authorization", "Cookie",
		                             "session", HOST,     "Host",          "own="};
		for (size_t k = 0; k < sizeof(leaks) / sizeof(leaks[0]); k++)
			cr_assert(!body_has(&c, leaks[k]), "%s: the listing shows \"%s\": %.*s",
			          paths[i], leaks[k], (int)c.body_len, c.body);
		cr_assert_eq(memchr(c.body, '\0', c.body_len), NULL, "NUL bytes in the listing");
		cr_assert(body_has(&c, titles[i]), "%s: want %s in %.*s", paths[i], titles[i],
		          (int)c.body_len, c.body);
		cr_assert_eq(strncmp(c.body, "<!doctype html>\n", 16), 0, "%s", c.body);
		ht_client_close(&c);
	}
	ht_client_close(&open_other);
	remove_tree();
}

/* An index.html that is a symbolic link is followed only when it stays in
 * the root, like any other link: one leading out gets 404 and the outside
 * file's bytes never go out. */
Test(HTTP_SUITE, rel2_index_html_symlink_out_of_the_root_gets_404, .fini = world_end,
     .timeout = 120)
{
	char dir[160], outside[160];
	struct ht_client c = {0};

	world_begin();
	make_tree();
	snprintf(outside, sizeof(outside), "%s/secret.txt", tmpdir);
	tree_add("pub/out", true);
	tree_link(outside, "pub/out/index.html");
	tree_add("pub/rel", true);
	tree_link("../../secret.txt", "pub/rel/index.html");
	tree_add("pub/in", true);
	tree_link("../a.txt", "pub/in/index.html");
	snprintf(dir, sizeof(dir), "%s/pub", tmpdir);
	add_handler("/files/", SERVE_HANDLER_PATH, dir);
	world_start();

	const char *const bad[] = {"/files/out/", "/files/rel/", "/files/out/index.html",
	                           "/files/rel/index.html"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_client(&c, get(bad[i]), 0, false, 1);
		cr_assert_eq(c.status[0], 404, "%s gave %d: %s", bad[i], c.status[0], c.body);
		cr_assert(!body_has(&c, "secret"), "%s served the outside file", bad[i]);
		ht_client_close(&c);
	}
	/* A link that stays inside the root is served. */
	memset(&c, 0, sizeof(c));
	run_client(&c, get("/files/in/"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.body, "alpha\n");
	ht_client_close(&c);
	remove_tree();
}

/* REL-2, L7-3 on the host's files: a directory link leading out of the
 * root is refused wherever it sits on the path; a root reached through a
 * link serves; an index.html that is a directory gives the listing (it is
 * no file); %00 in a name is never a name; a listing shows links without
 * the directory slash. */
Test(HTTP_SUITE, rel2_host_tree_edges_links_on_the_path_index_dir_and_nul, .fini = world_end,
     .timeout = 120)
{
	char dir[160], outside[160], root_link[200];
	struct ht_client c = {0};

	world_begin();
	make_tree();
	tree_add("outdir", true);
	tree_add("outdir/inner.txt", false);
	snprintf(outside, sizeof(outside), "%s/outdir", tmpdir);
	tree_link(outside, "pub/linkdir");
	tree_add("pub/idx", true);
	tree_add("pub/idx/index.html", true);
	tree_add("pub/idx/x.txt", false);
	snprintf(dir, sizeof(dir), "%s/pub", tmpdir);
	snprintf(root_link, sizeof(root_link), "%s/publink", tmpdir);
	cr_assert_eq(symlink(dir, root_link), 0);
	add_handler("/files/", SERVE_HANDLER_PATH, dir);
	add_handler("/via/", SERVE_HANDLER_PATH, root_link);
	world_start();

	static const struct {
		const char *path;
		int status;
		const char *has;
	} cases[] = {
	    {"/files/linkdir/inner.txt", 404, NULL},
	    {"/files/linkdir/", 404, NULL},
	    {"/files/linkdir", 404, NULL},
	    {"/via/a.txt", 200, "alpha"},
	    {"/via/sub/", 200, "<h1>index</h1>"},
	    {"/files/idx/", 200, "href=\"x.txt\""},
	    {"/files/a.txt%00.html", 400, NULL},
	    {"/files/", 200, "href=\"linkdir\">linkdir</a>"},
	    {"/files/nothere/", 404, NULL},
	    {"/files/a.txt/", 404, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_client(&c, get(cases[i].path), 0, false, 1);
		cr_assert_eq(c.status[0], cases[i].status, "%s gave %d: %s", cases[i].path,
		             c.status[0], c.body);
		cr_assert(!body_has(&c, "inner\n"), "%s served a file outside the root",
		          cases[i].path);
		if (cases[i].has)
			cr_assert(body_has(&c, cases[i].has), "%s: %s", cases[i].path, c.body);
		ht_client_close(&c);
	}
	remove_tree();
}

/* A FIFO (or other special file) in the served tree is not a file to
 * serve: 404 at once, never an open() that waits for a writer and stops
 * the whole daemon. */
Test(HTTP_SUITE, rel2_fifo_in_the_served_directory_gets_404_without_blocking, .fini = world_end,
     .timeout = 60)
{
	char dir[160], p[256];
	struct ht_client c = {0};

	world_begin();
	make_tree();
	snprintf(p, sizeof(p), "%s/pub/pipe", tmpdir);
	cr_assert_eq(mkfifo(p, 0644), 0);
	snprintf(dir, sizeof(dir), "%s/pub", tmpdir);
	add_handler("/files/", SERVE_HANDLER_PATH, dir);
	world_start();
	run_client(&c, get("/files/pipe"), 0, false, 1);
	cr_assert_eq(c.status[0], 404);
	ht_client_close(&c);
	remove_tree();
}

/* --- L7-1 -------------------------------------------------------------------- */

Test(HTTP_SUITE, keep_alive_carries_pipelined_requests_on_one_connection_L7_1, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};
	char req[1024];

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	add_handler("/t", SERVE_HANDLER_TEXT, "text");
	world_start();
	req[0] = '\0';
	strcat(req, get("/bytes/10"));
	strcat(req, get("/chunked/20"));
	strcat(req, get("/t"));
	strcat(req, get("/bytes/5"));
	run_client(&c, req, 0, false, 4);
	cr_assert_eq(c.n, 4);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], 10);
	cr_assert_eq(c.body_bytes[1], 20);
	cr_assert_eq(c.body_bytes[2], 4);
	cr_assert_eq(c.body_bytes[3], 5);
	cr_assert(!c.eof, "the proxy closed a keep-alive connection");
	cr_assert_eq(io_tap_count(W.tap, "conn_accepted", "svc:web"), 1);
	/* The upstream connection was kept for the next request. */
	cr_assert_eq(http_backend_stats(W.backend)->conns_accepted, 1);
	ht_client_close(&c);
}

/* Upstream connections are pooled per proxy, not per client connection:
 * clients one after another all ride the first one, and each request still
 * carries its own client's forwarding headers (L7-4). */
Test(HTTP_SUITE, successive_client_connections_share_a_pooled_upstream_connection_L7_1,
     .fini = world_end, .timeout = 120)
{
	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	for (int i = 0; i < 3; i++) {
		struct ht_client c = {0};
		run_client(&c, get("/headers"), 0, false, 1);
		cr_assert_eq(c.status[0], 200);
		cr_assert(strstr(c.body, "X-Forwarded-For: "), "%s", c.body);
		cr_assert(strstr(c.body, "Tailscale-User-Login: alice@example.com"), "%s", c.body);
		ht_client_close(&c);
	}
	struct http_proxy_upstream_stats st = http_proxy_upstream_stats(W.proxy);
	cr_assert_eq(st.opened, 1);
	cr_assert_eq(st.reused, 2);
	cr_assert_eq(st.idle, 1);
	cr_assert_eq(http_backend_stats(W.backend)->conns_accepted, 1);
}

Test(HTTP_SUITE, without_a_pool_every_request_opens_its_own_upstream_connection, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};
	char req[2048];

	world_begin();
	W.cfg.max_idle_upstreams = HTTP_PROXY_NO_IDLE_UPSTREAMS;
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	snprintf(req, sizeof(req), "%s", get("/bytes/4"));
	strcat(req, get("/bytes/4"));
	run_client(&c, req, 0, false, 2);
	cr_assert_eq(c.status[1], 200);
	ht_client_close(&c);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).opened, 2);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 0);
}

/* Overlapping requests each need their own upstream connection; once they
 * are done the pool keeps no more than its limit and closes the rest. */
Test(HTTP_SUITE, overlapping_requests_open_parallel_upstreams_and_the_pool_keeps_its_limit,
     .fini = world_end, .timeout = 120)
{
	struct ht_client c[3] = {0};

	world_begin();
	W.cfg.max_idle_upstreams = 2;
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	for (int i = 0; i < 3; i++)
		ht_client_start(&c[i], W.f->node[1].io, &W.proxy_addr, NULL, NULL,
		                get("/sleep/200000"), 0, false, 1);
	for (int i = 0; i < 3; i++) {
		cr_assert(fixture_run_until(W.f, ht_client_done_fn, &c[i], RUN_US));
		cr_assert_eq(c[i].status[0], 200);
		ht_client_close(&c[i]);
	}
	run_for(100 * 1000);
	struct http_proxy_upstream_stats st = http_proxy_upstream_stats(W.proxy);
	cr_assert_eq(st.opened, 3);
	cr_assert_eq(st.idle, 2);
	cr_assert_eq(http_backend_open_connections(W.backend), 2);
}

Test(HTTP_SUITE, pooled_upstream_connection_closes_after_the_upstream_idle_timeout,
     .fini = world_end, .timeout = 120)
{
	world_begin();
	W.cfg.upstream_idle_timeout_us = 2000 * 1000;
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	one_request();
	run_for(1000 * 1000);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 1);
	run_for(1500 * 1000);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 0);
	run_for(100 * 1000);
	cr_assert_eq(http_backend_open_connections(W.backend), 0);
}

/* The upstream going away closes its idle connections; the pool notices at
 * once and the next request (to the restarted upstream) gets a new one. */
Test(HTTP_SUITE, upstream_restart_empties_the_pool_and_the_next_request_succeeds_L7_1,
     .fini = world_end, .timeout = 120)
{
	struct io_addr at;

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	one_request();
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 1);
	at = W.backend_addr;
	http_backend_free(W.backend);
	W.backend = NULL;
	run_for(100 * 1000);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 0);
	backend_start(&at);
	one_request();
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).opened, 2);
}

/* An empty answer (Content-Length: 0) ends its exchange at once: the next
 * request on the connection is served and the exchange is logged. */
Test(HTTP_SUITE, empty_upstream_answer_completes_the_exchange_L7_1, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};
	char req[1024];

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	req[0] = '\0';
	strcat(req, get("/bytes/0"));
	strcat(req, get("/bytes/0"));
	run_client(&c, req, 0, false, 2);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], 0);
	cr_assert_eq(c.status[1], 200);
	cr_assert_eq(io_tap_count(W.tap, "http_request", "svc:web"), 2);
	ht_client_close(&c);
}

Test(HTTP_SUITE, chunked_bodies_stream_both_ways_L7_1, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&c,
	           "POST /echo HTTP/1.1\r\nHost: " HOST "\r\nTransfer-Encoding: chunked\r\n\r\n",
	           100000, true, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], 100000);
	cr_assert(c.pattern_ok);
	cr_assert(strstr(c.headers, "Transfer-Encoding: chunked"), "%s", c.headers);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	run_client(&c, get("/chunked/300000"), 0, false, 1);
	cr_assert_eq(c.body_bytes[0], 300000);
	cr_assert(c.pattern_ok);
	ht_client_close(&c);
	cr_assert_eq(http_backend_stats(W.backend)->bytes_in_body, 100000);
}

Test(HTTP_SUITE, large_bodies_stream_with_bounded_memory_L7_1, .fini = world_end, .timeout = 300)
{
	struct ht_client c = {0};
	const uint64_t big = 20ull * 1000 * 1000;
	char req[256];

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	snprintf(req, sizeof(req),
	         "PUT /echo HTTP/1.1\r\nHost: " HOST "\r\nContent-Length: %llu\r\n\r\n",
	         (unsigned long long)big);
	run_client(&c, req, big, false, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], big, "n %d failed %d error %d eof %d body %llu sent %llu",
	             c.n, c.failed, c.error, c.eof, (unsigned long long)c.body_bytes[0],
	             (unsigned long long)c.gen_sent);
	cr_assert(c.pattern_ok);
	ht_client_close(&c);

	memset(&c, 0, sizeof(c));
	snprintf(req, sizeof(req), "/bytes/%llu", (unsigned long long)big);
	run_client(&c, get(req), 0, false, 1);
	cr_assert_eq(c.body_bytes[0], big);
	cr_assert(c.pattern_ok);
	ht_client_close(&c);
	size_t peak = http_proxy_peak_buffered(W.proxy);
	cr_assert_leq(peak, 2 * (HTTP_PROXY_DEFAULT_MAX_BUFFERED + HTTP_PROXY_READ_CHUNK),
	              "a connection held %zu bytes of buffers", peak);
	cr_log_info("peak buffered per connection: %zu bytes for a %llu byte body", peak,
	            (unsigned long long)big);
}

/* --- L7-4 -------------------------------------------------------------------- */

static const char *spoofed_request(void)
{
	return "GET /headers HTTP/1.1\r\nHost: " HOST "\r\n"
	       "X-Forwarded-For: 6.6.6.6\r\nx-forwarded-host: evil.example\r\n"
	       "X-Forwarded-Proto: https\r\nTailscale-User-Login: mallory@evil\r\n"
	       "tailscale-user-name: Mallory\r\nTailscale-User-Profile-Pic: http://evil/x\r\n"
	       "Tailscale-Headers-Info: evil\r\nConnection: keep-alive, X-Hop\r\n"
	       "X-Hop: drop me\r\nX-Keep: kept\r\n\r\n";
}

Test(HTTP_SUITE, forwarded_and_identity_headers_replace_client_copies_L7_4, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};
	char want[128], ip[IO_ADDR_STRLEN];

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&c, spoofed_request(), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	const char *seen = http_backend_last_head(W.backend);
	io_addr_format(&W.whois_seen, false, ip, sizeof(ip));
	snprintf(want, sizeof(want), "X-Forwarded-For: %s\n", ip);
	cr_assert(strstr(seen, want), "want %s in:\n%s", want, seen);
	cr_assert(strstr(seen, "X-Forwarded-Host: " HOST "\n"), "%s", seen);
	cr_assert(strstr(seen, "X-Forwarded-Proto: http\n"), "%s", seen);
	cr_assert(strstr(seen, "Tailscale-User-Login: alice@example.com\n"), "%s", seen);
	cr_assert(strstr(seen, "Tailscale-User-Name: =?utf-8?q?Alice_=C3=84strand?=\n"), "%s",
	          seen);
	cr_assert(strstr(seen, "X-Keep: kept\n"), "%s", seen);
	const char *gone[] = {"6.6.6.6",     "evil",  "mallory",    "Mallory",
	                      "Profile-Pic", "X-Hop", "Connection:"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		cr_assert_null(strstr(seen, gone[i]), "%s reached the backend:\n%s", gone[i], seen);
	ht_client_close(&c);
#ifdef HTTP_SIM
	/* The client is node 1: X-Forwarded-For is its own address. */
	cr_assert(io_addr_equal(&W.whois_seen, &W.f->node[1].underlay, false));
#endif
}

Test(HTTP_SUITE, tagged_client_gets_no_identity_headers_L7_4, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	W.tagged = true;
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&c, spoofed_request(), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	const char *seen = http_backend_last_head(W.backend);
	cr_assert_null(strstr(seen, "Tailscale-"), "%s", seen);
	cr_assert_null(strstr(seen, "tailscale-"), "%s", seen);
	ht_client_close(&c);
}

/* --- L7-5 (TLS part) ---------------------------------------------------------- */

Test(HTTP_SUITE, https_is_served_with_a_certificate_the_client_verifies_L7_5, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};
	char err[TLS_ERR_LEN];

	world_begin();
	use_tls();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&c, get("/headers"), 0, false, 1);
	cr_assert_eq(c.status[0], 200, "failed %d", c.error);
	cr_assert(strstr(c.body, "X-Forwarded-Proto: https\n"), "%s", c.body);
	ht_client_close(&c);

	/* A client that trusts another CA refuses the certificate... */
	struct tls_ctx *other;
	const struct tls_ctx_config oc = {.ca_pem = W.certs.other_ca_pem};
	cr_assert_eq(tls_ctx_new(&other, W.f->node[1].io, &oc, err, sizeof(err)), 0);
	memset(&c, 0, sizeof(c));
	ht_client_start(&c, W.f->node[1].io, &W.proxy_addr, other, HOST, get("/headers"), 0, false,
	                1);
	fixture_run_until(W.f, ht_client_done_fn, &c, RUN_US);
	cr_assert(c.failed && c.n == 0, "an untrusted certificate was accepted");
	cr_assert_eq(c.error, -EPROTO);
	ht_client_close(&c);
	/* ...and so does one that expects another name. */
	memset(&c, 0, sizeof(c));
	ht_client_start(&c, W.f->node[1].io, &W.proxy_addr, W.client_tls, "other.tailnet.test",
	                get("/headers"), 0, false, 1);
	fixture_run_until(W.f, ht_client_done_fn, &c, RUN_US);
	cr_assert(c.failed && c.n == 0, "a certificate for another name was accepted");
	ht_client_close(&c);
	tls_ctx_free(other);

	/* The proxy is unharmed. */
	memset(&c, 0, sizeof(c));
	run_client(&c, get("/bytes/100000"), 0, false, 1);
	cr_assert_eq(c.body_bytes[0], 100000);
	cr_assert(c.pattern_ok);
	ht_client_close(&c);
}

Test(HTTP_SUITE, https_and_https_insecure_upstreams_are_proxied, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};
	char url[96];

	/* The proxy itself becomes the TLS upstream of a second, plain proxy. */
	world_begin();
	use_tls();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	struct http_proxy *front;
	struct serve_port fp = {.type = SERVE_TYPE_HTTP, .port = 80};
	struct serve_handler fh[2] = {
	    {.mount = "/v/", .kind = SERVE_HANDLER_PROXY},
	    {.mount = "/i/", .kind = SERVE_HANDLER_PROXY},
	};
	char vurl[96], at_text[IO_ADDR_STRLEN];
	io_addr_format(&W.proxy_addr, true, at_text, sizeof(at_text));
	snprintf(vurl, sizeof(vurl), "https://%s", at_text);
	snprintf(url, sizeof(url), "https+insecure://%s", at_text);
	fh[0].value = vurl;
	fh[1].value = url;
	fp.handlers = fh;
	fp.n_handlers = 2;
	const struct http_proxy_config fc = {
	    .name = "front", .handlers = &fp, .upstream_ca_pem = W.certs.ca_pem};
	struct io_addr at = W.f->node[0].underlay, bound;
	at.port = 0;
	cr_assert_eq(http_proxy_new(&front, node_io(0), &fc), 0);
	cr_assert_eq(http_proxy_listen(front, &at, &bound), 0);

	ht_client_start(&c, W.f->node[1].io, &bound, NULL, NULL, get("/v/bytes/1000"), 0, false, 1);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &c, RUN_US));
	if (c.status[0] != 200)
		io_tap_dump(W.tap);
	cr_assert_eq(c.status[0], 200, "%s", c.body);
	cr_assert_eq(c.body_bytes[0], 1000);
	ht_client_close(&c);
	memset(&c, 0, sizeof(c));
	ht_client_start(&c, W.f->node[1].io, &bound, NULL, NULL, get("/i/bytes/1000"), 0, false, 1);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &c, RUN_US));
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(c.body_bytes[0], 1000);
	ht_client_close(&c);
	http_proxy_free(front);
}

/* --- errors -------------------------------------------------------------------- */

Test(HTTP_SUITE, malformed_and_smuggling_requests_get_400_and_close, .fini = world_end,
     .timeout = 120)
{
	const char *bad[] = {
	    "GARBAGE\r\n\r\n",
	    ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
	     "\r\n\r\n0\r\n\r\n"),
	    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	    "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n folded\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
	    "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
	    "GET / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\nHost: x\n\n",
	    "GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\001b\r\n\r\n",
	};
	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ht_client c = {0};
		run_client(&c, bad[i], 0, false, 2);
		cr_assert_eq(c.n, 1, "request %zu: %d responses", i, c.n);
		cr_assert_eq(c.status[0], 400, "request %zu: status %d", i, c.status[0]);
		cr_assert(c.eof, "request %zu: connection left open", i);
		ht_client_close(&c);
	}
	cr_assert_eq(http_backend_stats(W.backend)->requests, 0,
	             "a bad request reached the backend");
}

Test(HTTP_SUITE, refused_or_reset_upstream_gets_502, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	add_handler("/dead/", SERVE_HANDLER_PROXY, "http://127.0.0.1:1");
	add_handler("/far/", SERVE_HANDLER_PROXY, "http://backend.invalid:80");
	world_start();
	run_client(&c, get("/dead/x"), 0, false, 1);
	cr_assert_eq(c.status[0], 502);
	ht_client_close(&c);
	memset(&c, 0, sizeof(c));
	run_client(&c, get("/reset"), 0, false, 1);
	cr_assert_eq(c.status[0], 502);
	ht_client_close(&c);
	memset(&c, 0, sizeof(c));
	run_client(&c, get("/far/x"), 0, false, 1);
	cr_assert_eq(c.status[0], 502);
	ht_client_close(&c);
	cr_assert_eq(io_tap_count(W.tap, "http_request", "\"status\":502"), 3);
}

/* --- limits ---------------------------------------------------------------------- */

Test(HTTP_SUITE, oversized_head_or_too_many_headers_get_431, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};
	char *req = malloc(16384);
	size_t n = 0;

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	W.cfg.max_head_bytes = 4096;
	W.cfg.max_headers = 10;
	world_start();
	n += (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'b', 8000);
	n += 8000;
	strcpy(req + n, "\r\n\r\n");
	run_client(&c, req, 0, false, 1);
	cr_assert_eq(c.status[0], 431);
	ht_client_close(&c);

	n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 20; i++)
		n += (size_t)sprintf(req + n, "X-H%d: v\r\n", i);
	strcpy(req + n, "\r\n");
	memset(&c, 0, sizeof(c));
	run_client(&c, req, 0, false, 1);
	cr_assert_eq(c.status[0], 431);
	ht_client_close(&c);
	free(req);
	cr_assert_eq(io_tap_count(W.tap, "limit_hit", "max_head_bytes"), 2);
}

Test(HTTP_SUITE, silent_upstream_gets_504_after_the_upstream_timeout, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	W.cfg.upstream_timeout_us = 500 * 1000;
	world_start();
	run_client(&c, get("/sleep/5000000"), 0, false, 1);
	cr_assert_eq(c.status[0], 504);
	uint64_t took = c.done_us - c.start_us;
	cr_assert(took >= 500000 && took < 2000000, "504 after %llu us", (unsigned long long)took);
	ht_client_close(&c);
	cr_assert_eq(io_tap_count(W.tap, "limit_hit", "upstream_timeout"), 1);
}

Test(HTTP_SUITE, slow_request_head_times_out_with_408, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_TEXT, "x");
	W.cfg.head_timeout_us = 300 * 1000;
	world_start();
	c.send_delay_us = 50 * 1000; /* one byte per 50 ms: slowloris */
	run_client(&c, get("/slow/request/with/a/long/path"), 0, false, 1);
	cr_assert_eq(c.status[0], 408);
	cr_assert_eq(io_tap_count(W.tap, "limit_hit", "head_timeout"), 1);
	ht_client_close(&c);
}

Test(HTTP_SUITE, idle_keep_alive_connection_is_closed_after_the_idle_timeout, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_TEXT, "x");
	W.cfg.idle_timeout_us = 300 * 1000;
	world_start();
	run_client(&c, get("/"), 0, false, 2); /* waits for a second answer: EOF instead */
	cr_assert_eq(c.n, 1);
	cr_assert(c.eof);
	uint64_t took = c.done_us - c.start_us;
	cr_assert(took >= 300000 && took < 2000000, "closed after %llu us",
	          (unsigned long long)took);
	cr_assert_eq(io_tap_count(W.tap, "conn_closed", "idle timeout"), 1);
	ht_client_close(&c);
}

Test(HTTP_SUITE, silent_tls_client_is_dropped_after_the_handshake_timeout, .fini = world_end,
     .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	use_tls();
	add_handler("/", SERVE_HANDLER_TEXT, "x");
	W.cfg.handshake_timeout_us = 300 * 1000;
	world_start();
	/* A plain TCP client that never starts the handshake. */
	ht_client_start(&c, W.f->node[1].io, &W.proxy_addr, NULL, NULL, "", 0, false, 1);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &c, RUN_US));
	cr_assert(c.n == 0 && (c.eof || c.failed));
	uint64_t took = c.done_us - c.start_us;
	cr_assert(took >= 300000 && took < 2000000, "dropped after %llu us",
	          (unsigned long long)took);
	cr_assert_eq(io_tap_count(W.tap, "limit_hit", "handshake_timeout"), 1);
	ht_client_close(&c);
}

static bool two_connected(void *arg)
{
	(void)arg;
	return http_proxy_open_connections(W.proxy) == 2;
}

Test(HTTP_SUITE, connections_over_the_limit_are_closed_at_once, .fini = world_end, .timeout = 120)
{
	struct ht_client a = {0}, b = {0}, c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_TEXT, "x");
	W.cfg.max_conns = 2;
	world_start();
	ht_client_start(&a, W.f->node[1].io, &W.proxy_addr, NULL, NULL, "", 0, false, 1);
	ht_client_start(&b, W.f->node[1].io, &W.proxy_addr, NULL, NULL, "", 0, false, 1);
	cr_assert(fixture_run_until(W.f, two_connected, NULL, RUN_US));
	run_client(&c, get("/"), 0, false, 1);
	cr_assert(c.eof || c.failed);
	cr_assert_eq(c.n, 0);
	cr_assert_eq(io_tap_count(W.tap, "limit_hit", "max_conns"), 1);
	ht_client_close(&a);
	ht_client_close(&b);
	ht_client_close(&c);
}

/* --- isolation, config changes, drain ------------------------------------------ */

Test(HTTP_SUITE, garbage_client_does_not_disturb_a_parallel_transfer, .fini = world_end,
     .timeout = 300)
{
	struct ht_client big = {0}, bad = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	ht_client_start(&big, W.f->node[1].io, &W.proxy_addr, NULL, NULL, get("/bytes/5000000"), 0,
	                false, 1);
	run_for(20 * 1000);
	run_client(&bad, "\x16\x03\x01garbage that is not HTTP\r\n\r\n", 0, false, 1);
	cr_assert_eq(bad.status[0], 400);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &big, RUN_US));
	if (big.status[0] != 200)
		io_tap_dump(W.tap);
	cr_assert_eq(big.status[0], 200, "n %d failed %d error %d eof %d body %llu", big.n,
	             big.failed, big.error, big.eof, (unsigned long long)big.body_bytes[0]);
	cr_assert_eq(big.body_bytes[0], 5000000);
	cr_assert(big.pattern_ok);
	ht_client_close(&big);
	ht_client_close(&bad);
}

Test(HTTP_SUITE, new_handlers_apply_to_the_next_request_CFG_6, .fini = world_end, .timeout = 120)
{
	struct ht_client c = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_TEXT, "one");
	world_start();
	run_client(&c, get("/"), 0, false, 1);
	cr_assert_str_eq(c.body, "one");
	free(W.hnd[0].value);
	W.hnd[0].value = strdup("two");
	cr_assert_eq(http_proxy_set_handlers(W.proxy, &W.port), 0);
	/* The same keep-alive connection gets the new answer. */
	ht_client_expect(&c, 2);
	const char *r = get("/");
	ssize_t w = W.f->node[1].io->ops->tcp_write(W.f->node[1].io, c.handle, r, strlen(r));
	cr_assert_eq((size_t)w, strlen(r));
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &c, RUN_US));
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.body, "two");
	ht_client_close(&c);
}

/* A pooled connection may lead to an upstream the new handlers no longer
 * name: a handler change closes the pool. */
Test(HTTP_SUITE, new_handlers_close_idle_upstream_connections_CFG_6, .fini = world_end,
     .timeout = 120)
{
	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	one_request();
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 1);
	cr_assert_eq(http_proxy_set_handlers(W.proxy, &W.port), 0);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 0);
	run_for(100 * 1000);
	cr_assert_eq(http_backend_open_connections(W.backend), 0);
}

Test(HTTP_SUITE, drain_closes_idle_connections_and_finishes_busy_ones, .fini = world_end,
     .timeout = 120)
{
	struct ht_client idle = {0}, busy = {0}, quick = {0}, late = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&idle, get("/bytes/1"), 0, false, 1);
	cr_assert_eq(idle.status[0], 200);
	ht_client_expect(&idle, 2); /* now waits for EOF */
	ht_client_start(&busy, W.f->node[1].io, &W.proxy_addr, NULL, NULL, get("/sleep/300000"), 0,
	                false, 1);
	/* busy rides idle's pooled upstream; quick's new one is pooled after. */
	run_client(&quick, get("/bytes/1"), 0, false, 1);
	ht_client_close(&quick);
	run_for(100 * 1000);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 2);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 1, "quick's upstream is pooled");
	http_proxy_stop_accepting(W.proxy);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 1);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 0, "a drain closes the pool");
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &idle, RUN_US));
	cr_assert(idle.eof);
	if (!fixture_run_until(W.f, ht_client_done_fn, &busy, RUN_US)) {
		io_tap_dump(W.tap);
		cr_assert_fail("busy: n %d body %llu", busy.n,
		               (unsigned long long)busy.body_bytes[0]);
	}
	cr_assert_eq(busy.status[0], 200);
	cr_assert(strstr(busy.headers, "Connection: close"), "%s", busy.headers);
	ht_client_expect(&busy, 2);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &busy, RUN_US));
	cr_assert(busy.eof);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 0);
	cr_assert_eq(http_proxy_upstream_stats(W.proxy).idle, 0,
	             "nothing is pooled while draining");
	ht_client_start(&late, W.f->node[1].io, &W.proxy_addr, NULL, NULL, get("/"), 0, false, 1);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &late, RUN_US));
	cr_assert(late.failed && late.n == 0, "a new connection was accepted while draining");
	ht_client_close(&idle);
	ht_client_close(&busy);
	ht_client_close(&late);
}

struct raw_client {
	bool connected;
};

static void raw_client_fn(void *ctx, int handle, unsigned events)
{
	struct raw_client *rc = ctx;

	(void)handle;
	if (events & IO_WRITABLE)
		rc->connected = true;
}

/* A connection accepted just before the drain, whose request is still on
 * its way, is served rather than closed (DRN-1). */
Test(HTTP_SUITE, connection_accepted_before_drain_gets_its_first_request_served_DRN_1,
     .fini = world_end, .timeout = 120)
{
	struct raw_client rc = {0};
	struct io *io;
	char buf[4096];
	size_t got = 0;

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	io = W.f->node[1].io;
	int h = io->ops->tcp_connect(io, &W.proxy_addr, NULL, raw_client_fn, &rc);
	cr_assert_geq(h, 0);
	run_for(50 * 1000);
	cr_assert(rc.connected);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 1);
	http_proxy_stop_accepting(W.proxy);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 1, "the fresh connection stays");
	const char *req = get("/bytes/10");
	cr_assert_eq(io->ops->tcp_write(io, h, req, strlen(req)), (ssize_t)strlen(req));
	for (int i = 0; i < 200 && got < sizeof(buf) - 1; i++) {
		run_for(5 * 1000);
		ssize_t n = io->ops->tcp_read(io, h, buf + got, sizeof(buf) - 1 - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
	}
	buf[got] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "served: %s", buf);
	cr_assert(strstr(buf, "Connection: close"), "%s", buf);
	io->ops->close(io, h, false);
}

Test(HTTP_SUITE, abort_all_resets_every_connection_DRN_4, .fini = world_end, .timeout = 120)
{
	struct ht_client a = {0}, b = {0};

	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	ht_client_start(&a, W.f->node[1].io, &W.proxy_addr, NULL, NULL, get("/sleep/5000000"), 0,
	                false, 1);
	ht_client_start(&b, W.f->node[1].io, &W.proxy_addr, NULL, NULL, get("/bytes/50000000"), 0,
	                false, 1);
	run_for(200 * 1000);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 2);
	http_proxy_abort_all(W.proxy);
	cr_assert_eq(http_proxy_open_connections(W.proxy), 0);
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &a, RUN_US));
	cr_assert(fixture_run_until(W.f, ht_client_done_fn, &b, RUN_US));
	cr_assert(a.failed && a.error == -ECONNRESET, "a: failed %d error %d", a.failed, a.error);
	cr_assert(b.failed && b.error == -ECONNRESET, "b: failed %d error %d", b.failed, b.error);
	cr_assert_eq(io_tap_count(W.tap, "conn_closed", "aborted"), 2);
	ht_client_close(&a);
	ht_client_close(&b);
}

/* --- determinism (sim) and real clients (epoll) ------------------------------------ */

#ifdef HTTP_SIM
/* One HTTPS exchange in a fresh world; the client's ciphertext hashes. */
static void https_once(struct ht_certs *certs, uint64_t *sent, uint64_t *recv)
{
	struct ht_client c = {0};
	char err[TLS_ERR_LEN];

	world_begin();
	const struct tls_ctx_config sc = {
	    .server = true, .cert_pem = certs->cert_pem, .key_pem = certs->key_pem};
	cr_assert_eq(tls_ctx_new(&W.server_tls, node_io(0), &sc, err, sizeof(err)), 0);
	const struct tls_ctx_config cc = {.ca_pem = certs->ca_pem};
	cr_assert_eq(tls_ctx_new(&W.client_tls, W.f->node[1].io, &cc, err, sizeof(err)), 0);
	W.port.type = SERVE_TYPE_HTTPS;
	W.cfg.tls = W.server_tls;
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	run_client(&c, get("/bytes/20000"), 0, false, 1);
	cr_assert_eq(c.status[0], 200);
	tls_conn_ciphertext_hash(c.tls, sent, recv);
	ht_client_close(&c);
	world_end();
}

Test(HTTP_SUITE, same_seed_gives_identical_tls_ciphertext, .timeout = 120)
{
	struct ht_certs certs;
	uint64_t s1, r1, s2, r2;

	ht_certs_make(&certs, HOST, NULL);
	https_once(&certs, &s1, &r1);
	https_once(&certs, &s2, &r2);
	ht_certs_free(&certs);
	cr_assert_eq(s1, s2, "client ciphertext differs between runs");
	cr_assert_eq(r1, r2, "server ciphertext differs between runs");
	cr_assert_neq(s1, r1);
}
#endif

#ifdef HTTP_EPOLL
static bool child_done(void *arg)
{
	pid_t *pid = arg;
	int st;
	return waitpid(*pid, &st, WNOHANG) == *pid;
}

/* Runs curl with `args` in the background while the loop serves it;
 * returns what curl printed. */
static char *run_curl(const char *args)
{
	char out[64], cmd[2048];
	snprintf(out, sizeof(out), "/tmp/ht-curl-%d.out", (int)getpid());
	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 20 %s > %s 2>&1", args, out);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	bool ok = fixture_run_until(W.f, child_done, &pid, 30ull * 1000 * 1000);
	if (!ok) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	FILE *f = fopen(out, "r");
	cr_assert(f);
	char *text = calloc(1, 65536);
	size_t n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	unlink(out);
	return text;
}

Test(HTTP_SUITE, real_curl_sees_rewritten_headers_L7_4, .fini = world_end, .timeout = 120)
{
	char args[1024];

	if (access("/usr/bin/curl", X_OK) != 0)
		prereq_missing("curl is not installed");
	world_begin();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	add_handler("/txt", SERVE_HANDLER_TEXT, "from text\n");
	world_start();
	snprintf(args, sizeof(args),
	         "-H 'X-Forwarded-For: 6.6.6.6' -H 'Tailscale-User-Login: mallory' "
	         "http://127.0.0.1:%u/headers http://127.0.0.1:%u/txt",
	         W.proxy_addr.port, W.proxy_addr.port);
	char *out = run_curl(args);
	cr_assert(strstr(out, "GET /headers\n"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-For: 127.0.0."), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-Proto: http\n"), "%s", out);
	cr_assert(strstr(out, "Tailscale-User-Login: alice@example.com\n"), "%s", out);
	cr_assert(strstr(out, "from text\n"), "%s", out);
	cr_assert_null(strstr(out, "6.6.6.6"), "%s", out);
	cr_assert_null(strstr(out, "mallory"), "%s", out);
	free(out);
	/* curl reused one connection for both URLs. */
	cr_assert_eq(io_tap_count(W.tap, "conn_accepted", NULL), 1);
}

Test(HTTP_SUITE, real_curl_verifies_https_against_the_test_ca_L7_5, .fini = world_end,
     .timeout = 120)
{
	char args[1024];

	if (access("/usr/bin/curl", X_OK) != 0)
		prereq_missing("curl is not installed");
	world_begin();
	use_tls();
	add_handler("/", SERVE_HANDLER_PROXY, W.backend_url);
	world_start();
	snprintf(args, sizeof(args),
	         "--cacert %s --resolve " HOST ":%u:127.0.0.1 https://" HOST ":%u/headers "
	         "--data-binary @/etc/os-release -H 'Expect:'",
	         W.certs.ca_file, W.proxy_addr.port, W.proxy_addr.port);
	char *out = run_curl(args);
	cr_assert(strstr(out, "POST /headers\n"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-Proto: https\n"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-Host: " HOST), "%s", out);
	free(out);
	/* Without the CA, curl refuses. */
	snprintf(args, sizeof(args), "--resolve " HOST ":%u:127.0.0.1 https://" HOST ":%u/headers",
	         W.proxy_addr.port, W.proxy_addr.port);
	out = run_curl(args);
	cr_assert(strstr(out, "certificate"), "%s", out);
	free(out);
}
#endif
