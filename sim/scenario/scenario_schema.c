/* The scenario file's JSON Schema and Markdown key reference, generated
 * from the loader's key tables (scenario_keys()), so the committed
 * docs/scenario-schema.json and the generated part of docs/scenario-keys.md
 * cannot disagree with what the loader accepts (a test compares them). */
#include "sim/scenario/scenario.h"

#include "lib/base/buf.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON Schema ---- */

static cJSON *schema_section(enum scenario_section section, int depth);

/* Adds "pattern" for a number with one of the given units (or a bare 0). */
static cJSON *schema_units(const char *units)
{
	char pattern[200];
	cJSON *any = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(any, "anyOf");
	cJSON *str = cJSON_CreateObject(), *zero = cJSON_CreateObject();

	snprintf(pattern, sizeof(pattern), "^([0-9]+(\\.[0-9]+)?(%s)|0)$", units);
	cJSON_AddStringToObject(str, "type", "string");
	cJSON_AddStringToObject(str, "pattern", pattern);
	cJSON_AddNumberToObject(zero, "const", 0);
	cJSON_AddItemToArray(list, str);
	cJSON_AddItemToArray(list, zero);
	return any;
}

/* `off` or a mapping of the key's section. */
static cJSON *schema_workload(const struct scenario_key *k, int depth)
{
	cJSON *off = cJSON_CreateObject(), *no = cJSON_CreateObject();
	cJSON *s = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(s, "anyOf");

	cJSON_AddStringToObject(off, "const", "off");
	cJSON_AddFalseToObject(no, "const"); /* YAML 1.1 reads `off` as false */
	cJSON_AddItemToArray(list, off);
	cJSON_AddItemToArray(list, no);
	cJSON_AddItemToArray(list, schema_section(k->sub, depth + 1));
	return s;
}

/* name -> a mapping of the key's section (or nothing). */
static cJSON *schema_entries(const struct scenario_key *k, int depth)
{
	cJSON *entry = cJSON_CreateObject(), *null = cJSON_CreateObject();
	cJSON *s = cJSON_CreateObject();

	cJSON_AddStringToObject(s, "type", "object");
	cJSON *list = cJSON_AddArrayToObject(entry, "anyOf");
	cJSON_AddItemToArray(list, schema_section(k->sub, depth + 1));
	cJSON_AddStringToObject(null, "type", "null");
	cJSON_AddItemToArray(list, null);
	cJSON_AddItemToObject(s, "additionalProperties", entry);
	return s;
}

/* absolute path -> the file's text or a mapping of the key's section. */
static cJSON *schema_files(const struct scenario_key *k, int depth)
{
	cJSON *s = cJSON_CreateObject(), *names = cJSON_CreateObject();
	cJSON *entry = cJSON_CreateObject(), *text = cJSON_CreateObject();

	cJSON_AddStringToObject(s, "type", "object");
	cJSON_AddNumberToObject(s, "maxProperties", SCENARIO_FILES_MAX);
	cJSON_AddStringToObject(names, "pattern", "^/");
	cJSON_AddNumberToObject(names, "maxLength", SCENARIO_FILE_PATH_MAX);
	cJSON_AddItemToObject(s, "propertyNames", names);
	cJSON *list = cJSON_AddArrayToObject(entry, "anyOf");
	cJSON_AddStringToObject(text, "type", "string");
	cJSON_AddItemToArray(list, text);
	cJSON_AddItemToArray(list, schema_section(k->sub, depth + 1));
	cJSON_AddItemToObject(s, "additionalProperties", entry);
	return s;
}

/* [a, b]: two names. */
static cJSON *schema_pair(void)
{
	cJSON *item = cJSON_CreateObject();
	cJSON *s = cJSON_CreateObject();

	cJSON_AddStringToObject(s, "type", "array");
	cJSON_AddStringToObject(item, "type", "string");
	cJSON_AddItemToObject(s, "items", item);
	cJSON_AddNumberToObject(s, "minItems", 2);
	cJSON_AddNumberToObject(s, "maxItems", 2);
	return s;
}

