/*
 * Following spooled tasks (spool.h): the reader's side of the spool,
 * beside the worker's (spool_work.c). A task is followed from its task
 * line on through its log, which only its worker writes, one whole line
 * at a time, until its final line. inotify on log/ says which logs grew;
 * a poll every FM_SPOOL_FOLLOW_POLL catches what inotify cannot see
 * (writes from another host, or no inotify at all), and a listing every
 * FM_SPOOL_FOLLOW_SCAN tells which tasks are over, gone or (with all)
 * new. Many followers (a server's streams) may share one inotify
 * instance, an fm_spool_watch, and hold only what they read between two
 * looks. A log is opened the one way spool.c opens anything: never through
 * a symlink, never waiting on a FIFO; a planted one is given up.
 *
 * The follower never blocks and never prints: each call hands back one
 * event, and what a listing finds comes out in the order it was found.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "term.h"
#include "util.h"

/* A task followed. */
struct follow {
	char name[FM_SPOOL_NAME_MAX];
	struct fm_reader log;  /* log.fd is -1 until the log is open */
	unsigned char ended;   /* its final line was read, or it was given up */
	unsigned char over;    /* its entry left queue/: the log is whole */
	unsigned char dirty;   /* the log may have grown */
	unsigned char seen;    /* in the latest listing */
	unsigned char reading; /* its lines are being handed back */
};

/* An event made in bulk, waiting its turn. */
struct item {
	enum fm_follow_kind kind;
	char name[FM_SPOOL_NAME_MAX];
	char *text; /* the task line or the message, or NULL */
};

/* Where fm_spool_follow_next is in its round: list, read, maybe list and read again. */
enum { LOOK, READ, RESCAN, REREAD, CHECK };

#define NONE ((size_t)-1)

static struct follow *follows(const struct fm_spool_follow *s)
{
	return (struct follow *)(void *)s->follows.s;
}

static size_t nfollows(const struct fm_spool_follow *s)
{
	return s->follows.len / sizeof(struct follow);
}

static int by_follow(const void *name, const void *f)
{
	return strcmp(name, ((const struct follow *)f)->name);
}

static struct follow *follow_find(const struct fm_spool_follow *s, const char *name)
{
	return nfollows(s)
		   ? bsearch(name, follows(s), nfollows(s), sizeof(struct follow), by_follow)
		   : NULL;
}

/* The id of the task named name, for an event. */
static const char *set_id(struct fm_spool_follow *s, const char *name)
{
	const char *id = FM_SPOOL_ID(name);
	size_t n = strnlen(id, sizeof(s->id) - 1);

	memcpy(s->id, id, n);
	s->id[n] = '\0';
	return s->id;
}

static void push(struct fm_spool_follow *s, enum fm_follow_kind kind, const char *name, char *text)
{
	struct item it = {kind, "", text};

	if (name)
		snprintf(it.name, sizeof(it.name), "%s", name);
	fm_buf_add(&s->queue, &it, sizeof(it));
}

/* The next event of the queue into ev: 1, or 0 when it is empty. */
static int pop(struct fm_spool_follow *s, struct fm_follow_event *ev)
{
	const struct item *it;

	if (s->head * sizeof(*it) >= s->queue.len) {
		s->head = s->queue.len = 0;
		return 0;
	}
	it = (const struct item *)(const void *)s->queue.s + s->head++;
	s->text = it->text;
	ev->kind = it->kind;
	if (it->name[0])
		ev->id = set_id(s, it->name);
	if (it->kind == FM_FOLLOW_WARN) {
		ev->message = it->text;
	} else {
		ev->line = it->text;
		ev->len = it->text ? strlen(it->text) : 0;
	}
	return 1;
}

/* Stops reading a task's log; why, when given, is said. */
static void follow_end(struct fm_spool_follow *s, struct follow *f, const char *why)
{
	if (f->ended)
		return;
	f->ended = 1;
	s->live--;
	if (f->log.fd >= 0)
		close(f->log.fd);
	f->log.fd = -1;
	fm_reader_release(&f->log);
	if (why)
		push(s, FM_FOLLOW_WARN, f->name,
		     fm_xasprintf("task '%s' %s", FM_SPOOL_ID(f->name), why));
}

