/* The `serve` command: tokeniser, grammar, apply, and what it prints
 * (SPEC CFG-1..9, CFG-12, L3-2, SVC-1). Command lines follow the vendor doc. */
#include "proxy/serve/serve_cmd.h"
#include "tests/proxy/serve/serve_doc_examples.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUFFIX "king-grouse.ts.net"

/* One daemon's serve state. */
struct world {
	struct serve_config cfg;
	struct serve_adv adv;
	struct serve_op op;
	char err[SERVE_ERR_LEN];
};

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	cr_assert_not_null(w);
	serve_config_init(&w->cfg, SUFFIX);
	serve_adv_init(&w->adv);
	return w;
}

static void world_free(struct world *w)
{
	serve_config_free(&w->cfg);
	free(w);
}

/* Parses and applies one line; returns the first failing rc (message in w->err). */
static int run(struct world *w, const char *line)
{
	int rc = serve_cmd_parse_line(line, strlen(line), &w->op, w->err, sizeof(w->err));

	if (rc)
		return rc;
	return serve_cmd_apply(&w->cfg, &w->adv, &w->op, w->err, sizeof(w->err));
}

static void run_ok(struct world *w, const char *line)
{
	int rc = run(w, line);

	cr_assert_eq(rc, 0, "`%s` failed (%d): %s", line, rc, w->err);
}

/* Runs a line that must fail with `want_rc` and exactly `want`, changing nothing. */
static void run_refused(struct world *w, const char *line, int want_rc, const char *want)
{
	char *before = serve_config_to_json(&w->cfg, false);
	struct serve_adv adv_before = w->adv;
	char *after;
	int rc = run(w, line);

	cr_assert_eq(rc, want_rc, "`%s`: rc %d (%s)", line, rc, w->err);
	cr_assert_str_eq(w->err, want, "`%s`", line);
	after = serve_config_to_json(&w->cfg, false);
	cr_assert_str_eq(after, before, "`%s` changed the config", line);
	cr_assert_eq(memcmp(&adv_before, &w->adv, sizeof(adv_before)), 0,
	             "`%s` changed advertisement", line);
	free(before);
	free(after);
}

static void json_is(struct world *w, const char *want)
{
	char *j = serve_config_to_json(&w->cfg, false);

	cr_assert_str_eq(j, want);
	free(j);
}

static const char *handler(struct world *w, const char *svc, uint16_t port, const char *mount)
{
	struct serve_service *s = serve_config_find(&w->cfg, svc);
	struct serve_port *p = s ? serve_service_find_port(s, port) : NULL;
	struct serve_handler *h = p ? serve_port_find_handler(p, mount) : NULL;

	return h ? h->value : NULL;
}

/* --- tokeniser ------------------------------------------------------------------ */

static struct serve_argv *tok(const char *line, int want_rc, char *err)
{
	struct serve_argv *av = malloc(sizeof(*av));
	int rc = serve_cmd_tokenize(line, strlen(line), av, err, SERVE_ERR_LEN);

	cr_assert_eq(rc, want_rc, "`%s`: %d %s", line, rc, err);
	return av;
}

Test(serve_tokenize, words_split_on_whitespace_with_shell_quoting)
{
	char err[SERVE_ERR_LEN];
	struct serve_argv *av = tok(
	    "serve  --service=\"svc:web-server\"\t'text:a b' \"x\\\"y\\\\z\\n\" a\\ b ''", 0, err);

	cr_assert_eq(av->argc, 6);
	cr_assert_str_eq(av->argv[0], "serve");
	cr_assert_str_eq(av->argv[1], "--service=svc:web-server");
	cr_assert_str_eq(av->argv[2], "text:a b");
	cr_assert_str_eq(av->argv[3], "x\"y\\z\\n");
	cr_assert_str_eq(av->argv[4], "a b");
	cr_assert_str_eq(av->argv[5], "");
	cr_assert_null(av->argv[6]);
	free(av);
}

Test(serve_tokenize, single_quotes_are_literal_and_backslash_newline_joins)
{
	char err[SERVE_ERR_LEN];
	struct serve_argv *av = tok("a'\\\"$x'b c\\\nd \"e\\\nf\"", 0, err);

	cr_assert_eq(av->argc, 3);
	cr_assert_str_eq(av->argv[0], "a\\\"$xb");
	cr_assert_str_eq(av->argv[1], "cd");
	cr_assert_str_eq(av->argv[2], "ef");
	free(av);
}

Test(serve_tokenize, bad_quoting_is_refused)
{
	char err[SERVE_ERR_LEN];

	free(tok("serve 'abc", -EINVAL, err));
	cr_assert_str_eq(err, "unterminated single quote");
	free(tok("serve \"abc", -EINVAL, err));
	cr_assert_str_eq(err, "unterminated double quote");
	free(tok("serve abc\\", -EINVAL, err));
	cr_assert_str_eq(err, "trailing backslash");
}

