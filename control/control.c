/* The coordination server's core (see control.h): control_new and
 * control_free, the timers that drive it (recompute, sweep, restart grace),
 * lost nodes (STR-8) and the reap that frees what closed.
 *
 * Everything that closes (sessions, admin connections) is only marked
 * closed where it happens and freed by ctl_reap() at the end of the entry
 * point (an io callback, a timer, control_admin_line), so loops over the
 * session table never see an entry vanish under them. The other concerns
 * live next to this file: control_session.c (map sessions),
 * control_maps.c (maps, steering and state events, certificates),
 * control_drain.c (drain confirmation), control_state.c (persistence),
 * control_admin_http.c (the admin API) and control_admin_cmd.c (admin
 * commands). */
#define _GNU_SOURCE
#include "control/control_int.h"

#include "control/policy.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/mutant.h"
#include "lib/io/storage.h"
#include "lib/wire/mapproto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------ */

const char *ctl_node_name(const struct control *c, int node)
{
	if (node < 0)
		return "";
	const struct reg_node *n = registry_node(c->reg, (size_t)node);
	return n ? n->name : "";
}

/* {"error": msg} as malloc'd text (NULL on -ENOMEM). */
char *ctl_error_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *t;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "error", msg);
	t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return t;
}

/* Changes are coalesced for CONTROL_RECOMPUTE_DELAY_US, or longer in a
 * large tailnet: a pass builds every session's map and saves the state, so
 * its cost grows with the session count and the window grows with it. */
void ctl_schedule(struct control *c)
{
	uint64_t delay = (uint64_t)c->n_sessions * CONTROL_RECOMPUTE_US_PER_SESSION;

	if (delay < CONTROL_RECOMPUTE_DELAY_US)
		delay = CONTROL_RECOMPUTE_DELAY_US;
	if (!io_timer_armed(&c->recompute_timer))
		c->io->ops->timer_arm(c->io, &c->recompute_timer, delay);
}

/* ---- lost nodes (STR-8) --------------------------------------------------- */

/* Marks node `idx` lost (control cannot reach it; its clients may) and
 * starts its clock towards lost_expiry_us. */
void ctl_mark_lost(struct control *c, size_t idx)
{
	registry_node_set_lost(c->reg, idx);
	for (size_t i = 0; i < c->n_lost; i++)
		if (c->lost[i].node == idx)
			return;
	if (c->n_lost == c->cap_lost) {
		size_t cap = c->cap_lost ? 2 * c->cap_lost : 16;
		struct ctl_lost *nl = realloc(c->lost, cap * sizeof(*nl));
		if (!nl)
			return; /* stays lost until it is heard from again */
		c->lost = nl;
		c->cap_lost = cap;
	}
	CHECK(c->n_lost < registry_node_count(c->reg));
	c->lost[c->n_lost++] = (struct ctl_lost){idx, c->io->ops->now_us(c->io)};
}

/* Forgets nodes heard from again, and counts as dead those lost for too
 * long (a silent death is not a partition that will heal). */
static void ctl_expire_lost(struct control *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_lost;) {
		size_t idx = c->lost[i].node;
		const struct reg_node *n = registry_node(c->reg, idx);
		bool expired = n && n->lost && now - c->lost[i].since_us >= c->lost_expiry_us;
		if (n && n->lost && !expired) {
			i++;
			continue;
		}
		if (expired) {
			registry_node_set_alive(c->reg, idx, false);
			io_event(c->io, "node_dead", IO_STR("node_name", n->name),
			         IO_STR("reason", "lost for too long"), IO_BOOL("lost", false));
			c->dirty = true;
			ctl_schedule(c);
		}
		c->lost[i] = c->lost[--c->n_lost];
	}
}

/* ---- restart grace (STR-8) ----------------------------------------------- */

/* After a start from saved state: the hosts it records as serving count as
 * alive, in their place in steering, until they reconnect or the grace
 * ends, so no map says a host is gone before it had time to come back. */
