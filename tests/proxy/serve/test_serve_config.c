/* The serve config model and its JSON form (SPEC CFG-9, CFG-10, CFG-11, SVC-1,
 * L3-2, CFG-3, CFG-4). Doc examples come from seed/tailscale-services.txt. */
#include "proxy/serve/serve_config.h"
#include "tests/proxy/serve/serve_doc_examples.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUFFIX "king-grouse.ts.net"

/* Parses `json` with `suffix`; returns rc and leaves the message in err. */
static int parse(const char *json, const char *suffix, struct serve_config *cfg, char *err)
{
	return serve_config_from_json(json, strlen(json), suffix, cfg, err, SERVE_ERR_LEN);
}

/* Asserts that `json` is refused with exactly `want` and rc. */
/* Parses `json` with `suffix`, which must succeed, into *cfg. */
static void parse_ok(const char *json, const char *suffix, struct serve_config *cfg)
{
	char err[SERVE_ERR_LEN];

	cr_assert_eq(parse(json, suffix, cfg, err), 0, "%s", err);
}

/* cfg prints (pretty or compact) as exactly `want`. */
static void prints_as(const struct serve_config *cfg, bool pretty, const char *want)
{
	char *out = serve_config_to_json(cfg, pretty);

	cr_assert_str_eq(out, want);
	free(out);
}

static void refused(const char *json, int want_rc, const char *want)
{
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];
	int rc = parse(json, SUFFIX, &cfg, err);

	cr_assert_eq(rc, want_rc, "rc %d for %s (%s)", rc, json, err);
	cr_assert_str_eq(err, want);
	cr_assert_eq(cfg.n_services, 0, "a refused document leaves the output empty");
	cr_assert_null(cfg.services);
}

/* A one-service document with a custom port entry / web part. */
static char *doc_with(const char *service_body)
{
	static const char fmt[] = "{\"Services\":{\"svc:web\":%s}}";
	size_t n = strlen(fmt) + strlen(service_body) + 1;
	char *s = malloc(n);

	cr_assert_not_null(s);
	snprintf(s, n, fmt, service_body);
	return s;
}

static void refused_svc(const char *service_body, int want_rc, const char *want)
{
	char *doc = doc_with(service_body);

	refused(doc, want_rc, want);
	free(doc);
}

/* --- CFG-9 / CFG-10: the documented JSON shape ------------------------------- */

Test(serve_config, cfg9_doc_text_example_parses_and_prints_back_identically)
{
	struct serve_config cfg;

	parse_ok(doc_text_example, "", &cfg);
	prints_as(&cfg, true, doc_text_example);
	serve_config_free(&cfg);
}

Test(serve_config, cfg9_doc_proxy_example_parses_and_prints_back_identically)
{
	struct serve_config cfg;

	parse_ok(doc_proxy_example, "", &cfg);
	cr_assert_eq(cfg.n_services, 1);
	cr_assert_str_eq(cfg.services[0].name, "svc:web-server");
	cr_assert_eq(cfg.services[0].ports[0].port, 443);
	cr_assert_eq(cfg.services[0].ports[0].type, SERVE_TYPE_HTTPS);
	cr_assert_eq(cfg.services[0].ports[0].handlers[0].kind, SERVE_HANDLER_PROXY);
	cr_assert_str_eq(cfg.services[0].ports[0].handlers[0].value, "http://127.0.0.1:8081");
	prints_as(&cfg, true, doc_proxy_example);
	serve_config_free(&cfg);
}

Test(serve_config, cfg9_web_keys_print_as_label_dot_tailnet_suffix_and_both_spellings_parse)
{
	static const char short_key[] =
	    "{\"Services\":{\"svc:web-server\":{\"TCP\":{\"443\":{\"HTTPS\":true}},"
	    "\"Web\":{\"web-server:443\":{\"Handlers\":{\"/\":{\"Text\":\"example\"}}}}}}}";
	static const char long_key[] =
	    "{\"Services\":{\"svc:web-server\":{\"TCP\":{\"443\":{\"HTTPS\":true}},"
	    "\"Web\":{\"web-server." SUFFIX
	    ":443\":{\"Handlers\":{\"/\":{\"Text\":\"example\"}}}}}}}";
	struct serve_config a, b;
	char err[SERVE_ERR_LEN];
	char *oa, *ob;

	cr_assert_eq(parse(short_key, SUFFIX, &a, err), 0, "%s", err);
	cr_assert_eq(parse(long_key, SUFFIX, &b, err), 0, "%s", err);
	oa = serve_config_to_json(&a, false);
	ob = serve_config_to_json(&b, false);
	cr_assert_str_eq(oa, long_key, "compact output is the long-key document");
	cr_assert_str_eq(ob, long_key);
	free(oa);
	free(ob);
	serve_config_free(&a);
	serve_config_free(&b);
}

