/*
 * kenburns: the bundled native plugin serving image2video. It turns one
 * still into OUTPUT_DIR/clip.mp4, slowly zooming or panning across it
 * (the Ken Burns effect), and encodes through fm_render, so every clip
 * has the same codec parameters and a film of them concatenates by
 * stream copy.
 *
 * The still is read once, cover-cropped to the clip's aspect and scaled
 * to the clip's size (more when it has the pixels for a zoom). Each frame
 * is then resampled from it at the clip's size, at the camera's exact
 * position: a fraction of a pixel where the motion is slow. libavfilter's
 * zoompan crops on whole pixels, which makes slow motion step (it was
 * run at twice the clip's size to halve the steps, at four times the
 * pixels); the frames go straight to the encoder, with no filter or file
 * in between. motion=auto picks the motion from a hash of the image's
 * bytes, so scenes vary but a rerun gives the same clip.
 */
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/hash.h>
#include <libavutil/log.h>
#include <libavutil/pixfmt.h>
#include <libavutil/rational.h>

#include "filmeto.h"
#include "plugin_sdk.h"
#include "render.h"

/* Filter weights are fixed-point: WEIGHT_ONE parts make one. */
#define WEIGHT_BITS 14
#define WEIGHT_ONE  (1 << WEIGHT_BITS)
/* Bits below a level kept between the vertical and horizontal passes. */
#define ROW_BITS 7
/*
 * Most source pixels under one output pixel per axis: the tent spans
 * twice the pixels one output pixel covers; a frame shrinks the still
 * at most by the zoom's maximum, 3.
 */
#define MAX_TAPS 8
/*
 * x264's sub-pixel motion refinement at level 1 instead of veryfast's
 * 2: a still moving smoothly is predicted as well either way. Measured
 * on 4 s 720p clips against a zoom rendered at 4x with lanczos: the same
 * SSIM and PSNR (a title card 0.99544 / 36.98 dB both; a detailed
 * picture 0.98025 / 40.30 dB both), 0 to 5% more bytes, a quarter less
 * of x264's CPU time. What it costs: a bar followed across a 320x180
 * zoom wobbles by up to 0.12 pixel about its path instead of 0.09
 * (zoompan at twice the size: 0.75). The stream's parameters stay the
 * standard ones.
 */
#define KENBURNS_X264 "subme=1"
/* Freed memory the process keeps for its next clip rather than unmapping. */
#define HEAP_KEEP (256 << 20)
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
 * The camera at frame n: the zoom z and the top-left corner (x, y) of
 * the window of w/z x h/z that the frame shows of a w x h still. Zoom
 * in or out about the centre, or pan at the final zoom from one edge to
 * the other; t runs 0..1 over the clip, so the motion is linear in time.
 */
static void camera(const struct params *p, int64_t n, double w, double h, double *x, double *y,
		   double *z)
{
	double t = (double)n / (double)(p->frames > 1 ? p->frames - 1 : 1);
	const char *m = p->motion;

	*z = !strcmp(m, "in")	 ? 1 + (p->zoom - 1) * t
	     : !strcmp(m, "out") ? p->zoom - (p->zoom - 1) * t
				 : p->zoom;
	*x = (w - w / *z) / 2;
	*y = (h - h / *z) / 2;
	if (!strcmp(m, "left"))
		*x = (w - w / *z) * (1 - t);
	else if (!strcmp(m, "right"))
		*x = (w - w / *z) * t;
	else if (!strcmp(m, "up"))
		*y = (h - h / *z) * (1 - t);
	else if (!strcmp(m, "down"))
		*y = (h - h / *z) * t;
}

/*
 * One axis of one frame: for output pixel i, the source pixels
 * start[i] .. start[i] + taps - 1 and their weights, in WEIGHT_ONE
 * parts. A tent filter: bilinear where the frame magnifies the still,
 * widened to the source pixels one output pixel covers where it
 * shrinks it, so a still larger than the frame does not alias.
 */
struct axis {
	int *start;
	int16_t *weight; /* taps per output pixel */
	int taps;
};

static void axis_init(struct axis *a, int n)
{
	a->start = fm_xcalloc((size_t)n, sizeof(*a->start));
	a->weight = fm_xcalloc((size_t)n * MAX_TAPS, sizeof(*a->weight));
}

static void axis_release(struct axis *a)
{
	free(a->start);
	free(a->weight);
}

/*
 * The window [from, from + len) of a source of src pixels onto n output
 * pixels, pixel centres at half-integers on both sides. Positions are
 * exact fractions of a pixel, so slow motion moves the picture a little
 * every frame instead of a whole pixel now and then.
 */