static void ctl_grace_start(struct control *c)
{
	for (size_t i = 0; i < registry_node_count(c->reg); i++) {
		if (!registry_node(c->reg, i)->lost)
			continue;
		registry_node_set_alive(c->reg, i, true);
		c->grace_hosts++;
	}
	if (!c->grace_hosts)
		return;
	c->grace = true;
	c->grace_left = c->grace_hosts;
	c->grace_started_us = c->io->ops->now_us(c->io);
	c->io->ops->timer_arm(c->io, &c->grace_timer, c->restart_grace_us);
	io_event(c->io, "control_grace_started", IO_U64("hosts", c->grace_hosts),
	         IO_U64("grace_us", c->restart_grace_us));
}

/* Ends the grace: hosts that have not reconnected are lost from now on
 * (registry.h: after every alive host) and their clients remapped. */
void ctl_grace_end(struct control *c, bool early)
{
	size_t missing = 0;

	CHECK(c->grace);
	c->grace = false;
	if (io_timer_armed(&c->grace_timer))
		c->io->ops->timer_disarm(c->io, &c->grace_timer);
	for (size_t i = 0; i < registry_node_count(c->reg); i++) {
		const struct reg_node *n = registry_node(c->reg, i);
		if (!n->alive || n->connected)
			continue;
		ctl_mark_lost(c, i);
		io_event(c->io, "node_dead", IO_STR("node_name", n->name),
		         IO_STR("reason", "did not reconnect within the restart grace"),
		         IO_BOOL("lost", true));
		missing++;
	}
	CHECK(missing == c->grace_left);
	c->grace_left = 0;
	io_event(c->io, "control_grace_ended", IO_U64("hosts", c->grace_hosts),
	         IO_U64("reconnected", c->grace_hosts - missing), IO_U64("missing", missing),
	         IO_BOOL("early", early),
	         IO_U64("elapsed_us", c->io->ops->now_us(c->io) - c->grace_started_us));
	if (missing) {
		c->dirty = true;
		ctl_schedule(c);
	}
}

static void ctl_grace_fn(struct io_timer *t)
{
	struct control *c = container_of(t, struct control, grace_timer);

	if (c->grace)
		ctl_grace_end(c, false);
	ctl_reap(c);
}

/* ---- sweep: liveness and idle admin connections ------------------------- */

static void ctl_sweep_fn(struct io_timer *t)
{
	struct control *c = container_of(t, struct control, sweep_timer);
	uint64_t now = c->io->ops->now_us(c->io);

	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctl_session *s = c->sessions[i];
		if (s->closed)
			continue;
		uint64_t dead_after = ctl_session_dead_after_us(s);
		if (now - s->last_rx_us > dead_after) {
			/* Silence says control cannot reach the node, not that it
			 * died: it is lost (STR-8). */
			s->silent = true;
			ctl_session_fail(s,
			                 s->node < 0 ? "no hello in time" : "silent for too long");
			continue;
		}
		/* Maps wait while a node does not read (see map_pending); one that
		 * takes no byte for as long as it may stay silent is dropped (a
		 * far node taking a large map slowly is not). */
		if (s->out_off < s->out.len && now - s->last_tx_us > dead_after) {
			io_event(c->io, "session_error",
			         IO_STR("node_name", ctl_node_name(c, s->node)),
			         IO_STR("error", "slow consumer"),
			         IO_U64("queued", s->out.len - s->out_off));
			ctl_session_close(s, "slow consumer", true);
			continue;
		}
		if (s->node >= 0 && now - s->last_tx_us >= ctl_session_heartbeat_us(s) &&
		    s->out_off == s->out.len)
			ctl_session_send_simple(s, "heartbeat", NULL, NULL, NULL, NULL);
	}
	for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS; i++) {
		struct ctl_admin *a = c->admins[i];
		if (a && !a->closed && now - a->last_us > CONTROL_ADMIN_IDLE_US)
			ctl_admin_close(a);
	}
	ctl_expire_lost(c, now);
	c->io->ops->timer_arm(c->io, &c->sweep_timer, c->heartbeat_us / 2);
	ctl_reap(c);
}

void ctl_reap(struct control *c)
{
	if (!c->n_to_reap)
		return;
	c->n_to_reap = 0;
	for (size_t i = 0; i < c->n_sessions;) {
		struct ctl_session *s = c->sessions[i];
		if (!s->closed) {
			i++;
			continue;
		}
		c->sessions[i] = c->sessions[--c->n_sessions];
		ctl_session_free(s);
	}
	for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS; i++)
		if (c->admins[i] && c->admins[i]->closed) {
			ctl_admin_free(c->admins[i]);
			c->admins[i] = NULL;
		}
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Copies the configuration: liveness pairs, expiry and grace (defaults
 * for zeros), names. 0 or -ENOMEM. */
