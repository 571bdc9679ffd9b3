/*
 * The executor. One poll(2) loop serves the input, every plugin process's
 * stdout, stderr and stdin, and the timers; nothing blocks but the final
 * flush of our own stdout, which is how a slow reader slows us down
 * instead of making memory grow.
 *
 * Tasks live in one table by id. A task not yet run is a struct job; once
 * it ends it shrinks to its id, its status and its output paths, which is
 * all a later dependent needs. A dependency on an id not yet seen makes a
 * placeholder, so tasks may name dependencies that come later.
 *
 * What could take long without a plugin, fetching and hashing a task's
 * inputs, runs on a thread per task (prep.h) that the loop polls like a
 * pipe; such a task is running already, under its timeout and cancel.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "combine.h"
#include "config.h"
#include "dirahead.h"
#include "exec.h"
#include "fs.h"
#include "host.h"
#include "idtab.h"
#include "model.h"
#include "plugin.h"
#include "prep.h"
#include "proc.h"
#include "redact.h"
#include "rpc.h"
#include "slurm_run.h"
#include "util.h"

/* Seconds between looks for the orphans (daemons) plugins left behind. */
#define FM_ORPHAN_SCAN 1.0
/* Seconds between looks for a plugin's exit where there are no pidfds. */
#define FM_EXIT_POLL 0.25
/* Reads of a dead plugin's output before it is judged (a pipe's worth). */
#define FM_EXIT_READS 256

/*
 * J_PREPARING: admitted, its inputs being made ready on a thread;
 * J_PREPARED: they are, and it waits for a plugin process. Both count as
 * running (for -j, the limits, the timeout) but no worker has them.
 */
enum jstate {
	J_UNSEEN,
	J_WAITING,
	J_READY,
	J_PREPARING,
	J_PREPARED,
	J_RUNNING,
	J_BACKOFF,
	J_PUBLISHING /* its result is with on_result, on a thread */
};

/* A result with on_result (uploads), off the loop. */
struct publish {
	struct fm_exec *x;
	struct job *j;
	struct fm_result res;
	char *base;
	int film, started;
	atomic_int done;
	pthread_t thread;
};

/* What the table holds for an id: a live job, or how the task ended. */
struct entry {
	struct job *job;    /* NULL once the task ended */
	signed char status; /* enum fm_status once ended; -1 before */
	char text[];	    /* id \0 output \0 output \0 \0 */
};

struct worker;

struct job {
	struct entry *e;
	enum jstate state;
	unsigned long seq, lineno;
	struct fm_task t;
	const struct fm_manifest *m;
	json_object *tool, *needs;
	json_object *settings; /* config.yaml's plugins.NAME, borrowed, or NULL */
	int attempt, cancelling, localized;
	int in_slurm;  /* handed to the Slurm jobs (x->slurm), not yet ended there */
	int announced; /* the attempt whose started line went out */
	pid_t plugin;  /* the plugin process it was last given to, or 0 */
	size_t ndeps;  /* dependencies not yet ended */
	struct job **deps, **dependents;
	size_t ndeplist, ndependents;
	struct worker *w;
	struct fm_prep *prep; /* while J_PREPARING */
	int64_t rpc_id;
	double started, deadline, idle_at, beat_at, retry_at, ready_since, cancel_at;
	struct job *prev, *next; /* ready list, or backoff list */
	char *dir, *cache_key;
	struct fm_dirahead_item *ahead; /* its folder, asked for ahead */
	int dir_made;			/* this attempt's folder is new and ours */
	unsigned nlogs;
	unsigned long mark; /* cycle search */
};

struct pool;

struct worker {
	struct fm_host h;
	struct pool *pool;
	int ready, stopping, dead;
	double start_deadline, idle_since, stop_deadline, kill_at;
	struct job **inflight;
	int ninflight;
	struct worker *next;
};

struct pool {
	const struct fm_manifest *m;
	struct worker *workers;
	int n;
	int host_dirs; /* a ready process showed that we make its task folders */
	struct pool *next;
};

struct pollset {
	struct pollfd *fds;
	struct worker **owner;
	size_t n, fdcap, ownercap;
};

struct fm_exec {
	struct fm_exec_opts o;
	struct pollset ps; /* the loop's, kept from turn to turn */
	struct fm_plugins plugins;
	struct fm_config config;
	struct fm_writer *out;
	struct fm_idtab ids;	   /* struct entry by task id */
	struct job ready, backoff; /* list heads */
	size_t nready;
	struct job **running;
	size_t nrunning;
	unsigned long seq, live;
	struct pool *pools;
	struct worker *stopping, *dead;
	double *used;
	int cancel_all;
	unsigned long json_lines; /* input lines that were JSON */
	int not_ndjson;		  /* the input began with a line that is not: skip its like */
	char *film_taken;	  /* the task writing -o */
	double cancel_deadline;
	unsigned long failed, cancelled;
	int extra_fd, extra_ready; /* fm_exec_turn's fd */
	double wake_at;		   /* fm_exec_turn's deadline */
	int prep_pipe[2];	   /* preparations say they are done here */
	int pub_pipe[2];	   /* and so do publishes (on_result) */
	struct publish **pubs;	   /* waiting or under way, in order */
	size_t npubs, pubs_running;
	struct fm_prep **lingering; /* of tasks that ended first, still stopping */
	size_t nlingering;
	double orphans_at;	    /* next look for orphans plugins left */
	int norphans;		    /* orphans still to reap at the last look */
	struct fm_slurm_run *slurm; /* --executor slurm, else NULL */
	struct fm_dirahead *dirs;   /* task folders made ahead */
	double out_since;	    /* when the oldest event not yet written out was */
	int out_tty;		    /* events go to a terminal: never held */
	/* The last plugin found for a task: streams name the same one again and again. */
	char *found_plugin, *found_tool;
	const struct fm_manifest *found;
	char *slurm_exe, *slurm_shared; /* what its nodes run, and where */
};

static int sigpipe[2] = {-1, -1};
static volatile sig_atomic_t nsignals;
/*
 * A signal one of our plugins (or what it started) sent us: which plugin
 * process (fm_proc_origin; -1 unknown or more than one), the first such
 * signal and its sender. Found in the handler, as the sender may be gone
 * by the time the loop looks. The tasks given to that plugin are to
 * blame, running or not by then (fm_exec_blamed).
 */
static volatile sig_atomic_t blamed, blamed_sig, blamed_sender;

int fm_exec_signal(int sig, const siginfo_t *si)
{
	char c = (char)sig;
	pid_t from = 0;

	/* Sent by a process (kill, sigqueue, tgkill), not by the kernel (a hangup). */
	if (si && si->si_code <= 0 && si->si_pid > 0)
		from = fm_proc_origin(si->si_pid);
	if (from) {
		if (!blamed) {
			blamed_sig = sig;
			blamed_sender = si->si_pid;
		}
		blamed = !blamed || blamed == from ? from : -1;
		/* It stops us like a first signal, and never hurries a stop along. */
		if (!nsignals)
			nsignals = 1;
	} else {
		nsignals++;
	}
	if (sigpipe[1] >= 0)
		(void)!write(sigpipe[1], &c, 1);
	return (int)nsignals;
}

/* --- the table ---------------------------------------------------------- */

static const char *entry_id(const void *e)
{
	return ((const struct entry *)e)->text;
}

static struct entry *lookup(struct fm_exec *x, const char *id)
{
	return fm_idtab_get(&x->ids, id, strlen(id));
}

static struct entry *insert(struct fm_exec *x, const char *id)
{
	size_t n = strlen(id);
	struct entry *e;

	e = fm_xmalloc(sizeof(*e) + n + 2);
	e->job = NULL;
	e->status = -1;
	memcpy(e->text, id, n + 1);
	e->text[n + 1] = '\0';
	fm_idtab_put(&x->ids, e);
	return e;
}

/* Shrinks an entry to id, status, plugin and outputs once its task ended. */
static void settle(struct fm_exec *x, struct entry *e, enum fm_status st, const char *plugin,
		   json_object *files)
{
	size_t idlen = strlen(e->text), plen = strlen(plugin), n = idlen + plen + 3, i, nf;
	struct entry *s;
	char *p;

	nf = files ? json_object_array_length(files) : 0;
	for (i = 0; i < nf; i++)
		n += strlen(json_object_get_string(json_object_array_get_idx(files, i))) + 1;
	/* A new value, not a realloc: the table finds the old one by its id. */
	s = fm_xmalloc(sizeof(*s) + n);
	memcpy(s->text, e->text, idlen + 1);
	s->job = NULL;
	s->status = (signed char)st;
	p = s->text + idlen + 1;
	memcpy(p, plugin, plen + 1);
	p += plen + 1;
	for (i = 0; i < nf; i++) {
		const char *f = json_object_get_string(json_object_array_get_idx(files, i));

		memcpy(p, f, strlen(f) + 1);
		p += strlen(f) + 1;
	}
	*p = '\0';
	free(fm_idtab_put(&x->ids, s));
}

/* The plugin that ran an ended task ("" when none did). */
static const char *plugin_of(const struct entry *e)
{
	return e->text + strlen(e->text) + 1;
}

/* The output paths of an ended task, in order. */
static const char *first_output(const struct entry *e)
{
	return plugin_of(e) + strlen(plugin_of(e)) + 1;
}

/* --- events ------------------------------------------------------------- */

static void emit(struct fm_exec *x, json_object *ev)
{
	if (x->o.on_event) {
		x->o.on_event(x->o.event_ctx, ev);
	} else {
		if (!x->out->len)
			x->out_since = fm_now();
		fm_writer_json(x->out, ev);
	}
	json_object_put(ev);
}

/*
 * How much longer events may wait in the buffer before the loop blocks:
 * while a plugin works on a task its answer usually comes within
 * FM_EVENT_HOLD, and the events of both go out in one write. A terminal,
 * or nothing running that could add to them, gets them at once.
 */
static double event_hold(const struct fm_exec *x, double now)
{
	size_t i;

	if (!x->out->len || x->out_tty || x->o.on_event)
		return 0;
	for (i = 0; i < x->nrunning; i++)
		if (x->running[i]->state == J_RUNNING && x->running[i]->w)
			return fmax(0, x->out_since + FM_EVENT_HOLD - now);
	return 0;
}

/* The size a value takes in a line. */
static size_t json_size(json_object *o)
{
	/* Most results carry nothing: [] and {} need not be written out to be measured. */
	if ((json_object_is_type(o, json_type_array) && !json_object_array_length(o)) ||
	    (json_object_is_type(o, json_type_object) && !json_object_object_length(o)))
		return 2;
	return o ? strlen(fm_json_str(o)) : 0;
}

