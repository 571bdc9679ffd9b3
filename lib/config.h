/*
 * Settings a user keeps rather than types: config.yaml (DESIGN §5) with
 * the default plugin per tool, film settings and per-plugin settings,
 * and presets, named parameter sets with prompt templates.
 */
#ifndef FM_CONFIG_H
#define FM_CONFIG_H

#include <json-c/json.h>

#include "error.h"

/* Largest preset or config file read. */
#define FM_CONFIG_MAX (256 * 1024)

struct fm_config {
	char *path;	   /* the file read, or NULL when there was none */
	json_object *root; /* an object, empty when there was no file */
};

/*
 * Reads $FILMETO_CONFIG, else $XDG_CONFIG_HOME/filmeto/config.yaml (else
 * ~/.config/...). A missing default file is an empty config; a missing
 * $FILMETO_CONFIG, a YAML error or a wrong type is an error naming the
 * file and line.
 */
/* The config.yaml in use, existing or not (as above); NULL when none. */
char *fm_config_file(void);
int fm_config_load(struct fm_config *c, struct fm_error *err);
void fm_config_release(struct fm_config *c);
/* defaults.TOOL, or NULL. */
const char *fm_config_default_plugin(const struct fm_config *c, const char *tool);
/*
 * plugins.NAME: the settings of one plugin (endpoint, model, key_file,
 * timeout, ...), sent to it with each task; NULL when there are none.
 */
json_object *fm_config_plugin(const struct fm_config *c, const char *name);
/* config.yaml's slurm: section (filmeto-run --executor slurm), or NULL. */
json_object *fm_config_slurm(const struct fm_config *c);
/* film.KEY (width, height, fps), or NULL. */
json_object *fm_config_film(const struct fm_config *c, const char *key);

/*
 * Presets: NAME.yaml in $XDG_CONFIG_HOME/filmeto/presets, then in the
 * shared presets (build tree or installed share/filmeto/presets); the
 * user's shadow the shared. A preset has description, tool (optional:
 * the tool it is for), parameters (a mapping) and templates (a mapping
 * parameter -> text with {variables}).
 */
int fm_preset_load(const char *name, json_object **preset, struct fm_error *err);
/* Every preset, first of each name: [{name, description, tool, path}]. */
json_object *fm_preset_list(void);
/*
 * Applies a preset to params: its parameters where params has none (an
 * explicit value wins), then each template with {name} replaced by the
 * parameter of that name as given (so "{prompt}, film noir" wraps the
 * user's prompt). An unknown {variable} is an error naming it.
 */
int fm_preset_apply(json_object *preset, json_object *params, struct fm_error *err);

#endif
