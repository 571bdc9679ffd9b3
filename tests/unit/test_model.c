/*
 * The wire model (tasks, results, events) and JSON-RPC framing: round
 * trips through json-c, and the rejection of tasks and messages that break
 * a rule, each with a message that names the field.
 */
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "tap.h"

static int starts(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static const char full_task[] =
    "{\"type\":\"task\",\"task_id\":\"scene1-image\",\"tool_name\":\"text2image\","
    "\"plugin_name\":\"titlecard\",\"parameters\":{\"prompt\":\"a lighthouse at dusk\","
    "\"width\":1280,\"ratio\":1.5,\"tags\":[\"a\",\"b\"]},"
    "\"resources\":[{\"type\":\"local_path\",\"data\":\"/tmp/in.png\",\"mime_type\":\"image/png\","
    "\"metadata\":{}},{\"type\":\"task_output\",\"data\":\"scene0-image#0\"}],"
    "\"timeout\":300,\"depends_on\":[\"scene0-image\"],\"metadata\":{\"scene\":1},"
    "\"created_at\":\"2026-01-02T03:04:05.678Z\"}";

static void same_json(json_object *a, json_object *b, const char *name)
{
	int eq = json_object_equal(a, b);

	OK(eq, "task round trip: %s", name);
	if (!eq)
		tap_diag("  %s vs %s", fm_json_str(a), fm_json_str(b));
}

static void test_task_roundtrip(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_task t, t2;
	json_object *in, *out, *back;
	const char *s;

	if (parse_json(full_task, &in) < 0) {
		OK(0, "task: the fixture parses");
		return;
	}
	OK(fm_task_from_json(&t, in, &e) == 0, "task: a task with every field is read");
	if (e.message[0])
		tap_diag("%s", e.message);
	IS_STR(t.task_id, "scene1-image", "task: task_id");
	IS_STR(t.tool_name, "text2image", "task: tool_name");
	IS_STR(t.plugin_name, "titlecard", "task: plugin_name");
	IS_STR(t.created_at, "2026-01-02T03:04:05.678Z", "task: created_at");
	OK(t.timeout == 300, "task: timeout");
	IS_INT(json_object_array_length(t.resources), 2, "task: resources");

	out = fm_task_to_json(&t);
	s = fm_json_str(out);
	OK(parse_json(s, &back) == 0, "task: to_json gives parseable JSON");
	OK(starts(s, "{\"type\":\"task\","), "task: type comes first");
	OK(fm_task_from_json(&t2, back, &e) == 0, "task: to_json reads back");
	IS_STR(t2.task_id, t.task_id, "task round trip: task_id");
	IS_STR(t2.tool_name, t.tool_name, "task round trip: tool_name");
	IS_STR(t2.plugin_name, t.plugin_name, "task round trip: plugin_name");
	IS_STR(t2.created_at, t.created_at, "task round trip: created_at");
	OK(t2.timeout == 300, "task round trip: timeout");
	same_json(t2.parameters, json_object_object_get(in, "parameters"), "parameters");
	same_json(t2.resources, json_object_object_get(in, "resources"), "resources");
	same_json(t2.depends_on, json_object_object_get(in, "depends_on"), "depends_on");
	same_json(t2.metadata, json_object_object_get(in, "metadata"), "metadata");
	fm_task_release(&t2);
	json_object_put(back);
	json_object_put(out);
	fm_task_release(&t);
	OK(!t.task_id && !t.parameters, "task: release empties the task");
	json_object_put(in);

	/* A minimal task gets empty containers and no timeout. */
	if (parse_json("{\"task_id\":\"t1\",\"tool_name\":\"text2text\"}", &in) == 0) {
		OK(fm_task_from_json(&t, in, &e) == 0, "task: task_id and tool_name are enough");
		OK(t.parameters && json_object_is_type(t.parameters, json_type_object) &&
		       t.resources && json_object_array_length(t.resources) == 0 && t.depends_on &&
		       t.metadata && t.timeout == 0 && !t.plugin_name && !t.created_at,
		   "task: missing fields get their defaults");
		out = fm_task_to_json(&t);
		OK(!json_object_object_get_ex(out, "timeout", NULL) &&
		       !json_object_object_get_ex(out, "plugin_name", NULL),
		   "task: to_json leaves out a zero timeout and a NULL plugin");
		json_object_put(out);
		fm_task_release(&t);
		json_object_put(in);
	}
	fm_error_release(&e);
}

/* The task must fail with VALIDATION_ERROR and a message containing field. */
static void bad_task(const char *text, const char *field, const char *want_id, const char *name)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_task t;
	json_object *o;
	int rc;

	if (parse_json(text, &o) < 0) {
		OK(0, "bad task: %s: the fixture parses", name);
		return;
	}
	rc = fm_task_from_json(&t, o, &e);
	OK(rc == -1 && e.code == FM_VALIDATION_ERROR && strstr(e.message, field),
	   "bad task: %s -> VALIDATION_ERROR naming '%s'", name, field);
	if (rc != -1 || !strstr(e.message, field))
		tap_diag("rc %d, message '%s'", rc, e.message);
	IS_STR(t.task_id, want_id, "bad task: %s: task_id kept for the report", name);
	fm_task_release(&t);
	json_object_put(o);
	fm_error_release(&e);
}

