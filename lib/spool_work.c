/*
 * The spool worker behind filmeto-run --spool: claims queued tasks (see
 * the locking in spool.c), feeds them to the same executor stdin mode
 * uses, writes each task's events to its own log and moves it on when
 * its final line is there.
 *
 * A task runs here only once every task it depends on has finished,
 * here or in another worker: their outcomes and output paths come from
 * the spool and are handed to the executor as tasks that ended
 * elsewhere, so a storyboard queued whole spreads over every worker.
 *
 * The worker waits on inotify for new tasks and cancel requests, and
 * rescans queue/ and cancel/ every FM_SPOOL_RESCAN anyway: a claim freed
 * by a dead worker makes no event, nor does a task or a cancel request
 * written by another machine on a network file system, and inotify may
 * not be there at all (then the rescan is all there is).
 *
 * A task that killed the workers of its last max_claims claims (a claim
 * with neither a final line nor a put-back line after it) is failed
 * instead of run: whatever it does to a worker, it does only so often.
 * A worker stopped by a signal puts its tasks back, unless the signal
 * came from the task's own plugin (fm_exec_blamed): that is a death too.
 *
 * A task waits while its dependencies are unfinished; tasks that wait on
 * each other in a ring (planted: filmeto-submit refuses them) are found
 * once a scan has tried the whole queue, and failed.
 *
 * A log that cannot be written (a full disk, a file size limit) ends
 * nothing: the task stays queued without a final line, the worker
 * claims nothing more, and once its running tasks are over it fails
 * with the first write error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "exec.h"
#include "fs.h"
#include "model.h"
#include "spool.h"
#include "util.h"

/* How often a worker with tasks waiting on other workers looks again (s). */
#define BLOCKED_RESCAN 0.2

struct slot {
	struct fm_spool_claim c;
	int ended;	/* the final line is written: finish it */
	int release;	/* interrupted: back to the queue */
	int cancelled;	/* a cancel request reached the executor */
	int moved_only; /* ended by an earlier worker: only the move was left */
	int blamed;	/* its plugin signalled the worker: a death, not released */
	enum fm_spool_dir to;
};

struct work {
	struct fm_spool *sp;
	struct fm_exec *x;
	struct fm_writer *out;
	struct slot **slots;
	size_t nslots, cap;
	char **names; /* the queue as last scanned */
	size_t nnames, next;
	json_object *finished; /* id -> name, of the tasks in done/ and failed/ */
	json_object *waits;    /* id -> [ids], of the tasks put back this scan */
	json_object *rings;    /* id -> "a -> b -> a", of tasks on a ring: fail them */
	int ringed;	       /* this scan's waits were searched for rings */
	int inotify, wd_queue, wd_cancel, jobs, max_claims;
	int outdir;	       /* where out/ID folders are made (-d or the spool's out/) */
	const char *outpath;   /* its path, for messages */
	int stop;	       /* a log could not be written: claim nothing more */
	struct fm_error werr;  /* that write's error */
	unsigned long blocked; /* tasks put back this scan: a dependency is unfinished */
	unsigned long failed;
	double rescan_at;
	int want_scan, want_cancels;
};

static struct slot *slot_of(struct work *w, const char *id)
{
	size_t i;

	for (i = 0; id && i < w->nslots; i++)
		if (!strcmp(FM_SPOOL_ID(w->slots[i]->c.name), id))
			return w->slots[i];
	return NULL;
}

/* The first log that cannot be written stops the worker; its task stays queued. */
static void broken(struct work *w, struct slot *s)
{
	if (w->stop)
		return;
	w->stop = 1;
	errno = s->c.werr;
	fm_error(&w->werr, FM_RESOURCE_PROCESSING_ERROR,
		 "task '%s' stays queued: cannot write '%s/log/%s':", FM_SPOOL_ID(s->c.name),
		 w->sp->dir, s->c.name);
}

static void log_line(struct work *w, struct slot *s, json_object *ev, int must_keep)
{
	const char *line = fm_json_str(ev);

	if (fm_spool_log(&s->c, line, strlen(line), must_keep) < 0)
		broken(w, s);
}

static void end_with(struct slot *s, const char *type)
{
	s->ended = 1;
	s->to = !strcmp(type, "completed") ? FM_SPOOL_DONE : FM_SPOOL_FAILED;
}

