/*
 * filmeto-watch: reads event lines, says what happened in one plain line
 * per state change on stderr, copies the stream to stdout when stdout is
 * not a terminal, and ends with a verdict in its exit status.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-watch [FILE ...]\n"
    "\n"
    "Report the events in FILEs or standard input ('-'); copy them to\n"
    "standard output when it is not a terminal.\n"
    "\n"
    "  -h, --help     show this help\n"
    "      --version  show the version\n"
    "\n"
    "Exit status: 0 every task completed, 1 a task failed or was cancelled,\n"
    "2 usage error, 3 the stream ended with tasks unfinished, 130 interrupted.\n";

enum { OPT_VERSION = 256 };

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

enum state { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, NSTATES };

struct watch {
	json_object *tasks; /* task id -> state */
	unsigned long count[NSTATES];
	struct fm_writer out;
	int passthrough;
	unsigned long skipped;
	double start;
};

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

static void set_state(struct watch *w, const char *id, enum state s)
{
	json_object *v;

	if (json_object_object_get_ex(w->tasks, id, &v)) {
		enum state old = (enum state)json_object_get_int(v);

		/* A final state is final: a late started line does not undo it. */
		if (old >= COMPLETED)
			return;
		w->count[old]--;
	}
	json_object_object_add(w->tasks, id, json_object_new_int(s));
	w->count[s]++;
}

static void on_final(struct watch *w, json_object *ev, const char *type, const char *id)
{
	json_object *files = fm_json_get(ev, "output_files", json_type_array);
	json_object *err = fm_json_get(ev, "error", json_type_object);
	char ts[32];

	when(ev, ts);
	if (!strcmp(type, "completed")) {
		set_state(w, id, COMPLETED);
		fprintf(stderr, "%s completed %s in %.2fs%s%s\n", ts, id,
			fm_json_get_double(ev, "execution_time", 0),
			files && json_object_array_length(files) ? ": " : "",
			files && json_object_array_length(files)
			    ? json_object_get_string(json_object_array_get_idx(files, 0))
			    : "");
		return;
	}
	set_state(w, id, !strcmp(type, "failed") ? FAILED : CANCELLED);
	fprintf(stderr, "%s %s %s: %s: %s\n", ts, type, id,
		fm_json_get_string(err, "code") ? fm_json_get_string(err, "code") : "ERROR",
		fm_json_get_string(err, "message") ? fm_json_get_string(err, "message") : "");
}

static void on_line(struct watch *w, const char *line, size_t len)
{
	json_object *ev;
	const char *type, *id;
	char ts[32];

	if (fm_json_parse(line, len, &ev, NULL) < 0) {
		w->skipped++;
		return;
	}
	type = fm_json_get_string(ev, "type");
	id = fm_json_get_string(ev, "task_id");
	if (!type || !id) {
		json_object_put(ev);
		return;
	}
	if (!strcmp(type, "task")) {
		if (!json_object_object_get_ex(w->tasks, id, NULL))
			set_state(w, id, PENDING);
	} else if (!strcmp(type, "started")) {
		set_state(w, id, RUNNING);
		when(ev, ts);
		fprintf(
		    stderr, "%s started %s (%s, %s)\n", ts, id,
		    fm_json_get_string(ev, "tool_name") ? fm_json_get_string(ev, "tool_name") : "?",
		    fm_json_get_string(ev, "plugin_name") ? fm_json_get_string(ev, "plugin_name")
							  : "?");
	} else if (!strcmp(type, "completed") || !strcmp(type, "failed") ||
		   !strcmp(type, "cancelled")) {
		on_final(w, ev, type, id);
	}
	json_object_put(ev);
}

static int watch_fd(int fd, const char *name, void *ctx)
{
	struct watch *w = ctx;
	struct fm_reader in;
	enum fm_line got;
	char *line;
	size_t len;
	int rc = 0;

	fm_reader_init(&in, fd, FM_LINE_MAX);
	while ((got = fm_reader_next(&in, &line, &len)) != FM_LINE_NONE) {
		if (got == FM_LINE_ERROR) {
			fm_warn("cannot read '%s':", name);
			rc = -1;
			break;
		}
		if (got == FM_LINE_LONG) {
			fm_warn("%s: line %lu is longer than the limit and was dropped", name,
				(unsigned long)in.lineno);
			continue;
		}
		on_line(w, line, len);
		if (w->passthrough)
			fm_writer_line(&w->out, line, len);
		/* Keep a downstream reader current when our input is idle. */
		if (w->passthrough && in.start == in.end)
			fm_writer_flush(&w->out);
	}
	fm_reader_release(&in);
	return rc;
}

static int verdict(struct watch *w)
{
	unsigned long unfinished = w->count[PENDING] + w->count[RUNNING];
	unsigned long total =
	    unfinished + w->count[COMPLETED] + w->count[FAILED] + w->count[CANCELLED];

	fprintf(stderr, "%s: %lu task%s: %lu completed, %lu failed, %lu cancelled", fm_prog(),
		total, total == 1 ? "" : "s", w->count[COMPLETED], w->count[FAILED],
		w->count[CANCELLED]);
	if (unfinished)
		fprintf(stderr, ", %lu unfinished", unfinished);
	fprintf(stderr, " (%.1fs)\n", fm_now() - w->start);
	if (unfinished) {
		json_object_object_foreach (w->tasks, id, v) {
			if (json_object_get_int(v) <= RUNNING)
				fm_warn("task '%s' did not finish: the stream ended first", id);
		}
	}
	if (w->count[FAILED] || w->count[CANCELLED])
		return FM_EXIT_FAILED;
	return unfinished ? FM_EXIT_UNFINISHED : FM_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct watch w = {0};
	int c, status;

	fm_msg_init(argv[0]);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version();
		default: fm_try_help();
		}
	}
	w.tasks = json_object_new_object();
	w.start = fm_now();
	w.passthrough = !isatty(1);
	fm_writer_init(&w.out, 1);
	status = fm_each_input(argv + optind, argc - optind, watch_fd, &w);
	fm_writer_flush(&w.out);
	if (status == FM_EXIT_OK)
		status = verdict(&w);
	else
		verdict(&w);
	if (w.out.failed)
		status = status ? status : FM_EXIT_FAILED;
	fm_writer_release(&w.out);
	json_object_put(w.tasks);
	return status;
}
