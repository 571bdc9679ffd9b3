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

void test_model(void)
{
	test_task_roundtrip();
	test_task_bad();
	test_result();
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
