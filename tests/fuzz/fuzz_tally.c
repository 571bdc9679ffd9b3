/*
 * Fuzz target: event streams as filmeto-watch reads them (lib/tally.c)
 * and task logs as it follows them (lib/spool_follow.c). The bytes go
 * line by line to a tally (the first byte picks what it shows: notes,
 * progress, old timestamps), and are the log of a finished task in a
 * scratch spool, followed into a second tally as filmeto-watch --follow
 * does. Any bytes must give counts that add up, a summary in each form
 * (the JSON one parses), a following that ends, and no crash, leak or
 * hang.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "model.h"
#include "msg.h"
#include "spool.h"
#include "tally.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fm_spool sp;
static int opened;

/* The counts add up, and every summary comes out (the JSON one as JSON). */
static void check(struct fm_tally *ta)
{
	static const struct fm_tally_colors colors = {"<g>", "<r>", "</>"};
	struct fm_buf b = FM_BUF_INIT;
	unsigned long sum = 0;
	json_object *o;
	int i;

	for (i = 0; i < FM_TALLY_NSTATES; i++)
		sum += ta->count[i];
	if (sum != ta->tasks.count || ta->cached > ta->count[FM_TALLY_COMPLETED])
		abort();
	fm_tally_summary(ta, 1.5, "fuzz: ", &colors, &b);
	fm_tally_junit(ta, 1.5, &b);
	b.len = 0;
	fm_tally_summary_json(ta, 1.5, fm_exit_status(fm_tally_verdict(ta)), &b);
	if (fm_json_parse(b.s, b.len, &o, NULL) < 0)
		abort();
	json_object_put(o);
	fm_buf_release(&b);
}

static void line(struct fm_tally *ta, const char *s, size_t n, struct fm_buf *said)
{
	struct fm_tally_event ev;
	enum fm_tally_what what = fm_tally_line(ta, s, n, &ev);

	if (what != FM_TALLY_NOTHING && !ev.task)
		abort();
	fm_tally_say(what, &ev, NULL, said);
	said->len = 0;
}

static void stream(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct fm_buf said = FM_BUF_INIT;
	struct fm_tally ta;

	fm_tally_init(&ta);
	ta.notes = size && (data[0] & 1);
	ta.progress_every = size && (data[0] & 2) ? 0 : -1;
	ta.replay = size && (data[0] & 4);
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		line(&ta, p, (size_t)(nl - p), &said);
	}
	fm_tally_claimed(&ta, "fuzz", 2);
	check(&ta);
	fm_buf_release(&said);
	fm_tally_release(&ta);
}

/* The bytes as the log of a task that has finished, followed to its end. */
static void follow(const uint8_t *data, size_t size)
{
	/* A new id each time: the handle keeps the ids it has seen, and the entry goes by hand. */
	static unsigned long n;
	char name[FM_SPOOL_NAME_MAX], id[32];
	struct fm_buf said = FM_BUF_INIT;
	struct fm_follow_event ev;
	struct fm_spool_follow f;
	json_object *t;
	struct fm_tally ta;
	size_t calls = 0;
	int fd;

	snprintf(id, sizeof(id), "fuzz-%lu", n++);
	t = fm_event_new("task", id);
	if (fm_spool_put(&sp, t, name, NULL) < 0 || fm_spool_commit(&sp, NULL) < 0)
		abort();
	json_object_put(t);
	fd = openat(sp.fd[FM_SPOOL_LOG], name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (renameat(sp.fd[FM_SPOOL_QUEUE], name, sp.fd[FM_SPOOL_DONE], name) < 0)
		abort();
	fm_tally_init(&ta);
	ta.replay = 1;
	fm_spool_follow_init(&f, &sp, 0);
	if (fm_spool_follow_add(&f, id, &ev, NULL) < 0 || ev.kind != FM_FOLLOW_TASK)
		abort();
	if (ev.line)
		line(&ta, ev.line, ev.len, &said);
	/* A finished task's log is read whole at the first look: it never waits. */
	for (fm_spool_follow_next(&f, &ev); ev.kind != FM_FOLLOW_DONE;
	     fm_spool_follow_next(&f, &ev)) {
		if (ev.kind == FM_FOLLOW_AGAIN || ++calls > size + 10)
			abort();
		if (ev.kind == FM_FOLLOW_LINE) {
			if (!ev.from || ev.len > FM_LINE_MAX || memchr(ev.line, '\n', ev.len))
				abort();
			line(&ta, ev.line, ev.len, &said);
			if (fm_tally_task(&ta, "fuzz", 4)->state >= FM_TALLY_COMPLETED)
				fm_spool_follow_end(&f);
		} else if (ev.kind == FM_FOLLOW_CLAIMED) {
			fm_tally_claimed(&ta, ev.id, ev.attempt);
		}
	}
	check(&ta);
	fm_spool_follow_release(&f);
	fm_tally_release(&ta);
	fm_buf_release(&said);
	unlinkat(sp.fd[FM_SPOOL_DONE], name, 0);
	unlinkat(sp.fd[FM_SPOOL_LOG], name, 0);
}

/* The scratch spool goes when the run ends. */
static void cleanup(void)
{
	char *dir = fm_xstrdup(sp.dir);

	fm_spool_release(&sp);
	fm_tree_remove(dir);
	free(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stream(data, size);
	if (!opened) {
		char dir[] = "/tmp/fuzz-tally-XXXXXX";

		if (!mkdtemp(dir) || fm_spool_open(&sp, dir, NULL) < 0)
			abort();
		opened = 1;
		atexit(cleanup);
	}
	follow(data, size);
	return 0;
}