static void axis_set(struct axis *a, int n, int src, double from, double len)
{
	double step = len / n, radius = step > 1 ? step : 1;
	int i, k;

	/* the open span (u - radius, u + radius) holds at most ceil(2 radius) centres */
	a->taps = (int)ceil(2 * radius);
	if (a->taps > MAX_TAPS)
		a->taps = MAX_TAPS;
	if (a->taps > src)
		a->taps = src;
	for (i = 0; i < n; i++) {
		double u = from + (i + 0.5) * step - 0.5, w[MAX_TAPS], sum = 0;
		int start = (int)floor(u - radius) + 1, left = WEIGHT_ONE, big = 0;
		int16_t *out = a->weight + (size_t)i * a->taps;

		if (start > src - a->taps)
			start = src - a->taps;
		if (start < 0)
			start = 0;
		for (k = 0; k < a->taps; k++) {
			w[k] = fmax(0, 1 - fabs(start + k - u) / radius);
			sum += w[k];
		}
		/* u may lie past the last pixel's centre: that pixel, then */
		if (sum <= 0) {
			w[u < start ? 0 : a->taps - 1] = 1;
			sum = 1;
		}
		for (k = 0; k < a->taps; k++) {
			out[k] = (int16_t)lround(w[k] / sum * WEIGHT_ONE);
			left -= out[k];
			if (out[k] > out[big])
				big = k;
		}
		out[big] = (int16_t)(out[big] + left); /* the weights sum to one exactly */
		a->start[i] = start;
	}
}

/* What the frames are made from: the still, and the tables of one frame. */
struct motion {
	const struct params *p;
	AVFrame *still;		/* yuv420p, cover-cropped to the clip's aspect */
	struct axis x[2], y[2]; /* luma, chroma */
	uint16_t *row;		/* one source row filtered vertically */
	int32_t *acc;		/* its sums, when more than two rows are filtered */
};

/* Source rows under output row j, filtered into m->row[first, last). */
static void vertical(const struct motion *m, const struct axis *ay, int j, const uint8_t *src,
		     int stride, int first, int last)
{
	const int16_t *wy = ay->weight + (size_t)j * ay->taps;
	const uint8_t *restrict s = src + (size_t)ay->start[j] * stride, *restrict t = s + stride;
	uint16_t *restrict row = m->row;
	const int shift = WEIGHT_BITS - ROW_BITS, half = 1 << (shift - 1);
	int32_t *acc = m->acc;
	int c, k;

	if (ay->taps == 2) {
		/* the common case, magnifying: two rows, one multiply a pixel */
		int32_t w0 = wy[0];

		for (c = first; c < last; c++)
			row[c] = (uint16_t)(((s[c] - t[c]) * w0 + (t[c] << WEIGHT_BITS) + half) >>
					    shift);
		return;
	}
	for (c = first; c < last; c++)
		acc[c] = half;
	for (k = 0; k < ay->taps; k++, s += stride)
		for (c = first; c < last; c++)
			acc[c] += wy[k] * s[c];
	for (c = first; c < last; c++)
		row[c] = (uint16_t)(acc[c] >> shift);
}

/* m->row filtered across into the output row d of w pixels. */
static void horizontal(const struct motion *m, const struct axis *ax, uint8_t *d, int w)
{
	const uint16_t *restrict row = m->row;
	const int shift = WEIGHT_BITS + ROW_BITS, half = 1 << (shift - 1);
	int i, k;

	if (ax->taps == 2) {
		const int *restrict start = ax->start;
		const int16_t *restrict weight = ax->weight;
		uint8_t *restrict out = d;

		for (i = 0; i < w; i++) {
			int32_t a = row[start[i]], b = row[start[i] + 1];

			out[i] = (uint8_t)(((a - b) * weight[2 * i] + (b << WEIGHT_BITS) + half) >>
					   shift);
		}
		return;
	}
	for (i = 0; i < w; i++) {
		const int16_t *wx = ax->weight + (size_t)i * ax->taps;
		const uint16_t *r = row + ax->start[i];
		int32_t v = half;

		for (k = 0; k < ax->taps; k++)
			v += wx[k] * r[k];
		v >>= shift;
		d[i] = (uint8_t)(v > 255 ? 255 : v < 0 ? 0 : v);
	}
}

/* One plane: per output row, a vertical then a horizontal pass. */
static void resample(const struct motion *m, const struct axis *ax, const struct axis *ay,
		     const uint8_t *src, int src_stride, uint8_t *dst, int dst_stride, int w, int h)
{
	int first = ax->start[0], last = ax->start[w - 1] + ax->taps, j;

	for (j = 0; j < h; j++) {
		vertical(m, ay, j, src, src_stride, first, last);
		horizontal(m, ax, dst + (size_t)j * dst_stride, w);
	}
}