json_object *fm_spool_task_of(struct fm_spool *sp, const struct fm_spool_entry *e)
{
	struct fm_spool_entry moved = {0};
	json_object *task = NULL;

	/* A worker may move the task between the listing and the read. */
	if (fm_spool_task(sp, e, &task, NULL) < 0 &&
	    fm_spool_find(sp, FM_SPOOL_ID(e->name), &moved, NULL) == 0)
		fm_spool_task(sp, &moved, &task, NULL);
	return task;
}

/*
 * Starts following an entry: 0, and its task line (the caller frees; NULL
 * when unreadable) goes first, for the tool's name; -1 when followed already.
 */
static int follow_add(struct fm_spool_follow *s, const struct fm_spool_entry *e, char **line)
{
	struct follow *f, zero = {0};
	json_object *task;
	size_t i;

	if (follow_find(s, e->name))
		return -1;
	fm_buf_add(&s->follows, &zero, sizeof(zero));
	/* Names come mostly in order: the place is found from the end. */
	f = follows(s);
	for (i = nfollows(s) - 1; i > 0 && strcmp(f[i - 1].name, e->name) > 0; i--)
		;
	memmove(&f[i + 1], &f[i], (nfollows(s) - 1 - i) * sizeof(*f));
	if (s->cursor != NONE && s->cursor >= i)
		s->cursor++;
	if (s->last != NONE && s->last >= i)
		s->last++;
	s->live++;
	f = &f[i];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", e->name);
	fm_reader_init(&f->log, -1, FM_LINE_MAX);
	f->over = e->state > FM_SPOOL_RUNNING;
	f->dirty = f->seen = 1;
	task = fm_spool_task_of(s->sp, e);
	*line = task ? fm_xstrdup(fm_json_str(task)) : NULL;
	json_object_put(task);
	return 0;
}

/* An id from the ids fd: followed, or said to be unknown. */
static void follow_id(struct fm_spool_follow *s, const char *id)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_entry e = {0};
	char *line;

	if (fm_spool_find(s->sp, id, &e, &err) < 0) {
		push(s, FM_FOLLOW_WARN, NULL, fm_xstrdup(err.message));
		fm_error_release(&err);
		s->unknown = 1;
		return;
	}
	if (follow_add(s, &e, &line) == 0)
		push(s, FM_FOLLOW_TASK, e.name, line);
}

/*
 * The final line of the task followed, by the spool's rule (spool.c: our
 * lines have "type" first) and by its task_id: its log has no more.
 */
static int final_of(const char *id, const char *line, size_t len)
{
	static const char *const types[] = {"completed", "failed", "cancelled"};
	json_object *o;
	const char *tid;
	size_t i, n;
	int yes;

	for (i = 0; i < 3; i++) {
		n = strlen(types[i]);
		if (len > n + 10 && !memcmp(line, "{\"type\":\"", 9) &&
		    !memcmp(line + 9, types[i], n) && line[9 + n] == '"')
			break;
	}
	if (i == 3 || fm_json_parse(line, len, &o, NULL) < 0)
		return 0;
	tid = fm_json_get_string(o, "task_id");
	yes = tid && fm_id_valid(tid) && !strcmp(tid, id);
	json_object_put(o);
	return yes;
}

/* A claimed line of the log, which says which attempt runs: 1, or 0 if unreadable. */
static int claimed(const char *line, size_t len, struct fm_follow_event *ev)
{
	json_object *o;

	if (fm_json_parse(line, len, &o, NULL) < 0)
		return 0;
	ev->kind = FM_FOLLOW_CLAIMED;
	ev->attempt = fm_json_get_double(o, "attempt", 0);
	json_object_put(o);
	return 1;
}

/* Opens a log to read it: 0, or -1 when it cannot be (yet). */
static int log_open(struct fm_spool_follow *s, struct follow *f)
{
	/* Never through a symlink, never waiting on a FIFO: a planted log is given up. */
	f->log.fd = fm_spool_openat(s->sp, FM_SPOOL_LOG, f->name, O_RDONLY, 0);
	if (f->log.fd == FM_SPOOL_NOT_FILE) {
		/* A FIFO, a hard link, a log bigger than a worker writes... */
		char *why = fm_xasprintf("has a log that is not read: %s", s->sp->refused);

		f->log.fd = -1;
		follow_end(s, f, why);
		free(why);
		return -1;
	}
	if (f->log.fd < 0) {
		if (f->over)
			follow_end(s, f, "ended without a log");
		return -1;
	}
	return 0;
}

