/*
 * Fuzz target: archives as `filmeto-plugin install` unpacks them. The
 * input is written to a scratch file (the directory made once, removed at
 * exit) and fm_archive_extract() unpacks it into a fresh directory inside
 * a fenced one, then everything is removed. A refusal must be a
 * VALIDATION_ERROR that names the archive; and whatever happens, the fence
 * around the target must stay empty: nothing is written outside.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filmeto.h"

static char *dir, *input, *fence;

static void cleanup(void)
{
	if (dir)
		fm_tree_remove(dir);
}

static int setup(void)
{
	const char *base = getenv("TMPDIR");
	char *d;

	if (dir)
		return 0;
	d = fm_xasprintf("%s/filmeto-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(d)) {
		free(d);
		return -1;
	}
	dir = d;
	input = fm_xasprintf("%s/input", dir);
	/* The target goes in here: anything else appearing here escaped. */
	fence = fm_xasprintf("%s/fence", dir);
	if (mkdir(fence, 0700) < 0)
		return -1;
	atexit(cleanup);
	return 0;
}

static int put_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t k = write(fd, data + off, size - off);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	close(fd);
	return off == size ? 0 : -1;
}

/* Entries in path besides "." and "..". */
static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	char *target;

	if (setup() < 0 || put_file(input, data, size) < 0)
		return 0;
	target = fm_xasprintf("%s/target", fence);
	if (mkdir(target, 0700) < 0) {
		free(target);
		return 0;
	}
	if (fm_archive_extract(input, target, &err) < 0) {
		if (err.code == FM_VALIDATION_ERROR && !strstr(err.message, input))
			abort();
	}
	if (entries(fence) != 1)
		abort();
	fm_error_release(&err);
	if (fm_tree_remove(target) < 0)
		abort();
	free(target);
	return 0;
}
