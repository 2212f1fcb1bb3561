/* See netns.h. Test support: talks to the OS directly. */
#define _GNU_SOURCE
#include "tests/support/netns.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NETNS_QUIET " >/dev/null 2>&1"

bool netns_can_run_tun(const char **skip_reason)
{
	if (geteuid() != 0) {
		*skip_reason = "needs root for network namespaces and /dev/net/tun";
		return false;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		*skip_reason = "no usable /dev/net/tun on this machine";
		return false;
	}
	return true;
}

bool netns_sh(const char *fmt, ...)
{
	char cmd[NETNS_CMD_MAX];
	size_t room = sizeof(cmd) - sizeof(NETNS_QUIET);
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(cmd, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return false;
	strcat(cmd, NETNS_QUIET);
	return system(cmd) == 0;
}

void netns_unique_name(char *out, size_t out_len, const char *prefix, char tag)
{
	snprintf(out, out_len, "%s%d%c", prefix, (int)getpid(), tag);
}

bool netns_add(char name[NETNS_NAME_MAX], const char *prefix, char tag, const char **skip_reason)
{
	char want[NETNS_NAME_MAX];

	name[0] = '\0';
	netns_unique_name(want, sizeof(want), prefix, tag);
	if (!netns_sh("ip netns add %s", want)) {
		*skip_reason = "needs root for network namespaces: `ip netns add` failed";
		return false;
	}
	memcpy(name, want, sizeof(want));
	if (!netns_sh("ip -n %s link set lo up", name)) {
		*skip_reason = "cannot bring up the loopback inside a new namespace";
		return false;
	}
	return true;
}

void netns_del(char name[NETNS_NAME_MAX])
{
	if (!name[0])
		return;
	if (!netns_sh("ip netns del %s", name))
		fprintf(stderr, "netns: could not delete namespace %s\n", name);
	name[0] = '\0';
}

bool netns_veth(const char *ns_a, const char *dev_a, const char *ns_b, const char *dev_b)
{
	return netns_sh("ip link add %s netns %s type veth peer name %s netns %s", dev_a, ns_a,
	                dev_b, ns_b);
}

bool netns_addr_up(const char *ns, const char *dev, const char *cidr)
{
	return netns_sh("ip -n %s addr add %s dev %s", ns, cidr, dev) &&
	       netns_sh("ip -n %s link set %s up", ns, dev);
}

pid_t netns_spawn(const char *ns, char *const args[], const char *log)
{
	char *argv[NETNS_SPAWN_MAX_ARGS + 5];
	int n = 0;

	argv[n++] = "/usr/sbin/ip";
	argv[n++] = "netns";
	argv[n++] = "exec";
	argv[n++] = (char *)ns;
	for (int i = 0; args[i] && i < NETNS_SPAWN_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* the child */
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, 0);
	execv(argv[0], argv);
	_exit(127);
}
