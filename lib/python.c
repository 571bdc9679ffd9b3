/*
 * Python plugins (python.h): the interpreter, the requirements, and a
 * check of the requirements against the interpreter.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fs.h"
#include "proc.h"
#include "python.h"
#include "util.h"
#include "yaml.h"

/* Most the check may print. */
#define CHECK_OUT_MAX (256 * 1024)

static int bare_python(const char *s)
{
	return s && (!strcmp(s, "python3") || !strcmp(s, "python"));
}

int fm_python_plugin(const struct fm_manifest *m)
{
	/* a runtime: said aloud wins: node's main.js beside a main.py is node's */
	if (m->runtime)
		return !strcmp(m->runtime, "python");
	return m->argv && bare_python(m->argv[0]);
}

void fm_python_release(struct fm_python *py)
{
	free(py->path);
	free(py->why);
	memset(py, 0, sizeof(*py));
}

static int executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* name searched in PATH, malloc'd; NULL when not there. */
static char *search_path(const char *name)
{
	const char *path = getenv("PATH"), *p, *colon;
	char *cand;

	for (p = path ? path : ""; *p; p = *colon ? colon + 1 : colon) {
		colon = strchrnul(p, ':');
		cand = fm_xasprintf("%.*s/%s", (int)(colon - p), colon > p ? p : ".", name);
		if (executable_file(cand))
			return cand;
		free(cand);
	}
	return NULL;
}

/* The config's python: for m (plugins.NAME.python, then python:); 1 when there is none. */
static int config_python(const struct fm_manifest *m, struct fm_python *py, struct fm_error *err)
{
	struct fm_config c;
	json_object *v = NULL, *sec;
	char field[200];
	const char *s;
	int rc = 1;

	if (fm_config_load(&c, err) < 0)
		return -1;
	sec = fm_config_plugin(&c, m->name);
	if (sec && json_object_object_get_ex(sec, "python", &v) && v) {
		snprintf(field, sizeof(field), "plugins.%.150s.python", m->name);
	} else if (json_object_object_get_ex(c.root, "python", &v) && v) {
		snprintf(field, sizeof(field), "python");
	} else {
		fm_config_release(&c);
		return 1;
	}
	s = json_object_get_string(v);
	if (!json_object_is_type(v, json_type_string) || !*s) {
		rc = fm_error(err, FM_VALIDATION_ERROR,
			      "%s:%d: %s: must be the path of a Python interpreter (a string)",
			      c.path, fm_yaml_line(v) ? fm_yaml_line(v) : fm_yaml_line(c.root),
			      field);
	} else if (strchr(s, '/') ? !executable_file(s) : !(py->path = search_path(s))) {
		rc = fm_error(err, FM_VALIDATION_ERROR, "%s: %s: '%s' is not an executable file%s",
			      c.path, field, s, strchr(s, '/') ? "" : " on PATH");
	} else {
		if (!py->path)
			py->path = fm_abspath(s);
		py->from = FM_PYTHON_CONFIG;
		py->why = fm_xasprintf("config python: (%s, %s)", c.path, field);
		rc = 0;
	}
	fm_config_release(&c);
	return rc;
}

int fm_python_choose(const struct fm_manifest *m, int venv, struct fm_python *py,
		     struct fm_error *err)
{
	int rc;

	memset(py, 0, sizeof(*py));
	if (venv) {
		char *p = fm_xasprintf("%s/.venv/bin/python3", m->dir);

		if (access(p, X_OK) == 0) {
			py->path = p;
			py->from = FM_PYTHON_VENV;
			py->why = fm_xstrdup(".venv");
			return 0;
		}
		free(p);
	}
	rc = config_python(m, py, err);
	if (rc <= 0) {
		if (rc < 0)
			fm_python_release(py);
		return rc;
	}
	py->path = search_path("python3");
	if (!py->path)
		py->path = fm_xstrdup("python3");
	py->from = FM_PYTHON_PATH;
	py->why = fm_xstrdup("python3 on PATH");
	return 0;
}

/* One line of requirements.txt, trimmed; NULL when it names no package by name. */
static const char *requirement_line(char *s)
{
	char *hash = strchr(s, '#'), *end;

	/* "#" starts a comment at the start or after white space */
	while (hash && hash != s && hash[-1] != ' ' && hash[-1] != '\t')
		hash = strchr(hash + 1, '#');
	if (hash)
		*hash = '\0';
	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	/* options (-r, --no-index, -e), paths and URLs name no distribution to look up */
	if (!*s || *s == '-' || *s == '.' || *s == '/' || strstr(s, "://") || strchr(s, '\\'))
		return NULL;
	return s;
}

int fm_python_requirements(const struct fm_manifest *m, json_object **out, struct fm_error *err)
{
	char *path = fm_xasprintf("%s/requirements.txt", m->dir), *buf = NULL, *line, *save = NULL;
	size_t i, len;
	const char *r;

	*out = json_object_new_array();
	for (i = 0; m->req_packages && i < json_object_array_length(m->req_packages); i++)
		json_object_array_add(
		    *out, json_object_get(json_object_array_get_idx(m->req_packages, i)));
	if (access(path, F_OK) != 0) {
		free(path);
		return 0;
	}
	if (fm_read_file(path, FM_REQUIREMENTS_MAX, &buf, &len, err) < 0) {
		free(path);
		return -1;
	}
	if (memchr(buf, '\0', len)) {
		fm_error(err, FM_VALIDATION_ERROR, "%s: is not a text file", path);
		free(buf);
		free(path);
		return -1;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!(r = requirement_line(line)))
			continue;
		/* pillow>=9.0.0 in both the manifest and requirements.txt: once */
		for (i = 0; i < json_object_array_length(*out); i++)
			if (!strcasecmp(r,
					json_object_get_string(json_object_array_get_idx(*out, i))))
				break;
		if (i == json_object_array_length(*out))
			json_object_array_add(*out, json_object_new_string(r));
	}
	free(buf);
	free(path);
	return 0;
}

