/* controld: the coordination server as a real process: the epoll backend,
 * the map port and the admin API on the underlay, state in a JSON file.
 * SIGINT/SIGTERM (via a signalfd) stop it cleanly. */
#define _GNU_SOURCE
#include "control/control.h"
#include "lib/base/numarg.h"
#include "lib/io/io_daemon.h"
#include "lib/io/storage.h"
#include "lib/wire/localapi.h"
#include "lib/wire/wg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTROLD_MAX_FILE_BYTES  (4u << 20) /* --users, --policy, --region-latency */
#define CONTROLD_UNKNOWN_LATENCY 1000000    /* us, between regions the file omits */

/* What the command line says. */
struct options {
	const char *listen, *users, *policy, *events_path, *latency, *name, *key_file;
	struct control_config cfg; /* ports, state path, tailnet */
};

struct app {
	struct io_daemon dm; /* the loop, the seam, --events, the stop signals */
	struct control *c;
	struct storage *storage; /* the state file's backend (--state) */
	/* Host files read once at start-up (not through the storage: they
	 * are the operator's files, never written): --region-latency,
	 * --users and --policy. */
	cJSON *latency;
	struct control_user *users;
	size_t n_users;
	cJSON *users_doc;
	char *policy_text;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: controld [--listen IP] [--map-port N] [--admin-port N] [--state FILE]\n"
	           "                [--tailnet SUFFIX] [--users FILE] [--policy FILE]\n"
	           "                [--events FILE|-] [--region-latency FILE] [--name NAME]\n"
	           "                [--key-file FILE]\n"
	           "  --listen          underlay address for both ports (default 0.0.0.0)\n"
	           "  --map-port        map sessions (default 8301)\n"
	           "  --admin-port      admin HTTP API (default 8300)\n"
	           "  --state           JSON state file (loaded at start, rewritten on change;\n"
	           "                    created 0600: it holds the CA key; tokens and auth\n"
	           "                    keys only as SHA-256 hashes)\n"
	           "  --tailnet         MagicDNS suffix (default example.ts.net)\n"
	           "  --users           JSON {\"login\": {\"role\":\"admin\",\"token\":\"...\",\n"
	           "                    \"display_name\":\"...\"}} (first start only)\n"
	           "  --policy          HuJSON policy (first start only)\n"
	           "  --events          write JSON-line events to FILE, or - for stdout\n"
	           "  --region-latency  JSON {\"us-east\": {\"eu-west\": 40000}} one-way us\n"
	           "  --key-file        write control's public key (base64) there at start: the\n"
	           "                    key daemons pin (svcd --control-key); also in the\n"
	           "                    control_ready event\n");
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

/* Reads the command line into `o`: -1 to go on, or the exit status (0
 * after --help, 2 for bad usage, said on stderr). */
