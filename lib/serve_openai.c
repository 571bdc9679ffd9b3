/*
 * OpenAI's requests and answers over filmeto's tasks. A request names a
 * plugin as its model; its fields become the parameters the plugin's
 * tool declares (a prompt is "prompt" or "text", whichever the tool
 * takes), so the task is then checked like any other. Answers are built
 * from what the spool says: the final line, the status object.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "digest.h"
#include "serve_openai.h"
#include "util.h"

/* The tools a route may run, in the order tried. */
static const char *const kind_tools[][3] = {
    [FM_OAI_IMAGES] = {"text2image", NULL, NULL},
    [FM_OAI_SPEECH] = {"text2speak", NULL, NULL},
    [FM_OAI_CHAT] = {"text2text", NULL, NULL},
    [FM_OAI_VIDEOS] = {"text2video", "image2video", NULL},
};
static const char *const kind_names[] = {
    [FM_OAI_IMAGES] = "images",
    [FM_OAI_SPEECH] = "speech",
    [FM_OAI_CHAT] = "chat",
    [FM_OAI_VIDEOS] = "videos",
};
/* The parameter a prompt goes to: the first of these the tool declares. */
static const char *const prompt_params[] = {"prompt", "text", "input", NULL};

static int route_tool(const char *tool)
{
	size_t k, i;

	for (k = 0; k < sizeof(kind_tools) / sizeof(*kind_tools); k++)
		for (i = 0; kind_tools[k][i]; i++)
			if (!strcmp(kind_tools[k][i], tool))
				return 1;
	return 0;
}

json_object *fm_oai_models(json_object *manifests, int64_t created)
{
	json_object *o = json_object_new_object(), *data = json_object_new_array();
	size_t i, j,
	    n = json_object_is_type(manifests, json_type_array)
		    ? json_object_array_length(manifests)
		    : 0;

	for (i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(manifests, i);
		json_object *tools = fm_json_get(m, "tools", json_type_array);
		const char *name = fm_json_get_string(m, "name");
		int first = 1;

		for (j = 0; name && tools && j < json_object_array_length(tools); j++) {
			const char *tool =
			    fm_json_get_string(json_object_array_get_idx(tools, j), "name");
			json_object *e;
			char *id;

			if (!tool || !route_tool(tool))
				continue;
			/* The plugin itself first, once: the model a client names. */
			for (; first >= 0; first--) {
				id = first ? fm_xstrdup(name) : fm_xasprintf("%s/%s", name, tool);
				e = json_object_new_object();
				json_object_object_add(e, "id", json_object_new_string(id));
				json_object_object_add(e, "object",
						       json_object_new_string("model"));
				json_object_object_add(e, "created",
						       json_object_new_int64(created));
				json_object_object_add(e, "owned_by",
						       json_object_new_string("filmeto"));
				json_object_array_add(data, e);
				free(id);
			}
			first = 0;
		}
	}
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	return o;
}

/* Sets err with the param at fault and returns status. */
static int refuse(struct fm_error *err, int status, const char *param, const char *code,
		  const char *fmt, const char *arg)
{
	fm_error(err, status == 404 ? FM_PLUGIN_NOT_FOUND : FM_VALIDATION_ERROR, fmt, arg);
	if (param)
		fm_error_detail(err, "param", json_object_new_string(param));
	if (code)
		fm_error_detail(err, "oai_code", json_object_new_string(code));
	return status;
}

/* --- multipart/form-data ------------------------------------------------ */

/* The value of attribute name (boundary=, name=, filename=) in a header, into out. */
static int header_attr(const char *h, size_t hlen, const char *name, char *out, size_t max)
{
	size_t nl = strlen(name), i, o = 0;

	for (i = 0; i + nl + 1 <= hlen; i++) {
		if (strncasecmp(h + i, name, nl) || h[i + nl] != '=' ||
		    (i && h[i - 1] != ' ' && h[i - 1] != ';' && h[i - 1] != '\t'))
			continue;
		i += nl + 1;
		if (i < hlen && h[i] == '"') {
			for (i++; i < hlen && h[i] != '"'; i++) {
				if (o + 1 >= max)
					return -1;
				out[o++] = h[i];
			}
			if (i >= hlen)
				return -1;
		} else {
			for (;
			     i < hlen && h[i] != ';' && h[i] != ' ' && h[i] != '\r' && h[i] != '\n';
			     i++) {
				if (o + 1 >= max)
					return -1;
				out[o++] = h[i];
			}
		}
		out[o] = '\0';
		return o ? 0 : -1;
	}
	return -1;
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	return nlen <= hlen ? memmem(hay, hlen, needle, nlen) : NULL;
}

