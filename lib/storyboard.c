/*
 * Storyboard expansion. Each scene becomes up to three tasks (an image, a
 * clip made from it, a narration track), the film may add a music task,
 * and one combine task depends on all of them. A scene that brings its
 * own media skips the tasks that would make it. Generated parameters go
 * only to plugins that declare them; values a user gave are checked
 * against the manifest like any other.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "model.h"
#include "s3.h"
#include "storyboard.h"
#include "util.h"
#include "yaml.h"

#define DEFAULT_WIDTH	 1280
#define DEFAULT_HEIGHT	 720
#define DEFAULT_FPS	 25.0
#define DEFAULT_DURATION 4.0
#define MAX_DURATION	 600.0
/* Narration is read at about 150 words a minute. */
#define WORDS_PER_SECOND 2.5

static const char *const film_keys[] = {"id",	 "title",  "description", "size",
					"width", "height", "fps",	  "plugins",
					"music", "scenes", "parameters",  NULL};
static const char *const scene_keys[] = {"id",	     "title",	   "prompt",	 "narration",
					 "duration", "transition", "plugins",	 "image",
					 "video",    "audio",	   "parameters", NULL};
static const char *const transitions[] = {"cut", "fade", "crossfade", NULL};

struct sb {
	const struct fm_storyboard_opts *o;
	const char *name, *dir;
	json_object *root, *problems, *sources, *tasks;
	char prefix[FM_ID_MAX / 2];
	long width, height;
	double fps;
};

