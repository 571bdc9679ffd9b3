/*
 * The spool: tasks queued as plain files and run later by workers
 * (filmeto-submit --queue, filmeto-run --spool, filmeto-watch --follow).
 * The locking is explained at the top of spool.c.
 */
#ifndef FM_SPOOL_H
#define FM_SPOOL_H

#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "buf.h"
#include "error.h"
#include "ndjson.h"

/* A task's log stops taking anything but claim and final lines here. */
#define FM_SPOOL_LOG_MAX (16 * 1024 * 1024)
/*
 * The most a task's log holds: FM_SPOOL_LOG_MAX of events, the line that
 * crossed it, the final line (each up to FM_LINE_MAX), and room for the
 * small lines of thousands of claims. A bigger log was not written by a
 * worker (planted, or corrupt): it is refused like an entry of the wrong
 * type, and its task stays queued.
 */
#define FM_SPOOL_LOG_READ_MAX (2 * FM_SPOOL_LOG_MAX)
/* An idle worker looks for claims freed by dead workers this often (s). */
#define FM_SPOOL_RESCAN 1.0
/* A temporary file older than this whose writer is gone is debris (s). */
#define FM_SPOOL_TMP_AGE 3600.0
/* "SEQ.ID": 16 hex digits of the enqueue time in ns, a dot, the task id. */
#define FM_SPOOL_SEQ_LEN  16
#define FM_SPOOL_NAME_MAX (FM_SPOOL_SEQ_LEN + 1 + 128 + 1)
#define FM_SPOOL_ID(name) ((name) + FM_SPOOL_SEQ_LEN + 1)

/* The subdirectories, in the order of struct fm_spool's fds. */
enum fm_spool_dir {
	FM_SPOOL_TMP,
	FM_SPOOL_QUEUE,
	FM_SPOOL_DONE,
	FM_SPOOL_FAILED,
	FM_SPOOL_LOG,
	FM_SPOOL_CANCEL,
	FM_SPOOL_OUT,
	FM_SPOOL_NDIRS
};

enum fm_spool_state {
	FM_SPOOL_QUEUED,
	FM_SPOOL_RUNNING,
	FM_SPOOL_DONE_STATE,
	FM_SPOOL_FAILED_STATE,
	FM_SPOOL_CANCELLED,
	FM_SPOOL_NSTATES
};

/* Up to this many files are fsynced one by one; more take one syncfs(2). */
#define FM_SPOOL_FSYNC_MAX 2
/* Ids whose entry names a spool handle remembers (struct fm_spool's found). */
#define FM_SPOOL_FOUND_MAX 16384
/*
 * A task claimed this many times by workers that died (claimed, then no
 * final line and no put-back line) is failed instead of claimed again:
 * the default of filmeto-run --max-claims, and the option's upper bound.
 */
#define FM_SPOOL_MAX_CLAIMS	  3
#define FM_SPOOL_MAX_CLAIMS_LIMIT 1000
/* Entries of the wrong type are named once each, up to this many per handle. */
#define FM_SPOOL_WARNED_MAX 256
/*
 * fm_spool_openat: the entry is a symlink, a FIFO, a socket, a folder...
 * or a regular file refused all the same: a hard link, an oversized log.
 */
#define FM_SPOOL_NOT_FILE (-2)
/* The queueing lock's file, in the spool's folder beside its subfolders. */
#define FM_SPOOL_LOCK "lock"

struct fm_spool {
	char *dir;
	int fd[FM_SPOOL_NDIRS];
	char **pending; /* tmp/ names put but not yet committed */
	size_t npending;
	int locked;	     /* holds the queueing lock (fm_spool_lock) */
	int lockfd;	     /* its file, open while locked */
	json_object *ids;    /* every id queued or finished, and our puts, as of ids_gen */
	uint64_t ids_gen;    /* the lock file's generation when ids was read or last committed */
	int ids_fresh;	     /* ids read or checked under the lock held now */
	json_object *warned; /* entries already named through warn */
	/*
	 * id -> entry name, where fm_spool_find found each: a name stays the
	 * same from queue/ to done/ or failed/, so a few stats find it again
	 * where a search reads the folders, which a spool of many tasks makes
	 * slow. At most FM_SPOOL_FOUND_MAX, then forgotten and begun again.
	 */
	json_object *found;
	/*
	 * Set by a command after fm_spool_open to hear of entries skipped
	 * for their type (a symlink or a special file among the tasks).
	 */
	void (*warn)(void *ctx, const char *message);
	void *warn_ctx;
	char refused[128]; /* why the last entry refused was, for a caller to say */
};

