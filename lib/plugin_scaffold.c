/*
 * filmeto-plugin new and test. A new plugin is written whole into a
 * hidden temporary directory beside its final place and renamed there
 * only once every file is in, so a failure leaves nothing half-made and
 * an existing directory is never touched. The self-test is a small host:
 * it starts the plugin as filmeto-run would (host.h), in a scratch output
 * directory, and checks each step of the protocol (DESIGN §3) with a
 * deadline, reading the plugin's stderr all along so it never blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "host.h"
#include "rpc.h"
#include "plugin_scaffold.h"
#include "util.h"

/* Seconds the self-test gives get_info and ping. */
#define FM_SELFTEST_TIMEOUT 10.0
/* Stderr lines of the plugin quoted in a failed check's detail. */
#define FM_SELFTEST_STDERR 3
/* Largest SDK file copied into a new plugin. */
#define FM_SDK_MAX (1024 * 1024)

#ifndef FM_PREFIX
#define FM_PREFIX "/usr/local"
#endif

/* --- templates: @NAME@ is the plugin's name ------------------------------ */

static const char manifest_yaml[] =
    "# @NAME@: a filmeto plugin; see filmeto-plugin.yaml(5).\n"
    "name: \"@NAME@\"\n"
    "version: 0.1.0\n"
    "description: Writes its text into out.txt, upper-cased when asked to shout\n"
    "@RUN@\n"
    "tools:\n"
    "  - name: text2text\n"
    "    description: Writes the text into out.txt\n"
    "    parameters:\n"
    "      - {name: text, type: string, required: true, description: the text to write}\n"
    "      - {name: shout, type: boolean, default: false, description: upper-case the text}\n"
    "    # Run by `filmeto-plugin test`: each example's parameters, and the\n"
    "    # status its result must have.\n"
    "    examples:\n"
    "      - parameters: {text: hello}\n"
    "        expect: {status: success}\n";

static const char py_main[] =
    "#!/usr/bin/env python3\n"
    "\"\"\"@NAME@: a filmeto plugin written with the Python SDK, filmeto_plugin.py,\n"
    "copied next to this file (its docstring has the whole API).\n"
    "\n"
    "Its one tool, text2text, writes the text into out.txt, upper-cased when\n"
    "shout is true. `filmeto-plugin test DIR` runs the example of plugin.yaml.\n"
    "\"\"\"\n"
    "\n"
    "import os\n"
    "\n"
    "from filmeto_plugin import BasePlugin, run\n"
    "\n"
    "\n"
    "class Plugin(BasePlugin):\n"
    "    name = \"@NAME@\"\n"
    "    version = \"0.1.0\"\n"
    "    description = \"Writes its text into out.txt, upper-cased when asked to shout\"\n"
    "\n"
    "    def execute_task(self, task_data, progress_callback):\n"
    "        params = task_data.get(\"parameters\") or {}\n"
    "        text = params.get(\"text\")\n"
    "        if not isinstance(text, str):\n"
    "            return {\"status\": \"error\",\n"
    "                    \"error_message\": \"parameter 'text' is required\"}\n"
    "        if params.get(\"shout\"):\n"
    "            text = text.upper()\n"
    "        progress_callback(10, \"writing out.txt\")\n"
    "        path = os.path.join(task_data[\"output_dir\"], \"out.txt\")\n"
    "        with open(path, \"w\", encoding=\"utf-8\") as f:\n"
    "            f.write(text + \"\\n\")\n"
    "        progress_callback(100, \"done\")\n"
    "        return {\"status\": \"success\", \"output_files\": [path]}\n"
    "\n"
    "\n"
    "if __name__ == \"__main__\":\n"
    "    run(Plugin())\n";