static void problem(struct sb *s, json_object *node, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Where a problem lies, as fields beside its message: "scene N" is the
 * scene; the field is where itself for a film-wide one ("size", "music")
 * or, in a scene, the name its message starts with ("prompt: required").
 */
static void locate(json_object *e, const char *where, const char *msg, int line)
{
	char field[32];
	size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz_");
	unsigned long scene;

	if (sscanf(where, "scene %lu", &scene) == 1) {
		json_object_object_add(e, "scene", json_object_new_int64((int64_t)scene));
		if (n && n < sizeof(field) && msg[n] == ':') {
			memcpy(field, msg, n);
			field[n] = '\0';
			json_object_object_add(e, "field", json_object_new_string(field));
		}
	} else if (strcmp(where, "storyboard")) {
		json_object_object_add(e, "field", json_object_new_string(where));
	}
	if (line)
		json_object_object_add(e, "line", json_object_new_int(line));
}

static void problem(struct sb *s, json_object *node, const char *where, const char *fmt, ...)
{
	json_object *e = json_object_new_object();
	char msg[FM_ERROR_MAX / 2], *full;
	int line = fm_yaml_line(node);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	full = line ? fm_xasprintf("%s:%d: %s: %s", s->name, line, where, msg)
		    : fm_xasprintf("%s: %s: %s", s->name, where, msg);
	json_object_object_add(e, "message", json_object_new_string(full));
	locate(e, where, msg, line);
	json_object_array_add(s->problems, e);
	free(full);
}

static void source(struct sb *s, const char *setting, json_object *value, const char *from)
{
	json_object *e;
	size_t i;

	/* Once per setting: the first scene that needs it says where from. */
	for (i = 0; i < json_object_array_length(s->sources); i++) {
		const char *name =
		    fm_json_get_string(json_object_array_get_idx(s->sources, i), "setting");

		if (name && !strcmp(name, setting)) {
			json_object_put(value);
			return;
		}
	}
	e = json_object_new_object();

	json_object_object_add(e, "setting", json_object_new_string(setting));
	json_object_object_add(e, "value", value);
	json_object_object_add(e, "from", json_object_new_string(from));
	json_object_array_add(s->sources, e);
}

static int one_of(const char *v, const char *const *set)
{
	for (; v && *set; set++)
		if (!strcmp(v, *set))
			return 1;
	return 0;
}

static void unknown_keys(struct sb *s, json_object *obj, const char *const *known,
			 const char *where)
{
	json_object_object_foreach (obj, k, v) {
		(void)v;
		const char *near;

		if (one_of(k, known))
			continue;
		near = fm_suggest(k, known, 0);
		if (near)
			problem(s, obj, where,
				"unknown field '%s': did you mean '%s'? (rule: known fields)", k,
				near);
		else
			problem(s, obj, where, "unknown field '%s' (rule: known fields)", k);
	}
}

/* The film id prefixing every task id: id:, else the file's name. */
static void make_prefix(struct sb *s)
{
	const char *id = fm_json_get_string(s->root, "id"), *base = strrchr(s->name, '/');
	size_t i, n;

	base = base ? base + 1 : s->name;
	snprintf(s->prefix, sizeof(s->prefix), "%s", id ? id : s->o->id ? s->o->id : base);
	if (!id && !s->o->id && strchr(s->prefix, '.'))
		*strrchr(s->prefix, '.') = '\0';
	n = strlen(s->prefix);
	for (i = 0; i < n; i++)
		if (!fm_id_char((unsigned char)s->prefix[i]))
			s->prefix[i] = '-';
	if (!fm_id_valid(s->prefix))
		snprintf(s->prefix, sizeof(s->prefix), "film");
}

static void film_size(struct sb *s)
{
	const char *size = s->o->size ? s->o->size : fm_json_get_string(s->root, "size");
	json_object *w = fm_json_get(s->root, "width", json_type_int);
	json_object *h = fm_json_get(s->root, "height", json_type_int);
	json_object *cw = fm_config_film(s->o->config, "width");
	json_object *ch = fm_config_film(s->o->config, "height");
	const char *from = s->o->size ? "option" : "storyboard";
	char text[48];

	s->width = DEFAULT_WIDTH;
	s->height = DEFAULT_HEIGHT;
	if (size) {
		if (sscanf(size, "%ldx%ld", &s->width, &s->height) != 2)
			problem(s, s->root, "size", "'%s' is not WIDTHxHEIGHT (rule: format)",
				size);
	} else if (w && h) {
		s->width = json_object_get_int(w);
		s->height = json_object_get_int(h);
	} else if (cw && ch && json_object_is_type(cw, json_type_int) &&
		   json_object_is_type(ch, json_type_int)) {
		s->width = json_object_get_int(cw);
		s->height = json_object_get_int(ch);
		from = "config";
	} else {
		from = "default";
	}
	if (s->width < 16 || s->width > 8192 || s->height < 16 || s->height > 8192)
		problem(s, s->root, "size", "%ldx%ld is outside 16x16..8192x8192 (rule: range)",
			s->width, s->height);
	snprintf(text, sizeof(text), "%ldx%ld", s->width, s->height);
	source(s, "size", json_object_new_string(text), from);
}

static void film_fps(struct sb *s)
{
	json_object *v = NULL;
	const char *from = "default";

	s->fps = DEFAULT_FPS;
	if (s->o->fps > 0) {
		s->fps = s->o->fps;
		from = "option";
	} else if (json_object_object_get_ex(s->root, "fps", &v)) {
		from = "storyboard";
	} else if ((v = fm_config_film(s->o->config, "fps"))) {
		from = "config";
	}
	if (v && !json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		problem(s, s->root, "fps", "must be a number (rule: type)");
	else if (v)
		s->fps = json_object_get_double(v);
	if (!(s->fps > 0 && s->fps <= 120))
		problem(s, s->root, "fps", "%g is outside 0..120 (rule: range)", s->fps);
	source(s, "fps", fm_json_double(s->fps), from);
}

/* The plugin for a tool: the scene's, the film's, the config's, or none. */
static const char *plugin_for(struct sb *s, json_object *scene, const char *tool, int record)
{
	const char *p = fm_json_get_string(fm_json_get(scene, "plugins", json_type_object), tool);
	const char *from = "scene";

	if (!p) {
		p = fm_json_get_string(fm_json_get(s->root, "plugins", json_type_object), tool);
		from = "storyboard";
	}
	if (!p) {
		p = fm_config_default_plugin(s->o->config, tool);
		from = "config";
	}
	if (!p && record) {
		const struct fm_manifest *m = fm_plugins_find(s->o->plugins, NULL, tool, NULL);

		if (m)
			source(s, tool, json_object_new_string(m->name), "default");
		return NULL;
	}
	if (record && strcmp(from, "scene"))
		source(s, tool, json_object_new_string(p), from);
	return p;
}

/* Sets a generated parameter only when the plugin declares it. */
static void maybe(json_object *params, const struct fm_manifest *m, const char *tool,
		  const char *key, json_object *v)
{
	json_object *def = m ? fm_manifest_tool(m, tool) : NULL;

	if (def && fm_tool_param(def, key))
		json_object_object_add(params, key, v);
	else
		json_object_put(v);
}

/*
 * The share of a card's text area that stays in view under the camera
 * move the video plugin makes of it: with a zoom z and a pan from edge to
 * edge, only the middle 2/z - 1 of the frame is in every frame. 1 (all
 * of it) for a plugin that takes no zoom. The card keeps its text there.
 */
static double safe_area(const struct fm_manifest *vm, json_object *vparams)
{
	json_object *def = vm ? fm_tool_param(fm_manifest_tool(vm, "image2video"), "zoom") : NULL;
	double zoom, seen;

	if (!def)
		return 1;
	zoom = fm_json_get_double(vparams, "zoom", fm_json_get_double(def, "default", 1));
	if (!isfinite(zoom) || zoom <= 1)
		return 1;
	/* The text area is 90% of the card; a margin of 4% of the frame. */
	seen = (2 / zoom - 1 - 0.04) / 0.9;
	return seen < 0.3 ? 0.3 : seen > 1 ? 1 : floor(seen * 100) / 100;
}

/* Values the user gave: the scene's or film's parameters.TOOL, then -p. */
static void given(struct sb *s, json_object *scene, const char *tool, const struct fm_manifest *m,
		  json_object *params)
{
	json_object *layers[3] = {
	    fm_json_get(fm_json_get(s->root, "parameters", json_type_object), tool,
			json_type_object),
	    fm_json_get(fm_json_get(scene, "parameters", json_type_object), tool, json_type_object),
	    s->o->params,
	};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!layers[i])
			continue;
		json_object_object_foreach (layers[i], k, v) {
			/* -p reaches only tools that take it; the rest must be right. */
			if (i == 2 && !(m && fm_tool_param(fm_manifest_tool(m, tool), k)))
				continue;
			json_object_object_add(params, k, json_object_get(v));
		}
	}
}

