/*
 * titlecard: the bundled native plugin serving text2image. It wraps the
 * prompt into lines, draws them centred over a plain (color) or gradient
 * (gradients) background with libavfilter, one drawtext filter per line,
 * pulls the single frame and encodes it with libavcodec's PNG encoder into
 * OUTPUT_DIR/card.png. The card is written under a temporary name and
 * renamed, so a half-written card never appears.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavutil/common.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/parseutils.h>

#include "filmeto.h"

/* Longest prompt accepted, in bytes: a card is a title, not a page. */
#define MAX_PROMPT 4096
/* Most lines on a card; each line is one drawtext filter. */
#define MAX_LINES 128
/* Automatic sizing starts at height / 10 and gives up below this. */
#define MIN_AUTO_FONT 6
/* Share of the card the text may cover when the size is automatic. */
#define TEXT_WIDTH_PCT	90
#define TEXT_HEIGHT_PCT 80

struct params {
	const char *prompt;
	const char *style;
	const char *background;
	const char *background2;
	const char *color;
	const char *font;
	int width;
	int height;
	int font_size; /* 0: automatic */
	double safe;   /* the share of the text area kept: a camera move crops the card */
};

struct layout {
	int font_size;
	int nlines;			     /* counts past MAX_LINES; only MAX_LINES are kept */
	struct fm_text_line line[MAX_LINES]; /* spans of the normalised prompt */
};

/* Every libav handle of one card, freed together by card_release(). */
struct card {
	AVFilterGraph *graph;
	AVFrame *frame;
	AVCodecContext *enc;
	AVPacket *pkt;
};

struct opt {
	const char *key;
	const char *val;
};

/* The host fills defaults, but a hand-written task may still lack them. */
static const char *param_str(json_object *params, const char *key, const char *def)
{
	const char *s = fm_json_get_string(params, key);

	return s ? s : def;
}

static int param_int(json_object *params, const char *key, int def, int min, int max, int *out,
		     struct fm_error *err)
{
	json_object *v = fm_json_get(params, key, json_type_int);
	int64_t n = v ? json_object_get_int64(v) : def;

	if (n < min || n > max)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter '%s': %" PRId64 " is not in %d..%d", key, n, min, max);
	*out = (int)n;
	return 0;
}

/* Checked here so a typo is a validation error, not a graph failure. */
static int check_colour(const char *key, const char *val, struct fm_error *err)
{
	uint8_t rgba[4];

	if (av_parse_color(rgba, val, -1, NULL) < 0)
		return fm_error(err, FM_VALIDATION_ERROR, "parameter '%s': invalid colour '%s'",
				key, val);
	return 0;
}

static int read_strings(json_object *o, struct params *p, struct fm_error *err)
{
	p->prompt = fm_json_get_string(o, "prompt");
	if (!p->prompt)
		return fm_error(err, FM_VALIDATION_ERROR, "parameter 'prompt' is required");
	if (strlen(p->prompt) > MAX_PROMPT)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'prompt': longer than %d bytes", MAX_PROMPT);
	p->style = param_str(o, "style", "gradient");
	if (strcmp(p->style, "plain") && strcmp(p->style, "gradient"))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'style': '%s' is not one of plain, gradient", p->style);
	p->background = param_str(o, "background", "#101828");
	p->background2 = param_str(o, "background2", "#3b1d5e");
	p->color = param_str(o, "color", "white");
	p->font = param_str(o, "font", "Sans");
	if (check_colour("background", p->background, err) < 0 ||
	    check_colour("background2", p->background2, err) < 0 ||
	    check_colour("color", p->color, err) < 0)
		return -1;
	return 0;
}

static int read_params(json_object *o, struct params *p, struct fm_error *err)
{
	if (read_strings(o, p, err) < 0 ||
	    param_int(o, "width", 1280, 64, 4096, &p->width, err) < 0 ||
	    param_int(o, "height", 720, 64, 4096, &p->height, err) < 0 ||
	    param_int(o, "font_size", 0, 0, 1000, &p->font_size, err) < 0 ||
	    fm_param_number(o, "safe_area", 1, 0.2, 1, &p->safe, err) < 0)
		return -1;
	return 0;
}

/* The line pitch: drawtext's own spacing is not known before rendering. */
static int line_pitch(int font_size)
{
	return font_size * 5 / 4;
}

