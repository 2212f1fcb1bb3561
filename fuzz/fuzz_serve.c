/* libFuzzer target: the serve config JSON parser and the `serve` command
 * tokenizer/parser/apply must never crash, leak or loop on any input, and a
 * config they accept must print to JSON that parses back to the same text. */
#include "fuzz/fuzz.h"
#include "proxy/serve/serve_cmd.h"
#include "proxy/serve/serve_config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON config: accepted configs round-trip exactly through the printer. */
static void fuzz_json(const char *text, size_t len)
{
	struct serve_config cfg, again;
	char err[SERVE_ERR_LEN];
	char *out, *out2;

	if (serve_config_from_json(text, len, "tail1234.ts.net", &cfg, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		return;
	}
	out = serve_config_to_json(&cfg, true);
	FUZZ_ASSERT(out);
	FUZZ_ASSERT(serve_config_from_json(out, strlen(out), "tail1234.ts.net", &again, err,
	                                   sizeof(err)) == 0);
	out2 = serve_config_to_json(&again, true);
	FUZZ_ASSERT(out2 && strcmp(out, out2) == 0);
	free(out);
	free(out2);
	serve_config_free(&again);
	serve_config_free(&cfg);
}

/* Command lines, one per input line, applied in sequence to one config. */
static void fuzz_cmds(const char *text, size_t len)
{
	struct serve_config cfg;
	struct serve_adv adv;
	struct serve_op *op = malloc(sizeof(*op));
	char err[SERVE_ERR_LEN];
	size_t start = 0;

	FUZZ_ASSERT(op);
	serve_config_init(&cfg, "tail1234.ts.net");
	serve_adv_init(&adv);
	for (size_t i = 0; i <= len; i++) {
		char *s;

		if (i < len && text[i] != '\n')
			continue;
		if (serve_cmd_parse_line(text + start, i - start, op, err, sizeof(err)) == 0) {
			if (serve_cmd_apply(&cfg, &adv, op, err, sizeof(err)) == 0 &&
			    op->verb == SERVE_VERB_SET) {
				s = serve_cmd_message(&cfg, op, (i & 1) != 0, NULL, 0);
				FUZZ_ASSERT(s);
				free(s);
			}
		}
		start = i + 1;
	}
	{
		char *json = serve_config_to_json(&cfg, false);
		char *st = serve_status_text(&cfg, &adv);
		struct serve_config back;

		FUZZ_ASSERT(json && st);
		FUZZ_ASSERT(serve_config_from_json(json, strlen(json), "tail1234.ts.net", &back,
		                                   err, sizeof(err)) == 0);
		serve_config_free(&back);
		free(json);
		free(st);
	}
	serve_config_free(&cfg);
	free(op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	/* The first byte picks the route so the corpus can specialise. */
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_json(text + 1, size - 1);
	else
		fuzz_cmds(text + 1, size - 1);
	return 0;
}