/* What stands in for a value over its share of a line. */
static json_object *cut_marker(size_t size, size_t limit)
{
	json_object *m = json_object_new_object(), *t = json_object_new_object();

	json_object_object_add(t, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(t, "limit", json_object_new_int64((int64_t)limit));
	json_object_object_add(m, "truncated", t);
	return m;
}

/*
 * A text a plugin sent, cut to max bytes on a UTF-8 character boundary
 * with a mark that it was; a new reference.
 */
static json_object *cut_text(const char *s, size_t max)
{
	static const char mark[] = " [cut]";
	size_t n = strlen(s);
	json_object *o;
	char *buf;

	if (n <= max)
		return json_object_new_string(s);
	n = max - (sizeof(mark) - 1);
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	buf = fm_xasprintf("%.*s%s", (int)n, s, mark);
	o = json_object_new_string(buf);
	free(buf);
	return o;
}

/* A value a plugin sent for an event: texts cut, anything else within max. */
static json_object *fit_value(json_object *v, size_t max)
{
	size_t n;

	if (json_object_is_type(v, json_type_string))
		return cut_text(json_object_get_string(v), FM_LOG_LINE_MAX);
	n = json_size(v);
	return n > max ? cut_marker(n, max) : json_object_get(v);
}

static json_object *job_event(struct job *j, const char *type)
{
	json_object *ev = fm_event_new(type, j->e->text);

	json_object_object_add(ev, "attempt", json_object_new_int(j->attempt ? j->attempt : 1));
	return ev;
}

/* The metadata a relayed line carries: the Slurm job it came from. */
static void slurm_meta(json_object *ev, const char *job_id)
{
	json_object *meta;

	if (!job_id)
		return;
	meta = json_object_new_object();
	json_object_object_add(meta, "slurm_job_id", json_object_new_string(job_id));
	json_object_object_add(ev, "metadata", meta);
}

static void job_log_from(struct fm_exec *x, struct job *j, const char *level, const char *message,
			 const char *job_id);

static void job_log(struct fm_exec *x, struct job *j, const char *level, const char *message)
{
	job_log_from(x, j, level, message, NULL);
}

static void job_log_from(struct fm_exec *x, struct job *j, const char *level, const char *message,
			 const char *job_id)
{
	json_object *ev;

	if (j->nlogs++ >= FM_LOG_LINES) {
		if (j->nlogs == FM_LOG_LINES + 1) {
			ev = job_event(j, "log");
			json_object_object_add(ev, "level", json_object_new_string("warning"));
			json_object_object_add(
			    ev, "message",
			    json_object_new_string(
				"plugin log truncated: further lines are dropped"));
			emit(x, ev);
		}
		return;
	}
	ev = job_event(j, "log");
	json_object_object_add(ev, "level", json_object_new_string(level));
	/* Stray stdout lines may be megabytes; a log line is not. */
	json_object_object_add(ev, "message", cut_text(message, FM_LOG_LINE_MAX));
	slurm_meta(ev, job_id);
	emit(x, ev);
}

/* A failed line for input that never became a task. */
static void fail_line(struct fm_exec *x, unsigned long lineno, const char *id, struct fm_error *err)
{
	struct fm_result res;
	char fallback[32];

	snprintf(fallback, sizeof(fallback), "line-%lu", lineno);
	fm_result_init(&res, id ? id : fallback);
	res.status = FM_STATUS_ERROR;
	res.attempts = 0;
	fm_error_move(&res.error, err);
	emit(x, fm_result_to_json(&res));
	fm_result_release(&res);
	x->failed++;
}

/* --- lists -------------------------------------------------------------- */

static void list_unlink(struct job *j)
{
	if (j->prev) {
		j->prev->next = j->next;
		j->next->prev = j->prev;
	}
	j->prev = j->next = NULL;
}

/* The ready list stays in submission order, so admission is fair. */
static void ready_insert(struct fm_exec *x, struct job *j)
{
	struct job *at = x->ready.prev;

	while (at != &x->ready && at->seq > j->seq)
		at = at->prev;
	j->prev = at;
	j->next = at->next;
	at->next->prev = j;
	at->next = j;
	x->nready++;
}

static void running_remove(struct fm_exec *x, struct job *j)
{
	size_t i;

	for (i = 0; i < x->nrunning; i++) {
		if (x->running[i] == j) {
			x->running[i] = x->running[--x->nrunning];
			return;
		}
	}
}

static void worker_detach(struct worker *w, struct job *j)
{
	int i;

	for (i = 0; i < w->ninflight; i++) {
		if (w->inflight[i] == j) {
			w->inflight[i] = w->inflight[--w->ninflight];
			break;
		}
	}
	if (!w->ninflight)
		w->idle_since = fm_now();
	j->w = NULL;
}

/* --- scarce resources --------------------------------------------------- */

static size_t nlimits(struct fm_exec *x)
{
	return x->o.limits ? (size_t)json_object_object_length(x->o.limits) : 0;
}

/* Walks the limits in a fixed order: index i is the i-th key. */
static int needs_fit(struct fm_exec *x, struct job *j, int take)
{
	size_t i = 0;
	int fits = 1;

	if (!j->needs)
		return 1;
	json_object_object_foreach (x->o.limits, name, limit) {
		double want = fm_json_get_double(j->needs, name, 0);

		if (take)
			x->used[i] += take * want;
		else if (x->used[i] + want > json_object_get_double(limit) + 1e-9)
			fits = 0;
		i++;
	}
	return fits;
}

/* Only what the limits count is scarce; other keys are documentation. */
static json_object *scarce_needs(struct fm_exec *x, json_object *tool)
{
	json_object *res = fm_json_get(tool, "resources", json_type_object), *needs = NULL;

	if (!res || !x->o.limits)
		return NULL;
	json_object_object_foreach (res, name, val) {
		if (!json_object_object_get_ex(x->o.limits, name, NULL))
			continue;
		if (!needs)
			needs = json_object_new_object();
		json_object_object_add(needs, name, fm_json_double(json_object_get_double(val)));
	}
	return needs;
}

/* --- ending ------------------------------------------------------------- */

static void job_free(struct job *j)
{
	if (j->prep) {
		fm_prep_stop(j->prep);
		fm_prep_free(j->prep);
	}
	/* A task that never ran leaves no folder behind. */
	fm_dirahead_drop(j->ahead);
	fm_task_release(&j->t);
	json_object_put(j->needs);
	free(j->deps);
	free(j->dependents);
	free(j->dir);
	free(j->cache_key);
	free(j);
}

static void fail_job(struct fm_exec *x, struct job *j, struct fm_error *err);
static void cancel_job(struct fm_exec *x, struct job *j, const char *why);

/* Dependents learn how their dependency ended. */
static void release_dependents(struct fm_exec *x, struct job **deps, size_t n, const char *id,
			       enum fm_status st);

/*
 * Edges point both ways between live jobs; a job that ends takes itself
 * out of both sides, so no pointer outlives its job.
 */
static void unlink_edges(struct job *j)
{
	size_t i, k;

	for (i = 0; i < j->ndeplist; i++) {
		struct job *dep = j->deps[i];

		for (k = 0; dep && k < dep->ndependents; k++)
			if (dep->dependents[k] == j)
				dep->dependents[k] = NULL;
	}
	for (i = 0; i < j->ndependents; i++) {
		struct job *d = j->dependents[i];

		for (k = 0; d && k < d->ndeplist; k++)
			if (d->deps[k] == j)
				d->deps[k] = NULL;
	}
}

/*
 * A task that ends while its inputs are made ready gives back what it
 * held; its thread is told to stop and is joined once it has cleaned up,
 * so the final line does not wait for a stalled download.
 */
static void leave_prep(struct fm_exec *x, struct job *j)
{
	if (j->needs)
		needs_fit(x, j, -1);
	running_remove(x, j);
	if (!j->prep)
		return;
	fm_prep_stop(j->prep);
	x->lingering = fm_xrealloc(x->lingering, (x->nlingering + 1) * sizeof(*x->lingering));
	x->lingering[x->nlingering++] = j->prep;
	j->prep = NULL;
}

/*
 * Bounds what a result carries from its plugin to the shares of
 * FM_LINE_MAX in exec.h, so its final line always fits. Done before the
 * cache keeps a result and again on every final line; a second time
 * finds nothing to do.
 */
static void fit_result(struct fm_exec *x, struct job *j, struct fm_result *res)
{
	size_t n = json_size(res->output_files) + json_size(res->output_resources);
	char msg[256];

	if (n > FM_RESULT_OUTPUTS_MAX) {
		size_t count = json_object_array_length(res->output_files);

		json_object_put(res->output_files);
		json_object_put(res->output_resources);
		res->output_files = json_object_new_array();
		res->output_resources = json_object_new_array();
		res->status = FM_STATUS_ERROR;
		fm_error_release(&res->error);
		fm_error(&res->error, FM_PLUGIN_EXECUTION_ERROR,
			 "task '%s': the result lists %zu output files, %zu bytes of them, more "
			 "than the %d bytes a result may carry",
			 j->e->text, count, n, FM_RESULT_OUTPUTS_MAX);
		fm_error_detail(&res->error, "output_files", json_object_new_int64((int64_t)count));
	}
	if ((n = json_size(res->metadata)) > FM_RESULT_METADATA_MAX) {
		json_object_put(res->metadata);
		res->metadata = cut_marker(n, FM_RESULT_METADATA_MAX);
		snprintf(msg, sizeof(msg),
			 "the result's metadata, %zu bytes, is over the %d byte limit and was left "
			 "out",
			 n, FM_RESULT_METADATA_MAX);
		job_log(x, j, "warning", msg);
	}
	if ((n = json_size(res->error.details)) > FM_RESULT_DETAILS_MAX) {
		json_object_put(res->error.details);
		res->error.details = cut_marker(n, FM_RESULT_DETAILS_MAX);
		snprintf(msg, sizeof(msg),
			 "the error's details, %zu bytes, are over the %d byte limit and were "
			 "left out",
			 n, FM_RESULT_DETAILS_MAX);
		job_log(x, j, "warning", msg);
	}
}

static void finish(struct fm_exec *x, struct job *j, struct fm_result *res);

/* A job leaves the state it is in: preparing, running (its plugin given back), ready. */
static void job_leave(struct fm_exec *x, struct job *j)
{
	if (j->state == J_PREPARING || j->state == J_PREPARED)
		leave_prep(x, j);
	if (j->state == J_RUNNING)
		running_remove(x, j);
	if (j->w)
		worker_detach(j->w, j);
	if (j->state == J_READY)
		x->nready--;
	list_unlink(j);
}

static void *publish_thread(void *arg)
{
	struct publish *p = arg;
	char byte = 1;
	ssize_t n;

	p->x->o.on_result(p->x->o.result_ctx, p->base, p->film, &p->res);
	atomic_store(&p->done, 1);
	do
		n = write(p->x->pub_pipe[1], &byte, 1);
	while (n < 0 && errno == EINTR);
	return NULL;
}

/* Starts waiting publishes while fewer than FM_EXEC_PUBLISH_MAX run. */
static void publish_kick(struct fm_exec *x)
{
	size_t i;

	for (i = 0; i < x->npubs && x->pubs_running < FM_EXEC_PUBLISH_MAX; i++) {
		struct publish *p = x->pubs[i];

		if (p->started)
			continue;
		p->started = 1;
		x->pubs_running++;
		if (pthread_create(&p->thread, NULL, publish_thread, p) != 0) {
			/* No thread: on the loop, then, as a last resort. */
			p->started = 2;
			publish_thread(p);
		}
	}
}

/*
 * A successful result goes to on_result on a thread; the job gives back
 * its plugin process and its place as finish() would, and waits, neither
 * ready nor running, for its final line (collect_publishes).
 */
static void publish_start(struct fm_exec *x, struct job *j, struct fm_result *res)
{
	const char *film = fm_exec_film_task(x);
	struct publish *p = fm_xcalloc(1, sizeof(*p));
	char *slash;

	p->x = x;
	p->j = j;
	p->res = *res;
	memset(res, 0, sizeof(*res)); /* the caller releases an empty result */
	p->film = film && x->o.film && !strcmp(film, j->e->text);
	if (p->film) {
		p->base = fm_xstrdup(x->o.film);
		slash = strrchr(p->base, '/');
		if (slash)
			*slash = '\0';
	} else {
		p->base = fm_xasprintf("%s/%s", x->o.output_dir, j->e->text);
	}
	job_leave(x, j);
	j->state = J_PUBLISHING;
	/* A watcher sees why the task's line is late: its outputs are on their way. */
	{
		json_object *ev = job_event(j, "progress");

		json_object_object_add(ev, "percent", fm_json_double(100));
		json_object_object_add(ev, "message",
				       json_object_new_string("uploading the outputs"));
		json_object_object_add(ev, "stage", json_object_new_string("upload"));
		emit(x, ev);
	}
	x->pubs = fm_xrealloc(x->pubs, (x->npubs + 1) * sizeof(*x->pubs));
	x->pubs[x->npubs++] = p;
	publish_kick(x);
}

/* Final lines for the publishes that are done, in the order they were asked. */
static void collect_publishes(struct fm_exec *x)
{
	char buf[64];
	size_t i = 0;

	while (read(x->pub_pipe[0], buf, sizeof(buf)) > 0)
		;
	while (i < x->npubs) {
		struct publish *p = x->pubs[i];

		if (!p->started || !atomic_load(&p->done)) {
			i++;
			continue;
		}
		if (p->started == 1)
			pthread_join(p->thread, NULL);
		x->pubs_running--;
		memmove(x->pubs + i, x->pubs + i + 1, (x->npubs - i - 1) * sizeof(*x->pubs));
		x->npubs--;
		finish(x, p->j, &p->res);
		fm_result_release(&p->res);
		free(p->base);
		free(p);
	}
	publish_kick(x);
}

/* Emits the final line, shrinks the entry, and tells the dependents. */
static void finish(struct fm_exec *x, struct job *j, struct fm_result *res)
{
	struct entry *e = j->e;
	struct job **dependents = j->dependents;
	size_t ndependents = j->ndependents;
	char *id;

	if (x->o.on_result && res->status == FM_STATUS_SUCCESS && j->state != J_PUBLISHING) {
		publish_start(x, j, res);
		return;
	}
	fit_result(x, j, res);
	res->attempts = j->attempt ? j->attempt : 1;
	json_object_object_add(res->metadata, "tool_name", json_object_new_string(j->t.tool_name));
	if (j->m)
		json_object_object_add(res->metadata, "plugin_name",
				       json_object_new_string(j->m->name));
	emit(x, fm_result_to_json(res));
	if (res->status == FM_STATUS_ERROR)
		x->failed++;
	else if (res->status == FM_STATUS_CANCELLED)
		x->cancelled++;
	job_leave(x, j);
	x->live--;
	unlink_edges(j);
	j->dependents = NULL;
	id = fm_xstrdup(e->text);
	settle(x, e, res->status, j->m ? j->m->name : "",
	       res->status == FM_STATUS_SUCCESS ? res->output_files : NULL);
	job_free(j);
	release_dependents(x, dependents, ndependents, id, res->status);
	free(dependents);
	free(id);
}

static void fail_job(struct fm_exec *x, struct job *j, struct fm_error *err)
{
	struct fm_result res;

	fm_result_init(&res, j->e->text);
	res.status = err->code == FM_TASK_CANCELLED ? FM_STATUS_CANCELLED : FM_STATUS_ERROR;
	fm_error_move(&res.error, err);
	finish(x, j, &res);
	fm_result_release(&res);
}

static void cancel_job(struct fm_exec *x, struct job *j, const char *why)
{
	struct fm_error err = FM_ERROR_INIT;

	fm_error(&err, FM_TASK_CANCELLED, "task '%s' was cancelled%s", j->e->text, why);
	fail_job(x, j, &err);
}

static void make_ready(struct fm_exec *x, struct job *j);
static int cacheable(const struct fm_exec *x, const struct job *j);

/* A film asked for placeholders goes on when a scene's task fails. */
static int tolerates(const struct fm_exec *x, const struct job *j)
{
	json_object *p = fm_json_get(j->t.parameters, "placeholder", json_type_boolean);

	return !x->cancel_all && j->m && j->m->serve && p && json_object_get_boolean(p);
}

static void release_dependents(struct fm_exec *x, struct job **deps, size_t n, const char *id,
			       enum fm_status st)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct job *d = deps[i];
		struct fm_error err = FM_ERROR_INIT;

		if (!d || d->state != J_WAITING)
			continue;
		if (st == FM_STATUS_SUCCESS || (st == FM_STATUS_ERROR && tolerates(x, d))) {
			if (--d->ndeps == 0)
				make_ready(x, d);
			continue;
		}
		if (x->cancel_all) {
			cancel_job(x, d, "");
			continue;
		}
		fm_error(&err, FM_DEPENDENCY_FAILED, "task '%s' depends on task '%s', which %s",
			 d->e->text, id, st == FM_STATUS_CANCELLED ? "was cancelled" : "failed");
		fm_error_detail(&err, "failed_task", json_object_new_string(id));
		fail_job(x, d, &err);
	}
}

/* --- readiness ---------------------------------------------------------- */

/*
 * What a file is for (a scene, a role) travels with it, and where it came
 * from: the task and the plugin that made it (combine's sidecar lists them).
 */
