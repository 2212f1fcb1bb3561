/* svcd's local API server (proxy/localapi_server.h) on the real epoll loop
 * and real Unix sockets, in this process: idle clients lose their slots,
 * refused clients read why (REL-6). The verdicts come from what clients
 * read on their sockets, from the real `svcctl` binary's output and exit
 * status, and from the node's event lines. */
#define _GNU_SOURCE
#include "lib/io/io_epoll.h"
#include "lib/wire/localapi.h"
#include "proxy/localapi_server.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define IDLE_US (300ull * 1000)
#define HELD    (LOCALAPI_SERVER_MAX_CLIENTS + 4)

struct srv {
	char dir[64], path[96], events_path[96];
	FILE *events;
	struct io_loop *loop;
	struct io *io;
	int listen_fd;
	struct localapi_server *api;
	size_t big_answer; /* > 0: every answer is this many bytes of output */
	unsigned requests;
};

static char *handle(void *ctx, const char *line, size_t len)
{
	struct srv *s = ctx;
	(void)line;
	(void)len;

	s->requests++;
	if (!s->big_answer)
		return localapi_response_format(LOCALAPI_STATUS_OK, "served\n");
	char *text = malloc(s->big_answer + 1);
	cr_assert_not_null(text);
	memset(text, 'x', s->big_answer);
	text[s->big_answer] = '\0';
	char *resp = localapi_response_format(LOCALAPI_STATUS_OK, text);
	free(text);
	return resp;
}

static void srv_start(struct srv *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err;

	memset(s, 0, sizeof(*s));
	signal(SIGPIPE, SIG_IGN);
	snprintf(s->dir, sizeof(s->dir), "/tmp/apisrv.XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/api.sock", s->dir);
	snprintf(s->events_path, sizeof(s->events_path), "%s/events", s->dir);
	s->events = fopen(s->events_path, "w");
	cr_assert_not_null(s->events);
	setvbuf(s->events, NULL, _IOLBF, 0);
	s->loop = io_loop_new();
	cr_assert_not_null(s->loop);
	const struct io_epoll_config ec = {.node_name = "n", .events = s->events};
	s->io = io_epoll_new(s->loop, &ec, &err);
	cr_assert_not_null(s->io, "io_epoll_new: %d", err);
	memcpy(sa.sun_path, s->path, strlen(s->path));
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(s->listen_fd, 0);
	cr_assert_eq(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(s->listen_fd, 64), 0);
	const struct localapi_server_config cfg = {.loop = s->loop,
	                                           .io = s->io,
	                                           .listen_fd = s->listen_fd,
	                                           .idle_us = IDLE_US,
	                                           .handle = handle,
	                                           .ctx = s};
	cr_assert_eq(localapi_server_new(&s->api, &cfg), 0);
}

static void srv_stop(struct srv *s)
{
	localapi_server_free(s->api);
	close(s->listen_fd);
	io_epoll_free(s->io);
	io_loop_free(s->loop);
	fclose(s->events);
	unlink(s->path);
	unlink(s->events_path);
	rmdir(s->dir);
}

static void run_ms(struct srv *s, unsigned ms)
{
	io_loop_update_time(s->loop);
	cr_assert_geq(
	    io_loop_run_until(s->loop, NULL, NULL, io_loop_now_us(s->loop) + ms * 1000ull), 0);
}

static int dial(const struct srv *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	memcpy(sa.sun_path, s->path, strlen(s->path));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
	             strerror(errno));
	return fd;
}

/* Everything readable now, without blocking; -1 when the read failed. */
static ssize_t drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		buf[n] = '\0';
		if (r == 0 || errno == EAGAIN)
			return (ssize_t)n;
		return -1;
	}
}

/* True when the peer has closed: EOF is readable after any data. */
static bool closed_by_peer(int fd)
{
	char buf[256];

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0)
			return true;
		if (r < 0)
			return errno != EAGAIN;
	}
}

