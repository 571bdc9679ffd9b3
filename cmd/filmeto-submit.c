/*
 * filmeto-submit: turns what a user describes (arguments, whole task
 * objects, a storyboard, or upstream results) into task lines. Every task
 * is checked against its plugin's manifest and the whole plan against
 * itself (unknown ids, cycles) before anything is printed: all problems
 * are reported at once, and nothing reaches stdout unless all is well.
 */
#include <getopt.h>
#include <libavutil/base64.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filmeto.h"

/* Largest -p KEY=@FILE value and --resource-base64 file. */
#define VALUE_FILE_MAX	(1024 * 1024)
#define BASE64_FILE_MAX (1024 * 1024)
/* Largest --json input: a batch of many tasks. */
#define JSON_INPUT_MAX (64 * 1024 * 1024)
/* Queued tasks made durable (one fsync of queue/) and printed per batch. */
#define QUEUE_BATCH 1024

static const char usage_text[] =
    "usage: filmeto-submit -t TOOL [-P PLUGIN] [-p KEY=VALUE]... [-r PATH|URL]...\n"
    "                      [--resource-base64 FILE]... [-i ID] [--depends ID]...\n"
    "                      [--timeout S] [--preset NAME] [--dry-run] [--queue]\n"
    "       filmeto-submit --storyboard FILE [--size WxH] [--fps N] [-p KEY=VALUE]...\n"
    "                      [--dry-run] [--queue]\n"
    "       filmeto-submit --json FILE [--dry-run] [--queue]\n"
    "       filmeto-submit --each -t TOOL [-P PLUGIN] [-p KEY=VALUE]... [--preset NAME]\n"
    "       filmeto-submit --list-presets\n"
    "       filmeto-submit --cancel ID...\n"
    "\n"
    "Print task lines, each validated against its plugin's manifest.\n"
    "\n"
    "  -t, --tool TOOL          tool type, e.g. text2image (see filmeto-plugin tools)\n"
    "  -P, --plugin PLUGIN      plugin to use (default: config.yaml, else the first)\n"
    "  -p, --param KEY=VALUE    a parameter, typed by the manifest; KEY=@FILE reads\n"
    "                           the value from FILE; repeatable\n"
    "  -r, --resource PATH|URL  an input file or URL; repeatable\n"
    "      --resource-base64 FILE  an input file inlined as base64 (at most 1 MiB)\n"
    "  -i, --id ID              task id (default: TOOL-xxxxxxxx)\n"
    "      --depends ID         run after task ID; repeatable\n"
    "      --timeout SECONDS    execution timeout for this task\n"
    "      --preset NAME        parameters and prompt templates of a preset\n"
    "      --list-presets       show the presets and exit\n"
    "      --storyboard FILE    expand a storyboard (YAML or JSON; - for stdin)\n"
    "      --size WxH           film size for --storyboard\n"
    "      --fps N              film frame rate for --storyboard\n"
    "      --json FILE          whole task objects, one per line or an array (- for stdin)\n"
    "      --each               for every completed line on stdin, a task on its outputs;\n"
    "                           every input line is passed on\n"
    "      --dry-run            print the plan for a person; emit no task\n"
    "      --queue              put the tasks into the spool ($FILMETO_SPOOL, else\n"
    "                           $XDG_STATE_HOME/filmeto/spool) for filmeto-run --spool,\n"
    "                           and print their ids\n"
    "      --cancel             cancel the spooled tasks named by the IDs\n"
    "  -h, --help               show this help\n"
    "      --version            show the version\n"
    "\n"
    "Exit status: 0 printed, queued or cancelled, 1 input could not be read,\n"
    "output or the spool could not be written, or a task to cancel had already\n"
    "finished, 2 usage or validation error (or no such task in the spool).\n";

enum {
	OPT_TIMEOUT = 256,
	OPT_VERSION,
	OPT_BASE64,
	OPT_DEPENDS,
	OPT_PRESET,
	OPT_LIST_PRESETS,
	OPT_STORYBOARD,
	OPT_SIZE,
	OPT_FPS,
	OPT_JSON,
	OPT_EACH,
	OPT_DRY_RUN,
	OPT_QUEUE,
	OPT_CANCEL,
};

