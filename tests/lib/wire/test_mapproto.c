/* The map session protocol codec: framing, message parsing, netmap deltas. */
#include "lib/wire/mapproto.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One frame of `payload` in a fresh buffer; *len gets the total. */
static uint8_t *frame_of(const char *payload, size_t *len)
{
	size_t n = strlen(payload);
	uint8_t *buf = malloc(MAPPROTO_HDR_LEN + n);

	cr_assert(buf);
	mapproto_frame_header(buf, (uint32_t)n);
	memcpy(buf + MAPPROTO_HDR_LEN, payload, n);
	*len = MAPPROTO_HDR_LEN + n;
	return buf;
}

Test(mapproto, frame_split_at_every_byte_needs_more_until_whole)
{
	const char *payload = "{\"type\":\"heartbeat\"}";
	const uint8_t *p = NULL;
	size_t len, plen = 0;
	uint8_t *buf = frame_of(payload, &len);

	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(mapproto_frame_parse(buf, cut, MAPPROTO_MAX_FRAME, &p, &plen, NULL),
		             -2, "cut at %zu", cut);
	cr_assert_eq(mapproto_frame_parse(buf, len, MAPPROTO_MAX_FRAME, &p, &plen, NULL),
	             (ssize_t)len);
	cr_assert_eq(plen, strlen(payload));
	cr_assert_eq(memcmp(p, payload, plen), 0);
	free(buf);
}

Test(mapproto, two_frames_back_to_back_parse_one_at_a_time)
{
	size_t l1, l2;
	uint8_t *a = frame_of("{\"type\":\"resync\"}", &l1);
	uint8_t *b = frame_of("{\"type\":\"ack\",\"version\":3}", &l2);
	uint8_t *both = malloc(l1 + l2);
	const uint8_t *p;
	size_t plen;

	memcpy(both, a, l1);
	memcpy(both + l1, b, l2);
	cr_assert_eq(mapproto_frame_parse(both, l1 + l2, MAPPROTO_MAX_FRAME, &p, &plen, NULL),
	             (ssize_t)l1);
	cr_assert_eq(mapproto_frame_parse(both + l1, l2, MAPPROTO_MAX_FRAME, &p, &plen, NULL),
	             (ssize_t)l2);
	cr_assert_eq(memcmp(p, "{\"type\":\"ack\"", 13), 0);
	free(a);
	free(b);
	free(both);
}

Test(mapproto, zero_length_frame_is_refused)
{
	uint8_t hdr[MAPPROTO_HDR_LEN];
	const uint8_t *p;
	size_t plen;

	mapproto_frame_header(hdr, 0);
	cr_assert_eq(mapproto_frame_parse(hdr, sizeof(hdr), MAPPROTO_MAX_FRAME, &p, &plen, NULL),
	             -1);
}

Test(mapproto, oversized_frame_is_refused_from_the_header_alone)
{
	uint8_t hdr[MAPPROTO_HDR_LEN];
	const uint8_t *p;
	size_t plen;

	mapproto_frame_header(hdr, MAPPROTO_MAX_UP_FRAME + 1);
	cr_assert_eq(mapproto_frame_parse(hdr, sizeof(hdr), MAPPROTO_MAX_UP_FRAME, &p, &plen, NULL),
	             -1);
	mapproto_frame_header(hdr, MAPPROTO_MAX_UP_FRAME);
	cr_assert_eq(mapproto_frame_parse(hdr, sizeof(hdr), MAPPROTO_MAX_UP_FRAME, &p, &plen, NULL),
	             -2);
	mapproto_frame_header(hdr, 0xffffffffu);
	cr_assert_eq(mapproto_frame_parse(hdr, sizeof(hdr), MAPPROTO_MAX_FRAME, &p, &plen, NULL),
	             -1);
}

