/*
 * A plain main() for the fuzz targets, so `make test` can replay each
 * corpus without clang or libFuzzer: every file named on the command line
 * (or standard input, when none is) goes through LLVMFuzzerTestOneInput
 * once. A crash or a sanitizer report is the failure; the exit status is 1
 * when a file cannot be read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Inputs larger than this are cut, as libFuzzer's -max_len would. */
#define REPLAY_MAX (16 * 1024 * 1024)

static int replay(const char *name, FILE *f)
{
	size_t cap = 4096, n = 0, k;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -1;
	while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			uint8_t *nb;

			if (cap >= REPLAY_MAX)
				break;
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: cannot read '%s': %s\n", name, strerror(errno));
		free(buf);
		return -1;
	}
	/* An exact-size copy, so ASan sees reads past the input's end. */
	{
		uint8_t *exact = malloc(n ? n : 1);

		if (!exact) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, n);
		free(buf);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i, status = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2)
		return replay("-", stdin) < 0;
	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");

		if (!f) {
			fprintf(stderr, "replay: cannot open '%s': %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		if (replay(argv[i], f) < 0)
			status = 1;
		fclose(f);
	}
	if (!status)
		fprintf(stderr, "replay: %d inputs ran\n", argc - 1);
	return status;
}
