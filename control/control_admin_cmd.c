/* Admin commands (admin_cmd.h) run against the registry: the read-only
 * views as JSON (services, one service, nodes, policy, auth keys), and writes made
 * durable before the live registry takes them (REL-3). Shared by the admin
 * API, control_admin_line (simulator timelines) and, through the API, svcadm. */
#define _GNU_SOURCE
#include "control/control_int.h"

#include "control/policy.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/mutant.h"
#include "lib/io/storage.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a write takes besides the command, fixed before it is tried so that
 * the scratch copy and the live registry take it alike (ctl_write). */
struct ctl_write_in {
	const char *policy_text;
	size_t policy_len;
	uint64_t now_s;                     /* wall clock, Unix seconds */
	uint8_t random[REG_AUTHKEY_RANDOM]; /* authkey create */
	char key[REG_AUTHKEY_TEXT_LEN + 1]; /* out: the new key, shown once */
};

static void ctl_add_strings(cJSON *o, const char *key, char *const *v, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

static void ctl_add_addrs(cJSON *o, const struct io_addr *a4, const struct io_addr *a6)
{
	char buf[IO_ADDR_STRLEN];
	cJSON *a = cJSON_AddArrayToObject(o, "addresses");

	if (!a)
		return;
	if (a4->family != IO_AF_NONE)
		cJSON_AddItemToArray(
		    a, cJSON_CreateString(io_addr_format(a4, false, buf, sizeof(buf))));
	if (a6->family != IO_AF_NONE)
		cJSON_AddItemToArray(
		    a, cJSON_CreateString(io_addr_format(a6, false, buf, sizeof(buf))));
}

static void ctl_port_text(const struct reg_port_range *p, char *buf, size_t len)
{
	if (p->first == p->last)
		snprintf(buf, len, "tcp:%u", p->first);
	else
		snprintf(buf, len, "tcp:%u-%u", p->first, p->last);
}

static cJSON *ctl_host_json(const struct control *c, const char *node, enum reg_state st,
                            bool approved, bool auto_approved, bool advertising, bool draining)
{
	cJSON *o = cJSON_CreateObject();
	int ni = registry_node_index(c->reg, node);
	const struct reg_node *n = ni >= 0 ? registry_node(c->reg, (size_t)ni) : NULL;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "node", node);
	cJSON_AddStringToObject(o, "state", reg_state_name(st));
	cJSON_AddBoolToObject(o, "approved", approved);
	cJSON_AddBoolToObject(o, "auto_approved", auto_approved);
	cJSON_AddBoolToObject(o, "advertising", advertising);
	cJSON_AddBoolToObject(o, "draining", draining);
	cJSON_AddStringToObject(o, "region", n && n->region ? n->region : "");
	return o;
}

static cJSON *ctl_service_json(const struct control *c, const struct reg_service *svc)
{
	cJSON *o = cJSON_CreateObject(), *ports, *hosts;
	char buf[64], *dns = NULL;
	size_t pre[256];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", svc->name);
	cJSON_AddStringToObject(o, "description", svc->description ? svc->description : "");
	ctl_add_strings(o, "tags", svc->tags, svc->n_tags);
	ports = cJSON_AddArrayToObject(o, "ports");
	if (svc->do_not_validate)
		cJSON_AddItemToArray(ports, cJSON_CreateString("do-not-validate"));
	for (size_t i = 0; ports && i < svc->n_ports; i++) {
		ctl_port_text(&svc->ports[i], buf, sizeof(buf));
		cJSON_AddItemToArray(ports, cJSON_CreateString(buf));
	}
	ctl_add_addrs(o, &svc->vip4, &svc->vip6);
	if (asprintf(&dns, "%s.%s", svc->name + 4, c->tailnet) >= 0) {
		cJSON_AddStringToObject(o, "dns", dns);
		free(dns);
	}
	cJSON_AddStringToObject(o, "state",
	                        reg_state_name(registry_service_state(c->reg, svc->name)));
	hosts = cJSON_AddArrayToObject(o, "hosts");
	for (size_t i = 0; hosts && i < registry_host_count(c->reg); i++) {
		const struct reg_host *h = registry_host(c->reg, i);
		if (strcmp(h->service, svc->name) != 0)
			continue;
		cJSON_AddItemToArray(hosts,
		                     ctl_host_json(c, h->node, registry_host_state(c->reg, h),
		                                   registry_host_approved(c->reg, h),
		                                   registry_host_auto_approved(c->reg, h),
		                                   h->advertising, h->draining));
	}
	size_t n = registry_pre_approved_nodes(c->reg, svc->name, pre, 256);
	for (size_t i = 0; hosts && i < n; i++) {
		const char *node = ctl_node_name(c, (int)pre[i]);
		if (registry_host_index(c->reg, svc->name, node) >= 0)
			continue;
		cJSON_AddItemToArray(hosts, ctl_host_json(c, node, REG_STATE_PRE_APPROVED, true,
		                                          true, false, false));
	}
	return o;
}

