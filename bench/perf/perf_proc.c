/* Running and measuring programs, and the environment (perf_proc.h). */
#define _GNU_SOURCE
#include "bench/perf/perf_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Set by CMake from the configuration this program was built with. */
#ifndef PERF_COMPILER
#define PERF_COMPILER ""
#endif
#ifndef PERF_CFLAGS
#define PERF_CFLAGS ""
#endif
#ifndef PERF_BUILD_TYPE
#define PERF_BUILD_TYPE ""
#endif
#ifndef PERF_NS3_VERSION
#define PERF_NS3_VERSION ""
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void redirect(const char *path, int fd, int flags)
{
	int f = open(path ? path : "/dev/null", flags, 0644);
	if (f < 0)
		_exit(126);
	dup2(f, fd);
	close(f);
}

/* The signals that stop perfrun: a child in its own process group does
 * not get the terminal's, so perfrun passes them on (reap). */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Starts argv in its own process group with the signal mask `mask`. */
static pid_t spawn(char *const argv[], const char *cwd, const char *out, const char *err,
                   int pipe_fd, const sigset_t *mask)
{
	pid_t pid = fork();
	if (pid != 0) {
		if (pid > 0)
			setpgid(pid, pid); /* also here: no window where a kill misses it */
		return pid;
	}
	setpgid(0, 0);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (cwd && chdir(cwd) != 0)
		_exit(126);
	redirect(NULL, 0, O_RDONLY);
	if (pipe_fd >= 0) {
		dup2(pipe_fd, 1);
		close(pipe_fd);
	} else {
		redirect(out, 1, O_WRONLY | O_CREAT | O_TRUNC);
	}
	if (err && out && pipe_fd < 0 && !strcmp(err, out))
		dup2(1, 2);
	else
		redirect(err, 2, O_WRONLY | O_CREAT | O_TRUNC);
	execvp(argv[0], argv);
	_exit(127);
}

/* Where a child's standard output goes while perfrun waits (perf_capture). */
struct capture {
	int fd; /* -1: none */
	char *buf;
	size_t cap, n;
};

/* Reads what the pipe has; false at its end. */
static bool capture_read(struct capture *c)
{
	char tmp[4096];
	ssize_t got = read(c->fd, tmp, sizeof(tmp));
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (got <= 0)
		return false;
	size_t keep = c->cap - 1 - c->n < (size_t)got ? c->cap - 1 - c->n : (size_t)got;
	memcpy(c->buf + c->n, tmp, keep);
	c->n += keep;
	return true;
}

/* How long a group told to stop (SIGTERM) has before SIGKILL: a perfrun
 * inside (bisect's steps under `git bisect run`) stops its own children
 * in that time. */
#define TERM_GRACE_MS 5000
/* How long output is still read after the group was killed. */
#define DRAIN_MS 2000

static bool exited_within(int pidfd, int ms)
{
	struct pollfd f = {.fd = pidfd, .events = POLLIN};
	int n;
	while ((n = poll(&f, 1, ms)) < 0 && errno == EINTR)
		;
	return n > 0;
}

/* Reads what the group's dead members left in the pipe, until its end or
 * DRAIN_MS (a writer outside the group could hold it open). */
static void capture_drain(struct capture *c)
{
	double until = now_s() + DRAIN_MS / 1000.0;
	while (c->fd >= 0) {
		struct pollfd f = {.fd = c->fd, .events = POLLIN};
		int left_ms = (int)((until - now_s()) * 1000);
		if (left_ms <= 0 || poll(&f, 1, left_ms) <= 0 || !capture_read(c))
			break;
	}
}

/* Waits for the group's leader (pidfd) with the stop signals blocked and
 * read from sfd: until it exits, limit_s passes (*timed_out) or a stop
 * signal comes (*caught); meanwhile reads cap's pipe. True when the
 * leader exited. */
static bool wait_leader(int pfd, int sfd, unsigned limit_s, double t0, struct capture *cap,
                        bool *timed_out, int *caught)
{
	for (;;) {
		struct pollfd fds[3] = {{.fd = pfd, .events = POLLIN},
		                        {.fd = sfd, .events = POLLIN},
		                        {.fd = cap ? cap->fd : -1, .events = POLLIN}};
		int left_ms = -1;
		if (limit_s) {
			double left = t0 + limit_s - now_s();
			left_ms = left > 0 ? (int)(left * 1000) + 1 : 0;
		}
		int n = poll(fds, 3, left_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*timed_out = n == 0;
			return false;
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				*caught = (int)si.ssi_signo;
			return false;
		}
		if (fds[2].revents && !capture_read(cap))
			cap->fd = -1; /* poll ignores a negative fd */
		if (fds[0].revents)
			return true;
	}
}

/* Waits for pid, the leader of its own group, with the stop signals
 * blocked (the caller blocked them before the fork, so none is lost).
 * When limit_s passes or a stop signal comes, the group gets SIGTERM and
 * TERM_GRACE_MS; then whatever is left of it (also after a normal exit:
 * what the program left running) gets SIGKILL. A stop signal that came is
 * re-raised at the end. Without pidfd or signalfd (an old kernel, a
 * sandbox) it waits as a plain parent would: no limit, signals as they
 * come. 0 when the program exited 0, 1 otherwise, -errno when it could not
 * be waited for. */
