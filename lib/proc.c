/*
 * Child processes in their own process groups. posix_spawn puts the child
 * in a new group (POSIX_SPAWN_SETPGROUP) and resets signal dispositions
 * and the mask, so a plugin never inherits our ignored SIGPIPE or blocked
 * signals. Signals go to the group, so helpers a plugin starts go too; and
 * once the leader is reaped the group is killed again, so nothing it left
 * behind outlives it.
 *
 * A daemon leaves the group (setsid) and, once its parent is gone, would
 * belong to init. A subreaper gets it instead, as an orphan: it is ours to
 * reap and to end. Which plugin made it is no longer known by then, but
 * only one that started before it can have: it is ended once no plugin
 * process that started before it still runs. That is exact when plugins
 * run one at a time, never early, and at the latest when the command
 * ends. A child older than every plugin was ours before any plugin ran
 * (a shell's, before it exec'd us): it is reaped, never ended.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

/* Live process groups, for fm_proc_signal_all(); slot 0 means free. */
#define MAX_LIVE 1024
static volatile sig_atomic_t live[MAX_LIVE];
/* When each live one started, in clock ticks since boot; and the first ever. */
static unsigned long long live_start[MAX_LIVE];
static int nlive; /* the pids in live[], which the event loop asks for often */
static unsigned long long first_start;
/*
 * Our children when the first plugin started (a shell's, before it
 * exec'd us): never a plugin's orphan, though one may have started in
 * the same clock tick as that plugin (10 ms; filmeto-run starts in 4).
 */
#define ELDERS_MAX 64
static volatile sig_atomic_t elder[ELDERS_MAX];

/*
 * Orphans adopted as a subreaper, with the newest spawn when first seen.
 * Only a subreaper looks for them: elsewhere a child not made here is the
 * caller's own, not an orphan.
 */
static int subreaper;
static volatile sig_atomic_t orphan[FM_ORPHANS_MAX];
static unsigned long long orphan_start[FM_ORPHANS_MAX];
static unsigned char orphan_ended[FM_ORPHANS_MAX];

/* How deep a tree an orphan's end follows, and how many per level. */
#define TREE_DEPTH 16
#define TREE_WIDTH 256

/* Field 22 of /proc/PID/stat, its start in clock ticks since boot; 0 if gone. */
static unsigned long long start_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	int fd, field;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The name in parentheses may hold anything: count from its end. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

static void each_child(pid_t pid, pid_t tid, void (*fn)(pid_t, void *), void *ctx);

static void note_elder(pid_t pid, void *spawned)
{
	size_t i;

	if (pid == *(pid_t *)spawned)
		return;
	for (i = 0; i < ELDERS_MAX; i++)
		if (!elder[i]) {
			elder[i] = pid;
			return;
		}
}

static int is_elder(pid_t pid)
{
	size_t i;

	for (i = 0; i < ELDERS_MAX && elder[i]; i++)
		if (elder[i] == pid)
			return 1;
	return 0;
}

/* Whether a plugin can have made orphan pid, which started at start. */
static int from_plugin(pid_t pid, unsigned long long start)
{
	return first_start && start >= first_start && !is_elder(pid);
}

static void track(pid_t pid, pid_t replace)
{
	size_t i;

	if (!first_start && pid > 0)
		each_child(getpid(), getpid(), note_elder, &pid);

	for (i = 0; i < MAX_LIVE; i++) {
		if (live[i] == replace) {
			nlive += (pid > 0) - (replace > 0);
			live_start[i] = pid ? start_of(pid) : 0;
			if (live_start[i] && (!first_start || live_start[i] < first_start))
				first_start = live_start[i];
			live[i] = pid;
			return;
		}
	}
}

static int is_live(pid_t pid)
{
	size_t i;

	for (i = 0; i < MAX_LIVE; i++)
		if (live[i] == pid)
			return 1;
	return 0;
}

int fm_proc_live(void)
{
	return nlive;
}

/* n in decimal at buf, with no stdio: the signal path uses it. */
static char *put_pid(char *buf, pid_t n)
{
	char digits[16];
	int k = 0;

	do
		digits[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	while (k > 0)
		*buf++ = digits[--k];
	*buf = '\0';
	return buf;
}

/* "/proc/PID/task/TID/children" with no stdio: the signal path uses it. */
static void children_path(char *buf, pid_t pid, pid_t tid)
{
	buf = put_pid(stpcpy(buf, "/proc/"), pid);
	buf = put_pid(stpcpy(buf, "/task/"), tid);
	stpcpy(buf, "/children");
}

/*
 * Calls fn for each child of thread tid of pid, from the kernel's list,
 * with only async-signal-safe calls (no malloc, no stdio).
 */
static void each_child(pid_t pid, pid_t tid, void (*fn)(pid_t, void *), void *ctx)
{
	char path[96], buf[512];
	pid_t cur = 0;
	int fd, digits = 0;
	ssize_t n, i;

	children_path(path, pid, tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				cur = cur * 10 + (buf[i] - '0');
				digits = 1;
			} else if (digits) {
				fn(cur, ctx);
				cur = 0;
				digits = 0;
			}
		}
	}
	if (digits)
		fn(cur, ctx);
	close(fd);
}

