/*
 * kenburns: the bundled native plugin serving image2video. It turns one
 * still into OUTPUT_DIR/clip.mp4, slowly zooming or panning across it
 * (the Ken Burns effect) with libavfilter's zoompan, and encodes through
 * fm_render_run, so every clip has the same codec parameters and a film
 * of them concatenates by stream copy.
 *
 * The still is cover-scaled to twice the output size before zoompan:
 * zoompan crops on whole pixels, and the finer grid keeps slow motion
 * from stepping visibly. motion=auto picks the motion from a hash of the
 * image's bytes, so scenes vary but a rerun gives the same clip.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/hash.h>
#include <libavutil/log.h>
#include <libavutil/rational.h>

#include "filmeto.h"
#include "render.h"

/* Oversampling of the still under zoompan, per axis. */
#define OVERSAMPLE 2
/* Bytes of the image read at a time for motion=auto. */
#define HASH_CHUNK 65536

static const char *const motions[] = {"in", "out", "left", "right", "up", "down"};
#define NMOTIONS ((int)(sizeof(motions) / sizeof(motions[0])))

struct params {
	const char *image;
	const char *motion;
	double duration, zoom;
	int width, height;
	int fps_num, fps_den;
	int64_t frames;
};

static int read_params(const struct fm_task *t, struct params *p, struct fm_error *err)
{
	json_object *o = t->parameters;
	double fps = 0;
	int i;

	/* The still: the first resource with role image, else the first image. */
	p->image = fm_json_get_string(fm_plugin_input(t, "image/", "image", NULL), "data");
	if (!p->image)
		return fm_error(err, FM_VALIDATION_ERROR,
				"no image resource (a mime type image/*, or metadata role image)");
	p->motion = fm_json_get_string(o, "motion");
	if (!p->motion)
		p->motion = "auto";
	for (i = 0; i < NMOTIONS && strcmp(p->motion, motions[i]); i++)
		;
	if (i == NMOTIONS && strcmp(p->motion, "auto"))
		return fm_error(
		    err, FM_VALIDATION_ERROR,
		    "parameter 'motion': '%s' is not one of auto, in, out, left, right, "
		    "up, down",
		    p->motion);
	if (fm_param_number(o, "duration", 4, 0.1, 600, &p->duration, err) < 0 ||
	    fm_param_number(o, "fps", 25, 1, 120, &fps, err) < 0 ||
	    fm_param_number(o, "zoom", 1.2, 1, 3, &p->zoom, err) < 0 ||
	    fm_param_even(o, "width", 1280, &p->width, err) < 0 ||
	    fm_param_even(o, "height", 720, &p->height, err) < 0)
		return -1;
	fm_frame_rate(fps, &p->fps_num, &p->fps_den);
	p->frames = llround(p->duration * p->fps_num / p->fps_den);
	if (p->frames < 1)
		p->frames = 1;
	return 0;
}

/* motion=auto: the first byte of the MD5 of the image picks one. */
static int auto_motion(const char *path, const char **motion, struct fm_error *err)
{
	struct AVHashContext *h = NULL;
	uint8_t digest[AV_HASH_MAX_SIZE];
	unsigned char *buf = NULL;
	FILE *f = fopen(path, "rb");
	size_t n;
	int r = -1;

	if (!f)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot open image '%s':", path);
	buf = fm_xmalloc(HASH_CHUNK);
	if (av_hash_alloc(&h, "MD5") < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
		goto out;
	}
	av_hash_init(h);
	while ((n = fread(buf, 1, HASH_CHUNK, f)) > 0)
		av_hash_update(h, buf, n);
	if (ferror(f)) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read image '%s':", path);
		goto out;
	}
	av_hash_final(h, digest);
	*motion = motions[digest[0] % NMOTIONS];
	r = 0;
out:
	av_hash_freep(&h);
	free(buf);
	fclose(f);
	return r;
}

/*
 * zoompan's zoom and top-left corner at output frame "on", as
 * expressions: zoom in or out about the centre, or pan at the final
 * zoom from one edge to the other. t runs 0..1 over the clip.
 */
static void motion_exprs(const struct params *p, char *z, char *x, char *y, size_t size)
{
	char t[64];
	const char *cx = "(iw-iw/zoom)/2", *cy = "(ih-ih/zoom)/2";
	double zm = p->zoom - 1;
	const char *m = p->motion;

	snprintf(t, sizeof(t), "(on/%" PRId64 ")", p->frames > 1 ? p->frames - 1 : 1);
	if (!strcmp(m, "in"))
		snprintf(z, size, "1+%.6f*%s", zm, t);
	else if (!strcmp(m, "out"))
		snprintf(z, size, "%.6f-%.6f*%s", p->zoom, zm, t);
	else
		snprintf(z, size, "%.6f", p->zoom);
	snprintf(x, size, "%s", cx);
	snprintf(y, size, "%s", cy);
	if (!strcmp(m, "left"))
		snprintf(x, size, "(iw-iw/zoom)*(1-%s)", t);
	else if (!strcmp(m, "right"))
		snprintf(x, size, "(iw-iw/zoom)*%s", t);
	else if (!strcmp(m, "up"))
		snprintf(y, size, "(ih-ih/zoom)*(1-%s)", t);
	else if (!strcmp(m, "down"))
		snprintf(y, size, "(ih-ih/zoom)*%s", t);
}

/*
 * movie (first frame only) -> cover scale and crop to OVERSAMPLE times
 * the output -> zoompan, which makes all the frames from that one ->
 * square pixels in yuv420p.
 */
static char *build_graph(const struct params *p)
{
	int bw = p->width * OVERSAMPLE, bh = p->height * OVERSAMPLE;
	char z[128], x[128], y[128];
	char *img = fm_render_movie("movie", p->image), *qz, *qx, *qy, *g;

	motion_exprs(p, z, x, y, sizeof(z));
	qz = fm_render_quote(z);
	qx = fm_render_quote(x);
	qy = fm_render_quote(y);
	g = fm_xasprintf("%s,trim=end_frame=1,"
			 "scale=w=%d:h=%d:force_original_aspect_ratio=increase:flags=bicubic,"
			 "crop=w=%d:h=%d,setsar=1,"
			 "zoompan=z=%s:x=%s:y=%s:d=%" PRId64 ":s=%dx%d:fps=%d/%d,"
			 "setsar=1,format=yuv420p[v]",
			 img, bw, bh, bw, bh, qz, qx, qy, p->frames, p->width, p->height,
			 p->fps_num, p->fps_den);
	free(img);
	free(qz);
	free(qx);
	free(qy);
	return g;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct params p;
	char *graph;
	int r;

	/* libav logs to stderr, which is this plugin's log: errors only */
	av_log_set_level(AV_LOG_ERROR);
	if (read_params(task, &p, &res->error) < 0)
		return -1;
	fm_plugin_progress(ctx, 0, "probe", "reading the image");
	if (fm_plugin_check_media("image", p.image, &res->error) < 0)
		return -1;
	if (!strcmp(p.motion, "auto") && auto_motion(p.image, &p.motion, &res->error) < 0)
		return -1;
	fm_plugin_log(ctx, "%s: %dx%d, %" PRId64 " frames at %d/%d fps, zoom %g, motion %s",
		      p.image, p.width, p.height, p.frames, p.fps_num, p.fps_den, p.zoom, p.motion);
	graph = build_graph(&p);
	r = fm_plugin_render(ctx, graph, output_dir, "clip.mp4", p.fps_num, p.fps_den, p.frames,
			     res);
	free(graph);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "kenburns",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	return fm_plugin_main(argc, argv, &def);
}
