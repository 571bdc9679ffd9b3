/*
 * The host side of the plugin protocol (DESIGN §3): one running plugin
 * process, its ready handshake, and the execution of one task on it with
 * progress, heartbeats and stderr turned into event lines.
 */
#ifndef FM_HOST_H
#define FM_HOST_H

#include <stdint.h>
#include <json-c/json.h>

#include "error.h"
#include "manifest.h"
#include "model.h"
#include "ndjson.h"
#include "proc.h"

/* Per task: the log lines forwarded, each line's length, lines kept for errors. */
#define FM_LOG_LINES	1000
#define FM_LOG_LINE_MAX 2048
#define FM_STDERR_TAIL	10
/* Seconds a plugin gets to leave after shutdown before it is killed. */
#define FM_SHUTDOWN_GRACE 2.0

/* Receives every event line; the callee does not keep obj. */
typedef void fm_emit_fn(void *ctx, json_object *event);

struct fm_host {
	const struct fm_manifest *manifest; /* borrowed */
	struct fm_proc proc;
	struct fm_reader out, err;
	json_object *info; /* params of the ready notification */
	int64_t next_id;
	char *tail[FM_STDERR_TAIL]; /* last stderr lines, a ring */
	unsigned ntail;
	int dead;	/* must not be given more work */
	unsigned nlogs; /* log events sent for the current task */
};

void fm_host_init(struct fm_host *h, const struct fm_manifest *m);
/*
 * Starts the plugin and waits for ready, up to its startup timeout. Its
 * stderr meanwhile becomes log events of task_id, the task that needs it.
 */
int fm_host_start(struct fm_host *h, const char *task_id, fm_emit_fn *emit, void *ctx,
		  struct fm_error *err);
/*
 * Runs task on the plugin: sends execute_task, emits progress, heartbeat
 * and log events, and fills res from the response. Returns 0 when the
 * exchange finished (res says success or error) and -1 when the plugin
 * broke (res->error says how; the host is then dead).
 */
int fm_host_execute(struct fm_host *h, const struct fm_task *task, const char *output_dir,
		    double timeout, fm_emit_fn *emit, void *ctx, struct fm_result *res);
/* Sends shutdown, closes stdin and stops the process. */
void fm_host_release(struct fm_host *h);

#endif