static void test_task_bad(void)
{
	bad_task("{\"tool_name\":\"text2image\"}", "task_id", NULL, "missing task_id");
	bad_task("{\"task_id\":\"../x\",\"tool_name\":\"text2image\"}", "task_id", NULL,
		 "task_id '../x'");
	bad_task("{\"task_id\":7,\"tool_name\":\"text2image\"}", "task_id", NULL,
		 "task_id not a string");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":5}", "tool_name", "t1", "tool_name a number");
	bad_task("{\"task_id\":\"t1\"}", "tool_name", "t1", "missing tool_name");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"\"}", "tool_name", "t1", "empty tool_name");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"resources\":[{\"type\":\"file\","
		 "\"data\":\"a\"}]}",
		 "resources[0].type", "t1", "resource of a bad type");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"resources\":[{\"type\":\"base64\"}]}",
		 "resources[0].data", "t1", "resource without data");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"resources\":[\"a.png\"]}",
		 "resources[0]", "t1", "resource not an object");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"resources\":{}}", "resources", "t1",
		 "resources not an array");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"timeout\":-1}", "timeout", "t1",
		 "negative timeout");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"timeout\":0}", "timeout", "t1",
		 "zero timeout");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"timeout\":\"60\"}", "timeout", "t1",
		 "timeout a string");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"timeout\":1e9}", "timeout", "t1",
		 "timeout over a week");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"parameters\":[1]}", "parameters", "t1",
		 "parameters an array");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"depends_on\":[\"../y\"]}",
		 "depends_on[0]", "t1", "depends_on a bad id");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"metadata\":\"m\"}", "metadata", "t1",
		 "metadata a string");
	bad_task("{\"type\":\"progress\",\"task_id\":\"t1\",\"tool_name\":\"x\"}", "type", "t1",
		 "type progress");
	bad_task("[1]", "object", NULL, "not an object");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"resources\":[{\"type\":"
		 "\"task_output\",\"data\":\"up#x\"}]}",
		 "resources[0].data: 'up#x' is not ID or ID#N: N must be", "t1",
		 "task_output with a bad #N");
	bad_task("{\"task_id\":\"t1\",\"tool_name\":\"x\",\"resources\":[{\"type\":"
		 "\"task_output\",\"data\":\"../up\"}]}",
		 "resources[0].data: '../up' is not ID or ID#N: ID must be", "t1",
		 "task_output naming a bad id");
}

static void ref_ok(const char *text, const char *id, long output)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_task_ref r;

	OK(fm_task_ref_parse(text, &r, &e) == 0, "task ref: '%s' parses", text);
	IS_STR(r.id, id, "task ref: '%s' names task '%s'", text, id);
	IS_INT(r.output, output, "task ref: '%s' is output %ld", text, output);
	fm_error_release(&e);
}

static void ref_bad(const char *text, const char *why)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_task_ref r;

	OK(fm_task_ref_parse(text, &r, &e) < 0 && e.code == FM_VALIDATION_ERROR,
	   "task ref: '%.40s' is refused", text ? text : "(null)");
	HAS(e.message, why, "task ref: '%.40s' says why", text ? text : "(null)");
	IS_STR(r.id, "", "task ref: '%.40s' names no task", text ? text : "(null)");
	fm_error_release(&e);
}

