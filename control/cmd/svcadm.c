/* svcadm: the admin CLI of the coordination server. It checks the command
 * grammar locally (control/admin_cmd.h), sends it to the admin API and
 * prints the JSON answer; exit 0 when it succeeded, 1 when control refused
 * (the message on stderr) or could not be reached, 2 on bad usage.
 *
 *   svcadm --control http://IP:PORT [--token T] COMMAND WORDS...
 *
 * The token may also come from $SVCADM_TOKEN. `set-policy FILE` reads the
 * file here and PUTs its text to /api/policy; every other command is
 * POSTed to /api/command as {"line": ...}.
 */
#define _GNU_SOURCE
#include "control/admin_cmd.h"
#include "lib/base/buf.h"
#include "lib/base/numarg.h"
#include "lib/wire/localapi.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SVCADM_TIMEOUT_MS 30000
#define SVCADM_MAX_REPLY  (64u << 20)
#define SVCADM_MAX_POLICY (1u << 20)
#define SVCADM_MAX_HOST   256
#define SVCADM_READ_CHUNK 65536 /* room made for each read of the answer */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: svcadm --control http://IP:PORT [--token TOKEN] COMMAND...\n"
	        "commands:\n"
	        "  define svc:X [--ports=tcp:443,tcp:80] [--tags=tag:a,tag:b] "
	        "[--description=TEXT]\n"
	        "  delete svc:X\n"
	        "  approve|reject|revoke svc:X NODE\n"
	        "  set-tags NODE TAG...     the node's tags from then on (not its own claim)\n"
	        "  set-policy FILE\n"
	        "  services | service svc:X | nodes | policy\n"
	        "  authkey create [--reusable] [--expiry 24h] [--tags tag:a,tag:b]\n"
	        "                           a key for a new node, shown once (default: one-off,\n"
	        "                           never expires, untagged)\n"
	        "  authkeys                 the auth keys (never their secrets)\n"
	        "  authkey revoke ID\n"
	        "  node revoke NODE         revoke the node's key: its session ends, no peer\n"
	        "                           keeps it, and it may not reconnect\n"
	        "  ca                       the tailnet CA certificate (PEM), for clients\n"
	        "The token may also come from $SVCADM_TOKEN.\n");
}

/* Appends `word` to the line, quoted when it holds blanks or quotes. */
static int append_word(char *line, size_t cap, size_t *len, const char *word)
{
	bool quote = word[0] == '\0' || strpbrk(word, " \t\"\\") != NULL;
	size_t n = *len;

	if (n && n + 1 < cap)
		line[n++] = ' ';
	if (quote && n + 1 < cap)
		line[n++] = '"';
	for (const char *p = word; *p; p++) {
		if (quote && (*p == '"' || *p == '\\') && n + 1 < cap)
			line[n++] = '\\';
		if (n + 1 < cap)
			line[n++] = *p;
	}
	if (quote && n + 1 < cap)
		line[n++] = '"';
	if (n + 1 >= cap)
		return -E2BIG;
	line[n] = '\0';
	*len = n;
	return 0;
}

/* "http://HOST:PORT[/]" into host and port. */
static int parse_url(const char *url, char *host, size_t host_len, char *port, size_t port_len)
{
	if (strncmp(url, "http://", 7) != 0)
		return -EINVAL;
	const char *h = url + 7, *end = h + strcspn(h, "/");
	const char *colon;

	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return -EINVAL;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if ((size_t)(rb - h - 1) >= host_len)
			return -EINVAL;
		memcpy(host, h + 1, (size_t)(rb - h - 1));
		host[rb - h - 1] = '\0';
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		const char *he = colon ? colon : end;
		if (he == h || (size_t)(he - h) >= host_len)
			return -EINVAL;
		memcpy(host, h, (size_t)(he - h));
		host[he - h] = '\0';
	}
	if (colon) {
		size_t pl = (size_t)(end - colon - 1);
		if (pl == 0 || pl >= port_len)
			return -EINVAL;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
	} else {
		snprintf(port, port_len, "8300");
	}
	if (*end && strcmp(end, "/") != 0)
		return -EINVAL;
	return 0;
}

