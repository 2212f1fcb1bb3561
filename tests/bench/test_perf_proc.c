/* How perfrun runs its children (bench/perf/perf_proc.c): a hung program
 * and everything it started are killed at the time limit; output is read
 * back even when a child left running still holds the pipe; a stop signal
 * to perfrun takes its children down first. Verdicts come from the kernel
 * (is the process group gone?) and the clock, not from what perf_proc says
 * about itself. */
#define _GNU_SOURCE
#include "bench/perf/perf_proc.h"
#include "tests/support/shell.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

static void setup(void)
{
	cr_assert(shell_mkdtemp(dir, sizeof(dir), "test_perf_proc"));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The pid a script wrote into `path` (its $$: it leads its group). */
static pid_t pid_in(const char *path)
{
	cr_assert(shell_wait_file(path, 10000), "%s never written", path);
	FILE *f = NULL;
	long pid = 0;
	/* the file exists before its number is written */
	for (int i = 0; i < 100 && pid <= 0; i++) {
		f = fopen(path, "r");
		if (f && fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		if (f)
			fclose(f);
		if (pid <= 0)
			shell_sleep_ms(20);
	}
	cr_assert_gt(pid, 0, "no pid in %s", path);
	return (pid_t)pid;
}

/* Whether a live process of group pgid is left: read from /proc, since a
 * killed orphan may stay a zombie (state Z) until init reaps it. Gives a
 * killed process a moment to die. */
static bool group_alive(pid_t pgid)
{
	for (int i = 0; i < 100; i++) {
		bool alive = false;
		DIR *d = opendir("/proc");
		struct dirent *de;
		cr_assert_not_null(d);
		while (!alive && (de = readdir(d))) {
			char path[300], stat[512];
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			size_t n = fread(stat, 1, sizeof(stat) - 1, f);
			fclose(f);
			stat[n] = '\0';
			/* pid (comm) state ppid pgrp: comm may hold spaces */
			char *after = strrchr(stat, ')');
			char state;
			long ppid, pgrp;
			if (after && sscanf(after + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3)
				alive = pgrp == pgid && state != 'Z' && state != 'X';
		}
		closedir(d);
		if (!alive)
			return false;
		shell_sleep_ms(20);
	}
	return true;
}

Test(perf_proc, a_hung_program_and_its_children_are_killed_at_the_limit, .init = setup,
     .timeout = 60)
{
	char script[512], pidfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "echo $$ > %s; sleep 300 & sleep 300", pidfile);
	char *argv[] = {"sh", "-c", script, NULL};
	struct perf_proc p;
	double t0 = now_s();
	cr_assert_eq(perf_proc_run(argv, NULL, NULL, NULL, 1, &p), 0);
	double took = now_s() - t0;
	cr_expect(p.timed_out);
	cr_expect_eq(p.status, PERF_TIMED_OUT);
	cr_expect(took >= 0.9 && took < 10, "returned after %.2f s for a 1 s limit", took);
	cr_expect_not(group_alive(pid_in(pidfile)), "the hung program's background child lives on");
	char how[64];
	perf_proc_how(&p, 1, how, sizeof(how));
	cr_expect_str_eq(how, "timed out after 1 s");
}

/* A program told to stop gets SIGTERM first and time to stop its own
 * children (a perfrun inside, as bisect's steps run under git bisect). */
Test(perf_proc, a_program_at_its_limit_gets_sigterm_before_sigkill, .init = setup, .timeout = 60)
{
	char script[700], pidfile[300], termfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(termfile, sizeof(termfile), "%s/term", dir);
	snprintf(script, sizeof(script),
	         "trap 'echo stopping > %s; exit 3' TERM; echo $$ > %s; sleep 300 & wait", termfile,
	         pidfile);
	char *argv[] = {"sh", "-c", script, NULL};
	struct perf_proc p;
	cr_assert_eq(perf_proc_run(argv, NULL, NULL, NULL, 1, &p), 0);
	cr_expect(p.timed_out);
	cr_expect_eq(access(termfile, F_OK), 0, "the program got no SIGTERM to stop on");
	cr_expect_not(group_alive(pid_in(pidfile)));
	/* an exit status of 124 is not a timeout */
	char *exits[] = {"sh", "-c", "exit 124", NULL};
	cr_assert_eq(perf_proc_run(exits, NULL, NULL, NULL, 60, &p), 0);
	cr_expect_not(p.timed_out);
	char how[64];
	perf_proc_how(&p, 60, how, sizeof(how));
	cr_expect_str_eq(how, "exited 124");
}

Test(perf_proc, exit_status_and_signal_are_told_apart, .init = setup, .timeout = 60)
{
	struct perf_proc p;
	char how[64];
	char *exits[] = {"sh", "-c", "exit 3", NULL};
	cr_assert_eq(perf_proc_run(exits, NULL, NULL, NULL, 60, &p), 0);
	cr_expect_eq(p.status, 3);
	perf_proc_how(&p, 60, how, sizeof(how));
	cr_expect_str_eq(how, "exited 3");
	char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
	cr_assert_eq(perf_proc_run(killed, NULL, NULL, NULL, 60, &p), 0);
	cr_expect_eq(p.status, 128 + SIGKILL);
	perf_proc_how(&p, 60, how, sizeof(how));
	cr_expect_str_eq(how, "was killed by signal 9");
	char *missing[] = {"/nonexistent/program", NULL};
	cr_assert_eq(perf_proc_run(missing, NULL, NULL, NULL, 60, &p), 0);
	cr_expect_eq(p.status, 127);
}

Test(perf_proc, capture_returns_when_a_left_child_holds_the_pipe, .init = setup, .timeout = 60)
{
	char buf[64];
	char *argv[] = {"sh", "-c", "echo hello; sleep 300 &", NULL};
	double t0 = now_s();
	cr_expect_eq(perf_capture(argv, NULL, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "hello");
	cr_expect_lt(now_s() - t0, 10, "capture waited for the background child");
	/* a long output is cut to the buffer, not overrun */
	char *many[] = {"sh", "-c", "yes 0123456789 | head -c 100000", NULL};
	cr_expect_eq(perf_capture(many, NULL, buf, sizeof(buf)), 0);
	cr_expect_eq(strlen(buf), sizeof(buf) - 1);
}

Test(perf_proc, a_stop_signal_kills_the_children_then_perfrun, .init = setup, .timeout = 60)
{
	char script[512], pidfile[300];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "echo $$ > %s; sleep 300 & sleep 300", pidfile);
	pid_t runner = fork();
	cr_assert_geq(runner, 0);
	if (runner == 0) {
		char *argv[] = {"sh", "-c", script, NULL};
		struct perf_proc p;
		perf_proc_run(argv, NULL, NULL, NULL, 600, &p);
		_exit(0); /* only when the signal did not end it */
	}
	pid_t child = pid_in(pidfile);
	cr_assert_eq(kill(runner, SIGTERM), 0);
	int status = 0;
	cr_assert_eq(waitpid(runner, &status, 0), runner);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	          "the runner did not die of its SIGTERM (status %#x)", status);
	cr_expect_not(group_alive(child), "the child's group outlived the stopped runner");
}
