/*
 * The jobs of a filmeto-run --executor slurm (slurm_run.h). The run's
 * folder, SHARED/.filmeto-slurm/RUN-ID, holds for each task handed over
 * a number N: N.task (its line), N.events (what its node's filmeto-run
 * wrote), and for each submission list-K (the numbers of its elements,
 * one a line) and slurm-JOB_ELEMENT.out (Slurm's own output of an
 * element, whose last line explains a job that died without a word).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "model.h"
#include "ndjson.h"
#include "proc.h"
#include "slurm_run.h"
#include "util.h"

/* The most elements one sbatch --array gets (Slurm's MaxArraySize is 1001). */
#define ARRAY_MAX 1000
/* The most job ids one scancel, sacct or squeue call names. */
#define IDS_MAX 500
/* The most of an event file read at one look. */
#define READ_MAX (2 * (size_t)FM_LINE_MAX)

enum sjob_state { S_GATHERING, S_SUBMITTED, S_GONE };

enum { C_SBATCH, C_SQUEUE, C_SACCT, C_SCONTROL, C_SCANCEL };
static const char *const commands[] = {"sbatch", "squeue", "sacct", "scontrol", "scancel"};

struct sjob {
	void *tag;
	char *task_id;
	struct fm_slurm_request req;
	double mem_gb;
	unsigned long n; /* N.task, N.events */
	enum sjob_state state;
	char job_id[96]; /* "1234_5" once submitted */
	off_t offset;	 /* how much of N.events was read */
	int cancel_wanted, cancel_sent, forgotten;
	unsigned long seen; /* the last squeue look that listed it */
	json_object *held;  /* a failed or cancelled line, until Slurm says why */
	struct sjob *next;
};

struct fm_slurm_run {
	struct fm_slurm_run_opts o;
	char *dir, *script, name[32];
	struct sjob *jobs, **tail;
	unsigned long count, lists, looks, live;
	double gather_from, gather_until, next_read, next_poll, failing_since;
	int no_sacct;
	unsigned long calls[5];
};

/* --- commands ----------------------------------------------------------- */

/* The last line a command printed, for a message: trimmed, at most 300 bytes. */
static void last_line(const char *text, char *buf, size_t len)
{
	size_t n = strlen(text), end;

	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	end = n;
	while (n && text[n - 1] != '\n')
		n--;
	snprintf(buf, len, "%.*s", (int)(end - n > 300 ? 300 : end - n), text + n);
	/* A terminal escape in Slurm's words must not reach ours. */
	for (n = 0; buf[n]; n++)
		if ((unsigned char)buf[n] < 0x20 || buf[n] == 0x7f)
			buf[n] = ' ';
}

/*
 * Runs a Slurm command: 0 with its output when it exited 0, else -1 with
 * err naming what it said (FM_SERVICE_ERROR).
 */
static int slurm(struct fm_slurm_run *r, int which, char **argv, struct fm_proc_output *out,
		 struct fm_error *err)
{
	extern char **environ;
	char said[320];

	r->calls[which]++;
	if (fm_proc_run(argv, environ, FM_SLURM_CMD_TIMEOUT, FM_SLURM_OUTPUT_MAX, out, err) <
	    0) {
		char msg[FM_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", err->message);
		fm_error_release(err);
		return fm_error(err, FM_SERVICE_ERROR, "slurm: %s", msg);
	}
	if (WIFEXITED(out->status) && WEXITSTATUS(out->status) == 0 && !out->over)
		return 0;
	last_line(*out->err ? out->err : out->out, said, sizeof(said));
	if (out->over)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: %s said more than %d bytes",
				commands[which], FM_SLURM_OUTPUT_MAX);
	return fm_error(err, FM_SERVICE_ERROR, "slurm: %s failed: %s", commands[which],
			*said ? said : "it printed nothing");
}

/* --- the run's folder --------------------------------------------------- */

/* s in single quotes, for the job script. */
static void quote(struct fm_buf *b, const char *s)
{
	fm_buf_addstr(b, "'");
	for (; *s; s++) {
		if (*s == '\'')
			fm_buf_addstr(b, "'\\''");
		else
			fm_buf_add(b, s, 1);
	}
	fm_buf_addstr(b, "'");
}

