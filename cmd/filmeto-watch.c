/*
 * filmeto-watch: reads event lines and shows what happens to each task:
 * live bars on a terminal, one plain line per state change elsewhere. It
 * copies the stream to stdout when stdout is not a terminal, ends with a
 * summary (also as JSON and JUnit XML on request) and a verdict in its
 * exit status. The tally of the events (lib/tally.c) keeps each task's
 * state and writes the summaries; this file draws.
 *
 * Input is read with ppoll(2) so the terminal is redrawn on a timer while
 * the input is idle; SIGINT, SIGTERM and SIGWINCH are blocked except
 * inside ppoll, so they are only ever seen between two lines.
 *
 * With --follow and --all the events come from the spool instead
 * (lib/spool_follow.c): each task's line, then its log as it grows until
 * its final line, all through the same on_line. --list and --status only
 * report.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "filmeto.h"
#include "tally.h"

static const char usage_text[] =
    "usage: filmeto-watch [-qv] [--allow-empty] [--color=WHEN] [--summary-json FILE]\n"
    "                     [--junit FILE] [FILE ... | -f ID ... | --all]\n"
    "       filmeto-watch --list [--state STATE] [--json]\n"
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
    "      --json               with --list: one JSON array of the tasks\n"
    "      --status ID          print the status of a task in the spool as JSON\n"
    "  -q, --quiet              print only failures and the summary\n"
    "  -v, --verbose            also print progress, at most every 5s per task\n"
    "      --allow-empty        a stream that names no task is no failure\n"
    "      --color=WHEN         auto (default), always or never\n"
    "      --summary-json FILE  write the summary as one JSON object to FILE\n"
    "      --junit FILE         write JUnit XML, one testcase per task, to FILE\n"
    "  -h, --help               show this help\n"
    "      --version            show the version\n"
    "\n"
    "Exit status: 0 every task completed, 1 a task failed or was cancelled\n"
    "(or output could not be written), 2 usage error, 3 the stream ended with\n"
    "tasks unfinished, 4 the stream named no task (see --allow-empty),\n"
    "130 interrupted;\n"
    "with --status: 0 done, 1 failed or cancelled, 3 queued or running.\n";

enum {
	OPT_VERSION = 256,
	OPT_COLOR,
	OPT_SUMMARY_JSON,
	OPT_JUNIT,
	OPT_ALL,
	OPT_LIST,
	OPT_STATE,
	OPT_STATUS,
	OPT_ALLOW_EMPTY,
	OPT_JSON
};

static const struct option options[] = {
    {"follow", required_argument, NULL, 'f'},
    {"all", no_argument, NULL, OPT_ALL},
    {"list", no_argument, NULL, OPT_LIST},
    {"state", required_argument, NULL, OPT_STATE},
    {"status", required_argument, NULL, OPT_STATUS},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY},
    {"json", no_argument, NULL, OPT_JSON},
    {"color", required_argument, NULL, OPT_COLOR},
    {"summary-json", required_argument, NULL, OPT_SUMMARY_JSON},
    {"junit", required_argument, NULL, OPT_JUNIT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Limits, all documented in filmeto-watch(1); the tally's are in tally.h. */
#define REDRAW_GAP     0.1	   /* seconds between two terminal frames, at least */
#define TICK	       1.0	   /* redraw this often while tasks run, for the clocks */
#define PROGRESS_EVERY 5.0	   /* -v: seconds between two progress lines of a task */
#define PENDING_MAX    (64 * 1024) /* scrolled lines buffered before a frame */
#define BAR_WIDTH      20	   /* a task's bar, at most; the overall bar is 10 wider */
#define BAR_MIN	       6	   /* a task's bar, at least, however narrow the terminal */
#define ALL_BAR_MIN    10	   /* the overall bar, at least */
#define ID_WIDTH_MAX   32	   /* columns of the ids, at most, and a third of the line */
#define TOOL_MIN       6	   /* "tool/plugin" in fewer columns is left out */
#define NOTE_MIN       8	   /* columns kept for a task's note before its bar grows */