static const struct option options[] = {
    {"tool", required_argument, NULL, 't'},
    {"plugin", required_argument, NULL, 'P'},
    {"param", required_argument, NULL, 'p'},
    {"resource", required_argument, NULL, 'r'},
    {"resource-base64", required_argument, NULL, OPT_BASE64},
    {"id", required_argument, NULL, 'i'},
    {"depends", required_argument, NULL, OPT_DEPENDS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"list-presets", no_argument, NULL, OPT_LIST_PRESETS},
    {"storyboard", required_argument, NULL, OPT_STORYBOARD},
    {"size", required_argument, NULL, OPT_SIZE},
    {"fps", required_argument, NULL, OPT_FPS},
    {"json", required_argument, NULL, OPT_JSON},
    {"each", no_argument, NULL, OPT_EACH},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"queue", no_argument, NULL, OPT_QUEUE},
    {"cancel", no_argument, NULL, OPT_CANCEL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct strv {
	const char **v;
	size_t n;
};

struct args {
	const char *tool, *plugin, *id, *preset, *storyboard, *json, *size;
	double timeout, fps;
	struct strv params, resources, base64, depends;
	int each, dry_run, list_presets, queue, cancel;
	char **ids; /* --cancel's operands */
	int nids;
};

/* Everything a run of filmeto-submit needs at hand. */
struct submit {
	struct args a;
	struct fm_plugins plugins;
	struct fm_config config;
	json_object *preset;   /* or NULL */
	json_object *cli;      /* -p values as given: key -> string */
	json_object *problems; /* [{message}] */
	json_object *sources;  /* [{setting, value, from}] for --dry-run */
	json_object *tasks;
	int unreadable; /* an input file could not be read: exit 1 */
};

__attribute__((noreturn)) static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", fm_prog());
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fm_try_help();
}

static void push(struct strv *s, const char *v)
{
	s->v = fm_xrealloc(s->v, (s->n + 1) * sizeof(char *));
	s->v[s->n++] = v;
}

static double number(const char *opt, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || end == arg || !isfinite(v) || !(v > 0))
		usage_error("%s: not a positive number", opt);
	return v;
}

