/*
 * Fuzz target: probing a scene file, the first thing combine does with
 * media it did not make. Any bytes must give a description of the
 * streams (frames within FM_MEDIA_MAX_SIDE and FM_MEDIA_MAX_PIXELS) or a
 * RESOURCE_PROCESSING_ERROR, never a crash or a leak. A file whose sound
 * could be copied is then joined to itself by stream copy, its AAC
 * copied and its joins decoded (fm_concat_copy with copy_audio): a film,
 * or a RESOURCE_PROCESSING_ERROR.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filmeto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* path joined to itself, video and AAC copied, into a scratch folder */
static void copy_twice(const char *path, const struct fm_probe *p)
{
	struct fm_error err = FM_ERROR_INIT;
	const char *inputs[2] = {path, path};
	int64_t frames[2] = {p->frames, p->frames};
	struct fm_concat c = {0};
	char dir[] = "/tmp/fuzz-probe-XXXXXX", out[64];
	size_t unclean = 0;

	if (!mkdtemp(dir))
		abort();
	snprintf(out, sizeof(out), "%s/film.mp4", dir);
	c.inputs = inputs;
	c.frames = frames;
	c.n = 2;
	c.copy_audio = 1;
	c.join_quiet = 0.01;
	c.unclean = &unclean;
	c.path = out;
	c.fps_num = p->fps_num;
	c.fps_den = p->fps_den;
	if (fm_concat_copy(&c, &err) < 0 && err.code != FM_RESOURCE_PROCESSING_ERROR)
		abort();
	fm_error_release(&err);
	unlink(out);
	rmdir(dir);
}

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
		if (p.has_video && !fm_probe_audio_differs(&p, &p, NULL, 0))
			copy_twice(path, &p);
		fm_probe_release(&p);
	} else if (err.code != FM_RESOURCE_PROCESSING_ERROR) {
		abort();
	}
	fm_error_release(&err);
	close(fd);
	return 0;
}