struct watch {
	struct fm_tally ta;
	struct fm_writer out;
	int passthrough, quiet, verbose, tty, color;
	int copy_lost; /* the copy to stdout failed (not by EPIPE): not success */
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

/* Colours, with --color. */
#define GREEN "\033[32m"
#define RED   "\033[31m"
#define CYAN  "\033[36m"
#define DIM   "\033[2m"
#define BOLD  "\033[1m"
#define RESET "\033[0m"

static const struct fm_tally_colors colors = {GREEN, RED, RESET};

/* --- the terminal ------------------------------------------------------- */

/*
 * A line no wider than max columns; escapes take no room. Text that does
 * not fit is cut with an ellipsis in the line's last column; mark is where
 * the text that leaves room for it ends, should the next piece not fit.
 */
struct line {
	struct fm_buf *b;
	int cols, max, color, full;
	size_t mark;
	int mark_cols;
};

/* s, in at most cols columns (whole, else cut as how says), on to l. */
static void lfit(struct line *l, const char *s, int cols, enum fm_term_cut how)
{
	size_t n = strlen(s), size = 3 * n + 4, start = l->b->len;
	char small[1024], *buf = size <= sizeof(small) ? small : fm_xmalloc(size);
	int room = l->max - l->cols, w = fm_term_width(s), by_room = cols >= room;

	cols = cols < room ? cols : room;
	if (l->full || !w || (cols < 1 && room >= 1)) {
		/* nothing to show */
	} else if (room < 1) {
		/* No room left: the ellipsis takes the last column of what came before. */
		l->b->len = l->mark;
		l->cols = l->mark_cols;
		fm_buf_addstr(l->b, FM_TERM_ELLIPSIS);
		l->cols++;
		l->full = 1;
	} else if (w <= cols) {
		fm_term_fit(buf, size, s, n, INT_MAX, FM_TERM_CLIP);
		fm_buf_addstr(l->b, buf);
		if (l->cols + w < l->max) {
			l->mark = l->b->len;
			l->mark_cols = l->cols + w;
		} else {
			l->mark_cols = l->cols + fm_term_fit(buf, size, s, n, l->max - 1 - l->cols,
							     FM_TERM_CLIP);
			l->mark = start + strlen(buf);
		}
		l->cols += w;
	} else if (cols >= 1) {
		l->cols += fm_term_fit(buf, size, s, n, cols, how);
		fm_buf_addstr(l->b, buf);
		/* Cut to the line: it is full, unless a path cut from the left leaves room. */
		l->full = by_room && (how != FM_TERM_PATH || l->cols >= l->max);
		l->mark = l->b->len;
		l->mark_cols = l->cols;
	}
	if (buf != small)
		free(buf);
}

static void lput(struct line *l, const char *s)
{
	lfit(l, s, INT_MAX, FM_TERM_END);
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

/* s in exactly cols columns: cut with an ellipsis, or padded with spaces. */
static void lcolumn(struct line *l, const char *s, int cols)
{
	int at = l->cols;

	lfit(l, s, cols, FM_TERM_END);
	while (!l->full && l->cols - at < cols)
		lput(l, " ");
}

static void lsgr(struct line *l, const char *code)
{
	if (l->color && !l->full)
		fm_buf_addstr(l->b, code);
}

static void lend(struct line *l)
{
	if (l->color)
		fm_buf_addstr(l->b, RESET);
	fm_buf_addstr(l->b, "\033[K\n");
}

static struct line line_start(struct watch *w, struct fm_buf *b)
{
	struct line l = {b, 0, w->cols - 1, w->color, 0, b->len, 0};

	return l;
}

/* A bar of width cells, frac of them full (rounded down: full only at the end). */
static void lbar(struct line *l, double frac, int width)
{
	int i, full = (int)(frac * width);

	full = full > width ? width : full < 0 ? 0 : full;
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

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
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

/*
 * The overall bar: each task weighs 1 + the resources and dependencies it
 * names, one a plan announced and not seen yet 1. The bar shrinks, down
 * to ALL_BAR_MIN, so that the counts after it fit.
 */
static void overall_line(struct watch *w, double now)
{
	struct line l = line_start(w, &w->frame);
	const unsigned long *count = w->ta.count;
	unsigned long failed = count[FM_TALLY_FAILED] + count[FM_TALLY_CANCELLED];
	struct fm_tally_progress p;
	char head[96], running[48], fails[48], d[32], tail[40];

	fm_tally_progress(&w->ta, &p);
	snprintf(head, sizeof(head), " %3d%%  %lu/%lu done", p.percent, p.ended, p.total);
	snprintf(running, sizeof(running), ", %lu running", count[FM_TALLY_RUNNING]);
	snprintf(fails, sizeof(fails), "%lu failed", failed);
	snprintf(tail, sizeof(tail), "  %s", dur(now - w->start, d));
	lsgr(&l, BOLD);
	lput(&l, "all ");
	lsgr(&l, RESET);
	lbar(&l, p.fraction,
	     clamp(l.max - 6 - fm_term_width(head) -
		       (count[FM_TALLY_RUNNING] ? fm_term_width(running) : 0) -
		       (failed ? 2 + fm_term_width(fails) : 0) - fm_term_width(tail),
		   ALL_BAR_MIN, BAR_WIDTH + 10));
	lput(&l, head);
	if (count[FM_TALLY_RUNNING])
		lput(&l, running);
	if (failed) {
		lput(&l, ", ");
		lsgr(&l, RED);
		lput(&l, fails);
		lsgr(&l, RESET);
	}
	lput(&l, tail);
	lend(&l);
}

/*
 * A running task: its id in a column idw wide, "tool/plugin", its bar,
 * the numbers, its note. What must be seen comes first: the id, the
 * numbers and a bar of BAR_MIN; then "tool/plugin" and room for a note;
 * then the bar grows to BAR_WIDTH; the note has the rest.
 */
static void task_line(struct watch *w, const struct fm_tally_task *t, int idw, double now)
{
	struct line l = line_start(w, &w->frame);
	double el = now - t->started;
	char d[32], e[32], nums[128], tool[2 * FM_ID_MAX + 2];
	int n, room, toolw, note = t->note && t->note[0] ? NOTE_MIN : 0;

	n = snprintf(nums, sizeof(nums), " %3d%% %s", (int)t->percent, dur(el, d));
	if (t->percent > 0 && t->percent < 100)
		n += snprintf(nums + n, sizeof(nums) - (size_t)n, " eta %s",
			      dur(el * (100 - t->percent) / t->percent, e));
	if (t->attempt > 1)
		snprintf(nums + n, sizeof(nums) - (size_t)n, " (attempt %u)", t->attempt);
	snprintf(tool, sizeof(tool), "%s/%s", t->tool ? t->tool : "?", t->plugin ? t->plugin : "?");
	room = l.max - (3 + idw) - (BAR_MIN + 2) - fm_term_width(nums);
	toolw = fm_term_width(tool) + 1;
	if (toolw > room - note)
		toolw = room - note >= TOOL_MIN ? room - note : 0;
	room -= toolw;
	lput(&l, "  ");
	lcolumn(&l, t->id, idw);
	lput(&l, " ");
	if (toolw) {
		lsgr(&l, CYAN);
		lfit(&l, tool, toolw - 1, FM_TERM_END);
		lsgr(&l, RESET);
		lput(&l, " ");
	}
	lbar(&l, t->percent / 100.0, BAR_MIN + clamp(room - note, 0, BAR_WIDTH - BAR_MIN));
	lput(&l, nums);
	/* A note with no room for a few of its characters would only cut the numbers. */
	if (note && l.max - l.cols >= 5) {
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
	unsigned long running = w->ta.count[FM_TALLY_RUNNING];
	int room = w->rows - 2, shown = 0, idw = 0;
	const struct fm_tally_task *t;
	size_t i = 0;

	if (w->rows < 2) {
		w->drawn = 0;
		return;
	}
	overall_line(w, now);
	if ((unsigned long)room < running)
		room--;
	while (shown < room && (t = fm_tally_next(&w->ta, &i))) {
		int n = (int)strlen(t->id);

		if (t->state == FM_TALLY_RUNNING) {
			idw = n > idw ? n : idw;
			shown++;
		}
	}
	idw = clamp(idw, 0, ID_WIDTH_MAX);
	idw = clamp(idw, 0, (w->cols - 1) / 3);
	shown = 0;
	i = 0;
	while (shown < room && (t = fm_tally_next(&w->ta, &i))) {
		if (t->state == FM_TALLY_RUNNING) {
			task_line(w, t, idw, now);
			shown++;
		}
	}
	if ((unsigned long)shown < running && room >= 0) {
		struct line l = line_start(w, &w->frame);

		lprintf(&l, "  ... and %lu more running", running - (unsigned long)shown);
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

/* A frame when something changed and the last one is old enough. */
static void draw_due(struct watch *w)
{
	if (w->tty && w->dirty && fm_now() - w->last_draw >= REDRAW_GAP)
		draw(w, 1);
}

static struct line scroll_start(struct watch *w)
{
	if (w->pending.len > PENDING_MAX)
		draw(w, 1);
	w->dirty = 1;
	return line_start(w, &w->pending);
}

/* --- events ------------------------------------------------------------- */

/* On a terminal a start scrolls up only when it is a retry. */
static void say_started(struct watch *w, const struct fm_tally_task *t)
{
	struct line l;

	if (t->attempt <= 1)
		return;
	l = scroll_start(w);
	lsgr(&l, BOLD);
	lput(&l, "\xe2\x86\xbb "); /* clockwise arrow */
	lsgr(&l, RESET);
	lfit(&l, t->id, l.max / 2, FM_TERM_END);
	lprintf(&l, " retry, attempt %u", t->attempt);
	lend(&l);
}

static void say_final(struct watch *w, const struct fm_tally_task *t)
{
	struct line l = scroll_start(w);

	lsgr(&l, t->state == FM_TALLY_COMPLETED ? GREEN : RED);
	lput(&l, t->state == FM_TALLY_COMPLETED ? "\xe2\x9c\x93 " : "\xe2\x9c\x97 "); /* ✓ ✗ */
	lsgr(&l, RESET);
	/* The id takes half the line at most, so that what it made shows too. */
	lfit(&l, t->id, l.max / 2, FM_TERM_END);
	lprintf(&l, " %.1fs ", fm_tally_task_time(t, fm_now()));
	if (t->state == FM_TALLY_COMPLETED) {
		/* Its first output, the name kept whole when the start must go. */
		lfit(&l, t->outputs ? t->outputs : "", t->cached ? l.max - l.cols - 9 : INT_MAX,
		     FM_TERM_PATH);
		if (t->cached)
			lput(&l, " (cached)");
	} else {
		if (t->state == FM_TALLY_CANCELLED)
			lput(&l, "cancelled ");
		lsgr(&l, RED);
		lprintf(&l, "%s: %s", t->code, t->message);
	}
	lend(&l);
}

/*
 * What a line did is drawn on a terminal, else said in a plain line;
 * -q says only failures (the tally hands back progress only with -v).
 */
static void on_line(struct watch *w, const char *line, size_t len)
{
	struct fm_tally_event ev;
	enum fm_tally_what what = fm_tally_line(&w->ta, line, len, &ev);
	struct fm_buf b = FM_BUF_INIT;

	if (what == FM_TALLY_STARTED && w->tty)
		say_started(w, ev.task);
	else if (what == FM_TALLY_ENDED && w->tty)
		say_final(w, ev.task);
	else if (what != FM_TALLY_NOTHING &&
		 (!w->quiet || (what == FM_TALLY_ENDED && ev.task->state != FM_TALLY_COMPLETED))) {
		fm_tally_say(what, &ev, w->color ? &colors : NULL, &b);
		fputs(fm_buf_str(&b), stderr);
		fm_buf_release(&b);
	}
	if (ev.changed)
		w->dirty = 1;
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

/* A line too long to read is still copied, as the reader drops it piece by piece. */
static void copy_spill(void *ctx, const char *p, size_t n, int first)
{
	struct watch *w = ctx;

	if (!w->passthrough)
		return;
	fm_writer_raw(&w->out, p, n, first);
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
		else if (w->tty && w->ta.count[FM_TALLY_RUNNING])
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
	in.spill = copy_spill;
	in.spill_ctx = w;
	for (;;) {
		while ((got = fm_reader_take(&in, &line, &len)) != FM_LINE_NONE) {
			if (got == FM_LINE_LONG) {
				erase_live(w);
				fm_warn("%s: line %lu is longer than the limit of %d bytes and "
					"was not read%s",
					name, (unsigned long)in.lineno, FM_LINE_MAX,
					w->passthrough ? " (it is copied)" : "");
				continue;
			}
			on_line(w, line, len);
			copy_line(w, &in, line, len);
		}
		if (in.eof)
			break;
		draw_due(w);
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

static void spool_open(struct fm_spool *sp)
{
	struct fm_error err = FM_ERROR_INIT;

	if (fm_spool_open(sp, NULL, &err) < 0)
		fm_die(FM_EXIT_USAGE, "%s", err.message);
	sp->warn = fm_warn_hook;
}

/* What the follower hands back goes where the same lines on standard input go. */
static void on_follow(struct watch *w, struct fm_spool_follow *sf, const struct fm_follow_event *ev)
{
	switch (ev->kind) {
	case FM_FOLLOW_TASK:
		/* The task line, for the tool's name; not copied, it is no event. */
		if (ev->line)
			on_line(w, ev->line, ev->len);
		fm_tally_task(&w->ta, ev->id, strlen(ev->id));
		break;
	case FM_FOLLOW_CLAIMED: fm_tally_claimed(&w->ta, ev->id, ev->attempt); break;
	case FM_FOLLOW_LINE:
		on_line(w, ev->line, ev->len);
		copy_line(w, ev->from, ev->line, ev->len);
		if (fm_tally_task(&w->ta, ev->id, strlen(ev->id))->state >= FM_TALLY_COMPLETED)
			fm_spool_follow_end(sf);
		draw_due(w);
		break;
	case FM_FOLLOW_WARN:
		erase_live(w);
		fm_warn("%s", ev->message);
		break;
	default: break;
	}
}

/*
 * Follows the ids ("-": those on standard input), or with all every
 * unfinished task, until each has ended and no more ids can come. Returns
 * like fm_each_input; an interrupt is left in got_stop.
 */
static int follow_spool(struct watch *w, char **ids, size_t nids, int all)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_follow_event ev;
	struct fm_spool_follow sf;
	struct fm_spool sp;
	size_t i;
	int rc;

	spool_open(&sp);
	fm_spool_follow_init(&sf, &sp, all);
	for (i = 0; i < nids; i++) {
		if (!strcmp(ids[i], "-")) {
			fm_spool_follow_ids(&sf, 0, "standard input");
		} else if (fm_spool_follow_add(&sf, ids[i], &ev, &err) < 0) {
			erase_live(w);
			fm_warn("%s", err.message);
			exit(FM_EXIT_USAGE);
		} else {
			on_follow(w, &sf, &ev);
		}
	}
	for (;;) {
		struct pollfd p[2];
		double until;
		int np;

		fm_spool_follow_next(&sf, &ev);
		if (ev.kind == FM_FOLLOW_DONE)
			break;
		if (ev.kind != FM_FOLLOW_AGAIN) {
			on_follow(w, &sf, &ev);
			continue;
		}
		draw_due(w);
		np = fm_spool_follow_poll(&sf, p, &until);
		if (wait_input(w, p, (nfds_t)np, until))
			break;
		fm_spool_follow_ready(&sf, p, np);
	}
	rc = fm_exit_status(fm_spool_follow_outcome(&sf));
	fm_spool_follow_release(&sf);
	fm_spool_release(&sp);
	return rc;
}

/*
 * --list: one line per task in queue order, the columns aligned; or
 * --status: the status object of id, its state in the exit status.
 */
static int report_spool(int list, int only, int json, const char *id)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_buf b = FM_BUF_INIT;
	struct fm_spool sp;
	json_object *st = NULL;
	int rc = FM_EXIT_OK, failed;

	spool_open(&sp);
	if (list && json)
		failed = fm_spool_list_json(&sp, only, &st, &err) < 0;
	else if (list)
		failed = fm_spool_list_text(&sp, only, &b, &err) < 0;
	else
		failed = fm_spool_status(&sp, id, &st, &err) < 0;
	if (failed) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fm_spool_release(&sp);
		return list ? FM_EXIT_FAILED : FM_EXIT_USAGE;
	}
	if (st) {
		fm_buf_addf(&b, "%s\n",
			    json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	if (st && !list) {
		rc = fm_spool_state_parse(fm_json_get_string(st, "state"));
		rc = rc < 0 ? FM_EXIT_FAILED : fm_exit_status(fm_spool_state_outcome(rc));
	}
	json_object_put(st);
	fputs(fm_buf_str(&b), stdout);
	fm_buf_release(&b);
	fm_spool_release(&sp);
	return fm_close_stdout() < 0 ? FM_EXIT_FAILED : rc;
}

/* --- the verdict -------------------------------------------------------- */

/* --summary-json and --junit: the tally's text b, put in place whole. */
static int write_atomic(const char *path, struct fm_buf *b)
{
	struct fm_error err = FM_ERROR_INIT;
	int rc = 0;

	if (fm_write_file(path, fm_buf_str(b), b->len, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		rc = -1;
	}
	fm_buf_release(b);
	return rc;
}

/* --- main --------------------------------------------------------------- */

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
	int i = fm_spool_state_parse(s);

	if (i >= 0)
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
	struct fm_buf b = FM_BUF_INIT;
	const char *color = "auto", *status_id = NULL;
	char **follow = fm_xcalloc((size_t)argc + 1, sizeof(*follow)), *prefix;
	int c, status, nfollow = 0, all = 0, list = 0, nstatus = 0, only = -1;
	int allow_empty = 0, json = 0;
	enum fm_outcome verdict;
	double wall;

	fm_msg_init(argv[0]);
	/* A plugin running beside us in the pipeline must find no key of ours in /proc. */
	fm_secrets_hide();
	fm_tally_init(&w.ta);
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
		case OPT_ALLOW_EMPTY: allow_empty = 1; break;
		case OPT_JSON: json = 1; break;
		case OPT_COLOR: color = optarg; break;
		case OPT_SUMMARY_JSON: w.summary_json = optarg; break;
		case OPT_JUNIT: w.junit = optarg; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version(fm_revision(), fm_libraries());
		default: fm_try_help();
		}
	}
	check_modes(nfollow, all, list, nstatus, only, optind < argc, &w);
	if (json && !list) {
		fm_warn("--json goes with --list (--status prints JSON already)");
		fm_try_help();
	}
	if (list || status_id) {
		free(follow);
		return report_spool(list, only, json, status_id);
	}
	w.color = want_color(color);
	w.tty = !w.quiet && isatty(2);
	w.start = fm_now();
	w.passthrough = !isatty(1);
	fm_writer_init(&w.out, 1);
	/* What the tally parses: only what is shown. */
	w.ta.notes = w.tty;
	w.ta.brief = w.quiet;
	w.ta.progress_every = w.verbose && !w.quiet ? PROGRESS_EVERY : -1;
	if (w.tty)
		term_size(&w);
	setup_signals(&w);
	if (nfollow || all) {
		w.ta.replay = 1;
		status = follow_spool(&w, follow, (size_t)nfollow, all);
	} else {
		status = fm_each_input(argv + optind, argc - optind, watch_fd, &w);
	}
	free(follow);
	w.ta.interrupted = got_stop != 0;
	if (w.passthrough) {
		fm_writer_flush(&w.out);
		check_copy(&w);
	}
	if (w.tty)
		draw(&w, 0);
	/* The summary fits a terminal, also after -q's plain lines. */
	if (isatty(2)) {
		if (!w.tty)
			term_size(&w);
		w.ta.cols = w.cols;
	}
	wall = fm_now() - w.start;
	prefix = fm_xasprintf("%s: ", fm_prog());
	fm_tally_summary(&w.ta, wall, prefix, w.color ? &colors : NULL, &b);
	fputs(fm_buf_str(&b), stderr);
	fm_buf_release(&b);
	/*
	 * A pipeline whose first command failed gives an empty stream, which
	 * is no success; following the spool, there may be nothing to follow.
	 */
	verdict = fm_tally_verdict(&w.ta);
	if (verdict == FM_OUTCOME_EMPTY && (allow_empty || nfollow || all))
		verdict = FM_OUTCOME_OK;
	else if (verdict == FM_OUTCOME_EMPTY && status == FM_EXIT_OK)
		fm_warn("no tasks in the stream: did the command before it fail? "
			"(--allow-empty accepts an empty stream)");
	if (status == FM_EXIT_OK || w.ta.interrupted)
		status = fm_exit_status(verdict);
	if (w.copy_lost && !status)
		status = FM_EXIT_FAILED;
	if (w.summary_json) {
		fm_tally_summary_json(&w.ta, wall, status, &b);
		if (write_atomic(w.summary_json, &b) < 0 && !status)
			status = FM_EXIT_FAILED;
	}
	if (w.junit) {
		fm_tally_junit(&w.ta, wall, &b);
		if (write_atomic(w.junit, &b) < 0 && !status)
			status = FM_EXIT_FAILED;
	}
	free(prefix);
	fm_tally_release(&w.ta);
	fm_buf_release(&w.frame);
	fm_buf_release(&w.pending);
	fm_writer_release(&w.out);
	return status;
}
