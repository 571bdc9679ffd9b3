/*
 * config.yaml and presets. Both are small YAML files read with the same
 * bounded loader as manifests, so their errors name file and line too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fs.h"
#include "manifest.h"
#include "util.h"
#include "yaml.h"

#ifndef FM_PREFIX
#define FM_PREFIX "/usr/local"
#endif

static int load_yaml(const char *path, json_object **out, struct fm_error *err)
{
	char *buf;
	size_t len;
	int rc;

	if (fm_read_file(path, FM_CONFIG_MAX, &buf, &len, err) < 0)
		return -1;
	rc = fm_yaml_parse(buf, len, path, out, err);
	free(buf);
	if (rc == 0 && *out && !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		return fm_error(err, FM_VALIDATION_ERROR, "%s: must be a mapping", path);
	}
	if (rc == 0 && !*out)
		*out = json_object_new_object();
	return rc;
}

static char *config_home(void)
{
	return fm_xdg_dir("XDG_CONFIG_HOME", ".config");
}

/* What config.yaml may say; python: is read by lib/python.c, slurm: by lib/slurm.c. */
static const char *const top_keys[] = {"defaults", "film", "plugins", "python", "slurm", NULL};
static const char *const slurm_keys[] = {"partition", "account", "qos", "sbatch_args",
					 "poll",      "plugins", NULL};
static const char *const slurm_plugin_keys[] = {"partition", "account", "qos", "sbatch_args",
						NULL};
static const char *const film_keys[] = {"width", "height", "fps", NULL};

/* An unknown key is an error, with the known one it is likely a slip for. */
static int known_keys(const struct fm_config *c, json_object *obj, const char *const *known,
		      const char *where, struct fm_error *err)
{
	if (!obj || !json_object_is_type(obj, json_type_object))
		return 0;
	json_object_object_foreach (obj, k, v) {
		const char *near;
		char list[256] = "";
		int line = fm_yaml_line(v) ? fm_yaml_line(v) : fm_yaml_line(obj);
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], k); i++)
			;
		if (known[i])
			continue;
		near = fm_suggest(k, known, 0);
		if (near)
			return fm_error(err, FM_VALIDATION_ERROR,
					"%s:%d: unknown key '%s%s': did you mean '%s%s'?", c->path,
					line, where, k, where, near);
		for (i = 0; known[i]; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", known[i]);
		return fm_error(err, FM_VALIDATION_ERROR, "%s:%d: unknown key '%s%s' (known: %s)",
				c->path, line, where, k, list);
	}
	return 0;
}

char *fm_config_file(void)
{
	const char *env = getenv("FILMETO_CONFIG");
	char *home, *path;

	if (env && *env)
		return fm_xstrdup(env);
	if (!(home = config_home()))
		return NULL;
	path = fm_xasprintf("%s/config.yaml", home);
	free(home);
	return path;
}

/*
 * slurm: keys are known ones; its values become sbatch options, checked
 * as they are made (lib/slurm.c), but poll is a number of seconds.
 */
static int slurm_section(const struct fm_config *c, struct fm_error *err)
{
	json_object *v, *plugins, *poll;

	if (!json_object_object_get_ex(c->root, "slurm", &v))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR, "%s:%d: slurm must be a mapping",
				c->path, fm_yaml_line(c->root));
	if (known_keys(c, v, slurm_keys, "slurm.", err) < 0)
		return -1;
	if (json_object_object_get_ex(v, "poll", &poll) &&
	    (!(json_object_is_type(poll, json_type_int) ||
	       json_object_is_type(poll, json_type_double)) ||
	     !(json_object_get_double(poll) > 0 && json_object_get_double(poll) <= 3600)))
		return fm_error(err, FM_VALIDATION_ERROR,
				"%s:%d: slurm.poll must be a number of seconds, above 0 and at "
				"most 3600",
				c->path, fm_yaml_line(v));
	if (!json_object_object_get_ex(v, "plugins", &plugins))
		return 0;
	if (!json_object_is_type(plugins, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR, "%s:%d: slurm.plugins must be a mapping",
				c->path, fm_yaml_line(v));
	json_object_object_foreach (plugins, name, p) {
		char prefix[128];

		if (!json_object_is_type(p, json_type_object))
			return fm_error(err, FM_VALIDATION_ERROR,
					"%s:%d: slurm.plugins.%.64s must be a mapping", c->path,
					fm_yaml_line(plugins), name);
		snprintf(prefix, sizeof(prefix), "slurm.plugins.%.64s.", name);
		if (known_keys(c, p, slurm_plugin_keys, prefix, err) < 0)
			return -1;
	}
	return 0;
}

