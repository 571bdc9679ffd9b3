/*
 * The executor behind filmeto-run: takes task lines, finds the plugin,
 * keeps one warm process per plugin, prepares resources as local files,
 * and emits started, progress and exactly one final line per task.
 */
#ifndef FM_RUN_H
#define FM_RUN_H

#include <stddef.h>
#include <json-c/json.h>

#include "host.h"
#include "plugin.h"

struct fm_runner {
	struct fm_plugins plugins;
	char *output_dir; /* absolute; each task writes in output_dir/task_id */
	fm_emit_fn *emit;
	void *ctx;
	struct fm_host *hosts; /* one per plugin started so far */
	size_t nhosts;
	json_object *done; /* task id -> its final line, for dependents */
	unsigned long failed, succeeded;
};

int fm_runner_init(struct fm_runner *r, const char *output_dir, fm_emit_fn *emit, void *ctx,
		   struct fm_error *err);
/* Stops every plugin process. */
void fm_runner_release(struct fm_runner *r);
/*
 * One input line. A task line is run to its final event; a line that is
 * not a JSON object, or a task line that breaks the model, fails with
 * VALIDATION_ERROR (lineno names it when it has no usable task id);
 * other lines are handed back: returns 1 when the caller should pass the
 * line through unchanged, else 0.
 */
int fm_runner_line(struct fm_runner *r, const char *line, size_t len, unsigned long lineno);

/* Fails input line lineno, which could not be read, with VALIDATION_ERROR. */
void fm_runner_fail_line(struct fm_runner *r, unsigned long lineno, const char *why);

#endif
