/*
 * The tally of an event stream (tally.h): the task table, each task's
 * state and the counts, moved on by each line; the verdict; and the
 * summary in its three forms. The caller says what it shows (notes,
 * progress) so that lines whose content nobody shows are not parsed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "ndjson.h"
#include "tally.h"
#include "term.h"
#include "util.h"

enum ev { EV_OTHER, EV_PLAN, EV_TASK, EV_STARTED, EV_PROGRESS, EV_HEARTBEAT, EV_LOG, EV_FINAL };

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

static const char *task_key(const void *t)
{
	return ((const struct fm_tally_task *)t)->id;
}

void fm_tally_init(struct fm_tally *ta)
{
	memset(ta, 0, sizeof(*ta));
	ta->progress_every = -1;
	fm_idtab_init(&ta->tasks, task_key);
}

void fm_tally_release(struct fm_tally *ta)
{
	struct fm_tally_task *t;
	size_t i = 0;

	while ((t = fm_idtab_next(&ta->tasks, &i))) {
		free(t->tool);
		free(t->plugin);
		free(t->outputs);
		free(t->code);
		free(t->message);
		free(t->note);
		free(t);
	}
	fm_idtab_release(&ta->tasks);
}

struct fm_tally_task *fm_tally_task(struct fm_tally *ta, const char *id, size_t n)
{
	struct fm_tally_task *t = fm_idtab_get(&ta->tasks, id, n);

	if (t)
		return t;
	t = fm_xcalloc(1, sizeof(*t) + n + 1);
	memcpy(t->id, id, n);
	t->weight = 1;
	t->exec_time = -1;
	fm_idtab_put(&ta->tasks, t);
	ta->count[FM_TALLY_PENDING]++;
	return t;
}

struct fm_tally_task *fm_tally_next(const struct fm_tally *ta, size_t *i)
{
	return fm_idtab_next(&ta->tasks, i);
}

static void set_state(struct fm_tally *ta, struct fm_tally_task *t, enum fm_tally_state s)
{
	ta->count[t->state]--;
	t->state = (unsigned char)s;
	ta->count[s]++;
	ta->changed = 1;
}

static void set_name(char **dst, const char *s)
{
	if (!s || !*s || (*dst && !strcmp(*dst, s)))
		return;
	free(*dst);
	*dst = dup_capped(s, FM_ID_MAX);
}

void fm_tally_progress(const struct fm_tally *ta, struct fm_tally_progress *p)
{
	const struct fm_tally_task *t;
	unsigned long seen = ta->tasks.count;
	double sum = 0, done = 0;
	size_t i = 0;

	while ((t = fm_tally_next(ta, &i))) {
		sum += t->weight;
		if (t->state >= FM_TALLY_COMPLETED)
			done += t->weight;
		else if (t->state == FM_TALLY_RUNNING)
			done += t->weight * t->percent / 100.0;
	}
	p->total = ta->planned > seen ? ta->planned : seen;
	sum += (double)(p->total - seen);
	p->ended = ta->count[FM_TALLY_COMPLETED] + ta->count[FM_TALLY_FAILED] +
		   ta->count[FM_TALLY_CANCELLED];
	p->fraction = sum > 0 ? done / sum : 0;
	p->percent = (int)(100 * p->fraction);
	/* A running task at 100% and rounding up are not the end. */
	if (p->ended < p->total && p->percent > 99)
		p->percent = 99;
	if (p->ended < p->total && p->fraction > 0.999)
		p->fraction = 0.999;
}

double fm_tally_task_time(const struct fm_tally_task *t, double now)
{
	if (t->exec_time >= 0)
		return t->exec_time;
	return t->started > 0 ? now - t->started : 0;
}

/*
 * When an event happened, on fm_now's clock. A live stream's events
 * happen as they come; a log read later says when in its timestamps.
 */
static double event_time(const struct fm_tally *ta, json_object *ev)
{
	const char *ts = fm_json_get_string(ev, "timestamp"), *rest;
	double now = fm_now(), t;
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!ta->replay || !ts || !(rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)))
		return now;
	t = (double)timegm(&tm) + (*rest == '.' ? strtod(rest, NULL) : 0);
	t = now - (fm_epoch() - t);
	return t < now ? t : now;
}

/* --- events ------------------------------------------------------------- */

static enum fm_tally_what on_started(struct fm_tally *ta, struct fm_tally_task *t, json_object *ev)
{
	double attempt = fm_json_get_double(ev, "attempt", 0);

