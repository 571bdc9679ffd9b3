/*
 * Installing plugins: unpacking tar and zip archives (libarchive) and
 * copying plugin directories under one set of safety rules, setting up a
 * plugin's isolated environment (.venv, node_modules), and moving it into
 * the user plugin directory, or out of it again.
 *
 * The rules, for archives and directories alike: no absolute paths, no
 * '..' components, no entry that goes through a symbolic link, symbolic
 * links only relative and staying inside ('..' only at their start), hard
 * links only to files earlier in the same archive, no devices, FIFOs or
 * sockets, and the bounds below. An archive is checked whole, data
 * included, before anything is written; what is written is created with
 * O_EXCL and O_NOFOLLOW under descriptors of the target directory.
 */
#ifndef FM_PLUGIN_INSTALL_H
#define FM_PLUGIN_INSTALL_H

#include <stdint.h>

#include "error.h"
#include "manifest.h"

/* What one install may unpack: in all, per file, entries, path length. */
#define FM_ARCHIVE_MAX_BYTES   (INT64_C(1) << 30)
#define FM_ARCHIVE_MAX_FILE    (INT64_C(512) << 20)
#define FM_ARCHIVE_MAX_ENTRIES 10000
#define FM_ARCHIVE_MAX_PATH    1024
/* Seconds each setup step (python3 -m venv, pip, npm) may take. */
#define FM_SETUP_TIMEOUT 600.0
/* Output lines of a failed setup step kept for the error. */
#define FM_SETUP_TAIL 10

/*
 * Unpacks the tar (plain, gzip, xz, zstd, bzip2 ...) or zip archive at
 * path into the existing directory dest. A refused archive is a
 * VALIDATION_ERROR whose message names the entry; nothing is written
 * then. Other failures leave dest partly filled: the caller removes it.
 */
int fm_archive_extract(const char *path, const char *dest, struct fm_error *err);
/*
 * Copies the directory src into the existing directory dest under the
 * same rules: regular files, directories and symbolic links that stay
 * inside. A .venv at the top of src is not copied.
 */
int fm_tree_copy(const char *src, const char *dest, struct fm_error *err);

/* $XDG_DATA_HOME/filmeto/plugins (or ~/.local/...), malloc'd; NULL when no HOME. */
char *fm_user_plugin_dir(void);

/* Progress notes of a long install ("running 'python3 -m venv .venv'"). */
typedef void fm_note_fn(void *ctx, const char *note);

/*
 * Installs the plugin in src (a directory or an archive holding the
 * plugin at its top or inside one top-level directory) into the user
 * plugin directory, as the directory named after its manifest: unpacked
 * into a temporary directory there, its manifest loaded, its environment
 * set up (a Python plugin's .venv, and the files of the package around a
 * directory source that it imports, in .filmeto-pythonpath: python.h),
 * then renamed into place. An installed plugin of that name is
 * refused unless force, then replaced. On failure nothing is left behind.
 * Sets *dir (malloc'd) to the installed directory. Refusals are
 * VALIDATION_ERROR; a failed setup step is PLUGIN_EXECUTION_ERROR with
 * details {"output": [its last lines]}.
 */
int fm_plugin_install(const char *src, int force, fm_note_fn *note, void *ctx, char **dir,
		      struct fm_error *err);
/*
 * For a signal handler (async-signal-safe): kills the running setup step
 * and makes the install in progress stop at its next entry or step, clean
 * up, and fail with TASK_CANCELLED.
 */
void fm_install_interrupt(void);
/*
 * Removes the plugin named name (manifest or directory name) from the
 * user plugin directory; sets *dir (malloc'd) to what was removed.
 * PLUGIN_NOT_FOUND when there is no such plugin anywhere; VALIDATION_ERROR
 * naming its directory when it lives elsewhere on the search path.
 */
int fm_plugin_remove(const char *name, char **dir, struct fm_error *err);
/*
 * Builds the plugin in dir with make, as install runs a setup step: in
 * its own process group, without secret variables, stopped after
 * FM_SETUP_TIMEOUT; a failure's message ends with make's last lines.
 */
int fm_plugin_build(const char *dir, struct fm_error *err);
/*
 * Whether the plugin m is built from sources beside it that are not built
 * yet: its command is a file in its directory that is missing, next to a
 * Makefile (a C plugin as `filmeto-plugin new` makes it).
 */
int fm_plugin_unbuilt(const struct fm_manifest *m);

#endif