/*
 * The executor counts its own retries from 1; a task taken again after a
 * dead worker goes on from the attempts before, so one log counts one way.
 */
static void renumber(struct slot *s, json_object *ev)
{
	static const char *const keys[] = {"attempt", "attempts"};
	size_t i;

	for (i = 0; s->c.attempt > 1 && i < 2; i++) {
		json_object *v = fm_json_get(ev, keys[i], json_type_int);

		if (v)
			json_object_object_add(
			    ev, keys[i],
			    json_object_new_int(json_object_get_int(v) + s->c.attempt - 1));
	}
}

/*
 * A signal from the task's plugin, or from what it started, stopped the
 * worker: no put-back line, so this claim counts as a death, and a
 * warning line that says why. 1 blamed, 0 not, -1 the log failed.
 */
static int blamed(struct work *w, struct slot *s)
{
	pid_t sender = 0;
	int sig = fm_exec_blamed(w->x, FM_SPOOL_ID(s->c.name), &sender);
	json_object *ev;
	char msg[256];
	int rc;

	if (!sig)
		return 0;
	s->blamed = 1;
	ev = fm_event_new("log", FM_SPOOL_ID(s->c.name));
	snprintf(msg, sizeof(msg),
		 "the worker was stopped by signal %d (%s) from process %ld, which the task's "
		 "plugin started: this claim counts as a worker that died",
		 sig, strsignal(sig), (long)sender);
	json_object_object_add(ev, "level", json_object_new_string("warning"));
	json_object_object_add(ev, "message", json_object_new_string(msg));
	json_object_object_add(ev, "signal", json_object_new_int(sig));
	rc = fm_spool_log(&s->c, fm_json_str(ev), strlen(fm_json_str(ev)), 1);
	json_object_put(ev);
	return rc < 0 ? -1 : 1;
}

/* Every event of the executor comes here and goes to its task's log. */
static void on_event(void *ctx, json_object *ev)
{
	struct work *w = ctx;
	const char *type = fm_json_get_string(ev, "type");
	struct slot *s = slot_of(w, fm_json_get_string(ev, "task_id"));
	int final = type && (!strcmp(type, "completed") || !strcmp(type, "failed") ||
			     !strcmp(type, "cancelled"));

	if (!s) {
		fm_writer_json(w->out, ev); /* not a spooled task's: nowhere else to go */
		return;
	}
	if (final && !strcmp(type, "cancelled") && !s->cancelled && fm_exec_interrupted(w->x)) {
		/*
		 * Stopping the worker is not cancelling the task: it goes back,
		 * no death; unless the task's own plugin sent the signal.
		 */
		if (blamed(w, s) < 0 || (!s->blamed && fm_spool_put_back(&s->c) < 0))
			broken(w, s);
		s->release = 1;
		return;
	}
	renumber(s, ev);
	log_line(w, s, ev, final);
	if (final)
		end_with(s, type);
}

/* --- dependencies --------------------------------------------------------- */

static void load_finished(struct work *w)
{
	struct fm_spool_entry *v;
	size_t n, i;

	if (w->finished)
		return;
	w->finished = json_object_new_object();
	if (fm_spool_list(w->sp, 0, &v, &n, NULL) < 0)
		return;
	for (i = 0; i < n; i++)
		if (v[i].state != FM_SPOOL_QUEUED && v[i].state != FM_SPOOL_RUNNING)
			json_object_object_add(w->finished, FM_SPOOL_ID(v[i].name),
					       json_object_new_string(v[i].name));
	free(v);
}

/* How a finished dependency ended, read from its log, for the executor. */
static void hand_over(struct work *w, const char *id, const char *name)
{
	enum fm_status st = FM_STATUS_ERROR;
	struct fm_spool_logscan ls;
	json_object *files = NULL;
	const char *plugin = "", *type;
	int fd = fm_spool_openat(w->sp, FM_SPOOL_LOG, name, O_RDONLY, 0);

	if (fd >= 0 && fm_spool_logscan(fd, &ls, NULL) == 0) {
		type = ls.final ? fm_json_get_string(ls.final, "type") : NULL;
		if (type && !strcmp(type, "completed"))
			st = FM_STATUS_SUCCESS;
		else if (type && !strcmp(type, "cancelled"))
			st = FM_STATUS_CANCELLED;
		files = ls.final ? fm_json_get(ls.final, "output_files", json_type_array) : NULL;
		if (ls.final) {
			const char *p = fm_json_get_string(
			    fm_json_get(ls.final, "metadata", json_type_object), "plugin_name");

			plugin = p ? p : "";
		}
		fm_exec_ended(w->x, id, st, plugin, files);
		fm_spool_logscan_release(&ls);
	} else {
		fm_exec_ended(w->x, id, st, "", NULL);
	}
	if (fd >= 0)
		close(fd);
}

