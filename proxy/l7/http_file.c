/* http_file.c: the file and directory handler (SPEC L7-3): a file, or a
 * directory's index.html or listing, never outside the handler's root. All
 * filesystem access goes through the node's file seam (lib/io/fs.h), so
 * the host's protections (O_PATH opens checked by the kernel's own path)
 * and the simulator's in-memory tree serve alike. */
#define _GNU_SOURCE
#include "lib/base/hex.h"
#include "lib/io/fs.h"
#include "proxy/l7/http_proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *hp_content_type(const char *name)
{
	static const char *const types[][2] = {
	    {"html", "text/html; charset=utf-8"},
	    {"htm", "text/html; charset=utf-8"},
	    {"css", "text/css; charset=utf-8"},
	    {"js", "text/javascript; charset=utf-8"},
	    {"mjs", "text/javascript; charset=utf-8"},
	    {"json", "application/json"},
	    {"txt", "text/plain; charset=utf-8"},
	    {"md", "text/markdown; charset=utf-8"},
	    {"xml", "text/xml; charset=utf-8"},
	    {"svg", "image/svg+xml"},
	    {"png", "image/png"},
	    {"jpg", "image/jpeg"},
	    {"jpeg", "image/jpeg"},
	    {"gif", "image/gif"},
	    {"webp", "image/webp"},
	    {"ico", "image/vnd.microsoft.icon"},
	    {"wasm", "application/wasm"},
	    {"pdf", "application/pdf"},
	    {"mp4", "video/mp4"},
	    {"woff2", "font/woff2"},
	};
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash : name, '.');

	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}

/* Decodes %XX escapes of the `len` bytes at `in` (a clean path, not
 * NUL-terminated) into `out`, NUL-terminated; false on a bad escape, NUL, an
 * encoded slash or no room (http_msg_path_is_clean refused those already). */