static void test_task_ref(void)
{
	char id128[FM_ID_MAX + 1], long_id[FM_ID_MAX + 8], *many;
	struct fm_error e = FM_ERROR_INIT;
	json_object *t, *needs;

	memset(id128, 'a', FM_ID_MAX);
	id128[FM_ID_MAX] = '\0';
	snprintf(long_id, sizeof(long_id), "%sa#0", id128);
	ref_ok("scene1-image", "scene1-image", -1);
	ref_ok("scene1-image#0", "scene1-image", 0);
	ref_ok("a.b_c-d#12", "a.b_c-d", 12);
	ref_ok("x#0007", "x", 7);
	ref_ok("x#1000000", "x", FM_TASK_OUTPUT_MAX);
	ref_ok(id128, id128, -1);
	ref_bad("", "ID must be 1-128 characters of A-Z a-z 0-9 . _ -");
	ref_bad(NULL, "ID must be");
	ref_bad("#0", "'#0' is not ID or ID#N: ID must be");
	ref_bad("-x#0", "ID must be");
	ref_bad("a b", "ID must be");
	ref_bad(long_id, "ID must be");
	ref_bad("x#", "'x#' is not ID or ID#N: N must be a whole number from 0 to 1000000");
	ref_bad("x#-1", "N must be");
	ref_bad("x#+1", "N must be");
	ref_bad("x# 1", "N must be");
	ref_bad("x#1x", "N must be");
	ref_bad("x#1#2", "N must be");
	ref_bad("x#1000001", "N must be");
	ref_bad("x#99999999999999999999999999", "N must be");
	/* A reference of a megabyte is quoted only so far: the message stays a line. */
	many = fm_xmalloc(1 << 20);
	memset(many, 'z', (1 << 20) - 1);
	many[(1 << 20) - 1] = '\0';
	OK(fm_task_ref_parse(many, &(struct fm_task_ref){{0}, 0}, &e) < 0 &&
	       strlen(e.message) < 2 * FM_ID_MAX + 200,
	   "task ref: a huge one is quoted in part");
	free(many);
	fm_error_release(&e);

	/* What a task waits for: depends_on, then each task_output that parses. */
	if (parse_json("{\"depends_on\":[\"a\",5],\"resources\":[{\"type\":\"task_output\","
		       "\"data\":\"b#1\"},{\"type\":\"local_path\",\"data\":\"c\"},"
		       "{\"type\":\"task_output\",\"data\":\"bad id#0\"},"
		       "{\"type\":\"task_output\"},{\"type\":\"task_output\",\"data\":\"d\"}]}",
		       &t) < 0) {
		OK(0, "task needs: the fixture parses");
		return;
	}
	needs = fm_task_needs(t);
	IS_STR(fm_json_str(needs), "[\"a\",5,\"b\",\"d\"]",
	       "task needs: depends_on as given, then the ids of the references that parse");
	json_object_put(needs);
	json_object_put(t);
}

static void test_tasks_read(void)
{
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	char lines[] = "{\"task_id\":\"a\",\"type\":\"task\",\"tool_name\":\"x\"}\n\n"
		       "  \t\r\n{not json}\n{\"tool_name\":\"y\",\"type\":\"progress\"}\n[1]\n";
	char array[] = "[{\"task_id\":\"a\"}, 7]";

	fm_tasks_read(lines, strlen(lines), "in.ndjson", tasks, problems);
	IS_INT(json_object_array_length(tasks), 3, "tasks read: every JSON line is a task");
	IS_STR(fm_json_str(json_object_array_get_idx(tasks, 0)),
	       "{\"type\":\"task\",\"task_id\":\"a\",\"tool_name\":\"x\"}",
	       "tasks read: \"type\":\"task\" comes first");
	IS_STR(fm_json_str(json_object_array_get_idx(tasks, 1)),
	       "{\"type\":\"progress\",\"tool_name\":\"y\"}",
	       "tasks read: a type of its own stays, for the check to refuse");
	IS_STR(fm_json_str(json_object_array_get_idx(tasks, 2)), "[1]",
	       "tasks read: a value that is no object is kept as it is");
	IS_INT(json_object_array_length(problems), 1, "tasks read: one line is not JSON");
	/* Empty lines are not counted: the line numbers say which task line. */
	HAS(fm_json_get_string(json_object_array_get_idx(problems, 0), "message"),
	    "in.ndjson line 3: ", "tasks read: the problem names the file and the line");
	json_object_put(tasks);
	tasks = json_object_new_array();
	fm_tasks_read(array, strlen(array), "-", tasks, problems);
	IS_STR(fm_json_str(tasks), "[{\"type\":\"task\",\"task_id\":\"a\"},7]",
	       "tasks read: a JSON array of tasks");
	IS_INT(json_object_array_length(problems), 1, "tasks read: an array has no problem");
	json_object_put(tasks);
	json_object_put(problems);
}

