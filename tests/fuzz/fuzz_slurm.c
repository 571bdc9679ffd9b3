/*
 * Fuzz target: what Slurm's commands print, as the executor reads it
 * (lib/slurm.c). The same bytes are read as a squeue/sacct table, as one
 * scontrol job, as sbatch's job id and as sinfo's nodes. Whatever they are: every job
 * handed on has an id and a state without a control byte, strings end
 * within their fields, an error has a message, a job's fate is one of
 * the five with an error exactly when it did not end by itself or is
 * live, and nothing crashes, leaks or reads past the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_job(const struct fm_slurm_job *job)
{
	struct fm_error err = FM_ERROR_INIT;
	enum fm_slurm_fate fate;
	size_t i;

	if (!*job->id || !*job->state || strlen(job->id) >= sizeof(job->id) ||
	    strlen(job->state) >= sizeof(job->state))
		abort();
	for (i = 0; job->id[i]; i++)
		if ((unsigned char)job->id[i] <= ' ')
			abort();
	fate = fm_slurm_fate(job, 4, &err);
	if (fate > FM_SLURM_CANCELLED)
		abort();
	if ((fate == FM_SLURM_LIVE) != (err.code == FM_OK) && strcmp(job->state, "COMPLETED"))
		abort();
	if (err.code != FM_OK && (!*err.message || !err.details))
		abort();
	fm_error_release(&err);
}

static int each(void *ctx, const struct fm_slurm_job *job)
{
	(void)ctx;
	/* sacct's state may name who cancelled: the id of one of ours never holds a dot */
	if (strchr(job->id, '.') || strchr(job->id, '|') || memchr(job->state, '|', 1))
		abort();
	check_job(job);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_slurm_job job;
	char id[64], *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (fm_slurm_parse_table(text, size, each, NULL, &err) < 0 && !*err.message)
		abort();
	fm_error_release(&err);
	if (fm_slurm_parse_scontrol(text, size, &job, &err) == 0)
		check_job(&job);
	else if (!*err.message)
		abort();
	fm_error_release(&err);
	if (fm_slurm_parse_jobid(text, size, id, &err) == 0) {
		if (!*id || strspn(id, "0123456789") != strlen(id))
			abort();
	} else if (!*err.message) {
		abort();
	}
	fm_error_release(&err);
	{
		double cpus, gpus;

		/* sinfo's nodes: counts that are finite and never below zero. */
		if (fm_slurm_parse_nodes(text, size, &cpus, &gpus, &err) == 0) {
			if (!(cpus >= 0 && gpus >= 0 && cpus < 1e15 && gpus < 1e20))
				abort();
		} else if (!*err.message) {
			abort();
		}
		fm_error_release(&err);
	}
	free(text);
	return 0;
}
