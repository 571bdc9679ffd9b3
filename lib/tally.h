/*
 * The tally of an event stream: what filmeto-watch reports, and what a
 * server tells of the tasks it follows. It reads event lines and keeps
 * each task's state, the counts, the verdict, and gives the summary as
 * text, as one JSON object and as JUnit XML. It prints nothing: each
 * line hands back what changed, for the caller to show.
 *
 * Memory grows with the number of distinct tasks, never with the number
 * of events: each task is one small struct in a table keyed by its id.
 * The bulk of a stream is progress, heartbeat and log lines: those are
 * read by fm_json_scan (ndjson.h), which checks the whole line and finds
 * the few members needed without building it, in any order and spacing;
 * a line it is unsure of, and every other event, goes through json-c,
 * with the same outcome. A progress line's percent, stage and message
 * are read only when shown (notes, or progress_every >= 0).
 */
#ifndef FM_TALLY_H
#define FM_TALLY_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "idtab.h"

/* Limits, all documented in filmeto-watch(1). */
#define FM_TALLY_LIST_MAX     20      /* outputs and unfinished tasks named in the summary */
#define FM_TALLY_FAILURES_MAX 100     /* failures named in the summary */
#define FM_TALLY_NOTE_MAX     160     /* bytes of a task's latest stage and message kept */
#define FM_TALLY_MESSAGE_MAX  1024    /* bytes of an error message kept */
#define FM_TALLY_OUTPUTS_MAX  4096    /* bytes of output paths kept per task */
#define FM_TALLY_PLANNED_MAX  1000000 /* tasks the plan lines of a stream announce, in all */
#define FM_TALLY_RECENT	      4	      /* tasks looked up last, found without a hash */

enum fm_tally_state {
	FM_TALLY_PENDING,
	FM_TALLY_RUNNING,
	FM_TALLY_COMPLETED, /* this one and the next two are final */
	FM_TALLY_FAILED,
	FM_TALLY_CANCELLED,
	FM_TALLY_NSTATES
};

struct fm_tally_task {
	char *tool, *plugin;
	char *outputs; /* paths, each NUL-terminated, then an empty one */
	char *code, *message;
	char *note; /* "stage: message" of the latest progress, with notes only */
	double started, said, exec_time;
	float percent;
	unsigned weight; /* 1 + the resources and dependencies it names */
	unsigned char state, cached;
	unsigned short attempt, attempts;
	unsigned short claim; /* the spool's attempt, from its claimed line; 0 elsewhere */
	char id[];
};

struct fm_tally {
	/* Set by the caller before the first line. */
	int notes;	       /* keep every progress's stage and message (a terminal shows them) */
	double progress_every; /* hand back a task's progress at most this often (s); < 0 never */
	int replay;  /* the events may be old (the spool's logs): their timestamps count */
	int brief;   /* the summary names the film, failures and counts, not every output */
	int cols;    /* a terminal's width, which the summary's paths and lists fit; 0: none */
	int no_scan; /* read every line by json-c, never by fm_json_scan (tests compare the two) */
	/* Set by the caller when a signal cut the stream short. */
	int interrupted;
	/* Read only. */
	struct fm_idtab tasks; /* struct fm_tally_task, in the order first named */
	unsigned long count[FM_TALLY_NSTATES], cached;
	unsigned long plans, planned; /* plan lines read, the tasks they announce in all */
	/* Private. */
	int changed;
	struct fm_tally_task *recent[FM_TALLY_RECENT]; /* the tasks of the last lines read fast */
};

/* What a line did to its task, for the caller to say. */
enum fm_tally_what {
	FM_TALLY_NOTHING, /* nothing to say (the line may still have changed a task) */
	FM_TALLY_STARTED, /* an attempt started */
	FM_TALLY_PROGRESS,
	FM_TALLY_ENDED /* the task reached its final state */
};

struct fm_tally_event {
	struct fm_tally_task *task; /* NULL when the line is no event of a task */
	int changed;		    /* a task's state or progress changed: a terminal redraws */
	char timestamp[32];	    /* of what is said: the event's, cut short, or "" */
};

/* The verdict, which a command maps to its exit status. */
/* Colours for the tally's text: SGR sequences, the command's choice. */
struct fm_tally_colors {
	const char *good, *bad, *reset;
};

void fm_tally_init(struct fm_tally *ta);
void fm_tally_release(struct fm_tally *ta);
/* Reads one line of the stream; a line that is no event changes nothing. */
enum fm_tally_what fm_tally_line(struct fm_tally *ta, const char *line, size_t len,
				 struct fm_tally_event *ev);
/* The task with the n bytes at id (a valid id: fm_id_valid), pending when it is new. */
struct fm_tally_task *fm_tally_task(struct fm_tally *ta, const char *id, size_t n);
/* A spool's claimed line: which attempt runs, so that a retake shows as a retry. */
void fm_tally_claimed(struct fm_tally *ta, const char *id, double attempt);
/* The tasks in the order first named: *i starts at 0; NULL after the last. */
struct fm_tally_task *fm_tally_next(const struct fm_tally *ta, size_t *i);
/*
 * The whole stream's progress, for an overall bar. Tasks announced by a
 * plan line and not seen yet count, each weighing 1, so the total is
 * known from the start.
 */
struct fm_tally_progress {
	unsigned long total; /* tasks: those planned, or those seen when more */
	unsigned long ended; /* completed, failed or cancelled */
	double fraction;     /* of the work, each task by its weight, running ones by percent */
	int percent;	     /* the fraction in whole percent, rounded down; 100 only when every
				task has ended */
};
void fm_tally_progress(const struct fm_tally *ta, struct fm_tally_progress *p);
/* Seconds a task ran: its execution time once ended, else so far. */
double fm_tally_task_time(const struct fm_tally_task *t, double now);
/*
 * The verdict: FM_OUTCOME_INTERRUPTED, else FM_OUTCOME_EMPTY when no line
 * named a task, else FM_OUTCOME_TASK_FAILED when a task failed or was
 * cancelled, else FM_OUTCOME_UNFINISHED when the stream ended with tasks
 * unfinished, else FM_OUTCOME_OK.
 */
enum fm_outcome fm_tally_verdict(const struct fm_tally *ta);

/*
 * The line that says what fm_tally_line handed back (what, ev), for a
 * log or a terminal not drawn on: "2026-11-21T05:47:07Z completed ID in
 * 1.50s: PATH". Colours c may be NULL. Names, paths and messages are
 * made safe for a terminal (the timestamp's 19 bytes go out as they came).
 */
void fm_tally_say(enum fm_tally_what what, const struct fm_tally_event *ev,
		  const struct fm_tally_colors *c, struct fm_buf *out);
/*
 * The summary for a person, after wall seconds: outputs, failures,
 * unfinished tasks (a few of each) and the counts, each line starting
 * with prefix; colours c may be NULL. With cols, a path too long is cut
 * from the left ("…/film.mp4") and a list's line at its end; a failure
 * and the counts are left whole (their lines wrap).
 */
void fm_tally_summary(const struct fm_tally *ta, double wall, const char *prefix,
		      const struct fm_tally_colors *c, struct fm_buf *out);
/* The summary as one JSON line, with the exit status the command chose. */
void fm_tally_summary_json(const struct fm_tally *ta, double wall, int exit_status,
			   struct fm_buf *out);
/* JUnit XML: one testcase per task. */
void fm_tally_junit(const struct fm_tally *ta, double wall, struct fm_buf *out);

#endif
