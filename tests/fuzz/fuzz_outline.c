/*
 * Fuzz target: the outline plugin's script-to-storyboard step, from
 * plugins/outline/outline.c (included whole, without its plugin part, as
 * the fuzz targets link only libfilmeto). Any bytes must end in a
 * storyboard or a VALIDATION_ERROR, never a crash, a leak or a hang; and
 * a storyboard must read back with the scenes it was made of and expand
 * into tasks without a single problem.
 */
#define OUTLINE_NO_PLUGIN
#include "../../plugins/outline/outline.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The storyboard as filmeto-submit reads it. */
static void check(const struct outline *ol, const char *yaml, size_t len)
{
	static struct fm_plugins plugins;
	static struct fm_config config;
	struct fm_storyboard_opts so = {&plugins, &config, NULL, 0, NULL, 0, NULL};
	struct fm_error err = FM_ERROR_INIT;
	json_object *root, *scenes, *tasks, *problems, *sources;
	size_t i;

	if (!config.root) {
		/* No plugins and an empty config: the storyboard alone is under test. */
		setenv("FILMETO_PLUGIN_PATH", "/nonexistent", 1);
		config.root = json_object_new_object();
	}
	if (fm_yaml_parse(yaml, len, "fuzz.yaml", &root, &err) < 0)
		abort();
	scenes = fm_json_get(root, "scenes", json_type_array);
	if (!scenes || json_object_array_length(scenes) != ol->n)
		abort();
	for (i = 0; i < ol->n; i++) {
		json_object *sc = json_object_array_get_idx(scenes, i);
		const char *narration = fm_json_get_string(sc, "narration");

		if (!narration || strcmp(narration, ol->scene[i].narration) ||
		    fm_json_get_double(sc, "duration", -1) != ol->scene[i].duration ||
		    !fm_json_get_string(sc, "prompt") || !fm_json_get_string(sc, "title"))
			abort();
	}
	json_object_put(root);
	tasks = json_object_new_array();
	problems = json_object_new_array();
	sources = json_object_new_array();
	if (fm_storyboard_expand(yaml, len, "storyboard.yaml", "/nonexistent", &so, tasks, problems,
				 sources) < 0 ||
	    json_object_array_length(problems))
		abort();
	json_object_put(tasks);
	json_object_put(problems);
	json_object_put(sources);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const transitions[] = {"cut", "fade", "crossfade"};
	/* the options vary with the input's length, so the corpus covers them */
	struct outline_opts o = {
	    NULL,
	    2.5,
	    2,
	    20,
	    transitions[size % 3],
	    size % 2 ? "1280x720" : NULL,
	    size % 2 ? 25 : 0,
	    size % 5 ? "auto" : "none",
	};
	struct fm_error err = FM_ERROR_INIT;
	struct outline ol;
	char *yaml;
	size_t len;

	if (outline_build((const char *)data, size, &o, &ol, &yaml, &len, &err) == 0) {
		check(&ol, yaml, len);
		free(yaml);
		outline_release(&ol);
	} else if (err.code != FM_VALIDATION_ERROR) {
		abort();
	}
	fm_error_release(&err);
	return 0;
}
