/*
 * http: a generic JSON-over-HTTP service (an RVC voice converter, an
 * AudioLDM server, a home-made Flask app) described in config.yaml
 * instead of code:
 *
 *   plugins:
 *     http:
 *       endpoint: http://127.0.0.1:7865/generate
 *       request: {"text": "{{prompt}}", "audio": "{{input0_base64}}"}
 *       output: {from: base64, path: data.0.audio, type: audio/wav}
 *       tools:
 *         text2image: {endpoint: …, output: {from: url, path: images.0}}
 *
 * One request per task: the request template is filled from the task's
 * parameters and input files and sent; the reply is the file (from:
 * body), or JSON holding it as base64 or a URL (or, for text, the text)
 * at a dotted path. A tool's section overrides the plugin's settings,
 * and the task's parameters override both.
 *
 * The key and the configured headers go only to URLs under the
 * endpoint's directory (lib/http.c judges each request and redirect);
 * every text saved from a reply is redacted of them (lib/redact.h).
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/base64.h>

#include "filmeto.h"
#include "template.h"

/* Input files offered to the template; output files saved per task. */
#define INPUTS_MAX  16
#define OUTPUTS_MAX 16
/* Extra request headers, and the longest header line. */
#define HEADERS_MAX 32
#define HEADER_MAX  8192
/* Largest input encoded as {{inputN_base64}}. */
#define BASE64_INPUT_MAX FM_BASE64_MAX
/* Largest reply of the wrong type read back for the error's details. */
#define WRONG_BODY_MAX (1024 * 1024)
/* Seconds per request, at most. */
#define TIMEOUT_MAX 86400

enum from { FROM_BODY, FROM_BASE64, FROM_URL, FROM_TEXT };

/* One task's view of the settings, every layer merged. */
struct conf {
	json_object *merged; /* owned: plugin settings < tool section < parameters */
	const char *endpoint, *method;
	json_object *request, *headers;
	enum from from;
	const char *path, *type;
	char *key;	    /* secret or NULL */
	int key_in_headers; /* the key goes in a header the user named */
};

static struct fm_http http;
static int http_ready;
/* A retry is told at 10%, the request not yet answered. */
static struct fm_plugin_retry retry = {.percent = 10, .stage = "retry"};

/* --- settings ----------------------------------------------------------- */

/* a's keys, then b's over them; output, headers and vars are merged key by key. */
static json_object *merge(json_object *a, json_object *b)
{
	json_object *o = json_object_new_object(), *old;

	if (a) {
		json_object_object_foreach (a, k, v) {
			json_object_object_add(o, k, json_object_get(v));
		}
	}
	if (b) {
		json_object_object_foreach (b, k, v) {
			if ((!strcmp(k, "output") || !strcmp(k, "headers") || !strcmp(k, "vars")) &&
			    json_object_is_type(v, json_type_object) &&
			    json_object_object_get_ex(o, k, &old) &&
			    json_object_is_type(old, json_type_object))
				json_object_object_add(o, k, merge(old, v));
			else
				json_object_object_add(o, k, json_object_get(v));
		}
	}
	return o;
}

static const char *const tool_mimes[][2] = {
    {"text2speak", "audio/wav"},  {"text2music", "audio/wav"}, {"text2image", "image/png"},
    {"image2image", "image/png"}, {"text2video", "video/mp4"}, {"image2video", "video/mp4"},
    {"text2text", "text/plain"},
};

static const char *default_type(const char *tool)
{
	size_t i;

	for (i = 0; i < sizeof(tool_mimes) / sizeof(tool_mimes[0]); i++)
		if (!strcmp(tool, tool_mimes[i][0]))
			return tool_mimes[i][1];
	return "application/octet-stream";
}

