/*
 * Checking and ordering a plan (plan.h) in one depth-first walk: a need
 * that leads back to a task still on the walk's path closes a cycle, and
 * a task whose needs are all walked gets the round it is queued in. The
 * walk keeps its own stack, so a chain of a million tasks needs no
 * million C frames.
 *
 * The order is the one of rounds over the tasks in the order added, each
 * round taking every task whose needs are taken already (earlier in the
 * same round included): task i goes in round 1 + the latest of, for each
 * need j, round(j) when j comes before i, else round(j) + 1. A stable
 * sort by round gives the order without doing the rounds.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "combine.h"
#include "config.h"
#include "model.h"
#include "ndjson.h"
#include "plan.h"
#include "plugin.h"
#include "util.h"

void fm_plan_init(struct fm_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->byid = json_object_new_object();
}

static struct fm_plan_task *task_at(const struct fm_plan *p, size_t i)
{
	return (struct fm_plan_task *)p->tasks.s + i;
}

void fm_plan_release(struct fm_plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(task_at(p, i)->id);
		json_object_put(task_at(p, i)->needs);
	}
	fm_buf_release(&p->tasks);
	json_object_put(p->byid);
	free(p->order);
	memset(p, 0, sizeof(*p));
}

const struct fm_plan_task *fm_plan_task(const struct fm_plan *p, size_t i)
{
	return task_at(p, i);
}

static int lookup(const struct fm_plan *p, const char *id, size_t *index)
{
	json_object *v;

	if (!id || !json_object_object_get_ex(p->byid, id, &v))
		return 0;
	*index = (size_t)json_object_get_int64(v);
	return 1;
}

int fm_plan_has(const struct fm_plan *p, const char *id)
{
	size_t i;

	return lookup(p, id, &i);
}

void fm_plan_add(struct fm_plan *p, const char *id, json_object *needs)
{
	struct fm_plan_task t = {NULL, needs ? needs : json_object_new_array(), 0};

	if (id) {
		t.id = fm_xstrdup(id);
		t.twice = fm_plan_has(p, id);
		/* The last task of an id is the one its dependents are walked to. */
		json_object_object_add(p->byid, id, json_object_new_int64((int64_t)p->n));
	}
	fm_buf_add(&p->tasks, &t, sizeof(t));
	p->n++;
}

void fm_plan_add_task(struct fm_plan *p, json_object *task)
{
	fm_plan_add(p, fm_json_get_string(task, "task_id"), fm_task_needs(task));
}

/* --- the walk ------------------------------------------------------------ */

struct frame {
	size_t task, next; /* next: the need to look at next */
	size_t round;	   /* the latest round its needs walked so far ask for */
};

struct walk {
	struct fm_plan *p;
	unsigned char *state; /* 0 unvisited, 1 on the path, 2 done */
	size_t *round;	      /* from 1; 0 until done */
	struct frame *stack;
	size_t depth;
};

static void push(struct walk *w, size_t i)
{
	w->state[i] = 1;
	w->stack[w->depth++] = (struct frame){i, 0, 1};
}

/* Task i may go in no round before this one, for its need j. */
static size_t round_after(const struct walk *w, size_t i, size_t j)
{
	return w->round[j] + (j > i);
}

/*
 * The cycle as the recursive walk said it: the path below the root, the
 * task the need leads back to, and the task whose need that was.
 */
static void cycle_path(const struct walk *w, size_t back, struct fm_buf *path)
{
	size_t k, top = w->stack[w->depth - 1].task;

	for (k = 1; k < w->depth; k++)
		fm_buf_addf(path, "%s -> ", task_at(w->p, w->stack[k].task)->id);
	fm_buf_addf(path, "%s -> %s", task_at(w->p, back)->id, task_at(w->p, top)->id);
}

/* Walks from root; 1 when a cycle was found (its path in path). */
static int walk_from(struct walk *w, size_t root, struct fm_buf *path)
{
	push(w, root);
	while (w->depth) {
		struct frame *f = &w->stack[w->depth - 1];
		json_object *needs = task_at(w->p, f->task)->needs;
		size_t j;

		if (f->next < json_object_array_length(needs)) {
			json_object *d = json_object_array_get_idx(needs, f->next++);

			if (!d || !lookup(w->p, json_object_get_string(d), &j))
				continue; /* outside the plan */
			if (w->state[j] == 0) {
				push(w, j);
			} else if (w->state[j] == 1) {
				cycle_path(w, j, path);
				/* One report per cycle: its tasks count as done now. */
				while (w->depth)
					w->state[w->stack[--w->depth].task] = 2;
				return 1;
			} else if (round_after(w, f->task, j) > f->round) {
				f->round = round_after(w, f->task, j);
			}
			continue;
		}
		w->round[f->task] = f->round;
		w->state[f->task] = 2;
		if (--w->depth) {
			struct frame *up = &w->stack[w->depth - 1];

			if (round_after(w, up->task, f->task) > up->round)
				up->round = round_after(w, up->task, f->task);
		}
	}
	return 0;
}