static json_object *origin(json_object *r, const char *task, const char *plugin)
{
	json_object *meta = json_object_new_object(), *given;

	given = fm_json_get(r, "metadata", json_type_object);
	if (given) {
		json_object_object_foreach (given, k, v) {
			json_object_object_add(meta, k, json_object_get(v));
		}
	}
	json_object_object_add(meta, "task", json_object_new_string(task));
	if (*plugin)
		json_object_object_add(meta, "plugin", json_object_new_string(plugin));
	return meta;
}

/* Notes in parameters.failed which scene lost which task. */
static void failed_input(struct job *j, const char *id, json_object *meta)
{
	json_object *list = fm_json_get(j->t.parameters, "failed", json_type_array);
	json_object *o = json_object_new_object();

	if (!list) {
		list = json_object_new_array();
		json_object_object_add(j->t.parameters, "failed", list);
	}
	json_object_object_add(o, "task", json_object_new_string(id));
	json_object_object_add(o, "scene", json_object_get(json_object_object_get(meta, "scene")));
	json_object_object_add(o, "role", json_object_get(json_object_object_get(meta, "role")));
	json_object_array_add(list, o);
}

/* task_output resources become the named task's files. */
static int resolve_outputs(struct fm_exec *x, struct job *j, struct fm_error *err)
{
	json_object *out = json_object_new_array();
	size_t i, n = json_object_array_length(j->t.resources);

	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(j->t.resources, i);
		const char *p;
		struct fm_task_ref ref;
		const char *id = ref.id;
		struct entry *e;
		long want, k = 0;

		if (strcmp(fm_json_get_string(r, "type"), "task_output")) {
			json_object_array_add(out, json_object_get(r));
			continue;
		}
		/* fm_task_from_json let only a good reference through. */
		if (fm_task_ref_parse(fm_json_get_string(r, "data"), &ref, err) < 0) {
			json_object_put(out);
			return -1;
		}
		want = ref.output;
		e = lookup(x, id);
		if (e->status != FM_STATUS_SUCCESS) {
			/* Only a tolerant combine gets here: it draws a placeholder. */
			failed_input(j, id, fm_json_get(r, "metadata", json_type_object));
			continue;
		}
		for (p = first_output(e); *p; p += strlen(p) + 1, k++) {
			json_object *o;

			if (want >= 0 && k != want)
				continue;
			o = json_object_new_object();
			json_object_object_add(o, "type", json_object_new_string("local_path"));
			json_object_object_add(o, "data", json_object_new_string(p));
			json_object_object_add(o, "mime_type",
					       json_object_new_string(fm_mime_from_path(p)));
			json_object_object_add(o, "metadata", origin(r, id, plugin_of(e)));
			json_object_array_add(out, o);
		}
		if (want >= k) {
			json_object_put(out);
			return fm_error(err, FM_VALIDATION_ERROR,
					"task '%s': resources[%zu]: task '%s' has no output #%ld",
					j->e->text, i, id, want);
		}
	}
	json_object_put(j->t.resources);
	j->t.resources = out;
	return 0;
}

/*
 * Whether we make j's folder: for the cache, or for a plugin whose ready
 * process did not say it makes its own (send_task). A task with inputs
 * to fetch, a built-in and a Slurm job are left as they were.
 */
static int host_makes_dir(struct fm_exec *x, const struct job *j)
{
	struct pool *p;

	if (j->m->serve || x->slurm || json_object_array_length(j->t.resources))
		return 0;
	if (cacheable(x, j))
		return 1;
	for (p = x->pools; p; p = p->next)
		if (p->m == j->m)
			return p->host_dirs;
	return 0;
}

/* The folder of a task that will run soon is asked for on the thread. */
static void dir_ahead(struct fm_exec *x, struct job *j)
{
	if (j->ahead || j->localized || !host_makes_dir(x, j))
		return;
	if (!j->dir)
		j->dir = fm_xasprintf("%s/%s", x->o.output_dir, j->e->text);
	j->ahead = fm_dirahead_ask(x->dirs, j->dir);
}

static void make_ready(struct fm_exec *x, struct job *j)
{
	struct fm_error err = FM_ERROR_INIT;

	if (resolve_outputs(x, j, &err) < 0) {
		fail_job(x, j, &err);
		return;
	}
	j->state = J_READY;
	j->ready_since = fm_now();
	ready_insert(x, j);
	dir_ahead(x, j);
}

/* --- workers ------------------------------------------------------------ */

static struct pool *pool_for(struct fm_exec *x, const struct fm_manifest *m)
{
	struct pool *p;

	for (p = x->pools; p; p = p->next)
		if (p->m == m)
			return p;
	p = fm_xcalloc(1, sizeof(*p));
	p->m = m;
	p->next = x->pools;
	x->pools = p;
	return p;
}

static void pool_remove(struct worker *w)
{
	struct worker **pp;

	for (pp = &w->pool->workers; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			w->pool->n--;
			return;
		}
	}
}

static void worker_free(struct worker *w)
{
	fm_host_release(&w->h);
	free(w->inflight);
	free(w);
}

/* A worker with room for one more task: warm first, else a new one. */
static struct worker *worker_for(struct fm_exec *x, const struct fm_manifest *m,
				 struct fm_error *err)
{
	struct pool *p = pool_for(x, m);
	struct worker *w;

	for (w = p->workers; w; w = w->next)
		if (!w->stopping && w->ninflight < m->concurrency)
			return w;
	if (p->n >= x->o.jobs)
		return NULL;
	w = fm_xcalloc(1, sizeof(*w));
	fm_host_init(&w->h, m);
	if (fm_host_spawn(&w->h, err) < 0) {
		worker_free(w);
		return NULL;
	}
	w->pool = p;
	w->inflight = fm_xcalloc((size_t)m->concurrency, sizeof(*w->inflight));
	w->start_deadline = fm_now() + m->startup_timeout;
	w->idle_since = fm_now();
	w->next = p->workers;
	p->workers = w;
	p->n++;
	return w;
}

static int retryable(const struct fm_error *err)
{
	return err->code == FM_TIMEOUT_ERROR || err->code == FM_SERVICE_ERROR ||
	       err->code == FM_RATE_LIMIT_EXCEEDED ||
	       fm_json_get(err->details, "exit_status", json_type_int) ||
	       fm_json_get(err->details, "signal", json_type_int);
}

static double backoff(int attempt)
{
	double d = FM_RETRY_BASE * pow(2, attempt - 1);
	unsigned short r = 0;

	if (d > FM_RETRY_MAX)
		d = FM_RETRY_MAX;
	/* Jitter spreads the retries of tasks that failed together. */
	(void)!getrandom(&r, sizeof(r), GRND_NONBLOCK);
	return d * (0.5 + (double)r / 65535.0);
}

/* One attempt ended without a result: retry, or end the task. */
static void attempt_failed(struct fm_exec *x, struct job *j, struct fm_error *err)
{
	char msg[FM_ERROR_MAX + 64];

	if (j->needs)
		needs_fit(x, j, -1);
	running_remove(x, j);
	if (j->w)
		worker_detach(j->w, j);
	/* The plugin may have removed its folder: the next attempt makes it again. */
	j->dir_made = 0;
	if (j->cancelling || x->cancel_all) {
		fm_error_release(err);
		j->state = J_BACKOFF; /* not running: finish must not look for it */
		cancel_job(x, j, "");
		return;
	}
	if (!retryable(err) || j->attempt > j->m->max_retries) {
		j->state = J_BACKOFF;
		fail_job(x, j, err);
		return;
	}
	j->state = J_BACKOFF;
	j->retry_at = fm_now() + backoff(j->attempt);
	snprintf(msg, sizeof(msg), "attempt %d failed: %s: %s; retrying in %.1fs", j->attempt,
		 fm_code_name(err->code), err->message, j->retry_at - fm_now());
	job_log(x, j, "warning", msg);
	fm_error_release(err);
	j->prev = x->backoff.prev;
	j->next = &x->backoff;
	x->backoff.prev->next = j;
	x->backoff.prev = j;
}

/* The worker can no longer be trusted: every task on it fails this attempt. */
static void worker_broke(struct fm_exec *x, struct worker *w, struct job *culprit,
			 struct fm_error *culprit_err, const char *why)
{
	struct fm_error err = FM_ERROR_INIT;

	pool_remove(w);
	fm_host_broke(&w->h, &err, "%s", why);
	while (w->ninflight) {
		struct job *j = w->inflight[0];
		struct fm_error copy = FM_ERROR_INIT;

		if (culprit && j == culprit && culprit_err) {
			fm_error_move(&copy, culprit_err);
			if (err.details)
				fm_error_detail(&copy, "plugin", json_object_get(err.details));
		} else {
			fm_error(&copy, err.code, "%s", err.message);
			if (err.details)
				copy.details = json_object_get(err.details);
		}
		attempt_failed(x, j, &copy);
	}
	fm_error_release(&err);
	/* Freed at the end of the turn: the poll set may still name it. */
	w->dead = 1;
	w->next = x->dead;
	x->dead = w;
}

/*
 * The values under secret names (api_key, token, password: fm_secret_name)
 * of config.yaml's plugins.NAME, the plugin's server_config: the plugin
 * gets them, and whatever comes back from it is redacted of them, as of
 * the keys in its environment (host.c).
 */
static void secrets_of(json_object *o, int secret)
{
	size_t i;

	switch (json_object_get_type(o)) {
	case json_type_object: {
		/* Braced: the macro declares k and v, which clang will not take after a label. */
		json_object_object_foreach (o, k, v) {
			secrets_of(v, secret || fm_secret_name(k));
		}
		break;
	}
	case json_type_array:
		for (i = 0; i < json_object_array_length(o); i++)
			secrets_of(json_object_array_get_idx(o, i), secret);
		break;
	case json_type_string:
		if (secret)
			fm_secret_add(json_object_get_string(o));
		break;
	default: break;
	}
}

/*
 * The absolute paths of the task's local inputs, in order (they are all
 * local by now: downloads done, task_output references resolved), and
 * the first image among them in *image (or the first input; NULL: none).
 */
static json_object *processed_resources(const struct job *j, const char **image)
{
	json_object *list = json_object_new_array();
	size_t i, n = j->t.resources ? json_object_array_length(j->t.resources) : 0;

	*image = NULL;
	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(j->t.resources, i);
		const char *data = fm_json_get_string(r, "data");
		const char *mime = fm_json_get_string(r, "mime_type");
		const char *type = fm_json_get_string(r, "type");
		char *abs;

		if (!data || !type || strcmp(type, "local_path"))
			continue;
		abs = fm_abspath(data);
		json_object_array_add(list, json_object_new_string(abs));
		free(abs);
		if (!mime)
			mime = fm_mime_from_path(data);
		if (!*image && !strncmp(mime, "image/", 6))
			*image = json_object_get_string(
			    json_object_array_get_idx(list, json_object_array_length(list) - 1));
	}
	if (!*image && json_object_array_length(list))
		*image = json_object_get_string(json_object_array_get_idx(list, 0));
	return list;
}

/*
 * What execute_task carries: the task, and beside it what the Filmeto
 * project's host gives its plugins (filmeto-protocol(7)): metadata with
 * server_config, workspace_path, server_name and processed_resources,
 * the tool as ability and tool, and processed_resources (unless sdk)
 * and input_image_path (when the tool takes it) among the parameters. The
 * task's own parameters and metadata are not changed: the request has
 * copies of their top levels.
 */
static json_object *request_params(const struct job *j, int sdk)
{
	json_object *p = fm_task_to_json(&j->t), *meta = json_object_new_object();
	json_object *params = json_object_new_object(), *inputs;
	char *workspace = fm_abspath(j->dir);
	const char *image;

	json_object_object_del(p, "type");
	json_object_object_add(p, "output_dir", json_object_new_string(j->dir));
	/* The Filmeto project's Python plugins read the tool from here. */
	json_object_object_add(p, "ability", json_object_new_string(j->t.tool_name));
	/* ... and their older plugins from here. */
	json_object_object_add(p, "tool", json_object_new_string(j->t.tool_name));
	json_object_object_add(p, "server_name", json_object_new_string(j->m->name));
	json_object_object_add(p, "attempt", json_object_new_int(j->attempt));
	if (j->settings)
		json_object_object_add(p, "settings", json_object_get(j->settings));

	inputs = processed_resources(j, &image);
	if (j->t.parameters) {
		json_object_object_foreach (j->t.parameters, k, v) {
			json_object_object_add(params, k, json_object_get(v));
		}
	}
	/*
	 * Not for a plugin built on the SDK (its ready info says
	 * creates_output_dir): it reads resources, and some send their
	 * parameters on to a service as they are.
	 */
	if (!sdk && !json_object_object_get_ex(params, "processed_resources", NULL))
		json_object_object_add(params, "processed_resources", json_object_get(inputs));
	if (image && fm_tool_param(j->tool, "input_image_path") &&
	    !fm_json_get_string(params, "input_image_path"))
		json_object_object_add(params, "input_image_path", json_object_new_string(image));
	json_object_object_add(p, "parameters", params);

	if (j->t.metadata) {
		json_object_object_foreach (j->t.metadata, k, v) {
			json_object_object_add(meta, k, json_object_get(v));
		}
	}
	json_object_object_add(meta, "server_config",
			       j->settings ? json_object_get(j->settings)
					   : json_object_new_object());
	json_object_object_add(meta, "workspace_path", json_object_new_string(workspace));
	json_object_object_add(meta, "server_name", json_object_new_string(j->m->name));
	json_object_object_add(meta, "processed_resources", inputs);
	json_object_object_add(p, "metadata", meta);
	free(workspace);
	return p;
}

/* Seconds a task's plugin may send nothing: the manifest's execution.idle_timeout. */
static double idle_timeout(const struct job *j)
{
	return fm_json_get_double(fm_json_get(j->m->root, "execution", json_type_object),
				  "idle_timeout", FM_IDLE_TIMEOUT);
}

/*
 * Sends j to w. A plugin built on the SDK says in its ready info that it
 * makes its output directories itself; for any other, we make it here.
 */