static void signal_child(pid_t pid, void *ctx)
{
	int sig = *(int *)ctx;

	if (is_elder(pid))
		return; /* the shell's, not a plugin's: not ours to signal */
	kill(pid, sig);
	/* A daemon leads its own group; an ordinary child is our kill(-pgid) already. */
	if (getpgid(pid) == pid)
		kill(-pid, sig);
}

void fm_proc_signal_all(int sig)
{
	size_t i;

	for (i = 0; i < MAX_LIVE; i++)
		if (live[i] > 0)
			kill(-(pid_t)live[i], sig);
	for (i = 0; i < FM_ORPHANS_MAX; i++)
		if (orphan[i] > 0)
			signal_child((pid_t)orphan[i], &sig);
	/* Orphans adopted since the last look are children of the main thread. */
	if (subreaper)
		each_child(getpid(), getpid(), signal_child, &sig);
}

/*
 * Fields 4, 5 and 22 of /proc/PID/stat (parent, process group, start)
 * with only async-signal-safe calls; -1 when the process is gone.
 */
static int stat_of(pid_t pid, pid_t *ppid, pid_t *pgrp, unsigned long long *start)
{
	char path[48], buf[512], *p;
	unsigned long long v = 0;
	int fd, field = 3;
	ssize_t n;

	stpcpy(put_pid(stpcpy(path, "/proc/"), pid), "/stat");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The name in parentheses may hold anything: count from its end. */
	if (!(p = strrchr(buf, ')')))
		return -1;
	*ppid = *pgrp = 0;
	*start = 0;
	for (p += 2; *p && field <= 22; p++) {
		if (*p >= '0' && *p <= '9') {
			v = v * 10 + (unsigned long long)(*p - '0');
		} else if (*p == ' ') {
			if (field == 4)
				*ppid = (pid_t)v;
			else if (field == 5)
				*pgrp = (pid_t)v;
			else if (field == 22)
				*start = v;
			field++;
			v = 0;
		}
	}
	return *start ? 0 : -1;
}

/*
 * The plugin that left an orphan started at start: the one plugin still
 * running that started before it, or -1 when that is more than one.
 */
static pid_t maker_of(unsigned long long start)
{
	pid_t maker = -1;
	size_t i;

	for (i = 0; i < MAX_LIVE; i++) {
		if (live[i] <= 0 || live_start[i] > start)
			continue;
		if (maker > 0)
			return -1;
		maker = (pid_t)live[i];
	}
	return maker;
}

pid_t fm_proc_origin(pid_t pid)
{
	pid_t self = getpid(), ppid, pgrp;
	unsigned long long start;
	int depth;

	if (pid <= 1 || pid == self)
		return 0;
	for (depth = 0; depth < FM_PROC_ORIGIN_DEPTH; depth++) {
		if (is_live(pid))
			return pid;
		if (stat_of(pid, &ppid, &pgrp, &start) < 0)
			return 0; /* gone: nothing tells where it came from */
		if (pgrp > 1 && is_live(pgrp))
			return pgrp;
		/*
		 * A child of ours that no plugin is: adopted, so left by some
		 * plugin, unless it is older than every plugin (a shell's).
		 */
		if (ppid == self)
			return from_plugin(pid, start) ? maker_of(start) : 0;
		if (ppid <= 1)
			return 0;
		pid = ppid;
	}
	return 0;
}

int fm_proc_subreaper(int on)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0)
		return -1;
	subreaper = on;
	return 0;
}

static int find_orphan(pid_t pid)
{
	int i;

	for (i = 0; i < FM_ORPHANS_MAX; i++)
		if (orphan[i] == pid)
			return i;
	return -1;
}

struct tree {
	pid_t v[TREE_WIDTH];
	size_t n;
};

static void tree_add(pid_t pid, void *ctx)
{
	struct tree *t = ctx;

	if (t->n < TREE_WIDTH)
		t->v[t->n++] = pid;
}

/*
 * Ends pid and everything it started: stopped first, so that it forks no
 * more while its children are listed, then killed, children first.
 */
