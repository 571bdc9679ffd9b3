/*
 * filmeto-plugin: lists, inspects and validates plugins from their
 * manifests; installs and removes them in the user plugin directory
 * (plugin_install.h); scaffolds new ones and self-tests them
 * (plugin_scaffold.h). Only install (its environment setup) and test run
 * anything.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-plugin list [--json | --names]\n"
    "       filmeto-plugin info [--json] NAME\n"
    "       filmeto-plugin tools [--json]\n"
    "       filmeto-plugin validate DIR\n"
    "       filmeto-plugin path [--json]\n"
    "       filmeto-plugin install [--force] SRC\n"
    "       filmeto-plugin remove NAME\n"
    "       filmeto-plugin new NAME --lang LANG [--dir PARENT]\n"
    "       filmeto-plugin test NAME|DIR\n"
    "       filmeto-plugin doctor NAME|DIR\n"
    "       filmeto-plugin config [--json]\n"
    "\n"
    "  list      the plugins on the search path: name, version, tools, directory\n"
    "  info      one plugin's description, command and parameters\n"
    "  tools     each tool and the plugins that serve it, the default marked '*'\n"
    "  validate  check the manifest in DIR\n"
    "  path      the plugin search path, one directory per line\n"
    "  install   install the plugin in SRC (a directory, .tar.gz, .tar.xz, .tar.zst\n"
    "            or .zip) into the user plugin directory\n"
    "  remove    remove the plugin NAME from the user plugin directory\n"
    "  new       create PARENT/NAME, a working plugin to start from\n"
    "  test      start a plugin and check that it speaks the protocol\n"
    "  doctor    which Python interpreter runs a plugin and why, and which of its\n"
    "            declared packages (requirements:, requirements.txt) it lacks\n"
    "  config    the config file, plugin path, cache, spool and defaults in use,\n"
    "            and where each came from\n"
    "\n"
    "  --json          print JSON instead of text (list, info, tools, path, config)\n"
    "  --names         only the plugin names, one a line (list; for completions)\n"
    "  --force         replace an installed plugin of the same name (install)\n"
    "  --lang LANG     the new plugin's language: c, python or sh (new)\n"
    "  --dir PARENT    where the new plugin goes; default: the current directory\n"
    "  -h, --help      show this help\n"
    "      --version   show the version\n"
    "\n"
    "Exit status: 0 success; 1 plugin not found, a check failed, an install step\n"
    "failed or (doctor) a requirement is missing; 2 usage error, invalid manifest\n"
    "or refused source.\n";

enum { OPT_JSON = 256, OPT_VERSION, OPT_FORCE, OPT_LANG, OPT_DIR, OPT_NAMES };

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"force", no_argument, NULL, OPT_FORCE},
    {"lang", required_argument, NULL, OPT_LANG},
    {"dir", required_argument, NULL, OPT_DIR},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"names", no_argument, NULL, OPT_NAMES},
    {NULL, 0, NULL, 0},
};

static int json_out, names_out, force;
static const char *lang, *parent;

__attribute__((noreturn)) static void usage_error(const char *msg)
{
	fm_warn("%s", msg);
	fm_try_help();
}

/*
 * One line of text for a person: what a manifest says (a description, a
 * command, a parameter's default) may hold control characters and escape
 * sequences, so the line goes through fm_term_text, whole and uncut.
 */
__attribute__((format(printf, 1, 2))) static void line(const char *fmt, ...)
{
	va_list ap;
	char *s, *safe;
	size_t n, size;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0)
		abort();
	n = (size_t)len;
	size = 3 * n + 1;
	safe = fm_xmalloc(size);
	fm_term_text(safe, size, s, n, INT_MAX);
	puts(safe);
	free(safe);
	free(s);
}

static char *tool_names(const struct fm_manifest *m)
{
	char *s = fm_xstrdup("");
	size_t i;

	for (i = 0; i < json_object_array_length(m->tools); i++) {
		char *t = fm_xasprintf(
		    "%s%s%s", s, i ? "," : "",
		    fm_json_get_string(json_object_array_get_idx(m->tools, i), "name"));
		free(s);
		s = t;
	}
	return s;
}

