/*
 * filmeto-serve's decisions before the spool (lib/serve_route.c): routes
 * and their path checks, the list's query, the task body, key files and
 * the Authorization header, --listen addresses.
 */
#include <stdio.h>
#include <string.h>

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
	IS_INT(route(FM_METHOD_GET, "/", &m), 404, "route: / is no route yet");
	IS_INT(route(FM_METHOD_OTHER, "/api/v1/tools", &m), 405, "route: PUT tools is 405");
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
}
