/*
 * JSON templates for the remote plugins: a request body, a Gradio data
 * array or a ComfyUI workflow written by a user with "{{name}}"
 * placeholders, filled from a task's parameters and input files; and the
 * dotted paths ("data.0.url") that pick a value out of a service's reply.
 */
#ifndef FM_TEMPLATE_H
#define FM_TEMPLATE_H

#include <json-c/json.h>

#include "error.h"

/* Longest placeholder name or path segment, in bytes. */
#define FM_TEMPLATE_NAME_MAX 128
/* Largest filled template, counted as its compact JSON text. */
#define FM_TEMPLATE_OUT_MAX (256 * 1024 * 1024)
/* Longest path named in an error message. */
#define FM_TEMPLATE_PATH_MAX 512

/*
 * Copies tmpl into *out with every string that is exactly "{{name}}"
 * replaced by vars' value of name (its JSON value, type kept), and
 * "{{name}}" inside a longer string replaced by the value's text (a
 * string as it is, null as nothing, anything else as compact JSON).
 * Objects and arrays are walked recursively; keys are copied as they are.
 * A name is [A-Za-z_][A-Za-z0-9_.-]* with optional spaces inside the
 * braces; a dotted name not found as a key of vars is looked up as a
 * path (fm_json_path). Text between braces that is not a name is copied
 * as it is. An unknown name is a VALIDATION_ERROR naming it and the path
 * where it was (details: placeholder, path). The result is at most
 * FM_JSON_DEPTH deep and FM_TEMPLATE_OUT_MAX long. vars may be NULL.
 */
int fm_template_fill(json_object *tmpl, json_object *vars, json_object **out, struct fm_error *err);

/*
 * The value at a dotted path ("data.0.url", "outputs.9.images.0.filename":
 * object keys and array indexes), or NULL. An empty path is root itself;
 * an empty segment, or an index that is not plain decimal digits, finds
 * nothing. The value belongs to root.
 */
json_object *fm_json_path(json_object *root, const char *path);
/*
 * The values a task's template can name: a copy of params, then each
 * key of layers[0..n) that nothing before named (a NULL layer is
 * skipped), then "prompt" and "text" standing for each other, since a
 * speech service's template may say prompt where a storyboard says text.
 */
json_object *fm_template_vars(json_object *params, json_object *const *layers, size_t n);

#endif
