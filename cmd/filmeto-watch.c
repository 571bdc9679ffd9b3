/*
 * filmeto-watch: reads event lines and shows what happens to each task:
 * live bars on a terminal, one plain line per state change elsewhere. It
 * copies the stream to stdout when stdout is not a terminal, ends with a
 * summary (also as JSON and JUnit XML on request) and a verdict in its
 * exit status.
 *
 * Memory grows with the number of distinct tasks, never with the number
 * of events: each task is one small struct in a table keyed by its id.
 * The bulk of a stream is progress, heartbeat and log lines; those whose
 * first members are "type" and "task_id", as filmeto-run writes them, are
 * read by those two members alone unless their content is to be shown.
 * Every other line goes through json-c.
 *
 * Input is read with ppoll(2) so the terminal is redrawn on a timer while
 * the input is idle; SIGINT, SIGTERM and SIGWINCH are blocked except
 * inside ppoll, so they are only ever seen between two lines.
 *
 * With --follow and --all the events come from the spool instead: each
 * task's line, then its log tailed (inotify on log/, and a poll for what
 * inotify cannot see, such as writes from another host) until its final
 * line, all through the same on_line. --list and --status only report.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-watch [-qv] [--color=WHEN] [--summary-json FILE] [--junit FILE]\n"
    "                     [FILE ... | -f ID ... | --all]\n"
    "       filmeto-watch --list [--state STATE]\n"
    "       filmeto-watch --status ID\n"
    "\n"
    "Report the events in FILEs or standard input ('-'), or those of tasks in\n"
    "the spool; copy them to standard output when it is not a terminal.\n"
    "\n"
    "  -f, --follow ID          follow a task in the spool until it ends (repeat\n"
    "                           for more; '-' reads ids from standard input)\n"
    "      --all                follow every unfinished task in the spool, and\n"
    "                           those queued meanwhile, until none is left\n"
    "      --list               list the tasks in the spool: state, age, id, tool\n"
    "      --state STATE        with --list: only queued, running, done, failed\n"
    "                           or cancelled tasks\n"
    "      --status ID          print the status of a task in the spool as JSON\n"
    "  -q, --quiet              print only failures and the summary\n"
    "  -v, --verbose            also print progress, at most every 5s per task\n"
    "      --color=WHEN         auto (default), always or never\n"
    "      --summary-json FILE  write the summary as one JSON object to FILE\n"
    "      --junit FILE         write JUnit XML, one testcase per task, to FILE\n"
    "  -h, --help               show this help\n"
    "      --version            show the version\n"
    "\n"
    "Exit status: 0 every task completed, 1 a task failed or was cancelled\n"
    "(or output could not be written), 2 usage error, 3 the stream ended with\n"
    "tasks unfinished, 130 interrupted;\n"
    "with --status: 0 done, 1 failed or cancelled, 3 queued or running.\n";

enum {
	OPT_VERSION = 256,
	OPT_COLOR,
	OPT_SUMMARY_JSON,
	OPT_JUNIT,
	OPT_ALL,
	OPT_LIST,
	OPT_STATE,
	OPT_STATUS
};

static const struct option options[] = {
    {"follow", required_argument, NULL, 'f'},
    {"all", no_argument, NULL, OPT_ALL},
    {"list", no_argument, NULL, OPT_LIST},
    {"state", required_argument, NULL, OPT_STATE},
    {"status", required_argument, NULL, OPT_STATUS},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"color", required_argument, NULL, OPT_COLOR},
    {"summary-json", required_argument, NULL, OPT_SUMMARY_JSON},
    {"junit", required_argument, NULL, OPT_JUNIT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Limits, all documented in filmeto-watch(1). */
#define REDRAW_GAP     0.1	   /* seconds between two terminal frames, at least */
#define TICK	       1.0	   /* redraw this often while tasks run, for the clocks */
#define PROGRESS_EVERY 5.0	   /* -v: seconds between two progress lines of a task */
#define LIST_MAX       20	   /* outputs and unfinished tasks named in the summary */
#define FAILURES_MAX   100	   /* failures named in the summary */
#define NOTE_MAX       160	   /* bytes of a task's latest stage and message kept */
#define MESSAGE_MAX    1024	   /* bytes of an error message kept */
#define OUTPUTS_MAX    4096	   /* bytes of output paths kept per task */
#define PENDING_MAX    (64 * 1024) /* scrolled lines buffered before a frame */
#define POLL_EVERY     0.2	   /* seconds between two looks at followed logs, at most */
#define SCAN_EVERY     1.0	   /* seconds between two listings of the spool */
#define BAR_WIDTH      20
#define ID_WIDTH_MAX   32

enum state { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, NSTATES };

enum ev { EV_OTHER, EV_TASK, EV_STARTED, EV_PROGRESS, EV_HEARTBEAT, EV_LOG, EV_FINAL };

struct task {
	char *id;
	char *tool, *plugin;
	char *outputs; /* paths, each NUL-terminated, then an empty one */
	char *code, *message;
	char *note; /* "stage: message" of the latest progress, terminal only */
	double started, said, exec_time;
	float percent;
	unsigned weight;
	unsigned char state, cached;
	unsigned short attempt, attempts;
	unsigned short claim; /* the spool's attempt, from its claimed line; 0 elsewhere */
};

struct watch {
	struct task *t;
	size_t n, cap;
	uint32_t *slot; /* index + 1 into t, 0 for empty; a power of two long */
	size_t nslot;
	unsigned long count[NSTATES], cached;
	struct fm_writer out;
	int passthrough, quiet, verbose, tty, color, interrupted;
	int copy_lost; /* the copy to stdout failed (not by EPIPE): not success */
	int replay;    /* events may be old (the spool's logs): their timestamps count */
	const char *summary_json, *junit;
	double start;
	/* The terminal. */
	sigset_t waitmask;
	int cols, rows, drawn, dirty, cursor_hidden;
	double last_draw;
	struct fm_buf frame, pending;
};

static volatile sig_atomic_t got_stop, got_winch;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else
		got_stop = sig;
}

/* A copy of at most max bytes of s, not cut inside a UTF-8 sequence. */
static char *dup_capped(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return fm_xstrndup(s, n);
}

/* s for a terminal or a log line, in at most size bytes. */
static const char *clean(char *dst, size_t size, const char *s)
{
	fm_term_text(dst, size, s ? s : "", s ? strlen(s) : 0, INT_MAX);
	return dst;
}

/* --- tasks -------------------------------------------------------------- */

static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void rehash(struct watch *w)
{
	size_t i, mask;

	free(w->slot);
	w->nslot = w->nslot ? w->nslot * 2 : 1024;
	w->slot = fm_xcalloc(w->nslot, sizeof(*w->slot));
	mask = w->nslot - 1;
	for (i = 0; i < w->n; i++) {
		size_t j = hash(w->t[i].id, strlen(w->t[i].id)) & mask;

		while (w->slot[j])
			j = (j + 1) & mask;
		w->slot[j] = (uint32_t)(i + 1);
	}
}

/* The task with id (n bytes), made PENDING when it is new. */
static struct task *task_get(struct watch *w, const char *id, size_t n)
{
	size_t mask, j;
	struct task *t;

	if (2 * (w->n + 1) > w->nslot)
		rehash(w);
	mask = w->nslot - 1;
	for (j = hash(id, n) & mask; w->slot[j]; j = (j + 1) & mask) {
		t = &w->t[w->slot[j] - 1];
		if (!strncmp(t->id, id, n) && t->id[n] == '\0')
			return t;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->t = fm_xrealloc(w->t, w->cap * sizeof(*w->t));
	}
	t = &w->t[w->n++];
	memset(t, 0, sizeof(*t));
	t->id = fm_xstrndup(id, n);
	t->weight = 1;
	t->exec_time = -1;
	w->slot[j] = (uint32_t)w->n;
	w->count[PENDING]++;
	return t;
}

