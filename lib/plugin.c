/*
 * Plugin discovery. Each search directory holds one directory per plugin;
 * the first plugin of a name along the path wins, like PATH. Manifests
 * that fail to load are kept with their error, so `filmeto-plugin` can
 * say what is wrong with them instead of pretending they are absent.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fs.h"
#include "plugin.h"
#include "util.h"

#ifndef FM_PREFIX
#define FM_PREFIX "/usr/local"
#endif

/* A directory of bundled plugins is bundled wherever it comes in the path. */
static void add_dir(struct fm_plugins *p, char *dir, int bundled)
{
	size_t i;

	for (i = 0; i < p->npath; i++) {
		if (!strcmp(p->path[i], dir)) {
			p->bundled[i] |= bundled;
			free(dir);
			return;
		}
	}
	p->path = fm_xrealloc(p->path, (p->npath + 1) * sizeof(char *));
	p->bundled = fm_xrealloc(p->bundled, (p->npath + 1) * sizeof(int));
	p->bundled[p->npath] = bundled;
	p->path[p->npath++] = dir;
}

/* The build tree's plugins/, when running from one. */
static char *build_tree_plugins(void)
{
	char *root = fm_build_root(), *dir;

	if (!root)
		return NULL;
	dir = fm_xasprintf("%s/plugins", root);
	free(root);
	return dir;
}

/* PREFIX/lib/filmeto/plugins beside PREFIX/bin, when it exists. */
static char *installed_plugins(void)
{
	char *exe = fm_exe_dir(), *rel, *dir;

	if (!exe)
		return NULL;
	rel = fm_xasprintf("%s/../lib/filmeto/plugins", exe);
	dir = realpath(rel, NULL);
	free(rel);
	free(exe);
	return dir;
}

static void build_path(struct fm_plugins *p)
{
	const char *env = getenv("FILMETO_PLUGIN_PATH");
	char *copy, *save = NULL, *d, *build, *data;

	if (env && *env) {
		copy = fm_xstrdup(env);
		for (d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			add_dir(p, fm_abspath(d), 0);
		free(copy);
	}
	if ((data = fm_xdg_dir("XDG_DATA_HOME", ".local/share"))) {
		add_dir(p, fm_xasprintf("%s/plugins", data), 0);
		free(data);
	}
	if ((build = build_tree_plugins()))
		add_dir(p, build, 1);
	/*
	 * An installed tree, where it was installed or moved, finds its own
	 * plugins beside its bin/; the prefix it was built for is searched
	 * only when there are none there (a build tree's commands).
	 */
	if ((build = installed_plugins()))
		add_dir(p, build, 1);
	else
		add_dir(p, fm_xstrdup(FM_PREFIX "/lib/filmeto/plugins"), 1);
}

static int has_manifest(const char *dir)
{
	char *a = fm_xasprintf("%s/plugin.yaml", dir), *b = fm_xasprintf("%s/plugin.yml", dir);
	int ok = access(a, F_OK) == 0 || access(b, F_OK) == 0;

	free(a);
	free(b);
	return ok;
}

static int seen(const struct fm_plugins *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ok && !strcmp(p->v[i].manifest.name, name))
			return 1;
	return 0;
}

/*
 * Two plugins of different names that would live in the same folder
 * (fm_plugin_folder): the later one along the path is broken, and its
 * error names both, so no name reaches a folder two plugins share.
 */
static void check_folder(struct fm_plugins *p, struct fm_plugin_entry *e)
{
	char a[FM_PLUGIN_NAME_MAX + 1], b[FM_PLUGIN_NAME_MAX + 1];
	size_t i;

	fm_plugin_folder(a, sizeof(a), e->manifest.name);
	for (i = 0; i < p->n; i++) {
		const struct fm_plugin_entry *o = &p->v[i];

		if (!o->ok || !strcmp(o->manifest.name, e->manifest.name))
			continue;
		fm_plugin_folder(b, sizeof(b), o->manifest.name);
		if (strcmp(a, b))
			continue;
		fm_error(&e->error, FM_VALIDATION_ERROR,
			 "%s: name: plugin '%s' and plugin '%s' (%s) both map to the folder "
			 "name '%s'; rename one",
			 e->manifest.path, e->manifest.name, o->manifest.name, o->dir, a);
		fm_manifest_release(&e->manifest);
		e->ok = 0;
		return;
	}
}

