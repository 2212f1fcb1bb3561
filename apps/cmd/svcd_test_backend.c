/* A backend program for the real-process svcd tests: the seam's backend
 * apps on the epoll backend, as a process one can start inside a network
 * namespace.
 *   svcd_test_backend [--http ADDR:PORT] [--tcp-echo ADDR:PORT]
 *                     [--udp-echo ADDR:PORT] [--ready FILE]
 * It creates FILE once everything listens, and runs until killed. */
#include "apps/backend_apps.h"
#include "apps/http_backend.h"
#include "lib/io/io_epoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct io_loop *loop = io_loop_new();
	const struct io_epoll_config ec = {.node_name = "backend"};
	const char *ready = NULL;
	int err = 0;
	struct io *io = loop ? io_epoll_new(loop, &ec, &err) : NULL;

	if (!io) {
		fprintf(stderr, "svcd_test_backend: cannot start the loop (%d)\n", err);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct io_addr a;
		int rc = 0;

		if (strcmp(argv[i], "--ready") == 0 && i + 1 < argc) {
			ready = argv[++i];
			continue;
		}
		if (i + 1 >= argc || io_addr_parse(&a, argv[i + 1], 0) < 0) {
			fprintf(stderr, "usage: svcd_test_backend [--http|--tcp-echo|--udp-echo "
			                "ADDR:PORT]... [--ready FILE]\n");
			return 2;
		}
		if (strcmp(argv[i], "--http") == 0) {
			struct http_backend *b;
			const struct http_backend_config bc = {.name = "http"};
			rc = http_backend_new(&b, io, &bc, &a, NULL);
		} else if (strcmp(argv[i], "--tcp-echo") == 0) {
			struct backend_tcp *b;
			rc = backend_tcp_echo_start(io, &a, &b);
		} else if (strcmp(argv[i], "--udp-echo") == 0) {
			struct backend_udp_echo *b;
			rc = backend_udp_echo_start(io, &a, &b);
		} else {
			fprintf(stderr, "svcd_test_backend: unknown option %s\n", argv[i]);
			return 2;
		}
		if (rc < 0) {
			fprintf(stderr, "svcd_test_backend: %s %s: error %d\n", argv[i],
			        argv[i + 1], rc);
			return 1;
		}
		i++;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (f)
			fclose(f);
	}
	for (;;)
		if (io_loop_run_once(loop, 1000) < 0)
			return 1;
}
