/* A throwaway PostgreSQL server for the real-database tests (SPEC L4-3):
 * Debian's server binaries (package postgresql-15, or any
 * /usr/lib/postgresql/<version>/bin), a fresh cluster in a temp dir
 * (initdb, trust auth), listening on 127.0.0.1 on a free port with its unix
 * socket in the temp dir, run as the `postgres` user when the test runs as
 * root (the server refuses root). pg_server_stop stops it and removes the
 * directory. Real mode only. */
#ifndef TESTS_SUPPORT_PG_FIXTURE_H
#define TESTS_SUPPORT_PG_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PG_FIXTURE_PATH_MAX 256

struct pg_server {
	char bindir[PG_FIXTURE_PATH_MAX / 2]; /* initdb, pg_ctl, postgres */
	char psql[PG_FIXTURE_PATH_MAX];       /* the client */
	char dir[PG_FIXTURE_PATH_MAX / 4];    /* temp dir: data/, log, socket */
	uint16_t port;                        /* on 127.0.0.1 */
	uid_t uid;                            /* who runs the server */
	gid_t gid;
	bool started;
};

/* Finds the binaries, makes the cluster and starts the server. Returns 0,
 * 1 when this machine cannot (no PostgreSQL installed, no `postgres` user
 * as root) with *skip_reason set, or -1 on a failure (details on stderr;
 * the server log is printed). */
int pg_server_start(struct pg_server *pg, const char **skip_reason);
/* Stops the server (fast shutdown) and removes the temp dir. Idempotent. */
void pg_server_stop(struct pg_server *pg);

/* A free TCP port on 127.0.0.1 right now (0 on failure). */
uint16_t pg_free_port(void);

/* Starts `argv` (argv[0] a path) as a child with stdout and stderr sent to
 * `out_path` (NULL: inherit), as uid/gid unless they are (uid_t)-1.
 * Returns the pid, or -1. */
pid_t pg_spawn(char *const argv[], const char *out_path, uid_t uid, gid_t gid);
/* Runs argv to completion; returns its exit status (0..255), or -1. */
int pg_run(char *const argv[], const char *out_path, uid_t uid, gid_t gid);

/* Copies a file to stderr under a "---- path" header, for a failing test's
 * diagnosis; a file that cannot be opened prints nothing. */
void pg_print_file(const char *path);

#endif