Test(serve_tokenize, limits_on_words_word_length_and_line_length)
{
	char err[SERVE_ERR_LEN];
	char *line = malloc(SERVE_CMD_MAX_LINE + 2);
	struct serve_argv *av = malloc(sizeof(*av));
	size_t n = 0;

	for (int i = 0; i < SERVE_CMD_MAX_ARGS; i++)
		n += (size_t)sprintf(line + n, "a ");
	cr_assert_eq(serve_cmd_tokenize(line, n, av, err, sizeof(err)), 0);
	cr_assert_eq(av->argc, SERVE_CMD_MAX_ARGS);
	n += (size_t)sprintf(line + n, "a");
	cr_assert_eq(serve_cmd_tokenize(line, n, av, err, sizeof(err)), -E2BIG);
	cr_assert_str_eq(err, "too many arguments (limit 32)");

	memset(line, 'a', SERVE_CMD_MAX_ARG_LEN + 1);
	cr_assert_eq(serve_cmd_tokenize(line, SERVE_CMD_MAX_ARG_LEN + 1, av, err, sizeof(err)),
	             -E2BIG);
	cr_assert_str_eq(err, "argument 1 is too long (limit 4160 bytes)");

	memset(line, ' ', SERVE_CMD_MAX_LINE + 1);
	cr_assert_eq(serve_cmd_tokenize(line, SERVE_CMD_MAX_LINE + 1, av, err, sizeof(err)),
	             -E2BIG);
	cr_assert_str_eq(err, "command line is too long (16385 bytes, limit 16384)");
	cr_assert_eq(serve_cmd_tokenize("a\0b", 3, av, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "command line contains a NUL byte");
	free(line);
	free(av);
}

/* --- grammar --------------------------------------------------------------------- */

static void parse_ok(const char *line, struct serve_op *op)
{
	char err[SERVE_ERR_LEN];
	int rc = serve_cmd_parse_line(line, strlen(line), op, err, sizeof(err));

	cr_assert_eq(rc, 0, "`%s`: %s", line, err);
}

static void parse_bad(const char *line, int want_rc, const char *want)
{
	char err[SERVE_ERR_LEN];
	struct serve_op op;
	int rc = serve_cmd_parse_line(line, strlen(line), &op, err, sizeof(err));

	cr_assert_eq(rc, want_rc, "`%s`: rc %d (%s)", line, rc, err);
	cr_assert_str_eq(err, want, "`%s`", line);
}

Test(serve_cmd, cfg1_doc_command_parses_to_https_443_proxy)
{
	struct serve_op op;

	parse_ok("tailscale serve --service=svc:web-server --https=443 127.0.0.1:8080", &op);
	cr_assert_eq(op.verb, SERVE_VERB_SET);
	cr_assert_str_eq(op.service, "svc:web-server");
	cr_assert_eq(op.type, SERVE_TYPE_HTTPS);
	cr_assert_eq(op.port, 443);
	cr_assert_str_eq(op.mount, "/");
	cr_assert_eq(op.kind, SERVE_HANDLER_PROXY);
	cr_assert_str_eq(op.value, "http://127.0.0.1:8080");
}

Test(serve_cmd, cfg1_each_type_flag_sets_type_and_port)
{
	struct serve_op op;

	parse_ok("serve --service=svc:a --http=80 3000", &op);
	cr_assert_eq(op.type, SERVE_TYPE_HTTP);
	cr_assert_eq(op.port, 80);
	parse_ok("serve --service=svc:a --tcp=5432 tcp://localhost:5432", &op);
	cr_assert_eq(op.type, SERVE_TYPE_TCP);
	cr_assert_eq(op.port, 5432);
	cr_assert_str_eq(op.value, "localhost:5432");
	parse_ok("serve --service=svc:a --tls-terminated-tcp=5433 5432", &op);
	cr_assert_eq(op.type, SERVE_TYPE_TLS_TCP);
	cr_assert_eq(op.port, 5433);
	cr_assert_str_eq(op.value, "127.0.0.1:5432");
	parse_ok("serve --service=svc:a --tun", &op);
	cr_assert_eq(op.type, SERVE_TYPE_TUN);
	cr_assert_eq(op.verb, SERVE_VERB_SET);
}

Test(serve_cmd, cfg1_flag_spellings_equal_separate_colon_and_single_dash)
{
	struct serve_op op;

	parse_ok("serve --service svc:web-server --https 8443 --set-path /mt2 8081", &op);
	cr_assert_eq(op.port, 8443);
	cr_assert_str_eq(op.mount, "/mt2");
	parse_ok("tailscale serve --service:\"svc:web-server\" --https:443 off", &op);
	cr_assert_eq(op.verb, SERVE_VERB_OFF);
	cr_assert_str_eq(op.service, "svc:web-server");
	cr_assert_eq(op.port, 443);
	parse_ok("serve -service=svc:a -http=80 -set-path=api 1", &op);
	cr_assert_str_eq(op.mount, "/api");
	parse_ok("svcctl serve --bg --yes --service=svc:a -- 1", &op);
	cr_assert_eq(op.verb, SERVE_VERB_SET);
	parse_ok("serve --bg=true --service=svc:a 1", &op);
	cr_assert_eq(op.verb, SERVE_VERB_SET);
}

Test(serve_cmd, cfg2_service_without_port_flag_defaults_to_https_443)
{
	struct serve_op op;

	parse_ok("serve --service=svc:web-server 8080", &op);
	cr_assert_eq(op.type, SERVE_TYPE_HTTPS);
	cr_assert_eq(op.port, 443);
	parse_ok("serve --service=svc:web-server off", &op);
	cr_assert_eq(op.verb, SERVE_VERB_OFF);
	cr_assert_eq(op.type, SERVE_TYPE_HTTPS);
	cr_assert_eq(op.port, 443);
}

Test(serve_cmd, cfg3_targets_are_expanded_and_bad_ones_refused_saying_why)
{
	struct serve_op op;

	parse_ok("serve --service=svc:a text:example", &op);
	cr_assert_eq(op.kind, SERVE_HANDLER_TEXT);
	cr_assert_str_eq(op.value, "example");
	parse_ok("serve --service=svc:a '/srv/www/'", &op);
	cr_assert_eq(op.kind, SERVE_HANDLER_PATH);
	cr_assert_str_eq(op.value, "/srv/www");
	parse_ok("serve --service=svc:a https+insecure://localhost:8443", &op);
	cr_assert_str_eq(op.value, "https+insecure://localhost:8443");
	parse_bad("serve --service=svc:a ./site", -EINVAL,
	          "invalid target \"./site\": a relative path (file and directory targets must be "
	          "absolute paths)");
	parse_bad("serve --service=svc:a 70000", -EINVAL,
	          "invalid target \"70000\": port 70000 is out of range (1-65535)");
	parse_bad(
	    "serve --service=svc:a gopher://x:70", -EINVAL,
	    "invalid target \"gopher://x:70\": unknown scheme \"gopher\" (want http, https or "
	    "https+insecure)");
	parse_bad("serve --service=svc:a text:", -EINVAL,
	          "invalid target \"text:\": text cannot be an empty string");
	parse_bad(
	    "serve --service=svc:a --tcp=22 http://localhost:22", -EINVAL,
	    "invalid target \"http://localhost:22\": unknown scheme \"http\" for a TCP target "
	    "(want tcp://HOST:PORT or HOST:PORT)");
	parse_bad("serve --service=svc:a --tcp=22 localhost", -EINVAL,
	          "invalid target \"localhost\": missing port (want PORT, HOST:PORT or a URL)");
}

Test(serve_cmd, cfg4_set_path_with_a_tcp_type_is_refused)
{
	parse_bad("serve --service=svc:db --tcp=5432 --set-path=/x 5432", -EINVAL,
	          "--set-path cannot be used with --tcp (only --https and --http serve paths)");
	parse_bad("serve --service=svc:db --tls-terminated-tcp=5432 --set-path / 5432", -EINVAL,
	          "--set-path cannot be used with --tls-terminated-tcp (only --https and --http "
	          "serve paths)");
	parse_bad("serve --service=svc:db --tun --set-path=/", -EINVAL,
	          "--set-path cannot be used with --tun (only --https and --http serve paths)");
	parse_bad("serve --service=svc:db --set-path=/a/../b 1", -EINVAL,
	          "invalid mount point \"/a/../b\": not a clean path (want /b)");
}

Test(serve_cmd, svc1_bad_service_name_is_refused_naming_the_rule)
{
	parse_bad("serve --service=web 1", -EINVAL,
	          "invalid service name \"web\": must start with \"svc:\"");
	parse_bad("serve --service=svc:-web 1", -EINVAL,
	          "invalid service name \"svc:-web\": must start with a letter or digit after "
	          "\"svc:\"");
	parse_bad("serve drain svc:web_1", -EINVAL,
	          "invalid service name \"svc:web_1\": only letters, digits and '-' are allowed, "
	          "found \"_\"");
	parse_bad(
	    "serve clear "
	    "svc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    -EINVAL,
	    "invalid service name "
	    "\"svc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": the label "
	    "after \"svc:\" must be 1-63 characters, got 64");
}

Test(serve_cmd, grammar_errors_are_refused_with_exact_messages)
{
	parse_bad("serve 3000", -EINVAL,
	          "--service=svc:<name> is required (this daemon serves services only)");
	parse_bad("serve", -EINVAL,
	          "missing arguments (serve --service=svc:<name> [--https=N] TARGET, or serve "
	          "status|reset|drain|clear|advertise)");
	parse_bad("funnel 3000", -EINVAL, "not a serve command (want \"serve ...\")");
	parse_bad("serve --service=svc:a", -EINVAL,
	          "missing target (serve --service=svc:a --https=443 TARGET)");
	parse_bad("serve --service=svc:a --http=80 --tcp=81 1", -EINVAL,
	          "cannot serve multiple types for a single mount point (give one of --https, "
	          "--http, --tcp, --tls-terminated-tcp, --tun)");
	parse_bad("serve --service=svc:a --tun --https=443", -EINVAL,
	          "cannot serve multiple types for a single mount point (give one of --https, "
	          "--http, --tcp, --tls-terminated-tcp, --tun)");
	parse_bad("serve --service=svc:a 1 2 off", -EINVAL,
	          "invalid number of arguments (3; want TARGET or TARGET off)");
	parse_bad("serve --service=svc:a 1 on", -EINVAL,
	          "invalid argument format: \"on\" after the target (only \"off\" may follow it)");
	parse_bad("serve --service=svc:a --tun 8080", -EINVAL,
	          "--tun takes no target (got \"8080\")");
	parse_bad("serve --service=svc:a --funnel 1", -EINVAL, "unknown flag --funnel");
	parse_bad("serve ---service=svc:a 1", -EINVAL, "bad flag syntax: ---service=svc:a");
	parse_bad("serve --service", -EINVAL, "flag needs an argument: --service");
	parse_bad("serve --service=svc:a --https=abc 1", -EINVAL,
	          "invalid value \"abc\" for --https: want a port number (1-65535): not a decimal "
	          "integer");
	parse_bad("serve --service=svc:a --https=0 1", -EINVAL,
	          "port 0 is out of range for --https (1-65535)");
	parse_bad("serve --service=svc:a --http=65536 1", -EINVAL,
	          "port 65536 is out of range for --http (1-65535)");
	parse_bad("serve --service=svc:a --tun=maybe", -EINVAL,
	          "invalid boolean value \"maybe\" for --tun (want true or false)");
	parse_bad("serve --service=svc:a --bg=false 1", -EINVAL,
	          "--service is only compatible with background mode (--bg=false given)");
	parse_bad("serve --json status", -EINVAL, "flag --json is not accepted by serve");
	parse_bad("serve --https=443 status", -EINVAL,
	          "flag --https is not accepted by serve status");
	parse_bad("serve status --service=svc:a", -EINVAL,
	          "flag --service is not accepted by serve status");
	parse_bad("serve status now", -EINVAL, "serve status takes no arguments (got \"now\")");
	parse_bad("serve reset svc:a", -EINVAL, "serve reset takes no arguments (got \"svc:a\")");
	parse_bad("serve drain", -EINVAL,
	          "serve drain takes exactly one service name (serve drain svc:<name>)");
	parse_bad("serve clear svc:a svc:b", -EINVAL,
	          "serve clear takes exactly one service name (serve clear svc:<name>)");
	parse_bad("serve clear --service=svc:a svc:b", -EINVAL,
	          "serve clear: --service and the argument name different services");
	parse_bad("serve --service=svc:a 'text:unterminated", -EINVAL, "unterminated single quote");
}

Test(serve_cmd, subcommands_parse)
{
	struct serve_op op;

	parse_ok("serve status", &op);
	cr_assert_eq(op.verb, SERVE_VERB_STATUS);
	cr_assert_not(op.json);
	parse_ok("serve status --json", &op);
	cr_assert(op.json);
	parse_ok("serve status -json", &op);
	cr_assert(op.json);
	parse_ok("serve reset", &op);
	cr_assert_eq(op.verb, SERVE_VERB_RESET);
	parse_ok("serve drain svc:web-server", &op);
	cr_assert_eq(op.verb, SERVE_VERB_DRAIN);
	cr_assert_str_eq(op.service, "svc:web-server");
	parse_ok("serve clear --service=svc:web-server", &op);
	cr_assert_eq(op.verb, SERVE_VERB_CLEAR);
	cr_assert_str_eq(op.service, "svc:web-server");
	parse_ok("serve advertise svc:web-server", &op);
	cr_assert_eq(op.verb, SERVE_VERB_ADVERTISE);
	parse_ok("serve --bg drain svc:x", &op);
	cr_assert_eq(op.verb, SERVE_VERB_DRAIN);
}

/* --- apply ----------------------------------------------------------------------- */

Test(serve_cmd, cfg1_serve_writes_config_and_advertises_in_one_step)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:web-server --https=443 127.0.0.1:8080");
	cr_assert_str_eq(handler(w, "svc:web-server", 443, "/"), "http://127.0.0.1:8080");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:web-server"), SERVE_ADV_ACTIVE);
	world_free(w);
}

