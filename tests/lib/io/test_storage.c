/* The storage seam (lib/io/storage.h): the file backend on a private
 * directory (modes, symlinks, refusals read back with lstat/stat, the
 * evidence outside the code), and the memory backend's filesystem model
 * under faults and power loss. */
#define _GNU_SOURCE
#include "lib/io/storage.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sdir {
	char dir[64], path[128];
	struct storage *st;
};

static void sdir_new(struct sdir *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/storage-test-XXXXXX");
	cr_assert_not_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/state.json", d->dir);
	cr_assert_eq(storage_file_new(&d->st), 0);
}

static void sdir_free(struct sdir *d)
{
	char cmd[128];
	storage_file_free(d->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
	cr_assert_eq(system(cmd), 0);
}

static int sdir_entries(const struct sdir *d)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq ", d->dir);
	for (int n = 0; n < 16; n++) {
		char full[200];
		snprintf(full, sizeof(full), "%s%d", cmd, n);
		if (system(full) == 0)
			return n;
	}
	return -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	if (f) {
		buf[fread(buf, 1, (1 << 16) - 1, f)] = '\0';
		fclose(f);
	}
	return buf;
}

Test(storage, rel4_files_are_created_0600_whatever_the_umask)
{
	static const mode_t masks[] = {0, 022, 0777};
	struct sdir d;
	struct stat sb;

	sdir_new(&d);
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		mode_t old = umask(masks[i]);
		int rc = d.st->ops->write(d.st, d.path, "v", 1, NULL, 0);
		umask(old);
		cr_assert_eq(rc, 0, "umask %04o", (unsigned)masks[i]);
		cr_assert_eq(lstat(d.path, &sb), 0);
		/* The file is the temporary renamed: its mode is the temporary's. */
		cr_assert_eq(sb.st_mode & 07777, 0600, "umask %04o: mode %04o", (unsigned)masks[i],
		             (unsigned)(sb.st_mode & 07777));
	}
	cr_assert_eq(sdir_entries(&d), 1, "a temporary was left behind");
	sdir_free(&d);
}

