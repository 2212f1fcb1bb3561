/* Storage in memory (lib/io/storage.h): one directory of a modelled
 * filesystem, for the simulator and tests.
 *
 * The model: files are inodes (data, and how much of it an fsync made
 * durable); names point to inodes twice, as the running system sees them
 * (`cur`) and as they would be found after a power loss (`durable`, set
 * by a directory fsync). A crash puts every name back to its durable inode
 * and cuts each inode's unsynced tail at a seeded point: a torn file. */
#include "lib/io/storage.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM_MAX_INODES (2 * STORAGE_MEM_MAX_NAMES)
#define SM_NAME_MAX   255

struct sm_inode {
	char *data;
	size_t len;
	size_t synced; /* bytes an fsync made durable */
};

struct sm_name {
	char *name;
	struct sm_inode *cur, *durable; /* NULL: no such name */
};

struct storage_mem {
	struct storage st; /* first: the ops */
	struct sm_name names[STORAGE_MEM_MAX_NAMES];
	struct sm_inode *inodes[SM_MAX_INODES];
	enum storage_fault fault;
	enum storage_step tear_at; /* NONE: no torn write armed */
	bool off;                  /* a torn write cut the power */
	uint64_t rng;
	uint64_t fsyncs;
	uint64_t tmp_serial;
};

static struct storage_mem *sm_of(struct storage *st);

static const struct storage_mem *sm_of_const(const struct storage *st)
{
	return sm_of((struct storage *)st);
}

/* splitmix64: the cut points of torn files, reproducible from the seed. */
static uint64_t sm_rand(struct storage_mem *m)
{
	return rng_splitmix64(&m->rng);
}

static struct sm_name *sm_find(struct storage_mem *m, const char *name)
{
	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++)
		if (m->names[i].name && strcmp(m->names[i].name, name) == 0)
			return &m->names[i];
	return NULL;
}

static bool sm_inode_used(const struct storage_mem *m, const struct sm_inode *ino)
{
	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++)
		if (m->names[i].cur == ino || m->names[i].durable == ino)
			return true;
	return false;
}

/* Frees names that exist neither now nor after a crash, and inodes no
 * name reaches. */
static void sm_gc(struct storage_mem *m)
{
	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++) {
		struct sm_name *n = &m->names[i];
		if (n->name && !n->cur && !n->durable) {
			free(n->name);
			n->name = NULL;
		}
	}
	for (size_t i = 0; i < SM_MAX_INODES; i++) {
		struct sm_inode *ino = m->inodes[i];
		if (ino && !sm_inode_used(m, ino)) {
			free(ino->data);
			free(ino);
			m->inodes[i] = NULL;
		}
	}
}

static struct sm_name *sm_name_slot(struct storage_mem *m, const char *name)
{
	struct sm_name *n = sm_find(m, name);

	for (size_t i = 0; !n && i < STORAGE_MEM_MAX_NAMES; i++)
		if (!m->names[i].name) {
			n = &m->names[i];
			n->name = strdup(name);
			if (!n->name)
				return NULL;
		}
	return n;
}

static struct sm_inode *sm_inode_new(struct storage_mem *m)
{
	for (size_t i = 0; i < SM_MAX_INODES; i++)
		if (!m->inodes[i]) {
			m->inodes[i] = calloc(1, sizeof(struct sm_inode));
			return m->inodes[i];
		}
	return NULL;
}

static int sm_read(struct storage *st, const char *name, size_t max_bytes, char **out, size_t *len,
                   char *err, size_t err_len)
{
	struct storage_mem *m = sm_of(st);
	struct sm_name *n = sm_find(m, name);

	*out = NULL;
	*len = 0;
	if (m->off)
		return err_setf(err, err_len, -EIO, "%s: %s (the storage lost power)", name,
		                strerror(EIO));
	if (!n || !n->cur)
		return err_setf(err, err_len, -ENOENT, "%s: %s", name, strerror(ENOENT));
	if (n->cur->len > max_bytes)
		return err_setf(err, err_len, -EFBIG, "%s: larger than %zu bytes", name, max_bytes);
	*out = malloc(n->cur->len + 1);
	if (!*out)
		return err_setf(err, err_len, -ENOMEM, "%s: out of memory", name);
	if (n->cur->len)
		memcpy(*out, n->cur->data, n->cur->len);
	(*out)[n->cur->len] = '\0';
	*len = n->cur->len;
	return 0;
}

