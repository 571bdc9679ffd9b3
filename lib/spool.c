/*
 * The spool: a directory of plain files that any number of submitters,
 * workers and watchers share without a server.
 *
 *   tmp/     task files being written
 *   queue/   SEQ.ID: one task line each, SEQ being 16 hex digits of the
 *            enqueue time in ns, so names sort in submission order
 *   done/    SEQ.ID of tasks that completed
 *   failed/  SEQ.ID of tasks that failed or were cancelled
 *   log/     SEQ.ID: the task's event lines, appended
 *   cancel/  ID: a request to cancel the task
 *   out/     ID/: the outputs, unless the worker was given -d
 *
 * Enqueueing writes the task in tmp/, fsyncs it, renames it into queue/
 * and fsyncs queue/ before the id is printed: a queued task survives a
 * crash or a power cut, and no reader ever sees half of one.
 *
 * Locking, the way nq does it. A worker claims a task by taking flock(2)
 * LOCK_EX|LOCK_NB on its file in queue/ and then, holding the lock,
 * checking that queue/NAME is still the file it locked: another worker
 * may have finished the task and moved it between our open and our lock.
 * The lock belongs to the open file, opened close-on-exec so no plugin
 * inherits it, and so it dies with the worker however the worker dies: a
 * task in queue/ whose lock is free is queued, one whose lock is held is
 * running. A worker that was killed leaves its task in queue/ with the
 * lock free, and the next worker takes it again, counting the attempt
 * from the "claimed" lines in the log.
 *
 * The worker keeps the lock until the task's final line is in the log,
 * fsynced, and the file has been renamed to done/ or failed/. A worker
 * that dies between those two steps leaves a task whose log already ends
 * it; whoever claims it next only makes the move, so a task is never run
 * after its final line and its log never holds two of them.
 *
 * Cancelling creates cancel/ID first and then tries to claim the task: a
 * queued one is finished as cancelled on the spot; a running one is left
 * to its worker, which watches cancel/. A worker also looks in cancel/
 * when it claims, so a request made between the two steps is not lost.
 *
 * Queueing takes one more lock, flock on the file SPOOL/lock (made when
 * missing), held from the check that an id is new until the commit that
 * queues it: two submitters of one id cannot both find it new. Workers
 * and watchers never take it. Submitters before the lock file locked the
 * queue/ directory instead; that lock is taken too where it works, so an
 * old submitter and a new one still exclude each other on one machine.
 *
 * Every lock is taken on a descriptor open for writing (SPOOL/lock and
 * the task file, O_RDWR): on NFS, Linux emulates flock(2) with POSIX
 * byte-range locks, which the server holds for every client, and an
 * exclusive one needs a file open for writing; on a directory or an
 * O_RDONLY descriptor it fails there with EBADF. Only someone who may
 * not write the file (a watcher of a read-only copy, whose probe is a
 * shared lock) opens it read-only, which a local file system still
 * locks. So the spool is safe on a local file system, and shared between
 * machines on NFSv4 (or NFSv3 with lockd), as long as the mount does not
 * keep flock locks local (nfs(5) local_lock=flock or all): each machine
 * would then see its own locks only. filmeto(7) says so.
 *
 * Whoever can write the spool can plant things in it. Every entry is
 * opened with O_NOFOLLOW and O_NONBLOCK and kept only if fstat says it
 * is a regular file (fm_spool_openat), and scans skip the names of
 * anything else with a warning: a symlink is never written or read
 * through, a FIFO never waited on, a folder never stops a scan. A
 * regular file is refused too when it has another name (a hard link,
 * which the spool never makes: writing or repairing it would change a
 * file elsewhere) and, in log/, when it is bigger than a worker writes.
 * A task file over the line limit is claimed only to be failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "model.h"
#include "ndjson.h"
#include "plan.h"
#include "spool.h"
#include "util.h"

static const char *const subdirs[FM_SPOOL_NDIRS] = {"tmp", "queue",  "done", "failed",
						    "log", "cancel", "out"};

_Static_assert(FM_SPOOL_LOG_READ_MAX >= FM_SPOOL_LOG_MAX + 3 * (long long)FM_LINE_MAX,
	       "a log the worker wrote, with its last lines, must be one it can read back");

static const char *kind_name(mode_t m);

static const char *const state_names[FM_SPOOL_NSTATES] = {"queued", "running", "done", "failed",
							  "cancelled"};

const char *fm_spool_state_name(enum fm_spool_state s)
{
	return s < FM_SPOOL_NSTATES ? state_names[s] : "unknown";
}

char *fm_spool_default_dir(void)
{
	const char *env = getenv("FILMETO_SPOOL");
	char *state, *dir;

	if (env && *env)
		return fm_xstrdup(env);
	state = fm_xdg_dir("XDG_STATE_HOME", ".local/state");
	if (!state)
		return NULL;
	dir = fm_xasprintf("%s/spool", state);
	free(state);
	return dir;
}

int fm_spool_open(struct fm_spool *sp, const char *dir, struct fm_error *err)
{
	int i, root = -1, rc = -1;
	struct stat st;

	memset(sp, 0, sizeof(*sp));
	for (i = 0; i < FM_SPOOL_NDIRS; i++)
		sp->fd[i] = -1;
	sp->dir = dir ? fm_xstrdup(dir) : fm_spool_default_dir();
	if (!sp->dir)
		return fm_error(err, FM_VALIDATION_ERROR,
				"no spool: set FILMETO_SPOOL, XDG_STATE_HOME or HOME");
	if (fm_mkdirs(sp->dir, err) < 0)
		goto out;
	root = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		fm_error(err, FM_VALIDATION_ERROR, "cannot open '%s':", sp->dir);
		goto out;
	}
	/* The spool itself may be reached by a symlink; its folders may not. */
	for (i = 0; i < FM_SPOOL_NDIRS; i++) {
		if (mkdirat(root, subdirs[i], 0777) < 0 && errno != EEXIST) {
			fm_error(err, FM_VALIDATION_ERROR,
				 "cannot create directory '%s/%s':", sp->dir, subdirs[i]);
			goto out;
		}
		sp->fd[i] =
		    openat(root, subdirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sp->fd[i] >= 0)
			continue;
		if ((errno == ELOOP || errno == ENOTDIR) &&
		    fstatat(root, subdirs[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			fm_error(err, FM_VALIDATION_ERROR,
				 "'%s/%s' is %s: the spool's folders must be its own directories",
				 sp->dir, subdirs[i], kind_name(st.st_mode));
		else
			fm_error(err, FM_VALIDATION_ERROR, "cannot open '%s/%s':", sp->dir,
				 subdirs[i]);
		goto out;
	}
	rc = 0;
out:
	if (root >= 0)
		close(root);
	if (rc < 0)
		fm_spool_release(sp);
	return rc;
}

void fm_spool_release(struct fm_spool *sp)
{
	int i;

	for (i = 0; i < (int)sp->npending; i++) {
		unlinkat(sp->fd[FM_SPOOL_TMP], sp->pending[i], 0);
		free(sp->pending[i]);
	}
	free(sp->pending);
	sp->pending = NULL;
	sp->npending = 0;
	fm_spool_unlock(sp);
	json_object_put(sp->ids);
	sp->ids = NULL;
	json_object_put(sp->warned);
	sp->warned = NULL;
	json_object_put(sp->found);
	sp->found = NULL;
	for (i = 0; i < FM_SPOOL_NDIRS; i++) {
		if (sp->fd[i] >= 0)
			close(sp->fd[i]);
		sp->fd[i] = -1;
	}
	free(sp->dir);
	sp->dir = NULL;
}

char *fm_spool_path(const struct fm_spool *sp, enum fm_spool_dir sub, const char *name)
{
	return name ? fm_xasprintf("%s/%s/%s", sp->dir, subdirs[sub], name)
		    : fm_xasprintf("%s/%s", sp->dir, subdirs[sub]);
}

static double mtime_of(const struct stat *st)
{
	return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9;
}

/* A name is SEQ.ID with SEQ in lowercase hex and a valid id. */
static int name_valid(const char *name)
{
	size_t i;

	for (i = 0; i < FM_SPOOL_SEQ_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return name[i] == '.' && fm_id_valid(name + i + 1);
}

static double name_time(const char *name)
{
	return (double)strtoull(name, NULL, 16) / 1e9;
}

/* Writes all of buf, or fails with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_names(struct fm_spool *sp, enum fm_spool_dir sub, char ***names, size_t *n,
		      struct fm_error *err);

/* --- entries of the wrong type ----------------------------------------- */

static const char *kind_name(mode_t m)
{
	return S_ISLNK(m)		  ? "a symbolic link"
	       : S_ISDIR(m)		  ? "a directory"
	       : S_ISFIFO(m)		  ? "a FIFO"
	       : S_ISSOCK(m)		  ? "a socket"
	       : S_ISCHR(m) || S_ISBLK(m) ? "a device"
					  : "of an unknown type";
}

/*
 * An entry refused: why goes to sp->refused, for the caller to say, and
 * once per handle, for at most FM_SPOOL_WARNED_MAX entries, through warn.
 */
static void refuse(struct fm_spool *sp, enum fm_spool_dir sub, const char *name, const char *why)
{
	char key[FM_SPOOL_NAME_MAX + 16], *msg;

	snprintf(sp->refused, sizeof(sp->refused), "%s", why);
	if (!sp->warn)
		return;
	if (!sp->warned)
		sp->warned = json_object_new_object();
	snprintf(key, sizeof(key), "%s/%s", subdirs[sub], name);
	if (json_object_object_get_ex(sp->warned, key, NULL) ||
	    json_object_object_length(sp->warned) >= FM_SPOOL_WARNED_MAX)
		return;
	json_object_object_add(sp->warned, key, NULL);
	msg = fm_xasprintf("skipping '%s/%s': %s", sp->dir, key, why);
	sp->warn(sp->warn_ctx, msg);
	free(msg);
}

/* An entry of the wrong type: a symlink, a FIFO, a folder... */
static void skip_warn(struct fm_spool *sp, enum fm_spool_dir sub, const char *name, mode_t m)
{
	char why[64];

	snprintf(why, sizeof(why), "%s, not a regular file", kind_name(m));
	refuse(sp, sub, name, why);
}

/*
 * A regular file the spool must not use all the same: one with another
 * name elsewhere (a hard link, through which a write or a repair would
 * change a file outside the spool), or a log bigger than any worker
 * writes. NULL when it is fine, else why not, in buf.
 */
static const char *misfit(enum fm_spool_dir sub, const struct stat *st, char *buf, size_t len)
{
	if (st->st_nlink > 1) {
		snprintf(buf, len,
			 "a hard link (%lu names): refused, a write through it would change a "
			 "file elsewhere",
			 (unsigned long)st->st_nlink);
		return buf;
	}
	if (sub == FM_SPOOL_LOG && st->st_size > FM_SPOOL_LOG_READ_MAX) {
		snprintf(buf, len, "%lld bytes, more than a task log holds (%lld bytes)",
			 (long long)st->st_size, (long long)FM_SPOOL_LOG_READ_MAX);
		return buf;
	}
	return NULL;
}

int fm_spool_regular(struct fm_spool *sp, enum fm_spool_dir sub, const char *name,
		     unsigned char d_type)
{
	struct stat st;
	mode_t m;

	if (d_type == DT_REG)
		return 1;
	if (d_type == DT_UNKNOWN) {
		if (fstatat(sp->fd[sub], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0; /* gone */
		m = st.st_mode;
	} else {
		m = DTTOIF(d_type);
	}
	if (S_ISREG(m))
		return 1;
	skip_warn(sp, sub, name, m);
	return 0;
}

int fm_spool_openat(struct fm_spool *sp, enum fm_spool_dir sub, const char *name, int flags,
		    mode_t mode)
{
	int fd = openat(sp->fd[sub], name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode), e;
	const char *why;
	struct stat st;
	char buf[128];

	if (fd < 0) {
		/* ELOOP a symlink, EISDIR a folder, ENXIO a socket or a FIFO without reader. */
		e = errno;
		if ((e == ELOOP || e == EISDIR || e == ENXIO || e == ENODEV) &&
		    fstatat(sp->fd[sub], name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode)) {
			skip_warn(sp, sub, name, st.st_mode);
			return FM_SPOOL_NOT_FILE;
		}
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		skip_warn(sp, sub, name, st.st_mode);
		return FM_SPOOL_NOT_FILE;
	}
	if ((why = misfit(sub, &st, buf, sizeof(buf)))) {
		close(fd);
		refuse(sp, sub, name, why);
		return FM_SPOOL_NOT_FILE;
	}
	/* O_NONBLOCK was for a FIFO's open; a regular file's reads never wait anyway. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* --- enqueueing --------------------------------------------------------- */

/* Strictly increasing within a process, so one batch keeps its order. */
static unsigned long long next_seq(void)
{
	static unsigned long long last;
	struct timespec ts;
	unsigned long long s;

	clock_gettime(CLOCK_REALTIME, &ts);
	s = (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
	if (s <= last)
		s = last + 1;
	last = s;
	return s;
}

/*
 * Opens the queueing lock's file, SPOOL/lock, made when missing. For
 * writing: on NFS, flock is a POSIX lock, which needs that. Only someone
 * who may not write it (a read-only copy of the spool) gets it read-only,
 * which a local file system still locks.
 */
static int open_lock(struct fm_spool *sp, struct fm_error *err)
{
	char *path = fm_xasprintf("%s/" FM_SPOOL_LOCK, sp->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666), e;
	struct stat st;

	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	/* ELOOP a symlink, EISDIR a folder, ENXIO a socket; a FIFO opens. */
	e = errno;
	if (fd < 0 ? lstat(path, &st) == 0 && !S_ISREG(st.st_mode)
		   : fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "'%s' is %s: the spool's lock must be a regular file", path,
			 kind_name(st.st_mode));
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else if (fd < 0) {
		errno = e;
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot open '%s':", path);
	}
	free(path);
	return fd;
}

int fm_spool_lock(struct fm_spool *sp, struct fm_error *err)
{
	int fd;

	if (sp->locked)
		return 0;
	if ((fd = open_lock(sp, err)) < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				 "cannot lock '%s/" FM_SPOOL_LOCK "':", sp->dir);
			close(fd);
			return -1;
		}
	/*
	 * Submitters before SPOOL/lock locked queue/ itself: where a folder
	 * can be locked (not on NFS), they are kept out too. Either lock
	 * alone never waits for the other, so this order cannot deadlock.
	 */
	while (flock(sp->fd[FM_SPOOL_QUEUE], LOCK_EX) < 0 && errno == EINTR)
		;
	sp->lockfd = fd;
	sp->locked = 1;
	return 0;
}

/*
 * The queueing lock's file counts commits: every commit that queued a
 * task, and every prune that removed one, writes the next number there
 * under the lock. A holder that finds the number it last saw knows the
 * ids it has are still every id there is, and need not read the folders
 * again: a long-lived holder (filmeto-serve) queues in time that does not
 * grow with the spool. Text, so a person can read it; a file too short
 * or not a number is generation 0.
 */
#define GEN_LEN 21
static uint64_t lock_gen(int fd)
{
	char buf[GEN_LEN + 1];
	ssize_t n = pread(fd, buf, GEN_LEN, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

/* The next generation, written under the lock; a lock only read (a read-only copy) is left. */
static uint64_t bump_gen(struct fm_spool *sp)
{
	char buf[GEN_LEN + 1];
	uint64_t gen = lock_gen(sp->lockfd) + 1;

	snprintf(buf, sizeof(buf), "%020llu\n", (unsigned long long)gen);
	if (pwrite(sp->lockfd, buf, GEN_LEN, 0) != GEN_LEN)
		return 0;
	return gen;
}

void fm_spool_unlock(struct fm_spool *sp)
{
	/* The ids stay, for the next holder of the lock to check against the generation. */
	sp->ids_fresh = 0;
	if (sp->locked) {
		if (sp->fd[FM_SPOOL_QUEUE] >= 0)
			flock(sp->fd[FM_SPOOL_QUEUE], LOCK_UN);
		close(sp->lockfd);
		sp->lockfd = -1;
	}
	sp->locked = 0;
}

/* The ids, read under the lock once: only our own puts add to them after. */
static int load_ids(struct fm_spool *sp, struct fm_error *err)
{
	static const enum fm_spool_dir dirs[] = {FM_SPOOL_QUEUE, FM_SPOOL_DONE, FM_SPOOL_FAILED};
	static const enum fm_spool_state states[] = {FM_SPOOL_QUEUED, FM_SPOOL_DONE_STATE,
						     FM_SPOOL_FAILED_STATE};
	json_object *ids;
	size_t d, i;

	if (fm_spool_lock(sp, err) < 0)
		return -1;
	/*
	 * Read or checked under this hold of the lock (they hold our puts
	 * too), or read under an earlier one with no commit by anyone since:
	 * still every id.
	 */
	if (sp->ids && (sp->ids_fresh || (sp->ids_gen && lock_gen(sp->lockfd) == sp->ids_gen))) {
		sp->ids_fresh = 1;
		return 0;
	}
	json_object_put(sp->ids);
	sp->ids = NULL;
	sp->ids_gen = lock_gen(sp->lockfd);
	ids = json_object_new_object();
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char **names;
		size_t n;

		if (read_names(sp, dirs[d], &names, &n, err) < 0) {
			json_object_put(ids);
			return -1;
		}
		for (i = 0; i < n; i++)
			json_object_object_add(
			    ids, FM_SPOOL_ID(names[i]),
			    json_object_new_string(fm_spool_state_name(states[d])));
		fm_spool_names_free(names, n);
	}
	sp->ids = ids;
	sp->ids_fresh = 1;
	return 0;
}

int fm_spool_ids(struct fm_spool *sp, json_object **ids, struct fm_error *err)
{
	/* The ids the puts check against, read once under the lock: no stat per entry. */
	*ids = NULL;
	if (load_ids(sp, err) < 0)
		return -1;
	*ids = json_object_get(sp->ids);
	return 0;
}

/*
 * A new file tmp/NAME holding one line, made durable when sync asks; on
 * failure it is gone again. Nothing is followed and nothing replaced.
 */
static int put_tmp(struct fm_spool *sp, const char *tmp, const char *line, int sync,
		   struct fm_error *err)
{
	int fd = openat(sp->fd[FM_SPOOL_TMP], tmp,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	int bad;

	if (fd < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot create '%s/tmp/%s':", sp->dir, tmp);
	bad = write_all(fd, line, strlen(line)) < 0 || write_all(fd, "\n", 1) < 0 ||
	      (sync && fsync(fd) < 0);
	if (close(fd) < 0)
		bad = 1;
	if (bad) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s/tmp/%s':", sp->dir,
			 tmp);
		unlinkat(sp->fd[FM_SPOOL_TMP], tmp, 0);
		return -1;
	}
	return 0;
}

int fm_spool_put(struct fm_spool *sp, json_object *task, char name[FM_SPOOL_NAME_MAX],
		 struct fm_error *err)
{
	const char *id = fm_json_get_string(task, "task_id");
	char tmp[FM_SPOOL_NAME_MAX + 24];
	json_object *had;

	if (!fm_id_valid(id))
		return fm_error(err, FM_VALIDATION_ERROR, "a queued task needs a valid task_id");
	if (load_ids(sp, err) < 0)
		return -1;
	if (json_object_object_get_ex(sp->ids, id, &had))
		return fm_error(err, FM_VALIDATION_ERROR,
				"task '%s': the spool has a task of that id already (%s)", id,
				json_object_get_string(had));
	snprintf(name, FM_SPOOL_NAME_MAX, "%016llx.%s", next_seq(), id);
	snprintf(tmp, sizeof(tmp), "%s.%ld", name, (long)getpid());
	if (put_tmp(sp, tmp, fm_json_str(task), 0, err) < 0)
		return -1;
	sp->pending = fm_xrealloc(sp->pending, (sp->npending + 1) * sizeof(*sp->pending));
	sp->pending[sp->npending++] = fm_xstrdup(tmp);
	json_object_object_add(sp->ids, id, json_object_new_string("queued"));
	return 0;
}

void fm_spool_unput(struct fm_spool *sp, size_t keep)
{
	while (sp->npending > keep) {
		char *tmp = sp->pending[--sp->npending];
		/* tmp/SEQ.ID.PID: the id lies between the first and the last dot. */
		char *id = strchr(tmp, '.'), *pid = strrchr(tmp, '.');

		unlinkat(sp->fd[FM_SPOOL_TMP], tmp, 0);
		if (sp->ids && id && pid > id) {
			*pid = '\0';
			json_object_object_del(sp->ids, id + 1);
		}
		free(tmp);
	}
}

/*
 * Data first, then names: a file is renamed into queue/ only once its
 * contents are on disk. A few files are fsynced one by one; a batch is
 * made durable by one syncfs(2), which is one journal commit instead of
 * one per file.
 */
static int durable(int dfd, int *fds, size_t n)
{
	size_t i;

	if (n > FM_SPOOL_FSYNC_MAX)
		return syncfs(dfd);
	for (i = 0; i < n; i++)
		if (fdatasync(fds[i]) < 0)
			return -1;
	return 0;
}

int fm_spool_commit(struct fm_spool *sp, struct fm_error *err)
{
	size_t i, n = sp->npending;
	int *fds = fm_xcalloc(n ? n : 1, sizeof(int)), rc = 0;

	for (i = 0; i < n && n <= FM_SPOOL_FSYNC_MAX; i++)
		fds[i] = openat(sp->fd[FM_SPOOL_TMP], sp->pending[i],
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (durable(sp->fd[FM_SPOOL_TMP], fds, n) < 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot fsync '%s/tmp':", sp->dir);
	for (i = 0; i < n; i++) {
		const char *tmp = sp->pending[i];
		char name[FM_SPOOL_NAME_MAX];

		if (n <= FM_SPOOL_FSYNC_MAX && fds[i] >= 0)
			close(fds[i]);
		/* tmp/NAME.PID becomes queue/NAME */
		snprintf(name, sizeof(name), "%.*s", (int)(strrchr(tmp, '.') - tmp), tmp);
		if (rc == 0 &&
		    renameat(sp->fd[FM_SPOOL_TMP], tmp, sp->fd[FM_SPOOL_QUEUE], name) < 0)
			rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				      "cannot move '%s' into '%s/queue':", name, sp->dir);
		if (rc < 0)
			unlinkat(sp->fd[FM_SPOOL_TMP], tmp, 0);
		free(sp->pending[i]);
	}
	free(fds);
	free(sp->pending);
	sp->pending = NULL;
	sp->npending = 0;
	/*
	 * What is queued now is in queue/ and in the ids: they stay good
	 * under the next generation. After a failure they are read afresh.
	 */
	if (rc == 0 && n && sp->locked && sp->ids)
		sp->ids_gen = bump_gen(sp);
	else if (rc < 0 || !sp->locked) {
		json_object_put(sp->ids);
		sp->ids = NULL;
	}
	if (rc == 0 && n)
		rc = fm_spool_sync(sp, FM_SPOOL_QUEUE, err);
	return rc;
}

int fm_spool_check_plan(struct fm_spool *sp, const struct fm_plan *plan, json_object *problems,
			struct fm_error *err)
{
	json_object *spooled, *name;
	size_t i, k;

	if (fm_spool_ids(sp, &spooled, err) < 0)
		return -1;
	for (i = 0; i < plan->n; i++) {
		const char *id = fm_plan_task(plan, i)->id;

		if (id && json_object_object_get_ex(spooled, id, &name))
			fm_problem(problems,
				   "task '%s': the spool has a task of that id already (%s)", id,
				   json_object_get_string(name));
	}
	for (i = 0; i < plan->n; i++) {
		const struct fm_plan_task *t = fm_plan_task(plan, i);

		for (k = 0; t->id && k < json_object_array_length(t->needs); k++) {
			const char *d =
			    json_object_get_string(json_object_array_get_idx(t->needs, k));

			if (d && !fm_plan_has(plan, d) &&
			    !json_object_object_get_ex(spooled, d, NULL))
				fm_problem(
				    problems,
				    "task '%s': depends on task '%s', which is neither in the "
				    "plan nor in the spool",
				    t->id, d);
		}
	}
	json_object_put(spooled);
	return 0;
}

int fm_spool_enqueue(struct fm_spool *sp, json_object *tasks,
		     void (*durable)(void *ctx, size_t from, size_t to), void *ctx, size_t *queued,
		     struct fm_error *err)
{
	size_t i, n = json_object_array_length(tasks);
	char name[FM_SPOOL_NAME_MAX];

	*queued = 0;
	for (i = 0; i < n; i++) {
		if (fm_spool_put(sp, json_object_array_get_idx(tasks, i), name, err) < 0)
			return -1;
		if ((i + 1) % FM_SPOOL_BATCH == 0) {
			if (fm_spool_commit(sp, err) < 0)
				return -1;
			durable(ctx, *queued, i + 1);
			*queued = i + 1;
		}
	}
	if (fm_spool_commit(sp, err) < 0)
		return -1;
	durable(ctx, *queued, n);
	*queued = n;
	return 0;
}

int fm_spool_sync(struct fm_spool *sp, enum fm_spool_dir sub, struct fm_error *err)
{
	if (fsync(sp->fd[sub]) < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot fsync '%s/%s':", sp->dir,
				subdirs[sub]);
	return 0;
}

/* --- reading ------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The valid names in a subdirectory, sorted. */
static int read_names(struct fm_spool *sp, enum fm_spool_dir sub, char ***names, size_t *n,
		      struct fm_error *err)
{
	int fd = openat(sp->fd[sub], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct fm_buf list = FM_BUF_INIT; /* char *[] */
	struct dirent *d;
	DIR *dir;

	*names = NULL;
	*n = 0;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s/%s':", sp->dir,
				subdirs[sub]);
	}
	while ((d = readdir(dir))) {
		char *name;

		if (strlen(d->d_name) >= FM_SPOOL_NAME_MAX || !name_valid(d->d_name) ||
		    !fm_spool_regular(sp, sub, d->d_name, d->d_type))
			continue;
		name = fm_xstrdup(d->d_name);
		fm_buf_add(&list, &name, sizeof(name));
	}
	closedir(dir);
	*n = list.len / sizeof(**names);
	*names = (char **)fm_buf_detach(&list, NULL);
	if (*n)
		qsort(*names, *n, sizeof(**names), by_name);
	return 0;
}

void fm_spool_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int fm_spool_scan(struct fm_spool *sp, char ***names, size_t *n, struct fm_error *err)
{
	return read_names(sp, FM_SPOOL_QUEUE, names, n, err);
}

/*
 * queue/NAME opened to be locked: for writing, which flock on NFS needs
 * (see the top of this file); read-only only for someone who may not
 * write it, which a local file system still locks.
 */
static int open_task(struct fm_spool *sp, const char *name)
{
	int fd = fm_spool_openat(sp, FM_SPOOL_QUEUE, name, O_RDWR, 0);

	if (fd == -1 && (errno == EACCES || errno == EROFS))
		fd = fm_spool_openat(sp, FM_SPOOL_QUEUE, name, O_RDONLY, 0);
	return fd;
}

/* Whether some worker holds the task's lock. */
static int locked(struct fm_spool *sp, const char *name)
{
	int fd = open_task(sp, name), held;

	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* A failed task's log tells failed from cancelled, and the error code. */
static void failed_kind(struct fm_spool *sp, struct fm_spool_entry *e)
{
	struct fm_spool_logscan ls;
	int fd = fm_spool_openat(sp, FM_SPOOL_LOG, e->name, O_RDONLY, 0);
	const char *code;

	e->state = FM_SPOOL_FAILED_STATE;
	if (fd < 0)
		return;
	if (fm_spool_logscan(fd, &ls, NULL) == 0 && ls.final) {
		if (!strcmp(fm_json_get_string(ls.final, "type"), "cancelled"))
			e->state = FM_SPOOL_CANCELLED;
		code = fm_json_get_string(fm_json_get(ls.final, "error", json_type_object), "code");
		if (code)
			snprintf(e->code, sizeof(e->code), "%s", code);
	}
	fm_spool_logscan_release(&ls);
	close(fd);
}

static void add_entry(struct fm_spool *sp, enum fm_spool_dir sub, const char *name, int probe,
		      struct fm_spool_entry *e)
{
	struct stat st;

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->queued_at = name_time(name);
	e->changed_at = e->queued_at;
	if (fstatat(sp->fd[sub], name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		e->changed_at = mtime_of(&st);
	switch (sub) {
	case FM_SPOOL_QUEUE:
		e->state = probe && locked(sp, name) ? FM_SPOOL_RUNNING : FM_SPOOL_QUEUED;
		/* A queued task's mtime is its claim: only a running one has one. */
		if (e->state == FM_SPOOL_QUEUED)
			e->changed_at = e->queued_at;
		break;
	case FM_SPOOL_DONE: e->state = FM_SPOOL_DONE_STATE; break;
	default:
		e->state = FM_SPOOL_FAILED_STATE;
		if (probe)
			failed_kind(sp, e);
		break;
	}
}

static int by_entry(const void *a, const void *b)
{
	return strcmp(((const struct fm_spool_entry *)a)->name,
		      ((const struct fm_spool_entry *)b)->name);
}

int fm_spool_list(struct fm_spool *sp, int probe, struct fm_spool_entry **v, size_t *n,
		  struct fm_error *err)
{
	static const enum fm_spool_dir dirs[] = {FM_SPOOL_QUEUE, FM_SPOOL_DONE, FM_SPOOL_FAILED};
	struct fm_buf list = FM_BUF_INIT; /* struct fm_spool_entry[] */
	size_t d, i;

	*v = NULL;
	*n = 0;
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char **names;
		size_t k;

		if (read_names(sp, dirs[d], &names, &k, err) < 0) {
			fm_buf_release(&list);
			return -1;
		}
		for (i = 0; i < k; i++) {
			struct fm_spool_entry e;

			add_entry(sp, dirs[d], names[i], probe, &e);
			fm_buf_add(&list, &e, sizeof(e));
		}
		fm_spool_names_free(names, k);
	}
	*n = list.len / sizeof(**v);
	*v = (struct fm_spool_entry *)fm_buf_detach(&list, NULL);
	if (*n)
		qsort(*v, *n, sizeof(**v), by_entry);
	return 0;
}

/* Looks in one subdirectory for a name ending in ".ID". */
static int find_in(struct fm_spool *sp, enum fm_spool_dir sub, const char *id,
		   char name[FM_SPOOL_NAME_MAX])
{
	int fd = openat(sp->fd[sub], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), found = 0;
	struct dirent *d;
	DIR *dir;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (!found && (d = readdir(dir)))
		if (strlen(d->d_name) < FM_SPOOL_NAME_MAX && name_valid(d->d_name) &&
		    !strcmp(FM_SPOOL_ID(d->d_name), id) &&
		    fm_spool_regular(sp, sub, d->d_name, d->d_type)) {
			memcpy(name, d->d_name, strlen(d->d_name) + 1); /* valid: it fits */
			found = 1;
		}
	closedir(dir);
	return found;
}

int fm_spool_find(struct fm_spool *sp, const char *id, struct fm_spool_entry *e,
		  struct fm_error *err)
{
	static const enum fm_spool_dir dirs[] = {FM_SPOOL_QUEUE, FM_SPOOL_DONE, FM_SPOOL_FAILED};
	char name[FM_SPOOL_NAME_MAX];
	const char *hint;
	struct stat st;
	size_t d;

	if (!fm_id_valid(id))
		return fm_error(err, FM_VALIDATION_ERROR, "'%s' is not a task id", id);
	/*
	 * Finishing renames queue/ to done/ or failed/: look where a task goes
	 * after where it was, so a move during the search cannot hide it.
	 * First by the name it had when last found, then by a search.
	 */
	hint = fm_json_get_string(sp->found, id);
	if (hint && strlen(hint) < sizeof(name)) {
		memcpy(name, hint, strlen(hint) + 1);
		for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
			if (!fm_spool_regular(sp, dirs[d], name, DT_UNKNOWN))
				continue;
			add_entry(sp, dirs[d], name, 1, e);
			if (dirs[d] != FM_SPOOL_QUEUE ||
			    fstatat(sp->fd[FM_SPOOL_QUEUE], name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				return 0;
		}
	}
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		if (!find_in(sp, dirs[d], id, name))
			continue;
		add_entry(sp, dirs[d], name, 1, e);
		if (dirs[d] != FM_SPOOL_QUEUE ||
		    fstatat(sp->fd[FM_SPOOL_QUEUE], name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!sp->found ||
			    json_object_object_length(sp->found) >= FM_SPOOL_FOUND_MAX) {
				json_object_put(sp->found);
				sp->found = json_object_new_object();
			}
			json_object_object_add(sp->found, id, json_object_new_string(name));
			return 0;
		}
	}
	if (hint)
		json_object_object_del(sp->found, id);
	return fm_error(err, FM_TASK_NOT_FOUND, "no task '%s' in the spool '%s'", id, sp->dir);
}

static enum fm_spool_dir dir_of(enum fm_spool_state s)
{
	return s == FM_SPOOL_DONE_STATE				       ? FM_SPOOL_DONE
	       : s == FM_SPOOL_FAILED_STATE || s == FM_SPOOL_CANCELLED ? FM_SPOOL_FAILED
								       : FM_SPOOL_QUEUE;
}

int fm_spool_task(struct fm_spool *sp, const struct fm_spool_entry *e, json_object **task,
		  struct fm_error *err)
{
	char *buf;
	size_t len;
	int fd, rc;

	*task = NULL;
	fd = fm_spool_openat(sp, dir_of(e->state), e->name, O_RDONLY, 0);
	if (fd < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot read task '%s':", FM_SPOOL_ID(e->name));
	rc = fm_read_fd(fd, e->name, FM_LINE_MAX, &buf, &len, err);
	close(fd);
	if (rc < 0)
		return -1;
	rc = fm_json_parse(buf, len, task, err);
	free(buf);
	return rc;
}

/* --- logs --------------------------------------------------------------- */

#define PUT_BACK "the worker was interrupted: the task stays queued"

static int line_is(const char *line, size_t len, const char *type)
{
	size_t n = strlen(type);

	return len > n + 10 && !memcmp(line, "{\"type\":\"", 9) && !memcmp(line + 9, type, n) &&
	       line[9 + n] == '"';
}

static int final_line(const char *line, size_t len)
{
	return line_is(line, len, "completed") || line_is(line, len, "failed") ||
	       line_is(line, len, "cancelled");
}

/*
 * A put-back line: a log line of ours with "released": true. Older
 * workers wrote the same message without it; a plugin's log lines carry
 * an "attempt", ours never did, so neither can be forged by a plugin.
 */
static int put_back_line(const char *line, size_t len)
{
	json_object *o, *v;
	int yes;

	if (!line_is(line, len, "log") || (!memmem(line, len, "\"released\":true", 15) &&
					   !memmem(line, len, PUT_BACK, strlen(PUT_BACK))))
		return 0;
	if (fm_json_parse(line, len, &o, NULL) < 0)
		return 0;
	v = json_object_object_get(o, "released");
	yes = v ? json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v)
		: !json_object_object_get_ex(o, "attempt", NULL) &&
		      !strcmp(fm_json_get_string(o, "message") ? fm_json_get_string(o, "message")
							       : "",
			      PUT_BACK);
	json_object_put(o);
	return yes;
}

static void keep(json_object **slot, const char *line, size_t len)
{
	json_object *o;

	if (fm_json_parse(line, len, &o, NULL) < 0)
		return;
	json_object_put(*slot);
	*slot = o;
}

/*
 * Only our own lines are in a log, each with "type" first, so the lines
 * that matter are found without parsing the progress in between. A last
 * line without its newline was cut short by a crash and does not count.
 */
int fm_spool_logscan(int fd, struct fm_spool_logscan *ls, struct fm_error *err)
{
	const char *p, *end, *nl, *prog = NULL, *buf;
	struct fm_buf log = FM_BUF_INIT;
	size_t chunk = 65536, plen = 0;
	char *part = fm_xmalloc(chunk);
	ssize_t n;

	memset(ls, 0, sizeof(*ls));
	while ((n = pread(fd, part, chunk, (off_t)log.len)) > 0) {
		fm_buf_add(&log, part, (size_t)n);
		if (log.len > FM_SPOOL_LOG_READ_MAX) {
			free(part);
			fm_buf_release(&log);
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"more than %lld bytes, more than a task log holds",
					(long long)FM_SPOOL_LOG_READ_MAX);
		}
	}
	free(part);
	if (n < 0) {
		fm_buf_release(&log);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read:");
	}
	buf = fm_buf_str(&log);
	for (p = buf, end = buf + log.len; p < end && (nl = memchr(p, '\n', (size_t)(end - p)));
	     p = nl + 1) {
		size_t l = (size_t)(nl - p);

		if (line_is(p, l, "claimed")) {
			ls->claims++;
			keep(&ls->claimed, p, l);
		} else if (line_is(p, l, "progress")) {
			prog = p;
			plen = l;
		} else if (final_line(p, l)) {
			keep(&ls->final, p, l);
		} else if (put_back_line(p, l)) {
			ls->released++;
		}
		ls->good = (off_t)(nl + 1 - buf);
	}
	if (prog)
		keep(&ls->progress, prog, plen);
	fm_buf_release(&log);
	return 0;
}

void fm_spool_logscan_release(struct fm_spool_logscan *ls)
{
	json_object_put(ls->claimed);
	json_object_put(ls->progress);
	json_object_put(ls->final);
	memset(ls, 0, sizeof(*ls));
}

static void add_time(json_object *o, const char *key, double t)
{
	char buf[32];

	fm_timestamp_at(t, buf);
	json_object_object_add(o, key, json_object_new_string(buf));
}

int fm_spool_status(struct fm_spool *sp, const char *id, json_object **st, struct fm_error *err)
{
	struct fm_spool_logscan ls = {0};
	struct fm_spool_entry e = {0};
	json_object *task = NULL, *o, *p;
	char *path;
	int fd;

	*st = NULL;
	if (fm_spool_find(sp, id, &e, err) < 0)
		return -1;
	fm_spool_task(sp, &e, &task, NULL);
	fd = fm_spool_openat(sp, FM_SPOOL_LOG, e.name, O_RDONLY, 0);
	if (fd >= 0) {
		fm_spool_logscan(fd, &ls, NULL);
		close(fd);
	}
	o = fm_event_new("status", id);
	json_object_object_add(o, "state", json_object_new_string(fm_spool_state_name(e.state)));
	if (task) {
		json_object *plugin = json_object_object_get(task, "plugin_name");

		json_object_object_add(o, "tool_name",
				       json_object_get(json_object_object_get(task, "tool_name")));
		/* The plugin that ran it, when the task left the choice open. */
		if (!plugin && ls.final)
			plugin = json_object_object_get(
			    fm_json_get(ls.final, "metadata", json_type_object), "plugin_name");
		json_object_object_add(o, "plugin_name", json_object_get(plugin));
	}
	add_time(o, "queued_at", e.queued_at);
	if (e.state != FM_SPOOL_QUEUED)
		add_time(o, e.state == FM_SPOOL_RUNNING ? "started_at" : "finished_at",
			 e.changed_at);
	json_object_object_add(o, "attempts", json_object_new_int(ls.claims));
	if (ls.claimed)
		json_object_object_add(
		    o, "worker", json_object_get(json_object_object_get(ls.claimed, "worker")));
	if (ls.progress && !ls.final) {
		p = json_object_new_object();
		json_object_object_add(
		    p, "percent", json_object_get(json_object_object_get(ls.progress, "percent")));
		json_object_object_add(
		    p, "message", json_object_get(json_object_object_get(ls.progress, "message")));
		json_object_object_add(
		    p, "stage", json_object_get(json_object_object_get(ls.progress, "stage")));
		json_object_object_add(o, "progress", p);
	}
	json_object_object_add(o, "result", ls.final ? json_object_get(ls.final) : NULL);
	path = fm_spool_path(sp, FM_SPOOL_LOG, e.name);
	json_object_object_add(o, "log", json_object_new_string(path));
	free(path);
	fm_spool_logscan_release(&ls);
	json_object_put(task);
	*st = o;
	return 0;
}

/* --- claiming ----------------------------------------------------------- */

static void claim_init(struct fm_spool_claim *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = c->log = -1;
}

static void claim_release(struct fm_spool_claim *c)
{
	if (c->log >= 0)
		close(c->log);
	if (c->fd >= 0)
		close(c->fd); /* the lock goes with it */
	free(c->line);
	free(c->refused);
	json_object_put(c->final);
	claim_init(c);
}

void fm_spool_unclaim(struct fm_spool_claim *c)
{
	claim_release(c);
}

/*
 * Locks queue/name: 1 ours, 0 gone or someone else's; -1 it cannot be
 * opened, -2 not locked (errno says why: EBADF, a read-only file on NFS).
 */
static int lock_entry(struct fm_spool *sp, const char *name, int *fdp)
{
	struct stat a, b;
	int fd = open_task(sp, name);

	*fdp = -1;
	if (fd < 0)
		return fd == FM_SPOOL_NOT_FILE || errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return e == EWOULDBLOCK ? 0 : -2;
	}
	/* Still there? A worker may have moved it on since our open. */
	if (fstat(fd, &a) < 0 ||
	    fstatat(sp->fd[FM_SPOOL_QUEUE], name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		return 0;
	}
	*fdp = fd;
	return 1;
}

int fm_spool_begin(struct fm_spool_claim *c)
{
	json_object *ev = fm_event_new("claimed", FM_SPOOL_ID(c->name));
	char host[256] = "", who[320];
	int rc;

	gethostname(host, sizeof(host) - 1);
	snprintf(who, sizeof(who), "%s:%ld", host, (long)getpid());
	json_object_object_add(ev, "attempt", json_object_new_int(c->attempt));
	json_object_object_add(ev, "worker", json_object_new_string(who));
	rc = fm_spool_log(c, fm_json_str(ev), strlen(fm_json_str(ev)), 1);
	json_object_put(ev);
	if (rc == 0 && c->attempt > 1) {
		char msg[160];

		ev = fm_event_new("log", FM_SPOOL_ID(c->name));
		snprintf(msg, sizeof(msg),
			 "attempt %d: the worker of attempt %d stopped before the task ended",
			 c->attempt, c->attempt - 1);
		json_object_object_add(ev, "level", json_object_new_string("warning"));
		json_object_object_add(ev, "message", json_object_new_string(msg));
		rc = fm_spool_log(c, fm_json_str(ev), strlen(fm_json_str(ev)), 1);
		json_object_put(ev);
	}
	return rc;
}

int fm_spool_put_back(struct fm_spool_claim *c)
{
	json_object *ev = fm_event_new("log", FM_SPOOL_ID(c->name));
	int rc;

	json_object_object_add(ev, "level", json_object_new_string("warning"));
	json_object_object_add(ev, "message", json_object_new_string(PUT_BACK));
	json_object_object_add(ev, "released", json_object_new_boolean(1));
	rc = fm_spool_log(c, fm_json_str(ev), strlen(fm_json_str(ev)), 1);
	json_object_put(ev);
	return rc;
}

/* A cancel request is a regular file in cancel/; anything else is said and ignored. */
static int cancel_requested(struct fm_spool *sp, const char *id)
{
	struct stat st;

	if (fstatat(sp->fd[FM_SPOOL_CANCEL], id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISREG(st.st_mode))
		return 1;
	skip_warn(sp, FM_SPOOL_CANCEL, id, st.st_mode);
	return 0;
}

/*
 * The task line of a claim. One over FM_LINE_MAX is no task and never
 * will be: c->refused says so, for the worker to fail it. -1 when it
 * cannot be read at all, said through warn: it is skipped.
 */
static int read_task(struct fm_spool *sp, struct fm_spool_claim *c)
{
	struct fm_error err = FM_ERROR_INIT;
	char *path = fm_spool_path(sp, FM_SPOOL_QUEUE, c->name);
	int rc = 0;

	if (fm_read_fd(c->fd, path, FM_LINE_MAX, &c->line, &c->len, &err) < 0) {
		if (err.code == FM_VALIDATION_ERROR) {
			c->refused = fm_xasprintf("%s for a task line", err.message);
		} else {
			refuse(sp, FM_SPOOL_QUEUE, c->name, err.message);
			rc = -1;
		}
	}
	fm_error_release(&err);
	free(path);
	return rc;
}

int fm_spool_claim(struct fm_spool *sp, const char *name, struct fm_spool_claim *c,
		   struct fm_error *err)
{
	struct fm_spool_logscan ls;
	struct stat st;
	int got;

	claim_init(c);
	if (!name_valid(name) || strlen(name) >= FM_SPOOL_NAME_MAX)
		return 0;
	got = lock_entry(sp, name, &c->fd);
	if (got <= 0)
		return got < 0 ? fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					  got == -1 ? "cannot open '%s/queue/%s':"
						    : "cannot lock '%s/queue/%s':",
					  sp->dir, name)
			       : 0;
	snprintf(c->name, sizeof(c->name), "%s", name);
	/* The file we locked, not whatever has the name now. */
	if (read_task(sp, c) < 0) {
		claim_release(c);
		return 0;
	}
	c->log = fm_spool_openat(sp, FM_SPOOL_LOG, name, O_RDWR | O_CREAT | O_APPEND, 0666);
	if (c->log == FM_SPOOL_NOT_FILE) {
		/* Not a log we can trust: the task waits, said once, for someone to look. */
		c->log = -1;
		claim_release(c);
		return 0;
	}
	if (c->log < 0 || fstat(c->log, &st) < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot open '%s/log/%s':", sp->dir,
			 name);
		goto fail;
	}
	if (st.st_size > 0) {
		struct fm_error why = FM_ERROR_INIT;

		if (fm_spool_logscan(c->log, &ls, &why) < 0) {
			/* Grown past its bound since the open, or unreadable: as above. */
			refuse(sp, FM_SPOOL_LOG, name, why.message);
			fm_error_release(&why);
			claim_release(c);
			return 0;
		}
		/* A worker killed mid-write leaves half a line: it goes. */
		if (ls.good < st.st_size && ftruncate(c->log, ls.good) < 0) {
			fm_spool_logscan_release(&ls);
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				 "cannot repair '%s/log/%s':", sp->dir, name);
			goto fail;
		}
		c->attempt = ls.claims;
		c->deaths = ls.claims > ls.released ? ls.claims - ls.released : 0;
		c->final = ls.final ? json_object_get(ls.final) : NULL;
		c->logged = ls.good;
		fm_spool_logscan_release(&ls);
	}
	c->attempt++;
	c->cancel = cancel_requested(sp, FM_SPOOL_ID(name));
	futimens(c->fd, NULL); /* the mtime of a running task is when it started */
	return 1;
fail:
	claim_release(c);
	return -1;
}

int fm_spool_log(struct fm_spool_claim *c, const char *line, size_t len, int must_keep)
{
	int rc = 0;

	if (c->werr) {
		errno = c->werr;
		return -1;
	}
	if (c->logged + (off_t)len + 1 > FM_SPOOL_LOG_MAX && !must_keep) {
		if (!c->truncated) {
			json_object *ev = fm_event_new("log", FM_SPOOL_ID(c->name));
			const char *s;

			json_object_object_add(ev, "level", json_object_new_string("warning"));
			json_object_object_add(
			    ev, "message",
			    json_object_new_string(
				"the log reached its size limit: only final lines follow"));
			s = fm_json_str(ev);
			c->truncated = 1;
			rc = fm_spool_log(c, s, strlen(s), 1);
			json_object_put(ev);
		}
		return rc;
	}
	/* One write per line: O_APPEND keeps it whole beside other writers. */
	{
		char stackbuf[4096],
		    *buf = len + 1 <= sizeof(stackbuf) ? stackbuf : fm_xmalloc(len + 1);

		memcpy(buf, line, len);
		buf[len] = '\n';
		if (write_all(c->log, buf, len + 1) < 0) {
			c->werr = errno ? errno : EIO;
			rc = -1;
		}
		if (buf != stackbuf)
			free(buf);
	}
	if (rc < 0) {
		errno = c->werr;
		return -1;
	}
	c->logged += (off_t)len + 1;
	return 0;
}

int fm_spool_flush(struct fm_spool *sp, struct fm_spool_claim **c, size_t n, struct fm_error *err)
{
	int stack[FM_SPOOL_FSYNC_MAX], *fds = stack;
	size_t i;

	for (i = 0; i < n && n <= FM_SPOOL_FSYNC_MAX; i++)
		fds[i] = c[i]->log;
	if (durable(sp->fd[FM_SPOOL_LOG], fds, n) < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot fsync '%s/log':", sp->dir);
	return 0;
}

int fm_spool_finish(struct fm_spool *sp, struct fm_spool_claim *c, enum fm_spool_dir to,
		    struct fm_error *err)
{
	int rc = 0;

	futimens(c->fd, NULL); /* a finished task's mtime is when it ended */
	if (renameat(sp->fd[FM_SPOOL_QUEUE], c->name, sp->fd[to], c->name) < 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			      "cannot move '%s' to '%s/%s':", c->name, sp->dir, subdirs[to]);
	if (rc == 0)
		unlinkat(sp->fd[FM_SPOOL_CANCEL], FM_SPOOL_ID(c->name), 0);
	claim_release(c);
	return rc;
}

/* --- cancel and prune --------------------------------------------------- */

static int request_cancel(struct fm_spool *sp, const char *id, struct fm_error *err)
{
	char tmp[FM_SPOOL_NAME_MAX + 32], ts[32];

	snprintf(tmp, sizeof(tmp), "cancel.%s.%ld", id, (long)getpid());
	unlinkat(sp->fd[FM_SPOOL_TMP], tmp, 0); /* an earlier process's of our pid */
	fm_timestamp(ts);
	if (put_tmp(sp, tmp, ts, 1, err) < 0)
		return -1;
	/* Over whatever has the name: a symlink or a FIFO is replaced, not followed. */
	if (renameat(sp->fd[FM_SPOOL_TMP], tmp, sp->fd[FM_SPOOL_CANCEL], id) < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			 "cannot request the cancel of '%s' as '%s/cancel/%s':", id, sp->dir, id);
		unlinkat(sp->fd[FM_SPOOL_TMP], tmp, 0);
		return -1;
	}
	return fm_spool_sync(sp, FM_SPOOL_CANCEL, err);
}

/* The final line of a task cancelled before it ran. */
static json_object *cancelled_line(const char *id)
{
	struct fm_result res;
	json_object *ev;

	fm_result_init(&res, id);
	res.status = FM_STATUS_CANCELLED;
	fm_error(&res.error, FM_TASK_CANCELLED, "task '%s' was cancelled (filmeto-submit --cancel)",
		 id);
	ev = fm_result_to_json(&res);
	fm_result_release(&res);
	return ev;
}

int fm_spool_cancel(struct fm_spool *sp, const char *id, struct fm_error *err)
{
	struct fm_spool_entry e = {0};
	struct fm_spool_claim c, *cp = &c;
	json_object *ev;
	int got;

	if (fm_spool_find(sp, id, &e, err) < 0)
		return -1;
	if (e.state != FM_SPOOL_QUEUED && e.state != FM_SPOOL_RUNNING)
		return 2;
	if (request_cancel(sp, id, err) < 0)
		return -1;
	got = fm_spool_claim(sp, e.name, &c, err);
	if (got < 0)
		return -1;
	if (got == 0) {
		/*
		 * Running, or it ended meanwhile: cancelled by its worker, which
		 * may have acted on our request before we looked again, or
		 * finished before the request reached it.
		 */
		if (fm_spool_find(sp, id, &e, NULL) == 0 &&
		    (e.state == FM_SPOOL_QUEUED || e.state == FM_SPOOL_RUNNING ||
		     e.state == FM_SPOOL_CANCELLED))
			return 1;
		unlinkat(sp->fd[FM_SPOOL_CANCEL], id, 0);
		return 2;
	}
	if (c.final) {
		/* Its worker died after the final line: only the move was missing. */
		got = !strcmp(fm_json_get_string(c.final, "type"), "completed");
		if (fm_spool_flush(sp, &cp, 1, err) < 0) {
			fm_spool_unclaim(&c);
			return -1;
		}
		if (fm_spool_finish(sp, &c, got ? FM_SPOOL_DONE : FM_SPOOL_FAILED, err) < 0)
			return -1;
		return 2;
	}
	ev = cancelled_line(id);
	got = fm_spool_log(&c, fm_json_str(ev), strlen(fm_json_str(ev)), 1);
	json_object_put(ev);
	if (got < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s/log/%s':", sp->dir,
			 e.name);
		fm_spool_unclaim(&c);
		return -1;
	}
	/* Not durable, not moved: the next claimer finds the line and moves it. */
	if (fm_spool_flush(sp, &cp, 1, err) < 0) {
		fm_spool_unclaim(&c);
		return -1;
	}
	if (fm_spool_finish(sp, &c, FM_SPOOL_FAILED, err) < 0)
		return -1;
	if (fm_spool_sync(sp, FM_SPOOL_QUEUE, err) < 0 ||
	    fm_spool_sync(sp, FM_SPOOL_FAILED, err) < 0)
		return -1;
	return 0;
}

double fm_spool_parse_age(const char *s)
{
	char *end;
	double v = strtod(s, &end), unit = 1;

	if (end == s || !(v >= 0) || v > 1e12)
		return -1;
	if (*end) {
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	return v * unit;
}

/*
 * What prune could not remove: said through warn, path and reason, and
 * counted; ENOENT is no failure, another pruner got there first.
 */
static int prune_failed(struct fm_spool *sp, enum fm_spool_dir sub, const char *name,
			unsigned long *failures)
{
	char *msg;

	if (errno == ENOENT)
		return 0;
	(*failures)++;
	if (sp->warn) {
		msg = fm_xasprintf("cannot remove '%s/%s/%s': %s", sp->dir, subdirs[sub], name,
				   strerror(errno));
		sp->warn(sp->warn_ctx, msg);
		free(msg);
	}
	return -1;
}

/* Removes one finished task; what is left behind is counted in *failures. */
static void prune_one(struct fm_spool *sp, enum fm_spool_dir sub, const char *name,
		      unsigned long *removed, unsigned long *failures)
{
	const char *id = FM_SPOOL_ID(name);
	char *out;

	/* The entry goes first: a log without one is debris, never a task. */
	if (unlinkat(sp->fd[sub], name, 0) < 0) {
		prune_failed(sp, sub, name, failures);
		return;
	}
	(*removed)++;
	if (unlinkat(sp->fd[FM_SPOOL_LOG], name, 0) < 0)
		prune_failed(sp, FM_SPOOL_LOG, name, failures);
	if (unlinkat(sp->fd[FM_SPOOL_CANCEL], id, 0) < 0)
		prune_failed(sp, FM_SPOOL_CANCEL, id, failures);
	/* out/ID with whatever it holds; a symlink there goes, not what it names. */
	out = fm_spool_path(sp, FM_SPOOL_OUT, id);
	if (fm_tree_remove(out) < 0)
		prune_failed(sp, FM_SPOOL_OUT, id, failures);
	free(out);
}

int fm_spool_prune(struct fm_spool *sp, double age, unsigned long *removed, struct fm_error *err)
{
	static const enum fm_spool_dir dirs[] = {FM_SPOOL_DONE, FM_SPOOL_FAILED};
	double cutoff = fm_epoch() - age;
	unsigned long failures = 0;
	size_t d, i;

	*removed = 0;
	fm_spool_clean_tmp(sp);
	for (d = 0; d < 2; d++) {
		char **names;
		size_t n;

		if (read_names(sp, dirs[d], &names, &n, err) < 0)
			return -1;
		for (i = 0; i < n; i++) {
			struct stat st;

			if (fstatat(sp->fd[dirs[d]], names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
				prune_failed(sp, dirs[d], names[i], &failures);
				continue;
			}
			if (mtime_of(&st) <= cutoff)
				prune_one(sp, dirs[d], names[i], removed, &failures);
		}
		fm_spool_names_free(names, n);
	}
	/* Ids removed: a holder of the old ones must read them again. */
	if (*removed && fm_spool_lock(sp, NULL) == 0) {
		bump_gen(sp);
		json_object_put(sp->ids);
		sp->ids = NULL;
		fm_spool_unlock(sp);
	}
	if (failures)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"could not remove %lu entr%s of '%s' (%lu task%s pruned)", failures,
				failures == 1 ? "y" : "ies", sp->dir, *removed,
				*removed == 1 ? "" : "s");
	return 0;
}

/* tmp/NAME.PID: debris once old and PID is gone. */
void fm_spool_clean_tmp(struct fm_spool *sp)
{
	int fd = openat(sp->fd[FM_SPOOL_TMP], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	double cutoff = fm_epoch() - FM_SPOOL_TMP_AGE;
	struct dirent *d;
	DIR *dir;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((d = readdir(dir))) {
		const char *dot = strrchr(d->d_name, '.');
		struct stat st;
		long pid;

		if (d->d_name[0] == '.' || !dot)
			continue;
		pid = strtol(dot + 1, NULL, 10);
		if (fstatat(sp->fd[FM_SPOOL_TMP], d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    mtime_of(&st) > cutoff ||
		    (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
			continue;
		unlinkat(sp->fd[FM_SPOOL_TMP], d->d_name, 0);
	}
	closedir(dir);
}