static void parse_args(int argc, char **argv, struct args *a)
{
	int c, modes;

	while ((c = getopt_long(argc, argv, "t:P:p:r:i:h", options, NULL)) != -1) {
		switch (c) {
		case 't': a->tool = optarg; break;
		case 'P': a->plugin = optarg; break;
		case 'p': push(&a->params, optarg); break;
		case 'r': push(&a->resources, optarg); break;
		case OPT_BASE64: push(&a->base64, optarg); break;
		case 'i': a->id = optarg; break;
		case OPT_DEPENDS: push(&a->depends, optarg); break;
		case OPT_TIMEOUT: a->timeout = number("--timeout", optarg); break;
		case OPT_PRESET: a->preset = optarg; break;
		case OPT_LIST_PRESETS: a->list_presets = 1; break;
		case OPT_STORYBOARD: a->storyboard = optarg; break;
		case OPT_SIZE: a->size = optarg; break;
		case OPT_FPS: a->fps = number("--fps", optarg); break;
		case OPT_JSON: a->json = optarg; break;
		case OPT_EACH: a->each = 1; break;
		case OPT_DRY_RUN: a->dry_run = 1; break;
		case OPT_QUEUE: a->queue = 1; break;
		case OPT_CANCEL: a->cancel = 1; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version();
		default: fm_try_help();
		}
	}
	if (a->cancel) {
		if (optind == argc)
			usage_error("%s", "--cancel needs the ids of the tasks to cancel");
		if (a->tool || a->storyboard || a->json || a->queue || a->each || a->dry_run)
			usage_error("%s", "--cancel takes only task ids");
		a->ids = argv + optind;
		a->nids = argc - optind;
		return;
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (a->list_presets)
		return;
	modes = !!a->storyboard + !!a->json + (a->tool && !a->storyboard && !a->json);
	if (modes != 1)
		usage_error("%s", "give one of -t TOOL, --storyboard FILE or --json FILE");
	if (a->each && !a->tool)
		usage_error("%s", "--each needs -t TOOL");
	if (a->each && a->queue)
		usage_error("%s", "--each passes lines on as they come: not with --queue");
	/* What a mode would silently ignore is a mistake worth saying. */
	if ((a->json || a->storyboard) &&
	    (a->plugin || a->id || a->timeout > 0 || a->resources.n || a->base64.n || a->depends.n))
		usage_error("%s", "-P, -r, --resource-base64, -i, --depends and --timeout "
				  "describe one task: not with --json or --storyboard");
	if (a->json && (a->params.n || a->preset))
		usage_error("%s", "-p and --preset do not apply to --json tasks");
	if ((a->size || a->fps > 0) && !a->storyboard)
		usage_error("%s", "--size and --fps are for --storyboard");
	if (a->id && !fm_id_valid(a->id))
		usage_error("task id '%s' must be 1-128 characters of A-Z a-z 0-9 . _ - "
			    "(not starting with . or -)",
			    a->id);
}

static void problem(struct submit *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct submit *s, const char *fmt, ...)
{
	json_object *e = json_object_new_object();
	char msg[FM_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_array_add(s->problems, e);
}

static void add_errors(struct submit *s, struct fm_error *err)
{
	json_object *list = fm_json_get(err->details, "errors", json_type_array);
	size_t i;

	if (!list)
		problem(s, "%s", err->message);
	for (i = 0; list && i < json_object_array_length(list); i++)
		json_object_array_add(s->problems,
				      json_object_get(json_object_array_get_idx(list, i)));
	fm_error_release(err);
}

/* -p KEY=VALUE and KEY=@FILE into s->cli, as text; typed per task later. */
static void read_params(struct submit *s)
{
	size_t i;

	for (i = 0; i < s->a.params.n; i++) {
		const char *p = s->a.params.v[i], *eq = strchr(p, '=');
		struct fm_error err = FM_ERROR_INIT;
		char *key, *buf;
		size_t len;

		if (!eq || eq == p) {
			problem(s, "-p '%s': expected KEY=VALUE", p);
			continue;
		}
		key = fm_xasprintf("%.*s", (int)(eq - p), p);
		if (eq[1] == '@') {
			if (fm_read_file(eq + 2, VALUE_FILE_MAX, &buf, &len, &err) < 0) {
				problem(s, "parameter '%s': %s", key, err.message);
				fm_error_release(&err);
				free(key);
				continue;
			}
			/* A file's last newline is its end, not part of the value. */
			if (len && buf[len - 1] == '\n')
				buf[len - 1] = '\0';
			json_object_object_add(s->cli, key, json_object_new_string(buf));
			free(buf);
		} else {
			json_object_object_add(s->cli, key, json_object_new_string(eq + 1));
		}
		free(key);
	}
}

static int is_url(const char *s)
{
	const char *p = strstr(s, "://"), *c;

	if (!p || p == s)
		return 0;
	for (c = s; c < p; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '+'))
			return 0;
	return 1;
}

static json_object *local_resource(const char *path)
{
	json_object *o = json_object_new_object();
	char *abs = fm_abspath(path);

	json_object_object_add(o, "type", json_object_new_string("local_path"));
	json_object_object_add(o, "data", json_object_new_string(abs));
	json_object_object_add(o, "mime_type", json_object_new_string(fm_mime_from_path(abs)));
	json_object_object_add(o, "metadata", json_object_new_object());
	free(abs);
	return o;
}

static json_object *resources(struct submit *s, const char *id)
{
	json_object *list = json_object_new_array();
	struct fm_error err = FM_ERROR_INIT;
	size_t i, len;
	struct stat st;
	char *buf, *b64;

	for (i = 0; i < s->a.resources.n; i++) {
		const char *r = s->a.resources.v[i];
		json_object *o;

		if (is_url(r)) {
			o = json_object_new_object();
			json_object_object_add(o, "type", json_object_new_string("remote_url"));
			json_object_object_add(o, "data", json_object_new_string(r));
			json_object_object_add(o, "metadata", json_object_new_object());
			json_object_array_add(list, o);
		} else if (stat(r, &st) != 0) {
			problem(s, "task '%s': resource '%s': no such file", id, r);
		} else {
			json_object_array_add(list, local_resource(r));
		}
	}
	for (i = 0; i < s->a.base64.n; i++) {
		const char *f = s->a.base64.v[i];
		json_object *o;

		if (fm_read_file(f, BASE64_FILE_MAX, &buf, &len, &err) < 0) {
			problem(s, "task '%s': --resource-base64 %s", id, err.message);
			fm_error_release(&err);
			continue;
		}
		b64 = fm_xmalloc(AV_BASE64_SIZE(len));
		av_base64_encode(b64, (int)AV_BASE64_SIZE(len), (const uint8_t *)buf, (int)len);
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("base64"));
		json_object_object_add(o, "data", json_object_new_string(b64));
		json_object_object_add(o, "mime_type",
				       json_object_new_string(fm_mime_from_path(f)));
		json_object_object_add(o, "metadata", json_object_new_object());
		json_object_array_add(list, o);
		free(buf);
		free(b64);
	}
	return list;
}

/* The tool a task names, from its plugin or built in (combine). */
static json_object *tool_of(struct submit *s, json_object *t, const struct fm_manifest **mp,
			    json_object **owned)
{
	const char *tool = fm_json_get_string(t, "tool_name");
	const char *plugin = fm_json_get_string(t, "plugin_name");
	const char *id = fm_json_get_string(t, "task_id");
	struct fm_error err = FM_ERROR_INIT;
	const struct fm_manifest *m;

	*mp = NULL;
	*owned = NULL;
	if (tool && !strcmp(tool, "combine") && !plugin)
		return *owned = fm_combine_tool();
	m = fm_plugins_find(
	    &s->plugins, plugin ? plugin : fm_config_default_plugin(&s->config, tool ? tool : ""),
	    tool, &err);
	if (!m) {
		problem(s, "task '%s': %s: %s", id ? id : "?", fm_code_name(err.code), err.message);
		fm_error_release(&err);
		return NULL;
	}
	*mp = m;
	return fm_manifest_tool(m, tool);
}

/*
 * Values typed in on the command line arrive as text; the manifest says
 * what they are. Only those are converted: a task object says what it
 * means.
 */
