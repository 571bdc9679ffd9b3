/*
 * filmeto-serve's films route and page (lib/serve_web.c, the page's
 * routes in lib/serve_route.c): which paths name a file of the page, and
 * how a storyboard body is told bad YAML (400) from a storyboard with
 * problems (422), with the problems' scene and field.
 */
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "serve_route.h"
#include "serve_web.h"
#include "tap.h"

static int route(enum fm_method m, const char *path, struct fm_route_match *rm)
{
	struct fm_error err = FM_ERROR_INIT;
	int code = fm_serve_route(m, path, rm, &err);

	fm_error_release(&err);
	return code;
}

static void test_page_routes(void)
{
	struct fm_route_match m;

	IS_INT(route(FM_METHOD_GET, "/", &m), 0, "page: GET /");
	OK(m.route == FM_ROUTE_PAGE && !strcmp(m.asset, "index.html"), "page: / is index.html");
	IS_INT(route(FM_METHOD_POST, "/", &m), 405, "page: POST / is 405");
	IS_INT(route(FM_METHOD_GET, "/web/app.js", &m), 0, "page: an asset");
	IS_STR(m.asset, "app.js", "page: its name");
	IS_INT(route(FM_METHOD_GET, "/web/st%79le.css", &m), 0, "page: an encoded name");
	IS_STR(m.asset, "style.css", "page: decoded");
	IS_INT(route(FM_METHOD_GET, "/web/..", &m), 400, "page: .. is refused");
	IS_INT(route(FM_METHOD_GET, "/web/%2e%2e", &m), 400, "page: %%2e%%2e is refused");
	IS_INT(route(FM_METHOD_GET, "/web/%2e%2e%2fREADME.md", &m), 400, "page: an encoded / too");
	IS_INT(route(FM_METHOD_GET, "/web/.hidden.js", &m), 400, "page: a hidden name");
	IS_INT(route(FM_METHOD_GET, "/web/a..js", &m), 400, "page: .. inside a name");
	IS_INT(route(FM_METHOD_GET, "/web/../README.md", &m), 404, "page: no subfolders");
	IS_INT(route(FM_METHOD_GET, "/web/", &m), 400, "page: no listing");
	IS_INT(route(FM_METHOD_GET, "/web/Makefile", &m), 404, "page: a type it does not serve");
	IS_STR(m.asset, "", "page: no name kept when refused");
	IS_INT(route(FM_METHOD_POST, "/api/v1/films", &m), 0, "films: POST");
	IS_INT(m.route, FM_ROUTE_FILMS, "films: the route");
	IS_INT(route(FM_METHOD_GET, "/api/v1/films", &m), 405, "films: GET is 405");
	IS_STR(m.allow_text, "POST", "films: allow POST");
	IS_STR(fm_serve_asset_type("index.html"), "text/html; charset=utf-8", "type: html");
	IS_STR(fm_serve_asset_type("app.js"), "text/javascript; charset=utf-8", "type: js");
	OK(fm_serve_asset_type("x.sh") == NULL, "type: none for a script of the shell");
}

static int film(const char *text, int no_files, json_object **tasks, json_object **problems)
{
	static struct fm_plugins plugins;
	static struct fm_config config;
	struct fm_storyboard_opts o = {.plugins = &plugins, .config = &config};
	struct fm_error err = FM_ERROR_INIT;
	int code;

	if (!config.root)
		config.root = json_object_new_object();
	o.no_files = no_files;
	*tasks = json_object_new_array();
	*problems = json_object_new_array();
	code = fm_serve_film_body(text, strlen(text), &o, *tasks, *problems, &err);
	fm_error_release(&err);
	return code;
}

static void test_film_body(void)
{
	json_object *tasks, *problems, *p;
	const char *id;

	IS_INT(film("scenes: [", 0, &tasks, &problems), 400, "film: bad YAML is 400");
	json_object_put(tasks);
	json_object_put(problems);
	IS_INT(film(" \n", 0, &tasks, &problems), 400, "film: an empty body is 400");
	json_object_put(tasks);
	json_object_put(problems);
	IS_INT(film("{\"scenes\":[{\"prompt\":\"\\ud83c\\udfac\"}]}", 0, &tasks, &problems), 0,
	       "film: JSON with a surrogate pair is taken");
	id = fm_serve_film_task(tasks);
	OK(id && !strncmp(id, "film-", 5) && strstr(id, "-film"), "film: a fresh id, %s",
	   id ? id : "none");
	json_object_put(tasks);
	json_object_put(problems);
	IS_INT(film("id: mine\nscenes:\n  - prompt: a\n", 0, &tasks, &problems), 0,
	       "film: the storyboard's id");
	IS_STR(fm_serve_film_task(tasks), "mine-film", "film: names the film task");
	json_object_put(tasks);
	json_object_put(problems);
	IS_INT(film("scenes:\n  - prompt: a\n  - transition: wipe\n", 0, &tasks, &problems), 422,
	       "film: problems are 422");
	p = json_object_array_get_idx(problems, 0);
	IS_INT((int)fm_json_get_double(p, "scene", 0), 2, "film: the problem's scene");
	IS_STR(fm_json_get_string(p, "field"), "transition", "film: its field");
	IS_INT((int)fm_json_get_double(p, "line", 0), 3, "film: its line");
	HAS(fm_json_get_string(p, "message"), "storyboard:3: scene 2: transition",
	    "film: the message names the body");
	json_object_put(tasks);
	json_object_put(problems);
	IS_INT(film("scenes:\n  - image: /etc/hostname\n", 1, &tasks, &problems), 422,
	       "film: no file is taken from a client");
	HAS(fm_json_get_string(json_object_array_get_idx(problems, 0), "message"), "not taken here",
	    "film: said without looking");
	json_object_put(tasks);
	json_object_put(problems);
	IS_INT(film("scenes:\n  - image: relative.png\n", 0, &tasks, &problems), 422,
	       "film: a relative path has no folder");
	HAS(fm_json_get_string(json_object_array_get_idx(problems, 0), "message"), "is relative",
	    "film: said so");
	json_object_put(tasks);
	json_object_put(problems);
}

void test_serve_web(void)
{
	test_page_routes();
	test_film_body();
}
