/*
 * Python plugins: which interpreter runs one, what it declares it needs
 * (requirements: in its manifest, requirements.txt beside it), and what
 * of that its interpreter lacks.
 *
 * A plugin is a Python plugin when it says `runtime: python`, or says no
 * runtime: and its command starts with a bare `python3` or `python` (a
 * manifest with main.py and no command gets `python3 main.py`). Its interpreter is,
 * in order: its own .venv (DIR/.venv/bin/python3, which `filmeto-plugin
 * install` makes), the `python:` setting of config.yaml (plugins.NAME.python,
 * then a top-level python:), then python3 on PATH.
 */
#ifndef FM_PYTHON_H
#define FM_PYTHON_H

#include <json-c/json.h>

#include "error.h"
#include "manifest.h"

/* Largest requirements.txt read; longest the interpreter's check may take. */
#define FM_REQUIREMENTS_MAX	(64 * 1024)
#define FM_PYTHON_CHECK_TIMEOUT 30.0
/* A private folder of an installed plugin put first on its PYTHONPATH. */
#define FM_PYTHONPATH_DIR ".filmeto-pythonpath"

enum fm_python_from { FM_PYTHON_VENV, FM_PYTHON_CONFIG, FM_PYTHON_PATH };

struct fm_python {
	char *path; /* the interpreter: absolute, or "python3" when PATH has none */
	enum fm_python_from from;
	char *why; /* ".venv", "config python: (FILE, plugins.NAME.python)", "python3 on PATH" */
};

/* Whether m is a Python plugin (above). */
int fm_python_plugin(const struct fm_manifest *m);
/*
 * The interpreter for m; with venv 0 the .venv is not considered (what
 * builds it). A config python: that is not a string, or not an
 * executable file, is a VALIDATION_ERROR naming the file and field.
 */
int fm_python_choose(const struct fm_manifest *m, int venv, struct fm_python *py,
		     struct fm_error *err);
void fm_python_release(struct fm_python *py);
/*
 * What m declares it needs: requirements.packages, then the requirement
 * lines of DIR/requirements.txt (comments, blank lines, options, paths
 * and URLs skipped), as an array of strings.
 */
int fm_python_requirements(const struct fm_manifest *m, json_object **out, struct fm_error *err);
/*
 * Runs the interpreter (isolated, with no secret variables, in its own
 * process group, for at most FM_PYTHON_CHECK_TIMEOUT s) to look up each
 * requirement: *out is {"version": "3.11.2", "python_ok": true|false|null,
 * "packages": [{"requirement", "name", "installed" (or null), "ok"}]}.
 */
int fm_python_check(const char *python, const char *req_python, json_object *reqs,
		    json_object **out, struct fm_error *err);
/* The environment without variables that hold a secret (fm_secret_name); free the array only. */
char **fm_env_without_secrets(void);

#endif