static void type_cli_values(struct submit *s, json_object *tool, json_object *params,
			    const char *id)
{
	json_object_object_foreach (s->cli, k, v) {
		json_object *cur, *pdef = fm_tool_param(tool, k), *typed;
		struct fm_error err = FM_ERROR_INIT;

		if (!json_object_object_get_ex(params, k, &cur) || cur != v || !pdef)
			continue;
		if (fm_param_from_string(pdef, json_object_get_string(v), &typed, &err) < 0) {
			problem(s, "task '%s': %s", id, err.message);
			fm_error_release(&err);
			json_object_object_del(params, k);
			continue;
		}
		json_object_object_add(params, k, typed);
	}
}

/* Plugin, preset, typing and the manifest's rules, for one task. */
/* A worker runs elsewhere, in another directory: local paths go absolute. */
static void absolute_paths(json_object *t)
{
	json_object *res = fm_json_get(t, "resources", json_type_array);
	size_t i;

	for (i = 0; res && i < json_object_array_length(res); i++) {
		json_object *r = json_object_array_get_idx(res, i);
		const char *type = fm_json_get_string(r, "type"),
			   *data = fm_json_get_string(r, "data");
		char *abs;

		if (!type || !data || strcmp(type, "local_path") || data[0] == '/')
			continue;
		abs = fm_abspath(data);
		json_object_object_add(r, "data", json_object_new_string(abs));
		free(abs);
	}
}

/*
 * What filmeto-run and a spool worker would refuse as longer than a line
 * may be (FM_LINE_MAX) is refused here, where the task can be named: an
 * --each task on 180,000 upstream files, a parameter of 1 MiB that JSON
 * escapes to six.
 */
static void check_line(struct submit *s, json_object *t, const char *id)
{
	size_t n = strlen(fm_json_str(t));

	if (n > FM_LINE_MAX)
		problem(s, "task '%s': its line would be %zu bytes, over the %d byte line limit",
			id, n, FM_LINE_MAX);
}

static void check_task(struct submit *s, json_object *t, int apply_cli)
{
	struct fm_error err = FM_ERROR_INIT;
	const struct fm_manifest *m;
	json_object *tool, *owned, *params;
	struct fm_task parsed;
	const char *id;

	if (fm_task_from_json(&parsed, t, &err) < 0) {
		problem(s, "task '%s': %s", parsed.task_id ? parsed.task_id : "?", err.message);
		fm_error_release(&err);
		fm_task_release(&parsed);
		return;
	}
	fm_task_release(&parsed);
	id = fm_json_get_string(t, "task_id");
	tool = tool_of(s, t, &m, &owned);
	if (!tool)
		return;
	if (m && !fm_json_get_string(t, "plugin_name"))
		json_object_object_add(t, "plugin_name", json_object_new_string(m->name));
	params = fm_json_get(t, "parameters", json_type_object);
	if (!params) {
		params = json_object_new_object();
		json_object_object_add(t, "parameters", params);
	}
	if (apply_cli) {
		json_object_object_foreach (s->cli, k, v) {
			json_object_object_add(params, k, json_object_get(v));
		}
	}
	type_cli_values(s, tool, params, id);
	if (s->preset) {
		const char *for_tool = fm_json_get_string(s->preset, "tool");

		if ((!for_tool || !strcmp(for_tool, fm_json_get_string(t, "tool_name"))) &&
		    fm_preset_apply(s->preset, params, &err) < 0) {
			problem(s, "task '%s': preset '%s': %s", id, s->a.preset, err.message);
			fm_error_release(&err);
		}
	}
	if (fm_params_validate(tool, params, id, &err) < 0)
		add_errors(s, &err);
	else if (owned && fm_combine_check(params, id, &err) < 0)
		add_errors(s, &err);
	json_object_put(owned);
	/* The line as the spool will hold it, its paths made absolute. */
	if (s->a.queue)
		absolute_paths(t);
	check_line(s, t, id);
}

/* 0 unvisited, 1 on the path, 2 done: a back edge is a cycle. */
static int find_cycle(json_object *byid, const char *id, json_object *state, char **path)
{
	json_object *st, *t = json_object_object_get(byid, id), *list;
	size_t i;
	int found = 0;

	if (json_object_object_get_ex(state, id, &st))
		return json_object_get_int(st) == 1;
	json_object_object_add(state, id, json_object_new_int(1));
	list = fm_task_needs(t);
	for (i = 0; !found && i < json_object_array_length(list); i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(list, i));

		if (json_object_object_get_ex(byid, d, NULL) && find_cycle(byid, d, state, path)) {
			char *p = fm_xasprintf("%s -> %s", d, *path ? *path : id);

			free(*path);
			*path = p;
			found = 1;
		}
	}
	json_object_put(list);
	json_object_object_add(state, id, json_object_new_int(found ? 1 : 2));
	return found;
}