Test(serve_config, cfg10_doc_config_file_example_applies)
{
	static const char doc[] = "{\n"
	                          "  \"Services\": {\n"
	                          "    \"svc:web-server\": {\n"
	                          "      \"TCP\": {\n"
	                          "        \"443\": {\n"
	                          "          \"HTTPS\": true\n"
	                          "        }\n"
	                          "      },\n"
	                          "      \"Web\": {\n"
	                          "        \"web-server:443\": {\n"
	                          "          \"Handlers\": {\n"
	                          "            \"/\": {\n"
	                          "              \"Proxy\": \"http://127.0.0.1:8080\"\n"
	                          "            }\n"
	                          "          }\n"
	                          "        }\n"
	                          "      }\n"
	                          "    }\n"
	                          "  }\n"
	                          "}\n";
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];
	const struct serve_port *p;

	cr_assert_eq(parse(doc, SUFFIX, &cfg, err), 0, "%s", err);
	p = serve_service_find_port(serve_config_find(&cfg, "svc:web-server"), 443);
	cr_assert_not_null(p);
	cr_assert_str_eq(serve_port_find_handler(p, "/")->value, "http://127.0.0.1:8080");
	serve_config_free(&cfg);
}

Test(serve_config, cfg9_tcp_tls_and_tun_services_round_trip)
{
	static const char doc[] = "{\n"
	                          "  \"Services\": {\n"
	                          "    \"svc:db\": {\n"
	                          "      \"TCP\": {\n"
	                          "        \"5432\": {\n"
	                          "          \"TCPForward\": \"127.0.0.1:5432\"\n"
	                          "        },\n"
	                          "        \"5433\": {\n"
	                          "          \"TCPForward\": \"db.internal:5432\",\n"
	                          "          \"TerminateTLS\": \"db." SUFFIX "\"\n"
	                          "        }\n"
	                          "      }\n"
	                          "    },\n"
	                          "    \"svc:udp\": {\n"
	                          "      \"Tun\": true\n"
	                          "    }\n"
	                          "  }\n"
	                          "}";
	struct serve_config cfg;

	parse_ok(doc, SUFFIX, &cfg);
	cr_assert_eq(cfg.services[0].ports[1].type, SERVE_TYPE_TLS_TCP);
	cr_assert(cfg.services[1].tun);
	prints_as(&cfg, true, doc);
	serve_config_free(&cfg);
}

Test(serve_config, cfg9_output_is_sorted_whatever_the_input_order)
{
	static const char in[] =
	    "{\"Services\":{\"svc:b\":{\"Tun\":true},\"svc:a\":{\"Web\":{\"a:8080\":"
	    "{\"Handlers\":{\"/z\":{\"Path\":\"/srv/z\"},\"/\":{\"Text\":\"hi\"}}}},"
	    "\"TCP\":{\"8080\":{\"HTTP\":true},\"22\":{\"TCPForward\":\"localhost:22\"}}}}}";
	static const char want[] =
	    "{\"Services\":{\"svc:a\":{\"TCP\":{\"22\":{\"TCPForward\":\"localhost:22\"},"
	    "\"8080\":{\"HTTP\":true}},\"Web\":{\"a:8080\":{\"Handlers\":{\"/\":{\"Text\":"
	    "\"hi\"},\"/z\":{\"Path\":\"/srv/z\"}}}}},\"svc:b\":{\"Tun\":true}}}";
	struct serve_config cfg;

	parse_ok(in, "", &cfg);
	prints_as(&cfg, false, want);
	serve_config_free(&cfg);
}

Test(serve_config, cfg9_empty_config_prints_empty_object_and_parses_back)
{
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];
	char *out;

	serve_config_init(&cfg, SUFFIX);
	out = serve_config_to_json(&cfg, true);
	cr_assert_str_eq(out, "{}");
	free(out);
	cr_assert_eq(parse("{}", SUFFIX, &cfg, err), 0);
	cr_assert(serve_config_is_empty(&cfg));
	cr_assert_eq(parse("{\"Services\":{}}", SUFFIX, &cfg, err), 0);
	cr_assert(serve_config_is_empty(&cfg));
}

Test(serve_config, cfg9_strings_are_escaped_like_the_vendor_cli)
{
	static const char in[] = "{\"Services\":{\"svc:t\":{\"TCP\":{\"80\":{\"HTTP\":true}},"
	                         "\"Web\":{\"t:80\":{\"Handlers\":{\"/\":{\"Text\":"
	                         "\"a\\\"b\\\\c\\nd<e>&\\u0001\"}}}}}}}";
	static const char want[] = "{\"Services\":{\"svc:t\":{\"TCP\":{\"80\":{\"HTTP\":true}},"
	                           "\"Web\":{\"t:80\":{\"Handlers\":{\"/\":{\"Text\":"
	                           "\"a\\\"b\\\\c\\nd\\u003ce\\u003e\\u0026\\u0001\"}}}}}}}";
	struct serve_config cfg;

	parse_ok(in, "", &cfg);
	cr_assert_str_eq(cfg.services[0].ports[0].handlers[0].value, "a\"b\\c\nd<e>&\x01");
	prints_as(&cfg, false, want);
	serve_config_free(&cfg);
}

