/*
 * The one messaging module. Only commands and the plugin SDK call it; the
 * rest of the library returns errors instead of printing them.
 * Messages read "prog: cannot open 'x': No such file or directory".
 */
#ifndef FM_MSG_H
#define FM_MSG_H

#include "error.h"

/* Exit statuses, the same table in every man page. */
enum {
	FM_EXIT_OK = 0,
	FM_EXIT_FAILED = 1,
	FM_EXIT_USAGE = 2,
	FM_EXIT_UNFINISHED = 3,
	FM_EXIT_EMPTY = 4, /* filmeto-watch: no task in the stream */
	FM_EXIT_INTERRUPTED = 130,
};

/*
 * The exit status for what the library says happened: the one table
 * from enum fm_outcome (lib/error.h) to the statuses above, so every
 * command answers the same. Async-signal-safe.
 */
int fm_exit_status(enum fm_outcome outcome);

void fm_msg_init(const char *argv0);
const char *fm_prog(void);
/* A format ending in ':' gets ": strerror(errno)" appended. */
void fm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fm_warn as a library hook's callback (struct fm_spool's warn): ctx unused. */
void fm_warn_hook(void *ctx, const char *message);
__attribute__((noreturn)) void fm_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Says "cannot write to standard output: WHY" for errnum (an errno, as
 * a struct fm_writer's failed holds it), once per process however often
 * it is called. 0 and EPIPE, a reader that closed the pipe on purpose,
 * are not errors. Returns -1 for an error, else 0.
 */
int fm_stdout_error(int errnum);
/* Flushes and closes stdout; returns -1 (after fm_stdout_error) on write error. */
int fm_close_stdout(void);
/*
 * Prints "prog VERSION (git REVISION)" and the libraries line (version.h)
 * to stdout and exits 0.
 */
__attribute__((noreturn)) void fm_version(const char *revision, const char *libraries);
/* Prints the usage text to stdout and exits 0. */
__attribute__((noreturn)) void fm_help(const char *usage);
/* "Try 'prog --help'." on stderr, exit 2: after getopt's own message. */
__attribute__((noreturn)) void fm_try_help(void);

/*
 * The one input loop every command shares: each name in names (n of
 * them) in turn, "-" meaning stdin, stdin alone when n is 0. fn gets the
 * open descriptor and returns -1 on failure. Returns FM_EXIT_USAGE when a
 * file could not be opened (after saying so), FM_EXIT_FAILED when fn
 * failed, else FM_EXIT_OK; stops early when fn returns 1.
 */
int fm_each_input(char **names, int n, int (*fn)(int fd, const char *name, void *ctx), void *ctx);

#endif
