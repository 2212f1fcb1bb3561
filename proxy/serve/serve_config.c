/* The serve configuration model (see serve_config.h): building, copying,
 * freeing and looking up services, ports and handlers, the sorted inserts
 * and removals serve_cmd.c applies, and the advertisement state. Its JSON
 * form is in serve_json.c, the rules a config obeys in serve_validate.c. */
#include "proxy/serve/serve_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- names of types ------------------------------------------------------ */

const char *serve_type_name(enum serve_type type)
{
	switch (type) {
	case SERVE_TYPE_HTTPS:
		return "https";
	case SERVE_TYPE_HTTP:
		return "http";
	case SERVE_TYPE_TCP:
		return "tcp";
	case SERVE_TYPE_TLS_TCP:
		return "tls-terminated-tcp";
	case SERVE_TYPE_TUN:
		return "tun";
	case SERVE_TYPE_NONE:
		break;
	}
	return "none";
}

/* --- the model ---------------------------------------------------------------- */

void serve_config_init(struct serve_config *cfg, const char *tailnet_suffix)
{
	if (!tailnet_suffix)
		tailnet_suffix = "";
	CHECK(strlen(tailnet_suffix) <= SERVE_MAX_SUFFIX_LEN);
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->suffix, sizeof(cfg->suffix), "%s", tailnet_suffix);
}

static void handler_free(struct serve_handler *h)
{
	free(h->mount);
	free(h->value);
	h->mount = h->value = NULL;
}

static void port_free(struct serve_port *p)
{
	for (size_t i = 0; i < p->n_handlers; i++)
		handler_free(&p->handlers[i]);
	free(p->handlers);
	free(p->tcp_forward);
	free(p->terminate_tls);
	memset(p, 0, sizeof(*p));
}

static void service_free(struct serve_service *s)
{
	for (size_t i = 0; i < s->n_ports; i++)
		port_free(&s->ports[i]);
	free(s->ports);
	s->ports = NULL;
	s->n_ports = 0;
}

void serve_config_free(struct serve_config *cfg)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		service_free(&cfg->services[i]);
	free(cfg->services);
	cfg->services = NULL;
	cfg->n_services = 0;
}

void serve_config_swap(struct serve_config *a, struct serve_config *b)
{
	struct serve_config t = *a;

	*a = *b;
	*b = t;
}

