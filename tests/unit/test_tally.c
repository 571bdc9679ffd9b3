/*
 * The tally of an event stream: what each kind of line does to a task,
 * the fast path's limits (what it takes, what it leaves to json-c), the
 * verdict, and the summary as text, JSON and JUnit XML, byte for byte
 * where filmeto-watch prints them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"
#include "tap.h"
#include "util.h"

static enum fm_tally_what feed(struct fm_tally *ta, const char *line, struct fm_tally_event *ev)
{
	struct fm_tally_event scratch;

	return fm_tally_line(ta, line, strlen(line), ev ? ev : &scratch);
}

static struct fm_tally_task *task(struct fm_tally *ta, const char *id)
{
	return fm_idtab_get(&ta->tasks, id, strlen(id));
}

/* The plain line a tally says for the line fed. */
static char *said(struct fm_tally *ta, const char *line)
{
	struct fm_tally_event ev;
	enum fm_tally_what what = feed(ta, line, &ev);
	struct fm_buf b = FM_BUF_INIT;

	fm_tally_say(what, &ev, NULL, &b);
	return fm_buf_detach(&b, NULL);
}

static void lines(void)
{
	struct fm_tally ta;
	struct fm_tally_event ev;
	struct fm_tally_task *t;
	char *s;

	fm_tally_init(&ta);
	IS_INT(feed(&ta, "not json", &ev), FM_TALLY_NOTHING, "a line that is no JSON: nothing");
	OK(ev.task == NULL && ta.tasks.count == 0, "and no task");
	feed(&ta, "{\"type\":\"frobbed\",\"task_id\":\"a\"}", &ev);
	OK(ev.task == NULL && ta.tasks.count == 0, "an unknown type names no task");
	feed(&ta, "{\"type\":\"started\",\"task_id\":\"../a\"}", &ev);
	OK(ev.task == NULL && ta.tasks.count == 0, "an invalid id names no task");

	feed(&ta,
	     "{\"type\":\"task\",\"task_id\":\"a\",\"tool_name\":\"text2image\","
	     "\"resources\":[{\"type\":\"task_output\",\"data\":\"b#0\"},{\"type\":\"local_path\","
	     "\"data\":\"x.png\"}],\"depends_on\":[\"b\",\"c\"]}",
	     &ev);
	t = task(&ta, "a");
	OK(t && ev.task == t, "a task line makes its task");
	IS_INT(t->state, FM_TALLY_PENDING, "pending");
	IS_INT(t->weight, 4, "weight: 1 + 2 resources + the dependency not among them");
	IS_STR(t->tool, "text2image", "the tool is kept");
	IS_INT(ta.count[FM_TALLY_PENDING], 1, "counted pending");

	s = said(&ta, "{\"type\":\"started\",\"task_id\":\"a\",\"timestamp\":\"2026-11-21T05:47:07."
		      "123Z\",\"plugin_name\":\"titlecard\"}");
	IS_STR(s, "2026-11-21T05:47:07Z started a (text2image, titlecard)\n",
	       "started: said with its timestamp");
	free(s);
	IS_INT(t->state, FM_TALLY_RUNNING, "running");
	IS_INT(t->attempt, 1, "attempt 1");
	IS_INT(ta.count[FM_TALLY_RUNNING], 1, "counted running");

	IS_INT(feed(&ta,
		    "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":40.0,\"stage\":\"s\"}",
		    &ev),
	       FM_TALLY_NOTHING, "a progress nobody shows is not handed back");
	OK(ev.task == t, "but it names its task");
	IS_INT((int)t->percent, 0, "the fast path does not read the percent nobody shows");

	ta.notes = 1;
	feed(&ta,
	     "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":140,\"stage\":\"s\","
	     "\"message\":\"m\"}",
	     &ev);
	IS_INT((int)t->percent, 100, "with notes the progress is read, the percent capped");
	IS_STR(t->note, "s: m", "and its stage and message kept");
	OK(ev.changed, "a change to show");
	ta.notes = 0;

	ta.progress_every = 5;
	s = said(&ta,
		 "{\"type\":\"progress\",\"task_id\":\"a\",\"timestamp\":\"2026-11-21T05:47:08Z\","
		 "\"percent\":50}");
	IS_STR(s, "2026-11-21T05:47:08Z progress a 50% s: m\n",
	       "-v: the first progress is said, with the latest note");
	free(s);
	IS_INT(feed(&ta, "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":60}", NULL),
	       FM_TALLY_NOTHING, "the next one within progress_every is not");
	ta.progress_every = -1;

	IS_INT(feed(&ta, "{\"type\":\"started\",\"task_id\":\"a\",\"attempt\":2}", NULL),
	       FM_TALLY_STARTED, "a second start");
	IS_INT(t->attempt, 2, "is attempt 2");
	s = said(&ta,
		 "{\"type\":\"completed\",\"task_id\":\"a\",\"output_files\":[\"/o/a.png\","
		 "\"/o/b.png\",7],\"execution_time\":1.5,\"attempts\":2,\"metadata\":{\"cached\":"
		 "true},\"timestamp\":\"2026-11-21T05:47:09Z\"}");
	IS_STR(s, "2026-11-21T05:47:09Z completed a in 1.50s: /o/a.png (cached) after 2 attempts\n",
	       "completed: said with the first output");
	free(s);
	IS_INT(t->state, FM_TALLY_COMPLETED, "completed");
	IS_INT(ta.cached, 1, "counted cached");
	OK(t->outputs && !strcmp(t->outputs, "/o/a.png") &&
	       !strcmp(t->outputs + strlen(t->outputs) + 1, "/o/b.png"),
	   "the string outputs are kept");
	IS_INT(feed(&ta, "{\"type\":\"failed\",\"task_id\":\"a\"}", NULL), FM_TALLY_NOTHING,
	       "a second end changes nothing");
	IS_INT(feed(&ta, "{\"type\":\"started\",\"task_id\":\"a\"}", NULL), FM_TALLY_NOTHING,
	       "nor does a late start");
	IS_INT(t->state, FM_TALLY_COMPLETED, "still completed");

	feed(&ta, "{\"type\":\"heartbeat\",\"task_id\":\"b\",\"timestamp\":\"x\"}", &ev);
	t = task(&ta, "b");
	OK(t && t->state == FM_TALLY_RUNNING && ev.changed, "a heartbeat starts a pending task");
	s = said(&ta, "{\"type\":\"failed\",\"task_id\":\"b\",\"error\":{\"code\":\"X\\u001b\","
		      "\"message\":\"bad\\nthing\"}}");
	OK(strstr(s, " failed b: X\xef\xbf\xbd: bad thing\n") != NULL,
	   "failed: code and message made safe (%s)", s);
	free(s);
	feed(&ta, "{\"type\":\"cancelled\",\"task_id\":\"c\"}", NULL);
	IS_STR(task(&ta, "c")->code, "TASK_CANCELLED", "a cancel without a code");
	feed(&ta, "{\"type\":\"log\",\"task_id\":\"d\",\"message\":\"hello there, world\"}", NULL);
	IS_INT(task(&ta, "d")->state, FM_TALLY_PENDING, "a log line makes a task, pending");
	fm_tally_claimed(&ta, "d", 3);
	feed(&ta, "{\"type\":\"started\",\"task_id\":\"d\",\"attempt\":1}", NULL);
	IS_INT(task(&ta, "d")->attempt, 3, "a retake by the spool counts from its claim");

	IS_INT(fm_tally_verdict(&ta), FM_OUTCOME_TASK_FAILED, "a failure is the verdict");
	ta.interrupted = 1;
	IS_INT(fm_tally_verdict(&ta), FM_OUTCOME_INTERRUPTED, "unless interrupted");
	fm_tally_release(&ta);
}

