/*
 * fm_render: graphs rendered into every container it knows, read back
 * with libavformat; quoting checked by what the filters receive; the log
 * routing, cancellation and the failures that must leave no file behind.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>

#include "filmeto.h"
#include "render.h"
#include "tap.h"

/* What a rendered file holds, read back through libavformat. */
struct probe {
	int nstreams;
	enum AVCodecID codec[4];
	int64_t packets[4];
	int width, height, sample_rate, channels;
	int nchapters;
	char chapter2[64];
	char title[64];
};

static int probe(const char *path, struct probe *p)
{
	AVFormatContext *fc = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVDictionaryEntry *t;
	unsigned i;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = avformat_open_input(&fc, path, NULL, NULL)) < 0 ||
	    (r = avformat_find_stream_info(fc, NULL)) < 0)
		goto out;
	for (i = 0; i < fc->nb_streams && i < 4; i++) {
		AVCodecParameters *cp = fc->streams[i]->codecpar;

		p->codec[i] = cp->codec_id;
		if (cp->codec_type == AVMEDIA_TYPE_VIDEO) {
			p->width = cp->width;
			p->height = cp->height;
		} else if (cp->codec_type == AVMEDIA_TYPE_AUDIO) {
			p->sample_rate = cp->sample_rate;
			p->channels = cp->ch_layout.nb_channels;
		}
	}
	p->nstreams = (int)fc->nb_streams;
	while (av_read_frame(fc, pkt) >= 0) {
		if (pkt->stream_index < 4)
			p->packets[pkt->stream_index]++;
		av_packet_unref(pkt);
	}
	p->nchapters = (int)fc->nb_chapters;
	if (fc->nb_chapters > 1 && (t = av_dict_get(fc->chapters[1]->metadata, "title", NULL, 0)))
		snprintf(p->chapter2, sizeof(p->chapter2), "%s", t->value);
	if ((t = av_dict_get(fc->metadata, "title", NULL, 0)))
		snprintf(p->title, sizeof(p->title), "%s", t->value);
out:
	av_packet_free(&pkt);
	avformat_close_input(&fc);
	return r;
}

/* How many entries dir has besides . and .. (temporary files included). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static int render(const char *graph, const char *path, struct fm_error *e)
{
	struct fm_render r = {.graph = graph, .path = path, .fps_num = 25, .fps_den = 1};

	fm_error_release(e);
	*e = (struct fm_error)FM_ERROR_INIT;
	return fm_render_run(&r, e);
}

/* The text drawtext receives from a graph is exactly the text quoted. */
static void test_quote_text(void)
{
	static const char *const texts[] = {
	    "it's 100% \"quoted\": a\\b, c; [d] e=f", " leading and trailing ", "'", "\\", "%{pts}",
	};
	size_t i;

	/* drawtext names its font at info level: not test output */
	av_log_set_level(AV_LOG_ERROR);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *q = fm_render_quote(texts[i]);
		char *g = fm_xasprintf("color,drawtext=expansion=none:text=%s:fontsize=12,null", q);
		AVFilterGraph *graph = avfilter_graph_alloc();
		AVFilterInOut *in = NULL, *out = NULL;
		uint8_t *got = NULL;

		if (avfilter_graph_parse_ptr(graph, g, &in, &out, NULL) >= 0)
			av_opt_get(graph->filters[1], "text", AV_OPT_SEARCH_CHILDREN, &got);
		IS_STR((char *)got, texts[i], "quote: drawtext receives %s", q);
		av_free(got);
		avfilter_inout_free(&in);
		avfilter_inout_free(&out);
		avfilter_graph_free(&graph);
		free(g);
		free(q);
	}
}

