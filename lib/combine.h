/*
 * The built-in combine tool (DESIGN §7): scene clips, narration and a
 * music bed into one film with chapters, subtitles, thumbnails, a contact
 * sheet and a JSON sidecar. filmeto-run runs it in a child of its own,
 * the helper filmeto-combine (lib/builtin.h, lib/host.h), the one
 * program that links the media libraries for it; its manifest is built
 * in, so it is found without any plugin directory.
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

/* The executable that serves the tool (its manifest's serve). */
#define FM_COMBINE_HELPER "filmeto-combine"

/*
 * The built-in manifest (lib/combine_tool.c, which needs no libav*), its
 * serve FM_COMBINE_HELPER; the first call must come before any thread.
 * NULL, with err, only when its text does not parse (a build defect).
 */
const struct fm_manifest *fm_combine_manifest(struct fm_error *err);
/*
 * The tool served on the descriptors, until in ends: filmeto-combine's
 * work (lib/combine.c), the one part that needs libav*.
 */
void fm_combine_serve(int in, int out, int err);
/*
 * The combine tool's definition (a new reference: read it, do not change
 * it); NULL when fm_combine_manifest is.
 */
json_object *fm_combine_tool(void);

#endif
