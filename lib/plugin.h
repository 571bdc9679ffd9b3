/*
 * Finding plugins along the search path of DESIGN §5:
 * $FILMETO_PLUGIN_PATH, $XDG_DATA_HOME/filmeto/plugins, the build tree's
 * plugins/ when running from it, then $(PREFIX)/lib/filmeto/plugins.
 * Only manifests are read here; no plugin code runs.
 */
#ifndef FM_PLUGIN_H
#define FM_PLUGIN_H

#include <stddef.h>

#include "error.h"
#include "manifest.h"

struct fm_plugin_entry {
	char *dir; /* the plugin directory */
	int ok;	   /* manifest loaded */
	struct fm_manifest manifest;
	struct fm_error error; /* why not, when !ok */
	int shadowed;	       /* a plugin of that name came earlier */
	int bundled;	       /* shipped with filmeto (build tree or installed) */
};

struct fm_plugins {
	char **path;  /* the search directories, in order */
	int *bundled; /* path[i] holds the plugins shipped with filmeto */
	size_t npath;
	struct fm_plugin_entry *v;
	size_t n;
};

/* Scans every search directory; broken manifests are kept with errors. */
int fm_plugins_scan(struct fm_plugins *p, struct fm_error *err);
void fm_plugins_release(struct fm_plugins *p);
/*
 * What a scan saw, cheaply: the times, sizes and inodes of the search
 * directories, of each plugin's manifest and of extra (a config.yaml, or
 * NULL), mixed into one number. A plugin added, removed or edited, or
 * the file changed, changes it; a long-lived reader scans again only then.
 */
unsigned long long fm_plugins_stamp(const struct fm_plugins *p, const char *extra);
/*
 * The plugin to run tool with: the one named name (which must serve
 * tool; callers pass config.yaml's defaults: choice when nothing is
 * named), else the first bundled plugin serving tool that is not remote,
 * else the only plugin that is not remote serving it. PLUGIN_NOT_FOUND
 * otherwise, with a message naming what is there; several candidates
 * and no choice name them and the config.yaml line that chooses.
 */
/*
 * filmeto-plugin tools --json: each tool, sorted by name, mapped to the
 * names of the plugins serving it in search order (the first is the
 * default unless config.yaml chooses). Broken and shadowed plugins serve
 * nothing.
 */
json_object *fm_plugins_tools(const struct fm_plugins *p);
/* filmeto-plugin list --json: the manifest of each usable plugin, in search order. */
json_object *fm_plugins_manifests(const struct fm_plugins *p);
const struct fm_manifest *fm_plugins_find(const struct fm_plugins *p, const char *name,
					  const char *tool, struct fm_error *err);
/* The entry whose manifest name or directory name is name, or NULL. */
const struct fm_plugin_entry *fm_plugins_lookup(const struct fm_plugins *p, const char *name);
/*
 * "Did you mean": the plugin name (tools 0) or tool name (tools 1) on the
 * path that word is likely a slip for (fm_suggest), or NULL.
 */
const char *fm_plugins_near(const struct fm_plugins *p, const char *word, int tools);

#endif
