/*
 * Child processes: spawned with pipes on stdin, stdout and stderr, each in
 * its own process group so a signal reaches everything it started, and
 * always reaped. Stopping a child escalates from closing its stdin to
 * SIGTERM to SIGKILL of the whole group. What a child leaves behind in
 * another group or session (a daemon) comes back to a subreaper as an
 * orphan, and is ended once the plugins that may have made it are gone.
 * And what a process holds in its environment: secrets kept out of /proc.
 */
#ifndef FM_PROC_H
#define FM_PROC_H

#include <sys/types.h>

#include "error.h"

struct fm_proc {
	pid_t pid;	  /* also the process group id; 0 when none */
	int in, out, err; /* our ends of the pipes; -1 once closed */
	int pidfd;	  /* readable once the child has ended; -1 when none */
	int status;	  /* wait status, once reaped */
	int reaped;
};

/* What serves a built-in tool in its helper: its stdin, stdout and stderr. */
typedef void fm_proc_main(int in, int out, int err);

void fm_proc_init(struct fm_proc *p);
/*
 * Starts argv[0] (searched in PATH) in cwd with envp, in a new process
 * group, signals reset to their defaults. Our pipe ends are close-on-exec
 * and non-blocking; so is pidfd, for a poll(2) that must wake when the
 * child ends even while something it started holds its pipes open.
 */
int fm_proc_spawn(struct fm_proc *p, char *const argv[], const char *cwd, char *const envp[],
		  struct fm_error *err);
/* Signals the whole process group. */
int fm_proc_signal(struct fm_proc *p, int sig);
/*
 * Reaps without blocking: 1 when the child has ended, 0 when not yet.
 * Once reaped, whatever is left of its process group is killed, and so
 * are the orphans it may have made (fm_proc_orphans).
 */
int fm_proc_poll(struct fm_proc *p);
/* Waits up to timeout seconds: 1 ended, 0 still running. */
int fm_proc_wait(struct fm_proc *p, double timeout);
/*
 * Closes stdin, waits grace seconds, then SIGTERM, then SIGKILL, to the
 * group; reaps; closes every pipe. Leftover group members are killed too.
 */
void fm_proc_stop(struct fm_proc *p, double grace);
/*
 * Signals every process group spawned and not yet reaped, and every
 * orphan adopted (see fm_proc_subreaper). Safe to call from a signal
 * handler, so an interrupted command takes its plugins down with it
 * instead of leaving them orphaned.
 */
void fm_proc_signal_all(int sig);

/* How many parents fm_proc_origin climbs from a process towards us. */
#define FM_PROC_ORIGIN_DEPTH 64
/*
 * Where a process comes from, for a signal handler (async-signal-safe):
 * the pid of the plugin process (a group spawned and not yet reaped) it
 * belongs to or descends from, or, for an orphan we adopted, the one
 * plugin still running that is older than it; -1 for an orphan that
 * more than one may have left; 0 for a process that is not ours (a
 * child older than every plugin is not), is already gone, or lies
 * deeper than FM_PROC_ORIGIN_DEPTH.
 */
pid_t fm_proc_origin(pid_t pid);

/* Longest a command waits at its end for the orphans it killed to go. */
#define FM_ORPHAN_WAIT 2.0
/* Most orphans tracked at once; one more is ended as soon as it is seen. */
#define FM_ORPHANS_MAX 256

/*
 * Makes the calling process a child subreaper (PR_SET_CHILD_SUBREAPER),
 * or with on 0 no longer one: a process a plugin starts and leaves
 * behind, even a daemon that forked twice and called setsid(2), becomes
 * our child instead of init's, so fm_proc_orphans() can end it. Then the
 * main thread must be the one that calls fm_proc_spawn, and every child
 * it has must come from fm_proc_spawn: any other is taken for an orphan.
 */
int fm_proc_subreaper(int on);
/*
 * For a subreaper (nothing otherwise): looks at the children we adopted,
 * reaps those that ended, and ends (with everything they started) those
 * whose maker may no longer be running, that is, no plugin process that
 * started before the orphan still runs; with all, every one. A child
 * older than the first plugin is no plugin's: it is reaped, never ended.
 * Returns how many orphans of plugins are still to reap.
 */
int fm_proc_orphans(int all);
/* Ends every orphan and waits up to timeout seconds to reap them. */
void fm_proc_end_orphans(double timeout);
/* Plugin processes spawned and not yet reaped. */
int fm_proc_live(void);
/*
 * What a command run to its end (fm_proc_run) printed, and how it ended:
 * stdout and stderr, each NUL-terminated and kept up to the bound given
 * (more is read and dropped, and over says so), and its wait status.
 */
struct fm_proc_output {
	char *out, *err;
	size_t outlen, errlen;
	int status;
	int over;
};

/*
 * Runs argv (searched in PATH) with envp and nothing on its stdin, in a
 * group of its own, reading its output as it comes; past timeout seconds
 * the group is killed. 0 once it ended (whatever its status), -1 with err
 * when it could not start (a command not found, say) or ran out of time
 * (FM_TIMEOUT_ERROR). Always reaped.
 */
int fm_proc_run(char *const argv[], char *const envp[], double timeout, size_t max,
		struct fm_proc_output *o, struct fm_error *err);
void fm_proc_output_release(struct fm_proc_output *o);

/* "exited with status 3", "killed by signal 9 (Killed)". */
void fm_proc_describe(const struct fm_proc *p, char *buf, size_t len);

/*
 * Whether an environment variable holds a secret, by its name: one with
 * KEY, TOKEN, SECRET, PASSWORD, PASSWD, AUTH, CREDENTIAL, COOKIE or
 * PRIVATE in it. Such a value is never part of a cache key and never
 * shown in /proc.
 */
int fm_secret_name(const char *name);
/*
 * For a process that holds keys: makes it non-dumpable (PR_SET_DUMPABLE
 * 0), so another process of the user can neither read its memory nor
 * attach to it, and takes every secret variable out of the environment
 * block that /proc/PID/environ shows. getenv() still finds them: they are
 * moved to private memory, and their place in the block is zeroed (the
 * kernel reads the block, not environ, so unsetenv would not do).
 */
void fm_secrets_hide(void);

#endif
