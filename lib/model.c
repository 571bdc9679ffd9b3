/*
 * Tasks, results and events of DESIGN §2 and their JSON form. Reading a
 * task checks every field's type so that a plugin never sees a task the
 * model does not allow. Here too: the one parser of a task_output
 * reference ("ID#N"), the resources a command makes of paths, URLs and
 * files, and reading task objects written by hand.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "digest.h"
#include "fs.h"
#include "manifest.h"
#include "model.h"
#include "s3.h"
#include "util.h"

const char *const fm_tool_types[] = {
    "text2text",   "text2image", "image2image", "image2video", "text2video",
    "speak2video", "text2speak", "text2music",	"combine",     NULL,
};

void fm_task_init(struct fm_task *t)
{
	memset(t, 0, sizeof(*t));
}

void fm_task_release(struct fm_task *t)
{
	free(t->task_id);
	free(t->tool_name);
	free(t->plugin_name);
	free(t->created_at);
	json_object_put(t->parameters);
	json_object_put(t->resources);
	json_object_put(t->depends_on);
	json_object_put(t->metadata);
	fm_task_init(t);
}

int fm_resource_type_valid(const char *type)
{
	static const char *const types[] = {"local_path", "remote_url", "base64", "task_output",
					    NULL};
	size_t i;

	for (i = 0; type && types[i]; i++)
		if (!strcmp(type, types[i]))
			return 1;
	return 0;
}

int fm_url_like(const char *s)
{
	const char *p = strstr(s, "://"), *c;

	if (!p || p == s)
		return 0;
	/* RFC 3986's scheme: a letter, then letters, digits, '+', '-', '.' (s3://). */
	for (c = s; c < p; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (c > s && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))))
			return 0;
	return 1;
}

json_object *fm_resource_local(const char *path)
{
	json_object *o = json_object_new_object();
	char *abs = fm_abspath(path);

	json_object_object_add(o, "type", json_object_new_string("local_path"));
	json_object_object_add(o, "data", json_object_new_string(abs));
	json_object_object_add(o, "mime_type", json_object_new_string(fm_mime_from_path(abs)));
	json_object_object_add(o, "metadata", json_object_new_object());
	free(abs);
	return o;
}

json_object *fm_resource_remote(const char *url)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("remote_url"));
	json_object_object_add(o, "data", json_object_new_string(url));
	json_object_object_add(o, "metadata", json_object_new_object());
	return o;
}

int fm_resource_base64_file(const char *path, size_t max, json_object **res, struct fm_error *err)
{
	json_object *o;
	char *buf, *b64;
	size_t len;

	*res = NULL;
	if (fm_read_file(path, max, &buf, &len, err) < 0)
		return -1;
	b64 = fm_xmalloc(FM_BASE64_SIZE(len));
	fm_base64_encode(b64, FM_BASE64_SIZE(len), buf, len);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("base64"));
	json_object_object_add(o, "data", json_object_new_string(b64));
	json_object_object_add(o, "mime_type", json_object_new_string(fm_mime_from_path(path)));
	json_object_object_add(o, "metadata", json_object_new_object());
	free(buf);
	free(b64);
	*res = o;
	return 0;
}

/* Shown of a reference that does not parse: an id, '#' and N, with room. */
#define REF_SHOWN (FM_ID_MAX + 16)

int fm_task_ref_parse(const char *text, struct fm_task_ref *ref, struct fm_error *err)
{
	const char *hash, *p;
	size_t n;
	long v = 0;

	ref->id[0] = '\0';
	ref->output = -1;
	if (!text)
		text = "";
	hash = strchr(text, '#');
	n = hash ? (size_t)(hash - text) : strlen(text);
	if (n <= FM_ID_MAX) {
		memcpy(ref->id, text, n);
		ref->id[n] = '\0';
	}
	if (n > FM_ID_MAX || !fm_id_valid(ref->id)) {
		ref->id[0] = '\0';
		return fm_error(err, FM_VALIDATION_ERROR,
				"'%.*s' is not ID or ID#N: ID must be " FM_ID_RULE, REF_SHOWN,
				text);
	}
	if (!hash)
		return 0;
	/* Digits only, and no more of them than the bound needs: no sign, no overflow. */
	for (p = hash + 1; *p >= '0' && *p <= '9' && v <= FM_TASK_OUTPUT_MAX; p++)
		v = v * 10 + (*p - '0');
	if (p == hash + 1 || *p || v > FM_TASK_OUTPUT_MAX) {
		ref->id[0] = '\0';
		return fm_error(err, FM_VALIDATION_ERROR,
				"'%.*s' is not ID or ID#N: N must be a whole number from 0 to %d",
				REF_SHOWN, text, FM_TASK_OUTPUT_MAX);
	}
	ref->output = v;
	return 0;
}