/* Lays text out at font_size; returns whether it fits the text area. */
static int layout_at(struct layout *l, const char *text, int font_size, const struct params *p)
{
	int max = (int)(TEXT_WIDTH_PCT * p->safe * p->width) / font_size;

	l->font_size = font_size;
	l->nlines = fm_render_wrap(text, max, l->line, MAX_LINES);
	return max >= 100 && l->nlines <= MAX_LINES &&
	       (int64_t)l->nlines * line_pitch(font_size) * 100 <=
		   (int64_t)(TEXT_HEIGHT_PCT * p->safe * p->height);
}

static int layout(struct layout *l, const char *text, const struct params *p, struct fm_error *err)
{
	int fs;

	if (p->font_size > 0) {
		/* an explicit size is obeyed even if the text overflows */
		if (layout_at(l, text, p->font_size, p) || l->nlines <= MAX_LINES)
			return 0;
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'prompt': %d lines at font size %d, more than %d",
				l->nlines, p->font_size, MAX_LINES);
	}
	for (fs = p->height / 10; fs >= MIN_AUTO_FONT; fs--)
		if (layout_at(l, text, fs, p))
			return 0;
	return fm_error(err, FM_VALIDATION_ERROR, "parameter 'prompt': does not fit a %dx%d card",
			p->width, p->height);
}

/* Adds a filter with its options after *last and makes it the new *last. */
static int add_filter(AVFilterGraph *g, AVFilterContext **last, const char *name,
		      const struct opt *o, struct fm_error *err)
{
	const AVFilter *filter = avfilter_get_by_name(name);
	AVFilterContext *f;
	int r;

	if (!filter)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "libavfilter has no '%s' filter",
				name);
	f = avfilter_graph_alloc_filter(g, filter, NULL);
	if (!f)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot create filter '%s'", name);
	for (; o && o->key; o++) {
		r = av_opt_set(f, o->key, o->val, AV_OPT_SEARCH_CHILDREN);
		if (r < 0)
			return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
					   "cannot set %s option '%s'", name, o->key);
	}
	r = avfilter_init_str(f, NULL);
	if (r < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot set up filter '%s'",
				   name);
	if (*last && (r = avfilter_link(*last, 0, f, 0)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot link filter '%s'",
				   name);
	*last = f;
	return 0;
}

static int add_background(struct card *c, const struct params *p, AVFilterContext **last,
			  struct fm_error *err)
{
	char size[32], x1[16], y1[16];

	snprintf(size, sizeof(size), "%dx%d", p->width, p->height);
	if (!strcmp(p->style, "plain")) {
		const struct opt o[] = {
		    {"color", p->background},
		    {"size", size},
		    {"rate", "1"},
		    {NULL, NULL},
		};
		return add_filter(c->graph, last, "color", o, err);
	}
	/* fixed ends and seed: the same parameters give the same card */
	snprintf(x1, sizeof(x1), "%d", p->width - 1);
	snprintf(y1, sizeof(y1), "%d", p->height - 1);
	const struct opt o[] = {
	    {"c0", p->background},
	    {"c1", p->background2},
	    {"nb_colors", "2"},
	    {"size", size},
	    {"rate", "1"},
	    {"x0", "0"},
	    {"y0", "0"},
	    {"x1", x1},
	    {"y1", y1},
	    {"seed", "0"},
	    {"speed", "0.00001"},
	    {NULL, NULL},
	};
	return add_filter(c->graph, last, "gradients", o, err);
}

/*
 * Line i as its own drawtext, so every line is centred (libavfilter 8's
 * drawtext left-aligns the lines of one text). The text, made drawable
 * by fm_render_text, goes in through av_opt_set with expansion off, so
 * no character of it is special.
 */
static int add_line(struct card *c, const struct params *p, const struct layout *l,
		    const char *text, int i, AVFilterContext **last, struct fm_error *err)
{
	int fs = l->font_size, pitch = line_pitch(fs);
	int top = (p->height - l->nlines * pitch) / 2;
	char size[16], y[32], *line;
	int r;

	snprintf(size, sizeof(size), "%d", fs);
	/*
	 * drawtext puts the top of the line's tallest glyph at y; taking
	 * "ascent" off pins the baseline instead, so lines with and without
	 * capitals sit evenly. The baseline centres caps in the line's slot.
	 */
	snprintf(y, sizeof(y), "%d-ascent", top + i * pitch + pitch / 2 + fs * 7 / 20);
	line = fm_xasprintf("%.*s", (int)l->line[i].len, text + l->line[i].off);
	const struct opt o[] = {
	    {"expansion", "none"},
	    {"text", line},
	    {"font", p->font},
	    {"fontcolor", p->color},
	    {"fontsize", size},
	    {"x", "(w-text_w)/2"},
	    {"y", y},
	    {NULL, NULL},
	};
	r = add_filter(c->graph, last, "drawtext", o, err);
	free(line);
	return r;
}