int fm_config_load(struct fm_config *c, struct fm_error *err)
{
	const char *env = getenv("FILMETO_CONFIG");
	char *home = config_home();
	json_object *v;

	memset(c, 0, sizeof(*c));
	if (env && *env)
		c->path = fm_xstrdup(env);
	else if (home)
		c->path = fm_xasprintf("%s/config.yaml", home);
	free(home);
	if (c->path && (env && *env ? 1 : access(c->path, F_OK) == 0)) {
		if (load_yaml(c->path, &c->root, err) < 0)
			return -1;
	} else {
		free(c->path);
		c->path = NULL;
		c->root = json_object_new_object();
	}
	if (known_keys(c, c->root, top_keys, "", err) < 0 ||
	    known_keys(c, fm_json_get(c->root, "film", json_type_object), film_keys, "film.", err) <
		0)
		return -1;
	if ((json_object_object_get_ex(c->root, "defaults", &v) &&
	     !json_object_is_type(v, json_type_object)) ||
	    (json_object_object_get_ex(c->root, "film", &v) &&
	     !json_object_is_type(v, json_type_object)) ||
	    (json_object_object_get_ex(c->root, "plugins", &v) &&
	     !json_object_is_type(v, json_type_object)))
		return fm_error(err, FM_VALIDATION_ERROR,
				"%s:%d: defaults, film and plugins must be mappings", c->path,
				fm_yaml_line(c->root));
	v = fm_json_get(c->root, "defaults", json_type_object);
	json_object_object_foreach (v ? v : c->root, tool, d) {
		if (!v)
			break;
		if (!json_object_is_type(d, json_type_string) ||
		    !fm_plugin_name_valid(json_object_get_string(d)))
			return fm_error(
			    err, FM_VALIDATION_ERROR,
			    "%s:%d: defaults.%.64s must be a plugin name, " FM_PLUGIN_NAME_RULE,
			    c->path, fm_yaml_line(v), tool);
	}
	if (slurm_section(c, err) < 0)
		return -1;
	v = fm_json_get(c->root, "plugins", json_type_object);
	if (!v)
		return 0;
	json_object_object_foreach (v, name, s) {
		if (!fm_plugin_name_valid(name))
			return fm_error(
			    err, FM_VALIDATION_ERROR,
			    "%s:%d: plugins: '%.64s' is not a plugin name, " FM_PLUGIN_NAME_RULE,
			    c->path, fm_yaml_line(s), name);
		if (!json_object_is_type(s, json_type_object))
			return fm_error(err, FM_VALIDATION_ERROR,
					"%s:%d: plugins.%s must be a mapping of settings", c->path,
					fm_yaml_line(s), name);
	}
	return 0;
}

void fm_config_release(struct fm_config *c)
{
	free(c->path);
	json_object_put(c->root);
	memset(c, 0, sizeof(*c));
}

const char *fm_config_default_plugin(const struct fm_config *c, const char *tool)
{
	return fm_json_get_string(fm_json_get(c->root, "defaults", json_type_object), tool);
}

json_object *fm_config_plugin(const struct fm_config *c, const char *name)
{
	return fm_json_get(fm_json_get(c->root, "plugins", json_type_object), name,
			   json_type_object);
}

json_object *fm_config_slurm(const struct fm_config *c)
{
	return fm_json_get(c->root, "slurm", json_type_object);
}

json_object *fm_config_film(const struct fm_config *c, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(fm_json_get(c->root, "film", json_type_object), key, &v))
		return v;
	return NULL;
}

/* Where presets live, the user's first. */
static char **preset_dirs(void)
{
	char **dirs = fm_xcalloc(5, sizeof(char *)), *home = config_home(), *exe = fm_exe_dir();
	size_t n = 0;

	if (home)
		dirs[n++] = fm_xasprintf("%s/presets", home);
	if (exe)
		dirs[n++] = fm_xasprintf("%s/../share/filmeto/presets", exe);
	dirs[n++] = fm_xstrdup(FM_PREFIX "/share/filmeto/presets");
	free(home);
	free(exe);
	return dirs;
}

static void free_dirs(char **dirs)
{
	char **d;

	for (d = dirs; *d; d++)
		free(*d);
	free(dirs);
}

static int check_preset(const char *path, json_object *p, struct fm_error *err)
{
	json_object *v;

	if ((json_object_object_get_ex(p, "parameters", &v) &&
	     !json_object_is_type(v, json_type_object)) ||
	    (json_object_object_get_ex(p, "templates", &v) &&
	     !json_object_is_type(v, json_type_object)))
		return fm_error(err, FM_VALIDATION_ERROR,
				"%s:%d: parameters and templates must be mappings", path,
				fm_yaml_line(p));
	if ((v = fm_json_get(p, "templates", json_type_object))) {
		json_object_object_foreach (v, k, t) {
			if (!json_object_is_type(t, json_type_string))
				return fm_error(err, FM_VALIDATION_ERROR,
						"%s: templates.%s must be text", path, k);
		}
	}
	return 0;
}

