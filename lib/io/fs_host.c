/* The file seam on the host's filesystem (lib/io/fs.h). Handles are file
 * descriptors: path handles are O_PATH descriptors, checked after the open
 * by the kernel's own path of the object (/proc/self/fd), so a symbolic
 * link anywhere on the way that leads out of the root, or one swapped in
 * after an earlier check, is refused; read handles reopen that very object
 * through its /proc/self/fd link (no path is resolved again). Without /proc
 * nothing opens (fail closed). */
#define _GNU_SOURCE
#include "lib/io/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum io_fs_kind host_kind(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return IO_FS_FILE;
	if (S_ISDIR(st->st_mode))
		return IO_FS_DIR;
	return IO_FS_OTHER;
}

static int host_resolve(struct io_fs *fs, const char *path, char *out, size_t out_len)
{
	char real[PATH_MAX];

	(void)fs;
	if (!realpath(path, real))
		return -errno;
	if (strlen(real) >= out_len)
		return -ENAMETOOLONG;
	memcpy(out, real, strlen(real) + 1);
	return 0;
}

static int host_open_path(struct io_fs *fs, int dir, const char *path, const char *root,
                          struct io_fs_stat *st, char *real, size_t real_len)
{
	char link[32];
	struct stat sb;
	int fd = openat(dir == IO_FS_NO_DIR ? AT_FDCWD : dir, path, O_PATH | O_CLOEXEC);

	(void)fs;
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, real_len - 1);
	int rc = n < 0 ? -errno : 0;
	if (rc == 0 && (size_t)n >= real_len - 1)
		rc = -ENAMETOOLONG;
	if (rc == 0) {
		real[n] = '\0';
		if (!io_fs_path_under(real, root))
			rc = -EXDEV;
	}
	if (rc == 0 && fstat(fd, &sb) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	st->kind = host_kind(&sb);
	st->size = (uint64_t)sb.st_size;
	return fd;
}

static int host_open_read(struct io_fs *fs, int path_handle, struct io_fs_stat *st)
{
	char link[32];
	struct stat sb;

	(void)fs;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", path_handle);
	int fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* Check again on what was opened: the handle named a regular file. */
	int rc = fstat(fd, &sb) < 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(sb.st_mode))
		rc = S_ISDIR(sb.st_mode) ? -EISDIR : -EINVAL;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	st->kind = IO_FS_FILE;
	st->size = (uint64_t)sb.st_size;
	return fd;
}

static ssize_t host_read(struct io_fs *fs, int handle, void *buf, size_t len)
{
	(void)fs;
	ssize_t n = read(handle, buf, len);
	return n < 0 ? -errno : n;
}

static ssize_t host_list(struct io_fs *fs, int dir, struct io_fs_dirent **out)
{
	struct dirent **names = NULL;
	struct io_fs_dirent *d;
	ssize_t k = 0;
	int n;

	(void)fs;
	*out = NULL;
	n = scandirat(dir, ".", &names, NULL, alphasort);
	if (n < 0)
		return -errno;
	d = calloc((size_t)n + 1, sizeof(*d));
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (d && strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0) {
			d[k].is_dir = names[i]->d_type == DT_DIR;
			if (!(d[k].name = strdup(nm))) {
				io_fs_dirents_free(d, k);
				d = NULL;
			} else {
				k++;
			}
		}
		free(names[i]);
	}
	free(names);
	if (!d)
		return -ENOMEM;
	*out = d;
	return k;
}

static void host_close(struct io_fs *fs, int handle)
{
	(void)fs;
	if (handle >= 0)
		close(handle);
}

static void host_free(struct io_fs *fs)
{
	free(fs);
}

static const struct io_fs_ops host_ops = {
    .resolve = host_resolve,
    .open_path = host_open_path,
    .open_read = host_open_read,
    .read = host_read,
    .list = host_list,
    .close = host_close,
    .free = host_free,
};

int io_fs_host_new(struct io_fs **out)
{
	struct io_fs *fs = calloc(1, sizeof(*fs));

	*out = fs;
	if (!fs)
		return -ENOMEM;
	fs->ops = &host_ops;
	return 0;
}