/* A stable sort of the tasks by round. */
static void order(struct fm_plan *p, const size_t *round)
{
	size_t *start = fm_xcalloc(p->n + 2, sizeof(*start)), i;

	for (i = 0; i < p->n; i++)
		start[round[i] + 1]++;
	for (i = 1; i < p->n + 2; i++)
		start[i] += start[i - 1];
	free(p->order);
	p->order = fm_xcalloc(p->n ? p->n : 1, sizeof(*p->order));
	for (i = 0; i < p->n; i++)
		p->order[start[round[i]]++] = i;
	free(start);
}

/* Task i's needs that the plan does not hold. */
static void unknown_needs(const struct fm_plan *p, size_t i, json_object *problems)
{
	const struct fm_plan_task *t = task_at(p, i);
	size_t k;

	for (k = 0; k < json_object_array_length(t->needs); k++) {
		const char *d = json_object_get_string(json_object_array_get_idx(t->needs, k));

		if (d && !fm_plan_has(p, d))
			fm_problem(problems,
				   "task '%s': depends on task '%s', which is not in the plan "
				   "(rule: known ids)",
				   t->id, d);
	}
}

int fm_plan_check(struct fm_plan *p, int whole, json_object *problems)
{
	struct walk w = {p, fm_xcalloc(p->n ? p->n : 1, 1),
			 fm_xcalloc(p->n ? p->n : 1, sizeof(size_t)),
			 fm_xcalloc(p->n ? p->n : 1, sizeof(struct frame)), 0};
	size_t i, root, before = json_object_array_length(problems);

	for (i = 0; i < p->n; i++)
		if (task_at(p, i)->twice)
			fm_problem(problems, "task '%s': the id is used twice (rule: unique ids)",
				   task_at(p, i)->id);
	for (i = 0; i < p->n; i++) {
		const char *id = task_at(p, i)->id;
		struct fm_buf path = FM_BUF_INIT;

		if (!id)
			continue;
		if (whole)
			unknown_needs(p, i, problems);
		if (lookup(p, id, &root) && !w.state[root] && walk_from(&w, root, &path))
			fm_problem(problems, "task '%s': dependency cycle %s (rule: no cycles)", id,
				   fm_buf_str(&path));
		fm_buf_release(&path);
	}
	/* Tasks without an id, or with one a later task took: only their round is wanted. */
	for (i = 0; i < p->n; i++) {
		struct fm_buf path = FM_BUF_INIT;

		if (!w.state[i])
			walk_from(&w, i, &path);
		fm_buf_release(&path);
	}
	order(p, w.round);
	free(w.state);
	free(w.round);
	free(w.stack);
	return json_object_array_length(problems) > before ? -1 : 0;
}

/* --- each task ----------------------------------------------------------- */

/* The manifest's list of broken rules, one problem each, or its message. */
static void add_errors(json_object *problems, struct fm_error *err)
{
	json_object *list = fm_json_get(err->details, "errors", json_type_array);
	size_t i;

	if (!list)
		fm_problem(problems, "%s", err->message);
	for (i = 0; list && i < json_object_array_length(list); i++)
		json_object_array_add(problems,
				      json_object_get(json_object_array_get_idx(list, i)));
	fm_error_release(err);
}

