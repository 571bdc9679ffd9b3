/*
 * Files and directories (lib/fs.h): made with their parents, read whole
 * within a limit, written and copied through a temporary name so only a
 * whole file is ever seen, no symbolic link followed, removed whole.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filmeto.h"
#include "tap.h"

/* How many entries dir holds besides . and .., or -1. */
static long entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* The text of the file at path, or NULL. */
static char *contents(const char *path)
{
	char *buf = NULL;

	if (fm_read_file(path, 1024, &buf, NULL, NULL) < 0)
		return NULL;
	return buf;
}

static void test_fs_read_write(const char *dir)
{
	struct fm_error e = FM_ERROR_INIT;
	char *path, *buf, *big;
	size_t len;
	int p[2];

	path = fm_xasprintf("%s/a/b/c", dir);
	OK(fm_mkdirs(path, &e) == 0 && access(path, F_OK) == 0, "mkdirs: creates the parents");
	OK(fm_mkdirs(path, &e) == 0, "mkdirs: an existing directory is fine");
	free(path);
	path = write_file(dir, "f.txt", "hello");
	OK(fm_read_file(path, 100, &buf, &len, &e) == 0 && len == 5 && !strcmp(buf, "hello"),
	   "read_file: reads a whole file");
	free(buf);
	OK(fm_read_file(path, 4, &buf, &len, &e) < 0, "read_file: a file over max is refused");
	HAS(e.message, "is 5 bytes, larger than the limit of 4 bytes",
	    "read_file: the message gives the limit");
	free(path);
	path = fm_xasprintf("%s/missing", dir);
	errno = 0;
	OK(fm_read_file(path, 100, &buf, &len, &e) < 0, "read_file: a missing file fails");
	HAS(e.message, "No such file or directory", "read_file: the message has strerror");
	free(path);
	path = write_file(dir, "empty", "");
	buf = NULL;
	OK(fm_read_file(path, 100, &buf, &len, &e) == 0 && buf && !*buf && len == 0,
	   "read_file: an empty file reads as \"\"");
	free(buf);
	free(path);
	big = fm_xmalloc(100001);
	memset(big, 'b', 100000);
	big[100000] = '\0';
	path = write_file(dir, "big", big);
	buf = NULL;
	OK(fm_read_file(path, 100000, &buf, &len, &e) == 0 && len == 100000 && !strcmp(buf, big),
	   "read_file: a file of many reads, exactly max, is read whole");
	free(buf);
	OK(fm_read_file(path, 99999, &buf, &len, &e) < 0,
	   "read_file: one byte over max is refused");
	HAS(e.message, "is 100000 bytes, larger than the limit of 99999 bytes",
	    "read_file: the size, however much was read");
	free(path);
	free(big);
	OK(pipe(p) == 0 && write(p[1], "0123456789a", 11) == 11 && close(p[1]) == 0,
	   "read_fd: a pipe to read");
	OK(fm_read_fd(p[0], "pipe", 10, &buf, &len, &e) < 0, "read_fd: a pipe over max is refused");
	IS_STR(e.message, "'pipe' is larger than the limit of 10 bytes",
	       "read_fd: a pipe has no size to give");
	close(p[0]);

	path = fm_xasprintf("%s/w", dir);
	OK(fm_mkdirs(path, &e) == 0, "write_file: a folder to write in");
	free(path);
	path = fm_xasprintf("%s/w/out.txt", dir);
	OK(fm_write_file(path, "new\n", 4, &e) == 0, "write_file: writes");
	buf = contents(path);
	IS_STR(buf, "new\n", "write_file: the whole text");
	free(buf);
	OK(fm_write_file(path, "x", 1, &e) == 0, "write_file: writes again");
	buf = contents(path);
	IS_STR(buf, "x", "write_file: replaces what was there");
	free(buf);
	free(path);
	path = fm_xasprintf("%s/w", dir);
	IS_INT(entries(path), 1, "write_file: no temporary file is left");
	free(path);
	path = fm_xasprintf("%s/no/such/dir/f", dir);
	OK(fm_write_file(path, "x", 1, &e) < 0, "write_file: a missing folder fails");
	HAS(e.message, "cannot create", "write_file: the message says what it could not create");
	free(path);
	fm_error_release(&e);
}