char **fm_env_without_secrets(void)
{
	size_t i, n = 0;
	char **env;

	for (i = 0; environ[i]; i++)
		;
	env = fm_xcalloc(i + 1, sizeof(*env));
	for (i = 0; environ[i]; i++) {
		const char *eq = strchr(environ[i], '=');
		char *name;

		if (!eq)
			continue;
		name = fm_xstrndup(environ[i], (size_t)(eq - environ[i]));
		if (!fm_secret_name(name))
			env[n++] = environ[i];
		free(name);
	}
	return env;
}

/*
 * Our own script, run with -I: the version of each distribution named,
 * compared with its specifier where the packaging module (or pip's copy
 * of it) is there to compare with.
 */
static const char check_script[] =
    "import sys, json, re, platform\n"
    "import importlib.metadata as md\n"
    "S = R = None\n"
    "try:\n"
    "    from packaging.specifiers import SpecifierSet as S\n"
    "    from packaging.requirements import Requirement as R\n"
    "except Exception:\n"
    "    try:\n"
    "        from pip._vendor.packaging.specifiers import SpecifierSet as S\n"
    "        from pip._vendor.packaging.requirements import Requirement as R\n"
    "    except Exception:\n"
    "        pass\n"
    "def fits(spec, v):\n"
    "    if not spec:\n"
    "        return True\n"
    "    if S is None:\n"
    "        return None\n"
    "    try:\n"
    "        return S(spec).contains(v, prereleases=True)\n"
    "    except Exception:\n"
    "        return None\n"
    "v = platform.python_version()\n"
    "rp = sys.argv[1].strip()\n"
    "if rp[:1].isdigit():\n"
    "    rp = '>=' + rp\n"
    "out = {'version': v, 'executable': sys.executable, 'python_ok': fits(rp, v),\n"
    "       'compared': S is not None, 'packages': []}\n"
    "for r in sys.argv[2:]:\n"
    "    name = re.match(r'[A-Za-z0-9._-]*', r).group(0)\n"
    "    spec, needed = '', True\n"
    "    if R is not None:\n"
    "        try:\n"
    "            q = R(r)\n"
    "            name, spec = q.name, str(q.specifier)\n"
    "            needed = q.marker is None or q.marker.evaluate()\n"
    "        except Exception:\n"
    "            pass\n"
    "    e = {'requirement': r, 'name': name, 'installed': None, 'ok': not needed}\n"
    "    if needed:\n"
    "        try:\n"
    "            e['installed'] = md.version(name)\n"
    "            e['ok'] = fits(spec, e['installed']) is not False\n"
    "        except Exception:\n"
    "            pass\n"
    "    out['packages'].append(e)\n"
    "print(json.dumps(out))\n";

/* Reads what the child prints until it ends or time runs out. */
static int collect(struct fm_proc *p, struct fm_buf *out, double end)
{
	char buf[4096];
	ssize_t n;

	while (p->out >= 0) {
		struct pollfd fd = {p->out, POLLIN, 0};
		double left = end - fm_now();

		if (left <= 0)
			return -1;
		if (poll(&fd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(p->out, buf, sizeof(buf));
		if (n > 0 && out->len + (size_t)n <= CHECK_OUT_MAX) {
			fm_buf_add(out, buf, (size_t)n);
		} else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0) {
			close(p->out);
			p->out = -1;
		}
	}
	return fm_proc_wait(p, end - fm_now() > 0 ? end - fm_now() : 0) ? 0 : -1;
}

int fm_python_check(const char *python, const char *req_python, json_object *reqs,
		    json_object **out, struct fm_error *err)
{
	size_t i, n = json_object_array_length(reqs);
	char **argv = fm_xcalloc(n + 6, sizeof(char *)), **env = fm_env_without_secrets(), how[128];
	struct fm_buf text = FM_BUF_INIT;
	struct fm_proc p;
	int rc = -1, ok;

	*out = NULL;
	argv[0] = (char *)python;
	argv[1] = "-I";
	argv[2] = "-c";
	argv[3] = (char *)check_script;
	argv[4] = (char *)(req_python ? req_python : "");
	for (i = 0; i < n; i++)
		argv[5 + i] = (char *)json_object_get_string(json_object_array_get_idx(reqs, i));
	if (fm_proc_spawn(&p, argv, "/", env, err) < 0)
		goto out;
	close(p.in);
	p.in = -1;
	ok = collect(&p, &text, fm_now() + FM_PYTHON_CHECK_TIMEOUT) == 0;
	if (!ok) {
		fm_proc_signal(&p, SIGKILL);
		fm_proc_wait(&p, 5.0);
	}
	fm_proc_stop(&p, 0);
	fm_proc_describe(&p, how, sizeof(how));
	if (!ok)
		fm_error(err, FM_TIMEOUT_ERROR, "'%s' did not answer within %g s", python,
			 FM_PYTHON_CHECK_TIMEOUT);
	else if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0)
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "'%s' could not look up packages (Python 3.8 or later is needed): it %s",
			 python, how);
	else if (fm_json_parse(text.s ? text.s : "", text.len, out, err) < 0 ||
		 !json_object_is_type(*out, json_type_object))
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "'%s' answered the package check with "
			 "something other than its report",
			 python);
	else
		rc = 0;
	if (rc < 0 && *out) {
		json_object_put(*out);
		*out = NULL;
	}
out:
	fm_buf_release(&text);
	free(argv);
	free(env);
	return rc;
}
