/*
 * YAML to JSON (typing, errors with file and line, the alias-bomb bound,
 * source lines), plugin manifests in each accepted shape, and parameter
 * typing and validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "tap.h"

static int yaml(const char *text, json_object **out, struct fm_error *e)
{
	return fm_yaml_parse(text, strlen(text), "test.yaml", out, e);
}

static void test_yaml_types(void)
{
	static const char doc[] = "plain: 1\n"
				  "quoted: \"1\"\n"
				  "single: '2'\n"
				  "dec: 1.50\n"
				  "exp: 1e3\n"
				  "neg: -3\n"
				  "t: true\n"
				  "f: false\n"
				  "TT: True\n"
				  "n: null\n"
				  "tilde: ~\n"
				  "empty:\n"
				  "yes_: yes\n"
				  "on_: on\n"
				  "hex: 0x1F\n"
				  "oct: 0o17\n"
				  "ver: 1.0.0\n"
				  "big: 99999999999999999999\n"
				  "text: hello world\n"
				  "list: [a, 2, \"3\"]\n"
				  "block: |\n  line1\n  line2\n";
	struct fm_error e = FM_ERROR_INIT;
	json_object *o, *v;

	if (yaml(doc, &o, &e) < 0) {
		OK(0, "yaml: the typing fixture parses: %s", e.message);
		fm_error_release(&e);
		return;
	}
	v = json_object_object_get(o, "plain");
	OK(json_object_is_type(v, json_type_int) && json_object_get_int(v) == 1,
	   "yaml: plain 1 is an integer");
	v = json_object_object_get(o, "quoted");
	OK(json_object_is_type(v, json_type_string), "yaml: \"1\" quoted is a string");
	OK(json_object_is_type(json_object_object_get(o, "single"), json_type_string),
	   "yaml: '2' single-quoted is a string");
	v = json_object_object_get(o, "dec");
	OK(json_object_is_type(v, json_type_double) && json_object_get_double(v) == 1.5,
	   "yaml: 1.50 is a number");
	IS_STR(fm_json_str(v), "1.50", "yaml: 1.50 serializes as written");
	v = json_object_object_get(o, "exp");
	OK(json_object_is_type(v, json_type_double) && json_object_get_double(v) == 1000,
	   "yaml: 1e3 is a number");
	IS_INT(json_object_get_int(json_object_object_get(o, "neg")), -3, "yaml: -3");
	v = json_object_object_get(o, "t");
	OK(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v), "yaml: true");
	v = json_object_object_get(o, "f");
	OK(json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v), "yaml: false");
	OK(json_object_is_type(json_object_object_get(o, "TT"), json_type_boolean), "yaml: True");
	OK(json_object_object_get_ex(o, "n", &v) && !v, "yaml: null is null");
	OK(json_object_object_get_ex(o, "tilde", &v) && !v, "yaml: ~ is null");
	OK(json_object_object_get_ex(o, "empty", &v) && !v, "yaml: an empty value is null");
	IS_STR(json_object_get_string(json_object_object_get(o, "yes_")), "yes",
	       "yaml: yes stays a string (YAML 1.2)");
	OK(json_object_is_type(json_object_object_get(o, "on_"), json_type_string),
	   "yaml: on stays a string");
	v = json_object_object_get(o, "hex");
	OK(json_object_is_type(v, json_type_int) && json_object_get_int(v) == 31,
	   "yaml: 0x1F is 31");
	IS_INT(json_object_get_int(json_object_object_get(o, "oct")), 15, "yaml: 0o17 is 15");
	IS_STR(json_object_get_string(json_object_object_get(o, "ver")), "1.0.0",
	       "yaml: 1.0.0 is a string");
	v = json_object_object_get(o, "big");
	OK(json_object_is_type(v, json_type_double),
	   "yaml: an integer over int64 becomes a number");
	IS_STR(json_object_get_string(json_object_object_get(o, "text")), "hello world",
	       "yaml: plain text");
	IS_STR(fm_json_str(json_object_object_get(o, "list")), "[\"a\",2,\"3\"]",
	       "yaml: a flow list");
	IS_STR(json_object_get_string(json_object_object_get(o, "block")), "line1\nline2\n",
	       "yaml: a literal block");
	json_object_put(o);

	/* What a plain number becomes must still be JSON once serialized. */
	if (yaml("a: .5\nb: +1.5\nc: 1.\nd: 00.5\n", &o, &e) == 0) {
		const char *s = fm_json_str(o);
		json_object *back = NULL;

		OK(parse_json(s, &back) == 0, "yaml: .5, +1.5, 1. and 00.5 serialize as JSON (%s)",
		   s);
		json_object_put(back);
		json_object_put(o);
	}
	fm_error_release(&e);
}