Test(serve_config, cfg10_proxy_shorthand_in_a_file_is_stored_expanded)
{
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];

	cr_assert_eq(parse("{\"Services\":{\"svc:web\":{\"TCP\":{\"443\":{\"HTTPS\":true}},"
	                   "\"Web\":{\"web:443\":{\"Handlers\":{\"/\":{\"Proxy\":\"3000\"},"
	                   "\"/b\":{\"Proxy\":\"backend:81\"}}}}}}}",
	                   "", &cfg, err),
	             0, "%s", err);
	cr_assert_str_eq(cfg.services[0].ports[0].handlers[0].value, "http://127.0.0.1:3000");
	cr_assert_str_eq(cfg.services[0].ports[0].handlers[1].value, "http://backend:81");
	serve_config_free(&cfg);
}

/* --- CFG-10: bad documents are refused whole, naming the place ----------------- */

Test(serve_config, cfg10_syntax_error_is_refused_with_line_and_column)
{
	refused("{\n  \"Services\": {,}\n}", -EINVAL, "invalid JSON at line 2, column 17");
	refused("", -EINVAL, "invalid JSON at line 1, column 1");
	refused("{} x", -EINVAL, "invalid JSON at line 1, column 4: text after the end");
}

Test(serve_config, cfg10_nul_byte_is_refused)
{
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];

	cr_assert_eq(serve_config_from_json("{}\0", 3, "", &cfg, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "invalid JSON: contains a NUL byte");
}

Test(serve_config, cfg10_wrong_types_are_refused_naming_the_place)
{
	refused("[]", -EINVAL, "serve config must be a JSON object");
	refused("{\"Services\":[]}", -EINVAL, "Services: must be an object");
	refused("{\"Services\":{\"svc:web\":1}}", -EINVAL,
	        "Services[\"svc:web\"]: must be an object");
	refused_svc("{\"TCP\":{\"443\":{\"HTTPS\":\"yes\"}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"443\"].HTTPS: must be true or false");
	refused_svc("{\"TCP\":{\"22\":{\"TCPForward\":22}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"22\"].TCPForward: must be a string");
	refused_svc("{\"Tun\":1}", -EINVAL, "Services[\"svc:web\"].Tun: must be true or false");
	refused_svc("{\"TCP\":[]}", -EINVAL, "Services[\"svc:web\"].TCP: must be an object");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{\"/\":"
	            "{\"Text\":false}}}}}",
	            -EINVAL,
	            "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Text: must be a string");
}

Test(serve_config, cfg10_unknown_keys_are_refused_naming_the_place)
{
	refused("{\"TCP\":{}}", -EINVAL, "unknown key \"TCP\" (want Services)");
	refused("{\"Services\":{},\"Services\":{}}", -EINVAL, "duplicate key \"Services\"");
	refused_svc("{\"Funnel\":true}", -EINVAL,
	            "Services[\"svc:web\"]: unknown key \"Funnel\" (want TCP, Web or Tun)");
	refused_svc("{\"TCP\":{\"443\":{\"HTTPS\":true,\"Funnel\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"443\"]: unknown key \"Funnel\" (want HTTPS, HTTP, "
	            "TCPForward or TerminateTLS)");
	refused_svc(
	    "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{\"/\":"
	    "{\"Redirect\":\"x\"}}}}}",
	    -EINVAL,
	    "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"]: unknown key \"Redirect\" "
	    "(want Proxy, Text or Path)");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{\"/\":"
	            "{\"Text\":\"x\"}},\"Extra\":1}}}",
	            -EINVAL,
	            "Services[\"svc:web\"].Web[\"web:80\"]: unknown key \"Extra\" (want Handlers)");
	refused_svc("{\"Tun\":true,\"Tun\":true}", -EINVAL,
	            "Services[\"svc:web\"]: duplicate key \"Tun\"");
}

Test(serve_config, cfg10_port_entry_types_are_exclusive)
{
	refused_svc("{\"TCP\":{\"443\":{\"HTTPS\":true,\"TCPForward\":\"localhost:1\"}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"443\"]: HTTPS and TCPForward are exclusive");
	refused_svc("{\"TCP\":{\"443\":{\"HTTPS\":true,\"HTTP\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"443\"]: HTTPS and HTTP are exclusive");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true,\"TerminateTLS\":\"x\"}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"80\"]: HTTP and TerminateTLS are exclusive");
	refused_svc("{\"TCP\":{\"80\":{\"TerminateTLS\":\"x\"}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"80\"]: TerminateTLS needs TCPForward");
	refused_svc("{\"TCP\":{\"80\":{\"HTTPS\":false}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"80\"]: no serve type (want HTTPS, HTTP or "
	            "TCPForward)");
	refused_svc("{\"TCP\":{\"80\":{\"TCPForward\":\"localhost:1\",\"TerminateTLS\":\"\"}}}",
	            -EINVAL, "Services[\"svc:web\"].TCP[\"80\"].TerminateTLS: must not be empty");
}

Test(serve_config, cfg10_bad_port_keys_are_refused)
{
	refused_svc("{\"TCP\":{\"0\":{\"HTTP\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"0\"]: port must be a number from 1 to 65535");
	refused_svc("{\"TCP\":{\"65536\":{\"HTTP\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"65536\"]: port must be a number from 1 to 65535");
	refused_svc("{\"TCP\":{\"0443\":{\"HTTP\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"0443\"]: port must be a number from 1 to 65535");
	refused_svc("{\"TCP\":{\"https\":{\"HTTP\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"https\"]: port must be a number from 1 to 65535");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true},\"80\":{\"HTTP\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"80\"]: duplicate port 80");
}