static void set_state(struct watch *w, struct task *t, enum state s)
{
	w->count[t->state]--;
	t->state = (unsigned char)s;
	w->count[s]++;
	w->dirty = 1;
}

static void set_name(char **dst, const char *s)
{
	if (!s || !*s || (*dst && !strcmp(*dst, s)))
		return;
	free(*dst);
	*dst = dup_capped(s, FM_ID_MAX);
}

static double task_time(const struct task *t, double now)
{
	if (t->exec_time >= 0)
		return t->exec_time;
	return t->started > 0 ? now - t->started : 0;
}

/*
 * When an event happened, on fm_now's clock. A live stream's events
 * happen as they come; a log read later says when in its timestamps.
 */
static double event_time(const struct watch *w, json_object *ev)
{
	const char *ts = fm_json_get_string(ev, "timestamp"), *rest;
	double now = fm_now(), t;
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!w->replay || !ts || !(rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)))
		return now;
	t = (double)timegm(&tm) + (*rest == '.' ? strtod(rest, NULL) : 0);
	t = now - (fm_epoch() - t);
	return t < now ? t : now;
}

/* --- plain lines -------------------------------------------------------- */

/* "2026-11-21T05:47:07Z" from an event, else from the clock. */
static void when(json_object *ev, char buf[32])
{
	const char *ts = fm_json_get_string(ev, "timestamp");

	if (ts && strlen(ts) >= 19) {
		snprintf(buf, 32, "%.19sZ", ts);
		return;
	}
	fm_timestamp(buf);
	snprintf(buf + 19, 13, "Z");
}

static const char *sgr(const struct watch *w, const char *code)
{
	if (!w->color)
		return "";
	return code;
}

#define GREEN "\033[32m"
#define RED   "\033[31m"
#define CYAN  "\033[36m"
#define DIM   "\033[2m"
#define BOLD  "\033[1m"
#define RESET "\033[0m"

/* --- the terminal ------------------------------------------------------- */

/* A line no wider than max columns; escapes take no room. */
struct line {
	struct fm_buf *b;
	int cols, max, color;
};

static void lput(struct line *l, const char *s)
{
	size_t n = strlen(s), size = 3 * n + 1;
	char small[1024], *buf = size <= sizeof(small) ? small : fm_xmalloc(size);

	l->cols += fm_term_text(buf, size, s, n, l->max - l->cols);
	fm_buf_addstr(l->b, buf);
	if (buf != small)
		free(buf);
}

__attribute__((format(printf, 2, 3))) static void lprintf(struct line *l, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	lput(l, tmp);
}

static void lsgr(struct line *l, const char *code)
{
	if (l->color)
		fm_buf_addstr(l->b, code);
}

static void lend(struct line *l)
{
	lsgr(l, RESET);
	fm_buf_addstr(l->b, "\033[K\n");
}

static struct line line_start(struct watch *w, struct fm_buf *b)
{
	struct line l = {b, 0, w->cols - 1, w->color};

	return l;
}

static void lbar(struct line *l, double frac, int width)
{
	int i, full = (int)(frac * width + 0.5);

	lput(l, "[");
	lsgr(l, GREEN);
	for (i = 0; i < width; i++) {
		if (i == full)
			lsgr(l, DIM);
		lput(l, i < full ? "\xe2\x96\x88" : "\xe2\x96\x91"); /* full block, light shade */
	}
	lsgr(l, RESET);
	lput(l, "]");
}

/* "12s", "3m05s", "2h07m". */
static const char *dur(double s, char buf[32])
{
	unsigned n = s > 0 && s < 1e8 ? (unsigned)(s + 0.5) : 0;

	if (n < 60)
		snprintf(buf, 32, "%us", n);
	else if (n < 3600)
		snprintf(buf, 32, "%um%02us", n / 60, n % 60);
	else
		snprintf(buf, 32, "%uh%02um", n / 3600, n / 60 % 60);
	return buf;
}

