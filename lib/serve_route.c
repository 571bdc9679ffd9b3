/*
 * filmeto-serve's decisions on a request, before the spool: routes, the
 * list's query, the task body, keys and listen addresses. A path is
 * split at '/' first and each component is percent-decoded after, so an
 * encoded slash or dot can never make a component that walks out of a
 * folder: a task id must pass fm_id_valid once decoded.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "model.h"
#include "serve_route.h"
#include "spool.h"
#include "util.h"

/*
 * Decodes n bytes of a URL component into out (size max, NUL ended):
 * -1 for a malformed escape, an encoded NUL, or one too long.
 */
static int decode(const char *s, size_t n, char *out, size_t max, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi;

			if (i + 2 >= n)
				return -1;
			hi = fm_hex_digit((unsigned char)s[i + 1]);
			c = fm_hex_digit((unsigned char)s[i + 2]);
			if (hi < 0 || c < 0)
				return -1;
			c = hi * 16 + c;
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == '\0' || o + 1 >= max)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static void allow(struct fm_route_match *m, unsigned methods)
{
	m->allow = methods;
	snprintf(m->allow_text, sizeof(m->allow_text), "%s%s%s",
		 methods & FM_METHOD_GET ? "GET" : "",
		 methods & FM_METHOD_POST ? (methods & FM_METHOD_GET ? ", POST" : "POST") : "",
		 methods & FM_METHOD_DELETE ? ", DELETE" : "");
}

/* The decimal number of a decoded component, at most max: -1 for anything else. */
static long index_of(const char *s, long max)
{
	long n = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > max / 10)
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n > max ? -1 : n;
}

/* The id a path names in its n bytes at rest, decoded and valid: else 400, naming what (a task, a
 * video). */
static int id_component(const char *rest, size_t n, struct fm_route_match *m, const char *what,
			struct fm_error *err)
{
	if (decode(rest, n, m->id, sizeof(m->id), 0) < 0 || !fm_id_valid(m->id)) {
		m->id[0] = '\0';
		m->route = FM_ROUTE_NONE;
		return fm_error(err, FM_VALIDATION_ERROR,
				"the path does not name a %s: an id is " FM_ID_RULE, what),
		       400;
	}
	return 0;
}

/*
 * What follows /api/v1/tasks/: ID, ID/stream or ID/files/N. Each
 * component is cut at '/' before it is decoded, so "%2f" is never a
 * separator. 404 for another shape, 400 for a component that is no id
 * or no number.
 */
static int task_route(const char *rest, struct fm_route_match *m, struct fm_error *err)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	char file[16];
	long i;

	if (!slash) {
		m->route = FM_ROUTE_TASK;
		allow(m, FM_METHOD_GET | FM_METHOD_DELETE);
	} else if (!strcmp(slash, "/stream")) {
		m->route = FM_ROUTE_TASK_STREAM;
		allow(m, FM_METHOD_GET);
	} else if (!strncmp(slash, "/files/", 7) && !strchr(slash + 7, '/')) {
		if (decode(slash + 7, strlen(slash + 7), file, sizeof(file), 0) < 0 ||
		    (i = index_of(file, FM_SERVE_FILE_INDEX_MAX)) < 0)
			return fm_error(err, FM_VALIDATION_ERROR,
					"the path does not name an output file: a number from "
					"0 to %d",
					FM_SERVE_FILE_INDEX_MAX),
			       400;
		m->route = FM_ROUTE_TASK_FILE;
		m->file = (size_t)i;
		allow(m, FM_METHOD_GET);
	} else {
		return fm_error(err, FM_VALIDATION_ERROR, "no such route"), 404;
	}
	return id_component(rest, n, m, "task", err);
}

