/*
 * The jobs of one filmeto-run --executor slurm: tasks handed over here
 * become elements of Slurm job arrays, and what they do comes back. A
 * task's line goes to a folder every node sees; tasks that ask for the
 * same (fm_slurm_request's key) and arrive together go out as one
 * `sbatch --array`, each element running filmeto-run on its node against
 * its one task, with its events written beside the line. The head reads
 * those event files by offset (no inotify: NFS would not tell it), and
 * asks squeue about every job of the run at once, once per poll; a job
 * gone without a final line is looked up (sacct, or scontrol on a
 * cluster without accounting) and its state says how the task ended.
 * Every Slurm command runs through fm_proc_run: its own process group,
 * bounded output, a timeout.
 */
#ifndef FM_SLURM_RUN_H
#define FM_SLURM_RUN_H

#include <json-c/json.h>

#include "error.h"
#include "slurm.h"

/* Defaults; each is documented in filmeto-run(1). */
#define FM_SLURM_POLL	     5.0  /* seconds between squeue calls */
#define FM_SLURM_READ	     0.25 /* seconds between reads of the event files */
#define FM_SLURM_GATHER	     0.1  /* a submission waits this long for more tasks */
#define FM_SLURM_GATHER_MAX  1.0  /* ... and at most this long */
#define FM_SLURM_HOLD	     2.0  /* ... or this long while more of its level come */
#define FM_SLURM_CMD_TIMEOUT 60.0 /* the longest a Slurm command may take */
#define FM_SLURM_LOST	     60.0 /* squeue failing this long fails the jobs */
#define FM_SLURM_JOBS	     256  /* -j's default: jobs of the run in Slurm at once */
/* Past the grace, how long a cancelled job has to leave the queue. */
#define FM_SLURM_CANCEL_WAIT 15.0
/* The run's folder, under the shared directory. */
#define FM_SLURM_DIR ".filmeto-slurm"

struct fm_slurm_run_opts {
	const char *shared_dir;	 /* the run's folder goes under it */
	const char *output_dir;	 /* the nodes' -d: each task's outputs */
	const char *filmeto_run; /* what the nodes run, an absolute path */
	int cache;		 /* 0: the nodes run with --no-cache */
	double poll;		 /* seconds between squeue calls */
	json_object *config;	 /* config.yaml's slurm:, borrowed, or NULL */
	const char *const *sbatch_args;
	size_t nsbatch_args;
};

/* What the jobs say, to the executor. tag is what fm_slurm_run_add got. */
struct fm_slurm_sink {
	void *ctx;
	/* A started, progress or log line from the task's node (borrowed). */
	void (*event)(void *ctx, void *tag, json_object *ev, const char *job_id);
	/*
	 * The task's job is over: with fate FM_SLURM_ENDED, final is the
	 * final line its node wrote (borrowed; its paths not yet checked);
	 * otherwise final is NULL and err says what Slurm did, with
	 * details.slurm (err is the callee's to release). job_id is "" when
	 * the task never reached Slurm (sbatch failed).
	 */
	void (*ended)(void *ctx, void *tag, json_object *final, enum fm_slurm_fate fate,
		      struct fm_error *err, const char *job_id);
};

struct fm_slurm_run;

/* Makes the run's folder (SHARED/.filmeto-slurm/RUN-ID) and its job script. */
int fm_slurm_run_new(struct fm_slurm_run **r, const struct fm_slurm_run_opts *o,
		     struct fm_error *err);
/*
 * Hands a task over: line is its task line as the node's filmeto-run is
 * to read it; resources its tool's manifest resources: (gpu, mem_gb,
 * vram_gb, cpus), timeout its timeout, plugin its plugin's name; feeds:
 * other tasks wait for it. While tasks that feed others run, what
 * gathered waits for the tasks they will make ready, as the tasks of one
 * level of the DAG go out in one array, but never longer than
 * FM_SLURM_HOLD since the first came. -1 with err when the request
 * cannot be made (config.yaml's slurm: is wrong).
 */
int fm_slurm_run_add(struct fm_slurm_run *r, void *tag, json_object *line, json_object *resources,
		     double timeout, const char *plugin, int feeds, struct fm_error *err);
/*
 * Cancels the task's job: 1 when it never reached Slurm and is forgotten
 * already; 0 when its job is to be scancel'd (one scancel for all at the
 * next step), after which ended() says how it ended.
 */
int fm_slurm_run_cancel(struct fm_slurm_run *r, void *tag);
/* Forgets a task without a word (the executor ended it itself). */
void fm_slurm_run_forget(struct fm_slurm_run *r, void *tag);
/*
 * Does what is due: submits what gathered, scancels what was cancelled,
 * reads the event files, asks squeue. Returns when it wants to be
 * called again (fm_now()'s clock; INFINITY when it has no job).
 */
double fm_slurm_run_step(struct fm_slurm_run *r, const struct fm_slurm_sink *s);
/*
 * scancels whatever is left, waits (up to FM_SLURM_CANCEL_WAIT) for the
 * jobs it or anyone cancelled to leave the queue, and removes the run's
 * folder.
 */
void fm_slurm_run_free(struct fm_slurm_run *r);

#endif