/* The tool a task names, from its plugin or built in (combine). */
static json_object *tool_of(const struct fm_plan_rules *r, json_object *t,
			    const struct fm_manifest **mp, json_object **owned,
			    json_object *problems)
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
	m = fm_plugins_find(r->plugins,
			    plugin ? plugin : fm_config_default_plugin(r->config, tool ? tool : ""),
			    tool, &err);
	if (!m) {
		fm_problem(problems, "task '%s': %s: %s", id ? id : "?", fm_code_name(err.code),
			   err.message);
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
static void type_values(const struct fm_plan_rules *r, json_object *tool, json_object *params,
			const char *id, json_object *problems)
{
	if (!r->values)
		return;
	json_object_object_foreach (r->values, k, v) {
		json_object *cur, *pdef = fm_tool_param(tool, k), *typed;
		struct fm_error err = FM_ERROR_INIT;

		if (!json_object_object_get_ex(params, k, &cur) || cur != v || !pdef)
			continue;
		if (fm_param_from_string(pdef, json_object_get_string(v), &typed, &err) < 0) {
			fm_problem(problems, "task '%s': %s", id, err.message);
			fm_error_release(&err);
			json_object_object_del(params, k);
			continue;
		}
		json_object_object_add(params, k, typed);
	}
}

/*
 * What filmeto-run and a spool worker would refuse as longer than a line
 * may be (FM_LINE_MAX) is refused here, where the task can be named: an
 * --each task on 180,000 upstream files, a parameter of 1 MiB that JSON
 * escapes to six.
 */
static void check_line(json_object *t, const char *id, json_object *problems)
{
	size_t n = strlen(fm_json_str(t));

	if (n > FM_LINE_MAX)
		fm_problem(problems,
			   "task '%s': its line would be %zu bytes, over the %d byte line limit",
			   id, n, FM_LINE_MAX);
}

/* The preset, on a task of its tool (or on every task, when it names none). */
static void apply_preset(const struct fm_plan_rules *r, json_object *t, json_object *params,
			 const char *id, json_object *problems)
{
	const char *for_tool = fm_json_get_string(r->preset, "tool");
	struct fm_error err = FM_ERROR_INIT;

	if ((!for_tool || !strcmp(for_tool, fm_json_get_string(t, "tool_name"))) &&
	    fm_preset_apply(r->preset, params, &err) < 0) {
		fm_problem(problems, "task '%s': preset '%s': %s", id, r->preset_name, err.message);
		fm_error_release(&err);
	}
}

void fm_plan_check_task(const struct fm_plan_rules *r, json_object *t, int add_values,
			json_object *problems)
{
	struct fm_error err = FM_ERROR_INIT;
	const struct fm_manifest *m;
	json_object *tool, *owned, *params;
	struct fm_task parsed;
	const char *id;

	if (fm_task_from_json(&parsed, t, &err) < 0) {
		fm_problem(problems, "task '%s': %s", parsed.task_id ? parsed.task_id : "?",
			   err.message);
		fm_error_release(&err);
		fm_task_release(&parsed);
		return;
	}
	fm_task_release(&parsed);
	id = fm_json_get_string(t, "task_id");
	tool = tool_of(r, t, &m, &owned, problems);
	if (!tool)
		return;
	if (m && !fm_json_get_string(t, "plugin_name"))
		json_object_object_add(t, "plugin_name", json_object_new_string(m->name));
	params = fm_json_get(t, "parameters", json_type_object);
	if (!params) {
		params = json_object_new_object();
		json_object_object_add(t, "parameters", params);
	}
	if (add_values && r->values) {
		json_object_object_foreach (r->values, k, v) {
			json_object_object_add(params, k, json_object_get(v));
		}
	}
	type_values(r, tool, params, id, problems);
	/* A local input named by a parameter, made absolute as -r's files are. */
	if (fm_tool_param(tool, "input_image_path"))
		fm_params_absolute_image(params);
	if (r->preset)
		apply_preset(r, t, params, id, problems);
	if (fm_params_validate_inputs(tool, params, fm_json_get(t, "resources", json_type_array),
				      id, &err) < 0)
		add_errors(problems, &err);
	else if (owned && fm_combine_check(params, id, &err) < 0)
		add_errors(problems, &err);
	json_object_put(owned);
	/* The line as the spool will hold it, its paths made absolute. */
	if (r->absolute)
		fm_task_absolute_paths(t);
	check_line(t, id, problems);
}

void fm_plan_check_tasks(const struct fm_plan_rules *r, json_object *tasks, int add_values,
			 int whole, struct fm_plan *p, json_object *problems)
{
	size_t i, n = json_object_array_length(tasks);

	for (i = 0; i < n; i++)
		fm_plan_check_task(r, json_object_array_get_idx(tasks, i), add_values, problems);
	for (i = 0; i < n; i++)
		fm_plan_add_task(p, json_object_array_get_idx(tasks, i));
	fm_plan_check(p, whole, problems);
}