static void term_size(struct watch *w)
{
	struct winsize ws;

	w->cols = 80;
	w->rows = 24;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0) {
		if (ws.ws_col > 0)
			w->cols = ws.ws_col;
		if (ws.ws_row > 0)
			w->rows = ws.ws_row;
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

/* The overall bar: each task weighs 1 + the resources and dependencies it names. */
static void overall_line(struct watch *w, double now)
{
	struct line l = line_start(w, &w->frame);
	double sum = 0, done = 0;
	unsigned long ended = w->count[COMPLETED] + w->count[FAILED] + w->count[CANCELLED];
	char d[32];
	size_t i;

	for (i = 0; i < w->n; i++) {
		const struct task *t = &w->t[i];

		sum += t->weight;
		if (t->state >= COMPLETED)
			done += t->weight;
		else if (t->state == RUNNING)
			done += t->weight * t->percent / 100.0;
	}
	lsgr(&l, BOLD);
	lput(&l, "all ");
	lsgr(&l, RESET);
	lbar(&l, sum > 0 ? done / sum : 0, BAR_WIDTH + 10);
	lprintf(&l, " %3.0f%%  %lu/%zu done", sum > 0 ? 100 * done / sum : 0, ended, w->n);
	if (w->count[RUNNING])
		lprintf(&l, ", %lu running", w->count[RUNNING]);
	if (w->count[FAILED] + w->count[CANCELLED]) {
		lput(&l, ", ");
		lsgr(&l, RED);
		lprintf(&l, "%lu failed", w->count[FAILED] + w->count[CANCELLED]);
		lsgr(&l, RESET);
	}
	lprintf(&l, "  %s", dur(now - w->start, d));
	lend(&l);
}

static void task_line(struct watch *w, const struct task *t, int idw, double now)
{
	struct line l = line_start(w, &w->frame);
	double el = now - t->started;
	char d[32], e[32];

	lprintf(&l, "  %-*.*s ", idw, idw, t->id);
	lsgr(&l, CYAN);
	lprintf(&l, "%s/%s ", t->tool ? t->tool : "?", t->plugin ? t->plugin : "?");
	lsgr(&l, RESET);
	lbar(&l, t->percent / 100.0, BAR_WIDTH);
	lprintf(&l, " %3.0f%% %s", t->percent, dur(el, d));
	if (t->percent > 0 && t->percent < 100)
		lprintf(&l, " eta %s", dur(el * (100 - t->percent) / t->percent, e));
	if (t->attempt > 1)
		lprintf(&l, " (attempt %u)", t->attempt);
	if (t->note) {
		lput(&l, "  ");
		lput(&l, t->note);
	}
	lend(&l);
}

/*
 * The live lines, one screen row each (line_start keeps them narrower than
 * the screen) and with the cursor's row no more rows than the screen has:
 * a line that wrapped or scrolled away could not be drawn over again.
 */
static void live_lines(struct watch *w, double now)
{
	int room = w->rows - 2, shown = 0, idw = 0;
	size_t i;

	if (w->rows < 2) {
		w->drawn = 0;
		return;
	}
	overall_line(w, now);
	if ((unsigned long)room < w->count[RUNNING])
		room--;
	for (i = 0; i < w->n && shown < room; i++) {
		int n = (int)strlen(w->t[i].id);

		if (w->t[i].state == RUNNING) {
			idw = n > idw ? n : idw;
			shown++;
		}
	}
	idw = idw > ID_WIDTH_MAX ? ID_WIDTH_MAX : idw;
	shown = 0;
	for (i = 0; i < w->n && shown < room; i++) {
		if (w->t[i].state == RUNNING) {
			task_line(w, &w->t[i], idw, now);
			shown++;
		}
	}
	if ((unsigned long)shown < w->count[RUNNING] && room >= 0) {
		struct line l = line_start(w, &w->frame);

		lprintf(&l, "  ... and %lu more running", w->count[RUNNING] - (unsigned long)shown);
		lend(&l);
		shown++;
	}
	w->drawn = shown + 1;
}

/*
 * One frame: back to the top of the live lines, the lines that scroll up,
 * then the live lines again (none when live is 0), then clear what is left.
 */
static void draw(struct watch *w, int live)
{
	double now = fm_now();

	w->frame.len = 0;
	if (live && !w->cursor_hidden) {
		fm_buf_addstr(&w->frame, "\033[?25l");
		w->cursor_hidden = 1;
	}
	fm_buf_addstr(&w->frame, "\r");
	if (w->drawn)
		fm_buf_addf(&w->frame, "\033[%dA", w->drawn);
	if (w->pending.len)
		fm_buf_add(&w->frame, w->pending.s, w->pending.len);
	w->pending.len = 0;
	w->drawn = 0;
	if (live)
		live_lines(w, now);
	fm_buf_addstr(&w->frame, "\033[J");
	if (!live && w->cursor_hidden) {
		fm_buf_addstr(&w->frame, "\033[?25h");
		w->cursor_hidden = 0;
	}
	write_all(2, w->frame.s, w->frame.len);
	w->last_draw = now;
	w->dirty = 0;
}

static struct line scroll_start(struct watch *w)
{
	if (w->pending.len > PENDING_MAX)
		draw(w, 1);
	w->dirty = 1;
	return line_start(w, &w->pending);
}

/* --- events ------------------------------------------------------------- */

static void say_started(struct watch *w, struct task *t, json_object *ev)
{
	char ts[32], tool[FM_ID_MAX + 1], plugin[FM_ID_MAX + 1];

	if (w->tty) {
		struct line l;

		if (t->attempt <= 1)
			return;
		l = scroll_start(w);
		lsgr(&l, BOLD);
		lput(&l, "\xe2\x86\xbb "); /* clockwise arrow */
		lsgr(&l, RESET);
		lprintf(&l, "%s retry, attempt %u", t->id, t->attempt);
		lend(&l);
		return;
	}
	if (w->quiet)
		return;
	when(ev, ts);
	clean(tool, sizeof(tool), t->tool ? t->tool : "?");
	clean(plugin, sizeof(plugin), t->plugin ? t->plugin : "?");
	if (t->attempt > 1)
		fprintf(stderr, "%s retry %s (%s, %s): attempt %u\n", ts, t->id, tool, plugin,
			t->attempt);
	else
		fprintf(stderr, "%s started %s (%s, %s)\n", ts, t->id, tool, plugin);
}

static void on_started(struct watch *w, struct task *t, json_object *ev)
{
	double attempt = fm_json_get_double(ev, "attempt", 0);

	if (t->state >= COMPLETED)
		return; /* a final state is final: a late started line does not undo it */
	set_name(&t->tool, fm_json_get_string(ev, "tool_name"));
	set_name(&t->plugin, fm_json_get_string(ev, "plugin_name"));
	if (attempt >= 1 && attempt <= 65535)
		t->attempt = (unsigned short)attempt;
	else if (t->attempt < 65535)
		t->attempt++;
	/* A worker's executor counts from 1 again when the spool retakes a task. */
	if (t->attempt < t->claim)
		t->attempt = t->claim;
	if (t->state != RUNNING)
		set_state(w, t, RUNNING);
	t->started = event_time(w, ev);
	t->percent = 0;
	if (t->note)
		t->note[0] = '\0';
	say_started(w, t, ev);
}

static void set_note(struct task *t, const char *stage, const char *message)
{
	if (!stage && !message)
		return;
	if (!t->note)
		t->note = fm_xmalloc(NOTE_MAX);
	snprintf(t->note, NOTE_MAX, "%s%s%s", stage ? stage : "", stage && message ? ": " : "",
		 message ? message : "");
}

static void on_progress(struct watch *w, struct task *t, json_object *ev)
{
	double now = fm_now(), p;
	char ts[32], note[NOTE_MAX];

	if (t->state >= COMPLETED)
		return;
	if (t->state == PENDING) {
		set_state(w, t, RUNNING);
		t->started = now;
	}
	if (!ev)
		return;
	p = fm_json_get_double(ev, "percent", t->percent);
	t->percent = (float)(p < 0 ? 0 : p > 100 ? 100 : p);
	w->dirty = 1;
	if (w->tty) {
		set_note(t, fm_json_get_string(ev, "stage"), fm_json_get_string(ev, "message"));
		return;
	}
	if (!w->verbose || w->quiet || now - t->said < PROGRESS_EVERY)
		return;
	t->said = now;
	when(ev, ts);
	set_note(t, fm_json_get_string(ev, "stage"), fm_json_get_string(ev, "message"));
	fprintf(stderr, "%s progress %s %.0f%%%s%s\n", ts, t->id, t->percent,
		t->note && t->note[0] ? " " : "", clean(note, sizeof(note), t->note));
}

/* Keeps the output paths of a result, up to OUTPUTS_MAX bytes. */
static void keep_outputs(struct task *t, json_object *files)
{
	size_t i, n = files ? json_object_array_length(files) : 0, len = 0;
	struct fm_buf b = FM_BUF_INIT;

	for (i = 0; i < n; i++) {
		json_object *f = json_object_array_get_idx(files, i);
		const char *s =
		    json_object_is_type(f, json_type_string) ? json_object_get_string(f) : NULL;

		if (!s || !*s || len + strlen(s) + 2 > OUTPUTS_MAX)
			continue;
		fm_buf_add(&b, s, strlen(s) + 1);
		len = b.len;
	}
	if (b.len) {
		fm_buf_add(&b, "", 1);
		t->outputs = fm_buf_detach(&b, NULL);
	}
}

static void say_final(struct watch *w, struct task *t, json_object *ev)
{
	const char *type = t->state == COMPLETED ? "completed"
			   : t->state == FAILED	 ? "failed"
						 : "cancelled";
	char ts[32], msg[MESSAGE_MAX + 1], path[OUTPUTS_MAX];
	double el = task_time(t, fm_now());

	if (w->tty) {
		struct line l = scroll_start(w);

		lsgr(&l, t->state == COMPLETED ? GREEN : RED);
		lput(&l, t->state == COMPLETED ? "\xe2\x9c\x93 " : "\xe2\x9c\x97 "); /* ✓ ✗ */
		lsgr(&l, RESET);
		lprintf(&l, "%s %.1fs ", t->id, el);
		if (t->state == COMPLETED) {
			lput(&l, t->outputs ? t->outputs : "");
			if (t->cached)
				lput(&l, " (cached)");
		} else {
			if (t->state == CANCELLED)
				lput(&l, "cancelled ");
			lsgr(&l, RED);
			lprintf(&l, "%s: %s", t->code, t->message);
		}
		lend(&l);
		return;
	}
	if (w->quiet && t->state == COMPLETED)
		return;
	when(ev, ts);
	if (t->state == COMPLETED) {
		fprintf(stderr, "%s %scompleted%s %s in %.2fs%s%s%s", ts, sgr(w, GREEN),
			sgr(w, RESET), t->id, el, t->outputs ? ": " : "",
			clean(path, sizeof(path), t->outputs), t->cached ? " (cached)" : "");
	} else {
		fprintf(stderr, "%s %s%s%s %s: %s: %s", ts, sgr(w, RED), type, sgr(w, RESET), t->id,
			t->code, clean(msg, sizeof(msg), t->message));
	}
	if (t->attempts > 1)
		fprintf(stderr, " after %u attempts", t->attempts);
	fputc('\n', stderr);
}

static void on_final(struct watch *w, struct task *t, json_object *ev, const char *type)
{
	json_object *err = fm_json_get(ev, "error", json_type_object);
	json_object *meta = fm_json_get(ev, "metadata", json_type_object);
	json_object *cached = NULL;
	const char *code = fm_json_get_string(err, "code");
	const char *message = fm_json_get_string(err, "message");
	double attempts = fm_json_get_double(ev, "attempts", 0);
	enum state s = !strcmp(type, "completed") ? COMPLETED
		       : !strcmp(type, "failed")  ? FAILED
						  : CANCELLED;

	if (t->state >= COMPLETED)
		return; /* each task ends once; a repeated end line changes nothing */
	t->exec_time = fm_json_get_double(ev, "execution_time", -1);
	if (t->exec_time < 0 && t->started > 0)
		t->exec_time = event_time(w, ev) - t->started;
	if (t->exec_time < 0)
		t->exec_time = 0;
	if (attempts >= 1 && attempts <= 65535)
		t->attempts = (unsigned short)attempts;
	if (t->attempts < t->claim)
		t->attempts = t->claim;
	if (s == COMPLETED) {
		keep_outputs(t, fm_json_get(ev, "output_files", json_type_array));
		if (json_object_object_get_ex(meta, "cached", &cached) &&
		    json_object_get_boolean(cached)) {
			t->cached = 1;
			w->cached++;
		}
	} else {
		char safe[3 * FM_ID_MAX + 1];

		/* Printed as it is in every line: made safe for a terminal once. */
		clean(safe, sizeof(safe), code ? code : "");
		t->code = dup_capped(code	      ? safe
				     : s == CANCELLED ? "TASK_CANCELLED"
						      : "ERROR",
				     FM_ID_MAX);
		t->message = dup_capped(message ? message : "", MESSAGE_MAX);
	}
	set_state(w, t, s);
	free(t->note);
	t->note = NULL;
	say_final(w, t, ev);
}

/* The weight of a task: 1 + its resources + dependencies not among them. */
static void on_task(struct task *t, json_object *ev)
{
	json_object *res = fm_json_get(ev, "resources", json_type_array);
	json_object *deps = fm_json_get(ev, "depends_on", json_type_array);
	size_t i, j, nres = res ? json_object_array_length(res) : 0;
	size_t ndeps = deps ? json_object_array_length(deps) : 0;
	unsigned weight = 1 + (unsigned)nres;

	set_name(&t->tool, fm_json_get_string(ev, "tool_name"));
	set_name(&t->plugin, fm_json_get_string(ev, "plugin_name"));
	for (i = 0; i < ndeps && i < 65536; i++) {
		const char *dep = json_object_get_string(json_object_array_get_idx(deps, i));
		int named = 0;

		for (j = 0; j < nres && dep && !named; j++) {
			json_object *r = json_object_array_get_idx(res, j);
			const char *rt = fm_json_get_string(r, "type");
			const char *data = fm_json_get_string(r, "data");
			size_t n = dep ? strlen(dep) : 0;

			named = rt && data && !strcmp(rt, "task_output") &&
				!strncmp(data, dep, n) && (data[n] == '\0' || data[n] == '#');
		}
		weight += !named;
	}
	t->weight = weight;
}

static enum ev ev_type(const char *type, size_t n)
{
	static const struct {
		const char *name;
		enum ev ev;
	} types[] = {
	    {"task", EV_TASK},		 {"started", EV_STARTED}, {"progress", EV_PROGRESS},
	    {"heartbeat", EV_HEARTBEAT}, {"log", EV_LOG},	  {"completed", EV_FINAL},
	    {"failed", EV_FINAL},	 {"cancelled", EV_FINAL},
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strlen(types[i].name) == n && !memcmp(types[i].name, type, n))
			return types[i].ev;
	}
	return EV_OTHER;
}