static int check_resources(json_object *res, struct fm_error *err)
{
	size_t i, n = json_object_array_length(res);

	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(res, i);
		const char *type = fm_json_get_string(r, "type");
		struct fm_task_ref ref;
		struct fm_error why = FM_ERROR_INIT;

		if (!json_object_is_type(r, json_type_object))
			return fm_error(err, FM_VALIDATION_ERROR,
					"resources[%zu]: must be an object", i);
		if (!fm_resource_type_valid(type))
			return fm_error(err, FM_VALIDATION_ERROR,
					"resources[%zu].type: must be one of local_path, "
					"remote_url, base64, task_output",
					i);
		if (!fm_json_get_string(r, "data"))
			return fm_error(err, FM_VALIDATION_ERROR,
					"resources[%zu].data: must be a string", i);
		if (!strcmp(type, "task_output") &&
		    fm_task_ref_parse(fm_json_get_string(r, "data"), &ref, &why) < 0)
			return fm_error(err, FM_VALIDATION_ERROR, "resources[%zu].data: %s", i,
					why.message);
		/* A bucket or key S3 would refuse is said before anything runs. */
		if (!strcmp(type, "remote_url") && fm_s3_is_uri(fm_json_get_string(r, "data"))) {
			struct fm_s3_uri u;

			if (fm_s3_uri_parse(fm_json_get_string(r, "data"), &u, &why) < 0) {
				fm_error(err, FM_VALIDATION_ERROR, "resources[%zu].data: %s", i,
					 why.message);
				fm_error_release(&why);
				return -1;
			}
			fm_s3_uri_release(&u);
		}
	}
	return 0;
}

static int check_depends(json_object *deps, struct fm_error *err)
{
	size_t i, n = json_object_array_length(deps);

	for (i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(deps, i);

		if (!json_object_is_type(d, json_type_string) ||
		    !fm_id_valid(json_object_get_string(d)))
			return fm_error(err, FM_VALIDATION_ERROR,
					"depends_on[%zu]: must be a task id", i);
	}
	return 0;
}

/* Takes an optional field of one JSON type, or fails naming it. */
static int take(json_object *obj, const char *key, json_type type, json_object **out,
		struct fm_error *err)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, type))
		return fm_error(err, FM_VALIDATION_ERROR, "%s: must be %s", key,
				type == json_type_object  ? "an object"
				: type == json_type_array ? "an array"
							  : "a string");
	*out = json_object_get(v);
	return 0;
}

static int take_string(json_object *obj, const char *key, char **out, struct fm_error *err)
{
	json_object *v;

	if (take(obj, key, json_type_string, &v, err) < 0)
		return -1;
	if (v)
		*out = fm_xstrdup(json_object_get_string(v));
	json_object_put(v);
	return 0;
}