Test(serve_config, cfg10_web_entries_must_match_the_service_and_a_web_port)
{
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"other:80\":{\"Handlers\":{\"/\":"
	            "{\"Text\":\"x\"}}}}}",
	            -EINVAL,
	            "Services[\"svc:web\"].Web[\"other:80\"]: host \"other\" is not this service's "
	            "name (want web or web." SUFFIX ")");
	refused_svc(
	    "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:81\":{\"Handlers\":{\"/\":"
	    "{\"Text\":\"x\"}}}}}",
	    -EINVAL,
	    "Services[\"svc:web\"].Web[\"web:81\"]: port 81 has no HTTPS or HTTP entry in TCP");
	refused_svc(
	    "{\"TCP\":{\"22\":{\"TCPForward\":\"localhost:22\"}},\"Web\":{\"web:22\":"
	    "{\"Handlers\":{\"/\":{\"Text\":\"x\"}}}}}",
	    -EINVAL,
	    "Services[\"svc:web\"].Web[\"web:22\"]: port 22 is a tcp port in TCP, not HTTPS or "
	    "HTTP");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web\":{}}}", -EINVAL,
	            "Services[\"svc:web\"].Web[\"web\"]: key must be HOST:PORT");
	refused_svc(
	    "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{\"/\":"
	    "{\"Text\":\"x\"}}},\"web." SUFFIX ":80\":{\"Handlers\":{\"/\":{\"Text\":\"x\"}}}}}",
	    -EINVAL,
	    "Services[\"svc:web\"].Web[\"web." SUFFIX ":80\"]: duplicate entry for port 80");
	refused_svc("{\"TCP\":{\"443\":{\"HTTPS\":true}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"443\"]: HTTPS port has no Web handlers (want "
	            "Web[\"web." SUFFIX ":443\"])");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{}}}}",
	            -EINVAL, "Services[\"svc:web\"].Web[\"web:80\"].Handlers: no handlers");
	refused_svc("{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{}}}", -EINVAL,
	            "Services[\"svc:web\"].Web[\"web:80\"]: no Handlers");
}

Test(serve_config, cfg10_bad_handlers_are_refused_saying_why)
{
	static const char pre[] = "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{"
	                          "\"Handlers\":{";
	static const struct {
		const char *handlers, *msg;
	} cases[] = {
	    {"\"/\":{\"Text\":\"\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Text: text cannot be an "
	     "empty string"},
	    {"\"/\":{\"Path\":\"srv/www\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Path: must be an absolute "
	     "path"},
	    {"\"/\":{\"Proxy\":\"ftp://x:1\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Proxy: invalid target "
	     "\"ftp://x:1\": unknown scheme \"ftp\" (want http, https or https+insecure)"},
	    {"\"/\":{\"Proxy\":\"text:hi\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Proxy: must be a URL, "
	     "HOST:PORT or port (use Text or Path for the others)"},
	    {"\"/\":{\"Proxy\":\"http://127.0.0.1:1\",\"Text\":\"x\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"]: Proxy and Text are "
	     "exclusive"},
	    {"\"/\":{}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"]: no handler (want Proxy, "
	     "Text or Path)"},
	    {"\"api\":{\"Text\":\"x\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"api\"]: mount point must start "
	     "with '/'"},
	    {"\"/a/../b\":{\"Text\":\"x\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/a/../b\"]: invalid mount point "
	     "\"/a/../b\": not a clean path (want /b)"},
	    {"\"/a\":{\"Text\":\"x\"},\"/a\":{\"Text\":\"y\"}",
	     "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/a\"]: duplicate mount point"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[512];

		snprintf(body, sizeof(body), "%s%s}}}}", pre, cases[i].handlers);
		refused_svc(body, -EINVAL, cases[i].msg);
	}
}

Test(serve_config, svc1_bad_service_names_are_refused_naming_the_rule)
{
	refused("{\"Services\":{\"web\":{}}}", -EINVAL,
	        "Services[\"web\"]: invalid service name \"web\": must start with \"svc:\"");
	refused("{\"Services\":{\"svc:a_b\":{}}}", -EINVAL,
	        "Services[\"svc:a_b\"]: invalid service name \"svc:a_b\": only letters, digits and "
	        "'-' are allowed, found \"_\"");
}

Test(serve_config, l3_2_tun_with_tcp_or_web_in_a_file_is_refused)
{
	refused_svc("{\"Tun\":true,\"TCP\":{\"22\":{\"TCPForward\":\"localhost:22\"}}}", -EINVAL,
	            "Services[\"svc:web\"]: Tun cannot be combined with TCP or Web handlers");
	refused_svc("{\"TCP\":{\"22\":{\"TCPForward\":\"localhost:22\"}},\"Tun\":true}", -EINVAL,
	            "Services[\"svc:web\"]: Tun cannot be combined with TCP or Web handlers");
}

