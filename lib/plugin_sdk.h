/*
 * The C plugin SDK: a plugin is a manifest plus a handler function.
 * fm_plugin_main() speaks the plugin side of the protocol (DESIGN §3):
 * announces ready, answers ping and get_info, runs execute_task through
 * the handler, notices cancel and shutdown, and leaves when stdin closes.
 */
#ifndef FM_PLUGIN_SDK_H
#define FM_PLUGIN_SDK_H

#include <stdint.h>

#include <json-c/json.h>

#include "model.h"

struct fm_plugin_ctx;
struct fm_http;

struct fm_plugin_def {
	const char *name;
	const char *version;
	/*
	 * Runs one task: write outputs into output_dir, add them with
	 * fm_result_add_file(), return 0. On failure fill res->error (with
	 * fm_error()) and return -1. task->parameters has defaults filled.
	 * output_dir may not exist yet: a handler that writes there makes it
	 * first with fm_mkdirs(), so tasks without files cost no directory.
	 */
	int (*execute)(struct fm_plugin_ctx *ctx, const struct fm_task *task,
		       const char *output_dir, struct fm_result *res);
};

int fm_plugin_main(int argc, char **argv, const struct fm_plugin_def *def);
/*
 * The same loop over any descriptors: requests on in, responses and
 * notifications on out, log lines on log. Built-in tools (combine) are
 * served this way on a thread of filmeto-run. Returns when in closes or
 * the host says shutdown; closes none of the descriptors.
 */
int fm_plugin_serve(const struct fm_plugin_def *def, int in, int out, int log);
/*
 * A number parameter (def when absent) within min..max, or a
 * VALIDATION_ERROR naming it; the manifest checks too, but a task line
 * may come from anywhere.
 */
int fm_param_number(json_object *params, const char *key, double def, double min, double max,
		    double *out, struct fm_error *err);
/* A frame side for H.264 in 4:2:0: an even integer from 16 to 4096. */
int fm_param_even(json_object *params, const char *key, int def, int *out, struct fm_error *err);
/*
 * The task's input of a role: the first resource with a file ("data")
 * whose metadata.role is role or also (when not NULL), else the first
 * whose MIME type (as given, else guessed from the file's name) starts
 * with kind ("image/"); NULL when there is none.
 */
json_object *fm_plugin_input(const struct fm_task *task, const char *kind, const char *role,
			     const char *also);
/*
 * Renders a filter graph (lib/render.h) into output_dir/name, made
 * first, with progress ("frame N of FRAMES", stage render) and cancel
 * wired to the host, and adds the file to res. Returns 0, or -1 with
 * res->error filled.
 */
int fm_plugin_render(struct fm_plugin_ctx *ctx, const char *graph, const char *output_dir,
		     const char *name, int fps_num, int fps_den, int64_t frames,
		     struct fm_result *res);
struct fm_render;
/*
 * fm_plugin_render of a render the plugin has set up (r->graph, the
 * frame rate, a frame source, ...); path, duration, progress, cancelled
 * and ctx are filled in here.
 */
int fm_plugin_render_with(struct fm_plugin_ctx *ctx, const struct fm_render *r,
			  const char *output_dir, const char *name, int64_t frames,
			  struct fm_result *res);
struct AVFrame;
/*
 * A still read once: probed and refused as fm_plugin_check_media does,
 * then its first frame decoded and passed through filters (a chain such
 * as "scale=640:-2,format=yuv420p", or NULL) into *frame, which the
 * caller frees with av_frame_free. The same error as
 * fm_plugin_check_media's when it cannot be read.
 */
int fm_plugin_read_image(const char *path, const char *filters, struct AVFrame **frame,
			 struct fm_error *err);
/*
 * Probes an input file, then decodes its first frame (what is "image":
 * a picture, else audio), so a bad input fails before any output; a
 * RESOURCE_PROCESSING_ERROR "cannot read WHAT 'PATH': why" otherwise.
 */
int fm_plugin_check_media(const char *what, const char *path, struct fm_error *err);
/* A progress notification for the task being run; stage may be NULL. */
void fm_plugin_progress(struct fm_plugin_ctx *ctx, double percent, const char *stage,
			const char *message);
void fm_plugin_heartbeat(struct fm_plugin_ctx *ctx);
/* Whether the host asked to cancel the running task (checks stdin). */
int fm_plugin_cancelled(struct fm_plugin_ctx *ctx);
/*
 * The plugin's settings: config.yaml's plugins.NAME mapping, which
 * filmeto-run sends with each task as "settings"; NULL when there is
 * none.
 */
json_object *fm_plugin_settings(struct fm_plugin_ctx *ctx);
/*
 * One setting, by precedence: the task's parameter key (a non-empty
 * string), then the environment variable env (when env is not NULL and
 * the variable is set and not empty), then key in the plugin's settings
 * (a string or a number, as text), then def. The string lives as long
 * as the task.
 */
const char *fm_plugin_setting(struct fm_plugin_ctx *ctx, const struct fm_task *task,
			      const char *key, const char *env, const char *def);
/*
 * A number setting read from v: v itself when it is a JSON number, else
 * its text, which must be a number whole; def when v is NULL. Within
 * min..max, or a VALIDATION_ERROR naming the setting key.
 */
int fm_setting_number(json_object *v, const char *key, double def, double min, double max,
		      double *out, struct fm_error *err);
/*
 * A number setting by fm_plugin_setting()'s precedence, with no
 * variable: the task's parameter key (a number, or text that is not
 * empty), then key in the plugin's settings (a number or text), then
 * def; read and bounded by fm_setting_number().
 */
int fm_plugin_number(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *key,
		     double def, double min, double max, double *out, struct fm_error *err);
/* fm_plugin_cancelled() for a callback's void pointer (fm_http.cancelled). */
int fm_plugin_cancel_check(void *ctx);
/*
 * How a remote plugin tells the host that an HTTP request waits to be
 * retried: "WHY; retry N in S s" (or "SERVICE busy (WHY); retry N in S
 * s"), once on the log and once as a progress event.
 */
struct fm_plugin_retry {
	struct fm_plugin_ctx *ctx;
	double percent;	     /* the event's percent; below 0, the last the task reported */
	const char *stage;   /* the event's stage */
	const char *service; /* names who is busy, or NULL */
};

/* An fm_http.retrying callback; retry is a struct fm_plugin_retry. */
void fm_plugin_retrying(void *retry, int attempt, double wait, const char *why);
/*
 * Ties an HTTP client (lib/http.h) to the task: the host's cancel
 * aborts its transfers and its waits, and each retry is told as retry
 * says. retry lives as long as the client is used for the task.
 */
void fm_plugin_http(struct fm_http *h, struct fm_plugin_retry *retry);
/*
 * A line on the plugin's log (stderr), which the host forwards; like every
 * message the SDK sends, redacted of the process's secrets (lib/redact.h).
 */
void fm_plugin_log(struct fm_plugin_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