/*
 * A plan (a storyboard, --json) must be whole: every id it names is in
 * it. A single task's --depends names a task submitted elsewhere.
 */
static void check_plan(struct submit *s, int whole)
{
	json_object *byid = json_object_new_object(), *state = json_object_new_object();
	size_t i, n = json_object_array_length(s->tasks);

	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(s->tasks, i);
		const char *id = fm_json_get_string(t, "task_id");

		if (!id)
			continue;
		if (json_object_object_get_ex(byid, id, NULL))
			problem(s, "task '%s': the id is used twice (rule: unique ids)", id);
		json_object_object_add(byid, id, json_object_get(t));
	}
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(s->tasks, i), *list = fm_task_needs(t);
		const char *id = fm_json_get_string(t, "task_id");
		size_t k;
		char *path = NULL;

		for (k = 0; id && k < json_object_array_length(list); k++) {
			const char *d = json_object_get_string(json_object_array_get_idx(list, k));

			if (whole && !json_object_object_get_ex(byid, d, NULL))
				problem(s,
					"task '%s': depends on task '%s', which is not in the plan "
					"(rule: known ids)",
					id, d);
		}
		json_object_put(list);
		if (id && find_cycle(byid, id, state, &path) && path) {
			problem(s, "task '%s': dependency cycle %s (rule: no cycles)", id, path);
			/* One report per cycle: its tasks count as done now. */
			json_object_object_foreach (state, k2, v2) {
				(void)v2;
				json_object_object_add(state, k2, json_object_new_int(2));
			}
		}
		free(path);
	}
	json_object_put(byid);
	json_object_put(state);
}

static json_object *single_task(struct submit *s, const char *id)
{
	struct fm_task t;
	json_object *o;
	char ts[32];
	size_t i;

	fm_task_init(&t);
	t.task_id = id ? fm_xstrdup(id) : s->a.id ? fm_xstrdup(s->a.id) : fm_id_new(s->a.tool);
	t.tool_name = fm_xstrdup(s->a.tool);
	t.plugin_name = s->a.plugin ? fm_xstrdup(s->a.plugin) : NULL;
	t.parameters = json_object_new_object();
	t.resources = resources(s, t.task_id);
	t.depends_on = json_object_new_array();
	for (i = 0; i < s->a.depends.n; i++)
		json_object_array_add(t.depends_on, json_object_new_string(s->a.depends.v[i]));
	t.timeout = s->a.timeout;
	fm_timestamp(ts);
	t.created_at = fm_xstrdup(ts);
	o = fm_task_to_json(&t);
	fm_task_release(&t);
	return o;
}

static int read_input(struct submit *s, const char *name, char **buf, size_t *len)
{
	struct fm_error err = FM_ERROR_INIT;

	if (fm_read_file(strcmp(name, "-") ? name : "/dev/stdin",
			 name == s->a.json ? JSON_INPUT_MAX : FM_STORYBOARD_MAX, buf, len,
			 &err) < 0) {
		problem(s, "%s", err.message);
		/* Too large is a limit, like too many scenes; not a read error. */
		if (err.code != FM_VALIDATION_ERROR)
			s->unreadable = 1;
		fm_error_release(&err);
		return -1;
	}
	return 0;
}

/* A task object with "type":"task" first, whatever it had. */
static json_object *as_task(json_object *o)
{
	json_object *t;

	if (!json_object_is_type(o, json_type_object))
		return json_object_get(o);
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("task"));
	/* A "type" of its own replaces ours in place, so a non-task is caught. */
	json_object_object_foreach (o, k, v) {
		json_object_object_add(t, k, json_object_get(v));
	}
	return t;
}

/* --json: one task object per line, or one array of them. */
static void json_tasks(struct submit *s)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *all;
	char *buf, *line, *save = NULL;
	size_t len, i, lineno = 0;

	if (read_input(s, s->a.json, &buf, &len) < 0)
		return;
	if (fm_json_parse(buf, len, &all, NULL) == 0 && json_object_is_type(all, json_type_array)) {
		for (i = 0; i < json_object_array_length(all); i++)
			json_object_array_add(s->tasks, as_task(json_object_array_get_idx(all, i)));
		json_object_put(all);
		free(buf);
		return;
	}
	json_object_put(all);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *t;

		lineno++;
		if (!line[strspn(line, " \t\r")])
			continue;
		if (fm_json_parse(line, strlen(line), &t, &err) < 0) {
			problem(s, "%s line %zu: %s", s->a.json, lineno, err.message);
			fm_error_release(&err);
			continue;
		}
		json_object_array_add(s->tasks, as_task(t));
		json_object_put(t);
	}
	free(buf);
}

