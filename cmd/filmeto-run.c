/*
 * filmeto-run: executes task lines from files or stdin and writes their
 * events to stdout. Lines that are not tasks pass through unchanged, so
 * the end of a pipeline sees the whole history.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-run [-O DIR] [FILE ...]\n"
    "\n"
    "Run task lines from FILEs or standard input ('-') and write events.\n"
    "\n"
    "  -O, --output-dir DIR  write outputs to DIR/TASK_ID (default: filmeto-out)\n"
    "  -h, --help            show this help\n"
    "      --version         show the version\n"
    "\n"
    "Exit status: 0 every task succeeded, 1 a task failed, 2 usage error,\n"
    "130 interrupted.\n";

enum { OPT_VERSION = 256 };

static const struct option options[] = {
    {"output-dir", required_argument, NULL, 'O'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static struct fm_writer out;

/* Events stream: each goes out at once, so watchers see live progress. */
static void emit(void *ctx, json_object *event)
{
	(void)ctx;
	fm_writer_json(&out, event);
	fm_writer_flush(&out);
}

static void on_signal(int sig)
{
	fm_proc_signal_all(SIGTERM);
	/* The plugins' stdin closes with us; the kernel reaps them via init. */
	_exit(sig == SIGINT ? FM_EXIT_INTERRUPTED : 128 + sig);
}

/* Returns 1 to stop reading inputs once stdout is gone. */
static int run_fd(int fd, const char *name, void *ctx)
{
	struct fm_runner *r = ctx;
	struct fm_reader in;
	enum fm_line got;
	char *line;
	size_t len;
	int rc = 0;

	fm_reader_init(&in, fd, FM_LINE_MAX);
	for (;;) {
		got = fm_reader_take(&in, &line, &len);
		if (got == FM_LINE_NONE) {
			if (in.eof)
				break;
			/* Nothing buffered: let downstream see what we have first. */
			fm_writer_flush(&out);
			if (fm_reader_fill(&in) < 0) {
				fm_warn("cannot read '%s':", name);
				rc = -1;
				break;
			}
			continue;
		}
		if (got == FM_LINE_LONG) {
			fm_runner_fail_line(r, in.lineno, "longer than the line limit (4 MiB)");
			continue;
		}
		if (fm_runner_line(r, line, len, in.lineno))
			fm_writer_line(&out, line, len);
		if (out.failed)
			break;
	}
	fm_reader_release(&in);
	return rc < 0 ? rc : out.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct fm_error err = FM_ERROR_INIT;
	const char *outdir = "filmeto-out";
	struct fm_runner r;
	int c, status;

	fm_msg_init(argv[0]);
	while ((c = getopt_long(argc, argv, "O:h", options, NULL)) != -1) {
		switch (c) {
		case 'O': outdir = optarg; break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version();
		default: fm_try_help();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	fm_writer_init(&out, 1);
	if (fm_runner_init(&r, outdir, emit, NULL, &err) < 0)
		fm_die(FM_EXIT_FAILED, "%s", err.message);
	status = fm_each_input(argv + optind, argc - optind, run_fd, &r);
	fm_writer_flush(&out);
	if (out.failed && out.failed != EPIPE) {
		errno = out.failed;
		fm_warn("cannot write to standard output:");
	}
	if (status == FM_EXIT_OK && (r.failed || out.failed))
		status = FM_EXIT_FAILED;
	fm_runner_release(&r);
	fm_writer_release(&out);
	return status;
}
