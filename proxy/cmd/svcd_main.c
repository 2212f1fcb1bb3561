/* svcd: the node daemon as a real process: the epoll backend, a real TUN
 * device, real UDP on the underlay, and the local API on a Unix socket
 * (lib/wire/localapi.h) served from the same loop. SIGINT/SIGTERM (via a
 * signalfd) stop it cleanly: proxies closed, TUN addresses removed. */
#define _GNU_SOURCE
#include "lib/base/numarg.h"
#include "lib/base/outfile.h"
#include "lib/io/io_epoll.h"
#include "lib/wire/localapi.h"
#include "lib/wire/mapproto.h"
#include "proxy/localapi_server.h"
#include "proxy/svcd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SVCD_MAIN_DEFAULT_SOCKET "/run/svcd.sock"
#define SVCD_MAIN_DEFAULT_TUN    "svcd0"
#define SVCD_MAX_FILE_BYTES      (64u << 20) /* --netmap file */
#define SVCD_MAIN_MAX_TAGS       32          /* --tag, repeated */
/* --drain-grace: 0 would mean "the default" to svcd_new, and a grace
 * past an hour is a typo more likely than a plan. */
#define SVCD_MAIN_MIN_GRACE_US 1000ull
#define SVCD_MAIN_MAX_GRACE_US (3600ull * 1000000)