static char *alias_bomb(int levels, int width)
{
	char *s = fm_xstrdup("a0: &a0 [lol]\n"), *t;
	int i, j;

	for (i = 1; i < levels; i++) {
		t = fm_xasprintf("%sa%d: &a%d [", s, i, i);
		free(s);
		s = t;
		for (j = 0; j < width; j++) {
			t = fm_xasprintf("%s%s*a%d", s, j ? ", " : "", i - 1);
			free(s);
			s = t;
		}
		t = fm_xasprintf("%s]\n", s);
		free(s);
		s = t;
	}
	return s;
}

static void test_yaml_errors(void)
{
	static const char unclosed[] = "name: x\ntools: [a, b\nc: 1\n";
	struct fm_error e = FM_ERROR_INIT;
	json_object *o = NULL, *v, *p;
	char *bomb, *big;
	double t0;
	int rc;

	rc = fm_yaml_parse(unclosed, strlen(unclosed), "plug.yaml", &o, &e);
	OK(rc < 0 && !o && e.code == FM_VALIDATION_ERROR, "yaml: a syntax error fails");
	OK(matches(e.message, "^plug\\.yaml:[23]:[0-9]+: "),
	   "yaml: the message starts NAME:LINE:COL: (%s)", e.message);
	rc = yaml("a: 1\nb:\n  c: d\n   e: f\n", &o, &e);
	OK(rc < 0 && matches(e.message, "^test\\.yaml:4:"), "yaml: the error is on line 4 (%s)",
	   e.message);
	rc = yaml("a: *nope\n", &o, &e);
	HAS(e.message, "test.yaml:1:", "yaml: an undefined alias is an error with its line");
	rc = yaml("? [a]\n: b\n", &o, &e);
	OK(rc < 0, "yaml: a key that is not a scalar is rejected");
	HAS(e.message, "test.yaml:1", "yaml: ... with its line");

	bomb = alias_bomb(10, 10);
	t0 = fm_now();
	rc = yaml(bomb, &o, &e);
	OK(rc < 0 && !o, "yaml: an alias bomb (10 levels of 10) fails");
	HAS(e.message, "too large", "yaml: ... on the size limit (%s)", e.message);
	OK(fm_now() - t0 < 15, "yaml: ... without hanging (%.2fs)", fm_now() - t0);
	free(bomb);

	rc = yaml("a: &a [*a]\n", &o, &e);
	OK(rc < 0 && !o, "yaml: a recursive alias fails instead of recursing forever");

	big = fm_xmalloc(200 + 1);
	memset(big, '[', 100);
	memset(big + 100, ']', 100);
	big[200] = '\0';
	rc = yaml(big, &o, &e);
	OK(rc < 0 && !o, "yaml: nesting deeper than FM_JSON_DEPTH fails");
	HAS(e.message, "too deep", "yaml: ... saying so");
	free(big);

	big = fm_xmalloc(FM_YAML_MAX + 2);
	memset(big, 'a', FM_YAML_MAX + 1);
	big[FM_YAML_MAX + 1] = '\0';
	rc = fm_yaml_parse(big, FM_YAML_MAX + 1, "big.yaml", &o, &e);
	OK(rc < 0 && strstr(e.message, "big.yaml"), "yaml: input over FM_YAML_MAX is refused");
	free(big);

	OK(yaml("", &o, &e) == 0 && !o, "yaml: an empty document is null");
	OK(yaml("# only a comment\n", &o, &e) == 0 && !o, "yaml: a comment-only document is null");

	if (yaml("name: x\n"
		 "tools:\n"
		 "  - name: t\n"
		 "    parameters:\n"
		 "      - {name: p}\n"
		 "      - name: q\n"
		 "        enum: [a, b]\n",
		 &o, &e) == 0) {
		v = json_object_array_get_idx(json_object_object_get(o, "tools"), 0);
		p = json_object_object_get(v, "parameters");
		IS_INT(fm_yaml_line(o), 1, "yaml line: the root mapping");
		IS_INT(fm_yaml_line(json_object_object_get(o, "tools")), 3,
		       "yaml line: the tools list");
		IS_INT(fm_yaml_line(v), 3, "yaml line: the first tool");
		IS_INT(fm_yaml_line(p), 5, "yaml line: its parameters");
		IS_INT(fm_yaml_line(json_object_array_get_idx(p, 1)), 6,
		       "yaml line: the second parameter");
		IS_INT(
		    fm_yaml_line(json_object_object_get(json_object_array_get_idx(p, 1), "enum")),
		    7, "yaml line: a nested flow list");
		IS_INT(fm_yaml_line(json_object_object_get(o, "name")), 0,
		       "yaml line: a scalar has none");
		IS_INT(fm_yaml_line(NULL), 0, "yaml line: NULL has none");
		json_object_put(o);
	} else {
		OK(0, "yaml: the line fixture parses: %s", e.message);
	}
	fm_error_release(&e);
}

