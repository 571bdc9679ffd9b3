/*
 * fm_render_run: one libavfilter graph in, one media file out. The graph
 * is parsed as written; its [v] and [a] outputs end in buffer sinks that
 * ask for exactly what the encoders take, so every clip filmeto makes is
 * encoded the same way (render.h) and scenes concatenate by stream copy.
 *
 * Frames are pulled from whichever output is behind in time, so a long
 * render holds only a few frames in memory. Video frame n gets pts n and
 * audio pts count samples: the clock is the frame count, never the
 * graph's timestamps, which is what combine's stream copy relies on.
 *
 * A graph may instead start from frames its caller makes (src_frame):
 * its open input [src] is then a buffer source, given the next frame
 * each time the graph runs dry, so a plugin that computes its pictures
 * encodes them the same way without a file in between.
 *
 * libav logs through one process-wide callback. While any render runs,
 * ours is installed: it hands the lines of each render's own filters to
 * that render's filter_log and passes the rest on to libav's default.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/common.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "media.h"
#include "render.h"
#include "util.h"

/* Shortest interval between two progress calls, in seconds. */
#define PROGRESS_EVERY 0.2
/* A filter's log line is cut at this length. */
#define LOG_LINE_MAX 1024
/* Attempts at a free temporary name. */
#define TEMP_TRIES 16

/* What a file extension makes: the muxer and the codec of each stream. */
struct container {
	const char *ext;
	const char *muxer;
	enum AVCodecID video; /* AV_CODEC_ID_NONE: no video allowed */
	enum AVCodecID audio;
};

static const struct container containers[] = {
    {".mp4", "mp4", AV_CODEC_ID_H264, AV_CODEC_ID_AAC},
    {".mov", "mov", AV_CODEC_ID_H264, AV_CODEC_ID_AAC},
    {".mkv", "matroska", AV_CODEC_ID_H264, AV_CODEC_ID_AAC},
    {".m4a", "ipod", AV_CODEC_ID_NONE, AV_CODEC_ID_AAC},
    {".wav", "wav", AV_CODEC_ID_NONE, AV_CODEC_ID_PCM_S16LE},
    /* image2 with update=1 writes the one frame to the name as given */
    {".png", "image2", AV_CODEC_ID_PNG, AV_CODEC_ID_NONE},
};

/* One output of the graph: its sink, and its encoder and stream if any. */
struct out {
	const char *label;
	int audio;
	AVFilterContext *sink;
	AVCodecContext *enc;
	AVStream *st;
	int64_t next_pts; /* frames (video) or samples (audio) so far */
	double secs;	  /* where this output has got to */
	int64_t frames;
	int eof;
};

struct job {
	const struct fm_render *r;
	const struct container *c; /* NULL: no file, frames are dropped */
	AVFilterGraph *graph;
	AVFormatContext *oc;
	AVFrame *frame;
	AVPacket *pkt;
	struct out out[2];    /* [v], [a] */
	AVFilterContext *src; /* [src], when the caller makes the frames */
	AVFrame *src_buf;     /* reused while nothing downstream holds it */
	int64_t src_next;
	int src_eof;
	char *tmp;
	double last_progress;
	/* under log_lock: the line being assembled, the last error line */
	char line[LOG_LINE_MAX];
	size_t linelen;
	int linelevel;
	char linefilter[128]; /* who logged it; "" for the graph itself */
	char first_error[256];
	/* the filter being freed: its graph pointer is gone by then */
	const AVFilterContext *freeing;
	struct job *next;
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
/* Recursive: a filter_log callback may itself log through libav. */
static pthread_mutex_t log_lock;
static struct job *log_jobs; /* the renders running now */

static int fail(struct job *j, struct fm_error *err, int averr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- logging ---- */

static void log_init(void)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&log_lock, &a);
	pthread_mutexattr_destroy(&a);
}

/* The render whose graph avcl belongs to, or NULL; under log_lock. */
static struct job *job_of(void *avcl)
{
	const AVClass *cls = avcl ? *(const AVClass **)avcl : NULL;
	const void *graph = avcl;
	struct job *j;

	if (cls == avfilter_get_class())
		graph = ((const AVFilterContext *)avcl)->graph;
	for (j = log_jobs; avcl && j; j = j->next)
		if ((graph && j->graph == graph) || j->freeing == avcl)
			return j;
	return NULL;
}

static void emit_line(struct job *j)
{
	const struct fm_render *r = j->r;

	j->line[j->linelen] = '\0';
	/* the first error is the cause; later ones tend to be consequences */
	if (j->linelen && j->linelevel <= AV_LOG_ERROR && !*j->first_error)
		av_strlcpy(j->first_error, j->line, sizeof(j->first_error));
	/* lines of the graph itself (parse errors) name no filter */
	if (j->linelen && r->filter_log && *j->linefilter)
		r->filter_log(r->ctx, j->linefilter, j->line);
	j->linelen = 0;
	j->linelevel = AV_LOG_TRACE;
}