int fm_task_from_json(struct fm_task *t, json_object *obj, struct fm_error *err)
{
	const char *type, *id;
	json_object *v;

	fm_task_init(t);
	if (!json_object_is_type(obj, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR, "a task must be a JSON object");
	id = fm_json_get_string(obj, "task_id");
	if (id && fm_id_valid(id))
		t->task_id = fm_xstrdup(id);
	type = fm_json_get_string(obj, "type");
	if (type && strcmp(type, "task"))
		return fm_error(err, FM_VALIDATION_ERROR, "type: '%s' is not a task", type);
	if (!id)
		return fm_error(err, FM_VALIDATION_ERROR, "task_id: required");
	if (!t->task_id)
		return fm_error(err, FM_VALIDATION_ERROR, "task_id: '%.*s' is not " FM_ID_RULE,
				FM_ID_MAX, id);
	if (take_string(obj, "tool_name", &t->tool_name, err) < 0 ||
	    take_string(obj, "plugin_name", &t->plugin_name, err) < 0 ||
	    take_string(obj, "created_at", &t->created_at, err) < 0 ||
	    take(obj, "parameters", json_type_object, &t->parameters, err) < 0 ||
	    take(obj, "resources", json_type_array, &t->resources, err) < 0 ||
	    take(obj, "depends_on", json_type_array, &t->depends_on, err) < 0 ||
	    take(obj, "metadata", json_type_object, &t->metadata, err) < 0)
		return -1;
	if (!t->tool_name || !*t->tool_name)
		return fm_error(err, FM_VALIDATION_ERROR, "tool_name: required");
	if (t->plugin_name && !fm_plugin_name_valid(t->plugin_name))
		return fm_error(err, FM_VALIDATION_ERROR,
				"plugin_name: not a plugin name, " FM_PLUGIN_NAME_RULE);
	if (!t->parameters)
		t->parameters = json_object_new_object();
	if (!t->resources)
		t->resources = json_object_new_array();
	if (!t->depends_on)
		t->depends_on = json_object_new_array();
	if (!t->metadata)
		t->metadata = json_object_new_object();
	if (check_resources(t->resources, err) < 0 || check_depends(t->depends_on, err) < 0)
		return -1;
	if (json_object_object_get_ex(obj, "timeout", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_double))
			return fm_error(err, FM_VALIDATION_ERROR,
					"timeout: must be a number of seconds");
		t->timeout = json_object_get_double(v);
		if (!(t->timeout > 0 && t->timeout <= 7 * 86400.0))
			return fm_error(err, FM_VALIDATION_ERROR,
					"timeout: must be above 0 and at most 604800 seconds");
	}
	return 0;
}

json_object *fm_task_needs(json_object *task)
{
	json_object *ids = json_object_new_array(), *d, *r;
	size_t i;

	d = fm_json_get(task, "depends_on", json_type_array);
	for (i = 0; d && i < json_object_array_length(d); i++)
		json_object_array_add(ids, json_object_get(json_object_array_get_idx(d, i)));
	r = fm_json_get(task, "resources", json_type_array);
	for (i = 0; r && i < json_object_array_length(r); i++) {
		json_object *o = json_object_array_get_idx(r, i);
		const char *type = fm_json_get_string(o, "type");
		struct fm_task_ref ref;

		if (type && !strcmp(type, "task_output") &&
		    fm_task_ref_parse(fm_json_get_string(o, "data"), &ref, NULL) == 0)
			json_object_array_add(ids, json_object_new_string(ref.id));
	}
	return ids;
}

json_object *fm_task_object(json_object *o)
{
	json_object *t;

	if (!json_object_is_type(o, json_type_object))
		return json_object_get(o);
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("task"));
	/* A "type" of its own replaces ours in place, so a non-task is caught. */
	json_object_object_foreach (o, k, v) {
		json_object_object_add(t, k, json_object_get(v));
	}
	return t;
}

void fm_tasks_read(char *buf, size_t len, const char *name, json_object *tasks,
		   json_object *problems)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *all;
	char *line, *save = NULL;
	size_t i, lineno = 0;

	if (fm_json_parse(buf, len, &all, NULL) == 0 && json_object_is_type(all, json_type_array)) {
		for (i = 0; i < json_object_array_length(all); i++)
			json_object_array_add(tasks,
					      fm_task_object(json_object_array_get_idx(all, i)));
		json_object_put(all);
		return;
	}
	json_object_put(all);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *t;

		lineno++;
		if (!line[strspn(line, " \t\r")])
			continue;
		if (fm_json_parse(line, strlen(line), &t, &err) < 0) {
			fm_problem(problems, "%s line %zu: %s", name, lineno, err.message);
			fm_error_release(&err);
			continue;
		}
		json_object_array_add(tasks, fm_task_object(t));
		json_object_put(t);
	}
}

