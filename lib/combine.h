/*
 * The built-in combine tool (DESIGN §7): scene clips, narration and a
 * music bed into one film with chapters, subtitles, thumbnails, a contact
 * sheet and a JSON sidecar. filmeto-run serves it in a child of its own
 * (lib/host.h); its manifest is built in, so it is found without any
 * plugin directory.
 */
#ifndef FM_COMBINE_H
#define FM_COMBINE_H

#include <json-c/json.h>

#include "manifest.h"

#define FM_COMBINE_SCENES_MAX	  1000
#define FM_COMBINE_SCENE_MAX_SECS 86400

#include "error.h"

/*
 * Checks the scenes parameter: 1 to FM_COMBINE_SCENES_MAX objects with a
 * unique id, a positive duration, text fields and a known transition.
 */
int fm_combine_check(json_object *params, const char *task_id, struct fm_error *err);

/*
 * The built-in manifest (lib/combine_tool.c, which needs no libav*); the
 * first call must come before any thread. NULL, with err, only when its
 * text does not parse (a build defect). Its serve is set only by
 * fm_combine_runnable: what checks plans does not run the tool, and so
 * does not load the media libraries.
 */
const struct fm_manifest *fm_combine_manifest(struct fm_error *err);
/* The manifest with the tool to serve: for filmeto-run, which runs it. */
const struct fm_manifest *fm_combine_runnable(struct fm_error *err);
void fm_combine_set_serve(void (*serve)(int in, int out, int err));
/*
 * The combine tool's definition (a new reference: read it, do not change
 * it); NULL when fm_combine_manifest is.
 */
json_object *fm_combine_tool(void);

#endif