bool serve_config_is_empty(const struct serve_config *cfg)
{
	return cfg->n_services == 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* n zeroed elements of `size` bytes; NULL for none, or with *oom set when
 * memory ran out. */
static void *calloc_or_oom(size_t n, size_t size, bool *oom)
{
	void *p;

	if (n == 0)
		return NULL;
	p = calloc(n, size);
	if (!p)
		*oom = true;
	return p;
}

/* Deep copies: *oom is set when any allocation failed (what was copied
 * stays for the caller to free). */
static void port_clone(struct serve_port *dp, const struct serve_port *sp, bool *oom)
{
	dp->port = sp->port;
	dp->type = sp->type;
	dp->tcp_forward = dup_or_null(sp->tcp_forward, oom);
	dp->terminate_tls = dup_or_null(sp->terminate_tls, oom);
	dp->handlers = calloc_or_oom(sp->n_handlers, sizeof(*dp->handlers), oom);
	if (!dp->handlers)
		return;
	dp->n_handlers = sp->n_handlers;
	for (size_t k = 0; k < sp->n_handlers; k++) {
		dp->handlers[k].kind = sp->handlers[k].kind;
		dp->handlers[k].mount = dup_or_null(sp->handlers[k].mount, oom);
		dp->handlers[k].value = dup_or_null(sp->handlers[k].value, oom);
	}
}

static void service_clone(struct serve_service *ds, const struct serve_service *ss, bool *oom)
{
	memcpy(ds->name, ss->name, sizeof(ds->name));
	ds->tun = ss->tun;
	ds->ports = calloc_or_oom(ss->n_ports, sizeof(*ds->ports), oom);
	if (!ds->ports)
		return;
	ds->n_ports = ss->n_ports;
	for (size_t j = 0; j < ss->n_ports && !*oom; j++)
		port_clone(&ds->ports[j], &ss->ports[j], oom);
}

int serve_config_clone(struct serve_config *dst, const struct serve_config *src)
{
	bool oom = false;

	serve_config_init(dst, src->suffix);
	dst->services = calloc_or_oom(src->n_services, sizeof(*dst->services), &oom);
	if (dst->services)
		dst->n_services = src->n_services;
	for (size_t i = 0; i < dst->n_services && !oom; i++)
		service_clone(&dst->services[i], &src->services[i], &oom);
	if (oom) {
		serve_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

struct serve_service *serve_config_find(const struct serve_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return &cfg->services[i];
	return NULL;
}

struct serve_port *serve_service_find_port(const struct serve_service *svc, uint16_t port)
{
	for (size_t i = 0; i < svc->n_ports; i++)
		if (svc->ports[i].port == port)
			return &svc->ports[i];
	return NULL;
}

struct serve_handler *serve_port_find_handler(const struct serve_port *port, const char *mount)
{
	for (size_t i = 0; i < port->n_handlers; i++)
		if (strcmp(port->handlers[i].mount, mount) == 0)
			return &port->handlers[i];
	return NULL;
}

static bool mount_matches(const char *m, const char *path, size_t n)
{
	size_t mn = strlen(m);

	if (mn > n || memcmp(m, path, mn) != 0)
		return false;
	return mn == n || m[mn - 1] == '/' || path[mn] == '/';
}

const struct serve_handler *serve_port_match(const struct serve_port *port, const char *path,
                                             size_t path_len)
{
	const struct serve_handler *best = NULL;
	size_t best_n = 0;

	for (size_t i = 0; i < port->n_handlers; i++) {
		const struct serve_handler *h = &port->handlers[i];
		size_t mn = strlen(h->mount);

		if (mount_matches(h->mount, path, path_len) && (!best || mn > best_n)) {
			best = h;
			best_n = mn;
		}
	}
	return best;
}

int serve_service_host(const struct serve_config *cfg, const char *name, char *out, size_t out_len)
{
	const char *label = strncmp(name, "svc:", 4) == 0 ? name + 4 : name;
	size_t label_len = strlen(label), suffix_len = strlen(cfg->suffix);
	size_t len = label_len + (suffix_len ? 1 + suffix_len : 0);

	if (len >= out_len)
		return -ENAMETOOLONG;
	memcpy(out, label, label_len);
	if (suffix_len) {
		out[label_len] = '.';
		memcpy(out + label_len + 1, cfg->suffix, suffix_len);
	}
	out[len] = '\0';
	return 0;
}

/* The array `arr` of n elements of `size` bytes, grown by one zeroed
 * element at index i (the later ones move up). NULL without memory, `arr`
 * unchanged; else the caller stores the result and counts the element. */
static void *array_insert_at(void *arr, size_t n, size_t i, size_t size)
{
	char *a = realloc(arr, (n + 1) * size);

	if (!a)
		return NULL;
	memmove(a + (i + 1) * size, a + i * size, (n - i) * size);
	memset(a + i * size, 0, size);
	return a;
}

/* Closes the gap element i of `arr` (n elements of `size` bytes) leaves;
 * *n counts one fewer. */
static void array_remove_at(void *arr, size_t *n, size_t i, size_t size)
{
	char *a = arr;

	CHECK(i < *n);
	memmove(a + i * size, a + (i + 1) * size, (*n - i - 1) * size);
	(*n)--;
}

/* Sorted inserts. Each returns the new zeroed element or NULL (-ENOMEM). */
static struct serve_service *service_insert(struct serve_config *cfg, const char *name)
{
	size_t i = 0;
	struct serve_service *arr;

	while (i < cfg->n_services && strcmp(cfg->services[i].name, name) < 0)
		i++;
	arr = array_insert_at(cfg->services, cfg->n_services, i, sizeof(*arr));
	if (!arr)
		return NULL;
	cfg->services = arr;
	cfg->n_services++;
	snprintf(arr[i].name, sizeof(arr[i].name), "%s", name);
	return &arr[i];
}

static struct serve_port *port_insert(struct serve_service *svc, uint16_t port)
{
	size_t i = 0;
	struct serve_port *arr;

	while (i < svc->n_ports && svc->ports[i].port < port)
		i++;
	arr = array_insert_at(svc->ports, svc->n_ports, i, sizeof(*arr));
	if (!arr)
		return NULL;
	svc->ports = arr;
	svc->n_ports++;
	arr[i].port = port;
	return &arr[i];
}

static struct serve_handler *handler_insert(struct serve_port *p, const char *mount)
{
	size_t i = 0;
	struct serve_handler *arr;
	char *m = strdup(mount);

	if (!m)
		return NULL;
	while (i < p->n_handlers && strcmp(p->handlers[i].mount, mount) < 0)
		i++;
	arr = array_insert_at(p->handlers, p->n_handlers, i, sizeof(*arr));
	if (!arr) {
		free(m);
		return NULL;
	}
	p->handlers = arr;
	p->n_handlers++;
	arr[i].mount = m;
	return &arr[i];
}

struct serve_service *serve_config_add_service(struct serve_config *cfg, const char *name)
{
	return service_insert(cfg, name);
}

struct serve_port *serve_service_add_port(struct serve_service *svc, uint16_t port)
{
	return port_insert(svc, port);
}

struct serve_handler *serve_port_add_handler(struct serve_port *p, const char *mount)
{
	return handler_insert(p, mount);
}

void serve_config_remove_service(struct serve_config *cfg, struct serve_service *svc)
{
	service_free(svc);
	array_remove_at(cfg->services, &cfg->n_services, (size_t)(svc - cfg->services),
	                sizeof(*svc));
}

void serve_service_remove_port(struct serve_service *svc, struct serve_port *p)
{
	port_free(p);
	array_remove_at(svc->ports, &svc->n_ports, (size_t)(p - svc->ports), sizeof(*p));
}

void serve_port_remove_handler(struct serve_port *p, struct serve_handler *h)
{
	handler_free(h);
	array_remove_at(p->handlers, &p->n_handlers, (size_t)(h - p->handlers), sizeof(*h));
}

/* --- advertisement ----------------------------------------------------------- */

void serve_adv_init(struct serve_adv *adv)
{
	memset(adv, 0, sizeof(*adv));
}

enum serve_adv_state serve_adv_get(const struct serve_adv *adv, const char *name)
{
	for (size_t i = 0; i < adv->n; i++)
		if (strcmp(adv->e[i].name, name) == 0)
			return adv->e[i].state;
	return SERVE_ADV_NONE;
}

int serve_adv_set(struct serve_adv *adv, const char *name, enum serve_adv_state state)
{
	size_t i = 0;

	CHECK(strlen(name) <= SERVE_NAME_MAX);
	while (i < adv->n && strcmp(adv->e[i].name, name) < 0)
		i++;
	if (i < adv->n && strcmp(adv->e[i].name, name) == 0) {
		if (state == SERVE_ADV_NONE) {
			memmove(&adv->e[i], &adv->e[i + 1], (adv->n - i - 1) * sizeof(adv->e[0]));
			adv->n--;
		} else {
			adv->e[i].state = state;
		}
		return 0;
	}
	if (state == SERVE_ADV_NONE)
		return 0;
	if (adv->n >= SERVE_MAX_SERVICES)
		return -E2BIG;
	memmove(&adv->e[i + 1], &adv->e[i], (adv->n - i) * sizeof(adv->e[0]));
	adv->n++;
	snprintf(adv->e[i].name, sizeof(adv->e[i].name), "%s", name);
	adv->e[i].state = state;
	return 0;
}

bool serve_host_may_serve(bool node_has_tags, const char *service, char *err, size_t err_len)
{
	if (node_has_tags)
		return true;
	err_setf(
	    err, err_len, 0,
	    "cannot serve %s: a service host must be a tagged node, and this machine has no tags",
	    service);
	return false;
}
