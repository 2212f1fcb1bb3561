/* A simulated tailnet: control + daemons on an ns-3 world (see tailnet.h). */
#include "sim/tailnet.h"

#include "apps/backend_apps.h"
#include "apps/http_backend.h"
#include "control/control.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/io/fs.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/wg.h"
#include "proxy/svcd.h"
#include "sim/io_sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TN_DEFAULT_ACCESS_LATENCY_US 1000
#define TN_INF_US                    UINT64_MAX

/* Backends of one node, by kind (each kind has its own free function). */
struct tn_backends {
	struct http_backend *http[TN_MAX_BACKENDS];
	struct backend_tcp *tcp[TN_MAX_BACKENDS];
	struct backend_udp_echo *udp[TN_MAX_BACKENDS];
};

/* What the latency callback reads: one-way shortest-path latency between
 * regions over the configured links, by region name. */
struct tn_latency {
	size_t n;
	const char *const *names;
	uint64_t *us; /* n x n */
};

struct tn_priv {
	struct tailnet t;
	struct tn_latency lat;
	struct control_user *users;
};

static struct tn_priv *tn_priv(struct tailnet *t)
{
	return container_of(t, struct tn_priv, t);
}

static int tn_region_by_name(const struct tn_latency *lat, const char *name)
{
	for (size_t i = 0; i < lat->n; i++)
		if (strcmp(lat->names[i], name) == 0)
			return (int)i;
	return -1;
}

static uint64_t tn_latency_fn(void *ctx, const char *a, const char *b)
{
	const struct tn_latency *lat = ctx;
	int ia = tn_region_by_name(lat, a), ib = tn_region_by_name(lat, b);

	if (ia < 0 || ib < 0)
		return TN_INF_US / 2;
	return lat->us[(size_t)ia * lat->n + (size_t)ib];
}

/* Floyd-Warshall over the region links: regions are few (<= 64). */
static int tn_latency_build(struct tn_latency *lat, const struct tn_config *c)
{
	size_t n = c->n_regions;

	lat->n = n;
	lat->names = c->regions;
	lat->us = malloc(n * n * sizeof(*lat->us));
	if (!lat->us)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			lat->us[i * n + j] = i == j ? 0 : TN_INF_US / 4;
	for (size_t l = 0; l < c->n_links; l++) {
		size_t a = (size_t)c->links[l].a, b = (size_t)c->links[l].b;
		uint64_t v = c->links[l].params.latency_us;
		if (v < lat->us[a * n + b])
			lat->us[a * n + b] = lat->us[b * n + a] = v;
	}
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n; j++)
				if (lat->us[i * n + k] + lat->us[k * n + j] < lat->us[i * n + j])
					lat->us[i * n + j] =
					    lat->us[i * n + k] + lat->us[k * n + j];
	return 0;
}

static void tn_backends_free(struct tn_node *n)
{
	struct tn_backends *b = n->backends;

	if (!b)
		return;
	for (size_t i = 0; i < TN_MAX_BACKENDS; i++) {
		http_backend_free(b->http[i]);
		backend_tcp_free(b->tcp[i]);
		backend_udp_echo_free(b->udp[i]);
	}
	free(b);
	n->backends = NULL;
}

static int tn_backends_start(struct tn_node *n, const struct tn_node_spec *s, char *why,
                             size_t why_len)
{
	struct tn_backends *b = calloc(1, sizeof(*b));
	int err = 0;

	if (!b)
		return -ENOMEM;
	n->backends = b;
	for (size_t i = 0; i < s->n_backends && err == 0; i++) {
		const struct tn_backend_spec *bs = &s->backends[i];
		struct io_addr at;

		io_addr_v4(&at, bs->any_address ? 0 : 0x7f000001u, bs->port);
		switch (bs->kind) {
		case TN_BACKEND_HTTP: {
			const struct http_backend_config hc = {.service_time_us =
			                                           bs->service_time_us,
			                                       .body_bytes = bs->body_bytes,
			                                       .name = n->name};
			err = http_backend_new(&b->http[i], n->io, &hc, &at, NULL);
			if (err == 0)
				err = http_backend_set_fault(b->http[i], n->origin_delay_us,
				                             n->origin_status);
			break;
		}
		case TN_BACKEND_TCP_ECHO:
			err = backend_tcp_echo_start(n->io, &at, &b->tcp[i]);
			break;
		case TN_BACKEND_TCP_SINK:
			err = backend_tcp_sink_start(n->io, &at, &b->tcp[i]);
			break;
		case TN_BACKEND_UDP_ECHO:
			err = backend_udp_echo_start(n->io, &at, &b->udp[i]);
			break;
		case TN_BACKEND_NONE:
		default:
			err = -EINVAL;
		}
		if (err < 0)
			err_setf(why, why_len, 0, "%s: backend %zu on port %u failed (%s)", n->name,
			         i, bs->port, strerror(-err));
	}
	return err;
}

