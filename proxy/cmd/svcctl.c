/* svcctl: the CLI of the node daemon. It sends one request over the local
 * API socket (lib/wire/localapi.h), prints the answer and exits 0 when the
 * command succeeded, 1 when it failed, 2 on bad usage.
 *
 *   svcctl [--socket PATH] serve ...          (the serve grammar, serve_cmd.h)
 *   svcctl [--socket PATH] serve-config FILE|-
 *   svcctl [--socket PATH] netmap FILE|-
 *   svcctl [--socket PATH] status [--json]
 *   svcctl [--socket PATH] rotate-key
 */
#define _GNU_SOURCE
#include "lib/wire/localapi.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SVCCTL_DEFAULT_SOCKET "/run/svcd.sock"
#define SVCCTL_TIMEOUT_MS     30000

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: svcctl [--socket PATH] serve ARGS...\n"
	       "       svcctl [--socket PATH] serve-config FILE|-\n"
	       "       svcctl [--socket PATH] netmap FILE|-\n"
	       "       svcctl [--socket PATH] status [--json]\n"
	       "       svcctl [--socket PATH] rotate-key      a new node key (control records it)\n"
	       "The socket defaults to " SVCCTL_DEFAULT_SOCKET ".\n");
}

static int dial(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "svcctl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "svcctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr,
			        "svcctl: the daemon is not running (no svcd listening on %s: %s)\n",
			        path, strerror(e));
		else
			fprintf(stderr, "svcctl: cannot reach svcd at %s: %s\n", path, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends all of `req`. 0, or the errno of a failed send (svcd may have
 * answered, refusing us, and hung up before reading: its answer is still
 * ours to read). */
static int send_request(int fd, const char *req)
{
	size_t off = 0, len = strlen(req);

	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		off += (size_t)w;
	}
	return 0;
}

/* Reads until one whole response line is in *in (malloc'd, *in_len
 * bytes). 0, or -1 (said why). */
static int read_response(int fd, int send_errno, char **in, size_t *in_len)
{
	size_t cap = 0;

	for (;;) {
		ssize_t n = localapi_frame(*in ? *in : "", *in_len, LOCALAPI_MAX_RESPONSE_BYTES);
		if (n > 0)
			return 0;
		if (n == -1) {
			fprintf(stderr, "svcctl: the daemon's answer is too long\n");
			return -1;
		}
		if (cap - *in_len < 65536) {
			char *nb = realloc(*in, cap + 65536);
			if (!nb) {
				fprintf(stderr, "svcctl: out of memory\n");
				return -1;
			}
			*in = nb;
			cap += 65536;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, SVCCTL_TIMEOUT_MS);
		if (pr == 0) {
			fprintf(stderr, "svcctl: no answer from svcd within %d s\n",
			        SVCCTL_TIMEOUT_MS / 1000);
			return -1;
		}
		ssize_t r = pr < 0 ? -1 : recv(fd, *in + *in_len, cap - *in_len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 && send_errno) {
			fprintf(stderr, "svcctl: sending to svcd: %s\n", strerror(send_errno));
			return -1;
		}
		if (r <= 0) {
			fprintf(stderr, "svcctl: svcd closed the connection without an answer\n");
			return -1;
		}
		*in_len += (size_t)r;
	}
}

/* Sends the request, reads one response line, prints its text. Returns the
 * exit status. */
static int exchange(const char *path, const char *req)
{
	int fd = dial(path);
	size_t in_len = 0;
	char *in = NULL, *output = NULL, err[LOCALAPI_ERR_LEN];
	int status = 1;

	if (fd < 0)
		return 1;
	int send_errno = send_request(fd, req);
	if (read_response(fd, send_errno, &in, &in_len) < 0)
		goto out_free_in;
	if (localapi_response_parse(in, in_len, &status, &output, err, sizeof(err)) < 0) {
		fprintf(stderr, "svcctl: %s\n", err);
		status = 1;
		goto out_free_in;
	}
	fputs(output, status == 0 ? stdout : stderr);
	if (status != 0)
		status = 1;
out_free_in:
	free(output);
	free(in);
	close(fd);
	return status;
}