static cJSON *ctl_node_json(const struct control *c, size_t i)
{
	const struct reg_node *n = registry_node(c->reg, i);
	cJSON *o = cJSON_CreateObject();
	char buf[IO_ADDR_STRLEN];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", n->name);
	cJSON_AddStringToObject(o, "user", n->user ? n->user : "");
	cJSON_AddStringToObject(o, "region", n->region ? n->region : "");
	ctl_add_strings(o, "tags", n->tags, n->n_tags);
	cJSON_AddBoolToObject(o, "tags_by_admin", n->tags_by_admin);
	ctl_add_addrs(o, &n->addr4, &n->addr6);
	cJSON_AddStringToObject(
	    o, "endpoint",
	    n->endpoint.family ? io_addr_format(&n->endpoint, true, buf, sizeof(buf)) : "");
	cJSON_AddBoolToObject(o, "connected", n->connected);
	cJSON_AddBoolToObject(o, "alive", n->alive);
	cJSON_AddBoolToObject(o, "key_revoked", n->key_revoked);
	cJSON_AddNumberToObject(o, "acked_version", (double)control_acked_version(c, n->name));
	return o;
}

/* An auth key as the admin view shows it: never its secret or hash. */
static cJSON *ctl_authkey_json(const struct reg_authkey *k, uint64_t now_s)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", k->id);
	cJSON_AddBoolToObject(o, "reusable", k->reusable);
	cJSON_AddNumberToObject(o, "expires_s", (double)k->expires_s);
	ctl_add_strings(o, "tags", k->tags, k->n_tags);
	cJSON_AddStringToObject(o, "created_by", k->created_by);
	cJSON_AddNumberToObject(o, "created_s", (double)k->created_s);
	cJSON_AddNumberToObject(o, "uses", (double)k->uses);
	cJSON_AddBoolToObject(o, "revoked", k->revoked);
	cJSON_AddBoolToObject(o, "spent", reg_authkey_spent(k));
	cJSON_AddBoolToObject(o, "usable", reg_authkey_usable(k, now_s));
	return o;
}

/* The auth key `id` as the admin view shows it, or NULL. */
static cJSON *ctl_authkey_named_json(struct control *c, const char *id)
{
	int i = registry_authkey_index(c->reg, id);

	return i >= 0 ? ctl_authkey_json(registry_authkey(c->reg, (size_t)i), ctl_wall_s(c)) : NULL;
}

/* The decision an approve, reject or revoke command records. */
static enum reg_decision ctl_decision_of(enum admin_cmd_kind kind)
{
	return kind == ADMIN_CMD_APPROVE  ? REG_DECISION_APPROVED
	       : kind == ADMIN_CMD_REJECT ? REG_DECISION_REJECTED
	                                  : REG_DECISION_REVOKED;
}