/*
 * What every element runs: the task numbered on line SLURM_ARRAY_TASK_ID
 * + 1 of the list it is given, its events appended to N.events (a
 * requeued element writes after what its first run wrote).
 */
static int write_script(struct fm_slurm_run *r, struct fm_error *err)
{
	struct fm_buf b = FM_BUF_INIT;
	int rc;

	fm_buf_addstr(&b, "#!/bin/sh\n"
			  "# An element of a filmeto-run --executor slurm job array.\n"
			  "n=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$1\")\n"
			  "case $n in\n"
			  "''|*[!0-9]*) echo \"filmeto: no task $SLURM_ARRAY_TASK_ID in $1\" >&2; "
			  "exit 2 ;;\n"
			  "esac\n"
			  "exec ");
	quote(&b, r->o.filmeto_run);
	fm_buf_addstr(&b, " -j 1 --heartbeat 0 -d ");
	quote(&b, r->o.output_dir);
	if (!r->o.cache)
		fm_buf_addstr(&b, " --no-cache");
	fm_buf_addstr(&b, " <");
	quote(&b, r->dir);
	fm_buf_addstr(&b, "/\"$n\".task >>");
	quote(&b, r->dir);
	fm_buf_addstr(&b, "/\"$n\".events\n");
	r->script = fm_xasprintf("%s/job.sh", r->dir);
	rc = fm_write_file(r->script, fm_buf_str(&b), b.len, err);
	fm_buf_release(&b);
	if (rc == 0 && chmod(r->script, 0700) < 0)
		return fm_error(err, FM_VALIDATION_ERROR, "cannot make '%s' executable:",
				r->script);
	return rc;
}

int fm_slurm_run_new(struct fm_slurm_run **rp, const struct fm_slurm_run_opts *o,
		     struct fm_error *err)
{
	struct fm_slurm_run *r = fm_xcalloc(1, sizeof(*r));
	char *top, *id;

	*rp = r;
	r->o = *o;
	if (r->o.poll <= 0)
		r->o.poll = FM_SLURM_POLL;
	r->tail = &r->jobs;
	r->gather_until = r->next_read = r->next_poll = INFINITY;
	id = fm_id_new("filmeto");
	snprintf(r->name, sizeof(r->name), "%s", id);
	free(id);
	top = fm_xasprintf("%s/%s", o->shared_dir, FM_SLURM_DIR);
	r->dir = fm_xasprintf("%s/%s", top, r->name + strlen("filmeto-"));
	if (fm_mkdirs(top, err) < 0) {
		free(top);
		return -1;
	}
	free(top);
	/* Ours alone: a task line may hold what the user would not show. */
	if (mkdir(r->dir, 0700) < 0)
		return fm_error(err, FM_VALIDATION_ERROR, "--shared-dir: cannot make '%s':",
				r->dir);
	return write_script(r, err);
}

/* --- handing tasks over -------------------------------------------------- */

static struct sjob *find(struct fm_slurm_run *r, void *tag)
{
	struct sjob *s;

	for (s = r->jobs; s; s = s->next)
		if (s->tag == tag && s->state != S_GONE)
			return s;
	return NULL;
}

int fm_slurm_run_add(struct fm_slurm_run *r, void *tag, json_object *line,
		     json_object *resources, double timeout, const char *plugin,
		     struct fm_error *err)
{
	struct sjob *s = fm_xcalloc(1, sizeof(*s));
	double now = fm_now();
	const char *text;
	char *path;
	size_t len;
	int rc;