static void send_task(struct worker *w, struct job *j)
{
	json_object *req, *own = fm_json_get(w->h.info, "creates_output_dir", json_type_boolean);

	/* Silence counts from here: a plugin still starting has startup.timeout. */
	j->idle_at = fm_now() + idle_timeout(j);

	if ((!own || !json_object_get_boolean(own)) && !j->dir_made)
		/* A failure shows up as the plugin's own error writing there. */
		fm_mkdirs(j->dir, NULL);

	j->rpc_id = w->h.next_id++;
	req = fm_rpc_request(j->rpc_id, "execute_task",
			     request_params(j, own && json_object_get_boolean(own)));
	fm_host_send(&w->h, req);
	json_object_put(req);
}

/* --- dispatch ----------------------------------------------------------- */

/*
 * A film written to -o lives outside the task's directory, where the
 * cache cannot restore it, and one with placeholders is not the film
 * asked for: both are made again each time (their scenes still cached).
 */
static int cacheable(const struct fm_exec *x, const struct job *j)
{
	return x->o.cache && x->o.cache_dir &&
	       !fm_json_get(j->t.parameters, "output", json_type_string) &&
	       !fm_json_get(j->t.parameters, "failed", json_type_array);
}

/* A task answered without running: the cache's copy, or the film's stamp. */
static void answer_cached(struct fm_exec *x, struct job *j, struct fm_result *res)
{
	res->status = FM_STATUS_SUCCESS;
	json_object_object_add(res->metadata, "cached", json_object_new_boolean(1));
	j->attempt = 1;
	if (j->state == J_READY)
		j->state = J_BACKOFF; /* neither ready nor running any more */
	finish(x, j, res);
}

/* --- -o's film: not combined again when nothing it is made of changed -- */

/*
 * The film is not kept in the output cache (it may be large, and it lives
 * where -o says); instead its key is stamped into the sidecar combine
 * writes beside it, FILM.json, under "filmeto_run", with the film's size
 * and modification time and the result. A rerun whose key, film and
 * outputs all match answers from the stamp.
 */
static int film_job(const struct fm_exec *x, const struct job *j)
{
	return x->o.cache && x->o.cache_dir && x->o.film && x->film_taken &&
	       !strcmp(x->film_taken, j->e->text) &&
	       !fm_json_get(j->t.parameters, "failed", json_type_array);
}

static char *film_sidecar(const char *film)
{
	const char *dot = strrchr(film, '.');

	return fm_xasprintf("%.*s.json", (int)(dot ? dot - film : (ptrdiff_t)strlen(film)), film);
}

static json_object *film_read_sidecar(const char *path)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *o = NULL;
	char *buf = NULL;
	size_t len;

	if (fm_read_file(path, FM_FILM_SIDECAR_MAX, &buf, &len, &err) == 0 &&
	    fm_json_parse(buf, len, &o, &err) == 0 && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	fm_error_release(&err);
	free(buf);
	return o;
}