static int read_output(struct conf *c, const struct fm_task *t, struct fm_error *err)
{
	json_object *out = NULL;
	const char *from;

	if (json_object_object_get_ex(c->merged, "output", &out) && out &&
	    !json_object_is_type(out, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'output' must be a mapping: {from, path, type}");
	from = fm_json_get_string(out, "from");
	if (!from || !strcmp(from, "body"))
		c->from = FROM_BODY;
	else if (!strcmp(from, "base64"))
		c->from = FROM_BASE64;
	else if (!strcmp(from, "url"))
		c->from = FROM_URL;
	else if (!strcmp(from, "text"))
		c->from = FROM_TEXT;
	else
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'output.from': '%s' is not body, base64, url or text",
				from);
	c->path = fm_json_get_string(out, "path");
	if (c->from != FROM_BODY && (!c->path || !*c->path))
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'output.path' is required when output.from is %s (where "
				"the reply's JSON holds it, e.g. data.0.audio)",
				from);
	c->type = fm_json_get_string(out, "type");
	if (!c->type)
		c->type = c->from == FROM_TEXT ? "text/plain" : default_type(t->tool_name);
	if (!strchr(c->type, '/'))
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'output.type': '%s' is not a MIME type (audio/wav, "
				"image/png, ...)",
				c->type);
	return 0;
}

/* Whether a header value names the key. */
static int names_key(const char *v)
{
	return strstr(v, "{{key}}") || strstr(v, "{{ key }}");
}

static int read_conf(struct fm_plugin_ctx *ctx, const struct fm_task *t, struct conf *c,
		     struct fm_error *err)
{
	json_object *settings = fm_plugin_settings(ctx), *base;
	json_object *tool = fm_json_get(fm_json_get(settings, "tools", json_type_object),
					t->tool_name, json_type_object);
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH"};
	size_t i;

	base = merge(settings, tool);
	c->merged = merge(base, t->parameters);
	json_object_put(base);
	json_object_object_del(c->merged, "tools");
	c->endpoint = fm_json_get_string(c->merged, "endpoint");
	if (!c->endpoint || !*c->endpoint)
		return fm_error(err, FM_VALIDATION_ERROR,
				"no endpoint: set plugins.http.endpoint (or "
				"plugins.http.tools.%s.endpoint) in config.yaml, or give the "
				"parameter endpoint",
				t->tool_name);
	if (strncmp(c->endpoint, "http://", 7) && strncmp(c->endpoint, "https://", 8))
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'endpoint': '%s' is not an http:// or https:// URL",
				c->endpoint);
	c->method = fm_json_get_string(c->merged, "method");
	if (!c->method)
		c->method = "POST";
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcasecmp(c->method, methods[i]))
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'method': '%s' is not GET, POST, PUT or PATCH", c->method);
	c->method = methods[i];
	json_object_object_get_ex(c->merged, "request", &c->request);
	c->headers = fm_json_get(c->merged, "headers", json_type_object);
	if (json_object_object_get_ex(c->merged, "headers", NULL) && !c->headers &&
	    !json_object_is_type(json_object_object_get(c->merged, "headers"), json_type_null))
		return fm_error(err, FM_VALIDATION_ERROR,
				"setting 'headers' must be a mapping of header names to values");
	if (c->headers) {
		json_object_object_foreach (c->headers, k, v) {
			const char *s = json_object_get_string(v);

			if (!strcasecmp(k, "authorization") || (s && names_key(s)))
				c->key_in_headers = 1;
		}
	}
	return read_output(c, t, err);
}

/* A number setting, from every layer merged. */
static int number_setting(struct conf *c, const char *key, double def, double min, double max,
			  double *out, struct fm_error *err)
{
	return fm_setting_number(json_object_object_get(c->merged, key), key, def, min, max, out,
				 err);
}

static void conf_release(struct conf *c)
{
	json_object_put(c->merged);
	if (c->key) {
		explicit_bzero(c->key, strlen(c->key));
		free(c->key);
	}
	memset(c, 0, sizeof(*c));
}

/* --- the request -------------------------------------------------------- */

