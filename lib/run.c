/*
 * The executor: one task line in, its events out. Tasks run in input
 * order on a warm process per plugin; a task that names an earlier task's
 * output (task_output) or depends on it gets that task's files, and fails
 * with DEPENDENCY_FAILED when that task failed. Every path out of here
 * emits exactly one final line for the task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "resource.h"
#include "run.h"
#include "util.h"

int fm_runner_init(struct fm_runner *r, const char *output_dir, fm_emit_fn *emit, void *ctx,
		   struct fm_error *err)
{
	memset(r, 0, sizeof(*r));
	r->output_dir = fm_abspath(output_dir);
	r->emit = emit;
	r->ctx = ctx;
	r->done = json_object_new_object();
	return fm_plugins_scan(&r->plugins, err);
}

void fm_runner_release(struct fm_runner *r)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		fm_host_release(&r->hosts[i]);
	free(r->hosts);
	fm_plugins_release(&r->plugins);
	json_object_put(r->done);
	free(r->output_dir);
	memset(r, 0, sizeof(*r));
}

/* Emits res as the task's final line and remembers how it ended. */
static int finish(struct fm_runner *r, struct fm_result *res, const char *tool, const char *plugin)
{
	json_object *line;

	if (tool)
		json_object_object_add(res->metadata, "tool_name", json_object_new_string(tool));
	if (plugin)
		json_object_object_add(res->metadata, "plugin_name",
				       json_object_new_string(plugin));
	line = fm_result_to_json(res);
	r->emit(r->ctx, line);
	if (res->task_id[0])
		json_object_object_add(r->done, res->task_id, json_object_get(line));
	json_object_put(line);
	if (res->status == FM_STATUS_SUCCESS)
		r->succeeded++;
	else
		r->failed++;
	return res->status == FM_STATUS_SUCCESS ? 0 : -1;
}

static int fail(struct fm_runner *r, const char *task_id, struct fm_error *err, const char *tool,
		const char *plugin)
{
	struct fm_result res;
	int rc;

	fm_result_init(&res, task_id);
	res.status = FM_STATUS_ERROR;
	res.attempts = 1;
	fm_error_move(&res.error, err);
	rc = finish(r, &res, tool, plugin);
	fm_result_release(&res);
	return rc;
}

/* The final line of an earlier task, or a failure naming why not. */
static json_object *earlier(struct fm_runner *r, const char *id, struct fm_error *err)
{
	json_object *line;

	if (!json_object_object_get_ex(r->done, id, &line)) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "depends on task '%s', which has not run before it", id);
		return NULL;
	}
	if (strcmp(fm_json_get_string(line, "type"), "completed")) {
		fm_error(err, FM_DEPENDENCY_FAILED, "depends on task '%s', which %s", id,
			 fm_json_get_string(line, "type"));
		fm_error_detail(err, "failed_task", json_object_new_string(id));
		return NULL;
	}
	return line;
}

/* "scene1-image" or "scene1-image#0": that task's output file(s). */
static int resolve_output(struct fm_runner *r, json_object *res, size_t index, json_object *out,
			  struct fm_error *err)
{
	const char *data = fm_json_get_string(res, "data");
	char id[FM_ID_MAX + 1];
	const char *hash = strchr(data, '#');
	size_t n = hash ? (size_t)(hash - data) : strlen(data);
	json_object *line, *files;
	size_t i, lo, hi;

	snprintf(id, sizeof(id), "%.*s", (int)(n > FM_ID_MAX ? FM_ID_MAX : n), data);
	if (!(line = earlier(r, id, err)))
		return -1;
	files = fm_json_get(line, "output_files", json_type_array);
	lo = 0;
	hi = files ? json_object_array_length(files) : 0;
	if (hash) {
		char *end;
		unsigned long k = strtoul(hash + 1, &end, 10);

		if (*end || k >= hi)
			return fm_error(err, FM_VALIDATION_ERROR,
					"resources[%zu]: task '%s' has no output #%s", index, id,
					hash + 1);
		lo = k, hi = k + 1;
	}
	for (i = lo; i < hi; i++) {
		const char *path = json_object_get_string(json_object_array_get_idx(files, i));
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("local_path"));
		json_object_object_add(o, "data", json_object_new_string(path));
		json_object_object_add(o, "mime_type",
				       json_object_new_string(fm_mime_from_path(path)));
		json_object_object_add(o, "metadata", json_object_new_object());
		json_object_array_add(out, o);
	}
	return 0;
}

/* Every task this one needs has completed; else it must not start. */
static int dependencies_met(struct fm_runner *r, const struct fm_task *t, struct fm_error *err)
{
	size_t i;

	for (i = 0; i < json_object_array_length(t->depends_on); i++)
		if (!earlier(r, json_object_get_string(json_object_array_get_idx(t->depends_on, i)),
			     err))
			return 0;
	for (i = 0; i < json_object_array_length(t->resources); i++) {
		json_object *res = json_object_array_get_idx(t->resources, i);
		const char *data = fm_json_get_string(res, "data");
		char id[FM_ID_MAX + 1];

		if (strcmp(fm_json_get_string(res, "type"), "task_output"))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)strcspn(data, "#"), data);
		if (!earlier(r, id, err))
			return 0;
	}
	return 1;
}