static void test_resources(void)
{
	struct fm_error e = FM_ERROR_INIT;
	char *dir = tmp_dir(), *path = write_file(dir, "in.txt", "bytes");
	json_object *r, *task;

	OK(fm_url_like("https://example.com/a.png") && fm_url_like("git+ssh://host/x"),
	   "resources: URLs read as URLs");
	OK(!fm_url_like("a/b://c") && !fm_url_like("://x") && !fm_url_like("plain.png"),
	   "resources: paths do not");
	r = fm_resource_remote("https://example.com/a.png");
	IS_STR(fm_json_str(r),
	       "{\"type\":\"remote_url\",\"data\":\"https://example.com/a.png\",\"metadata\":{}}",
	       "resources: a remote_url resource");
	json_object_put(r);
	r = fm_resource_local(path);
	IS_STR(fm_json_get_string(r, "data"), path, "resources: a local path, absolute");
	IS_STR(fm_json_get_string(r, "mime_type"), "text/plain", "resources: its MIME type");
	json_object_put(r);
	OK(fm_resource_base64_file(path, 1024, &r, &e) == 0, "resources: a file inlined");
	IS_STR(fm_json_get_string(r, "data"), "Ynl0ZXM=", "resources: as base64");
	IS_STR(fm_json_get_string(r, "type"), "base64", "resources: of type base64");
	json_object_put(r);
	OK(fm_resource_base64_file(path, 4, &r, &e) < 0 && !r, "resources: over the limit, none");
	fm_error_release(&e);

	if (parse_json("{\"resources\":[{\"type\":\"local_path\",\"data\":\"rel/x.png\"},"
		       "{\"type\":\"local_path\",\"data\":\"/abs.png\"},"
		       "{\"type\":\"remote_url\",\"data\":\"rel\"}]}",
		       &task) == 0) {
		char *want = fm_abspath("rel/x.png");

		fm_task_absolute_paths(task);
		r = fm_json_get(task, "resources", json_type_array);
		IS_STR(fm_json_get_string(json_object_array_get_idx(r, 0), "data"), want,
		       "resources: a relative local path goes absolute");
		IS_STR(fm_json_get_string(json_object_array_get_idx(r, 1), "data"), "/abs.png",
		       "resources: an absolute one stays");
		IS_STR(fm_json_get_string(json_object_array_get_idx(r, 2), "data"), "rel",
		       "resources: other types stay");
		free(want);
		json_object_put(task);
	}
	rm_rf(dir);
	free(path);
	free(dir);
}

