/*
 * Slurm as the executor sees it: the sbatch options a task's needs and
 * config.yaml make, and the jobs read from squeue, sacct, scontrol and
 * sbatch answers as Slurm 22.05 prints them, with their bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"
#include "tap.h"
#include "util.h"

/* The request's options joined by spaces, or the error's message. */
static char *request(const char *needs, double timeout, const char *config, const char *plugin,
		     const char *extra)
{
	struct fm_slurm_request r;
	struct fm_error err = FM_ERROR_INIT;
	json_object *n = NULL, *c = NULL;
	const char *x[] = {extra};
	char *out;
	size_t i, len = 0;

	if (needs)
		parse_json(needs, &n);
	if (config)
		parse_json(config, &c);
	if (fm_slurm_request_init(&r, n, timeout, c, plugin, x, extra ? 1 : 0, &err) < 0) {
		out = fm_xstrdup(err.message);
	} else {
		out = fm_xstrdup("");
		for (i = 0; i < r.argc; i++) {
			out = fm_xrealloc(out, len + strlen(r.argv[i]) + 2);
			len += (size_t)sprintf(out + len, "%s%s", i ? " " : "", r.argv[i]);
		}
		OK(strchr(r.key, '\x1f') || r.argc < 2, "slurm request: the key joins the options");
		fm_slurm_request_release(&r);
	}
	json_object_put(n);
	json_object_put(c);
	fm_error_release(&err);
	return out;
}

static void test_request(void)
{
	char *s;

	s = request("{\"gpu\":1,\"vram_gb\":24,\"cpus\":2}", 300, NULL, "sd", NULL);
	IS_STR(s, "--gres=gpu:1 --mem=24576M --cpus-per-task=2 --time=60",
	       "slurm request: gpu, vram as memory, cpus, the timeout plus a minute in an hour");
	free(s);
	s = request(NULL, 3541, NULL, "sd", NULL);
	IS_STR(s, "--time=120", "slurm request: a minute over the hour asks for two");
	free(s);
	s = request(NULL, 30 * 3600, NULL, "sd", NULL);
	IS_STR(s, "--time=2880", "slurm request: past a day, whole days");
	free(s);
	s = request(NULL, 1e12, NULL, "sd", NULL);
	IS_STR(s, "--time=525600", "slurm request: at most a year");
	free(s);
	s = request("{\"mem_gb\":0.5,\"vram_gb\":24}", 0, NULL, "sd", NULL);
	IS_STR(s, "--mem=512M", "slurm request: mem_gb beats vram_gb; no timeout, no --time");
	free(s);
	s = request(NULL, 61.2,
		    "{\"partition\":\"cpu\",\"account\":\"film\",\"qos\":\"low\","
		    "\"sbatch_args\":[\"--exclusive\"],\"plugins\":{\"sd\":{\"partition\":"
		    "\"gpu\",\"sbatch_args\":[\"--constraint=a100\"]}}}",
		    "sd", "--nice=10");
	IS_STR(s,
	       "--time=60 --partition=cpu --account=film --qos=low --exclusive --partition=gpu "
	       "--constraint=a100 --nice=10",
	       "slurm request: config, then the plugin's own (sbatch takes the last), then "
	       "--sbatch-arg");
	free(s);
	s = request(NULL, 0, "{\"partition\":\"cpu\",\"plugins\":{\"sd\":{\"partition\":\"gpu\"}}}",
		    "espeak", NULL);
	IS_STR(s, "--partition=cpu", "slurm request: another plugin's section is not ours");
	free(s);
	s = request(NULL, 0, "{\"partition\":3}", "sd", NULL);
	IS_STR(s, "config.yaml: slurm.partition must be a string", "slurm request: a bad value");
	free(s);
	s = request(NULL, 0, "{\"plugins\":{\"sd\":{\"qos\":\"a\\nb\"}}}", "sd", NULL);
	IS_STR(s, "config.yaml: slurm.plugins.sd.qos holds a control character",
	       "slurm request: no line break into an option");
	free(s);
	s = request(NULL, 0, "{\"plugins\":{\"sd\":[1]}}", "sd", NULL);
	IS_STR(s, "config.yaml: slurm.plugins.sd must be a mapping",
	       "slurm request: a plugin's section is a mapping");
	free(s);
	s = request("{\"gpu\":\"two\"}", 0, NULL, "sd", NULL);
	IS_STR(s, "resources: gpu must be a number", "slurm request: a need is a number");
	free(s);
}

struct seen {
	char text[1024];
	int n, stop_at;
};

