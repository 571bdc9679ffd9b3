/*
 * filmeto-serve's OpenAI-compatible face (seed 001), kept apart from
 * libevent so it can be fuzzed and unit tested: an OpenAI request body
 * made into a filmeto task, the model list, a task's final line, status
 * and progress made into OpenAI's answers, and OpenAI's error shape.
 * The model name is a plugin's name (or PLUGIN/TOOL); the route says the
 * tool. Nothing here prints, touches a socket or reads a file.
 */
#ifndef FM_SERVE_OPENAI_H
#define FM_SERVE_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "util.h"

/*
 * How long a synchronous route (images, speech, chat) waits for its
 * task's final line (s); then it answers 504 and cancels the task, whose
 * answer nobody would take.
 */
#define FM_OAI_WAIT 600.0
/* The longest prompt, chat message text or speech input taken (bytes). */
#define FM_OAI_PROMPT_MAX (256 * 1024)
/* The most text of a chat answer's output file sent back (bytes). */
#define FM_OAI_TEXT_MAX (1024 * 1024)
/* The largest image sent back as b64_json (bytes, before encoding). */
#define FM_OAI_B64_MAX (32 * 1024 * 1024)
/* multipart/form-data (POST /v1/videos): parts, and a part's name and headers. */
#define FM_OAI_PARTS_MAX     32
#define FM_OAI_PART_HEAD_MAX 1024
/* The largest width or height a size ("1280x720") may name. */
#define FM_OAI_SIDE_MAX 16384
/* A model name: PLUGIN or PLUGIN/TOOL. */
#define FM_OAI_MODEL_MAX (2 * FM_ID_MAX + 1)

/* The POST routes, each a kind of task. */
enum fm_oai_kind {
	FM_OAI_IMAGES, /* /v1/images/generations: text2image */
	FM_OAI_SPEECH, /* /v1/audio/speech: text2speak */
	FM_OAI_CHAT,   /* /v1/chat/completions: text2text */
	FM_OAI_VIDEOS, /* /v1/videos: text2video, or image2video with input_reference */
};

/* What a request asked for, besides its task. */
struct fm_oai_ask {
	enum fm_oai_kind kind;
	char model[FM_OAI_MODEL_MAX + 1];
	int stream;	   /* chat: stream: true */
	int b64;	   /* images: response_format b64_json (else url) */
	json_object *task; /* the task to queue, owned */
};

/*
 * The model list of GET /v1/models from the plugins' manifests (as
 * filmeto-plugin list --json): PLUGIN for each plugin serving a tool of
 * a route, and PLUGIN/TOOL for each such tool, in search order.
 */
json_object *fm_oai_models(json_object *manifests, int64_t created);

/*
 * The body of a POST route (JSON, or multipart/form-data for videos, as
 * content_type says) made into a task of id task_id for the plugin the
 * model names, its parameters those the tool declares: 0, or the HTTP
 * status (400 malformed or missing field, 404 no such model) with err,
 * whose details name the "param" at fault.
 */
int fm_oai_request(enum fm_oai_kind kind, const char *content_type, const char *body, size_t len,
		   json_object *manifests, const char *task_id, int64_t created,
		   struct fm_oai_ask *a, struct fm_error *err);
void fm_oai_ask_release(struct fm_oai_ask *a);

/*
 * multipart/form-data: each part a field of *fields, a string, or for a
 * part with a filename a base64 resource ({"type":"base64","data",
 * "mime_type"}). 400 with err when content_type has no boundary or the
 * body is malformed or has more than FM_OAI_PARTS_MAX parts.
 */
int fm_oai_multipart(const char *content_type, const char *body, size_t len, json_object **fields,
		     struct fm_error *err);

/*
 * OpenAI's error shape {"error":{"message","type","param","code"}} for an
 * answer of status: type from the status, param from err's details,
 * code from its details' "oai_code", else its code's name in lower case.
 */
json_object *fm_oai_error_json(const struct fm_error *err, int status);

/*
 * A task's final line: 0 when it completed with success and names an
 * output file; else the status to answer (500 failed, 499 cancelled is
 * said as 500 too, 504 timed out) with err from its error.
 */
int fm_oai_final(json_object *final, struct fm_error *err);

/* The partial text a progress line carries in data.delta (the chat test plugin's), or NULL. */
const char *fm_oai_delta(json_object *line);

/* A chat.completion with one choice, content as the assistant's. */
json_object *fm_oai_chat(const char *id, int64_t created, const char *model, const char *content);
/*
 * One chat.completion.chunk as an SSE "data:" event appended to out: a
 * delta of content (the first also says the role), or with content NULL
 * the last one, finish_reason "stop".
 */
struct fm_buf;
void fm_oai_chunk(struct fm_buf *out, const char *id, int64_t created, const char *model,
		  const char *content, int first);

/*
 * The video object of GET /v1/videos/ID from the task (its metadata says
 * model, seconds and size) and its status (fm_spool_status): status
 * queued, in_progress, completed or failed, progress 0 to 100.
 */
json_object *fm_oai_video(json_object *task, json_object *status);

/*
 * The base of a URL to this server: "http://HOST" when the Host header
 * names the address the request came to (local, as getsockname says, or
 * "localhost" for a loopback one) with its port, else that address
 * itself: a Host header sent by anyone is never reflected unchecked.
 */
void fm_oai_base_url(char *out, size_t size, const char *host, const char *local, unsigned port);

#endif
