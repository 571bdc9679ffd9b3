/*
 * Checking and ordering a plan (plan.c): the problems' texts and order,
 * and the queue order, held against the two walks filmeto-submit made
 * before the plan had a module of its own (kept below as the reference)
 * on many random plans; one task checked against its manifest; and the
 * number arguments of the commands (util.h), which submit's and run's
 * options go through.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "tap.h"

/* --- the reference: submit's check_plan and queue_order as they were ------ */

static int ref_find_cycle(json_object *byid, const char *id, json_object *state, char **path)
{
	json_object *st, *t = json_object_object_get(byid, id), *list;
	size_t i;
	int found = 0;

	if (json_object_object_get_ex(state, id, &st))
		return json_object_get_int(st) == 1;
	json_object_object_add(state, id, json_object_new_int(1));
	list = fm_task_needs(t);
	for (i = 0; !found && i < json_object_array_length(list); i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(list, i));

		if (json_object_object_get_ex(byid, d, NULL) &&
		    ref_find_cycle(byid, d, state, path)) {
			char *p = fm_xasprintf("%s -> %s", d, *path ? *path : id);

			free(*path);
			*path = p;
			found = 1;
		}
	}
	json_object_put(list);
	json_object_object_add(state, id, json_object_new_int(found ? 1 : 2));
	return found;
}

static void ref_check_plan(json_object *tasks, int whole, json_object *problems)
{
	json_object *byid = json_object_new_object(), *state = json_object_new_object();
	size_t i, n = json_object_array_length(tasks);

	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tasks, i);
		const char *id = fm_json_get_string(t, "task_id");

		if (!id)
			continue;
		if (json_object_object_get_ex(byid, id, NULL))
			fm_problem(problems, "task '%s': the id is used twice (rule: unique ids)",
				   id);
		json_object_object_add(byid, id, json_object_get(t));
	}
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tasks, i), *list = fm_task_needs(t);
		const char *id = fm_json_get_string(t, "task_id");
		size_t k;
		char *path = NULL;

		for (k = 0; id && k < json_object_array_length(list); k++) {
			const char *d = json_object_get_string(json_object_array_get_idx(list, k));

			if (whole && !json_object_object_get_ex(byid, d, NULL))
				fm_problem(
				    problems,
				    "task '%s': depends on task '%s', which is not in the plan "
				    "(rule: known ids)",
				    id, d);
		}
		json_object_put(list);
		if (id && ref_find_cycle(byid, id, state, &path) && path) {
			fm_problem(problems, "task '%s': dependency cycle %s (rule: no cycles)", id,
				   path);
			json_object_object_foreach (state, k2, v2) {
				(void)v2;
				json_object_object_add(state, k2, json_object_new_int(2));
			}
		}
		free(path);
	}
	json_object_put(byid);
	json_object_put(state);
}

/* Rounds over the tasks, each taking what is ready: the ids in queue order. */
static json_object *ref_queue_order(json_object *tasks)
{
	size_t n = json_object_array_length(tasks), done = 0, i, k;
	json_object *order = json_object_new_array(), *placed = json_object_new_object(),
		    *pending = json_object_new_object();
	char *taken = fm_xcalloc(n ? n : 1, 1);

	for (i = 0; i < n; i++)
		json_object_object_add(
		    pending, fm_json_get_string(json_object_array_get_idx(tasks, i), "task_id"),
		    NULL);
	while (done < n) {
		size_t before = done;

		for (i = 0; i < n; i++) {
			json_object *t = json_object_array_get_idx(tasks, i), *list;
			int ready = 1;

			if (taken[i])
				continue;
			list = fm_task_needs(t);
			for (k = 0; ready && k < json_object_array_length(list); k++) {
				const char *d =
				    json_object_get_string(json_object_array_get_idx(list, k));

				ready = !json_object_object_get_ex(pending, d, NULL) ||
					json_object_object_get_ex(placed, d, NULL);
			}
			json_object_put(list);
			if (!ready)
				continue;
			taken[i] = 1;
			done++;
			json_object_array_add(
			    order, json_object_new_string(fm_json_get_string(t, "task_id")));
			json_object_object_add(placed, fm_json_get_string(t, "task_id"), NULL);
		}
		if (done == before)
			break;
	}
	free(taken);
	json_object_put(placed);
	json_object_put(pending);
	return order;
}

/* --- plans ----------------------------------------------------------------- */