static const char sh_plugin[] =
    "#!/bin/sh\n"
    "# @NAME@: a filmeto plugin in POSIX sh (see filmeto-protocol(7)).\n"
    "#\n"
    "# One JSON-RPC 2.0 message per line on stdin, answers on stdout, the log\n"
    "# on stderr. The JSON is taken apart with sed, which is enough for the\n"
    "# compact one-line messages filmeto sends; a plugin with richer input\n"
    "# wants a language with a JSON parser.\n"
    "\n"
    "INFO='{\"name\":\"@NAME@\",\"version\":\"0.1.0\",\"creates_output_dir\":true}'\n"
    "\n"
    "# member KEY LINE: the value of the string member KEY, still escaped.\n"
    "member() {\n"
    "\tprintf '%s\\n' \"$2\" |\n"
    "\t\tsed -n 's/.*\"'\"$1\"'\":\"\\([^\"\\\\]*\\(\\\\.[^\"\\\\]*\\)*\\)\".*/\\1/p'\n"
    "}\n"
    "\n"
    "# unescape TEXT: a JSON string's escapes made bytes (\\uXXXX aside).\n"
    "unescape() {\n"
    "\tprintf '%b' \"$(printf '%s\\n' \"$1\" | sed -e 's/\\\\\"/\"/g' -e 's|\\\\/|/|g')\"\n"
    "}\n"
    "\n"
    "# request_id LINE: the id, raw (a number or a quoted string); empty for a\n"
    "# notification. filmeto puts it last, after the params.\n"
    "request_id() {\n"
    "\tprintf '%s\\n' \"$1\" |\n"
    "\t\tsed -n -e 's/.*\"id\":\\(-\\{0,1\\}[0-9][0-9]*\\).*/\\1/p' -e t \\\n"
    "\t\t\t-e 's/.*\"id\":\\(\"[^\"\\\\]*\"\\).*/\\1/p'\n"
    "}\n"
    "\n"
    "# method LINE: looked for before the params, which may hold any key.\n"
    "method() {\n"
    "\tprintf '%s\\n' \"$1\" | sed -e 's/\"params\":.*//' |\n"
    "\t\tsed -n 's/.*\"method\":\"\\([^\"\\\\]*\\)\".*/\\1/p'\n"
    "}\n"
    "\n"
    "answer() { # ID RESULT\n"
    "\tprintf '{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\\n' \"$1\" \"$2\"\n"
    "}\n"
    "\n"
    "progress() { # TASK PERCENT MESSAGE\n"
    "\tfmt='{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":{\"task_id\":\"%s\",'\n"
    "\tfmt=$fmt'\"type\":\"progress\",\"percent\":%s,\"message\":\"%s\",'\n"
    "\tfmt=$fmt'\"timestamp\":\"%s\",\"data\":{}}}\\n'\n"
    "\tprintf \"$fmt\" \"$1\" \"$2\" \"$3\" \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n"
    "}\n"
    "\n"
    "finish() { # ID TASK FILES [ERROR]: the result of execute_task\n"
    "\tstatus=success\n"
    "\t[ -z \"$4\" ] || status=error\n"
    "\tr=\"{\\\"task_id\\\":\\\"$2\\\",\\\"status\\\":\\\"$status\\\",\"\n"
    "\tanswer \"$1\" \"$r\\\"output_files\\\":[$3],\\\"error_message\\\":\\\"$4\\\"}\"\n"
    "}\n"
    "\n"
    "shout() {\n"
    "\ttr '[:lower:]' '[:upper:]'\n"
    "}\n"
    "\n"
    "execute() { # ID LINE\n"
    "\ttask=$(member task_id \"$2\")\n"
    "\tcase $2 in\n"
    "\t*'\"text\":\"'*) ;;\n"
    "\t*) finish \"$1\" \"$task\" '' \"parameter 'text' is required\"; return ;;\n"
    "\tesac\n"
    "\tcase $2 in\n"
    "\t*'\"shout\":true'*) filter=shout ;;\n"
    "\t*) filter=cat ;;\n"
    "\tesac\n"
    "\tdir=$(unescape \"$(member output_dir \"$2\")\")\n"
    "\tprogress \"$task\" 10 'writing out.txt'\n"
    "\tif mkdir -p \"$dir\" &&\n"
    "\t\t{ unescape \"$(member text \"$2\")\" | $filter && echo; } >\"$dir/out.txt\"; then\n"
    "\t\tprogress \"$task\" 100 done\n"
    "\t\tfinish \"$1\" \"$task\" '\"out.txt\"'\n"
    "\telse\n"
    "\t\tfinish \"$1\" \"$task\" '' 'cannot write out.txt'\n"
    "\tfi\n"
    "}\n"
    "\n"
    "printf '{\"jsonrpc\":\"2.0\",\"method\":\"ready\",\"params\":%s}\\n' \"$INFO\"\n"
    "while IFS= read -r line; do\n"
    "\tid=$(request_id \"$line\")\n"
    "\tcase $(method \"$line\") in\n"
    "\tshutdown) break ;;\n"
    "\tping) [ -z \"$id\" ] || answer \"$id\" '{\"status\":\"pong\"}' ;;\n"
    "\tget_info) [ -z \"$id\" ] || answer \"$id\" \"$INFO\" ;;\n"
    "\texecute_task) [ -z \"$id\" ] || execute \"$id\" \"$line\" ;;\n"
    "\t*)\n"
    "\t\t[ -z \"$id\" ] || printf '%s%s%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":' \"$id\" \\\n"
    "\t\t\t',\"error\":{\"code\":-32601,\"message\":\"no such method\"}}'\n"
    "\t\t;;\n"
    "\tesac\n"
    "done\n"
    "exit 0\n";

static const char c_plugin[] =
    "/*\n"
    " * @NAME@: a filmeto plugin in C, built on the plugin SDK of libfilmeto\n"
    " * (sdk.h). Its one tool, text2text, writes the text into out.txt,\n"
    " * upper-cased when shout is true.\n"
    " */\n"
    "#include <ctype.h>\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "\n"
    "#include \"filmeto.h\"\n"
    "\n"
    "static int write_text(const char *path, const char *text, int shout)\n"
    "{\n"
    "\tFILE *f = fopen(path, \"w\");\n"
    "\tconst char *p;\n"
    "\tint failed;\n"
    "\n"
    "\tif (!f)\n"
    "\t\treturn -1;\n"
    "\tfor (p = text; *p; p++)\n"
    "\t\tputc(shout ? toupper((unsigned char)*p) : *p, f);\n"
    "\tputc('\\n', f);\n"
    "\tfailed = ferror(f);\n"
    "\treturn fclose(f) != 0 || failed ? -1 : 0;\n"
    "}\n"
    "\n"
    "static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task,\n"
    "\t\t   const char *output_dir, struct fm_result *res)\n"
    "{\n"
    "\tconst char *text = fm_json_get_string(task->parameters, \"text\");\n"
    "\tjson_object *shout = fm_json_get(task->parameters, \"shout\", json_type_boolean);\n"
    "\tchar *path;\n"
    "\tint rc;\n"
    "\n"
    "\tif (!text)\n"
    "\t\treturn fm_error(&res->error, FM_VALIDATION_ERROR, \"parameter 'text' is required\");\n"
    "\tfm_plugin_progress(ctx, 10, NULL, \"writing out.txt\");\n"
    "\tif (fm_mkdirs(output_dir, &res->error) < 0)\n"
    "\t\treturn -1;\n"
    "\tpath = fm_xasprintf(\"%s/out.txt\", output_dir);\n"
    "\trc = write_text(path, text, shout && json_object_get_boolean(shout));\n"
    "\tif (rc < 0)\n"
    "\t\tfm_error(&res->error, FM_PLUGIN_EXECUTION_ERROR, \"cannot write '%s':\", path);\n"
    "\telse\n"
    "\t\trc = fm_result_add_output(res, path, &res->error);\n"
    "\tfree(path);\n"
    "\tif (rc == 0)\n"
    "\t\tfm_plugin_progress(ctx, 100, NULL, \"done\");\n"
    "\treturn rc;\n"
    "}\n"
    "\n"
    "static const struct fm_plugin_def def = {\"@NAME@\", \"0.1.0\", execute};\n"
    "\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "\treturn fm_plugin_main(argc, argv, &def);\n"
    "}\n";

static const char c_makefile[] =
    "# @NAME@: a filmeto plugin in C. `make` builds ./@NAME@ against\n"
    "# libfilmeto: from a filmeto build tree (the directory where `make` built\n"
    "# lib/libfilmeto.a) when FILMETO_ROOT names one, else from an installed\n"
    "# filmeto, found with `pkg-config filmeto` (set PKG_CONFIG_PATH to\n"
    "# PREFIX/lib/pkgconfig when it is not found).\n"
    "@ROOT@\n"
    "CC = cc\n"
    "CFLAGS = -O2 -g -Wall -Wextra\n"
    "PKG_CONFIG = pkg-config\n"
    "FILMETO_PKGS = json-c yaml-0.1 nettle libcurl\n"
    "\n"
    "ifneq ($(FILMETO_ROOT),)\n"
    "FILMETO_CFLAGS = -iquote $(FILMETO_ROOT)/lib $(shell $(PKG_CONFIG) --cflags $(FILMETO_PKGS))\n"
    "FILMETO_LIBS = $(FILMETO_ROOT)/lib/libfilmeto.a \\\n"
    "\t$(shell $(PKG_CONFIG) --libs $(FILMETO_PKGS)) -lm\n"
    "else\n"
    "FILMETO_CFLAGS = $(shell $(PKG_CONFIG) --cflags filmeto)\n"
    "FILMETO_LIBS = $(shell $(PKG_CONFIG) --libs filmeto)\n"
    "endif\n"
    "\n"
    "@NAME@: @NAME@.c\n"
    "\t@test -n \"$(FILMETO_ROOT)\" || $(PKG_CONFIG) --exists filmeto || \\\n"
    "\t\t{ echo 'pkg-config finds no filmeto: set PKG_CONFIG_PATH to' \\\n"
    "\t\t'PREFIX/lib/pkgconfig, or FILMETO_ROOT to a filmeto build tree' >&2; exit 2; }\n"
    "\t$(CC) $(CFLAGS) $(FILMETO_CFLAGS) -o $@ @NAME@.c $(FILMETO_LIBS) $(LDFLAGS)\n"
    "\n"
    "clean:\n"
    "\trm -f @NAME@\n"
    "\n"
    ".PHONY: clean\n";

/* --- new ----------------------------------------------------------------- */

/* Appends tmpl with every @KEY@ of keys (pairs, NULL-ended) replaced. */
static void expand(struct fm_buf *out, const char *tmpl, const char *const *keys)
{
	const char *p = tmpl;

	while (*p) {
		const char *const *k;
		const char *val = NULL;
		size_t klen = 0, vlen;

		for (k = keys; *p == '@' && k[0]; k += 2) {
			klen = strlen(k[0]);
			if (!strncmp(p, k[0], klen)) {
				val = k[1];
				break;
			}
		}
		if (!val) {
			val = p;
			klen = vlen = 1;
		} else {
			vlen = strlen(val);
		}
		fm_buf_add(out, val, vlen);
		p += klen;
	}
}

/* Creates dir/file (which must not exist) holding text. */
static int put_file(const char *dir, const char *file, const char *text, mode_t mode,
		    struct fm_error *err)
{
	char *path = fm_xasprintf("%s/%s", dir, file);
	size_t off = 0, len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), rc = 0;

	if (fd < 0) {
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", path);
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc =
			    fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", path);
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", path);
out:
	free(path);
	return rc;
}

static int put_expanded(const char *dir, const char *file, const char *tmpl,
			const char *const *keys, mode_t mode, struct fm_error *err)
{
	struct fm_buf text = FM_BUF_INIT;
	int rc;

	expand(&text, tmpl, keys);
	rc = put_file(dir, file, fm_buf_str(&text), mode, err);
	fm_buf_release(&text);
	return rc;
}

/* The directory of the Python SDK: the first that has filmeto_plugin.py. */
static char *find_sdk(void)
{
	char *exe = fm_exe_dir(), *cand[3] = {NULL, NULL, NULL}, *found = NULL;
	const char *env = getenv("FILMETO_SDK_DIR");
	size_t i;

	if (env && *env)
		cand[0] = fm_xstrdup(env);
	/* Both a build tree (cmd/) and an installed one (PREFIX/bin/). */
	if (exe)
		cand[1] = fm_xasprintf("%s/../share/filmeto/sdk/python", exe);
	cand[2] = fm_xstrdup(FM_PREFIX "/share/filmeto/sdk/python");
	for (i = 0; i < 3; i++) {
		char *file = cand[i] ? fm_xasprintf("%s/filmeto_plugin.py", cand[i]) : NULL;

		if (!found && file && access(file, R_OK) == 0)
			found = file;
		else
			free(file);
		free(cand[i]);
	}
	free(exe);
	return found;
}

static int write_python(const char *tmp, const char *const *keys, struct fm_error *err)
{
	char *sdk = find_sdk(), *text = NULL;
	size_t len;
	int rc;

	if (!sdk)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot find the Python SDK filmeto_plugin.py: set FILMETO_SDK_DIR "
				"to the directory that has it");
	rc = fm_read_file(sdk, FM_SDK_MAX, &text, &len, err);
	if (rc == 0 && strlen(text) != len)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "'%s' is not a text file", sdk);
	if (rc == 0)
		rc = put_file(tmp, "filmeto_plugin.py", text, 0644, err);
	if (rc == 0)
		rc = put_expanded(tmp, "main.py", py_main, keys, 0755, err);
	free(text);
	free(sdk);
	return rc;
}