static void test_result(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_result r, r2;
	json_object *j, *back, *v;
	const char *s;

	fm_result_init(&r, "t1");
	r.status = FM_STATUS_ERROR;
	fm_error(&r.error, FM_TIMEOUT_ERROR, "took longer than %ds", 60);
	fm_error_detail(&r.error, "timeout", json_object_new_int(60));
	fm_result_add_file(&r, "/out/a.png");
	r.execution_time = 12.5;
	r.attempts = 2;
	json_object_object_add(r.metadata, "k", json_object_new_string("v"));
	j = fm_result_to_json(&r);
	s = fm_json_str(j);
	OK(starts(s, "{\"type\":\"failed\",\"task_id\":\"t1\",\"timestamp\":\""),
	   "result: an error is a failed event with type, task_id, timestamp first");
	IS_STR(fm_json_get_string(j, "status"), "error", "result: status error");
	OK(parse_json(s, &back) == 0, "result: to_json gives parseable JSON");
	memset(&r2, 0, sizeof(r2));
	OK(fm_result_from_json(&r2, back, &e) == 0, "result: from_json reads it back");
	IS_STR(r2.task_id, "t1", "result round trip: task_id");
	IS_INT(r2.status, FM_STATUS_ERROR, "result round trip: status");
	IS_INT(r2.error.code, FM_TIMEOUT_ERROR, "result round trip: error code");
	IS_STR(r2.error.message, "took longer than 60s", "result round trip: error message");
	OK(r2.error.details && json_object_object_get_ex(r2.error.details, "timeout", &v) &&
	       json_object_get_int(v) == 60,
	   "result round trip: error details");
	OK(json_object_equal(r2.output_files, r.output_files), "result round trip: output_files");
	OK(r2.execution_time == 12.5, "result round trip: execution_time");
	IS_INT(r2.attempts, 2, "result round trip: attempts");
	IS_STR(fm_json_get_string(r2.metadata, "k"), "v", "result round trip: metadata");
	fm_result_release(&r2);
	json_object_put(back);
	json_object_put(j);

	r.status = FM_STATUS_SUCCESS;
	j = fm_result_to_json(&r);
	IS_STR(fm_json_get_string(j, "type"), "completed", "result: success is a completed event");
	OK(!json_object_object_get_ex(j, "error", NULL), "result: success has no error member");
	memset(&r2, 0, sizeof(r2));
	OK(fm_result_from_json(&r2, j, &e) == 0 && r2.status == FM_STATUS_SUCCESS &&
	       r2.error.code == FM_OK,
	   "result: completed reads back as success");
	fm_result_release(&r2);
	json_object_put(j);

	r.status = FM_STATUS_CANCELLED;
	j = fm_result_to_json(&r);
	IS_STR(fm_json_get_string(j, "type"), "cancelled", "result: cancelled event");
	IS_STR(fm_json_get_string(j, "status"), "cancelled", "result: cancelled status");
	json_object_put(j);
	fm_result_release(&r);

	IS_STR(fm_status_event(FM_STATUS_ERROR), "failed", "result: fm_status_event");

	if (parse_json("{\"type\":\"progress\",\"task_id\":\"t1\"}", &j) == 0) {
		memset(&r2, 0, sizeof(r2));
		OK(fm_result_from_json(&r2, j, &e) < 0 && e.code == FM_VALIDATION_ERROR,
		   "result: a progress line is not a result");
		fm_result_release(&r2);
		json_object_put(j);
	}
	if (parse_json("{\"type\":\"completed\"}", &j) == 0) {
		memset(&r2, 0, sizeof(r2));
		OK(fm_result_from_json(&r2, j, &e) < 0, "result: a result needs a task_id");
		fm_result_release(&r2);
		json_object_put(j);
	}
	fm_error_release(&e);
}

static void test_model_misc(void)
{
	json_object *ev;

	OK(fm_resource_type_valid("local_path") && fm_resource_type_valid("remote_url") &&
	       fm_resource_type_valid("base64") && fm_resource_type_valid("task_output"),
	   "model: the four resource types are valid");
	OK(!fm_resource_type_valid("file") && !fm_resource_type_valid(NULL),
	   "model: other resource types are not");
	IS_STR(fm_mime_from_path("/a/b.PNG"), "image/png",
	       "model: mime from an upper-case extension");
	IS_STR(fm_mime_from_path("clip.mp4"), "video/mp4", "model: mime of mp4");
	IS_STR(fm_mime_from_path("dir.png/file"), "application/octet-stream",
	       "model: a dot in a directory name is not an extension");
	IS_STR(fm_media_kind("audio/wav"), "audio", "model: media kind of audio");
	IS_STR(fm_media_kind("application/json"), "file", "model: media kind of other types");
	ev = fm_event_new("heartbeat", "t9");
	OK(starts(fm_json_str(ev), "{\"type\":\"heartbeat\",\"task_id\":\"t9\",\"timestamp\":\""),
	   "model: an event has type, task_id and timestamp");
	json_object_put(ev);
}

/* Outputs are taken once each, also after output_files was changed behind the set. */
static void test_result_outputs(void)
{
	struct fm_error e = FM_ERROR_INIT;
	char dir[] = "/tmp/filmeto-unit-outXXXXXX", *a, *b;
	struct fm_result r;
	FILE *f;

	if (!mkdtemp(dir))
		return;
	a = fm_xasprintf("%s/a.png", dir);
	b = fm_xasprintf("%s/b.png", dir);
	f = fopen(a, "w");
	fclose(f);
	f = fopen(b, "w");
	fclose(f);
	fm_result_init(&r, "t");
	IS_INT(fm_result_add_output(&r, a, &e), 0, "outputs: one added");
	IS_INT(fm_result_add_output(&r, a, &e), 0, "outputs: the same again is no error");
	IS_INT(json_object_array_length(r.output_files), 1, "outputs: ... and is not listed twice");
	fm_result_add_file(&r, b);
	IS_INT(fm_result_add_output(&r, b, &e), 0, "outputs: one listed behind the set");
	IS_INT(json_object_array_length(r.output_files), 2, "outputs: ... is still seen");
	IS_INT(json_object_array_length(r.output_resources), 1, "outputs: one resource per add");
	OK(fm_result_add_output(&r, "/nonexistent/x.png", &e) < 0, "outputs: a missing file fails");
	fm_error_release(&e);
	fm_result_release(&r);
	unlink(a);
	unlink(b);
	rmdir(dir);
	free(a);
	free(b);
}