static void storyboard_tasks(struct submit *s)
{
	struct fm_storyboard_opts o = {&s->plugins, &s->config, s->a.size, s->a.fps, s->cli};
	char *buf, *dir, *slash;
	size_t len;

	if (read_input(s, s->a.storyboard, &buf, &len) < 0)
		return;
	dir = fm_abspath(strcmp(s->a.storyboard, "-") ? s->a.storyboard : "./-");
	slash = strrchr(dir, '/');
	*slash = '\0';
	fm_storyboard_expand(buf, len, s->a.storyboard, dir, &o, s->tasks, s->problems, s->sources);
	free(buf);
	free(dir);
}

static void print_plan(struct submit *s)
{
	size_t i, n = json_object_array_length(s->tasks);

	printf("plan: %zu task%s\n", n, n == 1 ? "" : "s");
	for (i = 0; i < json_object_array_length(s->sources); i++) {
		json_object *e = json_object_array_get_idx(s->sources, i);

		printf("  %-12s %-16s (%s)\n", fm_json_get_string(e, "setting"),
		       json_object_is_type(json_object_object_get(e, "value"), json_type_string)
			   ? fm_json_get_string(e, "value")
			   : fm_json_str(json_object_object_get(e, "value")),
		       fm_json_get_string(e, "from"));
	}
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(s->tasks, i), *list = fm_task_needs(t);
		const char *plugin = fm_json_get_string(t, "plugin_name");

		printf("task %s: %s via %s", fm_json_get_string(t, "task_id"),
		       fm_json_get_string(t, "tool_name"), plugin ? plugin : "filmeto-run");
		if (json_object_array_length(list))
			printf(", after %s", fm_json_str(list));
		putchar('\n');
		json_object_object_foreach (fm_json_get(t, "parameters", json_type_object), k, v) {
			const char *from = json_object_object_get_ex(s->cli, k, NULL) ? "option"
					   : s->preset && json_object_object_get_ex(
							      fm_json_get(s->preset, "parameters",
									  json_type_object),
							      k, NULL)
					       ? "preset"
					   : s->a.storyboard ? "storyboard"
							     : "task";

			printf("    %-14s = %s (%s)\n", k, fm_json_str(v), from);
		}
		json_object_put(list);
	}
}

static void report(struct submit *s, size_t from)
{
	size_t i;

	for (i = from; i < json_object_array_length(s->problems); i++)
		fm_warn("%s",
			fm_json_get_string(json_object_array_get_idx(s->problems, i), "message"));
}

/* A task on an upstream result's files; 0, or -1 when it is invalid. */
static int each_task(struct submit *s, json_object *done, struct fm_writer *out)
{
	const char *up = fm_json_get_string(done, "task_id");
	json_object *files = fm_json_get(done, "output_files", json_type_array), *t, *res;
	size_t i, before = json_object_array_length(s->problems);
	char *id = fm_xasprintf("%s-%s", up, s->a.tool);
	int rc = 0;

	if (!fm_id_valid(id)) {
		free(id);
		id = fm_id_new(s->a.tool);
	}
	t = single_task(s, id);
	res = fm_json_get(t, "resources", json_type_array);
	for (i = 0; files && i < json_object_array_length(files); i++)
		json_object_array_add(res, local_resource(json_object_get_string(
					       json_object_array_get_idx(files, i))));
	check_task(s, t, 1);
	if (json_object_array_length(s->problems) > before) {
		report(s, before);
		rc = -1;
	} else {
		fm_writer_json(out, t);
	}
	json_object_put(t);
	free(id);
	return rc;
}

/*
 * --each: every upstream line goes on; each completed one also yields a
 * task. The task shape is checked once before any input is read.
 */
static int each(struct submit *s)
{
	struct fm_writer out;
	struct fm_reader in;
	enum fm_line got;
	json_object *probe = single_task(s, "each-probe");
	char *line;
	size_t len;
	int status = FM_EXIT_OK;

	check_task(s, probe, 1);
	json_object_put(probe);
	if (json_object_array_length(s->problems)) {
		report(s, 0);
		return FM_EXIT_USAGE;
	}
	fm_reader_init(&in, 0, FM_LINE_MAX);
	fm_writer_init(&out, 1);
	while ((got = fm_reader_next(&in, &line, &len)) != FM_LINE_NONE && !out.failed) {
		json_object *ev;
		const char *type;

		if (got != FM_LINE_OK) {
			status = got == FM_LINE_ERROR ? FM_EXIT_FAILED : status;
			if (got == FM_LINE_ERROR)
				break;
			continue;
		}
		fm_writer_pass(&out, &in, line, len);
		if (fm_json_parse(line, len, &ev, NULL) == 0) {
			type = fm_json_get_string(ev, "type");
			if (type && !strcmp(type, "completed") &&
			    fm_json_get_string(ev, "task_id") && each_task(s, ev, &out) < 0)
				status = FM_EXIT_USAGE;
			json_object_put(ev);
		}
		/* Downstream runs the new task while upstream still works. */
		if (in.start == in.end)
			fm_writer_flush(&out);
	}
	fm_writer_flush(&out);
	if (fm_stdout_error(out.failed) < 0)
		status = FM_EXIT_FAILED;
	fm_reader_release(&in);
	fm_writer_release(&out);
	return status;
}