/* A connected stream socket to host:port, or -1 (said on stderr). */
static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);

	if (rc != 0) {
		fprintf(stderr, "svcadm: %s:%s: %s\n", host, port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "svcadm: cannot reach control at %s:%s: %s\n", host, port,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Sends `head` then `body` whole: 0, or -1 (said on stderr). */
static int send_all(int fd, const char *head, size_t head_len, const char *body, size_t body_len)
{
	for (size_t off = 0, total = head_len + body_len; off < total;) {
		const char *p = off < head_len ? head + off : body + (off - head_len);
		size_t len = off < head_len ? head_len - off : total - off;
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "svcadm: sending to control: %s\n", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/* Reads until control closes (at most SVCADM_MAX_REPLY bytes, each wait at
 * most SVCADM_TIMEOUT_MS): 0, or -1 (said on stderr, but for no memory). */
static int read_all(int fd, struct buf *resp)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, SVCADM_TIMEOUT_MS);
		if (pr == 0) {
			fprintf(stderr, "svcadm: control did not answer within %d s\n",
			        SVCADM_TIMEOUT_MS / 1000);
			return -1;
		}
		if (pr < 0 && errno == EINTR)
			continue;
		if (buf_room(resp) < SVCADM_READ_CHUNK) {
			int rc = buf_reserve(resp, SVCADM_READ_CHUNK);
			if (rc == -E2BIG)
				fprintf(stderr, "svcadm: answer larger than %u bytes\n",
				        SVCADM_MAX_REPLY);
			if (rc < 0)
				return -1;
		}
		ssize_t r = recv(fd, resp->data + resp->len, buf_room(resp), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "svcadm: reading from control: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0)
			return 0;
		buf_commit(resp, (size_t)r);
	}
}

/* The status of an HTTP answer, with its body in *out (malloc'd); -1 when
 * it is not a whole HTTP answer (said on stderr) or memory runs out. */
static int reply_status(const struct buf *resp, char **out)
{
	const char *text = resp->data;
	uint64_t code = 0;

	if (!text || resp->len < 12 || strncmp(text, "HTTP/1.", 7) != 0) {
		fprintf(stderr, "svcadm: control's answer is not HTTP\n");
		return -1;
	}
	const char *sep = strstr(text, "\r\n\r\n");
	if (!sep) {
		fprintf(stderr, "svcadm: control's answer is cut short\n");
		return -1;
	}
	if (resp->len < 13 || (text[12] != ' ' && text[12] != '\r') ||
	    numarg_u64n(text + 9, 3, 100, 599, &code, NULL, 0) < 0) {
		fprintf(stderr, "svcadm: control's answer has no valid status code\n");
		return -1;
	}
	*out = strdup(sep + 4);
	return *out ? (int)code : -1;
}

/* One request to the admin API (Connection: close): the HTTP status with
 * the answer's body in *out, or -1 (said on stderr). */
static int http_call(const char *host, const char *port, const char *method, const char *path,
                     const char *token, const char *body, size_t body_len, char **out)
{
	struct buf resp = BUF_INIT(SVCADM_MAX_REPLY + SVCADM_READ_CHUNK);
	char *req = NULL;
	int status = -1;
	int fd = connect_to(host, port);

	if (fd < 0)
		return -1;
	int n = asprintf(&req,
	                 "%s %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
	                 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 method, path, host, port, token, body_len);
	if (n >= 0 && send_all(fd, req, (size_t)n, body, body_len) == 0 && read_all(fd, &resp) == 0)
		status = reply_status(&resp, out);
	if (n >= 0)
		free(req);
	close(fd);
	buf_free(&resp);
	return status;
}

/* What the command line names: control's address and the token. */
struct svcadm_target {
	const char *control, *token;
	char host[SVCADM_MAX_HOST], port[16];
};

/* Reads the options before the command into `t`; *first is the command's
 * first word. -1 to go on, or the exit status (0 after --help, 2 for bad
 * usage). */
static int parse_options(int argc, char **argv, struct svcadm_target *t, int *first)
{
	int i = 1;

	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
			t->control = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--control=", 10) == 0) {
			t->control = argv[i++] + 10;
		} else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
			t->token = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--token=", 8) == 0) {
			t->token = argv[i++] + 8;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "svcadm: unknown option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!t->control || i >= argc) {
		fprintf(stderr, "svcadm: %s\n",
		        !t->control ? "--control is required" : "no command");
		usage(stderr);
		return 2;
	}
	*first = i;
	return -1;
}

/* Checks the token and splits --control into host and port: 0, or 2
 * (bad usage, said on stderr). */
