/* Storage on real files (lib/io/storage.h): names are paths. Objects hold
 * secrets, so nothing here follows a symlink at the last component, and
 * every file it creates is 0600 whatever the umask. */
#define _GNU_SOURCE
#include "lib/io/storage.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SF_TMP_TRIES 16 /* fresh temporary names tried before giving up */

struct storage_file {
	struct storage st; /* first: the ops */
};

/* 0 when the file may be trusted, else -errno with a fix-it message in
 * err. Another user's file, or one others may read or change, could
 * have leaked the secrets or been replaced by an attacker's. */
static int sf_check_owner_mode(const char *name, const struct stat *sb, char *err, size_t err_len)
{
	if (!S_ISREG(sb->st_mode))
		return err_setf(err, err_len, -EINVAL, "%s: not a regular file", name);
	if (sb->st_uid != geteuid())
		return err_setf(err, err_len, -EPERM,
		                "%s: owned by uid %u, not by this user (uid %u), and it holds "
		                "secrets: run `chown %u %s` (or run as its owner)",
		                name, (unsigned)sb->st_uid, (unsigned)geteuid(),
		                (unsigned)geteuid(), name);
	if (sb->st_mode & (S_IRWXG | S_IRWXO))
		return err_setf(err, err_len, -EPERM,
		                "%s: group or others may read or change it (mode %04o), and it "
		                "holds secrets (keys, tokens): run `chmod 600 %s`",
		                name, (unsigned)(sb->st_mode & 07777), name);
	return 0;
}

/* Opens `name` for reading a secret: no symlink followed, owned by this
 * user with no group or other access, at most max_bytes now; *size its
 * size. The fd, or a negative errno with `err` set. */
static int sf_open_secret(const char *name, size_t max_bytes, size_t *size, char *err,
                          size_t err_len)
{
	struct stat sb;
	int rc;

	/* O_NONBLOCK: a FIFO planted at the name must not hang the open. */
	int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP)
			return err_setf(err, err_len, rc,
			                "%s: a symbolic link; it is not followed for a file that "
			                "holds secrets: put the file itself at this path",
			                name);
		return err_setf(err, err_len, rc, "%s: %s", name, strerror(-rc));
	}
	if (fstat(fd, &sb) != 0)
		rc = err_setf(err, err_len, -errno, "%s: %s", name, strerror(errno));
	else
		rc = sf_check_owner_mode(name, &sb, err, err_len);
	if (rc == 0 && (uint64_t)sb.st_size > max_bytes)
		rc = err_setf(err, err_len, -EFBIG, "%s: larger than %zu bytes", name, max_bytes);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*size = (size_t)sb.st_size;
	return fd;
}

/* Reads fd to EOF into b, whose maximum is one byte past what the caller
 * accepts (the size may change under us: that byte tells a file that grew
 * too large). 0, or a negative errno with `err` set. */