/* --- the spool --------------------------------------------------------- */

/*
 * Dependencies outside the plan must be in the spool already, and ids
 * must be new to it. ids: every id the spool holds, by name.
 */
static void check_spooled(struct submit *s, json_object *spooled)
{
	json_object *mine = json_object_new_object();
	size_t i, k, n = json_object_array_length(s->tasks);

	for (i = 0; i < n; i++) {
		const char *id =
		    fm_json_get_string(json_object_array_get_idx(s->tasks, i), "task_id");
		json_object *name;

		if (!id)
			continue;
		json_object_object_add(mine, id, NULL);
		if (json_object_object_get_ex(spooled, id, &name))
			problem(s, "task '%s': the spool has a task of that id already (%s)", id,
				json_object_get_string(name));
	}
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(s->tasks, i), *list = fm_task_needs(t);
		const char *id = fm_json_get_string(t, "task_id");

		for (k = 0; id && k < json_object_array_length(list); k++) {
			const char *d = json_object_get_string(json_object_array_get_idx(list, k));

			if (!json_object_object_get_ex(mine, d, NULL) &&
			    !json_object_object_get_ex(spooled, d, NULL))
				problem(s,
					"task '%s': depends on task '%s', which is neither in the "
					"plan nor in the spool",
					id, d);
		}
		json_object_put(list);
	}
	json_object_put(mine);
}

/* Tasks after the ones they name, else in the given order (no cycles here). */
static json_object *queue_order(struct submit *s)
{
	size_t n = json_object_array_length(s->tasks), done = 0, i, k;
	json_object *order = json_object_new_array(), *placed = json_object_new_object(),
		    *pending = json_object_new_object();
	char *taken = fm_xcalloc(n ? n : 1, 1);

	for (i = 0; i < n; i++)
		json_object_object_add(
		    pending, fm_json_get_string(json_object_array_get_idx(s->tasks, i), "task_id"),
		    NULL);
	while (done < n) {
		size_t before = done;

		for (i = 0; i < n; i++) {
			json_object *t = json_object_array_get_idx(s->tasks, i), *list;
			int ready = 1;

			if (taken[i])
				continue;
			list = fm_task_needs(t);
			for (k = 0; ready && k < json_object_array_length(list); k++) {
				const char *d =
				    json_object_get_string(json_object_array_get_idx(list, k));

				ready = !json_object_object_get_ex(pending, d, NULL) ||
					json_object_object_get_ex(placed, d, NULL);
			}
			json_object_put(list);
			if (!ready)
				continue;
			taken[i] = 1;
			done++;
			json_object_array_add(order, json_object_get(t));
			json_object_object_add(placed, fm_json_get_string(t, "task_id"), NULL);
		}
		if (done == before)
			break; /* check_plan has reported the cycle */
	}
	free(taken);
	json_object_put(placed);
	json_object_put(pending);
	return order;
}

static void print_ids(json_object *order, size_t from, size_t to)
{
	for (; from < to; from++)
		puts(fm_json_get_string(json_object_array_get_idx(order, from), "task_id"));
}

/* Writes the checked tasks into the spool; ids go out once durable. */
static int queue_tasks(struct submit *s, struct fm_spool *sp)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *order = queue_order(s);
	size_t i, n = json_object_array_length(order), synced = 0;
	char name[FM_SPOOL_NAME_MAX];
	int status = FM_EXIT_OK;

	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(order, i);

		if (fm_spool_put(sp, t, name, &err) < 0)
			break;
		if ((i + 1) % QUEUE_BATCH == 0) {
			if (fm_spool_commit(sp, &err) < 0)
				break;
			print_ids(order, synced, i + 1);
			synced = i + 1;
		}
	}
	if (i == n && fm_spool_commit(sp, &err) == 0) {
		print_ids(order, synced, n);
	} else {
		fm_warn("%s", err.message);
		fm_warn("queued %zu of %zu tasks; the ids printed are in the spool", synced, n);
		status = err.code == FM_VALIDATION_ERROR ? FM_EXIT_USAGE : FM_EXIT_FAILED;
	}
	json_object_put(order);
	return status;
}

/* Entries the spool skips (a symlink or a special file among the tasks) are said. */
/*
 * Every id in the spool, mapped to its state, for the checks above. The
 * queueing lock is taken first and held until the last commit: a
 * submitter racing us for an id waits, then finds it taken.
 */
static json_object *spooled_ids(struct fm_spool *sp)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *ids;

	if (fm_spool_ids(sp, &ids, &err) < 0)
		fm_die(FM_EXIT_FAILED, "%s", err.message);
	return ids;
}

