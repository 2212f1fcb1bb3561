/* svcd: the node daemon as a real process: the epoll backend, a real TUN
 * device, real UDP on the underlay, and the local API on a Unix socket
 * (lib/wire/localapi.h) served from the same loop. SIGINT/SIGTERM (via a
 * signalfd) stop it cleanly: proxies closed, TUN addresses removed. */
#define _GNU_SOURCE
#include "lib/base/errfmt.h"
#include "lib/base/numarg.h"
#include "lib/io/io_daemon.h"
#include "lib/io/storage.h"
#include "lib/wire/localapi.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/wg.h"
#include "proxy/localapi_server.h"
#include "proxy/svcd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SVCD_MAIN_DEFAULT_SOCKET "/run/svcd.sock"
#define SVCD_MAIN_DEFAULT_TUN    "svcd0"
#define SVCD_MAIN_DEFAULT_STATE  "/var/lib/svcd"
#define SVCD_NODE_KEY_FILE       "node.key"      /* in --state-dir: base64, 0600 */
#define SVCD_NEXT_KEY_FILE       "node.key.next" /* a rotation asked for, not yet recorded */
#define SVCD_NODE_KEY_MAX_BYTES  128
#define SVCD_MAX_FILE_BYTES      (64u << 20) /* --netmap file */
#define SVCD_MAIN_MAX_TAGS       32          /* --tag, repeated */
/* --drain-grace: 0 would mean "the default" to svcd_new, and a grace
 * past an hour is a typo more likely than a plan. */
#define SVCD_MAIN_MIN_GRACE_US 1000ull
#define SVCD_MAIN_MAX_GRACE_US (3600ull * 1000000)

/* The command line, as parsed. */
struct args {
	const char *name, *underlay, *tun, *sock_path, *netmap_path, *events_path;
	const char *cert, *key, *pcap;
	uint64_t grace_us;
	const char *tags[SVCD_MAIN_MAX_TAGS];
	size_t n_tags;
	struct io_addr control;
	bool have_control;
	const char *region, *user;
	bool magic_dns;
	const char *state_dir;
	const char *auth_key; /* as given: the key, or file:PATH */
	uint8_t control_key[WG_KEY_LEN];
	bool have_control_key;
};

/* The running process: the loop, the seam, the daemon, the local API. */
struct app {
	struct io_daemon dm; /* the loop, the seam, --events, the stop signals */
	struct svcd *d;
	int listen_fd;
	struct localapi_server *api;
	const char *sock_path;
	uint8_t node_key[WG_KEY_LEN]; /* secret: wiped at exit */
	uint8_t next_key[WG_KEY_LEN]; /* a rotation to resume (has_next) */
	bool has_next;
	const char *state_dir;
	char auth_key[128]; /* --auth-key's key, read; wiped at exit */
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: svcd --name NAME --underlay ADDR[:PORT] [--tun NAME] [--socket PATH]\n"
	    "            [--netmap FILE] [--events FILE|-] [--cert FILE --key FILE]\n"
	    "            [--tailnet-pcap FILE] [--drain-grace DURATION]\n"
	    "            [--control IP[:PORT] --control-key KEY [--state-dir DIR]\n"
	    "             [--auth-key KEY|file:PATH]\n"
	    "             [--region NAME] [--user LOGIN] [--tag TAG]...] [--magic-dns]\n"
	    "  --name          node name (events, messages)\n"
	    "  --underlay      underlay UDP address to listen on (port default 41641)\n"
	    "  --tun           TUN device to create (default " SVCD_MAIN_DEFAULT_TUN ")\n"
	    "  --socket        local API socket (default " SVCD_MAIN_DEFAULT_SOCKET ")\n"
	    "  --netmap        initial netmap (JSON)\n"
	    "  --events        write JSON-line events to FILE, or - for stdout\n"
	    "  --cert, --key   PEM certificate and key for HTTPS / TLS-terminated TCP\n"
	    "  --tailnet-pcap  write every packet crossing the TUN device to FILE\n"
	    "  --drain-grace   1ms to 1h, e.g. 5s, 500ms, 2m (default 5s); with --control, only\n"
	    "                  used while control is unreachable (listeners of a\n"
	    "                  draining service close when control confirms)\n"
	    "  --control       control's map address (port default 8301): the netmap,\n"
	    "                  approvals and certificates come from there\n"
	    "  --control-key   control's public key (base64, as control_ready reports it):\n"
	    "                  the map session refuses a control without it\n"
	    "  --state-dir     where the node key is kept (" SVCD_NODE_KEY_FILE ", made on first\n"
	    "                  start; default " SVCD_MAIN_DEFAULT_STATE ")\n"
	    "  --auth-key      the auth key to join control with (svcadm authkey create), or\n"
	    "                  file:PATH to read it from; needed until control knows the node\n"
	    "  --region        region reported to control\n"
	    "  --user          owner login reported to control (none: tagged node)\n"
	    "  --tag           node tag reported to control, e.g. tag:web (repeatable)\n"
	    "  --magic-dns     answer DNS for the tailnet on 100.100.100.100:53\n");
}