/* Stops a write at `step` when a torn write is armed there: the power is
 * gone and the caller sees -EIO (a real process would be dead). */
static bool sm_cut(struct storage_mem *m, enum storage_step step)
{
	if (m->tear_at != step)
		return false;
	m->tear_at = STORAGE_STEP_NONE;
	m->off = true;
	return true;
}

/* The write and fsync steps on the temporary's inode: a full disk writes
 * half, a tear at either step is a power loss. */
static int sm_step_write(struct storage_mem *m, const char *name, struct sm_inode *ino,
                         const void *data, size_t len, char *err, size_t err_len)
{
	if (m->fault == STORAGE_FAULT_FULL || sm_cut(m, STORAGE_STEP_WRITE)) {
		ino->len = len / 2;
		memcpy(ino->data, data, ino->len);
		if (m->off)
			return err_setf(err, err_len, -EIO, "%s: writing: %s (power lost)", name,
			                strerror(EIO));
		return err_setf(err, err_len, -ENOSPC, "%s: writing: %s", name, strerror(ENOSPC));
	}
	if (len)
		memcpy(ino->data, data, len);
	ino->len = len;
	if (sm_cut(m, STORAGE_STEP_FSYNC))
		return err_setf(err, err_len, -EIO, "%s: fsync: %s (power lost)", name,
		                strerror(EIO));
	m->fsyncs++;
	if (m->fault == STORAGE_FAULT_FSYNC)
		return err_setf(err, err_len, -EIO, "%s: fsync: %s", name, strerror(EIO));
	ino->synced = ino->len;
	return 0;
}

/* The rename of the temporary over `name`, then the fsync of the
 * directory: every name's current target becomes durable. */
static int sm_step_rename(struct storage_mem *m, const char *name, const char *tmp,
                          struct sm_inode *ino, char *err, size_t err_len)
{
	if (sm_cut(m, STORAGE_STEP_RENAME))
		return err_setf(err, err_len, -EIO, "%s: rename: %s (power lost)", name,
		                strerror(EIO));
	struct sm_name *n = sm_name_slot(m, name);
	if (!n)
		return err_setf(err, err_len, -ENOSPC, "%s: rename: %s", name, strerror(ENOSPC));
	struct sm_name *t = sm_find(m, tmp); /* the slot lookup above does not move entries */
	CHECK(t && t->cur == ino);
	n->cur = ino;
	t->cur = NULL;
	if (sm_cut(m, STORAGE_STEP_DIRSYNC))
		return err_setf(err, err_len, -EIO, "%s: fsync of the directory: %s (power lost)",
		                name, strerror(EIO));
	m->fsyncs++;
	if (m->fault == STORAGE_FAULT_DIRSYNC)
		return err_setf(err, err_len, -EIO, "%s: fsync of the directory: %s", name,
		                strerror(EIO));
	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++)
		m->names[i].durable = m->names[i].cur;
	return 0;
}

/* The file backend's steps (temporary, write, fsync, rename, fsync the
 * directory) on the model, with the faults and the torn write on the way.
 * A failure unlinks the temporary, unless power was lost: then the model
 * stays as the crash left it. */