void test_model(void)
{
	test_task_roundtrip();
	test_task_bad();
	test_task_ref();
	test_tasks_read();
	test_resources();
	test_result();
	test_result_outputs();
	test_model_misc();
}

/* rpc.c */

static int rpc(const char *line, struct fm_rpc_msg *m, struct fm_error *e)
{
	return fm_rpc_parse(line, strlen(line), m, e);
}

static void rpc_bad(const char *line, const char *name)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_rpc_msg m;
	int rc = rpc(line, &m, &e);

	if (!OK(rc < 0 && e.code == FM_PLUGIN_EXECUTION_ERROR && e.message[0] && !m.root,
		"rpc: rejects %s", name))
		tap_diag("  rc %d: %s", rc, e.message);
	if (rc >= 0)
		fm_rpc_msg_release(&m);
	fm_error_release(&e);
}

static void test_rpc_parse(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_rpc_msg m;

	OK(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"execute_task\",\"params\":{\"task_id\":\"a\"},"
	       "\"id\":7}",
	       &m, &e) == 0 &&
	       m.kind == FM_RPC_REQUEST,
	   "rpc: a request");
	IS_STR(m.method, "execute_task", "rpc: request method");
	IS_STR(fm_json_get_string(m.params, "task_id"), "a", "rpc: request params");
	OK(fm_rpc_id_is(&m, 7) && !fm_rpc_id_is(&m, 8) && !fm_rpc_id_is(&m, -7),
	   "rpc: an integer id matches only itself");
	fm_rpc_msg_release(&m);
	OK(!m.root, "rpc: release clears the message");

	OK(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":{\"task_id\":\"a\","
	       "\"percent\":50}}",
	       &m, &e) == 0 &&
	       m.kind == FM_RPC_NOTIFICATION && !m.id && !fm_rpc_id_is(&m, 0),
	   "rpc: a notification has no id");
	IS_STR(m.method, "progress", "rpc: notification method");
	fm_rpc_msg_release(&m);

	OK(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"shutdown\"}", &m, &e) == 0 &&
	       m.kind == FM_RPC_NOTIFICATION && !m.params,
	   "rpc: a notification without params");
	fm_rpc_msg_release(&m);

	OK(rpc("{\"jsonrpc\":\"2.0\",\"result\":{\"status\":\"pong\"},\"id\":\"12\"}", &m, &e) ==
		   0 &&
	       m.kind == FM_RPC_RESULT,
	   "rpc: a result");
	IS_STR(fm_json_get_string(m.result, "status"), "pong", "rpc: result member");
	OK(fm_rpc_id_is(&m, 12) && !fm_rpc_id_is(&m, 1), "rpc: a string id matches its decimal");
	fm_rpc_msg_release(&m);

	OK(rpc("{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":3}", &m, &e) == 0 &&
	       m.kind == FM_RPC_RESULT && !m.result,
	   "rpc: a null result is still a result");
	fm_rpc_msg_release(&m);

	OK(rpc("{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":\"abc\"}", &m, &e) == 0 &&
	       !fm_rpc_id_is(&m, 0),
	   "rpc: a non-numeric string id matches nothing");
	fm_rpc_msg_release(&m);

	OK(rpc("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method not "
	       "found\",\"data\":{\"m\":\"x\"}},\"id\":3}",
	       &m, &e) == 0 &&
	       m.kind == FM_RPC_ERROR,
	   "rpc: an error response");
	IS_INT(m.error_code, FM_RPC_METHOD_NOT_FOUND, "rpc: error code");
	IS_STR(m.error_message, "Method not found", "rpc: error message");
	OK(m.error_data && fm_json_get_string(m.error_data, "m"), "rpc: error data");
	OK(fm_rpc_id_is(&m, 3), "rpc: error id");
	fm_rpc_msg_release(&m);

	OK(rpc("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse "
	       "error\"},\"id\":null}",
	       &m, &e) == 0 &&
	       m.kind == FM_RPC_ERROR && !m.id,
	   "rpc: an error with a null id");
	fm_rpc_msg_release(&m);

	rpc_bad("{\"method\":\"ping\",\"id\":1}", "a message without jsonrpc");
	rpc_bad("{\"jsonrpc\":\"1.0\",\"method\":\"ping\",\"id\":1}", "jsonrpc 1.0");
	rpc_bad("{\"jsonrpc\":2.0,\"method\":\"ping\",\"id\":1}", "jsonrpc as a number");
	rpc_bad(
	    "{\"jsonrpc\":\"2.0\",\"result\":{},\"error\":{\"code\":1,\"message\":\"x\"},\"id\":1}",
	    "both result and error");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"id\":1}", "neither result nor error nor method");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"result\":{}}", "a result without an id");
	rpc_bad("[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}]", "a batch (not an object)");
	rpc_bad("\"jsonrpc\"", "a string");
	rpc_bad("this is not json", "a line that is not JSON");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":{}}", "an object id");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1.5}", "a fractional id");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"method\":7,\"id\":1}", "a method that is not a string");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"p\"}",
		"params that are a string");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"error\":{\"message\":\"x\"},\"id\":1}",
		"an error without code");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"error\":\"boom\",\"id\":1}", "an error that is a string");
	rpc_bad("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1} {}", "trailing data");
	fm_error_release(&e);
}