/* A task {"task_id", "depends_on", "resources":[task_output...]}. */
static json_object *task(const char *id, const char *deps, const char *outputs)
{
	json_object *t = json_object_new_object(), *d = json_object_new_array(),
		    *r = json_object_new_array();
	char *copy, *p, *save = NULL;

	if (id)
		json_object_object_add(t, "task_id", json_object_new_string(id));
	copy = fm_xstrdup(deps);
	for (p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save))
		json_object_array_add(d, json_object_new_string(p));
	free(copy);
	copy = fm_xstrdup(outputs);
	for (p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("task_output"));
		json_object_object_add(o, "data", json_object_new_string(p));
		json_object_array_add(r, o);
	}
	free(copy);
	json_object_object_add(t, "depends_on", d);
	json_object_object_add(t, "resources", r);
	return t;
}

static json_object *messages(json_object *problems)
{
	json_object *m = json_object_new_array();
	size_t i;

	for (i = 0; i < json_object_array_length(problems); i++)
		json_object_array_add(m, json_object_new_string(fm_json_get_string(
					     json_object_array_get_idx(problems, i), "message")));
	return m;
}

/* The plan's problems (their messages) and its order (ids), as JSON text. */
static char *plan_of(json_object *tasks, int whole, int *rc)
{
	json_object *problems = json_object_new_array(), *ids = json_object_new_array(), *m;
	struct fm_plan p;
	size_t i;
	char *out;

	fm_plan_init(&p);
	for (i = 0; i < json_object_array_length(tasks); i++)
		fm_plan_add_task(&p, json_object_array_get_idx(tasks, i));
	*rc = fm_plan_check(&p, whole, problems);
	for (i = 0; i < p.n; i++) {
		const char *id = fm_plan_task(&p, p.order[i])->id;

		json_object_array_add(ids, id ? json_object_new_string(id) : NULL);
	}
	m = messages(problems);
	out = fm_xasprintf("%s %s", fm_json_str(m), fm_json_str(ids));
	json_object_put(m);
	json_object_put(ids);
	json_object_put(problems);
	fm_plan_release(&p);
	return out;
}

static char *reference_of(json_object *tasks, int whole)
{
	json_object *problems = json_object_new_array(), *m, *order = NULL;
	char *out;

	ref_check_plan(tasks, whole, problems);
	m = messages(problems);
	/* The old order was only ever asked of a plan without problems. */
	if (!json_object_array_length(problems))
		order = ref_queue_order(tasks);
	out = fm_xasprintf("%s %s", fm_json_str(m), order ? fm_json_str(order) : "");
	json_object_put(m);
	json_object_put(order);
	json_object_put(problems);
	return out;
}

static void test_plan_examples(void)
{
	json_object *tasks = json_object_new_array();
	int rc;
	char *got;

	/* storyboard.bats' bad.ndjson: a cycle, a ghost, an id twice. */
	json_object_array_add(tasks, task("c", "d", ""));
	json_object_array_add(tasks, task("d", "c", ""));
	json_object_array_add(tasks, task("e", "ghost", ""));
	json_object_array_add(tasks, task("e", "", ""));
	got = plan_of(tasks, 1, &rc);
	IS_INT(rc, -1, "plan: problems make -1");
	IS_STR(got,
	       "[\"task 'e': the id is used twice (rule: unique ids)\","
	       "\"task 'c': dependency cycle d -> c -> d (rule: no cycles)\","
	       "\"task 'e': depends on task 'ghost', which is not in the plan (rule: known ids)\"] "
	       "[\"c\",\"d\",\"e\",\"e\"]",
	       "plan: twice first, then task by task: unknown ids and a cycle");
	free(got);
	json_object_put(tasks);

	/* The order of rounds: what waits on a later task goes after the round. */
	tasks = json_object_new_array();
	json_object_array_add(tasks, task("b", "a", ""));
	json_object_array_add(tasks, task("c", "", ""));
	json_object_array_add(tasks, task("a", "", ""));
	json_object_array_add(tasks, task("d", "c", "b#0"));
	got = plan_of(tasks, 1, &rc);
	IS_INT(rc, 0, "plan: a whole plan without problems is 0");
	IS_STR(got, "[] [\"c\",\"a\",\"b\",\"d\"]", "plan: the queue order of rounds");
	free(got);
	/* Not whole: what it needs outside is no problem, and waits for nothing. */
	json_object_array_add(tasks, task("f", "elsewhere", "out#2"));
	got = plan_of(tasks, 0, &rc);
	IS_STR(got, "[] [\"c\",\"a\",\"f\",\"b\",\"d\"]", "plan: needs outside, when allowed");
	free(got);
	json_object_put(tasks);

	/* A task waiting on itself, and a cycle reached from outside it. */
	tasks = json_object_new_array();
	json_object_array_add(tasks, task("self", "", "self#0"));
	json_object_array_add(tasks, task("x", "c", ""));
	json_object_array_add(tasks, task("c", "d", ""));
	json_object_array_add(tasks, task("d", "c", ""));
	json_object_array_add(tasks, task(NULL, "x", ""));
	got = plan_of(tasks, 1, &rc);
	IS_STR(got,
	       "[\"task 'self': dependency cycle self -> self (rule: no cycles)\","
	       "\"task 'x': dependency cycle c -> d -> c -> d (rule: no cycles)\"] "
	       "[\"self\",\"x\",\"c\",\"d\",null]",
	       "plan: cycles said as the recursive walk said them, once each");
	free(got);
	json_object_put(tasks);
}

