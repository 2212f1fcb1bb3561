/* MagicDNS (see magicdns.h for the rules): the pure answer to one query
 * against the netmap, and the server on the seam that counts outcomes and
 * reports them as rate-limited dns_query events. */
#include "proxy/magicdns.h"
#include "lib/base/check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MD_HDR_LEN      12
#define MD_MAX_NAME     255 /* wire form, length bytes and root included */
#define MD_MAX_HOPS     32  /* compression pointers followed in one name */
#define MD_EVENT_GAP_US 1000000ull

enum md_rcode {
	MD_NOERROR = 0,
	MD_FORMERR = 1,
	MD_NXDOMAIN = 3,
	MD_NOTIMP = 4,
	MD_REFUSED = 5,
};

enum md_type {
	MD_TYPE_A = 1,
	MD_TYPE_AAAA = 28,
	MD_TYPE_ANY = 255,
};

#define MD_CLASS_IN  1
#define MD_CLASS_ANY 255

/* The question, parsed. `wire` is the name re-encoded without
 * compression in its original case; `text` the dotted lower-case form. */
struct md_question {
	uint8_t wire[MD_MAX_NAME];
	size_t wire_len;
	char text[MD_MAX_NAME + 1];
	bool odd; /* a label holds '.' or NUL: it can name no record */
	uint16_t qtype, qclass;
	size_t end; /* offset just past the question in the query */
};

static uint16_t md_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void md_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Parses the question at offset 12. Returns 0, or -EBADMSG for a
 * truncated name, a label of a reserved kind (a length byte over 63), a
 * name over 255 bytes, or a compression pointer that does not point
 * before the previous one's target (so pointers strictly decrease: no
 * loops), or more than MD_MAX_HOPS pointers. */