/* Makes every resource a local file; task outputs expand to their files. */
static int prepare(struct fm_runner *r, struct fm_task *t, const char *dir, struct fm_error *err)
{
	json_object *out = json_object_new_array();
	size_t i;

	for (i = 0; i < json_object_array_length(t->resources); i++) {
		json_object *res = json_object_array_get_idx(t->resources, i);

		if (!strcmp(fm_json_get_string(res, "type"), "task_output")) {
			if (resolve_output(r, res, i, out, err) < 0)
				goto fail;
			continue;
		}
		if (fm_resource_localize(res, dir, i, err) < 0)
			goto fail;
		json_object_array_add(out, json_object_get(res));
	}
	json_object_put(t->resources);
	t->resources = out;
	return 0;
fail:
	json_object_put(out);
	return -1;
}

static struct fm_host *host_for(struct fm_runner *r, const struct fm_manifest *m,
				const char *task_id, struct fm_error *err)
{
	struct fm_host *h = NULL;
	size_t i;

	for (i = 0; i < r->nhosts; i++) {
		if (r->hosts[i].manifest == m && !r->hosts[i].dead)
			return &r->hosts[i];
		if (r->hosts[i].dead || !r->hosts[i].manifest)
			h = &r->hosts[i];
	}
	if (h) {
		fm_host_release(h);
	} else {
		r->hosts = fm_xrealloc(r->hosts, (r->nhosts + 1) * sizeof(*r->hosts));
		h = &r->hosts[r->nhosts++];
	}
	fm_host_init(h, m);
	if (fm_host_start(h, task_id, r->emit, r->ctx, err) < 0)
		return NULL;
	return h;
}

static void emit_started(struct fm_runner *r, const struct fm_task *t, const char *plugin)
{
	json_object *ev = fm_event_new("started", t->task_id);

	json_object_object_add(ev, "plugin_name", json_object_new_string(plugin));
	json_object_object_add(ev, "tool_name", json_object_new_string(t->tool_name));
	json_object_object_add(ev, "attempt", json_object_new_int(1));
	r->emit(r->ctx, ev);
	json_object_put(ev);
}

static int run_task(struct fm_runner *r, struct fm_task *t)
{
	struct fm_error err = FM_ERROR_INIT;
	const struct fm_manifest *m;
	struct fm_result res;
	struct fm_host *h;
	json_object *tool;
	char *dir;
	int rc;

	m = fm_plugins_find(&r->plugins, t->plugin_name, t->tool_name, &err);
	if (!m)
		return fail(r, t->task_id, &err, t->tool_name, t->plugin_name);
	tool = fm_manifest_tool(m, t->tool_name);
	fm_params_fill_defaults(tool, t->parameters);
	if (fm_params_validate(tool, t->parameters, t->task_id, &err) < 0)
		return fail(r, t->task_id, &err, t->tool_name, m->name);
	if (!dependencies_met(r, t, &err))
		return fail(r, t->task_id, &err, t->tool_name, m->name);
	free(t->plugin_name);
	t->plugin_name = fm_xstrdup(m->name);
	emit_started(r, t, m->name);
	dir = fm_xasprintf("%s/%s", r->output_dir, t->task_id);
	if (fm_mkdirs(dir, &err) < 0 || prepare(r, t, dir, &err) < 0 ||
	    !(h = host_for(r, m, t->task_id, &err))) {
		free(dir);
		return fail(r, t->task_id, &err, t->tool_name, m->name);
	}
	fm_result_init(&res, t->task_id);
	fm_host_execute(h, t, dir, t->timeout > 0 ? t->timeout : m->exec_timeout, r->emit, r->ctx,
			&res);
	res.attempts = 1;
	rc = finish(r, &res, t->tool_name, m->name);
	fm_result_release(&res);
	free(dir);
	return rc;
}

int fm_runner_line(struct fm_runner *r, const char *line, size_t len, unsigned long lineno)
{
	struct fm_error err = FM_ERROR_INIT;
	char fallback[32];
	struct fm_task t;
	json_object *obj;
	const char *type;

	snprintf(fallback, sizeof(fallback), "line-%lu", lineno);
	if (fm_json_parse(line, len, &obj, &err) < 0) {
		fm_error(&err, FM_VALIDATION_ERROR, "input line %lu: %s", lineno, err.message);
		fail(r, fallback, &err, NULL, NULL);
		return 0;
	}
	type = fm_json_get_string(obj, "type");
	if (json_object_is_type(obj, json_type_object) && (!type || strcmp(type, "task"))) {
		json_object_put(obj);
		return 1;
	}
	if (fm_task_from_json(&t, obj, &err) < 0) {
		const char *id = t.task_id ? t.task_id : fallback;
		char msg[FM_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", err.message);
		fm_error(&err, FM_VALIDATION_ERROR, "task '%s' (input line %lu): %s", id, lineno,
			 msg);
		fail(r, id, &err, NULL, NULL);
	} else {
		run_task(r, &t);
	}
	fm_task_release(&t);
	json_object_put(obj);
	return 0;
}

void fm_runner_fail_line(struct fm_runner *r, unsigned long lineno, const char *why)
{
	struct fm_error err = FM_ERROR_INIT;
	char id[32];

	snprintf(id, sizeof(id), "line-%lu", lineno);
	fm_error(&err, FM_VALIDATION_ERROR, "input line %lu: %s", lineno, why);
	fail(r, id, &err, NULL, NULL);
}