/* What fm_render_text makes of hostile text. */
static void test_text_clean(void)
{
	static const struct {
		const char *in, *want;
		int flags;
	} cases[] = {
	    {"a\tb", "a b", 0},
	    {"\x01\x07\x1b\x7f", "    ", 0},
	    {"one\r\ntwo\rthree\nfour", "one two three four", 0},
	    {"one\r\ntwo\rthree\nfour", "one\ntwo\nthree\nfour", FM_TEXT_LINES},
	    {"\xc2\x85\xe2\x80\xa8\xc2\x9b", "\n\n ", FM_TEXT_LINES},
	    {"bad \xff\xc3 end", "bad \xef\xbf\xbd\xef\xbf\xbd end", 0},
	    {"\xed\xa0\xbc", "\xef\xbf\xbd", 0}, /* a surrogate, CESU-8 */
	    {"\xef\xbf\xbf", "\xef\xbf\xbd", 0}, /* U+FFFF */
	    {"\xcc\x81 mark", "\xcc\x81 mark", 0},
	    {"%{pts} it's: a\\b", "%{pts} it's: a\\b", 0},
	    {"trunc\xe2\x80", "trunc\xef\xbf\xbd\xef\xbf\xbd", 0},
	};
	char *big = fm_xmalloc(3 * FM_DRAWTEXT_MAX), *got;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = fm_render_text(cases[i].in, cases[i].flags);
		IS_STR(got, cases[i].want, "text: case %zu drawn safely", i);
		free(got);
	}
	/* A long text is cut at a character, with an ellipsis, within the bound. */
	for (i = 0; i + 2 < 3 * FM_DRAWTEXT_MAX; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[i] = '\0';
	got = fm_render_text(big, 0);
	OK(strlen(got) <= FM_DRAWTEXT_MAX && strlen(got) > FM_DRAWTEXT_MAX - 8,
	   "text: cut to at most FM_DRAWTEXT_MAX bytes (%zu)", strlen(got));
	HAS(got + strlen(got) - 3, "\xe2\x80\xa6", "text: a cut text ends in an ellipsis");
	free(got);
	free(big);
}

/* Lines of text wrapped at max, joined by '|'. */
static char *wrapped(const char *text, int max, int nmax, int *n)
{
	struct fm_text_line line[8];
	char *out = fm_xmalloc(strlen(text) + 9), *d = out;
	int i;

	*n = fm_render_wrap(text, max, line, nmax);
	for (i = 0; i < *n && i < nmax; i++)
		d += sprintf(d, "%s%.*s", i ? "|" : "", (int)line[i].len, text + line[i].off);
	return out;
}

/* Greedy wrap by estimated widths: breaks at spaces, cuts long words. */
static void test_wrap(void)
{
	static const struct {
		const char *in;
		int max, nmax;
		const char *want;
		int n;
	} cases[] = {
	    {"one two three", 1000, 8, "one two three", 1},
	    {"one two three", 410, 8, "one two|three", 2}, /* "one two" is 404 */
	    {"one  two   three ", 300, 8, "one|two|three", 3},
	    {"one\n\ntwo", 1000, 8, "one||two", 3},
	    {"a mmmmmm", 300, 8, "a mm|mmm|m", 3},     /* a word wider than a line begins on it */
	    {"abc mmmmmm", 200, 8, "abc|mm|mm|mm", 4}, /* unless not one of it fits */
	    {"a b c d e", 50, 2, "a|b", 5},
	    {"", 100, 8, "", 1},
	};
	size_t i;
	int n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = wrapped(cases[i].in, cases[i].max, cases[i].nmax, &n);

		IS_STR(got, cases[i].want, "wrap: case %zu", i);
		IS_INT(n, cases[i].n, "wrap: case %zu needs %d lines", i, cases[i].n);
		free(got);
	}
	/* DejaVu Sans' widest: an em for the ellipsis and U+FFFD, more than 'm' */
	IS_INT(fm_render_text_width("m", 1), 98, "width: m");
	IS_INT(fm_render_text_width("\xe2\x80\xa6", 3), 105, "width: ellipsis");
	IS_INT(fm_render_text_width("\xd0\x96x", 2), 80, "width: counts len bytes");
}

/*
 * Every hostile text, as fm_render_drawtext gives it, parses into one
 * drawtext with expansion none and the cleaned text, and renders: with
 * the font size an expression, a tab used to divide by zero (SIGFPE).
 */
