/*
 * Following the spool from inside one process: a worker's calls
 * (claim, begin, log, finish) write the logs, the follower reads them
 * back as events in order, ends each task at its final line, gives up a
 * log that ended without one, and takes ids from a pipe. Then --list's
 * table and the state names, and followers that share one inotify
 * instance, as a server's streams do.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "spool.h"
#include "tap.h"
#include "util.h"

static void queue(struct fm_spool *sp, const char *id, char name[FM_SPOOL_NAME_MAX])
{
	json_object *t = fm_event_new("task", id);

	json_object_object_add(t, "tool_name", json_object_new_string("noop"));
	if (fm_spool_put(sp, t, name, NULL) < 0 || fm_spool_commit(sp, NULL) < 0)
		OK(0, "queue '%s'", id);
	json_object_put(t);
}

static void logline(struct fm_spool_claim *c, const char *type, const char *id)
{
	char *line = fm_xasprintf("{\"type\":\"%s\",\"task_id\":\"%s\"}", type, id);

	fm_spool_log(c, line, strlen(line), 1);
	free(line);
}

/* The next event that is not FM_FOLLOW_AGAIN, waiting 5 s at most. */
static enum fm_follow_kind next(struct fm_spool_follow *f, struct fm_follow_event *ev)
{
	double end = fm_now() + 5;

	for (;;) {
		fm_spool_follow_next(f, ev);
		if (ev->kind != FM_FOLLOW_AGAIN || fm_now() > end)
			return ev->kind;
		fm_spool_follow_wait(f, 0.5);
	}
}

/* Whether the next event is a log line of id holding text. */
static int line_of(struct fm_spool_follow *f, const char *id, const char *text)
{
	struct fm_follow_event ev;

	return next(f, &ev) == FM_FOLLOW_LINE && !strcmp(ev.id, id) && ev.from &&
	       strstr(ev.line, text);
}

static void one_task(struct fm_spool *sp)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_claim c, *cp = &c;
	struct fm_follow_event ev;
	struct fm_spool_follow f;
	char name[FM_SPOOL_NAME_MAX];

	queue(sp, "one", name);
	fm_spool_follow_init(&f, sp, 0);
	OK(fm_spool_follow_add(&f, "nope", &ev, &err) < 0 && err.code == FM_TASK_NOT_FOUND,
	   "an unknown id is not followed: %s", err.message);
	fm_error_release(&err);
	OK(fm_spool_follow_add(&f, "one", &ev, &err) == 0 && ev.kind == FM_FOLLOW_TASK &&
	       !strcmp(ev.id, "one") && ev.line && strstr(ev.line, "\"tool_name\":\"noop\""),
	   "a task followed: its task line first");
	OK(fm_spool_follow_add(&f, "one", &ev, &err) == 0 && ev.kind == FM_FOLLOW_AGAIN,
	   "followed twice: once");
	fm_spool_follow_next(&f, &ev);
	IS_INT(ev.kind, FM_FOLLOW_AGAIN, "queued, no log yet: nothing for now");

	IS_INT(fm_spool_claim(sp, name, &c, NULL), 1, "a worker claims it");
	fm_spool_begin(&c);
	logline(&c, "started", "one");
	OK(next(&f, &ev) == FM_FOLLOW_CLAIMED && ev.attempt == 1 && !strcmp(ev.id, "one"),
	   "the claimed line: attempt 1");
	OK(line_of(&f, "one", "\"started\""), "then the started line");
	logline(&c, "progress", "one");
	OK(line_of(&f, "one", "\"progress\""), "the log is read as it grows");
	logline(&c, "completed", "one");
	fm_spool_flush(sp, &cp, 1, NULL);
	fm_spool_finish(sp, &c, FM_SPOOL_DONE, NULL);
	OK(line_of(&f, "one", "\"completed\""), "the final line");
	IS_INT(next(&f, &ev), FM_FOLLOW_DONE, "then done: the only task has ended");
	IS_INT(fm_spool_follow_outcome(&f), FM_OUTCOME_OK, "nothing went wrong");
	fm_spool_follow_release(&f);
}