/* "${NAME}" in a header value is the environment variable NAME. */
static char *header_value(const char *name, const char *v, const char *key, struct fm_error *err)
{
	struct fm_buf out = FM_BUF_INIT;
	const char *p = v, *end;
	char var[128];

	while (*p) {
		const char *piece;
		size_t plen;

		if (!strncmp(p, "{{key}}", 7) || !strncmp(p, "{{ key }}", 9)) {
			if (!key) {
				fm_error(err, FM_VALIDATION_ERROR,
					 "header '%s' names {{key}} but there is no key: set "
					 "$HTTP_API_KEY or the key_file setting",
					 name);
				goto fail;
			}
			piece = key;
			plen = strlen(key);
			p += p[2] == ' ' ? 9 : 7;
		} else if (!strncmp(p, "${", 2) && (end = strchr(p, '}')) &&
			   (size_t)(end - p - 2) < sizeof(var)) {
			snprintf(var, sizeof(var), "%.*s", (int)(end - p - 2), p + 2);
			piece = getenv(var);
			/* A variable in a header is how credentials get there: a secret too. */
			fm_secret_add(piece);
			if (!piece || !*piece) {
				fm_error(err, FM_VALIDATION_ERROR,
					 "header '%s' names $%s, which is not set (a variable "
					 "reaches the plugin only when its manifest's env: lists "
					 "it)",
					 name, var);
				goto fail;
			}
			plen = strlen(piece);
			p = end + 1;
		} else {
			piece = p++;
			plen = 1;
		}
		fm_buf_add(&out, piece, plen);
		if (out.len > HEADER_MAX) {
			fm_error(err, FM_VALIDATION_ERROR, "header '%s' is longer than %d bytes",
				 name, HEADER_MAX);
			goto fail;
		}
	}
	return out.s ? fm_buf_detach(&out, NULL) : fm_xstrdup("");
fail:
	fm_buf_release(&out);
	return NULL;
}

static int valid_header_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static int build_headers(const struct conf *c, struct curl_slist **list, struct fm_error *err)
{
	size_t n = 0;

	if (!c->headers)
		return 0;
	json_object_object_foreach (c->headers, k, v) {
		char *val, *line;

		if (++n > HEADERS_MAX)
			return fm_error(err, FM_VALIDATION_ERROR,
					"setting 'headers': more than %d headers", HEADERS_MAX);
		if (!valid_header_name(k))
			return fm_error(err, FM_VALIDATION_ERROR,
					"setting 'headers': '%s' is not a header name", k);
		if (!v || json_object_is_type(v, json_type_object) ||
		    json_object_is_type(v, json_type_array))
			return fm_error(err, FM_VALIDATION_ERROR,
					"setting 'headers': the value of '%s' must be text", k);
		if (!(val = header_value(k, json_object_get_string(v), c->key, err)))
			return -1;
		if (strpbrk(val, "\r\n")) {
			explicit_bzero(val, strlen(val));
			free(val);
			return fm_error(err, FM_VALIDATION_ERROR,
					"setting 'headers': the value of '%s' has a line break", k);
		}
		line = fm_xasprintf("%s: %s", k, val);
		*list = curl_slist_append(*list, line);
		explicit_bzero(line, strlen(line));
		explicit_bzero(val, strlen(val));
		free(line);
		free(val);
	}
	return 0;
}

/* Whether the template text names NAME (and not NAME followed by more of a name). */
static int names(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while ((p = strstr(p, name))) {
		if (!isalnum((unsigned char)p[n]) && p[n] != '_')
			return 1;
		p += n;
	}
	return 0;
}

static int base64_of(const char *path, json_object **out, struct fm_error *err)
{
	char *buf = NULL, *enc;
	size_t len = 0;

	if (fm_read_file(path, BASE64_INPUT_MAX, &buf, &len, err) < 0)
		return -1;
	enc = fm_xmalloc(AV_BASE64_SIZE(len));
	if (!av_base64_encode(enc, (int)AV_BASE64_SIZE(len), (const uint8_t *)buf, (int)len)) {
		free(buf);
		free(enc);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot encode '%s' as base64",
				path);
	}
	*out = json_object_new_string(enc);
	free(buf);
	free(enc);
	return 0;
}

/* The values a template can name: parameters, vars, inputs. */
static int template_vars(const struct fm_task *t, json_object *extra, const char *text,
			 json_object **out, struct fm_error *err)
{
	json_object *vars = fm_template_vars(t->parameters, &extra, 1);
	size_t i, n = t->resources ? json_object_array_length(t->resources) : 0;
	char name[48];

	for (i = 0; i < n && i < INPUTS_MAX; i++) {
		json_object *r = json_object_array_get_idx(t->resources, i), *b64 = NULL;
		const char *path = fm_json_get_string(r, "data"),
			   *mime = fm_json_get_string(r, "mime_type");
		const char *base;

		if (!path)
			continue;
		base = strrchr(path, '/');
		snprintf(name, sizeof(name), "input%zu", i);
		json_object_object_add(vars, name, json_object_new_string(path));
		snprintf(name, sizeof(name), "input%zu_name", i);
		json_object_object_add(vars, name, json_object_new_string(base ? base + 1 : path));
		snprintf(name, sizeof(name), "input%zu_mime", i);
		json_object_object_add(
		    vars, name, json_object_new_string(mime ? mime : fm_mime_from_path(path)));
		snprintf(name, sizeof(name), "input%zu_base64", i);
		/* Encoded only when asked for: inputs may be large. */
		if (names(text, name)) {
			if (base64_of(path, &b64, err) < 0) {
				json_object_put(vars);
				return -1;
			}
			json_object_object_add(vars, name, b64);
		}
	}
	*out = vars;
	return 0;
}

