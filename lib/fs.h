/*
 * Files and directories (fs.c): where filmeto's own live (an absolute
 * path, the XDG directories, the build tree), and making, reading,
 * writing, copying and removing them whole, so that a reader never sees
 * half a file and no symbolic link is followed where one may be planted.
 */
#ifndef FM_FS_H
#define FM_FS_H

#include <stddef.h>

#include "error.h"

/* mkdir -p with mode 0777 & ~umask. */
int fm_mkdirs(const char *path, struct fm_error *err);
/* An absolute path for path (which need not exist). */
char *fm_abspath(const char *path);
/* Directory of the running executable, or NULL. */
char *fm_exe_dir(void);
/* The build tree the running binary belongs to, or NULL when installed. */
char *fm_build_root(void);
/* $VAR/filmeto, else $HOME/HOME_REL/filmeto (XDG base directories), or NULL. */
char *fm_xdg_dir(const char *var, const char *home_rel);
/* Reads a whole file of at most max bytes; NUL-terminated. */
int fm_read_file(const char *path, size_t max, char **buf, size_t *len, struct fm_error *err);
/* The same from an open fd, from where it stands; name is for messages. */
int fm_read_fd(int fd, const char *name, size_t max, char **buf, size_t *len, struct fm_error *err);
/*
 * Writes len bytes to path through a temporary file beside it, renamed
 * into place: a reader sees the old file or the new one, never half.
 * Safe to call from several threads (no umask games).
 */
int fm_write_file(const char *path, const char *data, size_t len, struct fm_error *err);
/*
 * Copies src, which must be a regular file reached through no symbolic
 * link at its end, to dst, a new file (no link followed there either):
 * a reflink where the file system allows, else copy_file_range(2). 0, or
 * -1 with errno, and no dst.
 */
int fm_copy_file(const char *src, const char *dst);
/*
 * fm_copy_file to a temporary name beside dst, renamed over dst: a
 * reader never sees half a file, and whatever was at dst (a symbolic
 * link too) is replaced, not written through. 0, or -1 with errno, and
 * no temporary file left.
 */
int fm_copy_into_place(const char *src, const char *dst);
/* rm -rf that never follows a symbolic link; 0 or -1 with errno. */
int fm_tree_remove(const char *path);

#endif
