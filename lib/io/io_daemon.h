/* What a daemon's main (controld, svcd) runs on: the --events file, the
 * SIGINT/SIGTERM signalfd, the epoll loop watching it and one node's seam
 * on that loop; the loop run until a stop signal, and the teardown of all
 * of it. What each daemon serves on the seam stays in its own main.
 *
 * For programs, not libraries: it prints to stderr ("PROG: ...") and
 * changes the signal mask.
 */
#ifndef LIB_IO_IO_DAEMON_H
#define LIB_IO_IO_DAEMON_H

#include "lib/base/outfile.h"
#include "lib/io/io_epoll.h"

#include <stdbool.h>
#include <stdio.h>

/* An --events file (or "-": standard output), line-buffered. */
struct daemon_events {
	const char *prog; /* the program's name, for messages */
	const char *path;
	struct outfile out;
	FILE *f; /* NULL: no events file */
	bool reported;
};

struct io_daemon {
	const char *prog; /* the program's name, for messages */
	struct io_loop *loop;
	struct io *io;
	int sig_fd;
	bool stop;                   /* a stop signal came */
	struct daemon_events events; /* --events */
};

/* Starts `d` empty for `prog`: nothing open yet, so io_daemon_close is
 * safe on it. */
void io_daemon_init(struct io_daemon *d, const char *prog);

/* Opens the --events file at `path` (NULL: none). 0, or -1 (said). */
int io_daemon_open_events(struct io_daemon *d, const char *path);

/* Blocks the stop signals, creates the loop watching their signalfd and
 * the seam on it from `cfg` (its events file is d's). 0, or -1 after saying
 * why: "PROG: event loop: ...", or with cfg->tun_name "PROG: TUN device
 * NAME: ..." for a seam that could not be made. */
int io_daemon_open(struct io_daemon *d, const struct io_epoll_config *cfg);

/* Runs the loop until a stop signal. 0, or -1 (said) when the loop
 * fails. */
int io_daemon_run(struct io_daemon *d);

/* Frees the seam, the signalfd, the loop and the events file, whichever
 * are open. Returns `status`, or 1 when events were lost. */
int io_daemon_close(struct io_daemon *d, int status);

#endif