static int ctl_configure(struct control *c, const struct control_config *config)
{
	c->map_listener = c->admin_listener = -1;
	c->recompute_timer.fn = ctl_recompute_fn;
	c->sweep_timer.fn = ctl_sweep_fn;
	c->grace_timer.fn = ctl_grace_fn;
	c->heartbeat_us =
	    config->heartbeat_us ? config->heartbeat_us : MAPPROTO_HEARTBEAT_MS * 1000ull;
	c->dead_after_us =
	    config->dead_after_us ? config->dead_after_us : MAPPROTO_DEAD_AFTER_MS * 1000ull;
	c->idle_heartbeat_us = config->idle_heartbeat_us ? config->idle_heartbeat_us
	                                                 : MAPPROTO_IDLE_HEARTBEAT_MS * 1000ull;
	c->idle_dead_after_us = config->idle_dead_after_us ? config->idle_dead_after_us
	                                                   : MAPPROTO_IDLE_DEAD_AFTER_MS * 1000ull;
	c->lost_expiry_us =
	    config->lost_expiry_us ? config->lost_expiry_us : CONTROL_LOST_EXPIRY_US;
	c->restart_grace_us = config->restart_grace_us
	                          ? config->restart_grace_us
	                          : c->dead_after_us + MAPPROTO_RETRY_MAX_MS * 1000ull;
	c->name = strdup(config->name ? config->name : "control");
	c->tailnet = strdup(config->tailnet ? config->tailnet : "example.ts.net");
	c->state_path = config->state_path ? strdup(config->state_path) : NULL;
	c->prev_states = cJSON_CreateObject();
	if (!c->name || !c->tailnet || (config->state_path && !c->state_path) || !c->prev_states)
		return -ENOMEM;
	c->storage = config->storage;
	ctl_admin_files_init(c, config->admin_files);
	return 0;
}

/* First start: the configured users into the new registry. */
static int ctl_bootstrap_users(struct control *c, const struct control_config *config, char *err,
                               size_t err_len)
{
	char rerr[CTL_ERR_LEN] = "";

	for (size_t i = 0; i < config->n_users; i++) {
		const struct control_user *u = &config->users[i];
		enum reg_role role;
		if (!u->login || reg_role_parse(u->role ? u->role : "", &role) < 0)
			return err_setf(err, err_len, -EINVAL, "user \"%s\": bad role \"%s\"",
			                u->login ? u->login : "", u->role ? u->role : "");
		int rc = registry_user_set(c->reg, u->login, role, u->display_name, u->token, rerr,
		                           sizeof(rerr));
		if (rc < 0)
			return err_setf(err, err_len, rc, "user \"%s\": %s", u->login, rerr);
	}
	return 0;
}

/* First start: the configured policy (or an empty one). */
static int ctl_bootstrap_policy(struct control *c, const struct control_config *config, char *err,
                                size_t err_len)
{
	char rerr[CTL_ERR_LEN] = "";
	struct policy *p = NULL;
	int rc;

	if (config->policy_text)
		rc = policy_parse(config->policy_text, strlen(config->policy_text), &p, rerr,
		                  sizeof(rerr));
	else
		rc = policy_new_empty(&p);
	if (rc < 0)
		return err_setf(err, err_len, rc, "policy: %s", rerr);
	rc = registry_set_policy(c->reg, NULL, p, rerr, sizeof(rerr));
	if (rc < 0) {
		policy_free(p);
		return err_setf(err, err_len, rc, "policy: %s", rerr);
	}
	return 0;
}

/* First start: a registry with the configured users and policy, and a
 * new CA seed; all of it to be saved. */