	if (t->state >= FM_TALLY_COMPLETED)
		return FM_TALLY_NOTHING; /* a final state is final: a late started line does not
					    undo it */
	set_name(&t->tool, fm_json_get_string(ev, "tool_name"));
	set_name(&t->plugin, fm_json_get_string(ev, "plugin_name"));
	if (attempt >= 1 && attempt <= 65535)
		t->attempt = (unsigned short)attempt;
	else if (t->attempt < 65535)
		t->attempt++;
	/* A worker's executor counts from 1 again when the spool retakes a task. */
	if (t->attempt < t->claim)
		t->attempt = t->claim;
	if (t->state != FM_TALLY_RUNNING)
		set_state(ta, t, FM_TALLY_RUNNING);
	t->started = event_time(ta, ev);
	t->percent = 0;
	if (t->note)
		t->note[0] = '\0';
	return FM_TALLY_STARTED;
}

/*
 * What a progress line says, read by json-c or by the scan: a text is
 * len bytes at s (NULL when absent), a number given only when it is one.
 */
struct text {
	const char *s;
	size_t len;
};

struct progress {
	int has_percent;
	double percent;
	struct text stage, message, timestamp;
};

static struct text json_text(json_object *o, const char *key)
{
	const char *s = fm_json_get_string(o, key);
	struct text t = {s, s ? strlen(s) : 0};

	return t;
}

static void set_note(struct fm_tally_task *t, struct text stage, struct text message)
{
	if (!stage.s && !message.s)
		return;
	if (!t->note)
		t->note = fm_xmalloc(FM_TALLY_NOTE_MAX);
	snprintf(t->note, FM_TALLY_NOTE_MAX, "%.*s%s%.*s", (int)stage.len, stage.s ? stage.s : "",
		 stage.s && message.s ? ": " : "", (int)message.len, message.s ? message.s : "");
}

/*
 * Whether a progress line's content is read at all: only when it is shown,
 * as notes on a terminal or as lines of -v. Otherwise a task's percent is
 * left as it was, whichever way the line was read.
 */
static int progress_shown(const struct fm_tally *ta)
{
	return ta->notes || ta->progress_every >= 0;
}

/* A progress or heartbeat line; pr is NULL when it is a heartbeat or its content is not shown. */
static enum fm_tally_what on_progress(struct fm_tally *ta, struct fm_tally_task *t,
				      const struct progress *pr)
{
	double now, p;

	if (t->state >= FM_TALLY_COMPLETED)
		return FM_TALLY_NOTHING;
	if (t->state == FM_TALLY_PENDING) {
		set_state(ta, t, FM_TALLY_RUNNING);
		t->started = fm_now();
	}
	if (!pr)
		return FM_TALLY_NOTHING;
	p = pr->has_percent ? pr->percent : t->percent;
	t->percent = (float)(p < 0 ? 0 : p > 100 ? 100 : p);
	ta->changed = 1;
	if (ta->notes) {
		set_note(t, pr->stage, pr->message);
		return FM_TALLY_NOTHING;
	}
	now = fm_now();
	if (ta->progress_every < 0 || now - t->said < ta->progress_every)
		return FM_TALLY_NOTHING;
	t->said = now;
	set_note(t, pr->stage, pr->message);
	return FM_TALLY_PROGRESS;
}

/* Keeps the output paths of a result, up to FM_TALLY_OUTPUTS_MAX bytes. */
static void keep_outputs(struct fm_tally_task *t, json_object *files)
{
	size_t i, n = files ? json_object_array_length(files) : 0, len = 0;
	struct fm_buf b = FM_BUF_INIT;

	for (i = 0; i < n; i++) {
		json_object *f = json_object_array_get_idx(files, i);
		const char *s =
		    json_object_is_type(f, json_type_string) ? json_object_get_string(f) : NULL;

		if (!s || !*s || len + strlen(s) + 2 > FM_TALLY_OUTPUTS_MAX)
			continue;
		fm_buf_add(&b, s, strlen(s) + 1);
		len = b.len;
	}
	if (b.len) {
		fm_buf_add(&b, "", 1);
		t->outputs = fm_buf_detach(&b, NULL);
	}
}

