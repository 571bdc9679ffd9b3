/*
 * A plan, checked before anything of it runs or is queued: each task
 * against its plugin's manifest (fm_plan_check_task), and the whole
 * against itself, tasks by id and the ids each waits for (ids used twice,
 * ids it does not hold, cycles), then put in the order to queue or run
 * them in, both in one walk of the graph (fm_plan_check, which knows ids
 * only). filmeto-submit checks and queues its tasks with it; an executor
 * that spreads a DAG over machines plans with it too. Problems are
 * returned as {message} objects, all of them; nothing is printed.
 */
#ifndef FM_PLAN_H
#define FM_PLAN_H

#include <stddef.h>
#include <json-c/json.h>

#include "buf.h"

struct fm_plan_task {
	char *id;	    /* NULL: the task had none; it is ordered, never checked */
	json_object *needs; /* the ids it waits for (array) */
	int twice;	    /* an earlier task has its id */
};

struct fm_plan {
	struct fm_buf tasks; /* struct fm_plan_task[n], in the order added */
	size_t n;
	json_object *byid; /* id -> index of the last task of that id */
	/*
	 * After fm_plan_check: task indices, each task after the ones of the
	 * plan it needs, else in the order added (what is ready in a round
	 * goes in that round, as a queue is worked). Meaningless while the
	 * plan has an id twice or a cycle.
	 */
	size_t *order;
};

void fm_plan_init(struct fm_plan *p);
void fm_plan_release(struct fm_plan *p);
/* Task i (from 0, in the order added). */
const struct fm_plan_task *fm_plan_task(const struct fm_plan *p, size_t i);
/*
 * Adds a task: its id (NULL when it has none) and the ids it waits for,
 * a JSON array whose reference the plan takes (a need that is not a
 * string is named by its JSON text, a null one is skipped).
 */
void fm_plan_add(struct fm_plan *p, const char *id, json_object *needs);
/* fm_plan_add of a task object: its task_id and fm_task_needs. */
void fm_plan_add_task(struct fm_plan *p, json_object *task);
/* Whether a task of the plan has this id. */
int fm_plan_has(const struct fm_plan *p, const char *id);
/*
 * Checks the plan and orders it (p->order). Each problem is appended to
 * problems ({message}, see fm_problem), in this order: every id used
 * twice; then, task by task, the ids it needs that the plan does not
 * hold (only when whole: a plan that must name nothing but its own
 * tasks), and a dependency cycle reached from it, said once per cycle.
 * Returns 0, or -1 when there were problems.
 */
int fm_plan_check(struct fm_plan *p, int whole, json_object *problems);

struct fm_plugins;
struct fm_config;

/* What fm_plan_check_task checks a task against. */
struct fm_plan_rules {
	const struct fm_plugins *plugins;
	const struct fm_config *config;
	json_object *values;	 /* key -> text (-p), typed by each task's manifest; or NULL */
	json_object *preset;	 /* applied to the tasks of its tool; or NULL */
	const char *preset_name; /* for messages */
	int absolute;		 /* local paths made absolute: the task is to be queued */
};

/*
 * One task object, completed and checked in place: read as a task
 * (fm_task_from_json); its plugin (plugin_name, else the config's default
 * for the tool, else the first serving it; combine without one is built
 * in) named in plugin_name; every value of r->values added when
 * add_values, and those the task holds as given typed by the manifest;
 * the preset applied; the parameters validated; its line no longer than
 * FM_LINE_MAX. Each problem is appended to problems ({message}).
 */
void fm_plan_check_task(const struct fm_plan_rules *r, json_object *task, int add_values,
			json_object *problems);
/*
 * What filmeto-submit and filmeto-serve check before printing or queueing
 * an array of task objects: each task (fm_plan_check_task, add_values as
 * there), then the plan made of them all (fm_plan_add_task, fm_plan_check
 * with whole as there). Problems are appended to problems.
 */
void fm_plan_check_tasks(const struct fm_plan_rules *r, json_object *tasks, int add_values,
			 int whole, struct fm_plan *p, json_object *problems);

#endif