/* The local API's handler: one request line, one answer. */
static char *api_handle(void *ctx, const char *line, size_t len)
{
	struct app *app = ctx;

	return svcd_local_request(app->d, line, len);
}

static int api_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "svcd: --socket path too long (max %zu bytes)\n",
		        sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* A stale socket of a dead daemon is replaced; anything else is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "svcd: %s exists and is not a socket\n", path);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fprintf(stderr, "svcd: another daemon is listening on %s\n", path);
			close(probe);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		fprintf(stderr, "svcd: local API socket %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	chmod(path, 0600);
	return fd;
}

enum {
	OPT_NAME = 1,
	OPT_UNDERLAY,
	OPT_TUN,
	OPT_SOCKET,
	OPT_NETMAP,
	OPT_EVENTS,
	OPT_CERT,
	OPT_KEY,
	OPT_PCAP,
	OPT_GRACE,
	OPT_CONTROL,
	OPT_REGION,
	OPT_USER,
	OPT_TAG,
	OPT_MAGIC_DNS,
	OPT_CONTROL_KEY,
	OPT_STATE_DIR,
	OPT_AUTH_KEY,
	OPT_HELP,
};

/* A usage error: says why, shows the usage, and gives exit status 2. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	usage(stderr);
	return 2;
}

/* Takes one option into `a`. -1 to go on, else the exit status. */
static int parse_option(struct args *a, int c, const char *arg, const char *raw)
{
	char err[512];

	switch (c) {
	case OPT_NAME:
		a->name = arg;
		break;
	case OPT_UNDERLAY:
		a->underlay = arg;
		break;
	case OPT_TUN:
		a->tun = arg;
		break;
	case OPT_SOCKET:
		a->sock_path = arg;
		break;
	case OPT_NETMAP:
		a->netmap_path = arg;
		break;
	case OPT_EVENTS:
		a->events_path = arg;
		break;
	case OPT_CERT:
		a->cert = arg;
		break;
	case OPT_KEY:
		a->key = arg;
		break;
	case OPT_PCAP:
		a->pcap = arg;
		break;
	case OPT_GRACE:
		if (numarg_duration_us(arg, SVCD_MAIN_MIN_GRACE_US, SVCD_MAIN_MAX_GRACE_US,
		                       &a->grace_us, err, sizeof(err)) < 0)
			return usage_error("svcd: bad --drain-grace \"%s\": %s\n", arg, err);
		break;
	case OPT_CONTROL:
		if (io_addr_parse(&a->control, arg, MAPPROTO_DEFAULT_PORT) < 0 ||
		    a->control.port == 0)
			return usage_error("svcd: bad --control \"%s\" (want IP or IP:PORT)\n",
			                   arg);
		a->have_control = true;
		break;
	case OPT_REGION:
		a->region = arg;
		break;
	case OPT_USER:
		a->user = arg;
		break;
	case OPT_TAG:
		if (a->n_tags == SVCD_MAIN_MAX_TAGS || strncmp(arg, "tag:", 4) != 0)
			return usage_error(
			    "svcd: bad --tag \"%s\" (want tag:NAME, at most %d tags)\n", arg,
			    SVCD_MAIN_MAX_TAGS);
		a->tags[a->n_tags++] = arg;
		break;
	case OPT_MAGIC_DNS:
		a->magic_dns = true;
		break;
	case OPT_CONTROL_KEY:
		if (!wg_key_from_base64(a->control_key, arg))
			return usage_error(
			    "svcd: bad --control-key \"%.60s\" (want 44 characters of "
			    "base64, a 32-byte key)\n",
			    arg);
		a->have_control_key = true;
		break;
	case OPT_STATE_DIR:
		a->state_dir = arg;
		break;
	case OPT_AUTH_KEY:
		a->auth_key = arg;
		break;
	case OPT_HELP:
		usage(stdout);
		return 0;
	default:
		return usage_error("svcd: unknown or incomplete option \"%s\"\n", raw);
	}
	return -1;
}

