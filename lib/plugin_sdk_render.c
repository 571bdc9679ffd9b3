/*
 * fm_plugin_render and fm_plugin_check_media: the SDK's bridge to
 * lib/render.c, in a file of its own so that a plugin which renders
 * nothing does not link libavfilter (a static library brings in whole
 * objects).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/frame.h>

#include "fs.h"
#include "media.h"
#include "render.h"
#include "plugin_sdk.h"
#include "util.h"

struct render_run {
	struct fm_plugin_ctx *ctx;
	int64_t frames;
};

static void render_progress(void *arg, double percent, int64_t frames)
{
	struct render_run *run = arg;
	char msg[64];

	snprintf(msg, sizeof(msg), "frame %" PRId64 " of %" PRId64, frames, run->frames);
	fm_plugin_progress(run->ctx, 10 + percent * 0.9, "render", msg);
}

static int render_cancelled(void *arg)
{
	return fm_plugin_cancelled(((struct render_run *)arg)->ctx);
}

/* fm_render's frame_out for a still: the first frame is the one wanted. */
static int keep_frame(void *arg, const AVFrame *f)
{
	AVFrame **keep = arg;

	if (*keep)
		return 0;
	*keep = av_frame_clone(f);
	return *keep ? 0 : AVERROR(ENOMEM);
}

/*
 * Probes a file (fm_probe_file refuses frames too large to decode), then
 * decodes its first frame, so a bad one fails naming it, before any output;
 * an image's frame, through filters, goes to *keep when keep is given.
 */
static int read_media(const char *what, const char *path, const char *filters, AVFrame **keep,
		      struct fm_error *err)
{
	int image = !strcmp(what, "image");
	char *q = fm_render_movie(image ? "movie" : "amovie", path);
	char *graph = image ? fm_xasprintf("%s,trim=end_frame=1%s%s[v]", q, filters ? "," : "",
					   filters ? filters : "")
			    : fm_xasprintf("%s,atrim=end_sample=1[a]", q);
	struct fm_render r = {
	    .graph = graph, .frame_out = keep ? keep_frame : NULL, .frames_ctx = keep};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_probe probe;
	int ret = fm_probe_file(path, &probe, &e);

	fm_probe_release(&probe);
	if (ret == 0)
		ret = fm_render_run(&r, &e);

	if (ret < 0)
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read %s '%s': %s", what, path,
			 e.message);
	fm_error_release(&e);
	free(graph);
	free(q);
	return ret;
}

int fm_plugin_check_media(const char *what, const char *path, struct fm_error *err)
{
	return read_media(what, path, NULL, NULL, err);
}

int fm_plugin_read_image(const char *path, const char *filters, AVFrame **frame,
			 struct fm_error *err)
{
	*frame = NULL;
	if (read_media("image", path, filters, frame, err) < 0) {
		av_frame_free(frame);
		return -1;
	}
	return 0;
}

int fm_plugin_render(struct fm_plugin_ctx *ctx, const char *graph, const char *output_dir,
		     const char *name, int fps_num, int fps_den, int64_t frames,
		     struct fm_result *res)
{
	struct fm_render r = {.graph = graph, .fps_num = fps_num, .fps_den = fps_den};

	return fm_plugin_render_with(ctx, &r, output_dir, name, frames, res);
}

int fm_plugin_render_with(struct fm_plugin_ctx *ctx, const struct fm_render *how,
			  const char *output_dir, const char *name, int64_t frames,
			  struct fm_result *res)
{
	struct render_run run = {ctx, frames};
	struct fm_render r = *how;
	char *path;
	int rc;

	if (fm_mkdirs(output_dir, &res->error) < 0)
		return -1;
	path = fm_xasprintf("%s/%s", output_dir, name);
	r.path = path;
	r.duration = (double)frames * r.fps_den / r.fps_num;
	r.progress = render_progress;
	r.cancelled = render_cancelled;
	r.ctx = &run;
	fm_plugin_progress(ctx, 10, "render", "rendering");
	rc = fm_render_run(&r, &res->error);
	if (rc == 0) {
		char *abs = fm_abspath(path);

		fm_result_add_file(res, abs);
		free(abs);
		fm_plugin_progress(ctx, 100, "done", "written");
	}
	free(path);
	return rc;
}