static void end_tree(pid_t pid, int depth)
{
	struct tree *t;
	char path[64];
	struct dirent *e;
	DIR *d;
	size_t i;

	kill(pid, SIGSTOP);
	if (depth < TREE_DEPTH && (t = calloc(1, sizeof(*t)))) {
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		for (d = opendir(path); d && (e = readdir(d));)
			if (e->d_name[0] != '.')
				each_child(pid, (pid_t)atoi(e->d_name), tree_add, t);
		if (d)
			closedir(d);
		for (i = 0; i < t->n; i++)
			end_tree(t->v[i], depth + 1);
		free(t);
	}
	kill(pid, SIGKILL);
	if (getpgid(pid) == pid)
		kill(-pid, SIGKILL);
}

/* A child that is no plugin of ours: an orphan, first seen now. */
static void adopt(pid_t pid, void *ctx)
{
	int i;

	(void)ctx;
	if (is_live(pid) || find_orphan(pid) >= 0)
		return;
	if ((i = find_orphan(0)) < 0) {
		/* No room to wait for its maker: it goes now, and is reaped once there is. */
		if (from_plugin(pid, start_of(pid)))
			end_tree(pid, 0);
		return;
	}
	orphan_start[i] = start_of(pid);
	orphan_ended[i] = 0;
	orphan[i] = pid;
}

/*
 * Whether no plugin process that started before the orphan (and so may
 * have made it) still runs. Clock ticks are coarse: one that started in
 * the same tick counts as before, so an orphan is never ended early.
 */
static int makers_gone(unsigned long long start)
{
	size_t i;

	for (i = 0; i < MAX_LIVE; i++)
		if (live[i] > 0 && live_start[i] <= start)
			return 0;
	return 1;
}

int fm_proc_orphans(int all)
{
	int i, left = 0, status;
	pid_t r;

	if (!subreaper)
		return 0;
	each_child(getpid(), getpid(), adopt, NULL);
	for (i = 0; i < FM_ORPHANS_MAX; i++) {
		if (orphan[i] <= 0)
			continue;
		do
			r = waitpid((pid_t)orphan[i], &status, WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r != 0) {
			/* Reaped, or not ours after all (ECHILD): either way, done. */
			orphan[i] = 0;
			continue;
		}
		/* One from before any plugin is reaped when it ends, never ended. */
		if (!from_plugin((pid_t)orphan[i], orphan_start[i]))
			continue;
		if (!orphan_ended[i] && (all || makers_gone(orphan_start[i]))) {
			end_tree((pid_t)orphan[i], 0);
			orphan_ended[i] = 1;
		}
		left++;
	}
	return left;
}

void fm_proc_end_orphans(double timeout)
{
	double end = fm_now() + timeout;
	struct timespec nap = {0, 10 * 1000 * 1000};

	while (fm_proc_orphans(1) > 0 && fm_now() < end)
		nanosleep(&nap, NULL);
}

void fm_proc_init(struct fm_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->in = p->out = p->err = p->pidfd = -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_pair(int p[2])
{
	close_fd(&p[0]);
	close_fd(&p[1]);
}

/* The three pipes of a child: stdin, stdout, stderr. */
static int make_pipes(int in[2], int out[2], int errp[2], struct fm_error *err)
{
	if (pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(errp, O_CLOEXEC) == 0)
		return 0;
	fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot create pipes:");
	close_pair(in);
	close_pair(out);
	close_pair(errp);
	return -1;
}

int fm_proc_spawn(struct fm_proc *p, char *const argv[], const char *cwd, char *const envp[],
		  struct fm_error *err)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	fm_proc_init(p);
	if (make_pipes(in, out, errp, err) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
	rc = posix_spawnp(&p->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	/* The child's ends are the child's now. */
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	if (rc != 0) {
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&errp[0]);
		p->pid = 0;
		errno = rc;
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot run '%s' in '%s':", argv[0],
				cwd ? cwd : ".");
	}
	track(p->pid, 0);
	/*
	 * Not reaped yet, so the pid is still this child's. Without pidfds
	 * (before Linux 5.3) the caller polls instead.
	 */
	p->pidfd = pidfd_open(p->pid, 0);
	p->in = in[1];
	p->out = out[0];
	p->err = errp[0];
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	return 0;
}

int fm_proc_signal(struct fm_proc *p, int sig)
{
	if (p->pid <= 0)
		return -1;
	return kill(-p->pid, sig);
}

