/*
 * Installing plugins (plugin_install.h). An archive is read twice with
 * libarchive: the first pass checks every entry, its data included, and
 * writes nothing, so a refused archive leaves no trace; the second pass
 * writes entry by entry, by hand, into files created with O_EXCL and
 * O_NOFOLLOW under a descriptor of the target, walking parents with
 * O_NOFOLLOW, so even a check that missed something could not write
 * outside. An install is staged in a hidden directory inside the user
 * plugin directory (the scan skips dot names) and reaches its name with
 * one rename(2), only once its manifest loads and its environment works.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "fs.h"
#include "plugin_install.h"
#include "manifest.h"
#include "plugin.h"
#include "proc.h"
#include "python.h"
#include "util.h"

/* Directories nested deeper than this are refused: a copy holds fds per level. */
#define MAX_DEPTH 64
/* Bytes of a setup step's output kept for its error. */
#define TAIL_BYTES 8192
#define TAIL_LINE  300

static volatile sig_atomic_t interrupted;

void fm_install_interrupt(void)
{
	interrupted = 1;
	fm_proc_signal_all(SIGKILL);
}

static int stop_if_interrupted(struct fm_error *err)
{
	return interrupted ? fm_error(err, FM_TASK_CANCELLED, "interrupted") : 0;
}

/* What one unpacking has seen so far, for the bounds and the messages. */
struct unpack {
	const char *src;   /* the archive or directory, as the user named it */
	json_object *seen; /* entry path -> "d", "f" or "l" (archives only) */
	size_t entries;
	int64_t bytes;
	int rootfd; /* the target; -1 while only checking */
};

/* A name fit for a one-line message: control characters become '?'. */
static const char *shown(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static int refuse(const struct unpack *u, const char *entry, struct fm_error *err, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));

/* "'SRC': entry 'NAME' WHY", a VALIDATION_ERROR. */
static int refuse(const struct unpack *u, const char *entry, struct fm_error *err, const char *fmt,
		  ...)
{
	char why[FM_ERROR_MAX / 2], a[256], b[256], c[FM_ERROR_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* why may quote link targets from the archive. */
	return fm_error(err, FM_VALIDATION_ERROR, "'%s': entry '%s' %s",
			shown(u->src, a, sizeof(a)), shown(entry, b, sizeof(b)),
			shown(why, c, sizeof(c)));
}

/* Same, for a failed system call, with strerror(errno). */
static int failed(const struct unpack *u, const char *entry, const char *what, struct fm_error *err)
{
	char a[256], b[256];

	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			"'%s': entry '%s': cannot %s:", shown(u->src, a, sizeof(a)),
			shown(entry, b, sizeof(b)), what);
}

/*
 * The entry path without "." and empty components, into out (of
 * FM_ARCHIVE_MAX_PATH + 1 bytes); "" is the top itself. NULL when fine,
 * else why not.
 */
/*
 * The next component of a '/'-separated path at *p, skipping empty and
 * "." ones: *p moves past it, *start points at it; 0 at the end.
 */
static size_t next_component(const char **p, const char **start)
{
	for (;;) {
		const char *s = *p, *e;

		while (*s == '/')
			s++;
		if (!*s)
			return 0;
		e = strchrnul(s, '/');
		*p = e;
		if (e - s == 1 && *s == '.')
			continue;
		*start = s;
		return (size_t)(e - s);
	}
}

static const char *clean_path(const char *in, char *out)
{
	const char *p = in, *s;
	size_t n = 0, len, depth = 0;

	if (strlen(in) > FM_ARCHIVE_MAX_PATH)
		return "has a path longer than the limit";
	if (*in == '/')
		return "has an absolute path";
	while ((len = next_component(&p, &s))) {
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return "has a '..' component: it would leave the plugin directory";
		if (++depth > MAX_DEPTH)
			return "is nested too deeply";
		if (n)
			out[n++] = '/';
		memcpy(out + n, s, len);
		n += len;
	}
	out[n] = '\0';
	return NULL;
}

/*
 * Whether a symbolic link at path (clean) to target stays inside: it must
 * be relative, with '..' only at its start, no more of them than path has
 * parents. Then every link leads down from a real directory inside, so
 * links through links stay inside too.
 */
static int link_inside(const char *path, const char *target)
{
	const char *p = target, *s, *c;
	size_t up = 0, depth = 0, len;
	int down = 0;

	if (!*target || *target == '/' || strlen(target) > FM_ARCHIVE_MAX_PATH)
		return 0;
	for (c = path; *c; c++)
		depth += *c == '/';
	while ((len = next_component(&p, &s))) {
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (down)
				return 0;
			up++;
		} else {
			down = 1;
		}
	}
	return up <= depth;
}

static int count_entry(struct unpack *u, const char *path, struct fm_error *err)
{
	if (++u->entries > FM_ARCHIVE_MAX_ENTRIES)
		return refuse(u, path, err, "is one more than the limit of %d entries",
			      FM_ARCHIVE_MAX_ENTRIES);
	return 0;
}

/*
 * Data of a file up to end, of which n bytes are not counted yet. What a
 * file declares is counted when its header is checked; here only what
 * runs past it (or all, when nothing was declared).
 */
static int count_data(struct unpack *u, const char *path, int64_t end, int64_t n,
		      struct fm_error *err)
{
	if (end > FM_ARCHIVE_MAX_FILE)
		return refuse(u, path, err, "is larger than the limit of %lld MiB per file",
			      (long long)(FM_ARCHIVE_MAX_FILE >> 20));
	u->bytes += n;
	if (u->bytes > FM_ARCHIVE_MAX_BYTES)
		return refuse(u, path, err, "takes the contents over the limit of %lld MiB in all",
			      (long long)(FM_ARCHIVE_MAX_BYTES >> 20));
	return 0;
}