static int parse_options(int argc, char **argv, struct options *o)
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
		OPT_KEY_FILE,
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
	    {"key-file", required_argument, NULL, OPT_KEY_FILE},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	char err[512] = "";
	int c;

	o->name = "control";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case OPT_MAP_PORT:
		case OPT_ADMIN_PORT:
			if (numarg_port(optarg,
			                c == OPT_MAP_PORT ? &o->cfg.map_port : &o->cfg.admin_port,
			                err, sizeof(err)) < 0) {
				fprintf(stderr, "controld: bad %s \"%s\": %s\n",
				        c == OPT_MAP_PORT ? "--map-port" : "--admin-port", optarg,
				        err);
				usage(stderr);
				return 2;
			}
			break;
		case OPT_STATE:
			o->cfg.state_path = optarg;
			break;
		case OPT_TAILNET:
			o->cfg.tailnet = optarg;
			break;
		case OPT_USERS:
			o->users = optarg;
			break;
		case OPT_POLICY:
			o->policy = optarg;
			break;
		case OPT_EVENTS:
			o->events_path = optarg;
			break;
		case OPT_LATENCY:
			o->latency = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_KEY_FILE:
			o->key_file = optarg;
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
	if (o->listen && io_addr_parse(&o->cfg.listen, o->listen, 0) < 0) {
		fprintf(stderr, "controld: bad --listen \"%s\" (want an IP address)\n", o->listen);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Reads the start-up files the options name (--users, --policy,
 * --region-latency) and opens the --events file. 0 or -1 (said). */
static int load_inputs(struct app *app, const struct options *o)
{
	if (o->users && load_users(app, o->users) < 0)
		return -1;
	if (o->policy) {
		size_t len;
		app->policy_text = localapi_read_file(o->policy, CONTROLD_MAX_FILE_BYTES, &len);
		if (!app->policy_text) {
			fprintf(stderr, "controld: --policy %s: %s\n", o->policy, strerror(errno));
			return -1;
		}
	}
	if (o->latency) {
		app->latency = read_json("--region-latency", o->latency);
		if (!app->latency)
			return -1;
	}
	return io_daemon_open_events(&app->dm, o->events_path);
}

/* The stop signals, the event loop and the seam on it. 0 or -1 (said). */
static int open_loop(struct app *app, const struct options *o)
{
	const struct io_epoll_config ec = {.node_name = o->name,
	                                   .max_handles = IO_EPOLL_MAX_HANDLES};

	return io_daemon_open(&app->dm, &ec);
}

/* --key-file: control's public key, written atomically (durable before
 * any daemon reads it). 0 or -1 (said). */
static int write_key_file(struct app *app, const char *path)
{
	uint8_t pub[WG_KEY_LEN];
	char text[WG_KEY_BASE64_LEN + 2], err[STORAGE_ERR_LEN] = "";
	struct storage *st = app->storage;
	int rc = st ? 0 : storage_file_new(&st);

	control_public_key(app->c, pub);
	wg_key_to_base64(text, pub);
	strcat(text, "\n");
	if (rc == 0)
		rc = st->ops->write(st, path, text, strlen(text), err, sizeof(err));
	if (st != app->storage)
		storage_file_free(st);
	if (rc < 0)
		fprintf(stderr, "controld: --key-file %s\n", err[0] ? err : strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* The server on the seam, with the state file's storage. 0 or -1 (said). */
static int start_control(struct app *app, struct options *o)
{
	struct control_config *cfg = &o->cfg;
	char err[512] = "";
	int rc;

	cfg->name = o->name;
	cfg->users = app->users;
	cfg->n_users = app->n_users;
	cfg->policy_text = app->policy_text;
	if (app->latency) {
		cfg->latency_fn = latency_fn;
		cfg->latency_ctx = app->latency;
	}
	if (cfg->state_path) {
		rc = storage_file_new(&app->storage);
		if (rc < 0) {
			fprintf(stderr, "controld: storage: %s\n", strerror(-rc));
			return -1;
		}
		cfg->storage = app->storage;
	}
	cfg->err = err;
	cfg->err_len = sizeof(err);
	rc = control_new(&app->c, app->dm.io, cfg);
	cfg->err = NULL;
	cfg->err_len = 0;
	if (rc < 0) {
		fprintf(stderr, "controld: %s\n", err[0] ? err : strerror(-rc));
		return -1;
	}
	return o->key_file ? write_key_file(app, o->key_file) : 0;
}

/* Stops the server (saving node-driven changes still coalescing) and
 * frees everything; the exit status given `status`, 1 when events were
 * lost. */
static int shut_down(struct app *app, const struct options *o, int status)
{
	if (app->c) {
		io_event(app->dm.io, "control_stopping",
		         IO_STR("reason", app->dm.stop ? "signal" : "error"));
		if (o->cfg.state_path)
			control_save_state(app->c);
		control_free(app->c);
	}
	status = io_daemon_close(&app->dm, status);
	storage_file_free(app->storage);
	free(app->policy_text);
	free(app->users);
	cJSON_Delete(app->users_doc);
	cJSON_Delete(app->latency);
	return status;
}

int main(int argc, char **argv)
{
	struct options o;
	struct app app;
	int status = 1;

	memset(&o, 0, sizeof(o));
	memset(&app, 0, sizeof(app));
	io_daemon_init(&app.dm, "controld");
	int rc = parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (load_inputs(&app, &o) == 0 && open_loop(&app, &o) == 0 &&
	    start_control(&app, &o) == 0 && io_daemon_run(&app.dm) == 0)
		status = 0;
	return shut_down(&app, &o, status);
}