/* Columns a name takes on a terminal, made safe (names may hold spaces and wide text). */
static int name_cols(const char *name)
{
	char safe[3 * FM_PLUGIN_NAME_MAX + 1];

	return fm_term_text(safe, sizeof(safe), name, strlen(name), INT_MAX);
}

static int cmd_list(struct fm_plugins *p)
{
	json_object *all = json_object_new_array();
	int width = 0, pad;
	size_t i;

	/* The name column is as wide as the widest name, so a name with spaces stays one column. */
	for (i = 0; i < p->n; i++)
		if (p->v[i].ok && !p->v[i].shadowed && name_cols(p->v[i].manifest.name) > width)
			width = name_cols(p->v[i].manifest.name);

	for (i = 0; i < p->n; i++) {
		struct fm_plugin_entry *e = &p->v[i];
		char *tools;

		if (!e->ok) {
			fm_warn("%s", e->error.message);
			continue;
		}
		if (e->shadowed)
			continue;
		if (names_out) {
			line("%s", e->manifest.name);
			continue;
		}
		if (json_out) {
			json_object_array_add(all, fm_manifest_to_json(&e->manifest));
			continue;
		}
		tools = tool_names(&e->manifest);
		pad = width - name_cols(e->manifest.name);
		line("%s%*s %s %s %s", e->manifest.name, pad, "",
		     *e->manifest.version ? e->manifest.version : "-", tools, e->dir);
		free(tools);
	}
	if (json_out)
		puts(fm_json_str(all));
	json_object_put(all);
	return FM_EXIT_OK;
}

/* The parameter column as wide as the tool's longest name (14 at least). */
static int param_width(json_object *params)
{
	size_t i, w = 14;

	for (i = 0; params && i < json_object_array_length(params); i++) {
		const char *n = fm_json_get_string(json_object_array_get_idx(params, i), "name");

		if (n && strlen(n) > w)
			w = strlen(n);
	}
	return w > 64 ? 64 : (int)w;
}

static void print_param(json_object *pdef, int width)
{
	json_object *v, *req;
	const char *desc = fm_json_get_string(pdef, "description"), *def;
	char range[256] = "";

	if ((v = fm_json_get(pdef, "enum", json_type_array)))
		snprintf(range, sizeof(range), "one of %s", fm_json_str(v));
	else if (json_object_object_get_ex(pdef, "min", NULL) ||
		 json_object_object_get_ex(pdef, "max", NULL))
		snprintf(
		    range, sizeof(range), "%s..%s",
		    json_object_object_get_ex(pdef, "min", &v) ? json_object_get_string(v) : "",
		    json_object_object_get_ex(pdef, "max", &v) ? json_object_get_string(v) : "");
	req = fm_json_get(pdef, "required", json_type_boolean);
	def = json_object_object_get_ex(pdef, "default", &v) ? fm_json_str(v) : "-";
	line("    %-*s %-8s %-8s %-14s %-20s %s", width, fm_json_get_string(pdef, "name"),
	     fm_json_get_string(pdef, "type"),
	     req && json_object_get_boolean(req) ? "required" : "optional", def,
	     *range ? range : "-", desc ? desc : "");
}

static void print_info(const struct fm_manifest *m)
{
	char *cmd = fm_xstrdup(""), *t;
	size_t i, j;
	char **a;

	line("%s %s", m->name, m->version);
	if (*m->description)
		line("  %s", m->description);
	line("  directory:   %s", m->dir);
	line("  manifest:    %s", m->path);
	for (a = m->argv; *a; a++) {
		t = fm_xasprintf("%s %s", cmd, *a);
		free(cmd);
		cmd = t;
	}
	line("  command:    %s", cmd);
	free(cmd);
	line("  concurrency: %d", m->concurrency);
	line("  timeouts:    startup %gs, execution %gs, %d retries", m->startup_timeout,
	     m->exec_timeout, m->max_retries);
	for (i = 0; i < json_object_array_length(m->tools); i++) {
		json_object *tool = json_object_array_get_idx(m->tools, i);
		json_object *params = fm_json_get(tool, "parameters", json_type_array);

		putchar('\n');
		line("  tool %s", fm_json_get_string(tool, "name"));
		line("    %-*s %-8s %-8s %-14s %-20s %s", param_width(params), "PARAMETER", "TYPE",
		     "", "DEFAULT", "RANGE", "DESCRIPTION");
		for (j = 0; j < json_object_array_length(params); j++)
			print_param(json_object_array_get_idx(params, j), param_width(params));
	}
}