int fm_proc_poll(struct fm_proc *p)
{
	pid_t r;

	if (p->reaped || p->pid <= 0)
		return 1;
	do
		r = waitpid(p->pid, &p->status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	p->reaped = 1;
	close_fd(&p->pidfd);
	/* Whatever the plugin left in its group goes with it. */
	kill(-p->pid, SIGKILL);
	track(0, p->pid);
	/*
	 * And what it left elsewhere, before another plugin starts and makes
	 * it unclear whose an orphan is.
	 */
	fm_proc_orphans(0);
	return 1;
}

int fm_proc_wait(struct fm_proc *p, double timeout)
{
	double end = fm_now() + timeout, left;
	struct timespec nap = {0, 5 * 1000 * 1000};
	struct pollfd pfd;

	while (!fm_proc_poll(p)) {
		if ((left = end - fm_now()) <= 0)
			return 0;
		/*
		 * The pidfd wakes us the moment the child ends: a plugin told to
		 * shut down is gone within a millisecond, and a nap's 5 ms were
		 * most of a short run's end (bench/startup.sh).
		 */
		if (p->pidfd >= 0) {
			pfd.fd = p->pidfd;
			pfd.events = POLLIN;
			poll(&pfd, 1, (int)ceil(fmin(left, 1.0) * 1000));
		} else {
			nanosleep(&nap, NULL);
		}
	}
	return 1;
}

void fm_proc_stop(struct fm_proc *p, double grace)
{
	close_fd(&p->in);
	if (p->pid > 0 && !fm_proc_wait(p, grace)) {
		fm_proc_signal(p, SIGTERM);
		if (!fm_proc_wait(p, 1.0)) {
			fm_proc_signal(p, SIGKILL);
			fm_proc_wait(p, 5.0);
		}
	}
	close_fd(&p->out);
	close_fd(&p->err);
	close_fd(&p->pidfd);
}

void fm_proc_describe(const struct fm_proc *p, char *buf, size_t len)
{
	if (!p->reaped)
		snprintf(buf, len, "is still running");
	else if (WIFEXITED(p->status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(p->status),
			 strsignal(WTERMSIG(p->status)));
	else
		snprintf(buf, len, "ended with wait status %d", p->status);
}

int fm_secret_name(const char *name)
{
	static const char *const words[] = {"KEY",  "TOKEN",	  "SECRET", "PASSWORD", "PASSWD",
					    "AUTH", "CREDENTIAL", "COOKIE", "PRIVATE",	NULL};
	size_t i;

	for (i = 0; words[i]; i++)
		if (strcasestr(name, words[i]))
			return 1;
	return 0;
}

void fm_secrets_hide(void)
{
	extern char **environ;
	size_t i;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (i = 0; environ && environ[i]; i++) {
		char *eq = strchr(environ[i], '='), *name, *copy;

		if (!eq)
			continue;
		name = fm_xstrndup(environ[i], (size_t)(eq - environ[i]));
		if (fm_secret_name(name)) {
			/* Kept for the life of the process: environ points at it. */
			copy = fm_xstrdup(environ[i]);
			explicit_bzero(environ[i], strlen(environ[i]));
			environ[i] = copy;
		}
		free(name);
	}
}

/* --- running a command to its end --------------------------------------- */

/* Appends what fd has to *s, keeping max bytes; 0 once fd is at its end. */
static int drain(int *fd, char **s, size_t *len, size_t max, int *over)
{
	char buf[8192];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0) {
		close_fd(fd);
		return 0;
	}
	if (*len + (size_t)n > max) {
		*over = 1;
		n = (ssize_t)(max - *len);
	}
	*s = fm_xrealloc(*s, *len + (size_t)n + 1);
	memcpy(*s + *len, buf, (size_t)n);
	*len += (size_t)n;
	(*s)[*len] = '\0';
	return 1;
}

int fm_proc_run(char *const argv[], char *const envp[], double timeout, size_t max,
		struct fm_proc_output *o, struct fm_error *err)
{
	double end = fm_now() + timeout;
	struct fm_proc p;

	memset(o, 0, sizeof(*o));
	o->out = fm_xstrdup("");
	o->err = fm_xstrdup("");
	if (fm_proc_spawn(&p, argv, NULL, envp, err) < 0)
		return -1;
	close_fd(&p.in);
	while (p.out >= 0 || p.err >= 0) {
		struct pollfd fds[2] = {{p.out, POLLIN, 0}, {p.err, POLLIN, 0}};
		double left = end - fm_now();

		if (left <= 0)
			break;
		if (poll(fds, 2, (int)(left * 1000) + 1) <= 0)
			continue;
		if (fds[0].revents)
			drain(&p.out, &o->out, &o->outlen, max, &o->over);
		if (fds[1].revents)
			drain(&p.err, &o->err, &o->errlen, max, &o->over);
	}
	if (p.out >= 0 || p.err >= 0 || !fm_proc_wait(&p, fmax(end - fm_now(), 0))) {
		fm_proc_signal(&p, SIGKILL);
		fm_proc_stop(&p, 0);
		return fm_error(err, FM_TIMEOUT_ERROR, "'%s' did not end within %g s", argv[0],
				timeout);
	}
	fm_proc_stop(&p, 0);
	o->status = p.status;
	return 0;
}

void fm_proc_output_release(struct fm_proc_output *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}
