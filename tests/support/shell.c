/* Test support: shell commands, sleeps, file waits (see shell.h). */
#include "tests/support/shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

int shell_vrun(char *out, size_t out_len, const char *fmt, va_list ap)
{
	char cmd[2048];
	FILE *p;
	size_t n = 0;

	vsnprintf(cmd, sizeof(cmd) - 16, fmt, ap);
	strcat(cmd, " 2>&1");
	out[0] = '\0';
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n < out_len - 1) {
		size_t r = fread(out + n, 1, out_len - 1 - n, p);
		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void shell_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

bool shell_wait_file(const char *path, int ms)
{
	struct stat st;

	for (int t = 0; t < ms; t += 20) {
		if (stat(path, &st) == 0)
			return true;
		shell_sleep_ms(20);
	}
	return false;
}

int shell_run(char *out, size_t out_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = shell_vrun(out, out_len, fmt, ap);
	va_end(ap);
	return rc;
}

int shell_status(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

bool shell_mkdtemp(char *buf, size_t len, const char *tag)
{
	int n = snprintf(buf, len, "/tmp/%s.XXXXXX", tag);

	return n > 0 && (size_t)n < len && mkdtemp(buf) != NULL;
}