Test(serve_config, cfg3_bad_tcp_forward_in_a_file_is_refused)
{
	refused_svc("{\"TCP\":{\"22\":{\"TCPForward\":\"localhost\"}}}", -EINVAL,
	            "Services[\"svc:web\"].TCP[\"22\"].TCPForward: invalid target \"localhost\": "
	            "missing port (want PORT, HOST:PORT or a URL)");
}

/* --- limits ------------------------------------------------------------------ */

/* Builds {"Services":{ n services }} with `per` generator. */
static char *many_services(int n)
{
	size_t cap = (size_t)n * 64 + 64, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s + len, cap - len, "{\"Services\":{");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s\"svc:s%d\":{\"Tun\":true}",
		                        i ? "," : "", i);
	snprintf(s + len, cap - len, "}}");
	return s;
}

Test(serve_config, lim_64_services_parse_and_65_are_refused)
{
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];
	char *ok = many_services(SERVE_MAX_SERVICES), *bad = many_services(SERVE_MAX_SERVICES + 1);

	cr_assert_eq(parse(ok, "", &cfg, err), 0, "%s", err);
	cr_assert_eq(cfg.n_services, SERVE_MAX_SERVICES);
	serve_config_free(&cfg);
	refused(bad, -E2BIG, "Services: too many services (65, limit 64)");
	free(ok);
	free(bad);
}

Test(serve_config, lim_65_ports_in_a_service_are_refused)
{
	char body[8192];
	size_t len = 0;

	len += (size_t)snprintf(body + len, sizeof(body) - len, "{\"TCP\":{");
	for (int i = 1; i <= SERVE_MAX_PORTS + 1; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		                        "%s\"%d\":{\"TCPForward\":\"localhost:1\"}",
		                        i > 1 ? "," : "", i);
	snprintf(body + len, sizeof(body) - len, "}}");
	refused_svc(body, -E2BIG, "Services[\"svc:web\"].TCP: too many ports (65, limit 64)");
}

Test(serve_config, lim_65_handlers_on_a_port_are_refused)
{
	char body[8192];
	size_t len = 0;

	len += (size_t)snprintf(
	    body + len, sizeof(body) - len,
	    "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{");
	for (int i = 0; i < SERVE_MAX_HANDLERS + 1; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		                        "%s\"/p%d\":{\"Text\":\"x\"}", i ? "," : "", i);
	snprintf(body + len, sizeof(body) - len, "}}}}");
	refused_svc(
	    body, -E2BIG,
	    "Services[\"svc:web\"].Web[\"web:80\"].Handlers: too many handlers (65, limit 64)");
}

Test(serve_config, lim_too_long_text_and_path_are_refused)
{
	size_t n = SERVE_MAX_TARGET_LEN + 1;
	char *text = malloc(n + 1), *body = malloc(n + 256);

	memset(text, 'a', n);
	text[n] = '\0';
	snprintf(body, n + 256,
	         "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{\"/\":"
	         "{\"Text\":\"%s\"}}}}}",
	         text);
	refused_svc(body, -E2BIG,
	            "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Text: too long (4097 "
	            "bytes, limit 4096)");
	text[SERVE_MAX_PATH_LEN + 1] = '\0';
	text[0] = '/';
	snprintf(body, n + 256,
	         "{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{\"web:80\":{\"Handlers\":{\"/\":"
	         "{\"Path\":\"%s\"}}}}}",
	         text);
	refused_svc(body, -E2BIG,
	            "Services[\"svc:web\"].Web[\"web:80\"].Handlers[\"/\"].Path: too long (1025 "
	            "bytes, limit 1024)");
	free(text);
	free(body);
}

Test(serve_config, lim_document_over_1_mib_is_refused_before_parsing)
{
	size_t n = SERVE_MAX_JSON_BYTES + 1;
	char *doc = malloc(n);
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];

	memset(doc, ' ', n);
	doc[0] = '{';
	doc[n - 1] = '}';
	cr_assert_eq(serve_config_from_json(doc, n, "", &cfg, err, sizeof(err)), -E2BIG);
	cr_assert_str_eq(err, "serve config is too large (1048577 bytes, limit 1048576)");
	free(doc);
}

Test(serve_config, cfg10_refused_document_leaves_the_running_config_unchanged)
{
	struct serve_config running, next;
	char err[SERVE_ERR_LEN];
	char *before, *after;

	cr_assert_eq(parse(doc_proxy_example, SUFFIX, &running, err), 0);
	before = serve_config_to_json(&running, true);
	/* A document whose first service is fine and whose second is bad. */
	cr_assert_eq(parse("{\"Services\":{\"svc:a\":{\"Tun\":true},\"svc:b\":{\"Tun\":2}}}",
	                   SUFFIX, &next, err),
	             -EINVAL);
	cr_assert_str_eq(err, "Services[\"svc:b\"].Tun: must be true or false");
	cr_assert(serve_config_is_empty(&next));
	after = serve_config_to_json(&running, true);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
	serve_config_free(&running);
}

/* --- names (SVC-1) -------------------------------------------------------------- */