static const char *ctl_decision_name(enum reg_decision d)
{
	switch (d) {
	case REG_DECISION_APPROVED:
		return "approved";
	case REG_DECISION_REJECTED:
		return "rejected";
	case REG_DECISION_REVOKED:
		return "revoked";
	default:
		return "none";
	}
}

/* The registry part of an admin write, on `reg`: the live registry, or
 * the scratch copy a write is tried on before it is saved. Deterministic
 * in what `reg` persists, so a command that succeeds on the copy succeeds
 * the same way on the live registry. 0 or -errno with err. */
static int ctl_mutate(struct registry *reg, const char *actor, const struct admin_cmd *cmd,
                      struct ctl_write_in *in, char *err, size_t err_len)
{
	switch (cmd->kind) {
	case ADMIN_CMD_DEFINE: {
		struct reg_service_def def = {.name = cmd->service,
		                              .description = cmd->description,
		                              .ports = cmd->ports,
		                              .n_ports = cmd->n_ports,
		                              .tags = cmd->tags,
		                              .n_tags = cmd->n_tags};
		const char *ports[REG_MAX_PORTS + 1];
		char port_text[REG_MAX_PORTS][24];
		int i = registry_service_index(reg, cmd->service);
		const struct reg_service *old = i >= 0 ? registry_service(reg, (size_t)i) : NULL;
		/* A redefinition keeps what the command does not mention. */
		if (old && !cmd->description)
			def.description = old->description;
		if (old && !cmd->has_tags) {
			def.tags = (const char *const *)old->tags;
			def.n_tags = old->n_tags;
		}
		if (old && !cmd->has_ports) {
			size_t n = 0;
			if (old->do_not_validate)
				ports[n++] = "do-not-validate";
			for (size_t k = 0; k < old->n_ports && n < REG_MAX_PORTS; k++) {
				ctl_port_text(&old->ports[k], port_text[k], sizeof(port_text[k]));
				ports[n++] = port_text[k];
			}
			def.ports = ports;
			def.n_ports = n;
		}
		if (!def.description)
			def.description = "";
		return registry_define_service(reg, actor, &def, err, err_len);
	}
	case ADMIN_CMD_DELETE:
		return registry_delete_service(reg, actor, cmd->service, err, err_len);
	case ADMIN_CMD_APPROVE:
	case ADMIN_CMD_REJECT:
	case ADMIN_CMD_REVOKE:
		return registry_decide(reg, actor, cmd->service, cmd->node,
		                       ctl_decision_of(cmd->kind), err, err_len);
	case ADMIN_CMD_SET_TAGS:
		return registry_node_set_tags(reg, actor, cmd->node, cmd->tags, cmd->n_tags, err,
		                              err_len);
	case ADMIN_CMD_SET_POLICY: {
		struct policy *p = NULL;
		int rc;
		if (!registry_is_admin(reg, actor))
			return err_setf(
			    err, err_len, -EPERM,
			    "%s is not an admin: only owners, admins and network admins "
			    "may set the policy",
			    actor);
		rc = policy_parse(in->policy_text, in->policy_len, &p, err, err_len);
		if (rc < 0)
			return rc;
		rc = registry_set_policy(reg, actor, p, err, err_len);
		if (rc < 0)
			policy_free(p);
		return rc;
	}
	case ADMIN_CMD_AUTHKEY_CREATE:
		return registry_authkey_create(reg, actor, cmd->reusable,
		                               cmd->expiry_s ? in->now_s + cmd->expiry_s : 0,
		                               cmd->tags, cmd->n_tags, in->now_s, in->random,
		                               in->key, sizeof(in->key), err, err_len);
	case ADMIN_CMD_AUTHKEY_REVOKE:
		return registry_authkey_revoke(reg, actor, cmd->authkey_id, err, err_len);
	case ADMIN_CMD_NODE_REVOKE:
		return registry_node_revoke_key(reg, actor, cmd->node, err, err_len);
	default:
		return err_setf(err, err_len, -EINVAL, "no command");
	}
}