const char *fm_serve_asset_type(const char *name)
{
	static const char *const types[][2] = {
	    {".html", "text/html; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	};
	size_t i, n = strlen(name), e;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		e = strlen(types[i][0]);
		if (n > e && !strcmp(name + n - e, types[i][0]))
			return types[i][1];
	}
	return NULL;
}

/*
 * What follows /web/: one component, decoded, of the bytes a file name of
 * the page has; 400 for a component that could walk anywhere ("..", a
 * hidden name, an encoded '/'), 404 for another type or a subfolder.
 */
static int asset_route(const char *rest, struct fm_route_match *m, struct fm_error *err)
{
	static const char name_bytes[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789._-";
	char *name = m->asset;

	if (strchr(rest, '/'))
		return fm_error(err, FM_VALIDATION_ERROR, "no such route"), 404;
	if (decode(rest, strlen(rest), name, sizeof(m->asset), 0) < 0 || !name[0] ||
	    name[0] == '.' || strstr(name, "..") || name[strspn(name, name_bytes)]) {
		name[0] = '\0';
		return fm_error(err, FM_VALIDATION_ERROR,
				"the path does not name a file of the page: a name is letters, "
				"digits, '.', '-' and '_', not starting with '.'"),
		       400;
	}
	if (!fm_serve_asset_type(name)) {
		name[0] = '\0';
		return fm_error(err, FM_VALIDATION_ERROR, "no such file"), 404;
	}
	m->route = FM_ROUTE_PAGE;
	allow(m, FM_METHOD_GET);
	return 0;
}

/*
 * The OpenAI-compatible routes, what follows /v1: fixed paths, and
 * /videos/ID[/content] whose ID is a task id, checked as task_route's.
 */
static int oai_route(const char *rest, struct fm_route_match *m, struct fm_error *err)
{
	static const struct {
		const char *path;
		enum fm_route route;
		unsigned methods;
	} fixed[] = {
	    {"/models", FM_ROUTE_OAI_MODELS, FM_METHOD_GET},
	    {"/images/generations", FM_ROUTE_OAI_IMAGES, FM_METHOD_POST},
	    {"/audio/speech", FM_ROUTE_OAI_SPEECH, FM_METHOD_POST},
	    {"/chat/completions", FM_ROUTE_OAI_CHAT, FM_METHOD_POST},
	    {"/videos", FM_ROUTE_OAI_VIDEOS, FM_METHOD_POST},
	};
	const char *slash;
	size_t i, n;

	for (i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		if (!strcmp(rest, fixed[i].path)) {
			m->route = fixed[i].route;
			allow(m, fixed[i].methods);
			return 0;
		}
	if (strncmp(rest, "/videos/", 8))
		return fm_error(err, FM_VALIDATION_ERROR, "no such route"), 404;
	rest += 8;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!slash) {
		m->route = FM_ROUTE_OAI_VIDEO;
		allow(m, FM_METHOD_GET | FM_METHOD_DELETE);
	} else if (!strcmp(slash, "/content")) {
		m->route = FM_ROUTE_OAI_VIDEO_CONTENT;
		allow(m, FM_METHOD_GET);
	} else {
		return fm_error(err, FM_VALIDATION_ERROR, "no such route"), 404;
	}
	return id_component(rest, n, m, "video", err);
}

int fm_serve_route(enum fm_method method, const char *path, struct fm_route_match *m,
		   struct fm_error *err)
{
	static const char tasks[] = "/api/v1/tasks";
	size_t n = strlen(path);

	memset(m, 0, sizeof(*m));
	if (n > FM_SERVE_PATH_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "no such route"), 404;
	if (!strcmp(path, "/health")) {
		m->route = FM_ROUTE_HEALTH;
		allow(m, FM_METHOD_GET);
	} else if (!strcmp(path, "/api/v1/tools")) {
		m->route = FM_ROUTE_TOOLS;
		allow(m, FM_METHOD_GET);
	} else if (!strcmp(path, "/api/v1/plugins")) {
		m->route = FM_ROUTE_PLUGINS;
		allow(m, FM_METHOD_GET);
	} else if (!strcmp(path, tasks)) {
		m->route = FM_ROUTE_TASKS;
		allow(m, FM_METHOD_GET | FM_METHOD_POST);
	} else if (!strncmp(path, tasks, sizeof(tasks) - 1) && path[sizeof(tasks) - 1] == '/') {
		int code = task_route(path + sizeof(tasks), m, err);

		if (code)
			return code;
	} else if (!strcmp(path, "/api/v1/films")) {
		m->route = FM_ROUTE_FILMS;
		allow(m, FM_METHOD_POST);
	} else if (!strcmp(path, "/")) {
		m->route = FM_ROUTE_PAGE;
		memcpy(m->asset, "index.html", sizeof("index.html"));
		allow(m, FM_METHOD_GET);
	} else if (!strncmp(path, FM_SERVE_ASSET_PREFIX, sizeof(FM_SERVE_ASSET_PREFIX) - 1)) {
		int code = asset_route(path + sizeof(FM_SERVE_ASSET_PREFIX) - 1, m, err);

		if (code)
			return code;
	} else if (!strncmp(path, "/v1/", 4)) {
		int code = oai_route(path + 3, m, err);

		if (code)
			return code;
	} else {
		return fm_error(err, FM_VALIDATION_ERROR, "no such route"), 404;
	}
	if (!(m->allow & method))
		return fm_error(err, FM_VALIDATION_ERROR, "this route takes %s", m->allow_text),
		       405;
	return 0;
}

/* Query parameters that carry a key, in the spellings clients use. */
static int key_param(const char *name)
{
	static const char *const names[] = {"key",	     "api_key",	     "apikey",
					    "token",	     "access_token", "auth",
					    "authorization", "bearer",	     NULL};
	size_t i;

	for (i = 0; names[i]; i++)
		if (!strcasecmp(name, names[i]))
			return 1;
	return 0;
}

static int list_param(const char *name, const char *value, struct fm_serve_query *q,
		      struct fm_error *err)
{
	char *end;
	long n;

	if (!strcmp(name, "state")) {
		if (!*value)
			return 0;
		q->state = fm_spool_state_parse(value);
		if (q->state < 0)
			return fm_error(err, FM_VALIDATION_ERROR,
					"state '%.32s': one of queued, running, done, failed, "
					"cancelled",
					value);
	} else if (!strcmp(name, "limit")) {
		n = strtol(value, &end, 10);
		if (!*value || *end || n < 1 || n > FM_SERVE_PAGE_MAX)
			return fm_error(err, FM_VALIDATION_ERROR,
					"limit '%.32s': a number from 1 to %d", value,
					FM_SERVE_PAGE_MAX);
		q->limit = (size_t)n;
	} else if (!strcmp(name, "after")) {
		if (*value && !fm_id_valid(value))
			return fm_error(err, FM_VALIDATION_ERROR,
					"after: not a task id: an id is " FM_ID_RULE);
		/* Valid or empty: at most FM_ID_MAX bytes. */
		memcpy(q->after, value, strlen(value) + 1);
	} else {
		return fm_error(err, FM_VALIDATION_ERROR,
				"unknown parameter '%.32s': state, limit and after are", name);
	}
	return 0;
}

int fm_serve_query_parse(const char *query, int list, struct fm_serve_query *q,
			 struct fm_error *err)
{
	char name[64], value[FM_ID_MAX + 2];
	const char *p = query ? query : "";
	int status = 0;

	q->state = -1;
	q->limit = FM_SERVE_PAGE;
	q->after[0] = '\0';
	/* Every parameter is looked at for a key before any is refused for another reason. */
	while (*p) {
		const char *amp = strchr(p, '&'), *eq;
		size_t n = amp ? (size_t)(amp - p) : strlen(p);

		eq = memchr(p, '=', n);
		if (n && decode(p, eq ? (size_t)(eq - p) : n, name, sizeof(name), 1) == 0 &&
		    key_param(name))
			return fm_error(err, FM_VALIDATION_ERROR,
					"a key goes in an Authorization: Bearer header, never "
					"in a URL"),
			       401;
		if (!status && n) {
			if (!list)
				status = fm_error(err, FM_VALIDATION_ERROR,
						  "this route takes no query parameters");
			else if (decode(p, eq ? (size_t)(eq - p) : n, name, sizeof(name), 1) < 0 ||
				 decode(eq ? eq + 1 : p + n, eq ? n - (size_t)(eq + 1 - p) : 0,
					value, sizeof(value), 1) < 0)
				status = fm_error(err, FM_VALIDATION_ERROR,
						  "a query parameter is malformed or too long");
			else
				status = list_param(name, value, q, err);
		}
		p += n + (amp != NULL);
	}
	return status < 0 ? 400 : 0;
}

int fm_serve_tasks_body(const char *buf, size_t len, json_object *tasks, struct fm_error *err)
{
	json_object *all;
	size_t i;

	if (fm_json_parse(buf, len, &all, err) < 0)
		return 400;
	if (json_object_is_type(all, json_type_object)) {
		json_object_array_add(tasks, fm_task_object(all));
	} else if (json_object_is_type(all, json_type_array) && json_object_array_length(all)) {
		for (i = 0; i < json_object_array_length(all); i++)
			json_object_array_add(tasks,
					      fm_task_object(json_object_array_get_idx(all, i)));
	} else {
		json_object_put(all);
		return fm_error(err, FM_VALIDATION_ERROR,
				"the body must be a task object or a non-empty array of them"),
		       422;
	}
	json_object_put(all);
	return 0;
}

static int key_byte(int c)
{
	return c > ' ' && c < 127;
}

static int key_line(const char *line, size_t lineno, struct fm_serve_keys *k, struct fm_error *err)
{
	char name[FM_ID_MAX + 2], key[FM_SERVE_KEY_MAX + 2], flag[16], extra[2];
	struct fm_serve_key *e;
	int n;
	size_t i;

	/* Widths one past each limit, so a longer field is caught, not cut. */
	n = sscanf(line, "%129s %257s %15s %1s", name, key, flag, extra);
	if (n < 2 || n > 3 || (n == 3 && strcmp(flag, "admin")))
		return fm_error(err, FM_VALIDATION_ERROR,
				"line %zu: expected NAME KEY or NAME KEY admin", lineno);
	if (!fm_id_valid(name))
		return fm_error(err, FM_VALIDATION_ERROR, "line %zu: the name must be " FM_ID_RULE,
				lineno);
	for (i = 0; i < k->n; i++)
		if (!strcmp(k->v[i].name, name))
			return fm_error(err, FM_VALIDATION_ERROR,
					"line %zu: the name '%s' is used twice", lineno, name);
	if (strlen(key) < FM_SERVE_KEY_MIN || strlen(key) > FM_SERVE_KEY_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "line %zu: a key is %d to %d characters",
				lineno, FM_SERVE_KEY_MIN, FM_SERVE_KEY_MAX);
	for (i = 0; key[i]; i++)
		if (!key_byte((unsigned char)key[i]))
			return fm_error(err, FM_VALIDATION_ERROR,
					"line %zu: a key is printable ASCII", lineno);
	if (k->n == FM_SERVE_KEYS_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "more than %d keys", FM_SERVE_KEYS_MAX);
	e = &k->v[k->n++];
	memcpy(e->name, name, strlen(name) + 1);
	memcpy(e->key, key, strlen(key) + 1);
	e->len = strlen(key);
	e->admin = n == 3;
	explicit_bzero(key, sizeof(key));
	return 0;
}

int fm_serve_keys_parse(const char *buf, size_t len, struct fm_serve_keys *k, struct fm_error *err)
{
	char line[512];
	size_t at = 0, lineno = 0;
	int rc = 0;

	k->n = 0;
	while (at < len && rc == 0) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (buf + at)) : len - at;

		lineno++;
		if (n >= sizeof(line) || memchr(buf + at, '\0', n)) {
			rc = fm_error(err, FM_VALIDATION_ERROR, "line %zu: too long or not text",
				      lineno);
			break;
		}
		memcpy(line, buf + at, n);
		line[n] = '\0';
		at += n + 1;
		if (!line[strspn(line, " \t\r")] || line[strspn(line, " \t")] == '#')
			continue;
		rc = key_line(line, lineno, k, err);
	}
	explicit_bzero(line, sizeof(line));
	if (rc == 0 && k->n == 0)
		rc = fm_error(err, FM_VALIDATION_ERROR, "no key in it");
	if (rc < 0)
		fm_serve_keys_clear(k);
	return rc;
}

