/* An output file that remembers why it could not be written.
 *
 * stdio keeps only a sticky error flag: by the time fflush or fclose
 * reports a failure, errno belongs to some later call, and writers ended
 * up printing "Input/output error" for a full disk. An outfile is a stdio
 * stream (fopencookie) whose writes go straight to write(2) and record
 * the first failure's errno, so the owner can name the file and the reason ("No space left on
 * device") whenever it asks, during the run or after closing.
 *
 * The struct is caller-owned and outlives the stream. Header-only, like
 * errfmt.h, for the binaries and libraries that write files (svcd's and
 * controld's events, simrun's outputs, the report writer, tailnet pcaps).
 */
#ifndef LIB_BASE_OUTFILE_H
#define LIB_BASE_OUTFILE_H

#ifndef _GNU_SOURCE
#error "outfile.h needs _GNU_SOURCE (fopencookie) defined before any include"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct outfile {
	int fd;
	bool own_fd; /* closed with the stream (false for stdout) */
	int err;     /* -errno of the first failed write or close; 0: none */
};

static inline ssize_t outfile_write_fn(void *cookie, const char *buf, size_t len)
{
	struct outfile *of = cookie;
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(of->fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!of->err)
				of->err = w < 0 ? -errno : -EIO;
			/* stdio drops what it could not write and sets its flag;
			 * report the part that did reach the file. */
			return off ? (ssize_t)off : -1;
		}
		off += (size_t)w;
	}
	return (ssize_t)off;
}

static inline int outfile_close_fn(void *cookie)
{
	struct outfile *of = cookie;

	if (!of->own_fd)
		return 0;
	if (close(of->fd) != 0 && !of->err)
		of->err = -errno;
	of->fd = -1;
	return of->err ? -1 : 0;
}

/* Opens an outfile on an open descriptor (`own_fd`: closed by fclose). */
static inline FILE *outfile_fdopen(struct outfile *of, int fd, bool own_fd)
{
	const cookie_io_functions_t fns = {.write = outfile_write_fn, .close = outfile_close_fn};

	memset(of, 0, sizeof(*of));
	of->fd = fd;
	of->own_fd = own_fd;
	return fopencookie(of, "w", fns);
}

/* Opens `path` for writing, truncated or (`append`) appended to; "-" is
 * standard output. NULL with errno on failure. */
static inline FILE *outfile_open(struct outfile *of, const char *path, bool append)
{
	bool out = strcmp(path, "-") == 0;
	int fd =
	    out ? STDOUT_FILENO
	        : open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = outfile_fdopen(of, fd, !out);
	if (!f && !out) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

/* Flushes what stdio holds; 0 when everything written so far reached the
 * file, else the first failure's -errno (also for earlier writes). */
static inline int outfile_flush(struct outfile *of, FILE *f)
{
	fflush(f);
	return of->err;
}

/* Closes the stream; 0 when the whole file was written, else the first
 * failure's -errno. */
static inline int outfile_close(struct outfile *of, FILE *f)
{
	if (fclose(f) != 0 && !of->err)
		of->err = -EIO;
	return of->err;
}

#endif