/* One part: headers, a blank line, the value; into fields. */
static int part(const char *p, size_t len, json_object *fields, struct fm_error *err)
{
	const char *blank = find(p, len, "\r\n\r\n", 4), *ct;
	char name[FM_ID_MAX + 1], file[256], mime[128] = "application/octet-stream";
	size_t hlen, vlen;

	if (!blank || (size_t)(blank - p) > FM_OAI_PART_HEAD_MAX)
		return refuse(err, 400, NULL, NULL, "multipart: a part's headers are malformed%s",
			      "");
	hlen = (size_t)(blank - p);
	vlen = len - hlen - 4;
	if (header_attr(p, hlen, "name", name, sizeof(name)) < 0)
		return refuse(err, 400, NULL, NULL, "multipart: a part has no name%s", "");
	if (header_attr(p, hlen, "filename", file, sizeof(file)) == 0) {
		json_object *res = json_object_new_object();
		char *b64 = fm_xmalloc(FM_BASE64_SIZE(vlen));

		ct = find(p, hlen, "Content-Type:", 13);
		if (!ct)
			ct = find(p, hlen, "content-type:", 13);
		if (ct) {
			size_t o = 0, i = (size_t)(ct - p) + 13;

			while (i < hlen && p[i] == ' ')
				i++;
			for (; i < hlen && p[i] != '\r' && p[i] != ';' && o + 1 < sizeof(mime); i++)
				mime[o++] = p[i];
			mime[o] = '\0';
		}
		fm_base64_encode(b64, FM_BASE64_SIZE(vlen), blank + 4, vlen);
		json_object_object_add(res, "type", json_object_new_string("base64"));
		json_object_object_add(res, "data", json_object_new_string(b64));
		json_object_object_add(res, "mime_type", json_object_new_string(mime));
		json_object_object_add(fields, name, res);
		free(b64);
	} else {
		json_object_object_add(fields, name,
				       json_object_new_string_len(blank + 4, (int)vlen));
	}
	return 0;
}

int fm_oai_multipart(const char *content_type, const char *body, size_t len, json_object **fields,
		     struct fm_error *err)
{
	char boundary[80], delim[86];
	const char *p, *next, *end = body + len;
	size_t dl, n = 0;
	int code;

	*fields = NULL;
	if (!content_type || header_attr(content_type, strlen(content_type), "boundary",
					 boundary + 0, sizeof(boundary)) < 0)
		return refuse(err, 400, NULL, NULL,
			      "multipart/form-data without a boundary (of at most 70 bytes)%s", "");
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	/* The first delimiter may open the body, without the CRLF before it. */
	if (len >= dl - 2 && !memcmp(body, delim + 2, dl - 2))
		p = body + dl - 2;
	else if ((p = find(body, len, delim, dl)))
		p += dl;
	else
		return refuse(err, 400, NULL, NULL, "multipart: no part in the body%s", "");
	*fields = json_object_new_object();
	for (;;) {
		if (end - p >= 2 && !memcmp(p, "--", 2))
			return 0;
		if (end - p < 2 || memcmp(p, "\r\n", 2))
			break;
		p += 2;
		next = find(p, (size_t)(end - p), delim, dl);
		if (!next)
			break;
		if (++n > FM_OAI_PARTS_MAX) {
			json_object_put(*fields);
			*fields = NULL;
			return refuse(err, 400, NULL, NULL, "multipart: more than %s parts", "32");
		}
		code = part(p, (size_t)(next - p), *fields, err);
		if (code) {
			json_object_put(*fields);
			*fields = NULL;
			return code;
		}
		p = next + dl;
	}
	json_object_put(*fields);
	*fields = NULL;
	return refuse(err, 400, NULL, NULL, "multipart: the body is cut short or malformed%s", "");
}

