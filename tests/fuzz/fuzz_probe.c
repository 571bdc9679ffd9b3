/*
 * Fuzz target: probing a scene file, the first thing combine does with
 * media it did not make. Any bytes must give a description of the
 * streams (frames within FM_MEDIA_MAX_SIDE and FM_MEDIA_MAX_PIXELS) or a
 * RESOURCE_PROCESSING_ERROR, never a crash or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filmeto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_probe p;
	char path[64];
	int fd = memfd_create("scene", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (fm_probe_file(path, &p, &err) == 0) {
		if (!p.has_video && !p.has_audio)
			abort();
		if (p.has_video && (p.frames <= 0 || p.width <= 0 || p.fps_num <= 0))
			abort();
		/* frames too large to decode are refused, never described */
		if (p.has_video && (p.width > FM_MEDIA_MAX_SIDE || p.height > FM_MEDIA_MAX_SIDE ||
				    (int64_t)p.width * p.height > FM_MEDIA_MAX_PIXELS))
			abort();
		fm_probe_release(&p);
	} else if (err.code != FM_RESOURCE_PROCESSING_ERROR) {
		abort();
	}
	fm_error_release(&err);
	close(fd);
	return 0;
}
