/*
 * waveform: the bundled native plugin serving speak2video. It lays the
 * narration's waveform (libavfilter's showwaves) over the lower third of
 * a still, or of a plain background when there is none, and writes
 * OUTPUT_DIR/clip.mp4 with the narration as its AAC track, through
 * fm_render_run: the same encoding as every other clip.
 *
 * The clip lasts the narration, or the duration parameter, to which the
 * narration is padded with silence or cut. The audio is made exactly that
 * long and the video exactly round(duration * fps) frames, so the two
 * differ by less than a frame.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/parseutils.h>
#include <libavutil/rational.h>

#include "filmeto.h"
#include "render.h"

/* The waves' opacity when the colour gives none, 0..255. */
#define WAVE_ALPHA 204
/* The waves cover this fraction of the height, at the bottom. */
#define WAVE_SHARE 3

struct params {
	const char *image; /* NULL: a plain background */
	const char *audio;
	const char *background;
	char color[16]; /* 0xRRGGBBAA */
	double duration;
	int width, height;
	int fps_num, fps_den;
	int64_t frames;
	int64_t samples; /* at FM_AUDIO_RATE */
};

/* The colour as 0xRRGGBBAA, with WAVE_ALPHA when it names no opacity. */
static int param_color(json_object *o, struct params *p, struct fm_error *err)
{
	const char *c = fm_json_get_string(o, "color");
	uint8_t rgba[4];

	if (!c)
		c = "white";
	if (av_parse_color(rgba, c, -1, NULL) < 0)
		return fm_error(err, FM_VALIDATION_ERROR, "parameter 'color': invalid colour '%s'",
				c);
	if (!strchr(c, '@') && rgba[3] == 255)
		rgba[3] = WAVE_ALPHA;
	snprintf(p->color, sizeof(p->color), "0x%02x%02x%02x%02x", rgba[0], rgba[1], rgba[2],
		 rgba[3]);
	p->background = fm_json_get_string(o, "background");
	if (!p->background)
		p->background = "#101828";
	if (av_parse_color(rgba, p->background, -1, NULL) < 0)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'background': invalid colour '%s'", p->background);
	return 0;
}

static int read_params(const struct fm_task *t, struct params *p, struct fm_error *err)
{
	json_object *o = t->parameters;
	double fps = 0;

	/* The still and the narration: by role, else the first of their kind. */
	p->image = fm_json_get_string(fm_plugin_input(t, "image/", "image", NULL), "data");
	p->audio = fm_json_get_string(fm_plugin_input(t, "audio/", "narration", "audio"), "data");
	if (!p->audio)
		return fm_error(
		    err, FM_VALIDATION_ERROR,
		    "no audio resource (a mime type audio/*, or metadata role narration or audio)");
	p->duration = 0;
	if (fm_json_get(o, "duration", json_type_double) ||
	    fm_json_get(o, "duration", json_type_int))
		if (fm_param_number(o, "duration", 0, 0.1, 3600, &p->duration, err) < 0)
			return -1;
	if (fm_param_number(o, "fps", 25, 1, 120, &fps, err) < 0 ||
	    fm_param_even(o, "width", 1280, &p->width, err) < 0 ||
	    fm_param_even(o, "height", 720, &p->height, err) < 0 || param_color(o, p, err) < 0)
		return -1;
	fm_frame_rate(fps, &p->fps_num, &p->fps_den);
	return 0;
}

/* How long the narration is, from its container. */
static int audio_length(const char *path, double *secs, struct fm_error *err)
{
	AVFormatContext *fc = NULL;
	AVStream *st;
	int r;

	if ((r = fm_media_open(&fc, path)) < 0 || (r = avformat_find_stream_info(fc, NULL)) < 0 ||
	    (r = av_find_best_stream(fc, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0)) < 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read audio '%s': %s", path,
			 av_err2str(r));
		goto out;
	}
	st = fc->streams[r];
	r = -1;
	if (st->duration > 0)
		*secs = st->duration * av_q2d(st->time_base);
	else if (fc->duration > 0)
		*secs = (double)fc->duration / AV_TIME_BASE;
	else
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			 "cannot tell how long audio '%s' is; give a duration", path);
	if (*secs > 0)
		r = 0;
