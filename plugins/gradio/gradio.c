/*
 * gradio: any Gradio app (Wan2GP, a Space, a local demo) through the
 * HTTP API every Gradio app of version 4.20 or later serves:
 *
 *   POST {base}/gradio_api/upload            multipart "files" -> ["/server/path", ...]
 *   POST {base}/gradio_api/call/{api_name}   {"data": [...], "session_hash": …} -> {"event_id": …}
 *   GET  {base}/gradio_api/call/{api_name}/{event_id}
 *        server-sent events: generating, heartbeat, then complete (the
 *        outputs, a JSON array) or error (null or a message)
 *   GET  {base}/gradio_api/file={path}       an output file
 *
 * The data array is a template the user writes for the app's inputs
 * (the order of its "Use via API" page), filled from the task's
 * parameters; the task's input files are uploaded first and stand in as
 * FileData objects. Every FileData in the outputs is downloaded.
 *
 * A cancel closes the stream, which makes Gradio drop the event, and
 * asks the app's /cancel route to stop a job already running; the route
 * wants the function's index, which /config lists by api_name.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "template.h"

#define DEFAULT_ENDPOINT "http://127.0.0.1:7860"
/* Seconds per request: the result stream lasts as long as the generation. */
#define DEFAULT_TIMEOUT 3600
#define TIMEOUT_MAX	86400
/* Input files uploaded per task; output files downloaded per task. */
#define INPUTS_MAX  16
#define OUTPUTS_MAX 64
/* Longest api_name, event id or session hash accepted. */
#define NAME_MAX_LEN 128
/* Seconds each of the two requests of a cancel may take: both fit in the host's grace. */
#define CANCEL_TIMEOUT 2
/* Bytes of the outputs' JSON kept in the result's metadata. */
#define METADATA_MAX 16384

struct stream {
	struct fm_plugin_ctx *ctx;
	struct fm_sse sse;
	struct fm_error err; /* from the stream: an error event, bad JSON */
	json_object *outputs;
	int done, updates;
	const char *api;
};

static struct fm_http http;
static int http_ready;
/* A retry is told at 5%, the call not yet made. */
static struct fm_plugin_retry retry = {.percent = 5, .stage = "retry"};

/* --- settings ----------------------------------------------------------- */

/* config.yaml's plugins.gradio.tools.TOOL mapping, or NULL. */
static json_object *tool_settings(struct fm_plugin_ctx *ctx, const struct fm_task *t)
{
	json_object *tools = fm_json_get(fm_plugin_settings(ctx), "tools", json_type_object);

	return fm_json_get(tools, t->tool_name, json_type_object);
}

/*
 * A string setting: the parameter, the variable env, the tool's section,
 * the plugin's settings, def.
 */
static const char *setting(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *key,
			   const char *env, const char *def)
{
	const char *v = fm_json_get_string(t->parameters, key);

	if (v && *v)
		return v;
	if (env && (v = getenv(env)) && *v)
		return v;
	if ((v = fm_json_get_string(tool_settings(ctx, t), key)))
		return v;
	return fm_plugin_setting(ctx, t, key, NULL, def);
}

/*
 * A number setting: the parameter, the tool's section, the plugin's
 * settings, def; numbers or numeric text, within min..max.
 */
static int number_setting(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *key,
			  double def, double min, double max, double *out, struct fm_error *err)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(t->parameters, key, &v) || !v)
		json_object_object_get_ex(tool_settings(ctx, t), key, &v);
	if (!v)
		return fm_plugin_number(ctx, t, key, def, min, max, out, err);
	return fm_setting_number(v, key, def, min, max, out, err);
}

/* Gradio names endpoints like identifiers; anything else is refused. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= NAME_MAX_LEN &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static const char *api_name(struct fm_plugin_ctx *ctx, const struct fm_task *t,
			    struct fm_error *err)
{
	const char *a = setting(ctx, t, "api_name", NULL, NULL);

	if (!a) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "no api_name: give the parameter api_name (as the app's \"Use via "
			 "API\" page names it, e.g. /generate) or set plugins.gradio.api_name");
		return NULL;
	}
	while (*a == '/')
		a++;
	if (!valid_name(a)) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "api_name '%s' is not a Gradio endpoint name ([A-Za-z0-9_-], at most %d)",
			 a, NAME_MAX_LEN);
		return NULL;
	}
	return a;
}

/* The data template: the parameter, the tool's section, the plugin's, the tool's default. */
static json_object *data_template(struct fm_plugin_ctx *ctx, const struct fm_task *t,
				  struct fm_error *err)
{
	json_object *d = NULL;
	const char *text;