void test_yaml(void)
{
	test_yaml_types();
	test_yaml_errors();
}

/* manifest.c */

/* A fresh plugin directory holding file (plugin.yaml or .yml) with text. */
static char *plugin_dir(const char *file, const char *text)
{
	char *dir = tmp_dir();

	free(write_file(dir, file, text));
	return dir;
}

static const char *argv_str(const struct fm_manifest *m)
{
	static char buf[256];
	char **a;

	buf[0] = '\0';
	for (a = m->argv; a && *a; a++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
			 a == m->argv ? "" : " ", *a);
	return buf;
}

static const char *param_names(json_object *tool)
{
	static char buf[256];
	json_object *ps = fm_json_get(tool, "parameters", json_type_array);
	size_t i;

	buf[0] = '\0';
	for (i = 0; ps && i < json_object_array_length(ps); i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%s", i ? "," : "",
			 fm_json_get_string(json_object_array_get_idx(ps, i), "name"),
			 fm_json_get_string(json_object_array_get_idx(ps, i), "type"));
	return buf;
}

static void test_manifest_tools_list(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_manifest m;
	json_object *tool, *j;
	char *dir = plugin_dir(
	    "plugin.yaml",
	    "name: titlecard\n"
	    "version: 1.0.0\n"
	    "description: Title cards rendered with libavfilter\n"
	    "command: [\"./titlecard\", \"--quiet\"]\n"
	    "runtime: native\n"
	    "tools:\n"
	    "  - name: text2image\n"
	    "    description: a card\n"
	    "    parameters:\n"
	    "      - {name: prompt, type: string, required: true}\n"
	    "      - {name: width, type: integer, default: 1280, min: 64, max: 4096}\n"
	    "      - {name: style, type: string, enum: [plain, gradient], default: gradient}\n"
	    "  - text2video\n"
	    "env: [OPENAI_API_KEY]\n"
	    "concurrency: 2\n"
	    "startup: {timeout: 10}\n"
	    "execution: {timeout: 120.5, max_retries: 3}\n");

	OK(fm_manifest_load(&m, dir, &e) == 0, "manifest: tools as a list of mappings loads");
	if (e.message[0])
		tap_diag("%s", e.message);
	IS_STR(m.name, "titlecard", "manifest: name");
	IS_STR(m.version, "1.0.0", "manifest: version");
	IS_STR(m.description, "Title cards rendered with libavfilter", "manifest: description");
	IS_STR(argv_str(&m), "./titlecard --quiet", "manifest: command list");
	IS_STR(m.dir, dir, "manifest: dir");
	OK(m.path && matches(m.path, "/plugin\\.yaml$"), "manifest: path");
	IS_INT(json_object_array_length(m.tools), 2, "manifest: two tools");
	tool = fm_manifest_tool(&m, "text2image");
	OK(tool != NULL, "manifest: fm_manifest_tool finds text2image");
	IS_STR(fm_json_get_string(tool, "description"), "a card", "manifest: tool description");
	IS_STR(param_names(tool), "prompt:string,width:integer,style:string",
	       "manifest: tool parameters");
	OK(fm_manifest_tool(&m, "text2video") &&
	       !strcmp(param_names(fm_manifest_tool(&m, "text2video")), ""),
	   "manifest: a tool named by a plain string has no parameters");
	OK(!fm_manifest_tool(&m, "text2music") && !fm_manifest_tool(&m, NULL),
	   "manifest: an absent tool is NULL");
	IS_STR(fm_json_str(m.env), "[\"OPENAI_API_KEY\"]", "manifest: env");
	IS_INT(m.concurrency, 2, "manifest: concurrency");
	OK(m.startup_timeout == 10 && m.exec_timeout == 120.5 && m.max_retries == 3,
	   "manifest: startup and execution settings");
	j = fm_manifest_to_json(&m);
	IS_STR(fm_json_get_string(j, "name"), "titlecard", "manifest: to_json name");
	IS_INT(json_object_array_length(fm_json_get(j, "command", json_type_array)), 2,
	       "manifest: to_json command");
	OK(parse_json(fm_json_str(j), &tool) == 0, "manifest: to_json is valid JSON");
	json_object_put(tool);
	json_object_put(j);
	fm_manifest_release(&m);
	rm_rf(dir);
	free(dir);
	fm_error_release(&e);
}

