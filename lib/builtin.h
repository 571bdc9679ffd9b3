/*
 * The executables that serve filmeto-run's built-in tools (combine:
 * filmeto-combine). They are apart from filmeto-run so that it loads
 * libav* (some 170 shared objects, ~35 ms at every start) only when a
 * film is combined, not for every task stream. One is found from the
 * running binary (/proc/self/exe), so a tree moved or installed under
 * DESTDIR works as it is: beside it first (cmd/ of a build tree), then
 * in FM_BUILTIN_DIR of its prefix, where make install puts it, off PATH.
 */
#ifndef FM_BUILTIN_H
#define FM_BUILTIN_H

#include "error.h"

/* Relative to the directory of the running binary (PREFIX/bin). */
#define FM_BUILTIN_DIR "../lib/filmeto"
/* What a helper's --version may take, in seconds, and print, in bytes. */
#define FM_BUILTIN_VERSION_TIMEOUT 10
#define FM_BUILTIN_VERSION_MAX	   4096

/*
 * The helper called name, as an absolute path; NULL with PLUGIN_NOT_FOUND
 * naming both places looked at when neither holds an executable.
 */
char *fm_builtin_path(const char *name, struct fm_error *err);
/*
 * The libraries the helper runs with, as the second line of its
 * --version says ("libavformat 59.27.100, ..."); NULL with err when it
 * is not found or does not answer.
 */
char *fm_builtin_libraries(const char *name, struct fm_error *err);

#endif