/*
 * The next line of the log of follows[at] into ev: 1, or 0 when it has
 * nothing more for now. Only whole lines count: a worker writes each
 * line at once, and the rest of one cut short comes with the next read.
 * Once the entry has left queue/ the log is whole, and a log that ends
 * without a final line never gets one.
 */
static int log_next(struct fm_spool_follow *s, size_t at, struct fm_follow_event *ev)
{
	static const char claim[] = "{\"type\":\"claimed\"";
	struct follow *f = &follows(s)[at];
	enum fm_line got;
	char *line;
	size_t len;
	ssize_t n;

	if (!f->reading) {
		f->dirty = 0;
		if (f->ended || (f->log.fd < 0 && log_open(s, f) < 0))
			return 0;
		f->reading = 1;
	}
	for (;;) {
		while (!f->ended && (got = fm_reader_take(&f->log, &line, &len)) != FM_LINE_NONE) {
			ev->id = set_id(s, f->name);
			if (got == FM_LINE_LONG) {
				s->text =
				    fm_xasprintf("the log of task '%s': line %lu is longer than "
						 "the limit of %d bytes and was dropped",
						 s->id, (unsigned long)f->log.lineno, FM_LINE_MAX);
				ev->kind = FM_FOLLOW_WARN;
				ev->message = s->text;
				return 1;
			}
			/* The spool's own line, not an event. */
			if (len >= sizeof(claim) - 1 && !memcmp(line, claim, sizeof(claim) - 1)) {
				if (claimed(line, len, ev))
					return 1;
				continue;
			}
			ev->kind = FM_FOLLOW_LINE;
			ev->line = line;
			ev->len = len;
			ev->from = &f->log;
			s->last = at;
			s->last_final = final_of(s->id, line, len);
			return 1;
		}
		if (f->ended)
			break;
		n = fm_reader_fill(&f->log);
		f->log.eof = 0; /* the end of a log is only its end so far */
		if (n > 0)
			continue;
		if (n < 0) {
			s->text = fm_xasprintf("cannot read '%s/log/%s': %s", s->sp->dir, f->name,
					       strerror(errno));
			follow_end(s, f, NULL);
			s->error = 1;
			ev->kind = FM_FOLLOW_WARN;
			ev->message = s->text;
			f->reading = 0;
			return 1;
		}
		if (f->over)
			follow_end(s, f, "ended without a final line in its log");
		break;
	}
	/*
	 * Nothing is held between two looks but a line cut short: a read's
	 * worth for each of a thousand quiet streams would be 64 MiB.
	 */
	if (f->log.start == f->log.end)
		fm_reader_release(&f->log);
	f->reading = 0;
	return 0;
}