	if (fm_slurm_request_init(&s->req, resources, timeout, r->o.config, plugin,
				  r->o.sbatch_args, r->o.nsbatch_args, err) < 0) {
		free(s);
		return -1;
	}
	s->mem_gb = fm_json_get_double(resources, "mem_gb", 0);
	if (s->mem_gb <= 0)
		s->mem_gb = fm_json_get_double(resources, "vram_gb", 0);
	s->tag = tag;
	s->task_id = fm_xstrdup(fm_json_get_string(line, "task_id"));
	s->n = ++r->count;
	text = json_object_to_json_string_length(line, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE,
						 &len);
	path = fm_xasprintf("%s/%lu.task", r->dir, s->n);
	{
		char *withnl = fm_xasprintf("%s\n", text);

		rc = fm_write_file(path, withnl, len + 1, err);
		free(withnl);
	}
	free(path);
	if (rc < 0) {
		fm_slurm_request_release(&s->req);
		free(s->task_id);
		free(s);
		return -1;
	}
	*r->tail = s;
	r->tail = &s->next;
	r->live++;
	/* Tasks that come together go out together. */
	if (isinf(r->gather_until))
		r->gather_from = now;
	r->gather_until = fmin(now + FM_SLURM_GATHER, r->gather_from + FM_SLURM_GATHER_MAX);
	return 0;
}

static void gone(struct fm_slurm_run *r, struct sjob *s)
{
	s->state = S_GONE;
	json_object_put(s->held);
	s->held = NULL;
	r->live--;
}

int fm_slurm_run_cancel(struct fm_slurm_run *r, void *tag)
{
	struct sjob *s = find(r, tag);

	if (!s)
		return 1;
	if (s->state == S_GATHERING) {
		gone(r, s);
		return 1;
	}
	s->cancel_wanted = 1;
	return 0;
}

void fm_slurm_run_forget(struct fm_slurm_run *r, void *tag)
{
	struct sjob *s = find(r, tag);

	if (!s)
		return;
	/* Still in Slurm: it is not to run on for nothing. */
	if (s->state == S_SUBMITTED) {
		s->cancel_wanted = 1;
		s->forgotten = 1;
		s->tag = NULL;
	} else {
		gone(r, s);
	}
}

unsigned long fm_slurm_run_live(const struct fm_slurm_run *r)
{
	return r->live;
}

void fm_slurm_run_calls(const struct fm_slurm_run *r, unsigned long calls[5])
{
	memcpy(calls, r->calls, sizeof(r->calls));
}

/* --- submitting ----------------------------------------------------------- */

static void ended(struct fm_slurm_run *r, const struct fm_slurm_sink *k, struct sjob *s,
		  json_object *final, enum fm_slurm_fate fate, struct fm_error *err)
{
	final = json_object_get(final);
	gone(r, s);
	/* A job forgotten (fm_slurm_run_forget) is nobody's any more. */
	if (s->forgotten)
		fm_error_release(err);
	else
		k->ended(k->ctx, s->tag, final, fate, err, s->job_id);
	json_object_put(final);
}

/* One sbatch for up to ARRAY_MAX tasks that ask for the same. */
static void submit_group(struct fm_slurm_run *r, const struct fm_slurm_sink *k,
			 struct sjob **group, size_t n)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;
	struct fm_buf list = FM_BUF_INIT;
	char **argv, *path, jobid[64];
	size_t i, a = 0;

	for (i = 0; i < n; i++)
		fm_buf_addf(&list, "%lu\n", group[i]->n);
	path = fm_xasprintf("%s/list-%lu", r->dir, ++r->lists);
	argv = fm_xcalloc(group[0]->req.argc + 10, sizeof(*argv));
	argv[a++] = fm_xstrdup("sbatch");
	argv[a++] = fm_xstrdup("--parsable");
	argv[a++] = fm_xasprintf("--array=0-%zu", n - 1);
	argv[a++] = fm_xasprintf("--job-name=%s", r->name);
	argv[a++] = fm_xasprintf("--output=%s/slurm-%%A_%%a.out", r->dir);
	argv[a++] = fm_xasprintf("--chdir=%s", r->dir);
	for (i = 0; i < group[0]->req.argc; i++)
		argv[a++] = fm_xstrdup(group[0]->req.argv[i]);
	argv[a++] = fm_xstrdup(r->script);
	argv[a++] = fm_xstrdup(path);
	if (fm_write_file(path, fm_buf_str(&list), list.len, &err) == 0 &&
	    slurm(r, C_SBATCH, argv, &out, &err) == 0 &&
	    fm_slurm_parse_jobid(out.out, out.outlen, jobid, &err) == 0) {
		for (i = 0; i < n; i++) {
			group[i]->state = S_SUBMITTED;
			snprintf(group[i]->job_id, sizeof(group[i]->job_id), "%s_%zu", jobid, i);
		}
	} else {
		for (i = 0; i < n; i++) {
			struct fm_error copy = FM_ERROR_INIT;

			fm_error(&copy, err.code, "task '%s' could not be submitted: %s",
				 group[i]->task_id, err.message);
			ended(r, k, group[i], NULL, FM_SLURM_FAILED, &copy);
		}
	}
	fm_error_release(&err);
	fm_proc_output_release(&out);
	for (i = 0; i < a; i++)
		free(argv[i]);
	free(argv);
	free(path);
	fm_buf_release(&list);
}