/* The fast path takes only lines in filmeto-run's own shape; json-c reads the rest. */
static void fast(void)
{
	static const char *const shapes[] = {
	    "{\"type\":\"heartbeat\",\"task_id\":\"scene1-image\",\"timestamp\":\"now\"}",
	    "{\"task_id\":\"scene1-image\",\"type\":\"heartbeat\",\"timestamp\":\"now\"}",
	    "{\"type\":\"heartbeat\",\"task_id\":\"scene1-image\"  ,\"timestamp\":\"now\"}",
	};
	static const char nul[] =
	    "{\"type\":\"heartbeat\",\"task_id\":\"x\0y\",\"timestamp\":\"now\"}";
	struct fm_tally ta;
	struct fm_tally_event ev;
	char line[300];
	size_t i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		fm_tally_init(&ta);
		feed(&ta, shapes[i], &ev);
		OK(ev.task && !strcmp(ev.task->id, "scene1-image") &&
		       ev.task->state == FM_TALLY_RUNNING,
		   "heartbeat shape %zu: the task runs", i);
		fm_tally_release(&ta);
	}
	fm_tally_init(&ta);
	fm_tally_line(&ta, nul, sizeof(nul) - 1, &ev);
	OK(ta.tasks.count == 0 || (ev.task && strlen(ev.task->id) == 1),
	   "a NUL inside an id never makes an id with a NUL in it");
	snprintf(line, sizeof(line), "{\"type\":\"heartbeat\",\"task_id\":\"%0129d\",\"t\":1}", 0);
	feed(&ta, line, &ev);
	OK(ev.task == NULL, "an id over FM_ID_MAX is no id");
	snprintf(line, sizeof(line), "{\"type\":\"heartbeat\",\"task_id\":\"%0128d\",\"t\":1}", 0);
	feed(&ta, line, &ev);
	OK(ev.task && strlen(ev.task->id) == FM_ID_MAX, "one of FM_ID_MAX is");
	feed(&ta, "{\"type\":\"heartbeat\",\"task_id\":\"-rf\",\"timestamp\":\"now-now-now\"}",
	     &ev);
	OK(ev.task == NULL, "nor one that starts with '-'");
	fm_tally_release(&ta);
}