static enum fm_tally_what on_final(struct fm_tally *ta, struct fm_tally_task *t, json_object *ev,
				   const char *type)
{
	json_object *err = fm_json_get(ev, "error", json_type_object);
	json_object *meta = fm_json_get(ev, "metadata", json_type_object);
	json_object *cached = NULL;
	const char *code = fm_json_get_string(err, "code");
	const char *message = fm_json_get_string(err, "message");
	double attempts = fm_json_get_double(ev, "attempts", 0);
	enum fm_tally_state s = !strcmp(type, "completed") ? FM_TALLY_COMPLETED
				: !strcmp(type, "failed")  ? FM_TALLY_FAILED
							   : FM_TALLY_CANCELLED;

	if (t->state >= FM_TALLY_COMPLETED)
		return FM_TALLY_NOTHING; /* each task ends once; a repeated end line changes nothing
					  */
	t->exec_time = fm_json_get_double(ev, "execution_time", -1);
	if (t->exec_time < 0 && t->started > 0)
		t->exec_time = event_time(ta, ev) - t->started;
	if (t->exec_time < 0)
		t->exec_time = 0;
	if (attempts >= 1 && attempts <= 65535)
		t->attempts = (unsigned short)attempts;
	if (t->attempts < t->claim)
		t->attempts = t->claim;
	if (s == FM_TALLY_COMPLETED) {
		keep_outputs(t, fm_json_get(ev, "output_files", json_type_array));
		if (json_object_object_get_ex(meta, "cached", &cached) &&
		    json_object_get_boolean(cached)) {
			t->cached = 1;
			ta->cached++;
		}
	} else {
		char safe[3 * FM_ID_MAX + 1];

		/* Printed as it is in every line: made safe for a terminal once. */
		clean(safe, sizeof(safe), code ? code : "");
		t->code = dup_capped(code		       ? safe
				     : s == FM_TALLY_CANCELLED ? "TASK_CANCELLED"
							       : "ERROR",
				     FM_ID_MAX);
		t->message = dup_capped(message ? message : "", FM_TALLY_MESSAGE_MAX);
	}
	set_state(ta, t, s);
	free(t->note);
	t->note = NULL;
	return FM_TALLY_ENDED;
}

/* The weight of a task: 1 + its resources + dependencies not among them. */
static void on_task(struct fm_tally_task *t, json_object *ev)
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
			struct fm_task_ref ref;

			named = rt && !strcmp(rt, "task_output") &&
				fm_task_ref_parse(fm_json_get_string(r, "data"), &ref, NULL) == 0 &&
				!strcmp(ref.id, dep);
		}
		weight += !named;
	}
	t->weight = weight;
}

/*
 * A plan line: how many task lines follow. Its count adds to those of the
 * plan lines before it (streams put together), up to FM_TALLY_PLANNED_MAX;
 * a count that is no whole number in that range makes it no plan line.
 */
static void on_plan(struct fm_tally *ta, json_object *ev)
{
	json_object *tasks = fm_json_get(ev, "tasks", json_type_int);
	int64_t n = tasks ? json_object_get_int64(tasks) : -1;

	if (n < 0 || n > FM_TALLY_PLANNED_MAX)
		return;
	ta->plans++;
	ta->planned += (unsigned long)n;
	if (ta->planned > FM_TALLY_PLANNED_MAX)
		ta->planned = FM_TALLY_PLANNED_MAX;
	ta->changed = 1;
}

static enum ev ev_type(const char *type, size_t n)
{
#define TYPE(s, ev)                                                                                \
	{                                                                                          \
		s, sizeof(s) - 1, ev                                                               \
	}
	static const struct {
		const char *name;
		size_t len;
		enum ev ev;
	} types[] = {
	    TYPE("progress", EV_PROGRESS), TYPE("heartbeat", EV_HEARTBEAT),
	    TYPE("log", EV_LOG),	   TYPE("task", EV_TASK),
	    TYPE("started", EV_STARTED),   TYPE("completed", EV_FINAL),
	    TYPE("failed", EV_FINAL),	   TYPE("cancelled", EV_FINAL),
	    TYPE("plan", EV_PLAN),
	};
#undef TYPE
	size_t i;

	/* The bulk of a stream first. */
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (types[i].len == n && !memcmp(types[i].name, type, n))
			return types[i].ev;
	}
	return EV_OTHER;
}

/*
 * The task a line names: its id is the n bytes at id, which hold no NUL
 * (the scan let none through); NULL when that is no valid id (fm_id_valid).
 */
static struct fm_tally_task *named(struct fm_tally *ta, const char *id, size_t n)
{
	struct fm_tally_task *t;
	char buf[FM_ID_MAX + 1];
	size_t k;
	int i;

