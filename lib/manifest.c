/*
 * Manifests: load plugin.yaml/plugin.yml, check it, and normalize the
 * three ways of naming tools (tools:, tool_type:, abilities:) into one
 * list. Every error names the file and the line of the offending part.
 * Also the parameter typing and validation shared by submit and run.
 */
#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fs.h"
#include "manifest.h"
#include "util.h"
#include "yaml.h"

static const char *const param_types[] = {"string", "integer", "number", "boolean",
					  "array",  "object",  NULL};

/* Upper bounds on what a manifest may ask for. */
#define MAX_CONCURRENCY 256
#define MAX_RETRIES	10
#define MAX_TIMEOUT	(7 * 86400.0)

void fm_manifest_init(struct fm_manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void fm_manifest_release(struct fm_manifest *m)
{
	char **a;

	free(m->path);
	free(m->dir);
	for (a = m->argv; a && *a; a++)
		free(*a);
	free(m->argv);
	json_object_put(m->root);
	json_object_put(m->tools);
	json_object_put(m->env);
	fm_manifest_init(m);
}

/* "FILE:LINE: " + message, where LINE is where node starts. */
static int bad(const struct fm_manifest *m, json_object *node, struct fm_error *err,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int bad(const struct fm_manifest *m, json_object *node, struct fm_error *err,
	       const char *fmt, ...)
{
	char msg[FM_ERROR_MAX];
	int line = fm_yaml_line(node);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		return fm_error(err, FM_VALIDATION_ERROR, "%s:%d: %s", m->path, line, msg);
	return fm_error(err, FM_VALIDATION_ERROR, "%s: %s", m->path, msg);
}

/* A value made here, not read from YAML, takes its parent's line. */
static void inherit_line(json_object *o, json_object *from)
{
	if (!fm_yaml_line(o))
		json_object_set_userdata(o, (void *)(uintptr_t)fm_yaml_line(from), NULL);
}

static int is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

static int type_known(const char *t)
{
	size_t i;

	for (i = 0; param_types[i]; i++)
		if (!strcmp(t, param_types[i]))
			return 1;
	return 0;
}

/* Python's names for the types, as the Filmeto project's manifests use them. */
static const char *canonical_type(const char *t)
{
	static const char *const alias[][2] = {
	    {"str", "string"},	 {"int", "integer"}, {"float", "number"},
	    {"bool", "boolean"}, {"list", "array"},  {"dict", "object"},
	};
	size_t i;

	for (i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (!strcmp(t, alias[i][0]))
			return alias[i][1];
	return t;
}

/* Whether v has the parameter type t. */
static int has_type(json_object *v, const char *t)
{
	if (!strcmp(t, "string"))
		return json_object_is_type(v, json_type_string);
	if (!strcmp(t, "integer"))
		return json_object_is_type(v, json_type_int) ||
		       (json_object_is_type(v, json_type_double) &&
			floor(json_object_get_double(v)) == json_object_get_double(v));
	if (!strcmp(t, "number"))
		return is_number(v);
	if (!strcmp(t, "boolean"))
		return json_object_is_type(v, json_type_boolean);
	if (!strcmp(t, "array"))
		return json_object_is_type(v, json_type_array);
	if (!strcmp(t, "object"))
		return json_object_is_type(v, json_type_object);
	return 0;
}

static const char *param_type(json_object *pdef)
{
	const char *t = fm_json_get_string(pdef, "type");

	return t ? t : "string";
}

/* Normalizes one parameter definition in place. */
static int check_param(const struct fm_manifest *m, json_object *p, const char *where,
		       struct fm_error *err)
{
	const char *name = fm_json_get_string(p, "name"), *type;
	json_object *v;

	if (!json_object_is_type(p, json_type_object))
		return bad(m, p, err, "%s: a parameter must be a mapping", where);
	if (!name || !*name)
		return bad(m, p, err, "%s: a parameter needs a name", where);
	if (json_object_object_get_ex(p, "type", &v) && !json_object_is_type(v, json_type_string))
		return bad(m, p, err, "%s.%s.type: must be a string", where, name);
	type = canonical_type(param_type(p));
	if (!type_known(type))
		return bad(m, p, err,
			   "%s.%s.type: '%s' is not one of string, integer, number, boolean, "
			   "array, object",
			   where, name, type);
	/* Replacing the member frees the string type points into. */
	json_object_object_add(p, "type", json_object_new_string(type));
	type = param_type(p);
	if (json_object_object_get_ex(p, "required", &v) &&
	    !json_object_is_type(v, json_type_boolean))
		return bad(m, p, err, "%s.%s.required: must be true or false", where, name);
	if ((json_object_object_get_ex(p, "min", &v) && !is_number(v)) ||
	    (json_object_object_get_ex(p, "max", &v) && !is_number(v)))
		return bad(m, p, err, "%s.%s: min and max must be numbers", where, name);
	if (json_object_object_get_ex(p, "enum", &v) &&
	    (!json_object_is_type(v, json_type_array) || !json_object_array_length(v)))
		return bad(m, p, err, "%s.%s.enum: must be a non-empty list", where, name);
	if (json_object_object_get_ex(p, "default", &v) && v && !has_type(v, type))
		return bad(m, p, err, "%s.%s.default: is not of type %s", where, name, type);
	return 0;
}

/* parameters: a list of definitions, or a mapping name -> definition. */
static int normalize_params(const struct fm_manifest *m, json_object *src, const char *where,
			    json_object **out, struct fm_error *err)
{
	json_object *list = json_object_new_array();
	size_t i;

	*out = list;
	if (!src)
		return 0;
	if (json_object_is_type(src, json_type_object)) {
		json_object_object_foreach (src, key, val) {
			json_object *p = json_object_is_type(val, json_type_object)
					     ? json_object_get(val)
					     : json_object_new_object();

			if (!json_object_is_type(val, json_type_object) && val)
				json_object_object_add(p, "type", json_object_get(val));
			inherit_line(p, src);
			json_object_object_add(p, "name", json_object_new_string(key));
			json_object_array_add(list, p);
		}
	} else if (json_object_is_type(src, json_type_array)) {
		for (i = 0; i < json_object_array_length(src); i++)
			json_object_array_add(list,
					      json_object_get(json_object_array_get_idx(src, i)));
	} else {
		return bad(m, src, err, "%s: must be a list of parameters", where);
	}
	for (i = 0; i < json_object_array_length(list); i++)
		if (check_param(m, json_object_array_get_idx(list, i), where, err) < 0)
			return -1;
	return 0;
}

/* One tool: a name, or a mapping with name (or tool_type) and parameters. */
static int normalize_tool(const struct fm_manifest *m, json_object *src, json_object *shared_params,
			  size_t idx, json_object *tools, struct fm_error *err)
{
	json_object *t = json_object_new_object(), *params = NULL, *v;
	const char *name = NULL;
	char where[64];
	int rc;

	if (json_object_is_type(src, json_type_string)) {
		name = json_object_get_string(src);
	} else if (json_object_is_type(src, json_type_object)) {
		name = fm_json_get_string(src, "name");
		if (!name)
			name = fm_json_get_string(src, "tool_type");
		if ((v = fm_json_get(src, "parameters", json_type_object)) ||
		    (v = fm_json_get(src, "parameters", json_type_array)))
			shared_params = v;
	}
	json_object_array_add(tools, t);
	if (!name || !*name)
		return bad(m, src, err, "tools[%zu]: needs a name (a tool type such as text2image)",
			   idx);
	snprintf(where, sizeof(where), "%.40s.parameters", name);
	json_object_object_add(t, "name", json_object_new_string(name));
	v = fm_json_get(src, "description", json_type_string);
	json_object_object_add(t, "description",
			       json_object_new_string(v ? json_object_get_string(v) : ""));
	rc = normalize_params(m, shared_params, where, &params, err);
	json_object_object_add(t, "parameters", params);
	v = fm_json_get(src, "resources", json_type_object);
	json_object_object_add(t, "resources", fm_json_ref_or_object(v));
	/* Examples are what filmeto-plugin test runs. */
	if ((v = fm_json_get(src, "examples", json_type_array)))
		json_object_object_add(t, "examples", json_object_get(v));
	return rc;
}

static int load_tools(struct fm_manifest *m, struct fm_error *err)
{
	json_object *root = m->root, *list = NULL, *v, *params;
	size_t i;

	params = json_object_object_get_ex(root, "parameters", &v) ? v : NULL;
	m->tools = json_object_new_array();
	if ((v = fm_json_get(root, "tools", json_type_array)) ||
	    (v = fm_json_get(root, "abilities", json_type_array)))
		list = v;
	else if ((v = fm_json_get(root, "tool_type", json_type_string)) ||
		 (v = fm_json_get(root, "tool_type", json_type_array)))
		list = v;
	if (!list)
		return bad(m, root, err,
			   "no tools: give tools:, tool_type: or abilities: (as a list)");
	if (json_object_is_type(list, json_type_string))
		return normalize_tool(m, list, params, 0, m->tools, err);
	if (!json_object_array_length(list))
		return bad(m, list, err, "the list of tools is empty");
	for (i = 0; i < json_object_array_length(list); i++)
		if (normalize_tool(m, json_object_array_get_idx(list, i), params, i, m->tools,
				   err) < 0)
			return -1;
	return 0;
}

static char **split_words(const char *s)
{
	char *copy = fm_xstrdup(s), *save = NULL, *w;
	char **argv = fm_xcalloc(strlen(s) / 2 + 2, sizeof(char *));
	size_t n = 0;

	for (w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		argv[n++] = fm_xstrdup(w);
	free(copy);
	return argv;
}

static int load_command(struct fm_manifest *m, struct fm_error *err)
{
	json_object *cmd;
	char *main_py;
	size_t i, n;

	m->runtime = fm_json_get_string(m->root, "runtime");
	if (m->runtime && strcmp(m->runtime, "native") && strcmp(m->runtime, "python") &&
	    strcmp(m->runtime, "node"))
		return bad(m, m->root, err, "runtime: '%s' is not one of native, python, node",
			   m->runtime);
	if ((cmd = fm_json_get(m->root, "command", json_type_string))) {
		m->argv = split_words(json_object_get_string(cmd));
	} else if ((cmd = fm_json_get(m->root, "command", json_type_array))) {
		n = json_object_array_length(cmd);
		m->argv = fm_xcalloc(n + 1, sizeof(char *));
		for (i = 0; i < n; i++) {
			json_object *w = json_object_array_get_idx(cmd, i);

			if (!json_object_is_type(w, json_type_string))
				return bad(m, cmd, err, "command[%zu]: must be a string", i);
			m->argv[i] = fm_xstrdup(json_object_get_string(w));
		}
	} else if (json_object_object_get_ex(m->root, "command", &cmd) && cmd) {
		return bad(m, m->root, err, "command: must be a list or a string");
	}
	if (m->argv && m->argv[0])
		return 0;
	free(m->argv);
	main_py = fm_xasprintf("%s/main.py", m->dir);
	/* The Filmeto project's Python plugins have main.py and no command. */
	if ((m->runtime && !strcmp(m->runtime, "python")) || access(main_py, F_OK) == 0)
		m->argv = split_words("python3 main.py");
	else if (m->runtime && !strcmp(m->runtime, "node"))
		m->argv = split_words("node main.js");
	else
		m->argv = split_words("./main");
	free(main_py);
	return 0;
}

static int load_number(struct fm_manifest *m, const char *section, const char *key, double lo,
		       double hi, double *out, struct fm_error *err)
{
	json_object *sec = fm_json_get(m->root, section, json_type_object), *v;

	if (!sec || !json_object_object_get_ex(sec, key, &v) || !v)
		return 0;
	if (!is_number(v) || !(json_object_get_double(v) >= lo) || json_object_get_double(v) > hi)
		return bad(m, sec, err, "%s.%s: must be a number from %g to %g", section, key, lo,
			   hi);
	*out = json_object_get_double(v);
	return 0;
}

/* Upper bound on requirements.packages. */
#define MAX_PACKAGES 256

/*
 * requirements: {python: ">=3.9", packages: [pillow>=9.0.0, ...]}, as the
 * Filmeto project's manifests declare what a Python plugin needs.
 */
static int load_requirements(struct fm_manifest *m, struct fm_error *err)
{
	json_object *req, *v;
	size_t i, n;

	if (!json_object_object_get_ex(m->root, "requirements", &req) || !req)
		return 0;
	if (!json_object_is_type(req, json_type_object))
		return bad(m, m->root, err,
			   "requirements: must be a mapping (python: a version, packages: a list "
			   "of strings)");
	if (json_object_object_get_ex(req, "python", &v) && v) {
		if (!json_object_is_type(v, json_type_string) &&
		    !json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return bad(m, req, err,
				   "requirements.python: must be a version constraint such as "
				   "\">=3.9\"");
		m->req_python = json_object_get_string(v);
	}
	if (!json_object_object_get_ex(req, "packages", &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return bad(m, req, err, "requirements.packages: must be a list of strings");
	n = json_object_array_length(v);
	if (n > MAX_PACKAGES)
		return bad(m, v, err, "requirements.packages: more than %d packages", MAX_PACKAGES);
	for (i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(p);

		if (!json_object_is_type(p, json_type_string))
			return bad(m, v, err,
				   "requirements.packages: must be a list of strings; item %zu is "
				   "not a string",
				   i + 1);
		if (!*s || strlen(s) > 256 || *s == '-' || strpbrk(s, "\n\r\t"))
			return bad(m, v, err,
				   "requirements.packages: item %zu is not a package requirement "
				   "(such as pillow>=9.0.0)",
				   i + 1);
	}
	m->req_packages = v;
	return 0;
}

static int load_settings(struct fm_manifest *m, struct fm_error *err)
{
	json_object *v;
	double conc = 1, retries = 0;
	size_t i;

	m->startup_timeout = FM_STARTUP_TIMEOUT;
	m->exec_timeout = FM_EXEC_TIMEOUT;
	m->env = json_object_new_array();
	if ((v = fm_json_get(m->root, "env", json_type_array))) {
		for (i = 0; i < json_object_array_length(v); i++) {
			json_object *e = json_object_array_get_idx(v, i);

			if (!json_object_is_type(e, json_type_string))
				return bad(m, v, err, "env[%zu]: must be a variable name", i);
			json_object_array_add(m->env, json_object_get(e));
		}
	} else if (json_object_object_get_ex(m->root, "env", &v) && v) {
		return bad(m, m->root, err, "env: must be a list of variable names");
	}
	if (json_object_object_get_ex(m->root, "concurrency", &v) && v) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1 ||
		    json_object_get_int(v) > MAX_CONCURRENCY)
			return bad(m, m->root, err, "concurrency: must be an integer from 1 to %d",
				   MAX_CONCURRENCY);
		conc = json_object_get_int(v);
	}
	m->concurrency = (int)conc;
	if (json_object_object_get_ex(m->root, "remote", &v) && v) {
		if (!json_object_is_type(v, json_type_boolean))
			return bad(m, m->root, err, "remote: must be true or false");
		m->remote = json_object_get_boolean(v);
	}
	if (load_number(m, "startup", "timeout", 0.001, MAX_TIMEOUT, &m->startup_timeout, err) ||
	    load_number(m, "execution", "timeout", 0.001, MAX_TIMEOUT, &m->exec_timeout, err) ||
	    load_number(m, "execution", "max_retries", 0, MAX_RETRIES, &retries, err))
		return -1;
	m->max_retries = (int)retries;
	return load_requirements(m, err);
}

static const char *meta_string(json_object *root, const char *key)
{
	json_object *v;

	/* `version: 1.0` is a number in YAML but a version to us. */
	if (!json_object_object_get_ex(root, key, &v) || !v ||
	    json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
		return "";
	return json_object_get_string(v);
}

int fm_plugin_name_valid(const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i, n, k;
	unsigned long c;

	if (!name || (n = strlen(name)) == 0 || n > FM_PLUGIN_NAME_MAX)
		return 0;
	for (i = 0; i < n; i += k) {
		c = s[i];
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f || c == '/')
				return 0;
			k = 1;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 2, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 3, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 4, c &= 0x07;
		else
			return 0;
		if (i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (s[i + j] & 0x3f);
		}
		/* Overlong, surrogate, beyond U+10FFFF, or a C1 control. */
		if ((k == 3 && c < 0x800) || (k == 4 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c <= 0x9f))
			return 0;
	}
	return 1;
}

void fm_plugin_folder(char *dst, size_t size, const char *name)
{
	size_t i;

	if (!size)
		return;
	for (i = 0; i < FM_PLUGIN_NAME_MAX && i + 1 < size && name[i]; i++) {
		char ch = name[i];

		dst[i] = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				 (ch >= '0' && ch <= '9') || ((ch == '.' || ch == '-') && i > 0) ||
				 ch == '_'
			     ? ch
			     : '_';
	}
	if (i == 0 && size > 1)
		dst[i++] = '_';
	dst[i] = '\0';
}

static int load_meta(struct fm_manifest *m, struct fm_error *err)
{
	if (!json_object_is_type(m->root, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR, "%s: must be a mapping", m->path);
	m->name = fm_json_get_string(m->root, "name");
	if (!m->name || !fm_plugin_name_valid(m->name))
		return bad(m, m->root, err, "name: required, " FM_PLUGIN_NAME_RULE);
	m->version = meta_string(m->root, "version");
	m->description = meta_string(m->root, "description");
	return 0;
}

static int load_all(struct fm_manifest *m, struct fm_error *err)
{
	if (load_meta(m, err) < 0 || load_tools(m, err) < 0 || load_command(m, err) < 0 ||
	    load_settings(m, err) < 0)
		return -1;
	return 0;
}

int fm_manifest_load(struct fm_manifest *m, const char *dir, struct fm_error *err)
{
	static const char *const names[] = {"plugin.yaml", "plugin.yml"};
	char *buf = NULL;
	size_t i, len;

	fm_manifest_init(m);
	m->dir = fm_abspath(dir);
	for (i = 0; i < 2 && !m->path; i++) {
		char *p = fm_xasprintf("%s/%s", m->dir, names[i]);

		if (access(p, F_OK) == 0)
			m->path = p;
		else
			free(p);
	}
	if (!m->path) {
		m->path = fm_xasprintf("%s/plugin.yaml", m->dir);
		return fm_error(err, FM_PLUGIN_NOT_FOUND, "'%s' has no plugin.yaml or plugin.yml",
				m->dir);
	}
	if (fm_read_file(m->path, FM_YAML_MAX, &buf, &len, err) < 0)
		return -1;
	if (fm_yaml_parse(buf, len, m->path, &m->root, err) < 0) {
		free(buf);
		return -1;
	}
	free(buf);
	return load_all(m, err);
}

int fm_manifest_parse(struct fm_manifest *m, const char *buf, size_t len, const char *name,
		      const char *dir, struct fm_error *err)
{
	fm_manifest_init(m);
	m->dir = fm_xstrdup(dir);
	m->path = fm_xstrdup(name);
	if (fm_yaml_parse(buf, len, name, &m->root, err) < 0)
		return -1;
	return load_all(m, err);
}

json_object *fm_manifest_tool(const struct fm_manifest *m, const char *tool)
{
	size_t i;

	for (i = 0; tool && m->tools && i < json_object_array_length(m->tools); i++) {
		json_object *t = json_object_array_get_idx(m->tools, i);
		const char *name = fm_json_get_string(t, "name");

		if (name && !strcmp(name, tool))
			return t;
	}
	return NULL;
}

json_object *fm_manifest_to_json(const struct fm_manifest *m)
{
	json_object *o = json_object_new_object(), *cmd = json_object_new_array();
	json_object *startup = json_object_new_object(), *exec = json_object_new_object();
	char **a;

	for (a = m->argv; a && *a; a++)
		json_object_array_add(cmd, json_object_new_string(*a));
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "version", json_object_new_string(m->version));
	json_object_object_add(o, "description", json_object_new_string(m->description));
	json_object_object_add(o, "dir", json_object_new_string(m->dir));
	json_object_object_add(o, "manifest", json_object_new_string(m->path));
	json_object_object_add(o, "command", cmd);
	json_object_object_add(o, "runtime",
			       json_object_new_string(m->runtime ? m->runtime : "native"));
	json_object_object_add(o, "tools", json_object_get(m->tools));
	json_object_object_add(o, "env", json_object_get(m->env));
	json_object_object_add(o, "concurrency", json_object_new_int(m->concurrency));
	json_object_object_add(o, "remote", json_object_new_boolean(m->remote));
	json_object_object_add(startup, "timeout", fm_json_double(m->startup_timeout));
	json_object_object_add(exec, "timeout", fm_json_double(m->exec_timeout));
	json_object_object_add(exec, "max_retries", json_object_new_int(m->max_retries));
	json_object_object_add(o, "startup", startup);
	json_object_object_add(o, "execution", exec);
	return o;
}

json_object *fm_tool_param(json_object *tool, const char *name)
{
	json_object *params = fm_json_get(tool, "parameters", json_type_array);
	size_t i;

	for (i = 0; params && i < json_object_array_length(params); i++) {
		json_object *p = json_object_array_get_idx(params, i);
		const char *n = fm_json_get_string(p, "name");

		if (n && !strcmp(n, name))
			return p;
	}
	return NULL;
}

int fm_param_from_string(json_object *pdef, const char *text, json_object **out,
			 struct fm_error *err)
{
	const char *name = fm_json_get_string(pdef, "name");
	const char *type = pdef ? param_type(pdef) : "string";
	char *end;

	*out = NULL;
	if (!strcmp(type, "integer")) {
		long long v;

		errno = 0;
		v = strtoll(text, &end, 10);
		if (errno || end == text || *end)
			return fm_error(err, FM_VALIDATION_ERROR,
					"parameter '%s': '%s' is not an integer (rule: type)", name,
					text);
		*out = json_object_new_int64(v);
	} else if (!strcmp(type, "number")) {
		double v = strtod(text, &end);

		if (end == text || *end || !isfinite(v))
			return fm_error(err, FM_VALIDATION_ERROR,
					"parameter '%s': '%s' is not a number (rule: type)", name,
					text);
		*out = fm_json_new_number(v, text);
	} else if (!strcmp(type, "boolean")) {
		if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcmp(text, "1") ||
		    !strcasecmp(text, "on"))
			*out = json_object_new_boolean(1);
		else if (!strcasecmp(text, "false") || !strcasecmp(text, "no") ||
			 !strcmp(text, "0") || !strcasecmp(text, "off"))
			*out = json_object_new_boolean(0);
		else
			return fm_error(
			    err, FM_VALIDATION_ERROR,
			    "parameter '%s': '%s' is not a boolean: use true or false (rule: type)",
			    name, text);
	} else if (!strcmp(type, "array") || !strcmp(type, "object")) {
		struct fm_error perr = FM_ERROR_INIT;

		if (fm_json_parse(text, strlen(text), out, &perr) < 0)
			return fm_error(err, FM_VALIDATION_ERROR,
					"parameter '%s': a JSON %s is expected: %s (rule: type)",
					name, type, perr.message);
		if (!has_type(*out, type)) {
			json_object_put(*out);
			*out = NULL;
			return fm_error(err, FM_VALIDATION_ERROR,
					"parameter '%s': a JSON %s is expected (rule: type)", name,
					type);
		}
	} else {
		*out = json_object_new_string(text);
	}
	return 0;
}

static void add_problem(json_object *list, const char *task_id, const char *param, const char *rule,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_problem(json_object *list, const char *task_id, const char *param, const char *rule,
			const char *fmt, ...)
{
	json_object *e = json_object_new_object();
	char what[FM_ERROR_MAX / 2];
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	msg = fm_xasprintf("task '%s': parameter '%s': %s (rule: %s)", task_id ? task_id : "-",
			   param, what, rule);
	json_object_object_add(e, "task_id", json_object_new_string(task_id ? task_id : ""));
	json_object_object_add(e, "parameter", json_object_new_string(param));
	json_object_object_add(e, "rule", json_object_new_string(rule));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_array_add(list, e);
	free(msg);
}

/* A short rendering of a value for messages: strings quoted, cut at 60. */
static const char *shown(json_object *v, char *buf, size_t len)
{
	const char *s = fm_json_str(v);

	snprintf(buf, len, "%.60s%s", s, strlen(s) > 60 ? "…" : "");
	return buf;
}

static void check_value(json_object *pdef, json_object *v, const char *task_id,
			json_object *problems)
{
	const char *name = fm_json_get_string(pdef, "name"), *type = param_type(pdef);
	json_object *lim, *en;
	char buf[96];
	size_t i;

	if (!has_type(v, type)) {
		add_problem(problems, task_id, name, "type", "%s is not of type %s",
			    shown(v, buf, sizeof(buf)), type);
		return;
	}
	if (is_number(v) && json_object_object_get_ex(pdef, "min", &lim) && is_number(lim) &&
	    json_object_get_double(v) < json_object_get_double(lim))
		add_problem(problems, task_id, name, "min", "%s is below min %s",
			    shown(v, buf, sizeof(buf)), json_object_get_string(lim));
	if (is_number(v) && json_object_object_get_ex(pdef, "max", &lim) && is_number(lim) &&
	    json_object_get_double(v) > json_object_get_double(lim))
		add_problem(problems, task_id, name, "max", "%s is above max %s",
			    shown(v, buf, sizeof(buf)), json_object_get_string(lim));
	if ((en = fm_json_get(pdef, "enum", json_type_array))) {
		for (i = 0; i < json_object_array_length(en); i++)
			if (json_object_equal(v, json_object_array_get_idx(en, i)))
				return;
		add_problem(problems, task_id, name, "enum", "%s is not one of %s",
			    shown(v, buf, sizeof(buf)), fm_json_str(en));
	}
}

static int flag(json_object *o, const char *key)
{
	json_object *v = fm_json_get(o, key, json_type_boolean);

	return v && json_object_get_boolean(v);
}

static char *param_names(json_object *tool)
{
	json_object *params = fm_json_get(tool, "parameters", json_type_array);
	size_t i, n = params ? json_object_array_length(params) : 0;
	char *s = fm_xstrdup("");

	for (i = 0; i < n; i++) {
		const char *name = fm_json_get_string(json_object_array_get_idx(params, i), "name");
		char *t = fm_xasprintf("%s%s%s", s, i ? ", " : "", name);

		free(s);
		s = t;
	}
	return s;
}

/* The parameter of tool that key is likely a slip for, or NULL. */
static const char *param_near(json_object *tool, const char *key)
{
	json_object *params = fm_json_get(tool, "parameters", json_type_array);
	size_t i, n = params ? json_object_array_length(params) : 0;
	const char **names = fm_xcalloc(n + 1, sizeof(*names)), *near;

	for (i = 0; i < n; i++)
		names[i] = fm_json_get_string(json_object_array_get_idx(params, i), "name");
	near = fm_suggest(key, names, n);
	free(names);
	return near;
}

int fm_params_validate(json_object *tool, json_object *params, const char *task_id,
		       struct fm_error *err)
{
	json_object *problems = json_object_new_array();
	json_object *defs = fm_json_get(tool, "parameters", json_type_array);
	size_t i, n;

	json_object_object_foreach (params, key, val) {
		json_object *pdef = fm_tool_param(tool, key);

		if (!pdef) {
			char *names = param_names(tool);
			const char *near = param_near(tool, key);

			if (near)
				add_problem(
				    problems, task_id, key, "unknown",
				    "not a parameter of %s: did you mean '%s'? (it takes: %s)",
				    fm_json_get_string(tool, "name"), near, names);
			else
				add_problem(problems, task_id, key, "unknown",
					    "not a parameter of %s (it takes: %s)",
					    fm_json_get_string(tool, "name"),
					    *names ? names : "none");
			free(names);
		} else if (val) {
			check_value(pdef, val, task_id, problems);
		} else if (flag(pdef, "required")) {
			add_problem(problems, task_id, key, "required", "must not be null");
		}
	}
	for (i = 0; defs && i < json_object_array_length(defs); i++) {
		json_object *pdef = json_object_array_get_idx(defs, i);
		const char *name = fm_json_get_string(pdef, "name");

		if (flag(pdef, "required") && !json_object_object_get_ex(params, name, NULL) &&
		    !json_object_object_get_ex(pdef, "default", NULL))
			add_problem(problems, task_id, name, "required", "is required but missing");
	}
	n = json_object_array_length(problems);
	if (!n) {
		json_object_put(problems);
		return 0;
	}
	fm_error(err, FM_VALIDATION_ERROR, "%s",
		 json_object_get_string(
		     json_object_object_get(json_object_array_get_idx(problems, 0), "message")));
	if (n > 1) {
		size_t len = strlen(err ? err->message : "");

		if (err)
			snprintf(err->message + len, sizeof(err->message) - len, " (and %zu more)",
				 n - 1);
	}
	fm_error_detail(err, "errors", problems);
	return -1;
}

int fm_params_validate_inputs(json_object *tool, json_object *params, json_object *resources,
			      const char *task_id, struct fm_error *err)
{
	int rc;

	if (!fm_tool_param(tool, "input_image_path") || !params ||
	    json_object_object_get_ex(params, "input_image_path", NULL) ||
	    !json_object_is_type(resources, json_type_array) ||
	    !json_object_array_length(resources))
		return fm_params_validate(tool, params, task_id, err);
	/* Filled in from the first image among the inputs when the task is sent. */
	json_object_object_add(params, "input_image_path", json_object_new_string("resources"));
	rc = fm_params_validate(tool, params, task_id, err);
	json_object_object_del(params, "input_image_path");
	return rc;
}

void fm_params_fill_defaults(json_object *tool, json_object *params)
{
	json_object *defs = fm_json_get(tool, "parameters", json_type_array);
	size_t i;

	for (i = 0; defs && i < json_object_array_length(defs); i++) {
		json_object *pdef = json_object_array_get_idx(defs, i), *def;
		const char *name = fm_json_get_string(pdef, "name");

		if (!json_object_object_get_ex(params, name, NULL) &&
		    json_object_object_get_ex(pdef, "default", &def))
			json_object_object_add(params, name, json_object_get(def));
	}
}