/* "no plugin named X", with the name it is likely a slip for. */
static void no_such_plugin(const struct fm_plugins *p, const char *name)
{
	const char *near = fm_plugins_near(p, name, 0);

	if (near)
		fm_warn("no plugin named '%s': did you mean '%s'? (see filmeto-plugin list)", name,
			near);
	else
		fm_warn("no plugin named '%s' (see filmeto-plugin list)", name);
}

static int cmd_info(struct fm_plugins *p, const char *name)
{
	const struct fm_plugin_entry *e = fm_plugins_lookup(p, name);
	json_object *o;

	if (!e) {
		no_such_plugin(p, name);
		return FM_EXIT_FAILED;
	}
	if (!e->ok) {
		fm_warn("%s", e->error.message);
		return FM_EXIT_USAGE;
	}
	if (json_out) {
		o = fm_manifest_to_json(&e->manifest);
		puts(fm_json_str(o));
		json_object_put(o);
	} else {
		print_info(&e->manifest);
	}
	return FM_EXIT_OK;
}

static int cmd_validate(const char *dir)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_manifest m;
	int status = FM_EXIT_OK;

	if (fm_manifest_load(&m, dir, &err) < 0) {
		fm_warn("%s", err.message);
		status = FM_EXIT_USAGE;
	} else {
		line("%s: valid (%s %s)", m.path, m.name, m.version);
	}
	fm_manifest_release(&m);
	fm_error_release(&err);
	return status;
}

/* "$VAR" when it is set and not empty, else what the default rests on. */
static const char *from_env(const char *var, const char *fallback)
{
	static char buf[4][64];
	static int k;
	const char *v = getenv(var);

	if (!v || !*v)
		return fallback;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "$%s", var);
	return buf[k];
}

static void add_setting(json_object *o, const char *key, const char *value, const char *from)
{
	json_object *s = json_object_new_object();

	json_object_object_add(s, "value", value ? json_object_new_string(value) : NULL);
	json_object_object_add(s, "from", json_object_new_string(from));
	json_object_object_add(o, key, s);
}

/*
 * What is in use and why: the config file, the plugin path, the cache, the
 * spool, the python: setting and each tool's default, as "KEY VALUE (FROM)".
 */
static int cmd_config(struct fm_plugins *p)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *o = json_object_new_object(), *path = json_object_new_array();
	char *file = fm_config_file(), *cache = fm_xdg_dir("XDG_CACHE_HOME", ".cache");
	char *spool = fm_spool_default_dir();
	const char *python;
	struct fm_config cfg;
	int loaded;
	size_t i;

	loaded = fm_config_load(&cfg, &err) == 0;
	add_setting(o, "config", file,
		    getenv("FILMETO_CONFIG") && *getenv("FILMETO_CONFIG")
			? "$FILMETO_CONFIG"
			: (loaded && cfg.path ? from_env("XDG_CONFIG_HOME", "~/.config")
					      : "not there: built-in defaults"));
	if (!loaded)
		json_object_object_add(json_object_object_get(o, "config"), "error",
				       json_object_new_string(err.message));
	for (i = 0; i < p->npath; i++)
		json_object_array_add(path, json_object_new_string(p->path[i]));
	json_object_object_add(o, "plugin_path", path);
	add_setting(o, "cache", cache, from_env("XDG_CACHE_HOME", "~/.cache"));
	add_setting(o, "spool", spool,
		    getenv("FILMETO_SPOOL") && *getenv("FILMETO_SPOOL")
			? "$FILMETO_SPOOL"
			: from_env("XDG_STATE_HOME", "~/.local/state"));
	python = loaded ? fm_json_get_string(cfg.root, "python") : NULL;
	add_setting(o, "python", python ? python : "python3",
		    python ? "config.yaml python:" : "on PATH; a plugin's .venv comes first");
	json_object_object_add(
	    o, "defaults",
	    json_object_get(loaded ? fm_json_get(cfg.root, "defaults", json_type_object) : NULL));
	if (json_out) {
		puts(fm_json_str(o));
	} else {
		json_object *d = json_object_object_get(o, "defaults");

		if (!loaded)
			fm_warn("%s", err.message);
		json_object_object_foreach (o, key, v) {
			if (!strcmp(key, "plugin_path") || !strcmp(key, "defaults"))
				continue;
			line("%-12s %s (%s)", key,
			     fm_json_get_string(v, "value") ? fm_json_get_string(v, "value") : "-",
			     fm_json_get_string(v, "from"));
		}
		for (i = 0; i < p->npath; i++) {
			line("%-12s %s (%s)", i ? "" : "plugin_path", p->path[i],
			     i == 0 && getenv("FILMETO_PLUGIN_PATH") &&
				     *getenv("FILMETO_PLUGIN_PATH")
				 ? "$FILMETO_PLUGIN_PATH first"
				 : "search order");
		}
		json_object_object_foreach (d ? d : o, tool, plugin) {
			if (!d)
				break;
			line("%-12s %s: %s (config.yaml defaults:)", "default", tool,
			     json_object_get_string(plugin));
		}
	}
	json_object_put(o);
	if (loaded)
		fm_config_release(&cfg);
	fm_error_release(&err);
	free(file);
	free(cache);
	free(spool);
	return loaded ? FM_EXIT_OK : FM_EXIT_USAGE;
}