static void test_fs_copy_remove(const char *dir)
{
	char *src = write_file(dir, "src.txt", "copy me"), *dst = fm_xasprintf("%s/dst.txt", dir);
	char *link = fm_xasprintf("%s/link.txt", dir), *tree, *deep, *out, *buf;
	struct fm_error e = FM_ERROR_INIT;

	OK(fm_copy_file(src, dst) == 0, "copy_file: copies");
	buf = contents(dst);
	IS_STR(buf, "copy me", "copy_file: the bytes are copied");
	free(buf);
	OK(fm_copy_file(src, dst) < 0 && errno == EEXIST, "copy_file: an existing dst is refused");
	OK(symlink(src, link) == 0 && fm_copy_file(link, dst) < 0,
	   "copy_file: a symbolic link as src is not followed");
	OK(fm_copy_into_place(src, link) == 0, "copy_into_place: copies over a symbolic link");
	buf = contents(link);
	IS_STR(buf, "copy me", "copy_into_place: the bytes are there");
	free(buf);
	{
		struct stat st;

		OK(lstat(link, &st) == 0 && S_ISREG(st.st_mode),
		   "copy_into_place: dst is a file of its own, not written through the link");
	}

	tree = fm_xasprintf("%s/tree", dir);
	deep = fm_xasprintf("%s/a/b", tree);
	out = fm_xasprintf("%s/a/out", tree);
	OK(fm_mkdirs(deep, &e) == 0 && symlink(src, out) == 0 && chmod(deep, 0) == 0,
	   "tree_remove: a tree with a link and an unreadable folder");
	OK(fm_tree_remove(tree) == 0 && access(tree, F_OK) < 0, "tree_remove: removes it whole");
	OK(access(src, F_OK) == 0, "tree_remove: a link's target stays");
	free(tree);
	free(deep);
	free(out);
	free(src);
	free(dst);
	free(link);
	fm_error_release(&e);
}

static void test_fs_paths(void)
{
	char *path, *old = getenv("XDG_DATA_HOME") ? fm_xstrdup(getenv("XDG_DATA_HOME")) : NULL;

	path = fm_abspath("/x/y");
	IS_STR(path, "/x/y", "abspath: an absolute path stays");
	free(path);
	path = fm_abspath("./rel");
	OK(path[0] == '/' && matches(path, "[^.]/rel$"), "abspath: ./rel becomes CWD/rel (%s)",
	   path);
	free(path);
	setenv("XDG_DATA_HOME", "/xdg", 1);
	path = fm_xdg_dir("XDG_DATA_HOME", ".local/share");
	IS_STR(path, "/xdg/filmeto", "xdg_dir: $VAR/filmeto");
	free(path);
	setenv("XDG_DATA_HOME", "", 1);
	path = fm_xdg_dir("XDG_DATA_HOME", ".local/share");
	OK(path && matches(path, "/\\.local/share/filmeto$"), "xdg_dir: else HOME/REL/filmeto (%s)",
	   path ? path : "NULL");
	free(path);
	if (old)
		setenv("XDG_DATA_HOME", old, 1);
	else
		unsetenv("XDG_DATA_HOME");
	free(old);
	path = fm_exe_dir();
	OK(path && path[0] == '/', "exe_dir: an absolute folder (%s)", path ? path : "NULL");
	free(path);
}

void test_fs(void)
{
	char *dir = tmp_dir();

	test_fs_read_write(dir);
	test_fs_copy_remove(dir);
	rm_rf(dir);
	free(dir);
	test_fs_paths();
}