static int id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/*
 * The fast path: a progress, heartbeat or log line that starts
 * {"type":"T","task_id":"ID", and ends in '}' needs no parsing unless a
 * progress line is to be shown. Returns 1 when the line was handled.
 */
static int fast_line(struct watch *w, const char *line, size_t len)
{
	static const char head[] = "{\"type\":\"", mid[] = "\",\"task_id\":\"";
	const char *type = line + sizeof(head) - 1, *id, *p;
	struct task *t;
	enum ev ev;

	if (len < 40 || memcmp(line, head, sizeof(head) - 1) || line[len - 1] != '}')
		return 0;
	p = memchr(type, '"', 10);
	if (!p || (ev = ev_type(type, (size_t)(p - type))) < EV_PROGRESS || ev > EV_LOG)
		return 0;
	if (memcmp(p, mid, sizeof(mid) - 1))
		return 0;
	id = p + sizeof(mid) - 1;
	for (p = id; p < line + len && id_char(*p) && p - id <= FM_ID_MAX; p++)
		;
	if (p == id || p - id > FM_ID_MAX || *id == '.' || *id == '-' || p[0] != '"' ||
	    (p[1] != ',' && p[1] != '}'))
		return 0;
	t = task_get(w, id, (size_t)(p - id));
	if (ev == EV_PROGRESS &&
	    (w->tty || (w->verbose && !w->quiet && fm_now() - t->said >= PROGRESS_EVERY)))
		return 0;
	if (ev != EV_LOG)
		on_progress(w, t, NULL);
	return 1;
}

static void on_line(struct watch *w, const char *line, size_t len)
{
	json_object *ev;
	const char *type, *id;
	struct task *t;
	enum ev kind;

	if (fast_line(w, line, len))
		return;
	if (fm_json_parse(line, len, &ev, NULL) < 0)
		return; /* not an event: it only passes through */
	type = fm_json_get_string(ev, "type");
	id = fm_json_get_string(ev, "task_id");
	kind = type ? ev_type(type, strlen(type)) : EV_OTHER;
	if (kind == EV_OTHER || !fm_id_valid(id)) {
		json_object_put(ev);
		return;
	}
	t = task_get(w, id, strlen(id));
	switch (kind) {
	case EV_TASK: on_task(t, ev); break;
	case EV_STARTED: on_started(w, t, ev); break;
	case EV_PROGRESS:
	case EV_HEARTBEAT: on_progress(w, t, kind == EV_PROGRESS ? ev : NULL); break;
	case EV_FINAL: on_final(w, t, ev, type); break;
	default: break;
	}
	json_object_put(ev);
}

/* --- input -------------------------------------------------------------- */

/* A warning that does not tear through the live lines. */
static void erase_live(struct watch *w)
{
	if (w->tty && w->drawn)
		draw(w, 0);
}

/*
 * After each write to the copy: once it has failed, it is said (once),
 * copying stops, and the verdict cannot be success. The events are
 * still read and reported: the copy is the lesser of the two jobs.
 */
static void check_copy(struct watch *w)
{
	if (!w->passthrough || !w->out.failed)
		return;
	w->passthrough = 0;
	if (w->out.failed != EPIPE)
		erase_live(w);
	if (fm_stdout_error(w->out.failed) < 0)
		w->copy_lost = 1;
}

/* One line on to stdout, as it came (r), when stdout is not a terminal. */
static void copy_line(struct watch *w, const struct fm_reader *r, const char *line, size_t len)
{
	if (!w->passthrough)
		return;
	fm_writer_pass(&w->out, r, line, len);
	check_copy(w);
}

/*
 * Waits for input on one of the np fds of p, or until the clock reads
 * until (when not negative), redrawing on the timer meanwhile. Returns 1
 * when a signal asks us to stop, else 0 (input, end of input, an error
 * to read, or the time has come).
 */
