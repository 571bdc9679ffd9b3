/*
 * The wire model of DESIGN §2: tasks, events and results, and their
 * round trip through json-c. Field names follow the seeds (FilmetoTask,
 * TaskProgress, TaskResult); every line carries "type" first.
 */
#ifndef FM_MODEL_H
#define FM_MODEL_H

#include <json-c/json.h>

#include "error.h"
#include "util.h"

/* Tool types of DESIGN §2; a manifest may name others. */
extern const char *const fm_tool_types[];

/*
 * Where a task records the name of the filmeto-serve key that queued it
 * (in its metadata). Outputs are shared through the cache only among
 * tasks of one key (lib/cache.h).
 */
#define FM_OWNER_KEY "queued_by"

struct fm_task {
	char *task_id;
	char *tool_name;
	char *plugin_name;	 /* NULL: the first plugin serving the tool */
	json_object *parameters; /* object */
	json_object *resources;	 /* array of resource objects */
	json_object *depends_on; /* array of task ids */
	json_object *metadata;	 /* object */
	double timeout;		 /* seconds; 0 means "the manifest's" */
	char *created_at;	 /* NULL when not given */
};

void fm_task_init(struct fm_task *t);
void fm_task_release(struct fm_task *t);
/*
 * Reads a task object (its "type" must be "task" when present). On error
 * the message says which field breaks which rule, and t->task_id is set
 * whenever the object had a usable one, so the failure can be reported
 * against it.
 */
int fm_task_from_json(struct fm_task *t, json_object *obj, struct fm_error *err);
json_object *fm_task_to_json(const struct fm_task *t);
/*
 * The ids a task line waits for: its depends_on and the task named by each
 * task_output resource ("ID" or "ID#N"). A new array, possibly empty. A
 * reference that does not parse names no task: fm_task_from_json refuses
 * it, saying why.
 */
json_object *fm_task_needs(json_object *task);

/* The largest N of a task_output reference "ID#N". */
#define FM_TASK_OUTPUT_MAX 1000000
/*
 * A task_output resource's data: "ID", every output of task ID, or
 * "ID#N", its output N (from 0). The one parser of this syntax.
 */
struct fm_task_ref {
	char id[FM_ID_MAX + 1];
	long output; /* N, or -1: every output */
};
/* 0, or -1 with a VALIDATION_ERROR quoting text and saying which rule it breaks. */
int fm_task_ref_parse(const char *text, struct fm_task_ref *ref, struct fm_error *err);

/*
 * Task objects written by hand (filmeto-submit --json): one per line, or
 * one JSON array of them. Each is appended to tasks with "type":"task"
 * first (a "type" of its own replaces it in place, so a non-task is
 * caught by fm_task_from_json). A line that is not JSON is a problem
 * ({message}, "NAME line N: why", counting the lines that are not
 * empty). buf is NUL-terminated and is cut into lines (changed).
 */
/*
 * A task object as filmeto-submit --json reads it: a new reference with
 * "type":"task" first (a "type" of its own replaces it in place, so a
 * non-task is caught by fm_task_from_json); not an object: o itself.
 */
json_object *fm_task_object(json_object *o);
void fm_tasks_read(char *buf, size_t len, const char *name, json_object *tasks,
		   json_object *problems);
/*
 * A tool's input_image_path parameter (ComfyUI's) names a local input
 * file, like a local_path resource: made absolute (from the current
 * directory) when it is relative.
 */
void fm_params_absolute_image(json_object *params);
/* Local paths of a task's resources made absolute: a worker runs elsewhere. */
void fm_task_absolute_paths(json_object *task);

/* Resource types of DESIGN §2. */
int fm_resource_type_valid(const char *type);
/* Whether s reads as a URL: a scheme (a letter, then letters, digits, '+', '-', '.') before "://".
 */
int fm_url_like(const char *s);
/* A new local_path resource: path made absolute, its MIME type from its name. */
json_object *fm_resource_local(const char *path);
/* A new remote_url resource. */
json_object *fm_resource_remote(const char *url);
/*
 * A new base64 resource holding the file at path (at most max bytes), or
 * -1 with err from reading it.
 */
int fm_resource_base64_file(const char *path, size_t max, json_object **res, struct fm_error *err);
/* A MIME type from a file name's extension; "application/octet-stream". */
const char *fm_mime_from_path(const char *path);
/* "image", "video", "audio", "text" or "file", from a MIME type. */
const char *fm_media_kind(const char *mime);

enum fm_status {
	FM_STATUS_SUCCESS,
	FM_STATUS_ERROR,
	FM_STATUS_CANCELLED,
};

struct fm_result {
	char *task_id;
	enum fm_status status;
	json_object *output_files;     /* array of paths */
	json_object *output_resources; /* array of resource outputs */
	struct fm_error error;	       /* code FM_OK on success */
	double execution_time;
	int attempts;	       /* 0: not reported */
	json_object *metadata; /* object */
	/* Private: output_files as a set, so that adding stays O(1) per file. */
	json_object *files_seen;
};

void fm_result_init(struct fm_result *r, const char *task_id);
void fm_result_release(struct fm_result *r);
/* Appends a path to output_files. */
void fm_result_add_file(struct fm_result *r, const char *path);
/*
 * Adds an existing file (absolute path) to output_files and a resource
 * entry {type, path, mime_type, size, metadata} to output_resources,
 * once; fails naming the path when there is no such regular file.
 */
int fm_result_add_output(struct fm_result *r, const char *path, struct fm_error *err);
/* The final event line: "completed", "failed" or "cancelled". */
json_object *fm_result_to_json(const struct fm_result *r);
/* Reads a final event line back. */
int fm_result_from_json(struct fm_result *r, json_object *obj, struct fm_error *err);
const char *fm_status_event(enum fm_status s);

/* A new event {"type":type,"task_id":id,"timestamp":now}. */
json_object *fm_event_new(const char *type, const char *task_id);

#endif
