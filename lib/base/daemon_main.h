/* What the daemons' mains (controld, svcd) share around their event loop:
 * the --events file, which says once on stderr when it cannot be written
 * (a full disk: the daemon keeps serving, its events are lost), and the
 * SIGINT/SIGTERM signalfd that stops them cleanly.
 *
 * Header-only, like outfile.h (which it builds on); for programs, not
 * libraries (it prints to stderr and changes the signal mask).
 */
#ifndef LIB_BASE_DAEMON_MAIN_H
#define LIB_BASE_DAEMON_MAIN_H

#include "lib/base/outfile.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* An --events file (or "-": standard output), line-buffered. */
struct daemon_events {
	const char *prog; /* the program's name, for messages */
	const char *path;
	struct outfile out;
	FILE *f; /* NULL: no events file */
	bool reported;
};

/* Opens `path` for appending, line-buffered. 0, or -1 after saying why on
 * stderr ("PROG: --events PATH: reason"). */
static inline int daemon_events_open(struct daemon_events *ev, const char *prog, const char *path)
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
static inline bool daemon_events_check(struct daemon_events *ev)
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
static inline bool daemon_events_close(struct daemon_events *ev)
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
static inline int daemon_stop_signals_fd(void)
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
static inline bool daemon_stop_signal_read(int fd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		stop = true;
	return stop;
}

#endif