	if (!json_object_object_get_ex(t->parameters, "data", &d) || !d)
		d = fm_json_get(tool_settings(ctx, t), "data", json_type_array);
	if (!d)
		d = fm_json_get(fm_plugin_settings(ctx), "data", json_type_array);
	if (d) {
		if (!json_object_is_type(d, json_type_array)) {
			fm_error(err, FM_VALIDATION_ERROR,
				 "parameter 'data' must be an array (the app's inputs in order)");
			return NULL;
		}
		return json_object_get(d);
	}
	if (!strcmp(t->tool_name, "image2image") || !strcmp(t->tool_name, "image2video"))
		text = "[\"{{input0}}\",\"{{prompt}}\"]";
	else if (!strcmp(t->tool_name, "text2speak"))
		text = "[\"{{text}}\"]";
	else
		text = "[\"{{prompt}}\"]";
	return json_tokener_parse(text);
}

/* --- inputs ------------------------------------------------------------- */

/* Whether the template text names inputN (and not inputN0). */
static int uses_input(const char *text, size_t i)
{
	char name[32];
	const char *p = text;
	size_t n = (size_t)snprintf(name, sizeof(name), "input%zu", i);

	while ((p = strstr(p, name))) {
		if (!isdigit((unsigned char)p[n]))
			return 1;
		p += n;
	}
	return 0;
}

static json_object *file_data(const char *server_path, const char *local)
{
	json_object *o = json_object_new_object(), *meta = json_object_new_object();
	const char *base = strrchr(local, '/');

	json_object_object_add(o, "path", json_object_new_string(server_path));
	json_object_object_add(o, "orig_name", json_object_new_string(base ? base + 1 : local));
	json_object_object_add(meta, "_type", json_object_new_string("gradio.FileData"));
	json_object_object_add(o, "meta", meta);
	return o;
}

/*
 * Uploads the inputs the template names, in one request, and adds
 * inputN (a FileData) and inputN_path to vars.
 */
static int upload_inputs(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *text,
			 json_object *vars, struct fm_error *err)
{
	size_t i, n = t->resources ? json_object_array_length(t->resources) : 0, k = 0;
	const char *paths[INPUTS_MAX];
	size_t index[INPUTS_MAX];
	struct fm_http_req r = {.url = "/gradio_api/upload"};
	struct fm_http_resp resp;
	json_object *reply = NULL;
	int rc = -1;

	for (i = 0; i < n && i < INPUTS_MAX; i++) {
		const char *p =
		    fm_json_get_string(json_object_array_get_idx(t->resources, i), "data");

		if (p && uses_input(text, i)) {
			paths[k] = p;
			index[k++] = i;
		}
	}
	for (i = n; i < INPUTS_MAX && i < n + 4; i++)
		if (uses_input(text, i))
			return fm_error(err, FM_VALIDATION_ERROR,
					"the data template names input%zu but the task has %zu "
					"input file%s",
					i, n, n == 1 ? "" : "s");
	if (!k)
		return 0;
	fm_plugin_progress(ctx, 2, "upload", "uploading input files");
	r.mime = fm_http_mime(&http);
	for (i = 0; i < k; i++)
		if (fm_http_mime_file(r.mime, "files", paths[i], NULL, err) < 0)
			goto out;
	if (fm_http_do(&http, &r, &resp, err) < 0) {
		fm_http_resp_release(&resp);
		goto out;
	}
	if (fm_json_parse(resp.body, resp.len, &reply, NULL) < 0 ||
	    !json_object_is_type(reply, json_type_array) || json_object_array_length(reply) != k) {
		fm_error(err, FM_SERVICE_ERROR,
			 "the upload answered %s%s, not a list of %zu server paths",
			 resp.content_type ? "with " : "",
			 resp.content_type ? resp.content_type : "an untyped body", k);
		fm_http_error_body(err, "body", resp.body, resp.len);
		fm_http_resp_release(&resp);
		goto out;
	}
	fm_http_resp_release(&resp);
	for (i = 0; i < k; i++) {
		const char *sp = json_object_get_string(json_object_array_get_idx(reply, i));
		char name[40];

		if (!json_object_is_type(json_object_array_get_idx(reply, i), json_type_string)) {
			fm_error(err, FM_SERVICE_ERROR,
				 "the upload answered a path that is not text");
			goto out;
		}
		snprintf(name, sizeof(name), "input%zu", index[i]);
		json_object_object_add(vars, name, file_data(sp, paths[i]));
		snprintf(name, sizeof(name), "input%zu_path", index[i]);
		json_object_object_add(vars, name, json_object_new_string(sp));
		fm_plugin_log(ctx, "uploaded '%s' as '%s'", paths[i], sp);
	}
	rc = 0;
out:
	curl_mime_free(r.mime);
	json_object_put(reply);
	return rc;
}