/* Reads the options before the command (--socket, --help). Returns the
 * index of the command, or -(exit status + 1) to stop now. */
static int parse_options(int argc, char **argv, const char **sock)
{
	int i = 1;

	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			*sock = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			*sock = argv[i] + 9;
			i++;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			fprintf(stderr, "svcctl: unknown option \"%s\"\n", argv[i]);
			usage(stderr);
			return -3;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return -3;
	}
	return i;
}

/* `serve ARGS...`: the arguments go as they are. -1 or the exit status. */
static int request_serve(struct localapi_request *req, int argc, char **argv)
{
	req->op = LOCALAPI_OP_SERVE;
	if (argc > LOCALAPI_MAX_ARGS) {
		fprintf(stderr, "svcctl: too many arguments (limit %d)\n", LOCALAPI_MAX_ARGS);
		return 2;
	}
	req->argc = argc;
	for (int k = 0; k < req->argc; k++)
		req->argv[k] = argv[k];
	return -1;
}

/* `serve-config FILE` and `netmap FILE`: the document goes along. -1 or
 * the exit status. */
static int request_document(struct localapi_request *req, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (argc != 2) {
		fprintf(stderr, "svcctl: %s takes one FILE (or - for stdin)\n", cmd);
		usage(stderr);
		return 2;
	}
	req->op = cmd[0] == 'n' ? LOCALAPI_OP_NETMAP : LOCALAPI_OP_SERVE_CONFIG;
	req->document = localapi_read_file(argv[1], LOCALAPI_MAX_REQUEST_BYTES, &req->doc_len);
	if (!req->document) {
		fprintf(stderr, "svcctl: %s: %s\n", argv[1],
		        errno == EFBIG ? "file too large for the local API (limit 1 MiB)"
		                       : strerror(errno));
		return 1;
	}
	if (strlen(req->document) != req->doc_len) {
		fprintf(stderr, "svcctl: %s: holds a NUL byte\n", argv[1]);
		free(req->document);
		req->document = NULL;
		return 1;
	}
	return -1;
}

/* `status [--json]`. -1 or the exit status. */
static int request_status(struct localapi_request *req, int argc, char **argv)
{
	req->op = LOCALAPI_OP_STATUS;
	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		req->json = true;
	} else if (argc != 1) {
		fprintf(stderr, "svcctl: status takes only --json\n");
		usage(stderr);
		return 2;
	}
	return -1;
}

/* `rotate-key`: a new node key (SEC-2). -1 or the exit status. */
static int request_rotate_key(struct localapi_request *req, int argc, char **argv)
{
	(void)argv;
	req->op = LOCALAPI_OP_ROTATE_KEY;
	if (argc != 1) {
		fprintf(stderr, "svcctl: rotate-key takes no arguments\n");
		usage(stderr);
		return 2;
	}
	return -1;
}

static const struct {
	const char *name;
	int (*build)(struct localapi_request *req, int argc, char **argv);
} commands[] = {
    {"serve", request_serve},   {"serve-config", request_document}, {"netmap", request_document},
    {"status", request_status}, {"rotate-key", request_rotate_key},
};

int main(int argc, char **argv)
{
	const char *sock = SVCCTL_DEFAULT_SOCKET;
	struct localapi_request req;
	bool too_big;
	int status = -1;

	memset(&req, 0, sizeof(req));
	int i = parse_options(argc, argv, &sock);
	if (i < 0)
		return -i - 1;
	size_t c = 0;
	while (c < sizeof(commands) / sizeof(commands[0]) && strcmp(argv[i], commands[c].name))
		c++;
	if (c == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "svcctl: unknown command \"%s\"\n", argv[i]);
		usage(stderr);
		return 2;
	}
	status = commands[c].build(&req, argc - i, argv + i);
	if (status >= 0)
		return status;
	char *line = localapi_request_format(&req, &too_big);
	free(req.document);
	if (!line) {
		fprintf(stderr, "svcctl: %s\n",
		        too_big ? "request too large for the local API (limit 1 MiB)"
		                : "out of memory");
		return 1;
	}
	status = exchange(sock, line);
	free(line);
	return status;
}