/* Adds a message to j's line buffer; every newline ends a line. */
static void add_message(struct job *j, void *avcl, int level, const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX];
	const char *p;
	const AVFilterContext *f = avcl;
	const char *who = avcl == j->graph ? "" : f->name ? f->name : f->filter->name;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* a line is one filter's: another's message ends the one begun */
	if (j->linelen && strcmp(who, j->linefilter))
		emit_line(j);
	av_strlcpy(j->linefilter, who, sizeof(j->linefilter));
	for (p = buf; *p; p++) {
		if (*p == '\n' || j->linelen == sizeof(j->line) - 1)
			emit_line(j);
		if (*p == '\n')
			continue;
		j->line[j->linelen++] = *p;
		if (level < j->linelevel)
			j->linelevel = level;
	}
}

/*
 * Everything libav logs while a render runs. Lines of a render's filters
 * at info level or more urgent are that render's: they go to its
 * filter_log and its error messages, not to stderr. Everything else goes
 * on to libav's default callback, with libav's default level (info)
 * taken as error: the library does not chatter on stderr unless asked
 * to with av_log_set_level().
 */
static void log_callback(void *avcl, int level, const char *fmt, va_list ap)
{
	int max = av_log_get_level(), ours = 0;
	struct job *j;
	va_list copy;

	if ((level & 0xff) <= AV_LOG_INFO) {
		pthread_mutex_lock(&log_lock);
		if ((j = job_of(avcl))) {
			va_copy(copy, ap);
			add_message(j, avcl, level & 0xff, fmt, copy);
			va_end(copy);
			ours = 1;
		}
		pthread_mutex_unlock(&log_lock);
	}
	if (max == AV_LOG_INFO)
		max = AV_LOG_ERROR;
	if (!ours && (level & 0xff) <= max)
		av_log_default_callback(avcl, level, fmt, ap);
}

static void log_register(struct job *j)
{
	pthread_once(&log_once, log_init);
	pthread_mutex_lock(&log_lock);
	if (!log_jobs)
		av_log_set_callback(log_callback);
	j->next = log_jobs;
	log_jobs = j;
	pthread_mutex_unlock(&log_lock);
}

/* After the graph is freed: filters such as loudnorm log when freed. */
static void log_unregister(struct job *j)
{
	struct job **p;

	pthread_mutex_lock(&log_lock);
	if (j->linelen)
		emit_line(j);
	for (p = &log_jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	if (!log_jobs)
		av_log_set_callback(av_log_default_callback);
	pthread_mutex_unlock(&log_lock);
}

/*
 * Frees the graph one filter at a time, so that what a filter logs as it
 * goes (loudnorm's summary) still reaches filter_log.
 */
static void free_graph(struct job *j)
{
	while (j->graph && j->graph->nb_filters) {
		AVFilterContext *f = j->graph->filters[0];

		pthread_mutex_lock(&log_lock);
		j->freeing = f;
		pthread_mutex_unlock(&log_lock);
		avfilter_free(f);
	}
	pthread_mutex_lock(&log_lock);
	j->freeing = NULL;
	pthread_mutex_unlock(&log_lock);
	avfilter_graph_free(&j->graph);
}

/* An error with libav's reason and, when the graph said why, its words. */
static int fail(struct job *j, struct fm_error *err, int averr, const char *fmt, ...)
{
	char what[512], said[sizeof(j->first_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	av_strlcpy(said, j->first_error, sizeof(said));
	pthread_mutex_unlock(&log_lock);
	if (*said)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "%s: %s (%s)", what,
				av_err2str(averr), said);
	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "%s: %s", what, av_err2str(averr));
}

/* ---- the graph ---- */

static const struct container *container_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(containers) / sizeof(containers[0]); i++)
		if (!strcasecmp(dot, containers[i].ext))
			return &containers[i];
	return NULL;
}

/* The formats a sink accepts: what its encoder takes; anything without a file. */
static int sink_formats(struct job *j, struct out *o)
{
	static const enum AVPixelFormat yuv[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE};
	static const enum AVPixelFormat rgb[] = {AV_PIX_FMT_RGB24, AV_PIX_FMT_RGBA,
						 AV_PIX_FMT_NONE};
	enum AVSampleFormat fmts[] = {AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_NONE};
	const int rates[] = {FM_AUDIO_RATE, -1};
	int r;

	if (!j->c)
		return 0;
	if (!o->audio)
		return av_opt_set_int_list(o->sink, "pix_fmts",
					   j->c->video == AV_CODEC_ID_PNG ? rgb : yuv,
					   AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN);
	if (j->c->audio == AV_CODEC_ID_PCM_S16LE)
		fmts[0] = AV_SAMPLE_FMT_S16;
	if ((r = av_opt_set_int_list(o->sink, "sample_fmts", fmts, AV_SAMPLE_FMT_NONE,
				     AV_OPT_SEARCH_CHILDREN)) < 0 ||
	    (r = av_opt_set_int_list(o->sink, "sample_rates", rates, -1, AV_OPT_SEARCH_CHILDREN)) <
		0)
		return r;
	return av_opt_set(o->sink, "ch_layouts", "stereo", AV_OPT_SEARCH_CHILDREN);
}