static json_object *resource(const char *type, const char *data, const char *scene,
			     const char *role)
{
	json_object *r = json_object_new_object(), *meta = json_object_new_object();

	json_object_object_add(r, "type", json_object_new_string(type));
	json_object_object_add(r, "data", json_object_new_string(data));
	if (!strcmp(type, "local_path"))
		json_object_object_add(r, "mime_type",
				       json_object_new_string(fm_mime_from_path(data)));
	if (scene)
		json_object_object_add(meta, "scene", json_object_new_string(scene));
	json_object_object_add(meta, "role", json_object_new_string(role));
	json_object_object_add(r, "metadata", meta);
	return r;
}

static json_object *task(struct sb *s, const char *id, const char *tool, const char *plugin,
			 json_object *params, json_object *resources)
{
	json_object *t = json_object_new_object(), *meta = json_object_new_object();

	json_object_object_add(t, "type", json_object_new_string("task"));
	json_object_object_add(t, "task_id", json_object_new_string(id));
	json_object_object_add(t, "tool_name", json_object_new_string(tool));
	if (plugin)
		json_object_object_add(t, "plugin_name", json_object_new_string(plugin));
	json_object_object_add(t, "parameters", params);
	json_object_object_add(t, "resources", resources ? resources : json_object_new_array());
	json_object_object_add(t, "depends_on", json_object_new_array());
	json_object_object_add(meta, "storyboard", json_object_new_string(s->name));
	json_object_object_add(t, "metadata", meta);
	json_object_array_add(s->tasks, t);
	return t;
}

/* A media path of the storyboard's, absolute and existing, or NULL. */
/* A scene's file is a local path, or an s3:// object fetched like a URL. */
static const char *media_type(const char *p)
{
	return fm_s3_is_uri(p) ? "remote_url" : "local_path";
}

