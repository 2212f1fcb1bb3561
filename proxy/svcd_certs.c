/* svcd_certs.c: the certificates control issues per service (L7-5), kept in memory. */
#define _GNU_SOURCE
#include "lib/io/io_event.h"
#include "lib/wire/tls.h"
#include "proxy/svcd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void svcd_cert_put(struct svcd_cert *c)
{
	if (!c || --c->refs > 0)
		return;
	tls_ctx_free(c->ctx);
	free(c->pem);
	free(c);
}

/* The certificate control issued for `service`, or NULL. */
struct svcd_cert *svcd_cert_for(const struct svcd *d, const char *service)
{
	for (size_t i = 0; i < d->n_certs; i++)
		if (strcmp(d->certs[i]->service, service) == 0)
			return d->certs[i];
	return NULL;
}

/* Rebuilds the certificate table from a netmap document's
 * host_services[].cert_pem (members netmap_from_json ignores). Unchanged
 * PEMs keep their context; a certificate that does not load with the
 * node's key is reported and that service falls back to --cert. */
void svcd_update_certs(struct svcd *d, const cJSON *doc)
{
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(doc, "host_services"), *it;
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(hs);
	struct svcd_cert **next = NULL;

	if (!d->key_pem)
		return;
	if (cap > NETMAP_MAX_SERVICES)
		cap = NETMAP_MAX_SERVICES;
	if (cap && !(next = calloc(cap, sizeof(*next)))) {
		io_event(d->io, "svcd_warning", IO_STR("what", "certificates"),
		         IO_I64("errno", ENOMEM));
		return;
	}
	cJSON_ArrayForEach(it, hs)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *pem = cJSON_GetObjectItemCaseSensitive(it, "cert_pem");
		struct svcd_cert *c;

		if (n == cap)
			break;
		if (!cJSON_IsString(name) || !cJSON_IsString(pem) ||
		    strlen(name->valuestring) > SERVE_NAME_MAX)
			continue;
		c = svcd_cert_for(d, name->valuestring);
		if (c && strcmp(c->pem, pem->valuestring) == 0) {
			c->refs++;
			next[n++] = c;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || !(c->pem = strdup(pem->valuestring))) {
			free(c);
			continue;
		}
		char terr[TLS_ERR_LEN] = "";
		const struct tls_ctx_config tc = {.server = true,
		                                  .cert_pem = c->pem,
		                                  .key_pem = d->key_pem,
		                                  .os_entropy = d->os_entropy};
		int rc = tls_ctx_new(&c->ctx, d->io, &tc, terr, sizeof(terr));
		if (rc < 0) {
			io_event(d->io, "cert_refused", IO_STR("service", name->valuestring),
			         IO_I64("errno", -rc), IO_STR("why", terr));
			free(c->pem);
			free(c);
			continue;
		}
		snprintf(c->service, sizeof(c->service), "%s", name->valuestring);
		c->refs = 1;
		next[n++] = c;
		io_event(d->io, "cert_installed", IO_STR("service", c->service));
	}
	for (size_t i = 0; i < d->n_certs; i++)
		svcd_cert_put(d->certs[i]);
	free(d->certs);
	d->certs = next;
	d->n_certs = n;
}
