/*
 * Fuzz target: filmeto-serve's page and films route (lib/serve_web.c and
 * the page's routes in lib/serve_route.c). The first byte picks whether
 * the client may name files; the input up to its first newline is a
 * path, the rest a POST /api/v1/films body. Whatever the bytes: no crash,
 * hang or leak; a file of the page routed is one plain name of a type it
 * serves ('/', a leading '.' and ".." are in none); a body is 0 with a
 * film task and valid tasks, or 400/413 with a message, or 422 with
 * problems; a client that may name no file never has one looked at or
 * queued.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "serve_route.h"
#include "serve_web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void page_route(const char *path)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_route_match m;

	if (fm_serve_route(FM_METHOD_GET, path, &m, &err) == 0 && m.route == FM_ROUTE_PAGE &&
	    (!m.asset[0] || m.asset[0] == '.' || strchr(m.asset, '/') || strstr(m.asset, "..") ||
	     !fm_serve_asset_type(m.asset)))
		abort();
	fm_error_release(&err);
}

/* Whether a problem says a media field's file was looked for: its field, its rule. */
static int looked_at(json_object *p)
{
	static const char *const fields[] = {"image", "video", "audio", "music", NULL};
	const char *field = fm_json_get_string(p, "field"), *m = fm_json_get_string(p, "message");
	size_t i, n = m ? strlen(m) : 0;

	for (i = 0; field && fields[i]; i++)
		if (!strcmp(field, fields[i]) && n >= 14 && !strcmp(m + n - 14, "(rule: exists)"))
			return 1;
	return 0;
}

static void no_file(json_object *tasks, json_object *problems)
{
	size_t i;

	for (i = 0; i < json_object_array_length(problems); i++)
		if (looked_at(json_object_array_get_idx(problems, i)))
			abort();
	for (i = 0; i < json_object_array_length(tasks); i++)
		if (strstr(json_object_to_json_string(json_object_array_get_idx(tasks, i)),
			   "\"local_path\""))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fm_plugins plugins;
	static struct fm_config config;
	struct fm_storyboard_opts o = {.plugins = &plugins, .config = &config};
	struct fm_error err = FM_ERROR_INIT;
	const char *in = (const char *)data, *nl;
	json_object *tasks, *problems;
	size_t i, n;
	char *path;
	int code;

	if (size < 1)
		return 0;
	if (!config.root) {
		/* No plugins and an empty config: the route and the body alone are under test. */
		setenv("FILMETO_PLUGIN_PATH", "/nonexistent", 1);
		config.root = json_object_new_object();
	}
	o.no_files = data[0] & 1;
	in++;
	size--;
	nl = memchr(in, '\n', size);
	n = nl ? (size_t)(nl - in) : size;
	path = fm_xstrndup(in, n);
	page_route(path);
	free(path);
	in += n + (nl != NULL);
	size -= n + (nl != NULL);
	tasks = json_object_new_array();
	problems = json_object_new_array();
	code = fm_serve_film_body(in, size, &o, tasks, problems, &err);
	if (code == 0) {
		if (!fm_serve_film_task(tasks))
			abort();
		for (i = 0; i < json_object_array_length(tasks); i++) {
			struct fm_task t;

			if (fm_task_from_json(&t, json_object_array_get_idx(tasks, i), NULL) < 0)
				abort();
			fm_task_release(&t);
		}
	} else if (code == 422) {
		if (!json_object_array_length(problems))
			abort();
	} else if ((code != 400 && code != 413) || !err.message[0]) {
		abort();
	}
	if (o.no_files)
		no_file(tasks, problems);
	json_object_put(tasks);
	json_object_put(problems);
	fm_error_release(&err);
	return 0;
}