struct app {
	struct io_loop *loop;
	struct io *io;
	struct svcd *d;
	int listen_fd, sig_fd;
	bool stop;
	struct outfile events_out; /* --events: remembers why a write failed */
	bool events_reported;
	struct localapi_server *api;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: svcd --name NAME --underlay ADDR[:PORT] [--tun NAME] [--socket PATH]\n"
	    "            [--netmap FILE] [--events FILE|-] [--cert FILE --key FILE]\n"
	    "            [--tailnet-pcap FILE] [--drain-grace DURATION]\n"
	    "            [--control IP[:PORT] [--region NAME] [--user LOGIN] [--tag TAG]...]\n"
	    "            [--magic-dns]\n"
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

static void sig_fd_fn(void *ctx, int fd, uint32_t events)
{
	struct app *app = ctx;
	struct signalfd_siginfo si;
	(void)events;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		app->stop = true;
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

/* Says once, on stderr, that the events file cannot be written (a full
 * disk: the daemon keeps serving, its events are lost). True when it
 * could not. */
static bool events_check(struct app *app, const char *path)
{
	int err = app->events_out.err;

	if (err && !app->events_reported) {
		fprintf(stderr, "svcd: --events %s: %s (events are being lost)\n", path,
		        strerror(-err));
		app->events_reported = true;
	}
	return err != 0;
}

int main(int argc, char **argv)
{
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
		OPT_HELP,
	};
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
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *underlay = NULL, *tun = SVCD_MAIN_DEFAULT_TUN;
	const char *sock_path = SVCD_MAIN_DEFAULT_SOCKET, *netmap_path = NULL, *events_path = NULL;
	const char *cert = NULL, *key = NULL, *pcap = NULL;
	uint64_t grace_us = 0;
	const char *tags[SVCD_MAIN_MAX_TAGS];
	size_t n_tags = 0;
	struct io_addr control;
	bool have_control = false;
	struct svcd_config cfg = {0};
	struct app app;
	char err[512];
	int c, rc, status = 1;
	FILE *events = NULL;

	memset(&app, 0, sizeof(app));
	app.listen_fd = app.sig_fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_NAME:
			name = optarg;
			break;
		case OPT_UNDERLAY:
			underlay = optarg;
			break;
		case OPT_TUN:
			tun = optarg;
			break;
		case OPT_SOCKET:
			sock_path = optarg;
			break;
		case OPT_NETMAP:
			netmap_path = optarg;
			break;
		case OPT_EVENTS:
			events_path = optarg;
			break;
		case OPT_CERT:
			cert = optarg;
			break;
		case OPT_KEY:
			key = optarg;
			break;
		case OPT_PCAP:
			pcap = optarg;
			break;
		case OPT_GRACE:
			if (numarg_duration_us(optarg, SVCD_MAIN_MIN_GRACE_US,
			                       SVCD_MAIN_MAX_GRACE_US, &grace_us, err,
			                       sizeof(err)) < 0) {
				fprintf(stderr, "svcd: bad --drain-grace \"%s\": %s\n", optarg,
				        err);
				usage(stderr);
				return 2;
			}
			break;
		case OPT_CONTROL:
			if (io_addr_parse(&control, optarg, MAPPROTO_DEFAULT_PORT) < 0 ||
			    control.port == 0) {
				fprintf(stderr, "svcd: bad --control \"%s\" (want IP or IP:PORT)\n",
				        optarg);
				usage(stderr);
				return 2;
			}
			have_control = true;
			break;
		case OPT_REGION:
			cfg.region = optarg;
			break;
		case OPT_USER:
			cfg.user = optarg;
			break;
		case OPT_TAG:
			if (n_tags == SVCD_MAIN_MAX_TAGS || strncmp(optarg, "tag:", 4) != 0) {
				fprintf(stderr,
				        "svcd: bad --tag \"%s\" (want tag:NAME, at most %d tags)\n",
				        optarg, SVCD_MAIN_MAX_TAGS);
				usage(stderr);
				return 2;
			}
			tags[n_tags++] = optarg;
			break;
		case OPT_MAGIC_DNS:
			cfg.magic_dns = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "svcd: unknown or incomplete option \"%s\"\n",
			        argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "svcd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!name || !underlay) {
		fprintf(stderr, "svcd: --name and --underlay are required\n");
		usage(stderr);
		return 2;
	}
	if (!have_control && (cfg.region || cfg.user || n_tags)) {
		fprintf(stderr, "svcd: --region, --user and --tag go with --control\n");
		usage(stderr);
		return 2;
	}
	if (!cert != !key) {
		fprintf(stderr, "svcd: --cert and --key go together\n");
		usage(stderr);
		return 2;
	}
	if (io_addr_parse(&cfg.underlay, underlay, 0) < 0) {
		fprintf(stderr, "svcd: bad --underlay \"%s\" (want ADDR or ADDR:PORT)\n", underlay);
		usage(stderr);
		return 2;
	}
	if (events_path) {
		events = outfile_open(&app.events_out, events_path, true);
		if (!events) {
			fprintf(stderr, "svcd: --events %s: %s\n", events_path, strerror(errno));
			return 1;
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
		fprintf(stderr, "svcd: event loop: %s\n", strerror(errno));
		goto out;
	}
	const struct io_epoll_config ec = {.node_name = name, .tun_name = tun, .events = events};
	app.io = io_epoll_new(app.loop, &ec, &rc);
	if (!app.io) {
		fprintf(stderr, "svcd: TUN device %s: %s%s\n", tun, strerror(-rc),
		        rc == -EPERM || rc == -EACCES ? " (needs CAP_NET_ADMIN)" : "");
		goto out;
	}
	cfg.name = name;
	cfg.tailnet_pcap = pcap;
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.drain_grace_us = grace_us;
	cfg.os_entropy = true;
	if (have_control) {
		cfg.control = &control;
		cfg.tags = tags;
		cfg.n_tags = n_tags;
	}
	err[0] = '\0';
	cfg.err = err;
	cfg.err_len = sizeof(err);
	rc = svcd_new(&app.d, app.io, &cfg);
	if (rc < 0) {
		fprintf(stderr, "svcd: %s\n", err[0] ? err : strerror(-rc));
		goto out;
	}
	if (netmap_path) {
		size_t len;
		char *doc = localapi_read_file(netmap_path, SVCD_MAX_FILE_BYTES, &len);
		if (!doc) {
			fprintf(stderr, "svcd: --netmap %s: %s\n", netmap_path, strerror(errno));
			goto out;
		}
		rc = svcd_set_netmap_json(app.d, doc, len, err, sizeof(err));
		free(doc);
		if (rc < 0) {
			fprintf(stderr, "svcd: --netmap %s: %s\n", netmap_path, err);
			goto out;
		}
	}
	app.listen_fd = api_listen(sock_path);
	if (app.listen_fd < 0)
		goto out;
	const struct localapi_server_config ac = {.loop = app.loop,
	                                          .io = app.io,
	                                          .listen_fd = app.listen_fd,
	                                          .handle = api_handle,
	                                          .ctx = &app};
	if (localapi_server_new(&app.api, &ac) < 0 ||
	    io_loop_watch_fd(app.loop, app.sig_fd, EPOLLIN, sig_fd_fn, &app) < 0) {
		fprintf(stderr, "svcd: event loop: cannot watch fds\n");
		goto out;
	}
	io_emitf(app.io, "svcd_ready", "\"socket\":\"%s\"", sock_path);
	while (!app.stop) {
		rc = io_loop_run_once(app.loop, 1000);
		if (events)
			events_check(&app, events_path);
		if (rc < 0) {
			fprintf(stderr, "svcd: event loop: %s\n", strerror(-rc));
			goto out;
		}
	}
	status = 0;
out:
	localapi_server_free(app.api);
	if (app.listen_fd >= 0) {
		close(app.listen_fd);
		unlink(sock_path);
	}
	if (app.d) {
		io_emitf(app.io, "svcd_stopping", "\"reason\":\"%s\"",
		         app.stop ? "signal" : "error");
		svcd_free(app.d);
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
	if (events) {
		outfile_close(&app.events_out, events);
		if (events_check(&app, events_path))
			status = 1;
	}
	return status;
}