/* "<op> value" or a plain number. */
static cJSON *schema_comparison(void)
{
	cJSON *str = cJSON_CreateObject(), *num = cJSON_CreateObject();
	cJSON *s = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(s, "anyOf");

	cJSON_AddStringToObject(str, "type", "string");
	cJSON_AddStringToObject(str, "pattern",
	                        "^ *(==|=|<=|>=|<|>)? *[0-9]+(\\.[0-9]+)?(%|us|ms|s|m)?$");
	cJSON_AddStringToObject(num, "type", "number");
	cJSON_AddNumberToObject(num, "minimum", 0);
	cJSON_AddItemToArray(list, str);
	cJSON_AddItemToArray(list, num);
	return s;
}

static cJSON *schema_kind(enum scenario_kind kind, const struct scenario_key *k, int depth)
{
	cJSON *s = NULL;

	switch (kind) {
	case SCENARIO_KIND_NONE:
		break;
	case SCENARIO_KIND_STRING:
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "string");
		if (k && k->choices) {
			cJSON *e = cJSON_AddArrayToObject(s, "enum");
			for (const char *const *c = k->choices; *c; c++)
				cJSON_AddItemToArray(e, cJSON_CreateString(*c));
		}
		break;
	case SCENARIO_KIND_NAME:
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "string");
		cJSON_AddStringToObject(s, "pattern", "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$");
		break;
	case SCENARIO_KIND_INTEGER:
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "integer");
		break;
	case SCENARIO_KIND_DURATION:
		s = schema_units("us|ms|s|m");
		break;
	case SCENARIO_KIND_RATE:
		s = schema_units("/s");
		break;
	case SCENARIO_KIND_BANDWIDTH:
		s = schema_units("bps|Kbps|Mbps|Gbps");
		break;
	case SCENARIO_KIND_SIZE:
		s = schema_units("B|KB|MB|KiB|MiB");
		break;
	case SCENARIO_KIND_PERCENT:
		s = schema_units("%");
		break;
	case SCENARIO_KIND_MAPPING:
		s = schema_section(k->sub, depth + 1);
		break;
	case SCENARIO_KIND_SEQUENCE:
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "array");
		if (k->item == SCENARIO_KIND_MAPPING)
			cJSON_AddItemToObject(s, "items", schema_section(k->sub, depth + 1));
		else
			cJSON_AddItemToObject(s, "items", schema_kind(k->item, NULL, depth + 1));
		break;
	case SCENARIO_KIND_WORKLOAD:
		s = schema_workload(k, depth);
		break;
	case SCENARIO_KIND_ENTRIES:
		s = schema_entries(k, depth);
		break;
	case SCENARIO_KIND_OBJECT:
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "object");
		break;
	case SCENARIO_KIND_PAIR:
		s = schema_pair();
		break;
	case SCENARIO_KIND_COMPARISON:
		s = schema_comparison();
		break;
	case SCENARIO_KIND_FILES:
		s = schema_files(k, depth);
		break;
	}
	return s;
}

/* An object schema for the keys of one section: closed (unknown keys are
 * errors), with its required keys. */
static cJSON *schema_section(enum scenario_section section, int depth)
{
	const struct scenario_key *keys = scenario_keys(section);
	cJSON *s = cJSON_CreateObject(), *props, *req = NULL;

	if (depth > 8 || !keys)
		return s;
	cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_AddObjectToObject(s, "properties");
	for (const struct scenario_key *k = keys; k->name; k++) {
		cJSON *p = schema_kind(k->kind, k, depth);
		char desc[1024];
		if (!p)
			continue;
		snprintf(desc, sizeof(desc), "%s%s%s%s%s", k->doc,
		         k->default_text ? " Default: " : "",
		         k->default_text ? k->default_text : "", k->default_text ? "." : "",
		         k->project ? " (Project-added key.)" : "");
		cJSON_AddStringToObject(p, "description", desc);
		cJSON_AddItemToObject(props, k->name, p);
		if (k->required) {
			if (!req)
				req = cJSON_CreateArray();
			cJSON_AddItemToArray(req, cJSON_CreateString(k->name));
		}
	}
	if (req)
		cJSON_AddItemToObject(s, "required", req);
	cJSON_AddFalseToObject(s, "additionalProperties");
	return s;
}