static char *media(struct sb *s, json_object *scene, const char *key, const char *where)
{
	json_object *v;
	const char *p;
	struct stat st;
	char *abs;

	if (!json_object_object_get_ex(scene, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		problem(s, scene, where, "%s: must be a file path (rule: type)", key);
		return NULL;
	}
	p = json_object_get_string(v);
	/* Not even looked at: whether a file exists is no client's to learn. */
	if (s->o->no_files) {
		problem(s, scene, where, "%s: a file path is not taken here (rule: no files)", key);
		return NULL;
	}
	/* An object in a bucket is fetched as the task starts, as a URL would be. */
	if (fm_s3_is_uri(p)) {
		struct fm_s3_uri u;
		struct fm_error e = FM_ERROR_INIT;

		if (fm_s3_uri_parse(p, &u, &e) < 0) {
			problem(s, scene, where, "%s: %s (rule: s3)", key, e.message);
			fm_error_release(&e);
			return NULL;
		}
		fm_s3_uri_release(&u);
		return fm_xstrdup(p);
	}
	if (p[0] != '/' && !s->dir) {
		problem(s, scene, where,
			"%s: '%s' is relative, and this storyboard has no folder: give an absolute "
			"path (rule: absolute)",
			key, p);
		return NULL;
	}
	abs = p[0] == '/' ? fm_xstrdup(p) : fm_xasprintf("%s/%s", s->dir, p);
	if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) {
		problem(s, scene, where, "%s: '%s' is not a readable file (rule: exists)", key, p);
		free(abs);
		return NULL;
	}
	return abs;
}

static const struct fm_manifest *manifest_for(struct sb *s, const char *plugin, const char *tool)
{
	return fm_plugins_find(s->o->plugins, plugin, tool, NULL);
}

static double scene_duration(struct sb *s, json_object *scene, const char *where)
{
	json_object *v;
	const char *text = fm_json_get_string(scene, "narration");
	double d = DEFAULT_DURATION;

	if (json_object_object_get_ex(scene, "duration", &v)) {
		if (!json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_double)) {
			problem(s, scene, where,
				"duration: must be a number of seconds (rule: type)");
			return d;
		}
		d = json_object_get_double(v);
		if (!(d > 0 && d <= MAX_DURATION))
			problem(s, scene, where, "duration: %g is outside 0..%g (rule: range)", d,
				MAX_DURATION);
		return d;
	}
	if (text) {
		/* Long enough to say the narration, rounded up to half seconds. */
		size_t words = 0;
		const char *p;
		int in = 0;

		for (p = text; *p; p++) {
			if (isspace((unsigned char)*p))
				in = 0;
			else if (!in++)
				words++;
		}
		d = fmax(2.0, ceil((words / WORDS_PER_SECOND + 0.5) * 2) / 2);
	}
	return d;
}