/* Starts node `i`'s daemon and runs its serve lines. */
/* A rotated node key is the node's from then on: a restart proves it. */
static int tn_key_store(void *ctx, const uint8_t seed[32], bool next)
{
	struct tn_node *n = ctx;

	if (!next)
		memcpy(n->node_key, seed, sizeof(n->node_key));
	return 0;
}

static int tn_daemon_start(struct tailnet *t, size_t i, char *why, size_t why_len)
{
	const struct tn_config *c = t->config;
	const struct tn_node_spec *s = &c->nodes[i];
	struct tn_node *n = &t->nodes[i];
	char err[256] = "";
	char out[1024];
	char pcap[4096];
	const char *pcap_path = s->tailnet_pcap;

	if (pcap_path && n->restarts) {
		size_t len = strlen(pcap_path);
		if (len > 5 && strcmp(pcap_path + len - 5, ".pcap") == 0)
			len -= 5;
		if ((size_t)snprintf(pcap, sizeof(pcap), "%.*s-restart-%u.pcap", (int)len,
		                     pcap_path, n->restarts) >= sizeof(pcap))
			return err_setf(why, why_len, -ENAMETOOLONG, "%s: pcap path too long",
			                n->name);
		pcap_path = pcap;
	}
	/* Nodes boot over a window that grows with the tailnet (200 us a node,
	 * at most TN_START_SPREAD_MAX_US) instead of all registering with
	 * control in the same instant; a restart reconnects at once. */
	uint64_t spread = (uint64_t)c->n_nodes * TN_START_SPREAD_PER_NODE_US;
	if (spread > TN_START_SPREAD_MAX_US)
		spread = TN_START_SPREAD_MAX_US;
	uint64_t delay = n->restarts || !spread ? 0 : n->io->ops->random_u64(n->io) % spread;
	struct svcd_config dc = {.name = n->name,
	                         .control_connect_delay_us = delay,
	                         .tailnet_pcap = pcap_path,
	                         .underlay = n->underlay,
	                         .drain_grace_us = c->drain_grace_us,
	                         .control = &t->control_addr,
	                         .region = c->regions[s->region],
	                         .user = s->user,
	                         .tags = s->tags,
	                         .n_tags = s->n_tags,
	                         .magic_dns = true,
	                         .node_key = n->node_key,
	                         .control_key = t->control_key,
	                         .auth_key = n->auth_key,
	                         .key_store = tn_key_store,
	                         .key_store_ctx = n,
	                         .err = err,
	                         .err_len = sizeof(err)};
	int rc = svcd_new(&n->daemon, io_sim_daemon_io(n->io), &dc);

	if (rc < 0)
		return err_setf(why, why_len, rc, "%s: daemon failed to start: %s", n->name,
		                err[0] ? err : strerror(-rc));
	for (size_t k = 0; k < s->n_serve; k++) {
		rc = svcd_serve_line(n->daemon, s->serve[k], out, sizeof(out));
		if (rc < 0)
			return err_setf(why, why_len, rc, "%s: `%s` failed: %s", n->name,
			                s->serve[k], out);
	}
	return 0;
}

/* A node's key from the run's seed and its name: deterministic, and
 * different for every node and every seed. */
