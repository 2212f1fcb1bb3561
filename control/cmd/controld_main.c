/* controld: the coordination server as a real process: the epoll backend,
 * the map port and the admin API on the underlay, state in a JSON file.
 * SIGINT/SIGTERM (via a signalfd) stop it cleanly. */
#define _GNU_SOURCE
#include "control/control.h"
#include "lib/base/numarg.h"
#include "lib/base/outfile.h"
#include "lib/io/io_epoll.h"
#include "lib/io/storage.h"
#include "lib/wire/localapi.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define CONTROLD_MAX_FILE_BYTES  (4u << 20) /* --users, --policy, --region-latency */
#define CONTROLD_UNKNOWN_LATENCY 1000000    /* us, between regions the file omits */

struct app {
	struct io_loop *loop;
	struct io *io;
	struct control *c;
	struct storage *storage; /* the state file's backend (--state) */
	int sig_fd;
	bool stop;
	struct outfile events_out; /* --events: remembers why a write failed */
	bool events_reported;
	cJSON *latency;
	struct control_user *users;
	size_t n_users;
	cJSON *users_doc;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: controld [--listen IP] [--map-port N] [--admin-port N] [--state FILE]\n"
	           "                [--tailnet SUFFIX] [--users FILE] [--policy FILE]\n"
	           "                [--events FILE|-] [--region-latency FILE] [--name NAME]\n"
	           "  --listen          underlay address for both ports (default 0.0.0.0)\n"
	           "  --map-port        map sessions (default 8301)\n"
	           "  --admin-port      admin HTTP API (default 8300)\n"
	           "  --state           JSON state file (loaded at start, rewritten on change;\n"
	           "                    created 0600: it holds the CA key and every token)\n"
	           "  --tailnet         MagicDNS suffix (default example.ts.net)\n"
	           "  --users           JSON {\"login\": {\"role\":\"admin\",\"token\":\"...\",\n"
	           "                    \"display_name\":\"...\"}} (first start only)\n"
	           "  --policy          HuJSON policy (first start only)\n"
	           "  --events          write JSON-line events to FILE, or - for stdout\n"
	           "  --region-latency  JSON {\"us-east\": {\"eu-west\": 40000}} one-way us\n");
}

static cJSON *read_json(const char *what, const char *path)
{
	size_t len;
	char *text = localapi_read_file(path, CONTROLD_MAX_FILE_BYTES, &len);
	cJSON *doc;

	if (!text) {
		fprintf(stderr, "controld: %s %s: %s\n", what, path, strerror(errno));
		return NULL;
	}
	doc = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(doc)) {
		fprintf(stderr, "controld: %s %s: not a JSON object\n", what, path);
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

static uint64_t latency_fn(void *ctx, const char *a, const char *b)
{
	const cJSON *doc = ctx;

	if (strcmp(a, b) == 0)
		return 0;
	for (int k = 0; k < 2; k++) {
		const cJSON *row = cJSON_GetObjectItemCaseSensitive(doc, k ? b : a);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, k ? a : b);
		if (cJSON_IsNumber(v) && v->valuedouble >= 0)
			return (uint64_t)v->valuedouble;
	}
	return CONTROLD_UNKNOWN_LATENCY;
}

/* {"login": {"role", "token", "display_name"}} into app->users. */
static int load_users(struct app *app, const char *path)
{
	const cJSON *u;

	app->users_doc = read_json("--users", path);
	if (!app->users_doc)
		return -1;
	size_t n = (size_t)cJSON_GetArraySize(app->users_doc);
	app->users = calloc(n + 1, sizeof(*app->users));
	if (!app->users)
		return -1;
	cJSON_ArrayForEach(u, app->users_doc)
	{
		const char *role =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u, "role"));
		if (!cJSON_IsObject(u) || !role) {
			fprintf(stderr, "controld: --users %s: \"%s\" needs {\"role\": ...}\n",
			        path, u->string);
			return -1;
		}
		app->users[app->n_users++] = (struct control_user){
		    .login = u->string,
		    .role = role,
		    .token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u, "token")),
		    .display_name =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u, "display_name")),
		};
	}
	return 0;
}

static void sig_fd_fn(void *ctx, int fd, uint32_t events)
{
	struct app *app = ctx;
	struct signalfd_siginfo si;
	(void)events;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		app->stop = true;
}

/* Says once, on stderr, that the events file cannot be written (a full
 * disk: the daemon keeps serving, its events are lost). True when it
 * could not. */