static unsigned count_events(const struct srv *s, const char *needle)
{
	FILE *f = fopen(s->events_path, "r");
	char line[2048];
	unsigned n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Runs the real svcctl against the server while this process drives the
 * loop; returns its exit status with its output (stdout and stderr) in
 * out. */
static int run_svcctl(struct srv *s, char *out, size_t out_len)
{
	char log[128];
	snprintf(log, sizeof(log), "%s/svcctl.out", s->dir);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(99);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(SVCCTL_PATH, "svcctl", "--socket", s->path, "status", (char *)NULL);
		_exit(98);
	}
	int st = 0;
	for (int i = 0; i < 1000; i++) {
		run_ms(s, 10);
		pid_t w = waitpid(pid, &st, WNOHANG);
		cr_assert_geq(w, 0);
		if (w == pid)
			break;
		cr_assert_lt(i, 999, "svcctl did not finish within 10 s");
	}
	FILE *f = fopen(log, "r");
	cr_assert_not_null(f);
	size_t n = fread(out, 1, out_len - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(log);
	cr_assert(WIFEXITED(st), "svcctl died: %d", st);
	return WEXITSTATUS(st);
}

Test(localapi_server, rel6_idle_clients_lose_their_slots_and_svcctl_is_served_again, .timeout = 30)
{
	struct srv s;
	int held[HELD];
	char out[4096];

	srv_start(&s);
	for (int i = 0; i < HELD; i++)
		held[i] = dial(&s);
	run_ms(&s, 50);
	cr_assert_eq(localapi_server_clients(s.api), LOCALAPI_SERVER_MAX_CLIENTS);

	/* At the limit: svcctl prints the refusal and fails. */
	int rc = run_svcctl(&s, out, sizeof(out));
	cr_assert_eq(rc, 1, "svcctl at the limit: %d: %s", rc, out);
	cr_assert(strstr(out, "too many local API clients (limit 16)"), "%s", out);
	cr_assert_eq(s.requests, 0, "nothing was served");

	/* The idle timeout frees every slot; each idle client is told why. */
	run_ms(&s, (unsigned)(IDLE_US / 1000) + 200);
	cr_assert_eq(localapi_server_clients(s.api), 0);
	unsigned told = 0, refused = 0;
	for (int i = 0; i < HELD; i++) {
		ssize_t n = drain(held[i], out, sizeof(out));
		cr_assert_geq(n, 0);
		told += strstr(out, "no complete request within 300 ms") != NULL;
		refused += strstr(out, "too many local API clients") != NULL;
		cr_assert(closed_by_peer(held[i]), "client %d still open", i);
		close(held[i]);
	}
	cr_assert_eq(told, LOCALAPI_SERVER_MAX_CLIENTS);
	cr_assert_eq(refused, HELD - LOCALAPI_SERVER_MAX_CLIENTS);
	cr_assert_eq(count_events(&s, "\"type\":\"local_api_idle_closed\""),
	             LOCALAPI_SERVER_MAX_CLIENTS);
	cr_assert_geq(count_events(&s, "\"type\":\"local_api_refused\""), 1);

	rc = run_svcctl(&s, out, sizeof(out));
	cr_assert_eq(rc, 0, "svcctl after the idle timeout: %d: %s", rc, out);
	cr_assert(strstr(out, "served"), "%s", out);
	cr_assert_eq(s.requests, 1);
	srv_stop(&s);
}

/* The race that lost the message: the server refuses (and, before the
 * fix, closed) before the client has written its request. */
Test(localapi_server, rel6_a_refused_client_that_writes_late_still_reads_the_refusal, .timeout = 30)
{
	struct srv s;
	int held[LOCALAPI_SERVER_MAX_CLIENTS];
	char out[4096];
	const char req[] = "{\"op\":\"status\",\"json\":false}\n";

	srv_start(&s);
	for (int i = 0; i < LOCALAPI_SERVER_MAX_CLIENTS; i++)
		held[i] = dial(&s);
	int late = dial(&s);
	run_ms(&s, 50); /* refused and answered before it wrote anything */
	cr_assert_eq(send(late, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req),
	             "the late client's write must not fail: %s", strerror(errno));
	run_ms(&s, 50);
	cr_assert_geq(drain(late, out, sizeof(out)), 0, "read: %s", strerror(errno));
	int status = -1;
	char *output = NULL, err[LOCALAPI_ERR_LEN];
	cr_assert_eq(localapi_response_parse(out, strlen(out), &status, &output, err, sizeof(err)),
	             0, "%s: %s", err, out);
	cr_assert_eq(status, LOCALAPI_STATUS_FAILED);
	cr_assert(strstr(output, "too many local API clients"), "%s", output);
	free(output);
	cr_assert(closed_by_peer(late));
	close(late);

	/* A refused client that keeps its connection open is closed after
	 * the linger, holding nothing. */
	int stubborn = dial(&s);
	run_ms(&s, (unsigned)(LOCALAPI_SERVER_REFUSE_LINGER_US / 1000) + 100);
	cr_assert_geq(drain(stubborn, out, sizeof(out)), 0);
	cr_assert(closed_by_peer(stubborn));
	close(stubborn);
	for (int i = 0; i < LOCALAPI_SERVER_MAX_CLIENTS; i++)
		close(held[i]);
	srv_stop(&s);
}

/* Neither trickling bytes nor leaving the answer unread holds a slot. */
Test(localapi_server, rel6_a_slow_sender_and_a_client_that_never_reads_are_closed, .timeout = 30)
{
	struct srv s;
	char out[4096];

	srv_start(&s);
	int slow = dial(&s);
	for (int i = 0; i < 10; i++) { /* a byte every 50 ms for 500 ms */
		(void)send(slow, "{", 1, MSG_NOSIGNAL);
		run_ms(&s, 50);
	}
	cr_assert_eq(localapi_server_clients(s.api), 0, "trickling bytes kept the slot");
	cr_assert_eq(count_events(&s, "\"waiting_for\":\"request\""), 1);
	cr_assert_geq(drain(slow, out, sizeof(out)), 0);
	cr_assert(closed_by_peer(slow), "the trickling client was closed");
	close(slow);
	cr_assert_eq(localapi_server_clients(s.api), 0);

	/* An answer far larger than the socket buffer, never read. */
	s.big_answer = 4u << 20;
	int deaf = dial(&s);
	const char req[] = "{\"op\":\"status\",\"json\":true}\n";
	cr_assert_eq(send(deaf, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	run_ms(&s, (unsigned)(IDLE_US / 1000) + 200);
	cr_assert_eq(s.requests, 1);
	cr_assert_eq(localapi_server_clients(s.api), 0, "the deaf client lost its slot");
	cr_assert_eq(count_events(&s, "\"waiting_for\":\"response\""), 1);
	close(deaf);
	srv_stop(&s);
}

/* Refused connections linger in a bounded table; past it they are
 * answered and closed at once, and the events count both. */
Test(localapi_server, rel6_refusals_are_bounded_and_reported_with_their_count, .timeout = 30)
{
	struct srv s;
	enum { N = LOCALAPI_SERVER_MAX_CLIENTS + LOCALAPI_SERVER_MAX_REFUSING + 8 };
	int fds[N];
	char out[4096];

	srv_start(&s);
	for (int i = 0; i < N; i++) {
		fds[i] = dial(&s);
		if (i % 8 == 7)
			run_ms(&s, 5);
	}
	run_ms(&s, 1200);
	unsigned refused = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_geq(drain(fds[i], out, sizeof(out)), 0);
		refused += strstr(out, "too many local API clients") != NULL;
		close(fds[i]);
	}
	cr_assert_eq(refused, N - LOCALAPI_SERVER_MAX_CLIENTS, "every refused client was told");
	FILE *f = fopen(s.events_path, "r");
	char line[2048];
	unsigned long long sum = 0, at_once = 0, c, a;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "\"type\":\"local_api_refused\"");
		if (p &&
		    sscanf(p,
		           "\"type\":\"local_api_refused\",\"count\":%llu,\"closed_at_once\":%llu",
		           &c, &a) == 2) {
			sum += c;
			at_once += a;
		}
	}
	fclose(f);
	cr_assert_eq(sum, N - LOCALAPI_SERVER_MAX_CLIENTS, "events count every refusal");
	cr_assert_geq(at_once, 8, "past the lingering table: closed at once");
	cr_assert_leq(count_events(&s, "\"type\":\"local_api_refused\""), 3,
	              "at most one event a second");
	srv_stop(&s);
}