char *scenario_schema_json(void)
{
	cJSON *root = cJSON_CreateObject(), *top;
	char *text, *out;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "$schema", "https://json-schema.org/draft/2020-12/schema");
	cJSON_AddStringToObject(root, "$id", "scenario-schema.json");
	cJSON_AddStringToObject(root, "title", "simrun scenario file");
	cJSON_AddStringToObject(root, "description",
	                        "Generated from the key tables of sim/scenario/scenario_keys.c "
	                        "(scenario_schema_json); do not edit. Checks shapes, keys and "
	                        "units; names that must refer to something are checked by "
	                        "simrun --check.");
	top = schema_section(SCENARIO_SECTION_TOP, 0);
	for (cJSON *it = top->child; it;) {
		cJSON *next = it->next;
		cJSON_AddItemToObject(root, it->string, cJSON_DetachItemViaPointer(top, it));
		it = next;
	}
	cJSON_Delete(top);
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	/* a newline at the end, like any text file */
	out = malloc(strlen(text) + 2);
	if (out) {
		strcpy(out, text);
		strcat(out, "\n");
	}
	cJSON_free(text);
	return out;
}

/* ---- Markdown ---- */

/* Text for a table cell: '|' escaped. */
static void md_cell(struct buf *m, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '|')
			buf_printf(m, "\\|");
		else
			buf_printf(m, "%c", *p);
	}
}

static void md_type(struct buf *m, const struct scenario_key *k)
{
	if (k->choices) {
		buf_printf(m, "one of ");
		for (const char *const *c = k->choices; *c; c++)
			buf_printf(m, "%s`%s`", c == k->choices ? "" : ", ", *c);
		return;
	}
	switch (k->kind) {
	case SCENARIO_KIND_SEQUENCE:
		if (k->item == SCENARIO_KIND_MAPPING)
			buf_printf(m, "sequence of %s", scenario_section_name(k->sub));
		else
			buf_printf(m, "sequence of %ss", scenario_kind_name(k->item));
		return;
	case SCENARIO_KIND_MAPPING:
		buf_printf(m, "%s mapping", scenario_section_name(k->sub));
		return;
	case SCENARIO_KIND_ENTRIES:
		buf_printf(m, "name -> %s", scenario_section_name(k->sub));
		return;
	case SCENARIO_KIND_WORKLOAD:
		buf_printf(m, "`off` or %s mapping", scenario_section_name(k->sub));
		return;
	case SCENARIO_KIND_FILES:
		buf_printf(m, "absolute path -> text or %s mapping", scenario_section_name(k->sub));
		return;
	default:
		buf_printf(m, "%s", scenario_kind_name(k->kind));
		return;
	}
}

char *scenario_keys_markdown(void)
{
	static const enum scenario_section order[] = {
	    SCENARIO_SECTION_TOP,
	    SCENARIO_SECTION_LINK,
	    SCENARIO_SECTION_ACCESS,
	    SCENARIO_SECTION_CONTROL,
	    SCENARIO_SECTION_USER,
	    SCENARIO_SECTION_SERVICE,
	    SCENARIO_SECTION_NODE,
	    SCENARIO_SECTION_BACKEND,
	    SCENARIO_SECTION_FILE,
	    SCENARIO_SECTION_REGION,
	    SCENARIO_SECTION_UNDERLAY_WORKLOAD,
	    SCENARIO_SECTION_WORKLOAD,
	    SCENARIO_SECTION_TIMELINE,
	    SCENARIO_SECTION_TIMELINE_LINK,
	    SCENARIO_SECTION_EXPECT,
	    SCENARIO_SECTION_EXPECT_THROUGHOUT,
	    SCENARIO_SECTION_EXPECT_EVENTUALLY,
	    SCENARIO_SECTION_EXPLORE,
	    SCENARIO_SECTION_EXPLORE_FAULT,
	};
	struct buf m = BUF_INIT(BUF_NO_MAX);

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const struct scenario_key *keys = scenario_keys(order[i]);
		buf_printf(&m, "%s### %s\n\n", i ? "\n" : "", scenario_section_name(order[i]));
		if (!keys[0].name) {
			buf_printf(&m, "No keys: write `{}`.\n");
			continue;
		}
		buf_printf(&m, "| key | type | default | meaning |\n|---|---|---|---|\n");
		for (const struct scenario_key *k = keys; k->name; k++) {
			buf_printf(&m, "| `%s`%s | ", k->name, k->project ? " (project)" : "");
			md_type(&m, k);
			buf_printf(&m, " | ");
			md_cell(&m, k->required       ? "required"
			            : k->default_text ? k->default_text
			                              : "-");
			buf_printf(&m, " | ");
			md_cell(&m, k->doc);
			buf_printf(&m, " |\n");
		}
	}
	return buf_take(&m, NULL);
}
