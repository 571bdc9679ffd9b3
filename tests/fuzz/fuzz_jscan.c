/*
 * Fuzz target, differential: the scan that reads a stream's bulk
 * (fm_json_scan, lib/ndjson.c) against json-c (fm_json_parse), and a
 * tally that reads lines by the scan against one that reads every line by
 * json-c (no_scan). The bytes are a stream, the first byte picking what
 * the tallies show (notes, progress, old timestamps). Whenever the scan
 * answers, json-c must take the line and agree on every member the scan
 * found; and after every line the two tallies must have said, and must
 * hold, the same. Any difference aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "ndjson.h"
#include "tally.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { NFIELDS = 7 };

static void same_member(json_object *o, const struct fm_json_field *f)
{
	json_object *v = NULL;
	int has = json_object_object_get_ex(o, f->name, &v);

	switch (f->kind) {
	case FM_JSON_ABSENT:
		if (has)
			abort();
		break;
	case FM_JSON_STRING:
		if (!has || !json_object_is_type(v, json_type_string))
			abort();
		if (!f->escaped && ((size_t)json_object_get_string_len(v) != f->len ||
				    memcmp(json_object_get_string(v), f->at, f->len)))
			abort();
		break;
	case FM_JSON_NUMBER: {
		double d, mine = fm_json_scan_number(f);

		if (!has || (!json_object_is_type(v, json_type_int) &&
			     !json_object_is_type(v, json_type_double)))
			abort();
		/* The same double, bit for bit (-0 is not 0 to a "%.0f"). */
		d = json_object_get_double(v);
		if (memcmp(&d, &mine, sizeof(d)))
			abort();
		break;
	}
	default:
		if (!has || json_object_is_type(v, json_type_string) ||
		    json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double))
			abort();
	}
}

/* When the scan answers for a line, json-c takes it and agrees. */
static void scan_line(const char *line, size_t len)
{
	struct fm_json_field f[NFIELDS] = {
	    {.name = "type"},	 {.name = "task_id"},	{.name = "percent"}, {.name = "stage"},
	    {.name = "message"}, {.name = "timestamp"}, {.name = "a"},
	};
	json_object *o;
	size_t i;

	if (!fm_json_scan(line, len, f, NFIELDS))
		return;
	if (fm_json_parse(line, len, &o, NULL) < 0 || !json_object_is_type(o, json_type_object))
		abort();
	for (i = 0; i < NFIELDS; i++)
		same_member(o, &f[i]);
	json_object_put(o);
}

static int same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_outputs(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	for (; *a && *b; a += strlen(a) + 1, b += strlen(b) + 1)
		if (strcmp(a, b))
			return 0;
	return !*a && !*b;
}

/* Every task alike, in the same order, and the counts. */
static void same_tallies(const struct fm_tally *x, const struct fm_tally *y)
{
	const struct fm_tally_task *s, *t;
	size_t i = 0, j = 0;
	int k;

	if (x->tasks.count != y->tasks.count || x->cached != y->cached ||
	    x->planned != y->planned || x->plans != y->plans)
		abort();
	for (k = 0; k < FM_TALLY_NSTATES; k++)
		if (x->count[k] != y->count[k])
			abort();
	while ((s = fm_tally_next(x, &i))) {
		if (!(t = fm_tally_next(y, &j)) || strcmp(s->id, t->id) || s->state != t->state ||
		    s->cached != t->cached || s->attempt != t->attempt ||
		    s->attempts != t->attempts || s->weight != t->weight ||
		    memcmp(&s->percent, &t->percent, sizeof(s->percent)) ||
		    !same_text(s->tool, t->tool) || !same_text(s->plugin, t->plugin) ||
		    !same_text(s->code, t->code) || !same_text(s->message, t->message) ||
		    !same_text(s->note, t->note) || !same_outputs(s->outputs, t->outputs))
			abort();
	}
}

static void same_summaries(const struct fm_tally *x, const struct fm_tally *y)
{
	struct fm_buf a = FM_BUF_INIT, b = FM_BUF_INIT;

	fm_tally_summary(x, 1.5, "fuzz: ", NULL, &a);
	fm_tally_summary_json(x, 1.5, fm_exit_status(fm_tally_verdict(x)), &a);
	fm_tally_summary(y, 1.5, "fuzz: ", NULL, &b);
	fm_tally_summary_json(y, 1.5, fm_exit_status(fm_tally_verdict(y)), &b);
	if (a.len != b.len || memcmp(a.s, b.s, a.len))
		abort();
	fm_buf_release(&a);
	fm_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct fm_tally fast, slow;
	struct fm_buf said_fast = FM_BUF_INIT, said_slow = FM_BUF_INIT;

	fm_tally_init(&fast);
	fm_tally_init(&slow);
	slow.no_scan = 1;
	fast.notes = slow.notes = size && (data[0] & 1);
	fast.progress_every = slow.progress_every = size && (data[0] & 2) ? 0 : -1;
	fast.replay = slow.replay = size && (data[0] & 4);
	for (; p < end; p = nl + 1) {
		struct fm_tally_event a, b;
		enum fm_tally_what wa, wb;
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl ? nl : end;
		n = (size_t)(nl - p);
		scan_line(p, n);
		wa = fm_tally_line(&fast, p, n, &a);
		wb = fm_tally_line(&slow, p, n, &b);
		if (wa != wb || !a.task != !b.task || (a.task && strcmp(a.task->id, b.task->id)) ||
		    a.changed != b.changed || strcmp(a.timestamp, b.timestamp))
			abort();
		/* What is said of it, unless the clock has a part (a time taken, no timestamp). */
		if (wa != FM_TALLY_ENDED && strlen(a.timestamp) >= 19) {
			fm_tally_say(wa, &a, NULL, &said_fast);
			fm_tally_say(wb, &b, NULL, &said_slow);
			if (said_fast.len != said_slow.len ||
			    memcmp(said_fast.s, said_slow.s, said_fast.len))
				abort();
			said_fast.len = said_slow.len = 0;
		}
		same_tallies(&fast, &slow);
	}
	same_summaries(&fast, &slow);
	fm_buf_release(&said_fast);
	fm_buf_release(&said_slow);
	fm_tally_release(&fast);
	fm_tally_release(&slow);
	return 0;
}