static void test_manifest_shapes(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_manifest m;
	json_object *tool, *p;
	char *dir;

	/* tool_type: one tool, parameters at the top level. */
	dir = plugin_dir("plugin.yaml", "name: narrate\n"
					"version: 1.0\n"
					"tool_type: text2speak\n"
					"command: python3 run.py --fast\n"
					"parameters:\n"
					"  - {name: text, type: string, required: true}\n"
					"  - {name: speed, type: number, default: 1.0}\n");
	OK(fm_manifest_load(&m, dir, &e) == 0,
	   "manifest: tool_type with top-level parameters loads");
	if (e.message[0])
		tap_diag("%s", e.message);
	IS_INT(json_object_array_length(m.tools), 1, "manifest: tool_type gives one tool");
	IS_STR(param_names(fm_manifest_tool(&m, "text2speak")), "text:string,speed:number",
	       "manifest: tool_type takes the top-level parameters");
	IS_STR(argv_str(&m), "python3 run.py --fast",
	       "manifest: a command string is split into words");
	IS_STR(m.version, "1.0", "manifest: a numeric version reads as written");
	OK(m.startup_timeout == FM_STARTUP_TIMEOUT && m.exec_timeout == FM_EXEC_TIMEOUT &&
	       m.concurrency == 1 && m.max_retries == 0,
	   "manifest: defaults for what is not said");
	fm_manifest_release(&m);
	rm_rf(dir);
	free(dir);

	/* abilities: strings, parameters as a mapping name -> definition. */
	dir = plugin_dir("plugin.yaml", "name: chat\n"
					"abilities: [text2text, text2image]\n"
					"parameters:\n"
					"  prompt: {type: string, required: true}\n"
					"  n: integer\n"
					"  style:\n"
					"    enum: [a, b]\n");
	OK(fm_manifest_load(&m, dir, &e) == 0,
	   "manifest: abilities with a parameter mapping loads");
	if (e.message[0])
		tap_diag("%s", e.message);
	IS_INT(json_object_array_length(m.tools), 2, "manifest: abilities gives a tool each");
	tool = fm_manifest_tool(&m, "text2image");
	IS_STR(param_names(tool), "prompt:string,n:integer,style:string",
	       "manifest: a parameter mapping becomes a list in order, types defaulting to string");
	p = fm_tool_param(tool, "prompt");
	OK(p && json_object_get_boolean(json_object_object_get(p, "required")),
	   "manifest: fm_tool_param finds a definition");
	OK(!fm_tool_param(tool, "nope"), "manifest: fm_tool_param of an unknown name is NULL");
	IS_STR(param_names(fm_manifest_tool(&m, "text2text")),
	       "prompt:string,n:integer,style:string",
	       "manifest: every ability shares the parameters");
	IS_STR(argv_str(&m), "./main", "manifest: the default command is ./main");
	fm_manifest_release(&m);
	rm_rf(dir);
	free(dir);

	/* The Filmeto project's Python plugins: plugin.yml, main.py, no command. */
	dir = plugin_dir("plugin.yml", "name: pyplug\n"
				       "version: 1.0.0\n"
				       "abilities:\n"
				       "  - text2text\n");
	free(write_file(dir, "main.py", "print('hi')\n"));
	OK(fm_manifest_load(&m, dir, &e) == 0, "manifest: plugin.yml loads");
	OK(m.path && matches(m.path, "/plugin\\.yml$"), "manifest: path is plugin.yml");
	IS_STR(argv_str(&m), "python3 main.py",
	       "manifest: main.py without command runs python3 main.py");
	fm_manifest_release(&m);
	rm_rf(dir);
	free(dir);

	dir = plugin_dir("plugin.yaml", "name: js\nruntime: node\ntool_type: [text2text]\n");
	OK(fm_manifest_load(&m, dir, &e) == 0, "manifest: runtime node loads");
	IS_STR(argv_str(&m), "node main.js", "manifest: runtime node runs node main.js");
	fm_manifest_release(&m);
	rm_rf(dir);
	free(dir);
	fm_error_release(&e);
}

