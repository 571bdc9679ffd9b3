/*
 * The one messaging module: every warning and error a command prints goes
 * through here, as "prog: message". Only commands and the plugin SDK use
 * it; the rest of the library returns errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "util.h"

static const char *prog = "filmeto";

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

static void vwarn(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);

	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
}

void fm_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void fm_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

void fm_warn_error(const struct fm_error *err)
{
	json_object *list = fm_json_get(err->details, "errors", json_type_array);
	size_t i, n = list ? json_object_array_length(list) : 0;

	if (!n) {
		fm_warn("%s", err->message);
		return;
	}
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *m = fm_json_get_string(e, "message");

		fm_warn("%s", m ? m : json_object_get_string(e));
	}
}

int fm_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		/* A closed pipe downstream is the reader's choice, not ours. */
		if (errno == EPIPE)
			return 0;
		fm_warn("cannot write to standard output:");
		return -1;
	}
	return 0;
}

void fm_version(void)
{
	printf("%s %s\n", prog, FM_VERSION);
	exit(fm_close_stdout() ? FM_EXIT_FAILED : FM_EXIT_OK);
}
