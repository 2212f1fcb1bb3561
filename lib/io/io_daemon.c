/* A daemon's loop, seam, stop signals and events file (see io_daemon.h). */
#define _GNU_SOURCE
#include "lib/io/io_daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Opens `path` for appending, line-buffered. 0, or -1 after saying why on
 * stderr ("PROG: --events PATH: reason"). */
static int daemon_events_open(struct daemon_events *ev, const char *prog, const char *path)
{
	memset(ev, 0, sizeof(*ev));
	ev->prog = prog;
	ev->path = path;
	ev->f = outfile_open(&ev->out, path, true);
	if (!ev->f) {
		fprintf(stderr, "%s: --events %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	setvbuf(ev->f, NULL, _IOLBF, 0);
	return 0;
}

/* Says once, on stderr, that the events file cannot be written. True when
 * it could not (now or earlier). */
static bool daemon_events_check(struct daemon_events *ev)
{
	int err = ev->out.err;

	if (ev->f && err && !ev->reported) {
		fprintf(stderr, "%s: --events %s: %s (events are being lost)\n", ev->prog, ev->path,
		        strerror(-err));
		ev->reported = true;
	}
	return err != 0;
}

/* Closes the events file (if any). True when some of it was not written. */
static bool daemon_events_close(struct daemon_events *ev)
{
	if (!ev->f)
		return false;
	outfile_close(&ev->out, ev->f);
	bool failed = daemon_events_check(ev);
	ev->f = NULL;
	return failed;
}

/* Blocks SIGINT and SIGTERM, to be read from the returned signalfd
 * (non-blocking), and ignores SIGPIPE. The fd, or -1 with errno. */
static int daemon_stop_signals_fd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Reads what the signalfd holds: true when a stop signal came. */
static bool daemon_stop_signal_read(int fd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		stop = true;
	return stop;
}

void io_daemon_init(struct io_daemon *d, const char *prog)
{
	memset(d, 0, sizeof(*d));
	d->prog = prog;
	d->sig_fd = -1;
}

int io_daemon_open_events(struct io_daemon *d, const char *path)
{
	return path ? daemon_events_open(&d->events, d->prog, path) : 0;
}

static void io_daemon_on_signal(void *ctx, int fd, uint32_t events)
{
	struct io_daemon *d = ctx;

	(void)events;
	if (daemon_stop_signal_read(fd))
		d->stop = true;
}

/* Says why the seam could not be made (-err). */
static void io_daemon_seam_failed(const struct io_daemon *d, const struct io_epoll_config *cfg,
                                  int err)
{
	if (cfg->tun_name)
		fprintf(stderr, "%s: TUN device %s: %s%s\n", d->prog, cfg->tun_name, strerror(-err),
		        err == -EPERM || err == -EACCES ? " (needs CAP_NET_ADMIN)" : "");
	else
		fprintf(stderr, "%s: event loop: %s\n", d->prog, strerror(-err));
}

int io_daemon_open(struct io_daemon *d, const struct io_epoll_config *cfg)
{
	struct io_epoll_config ec = *cfg;
	int rc;

	d->sig_fd = daemon_stop_signals_fd();
	d->loop = io_loop_new();
	if (!d->loop || d->sig_fd < 0) {
		fprintf(stderr, "%s: event loop: %s\n", d->prog, strerror(errno));
		return -1;
	}
	if (io_loop_watch_fd(d->loop, d->sig_fd, EPOLLIN, io_daemon_on_signal, d) < 0) {
		fprintf(stderr, "%s: event loop: cannot watch the signal fd\n", d->prog);
		return -1;
	}
	ec.events = d->events.f;
	d->io = io_epoll_new(d->loop, &ec, &rc);
	if (!d->io) {
		io_daemon_seam_failed(d, cfg, rc);
		return -1;
	}
	return 0;
}

int io_daemon_run(struct io_daemon *d)
{
	while (!d->stop) {
		int rc = io_loop_run_once(d->loop, 1000);
		daemon_events_check(&d->events);
		if (rc < 0) {
			fprintf(stderr, "%s: event loop: %s\n", d->prog, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

int io_daemon_close(struct io_daemon *d, int status)
{
	if (d->io)
		io_epoll_free(d->io);
	d->io = NULL;
	if (d->sig_fd >= 0) {
		if (d->loop)
			io_loop_unwatch_fd(d->loop, d->sig_fd);
		close(d->sig_fd);
		d->sig_fd = -1;
	}
	if (d->loop)
		io_loop_free(d->loop);
	d->loop = NULL;
	if (daemon_events_close(&d->events))
		status = 1;
	return status;
}