Test(serve_cmd, cfg1_tls_terminated_tcp_terminates_for_the_service_name)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:db --tls-terminated-tcp=5432 tcp://localhost:5433");
	json_is(w,
	        "{\"Services\":{\"svc:db\":{\"TCP\":{\"5432\":{\"TCPForward\":\"localhost:5433\","
	        "\"TerminateTLS\":\"db." SUFFIX "\"}}}}}");
	world_free(w);
}

Test(serve_cmd, cfg5_other_type_on_used_port_is_refused_naming_port_type_service)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:my-web-app --https=443 text:example");
	run_refused(w, "serve --service=svc:my-web-app --http=443 text:example", -EBUSY,
	            "port 443 is already serving https for svc:my-web-app; cannot serve http there "
	            "(first run: svcctl serve --service=svc:my-web-app --https=443 off)");
	run_refused(w, "serve --service=svc:my-web-app --tcp=443 8443", -EBUSY,
	            "port 443 is already serving https for svc:my-web-app; cannot serve tcp there "
	            "(first run: svcctl serve --service=svc:my-web-app --https=443 off)");
	/* The doc's way out: off first, then re-serve. */
	run_ok(w, "serve --service=\"svc:my-web-app\" --https=443 off");
	run_ok(w, "serve --service=\"svc:my-web-app\" --http=443 text:example");
	json_is(w,
	        "{\"Services\":{\"svc:my-web-app\":{\"TCP\":{\"443\":{\"HTTP\":true}},\"Web\":{"
	        "\"my-web-app." SUFFIX ":443\":{\"Handlers\":{\"/\":{\"Text\":\"example\"}}}}}}}");
	world_free(w);
}