static const char *type_name(mode_t type)
{
	switch (type) {
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a FIFO";
	case AE_IFSOCK: return "a socket";
	default: return "of an unknown type";
	}
}

/* Refuses a path whose parents include a link or a file seen earlier. */
static int check_parents(struct unpack *u, const char *entry, char *path, struct fm_error *err)
{
	char *s;
	const char *kind;

	for (s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		kind = fm_json_get_string(u->seen, path);
		if (!kind)
			json_object_object_add(u->seen, path, json_object_new_string("d"));
		*s = '/';
		if (kind && *kind != 'd')
			return refuse(u, entry, err, "goes through '%.*s', which is %s",
				      (int)(s - path), path,
				      *kind == 'l' ? "a symbolic link" : "a file");
	}
	return 0;
}

/* Records path as kind; a second entry of a path is refused (but directories). */
static int check_new(struct unpack *u, char *path, const char *kind, struct fm_error *err)
{
	const char *was;

	if (check_parents(u, path, path, err) < 0)
		return -1;
	was = fm_json_get_string(u->seen, path);
	if (was && !(*was == 'd' && *kind == 'd'))
		return refuse(u, path, err, "appears twice in the archive");
	if (!was)
		json_object_object_add(u->seen, path, json_object_new_string(kind));
	return 0;
}

/*
 * Every rule of plugin_install.h for one entry (path already clean);
 * *link gets the clean hard link target.
 */
static int check_entry(struct unpack *u, struct archive_entry *e, char *path, char *link,
		       struct fm_error *err)
{
	const char *hard = archive_entry_hardlink(e), *sym, *why;
	mode_t type = archive_entry_filetype(e);

	if (!*path) {
		if (type == AE_IFDIR && !hard)
			return 0;
		return refuse(u, archive_entry_pathname(e) ? archive_entry_pathname(e) : "", err,
			      "has no name");
	}
	if (hard) {
		if ((why = clean_path(hard, link)))
			return refuse(u, path, err, "is a hard link to '%s', which %s", hard, why);
		if (check_parents(u, path, link, err) < 0)
			return -1;
		why = fm_json_get_string(u->seen, link);
		if (!why || *why != 'f')
			return refuse(u, path, err,
				      "is a hard link to '%s', which is not a file earlier in the "
				      "archive",
				      link);
		return check_new(u, path, "f", err);
	}
	if (type == AE_IFLNK) {
		sym = archive_entry_symlink(e);
		if (!sym || !link_inside(path, sym))
			return refuse(u, path, err,
				      "is a symbolic link to '%s', outside the plugin directory",
				      sym ? sym : "");
		return check_new(u, path, "l", err);
	}
	if (type == AE_IFDIR)
		return check_new(u, path, "d", err);
	if (type != AE_IFREG)
		return refuse(u, path, err,
			      "is %s: only files, directories and links are installed",
			      type_name(type));
	if (archive_entry_size_is_set(e)) {
		int64_t size = archive_entry_size(e);

		/* Refused on what it declares, before any data is read. */
		if (size < 0)
			return refuse(u, path, err, "declares a negative size");
		if (size > FM_ARCHIVE_MAX_FILE)
			return refuse(
			    u, path, err,
			    "declares %lld bytes, more than the limit of %lld MiB per file",
			    (long long)size, (long long)(FM_ARCHIVE_MAX_FILE >> 20));
		/* Counted whole, holes of sparse files too: see entry_data. */
		u->bytes += size;
		if (u->bytes > FM_ARCHIVE_MAX_BYTES)
			return refuse(
			    u, path, err,
			    "declares %lld bytes, which takes the contents over the limit "
			    "of %lld MiB in all",
			    (long long)size, (long long)(FM_ARCHIVE_MAX_BYTES >> 20));
	}
	return check_new(u, path, "f", err);
}

/*
 * The directory that holds path's last component, opened by walking from
 * rootfd without following links (creating missing ones when create);
 * *base points at the last component.
 */
static int open_parent(const struct unpack *u, const char *path, int create, const char **base,
		       struct fm_error *err)
{
	char comp[FM_ARCHIVE_MAX_PATH + 1];
	const char *s = path, *slash;
	int fd = dup(u->rootfd), next;

	if (fd < 0)
		return failed(u, path, "open the target directory", err);
	while ((slash = strchr(s, '/'))) {
		memcpy(comp, s, (size_t)(slash - s));
		comp[slash - s] = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create && mkdirat(fd, comp, 0777) == 0)
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int e = errno;

			close(fd);
			if (e == ELOOP || e == ENOTDIR)
				return refuse(u, path, err,
					      "goes through '%.*s', which is not a directory",
					      (int)(slash - path), path);
			errno = e;
			return failed(u, path, "open its directory", err);
		}
		close(fd);
		fd = next;
		s = slash + 1;
	}
	*base = s;
	return fd;
}

static const char *archive_why(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s ? s : "unknown error";
}

static int write_all(int fd, const char *buf, size_t n, int64_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, buf, n, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

/*
 * The data of the current entry: written to fd when fd >= 0, else only
 * counted. Sparse entries come as blocks at offsets.
 */
static int entry_data(struct unpack *u, struct archive *a, struct archive_entry *e,
		      const char *path, int fd, struct fm_error *err)
{
	const void *buf;
	size_t size;
	la_int64_t off, end = 0;
	int64_t counted = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	int r;

	/* Unlike a header's, a warning about data (a bad CRC) is a failure. */
	while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
		if (stop_if_interrupted(err) < 0)
			return -1;
		if (off < 0)
			return refuse(u, path, err, "has data at a negative offset");
		if (off > FM_ARCHIVE_MAX_FILE || (int64_t)size > FM_ARCHIVE_MAX_FILE)
			return count_data(u, path, FM_ARCHIVE_MAX_FILE + 1, 0, err);
		if (off + (la_int64_t)size > end)
			end = off + (la_int64_t)size;
		if (count_data(u, path, end, end > counted ? end - counted : 0, err) < 0)
			return -1;
		if (end > counted)
			counted = end;
		if (fd >= 0 && write_all(fd, buf, size, off) < 0)
			return failed(u, path, "write", err);
	}
	if (r != ARCHIVE_EOF)
		return refuse(u, path, err, "cannot be read: %s", archive_why(a));
	if (fd >= 0 && archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
	    ftruncate(fd, archive_entry_size(e)) < 0)
		return failed(u, path, "write", err);
	return 0;
}