/* fm_render's src_frame: frame n of the clip, at the clip's size. */
static int make_frame(void *arg, AVFrame *f, int64_t n, struct fm_error *err)
{
	struct motion *m = arg;
	const AVFrame *s = m->still;
	double x, y, z;
	int plane;

	(void)err;
	camera(m->p, n, s->width, s->height, &x, &y, &z);
	for (plane = 0; plane < 2; plane++) {
		int sh = plane; /* yuv420p: chroma is half each way */

		axis_set(&m->x[plane], f->width >> sh, s->width >> sh, x / (1 << sh),
			 s->width / z / (1 << sh));
		axis_set(&m->y[plane], f->height >> sh, s->height >> sh, y / (1 << sh),
			 s->height / z / (1 << sh));
	}
	for (plane = 0; plane < 3; plane++) {
		int c = plane > 0;

		resample(m, &m->x[c], &m->y[c], s->data[plane], s->linesize[plane], f->data[plane],
			 f->linesize[plane], f->width >> c, f->height >> c);
	}
	return 0;
}

/*
 * The still, read once, cover-cropped to the clip's aspect and scaled
 * to the clip's size times as much of the zoom as its own pixels carry
 * (so a large photo keeps its detail at the end of a zoom in, and a
 * small card is not blown up twice), in yuv420p.
 */
static char *still_filters(const struct params *p)
{
	/* A still far from the clip's shape crops to less than a pixel: one, then. */
	char *cw = fm_xasprintf("max(1,min(iw,ih*%d/%d))", p->width, p->height);
	char *ch = fm_xasprintf("max(1,min(ih,iw*%d/%d))", p->height, p->width);
	char *sw = fm_xasprintf("2*trunc(%d*clip(iw/%d,1,%.6f)/2)", p->width, p->width, p->zoom);
	char *shh = fm_xasprintf("2*trunc(%d*clip(iw/%d,1,%.6f)/2)", p->height, p->width, p->zoom);
	char *q[4] = {fm_render_quote(cw), fm_render_quote(ch), fm_render_quote(sw),
		      fm_render_quote(shh)};
	char *f = fm_xasprintf("crop=w=%s:h=%s,scale=w=%s:h=%s:flags=bicubic,setsar=1,"
			       "format=yuv420p",
			       q[0], q[1], q[2], q[3]);
	int i;

	for (i = 0; i < 4; i++)
		free(q[i]);
	free(cw);
	free(ch);
	free(sw);
	free(shh);
	return f;
}

static int render_motion(struct fm_plugin_ctx *ctx, const struct params *p, AVFrame *still,
			 const char *output_dir, struct fm_result *res)
{
	struct motion m = {.p = p, .still = still};
	struct fm_render r = {
	    .graph = "[src]null[v]",
	    .fps_num = p->fps_num,
	    .fps_den = p->fps_den,
	    .src_width = p->width,
	    .src_height = p->height,
	    .src_pix_fmt = AV_PIX_FMT_YUV420P,
	    .src_frames = p->frames,
	    .src_frame = make_frame,
	    .frames_ctx = &m,
	    .x264_params = KENBURNS_X264,
	};
	int i, rc;

	for (i = 0; i < 2; i++) {
		axis_init(&m.x[i], p->width);
		axis_init(&m.y[i], p->height);
	}
	m.row = fm_xcalloc((size_t)still->width, sizeof(*m.row));
	m.acc = fm_xcalloc((size_t)still->width, sizeof(*m.acc));
	rc = fm_plugin_render_with(ctx, &r, output_dir, "clip.mp4", p->frames, res);
	for (i = 0; i < 2; i++) {
		axis_release(&m.x[i]);
		axis_release(&m.y[i]);
	}
	free(m.row);
	free(m.acc);
	return rc;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct params p;
	AVFrame *still = NULL;
	char *filters;
	int r;

	/* libav logs to stderr, which is this plugin's log: errors only */
	av_log_set_level(AV_LOG_ERROR);
	if (read_params(task, &p, &res->error) < 0)
		return -1;
	fm_plugin_progress(ctx, 0, "probe", "reading the image");
	filters = still_filters(&p);
	r = fm_plugin_read_image(p.image, filters, &still, &res->error);
	free(filters);
	if (r < 0)
		return -1;
	if (!strcmp(p.motion, "auto") && auto_motion(p.image, &p.motion, &res->error) < 0) {
		av_frame_free(&still);
		return -1;
	}
	fm_plugin_log(ctx, "%s: %dx%d, %" PRId64 " frames at %d/%d fps, zoom %g, motion %s",
		      p.image, p.width, p.height, p.frames, p.fps_num, p.fps_den, p.zoom, p.motion);
	r = render_motion(ctx, &p, still, output_dir, res);
	av_frame_free(&still);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "kenburns",
    .version = "1.1.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	/*
	 * Each clip opens an encoder that allocates tens of megabytes and
	 * frees them at the end: from the heap, kept for the next clip,
	 * they are not mapped and zeroed by the kernel again per clip (a
	 * tenth of a clip's system time went to those page faults).
	 */
	mallopt(M_MMAP_THRESHOLD, HEAP_KEEP);
	mallopt(M_TRIM_THRESHOLD, HEAP_KEEP);
	return fm_plugin_main(argc, argv, &def);
}