/* 0 when the len bytes of key equal given (of glen), in time set by len. */
static unsigned differs(const char *key, size_t len, const char *given, size_t glen)
{
	unsigned d = len != glen;
	size_t i;

	for (i = 0; i < len; i++)
		d |= (unsigned char)key[i] ^ (unsigned char)(i < glen ? given[i] : 0);
	return d;
}

const struct fm_serve_key *fm_serve_keys_check(const struct fm_serve_keys *k,
					       const char *authorization)
{
	const struct fm_serve_key *found = NULL;
	const char *given;
	size_t i, glen;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7))
		return NULL;
	given = authorization + 7;
	given += strspn(given, " ");
	glen = strlen(given);
	while (glen && given[glen - 1] == ' ')
		glen--;
	for (i = 0; i < k->n; i++)
		if (!differs(k->v[i].key, k->v[i].len, given, glen))
			found = &k->v[i];
	return found;
}

void fm_serve_keys_clear(struct fm_serve_keys *k)
{
	explicit_bzero(k, sizeof(*k));
}

int fm_serve_listen_parse(const char *arg, struct fm_serve_listen *l, struct fm_error *err)
{
	const char *colon = strrchr(arg, ':');
	unsigned char a[16];
	char *end;
	size_t n;
	long port;

	memset(l, 0, sizeof(*l));
	if (!colon)
		return fm_error(err, FM_VALIDATION_ERROR, "--listen '%.64s': expected ADDR:PORT",
				arg);
	n = (size_t)(colon - arg);
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') {
		arg++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(l->addr))
		return fm_error(err, FM_VALIDATION_ERROR, "--listen: expected ADDR:PORT");
	memcpy(l->addr, arg, n);
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return fm_error(err, FM_VALIDATION_ERROR,
				"--listen '%.64s': the port is a number from 1 to 65535",
				colon + 1);
	l->port = (unsigned short)port;
	if (inet_pton(AF_INET, l->addr, a) == 1)
		l->loopback = a[0] == 127;
	else if (inet_pton(AF_INET6, l->addr, a) == 1)
		l->loopback = !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	else
		return fm_error(err, FM_VALIDATION_ERROR,
				"--listen '%.64s': the address is numeric IPv4, or IPv6 in [ ]",
				l->addr);
	return 0;
}