/*
 * The values a template can name: the parameters, then the vars of the
 * parameter, the tool's section and the plugin's settings, in that order
 * (the first to name a key wins), then the inputs (added later).
 */
static json_object *template_vars(struct fm_plugin_ctx *ctx, const struct fm_task *t)
{
	json_object *layers[3] = {fm_json_get(t->parameters, "vars", json_type_object),
				  fm_json_get(tool_settings(ctx, t), "vars", json_type_object),
				  fm_json_get(fm_plugin_settings(ctx), "vars", json_type_object)};

	return fm_template_vars(t->parameters, layers, 3);
}

/* --- the call ----------------------------------------------------------- */

static int start_call(const char *api, json_object *data, const char *session, char **event_id,
		      struct fm_error *err)
{
	json_object *body = json_object_new_object(), *reply = NULL;
	char *url = fm_xasprintf("/gradio_api/call/%s", api);
	const char *id;
	int rc;

	json_object_object_add(body, "data", json_object_get(data));
	json_object_object_add(body, "session_hash", json_object_new_string(session));
	rc = fm_http_json(&http, "POST", url, NULL, body, &reply, err);
	if (rc == 0) {
		id = fm_json_get_string(reply, "event_id");
		if (!id || !valid_name(id)) {
			rc = fm_error(err, FM_SERVICE_ERROR, "'%s' answered without an event_id",
				      url);
			fm_error_detail(err, "body", json_object_get(reply));
		} else {
			*event_id = fm_xstrdup(id);
		}
	}
	json_object_put(reply);
	json_object_put(body);
	free(url);
	return rc;
}

/* The text of an error event's data: a JSON string, other JSON, or raw. */
static char *error_text(const char *data, size_t len)
{
	json_object *o = NULL;
	char *s;

	if (!len || fm_json_parse(data, len, &o, NULL) < 0)
		return len ? fm_xstrndup(data, len) : NULL;
	if (json_object_is_type(o, json_type_null))
		s = NULL;
	else if (json_object_is_type(o, json_type_string))
		s = fm_xstrdup(json_object_get_string(o));
	else
		s = fm_xstrdup(fm_json_str(o));
	json_object_put(o);
	return s;
}

static int on_event(void *arg, const char *type, const char *data, size_t len, const char *id)
{
	struct stream *s = arg;
	struct fm_error perr = FM_ERROR_INIT;
	char msg[64], *text;

	(void)id;
	if (!strcmp(type, "heartbeat")) {
		fm_plugin_heartbeat(s->ctx);
	} else if (!strcmp(type, "generating")) {
		s->updates++;
		snprintf(msg, sizeof(msg), "generating (update %d)", s->updates);
		/* Gradio's stream tells no fraction; updates creep towards 90%. */
		fm_plugin_progress(s->ctx, 10 + 80.0 * s->updates / (s->updates + 4), "generate",
				   msg);
	} else if (!strcmp(type, "complete")) {
		s->done = 1;
		if (fm_json_parse(data, len, &s->outputs, &perr) < 0 ||
		    !json_object_is_type(s->outputs, json_type_array)) {
			fm_error(&s->err, FM_SERVICE_ERROR,
				 "the app's complete event is not a JSON array of outputs%s%s",
				 perr.code ? ": " : "", perr.code ? perr.message : "");
			fm_http_error_body(&s->err, "data", data, len);
		}
		fm_error_release(&perr);
		return 1;
	} else if (!strcmp(type, "error")) {
		s->done = 1;
		text = error_text(data, len);
		/* An app may echo its input, and so the key: redacted once decoded. */
		if (text) {
			char *clean = fm_redact(text, strlen(text), NULL);

			free(text);
			text = clean;
		}
		if (text)
			fm_error(&s->err, FM_SERVICE_ERROR, "gradio app '/%s' failed: %.*s", s->api,
				 FM_HTTP_SAID_MAX, text);
		else
			fm_error(&s->err, FM_SERVICE_ERROR,
				 "gradio app '/%s' failed without a message (the app shows "
				 "errors when launched with show_error=True)",
				 s->api);
		fm_error_detail(&s->err, "message",
				text ? json_object_new_string(text) : json_object_new_null());
		free(text);
		return 1;
	}
	return 0;
}