Test(mapproto, compressed_frame_is_flagged_only_to_a_reader_that_takes_it)
{
	uint8_t buf[MAPPROTO_HDR_LEN + 8] = {0};
	const uint8_t *p;
	size_t plen;
	bool zlib = false;

	mapproto_frame_header(buf, 8 | MAPPROTO_FRAME_ZLIB);
	cr_assert_eq(mapproto_frame_parse(buf, sizeof(buf), MAPPROTO_MAX_FRAME, &p, &plen, NULL),
	             -1);
	cr_assert_eq(mapproto_frame_parse(buf, sizeof(buf), MAPPROTO_MAX_FRAME, &p, &plen, &zlib),
	             (ssize_t)sizeof(buf));
	cr_assert(zlib);
	cr_assert_eq(plen, 8);
	mapproto_frame_header(buf, 8);
	cr_assert_eq(mapproto_frame_parse(buf, sizeof(buf), MAPPROTO_MAX_FRAME, &p, &plen, &zlib),
	             (ssize_t)sizeof(buf));
	cr_assert_not(zlib);
	/* the flag alone is an empty frame */
	mapproto_frame_header(buf, MAPPROTO_FRAME_ZLIB);
	cr_assert_eq(mapproto_frame_parse(buf, sizeof(buf), MAPPROTO_MAX_FRAME, &p, &plen, &zlib),
	             -1);
}

Test(mapproto, deflate_then_inflate_gives_the_bytes_back)
{
	char text[20000];
	size_t n = 0;
	uint8_t *z, *back;
	size_t zlen, blen;

	for (int i = 0; n + 100 < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      "{\"name\":\"client-%d\",\"addresses\":[\"100.64.%d.%d\"]},",
		                      i, i / 256, i % 256);
	cr_assert_eq(mapproto_deflate((const uint8_t *)text, n, &z, &zlen), 0);
	cr_assert_lt(zlen, n / 4, "%zu of %zu bytes", zlen, n);
	cr_assert_eq(mapproto_inflate(z, zlen, MAPPROTO_MAX_FRAME, &back, &blen), 0);
	cr_assert_eq(blen, n);
	cr_assert_eq(memcmp(back, text, n), 0);
	free(back);
	/* the limit holds: one byte short of the whole */
	cr_assert_eq(mapproto_inflate(z, zlen, n - 1, &back, &blen), -E2BIG);
	cr_assert_eq(mapproto_inflate(z, zlen, n, &back, &blen), 0);
	free(back);
	/* cut short, or with bytes after the end */
	cr_assert_eq(mapproto_inflate(z, zlen - 1, MAPPROTO_MAX_FRAME, &back, &blen), -EINVAL);
	uint8_t *longer = malloc(zlen + 1);
	memcpy(longer, z, zlen);
	longer[zlen] = 0;
	cr_assert_eq(mapproto_inflate(longer, zlen + 1, MAPPROTO_MAX_FRAME, &back, &blen), -EINVAL);
	free(longer);
	free(z);
	cr_assert_eq(mapproto_inflate((const uint8_t *)"garbage", 7, 100, &back, &blen), -EINVAL);
}

Test(mapproto, deflate_declines_what_it_cannot_shrink)
{
	uint8_t *z;
	size_t zlen;

	cr_assert_eq(mapproto_deflate((const uint8_t *)"{}", 2, &z, &zlen), -EOVERFLOW);
}

Test(mapproto, header_is_big_endian)
{
	uint8_t hdr[MAPPROTO_HDR_LEN];

	mapproto_frame_header(hdr, 0x01020304);
	cr_assert(hdr[0] == 1 && hdr[1] == 2 && hdr[2] == 3 && hdr[3] == 4);
}

static enum mapproto_type parse_text(const char *text, cJSON **out, char *err)
{
	return mapproto_parse((const uint8_t *)text, strlen(text), out, err, MAPPROTO_ERR_LEN);
}

Test(mapproto, every_known_type_parses)
{
	static const char *names[] = {"hello",  "advertise",       "ack",
	                              "resync", "heartbeat",       "welcome",
	                              "netmap", "drain_confirmed", "advertise_refused",
	                              "error"};
	char text[128], err[MAPPROTO_ERR_LEN];
	cJSON *o;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text), " {\"type\":\"%s\"}\n", names[i]);
		enum mapproto_type t = parse_text(text, &o, err);
		cr_assert_neq(t, MAPPROTO_NONE, "%s: %s", names[i], err);
		cr_assert_str_eq(mapproto_type_name(t), names[i]);
		cr_assert(cJSON_IsObject(o));
		cJSON_Delete(o);
	}
}