/* The endpoint's directory: "http://h/api/tts?x" gives "http://h/api/". */
static char *key_scope(const char *endpoint)
{
	const char *p = strstr(endpoint, "://");
	size_t origin = p ? (size_t)(p + 3 - endpoint) + strcspn(p + 3, "/?#") : 0;
	size_t end = origin + strcspn(endpoint + origin, "?#");

	while (end > origin && endpoint[end - 1] != '/')
		end--;
	return fm_xstrndup(endpoint, end);
}

static int connect_http(struct fm_plugin_ctx *ctx, struct conf *c, struct fm_error *err)
{
	double timeout, retries, backoff;
	char *scope;

	if (number_setting(c, "timeout", FM_HTTP_TIMEOUT, 1, TIMEOUT_MAX, &timeout, err) < 0 ||
	    number_setting(c, "retries", FM_HTTP_RETRIES, 0, 10, &retries, err) < 0 ||
	    number_setting(c, "backoff", FM_HTTP_BACKOFF, 0, 60, &backoff, err) < 0)
		return -1;
	if (fm_http_key("HTTP_API_KEY", fm_json_get_string(c->merged, "key_file"), 1, &c->key,
			err) < 0)
		return -1;
	if (!http_ready && fm_http_init(&http, c->endpoint, NULL, err) < 0)
		return -1;
	http_ready = 1;
	/*
	 * The endpoint names a route; the key is for the service, so it goes
	 * under the route's directory. A key the user put in a header is not
	 * also sent as a Bearer key.
	 */
	scope = key_scope(c->endpoint);
	fm_http_rebase(&http, scope, c->key_in_headers ? NULL : c->key);
	free(scope);
	http.timeout = (long)timeout;
	http.retries = (int)retries;
	http.backoff = backoff;
	retry.ctx = ctx;
	fm_plugin_http(&http, &retry);
	return 0;
}

/* --- the reply ---------------------------------------------------------- */

static void extension(const char *mime, char ext[16])
{
	static const char *const map[][2] = {
	    {"image/png", "png"},	  {"image/jpeg", "jpg"}, {"image/webp", "webp"},
	    {"image/gif", "gif"},	  {"video/mp4", "mp4"},	 {"video/webm", "webm"},
	    {"video/quicktime", "mov"},	  {"audio/wav", "wav"},	 {"audio/x-wav", "wav"},
	    {"audio/wave", "wav"},	  {"audio/mpeg", "mp3"}, {"audio/flac", "flac"},
	    {"audio/ogg", "ogg"},	  {"audio/mp4", "m4a"},	 {"text/plain", "txt"},
	    {"application/json", "json"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcasecmp(mime, map[i][0])) {
			snprintf(ext, 16, "%s", map[i][1]);
			return;
		}
	}
	snprintf(ext, 16, "bin");
}

/* Whether a reply of type got can be a file of type want. */
static int type_fits(const char *got, const char *want)
{
	size_t major = strcspn(want, "/");

	if (!got || !strcasecmp(got, want))
		return 1;
	if (!strncasecmp(got, want, major + 1))
		return 1;
	/* A generic binary type fits a binary file, never text. */
	return !strcasecmp(got, "application/octet-stream") && strncasecmp(want, "text/", 5);
}

static char *output_path(const char *dir, size_t i, size_t n, const char *type)
{
	char ext[16], *rel, *abs;

	extension(type, ext);
	rel = n == 1 ? fm_xasprintf("%s/output.%s", dir, ext)
		     : fm_xasprintf("%s/output-%zu.%s", dir, i, ext);
	abs = fm_abspath(rel);
	free(rel);
	return abs;
}

/*
 * A URL from the reply: absolute as it is, "/x" on the endpoint's origin,
 * "x" beside the endpoint's path.
 */