struct fm_spool_entry {
	char name[FM_SPOOL_NAME_MAX]; /* the id is FM_SPOOL_ID(name) */
	enum fm_spool_state state;
	double queued_at;  /* epoch seconds, from the name */
	double changed_at; /* epoch seconds: claimed (running) or finished */
	char code[32];	   /* a failed task's error code, when listed with probe */
};

/* What a task's log says so far. */
struct fm_spool_logscan {
	int claims;
	int released;	       /* claims a stopped worker gave back (fm_spool_put_back) */
	json_object *claimed;  /* the last claimed line, or NULL */
	json_object *progress; /* the last progress line, or NULL */
	json_object *final;    /* the final line, or NULL */
	off_t good;	       /* bytes up to the end of the last whole line */
};

/* A task a worker holds: its file is locked until finish or unclaim. */
struct fm_spool_claim {
	char name[FM_SPOOL_NAME_MAX];
	int fd, log;
	int attempt;
	int cancel; /* cancel/ID existed when claimed */
	char *line; /* the task line */
	size_t len;
	char *refused;	    /* or why the entry is no task line (too long): fail it */
	json_object *final; /* a final line the log already held, or NULL */
	off_t logged;	    /* bytes in the log */
	int truncated;	    /* past FM_SPOOL_LOG_MAX */
	int deaths;	    /* earlier claims whose worker died with the task */
	int werr;	    /* errno of a write to the log that failed: no more writes */
};

/* "spool" under $XDG_STATE_HOME/filmeto, or $FILMETO_SPOOL; caller frees. */
char *fm_spool_default_dir(void);
/* Opens (creating) the spool at dir, or the default when dir is NULL. */
int fm_spool_open(struct fm_spool *sp, const char *dir, struct fm_error *err);
void fm_spool_release(struct fm_spool *sp);
/* dir/sub/name (name may be NULL); caller frees. */
char *fm_spool_path(const struct fm_spool *sp, enum fm_spool_dir sub, const char *name);
const char *fm_spool_state_name(enum fm_spool_state s);

/*
 * Opens sub/name the one way anything in the spool is opened: never
 * through a symlink, never waiting on a FIFO, and only a regular file
 * with no other name (no hard link) is kept, and in log/ only one of at
 * most FM_SPOOL_LOG_READ_MAX bytes. Returns the fd, -1 with errno, or
 * FM_SPOOL_NOT_FILE for an entry refused (why in sp->refused, and said
 * once through sp->warn).
 */
int fm_spool_openat(struct fm_spool *sp, enum fm_spool_dir sub, const char *name, int flags,
		    mode_t mode);
/*
 * Whether sub/name, found by readdir with type d_type (DT_UNKNOWN: look),
 * is a regular file; another type is said through sp->warn and skipped.
 */
int fm_spool_regular(struct fm_spool *sp, enum fm_spool_dir sub, const char *name,
		     unsigned char d_type);

/*
 * The queueing lock, one for the spool (flock on SPOOL/lock): whoever holds
 * it is the only one to queue, so an id checked under it stays new until
 * committed. Held until fm_spool_unlock or fm_spool_release; put takes it.
 */
int fm_spool_lock(struct fm_spool *sp, struct fm_error *err);
void fm_spool_unlock(struct fm_spool *sp);
/* Every id in the spool, mapped to its state's name; takes the lock. */
int fm_spool_ids(struct fm_spool *sp, json_object **ids, struct fm_error *err);
/*
 * Queues one task line: put writes it in tmp/ (name gets "SEQ.ID"),
 * under the queueing lock, and fails with VALIDATION_ERROR when the
 * spool has a task of its id; commit makes every put so far durable,
 * renames them into queue/ and fsyncs queue/, so one commit serves a
 * batch. Uncommitted puts are removed by fm_spool_release.
 */
int fm_spool_put(struct fm_spool *sp, json_object *task, char name[FM_SPOOL_NAME_MAX],
		 struct fm_error *err);
int fm_spool_commit(struct fm_spool *sp, struct fm_error *err);
/*
 * Takes back the puts after the first keep, not yet committed: their
 * files go and their ids are free again. One holder that gathers several
 * callers' puts for one commit drops one caller's without the others'.
 */
void fm_spool_unput(struct fm_spool *sp, size_t keep);