static int sf_read_all(int fd, const char *name, struct buf *b, char *err, size_t err_len)
{
	for (;;) {
		if (buf_room(b) == 0) {
			if (b->len == b->max)
				return 0;
			if (buf_reserve(b, 1) < 0)
				return err_setf(err, err_len, -ENOMEM, "%s: out of memory", name);
		}
		ssize_t n = read(fd, b->data + b->len, buf_room(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_setf(err, err_len, -errno, "%s: %s", name, strerror(errno));
		if (n == 0)
			return 0;
		buf_commit(b, (size_t)n);
	}
}

static int sf_read(struct storage *st, const char *name, size_t max_bytes, char **out, size_t *len,
                   char *err, size_t err_len)
{
	struct buf b = BUF_INIT(max_bytes < BUF_NO_MAX ? max_bytes + 1 : BUF_NO_MAX);
	size_t size = 0;
	int rc, fd;
	(void)st;

	*out = NULL;
	*len = 0;
	fd = sf_open_secret(name, max_bytes, &size, err, err_len);
	if (fd < 0)
		return fd;
	if (buf_reserve(&b, size + 1) < 0)
		rc = err_setf(err, err_len, -ENOMEM, "%s: out of memory", name);
	else
		rc = sf_read_all(fd, name, &b, err, err_len);
	close(fd);
	if (rc == 0 && b.len > max_bytes)
		rc = err_setf(err, err_len, -EFBIG, "%s: larger than %zu bytes", name, max_bytes);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	*out = buf_take(&b, len);
	return *out ? 0 : err_setf(err, err_len, -ENOMEM, "%s: out of memory", name);
}

/* Splits `name` into an open directory and the last component. */
static int sf_open_dir(const char *name, int *dir_fd, const char **base, char *err, size_t err_len)
{
	const char *slash = strrchr(name, '/');
	char *dir;

	*base = slash ? slash + 1 : name;
	if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
		return err_setf(err, err_len, -EINVAL, "%s: not a file name", name);
	if (strlen(*base) + 16 > NAME_MAX)
		return err_setf(err, err_len, -ENAMETOOLONG, "%s: file name too long", name);
	if (!slash)
		dir = strdup(".");
	else if (slash == name)
		dir = strdup("/");
	else
		dir = strndup(name, (size_t)(slash - name));
	if (!dir)
		return err_setf(err, err_len, -ENOMEM, "%s: out of memory", name);
	*dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = *dir_fd < 0 ? -errno : 0;
	if (rc < 0)
		err_setf(err, err_len, rc, "%s: directory %s: %s", name, dir, strerror(-rc));
	free(dir);
	return rc;
}

/* A new private temporary in the directory: ".<base>.tmp-<random>".
 * O_EXCL creates it or fails, and never follows a symlink planted at the
 * name; the random suffix keeps such plants from blocking the write. */
static int sf_create_tmp(int dir_fd, const char *name, const char *base, char *tmp, size_t tmp_len,
                         char *err, size_t err_len)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	for (int tries = 0; tries < SF_TMP_TRIES; tries++) {
		uint8_t r[10];
		char sfx[sizeof(r) + 1];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return err_setf(err, err_len, -EIO,
			                "%s: no random bytes for a temporary name", name);
		for (size_t i = 0; i < sizeof(r); i++)
			sfx[i] = alnum[r[i] % (sizeof(alnum) - 1)];
		sfx[sizeof(r)] = '\0';
		snprintf(tmp, tmp_len, ".%s.tmp-%s", base, sfx);
		int fd =
		    openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			/* The umask may have taken the owner's bits; give exactly 0600. */
			if (fchmod(fd, 0600) != 0) {
				int rc = -errno;
				close(fd);
				unlinkat(dir_fd, tmp, 0);
				return err_setf(err, err_len, rc, "%s: chmod: %s", name,
				                strerror(-rc));
			}
			return fd;
		}
		if (errno != EEXIST)
			return err_setf(err, err_len, -errno, "%s: creating a temporary: %s", name,
			                strerror(errno));
	}
	return err_setf(err, err_len, -EEXIST, "%s: no free temporary name after %d tries", name,
	                SF_TMP_TRIES);
}

static int sf_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sf_write(struct storage *st, const char *name, const void *data, size_t len, char *err,
                    size_t err_len)
{
	char tmp[NAME_MAX + 1];
	const char *base;
	int dir_fd = -1, fd, rc;
	(void)st;

	rc = sf_open_dir(name, &dir_fd, &base, err, err_len);
	if (rc < 0)
		return rc;
	fd = sf_create_tmp(dir_fd, name, base, tmp, sizeof(tmp), err, err_len);
	if (fd < 0) {
		rc = fd;
		goto out_close_dir;
	}
	rc = sf_write_all(fd, data, len);
	if (rc < 0) {
		err_setf(err, err_len, rc, "%s: writing: %s", name, strerror(-rc));
		goto out_unlink_tmp;
	}
	if (fsync(fd) != 0) {
		rc = err_setf(err, err_len, -errno, "%s: fsync: %s", name, strerror(errno));
		goto out_unlink_tmp;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = err_setf(err, err_len, -errno, "%s: closing: %s", name, strerror(errno));
		goto out_unlink_tmp;
	}
	/* rename replaces a symlink at the name; it never writes through it. */
	if (renameat(dir_fd, tmp, dir_fd, base) != 0) {
		rc = err_setf(err, err_len, -errno, "%s: rename: %s", name, strerror(errno));
		goto out_unlink_tmp;
	}
	/* The rename is durable only once the directory is. A filesystem that
	 * cannot sync a directory says EINVAL: nothing more can be done. */
	if (fsync(dir_fd) != 0 && errno != EINVAL)
		rc = err_setf(err, err_len, -errno, "%s: fsync of the directory: %s", name,
		              strerror(errno));
	close(dir_fd);
	return rc;
out_unlink_tmp:
	if (fd >= 0)
		close(fd);
	unlinkat(dir_fd, tmp, 0);
out_close_dir:
	close(dir_fd);
	return rc;
}

static const struct storage_ops sf_ops = {
    .read = sf_read,
    .write = sf_write,
};

int storage_file_new(struct storage **out)
{
	struct storage_file *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->st.ops = &sf_ops;
	*out = &f->st;
	return 0;
}

void storage_file_free(struct storage *st)
{
	if (!st)
		return;
	CHECK(st->ops == &sf_ops);
	free(container_of(st, struct storage_file, st));
}