static void test_rpc_build(void)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_rpc_msg m;
	json_object *o, *p;

	o = fm_rpc_request(5, "ping", NULL);
	IS_STR(fm_json_str(o), "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":5}",
	       "rpc: request builder");
	OK(rpc(fm_json_str(o), &m, &e) == 0 && m.kind == FM_RPC_REQUEST && fm_rpc_id_is(&m, 5) &&
	       !strcmp(m.method, "ping"),
	   "rpc: a built request parses back");
	fm_rpc_msg_release(&m);
	json_object_put(o);

	p = json_object_new_object();
	json_object_object_add(p, "task_id", json_object_new_string("t1"));
	o = fm_rpc_notification("cancel", p);
	OK(rpc(fm_json_str(o), &m, &e) == 0 && m.kind == FM_RPC_NOTIFICATION &&
	       !strcmp(m.method, "cancel") &&
	       !strcmp(fm_json_get_string(m.params, "task_id"), "t1"),
	   "rpc: a built notification parses back");
	fm_rpc_msg_release(&m);
	json_object_put(o);

	p = json_object_new_object();
	json_object_object_add(p, "status", json_object_new_string("pong"));
	o = fm_rpc_result(json_object_new_int(9), p);
	OK(rpc(fm_json_str(o), &m, &e) == 0 && m.kind == FM_RPC_RESULT && fm_rpc_id_is(&m, 9) &&
	       !strcmp(fm_json_get_string(m.result, "status"), "pong"),
	   "rpc: a built result parses back");
	fm_rpc_msg_release(&m);
	json_object_put(o);

	o = fm_rpc_result(NULL, NULL);
	OK(rpc(fm_json_str(o), &m, &e) == 0 && m.kind == FM_RPC_RESULT && !m.id,
	   "rpc: a result with a null id and no result parses back (%s)", fm_json_str(o));
	fm_rpc_msg_release(&m);
	json_object_put(o);

	o = fm_rpc_error(json_object_new_string("x1"), FM_RPC_INVALID_PARAMS, "bad \"params\"",
			 json_object_new_int(3));
	OK(rpc(fm_json_str(o), &m, &e) == 0 && m.kind == FM_RPC_ERROR &&
	       m.error_code == FM_RPC_INVALID_PARAMS &&
	       !strcmp(m.error_message, "bad \"params\"") &&
	       json_object_get_int(m.error_data) == 3 &&
	       !strcmp(json_object_get_string(m.id), "x1"),
	   "rpc: a built error parses back");
	fm_rpc_msg_release(&m);
	json_object_put(o);
	fm_error_release(&e);
}

void test_rpc(void)
{
	test_rpc_parse();
	test_rpc_build();
}