/* --- requests ----------------------------------------------------------- */

static json_object *manifest_named(json_object *manifests, const char *name)
{
	size_t i, n = json_object_is_type(manifests, json_type_array)
			  ? json_object_array_length(manifests)
			  : 0;

	for (i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(manifests, i);
		const char *mn = fm_json_get_string(m, "name");

		if (mn && !strcmp(mn, name))
			return m;
	}
	return NULL;
}

static json_object *tool_named(json_object *manifest, const char *tool)
{
	json_object *tools = fm_json_get(manifest, "tools", json_type_array);
	size_t i;

	for (i = 0; tools && i < json_object_array_length(tools); i++) {
		json_object *t = json_object_array_get_idx(tools, i);
		const char *tn = fm_json_get_string(t, "name");

		if (tn && !strcmp(tn, tool))
			return t;
	}
	return NULL;
}

static int declares(json_object *tool, const char *param)
{
	json_object *ps = fm_json_get(tool, "parameters", json_type_array);
	size_t i;

	for (i = 0; ps && i < json_object_array_length(ps); i++) {
		const char *pn = fm_json_get_string(json_object_array_get_idx(ps, i), "name");

		if (pn && !strcmp(pn, param))
			return 1;
	}
	return 0;
}

/* The field as a string, required or not: -1 (with err) when it is there and no string. */
static int string_field(json_object *body, const char *name, int required, size_t max,
			const char **out, struct fm_error *err)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(body, name, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return refuse(err, 400, name, "missing_required_parameter",
				      "'%s' is required", name);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return refuse(err, 400, name, "invalid_type", "'%s' must be a string", name);
	if ((size_t)json_object_get_string_len(v) > max)
		return refuse(err, 400, name, "string_above_max_length", "'%s' is too long", name);
	if (required && !json_object_get_string_len(v))
		return refuse(err, 400, name, "empty_string", "'%s' must not be empty", name);
	*out = json_object_get_string(v);
	return 0;
}

/* The text of the last user message: a string, or the text parts of an array. */
static int chat_prompt(json_object *body, struct fm_buf *text, struct fm_error *err)
{
	json_object *msgs = fm_json_get(body, "messages", json_type_array), *c;
	size_t i, j;

	if (!msgs || !json_object_array_length(msgs))
		return refuse(err, 400, "messages", "missing_required_parameter",
			      "'messages' must be a non-empty array%s", "");
	for (i = json_object_array_length(msgs); i-- > 0;) {
		json_object *m = json_object_array_get_idx(msgs, i);
		const char *role = fm_json_get_string(m, "role");

		if (!role || strcmp(role, "user") || !json_object_object_get_ex(m, "content", &c))
			continue;
		if (json_object_is_type(c, json_type_string)) {
			fm_buf_addstr(text, json_object_get_string(c));
		} else if (json_object_is_type(c, json_type_array)) {
			for (j = 0; j < json_object_array_length(c); j++) {
				json_object *p = json_object_array_get_idx(c, j);
				const char *t = fm_json_get_string(p, "text");

				if (t && fm_json_get_string(p, "type") &&
				    !strcmp(fm_json_get_string(p, "type"), "text"))
					fm_buf_addf(text, "%s%s", text->len ? "\n" : "", t);
			}
		}
		break;
	}
	if (!text->len)
		return refuse(err, 400, "messages", "missing_required_parameter",
			      "'messages' has no user message with text%s", "");
	if (text->len > FM_OAI_PROMPT_MAX)
		return refuse(err, 400, "messages", "string_above_max_length",
			      "the user message is too long%s", "");
	return 0;
}

/* "1280x720" (or "auto", or none) into width and height parameters the tool declares. */
static int size_field(json_object *body, json_object *tool, json_object *params,
		      struct fm_error *err)
{
	const char *s;
	unsigned w, h;
	char extra;

