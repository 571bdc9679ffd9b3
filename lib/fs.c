/*
 * Files and directories (fs.h). Paths are malloc'd strings; an error is
 * a struct fm_error naming the file, or -1 with errno where the caller
 * words the message. Writes and copies go to a temporary name beside the
 * target and are renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "util.h"

int fm_mkdirs(const char *path, struct fm_error *err)
{
	char *p, *s;
	int rc = 0;

	/* Usually only the last component is new: one syscall, not one each. */
	if (mkdir(path, 0777) == 0 || errno == EEXIST)
		return 0;
	p = fm_xstrdup(path);

	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST) {
			rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				      "cannot create directory '%s':", p);
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

char *fm_abspath(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return fm_xstrdup(path);
	if (!strcmp(path, "."))
		return fm_xstrdup(cwd);
	if (!strncmp(path, "./", 2))
		path += 2;
	return fm_xasprintf("%s/%s", cwd, path);
}

char *fm_exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return fm_xstrdup(buf);
}

char *fm_build_root(void)
{
	char *exe = fm_exe_dir(), *lib, *header, *root = NULL;

	if (!exe)
		return NULL;
	/*
	 * The build tree is recognized by its library and its headers next to
	 * cmd/: an installed prefix has lib/libfilmeto.a too, but its headers
	 * are in include/filmeto.
	 */
	lib = fm_xasprintf("%s/../lib/libfilmeto.a", exe);
	header = fm_xasprintf("%s/../lib/filmeto.h", exe);
	if (access(lib, R_OK) == 0 && access(header, R_OK) == 0) {
		char *up = fm_xasprintf("%s/..", exe);

		root = realpath(up, NULL);
		free(up);
	}
	free(header);
	free(lib);
	free(exe);
	return root;
}

char *fm_xdg_dir(const char *var, const char *home_rel)
{
	const char *xdg = getenv(var), *home = getenv("HOME");

	if (xdg && *xdg)
		return fm_xasprintf("%s/filmeto", xdg);
	if (home && *home)
		return fm_xasprintf("%s/%s/filmeto", home, home_rel);
	return NULL;
}

/* "cannot write PATH: ERROR", naming the limit when it was ulimit -f's. */
static int write_error(struct fm_error *err, const char *path, int e)
{
	struct rlimit rl;

	if (e == EFBIG && getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot write '%s': %s: the file size limit (ulimit -f) is %llu "
				"bytes",
				path, strerror(e), (unsigned long long)rl.rlim_cur);
	errno = e;
	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", path);
}

int fm_write_file(const char *path, const char *data, size_t len, struct fm_error *err)
{
	static atomic_ulong seq;
	char *tmp = fm_xasprintf("%s.%ld.%lu.part", path, (long)getpid(),
				 (unsigned long)atomic_fetch_add(&seq, 1));
	/* O_EXCL with 0666: the umask applies as it would to the file itself. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666), e = 0;

	if (fd < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", tmp);
		free(tmp);
		return -1;
	}
	while (len > 0 && !e) {
		ssize_t k = write(fd, data, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			e = k < 0 ? errno : EIO;
		else {
			data += k;
			len -= (size_t)k;
		}
	}
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	/* Whatever failed, the temporary goes: only the whole file may stay. */
	if (e) {
		unlink(tmp);
		write_error(err, path, e);
	}
	free(tmp);
	return e ? -1 : 0;
}

int fm_read_fd(int fd, const char *name, size_t max, char **buf, size_t *len, struct fm_error *err)
{
	struct fm_buf b = FM_BUF_INIT;
	char chunk[16384];

	/* A chunk past the limit is enough to know the limit is passed. */
	while (b.len <= max) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s':", name);
			fm_buf_release(&b);
			return -1;
		}
		if (r == 0)
			break;
		fm_buf_add(&b, chunk, (size_t)r);
	}
	if (b.len > max) {
		struct stat st;

		fm_buf_release(&b);
		/* Reading stopped at the limit: the size, when the file knows it. */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max)
			return fm_error(err, FM_VALIDATION_ERROR,
					"'%s' is %lld bytes, larger than the limit of %zu bytes",
					name, (long long)st.st_size, max);
		return fm_error(err, FM_VALIDATION_ERROR,
				"'%s' is larger than the limit of %zu bytes", name, max);
	}
	/* An empty file reads as "", not NULL. */
	fm_buf_add(&b, "", 0);
	*buf = fm_buf_detach(&b, len);
	return 0;
}

int fm_read_file(const char *path, size_t max, char **buf, size_t *len, struct fm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot open '%s':", path);
	rc = fm_read_fd(fd, path, max, buf, len, err);
	close(fd);
	return rc;
}

/* The bytes of in into out: a reflink where the file system shares blocks. */
static int copy_fd(int in, int out)
{
	char buf[65536];
	ssize_t n;

	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	while ((n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0)) > 0)
		;
	if (n == 0)
		return 0;
	/* Across file systems on old kernels, or where it is not supported. */
	if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	return n < 0 ? -1 : 0;
}

int fm_copy_file(const char *src, const char *dst)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), out = -1, rc = -1;
	struct stat st;

	if (in < 0)
		return -1;
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		goto out;
	rc = copy_fd(in, out);
	if (close(out) != 0)
		rc = -1;
	if (rc < 0)
		unlink(dst);
out:
	close(in);
	return rc;
}

int fm_copy_into_place(const char *src, const char *dst)
{
	static atomic_ulong serial;
	const char *slash = strrchr(dst, '/');
	char *tmp = fm_xasprintf("%.*s.%s.%d.%lu.tmp", slash ? (int)(slash - dst + 1) : 0, dst,
				 slash ? slash + 1 : dst, (int)getpid(),
				 (unsigned long)atomic_fetch_add(&serial, 1));
	int rc = fm_copy_file(src, tmp);

	/* rename(2) replaces whatever is at dst, a link included, and follows nothing. */
	if (rc == 0 && rename(tmp, dst) != 0) {
		rc = -1;
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DNR)
		chmod(path, 0700);
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fm_tree_remove(const char *path)
{
	return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS);
}