Test(serve_cmd, cfg5_same_port_on_another_service_is_independent)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:a --https=443 1");
	run_ok(w, "serve --service=svc:b --tcp=443 2");
	world_free(w);
}

Test(serve_cmd, cfg6_same_service_port_path_with_new_target_updates_only_that_handler)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:web-server --https=443 text:example");
	run_ok(w, "serve --service=svc:web-server --https=443 --set-path=/api 9000");
	run_ok(w, "serve --service=svc:web-server --http=80 3000");
	run_ok(w, "serve --service=svc:web-server --https=443 8081");
	cr_assert_str_eq(handler(w, "svc:web-server", 443, "/"), "http://127.0.0.1:8081");
	cr_assert_str_eq(handler(w, "svc:web-server", 443, "/api"), "http://127.0.0.1:9000");
	cr_assert_str_eq(handler(w, "svc:web-server", 80, "/"), "http://127.0.0.1:3000");
	run_ok(w, "serve --service=svc:db --tcp=5432 5432");
	run_ok(w, "serve --service=svc:db --tcp=5432 db2:5432");
	json_is(w,
	        "{\"Services\":{\"svc:db\":{\"TCP\":{\"5432\":{\"TCPForward\":\"db2:5432\"}}},"
	        "\"svc:web-server\":{\"TCP\":{\"80\":{\"HTTP\":true},\"443\":{\"HTTPS\":true}},"
	        "\"Web\":{\"web-server." SUFFIX ":80\":{\"Handlers\":{\"/\":{\"Proxy\":"
	        "\"http://127.0.0.1:3000\"}}},\"web-server." SUFFIX ":443\":{\"Handlers\":{\"/\":"
	        "{\"Proxy\":\"http://127.0.0.1:8081\"},\"/api\":{\"Proxy\":"
	        "\"http://127.0.0.1:9000\"}}}}}}}");
	world_free(w);
}