/* Each tool, sorted, with its plugins in search order: the first is the default. */
static int cmd_tools(struct fm_plugins *p)
{
	struct fm_error err = FM_ERROR_INIT;
	const struct fm_manifest *def;
	json_object *out;
	struct fm_config cfg;
	size_t i, j;
	int width = 0;
	char *row;

	if (fm_config_load(&cfg, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
	}
	for (i = 0; i < p->n; i++)
		if (!p->v[i].ok)
			fm_warn("%s", p->v[i].error.message);
	out = fm_plugins_tools(p);
	if (json_out) {
		puts(fm_json_str(out));
		goto out;
	}
	json_object_object_foreach (out, key, val) {
		(void)val;
		if ((int)strlen(key) > width)
			width = (int)strlen(key);
	}
	json_object_object_foreach (out, tool, list) {
		/* The default is what filmeto-run would pick: config.yaml, else first. */
		def = fm_plugins_find(p, fm_config_default_plugin(&cfg, tool), tool, NULL);
		row = fm_xasprintf("%-*s ", width, tool);
		for (j = 0; j < json_object_array_length(list); j++) {
			const char *name =
			    json_object_get_string(json_object_array_get_idx(list, j));
			char *t = fm_xasprintf("%s %s%s%s", row, name,
					       def && !strcmp(def->name, name) ? "*" : "",
					       j + 1 < json_object_array_length(list) ? "," : "");

			free(row);
			row = t;
		}
		line("%s", row);
		free(row);
	}
out:
	json_object_put(out);
	fm_config_release(&cfg);
	return FM_EXIT_OK;
}

/* A refused or invalid source is a usage error; anything else a failure. */
static int exit_for(const struct fm_error *err)
{
	return err->code == FM_VALIDATION_ERROR ? FM_EXIT_USAGE : FM_EXIT_FAILED;
}

static void note(void *ctx, const char *text)
{
	(void)ctx;
	fm_warn("%s", text);
}

static void on_signal(int sig)
{
	(void)sig;
	fm_install_interrupt();
}

/* The last lines a failed setup step wrote, kept in err's details. */
static void warn_output(const struct fm_error *err)
{
	json_object *lines = fm_json_get(err->details, "output", json_type_array);
	size_t i;

	for (i = 0; lines && i < json_object_array_length(lines); i++)
		fm_warn("  %s", json_object_get_string(json_object_array_get_idx(lines, i)));
}

static int cmd_install(const char *src)
{
	struct fm_error err = FM_ERROR_INIT;
	struct sigaction sa = {0};
	struct fm_manifest m;
	char *dir;
	int status = FM_EXIT_OK;

	/* The setup steps run in their own process groups: a ^C reaches only us. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (fm_plugin_install(src, force, note, NULL, &dir, &err) < 0) {
		if (err.code == FM_TASK_CANCELLED) {
			fm_error_release(&err);
			return FM_EXIT_INTERRUPTED;
		}
		fm_warn("%s", err.message);
		warn_output(&err);
		status = exit_for(&err);
	} else {
		/* It loaded a moment ago, in the staging directory. */
		if (fm_manifest_load(&m, dir, &err) == 0)
			line("installed %s %s in %s", m.name, *m.version ? m.version : "-", dir);
		else
			line("installed %s", dir);
		fm_manifest_release(&m);
		free(dir);
	}
	fm_error_release(&err);
	return status;
}