/* Whether dir of the spool has the entry name: 1, 0, or -1 when it cannot tell. */
static int has(const struct fm_spool_follow *s, enum fm_spool_dir dir, const char *name)
{
	struct stat st;

	if (fstatat(s->sp->fd[dir], name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/*
 * Where the followed tasks are, each by its name: a few stats instead of
 * a listing, which a spool of many tasks makes slow, and which a server
 * would make once a second for each of its streams. Finishing renames
 * an entry from queue/ to done/ or failed/, so it is looked for in that
 * order: a move in between cannot hide it.
 */
static int look(struct fm_spool_follow *s)
{
	size_t i;

	for (i = 0; i < nfollows(s); i++) {
		struct follow *f = &follows(s)[i];

		if (f->ended)
			continue;
		f->dirty = 1;
		if (has(s, FM_SPOOL_QUEUE, f->name))
			continue; /* there, or it cannot tell: as it was */
		if (has(s, FM_SPOOL_DONE, f->name) > 0 || has(s, FM_SPOOL_FAILED, f->name) > 0)
			f->over = 1;
		else
			follow_end(s, f, "is no longer in the spool");
	}
	return 0;
}

/*
 * Lists the spool: which followed tasks are over, which are gone, and
 * with all which tasks to follow besides: the unfinished ones and those
 * queued since we started, even if they ended before we looked.
 */
static int scan(struct fm_spool_follow *s)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_entry *v;
	size_t n, i;

	s->scanned = s->ticked = fm_now(); /* every log is read after a listing */
	s->scan_now = 0;
	if (!s->all)
		return look(s);
	if (fm_spool_list(s->sp, 0, &v, &n, &err) < 0) {
		push(s, FM_FOLLOW_WARN, NULL, fm_xstrdup(err.message));
		fm_error_release(&err);
		return -1;
	}
	for (i = 0; i < nfollows(s); i++)
		follows(s)[i].seen = 0;
	for (i = 0; i < n; i++) {
		struct follow *f = follow_find(s, v[i].name);
		char *line;

		if (!f && s->all &&
		    (v[i].state <= FM_SPOOL_RUNNING || v[i].queued_at >= s->since)) {
			if (follow_add(s, &v[i], &line) == 0)
				push(s, FM_FOLLOW_TASK, v[i].name, line);
			f = follow_find(s, v[i].name);
		}
		if (!f)
			continue;
		f->seen = f->dirty = 1;
		if (v[i].state > FM_SPOOL_RUNNING)
			f->over = 1;
	}
	free(v);
	for (i = 0; i < nfollows(s); i++)
		if (!follows(s)[i].seen)
			follow_end(s, &follows(s)[i], "is no longer in the spool");
	return 0;
}

/* The names of the logs inotify on fd says changed, NULL when any may have. */
static void read_inotify_fd(int fd, void (*changed)(void *arg, const char *name), void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				changed(arg, NULL);
			else if (ev->len)
				changed(arg, ev->name); /* NUL-padded by the kernel */
		}
	}
}

int fm_spool_follow_touch(struct fm_spool_follow *s, const char *name)
{
	struct follow *f;
	size_t i;

	if (!name) {
		for (i = 0; i < nfollows(s); i++)
			follows(s)[i].dirty = 1;
		s->scan_now = s->all;
		return 1;
	}
	if ((f = follow_find(s, name))) {
		f->dirty = 1;
		return 1;
	}
	s->scan_now = s->all; /* a log we do not know may be a new task's */
	return 0;
}

static void touched(void *s, const char *name)
{
	fm_spool_follow_touch(s, name);
}

/* Marks the logs that inotify says changed. */
static void read_inotify(struct fm_spool_follow *s)
{
	read_inotify_fd(s->ino, touched, s);
}

/* The ids that came on the ids fd, one a line. */
static void read_ids(struct fm_spool_follow *s)
{
	ssize_t n = fm_reader_fill(&s->ids);
	enum fm_line got;
	char *line, *id;
	size_t len;

	while ((got = fm_reader_take(&s->ids, &line, &len)) != FM_LINE_NONE) {
		if (got != FM_LINE_OK)
			continue;
		for (id = line; *id == ' ' || *id == '\t'; id++)
			;
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		if (*id)
			follow_id(s, id);
	}
	if (n <= 0) {
		if (n < 0) {
			push(s, FM_FOLLOW_WARN, NULL,
			     fm_xasprintf("cannot read task ids from %s: %s", s->ids_name,
					  strerror(errno)));
			s->error = 1;
		}
		fm_reader_release(&s->ids);
		s->ids.fd = -1;
	}
}