static int wait_input(struct watch *w, struct pollfd *p, nfds_t np, double until)
{
	for (;;) {
		struct timespec ts, *tp = NULL;
		double due = -1, wake;
		int n;

		if (w->passthrough) {
			fm_writer_flush(&w->out);
			check_copy(w);
		}
		if (w->tty && w->dirty)
			due = w->last_draw + REDRAW_GAP;
		else if (w->tty && w->count[RUNNING])
			due = w->last_draw + TICK;
		wake = due >= 0 && (until < 0 || due < until) ? due : until;
		if (wake >= 0) {
			double d = wake - fm_now();

			d = d < 0 ? 0 : d;
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			tp = &ts;
		}
		n = ppoll(p, np, tp, &w->waitmask);
		if (got_stop)
			return 1;
		if (got_winch) {
			got_winch = 0;
			term_size(w);
			w->dirty = 1;
		}
		if (n > 0 || (n < 0 && errno != EINTR))
			return 0;
		if (due >= 0 && fm_now() >= due)
			draw(w, 1);
		if (until >= 0 && fm_now() >= until)
			return 0;
	}
}

static int watch_fd(int fd, const char *name, void *ctx)
{
	struct watch *w = ctx;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct fm_reader in;
	enum fm_line got;
	char *line;
	size_t len;
	int rc = 0;

	fm_reader_init(&in, fd, FM_LINE_MAX);
	for (;;) {
		while ((got = fm_reader_take(&in, &line, &len)) != FM_LINE_NONE) {
			if (got == FM_LINE_LONG) {
				erase_live(w);
				fm_warn("%s: line %lu is longer than the limit of %d bytes and "
					"was dropped",
					name, (unsigned long)in.lineno, FM_LINE_MAX);
				continue;
			}
			on_line(w, line, len);
			copy_line(w, &in, line, len);
		}
		if (in.eof)
			break;
		if (w->tty && w->dirty && fm_now() - w->last_draw >= REDRAW_GAP)
			draw(w, 1);
		if (wait_input(w, &p, 1, -1)) {
			rc = 1;
			break;
		}
		if (fm_reader_fill(&in) < 0) {
			erase_live(w);
			fm_warn("cannot read '%s':", name);
			rc = -1;
			break;
		}
	}
	fm_reader_release(&in);
	return rc;
}

/* --- the spool ---------------------------------------------------------- */

/* A task followed in the spool. */
struct follow {
	char name[FM_SPOOL_NAME_MAX];
	struct fm_reader log; /* log.fd is -1 until the log is open */
	unsigned char ended;  /* its final line was read, or it was given up */
	unsigned char over;   /* its entry left queue/: the log is whole */
	unsigned char dirty;  /* the log may have grown */
	unsigned char seen;   /* in the latest listing */
};

struct spool_watch {
	struct fm_spool sp;
	struct follow *f; /* sorted by name */
	size_t n, cap, live;
	int all, ino, status, scan_now;
	struct fm_reader ids; /* --follow -; ids.fd is -1 once read */
	double since;	      /* epoch: --all also takes what was queued from here on */
	double scanned, ticked;
};

static int by_follow(const void *name, const void *f)
{
	return strcmp(name, ((const struct follow *)f)->name);
}

static struct follow *follow_find(struct spool_watch *s, const char *name)
{
	return s->n ? bsearch(name, s->f, s->n, sizeof(*s->f), by_follow) : NULL;
}

/* Stops reading a task's log; why, when given, is said. */
static void follow_end(struct spool_watch *s, struct watch *w, struct follow *f, const char *why)
{
	if (f->ended)
		return;
	f->ended = 1;
	s->live--;
	if (f->log.fd >= 0)
		close(f->log.fd);
	f->log.fd = -1;
	fm_reader_release(&f->log);
	if (why) {
		erase_live(w);
		fm_warn("task '%s' %s", FM_SPOOL_ID(f->name), why);
	}
}

/* Starts following an entry: its task line goes first, for the tool's name. */
static void follow_add(struct spool_watch *s, struct watch *w, const struct fm_spool_entry *e)
{
	const char *id = FM_SPOOL_ID(e->name);
	struct fm_spool_entry moved = {0};
	json_object *task = NULL;
	struct follow *f;
	size_t i;

	if (follow_find(s, e->name))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->f = fm_xrealloc(s->f, s->cap * sizeof(*s->f));
	}
	/* Names come mostly in order: the place is found from the end. */
	for (i = s->n; i > 0 && strcmp(s->f[i - 1].name, e->name) > 0; i--)
		;
	memmove(&s->f[i + 1], &s->f[i], (s->n - i) * sizeof(*s->f));
	s->n++;
	s->live++;
	f = &s->f[i];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", e->name);
	fm_reader_init(&f->log, -1, FM_LINE_MAX);
	f->over = e->state > FM_SPOOL_RUNNING;
	f->dirty = f->seen = 1;
	/* A worker may move the task between the listing and the read. */
	if (fm_spool_task(&s->sp, e, &task, NULL) < 0 &&
	    fm_spool_find(&s->sp, id, &moved, NULL) == 0)
		fm_spool_task(&s->sp, &moved, &task, NULL);
	if (task) {
		const char *line = fm_json_str(task);

		on_line(w, line, strlen(line));
		json_object_put(task);
	}
	task_get(w, id, strlen(id));
}

/* An id named by the user: 0 followed, -1 (after saying why) not in the spool. */
static int follow_id(struct spool_watch *s, struct watch *w, const char *id)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_entry e = {0};

	if (fm_spool_find(&s->sp, id, &e, &err) < 0) {
		erase_live(w);
		fm_warn("%s", err.message);
		fm_error_release(&err);
		return -1;
	}
	follow_add(s, w, &e);
	return 0;
}

/*
 * A claimed line is the spool's, not an event: it only tells which
 * attempt runs, so that a retake shows as a retry.
 */
static void on_claimed(struct watch *w, const char *id, const char *line, size_t len)
{
	json_object *ev;
	double attempt;
	struct task *t;

	if (fm_json_parse(line, len, &ev, NULL) < 0)
		return;
	attempt = fm_json_get_double(ev, "attempt", 0);
	t = task_get(w, id, strlen(id));
	if (attempt >= 1 && attempt <= 65535)
		t->claim = (unsigned short)attempt;
	json_object_put(ev);
}

static void follow_line(struct spool_watch *s, struct watch *w, struct follow *f, const char *line,
			size_t len)
{
	static const char claimed[] = "{\"type\":\"claimed\"";
	const char *id = FM_SPOOL_ID(f->name);

	if (len >= sizeof(claimed) - 1 && !memcmp(line, claimed, sizeof(claimed) - 1)) {
		on_claimed(w, id, line, len);
		return;
	}
	on_line(w, line, len);
	copy_line(w, &f->log, line, len);
	if (task_get(w, id, strlen(id))->state >= COMPLETED)
		follow_end(s, w, f, NULL);
}

/*
 * Reads what a log has gained. Only whole lines count: a worker writes
 * each line at once, and the rest of one cut short comes with the next
 * read. Once the entry has left queue/ the log is whole, and a log that
 * ends without a final line never gets one.
 */
static int follow_read(struct spool_watch *s, struct watch *w, struct follow *f)
{
	enum fm_line got;
	char *line;
	size_t len;
	ssize_t n;

	f->dirty = 0;
	if (f->ended)
		return 0;
	if (f->log.fd < 0) {
		/* Never through a symlink, never waiting on a FIFO: a planted log is given up. */
		f->log.fd = fm_spool_openat(&s->sp, FM_SPOOL_LOG, f->name, O_RDONLY, 0);
		if (f->log.fd == FM_SPOOL_NOT_FILE) {
			/* A FIFO, a hard link, a log bigger than a worker writes... */
			char *why = fm_xasprintf("has a log that is not read: %s", s->sp.refused);

			f->log.fd = -1;
			follow_end(s, w, f, why);
			free(why);
			return 0;
		}
		if (f->log.fd < 0) {
			if (f->over)
				follow_end(s, w, f, "ended without a log");
			return 0;
		}
	}
	do {
		while (!f->ended && (got = fm_reader_take(&f->log, &line, &len)) != FM_LINE_NONE) {
			if (got == FM_LINE_LONG) {
				erase_live(w);
				fm_warn("the log of task '%s': line %lu is longer than the limit "
					"of %d bytes and was dropped",
					FM_SPOOL_ID(f->name), (unsigned long)f->log.lineno,
					FM_LINE_MAX);
				continue;
			}
			follow_line(s, w, f, line, len);
		}
		if (f->ended)
			return 0;
		if (w->tty && w->dirty && fm_now() - w->last_draw >= REDRAW_GAP)
			draw(w, 1);
		n = fm_reader_fill(&f->log);
		f->log.eof = 0; /* the end of a log is only its end so far */
	} while (n > 0);
	if (n < 0) {
		erase_live(w);
		fm_warn("cannot read '%s/log/%s':", s->sp.dir, f->name);
		follow_end(s, w, f, NULL);
		return -1;
	}
	if (f->over)
		follow_end(s, w, f, "ended without a final line in its log");
	return 0;
}