static int md_parse_question(const uint8_t *q, size_t len, struct md_question *out)
{
	size_t pos = MD_HDR_LEN, text_len = 0;
	size_t end = 0;   /* set at the first pointer */
	size_t limit = 0; /* a pointer must point before this: strictly backwards */
	int hops = 0;

	out->wire_len = 0;
	out->odd = false;
	for (;;) {
		if (pos >= len)
			return -EBADMSG;
		uint8_t l = q[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -EBADMSG;
			size_t target = (size_t)(l & 0x3f) << 8 | q[pos + 1];
			if (!end) {
				end = pos + 2;
				limit = pos;
			}
			if (target >= limit || target < MD_HDR_LEN || ++hops > MD_MAX_HOPS)
				return -EBADMSG;
			pos = limit = target;
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG; /* 01 and 10: reserved/extended label types */
		if (out->wire_len + 1 + l > MD_MAX_NAME)
			return -EBADMSG;
		out->wire[out->wire_len++] = l;
		if (l == 0)
			break;
		if (pos + 1 + l > len)
			return -EBADMSG;
		if (text_len)
			out->text[text_len++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = q[pos + 1 + i];
			out->wire[out->wire_len++] = c;
			if (c == '.' || c == '\0')
				out->odd = true;
			out->text[text_len++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
		}
		pos += 1 + (size_t)l;
	}
	out->text[text_len] = '\0';
	if (!end)
		end = pos + 1;
	if (end + 4 > len)
		return -EBADMSG;
	out->qtype = md_get16(q + end);
	out->qclass = md_get16(q + end + 2);
	out->end = end + 4;
	return 0;
}

/* Whether `name` is `suffix` or ends in "." + suffix (both lower case). */
static bool md_under(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (!s || n < s || strcmp(name + n - s, suffix) != 0)
		return false;
	return n == s || name[n - s - 1] == '.';
}

/* Writes a header-only answer (FORMERR, NOTIMP) echoing id and RD. */
static ssize_t md_bare(const uint8_t *query, uint8_t rcode, uint8_t *resp, size_t resp_cap)
{
	if (resp_cap < MD_HDR_LEN)
		return -ENOSPC;
	memset(resp, 0, MD_HDR_LEN);
	resp[0] = query[0];
	resp[1] = query[1];
	resp[2] = (uint8_t)(0x80 | (query[2] & 0x79)); /* QR, opcode, RD */
	resp[3] = rcode;
	return MD_HDR_LEN;
}

static bool md_wants(uint16_t qtype, uint8_t family)
{
	if (qtype == MD_TYPE_ANY)
		return true;
	return family == IO_AF_INET ? qtype == MD_TYPE_A : qtype == MD_TYPE_AAAA;
}

/* MD_NOERROR when the query is one we answer (a QUERY with one question,
 * parsed into *qu); else the rcode of the bare header it gets back. */
static uint8_t md_check_query(const uint8_t *query, size_t len, struct md_question *qu)
{
	if (len > MAGICDNS_MAX_QUERY)
		return MD_FORMERR;
	if (query[2] & 0x80)
		return MD_FORMERR; /* a response */
	if ((query[2] >> 3 & 0x0f) != 0)
		return MD_NOTIMP; /* not QUERY */
	if (md_get16(query + 4) != 1)
		return MD_FORMERR;
	if (md_parse_question(query, len, qu) < 0)
		return MD_FORMERR;
	return MD_NOERROR;
}

/* The answer's rcode, and in *rec the record to answer from (NOERROR). */
static uint8_t md_rcode(const struct netmap *nm, const struct md_question *qu,
                        const struct netmap_dns_record **rec)
{
	*rec = NULL;
	if (!nm || !nm->tailnet || !md_under(qu->text, nm->tailnet))
		return MD_REFUSED;
	if (qu->qclass != MD_CLASS_IN && qu->qclass != MD_CLASS_ANY)
		return MD_REFUSED;
	if (qu->odd || !(*rec = netmap_dns_lookup(nm, qu->text)))
		return MD_NXDOMAIN;
	return MD_NOERROR;
}

/* The reply's size: header, question, and the answers of rec that fit in
 * one UDP reply (*an of them; *tc when some did not). */
static size_t md_reply_size(const struct md_question *qu, const struct netmap_dns_record *rec,
                            uint16_t *an, bool *tc)
{
	size_t need = MD_HDR_LEN + qu->wire_len + 4;

	*an = 0;
	*tc = false;
	for (size_t i = 0; rec && i < rec->n_addrs; i++) {
		if (!md_wants(qu->qtype, rec->addrs[i].family))
			continue;
		size_t rr = 12 + (rec->addrs[i].family == IO_AF_INET ? 4 : 16);
		if (need + rr > MAGICDNS_MAX_REPLY) {
			*tc = true;
			break;
		}
		need += rr;
		(*an)++;
	}
	return need;
}

/* Writes the answer records at resp + o, up to `need` bytes in all;
 * returns the end. */
static size_t md_put_answers(uint8_t *resp, size_t o, size_t need, const struct md_question *qu,
                             const struct netmap_dns_record *rec)
{
	for (size_t i = 0; i < rec->n_addrs; i++) {
		const struct io_addr *a = &rec->addrs[i];
		size_t alen = a->family == IO_AF_INET ? 4 : 16;
		if (!md_wants(qu->qtype, a->family))
			continue;
		if (o + 12 + alen > need)
			break;
		md_put16(resp + o, 0xc000 | MD_HDR_LEN); /* the question's name */
		md_put16(resp + o + 2, a->family == IO_AF_INET ? MD_TYPE_A : MD_TYPE_AAAA);
		md_put16(resp + o + 4, MD_CLASS_IN);
		md_put16(resp + o + 6, (uint16_t)(MAGICDNS_TTL_S >> 16));
		md_put16(resp + o + 8, (uint16_t)MAGICDNS_TTL_S);
		md_put16(resp + o + 10, (uint16_t)alen);
		memcpy(resp + o + 12, a->ip, alen);
		o += 12 + alen;
	}
	return o;
}

ssize_t magicdns_answer(const struct netmap *nm, const uint8_t *query, size_t len, uint8_t *resp,
                        size_t resp_cap)
{
	struct md_question qu;
	const struct netmap_dns_record *rec;
	uint8_t rcode;
	uint16_t an;
	bool tc;

	if (!query || len < MD_HDR_LEN)
		return 0; /* not even a header to answer to */
	rcode = md_check_query(query, len, &qu);
	if (rcode != MD_NOERROR)
		return md_bare(query, rcode, resp, resp_cap);
	rcode = md_rcode(nm, &qu, &rec);
	size_t need = md_reply_size(&qu, rec, &an, &tc);
	if (resp_cap < need)
		return -ENOSPC;

	memset(resp, 0, MD_HDR_LEN);
	resp[0] = query[0];
	resp[1] = query[1];
	/* QR, AA (authoritative for the suffix), TC, RD echoed; RA clear:
	 * no recursion. */
	resp[2] = (uint8_t)(0x80 | (rcode != MD_REFUSED ? 0x04 : 0) | (tc ? 0x02 : 0) |
	                    (query[2] & 0x01));
	resp[3] = rcode;
	md_put16(resp + 4, 1);
	md_put16(resp + 6, an);
	size_t o = MD_HDR_LEN;
	memcpy(resp + o, qu.wire, qu.wire_len);
	o += qu.wire_len;
	md_put16(resp + o, qu.qtype);
	md_put16(resp + o + 2, qu.qclass);
	o += 4;
	if (an)
		o = md_put_answers(resp, o, need, &qu, rec);
	CHECK(o == need);
	return (ssize_t)o;
}

/* ---- the server on the seam ---------------------------------------------- */

enum md_outcome {
	MD_OUT_ANSWERED = 0,
	MD_OUT_NXDOMAIN,
	MD_OUT_REFUSED,
	MD_OUT_FORMERR,
	MD_OUT_COUNT,
};

struct magicdns {
	struct io *io;
	const struct netmap *nm;
	int udp;
	struct io_timer flush;
	uint64_t counts[MD_OUT_COUNT]; /* since the last dns_query event */
	uint64_t last_event_us;
	bool evented;
	uint8_t resp[MAGICDNS_MAX_REPLY];
};

static void md_emit(struct magicdns *m, uint64_t now_us)
{
	io_event(m->io, "dns_query", IO_U64("answered", m->counts[MD_OUT_ANSWERED]),
	         IO_U64("nxdomain", m->counts[MD_OUT_NXDOMAIN]),
	         IO_U64("refused", m->counts[MD_OUT_REFUSED]),
	         IO_U64("formerr", m->counts[MD_OUT_FORMERR]));
	memset(m->counts, 0, sizeof(m->counts));
	m->last_event_us = now_us;
	m->evented = true;
}

static void md_flush_fn(struct io_timer *timer)
{
	struct magicdns *m = container_of(timer, struct magicdns, flush);

	md_emit(m, m->io->ops->now_us(m->io));
}

/* Counts one outcome; an event at most once per second with the counts
 * since the previous one (a timer reports the tail of a burst). */
static void md_count(struct magicdns *m, enum md_outcome o)
{
	uint64_t now = m->io->ops->now_us(m->io);

	m->counts[o]++;
	if (!m->evented || now - m->last_event_us >= MD_EVENT_GAP_US)
		md_emit(m, now);
	else if (!io_timer_armed(&m->flush))
		m->io->ops->timer_arm(m->io, &m->flush, m->last_event_us + MD_EVENT_GAP_US - now);
}

static void md_rx(void *ctx, int handle, const uint8_t *data, size_t len, const struct io_addr *src)
{
	struct magicdns *m = ctx;
	ssize_t n = magicdns_answer(m->nm, data, len, m->resp, sizeof(m->resp));

	if (n <= 0) {
		/* n < 0 cannot happen with a MAGICDNS_MAX_REPLY buffer. */
		md_count(m, MD_OUT_FORMERR);
		return;
	}
	switch (m->resp[3] & 0x0f) {
	case MD_NOERROR:
		md_count(m, MD_OUT_ANSWERED);
		break;
	case MD_NXDOMAIN:
		md_count(m, MD_OUT_NXDOMAIN);
		break;
	case MD_REFUSED:
		md_count(m, MD_OUT_REFUSED);
		break;
	default:
		md_count(m, MD_OUT_FORMERR);
		break;
	}
	(void)m->io->ops->udp_send(m->io, handle, m->resp, (size_t)n, src);
}

struct magicdns *magicdns_new(struct io *io, const struct io_addr *listen, int *err)
{
	struct magicdns *m;

	*err = 0;
	if (!io || !listen) {
		*err = -EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		*err = -ENOMEM;
		return NULL;
	}
	m->io = io;
	m->flush.fn = md_flush_fn;
	m->udp = io->ops->udp_open(io, listen, md_rx, m);
	if (m->udp < 0) {
		*err = m->udp;
		free(m);
		return NULL;
	}
	return m;
}

void magicdns_set_netmap(struct magicdns *m, const struct netmap *nm)
{
	m->nm = nm;
}

void magicdns_free(struct magicdns *m)
{
	if (!m)
		return;
	if (io_timer_armed(&m->flush))
		m->io->ops->timer_disarm(m->io, &m->flush);
	m->io->ops->close(m->io, m->udp, false);
	free(m);
}