/* Everything gathered goes out: one sbatch per distinct request. */
static void submit(struct fm_slurm_run *r, const struct fm_slurm_sink *k)
{
	struct sjob *s, *t, **group = NULL;
	size_t n, cap = 0;

	for (s = r->jobs; s; s = s->next) {
		if (s->state != S_GATHERING)
			continue;
		n = 0;
		for (t = s; t; t = t->next) {
			if (t->state != S_GATHERING || strcmp(t->req.key, s->req.key))
				continue;
			FM_GROW(group, cap, n + 1);
			group[n++] = t;
			if (n == ARRAY_MAX) {
				submit_group(r, k, group, n);
				n = 0;
			}
		}
		if (n)
			submit_group(r, k, group, n);
	}
	free(group);
	r->gather_until = INFINITY;
	r->next_read = fmin(r->next_read, fm_now() + FM_SLURM_READ);
	r->next_poll = fmin(r->next_poll, fm_now() + r->o.poll);
}

/* One scancel for every job whose task was cancelled. */
static void scancel(struct fm_slurm_run *r)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;
	char **argv = NULL;
	size_t a = 0, cap = 0, i;
	struct sjob *s;

	for (s = r->jobs;; s = s->next) {
		if (s && (s->state != S_SUBMITTED || !s->cancel_wanted || s->cancel_sent))
			continue;
		if (s) {
			FM_GROW(argv, cap, a + 2);
			if (!a)
				argv[a++] = fm_xstrdup("scancel");
			argv[a++] = fm_xstrdup(s->job_id);
			s->cancel_sent = 1;
		}
		if (a && (!s || a > IDS_MAX)) {
			argv[a] = NULL;
			/* One that failed is looked at again as squeue still lists it. */
			if (slurm(r, C_SCANCEL, argv, &out, &err) < 0)
				fm_error_release(&err);
			fm_proc_output_release(&out);
			for (i = 0; i < a; i++)
				free(argv[i]);
			a = 0;
		}
		if (!s)
			break;
	}
	free(argv);
}

/* --- what the jobs write ---------------------------------------------------- */

static void take_event_line(struct fm_slurm_run *r, const struct fm_slurm_sink *k,
			    struct sjob *s, const char *line, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *o;
	const char *type, *id;

	if (fm_json_parse(line, len, &o, &err) < 0) {
		fm_error_release(&err);
		return;
	}
	type = fm_json_get_string(o, "type");
	id = fm_json_get_string(o, "task_id");
	if (!type || !id || strcmp(id, s->task_id)) {
		json_object_put(o);
		return;
	}
	if (!strcmp(type, "progress") || !strcmp(type, "log")) {
		/* A requeued job runs again: what its first run said at its end is past. */
		json_object_put(s->held);
		s->held = NULL;
		k->event(k->ctx, s->tag, o, s->job_id);
	} else if (!strcmp(type, "started")) {
		json_object_put(s->held);
		s->held = NULL;
	} else if (!strcmp(type, "completed") || !strcmp(type, "failed") ||
		   !strcmp(type, "cancelled")) {
		if (strcmp(type, "completed") && !s->cancel_wanted) {
			/*
			 * A failure may be Slurm stopping the job, not the task
			 * failing: requeued (its plugin killed with it), cancelled
			 * by someone, out of memory. Held until squeue and the
			 * job's state tell which; a job that runs again drops it.
			 */
			json_object_put(s->held);
			s->held = json_object_get(o);
		} else {
			ended(r, k, s, o, FM_SLURM_ENDED, &err);
		}
	}
	json_object_put(o);
}