/* Checks what no single option can: required ones, and pairs. -1 when the
 * command line holds together, else the exit status. */
static int check_args(const struct args *a, struct io_addr *underlay)
{
	if (!a->name || !a->underlay)
		return usage_error("svcd: --name and --underlay are required\n");
	if (!a->have_control &&
	    (a->region || a->user || a->n_tags || a->have_control_key || a->auth_key))
		return usage_error("svcd: --region, --user, --tag, --control-key and --auth-key go "
		                   "with --control\n");
	if (a->have_control && !a->have_control_key)
		return usage_error("svcd: --control needs --control-key (control's public key)\n");
	if (!a->cert != !a->key)
		return usage_error("svcd: --cert and --key go together\n");
	if (io_addr_parse(underlay, a->underlay, 0) < 0)
		return usage_error("svcd: bad --underlay \"%s\" (want ADDR or ADDR:PORT)\n",
		                   a->underlay);
	return -1;
}

/* Parses the command line into `a`. -1 to run, else the exit status. */
static int parse_args(int argc, char **argv, struct args *a, struct io_addr *underlay)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, OPT_NAME},
	    {"underlay", required_argument, NULL, OPT_UNDERLAY},
	    {"tun", required_argument, NULL, OPT_TUN},
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"netmap", required_argument, NULL, OPT_NETMAP},
	    {"events", required_argument, NULL, OPT_EVENTS},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"tailnet-pcap", required_argument, NULL, OPT_PCAP},
	    {"drain-grace", required_argument, NULL, OPT_GRACE},
	    {"control", required_argument, NULL, OPT_CONTROL},
	    {"region", required_argument, NULL, OPT_REGION},
	    {"user", required_argument, NULL, OPT_USER},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"magic-dns", no_argument, NULL, OPT_MAGIC_DNS},
	    {"control-key", required_argument, NULL, OPT_CONTROL_KEY},
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
	    {"auth-key", required_argument, NULL, OPT_AUTH_KEY},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c;

	a->tun = SVCD_MAIN_DEFAULT_TUN;
	a->sock_path = SVCD_MAIN_DEFAULT_SOCKET;
	a->state_dir = SVCD_MAIN_DEFAULT_STATE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int status = parse_option(a, c, optarg, argv[optind - 1]);
		if (status >= 0)
			return status;
	}
	if (optind < argc)
		return usage_error("svcd: unexpected argument \"%s\"\n", argv[optind]);
	return check_args(a, underlay);
}

/* One key file in the state directory (base64 of the 32 secret bytes and
 * a newline, written 0600 through the storage seam: atomic and durable).
 * 0, -ENOENT (none yet), or -errno with err. */
static int key_file_read(const char *dir, const char *name, uint8_t key[WG_KEY_LEN], char *err,
                         size_t err_len)
{
	char path[4096], *text = NULL;
	struct storage *st = NULL;
	size_t len = 0;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return err_setf(err, err_len, -ENAMETOOLONG, "--state-dir too long");
	rc = storage_file_new(&st);
	if (rc == 0)
		rc = st->ops->read(st, path, SVCD_NODE_KEY_MAX_BYTES, &text, &len, err, err_len);
	if (rc == 0) {
		text[strcspn(text, "\n")] = '\0';
		if (!wg_key_from_base64(key, text))
			rc = err_setf(err, err_len, -EINVAL, "%.400s: not a base64 key of 32 bytes",
			              path);
		OPENSSL_cleanse(text, len);
	}
	free(text);
	storage_file_free(st);
	return rc;
}