/* The tasks of one scene; returns its entry for the combine task. */
static json_object *scene_tasks(struct sb *s, json_object *scene, size_t idx, json_object *cres)
{
	char where[64], sid[FM_ID_MAX + 1], id[2 * FM_ID_MAX], img_id[2 * FM_ID_MAX];
	const char *given_id = fm_json_get_string(scene, "id");
	const char *prompt = fm_json_get_string(scene, "prompt");
	const char *narration = fm_json_get_string(scene, "narration");
	const char *transition = fm_json_get_string(scene, "transition");
	char *image = NULL, *video = NULL, *audio = NULL;
	json_object *entry = json_object_new_object(), *params, *res;
	const struct fm_manifest *m;
	const char *plugin;
	double duration;

	snprintf(where, sizeof(where), "scene %zu", idx + 1);
	if (!json_object_is_type(scene, json_type_object)) {
		problem(s, s->root, where, "must be a mapping (rule: type)");
		return entry;
	}
	unknown_keys(s, scene, scene_keys, where);
	if (given_id && !fm_id_valid(given_id))
		problem(s, scene, where, "id: '%s' is not a valid id (rule: id)", given_id);
	snprintf(sid, sizeof(sid), "%s-%s", s->prefix,
		 given_id && fm_id_valid(given_id) ? given_id : "");
	if (!given_id || !fm_id_valid(given_id))
		snprintf(sid, sizeof(sid), "%s-scene%zu", s->prefix, idx + 1);
	/* Room for the longest suffix, "-narration", within an id. */
	if (strlen(sid) + 10 > FM_ID_MAX)
		problem(s, scene, where,
			"id: %zu characters with the film's prefix '%s-' and the suffix "
			"'-narration', more than the limit of %d (rule: id)",
			given_id && fm_id_valid(given_id)
			    ? strlen(s->prefix) + 1 + strlen(given_id) + 10
			    : strlen(sid) + 10,
			s->prefix, FM_ID_MAX);
	if (transition && !one_of(transition, transitions))
		problem(s, scene, where,
			"transition: '%s' is not one of cut, fade, crossfade (rule: enum)",
			transition);
	if (json_object_object_get_ex(scene, "narration", NULL) && !narration)
		problem(s, scene, where, "narration: must be text (rule: type)");
	duration = scene_duration(s, scene, where);
	image = media(s, scene, "image", where);
	video = media(s, scene, "video", where);
	audio = media(s, scene, "audio", where);
	if (!prompt && !image && !video)
		problem(s, scene, where,
			"prompt: required unless the scene gives image or video (rule: required)");
	json_object_object_add(entry, "id", json_object_new_string(sid));
	json_object_object_add(entry, "duration", fm_json_double(duration));
	json_object_object_add(entry, "transition",
			       json_object_new_string(transition ? transition : "cut"));
	json_object_object_add(entry, "title",
			       json_object_new_string(fm_json_get_string(scene, "title")
							  ? fm_json_get_string(scene, "title")
						      : prompt ? prompt
							       : ""));
	json_object_object_add(entry, "text", json_object_new_string(narration ? narration : ""));
	if (video) {
		json_object_array_add(cres, resource(media_type(video), video, sid, "video"));
	} else {
		const char *vplugin = plugin_for(s, scene, "image2video", 1);
		const struct fm_manifest *vm = manifest_for(s, vplugin, "image2video");
		json_object *vparams = json_object_new_object();

		maybe(vparams, vm, "image2video", "duration", fm_json_double(duration));
		maybe(vparams, vm, "image2video", "width", json_object_new_int64(s->width));
		maybe(vparams, vm, "image2video", "height", json_object_new_int64(s->height));
		maybe(vparams, vm, "image2video", "fps", fm_json_double(s->fps));
		if (prompt)
			maybe(vparams, vm, "image2video", "prompt", json_object_new_string(prompt));
		given(s, scene, "image2video", vm, vparams);
		if (!image) {
			plugin = plugin_for(s, scene, "text2image", 1);
			m = manifest_for(s, plugin, "text2image");
			params = json_object_new_object();
			maybe(params, m, "text2image", "prompt",
			      json_object_new_string(prompt ? prompt : ""));
			maybe(params, m, "text2image", "width", json_object_new_int64(s->width));
			maybe(params, m, "text2image", "height", json_object_new_int64(s->height));
			if (safe_area(vm, vparams) < 1)
				maybe(params, m, "text2image", "safe_area",
				      fm_json_double(safe_area(vm, vparams)));
			given(s, scene, "text2image", m, params);
			snprintf(img_id, sizeof(img_id), "%s-image", sid);
			task(s, img_id, "text2image", plugin, params, NULL);
		}
		plugin = vplugin;
		params = vparams;
		res = json_object_new_array();
		json_object_array_add(res, image ? resource(media_type(image), image, sid, "image")
						 : resource("task_output", img_id, sid, "image"));
		snprintf(id, sizeof(id), "%s-video", sid);
		task(s, id, "image2video", plugin, params, res);
		json_object_array_add(cres, resource("task_output", id, sid, "video"));
	}
	if (audio) {
		json_object_array_add(cres, resource(media_type(audio), audio, sid, "narration"));
	} else if (narration && *narration) {
		plugin = plugin_for(s, scene, "text2speak", 1);
		m = manifest_for(s, plugin, "text2speak");
		params = json_object_new_object();
		maybe(params, m, "text2speak", "text", json_object_new_string(narration));
		given(s, scene, "text2speak", m, params);
		snprintf(id, sizeof(id), "%s-narration", sid);
		task(s, id, "text2speak", plugin, params, NULL);
		json_object_array_add(cres, resource("task_output", id, sid, "narration"));
	}
	free(image);
	free(video);
	free(audio);
	return entry;
}