/* Reads what N.events holds past the offset, in whole lines. */
static void read_events(struct fm_slurm_run *r, const struct fm_slurm_sink *k, struct sjob *s)
{
	char *path = fm_xasprintf("%s/%lu.events", r->dir, s->n), *buf = NULL;
	struct stat st;
	ssize_t got;
	size_t want, at, end;
	int fd;

	/* Opened anew each look: NFS shows another machine's writes on open. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= s->offset) {
		close(fd);
		return;
	}
	want = (size_t)(st.st_size - s->offset);
	if (want > READ_MAX)
		want = READ_MAX;
	buf = fm_xmalloc(want + 1);
	got = pread(fd, buf, want, s->offset);
	close(fd);
	if (got <= 0) {
		free(buf);
		return;
	}
	for (at = 0; s->state == S_SUBMITTED && at < (size_t)got; at = end + 1) {
		char *nl = memchr(buf + at, '\n', (size_t)got - at);

		if (!nl)
			break;
		end = (size_t)(nl - buf);
		s->offset += (off_t)(end + 1 - at);
		take_event_line(r, k, s, buf + at, end - at);
	}
	if (s->state == S_SUBMITTED && (size_t)got == READ_MAX && at == 0) {
		struct fm_error err = FM_ERROR_INIT;

		fm_error(&err, FM_PLUGIN_EXECUTION_ERROR,
			 "slurm job %s wrote an event line over %d bytes", s->job_id, FM_LINE_MAX);
		s->cancel_wanted = 1;
		scancel(r);
		ended(r, k, s, NULL, FM_SLURM_FAILED, &err);
	}
	free(buf);
}

/* --- asking Slurm ----------------------------------------------------------- */

static struct sjob *by_job_id(struct fm_slurm_run *r, const char *id)
{
	struct sjob *s;

	for (s = r->jobs; s; s = s->next)
		if (s->state == S_SUBMITTED && !strcmp(s->job_id, id))
			return s;
	return NULL;
}

static int listed(void *ctx, const struct fm_slurm_job *job)
{
	struct fm_slurm_run *r = ctx;
	struct sjob *s = by_job_id(r, job->id);

	if (s) {
		s->seen = r->looks;
		/* Pending again: requeued, and what it said before is past. */
		if (!strcmp(job->state, "PENDING") || !strcmp(job->state, "REQUEUED")) {
			json_object_put(s->held);
			s->held = NULL;
		}
	}
	return 0;
}

/* The last line of Slurm's output of the element, or "". */
static void job_output(struct fm_slurm_run *r, const struct sjob *s, char *buf, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	char *path, *text = NULL, *under = strchr(s->job_id, '_');
	size_t n;

	buf[0] = '\0';
	if (!under)
		return;
	path = fm_xasprintf("%s/slurm-%.*s_%s.out", r->dir, (int)(under - s->job_id), s->job_id,
			    under + 1);
	if (fm_read_file(path, 64 * 1024, &text, &n, &err) == 0)
		last_line(text, buf, len);
	fm_error_release(&err);
	free(text);
	free(path);
}

/* A job no longer in squeue, without its final line: what became of it. */
static void settle_job(struct fm_slurm_run *r, const struct fm_slurm_sink *k, struct sjob *s,
		       const struct fm_slurm_job *given)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_slurm_job oom, *job = (struct fm_slurm_job *)given;
	enum fm_slurm_fate fate;
	char said[320];

	job_output(r, s, said, sizeof(said));
	/*
	 * Where memory is watched by polling (JobAcctGatherParams=OverMemoryKill)
	 * rather than by a cgroup, a job over its --mem ends FAILED and only
	 * slurmstepd's words say why.
	 */
	if (!strcmp(job->state, "FAILED") && strstr(said, "Exceeded job memory limit")) {
		oom = *job;
		snprintf(oom.state, sizeof(oom.state), "OUT_OF_MEMORY");
		job = &oom;
	}
	fate = fm_slurm_fate(job, s->mem_gb, &err);

	if (fate == FM_SLURM_LIVE)
		return; /* squeue and the record disagree for a moment: look again */
	if (fate == FM_SLURM_ENDED && s->held) {
		fm_error_release(&err);
		ended(r, k, s, s->held, FM_SLURM_ENDED, &err);
		return;
	}
	if (fate == FM_SLURM_ENDED) {
		/* It ended by itself and said nothing: what it printed says why. */
		fm_error_release(&err);
		fm_error(&err, FM_PLUGIN_EXECUTION_ERROR,
			 "slurm job %s ended %s (exit code %s) without a final line%s%s", job->id,
			 job->state, *job->exit_code ? job->exit_code : "unknown",
			 *said ? ": " : "", said);
		fm_slurm_details(job, &err);
		fate = FM_SLURM_FAILED;
	}
	ended(r, k, s, NULL, fate, &err);
}