/* Loading must fail; the message must contain want (%s: the manifest path). */
static void bad_manifest(const char *text, const char *want, const char *name)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_manifest m;
	char *dir = plugin_dir("plugin.yaml", text), *expect;
	int rc;

	expect = fm_xasprintf(want, dir);
	rc = fm_manifest_load(&m, dir, &e);
	OK(rc < 0 && e.code == FM_VALIDATION_ERROR, "bad manifest: %s fails", name);
	HAS(e.message, expect, "bad manifest: %s: the message", name);
	fm_manifest_release(&m);
	free(expect);
	rm_rf(dir);
	free(dir);
	fm_error_release(&e);
}

static void test_manifest_bad(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_manifest m;
	char *dir;

	bad_manifest("name: p\n"
		     "tools:\n"
		     "  - name: text2image\n"
		     "    parameters:\n"
		     "      - name: prompt\n"
		     "        type: strng\n",
		     "%s/plugin.yaml:5:", "type strng (file:line)");
	bad_manifest("name: p\ntools:\n  - name: t\n    parameters:\n      - name: prompt\n        "
		     "type: strng\n",
		     "'strng'", "type strng (names the type)");
	bad_manifest("name: p\ntool_type: t\nparameters:\n  w: {type: integer, default: wide}\n",
		     "default", "a default of the wrong type");
	bad_manifest("name: p\ntool_type: t\nparameters:\n  - {name: w, enum: []}\n", "enum",
		     "an empty enum");
	bad_manifest("name: p\ntool_type: t\nparameters:\n  - {name: w, min: low}\n", "min",
		     "a min that is not a number");
	bad_manifest("name: p\ntool_type: t\nparameters:\n  - {type: string}\n", "needs a name",
		     "a parameter without name");
	bad_manifest("name: p\ntool_type: t\nparameters: 5\n", "list of parameters",
		     "parameters a number");
	bad_manifest("name: p\ndescription: no tools\n", "%s/plugin.yaml:1: no tools", "no tools");
	bad_manifest("name: p\ntools: []\n", "empty", "an empty tools list");
	bad_manifest("name: p\ntools:\n  - {description: x}\n", "%s/plugin.yaml:3: tools[0]",
		     "a tool without a name");
	bad_manifest("name: ../p\ntool_type: t\n", "name", "a bad name");
	bad_manifest("version: 1\ntool_type: t\n", "name: required", "no name");
	bad_manifest("name: p\ntool_type: t\nruntime: java\n", "runtime", "an unknown runtime");
	bad_manifest("name: p\ntool_type: t\nconcurrency: 0\n", "concurrency", "concurrency 0");
	bad_manifest("name: p\ntool_type: t\nexecution: {timeout: -5}\n", "execution.timeout",
		     "a negative timeout");
	bad_manifest("name: p\ntool_type: t\nexecution: {max_retries: 11}\n", "max_retries",
		     "too many retries");
	bad_manifest("name: p\ntool_type: t\nenv: [1]\n", "env[0]", "an env entry not a name");
	bad_manifest("name: p\ntool_type: t\ncommand: [./x, 5]\n", "command[1]",
		     "a command word not a string");
	bad_manifest("name: p\ntool_type: t\ncommand: {a: b}\n", "command", "a command mapping");
	bad_manifest("- a list\n", "must be a mapping", "a manifest that is a list");
	bad_manifest("name: [unclosed\n", "%s/plugin.yaml:2:", "a YAML syntax error");

	dir = tmp_dir();
	OK(fm_manifest_load(&m, dir, &e) < 0 && e.code == FM_PLUGIN_NOT_FOUND,
	   "manifest: a directory without manifest is PLUGIN_NOT_FOUND");
	HAS(e.message, "plugin.yaml or plugin.yml", "manifest: ... and says which files");
	fm_manifest_release(&m);
	rm_rf(dir);
	free(dir);
	fm_error_release(&e);
}

