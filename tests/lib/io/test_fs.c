/* The file seam (lib/io/fs.h): the in-memory tree, and the host backend
 * against the same expectations on a private directory: canonical paths,
 * links that stay in or lead out of the root, listings, reads in pieces,
 * and no handle left open. */
#define _GNU_SOURCE
#include "lib/io/fs.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct io_fs *mem_tree(void)
{
	struct io_fs *fs;

	cr_assert_eq(io_fs_mem_new(&fs), 0);
	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/www/a.txt", "alpha\n", 6), 0);
	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/www/sub/index.html", "<h1>i</h1>\n", 11), 0);
	cr_assert_eq(io_fs_mem_add_dir(fs, "/srv/www/empty"), 0);
	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/secret.txt", "secret\n", 7), 0);
	cr_assert_eq(io_fs_mem_add_link(fs, "/srv/www/escape", "../secret.txt"), 0);
	cr_assert_eq(io_fs_mem_add_link(fs, "/srv/www/abs_escape", "/srv/secret.txt"), 0);
	cr_assert_eq(io_fs_mem_add_link(fs, "/srv/www/inside", "sub/../a.txt"), 0);
	cr_assert_eq(io_fs_mem_add_link(fs, "/srv/www/loop", "loop"), 0);
	cr_assert_eq(io_fs_mem_add_other(fs, "/srv/www/fifo"), 0);
	return fs;
}

static int open_in(struct io_fs *fs, const char *path, struct io_fs_stat *st, char *real)
{
	return fs->ops->open_path(fs, IO_FS_NO_DIR, path, "/srv/www", st, real, IO_FS_PATH_MAX);
}

Test(fs_mem, add_refuses_unclean_or_duplicate_paths)
{
	struct io_fs *fs = mem_tree();

	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/www/a.txt", "x", 1), -EEXIST);
	cr_assert_eq(io_fs_mem_add_file(fs, "relative", "x", 1), -EINVAL);
	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/../etc", "x", 1), -EINVAL);
	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/www/a.txt/x", "x", 1), -ENOTDIR);
	cr_assert_eq(io_fs_mem_add_dir(fs, "/srv/www/"), -EINVAL);
	io_fs_free(fs);
}

