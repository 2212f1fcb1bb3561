/* MagicDNS in the node daemon (SVC-3, ACL-1): a DNS server on
 * 100.100.100.100:53 (UDP) inside the node that answers
 * `<label>.<tailnet>` with the service's VIPs (A and AAAA) from the
 * netmap's `dns` records, which hold only what this node may reach.
 *
 * magicdns_answer is pure (no I/O, no allocation): it parses one query
 * and writes the response. Rules: one question; QTYPE A, AAAA or ANY
 * (others: NOERROR with no answers when the name exists, NXDOMAIN when it
 * does not); names under the tailnet suffix that are not in the records:
 * NXDOMAIN (authoritative); names outside the suffix: REFUSED (no
 * recursion); malformed queries (truncated, compression loops, labels
 * over 63 bytes, names over 255, QDCOUNT != 1, a response bit set):
 * FORMERR when the header is readable, else no answer at all. EDNS OPT
 * records in the query are ignored. TTL MAGICDNS_TTL_S. Case-insensitive.
 *
 * The node daemon does not open a socket for it: queries to
 * 100.100.100.100:53 reach its data plane's local handler (dataplane.h),
 * which answers with magicdns_answer, so the address never sits on the TUN
 * device. magicdns_new is the stand-alone form: a UDP socket on `listen`
 * fed with magicdns_set_netmap (tests, tools). Events: dns_query (rate-limited
 * counts per second: answered, nxdomain, refused, formerr).
 */
#ifndef PROXY_MAGICDNS_H
#define PROXY_MAGICDNS_H

#include "lib/io/io.h"
#include "lib/wire/netmap.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAGICDNS_ADDR      "100.100.100.100"
#define MAGICDNS_PORT      53
#define MAGICDNS_TTL_S     60
#define MAGICDNS_MAX_QUERY 512 /* UDP DNS without EDNS */
#define MAGICDNS_MAX_REPLY 512

/* Answers `query` from `nm` (NULL: every name is NXDOMAIN/REFUSED) into
 * `resp`. Returns the response length, 0 when the query deserves no
 * answer at all, or -ENOSPC when `resp_cap` is too small. */
ssize_t magicdns_answer(const struct netmap *nm, const uint8_t *query, size_t len, uint8_t *resp,
                        size_t resp_cap);

struct magicdns;
/* Opens the UDP socket on `listen`. NULL with *err = -errno. */
struct magicdns *magicdns_new(struct io *io, const struct io_addr *listen, int *err);
/* `nm` is borrowed until the next call or magicdns_free (NULL: none). */
void magicdns_set_netmap(struct magicdns *m, const struct netmap *nm);
void magicdns_free(struct magicdns *m);

#endif
