/*
 * filmeto-serve's films route and page, apart from libevent: the body of
 * POST /api/v1/films (a storyboard, as filmeto-submit --storyboard reads
 * one) expanded into its tasks, and where the page's files are.
 */
#ifndef FM_SERVE_WEB_H
#define FM_SERVE_WEB_H

#include <stddef.h>

#include <json-c/json.h>

#include "error.h"
#include "storyboard.h"

/* The name a storyboard sent over HTTP has in messages: "storyboard:3: scene 1: ...". */
#define FM_SERVE_FILM_NAME "storyboard"
/* The largest file of the page served; a larger one is not the page's. */
#define FM_SERVE_ASSET_MAX (1024 * 1024)

/*
 * Expands a storyboard sent as a request body (YAML or JSON) into tasks,
 * with o's plugins and config; it has no folder, so only absolute media
 * paths are taken (none with o->no_files), and no file name, so its task
 * ids start with the storyboard's id, else o->id, else a new "film-XXXXXXXX". 400 when the body is
 * empty or neither YAML nor JSON (err says where), 413 when it is larger than FM_STORYBOARD_MAX,
 * 422 when the storyboard has problems (every one in problems, as fm_storyboard_expand gives them;
 * the tasks made so far stay in tasks, so the plan's checks can add theirs), else 0.
 */
int fm_serve_film_body(const char *buf, size_t len, const struct fm_storyboard_opts *o,
		       json_object *tasks, json_object *problems, struct fm_error *err);

/* The film among a storyboard's tasks: the last combine task, or NULL. */
const char *fm_serve_film_task(json_object *tasks);

/*
 * The folder of the page's files, share/filmeto/web: beside the binary
 * (a build tree's cmd/ or an installed PREFIX/bin), else under the
 * PREFIX built in; the first that holds index.html. NULL when none does.
 */
char *fm_serve_web_dir(void);

#endif