	if (string_field(body, "size", 0, 32, &s, err))
		return 400;
	if (!s || !strcmp(s, "auto"))
		return 0;
	if (sscanf(s, "%5u%*1[x]%5u%c", &w, &h, &extra) != 2 || !w || !h || w > FM_OAI_SIDE_MAX ||
	    h > FM_OAI_SIDE_MAX || !isdigit((unsigned char)s[0]))
		return refuse(err, 400, "size", "invalid_value",
			      "'size' must be WIDTHxHEIGHT, as 1280x720 (not '%.32s')", s);
	if (declares(tool, "width"))
		json_object_object_add(params, "width", json_object_new_int((int)w));
	if (declares(tool, "height"))
		json_object_object_add(params, "height", json_object_new_int((int)h));
	return 0;
}

/* OpenAI's voices name none of a plugin's: those leave the plugin's default. */
static int openai_voice(const char *v)
{
	static const char *const voices[] = {"alloy", "ash",   "ballad", "coral", "echo",
					     "fable", "onyx",  "nova",	 "sage",  "shimmer",
					     "verse", "marin", "cedar",	 NULL};
	size_t i;

	for (i = 0; voices[i]; i++)
		if (!strcmp(v, voices[i]))
			return 1;
	return 0;
}

/* The fields of each route beyond the prompt. */
static int route_fields(struct fm_oai_ask *a, json_object *body, json_object *tool,
			json_object *params, json_object *resources, struct fm_error *err)
{
	json_object *v;
	const char *s;

	if (a->kind == FM_OAI_IMAGES) {
		if (json_object_object_get_ex(body, "n", &v) &&
		    !json_object_is_type(v, json_type_null) &&
		    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1))
			return refuse(err, 400, "n", "invalid_value",
				      "'n' must be 1: one image a request%s", "");
		if (string_field(body, "response_format", 0, 16, &s, err))
			return 400;
		if (s && strcmp(s, "url") && strcmp(s, "b64_json"))
			return refuse(err, 400, "response_format", "invalid_value",
				      "'response_format' is url or b64_json, not '%.16s'", s);
		a->b64 = s && !strcmp(s, "b64_json");
		return size_field(body, tool, params, err) ? 400 : 0;
	}
	if (a->kind == FM_OAI_SPEECH) {
		if (string_field(body, "voice", 0, FM_ID_MAX, &s, err))
			return 400;
		if (s && *s && !openai_voice(s) && declares(tool, "voice"))
			json_object_object_add(params, "voice", json_object_new_string(s));
		return 0;
	}
	if (a->kind == FM_OAI_CHAT) {
		if (json_object_object_get_ex(body, "stream", &v) &&
		    !json_object_is_type(v, json_type_null)) {
			if (!json_object_is_type(v, json_type_boolean))
				return refuse(err, 400, "stream", "invalid_type",
					      "'stream' must be true or false%s", "");
			a->stream = json_object_get_boolean(v);
		}
		if (json_object_object_get_ex(body, "temperature", &v) &&
		    json_object_is_type(v, json_type_double) && declares(tool, "temperature") &&
		    isfinite(json_object_get_double(v)))
			json_object_object_add(params, "temperature",
					       fm_json_double(json_object_get_double(v)));
		return 0;
	}
	/* Videos: seconds as a string ("4") or a number, the reference image as a resource. */
	if (json_object_object_get_ex(body, "seconds", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		const char *t = json_object_get_string(v);
		char *end;
		double d = strtod(t, &end);

		if (!*t || *end || !isfinite(d) || d <= 0 || d > 600)
			return refuse(
			    err, 400, "seconds", "invalid_value",
			    "'seconds' must be a number of seconds up to 600, not '%.16s'", t);
		if (declares(tool, "duration"))
			json_object_object_add(params, "duration", fm_json_double(d));
	}
	if (json_object_object_get_ex(body, "input_reference", &v)) {
		const char *type = fm_json_get_string(v, "type");

		if (!type || strcmp(type, "base64"))
			return refuse(err, 400, "input_reference", "invalid_type",
				      "'input_reference' must be an uploaded image file%s", "");
		json_object_object_add(v, "metadata", json_object_new_object());
		json_object_object_add(fm_json_get(v, "metadata", json_type_object), "role",
				       json_object_new_string("image"));
		json_object_array_add(resources, json_object_get(v));
	}
	return size_field(body, tool, params, err) ? 400 : 0;
}

