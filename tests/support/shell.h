/* Test support for the tests that run processes: run a shell command (and
 * keep its output), make a temporary directory, sleep, wait for a file. */
#ifndef TESTS_SUPPORT_SHELL_H
#define TESTS_SUPPORT_SHELL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Runs the command (stdout and stderr both captured, at most out_len - 1
 * bytes kept in `out`, always terminated); returns its exit status, or -1
 * when it could not run or died from a signal. Commands over 2 KiB are
 * truncated. */
int shell_vrun(char *out, size_t out_len, const char *fmt, va_list ap);
/* shell_vrun with the arguments in place. */
int shell_run(char *out, size_t out_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs the command through system(): its output goes where the test's goes.
 * Returns its exit status, or -1 when it could not run, died from a signal
 * or is longer than 8 KiB. */
int shell_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Makes a fresh directory /tmp/TAG.XXXXXX into buf; false when it cannot. */
bool shell_mkdtemp(char *buf, size_t len, const char *tag);
void shell_sleep_ms(int ms);
/* True once `path` exists, polling for up to `ms`. */
bool shell_wait_file(const char *path, int ms);

#endif