static int write_c(const char *tmp, const char *name, const char *const *keys, struct fm_error *err)
{
	char *root = fm_build_root(), *file = fm_xasprintf("%s.c", name), *rootline;
	const char *mkeys[] = {"@NAME@", name, "@ROOT@", NULL, NULL};
	int rc;

	rootline = root ? fm_xasprintf("FILMETO_ROOT ?= %s\n", root)
			: fm_xstrdup("# Empty: the installed filmeto (pkg-config filmeto). Or a "
				     "build tree:\n# make FILMETO_ROOT=$HOME/src/filmeto\n"
				     "FILMETO_ROOT ?=\n");
	mkeys[3] = rootline;
	rc = put_expanded(tmp, file, c_plugin, keys, 0644, err);
	if (rc == 0)
		rc = put_expanded(tmp, "Makefile", c_makefile, mkeys, 0644, err);
	free(rootline);
	free(file);
	free(root);
	return rc;
}

/* Everything of the plugin, into the temporary directory tmp. */
static int write_plugin(const char *tmp, const char *name, const char *lang, struct fm_error *err)
{
	const char *keys[] = {"@NAME@", name, "@RUN@", NULL, NULL};
	char *run;
	int rc;

	if (!strcmp(lang, "python"))
		run = fm_xstrdup("runtime: python");
	else if (!strcmp(lang, "sh"))
		run = fm_xstrdup("runtime: native\ncommand: [\"sh\", \"plugin.sh\"]");
	else
		run = fm_xasprintf("runtime: native\ncommand: [\"./%s\"]", name);
	keys[3] = run;
	rc = put_expanded(tmp, "plugin.yaml", manifest_yaml, keys, 0644, err);
	free(run);
	if (rc < 0)
		return rc;
	if (!strcmp(lang, "python"))
		return write_python(tmp, keys, err);
	if (!strcmp(lang, "sh"))
		return put_expanded(tmp, "plugin.sh", sh_plugin, keys, 0755, err);
	return write_c(tmp, name, keys, err);
}

