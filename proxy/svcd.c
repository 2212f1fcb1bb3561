/* svcd.c: the daemon core: lifecycle, netmaps, the map session with control, and the data plane
 * hooks (LIM-1, MagicDNS). */
#define _GNU_SOURCE
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/mutant.h"
#include "lib/io/io_event.h"
#include "lib/wire/ca.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/packet.h"
#include "lib/wire/tls.h"
#include "lib/wire/wg.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/magicdns.h"
#include "proxy/mapclient.h"
#include "proxy/svcd_int.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LIM-1: a packet the data plane writes into the stack for a hosted VIP
 * (from the tailnet, or a MagicDNS answer) reaches it only when it is TCP
 * or its service runs at L3 (dataplane_config's deliver hook; `pi` is the
 * data plane's parse of `pkt`). */
static bool svcd_packet_allowed(void *ctx, const uint8_t *pkt, size_t len,
                                const struct packet_info *pi)
{
	struct svcd *d = ctx;
	const struct netmap_service *hs;
	const struct serve_service *svc;

	(void)pkt;
	(void)len;
	if (!d->nm)
		return true; /* the data plane judged it already */
	if (pi->proto == PACKET_PROTO_TCP)
		return true;
	hs = netmap_host_service_by_vip(d->nm, &pi->dst);
	if (!hs)
		return true;
	svc = serve_config_find(&d->cfg, hs->name);
	if (svc && svc->tun)
		return true;

	uint64_t now = d->io->ops->now_us(d->io);
	d->non_tcp_refused++;
	if (!d->non_tcp_event_sent || now - d->non_tcp_last_event_us >= SVCD_EVENT_GAP_US) {
		char dst[IO_ADDR_STRLEN];
		io_event(d->io, "service_non_tcp_refused", IO_STR("service", hs->name),
		         IO_U64("proto", pi->proto),
		         IO_STR("dst", io_addr_format(&pi->dst, pi->has_ports, dst, sizeof(dst))),
		         IO_U64("count", d->non_tcp_refused));
		d->non_tcp_refused = 0;
		d->non_tcp_last_event_us = now;
		d->non_tcp_event_sent = true;
	}
	return false;
}

static int svcd_mc_apply(void *ctx, const cJSON *doc, const char *text, size_t len,
                         uint64_t version, char *err, size_t err_len)
{
	struct svcd *d = ctx;
	(void)version;
	return svcd_apply_netmap(d, doc, text, len, err, err_len);
}

static void svcd_mc_drain_confirmed(void *ctx, const char *service)
{
	svcd_drain_confirmed(ctx, service);
}

static int svcd_mc_key_rotated(void *ctx, const uint8_t seed[32])
{
	struct svcd *d = ctx;
	return d->key_store ? d->key_store(d->key_store_ctx, seed, false) : 0;
}

int svcd_rotate_key(struct svcd *d, char *out, size_t out_len)
{
	uint8_t seed[WG_KEY_LEN];
	struct wg_keypair kp;
	char b64[WG_KEY_BASE64_LEN + 1];
	int rc;

	if (!d->mc)
		return err_setf(out, out_len, -ENOTCONN,
		                "no control: a node key is control's to know");
	d->io->ops->random_secret(d->io, seed, sizeof(seed));
	rc = wg_keypair_from_seed(&kp, seed);
	if (rc == 0 && d->key_store)
		rc = d->key_store(d->key_store_ctx, kp.priv, true);
	if (rc == 0)
		rc = mapclient_rotate_key(d->mc, kp.priv);
	if (rc < 0) {
		err_setf(out, out_len, rc, "node key rotation: %s", strerror(-rc));
	} else {
		wg_key_to_base64(b64, kp.pub);
		snprintf(out, out_len,
		         "rotating to node key %s: control records it, then the "
		         "session reconnects with it\n",
		         b64);
		io_event(d->io, "node_key_rotation_asked", IO_STR("key", b64));
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(&kp, sizeof(kp));
	return rc;
}

/* Sends control the advertisement: every advertised or draining service
 * with the ports its serve config handles. */
void svcd_readvertise(struct svcd *d)
{
	cJSON *arr;
	int rc = -ENOMEM;

	if (!d->mc)
		return;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < d->adv.n; i++) {
		const struct serve_adv_entry *e = &d->adv.e[i];
		const struct serve_service *svc = serve_config_find(&d->cfg, e->name);
		cJSON *o = cJSON_CreateObject(), *ports;

		if (!o)
			goto out_free_array;
		cJSON_AddItemToArray(arr, o);
		if (!cJSON_AddStringToObject(o, "name", e->name) ||
		    !cJSON_AddBoolToObject(o, "draining", e->state == SERVE_ADV_DRAINING) ||
		    !cJSON_AddBoolToObject(o, "tun", svc && svc->tun) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			goto out_free_array;
		for (size_t j = 0; svc && j < svc->n_ports; j++) {
			cJSON *n = cJSON_CreateNumber(svc->ports[j].port);
			if (!n)
				goto out_free_array;
			cJSON_AddItemToArray(ports, n);
		}
	}
	if (arr)
		rc = mapclient_advertise(d->mc, arr);
out_free_array:
	if (rc < 0)
		io_event(d->io, "svcd_warning", IO_STR("what", "advertise"), IO_I64("errno", -rc));
	cJSON_Delete(arr);
}

/* Starts the map session: the node's TLS key from the seam's random
 * (L7-5), then the client. */
static int svcd_start_control(struct svcd *d, const struct svcd_config *config, char *err,
                              size_t err_len)
{
	uint8_t seed[CA_SEED_LEN];
	char *pub = NULL, ep[IO_ADDR_STRLEN];
	struct io_addr under = config->underlay;
	int rc;

	d->io->ops->random_secret(d->io, seed, sizeof(seed));
	rc = ca_keypair_from_seed(seed, &d->key_pem, &pub);
	if (rc < 0)
		return err_setf(err, err_len, rc, "node TLS key: %s", strerror(-rc));
	if (!config->node_key || !config->control_key)
		return err_setf(err, err_len, -EINVAL,
		                "a map session needs the node key and control's public key");
	if (under.port == 0)
		under.port = DATAPLANE_DEFAULT_PORT;
	struct mapclient_config mcfg = {
	    .control = *config->control,
	    .node = d->name,
	    .user = config->user,
	    .region = config->region && config->region[0] ? config->region : "default",
	    .tags = config->tags,
	    .n_tags = config->n_tags,
	    .endpoint =
	        under.family != IO_AF_NONE ? io_addr_format(&under, true, ep, sizeof(ep)) : NULL,
	    .tls_key = pub,
	    .node_key = config->node_key,
	    .control_key = config->control_key,
	    .auth_key = config->auth_key,
	    .first_connect_delay_us = config->control_connect_delay_us,
	    .cb = {.apply = svcd_mc_apply,
	           .drain_confirmed = svcd_mc_drain_confirmed,
	           .connected = svcd_mc_connected,
	           .key_rotated = svcd_mc_key_rotated},
	    .ctx = d,
	};
	if (mcfg.control.port == 0)
		mcfg.control.port = MAPPROTO_DEFAULT_PORT;
	d->key_store = config->key_store;
	d->key_store_ctx = config->key_store_ctx;
	rc = mapclient_new(&d->mc, d->io, &mcfg);
	free(pub);
	if (rc == 0 && config->next_node_key)
		rc = mapclient_rotate_key(d->mc, config->next_node_key);
	if (rc < 0)
		return err_setf(err, err_len, rc, "map session: %s",
		                rc == -EINVAL ? "bad control settings (name, tags)"
		                              : strerror(-rc));
	return 0;
}

/* MagicDNS (SVC-3): a DNS query the node's stack sends to
 * 100.100.100.100:53 reaches the data plane's local handler (the address
 * is never put on the TUN device, see dataplane.h); the answer comes from
 * the current netmap and goes back into the stack as an IPv4/UDP packet
 * from 100.100.100.100:53 (lib/wire/packet.h). Anything else to that
 * address is dropped. */
static void svcd_on_local_packet(void *ctx, const uint8_t *pkt, size_t len,
                                 const struct packet_info *pi)
{
	struct svcd *d = ctx;
	uint8_t reply[PACKET_UDP4_HDRS + MAGICDNS_MAX_REPLY];
	struct io_addr from;

	if (pi->proto != PACKET_PROTO_UDP || !pi->has_ports || pi->dst.port != MAGICDNS_PORT ||
	    pi->l4_offset + 8 > pi->len || pi->len > len)
		return;
	const uint8_t *query = pkt + pi->l4_offset + 8;
	size_t qlen = pi->len - pi->l4_offset - 8;
	ssize_t n =
	    magicdns_answer(d->nm, query, qlen, reply + PACKET_UDP4_HDRS, MAGICDNS_MAX_REPLY);
	if (n <= 0)
		return;
	io_addr_v4(&from, DATAPLANE_LOCAL_ADDR_V4, MAGICDNS_PORT);
	int total = packet_udp4(reply, sizeof(reply), &from, &pi->src, (size_t)n);
	if (total > 0)
		(void)dataplane_local_reply(d->dp, reply, (size_t)total);
}

static int svcd_start_dns(struct svcd *d, char *err, size_t err_len)
{
	(void)err;
	(void)err_len;
	dataplane_set_local_handler(d->dp, svcd_on_local_packet, d);
	d->dns = true;
	return 0;
}

/* The --cert/--key server context, the fallback for every TLS port. 0, or
 * -errno with `err` saying why. */
static int svcd_load_cert(struct svcd *d, const struct svcd_config *config, char *err,
                          size_t err_len)
{
	char terr[TLS_ERR_LEN] = "";
	const struct tls_ctx_config tc = {.server = true,
	                                  .cert_file = config->cert_file,
	                                  .key_file = config->key_file,
	                                  .os_entropy = config->os_entropy};
	int rc;

	if (!config->cert_file && !config->key_file)
		return 0;
	if (!config->cert_file || !config->key_file)
		return err_setf(err, err_len, -EINVAL, "--cert and --key go together");
	rc = tls_ctx_new(&d->tls, d->io, &tc, terr, sizeof(terr));
	if (rc < 0)
		return err_setf(err, err_len, rc, "TLS certificate/key: %s", terr);
	return 0;
}

/* The data plane on the overlay socket and the TUN device, with LIM-1 as
 * its deliver hook. 0, or -errno with `err` saying why. */
static int svcd_start_dataplane(struct svcd *d, const struct svcd_config *config, char *err,
                                size_t err_len)
{
	const struct dataplane_config dc = {.listen = config->underlay,
	                                    .max_flows = config->max_flows,
	                                    .pcap_path = config->tailnet_pcap,
	                                    .deliver = svcd_packet_allowed,
	                                    .deliver_ctx = d};
	int rc;

	d->dp = dataplane_new(d->io, &dc, &rc);
	if (!d->dp)
		return err_setf(err, err_len, rc, "data plane: %s", strerror(-rc));
	return 0;
}

/* Opens the node: the --cert context, the data plane, MagicDNS and the
 * control session, in that order; on failure what was opened is undone. */
int svcd_new(struct svcd **out, struct io *io, const struct svcd_config *config)
{
	struct svcd *d;
	int rc;
	char *err = config->err;
	size_t err_len = config->err_len;

	CHECK(out && io && config);
	*out = NULL;
	rc = mutant_check_env(err, err_len);
	if (rc < 0)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	d->io = io;
	snprintf(d->name, sizeof(d->name), "%s", config->name ? config->name : "svcd");
	d->drain_grace_us =
	    config->drain_grace_us ? config->drain_grace_us : SVCD_DEFAULT_DRAIN_GRACE_US;
	d->os_entropy = config->os_entropy;
	d->linger_timer.fn = svcd_linger_fired;
	d->retry_timer.fn = svcd_retry_fired;
	serve_config_init(&d->cfg, "");
	serve_adv_init(&d->adv);

	rc = svcd_load_cert(d, config, err, err_len);
	if (rc < 0)
		goto out_free_daemon;
	rc = svcd_start_dataplane(d, config, err, err_len);
	if (rc < 0)
		goto out_free_daemon;
	if (config->magic_dns) {
		rc = svcd_start_dns(d, err, err_len);
		if (rc < 0)
			goto out_free_dp;
	}
	if (config->control) {
		d->config_tagged = config->n_tags > 0;
		rc = svcd_start_control(d, config, err, err_len);
		if (rc < 0)
			goto out_stop_dns;
	}
	io_event(io, "svcd_started", IO_STR("name", d->name), IO_BOOL("tls", d->tls != NULL),
	         IO_BOOL("control", d->mc != NULL), IO_BOOL("magic_dns", d->dns));
	*out = d;
	return 0;

out_stop_dns:
	dataplane_set_local_handler(d->dp, NULL, NULL);
out_free_dp:
	dataplane_free(d->dp);
out_free_daemon:
	free(d->key_pem);
	tls_ctx_free(d->tls);
	serve_config_free(&d->cfg);
	free(d);
	return rc;
}

void svcd_free(struct svcd *d)
{
	if (!d)
		return;
	mapclient_free(d->mc);
	if (d->dns)
		dataplane_set_local_handler(d->dp, NULL, NULL);
	while (d->n_proxies)
		svcd_proxy_destroy(d, d->n_proxies - 1, "shutdown");
	free(d->proxies);
	if (io_timer_armed(&d->linger_timer))
		d->io->ops->timer_disarm(d->io, &d->linger_timer);
	if (io_timer_armed(&d->retry_timer))
		d->io->ops->timer_disarm(d->io, &d->retry_timer);
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++)
		if (d->svcs[i].used)
			svcd_svc_release(d, &d->svcs[i]);
	dataplane_free(d->dp);
	if (d->nm) {
		netmap_free(d->nm);
		free(d->nm);
	}
	for (size_t i = 0; i < d->n_certs; i++)
		svcd_cert_put(d->certs[i]);
	free(d->certs);
	free(d->key_pem);
	tls_ctx_free(d->tls);
	serve_config_free(&d->cfg);
	free(d);
}

struct dataplane *svcd_dataplane(const struct svcd *d)
{
	return d->dp;
}

int svcd_set_netmap_json(struct svcd *d, const char *json, size_t len, char *err, size_t err_len)
{
	return svcd_apply_netmap(d, NULL, json, len, err, err_len);
}

/* Swaps in a netmap: `json` parsed by netmap_from_json, and (with a node
 * key) the certificates it carries, from `doc` or, when NULL, from `json`
 * parsed again. */
int svcd_apply_netmap(struct svcd *d, const cJSON *doc, const char *json, size_t len, char *err,
                      size_t err_len)
{
	struct netmap *nm = calloc(1, sizeof(*nm));
	cJSON *parsed = NULL;
	int rc;

	if (!nm)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	rc = netmap_from_json(json, len, nm, err, err_len);
	if (rc < 0) {
		free(nm);
		return rc;
	}
	rc = dataplane_set_netmap(d->dp, nm);
	if (rc < 0)
		io_event(d->io, "svcd_warning", IO_STR("what", "tun addresses"),
		         IO_I64("errno", -rc));
	if (d->key_pem) {
		if (!doc)
			doc = parsed = cJSON_ParseWithLength(json, len);
		svcd_update_certs(d, doc);
		cJSON_Delete(parsed);
	}
	if (d->nm) {
		netmap_free(d->nm);
		free(d->nm);
	}
	d->nm = nm;
	if (nm->tailnet && strlen(nm->tailnet) <= SERVE_MAX_SUFFIX_LEN)
		snprintf(d->cfg.suffix, sizeof(d->cfg.suffix), "%s", nm->tailnet);
	svcd_reconcile(d);
	return 0;
}

const struct netmap *svcd_netmap(const struct svcd *d)
{
	return d->nm;
}

uint64_t svcd_netmap_version(const struct svcd *d)
{
	return d->nm ? d->nm->version : 0;
}

bool svcd_control_connected(const struct svcd *d)
{
	return d->mc && mapclient_connected(d->mc);
}