/*
 * A field OpenAI does not define that the tool declares passes on as its
 * parameter (an SDK's extra_body: titlecard's style, espeak's rate); the
 * task's checks then judge its value like any other.
 */
static void extra_fields(json_object *body, json_object *tool, json_object *params)
{
	static const char *const openai[] = {"model",
					     "prompt",
					     "input",
					     "messages",
					     "stream",
					     "n",
					     "size",
					     "voice",
					     "seconds",
					     "input_reference",
					     "quality",
					     "style",
					     "response_format",
					     "user",
					     "speed",
					     "temperature",
					     "metadata",
					     NULL};
	size_t i;

	json_object_object_foreach (body, k, v) {
		for (i = 0; openai[i] && strcmp(openai[i], k); i++)
			;
		if (!openai[i] && declares(tool, k) && !json_object_object_get_ex(params, k, NULL))
			json_object_object_add(params, k, json_object_get(v));
	}
}

/* The plugin and tool a model names for the route: 404 none, 400 another kind. */
static int pick(struct fm_oai_ask *a, json_object *body, json_object *manifests,
		json_object **manifest, json_object **tool, const char **tool_name,
		struct fm_error *err)
{
	char plugin[FM_OAI_MODEL_MAX + 1], *slash;
	const char *want = NULL;
	size_t i;

	if (string_field(body, "model", 1, FM_OAI_MODEL_MAX, &want, err))
		return err->details && fm_json_get_string(err->details, "oai_code") &&
			       !strcmp(fm_json_get_string(err->details, "oai_code"),
				       "string_above_max_length")
			   ? refuse(err, 404, "model", "model_not_found",
				    "The model does not exist%s", "")
			   : 400;
	snprintf(a->model, sizeof(a->model), "%s", want);
	snprintf(plugin, sizeof(plugin), "%s", want);
	slash = strchr(plugin, '/');
	if (slash)
		*slash = '\0';
	*manifest = fm_id_valid(plugin) ? manifest_named(manifests, plugin) : NULL;
	if (!*manifest) {
		fm_error_release(err);
		return refuse(err, 404, "model", "model_not_found",
			      "The model '%.256s' does not exist: GET /v1/models lists them", want);
	}
	for (i = 0; kind_tools[a->kind][i]; i++) {
		const char *t = kind_tools[a->kind][i];

		if (slash ? strcmp(slash + 1, t) : 0)
			continue;
		/* Videos: image2video only with a reference image, text2video without. */
		if (a->kind == FM_OAI_VIDEOS && !slash &&
		    !!json_object_object_get_ex(body, "input_reference", NULL) != (i == 1))
			continue;
		*tool = tool_named(*manifest, t);
		if (*tool) {
			*tool_name = t;
			return 0;
		}
	}
	if (a->kind == FM_OAI_VIDEOS && !slash && tool_named(*manifest, "image2video"))
		return refuse(err, 400, "input_reference", "missing_required_parameter",
			      "model '%.256s' makes videos from an image: send input_reference",
			      want);
	return refuse(err, 404, "model", "model_not_found",
		      "The model '%.256s' does not serve this route", want);
}