struct lookup {
	struct fm_slurm_run *r;
	const struct fm_slurm_sink *k;
};

static int accounted(void *ctx, const struct fm_slurm_job *job)
{
	struct lookup *l = ctx;
	struct sjob *s = by_job_id(l->r, job->id);

	if (s && s->seen != l->r->looks)
		settle_job(l->r, l->k, s, job);
	return 0;
}

/* sacct for every job that left squeue unheard; scontrol where it cannot. */
static void look_up(struct fm_slurm_run *r, const struct fm_slurm_sink *k)
{
	struct lookup l = {r, k};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;
	struct fm_buf ids = FM_BUF_INIT;
	struct sjob *s;

	for (s = r->jobs; s; s = s->next)
		if (s->state == S_SUBMITTED && s->seen != r->looks)
			fm_buf_addf(&ids, "%s%s", ids.len ? "," : "", s->job_id);
	if (!ids.len)
		return;
	if (!r->no_sacct) {
		char *argv[] = {"sacct",
				"-n",
				"-P",
				"-X",
				"-j",
				(char *)fm_buf_str(&ids),
				"-o",
				"JobID,State,NodeList,ExitCode,Reason",
				NULL};

		if (slurm(r, C_SACCT, argv, &out, &err) == 0)
			(void)fm_slurm_parse_table(out.out, out.outlen, accounted, &l, &err);
		else
			r->no_sacct = 1; /* "accounting storage is disabled" */
		fm_error_release(&err);
		fm_proc_output_release(&out);
	}
	fm_buf_release(&ids);
	/* What sacct did not answer for (none kept, or not yet written). */
	for (s = r->jobs; s; s = s->next) {
		char *argv[] = {"scontrol", "show", "job", "-o", s->job_id, NULL};
		struct fm_slurm_job job;

		if (s->state != S_SUBMITTED || s->seen == r->looks)
			continue;
		if (slurm(r, C_SCONTROL, argv, &out, &err) == 0 &&
		    fm_slurm_parse_scontrol(out.out, out.outlen, &job, &err) == 0) {
			settle_job(r, k, s, &job);
		} else {
			struct fm_error lost = FM_ERROR_INIT;

			fm_error(&lost, FM_SERVICE_ERROR,
				 "slurm job %s left the queue without a final line, and Slurm "
				 "no longer knows it (%s)",
				 s->job_id, err.message);
			ended(r, k, s, NULL, FM_SLURM_FAILED, &lost);
		}
		fm_error_release(&err);
		fm_proc_output_release(&out);
	}
}

/* One squeue for every job of the run (they share its name). */
static void look(struct fm_slurm_run *r, const struct fm_slurm_sink *k)
{
	char *argv[] = {"squeue", "-h", "-r", "-n", r->name, "-o", "%i|%T|%N|%r", NULL};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;
	struct sjob *s;
	double now = fm_now();

	r->looks++;
	if (slurm(r, C_SQUEUE, argv, &out, &err) < 0 ||
	    fm_slurm_parse_table(out.out, out.outlen, listed, r, &err) < 0) {
		fm_proc_output_release(&out);
		if (!r->failing_since)
			r->failing_since = now;
		if (now - r->failing_since < FM_SLURM_LOST) {
			fm_error_release(&err);
			return;
		}
		/* The controller is gone for good: say so rather than wait forever. */
		for (s = r->jobs; s; s = s->next) {
			struct fm_error copy = FM_ERROR_INIT;

			if (s->state != S_SUBMITTED)
				continue;
			fm_error(&copy, FM_SERVICE_ERROR,
				 "slurm job %s: no answer from Slurm for %g s: %s", s->job_id,
				 FM_SLURM_LOST, err.message);
			ended(r, k, s, NULL, FM_SLURM_FAILED, &copy);
		}
		fm_error_release(&err);
		return;
	}
	fm_proc_output_release(&out);
	r->failing_since = 0;
	/* A job that left: its last lines may have come since the last read. */
	for (s = r->jobs; s; s = s->next)
		if (s->state == S_SUBMITTED && s->seen != r->looks)
			read_events(r, k, s);
	look_up(r, k);
}

