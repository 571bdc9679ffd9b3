/*
 * filmeto-plugin new and test: a new plugin that works as generated, and
 * a self-test that starts a plugin and checks the protocol against it.
 */
#ifndef FM_PLUGIN_SCAFFOLD_H
#define FM_PLUGIN_SCAFFOLD_H

#include "error.h"
#include "manifest.h"

/*
 * Creates PARENT/NAME with a working plugin in lang ("c", "python" or
 * "sh") that passes fm_plugin_selftest() as generated: plugin.yaml with
 * one text2text tool and an example, the code, and for C a Makefile that
 * builds it against libfilmeto. Sets *dir (malloc'd) to the new
 * directory. Refuses an existing directory or an invalid name.
 */
int fm_plugin_scaffold(const char *name, const char *lang, const char *parent, char **dir,
		       struct fm_error *err);

/* One finished check: its name, whether it passed, and what was seen. */
typedef void fm_check_fn(void *ctx, const char *check, int ok, const char *detail);

/*
 * Starts the plugin of m (in a scratch output directory), checks that it
 * says ready within its startup timeout, answers get_info and ping, then
 * runs every example of every tool (the manifest's tools[].examples:
 * [{parameters: {...}, expect: {status: success}}]) and checks each
 * result; stops the plugin. Reports every check through report and
 * returns how many failed (0: all passed), or -1 with err when the test
 * could not be run at all.
 */
int fm_plugin_selftest(const struct fm_manifest *m, fm_check_fn *report, void *ctx,
		       struct fm_error *err);

#endif