static int ctl_bootstrap(struct control *c, const struct control_config *config,
                         uint8_t seed[CA_SEED_LEN], char *err, size_t err_len)
{
	int rc = registry_new(&c->reg, c->tailnet);

	if (rc < 0)
		return err_setf(err, err_len, rc, "registry: %s", strerror(-rc));
	rc = ctl_bootstrap_users(c, config, err, err_len);
	if (rc < 0)
		return rc;
	rc = ctl_bootstrap_policy(c, config, err, err_len);
	if (rc < 0)
		return rc;
	c->io->ops->random_secret(c->io, seed, CA_SEED_LEN);
	c->dirty = true;
	return 0;
}

/* The registry and CA seed: from the saved state, or bootstrapped. */
static int ctl_open_state(struct control *c, const struct control_config *config,
                          uint8_t seed[CA_SEED_LEN], char *err, size_t err_len)
{
	int rc = 1;

	if (c->state_path && !c->storage)
		return err_setf(err, err_len, -EINVAL, "state %s: no storage to keep it in",
		                c->state_path);
	if (c->state_path) {
		rc = ctl_load(c, seed, err, err_len);
		if (rc < 0)
			return rc;
	}
	if (rc == 1)
		return ctl_bootstrap(c, config, seed, err, err_len);
	return 0;
}

/* Control's static key from its root secret, apart from the CA's key by
 * the label hashed in. */
static int ctl_key_from_seed(struct control *c, const uint8_t seed[CA_SEED_LEN])
{
	static const char label[] = "svc control map key v1";
	uint8_t priv[WG_KEY_LEN];
	int rc = wg_hash(priv, label, sizeof(label) - 1, seed, CA_SEED_LEN);

	if (!rc)
		rc = wg_keypair_from_seed(&c->key, priv);
	OPENSSL_cleanse(priv, sizeof(priv));
	return rc;
}

void control_public_key(const struct control *c, uint8_t out[32])
{
	memcpy(out, c->key.pub, WG_KEY_LEN);
}

/* The CA from the seed, the map key, and the netmap generator. */
static int ctl_open_ca_and_mapgen(struct control *c, const uint8_t seed[CA_SEED_LEN], char *err,
                                  size_t err_len)
{
	char rerr[CTL_ERR_LEN] = "";
	int rc = ca_new(&c->ca, seed, c->tailnet, rerr, sizeof(rerr));

	if (rc < 0)
		return err_setf(err, err_len, rc, "CA: %s", rerr);
	rc = ctl_key_from_seed(c, seed);
	if (rc < 0)
		return err_setf(err, err_len, rc, "control key: %s", strerror(-rc));
	const struct mapgen_options mo = {
	    .ca_pem = ca_cert_pem(c->ca), .cert_fn = ctl_cert_fn, .cert_ctx = c};
	rc = mapgen_new(&c->mg, c->reg, &mo);
	if (rc < 0)
		return err_setf(err, err_len, rc, "mapgen: %s", strerror(-rc));
	return 0;
}

/* A bootstrapped state is saved before anything listens. */
static int ctl_save_bootstrap(struct control *c, char *err, size_t err_len)
{
	if (c->dirty && c->state_path) {
		char serr[STORAGE_ERR_LEN] = "";
		int rc = ctl_store(c, c->reg, "bootstrap", serr, sizeof(serr));
		if (rc < 0)
			return err_setf(err, err_len, rc, "state %s", serr);
	}
	c->dirty = false;
	return 0;
}

static int ctl_listen(struct control *c, const struct io_addr *base, uint16_t port, io_sock_fn fn,
                      char *err, size_t err_len, const char *what)
{
	struct io_addr a = *base;
	char buf[IO_ADDR_STRLEN];

	a.port = port;
	int h = c->io->ops->tcp_listen(c->io, &a, CTL_BACKLOG, fn, c);
	if (h < 0)
		return err_setf(err, err_len, h, "%s listener on %s: %s", what,
		                io_addr_format(&a, true, buf, sizeof(buf)), strerror(-h));
	return h;
}

/* The map and admin listeners on the configured address. */
static int ctl_open_listeners(struct control *c, const struct control_config *config, char *err,
                              size_t err_len)
{
	struct io_addr base = config->listen;

	if (base.family == IO_AF_NONE)
		io_addr_v4(&base, 0, 0);
	int rc = ctl_listen(c, &base, config->map_port ? config->map_port : MAPPROTO_DEFAULT_PORT,
	                    ctl_map_listen_cb, err, err_len, "map");
	if (rc < 0)
		return rc;
	c->map_listener = rc;
	rc = ctl_listen(c, &base,
	                config->admin_port ? config->admin_port : MAPPROTO_DEFAULT_ADMIN_PORT,
	                ctl_admin_listen_cb, err, err_len, "admin");
	if (rc < 0)
		return rc;
	c->admin_listener = rc;
	return 0;
}