/*
 * Lists the spool: which followed tasks are over, which are gone, and
 * with --all which tasks to follow besides: the unfinished ones and those
 * queued since we started, even if they ended before we looked.
 */
static int spool_scan(struct spool_watch *s, struct watch *w)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_entry *v;
	size_t n, i;

	s->scanned = s->ticked = fm_now(); /* every log is read after a listing */
	s->scan_now = 0;
	if (fm_spool_list(&s->sp, 0, &v, &n, &err) < 0) {
		erase_live(w);
		fm_warn("%s", err.message);
		fm_error_release(&err);
		return -1;
	}
	for (i = 0; i < s->n; i++)
		s->f[i].seen = 0;
	for (i = 0; i < n; i++) {
		struct follow *f = follow_find(s, v[i].name);

		if (!f && s->all &&
		    (v[i].state <= FM_SPOOL_RUNNING || v[i].queued_at >= s->since)) {
			follow_add(s, w, &v[i]);
			f = follow_find(s, v[i].name);
		}
		if (!f)
			continue;
		f->seen = f->dirty = 1;
		if (v[i].state > FM_SPOOL_RUNNING)
			f->over = 1;
	}
	free(v);
	for (i = 0; i < s->n; i++)
		if (!s->f[i].seen)
			follow_end(s, w, &s->f[i], "is no longer in the spool");
	return 0;
}

static int read_dirty(struct spool_watch *s, struct watch *w)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < s->n; i++)
		if (s->f[i].dirty && follow_read(s, w, &s->f[i]) < 0)
			rc = -1;
	return rc;
}

/* Marks the logs that inotify says changed; a log we do not know may be a new task's. */
static void read_inotify(struct spool_watch *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;
	size_t i;

	while ((n = read(s->ino, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			struct follow *f;

			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (i = 0; i < s->n; i++)
					s->f[i].dirty = 1;
				s->scan_now = s->all;
			} else if (ev->len && (f = follow_find(s, ev->name))) {
				f->dirty = 1;
			} else if (ev->len) {
				s->scan_now = s->all;
			}
		}
	}
}

/* --follow -: the ids that came on standard input, one a line. */
static void read_ids(struct spool_watch *s, struct watch *w)
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
		if (*id && follow_id(s, w, id) < 0)
			s->status = FM_EXIT_USAGE;
	}
	if (n <= 0) {
		if (n < 0) {
			erase_live(w);
			fm_warn("cannot read task ids from standard input:");
			s->status = FM_EXIT_FAILED;
		}
		fm_reader_release(&s->ids);
		s->ids.fd = -1;
	}
}

/*
 * Follows until every followed task has ended and no more ids can come
 * (with --all: until a fresh listing finds nothing unfinished). Returns
 * like fm_each_input; an interrupt is left in got_stop.
 */
static int follow_spool(struct spool_watch *s, struct watch *w)
{
	int rc = FM_EXIT_OK;
	size_t i;

	for (;;) {
		struct pollfd p[2];
		nfds_t np = 0;
		double now = fm_now(), until;

		if (s->scan_now || now - s->scanned >= SCAN_EVERY) {
			if (spool_scan(s, w) < 0) {
				rc = FM_EXIT_FAILED;
				break;
			}
		} else if (now - s->ticked >= POLL_EVERY) {
			/* What inotify cannot see: a log written from another host. */
			for (i = 0; i < s->n; i++)
				if (s->ino < 0 || s->f[i].log.fd >= 0)
					s->f[i].dirty = 1;
			s->ticked = now;
		}
		if (read_dirty(s, w) < 0)
			rc = FM_EXIT_FAILED;
		if (s->all && !s->live) {
			if (spool_scan(s, w) < 0 || read_dirty(s, w) < 0)
				rc = FM_EXIT_FAILED;
		}
		if (!s->live && s->ids.fd < 0)
			break;
		if (w->tty && w->dirty && fm_now() - w->last_draw >= REDRAW_GAP)
			draw(w, 1);
		if (s->ino >= 0)
			p[np++] = (struct pollfd){.fd = s->ino, .events = POLLIN};
		if (s->ids.fd >= 0)
			p[np++] = (struct pollfd){.fd = s->ids.fd, .events = POLLIN};
		until = s->scanned + SCAN_EVERY;
		if (s->ticked + POLL_EVERY < until)
			until = s->ticked + POLL_EVERY;
		if (until < fm_now())
			until = fm_now(); /* a negative one would mean no limit */
		if (wait_input(w, p, np, until))
			break;
		for (i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == s->ino)
				read_inotify(s);
			else
				read_ids(s, w);
		}
	}
	return rc != FM_EXIT_OK ? rc : s->status;
}

static void spool_open(struct fm_spool *sp)
{
	struct fm_error err = FM_ERROR_INIT;

	if (fm_spool_open(sp, NULL, &err) < 0)
		fm_die(FM_EXIT_USAGE, "%s", err.message);
	sp->warn = fm_warn_hook;
}

/* Sets up following: the spool, inotify, and the ids of the command line. */
static void follow_start(struct spool_watch *s, struct watch *w, char **ids, size_t nids, int all)
{
	char *dir;
	size_t i;

	spool_open(&s->sp);
	s->all = all;
	s->since = fm_epoch();
	s->scanned = s->ticked = -1e9;
	fm_reader_init(&s->ids, -1, FM_LINE_MAX);
	s->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	dir = fm_spool_path(&s->sp, FM_SPOOL_LOG, NULL);
	if (s->ino >= 0 &&
	    inotify_add_watch(s->ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		close(s->ino);
		s->ino = -1;
	}
	free(dir);
	for (i = 0; i < nids; i++) {
		if (!strcmp(ids[i], "-"))
			s->ids.fd = 0;
		else if (follow_id(s, w, ids[i]) < 0)
			exit(FM_EXIT_USAGE);
	}
}

static void follow_release(struct spool_watch *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->f[i].log.fd >= 0)
			close(s->f[i].log.fd);
		fm_reader_release(&s->f[i].log);
	}
	free(s->f);
	fm_reader_release(&s->ids);
	if (s->ino >= 0)
		close(s->ino);
	fm_spool_release(&s->sp);
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

