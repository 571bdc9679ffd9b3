/*
 * Fuzz target: filmeto-serve's OpenAI translation (lib/serve_openai.c).
 * The first byte picks the route (its low two bits) and whether the body
 * is multipart/form-data (bit 2); the input up to its first newline is
 * the Content-Type and a Host header, the rest the request body, and,
 * when it parses as JSON, a final line, a progress line and a task status
 * too. Whatever the bytes: no crash, hang or leak; a request either
 * yields a task for a tool of its route and a plugin of the list, with a
 * string prompt, or a 400/404 with a message; every answer's error is in
 * OpenAI's shape; a video's progress lies in 0..100; a URL's host is this
 * server's unless the Host header named it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "serve_openai.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char manifests_json[] =
    "[{\"name\":\"titlecard\",\"tools\":[{\"name\":\"text2image\",\"parameters\":["
    "{\"name\":\"prompt\"},{\"name\":\"width\"},{\"name\":\"height\"},{\"name\":\"style\"}]}]},"
    "{\"name\":\"espeak\",\"tools\":[{\"name\":\"text2speak\",\"parameters\":["
    "{\"name\":\"text\"},{\"name\":\"voice\"},{\"name\":\"rate\"}]}]},"
    "{\"name\":\"kenburns\",\"tools\":[{\"name\":\"image2video\",\"parameters\":["
    "{\"name\":\"duration\"},{\"name\":\"width\"},{\"name\":\"height\"}]}]},"
    "{\"name\":\"chatter\",\"tools\":[{\"name\":\"text2text\",\"parameters\":["
    "{\"name\":\"prompt\"},{\"name\":\"delay\"}]}]},"
    "{\"name\":\"both\",\"tools\":[{\"name\":\"text2video\"},{\"name\":\"image2video\"}]}]";

static void check_error(const struct fm_error *err, int code)
{
	json_object *o = fm_oai_error_json(err, code);
	json_object *e = fm_json_get(o, "error", json_type_object);

	if (!e || !fm_json_get_string(e, "message") || !fm_json_get_string(e, "type") ||
	    !fm_json_get_string(e, "code") || !json_object_object_get_ex(e, "param", NULL))
		abort();
	json_object_put(o);
}

static void request(int kind, int multipart, const char *line, const char *body, size_t len,
		    json_object *manifests)
{
	static const char *const tools[] = {"text2image", "text2speak", "text2text", "text2video",
					    "image2video"};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_oai_ask a;
	const char *tool;
	int code = fm_oai_request((enum fm_oai_kind)kind, multipart ? line : "application/json",
				  body, len, manifests, "t1", 1, &a, &err);

	if (code) {
		if ((code != 400 && code != 404) || !err.message[0] || a.task)
			abort();
		check_error(&err, code);
	} else {
		tool = fm_json_get_string(a.task, "tool_name");
		if (!tool || !fm_json_get_string(a.task, "plugin_name") ||
		    !fm_json_get(a.task, "parameters", json_type_object))
			abort();
		if (strcmp(tool, tools[kind]) &&
		    !(kind == FM_OAI_VIDEOS && !strcmp(tool, tools[4])))
			abort();
	}
	fm_oai_ask_release(&a);
	fm_error_release(&err);
}

static void answers(const char *body, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_buf b = FM_BUF_INIT;
	json_object *o, *v;
	int code, p;

	if (fm_json_parse(body, len, &o, NULL) < 0)
		return;
	code = fm_oai_final(o, &err);
	if (code)
		check_error(&err, code);
	fm_error_release(&err);
	if (fm_oai_delta(o))
		fm_oai_chunk(&b, "c", 1, "m", fm_oai_delta(o), 1);
	fm_buf_release(&b);
	v = fm_oai_video(o, o);
	p = json_object_get_int(json_object_object_get(v, "progress"));
	if (p < 0 || p > 100 || !fm_json_get_string(v, "status"))
		abort();
	json_object_put(v);
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_object *manifests;
	const char *in = (const char *)data, *nl;
	char *line, url[300];
	size_t n;

	if (size < 1)
		return 0;
	if (!manifests)
		manifests = json_tokener_parse(manifests_json);
	in++;
	size--;
	nl = memchr(in, '\n', size);
	n = nl ? (size_t)(nl - in) : size;
	line = fm_xstrndup(in, n);
	in += n + (nl != NULL);
	size -= n + (nl != NULL);
	request(data[0] & 3, data[0] & 4, line, in, size, manifests);
	answers(in, size);
	fm_oai_base_url(url, sizeof(url), line, "127.0.0.1", 8470);
	if (strcmp(url, "http://127.0.0.1:8470") && strcasecmp(url, "http://localhost:8470"))
		abort();
	free(line);
	return 0;
}