	/* The tasks of the last lines: a stream's lines come from the few that run. */
	for (i = 0; i < FM_TALLY_RECENT; i++) {
		t = ta->recent[i];
		if (!t)
			break;
		/* By hand: id holds no NUL, so the compare stops at the end of t's. */
		for (k = 0; k < n && t->id[k] == id[k]; k++)
			;
		if (k == n && !t->id[n])
			goto found;
	}
	/* A task the tally knows has a valid id: only a new one is checked. */
	if (!(t = fm_idtab_get(&ta->tasks, id, n))) {
		if (n >= sizeof(buf) || memchr(id, '\0', n))
			return NULL;
		memcpy(buf, id, n);
		buf[n] = '\0';
		if (!fm_id_valid(buf))
			return NULL;
		t = fm_tally_task(ta, id, n);
	}
	i = FM_TALLY_RECENT - 1;
found:
	/* The one found goes first. */
	for (; i > 0; i--)
		ta->recent[i] = ta->recent[i - 1];
	ta->recent[0] = t;
	return t;
}

/* The members the fast path reads, in the order filmeto-run writes them: the scan looks there
 * first. */
enum { F_TYPE, F_ID, F_TIMESTAMP, F_PERCENT, F_MESSAGE, F_STAGE, NFIELDS };

static struct text field_text(const struct fm_json_field *f)
{
	struct text t = {NULL, 0};

	if (f->kind == FM_JSON_STRING) {
		t.s = f->at;
		t.len = f->len;
	}
	return t;
}

/*
 * The fast path: a progress, heartbeat or log line, the bulk of a stream,
 * read by fm_json_scan instead of json-c. Returns 0 when the line is for
 * json-c: the scan was unsure, it is another kind of event, or a text to
 * be shown has escapes. Else it did what fm_tally_line does by json-c.
 */
static int fast_line(struct fm_tally *ta, const char *line, size_t len, struct fm_tally_event *ev,
		     enum fm_tally_what *what)
{
#define FIELD(s)                                                                                   \
	{                                                                                          \
		.name = s, .name_len = sizeof(s) - 1                                               \
	}
	struct fm_json_field f[NFIELDS] = {
	    [F_TYPE] = FIELD("type"),		[F_ID] = FIELD("task_id"),
	    [F_TIMESTAMP] = FIELD("timestamp"), [F_PERCENT] = FIELD("percent"),
	    [F_MESSAGE] = FIELD("message"),	[F_STAGE] = FIELD("stage")};
#undef FIELD
	struct progress pr = {0};
	struct fm_tally_task *t;
	enum ev kind;
	int shown;

	if (!fm_json_scan(line, len, f, NFIELDS))
		return 0;
	if (f[F_TYPE].kind != FM_JSON_STRING || f[F_TYPE].escaped)
		return 0;
	kind = ev_type(f[F_TYPE].at, f[F_TYPE].len);
	if (kind != EV_PROGRESS && kind != EV_HEARTBEAT && kind != EV_LOG)
		return 0;
	if (f[F_ID].kind != FM_JSON_STRING || f[F_ID].escaped)
		return 0;
	shown = kind == EV_PROGRESS && progress_shown(ta);
	if (shown && (f[F_STAGE].escaped || f[F_MESSAGE].escaped || f[F_TIMESTAMP].escaped))
		return 0;
	if (!(t = named(ta, f[F_ID].at, f[F_ID].len)))
		return 0;
	*what = FM_TALLY_NOTHING;
	if (shown) {
		pr.has_percent = f[F_PERCENT].kind == FM_JSON_NUMBER;
		pr.percent = pr.has_percent ? fm_json_scan_number(&f[F_PERCENT]) : 0;
		pr.stage = field_text(&f[F_STAGE]);
		pr.message = field_text(&f[F_MESSAGE]);
		pr.timestamp = field_text(&f[F_TIMESTAMP]);
	}
	if (kind != EV_LOG)
		*what = on_progress(ta, t, shown ? &pr : NULL);
	if (*what != FM_TALLY_NOTHING && pr.timestamp.s)
		snprintf(ev->timestamp, sizeof(ev->timestamp), "%.*s", (int)pr.timestamp.len,
			 pr.timestamp.s);
	ev->task = t;
	ev->changed = ta->changed;
	return 1;
}