static void name_refused(const char *name, const char *want)
{
	char err[SERVE_ERR_LEN];

	cr_assert_eq(serve_name_check(name, err, sizeof(err)), -EINVAL, "%s", name);
	cr_assert_str_eq(err, want);
}

Test(serve_config, svc1_names_are_svc_prefix_and_one_dns_label)
{
	char err[SERVE_ERR_LEN];
	char longest[4 + SERVE_LABEL_MAX + 2];

	cr_assert_eq(serve_name_check("svc:web-server", err, sizeof(err)), 0);
	cr_assert_eq(serve_name_check("svc:a", err, sizeof(err)), 0);
	cr_assert_eq(serve_name_check("svc:0db9", err, sizeof(err)), 0);
	memset(longest, 'a', sizeof(longest));
	memcpy(longest, "svc:", 4);
	longest[4 + SERVE_LABEL_MAX] = '\0';
	cr_assert_eq(serve_name_check(longest, err, sizeof(err)), 0);
	longest[4 + SERVE_LABEL_MAX] = 'a';
	longest[4 + SERVE_LABEL_MAX + 1] = '\0';
	cr_assert_eq(serve_name_check(longest, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "the label after \"svc:\" must be 1-63 characters, got 64"), "%s",
	          err);
}

Test(serve_config, svc1_each_broken_rule_is_named)
{
	name_refused("web", "invalid service name \"web\": must start with \"svc:\"");
	name_refused("svc:", "invalid service name \"svc:\": the label after \"svc:\" must be "
	                     "1-63 characters, got 0");
	name_refused("svc:web.server", "invalid service name \"svc:web.server\": only letters, "
	                               "digits and '-' are allowed, found \".\"");
	name_refused("svc:-web", "invalid service name \"svc:-web\": must start with a letter or "
	                         "digit after \"svc:\"");
	name_refused("svc:web-",
	             "invalid service name \"svc:web-\": must end with a letter or digit");
	name_refused("svc:w\x01", "invalid service name \"svc:w\\x01\": only letters, digits and "
	                          "'-' are allowed, found \"\\x01\"");
}

/* --- targets (CFG-3) and mounts (CFG-4) ------------------------------------------ */

static void target_ok(enum serve_type t, const char *raw, enum serve_handler_kind want_kind,
                      const char *want)
{
	char out[SERVE_MAX_TARGET_LEN + 1], err[SERVE_ERR_LEN];
	enum serve_handler_kind kind;

	cr_assert_eq(serve_target_parse(t, raw, &kind, out, sizeof(out), err, sizeof(err)), 0,
	             "%s: %s", raw, err);
	cr_assert_eq(kind, want_kind, "%s", raw);
	cr_assert_str_eq(out, want);
}

static void target_bad(enum serve_type t, const char *raw, const char *want)
{
	char out[SERVE_MAX_TARGET_LEN + 1], err[SERVE_ERR_LEN];
	enum serve_handler_kind kind;

	cr_assert_lt(serve_target_parse(t, raw, &kind, out, sizeof(out), err, sizeof(err)), 0, "%s",
	             raw);
	cr_assert_str_eq(err, want);
}

Test(serve_config, cfg3_web_targets_expand_as_documented)
{
	target_ok(SERVE_TYPE_HTTPS, "8080", SERVE_HANDLER_PROXY, "http://127.0.0.1:8080");
	target_ok(SERVE_TYPE_HTTPS, "127.0.0.1:8080", SERVE_HANDLER_PROXY, "http://127.0.0.1:8080");
	target_ok(SERVE_TYPE_HTTP, "localhost:3000/foo", SERVE_HANDLER_PROXY,
	          "http://localhost:3000/foo");
	target_ok(SERVE_TYPE_HTTP, "http://backend:80/x", SERVE_HANDLER_PROXY,
	          "http://backend:80/x");
	target_ok(SERVE_TYPE_HTTP, "HTTPS://backend", SERVE_HANDLER_PROXY, "https://backend");
	target_ok(SERVE_TYPE_HTTP, "https+insecure://localhost:8443", SERVE_HANDLER_PROXY,
	          "https+insecure://localhost:8443");
	target_ok(SERVE_TYPE_HTTP, "http://[::1]:80", SERVE_HANDLER_PROXY, "http://[::1]:80");
	target_ok(SERVE_TYPE_HTTPS, "text:example", SERVE_HANDLER_TEXT, "example");
	target_ok(SERVE_TYPE_HTTPS, "text:hello world", SERVE_HANDLER_TEXT, "hello world");
	target_ok(SERVE_TYPE_HTTPS, "/srv/www/", SERVE_HANDLER_PATH, "/srv/www");
	target_ok(SERVE_TYPE_HTTPS, "/srv//a/./b/../c", SERVE_HANDLER_PATH, "/srv/a/c");
}

