/*
 * The one messaging module: every warning and error a command prints goes
 * through here, as "prog: message". Only commands and the plugin SDK use
 * it; the rest of the library returns errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "term.h"
#include "util.h"

static const char *prog = "filmeto";

static const int exit_statuses[] = {
    [FM_OUTCOME_OK] = FM_EXIT_OK,
    [FM_OUTCOME_TASK_FAILED] = FM_EXIT_FAILED,
    [FM_OUTCOME_INVALID] = FM_EXIT_USAGE,
    [FM_OUTCOME_UNFINISHED] = FM_EXIT_UNFINISHED,
    [FM_OUTCOME_INTERRUPTED] = FM_EXIT_INTERRUPTED,
    [FM_OUTCOME_EMPTY] = FM_EXIT_EMPTY,
};

int fm_exit_status(enum fm_outcome outcome)
{
	/* An outcome this table does not know is no success. */
	if ((size_t)outcome >= sizeof(exit_statuses) / sizeof(exit_statuses[0]))
		return FM_EXIT_FAILED;
	return exit_statuses[outcome];
}

void fm_msg_init(const char *argv0)
{
	const char *slash;

	if (!argv0 || !*argv0)
		return;
	slash = strrchr(argv0, '/');
	prog = slash ? slash + 1 : argv0;
}

const char *fm_prog(void)
{
	return prog;
}

/*
 * A message quotes what a plugin, a service or a file said, which may hold
 * escape sequences a terminal would act on: it goes out made safe, as
 * one line.
 */
static void vwarn(const char *fmt, va_list ap)
{
	int saved = errno, len;
	size_t n = strlen(fmt);
	char small[1024], *msg = small, *safe;
	va_list aq;

	va_copy(aq, ap);
	len = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (len < 0)
		len = 0;
	if ((size_t)len >= sizeof(small)) {
		msg = fm_xmalloc((size_t)len + 1);
		vsnprintf(msg, (size_t)len + 1, fmt, ap);
	}
	safe = fm_xmalloc(3 * (size_t)len + 1);
	fm_term_text(safe, 3 * (size_t)len + 1, msg, (size_t)len, INT_MAX);
	fprintf(stderr, "%s: %s", prog, safe);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
	free(safe);
	if (msg != small)
		free(msg);
}

void fm_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void fm_warn_hook(void *ctx, const char *message)
{
	(void)ctx;
	fm_warn("%s", message);
}

void fm_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

/* Whether standard output's failure was said: once is enough. */
static int stdout_said;

int fm_stdout_error(int errnum)
{
	/* A closed pipe downstream is the reader's choice, not ours. */
	if (!errnum || errnum == EPIPE)
		return 0;
	if (!stdout_said) {
		stdout_said = 1;
		errno = errnum;
		fm_warn("cannot write to standard output:");
	}
	return -1;
}

int fm_close_stdout(void)
{
	errno = 0;
	/* An earlier failed write leaves only the stream's error flag: EIO then. */
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0)
		return fm_stdout_error(errno ? errno : EIO);
	return 0;
}

void fm_help(const char *usage)
{
	fputs(usage, stdout);
	exit(fm_close_stdout() ? FM_EXIT_FAILED : FM_EXIT_OK);
}

void fm_version(const char *revision, const char *libraries)
{
	printf("%s %s (git %s)\n%s\n", prog, FM_VERSION, revision, libraries);
	exit(fm_close_stdout() ? FM_EXIT_FAILED : FM_EXIT_OK);
}

void fm_try_help(void)
{
	fprintf(stderr, "Try '%s --help'.\n", prog);
	exit(FM_EXIT_USAGE);
}

int fm_each_input(char **names, int n, int (*fn)(int fd, const char *name, void *ctx), void *ctx)
{
	int i, status = FM_EXIT_OK;

	for (i = 0; i == 0 || i < n; i++) {
		const char *name = i < n ? names[i] : "-";
		int fd = strcmp(name, "-") ? open(name, O_RDONLY | O_CLOEXEC) : 0;
		int rc;

		if (fd < 0) {
			fm_warn("cannot open '%s':", name);
			status = FM_EXIT_USAGE;
			continue;
		}
		rc = fn(fd, name, ctx);
		if (fd > 0)
			close(fd);
		if (rc < 0 && status == FM_EXIT_OK)
			status = FM_EXIT_FAILED;
		if (rc > 0)
			break;
	}
	return status;
}