int fm_preset_load(const char *name, json_object **preset, struct fm_error *err)
{
	char **dirs = preset_dirs(), **d;
	int rc = 1;

	*preset = NULL;
	if (!fm_id_valid(name)) {
		free_dirs(dirs);
		return fm_error(err, FM_VALIDATION_ERROR, "preset '%s': not a valid name", name);
	}
	for (d = dirs; *d && rc == 1; d++) {
		char *path = fm_xasprintf("%s/%s.yaml", *d, name);

		if (access(path, F_OK) == 0) {
			rc = load_yaml(path, preset, err);
			if (rc == 0 && check_preset(path, *preset, err) < 0)
				rc = -1;
			if (rc == 0)
				json_object_object_add(*preset, "path",
						       json_object_new_string(path));
		}
		free(path);
	}
	free_dirs(dirs);
	if (rc == 1)
		return fm_error(err, FM_VALIDATION_ERROR,
				"no preset named '%s' (see filmeto-submit --list-presets)", name);
	if (rc < 0) {
		json_object_put(*preset);
		*preset = NULL;
	}
	return rc;
}

json_object *fm_preset_list(void)
{
	json_object *list = json_object_new_array(), *seen = json_object_new_object();
	char **dirs = preset_dirs(), **d;

	for (d = dirs; *d; d++) {
		struct dirent **names;
		int i, n = scandir(*d, &names, NULL, alphasort);

		for (i = 0; i < n; i++) {
			char *name = names[i]->d_name, *dot = strrchr(name, '.');
			json_object *p, *e;

			if (dot && !strcmp(dot, ".yaml") && name[0] != '.') {
				*dot = '\0';
				if (!json_object_object_get_ex(seen, name, NULL) &&
				    fm_preset_load(name, &p, NULL) == 0) {
					e = json_object_new_object();
					json_object_object_add(e, "name",
							       json_object_new_string(name));
					json_object_object_add(
					    e, "description",
					    json_object_new_string(
						fm_json_get_string(p, "description")
						    ? fm_json_get_string(p, "description")
						    : ""));
					json_object_object_add(
					    e, "tool",
					    json_object_new_string(
						fm_json_get_string(p, "tool")
						    ? fm_json_get_string(p, "tool")
						    : ""));
					json_object_object_add(
					    e, "path",
					    json_object_new_string(fm_json_get_string(p, "path")));
					json_object_array_add(list, e);
					json_object_object_add(seen, name, NULL);
					json_object_put(p);
				}
			}
			free(names[i]);
		}
		if (n >= 0)
			free(names);
	}
	free_dirs(dirs);
	json_object_put(seen);
	return list;
}

/* Appends "{prompt}, film noir" with {prompt} from the given parameters. */
static int expand(const char *tmpl, json_object *given, struct fm_buf *out, struct fm_error *err)
{
	const char *p = tmpl;

	while (*p) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL, *val;
		size_t k;
		char key[FM_ID_MAX + 1];
		json_object *v;

		if (!close || close - p - 1 > FM_ID_MAX) {
			val = p;
			k = 1;
			p++;
		} else {
			snprintf(key, sizeof(key), "%.*s", (int)(close - p - 1), p + 1);
			if (!json_object_object_get_ex(given, key, &v) || !v)
				return fm_error(
				    err, FM_VALIDATION_ERROR,
				    "template '%s': no parameter '%s' to fill {%s} with", tmpl, key,
				    key);
			val = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
								       : fm_json_str(v);
			k = strlen(val);
			p = close + 1;
		}
		fm_buf_add(out, val, k);
	}
	return 0;
}

int fm_preset_apply(json_object *preset, json_object *params, struct fm_error *err)
{
	json_object *given = json_object_get(params), *copy, *defaults, *templates;

	/* Templates read the values as given, before the preset adds its own. */
	copy = json_object_new_object();
	json_object_object_foreach (given, gk, gv) {
		json_object_object_add(copy, gk, json_object_get(gv));
	}
	defaults = fm_json_get(preset, "parameters", json_type_object);
	templates = fm_json_get(preset, "templates", json_type_object);
	if (!defaults)
		defaults = copy; /* nothing to add: every key is already there */
	json_object_object_foreach (defaults, k, v) {
		if (!json_object_object_get_ex(params, k, NULL))
			json_object_object_add(params, k, json_object_get(v));
	}
	if (!templates) {
		json_object_put(copy);
		json_object_put(given);
		return 0;
	}
	json_object_object_foreach (templates, tk, tv) {
		struct fm_buf text = FM_BUF_INIT;

		if (expand(json_object_get_string(tv), copy, &text, err) < 0) {
			fm_buf_release(&text);
			json_object_put(copy);
			json_object_put(given);
			return -1;
		}
		json_object_object_add(params, tk, json_object_new_string(fm_buf_str(&text)));
		fm_buf_release(&text);
	}
	json_object_put(copy);
	json_object_put(given);
	return 0;
}