static void test_drawtext(const char *dir)
{
	static const char *const texts[] = {
	    "tab\there",
	    "\t",
	    "\x01\x07\r\x1b\x7f\x0b\x0c",
	    "%{pts}",
	    "%{eif:1/0:d}",
	    "it's: a\\b, c; [d] e=f",
	    "\xcc\x81\xcc\x81",
	    "\xf0\x9f\x8e\xac\xe2\x80\x8f",
	    "",
	    " ",
	    "end\\",
	};
	struct fm_error e = FM_ERROR_INIT;
	char *out = fm_xasprintf("%s/text.png", dir);
	size_t i;

	av_log_set_level(AV_LOG_ERROR);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *opt = fm_render_drawtext(texts[i], FM_TEXT_LINES);
		char *want = fm_render_text(texts[i], FM_TEXT_LINES);
		char *g = fm_xasprintf("color=s=64x48,drawtext=fontsize=h/4:%s,null[v]", opt);
		AVFilterGraph *graph = avfilter_graph_alloc();
		AVFilterInOut *in = NULL, *outs = NULL;
		uint8_t *got = NULL;
		int64_t expansion = -1;

		if (avfilter_graph_parse_ptr(graph, g, &in, &outs, NULL) >= 0) {
			av_opt_get(graph->filters[1], "text", AV_OPT_SEARCH_CHILDREN, &got);
			av_opt_get_int(graph->filters[1], "expansion", AV_OPT_SEARCH_CHILDREN,
				       &expansion);
		}
		IS_STR((char *)got, want, "drawtext: text %zu arrives cleaned", i);
		IS_INT(expansion, 0, "drawtext: text %zu with expansion=none", i);
		OK(render(g, out, &e) == 0, "drawtext: text %zu renders", i);
		if (e.message[0])
			tap_diag("%s", e.message);
		av_free(got);
		avfilter_inout_free(&in);
		avfilter_inout_free(&outs);
		avfilter_graph_free(&graph);
		free(g);
		free(want);
		free(opt);
	}
	unlink(out);
	free(out);
	fm_error_release(&e);
}

/* movie= reads a file whose name has every character the graph treats specially. */
static void test_quote_path(const char *dir)
{
	struct fm_error e = FM_ERROR_INIT;
	char *img = fm_xasprintf("%s/it's a:b, c [1];d=e%%.png", dir);
	char *out = fm_xasprintf("%s/out.png", dir);
	char *q = fm_render_quote(img), *g;
	char *text = fm_render_quote("it's 100%: a\\b, c");
	struct probe p;

	g = fm_xasprintf("color=c=red:s=64x48,drawtext=expansion=none:text=%s[v]", text);
	OK(render(g, img, &e) == 0, "png: a drawtext graph renders into a file named with quotes");
	if (e.message[0])
		tap_diag("%s", e.message);
	free(g);
	g = fm_xasprintf("movie=%s,scale=32:24[v]", q);
	OK(render(g, out, &e) == 0, "quote: movie= opens a file named with ' : , [ ] ; = %%");
	if (e.message[0])
		tap_diag("%s", e.message);
	probe(out, &p);
	OK(p.codec[0] == AV_CODEC_ID_PNG && p.width == 32 && p.height == 24 && p.packets[0] == 1,
	   "png: one 32x24 frame");
	unlink(img);
	unlink(out);
	fm_error_release(&e);
	free(g);
	free(q);
	free(text);
	free(img);
	free(out);
}

static void test_mp4(const char *dir)
{
	static const double start[] = {0, 0.5}, end[] = {0.5, 1};
	static const char *const titles[] = {"One", "Two: the sequel"};
	struct fm_error e = FM_ERROR_INIT;
	char *path = fm_xasprintf("%s/film.mp4", dir);
	struct fm_render r = {
	    .graph = "color=c=blue:s=64x48:r=25:d=1[v];sine=f=440:d=1[a]",
	    .path = path,
	    .fps_num = 25,
	    .fps_den = 1,
	    .nchapters = 2,
	    .chapter_start = start,
	    .chapter_end = end,
	    .chapter_title = titles,
	    .title = "A film",
	};
	struct probe p;

	OK(fm_render_run(&r, &e) == 0, "mp4: video and audio render");
	if (e.message[0])
		tap_diag("%s", e.message);
	OK(probe(path, &p) >= 0, "mp4: the file reads back");
	OK(p.codec[0] == AV_CODEC_ID_H264 && p.codec[1] == AV_CODEC_ID_AAC, "mp4: H.264 then AAC");
	IS_INT(p.packets[0], 25, "mp4: one second at 25 fps is 25 frames");
	IS_INT(p.sample_rate * 100 + p.channels, FM_AUDIO_RATE * 100 + 2, "mp4: 48 kHz stereo");
	IS_INT(p.nchapters, 2, "mp4: two chapters");
	IS_STR(p.chapter2, "Two: the sequel", "mp4: chapter titles");
	IS_STR(p.title, "A film", "mp4: the title");
	IS_INT(entries(dir), 1, "mp4: no temporary file is left");
	unlink(path);
	free(path);
	fm_error_release(&e);
}