static unsigned long rng = 88172645463325252UL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Random plans: ids from a small set (so some twice), needs in and out. */
static json_object *random_plan(unsigned ntasks, unsigned nids, int acyclic)
{
	json_object *tasks = json_object_new_array();
	unsigned i, k;

	for (i = 0; i < ntasks; i++) {
		char id[16], deps[256] = "", outs[256] = "";
		unsigned me = acyclic ? i : rnd(nids), nd = rnd(4);

		snprintf(id, sizeof(id), "t%u", me);
		for (k = 0; k < nd; k++) {
			size_t dl = strlen(deps), ol = strlen(outs);
			/* acyclic: only tasks of a lower number, or ids outside the plan */
			unsigned to = acyclic ? (me ? rnd(me) : 0) : rnd(nids + 2);
			const char *pre = acyclic && (!me || !rnd(5)) ? "out" : "t";

			if (rnd(2))
				snprintf(deps + dl, sizeof(deps) - dl, "%s%s%u", dl ? " " : "", pre,
					 to);
			else
				snprintf(outs + ol, sizeof(outs) - ol, "%s%s%u#%u", ol ? " " : "",
					 pre, to, rnd(3));
		}
		json_object_array_add(tasks, task(id, deps, outs));
	}
	/* Shuffled, so tasks often come before what they need. */
	for (i = ntasks; acyclic && i > 1; i--) {
		unsigned j = rnd(i);
		json_object *a = json_object_get(json_object_array_get_idx(tasks, i - 1));
		json_object *b = json_object_get(json_object_array_get_idx(tasks, j));

		json_object_array_put_idx(tasks, i - 1, b);
		json_object_array_put_idx(tasks, j, a);
	}
	return tasks;
}

static void test_plan_random(void)
{
	int i, same = 0, ordered = 0, shown = 0, rc, total = 600;

	for (i = 0; i < total; i++) {
		int acyclic = i % 2, whole = (i / 2) % 2;
		json_object *tasks = random_plan(1 + rnd(acyclic ? 30 : 12), 8, acyclic);
		char *want = reference_of(tasks, whole), *got = plan_of(tasks, whole, &rc);
		size_t wl = strlen(want);

		/* Where the reference gave no order (problems), only the problems count. */
		if (want[wl - 1] == ' ' ? !strncmp(got, want, wl) : !strcmp(got, want)) {
			same++;
			ordered += want[wl - 1] != ' ';
		} else if (!shown++) {
			tap_diag("plan %d: %s\n#   got:  %s\n#   want: %s", i, fm_json_str(tasks),
				 got, want);
		}
		free(want);
		free(got);
		json_object_put(tasks);
	}
	IS_INT(same, total, "plan: the reference's problems and order on %d random plans", total);
	OK(ordered > total / 4, "plan: %d of them ordered", ordered);
}

/* A chain a million tasks long would take a million C frames to walk by recursion. */
static void test_plan_deep(void)
{
	struct fm_plan p;
	json_object *problems = json_object_new_array();
	size_t i, n = 200000, in_order = 1;
	char id[32], dep[32];

	fm_plan_init(&p);
	for (i = 0; i < n; i++) {
		json_object *needs = json_object_new_array();

		snprintf(id, sizeof(id), "t%zu", i);
		snprintf(dep, sizeof(dep), "t%zu", i + 1);
		if (i + 1 < n)
			json_object_array_add(needs, json_object_new_string(dep));
		fm_plan_add(&p, id, needs);
	}
	IS_INT(fm_plan_check(&p, 1, problems), 0, "plan: a chain of %zu tasks checks", n);
	for (i = 0; i < n; i++)
		in_order &= p.order[i] == n - 1 - i;
	OK(in_order, "plan: a chain given backwards is queued the other way round");
	OK(fm_plan_has(&p, "t0") && !fm_plan_has(&p, "t-1") && !fm_plan_has(&p, NULL),
	   "plan: has the ids it holds");
	fm_plan_release(&p);
	json_object_put(problems);
}