int fm_oai_request(enum fm_oai_kind kind, const char *content_type, const char *body, size_t len,
		   json_object *manifests, const char *task_id, int64_t created,
		   struct fm_oai_ask *a, struct fm_error *err)
{
	json_object *in = NULL, *manifest, *tool, *params, *resources, *meta, *oai;
	const char *tool_name = NULL, *prompt = NULL, *pp = NULL;
	struct fm_buf text = FM_BUF_INIT;
	size_t i;
	int code;

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	if (kind == FM_OAI_VIDEOS && content_type &&
	    !strncasecmp(content_type, "multipart/form-data", 19)) {
		code = fm_oai_multipart(content_type, body, len, &in, err);
		if (code)
			return code;
	} else if (fm_json_parse(body, len, &in, err) < 0) {
		fm_error_detail(err, "oai_code", json_object_new_string("invalid_json"));
		return 400;
	}
	if (!json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return refuse(err, 400, NULL, "invalid_json", "the body must be a JSON object%s",
			      "");
	}
	code = pick(a, in, manifests, &manifest, &tool, &tool_name, err);
	if (code)
		goto out;
	if (kind == FM_OAI_CHAT) {
		code = chat_prompt(in, &text, err);
		prompt = fm_buf_str(&text);
	} else {
		code = string_field(in, kind == FM_OAI_SPEECH ? "input" : "prompt", 1,
				    FM_OAI_PROMPT_MAX, &prompt, err)
			   ? 400
			   : 0;
	}
	if (code)
		goto out;
	params = json_object_new_object();
	resources = json_object_new_array();
	for (i = 0; prompt_params[i] && !pp; i++)
		if (declares(tool, prompt_params[i]))
			pp = prompt_params[i];
	json_object_object_add(params, pp ? pp : "prompt", json_object_new_string(prompt));
	code = route_fields(a, in, tool, params, resources, err);
	if (!code)
		extra_fields(in, tool, params);
	if (code) {
		json_object_put(params);
		json_object_put(resources);
		goto out;
	}
	a->task = json_object_new_object();
	json_object_object_add(a->task, "task_id", json_object_new_string(task_id));
	json_object_object_add(a->task, "tool_name", json_object_new_string(tool_name));
	json_object_object_add(a->task, "plugin_name",
			       json_object_new_string(fm_json_get_string(manifest, "name")));
	json_object_object_add(a->task, "parameters", params);
	if (json_object_array_length(resources))
		json_object_object_add(a->task, "resources", resources);
	else
		json_object_put(resources);
	/* What the answers need later: GET /v1/videos/ID reads it back. */
	meta = json_object_new_object();
	oai = json_object_new_object();
	json_object_object_add(oai, "route", json_object_new_string(kind_names[kind]));
	json_object_object_add(oai, "model", json_object_new_string(a->model));
	json_object_object_add(oai, "created", json_object_new_int64(created));
	if (kind == FM_OAI_VIDEOS) {
		json_object *v;

		json_object_object_add(
		    oai, "seconds",
		    json_object_new_string(json_object_object_get_ex(in, "seconds", &v) &&
						   !json_object_is_type(v, json_type_null)
					       ? json_object_get_string(v)
					       : "4"));
		json_object_object_add(oai, "size",
				       json_object_new_string(fm_json_get_string(in, "size")
								  ? fm_json_get_string(in, "size")
								  : "1280x720"));
	}
	json_object_object_add(meta, "openai", oai);
	json_object_object_add(a->task, "metadata", meta);
out:
	fm_buf_release(&text);
	json_object_put(in);
	return code;
}

void fm_oai_ask_release(struct fm_oai_ask *a)
{
	json_object_put(a->task);
	a->task = NULL;
}

/* --- answers ------------------------------------------------------------ */

json_object *fm_oai_error_json(const struct fm_error *err, int status)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();
	const char *type = status == 401   ? "invalid_request_error"
			   : status == 429 ? "rate_limit_error"
			   : status >= 500 ? "server_error"
					   : "invalid_request_error";
	const char *param = fm_json_get_string(err->details, "param");
	const char *code = fm_json_get_string(err->details, "oai_code");
	char lower[64];
	size_t i;

	if (!code && status == 401)
		code = "invalid_api_key";
	if (!code) {
		snprintf(lower, sizeof(lower), "%s",
			 fm_code_name(err->code ? err->code : FM_SERVICE_ERROR));
		for (i = 0; lower[i]; i++)
			lower[i] = (char)tolower((unsigned char)lower[i]);
		code = lower;
	}
	json_object_object_add(e, "message", json_object_new_string(err->message));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "param", param ? json_object_new_string(param) : NULL);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(o, "error", e);
	return o;
}

