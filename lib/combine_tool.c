/*
 * The built-in combine tool's manifest, apart from the tool itself: what
 * checks a plan (filmeto-submit, filmeto-plugin) needs of combine is its
 * parameters, and the libav* libraries the tool needs are loaded only by
 * the helper that runs it (lib/combine.c, filmeto-combine).
 */

#include <string.h>

#include "combine.h"
#include "util.h"

static const char manifest_yaml[] =
    "name: combine\n"
    "version: " FM_VERSION "\n"
    "description: Scenes into one film, built into filmeto-run (libavformat, libavfilter)\n"
    "command: [filmeto-run]\n"
    "tools:\n"
    "  - name: combine\n"
    "    description: scenes into one film (built into filmeto-run)\n"
    "    parameters:\n"
    "      - {name: title, type: string, default: ''}\n"
    "      - {name: width, type: integer, default: 1280, min: 16, max: 8192}\n"
    "      - {name: height, type: integer, default: 720, min: 16, max: 8192}\n"
    "      - {name: fps, type: number, default: 25, min: 1, max: 120}\n"
    "      - {name: scenes, type: array, required: true}\n"
    "      - {name: placeholder, type: boolean, default: false}\n"
    "      - {name: transition_duration, type: number, default: 0.5, min: 0.04, max: 5}\n"
    "      - {name: music_volume, type: number, default: -12, min: -60, max: 0}\n"
    "      - {name: loudness, type: number, default: -16, min: -40, max: -5}\n"
    "      - {name: output, type: string}\n"
    /* what its child needs of filmeto-run's environment: fonts, sanitizers */
    "env: [LD_LIBRARY_PATH, FONTCONFIG_FILE, FONTCONFIG_PATH, FONTCONFIG_SYSROOT, XDG_CACHE_HOME,\n"
    "      XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_DATA_DIRS, ASAN_OPTIONS, UBSAN_OPTIONS,\n"
    "      LSAN_OPTIONS]\n"
    "concurrency: 1\n"
    "startup: {timeout: 10}\n"
    "execution: {timeout: 7200, max_retries: 0}\n";

static struct fm_manifest manifest;

const struct fm_manifest *fm_combine_manifest(struct fm_error *err)
{
	static struct fm_error broken = FM_ERROR_INIT;
	static int loaded; /* 1 parsed, -1 refused */

	/* Called from the main thread before any combine thread starts. */
	if (!loaded) {
		/* Refused only for a wrong text above: a build defect a unit test catches. */
		if (fm_manifest_parse(&manifest, manifest_yaml, sizeof(manifest_yaml) - 1,
				      "(built-in combine)", ".", &broken) < 0)
			loaded = -1;
		else
			loaded = 1;
		manifest.serve = FM_COMBINE_HELPER;
	}
	if (loaded < 0) {
		fm_error(err, broken.code, "%s", broken.message);
		return NULL;
	}
	return &manifest;
}

json_object *fm_combine_tool(void)
{
	const struct fm_manifest *m = fm_combine_manifest(NULL);

	return m ? json_object_get(fm_manifest_tool(m, "combine")) : NULL;
}

static int one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(v, *set))
			return 1;
	return 0;
}

static int check_scene(json_object *e, size_t i, json_object *seen, const char *task_id,
		       struct fm_error *err)
{
	static const char *const transitions[] = {"cut", "fade", "crossfade", NULL};
	static const char *const texts[] = {"title", "text", "transition", NULL};
	const char *id = fm_json_get_string(e, "id"), *const * k;
	json_object *d;
	double secs;

	if (!json_object_is_type(e, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': scenes[%zu]: must be an object (rule: type)", task_id,
				i);
	if (!id || !fm_id_valid(id) || json_object_object_get_ex(seen, id, NULL))
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': scenes[%zu]: id must be a unique task id (rule: id)",
				task_id, i);
	json_object_object_add(seen, id, NULL);
	if (!json_object_object_get_ex(e, "duration", &d) ||
	    !(json_object_is_type(d, json_type_int) || json_object_is_type(d, json_type_double)))
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': scene '%s': duration must be a number (rule: type)",
				task_id, id);
	secs = json_object_get_double(d);
	if (!(secs > 0 && secs <= FM_COMBINE_SCENE_MAX_SECS))
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': scene '%s': duration %g is outside 0..%d (rule: range)",
				task_id, id, secs, FM_COMBINE_SCENE_MAX_SECS);
	for (k = texts; *k; k++)
		if (json_object_object_get_ex(e, *k, &d) &&
		    !json_object_is_type(d, json_type_string))
			return fm_error(err, FM_VALIDATION_ERROR,
					"task '%s': scene '%s': %s must be text (rule: type)",
					task_id, id, *k);
	if (fm_json_get_string(e, "transition") &&
	    !one_of(fm_json_get_string(e, "transition"), transitions))
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': scene '%s': transition '%s' is not one of cut, fade, "
				"crossfade (rule: enum)",
				task_id, id, fm_json_get_string(e, "transition"));
	return 0;
}

int fm_combine_check(json_object *params, const char *task_id, struct fm_error *err)
{
	json_object *scenes = fm_json_get(params, "scenes", json_type_array), *seen;
	size_t i, n = scenes ? json_object_array_length(scenes) : 0;
	int rc = 0;

	if (!n || n > FM_COMBINE_SCENES_MAX)
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': scenes: needs 1 to %d scenes, not %zu (rule: range)",
				task_id, FM_COMBINE_SCENES_MAX, n);
	seen = json_object_new_object();
	for (i = 0; i < n && rc == 0; i++)
		rc = check_scene(json_object_array_get_idx(scenes, i), i, seen, task_id, err);
	json_object_put(seen);
	return rc;
}