/* --- one task against its manifest -------------------------------------- */

static void test_plan_check_task(void)
{
	json_object *problems = json_object_new_array(), *values = json_object_new_object(), *t;
	struct fm_plugins plugins = {0};
	struct fm_config config;
	struct fm_plan_rules r = {&plugins, &config, values, NULL, NULL, 0};
	json_object *m;

	memset(&config, 0, sizeof(config));
	if (parse_json("{\"type\":\"task\",\"task_id\":\"film\",\"tool_name\":\"combine\"}", &t) <
	    0) {
		OK(0, "check task: the fixture parses");
		return;
	}
	json_object_object_add(values, "fps", json_object_new_string("x"));
	fm_plan_check_task(&r, t, 1, problems);
	m = messages(problems);
	HAS(fm_json_str(m), "task 'film': parameter 'fps'",
	    "check task: a value typed by the built-in combine's manifest");
	OK(!fm_json_get_string(t, "plugin_name"), "check task: combine stays built in");
	json_object_put(m);
	json_object_put(t);
	json_object_put(problems);
	problems = json_object_new_array();
	if (parse_json("{\"task_id\":\"-x\",\"tool_name\":\"combine\"}", &t) == 0) {
		fm_plan_check_task(&r, t, 0, problems);
		m = messages(problems);
		IS_STR(fm_json_str(m),
		       "[\"task '?': task_id: '-x' is not 1-128 characters of A-Z a-z 0-9 . _ - "
		       "(not starting with . or -)\"]",
		       "check task: a task that is no task is said once");
		json_object_put(m);
		json_object_put(t);
	}
	json_object_put(problems);
	json_object_put(values);
}

/* --- the commands' number arguments ---------------------------------------- */

static void test_args(void)
{
	struct fm_error e = FM_ERROR_INIT;
	long l = 0;
	double d = 0;

	OK(fm_arg_long("-j", "8", 1, 4096, "a number of jobs", &l, &e) == 0 && l == 8,
	   "args: a whole number in range");
	OK(fm_arg_long("-j", "4097", 1, 4096, "a number of jobs", &l, &e) < 0 && l == 8,
	   "args: over the range, *out untouched");
	IS_STR(e.message, "-j: '4097' is not a number of jobs from 1 to 4096",
	       "args: the message run -j has always said");
	OK(e.code == FM_VALIDATION_ERROR, "args: a VALIDATION_ERROR");
	OK(fm_arg_long("-j", "", 1, 9, "n", &l, &e) < 0 &&
	       fm_arg_long("-j", "3x", 1, 9, "n", &l, &e) < 0 &&
	       fm_arg_long("-j", "0", 1, 9, "n", &l, &e) < 0,
	   "args: empty, trailing text and below the range are refused");
	OK(fm_arg_long("-n", "99999999999999999999999", LONG_MIN, LONG_MAX, "n", &l, &e) < 0,
	   "args: out of a long's range is refused at any bounds");
	OK(fm_arg_seconds("--grace", "0", 1, &d, &e) == 0 && d == 0,
	   "args: 0 seconds when allowed");
	OK(fm_arg_seconds("--queue-timeout", "0", 0, &d, &e) < 0, "args: 0 seconds when not");
	IS_STR(e.message, "--queue-timeout: '0' is not a positive number of seconds",
	       "args: the seconds message, positive");
	OK(fm_arg_seconds("--grace", "nan", 1, &d, &e) < 0, "args: nan is no number of seconds");
	IS_STR(e.message, "--grace: 'nan' is not a number of seconds", "args: the seconds message");
	OK(fm_arg_seconds("--grace", "1.5", 0, &d, &e) == 0 && d == 1.5, "args: 1.5 seconds");
	OK(fm_arg_positive("--fps", "24", &d, &e) == 0 && d == 24, "args: a positive number");
	OK(fm_arg_positive("--fps", "-1", &d, &e) < 0 &&
	       fm_arg_positive("--fps", "inf", &d, &e) < 0,
	   "args: negative and infinite are not");
	IS_STR(e.message, "--fps: not a positive number", "args: the message submit has said");
	fm_error_release(&e);

	OK(fm_id_char('a') && fm_id_char('Z') && fm_id_char('0') && fm_id_char('.') &&
	       fm_id_char('_') && fm_id_char('-'),
	   "ids: the characters of an id");
	OK(!fm_id_char(' ') && !fm_id_char('/') && !fm_id_char('#') && !fm_id_char(0xc3),
	   "ids: and not others");
}

void test_plan(void)
{
	test_plan_examples();
	test_plan_random();
	test_plan_deep();
	test_plan_check_task();
	test_args();
}