int fm_oai_final(json_object *final, struct fm_error *err)
{
	const char *type = fm_json_get_string(final, "type");
	const char *status = fm_json_get_string(final, "status");
	json_object *files = fm_json_get(final, "output_files", json_type_array);
	json_object *e = fm_json_get(final, "error", json_type_object);

	if (type && status && !strcmp(type, "completed") && !strcmp(status, "success") && files &&
	    json_object_array_length(files) &&
	    json_object_is_type(json_object_array_get_idx(files, 0), json_type_string))
		return 0;
	if (type && !strcmp(type, "completed") && status && !strcmp(status, "success"))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "the task made no output file"),
		       500;
	if (e) {
		fm_error_from_json(err, e, FM_PLUGIN_EXECUTION_ERROR);
	} else {
		fm_error(err,
			 type && !strcmp(type, "cancelled") ? FM_TASK_CANCELLED
							    : FM_PLUGIN_EXECUTION_ERROR,
			 "the task %s",
			 type && !strcmp(type, "cancelled") ? "was cancelled" : "failed");
	}
	return err->code == FM_TIMEOUT_ERROR ? 504 : err->code == FM_VALIDATION_ERROR ? 400 : 500;
}

const char *fm_oai_delta(json_object *line)
{
	const char *type = fm_json_get_string(line, "type");

	if (!type || strcmp(type, "progress"))
		return NULL;
	return fm_json_get_string(fm_json_get(line, "data", json_type_object), "delta");
}

json_object *fm_oai_chat(const char *id, int64_t created, const char *model, const char *content)
{
	json_object *o = json_object_new_object(), *choices = json_object_new_array();
	json_object *c = json_object_new_object(), *m = json_object_new_object();
	json_object *u = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(m, "content", json_object_new_string(content));
	json_object_object_add(m, "refusal", NULL);
	json_object_object_add(c, "index", json_object_new_int(0));
	json_object_object_add(c, "message", m);
	json_object_object_add(c, "logprobs", NULL);
	json_object_object_add(c, "finish_reason", json_object_new_string("stop"));
	json_object_array_add(choices, c);
	/* No tokens are counted: zero says so without guessing. */
	json_object_object_add(u, "prompt_tokens", json_object_new_int(0));
	json_object_object_add(u, "completion_tokens", json_object_new_int(0));
	json_object_object_add(u, "total_tokens", json_object_new_int(0));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "object", json_object_new_string("chat.completion"));
	json_object_object_add(o, "created", json_object_new_int64(created));
	json_object_object_add(o, "model", json_object_new_string(model));
	json_object_object_add(o, "choices", choices);
	json_object_object_add(o, "usage", u);
	return o;
}

void fm_oai_chunk(struct fm_buf *out, const char *id, int64_t created, const char *model,
		  const char *content, int first)
{
	json_object *o = json_object_new_object(), *choices = json_object_new_array();
	json_object *c = json_object_new_object(), *d = json_object_new_object();

	if (first)
		json_object_object_add(d, "role", json_object_new_string("assistant"));
	if (content)
		json_object_object_add(d, "content", json_object_new_string(content));
	json_object_object_add(c, "index", json_object_new_int(0));
	json_object_object_add(c, "delta", d);
	json_object_object_add(c, "logprobs", NULL);
	json_object_object_add(c, "finish_reason", content ? NULL : json_object_new_string("stop"));
	json_object_array_add(choices, c);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "object", json_object_new_string("chat.completion.chunk"));
	json_object_object_add(o, "created", json_object_new_int64(created));
	json_object_object_add(o, "model", json_object_new_string(model));
	json_object_object_add(o, "choices", choices);
	/* JSON text has no raw newline, so one data: line holds it. */
	fm_buf_addf(out, "data: %s\n\n", fm_json_str(o));
	json_object_put(o);
}

/* Seconds since the epoch of an RFC 3339 UTC timestamp, or -1. */
static int64_t epoch(const char *ts)
{
	struct tm tm = {0};
	const char *end = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	return end ? (int64_t)timegm(&tm) : -1;
}