/* "size:mtime-ns" of the film, or "" when it is no regular file. */
static void film_state(const char *film, char buf[64])
{
	struct stat st;

	buf[0] = '\0';
	if (lstat(film, &st) == 0 && S_ISREG(st.st_mode))
		snprintf(buf, 64, "%lld:%lld.%09ld", (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void film_stamp(struct fm_exec *x, struct job *j, const struct fm_result *res)
{
	struct fm_error err = FM_ERROR_INIT;
	char *path = film_sidecar(x->o.film), state[64];
	json_object *side = film_read_sidecar(path), *stamp;
	const char *text;
	size_t len;

	film_state(x->o.film, state);
	if (side && *state) {
		stamp = json_object_new_object();
		json_object_object_add(stamp, "key", json_object_new_string(j->cache_key));
		json_object_object_add(stamp, "film", json_object_new_string(state));
		json_object_object_add(stamp, "output_files", json_object_get(res->output_files));
		json_object_object_add(stamp, "output_resources",
				       json_object_get(res->output_resources));
		json_object_object_add(stamp, "metadata", json_object_get(res->metadata));
		json_object_object_add(side, "filmeto_run", stamp);
		text = json_object_to_json_string_length(
		    side, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
		/* Failing to stamp only means combining again next time. */
		fm_write_file(path, text, len, &err);
	}
	fm_error_release(&err);
	json_object_put(side);
	free(path);
}

/* Answers the film task from the stamp: 1 when nothing changed. */
static int film_reuse(struct fm_exec *x, struct job *j)
{
	char *path = film_sidecar(x->o.film), state[64];
	json_object *side = film_read_sidecar(path);
	json_object *stamp = fm_json_get(side, "filmeto_run", json_type_object);
	json_object *files = fm_json_get(stamp, "output_files", json_type_array);
	const char *key = fm_json_get_string(stamp, "key");
	const char *was = fm_json_get_string(stamp, "film");
	struct fm_result res;
	int hit = 0;
	size_t i;

	film_state(x->o.film, state);
	if (key && was && files && *state && !strcmp(key, j->cache_key) && !strcmp(was, state)) {
		hit = 1;
		for (i = 0; hit && i < json_object_array_length(files); i++)
			hit = access(json_object_get_string(json_object_array_get_idx(files, i)),
				     F_OK) == 0;
	}
	if (hit) {
		fm_result_init(&res, j->e->text);
		json_object_put(res.output_files);
		res.output_files = json_object_get(files);
		json_object_put(res.output_resources);
		res.output_resources =
		    json_object_get(fm_json_get(stamp, "output_resources", json_type_array));
		if (!res.output_resources)
			res.output_resources = json_object_new_array();
		json_object_put(res.metadata);
		res.metadata =
		    fm_json_get(stamp, "metadata", json_type_object)
			? json_object_get(fm_json_get(stamp, "metadata", json_type_object))
			: json_object_new_object();
		answer_cached(x, j, &res);
		fm_result_release(&res);
	}
	json_object_put(side);
	free(path);
	return hit;
}

/* Answers from the output cache: no plugin runs. Returns 1 on a hit. */
static int from_cache(struct fm_exec *x, struct job *j)
{
	struct fm_result res;
	int hit;

	if (!j->cache_key)
		return 0;
	if (film_job(x, j))
		return film_reuse(x, j);
	fm_result_init(&res, j->e->text);
	hit = (j->dir_made || fm_mkdirs(j->dir, NULL) == 0) &&
	      fm_cache_get(x->o.cache_dir, j->cache_key, j->dir, &res) == 0;
	if (hit)
		answer_cached(x, j, &res);
	fm_result_release(&res);
	return hit;
}

/* The attempt's started line; job_id names the Slurm job it runs in, or NULL. */
static void announce(struct fm_exec *x, struct job *j, const char *job_id)
{
	json_object *ev = job_event(j, "started");

	j->announced = j->attempt;
	json_object_object_add(ev, "plugin_name", json_object_new_string(j->m->name));
	json_object_object_add(ev, "tool_name", json_object_new_string(j->t.tool_name));
	slurm_meta(ev, job_id);
	emit(x, ev);
}

/* An attempt begins: a -j slot, the limits, the clock and the started line. */
static void begin_attempt(struct fm_exec *x, struct job *j, enum jstate st)
{
	double now = fm_now();

	j->attempt++;
	j->state = st;
	x->running = fm_xrealloc(x->running, (x->nrunning + 1) * sizeof(*x->running));
	x->running[x->nrunning++] = j;
	if (j->needs)
		needs_fit(x, j, 1);
	j->started = now;
	j->deadline = now + (j->t.timeout > 0 ? j->t.timeout : j->m->exec_timeout);
	/* A plugin's silence counts only once it has the task. */
	j->idle_at = INFINITY;
	j->beat_at = x->o.heartbeat > 0 ? now + x->o.heartbeat : INFINITY;
	j->nlogs = 0;
	/* A Slurm job's task starts when its node says so, not while it queues. */
	if (x->slurm && !j->m->serve) {
		j->beat_at = INFINITY;
		return;
	}
	announce(x, j, NULL);
}

/* The running task goes to w, which sends it once it is ready. */
static void attach(struct worker *w, struct job *j)
{
	j->state = J_RUNNING;
	j->w = w;
	j->plugin = w->h.proc.pid;
	w->inflight[w->ninflight++] = j;
	if (w->ready)
		send_task(w, j);
}

/*
 * Local files for every resource, and the cache key over their content,
 * on a thread, once per task (retries reuse them). The task is running
 * from here on: its started line goes out and its timeout counts.
 */
/*
 * The task's output folder: a symbolic link planted there would have the
 * plugin (and a cached result) write through it. -1 when j has failed.
 */
static int task_dir(struct fm_exec *x, struct job *j)
{
	struct fm_error err = FM_ERROR_INIT;

	if (!j->dir)
		j->dir = fm_xasprintf("%s/%s", x->o.output_dir, j->e->text);
	/*
	 * A folder made ahead was made when the task became ready, which may
	 * be long before now: what is there now is looked at as any folder is.
	 */
	if (j->ahead) {
		j->dir_made = fm_dirahead_take(j->ahead);
		j->ahead = NULL;
		if (j->dir_made && fm_host_output_dir(j->dir, &err) < 0)
			goto refused;
	}
	/* A folder made just now is a new directory: nothing was planted there. */
	if (!j->dir_made && host_makes_dir(x, j))
		j->dir_made = mkdir(j->dir, 0777) == 0;
	if (j->dir_made || fm_host_output_dir(j->dir, &err) == 0)
		return 0;
refused:
	j->state = J_BACKOFF; /* neither ready nor running any more */
	fail_job(x, j, &err);
	return -1;
}

static void begin_prep(struct fm_exec *x, struct job *j)
{
	struct fm_prep_in in = {.resources = j->t.resources, .cache_dir = x->o.cache_dir};
	struct fm_error err = FM_ERROR_INIT;

	list_unlink(j);
	x->nready--;
	if (task_dir(x, j) < 0)
		return;
	in.dir = j->dir;
	if (cacheable(x, j) || film_job(x, j)) {
		in.m = j->m;
		in.tool = j->t.tool_name;
		in.parameters = j->t.parameters;
		in.settings = j->settings;
		in.owner = fm_json_get_string(j->t.metadata, FM_OWNER_KEY);
	}
	begin_attempt(x, j, J_PREPARING);
	if (fm_prep_start(&j->prep, &in, x->prep_pipe[1], &err) < 0)
		fail_job(x, j, &err);
}

/*
 * Tasks whose inputs are ready: answered from the cache, or on to a
 * plugin process (attach_prepared). A task whose inputs could not be
 * made ready fails, without a retry, which would only fetch them again.
 */
static void collect_preps(struct fm_exec *x)
{
	char buf[64];
	size_t i;

	while (read(x->prep_pipe[0], buf, sizeof(buf)) > 0)
		;
	for (i = 0; i < x->nlingering;) {
		if (!fm_prep_done(x->lingering[i])) {
			i++;
			continue;
		}
		fm_prep_free(x->lingering[i]);
		x->lingering[i] = x->lingering[--x->nlingering];
	}
	/* Ending a task takes it out of running: look at the same slot again. */
	for (i = 0; i < x->nrunning;) {
		struct job *j = x->running[i];
		struct fm_error err = FM_ERROR_INIT;
		json_object *res;
		int rc;

		if (j->state != J_PREPARING || !fm_prep_done(j->prep)) {
			i++;
			continue;
		}
		rc = fm_prep_result(j->prep, &res, &j->cache_key, &err);
		fm_prep_free(j->prep);
		j->prep = NULL;
		if (rc < 0) {
			fail_job(x, j, &err);
			continue;
		}
		json_object_put(j->t.resources);
		j->t.resources = res;
		j->localized = 1;
		j->state = J_PREPARED;
		if (!from_cache(x, j))
			i++;
	}
}

static int slurm_attach(struct fm_exec *x, struct job *j);

/* Prepared tasks hold their -j slot already: they get a process first. */
static void attach_prepared(struct fm_exec *x)
{
	size_t i;

	for (i = 0; i < x->nrunning;) {
		struct job *j = x->running[i];
		struct fm_error err = FM_ERROR_INIT;
		struct worker *w;

		if (j->state != J_PREPARED) {
			i++;
			continue;
		}
		if (x->slurm && !j->m->serve) {
			if (slurm_attach(x, j) == 0)
				i++;
			continue;
		}
		w = worker_for(x, j->m, &err);
		if (w) {
			attach(w, j);
			i++;
		} else if (err.code) {
			fail_job(x, j, &err);
		} else {
			i++; /* every process of its plugin is busy: a later turn */
		}
	}
}

/*
 * Starts j on w, or as a Slurm job when w is NULL: returns 0, or -1 when
 * j ended before starting. A task
 * without resources has nothing to fetch and a key of its parameters
 * alone, which is quick: it is looked up in the cache here, before any
 * started line.
 */
static int dispatch(struct fm_exec *x, struct job *j, struct worker *w)
{
	list_unlink(j);
	x->nready--;
	if (!j->localized) {
		if (task_dir(x, j) < 0)
			return -1;
		j->localized = 1;
		if (cacheable(x, j) || film_job(x, j))
			j->cache_key = fm_cache_key(j->m, &j->t, j->settings, NULL);
		if (from_cache(x, j))
			return -1;
	}
	begin_attempt(x, j, J_RUNNING);
	if (!w)
		return slurm_attach(x, j);
	attach(w, j);
	return 0;
}

/*
 * A task without resources is looked up in the cache before a plugin
 * process is found for it, so a rerun answered from the cache starts no
 * plugin. Returns 1 when j ended here (answered, or its folder refused);
 * on a miss j is back in the ready list, where it was.
 */
static int answered_early(struct fm_exec *x, struct job *j)
{
	if (j->localized || (!cacheable(x, j) && !film_job(x, j)))
		return 0;
	list_unlink(j);
	x->nready--;
	if (task_dir(x, j) < 0)
		return 1;
	j->localized = 1;
	j->cache_key = fm_cache_key(j->m, &j->t, j->settings, NULL);
	if (from_cache(x, j))
		return 1;
	ready_insert(x, j);
	return 0;
}

/* Admits ready tasks in submission order within -j and the limits. */
static void schedule(struct fm_exec *x)
{
	struct job *j = x->ready.next, *next;
	int scarce_blocked = 0;

	attach_prepared(x);
	for (; j != &x->ready && x->nrunning < (size_t)x->o.jobs && !x->cancel_all; j = next) {
		struct fm_error err = FM_ERROR_INIT;
		struct worker *w;

		next = j->next;
		if (j->needs && (scarce_blocked || !needs_fit(x, j, 0))) {
			/* Scarce tasks keep their order; others pass them. */
			scarce_blocked = 1;
			continue;
		}
		if (!j->localized && json_object_array_length(j->t.resources)) {
			begin_prep(x, j);
			continue;
		}
		if (answered_early(x, j))
			continue;
		if (x->slurm && !j->m->serve) {
			dispatch(x, j, NULL);
			continue;
		}
		w = worker_for(x, j->m, &err);
		if (!w && err.code) {
			list_unlink(j);
			x->nready--;
			j->state = J_BACKOFF;
			fail_job(x, j, &err);
			continue;
		}
		if (w)
			dispatch(x, j, w);
	}
}

/* --- what plugins say --------------------------------------------------- */

static struct job *inflight_by_task(struct worker *w, const char *task_id)
{
	int i;

	for (i = 0; task_id && i < w->ninflight; i++)
		if (!strcmp(w->inflight[i]->e->text, task_id))
			return w->inflight[i];
	/* A plugin that leaves task_id out means the one it is working on. */
	return w->ninflight == 1 ? w->inflight[0] : NULL;
}

static void on_progress(struct fm_exec *x, struct worker *w, const char *method,
			json_object *params)
{
	struct job *j = inflight_by_task(w, fm_json_get_string(params, "task_id"));
	static const char *const keys[] = {"message", "stage", "data", NULL};
	json_object *ev, *v;
	size_t i;

	if (!j)
		return;
	j->idle_at = fm_now() + idle_timeout(j);
	ev = job_event(j, method);
	if (!strcmp(method, "progress")) {
		double pct = fm_json_get_double(params, "percent", 0);

		/* Honest progress: whatever a plugin claims stays in 0..100. */
		pct = pct < 0 || isnan(pct) ? 0 : pct > 100 ? 100 : pct;
		json_object_object_add(ev, "percent", fm_json_double(pct));
		for (i = 0; keys[i]; i++)
			if (json_object_object_get_ex(params, keys[i], &v))
				json_object_object_add(ev, keys[i],
						       fit_value(v, FM_PROGRESS_DATA_MAX));
	}
	emit(x, ev);
}

static void on_result(struct fm_exec *x, struct worker *w, struct job *j, struct fm_rpc_msg *msg)
{
	struct fm_result res;

	fm_result_init(&res, j->e->text);
	if (msg->kind == FM_RPC_ERROR) {
		res.status = FM_STATUS_ERROR;
		fm_error(&res.error, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' answered with JSON-RPC error %lld: %s", j->m->name,
			 (long long)msg->error_code, msg->error_message);
		if (msg->error_data)
			fm_error_detail(&res.error, "data", json_object_get(msg->error_data));
	} else {
		/* Combine's film may be where the user's -o put it, outside j->dir. */
		fm_host_take_result(&w->h, msg->result, j->dir,
				    fm_json_get_string(j->t.parameters, "output"), &res);
	}
	if (j->needs)
		needs_fit(x, j, -1);
	if (j->cancelling && res.status != FM_STATUS_SUCCESS) {
		res.status = FM_STATUS_CANCELLED;
		fm_error(&res.error, FM_TASK_CANCELLED, "task '%s' was cancelled", j->e->text);
	}
	if (res.status == FM_STATUS_ERROR && retryable(&res.error) && !j->cancelling) {
		struct fm_error err = FM_ERROR_INIT;

		fm_error_move(&err, &res.error);
		fm_result_release(&res);
		attempt_failed(x, j, &err);
		return;
	}
	res.execution_time = fm_now() - j->started;
	fit_result(x, j, &res);
	if (res.status == FM_STATUS_SUCCESS && j->cache_key && film_job(x, j))
		film_stamp(x, j, &res);
	else if (res.status == FM_STATUS_SUCCESS && j->cache_key)
		fm_cache_put(x->o.cache_dir, j->cache_key, &res);
	finish(x, j, &res);
	fm_result_release(&res);
}

/* Plain text on stdout (a print() in a Python plugin) is logged, not fatal. */
static int stray(struct fm_exec *x, struct worker *w, const char *line, size_t len)
{
	size_t i = strspn(line, " \t");

	if (i < len && line[i] == '{')
		return 0;
	if (i < len) {
		fm_host_remember(&w->h, line);
		if (w->ninflight)
			job_log(x, w->inflight[0], "warning", line);
	}
	return 1;
}

/*
 * The Filmeto project's plugins have no cancel method: they answer the
 * notification with "method not found" and an id of null, and work on.
 * Waiting out --grace for them is waiting for nothing: the plugin gets
 * SIGTERM now and FM_TERM_GRACE seconds before it is killed.
 */
static void cancel_refused(struct worker *w)
{
	double now = fm_now();
	int any = 0, i;

	for (i = 0; i < w->ninflight; i++) {
		struct job *j = w->inflight[i];

		if (j->cancelling && j->cancel_at > now + FM_TERM_GRACE) {
			j->cancel_at = now + FM_TERM_GRACE;
			any = 1;
		}
	}
	if (any)
		fm_proc_signal(&w->h.proc, SIGTERM);
}

/* Returns -1 when the worker broke (and is gone). */
static int take_line(struct fm_exec *x, struct worker *w, const char *line, size_t len)
{
	struct fm_error perr = FM_ERROR_INIT;
	struct fm_rpc_msg msg;
	char why[256];
	int i;

	if (stray(x, w, line, len))
		return 0;
	if (fm_rpc_parse(line, len, &msg, &perr) < 0) {
		snprintf(why, sizeof(why), "sent something that is not JSON-RPC (%.60s): %.60s",
			 perr.message, line);
		worker_broke(x, w, NULL, NULL, why);
		return -1;
	}
	if (msg.kind == FM_RPC_NOTIFICATION) {
		if (!strcmp(msg.method, "ready") && !w->ready) {
			json_object *own =
			    fm_json_get(msg.params, "creates_output_dir", json_type_boolean);

			w->ready = 1;
			w->h.info = fm_json_ref_or_object(msg.params);
			w->pool->host_dirs = !own || !json_object_get_boolean(own);
			for (i = 0; i < w->ninflight; i++)
				send_task(w, w->inflight[i]);
		} else if (!strcmp(msg.method, "progress") || !strcmp(msg.method, "heartbeat")) {
			on_progress(x, w, msg.method, msg.params);
		}
	} else if (msg.kind == FM_RPC_REQUEST) {
		json_object *reply = fm_rpc_error(json_object_get(msg.id), FM_RPC_METHOD_NOT_FOUND,
						  "the host serves no methods", NULL);

		fm_host_send(&w->h, reply);
		json_object_put(reply);
	} else if (msg.kind == FM_RPC_ERROR && !msg.id &&
		   msg.error_code == FM_RPC_METHOD_NOT_FOUND) {
		cancel_refused(w);
	} else if (msg.id) {
		struct job *j = NULL;
		int64_t id = json_object_is_type(msg.id, json_type_int)
				 ? json_object_get_int64(msg.id)
				 : strtoll(json_object_get_string(msg.id), NULL, 10);

		for (i = 0; i < w->ninflight; i++)
			if (fm_rpc_id_is(&msg, w->inflight[i]->rpc_id))
				j = w->inflight[i];
		if (j) {
			on_result(x, w, j, &msg);
		} else if (id <= 0 || id >= w->h.next_id) {
			/* Not a late answer to something we asked: a confused plugin. */
			snprintf(why, sizeof(why),
				 "answered request id %.40s, which was never sent",
				 json_object_get_string(msg.id));
			fm_rpc_msg_release(&msg);
			worker_broke(x, w, NULL, NULL, why);
			return -1;
		}
	}
	fm_rpc_msg_release(&msg);
	return 0;
}

/*
 * A key a plugin was given (host.c) never comes back out of it, whatever
 * language the plugin is written in: its lines are redacted before they
 * are read, so no event, log, error or cache entry can carry one.
 */
static int on_line(struct fm_exec *x, struct worker *w, const char *line, size_t len)
{
	char *clean;
	int rc;

	if (!fm_secret_count())
		return take_line(x, w, line, len);
	clean = fm_redact(line, len, &len);
	rc = take_line(x, w, clean, len);
	free(clean);
	return rc;
}

/* Reads what the worker wrote; returns -1 when it broke. */
static int worker_read(struct fm_exec *x, struct worker *w, int out_ready, int err_ready)
{
	enum fm_line got;
	char *line;
	size_t len;
	ssize_t n;
	int i;

	/* Standard error first: what was logged before an answer is its task's. */
	if (err_ready && fm_reader_fill(&w->h.err) >= 0) {
		while ((got = fm_reader_take(&w->h.err, &line, &len)) != FM_LINE_NONE) {
			const char *text =
			    got == FM_LINE_OK ? line : "(an over-long log line was dropped)";
			char *clean =
			    fm_secret_count() ? fm_redact(text, strlen(text), NULL) : NULL;

			if (clean)
				text = clean;
			fm_host_remember(&w->h, text);
			if (w->ninflight)
				job_log(x, w->inflight[0], "info", text);
			free(clean);
		}
	}
	if (!out_ready)
		return 0;
	n = fm_reader_fill(&w->h.out);
	if (n < 0 && errno != EAGAIN)
		w->h.out.eof = 1;
	/*
	 * A plugin in the middle of a long line is not silent: the idle
	 * timeout is for one that sends nothing (execution.timeout bounds
	 * one that never finishes its line).
	 */
	for (i = 0; n > 0 && i < w->ninflight; i++)
		if (isfinite(w->inflight[i]->idle_at))
			w->inflight[i]->idle_at = fm_now() + idle_timeout(w->inflight[i]);
	while ((got = fm_reader_take(&w->h.out, &line, &len)) != FM_LINE_NONE) {
		if (got == FM_LINE_LONG) {
			worker_broke(x, w, NULL, NULL, "sent a line longer than the 4 MiB limit");
			return -1;
		}
		if (on_line(x, w, line, len) < 0)
			return -1;
	}
	if (w->h.out.eof) {
		/* Its exit, when that is what closed the pipe, is the better news. */
		int exited = fm_proc_poll(&w->h.proc);

		worker_broke(x, w, NULL, NULL,
			     !w->ready	    ? "exited before it was ready"
			     : w->ninflight ? (exited ? "exited before answering"
						      : "closed its output before answering")
			     : exited	    ? "exited"
					    : "closed its output");
		return -1;
	}
	return 0;
}

/*
 * The plugin process ended. Its exit is noticed by itself, not by the end
 * of its output, which a helper it started may hold open for ever: what
 * it wrote before it ended still counts (a result may be there), then the
 * worker broke, with the exit status, and its group is gone.
 */
static void worker_exited(struct fm_exec *x, struct worker *w)
{
	int rounds;

	if (!fm_proc_poll(&w->h.proc))
		return;
	for (rounds = 0; rounds < FM_EXIT_READS; rounds++) {
		struct pollfd pfd = {w->h.proc.out, POLLIN, 0};

		if (poll(&pfd, 1, 0) <= 0)
			break;
		if (worker_read(x, w, 1, 0) < 0)
			return;
	}
	worker_broke(x, w, NULL, NULL,
		     !w->ready	    ? "exited before it was ready"
		     : w->ninflight ? "exited before answering"
				    : "exited");
}

/* Idle workers leave gently: shutdown, stdin closed, killed if they linger. */
static void worker_retire(struct fm_exec *x, struct worker *w)
{
	json_object *bye = fm_rpc_notification("shutdown", NULL);

	pool_remove(w);
	fm_host_send(&w->h, bye);
	json_object_put(bye);
	fm_host_flush(&w->h);
	close(w->h.proc.in);
	w->h.proc.in = -1;
	w->stopping = 1;
	w->stop_deadline = fm_now() + FM_SHUTDOWN_GRACE;
	w->kill_at = w->stop_deadline + 1.0;
	w->next = x->stopping;
	x->stopping = w;
}

/*
 * What a leaving worker still says is read only for one answer: the
 * Filmeto project's plugins refuse shutdown with "method not found", and
 * one that does not then leave at the end of its input is not waited
 * for: SIGTERM now, SIGKILL FM_TERM_GRACE later.
 */
static void shutdown_refused(struct worker *w, double now)
{
	enum fm_line got;
	char *line;
	size_t len;

	if (w->h.out.eof || now >= w->stop_deadline)
		return;
	(void)fm_reader_fill(&w->h.out);
	while ((got = fm_reader_take(&w->h.out, &line, &len)) != FM_LINE_NONE) {
		struct fm_error perr = FM_ERROR_INIT;
		struct fm_rpc_msg msg;

		if (got != FM_LINE_OK || fm_rpc_parse(line, len, &msg, &perr) < 0)
			continue;
		if (msg.kind == FM_RPC_ERROR && !msg.id &&
		    msg.error_code == FM_RPC_METHOD_NOT_FOUND) {
			w->stop_deadline = now;
			w->kill_at = now + FM_TERM_GRACE;
		}
		fm_rpc_msg_release(&msg);
	}
}

static void reap_stopping(struct fm_exec *x, double now)
{
	struct worker **pp = &x->stopping;

	while (*pp) {
		struct worker *w = *pp;

		shutdown_refused(w, now);
		if (!fm_proc_poll(&w->h.proc) && now >= w->stop_deadline) {
			fm_proc_signal(&w->h.proc, now >= w->kill_at ? SIGKILL : SIGTERM);
			if (now >= w->kill_at)
				fm_proc_wait(&w->h.proc, 1.0);
		}
		if (w->h.proc.reaped) {
			*pp = w->next;
			worker_free(w);
			continue;
		}
		pp = &w->next;
	}
}

/* --- Slurm (--executor slurm) ---------------------------------------------- */

/*
 * A task goes to the Slurm jobs as the line its node's filmeto-run reads:
 * its inputs local by now (fetched here, task_output references resolved
 * to the files), and no depends_on, which that run could not meet. The
 * node keeps the task's timeout; Slurm's --time is the head's. Returns -1
 * when j ended (the request could not be made).
 */
static int slurm_attach(struct fm_exec *x, struct job *j)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *line = fm_task_to_json(&j->t);
	int rc, feeds = 0;
	size_t i;

	json_object_object_del(line, "depends_on");
	j->state = J_RUNNING;
	j->deadline = INFINITY;
	j->idle_at = INFINITY;
	for (i = 0; i < j->ndependents && !feeds; i++)
		feeds = j->dependents[i] && j->dependents[i]->state == J_WAITING;
	rc = fm_slurm_run_add(
	    x->slurm, j, line, fm_json_get(j->tool, "resources", json_type_object),
	    j->t.timeout > 0 ? j->t.timeout : j->m->exec_timeout, j->m->name, feeds, &err);
	json_object_put(line);
	if (rc < 0) {
		if (j->needs)
			needs_fit(x, j, -1);
		fail_job(x, j, &err);
		return -1;
	}
	j->in_slurm = 1;
	return 0;
}

/*
 * A started, progress or log line from the task's node, passed on as its
 * plugin's would be.
 */
static void slurm_event(void *ctx, void *tag, json_object *line, const char *job_id)
{
	static const char *const keys[] = {"message", "stage", "data", NULL};
	struct fm_exec *x = ctx;
	struct job *j = tag;
	const char *type = fm_json_get_string(line, "type");
	json_object *ev, *v;
	size_t i;

	if (!strcmp(type, "started")) {
		/* A requeued job starts again: the task started once. */
		if (j->announced == j->attempt)
			return;
		announce(x, j, job_id);
		if (x->o.heartbeat > 0)
			j->beat_at = fm_now() + x->o.heartbeat;
		return;
	}
	if (!strcmp(type, "log")) {
		const char *level = fm_json_get_string(line, "level");
		const char *msg = fm_json_get_string(line, "message");

		if (msg)
			job_log_from(x, j, level && !strcmp(level, "warning") ? "warning" : "info",
				     msg, job_id);
		return;
	}
	ev = job_event(j, "progress");
	{
		double pct = fm_json_get_double(line, "percent", 0);

		pct = pct < 0 || isnan(pct) ? 0 : pct > 100 ? 100 : pct;
		json_object_object_add(ev, "percent", fm_json_double(pct));
	}
	for (i = 0; keys[i]; i++)
		if (json_object_object_get_ex(line, keys[i], &v))
			json_object_object_add(ev, keys[i], fit_value(v, FM_PROGRESS_DATA_MAX));
	slurm_meta(ev, job_id);
	emit(x, ev);
}

/*
 * The task's job is over. Its node's final line is taken like a plugin's
 * answer (its outputs must be files in the task's folder); it already
 * went through the node's retries and into the output cache. A node
 * lost is retried here, under the same policy.
 */
static void slurm_ended(void *ctx, void *tag, json_object *final, enum fm_slurm_fate fate,
			struct fm_error *err, const char *job_id)
{
	struct fm_exec *x = ctx;
	struct job *j = tag;
	struct fm_result res;
	struct fm_host h;

	j->in_slurm = 0;
	if (fate == FM_SLURM_RETRY && !j->cancelling) {
		attempt_failed(x, j, err);
		return;
	}
	if (j->needs)
		needs_fit(x, j, -1);
	fm_result_init(&res, j->e->text);
	if (final) {
		fm_host_init(&h, j->m);
		fm_host_take_result(&h, final, j->dir, NULL, &res);
		fm_host_release(&h);
		res.execution_time = fm_json_get_double(final, "execution_time", 0);
	} else {
		res.status = err->code == FM_TASK_CANCELLED ? FM_STATUS_CANCELLED : FM_STATUS_ERROR;
		res.execution_time = fm_now() - j->started;
		fm_error_move(&res.error, err);
	}
	if (j->cancelling && res.status != FM_STATUS_SUCCESS) {
		res.status = FM_STATUS_CANCELLED;
		fm_error_release(&res.error);
		fm_error(&res.error, FM_TASK_CANCELLED, "task '%s' was cancelled", j->e->text);
	}
	if (*job_id)
		json_object_object_add(res.metadata, "slurm_job_id",
				       json_object_new_string(job_id));
	fm_error_release(err);
	finish(x, j, &res);
	fm_result_release(&res);
}

/* What the Slurm jobs have to say; when they next want a look. */
static double slurm_step(struct fm_exec *x)
{
	static const struct fm_slurm_sink sink = {NULL, slurm_event, slurm_ended};
	struct fm_slurm_sink k = sink;

	if (!x->slurm)
		return INFINITY;
	k.ctx = x;
	return fm_slurm_run_step(x->slurm, &k);
}

/* --- time --------------------------------------------------------------- */

static void timeout_job(struct fm_exec *x, struct job *j, const char *fmt, double secs)
{
	struct fm_error err = FM_ERROR_INIT;
	char why[128];

	if (!j->w) {
		/* No plugin has it yet: nothing to stop but the fetching. */
		fm_error(&err, FM_TIMEOUT_ERROR, "task '%s' timed out after %gs %s", j->e->text,
			 secs,
			 j->state == J_PREPARING ? "while its inputs were fetched and hashed"
						 : "while it waited for a plugin process");
		fail_job(x, j, &err);
		return;
	}
	fm_error(&err, FM_TIMEOUT_ERROR, fmt, j->e->text, secs, j->m->name);
	snprintf(why, sizeof(why), "was stopped because task '%s' timed out", j->e->text);
	worker_broke(x, j->w, j, &err, why);
}

static void cancel_running(struct fm_exec *x, struct job *j, double grace)
{
	json_object *p, *note;

	if (j->in_slurm) {
		if (fm_slurm_run_cancel(x->slurm, j)) {
			/* It never reached Slurm. */
			j->in_slurm = 0;
			if (j->needs)
				needs_fit(x, j, -1);
			cancel_job(x, j, "");
			return;
		}
		/* scancel'd at the next step; its node writes its cancelled line. */
		j->cancelling = 1;
		j->cancel_at = fm_now() + grace + FM_SLURM_CANCEL_WAIT;
		return;
	}

	if (!j->w) {
		/* Still preparing: its thread is told to stop as the task ends. */
		cancel_job(x, j, "");
		return;
	}
	if (!j->w->ready) {
		/* Never sent: nothing to wait for. The process may serve others. */
		running_remove(x, j);
		worker_detach(j->w, j);
		if (j->needs)
			needs_fit(x, j, -1);
		j->state = J_BACKOFF;
		cancel_job(x, j, "");
		return;
	}
	p = json_object_new_object();
	json_object_object_add(p, "task_id", json_object_new_string(j->e->text));
	note = fm_rpc_notification("cancel", p);
	fm_host_send(&j->w->h, note);
	json_object_put(note);
	j->cancelling = 1;
	j->cancel_at = fm_now() + grace;
}

/* Handles every deadline that has passed; returns the next one. */
static double tick(struct fm_exec *x)
{
	double now = fm_now(), next = INFINITY;
	struct pool *p;
	struct job *j, *jn;
	size_t i;

	for (i = 0; i < x->nrunning; i++) {
		j = x->running[i];
		if (j->cancelling && now >= j->cancel_at && j->in_slurm) {
			/* Its job is scancel'd and left to Slurm; the run goes on without it. */
			fm_slurm_run_forget(x->slurm, j);
			j->in_slurm = 0;
			if (j->needs)
				needs_fit(x, j, -1);
			cancel_job(x, j, "");
			return now;
		}
		if (j->cancelling && now >= j->cancel_at) {
			worker_broke(x, j->w, NULL, NULL, "did not stop within the grace period");
			return now;
		}
		if (now >= j->deadline) {
			timeout_job(x, j, "task '%s' timed out after %gs; plugin '%s' was stopped",
				    j->t.timeout > 0 ? j->t.timeout : j->m->exec_timeout);
			return now; /* the running set changed under us */
		}
		if (now >= j->idle_at) {
			timeout_job(x, j,
				    "task '%s' sent nothing for %gs (idle timeout); plugin '%s' "
				    "was stopped",
				    idle_timeout(j));
			return now;
		}
		if (now >= j->beat_at) {
			emit(x, job_event(j, "heartbeat"));
			j->beat_at = now + x->o.heartbeat;
		}
		next = fmin(next, fmin(j->deadline, fmin(j->idle_at, j->beat_at)));
		if (j->cancelling)
			next = fmin(next, j->cancel_at);
	}
	for (p = x->pools; p; p = p->next) {
		struct worker *w, *wn;

		for (w = p->workers; w; w = wn) {
			wn = w->next;
			/* The pidfd wakes us; without one, this look every FM_EXIT_POLL is all. */
			if (w->h.proc.pid > 0 && w->h.proc.pidfd < 0) {
				if (fm_proc_poll(&w->h.proc)) {
					worker_exited(x, w);
					return now;
				}
				next = fmin(next, now + FM_EXIT_POLL);
			}
			if (!w->ready && now >= w->start_deadline) {
				char why[96];

				snprintf(why, sizeof(why),
					 "sent no ready notification within %gs (startup.timeout)",
					 p->m->startup_timeout);
				worker_broke(x, w, NULL, NULL, why);
				return now;
			}
			if (w->ready && !w->ninflight &&
			    now - w->idle_since >= x->o.idle_shutdown) {
				worker_retire(x, w);
				continue;
			}
			next = fmin(next, w->ready
					      ? (w->ninflight ? INFINITY
							      : w->idle_since + x->o.idle_shutdown)
					      : w->start_deadline);
		}
	}
	for (j = x->backoff.next; j != &x->backoff; j = jn) {
		jn = j->next;
		if (now >= j->retry_at) {
			list_unlink(j);
			j->state = J_READY;
			j->ready_since = now;
			ready_insert(x, j);
		} else {
			next = fmin(next, j->retry_at);
		}
	}
	if (x->o.queue_timeout > 0) {
		for (j = x->ready.next; j != &x->ready; j = jn) {
			jn = j->next;
			if (j->needs && now - j->ready_since >= x->o.queue_timeout) {
				struct fm_error err = FM_ERROR_INIT;

				fm_error(&err, FM_TIMEOUT_ERROR,
					 "task '%s' waited %gs for resources (--queue-timeout)",
					 j->e->text, x->o.queue_timeout);
				fail_job(x, j, &err);
			} else if (j->needs) {
				next = fmin(next, j->ready_since + x->o.queue_timeout);
			}
		}
	}
	reap_stopping(x, now);
	if (x->stopping)
		next = fmin(next, now + 0.05);
	if (now >= x->orphans_at) {
		x->norphans = fm_proc_orphans(0);
		x->orphans_at = now + FM_ORPHAN_SCAN;
	}
	/* Orphans come only from plugins: no plugin, no orphan to look for. */
	if (x->norphans || fm_proc_live())
		next = fmin(next, x->orphans_at);
	return next;
}

/* --- input -------------------------------------------------------------- */

/* Every unfinished task is cancelled; running ones get the grace period. */
static void cancel_everything(struct fm_exec *x, int hard)
{
	size_t i, n;

	if (!x->cancel_all) {
		struct entry *e;
		struct job *j;

		x->cancel_all = 1;
		x->cancel_deadline = fm_now() + x->o.grace;
		while ((j = x->ready.next) != &x->ready)
			cancel_job(x, j, "");
		while ((j = x->backoff.next) != &x->backoff)
			cancel_job(x, j, "");
		for (i = 0; (e = fm_idtab_next(&x->ids, &i));) {
			if (e->job && e->job->state == J_WAITING)
				cancel_job(x, e->job, "");
		}
		/* cancel_running may end a task, which takes it out of running. */
		for (i = x->nrunning; i-- > 0;)
			if (i < x->nrunning)
				cancel_running(x, x->running[i], x->o.grace);
	}
	if (hard)
		for (i = 0, n = x->nrunning; i < n; i++)
			x->running[i]->cancel_at = fm_now();
}

static int cancel_task(struct fm_exec *x, const char *id, const char *why)
{
	struct entry *e = id ? lookup(x, id) : NULL;
	struct job *j = e ? e->job : NULL;

	if (!j || j->state == J_UNSEEN)
		return -1;
	/* Its task has run: what is left is the upload, which a stop ends. */
	if (j->state == J_PUBLISHING)
		return 0;
	if (j->state == J_RUNNING)
		cancel_running(x, j, x->o.grace);
	else
		cancel_job(x, j, why);
	return 0;
}

/* A placeholder for a task named before its line came. */
static struct job *placeholder(struct fm_exec *x, const char *id)
{
	struct entry *e = insert(x, id);
	struct job *j = fm_xcalloc(1, sizeof(*j));

	j->e = e;
	j->state = J_UNSEEN;
	e->job = j;
	return j;
}

static void add_edge(struct job *j, struct job *dep)
{
	j->deps = fm_xrealloc(j->deps, (j->ndeplist + 1) * sizeof(*j->deps));
	j->deps[j->ndeplist++] = dep;
	dep->dependents = fm_xrealloc(dep->dependents, (dep->ndependents + 1) * sizeof(*j));
	dep->dependents[dep->ndependents++] = j;
	j->ndeps++;
}

/*
 * Depth-first through unfinished dependencies, looking for target; on the
 * way back out it records the path, so *path ends as the cycle's members
 * from target's side. Marks keep shared sub-graphs from being walked twice.
 */
static int dfs(struct job *at, struct job *target, unsigned long gen, struct job ***path, size_t *n,
	       int depth)
{
	size_t i;

	if (at->mark == gen || depth > 10000)
		return 0;
	at->mark = gen;
	for (i = 0; i < at->ndeplist; i++) {
		struct job *d = at->deps[i];

		if (d && (d == target || dfs(d, target, gen, path, n, depth + 1))) {
			*path = fm_xrealloc(*path, (*n + 1) * sizeof(**path));
			(*path)[(*n)++] = d;
			return 1;
		}
	}
	return 0;
}

/* Cuts the edges between members of a cycle, keeping those to outsiders. */
static void cut_cycle(struct job **cyc, size_t n)
{
	size_t a, b, k;

	for (a = 0; a < n; a++)
		for (b = 0; b < n; b++) {
			for (k = 0; k < cyc[a]->ndeplist; k++)
				if (cyc[a]->deps[k] == cyc[b])
					cyc[a]->deps[k] = NULL;
			for (k = 0; k < cyc[a]->ndependents; k++)
				if (cyc[a]->dependents[k] == cyc[b])
					cyc[a]->dependents[k] = NULL;
		}
}

/* When j closes a cycle, every task on it fails at once. */
static int fail_cycle(struct fm_exec *x, struct job *j)
{
	static unsigned long gen;
	struct job **cyc = NULL;
	size_t n = 0, i;
	char *msg;

	if (!j->ndependents || !dfs(j, j, ++gen, &cyc, &n, 0))
		return 0;
	/* cyc runs from j back along the dependencies: print it forwards. */
	msg = fm_xstrdup(j->e->text);
	for (i = n; i-- > 0;) {
		char *m = fm_xasprintf("%s -> %s", msg, cyc[i]->e->text);

		free(msg);
		msg = m;
	}
	cut_cycle(cyc, n);
	for (i = 0; i < n; i++) {
		struct fm_error err = FM_ERROR_INIT;

		if (cyc[i]->state == J_UNSEEN)
			continue;
		fm_error(&err, FM_VALIDATION_ERROR, "task '%s' is on a dependency cycle: %s",
			 cyc[i]->e->text, msg);
		fm_error_detail(&err, "cycle", json_object_new_string(msg));
		fail_job(x, cyc[i], &err);
	}
	free(msg);
	free(cyc);
	return -1;
}

/* Ties j to what it depends on; -1 when it cannot run (and has ended). */
static int wire(struct fm_exec *x, struct job *j)
{
	json_object *res = j->t.resources;
	size_t i, n = json_object_array_length(j->t.depends_on);
	size_t nres = json_object_array_length(res);

	for (i = 0; i < n + nres; i++) {
		const char *text;
		struct fm_task_ref ref;
		const char *id = ref.id;
		struct fm_error err = FM_ERROR_INIT;
		struct entry *e;

		if (i < n) {
			text =
			    json_object_get_string(json_object_array_get_idx(j->t.depends_on, i));
		} else {
			json_object *r = json_object_array_get_idx(res, i - n);

			if (strcmp(fm_json_get_string(r, "type"), "task_output"))
				continue;
			text = fm_json_get_string(r, "data");
		}
		if (fm_task_ref_parse(text, &ref, &err) < 0) {
			fail_job(x, j, &err);
			return -1;
		}
		e = lookup(x, id);
		if (!e) {
			add_edge(j, placeholder(x, id));
		} else if (e->job) {
			add_edge(j, e->job);
		} else if (e->status != FM_STATUS_SUCCESS &&
			   !(e->status == FM_STATUS_ERROR && tolerates(x, j))) {
			fm_error(&err, FM_DEPENDENCY_FAILED,
				 "task '%s' depends on task '%s', which %s", j->e->text, id,
				 e->status == FM_STATUS_CANCELLED ? "was cancelled" : "failed");
			fm_error_detail(&err, "failed_task", json_object_new_string(id));
			fail_job(x, j, &err);
			return -1;
		}
	}
	return fail_cycle(x, j);
}

const char *fm_exec_film_task(const struct fm_exec *x)
{
	return x->film_taken;
}

/* -o and --placeholder reach the film's combine task. */
static int film_options(struct fm_exec *x, struct job *j, struct fm_error *err)
{
	json_object *p = j->t.parameters;

	if (x->o.placeholder)
		json_object_object_add(p, "placeholder", json_object_new_boolean(1));
	if (!x->o.film)
		return 0;
	if (x->film_taken)
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': -o names one film, and task '%s' already writes it",
				j->e->text, x->film_taken);
	x->film_taken = fm_xstrdup(j->e->text);
	json_object_object_add(p, "output", json_object_new_string(x->o.film));
	return 0;
}

static int same_name(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The plugin for t: the one found for the task before when it asks the same. */
static const struct fm_manifest *find_plugin(struct fm_exec *x, const struct fm_task *t,
					     struct fm_error *err)
{
	const struct fm_manifest *m;

	if (x->found && same_name(x->found_plugin, t->plugin_name) &&
	    !strcmp(x->found_tool, t->tool_name))
		return x->found;
	m = fm_plugins_find(&x->plugins,
			    t->plugin_name ? t->plugin_name
					   : fm_config_default_plugin(&x->config, t->tool_name),
			    t->tool_name, err);
	if (m) {
		free(x->found_plugin);
		free(x->found_tool);
		x->found_plugin = t->plugin_name ? fm_xstrdup(t->plugin_name) : NULL;
		x->found_tool = fm_xstrdup(t->tool_name);
		x->found = m;
	}
	return m;
}

static void new_task(struct fm_exec *x, json_object *obj, unsigned long lineno)
{
	struct fm_error err = FM_ERROR_INIT;
	const struct fm_manifest *m;
	struct fm_task t;
	struct entry *e;
	struct job *j;

	if (fm_task_from_json(&t, obj, &err) < 0) {
		char msg[FM_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", err.message);
		fm_error(&err, FM_VALIDATION_ERROR, "task '%s' (input line %lu): %s",
			 t.task_id ? t.task_id : "?", lineno, msg);
		fail_line(x, lineno, t.task_id, &err);
		fm_task_release(&t);
		return;
	}
	e = lookup(x, t.task_id);
	if (e && !(e->job && e->job->state == J_UNSEEN)) {
		fm_error(&err, FM_VALIDATION_ERROR,
			 "task '%s' (input line %lu): the id is already taken", t.task_id, lineno);
		fail_line(x, lineno, t.task_id, &err);
		fm_task_release(&t);
		return;
	}
	j = e ? e->job : placeholder(x, t.task_id);
	j->t = t;
	j->seq = ++x->seq;
	j->lineno = lineno;
	j->state = J_WAITING;
	x->live++;
	if (!strcmp(t.tool_name, "combine") &&
	    (!t.plugin_name || !strcmp(t.plugin_name, "combine")))
		m = fm_combine_manifest(&err);
	else
		m = find_plugin(x, &t, &err);
	if (m && m->serve && film_options(x, j, &err) < 0)
		m = NULL;
	if (!m) {
		fail_job(x, j, &err);
		return;
	}
	j->m = m;
	j->settings = fm_config_plugin(&x->config, m->name);
	secrets_of(j->settings, 0);
	j->tool = fm_manifest_tool(m, t.tool_name);
	fm_params_fill_defaults(j->tool, j->t.parameters);
	if (fm_params_validate_inputs(j->tool, j->t.parameters, j->t.resources, t.task_id, &err) <
		0 ||
	    (m->serve && fm_combine_check(j->t.parameters, t.task_id, &err) < 0)) {
		fail_job(x, j, &err);
		return;
	}
	free(j->t.plugin_name);
	j->t.plugin_name = fm_xstrdup(m->name);
	j->needs = scarce_needs(x, j->tool);
	if (j->needs && !needs_fit(x, j, 0) && !x->nrunning) {
		/* Never fits, even alone: say so now rather than wait forever. */
		fm_error(&err, FM_VALIDATION_ERROR, "task '%s' needs %s, more than --limit allows",
			 t.task_id, fm_json_str(j->needs));
		fail_job(x, j, &err);
		return;
	}
	if (wire(x, j) < 0)
		return;
	if (j->ndeps == 0)
		make_ready(x, j);
}

/* "key:", "- item", "---", "# note": the first line of a YAML file. */
static int looks_like_yaml(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] == '#' || !strncmp(line + i, "---", 3) ||
	    !strncmp(line + i, "%YAML", 5) || !strncmp(line + i, "- ", 2))
		return 1;
	if (!isalpha((unsigned char)line[i]) && line[i] != '_')
		return 0;
	while (i < len && (isalnum((unsigned char)line[i]) || strchr("_- ", line[i])))
		i++;
	return i < len && line[i] == ':' && (i + 1 == len || line[i + 1] == ' ');
}

/*
 * An input whose first line is not JSON at all (a storyboard, a text file)
 * gets one failure that says what to do, not one per line: its other lines
 * that are not JSON are skipped. A line starting like JSON keeps its own
 * message, and once a line was JSON every bad line is reported.
 */
static int not_ndjson(struct fm_exec *x, const char *line, size_t len, unsigned long lineno)
{
	struct fm_error err = FM_ERROR_INIT;
	size_t i = 0;

	if (x->not_ndjson)
		return 1;
	while (i < len && isspace((unsigned char)line[i]))
		i++;
	if (x->json_lines || (i < len && (line[i] == '{' || line[i] == '[')))
		return 0;
	x->not_ndjson = 1;
	if (looks_like_yaml(line, len))
		fm_error(&err, FM_VALIDATION_ERROR,
			 "input line %lu: this looks like a YAML storyboard, not task lines: "
			 "use filmeto-submit --storyboard FILE | filmeto-run",
			 lineno);
	else
		fm_error(&err, FM_VALIDATION_ERROR,
			 "input line %lu: not JSON: filmeto-run reads task lines, one JSON "
			 "object per line, as filmeto-submit writes them",
			 lineno);
	fail_line(x, lineno, NULL, &err);
	return 1;
}

static void input_line(struct fm_exec *x, const struct fm_reader *in, const char *line, size_t len,
		       unsigned long lineno)
{
	struct fm_error err = FM_ERROR_INIT;
	const char *type;
	json_object *obj;

	if (fm_json_parse(line, len, &obj, &err) < 0) {
		char msg[FM_ERROR_MAX];

		if (not_ndjson(x, line, len, lineno)) {
			fm_error_release(&err);
			return;
		}
		snprintf(msg, sizeof(msg), "%s", err.message);
		fm_error(&err, FM_VALIDATION_ERROR, "input line %lu: %s", lineno, msg);
		fail_line(x, lineno, NULL, &err);
		return;
	}
	x->json_lines++;
	type = fm_json_get_string(obj, "type");
	if (!json_object_is_type(obj, json_type_object) || !type) {
		/* Not ours to judge: a line of some other tool passes through. */
		if (json_object_is_type(obj, json_type_object))
			fm_writer_pass(x->out, in, line, len);
		else {
			fm_error(&err, FM_VALIDATION_ERROR, "input line %lu: not a JSON object",
				 lineno);
			fail_line(x, lineno, NULL, &err);
		}
	} else if (!strcmp(type, "task")) {
		new_task(x, obj, lineno);
	} else if (!strcmp(type, "cancel")) {
		cancel_task(x, fm_json_get_string(obj, "task_id"), " (cancel line)");
	} else {
		fm_writer_pass(x->out, in, line, len);
	}
	json_object_put(obj);
}

/* --- the loop ----------------------------------------------------------- */

static void watch_fd(struct pollset *ps, int fd, short events, struct worker *w)
{
	if (fd < 0)
		return;
	FM_GROW(ps->fds, ps->fdcap, ps->n + 1);
	FM_GROW(ps->owner, ps->ownercap, ps->n + 1);
	ps->fds[ps->n] = (struct pollfd){fd, events, 0};
	ps->owner[ps->n++] = w;
}

static void on_signals(struct fm_exec *x)
{
	char buf[16];

	while (read(sigpipe[0], buf, sizeof(buf)) > 0)
		;
	cancel_everything(x, nsignals >= 2);
}

/*
 * One turn: wait for input, plugin output or a deadline, then act on all
 * of it. in_fd < 0 when there is no input left to read.
 */
static void turn(struct fm_exec *x, struct fm_reader *in, int *lines_ok)
{
	/* Taken while in use, so a turn inside a callback has its own. */
	struct pollset ps = x->ps;
	unsigned long live = x->live;
	double next = fmin(tick(x), slurm_step(x)), wait;
	int room, read_input, n, prepared = 0, published = 0;
	struct pool *p;
	size_t i;

	x->ps = (struct pollset){0};
	schedule(x);
	/* What schedule handed to Slurm gathers for a moment before it goes. */
	next = fmin(next, slurm_step(x));
	/* Tasks ended in Slurm: the caller looks at what is left before any wait. */
	if (x->live != live)
		next = 0;
	/* Only after scheduling is it known whether there is room for more. */
	room = in && !x->cancel_all && x->nready < (size_t)x->o.jobs * FM_READY_PER_JOB;
	read_input = room && !in->eof;
	if (room && in->end > in->start && memchr(in->buf + in->start, '\n', in->end - in->start)) {
		/* Whole lines wait in the buffer: take them before reading more. */
		next = 0;
		read_input = 0;
	}
	watch_fd(&ps, sigpipe[0], POLLIN, NULL);
	if (read_input)
		watch_fd(&ps, in->fd, POLLIN, NULL);
	watch_fd(&ps, x->extra_fd, POLLIN, NULL);
	watch_fd(&ps, x->prep_pipe[0], POLLIN, NULL);
	watch_fd(&ps, x->pub_pipe[0], POLLIN, NULL);
	if (x->wake_at < next)
		next = x->wake_at;
	for (p = x->pools; p; p = p->next) {
		struct worker *w;

		for (w = p->workers; w; w = w->next) {
			watch_fd(&ps, w->h.proc.out, POLLIN, w);
			watch_fd(&ps, w->h.proc.err, POLLIN, w);
			if (fm_host_wants_write(&w->h))
				watch_fd(&ps, w->h.proc.in, POLLOUT, w);
			/* Last, so what it wrote before it ended is read first. */
			watch_fd(&ps, w->h.proc.pidfd, POLLIN, w);
		}
	}
	wait = next - fm_now();
	/*
	 * Events go out before we could block, never later; while there is
	 * work ready at once they gather, one write for many lines.
	 */
	n = poll(ps.fds, ps.n, 0);
	if (n == 0 && wait > 0) {
		double now = fm_now(), hold = fmin(event_hold(x, now), wait);

		if (hold > 0)
			n = poll(ps.fds, ps.n, (int)ceil(hold * 1000));
		if (n == 0) {
			fm_writer_flush(x->out);
			wait = next - fm_now();
			n = poll(ps.fds, ps.n, isinf(next) ? -1 : (int)ceil(fmax(wait, 0) * 1000));
		}
	}
	if (n > 0) {
		if (ps.fds[0].revents)
			on_signals(x);
		for (i = 1; i < ps.n; i++) {
			struct worker *w = ps.owner[i];
			short rev = ps.fds[i].revents;

			if (!rev)
				continue;
			if (!w && ps.fds[i].fd == x->extra_fd) {
				x->extra_ready = 1;
				continue;
			}
			if (!w && ps.fds[i].fd == x->prep_pipe[0]) {
				prepared = 1;
				continue;
			}
			if (!w && ps.fds[i].fd == x->pub_pipe[0]) {
				published = 1;
				continue;
			}
			if (!w) {
				*lines_ok = fm_reader_fill(in) >= 0;
				continue;
			}
			/* A worker may have broken earlier in this turn. */
			if (w->dead || w->stopping)
				continue;
			if (ps.fds[i].fd == w->h.proc.in) {
				if (fm_host_flush(&w->h) < 0)
					worker_broke(x, w, NULL, NULL, "stopped reading its input");
				continue;
			}
			if (ps.fds[i].fd == w->h.proc.pidfd) {
				worker_exited(x, w);
				continue;
			}
			if (ps.fds[i].fd == w->h.proc.out && i + 1 < ps.n &&
			    ps.fds[i + 1].fd == w->h.proc.err) {
				/*
				 * poll looks at a worker's stdout, then its stderr:
				 * a line the plugin logged before it answered is in
				 * the second when the first has the answer, so the
				 * two are read here together, the log line first.
				 */
				short err_rev = ps.fds[i + 1].revents;

				ps.fds[i + 1].revents = 0;
				worker_read(x, w, 1, err_rev != 0);
				continue;
			}
			worker_read(x, w, ps.fds[i].fd == w->h.proc.out,
				    ps.fds[i].fd == w->h.proc.err);
		}
	}
	ps.n = 0;
	free(x->ps.fds);
	free(x->ps.owner);
	x->ps = ps;
	if (prepared)
		collect_preps(x);
	if (published)
		collect_publishes(x);
	while (x->dead) {
		struct worker *w = x->dead;

		x->dead = w->next;
		worker_free(w);
	}
	/*
	 * A slot freed this turn takes its next task now, so the request
	 * goes out in the write below rather than after another poll: with
	 * a fast plugin, that poll is most of the time it waits for work.
	 */
	schedule(x);
	/* Requests queued this turn go out now if the pipe takes them. */
	for (p = x->pools; p; p = p->next) {
		struct worker *w, *wn;

		for (w = p->workers; w; w = wn) {
			wn = w->next;
			if (fm_host_wants_write(&w->h) && fm_host_flush(&w->h) < 0)
				worker_broke(x, w, NULL, NULL, "stopped reading its input");
		}
	}
}

/* Takes buffered lines while the ready queue has room; 1 at end of input. */
static int take_lines(struct fm_exec *x, struct fm_reader *in)
{
	enum fm_line got;
	char *line;
	size_t len;

	while (x->nready < (size_t)x->o.jobs * FM_READY_PER_JOB) {
		struct fm_error err = FM_ERROR_INIT;

		got = fm_reader_take(in, &line, &len);
		if (got == FM_LINE_NONE)
			return in->eof;
		if (got == FM_LINE_OK) {
			input_line(x, in, line, len, (unsigned long)in->lineno);
			continue;
		}
		fm_error(&err, FM_VALIDATION_ERROR, "input line %lu: longer than the %d byte limit",
			 (unsigned long)in->lineno, FM_LINE_MAX);
		fail_line(x, (unsigned long)in->lineno, NULL, &err);
	}
	return 0;
}

int fm_exec_input(struct fm_exec *x, int fd, const char *name)
{
	struct fm_reader in;
	int ok = 1, rc = 0;

	(void)name;
	fm_reader_init(&in, fd, FM_LINE_MAX);
	while (!x->cancel_all && !x->out->failed && !take_lines(x, &in)) {
		if (!ok) {
			rc = -1;
			break;
		}
		turn(x, &in, &ok);
	}
	fm_reader_release(&in);
	return rc;
}

/* Input is over: ids named but never given fail their dependents. */
static void unseen_fail(struct fm_exec *x)
{
	struct entry *e;
	size_t i, k;

	for (i = 0; (e = fm_idtab_next(&x->ids, &i));) {
		struct job *u = e->job;

		if (!u || u->state != J_UNSEEN)
			continue;
		for (k = 0; k < u->ndependents; k++) {
			struct job *d = u->dependents[k];
			struct fm_error err = FM_ERROR_INIT;

			if (!d || d->state != J_WAITING)
				continue;
			u->dependents[k] = NULL;
			fm_error(
			    &err, FM_VALIDATION_ERROR,
			    "task '%s' depends on task '%s', which never appeared in the input",
			    d->e->text, e->text);
			fm_error_detail(&err, "missing_task", json_object_new_string(e->text));
			fail_job(x, d, &err);
		}
	}
}

enum fm_outcome fm_exec_finish(struct fm_exec *x)
{
	struct pool *p;
	int ok = 1;

	unseen_fail(x);
	while (x->live && !x->out->failed)
		turn(x, NULL, &ok);
	/* With stdout gone, uploads under way still end, and their threads with them. */
	while (x->npubs) {
		struct pollfd pfd = {x->pub_pipe[0], POLLIN, 0};

		poll(&pfd, 1, 100);
		collect_publishes(x);
	}
	fm_writer_flush(x->out);
	/* Everyone gets shutdown at once, then each its share of the grace. */
	for (p = x->pools; p; p = p->next) {
		struct worker *w;

		while ((w = p->workers))
			worker_retire(x, w);
	}
	while (x->stopping) {
		reap_stopping(x, fm_now());
		/* Woken when the first ends (its pidfd), not a nap later: a short run's end. */
		if (x->stopping)
			fm_proc_wait(&x->stopping->h.proc, 0.01);
	}
	/* Stopped fetches clean up within about a second; their files go too. */
	while (x->nlingering)
		fm_prep_free(x->lingering[--x->nlingering]);
	/* Every plugin has stopped: nothing any of them started may stay. */
	fm_proc_end_orphans(FM_ORPHAN_WAIT);
	/* A stop that came after the last task's upload began found no loop turn to see it. */
	if (x->cancel_all || nsignals > 0)
		return FM_OUTCOME_INTERRUPTED;
	return x->failed || x->cancelled || x->out->failed ? FM_OUTCOME_TASK_FAILED : FM_OUTCOME_OK;
}

/* --- feeding the executor from elsewhere (the spool worker) ------------- */

void fm_exec_line(struct fm_exec *x, const char *line, size_t len)
{
	input_line(x, NULL, line, len, 1);
}

int fm_exec_turn(struct fm_exec *x, int fd, double wait)
{
	int ok = 1;

	x->extra_fd = fd;
	x->extra_ready = 0;
	x->wake_at = fm_now() + (wait > 0 ? wait : 0);
	turn(x, NULL, &ok);
	x->extra_fd = -1;
	x->wake_at = INFINITY;
	return x->extra_ready;
}

unsigned long fm_exec_live(const struct fm_exec *x)
{
	return x->live;
}

int fm_exec_interrupted(const struct fm_exec *x)
{
	return x->cancel_all;
}

int fm_exec_blamed(struct fm_exec *x, const char *id, pid_t *sender)
{
	struct entry *e = id && blamed ? lookup(x, id) : NULL;
	pid_t who = (pid_t)blamed;

	if (!e || !e->job || !e->job->plugin || (who != -1 && who != e->job->plugin))
		return 0;
	if (sender)
		*sender = (pid_t)blamed_sender;
	return blamed_sig;
}

int fm_exec_cancel(struct fm_exec *x, const char *id, const char *why)
{
	return cancel_task(x, id, why);
}

int fm_exec_ended(struct fm_exec *x, const char *id, enum fm_status st, const char *plugin,
		  json_object *files)
{
	if (lookup(x, id))
		return -1;
	settle(x, insert(x, id), st, plugin ? plugin : "", files);
	return 0;
}

void fm_exec_forget(struct fm_exec *x, const char *id)
{
	struct entry *e = lookup(x, id);

	if (e && !e->job)
		free(fm_idtab_del(&x->ids, id, strlen(id)));
}

/*
 * The Slurm jobs of the run: the nodes run the filmeto-run beside us,
 * which must be where they see it too (a shared install).
 */
static int slurm_new(struct fm_exec *x, struct fm_error *err)
{
	struct fm_slurm_run_opts so = {0};
	json_object *config = fm_config_slurm(&x->config);
	char *exe = fm_exe_dir();

	if (!exe)
		return fm_error(err, FM_VALIDATION_ERROR,
				"--executor slurm: cannot tell where filmeto-run is installed");
	x->slurm_exe = fm_xasprintf("%s/filmeto-run", exe);
	free(exe);
	x->slurm_shared = fm_abspath(x->o.shared_dir ? x->o.shared_dir : x->o.output_dir);
	so.shared_dir = x->slurm_shared;
	so.output_dir = x->o.output_dir;
	so.filmeto_run = x->slurm_exe;
	so.cache = x->o.cache;
	so.poll = x->o.slurm_poll > 0 ? x->o.slurm_poll
				      : fm_json_get_double(config, "poll", FM_SLURM_POLL);
	so.config = config;
	so.sbatch_args = x->o.sbatch_args;
	so.nsbatch_args = x->o.nsbatch_args;
	if (fm_mkdirs(x->o.output_dir, err) < 0)
		return -1;
	return fm_slurm_run_new(&x->slurm, &so, err);
}

int fm_exec_new(struct fm_exec **xp, const struct fm_exec_opts *o, struct fm_writer *out,
		struct fm_error *err)
{
	struct fm_exec *x = fm_xcalloc(1, sizeof(*x));

	fm_idtab_init(&x->ids, entry_id);
	x->o = *o;
	x->o.output_dir = fm_abspath(o->output_dir);
	x->o.cache_dir = o->cache_dir ? fm_xstrdup(o->cache_dir) : NULL;
	x->o.limits = o->limits ? json_object_get(o->limits) : NULL;
	x->o.film = o->film ? fm_abspath(o->film) : NULL;
	x->dirs = fm_dirahead_new();
	fm_combine_manifest(NULL); /* built now, before any thread can ask */
	if (x->o.jobs < 1)
		x->o.jobs = 1;
	x->out = out;
	x->out_tty = isatty(out->fd);
	x->extra_fd = -1;
	x->wake_at = INFINITY;
	x->prep_pipe[0] = x->prep_pipe[1] = -1;
	x->pub_pipe[0] = x->pub_pipe[1] = -1;
	x->ready.next = x->ready.prev = &x->ready;
	x->backoff.next = x->backoff.prev = &x->backoff;
	x->used = fm_xcalloc(nlimits(x) + 1, sizeof(double));
	*xp = x;
	if ((sigpipe[0] < 0 && pipe2(sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) ||
	    pipe2(x->prep_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(x->pub_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot create a pipe:");
	if (fm_config_load(&x->config, err) < 0 || fm_plugins_scan(&x->plugins, err) < 0)
		return -1;
	return o->slurm ? slurm_new(x, err) : 0;
}

void fm_exec_free(struct fm_exec *x)
{
	struct pool *p, *pn;
	struct entry *e;
	size_t i;

	if (!x)
		return;
	fm_slurm_run_free(x->slurm);
	free(x->slurm_exe);
	free(x->slurm_shared);
	for (p = x->pools; p; p = pn) {
		pn = p->next;
		while (p->workers) {
			struct worker *w = p->workers;

			p->workers = w->next;
			worker_free(w);
		}
		free(p);
	}
	/* Threads still preparing read manifests: they end before the plugins go. */
	for (i = 0; (e = fm_idtab_next(&x->ids, &i));) {
		if (e->job)
			job_free(e->job);
		free(e);
	}
	fm_idtab_release(&x->ids);
	fm_dirahead_free(x->dirs);
	free(x->found_plugin);
	free(x->found_tool);
	free(x->ps.fds);
	free(x->ps.owner);
	while (x->nlingering)
		fm_prep_free(x->lingering[--x->nlingering]);
	free(x->lingering);
	if (x->prep_pipe[0] >= 0) {
		close(x->prep_pipe[0]);
		close(x->prep_pipe[1]);
	}
	if (x->pub_pipe[0] >= 0) {
		close(x->pub_pipe[0]);
		close(x->pub_pipe[1]);
	}
	free(x->pubs);
	free(x->running);
	free(x->used);
	json_object_put(x->o.limits);
	free((char *)x->o.output_dir);
	free((char *)x->o.film);
	free(x->film_taken);
	free((char *)x->o.cache_dir);
	fm_plugins_release(&x->plugins);
	fm_config_release(&x->config);
	free(x);
}

int fm_exec_parse_limits(const char *spec, json_object **out, struct fm_error *err)
{
	char *copy = fm_xstrdup(spec), *save = NULL, *item;
	json_object *o = json_object_new_object();

	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *end;
		double v;

		if (!eq || eq == item)
			goto bad;
		*eq = '\0';
		v = strtod(eq + 1, &end);
		if (*end || end == eq + 1 || !(v >= 0) || !isfinite(v))
			goto bad;
		json_object_object_add(o, item, fm_json_double(v));
	}
	free(copy);
	*out = o;
	return 0;
bad:
	free(copy);
	json_object_put(o);
	return fm_error(err, FM_VALIDATION_ERROR,
			"--limit '%s': expected NAME=NUMBER[,NAME=NUMBER...]", spec);
}