/* A decimal number of up to 19 digits at s (its end in *end): -1 when there is none. */
static int range_number(const char *s, const char **end, uint64_t *n)
{
	const char *p = s;

	*n = 0;
	while (*p >= '0' && *p <= '9') {
		/* Past UINT64_MAX / 10: stuck at the most, which is past any size. */
		*n = *n > (UINT64_MAX - 9) / 10 ? UINT64_MAX : *n * 10 + (uint64_t)(*p - '0');
		p++;
	}
	*end = p;
	return p == s ? -1 : 0;
}

enum fm_serve_range fm_serve_range_parse(const char *header, uint64_t size, uint64_t *from,
					 uint64_t *len)
{
	const char *p;
	uint64_t a, b;

	if (!header)
		return FM_RANGE_NONE;
	p = header + strspn(header, " \t");
	if (strncasecmp(p, "bytes", 5))
		return FM_RANGE_NONE;
	p += 5;
	p += strspn(p, " \t");
	if (*p++ != '=')
		return FM_RANGE_NONE;
	p += strspn(p, " \t");
	if (*p == '-') {
		if (range_number(p + 1, &p, &b) < 0 || p[strspn(p, " \t")])
			return FM_RANGE_NONE;
		if (b == 0 || size == 0)
			return FM_RANGE_UNSATISFIABLE;
		*len = b < size ? b : size;
		*from = size - *len;
		return FM_RANGE_OK;
	}
	if (range_number(p, &p, &a) < 0 || *p++ != '-')
		return FM_RANGE_NONE;
	b = UINT64_MAX;
	if (*p >= '0' && *p <= '9' && (range_number(p, &p, &b) < 0 || b < a))
		return FM_RANGE_NONE;
	if (p[strspn(p, " \t")])
		return FM_RANGE_NONE; /* several ranges, or junk */
	if (a >= size)
		return FM_RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*from = a;
	*len = b - a + 1;
	return FM_RANGE_OK;
}

