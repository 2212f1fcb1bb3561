/* The file seam on an in-memory tree (lib/io/fs.h) that a test or the
 * simulator fills: directories, files (bytes copied), symbolic links and
 * "other" objects (FIFO stand-ins). Nodes are kept by canonical path in
 * one array (trees are small); handles index a table of open objects.
 * Paths resolve as the kernel would: "." and ".." by name, links followed
 * (at most IO_FS_MEM_MAX_LINKS per lookup, else -ELOOP), relative link
 * targets from the link's directory. */
#define _GNU_SOURCE
#include "lib/base/check.h"
#include "lib/io/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IO_FS_MEM_MAX_LINKS   40 /* links followed in one lookup (Linux's limit) */
#define IO_FS_MEM_MAX_HANDLES 1024

enum mem_kind {
	MEM_DIR = 0,
	MEM_FILE,
	MEM_LINK,
	MEM_OTHER,
};

struct mem_node {
	char *path; /* canonical, absolute; "/" is implicit and never stored */
	enum mem_kind kind;
	uint8_t *data; /* MEM_FILE */
	size_t len;
	char *target; /* MEM_LINK */
};

struct mem_handle {
	bool used;
	bool reading;  /* open_read handle (else a path handle) */
	char *path;    /* canonical path of the object */
	size_t offset; /* reading */
};

struct mem_fs {
	struct io_fs fs; /* first: converts to and from struct io_fs */
	struct mem_node *nodes;
	size_t n_nodes, cap_nodes;
	/* Grown on demand (an idle tree costs a few dozen bytes), at most
	 * IO_FS_MEM_MAX_HANDLES; entries never move while open (indexes). */
	struct mem_handle *handles;
	int cap_handles;
	size_t open;
};

static const struct io_fs_ops mem_ops;

static struct mem_fs *mem_of(struct io_fs *fs)
{
	CHECK(fs->ops == &mem_ops);
	return (struct mem_fs *)fs;
}

static struct mem_node *mem_find(struct mem_fs *m, const char *path)
{
	for (size_t i = 0; i < m->n_nodes; i++)
		if (strcmp(m->nodes[i].path, path) == 0)
			return &m->nodes[i];
	return NULL;
}

/* Appends component `name` (`len` bytes) to the canonical path in `buf`. */
static int path_push(char *buf, size_t cap, const char *name, size_t len)
{
	size_t bl = strlen(buf);
	size_t sep = bl > 1 ? 1 : 0; /* "/" + name, or "/a" + "/" + name */

	if (bl + sep + len + 1 > cap)
		return -ENAMETOOLONG;
	if (sep)
		buf[bl++] = '/';
	memcpy(buf + bl, name, len);
	buf[bl + len] = '\0';
	return 0;
}

static void path_pop(char *buf)
{
	char *slash = strrchr(buf, '/');

	if (slash == buf)
		buf[1] = '\0';
	else if (slash)
		*slash = '\0';
}

/* Resolves `path` (absolute, or relative to the canonical `base`) into the
 * canonical `out`, following every link, the last component's too (as
 * openat and realpath do). The object must exist. 0 or -errno. */
static int mem_resolve_path(struct mem_fs *m, const char *base, const char *path, char *out,
                            size_t cap)
{
	char rest[IO_FS_PATH_MAX], next[IO_FS_PATH_MAX];
	unsigned links = 0;

	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	snprintf(rest, sizeof(rest), "%s", path);
	if (rest[0] == '/' || !base)
		snprintf(out, cap, "/");
	else if (snprintf(out, cap, "%s", base) >= (int)cap)
		return -ENAMETOOLONG;
	const char *p = rest;
	while (*p) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0)
			break;
		if (len > IO_FS_NAME_MAX)
			return -ENAMETOOLONG;
		if (len == 1 && p[0] == '.') {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			path_pop(out);
			p += len;
			continue;
		}
		char dir[IO_FS_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", out);
		int rc = path_push(out, cap, p, len);
		if (rc < 0)
			return rc;
		p += len;
		const struct mem_node *n = mem_find(m, out);
		if (!n)
			return -ENOENT;
		if (n->kind == MEM_LINK) {
			if (++links > IO_FS_MEM_MAX_LINKS)
				return -ELOOP;
			/* Go on from the link's directory with target + what is left. */
			if (snprintf(next, sizeof(next), "%s%s", n->target, p) >= (int)sizeof(next))
				return -ENAMETOOLONG;
			memcpy(rest, next, strlen(next) + 1);
			p = rest;
			if (rest[0] == '/')
				snprintf(out, cap, "/");
			else
				snprintf(out, cap, "%s", dir);
			continue;
		}
		if (*p && n->kind != MEM_DIR)
			return -ENOTDIR;
	}
	return 0;
}

static enum io_fs_kind mem_stat_kind(const struct mem_node *n)
{
	if (!n)
		return IO_FS_DIR; /* "/" */
	switch (n->kind) {
	case MEM_DIR:
		return IO_FS_DIR;
	case MEM_FILE:
		return IO_FS_FILE;
	case MEM_LINK: /* resolved away before anyone asks */
	case MEM_OTHER:
		break;
	}
	return IO_FS_OTHER;
}