static int write_file(struct unpack *u, struct archive *a, struct archive_entry *e,
		      const char *path, struct fm_error *err)
{
	const char *base;
	int dfd = open_parent(u, path, 1, &base, err), fd, rc;
	mode_t mode = (archive_entry_perm(e) & 0777) | 0600;

	if (dfd < 0)
		return -1;
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	close(dfd);
	if (fd < 0)
		return failed(u, path, "create it", err);
	rc = entry_data(u, a, e, path, fd, err);
	if (close(fd) < 0 && rc == 0)
		rc = failed(u, path, "write", err);
	return rc;
}

static int write_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
		       const char *path, const char *link, struct fm_error *err)
{
	const char *base, *lbase;
	int dfd, lfd, rc = 0;
	struct stat st;

	if (!*path)
		return 0;
	if (!archive_entry_hardlink(e) && archive_entry_filetype(e) == AE_IFREG)
		return write_file(u, a, e, path, err);
	if ((dfd = open_parent(u, path, 1, &base, err)) < 0)
		return -1;
	if (archive_entry_hardlink(e)) {
		lfd = open_parent(u, link, 0, &lbase, err);
		if (lfd < 0) {
			rc = -1;
		} else {
			if (fstatat(lfd, lbase, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode) || linkat(lfd, lbase, dfd, base, 0) < 0)
				rc = failed(u, path, "link it", err);
			close(lfd);
		}
	} else if (archive_entry_filetype(e) == AE_IFLNK) {
		if (symlinkat(archive_entry_symlink(e), dfd, base) < 0)
			rc = failed(u, path, "create the link", err);
	} else if (mkdirat(dfd, base, 0777) < 0 &&
		   !(errno == EEXIST && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		     S_ISDIR(st.st_mode))) {
		rc = failed(u, path, "create the directory", err);
	}
	close(dfd);
	return rc;
}

/* One pass over the archive: checking only (rootfd < 0) or writing too. */
static int archive_pass(const char *file, struct unpack *u, struct fm_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char path[FM_ARCHIVE_MAX_PATH + 1], link[FM_ARCHIVE_MAX_PATH + 1], s[256];
	const char *name, *why, *prev = NULL;
	int r, rc = -1;

	u->entries = 0;
	u->bytes = 0;
	u->seen = json_object_new_object();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, file, 64 * 1024) != ARCHIVE_OK) {
		fm_error(err, FM_VALIDATION_ERROR, "cannot read '%s': %s",
			 shown(u->src, s, sizeof(s)), archive_why(a));
		goto out;
	}
	for (;;) {
		if (stop_if_interrupted(err) < 0)
			goto out;
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			fm_error(err, FM_VALIDATION_ERROR, "cannot read '%s'%s%s%s: %s",
				 shown(u->src, s, sizeof(s)), prev ? " after entry '" : "",
				 prev ? path : "", prev ? "'" : "", archive_why(a));
			goto out;
		}
		name = archive_entry_pathname(e);
		if (!name)
			name = archive_entry_pathname_utf8(e);
		if (!name || !*name) {
			refuse(u, "", err, "has no name");
			goto out;
		}
		if ((why = clean_path(name, path))) {
			refuse(u, name, err, "%s", why);
			goto out;
		}
		prev = path;
		if (count_entry(u, name, err) < 0 || check_entry(u, e, path, link, err) < 0)
			goto out;
		if (u->rootfd >= 0 ? write_entry(u, a, e, path, link, err) < 0
				   : entry_data(u, a, e, path, -1, err) < 0)
			goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	json_object_put(u->seen);
	u->seen = NULL;
	return rc;
}

int fm_archive_extract(const char *path, const char *dest, struct fm_error *err)
{
	struct unpack u = {path, NULL, 0, 0, -1};
	int rc;

	if (archive_pass(path, &u, err) < 0)
		return -1;
	u.rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u.rootfd < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot open '%s':", dest);
	rc = archive_pass(path, &u, err);
	close(u.rootfd);
	return rc;
}

/* Copies one regular file, counting its bytes against the bounds. */
static int copy_file(struct unpack *u, int sfd, int dfd, const char *name, const char *path,
		     mode_t mode, struct fm_error *err)
{
	int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = -1;
	char buf[65536];
	int64_t done = 0;
	struct stat st;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0) {
		failed(u, path, "read it", err);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		refuse(u, path, err, "changed while it was copied");
		goto out;
	}
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     (mode & 0777) | 0600);
	if (out < 0) {
		failed(u, path, "create it", err);
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			failed(u, path, "read it", err);
			goto out;
		}
		if (count_data(u, path, done + n, n, err) < 0)
			goto out;
		if (write_all(out, buf, (size_t)n, done) < 0) {
			failed(u, path, "write", err);
			goto out;
		}
		done += n;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = failed(u, path, "write", err);
	return rc;
}

struct copy {
	struct unpack u;
	dev_t skip_dev; /* the destination: never copied into itself */
	ino_t skip_ino;
};

static int copy_dir(struct copy *c, int sfd, int dfd, const char *rel, int depth,
		    struct fm_error *err);

static int copy_one(struct copy *c, int sfd, int dfd, const char *name, const char *path, int depth,
		    struct fm_error *err)
{
	struct unpack *u = &c->u;
	char target[FM_ARCHIVE_MAX_PATH + 2];
	struct stat st;
	ssize_t n;
	int s2, d2, rc;