void fm_params_absolute_image(json_object *params)
{
	const char *image = fm_json_get_string(params, "input_image_path");
	char *abs;

	if (!image || !image[0] || image[0] == '/')
		return;
	abs = fm_abspath(image);
	json_object_object_add(params, "input_image_path", json_object_new_string(abs));
	free(abs);
}

void fm_task_absolute_paths(json_object *task)
{
	json_object *res = fm_json_get(task, "resources", json_type_array);
	size_t i;

	fm_params_absolute_image(fm_json_get(task, "parameters", json_type_object));

	for (i = 0; res && i < json_object_array_length(res); i++) {
		json_object *r = json_object_array_get_idx(res, i);
		const char *type = fm_json_get_string(r, "type"),
			   *data = fm_json_get_string(r, "data");
		char *abs;

		if (!type || !data || strcmp(type, "local_path") || data[0] == '/')
			continue;
		abs = fm_abspath(data);
		json_object_object_add(r, "data", json_object_new_string(abs));
		free(abs);
	}
}

json_object *fm_task_to_json(const struct fm_task *t)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("task"));
	json_object_object_add(o, "task_id", json_object_new_string(t->task_id));
	json_object_object_add(o, "tool_name", json_object_new_string(t->tool_name));
	if (t->plugin_name)
		json_object_object_add(o, "plugin_name", json_object_new_string(t->plugin_name));
	json_object_object_add(o, "parameters", fm_json_ref_or_object(t->parameters));
	json_object_object_add(o, "resources", fm_json_ref_or_array(t->resources));
	if (t->timeout > 0)
		json_object_object_add(o, "timeout", fm_json_double(t->timeout));
	json_object_object_add(o, "depends_on", fm_json_ref_or_array(t->depends_on));
	json_object_object_add(o, "metadata", fm_json_ref_or_object(t->metadata));
	if (t->created_at)
		json_object_object_add(o, "created_at", json_object_new_string(t->created_at));
	return o;
}

const char *fm_mime_from_path(const char *path)
{
	static const struct {
		const char *ext, *mime;
	} map[] = {
	    {"png", "image/png"},	  {"jpg", "image/jpeg"},
	    {"jpeg", "image/jpeg"},	  {"webp", "image/webp"},
	    {"gif", "image/gif"},	  {"mp4", "video/mp4"},
	    {"mov", "video/quicktime"},	  {"webm", "video/webm"},
	    {"mkv", "video/x-matroska"},  {"wav", "audio/wav"},
	    {"mp3", "audio/mpeg"},	  {"m4a", "audio/mp4"},
	    {"ogg", "audio/ogg"},	  {"flac", "audio/flac"},
	    {"txt", "text/plain"},	  {"srt", "application/x-subrip"},
	    {"json", "application/json"}, {"yaml", "application/yaml"},
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot && !strchr(dot, '/'))
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcasecmp(dot + 1, map[i].ext))
				return map[i].mime;
	return "application/octet-stream";
}

const char *fm_media_kind(const char *mime)
{
	if (!strncmp(mime, "image/", 6))
		return "image";
	if (!strncmp(mime, "video/", 6))
		return "video";
	if (!strncmp(mime, "audio/", 6))
		return "audio";
	if (!strncmp(mime, "text/", 5))
		return "text";
	return "file";
}

void fm_result_init(struct fm_result *r, const char *task_id)
{
	memset(r, 0, sizeof(*r));
	r->task_id = fm_xstrdup(task_id ? task_id : "");
	r->output_files = json_object_new_array();
	r->output_resources = json_object_new_array();
	r->metadata = json_object_new_object();
}

void fm_result_release(struct fm_result *r)
{
	free(r->task_id);
	json_object_put(r->output_files);
	json_object_put(r->output_resources);
	json_object_put(r->metadata);
	json_object_put(r->files_seen);
	fm_error_release(&r->error);
	memset(r, 0, sizeof(*r));
}

void fm_result_add_file(struct fm_result *r, const char *path)
{
	json_object_array_add(r->output_files, json_object_new_string(path));
}

