/* See pg_fixture.h. Test support: talks to the OS directly. */
#define _GNU_SOURCE
#include "tests/support/pg_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

uint16_t pg_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	uint16_t port = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

pid_t pg_spawn(char *const argv[], const char *out_path, uid_t uid, gid_t gid)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* child */
	if (out_path) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
	}
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (gid != (gid_t)-1 && (setgroups(0, NULL) != 0 || setgid(gid) != 0))
		_exit(126);
	if (uid != (uid_t)-1 && setuid(uid) != 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

int pg_run(char *const argv[], const char *out_path, uid_t uid, gid_t gid)
{
	int status;
	pid_t pid = pg_spawn(argv, out_path, uid, gid);

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl. */
static bool pg_find_bindir(struct pg_server *pg)
{
	glob_t g;
	bool found = false;

	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
		return false;
	for (size_t i = g.gl_pathc; i > 0 && !found; i--) {
		char path[PG_FIXTURE_PATH_MAX];
		const char *initdb = g.gl_pathv[i - 1];
		size_t n = strlen(initdb) - strlen("/initdb");

		if (n + 16 >= sizeof(pg->bindir))
			continue;
		snprintf(pg->bindir, sizeof(pg->bindir), "%.*s", (int)n, initdb);
		snprintf(path, sizeof(path), "%s/pg_ctl", pg->bindir);
		if (access(path, X_OK) != 0)
			continue;
		snprintf(pg->psql, sizeof(pg->psql), "%s/psql", pg->bindir);
		if (access(pg->psql, X_OK) != 0)
			snprintf(pg->psql, sizeof(pg->psql), "/usr/bin/psql");
		found = access(pg->psql, X_OK) == 0;
	}
	globfree(&g);
	return found;
}

void pg_print_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s\n", path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

int pg_server_start(struct pg_server *pg, const char **skip_reason)
{
	char data[PG_FIXTURE_PATH_MAX], log[PG_FIXTURE_PATH_MAX], out[PG_FIXTURE_PATH_MAX];
	char tool[PG_FIXTURE_PATH_MAX], opts[PG_FIXTURE_PATH_MAX * 2];

	memset(pg, 0, sizeof(*pg));
	*skip_reason = NULL;
	pg->uid = (uid_t)-1;
	pg->gid = (gid_t)-1;
	if (!pg_find_bindir(pg)) {
		*skip_reason = "PostgreSQL is not installed (Debian package postgresql-15: "
		               "/usr/lib/postgresql/*/bin/initdb, pg_ctl, psql)";
		return 1;
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw) {
			*skip_reason = "running as root and there is no `postgres` user to run the "
			               "server as (PostgreSQL refuses root)";
			return 1;
		}
		pg->uid = pw->pw_uid;
		pg->gid = pw->pw_gid;
	}
	snprintf(pg->dir, sizeof(pg->dir), "/tmp/tailsim-pg-XXXXXX");
	if (!mkdtemp(pg->dir)) {
		perror("pg_fixture: mkdtemp");
		return -1;
	}
	if (pg->uid != (uid_t)-1 && chown(pg->dir, pg->uid, pg->gid) != 0) {
		perror("pg_fixture: chown");
		return -1;
	}
	pg->port = pg_free_port();
	if (!pg->port)
		return -1;
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(log, sizeof(log), "%s/log", pg->dir);
	snprintf(out, sizeof(out), "%s/initdb.out", pg->dir);

	snprintf(tool, sizeof(tool), "%s/initdb", pg->bindir);
	char *initdb[] = {tool,       "-D", data,   "-A",         "trust",     "-U",
	                  "postgres", "-E", "UTF8", "--locale=C", "--no-sync", NULL};
	if (pg_run(initdb, out, pg->uid, pg->gid) != 0) {
		fprintf(stderr, "pg_fixture: initdb failed\n");
		pg_print_file(out);
		return -1;
	}
	snprintf(tool, sizeof(tool), "%s/pg_ctl", pg->bindir);
	snprintf(opts, sizeof(opts),
	         "-c listen_addresses=127.0.0.1 -p %u -k %s -c fsync=off -c full_page_writes=off",
	         pg->port, pg->dir);
	char *start[] = {tool, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
	snprintf(out, sizeof(out), "%s/pg_ctl.out", pg->dir);
	if (pg_run(start, out, pg->uid, pg->gid) != 0) {
		fprintf(stderr, "pg_fixture: pg_ctl start failed\n");
		pg_print_file(out);
		pg_print_file(log);
		return -1;
	}
	pg->started = true;
	return 0;
}

void pg_server_stop(struct pg_server *pg)
{
	char data[PG_FIXTURE_PATH_MAX], tool[PG_FIXTURE_PATH_MAX];

	if (pg->started) {
		snprintf(data, sizeof(data), "%s/data", pg->dir);
		snprintf(tool, sizeof(tool), "%s/pg_ctl", pg->bindir);
		char *stop[] = {tool, "-D", data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
		if (pg_run(stop, "/dev/null", pg->uid, pg->gid) != 0)
			fprintf(stderr, "pg_fixture: pg_ctl stop failed\n");
		pg->started = false;
	}
	if (pg->dir[0]) {
		char *rm[] = {"/bin/rm", "-rf", pg->dir, NULL};
		if (pg_run(rm, NULL, (uid_t)-1, (gid_t)-1) != 0)
			fprintf(stderr, "pg_fixture: could not remove %s\n", pg->dir);
		pg->dir[0] = '\0';
	}
}