static int on_line(void *arg, const char *line, size_t len)
{
	struct stream *s = arg;

	if (fm_sse_line(&s->sse, line, len, &s->err) != 0)
		return 1;
	return 0;
}

/* Follows the result stream; fills s->outputs or an error. */
static int follow(struct stream *s, const char *api, const char *event_id, struct fm_error *err)
{
	char *url = fm_xasprintf("/gradio_api/call/%s/%s", api, event_id);
	struct curl_slist *accept = curl_slist_append(NULL, "Accept: text/event-stream");
	struct fm_http_req r = {.url = url, .line = on_line, .arg = s, .headers = accept};
	struct fm_http_resp resp;
	int rc;

	rc = fm_http_do(&http, &r, &resp, err);
	if (rc == 0 && !s->done && !s->err.code)
		fm_sse_end(&s->sse, &s->err);
	if (rc == 0 && s->err.code) {
		fm_error_move(err, &s->err);
		rc = -1;
	} else if (rc == 0 && !s->done &&
		   (!resp.content_type || strcmp(resp.content_type, "text/event-stream"))) {
		rc = fm_error(err, FM_SERVICE_ERROR, "'%s' answered with %s, not an event stream",
			      url, resp.content_type ? resp.content_type : "an untyped body");
	} else if (rc == 0 && !s->done) {
		rc = fm_error(err, FM_SERVICE_ERROR,
			      "the event stream of '/%s' ended without a result", api);
	}
	fm_http_resp_release(&resp);
	curl_slist_free_all(accept);
	free(url);
	return rc;
}

/*
 * Asks the app to stop a running job: /config gives the function's
 * index for api_name, /gradio_api/cancel takes it. Best effort, quick,
 * and deaf to the cancel that caused it.
 */
static void cancel_job(struct fm_plugin_ctx *ctx, const char *api, const char *session,
		       const char *event_id)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *config = NULL, *deps, *body, *reply = NULL;
	long saved_timeout = http.timeout;
	int saved_retries = http.retries, (*saved_cancel)(void *) = http.cancelled;
	size_t i, n;
	int fn = -1, rc;

	http.timeout = CANCEL_TIMEOUT;
	http.retries = 0;
	http.cancelled = NULL;
	if (fm_http_json(&http, "GET", "/config", NULL, NULL, &config, &err) == 0) {
		deps = fm_json_get(config, "dependencies", json_type_array);
		n = deps ? json_object_array_length(deps) : 0;
		for (i = 0; i < n && fn < 0; i++) {
			json_object *d = json_object_array_get_idx(deps, i);
			const char *name = fm_json_get_string(d, "api_name");
			json_object *idv = fm_json_get(d, "id", json_type_int);

			if (name && !strcmp(name[0] == '/' ? name + 1 : name, api))
				fn = idv ? json_object_get_int(idv) : (int)i;
		}
	}
	if (fn >= 0) {
		body = json_object_new_object();
		json_object_object_add(body, "session_hash", json_object_new_string(session));
		json_object_object_add(body, "fn_index", json_object_new_int(fn));
		json_object_object_add(body, "event_id", json_object_new_string(event_id));
		fm_error_release(&err);
		rc = fm_http_json(&http, "POST", "/gradio_api/cancel", NULL, body, &reply, &err);
		if (rc == 0)
			fm_plugin_log(ctx, "asked the app to cancel event %s", event_id);
		json_object_put(body);
	}
	if (err.code)
		fm_plugin_log(ctx, "could not ask the app to cancel: %s", err.message);
	else if (fn < 0)
		fm_plugin_log(ctx, "could not ask the app to cancel: /config does not list '%s'",
			      api);
	json_object_put(reply);
	json_object_put(config);
	fm_error_release(&err);
	http.timeout = saved_timeout;
	http.retries = saved_retries;
	http.cancelled = saved_cancel;
}

/* --- outputs ------------------------------------------------------------ */