/* Tasks fm_spool_enqueue makes durable with one commit (one fsync of queue/). */
#define FM_SPOOL_BATCH 1024
struct fm_plan;
/*
 * Whether a plan may be queued: its ids must be new to the spool, and what
 * its tasks need outside it must be in the spool already. Each problem is
 * appended to problems ({message}). Takes the queueing lock, to be held
 * until the last commit: a submitter racing us for an id waits, then
 * finds it taken. -1 with err only when the spool cannot be read.
 */
int fm_spool_check_plan(struct fm_spool *sp, const struct fm_plan *plan, json_object *problems,
			struct fm_error *err);
/*
 * Queues the tasks of an array in its order, a commit per FM_SPOOL_BATCH
 * and one at the end; after each commit durable(ctx, from, to) hears that
 * tasks [from, to) are in the spool, so their ids can be said. *queued:
 * how many are. -1 with err when a put or a commit failed: the tasks
 * after the last commit are not queued.
 */
int fm_spool_enqueue(struct fm_spool *sp, json_object *tasks,
		     void (*durable)(void *ctx, size_t from, size_t to), void *ctx, size_t *queued,
		     struct fm_error *err);
/* fsync(2) of one subdirectory. */
int fm_spool_sync(struct fm_spool *sp, enum fm_spool_dir sub, struct fm_error *err);

/*
 * Every task, in queue order. probe: tell queued from running by the lock,
 * and failed from cancelled (with the error code) by the log.
 */
int fm_spool_list(struct fm_spool *sp, int probe, struct fm_spool_entry **v, size_t *n,
		  struct fm_error *err);
/* One task by id; VALIDATION_ERROR when the spool has none. */
int fm_spool_find(struct fm_spool *sp, const char *id, struct fm_spool_entry *e,
		  struct fm_error *err);
/* The task line of an entry, parsed. */
int fm_spool_task(struct fm_spool *sp, const struct fm_spool_entry *e, json_object **task,
		  struct fm_error *err);
/* Reads a log from fd (from the start); release with fm_spool_logscan_release. */
int fm_spool_logscan(int fd, struct fm_spool_logscan *ls, struct fm_error *err);
void fm_spool_logscan_release(struct fm_spool_logscan *ls);
/*
 * The seeds' task status: {"type":"status","task_id","state","tool_name",
 * "plugin_name","queued_at","started_at" (running) or "finished_at",
 * "attempts","worker","progress" (running),"result" (finished),"log"}.
 */
int fm_spool_status(struct fm_spool *sp, const char *id, json_object **st, struct fm_error *err);

/*
 * Cancels a task: 0 it was queued and is now cancelled; 1 a worker runs
 * it and has been asked; 2 it had already finished. -1 with err when the
 * spool has no such task.
 */
int fm_spool_cancel(struct fm_spool *sp, const char *id, struct fm_error *err);
/*
 * Removes finished tasks (entry, log, cancel request, out/ID) finished
 * more than age s ago. What cannot be removed is said through sp->warn
 * (path and reason) and skipped; then -1, err counting the failures.
 */
int fm_spool_prune(struct fm_spool *sp, double age, unsigned long *removed, struct fm_error *err);
/* "90", "90s", "15m", "12h", "7d", "2w" in seconds; -1 when malformed. */
double fm_spool_parse_age(const char *s);

/* The names in queue/, sorted. */
int fm_spool_scan(struct fm_spool *sp, char ***names, size_t *n, struct fm_error *err);
void fm_spool_names_free(char **names, size_t n);
/* 1 claimed, 0 not claimable now (gone, or locked by another worker). */
int fm_spool_claim(struct fm_spool *sp, const char *name, struct fm_spool_claim *c,
		   struct fm_error *err);
/*
 * The task starts: a "claimed" line records the attempt (and a retake).
 * -1 when the log cannot be written (c->werr).
 */
int fm_spool_begin(struct fm_spool_claim *c);
/*
 * Appends one event line; past FM_SPOOL_LOG_MAX only must-keep ones.
 * After a write fails (c->werr), nothing more is written: the torn line
 * it may have left is repaired by the next claim.
 */
int fm_spool_log(struct fm_spool_claim *c, const char *line, size_t len, int must_keep);
/*
 * The worker was stopped, not the task: a warning line that gives the
 * claim back ("released": true), so this claim is no death.
 */