/* rename(2) that never replaces: an empty directory would be replaced. */
static int rename_new(const char *from, const char *to)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: check, then rename. */
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

int fm_plugin_scaffold(const char *name, const char *lang, const char *parent, char **dir,
		       struct fm_error *err)
{
	char *path = NULL, *tmp = NULL;
	struct stat st;
	mode_t mask;
	int rc = -1;

	*dir = NULL;
	if (!fm_id_valid(name))
		return fm_error(err, FM_VALIDATION_ERROR,
				"'%s' is not a valid plugin name: use 1 to %d of A-Z a-z 0-9 . _ "
				"- not starting with . or -",
				name ? name : "", FM_ID_MAX);
	if (!lang || (strcmp(lang, "c") && strcmp(lang, "python") && strcmp(lang, "sh")))
		return fm_error(err, FM_VALIDATION_ERROR,
				"'%s' is not a plugin language: use c, python or sh",
				lang ? lang : "");
	if (!parent || !*parent)
		parent = ".";
	path = fm_xasprintf("%s/%s", parent, name);
	if (lstat(path, &st) == 0) {
		fm_error(err, FM_VALIDATION_ERROR, "'%s' already exists", path);
		goto out;
	}
	if (fm_mkdirs(parent, err) < 0)
		goto out;
	tmp = fm_xasprintf("%s/.%s.new-XXXXXX", parent, name);
	if (!mkdtemp(tmp)) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* mkdtemp makes it 0700; a plugin directory is like any other. */
	mask = umask(0);
	umask(mask);
	if (chmod(tmp, 0777 & ~mask) < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot set the mode of '%s':", tmp);
		goto out;
	}
	if (write_plugin(tmp, name, lang, err) < 0)
		goto out;
	if (rename_new(tmp, path) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			fm_error(err, FM_VALIDATION_ERROR, "'%s' already exists", path);
		else
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				 "cannot rename '%s' to '%s':", tmp, path);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	*dir = fm_abspath(path);
	rc = 0;
out:
	if (tmp) {
		fm_tree_remove(tmp);
		free(tmp);
	}
	free(path);
	return rc;
}