static int sm_write(struct storage *st, const char *name, const void *data, size_t len, char *err,
                    size_t err_len)
{
	struct storage_mem *m = sm_of(st);
	char tmp[SM_NAME_MAX + 32];
	int rc;

	if (m->off)
		return err_setf(err, err_len, -EIO, "%s: %s (the storage lost power)", name,
		                strerror(EIO));
	if (strlen(name) > SM_NAME_MAX)
		return err_setf(err, err_len, -ENAMETOOLONG, "%.64s...: %s", name,
		                strerror(ENAMETOOLONG));
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%llu", name, (unsigned long long)++m->tmp_serial);
	struct sm_name *t = sm_name_slot(m, tmp);
	struct sm_inode *ino = t ? sm_inode_new(m) : NULL;
	if (t)
		t->cur = ino; /* unlinked on failure below */
	if (!t || !ino)
		rc = err_setf(err, err_len, -ENOSPC, "%s: creating a temporary: %s", name,
		              strerror(ENOSPC));
	else if (!(ino->data = malloc(len ? len : 1)))
		rc = err_setf(err, err_len, -ENOMEM, "%s: out of memory", name);
	else if ((rc = sm_step_write(m, name, ino, data, len, err, err_len)) == 0)
		rc = sm_step_rename(m, name, tmp, ino, err, err_len);
	if (rc < 0 && m->off)
		return rc;
	if (rc < 0) {
		t = sm_find(m, tmp);
		if (t)
			t->cur = NULL;
	}
	sm_gc(m);
	return rc;
}

static const struct storage_ops sm_ops = {
    .read = sm_read,
    .write = sm_write,
};

static struct storage_mem *sm_of(struct storage *st)
{
	CHECK(st && st->ops == &sm_ops);
	return container_of(st, struct storage_mem, st);
}

int storage_mem_new(struct storage **out, uint64_t seed)
{
	struct storage_mem *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->st.ops = &sm_ops;
	m->rng = seed;
	*out = &m->st;
	return 0;
}

void storage_mem_free(struct storage *st)
{
	if (!st)
		return;
	struct storage_mem *m = sm_of(st);
	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++)
		m->names[i].cur = m->names[i].durable = NULL;
	sm_gc(m);
	free(m);
}

void storage_mem_set_fault(struct storage *st, enum storage_fault fault)
{
	sm_of(st)->fault = fault;
}

enum storage_fault storage_mem_fault(const struct storage *st)
{
	return sm_of_const(st)->fault;
}

void storage_mem_tear_next(struct storage *st, enum storage_step step)
{
	CHECK(step > STORAGE_STEP_NONE && step < STORAGE_STEP_COUNT);
	sm_of(st)->tear_at = step;
}

void storage_mem_crash(struct storage *st)
{
	struct storage_mem *m = sm_of(st);

	for (size_t i = 0; i < SM_MAX_INODES; i++) {
		struct sm_inode *ino = m->inodes[i];
		if (ino && ino->len > ino->synced)
			ino->len =
			    ino->synced + (size_t)(sm_rand(m) % (ino->len - ino->synced + 1));
	}
	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++)
		m->names[i].cur = m->names[i].durable;
	m->off = false;
	m->tear_at = STORAGE_STEP_NONE;
	sm_gc(m);
}

bool storage_mem_off(const struct storage *st)
{
	return sm_of_const(st)->off;
}

size_t storage_mem_names(const struct storage *st)
{
	const struct storage_mem *m = sm_of_const(st);
	size_t n = 0;

	for (size_t i = 0; i < STORAGE_MEM_MAX_NAMES; i++)
		n += m->names[i].cur != NULL;
	return n;
}

uint64_t storage_mem_fsyncs(const struct storage *st)
{
	return sm_of_const(st)->fsyncs;
}

const char *storage_fault_name(enum storage_fault fault)
{
	switch (fault) {
	case STORAGE_FAULT_NONE:
		return "ok";
	case STORAGE_FAULT_FULL:
		return "disk-full";
	case STORAGE_FAULT_FSYNC:
		return "fsync-fail";
	case STORAGE_FAULT_DIRSYNC:
		return "dirsync-fail";
	}
	return "?";
}