/* Running: the sweep armed, the restart grace begun, states known. */
static void ctl_start(struct control *c)
{
	c->io->ops->timer_arm(c->io, &c->sweep_timer, c->heartbeat_us / 2);
	ctl_grace_start(c);
	ctl_state_events(c);
	char key[WG_KEY_BASE64_LEN + 1];

	wg_key_to_base64(key, c->key.pub);
	io_event(c->io, "control_ready", IO_STR("tailnet", c->tailnet),
	         IO_U64("services", registry_service_count(c->reg)),
	         IO_U64("nodes", registry_node_count(c->reg)), IO_STR("key", key));
}

int control_new(struct control **out, struct io *io, const struct control_config *config)
{
	struct control *c = calloc(1, sizeof(*c));
	char *err = config->err;
	size_t err_len = config->err_len;
	uint8_t seed[CA_SEED_LEN];
	int rc = mutant_check_env(err, err_len);

	*out = NULL;
	if (rc < 0) {
		free(c);
		return rc;
	}
	if (!c)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	c->io = io;
	rc = ctl_configure(c, config);
	if (rc < 0) {
		err_setf(err, err_len, rc, "out of memory");
		goto fail;
	}
	rc = ctl_open_state(c, config, seed, err, err_len);
	if (rc < 0)
		goto fail;
	registry_set_latency_fn(c->reg, config->latency_fn, config->latency_ctx);
	rc = ctl_open_ca_and_mapgen(c, seed, err, err_len);
	if (rc < 0)
		goto fail;
	rc = ctl_save_bootstrap(c, err, err_len);
	if (rc < 0)
		goto fail;
	rc = ctl_open_listeners(c, config, err, err_len);
	if (rc < 0)
		goto fail;
	ctl_start(c);
	*out = c;
	return 0;
fail:
	control_free(c);
	return rc;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	struct io *io = c->io;
	io->ops->timer_disarm(io, &c->recompute_timer);
	io->ops->timer_disarm(io, &c->sweep_timer);
	if (io_timer_armed(&c->grace_timer))
		io->ops->timer_disarm(io, &c->grace_timer);
	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctl_session *s = c->sessions[i];
		if (!s->closed)
			io->ops->close(io, s->handle, false);
		ctl_session_free(s);
	}
	free(c->sessions);
	free(c->by_node);
	for (int i = 0; i < CONTROL_MAX_ADMIN_CONNS; i++)
		if (c->admins[i]) {
			if (!c->admins[i]->closed)
				io->ops->close(io, c->admins[i]->handle, false);
			ctl_admin_free(c->admins[i]);
		}
	if (c->map_listener >= 0)
		io->ops->close(io, c->map_listener, false);
	if (c->admin_listener >= 0)
		io->ops->close(io, c->admin_listener, false);
	for (size_t i = 0; i < c->n_drains; i++)
		ctl_drain_free(&c->drains[i]);
	free(c->drains);
	free(c->lost);
	for (size_t i = 0; i < c->n_certs; i++) {
		free(c->certs[i].service);
		free(c->certs[i].key);
		free(c->certs[i].pem);
	}
	free(c->certs);
	mapgen_free(c->mg);
	ca_free(c->ca);
	registry_free(c->reg);
	cJSON_Delete(c->prev_states);
	free(c->name);
	free(c->tailnet);
	free(c->state_path);
	free(c);
}

const struct registry *control_registry(const struct control *c)
{
	return c->reg;
}

const char *control_ca_pem(const struct control *c)
{
	return ca_cert_pem(c->ca);
}

uint64_t control_acked_version(const struct control *c, const char *node)
{
	int i = registry_node_index(c->reg, node);

	if (i < 0 || (size_t)i >= c->by_node_cap || !c->by_node[i])
		return 0;
	return c->by_node[i]->version_acked;
}