/* An admin write, acknowledged only once durable (REL-3): it is tried on a
 * copy of the registry and that copy's state is saved; only then does the
 * live registry (and so any map) take it. When the save fails nothing
 * changes, *not_saved is set and err says why. Without persistence the
 * write goes straight to the live registry. 0 or -errno with err. */
static int ctl_write(struct control *c, const char *actor, const struct admin_cmd *cmd,
                     struct ctl_write_in *in, char *err, size_t err_len, bool *not_saved)
{
	char serr[STORAGE_ERR_LEN] = "";
	struct registry *copy = NULL;
	int rc;

	if (!c->state_path)
		return ctl_mutate(c->reg, actor, cmd, in, err, err_len);
	char *now = registry_to_json(c->reg);
	rc = now ? registry_from_json(now, strlen(now), &copy, serr, sizeof(serr)) : -ENOMEM;
	free(now);
	if (rc < 0)
		return err_setf(err, err_len, rc, "state not copied: %s; nothing changed",
		                rc == -ENOMEM ? strerror(ENOMEM) : serr);
	rc = ctl_mutate(copy, actor, cmd, in, err, err_len);
	if (rc < 0)
		goto out_free_copy;
	rc = ctl_store(c, copy, admin_cmd_name(cmd->kind), serr, sizeof(serr));
	if (rc < 0 && MUTANT("ack-before-durable"))
		rc = 0;
	if (rc < 0) {
		*not_saved = true;
		err_setf(err, err_len, rc, "state not saved: %s (%s); nothing changed",
		         strerror(-rc), serr);
		/* A failed directory fsync leaves the refused version visible
		 * on disk: rewrite what memory holds until a save succeeds. */
		c->dirty = true;
		if (!io_timer_armed(&c->recompute_timer))
			c->io->ops->timer_arm(c->io, &c->recompute_timer, CTL_SAVE_RETRY_US);
		goto out_free_copy;
	}
	rc = ctl_mutate(c->reg, actor, cmd, in, err, err_len);
	/* What was saved holds every change so far, node-driven ones too. The
	 * live registry refuses what the copy took only where state the copy
	 * lacks counts (a limit on host records, which advertisements fill):
	 * then the disk is ahead, and memory is written over it. */
	c->dirty = rc < 0;
	if (rc < 0 && !io_timer_armed(&c->recompute_timer))
		c->io->ops->timer_arm(c->io, &c->recompute_timer, CTL_SAVE_RETRY_US);
out_free_copy:
	registry_free(copy);
	return rc;
}

/* A read-only command's answer in *res. 0 or -errno with err. */
static int ctl_view(struct control *c, const struct admin_cmd *cmd, cJSON **res, char *err,
                    size_t err_len)
{
	switch (cmd->kind) {
	case ADMIN_CMD_SERVICES: {
		*res = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(*res, "services");
		for (size_t i = 0; a && i < registry_service_count(c->reg); i++)
			cJSON_AddItemToArray(a, ctl_service_json(c, registry_service(c->reg, i)));
		return 0;
	}
	case ADMIN_CMD_SERVICE: {
		int i = registry_service_index(c->reg, cmd->service);
		if (i < 0)
			return err_setf(err, err_len, -ENOENT, "unknown service \"%s\"",
			                cmd->service);
		*res = ctl_service_json(c, registry_service(c->reg, (size_t)i));
		return 0;
	}
	case ADMIN_CMD_NODES: {
		*res = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(*res, "nodes");
		for (size_t i = 0; a && i < registry_node_count(c->reg); i++)
			cJSON_AddItemToArray(a, ctl_node_json(c, i));
		return 0;
	}
	case ADMIN_CMD_POLICY: {
		const char *t = policy_text(registry_policy(c->reg));
		*res = cJSON_CreateObject();
		cJSON_AddStringToObject(*res, "policy", t ? t : "");
		return 0;
	}
	case ADMIN_CMD_AUTHKEYS: {
		uint64_t now_s = ctl_wall_s(c);
		*res = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(*res, "authkeys");
		for (size_t i = 0; a && i < registry_authkey_count(c->reg); i++)
			cJSON_AddItemToArray(a,
			                     ctl_authkey_json(registry_authkey(c->reg, i), now_s));
		return 0;
	}
	default:
		return err_setf(err, err_len, -EINVAL, "no command");
	}
}