static int cmd_remove(const char *name)
{
	struct fm_error err = FM_ERROR_INIT;
	char *dir;
	int status = FM_EXIT_OK;

	if (fm_plugin_remove(name, &dir, &err) < 0) {
		fm_warn("%s", err.message);
		status = err.code == FM_PLUGIN_NOT_FOUND ? FM_EXIT_FAILED : exit_for(&err);
	} else {
		line("removed %s", dir);
		free(dir);
	}
	fm_error_release(&err);
	return status;
}

static int cmd_new(const char *name)
{
	struct fm_error err = FM_ERROR_INIT;
	char *dir;
	int status = FM_EXIT_OK;

	if (fm_plugin_scaffold(name, lang, parent ? parent : ".", &dir, &err) < 0) {
		fm_warn("%s", err.message);
		status = exit_for(&err);
	} else {
		/* A C plugin is built, so that it passes test as it was made. */
		if (!strcmp(lang, "c") && fm_plugin_build(dir, &err) < 0) {
			fm_warn("made '%s', but could not build it: %s", dir, err.message);
			warn_output(&err);
			status = FM_EXIT_FAILED;
		}
		puts(dir);
		free(dir);
	}
	fm_error_release(&err);
	return status;
}

static void report_check(void *ctx, const char *check, int ok, const char *detail)
{
	(void)ctx;
	if (ok)
		printf("ok %s\n", check);
	else if (detail && *detail)
		printf("FAIL %s: %s\n", check, detail);
	else
		printf("FAIL %s\n", check);
	fflush(stdout);
}

/*
 * NAME on the search path, else a plugin directory loaded into own: the
 * manifest, or NULL with *status the exit status.
 */
static const struct fm_manifest *find_plugin(struct fm_plugins *p, const char *what,
					     struct fm_manifest *own, int *status)
{
	const struct fm_plugin_entry *e = fm_plugins_lookup(p, what);
	struct fm_error err = FM_ERROR_INIT;
	struct stat st;