static void scan_dir(struct fm_plugins *p, const char *dir, int bundled)
{
	struct dirent **names;
	int i, n = scandir(dir, &names, NULL, alphasort);

	for (i = 0; i < n; i++) {
		char *sub = fm_xasprintf("%s/%s", dir, names[i]->d_name);
		struct fm_plugin_entry *e;
		struct stat st;

		if (names[i]->d_name[0] == '.' || stat(sub, &st) || !S_ISDIR(st.st_mode) ||
		    !has_manifest(sub)) {
			free(sub);
			free(names[i]);
			continue;
		}
		p->v = fm_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
		e = &p->v[p->n];
		memset(e, 0, sizeof(*e));
		e->dir = sub;
		e->ok = fm_manifest_load(&e->manifest, sub, &e->error) == 0;
		e->bundled = bundled;
		e->shadowed = e->ok && seen(p, e->manifest.name);
		if (e->ok && !e->shadowed)
			check_folder(p, e);
		p->n++;
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

int fm_plugins_scan(struct fm_plugins *p, struct fm_error *err)
{
	size_t i;

	(void)err;
	memset(p, 0, sizeof(*p));
	build_path(p);
	for (i = 0; i < p->npath; i++)
		scan_dir(p, p->path[i], p->bundled[i]);
	return 0;
}

/* path's times, size and inode mixed into h (FNV-1a); a missing file mixes in zeros. */
static unsigned long long stamp_file(unsigned long long h, const char *path)
{
	struct stat st;
	long long v[6] = {0};
	const unsigned char *b = (const unsigned char *)v;
	size_t i;

	if (path && stat(path, &st) == 0) {
		v[0] = st.st_mtim.tv_sec;
		v[1] = st.st_mtim.tv_nsec;
		v[2] = st.st_ctim.tv_sec;
		v[3] = st.st_ctim.tv_nsec;
		v[4] = st.st_size;
		v[5] = (long long)st.st_ino;
	}
	for (i = 0; i < sizeof(v); i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

unsigned long long fm_plugins_stamp(const struct fm_plugins *p, const char *extra)
{
	unsigned long long h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < p->npath; i++)
		h = stamp_file(h, p->path[i]);
	for (i = 0; i < p->n; i++) {
		char *yaml = fm_xasprintf("%s/plugin.yaml", p->v[i].dir);
		char *yml = fm_xasprintf("%s/plugin.yml", p->v[i].dir);

		h = stamp_file(stamp_file(h, yaml), yml);
		free(yaml);
		free(yml);
	}
	return stamp_file(h, extra);
}

void fm_plugins_release(struct fm_plugins *p)
{
	size_t i;

	for (i = 0; i < p->npath; i++)
		free(p->path[i]);
	for (i = 0; i < p->n; i++) {
		free(p->v[i].dir);
		fm_manifest_release(&p->v[i].manifest);
		fm_error_release(&p->v[i].error);
	}
	free(p->path);
	free(p->bundled);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static char *names_serving(const struct fm_plugins *p, const char *tool)
{
	char *s = fm_xstrdup("");
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct fm_plugin_entry *e = &p->v[i];
		char *t;

		if (!e->ok || e->shadowed || (tool && !fm_manifest_tool(&e->manifest, tool)))
			continue;
		t = fm_xasprintf("%s%s%s", s, *s ? ", " : "", e->manifest.name);
		free(s);
		s = t;
	}
	return s;
}

const char *fm_plugins_near(const struct fm_plugins *p, const char *word, int tools)
{
	const char **names = NULL, *near;
	size_t i, j, n = 0, cap = 0;

	for (i = 0; word && i < p->n; i++) {
		const struct fm_plugin_entry *e = &p->v[i];

		if (!e->ok || e->shadowed)
			continue;
		if (!tools) {
			FM_GROW(names, cap, n + 1);
			names[n++] = e->manifest.name;
			continue;
		}
		for (j = 0; j < json_object_array_length(e->manifest.tools); j++) {
			FM_GROW(names, cap, n + 1);
			names[n++] = fm_json_get_string(
			    json_object_array_get_idx(e->manifest.tools, j), "name");
		}
	}
	near = n ? fm_suggest(word, names, n) : NULL;
	free(names);
	return near;
}

const struct fm_manifest *fm_plugins_find(const struct fm_plugins *p, const char *name,
					  const char *tool, struct fm_error *err)
{
	const struct fm_plugin_entry *e;
	const struct fm_manifest *only;
	size_t i, count = 0, offline = 0;
	char *names;

	if (name) {
		e = fm_plugins_lookup(p, name);
		if (e && !e->ok) {
			fm_error(err, FM_PLUGIN_NOT_FOUND, "plugin '%s' is broken: %s", name,
				 e->error.message);
			return NULL;
		}
		if (e && (!tool || fm_manifest_tool(&e->manifest, tool)))
			return &e->manifest;
		names = names_serving(p, tool);
		if (e)
			fm_error(err, FM_PLUGIN_NOT_FOUND,
				 "plugin '%s' does not serve tool '%s' (plugins that do: %s)", name,
				 tool, *names ? names : "none");
		else if (fm_plugins_near(p, name, 0))
			fm_error(err, FM_PLUGIN_NOT_FOUND,
				 "no plugin named '%s': did you mean '%s'? (%s: %s)", name,
				 fm_plugins_near(p, name, 0),
				 tool ? "plugins serving the tool" : "installed",
				 *names ? names : "none");
		else
			fm_error(err, FM_PLUGIN_NOT_FOUND, "no plugin named '%s' (%s: %s)", name,
				 tool ? "plugins serving the tool" : "installed",
				 *names ? names : "none");
		free(names);
		return NULL;
	}
	/*
	 * Offline by default: a remote service is used only when named. A
	 * bundled plugin first, so adding one never changes what renders.
	 */
	for (i = 0; i < p->n; i++) {
		e = &p->v[i];
		if (e->ok && !e->shadowed && e->bundled && !e->manifest.remote &&
		    fm_manifest_tool(&e->manifest, tool))
			return &e->manifest;
	}
	/*
	 * Else the only plugin that serves the tool, counting remote ones: a
	 * plugin without remote: (the Filmeto project's never say it) does
	 * not become the default beside services that serve the tool too.
	 */
	only = NULL;
	names = fm_xstrdup("");
	for (i = 0; i < p->n; i++) {
		char *t;

		e = &p->v[i];
		if (!e->ok || e->shadowed || !fm_manifest_tool(&e->manifest, tool))
			continue;
		if (!e->manifest.remote) {
			if (!offline)
				only = &e->manifest;
			offline++;
		}
		t = fm_xasprintf("%s%s%s", names, *names ? ", " : "", e->manifest.name);
		free(names);
		names = t;
		count++;
	}
	if (count == 1 && offline == 1) {
		free(names);
		return only;
	}
	if (offline) {
		char *cfg = fm_config_file();

		fm_error(err, FM_PLUGIN_NOT_FOUND,
			 "several plugins serve %s (%s): choose one in %s with defaults: {%s: "
			 "\"%s\"}",
			 tool ? tool : "", names, cfg ? cfg : "config.yaml", tool ? tool : "",
			 only->name);
		free(cfg);
		free(names);
		return NULL;
	}
	free(names);
	names = names_serving(p, tool);
	if (*names)
		fm_error(err, FM_PLUGIN_NOT_FOUND,
			 "no offline plugin serves tool '%s'; name a remote one that does: %s",
			 tool ? tool : "", names);
	else if (fm_plugins_near(p, tool, 1))
		fm_error(
		    err, FM_PLUGIN_NOT_FOUND,
		    "no plugin serves tool '%s': did you mean '%s'? (see filmeto-plugin tools)",
		    tool ? tool : "", fm_plugins_near(p, tool, 1));
	else
		fm_error(err, FM_PLUGIN_NOT_FOUND,
			 "no plugin serves tool '%s' (see filmeto-plugin list)", tool ? tool : "");
	free(names);
	return NULL;
}

const struct fm_plugin_entry *fm_plugins_lookup(const struct fm_plugins *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ok && !p->v[i].shadowed && !strcmp(p->v[i].manifest.name, name))
			return &p->v[i];
	/* A broken manifest has no name: fall back to its directory's. */
	for (i = 0; i < p->n; i++) {
		const char *slash = strrchr(p->v[i].dir, '/');

		if (!p->v[i].ok && !strcmp(slash ? slash + 1 : p->v[i].dir, name))
			return &p->v[i];
	}
	return NULL;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds name to the plugins serving tool, once. */
static void add_server(json_object *by_tool, const char *tool, const char *name)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(by_tool, tool, &list)) {
		list = json_object_new_array();
		json_object_object_add(by_tool, tool, list);
	}
	for (i = 0; i < json_object_array_length(list); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(list, i)), name))
			return;
	json_object_array_add(list, json_object_new_string(name));
}