/* --- test ---------------------------------------------------------------- */

struct selftest {
	const struct fm_manifest *m;
	struct fm_host h;
	fm_check_fn *report;
	void *ctx;
	char *scratch;
	int failures;
	/* Why the plugin cannot be asked anything more, once it cannot. */
	char gone[FM_ERROR_MAX];
};

static void check(struct selftest *st, const char *name, int ok, const char *detail)
{
	if (!ok)
		st->failures++;
	st->report(st->ctx, name, ok, detail);
}

/* A failed check's detail: why, and the plugin's last words on stderr. */
static void fail(struct selftest *st, const char *name, const char *why)
{
	unsigned i = st->h.ntail > FM_SELFTEST_STDERR ? st->h.ntail - FM_SELFTEST_STDERR : 0;
	struct fm_buf detail = FM_BUF_INIT;

	fm_buf_addstr(&detail, why);
	if (i < st->h.ntail)
		fm_buf_addstr(&detail, "; stderr:");
	for (; i < st->h.ntail; i++)
		fm_buf_addf(&detail, " %s%s", st->h.tail[i % FM_STDERR_TAIL],
			    i + 1 < st->h.ntail ? " |" : "");
	check(st, name, 0, fm_buf_str(&detail));
	fm_buf_release(&detail);
}

static void drain_stderr(struct selftest *st);