static int tn_node_key(const struct tailnet *t, struct tn_node *n)
{
	static const char label[] = "svc sim node key v1";
	uint64_t seed = t->config->seed ? t->config->seed : 1;
	uint8_t in[sizeof(label) - 1 + 8 + TN_NAME_MAX + 1];
	size_t len = 0, name_len = strlen(n->name);

	memcpy(in, label, sizeof(label) - 1);
	len += sizeof(label) - 1;
	for (int i = 0; i < 8; i++)
		in[len++] = (uint8_t)(seed >> (8 * i));
	memcpy(in + len, n->name, name_len);
	len += name_len;
	return wg_hash(n->node_key, in, len, NULL, 0);
}

/* Node i's auth key: the key of an earlier node with the same owner and
 * tags, else a new one (keys are few: REG_MAX_AUTHKEYS). A tagged node
 * has no owner, as the key carries its identity. */
static int tn_auth_key(struct tailnet *t, size_t i, char *why, size_t why_len)
{
	const struct tn_node_spec *s = &t->config->nodes[i];
	const char *owner = s->n_tags || !s->user ? "" : s->user;
	char err[REG_ERR_LEN] = "";

	for (size_t j = 0; j < i; j++) {
		const struct tn_node_spec *o = &t->config->nodes[j];
		const char *o_owner = o->n_tags || !o->user ? "" : o->user;
		bool same = o->n_tags == s->n_tags && strcmp(o_owner, owner) == 0;
		for (size_t k = 0; same && k < s->n_tags; k++)
			same = strcmp(o->tags[k], s->tags[k]) == 0;
		if (same) {
			memcpy(t->nodes[i].auth_key, t->nodes[j].auth_key,
			       sizeof(t->nodes[i].auth_key));
			return 0;
		}
	}
	int rc = control_authkey_issue(t->control, owner, s->tags, s->n_tags, t->nodes[i].auth_key,
	                               sizeof(t->nodes[i].auth_key), err, sizeof(err));
	if (rc < 0)
		return err_setf(why, why_len, rc, "%s: no auth key: %s", s->name, err);
	return 0;
}

static int tn_control_start(struct tailnet *t, char *why, size_t why_len)
{
	struct tn_priv *p = tn_priv(t);
	const struct tn_config *c = t->config;
	char err[512] = "";
	struct io_addr listen = t->control_addr;
	struct control_config cc = {.name = "control",
	                            .tailnet = c->tailnet,
	                            .state_path = TN_CONTROL_STATE,
	                            .storage = t->control_storage,
	                            .users = p->users,
	                            .n_users = c->n_users,
	                            .policy_text = c->policy,
	                            .latency_fn = tn_latency_fn,
	                            .latency_ctx = &p->lat,
	                            .err = err,
	                            .err_len = sizeof(err)};
	int rc;

	listen.port = 0;
	cc.listen = listen;
	cc.map_port = t->control_addr.port;
	rc = control_new(&t->control, t->control_io, &cc);
	if (rc < 0)
		return err_setf(why, why_len, rc, "control failed to start: %s",
		                err[0] ? err : strerror(-rc));
	return 0;
}