Test(serve_config, cfg3_bad_web_targets_are_refused_saying_why)
{
	target_bad(SERVE_TYPE_HTTPS, "",
	           "empty target (want a port, HOST:PORT, a URL, text:TEXT "
	           "or an absolute path)");
	target_bad(SERVE_TYPE_HTTPS, "text:",
	           "invalid target \"text:\": text cannot be an empty "
	           "string");
	target_bad(SERVE_TYPE_HTTPS, "www/index.html",
	           "invalid target \"www/index.html\": a relative path (file and directory targets "
	           "must be absolute paths)");
	target_bad(SERVE_TYPE_HTTPS, "./site",
	           "invalid target \"./site\": a relative path (file and directory targets must be "
	           "absolute paths)");
	target_bad(SERVE_TYPE_HTTPS, "0", "invalid target \"0\": port 0 is out of range (1-65535)");
	target_bad(SERVE_TYPE_HTTPS, "65536",
	           "invalid target \"65536\": port 65536 is out of range (1-65535)");
	target_bad(SERVE_TYPE_HTTPS, "localhost:70000",
	           "invalid target \"localhost:70000\": port 70000 is out of range (1-65535)");
	target_bad(SERVE_TYPE_HTTPS,
	           "localhost:", "invalid target \"localhost:\": missing port after ':'");
	target_bad(SERVE_TYPE_HTTPS, "localhost:http",
	           "invalid target \"localhost:http\": invalid port \"http\"");
	target_bad(SERVE_TYPE_HTTPS, "localhost",
	           "invalid target \"localhost\": missing port (want PORT, HOST:PORT or a URL)");
	target_bad(SERVE_TYPE_HTTPS, "ftp://files:21",
	           "invalid target \"ftp://files:21\": unknown scheme \"ftp\" (want http, https or "
	           "https+insecure)");
	target_bad(SERVE_TYPE_HTTPS, "tcp://db:5432",
	           "invalid target \"tcp://db:5432\": unknown scheme \"tcp\" (want http, https or "
	           "https+insecure)");
	target_bad(SERVE_TYPE_HTTPS, "http://:80", "invalid target \"http://:80\": missing host");
	target_bad(SERVE_TYPE_HTTPS, "http://a b:80",
	           "invalid target \"http://a b:80\": contains a space or control character");
	target_bad(SERVE_TYPE_HTTPS, "ba$d:80",
	           "invalid target \"ba$d:80\": invalid character \"$\" in the host");
	target_bad(SERVE_TYPE_HTTPS, "http://[::1:80",
	           "invalid target \"http://[::1:80\": unclosed '[' in the host");
}

Test(serve_config, cfg3_tcp_targets_take_host_port_or_tcp_url)
{
	target_ok(SERVE_TYPE_TCP, "5432", SERVE_HANDLER_NONE, "127.0.0.1:5432");
	target_ok(SERVE_TYPE_TCP, "tcp://localhost:5432", SERVE_HANDLER_NONE, "localhost:5432");
	target_ok(SERVE_TYPE_TCP, "tcp://localhost:5432/", SERVE_HANDLER_NONE, "localhost:5432");
	target_ok(SERVE_TYPE_TLS_TCP, "db.internal:5432", SERVE_HANDLER_NONE, "db.internal:5432");
	target_ok(SERVE_TYPE_TCP, "[fd7a::1]:22", SERVE_HANDLER_NONE, "[fd7a::1]:22");
	target_bad(
	    SERVE_TYPE_TCP, "http://localhost:80",
	    "invalid target \"http://localhost:80\": unknown scheme \"http\" for a TCP target "
	    "(want tcp://HOST:PORT or HOST:PORT)");
	target_bad(SERVE_TYPE_TCP, "text:hi",
	           "invalid target \"text:hi\": a TCP target must be PORT, HOST:PORT or "
	           "tcp://HOST:PORT (text and file targets need --https or --http)");
	target_bad(SERVE_TYPE_TCP, "/var/run/db.sock",
	           "invalid target \"/var/run/db.sock\": a TCP target must be PORT, HOST:PORT or "
	           "tcp://HOST:PORT (text and file targets need --https or --http)");
	target_bad(SERVE_TYPE_TCP, "tcp://localhost:5432/db",
	           "invalid target \"tcp://localhost:5432/db\": a TCP target takes no path");
	target_bad(
	    SERVE_TYPE_TCP, "tcp://localhost",
	    "invalid target \"tcp://localhost\": missing port (want PORT, HOST:PORT or a URL)");
	target_bad(SERVE_TYPE_TCP, "99999",
	           "invalid target \"99999\": port 99999 is out of range (1-65535)");
}

Test(serve_config, lim_target_longer_than_4096_bytes_is_refused)
{
	char big[SERVE_MAX_TARGET_LEN + 8];

	memset(big, 'a', sizeof(big));
	memcpy(big, "text:", 5);
	big[SERVE_MAX_TARGET_LEN + 1] = '\0';
	target_bad(SERVE_TYPE_HTTP, big, "target is too long (4097 bytes, limit 4096)");
}

