/*
 * One plugin process on the host side of the protocol (DESIGN §3): its
 * spawn with the manifest's command and environment, buffered
 * non-blocking writes to its stdin, its stdout and stderr readers, the
 * last stderr lines for error reports, and its end. Deciding what the
 * messages mean is the executor's business (exec.h).
 */
#ifndef FM_HOST_H
#define FM_HOST_H

#include <stdint.h>
#include <json-c/json.h>

#include "buf.h"
#include "error.h"
#include "manifest.h"
#include "model.h"
#include "ndjson.h"
#include "proc.h"

/* Per task: log lines forwarded, each line's length, lines kept for errors. */
#define FM_LOG_LINES	1000
#define FM_LOG_LINE_MAX 2048
#define FM_STDERR_TAIL	10
/* Seconds a plugin gets to leave after shutdown before it is killed. */
#define FM_SHUTDOWN_GRACE 2.0

struct fm_host {
	const struct fm_manifest *manifest; /* borrowed */
	struct fm_proc proc;
	int scratch; /* a built-in child's scratch note (a memfd), or -1 */
	struct fm_reader out, err;
	struct fm_buf wbuf; /* queued lines for the plugin's stdin */
	size_t woff;	    /* how much of wbuf is written */
	json_object *info;  /* params of the ready notification */
	int64_t next_id;
	char *tail[FM_STDERR_TAIL]; /* last stderr lines, a ring */
	unsigned ntail;
};

void fm_host_init(struct fm_host *h, const struct fm_manifest *m);
/*
 * Starts the plugin in its directory, in its own process group. A tool
 * built into filmeto-run runs in a child too, its helper m->serve
 * (builtin.h) run as "HELPER FM_HOST_BUILTIN NAME", so a crash inside
 * libav fails its task, not filmeto-run; a helper not found fails it
 * with PLUGIN_NOT_FOUND naming where it was looked for.
 */
int fm_host_spawn(struct fm_host *h, struct fm_error *err);

/* argv[1] of a built-in's child: not an option, never typed by a user. */
#define FM_HOST_BUILTIN "--filmeto-builtin"
/*
 * The child's side, the helper's main(): with argv[1] FM_HOST_BUILTIN
 * and argv[2] name, runs serve (fm_combine_serve) on stdin and stdout
 * and returns the exit status; 2 for another name, -1 for any other
 * arguments. serve is passed in, so that host.c, which every command
 * links, does not pull in the tool and the media libraries it needs.
 */
int fm_host_builtin_main(int argc, char **argv, const char *name, fm_proc_main *serve);
/*
 * In the child, the folder the built-in is filling now (NULL: none), so
 * that if the child dies the host removes it (fm_host_release). Only a
 * folder whose name starts with FM_HOST_SCRATCH_PREFIX is ever removed.
 */
#define FM_HOST_SCRATCH_PREFIX ".filmeto-"
void fm_host_scratch(const char *dir);
/* Queues one message for the plugin's stdin. */
void fm_host_send(struct fm_host *h, json_object *msg);
/* Writes what the pipe takes now: 0, or -1 when the plugin stopped reading. */
int fm_host_flush(struct fm_host *h);
int fm_host_wants_write(const struct fm_host *h);
/* Keeps a stderr (or stray stdout) line for error reports. */
void fm_host_remember(struct fm_host *h, const char *line);
/*
 * The plugin broke: kill its group, reap it, and fill err with
 * PLUGIN_EXECUTION_ERROR "plugin 'x' WHY; it exited with status 3" and
 * details {exit_status | signal, stderr: [last lines]}.
 */
int fm_host_broke(struct fm_host *h, struct fm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * A TaskResult (DESIGN §3) into res: status, outputs, the error a failed
 * result carries. Each output (relative paths are output_dir's) must be a
 * regular file, not a symbolic link, that resolves to somewhere inside
 * output_dir, itself a directory and not a link; else the task fails with
 * PLUGIN_EXECUTION_ERROR naming the path and why. film, for a built-in
 * tool only, is the film the user asked for outside output_dir (combine's
 * -o), allowed with its sidecars; NULL for none.
 */
void fm_host_take_result(const struct fm_host *h, json_object *result, const char *output_dir,
			 const char *film, struct fm_result *res);
/*
 * 0 when dir, a task's output folder, is a directory of its own or does
 * not exist yet; PLUGIN_EXECUTION_ERROR when something else (a symbolic
 * link planted to lead elsewhere) has its name.
 */
int fm_host_output_dir(const char *dir, struct fm_error *err);
/* Sends shutdown, closes stdin, and waits (up to grace) before killing. */
void fm_host_stop(struct fm_host *h, double grace);
void fm_host_release(struct fm_host *h);

#endif
