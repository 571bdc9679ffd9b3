/*
 * filmeto-plugin: lists, inspects and validates plugins. Only manifests
 * are read here; no plugin code runs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-plugin list [--json]\n"
    "       filmeto-plugin info [--json] NAME\n"
    "       filmeto-plugin validate DIR\n"
    "       filmeto-plugin path\n"
    "\n"
    "  list      the plugins on the search path: name, version, tools, directory\n"
    "  info      one plugin's description, command and parameters\n"
    "  validate  check the manifest in DIR\n"
    "  path      the plugin search path, one directory per line\n"
    "\n"
    "  --json         print JSON instead of text\n"
    "  -h, --help     show this help\n"
    "      --version  show the version\n"
    "\n"
    "Exit status: 0 success, 1 plugin not found, 2 usage error or invalid manifest.\n";

enum { OPT_JSON = 256, OPT_VERSION };

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int json_out;

__attribute__((noreturn)) static void usage_error(const char *msg)
{
	fm_warn("%s", msg);
	fm_try_help();
}

static char *tool_names(const struct fm_manifest *m)
{
	char *s = fm_xstrdup("");
	size_t i;

	for (i = 0; i < json_object_array_length(m->tools); i++) {
		char *t = fm_xasprintf(
		    "%s%s%s", s, i ? "," : "",
		    fm_json_get_string(json_object_array_get_idx(m->tools, i), "name"));
		free(s);
		s = t;
	}
	return s;
}

static int cmd_list(struct fm_plugins *p)
{
	json_object *all = json_object_new_array();
	size_t i;

	for (i = 0; i < p->n; i++) {
		struct fm_plugin_entry *e = &p->v[i];
		char *tools;

		if (!e->ok) {
			fm_warn("%s", e->error.message);
			continue;
		}
		if (e->shadowed)
			continue;
		if (json_out) {
			json_object_array_add(all, fm_manifest_to_json(&e->manifest));
			continue;
		}
		tools = tool_names(&e->manifest);
		printf("%s %s %s %s\n", e->manifest.name,
		       *e->manifest.version ? e->manifest.version : "-", tools, e->dir);
		free(tools);
	}
	if (json_out)
		puts(fm_json_str(all));
	json_object_put(all);
	return FM_EXIT_OK;
}

static void print_param(json_object *pdef)
{
	json_object *v, *req;
	const char *desc = fm_json_get_string(pdef, "description"), *def;
	char range[256] = "";

	if ((v = fm_json_get(pdef, "enum", json_type_array)))
		snprintf(range, sizeof(range), "one of %s", fm_json_str(v));
	else if (json_object_object_get_ex(pdef, "min", NULL) ||
		 json_object_object_get_ex(pdef, "max", NULL))
		snprintf(
		    range, sizeof(range), "%s..%s",
		    json_object_object_get_ex(pdef, "min", &v) ? json_object_get_string(v) : "",
		    json_object_object_get_ex(pdef, "max", &v) ? json_object_get_string(v) : "");
	req = fm_json_get(pdef, "required", json_type_boolean);
	def = json_object_object_get_ex(pdef, "default", &v) ? fm_json_str(v) : "-";
	printf("    %-14s %-8s %-8s %-14s %-20s %s\n", fm_json_get_string(pdef, "name"),
	       fm_json_get_string(pdef, "type"),
	       req && json_object_get_boolean(req) ? "required" : "optional", def,
	       *range ? range : "-", desc ? desc : "");
}

static void print_info(const struct fm_manifest *m)
{
	size_t i, j;
	char **a;

	printf("%s %s\n", m->name, m->version);
	if (*m->description)
		printf("  %s\n", m->description);
	printf("  directory:   %s\n  manifest:    %s\n  command:    ", m->dir, m->path);
	for (a = m->argv; *a; a++)
		printf(" %s", *a);
	printf("\n  concurrency: %d\n  timeouts:    startup %gs, execution %gs, %d retries\n",
	       m->concurrency, m->startup_timeout, m->exec_timeout, m->max_retries);
	for (i = 0; i < json_object_array_length(m->tools); i++) {
		json_object *t = json_object_array_get_idx(m->tools, i);
		json_object *params = fm_json_get(t, "parameters", json_type_array);

		printf("\n  tool %s\n", fm_json_get_string(t, "name"));
		printf("    %-14s %-8s %-8s %-14s %-20s %s\n", "PARAMETER", "TYPE", "", "DEFAULT",
		       "RANGE", "DESCRIPTION");
		for (j = 0; j < json_object_array_length(params); j++)
			print_param(json_object_array_get_idx(params, j));
	}
}

static int cmd_info(struct fm_plugins *p, const char *name)
{
	const struct fm_plugin_entry *e = fm_plugins_lookup(p, name);
	json_object *o;

	if (!e) {
		fm_warn("no plugin named '%s' (see filmeto-plugin list)", name);
		return FM_EXIT_FAILED;
	}
	if (!e->ok) {
		fm_warn("%s", e->error.message);
		return FM_EXIT_USAGE;
	}
	if (json_out) {
		o = fm_manifest_to_json(&e->manifest);
		puts(fm_json_str(o));
		json_object_put(o);
	} else {
		print_info(&e->manifest);
	}
	return FM_EXIT_OK;
}

static int cmd_validate(const char *dir)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_manifest m;
	int status = FM_EXIT_OK;

	if (fm_manifest_load(&m, dir, &err) < 0) {
		fm_warn("%s", err.message);
		status = FM_EXIT_USAGE;
	} else {
		printf("%s: valid (%s %s)\n", m.path, m.name, m.version);
	}
	fm_manifest_release(&m);
	fm_error_release(&err);
	return status;
}

int main(int argc, char **argv)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_plugins p;
	const char *verb;
	int c, status;
	size_t i;

	fm_msg_init(argv[0]);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json_out = 1; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version();
		default: fm_try_help();
		}
	}
	if (optind >= argc)
		usage_error("a command is required: list, info, validate or path");
	verb = argv[optind++];
	if (!strcmp(verb, "validate")) {
		if (argc - optind != 1)
			usage_error("usage: filmeto-plugin validate DIR");
		status = cmd_validate(argv[optind]);
		return fm_close_stdout() ? FM_EXIT_FAILED : status;
	}
	if (strcmp(verb, "list") && strcmp(verb, "info") && strcmp(verb, "path"))
		usage_error("unknown command: use list, info, validate or path");
	if (!strcmp(verb, "info") ? argc - optind != 1 : argc - optind != 0)
		usage_error(!strcmp(verb, "info") ? "usage: filmeto-plugin info [--json] NAME"
						  : "unexpected argument");
	fm_plugins_scan(&p, &err);
	if (!strcmp(verb, "list")) {
		status = cmd_list(&p);
	} else if (!strcmp(verb, "info")) {
		status = cmd_info(&p, argv[optind]);
	} else {
		for (i = 0; i < p.npath; i++)
			puts(p.path[i]);
		status = FM_EXIT_OK;
	}
	fm_plugins_release(&p);
	return fm_close_stdout() ? FM_EXIT_FAILED : status;
}