Test(serve_cmd, cfg6_doc_update_sequence_gives_the_doc_json)
{
	struct world *w = world_new();
	char *j;

	serve_config_init(&w->cfg, ""); /* the doc prints Web keys without a suffix */
	run_ok(w, "tailscale serve --service=\"svc:web-server\" --https=443 text:example");
	run_ok(w, "tailscale serve --service=\"svc:web-server\" --https=443 8081");
	j = serve_config_to_json(&w->cfg, true);
	cr_assert_str_eq(j, doc_proxy_example);
	free(j);
	world_free(w);
}

Test(serve_cmd, cfg7_off_removes_just_that_path_then_the_port_keeping_other_ports)
{
	struct world *w = world_new();

	/* The doc's "remove a specific Service Proxy configuration" example. */
	run_ok(w, "tailscale serve --service=\"svc:web-server\" --https=443 8080");
	run_ok(w, "tailscale serve --service=\"svc:web-server\" --https=443 --set-path /mt2 8081");
	run_ok(w, "tailscale serve --service=\"svc:web-server\" --http=80 3000");
	run_ok(w, "tailscale serve drain svc:web-server");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:web-server"), SERVE_ADV_DRAINING);
	run_ok(w, "tailscale serve --service=\"svc:web-server\" --https=443 --set-path /mt2 off");
	cr_assert_null(handler(w, "svc:web-server", 443, "/mt2"));
	cr_assert_str_eq(handler(w, "svc:web-server", 443, "/"), "http://127.0.0.1:8080");
	run_ok(w, "tailscale serve advertise svc:web-server");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:web-server"), SERVE_ADV_ACTIVE);
	run_ok(w, "tailscale serve --service:\"svc:web-server\" --https=443 off");
	json_is(w, "{\"Services\":{\"svc:web-server\":{\"TCP\":{\"80\":{\"HTTP\":true}},\"Web\":{"
	           "\"web-server." SUFFIX ":80\":{\"Handlers\":{\"/\":{\"Proxy\":"
	           "\"http://127.0.0.1:3000\"}}}}}}}");
	world_free(w);
}

Test(serve_cmd, cfg7_off_of_last_path_removes_port_and_of_last_port_removes_service)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:a --https=443 --set-path=/x 1");
	run_ok(w, "serve --service=svc:a --https=443 --set-path=/x off");
	json_is(w, "{}");
	run_ok(w, "serve --service=svc:a --tcp=22 22");
	run_ok(w, "serve --service=svc:a --tcp=22 off");
	json_is(w, "{}");
	/* Advertisement is separate: the host now needs configuration (STA-2). */
	cr_assert_eq(serve_adv_get(&w->adv, "svc:a"), SERVE_ADV_ACTIVE);
	world_free(w);
}