/* Room for one more handle: doubles the table, up to the limit. */
static int mem_handles_grow(struct mem_fs *m)
{
	int cap = m->cap_handles ? 2 * m->cap_handles : 8;

	if (m->cap_handles == IO_FS_MEM_MAX_HANDLES)
		return -EMFILE;
	if (cap > IO_FS_MEM_MAX_HANDLES)
		cap = IO_FS_MEM_MAX_HANDLES;
	struct mem_handle *nh = realloc(m->handles, (size_t)cap * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	memset(nh + m->cap_handles, 0, (size_t)(cap - m->cap_handles) * sizeof(*nh));
	m->handles = nh;
	m->cap_handles = cap;
	return 0;
}

static int mem_handle_new(struct mem_fs *m, const char *path, bool reading)
{
	if (m->open == (size_t)m->cap_handles) {
		int rc = mem_handles_grow(m);
		if (rc < 0)
			return rc;
	}
	for (int h = 0; h < m->cap_handles; h++) {
		struct mem_handle *mh = &m->handles[h];
		if (mh->used)
			continue;
		if (!(mh->path = strdup(path)))
			return -ENOMEM;
		mh->used = true;
		mh->reading = reading;
		mh->offset = 0;
		m->open++;
		return h;
	}
	return -EMFILE;
}

static struct mem_handle *mem_handle(struct mem_fs *m, int h)
{
	if (h < 0 || h >= m->cap_handles || !m->handles[h].used)
		return NULL;
	return &m->handles[h];
}

static int mem_resolve(struct io_fs *fs, const char *path, char *out, size_t out_len)
{
	return mem_resolve_path(mem_of(fs), NULL, path, out, out_len);
}

static int mem_open_path(struct io_fs *fs, int dir, const char *path, const char *root,
                         struct io_fs_stat *st, char *real, size_t real_len)
{
	struct mem_fs *m = mem_of(fs);
	const char *base = NULL;

	if (dir != IO_FS_NO_DIR) {
		const struct mem_handle *dh = mem_handle(m, dir);
		if (!dh || dh->reading)
			return -EBADF;
		base = dh->path;
	}
	int rc = mem_resolve_path(m, base, path, real, real_len);
	if (rc < 0)
		return rc;
	if (!io_fs_path_under(real, root))
		return -EXDEV;
	const struct mem_node *n = strcmp(real, "/") ? mem_find(m, real) : NULL;
	st->kind = mem_stat_kind(n);
	st->size = n && n->kind == MEM_FILE ? n->len : 0;
	return mem_handle_new(m, real, false);
}

static int mem_open_read(struct io_fs *fs, int path_handle, struct io_fs_stat *st)
{
	struct mem_fs *m = mem_of(fs);
	const struct mem_handle *ph = mem_handle(m, path_handle);

	if (!ph || ph->reading)
		return -EBADF;
	const struct mem_node *n = strcmp(ph->path, "/") ? mem_find(m, ph->path) : NULL;
	if (!n || n->kind != MEM_FILE)
		return !n || n->kind == MEM_DIR ? -EISDIR : n ? -EINVAL : -ENOENT;
	st->kind = IO_FS_FILE;
	st->size = n->len;
	return mem_handle_new(m, ph->path, true);
}

static ssize_t mem_read(struct io_fs *fs, int handle, void *buf, size_t len)
{
	struct mem_fs *m = mem_of(fs);
	struct mem_handle *h = mem_handle(m, handle);

	if (!h || !h->reading)
		return -EBADF;
	const struct mem_node *n = mem_find(m, h->path);
	if (!n)
		return -EIO; /* removed under an open handle: cannot happen today */
	size_t left = n->len > h->offset ? n->len - h->offset : 0;
	if (len > left)
		len = left;
	memcpy(buf, n->data + h->offset, len);
	h->offset += len;
	return (ssize_t)len;
}

/* The node's name when it lies directly in `dir`, else NULL. */
static const char *mem_child_name(const char *path, const char *dir)
{
	size_t dl = strlen(dir);
	const char *name;

	if (strcmp(dir, "/") == 0)
		name = path + 1;
	else if (strncmp(path, dir, dl) == 0 && path[dl] == '/')
		name = path + dl + 1;
	else
		return NULL;
	return strchr(name, '/') ? NULL : name;
}

static int dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct io_fs_dirent *)a)->name,
	              ((const struct io_fs_dirent *)b)->name);
}

