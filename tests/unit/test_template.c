/*
 * Templates and dotted paths: whole-string placeholders keep the value's
 * type, embedded ones become text, unknown names are errors naming the
 * name and where it was, and depth and size stay bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "tap.h"
#include "template.h"

/* Fills the template text with the vars text; the result as compact JSON. */
static char *filled(const char *tmpl_text, const char *vars_text, struct fm_error *err)
{
	json_object *tmpl = NULL, *vars = NULL, *out = NULL;
	char *s = NULL;

	if (parse_json(tmpl_text, &tmpl) < 0 || (vars_text && parse_json(vars_text, &vars) < 0))
		abort();
	if (fm_template_fill(tmpl, vars, &out, err) == 0)
		s = fm_xstrdup(fm_json_str(out));
	json_object_put(out);
	json_object_put(tmpl);
	json_object_put(vars);
	return s;
}

static void fills(const char *tmpl, const char *vars, const char *want, const char *name)
{
	struct fm_error err = FM_ERROR_INIT;
	char *got = filled(tmpl, vars, &err);

	IS_STR(got, want, "template: %s", name);
	if (!got)
		tap_diag("error: %s", err.message);
	free(got);
	fm_error_release(&err);
}

static void test_fill(void)
{
	static const char vars[] = "{\"prompt\":\"a cat\",\"steps\":20,\"cfg\":7.5,\"hd\":true,"
				   "\"none\":null,\"size\":[512,512],\"opt\":{\"a\":1},"
				   "\"input0\":\"/tmp/in.png\"}";

	fills("[\"{{prompt}}\",\"{{steps}}\",\"{{cfg}}\",\"{{hd}}\",\"{{none}}\"]", vars,
	      "[\"a cat\",20,7.5,true,null]", "a whole-string placeholder keeps the type");
	fills("{\"s\":\"{{size}}\",\"o\":\"{{opt}}\"}", vars, "{\"s\":[512,512],\"o\":{\"a\":1}}",
	      "arrays and objects are inserted as values");
	fills("\"{{ prompt }}\"", vars, "\"a cat\"", "spaces inside the braces");
	fills("\"draw {{prompt}} in {{steps}} steps\"", vars, "\"draw a cat in 20 steps\"",
	      "embedded placeholders become text");
	fills("\"[{{none}}] {{hd}} {{size}}\"", vars, "\"[] true [512,512]\"",
	      "embedded null is empty, other values compact JSON");
	fills("{\"a\":{\"b\":[1,{\"c\":\"{{input0}}\"}]},\"k\":false,\"n\":null,\"x\":1.25}", vars,
	      "{\"a\":{\"b\":[1,{\"c\":\"/tmp/in.png\"}]},\"k\":false,\"n\":null,\"x\":1.25}",
	      "objects and arrays are walked; other values copied");
	fills("{\"{{prompt}}\":1}", vars, "{\"{{prompt}}\":1}", "keys are not templates");
	fills("\"{{opt.a}} {{size.1}}\"", vars, "\"1 512\"", "a dotted name is a path into vars");
	fills("\"{{{prompt}}}\"", vars, "\"{a cat}\"", "braces around a placeholder stay");
	fills("[\"{{\",\"}}\",\"{{ }}\",\"{{1x}}\",\"{{a b}}\",\"{x}\",\"{{prompt\"]", vars,
	      "[\"{{\",\"}}\",\"{{ }}\",\"{{1x}}\",\"{{a b}}\",\"{x}\",\"{{prompt\"]",
	      "text that is not a placeholder is copied");
	fills("\"{{prompt}}\"", "{\"prompt\":\"{{steps}}\"}", "\"{{steps}}\"",
	      "a value is not filled again");
	fills("[1,\"x\"]", NULL, "[1,\"x\"]", "no vars, no placeholders");
}