static int is_file_data(json_object *o)
{
	json_object *meta = fm_json_get(o, "meta", json_type_object);
	const char *type = fm_json_get_string(meta, "_type");

	if (!json_object_is_type(o, json_type_object))
		return 0;
	if (type)
		return !strcmp(type, "gradio.FileData");
	return (fm_json_get_string(o, "path") || fm_json_get_string(o, "url")) &&
	       json_object_object_get_ex(o, "orig_name", NULL);
}

/* Every FileData in the outputs, in order, at most OUTPUTS_MAX. */
static void find_files(json_object *v, json_object *found)
{
	size_t i, n;

	if (json_object_array_length(found) >= OUTPUTS_MAX)
		return;
	if (is_file_data(v)) {
		json_object_array_add(found, json_object_get(v));
	} else if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			find_files(json_object_array_get_idx(v, i), found);
	} else if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach (v, k, val) {
			(void)k;
			find_files(val, found);
		}
	}
}

/* A file extension: from the MIME type, the original name, the path, the tool. */
static void extension(json_object *fd, const char *tool, char ext[16])
{
	static const char *const map[][2] = {
	    {"image/png", "png"},	{"image/jpeg", "jpg"}, {"image/webp", "webp"},
	    {"image/gif", "gif"},	{"video/mp4", "mp4"},  {"video/webm", "webm"},
	    {"video/quicktime", "mov"}, {"audio/wav", "wav"},  {"audio/x-wav", "wav"},
	    {"audio/wave", "wav"},	{"audio/mpeg", "mp3"}, {"audio/flac", "flac"},
	    {"audio/ogg", "ogg"},	{"audio/mp4", "m4a"},  {"text/plain", "txt"},
	};
	const char *mime = fm_json_get_string(fd, "mime_type");
	const char *names[3] = {fm_json_get_string(fd, "orig_name"), fm_json_get_string(fd, "path"),
				fm_json_get_string(fd, "url")};
	size_t i, n;

	for (i = 0; mime && i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcasecmp(mime, map[i][0])) {
			snprintf(ext, 16, "%s", map[i][1]);
			return;
		}
	}
	for (i = 0; i < 3; i++) {
		const char *dot = names[i] ? strrchr(names[i], '.') : NULL;

		if (!dot || strchr(dot, '/'))
			continue;
		n = strspn(dot + 1,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		if (n >= 1 && n <= 8 && (dot[1 + n] == '\0' || dot[1 + n] == '?')) {
			for (size_t j = 0; j < n; j++)
				ext[j] = (char)tolower((unsigned char)dot[1 + j]);
			ext[n] = '\0';
			return;
		}
	}
	snprintf(ext, 16, "%s",
		 strstr(tool, "video")	 ? "mp4"
		 : strstr(tool, "image") ? "png"
					 : "wav");
}

/* {base}/gradio_api/file={path}, the path escaped but for its slashes. */
static char *file_url(const char *path)
{
	size_t i, n = strlen(path);
	char *u = fm_xmalloc(3 * n + 32), *p;

	p = u + sprintf(u, "/gradio_api/file=");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if (isalnum(c) || strchr("/-._~", c))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return u;
}

static int download(json_object *fd, const char *dest, struct fm_error *err)
{
	const char *url = fm_json_get_string(fd, "url"), *path = fm_json_get_string(fd, "path");
	char *own = NULL;
	int rc;

	if (!url || !*url) {
		if (!path || !*path)
			return fm_error(err, FM_SERVICE_ERROR,
					"an output FileData has no path or url");
		url = own = file_url(path);
	}
	/* The key is for the app: lib/http.c sends it only under the endpoint. */
	rc = fm_http_get_file(&http, url, dest, err);
	free(own);
	return rc;
}

static int save_outputs(struct fm_plugin_ctx *ctx, const struct fm_task *t, json_object *outputs,
			const char *output_dir, struct fm_result *res)
{
	json_object *files = json_object_new_array();
	size_t i, n;
	int rc = 0;

	find_files(outputs, files);
	n = json_object_array_length(files);
	if (!n) {
		fm_error(&res->error, FM_SERVICE_ERROR,
			 "the app's outputs hold no file (expected a gradio.FileData)");
		fm_error_detail(&res->error, "outputs", json_object_get(outputs));
		json_object_put(files);
		return -1;
	}
	if (fm_mkdirs(output_dir, &res->error) < 0) {
		json_object_put(files);
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		json_object *fd = json_object_array_get_idx(files, i);
		char ext[16], msg[64], *dest, *abs;

		extension(fd, t->tool_name, ext);
		dest = n == 1 ? fm_xasprintf("%s/output.%s", output_dir, ext)
			      : fm_xasprintf("%s/output-%zu.%s", output_dir, i, ext);
		snprintf(msg, sizeof(msg), "downloading output %zu of %zu", i + 1, n);
		fm_plugin_progress(ctx, 90 + 9.0 * i / n, "download", msg);
		abs = fm_abspath(dest);
		rc = download(fd, abs, &res->error);
		if (rc == 0)
			rc = fm_result_add_output(res, abs, &res->error);
		free(abs);
		free(dest);
	}
	json_object_put(files);
	return rc;
}

