/*
 * Child processes: pipes, exit status and its description, stopping a
 * child that ignores its stdin, and taking down what the child started
 * (its whole process group) with it; an exit seen on the pidfd while a
 * helper holds the pipes; a daemon adopted as an orphan and ended; and
 * which variables are secrets, hidden from /proc.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filmeto.h"
#include "tap.h"

extern char **environ;

/* Reads fd (non-blocking) until EOF or the deadline. */
static char *slurp(int fd, double timeout)
{
	double end = fm_now() + timeout;
	char buf[512], *out = fm_xstrdup("");
	size_t n = 0;

	while (fm_now() < end) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		k = read(fd, buf, sizeof(buf));
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (k < 0)
			continue;
		out = fm_xrealloc(out, n + (size_t)k + 1);
		memcpy(out + n, buf, (size_t)k);
		n += (size_t)k;
		out[n] = '\0';
	}
	return out;
}

/* Reads one line from fd (non-blocking), up to the deadline. */
static long read_pid_line(int fd, double timeout)
{
	double end = fm_now() + timeout;
	char buf[64];
	size_t n = 0;

	while (n < sizeof(buf) - 1 && fm_now() < end) {
		struct pollfd pfd = {fd, POLLIN, 0};

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(fd, buf + n, 1) != 1)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static void test_proc_output(void)
{
	char *argv[] = {"sh", "-c", "echo hi; echo err >&2; exit 3", NULL};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_proc p;
	char desc[128], *out, *err, *dir, *real;

	OK(fm_proc_spawn(&p, argv, NULL, environ, &e) == 0, "proc: spawn sh");
	OK(p.pid > 0 && p.in >= 0 && p.out >= 0 && p.err >= 0, "proc: pid and three pipes");
	OK(getpgid(p.pid) == p.pid || fm_proc_poll(&p), "proc: the child leads its own group");
	out = slurp(p.out, 5);
	err = slurp(p.err, 5);
	IS_STR(out, "hi\n", "proc: stdout is read");
	IS_STR(err, "err\n", "proc: stderr is read apart");
	free(out);
	free(err);
	IS_INT(fm_proc_wait(&p, 5), 1, "proc: wait sees the end");
	OK(p.reaped && WIFEXITED(p.status) && WEXITSTATUS(p.status) == 3, "proc: exit status 3");
	fm_proc_describe(&p, desc, sizeof(desc));
	IS_STR(desc, "exited with status 3", "proc: describe");
	IS_INT(fm_proc_poll(&p), 1, "proc: polling a reaped child is fine");
	fm_proc_stop(&p, 0);
	OK(p.in < 0 && p.out < 0 && p.err < 0, "proc: stop closes every pipe");

	/* stdin reaches the child, cwd is honoured, envp is all it gets. */
	{
		char *cat[] = {"sh", "-c", "pwd; echo \"v=$FM_T\"; cat", NULL};
		char *env[] = {"FM_T=42", "PATH=/usr/bin:/bin", NULL};

		dir = tmp_dir();
		real = realpath(dir, NULL);
		OK(fm_proc_spawn(&p, cat, dir, env, &e) == 0, "proc: spawn with cwd and env");
		OK(write(p.in, "piped\n", 6) == 6, "proc: write to stdin");
		fm_proc_stop(&p, 5);
		IS_INT(p.reaped, 1, "proc: closing stdin ends cat");
		fm_proc_describe(&p, desc, sizeof(desc));
		IS_STR(desc, "exited with status 0", "proc: ... with status 0");
		free(real);
		rm_rf(dir);
		free(dir);
	}
	{
		char *cat[] = {"sh", "-c", "pwd; echo \"v=$FM_T\"; cat", NULL};
		char *env[] = {"FM_T=42", "PATH=/usr/bin:/bin", NULL};
		char *want;

		dir = tmp_dir();
		real = realpath(dir, NULL);
		if (fm_proc_spawn(&p, cat, dir, env, &e) == 0) {
			OK(write(p.in, "piped\n", 6) == 6, "proc: write to stdin");
			close(p.in);
			p.in = -1;
			out = slurp(p.out, 5);
			want = fm_xasprintf("%s\nv=42\npiped\n", real);
			IS_STR(out, want, "proc: the child runs in cwd, with envp, reading stdin");
			free(want);
			free(out);
			fm_proc_stop(&p, 5);
		} else {
			OK(0, "proc: spawn with cwd and env: %s", e.message);
		}
		free(real);
		rm_rf(dir);
		free(dir);
	}

	{
		char *bad[] = {"/nonexistent/filmeto-no-such-plugin", NULL};

		OK(fm_proc_spawn(&p, bad, NULL, environ, &e) < 0 &&
		       e.code == FM_PLUGIN_EXECUTION_ERROR,
		   "proc: a missing program fails to spawn");
		HAS(e.message, "cannot run '/nonexistent/filmeto-no-such-plugin'",
		    "proc: ... naming it");
		HAS(e.message, "No such file or directory", "proc: ... with strerror");
		OK(p.pid == 0 && p.in < 0 && p.out < 0 && p.err < 0,
		   "proc: ... leaving nothing open");
	}
	fm_error_release(&e);
}

static void test_proc_stop(void)
{
	char *argv[] = {"sleep", "30", NULL};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_proc p;
	char desc[128];
	double t0;

	if (fm_proc_spawn(&p, argv, NULL, environ, &e) < 0) {
		OK(0, "proc: spawn sleep: %s", e.message);
		return;
	}
	IS_INT(fm_proc_poll(&p), 0, "proc: poll of a running child is 0");
	IS_INT(fm_proc_wait(&p, 0.1), 0, "proc: wait times out on a running child");
	fm_proc_describe(&p, desc, sizeof(desc));
	IS_STR(desc, "is still running", "proc: describe a running child");
	t0 = fm_now();
	fm_proc_stop(&p, 0.5);
	OK(fm_now() - t0 < 3, "proc: stop ends sleep 30 within 3 s (%.2fs)", fm_now() - t0);
	OK(p.reaped && WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGTERM,
	   "proc: ... by SIGTERM");
	fm_proc_describe(&p, desc, sizeof(desc));
	HAS(desc, "killed by signal 15", "proc: describe a signalled child (%s)", desc);
	OK(kill(p.pid, 0) < 0 && errno == ESRCH, "proc: the child is gone");

	/* A child that ignores SIGTERM gets SIGKILL. */
	{
		char *stubborn[] = {"sh", "-c",
				    "trap '' TERM; echo ready; while :; do sleep 1; done", NULL};

		if (fm_proc_spawn(&p, stubborn, NULL, environ, &e) == 0) {
			read_pid_line(p.out, 5);
			t0 = fm_now();
			fm_proc_stop(&p, 0.2);
			OK(p.reaped && WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGKILL,
			   "proc: a child that ignores SIGTERM is killed");
			OK(fm_now() - t0 < 4, "proc: ... within grace + 1 s (%.2fs)",
			   fm_now() - t0);
		}
	}

	/* fm_proc_signal_all reaches every live group. */
	if (fm_proc_spawn(&p, argv, NULL, environ, &e) == 0) {
		fm_proc_signal_all(SIGKILL);
		OK(fm_proc_wait(&p, 3) && WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGKILL,
		   "proc: signal_all kills a spawned child");
		fm_proc_stop(&p, 0);
	}
	fm_error_release(&e);
}

/* Whether pid is gone or a zombie (dead, not yet reaped by its parent). */
static int dead(pid_t pid)
{
	char path[64], buf[512], *rp;
	FILE *f;
	size_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static void test_proc_group(void)
{
	char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_proc p;
	pid_t pgid, grandchild;
	double t0;
	int gone = 0, status;

	/*
	 * Orphans come to us rather than to PID 1, so the grandchild can be
	 * reaped here and "gone" means gone, whatever init does with zombies.
	 */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (fm_proc_spawn(&p, argv, NULL, environ, &e) < 0) {
		OK(0, "proc: spawn sh with a background sleep: %s", e.message);
		return;
	}
	pgid = p.pid;
	grandchild = (pid_t)read_pid_line(p.out, 5);
	OK(grandchild > 0 && kill(grandchild, 0) == 0, "proc: the grandchild sleep runs (pid %d)",
	   (int)grandchild);
	OK(grandchild > 0 && getpgid(grandchild) == pgid, "proc: ... in the child's process group");
	t0 = fm_now();
	fm_proc_stop(&p, 0.2);
	OK(fm_now() - t0 < 3, "proc: stop returns within 3 s (%.2fs)", fm_now() - t0);
	while (grandchild > 0 && fm_now() - t0 < 3) {
		pid_t r = waitpid(grandchild, &status, WNOHANG);

		if (r == grandchild || (r < 0 && errno == ECHILD && dead(grandchild))) {
			gone = 1;
			break;
		}
		if (r == 0 && dead(grandchild) && kill(grandchild, 0) < 0) {
			gone = 1;
			break;
		}
		usleep(20 * 1000);
	}
	OK(gone, "proc: after stop the grandchild sleep is gone too");
	errno = 0;
	OK(kill(-pgid, 0) < 0 && errno == ESRCH, "proc: kill(-pgid, 0) says ESRCH");
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	fm_error_release(&e);
}

/* The pidfd says the child ended though a helper it left holds stdout open. */
static void test_proc_pidfd(void)
{
	char *argv[] = {"sh", "-c", "sleep 30 & exit 3", NULL};
	struct fm_error e = FM_ERROR_INIT;
	struct pollfd pfd;
	struct fm_proc p;
	char buf[16];

	if (fm_proc_spawn(&p, argv, NULL, environ, &e) < 0) {
		OK(0, "proc: spawn sh exiting 3: %s", e.message);
		return;
	}
	OK(p.pidfd >= 0, "proc: a pidfd comes with the child");
	pfd = (struct pollfd){p.pidfd, POLLIN, 0};
	IS_INT(poll(&pfd, 1, 5000), 1, "proc: the pidfd wakes poll when the child ends");
	pfd = (struct pollfd){p.out, POLLIN, 0};
	OK(poll(&pfd, 1, 0) == 0 || read(p.out, buf, sizeof(buf)) < 0,
	   "proc: ... while stdout, held by the helper, has neither data nor EOF");
	IS_INT(fm_proc_poll(&p), 1, "proc: and the child is reaped");
	OK(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 3, "proc: ... with status 3");
	OK(p.pidfd < 0, "proc: the pidfd is closed once reaped");
	pfd = (struct pollfd){p.out, POLLIN, 0};
	OK(poll(&pfd, 1, 3000) == 1 && read(p.out, buf, sizeof(buf)) == 0,
	   "proc: the group's helper is killed, so stdout ends");
	fm_proc_stop(&p, 0);
	fm_error_release(&e);
}

static pid_t parent_of(pid_t pid)
{
	char path[64], line[256];
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return (pid_t)ppid;
}

/* A daemon that forked twice and called setsid: ours as a subreaper, then ended. */
static void test_proc_orphans(void)
{
	char *argv[] = {"sh", "-c", "(setsid sleep 30 & echo $! >&3) 3>&1 >/dev/null; cat", NULL};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_proc p, q;
	pid_t daemon;
	double t0;

	fm_proc_subreaper(1);
	if (fm_proc_spawn(&p, argv, NULL, environ, &e) < 0) {
		OK(0, "proc: spawn a daemon maker: %s", e.message);
		return;
	}
	daemon = (pid_t)read_pid_line(p.out, 5);
	/* Once the subshell is gone and setsid(2) done, the daemon is ours. */
	t0 = fm_now();
	while (daemon > 0 && !(parent_of(daemon) == getpid() && getpgid(daemon) == daemon) &&
	       fm_now() - t0 < 5)
		usleep(10 * 1000);
	OK(daemon > 0 && getpgid(daemon) == daemon, "proc: the daemon leads its own group");
	IS_INT(parent_of(daemon), getpid(), "proc: ... and is adopted by the subreaper");
	IS_INT(fm_proc_orphans(0), 1, "proc: the adopted daemon is seen as an orphan");
	OK(kill(daemon, 0) == 0, "proc: ... and kept while its maker runs");
	/*
	 * Another plugin started later must not keep it alive once its maker
	 * is gone; later by a clock tick at least, the unit of start times.
	 */
	usleep(30 * 1000);
	{
		char *cat[] = {"cat", NULL};

		OK(fm_proc_spawn(&q, cat, NULL, environ, &e) == 0, "proc: a later plugin starts");
	}
	IS_INT(fm_proc_live(), 2, "proc: two plugins live");
	fm_proc_stop(&p, 0.2);
	t0 = fm_now();
	while (fm_proc_orphans(0) > 0 && fm_now() - t0 < 3)
		usleep(10 * 1000);
	OK(dead(daemon), "proc: the daemon is ended when its maker stops");
	IS_INT(fm_proc_orphans(0), 0, "proc: ... and reaped");
	fm_proc_stop(&q, 0.2);
	IS_INT(fm_proc_live(), 0, "proc: no plugin live");
	fm_proc_subreaper(0);
	fm_error_release(&e);
}

static void test_secrets(void)
{
	pid_t pid;
	int status;

	OK(fm_secret_name("OPENAI_API_KEY") && fm_secret_name("HF_TOKEN") &&
	       fm_secret_name("AWS_SECRET_ACCESS_KEY") && fm_secret_name("DB_PASSWORD") &&
	       fm_secret_name("my_auth_header") && fm_secret_name("SESSION_COOKIE"),
	   "secrets: key, token, secret, password, auth, cookie names");
	OK(!fm_secret_name("OPENAI_BASE_URL") && !fm_secret_name("PATH") &&
	       !fm_secret_name("COMFYUI_URL"),
	   "secrets: endpoints and paths are not");
	/* In a child: non-dumpable is for the life of the process. */
	if ((pid = fork()) == 0) {
		extern char **environ;
		char **v, *before = NULL;
		int bad = 0;

		setenv("FM_UNIT_TOKEN", "planted-5150", 1);
		setenv("FM_UNIT_PLAIN", "visible", 1);
		for (v = environ; *v; v++)
			if (!strncmp(*v, "FM_UNIT_TOKEN=", 14))
				before = *v;
		fm_secrets_hide();
		bad |= prctl(PR_GET_DUMPABLE) != 0;
		bad |= !getenv("FM_UNIT_TOKEN") || strcmp(getenv("FM_UNIT_TOKEN"), "planted-5150");
		bad |= (!before || before[0] != '\0' || getenv("FM_UNIT_TOKEN") == before + 14)
		       << 1;
		bad |= (!getenv("FM_UNIT_PLAIN") || strcmp(getenv("FM_UNIT_PLAIN"), "visible"))
		       << 2;
		_exit(bad);
	}
	OK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status),
	   "secrets: hide in a child");
	IS_INT(WEXITSTATUS(status), 0,
	       "secrets: not dumpable; getenv finds the key, moved; its old place is zeroed; "
	       "others untouched");
}