static void test_audio_only(const char *dir)
{
	struct fm_error e = FM_ERROR_INIT;
	char *wav = fm_xasprintf("%s/a.wav", dir), *m4a = fm_xasprintf("%s/a.m4a", dir);
	struct probe p;

	OK(render("sine=d=0.5:sample_rate=22050[a]", wav, &e) == 0, "wav: renders");
	probe(wav, &p);
	OK(p.codec[0] == AV_CODEC_ID_PCM_S16LE && p.sample_rate == FM_AUDIO_RATE && p.channels == 2,
	   "wav: 16-bit PCM, resampled to 48 kHz stereo");
	OK(render("sine=d=0.5[a]", m4a, &e) == 0, "m4a: renders");
	probe(m4a, &p);
	OK(p.nstreams == 1 && p.codec[0] == AV_CODEC_ID_AAC, "m4a: one AAC stream");
	OK(render("color=d=1[v]", m4a, &e) < 0 && strstr(e.message, "[v]"),
	   "m4a: a video output is refused");
	unlink(wav);
	unlink(m4a);
	free(wav);
	free(m4a);
	fm_error_release(&e);
}

struct logged {
	char filter[64];
	int lines, input_i;
};

static void on_log(void *ctx, const char *filter, const char *line)
{
	struct logged *l = ctx;

	snprintf(l->filter, sizeof(l->filter), "%s", filter);
	l->lines++;
	l->input_i += strstr(line, "\"input_i\"") != NULL;
}

static void *measure(void *arg)
{
	struct logged *l = arg;
	struct fm_error e = FM_ERROR_INIT;
	struct fm_render r = {
	    .graph = "sine=f=330:d=2,loudnorm=print_format=json[a]",
	    .filter_log = on_log,
	    .ctx = l,
	};

	if (fm_render_run(&r, &e) < 0)
		l->lines = -1;
	fm_error_release(&e);
	return NULL;
}

/* Two measuring passes at once: each hears its own loudnorm, once. */
static void test_filter_log(void)
{
	struct logged a, b;
	pthread_t t;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	pthread_create(&t, NULL, measure, &a);
	measure(&b);
	pthread_join(t, NULL);
	OK(a.input_i == 1 && b.input_i == 1, "filter_log: each pass gets its own loudnorm summary");
	OK(a.lines >= 10 && a.lines == b.lines, "filter_log: one call per line (%d, %d)", a.lines,
	   b.lines);
	HAS(a.filter, "loudnorm", "filter_log: names the filter instance");
}

struct watch {
	int polls, reports;
	double last, min_gap;
};

static int stop_later(void *ctx)
{
	struct watch *w = ctx;

	usleep(2000);
	return ++w->polls > 250;
}

static void on_progress(void *ctx, double percent, int64_t frames)
{
	struct watch *w = ctx;
	double now = fm_now();

	(void)frames;
	if (w->reports && now - w->last < w->min_gap)
		w->min_gap = now - w->last;
	if (percent < 0 || percent > 100)
		w->min_gap = -1;
	w->last = now;
	w->reports++;
}

static void test_cancel(const char *dir)
{
	struct fm_error e = FM_ERROR_INIT;
	struct watch w = {0, 0, 0, 1e9};
	char *path = fm_xasprintf("%s/cancelled.mp4", dir);
	struct fm_render r = {
	    .graph = "color=s=64x48:d=60[v]",
	    .path = path,
	    .fps_num = 25,
	    .fps_den = 1,
	    .duration = 60,
	    .progress = on_progress,
	    .cancelled = stop_later,
	    .ctx = &w,
	};

	OK(fm_render_run(&r, &e) < 0 && e.code == FM_TASK_CANCELLED, "cancel: TASK_CANCELLED");
	OK(w.reports >= 2 && w.min_gap >= 0.19, "progress: %d reports, at least 0.2 s apart",
	   w.reports);
	IS_INT(entries(dir), 0, "cancel: nothing is left behind");
	fm_error_release(&e);
	free(path);
}