/* The service `name` as the admin API shows it, or NULL. */
static cJSON *ctl_service_named_json(const struct control *c, const char *name)
{
	int i = registry_service_index(c->reg, name);

	return i >= 0 ? ctl_service_json(c, registry_service(c->reg, (size_t)i)) : NULL;
}

/* `tags` joined by commas into buf (an event's member). */
static const char *ctl_tags_text(char *const *tags, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", tags[i]);
	return buf;
}

/* A key was made: its event (never its secret), and the answer that
 * shows its text this once. */
static cJSON *ctl_authkey_created(struct control *c, const char *actor, const char *key)
{
	char id[REG_AUTHKEY_ID_LEN + 1], tags[REG_MAX_TAGS * (REG_MAX_NAME + 1) + 1];
	int i;

	memcpy(id, key + sizeof(REG_AUTHKEY_PREFIX) - 1, REG_AUTHKEY_ID_LEN);
	id[REG_AUTHKEY_ID_LEN] = '\0';
	i = registry_authkey_index(c->reg, id);
	CHECK(i >= 0);
	const struct reg_authkey *k = registry_authkey(c->reg, (size_t)i);
	io_event(c->io, "authkey_created", IO_STR("id", k->id), IO_BOOL("reusable", k->reusable),
	         IO_STR("tags", ctl_tags_text(k->tags, k->n_tags, tags, sizeof(tags))),
	         IO_U64("expires_s", k->expires_s), IO_STR("actor", actor));
	cJSON *res = ctl_authkey_json(k, ctl_wall_s(c));
	if (res)
		cJSON_AddStringToObject(res, "key", key);
	return res;
}

/* After a write took: its event, the drains it ends, and its answer. */
static cJSON *ctl_written(struct control *c, const char *actor, const struct admin_cmd *cmd,
                          const struct ctl_write_in *in, bool is_new)
{
	cJSON *res = NULL;

	switch (cmd->kind) {
	case ADMIN_CMD_DEFINE:
		io_event(c->io, "service_defined", IO_STR("service", cmd->service),
		         IO_STR("actor", actor), IO_BOOL("new", is_new));
		return ctl_service_named_json(c, cmd->service);
	case ADMIN_CMD_DELETE:
		for (size_t i = 0; i < c->n_drains;) {
			if (strcmp(c->drains[i].service, cmd->service) == 0)
				ctl_drain_remove(c, i);
			else
				i++;
		}
		io_event(c->io, "service_deleted", IO_STR("service", cmd->service),
		         IO_STR("actor", actor));
		res = cJSON_CreateObject();
		cJSON_AddStringToObject(res, "deleted", cmd->service);
		return res;
	case ADMIN_CMD_APPROVE:
	case ADMIN_CMD_REJECT:
	case ADMIN_CMD_REVOKE:
		io_event(c->io, "host_decision", IO_STR("service", cmd->service),
		         IO_STR("node_name", cmd->node),
		         IO_STR("decision", ctl_decision_name(ctl_decision_of(cmd->kind))),
		         IO_STR("actor", actor));
		return ctl_service_named_json(c, cmd->service);
	case ADMIN_CMD_SET_TAGS: {
		int ni = registry_node_index(c->reg, cmd->node);
		const struct reg_node *n = registry_node(c->reg, (size_t)ni);
		char tags[REG_MAX_TAGS * (REG_MAX_NAME + 1) + 1] = "";
		if (n)
			ctl_tags_text(n->tags, n->n_tags, tags, sizeof(tags));
		io_event(c->io, "node_tags_set", IO_STR("node_name", cmd->node),
		         IO_STR("tags", tags), IO_STR("actor", actor));
		return n ? ctl_node_json(c, (size_t)ni) : NULL;
	}
	case ADMIN_CMD_SET_POLICY:
		io_event(c->io, "policy_set", IO_STR("actor", actor),
		         IO_U64("bytes", in->policy_len));
		res = cJSON_CreateObject();
		cJSON_AddBoolToObject(res, "ok", true);
		return res;
	case ADMIN_CMD_AUTHKEY_CREATE:
		return ctl_authkey_created(c, actor, in->key);
	case ADMIN_CMD_AUTHKEY_REVOKE:
		io_event(c->io, "authkey_revoked", IO_STR("id", cmd->authkey_id),
		         IO_STR("actor", actor));
		return ctl_authkey_named_json(c, cmd->authkey_id);
	case ADMIN_CMD_NODE_REVOKE: {
		int ni = registry_node_index(c->reg, cmd->node);
		io_event(c->io, "node_key_revoked", IO_STR("node_name", cmd->node),
		         IO_STR("actor", actor));
		if (ni < 0)
			return NULL;
		ctl_node_key_revoked(c, (size_t)ni);
		return ctl_node_json(c, (size_t)ni);
	}
	default:
		return NULL;
	}
}