/* Ends the open output io, which must be [v] or [a], in a sink. */
static int add_sink(struct job *j, AVFilterInOut *io, struct fm_error *err)
{
	const char *label = io->name ? io->name : "";
	enum AVMediaType type = avfilter_pad_get_type(io->filter_ctx->output_pads, io->pad_idx);
	struct out *o;
	int r;

	if (strcmp(label, "v") && strcmp(label, "a"))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"filter graph output '%s' is not labelled [v] or [a]", label);
	o = &j->out[*label == 'a'];
	if (o->sink)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"filter graph has two [%s] outputs", label);
	if (type != (o->audio ? AVMEDIA_TYPE_AUDIO : AVMEDIA_TYPE_VIDEO))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"filter graph output [%s] is not %s", label,
				o->audio ? "audio" : "video");
	if (j->c && (o->audio ? j->c->audio : j->c->video) == AV_CODEC_ID_NONE)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "'%s' cannot hold [%s]",
				j->r->path, label);
	o->sink = avfilter_graph_alloc_filter(
	    j->graph, avfilter_get_by_name(o->audio ? "abuffersink" : "buffersink"), label);
	if (!o->sink)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
	if ((r = sink_formats(j, o)) < 0 || (r = avfilter_init_str(o->sink, NULL)) < 0 ||
	    (r = avfilter_link(io->filter_ctx, io->pad_idx, o->sink, 0)) < 0)
		return fail(j, err, r, "cannot connect filter graph output [%s]", label);
	return 0;
}

/* Connects the graph's one open input, which must be [src], to a buffer source. */
static int add_source(struct job *j, AVFilterInOut *io, struct fm_error *err)
{
	const struct fm_render *r = j->r;
	const char *label = io->name ? io->name : "";
	char args[256];
	int ret;

	if (!r->src_frame || strcmp(label, "src") || io->next)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"filter graph input '%s' is not connected", label);
	if (r->src_width <= 0 || r->src_height <= 0 || r->src_frames < 1 ||
	    !av_pix_fmt_desc_get(r->src_pix_fmt))
		return fm_error(err, FM_VALIDATION_ERROR,
				"frame source of %dx%d, %" PRId64 " frames, pixel format %d",
				r->src_width, r->src_height, r->src_frames, r->src_pix_fmt);
	snprintf(args, sizeof(args),
		 "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:frame_rate=%d/%d:pixel_aspect=1/1",
		 r->src_width, r->src_height, r->src_pix_fmt, r->fps_den, r->fps_num, r->fps_num,
		 r->fps_den);
	if ((ret = avfilter_graph_create_filter(&j->src, avfilter_get_by_name("buffer"), "src",
						args, NULL, j->graph)) < 0 ||
	    (ret = avfilter_link(j->src, 0, io->filter_ctx, io->pad_idx)) < 0)
		return fail(j, err, ret, "cannot connect filter graph input [src]");
	return 0;
}

static int build_graph(struct job *j, struct fm_error *err)
{
	AVFilterInOut *ins = NULL, *outs = NULL, *io;
	int r = -1;

	j->graph = avfilter_graph_alloc();
	if (!j->graph) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
		goto out;
	}
	r = avfilter_graph_parse_ptr(j->graph, j->r->graph, &ins, &outs, j->graph);
	if (r < 0) {
		fail(j, err, r, "cannot parse filter graph");
		goto out;
	}
	r = -1;
	if (ins && add_source(j, ins, err) < 0)
		goto out;
	if (!ins && j->r->src_frame) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "filter graph has no input [src]");
		goto out;
	}
	if (!outs) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			 "filter graph has no [v] or [a] output");
		goto out;
	}
	for (io = outs; io; io = io->next)
		if (add_sink(j, io, err) < 0)
			goto out;
	r = avfilter_graph_config(j->graph, NULL);
	if (r < 0)
		fail(j, err, r, "cannot configure filter graph");
out:
	avfilter_inout_free(&ins);
	avfilter_inout_free(&outs);
	return r < 0 ? -1 : 0;
}

/* ---- the file ---- */