static char *resolve_url(const char *endpoint, const char *s)
{
	const char *p = strstr(endpoint, "://"), *slash;
	size_t origin = p ? (size_t)(p + 3 - endpoint) + strcspn(p + 3, "/?#") : strlen(endpoint);

	if (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8))
		return fm_xstrdup(s);
	if (s[0] == '/')
		return fm_xasprintf("%.*s%s", (int)origin, endpoint, s);
	slash = strrchr(endpoint + origin, '/');
	if (!slash)
		return fm_xasprintf("%.*s/%s", (int)origin, endpoint, s);
	return fm_xasprintf("%.*s%s", (int)(slash + 1 - endpoint), endpoint, s);
}

static int body_reply(const struct conf *c, struct curl_slist *headers, json_object *body,
		      const char *dest, struct fm_error *err)
{
	struct fm_http_req r = {.method = c->method,
				.url = c->endpoint,
				.json = body,
				.file = dest,
				.scoped_headers = headers,
				.redact = fm_redact_is_text(c->type)};
	struct fm_http_resp resp;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = fm_http_do(&http, &r, &resp, err);
	if (rc == 0 && !type_fits(resp.content_type, c->type)) {
		rc = fm_error(err, FM_SERVICE_ERROR,
			      "'%s' answered with %s, not %s (output.type); a JSON reply is read "
			      "with output.from base64, url or text",
			      c->endpoint, resp.content_type, c->type);
		fm_error_detail(err, "content_type", json_object_new_string(resp.content_type));
		if (fm_read_file(dest, WRONG_BODY_MAX, &text, &len, NULL) == 0)
			fm_http_error_body(err, "body", text, len);
		free(text);
		unlink(dest);
	}
	fm_http_resp_release(&resp);
	return rc;
}

/* The strings at output.path: one string, or an array of them. */
static int reply_values(const struct conf *c, json_object *reply, json_object **values,
			struct fm_error *err)
{
	json_object *v = fm_json_path(reply, c->path), *arr;
	size_t i, n;
	const char *s = fm_json_str(reply);

	if (!v || (!json_object_is_type(v, json_type_string) &&
		   !json_object_is_type(v, json_type_array))) {
		fm_error(err, FM_SERVICE_ERROR, "the reply has no %s at '%s' (output.path)",
			 c->from == FROM_URL	? "URL"
			 : c->from == FROM_TEXT ? "text"
						: "base64 data",
			 c->path);
		fm_error_detail(err, "path", json_object_new_string(c->path));
		fm_http_error_body(err, "body", s, strlen(s));
		return -1;
	}
	if (json_object_is_type(v, json_type_string)) {
		arr = json_object_new_array();
		json_object_array_add(arr, json_object_get(v));
		*values = arr;
		return 0;
	}
	n = json_object_array_length(v);
	for (i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return fm_error(err, FM_SERVICE_ERROR,
					"the reply's '%s' holds something that is not text at %zu",
					c->path, i);
	if (!n)
		return fm_error(err, FM_SERVICE_ERROR, "the reply's '%s' is an empty list",
				c->path);
	*values = json_object_get(v);
	return 0;
}

/* A text file from a reply, redacted first. */
static int save_text(const char *s, size_t len, const char *dest, struct fm_error *err)
{
	size_t n;
	char *clean = fm_redact(s, len, &n);
	int rc = fm_write_file(dest, clean, n, err);

	free(clean);
	return rc;
}

static int save_base64(const char *s, const char *type, const char *dest, struct fm_error *err)
{
	const char *comma;
	size_t len, cap;
	uint8_t *buf;
	int n, rc;

	/* A data URL ("data:audio/wav;base64,…") carries its data after the comma. */
	if (!strncmp(s, "data:", 5) && (comma = strchr(s, ',')))
		s = comma + 1;
	len = strlen(s);
	if (len > (size_t)INT_MAX / 2)
		return fm_error(err, FM_SERVICE_ERROR, "the base64 data is too large");
	cap = AV_BASE64_DECODE_SIZE(len) + 1;
	buf = fm_xmalloc(cap);
	n = av_base64_decode(buf, s, (int)cap);
	if (n <= 0) {
		free(buf);
		return fm_error(err, FM_SERVICE_ERROR, "the reply's data is not valid base64");
	}
	rc = fm_redact_is_text(type) ? save_text((const char *)buf, (size_t)n, dest, err)
				     : fm_write_file(dest, (const char *)buf, (size_t)n, err);
	free(buf);
	return rc;
}

/*
 * GETs a file the reply names. The service's own files get its headers
 * and key (a server that guards its API guards its files the same way);
 * lib/http.c gives neither to a URL outside the endpoint's directory.
 */
static int download(const struct conf *c, struct curl_slist *headers, const char *url,
		    const char *dest, struct fm_error *err)
{
	struct fm_http_req r = {.url = url,
				.file = dest,
				.scoped_headers = headers,
				.redact = fm_redact_is_text(c->type)};
	struct fm_http_resp resp;
	int rc;

	rc = fm_http_do(&http, &r, &resp, err);
	if (rc < 0 && resp.status == 404) {
		err->code = FM_RESOURCE_PROCESSING_ERROR;
		snprintf(err->message, sizeof(err->message), "cannot fetch '%s': 404 Not Found",
			 url);
		fm_redact_buf(err->message, sizeof(err->message));
	}
	fm_http_resp_release(&resp);
	return rc;
}

static int save_outputs(struct fm_plugin_ctx *ctx, const struct conf *c, struct curl_slist *headers,
			json_object *values, const char *output_dir, struct fm_result *res)
{
	size_t i, n = json_object_array_length(values);
	int rc = 0;

	if (n > OUTPUTS_MAX)
		n = OUTPUTS_MAX;
	for (i = 0; i < n && rc == 0; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(values, i));
		char *dest = output_path(output_dir, i, n, c->type);

		if (c->from == FROM_BASE64) {
			rc = save_base64(s, c->type, dest, &res->error);
		} else if (c->from == FROM_TEXT) {
			rc = save_text(s, strlen(s), dest, &res->error);
		} else {
			char *url = resolve_url(c->endpoint, s);

			fm_plugin_progress(ctx, 80, "download", "downloading the output");
			rc = download(c, headers, url, dest, &res->error);
			free(url);
		}
		if (rc == 0)
			rc = fm_result_add_output(res, dest, &res->error);
		free(dest);
	}
	return rc;
}