enum readiness { READY, WAIT, MISSING, RING };

/*
 * Whether every dependency has finished; those that have are handed to
 * the executor (and named in *given, to be forgotten after). A task that
 * waits is entered in w->waits with the ids it waits on.
 */
static enum readiness check_deps(struct work *w, const char *self, json_object *ids,
				 json_object *given, const char **missing)
{
	size_t i, n = json_object_array_length(ids);
	struct fm_spool_entry e = {0};
	json_object *waits = NULL, *name;

	if (n)
		load_finished(w);
	for (i = 0; i < n; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(ids, i));

		if (json_object_object_get_ex(w->finished, id, NULL))
			continue;
		if (fm_spool_find(w->sp, id, &e, NULL) < 0) {
			json_object_put(waits);
			*missing = id;
			return MISSING;
		}
		if (e.state == FM_SPOOL_QUEUED || e.state == FM_SPOOL_RUNNING) {
			if (!waits)
				waits = json_object_new_array();
			json_object_array_add(waits, json_object_new_string(id));
			continue;
		}
		json_object_object_add(w->finished, id, json_object_new_string(e.name));
	}
	if (waits) {
		json_object_object_add(w->waits, self, waits);
		return WAIT;
	}
	for (i = 0; i < n; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(ids, i));

		if (json_object_object_get_ex(given, id, NULL) ||
		    !json_object_object_get_ex(w->finished, id, &name))
			continue;
		hand_over(w, id, json_object_get_string(name));
		json_object_object_add(given, id, NULL);
	}
	return READY;
}

/*
 * A depth-first walk over the tasks put back this scan (w->waits), each
 * to the waiting ones it names. stack holds the path from where the walk
 * began; at[v] is v's place on it, next[v] the edge of v to follow next.
 */
struct walk {
	size_t n;
	const char **ids;
	json_object **deps;
	json_object *index; /* id -> its number */
	size_t *stack, *at, *next;
	unsigned char *color; /* 0 unseen, 1 on the stack, 2 done */
};

/* "b -> c -> a -> b": the ring on stack[from..top], from stack[start] round. */
static char *ring_text(const struct walk *k, size_t from, size_t top, size_t start)
{
	struct fm_buf b = FM_BUF_INIT;
	size_t i, len = top - from + 1;

	for (i = 0; i < len; i++)
		fm_buf_addf(&b, "%s -> ", k->ids[k->stack[from + (start - from + i) % len]]);
	fm_buf_addstr(&b, k->ids[k->stack[start]]);
	return fm_buf_detach(&b, NULL);
}

/* Every task on stack[from..top] is on a ring: failed at its next claim. */
static void mark_ring(struct work *w, const struct walk *k, size_t from, size_t top)
{
	size_t r;

	for (r = from; r <= top; r++) {
		const char *id = k->ids[k->stack[r]];
		char *ring;

		if (json_object_object_get_ex(w->rings, id, NULL))
			continue;
		ring = ring_text(k, from, top, r);
		json_object_object_add(w->rings, id, json_object_new_string(ring));
		free(ring);
	}
	w->want_scan = 1;
}

/* The walk from task i; an edge back to a task on the stack closes a ring. */
static void walk_from(struct work *w, struct walk *k, size_t i)
{
	size_t top = 0, u, v;
	json_object *x;

	k->stack[0] = i;
	k->at[i] = 0;
	k->color[i] = 1;
	for (;;) {
		u = k->stack[top];
		if (k->next[u] == json_object_array_length(k->deps[u])) {
			k->color[u] = 2;
			if (top-- == 0)
				return;
			continue;
		}
		x = json_object_array_get_idx(k->deps[u], k->next[u]++);
		if (!json_object_object_get_ex(k->index, json_object_get_string(x), &x))
			continue; /* not waiting here: it may well finish */
		v = (size_t)json_object_get_int(x);
		if (k->color[v] == 1)
			mark_ring(w, k, k->at[v], top);
		if (k->color[v])
			continue;
		k->stack[++top] = v;
		k->at[v] = top;
		k->color[v] = 1;
	}
}

