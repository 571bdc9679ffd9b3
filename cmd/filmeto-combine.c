/*
 * filmeto-combine: the built-in combine tool, served on stdin and stdout
 * for filmeto-run, which starts it as a child for each combine task
 * (lib/builtin.h, lib/host.h). It is the one program of filmeto-run's
 * that links libav*: kept apart, the media libraries' 170 shared objects
 * load only when a film is made, not at every filmeto-run. Installed in
 * PREFIX/lib/filmeto, off PATH: a user never runs it.
 */
#include <stdio.h>
#include <string.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-combine " FM_HOST_BUILTIN " combine\n"
    "       filmeto-combine --version\n"
    "\n"
    "Serves the built-in combine tool on stdin and stdout for filmeto-run,\n"
    "which starts it; see filmeto-run(1). Not to be run by hand.\n";

int main(int argc, char **argv)
{
	int status;

	fm_msg_init(argv[0]);
	/*
	 * libav logs at its default level, to stderr, which filmeto-run keeps
	 * for the task's error report, as it does a plugin's.
	 */
	status = fm_host_builtin_main(argc, argv, "combine", fm_combine_serve);
	if (status == 0)
		return status;
	if (argc == 2 && !strcmp(argv[1], "--version"))
		fm_version(fm_revision(), fm_media_libraries());
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		fm_help(usage_text);
	fputs(usage_text, stderr);
	return FM_EXIT_USAGE;
}