/* The tool of an entry, "?" when its file cannot be read. */
static char *entry_tool(struct fm_spool *sp, const struct fm_spool_entry *e)
{
	struct fm_spool_entry moved = {0};
	json_object *task = NULL;
	char buf[FM_ID_MAX + 1];
	const char *tool;
	char *s;

	if (fm_spool_task(sp, e, &task, NULL) < 0 &&
	    fm_spool_find(sp, FM_SPOOL_ID(e->name), &moved, NULL) == 0)
		fm_spool_task(sp, &moved, &task, NULL);
	tool = fm_json_get_string(task, "tool_name");
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

/* --list: one line per task in queue order, the columns aligned. */
static int list_spool(int only)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_entry *v;
	struct fm_spool sp;
	struct row *r;
	size_t n, i, k = 0;
	int sw = 0, aw = 0, iw = 0, tw = 0;
	char code[sizeof(v->code)];
	double now;

	spool_open(&sp);
	if (fm_spool_list(&sp, 1, &v, &n, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fm_spool_release(&sp);
		return FM_EXIT_FAILED;
	}
	now = fm_epoch();
	r = fm_xcalloc(n + 1, sizeof(*r));
	for (i = 0; i < n; i++) {
		const struct fm_spool_entry *e = &v[i];

		if (only >= 0 && e->state != (enum fm_spool_state)only)
			continue;
		r[k].state = fm_spool_state_name(e->state);
		r[k].id = FM_SPOOL_ID(e->name);
		age(now - (e->state == FM_SPOOL_QUEUED ? e->queued_at : e->changed_at), r[k].age);
		r[k].tool = entry_tool(&sp, e);
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
			printf("%-*s  %*s  %-*s  %-*s  %s\n", sw, r[i].state, aw, r[i].age, iw,
			       r[i].id, tw, r[i].tool, r[i].code);
		else
			printf("%-*s  %*s  %-*s  %s\n", sw, r[i].state, aw, r[i].age, iw, r[i].id,
			       r[i].tool);
		free(r[i].tool);
		free(r[i].code);
	}
	free(r);
	free(v);
	fm_spool_release(&sp);
	return fm_close_stdout() < 0 ? FM_EXIT_FAILED : FM_EXIT_OK;
}

/* --status: the status object; the exit status tells the state. */
static int status_spool(const char *id)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	json_object *st;
	const char *state;
	int rc;

	spool_open(&sp);
	if (fm_spool_status(&sp, id, &st, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fm_spool_release(&sp);
		return FM_EXIT_USAGE;
	}
	puts(json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	state = fm_json_get_string(st, "state");
	rc = !strcmp(state, "done")				     ? FM_EXIT_OK
	     : !strcmp(state, "queued") || !strcmp(state, "running") ? FM_EXIT_UNFINISHED
								     : FM_EXIT_FAILED;
	json_object_put(st);
	fm_spool_release(&sp);
	return fm_close_stdout() < 0 ? FM_EXIT_FAILED : rc;
}

/* --- the verdict -------------------------------------------------------- */

static int exit_status(const struct watch *w)
{
	if (w->interrupted)
		return FM_EXIT_INTERRUPTED;
	if (w->count[FAILED] || w->count[CANCELLED])
		return FM_EXIT_FAILED;
	return w->count[PENDING] + w->count[RUNNING] ? FM_EXIT_UNFINISHED : FM_EXIT_OK;
}

static void summary(struct watch *w, double wall)
{
	unsigned long unfinished = w->count[PENDING] + w->count[RUNNING], outputs = 0, named = 0;
	unsigned long failures = 0;
	char msg[MESSAGE_MAX + 1], path[OUTPUTS_MAX];
	const char *prog = fm_prog();
	size_t i;

	for (i = 0; i < w->n; i++) {
		const struct task *t = &w->t[i];
		const char *o;

		for (o = t->outputs; o && *o; o += strlen(o) + 1, outputs++) {
			if (outputs < LIST_MAX)
				fprintf(stderr, "%s: output %s\n", prog,
					clean(path, sizeof(path), o));
		}
	}
	if (outputs > LIST_MAX)
		fprintf(stderr, "%s: and %lu more outputs\n", prog, outputs - LIST_MAX);
	for (i = 0; i < w->n; i++) {
		const struct task *t = &w->t[i];

		if (t->state != FAILED && t->state != CANCELLED)
			continue;
		if (failures++ < FAILURES_MAX)
			fprintf(stderr, "%s: %s%s%s %s: %s: %s\n", prog, sgr(w, RED),
				t->state == FAILED ? "failed" : "cancelled", sgr(w, RESET), t->id,
				t->code, clean(msg, sizeof(msg), t->message));
	}
	if (failures > FAILURES_MAX)
		fprintf(stderr, "%s: and %lu more failures\n", prog, failures - FAILURES_MAX);
	for (i = 0; i < w->n; i++) {
		if (w->t[i].state > RUNNING)
			continue;
		if (named++ < LIST_MAX)
			fprintf(stderr, "%s: task '%s' did not finish: %s\n", prog, w->t[i].id,
				w->interrupted ? "interrupted" : "the stream ended first");
	}
	if (named > LIST_MAX)
		fprintf(stderr, "%s: and %lu more tasks did not finish\n", prog, named - LIST_MAX);
	fprintf(stderr, "%s: %zu task%s: %lu completed, %lu failed, %lu cancelled", prog, w->n,
		w->n == 1 ? "" : "s", w->count[COMPLETED], w->count[FAILED], w->count[CANCELLED]);
	if (unfinished)
		fprintf(stderr, ", %lu unfinished", unfinished);
	fprintf(stderr, "; %lu cached; wall time %.1fs\n", w->cached, wall);
}

static int write_atomic(const char *path, const char *data, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;

	if (fm_write_file(path, data, len, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		return -1;
	}
	return 0;
}

static int write_summary_json(struct watch *w, double wall, int status)
{
	json_object *o = json_object_new_object(), *outputs = json_object_new_array();
	json_object *failures = json_object_new_array(), *unfinished = json_object_new_array();
	const char *text;
	char num[32];
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++) {
		const struct task *t = &w->t[i];
		const char *p;

		for (p = t->outputs; p && *p; p += strlen(p) + 1)
			json_object_array_add(outputs, json_object_new_string(p));
		if (t->state == FAILED || t->state == CANCELLED) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "task_id", json_object_new_string(t->id));
			json_object_object_add(
			    f, "status",
			    json_object_new_string(t->state == FAILED ? "failed" : "cancelled"));
			json_object_object_add(f, "code", json_object_new_string(t->code));
			json_object_object_add(f, "message", json_object_new_string(t->message));
			json_object_array_add(failures, f);
		}
		if (t->state <= RUNNING)
			json_object_array_add(unfinished, json_object_new_string(t->id));
	}
	json_object_object_add(o, "tasks", json_object_new_int64((int64_t)w->n));
	json_object_object_add(o, "completed", json_object_new_int64(w->count[COMPLETED]));
	json_object_object_add(o, "failed", json_object_new_int64(w->count[FAILED]));
	json_object_object_add(o, "cancelled", json_object_new_int64(w->count[CANCELLED]));
	json_object_object_add(o, "cached", json_object_new_int64(w->cached));
	json_object_object_add(o, "unfinished",
			       json_object_new_int64(w->count[PENDING] + w->count[RUNNING]));
	snprintf(num, sizeof(num), "%.3f", wall);
	json_object_object_add(o, "wall_time", fm_json_new_number(wall, num));
	json_object_object_add(o, "outputs", outputs);
	json_object_object_add(o, "failures", failures);
	json_object_object_add(o, "unfinished_tasks", unfinished);
	json_object_object_add(o, "exit_status", json_object_new_int(status));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	{
		char *line = fm_xasprintf("%s\n", text);

		rc = write_atomic(w->summary_json, line, strlen(line));
		free(line);
	}
	json_object_put(o);
	return rc;
}

/* s escaped for XML text and attributes; other control characters dropped. */
static void xml_add(struct fm_buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			fm_buf_addstr(b, "&amp;");
		else if (c == '<')
			fm_buf_addstr(b, "&lt;");
		else if (c == '>')
			fm_buf_addstr(b, "&gt;");
		else if (c == '"')
			fm_buf_addstr(b, "&quot;");
		else if (c == '\'')
			fm_buf_addstr(b, "&apos;");
		else if (c == '\n' || c == '\r' || c == '\t')
			fm_buf_addf(b, "&#%d;", c);
		else if (c >= 0x20)
			fm_buf_add(b, s, 1);
	}
}