/*
 * Tasks that wait on each other in a ring never start: a planted task
 * (filmeto-submit refuses them) that names itself, or a ring of them.
 * Those found on one go into w->rings, to be failed at their next claim,
 * which a rescan brings; a task that waits on a ring without being on
 * one fails after, as its dependency failed.
 */
static void find_rings(struct work *w)
{
	struct walk k = {0};
	size_t i, m;

	k.n = (size_t)json_object_object_length(w->waits);
	m = k.n ? k.n : 1;
	k.ids = fm_xcalloc(m, sizeof(*k.ids));
	k.deps = fm_xcalloc(m, sizeof(*k.deps));
	k.stack = fm_xcalloc(m, sizeof(*k.stack));
	k.at = fm_xcalloc(m, sizeof(*k.at));
	k.next = fm_xcalloc(m, sizeof(*k.next));
	k.color = fm_xcalloc(m, 1);
	k.index = json_object_new_object();
	i = 0;
	json_object_object_foreach (w->waits, id, on) {
		k.ids[i] = id;
		k.deps[i] = on;
		json_object_object_add(k.index, id, json_object_new_int((int)i));
		i++;
	}
	for (i = 0; i < k.n; i++)
		if (!k.color[i])
			walk_from(w, &k, i);
	json_object_put(k.index);
	free(k.ids);
	free(k.deps);
	free(k.stack);
	free(k.at);
	free(k.next);
	free(k.color);
}

/* --- claims ------------------------------------------------------------- */

/* Ends a claimed task without running it: fmt has the id's %s, then arg's. */
static void fail_claim(struct work *w, struct slot *s, enum fm_code code, const char *fmt,
		       const char *arg)
{
	struct fm_result res;
	json_object *ev;

	fm_result_init(&res, FM_SPOOL_ID(s->c.name));
	res.status = code == FM_TASK_CANCELLED ? FM_STATUS_CANCELLED : FM_STATUS_ERROR;
	fm_error(&res.error, code, fmt, FM_SPOOL_ID(s->c.name), arg);
	ev = fm_result_to_json(&res);
	log_line(w, s, ev, 1);
	end_with(s, fm_json_get_string(ev, "type"));
	json_object_put(ev);
	fm_result_release(&res);
}

/*
 * A task whose workers died with it max_claims times: it fails here,
 * unstarted, so it cannot take down one more worker.
 */
static void fail_poison(struct work *w, struct slot *s)
{
	struct fm_result res;
	json_object *ev;
	int n = s->c.deaths;

	fm_result_init(&res, FM_SPOOL_ID(s->c.name));
	res.status = FM_STATUS_ERROR;
	res.attempts = s->c.attempt - 1;
	fm_error(&res.error, FM_PLUGIN_EXECUTION_ERROR,
		 "task '%s' was claimed %d time%s by %s that died; not claimed again "
		 "(filmeto-run --max-claims %d)",
		 FM_SPOOL_ID(s->c.name), n, n == 1 ? "" : "s", n == 1 ? "a worker" : "workers",
		 w->max_claims);
	fm_error_detail(&res.error, "claims", json_object_new_int(n));
	fm_error_detail(&res.error, "max_claims", json_object_new_int(w->max_claims));
	ev = fm_result_to_json(&res);
	log_line(w, s, ev, 1);
	end_with(s, "failed");
	json_object_put(ev);
	fm_result_release(&res);
}

/*
 * The task's output folder is made here, in the folder opened once, and
 * must be a folder of its own: a symlink planted at out/ID would have
 * the plugin write through it. NULL when ready, else what is wrong.
 */