static int cancel(const struct args *a)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	int i, status = FM_EXIT_OK;

	if (fm_spool_open(&sp, NULL, &err) < 0)
		fm_die(FM_EXIT_FAILED, "%s", err.message);
	sp.warn = fm_warn_hook;
	for (i = 0; i < a->nids; i++) {
		int rc = fm_spool_cancel(&sp, a->ids[i], &err);

		if (rc < 0) {
			fm_warn("%s", err.message);
			/* The worst of all the ids: usage (2) over failure (1). */
			if (err.code != FM_RESOURCE_PROCESSING_ERROR)
				status = FM_EXIT_USAGE;
			else if (status == FM_EXIT_OK)
				status = FM_EXIT_FAILED;
			fm_error_release(&err);
		} else if (rc == 2) {
			fm_warn("task '%s' had already finished", a->ids[i]);
			if (status == FM_EXIT_OK)
				status = FM_EXIT_FAILED;
		} else {
			printf("%s\t%s\n", a->ids[i], rc == 0 ? "cancelled" : "cancelling");
		}
	}
	fm_spool_release(&sp);
	if (fm_close_stdout() && status == FM_EXIT_OK)
		status = FM_EXIT_FAILED;
	return status;
}

static int list_presets(void)
{
	json_object *list = fm_preset_list();
	size_t i;

	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *p = json_object_array_get_idx(list, i);
		const char *tool = fm_json_get_string(p, "tool");

		printf("%-16s %-12s %s\n", fm_json_get_string(p, "name"), *tool ? tool : "any",
		       fm_json_get_string(p, "description"));
	}
	json_object_put(list);
	return fm_close_stdout() ? FM_EXIT_FAILED : FM_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct submit s = {0};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp = {0};
	json_object *spooled;
	int status = FM_EXIT_OK;
	size_t i;

	fm_msg_init(argv[0]);
	/* Past ulimit -f a write fails (EFBIG) and is reported, not fatal. */
	signal(SIGXFSZ, SIG_IGN);
	/* A plugin running beside us in the pipeline must find no key of ours in /proc. */
	fm_secrets_hide();
	parse_args(argc, argv, &s.a);
	if (s.a.cancel)
		return cancel(&s.a);
	if (s.a.list_presets)
		return list_presets();
	s.problems = json_object_new_array();
	s.sources = json_object_new_array();
	s.tasks = json_object_new_array();
	s.cli = json_object_new_object();
	if (fm_config_load(&s.config, &err) < 0)
		fm_die(FM_EXIT_USAGE, "%s", err.message);
	fm_plugins_scan(&s.plugins, &err);
	if (s.a.preset && fm_preset_load(s.a.preset, &s.preset, &err) < 0)
		fm_die(FM_EXIT_USAGE, "%s", err.message);
	read_params(&s);
	if (s.a.each) {
		status = each(&s);
		goto out;
	}
	if (s.a.storyboard)
		storyboard_tasks(&s);
	else if (s.a.json)
		json_tasks(&s);
	else
		json_object_array_add(s.tasks, single_task(&s, NULL));
	for (i = 0; i < json_object_array_length(s.tasks); i++)
		check_task(&s, json_object_array_get_idx(s.tasks, i), !s.a.storyboard && !s.a.json);
	check_plan(&s, (s.a.storyboard || s.a.json) && !s.a.queue);
	if (s.a.queue) {
		if (fm_spool_open(&sp, NULL, &err) < 0)
			fm_die(FM_EXIT_FAILED, "%s", err.message);
		sp.warn = fm_warn_hook;
		spooled = spooled_ids(&sp);
		check_spooled(&s, spooled);
		json_object_put(spooled);
	}
	if (json_object_array_length(s.problems)) {
		report(&s, 0);
		status = s.unreadable ? FM_EXIT_FAILED : FM_EXIT_USAGE;
	} else if (s.a.dry_run) {
		print_plan(&s);
	} else if (s.a.queue) {
		status = queue_tasks(&s, &sp);
	} else {
		for (i = 0; i < json_object_array_length(s.tasks); i++)
			puts(fm_json_str(json_object_array_get_idx(s.tasks, i)));
	}
	/* Said whatever the status: ids that could not be printed are still queued. */
	if (fm_close_stdout() && status == FM_EXIT_OK)
		status = FM_EXIT_FAILED;
out:
	json_object_put(s.problems);
	json_object_put(s.sources);
	json_object_put(s.tasks);
	json_object_put(s.cli);
	json_object_put(s.preset);
	fm_plugins_release(&s.plugins);
	fm_config_release(&s.config);
	if (sp.dir)
		fm_spool_release(&sp);
	fm_error_release(&err);
	free(s.a.params.v);
	free(s.a.resources.v);
	free(s.a.base64.v);
	free(s.a.depends.v);
	return status;
}