Test(serve_cmd, cfg7_off_with_other_flags_or_nothing_there_is_refused)
{
	struct world *w = world_new();

	run_refused(w, "serve --service=svc:a off", -ENOENT, "svc:a has no serve config");
	run_ok(w, "serve --service=svc:a --https=443 1");
	run_refused(w, "serve --service=svc:a --https=8443 off", -ENOENT,
	            "svc:a has no handler on port 8443");
	run_refused(w, "serve --service=svc:a --http=443 off", -EINVAL,
	            "port 443 of svc:a is serving https, not http (off takes the same flags: "
	            "svcctl serve --service=svc:a --https=443 off)");
	run_refused(w, "serve --service=svc:a --https=443 --set-path=/nope off", -ENOENT,
	            "svc:a has no handler for path /nope on port 443");
	run_refused(w, "serve --service=svc:a --tun off", -ENOENT,
	            "svc:a is not served in TUN mode");
	world_free(w);
}

Test(serve_cmd, cfg8_clear_removes_the_service_and_stops_advertising_it)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:web-server --https=443 8080");
	run_ok(w, "serve --service=svc:web-server --http=80 3000");
	run_ok(w, "serve --service=svc:other --tcp=22 22");
	run_ok(w, "serve clear svc:web-server");
	cr_assert_null(serve_config_find(&w->cfg, "svc:web-server"));
	cr_assert_eq(serve_adv_get(&w->adv, "svc:web-server"), SERVE_ADV_NONE);
	cr_assert_not_null(serve_config_find(&w->cfg, "svc:other"));
	cr_assert_eq(serve_adv_get(&w->adv, "svc:other"), SERVE_ADV_ACTIVE);
	run_refused(w, "serve clear svc:web-server", -ENOENT, "svc:web-server has no serve config");
	world_free(w);
}

Test(serve_cmd, cfg8_reset_removes_the_whole_serve_config)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:a --https=443 8080");
	run_ok(w, "serve --service=svc:b --tun");
	run_ok(w, "serve reset");
	cr_assert(serve_config_is_empty(&w->cfg));
	cr_assert_eq(w->adv.n, 0);
	run_ok(w, "serve reset");
	world_free(w);
}

Test(serve_cmd, drn_drain_and_advertise_change_only_advertisement)
{
	struct world *w = world_new();
	char *before, *after;

	run_refused(w, "serve drain svc:a", -ENOENT, "svc:a is not advertised by this machine");
	run_ok(w, "serve --service=svc:a --https=443 8080");
	before = serve_config_to_json(&w->cfg, false);
	run_ok(w, "serve drain svc:a");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:a"), SERVE_ADV_DRAINING);
	run_ok(w, "serve drain svc:a");
	run_ok(w, "serve advertise svc:a");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:a"), SERVE_ADV_ACTIVE);
	after = serve_config_to_json(&w->cfg, false);
	cr_assert_str_eq(before, after);
	/* Serving again after a drain re-advertises, as the vendor CLI does. */
	run_ok(w, "serve drain svc:a");
	run_ok(w, "serve --service=svc:a --https=443 8081");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:a"), SERVE_ADV_ACTIVE);
	free(before);
	free(after);
	world_free(w);
}

Test(serve_cmd, cfg10_advertise_is_a_separate_step_after_a_config_file)
{
	struct world *w = world_new();
	struct serve_config next;
	static const char doc[] =
	    "{\"Services\":{\"svc:web-server\":{\"TCP\":{\"443\":{\"HTTPS\":true}},\"Web\":{"
	    "\"web-server:443\":{\"Handlers\":{\"/\":{\"Proxy\":\"http://127.0.0.1:8080\"}}}}}}}";

	cr_assert_eq(
	    serve_config_from_json(doc, strlen(doc), SUFFIX, &next, w->err, sizeof(w->err)), 0,
	    "%s", w->err);
	serve_config_swap(&w->cfg, &next);
	serve_config_free(&next);
	cr_assert_eq(serve_adv_get(&w->adv, "svc:web-server"), SERVE_ADV_NONE);
	run_ok(w, "tailscale serve advertise svc:web-server");
	cr_assert_eq(serve_adv_get(&w->adv, "svc:web-server"), SERVE_ADV_ACTIVE);
	world_free(w);
}

Test(serve_cmd, l3_2_tun_after_handlers_is_refused)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:a --https=443 8080");
	run_refused(w, "serve --service=svc:a --tun", -EBUSY,
	            "svc:a already has TCP or Web handlers, cannot serve it in TUN mode (run: "
	            "svcctl serve clear svc:a)");
	world_free(w);
}

Test(serve_cmd, l3_2_handlers_after_tun_are_refused)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:a --tun");
	json_is(w, "{\"Services\":{\"svc:a\":{\"Tun\":true}}}");
	run_refused(w, "serve --service=svc:a --tcp=22 22", -EBUSY,
	            "svc:a is already served in TUN mode, cannot add TCP or Web handlers (run: "
	            "svcctl serve --service=svc:a --tun off)");
	run_refused(w, "serve --service=svc:a --https=443 off", -ENOENT,
	            "svc:a is served in TUN mode and has no ports (run: svcctl serve "
	            "--service=svc:a --tun off)");
	run_ok(w, "serve --service=svc:a --tun off");
	json_is(w, "{}");
	run_ok(w, "serve --service=svc:a --tcp=22 22");
	world_free(w);
}