static void junit_case(struct fm_buf *b, const struct task *t, double now)
{
	fm_buf_addstr(b, "  <testcase name=\"");
	xml_add(b, t->id);
	fm_buf_addstr(b, "\" classname=\"filmeto");
	if (t->tool) {
		fm_buf_addstr(b, ".");
		xml_add(b, t->tool);
	}
	fm_buf_addf(b, "\" time=\"%.3f\"", task_time(t, now));
	if (t->state == COMPLETED) {
		fm_buf_addstr(b, "/>\n");
		return;
	}
	fm_buf_addstr(b, ">\n");
	if (t->state == FAILED || t->state == CANCELLED) {
		fm_buf_addstr(b, t->state == FAILED ? "    <failure message=\""
						    : "    <skipped message=\"");
		xml_add(b, t->code);
		fm_buf_addstr(b, ": ");
		xml_add(b, t->message);
		if (t->state == FAILED) {
			fm_buf_addstr(b, "\" type=\"");
			xml_add(b, t->code);
			fm_buf_addstr(b, "\">");
			xml_add(b, t->message);
			fm_buf_addstr(b, "</failure>\n");
		} else {
			fm_buf_addstr(b, "\"/>\n");
		}
	} else {
		fm_buf_addstr(b, "    <error message=\"unfinished: the stream ended first\" "
				 "type=\"UNFINISHED\"/>\n");
	}
	fm_buf_addstr(b, "  </testcase>\n");
}

static int write_junit(struct watch *w, double wall)
{
	struct fm_buf b = FM_BUF_INIT;
	double now = fm_now();
	char ts[32];
	size_t i;
	int rc;

	fm_timestamp(ts);
	ts[19] = '\0';
	fm_buf_addstr(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fm_buf_addf(&b,
		    "<testsuite name=\"filmeto\" tests=\"%zu\" failures=\"%lu\" errors=\"%lu\" "
		    "skipped=\"%lu\" time=\"%.3f\" timestamp=\"%s\">\n",
		    w->n, w->count[FAILED], w->count[PENDING] + w->count[RUNNING],
		    w->count[CANCELLED], wall, ts);
	for (i = 0; i < w->n; i++)
		junit_case(&b, &w->t[i], now);
	fm_buf_addstr(&b, "</testsuite>\n");
	rc = write_atomic(w->junit, fm_buf_str(&b), b.len);
	fm_buf_release(&b);
	return rc;
}

/* --- main --------------------------------------------------------------- */

static void release(struct watch *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		struct task *t = &w->t[i];

		free(t->id);
		free(t->tool);
		free(t->plugin);
		free(t->outputs);
		free(t->code);
		free(t->message);
		free(t->note);
	}
	free(w->t);
	free(w->slot);
	fm_buf_release(&w->frame);
	fm_buf_release(&w->pending);
	fm_writer_release(&w->out);
}

static int want_color(const char *when)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

	if (!strcmp(when, "always"))
		return 1;
	if (!strcmp(when, "never"))
		return 0;
	if (strcmp(when, "auto")) {
		fm_warn("invalid argument '%s' for '--color': use auto, always or never", when);
		fm_try_help();
	}
	return isatty(2) && !(no && *no) && !(term && !strcmp(term, "dumb"));
}

static void setup_signals(struct watch *w)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, &w->waitmask);
	sigdelset(&w->waitmask, SIGINT);
	sigdelset(&w->waitmask, SIGTERM);
	sigdelset(&w->waitmask, SIGWINCH);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Past ulimit -f a write fails (EFBIG) and is reported, not fatal. */
	signal(SIGXFSZ, SIG_IGN);
	if (w->tty) {
		sigaction(SIGWINCH, &sa, NULL);
		/* A closed pipe downstream must not leave the cursor hidden. */
		signal(SIGPIPE, SIG_IGN);
	}
}

static int parse_state(const char *s)
{
	int i;

	for (i = 0; i < FM_SPOOL_NSTATES; i++)
		if (!strcmp(s, fm_spool_state_name((enum fm_spool_state)i)))
			return i;
	fm_warn("invalid argument '%s' for '--state': use queued, running, done, failed or "
		"cancelled",
		s);
	fm_try_help();
}

/* The spool modes exclude each other and FILE operands. */
static void check_modes(int nfollow, int all, int list, int nstatus, int only, int files,
			const struct watch *w)
{
	const char *mode = nfollow ? "--follow" : all ? "--all" : list ? "--list" : "--status";

	if ((nfollow > 0) + all + list + nstatus > 1) {
		fm_warn("only one of --follow, --all, --list and --status may be given");
		fm_try_help();
	}
	if (nfollow + all + list + nstatus && files) {
		fm_warn("%s takes no FILE operands", mode);
		fm_try_help();
	}
	if (only >= 0 && !list) {
		fm_warn("--state goes with --list");
		fm_try_help();
	}
	if ((list || nstatus) && (w->summary_json || w->junit)) {
		fm_warn("%s writes no summary: --summary-json and --junit go with the events",
			mode);
		fm_try_help();
	}
}

int main(int argc, char **argv)
{
	struct watch w = {0};
	struct spool_watch sw = {0};
	const char *color = "auto", *status_id = NULL;
	char **follow = fm_xcalloc((size_t)argc + 1, sizeof(*follow));
	int c, status, nfollow = 0, all = 0, list = 0, nstatus = 0, only = -1;
	double wall;

	fm_msg_init(argv[0]);
	/* A plugin running beside us in the pipeline must find no key of ours in /proc. */
	fm_secrets_hide();
	while ((c = getopt_long(argc, argv, "f:hqv", options, NULL)) != -1) {
		switch (c) {
		case 'f': follow[nfollow++] = optarg; break;
		case OPT_ALL: all = 1; break;
		case OPT_LIST: list = 1; break;
		case OPT_STATE: only = parse_state(optarg); break;
		case OPT_STATUS:
			status_id = optarg;
			nstatus++;
			break;
		case 'q': w.quiet = 1; break;
		case 'v': w.verbose = 1; break;
		case OPT_COLOR: color = optarg; break;
		case OPT_SUMMARY_JSON: w.summary_json = optarg; break;
		case OPT_JUNIT: w.junit = optarg; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version();
		default: fm_try_help();
		}
	}
	check_modes(nfollow, all, list, nstatus, only, optind < argc, &w);
	if (list || status_id) {
		free(follow);
		return list ? list_spool(only) : status_spool(status_id);
	}
	w.color = want_color(color);
	w.tty = !w.quiet && isatty(2);
	w.start = fm_now();
	w.passthrough = !isatty(1);
	fm_writer_init(&w.out, 1);
	if (w.tty)
		term_size(&w);
	setup_signals(&w);
	if (nfollow || all) {
		w.replay = 1;
		follow_start(&sw, &w, follow, (size_t)nfollow, all);
		status = follow_spool(&sw, &w);
		follow_release(&sw);
	} else {
		status = fm_each_input(argv + optind, argc - optind, watch_fd, &w);
	}
	free(follow);
	w.interrupted = got_stop != 0;
	if (w.passthrough) {
		fm_writer_flush(&w.out);
		check_copy(&w);
	}
	if (w.tty)
		draw(&w, 0);
	wall = fm_now() - w.start;
	summary(&w, wall);
	if (status == FM_EXIT_OK || w.interrupted)
		status = exit_status(&w);
	if (w.copy_lost && !status)
		status = FM_EXIT_FAILED;
	if (w.summary_json && write_summary_json(&w, wall, status) < 0 && !status)
		status = FM_EXIT_FAILED;
	if (w.junit && write_junit(&w, wall) < 0 && !status)
		status = FM_EXIT_FAILED;
	release(&w);
	return status;
}