	if (strlen(path) > FM_ARCHIVE_MAX_PATH)
		return refuse(u, path, err, "has a path longer than the limit");
	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return failed(u, path, "read it", err);
	if (count_entry(u, path, err) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return copy_file(u, sfd, dfd, name, path, st.st_mode, err);
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(sfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return failed(u, path, "read the link", err);
		target[n] = '\0';
		if (!link_inside(path, target))
			return refuse(u, path, err,
				      "is a symbolic link to '%s', outside the plugin directory",
				      target);
		if (symlinkat(target, dfd, name) < 0)
			return failed(u, path, "create the link", err);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return refuse(u, path, err,
			      "is %s: only files, directories and links are installed",
			      type_name(st.st_mode & S_IFMT));
	if (st.st_dev == c->skip_dev && st.st_ino == c->skip_ino)
		return 0;
	if (depth >= MAX_DEPTH)
		return refuse(u, path, err, "is nested too deeply");
	if (mkdirat(dfd, name, 0777) < 0)
		return failed(u, path, "create the directory", err);
	s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d2 = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	rc = s2 < 0 || d2 < 0 ? failed(u, path, "open the directory", err)
			      : copy_dir(c, s2, d2, path, depth + 1, err);
	if (s2 >= 0)
		close(s2);
	if (d2 >= 0)
		close(d2);
	return rc;
}

static int copy_dir(struct copy *c, int sfd, int dfd, const char *rel, int depth,
		    struct fm_error *err)
{
	int fd = dup(sfd), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return failed(&c->u, *rel ? rel : ".", "read the directory", err);
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		char *path;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* A development .venv is not the plugin's: a new one is made. */
		if (depth == 0 && !strcmp(de->d_name, ".venv"))
			continue;
		if ((rc = stop_if_interrupted(err)) < 0)
			break;
		path = *rel ? fm_xasprintf("%s/%s", rel, de->d_name) : fm_xstrdup(de->d_name);
		rc = copy_one(c, sfd, dfd, de->d_name, path, depth, err);
		free(path);
	}
	if (rc == 0 && errno)
		rc = failed(&c->u, *rel ? rel : ".", "read the directory", err);
	closedir(d);
	return rc;
}

int fm_tree_copy(const char *src, const char *dest, struct fm_error *err)
{
	struct copy c = {{src, NULL, 0, 0, -1}, 0, 0};
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (sfd < 0 || dfd < 0 || fstat(dfd, &st) < 0) {
		rc = fm_error(err, sfd < 0 ? FM_VALIDATION_ERROR : FM_RESOURCE_PROCESSING_ERROR,
			      "cannot open '%s':", sfd < 0 ? src : dest);
	} else {
		c.skip_dev = st.st_dev;
		c.skip_ino = st.st_ino;
		rc = copy_dir(&c, sfd, dfd, "", 0, err);
	}
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

char *fm_user_plugin_dir(void)
{
	char *data = fm_xdg_dir("XDG_DATA_HOME", ".local/share"), *dir;

	/* As plugin.c searches it. */
	if (!data)
		return NULL;
	dir = fm_xasprintf("%s/plugins", data);
	free(data);
	return dir;
}

/* The last bytes a setup step wrote, for its error. */
struct tail {
	char buf[TAIL_BYTES];
	size_t len;
	int cut; /* the first line is a fragment */
};

static void tail_add(struct tail *t, const char *s, size_t n)
{
	if (n > TAIL_BYTES) {
		s += n - TAIL_BYTES;
		n = TAIL_BYTES;
		t->cut = 1;
	}
	if (t->len + n > TAIL_BYTES) {
		size_t drop = t->len + n - TAIL_BYTES;

		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
		t->cut = 1;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

/* The last FM_SETUP_TAIL non-empty lines, each cut to TAIL_LINE bytes. */
static json_object *tail_lines(const struct tail *t)
{
	json_object *all = json_object_new_array(), *out = json_object_new_array();
	char line[TAIL_LINE + 1], *text = fm_xstrndup(t->buf, t->len), *s, *save = NULL;
	size_t i, n;

	for (s = strtok_r(text, "\r\n", &save); s; s = strtok_r(NULL, "\r\n", &save)) {
		if (t->cut && s == text)
			continue;
		if (strspn(s, " \t") == strlen(s))
			continue;
		json_object_array_add(all, json_object_new_string(shown(s, line, sizeof(line))));
	}
	n = json_object_array_length(all);
	for (i = n > FM_SETUP_TAIL ? n - FM_SETUP_TAIL : 0; i < n; i++)
		json_object_array_add(out, json_object_get(json_object_array_get_idx(all, i)));
	json_object_put(all);
	free(text);
	return out;
}

static void drain(int *fd, struct tail *t)
{
	char buf[4096];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n > 0) {
		tail_add(t, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * The environment of a setup step: ours without the variables whose
 * names say they hold a secret (fm_secret_name). A step runs code the
 * plugin brings (a build backend, an npm install script) before anyone
 * has seen the plugin work, and needs no service's key: not even one
 * the manifest names, which the plugin is handed only when it runs.
 */
static char **setup_env(void)
{
	return fm_env_without_secrets();
}

/*
 * Runs one setup step in dir, in its own process group, its output kept
 * (the last of it) but not shown; killed when it takes too long.
 */
static int run_step(char *const argv[], const char *shown_as, const char *dir, struct fm_error *err)
{
	struct fm_proc p;
	struct tail *t;
	double end = fm_now() + FM_SETUP_TIMEOUT, reaped_at = 0;
	int timed_out = 0, rc = -1;
	char how[128], **env;

	if (stop_if_interrupted(err) < 0)
		return -1;
	env = setup_env();
	if (fm_proc_spawn(&p, argv, dir, env, err) < 0) {
		free(env);
		return -1;
	}
	free(env);
	t = fm_xcalloc(1, sizeof(*t));
	close(p.in);
	p.in = -1;
	while (p.out >= 0 || p.err >= 0) {
		struct pollfd fds[2] = {{p.out, POLLIN, 0}, {p.err, POLLIN, 0}};

		if (fm_now() >= end || interrupted) {
			timed_out = 1;
			break;
		}
		if (poll(fds, 2, 100) > 0) {
			if (fds[0].revents)
				drain(&p.out, t);
			if (fds[1].revents)
				drain(&p.err, t);
		}
		if (!p.reaped && fm_proc_poll(&p))
			reaped_at = fm_now();
		/* Whatever still holds the pipes was killed with the group. */
		if (p.reaped && fm_now() - reaped_at > 1.0)
			break;
	}
	if (timed_out || !fm_proc_wait(&p, end - fm_now() > 0 ? end - fm_now() : 0)) {
		timed_out = 1;
		fm_proc_signal(&p, SIGKILL);
		fm_proc_wait(&p, 5.0);
	}
	fm_proc_stop(&p, 0);
	fm_proc_describe(&p, how, sizeof(how));
	if (interrupted)
		fm_error(err, FM_TASK_CANCELLED, "interrupted");
	else if (timed_out)
		fm_error(err, FM_TIMEOUT_ERROR, "'%s' took longer than %g s and was stopped",
			 shown_as, FM_SETUP_TIMEOUT);
	else if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0)
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "'%s' failed: it %s", shown_as, how);
	else
		rc = 0;
	if (rc < 0 && !interrupted)
		fm_error_detail(err, "output", tail_lines(t));
	free(t);
	return rc;
}

static int exists_in(const char *dir, const char *name)
{
	char *p = fm_xasprintf("%s/%s", dir, name);
	int ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

/*
 * A Python plugin (python.h: runtime: python, or a command that starts
 * with python3, as main.py without a command does) gets a .venv made by
 * the interpreter config.yaml's python: names, else python3 on PATH,
 * with --system-site-packages, so what the distribution installed
 * (Debian's python3-pil ...) satisfies its requirements without a
 * download; then pip installs requirements.txt and requirements:
 * packages:. Python runs isolated (-I): neither the current directory,
 * which is the plugin's, nor PYTHONPATH nor the user's site-packages is
 * on its path, so a venv.py or pip.py the plugin ships is not what runs.
 * A .venv the plugin ships is removed first: its site-packages (a .pth
 * file runs at start-up) and its pip.conf would be pip's.
 */
static int setup_python(const struct fm_manifest *m, const char *root, fm_note_fn *note, void *ctx,
			struct fm_error *err)
{
	char *venv[] = {NULL, "-I", "-m", "venv", "--system-site-packages", NULL, NULL, NULL};
	char *pip[6 + 256 + 4] = {
	    NULL, "-I", "-m", "pip", "install", "--disable-pip-version-check", "--no-input", NULL};
	struct fm_python py;
	char *shipped, *shown_as;
	size_t i, n = 7, npk = m->req_packages ? json_object_array_length(m->req_packages) : 0;
	int rc;

	shipped = fm_xasprintf("%s/.venv", root);
	rc = fm_tree_remove(shipped);
	free(shipped);
	if (rc < 0 && errno != ENOENT)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot remove the plugin's own .venv:");
	if (fm_python_choose(m, 0, &py, err) < 0)
		return -1;
	venv[0] = py.path;
	/* pip (ensurepip takes seconds) only where there is something to install */
	if (!exists_in(root, "requirements.txt") && !npk)
		venv[5] = "--without-pip";
	shown_as = fm_xasprintf("%s -I -m venv --system-site-packages%s .venv", py.path,
				venv[5] ? " --without-pip" : "");
	if (note) {
		char *s = fm_xasprintf("running '%s' (%s)", shown_as, py.why);

		note(ctx, s);
		free(s);
	}
	venv[venv[5] ? 6 : 5] = ".venv";
	rc = run_step(venv, shown_as, root, err);
	free(shown_as);
	fm_python_release(&py);
	if (rc < 0)
		return -1;
	if (!exists_in(root, "requirements.txt") && !npk)
		return 0;
	pip[0] = fm_xasprintf("%s/.venv/bin/python3", root);
	if (exists_in(root, "requirements.txt")) {
		pip[n++] = "-r";
		pip[n++] = "requirements.txt";
	}
	/* load_requirements took no option (-...) and at most 256 of them */
	for (i = 0; i < npk && i < 256; i++)
		pip[n++] =
		    (char *)json_object_get_string(json_object_array_get_idx(m->req_packages, i));
	pip[n] = NULL;
	shown_as = fm_xasprintf(".venv/bin/python3 -I -m pip install%s%s",
				exists_in(root, "requirements.txt") ? " -r requirements.txt" : "",
				npk ? " (and requirements: packages:)" : "");
	if (note) {
		char *s = fm_xasprintf("running '%s'", shown_as);

		note(ctx, s);
		free(s);
	}
	rc = run_step(pip, shown_as, root, err);
	if (rc < 0 && err && err->code == FM_PLUGIN_EXECUTION_ERROR) {
		size_t len = strlen(err->message);

		snprintf(err->message + len, sizeof(err->message) - len,
			 "; pip could not install the plugin's requirements (its last lines "
			 "follow). Without a network, install them with the system's packages "
			 "(Debian's python3-pil ...) and set python: /usr/bin/python3 in "
			 "config.yaml");
	}
	free(shown_as);
	free(pip[0]);
	return rc;
}

/* A Python plugin gets .venv (and its requirements), runtime: node its packages. */
static int setup_runtime(const struct fm_manifest *m, const char *root, fm_note_fn *note, void *ctx,
			 struct fm_error *err)
{
	static const char *const npm[] = {"npm",	"install",   "--omit=dev",
					  "--no-audit", "--no-fund", NULL};

	if (fm_python_plugin(m))
		return setup_python(m, root, note, ctx, err);
	if (m->runtime && !strcmp(m->runtime, "node") && exists_in(root, "package.json")) {
		if (note)
			note(ctx, "running 'npm install --omit=dev'");
		return run_step((char *const *)npm, "npm install --omit=dev", root, err);
	}
	return 0;
}

/* Upstream package files an installed copy takes with it: how many, how large. */
#define PKG_FILES_MAX 32
#define PKG_FILE_MAX  (1 << 20)
#define PKG_UP_MAX    8

/* A regular file reached through no link at its end, of at most PKG_FILE_MAX bytes. */
static int small_file(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= PKG_FILE_MAX;
}

/* The dotted module names a Python file imports (from X.Y import ..., import X.Y). */
static void imported_names(const char *path, json_object *names)
{
	char *buf = NULL, *line, *save = NULL, *s, *e;
	size_t len;

	if (fm_read_file(path, PKG_FILE_MAX, &buf, &len, NULL) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		s = line + strspn(line, " \t");
		if (!strncmp(s, "from ", 5))
			s += 5;
		else if (!strncmp(s, "import ", 7))
			s += 7;
		else
			continue;
		s += strspn(s, " \t");
		for (e = s; *e == '_' || *e == '.' || (*e >= '0' && *e <= '9') ||
			    ((*e | 0x20) >= 'a' && (*e | 0x20) <= 'z');
		     e++)
			;
		/* only dotted names inside a package; relative imports are the plugin's own */
		if (e - s < 3 || e - s > 200 || *s == '.' || !memchr(s, '.', (size_t)(e - s)))
			continue;
		*e = '\0';
		json_object_object_add(names, s, NULL);
	}
	free(buf);
}

/*
 * R, an ancestor of the plugin's source directory src (resolved) holding
 * the package top that src lies inside (R/server for server.plugins...),
 * or NULL.
 */
static char *package_root(const char *src, const char *top)
{
	char *r = fm_xstrdup(src), *slash, *pkg;
	int up;

	for (up = 0; up < PKG_UP_MAX && (slash = strrchr(r, '/')) && slash != r; up++) {
		*slash = '\0';
		pkg = fm_xasprintf("%s/%s/", r, top);
		if (!strncmp(src, pkg, strlen(pkg))) {
			free(pkg);
			return r;
		}
		free(pkg);
	}
	free(r);
	return NULL;
}

/* Copies R/rel into root/FM_PYTHONPATH_DIR/rel, once; 1 copied, 0 not there. */
static int take_file(const char *r, const char *rel, const char *root, json_object *taken,
		     struct fm_error *err)
{
	char *from = fm_xasprintf("%s/%s", r, rel), *to, *dir;
	int rc = 0;

	if (json_object_object_get_ex(taken, rel, NULL) || !small_file(from)) {
		rc = json_object_object_get_ex(taken, rel, NULL);
		free(from);
		return rc;
	}
	if (json_object_object_length(taken) >= PKG_FILES_MAX) {
		free(from);
		return fm_error(err, FM_VALIDATION_ERROR,
				"the plugin imports more than %d files of the package around it",
				PKG_FILES_MAX);
	}
	/* ours alone: one the plugin shipped goes first */
	if (!json_object_object_length(taken)) {
		to = fm_xasprintf("%s/" FM_PYTHONPATH_DIR, root);
		rc = fm_tree_remove(to) < 0 && errno != ENOENT
			 ? fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot remove '%s':", to)
			 : 0;
		free(to);
		if (rc < 0) {
			free(from);
			return -1;
		}
	}
	to = fm_xasprintf("%s/" FM_PYTHONPATH_DIR "/%s", root, rel);
	dir = fm_xstrndup(to, (size_t)(strrchr(to, '/') - to));
	if (fm_mkdirs(dir, err) < 0)
		rc = -1;
	else if (fm_copy_file(from, to) < 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			      "cannot copy '%s' into '%s':", from, to);
	else
		rc = 1;
	if (rc == 1)
		json_object_object_add(taken, rel, json_object_new_string(from));
	free(dir);
	free(to);
	free(from);
	return rc;
}

/*
 * The Filmeto project's plugins import their host's package by its path
 * from the project's root (`from server.plugins.base_plugin import ...`,
 * after putting the root on sys.path), which a copy of the plugin's folder
 * alone no longer has. When src, a directory, lies inside such a package
 * (R/server/plugins/NAME), the files of it that the plugin imports
 * (R/server/__init__.py, R/server/plugins/__init__.py,
 * R/server/plugins/base_plugin.py, and what they import in turn from the
 * same package, PKG_FILES_MAX at most) are copied into
 * root/.filmeto-pythonpath, which the host puts first on the plugin's
 * PYTHONPATH (host.c).
 */
static int take_upstream_package(const char *src, const char *root, fm_note_fn *note, void *ctx,
				 struct fm_error *err)
{
	char *real = realpath(src, NULL), *main_py = fm_xasprintf("%s/main.py", root);
	json_object *names = json_object_new_object(), *taken = json_object_new_object();
	int rc = 0, pass;

	if (!real || !small_file(main_py))
		goto out;
	imported_names(main_py, names);
	for (pass = 0; pass < PKG_FILES_MAX && rc >= 0; pass++) {
		int before = json_object_object_length(taken);

		json_object_object_foreach (names, name, unused) {
			char *dotted = fm_xstrdup(name), *dot = strchr(dotted, '.'), *r, *rel, *mod;

			(void)unused;
			*dot = '\0';
			/* the plugin's own package, or one not around it */
			if (exists_in(root, dotted) || !(r = package_root(real, dotted))) {
				free(dotted);
				continue;
			}
			*dot = '.';
			for (dot = dotted; (dot = strchr(dot, '.')); dot++)
				*dot = '/';
			/* every package on the way, then the module itself */
			for (dot = dotted; rc >= 0 && (dot = strchr(dot, '/')); dot++) {
				rel = fm_xasprintf("%.*s/__init__.py", (int)(dot - dotted), dotted);
				rc = take_file(r, rel, root, taken, err);
				free(rel);
			}
			mod = fm_xasprintf("%s.py", dotted);
			rel = fm_xasprintf("%s/__init__.py", dotted);
			if (rc >= 0 && (rc = take_file(r, mod, root, taken, err)) == 0)
				rc = take_file(r, rel, root, taken, err);
			free(rel);
			free(mod);
			free(r);
			free(dotted);
			if (rc < 0)
				break;
		}
		if (rc < 0 || json_object_object_length(taken) == before)
			break;
		/* what the files taken import from the same package, in turn */
		json_object_object_foreach (taken, rel, from) {
			(void)rel;
			imported_names(json_object_get_string(from), names);
		}
	}
	if (rc >= 0 && json_object_object_length(taken) && note) {
		char *s = fm_xasprintf(
		    "taking %d file(s) of the package around it into " FM_PYTHONPATH_DIR,
		    json_object_object_length(taken));

		note(ctx, s);
		free(s);
	}
out:
	json_object_put(names);
	json_object_put(taken);
	free(main_py);
	free(real);
	return rc < 0 ? -1 : 0;
}

/* The plugin: at the top of what was unpacked, or in its one directory. */
static int find_root(const char *src, const char *top, char **root, struct fm_error *err)
{
	struct dirent **names;
	int i, n, found = -1, others = 0;
	struct stat st;
	char s[256];

	if (exists_in(top, "plugin.yaml") || exists_in(top, "plugin.yml")) {
		*root = fm_xstrdup(top);
		return 0;
	}
	n = scandir(top, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		char *p = fm_xasprintf("%s/%s", top, d);

		/* macOS zips carry resource forks beside the real top directory. */
		if (strcmp(d, ".") && strcmp(d, "..") && strcmp(d, "__MACOSX")) {
			if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && found < 0)
				found = i;
			else
				others++;
		}
		free(p);
	}
	*root = found >= 0 && !others ? fm_xasprintf("%s/%s", top, names[found]->d_name) : NULL;
	for (i = 0; i < n; i++)
		free(names[i]);
	if (n >= 0)
		free(names);
	if (*root && (exists_in(*root, "plugin.yaml") || exists_in(*root, "plugin.yml")))
		return 0;
	free(*root);
	*root = NULL;
	return fm_error(err, FM_VALIDATION_ERROR,
			"'%s' has no plugin.yaml or plugin.yml at its top or inside one top-level "
			"directory",
			shown(src, s, sizeof(s)));
}

/* Loads the manifest; its errors name src instead of the staging directory. */
static int load_manifest(struct fm_manifest *m, const char *src, int isdir, const char *top,
			 const char *root, struct fm_error *err)
{
	char *from, *to, *msg, *hit;
	size_t flen;

	if (fm_manifest_load(m, root, err) == 0)
		return 0;
	from = fm_xasprintf("%s/", top);
	to = fm_xasprintf(isdir ? "%s/" : "%s:", src);
	flen = strlen(from);
	if ((hit = strstr(err->message, from))) {
		msg = fm_xasprintf("%.*s%s%s", (int)(hit - err->message), err->message, to,
				   hit + flen);
		snprintf(err->message, sizeof(err->message), "%s", msg);
		free(msg);
	}
	err->code = FM_VALIDATION_ERROR;
	free(from);
	free(to);
	return -1;
}

static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: nearly as good. */
	if (access(to, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/* root becomes final; an old final (force) goes into tmp, removed with it. */
static int move_into_place(const char *root, const char *final, const char *tmp, int force,
			   const char *name, struct fm_error *err)
{
	char *old = fm_xasprintf("%s/old", tmp);
	int moved = 0, rc = 0;
	struct stat st;

	if (force && lstat(final, &st) == 0) {
		if (rename(final, old) < 0) {
			rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				      "cannot move '%s' aside:", final);
			goto out;
		}
		moved = 1;
	}
	if (rename_noreplace(root, final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			rc = fm_error(err, FM_VALIDATION_ERROR,
				      "plugin '%s' is already installed in '%s' (--force replaces "
				      "it)",
				      name, final);
		else
			rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				      "cannot rename '%s' to '%s':", root, final);
		if (moved)
			rename(old, final);
	}
out:
	free(old);
	return rc;
}

int fm_plugin_install(const char *src, int force, fm_note_fn *note, void *ctx, char **dir,
		      struct fm_error *err)
{
	char *pdir = fm_user_plugin_dir(), *tmp = NULL, *top = NULL, *root = NULL, *final = NULL;
	char *srcdir = NULL;
	char folder[FM_PLUGIN_NAME_MAX + 1];
	struct fm_error err2 = FM_ERROR_INIT;
	struct fm_manifest m, there;
	struct stat st;
	int rc = -1, isdir = 0;

	*dir = NULL;
	fm_manifest_init(&m);
	fm_manifest_init(&there);
	if (stat(src, &st) < 0) {
		fm_error(err, FM_VALIDATION_ERROR, "cannot open '%s':", src);
		goto out;
	}
	isdir = S_ISDIR(st.st_mode);
	if (!isdir && !S_ISREG(st.st_mode)) {
		fm_error(err, FM_VALIDATION_ERROR, "'%s' is neither a directory nor an archive",
			 src);
		goto out;
	}
	if (!pdir) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "no user plugin directory: neither XDG_DATA_HOME nor HOME is set");
		goto out;
	}
	if (fm_mkdirs(pdir, err) < 0)
		goto out;
	tmp = fm_xasprintf("%s/.install-XXXXXX", pdir);
	if (!mkdtemp(tmp)) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			 "cannot create a directory in '%s':", pdir);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	top = fm_xasprintf("%s/new", tmp);
	if (mkdir(top, 0777) < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", top);
		goto out;
	}
	if ((isdir ? fm_tree_copy(src, top, err) : fm_archive_extract(src, top, err)) < 0 ||
	    find_root(src, top, &root, err) < 0 ||
	    load_manifest(&m, src, isdir, top, root, err) < 0)
		goto out;
	fm_plugin_folder(folder, sizeof(folder), m.name);
	final = fm_xasprintf("%s/%s", pdir, folder);
	if (lstat(final, &st) == 0 && fm_manifest_load(&there, final, &err2) == 0 &&
	    strcmp(there.name, m.name)) {
		/* Even --force: replacing another plugin by name is not what was asked. */
		fm_error(err, FM_VALIDATION_ERROR,
			 "plugin '%s' would be installed in '%s', where plugin '%s' is: both names "
			 "map to the folder '%s'; rename one",
			 m.name, final, there.name, folder);
		goto out;
	}
	if (!force && lstat(final, &st) == 0) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "plugin '%s' is already installed in '%s' (--force replaces it)", m.name,
			 final);
		goto out;
	}
	/* After the rename the install is whole: an interrupt then is too late. */
	if (isdir && fm_python_plugin(&m))
		srcdir = !strcmp(root, top) ? fm_xstrdup(src)
					    : fm_xasprintf("%s/%s", src, strrchr(root, '/') + 1);
	if ((srcdir && take_upstream_package(srcdir, root, note, ctx, err) < 0) ||
	    setup_runtime(&m, root, note, ctx, err) < 0 || stop_if_interrupted(err) < 0 ||
	    move_into_place(root, final, tmp, force, m.name, err) < 0)
		goto out;
	*dir = final;
	final = NULL;
	rc = 0;
out:
	if (tmp)
		fm_tree_remove(tmp);
	fm_manifest_release(&m);
	free(srcdir);
	fm_manifest_release(&there);
	fm_error_release(&err2);
	free(final);
	free(root);
	free(top);
	free(tmp);
	free(pdir);
	return rc;
}

