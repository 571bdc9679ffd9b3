/*
 * openai: the bundled plugin for any OpenAI-compatible API (OpenAI, a
 * LiteLLM proxy, Ollama's /v1, vLLM, LocalAI). One tool per endpoint:
 *
 *   text2text               POST /chat/completions (SSE or one reply)
 *   text2image, image2image POST /images/generations, /images/edits
 *   text2speak              POST /audio/speech (the body is the audio)
 *   text2video, image2video POST /videos, GET /videos/ID until done,
 *                           GET /videos/ID/content; DELETE on cancel
 *
 * One libcurl handle (lib/http.h) serves every task of the process, so
 * a run of a thousand tasks keeps one connection. Settings come from the
 * task, the environment and config.yaml's plugins.openai, in that order;
 * the key never leaves the Authorization header, which goes only under
 * the endpoint (lib/http.c), and is redacted from everything the service
 * sends back (lib/redact.h): a streamed answer is redacted as a stream,
 * so a key split across deltas is found whole.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/base64.h>

#include "filmeto.h"

#define DEFAULT_BASE "https://api.openai.com/v1"
/* Seconds between two polls of a video, by default and at the extremes. */
#define POLL_DEFAULT 2.0
#define POLL_MIN     0.01
#define POLL_MAX     60.0
/* Longest wait for a video to be made, in seconds. */
#define VIDEO_WAIT_DEFAULT 3600.0
/* Seconds the remote cancel of a video may take: the host kills soon after. */
#define DELETE_TIMEOUT 3
/* Largest text kept from a chat answer; above it the answer is refused. */
#define MAX_ANSWER (16 * 1024 * 1024)
/* Largest answer also put in the result's metadata (events are lines). */
#define MAX_META_TEXT (64 * 1024)
/* Seconds between two progress events of a streamed answer. */
#define STREAM_PROGRESS_EVERY 0.1
/* Tokens at which an answer of unknown length is shown half done. */
#define STREAM_HALF_TOKENS 256
/* Images per request, as the Images API allows. */
#define MAX_IMAGES 10
/* Characters of a wrong reply quoted in an error message. */
#define QUOTE_MAX 80
/* Longest video id used in a URL. */
#define MAX_VIDEO_ID 128

/*
 * The prompt-optimization mode: a scene description in, a prompt for an
 * image or video model out. Fixed, so one storyboard gives one result.
 */
static const char optimize_system[] =
    "You rewrite a short scene description into one prompt for an image or video "
    "generation model. Keep the subject and the action. Add the setting, composition, "
    "camera angle and lens, lighting, colour palette, mood and visual style, concretely. "
    "Write one paragraph of at most 120 words, in English, with no preamble, no list, "
    "no quotes and no explanation: reply with the prompt only.";

static const struct {
	const char *tool, *model;
} default_models[] = {
    {"text2text", "gpt-4o-mini"},   {"text2image", "gpt-image-1"},
    {"image2image", "gpt-image-1"}, {"text2speak", "gpt-4o-mini-tts"},
    {"text2video", "sora-2"},	    {"image2video", "sora-2"},
};

/* The process's one HTTP client: a connection kept across tasks. */
static struct fm_http http;
static int http_ready;

/* One task being run. */
struct job {
	struct fm_plugin_ctx *ctx;
	const struct fm_task *task;
	const char *dir;
	struct fm_result *res;
	struct fm_error *err;
	const char *model;
	double percent; /* last percent reported */
	struct fm_plugin_retry retry;
};