static void test_failures(const char *dir)
{
	struct fm_error e = FM_ERROR_INIT;
	char *path = fm_xasprintf("%s/x.mp4", dir), *big;

	OK(render("nosuchfilter[v]", path, &e) < 0 && e.code == FM_RESOURCE_PROCESSING_ERROR &&
	       strstr(e.message, "nosuchfilter"),
	   "a bad graph fails saying why: %s", e.message);
	OK(render("color=d=1", path, &e) < 0 && strstr(e.message, "[v]"),
	   "an unlabelled output is refused: %s", e.message);
	OK(render("color=d=1:r=30[v]", path, &e) < 0 && strstr(e.message, "30/1"),
	   "a frame rate other than fps is refused: %s", e.message);
	OK(render("movie=/nonexistent/x.png[v]", path, &e) < 0 &&
	       strstr(e.message, "/nonexistent/x.png"),
	   "a missing movie= file is named: %s", e.message);
	OK(render("color=d=1[v]", "x.avi", &e) < 0 && e.code == FM_VALIDATION_ERROR,
	   "an unknown extension is a validation error");
	big = fm_xmalloc(FM_GRAPH_MAX + 2);
	memset(big, ' ', FM_GRAPH_MAX + 1);
	big[FM_GRAPH_MAX + 1] = '\0';
	OK(render(big, path, &e) < 0 && e.code == FM_VALIDATION_ERROR,
	   "a graph longer than FM_GRAPH_MAX is refused");
	IS_INT(entries(dir), 0, "failures leave no file behind");
	free(big);
	free(path);
	fm_error_release(&e);
}

/* A still of w x h at path, a single file whatever its name says. */
static void still(const char *path, int w, int h)
{
	struct fm_render r = {0};
	struct fm_error e = FM_ERROR_INIT;
	char *g = fm_xasprintf("color=c=red:s=%dx%d[v]", w, h);
	const char *slash = strrchr(path, '/');
	char *tmp = fm_xasprintf("%.*sstill.tmp.png", slash ? (int)(slash - path + 1) : 0, path);

	/* rendered under a plain name: the png muxer, too, reads %d */
	r.graph = g;
	r.path = tmp;
	if (fm_render_run(&r, &e) < 0 || rename(tmp, path) < 0)
		tap_diag("cannot make '%s': %s", path, e.message);
	fm_error_release(&e);
	free(tmp);
	free(g);
}

/* The width of the one frame fm_render_movie's source gives, or -1. */
static int movie_width(const char *dir, const char *file)
{
	struct fm_error e = FM_ERROR_INIT;
	char *src = fm_render_movie("movie", file), *g = fm_xasprintf("%s[v]", src);
	char *out = fm_xasprintf("%s/out.png", dir);
	struct probe p;
	int w = -1;

	if (render(g, out, &e) == 0 && probe(out, &p) == 0)
		w = p.width;
	else
		tap_diag("%s: %s", file, e.message);
	unlink(out);
	fm_error_release(&e);
	free(out);
	free(g);
	free(src);
	return w;
}

/*
 * A file named like an image sequence or a protocol is that one file, to
 * movie= and to fm_probe_file alike: 'shot%d.png' (64 wide) is not
 * shot1.png (32 wide) beside it, 'pctn%{n}.png' is no pattern, and a
 * relative 'concat:x.png' no protocol.
 */
static void test_movie_source(const char *dir)
{
	char *seq = fm_xasprintf("%s/shot%%d.png", dir), *one = fm_xasprintf("%s/shot1.png", dir);
	char *brace = fm_xasprintf("%s/pctn%%{n}.png", dir), *cwd = getcwd(NULL, 0), *u;
	struct fm_error e = FM_ERROR_INIT;
	struct fm_probe pr;

	still(seq, 64, 48);
	still(one, 32, 24);
	still(brace, 64, 48);
	IS_INT(movie_width(dir, seq), 64, "movie: 'shot%%d.png' is that file, not shot1.png");
	IS_INT(movie_width(dir, brace), 64, "movie: 'pctn%%{n}.png' is that file");
	OK(fm_probe_file(seq, &pr, &e) == 0 && pr.width == 64,
	   "probe: 'shot%%d.png' is that file, not shot1.png");
	fm_probe_release(&pr);
	OK(fm_probe_file(brace, &pr, &e) == 0 && pr.width == 64, "probe: 'pctn%%{n}.png' too");
	fm_probe_release(&pr);
	if (chdir(dir) == 0) {
		still("concat:x.png", 64, 48);
		IS_INT(movie_width(dir, "concat:x.png"), 64,
		       "movie: a relative 'concat:x.png' is a file, not a protocol");
		OK(fm_probe_file("concat:x.png", &pr, &e) == 0 && pr.width == 64,
		   "probe: a relative 'concat:x.png' too");
		fm_probe_release(&pr);
		unlink("concat:x.png");
		if (chdir(cwd) != 0)
			abort();
	}
	u = fm_media_url("/abs/a:b.png");
	IS_STR(u, "/abs/a:b.png", "url: an absolute path is left as it is");
	free(u);
	u = fm_media_url("subfile,,0,10,:x");
	IS_STR(u, "file:subfile,,0,10,:x", "url: subfile's spelling is a file too");
	free(u);
	unlink(seq);
	unlink(one);
	unlink(brace);
	fm_error_release(&e);
	free(seq);
	free(one);
	free(brace);
	free(cwd);
}

