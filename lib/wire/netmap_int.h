/* Internal to svc_netmap: what the parser shares with the model.
 *
 *   netmap.c        the model: the lookup index (built and checked for
 *                   clashes here), lookups, the packet filter, freeing
 *   netmap_parse.c  the document in: parse and validate, one step per
 *                   top-level member
 *   netmap_print.c  the document out
 */
#ifndef LIB_WIRE_NETMAP_INT_H
#define LIB_WIRE_NETMAP_INT_H

#include "lib/wire/netmap.h"

#include "lib/base/errfmt.h"

#include <stddef.h>

/* Longest JSON path named in a message ("services[4095].hosts[63]"). */
#define NM_PATH_MAX 96

struct netmap_index; /* netmap.c */

/* Parser state: where messages go. */
struct nm_parse {
	char *err;
	size_t err_len;
};

/* Fails a parse: the message goes to the caller's buffer, rc comes back. */
#define nm_fail(p, rc, ...) err_setf((p)->err, (p)->err_len, (rc), __VA_ARGS__)

/* Builds nm->index from the parsed document, failing on clashes (a
 * tailnet address owned by two peers, a VIP on two services, ...). */
int nm_build_index(struct nm_parse *p, struct netmap *nm);
void nm_index_free(struct netmap_index *ix);

#endif