json_object *fm_plugins_tools(const struct fm_plugins *p)
{
	json_object *by_tool = json_object_new_object(), *out = json_object_new_object(), *list;
	const char **tools;
	size_t i, j, n = 0;

	for (i = 0; i < p->n; i++) {
		const struct fm_plugin_entry *e = &p->v[i];

		for (j = 0;
		     e->ok && !e->shadowed && j < json_object_array_length(e->manifest.tools); j++)
			add_server(by_tool,
				   fm_json_get_string(
				       json_object_array_get_idx(e->manifest.tools, j), "name"),
				   e->manifest.name);
	}
	tools = fm_xcalloc((size_t)json_object_object_length(by_tool) + 1, sizeof(char *));
	json_object_object_foreach (by_tool, key, val) {
		(void)val;
		tools[n++] = key;
	}
	qsort(tools, n, sizeof(char *), by_name);
	for (i = 0; i < n; i++) {
		json_object_object_get_ex(by_tool, tools[i], &list);
		json_object_object_add(out, tools[i], json_object_get(list));
	}
	free(tools);
	json_object_put(by_tool);
	return out;
}

json_object *fm_plugins_manifests(const struct fm_plugins *p)
{
	json_object *all = json_object_new_array();
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ok && !p->v[i].shadowed)
			json_object_array_add(all, fm_manifest_to_json(&p->v[i].manifest));
	return all;
}
