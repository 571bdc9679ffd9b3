/*
 * filmeto-submit: turns arguments into one task line, validated against
 * the plugin's manifest before anything runs. Every problem is reported
 * at once, and nothing reaches stdout unless the task is valid.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-submit -t TOOL [-P PLUGIN] [-p KEY=VALUE]... [-r PATH|URL]...\n"
    "                      [-i ID] [--timeout SECONDS]\n"
    "\n"
    "Print one task line for TOOL, validated against its plugin's manifest.\n"
    "\n"
    "  -t, --tool TOOL          tool type, e.g. text2image (see filmeto-plugin list)\n"
    "  -P, --plugin PLUGIN      plugin to use (default: the first serving TOOL)\n"
    "  -p, --param KEY=VALUE    a parameter, typed by the manifest; repeatable\n"
    "  -r, --resource PATH|URL  an input file or URL; repeatable\n"
    "  -i, --id ID              task id (default: TOOL-xxxxxxxx)\n"
    "      --timeout SECONDS    execution timeout for this task\n"
    "  -h, --help               show this help\n"
    "      --version            show the version\n"
    "\n"
    "Exit status: 0 printed, 2 usage or validation error.\n";

enum { OPT_TIMEOUT = 256, OPT_VERSION };

static const struct option options[] = {
    {"tool", required_argument, NULL, 't'},
    {"plugin", required_argument, NULL, 'P'},
    {"param", required_argument, NULL, 'p'},
    {"resource", required_argument, NULL, 'r'},
    {"id", required_argument, NULL, 'i'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct args {
	const char *tool, *plugin, *id;
	double timeout;
	const char **params, **resources;
	size_t nparams, nresources;
};

__attribute__((noreturn)) static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", fm_prog());
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fm_try_help();
}

static void push(const char ***v, size_t *n, const char *s)
{
	*v = fm_xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = s;
}

static void parse_args(int argc, char **argv, struct args *a)
{
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "t:P:p:r:i:h", options, NULL)) != -1) {
		switch (c) {
		case 't': a->tool = optarg; break;
		case 'P': a->plugin = optarg; break;
		case 'p': push(&a->params, &a->nparams, optarg); break;
		case 'r': push(&a->resources, &a->nresources, optarg); break;
		case 'i': a->id = optarg; break;
		case OPT_TIMEOUT:
			a->timeout = strtod(optarg, &end);
			if (*end || end == optarg || !(a->timeout > 0))
				usage_error("--timeout: '%s' is not a positive number of seconds",
					    optarg);
			break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version();
		default: fm_try_help();
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!a->tool)
		usage_error("%s", "a tool is required: -t TOOL");
	if (a->id && !fm_id_valid(a->id))
		usage_error("task id '%s' must be 1-128 characters of A-Z a-z 0-9 . _ - "
			    "(not starting with . or -)",
			    a->id);
}

/* Collects one problem; all of them are printed together at the end. */
static void problem(json_object *problems, const char *msg)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_array_add(problems, e);
}

static void typed_params(const struct args *a, json_object *tool, const char *id,
			 json_object *params, json_object *problems)
{
	size_t i;

	for (i = 0; i < a->nparams; i++) {
		const char *eq = strchr(a->params[i], '=');
		struct fm_error err = FM_ERROR_INIT;
		json_object *pdef, *val;
		char *key, *msg;

		if (!eq || eq == a->params[i]) {
			msg = fm_xasprintf("task '%s': -p '%s': expected KEY=VALUE", id,
					   a->params[i]);
			problem(problems, msg);
			free(msg);
			continue;
		}
		key = fm_xasprintf("%.*s", (int)(eq - a->params[i]), a->params[i]);
		pdef = fm_tool_param(tool, key);
		/* Unknown names are typed as strings; validation names them. */
		if (pdef && fm_param_from_string(pdef, eq + 1, &val, &err) < 0) {
			msg = fm_xasprintf("task '%s': %s", id, err.message);
			problem(problems, msg);
			free(msg);
		} else {
			if (!pdef)
				val = json_object_new_string(eq + 1);
			json_object_object_add(params, key, val);
		}
		fm_error_release(&err);
		free(key);
	}
}

static int is_url(const char *s)
{
	const char *p = strstr(s, "://");
	const char *c;

	if (!p || p == s)
		return 0;
	for (c = s; c < p; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '+'))
			return 0;
	return 1;
}

static json_object *resources(const struct args *a, const char *id, json_object *problems)
{
	json_object *list = json_object_new_array();
	size_t i;

	for (i = 0; i < a->nresources; i++) {
		const char *r = a->resources[i];
		json_object *o = json_object_new_object();
		struct stat st;
		char *path;

		if (is_url(r)) {
			json_object_object_add(o, "type", json_object_new_string("remote_url"));
			json_object_object_add(o, "data", json_object_new_string(r));
		} else if (stat(r, &st) != 0) {
			char *msg = fm_xasprintf("task '%s': resource '%s': no such file", id, r);

			problem(problems, msg);
			free(msg);
			json_object_put(o);
			continue;
		} else {
			path = fm_abspath(r);
			json_object_object_add(o, "type", json_object_new_string("local_path"));
			json_object_object_add(o, "data", json_object_new_string(path));
			json_object_object_add(o, "mime_type",
					       json_object_new_string(fm_mime_from_path(path)));
			free(path);
		}
		json_object_object_add(o, "metadata", json_object_new_object());
		json_object_array_add(list, o);
	}
	return list;
}

static void report(json_object *problems)
{
	size_t i;

	for (i = 0; i < json_object_array_length(problems); i++)
		fm_warn("%s",
			fm_json_get_string(json_object_array_get_idx(problems, i), "message"));
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_plugins plugins;
	const struct fm_manifest *m;
	json_object *tool, *problems = json_object_new_array(), *line;
	struct fm_task t;
	char ts[32];
	int status = FM_EXIT_OK;

	fm_msg_init(argv[0]);
	parse_args(argc, argv, &a);
	fm_plugins_scan(&plugins, &err);
	m = fm_plugins_find(&plugins, a.plugin, a.tool, &err);
	if (!m)
		fm_die(FM_EXIT_USAGE, "%s: %s", fm_code_name(err.code), err.message);
	tool = fm_manifest_tool(m, a.tool);
	fm_task_init(&t);
	t.task_id = a.id ? fm_xstrdup(a.id) : fm_id_new(a.tool);
	t.tool_name = fm_xstrdup(a.tool);
	t.plugin_name = fm_xstrdup(m->name);
	t.parameters = json_object_new_object();
	t.timeout = a.timeout;
	fm_timestamp(ts);
	t.created_at = fm_xstrdup(ts);
	typed_params(&a, tool, t.task_id, t.parameters, problems);
	t.resources = resources(&a, t.task_id, problems);
	if (fm_params_validate(tool, t.parameters, t.task_id, &err) < 0) {
		json_object *list = fm_json_get(err.details, "errors", json_type_array);
		size_t i;

		for (i = 0; list && i < json_object_array_length(list); i++)
			json_object_array_add(problems,
					      json_object_get(json_object_array_get_idx(list, i)));
	}
	if (json_object_array_length(problems)) {
		report(problems);
		status = FM_EXIT_USAGE;
	} else {
		line = fm_task_to_json(&t);
		puts(fm_json_str(line));
		json_object_put(line);
		if (fm_close_stdout())
			status = FM_EXIT_FAILED;
	}
	json_object_put(problems);
	fm_error_release(&err);
	fm_task_release(&t);
	fm_plugins_release(&plugins);
	free(a.params);
	free(a.resources);
	return status;
}
