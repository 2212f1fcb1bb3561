/* A daemon's loop, seam, stop signals and events file (see io_daemon.h). */
#define _GNU_SOURCE
#include "lib/io/io_daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

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