	fm_manifest_init(own);
	if (e && !e->ok) {
		fm_warn("%s", e->error.message);
		*status = FM_EXIT_USAGE;
		return NULL;
	}
	if (e)
		return &e->manifest;
	if (stat(what, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (fm_manifest_load(own, what, &err) < 0) {
			fm_warn("%s", err.message);
			fm_error_release(&err);
			*status = FM_EXIT_USAGE;
			return NULL;
		}
		return own;
	}
	no_such_plugin(p, what);
	*status = FM_EXIT_FAILED;
	return NULL;
}

/*
 * "interpreter: PATH (WHY)" for a Python plugin; 0, or -1 (with a
 * warning) when config.yaml's python: is wrong. *py is filled on success.
 */
static int show_interpreter(const struct fm_manifest *m, struct fm_python *py)
{
	struct fm_error err = FM_ERROR_INIT;

	if (fm_python_choose(m, 1, py, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		return -1;
	}
	line("interpreter: %s (%s)", py->path, py->why);
	return 0;
}

/*
 * Which interpreter runs a Python plugin and why, its version against
 * requirements.python, and each declared package: 0 when all is there,
 * 1 when something is missing or too old.
 */
static int cmd_doctor(struct fm_plugins *p, const char *what)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_manifest own;
	const struct fm_manifest *m;
	struct fm_python py = {0};
	json_object *reqs = NULL, *rep = NULL, *pk;
	int status = FM_EXIT_OK, cmp;
	size_t i;

	if (!(m = find_plugin(p, what, &own, &status)))
		goto out;
	line("plugin: %s (%s)", m->name, m->dir);
	if (!fm_python_plugin(m)) {
		line("not a Python plugin (command: %s): nothing to check", m->argv[0]);
		goto out;
	}
	if (show_interpreter(m, &py) < 0) {
		status = FM_EXIT_USAGE;
		goto out;
	}
	if (fm_python_requirements(m, &reqs, &err) < 0 ||
	    fm_python_check(py.path, m->req_python, reqs, &rep, &err) < 0) {
		fm_warn("plugin '%s': %s", m->name, err.message);
		status = exit_for(&err);
		goto out;
	}
	cmp = json_object_get_boolean(json_object_object_get(rep, "compared"));
	line("version: Python %s (%s)", fm_json_get_string(rep, "version"),
	     fm_json_get_string(rep, "executable") ? fm_json_get_string(rep, "executable") : "");
	if (m->req_python) {
		json_object *ok = json_object_object_get(rep, "python_ok");

		line("requirements.python: %s: %s", m->req_python,
		     !ok			   ? "not compared (no packaging module)"
		     : json_object_get_boolean(ok) ? "ok"
						   : "NOT MET");
		if (ok && !json_object_get_boolean(ok))
			status = FM_EXIT_FAILED;
	}
	pk = fm_json_get(rep, "packages", json_type_array);
	if (!pk || !json_object_array_length(pk))
		line("packages: none declared");
	for (i = 0; pk && i < json_object_array_length(pk); i++) {
		json_object *e = json_object_array_get_idx(pk, i);
		const char *have = fm_json_get_string(e, "installed");
		int ok = json_object_get_boolean(json_object_object_get(e, "ok"));

		if (!have && ok)
			line("package %s: not needed here (marker)",
			     fm_json_get_string(e, "requirement"));
		else if (!have)
			line("package %s: MISSING", fm_json_get_string(e, "requirement"));
		else
			line("package %s: %s (%s %s%s)", fm_json_get_string(e, "requirement"),
			     ok ? "ok" : "TOO OLD OR TOO NEW", fm_json_get_string(e, "name"), have,
			     cmp ? "" : ", version not compared");
		if (!ok)
			status = FM_EXIT_FAILED;
	}
	if (status == FM_EXIT_FAILED)
		line("some requirements are not met: 'filmeto-plugin install' builds a .venv "
		     "with them, or set python: in config.yaml to an interpreter that has them");
out:
	json_object_put(reqs);
	json_object_put(rep);
	fm_python_release(&py);
	fm_manifest_release(&own);
	fm_error_release(&err);
	return status;
}

/* NAME on the search path, else a plugin directory. */
static int cmd_test(struct fm_plugins *p, const char *what)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_manifest own;
	const struct fm_manifest *m;
	struct fm_python py = {0};
	int status, failed;

	if (!(m = find_plugin(p, what, &own, &status)))
		return status;
	if (fm_python_plugin(m) && show_interpreter(m, &py) < 0) {
		fm_manifest_release(&own);
		return FM_EXIT_USAGE;
	}
	fm_python_release(&py);
	if (fm_plugin_unbuilt(m)) {
		fm_warn("building '%s' with make", m->dir);
		if (fm_plugin_build(m->dir, &err) < 0) {
			fm_warn("%s", err.message);
			warn_output(&err);
			fm_manifest_release(&own);
			fm_error_release(&err);
			return FM_EXIT_FAILED;
		}
	}
	failed = fm_plugin_selftest(m, report_check, NULL, &err);
	if (failed < 0) {
		fm_warn("%s", err.message);
		status = exit_for(&err);
	} else {
		status = failed ? FM_EXIT_FAILED : FM_EXIT_OK;
	}
	fm_manifest_release(&own);
	fm_error_release(&err);
	return status;
}