int fm_serve_event_id_parse(const char *header, uint64_t *after)
{
	const char *p = header;
	uint64_t n = 0;

	*after = 0;
	if (!p || !*p)
		return 0;
	if (strlen(p) > 15)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*after = n;
	return 0;
}

/* The "type" of a JSON line, when it is fit for an event name: [a-z_]+, at most max - 1. */
static const char *event_type(const char *line, size_t len, char *out, size_t max)
{
	json_object *o;
	const char *t;
	size_t i = 0;

	out[0] = '\0';
	if (fm_json_parse(line, len, &o, NULL) < 0)
		return "message";
	t = fm_json_get_string(o, "type");
	for (; t && t[i] && i + 1 < max && ((t[i] >= 'a' && t[i] <= 'z') || t[i] == '_'); i++)
		out[i] = t[i];
	if (t && !t[i] && i)
		out[i] = '\0';
	else
		i = 0;
	json_object_put(o);
	return i ? out : "message";
}

void fm_serve_sse_event(struct fm_buf *out, uint64_t id, const char *line, size_t len)
{
	char type[32];
	size_t at = 0, n;

	if (id)
		fm_buf_addf(out, "id: %llu\n", (unsigned long long)id);
	fm_buf_addf(out, "event: %s\n", event_type(line, len, type, sizeof(type)));
	do {
		for (n = 0; at + n < len && line[at + n] != '\n' && line[at + n] != '\r'; n++)
			;
		fm_buf_add(out, "data: ", 6);
		fm_buf_add(out, line + at, n);
		fm_buf_add(out, "\n", 1);
		at += n + 1;
	} while (at < len);
	fm_buf_add(out, "\n", 1);
}