static void music_task(struct sb *s, double total, json_object *cres)
{
	json_object *music, *params;
	const struct fm_manifest *m;
	const char *prompt = NULL, *plugin;
	char id[FM_ID_MAX + 1], *file = NULL;

	if (!json_object_object_get_ex(s->root, "music", &music) || !music)
		return;
	if (json_object_is_type(music, json_type_string)) {
		prompt = json_object_get_string(music);
	} else if (json_object_is_type(music, json_type_object)) {
		prompt = fm_json_get_string(music, "prompt");
		file = media(s, music, "audio", "music");
		if (!prompt && !file)
			problem(s, music, "music",
				"needs a prompt or an audio file (rule: required)");
	} else {
		problem(s, s->root, "music", "must be a prompt or a mapping (rule: type)");
		return;
	}
	if (file) {
		json_object_array_add(cres, resource("local_path", file, NULL, "music"));
		free(file);
		return;
	}
	if (!prompt)
		return;
	plugin = fm_json_get_string(music, "plugin");
	if (!plugin)
		plugin = plugin_for(s, NULL, "text2music", 1);
	m = manifest_for(s, plugin, "text2music");
	params = json_object_new_object();
	maybe(params, m, "text2music", "prompt", json_object_new_string(prompt));
	maybe(params, m, "text2music", "duration", fm_json_double(total));
	given(s, NULL, "text2music", m, params);
	snprintf(id, sizeof(id), "%s-music", s->prefix);
	task(s, id, "text2music", plugin, params, NULL);
	json_object_array_add(cres, resource("task_output", id, NULL, "music"));
}

/*
 * The music needs nothing a scene makes: moved before the scenes' tasks
 * (from index first), a runner that takes tasks in order makes it while
 * the scenes are made, rather than alone after the last clip while the
 * film waits. Nothing moves unless the music task is the last one.
 */
static void first_task(json_object *tasks, size_t first)
{
	size_t k = json_object_array_length(tasks);
	json_object *music = k > first + 1 ? json_object_array_get_idx(tasks, k - 1) : NULL;
	const char *tool = fm_json_get_string(music, "tool_name");

	if (!tool || strcmp(tool, "text2music"))
		return;
	json_object_get(music);
	/* each put_idx drops the reference at k, which k + 1 holds a copy of */
	for (k--; k > first; k--)
		json_object_array_put_idx(tasks, k,
					  json_object_get(json_object_array_get_idx(tasks, k - 1)));
	json_object_array_put_idx(tasks, first, music);
}

struct yaml_text {
	const char *buf;
	size_t done; /* bytes of buf already copied */
	char *out;
	size_t len;
};

static void pair_as_yaml(void *ctx, size_t off, unsigned long cp)
{
	struct yaml_text *y = ctx;

	memcpy(y->out + y->len, y->buf + y->done, off - y->done);
	y->len += off - y->done;
	y->len += (size_t)sprintf(y->out + y->len, "\\U%08lX", cp);
	y->done = off + 12;
}

/*
 * libyaml refuses the UTF-16 surrogate pairs JSON spells characters past
 * U+FFFF with ("\ud83c\udfac"). In a storyboard that is JSON each pair
 * becomes YAML's escape of the same character ("\U0001F3AC", shorter)
 * before libyaml reads it, so a JSON storyboard keeps its line numbers.
 * NULL when buf is not JSON or has no pair: libyaml reads it as it is.
 */
static char *yaml_text(const char *buf, size_t len, size_t *out_len)
{
	struct yaml_text y = {buf, 0, NULL, 0};
	json_object *json;
	size_t at;

	if (!memmem(buf, len, "\\u", 2) || fm_json_parse(buf, len, &json, NULL) < 0)
		return NULL;
	json_object_put(json);
	y.out = fm_xmalloc(len + 1);
	fm_json_surrogates(buf, len, &at, pair_as_yaml, &y);
	if (!y.done) {
		free(y.out);
		return NULL;
	}
	memcpy(y.out + y.len, buf + y.done, len - y.done);
	*out_len = y.len + len - y.done;
	y.out[*out_len] = '\0';
	return y.out;
}

/*
 * libyaml says only "invalid Unicode character escape code" of half a
 * surrogate pair; in a storyboard that looks like JSON, say which.
 */
static void lone_surrogate(struct sb *s, const char *buf, size_t len)
{
	size_t at, line = 1, col = 1, i = 0;

	/* buf holds len bytes, not a string: it need not end in NUL. */
	while (i < len && memchr(" \t\r\n", buf[i], 4))
		i++;
	if (i == len || buf[i] != '{' || fm_json_surrogates(buf, len, &at, NULL, NULL) == 0)
		return;
	for (i = 0; i < at; i++, col++) {
		if (buf[i] == '\n') {
			line++;
			col = 0;
		}
	}
	problem(s, NULL, "storyboard",
		"%s:%zu:%zu: '%.6s' is half a UTF-16 surrogate pair: a character past U+FFFF "
		"is a high \\uD800-\\uDBFF then a low \\uDC00-\\uDFFF (rule: JSON escapes)",
		s->name, line, col, buf + at);
}

