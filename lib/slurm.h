/*
 * Slurm, as filmeto-run's executor sees it: what a task asks sbatch for,
 * and what squeue, sacct, scontrol and sbatch say back. No process is
 * started here; the executor runs the commands and hands their output in.
 */
#ifndef FM_SLURM_H
#define FM_SLURM_H

#include <stddef.h>

#include <json-c/json.h>

#include "error.h"

/* The most a Slurm command's answer may hold; more is refused, not read. */
#define FM_SLURM_OUTPUT_MAX (4 * 1024 * 1024)
/* The longest line of such an answer (one job). */
#define FM_SLURM_LINE_MAX 4096
/* Added to a task's timeout for --time: filmeto starting on the node. */
#define FM_SLURM_TIME_MARGIN 60

/*
 * The sbatch options one task needs: from its tool's manifest
 * `resources:` (gpu -> --gres=gpu:N, mem_gb, else vram_gb -> --mem,
 * cpus -> --cpus-per-task), its timeout (--time, with the margin,
 * rounded up to 1, 2, 4, 8, 12 or 24 hours or whole days), and
 * config.yaml's slurm: section (partition, account, qos, sbatch_args,
 * and plugins.NAME.{partition, sbatch_args} for one plugin), then the
 * command's own --sbatch-arg options. Tasks whose keys are equal ask for
 * the same and go out as one job array.
 */
struct fm_slurm_request {
	char **argv;
	size_t argc;
	char *key; /* the options, joined by a byte no option holds */
};

int fm_slurm_request_init(struct fm_slurm_request *r, json_object *needs, double timeout,
			  json_object *slurm_config, const char *plugin, const char *const *extra,
			  size_t nextra, struct fm_error *err);
void fm_slurm_request_release(struct fm_slurm_request *r);
/* --time for a timeout: with the margin, rounded up as above, in minutes. */
double fm_slurm_time_minutes(double timeout);
/*
 * An sbatch option from the user (--sbatch-arg, sbatch_args): it starts
 * with '-' (anything else would be taken for the job's script), holds no
 * control character and is at most 1024 bytes. where names it in err.
 */
int fm_slurm_option_check(const char *arg, const char *where, struct fm_error *err);

/* One job (or array element: "123_4") as a Slurm command reports it. */
struct fm_slurm_job {
	char id[64];
	char state[64];	    /* "RUNNING", "OUT_OF_MEMORY", "CANCELLED" ... */
	char by[32];	    /* who cancelled it (sacct's "CANCELLED by UID") */
	char node[256];	    /* where it ran, or "" */
	char exit_code[32]; /* "0:0", "1:0", "0:9" (code:signal) */
	char reason[256];
};

/*
 * Reads a table of jobs, one a line, fields split on '|': `squeue -h -o
 * '%i|%T|%N|%r'` and `sacct -n -P -o JobID,State,NodeList,ExitCode,Reason`
 * both give ID|STATE|NODE[|EXIT]|REASON (squeue has no exit column: four
 * fields, sacct five). each() is called per job; its non-zero return
 * stops the reading and is returned. -1 with err for input that is no
 * such table (too big, a line too long, a field missing or too long).
 */
int fm_slurm_parse_table(const char *text, size_t len,
			 int (*each)(void *ctx, const struct fm_slurm_job *job), void *ctx,
			 struct fm_error *err);

/* One job from `scontrol show job -o ID`: its Key=Value words. */
int fm_slurm_parse_scontrol(const char *text, size_t len, struct fm_slurm_job *job,
			    struct fm_error *err);

/* The job id `sbatch --parsable` prints: "JOBID" or "JOBID;CLUSTER". */
int fm_slurm_parse_jobid(const char *text, size_t len, char id[64], struct fm_error *err);

/* The most nodes fm_slurm_parse_nodes counts. */
#define FM_SLURM_NODES_MAX 100000

/*
 * The CPUs and GPUs of the cluster from `sinfo -h -N -o '%N %c %G'`
 * (NAME CPUS GRES a line; gres like gpu:2 or gpu:a100:4(S:0-1)), each
 * node counted once, lines that are no such line passed over. -1 with
 * err for output over the bounds.
 */
int fm_slurm_parse_nodes(const char *text, size_t len, double *cpus, double *gpus,
			 struct fm_error *err);

/* What the end of a job means for its task. */
enum fm_slurm_fate {
	FM_SLURM_LIVE,	    /* pending or running: wait */
	FM_SLURM_ENDED,	    /* ended by itself: its final line says how */
	FM_SLURM_FAILED,    /* ended by Slurm: err says why (OOM, timeout) */
	FM_SLURM_RETRY,	    /* the node went away: run the task again */
	FM_SLURM_CANCELLED, /* cancelled outside filmeto: err says by whom */
};

/*
 * The fate of a job in state job->state. For one that did not end by
 * itself err gets the code (TIMEOUT_ERROR, PLUGIN_EXECUTION_ERROR naming
 * mem_gb when the job ran out of memory, SERVICE_ERROR for a node lost)
 * and details.slurm: the job id, state, node and exit code.
 */
enum fm_slurm_fate fm_slurm_fate(const struct fm_slurm_job *job, double mem_gb,
				 struct fm_error *err);
/* Adds details.slurm to err: the job's id, state, node and exit code. */
void fm_slurm_details(const struct fm_slurm_job *job, struct fm_error *err);

#endif