void fm_spool_follow_init(struct fm_spool_follow *s, struct fm_spool *sp, int all)
{
	char *dir;

	memset(s, 0, sizeof(*s));
	s->sp = sp;
	s->all = all;
	s->since = fm_epoch();
	s->scanned = s->ticked = -1e9;
	s->cursor = s->last = NONE;
	fm_reader_init(&s->ids, -1, FM_LINE_MAX);
	s->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	dir = fm_spool_path(sp, FM_SPOOL_LOG, NULL);
	if (s->ino >= 0 &&
	    inotify_add_watch(s->ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		close(s->ino);
		s->ino = -1;
	}
	free(dir);
}

void fm_spool_follow_init_watched(struct fm_spool_follow *s, struct fm_spool *sp,
				  const struct fm_spool_watch *w)
{
	memset(s, 0, sizeof(*s));
	s->sp = sp;
	s->ino = -1;
	s->watched = w && w->fd >= 0;
	s->since = fm_epoch();
	s->scanned = s->ticked = -1e9;
	s->cursor = s->last = NONE;
	fm_reader_init(&s->ids, -1, FM_LINE_MAX);
}

void fm_spool_watch_open(struct fm_spool_watch *w, struct fm_spool *sp)
{
	char *dir = fm_spool_path(sp, FM_SPOOL_LOG, NULL);

	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd >= 0 && inotify_add_watch(w->fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		close(w->fd);
		w->fd = -1;
	}
	free(dir);
}

void fm_spool_watch_close(struct fm_spool_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void fm_spool_watch_read(struct fm_spool_watch *w, void (*changed)(void *arg, const char *name),
			 void *arg)
{
	if (w->fd >= 0)
		read_inotify_fd(w->fd, changed, arg);
}

void fm_spool_follow_release(struct fm_spool_follow *s)
{
	size_t i;

	for (i = 0; i < nfollows(s); i++) {
		if (follows(s)[i].log.fd >= 0)
			close(follows(s)[i].log.fd);
		fm_reader_release(&follows(s)[i].log);
	}
	fm_buf_release(&s->follows);
	while (s->head * sizeof(struct item) < s->queue.len)
		free(((struct item *)(void *)s->queue.s)[s->head++].text);
	fm_buf_release(&s->queue);
	free(s->text);
	s->text = NULL;
	fm_reader_release(&s->ids);
	if (s->ino >= 0)
		close(s->ino);
	s->ino = -1;
}

/* The last event is over: its text goes, and the log of a final line ends. */
static void settle(struct fm_spool_follow *s, struct fm_follow_event *ev)
{
	free(s->text);
	s->text = NULL;
	if (s->last_final && s->last != NONE)
		follow_end(s, &follows(s)[s->last], NULL);
	s->last = NONE;
	s->last_final = 0;
	memset(ev, 0, sizeof(*ev));
}

int fm_spool_follow_add(struct fm_spool_follow *s, const char *id, struct fm_follow_event *ev,
			struct fm_error *err)
{
	struct fm_spool_entry e = {0};

	settle(s, ev);
	if (fm_spool_find(s->sp, id, &e, err) < 0)
		return -1;
	if (follow_add(s, &e, &s->text) == 0) {
		ev->kind = FM_FOLLOW_TASK;
		ev->id = set_id(s, e.name);
		ev->line = s->text;
		ev->len = s->text ? strlen(s->text) : 0;
	}
	return 0;
}

void fm_spool_follow_ids(struct fm_spool_follow *s, int fd, const char *name)
{
	s->ids.fd = fd;
	s->ids_name = name;
}

void fm_spool_follow_end(struct fm_spool_follow *s)
{
	if (s->last != NONE)
		follow_end(s, &follows(s)[s->last], NULL);
}

/*
 * One round, as the loop of filmeto-watch had it: list the spool when it
 * is time (or else mark the logs due for a poll), read every log marked,
 * with all list and read again once nothing is left, then done or again.
 * Each step that makes an event returns it; the next call goes on.
 */
void fm_spool_follow_next(struct fm_spool_follow *s, struct fm_follow_event *ev)
{
	double now;
	size_t i;

	settle(s, ev);
	for (;;) {
		if (pop(s, ev))
			return;
		if (s->over) {
			ev->kind = FM_FOLLOW_DONE;
			return;
		}
		switch (s->phase) {
		case LOOK:
			now = fm_now();
			if (s->scan_now || now - s->scanned >= FM_SPOOL_FOLLOW_SCAN) {
				if (scan(s) < 0) {
					s->error = s->over = 1;
					break;
				}
			} else if (now - s->ticked >= FM_SPOOL_FOLLOW_POLL) {
				/* What inotify cannot see: a log written from another host. */
				for (i = 0; i < nfollows(s); i++)
					if ((s->ino < 0 && !s->watched) ||
					    follows(s)[i].log.fd >= 0)
						follows(s)[i].dirty = 1;
				s->ticked = now;
			}
			s->phase = READ;
			s->cursor = 0;
			break;
		case READ:
		case REREAD:
			if (s->cursor >= nfollows(s)) {
				s->cursor = NONE;
				s->phase = s->phase == READ && s->all && !s->live ? RESCAN : CHECK;
				break;
			}
			if ((follows(s)[s->cursor].dirty || follows(s)[s->cursor].reading) &&
			    log_next(s, s->cursor, ev))
				return;
			if (!follows(s)[s->cursor].reading)
				s->cursor++;
			break;
		case RESCAN:
			if (scan(s) < 0) {
				s->error = 1;
				s->phase = CHECK;
			} else {
				s->phase = REREAD;
				s->cursor = 0;
			}
			break;
		default:
			s->phase = LOOK;
			if (!s->live && s->ids.fd < 0) {
				s->over = 1;
				break;
			}
			ev->kind = FM_FOLLOW_AGAIN;
			return;
		}
	}
}

int fm_spool_follow_poll(const struct fm_spool_follow *s, struct pollfd *p, double *until)
{
	int np = 0;

	if (s->ino >= 0)
		p[np++] = (struct pollfd){.fd = s->ino, .events = POLLIN};
	if (s->ids.fd >= 0)
		p[np++] = (struct pollfd){.fd = s->ids.fd, .events = POLLIN};
	*until = s->scanned + FM_SPOOL_FOLLOW_SCAN;
	if (s->ticked + FM_SPOOL_FOLLOW_POLL < *until)
		*until = s->ticked + FM_SPOOL_FOLLOW_POLL;
	if (*until < fm_now())
		*until = fm_now(); /* a time past would read as no limit */
	return np;
}

void fm_spool_follow_ready(struct fm_spool_follow *s, const struct pollfd *p, int np)
{
	int i;

	for (i = 0; i < np; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == s->ino)
			read_inotify(s);
		else if (p[i].fd == s->ids.fd)
			read_ids(s);
	}
}

int fm_spool_follow_wait(struct fm_spool_follow *s, double timeout)
{
	struct pollfd p[2];
	double until, d;
	int np = fm_spool_follow_poll(s, p, &until), n;

	d = until - fm_now();
	if (timeout >= 0 && timeout < d)
		d = timeout;
	n = poll(p, (nfds_t)np, d > 0 ? (int)(d * 1000 + 1) : 0);
	if (n > 0)
		fm_spool_follow_ready(s, p, np);
	return n;
}

enum fm_outcome fm_spool_follow_outcome(const struct fm_spool_follow *s)
{
	if (s->error)
		return FM_OUTCOME_TASK_FAILED;
	return s->unknown ? FM_OUTCOME_INVALID : FM_OUTCOME_OK;
}

/* --- listing ------------------------------------------------------------ */

int fm_spool_state_parse(const char *name)
{
	int i;

	for (i = 0; name && i < FM_SPOOL_NSTATES; i++)
		if (!strcmp(name, fm_spool_state_name((enum fm_spool_state)i)))
			return i;
	return -1;
}

enum fm_outcome fm_spool_state_outcome(enum fm_spool_state state)
{
	static const enum fm_outcome outcome[FM_SPOOL_NSTATES] = {
	    [FM_SPOOL_QUEUED] = FM_OUTCOME_UNFINISHED,
	    [FM_SPOOL_RUNNING] = FM_OUTCOME_UNFINISHED,
	    [FM_SPOOL_DONE_STATE] = FM_OUTCOME_OK,
	    [FM_SPOOL_FAILED_STATE] = FM_OUTCOME_TASK_FAILED,
	    [FM_SPOOL_CANCELLED] = FM_OUTCOME_TASK_FAILED,
	};

	return state < FM_SPOOL_NSTATES ? outcome[state] : FM_OUTCOME_TASK_FAILED;
}

/* "5s", "3m", "2h", "4d": how long ago, in the largest whole unit. */
static const char *age(double s, char buf[24])
{
	unsigned long n = s > 0 && s < 1e12 ? (unsigned long)s : 0;

	if (n < 60)
		snprintf(buf, 24, "%lus", n);
	else if (n < 3600)
		snprintf(buf, 24, "%lum", n / 60);
	else if (n < 86400)
		snprintf(buf, 24, "%luh", n / 3600);
	else
		snprintf(buf, 24, "%lud", n / 86400);
	return buf;
}

/* s made safe for a terminal, in at most size bytes. */
static const char *clean(char *dst, size_t size, const char *s)
{
	fm_term_text(dst, size, s, strlen(s), INT_MAX);
	return dst;
}

/* The tool of an entry, "?" when its file cannot be read. */
static char *entry_tool(struct fm_spool *sp, const struct fm_spool_entry *e)
{
	json_object *task = fm_spool_task_of(sp, e);
	const char *tool = fm_json_get_string(task, "tool_name");
	char buf[FM_ID_MAX + 1];
	char *s;

	s = fm_xstrdup(clean(buf, sizeof(buf), tool && *tool ? tool : "?"));
	json_object_put(task);
	return s;
}

struct row {
	const char *state, *id;
	char age[24];
	char *tool, *code;
};

static int width(const char *s, int w)
{
	int n = (int)strlen(s);

	return n > w ? n : w;
}

int fm_spool_list_text(struct fm_spool *sp, int only, struct fm_buf *out, struct fm_error *err)
{
	struct fm_spool_entry *v;
	struct row *r;
	size_t n, i, k = 0;
	int sw = 0, aw = 0, iw = 0, tw = 0;
	char code[sizeof(v->code)];
	double now;

	if (fm_spool_list(sp, 1, &v, &n, err) < 0)
		return -1;
	now = fm_epoch();
	r = fm_xcalloc(n + 1, sizeof(*r));
	for (i = 0; i < n; i++) {
		const struct fm_spool_entry *e = &v[i];

		if (only >= 0 && e->state != (enum fm_spool_state)only)
			continue;
		r[k].state = fm_spool_state_name(e->state);
		r[k].id = FM_SPOOL_ID(e->name);
		age(now - (e->state == FM_SPOOL_QUEUED ? e->queued_at : e->changed_at), r[k].age);
		r[k].tool = entry_tool(sp, e);
		if (e->state == FM_SPOOL_FAILED_STATE && e->code[0])
			r[k].code = fm_xstrdup(clean(code, sizeof(code), e->code));
		sw = width(r[k].state, sw);
		aw = width(r[k].age, aw);
		iw = width(r[k].id, iw);
		tw = width(r[k].tool, tw);
		k++;
	}
	for (i = 0; i < k; i++) {
		if (r[i].code)
			fm_buf_addf(out, "%-*s  %*s  %-*s  %-*s  %s\n", sw, r[i].state, aw,
				    r[i].age, iw, r[i].id, tw, r[i].tool, r[i].code);
		else
			fm_buf_addf(out, "%-*s  %*s  %-*s  %s\n", sw, r[i].state, aw, r[i].age, iw,
				    r[i].id, r[i].tool);
		free(r[i].tool);
		free(r[i].code);
	}
	free(r);
	free(v);
	return 0;
}

int fm_spool_list_json(struct fm_spool *sp, int only, json_object **out, struct fm_error *err)
{
	struct fm_spool_entry *v;
	char code[sizeof(v->code)];
	size_t n, i;

	*out = NULL;
	if (fm_spool_list(sp, 1, &v, &n, err) < 0)
		return -1;
	*out = json_object_new_array();
	for (i = 0; i < n; i++) {
		const struct fm_spool_entry *e = &v[i];
		json_object *o;
		char *tool;

		if (only >= 0 && e->state != (enum fm_spool_state)only)
			continue;
		o = json_object_new_object();
		tool = entry_tool(sp, e);
		json_object_object_add(o, "task_id", json_object_new_string(FM_SPOOL_ID(e->name)));
		json_object_object_add(o, "state",
				       json_object_new_string(fm_spool_state_name(e->state)));
		json_object_object_add(o, "tool", json_object_new_string(tool));
		json_object_object_add(o, "queued_at", fm_json_double(e->queued_at));
		json_object_object_add(o, "changed_at",
				       e->state == FM_SPOOL_QUEUED ? NULL
								   : fm_json_double(e->changed_at));
		json_object_object_add(
		    o, "code",
		    e->state == FM_SPOOL_FAILED_STATE && e->code[0]
			? json_object_new_string(clean(code, sizeof(code), e->code))
			: NULL);
		json_object_array_add(*out, o);
		free(tool);
	}
	free(v);
	return 0;
}