static ssize_t mem_list(struct io_fs *fs, int dir, struct io_fs_dirent **out)
{
	struct mem_fs *m = mem_of(fs);
	const struct mem_handle *dh = mem_handle(m, dir);
	struct io_fs_dirent *d;
	ssize_t k = 0;

	*out = NULL;
	if (!dh || dh->reading)
		return -EBADF;
	const struct mem_node *self = strcmp(dh->path, "/") ? mem_find(m, dh->path) : NULL;
	if (self && self->kind != MEM_DIR)
		return -ENOTDIR;
	d = calloc(m->n_nodes + 1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_nodes; i++) {
		const char *name = mem_child_name(m->nodes[i].path, dh->path);
		if (!name)
			continue;
		if (!(d[k].name = strdup(name))) {
			io_fs_dirents_free(d, k);
			return -ENOMEM;
		}
		d[k++].is_dir = m->nodes[i].kind == MEM_DIR;
	}
	qsort(d, (size_t)k, sizeof(*d), dirent_cmp);
	*out = d;
	return k;
}

static void mem_close(struct io_fs *fs, int handle)
{
	struct mem_fs *m = mem_of(fs);
	struct mem_handle *h = mem_handle(m, handle);

	if (!h)
		return;
	free(h->path);
	memset(h, 0, sizeof(*h));
	m->open--;
}

static void mem_free(struct io_fs *fs)
{
	struct mem_fs *m = mem_of(fs);

	CHECK(m->open == 0);
	for (size_t i = 0; i < m->n_nodes; i++) {
		free(m->nodes[i].path);
		free(m->nodes[i].data);
		free(m->nodes[i].target);
	}
	free(m->nodes);
	free(m->handles);
	free(m);
}

static const struct io_fs_ops mem_ops = {
    .resolve = mem_resolve,
    .open_path = mem_open_path,
    .open_read = mem_open_read,
    .read = mem_read,
    .list = mem_list,
    .close = mem_close,
    .free = mem_free,
};

int io_fs_mem_new(struct io_fs **out)
{
	struct mem_fs *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->fs.ops = &mem_ops;
	*out = &m->fs;
	return 0;
}

size_t io_fs_mem_open_handles(const struct io_fs *fs)
{
	CHECK(fs->ops == &mem_ops);
	return ((const struct mem_fs *)fs)->open;
}

/* A clean absolute path: starts with '/', no empty, "." or ".." parts, no
 * trailing '/', components within IO_FS_NAME_MAX. */
static bool mem_path_clean(const char *path)
{
	if (path[0] != '/' || strlen(path) >= IO_FS_PATH_MAX || strcmp(path, "/") == 0)
		return false;
	for (const char *p = path + 1;;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || len > IO_FS_NAME_MAX || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

/* Adds one node; missing parents become directories. */
static int mem_add(struct io_fs *fs, const char *path, enum mem_kind kind, const void *data,
                   size_t len, const char *target)
{
	struct mem_fs *m = mem_of(fs);
	char parent[IO_FS_PATH_MAX];

	if (!mem_path_clean(path))
		return -EINVAL;
	snprintf(parent, sizeof(parent), "%s", path);
	path_pop(parent);
	if (strcmp(parent, "/") != 0) {
		const struct mem_node *pn = mem_find(m, parent);
		if (!pn) {
			int rc = mem_add(fs, parent, MEM_DIR, NULL, 0, NULL);
			if (rc < 0)
				return rc;
		} else if (pn->kind != MEM_DIR) {
			return -ENOTDIR;
		}
	}
	if (mem_find(m, path))
		return -EEXIST;
	if (m->n_nodes == IO_FS_MEM_NODES_MAX)
		return -ENOSPC;
	if (m->n_nodes == m->cap_nodes) {
		size_t cap = m->cap_nodes ? 2 * m->cap_nodes : 16;
		struct mem_node *nn = realloc(m->nodes, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		m->nodes = nn;
		m->cap_nodes = cap;
	}
	struct mem_node n = {.kind = kind, .len = len};
	n.path = strdup(path);
	if (kind == MEM_FILE)
		n.data = malloc(len ? len : 1);
	if (kind == MEM_LINK)
		n.target = strdup(target);
	if (!n.path || (kind == MEM_FILE && !n.data) || (kind == MEM_LINK && !n.target)) {
		free(n.path);
		free(n.data);
		free(n.target);
		return -ENOMEM;
	}
	if (len)
		memcpy(n.data, data, len);
	m->nodes[m->n_nodes++] = n;
	return 0;
}

int io_fs_mem_add_dir(struct io_fs *fs, const char *path)
{
	return mem_add(fs, path, MEM_DIR, NULL, 0, NULL);
}

int io_fs_mem_add_file(struct io_fs *fs, const char *path, const void *data, size_t len)
{
	return mem_add(fs, path, MEM_FILE, data, len, NULL);
}

int io_fs_mem_add_link(struct io_fs *fs, const char *path, const char *target)
{
	if (!target || !target[0] || strlen(target) >= IO_FS_PATH_MAX)
		return -EINVAL;
	return mem_add(fs, path, MEM_LINK, NULL, 0, target);
}

int io_fs_mem_add_other(struct io_fs *fs, const char *path)
{
	return mem_add(fs, path, MEM_OTHER, NULL, 0, NULL);
}