Test(storage, rel4_a_symlink_at_the_name_is_replaced_never_written_through)
{
	struct sdir d;
	char victim[160], *seen, *text = NULL, err[STORAGE_ERR_LEN];
	size_t len;
	struct stat sb;

	sdir_new(&d);
	snprintf(victim, sizeof(victim), "%s/victim", d.dir);
	FILE *f = fopen(victim, "w");
	fputs("precious\n", f);
	fclose(f);
	cr_assert_eq(symlink(victim, d.path), 0);
	/* Reading refuses the link: it is not followed for secrets. */
	cr_assert_eq(d.st->ops->read(d.st, d.path, 1024, &text, &len, err, sizeof(err)), -ELOOP);
	cr_assert(strstr(err, d.path) && strstr(err, "symbolic link"), "%s", err);
	cr_assert_null(text);
	/* Writing replaces the link with a private file. */
	cr_assert_eq(d.st->ops->write(d.st, d.path, "new\n", 4, err, sizeof(err)), 0, "%s", err);
	seen = slurp(victim);
	cr_assert_str_eq(seen, "precious\n");
	free(seen);
	cr_assert_eq(lstat(d.path, &sb), 0);
	cr_assert(S_ISREG(sb.st_mode));
	cr_assert_eq(d.st->ops->read(d.st, d.path, 1024, &text, &len, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_str_eq(text, "new\n");
	free(text);
	sdir_free(&d);
}

Test(storage, rel4_reading_refuses_a_file_others_may_read_with_the_fix)
{
	struct sdir d;
	char *text = NULL, err[STORAGE_ERR_LEN], fix[200];
	size_t len;

	sdir_new(&d);
	cr_assert_eq(d.st->ops->write(d.st, d.path, "{}", 2, NULL, 0), 0);
	static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602, 0610};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(chmod(d.path, bad[i]), 0);
		cr_assert_eq(d.st->ops->read(d.st, d.path, 1024, &text, &len, err, sizeof(err)),
		             -EPERM, "mode %04o", (unsigned)bad[i]);
		snprintf(fix, sizeof(fix), "run `chmod 600 %s`", d.path);
		cr_assert(strstr(err, fix), "%s", err);
	}
	cr_assert_eq(chmod(d.path, 0400), 0); /* owner-only read is fine */
	cr_assert_eq(d.st->ops->read(d.st, d.path, 1024, &text, &len, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_str_eq(text, "{}");
	free(text);
	if (geteuid() == 0) {
		cr_assert_eq(chmod(d.path, 0600), 0);
		cr_assert_eq(chown(d.path, 1, 1), 0);
		cr_assert_eq(d.st->ops->read(d.st, d.path, 1024, &text, &len, err, sizeof(err)),
		             -EPERM);
		cr_assert(strstr(err, "owned by uid 1") && strstr(err, "chown"), "%s", err);
	}
	sdir_free(&d);
}

Test(storage, a_fifo_or_an_oversized_file_is_refused_without_hanging, .timeout = 10)
{
	struct sdir d;
	char *text = NULL, err[STORAGE_ERR_LEN];
	size_t len;
	static char big[5000];

	sdir_new(&d);
	cr_assert_eq(mkfifo(d.path, 0600), 0);
	cr_assert_eq(d.st->ops->read(d.st, d.path, 1024, &text, &len, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "not a regular file"), "%s", err);
	cr_assert_eq(unlink(d.path), 0);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(d.st->ops->write(d.st, d.path, big, sizeof(big), NULL, 0), 0);
	cr_assert_eq(d.st->ops->read(d.st, d.path, 4096, &text, &len, err, sizeof(err)), -EFBIG);
	cr_assert_eq(d.st->ops->read(d.st, d.path, 5000, &text, &len, err, sizeof(err)), 0);
	cr_assert_eq(len, 5000);
	free(text);
	cr_assert_eq(d.st->ops->read(d.st, "/nonexistent-dir/x", 10, &text, &len, NULL, 0),
	             -ENOENT);
	cr_assert_eq(d.st->ops->write(d.st, "/nonexistent-dir/x", "x", 1, err, sizeof(err)),
	             -ENOENT);
	cr_assert_eq(d.st->ops->write(d.st, d.dir, "x", 1, err, sizeof(err)) < 0, true);
	sdir_free(&d);
}

/* ---- the memory backend's model ---- */

static char *mem_get(struct storage *st)
{
	char *text = NULL;
	size_t len;
	int rc = st->ops->read(st, "s", 1 << 20, &text, &len, NULL, 0);
	return rc == 0 ? text : NULL;
}

Test(storage, rel3_memory_faults_fail_the_write_and_keep_the_old_version)
{
	struct storage *st;
	char err[STORAGE_ERR_LEN], *v;

	cr_assert_eq(storage_mem_new(&st, 7), 0);
	cr_assert_eq(st->ops->write(st, "s", "one", 3, NULL, 0), 0);
	storage_mem_set_fault(st, STORAGE_FAULT_FULL);
	cr_assert_eq(st->ops->write(st, "s", "two", 3, err, sizeof(err)), -ENOSPC);
	cr_assert(strstr(err, "No space left on device"), "%s", err);
	storage_mem_set_fault(st, STORAGE_FAULT_FSYNC);
	cr_assert_eq(st->ops->write(st, "s", "two", 3, err, sizeof(err)), -EIO);
	cr_assert_eq(storage_mem_names(st), 1, "a failed write left its temporary");
	v = mem_get(st);
	cr_assert_str_eq(v, "one");
	free(v);
	/* The directory fsync fails after the rename: visible, not durable. */
	storage_mem_set_fault(st, STORAGE_FAULT_DIRSYNC);
	cr_assert_eq(st->ops->write(st, "s", "two", 3, err, sizeof(err)), -EIO);
	v = mem_get(st);
	cr_assert_str_eq(v, "two");
	free(v);
	storage_mem_crash(st);
	v = mem_get(st);
	cr_assert_str_eq(v, "one");
	free(v);
	storage_mem_set_fault(st, STORAGE_FAULT_NONE);
	uint64_t before = storage_mem_fsyncs(st);
	cr_assert_eq(st->ops->write(st, "s", "three", 5, NULL, 0), 0);
	cr_assert_eq(storage_mem_fsyncs(st) - before, 2, "file and directory fsync");
	storage_mem_crash(st);
	v = mem_get(st);
	cr_assert_str_eq(v, "three");
	free(v);
	storage_mem_free(st);
}

Test(storage, rel3_a_write_torn_at_any_step_leaves_the_last_durable_version_whole)
{
	static const char v1[] = "{\"version\": 1, \"padding\": \"aaaaaaaaaaaaaaaaaaaaaaaa\"}";
	static const char v2[] =
	    "{\"version\": 2, \"padding\": \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}";

	for (uint64_t seed = 1; seed <= 8; seed++)
		for (enum storage_step step = STORAGE_STEP_WRITE; step < STORAGE_STEP_COUNT;
		     step++) {
			struct storage *st;
			cr_assert_eq(storage_mem_new(&st, seed), 0);
			cr_assert_eq(st->ops->write(st, "s", v1, strlen(v1), NULL, 0), 0);
			storage_mem_tear_next(st, step);
			cr_assert_eq(st->ops->write(st, "s", v2, strlen(v2), NULL, 0), -EIO);
			cr_assert(storage_mem_off(st));
			cr_assert_eq(st->ops->write(st, "s", v2, strlen(v2), NULL, 0), -EIO,
			             "a storage without power wrote");
			cr_assert_null(mem_get(st));
			storage_mem_crash(st);
			char *v = mem_get(st);
			cr_assert_not_null(v);
			cr_assert_str_eq(v, v1, "seed %llu step %d", (unsigned long long)seed,
			                 (int)step);
			free(v);
			cr_assert_eq(storage_mem_names(st), 1);
			storage_mem_free(st);
		}
}

Test(storage, memory_storage_refuses_names_past_its_limits)
{
	struct storage *st;
	char name[300], *text;
	size_t len;

	cr_assert_eq(storage_mem_new(&st, 1), 0);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	cr_assert_eq(st->ops->write(st, name, "x", 1, NULL, 0), -ENAMETOOLONG);
	for (int i = 0; i < STORAGE_MEM_MAX_NAMES - 1; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		cr_assert_eq(st->ops->write(st, name, "x", 1, NULL, 0), 0, "%d", i);
	}
	/* One name left: no room for a temporary and the new name. */
	cr_assert_eq(st->ops->write(st, "last", "x", 1, NULL, 0), -ENOSPC);
	cr_assert_eq(st->ops->write(st, "o0", "y", 1, NULL, 0), 0);
	cr_assert_eq(st->ops->read(st, "o0", 0, &text, &len, NULL, 0), -EFBIG);
	cr_assert_eq(st->ops->read(st, "o0", 1, &text, &len, NULL, 0), 0);
	cr_assert_str_eq(text, "y");
	free(text);
	storage_mem_free(st);
}