static int each(void *ctx, const struct fm_slurm_job *job)
{
	struct seen *s = ctx;
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "[%s %s %s %s %s %s]", job->id, job->state,
		 job->by, job->node, job->exit_code, job->reason);
	return ++s->n == s->stop_at ? 7 : 0;
}

static void test_table(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct seen s = {"", 0, 0};
	const char *squeue = "123_0|RUNNING|node1|None\n123_[1-3]|PENDING||Resources\n";
	const char *sacct =
	    "124|COMPLETED|node1|0:0|None\n124.batch|COMPLETED|node1|0:0|\n"
	    "125|CANCELLED by 1000|node1|0:15|None|\r\n126|OUT_OF_MEMORY+|n2|0:125|\n";
	char *big;

	OK(fm_slurm_parse_table(squeue, strlen(squeue), each, &s, &err) == 0 && s.n == 2,
	   "slurm table: squeue's four fields");
	IS_STR(s.text, "[123_0 RUNNING  node1  None][123_[1-3] PENDING    Resources]",
	       "slurm table: squeue's jobs, a pending array range among them");
	memset(&s, 0, sizeof(s));
	OK(fm_slurm_parse_table(sacct, strlen(sacct), each, &s, &err) == 0 && s.n == 3,
	   "slurm table: sacct's five fields, its steps skipped");
	IS_STR(s.text,
	       "[124 COMPLETED  node1 0:0 None][125 CANCELLED 1000 node1 0:15 None]"
	       "[126 OUT_OF_MEMORY  n2 0:125 ]",
	       "slurm table: who cancelled, a trailing bar, CR LF, and the + of a state");
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	IS_INT(fm_slurm_parse_table(sacct, strlen(sacct), each, &s, &err), 7,
	       "slurm table: each() stops the reading");
	OK(fm_slurm_parse_table("1|RUNNING\n", 10, each, &s, &err) < 0 &&
	       strstr(err.message, "2 fields"),
	   "slurm table: a short line is an error: %s", err.message);
	OK(fm_slurm_parse_table("|RUNNING|n|r\n", 13, each, &s, &err) < 0,
	   "slurm table: a line without a job id");
	big = fm_xcalloc(1, FM_SLURM_LINE_MAX + 20);
	memset(big, 'x', FM_SLURM_LINE_MAX + 10);
	OK(fm_slurm_parse_table(big, strlen(big), each, &s, &err) < 0 &&
	       strstr(err.message, "a line of"),
	   "slurm table: a line over the bound");
	big[5] = '|';
	big[6] = 'R';
	big[7] = '|';
	big[8] = '|';
	big[400] = '\0';
	OK(fm_slurm_parse_table(big, strlen(big), each, &s, &err) < 0 &&
	       strstr(err.message, "a reason of 391 bytes"),
	   "slurm table: a field over its size: %s", err.message);
	OK(fm_slurm_parse_table("1||n|r\n", 7, each, &s, &err) < 0 &&
	       strstr(err.message, "without a state"),
	   "slurm table: a job without a state: %s", err.message);
	free(big);
	fm_error_release(&err);
}

static void test_scontrol(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_slurm_job job;
	const char *one = "JobId=130 ArrayJobId=129 ArrayTaskId=1 JobName=filmeto UserId=root(0) "
			  "JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15 "
			  "NodeList=node1 Command=/bin/sh -c a b\n";
	const char *plain = "JobId=131 JobName=x JobState=PENDING Reason=Priority NodeList=(null)";

	OK(fm_slurm_parse_scontrol(one, strlen(one), &job, &err) == 0,
	   "scontrol: one job, one line");
	IS_STR(job.id, "129_1", "scontrol: an array element as squeue names it");
	IS_STR(job.state, "TIMEOUT", "scontrol: the state");
	IS_STR(job.node, "node1", "scontrol: the node");
	IS_STR(job.exit_code, "0:15", "scontrol: the exit code");
	IS_STR(job.reason, "TimeLimit", "scontrol: the reason");
	OK(fm_slurm_parse_scontrol(plain, strlen(plain), &job, &err) == 0 &&
	       !strcmp(job.id, "131") && !*job.node,
	   "scontrol: a plain job; (null) is no node");
	OK(fm_slurm_parse_scontrol("JobState=RUNNING", 16, &job, &err) < 0 &&
	       strstr(err.message, "JobId"),
	   "scontrol: no JobId is an error");
	OK(fm_slurm_parse_scontrol("JobId=1 X=2\nJobId=2 JobState=R", 30, &job, &err) < 0,
	   "scontrol: two jobs are an error");
	fm_error_release(&err);
}