static int tn_build(struct tailnet *t, char *why, size_t why_len)
{
	const struct tn_config *c = t->config;
	const struct ns3w_world_config wc = {.seed = c->seed ? c->seed : 1, .run = 1};
	struct ns3w_link_params def = c->access;
	int rc;

	if (def.latency_us == 0)
		def.latency_us = TN_DEFAULT_ACCESS_LATENCY_US;
	t->ns3 = ns3w_world_new(&wc);
	if (!t->ns3)
		return err_setf(why, why_len, -EBUSY, "another simulated world exists");
	for (size_t r = 0; r < c->n_regions; r++)
		if (ns3w_region_add(t->ns3) != (int)r)
			return err_setf(why, why_len, -EPROTO, "ns-3: adding region %zu failed", r);
	t->region_links = calloc(c->n_links ? c->n_links : 1, sizeof(*t->region_links));
	if (!t->region_links)
		return -ENOMEM;
	for (size_t l = 0; l < c->n_links; l++) {
		rc = ns3w_region_link(t->ns3, c->links[l].a, c->links[l].b, &c->links[l].params);
		if (rc < 0)
			return err_setf(why, why_len, rc, "ns-3: region link %zu failed", l);
		t->region_links[l] = rc;
	}
	rc = ns3w_node_add(t->ns3, c->control_region, &def, false);
	if (rc < 0)
		return err_setf(why, why_len, rc, "ns-3: adding the control node failed");
	t->control_ns3_node = rc;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct tn_node_spec *s = &c->nodes[i];
		struct ns3w_link_params a = s->access.latency_us ? s->access : def;

		if (s->region < 0 || (size_t)s->region >= c->n_regions)
			return err_setf(why, why_len, -EINVAL, "%s: no region %d", s->name,
			                s->region);
		rc = ns3w_node_add(t->ns3, s->region, &a, true);
		if (rc < 0)
			return err_setf(why, why_len, rc, "ns-3: adding node %s failed", s->name);
		t->nodes[i].ns3_node = rc;
		t->nodes[i].region = s->region;
		snprintf(t->nodes[i].name, sizeof(t->nodes[i].name), "%s", s->name);
	}
	rc = ns3w_finalize(t->ns3);
	if (rc < 0)
		return err_setf(why, why_len, rc, "ns-3: finalize failed");

	int err = 0;
	const struct io_sim_config ccfg = {.world = t->ns3,
	                                   .node = t->control_ns3_node,
	                                   .name = "control",
	                                   .seed = wc.seed,
	                                   .events = c->events};
	t->control_io = io_sim_new(&ccfg, &err);
	if (!t->control_io)
		return err_setf(why, why_len, err, "control seam failed");
	io_addr_v4(&t->control_addr, ns3w_node_underlay_ip(t->ns3, t->control_ns3_node),
	           MAPPROTO_DEFAULT_PORT);
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct tn_node *n = &t->nodes[i];
		const struct io_sim_config ic = {.world = t->ns3,
		                                 .node = n->ns3_node,
		                                 .name = n->name,
		                                 .seed = wc.seed,
		                                 .events = c->events};
		n->io = io_sim_new(&ic, &err);
		if (!n->io)
			return err_setf(why, why_len, err, "%s: seam failed", n->name);
		const struct tn_node_spec *s = &c->nodes[i];
		for (size_t k = 0; k < s->n_files; k++) {
			const struct tn_file_spec *f = &s->files[k];
			err = io_fs_mem_add_file(n->io->fs, f->path, f->data, f->len);
			if (err < 0)
				return err_setf(why, why_len, err, "%s: file %s: %s", n->name,
				                f->path, strerror(-err));
		}
		io_addr_v4(&n->underlay, ns3w_node_underlay_ip(t->ns3, n->ns3_node), 0);
	}
	return 0;
}

int tn_new(struct tailnet **out, const struct tn_config *config, char *why, size_t why_len)
{
	struct tn_priv *p = calloc(1, sizeof(*p));
	struct tailnet *t;
	int rc;

	if (!p)
		return -ENOMEM;
	t = &p->t;
	t->config = config;
	t->n_nodes = config->n_nodes;
	t->nodes = calloc(config->n_nodes ? config->n_nodes : 1, sizeof(*t->nodes));
	p->users = calloc(config->n_users ? config->n_users : 1, sizeof(*p->users));
	if (!t->nodes || !p->users || config->n_regions == 0 ||
	    config->n_regions > TN_MAX_REGIONS || config->control_region < 0 ||
	    (size_t)config->control_region >= config->n_regions) {
		rc = err_setf(why, why_len, t->nodes && p->users ? -EINVAL : -ENOMEM,
		              "bad tailnet config (regions or control region)");
		goto out_free;
	}
	for (size_t u = 0; u < config->n_users; u++)
		p->users[u] = (struct control_user){.login = config->users[u].login,
		                                    .role = config->users[u].role,
		                                    .display_name = config->users[u].display_name};
	rc = tn_latency_build(&p->lat, config);
	if (rc < 0)
		goto out_free;
	rc = storage_mem_new(&t->control_storage, config->seed ? config->seed : 1);
	if (rc < 0)
		goto out_free;
	rc = tn_build(t, why, why_len);
	if (rc < 0)
		goto out_free;
	rc = tn_control_start(t, why, why_len);
	if (rc < 0)
		goto out_free;
	control_public_key(t->control, t->control_key);
	for (size_t i = 0; i < t->n_nodes; i++) {
		rc = tn_node_key(t, &t->nodes[i]);
		if (rc == 0)
			rc = tn_auth_key(t, i, why, why_len);
		if (rc < 0)
			goto out_free;
		rc = tn_backends_start(&t->nodes[i], &config->nodes[i], why, why_len);
		if (rc < 0)
			goto out_free;
		rc = tn_daemon_start(t, i, why, why_len);
		if (rc < 0)
			goto out_free;
	}
	*out = t;
	return 0;
out_free:
	tn_free(t);
	return rc;
}