static bool hp_path_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\0')
			return false;
		if (c == '%') {
			int hi = i + 2 < len ? hex_nibble(in[i + 1]) : -1;
			int lo = i + 2 < len ? hex_nibble(in[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0) || hi * 16 + lo == '/')
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

/* Serves the regular file behind the path handle `ph` (closed here);
 * `real` names it (its extension picks the content type). */
static int hp_local_file(struct hp_conn *c, int ph, const char *real)
{
	struct io_fs *fs = c->p->fs;
	struct io_fs_stat st;
	int fh = fs->ops->open_read(fs, ph, &st);

	fs->ops->close(fs, ph);
	if (fh < 0) {
		hp_local_error(c, 404, "no such file", false);
		return 0;
	}
	hp_local_reset(c);
	c->state = HP_LOCAL;
	c->status = c->local_status = 200;
	c->local_type = hp_content_type(real);
	c->fh = fh;
	c->file_left = st.size;
	return 0;
}

/* HTML-escapes the `len` bytes at `in` (a slice: nothing past `len` is
 * read) into `out`, NUL-terminated. Returns the length written, or -ENOSPC
 * when it does not fit. */
static int hp_html_escape(char *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0;

	if (cap == 0)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (in[i]) {
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '&':
			rep = "&amp;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			break;
		}
		size_t n = rep ? strlen(rep) : 1;
		if (cap - o <= n) {
			out[0] = '\0';
			return -ENOSPC;
		}
		memcpy(out + o, rep ? rep : in + i, n);
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

/* Percent-encodes every byte of the slice `in`/`len` but RFC 3986's
 * unreserved ones into `out`, NUL-terminated. Length or -ENOSPC. */
static int hp_url_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (cap == 0)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
		             ch == '~';
		size_t n = plain ? 1 : 3;
		if (cap - o <= n) {
			out[0] = '\0';
			return -ENOSPC;
		}
		if (plain) {
			out[o] = (char)ch;
		} else {
			out[o] = '%';
			out[o + 1] = hex[ch >> 4];
			out[o + 2] = hex[ch & 15];
		}
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

/* A sorted HTML listing of the directory behind the path handle `dh`,
 * titled with the request path (the slice `path`/`path_len`), at most
 * HTTP_PROXY_DIR_LISTING_MAX bytes. 414 when the escaped path alone would
 * take half of that. */
static int hp_local_listing(struct hp_conn *c, int dh, const char *path, size_t path_len)
{
	static const char tail[] = "</pre>\n";
	const size_t max = HTTP_PROXY_DIR_LISTING_MAX;
	struct io_fs *fs = c->p->fs;
	struct io_fs_dirent *names = NULL;
	ssize_t n = fs->ops->list(fs, dh, &names);
	char *page = malloc(max);
	size_t len = 0;
	char esc[IO_FS_NAME_MAX * 6 + 8], uesc[IO_FS_NAME_MAX * 3 + 8];
	int rc = 0;

	if (n < 0 || !page) {
		hp_local_error(c, n < 0 ? 404 : 503, "cannot list the directory", false);
		goto out_free_page;
	}
	len = (size_t)snprintf(page, max, "<!doctype html>\n<title>");
	int t = hp_html_escape(page + len, max / 2, path, path_len);
	if (t < 0) {
		hp_local_error(c, 414, "path too long for a listing", false);
		goto out_free_page;
	}
	len += (size_t)t;
	len += (size_t)snprintf(page + len, max - len, "</title>\n<pre>\n");
	for (ssize_t i = 0; i < n; i++) {
		const char *nm = names[i].name;
		size_t nl = strlen(nm);
		bool is_dir = names[i].is_dir;
		/* Names are at most IO_FS_NAME_MAX bytes: the buffers always fit. */
		CHECK(hp_html_escape(esc, sizeof(esc), nm, nl) >= 0);
		CHECK(hp_url_escape(uesc, sizeof(uesc), nm, nl) >= 0);
		size_t room = max - len - sizeof(tail);
		int w = snprintf(page + len, room, "<a href=\"%s%s\">%s%s</a>\n", uesc,
		                 is_dir ? "/" : "", esc, is_dir ? "/" : "");
		if (w < 0 || (size_t)w >= room)
			break; /* full: the listing ends here */
		len += (size_t)w;
	}
	memcpy(page + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	rc = hp_local_mem(c, 200, "text/html; charset=utf-8", page, len);

out_free_page:
	io_fs_dirents_free(names, n);
	free(page);
	return rc;
}

/* A directory without the trailing slash: a 301 to "./name/", since
 * relative links in the listing need the slash. The redirect names only
 * the last segment, relative: echoing the path would send
 * `GET //evil.example` to another site (an open redirect), and "./" keeps
 * a segment with a colon from reading as a scheme. */
static int hp_redirect_to_dir(struct hp_conn *c, const char *req_path, size_t req_path_len)
{
	const char *seg = req_path + req_path_len;
	char name[IO_FS_NAME_MAX + 1], esc[3 * IO_FS_NAME_MAX + 1];

	while (seg > req_path && seg[-1] != '/')
		seg--;
	size_t seg_len = (size_t)(req_path + req_path_len - seg);
	if (!hp_path_decode(seg, seg_len, name, sizeof(name)) ||
	    hp_url_escape(esc, sizeof(esc), name, strlen(name)) < 0 ||
	    strlen(esc) + 20 > sizeof(c->local_extra)) {
		hp_local_error(c, 404, "not found", false);
		return 0;
	}
	int rc = hp_local_mem(c, 301, "text/plain; charset=utf-8", "", 0);
	snprintf(c->local_extra, sizeof(c->local_extra), "Location: ./%s/\r\n", esc);
	return rc;
}

/* A directory: its index.html when that is a regular file in the root, a
 * 404 when it is a link leading out, else a listing. Closes `dh`. */
static int hp_serve_dir(struct hp_conn *c, int dh, const char *real_root, const char *req_path,
                        size_t req_path_len)
{
	struct io_fs *fs = c->p->fs;
	char real[IO_FS_PATH_MAX];
	struct io_fs_stat st;
	int rc;

	if (req_path_len == 0 || req_path[req_path_len - 1] != '/') {
		fs->ops->close(fs, dh);
		return hp_redirect_to_dir(c, req_path, req_path_len);
	}
	int ih = fs->ops->open_path(fs, dh, "index.html", real_root, &st, real, sizeof(real));
	if (ih >= 0 && st.kind == IO_FS_FILE) {
		fs->ops->close(fs, dh);
		return hp_local_file(c, ih, real);
	}
	if (ih >= 0)
		fs->ops->close(fs, ih);
	if (ih == -EXDEV) {
		fs->ops->close(fs, dh);
		hp_local_error(c, 404, "not found", false);
		return 0;
	}
	rc = hp_local_listing(c, dh, req_path, req_path_len);
	fs->ops->close(fs, dh);
	return rc;
}

/* Serves `rest` (the request path with the mount stripped, starting with
 * '/'; a slice of the request head) from the file or directory `root`,
 * through the node's file seam (lib/io/fs.h). Never leaves the root: the
 * path is clean (no dot segments) and every object is opened first and
 * checked after (open_path), so neither symbolic links nor links swapped
 * in during the request lead out. Only regular files and directories are
 * served. `req_path` is the whole request path (for redirects and the
 * listing's title). */
int hp_serve_path(struct hp_conn *c, const char *root, const char *rest, size_t rest_len,
                  const char *req_path, size_t req_path_len)
{
	struct io_fs *fs = c->p->fs;
	struct io_fs_stat st;
	char rel[IO_FS_PATH_MAX], full[IO_FS_PATH_MAX], real_root[IO_FS_PATH_MAX],
	    real[IO_FS_PATH_MAX];
	int h;

	if (c->req->method != HTTP_GET && c->req->method != HTTP_HEAD) {
		hp_local_error(c, 405, "files answer GET and HEAD only", false);
		snprintf(c->local_extra, sizeof(c->local_extra), "Allow: GET, HEAD\r\n");
		return 0;
	}
	if (fs->ops->resolve(fs, root, real_root, sizeof(real_root)) < 0 ||
	    (h = fs->ops->open_path(fs, IO_FS_NO_DIR, real_root, real_root, &st, real,
	                            sizeof(real))) < 0)
		goto out_not_found;
	if (st.kind == IO_FS_FILE) {
		if (rest_len > 1) {
			fs->ops->close(fs, h);
			goto out_not_found;
		}
		return hp_local_file(c, h, real);
	}
	fs->ops->close(fs, h);
	if (st.kind != IO_FS_DIR || !hp_path_decode(rest, rest_len, rel, sizeof(rel)) ||
	    snprintf(full, sizeof(full), "%s%s", real_root, rel) >= (int)sizeof(full) ||
	    (h = fs->ops->open_path(fs, IO_FS_NO_DIR, full, real_root, &st, real, sizeof(real))) <
	        0)
		goto out_not_found;
	if (st.kind == IO_FS_DIR)
		return hp_serve_dir(c, h, real_root, req_path, req_path_len);
	if (st.kind == IO_FS_FILE)
		return hp_local_file(c, h, real);
	fs->ops->close(fs, h); /* FIFOs, sockets, devices: not files to serve */

out_not_found:
	hp_local_error(c, 404, "not found", false);
	return 0;
}