static int reap(pid_t pid, unsigned limit_s, struct capture *cap, const sigset_t *old_mask,
                struct perf_proc *p, double t0)
{
	sigset_t stop;
	stop_signals(&stop);
	int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
	int pfd = pidfd_open(pid, 0);
	bool timed_out = false;
	int caught = 0;

	if (pfd < 0 || sfd < 0) {
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		while (cap && cap->fd >= 0 && capture_read(cap))
			;
	} else {
		if (!wait_leader(pfd, sfd, limit_s, t0, cap, &timed_out, &caught)) {
			kill(-pid, SIGTERM);
			exited_within(pfd, TERM_GRACE_MS);
		}
		/* the leader is not reaped yet, so its pid still names its group */
		kill(-pid, SIGKILL);
		if (cap)
			capture_drain(cap);
	}
	struct rusage ru;
	int status = 0, rc;
	while ((rc = (int)wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		rc = -errno;
	if (pfd >= 0)
		close(pfd);
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	if (caught)
		raise(caught);
	if (rc < 0)
		return rc;
	if (p) {
		p->wall_s = now_s() - t0;
		p->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
		p->rss_kib = (uint64_t)ru.ru_maxrss;
		p->timed_out = timed_out;
		p->status = timed_out           ? PERF_TIMED_OUT
		            : WIFEXITED(status) ? WEXITSTATUS(status)
		                                : 128 + WTERMSIG(status);
	}
	return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* Starts argv with the stop signals blocked and waits for it (reap);
 * child_out, when not -1, becomes its standard output (and is closed
 * here). */
static int run(char *const argv[], const char *cwd, const char *out, const char *err,
               unsigned limit_s, int child_out, struct capture *cap, struct perf_proc *p)
{
	sigset_t stop, old;
	/* with SIGCHLD ignored (inherited from whoever started perfrun) the
	 * kernel would reap children itself and their pids could be reused
	 * under reap's kill */
	signal(SIGCHLD, SIG_DFL);
	stop_signals(&stop);
	sigprocmask(SIG_BLOCK, &stop, &old);
	double t0 = now_s();
	pid_t pid = spawn(argv, cwd, out, err, child_out, &old);
	int e = errno;
	if (child_out >= 0)
		close(child_out);
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -e;
	}
	return reap(pid, limit_s, cap, &old, p, t0);
}

int perf_proc_run(char *const argv[], const char *cwd, const char *out, const char *err,
                  unsigned limit_s, struct perf_proc *p)
{
	int rc = run(argv, cwd, out, err, limit_s, -1, NULL, p);
	return rc < 0 ? rc : 0;
}

int perf_capture(char *const argv[], const char *cwd, char *buf, size_t cap)
{
	int fds[2];

	buf[0] = '\0';
	/* close-on-exec: spawn's dup2 gives the child a plain stdout */
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	struct capture c = {.fd = fds[0], .buf = buf, .cap = cap};
	int rc = run(argv, cwd, NULL, NULL, PERF_LIMIT_TOOL_S, fds[1], &c, NULL);
	close(fds[0]);
	size_t n = c.n;
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return rc == 0 ? 0 : -1;
}

void perf_proc_how(const struct perf_proc *p, unsigned limit_s, char *out, size_t cap)
{
	if (p->timed_out)
		snprintf(out, cap, "timed out after %u s", limit_s);
	else if (p->status > 128)
		snprintf(out, cap, "was killed by signal %d", p->status - 128);
	else
		snprintf(out, cap, "exited %d", p->status);
}

static void cpu_model(char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, cap, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, cap, "%s", colon);
		break;
	}
	if (f)
		fclose(f);
}

void perf_env_fill(struct perf_env *env, const char *repo, const char *suite)
{
	char buf[256];
	struct utsname u;
	time_t t = time(NULL);
	struct tm tm;

	memset(env, 0, sizeof(*env));
	char *head[] = {"git", "-C", (char *)repo, "rev-parse", "HEAD", NULL};
	char *dirty[] = {"git", "-C", (char *)repo, "status", "--porcelain", "--untracked-files=no",
	                 NULL};
	char *when[] = {"git", "-C", (char *)repo, "show", "-s", "--format=%cI", "HEAD", NULL};
	if (perf_capture(head, NULL, buf, sizeof(buf)) == 0)
		snprintf(env->commit, sizeof(env->commit), "%.40s", buf);
	if (env->commit[0] && perf_capture(dirty, NULL, buf, sizeof(buf)) == 0 && buf[0])
		strncat(env->commit, "+dirty", sizeof(env->commit) - strlen(env->commit) - 1);
	if (perf_capture(when, NULL, buf, sizeof(buf)) == 0)
		snprintf(env->commit_time, sizeof(env->commit_time), "%.31s", buf);
	gmtime_r(&t, &tm);
	strftime(env->date, sizeof(env->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cpu_model(env->cpu, sizeof(env->cpu));
	env->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(env->kernel, sizeof(env->kernel), "%s %s %s", u.sysname, u.release,
		         u.machine);
	snprintf(env->compiler, sizeof(env->compiler), "%s", PERF_COMPILER);
	snprintf(env->cflags, sizeof(env->cflags), "%s", PERF_CFLAGS);
	snprintf(env->build_type, sizeof(env->build_type), "%s", PERF_BUILD_TYPE);
	snprintf(env->ns3, sizeof(env->ns3), "%s", PERF_NS3_VERSION);
	snprintf(env->suite, sizeof(env->suite), "%s", suite);
}