/* Reads the storyboard into s->root; -1 (with the problem noted) when it cannot. */
static int parse(struct sb *s, const char *buf, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	size_t tlen = 0;
	char *text;
	int rc;

	if (len > FM_STORYBOARD_MAX) {
		problem(s, NULL, "storyboard", "%s: %zu bytes, larger than the limit of %d bytes",
			s->name, len, FM_STORYBOARD_MAX);
		return -1;
	}
	text = yaml_text(buf, len, &tlen);
	rc = fm_yaml_parse(text ? text : buf, text ? tlen : len, s->name, &s->root, &err);
	if (rc < 0) {
		size_t before = json_object_array_length(s->problems);

		lone_surrogate(s, buf, len);
		if (json_object_array_length(s->problems) == before)
			problem(s, NULL, "storyboard", "%s", err.message);
	}
	fm_error_release(&err);
	free(text);
	return rc;
}

int fm_storyboard_expand(const char *buf, size_t len, const char *name, const char *dir,
			 const struct fm_storyboard_opts *o, json_object *tasks,
			 json_object *problems, json_object *sources)
{
	struct sb s = {o, name, dir, NULL, problems, sources, tasks, "", 0, 0, 0};
	json_object *scenes, *cscenes, *cres, *params;
	size_t before = json_object_array_length(problems), first = json_object_array_length(tasks);
	size_t i, n;
	char id[FM_ID_MAX + 1];
	double total = 0;

	if (parse(&s, buf, len) < 0)
		return -1;
	if (!json_object_is_type(s.root, json_type_object)) {
		problem(&s, NULL, "storyboard", "must be a mapping with scenes (rule: type)");
		json_object_put(s.root);
		return -1;
	}
	unknown_keys(&s, s.root, film_keys, "storyboard");
	make_prefix(&s);
	film_size(&s);
	film_fps(&s);
	scenes = fm_json_get(s.root, "scenes", json_type_array);
	n = scenes ? json_object_array_length(scenes) : 0;
	/*
	 * Without scenes there is no film to plan: stop before the tasks (up
	 * to three a scene), so the only problem said is this one.
	 */
	if (!n || n > FM_SCENES_MAX) {
		if (n)
			problem(&s, scenes, "scenes",
				"%zu scenes, more than the limit of %d (rule: range)", n,
				FM_SCENES_MAX);
		else if (scenes)
			problem(&s, scenes, "scenes",
				"the list is empty: give 1 to %d scenes (rule: range)",
				FM_SCENES_MAX);
		else if (json_object_object_get_ex(s.root, "scenes", NULL))
			problem(&s, s.root, "scenes", "must be a list of scenes (rule: type)");
		else
			problem(&s, s.root, "scenes",
				"required: a list of 1 to %d scenes (rule: required)",
				FM_SCENES_MAX);
		json_object_put(s.root);
		return -1;
	}
	cscenes = json_object_new_array();
	cres = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object *e = scene_tasks(&s, json_object_array_get_idx(scenes, i), i, cres);

		total += fm_json_get_double(e, "duration", 0);
		json_object_array_add(cscenes, e);
	}
	music_task(&s, total, cres);
	first_task(tasks, first);
	params = json_object_new_object();
	json_object_object_add(params, "title",
			       json_object_new_string(fm_json_get_string(s.root, "title")
							  ? fm_json_get_string(s.root, "title")
							  : s.prefix));
	json_object_object_add(params, "width", json_object_new_int64(s.width));
	json_object_object_add(params, "height", json_object_new_int64(s.height));
	json_object_object_add(params, "fps", fm_json_double(s.fps));
	json_object_object_add(params, "scenes", cscenes);
	given(&s, NULL, "combine", NULL, params);
	snprintf(id, sizeof(id), "%s-film", s.prefix);
	task(&s, id, "combine", NULL, params, cres);
	json_object_put(s.root);
	return json_object_array_length(problems) > before ? -1 : 0;
}