void tn_free(struct tailnet *t)
{
	if (!t)
		return;
	struct tn_priv *p = tn_priv(t);

	for (size_t i = 0; i < t->n_nodes; i++) {
		svcd_free(t->nodes[i].daemon);
		tn_backends_free(&t->nodes[i]);
	}
	control_free(t->control);
	for (size_t i = 0; i < t->n_nodes; i++)
		io_sim_free(t->nodes[i].io);
	io_sim_free(t->control_io);
	if (t->ns3)
		ns3w_world_free(t->ns3);
	storage_mem_free(t->control_storage);
	free(t->region_links);
	free(t->nodes);
	free(p->users);
	free(p->lat.us);
	free(p);
}

int tn_node_index(const struct tailnet *t, const char *name)
{
	for (size_t i = 0; i < t->n_nodes; i++)
		if (strcmp(t->nodes[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

uint64_t tn_now_us(const struct tailnet *t)
{
	return ns3w_now_us(t->ns3);
}

void tn_run(struct tailnet *t, uint64_t until_us)
{
	if (until_us > ns3w_now_us(t->ns3))
		ns3w_run(t->ns3, until_us);
}

bool tn_run_until(struct tailnet *t, bool (*done)(void *arg), void *arg, uint64_t step_us,
                  uint64_t timeout_us)
{
	uint64_t deadline = ns3w_now_us(t->ns3) + timeout_us;

	if (step_us == 0)
		step_us = 1000;
	while (!done(arg)) {
		uint64_t now = ns3w_now_us(t->ns3);
		if (now >= deadline)
			return false;
		tn_run(t, now + step_us < deadline ? now + step_us : deadline);
	}
	return true;
}

int tn_serve(struct tailnet *t, int node, const char *line, char *out, size_t out_len)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(out, out_len, -ENOENT, "no node %d", node);
	if (!t->nodes[node].daemon)
		return err_setf(out, out_len, -ENOENT, "%s is down (no running daemon)",
		                t->nodes[node].name);
	if (t->nodes[node].paused)
		return err_setf(out, out_len, -EBUSY,
		                "%s is paused (its daemon answers no command)",
		                t->nodes[node].name);
	return svcd_serve_line(t->nodes[node].daemon, line, out, out_len);
}

int tn_admin(struct tailnet *t, const char *user, const char *line, char *out, size_t out_len)
{
	if (!t->control)
		return err_setf(out, out_len, -ENOTCONN, "control is down");
	return control_admin_line(t->control, user, line, out, out_len);
}

int tn_admin_policy(struct tailnet *t, const char *user, const char *policy, char *out,
                    size_t out_len)
{
	if (!t->control)
		return err_setf(out, out_len, -ENOTCONN, "control is down");
	return control_admin_policy(t->control, user, policy, strlen(policy), out, out_len);
}

int tn_crash(struct tailnet *t, int node)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return -ENOENT;
	struct tn_node *n = &t->nodes[node];

	if (!n->daemon)
		return -EALREADY;
	/* The device goes with the process: nothing the stack sends (resets
	 * for the proxies' sockets) leaves the node any more. */
	n->io->ops->tun_attach(n->io, NULL, NULL);
	io_event(n->io, "node_crash", IO_STR("node", n->name));
	svcd_free(n->daemon);
	n->daemon = NULL;
	if (n->paused) { /* a stopped process can be killed; nothing held is left */
		io_sim_resume(n->io, NULL, NULL);
		n->paused = false;
	}
	return 0;
}

int tn_pause_node(struct tailnet *t, int node, char *why, size_t why_len)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(why, why_len, -ENOENT, "no node %d", node);
	struct tn_node *n = &t->nodes[node];
	if (!n->daemon)
		return err_setf(why, why_len, -EALREADY, "%s is down (crashed): nothing to pause",
		                n->name);
	if (n->paused)
		return err_setf(why, why_len, -EALREADY, "%s is already paused", n->name);
	io_event_bare(n->io, "pause");
	io_sim_pause(n->io);
	n->paused = true;
	return 0;
}

int tn_resume_node(struct tailnet *t, int node, char *why, size_t why_len)
{
	uint64_t held = 0, dropped = 0;

	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(why, why_len, -ENOENT, "no node %d", node);
	struct tn_node *n = &t->nodes[node];
	if (!n->paused)
		return err_setf(why, why_len, -EALREADY, "%s is not paused%s", n->name,
		                n->daemon ? "" : " (it is down)");
	io_sim_resume(n->io, &held, &dropped);
	n->paused = false;
	/* what the node's stack kept for the daemon, handed over from now */
	io_event(n->io, "resume", IO_U64("held", held), IO_U64("dropped", dropped));
	return 0;
}

int tn_restart(struct tailnet *t, int node)
{
	return tn_restart_why(t, node, NULL, 0);
}

int tn_restart_why(struct tailnet *t, int node, char *why, size_t why_len)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(why, why_len, -ENOENT, "no node %d", node);
	if (t->nodes[node].daemon)
		return err_setf(why, why_len, -EALREADY, "%s is not down%s", t->nodes[node].name,
		                t->nodes[node].paused ? " (it is paused)" : "");
	io_event(t->nodes[node].io, "node_restart", IO_STR("node", t->nodes[node].name));
	t->nodes[node].restarts++;
	return tn_daemon_start(t, (size_t)node, why, why_len);
}

