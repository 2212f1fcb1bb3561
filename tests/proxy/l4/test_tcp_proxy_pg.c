/* SPEC L4-3: a real database server works through the L4 proxy with its
 * own client. Real mode only: a throwaway PostgreSQL server (pg_fixture)
 * on 127.0.0.1, the L4 proxy on the epoll backend listening on 127.0.0.2,
 * and the real `psql` talking to the server through it. */
#include "lib/io/io_epoll.h"
#include "proxy/l4/tcp_proxy.h"
#include "tests/lib/io/io_tap.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/prereq.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_ROWS       3000
#define PG_WAIT_US    (120ull * 1000 * 1000)
#define PG_TICK_US    10000 /* wakes the loop to look at the child */
#define PG_OUTPUT_MAX (4u * 1024u * 1024u)

struct pg_world {
	struct pg_server pg;
	struct io_loop *loop;
	struct io *node;
	struct io_tap *tap;
	struct tcp_proxy *proxy;
	struct io_addr proxy_addr;
	struct io_timer tick;
	pid_t child;
	int child_status;
	bool child_done;
};

static struct pg_world pw;

static void pg_teardown(void)
{
	if (pw.child > 0 && !pw.child_done) {
		kill(pw.child, SIGKILL);
		waitpid(pw.child, NULL, 0);
	}
	if (pw.node && io_timer_armed(&pw.tick))
		pw.node->ops->timer_disarm(pw.node, &pw.tick);
	tcp_proxy_free(pw.proxy);
	io_epoll_free(pw.tap ? pw.tap->inner : NULL);
	io_tap_free(pw.tap);
	if (pw.loop)
		io_loop_free(pw.loop);
	pg_server_stop(&pw.pg);
	memset(&pw, 0, sizeof(pw));
}

static void pg_tick(struct io_timer *t)
{
	pw.node->ops->timer_arm(pw.node, t, PG_TICK_US);
}