Test(fs_mem, resolve_gives_canonical_paths)
{
	struct io_fs *fs = mem_tree();
	char out[IO_FS_PATH_MAX];

	cr_assert_eq(fs->ops->resolve(fs, "/srv/www/sub/../inside", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/srv/www/a.txt");
	cr_assert_eq(fs->ops->resolve(fs, "/srv//www/./", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/srv/www");
	cr_assert_eq(fs->ops->resolve(fs, "/", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/");
	cr_assert_eq(fs->ops->resolve(fs, "/srv/none", out, sizeof(out)), -ENOENT);
	cr_assert_eq(fs->ops->resolve(fs, "/srv/www/loop", out, sizeof(out)), -ELOOP);
	cr_assert_eq(fs->ops->resolve(fs, "/srv/www/a.txt/x", out, sizeof(out)), -ENOTDIR);
	io_fs_free(fs);
}

Test(fs_mem, links_out_of_the_root_are_refused_links_inside_work)
{
	struct io_fs *fs = mem_tree();
	struct io_fs_stat st;
	char real[IO_FS_PATH_MAX];

	cr_assert_eq(open_in(fs, "/srv/www/escape", &st, real), -EXDEV);
	cr_assert_eq(open_in(fs, "/srv/www/abs_escape", &st, real), -EXDEV);
	cr_assert_eq(open_in(fs, "/srv/www/../secret.txt", &st, real), -EXDEV);
	int h = open_in(fs, "/srv/www/inside", &st, real);
	cr_assert_geq(h, 0);
	cr_assert_eq(st.kind, IO_FS_FILE);
	cr_assert_eq(st.size, 6);
	cr_assert_str_eq(real, "/srv/www/a.txt");
	fs->ops->close(fs, h);
	cr_assert_eq(io_fs_mem_open_handles(fs), 0);
	io_fs_free(fs);
}

Test(fs_mem, open_relative_to_a_directory_handle)
{
	struct io_fs *fs = mem_tree();
	struct io_fs_stat st;
	char real[IO_FS_PATH_MAX];

	int d = open_in(fs, "/srv/www/sub", &st, real);
	cr_assert_geq(d, 0);
	cr_assert_eq(st.kind, IO_FS_DIR);
	int h = fs->ops->open_path(fs, d, "index.html", "/srv/www", &st, real, sizeof(real));
	cr_assert_geq(h, 0);
	cr_assert_str_eq(real, "/srv/www/sub/index.html");
	fs->ops->close(fs, h);
	cr_assert_eq(
	    fs->ops->open_path(fs, d, "../../secret.txt", "/srv/www", &st, real, sizeof(real)),
	    -EXDEV);
	cr_assert_eq(fs->ops->open_path(fs, d, "none.html", "/srv/www", &st, real, sizeof(real)),
	             -ENOENT);
	fs->ops->close(fs, d);
	cr_assert_eq(io_fs_mem_open_handles(fs), 0);
	io_fs_free(fs);
}

Test(fs_mem, only_regular_files_open_for_reading)
{
	struct io_fs *fs = mem_tree();
	struct io_fs_stat st;
	char real[IO_FS_PATH_MAX];

	int p = open_in(fs, "/srv/www/fifo", &st, real);
	cr_assert_geq(p, 0);
	cr_assert_eq(st.kind, IO_FS_OTHER);
	cr_assert_lt(fs->ops->open_read(fs, p, &st), 0);
	fs->ops->close(fs, p);
	p = open_in(fs, "/srv/www/sub", &st, real);
	cr_assert_eq(fs->ops->open_read(fs, p, &st), -EISDIR);
	fs->ops->close(fs, p);
	cr_assert_eq(io_fs_mem_open_handles(fs), 0);
	io_fs_free(fs);
}

Test(fs_mem, large_file_reads_back_whole_in_pieces)
{
	struct io_fs *fs;
	struct io_fs_stat st;
	char real[IO_FS_PATH_MAX];
	const size_t size = 3u << 20;
	uint8_t *data = malloc(size), *back = malloc(size);

	cr_assert(data && back);
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 13));
	cr_assert_eq(io_fs_mem_new(&fs), 0);
	cr_assert_eq(io_fs_mem_add_file(fs, "/srv/www/big.bin", data, size), 0);
	int p = open_in(fs, "/srv/www/big.bin", &st, real);
	cr_assert_geq(p, 0);
	int r = fs->ops->open_read(fs, p, &st);
	cr_assert_geq(r, 0);
	cr_assert_eq(st.size, size);
	size_t got = 0;
	for (;;) {
		ssize_t n =
		    fs->ops->read(fs, r, back + got, size - got < 16384 ? size - got : 16384);
		cr_assert_geq(n, 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	cr_assert_eq(got, size);
	cr_assert_eq(memcmp(data, back, size), 0);
	fs->ops->close(fs, r);
	fs->ops->close(fs, p);
	cr_assert_eq(io_fs_mem_open_handles(fs), 0);
	io_fs_free(fs);
	free(data);
	free(back);
}

Test(fs_mem, listing_is_sorted_without_dot_entries)
{
	struct io_fs *fs = mem_tree();
	struct io_fs_stat st;
	struct io_fs_dirent *d;
	char real[IO_FS_PATH_MAX];
	const char *want[] = {"a.txt", "abs_escape", "empty", "escape",
	                      "fifo",  "inside",     "loop",  "sub"};

	int h = open_in(fs, "/srv/www", &st, real);
	cr_assert_geq(h, 0);
	ssize_t n = fs->ops->list(fs, h, &d);
	cr_assert_eq(n, (ssize_t)(sizeof(want) / sizeof(want[0])));
	for (ssize_t i = 0; i < n; i++) {
		cr_assert_str_eq(d[i].name, want[i]);
		cr_assert_eq(d[i].is_dir,
		             strcmp(want[i], "sub") == 0 || strcmp(want[i], "empty") == 0, "%s",
		             want[i]);
	}
	io_fs_dirents_free(d, n);
	fs->ops->close(fs, h);
	io_fs_free(fs);
}

/* The host backend keeps the same promises on a real directory. */
Test(fs_mem, handles_grow_to_1024_and_nodes_stop_at_the_limit)
{
	struct io_fs *fs = mem_tree();
	struct io_fs_stat st;
	char real[IO_FS_PATH_MAX];
	static int h[1024];

	/* Handles stay valid while the table grows under them. */
	for (int i = 0; i < 1024; i++) {
		h[i] = open_in(fs, "/srv/www/a.txt", &st, real);
		cr_assert_geq(h[i], 0, "handle %d: %d", i, h[i]);
	}
	cr_assert_eq(open_in(fs, "/srv/www/a.txt", &st, real), -EMFILE);
	int r = fs->ops->open_read(fs, h[0], &st);
	cr_assert_eq(r, -EMFILE);
	fs->ops->close(fs, h[1023]);
	r = fs->ops->open_read(fs, h[0], &st);
	cr_assert_geq(r, 0);
	char buf[8];
	cr_assert_eq(fs->ops->read(fs, r, buf, sizeof(buf)), 6);
	cr_assert(!memcmp(buf, "alpha\n", 6));
	fs->ops->close(fs, r);
	for (int i = 0; i < 1023; i++)
		fs->ops->close(fs, h[i]);
	cr_assert_eq(io_fs_mem_open_handles(fs), 0);
	io_fs_free(fs);

	cr_assert_eq(io_fs_mem_new(&fs), 0);
	char path[32];
	for (int i = 0; i < IO_FS_MEM_NODES_MAX; i++) {
		snprintf(path, sizeof(path), "/f%d", i);
		cr_assert_eq(io_fs_mem_add_file(fs, path, "x", 1), 0);
	}
	cr_assert_eq(io_fs_mem_add_file(fs, "/one-more", "x", 1), -ENOSPC);
	io_fs_free(fs);
}

Test(fs_host, links_out_of_the_root_are_refused_and_files_read)
{
	char tmpl[] = "/tmp/fs_host_XXXXXX", path[IO_FS_PATH_MAX + 64], real[IO_FS_PATH_MAX],
	     root[IO_FS_PATH_MAX], buf[16];
	struct io_fs *fs;
	struct io_fs_stat st;

	cr_assert_not_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/www", tmpl);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/www/a.txt", tmpl);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("alpha\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/secret.txt", tmpl);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/www/escape", tmpl);
	cr_assert_eq(symlink("../secret.txt", path), 0);

	cr_assert_eq(io_fs_host_new(&fs), 0);
	snprintf(path, sizeof(path), "%s/www", tmpl);
	cr_assert_eq(fs->ops->resolve(fs, path, root, sizeof(root)), 0);
	snprintf(path, sizeof(path), "%s/escape", root);
	cr_assert_eq(fs->ops->open_path(fs, IO_FS_NO_DIR, path, root, &st, real, sizeof(real)),
	             -EXDEV);
	int d = fs->ops->open_path(fs, IO_FS_NO_DIR, root, root, &st, real, sizeof(real));
	cr_assert_geq(d, 0);
	cr_assert_eq(st.kind, IO_FS_DIR);
	int p = fs->ops->open_path(fs, d, "a.txt", root, &st, real, sizeof(real));
	cr_assert_geq(p, 0);
	int r = fs->ops->open_read(fs, p, &st);
	cr_assert_geq(r, 0);
	cr_assert_eq(st.size, 6);
	cr_assert_eq(fs->ops->read(fs, r, buf, sizeof(buf)), 6);
	cr_assert_eq(memcmp(buf, "alpha\n", 6), 0);
	struct io_fs_dirent *ents;
	ssize_t n = fs->ops->list(fs, d, &ents);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ents[0].name, "a.txt");
	cr_assert_str_eq(ents[1].name, "escape");
	cr_assert_not(ents[1].is_dir);
	io_fs_dirents_free(ents, n);
	fs->ops->close(fs, r);
	fs->ops->close(fs, p);
	fs->ops->close(fs, d);
	io_fs_free(fs);

	snprintf(path, sizeof(path), "rm -rf '%s'", tmpl);
	cr_assert_eq(system(path), 0);
}