/* Creates DIR/.BASE.xxxxxxxx.EXT beside path, so the rename stays on one filesystem. */
static int make_temp(struct job *j, struct fm_error *err)
{
	const char *path = j->r->path, *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int dirlen = slash ? (int)(slash - path + 1) : 0, i, fd;

	for (i = 0; i < TEMP_TRIES; i++) {
		char *id = fm_id_new("tmp");

		free(j->tmp);
		j->tmp = fm_xasprintf("%.*s.%s.%s%s", dirlen, path, base, id, j->c->ext);
		free(id);
		fd = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", j->tmp);
	free(j->tmp);
	j->tmp = NULL;
	return -1;
}

static int open_video(struct job *j, struct out *o, AVDictionary **opts, struct fm_error *err)
{
	const struct fm_render *r = j->r;
	AVCodecContext *enc = o->enc;
	AVRational rate;

	enc->width = av_buffersink_get_w(o->sink);
	enc->height = av_buffersink_get_h(o->sink);
	enc->sample_aspect_ratio = av_buffersink_get_sample_aspect_ratio(o->sink);
	enc->pix_fmt = av_buffersink_get_format(o->sink);
	enc->time_base = (AVRational){r->fps_den, r->fps_num};
	enc->framerate = (AVRational){r->fps_num, r->fps_den};
	if (j->c->video != AV_CODEC_ID_H264)
		return 0;
	/* frame n gets pts n: a graph at another rate would play at the wrong speed */
	rate = av_buffersink_get_frame_rate(o->sink);
	if (rate.num > 0 && av_cmp_q(rate, enc->framerate))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"filter graph output [v] runs at %d/%d fps, not %d/%d", rate.num,
				rate.den, r->fps_num, r->fps_den);
	if ((enc->width | enc->height) & 1)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"video size %dx%d is odd: %s needs even sizes", enc->width,
				enc->height, FM_VIDEO_PIX_FMT);
	enc->gop_size = (int)ceil(FM_VIDEO_GOP_SECS * av_q2d(enc->framerate));
	/* libavcodec's default is one thread; x264's frame threads are deterministic. */
	enc->thread_count = 0;
	av_dict_set(opts, "preset", FM_VIDEO_PRESET, 0);
	av_dict_set(opts, "crf", FM_VIDEO_CRF, 0);
	if (r->x264_params)
		av_dict_set(opts, "x264-params", r->x264_params, 0);
	return 0;
}

static int open_audio(struct out *o)
{
	AVCodecContext *enc = o->enc;

	enc->sample_fmt = av_buffersink_get_format(o->sink);
	enc->sample_rate = av_buffersink_get_sample_rate(o->sink);
	enc->time_base = (AVRational){1, enc->sample_rate};
	if (enc->codec_id == AV_CODEC_ID_AAC) {
		enc->bit_rate = FM_AUDIO_BITRATE;
		av_opt_set(enc->priv_data, "aac_coder", FM_AUDIO_AAC_CODER, 0);
	}
	return av_buffersink_get_ch_layout(o->sink, &enc->ch_layout);
}