static void all_and_ids(struct fm_spool *sp)
{
	struct fm_spool_claim c, *cp = &c;
	struct fm_follow_event ev;
	struct fm_spool_follow f;
	char name[FM_SPOOL_NAME_MAX];
	int p[2];

	fm_spool_follow_init(&f, sp, 1);
	IS_INT(next(&f, &ev), FM_FOLLOW_DONE, "--all with nothing unfinished: done at once");
	fm_spool_follow_release(&f);

	queue(sp, "two", name);
	fm_spool_follow_init(&f, sp, 1);
	OK(next(&f, &ev) == FM_FOLLOW_TASK && !strcmp(ev.id, "two"),
	   "--all follows an unfinished task");
	IS_INT(fm_spool_claim(sp, name, &c, NULL), 1, "claimed");
	fm_spool_begin(&c);
	logline(&c, "started", "two");
	fm_spool_flush(sp, &cp, 1, NULL);
	fm_spool_finish(sp, &c, FM_SPOOL_FAILED, NULL);
	IS_INT(next(&f, &ev), FM_FOLLOW_CLAIMED, "its claim");
	OK(line_of(&f, "two", "\"started\""), "its start");
	OK(next(&f, &ev) == FM_FOLLOW_WARN &&
	       !strcmp(ev.message, "task 'two' ended without a final line in its log"),
	   "a log that ended without a final line is given up, and said");
	IS_INT(next(&f, &ev), FM_FOLLOW_DONE, "then done");
	fm_spool_follow_release(&f);

	if (pipe(p) < 0 || write(p[1], "  two \nzz\n", 10) != 10)
		OK(0, "pipe");
	close(p[1]);
	fm_spool_follow_init(&f, sp, 0);
	fm_spool_follow_ids(&f, p[0], "the pipe");
	OK(next(&f, &ev) == FM_FOLLOW_TASK && !strcmp(ev.id, "two"), "an id from the pipe");
	OK(next(&f, &ev) == FM_FOLLOW_WARN && ev.id == NULL && strstr(ev.message, "zz"),
	   "an unknown id from the pipe is said");
	IS_INT(fm_spool_follow_outcome(&f), FM_OUTCOME_INVALID, "and is the outcome");
	IS_INT(next(&f, &ev), FM_FOLLOW_CLAIMED, "the log of the task named is read");
	OK(line_of(&f, "two", "\"started\""), "line by line");
	fm_spool_follow_end(&f);
	IS_INT(next(&f, &ev), FM_FOLLOW_DONE,
	       "the caller ends the task: done once the ids have ended too");
	fm_spool_follow_release(&f);
	close(p[0]);
}

static void listing(struct fm_spool *sp)
{
	struct fm_buf b = FM_BUF_INIT;

	IS_INT(fm_spool_state_parse("cancelled"), FM_SPOOL_CANCELLED, "state names parse");
	IS_INT(fm_spool_state_parse("gone"), -1, "an unknown one does not");
	IS_INT(fm_spool_state_parse(NULL), -1, "nor no name");
	OK(fm_spool_list_text(sp, -1, &b, NULL) == 0, "--list");
	OK(matches(fm_buf_str(&b), "^done   +[0-9]+s  one  noop\nfailed +[0-9]+s  two  noop\n$"),
	   "one line per task, the columns aligned");
	b.len = 0;
	OK(fm_spool_list_text(sp, FM_SPOOL_FAILED_STATE, &b, NULL) == 0 &&
	       matches(fm_buf_str(&b), "^failed +[0-9]+s  two  noop\n$"),
	   "--list --state failed: only those");
	fm_buf_release(&b);
}

static struct fm_spool_follow *watchers[2];
static int touches;

static void changed(void *arg, const char *name)
{
	size_t i;

	(void)arg;
	for (i = 0; i < 2; i++)
		touches += fm_spool_follow_touch(watchers[i], name);
}

/* The next event of a watched follower, reading the watch while there is none; 5 s at most. */
static enum fm_follow_kind next_watched(struct fm_spool_watch *w, struct fm_spool_follow *f,
					struct fm_follow_event *ev)
{
	double end = fm_now() + 5;
	struct pollfd p = {.fd = w->fd, .events = POLLIN};

	for (;;) {
		fm_spool_follow_next(f, ev);
		if (ev->kind != FM_FOLLOW_AGAIN || fm_now() > end)
			return ev->kind;
		if (poll(&p, 1, 500) > 0)
			fm_spool_watch_read(w, changed, NULL);
	}
}

