/* Persistence of the coordination server (REL-3): the state document
 * (registry and CA seed) written and read through the storage seam
 * (lib/io/storage.h), coalesced saves of node-driven changes. */
#define _GNU_SOURCE
#include "control/control_int.h"

#include "control/policy.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"
#include "lib/io/storage.h"
#include "lib/wire/localapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The state document of `reg` with the CA seed (malloc'd; NULL: -ENOMEM). */
static char *ctl_state_text(const struct control *c, const struct registry *reg, size_t *len)
{
	char seed[CA_SEED_LEN * 2 + 1];
	char *text = NULL, *r = registry_to_json(reg);

	if (!r)
		return NULL;
	hex_encode(ca_seed(c->ca), CA_SEED_LEN, seed);
	int n = asprintf(&text, "{\"version\":1,\"ca_seed\":\"%s\",\"registry\":%s}\n", seed, r);
	free(r);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

/* Writes `reg`'s state through the storage: 0 once durable, or -errno
 * with the reason in err (and a state_save_failed event naming `what`). */
int ctl_store(struct control *c, const struct registry *reg, const char *what, char *err,
              size_t err_len)
{
	size_t len = 0;
	char *text = ctl_state_text(c, reg, &len);
	int rc;

	if (!text)
		rc = err_setf(err, err_len, -ENOMEM, "%s: out of memory", c->state_path);
	else
		rc = c->storage->ops->write(c->storage, c->state_path, text, len, err, err_len);
	free(text);
	if (rc < 0)
		io_event(c->io, "state_save_failed", IO_STR("path", c->state_path),
		         IO_STR("error", strerror(-rc)), IO_STR("detail", err),
		         IO_STR("for", what));
	return rc;
}

/* Saves the live state when it changed (node-driven changes coalesce
 * here). A failure leaves it marked unsaved for the next try. */
int ctl_save(struct control *c)
{
	char err[STORAGE_ERR_LEN] = "";

	if (!c->state_path) {
		c->dirty = false;
		return 0;
	}
	int rc = ctl_store(c, c->reg, "coalesced", err, sizeof(err));
	c->dirty = rc < 0;
	return rc;
}

int control_save_state(struct control *c)
{
	c->dirty = true;
	return ctl_save(c);
}

static int ctl_hex_seed(const char *text, uint8_t seed[CA_SEED_LEN])
{
	return hex_decode(text, seed, CA_SEED_LEN) ? 0 : -EINVAL;
}

/* The registry of a state document's "registry" member into c->reg. */
static int ctl_registry_from_doc(struct control *c, const cJSON *r, char *err, size_t err_len)
{
	char rerr[REG_ERR_LEN] = "";
	char *text = cJSON_PrintUnformatted(r);

	if (!text)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	int rc = registry_from_json(text, strlen(text), &c->reg, rerr, sizeof(rerr));
	free(text);
	if (rc < 0)
		return err_setf(err, err_len, rc, "state %s: %s", c->state_path, rerr);
	return 0;
}

/* A state document: {"version", "ca_seed": 64 hex, "registry": {...}}. */
static int ctl_state_parse(struct control *c, const char *text, size_t len,
                           uint8_t seed[CA_SEED_LEN], char *err, size_t err_len)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	int rc;

	if (!cJSON_IsObject(doc)) {
		rc = err_setf(err, err_len, -EINVAL, "state %s: not a JSON object", c->state_path);
	} else {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "registry");
		const char *hex =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "ca_seed"));
		if (!cJSON_IsObject(r) || ctl_hex_seed(hex, seed) < 0)
			rc = err_setf(err, err_len, -EINVAL,
			              "state %s: want {\"ca_seed\": 64 hex, \"registry\": {...}}",
			              c->state_path);
		else
			rc = ctl_registry_from_doc(c, r, err, err_len);
	}
	cJSON_Delete(doc);
	return rc;
}

/* Loads state_path through the storage: 0 (loaded), 1 (none stored), or
 * -errno with err (the storage's refusal says how to fix it). */
int ctl_load(struct control *c, uint8_t seed[CA_SEED_LEN], char *err, size_t err_len)
{
	char serr[STORAGE_ERR_LEN] = "";
	size_t len;
	char *text = NULL;
	int rc = c->storage->ops->read(c->storage, c->state_path, CTL_STATE_MAX_BYTES, &text, &len,
	                               serr, sizeof(serr));

	if (rc == -ENOENT)
		return 1;
	if (rc < 0)
		return err_setf(err, err_len, rc, "state %s", serr);
	rc = ctl_state_parse(c, text, len, seed, err, err_len);
	free(text);
	return rc;
}

/* ---- admin files: the host's, read-only ----------------------------------- */

static int ctl_host_read(struct storage *st, const char *name, size_t max_bytes, char **out,
                         size_t *len, char *err, size_t err_len)
{
	(void)st;
	*out = localapi_read_file(name, max_bytes, len);
	if (!*out) {
		int e = errno ? errno : EIO;
		return err_setf(err, err_len, -e, "%s: %s", name, strerror(e));
	}
	return 0;
}

static int ctl_host_write(struct storage *st, const char *name, const void *data, size_t len,
                          char *err, size_t err_len)
{
	(void)st;
	(void)data;
	(void)len;
	return err_setf(err, err_len, -EROFS, "%s: control does not write the host's files", name);
}

static const struct storage_ops ctl_host_files_ops = {
    .read = ctl_host_read,
    .write = ctl_host_write,
};

void ctl_admin_files_init(struct control *c, struct storage *given)
{
	c->host_files.ops = &ctl_host_files_ops;
	c->admin_files = given ? given : &c->host_files;
}

int ctl_read_policy_file(struct control *c, const char *path, char **text, size_t *len, char *err,
                         size_t err_len)
{
	int rc =
	    c->admin_files->ops->read(c->admin_files, path, POLICY_MAX_BYTES, text, len, NULL, 0);

	if (rc == -EFBIG)
		return err_setf(err, err_len, -E2BIG, "set-policy %s: larger than 1 MiB", path);
	if (rc < 0)
		return err_setf(err, err_len, rc, "set-policy %s: %s", path, strerror(-rc));
	return 0;
}