Test(serve_cmd, lim_services_ports_and_handlers_are_capped_with_messages)
{
	struct world *w = world_new();
	char line[128];

	for (int i = 0; i < SERVE_MAX_SERVICES; i++) {
		snprintf(line, sizeof(line), "serve --service=svc:s%d --tun", i);
		run_ok(w, line);
	}
	run_refused(w, "serve --service=svc:one-more --tun", -E2BIG,
	            "cannot serve svc:one-more: too many services (limit 64)");
	run_ok(w, "serve reset");
	for (int i = 1; i <= SERVE_MAX_PORTS; i++) {
		snprintf(line, sizeof(line), "serve --service=svc:a --tcp=%d 1", i);
		run_ok(w, line);
	}
	run_refused(w, "serve --service=svc:a --tcp=1000 1", -E2BIG,
	            "cannot serve svc:a on port 1000: too many ports (limit 64)");
	run_ok(w, "serve reset");
	for (int i = 0; i < SERVE_MAX_HANDLERS; i++) {
		snprintf(line, sizeof(line), "serve --service=svc:a --set-path=/p%d 1", i);
		run_ok(w, line);
	}
	run_refused(w, "serve --service=svc:a --set-path=/more 1", -E2BIG,
	            "cannot add /more to port 443 of svc:a: too many handlers (limit 64)");
	run_ok(w, "serve --service=svc:a --set-path=/p7 2"); /* updating is still fine */
	world_free(w);
}

Test(serve_cmd, status_changes_nothing)
{
	struct world *w = world_new();

	run_ok(w, "serve --service=svc:a --https=443 8080");
	run_ok(w, "serve status --json");
	run_ok(w, "serve status");
	cr_assert_str_eq(handler(w, "svc:a", 443, "/"), "http://127.0.0.1:8080");
	world_free(w);
}

/* --- output (CFG-9 human form, CFG-12) ------------------------------------------------ */

static char *message(struct world *w, bool approved, const char *const *addrs, size_t n)
{
	char *m = serve_cmd_message(&w->cfg, &w->op, approved, addrs, n);

	cr_assert_not_null(m);
	return m;
}

Test(serve_cmd, cfg12_pending_approval_message_matches_the_doc)
{
	struct world *w = world_new();
	char *m;

	run_ok(w, "tailscale serve --service=svc:web-server --http=3000 3000");
	m = message(w, false, NULL, 0);
	cr_assert_str_eq(m, "This machine is configured as a service proxy for `svc:web-server`, "
	                    "but approval from an admin is required. Once approved, it will be "
	                    "available in your Tailnet as:\n"
	                    "\n"
	                    "http://web-server.king-grouse.ts.net:3000/\n"
	                    "|-- proxy http://127.0.0.1:3000\n"
	                    "\n"
	                    "Serve started and running in the background.\n"
	                    "To disable the proxy, run: svcctl serve --service=svc:web-server "
	                    "--http=3000 off\n"
	                    "To remove config for the service, run: svcctl serve clear "
	                    "svc:web-server\n");
	free(m);
	world_free(w);
}

Test(serve_cmd, cfg12_available_message_matches_the_doc_with_the_handler_tree)
{
	struct world *w = world_new();
	char *m;

	run_ok(w, "tailscale serve --service=\"svc:web-server\" --http=443 text:example");
	m = message(w, true, NULL, 0);
	cr_assert_str_eq(m, "Available within your tailnet:\n"
	                    "\n"
	                    "http://web-server.king-grouse.ts.net:443/\n"
	                    "|-- text  \"example\"\n"
	                    "\n"
	                    "Serve started and running in the background.\n"
	                    "To disable the proxy, run: svcctl serve --service=svc:web-server "
	                    "--http=443 off\n"
	                    "To remove config for the service, run: svcctl serve clear "
	                    "svc:web-server\n");
	free(m);
	world_free(w);
}

Test(serve_cmd, cfg12_tree_lists_every_mount_of_the_port_shortest_first)
{
	struct world *w = world_new();
	char *m;

	run_ok(w, "serve --service=svc:web --set-path=/static/ /srv/static");
	run_ok(w, "serve --service=svc:web --set-path=/api 9000");
	run_ok(w, "serve --service=svc:web text:a-long-text-that-is-cut-short");
	m = message(w, true, NULL, 0);
	cr_assert_str_eq(m, "Available within your tailnet:\n"
	                    "\n"
	                    "https://web.king-grouse.ts.net/\n"
	                    "|-- text  \"a-long-text-that-...\"\n"
	                    "\n"
	                    "https://web.king-grouse.ts.net/api\n"
	                    "|-- proxy http://127.0.0.1:9000\n"
	                    "\n"
	                    "https://web.king-grouse.ts.net/static/\n"
	                    "|-- path  /srv/static\n"
	                    "\n"
	                    "Serve started and running in the background.\n"
	                    "To disable the proxy, run: svcctl serve --service=svc:web --https=443 "
	                    "off\n"
	                    "To remove config for the service, run: svcctl serve clear svc:web\n");
	free(m);
	world_free(w);
}