int fm_spool_put_back(struct fm_spool_claim *c);
/* Makes the logs of claims durable: their final lines are written. */
int fm_spool_flush(struct fm_spool *sp, struct fm_spool_claim **c, size_t n, struct fm_error *err);
/*
 * The final line is durable (fm_spool_flush): move the task to done/ or
 * failed/ and let go of the lock. The rename need not be durable: a task
 * whose log has its final line is only moved by whoever claims it next.
 */
int fm_spool_finish(struct fm_spool *sp, struct fm_spool_claim *c, enum fm_spool_dir to,
		    struct fm_error *err);
/* Lets go without finishing: the task stays queued for another attempt. */
void fm_spool_unclaim(struct fm_spool_claim *c);
/* Removes tmp/ files left by writers that died. */
void fm_spool_clean_tmp(struct fm_spool *sp);

/*
 * Following tasks as they run (spool_follow.c): what filmeto-watch
 * --follow and --all show, and what a server streams. Each followed
 * task's line comes first, then its log as it grows, line by line, until
 * its final line (inotify on log/, and a poll for what inotify cannot
 * see, such as writes from another host). Nothing blocks: fm_spool_follow_next
 * hands back what there is, FM_FOLLOW_AGAIN when nothing is left for now;
 * the caller then waits on the fds of fm_spool_follow_poll, in its own
 * loop, or with fm_spool_follow_wait.
 */
/* Followed logs are looked at this often at most, inotify or not (s). */
#define FM_SPOOL_FOLLOW_POLL 0.2
/* The spool is listed this often, for tasks that ended or are new (s). */
#define FM_SPOOL_FOLLOW_SCAN 1.0

enum fm_follow_kind {
	FM_FOLLOW_AGAIN,   /* nothing for now: wait, then ask again */
	FM_FOLLOW_DONE,	   /* every followed task has ended, and no more can come */
	FM_FOLLOW_TASK,	   /* a task followed from now on: its task line (NULL: unreadable) */
	FM_FOLLOW_LINE,	   /* a line of its log, as the worker wrote it */
	FM_FOLLOW_CLAIMED, /* a worker claimed it (the spool's own line, no event): attempt */
	FM_FOLLOW_WARN	   /* something to say; a task named in it is no longer followed */
};

/* What fm_spool_follow_next hands back; valid until the next call on the follower. */
struct fm_follow_event {
	enum fm_follow_kind kind;
	const char *id;	  /* the task's, or NULL */
	const char *line; /* TASK, LINE: without its newline */
	size_t len;
	const struct fm_reader *from; /* LINE: the reader, for fm_writer_pass */
	double attempt;		      /* CLAIMED: the attempt its line gives, 0 for none */
	const char *message;	      /* WARN */
};

/* What went wrong while following, for a command's exit status. */
struct fm_spool_follow {
	struct fm_spool *sp;
	int all; /* every unfinished task, and those queued from init on */
	/* Private. */
	int ino, watched, scan_now, phase, over, error, unknown;
	struct fm_buf follows; /* the tasks followed, sorted by name */
	size_t live, cursor, last;
	int last_final;
	struct fm_reader ids;
	const char *ids_name;
	double since, scanned, ticked;
	struct fm_buf queue; /* events made in bulk (a listing), handed back first */
	size_t head;
	char id[FM_SPOOL_NAME_MAX];
	char *text;
};

/* The state named name ("queued", ...), or -1. */
int fm_spool_state_parse(const char *name);
/* What a task's state says of it: queued and running are unfinished. */
enum fm_outcome fm_spool_state_outcome(enum fm_spool_state state);
/*
 * What filmeto-watch --list prints: one line per task (only those in
 * state only, unless it is -1) in queue order: state, age, id, tool, and
 * a failed task's error code, the columns aligned.
 */
int fm_spool_list_text(struct fm_spool *sp, int only, struct fm_buf *out, struct fm_error *err);
/*
 * The same as one JSON array, for --list --json: {task_id, state, tool,
 * queued_at, changed_at (epoch seconds, null when not yet), code (a failed
 * task's, else null)}.
 */
int fm_spool_list_json(struct fm_spool *sp, int only, json_object **out, struct fm_error *err);
/* The task line of an entry, parsed, even if a worker moved it since the listing; or NULL. */
json_object *fm_spool_task_of(struct fm_spool *sp, const struct fm_spool_entry *e);

/* Follows tasks of sp, which stays the caller's; all: see above. */
void fm_spool_follow_init(struct fm_spool_follow *s, struct fm_spool *sp, int all);

