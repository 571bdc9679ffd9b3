/*
 * The executor behind filmeto-run: one event loop over the input, every
 * plugin process's pipes and the timers. Tasks form a DAG (depends_on and
 * task_output resources, naming tasks before or after them in the
 * input); ready tasks are admitted in submission order within -j and the
 * scarce-resource limits; plugin processes are pooled per plugin, kept
 * warm, and replaced when they fail; a failure that can pass is retried
 * with backoff; every task ends in exactly one final line.
 */
#ifndef FM_EXEC_H
#define FM_EXEC_H

#include <signal.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "error.h"
#include "model.h"
#include "ndjson.h"

/* Defaults; each is documented in filmeto-run(1). */
#define FM_HEARTBEAT	 5.0   /* seconds between our heartbeat lines */
#define FM_GRACE	 5.0   /* seconds between cancel and kill */
#define FM_TERM_GRACE	 0.5   /* SIGTERM to SIGKILL, for a plugin that cannot cancel */
#define FM_IDLE_TIMEOUT	 120.0 /* a running task's plugin silent this long */
#define FM_IDLE_SHUTDOWN 30.0  /* an idle plugin process lives this long */
#define FM_RETRY_BASE	 0.5   /* first backoff, doubled per attempt */
#define FM_RETRY_MAX	 30.0  /* longest backoff */
#define FM_READY_PER_JOB 64    /* ready tasks buffered per -j slot */
/* Seconds events may wait for a running task's answer to share its write. */
#define FM_EVENT_HOLD 0.002

/* The largest FILM.json read for its stamp (-o's film reused). */
#define FM_FILM_SIDECAR_MAX (64 << 20)

/*
 * What one line may carry from a plugin, so that every line we write fits
 * FM_LINE_MAX and a reader never drops a task's final line. A result's
 * metadata and its error's details over their share are replaced by
 * {"truncated":{"size":N,"limit":L}}; output lists over theirs fail the
 * task (dropping outputs would lie). A progress event's data over its
 * share becomes the same marker, and every text of a progress or log
 * event is cut at FM_LOG_LINE_MAX bytes. What is left of a line (ids,
 * the error message, timestamps, our own fields) fits in the remainder.
 */
#define FM_RESULT_METADATA_MAX (1024 * 1024)
#define FM_RESULT_DETAILS_MAX  (256 * 1024)
#define FM_RESULT_OUTPUTS_MAX  (2 * 1024 * 1024)
#define FM_PROGRESS_DATA_MAX   (256 * 1024)
_Static_assert(FM_RESULT_METADATA_MAX + FM_RESULT_DETAILS_MAX + FM_RESULT_OUTPUTS_MAX +
		       512 * 1024 <=
		   FM_LINE_MAX,
	       "a final line's shares must leave room for the rest of the line");

/* Results handed to on_result at once, each on a thread of its own. */
#define FM_EXEC_PUBLISH_MAX 4

struct fm_exec_opts {
	const char *output_dir;
	int jobs;	      /* tasks in flight at once */
	double heartbeat;     /* 0: no heartbeat lines of our own */
	double grace;	      /* cancel to SIGTERM */
	double queue_timeout; /* 0: wait for resources forever */
	double idle_shutdown;
	json_object *limits; /* {"gpu":1,"vram_gb":24} or NULL */
	int cache;	     /* answer from the output cache */
	const char *cache_dir;
	const char *film; /* -o: where the combine task writes the film */
	int placeholder;  /* --placeholder: failed scenes become title cards */
	/*
	 * --executor slurm: every task but the film's combine runs as a
	 * Slurm job (slurm_run.h), its files under shared_dir (NULL: the
	 * output directory), with sbatch_args after config.yaml's options,
	 * squeue asked every slurm_poll seconds (0: config.yaml's
	 * slurm.poll, else FM_SLURM_POLL).
	 */
	int slurm;
	const char *shared_dir;
	const char *const *sbatch_args;
	size_t nsbatch_args;
	double slurm_poll;
	/*
	 * When set, called with each successful result before its final
	 * line is written, with the folder its outputs are relative to (the
	 * film's for -o's combine task, else output_dir/TASK_ID): uploads to
	 * object storage (lib/s3.h), which may turn it into a failure. It
	 * runs off the loop, on a thread, FM_EXEC_PUBLISH_MAX at once (so
	 * it must be safe to call from several threads); the task's final
	 * line, and its dependents, wait for it, nothing else does.
	 */
	void (*on_result)(void *ctx, const char *base_dir, int film, struct fm_result *res);
	void *result_ctx;
	/* When set, every event goes here (borrowed) instead of to out. */
	void (*on_event)(void *ctx, json_object *ev);
	void *event_ctx;
};

struct fm_exec;

int fm_exec_new(struct fm_exec **x, const struct fm_exec_opts *o, struct fm_writer *out,
		struct fm_error *err);
/* Runs the tasks on fd until it ends (tasks may still be running). */
int fm_exec_input(struct fm_exec *x, int fd, const char *name);
/*
 * Runs until every task has ended: FM_OUTCOME_OK, FM_OUTCOME_TASK_FAILED
 * (a task failed or was cancelled, or a line could not be written) or
 * FM_OUTCOME_INTERRUPTED (a signal cancelled everything).
 */
enum fm_outcome fm_exec_finish(struct fm_exec *x);
void fm_exec_free(struct fm_exec *x);
/*
 * For the command's SIGINT/SIGTERM/SIGHUP handler, installed with
 * SA_SIGINFO (async-signal-safe): records the signal and returns how
 * many stops have been asked for so far. The first cancels everything
 * with a grace period, the second skips it; what more do is the
 * command's to decide (filmeto-run kills every plugin group at the third
 * and exits 130 at once). A signal sent by a plugin or anything it
 * started (fm_proc_origin) stops us too, but never hurries the stop, and
 * the tasks of that plugin are to blame for it (fm_exec_blamed).
 */
int fm_exec_signal(int sig, const siginfo_t *si);
/*
 * For a caller that feeds tasks itself (the spool worker): one input line;
 * one turn of the loop that also returns, with 1, when fd is readable, or
 * after wait seconds; the tasks not yet ended; whether a signal cancelled
 * everything; cancel one task (-1 when it is not here); a task that ended
 * elsewhere, for dependents to see (-1 when the id is taken); and dropping
 * an ended task from the table so a long-lived worker does not grow.
 */
void fm_exec_line(struct fm_exec *x, const char *line, size_t len);
int fm_exec_turn(struct fm_exec *x, int fd, double wait);
unsigned long fm_exec_live(const struct fm_exec *x);
int fm_exec_interrupted(const struct fm_exec *x);
/* The task that writes -o's film, or NULL when no combine task came. */
const char *fm_exec_film_task(const struct fm_exec *x);
int fm_exec_cancel(struct fm_exec *x, const char *id, const char *why);
/*
 * Whether the signal that stopped us came from the plugin running task
 * id (or from what it started): that signal, with its sender's pid in
 * *sender; 0 for a stop from outside. Asked as the task ends.
 */
int fm_exec_blamed(struct fm_exec *x, const char *id, pid_t *sender);
int fm_exec_ended(struct fm_exec *x, const char *id, enum fm_status st, const char *plugin,
		  json_object *files);
void fm_exec_forget(struct fm_exec *x, const char *id);
/* Parses "gpu=1,vram_gb=24" into an object; VALIDATION_ERROR otherwise. */
int fm_exec_parse_limits(const char *spec, json_object **out, struct fm_error *err);

#endif