static void watched(struct fm_spool *sp)
{
	struct fm_spool_claim c, *cp = &c;
	struct fm_follow_event ev;
	struct fm_spool_follow a, b;
	struct fm_spool_watch w;
	struct fm_spool_entry e;
	char name[FM_SPOOL_NAME_MAX];
	struct pollfd p[2];
	double until;
	int i;

	queue(sp, "three", name);
	OK(fm_spool_find(sp, "three", &e, NULL) == 0 && e.state == FM_SPOOL_QUEUED &&
	       !strcmp(e.name, name) && !strcmp(fm_json_get_string(sp->found, "three"), name),
	   "found, and where remembered");
	fm_spool_watch_open(&w, sp);
	OK(w.fd >= 0, "one inotify instance on the logs");
	fm_spool_follow_init_watched(&a, sp, &w);
	fm_spool_follow_init_watched(&b, sp, &w);
	watchers[0] = &a;
	watchers[1] = &b;
	OK(fm_spool_follow_add(&a, "three", &ev, NULL) == 0 && ev.kind == FM_FOLLOW_TASK &&
	       fm_spool_follow_add(&b, "three", &ev, NULL) == 0 && ev.kind == FM_FOLLOW_TASK,
	   "two followers of one task");
	fm_spool_follow_next(&a, &ev);
	IS_INT(ev.kind, FM_FOLLOW_AGAIN, "nothing for now");
	IS_INT(fm_spool_follow_poll(&a, p, &until), 0, "no fd of its own to wait on");
	p[0] = (struct pollfd){.fd = w.fd, .events = POLLIN};
	IS_INT(fm_spool_follow_touch(&a, "0-nosuch"), 0, "a log it does not follow is not its");
	IS_INT(fm_spool_follow_touch(&a, NULL), 1, "any log may be");

	IS_INT(fm_spool_claim(sp, name, &c, NULL), 1, "a worker claims it");
	fm_spool_begin(&c);
	logline(&c, "started", "three");
	for (i = 0; i < 2; i++) {
		struct fm_spool_follow *f = i ? &b : &a;

		OK(next_watched(&w, f, &ev) == FM_FOLLOW_CLAIMED &&
		       line_of(f, "three", "\"started\""),
		   "follower %d: the log as the watch says it grew", i + 1);
	}
	fm_spool_follow_next(&b, &ev);
	IS_INT(ev.kind, FM_FOLLOW_AGAIN, "both have read all there is");
	touches = 0;
	logline(&c, "progress", "three");
	OK(poll(p, 1, 5000) == 1, "the watch hears the log grow");
	fm_spool_watch_read(&w, changed, NULL);
	OK(touches >= 2, "and names it to both of its followers");
	for (i = 0; i < 2; i++) {
		fm_spool_follow_next(i ? &b : &a, &ev);
		OK(ev.kind == FM_FOLLOW_LINE && strstr(ev.line, "\"progress\""),
		   "follower %d reads the line at once", i + 1);
	}
	logline(&c, "completed", "three");
	fm_spool_flush(sp, &cp, 1, NULL);
	fm_spool_finish(sp, &c, FM_SPOOL_DONE, NULL);
	OK(next_watched(&w, &a, &ev) == FM_FOLLOW_LINE && strstr(ev.line, "\"completed\""),
	   "the final line");
	IS_INT(next_watched(&w, &a, &ev), FM_FOLLOW_DONE, "then done");
	OK(fm_spool_find(sp, "three", &e, NULL) == 0 && e.state == FM_SPOOL_DONE_STATE &&
	       !strcmp(e.name, name),
	   "found again by its name, in done/ now");
	json_object_object_add(sp->found, "three", json_object_new_string("0-gone.three"));
	OK(fm_spool_find(sp, "three", &e, NULL) == 0 && e.state == FM_SPOOL_DONE_STATE &&
	       !strcmp(fm_json_get_string(sp->found, "three"), name),
	   "a name that is no more: searched for, and remembered anew");
	fm_spool_follow_release(&a);
	fm_spool_follow_release(&b);
	fm_spool_watch_close(&w);
}

void test_follow(void)
{
	char *dir = tmp_dir(), *spdir = fm_xasprintf("%s/spool", dir);
	struct fm_spool sp;

	if (fm_spool_open(&sp, spdir, NULL) < 0) {
		OK(0, "a spool to follow");
	} else {
		one_task(&sp);
		all_and_ids(&sp);
		listing(&sp);
		watched(&sp);
		fm_spool_release(&sp);
	}
	rm_rf(dir);
	free(spdir);
	free(dir);
}