Test(serve_config, cfg4_mount_points_default_to_root_and_must_be_clean)
{
	char out[SERVE_MAX_PATH_LEN + 1], err[SERVE_ERR_LEN];

	cr_assert_eq(serve_mount_parse("", out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "/");
	cr_assert_eq(serve_mount_parse("mt2", out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "/mt2");
	cr_assert_eq(serve_mount_parse("/api/", out, sizeof(out), err, sizeof(err)), 0);
	cr_assert_str_eq(out, "/api/");
	cr_assert_eq(serve_mount_parse("/a//b", out, sizeof(out), err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "invalid mount point \"/a//b\": not a clean path (want /a/b)");
	cr_assert_eq(serve_mount_parse("/a b", out, sizeof(out), err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "invalid mount point \"/a b\": spaces, control characters, '?' and "
	                      "'#' are not allowed");
	cr_assert_eq(serve_mount_parse("/a?x=1", out, sizeof(out), err, sizeof(err)), -EINVAL);
}

Test(serve_config, lim_mount_longer_than_1024_bytes_is_refused)
{
	char big[SERVE_MAX_PATH_LEN + 2], out[SERVE_MAX_PATH_LEN + 1], err[SERVE_ERR_LEN];

	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[SERVE_MAX_PATH_LEN] = '\0';
	cr_assert_eq(serve_mount_parse(big, out, sizeof(out), err, sizeof(err)), 0);
	big[SERVE_MAX_PATH_LEN] = 'a';
	big[SERVE_MAX_PATH_LEN + 1] = '\0';
	cr_assert_eq(serve_mount_parse(big, out, sizeof(out), err, sizeof(err)), -E2BIG);
	cr_assert_str_eq(err, "mount point is too long (1025 bytes, limit 1024)");
}

/* --- lookups, clone, adv, CFG-11 --------------------------------------------------- */

Test(serve_config, l7_2_longest_matching_mount_wins)
{
	struct serve_config cfg;
	char err[SERVE_ERR_LEN];
	const struct serve_port *p;

	cr_assert_eq(parse("{\"Services\":{\"svc:w\":{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":"
	                   "{\"w:80\":{\"Handlers\":{\"/\":{\"Text\":\"root\"},\"/api/\":{\"Text\":"
	                   "\"api\"},\"/static\":{\"Text\":\"static\"}}}}}}}",
	                   "", &cfg, err),
	             0, "%s", err);
	p = &cfg.services[0].ports[0];
	cr_assert_str_eq(serve_port_match(p, "/api/v1", 7)->value, "api");
	cr_assert_str_eq(serve_port_match(p, "/api", 4)->value, "root");
	cr_assert_str_eq(serve_port_match(p, "/static", 7)->value, "static");
	cr_assert_str_eq(serve_port_match(p, "/static/x.css", 13)->value, "static");
	cr_assert_str_eq(serve_port_match(p, "/staticx", 8)->value, "root");
	cr_assert_str_eq(serve_port_match(p, "/", 1)->value, "root");
	serve_config_free(&cfg);
}

Test(serve_config, clone_is_deep_and_equal)
{
	struct serve_config a, b;
	char err[SERVE_ERR_LEN];
	char *ja, *jb;

	cr_assert_eq(parse(doc_text_example, SUFFIX, &a, err), 0);
	cr_assert_eq(serve_config_clone(&b, &a), 0);
	cr_assert_neq(a.services, b.services);
	cr_assert_neq(a.services[0].ports[0].handlers[0].value,
	              b.services[0].ports[0].handlers[0].value);
	ja = serve_config_to_json(&a, true);
	jb = serve_config_to_json(&b, true);
	cr_assert_str_eq(ja, jb);
	cr_assert_eq(serve_config_validate(&b, err, sizeof(err)), 0, "%s", err);
	free(ja);
	free(jb);
	serve_config_free(&a);
	serve_config_free(&b);
}

Test(serve_config, adv_state_is_kept_per_service_with_a_limit)
{
	struct serve_adv adv;
	char name[16];

	serve_adv_init(&adv);
	cr_assert_eq(serve_adv_get(&adv, "svc:a"), SERVE_ADV_NONE);
	cr_assert_eq(serve_adv_set(&adv, "svc:a", SERVE_ADV_ACTIVE), 0);
	cr_assert_eq(serve_adv_set(&adv, "svc:a", SERVE_ADV_DRAINING), 0);
	cr_assert_eq(serve_adv_get(&adv, "svc:a"), SERVE_ADV_DRAINING);
	cr_assert_eq(serve_adv_set(&adv, "svc:a", SERVE_ADV_NONE), 0);
	cr_assert_eq(adv.n, 0);
	for (int i = 0; i < SERVE_MAX_SERVICES; i++) {
		snprintf(name, sizeof(name), "svc:s%d", i);
		cr_assert_eq(serve_adv_set(&adv, name, SERVE_ADV_ACTIVE), 0);
	}
	cr_assert_eq(serve_adv_set(&adv, "svc:one-more", SERVE_ADV_ACTIVE), -E2BIG);
}

Test(serve_config, cfg11_untagged_host_is_refused_with_the_exact_message)
{
	char err[SERVE_ERR_LEN] = "";

	cr_assert(serve_host_may_serve(true, "svc:web", err, sizeof(err)));
	cr_assert_str_eq(err, "");
	cr_assert_not(serve_host_may_serve(false, "svc:web", err, sizeof(err)));
	cr_assert_str_eq(err, "cannot serve svc:web: a service host must be a tagged node, and "
	                      "this machine has no tags");
}