json_object *fm_oai_video(json_object *task, json_object *status)
{
	static const char *const states[][2] = {
	    {"queued", "queued"}, {"running", "in_progress"}, {"done", "completed"},
	    {"failed", "failed"}, {"cancelled", "failed"},
	};
	json_object *o = json_object_new_object();
	json_object *oai = fm_json_get(fm_json_get(task, "metadata", json_type_object), "openai",
				       json_type_object);
	json_object *prog = fm_json_get(status, "progress", json_type_object), *pv;
	const char *state = fm_json_get_string(status, "state"), *said = "queued";
	json_object *created = oai ? json_object_object_get(oai, "created") : NULL;
	int64_t done = epoch(fm_json_get_string(status, "finished_at"));
	double percent = 0;
	size_t i;

	for (i = 0; state && i < sizeof(states) / sizeof(*states); i++)
		if (!strcmp(state, states[i][0]))
			said = states[i][1];
	if (!strcmp(said, "completed"))
		percent = 100;
	else if (prog && json_object_object_get_ex(prog, "percent", &pv))
		percent = json_object_get_double(pv);
	/* A plugin's percent may be anything: no NaN or 250 reaches the client. */
	if (!isfinite(percent) || percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	json_object_object_add(o, "id",
			       json_object_new_string(fm_json_get_string(task, "task_id")
							  ? fm_json_get_string(task, "task_id")
							  : ""));
	json_object_object_add(o, "object", json_object_new_string("video"));
	json_object_object_add(o, "model",
			       json_object_new_string(fm_json_get_string(oai, "model")
							  ? fm_json_get_string(oai, "model")
						      : fm_json_get_string(task, "plugin_name")
							  ? fm_json_get_string(task, "plugin_name")
							  : ""));
	json_object_object_add(o, "status", json_object_new_string(said));
	json_object_object_add(o, "progress", json_object_new_int((int)percent));
	json_object_object_add(o, "created_at",
			       json_object_new_int64(created ? json_object_get_int64(created) : 0));
	json_object_object_add(o, "completed_at",
			       done >= 0 && !strcmp(said, "completed") ? json_object_new_int64(done)
								       : NULL);
	json_object_object_add(o, "expires_at", NULL);
	json_object_object_add(o, "seconds",
			       json_object_new_string(fm_json_get_string(oai, "seconds")
							  ? fm_json_get_string(oai, "seconds")
							  : "4"));
	json_object_object_add(o, "size",
			       json_object_new_string(fm_json_get_string(oai, "size")
							  ? fm_json_get_string(oai, "size")
							  : "1280x720"));
	json_object_object_add(o, "remixed_from_video_id", NULL);
	if (!strcmp(said, "failed")) {
		json_object *res = fm_json_get(status, "result", json_type_object);
		json_object *e = json_object_new_object(),
			    *re = fm_json_get(res, "error", json_type_object);
		const char *code = fm_json_get_string(re, "code"),
			   *msg = fm_json_get_string(re, "message");

		json_object_object_add(e, "code", json_object_new_string(code ? code : state));
		json_object_object_add(
		    e, "message", json_object_new_string(msg ? msg : "the task did not complete"));
		json_object_object_add(o, "error", e);
	} else {
		json_object_object_add(o, "error", NULL);
	}
	return o;
}

/* Whether host is name:port exactly. */
static int host_is(const char *host, const char *name, unsigned port)
{
	char want[128];

	snprintf(want, sizeof(want), strchr(name, ':') ? "[%s]:%u" : "%s:%u", name, port);
	return !strcasecmp(host, want);
}

void fm_oai_base_url(char *out, size_t size, const char *host, const char *local, unsigned port)
{
	int loopback = !strncmp(local, "127.", 4) || !strcmp(local, "::1");

	if (host && (host_is(host, local, port) || (loopback && host_is(host, "localhost", port))))
		snprintf(out, size, "http://%s", host);
	else
		snprintf(out, size, strchr(local, ':') ? "http://[%s]:%u" : "http://%s:%u", local,
			 port);
}