static void sweep(struct fm_slurm_run *r)
{
	struct sjob **pp = &r->jobs, *s;

	while ((s = *pp)) {
		if (s->state != S_GONE) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		fm_slurm_request_release(&s->req);
		free(s->task_id);
		free(s);
	}
	r->tail = pp;
}

double fm_slurm_run_step(struct fm_slurm_run *r, const struct fm_slurm_sink *k)
{
	double now = fm_now(), next = INFINITY;
	int submitted = 0, cancelling = 0;
	struct sjob *s;

	if (now >= r->gather_until)
		submit(r, k);
	scancel(r);
	if (now >= r->next_read) {
		for (s = r->jobs; s; s = s->next)
			if (s->state == S_SUBMITTED)
				read_events(r, k, s);
		r->next_read = INFINITY;
	}
	if (now >= r->next_poll) {
		look(r, k);
		r->next_poll = INFINITY;
	}
	sweep(r);
	for (s = r->jobs; s; s = s->next) {
		submitted |= s->state == S_SUBMITTED;
		cancelling |= s->state == S_SUBMITTED && s->cancel_wanted;
	}
	now = fm_now();
	if (submitted) {
		if (isinf(r->next_read))
			r->next_read = now + FM_SLURM_READ;
		/* A cancelled job is watched closely: the run waits for it to go. */
		if (isinf(r->next_poll))
			r->next_poll = now + (cancelling ? FM_SLURM_READ : r->o.poll);
		else if (cancelling)
			r->next_poll = fmin(r->next_poll, now + FM_SLURM_READ);
		next = fmin(r->next_read, r->next_poll);
	}
	return fmin(next, r->gather_until);
}

static int count_line(void *ctx, const struct fm_slurm_job *job)
{
	(void)job;
	++*(unsigned long *)ctx;
	return 0;
}

/* Until squeue lists no job of the run, or FM_SLURM_CANCEL_WAIT passed. */
static void wait_gone(struct fm_slurm_run *r)
{
	char *argv[] = {"squeue", "-h", "-r", "-n", r->name, "-o", "%i|%T|%N|%r", NULL};
	double end = fm_now() + FM_SLURM_CANCEL_WAIT;
	struct timespec nap = {0, 200 * 1000 * 1000};

	for (;;) {
		struct fm_error err = FM_ERROR_INIT;
		struct fm_proc_output out;
		unsigned long n = 0;
		int rc = slurm(r, C_SQUEUE, argv, &out, &err);

		if (rc == 0)
			rc = fm_slurm_parse_table(out.out, out.outlen, count_line, &n, &err);
		fm_error_release(&err);
		fm_proc_output_release(&out);
		if (rc < 0 || n == 0 || fm_now() >= end)
			return;
		nanosleep(&nap, NULL);
	}
}

void fm_slurm_run_free(struct fm_slurm_run *r)
{
	struct sjob *s;

	if (!r)
		return;
	/* Nothing of the run stays in Slurm once the run is over. */
	for (s = r->jobs; s; s = s->next)
		if (s->state == S_SUBMITTED)
			s->cancel_wanted = 1;
	scancel(r);
	/* Cancelled jobs linger while they are killed: none outlives the run. */
	if (r->calls[C_SCANCEL])
		wait_gone(r);
	for (s = r->jobs; s; s = s->next)
		s->state = S_GONE;
	sweep(r);
	if (r->dir) {
		(void)fm_tree_remove(r->dir);
		/* The folder of all runs goes with the last. */
		*strrchr(r->dir, '/') = '\0';
		(void)rmdir(r->dir);
	}
	free(r->dir);
	free(r->script);
	free(r);
}