Test(mapproto, non_object_is_refused_with_a_message)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *o = (cJSON *)1;

	cr_assert_eq(parse_text("[1,2]", &o, err), MAPPROTO_NONE);
	cr_assert_null(o);
	cr_assert(strstr(err, "object"), "%s", err);
	cr_assert_eq(parse_text("\"hello\"", &o, err), MAPPROTO_NONE);
	cr_assert(strstr(err, "object"), "%s", err);
	cr_assert_eq(parse_text("{\"type\":", &o, err), MAPPROTO_NONE);
	cr_assert(strstr(err, "invalid JSON"), "%s", err);
	cr_assert_eq(parse_text("{\"type\":\"ack\"} x", &o, err), MAPPROTO_NONE);
	cr_assert(strstr(err, "after"), "%s", err);
}

Test(mapproto, unknown_or_missing_type_is_refused_with_a_message)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *o;

	cr_assert_eq(parse_text("{\"type\":\"hallo\"}", &o, err), MAPPROTO_NONE);
	cr_assert(strstr(err, "unknown type \"hallo\""), "%s", err);
	cr_assert_eq(parse_text("{\"version\":1}", &o, err), MAPPROTO_NONE);
	cr_assert(strstr(err, "type: missing"), "%s", err);
	cr_assert_eq(parse_text("{\"type\":7}", &o, err), MAPPROTO_NONE);
	cr_assert(strstr(err, "expected a string"), "%s", err);
	cr_assert_eq(parse_text("{\"type\":\"none\"}", &o, err), MAPPROTO_NONE);
	cr_assert_null(o);
}

Test(mapproto, payload_with_embedded_nul_is_refused)
{
	char err[MAPPROTO_ERR_LEN];
	cJSON *o;
	const uint8_t text[] = "{\"type\":\"ack\"}\0{}";

	cr_assert_eq(mapproto_parse(text, sizeof(text) - 1, &o, err, sizeof(err)), MAPPROTO_NONE);
}

/* ---- deltas ------------------------------------------------------------ */

static const char *base_map = "{\"version\":8,\"tailnet\":\"t.ts.net\","
                              "\"self\":{\"name\":\"me\",\"addresses\":[\"100.64.0.1\"]},"
                              "\"peers\":[{\"name\":\"a\",\"addresses\":[\"100.64.0.2\"]},"
                              "{\"name\":\"c\",\"addresses\":[\"100.64.0.4\"]}],"
                              "\"dns\":[],\"ca_pem\":\"X\"}";

static cJSON *parse_or_die(const char *text)
{
	cJSON *o = cJSON_Parse(text);

	cr_assert(o, "bad test JSON: %s", text);
	return o;
}

static char *print(const cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	cr_assert(s);
	return s;
}

static int apply(cJSON *map, const char *msg_text, char *err)
{
	cJSON *msg = parse_or_die(msg_text);
	int rc = mapproto_apply_delta(map, msg, err, MAPPROTO_ERR_LEN);

	cJSON_Delete(msg);
	return rc;
}

Test(mapproto, delta_upserts_removes_and_sets)
{
	cJSON *map = parse_or_die(base_map);
	char err[MAPPROTO_ERR_LEN];
	char *s;

	cr_assert_eq(apply(map,
	                   "{\"type\":\"netmap\",\"version\":9,\"base\":8,\"delta\":{"
	                   "\"peers_upsert\":[{\"name\":\"b\",\"addresses\":[\"100.64.0.3\"]},"
	                   "{\"name\":\"c\",\"addresses\":[\"100.64.0.5\"]}],"
	                   "\"peers_remove\":[\"a\"],"
	                   "\"set\":{\"dns\":[{\"name\":\"x\"}],\"ca_pem\":null,\"extra\":1}}}",
	                   err),
	             0, "%s", err);
	s = print(map);
	cr_assert_str_eq(s, "{\"version\":9,\"tailnet\":\"t.ts.net\","
	                    "\"self\":{\"name\":\"me\",\"addresses\":[\"100.64.0.1\"]},"
	                    "\"peers\":[{\"name\":\"b\",\"addresses\":[\"100.64.0.3\"]},"
	                    "{\"name\":\"c\",\"addresses\":[\"100.64.0.5\"]}],"
	                    "\"dns\":[{\"name\":\"x\"}],\"extra\":1}");
	free(s);
	cJSON_Delete(map);
}

