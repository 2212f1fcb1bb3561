/* Test support: network namespaces, veth pairs and addresses made with
 * `ip`, for the fixtures and tests that run real nodes (the library itself
 * only ever setns()es into them). Names carry the test process's pid so
 * parallel test processes never collide; deleting a namespace removes every
 * device in it. */
#ifndef TESTS_SUPPORT_NETNS_H
#define TESTS_SUPPORT_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Room for a namespace or device name ("<prefix><pid><tag>"). */
#define NETNS_NAME_MAX 32
/* Longest shell command netns_sh runs. */
#define NETNS_CMD_MAX 1024

/* True when this process can make namespaces and TUN devices (root, and a
 * usable /dev/net/tun); otherwise false with *skip_reason saying why. */
bool netns_can_run_tun(const char **skip_reason);

/* Runs a shell command with its output discarded; true when it exited 0.
 * A command longer than NETNS_CMD_MAX is not run (false). */
bool netns_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes "<prefix><pid><tag>" into out (out_len bytes): a name unique to
 * this process, short enough for an interface name with a prefix of up to
 * 4 characters. */
void netns_unique_name(char *out, size_t out_len, const char *prefix, char tag);

/* Creates the namespace "<prefix><pid><tag>" with its loopback up and
 * writes its name into name. On failure name is left empty and
 * *skip_reason says why (typically: not root). netns_del undoes it. */
bool netns_add(char name[NETNS_NAME_MAX], const char *prefix, char tag, const char **skip_reason);

/* Deletes a namespace made by netns_add and empties name; does nothing
 * for an empty name, so it is safe on every cleanup path. */
void netns_del(char name[NETNS_NAME_MAX]);

/* Creates a veth pair: dev_a inside ns_a, dev_b inside ns_b. */
bool netns_veth(const char *ns_a, const char *dev_a, const char *ns_b, const char *dev_b);

/* Most arguments netns_spawn passes on. */
#define NETNS_SPAWN_MAX_ARGS 35

/* Starts `ip netns exec ns args...` (args NULL-terminated, the first
 * NETNS_SPAWN_MAX_ARGS of them) with stdin from /dev/null and stdout and
 * stderr appended to `log`. The child's pid, or -1. */
pid_t netns_spawn(const char *ns, char *const args[], const char *log);

/* Gives dev inside ns the address cidr ("10.200.0.1/24") and brings it up. */
bool netns_addr_up(const char *ns, const char *dev, const char *cidr);

#endif
