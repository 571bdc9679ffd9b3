/*
 * The jobs of a filmeto-run --executor slurm (slurm_run.h). The run's
 * folder, SHARED/.filmeto-slurm/RUN-ID, holds for each task handed over
 * a number N, N.task (its line); for each array element a number E,
 * eE.events (what its node's filmeto-run wrote); for each submission
 * list-K (an element a line: E, then the numbers of its tasks); and
 * slurm-JOB_ELEMENT.out (Slurm's own output of an element, whose last
 * line explains a job that died without a word).
 *
 * An element runs one task, or, where the cluster has fewer slots than
 * tasks ask for the same, several tasks of one plugin one after the
 * other, so that one warm plugin process serves them and Slurm starts
 * fewer jobs.
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
/* The most tasks one element runs. */
#define BATCH_MAX 32

/*
 * S_GATHERING: handed over, not yet submitted; S_SUBMITTED: its element
 * is in Slurm and it has no final line yet; S_DONE: it ended (a final
 * line, Slurm's word, or dropped before it was submitted).
 */
enum sjob_state { S_GATHERING, S_SUBMITTED, S_DONE };

enum { C_SBATCH, C_SQUEUE, C_SACCT, C_SCONTROL, C_SCANCEL, C_SINFO };
static const char *const commands[] = {"sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo"};

struct element;

struct sjob {
	void *tag; /* NULL once forgotten */
	char *task_id, *plugin;
	struct fm_slurm_request req;
	double mem_gb, timeout, cpus, gpus;
	unsigned long n; /* N.task */
	enum sjob_state state;
	struct element *el; /* once submitted */
	/*
	 * cancel_wanted: its job is to be scancel'd and its end waited for;
	 * forgotten: the executor ended it already, what comes is dropped.
	 */
	int cancel_wanted, forgotten;
	int feeds;	   /* others wait for it */
	json_object *held; /* a failed or cancelled line, until Slurm says why */
	struct sjob *next;
};

/* One element of a job array: its tasks, its event file. */
struct element {
	unsigned long n;    /* eE.events */
	char job_id[96];    /* "1234_5" */
	off_t offset;	    /* how much of eE.events was read */
	unsigned long seen; /* the last squeue look that listed it */
	int cancel_sent;
	size_t open; /* its tasks still S_SUBMITTED */
	struct sjob **tasks;
	size_t ntasks;
	struct element *next;
};