/* Each verb: its operand count and the options it takes. */
static void check_usage(const char *verb, int nargs)
{
	static const struct {
		const char *verb, *usage;
		int nargs, json, force, new;
	} verbs[] = {
	    {"list", "list [--json | --names]", 0, 1, 0, 0},
	    {"info", "info [--json] NAME", 1, 1, 0, 0},
	    {"tools", "tools [--json]", 0, 1, 0, 0},
	    {"validate", "validate DIR", 1, 0, 0, 0},
	    {"path", "path [--json]", 0, 1, 0, 0},
	    {"install", "install [--force] SRC", 1, 0, 1, 0},
	    {"remove", "remove NAME", 1, 0, 0, 0},
	    {"new", "new NAME --lang LANG [--dir PARENT]", 1, 0, 0, 1},
	    {"test", "test NAME|DIR", 1, 0, 0, 0},
	    {"doctor", "doctor NAME|DIR", 1, 0, 0, 0},
	    {"config", "config [--json]", 0, 1, 0, 0},
	};
	char msg[160];
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].verb, verb))
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0])) {
		const char *names[sizeof(verbs) / sizeof(verbs[0])], *near;

		for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
			names[i] = verbs[i].verb;
		near = fm_suggest(verb, names, sizeof(names) / sizeof(names[0]));
		if (near)
			snprintf(msg, sizeof(msg), "unknown command '%.40s': did you mean '%s'?",
				 verb, near);
		else
			snprintf(msg, sizeof(msg),
				 "unknown command '%.40s': use list, info, tools, validate, path, "
				 "install, remove, new, test, doctor or config",
				 verb);
		usage_error(msg);
	}
	snprintf(msg, sizeof(msg), "usage: filmeto-plugin %s", verbs[i].usage);
	if (nargs != verbs[i].nargs || (json_out && !verbs[i].json) || (force && !verbs[i].force) ||
	    (names_out && (strcmp(verb, "list") || json_out)) ||
	    ((lang || parent) && !verbs[i].new) || (verbs[i].new && !lang))
		usage_error(msg);
	if (lang && strcmp(lang, "c") && strcmp(lang, "python") && strcmp(lang, "sh"))
		usage_error("--lang: use c, python or sh");
}

int main(int argc, char **argv)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_plugins p;
	const char *verb;
	int c, status;
	size_t i;

	fm_msg_init(argv[0]);
	/* Past ulimit -f a write fails (EFBIG) and is reported, not fatal. */
	signal(SIGXFSZ, SIG_IGN);
	/* Its self-test runs plugins: none of them may find a key of ours in /proc. */
	fm_secrets_hide();
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json_out = 1; break;
		case OPT_NAMES: names_out = 1; break;
		case OPT_FORCE: force = 1; break;
		case OPT_LANG: lang = optarg; break;
		case OPT_DIR: parent = optarg; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version(fm_revision(), fm_libraries());
		default: fm_try_help();
		}
	}
	if (optind >= argc)
		usage_error("a command is required: list, info, tools, validate, path, install, "
			    "remove, new, test, doctor or config");
	verb = argv[optind++];
	check_usage(verb, argc - optind);
	if (!strcmp(verb, "validate"))
		status = cmd_validate(argv[optind]);
	else if (!strcmp(verb, "install"))
		status = cmd_install(argv[optind]);
	else if (!strcmp(verb, "remove"))
		status = cmd_remove(argv[optind]);
	else if (!strcmp(verb, "new"))
		status = cmd_new(argv[optind]);
	else
		status = -1;
	if (status >= 0)
		return fm_close_stdout() ? FM_EXIT_FAILED : status;
	fm_plugins_scan(&p, &err);
	if (!strcmp(verb, "list")) {
		status = cmd_list(&p);
	} else if (!strcmp(verb, "info")) {
		status = cmd_info(&p, argv[optind]);
	} else if (!strcmp(verb, "tools")) {
		status = cmd_tools(&p);
	} else if (!strcmp(verb, "config")) {
		status = cmd_config(&p);
	} else if (!strcmp(verb, "test")) {
		status = cmd_test(&p, argv[optind]);
	} else if (!strcmp(verb, "doctor")) {
		status = cmd_doctor(&p, argv[optind]);
	} else if (json_out) {
		json_object *dirs = json_object_new_array();

		for (i = 0; i < p.npath; i++)
			json_object_array_add(dirs, json_object_new_string(p.path[i]));
		puts(fm_json_str(dirs));
		json_object_put(dirs);
		status = FM_EXIT_OK;
	} else {
		for (i = 0; i < p.npath; i++)
			puts(p.path[i]);
		status = FM_EXIT_OK;
	}
	fm_plugins_release(&p);
	return fm_close_stdout() ? FM_EXIT_FAILED : status;
}
