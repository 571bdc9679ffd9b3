/*
 * Plugin manifests (DESIGN §4): plugin.yaml or plugin.yml, read with
 * libyaml into json-c, normalized so that `tools:`, `tool_type:` and
 * `abilities:` all become one list of tools with parameters. Also the
 * parameter typing and validation every command shares.
 */
#ifndef FM_MANIFEST_H
#define FM_MANIFEST_H

#include <stddef.h>
#include <json-c/json.h>

#include "error.h"

/* Defaults when a manifest does not say. */
#define FM_STARTUP_TIMEOUT 60.0
#define FM_EXEC_TIMEOUT	   300.0

struct fm_manifest {
	char *path; /* the manifest file */
	char *dir;  /* the plugin directory: the command runs here */
	json_object *root;
	const char *name, *version, *description, *runtime;
	char **argv;	    /* command, NULL-terminated */
	json_object *tools; /* [{name, description, parameters:[…], resources:{…}}] */
	json_object *env;   /* array of variable names */
	int concurrency;
	int remote; /* talks to a service: never chosen for a tool unasked */
	double startup_timeout, exec_timeout;
	int max_retries;
	/* requirements: python (a version constraint) and packages (strings), borrowed; or NULL */
	const char *req_python;
	json_object *req_packages;
	/*
	 * A tool built into filmeto-run: the helper executable that serves it
	 * in a child of its own (builtin.h, host.h); NULL for plugins.
	 */
	const char *serve;
};

/*
 * Plugin names: 1..FM_PLUGIN_NAME_MAX bytes of valid UTF-8 with no control
 * character (C0, DEL, C1) and no '/' ("Local Server" is a name).
 */
#define FM_PLUGIN_NAME_MAX  128
#define FM_PLUGIN_NAME_RULE "1-128 bytes of printable UTF-8 text without '/'"
int fm_plugin_name_valid(const char *name);
/*
 * The folder a plugin of that name lives in, to dst (at least
 * FM_PLUGIN_NAME_MAX + 1 bytes): each byte outside [A-Za-z0-9._-] and a
 * leading '.' or '-' become '_', cut to FM_PLUGIN_NAME_MAX bytes; always
 * an id (fm_id_valid). "Local Server" lives in Local_Server.
 */
void fm_plugin_folder(char *dst, size_t size, const char *name);

void fm_manifest_init(struct fm_manifest *m);
void fm_manifest_release(struct fm_manifest *m);
/* Loads DIR/plugin.yaml or DIR/plugin.yml; errors name file and line. */
int fm_manifest_load(struct fm_manifest *m, const char *dir, struct fm_error *err);
/* A manifest from YAML text (name for messages, dir where it runs). */
int fm_manifest_parse(struct fm_manifest *m, const char *buf, size_t len, const char *name,
		      const char *dir, struct fm_error *err);
/* The tool definition m serves under that name, or NULL. */
json_object *fm_manifest_tool(const struct fm_manifest *m, const char *tool);
/* The normalized manifest, for `filmeto-plugin info --json`. */
json_object *fm_manifest_to_json(const struct fm_manifest *m);

/* The parameter definition named name in a tool, or NULL. */
json_object *fm_tool_param(json_object *tool, const char *name);
/*
 * Types a command-line value by its definition: integer, number, boolean,
 * string, or JSON for array and object. Errors name the parameter.
 */
int fm_param_from_string(json_object *pdef, const char *text, json_object **out,
			 struct fm_error *err);
/*
 * Checks params against a tool: unknown names, required, type, min, max,
 * enum. Every broken rule is reported at once: err->message summarizes,
 * err->details.errors lists {task_id, parameter, rule, message}.
 */
int fm_params_validate(json_object *tool, json_object *params, const char *task_id,
		       struct fm_error *err);
/*
 * fm_params_validate for a task with these resources: a tool that takes
 * input_image_path (ComfyUI's) has it filled in from the first image of
 * the task's inputs when the task is sent (exec.c), so a task with
 * resources need not give it, even where the tool requires it.
 */
int fm_params_validate_inputs(json_object *tool, json_object *params, json_object *resources,
			      const char *task_id, struct fm_error *err);
/* Adds each missing parameter that has a default. */
void fm_params_fill_defaults(json_object *tool, json_object *params);

#endif