int tn_partition_regions(struct tailnet *t, int region_a, int region_b, bool cut)
{
	int hits = 0;

	for (size_t l = 0; l < t->config->n_links; l++) {
		const struct tn_link_spec *ls = &t->config->links[l];
		if ((ls->a == region_a && ls->b == region_b) ||
		    (ls->a == region_b && ls->b == region_a)) {
			int rc = ns3w_link_set_up(t->ns3, t->region_links[l], !cut);
			if (rc < 0)
				return rc;
			hits++;
		}
	}
	return hits ? 0 : -ENOENT;
}

int tn_isolate_node(struct tailnet *t, int node, bool cut)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return -ENOENT;
	return ns3w_link_set_up(t->ns3, ns3w_node_access_link(t->ns3, t->nodes[node].ns3_node),
	                        !cut);
}

int tn_partition_nodes(struct tailnet *t, int node_a, int node_b, bool cut)
{
	if (node_a < 0 || (size_t)node_a >= t->n_nodes || node_b < 0 ||
	    (size_t)node_b >= t->n_nodes)
		return -ENOENT;
	return ns3w_block_pair(t->ns3, t->nodes[node_a].ns3_node, t->nodes[node_b].ns3_node, cut);
}

int tn_origin_crash(struct tailnet *t, int node)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return -ENOENT;
	struct tn_node *n = &t->nodes[node];
	if (!n->backends)
		return -EALREADY;
	io_event_bare(n->io, "origin_crash");
	tn_backends_free(n);
	return 0;
}

int tn_origin_restart(struct tailnet *t, int node, char *why, size_t why_len)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(why, why_len, -ENOENT, "no node %d", node);
	struct tn_node *n = &t->nodes[node];
	if (n->backends)
		return err_setf(why, why_len, -EALREADY, "%s's backends are not down", n->name);
	io_event_bare(n->io, "origin_restart");
	int rc = tn_backends_start(n, &t->config->nodes[node], why, why_len);
	if (rc < 0)
		tn_backends_free(n);
	return rc;
}

static bool tn_has_http_backend(const struct tn_node_spec *s)
{
	for (size_t i = 0; i < s->n_backends; i++)
		if (s->backends[i].kind == TN_BACKEND_HTTP)
			return true;
	return false;
}