static void test_fill_errors(void)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *tmpl, *out = (json_object *)1;
	char *got, *deep;
	size_t i, n = FM_JSON_DEPTH + 2;

	got = filled("{\"data\":[1,\"make {{promt}}\"]}", "{\"prompt\":\"x\"}", &err);
	OK(!got && err.code == FM_VALIDATION_ERROR, "template: an unknown name is refused");
	HAS(err.message, "'{{promt}}'", "template: the message names the placeholder");
	HAS(err.message, "at data.1", "template: the message says where it was");
	IS_STR(fm_json_get_string(err.details, "placeholder"), "promt",
	       "template: details.placeholder");
	IS_STR(fm_json_get_string(err.details, "path"), "data.1", "template: details.path");
	fm_error_release(&err);

	got = filled("\"{{x}}\"", NULL, &err);
	OK(!got && err.code == FM_VALIDATION_ERROR, "template: no vars, a placeholder is unknown");
	HAS(err.message, "at the top", "template: a top-level placeholder says so");
	fm_error_release(&err);

	got = filled("\"{{a.b}}\"", "{\"a\":{\"c\":1}}", &err);
	OK(!got && err.code == FM_VALIDATION_ERROR, "template: a dotted name not found");
	fm_error_release(&err);

	/* A template deeper than the bound, built without the parser's limit. */
	tmpl = json_object_new_string("x");
	for (i = 0; i < n; i++) {
		json_object *a = json_object_new_array();

		json_object_array_add(a, tmpl);
		tmpl = a;
	}
	OK(fm_template_fill(tmpl, NULL, &out, &err) < 0 && !out, "template: too deep is refused");
	HAS(err.message, "deeper than", "template: the message says why");
	json_object_put(tmpl);
	fm_error_release(&err);

	/* A value deep enough that inserting it passes the bound. */
	deep = fm_xmalloc(2 * (FM_JSON_DEPTH - 3) + 32);
	strcpy(deep, "{\"v\":");
	for (i = 0; i < FM_JSON_DEPTH - 4; i++)
		strcat(deep, "[");
	for (i = 0; i < FM_JSON_DEPTH - 4; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	got = filled("[[[[[[[[\"{{v}}\"]]]]]]]]", deep, &err);
	OK(!got && err.code == FM_VALIDATION_ERROR, "template: an inserted value too deep");
	free(deep);
	fm_error_release(&err);
}

static void test_path(void)
{
	json_object *doc;

	if (parse_json("{\"data\":[{\"url\":\"http://x/a.png\"},null],\"outputs\":{\"9\":{"
		       "\"images\":[{\"filename\":\"f.png\"}]}},\"a.b\":1,\"s\":\"t\"}",
		       &doc) < 0)
		abort();
	IS_STR(json_object_get_string(fm_json_path(doc, "data.0.url")), "http://x/a.png",
	       "path: keys and indexes");
	IS_STR(json_object_get_string(fm_json_path(doc, "outputs.9.images.0.filename")), "f.png",
	       "path: a digit key in an object is a key");
	OK(fm_json_path(doc, "") == doc, "path: empty is the root");
	OK(!fm_json_path(doc, "data.1") && !fm_json_path(doc, "data.2") &&
	       !fm_json_path(doc, "data.-1") && !fm_json_path(doc, "data.+0") &&
	       !fm_json_path(doc, "data.0x0"),
	   "path: null, out of range and odd indexes find nothing");
	OK(!fm_json_path(doc, "data..url") && !fm_json_path(doc, ".data") &&
	       !fm_json_path(doc, "data.") && !fm_json_path(doc, "s.x") &&
	       !fm_json_path(doc, "a.b") && !fm_json_path(NULL, "x") && !fm_json_path(doc, NULL),
	   "path: empty segments, scalars and missing keys find nothing");
	OK(fm_json_path(doc, "data.00") == fm_json_path(doc, "data.0"),
	   "path: leading zeros are plain decimal");
	json_object_put(doc);
}

void test_template(void)
{
	{
		json_object *params = NULL, *layer = NULL, *layers[2], *vars;

		parse_json("{\"text\":\"hi\",\"steps\":4}", &params);
		parse_json("{\"steps\":9,\"size\":\"1x1\"}", &layer);
		layers[0] = NULL;
		layers[1] = layer;
		vars = fm_template_vars(params, layers, 2);
		IS_STR(
		    json_object_to_json_string_ext(vars, JSON_C_TO_STRING_PLAIN),
		    "{\"text\":\"hi\",\"steps\":4,\"size\":\"1x1\",\"prompt\":\"hi\"}",
		    "template vars: parameters first, a layer fills gaps, text stands for prompt");
		json_object_put(vars);
		json_object_put(layer);
		json_object_put(params);
	}

	test_fill();
	test_fill_errors();
	test_path();
}
