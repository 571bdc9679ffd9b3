/*
 * POST /api/v1/films and the page's folder. A storyboard is parsed once
 * here only to tell a body that is no YAML or JSON (400, the client sent
 * the wrong thing) from a storyboard with problems (422, the client can
 * fix fields); fm_storyboard_expand then reads it as filmeto-submit does.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "serve_web.h"
#include "util.h"
#include "yaml.h"

#ifndef FM_PREFIX
#define FM_PREFIX "/usr/local"
#endif

/* 0 when buf is YAML or JSON (JSON first: libyaml knows no surrogate pairs). */
static int readable(const char *buf, size_t len, struct fm_error *err)
{
	json_object *o;

	if (fm_json_parse(buf, len, &o, NULL) == 0) {
		json_object_put(o);
		return 0;
	}
	if (fm_yaml_parse(buf, len, FM_SERVE_FILM_NAME, &o, err) < 0)
		return -1;
	json_object_put(o);
	return 0;
}

int fm_serve_film_body(const char *buf, size_t len, const struct fm_storyboard_opts *o,
		       json_object *tasks, json_object *problems, struct fm_error *err)
{
	struct fm_storyboard_opts so = *o;
	json_object *sources;
	char *id = NULL;
	size_t i;
	int rc;

	if (len > FM_STORYBOARD_MAX)
		return fm_error(err, FM_VALIDATION_ERROR,
				"the storyboard is %zu bytes, larger than the limit of %d bytes",
				len, FM_STORYBOARD_MAX),
		       413;
	for (i = 0; i < len && strchr(" \t\r\n", buf[i]) && buf[i]; i++)
		;
	if (i == len)
		return fm_error(err, FM_VALIDATION_ERROR,
				"the body is empty: send a storyboard, YAML or JSON"),
		       400;
	if (readable(buf, len, err) < 0)
		return 400;
	/* Where each film-wide value came from is filmeto-submit --dry-run's to say. */
	sources = json_object_new_array();
	/* A body has no file name to make ids of: two films must not share them. */
	if (!so.id)
		so.id = id = fm_id_new("film");
	rc =
	    fm_storyboard_expand(buf, len, FM_SERVE_FILM_NAME, NULL, &so, tasks, problems, sources);
	json_object_put(sources);
	free(id);
	return rc < 0 ? 422 : 0;
}

const char *fm_serve_film_task(json_object *tasks)
{
	const char *film = NULL, *tool;
	size_t i;

	for (i = 0; i < json_object_array_length(tasks); i++) {
		json_object *t = json_object_array_get_idx(tasks, i);

		tool = fm_json_get_string(t, "tool_name");
		if (tool && !strcmp(tool, "combine"))
			film = fm_json_get_string(t, "task_id");
	}
	return film;
}

char *fm_serve_web_dir(void)
{
	char *exe = fm_exe_dir(), *cand[2], *found = NULL;
	size_t i;

	cand[0] = exe ? fm_xasprintf("%s/../share/filmeto/web", exe) : NULL;
	cand[1] = fm_xstrdup(FM_PREFIX "/share/filmeto/web");
	for (i = 0; i < 2; i++) {
		char *index = cand[i] ? fm_xasprintf("%s/index.html", cand[i]) : NULL;

		if (!found && index && access(index, R_OK) == 0)
			found = fm_xstrdup(cand[i]);
		free(index);
		free(cand[i]);
	}
	free(exe);
	return found;
}
