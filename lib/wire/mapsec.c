/* Secured map sessions (lib/wire/mapsec.h). */
#include "lib/wire/mapsec.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

/* The psk slot of IKpsk2 holds zeros: map sessions share no secret. */
static const uint8_t mapsec_no_psk[WG_KEY_LEN];

static int mapsec_open_keys(struct mapsec *m)
{
	int rc = wg_noise_split(&m->hs, m->send_key, m->recv_key);

	memcpy(m->peer_pub, m->hs.rs, WG_KEY_LEN);
	OPENSSL_cleanse(&m->hs, sizeof(m->hs));
	m->send_n = m->recv_n = 0;
	m->state = rc ? MAPSEC_NONE : MAPSEC_OPEN;
	return rc;
}

int mapsec_client_start(struct mapsec *m, const struct wg_keypair *node,
                        const uint8_t control_pub[WG_KEY_LEN], const uint8_t e_seed[WG_KEY_LEN],
                        uint64_t unix_ns, uint8_t out[MAPSEC_INIT_LEN])
{
	uint8_t ts[WG_TIMESTAMP_LEN];
	int rc;

	mapsec_clear(m);
	wg_tai64n(ts, unix_ns);
	rc = wg_noise_start(&m->hs, true, node, control_pub, MAPSEC_PROLOGUE,
	                    strlen(MAPSEC_PROLOGUE));
	if (!rc)
		rc = wg_noise_write_init(&m->hs, e_seed, ts, sizeof(ts), out);
	if (!rc)
		m->state = MAPSEC_WAIT_RESP;
	return rc;
}

int mapsec_client_finish(struct mapsec *m, const uint8_t *msg, size_t len)
{
	uint8_t empty[1];
	int rc;

	if (m->state != MAPSEC_WAIT_RESP || len != MAPSEC_RESP_LEN)
		return -EINVAL;
	rc = wg_noise_read_resp(&m->hs, mapsec_no_psk, msg, len, empty);
	if (rc) {
		mapsec_clear(m);
		return rc;
	}
	return mapsec_open_keys(m);
}

int mapsec_server_accept(struct mapsec *m, const struct wg_keypair *control, const uint8_t *msg,
                         size_t len, const uint8_t e_seed[WG_KEY_LEN], uint8_t ts[WG_TIMESTAMP_LEN],
                         uint8_t out[MAPSEC_RESP_LEN])
{
	int rc;

	mapsec_clear(m);
	if (len != MAPSEC_INIT_LEN)
		return -EINVAL;
	rc = wg_noise_start(&m->hs, false, control, control->pub, MAPSEC_PROLOGUE,
	                    strlen(MAPSEC_PROLOGUE));
	if (!rc)
		rc = wg_noise_read_init(&m->hs, msg, len, ts);
	if (!rc)
		rc = wg_noise_write_resp(&m->hs, e_seed, mapsec_no_psk, "", 0, out);
	if (!rc)
		rc = mapsec_open_keys(m);
	if (rc)
		mapsec_clear(m);
	return rc;
}

int mapsec_seal(struct mapsec *m, const uint8_t hdr[MAPSEC_HDR_LEN], const void *in, size_t len,
                uint8_t *out)
{
	if (m->state != MAPSEC_OPEN)
		return -EINVAL;
	if (m->send_n >= WG_REJECT_AFTER_MESSAGES)
		return -EOVERFLOW;
	return wg_aead_seal(out, m->send_key, m->send_n++, in, len, hdr, MAPSEC_HDR_LEN);
}

int mapsec_open(struct mapsec *m, const uint8_t hdr[MAPSEC_HDR_LEN], const uint8_t *in, size_t len,
                uint8_t *out)
{
	int rc;

	if (m->state != MAPSEC_OPEN || len < MAPSEC_OVERHEAD)
		return -EINVAL;
	if (m->recv_n >= WG_REJECT_AFTER_MESSAGES)
		return -EOVERFLOW;
	rc = wg_aead_open(out, m->recv_key, m->recv_n, in, len, hdr, MAPSEC_HDR_LEN);
	/* A frame that does not open ends the session: the counter stays. */
	if (!rc)
		m->recv_n++;
	return rc;
}

void mapsec_clear(struct mapsec *m)
{
	OPENSSL_cleanse(m, sizeof(*m));
	m->state = MAPSEC_NONE;
}
