/*
 * Storyboards (DESIGN §7, filmeto-storyboard(5)): scenes with prompt,
 * narration, duration and transition, film-wide size, fps, music and
 * plugins, expanded into the task DAG filmeto-run executes.
 */
#ifndef FM_STORYBOARD_H
#define FM_STORYBOARD_H

#include <json-c/json.h>

#include "combine.h"
#include "config.h"
#include "plugin.h"

/*
 * Largest storyboard read, and most scenes in one: as many as the combine
 * task takes, so a storyboard is refused before its tasks are made.
 */
#define FM_STORYBOARD_MAX (1024 * 1024)
#define FM_SCENES_MAX	  FM_COMBINE_SCENES_MAX

struct fm_storyboard_opts {
	const struct fm_plugins *plugins;
	const struct fm_config *config;
	const char *size;    /* --size WxH, or NULL */
	double fps;	     /* --fps, or 0 */
	json_object *params; /* -p values: beat everything, for every task taking them */
	int no_files;	     /* media paths are refused unlooked at (a client of a server) */
	const char *id;	     /* the film's id when the storyboard has none, or NULL: name's */
};

/*
 * Expands the storyboard in buf (YAML or JSON; name for messages, dir to
 * resolve relative media paths, NULL when there is none and only absolute
 * ones are taken) into task objects appended to tasks. Every problem is
 * appended to problems ({message}, naming the scene, the field and the
 * rule; with "scene", its number from 1, "field" and "line" when known,
 * for programs that show them beside the storyboard); sources gets {setting, value, from}
 * for each film-wide value, from "option", "storyboard", "config" or
 * "default". Returns 0, or -1 when there were problems.
 */
int fm_storyboard_expand(const char *buf, size_t len, const char *name, const char *dir,
			 const struct fm_storyboard_opts *o, json_object *tasks,
			 json_object *problems, json_object *sources);

#endif