Test(serve_cmd, cfg12_tcp_message_lists_service_addresses_once_approved)
{
	struct world *w = world_new();
	const char *addrs[] = {"100.100.1.2", "fd7a:115c:a1e0::1:2"};
	char *m;

	run_ok(w, "serve --service=svc:db --tcp=5432 tcp://localhost:5432");
	m = message(w, true, addrs, 2);
	cr_assert_str_eq(m, "Available within your tailnet:\n"
	                    "\n"
	                    "|-- tcp://db.king-grouse.ts.net:5432 (TLS over TCP)\n"
	                    "|-- tcp://100.100.1.2:5432\n"
	                    "|-- tcp://[fd7a:115c:a1e0::1:2]:5432\n"
	                    "|--> tcp://localhost:5432\n"
	                    "\n"
	                    "Serve started and running in the background.\n"
	                    "To disable the proxy, run: svcctl serve --service=svc:db --tcp=5432 "
	                    "off\n"
	                    "To remove config for the service, run: svcctl serve clear svc:db\n");
	free(m);
	m = message(w, false, addrs, 2);
	cr_assert(strstr(m, "(TLS over TCP)\n|--> tcp://localhost:5432\n"),
	          "no addresses before approval: %s", m);
	free(m);
	world_free(w);
}

Test(serve_cmd, cfg12_tun_message_says_traffic_goes_to_the_os)
{
	struct world *w = world_new();
	char *m;

	run_ok(w, "serve --service=svc:udp --tun");
	m = message(w, false, NULL, 0);
	cr_assert_str_eq(m,
	                 "This machine is configured as a service proxy for `svc:udp`, but "
	                 "approval from an admin is required. Once approved, it will be "
	                 "available in your Tailnet as:\n"
	                 "\n"
	                 "IPv4 and IPv6 traffic to udp.king-grouse.ts.net is being routed to your "
	                 "operating system.\n"
	                 "To disable the service in TUN mode, run: svcctl serve --service=svc:udp "
	                 "--tun off\n"
	                 "To remove config for the service, run: svcctl serve clear svc:udp\n");
	free(m);
	world_free(w);
}

Test(serve_cmd, cfg9_human_status_shows_each_service_state_and_tree)
{
	struct world *w = world_new();
	char *s;

	s = serve_status_text(&w->cfg, &w->adv);
	cr_assert_str_eq(s, "No serve config\n");
	free(s);
	run_ok(w, "serve --service=svc:web-server --https=443 8080");
	run_ok(w, "serve --service=svc:web-server --https=443 --set-path /mt2 8081");
	run_ok(w, "serve --service=svc:db --tls-terminated-tcp=5432 5432");
	run_ok(w, "serve --service=svc:udp --tun");
	run_ok(w, "serve drain svc:udp");
	run_ok(w, "serve advertise svc:lonely");
	s = serve_status_text(&w->cfg, &w->adv);
	cr_assert_str_eq(s, "svc:db (advertised)\n"
	                    "|-- tcp://db.king-grouse.ts.net:5432 (TLS terminated)\n"
	                    "|--> tcp://127.0.0.1:5432\n"
	                    "\n"
	                    "svc:lonely (advertised)\n"
	                    "|-- no serve config\n"
	                    "\n"
	                    "svc:udp (draining)\n"
	                    "|-- tun: IPv4 and IPv6 traffic to udp.king-grouse.ts.net goes to the "
	                    "operating system\n"
	                    "\n"
	                    "svc:web-server (advertised)\n"
	                    "https://web-server.king-grouse.ts.net/\n"
	                    "|-- proxy http://127.0.0.1:8080\n"
	                    "\n"
	                    "https://web-server.king-grouse.ts.net/mt2\n"
	                    "|-- proxy http://127.0.0.1:8081\n"
	                    "\n");
	free(s);
	world_free(w);
}

Test(serve_cmd, cfg9_status_json_after_commands_is_the_documented_shape)
{
	struct world *w = world_new();
	struct serve_config back;
	char *j, *j2;

	run_ok(w, "serve --service=svc:web-server --https=443 8080");
	run_ok(w, "serve --service=svc:web-server --http=80 text:hi");
	run_ok(w, "serve --service=svc:db --tcp=5432 5432");
	j = serve_config_to_json(&w->cfg, true);
	cr_assert_eq(serve_config_from_json(j, strlen(j), SUFFIX, &back, w->err, sizeof(w->err)), 0,
	             "%s", w->err);
	j2 = serve_config_to_json(&back, true);
	cr_assert_str_eq(j, j2);
	free(j);
	free(j2);
	serve_config_free(&back);
	world_free(w);
}

/* Port flags use the shared command-line number parser (lib/base/numarg.h):
 * the refusal says what is wrong with the number. */
Test(serve_cmd, cfg_1_port_flags_say_why_a_number_is_refused)
{
	parse_bad("serve --service=svc:a --https=0x1BB 1", -EINVAL,
	          "invalid value \"0x1BB\" for --https: want a port number (1-65535): "
	          "hexadecimal is not accepted (decimal digits only)");
	parse_bad("serve --service=svc:a --tcp=+22 1", -EINVAL,
	          "invalid value \"+22\" for --tcp: want a port number (1-65535): a sign is not "
	          "accepted");
	parse_bad("serve --service=svc:a --http=080 1", -EINVAL,
	          "invalid value \"080\" for --http: want a port number (1-65535): leading zeros "
	          "are not accepted");
	parse_bad("serve --service=svc:a --http=99999999999 1", -EINVAL,
	          "port 99999999999 is out of range for --http (1-65535)");
}