static const char *outputs_unsafe(struct work *w, const char *id)
{
	struct stat st;

	if (mkdirat(w->outdir, id, 0777) == 0)
		return NULL;
	if (errno != EEXIST || fstatat(w->outdir, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return strerror(errno);
	if (S_ISLNK(st.st_mode))
		return "is a symbolic link";
	return S_ISDIR(st.st_mode) ? NULL : "is not a directory";
}

static void add_slot(struct work *w, struct slot *s)
{
	FM_GROW(w->slots, w->cap, w->nslots + 1);
	w->slots[w->nslots++] = s;
}

/* Starts a claimed task; 0 when it had to go back (dependencies). */
static int start(struct work *w, struct slot *s)
{
	json_object *task = NULL, *ids, *given, *ring;
	const char *missing = NULL, *id = FM_SPOOL_ID(s->c.name), *unsafe;
	enum readiness r;

	if (s->c.final) {
		/* Ended before, moved never: finish the move only. */
		s->moved_only = 1;
		end_with(s, fm_json_get_string(s->c.final, "type"));
		return 1;
	}
	if (s->c.cancel) {
		s->cancelled = 1;
		fail_claim(w, s, FM_TASK_CANCELLED, "task '%s' was cancelled%s",
			   " (filmeto-submit --cancel)");
		return 1;
	}
	if (s->c.deaths >= w->max_claims) {
		fail_poison(w, s);
		return 1;
	}
	if (s->c.refused || fm_json_parse(s->c.line, s->c.len, &task, NULL) < 0 ||
	    !json_object_is_type(task, json_type_object) ||
	    strcmp(fm_json_get_string(task, "task_id") ? fm_json_get_string(task, "task_id") : "",
		   id)) {
		json_object_put(task);
		if (fm_spool_begin(&s->c) < 0) {
			broken(w, s);
			s->release = 1;
			return 1;
		}
		if (s->c.refused)
			fail_claim(w, s, FM_VALIDATION_ERROR, "task '%s': %s", s->c.refused);
		else
			fail_claim(w, s, FM_VALIDATION_ERROR,
				   "task '%s': the spooled file is not its task line%s", "");
		return 1;
	}
	ids = fm_task_needs(task);
	given = json_object_new_object();
	ring = json_object_object_get(w->rings, id);
	r = ring ? RING : check_deps(w, id, ids, given, &missing);
	if (r != WAIT && fm_spool_begin(&s->c) < 0) {
		/* Not even the claimed line: nothing runs, and the task goes back. */
		broken(w, s);
		s->release = 1;
	} else if (r == RING) {
		fail_claim(w, s, FM_VALIDATION_ERROR, "task '%s' is on a dependency cycle: %s",
			   json_object_get_string(ring));
	} else if (r == READY && (unsafe = outputs_unsafe(w, id))) {
		char *msg = fm_xasprintf(
		    "its output folder '%s/%s' %s: refused, nothing is written through it",
		    w->outpath, id, unsafe);

		fail_claim(w, s, FM_RESOURCE_PROCESSING_ERROR, "task '%s': %s", msg);
		free(msg);
	} else if (r == READY) {
		fm_exec_line(w->x, s->c.line, s->c.len);
	} else if (r == MISSING) {
		fail_claim(w, s, FM_DEPENDENCY_FAILED,
			   "task '%s' depends on task '%s', which is not in the spool", missing);
	}
	json_object_object_foreach (given, k, v) {
		(void)v;
		fm_exec_forget(w->x, k);
	}
	json_object_put(given);
	json_object_put(ids);
	json_object_put(task);
	if (ring && !s->release)
		json_object_object_del(w->rings, id);
	return r != WAIT;
}

static int scan(struct work *w, struct fm_error *err)
{
	fm_spool_names_free(w->names, w->nnames);
	w->names = NULL;
	w->nnames = w->next = 0;
	json_object_put(w->finished);
	w->finished = NULL;
	json_object_put(w->waits);
	w->waits = json_object_new_object();
	w->ringed = 0;
	w->blocked = 0;
	w->want_scan = 0;
	w->rescan_at = fm_now() + FM_SPOOL_RESCAN;
	return fm_spool_scan(w->sp, &w->names, &w->nnames, err);
}

/* Claims tasks while -j has room; 0 when the scan has none left to try. */
static int fill(struct work *w, struct fm_error *err)
{
	while (!w->stop && fm_exec_live(w->x) < (unsigned long)w->jobs && w->next < w->nnames) {
		const char *name = w->names[w->next++];
		struct slot *s;
		int got;

		if (slot_of(w, FM_SPOOL_ID(name)))
			continue; /* the same id runs here already */
		s = fm_xcalloc(1, sizeof(*s));
		got = fm_spool_claim(w->sp, name, &s->c, err);
		if (got <= 0) {
			free(s);
			if (got < 0)
				return -1;
			continue;
		}
		add_slot(w, s);
		if (!start(w, s)) {
			w->nslots--;
			fm_spool_unclaim(&s->c);
			free(s);
			w->blocked++;
		}
	}
	/* The whole queue was tried and some of it waits: on a ring, maybe. */
	if (w->next >= w->nnames && w->blocked && !w->ringed) {
		w->ringed = 1;
		find_rings(w);
	}
	return w->next < w->nnames;
}

/* Ended tasks move on; one flush makes all their final lines durable. */
static int settle(struct work *w, struct fm_error *err)
{
	struct fm_spool_claim **ended = NULL;
	size_t i, n = 0, gone = 0;
	int moved = 0, back = 0, rc = 0;

	/* Called every turn: most turns end nothing. */
	for (i = 0; i < w->nslots; i++)
		gone += w->slots[i]->ended || w->slots[i]->release;
	if (!gone)
		return 0;
	ended = fm_xcalloc(gone, sizeof(*ended));
	for (i = 0; i < w->nslots; i++)
		if (w->slots[i]->ended && !w->slots[i]->c.werr)
			ended[n++] = &w->slots[i]->c;
	if (n && fm_spool_flush(w->sp, ended, n, err) < 0)
		rc = -1;
	free(ended);
	i = 0;
	while (i < w->nslots) {
		struct slot *s = w->slots[i];
		char id[FM_ID_MAX + 1];

		if (!s->ended && !s->release) {
			i++;
			continue;
		}
		snprintf(id, sizeof(id), "%s", FM_SPOOL_ID(s->c.name));
		if (s->ended && rc == 0 && !s->c.werr) {
			if (s->to == FM_SPOOL_FAILED && !s->moved_only)
				w->failed++;
			if (w->finished)
				json_object_object_add(w->finished, id,
						       json_object_new_string(s->c.name));
			if (fm_spool_finish(w->sp, &s->c, s->to, err) < 0)
				rc = -1;
			moved = 1;
		} else {
			/*
			 * Released, or its final line could not be written or made
			 * durable: it stays queued and runs again.
			 */
			fm_spool_unclaim(&s->c);
			back = 1;
		}
		fm_exec_forget(w->x, id);
		free(s);
		w->slots[i] = w->slots[--w->nslots];
	}
	/* A finished task may be what a put-back one waited for. */
	if ((moved && w->blocked) || back)
		w->want_scan = 1;
	return rc;
}

/* cancel/ID for a task running here reaches the executor. */
static void cancels(struct work *w)
{
	int fd = openat(w->sp->fd[FM_SPOOL_CANCEL], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	DIR *dir;

	w->want_cancels = 0;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((d = readdir(dir))) {
		struct slot *s = slot_of(w, d->d_name);

		if (!s || s->cancelled || s->ended || s->release ||
		    !fm_spool_regular(w->sp, FM_SPOOL_CANCEL, d->d_name, d->d_type))
			continue;
		s->cancelled = 1;
		fm_exec_cancel(w->x, d->d_name, " (filmeto-submit --cancel)");
	}
	closedir(dir);
}

/* A task whose log failed runs on for nothing: it is stopped, to stay queued. */
static void stop_broken(struct work *w)
{
	size_t i;

	for (i = 0; i < w->nslots; i++) {
		struct slot *s = w->slots[i];

		if (!s->c.werr || s->cancelled || s->ended || s->release)
			continue;
		s->cancelled = 1;
		fm_exec_cancel(w->x, FM_SPOOL_ID(s->c.name), " (its log cannot be written)");
	}
}

static int watch_dir(struct work *w, enum fm_spool_dir sub)
{
	char *p = fm_spool_path(w->sp, sub, NULL);
	int wd = inotify_add_watch(w->inotify, p, IN_MOVED_TO | IN_CREATE | IN_ONLYDIR);

	free(p);
	return wd;
}

/* New tasks and cancel requests; finished tasks, for tasks put back. */
static void watch_dirs(struct work *w)
{
	w->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->wd_queue = w->wd_cancel = -1;
	if (w->inotify < 0)
		return;
	w->wd_queue = watch_dir(w, FM_SPOOL_QUEUE);
	w->wd_cancel = watch_dir(w, FM_SPOOL_CANCEL);
	watch_dir(w, FM_SPOOL_DONE);
	watch_dir(w, FM_SPOOL_FAILED);
}

/* Which directories changed; the events themselves are not needed. */
static void read_events(struct work *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(w->inotify, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if (ev->wd == w->wd_cancel)
				w->want_cancels = 1;
			else if (ev->wd == w->wd_queue || w->blocked)
				w->want_scan = 1;
			p += sizeof(*ev) + ev->len;
		}
	}
}

static void release_all(struct work *w)
{
	size_t i;

	for (i = 0; i < w->nslots; i++) {
		fm_spool_unclaim(&w->slots[i]->c);
		free(w->slots[i]);
	}
	free(w->slots);
	fm_spool_names_free(w->names, w->nnames);
	json_object_put(w->finished);
	json_object_put(w->waits);
	json_object_put(w->rings);
	if (w->inotify >= 0)
		close(w->inotify);
}

/*
 * Nothing left for a --drain worker: no claimable task in a fresh scan,
 * twice, since a watcher probing a lock (filmeto-watch --list) makes a
 * queued task look taken for a moment.
 */
static int drained(struct work *w, struct fm_error *err)
{
	int tries;

	for (tries = 0; tries < 2; tries++) {
		if (tries) {
			struct timespec nap = {0, 50 * 1000 * 1000};

			nanosleep(&nap, NULL);
		}
		if (scan(w, err) < 0 || fill(w, err) < 0)
			return -1;
		if (w->nslots || w->blocked || w->next < w->nnames)
			return 0;
		if (!w->nnames)
			return 1;
	}
	return 1;
}

int fm_spool_work(struct fm_spool *sp, const struct fm_exec_opts *opts, int drain, int max_claims,
		  struct fm_writer *out, enum fm_outcome *outcome, struct fm_error *err)
{
	struct fm_exec_opts o = *opts;
	struct work w = {0};
	enum fm_outcome finish;
	int rc = 0;

	w.sp = sp;
	w.out = out;
	w.jobs = o.jobs < 1 ? 1 : o.jobs;
	w.max_claims = max_claims < 1 ? FM_SPOOL_MAX_CLAIMS : max_claims;
	w.werr = (struct fm_error)FM_ERROR_INIT;
	w.outpath = o.output_dir;
	w.rings = json_object_new_object();
	o.on_event = on_event;
	o.event_ctx = &w;
	if (fm_mkdirs(o.output_dir, err) < 0)
		return -1;
	w.outdir = open(o.output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.outdir < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot open '%s':", o.output_dir);
	fm_spool_clean_tmp(sp);
	if (fm_exec_new(&w.x, &o, out, err) < 0) {
		fm_exec_free(w.x);
		close(w.outdir);
		return -1;
	}
	watch_dirs(&w);
	if (scan(&w, err) < 0)
		rc = -1;
	cancels(&w);
	while (rc == 0) {
		double wait;
		int more;

		if (fm_exec_interrupted(w.x) || w.stop) {
			if (!w.nslots)
				break;
		} else if ((more = fill(&w, err)) < 0) {
			rc = -1;
			break;
		} else if (!more && drain && !w.nslots) {
			int d = drained(&w, err);

			if (d < 0)
				rc = -1;
			if (d)
				break;
			if (w.nslots || w.next < w.nnames)
				continue;
		}
		if (w.stop)
			stop_broken(&w);
		wait = w.rescan_at - fm_now();
		if (w.blocked && wait > BLOCKED_RESCAN)
			wait = BLOCKED_RESCAN;
		if (fm_exec_turn(w.x, w.inotify, wait))
			read_events(&w);
		if (settle(&w, err) < 0)
			rc = -1;
		if (w.want_cancels)
			cancels(&w);
		if ((w.want_scan && w.next >= w.nnames) || fm_now() >= w.rescan_at) {
			if (scan(&w, err) < 0)
				rc = -1;
			cancels(&w);
		}
	}
	if (w.stop)
		stop_broken(&w);
	finish = fm_exec_finish(w.x);
	settle(&w, NULL);
	if (finish == FM_OUTCOME_INTERRUPTED || fm_exec_interrupted(w.x))
		*outcome = FM_OUTCOME_INTERRUPTED;
	else
		*outcome = w.failed ? FM_OUTCOME_TASK_FAILED : FM_OUTCOME_OK;
	if (w.stop && rc == 0) {
		fm_error_move(err, &w.werr);
		rc = -1;
	}
	fm_error_release(&w.werr);
	release_all(&w);
	fm_exec_free(w.x);
	close(w.outdir);
	return rc;
}
