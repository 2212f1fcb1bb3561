/* The file seam: read-only files a server hands out (the L7 file and
 * directory handler, SPEC L7-3), behind a small ops table so the simulator
 * can serve a tree it controls.
 *
 * Two backends: the host's filesystem (lib/io/fs_host.c: openat with
 * O_PATH, the kernel's own name of every opened object from
 * /proc/self/fd, reads through a reopen of that very object) and an
 * in-memory tree (lib/io/fs_mem.c: files, directories and symbolic links
 * a test or the simulator adds). A node's seam may carry one (`io->fs`);
 * without it, code that serves files uses the host.
 *
 * The contract both backends keep:
 * - Paths are absolute, or relative to a directory handle. An object is
 *   opened first ("path handles": nothing is read, a FIFO never blocks, a
 *   device never sees an open) and checked after: its canonical path, all
 *   symbolic links resolved as they were at the open, must be the root or
 *   lie under it, else -EXDEV. A link swapped in later changes nothing for
 *   what is open already.
 * - open_read opens the very object a path handle names, regular files
 *   only (checked again on what was opened).
 * - Listings are sorted by name (byte order) and leave out "." and "..".
 * - Handles are small non-negative ints; errors are negative errno values.
 *   Nothing here keeps global state: every backend is an instance.
 */
#ifndef LIB_IO_FS_H
#define LIB_IO_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IO_FS_PATH_MAX 4096 /* canonical paths, bytes with the terminator */
#define IO_FS_NAME_MAX 255  /* one path component */
#define IO_FS_NO_DIR   (-1) /* open_path: `path` is absolute */

enum io_fs_kind {
	IO_FS_OTHER = 0, /* FIFO, socket, device: never served */
	IO_FS_FILE,
	IO_FS_DIR,
};

struct io_fs_stat {
	enum io_fs_kind kind;
	uint64_t size; /* bytes, for files */
};

/* One directory entry; `is_dir` is false for a symbolic link, whatever it
 * points at (the host reports the entry's own type). */
struct io_fs_dirent {
	char *name;
	bool is_dir;
};

struct io_fs;

struct io_fs_ops {
	/* The canonical form of `path` (every link resolved) into `out`
	 * (`out_len` bytes). 0 or -errno (-ENOENT when it does not exist). */
	int (*resolve)(struct io_fs *fs, const char *path, char *out, size_t out_len);
	/* Opens `path` (absolute with IO_FS_NO_DIR, else relative to the
	 * directory handle `dir`) as a path handle and checks it lies under
	 * the canonical `root`. Returns the handle with *st and `real` (its
	 * canonical path, `real_len` bytes) filled, -EXDEV when it is outside
	 * the root, or -errno. */
	int (*open_path)(struct io_fs *fs, int dir, const char *path, const char *root,
	                 struct io_fs_stat *st, char *real, size_t real_len);
	/* Opens the regular file behind `path_handle` for reading (from its
	 * start). Returns a handle with *st filled, or -errno (-EISDIR,
	 * -EINVAL for what is no regular file). `path_handle` stays open. */
	int (*open_read)(struct io_fs *fs, int path_handle, struct io_fs_stat *st);
	/* Bytes read (0 at the end) or -errno. */
	ssize_t (*read)(struct io_fs *fs, int handle, void *buf, size_t len);
	/* The entries of the directory behind `dir`, sorted, in a malloc'd
	 * array (free with io_fs_dirents_free). Count or -errno. */
	ssize_t (*list)(struct io_fs *fs, int dir, struct io_fs_dirent **out);
	/* Closes a path or read handle. */
	void (*close)(struct io_fs *fs, int handle);
	/* Frees the backend (every handle must be closed). */
	void (*free)(struct io_fs *fs);
};

/* The head of every backend's struct (ops first, as in io.h). */
struct io_fs {
	const struct io_fs_ops *ops;
};

/* The host's filesystem. 0 and *out, or -ENOMEM. */
int io_fs_host_new(struct io_fs **out);

/* Files, directories and links a memory tree holds at most ("/" aside). */
#define IO_FS_MEM_NODES_MAX 4096
/* An empty in-memory tree (only "/"). 0 and *out, or -ENOMEM. */
int io_fs_mem_new(struct io_fs **out);
/* Adds to a memory tree (parents are made as needed; `path` absolute and
 * clean). A file's bytes are copied. 0, -EEXIST, -EINVAL, -ENOTDIR (a parent
 * is no directory), -ENOSPC (IO_FS_MEM_NODES_MAX reached), -ENOMEM. */
int io_fs_mem_add_dir(struct io_fs *fs, const char *path);
int io_fs_mem_add_file(struct io_fs *fs, const char *path, const void *data, size_t len);
int io_fs_mem_add_link(struct io_fs *fs, const char *path, const char *target);
/* A FIFO-like object: listed and opened as a path, never read. */
int io_fs_mem_add_other(struct io_fs *fs, const char *path);
/* Handles open now in a memory tree (tests check nothing leaks). */
size_t io_fs_mem_open_handles(const struct io_fs *fs);

/* Frees what list returned. NULL ok. */
void io_fs_dirents_free(struct io_fs_dirent *d, ssize_t n);

/* True when the canonical path `real` is the canonical `root` or lies
 * under it (the check every backend applies in open_path). */
bool io_fs_path_under(const char *real, const char *root);

static inline void io_fs_free(struct io_fs *fs)
{
	if (fs)
		fs->ops->free(fs);
}

#endif