static void summaries(void)
{
	static const struct fm_tally_colors colors = {"<g>", "<r>", "</>"};
	struct fm_tally ta;
	struct fm_buf b = FM_BUF_INIT;
	json_object *o;
	char line[200];
	int i;

	fm_tally_init(&ta);
	feed(&ta, "{\"type\":\"task\",\"task_id\":\"a\",\"tool_name\":\"t<&>\"}", NULL);
	feed(&ta, "{\"type\":\"completed\",\"task_id\":\"a\",\"output_files\":[\"/o/a\"]}", NULL);
	feed(&ta,
	     "{\"type\":\"failed\",\"task_id\":\"b\",\"error\":{\"code\":\"E\",\"message\":"
	     "\"m\\\"<\"}}",
	     NULL);
	feed(&ta, "{\"type\":\"started\",\"task_id\":\"c\"}", NULL);
	fm_tally_summary(&ta, 1.25, "w: ", &colors, &b);
	IS_STR(fm_buf_str(&b),
	       "w: output /o/a\n"
	       "w: <r>failed</> b: E: m\"<\n"
	       "w: task 'c' did not finish: the stream ended first\n"
	       "w: 3 tasks: 1 completed, 1 failed, 0 cancelled, 1 unfinished; 0 cached; "
	       "wall time 1.2s\n",
	       "the summary");
	b.len = 0;
	fm_tally_summary_json(&ta, 1.25, 1, &b);
	OK(fm_json_parse(b.s, b.len, &o, NULL) == 0, "the JSON summary is JSON");
	json_object_put(o);
	IS_STR(fm_buf_str(&b),
	       "{\"tasks\":3,\"completed\":1,\"failed\":1,\"cancelled\":0,\"cached\":0,"
	       "\"unfinished\":1,\"wall_time\":1.250,\"outputs\":[\"/o/a\"],\"failures\":[{"
	       "\"task_id\":\"b\",\"status\":\"failed\",\"code\":\"E\",\"message\":\"m\\\"<\"}],"
	       "\"unfinished_tasks\":[\"c\"],\"exit_status\":1}\n",
	       "one line, with every count and list");
	b.len = 0;
	fm_tally_junit(&ta, 1.25, &b);
	HAS(fm_buf_str(&b), "tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"0\" time=\"1.250\"",
	    "JUnit: the counts");
	HAS(fm_buf_str(&b), "<testcase name=\"a\" classname=\"filmeto.t&lt;&amp;&gt;\"",
	    "JUnit: names escaped");
	HAS(fm_buf_str(&b), "<failure message=\"E: m&quot;&lt;\" type=\"E\">m&quot;&lt;</failure>",
	    "JUnit: a failure");
	HAS(fm_buf_str(&b), "type=\"UNFINISHED\"", "JUnit: an unfinished task is an error");
	fm_tally_release(&ta);

	fm_tally_init(&ta);
	for (i = 0; i < FM_TALLY_LIST_MAX + 3; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"started\",\"task_id\":\"t%d\"}", i);
		feed(&ta, line, NULL);
	}
	ta.interrupted = 1;
	b.len = 0;
	fm_tally_summary(&ta, 0, "", NULL, &b);
	HAS(fm_buf_str(&b), "task 't0' did not finish: interrupted\n", "interrupted, it says so");
	HAS(fm_buf_str(&b), "\nand 3 more tasks did not finish\n", "a long list is cut");
	IS_INT(fm_tally_verdict(&ta), FM_OUTCOME_INTERRUPTED, "the verdict: stopped");
	ta.interrupted = 0;
	IS_INT(fm_tally_verdict(&ta), FM_OUTCOME_UNFINISHED, "else unfinished");
	fm_tally_release(&ta);

	fm_tally_init(&ta);
	IS_INT(fm_tally_verdict(&ta), FM_OUTCOME_EMPTY, "no tasks: empty, which watch says");
	b.len = 0;
	fm_tally_summary(&ta, 0, "", NULL, &b);
	IS_STR(fm_buf_str(&b),
	       "0 tasks: 0 completed, 0 failed, 0 cancelled; 0 cached; wall time 0.0s\n",
	       "an empty summary");
	fm_tally_release(&ta);
	fm_buf_release(&b);
}

