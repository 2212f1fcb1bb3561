/* http_file.c: the file and directory handler (SPEC L7-3). */
#define _GNU_SOURCE
#include "lib/base/hex.h"
#include "proxy/l7/http_proxy_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* True when `real` (a resolved path) is `real_root` or lies under it. */
static bool hp_under_root(const char *real, const char *real_root)
{
	size_t rl = strlen(real_root);

	if (strncmp(real, real_root, rl) != 0)
		return false;
	return real[rl] == '\0' || real[rl] == '/' || (rl == 1 && real_root[0] == '/');
}

/* Opens `name` (relative to `dirfd`, or absolute) as an O_PATH handle and
 * checks what was opened rather than what the name meant a moment before:
 * the kernel's own path of the handle (/proc/self/fd) must lie under
 * `real_root`. So a symbolic link anywhere on the way that leads out, or one
 * swapped in after any earlier check, is refused, while links that stay in
 * the root work as before; and O_PATH never opens the object itself (no
 * FIFO waits for a writer, no device sees an open). Without /proc nothing
 * is served (fail closed). Returns the handle with *st and `real` (PATH_MAX
 * bytes) filled, -EXDEV when it is outside the root, or -errno. */
static int hp_path_open(int dirfd, const char *name, const char *real_root, struct stat *st,
                        char *real)
{
	char link[32];
	int fd = openat(dirfd, name, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, PATH_MAX - 1);
	int rc = n < 0 ? -errno : 0;
	if (rc == 0 && (size_t)n >= PATH_MAX - 1)
		rc = -ENAMETOOLONG;
	if (rc == 0) {
		real[n] = '\0';
		if (!hp_under_root(real, real_root))
			rc = -EXDEV;
	}
	if (rc == 0 && fstat(fd, st) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Opens the very file an O_PATH handle names for reading (through its
 * /proc/self/fd link: no path is resolved again). fd or -errno. */
static int hp_path_reopen(int pfd)
{
	char link[32];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd);
	int fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* Serves the regular file behind the O_PATH handle `pfd` (closed here). */
static int hp_local_file(struct hp_conn *c, int pfd, const char *real)
{
	struct stat st;
	int fd = hp_path_reopen(pfd);

	close(pfd);
	/* Check again on what was opened: the handle named a regular file. */
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		hp_local_error(c, 404, "no such file", false);
		return 0;
	}
	hp_local_reset(c);
	c->state = HP_LOCAL;
	c->status = c->local_status = 200;
	c->local_type = hp_content_type(real);
	c->fd = fd;
	c->file_left = (uint64_t)st.st_size;
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

/* A sorted HTML listing of the directory behind the O_PATH handle `dfd`,
 * titled with the request path (the slice `path`/`path_len`), at most
 * HTTP_PROXY_DIR_LISTING_MAX bytes. 414 when the escaped path alone would
 * take half of that. */
static int hp_local_listing(struct hp_conn *c, int dfd, const char *path, size_t path_len)
{
	static const char tail[] = "</pre>\n";
	const size_t max = HTTP_PROXY_DIR_LISTING_MAX;
	struct dirent **names = NULL;
	int n = scandirat(dfd, ".", &names, NULL, alphasort);
	char *page = malloc(max);
	size_t len = 0;
	char esc[NAME_MAX * 6 + 8], uesc[NAME_MAX * 3 + 8];
	int rc = 0;

	if (n < 0 || !page) {
		hp_local_error(c, n < 0 ? 404 : 503, "cannot list the directory", false);
		goto out_free;
	}
	len = (size_t)snprintf(page, max, "<!doctype html>\n<title>");
	int t = hp_html_escape(page + len, max / 2, path, path_len);
	if (t < 0) {
		hp_local_error(c, 414, "path too long for a listing", false);
		goto out_free;
	}
	len += (size_t)t;
	len += (size_t)snprintf(page + len, max - len, "</title>\n<pre>\n");
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t nl = strlen(nm);
		bool is_dir = names[i]->d_type == DT_DIR;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		/* Names are at most NAME_MAX bytes: the buffers always fit. */
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

out_free:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(page);
	return rc;
}

/* A directory: its index.html when that is a regular file in the root, a
 * 404 when it is a link leading out, else a listing. Closes `dfd`. */
static int hp_serve_dir(struct hp_conn *c, int dfd, const char *real_root, const char *req_path,
                        size_t req_path_len)
{
	char real[PATH_MAX];
	struct stat st;
	int rc;

	if (req_path_len == 0 || req_path[req_path_len - 1] != '/') {
		close(dfd);
		/* Relative links in the listing need the trailing slash. The
		 * redirect names only the last segment, relative ("./name/"):
		 * echoing the path would send `GET //evil.example` to another
		 * site (an open redirect), and "./" keeps a segment with a colon
		 * from reading as a scheme. */
		const char *seg = req_path + req_path_len;
		while (seg > req_path && seg[-1] != '/')
			seg--;
		char name[NAME_MAX + 1], esc[3 * NAME_MAX + 1];
		size_t seg_len = (size_t)(req_path + req_path_len - seg);
		if (!hp_path_decode(seg, seg_len, name, sizeof(name)) ||
		    hp_url_escape(esc, sizeof(esc), name, strlen(name)) < 0 ||
		    strlen(esc) + 20 > sizeof(c->local_extra)) {
			hp_local_error(c, 404, "not found", false);
			return 0;
		}
		rc = hp_local_mem(c, 301, "text/plain; charset=utf-8", "", 0);
		snprintf(c->local_extra, sizeof(c->local_extra), "Location: ./%s/\r\n", esc);
		return rc;
	}
	int ifd = hp_path_open(dfd, "index.html", real_root, &st, real);
	if (ifd >= 0 && S_ISREG(st.st_mode)) {
		close(dfd);
		return hp_local_file(c, ifd, real);
	}
	if (ifd >= 0)
		close(ifd);
	if (ifd == -EXDEV) {
		close(dfd);
		hp_local_error(c, 404, "not found", false);
		return 0;
	}
	rc = hp_local_listing(c, dfd, req_path, req_path_len);
	close(dfd);
	return rc;
}

/* Serves `rest` (the request path with the mount stripped, starting with
 * '/'; a slice of the request head) from the file or directory `root`.
 * Never leaves the root: the path is clean (no dot segments) and every
 * object is opened first and checked after (hp_path_open), so neither
 * symbolic links nor links swapped in during the request lead out. Only
 * regular files and directories are served. `req_path` is the whole
 * request path (for redirects and the listing's title). */
int hp_serve_path(struct hp_conn *c, const char *root, const char *rest, size_t rest_len,
                  const char *req_path, size_t req_path_len)
{
	struct stat st;
	char rel[PATH_MAX], full[PATH_MAX], real_root[PATH_MAX], real[PATH_MAX];
	int fd;

	if (c->req->method != HTTP_GET && c->req->method != HTTP_HEAD) {
		hp_local_error(c, 405, "files answer GET and HEAD only", false);
		snprintf(c->local_extra, sizeof(c->local_extra), "Allow: GET, HEAD\r\n");
		return 0;
	}
	if (!realpath(root, real_root) ||
	    (fd = hp_path_open(AT_FDCWD, real_root, real_root, &st, real)) < 0)
		goto out_not_found;
	if (S_ISREG(st.st_mode)) {
		if (rest_len > 1) {
			close(fd);
			goto out_not_found;
		}
		return hp_local_file(c, fd, real);
	}
	close(fd);
	if (!S_ISDIR(st.st_mode) || !hp_path_decode(rest, rest_len, rel, sizeof(rel)) ||
	    snprintf(full, sizeof(full), "%s%s", real_root, rel) >= (int)sizeof(full) ||
	    (fd = hp_path_open(AT_FDCWD, full, real_root, &st, real)) < 0)
		goto out_not_found;
	if (S_ISDIR(st.st_mode))
		return hp_serve_dir(c, fd, real_root, req_path, req_path_len);
	if (S_ISREG(st.st_mode))
		return hp_local_file(c, fd, real);
	close(fd); /* FIFOs, sockets, devices: not files to serve */

out_not_found:
	hp_local_error(c, 404, "not found", false);
	return 0;
}
