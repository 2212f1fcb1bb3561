/* Storage: the seam for files a daemon or control keeps across restarts
 * (control's state: the CA seed and every bearer token). Like lib/io/io.h,
 * a table of ops, ops pointer first; callers never open, write, fsync or
 * rename a file themselves.
 *
 * An object is a whole byte string under a name (for the file backend, a
 * path). Two ops:
 * - read: the whole object, at most `max_bytes`, into a malloc'd buffer
 *   (NUL-terminated; *len bytes). -ENOENT: none stored (a first start).
 *   -EFBIG: larger than max_bytes. A backend may refuse an object it must
 *   not trust (the file backend: a symlink, a file others may read or
 *   write, or one owned by another user: -EPERM/-ELOOP/-EINVAL) with a
 *   message saying how to fix it.
 * - write: replaces the object by `data`, atomically and durably: 0 only
 *   once the new version survives a crash or power loss; on any error the
 *   version a restart reads is the previous one or, in one window (the
 *   rename happened, syncing the directory failed), possibly the new one,
 *   never a mix. The file backend creates a private temporary (0600,
 *   O_CREAT|O_EXCL|O_NOFOLLOW, an unpredictable name in the same
 *   directory), writes and fsyncs it, renames it over the name (which
 *   replaces a symlink there instead of following it) and fsyncs the
 *   directory. -ENOSPC full disk, -EIO a failed write or fsync.
 * Both ops fill `err` (when given) with one line naming the object and
 * the failure, and return 0 or a negative errno.
 *
 * Backends: storage_file_new (real files, controld) and storage_mem_new
 * (in memory, for the simulator and tests; it models a filesystem under
 * crashes and injects faults: lib/io/storage.h's second half).
 */
#ifndef LIB_IO_STORAGE_H
#define LIB_IO_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORAGE_ERR_LEN 512

struct storage;

struct storage_ops {
	int (*read)(struct storage *st, const char *name, size_t max_bytes, char **out, size_t *len,
	            char *err, size_t err_len);
	int (*write)(struct storage *st, const char *name, const void *data, size_t len, char *err,
	             size_t err_len);
};

struct storage {
	const struct storage_ops *ops;
};

/* ---- real files (lib/io/storage_file.c) ---- */

int storage_file_new(struct storage **out);
void storage_file_free(struct storage *st);

/* ---- in memory (lib/io/storage_mem.c) ----
 *
 * A model of one filesystem directory as POSIX promises it, so a crash
 * loses exactly what a real one may lose: file data is durable up to its
 * last fsync; names (create, rename, unlink) are durable once the
 * directory is fsynced. The write op walks the same steps as the file
 * backend (temporary, write, fsync, rename, fsync the directory); a crash
 * (storage_mem_crash, a power loss) puts every name back to its durable
 * target and cuts every file's unsynced tail at a point the seed picks.
 *
 * Faults (storage_mem_set_fault), until set back to NONE:
 * - FULL: writing data fails with -ENOSPC (the disk is full);
 * - FSYNC: fsync fails with -EIO (the new version is not durable);
 * - DIRSYNC: only the directory fsync fails with -EIO, after the rename:
 *   the one window where the new version is visible but not durable.
 * storage_mem_tear_next: the next write is cut by a power loss at `step`:
 * it returns -EIO and the storage is off (every op -EIO) until
 * storage_mem_crash, which applies the loss. */
enum storage_fault {
	STORAGE_FAULT_NONE = 0,
	STORAGE_FAULT_FULL,
	STORAGE_FAULT_FSYNC,
	STORAGE_FAULT_DIRSYNC,
};

enum storage_step {
	STORAGE_STEP_NONE = 0,
	STORAGE_STEP_WRITE,   /* part of the data is written */
	STORAGE_STEP_FSYNC,   /* all data written, not yet fsynced */
	STORAGE_STEP_RENAME,  /* fsynced, not yet renamed */
	STORAGE_STEP_DIRSYNC, /* renamed, the directory not yet fsynced */
	STORAGE_STEP_COUNT,
};

/* The most names (objects and temporaries) a memory storage holds. */
#define STORAGE_MEM_MAX_NAMES 64

int storage_mem_new(struct storage **out, uint64_t seed);
void storage_mem_free(struct storage *st);
void storage_mem_set_fault(struct storage *st, enum storage_fault fault);
enum storage_fault storage_mem_fault(const struct storage *st);
void storage_mem_tear_next(struct storage *st, enum storage_step step);
/* Power loss: what was not durable is lost or cut; the storage is on. */
void storage_mem_crash(struct storage *st);
/* Is the storage off (a torn write happened, no crash applied yet)? */
bool storage_mem_off(const struct storage *st);
/* Names currently visible (objects and leftover temporaries). */
size_t storage_mem_names(const struct storage *st);
/* fsync calls so far (file and directory): tests check the protocol. */
uint64_t storage_mem_fsyncs(const struct storage *st);

/* Fault names for scenarios and messages: "disk-full", "fsync-fail",
 * "dirsync-fail", "ok". */
const char *storage_fault_name(enum storage_fault fault);

#endif