struct fm_slurm_run {
	struct fm_slurm_run_opts o;
	char *dir, *script, name[32];
	struct sjob *jobs, **tail;
	struct element *elements;
	unsigned long count, nelements, lists, looks;
	double gather_from, gather_until, next_read, next_poll, failing_since;
	int no_sacct;
	double cpus, gpus; /* the cluster's, once asked; -1: unknown */
	unsigned long calls[6];
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
	if (fm_proc_run(argv, environ, FM_SLURM_CMD_TIMEOUT, FM_SLURM_OUTPUT_MAX, out, err) < 0) {
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
 * What every element runs: line SLURM_ARRAY_TASK_ID + 1 of the list it
 * is given says its number E and its tasks' numbers; their events go to
 * eE.events, appended (a requeued element writes after what its first
 * run wrote).
 */
static int write_script(struct fm_slurm_run *r, struct fm_error *err)
{
	struct fm_buf b = FM_BUF_INIT;
	int rc;

	fm_buf_addstr(&b, "#!/bin/sh\n"
			  "# An element of a filmeto-run --executor slurm job array.\n"
			  "line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$1\")\n"
			  "case $line in\n"
			  "''|*[!0-9\\ ]*) echo \"filmeto: no task $SLURM_ARRAY_TASK_ID in $1\" "
			  ">&2; exit 2 ;;\n"
			  "esac\n"
			  "set -- $line\n"
			  "e=$1\n"
			  "shift\n"
			  "for n; do set -- \"$@\" ");
	quote(&b, r->dir);
	fm_buf_addstr(&b, "/\"$n\".task; shift; done\n"
			  "exec ");
	quote(&b, r->o.filmeto_run);
	fm_buf_addstr(&b, " -j 1 --heartbeat 0 -d ");
	quote(&b, r->o.output_dir);
	if (!r->o.cache)
		fm_buf_addstr(&b, " --no-cache");
	fm_buf_addstr(&b, " \"$@\" >>");
	quote(&b, r->dir);
	fm_buf_addstr(&b, "/e\"$e\".events\n");
	r->script = fm_xasprintf("%s/job.sh", r->dir);
	rc = fm_write_file(r->script, fm_buf_str(&b), b.len, err);
	fm_buf_release(&b);
	if (rc == 0 && chmod(r->script, 0700) < 0)
		return fm_error(err, FM_VALIDATION_ERROR,
				"cannot make '%s' executable:", r->script);
	return rc;
}

int fm_slurm_run_new(struct fm_slurm_run **rp, const struct fm_slurm_run_opts *o,
		     struct fm_error *err)
{
	struct fm_slurm_run *r = fm_xcalloc(1, sizeof(*r));
	struct stat st;
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
	/* A link planted there would send the run's files where someone else reads them. */
	if (lstat(top, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "--shared-dir: '%s' is not a folder of ours (a link, or another user's)",
			 top);
		free(top);
		return -1;
	}
	free(top);
	/* Ours alone: a task line may hold what the user would not show. */
	if (mkdir(r->dir, 0700) < 0 || lstat(r->dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return fm_error(err, FM_VALIDATION_ERROR,
				"--shared-dir: cannot make '%s':", r->dir);
	return write_script(r, err);
}

/* --- handing tasks over -------------------------------------------------- */

static struct sjob *find(struct fm_slurm_run *r, void *tag)
{
	struct sjob *s;

	for (s = r->jobs; s; s = s->next)
		if (s->tag == tag && s->state != S_DONE && !s->forgotten)
			return s;
	return NULL;
}

int fm_slurm_run_add(struct fm_slurm_run *r, void *tag, json_object *line, json_object *resources,
		     double timeout, const char *plugin, int feeds, struct fm_error *err)
{
	struct sjob *s = fm_xcalloc(1, sizeof(*s));
	double now = fm_now();
	const char *text;
	char *path, *withnl;
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
	s->cpus = fm_json_get_double(resources, "cpus", 0);
	s->gpus = fm_json_get_double(resources, "gpu", 0);
	s->timeout = timeout;
	s->feeds = feeds;
	s->tag = tag;
	s->task_id = fm_xstrdup(fm_json_get_string(line, "task_id"));
	s->plugin = fm_xstrdup(plugin);
	s->n = ++r->count;
	text = json_object_to_json_string_length(
	    line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	path = fm_xasprintf("%s/%lu.task", r->dir, s->n);
	withnl = fm_xasprintf("%s\n", text);
	rc = fm_write_file(path, withnl, len + 1, err);
	free(withnl);
	free(path);
	if (rc < 0) {
		fm_slurm_request_release(&s->req);
		free(s->task_id);
		free(s->plugin);
		free(s);
		return -1;
	}
	*r->tail = s;
	r->tail = &s->next;
	/* Tasks that come together go out together. */
	if (isinf(r->gather_until))
		r->gather_from = now;
	r->gather_until = fmin(now + FM_SLURM_GATHER, r->gather_from + FM_SLURM_GATHER_MAX);
	return 0;
}

/* The task is the executor's no more: nothing it says is passed on. */
static void drop(struct sjob *s)
{
	s->forgotten = 1;
	s->tag = NULL;
	if (s->state == S_GATHERING)
		s->state = S_DONE;
}

/* Another task of s's element still wanted (not cancelled, not dropped). */
static int wanted_beside(const struct sjob *s)
{
	size_t i;

	for (i = 0; s->el && i < s->el->ntasks; i++) {
		const struct sjob *t = s->el->tasks[i];

		if (t != s && t->state == S_SUBMITTED && !t->forgotten && !t->cancel_wanted)
			return 1;
	}
	return 0;
}

int fm_slurm_run_cancel(struct fm_slurm_run *r, void *tag)
{
	struct sjob *s = find(r, tag);

	if (!s)
		return 1;
	/*
	 * Not yet in Slurm, or in an element that runs tasks still wanted:
	 * it ends here and now, and its element goes on for the others.
	 */
	if (s->state == S_GATHERING || wanted_beside(s)) {
		drop(s);
		return 1;
	}
	s->cancel_wanted = 1;
	return 0;
}

void fm_slurm_run_forget(struct fm_slurm_run *r, void *tag)
{
	struct sjob *s = find(r, tag);

	if (s)
		drop(s);
}

/* --- submitting ----------------------------------------------------------- */

/* The task ended: its final line, or Slurm's word on its job. */
static void ended(const struct fm_slurm_sink *k, struct sjob *s, json_object *final,
		  enum fm_slurm_fate fate, struct fm_error *err)
{
	if (s->state == S_SUBMITTED)
		s->el->open--;
	s->state = S_DONE;
	json_object_put(s->held);
	s->held = NULL;
	if (s->forgotten) {
		fm_error_release(err);
		return;
	}
	k->ended(k->ctx, s->tag, final, fate, err, s->el ? s->el->job_id : "");
}

/* The cluster's CPUs and GPUs, as sinfo counts them, once; -1 where unknown. */
static void cluster_size(struct fm_slurm_run *r)
{
	char *argv[] = {"sinfo", "-h", "-N", "-o", "%N %c %G", NULL};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;

	r->cpus = r->gpus = -1;
	if (slurm(r, C_SINFO, argv, &out, &err) < 0 ||
	    fm_slurm_parse_nodes(out.out, out.outlen, &r->cpus, &r->gpus, &err) < 0)
		r->cpus = r->gpus = -1;
	fm_error_release(&err);
	fm_proc_output_release(&out);
}

/*
 * How many tasks asking for what s asks for can run at once on the
 * whole cluster: its CPUs over the task's, its GPUs over the task's.
 */
static double slots(struct fm_slurm_run *r, const struct sjob *s)
{
	double n;

	if (r->cpus == 0 && r->gpus == 0)
		cluster_size(r);
	if (r->cpus <= 0)
		return INFINITY;
	n = floor(r->cpus / (s->cpus > 0 ? ceil(s->cpus) : 1));
	if (s->gpus > 0 && r->gpus >= 0)
		n = fmin(n, floor(r->gpus / ceil(s->gpus)));
	return n >= 1 ? n : 1;
}

static int by_number(const void *a, const void *b)
{
	const struct sjob *x = *(struct sjob *const *)a, *y = *(struct sjob *const *)b;

	return x->n < y->n ? -1 : x->n > y->n;
}

/*
 * The group's tasks in elements of ceil(tasks / the cluster's slots),
 * at most BATCH_MAX: no more elements than can run at once, so none
 * waits for a slot to free. The tasks keep the order they came in, as
 * without Slurm (a storyboard's scenes in order, each scene's image
 * before its narration); the node's filmeto-run keeps each plugin's
 * process warm between its tasks.
 */
static struct element **batch(struct fm_slurm_run *r, struct sjob **group, size_t n, size_t *m,
			      size_t *most)
{
	struct element **els = fm_xcalloc(n, sizeof(*els));
	double fit = slots(r, group[0]);
	size_t i, j, per = isinf(fit) ? 1 : (size_t)ceil((double)n / fit);

	per = per < 1 ? 1 : per > BATCH_MAX ? BATCH_MAX : per;
	qsort(group, n, sizeof(*group), by_number);
	*m = *most = 0;
	for (i = 0; i < n; i += j) {
		struct element *e = fm_xcalloc(1, sizeof(*e));

		e->n = ++r->nelements;
		e->tasks = fm_xcalloc(per, sizeof(*e->tasks));
		for (j = 0; j < per && i + j < n; j++)
			e->tasks[e->ntasks++] = group[i + j];
		if (e->ntasks > *most)
			*most = e->ntasks;
		els[(*m)++] = e;
	}
	return els;
}

/* One sbatch for up to ARRAY_MAX tasks that ask for the same. */
static void submit_group(struct fm_slurm_run *r, const struct fm_slurm_sink *k, struct sjob **group,
			 size_t n)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out = {0};
	struct fm_buf list = FM_BUF_INIT;
	struct element **els;
	char **argv, *path, jobid[64];
	size_t i, t, m, most, a = 0;
	double longest = 0;

	els = batch(r, group, n, &m, &most);
	for (i = 0; i < m; i++) {
		fm_buf_addf(&list, "%lu", els[i]->n);
		for (t = 0; t < els[i]->ntasks; t++) {
			fm_buf_addf(&list, " %lu", els[i]->tasks[t]->n);
			longest = fmax(longest, els[i]->tasks[t]->timeout);
		}
		fm_buf_addstr(&list, "\n");
	}
	path = fm_xasprintf("%s/list-%lu", r->dir, ++r->lists);
	argv = fm_xcalloc(group[0]->req.argc + 11, sizeof(*argv));
	argv[a++] = fm_xstrdup("sbatch");
	argv[a++] = fm_xstrdup("--parsable");
	argv[a++] = fm_xasprintf("--array=0-%zu", m - 1);
	argv[a++] = fm_xasprintf("--job-name=%s", r->name);
	argv[a++] = fm_xasprintf("--output=%s/slurm-%%A_%%a.out", r->dir);
	argv[a++] = fm_xasprintf("--chdir=%s", r->dir);
	for (i = 0; i < group[0]->req.argc; i++)
		argv[a++] = fm_xstrdup(group[0]->req.argv[i]);
	/* Tasks one after another: time for all of them (sbatch takes the last --time). */
	if (most > 1 && longest > 0)
		argv[a++] =
		    fm_xasprintf("--time=%.0f", fm_slurm_time_minutes((double)most * longest));
	argv[a++] = fm_xstrdup(r->script);
	argv[a++] = fm_xstrdup(path);
	if (fm_write_file(path, fm_buf_str(&list), list.len, &err) == 0 &&
	    slurm(r, C_SBATCH, argv, &out, &err) == 0 &&
	    fm_slurm_parse_jobid(out.out, out.outlen, jobid, &err) == 0) {
		for (i = 0; i < m; i++) {
			snprintf(els[i]->job_id, sizeof(els[i]->job_id), "%s_%zu", jobid, i);
			els[i]->open = els[i]->ntasks;
			for (t = 0; t < els[i]->ntasks; t++) {
				els[i]->tasks[t]->state = S_SUBMITTED;
				els[i]->tasks[t]->el = els[i];
			}
			els[i]->next = r->elements;
			r->elements = els[i];
		}
	} else {
		for (i = 0; i < n; i++) {
			struct fm_error copy = FM_ERROR_INIT;

			fm_error(&copy, err.code, "task '%s' could not be submitted: %s",
				 group[i]->task_id, err.message);
			ended(k, group[i], NULL, FM_SLURM_FAILED, &copy);
		}
		for (i = 0; i < m; i++) {
			free(els[i]->tasks);
			free(els[i]);
		}
	}
	fm_error_release(&err);
	fm_proc_output_release(&out);
	for (i = 0; i < a; i++)
		free(argv[i]);
	free(argv);
	free(els);
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

/*
 * An element nobody waits for any more (its tasks cancelled or dropped)
 * while one of them has not ended: scancel'd.
 */
static int unwanted(const struct element *e)
{
	size_t i;
	int cancel = 0;

	if (!e->open || e->cancel_sent)
		return 0;
	for (i = 0; i < e->ntasks; i++) {
		const struct sjob *t = e->tasks[i];

		if (t->state != S_SUBMITTED)
			continue;
		if (!t->forgotten && !t->cancel_wanted)
			return 0;
		cancel = 1;
	}
	return cancel;
}

/* One scancel for every element of the run nobody waits for. */
static void scancel(struct fm_slurm_run *r)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;
	char **argv = NULL;
	size_t a = 0, cap = 0, i;
	struct element *e;

	for (e = r->elements;; e = e->next) {
		if (e && !unwanted(e))
			continue;
		if (e) {
			FM_GROW(argv, cap, a + 2);
			if (!a)
				argv[a++] = fm_xstrdup("scancel");
			argv[a++] = fm_xstrdup(e->job_id);
			e->cancel_sent = 1;
		}
		if (a && (!e || a > IDS_MAX)) {
			argv[a] = NULL;
			/* One that failed is looked at again as squeue still lists it. */
			if (slurm(r, C_SCANCEL, argv, &out, &err) < 0)
				fm_error_release(&err);
			fm_proc_output_release(&out);
			for (i = 0; i < a; i++)
				free(argv[i]);
			a = 0;
		}
		if (!e)
			break;
	}
	free(argv);
}

/* --- what the jobs write ---------------------------------------------------- */

static struct sjob *task_in(struct element *e, const char *id)
{
	size_t i;

	for (i = 0; i < e->ntasks; i++)
		if (e->tasks[i]->state == S_SUBMITTED && !strcmp(e->tasks[i]->task_id, id))
			return e->tasks[i];
	return NULL;
}

static void take_event_line(const struct fm_slurm_sink *k, struct element *e, const char *line,
			    size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	struct sjob *s;
	json_object *o;
	const char *type, *id;

	if (fm_json_parse(line, len, &o, &err) < 0) {
		fm_error_release(&err);
		return;
	}
	type = fm_json_get_string(o, "type");
	id = fm_json_get_string(o, "task_id");
	if (!type || !id || !(s = task_in(e, id))) {
		json_object_put(o);
		return;
	}
	if (!strcmp(type, "progress") || !strcmp(type, "log") || !strcmp(type, "started")) {
		/* A requeued job runs again: what its first run said at its end is past. */
		json_object_put(s->held);
		s->held = NULL;
		if (!s->forgotten)
			k->event(k->ctx, s->tag, o, e->job_id);
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
			ended(k, s, o, FM_SLURM_ENDED, &err);
		}
	}
	json_object_put(o);
}

/* Reads what eE.events holds past the offset, in whole lines. */
static void read_events(struct fm_slurm_run *r, const struct fm_slurm_sink *k, struct element *e)
{
	char *path = fm_xasprintf("%s/e%lu.events", r->dir, e->n), *buf = NULL;
	struct stat st;
	ssize_t got;
	size_t want, at, end, i;
	int fd;

	/* Opened anew each look: NFS shows another machine's writes on open. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= e->offset) {
		close(fd);
		return;
	}
	want = (size_t)(st.st_size - e->offset);
	if (want > READ_MAX)
		want = READ_MAX;
	buf = fm_xmalloc(want + 1);
	got = pread(fd, buf, want, e->offset);
	close(fd);
	if (got <= 0) {
		free(buf);
		return;
	}
	for (at = 0; e->open && at < (size_t)got; at = end + 1) {
		char *nl = memchr(buf + at, '\n', (size_t)got - at);

		if (!nl)
			break;
		end = (size_t)(nl - buf);
		e->offset += (off_t)(end + 1 - at);
		take_event_line(k, e, buf + at, end - at);
	}
	if (e->open && (size_t)got == READ_MAX && at == 0) {
		/* No line in all that: its tasks can say nothing more we could read. */
		for (i = 0; i < e->ntasks; i++)
			e->tasks[i]->cancel_wanted = 1;
		scancel(r);
		for (i = 0; i < e->ntasks; i++) {
			struct fm_error err = FM_ERROR_INIT;

			if (e->tasks[i]->state != S_SUBMITTED)
				continue;
			fm_error(&err, FM_PLUGIN_EXECUTION_ERROR,
				 "slurm job %s wrote an event line over %d bytes", e->job_id,
				 FM_LINE_MAX);
			ended(k, e->tasks[i], NULL, FM_SLURM_FAILED, &err);
		}
	}
	free(buf);
}

/* --- asking Slurm ----------------------------------------------------------- */

static struct element *by_job_id(struct fm_slurm_run *r, const char *id)
{
	struct element *e;

	for (e = r->elements; e; e = e->next)
		if (e->open && !strcmp(e->job_id, id))
			return e;
	return NULL;
}

static int listed(void *ctx, const struct fm_slurm_job *job)
{
	struct fm_slurm_run *r = ctx;
	struct element *e = by_job_id(r, job->id);
	size_t i;

	if (!e)
		return 0;
	e->seen = r->looks;
	/* Pending again: requeued, and what its tasks said before is past. */
	if (!strcmp(job->state, "PENDING") || !strcmp(job->state, "REQUEUED"))
		for (i = 0; i < e->ntasks; i++) {
			json_object_put(e->tasks[i]->held);
			e->tasks[i]->held = NULL;
		}
	return 0;
}

/* The last line of Slurm's output of the element, or "". */
static void job_output(struct fm_slurm_run *r, const struct element *e, char *buf, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	char *path, *text = NULL, *under = strchr(e->job_id, '_');
	size_t n;

	buf[0] = '\0';
	if (!under)
		return;
	path = fm_xasprintf("%s/slurm-%.*s_%s.out", r->dir, (int)(under - e->job_id), e->job_id,
			    under + 1);
	if (fm_read_file(path, 64 * 1024, &text, &n, &err) == 0)
		last_line(text, buf, len);
	fm_error_release(&err);
	free(text);
	free(path);
}

/* An element no longer in squeue: what became of its tasks without a final line. */
static void settle(struct fm_slurm_run *r, const struct fm_slurm_sink *k, struct element *e,
		   const struct fm_slurm_job *given)
{
	struct fm_slurm_job oom, *job = (struct fm_slurm_job *)given;
	char said[320];
	size_t i;

	job_output(r, e, said, sizeof(said));
	/*
	 * Where memory is watched by polling (JobAcctGatherParams=OverMemoryKill)
	 * rather than by a cgroup, a job over its --mem ends FAILED and only
	 * slurmstepd's words say why: "StepId=N.batch exceeded memory limit
	 * (X > Y), being killed", then "Exceeded job memory limit", which
	 * may not fit in what is kept of them.
	 */
	if (!strcmp(job->state, "FAILED") &&
	    (strstr(said, "exceeded memory limit") || strstr(said, "Exceeded job memory limit"))) {
		oom = *job;
		snprintf(oom.state, sizeof(oom.state), "OUT_OF_MEMORY");
		job = &oom;
	}
	for (i = 0; i < e->ntasks; i++) {
		struct fm_error err = FM_ERROR_INIT;
		struct sjob *s = e->tasks[i];
		enum fm_slurm_fate fate;

		if (s->state != S_SUBMITTED)
			continue;
		fate = fm_slurm_fate(job, s->mem_gb, &err);
		if (fate == FM_SLURM_LIVE) {
			/* squeue and the record disagree for a moment: look again */
			fm_error_release(&err);
			return;
		}
		if (fate == FM_SLURM_ENDED && s->held) {
			json_object *held = json_object_get(s->held);

			fm_error_release(&err);
			ended(k, s, held, FM_SLURM_ENDED, &err);
			json_object_put(held);
			continue;
		}
		if (fate == FM_SLURM_ENDED) {
			/* It ended by itself and said nothing: what it printed says why. */
			fm_error_release(&err);
			fm_error(&err, FM_PLUGIN_EXECUTION_ERROR,
				 "slurm job %s ended %s (exit code %s) without a final line%s%s",
				 job->id, job->state, *job->exit_code ? job->exit_code : "unknown",
				 *said ? ": " : "", said);
			fm_slurm_details(job, &err);
			fate = FM_SLURM_FAILED;
		}
		ended(k, s, NULL, fate, &err);
	}
}

struct lookup {
	struct fm_slurm_run *r;
	const struct fm_slurm_sink *k;
};

static int accounted(void *ctx, const struct fm_slurm_job *job)
{
	struct lookup *l = ctx;
	struct element *e = by_job_id(l->r, job->id);

	if (e && e->seen != l->r->looks)
		settle(l->r, l->k, e, job);
	return 0;
}

/* sacct for every element that left squeue unheard; scontrol where it cannot. */
static void look_up(struct fm_slurm_run *r, const struct fm_slurm_sink *k)
{
	struct lookup l = {r, k};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_proc_output out;
	struct fm_buf ids = FM_BUF_INIT;
	struct element *e;

	for (e = r->elements; e; e = e->next)
		if (e->open && e->seen != r->looks)
			fm_buf_addf(&ids, "%s%s", ids.len ? "," : "", e->job_id);
	if (!ids.len)
		return;
	if (!r->no_sacct) {
		char *argv[] = {"sacct", "-n",
				"-P",	 "-X",
				"-j",	 (char *)fm_buf_str(&ids),
				"-o",	 "JobID,State,NodeList,ExitCode,Reason",
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
	for (e = r->elements; e; e = e->next) {
		char *argv[] = {"scontrol", "show", "job", "-o", e->job_id, NULL};
		struct fm_slurm_job job;
		size_t i;

		if (!e->open || e->seen == r->looks)
			continue;
		if (slurm(r, C_SCONTROL, argv, &out, &err) == 0 &&
		    fm_slurm_parse_scontrol(out.out, out.outlen, &job, &err) == 0) {
			settle(r, k, e, &job);
		} else {
			for (i = 0; i < e->ntasks; i++) {
				struct fm_error lost = FM_ERROR_INIT;

				if (e->tasks[i]->state != S_SUBMITTED)
					continue;
				fm_error(&lost, FM_SERVICE_ERROR,
					 "slurm job %s left the queue without a final line, and "
					 "Slurm no longer knows it (%s)",
					 e->job_id, err.message);
				ended(k, e->tasks[i], NULL, FM_SLURM_FAILED, &lost);
			}
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
	struct element *e;
	double now = fm_now();
	size_t i;

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
		for (e = r->elements; e; e = e->next)
			for (i = 0; i < e->ntasks; i++) {
				struct fm_error copy = FM_ERROR_INIT;

				if (e->tasks[i]->state != S_SUBMITTED)
					continue;
				fm_error(&copy, FM_SERVICE_ERROR,
					 "slurm job %s: no answer from Slurm for %g s: %s",
					 e->job_id, FM_SLURM_LOST, err.message);
				ended(k, e->tasks[i], NULL, FM_SLURM_FAILED, &copy);
			}
		fm_error_release(&err);
		return;
	}
	fm_proc_output_release(&out);
	r->failing_since = 0;
	/* An element that left: its last lines may have come since the last read. */
	for (e = r->elements; e; e = e->next)
		if (e->open && e->seen != r->looks)
			read_events(r, k, e);
	look_up(r, k);
}

/* Ended tasks and elements go, once nothing points at them. */
static void sweep(struct fm_slurm_run *r)
{
	struct element **ep = &r->elements, *e;
	struct sjob **pp = &r->jobs, *s;

	/* A task of an element still open stays: the element names it. */
	while ((s = *pp)) {
		if (s->state != S_DONE || (s->el && s->el->open)) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		fm_slurm_request_release(&s->req);
		json_object_put(s->held);
		free(s->task_id);
		free(s->plugin);
		free(s);
	}
	r->tail = pp;
	/* Its tasks went just above. */
	while ((e = *ep)) {
		if (e->open) {
			ep = &e->next;
			continue;
		}
		*ep = e->next;
		free(e->tasks);
		free(e);
	}
}

/* A task in Slurm that others wait for: more tasks become ready soon. */
static int feeding(const struct fm_slurm_run *r)
{
	const struct sjob *s;

	for (s = r->jobs; s; s = s->next)
		if (s->state == S_SUBMITTED && s->feeds && !s->forgotten)
			return 1;
	return 0;
}

double fm_slurm_run_step(struct fm_slurm_run *r, const struct fm_slurm_sink *k)
{
	double now = fm_now(), next = INFINITY;
	double hold_until = r->gather_from + FM_SLURM_HOLD;
	int submitted = 0, cancelling = 0;
	struct element *e;

	int hold = feeding(r);

	if (now >= r->gather_until && (!hold || now >= hold_until))
		submit(r, k);
	scancel(r);
	if (now >= r->next_read) {
		for (e = r->elements; e; e = e->next)
			if (e->open)
				read_events(r, k, e);
		r->next_read = INFINITY;
	}
	if (now >= r->next_poll) {
		look(r, k);
		r->next_poll = INFINITY;
	}
	sweep(r);
	for (e = r->elements; e; e = e->next) {
		submitted |= e->open > 0;
		cancelling |= e->open && e->cancel_sent;
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
	if (!isinf(r->gather_until))
		next = fmin(next, hold ? fmax(r->gather_until, hold_until) : r->gather_until);
	return next;
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
	struct element *e;
	struct sjob *s;
	size_t i;

	if (!r)
		return;
	/* Nothing of the run stays in Slurm once the run is over. */
	for (e = r->elements; e; e = e->next)
		for (i = 0; i < e->ntasks; i++)
			e->tasks[i]->cancel_wanted = 1;
	scancel(r);
	/* Cancelled jobs linger while they are killed: none outlives the run. */
	if (r->calls[C_SCANCEL])
		wait_gone(r);
	for (s = r->jobs; s; s = s->next)
		s->state = S_DONE;
	for (e = r->elements; e; e = e->next)
		e->open = 0;
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