/* Whether dir is directly inside parent (both resolved). */
static int inside(const char *dir, const char *parent_real)
{
	char *copy = fm_xstrdup(dir), *slash = strrchr(copy, '/'), *real;
	int ok;

	if (!slash) {
		free(copy);
		return 0;
	}
	*slash = '\0';
	real = realpath(*copy ? copy : "/", NULL);
	ok = real && !strcmp(real, parent_real);
	free(real);
	free(copy);
	return ok;
}

/* The user directory's entry for name: by manifest name, else directory name. */
static const struct fm_plugin_entry *user_entry(const struct fm_plugins *p, const char *name,
						const char *user_real)
{
	size_t i;

	for (i = 0; user_real && i < p->n; i++)
		if (p->v[i].ok && !strcmp(p->v[i].manifest.name, name) &&
		    inside(p->v[i].dir, user_real))
			return &p->v[i];
	for (i = 0; user_real && i < p->n; i++) {
		const char *slash = strrchr(p->v[i].dir, '/');

		if (!strcmp(slash ? slash + 1 : p->v[i].dir, name) &&
		    inside(p->v[i].dir, user_real))
			return &p->v[i];
	}
	return NULL;
}

int fm_plugin_remove(const char *name, char **dir, struct fm_error *err)
{
	char *pdir = fm_user_plugin_dir(), *real = pdir ? realpath(pdir, NULL) : NULL, *tmp = NULL;
	const struct fm_plugin_entry *e;
	struct fm_plugins p;
	int rc = -1;

	*dir = NULL;
	fm_plugins_scan(&p, err);
	if (!fm_plugin_name_valid(name)) {
		fm_error(err, FM_VALIDATION_ERROR, "'%.128s' is not a plugin name", name);
	} else if ((e = user_entry(&p, name, real))) {
		/* Out of sight in one rename, then deleted at leisure. */
		tmp = fm_xasprintf("%s/.remove-XXXXXX", pdir);
		if (!mkdtemp(tmp)) {
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				 "cannot create a directory in '%s':", pdir);
			free(tmp);
			tmp = NULL;
		} else {
			char folder[FM_PLUGIN_NAME_MAX + 1], *aside;

			fm_plugin_folder(folder, sizeof(folder), name);
			aside = fm_xasprintf("%s/%s", tmp, folder);

			if (rename(e->dir, aside) < 0) {
				fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					 "cannot remove '%s':", e->dir);
			} else {
				*dir = fm_xstrdup(e->dir);
				rc = 0;
			}
			free(aside);
		}
	} else if ((e = fm_plugins_lookup(&p, name))) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "plugin '%s' is in '%s', not in the user plugin directory '%s': only "
			 "plugins installed there are removed",
			 name, e->dir, pdir ? pdir : "(none)");
	} else {
		fm_error(err, FM_PLUGIN_NOT_FOUND, "no plugin named '%s' (see filmeto-plugin list)",
			 name);
	}
	if (tmp && fm_tree_remove(tmp) < 0 && rc == 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot remove all of '%s':", tmp);
	fm_plugins_release(&p);
	free(tmp);
	free(real);
	free(pdir);
	return rc;
}

int fm_plugin_build(const char *dir, struct fm_error *err)
{
	char *const argv[] = {"make", "-s", NULL};

	return run_step(argv, "make", dir, err);
}

int fm_plugin_unbuilt(const struct fm_manifest *m)
{
	char *cmd, *makefile;
	int unbuilt;

	if (!m->argv || !m->argv[0] || !m->dir || strncmp(m->argv[0], "./", 2) != 0)
		return 0;
	cmd = fm_xasprintf("%s/%s", m->dir, m->argv[0] + 2);
	makefile = fm_xasprintf("%s/Makefile", m->dir);
	unbuilt = access(cmd, F_OK) != 0 && access(makefile, R_OK) == 0;
	free(cmd);
	free(makefile);
	return unbuilt;
}