/* The node's origin fault, applied to its running HTTP backends. */
static int tn_origin_set(struct tn_node *n, uint64_t delay_us, int status)
{
	for (size_t i = 0; n->backends && i < TN_MAX_BACKENDS; i++) {
		int rc = n->backends->http[i]
		             ? http_backend_set_fault(n->backends->http[i], delay_us, status)
		             : 0;
		if (rc < 0)
			return rc;
	}
	n->origin_delay_us = delay_us;
	n->origin_status = status;
	return 0;
}

int tn_origin_degrade(struct tailnet *t, int node, uint64_t delay_us, int status, char *why,
                      size_t why_len)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(why, why_len, -ENOENT, "no node %d", node);
	struct tn_node *n = &t->nodes[node];
	if (!tn_has_http_backend(&t->config->nodes[node]))
		return err_setf(why, why_len, -ENOTSUP, "%s has no http backend", n->name);
	if (n->origin_delay_us || n->origin_status)
		return err_setf(why, why_len, -EALREADY, "%s's origin is already %s", n->name,
		                n->origin_status ? "answering errors" : "slow");
	if ((!delay_us) == (!status))
		return err_setf(why, why_len, -EINVAL, "%s: an origin fault is slow or errors",
		                n->name);
	int rc = tn_origin_set(n, delay_us, status);
	if (rc < 0)
		return err_setf(why, why_len, rc, "%s: origin fault refused (%s)", n->name,
		                strerror(-rc));
	if (status)
		io_event(n->io, "origin_error", IO_I64("status", status));
	else
		io_event(n->io, "origin_slow", IO_U64("delay_us", delay_us));
	return 0;
}

int tn_origin_ok(struct tailnet *t, int node, char *why, size_t why_len)
{
	if (node < 0 || (size_t)node >= t->n_nodes)
		return err_setf(why, why_len, -ENOENT, "no node %d", node);
	struct tn_node *n = &t->nodes[node];
	if (!n->origin_delay_us && !n->origin_status)
		return err_setf(why, why_len, -EALREADY, "%s's origin is neither slow nor erroring",
		                n->name);
	io_event_bare(n->io, "origin_ok");
	return tn_origin_set(n, 0, 0);
}

int tn_control_crash(struct tailnet *t)
{
	if (!t->control)
		return -EALREADY;
	io_event_bare(t->control_io, "control_crash");
	control_free(t->control);
	t->control = NULL;
	/* The machine went down: its disk keeps only what was durable. */
	storage_mem_crash(t->control_storage);
	return 0;
}

int tn_control_disk_fault(struct tailnet *t, enum storage_fault fault)
{
	storage_mem_set_fault(t->control_storage, fault);
	io_event(t->control_io, "storage_fault", IO_STR("fault", storage_fault_name(fault)));
	return 0;
}

int tn_control_torn_write(struct tailnet *t)
{
	static const char *const steps[STORAGE_STEP_COUNT] = {
	    [STORAGE_STEP_WRITE] = "write",
	    [STORAGE_STEP_FSYNC] = "fsync",
	    [STORAGE_STEP_RENAME] = "rename",
	    [STORAGE_STEP_DIRSYNC] = "dirsync",
	};
	if (!t->control)
		return -EALREADY;
	/* Every cut point in turn, starting where the seed says. */
	uint64_t seed = t->config->seed ? t->config->seed : 1;
	enum storage_step step =
	    (enum storage_step)(STORAGE_STEP_WRITE + (seed + t->torn_writes++) %
	                                                 (STORAGE_STEP_COUNT - STORAGE_STEP_WRITE));
	io_event(t->control_io, "storage_fault", IO_STR("fault", "torn-write"),
	         IO_STR("cut_before", steps[step]));
	storage_mem_tear_next(t->control_storage, step);
	control_save_state(t->control); /* cut: -EIO, and the power is gone */
	return tn_control_crash(t);
}

int tn_control_restart(struct tailnet *t)
{
	return tn_control_restart_why(t, NULL, 0);
}

int tn_control_restart_why(struct tailnet *t, char *why, size_t why_len)
{
	if (t->control)
		return err_setf(why, why_len, -EALREADY, "control is not down");
	io_event_bare(t->control_io, "control_restart");
	return tn_control_start(t, why, why_len);
}