/*
 * One inotify instance on log/ for many followers: a server with a
 * thousand streams would otherwise hold a thousand, past the kernel's
 * limit per user (fs.inotify.max_user_instances, 128 by default), and
 * leave none for anyone else. The caller waits on fd and hands each log
 * that changed to the followers (fm_spool_follow_touch). fd is -1 when
 * there is no inotify: the followers then poll, as they do without.
 */
struct fm_spool_watch {
	int fd;
};

void fm_spool_watch_open(struct fm_spool_watch *w, struct fm_spool *sp);
void fm_spool_watch_close(struct fm_spool_watch *w);
/*
 * Reads what waits on w->fd: changed(arg, name) for each log entry named,
 * with NULL when any may have (the kernel's queue overflowed).
 */
void fm_spool_watch_read(struct fm_spool_watch *w, void (*changed)(void *arg, const char *name),
			 void *arg);
/*
 * A follower of named tasks (never all) without inotify of its own: w
 * (which stays the caller's) tells it, through fm_spool_follow_touch,
 * which logs changed. fm_spool_follow_poll then gives it no fd to wait on.
 */
void fm_spool_follow_init_watched(struct fm_spool_follow *s, struct fm_spool *sp,
				  const struct fm_spool_watch *w);
/* The log of entry name (NULL: of every task) may have grown: 1 when s follows it. */
int fm_spool_follow_touch(struct fm_spool_follow *s, const char *name);
void fm_spool_follow_release(struct fm_spool_follow *s);
/*
 * Follows the task id: ev is its FM_FOLLOW_TASK, or FM_FOLLOW_AGAIN when
 * it was followed already; -1 with TASK_NOT_FOUND when the spool has none.
 */
int fm_spool_follow_add(struct fm_spool_follow *s, const char *id, struct fm_follow_event *ev,
			struct fm_error *err);
/* Ids come on fd too (--follow -), one a line, until its end; name is for messages. */
void fm_spool_follow_ids(struct fm_spool_follow *s, int fd, const char *name);
/* The next event; FM_FOLLOW_DONE for good once every task has ended. */
void fm_spool_follow_next(struct fm_spool_follow *s, struct fm_follow_event *ev);
/*
 * Stops reading the log of the last FM_FOLLOW_LINE's task: the caller
 * knows it has ended. A final line of its own, "type" first as a worker
 * writes it, ends it anyway; the caller's reading may see more.
 */
void fm_spool_follow_end(struct fm_spool_follow *s);
/*
 * What to wait on after FM_FOLLOW_AGAIN: up to 2 fds in p (the number is
 * returned), and until when at most, on fm_now's clock. After poll(2),
 * fm_spool_follow_ready reads what the ready ones hold.
 */
struct pollfd;
int fm_spool_follow_poll(const struct fm_spool_follow *s, struct pollfd *p, double *until);
void fm_spool_follow_ready(struct fm_spool_follow *s, const struct pollfd *p, int np);
/*
 * Both, for a caller without a loop of its own: waits until an fd is
 * ready or the next look is due, at most timeout s (< 0: no more limit).
 * Returns what poll(2) did.
 */
int fm_spool_follow_wait(struct fm_spool_follow *s, double timeout);
/*
 * FM_OUTCOME_OK; FM_OUTCOME_TASK_FAILED when the spool, a log or the ids
 * could not be read; FM_OUTCOME_INVALID when an id that came on the ids fd
 * is not in the spool.
 */
enum fm_outcome fm_spool_follow_outcome(const struct fm_spool_follow *s);

struct fm_exec_opts;
struct fm_writer;
/*
 * Works the spool (spool_work.c) with an executor made from opts until
 * it is drained (drain) or a signal stops it; *outcome says how it went:
 * FM_OUTCOME_OK every task it ran completed, FM_OUTCOME_TASK_FAILED one
 * did not, FM_OUTCOME_INTERRUPTED a signal stopped it. Tasks
 * running when a signal came stay queued for another attempt. A task
 * whose earlier claims ended in max_claims dead workers is failed
 * instead. When a log cannot be written the worker stops claiming, the
 * task stays queued, and -1 says why once the running tasks are over.
 */
int fm_spool_work(struct fm_spool *sp, const struct fm_exec_opts *opts, int drain, int max_claims,
		  struct fm_writer *out, enum fm_outcome *outcome, struct fm_error *err);

#endif