static bool ctl_is_write(enum admin_cmd_kind kind)
{
	return kind == ADMIN_CMD_DEFINE || kind == ADMIN_CMD_DELETE || kind == ADMIN_CMD_APPROVE ||
	       kind == ADMIN_CMD_REJECT || kind == ADMIN_CMD_REVOKE ||
	       kind == ADMIN_CMD_SET_POLICY || kind == ADMIN_CMD_SET_TAGS ||
	       kind == ADMIN_CMD_AUTHKEY_CREATE || kind == ADMIN_CMD_AUTHKEY_REVOKE ||
	       kind == ADMIN_CMD_NODE_REVOKE;
}

/* A write command: made durable (ctl_write), then announced; its answer
 * in *res. 0 or -errno with err. */
static int ctl_apply(struct control *c, const char *actor, const struct admin_cmd *cmd,
                     const char *policy_text_in, size_t policy_len, cJSON **res, char *err,
                     size_t err_len, bool *not_saved)
{
	bool is_new =
	    cmd->kind == ADMIN_CMD_DEFINE && registry_service_index(c->reg, cmd->service) < 0;
	struct ctl_write_in in = {
	    .policy_text = policy_text_in, .policy_len = policy_len, .now_s = ctl_wall_s(c)};

	if (!ctl_is_write(cmd->kind))
		return err_setf(err, err_len, -EINVAL, "no command");
	/* From the seam: the kernel's CSPRNG, or the simulator's seeded stream. */
	if (cmd->kind == ADMIN_CMD_AUTHKEY_CREATE)
		c->io->ops->random_secret(c->io, in.random, sizeof(in.random));
	int rc = ctl_write(c, actor, cmd, &in, err, err_len, not_saved);
	if (rc < 0)
		return rc;
	*res = ctl_written(c, actor, cmd, &in, is_new);
	/* States right away: an admin action's outcome is an event even when
	 * the next change comes before the recompute. */
	ctl_state_events(c);
	ctl_schedule(c);
	return 0;
}

/* Runs a parsed command as `actor`. *json gets the result or {"error"}.
 * Returns 0 or -errno; *not_saved tells a write refused because its state
 * could not be made durable (the API's 503). */