static bool pg_child_exited(void *arg)
{
	int status;

	(void)arg;
	if (pw.child_done)
		return true;
	if (waitpid(pw.child, &status, WNOHANG) == pw.child) {
		pw.child_done = true;
		pw.child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	return pw.child_done;
}

static void pg_setup(void)
{
	const char *reason = NULL;
	int err = 0;

	memset(&pw, 0, sizeof(pw));
	int rc = pg_server_start(&pw.pg, &reason);
	if (rc == 1)
		prereq_missing("%s", reason);
	cr_assert_eq(rc, 0, "the PostgreSQL server did not start");

	pw.loop = io_loop_new();
	cr_assert_not_null(pw.loop);
	const struct io_epoll_config cfg = {.node_name = "pg-host"};
	struct io *inner = io_epoll_new(pw.loop, &cfg, &err);
	cr_assert_not_null(inner, "io_epoll_new: %d", err);
	pw.tap = io_tap_new(inner);
	cr_assert_not_null(pw.tap);
	pw.node = &pw.tap->io;
	pw.tick.fn = pg_tick;
	pw.node->ops->timer_arm(pw.node, &pw.tick, PG_TICK_US);

	struct tcp_proxy_config pc = {.label = "svc:db:5432"};
	io_addr_v4(&pc.target, 0x7f000001u, pw.pg.port);
	cr_assert_eq(tcp_proxy_new(&pw.proxy, pw.node, &pc), 0);
	struct io_addr at;
	io_addr_v4(&at, 0x7f000002u, 0); /* the "VIP": 127.0.0.2, any port */
	cr_assert_eq(tcp_proxy_listen(pw.proxy, &at), 0);
	cr_assert_eq(tcp_proxy_local_addr(pw.proxy, 0, &pw.proxy_addr), 0);
}

/* Runs psql against host:port with extra arguments while the proxy's loop
 * runs; returns its exit status, its output in `out` (malloc'd). */
static int pg_psql(const char *host, uint16_t port, const char *const extra[], char **out)
{
	char portbuf[8], outpath[PG_FIXTURE_PATH_MAX + 16];
	char *argv[32];
	int n = 0;

	snprintf(portbuf, sizeof(portbuf), "%u", port);
	snprintf(outpath, sizeof(outpath), "%s/psql.out", pw.pg.dir);
	argv[n++] = pw.pg.psql;
	argv[n++] = "-X"; /* no ~/.psqlrc */
	argv[n++] = "-At";
	argv[n++] = "-v";
	argv[n++] = "ON_ERROR_STOP=1";
	argv[n++] = "-h";
	argv[n++] = (char *)host;
	argv[n++] = "-p";
	argv[n++] = portbuf;
	argv[n++] = "-U";
	argv[n++] = "postgres";
	argv[n++] = "-d";
	argv[n++] = "postgres";
	for (int i = 0; extra[i]; i++) {
		cr_assert_lt(n, 30);
		argv[n++] = (char *)extra[i];
	}
	argv[n] = NULL;

	pw.child_done = false;
	pw.child = pg_spawn(argv, outpath, (uid_t)-1, (gid_t)-1);
	cr_assert_gt(pw.child, 0);
	io_loop_update_time(pw.loop);
	int rc =
	    io_loop_run_until(pw.loop, pg_child_exited, NULL, io_loop_now_us(pw.loop) + PG_WAIT_US);
	cr_assert_eq(rc, 1, "psql did not finish in time (loop rc %d)", rc);

	FILE *f = fopen(outpath, "r");
	cr_assert_not_null(f);
	*out = calloc(1, PG_OUTPUT_MAX + 1);
	cr_assert_not_null(*out);
	size_t got = fread(*out, 1, PG_OUTPUT_MAX, f);
	(*out)[got] = '\0';
	fclose(f);
	return pw.child_status;
}

static bool proxy_idle(void *arg)
{
	(void)arg;
	return tcp_proxy_open_connections(pw.proxy) == 0;
}

Test(tcp_proxy_pg, l4_3_psql_select_works_through_the_proxy, .fini = pg_teardown, .timeout = 180)
{
	char *out = NULL;
	const char *const args[] = {"-c", "select 1+1", NULL};

	pg_setup();
	int st = pg_psql("127.0.0.2", pw.proxy_addr.port, args, &out);
	cr_assert_eq(st, 0, "psql failed (%d): %s", st, out);
	cr_assert_str_eq(out, "2\n");
	free(out);
	io_loop_update_time(pw.loop);
	cr_assert_eq(
	    io_loop_run_until(pw.loop, proxy_idle, NULL, io_loop_now_us(pw.loop) + 5000000), 1);
	cr_assert_geq(io_tap_count(pw.tap, "conn_accepted", "\"service\":\"svc:db:5432\""), 1);
	cr_assert_geq(io_tap_count(pw.tap, "conn_closed", "\"how\":\"normal\""), 1);
	cr_assert_eq(io_tap_count(pw.tap, "conn_closed", "\"how\":\"reset\""), 0);
}

/* The text of row i, long enough that results span many TCP segments. */
static void pg_row_text(char *buf, size_t len, int i)
{
	snprintf(buf, len, "row-%05d-%08x-%s", i, (unsigned)(i * 2654435761u),
	         "the quick brown fox jumps over the lazy dog");
}

Test(tcp_proxy_pg, l4_3_psql_create_insert_select_thousands_of_rows_through_the_proxy,
     .fini = pg_teardown, .timeout = 300)
{
	char path[PG_FIXTURE_PATH_MAX + 16], row[128];
	char *out = NULL, *direct = NULL;

	pg_setup();
	/* Thousands of single-row INSERTs: many client->server round trips. */
	snprintf(path, sizeof(path), "%s/load.sql", pw.pg.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "CREATE TABLE t (i int PRIMARY KEY, s text NOT NULL);\n");
	for (int i = 1; i <= PG_ROWS; i++) {
		pg_row_text(row, sizeof(row), i);
		fprintf(f, "INSERT INTO t VALUES (%d, '%s');\n", i, row);
	}
	fprintf(f, "SELECT count(*), sum(i) FROM t;\n");
	cr_assert_eq(fclose(f), 0);
	const char *const load[] = {"-q", "-f", path, NULL};
	int st = pg_psql("127.0.0.2", pw.proxy_addr.port, load, &out);
	cr_assert_eq(st, 0, "load failed (%d): %.2000s", st, out);
	char want[64];
	snprintf(want, sizeof(want), "%d|%lld\n", PG_ROWS, (long long)PG_ROWS * (PG_ROWS + 1) / 2);
	cr_assert_str_eq(out, want);
	free(out);

	/* Every row back (server->client bulk), byte for byte as inserted, and
	 * identical to what a direct connection returns. */
	const char *const sel[] = {"-c", "SELECT i, s FROM t ORDER BY i", NULL};
	st = pg_psql("127.0.0.2", pw.proxy_addr.port, sel, &out);
	cr_assert_eq(st, 0, "select failed (%d): %.2000s", st, out);
	st = pg_psql("127.0.0.1", pw.pg.port, sel, &direct);
	cr_assert_eq(st, 0);
	cr_assert_str_eq(out, direct, "proxied result differs from the direct one");
	const char *p = out;
	for (int i = 1; i <= PG_ROWS; i++) {
		char line[160];
		pg_row_text(row, sizeof(row), i);
		int n = snprintf(line, sizeof(line), "%d|%s\n", i, row);
		cr_assert_eq(strncmp(p, line, (size_t)n), 0, "row %d differs", i);
		p += n;
	}
	cr_assert_eq(*p, '\0');
	free(out);
	free(direct);

	io_loop_update_time(pw.loop);
	cr_assert_eq(
	    io_loop_run_until(pw.loop, proxy_idle, NULL, io_loop_now_us(pw.loop) + 5000000), 1);
	struct tcp_proxy_stats stats;
	tcp_proxy_get_stats(pw.proxy, &stats);
	cr_assert_eq(stats.accepted, 2);
	cr_assert_eq(stats.closed_normal + stats.closed_reset, 2);
	cr_assert_gt(stats.bytes_up, 250000, "only %llu bytes up",
	             (unsigned long long)stats.bytes_up);
	cr_assert_gt(stats.bytes_down, 150000, "only %llu bytes down",
	             (unsigned long long)stats.bytes_down);
}
