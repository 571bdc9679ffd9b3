/*
 * Fuzz target: storyboard expansion. Any input must end in tasks or in
 * problems, never in a crash, a leak or a hang; a storyboard without
 * problems must give valid task lines; and one that is JSON must never be
 * refused for an escape JSON allows (libyaml knows no surrogate pairs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fm_plugins plugins;
	static struct fm_config config;
	static int ready;
	struct fm_storyboard_opts o = {&plugins, &config, NULL, 0, NULL, 0, NULL};
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	json_object *sources = json_object_new_array(), *json;
	size_t i;

	if (!ready) {
		/* No plugins and an empty config: expansion alone is under test. */
		setenv("FILMETO_PLUGIN_PATH", "/nonexistent", 1);
		memset(&plugins, 0, sizeof(plugins));
		config.root = json_object_new_object();
		ready = 1;
	}
	if (fm_storyboard_expand((const char *)data, size, "fuzz.yaml", "/nonexistent", &o, tasks,
				 problems, sources) == 0) {
		for (i = 0; i < json_object_array_length(tasks); i++) {
			struct fm_task t;

			if (fm_task_from_json(&t, json_object_array_get_idx(tasks, i), NULL) < 0)
				abort();
			fm_task_release(&t);
		}
	}
	if (fm_json_parse((const char *)data, size, &json, NULL) == 0) {
		for (i = 0; i < json_object_array_length(problems); i++) {
			const char *m =
			    fm_json_get_string(json_object_array_get_idx(problems, i), "message");

			/* libyaml's own complaint, not a field's name quoted in one. */
			if (!strncmp(m, "fuzz.yaml: storyboard: fuzz.yaml:", 33) &&
			    strstr(m, "escape"))
				abort();
		}
		json_object_put(json);
	}
	json_object_put(tasks);
	json_object_put(problems);
	json_object_put(sources);
	return 0;
}