/* The built-in combine manifest is text in lib/combine.c: it must parse. */
static void test_manifest_combine(void)
{
	struct fm_error e = FM_ERROR_INIT;
	const struct fm_manifest *m = fm_combine_manifest(&e);
	json_object *tool = fm_combine_tool();

	OK(m && !strcmp(m->name, "combine"), "manifest: the built-in combine parses (%s)",
	   e.message);
	OK(m && m->serve && !strcmp(m->serve, FM_COMBINE_HELPER),
	   "manifest: the built-in combine is served by its helper, filmeto-combine");
	OK(tool && fm_json_get(tool, "parameters", json_type_array),
	   "manifest: the combine tool has its parameters");
	json_object_put(tool);
	fm_error_release(&e);
}

/* Plugin names as upstream writes them, and the folder each lives in. */
static void test_plugin_names(void)
{
	static const char *const good[] = {"Local Server", "ComfyUI", "a",	 "Café ☕",
					   "x.y-z_1",	   " lead",   ".hidden", "-dash"};
	static const char *const bad[] = {"",
					  "a/b",
					  "tab\there",
					  "nl\n",
					  "del\x7f",
					  "esc\x1b[2J",
					  "c1 \xc2\x85",
					  "bad \xff utf8",
					  "overlong \xc0\xaf",
					  "surrogate \xed\xa0\x80",
					  "cut \xe2\x98"};
	char long_name[FM_PLUGIN_NAME_MAX + 2], dst[FM_PLUGIN_NAME_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(*good); i++)
		OK(fm_plugin_name_valid(good[i]), "plugin name: '%s' is a name", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		OK(!fm_plugin_name_valid(bad[i]), "plugin name: bad #%zu is refused", i);
	OK(!fm_plugin_name_valid(NULL), "plugin name: NULL is refused");
	memset(long_name, 'n', sizeof(long_name));
	long_name[FM_PLUGIN_NAME_MAX] = '\0';
	OK(fm_plugin_name_valid(long_name), "plugin name: %d bytes is a name", FM_PLUGIN_NAME_MAX);
	long_name[FM_PLUGIN_NAME_MAX] = 'n';
	long_name[FM_PLUGIN_NAME_MAX + 1] = '\0';
	OK(!fm_plugin_name_valid(long_name), "plugin name: %d bytes is not",
	   FM_PLUGIN_NAME_MAX + 1);

	fm_plugin_folder(dst, sizeof(dst), "Local Server");
	IS_STR(dst, "Local_Server", "plugin folder: a space becomes _");
	fm_plugin_folder(dst, sizeof(dst), ".hidden");
	IS_STR(dst, "_hidden", "plugin folder: no leading dot");
	fm_plugin_folder(dst, sizeof(dst), "-x.y");
	IS_STR(dst, "_x.y", "plugin folder: no leading dash, inner dot kept");
	fm_plugin_folder(dst, sizeof(dst), "Caf\xc3\xa9");
	IS_STR(dst, "Caf__", "plugin folder: each byte outside the id set becomes _");
	fm_plugin_folder(dst, sizeof(dst), long_name);
	OK(strlen(dst) == FM_PLUGIN_NAME_MAX && fm_id_valid(dst),
	   "plugin folder: bounded and always an id");
	fm_plugin_folder(dst, 4, "Local Server");
	IS_STR(dst, "Loc", "plugin folder: cut to the buffer");
}

void test_manifest(void)
{
	test_plugin_names();
	test_manifest_tools_list();
	test_manifest_shapes();
	test_manifest_bad();
	test_manifest_combine();
}

/* Parameter typing and validation. */

static json_object *make_tool(void)
{
	static const char def[] =
	    "{\"name\":\"text2image\",\"parameters\":["
	    "{\"name\":\"prompt\",\"type\":\"string\",\"required\":true},"
	    "{\"name\":\"width\",\"type\":\"integer\",\"default\":1280,\"min\":64,\"max\":4096},"
	    "{\"name\":\"steps\",\"type\":\"integer\",\"min\":1,\"max\":50},"
	    "{\"name\":\"style\",\"type\":\"string\",\"enum\":[\"plain\",\"gradient\"]},"
	    "{\"name\":\"scale\",\"type\":\"number\"},"
	    "{\"name\":\"seed\",\"type\":\"integer\",\"required\":true,\"default\":0},"
	    "{\"name\":\"hd\",\"type\":\"boolean\"},"
	    "{\"name\":\"tags\",\"type\":\"array\"},"
	    "{\"name\":\"extra\",\"type\":\"object\"}]}";
	json_object *t = NULL;

	if (parse_json(def, &t) < 0)
		abort();
	return t;
}

static void test_params_validate(void)
{
	struct fm_error e = FM_ERROR_INIT;
	json_object *tool = make_tool(), *params, *errors;
	const char *want[] = {"unknown", "required", "type", "min", "max", "enum"};
	int seen[6] = {0}, all_named = 1;
	size_t i, j, n;

	if (parse_json("{\"prompt\":\"a cat\",\"width\":640,\"style\":\"plain\",\"scale\":1.5,"
		       "\"hd\":true,\"tags\":[],\"extra\":{},\"steps\":50.0}",
		       &params) == 0) {
		OK(fm_params_validate(tool, params, "t1", &e) == 0,
		   "params: valid parameters pass");
		if (e.message[0])
			tap_diag("%s", e.message);
		json_object_put(params);
	}
	if (parse_json(
		"{\"bogus\":1,\"width\":10,\"steps\":99,\"style\":\"fancy\",\"scale\":\"big\"}",
		&params) < 0)
		abort();
	OK(fm_params_validate(tool, params, "t7", &e) < 0 && e.code == FM_VALIDATION_ERROR,
	   "params: broken parameters fail");
	errors = e.details ? fm_json_get(e.details, "errors", json_type_array) : NULL;
	n = errors ? json_object_array_length(errors) : 0;
	IS_INT(n, 6, "params: every broken rule is reported at once");
	for (i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(errors, i);
		const char *rule = fm_json_get_string(x, "rule");

		for (j = 0; rule && j < 6; j++)
			if (!strcmp(rule, want[j]))
				seen[j]++;
		if (!fm_json_get_string(x, "parameter") || !fm_json_get_string(x, "message") ||
		    strcmp(fm_json_get_string(x, "task_id"), "t7"))
			all_named = 0;
	}
	for (j = 0; j < 6; j++)
		IS_INT(seen[j], 1, "params: rule '%s' reported once", want[j]);
	OK(all_named, "params: each error has task_id, parameter and message");
	HAS(e.message, "task 't7'", "params: the summary names the task");
	HAS(e.message, "(and 5 more)", "params: the summary counts the rest");
	for (i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(errors, i);

		if (!strcmp(fm_json_get_string(x, "parameter"), "prompt"))
			HAS(fm_json_get_string(x, "message"), "required",
			    "params: prompt is required");
		if (!strcmp(fm_json_get_string(x, "parameter"), "bogus"))
			HAS(fm_json_get_string(x, "message"), "prompt, width",
			    "params: unknown lists the names");
	}
	json_object_put(params);

	if (parse_json("{\"prompt\":null,\"seed\":1}", &params) == 0) {
		OK(fm_params_validate(tool, params, NULL, &e) < 0 &&
		       strstr(e.message, "must not be null"),
		   "params: a required parameter given null fails");
		json_object_put(params);
	}

	params = json_object_new_object();
	json_object_object_add(params, "prompt", json_object_new_string("x"));
	fm_params_fill_defaults(tool, params);
	OK(json_object_get_int(json_object_object_get(params, "width")) == 1280 &&
	       json_object_object_get_ex(params, "seed", NULL) &&
	       !json_object_object_get_ex(params, "steps", NULL),
	   "params: fill_defaults adds the defaults and nothing else");
	IS_STR(json_object_get_string(json_object_object_get(params, "prompt")), "x",
	       "params: fill_defaults keeps what is given");
	json_object_put(params);
	json_object_put(tool);
	fm_error_release(&e);
}

static void from_string(json_object *tool, const char *name, const char *text, const char *want,
			const char *what)
{
	struct fm_error e = FM_ERROR_INIT;
	json_object *out = NULL;
	int rc = fm_param_from_string(fm_tool_param(tool, name), text, &out, &e);

	if (want) {
		OK(rc == 0 && out, "param_from_string: %s", what);
		IS_STR(out ? fm_json_str(out) : e.message, want, "param_from_string: %s value",
		       what);
	} else {
		OK(rc < 0 && !out && e.code == FM_VALIDATION_ERROR && strstr(e.message, name) &&
		       strstr(e.message, "type"),
		   "param_from_string: %s fails naming the parameter and the rule", what);
		if (rc == 0 || !strstr(e.message, name))
			tap_diag("  -> %s", rc == 0 ? fm_json_str(out) : e.message);
	}
	json_object_put(out);
	fm_error_release(&e);
}

static void test_param_from_string(void)
{
	json_object *tool = make_tool();

	from_string(tool, "width", "42", "42", "integer 42");
	from_string(tool, "width", "-7", "-7", "integer -7");
	from_string(tool, "width", "4x2", NULL, "integer '4x2'");
	from_string(tool, "width", "", NULL, "integer ''");
	from_string(tool, "width", "1.5", NULL, "integer '1.5'");
	from_string(tool, "width", "99999999999999999999", NULL, "integer overflow");
	from_string(tool, "scale", "2.5", "2.5", "number 2.5");
	from_string(tool, "scale", "3", "3", "number 3");
	from_string(tool, "scale", "abc", NULL, "number 'abc'");
	from_string(tool, "scale", "inf", NULL, "number 'inf'");
	from_string(tool, "hd", "true", "true", "boolean true");
	from_string(tool, "hd", "yes", "true", "boolean yes");
	from_string(tool, "hd", "0", "false", "boolean 0");
	from_string(tool, "hd", "OFF", "false", "boolean OFF");
	from_string(tool, "hd", "maybe", NULL, "boolean 'maybe'");
	from_string(tool, "prompt", "a \"quoted\" cat", "\"a \\\"quoted\\\" cat\"", "string");
	from_string(tool, "tags", "[1,\"a\"]", "[1,\"a\"]", "JSON array");
	from_string(tool, "tags", "[1,", NULL, "a broken JSON array");
	from_string(tool, "tags", "{\"a\":1}", NULL, "an object for an array");
	from_string(tool, "extra", "{\"a\":[1]}", "{\"a\":[1]}", "JSON object");
	from_string(tool, "extra", "[]", NULL, "an array for an object");

	{
		static const char *const odd[] = {".5", "+1", "0x10", " 2", "1."};
		size_t i;

		for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
			json_object *out = NULL, *back = NULL;

			if (fm_param_from_string(fm_tool_param(tool, "scale"), odd[i], &out,
						 NULL) == 0)
				OK(parse_json(fm_json_str(out), &back) == 0,
				   "param_from_string: number '%s' serializes as JSON (%s)", odd[i],
				   fm_json_str(out));
			else
				OK(1, "param_from_string: number '%s' is refused", odd[i]);
			json_object_put(back);
			json_object_put(out);
		}
	}
	json_object_put(tool);
}

void test_params(void)
{
	test_params_validate();
	test_param_from_string();
}