/* Builds source, drawtexts, format=rgb24 and buffersink; pulls one frame. */
static int render(struct card *c, const struct params *p, const struct layout *l, const char *text,
		  struct fm_error *err)
{
	const struct opt rgb[] = {{"pix_fmts", "rgb24"}, {NULL, NULL}};
	AVFilterContext *last = NULL;
	int i, r;

	c->graph = avfilter_graph_alloc();
	c->frame = av_frame_alloc();
	if (!c->graph || !c->frame)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	if (add_background(c, p, &last, err) < 0)
		return -1;
	for (i = 0; i < l->nlines; i++)
		if (l->line[i].len && add_line(c, p, l, text, i, &last, err) < 0)
			return -1;
	if (add_filter(c->graph, &last, "format", rgb, err) < 0 ||
	    add_filter(c->graph, &last, "buffersink", NULL, err) < 0)
		return -1;
	r = avfilter_graph_config(c->graph, NULL);
	if (r < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot configure the filter graph");
	r = av_buffersink_get_frame(last, c->frame);
	if (r < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot render the card");
	return 0;
}

static int encode(struct card *c, struct fm_error *err)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
	int r;

	if (!codec)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "libavcodec has no png encoder");
	c->enc = avcodec_alloc_context3(codec);
	c->pkt = av_packet_alloc();
	if (!c->enc || !c->pkt)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	c->enc->width = c->frame->width;
	c->enc->height = c->frame->height;
	c->enc->pix_fmt = c->frame->format;
	c->enc->time_base = (AVRational){1, 1};
	r = avcodec_open2(c->enc, codec, NULL);
	if (r < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot open the png encoder");
	/* send the frame, then drain: the one packet comes out either way */
	if ((r = avcodec_send_frame(c->enc, c->frame)) < 0 ||
	    (r = avcodec_send_frame(c->enc, NULL)) < 0 ||
	    (r = avcodec_receive_packet(c->enc, c->pkt)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot encode the card");
	return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes dir/card.png through a temporary name; *path is absolute. */
static int write_card(const char *dir, const AVPacket *pkt, char **path, struct fm_error *err)
{
	char *tmp = fm_xasprintf("%s/.card.png.%ld.tmp", dir, (long)getpid());
	char *dst = fm_xasprintf("%s/card.png", dir);
	int fd = -1, r = -1;

	if (fm_mkdirs(dir, err) < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot create '%s':", tmp);
		goto out;
	}
	if (write_all(fd, pkt->data, (size_t)pkt->size) < 0 || fsync(fd) < 0) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", tmp);
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r < 0 || rename(tmp, dst) < 0) {
		r = fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", dst);
		goto out;
	}
	*path = fm_abspath(dst);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	return r;
}

static void card_release(struct card *c)
{
	av_packet_free(&c->pkt);
	avcodec_free_context(&c->enc);
	av_frame_free(&c->frame);
	avfilter_graph_free(&c->graph);
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct card c = {NULL, NULL, NULL, NULL};
	struct params p;
	struct layout l;
	char *text = NULL, *path = NULL;
	int r = -1;

	/* libav logs to stderr, which is this plugin's log: errors only */
	av_log_set_level(AV_LOG_ERROR);
	if (read_params(task->parameters, &p, &res->error) < 0)
		return -1;
	fm_plugin_progress(ctx, 10, "layout", "wrapping the prompt");
	/* what drawtext can draw: controls made spaces, line breaks kept */
	text = fm_render_text(p.prompt, FM_TEXT_LINES);
	if (layout(&l, text, &p, &res->error) < 0)
		goto out;
	fm_plugin_log(ctx, "card %dx%d: %d lines at font size %d", p.width, p.height, l.nlines,
		      l.font_size);
	fm_plugin_progress(ctx, 50, "render", "drawing the card");
	if (render(&c, &p, &l, text, &res->error) < 0)
		goto out;
	fm_plugin_progress(ctx, 90, "encode", "encoding the png");
	if (encode(&c, &res->error) < 0 || write_card(output_dir, c.pkt, &path, &res->error) < 0)
		goto out;
	fm_result_add_file(res, path);
	r = 0;
out:
	card_release(&c);
	free(text);
	free(path);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "titlecard",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	return fm_plugin_main(argc, argv, &def);
}