static int key_file_write(const char *dir, const char *name, const uint8_t key[WG_KEY_LEN],
                          char *err, size_t err_len)
{
	char path[4096], b64[WG_KEY_BASE64_LEN + 2];
	struct storage *st = NULL;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return err_setf(err, err_len, -ENAMETOOLONG, "--state-dir too long");
	wg_key_to_base64(b64, key);
	strcat(b64, "\n");
	rc = storage_file_new(&st);
	if (rc == 0)
		rc = st->ops->write(st, path, b64, strlen(b64), err, err_len);
	OPENSSL_cleanse(b64, sizeof(b64));
	storage_file_free(st);
	return rc;
}

/* The node key from --state-dir, made (from the kernel's CSPRNG) and
 * stored 0600 on the first start; and a rotation a crash interrupted
 * (node.key.next differing from node.key), to ask again. 0 or -1 (said
 * why). */
static int load_node_key(struct app *app, const char *dir)
{
	char err[STORAGE_ERR_LEN] = "";
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "svcd: --state-dir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	app->state_dir = dir;
	rc = key_file_read(dir, SVCD_NODE_KEY_FILE, app->node_key, err, sizeof(err));
	if (rc == -ENOENT) {
		struct wg_keypair kp;
		app->dm.io->ops->random_secret(app->dm.io, app->node_key, WG_KEY_LEN);
		rc = wg_keypair_from_seed(&kp, app->node_key);
		memcpy(app->node_key, kp.priv, WG_KEY_LEN);
		OPENSSL_cleanse(&kp, sizeof(kp));
		if (rc == 0)
			rc = key_file_write(dir, SVCD_NODE_KEY_FILE, app->node_key, err,
			                    sizeof(err));
	}
	if (rc == 0) {
		int nrc = key_file_read(dir, SVCD_NEXT_KEY_FILE, app->next_key, err, sizeof(err));
		app->has_next =
		    nrc == 0 && CRYPTO_memcmp(app->next_key, app->node_key, WG_KEY_LEN) != 0;
		if (nrc < 0 && nrc != -ENOENT)
			rc = nrc;
	}
	if (rc < 0)
		fprintf(stderr, "svcd: node key: %s\n", err[0] ? err : strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* svcd_config.key_store: a rotation's key kept aside (next), then made the
 * node key once control recorded it. */
static int store_node_key(void *ctx, const uint8_t seed[32], bool next)
{
	struct app *app = ctx;
	char err[STORAGE_ERR_LEN] = "";
	int rc = key_file_write(app->state_dir, next ? SVCD_NEXT_KEY_FILE : SVCD_NODE_KEY_FILE,
	                        seed, err, sizeof(err));

	if (rc < 0)
		io_event(app->dm.io, "svcd_warning", IO_STR("what", "node key"),
		         IO_STR("error", err));
	else if (!next)
		memcpy(app->node_key, seed, WG_KEY_LEN);
	return rc;
}

/* --auth-key: the key itself, or file:PATH (so it stays out of `ps`). 0 or
 * -1 (said why). */
static int load_auth_key(struct app *app, const char *arg)
{
	char *text = NULL;
	size_t len = 0;

	if (strncmp(arg, "file:", 5) != 0) {
		len = strlen(arg);
	} else {
		text = localapi_read_file(arg + 5, sizeof(app->auth_key), &len);
		if (!text) {
			fprintf(stderr, "svcd: --auth-key %s: %s\n", arg, strerror(errno));
			return -1;
		}
		len = strcspn(text, "\r\n");
	}
	if (len == 0 || len >= sizeof(app->auth_key)) {
		fprintf(stderr, "svcd: --auth-key: want a key of 1-%zu characters\n",
		        sizeof(app->auth_key) - 1);
		free(text);
		return -1;
	}
	memcpy(app->auth_key, text ? text : arg, len);
	app->auth_key[len] = '\0';
	if (text)
		OPENSSL_cleanse(text, len);
	free(text);
	return 0;
}

/* The daemon on the seam. 0 or -1 (said why). */
static int start_daemon(struct app *app, const struct args *a, const struct io_addr *underlay)
{
	char err[512] = "";
	struct svcd_config cfg = {
	    .name = a->name,
	    .underlay = *underlay,
	    .tailnet_pcap = a->pcap,
	    .cert_file = a->cert,
	    .key_file = a->key,
	    .drain_grace_us = a->grace_us,
	    .os_entropy = true,
	    .region = a->region,
	    .user = a->user,
	    .magic_dns = a->magic_dns,
	    .err = err,
	    .err_len = sizeof(err),
	};
	if (a->have_control) {
		cfg.control = &a->control;
		cfg.tags = a->tags;
		cfg.n_tags = a->n_tags;
		cfg.node_key = app->node_key;
		cfg.control_key = a->control_key;
		cfg.auth_key = app->auth_key[0] ? app->auth_key : NULL;
		cfg.key_store = store_node_key;
		cfg.key_store_ctx = app;
		cfg.next_node_key = app->has_next ? app->next_key : NULL;
	}
	int rc = svcd_new(&app->d, app->dm.io, &cfg);
	if (rc < 0) {
		fprintf(stderr, "svcd: %s\n", err[0] ? err : strerror(-rc));
		return -1;
	}
	return 0;
}

/* Applies --netmap. 0 or -1 (said why). */
static int load_netmap(struct app *app, const char *path)
{
	char err[512];
	size_t len;
	char *doc = localapi_read_file(path, SVCD_MAX_FILE_BYTES, &len);

	if (!doc) {
		fprintf(stderr, "svcd: --netmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = svcd_set_netmap_json(app->d, doc, len, err, sizeof(err));
	free(doc);
	if (rc < 0) {
		fprintf(stderr, "svcd: --netmap %s: %s\n", path, err);
		return -1;
	}
	return 0;
}

/* The local API on its Unix socket, on the loop. 0 or -1 (said why). */
static int start_local_api(struct app *app, const char *sock_path)
{
	app->listen_fd = api_listen(sock_path);
	if (app->listen_fd < 0)
		return -1;
	const struct localapi_server_config ac = {.loop = app->dm.loop,
	                                          .io = app->dm.io,
	                                          .listen_fd = app->listen_fd,
	                                          .handle = api_handle,
	                                          .ctx = app};
	if (localapi_server_new(&app->api, &ac) < 0) {
		fprintf(stderr, "svcd: event loop: cannot watch fds\n");
		return -1;
	}
	return 0;
}

/* Undoes whatever of the above was done, in reverse. Returns `status`,
 * or 1 when the events file could not be written. */
static int shut_down(struct app *app, int status)
{
	localapi_server_free(app->api);
	if (app->listen_fd >= 0) {
		close(app->listen_fd);
		unlink(app->sock_path);
	}
	if (app->d) {
		io_event(app->dm.io, "svcd_stopping",
		         IO_STR("reason", app->dm.stop ? "signal" : "error"));
		svcd_free(app->d);
	}
	return io_daemon_close(&app->dm, status);
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct io_addr underlay;
	struct app app = {.listen_fd = -1};

	int status = parse_args(argc, argv, &a, &underlay);
	if (status >= 0)
		return status;
	io_daemon_init(&app.dm, "svcd");
	if (io_daemon_open_events(&app.dm, a.events_path) < 0)
		return 1;
	app.sock_path = a.sock_path;
	status = 1;
	const struct io_epoll_config ec = {.node_name = a.name, .tun_name = a.tun};
	if (io_daemon_open(&app.dm, &ec) == 0 &&
	    (!a.have_control || load_node_key(&app, a.state_dir) == 0) &&
	    (!a.auth_key || load_auth_key(&app, a.auth_key) == 0) &&
	    start_daemon(&app, &a, &underlay) == 0 &&
	    (!a.netmap_path || load_netmap(&app, a.netmap_path) == 0) &&
	    start_local_api(&app, a.sock_path) == 0) {
		char key[WG_KEY_BASE64_LEN + 1] = "";
		struct wg_keypair kp;
		if (a.have_control && wg_keypair_from_seed(&kp, app.node_key) == 0)
			wg_key_to_base64(key, kp.pub);
		OPENSSL_cleanse(&kp, sizeof(kp));
		io_event(app.dm.io, "svcd_ready", IO_STR("socket", app.sock_path),
		         IO_STR("node_key", key));
		status = io_daemon_run(&app.dm) == 0 ? 0 : 1;
	}
	status = shut_down(&app, status);
	OPENSSL_cleanse(app.node_key, sizeof(app.node_key));
	OPENSSL_cleanse(app.next_key, sizeof(app.next_key));
	OPENSSL_cleanse(app.auth_key, sizeof(app.auth_key));
	return status;
}