Test(mapproto, delta_new_peers_keep_name_order)
{
	cJSON *map = parse_or_die(base_map);
	char err[MAPPROTO_ERR_LEN];
	const cJSON *p;
	const char *want[] = {"0", "a", "b", "c", "d"};
	size_t i = 0;

	cr_assert_eq(
	    apply(map,
	          "{\"type\":\"netmap\",\"version\":9,\"base\":8,\"delta\":{"
	          "\"peers_upsert\":[{\"name\":\"d\"},{\"name\":\"b\"},{\"name\":\"0\"}]}}",
	          err),
	    0, "%s", err);
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(map, "peers"))
	{
		cr_assert_lt(i, 5);
		cr_assert_str_eq(cJSON_GetObjectItem(p, "name")->valuestring, want[i]);
		i++;
	}
	cr_assert_eq(i, 5);
	cJSON_Delete(map);
}

Test(mapproto, delta_on_wrong_base_is_estale_and_map_unchanged)
{
	cJSON *map = parse_or_die(base_map);
	char err[MAPPROTO_ERR_LEN];
	char *before = print(map), *after;

	cr_assert_eq(apply(map,
	                   "{\"type\":\"netmap\",\"version\":10,\"base\":9,\"delta\":{"
	                   "\"peers_remove\":[\"a\"]}}",
	                   err),
	             -ESTALE);
	cr_assert(strstr(err, "base"), "%s", err);
	after = print(map);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
	cJSON_Delete(map);
}

/* Each malformed delta fails with -EINVAL, a message naming the place, and
 * leaves the map exactly as it was (even when earlier steps had applied). */
Test(mapproto, malformed_delta_is_einval_and_map_unchanged)
{
	static const struct {
		const char *msg, *where;
	} cases[] = {
	    {"{\"version\":9,\"base\":8}", "delta: missing"},
	    {"{\"version\":9,\"delta\":{}}", "base"},
	    {"{\"version\":-1,\"base\":8,\"delta\":{}}", "version"},
	    {"{\"version\":9.5,\"base\":8,\"delta\":{}}", "version"},
	    {"{\"version\":9,\"base\":8,\"delta\":[]}", "delta"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"bogus\":1}}", "delta.bogus"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"peers_upsert\":{}}}", "peers_upsert"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"peers_upsert\":[{\"x\":1}]}}",
	     "peers_upsert[0]"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"peers_remove\":[3]}}", "peers_remove[0]"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"set\":[]}}", "set"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"set\":{\"version\":3}}}", "set.version"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"set\":{\"peers\":[]}}}", "set.peers"},
	    /* Valid shape, but does not fit the map: after a removal applied. */
	    {"{\"version\":9,\"base\":8,\"delta\":{\"peers_remove\":[\"a\",\"zz\"]}}",
	     "peers_remove[1]"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"peers_remove\":[\"a\"],"
	     "\"peers_upsert\":[{\"name\":\"a\"}]}}",
	     "also removed"},
	    {"{\"version\":9,\"base\":8,\"delta\":{\"peers_upsert\":[{\"name\":\"q\"},"
	     "{\"name\":\"q\"}]}}",
	     "upserted before"},
	};
	cJSON *map = parse_or_die(base_map);
	char *before = print(map);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[MAPPROTO_ERR_LEN] = "";
		char *after;

		cr_assert_eq(apply(map, cases[i].msg, err), -EINVAL, "case %zu", i);
		cr_assert(strstr(err, cases[i].where), "case %zu: %s", i, err);
		after = print(map);
		cr_assert_str_eq(before, after, "case %zu", i);
		free(after);
	}
	free(before);
	cJSON_Delete(map);
}