int fm_result_add_output(struct fm_result *r, const char *path, struct fm_error *err)
{
	json_object *o;
	const char *mime;
	struct stat st;
	size_t i;

	/*
	 * A result with thousands of outputs must not cost a scan per file:
	 * the set is rebuilt only when output_files was changed behind it.
	 */
	if (!r->files_seen || (size_t)json_object_object_length(r->files_seen) !=
				  json_object_array_length(r->output_files)) {
		json_object_put(r->files_seen);
		r->files_seen = json_object_new_object();
		for (i = 0; i < json_object_array_length(r->output_files); i++)
			json_object_object_add(
			    r->files_seen,
			    json_object_get_string(json_object_array_get_idx(r->output_files, i)),
			    NULL);
	}
	if (json_object_object_get_ex(r->files_seen, path, NULL))
		return 0;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "output file '%s' does not exist",
				path);
	mime = fm_mime_from_path(path);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(fm_media_kind(mime)));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "mime_type", json_object_new_string(mime));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)st.st_size));
	json_object_object_add(o, "metadata", json_object_new_object());
	json_object_array_add(r->output_resources, o);
	fm_result_add_file(r, path);
	json_object_object_add(r->files_seen, path, NULL);
	return 0;
}

const char *fm_status_event(enum fm_status s)
{
	return s == FM_STATUS_SUCCESS	  ? "completed"
	       : s == FM_STATUS_CANCELLED ? "cancelled"
					  : "failed";
}

static const char *status_name(enum fm_status s)
{
	return s == FM_STATUS_SUCCESS	  ? "success"
	       : s == FM_STATUS_CANCELLED ? "cancelled"
					  : "error";
}

json_object *fm_result_to_json(const struct fm_result *r)
{
	json_object *o = fm_event_new(fm_status_event(r->status), r->task_id);

	json_object_object_add(o, "status", json_object_new_string(status_name(r->status)));
	json_object_object_add(o, "output_files", json_object_get(r->output_files));
	json_object_object_add(o, "output_resources", json_object_get(r->output_resources));
	if (r->status != FM_STATUS_SUCCESS)
		json_object_object_add(o, "error", fm_error_to_json(&r->error));
	json_object_object_add(o, "execution_time", fm_json_double(r->execution_time));
	if (r->attempts > 0)
		json_object_object_add(o, "attempts", json_object_new_int(r->attempts));
	json_object_object_add(o, "metadata", json_object_get(r->metadata));
	return o;
}

int fm_result_from_json(struct fm_result *r, json_object *obj, struct fm_error *err)
{
	const char *type = fm_json_get_string(obj, "type");
	const char *id = fm_json_get_string(obj, "task_id");
	json_object *v;

	double attempts;

	fm_result_init(r, id);
	if (!type || !id)
		return fm_error(err, FM_VALIDATION_ERROR, "a result needs a type and a task_id");
	if (!strcmp(type, "completed"))
		r->status = FM_STATUS_SUCCESS;
	else if (!strcmp(type, "cancelled"))
		r->status = FM_STATUS_CANCELLED;
	else if (!strcmp(type, "failed"))
		r->status = FM_STATUS_ERROR;
	else
		return fm_error(err, FM_VALIDATION_ERROR, "'%s' is not a final event", type);
	if ((v = fm_json_get(obj, "output_files", json_type_array))) {
		json_object_put(r->output_files);
		r->output_files = json_object_get(v);
	}
	if ((v = fm_json_get(obj, "output_resources", json_type_array))) {
		json_object_put(r->output_resources);
		r->output_resources = json_object_get(v);
	}
	if ((v = fm_json_get(obj, "metadata", json_type_object))) {
		json_object_put(r->metadata);
		r->metadata = json_object_get(v);
	}
	if ((v = fm_json_get(obj, "error", json_type_object)))
		fm_error_from_json(&r->error, v, FM_PLUGIN_EXECUTION_ERROR);
	r->execution_time = fm_json_get_double(obj, "execution_time", 0);
	attempts = fm_json_get_double(obj, "attempts", 0);
	r->attempts = attempts >= 0 && attempts <= 1e6 ? (int)attempts : 0;
	return 0;
}

json_object *fm_event_new(const char *type, const char *task_id)
{
	json_object *o = json_object_new_object();
	char ts[32];

	fm_timestamp(ts);
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "task_id", json_object_new_string(task_id));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	return o;
}