static int check_target(struct svcadm_target *t)
{
	char err[ADMIN_CMD_ERR_LEN];
	uint16_t port_num = 0;

	if (!t->token || !*t->token) {
		fprintf(stderr, "svcadm: no token (--token or $SVCADM_TOKEN)\n");
		return 2;
	}
	if (strpbrk(t->token, "\r\n")) {
		fprintf(stderr, "svcadm: the token holds a line break\n");
		return 2;
	}
	if (parse_url(t->control, t->host, sizeof(t->host), t->port, sizeof(t->port)) < 0) {
		fprintf(stderr, "svcadm: bad --control \"%s\" (want http://IP:PORT)\n", t->control);
		return 2;
	}
	/* getaddrinfo would take a service name, or wrap 65616 to 80. */
	if (numarg_port(t->port, &port_num, err, sizeof(err)) < 0) {
		fprintf(stderr, "svcadm: bad port \"%s\" in --control \"%s\": %s\n", t->port,
		        t->control, err);
		return 2;
	}
	return 0;
}

/* `svcadm ca`: not an admin command line, a plain read of the CA. */
static int fetch_ca(const struct svcadm_target *t)
{
	char *reply = NULL;
	int rc = 1;

	signal(SIGPIPE, SIG_IGN);
	int status = http_call(t->host, t->port, "GET", "/api/ca", t->token, NULL, 0, &reply);
	if (status == 200) {
		fputs(reply, stdout);
		rc = 0;
	} else if (status > 0) {
		fprintf(stderr, "svcadm: refused (HTTP %d): %s\n", status, reply);
	}
	free(reply);
	return status < 0 ? 1 : rc;
}

/* The words from argv[first] on as one command line (quoted where
 * needed): 0, or 2 when it is too long. */
static int join_words(int argc, char **argv, int first, char *line, size_t cap)
{
	size_t len = 0;

	line[0] = '\0';
	for (int i = first; i < argc; i++)
		if (append_word(line, cap, &len, argv[i]) < 0) {
			fprintf(stderr, "svcadm: command longer than %u bytes\n",
			        ADMIN_CMD_MAX_LINE);
			return 2;
		}
	return 0;
}

/* Sends a parsed command: set-policy PUTs the file's text (read here, on
 * the client: the host's file), any other is POSTed as {"line"}. The HTTP
 * status with *reply, or -1 (said on stderr). */
static int send_command(const struct svcadm_target *t, const struct admin_cmd *cmd,
                        const char *line, char **reply)
{
	int status;

	signal(SIGPIPE, SIG_IGN);
	if (cmd->kind == ADMIN_CMD_SET_POLICY) {
		size_t plen;
		char *text = localapi_read_file(cmd->file, SVCADM_MAX_POLICY, &plen);
		if (!text) {
			fprintf(stderr, "svcadm: set-policy %s: %s\n", cmd->file,
			        errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
			return -1;
		}
		status =
		    http_call(t->host, t->port, "PUT", "/api/policy", t->token, text, plen, reply);
		free(text);
		return status;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "line", line);
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body)
		return -1;
	status = http_call(t->host, t->port, "POST", "/api/command", t->token, body, strlen(body),
	                   reply);
	free(body);
	return status;
}

/* Prints control's answer: the JSON pretty on stdout (0, any 2xx), or the
 * refusal on stderr (1). */
static int print_answer(int status, const char *reply)
{
	cJSON *doc = cJSON_Parse(reply);
	int rc = 1;

	if (status >= 200 && status < 300) {
		char *pretty = doc ? cJSON_Print(doc) : NULL;
		printf("%s\n", pretty ? pretty : reply);
		free(pretty);
		rc = 0;
	} else {
		const char *msg =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "error"));
		fprintf(stderr, "svcadm: refused (HTTP %d): %s\n", status, msg ? msg : reply);
	}
	cJSON_Delete(doc);
	return rc;
}

int main(int argc, char **argv)
{
	struct svcadm_target t = {.token = getenv("SVCADM_TOKEN")};
	char line[ADMIN_CMD_MAX_LINE + 1], err[ADMIN_CMD_ERR_LEN];
	struct admin_cmd cmd;
	char *reply = NULL;
	int first = 0, rc;

	rc = parse_options(argc, argv, &t, &first);
	if (rc >= 0)
		return rc;
	rc = check_target(&t);
	if (rc)
		return rc;
	if (strcmp(argv[first], "ca") == 0 && first + 1 == argc)
		return fetch_ca(&t);
	rc = join_words(argc, argv, first, line, sizeof(line));
	if (rc)
		return rc;
	if (admin_cmd_parse(&cmd, line, err, sizeof(err)) < 0) {
		fprintf(stderr, "svcadm: %s\n", err);
		admin_cmd_free(&cmd);
		usage(stderr);
		return 2;
	}
	int status = send_command(&t, &cmd, line, &reply);
	admin_cmd_free(&cmd);
	rc = status < 0 ? 1 : print_answer(status, reply);
	free(reply);
	return rc;
}