/* Plan lines: the total known from the start, the percent never ahead of the tasks. */
static void plans(void)
{
	static const char *const bad[] = {
	    "{\"type\":\"plan\",\"tasks\":-1}",
	    "{\"type\":\"plan\",\"tasks\":1.5}",
	    "{\"type\":\"plan\",\"tasks\":\"17\"}",
	    "{\"type\":\"plan\",\"tasks\":1000001}",
	    "{\"type\":\"plan\",\"tasks\":99999999999999999999}",
	    "{\"type\":\"plan\"}",
	};
	struct fm_tally_progress pr;
	struct fm_buf b = FM_BUF_INIT;
	struct fm_tally ta;
	char line[200];
	size_t i;

	fm_tally_init(&ta);
	ta.notes = 1; /* as on a terminal: progress lines are read for their percent */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		feed(&ta, bad[i], NULL);
	OK(ta.plans == 0 && ta.planned == 0, "a plan line with a bad count is no plan line");
	feed(&ta, "{\"type\":\"started\",\"task_id\":\"a\"}", NULL);
	feed(&ta, "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":99.9}", NULL);
	fm_tally_progress(&ta, &pr);
	IS_INT(pr.percent, 99, "no plan: 99.9%% is 99%%, not 100");
	OK(pr.total == 1 && pr.ended == 0, "no plan: the tasks seen are the total");
	feed(&ta, "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":100}", NULL);
	fm_tally_progress(&ta, &pr);
	OK(pr.percent == 99 && pr.fraction < 1, "a running task at 100%% is not the end");
	fm_tally_release(&ta);

	fm_tally_init(&ta);
	ta.notes = 1; /* as on a terminal: progress lines are read for their percent */
	feed(&ta, "{\"type\":\"plan\",\"tasks\":10,\"film_task_id\":\"film\"}", NULL);
	feed(&ta, "{\"type\":\"plan\",\"tasks\":7}", NULL);
	OK(ta.plans == 2 && ta.planned == 17, "plan lines add up");
	for (i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"completed\",\"task_id\":\"t%zu\"}", i);
		feed(&ta, line, NULL);
	}
	fm_tally_progress(&ta, &pr);
	OK(pr.total == 17 && pr.ended == 3, "3 of 17 tasks done");
	IS_INT(pr.percent, 17, "3 of 17: 17%%, the tasks not seen yet count");
	fm_tally_summary(&ta, 0, "", NULL, &b);
	HAS(fm_buf_str(&b), "3 tasks (17 planned): 3 completed,",
	    "the summary says how many were planned");
	b.len = 0;
	fm_tally_summary_json(&ta, 0, 3, &b);
	HAS(fm_buf_str(&b), "{\"tasks\":3,\"planned\":17,\"completed\":3,",
	    "so does the JSON summary");
	for (i = 3; i < 16; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"completed\",\"task_id\":\"t%zu\"}", i);
		feed(&ta, line, NULL);
	}
	feed(&ta,
	     "{\"type\":\"task\",\"task_id\":\"film\",\"resources\":[{\"type\":\"task_output\","
	     "\"data\":\"t0\"}]}",
	     NULL);
	feed(&ta, "{\"type\":\"progress\",\"task_id\":\"film\",\"percent\":93}", NULL);
	fm_tally_progress(&ta, &pr);
	OK(pr.percent == 99 && pr.total == 17 && pr.ended == 16,
	   "all but the film done, the film at 93%%: 99%%, not 100");
	feed(&ta, "{\"type\":\"completed\",\"task_id\":\"film\"}", NULL);
	fm_tally_progress(&ta, &pr);
	OK(pr.percent == 100 && pr.fraction == 1, "every task ended: 100%%");
	b.len = 0;
	fm_tally_summary(&ta, 0, "", NULL, &b);
	HAS(fm_buf_str(&b), "17 tasks: 17 completed,", "the plan done: the summary as before");
	feed(&ta, "{\"type\":\"plan\",\"tasks\":1000000}", NULL);
	IS_INT(ta.planned, FM_TALLY_PLANNED_MAX, "the plans' total stops at its limit");
	fm_tally_release(&ta);
	fm_buf_release(&b);
}

