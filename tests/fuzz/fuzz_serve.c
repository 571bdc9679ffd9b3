/*
 * Fuzz target: what filmeto-serve decides before it touches the spool
 * (lib/serve_route.c). The first byte picks the method; the input, up to
 * its first newline, is a path (then a query after '?'), a --listen
 * argument and an Authorization header; the rest is a request body and a
 * key file. Whatever the bytes: no crash, hang or leak; a task id routed
 * is valid and walks nowhere ("." and ".." are no ids, '/' is in none);
 * a list's limit stays within its bounds; every key parsed is found by
 * its own header; a body either yields tasks or a 400/422 with a
 * message. The line is also a Range header (a range taken lies inside
 * the file), a Last-Event-ID, and an event's data (no line of it can end
 * the event early).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "serve_route.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void route(enum fm_method method, const char *line)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_route_match m;
	struct fm_serve_query q;
	struct fm_serve_listen l;
	char *path = fm_xstrdup(line), *query = strchr(path, '?');
	int code;

	if (query)
		*query++ = '\0';
	code = fm_serve_route(method, path, &m, &err);
	if (code == 0 &&
	    (m.route == FM_ROUTE_TASK || m.route == FM_ROUTE_TASK_STREAM ||
	     m.route == FM_ROUTE_TASK_FILE || m.route == FM_ROUTE_OAI_VIDEO ||
	     m.route == FM_ROUTE_OAI_VIDEO_CONTENT) &&
	    (!fm_id_valid(m.id) || strchr(m.id, '/') || !strcmp(m.id, ".") || !strcmp(m.id, "..")))
		abort();
	if (code == 405 && !m.allow_text[0])
		abort();
	if (code == 0 && m.route == FM_ROUTE_TASK_FILE && m.file > FM_SERVE_FILE_INDEX_MAX)
		abort();
	fm_error_release(&err);
	code = fm_serve_query_parse(query, 1, &q, &err);
	if (code == 0 &&
	    (q.limit < 1 || q.limit > FM_SERVE_PAGE_MAX || (q.after[0] && !fm_id_valid(q.after))))
		abort();
	if (code && !err.message[0])
		abort();
	fm_error_release(&err);
	if (fm_serve_listen_parse(line, &l, &err) == 0 && !l.port)
		abort();
	fm_error_release(&err);
	free(path);
}

/* Range over a few sizes, Last-Event-ID, and the line as an event's data. */
static void headers(const char *line)
{
	static const uint64_t sizes[] = {0, 1, 100, UINT64_MAX};
	struct fm_buf b = FM_BUF_INIT;
	uint64_t from, len, after;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
		if (fm_serve_range_parse(line, sizes[i], &from, &len) == FM_RANGE_OK &&
		    (len == 0 || from >= sizes[i] || len > sizes[i] - from))
			abort();
	if (fm_serve_event_id_parse(line, &after) == 0 && after > FM_SERVE_EVENT_ID_MAX)
		abort();
	fm_serve_sse_event(&b, 1, line, strlen(line));
	if (b.len < 2 || strstr(b.s, "\n\n") != b.s + b.len - 2 || strchr(b.s, '\r'))
		abort();
	fm_buf_release(&b);
}

static void keys(const char *line, const char *rest, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	static struct fm_serve_keys k;
	size_t i;

	fm_serve_keys_check(&k, line);
	if (fm_serve_keys_parse(rest, len, &k, &err) == 0) {
		for (i = 0; i < k.n; i++) {
			char *h = fm_xasprintf("Bearer %s", k.v[i].key);
			const struct fm_serve_key *f = fm_serve_keys_check(&k, h);

			if (!f || strcmp(f->key, k.v[i].key))
				abort();
			free(h);
		}
		fm_serve_keys_check(&k, line);
	}
	fm_serve_keys_clear(&k);
	fm_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	const char *in = (const char *)data, *nl;
	json_object *tasks;
	size_t n;
	char *line;
	int code;

	if (size < 1)
		return 0;
	in++;
	size--;
	nl = memchr(in, '\n', size);
	n = nl ? (size_t)(nl - in) : size;
	line = fm_xstrndup(in, n);
	route((enum fm_method)(1u << (data[0] & 3)), line);
	headers(line);
	in += n + (nl != NULL);
	size -= n + (nl != NULL);
	keys(line, in, size);
	tasks = json_object_new_array();
	code = fm_serve_tasks_body(in, size, tasks, &err);
	if (code == 0 && !json_object_array_length(tasks))
		abort();
	if (code != 0 && ((code != 400 && code != 422) || !err.message[0]))
		abort();
	json_object_put(tasks);
	fm_error_release(&err);
	free(line);
	return 0;
}