json_object *fm_serve_error_json(const struct fm_error *err)
{
	json_object *o = json_object_new_object(), *e = fm_error_to_json(err);

	if (!json_object_object_get_ex(e, "details", NULL) ||
	    !json_object_is_type(json_object_object_get(e, "details"), json_type_object))
		json_object_object_add(e, "details", json_object_new_object());
	json_object_object_add(o, "error", e);
	return o;
}

/* --- origins ------------------------------------------------------------ */

/* HOST of an origin: a DNS name, or an IPv6 address in brackets. */
static int origin_host(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return 0;
	if (s[0] == '[') {
		char a[64];
		struct in6_addr in6;

		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(a))
			return 0;
		memcpy(a, s + 1, n - 2);
		a[n - 2] = '\0';
		return inet_pton(AF_INET6, a, &in6) == 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return 0;
	}
	return s[0] != '.' && s[0] != '-' && s[n - 1] != '-';
}

int fm_serve_origin_parse(const char *arg, char *out, struct fm_error *err)
{
	const char *host, *end, *colon;
	size_t n = strlen(arg), i, hn;
	unsigned long port = 0;
	int https;

	if (n > FM_SERVE_ORIGIN_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "--cors: an origin of at most %d bytes",
				FM_SERVE_ORIGIN_MAX),
		       -1;
	https = !strncasecmp(arg, "https://", 8);
	if (!https && strncasecmp(arg, "http://", 7))
		goto bad;
	host = arg + (https ? 8 : 7);
	end = arg + n;
	/* The port's colon is the last one after an IPv6 address's bracket. */
	colon = memrchr(host, ':', (size_t)(end - host));
	if (colon && host[0] == '[' &&
	    colon < (const char *)memchr(host, ']', (size_t)(end - host)))
		colon = NULL;
	hn = (size_t)((colon ? colon : end) - host);
	if (!origin_host(host, hn))
		goto bad;
	if (colon) {
		if (!colon[1] || end - colon > 6)
			goto bad;
		for (i = 1; colon[i]; i++) {
			if (colon[i] < '0' || colon[i] > '9')
				goto bad;
			port = port * 10 + (unsigned long)(colon[i] - '0');
		}
		if (port < 1 || port > 65535)
			goto bad;
	}
	if (port == (https ? 443UL : 80UL))
		port = 0;
	snprintf(out, FM_SERVE_ORIGIN_MAX + 1, "%s://%.*s", https ? "https" : "http", (int)hn,
		 host);
	if (port)
		snprintf(out + strlen(out), FM_SERVE_ORIGIN_MAX + 1 - strlen(out), ":%lu", port);
	for (i = 0; out[i]; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	return 0;
bad:
	return fm_error(err, FM_VALIDATION_ERROR,
			"--cors '%s': an origin, http[s]://HOST[:PORT] (no path)", arg),
	       -1;
}

int fm_serve_origin_same(const char *origin, const char *host)
{
	char a[FM_SERVE_ORIGIN_MAX + 1], b[FM_SERVE_ORIGIN_MAX + 1];
	struct fm_error err = FM_ERROR_INIT;
	/* https: the page came through a TLS proxy that kept the Host. */
	const char *scheme = origin && !strncasecmp(origin, "https://", 8) ? "https" : "http";
	char *h;
	int same;

	if (!origin || !host || strlen(host) + strlen(scheme) + 3 > FM_SERVE_ORIGIN_MAX)
		return 0;
	h = fm_xasprintf("%s://%s", scheme, host);
	same = fm_serve_origin_parse(origin, a, &err) == 0 &&
	       fm_serve_origin_parse(h, b, &err) == 0 && !strcmp(a, b);
	fm_error_release(&err);
	free(h);
	return same;
}

/* --- a head before its body --------------------------------------------- */

/* A header's value, trimmed: its first byte and length. */
static const char *header_value(const char *line, size_t n, size_t name, size_t *len)
{
	size_t v;

	for (v = name; v < n && (line[v] == ' ' || line[v] == '\t'); v++)
		;
	*len = n - v;
	while (*len && (line[v + *len - 1] == ' ' || line[v + *len - 1] == '\t'))
		(*len)--;
	return line + v;
}

/* Content-Length's digits, or -1 (none, several, or too large to matter). */
static int64_t content_length(const char *v, size_t n)
{
	int64_t x = 0;
	size_t i;

	if (!n || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

long fm_serve_head_peek(const char *buf, size_t len, const char **auth, size_t *authlen,
			int64_t *length)
{
	const char *value = NULL, *line, *v;
	size_t at = 0, n, end, vlen = 0, ln;
	int first = 1, after_auth = 0, unsure = 0, lengths = 0, chunked = 0, framing = 0, ncl = 0;
	size_t lines = 0;
	int64_t cl = -1, c;

	*auth = NULL;
	*authlen = 0;
	*length = -1;
	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);

		if (!nl)
			return -1;
		end = (size_t)(nl - buf);
		line = buf + at;
		n = end > at && buf[end - 1] == '\r' ? end - 1 - at : end - at;
		if (!first && n == 0) {
			/* Two framings a proxy and evhttp may each pick one of: smuggling. */
			if (framing || (chunked && ncl))
				return -3;
			if (!unsure) {
				*auth = value;
				*authlen = vlen;
			}
			if (lengths == 1 && !chunked)
				*length = cl;
			return (long)(end + 1);
		}
		if (!first && ++lines > FM_SERVE_HEADER_LINES_MAX)
			return -2;
		/* A folded line continues the header before it: evhttp joins them. */
		if (!first && (line[0] == ' ' || line[0] == '\t'))
			unsure |= after_auth, lengths += 2;
		after_auth = 0;
		if (!first && !value && n > 14 && !strncasecmp(line, "authorization:", 14)) {
			value = header_value(line, n, 14, &vlen);
			unsure |= memchr(value, '\r', vlen) != NULL;
			after_auth = 1;
		} else if (!first && n >= 15 && !strncasecmp(line, "content-length:", 15)) {
			v = header_value(line, n, 15, &ln);
			c = content_length(v, ln);
			framing |= ncl++ && c != cl;
			cl = c;
			lengths += cl < 0 ? 2 : 1;
		} else if (!first && n >= 18 && !strncasecmp(line, "transfer-encoding:", 18)) {
			chunked = 1;
		}
		first = 0;
		at = end + 1;
	}
	return -1;
}

/* A port in a Host header: 1 to 5 digits, nothing after. */
static int port_ok(const char *p)
{
	size_t n = strspn(p, "0123456789");

	return n >= 1 && n <= 5 && !p[n];
}

int fm_serve_host_loopback(const char *host)
{
	char name[64];
	const char *end;
	size_t n;
	unsigned a, b, c, d;
	char extra;

	if (!host)
		return 0;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return 0;
		n = (size_t)(end - host - 1);
		return n == 3 && !strncmp(host + 1, "::1", 3) && (!end[1] || port_ok(end + 2));
	}
	end = strchr(host, ':');
	n = end ? (size_t)(end - host) : strlen(host);
	if (!n || n >= sizeof(name) || (end && !port_ok(end + 1)))
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (!strcasecmp(name, "localhost") || !strcasecmp(name, "localhost."))
		return 1;
	return sscanf(name, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 &&
	       b < 256 && c < 256 && d < 256 && strspn(name, "0123456789.") == n;
}