Test(mapproto, delta_filter_rules_change_by_id_in_id_order)
{
	cJSON *map = parse_or_die("{\"version\":3,\"filter\":[{\"id\":\"a\",\"src\":[\"*\"]},"
	                          "{\"id\":\"c\",\"src\":[\"*\"]}]}");
	char err[MAPPROTO_ERR_LEN];
	char *s;

	cr_assert_eq(apply(map,
	                   "{\"version\":4,\"base\":3,\"delta\":{"
	                   "\"filter_upsert\":[{\"id\":\"b\",\"src\":[\"1\"]},"
	                   "{\"id\":\"c\",\"src\":[\"2\"]}],\"filter_remove\":[\"a\"],"
	                   "\"peers_upsert\":[{\"name\":\"p\"}]}}",
	                   err),
	             0, "%s", err);
	s = print(map);
	cr_assert_str_eq(s, "{\"version\":4,\"filter\":[{\"id\":\"b\",\"src\":[\"1\"]},"
	                    "{\"id\":\"c\",\"src\":[\"2\"]}],\"peers\":[{\"name\":\"p\"}]}");
	free(s);
	/* A whole filter may be set, but not together with rule changes. */
	cr_assert_eq(
	    apply(map, "{\"version\":5,\"base\":4,\"delta\":{\"set\":{\"filter\":[]}}}", err), 0,
	    "%s", err);
	cr_assert_eq(apply(map,
	                   "{\"version\":6,\"base\":5,\"delta\":{\"set\":{\"filter\":[]},"
	                   "\"filter_remove\":[\"b\"]}}",
	                   err),
	             -EINVAL);
	cr_assert(strstr(err, "set.filter"), "%s", err);
	cr_assert_eq(
	    apply(map, "{\"version\":6,\"base\":5,\"delta\":{\"filter_upsert\":[{\"src\":[]}]}}",
	          err),
	    -EINVAL);
	cr_assert(strstr(err, "filter_upsert[0]"), "%s", err);
	cJSON_Delete(map);
}

Test(mapproto, delta_into_map_without_peers_creates_them)
{
	cJSON *map = parse_or_die("{\"version\":1}");
	char err[MAPPROTO_ERR_LEN];
	char *s;

	cr_assert_eq(
	    apply(map, "{\"version\":2,\"base\":1,\"delta\":{\"peers_upsert\":[{\"name\":\"a\"}]}}",
	          err),
	    0, "%s", err);
	s = print(map);
	cr_assert_str_eq(s, "{\"version\":2,\"peers\":[{\"name\":\"a\"}]}");
	free(s);
	cJSON_Delete(map);
}

Test(mapproto, many_peers_delta_is_fast_enough_and_exact)
{
	cJSON *map = cJSON_CreateObject(), *peers, *msg, *delta, *up, *rm;
	char name[32], err[MAPPROTO_ERR_LEN];

	cJSON_AddNumberToObject(map, "version", 1);
	peers = cJSON_AddArrayToObject(map, "peers");
	for (int i = 0; i < 10000; i++) {
		cJSON *p = cJSON_CreateObject();
		snprintf(name, sizeof(name), "n%05d", i * 2);
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddItemToArray(peers, p);
	}
	msg = cJSON_CreateObject();
	cJSON_AddNumberToObject(msg, "version", 2);
	cJSON_AddNumberToObject(msg, "base", 1);
	delta = cJSON_AddObjectToObject(msg, "delta");
	up = cJSON_AddArrayToObject(delta, "peers_upsert");
	rm = cJSON_AddArrayToObject(delta, "peers_remove");
	for (int i = 0; i < 5000; i++) {
		cJSON *p = cJSON_CreateObject();
		snprintf(name, sizeof(name), "n%05d", i * 2 + 1);
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddItemToArray(up, p);
		snprintf(name, sizeof(name), "n%05d", i * 4);
		cJSON_AddItemToArray(rm, cJSON_CreateString(name));
	}
	cr_assert_eq(mapproto_apply_delta(map, msg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(map, "peers")), 10000);
	cr_assert_str_eq(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(map, "peers"), 0)->child->valuestring, "n00001");
	cJSON_Delete(msg);
	cJSON_Delete(map);
}