/* The encoder and stream of output o, from what its sink settled on. */
static int open_encoder(struct job *j, struct out *o, struct fm_error *err)
{
	enum AVCodecID id = o->audio ? j->c->audio : j->c->video;
	const AVCodec *codec = id == AV_CODEC_ID_H264 ? avcodec_find_encoder_by_name(FM_VIDEO_CODEC)
						      : avcodec_find_encoder(id);
	AVDictionary *opts = NULL;
	int r = -1;

	if (!codec)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "libavcodec has no %s encoder",
				id == AV_CODEC_ID_H264 ? FM_VIDEO_CODEC : avcodec_get_name(id));
	o->enc = avcodec_alloc_context3(codec);
	o->st = avformat_new_stream(j->oc, NULL);
	if (!o->enc || !o->st) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
		goto out;
	}
	if (o->audio && (r = open_audio(o)) < 0) {
		fail(j, err, r, "cannot set up the %s encoder", codec->name);
		goto out;
	}
	if (!o->audio && (r = open_video(j, o, &opts, err)) < 0)
		goto out;
	if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
		o->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	if ((r = avcodec_open2(o->enc, codec, &opts)) < 0 ||
	    (r = avcodec_parameters_from_context(o->st->codecpar, o->enc)) < 0) {
		fail(j, err, r, "cannot open the %s encoder", codec->name);
		goto out;
	}
	o->st->time_base = o->enc->time_base;
	if (!o->audio)
		o->st->avg_frame_rate = o->enc->framerate;
	/* AAC takes whole frames of frame_size samples */
	if (o->audio && o->enc->frame_size &&
	    !(codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
		av_buffersink_set_frame_size(o->sink, (unsigned)o->enc->frame_size);
	r = 0;
out:
	av_dict_free(&opts);
	return r < 0 ? -1 : 0;
}

static int add_chapters(struct job *j, struct fm_error *err)
{
	const struct fm_render *r = j->r;
	int i;

	if (r->nchapters <= 0)
		return 0;
	j->oc->chapters = av_calloc((size_t)r->nchapters, sizeof(*j->oc->chapters));
	if (!j->oc->chapters)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
	for (i = 0; i < r->nchapters; i++) {
		AVChapter *ch = av_mallocz(sizeof(*ch));

		if (!ch)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
		j->oc->chapters[j->oc->nb_chapters++] = ch;
		ch->id = i + 1;
		ch->time_base = (AVRational){1, 1000};
		ch->start = llround(r->chapter_start[i] * 1000);
		ch->end = llround(r->chapter_end[i] * 1000);
		if (ch->start < 0 || ch->end < ch->start)
			return fm_error(err, FM_VALIDATION_ERROR,
					"chapter %d: %.3f..%.3f is not a time span", i + 1,
					r->chapter_start[i], r->chapter_end[i]);
		if (r->chapter_title && r->chapter_title[i] &&
		    av_dict_set(&ch->metadata, "title", r->chapter_title[i], 0) < 0)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
	}
	return 0;
}

static int open_file(struct job *j, struct fm_error *err)
{
	AVDictionary *opts = NULL;
	char *url;
	int i, r;

	if (make_temp(j, err) < 0)
		return -1;
	/* The temporary file as that file, not a protocol its name spells. */
	url = fm_media_url(j->tmp);
	r = avformat_alloc_output_context2(&j->oc, NULL, j->c->muxer, url);
	free(url);
	if (r < 0)
		return fail(j, err, r, "cannot set up the %s muxer", j->c->muxer);
	for (i = 0; i < 2; i++)
		if (j->out[i].sink && open_encoder(j, &j->out[i], err) < 0)
			return -1;
	if (add_chapters(j, err) < 0)
		return -1;
	if (j->r->title && av_dict_set(&j->oc->metadata, "title", j->r->title, 0) < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
	if (!(j->oc->oformat->flags & AVFMT_NOFILE) &&
	    (r = avio_open(&j->oc->pb, j->oc->url, AVIO_FLAG_WRITE)) < 0)
		return fail(j, err, r, "cannot open '%s'", j->tmp);
	if (j->c->video == AV_CODEC_ID_PNG)
		av_dict_set(&opts, "update", "1", 0);
	r = avformat_write_header(j->oc, &opts);
	av_dict_free(&opts);
	if (r < 0)
		return fail(j, err, r, "cannot write '%s'", j->tmp);
	return 0;
}

/* ---- frames ---- */

/* Sends frame (NULL: the end) to o's encoder and muxes what comes out. */
static int encode(struct job *j, struct out *o, AVFrame *frame, struct fm_error *err)
{
	int r = avcodec_send_frame(o->enc, frame);

	while (r >= 0) {
		r = avcodec_receive_packet(o->enc, j->pkt);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			return 0;
		if (r < 0)
			break;
		if (!o->audio && j->pkt->duration <= 0)
			j->pkt->duration = 1;
		j->pkt->stream_index = o->st->index;
		av_packet_rescale_ts(j->pkt, o->enc->time_base, o->st->time_base);
		r = av_interleaved_write_frame(j->oc, j->pkt);
		if (r < 0)
			return fail(j, err, r, "cannot write '%s'", j->r->path);
	}
	return fail(j, err, r, "cannot encode '%s'", j->r->path);
}

/* How long frame f of o lasts; a guess of 1/25 s for video of unknown rate. */
static double frame_secs(const struct out *o, const AVFrame *f)
{
	AVRational rate = av_buffersink_get_frame_rate(o->sink);

	if (o->audio)
		return f->sample_rate > 0 ? (double)f->nb_samples / f->sample_rate : 0;
	return rate.num > 0 && rate.den > 0 ? av_q2d(av_inv_q(rate)) : 1.0 / 25;
}

/* Takes the frame just pulled from o: stamps, encodes, advances o's clock. */
static int take_frame(struct job *j, struct out *o, struct fm_error *err)
{
	AVFrame *f = j->frame;
	AVRational tb = av_buffersink_get_time_base(o->sink);

	int ret;

	o->frames++;
	if (!o->enc) {
		/* a measuring pass: the graph's own clock is all there is */
		o->secs = f->pts != AV_NOPTS_VALUE ? f->pts * av_q2d(tb) : o->secs;
		o->secs += frame_secs(o, f);
		if (!o->audio && j->r->frame_out &&
		    (ret = j->r->frame_out(j->r->frames_ctx, f)) < 0)
			return fail(j, err, ret, "cannot take a frame of the filter graph");
		return 0;
	}
	f->pts = o->next_pts;
	if (o->audio) {
		o->next_pts += f->nb_samples;
		o->secs = (double)o->next_pts / o->enc->sample_rate;
	} else {
		/* the encoder decides keyframes, not the decoder upstream */
		f->pict_type = AV_PICTURE_TYPE_NONE;
		o->next_pts++;
		o->secs = o->next_pts * av_q2d(o->enc->time_base);
	}
	return encode(j, o, f, err);
}

/* The output that is furthest behind, or NULL when all have ended. */
static struct out *behind(struct job *j)
{
	struct out *best = NULL;
	int i;

	for (i = 0; i < 2; i++) {
		struct out *o = &j->out[i];

		if (o->sink && !o->eof && (!best || o->secs < best->secs))
			best = o;
	}
	return best;
}

static void report(struct job *j)
{
	const struct fm_render *r = j->r;
	double now = fm_now(), secs = fmax(j->out[0].secs, j->out[1].secs), pct = 0;

	if (!r->progress || now - j->last_progress < PROGRESS_EVERY)
		return;
	j->last_progress = now;
	if (r->duration > 0)
		pct = fmin(100, fmax(0, 100 * secs / r->duration));
	r->progress(r->ctx, pct, j->out[0].sink ? j->out[0].frames : j->out[1].frames);
}

static const char *target(const struct job *j)
{
	return j->r->path ? j->r->path : "the filter graph";
}

/*
 * Gives [src] the caller's next frame, or its end. The frame's buffers
 * are written again once downstream has let go of them (the encoder
 * copies what it takes), so a render allocates one frame, not one per
 * frame.
 */
static int feed(struct job *j, struct fm_error *err)
{
	const struct fm_render *r = j->r;
	AVFrame *f = j->src_buf;
	int ret;

	if (j->src_next >= r->src_frames) {
		j->src_eof = 1;
		if ((ret = av_buffersrc_add_frame(j->src, NULL)) < 0)
			return fail(j, err, ret, "cannot end filter graph input [src]");
		return 0;
	}
	if (!f) {
		if (!(f = j->src_buf = av_frame_alloc()))
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
		f->width = r->src_width;
		f->height = r->src_height;
		f->format = r->src_pix_fmt;
		f->sample_aspect_ratio = (AVRational){1, 1};
		if ((ret = av_frame_get_buffer(f, 0)) < 0)
			return fail(j, err, ret, "cannot make a frame for [src]");
	} else if ((ret = av_frame_make_writable(f)) < 0) {
		return fail(j, err, ret, "cannot make a frame for [src]");
	}
	if (r->src_frame(r->frames_ctx, f, j->src_next, err) < 0)
		return -1;
	f->pts = j->src_next++;
	if ((ret = av_buffersrc_add_frame_flags(j->src, f, AV_BUFFERSRC_FLAG_KEEP_REF)) < 0)
		return fail(j, err, ret, "cannot give filter graph input [src] a frame");
	return 0;
}

/* Pulls every frame of the graph, the output behind first. */
static int pump(struct job *j, struct fm_error *err)
{
	const struct fm_render *r = j->r;
	struct out *o;
	int ret, stalls = 0;

	j->last_progress = fm_now();
	while ((o = behind(j))) {
		if (r->cancelled && r->cancelled(r->ctx))
			return fm_error(err, FM_TASK_CANCELLED, "rendering %s cancelled",
					target(j));
		ret = av_buffersink_get_frame(o->sink, j->frame);
		if (ret == AVERROR_EOF) {
			o->eof = 1;
			continue;
		}
		if (ret == AVERROR(EAGAIN) && j->src && !j->src_eof) {
			/* the graph waits on the caller's frames: make the next */
			if (feed(j, err) < 0)
				return -1;
			continue;
		}
		if (ret == AVERROR(EAGAIN) && ++stalls < 4) {
			/* this output waits on the other one: let that run */
			o->secs += 1e-3;
			continue;
		}
		if (ret < 0)
			return fail(j, err, ret, "cannot render %s", target(j));
		stalls = 0;
		ret = take_frame(j, o, err);
		av_frame_unref(j->frame);
		if (ret < 0)
			return -1;
		/* a .png is the first frame */
		if (j->c && j->c->video == AV_CODEC_ID_PNG)
			return 0;
		report(j);
	}
	return 0;
}

/* Drains the encoders, ends the file and moves it into place. */
static int finish(struct job *j, struct fm_error *err)
{
	int i, r;

	for (i = 0; i < 2; i++) {
		struct out *o = &j->out[i];

		if (o->sink && !o->frames)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"filter graph output [%s] gave no frames", o->label);
		if (o->enc && encode(j, o, NULL, err) < 0)
			return -1;
	}
	if (!j->oc)
		return 0;
	if ((r = av_write_trailer(j->oc)) < 0)
		return fail(j, err, r, "cannot write '%s'", j->r->path);
	if (j->oc->pb && (r = avio_closep(&j->oc->pb)) < 0)
		return fail(j, err, r, "cannot write '%s'", j->r->path);
	if (rename(j->tmp, j->r->path) < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot rename '%s' to '%s':", j->tmp, j->r->path);
	free(j->tmp);
	j->tmp = NULL;
	return 0;
}

static int check(const struct fm_render *r, const struct container **c, struct fm_error *err)
{
	if (!r->graph || strlen(r->graph) > FM_GRAPH_MAX)
		return fm_error(err, FM_VALIDATION_ERROR,
				"filter graph missing or longer than %d bytes", FM_GRAPH_MAX);
	*c = NULL;
	if (!r->path)
		return 0;
	if (!(*c = container_of(r->path)))
		return fm_error(err, FM_VALIDATION_ERROR,
				"cannot render '%s': not .mp4, .mov, .mkv, .m4a, .wav or .png",
				r->path);
	if ((*c)->video != AV_CODEC_ID_NONE && (*c)->video != AV_CODEC_ID_PNG &&
	    (r->fps_num <= 0 || r->fps_den <= 0))
		return fm_error(err, FM_VALIDATION_ERROR, "cannot render '%s': frame rate %d/%d",
				r->path, r->fps_num, r->fps_den);
	if (r->nchapters > 0 && (!r->chapter_start || !r->chapter_end))
		return fm_error(err, FM_VALIDATION_ERROR, "chapters without start or end times");
	return 0;
}

/*
 * The png encoder ignores the time base but needs a valid one; a still
 * has no frame rate of its own.
 */
static void default_rate(struct job *j, struct fm_render *copy)
{
	*copy = *j->r;
	if (copy->fps_num <= 0 || copy->fps_den <= 0) {
		copy->fps_num = 1;
		copy->fps_den = 1;
	}
	j->r = copy;
}

static int render(struct job *j, struct fm_error *err)
{
	if (build_graph(j, err) < 0)
		return -1;
	j->frame = av_frame_alloc();
	j->pkt = av_packet_alloc();
	if (!j->frame || !j->pkt)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory");
	if (j->c && open_file(j, err) < 0)
		return -1;
	if (pump(j, err) < 0)
		return -1;
	return finish(j, err);
}

int fm_render_run(const struct fm_render *r, struct fm_error *err)
{
	struct fm_render copy;
	struct job j;
	int i, ret;

	memset(&j, 0, sizeof(j));
	j.r = r;
	j.out[0].label = "v";
	j.out[1].label = "a";
	j.out[1].audio = 1;
	j.linelevel = AV_LOG_TRACE;
	if (check(r, &j.c, err) < 0)
		return -1;
	default_rate(&j, &copy);
	log_register(&j);
	ret = render(&j, err);
	for (i = 0; i < 2; i++)
		avcodec_free_context(&j.out[i].enc);
	if (j.oc && !(j.oc->oformat->flags & AVFMT_NOFILE))
		avio_closep(&j.oc->pb);
	avformat_free_context(j.oc);
	av_frame_free(&j.frame);
	av_frame_free(&j.src_buf);
	av_packet_free(&j.pkt);
	free_graph(&j);
	log_unregister(&j);
	if (j.tmp)
		unlink(j.tmp);
	free(j.tmp);
	return ret;
}

/*
 * Two levels, as libavfilter reads them: the option value (where ':'
 * ends a value and '=' could start one) and the graph description
 * (where '[', ']', ',' and ';' are structure). At each level a backslash
 * protects the next character, and av_escape also protects the quote,
 * the backslash and whitespace at the ends, which would be trimmed.
 */
char *fm_render_quote(const char *s)
{
	char *value = NULL, *graph = NULL, *copy;

	if (av_escape(&value, s, ":=", AV_ESCAPE_MODE_BACKSLASH, 0) < 0 ||
	    av_escape(&graph, value, "[],;=", AV_ESCAPE_MODE_BACKSLASH, 0) < 0)
		fm_oom(); /* av_escape fails only for lack of memory */
	copy = fm_xstrdup(graph);
	av_free(value);
	av_free(graph);
	return copy;
}

char *fm_render_movie(const char *filter, const char *path)
{
	char *url = fm_media_url(path), *q = fm_render_quote(url),
	     *opts = fm_render_quote(FM_MEDIA_OPEN_OPTS);
	char *src = fm_xasprintf("%s=%s:format_opts=%s", filter, q, opts);

	free(url);
	free(q);
	free(opts);
	return src;
}

/* What code point cp becomes in text for drawtext; '\n' only with FM_TEXT_LINES. */
static uint32_t drawable(uint32_t cp, int flags)
{
	if (cp == '\n' || cp == 0x85 || cp == 0x2028 || cp == 0x2029)
		return flags & FM_TEXT_LINES ? '\n' : ' ';
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return ' ';
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp & 0xfffe) == 0xfffe ||
	    (cp >= 0xfdd0 && cp <= 0xfdef))
		return 0xfffd;
	return cp;
}

