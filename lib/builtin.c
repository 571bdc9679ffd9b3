/*
 * Finding a built-in tool's helper (builtin.h) and asking it what it
 * runs with. Nothing here links libav*: that is the point of a helper.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "fs.h"
#include "proc.h"
#include "util.h"

char *fm_builtin_path(const char *name, struct fm_error *err)
{
	char *dir = fm_exe_dir(), *beside, *installed, *path;

	if (!dir) {
		fm_error(err, FM_PLUGIN_NOT_FOUND,
			 "helper '%s' cannot be found: /proc/self/exe cannot be read", name);
		return NULL;
	}
	beside = fm_xasprintf("%s/%s", dir, name);
	installed = fm_xasprintf("%s/" FM_BUILTIN_DIR "/%s", dir, name);
	free(dir);
	if (access(beside, X_OK) == 0) {
		free(installed);
		return beside;
	}
	if (access(installed, X_OK) == 0) {
		/* "PREFIX/bin/../lib/filmeto/x" as "PREFIX/lib/filmeto/x" */
		path = realpath(installed, NULL);
		free(beside);
		if (path) {
			free(installed);
			return path;
		}
		return installed;
	}
	fm_error(err, FM_PLUGIN_NOT_FOUND,
		 "helper '%s' is missing: neither '%s' nor '%s' is an executable (make install "
		 "puts it in PREFIX/lib/filmeto)",
		 name, beside, installed);
	free(beside);
	free(installed);
	return NULL;
}

char *fm_builtin_libraries(const char *name, struct fm_error *err)
{
	char *path = fm_builtin_path(name, err), *line = NULL, *nl;
	char *argv[] = {path, "--version", NULL};
	struct fm_proc_output o = {0};

	if (!path)
		return NULL;
	/* ours: LD_LIBRARY_PATH, say, picks the libraries, as for a combine */
	if (fm_proc_run(argv, environ, FM_BUILTIN_VERSION_TIMEOUT, FM_BUILTIN_VERSION_MAX, &o,
			err) < 0) {
		free(path);
		return NULL;
	}
	/* "filmeto-combine 0.1.0 (git x)\nlibavformat ...\n": the second line */
	nl = o.out ? strchr(o.out, '\n') : NULL;
	if (o.status == 0 && nl && nl[1])
		line = fm_xstrndup(nl + 1, strcspn(nl + 1, "\n"));
	else
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "'%s --version' did not say its libraries",
			 path);
	fm_proc_output_release(&o);
	free(path);
	return line;
}