static void progress(struct job *j, double percent, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void progress(struct job *j, double percent, const char *stage, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (percent < j->percent)
		percent = j->percent;
	j->percent = percent;
	fm_plugin_progress(j->ctx, percent, stage, msg);
}

/* --- settings ------------------------------------------------------------ */

/* The model: parameter, then config models.TOOL, then config model, then ours. */
static const char *model_for(struct job *j)
{
	json_object *settings = fm_plugin_settings(j->ctx);
	const char *m = fm_json_get_string(j->task->parameters, "model");
	size_t i;

	if (m && *m)
		return m;
	m = fm_json_get_string(fm_json_get(settings, "models", json_type_object),
			       j->task->tool_name);
	if (m && *m)
		return m;
	m = fm_json_get_string(settings, "model");
	if (m && *m)
		return m;
	for (i = 0; i < sizeof(default_models) / sizeof(default_models[0]); i++)
		if (!strcmp(default_models[i].tool, j->task->tool_name))
			return default_models[i].model;
	return "gpt-4o-mini";
}

/* Points the client at this task's endpoint and key, with its limits. */
static int connect_service(struct job *j)
{
	struct fm_plugin_ctx *ctx = j->ctx;
	const struct fm_task *t = j->task;
	const char *base = fm_plugin_setting(ctx, t, "endpoint", "OPENAI_BASE_URL", DEFAULT_BASE);
	const char *key_file = fm_plugin_setting(ctx, t, "key_file", NULL, NULL);
	double timeout = FM_HTTP_TIMEOUT, retries = FM_HTTP_RETRIES, backoff = FM_HTTP_BACKOFF;
	char *key = NULL;
	int rc = 0;

	if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
		return fm_error(j->err, FM_VALIDATION_ERROR,
				"setting 'endpoint': '%s' is not an http or https URL", base);
	if (fm_plugin_number(ctx, t, "timeout", FM_HTTP_TIMEOUT, 1, 86400, &timeout, j->err) < 0 ||
	    fm_plugin_number(ctx, t, "retries", FM_HTTP_RETRIES, 0, 10, &retries, j->err) < 0 ||
	    fm_plugin_number(ctx, t, "backoff", FM_HTTP_BACKOFF, 0, 60, &backoff, j->err) < 0 ||
	    fm_http_key("OPENAI_API_KEY", key_file, 1, &key, j->err) < 0)
		return -1;
	if (!http_ready) {
		rc = fm_http_init(&http, base, key, j->err);
		http_ready = rc == 0;
	} else {
		fm_http_rebase(&http, base, key);
	}
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	if (rc < 0)
		return -1;
	http.timeout = (long)timeout;
	http.retries = (int)retries;
	http.backoff = backoff;
	/* A retry is told at the percent the task is at. */
	j->retry = (struct fm_plugin_retry){.ctx = j->ctx, .percent = -1, .stage = "retrying"};
	fm_plugin_http(&http, &j->retry);
	return 0;
}

/* A refused key says where a key comes from. */
static int explain(struct job *j)
{
	json_object *st = fm_json_get(j->err->details, "status", json_type_int);
	int status = st ? json_object_get_int(st) : 0;
	char was[FM_ERROR_MAX];

	if (status == 401 || status == 403) {
		snprintf(was, sizeof(was), "%s", j->err->message);
		fm_error(j->err, j->err->code,
			 "%s; set OPENAI_API_KEY, or key_file in config.yaml's plugins.openai",
			 was);
	}
	return -1;
}

/* --- small helpers --------------------------------------------------------- */

static void add_string(json_object *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_object_add(o, key, json_object_new_string(v));
}

/* A parameter copied into the request when the task gives it. */
static void pass(json_object *body, json_object *params, const char *key, const char *as)
{
	json_object *v;

	if (json_object_object_get_ex(params, key, &v) && v)
		json_object_object_add(body, as ? as : key, json_object_get(v));
}

static const char *required(struct job *j, const char *key)
{
	const char *v = fm_json_get_string(j->task->parameters, key);

	if (!v || !v[strspn(v, " \t\r\n")]) {
		fm_error(j->err, FM_VALIDATION_ERROR, "parameter '%s' is required and not blank",
			 key);
		return NULL;
	}
	return v;
}

/* A service reply that lacks what it must have. */
static int malformed(struct job *j, json_object *reply, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int malformed(struct job *j, json_object *reply, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fm_error(j->err, FM_SERVICE_ERROR, "the service's reply %s", what);
	if (reply) {
		const char *s = fm_json_str(reply);

		fm_http_error_body(j->err, "reply", s, strlen(s));
	}
	return -1;
}

/* output_dir/name as an absolute path, for output_files. */
static char *out_path(struct job *j, const char *name)
{
	char *p = fm_xasprintf("%s/%s", j->dir, name), *abs = fm_abspath(p);

	free(p);
	return abs;
}

static int add_output(struct job *j, const char *path)
{
	return fm_result_add_output(j->res, path, j->err);
}

static int write_output(struct job *j, const char *name, const char *data, size_t len)
{
	char *path = out_path(j, name);
	int rc = fm_write_file(path, data, len, j->err);

	if (rc == 0)
		rc = add_output(j, path);
	free(path);
	return rc;
}

/* --- text2text --------------------------------------------------------------- */

struct stream {
	struct job *j;
	struct fm_sse sse;
	struct fm_error err;	     /* a fault found inside the stream */
	struct fm_redact_stream red; /* the deltas, held back while they may be a key */
	struct fm_buf text;	     /* the answer so far, redacted */
	struct fm_buf raw;	     /* the body while no event came: a JSON reply to stream:true */
	long tokens;		     /* content chunks, about one token each */
	double max_tokens, shown;
	char finish[32];
	json_object *usage;
	int events, done, failed;
};

static int append(struct stream *s, const char *v, size_t n)
{
	if (s->text.len + n > MAX_ANSWER)
		return fm_error(&s->err, FM_SERVICE_ERROR, "the answer is longer than %d bytes",
				MAX_ANSWER);
	fm_buf_add(&s->text, v, n);
	return 0;
}

static void stream_progress(struct stream *s)
{
	double now = fm_now(), pct;

	if (now - s->shown < STREAM_PROGRESS_EVERY)
		return;
	s->shown = now;
	/* The length is unknown: max_tokens bounds it, else a curve that never ends. */
	pct = s->max_tokens > 0 ? 100.0 * s->tokens / s->max_tokens
				: 100.0 * s->tokens / (s->tokens + STREAM_HALF_TOKENS);
	progress(s->j, fmin(pct, 99), "generating", "%zu characters, %ld tokens", s->text.len,
		 s->tokens);
}

/* One chunk: choices[0].delta.content, and finish_reason at the end. */
static int on_chunk(struct stream *s, json_object *o)
{
	json_object *e = fm_json_get(o, "error", json_type_object);
	json_object *choices = fm_json_get(o, "choices", json_type_array);
	json_object *c0 = choices && json_object_array_length(choices)
			      ? json_object_array_get_idx(choices, 0)
			      : NULL;
	json_object *delta = fm_json_get(c0, "delta", json_type_object);
	const char *content = fm_json_get_string(delta, "content");
	const char *finish = fm_json_get_string(c0, "finish_reason");
	json_object *usage = fm_json_get(o, "usage", json_type_object);

	if (e) {
		const char *m = fm_json_get_string(e, "message");

		fm_error(&s->err, FM_SERVICE_ERROR, "the service failed mid-stream: %s",
			 m ? m : fm_json_str(e));
		fm_error_detail(&s->err, "body", json_object_get(o));
		return -1;
	}
	if (!choices && !usage) {
		fm_error(&s->err, FM_SERVICE_ERROR, "a streamed chunk has no choices: %.*s",
			 QUOTE_MAX, fm_json_str(o));
		return -1;
	}
	if (content && *content) {
		size_t n;
		char *clean = fm_redact_feed(&s->red, content, strlen(content), &n);
		int rc = append(s, clean, n);

		free(clean);
		if (rc < 0)
			return -1;
		s->tokens++;
		stream_progress(s);
	}
	if (finish)
		snprintf(s->finish, sizeof(s->finish), "%s", finish);
	if (usage) {
		json_object_put(s->usage);
		s->usage = json_object_get(usage);
	}
	return 0;
}

static int on_event(void *arg, const char *type, const char *data, size_t len, const char *id)
{
	struct stream *s = arg;
	json_object *o = NULL;
	int rc;

	(void)id;
	s->events++;
	if (!strcmp(type, "error")) {
		fm_error(&s->err, FM_SERVICE_ERROR, "the service failed mid-stream: %.*s",
			 (int)(len > FM_HTTP_SAID_MAX ? FM_HTTP_SAID_MAX : len), data);
		return -1;
	}
	if (!strcmp(data, "[DONE]")) {
		s->done = 1;
		return 1;
	}
	if (fm_json_parse(data, len, &o, NULL) < 0) {
		fm_error(&s->err, FM_SERVICE_ERROR, "a streamed chunk is not JSON: %.*s", QUOTE_MAX,
			 data);
		return -1;
	}
	rc = on_chunk(s, o);
	json_object_put(o);
	return rc;
}

static int on_line(void *arg, const char *line, size_t len)
{
	struct stream *s = arg;
	int rc;

	/* Until an event comes, keep the body: it may be a JSON reply. */
	if (!s->events && s->raw.len + len + 2 <= MAX_ANSWER) {
		fm_buf_add(&s->raw, line, len);
		fm_buf_add(&s->raw, "\n", 1);
	}
	rc = fm_sse_line(&s->sse, line, len, &s->err);
	if (rc < 0)
		s->failed = 1;
	return rc != 0;
}

static int chat_reply(struct job *j, json_object *reply, struct stream *s);

/* The end of a streamed answer: the tail held back, now told. */
static int end_text(struct stream *s)
{
	size_t n;
	char *clean = fm_redact_finish(&s->red, &n);
	int rc = append(s, clean, n);

	free(clean);
	if (rc < 0)
		fm_error_move(s->j->err, &s->err);
	return rc;
}

/*
 * After the transfer: what the stream said, or, from a service that
 * ignored stream:true, the one JSON reply it sent instead.
 */
static int stream_result(struct job *j, struct stream *s, const char *ctype)
{
	json_object *reply = NULL;
	int rc;

	if (!s->failed && !s->done && fm_sse_end(&s->sse, &s->err) < 0)
		s->failed = 1;
	if (s->failed || s->err.code) {
		fm_error_move(j->err, &s->err);
		return -1;
	}
	if (!s->events && ctype && !strcmp(ctype, "application/json") && s->raw.len) {
		if (fm_json_parse(s->raw.s, s->raw.len, &reply, NULL) < 0)
			return fm_error(j->err, FM_SERVICE_ERROR,
					"the service's reply is not JSON (%zu bytes): %.*s",
					s->raw.len, QUOTE_MAX, s->raw.s);
		rc = chat_reply(j, reply, s);
		json_object_put(reply);
		return rc;
	}
	if (!s->events)
		return fm_error(j->err, FM_SERVICE_ERROR,
				"the service answered %s, not an event stream (text/event-stream)",
				ctype ? ctype : "a body without a type");
	if (!s->done && !s->finish[0])
		return fm_error(j->err, FM_SERVICE_ERROR,
				"the stream ended before 'data: [DONE]' (%zu characters received)",
				s->text.len);
	return end_text(s);
}

/* A chat.completion: choices[0].message.content. */
static int chat_reply(struct job *j, json_object *reply, struct stream *s)
{
	json_object *choices = fm_json_get(reply, "choices", json_type_array);
	json_object *c0 = choices && json_object_array_length(choices)
			      ? json_object_array_get_idx(choices, 0)
			      : NULL;
	json_object *msg = fm_json_get(c0, "message", json_type_object);
	const char *content = fm_json_get_string(msg, "content");
	const char *finish = fm_json_get_string(c0, "finish_reason");
	json_object *usage = fm_json_get(reply, "usage", json_type_object);
	char *clean;
	size_t n;
	int rc;

	if (!choices)
		return malformed(j, reply, "has no 'choices' array");
	if (!c0)
		return malformed(j, reply, "has an empty 'choices' array");
	if (!content)
		return malformed(j, reply, "has no choices[0].message.content");
	if (strlen(content) > MAX_ANSWER)
		return fm_error(j->err, FM_SERVICE_ERROR, "the answer is longer than %d bytes",
				MAX_ANSWER);
	s->text.len = 0;
	clean = fm_redact(content, strlen(content), &n);
	rc = append(s, clean, n);
	free(clean);
	if (rc < 0) {
		fm_error_move(j->err, &s->err);
		return -1;
	}
	if (finish)
		snprintf(s->finish, sizeof(s->finish), "%s", finish);
	if (usage) {
		json_object_put(s->usage);
		s->usage = json_object_get(usage);
	}
	return 0;
}

static json_object *chat_body(struct job *j, const char *prompt, int optimize, int streaming)
{
	json_object *body = json_object_new_object(), *msgs = json_object_new_array();
	const char *system = fm_json_get_string(j->task->parameters, "system");
	json_object *m;

	if (optimize || (system && *system)) {
		char *text = optimize && system && *system
				 ? fm_xasprintf("%s\n\nAlso: %s", optimize_system, system)
				 : fm_xstrdup(optimize ? optimize_system : system);

		m = json_object_new_object();
		add_string(m, "role", "system");
		add_string(m, "content", text);
		json_object_array_add(msgs, m);
		free(text);
	}
	m = json_object_new_object();
	add_string(m, "role", "user");
	json_object_object_add(m, "content", json_object_new_string(prompt));
	json_object_array_add(msgs, m);
	add_string(body, "model", j->model);
	json_object_object_add(body, "messages", msgs);
	pass(body, j->task->parameters, "temperature", NULL);
	pass(body, j->task->parameters, "max_tokens", NULL);
	pass(body, j->task->parameters, "top_p", NULL);
	pass(body, j->task->parameters, "seed", NULL);
	if (streaming)
		json_object_object_add(body, "stream", json_object_new_boolean(1));
	return body;
}

static int text2text(struct job *j)
{
	const char *prompt = required(j, "prompt");
	const char *mode = fm_json_get_string(j->task->parameters, "mode");
	json_object *sp = fm_json_get(j->task->parameters, "stream", json_type_boolean);
	int optimize = mode && !strcmp(mode, "optimize");
	int streaming = sp ? json_object_get_boolean(sp) : 1;
	struct stream s = {.j = j, .err = FM_ERROR_INIT};
	struct fm_http_req r = {.url = "/chat/completions"};
	struct fm_http_resp resp = {0};
	json_object *body = NULL, *reply = NULL;
	size_t start, end;
	int rc = -1;

	if (!prompt)
		return -1;
	if (mode && !optimize && strcmp(mode, "chat"))
		return fm_error(j->err, FM_VALIDATION_ERROR,
				"parameter 'mode': '%s' is not chat or optimize", mode);
	s.max_tokens = fm_json_get_double(j->task->parameters, "max_tokens", 0);
	body = chat_body(j, prompt, optimize, streaming);
	progress(j, 0, "generating", "asking %s", j->model);
	if (streaming) {
		struct curl_slist *accept = curl_slist_append(NULL, "Accept: text/event-stream");

		fm_sse_init(&s.sse, on_event, &s);
		r.json = body;
		r.line = on_line;
		r.arg = &s;
		r.headers = accept;
		rc = fm_http_do(&http, &r, &resp, j->err);
		curl_slist_free_all(accept);
		if (rc < 0)
			explain(j);
		else
			rc = stream_result(j, &s, resp.content_type);
		fm_sse_release(&s.sse);
	} else {
		rc = fm_http_json(&http, "POST", "/chat/completions", NULL, body, &reply, j->err);
		if (rc < 0)
			explain(j);
		else
			rc = chat_reply(j, reply, &s);
	}
	if (rc < 0)
		goto out;
	/* A rewritten prompt is used as it is: no blank lines around it. */
	start = 0;
	end = s.text.len;
	if (optimize) {
		while (start < end && strchr(" \t\r\n\"", s.text.s[start]))
			start++;
		while (end > start && strchr(" \t\r\n\"", s.text.s[end - 1]))
			end--;
	}
	if (optimize && end == start) {
		rc =
		    fm_error(j->err, FM_SERVICE_ERROR, "the service answered with an empty prompt");
		goto out;
	}
	if ((rc = fm_mkdirs(j->dir, j->err)) < 0 ||
	    (rc = write_output(j, optimize ? "prompt.txt" : "text.txt", fm_buf_str(&s.text) + start,
			       end - start)) < 0)
		goto out;
	if (end - start <= MAX_META_TEXT)
		json_object_object_add(
		    j->res->metadata, "text",
		    json_object_new_string_len(fm_buf_str(&s.text) + start, (int)(end - start)));
	add_string(j->res->metadata, "finish_reason", s.finish);
	if (s.usage)
		json_object_object_add(j->res->metadata, "usage", json_object_get(s.usage));
	progress(j, 100, "generating", "%zu characters", end - start);
	fm_plugin_log(j->ctx, "text2text: %zu characters from %s (%s)", end - start, j->model,
		      s.finish[0] ? s.finish : "no finish reason");
out:
	json_object_put(body);
	json_object_put(reply);
	json_object_put(s.usage);
	fm_http_resp_release(&resp);
	fm_error_release(&s.err);
	fm_redact_stream_release(&s.red);
	fm_buf_release(&s.text);
	fm_buf_release(&s.raw);
	return rc;
}

/* --- images -------------------------------------------------------------------- */

/* The image format by its first bytes; NULL when it is none we know. */
static const char *image_ext(const unsigned char *b, size_t n)
{
	if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
		return "png";
	if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
		return "jpg";
	if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
		return "webp";
	if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
		return "gif";
	return NULL;
}

static int save_b64(struct job *j, json_object *reply, size_t i, const char *b64)
{
	size_t n = strlen(b64);
	unsigned char *buf;
	const char *ext;
	char name[32];
	int len, rc;

	if (n > INT_MAX / 2)
		return malformed(j, NULL, "has data[%zu].b64_json too large", i);
	buf = fm_xmalloc(AV_BASE64_DECODE_SIZE(n) + 1);
	len = av_base64_decode(buf, b64, (int)AV_BASE64_DECODE_SIZE(n) + 1);
	if (len <= 0) {
		free(buf);
		return malformed(j, reply, "has data[%zu].b64_json that is not base64", i);
	}
	if (!(ext = image_ext(buf, (size_t)len))) {
		free(buf);
		return malformed(
		    j, NULL, "has data[%zu].b64_json that is not a PNG, JPEG, WebP or GIF image",
		    i);
	}
	snprintf(name, sizeof(name), "image-%zu.%s", i + 1, ext);
	rc = write_output(j, name, (const char *)buf, (size_t)len);
	free(buf);
	return rc;
}

static int save_url(struct job *j, size_t i, const char *url)
{
	char *tmp = fm_xasprintf("%s/.image-%zu.download", j->dir, i + 1), *dst = NULL, *abs;
	unsigned char head[16];
	const char *ext;
	size_t n = 0;
	FILE *f;
	int rc;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		free(tmp);
		return malformed(j, NULL, "has data[%zu].url that is not an http URL: %.*s", i,
				 QUOTE_MAX, url);
	}
	/* Images often lie on storage elsewhere: lib/http.c sends the key only under the endpoint.
	 */
	rc = fm_http_get_file(&http, url, tmp, j->err);
	if (rc < 0)
		goto out;
	if ((f = fopen(tmp, "rb"))) {
		n = fread(head, 1, sizeof(head), f);
		fclose(f);
	}
	if (!(ext = image_ext(head, n))) {
		rc = fm_error(j->err, FM_SERVICE_ERROR,
			      "'%s' is not a PNG, JPEG, WebP or GIF image", url);
		goto out;
	}
	dst = fm_xasprintf("%s/image-%zu.%s", j->dir, i + 1, ext);
	if (rename(tmp, dst) < 0) {
		rc = fm_error(j->err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", dst);
		goto out;
	}
	abs = fm_abspath(dst);
	rc = add_output(j, abs);
	free(abs);
out:
	unlink(tmp);
	free(tmp);
	free(dst);
	return rc;
}

/* {"created":…,"data":[{"b64_json":…} or {"url":…}]}: every image a file. */
static int save_images(struct job *j, json_object *reply)
{
	json_object *data = fm_json_get(reply, "data", json_type_array);
	size_t i, n = data ? json_object_array_length(data) : 0;
	const char *revised = NULL;

	if (!data)
		return malformed(j, reply, "has no 'data' array");
	if (!n)
		return malformed(j, reply, "has no image in its 'data' array");
	if (n > MAX_IMAGES)
		return malformed(j, NULL, "has %zu images, more than %d", n, MAX_IMAGES);
	if (fm_mkdirs(j->dir, j->err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(data, i);
		const char *b64 = fm_json_get_string(item, "b64_json");
		const char *url = fm_json_get_string(item, "url");

		if (b64 && save_b64(j, reply, i, b64) < 0)
			return -1;
		if (!b64 && url && save_url(j, i, url) < 0)
			return -1;
		if (!b64 && !url)
			return malformed(j, reply, "has data[%zu] with neither b64_json nor url",
					 i);
		if (!revised)
			revised = fm_json_get_string(item, "revised_prompt");
		progress(j, 100.0 * (i + 1) / n, "saving", "image %zu of %zu", i + 1, n);
	}
	add_string(j->res->metadata, "revised_prompt", revised);
	add_string(j->res->metadata, "model", j->model);
	return 0;
}

/*
 * gpt-image models always answer b64_json and refuse the parameter;
 * dall-e models answer a URL unless asked: ask them for b64_json.
 */
static const char *response_format(struct job *j)
{
	const char *f = fm_json_get_string(j->task->parameters, "response_format");

	if (f && *f)
		return f;
	return !strncmp(j->model, "dall-e", 6) ? "b64_json" : NULL;
}

static int text2image(struct job *j)
{
	const char *prompt = required(j, "prompt");
	json_object *body, *reply = NULL, *params = j->task->parameters;
	int rc;

	if (!prompt)
		return -1;
	body = json_object_new_object();
	add_string(body, "model", j->model);
	add_string(body, "prompt", prompt);
	pass(body, params, "n", NULL);
	pass(body, params, "size", NULL);
	pass(body, params, "quality", NULL);
	pass(body, params, "style", NULL);
	pass(body, params, "background", NULL);
	pass(body, params, "output_format", NULL);
	add_string(body, "response_format", response_format(j));
	progress(j, 0, "generating", "asking %s", j->model);
	rc = fm_http_json(&http, "POST", "/images/generations", NULL, body, &reply, j->err);
	if (rc < 0)
		explain(j);
	else
		rc = save_images(j, reply);
	json_object_put(body);
	json_object_put(reply);
	return rc;
}

/* The input image: the resource with role image, else the first image. */
static json_object *input_image(struct job *j)
{
	json_object *image = fm_plugin_input(j->task, "image/", "image", NULL);

	if (!image)
		fm_error(j->err, FM_VALIDATION_ERROR,
			 "%s needs an input image (a PNG, JPEG or WebP resource)",
			 j->task->tool_name);
	return image;
}

/* A file part from a resource, typed by its MIME type or its name. */
static int mime_resource(struct job *j, curl_mime *m, const char *name, json_object *r)
{
	const char *path = fm_json_get_string(r, "data");
	const char *mime = fm_json_get_string(r, "mime_type");

	if (access(path, R_OK) < 0)
		return fm_error(j->err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s':", path);
	return fm_http_mime_file(m, name, path, mime ? mime : fm_mime_from_path(path), j->err);
}

/* A multipart request whose reply is JSON. */
static int post_mime(struct job *j, const char *url, curl_mime *m, json_object **reply)
{
	struct fm_http_req r = {.url = url, .mime = m};
	struct fm_http_resp resp = {0};
	int rc = fm_http_do(&http, &r, &resp, j->err);

	*reply = NULL;
	if (rc < 0)
		explain(j);
	else if (fm_json_parse(resp.body, resp.len, reply, NULL) < 0)
		rc = fm_error(j->err, FM_SERVICE_ERROR,
			      "the service answered %s that is not JSON (%zu bytes): %.*s",
			      resp.content_type ? resp.content_type : "a body without a type",
			      resp.len, QUOTE_MAX, resp.body ? resp.body : "");
	fm_http_resp_release(&resp);
	return rc;
}

static void mime_param(curl_mime *m, json_object *params, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(params, key, &v) && v)
		fm_http_mime_text(m, key, json_object_get_string(v));
}

static int image2image(struct job *j)
{
	const char *prompt = required(j, "prompt");
	json_object *image, *reply = NULL, *params = j->task->parameters;
	curl_mime *m;
	int rc;

	if (!prompt || !(image = input_image(j)))
		return -1;
	m = fm_http_mime(&http);
	if (mime_resource(j, m, "image", image) < 0) {
		curl_mime_free(m);
		return -1;
	}
	fm_http_mime_text(m, "prompt", prompt);
	fm_http_mime_text(m, "model", j->model);
	mime_param(m, params, "n");
	mime_param(m, params, "size");
	mime_param(m, params, "quality");
	mime_param(m, params, "background");
	mime_param(m, params, "output_format");
	if (response_format(j))
		fm_http_mime_text(m, "response_format", response_format(j));
	progress(j, 0, "generating", "asking %s", j->model);
	rc = post_mime(j, "/images/edits", m, &reply);
	if (rc == 0)
		rc = save_images(j, reply);
	curl_mime_free(m);
	json_object_put(reply);
	return rc;
}

/* --- text2speak ------------------------------------------------------------------ */

/* A content type that may carry audio. */
static int audio_type(const char *t)
{
	return !t || !strncmp(t, "audio/", 6) || !strcmp(t, "application/octet-stream");
}

static int text2speak(struct job *j)
{
	const char *text = required(j, "text");
	const char *fmt = fm_json_get_string(j->task->parameters, "response_format");
	const char *voice = fm_json_get_string(j->task->parameters, "voice");
	json_object *body, *params = j->task->parameters;
	struct fm_http_req r = {.url = "/audio/speech"};
	struct fm_http_resp resp = {0};
	char *path = NULL, *name;
	int rc;

	if (!text)
		return -1;
	fmt = fmt && *fmt ? fmt : "wav";
	if (strspn(fmt, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(fmt))
		return fm_error(j->err, FM_VALIDATION_ERROR,
				"parameter 'response_format': '%s' is not a format name", fmt);
	body = json_object_new_object();
	add_string(body, "model", j->model);
	add_string(body, "input", text);
	add_string(body, "voice", voice && *voice ? voice : "alloy");
	add_string(body, "response_format", fmt);
	pass(body, params, "speed", NULL);
	pass(body, params, "instructions", NULL);
	if (fm_mkdirs(j->dir, j->err) < 0) {
		json_object_put(body);
		return -1;
	}
	name = fm_xasprintf("speech.%s", fmt);
	path = out_path(j, name);
	r.json = body;
	r.file = path;
	progress(j, 0, "synthesize", "asking %s", j->model);
	rc = fm_http_do(&http, &r, &resp, j->err);
	if (rc < 0) {
		explain(j);
	} else if (!audio_type(resp.content_type)) {
		unlink(path);
		rc =
		    fm_error(j->err, FM_SERVICE_ERROR,
			     "the service answered %s where audio was expected", resp.content_type);
		fm_error_detail(j->err, "content_type", json_object_new_string(resp.content_type));
	} else if ((rc = add_output(j, path)) == 0) {
		add_string(j->res->metadata, "model", j->model);
		add_string(j->res->metadata, "voice", voice && *voice ? voice : "alloy");
		progress(j, 100, "synthesize", "%s written", name);
	}
	json_object_put(body);
	fm_http_resp_release(&resp);
	free(path);
	free(name);
	return rc;
}

/* --- videos ---------------------------------------------------------------------- */

/* A video id goes into URLs: only what ids are made of. */
static int valid_video_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= MAX_VIDEO_ID &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") ==
		   n &&
	       id[0] != '.';
}

/* Cancels the video remotely: quickly, once, whatever the host does. */
static void delete_video(struct job *j, const char *id)
{
	char *url = fm_xasprintf("/videos/%s", id);
	struct fm_http_req r = {.method = "DELETE", .url = url, .no_retry = 1};
	struct fm_http_resp resp = {0};
	struct fm_error e = FM_ERROR_INIT;
	int (*cancelled)(void *) = http.cancelled;
	long timeout = http.timeout;

	http.cancelled = NULL;
	http.timeout = DELETE_TIMEOUT;
	if (fm_http_do(&http, &r, &resp, &e) < 0)
		fm_plugin_log(j->ctx, "could not cancel video %s: %s", id, e.message);
	else
		fm_plugin_log(j->ctx, "video %s cancelled at the service", id);
	http.cancelled = cancelled;
	http.timeout = timeout;
	fm_error_release(&e);
	fm_http_resp_release(&resp);
	free(url);
}

/* Sleeps s seconds, looking at cancel; returns -1 when cancelled. */
static int pause_for(struct job *j, double s)
{
	double end = fm_now() + s;

	for (;;) {
		double left = end - fm_now();
		struct timespec ts;

		if (fm_plugin_cancel_check(j->ctx))
			return fm_error(j->err, FM_TASK_CANCELLED,
					"cancelled while the video was made");
		if (left <= 0)
			return 0;
		left = fmin(left, 0.02);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
}

static json_object *create_video(struct job *j, json_object *image)
{
	json_object *params = j->task->parameters, *reply = NULL;
	const char *prompt = required(j, "prompt");
	const char *size = fm_json_get_string(params, "size");
	char seconds[32];

	if (!prompt)
		return NULL;
	snprintf(seconds, sizeof(seconds), "%d", (int)fm_json_get_double(params, "seconds", 4));
	size = size && *size ? size : "1280x720";
	if (image) {
		curl_mime *m = fm_http_mime(&http);

		fm_http_mime_text(m, "model", j->model);
		fm_http_mime_text(m, "prompt", prompt);
		fm_http_mime_text(m, "seconds", seconds);
		fm_http_mime_text(m, "size", size);
		if (mime_resource(j, m, "input_reference", image) == 0)
			post_mime(j, "/videos", m, &reply);
		curl_mime_free(m);
	} else {
		json_object *body = json_object_new_object();

		add_string(body, "model", j->model);
		add_string(body, "prompt", prompt);
		add_string(body, "seconds", seconds);
		add_string(body, "size", size);
		if (fm_http_json(&http, "POST", "/videos", NULL, body, &reply, j->err) < 0)
			explain(j);
		json_object_put(body);
	}
	return reply;
}

/* Polls until completed; returns 0, or -1 with the error (cancel included). */
static int wait_video(struct job *j, const char *id, json_object **video, double poll,
		      double max_wait)
{
	char *url = fm_xasprintf("/videos/%s", id);
	double start = fm_now();
	int rc = -1;

	for (;;) {
		const char *status = fm_json_get_string(*video, "status");
		double pct = fm_json_get_double(*video, "progress", -1);
		json_object *e;

		if (!status) {
			malformed(j, *video, "has no video 'status'");
			break;
		}
		if (!strcmp(status, "completed")) {
			rc = 0;
			break;
		}
		if (!strcmp(status, "failed")) {
			const char *why = fm_json_get_string(
			    (e = fm_json_get(*video, "error", json_type_object)), "message");

			fm_error(j->err, FM_SERVICE_ERROR, "video %s failed: %s", id,
				 why ? why : "the service gave no reason");
			if (e)
				fm_error_detail(j->err, "error", json_object_get(e));
			break;
		}
		if (strcmp(status, "queued") && strcmp(status, "in_progress")) {
			malformed(j, *video, "has an unknown video status '%.*s'", QUOTE_MAX,
				  status);
			break;
		}
		/* 100 is for when the file is here. */
		if (pct >= 0)
			progress(j, fmin(pct, 99), status, "video %s: %s %.0f%%", id, status, pct);
		else
			progress(j, j->percent, status, "video %s: %s", id, status);
		if (fm_now() - start > max_wait) {
			fm_error(j->err, FM_TIMEOUT_ERROR, "video %s was not made in %g s", id,
				 max_wait);
			break;
		}
		if (pause_for(j, poll) < 0)
			break;
		json_object_put(*video);
		*video = NULL;
		if (fm_http_json(&http, "GET", url, NULL, NULL, video, j->err) < 0) {
			explain(j);
			break;
		}
	}
	free(url);
	return rc;
}

static int download_video(struct job *j, const char *id)
{
	char *url = fm_xasprintf("/videos/%s/content", id), *path = out_path(j, "video.mp4");
	struct fm_http_req r = {.url = url, .file = path};
	struct fm_http_resp resp = {0};
	int rc;

	progress(j, 99, "downloading", "video %s", id);
	rc = fm_http_do(&http, &r, &resp, j->err);
	if (rc < 0) {
		explain(j);
	} else if (resp.content_type && strncmp(resp.content_type, "video/", 6) &&
		   strcmp(resp.content_type, "application/octet-stream")) {
		unlink(path);
		rc = fm_error(j->err, FM_SERVICE_ERROR,
			      "the service answered %s where a video was expected",
			      resp.content_type);
		fm_error_detail(j->err, "content_type", json_object_new_string(resp.content_type));
	} else {
		rc = add_output(j, path);
	}
	fm_http_resp_release(&resp);
	free(url);
	free(path);
	return rc;
}

static int video(struct job *j)
{
	int from_image = !strcmp(j->task->tool_name, "image2video");
	json_object *image = from_image ? input_image(j) : NULL, *v = NULL;
	double poll = POLL_DEFAULT, max_wait = VIDEO_WAIT_DEFAULT;
	const char *id;
	char *vid = NULL;
	int rc = -1;

	if ((from_image && !image) ||
	    fm_plugin_number(j->ctx, j->task, "poll_interval", POLL_DEFAULT, POLL_MIN, POLL_MAX,
			     &poll, j->err) < 0 ||
	    fm_plugin_number(j->ctx, j->task, "video_timeout", VIDEO_WAIT_DEFAULT, 1, 86400,
			     &max_wait, j->err) < 0)
		return -1;
	progress(j, 0, "queued", "asking %s", j->model);
	if (!(v = create_video(j, image)))
		return -1;
	id = fm_json_get_string(v, "id");
	if (!valid_video_id(id)) {
		malformed(j, v,
			  id ? "has a video id that is not one: '%.*s'" : "has no video 'id'%.*s",
			  QUOTE_MAX, id ? id : "");
		goto out;
	}
	vid = fm_xstrdup(id);
	fm_plugin_log(j->ctx, "video %s: made by %s", vid, j->model);
	if (wait_video(j, vid, &v, poll, max_wait) < 0) {
		/* Nobody will fetch it: stop the service's work too. */
		if (j->err->code == FM_TASK_CANCELLED || j->err->code == FM_TIMEOUT_ERROR)
			delete_video(j, vid);
		goto out;
	}
	if (fm_mkdirs(j->dir, j->err) < 0 || download_video(j, vid) < 0) {
		if (j->err->code == FM_TASK_CANCELLED)
			delete_video(j, vid);
		goto out;
	}
	add_string(j->res->metadata, "video_id", vid);
	add_string(j->res->metadata, "model", j->model);
	add_string(j->res->metadata, "size", fm_json_get_string(v, "size"));
	add_string(j->res->metadata, "seconds", fm_json_get_string(v, "seconds"));
	progress(j, 100, "completed", "video %s", vid);
	rc = 0;
out:
	json_object_put(v);
	free(vid);
	return rc;
}

/* --- the plugin ---------------------------------------------------------------- */

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	static const struct {
		const char *tool;
		int (*run)(struct job *);
	} tools[] = {
	    {"text2text", text2text},	{"text2image", text2image}, {"image2image", image2image},
	    {"text2speak", text2speak}, {"text2video", video},	    {"image2video", video},
	};
	struct job j = {
	    .ctx = ctx, .task = task, .dir = output_dir, .res = res, .err = &res->error};
	size_t i;

	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (!strcmp(tools[i].tool, task->tool_name))
			break;
	if (i == sizeof(tools) / sizeof(tools[0]))
		return fm_error(&res->error, FM_VALIDATION_ERROR, "openai has no tool '%s'",
				task->tool_name);
	j.model = model_for(&j);
	if (connect_service(&j) < 0)
		return -1;
	if (tools[i].run(&j) == 0)
		return 0;
	/* A failed task leaves nothing: not the first image of two either. */
	for (i = 0; i < json_object_array_length(res->output_files); i++)
		unlink(json_object_get_string(json_object_array_get_idx(res->output_files, i)));
	return -1;
}

static const struct fm_plugin_def def = {
    .name = "openai",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	int rc = fm_plugin_main(argc, argv, &def);

	if (http_ready)
		fm_http_release(&http);
	return rc;
}
