/*
 * filmeto-submit: turns what a user describes (arguments, whole task
 * objects, a storyboard, or upstream results) into task lines. Every task
 * is checked against its plugin's manifest and the whole plan against
 * itself (unknown ids, cycles) before anything is printed: all problems
 * are reported at once, and nothing reaches stdout unless all is well.
 */
#include <getopt.h>
#include <signal.h>
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

static const char usage_text[] =
    "usage: filmeto-submit -t TOOL [-P PLUGIN] [-p KEY=VALUE]... [-r PATH|URL]...\n"
    "                      [--resource-base64 FILE]... [-i ID] [--depends ID]...\n"
    "                      [--timeout S] [--preset NAME] [--dry-run] [--queue]\n"
    "       filmeto-submit --storyboard FILE [--size WxH] [--fps N] [-p KEY=VALUE]...\n"
    "                      [--dry-run] [--queue]\n"
    "       filmeto-submit --json FILE [--dry-run] [--queue]\n"
    "       filmeto-submit --each -t TOOL [-P PLUGIN] [-p KEY=VALUE]... [--preset NAME]\n"
    "       filmeto-submit --list-presets[=json]\n"
    "       filmeto-submit --cancel ID...\n"
    "\n"
    "Print task lines, each validated against its plugin's manifest. A storyboard's\n"
    "or --json's lines follow a plan line: how many tasks, which makes the film.\n"
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
    "      --list-presets[=json]\n"
    "                           show the presets (as one JSON array) and exit\n"
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
    {"list-presets", optional_argument, NULL, OPT_LIST_PRESETS},
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
	struct fm_error err = FM_ERROR_INIT;
	double v;

	if (fm_arg_positive(opt, arg, &v, &err) < 0)
		usage_error("%s", err.message);
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
		case OPT_LIST_PRESETS:
			if (optarg && strcmp(optarg, "json") && strcmp(optarg, "text"))
				usage_error("--list-presets=%s: use text or json", optarg);
			a->list_presets = optarg && !strcmp(optarg, "json") ? 2 : 1;
			break;
		case OPT_STORYBOARD: a->storyboard = optarg; break;
		case OPT_SIZE: a->size = optarg; break;
		case OPT_FPS: a->fps = number("--fps", optarg); break;
		case OPT_JSON: a->json = optarg; break;
		case OPT_EACH: a->each = 1; break;
		case OPT_DRY_RUN: a->dry_run = 1; break;
		case OPT_QUEUE: a->queue = 1; break;
		case OPT_CANCEL: a->cancel = 1; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version(fm_revision(), fm_libraries());
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
		usage_error("task id '%s' must be " FM_ID_RULE, a->id);
	if (a->plugin && !fm_plugin_name_valid(a->plugin))
		usage_error("-P: '%.128s' is not a plugin name: " FM_PLUGIN_NAME_RULE, a->plugin);
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
			fm_problem(s->problems, "-p '%s': expected KEY=VALUE", p);
			continue;
		}
		key = fm_xasprintf("%.*s", (int)(eq - p), p);
		if (eq[1] == '@') {
			if (fm_read_file(eq + 2, VALUE_FILE_MAX, &buf, &len, &err) < 0) {
				fm_problem(s->problems, "parameter '%s': %s", key, err.message);
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

static json_object *resources(struct submit *s, const char *id)
{
	json_object *list = json_object_new_array(), *o;
	struct fm_error err = FM_ERROR_INIT;
	struct stat st;
	size_t i;

	for (i = 0; i < s->a.resources.n; i++) {
		const char *r = s->a.resources.v[i];

		if (fm_url_like(r))
			json_object_array_add(list, fm_resource_remote(r));
		else if (stat(r, &st) != 0)
			fm_problem(s->problems, "task '%s': resource '%s': no such file", id, r);
		else
			json_object_array_add(list, fm_resource_local(r));
	}
	for (i = 0; i < s->a.base64.n; i++) {
		if (fm_resource_base64_file(s->a.base64.v[i], BASE64_FILE_MAX, &o, &err) < 0) {
			fm_problem(s->problems, "task '%s': --resource-base64 %s", id, err.message);
			fm_error_release(&err);
			continue;
		}
		json_object_array_add(list, o);
	}
	return list;
}

/* The rules a task is checked by: plugins, config, -p values, the preset. */
static struct fm_plan_rules rules(struct submit *s)
{
	struct fm_plan_rules r = {.plugins = &s->plugins,
				  .config = &s->config,
				  .values = s->cli,
				  .preset = s->preset,
				  .preset_name = s->a.preset,
				  .absolute = s->a.queue};

	return r;
}

/* Plugin, preset, typing and the manifest's rules, for one task. */
static void check_task(struct submit *s, json_object *t, int apply_cli)
{
	struct fm_plan_rules r = rules(s);

	fm_plan_check_task(&r, t, apply_cli, s->problems);
}

/* Every task, then the plan they make: as filmeto-serve checks what it is sent. */
static void check_tasks(struct submit *s, struct fm_plan *plan, int apply_cli, int whole)
{
	struct fm_plan_rules r = rules(s);

	fm_plan_check_tasks(&r, s->tasks, apply_cli, whole, plan, s->problems);
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
		fm_problem(s->problems, "%s", err.message);
		/* Too large is a limit, like too many scenes; not a read error. */
		if (err.code != FM_VALIDATION_ERROR)
			s->unreadable = 1;
		fm_error_release(&err);
		return -1;
	}
	return 0;
}

/* --json: one task object per line, or one array of them. */
static void json_tasks(struct submit *s)
{
	char *buf;
	size_t len;

	if (read_input(s, s->a.json, &buf, &len) < 0)
		return;
	fm_tasks_read(buf, len, s->a.json, s->tasks, s->problems);
	free(buf);
}

static void storyboard_tasks(struct submit *s)
{
	struct fm_storyboard_opts o = {&s->plugins, &s->config, s->a.size, s->a.fps,
				       s->cli,	    0,		NULL};
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

/*
 * The line before a plan's tasks, so whoever watches knows the total from
 * the start: a film's bar is not at 80% with 3 of 17 tasks done. The film
 * is the last combine task: the one a storyboard makes.
 */
static void plan_line(const struct submit *s)
{
	json_object *o = json_object_new_object();
	size_t i, n = json_object_array_length(s->tasks);
	const char *film = NULL;

	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(s->tasks, i);
		const char *tool = fm_json_get_string(t, "tool_name");

		if (tool && !strcmp(tool, "combine"))
			film = fm_json_get_string(t, "task_id");
	}
	json_object_object_add(o, "type", json_object_new_string("plan"));
	json_object_object_add(o, "tasks", json_object_new_int64((int64_t)n));
	if (film)
		json_object_object_add(o, "film_task_id", json_object_new_string(film));
	puts(fm_json_str(o));
	json_object_put(o);
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
		json_object_array_add(res, fm_resource_local(json_object_get_string(
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

static void print_ids(void *ctx, size_t from, size_t to)
{
	json_object *order = ctx;

	for (; from < to; from++)
		puts(fm_json_get_string(json_object_array_get_idx(order, from), "task_id"));
}

/* Writes the checked tasks into the spool in plan order; ids go out once durable. */
static int queue_tasks(struct submit *s, struct fm_spool *sp, const struct fm_plan *plan)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *order = json_object_new_array();
	size_t i, n = plan->n, queued;
	int status = FM_EXIT_OK;

	for (i = 0; i < n; i++)
		json_object_array_add(
		    order, json_object_get(json_object_array_get_idx(s->tasks, plan->order[i])));
	if (fm_spool_enqueue(sp, order, print_ids, order, &queued, &err) < 0) {
		fm_warn("%s", err.message);
		fm_warn("queued %zu of %zu tasks; the ids printed are in the spool", queued, n);
		status = err.code == FM_VALIDATION_ERROR ? FM_EXIT_USAGE : FM_EXIT_FAILED;
	}
	json_object_put(order);
	return status;
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

static int list_presets(int json)
{
	json_object *list = fm_preset_list();
	size_t i;

	if (json) {
		puts(fm_json_str(list));
		json_object_put(list);
		return fm_close_stdout() ? FM_EXIT_FAILED : FM_EXIT_OK;
	}
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
	struct fm_plan plan;
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
		return list_presets(s.a.list_presets == 2);
	s.problems = json_object_new_array();
	s.sources = json_object_new_array();
	s.tasks = json_object_new_array();
	s.cli = json_object_new_object();
	fm_plan_init(&plan);
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
	/*
	 * A plan (a storyboard, --json) must be whole: every id it names is in
	 * it. A single task's --depends names a task submitted elsewhere, and
	 * a queued one's must be in the spool.
	 */
	check_tasks(&s, &plan, !s.a.storyboard && !s.a.json,
		    (s.a.storyboard || s.a.json) && !s.a.queue);
	if (s.a.queue) {
		if (fm_spool_open(&sp, NULL, &err) < 0)
			fm_die(FM_EXIT_FAILED, "%s", err.message);
		/* Entries the spool skips (a symlink or a special file among the tasks) are said.
		 */
		sp.warn = fm_warn_hook;
		if (fm_spool_check_plan(&sp, &plan, s.problems, &err) < 0)
			fm_die(FM_EXIT_FAILED, "%s", err.message);
	}
	if (json_object_array_length(s.problems)) {
		report(&s, 0);
		status = s.unreadable ? FM_EXIT_FAILED : FM_EXIT_USAGE;
	} else if (s.a.dry_run) {
		print_plan(&s);
	} else if (s.a.queue) {
		status = queue_tasks(&s, &sp, &plan);
	} else {
		if (s.a.storyboard || s.a.json)
			plan_line(&s);
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
	fm_plan_release(&plan);
	if (sp.dir)
		fm_spool_release(&sp);
	fm_error_release(&err);
	free(s.a.params.v);
	free(s.a.resources.v);
	free(s.a.base64.v);
	free(s.a.depends.v);
	return status;
}