/* A progress line's content, from json-c. */
static void progress_json(json_object *o, struct progress *pr)
{
	json_object *v;

	pr->has_percent =
	    json_object_object_get_ex(o, "percent", &v) &&
	    (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
	pr->percent = pr->has_percent ? json_object_get_double(v) : 0;
	pr->stage = json_text(o, "stage");
	pr->message = json_text(o, "message");
}

enum fm_tally_what fm_tally_line(struct fm_tally *ta, const char *line, size_t len,
				 struct fm_tally_event *ev)
{
	enum fm_tally_what what = FM_TALLY_NOTHING;
	const char *type, *id, *ts;
	struct fm_tally_task *t;
	struct progress pr;
	json_object *o;
	enum ev kind;

	ta->changed = 0;
	ev->task = NULL;
	ev->changed = 0;
	ev->timestamp[0] = '\0';
	if (!ta->no_scan && fast_line(ta, line, len, ev, &what))
		return what;
	if (fm_json_parse(line, len, &o, NULL) < 0)
		return FM_TALLY_NOTHING; /* not an event: it only passes through */
	type = fm_json_get_string(o, "type");
	id = fm_json_get_string(o, "task_id");
	kind = type ? ev_type(type, strlen(type)) : EV_OTHER;
	if (kind == EV_PLAN) {
		on_plan(ta, o);
		ev->changed = ta->changed;
		json_object_put(o);
		return FM_TALLY_NOTHING;
	}
	if (kind == EV_OTHER || !fm_id_valid(id)) {
		json_object_put(o);
		return FM_TALLY_NOTHING;
	}
	t = fm_tally_task(ta, id, strlen(id));
	switch (kind) {
	case EV_TASK: on_task(t, o); break;
	case EV_STARTED: what = on_started(ta, t, o); break;
	case EV_PROGRESS:
		if (progress_shown(ta))
			progress_json(o, &pr);
		what = on_progress(ta, t, progress_shown(ta) ? &pr : NULL);
		break;
	case EV_HEARTBEAT: what = on_progress(ta, t, NULL); break;
	case EV_FINAL: what = on_final(ta, t, o, type); break;
	default: break;
	}
	if (what != FM_TALLY_NOTHING && (ts = fm_json_get_string(o, "timestamp")))
		snprintf(ev->timestamp, sizeof(ev->timestamp), "%s", ts);
	ev->task = t;
	ev->changed = ta->changed;
	json_object_put(o);
	return what;
}

void fm_tally_claimed(struct fm_tally *ta, const char *id, double attempt)
{
	struct fm_tally_task *t = fm_tally_task(ta, id, strlen(id));

	if (attempt >= 1 && attempt <= 65535)
		t->claim = (unsigned short)attempt;
}

/* --- the verdict -------------------------------------------------------- */

enum fm_outcome fm_tally_verdict(const struct fm_tally *ta)
{
	unsigned long tasks = 0;
	int s;

	if (ta->interrupted)
		return FM_OUTCOME_INTERRUPTED;
	for (s = 0; s < FM_TALLY_NSTATES; s++)
		tasks += ta->count[s];
	if (!tasks)
		return FM_OUTCOME_EMPTY;
	if (ta->count[FM_TALLY_FAILED] || ta->count[FM_TALLY_CANCELLED])
		return FM_OUTCOME_TASK_FAILED;
	/* A plan's tasks that never came were cut off, as surely as a started one. */
	return ta->count[FM_TALLY_PENDING] + ta->count[FM_TALLY_RUNNING] || ta->planned > tasks
		   ? FM_OUTCOME_UNFINISHED
		   : FM_OUTCOME_OK;
}

/* --- what is said ------------------------------------------------------- */

/* "2026-11-21T05:47:07Z" from an event's timestamp, else from the clock. */
static void when(const char *ts, char buf[32])
{
	if (strlen(ts) >= 19) {
		snprintf(buf, 32, "%.19sZ", ts);
		return;
	}
	fm_timestamp(buf);
	snprintf(buf + 19, 13, "Z");
}

static void say_started(const struct fm_tally_task *t, const char *ts, struct fm_buf *out)
{
	char tool[FM_ID_MAX + 1], plugin[FM_ID_MAX + 1];

	clean(tool, sizeof(tool), t->tool ? t->tool : "?");
	clean(plugin, sizeof(plugin), t->plugin ? t->plugin : "?");
	if (t->attempt > 1)
		fm_buf_addf(out, "%s retry %s (%s, %s): attempt %u\n", ts, t->id, tool, plugin,
			    t->attempt);
	else
		fm_buf_addf(out, "%s started %s (%s, %s)\n", ts, t->id, tool, plugin);
}

static void say_final(const struct fm_tally_task *t, const char *ts,
		      const struct fm_tally_colors *c, struct fm_buf *out)
{
	const char *type = t->state == FM_TALLY_COMPLETED ? "completed"
			   : t->state == FM_TALLY_FAILED  ? "failed"
							  : "cancelled";
	char msg[FM_TALLY_MESSAGE_MAX + 1], path[FM_TALLY_OUTPUTS_MAX];
	double el = fm_tally_task_time(t, fm_now());

	if (t->state == FM_TALLY_COMPLETED) {
		fm_buf_addf(out, "%s %scompleted%s %s in %.2fs%s%s%s", ts, c->good, c->reset, t->id,
			    el, t->outputs ? ": " : "", clean(path, sizeof(path), t->outputs),
			    t->cached ? " (cached)" : "");
	} else {
		fm_buf_addf(out, "%s %s%s%s %s: %s: %s", ts, c->bad, type, c->reset, t->id, t->code,
			    clean(msg, sizeof(msg), t->message));
	}
	if (t->attempts > 1)
		fm_buf_addf(out, " after %u attempts", t->attempts);
	fm_buf_addstr(out, "\n");
}

void fm_tally_say(enum fm_tally_what what, const struct fm_tally_event *ev,
		  const struct fm_tally_colors *c, struct fm_buf *out)
{
	static const struct fm_tally_colors none = {"", "", ""};
	const struct fm_tally_task *t = ev->task;
	char ts[32], note[FM_TALLY_NOTE_MAX];

	if (what == FM_TALLY_NOTHING || !t)
		return;
	when(ev->timestamp, ts);
	if (what == FM_TALLY_STARTED)
		say_started(t, ts, out);
	else if (what == FM_TALLY_ENDED)
		say_final(t, ts, c ? c : &none, out);
	else
		fm_buf_addf(out, "%s progress %s %.0f%%%s%s\n", ts, t->id, t->percent,
			    t->note && t->note[0] ? " " : "", clean(note, sizeof(note), t->note));
}

/* --- the summary -------------------------------------------------------- */

/*
 * One line of the summary: prefix, then what (safe for a terminal), in
 * ta->cols columns less one when set, a path cut from the left.
 */
static void summary_line(const struct fm_tally *ta, struct fm_buf *out, const char *prefix,
			 const char *what, enum fm_term_cut how)
{
	size_t n = strlen(what), size = 3 * n + 4;
	char *buf = fm_xmalloc(size);
	int cols = INT_MAX;

	if (ta->cols > 0) {
		cols = ta->cols - 1 - fm_term_width(prefix);
		cols = cols < 1 ? 1 : cols;
	}
	fm_term_fit(buf, size, what, n, cols, how);
	fm_buf_addf(out, "%s%s\n", prefix, buf);
	free(buf);
}

/*
 * head (w columns, colours included), then text, safe for a terminal and
 * with ta->cols broken at spaces into lines of cols - 1 columns, each one
 * after the first indented by two: a failure's message and the counts are
 * not to be cut.
 */
static void summary_wrap(const struct fm_tally *ta, struct fm_buf *out, const char *head, int w,
			 const char *text)
{
	size_t n = strlen(text), size = 3 * n + 4, len;
	char *safe = fm_xmalloc(size), *piece = fm_xmalloc(size), *rest, *sp;
	int room;

	fm_buf_addstr(out, head);
	fm_term_fit(safe, size, text, n, INT_MAX, FM_TERM_CLIP);
	for (rest = safe; ta->cols > 0; w = 2) {
		room = ta->cols - 1 - w;
		fm_term_fit(piece, size, rest, strlen(rest), room < 1 ? 1 : room, FM_TERM_CLIP);
		len = strlen(piece);
		if (!rest[len])
			break;
		/* Break at the last space that fits, else where the columns end. */
		if (rest[len] != ' ' && (sp = strrchr(piece, ' ')) && sp > piece)
			len = (size_t)(sp - piece);
		/* Not even one character fits: it goes whole on a line of its own. */
		if (!len)
			for (len = 1; ((unsigned char)rest[len] & 0xC0) == 0x80; len++)
				;
		fm_buf_add(out, rest, len);
		fm_buf_addstr(out, "\n  ");
		for (rest += len; *rest == ' '; rest++)
			;
	}
	fm_buf_addf(out, "%s\n", rest);
	free(piece);
	free(safe);
}

/* A path after a word ("film PATH"): the word stays, the path is cut from the left. */
static void summary_path(const struct fm_tally *ta, struct fm_buf *out, const char *prefix,
			 const char *word, const char *path)
{
	char *pre = fm_xasprintf("%s%s ", prefix, word);

	summary_line(ta, out, pre, path, FM_TERM_PATH);
	free(pre);
}

void fm_tally_summary(const struct fm_tally *ta, double wall, const char *prefix,
		      const struct fm_tally_colors *c, struct fm_buf *out)
{
	unsigned long unfinished = ta->count[FM_TALLY_PENDING] + ta->count[FM_TALLY_RUNNING];
	unsigned long outputs = 0, named = 0, failures = 0;
	const char *on = c ? c->bad : "", *off = c ? c->reset : "";
	struct fm_buf counts = FM_BUF_INIT;
	const struct fm_tally_task *t;
	size_t i = 0, n = ta->tasks.count;

	/* The film first, on a line of its own: what the run was for. */
	while ((t = fm_tally_next(ta, &i))) {
		if (t->state == FM_TALLY_COMPLETED && t->tool && !strcmp(t->tool, "combine") &&
		    t->outputs && *t->outputs)
			summary_path(ta, out, prefix, "film", t->outputs);
	}
	for (i = 0; !ta->brief && (t = fm_tally_next(ta, &i));) {
		const char *o;

		for (o = t->outputs; o && *o; o += strlen(o) + 1, outputs++) {
			if (outputs < FM_TALLY_LIST_MAX)
				summary_path(ta, out, prefix, "output", o);
		}
	}
	if (outputs > FM_TALLY_LIST_MAX)
		fm_buf_addf(out, "%sand %lu more outputs\n", prefix, outputs - FM_TALLY_LIST_MAX);
	for (i = 0; (t = fm_tally_next(ta, &i));) {
		if (t->state != FM_TALLY_FAILED && t->state != FM_TALLY_CANCELLED)
			continue;
		if (failures++ < FM_TALLY_FAILURES_MAX) {
			const char *st = t->state == FM_TALLY_FAILED ? "failed" : "cancelled";
			char *head = fm_xasprintf("%s%s%s%s ", prefix, on, st, off);
			char *text = fm_xasprintf("%s: %s: %s", t->id, t->code, t->message);

			summary_wrap(ta, out, head, fm_term_width(prefix) + (int)strlen(st) + 1,
				     text);
			free(text);
			free(head);
		}
	}
	if (failures > FM_TALLY_FAILURES_MAX)
		fm_buf_addf(out, "%sand %lu more failures\n", prefix,
			    failures - FM_TALLY_FAILURES_MAX);
	for (i = 0; (t = fm_tally_next(ta, &i));) {
		if (t->state > FM_TALLY_RUNNING)
			continue;
		if (named++ < FM_TALLY_LIST_MAX) {
			char *line = fm_xasprintf("task '%s' did not finish: %s", t->id,
						  ta->interrupted ? "interrupted"
								  : "the stream ended first");

			summary_line(ta, out, prefix, line, FM_TERM_END);
			free(line);
		}
	}
	if (named > FM_TALLY_LIST_MAX)
		fm_buf_addf(out, "%sand %lu more tasks did not finish\n", prefix,
			    named - FM_TALLY_LIST_MAX);
	if (ta->planned > n) {
		char *line =
		    fm_xasprintf("%lu planned task%s never came: %s", ta->planned - n,
				 ta->planned - n == 1 ? "" : "s",
				 ta->interrupted ? "interrupted" : "the stream ended first");

		summary_line(ta, out, prefix, line, FM_TERM_END);
		free(line);
	}
	fm_buf_addf(&counts, "%zu task%s", n, n == 1 ? "" : "s");
	/* Tasks a plan announced that never came: the stream was cut short. */
	if (ta->planned > n)
		fm_buf_addf(&counts, " (%lu planned)", ta->planned);
	fm_buf_addf(&counts, ": %lu completed, %lu failed, %lu cancelled",
		    ta->count[FM_TALLY_COMPLETED], ta->count[FM_TALLY_FAILED],
		    ta->count[FM_TALLY_CANCELLED]);
	if (unfinished)
		fm_buf_addf(&counts, ", %lu unfinished", unfinished);
	fm_buf_addf(&counts, "; %lu cached; wall time %.1fs", ta->cached, wall);
	summary_wrap(ta, out, prefix, fm_term_width(prefix), fm_buf_str(&counts));
	fm_buf_release(&counts);
}

void fm_tally_summary_json(const struct fm_tally *ta, double wall, int exit_status,
			   struct fm_buf *out)
{
	json_object *o = json_object_new_object(), *outputs = json_object_new_array();
	json_object *failures = json_object_new_array(), *unfinished = json_object_new_array();
	const struct fm_tally_task *t;
	char num[32];
	size_t i = 0;

	while ((t = fm_tally_next(ta, &i))) {
		const char *p;

		for (p = t->outputs; p && *p; p += strlen(p) + 1)
			json_object_array_add(outputs, json_object_new_string(p));
		if (t->state == FM_TALLY_FAILED || t->state == FM_TALLY_CANCELLED) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "task_id", json_object_new_string(t->id));
			json_object_object_add(f, "status",
					       json_object_new_string(t->state == FM_TALLY_FAILED
									  ? "failed"
									  : "cancelled"));
			json_object_object_add(f, "code", json_object_new_string(t->code));
			json_object_object_add(f, "message", json_object_new_string(t->message));
			json_object_array_add(failures, f);
		}
		if (t->state <= FM_TALLY_RUNNING)
			json_object_array_add(unfinished, json_object_new_string(t->id));
	}
	json_object_object_add(o, "tasks", json_object_new_int64((int64_t)ta->tasks.count));
	if (ta->plans)
		json_object_object_add(o, "planned", json_object_new_int64((int64_t)ta->planned));
	json_object_object_add(o, "completed",
			       json_object_new_int64(ta->count[FM_TALLY_COMPLETED]));
	json_object_object_add(o, "failed", json_object_new_int64(ta->count[FM_TALLY_FAILED]));
	json_object_object_add(o, "cancelled",
			       json_object_new_int64(ta->count[FM_TALLY_CANCELLED]));
	json_object_object_add(o, "cached", json_object_new_int64(ta->cached));
	json_object_object_add(
	    o, "unfinished",
	    json_object_new_int64(ta->count[FM_TALLY_PENDING] + ta->count[FM_TALLY_RUNNING]));
	snprintf(num, sizeof(num), "%.3f", wall);
	json_object_object_add(o, "wall_time", fm_json_new_number(wall, num));
	json_object_object_add(o, "outputs", outputs);
	json_object_object_add(o, "failures", failures);
	json_object_object_add(o, "unfinished_tasks", unfinished);
	json_object_object_add(o, "exit_status", json_object_new_int(exit_status));
	fm_buf_addstr(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	fm_buf_addstr(out, "\n");
	json_object_put(o);
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

static void junit_case(struct fm_buf *b, const struct fm_tally_task *t, double now)
{
	fm_buf_addstr(b, "  <testcase name=\"");
	xml_add(b, t->id);
	fm_buf_addstr(b, "\" classname=\"filmeto");
	if (t->tool) {
		fm_buf_addstr(b, ".");
		xml_add(b, t->tool);
	}
	fm_buf_addf(b, "\" time=\"%.3f\"", fm_tally_task_time(t, now));
	if (t->state == FM_TALLY_COMPLETED) {
		fm_buf_addstr(b, "/>\n");
		return;
	}
	fm_buf_addstr(b, ">\n");
	if (t->state == FM_TALLY_FAILED || t->state == FM_TALLY_CANCELLED) {
		fm_buf_addstr(b, t->state == FM_TALLY_FAILED ? "    <failure message=\""
							     : "    <skipped message=\"");
		xml_add(b, t->code);
		fm_buf_addstr(b, ": ");
		xml_add(b, t->message);
		if (t->state == FM_TALLY_FAILED) {
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

void fm_tally_junit(const struct fm_tally *ta, double wall, struct fm_buf *out)
{
	const struct fm_tally_task *t;
	double now = fm_now();
	char ts[32];
	size_t i = 0;

	fm_timestamp(ts);
	ts[19] = '\0';
	fm_buf_addstr(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fm_buf_addf(out,
		    "<testsuite name=\"filmeto\" tests=\"%zu\" failures=\"%lu\" errors=\"%lu\" "
		    "skipped=\"%lu\" time=\"%.3f\" timestamp=\"%s\">\n",
		    ta->tasks.count, ta->count[FM_TALLY_FAILED],
		    ta->count[FM_TALLY_PENDING] + ta->count[FM_TALLY_RUNNING],
		    ta->count[FM_TALLY_CANCELLED], wall, ts);
	while ((t = fm_tally_next(ta, &i)))
		junit_case(out, t, now);
	fm_buf_addstr(out, "</testsuite>\n");
}
