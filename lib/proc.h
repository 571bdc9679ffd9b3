/*
 * Child processes: spawned with pipes on stdin, stdout and stderr, each in
 * its own process group so a signal reaches everything it started, and
 * always reaped. Stopping a child escalates from closing its stdin to
 * SIGTERM to SIGKILL of the whole group.
 */
#ifndef FM_PROC_H
#define FM_PROC_H

#include <sys/types.h>

#include "error.h"

struct fm_proc_thread;

struct fm_proc {
	pid_t pid;	  /* also the process group id; 0 when none */
	int in, out, err; /* our ends of the pipes; -1 once closed */
	int status;	  /* wait status, once reaped */
	int reaped;
	struct fm_proc_thread *thread; /* a built-in served on a thread, or NULL */
};

/* What a built-in runs on its thread: its ends of the three pipes. */
typedef void fm_proc_main(int in, int out, int err);

void fm_proc_init(struct fm_proc *p);
/*
 * Starts argv[0] (searched in PATH) in cwd with envp, in a new process
 * group, signals reset to their defaults. Our pipe ends are close-on-exec
 * and non-blocking.
 */
int fm_proc_spawn(struct fm_proc *p, char *const argv[], const char *cwd, char *const envp[],
		  struct fm_error *err);
/*
 * Runs fn on a thread of ours, wired like a child: it reads in, writes
 * out and err, and has ended once it returns. Signals cannot reach a
 * thread, so stopping one is closing its stdin; fn must notice that.
 */
int fm_proc_spawn_thread(struct fm_proc *p, fm_proc_main *fn, struct fm_error *err);
/* Signals the whole process group (nothing for a thread). */
int fm_proc_signal(struct fm_proc *p, int sig);
/* Reaps without blocking: 1 when the child has ended, 0 when not yet. */
int fm_proc_poll(struct fm_proc *p);
/* Waits up to timeout seconds: 1 ended, 0 still running. */
int fm_proc_wait(struct fm_proc *p, double timeout);
/*
 * Closes stdin, waits grace seconds, then SIGTERM, then SIGKILL, to the
 * group; reaps; closes every pipe. Leftover group members are killed too.
 */
void fm_proc_stop(struct fm_proc *p, double grace);
/*
 * Signals every process group spawned and not yet reaped. Safe to call
 * from a signal handler, so an interrupted command takes its plugins down
 * with it instead of leaving them orphaned.
 */
void fm_proc_signal_all(int sig);
/* "exited with status 3", "killed by signal 9 (Killed)". */
void fm_proc_describe(const struct fm_proc *p, char *buf, size_t len);

#endif