/* --- the task ----------------------------------------------------------- */

static int connect_http(struct fm_plugin_ctx *ctx, const struct fm_task *t, struct fm_error *err)
{
	const char *endpoint = setting(ctx, t, "endpoint", "GRADIO_URL", DEFAULT_ENDPOINT);
	char *key = NULL;
	double timeout, retries, backoff;

	if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))
		return fm_error(err, FM_VALIDATION_ERROR,
				"endpoint '%s' is not an http:// or https:// URL", endpoint);
	if (number_setting(ctx, t, "timeout", DEFAULT_TIMEOUT, 1, TIMEOUT_MAX, &timeout, err) < 0 ||
	    number_setting(ctx, t, "retries", FM_HTTP_RETRIES, 0, 10, &retries, err) < 0 ||
	    number_setting(ctx, t, "backoff", FM_HTTP_BACKOFF, 0, 60, &backoff, err) < 0)
		return -1;
	if (fm_http_key("HF_TOKEN", setting(ctx, t, "key_file", NULL, NULL), 1, &key, err) < 0)
		return -1;
	if (!http_ready && fm_http_init(&http, endpoint, key, err) < 0) {
		free(key);
		return -1;
	}
	http_ready = 1;
	fm_http_rebase(&http, endpoint, key);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	http.timeout = (long)timeout;
	http.retries = (int)retries;
	http.backoff = backoff;
	retry.ctx = ctx;
	fm_plugin_http(&http, &retry);
	return 0;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *output_dir,
		   struct fm_result *res)
{
	struct stream s = {.ctx = ctx, .err = FM_ERROR_INIT};
	json_object *tmpl = NULL, *vars = NULL, *data = NULL, *meta;
	char *session = NULL, *event_id = NULL;
	const char *api, *text;
	int rc = -1;

	if (connect_http(ctx, t, &res->error) < 0 || !(api = api_name(ctx, t, &res->error)) ||
	    !(tmpl = data_template(ctx, t, &res->error)))
		goto out;
	s.api = api;
	text = fm_json_str(tmpl);
	vars = template_vars(ctx, t);
	if (upload_inputs(ctx, t, text, vars, &res->error) < 0 ||
	    fm_template_fill(tmpl, vars, &data, &res->error) < 0)
		goto out;
	session = fm_id_new("filmeto");
	fm_plugin_progress(ctx, 5, "queue", "calling the app");
	if (start_call(api, data, session, &event_id, &res->error) < 0)
		goto out;
	fm_plugin_log(ctx, "'/%s' queued as event %s", api, event_id);
	fm_sse_init(&s.sse, on_event, &s);
	rc = follow(&s, api, event_id, &res->error);
	fm_sse_release(&s.sse);
	if (rc < 0 && res->error.code == FM_TASK_CANCELLED)
		cancel_job(ctx, api, session, event_id);
	if (rc == 0)
		rc = save_outputs(ctx, t, s.outputs, output_dir, res);
	if (rc == 0) {
		meta = json_object_new_object();
		json_object_object_add(meta, "api_name", json_object_new_string(api));
		json_object_object_add(meta, "event_id", json_object_new_string(event_id));
		if (strlen(fm_json_str(s.outputs)) <= METADATA_MAX)
			json_object_object_add(meta, "outputs", json_object_get(s.outputs));
		json_object_object_add(res->metadata, "gradio", meta);
		fm_plugin_progress(ctx, 100, "done", "done");
	}
out:
	fm_error_release(&s.err);
	json_object_put(s.outputs);
	json_object_put(tmpl);
	json_object_put(vars);
	json_object_put(data);
	free(session);
	free(event_id);
	return rc;
}

static const struct fm_plugin_def def = {"gradio", "1.0.0", execute};

int main(int argc, char **argv)
{
	int rc = fm_plugin_main(argc, argv, &def);

	if (http_ready)
		fm_http_release(&http);
	return rc;
}