static bool events_check(struct app *app, const char *path)
{
	int err = app->events_out.err;

	if (err && !app->events_reported) {
		fprintf(stderr, "controld: --events %s: %s (events are being lost)\n", path,
		        strerror(-err));
		app->events_reported = true;
	}
	return err != 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_LISTEN = 1,
		OPT_MAP_PORT,
		OPT_ADMIN_PORT,
		OPT_STATE,
		OPT_TAILNET,
		OPT_USERS,
		OPT_POLICY,
		OPT_EVENTS,
		OPT_LATENCY,
		OPT_NAME,
		OPT_HELP,
	};
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"map-port", required_argument, NULL, OPT_MAP_PORT},
	    {"admin-port", required_argument, NULL, OPT_ADMIN_PORT},
	    {"state", required_argument, NULL, OPT_STATE},
	    {"tailnet", required_argument, NULL, OPT_TAILNET},
	    {"users", required_argument, NULL, OPT_USERS},
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {"events", required_argument, NULL, OPT_EVENTS},
	    {"region-latency", required_argument, NULL, OPT_LATENCY},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *listen = NULL, *users = NULL, *policy = NULL, *events_path = NULL;
	const char *latency = NULL, *name = "control";
	struct control_config cfg = {0};
	struct app app;
	char err[512] = "";
	char *policy_text = NULL;
	FILE *events = NULL;
	int c, rc, status = 1;

	memset(&app, 0, sizeof(app));
	app.sig_fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			listen = optarg;
			break;
		case OPT_MAP_PORT:
		case OPT_ADMIN_PORT:
			if (numarg_port(optarg, c == OPT_MAP_PORT ? &cfg.map_port : &cfg.admin_port,
			                err, sizeof(err)) < 0) {
				fprintf(stderr, "controld: bad %s \"%s\": %s\n",
				        c == OPT_MAP_PORT ? "--map-port" : "--admin-port", optarg,
				        err);
				usage(stderr);
				return 2;
			}
			break;
		case OPT_STATE:
			cfg.state_path = optarg;
			break;
		case OPT_TAILNET:
			cfg.tailnet = optarg;
			break;
		case OPT_USERS:
			users = optarg;
			break;
		case OPT_POLICY:
			policy = optarg;
			break;
		case OPT_EVENTS:
			events_path = optarg;
			break;
		case OPT_LATENCY:
			latency = optarg;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "controld: unknown or incomplete option \"%s\"\n",
			        argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "controld: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (listen && io_addr_parse(&cfg.listen, listen, 0) < 0) {
		fprintf(stderr, "controld: bad --listen \"%s\" (want an IP address)\n", listen);
		usage(stderr);
		return 2;
	}
	if (users && load_users(&app, users) < 0)
		goto out;
	if (policy) {
		size_t len;
		policy_text = localapi_read_file(policy, CONTROLD_MAX_FILE_BYTES, &len);
		if (!policy_text) {
			fprintf(stderr, "controld: --policy %s: %s\n", policy, strerror(errno));
			goto out;
		}
	}
	if (latency) {
		app.latency = read_json("--region-latency", latency);
		if (!app.latency)
			goto out;
	}
	if (events_path) {
		events = outfile_open(&app.events_out, events_path, true);
		if (!events) {
			fprintf(stderr, "controld: --events %s: %s\n", events_path,
			        strerror(errno));
			goto out;
		}
		setvbuf(events, NULL, _IOLBF, 0);
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	app.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	app.loop = io_loop_new();
	if (!app.loop || app.sig_fd < 0) {
		fprintf(stderr, "controld: event loop: %s\n", strerror(errno));
		goto out;
	}
	const struct io_epoll_config ec = {
	    .node_name = name, .events = events, .max_handles = IO_EPOLL_MAX_HANDLES};
	app.io = io_epoll_new(app.loop, &ec, &rc);
	if (!app.io) {
		fprintf(stderr, "controld: event loop: %s\n", strerror(-rc));
		goto out;
	}
	cfg.name = name;
	cfg.users = app.users;
	cfg.n_users = app.n_users;
	cfg.policy_text = policy_text;
	if (app.latency) {
		cfg.latency_fn = latency_fn;
		cfg.latency_ctx = app.latency;
	}
	if (cfg.state_path) {
		rc = storage_file_new(&app.storage);
		if (rc < 0) {
			fprintf(stderr, "controld: storage: %s\n", strerror(-rc));
			goto out;
		}
		cfg.storage = app.storage;
	}
	cfg.err = err;
	cfg.err_len = sizeof(err);
	rc = control_new(&app.c, app.io, &cfg);
	if (rc < 0) {
		fprintf(stderr, "controld: %s\n", err[0] ? err : strerror(-rc));
		goto out;
	}
	if (io_loop_watch_fd(app.loop, app.sig_fd, EPOLLIN, sig_fd_fn, &app) < 0) {
		fprintf(stderr, "controld: event loop: cannot watch the signal fd\n");
		goto out;
	}
	while (!app.stop) {
		rc = io_loop_run_once(app.loop, 1000);
		if (events)
			events_check(&app, events_path);
		if (rc < 0) {
			fprintf(stderr, "controld: event loop: %s\n", strerror(-rc));
			goto out;
		}
	}
	status = 0;
out:
	if (app.c) {
		io_emitf(app.io, "control_stopping", "\"reason\":\"%s\"",
		         app.stop ? "signal" : "error");
		/* Node-driven changes still coalescing are saved on the way out. */
		if (cfg.state_path)
			control_save_state(app.c);
		control_free(app.c);
	}
	if (app.io)
		io_epoll_free(app.io);
	if (app.sig_fd >= 0) {
		if (app.loop)
			io_loop_unwatch_fd(app.loop, app.sig_fd);
		close(app.sig_fd);
	}
	if (app.loop)
		io_loop_free(app.loop);
	storage_file_free(app.storage);
	if (events) {
		outfile_close(&app.events_out, events);
		if (events_check(&app, events_path))
			status = 1;
	}
	free(policy_text);
	free(app.users);
	cJSON_Delete(app.users_doc);
	cJSON_Delete(app.latency);
	return status;
}
