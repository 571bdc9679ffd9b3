/*
 * filmeto-plugin new and test through the library: a plugin scaffolded
 * in each language passes its own self-test as generated (the C one once
 * built with make), names and directories are refused when they must be,
 * and the self-test fails a plugin that dies before it is ready or whose
 * example does not end as expected.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filmeto.h"
#include "plugin_scaffold.h"
#include "tap.h"

/* Every check the self-test reports, one "ok NAME: DETAIL" line each. */
struct report {
	char *text;
	int n;
};

static void collect(void *ctx, const char *check, int ok, const char *detail)
{
	struct report *r = ctx;
	char *line = fm_xasprintf("%s%s %s: %s\n", r->text ? r->text : "", ok ? "ok" : "FAIL",
				  check, detail ? detail : "");

	free(r->text);
	r->text = line;
	r->n++;
}

/* The source tree: test-lib lives in tests/unit/. */
static char *source_root(void)
{
	char *exe = fm_exe_dir(), *up = exe ? fm_xasprintf("%s/../..", exe) : NULL;
	char *root = up ? realpath(up, NULL) : NULL;

	free(up);
	free(exe);
	return root;
}

/* Self-tests the plugin in dir; the failures, or -2 when it would not load. */
static int selftest(const char *dir, struct report *r)
{
	struct fm_error e = FM_ERROR_INIT;
	struct fm_manifest m;
	int rc = -2;

	memset(r, 0, sizeof(*r));
	fm_manifest_init(&m);
	if (fm_manifest_load(&m, dir, &e) == 0)
		rc = fm_plugin_selftest(&m, collect, r, &e);
	else
		tap_diag("%s", e.message);
	fm_manifest_release(&m);
	fm_error_release(&e);
	return rc;
}

static int has_temp_dirs(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *de;
	int found = 0;

	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".new-"))
			found = 1;
	if (d)
		closedir(d);
	return found;
}

static void test_new_lang(const char *tmp, const char *root, const char *lang)
{
	struct fm_error e = FM_ERROR_INIT;
	char *dir = NULL, *name = fm_xasprintf("hello-%s", lang), *want, *cmd;
	struct report r;
	int rc;

	rc = fm_plugin_scaffold(name, lang, tmp, &dir, &e);
	OK(rc == 0, "scaffold: new %s plugin (%s)", lang, e.message);
	if (rc < 0)
		goto out;
	want = fm_xasprintf("%s/%s", tmp, name);
	IS_STR(dir, want, "scaffold: %s: *dir is PARENT/NAME", lang);
	free(want);
	if (!strcmp(lang, "c")) {
		cmd = fm_xasprintf("make -s -C '%s' FILMETO_ROOT='%s' >/dev/null", dir, root);
		IS_INT(system(cmd), 0, "scaffold: the c plugin builds with make");
		free(cmd);
	}
	IS_INT(selftest(dir, &r), 0, "scaffold: the %s plugin passes its self-test", lang);
	IS_INT(r.n, 4, "scaffold: %s: ready, get_info, ping and one example are checked", lang);
	HAS(r.text, "ok example text2text #1: success, 1 output file",
	    "scaffold: %s: the example writes one file", lang);
	if (r.text && strstr(r.text, "FAIL"))
		tap_diag("%s", r.text);
	free(r.text);
out:
	fm_error_release(&e);
	free(dir);
	free(name);
}

static void test_refused(const char *tmp)
{
	struct fm_error e = FM_ERROR_INIT;
	char *dir = (char *)"x", *path;
	struct stat st;

	OK(fm_plugin_scaffold("../evil", "sh", tmp, &dir, &e) < 0 && !dir,
	   "scaffold: a name that is not an id is refused");
	IS_INT(e.code, FM_VALIDATION_ERROR, "scaffold: a bad name is a VALIDATION_ERROR");
	HAS(e.message, "'../evil' is not a valid plugin name", "scaffold: the message names it");
	OK(fm_plugin_scaffold("ok", "cobol", tmp, &dir, &e) < 0, "scaffold: an unknown language");
	HAS(e.message, "'cobol'", "scaffold: the message names the language");

	path = fm_xasprintf("%s/taken", tmp);
	mkdir(path, 0777);
	OK(fm_plugin_scaffold("taken", "sh", tmp, &dir, &e) < 0 && !dir,
	   "scaffold: an existing directory is refused");
	HAS(e.message, "already exists", "scaffold: the message says it exists");
	path = fm_xrealloc(path, strlen(path) + 16);
	strcat(path, "/plugin.yaml");
	OK(stat(path, &st) < 0, "scaffold: the existing directory is left untouched");
	OK(!has_temp_dirs(tmp), "scaffold: no temporary directory is left behind");
	free(path);
	fm_error_release(&e);
}

/* The self-test against plugins that fail it. */
static void test_selftest_fails(const char *tmp)
{
	struct fm_error e = FM_ERROR_INIT;
	char *dir = fm_xasprintf("%s/dies", tmp), *path;
	struct report r;

	mkdir(dir, 0777);
	free(write_file(dir, "plugin.yaml",
			"name: dies\nversion: 1.0.0\n"
			"command: [sh, -c, 'echo going away >&2; exit 3']\n"
			"tools:\n  - name: text2text\n    examples:\n      - parameters: {}\n"));
	IS_INT(selftest(dir, &r), 4,
	       "selftest: a plugin that exits before ready fails every check");
	HAS(r.text, "FAIL ready: closed its output; the plugin exited with status 3",
	    "selftest: ready says how the plugin ended");
	HAS(r.text, "going away", "selftest: and what it said on stderr");
	HAS(r.text, "FAIL ping: not reached", "selftest: later checks are not reached");
	HAS(r.text, "FAIL example text2text #1: not reached", "selftest: examples too");
	free(r.text);
	free(dir);

	dir = NULL;
	if (fm_plugin_scaffold("raises", "python", tmp, &dir, &e) == 0) {
		path = fm_xasprintf("%s/main.py", dir);
		remove(path);
		free(path);
		free(write_file(dir, "main.py",
				"from filmeto_plugin import BasePlugin, run\n"
				"class P(BasePlugin):\n"
				"    name = 'raises'\n"
				"    def execute_task(self, task, progress):\n"
				"        raise RuntimeError('out of ink')\n"
				"run(P())\n"));
		IS_INT(selftest(dir, &r), 1, "selftest: an example that errors fails alone");
		HAS(r.text,
		    "FAIL example text2text #1: expected status success, got error: out of ink",
		    "selftest: the detail has the plugin's error message");
		HAS(r.text, "ok ping", "selftest: the other checks still pass");
		free(r.text);
	} else {
		OK(0, "selftest: scaffold raises (%s)", e.message);
	}
	free(dir);
	fm_error_release(&e);
}

void test_scaffold(void)
{
	char *tmp = tmp_dir(), *root = source_root(), *sdk;

	if (!root) {
		OK(0, "scaffold: cannot find the source tree");
		return;
	}
	sdk = fm_xasprintf("%s/share/filmeto/sdk/python", root);
	setenv("FILMETO_SDK_DIR", sdk, 0);
	test_new_lang(tmp, root, "python");
	test_new_lang(tmp, root, "sh");
	test_new_lang(tmp, root, "c");
	test_refused(tmp);
	test_selftest_fails(tmp);
	rm_rf(tmp);
	free(tmp);
	free(sdk);
	free(root);
}
