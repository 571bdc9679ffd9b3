/*
 * filmeto-serve's decisions before the spool (lib/serve_route.c): routes
 * and their path checks, the list's query, the task body, key files and
 * the Authorization header, --listen addresses.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "serve_route.h"
#include "tap.h"
#include "util.h"

static int route(enum fm_method m, const char *path, struct fm_route_match *rm)
{
	struct fm_error err = FM_ERROR_INIT;
	int code = fm_serve_route(m, path, rm, &err);

	fm_error_release(&err);
	return code;
}

static void test_routes(void)
{
	struct fm_route_match m;

	IS_INT(route(FM_METHOD_GET, "/health", &m), 0, "route: GET /health");
	IS_INT(m.route, FM_ROUTE_HEALTH, "route: /health is health");
	IS_INT(route(FM_METHOD_POST, "/api/v1/tasks", &m), 0, "route: POST tasks");
	IS_INT(route(FM_METHOD_DELETE, "/api/v1/tasks", &m), 405, "route: DELETE tasks is 405");
	IS_STR(m.allow_text, "GET, POST", "route: tasks allow GET and POST");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/scene1.v2", &m), 0, "route: a task id");
	IS_STR(m.id, "scene1.v2", "route: the id as given");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/sc%65ne", &m), 0, "route: an encoded id");
	IS_STR(m.id, "scene", "route: the id decoded");
	IS_INT(route(FM_METHOD_POST, "/api/v1/tasks/x", &m), 405, "route: POST a task is 405");
	IS_STR(m.allow_text, "GET, DELETE", "route: a task allows GET and DELETE");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/..", &m), 400, "route: .. is no id");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/%2e%2e", &m), 400, "route: %%2e%%2e is no id");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/a%2fb", &m), 400,
	       "route: an encoded / is no id");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/a%00", &m), 400, "route: an encoded NUL");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/a%4", &m), 400, "route: a cut escape");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/", &m), 400, "route: an empty id");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/a/b", &m), 404, "route: a deeper path");
	IS_INT(route(FM_METHOD_GET, "/api/v1/taskss", &m), 404, "route: a longer name");
	IS_INT(route(FM_METHOD_GET, "/nothere", &m), 404, "route: an unknown path");
	IS_INT(route(FM_METHOD_OTHER, "/api/v1/tools", &m), 405, "route: PUT tools is 405");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t%31/stream", &m), 0, "route: a stream");
	OK(m.route == FM_ROUTE_TASK_STREAM && !strcmp(m.id, "t1"), "route: the stream's id");
	IS_INT(route(FM_METHOD_DELETE, "/api/v1/tasks/t1/stream", &m), 405,
	       "route: DELETE a stream is 405");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/%2e%2e/stream", &m), 400,
	       "route: a stream of .. is 400");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/stream/x", &m), 404,
	       "route: deeper than a stream");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/12", &m), 0, "route: a file");
	OK(m.route == FM_ROUTE_TASK_FILE && m.file == 12 && !strcmp(m.id, "t1"),
	   "route: the file's id and number");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/%30", &m), 0,
	       "route: an encoded number");
	IS_INT(m.file, 0, "route: decoded");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/..", &m), 400, "route: file ..");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/%2e%2e", &m), 400,
	       "route: file %%2e%%2e");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/01", &m), 400, "route: a leading zero");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/-1", &m), 400, "route: negative");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/100000", &m), 400,
	       "route: past the most");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/", &m), 400, "route: no number");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files/1/x", &m), 404,
	       "route: deeper than a file");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/..%2f/files/0", &m), 400,
	       "route: a file of no task");
	IS_INT(route(FM_METHOD_GET, "/api/v1/tasks/t1/files", &m), 404, "route: files alone");
}

static int range(const char *h, uint64_t size, uint64_t *from, uint64_t *len)
{
	*from = *len = 77;
	return fm_serve_range_parse(h, size, from, len);
}

static void test_range(void)
{
	uint64_t f, l;

	IS_INT(range(NULL, 100, &f, &l), FM_RANGE_NONE, "range: none");
	IS_INT(range("bytes=0-9", 100, &f, &l), FM_RANGE_OK, "range: A-B");
	OK(f == 0 && l == 10, "range: A-B is B-A+1 bytes");
	IS_INT(range("bytes=90-", 100, &f, &l), FM_RANGE_OK, "range: A-");
	OK(f == 90 && l == 10, "range: A- to the end");
	IS_INT(range("bytes=-30", 100, &f, &l), FM_RANGE_OK, "range: -N");
	OK(f == 70 && l == 30, "range: the last N");
	IS_INT(range("bytes=-300", 100, &f, &l), FM_RANGE_OK, "range: -N past the size");
	OK(f == 0 && l == 100, "range: the whole file");
	IS_INT(range("bytes=50-5000", 100, &f, &l), FM_RANGE_OK, "range: B past the end");
	OK(f == 50 && l == 50, "range: cut to the end");
	IS_INT(range("BYTES = 1-1", 100, &f, &l), FM_RANGE_OK, "range: unit in any case");
	OK(f == 1 && l == 1, "range: one byte");
	IS_INT(range("bytes=99-99", 100, &f, &l), FM_RANGE_OK, "range: the last byte");
	IS_INT(range("bytes=100-", 100, &f, &l), FM_RANGE_UNSATISFIABLE, "range: at the end");
	IS_INT(range("bytes=100-200", 100, &f, &l), FM_RANGE_UNSATISFIABLE, "range: past it");
	IS_INT(range("bytes=-0", 100, &f, &l), FM_RANGE_UNSATISFIABLE, "range: -0");
	IS_INT(range("bytes=0-", 0, &f, &l), FM_RANGE_UNSATISFIABLE, "range: an empty file");
	IS_INT(range("bytes=99999999999999999999999-", 100, &f, &l), FM_RANGE_UNSATISFIABLE,
	       "range: a huge A");
	IS_INT(range("bytes=0-99999999999999999999999", 100, &f, &l), FM_RANGE_OK,
	       "range: a huge B");
	OK(f == 0 && l == 100, "range: a huge B is the end");
	IS_INT(range("bytes=9-1", 100, &f, &l), FM_RANGE_NONE, "range: B before A");
	IS_INT(range("bytes=0-1,5-6", 100, &f, &l), FM_RANGE_NONE, "range: several");
	IS_INT(range("bytes=x-1", 100, &f, &l), FM_RANGE_NONE, "range: no number");
	IS_INT(range("bytes=-", 100, &f, &l), FM_RANGE_NONE, "range: no numbers");
	IS_INT(range("items=0-1", 100, &f, &l), FM_RANGE_NONE, "range: another unit");
	IS_INT(range("bytes 0-1", 100, &f, &l), FM_RANGE_NONE, "range: no =");
	IS_INT(range("bytes=1-2x", 100, &f, &l), FM_RANGE_NONE, "range: junk after");
	OK(f == 77 && l == 77, "range: nothing set when ignored");
}

static void test_event_id(void)
{
	uint64_t n;

	IS_INT(fm_serve_event_id_parse(NULL, &n), 0, "event id: none");
	IS_INT(n, 0, "event id: none is from the start");
	IS_INT(fm_serve_event_id_parse("", &n), 0, "event id: empty");
	IS_INT(fm_serve_event_id_parse("42", &n), 0, "event id: a line number");
	IS_INT(n, 42, "event id: its value");
	IS_INT(fm_serve_event_id_parse("4x", &n), -1, "event id: not a number");
	IS_INT(fm_serve_event_id_parse("-1", &n), -1, "event id: negative");
	IS_INT(fm_serve_event_id_parse("1234567890123456", &n), -1, "event id: too long");
}

static void test_sse(void)
{
	struct fm_buf b = FM_BUF_INIT;
	const char *line = "{\"type\":\"progress\",\"percent\":5}";

	fm_serve_sse_event(&b, 7, line, strlen(line));
	IS_STR(b.s, "id: 7\nevent: progress\ndata: {\"type\":\"progress\",\"percent\":5}\n\n",
	       "sse: id, type, data");
	b.len = 0;
	fm_serve_sse_event(&b, 0, "a\rb\nc", 5);
	IS_STR(b.s, "event: message\ndata: a\ndata: b\ndata: c\n\n",
	       "sse: no JSON is a message; CR and LF split the data");
	b.len = 0;
	fm_serve_sse_event(&b, 1, "{\"type\":\"a\\nb\"}", 12);
	HAS(b.s, "event: message\n", "sse: a type unfit for a name is a message");
	fm_buf_release(&b);
}

static int query(const char *q, int list, struct fm_serve_query *out)
{
	struct fm_error err = FM_ERROR_INIT;
	int code = fm_serve_query_parse(q, list, out, &err);

	fm_error_release(&err);
	return code;
}

static void test_query(void)
{
	struct fm_serve_query q;

	IS_INT(query(NULL, 1, &q), 0, "query: none");
	IS_INT(q.limit, FM_SERVE_PAGE, "query: the default limit");
	IS_INT(q.state, -1, "query: every state");
	IS_INT(query("state=done&limit=5&after=a1", 1, &q), 0, "query: all three");
	IS_INT(q.limit, 5, "query: limit");
	IS_STR(q.after, "a1", "query: after");
	OK(q.state >= 0, "query: state");
	IS_INT(query("limit=1001", 1, &q), 400, "query: limit past the most");
	IS_INT(query("limit=5x", 1, &q), 400, "query: limit not a number");
	IS_INT(query("after=%2e%2e", 1, &q), 400, "query: after no id");
	IS_INT(query("x=1", 0, &q), 400, "query: none taken here");
	IS_INT(query("limit=0&api_key=secret", 1, &q), 401, "query: a key wins over a bad limit");
	IS_INT(query("ACCESS_TOKEN=x", 0, &q), 401, "query: key names in any case");
	IS_INT(query("a=1&to%6ben=x", 0, &q), 401, "query: an encoded key name");
}

static void test_body(void)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *tasks = json_object_new_array();
	const char *one = "{\n \"task_id\": \"a\",\n \"tool_name\": \"noop\"\n}";

	IS_INT(fm_serve_tasks_body(one, strlen(one), tasks, &err), 0, "body: one object");
	IS_INT(json_object_array_length(tasks), 1, "body: one task");
	IS_STR(fm_json_get_string(json_object_array_get_idx(tasks, 0), "type"), "task",
	       "body: typed as a task");
	IS_INT(fm_serve_tasks_body("[{},{}]", 7, tasks, &err), 0, "body: an array");
	IS_INT(json_object_array_length(tasks), 3, "body: both appended");
	IS_INT(fm_serve_tasks_body("[{", 2, tasks, &err), 400, "body: not JSON");
	HAS(err.message, "JSON", "body: the message says JSON");
	fm_error_release(&err);
	IS_INT(fm_serve_tasks_body("[]", 2, tasks, &err), 422, "body: an empty array");
	fm_error_release(&err);
	IS_INT(fm_serve_tasks_body("\"x\"", 3, tasks, &err), 422, "body: a string");
	fm_error_release(&err);
	json_object_put(tasks);
}

static int keys(const char *text, struct fm_serve_keys *k, char *msg, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	int rc = fm_serve_keys_parse(text, strlen(text), k, &err);

	snprintf(msg, len, "%s", err.message);
	fm_error_release(&err);
	return rc;
}

static void test_keys(void)
{
	static struct fm_serve_keys k;
	const struct fm_serve_key *f;
	char msg[FM_ERROR_MAX];

	IS_INT(keys("# keys\n\nalice 0123456789abcdef\nroot fedcba9876543210 admin\n", &k, msg,
		    sizeof(msg)),
	       0, "keys: two, a comment and a blank line");
	IS_INT(k.n, 2, "keys: two read");
	f = fm_serve_keys_check(&k, "Bearer 0123456789abcdef");
	OK(f && !strcmp(f->name, "alice") && !f->admin, "keys: alice's key is alice");
	f = fm_serve_keys_check(&k, "bearer fedcba9876543210");
	OK(f && !strcmp(f->name, "root") && f->admin, "keys: the scheme in any case; root admin");
	OK(!fm_serve_keys_check(&k, "Bearer 0123456789abcde"), "keys: a prefix is no key");
	OK(!fm_serve_keys_check(&k, "Bearer 0123456789abcdefg"), "keys: a longer one neither");
	OK(!fm_serve_keys_check(&k, "Basic 0123456789abcdef"), "keys: Bearer only");
	OK(!fm_serve_keys_check(&k, NULL), "keys: no header");
	fm_serve_keys_clear(&k);
	IS_INT(keys("alice short\n", &k, msg, sizeof(msg)), -1, "keys: too short");
	OK(!strstr(msg, "short"), "keys: the message does not repeat the key");
	IS_INT(keys("alice 0123456789abcdef root\n", &k, msg, sizeof(msg)), -1,
	       "keys: a third word other than admin");
	IS_INT(keys("a 0123456789abcdef\na fedcba9876543210\n", &k, msg, sizeof(msg)), -1,
	       "keys: a name twice");
	IS_INT(keys("../x 0123456789abcdef\n", &k, msg, sizeof(msg)), -1, "keys: a name no id");
	IS_INT(keys("\n# none\n", &k, msg, sizeof(msg)), -1, "keys: a file without keys");
}

static void test_listen(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_serve_listen l;

	IS_INT(fm_serve_listen_parse("127.0.0.1:8470", &l, &err), 0, "listen: IPv4");
	OK(l.loopback && l.port == 8470, "listen: loopback, its port");
	IS_INT(fm_serve_listen_parse("[::1]:80", &l, &err), 0, "listen: IPv6");
	OK(l.loopback && !strcmp(l.addr, "::1"), "listen: ::1 is loopback, brackets gone");
	IS_INT(fm_serve_listen_parse("0.0.0.0:80", &l, &err), 0, "listen: every address");
	OK(!l.loopback, "listen: 0.0.0.0 is beyond loopback");
	IS_INT(fm_serve_listen_parse("localhost:80", &l, &err), -1, "listen: numeric only");
	IS_INT(fm_serve_listen_parse("127.0.0.1:0", &l, &err), -1, "listen: port 0");
	IS_INT(fm_serve_listen_parse("127.0.0.1", &l, &err), -1, "listen: no port");
	fm_error_release(&err);
}

void test_serve_route(void)
{
	test_routes();
	test_query();
	test_body();
	test_keys();
	test_listen();
	test_range();
	test_event_id();
	test_sse();
}