/* A command run to its end: output kept within the bound, status, timeout. */
static void test_proc_run(void)
{
	extern char **environ;
	char *talk[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	char *flood[] = {"sh", "-c", "yes | head -c 100000", NULL};
	char *hang[] = {"sh", "-c", "sleep 30", NULL};
	char *none[] = {"fm-no-such-command", NULL};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_proc_output o;
	double t0;

	OK(fm_proc_run(talk, environ, 10, 1024, &o, &e) == 0, "proc run: a command that fails ran");
	IS_STR(o.out, "out\n", "proc run: its stdout");
	IS_STR(o.err, "err\n", "proc run: its stderr");
	OK(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 3, "proc run: its exit status");
	fm_proc_output_release(&o);
	OK(fm_proc_run(flood, environ, 10, 1000, &o, &e) == 0 && o.outlen == 1000 && o.over,
	   "proc run: output past the bound is read, dropped and said");
	fm_proc_output_release(&o);
	t0 = fm_now();
	OK(fm_proc_run(hang, environ, 0.3, 1024, &o, &e) < 0 && e.code == FM_TIMEOUT_ERROR &&
	       fm_now() - t0 < 5,
	   "proc run: past its timeout the group is killed");
	fm_error_release(&e);
	fm_proc_output_release(&o);
	OK(fm_proc_run(none, environ, 10, 1024, &o, &e) < 0 && strstr(e.message, "fm-no-such"),
	   "proc run: a command not found fails naming it");
	fm_error_release(&e);
	fm_proc_output_release(&o);
}

void test_proc(void)
{
	test_proc_run();
	test_proc_output();
	test_proc_stop();
	test_proc_group();
	test_proc_pidfd();
	test_proc_orphans();
	test_secrets();
}