out:
	avformat_close_input(&fc);
	return r;
}

/* The background, labelled [bg]: the still cover-scaled over the colour, or the colour. */
static char *background(const struct params *p)
{
	char *bg = fm_render_quote(p->background), *img, *g;

	if (!p->image) {
		g = fm_xasprintf("color=c=%s:s=%dx%d:r=%d/%d[bg]", bg, p->width, p->height,
				 p->fps_num, p->fps_den);
		free(bg);
		return g;
	}
	img = fm_render_movie("movie", p->image);
	g = fm_xasprintf("%s,trim=end_frame=1,"
			 "scale=w=%d:h=%d:force_original_aspect_ratio=increase,crop=w=%d:h=%d,"
			 "setsar=1[img];"
			 "color=c=%s:s=%dx%d:r=%d/%d[bg0];"
			 "[bg0][img]overlay=eof_action=repeat[bg]",
			 img, p->width, p->height, p->width, p->height, bg, p->width, p->height,
			 p->fps_num, p->fps_den);
	free(img);
	free(bg);
	return g;
}

/*
 * The narration, resampled, padded and cut to exactly the clip's length,
 * goes out as [a] and into showwaves; the waves are laid over the bottom
 * of [bg], and the video cut to its frame count.
 */
static char *build_graph(const struct params *p)
{
	int wh = p->height / WAVE_SHARE / 2 * 2;
	char *bg = background(p), *audio = fm_render_movie("amovie", p->audio), *g;

	g = fm_xasprintf(
	    "%s;"
	    "%s,aresample=%d,apad,atrim=end_sample=%" PRId64 ",asplit[a][w];"
	    "[w]showwaves=s=%dx%d:mode=cline:scale=sqrt:rate=%d/%d:colors=%s,format=rgba[wv];"
	    "[bg][wv]overlay=x=0:y=main_h-overlay_h:eof_action=pass,"
	    "trim=end_frame=%" PRId64 ",setsar=1,format=yuv420p[v]",
	    bg, audio, FM_AUDIO_RATE, p->samples, p->width, wh, p->fps_num, p->fps_den, p->color,
	    p->frames);
	free(bg);
	free(audio);
	return g;
}

/* Checks the inputs and settles the clip's length. */
static int prepare(struct fm_plugin_ctx *ctx, const struct fm_task *task, struct params *p,
		   struct fm_error *err)
{
	double len = 0;

	if (read_params(task, p, err) < 0)
		return -1;
	fm_plugin_progress(ctx, 0, "probe", "reading the inputs");
	if ((p->image && fm_plugin_check_media("image", p->image, err) < 0) ||
	    fm_plugin_check_media("audio", p->audio, err) < 0)
		return -1;
	if (p->duration <= 0 && audio_length(p->audio, &len, err) < 0)
		return -1;
	if (p->duration <= 0)
		p->duration = len;
	p->frames = llround(p->duration * p->fps_num / p->fps_den);
	if (p->frames < 1)
		p->frames = 1;
	p->samples = llround(p->duration * FM_AUDIO_RATE);
	return 0;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct params p;
	char *graph;
	int r;

	/* libav logs to stderr, which is this plugin's log: errors only */
	av_log_set_level(AV_LOG_ERROR);
	if (prepare(ctx, task, &p, &res->error) < 0)
		return -1;
	fm_plugin_log(ctx, "%s over %s: %dx%d, %.3f s, %" PRId64 " frames at %d/%d fps", p.audio,
		      p.image ? p.image : p.background, p.width, p.height, p.duration, p.frames,
		      p.fps_num, p.fps_den);
	graph = build_graph(&p);
	r = fm_plugin_render(ctx, graph, output_dir, "clip.mp4", p.fps_num, p.fps_den, p.frames,
			     res);
	free(graph);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "waveform",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	return fm_plugin_main(argc, argv, &def);
}
