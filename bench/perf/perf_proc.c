/* Running and measuring programs, and the environment (perf_proc.h). */
#define _GNU_SOURCE
#include "bench/perf/perf_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

static pid_t spawn(char *const argv[], const char *cwd, const char *out, const char *err,
                   int pipe_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
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

static int reap(pid_t pid, struct perf_proc *p, double t0)
{
	struct rusage ru;
	int status;

	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return -errno;
	if (p) {
		p->wall_s = now_s() - t0;
		p->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
		p->rss_kib = (uint64_t)ru.ru_maxrss;
		p->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int perf_proc_run(char *const argv[], const char *cwd, const char *out, const char *err,
                  struct perf_proc *p)
{
	double t0 = now_s();
	pid_t pid = spawn(argv, cwd, out, err, -1);

	if (pid < 0)
		return -errno;
	int rc = reap(pid, p, t0);
	return rc < 0 ? rc : 0;
}

int perf_capture(char *const argv[], const char *cwd, char *buf, size_t cap)
{
	int fds[2];
	size_t n = 0;

	buf[0] = '\0';
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = spawn(argv, cwd, NULL, NULL, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	for (;;) {
		char tmp[4096];
		ssize_t got = read(fds[0], tmp, sizeof(tmp));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		size_t keep = cap - 1 - n < (size_t)got ? cap - 1 - n : (size_t)got;
		memcpy(buf + n, tmp, keep);
		n += keep;
	}
	close(fds[0]);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return reap(pid, NULL, 0) == 0 ? 0 : -1;
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