int ctl_exec(struct control *c, const char *actor, const struct admin_cmd *cmd,
             const char *policy_text_in, size_t policy_len, char **json, bool *not_saved)
{
	char err[REG_ERR_LEN > POLICY_ERR_LEN ? REG_ERR_LEN : POLICY_ERR_LEN] = "";
	cJSON *res = NULL;
	int rc;

	*json = NULL;
	*not_saved = false;
	if (!actor || !registry_user(c->reg, actor))
		rc = err_setf(err, sizeof(err), -EPERM, "unknown user \"%s\"", actor ? actor : "");
	else if (admin_cmd_read_only(cmd->kind))
		rc = ctl_view(c, cmd, &res, err, sizeof(err));
	else
		rc = ctl_apply(c, actor, cmd, policy_text_in, policy_len, &res, err, sizeof(err),
		               not_saved);
	if (rc < 0) {
		if (rc == -EPERM)
			io_event(c->io, "admin_refused", IO_STR("actor", actor ? actor : ""),
			         IO_STR("command", admin_cmd_name(cmd->kind)),
			         IO_STR("error", err));
		*json = ctl_error_json(err);
		return rc;
	}
	*json = res ? cJSON_PrintUnformatted(res) : NULL;
	cJSON_Delete(res);
	return *json ? 0 : -ENOMEM;
}

/* A command's answer (json, freed here) into out; -ENOSPC for a success
 * that does not fit. Then the sessions a command ended are reaped. */
static int ctl_answer(struct control *c, int rc, char *json, char *out, size_t out_len)
{
	if (out && out_len) {
		size_t n = json ? strlen(json) : 0;
		if (n >= out_len) {
			snprintf(out, out_len, "{\"error\":\"output larger than the buffer\"}");
			if (rc == 0)
				rc = -ENOSPC;
		} else {
			memcpy(out, json ? json : "", n + 1);
		}
	}
	free(json);
	ctl_reap(c);
	return rc;
}

int control_admin_line(struct control *c, const char *actor, const char *line, char *out,
                       size_t out_len)
{
	struct admin_cmd cmd;
	char err[ADMIN_CMD_ERR_LEN > POLICY_ERR_LEN ? ADMIN_CMD_ERR_LEN : POLICY_ERR_LEN] = "";
	char *json = NULL, *text = NULL;
	size_t text_len = 0;
	bool not_saved = false;
	int rc;

	rc = admin_cmd_parse(&cmd, line, err, sizeof(err));
	if (rc == 0 && cmd.kind == ADMIN_CMD_SET_POLICY)
		rc = ctl_read_policy_file(c, cmd.file, &text, &text_len, err, sizeof(err));
	if (rc < 0)
		json = ctl_error_json(err);
	else
		rc = ctl_exec(c, actor, &cmd, text, text_len, &json, &not_saved);
	free(text);
	admin_cmd_free(&cmd);
	return ctl_answer(c, rc, json, out, out_len);
}

int control_admin_policy(struct control *c, const char *actor, const char *text, size_t len,
                         char *out, size_t out_len)
{
	const struct admin_cmd cmd = {.kind = ADMIN_CMD_SET_POLICY};
	char *json = NULL;
	bool not_saved = false;
	int rc = ctl_exec(c, actor, &cmd, text, len, &json, &not_saved);

	return ctl_answer(c, rc, json, out, out_len);
}

int control_authkey_issue(struct control *c, const char *owner, const char *const *tags,
                          size_t n_tags, char *key_out, size_t key_len, char *err, size_t err_len)
{
	uint8_t random[REG_AUTHKEY_RANDOM];
	int rc;

	c->io->ops->random_secret(c->io, random, sizeof(random));
	rc = registry_authkey_issue(c->reg, owner ? owner : "", true, 0, tags, n_tags,
	                            ctl_wall_s(c), random, key_out, key_len, err, err_len);
	OPENSSL_cleanse(random, sizeof(random));
	if (rc < 0)
		return rc;
	c->dirty = true;
	cJSON_Delete(ctl_authkey_created(c, "operator", key_out));
	return 0;
}