static int run(struct fm_plugin_ctx *ctx, const struct fm_task *t, struct conf *c,
	       const char *output_dir, struct fm_result *res)
{
	struct curl_slist *headers = NULL;
	json_object *vars = NULL, *body = NULL, *reply = NULL, *values = NULL;
	char *dest = NULL;
	int rc = -1;

	if (connect_http(ctx, c, &res->error) < 0 || build_headers(c, &headers, &res->error) < 0)
		goto out;
	if (c->request && strcmp(c->method, "GET")) {
		if (template_vars(t, fm_json_get(c->merged, "vars", json_type_object),
				  fm_json_str(c->request), &vars, &res->error) < 0 ||
		    fm_template_fill(c->request, vars, &body, &res->error) < 0)
			goto out;
	}
	if (!c->request && strcmp(c->method, "GET")) {
		/* No template: the task's parameters as they are. */
		body = json_object_get(t->parameters);
	}
	if (fm_mkdirs(output_dir, &res->error) < 0)
		goto out;
	fm_plugin_progress(ctx, 10, "request", c->endpoint);
	if (c->from == FROM_BODY) {
		dest = output_path(output_dir, 0, 1, c->type);
		rc = body_reply(c, headers, body, dest, &res->error);
		if (rc == 0)
			rc = fm_result_add_output(res, dest, &res->error);
	} else if (fm_http_json(&http, c->method, c->endpoint, headers, body, &reply,
				&res->error) == 0 &&
		   reply_values(c, reply, &values, &res->error) == 0) {
		rc = save_outputs(ctx, c, headers, values, output_dir, res);
	}
	if (rc == 0)
		fm_plugin_progress(ctx, 100, "done", "done");
out:
	curl_slist_free_all(headers);
	json_object_put(vars);
	json_object_put(body);
	json_object_put(reply);
	json_object_put(values);
	free(dest);
	return rc;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *output_dir,
		   struct fm_result *res)
{
	struct conf c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = read_conf(ctx, t, &c, &res->error);
	if (rc == 0)
		rc = run(ctx, t, &c, output_dir, res);
	/* No redaction here: the SDK redacts the result on its way out. */
	conf_release(&c);
	return rc;
}

static const struct fm_plugin_def def = {"http", "1.0.0", execute};

int main(int argc, char **argv)
{
	int rc = fm_plugin_main(argc, argv, &def);

	if (http_ready)
		fm_http_release(&http);
	return rc;
}