/* The plugin is no use any more: note why, kill it, keep its stderr. */
static void gone(struct selftest *st, const char *why)
{
	char how[128];

	if (st->gone[0])
		return;
	if (!fm_proc_wait(&st->h.proc, st->h.out.eof ? 1.0 : 0)) {
		fm_proc_signal(&st->h.proc, SIGKILL);
		fm_proc_wait(&st->h.proc, 5.0);
		drain_stderr(st);
		snprintf(st->gone, sizeof(st->gone), "%s; the plugin was stopped", why);
		return;
	}
	drain_stderr(st);
	fm_proc_describe(&st->h.proc, how, sizeof(how));
	snprintf(st->gone, sizeof(st->gone), "%s; the plugin %s", why, how);
}

static void take_stderr(struct selftest *st)
{
	enum fm_line got;
	char *line;
	size_t len;

	while ((got = fm_reader_take(&st->h.err, &line, &len)) != FM_LINE_NONE)
		fm_host_remember(&st->h, got == FM_LINE_OK ? line : "(an over-long line)");
}

/* The rest of a stopped plugin's stderr, up to a bound. */
static void drain_stderr(struct selftest *st)
{
	int rounds;

	for (rounds = 0; rounds < 64 && !st->h.err.eof; rounds++) {
		take_stderr(st);
		if (fm_reader_fill(&st->h.err) < 0)
			break;
	}
	take_stderr(st);
}

/*
 * Reads until a message satisfies want (a ready notification when id is 0,
 * else the response to id) or the deadline. Returns 1 with *msg, 0 on
 * timeout, -1 when the plugin exited or broke the protocol (st->gone).
 */