/* The summary on a terminal of cols columns: paths cut from the left, the rest wrapped. */
static void fitted(void)
{
	struct fm_buf b = FM_BUF_INIT;
	struct fm_tally ta;

	fm_tally_init(&ta);
	ta.cols = 30;
	feed(&ta, "{\"type\":\"task\",\"task_id\":\"film\",\"tool_name\":\"combine\"}", NULL);
	feed(&ta,
	     "{\"type\":\"completed\",\"task_id\":\"film\",\"tool_name\":\"combine\","
	     "\"output_files\":[\"/home/someone/a-long-directory/hello.mp4\"]}",
	     NULL);
	feed(&ta,
	     "{\"type\":\"failed\",\"task_id\":\"b\",\"error\":{\"code\":\"E\",\"message\":"
	     "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
	     "one two three\"}}",
	     NULL);
	fm_tally_summary(&ta, 1, "w: ", NULL, &b);
	IS_STR(fm_buf_str(&b),
	       "w: film \xe2\x80\xa6/hello.mp4\n"
	       "w: output \xe2\x80\xa6/hello.mp4\n"
	       "w: failed b: E: \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
	       "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\n"
	       "  one two three\n"
	       "w: 2 tasks: 1 completed, 1\n"
	       "  failed, 0 cancelled; 0\n"
	       "  cached; wall time 1.0s\n",
	       "on a terminal: paths keep their name, a failure and the counts wrap at spaces");
	b.len = 0;
	ta.cols = 4;
	fm_tally_summary(&ta, 1, "", NULL, &b);
	HAS(fm_buf_str(&b), "\n  \xe6\x97\xa5\n  \xe6\x9c\xac\n",
	    "a wide character that fits no line goes whole on its own");
	fm_tally_release(&ta);
	fm_buf_release(&b);
}

void test_tally(void)
{
	lines();
	fast();
	summaries();
	plans();
	fitted();
}