char *fm_render_text(const char *s, int flags)
{
	char *out = fm_xmalloc(FM_DRAWTEXT_MAX + 1), *d = out;
	const uint8_t *p = (const uint8_t *)s;

	while (*p) {
		const uint8_t *start = p;
		uint32_t cp;
		uint8_t tmp;
		int len;

		/* an invalid byte is one U+FFFD; GET_UTF8 may have read past it */
		GET_UTF8(cp, *p++, {
			cp = 0xfffd;
			p = start + 1;
		})
		if (cp == '\r' && *p == '\n')
			continue;
		cp = drawable(cp == '\r' ? '\n' : cp, flags);
		len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		if (d - out + len > FM_DRAWTEXT_MAX - 3) {
			memcpy(d, "\xe2\x80\xa6", 3); /* U+2026 */
			d += 3;
			break;
		}
		PUT_UTF8(cp, tmp, { *d++ = (char)tmp; })
	}
	*d = '\0';
	return out;
}

char *fm_render_drawtext(const char *s, int flags)
{
	char *text = fm_render_text(s, flags), *q = fm_render_quote(text);
	char *opt = fm_xasprintf("expansion=none:text=%s", q);

	free(text);
	free(q);
	return opt;
}

int fm_av_error(struct fm_error *err, enum fm_code code, int averr, const char *fmt, ...)
{
	char what[256], why[AV_ERROR_MAX_STRING_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	av_strerror(averr, why, sizeof(why));
	return fm_error(err, code, "%s: %s", what, why);
}

void fm_frame_rate(double fps, int *num, int *den)
{
	double ntsc = fps * 1.001;
	AVRational q;

	if (fabs(fps - round(fps)) < 1e-6) {
		*num = (int)round(fps);
		*den = 1;
	} else if (fabs(ntsc - round(ntsc)) < 1e-3) {
		*num = (int)round(ntsc) * 1000;
		*den = 1001;
	} else {
		q = av_d2q(fps, 100000);
		*num = q.num;
		*den = q.den;
	}
}

/* DejaVu Sans' advances of ' ' to '~', in hundredths of an em, rounded up. */
static const uint8_t ascii_width[95] = {
    32,	 41, 46, 84, 64, 96, 78, 28, 40, 40, 50, 84, 32, 37, 32, 34, /* ' ' to '/' */
    64,	 64, 64, 64, 64, 64, 64, 64, 64, 64, 34, 34, 84, 84, 84, 54, /* '0' to '?' */
    100, 69, 69, 70, 78, 64, 58, 78, 76, 30, 30, 66, 56, 87, 75, 79, /* '@' to 'O' */
    61,	 79, 70, 64, 62, 74, 69, 99, 69, 62, 69, 40, 34, 40, 84, 50, /* 'P' to '_' */
    50,	 62, 64, 55, 64, 62, 36, 64, 64, 28, 28, 58, 28, 98, 64, 62, /* '`' to 'o' */
    64,	 64, 42, 53, 40, 64, 60, 82, 60, 60, 53, 64, 34, 64, 84,     /* 'p' to '~' */
};

/*
 * The advance of the character at p and its length in bytes. Letters of
 * other scripts average 60 to 75 in DejaVu Sans; punctuation from U+2000
 * on (the ellipsis, U+FFFD), CJK and symbols take an em or more.
 */
static int char_width(const char *p, size_t *len)
{
	const uint8_t *q = (const uint8_t *)p;
	uint32_t cp;

	GET_UTF8(cp, *q++, {
		*len = 1;
		return 105;
	})
	*len = (size_t)(q - (const uint8_t *)p);
	if (cp >= 0x20 && cp < 0x7f)
		return ascii_width[cp - 0x20];
	if (cp < 0x80)
		return 32;
	return cp < 0x2000 ? 80 : 105;
}

int fm_render_text_width(const char *s, size_t len)
{
	const char *end = s + len;
	int w = 0;
	size_t n;

	for (; s < end && *s; s += n)
		w += char_width(s, &n);
	return w;
}

struct wrap {
	const char *text;
	struct fm_text_line *line;
	int nmax;
	int n; /* counts past nmax */
};

static void emit(struct wrap *w, const char *a, const char *b)
{
	if (w->n < w->nmax)
		w->line[w->n] = (struct fm_text_line){(size_t)(a - w->text), (size_t)(b - a)};
	w->n++;
}

/*
 * Adds [p, end) to the open line from *start, width wide: where a
 * character would make it wider than max, the line ends before it (one
 * character at least to a line). Returns the open line's width.
 */
static int fill(struct wrap *w, const char **start, int width, const char *p, const char *end,
		int max)
{
	size_t n;

	for (; p < end; p += n) {
		int cw = char_width(p, &n);

		if (width + cw > max && p > *start) {
			emit(w, *start, p);
			*start = p;
			width = 0;
		}
		width += cw;
	}
	return width;
}

/*
 * One paragraph [p, end); a blank one is a blank line. A word wider than
 * a line is cut between characters, its first piece on the line begun.
 */
static void wrap_paragraph(struct wrap *w, const char *p, const char *end, int max)
{
	const char *start = NULL, *stop = p, *word;
	int width = 0;
	size_t n;

	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		for (word = p; p < end && *p != ' '; p++)
			;
		if (start) {
			int gap = fm_render_text_width(stop, (size_t)(word - stop)),
			    more = fm_render_text_width(word, (size_t)(p - word));

			if (width + gap + more <= max) {
				width += gap + more;
				stop = p;
				continue;
			}
			if (more > max && width + gap + char_width(word, &n) <= max) {
				width = fill(w, &start, width + gap, word, p, max);
				stop = p;
				continue;
			}
			emit(w, start, stop);
		}
		start = word;
		width = fill(w, &start, 0, word, p, max);
		stop = p;
	}
	emit(w, start ? start : stop, stop);
}

int fm_render_wrap(const char *text, int max, struct fm_text_line *line, int nmax)
{
	struct wrap w = {text, line, nmax, 0};
	const char *s = text, *nl;

	do {
		nl = strchr(s, '\n');
		if (!nl)
			nl = s + strlen(s);
		wrap_paragraph(&w, s, nl, max);
		s = nl + 1;
	} while (*nl);
	return w.n;
}