static int await_msg(struct selftest *st, int64_t id, double deadline, struct fm_rpc_msg *msg)
{
	for (;;) {
		struct fm_error perr = FM_ERROR_INIT;
		struct pollfd pfd[3];
		enum fm_line got;
		char *line, why[FM_ERROR_MAX / 2];
		size_t len;
		double left;

		take_stderr(st);
		while ((got = fm_reader_take(&st->h.out, &line, &len)) != FM_LINE_NONE) {
			if (got == FM_LINE_LONG) {
				gone(st, "sent a line over the length limit");
				return -1;
			}
			if (line[strspn(line, " \t")] != '{') {
				/* Plain text on stdout: logged by filmeto-run, not fatal. */
				if (line[strspn(line, " \t")])
					fm_host_remember(&st->h, line);
				continue;
			}
			if (fm_rpc_parse(line, len, msg, &perr) < 0) {
				snprintf(why, sizeof(why),
					 "sent something that is not JSON-RPC (%.80s)",
					 perr.message);
				fm_error_release(&perr);
				gone(st, why);
				return -1;
			}
			if (id == 0
				? msg->kind == FM_RPC_NOTIFICATION && !strcmp(msg->method, "ready")
				: (msg->kind == FM_RPC_RESULT || msg->kind == FM_RPC_ERROR) &&
				      fm_rpc_id_is(msg, id))
				return 1;
			/* Progress, heartbeats and anything else: not what we wait for. */
			fm_rpc_msg_release(msg);
		}
		if (st->h.out.eof) {
			gone(st, "closed its output");
			return -1;
		}
		if (fm_host_flush(&st->h) < 0) {
			gone(st, "stopped reading its input");
			return -1;
		}
		left = deadline - fm_now();
		if (left <= 0)
			return 0;
		pfd[0] = (struct pollfd){st->h.proc.out, POLLIN, 0};
		pfd[1] = (struct pollfd){st->h.err.eof ? -1 : st->h.proc.err, POLLIN, 0};
		pfd[2] =
		    (struct pollfd){fm_host_wants_write(&st->h) ? st->h.proc.in : -1, POLLOUT, 0};
		/* A second at most per wait: deadlines can be long. */
		if (poll(pfd, 3, left > 1 ? 1000 : (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return 0;
		if (pfd[1].revents && fm_reader_fill(&st->h.err) < 0 && errno != EAGAIN)
			st->h.err.eof = 1;
		if (pfd[0].revents && fm_reader_fill(&st->h.out) < 0 && errno != EAGAIN)
			st->h.out.eof = 1;
	}
}

/* Sends a request and waits for its answer; returns what await_msg() does. */
static int ask(struct selftest *st, const char *method, json_object *params, double timeout,
	       struct fm_rpc_msg *msg)
{
	int64_t id = st->h.next_id++;
	json_object *req = fm_rpc_request(id, method, params);

	fm_host_send(&st->h, req);
	json_object_put(req);
	return await_msg(st, id, fm_now() + timeout, msg);
}

static int check_ready(struct selftest *st)
{
	double start = fm_now();
	struct fm_error err = FM_ERROR_INIT;
	struct fm_rpc_msg msg;
	char why[FM_ERROR_MAX + 32];
	int rc;

	if (fm_host_spawn(&st->h, &err) < 0) {
		snprintf(st->gone, sizeof(st->gone), "%s", err.message);
		fm_error_release(&err);
		fail(st, "ready", st->gone);
		return -1;
	}
	rc = await_msg(st, 0, start + st->m->startup_timeout, &msg);
	if (rc == 0) {
		snprintf(st->gone, sizeof(st->gone), "no ready notification within %g s",
			 st->m->startup_timeout);
		fail(st, "ready", st->gone);
		return -1;
	}
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s before it was ready", st->gone);
		fail(st, "ready", why);
		return -1;
	}
	st->h.info = fm_json_ref_or_object(msg.params);
	snprintf(why, sizeof(why), "in %.2f s", fm_now() - start);
	check(st, "ready", 1, why);
	fm_rpc_msg_release(&msg);
	return 0;
}

/* A check that asks method and judges the answer's result with judge. */
static void check_request(struct selftest *st, const char *name, const char *method,
			  const char *(*judge)(json_object *result))
{
	char why[FM_ERROR_MAX];
	struct fm_rpc_msg msg;
	const char *bad;
	int rc;

	if (st->gone[0]) {
		check(st, name, 0, "not reached");
		return;
	}
	rc = ask(st, method, NULL, FM_SELFTEST_TIMEOUT, &msg);
	if (rc <= 0) {
		if (rc == 0)
			snprintf(why, sizeof(why), "no answer within %g s", FM_SELFTEST_TIMEOUT);
		fail(st, name, rc == 0 ? why : st->gone);
		return;
	}
	if (msg.kind == FM_RPC_ERROR) {
		snprintf(why, sizeof(why), "answered with error %lld: %.200s",
			 (long long)msg.error_code, msg.error_message ? msg.error_message : "");
		fail(st, name, why);
	} else if ((bad = judge(msg.result))) {
		fail(st, name, bad);
	} else {
		snprintf(why, sizeof(why), "%.200s", fm_json_str(msg.result));
		check(st, name, 1, why);
	}
	fm_rpc_msg_release(&msg);
}

static const char *judge_info(json_object *result)
{
	return json_object_is_type(result, json_type_object) ? NULL : "the result is not an object";
}

static const char *judge_pong(json_object *result)
{
	const char *s = fm_json_get_string(result, "status");

	return s && !strcmp(s, "pong") ? NULL : "the result is not {\"status\":\"pong\"}";
}

/* The examples of a tool: the normalized tool's, else the manifest's own. */
static json_object *tool_examples(const struct fm_manifest *m, json_object *tool)
{
	json_object *ex = fm_json_get(tool, "examples", json_type_array), *list;
	const char *name = fm_json_get_string(tool, "name");
	size_t i;

	if (ex)
		return ex;
	list = fm_json_get(m->root, "tools", json_type_array);
	if (!list)
		list = fm_json_get(m->root, "abilities", json_type_array);
	for (i = 0; list && name && i < json_object_array_length(list); i++) {
		json_object *t = json_object_array_get_idx(list, i);
		const char *n = fm_json_get_string(t, "name");

		if (!n)
			n = fm_json_get_string(t, "tool_type");
		if (n && !strcmp(n, name))
			return fm_json_get(t, "examples", json_type_array);
	}
	return NULL;
}

/* The execute_task params for an example, as filmeto-run would send them. */
static json_object *example_task(struct selftest *st, json_object *tool, json_object *params,
				 const char *id, const char *dir)
{
	json_object *t = json_object_new_object();
	const char *tname = fm_json_get_string(tool, "name");

	json_object_object_add(t, "task_id", json_object_new_string(id));
	json_object_object_add(t, "tool_name", json_object_new_string(tname));
	json_object_object_add(t, "plugin_name", json_object_new_string(st->m->name));
	json_object_object_add(t, "parameters", json_object_get(params));
	json_object_object_add(t, "resources", json_object_new_array());
	json_object_object_add(t, "timeout", fm_json_double(st->m->exec_timeout));
	json_object_object_add(t, "metadata", json_object_new_object());
	json_object_object_add(t, "output_dir", json_object_new_string(dir));
	json_object_object_add(t, "ability", json_object_new_string(tname));
	json_object_object_add(t, "attempt", json_object_new_int(1));
	return t;
}

/* Judges an example's answer: its status against want, its files. */
static void judge_example(struct selftest *st, const char *name, const char *id, const char *dir,
			  struct fm_rpc_msg *msg, const char *want)
{
	char why[FM_ERROR_MAX + 128];
	struct fm_result res;
	const char *got;

	fm_result_init(&res, id);
	if (msg->kind == FM_RPC_ERROR) {
		res.status = FM_STATUS_ERROR;
		fm_error(&res.error, FM_PLUGIN_EXECUTION_ERROR, "JSON-RPC error %lld: %s",
			 (long long)msg->error_code, msg->error_message ? msg->error_message : "");
	} else {
		fm_host_take_result(&st->h, msg->result, dir, NULL, &res);
	}
	got = res.status == FM_STATUS_SUCCESS	  ? "success"
	      : res.status == FM_STATUS_CANCELLED ? "cancelled"
						  : "error";
	if (strcmp(got, want)) {
		snprintf(why, sizeof(why), "expected status %s, got %s%s%s", want, got,
			 res.error.message[0] ? ": " : "", res.error.message);
		fail(st, name, why);
	} else if (res.status == FM_STATUS_SUCCESS) {
		snprintf(why, sizeof(why), "success, %zu output file(s)",
			 json_object_array_length(res.output_files));
		check(st, name, 1, why);
	} else {
		snprintf(why, sizeof(why), "%s as expected: %s", got, res.error.message);
		check(st, name, 1, why);
	}
	fm_result_release(&res);
}

static void check_example(struct selftest *st, json_object *tool, json_object *ex, size_t n)
{
	const char *tname = fm_json_get_string(tool, "name"), *want;
	json_object *given = fm_json_get(ex, "parameters", json_type_object), *params, *own;
	struct fm_error err = FM_ERROR_INIT;
	char name[FM_ID_MAX + 32], why[FM_ERROR_MAX + 32], *id, *dir;
	struct fm_rpc_msg msg;
	int rc;

	snprintf(name, sizeof(name), "example %s #%zu", tname, n);
	if (st->gone[0]) {
		check(st, name, 0, "not reached");
		return;
	}
	if (!json_object_is_type(ex, json_type_object)) {
		fail(st, name, "the example is not a mapping of parameters and expect");
		return;
	}
	want = fm_json_get_string(fm_json_get(ex, "expect", json_type_object), "status");
	if (!want)
		want = "success";
	id = fm_xasprintf("selftest-%s-%zu", tname, n);
	dir = fm_xasprintf("%s/%s", st->scratch, id);
	params = json_object_new_object();
	if (given) {
		json_object_object_foreach (given, key, val) {
			json_object_object_add(params, key, json_object_get(val));
		}
	}
	fm_params_fill_defaults(tool, params);
	if (fm_params_validate(tool, params, id, &err) < 0) {
		snprintf(why, sizeof(why), "the example's parameters: %s", err.message);
		fail(st, name, why);
		goto out;
	}
	own = fm_json_get(st->h.info, "creates_output_dir", json_type_boolean);
	if (!own || !json_object_get_boolean(own))
		fm_mkdirs(dir, NULL);
	rc = ask(st, "execute_task", example_task(st, tool, params, id, dir), st->m->exec_timeout,
		 &msg);
	if (rc == 0) {
		snprintf(why, sizeof(why), "no result within %g s", st->m->exec_timeout);
		gone(st, why);
		fail(st, name, why);
	} else if (rc < 0) {
		fail(st, name, st->gone);
	} else {
		judge_example(st, name, id, dir, &msg, want);
		fm_rpc_msg_release(&msg);
	}
out:
	json_object_put(params);
	fm_error_release(&err);
	free(dir);
	free(id);
}

int fm_plugin_selftest(const struct fm_manifest *m, fm_check_fn *report, void *ctx,
		       struct fm_error *err)
{
	struct selftest st = {.m = m, .report = report, .ctx = ctx};
	struct sigaction ign, old;
	const char *base = getenv("TMPDIR");
	size_t i, j;

	if (!base || !*base)
		base = "/tmp";
	st.scratch = fm_xasprintf("%s/filmeto-selftest-XXXXXX", base);
	if (!mkdtemp(st.scratch)) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", st.scratch);
		free(st.scratch);
		return -1;
	}
	/* A plugin that stops reading must mean EPIPE for us, not death. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	fm_host_init(&st.h, m);
	check_ready(&st);
	check_request(&st, "get_info", "get_info", judge_info);
	check_request(&st, "ping", "ping", judge_pong);
	for (i = 0; i < json_object_array_length(m->tools); i++) {
		json_object *tool = json_object_array_get_idx(m->tools, i);
		json_object *examples = tool_examples(m, tool);

		for (j = 0; examples && j < json_object_array_length(examples); j++)
			check_example(&st, tool, json_object_array_get_idx(examples, j), j + 1);
	}
	/* One that is already past helping gets no grace. */
	fm_host_stop(&st.h, st.gone[0] ? 0 : FM_SHUTDOWN_GRACE);
	fm_host_release(&st.h);
	sigaction(SIGPIPE, &old, NULL);
	fm_tree_remove(st.scratch);
	free(st.scratch);
	return st.failures;
}