/* src_frame: frame n is a flat grey of level 10 * n; frame 'fail' fails. */
struct source {
	int64_t fail;
	int64_t seen;	/* frames handed back by frame_out */
	int levels[16]; /* their first luma sample */
};

static int grey(void *ctx, AVFrame *f, int64_t n, struct fm_error *err)
{
	struct source *s = ctx;
	int y;

	if (n == s->fail)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "frame %d failed", (int)n);
	for (y = 0; y < f->height; y++)
		memset(f->data[0] + (size_t)y * f->linesize[0], (int)(10 * n), (size_t)f->width);
	for (y = 0; y < f->height / 2; y++) {
		memset(f->data[1] + (size_t)y * f->linesize[1], 128, (size_t)f->width / 2);
		memset(f->data[2] + (size_t)y * f->linesize[2], 128, (size_t)f->width / 2);
	}
	return 0;
}

static int took(void *ctx, const AVFrame *f)
{
	struct source *s = ctx;

	if (s->seen < 16)
		s->levels[s->seen] = f->data[0][0];
	s->seen++;
	return 0;
}

static void test_frame_source(const char *dir)
{
	struct fm_error e = FM_ERROR_INIT;
	char *path = fm_xasprintf("%s/made.mp4", dir);
	struct source s = {.fail = -1};
	struct fm_render r = {
	    .graph = "[src]null[v]",
	    .path = path,
	    .fps_num = 25,
	    .fps_den = 1,
	    .src_width = 64,
	    .src_height = 48,
	    .src_pix_fmt = AV_PIX_FMT_YUV420P,
	    .src_frames = 12,
	    .src_frame = grey,
	    .frame_out = took,
	    .frames_ctx = &s,
	};
	struct probe p;

	OK(fm_render_run(&r, &e) == 0, "source: the caller's frames render");
	if (e.message[0])
		tap_diag("%s", e.message);
	OK(probe(path, &p) >= 0 && p.codec[0] == AV_CODEC_ID_H264 && p.width == 64 &&
	       p.height == 48,
	   "source: an H.264 file of the source's size");
	IS_INT(p.packets[0], 12, "source: exactly src_frames frames");
	unlink(path);

	r.path = NULL; /* a pass without a file hands the frames back */
	r.graph = "[src]scale=32:24[v]";
	OK(fm_render_run(&r, &e) == 0, "frame_out: a pass without a file");
	IS_INT(s.seen, 12, "frame_out: every frame, once");
	OK(s.levels[0] == 10 * 0 && s.levels[5] == 10 * 5 && s.levels[11] == 10 * 11,
	   "frame_out: the frames in order, as the graph made them");

	r.path = path;
	r.graph = "[src]null[v]";
	s.fail = 7;
	OK(fm_render_run(&r, &e) < 0 && strstr(e.message, "frame 7 failed"),
	   "source: a frame that fails fails the render with its error: %s", e.message);
	s.fail = -1;
	r.src_frame = NULL;
	OK(fm_render_run(&r, &e) < 0 && strstr(e.message, "'src' is not connected"),
	   "source: [src] without src_frame is an unconnected input: %s", e.message);
	r.src_frame = grey;
	r.graph = "color=s=64x48:d=1[v]";
	OK(fm_render_run(&r, &e) < 0 && strstr(e.message, "no input [src]"),
	   "source: src_frame with a graph that never reads it is refused: %s", e.message);
	r.graph = "[src]null[v]";
	r.src_width = 0;
	OK(fm_render_run(&r, &e) < 0 && e.code == FM_VALIDATION_ERROR,
	   "source: a source without a size is a validation error");
	IS_INT(entries(dir), 0, "source: failures leave no file behind");
	free(path);
	fm_error_release(&e);
}

void test_render(void)
{
	char *dir = tmp_dir();

	test_quote_text();
	test_text_clean();
	test_wrap();
	test_drawtext(dir);
	test_quote_path(dir);
	test_movie_source(dir);
	test_mp4(dir);
	test_audio_only(dir);
	test_filter_log();
	test_cancel(dir);
	test_failures(dir);
	test_frame_source(dir);
	rm_rf(dir);
	free(dir);
}
