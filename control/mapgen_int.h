/* Private to netmap generation (mapgen*.c): struct mapgen and its caches per
 * registry generation, and the helpers one mapgen file calls in another. */
#ifndef CONTROL_MAPGEN_INT_H
#define CONTROL_MAPGEN_INT_H

#include "control/mapgen.h"
#include "lib/base/hash.h"
#include "lib/base/htab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_MAX_SECTIONS 64 /* top-level members a delta tracks; more: full maps */

/* ---- caches per registry generation ---------------------------------- */

/* A node-to-node answer list: the other classes with their port set. */
struct mg_class_list {
	bool done;
	size_t n;
	uint32_t *cls;
	int32_t *pid;
};

struct mg_class {
	char *key;    /* identity: "T\ntag:a\ntag:b" or "U\nlogin" */
	size_t rep;   /* a node of this class (for policy calls) */
	size_t first; /* its nodes: class_nodes[first .. first + n) */
	size_t n;
	struct mg_class_list reach;   /* classes this class may reach */
	struct mg_class_list reached; /* classes that may reach this class */
};

/* A user's display name, cached (registry_user scans). */
struct mg_user {
	const char *login; /* the registry's string */
	const char *display_name;
};

struct mg_svc {
	/* Nodes (usable ones only) allowed to reach the service, grouped by
	 * port set: clients[i] has port set cpid[i], runs of equal cpid. */
	size_t n_clients;
	size_t *clients;
	int32_t *cpid;
};

struct mapgen {
	const struct registry *r;
	struct mapgen_options opt;
	bool valid;
	uint64_t gen;

	size_t n_nodes, n_svcs, n_classes;
	uint32_t *node_class; /* per node */
	bool *usable;         /* per node: has an endpoint it owns */
	struct mg_class *classes;
	size_t *class_nodes;      /* nodes grouped by class */
	struct htab class_by_key; /* over classes[], by key */

	size_t n_portsets, cap_portsets;
	struct policy_ports *portsets;

	int32_t *svc_class_pid; /* [svc * n_classes + class]: port set or -1 */
	struct mg_svc *svcs;

	/* host records per node: node_hosts[node_hosts_off[n] .. off[n+1]) */
	size_t *node_hosts_off;
	size_t *node_hosts;

	/* scratch for one map: peers collected (stamp per call) */
	uint32_t *mark;
	uint32_t stamp;
	size_t *peer_list;
	size_t n_peer_list;
	bool oom; /* an allocation failed while building the current map */

	/* login -> display name, filled on first use (registry_user scans):
	 * users[0 .. n_users) indexed by user_by_login */
	struct mg_user *users;
	size_t n_users, cap_users;
	struct htab user_by_login;
};

/* ---- mapgen.c ---- */

/* Rebuilds the caches when the registry's generation moved. 0 or -ENOMEM
 * (the caches are empty then). */
int mg_refresh(struct mapgen *mg);
/* Class c's node-to-node list (as_src: the classes c may reach; else the
 * classes that may reach c), filled on first use. 0 or -ENOMEM. */
int mg_class_list_get(struct mapgen *mg, size_t c, bool as_src, const struct mg_class_list **out);

#endif