static void test_jobid(void)
{
	struct fm_error err = FM_ERROR_INIT;
	char id[64];

	OK(fm_slurm_parse_jobid("4242\n", 5, id, &err) == 0 && !strcmp(id, "4242"),
	   "sbatch --parsable: the job id");
	OK(fm_slurm_parse_jobid("4243;farm\n", 10, id, &err) == 0 && !strcmp(id, "4243"),
	   "sbatch --parsable: the id of a job on a named cluster");
	OK(fm_slurm_parse_jobid("Submitted batch job 5\n", 22, id, &err) < 0 &&
	       strstr(err.message, "sbatch printed no job id: 'Submitted batch job 5'"),
	   "sbatch: not --parsable's answer is said");
	OK(fm_slurm_parse_jobid("", 0, id, &err) < 0, "sbatch: nothing printed");
	fm_error_release(&err);
}

static void fate_is(const char *state, const char *by, enum fm_slurm_fate want, const char *code,
		    const char *message)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_slurm_job job = {"77_2", "", "", "node1", "0:9", "None"};
	enum fm_slurm_fate got;

	snprintf(job.state, sizeof(job.state), "%s", state);
	snprintf(job.by, sizeof(job.by), "%s", by);
	got = fm_slurm_fate(&job, 8, &err);
	IS_INT(got, want, "slurm fate of %s", state);
	IS_STR(err.code ? fm_code_name(err.code) : "", code, "slurm fate of %s: the code", state);
	if (message)
		HAS(err.message, message, "slurm fate of %s: the message", state);
	if (err.code) {
		json_object *d = fm_json_get(err.details, "slurm", json_type_object);

		OK(d && !strcmp(fm_json_get_string(d, "job_id"), "77_2") &&
		       !strcmp(fm_json_get_string(d, "node"), "node1") &&
		       !strcmp(fm_json_get_string(d, "exit_code"), "0:9"),
		   "slurm fate of %s: details.slurm", state);
	}
	fm_error_release(&err);
}

static void test_fate(void)
{
	fate_is("PENDING", "", FM_SLURM_LIVE, "", NULL);
	fate_is("RUNNING", "", FM_SLURM_LIVE, "", NULL);
	fate_is("COMPLETING", "", FM_SLURM_LIVE, "", NULL);
	fate_is("COMPLETED", "", FM_SLURM_ENDED, "", NULL);
	fate_is("FAILED", "", FM_SLURM_ENDED, "PLUGIN_EXECUTION_ERROR", "exit code 0:9");
	fate_is("OUT_OF_MEMORY", "", FM_SLURM_FAILED, "PLUGIN_EXECUTION_ERROR",
		"it asked for 8 GB");
	fate_is("TIMEOUT", "", FM_SLURM_FAILED, "TIMEOUT_ERROR", "--time");
	fate_is("NODE_FAIL", "", FM_SLURM_RETRY, "SERVICE_ERROR", "on node1");
	fate_is("PREEMPTED", "", FM_SLURM_RETRY, "SERVICE_ERROR", NULL);
	fate_is("BOOT_FAIL", "", FM_SLURM_RETRY, "SERVICE_ERROR", NULL);
	fate_is("CANCELLED", "1000", FM_SLURM_CANCELLED, "TASK_CANCELLED", "by uid 1000");
	fate_is("SOMETHING_NEW", "", FM_SLURM_ENDED, "PLUGIN_EXECUTION_ERROR", "SOMETHING_NEW");
}

static void test_nodes(void)
{
	static const char two[] = "vm 2 gpu:2\nvm 2 gpu:2\nbig 64 gpu:a100:4(S:0-1),tmp:1\n"
				  "cpu1 32 (null)\nbroken\n 5 gpu:9\nodd x gpu:3\n";
	struct fm_error err = FM_ERROR_INIT;
	double cpus, gpus;
	char *huge;

	OK(fm_slurm_parse_nodes(two, strlen(two), &cpus, &gpus, &err) == 0, "slurm nodes: read");
	IS_INT((int)cpus, 98, "slurm nodes: CPUs, a node in two partitions counted once");
	IS_INT((int)gpus, 6, "slurm nodes: GPUs of gpu:N and gpu:TYPE:N(S:...), none of (null)");
	huge = fm_xmalloc(FM_SLURM_LINE_MAX + 10);
	memset(huge, 'a', FM_SLURM_LINE_MAX + 9);
	huge[FM_SLURM_LINE_MAX + 9] = '\0';
	OK(fm_slurm_parse_nodes(huge, strlen(huge), &cpus, &gpus, &err) < 0 &&
	       strstr(err.message, "sinfo"),
	   "slurm nodes: a line over the bound fails");
	fm_error_release(&err);
	free(huge);
}

void test_slurm(void)
{
	test_nodes();
	test_request();
	test_table();
	test_scontrol();
	test_jobid();
	test_fate();
}
