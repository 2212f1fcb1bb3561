/* Test support: shell commands, sleeps, file waits (see shell.h). */
#include "tests/support/shell.h"

#include <stdio.h>
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
