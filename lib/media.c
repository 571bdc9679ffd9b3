/*
 * Probing scene files and concatenating them by stream copy. A scene's
 * length is its counted frames, never a sum of float seconds: scene k's
 * timestamps are offset by the frames of scenes 0..k-1 times the frame
 * duration, so a long film does not drift. Video and audio packets are
 * written in dts order as they are read, so memory stays flat however
 * long the film is.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>

#include "media.h"
#include "util.h"

static int av_fail(struct fm_error *err, int rc, const char *what, const char *path)
{
	char reason[AV_ERROR_MAX_STRING_SIZE];

	av_strerror(rc, reason, sizeof(reason));
	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "%s '%s': %s", what, path, reason);
}

/* Refuses frames of w x h that are too large to decode. */
static int check_size(const char *path, int w, int h, struct fm_error *err)
{
	if (w <= FM_MEDIA_MAX_SIDE && h <= FM_MEDIA_MAX_SIDE &&
	    (int64_t)w * h <= FM_MEDIA_MAX_PIXELS)
		return 0;
	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			"'%s' has %dx%d frames, larger than %d pixels a side or %lld in all", path,
			w, h, FM_MEDIA_MAX_SIDE, FM_MEDIA_MAX_PIXELS);
}

/*
 * Every video stream's size as its headers say, before anything is
 * decoded. A cover picture is not read by us and may be any size; the
 * decoders that probe it are held to max_pixels all the same.
 */
static int check_sizes(AVFormatContext *ic, const char *path, struct fm_error *err)
{
	unsigned i;

	for (i = 0; i < ic->nb_streams; i++) {
		const AVStream *st = ic->streams[i];

		if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
		    !(st->disposition & AV_DISPOSITION_ATTACHED_PIC) &&
		    check_size(path, st->codecpar->width, st->codecpar->height, err) < 0)
			return -1;
	}
	return 0;
}

/* avformat_find_stream_info with every decoder it opens held to FM_MEDIA_MAX_PIXELS. */
static int find_stream_info(AVFormatContext *ic)
{
	unsigned i, n = ic->nb_streams;
	AVDictionary **opts = fm_xcalloc(n ? n : 1, sizeof(*opts));
	int rc;

	for (i = 0; i < n; i++)
		av_dict_set_int(&opts[i], "max_pixels", FM_MEDIA_MAX_PIXELS, 0);
	rc = avformat_find_stream_info(ic, opts);
	for (i = 0; i < n; i++)
		av_dict_free(&opts[i]);
	free(opts);
	return rc;
}

char *fm_media_url(const char *path)
{
	size_t n =
	    strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");

	/* libavformat's own test for a protocol: scheme characters, then ':' (or subfile's). */
	if (path[n] == ':' || (!strncmp(path, "subfile,", 8) && strchr(path, ':')))
		return fm_xasprintf("file:%s", path);
	return fm_xstrdup(path);
}

int fm_media_open(AVFormatContext **ic, const char *path)
{
	AVDictionary *opts = NULL;
	char *url = fm_media_url(path);
	int rc = av_dict_parse_string(&opts, FM_MEDIA_OPEN_OPTS, "=", ":", 0);

	if (rc >= 0)
		rc = avformat_open_input(ic, url, NULL, &opts);
	av_dict_free(&opts);
	free(url);
	return rc;
}

static int open_input(const char *path, AVFormatContext **ic, struct fm_error *err)
{
	struct stat st;
	int rc;

	if (stat(path, &st) != 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s':", path);
	if (st.st_size > FM_MEDIA_MAX_BYTES)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "'%s' is larger than %lld bytes",
				path, FM_MEDIA_MAX_BYTES);
	if ((rc = fm_media_open(ic, path)) < 0)
		return av_fail(err, rc, "cannot read", path);
	if (check_sizes(*ic, path, err) < 0) {
		avformat_close_input(ic);
		return -1;
	}
	if ((rc = find_stream_info(*ic)) < 0) {
		avformat_close_input(ic);
		return av_fail(err, rc, "cannot read the streams of", path);
	}
	/* what the streams' own headers say, found by probing (raw H.264) */
	if (check_sizes(*ic, path, err) < 0) {
		avformat_close_input(ic);
		return -1;
	}
	return 0;
}

/*
 * Audio channels a graph can take: in a layout, or in a number libav
 * knows a layout for (1 to 8, 16, 24). amovie refuses any other, so a
 * 64-channel WAV would fail the film with "Channel layout is not set";
 * the file is refused here instead, saying so.
 */
static int check_layout(const char *path, const AVChannelLayout *l, struct fm_error *err)
{
	AVChannelLayout guess;
	int known;

	if (l->order != AV_CHANNEL_ORDER_UNSPEC)
		return 0;
	av_channel_layout_default(&guess, l->nb_channels);
	known = guess.order != AV_CHANNEL_ORDER_UNSPEC;
	av_channel_layout_uninit(&guess);
	if (known)
		return 0;
	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			"'%s' has %d audio channels in no known layout, which cannot be mixed "
			"down; give it 1 to 8 channels, or a channel layout",
			path, l->nb_channels);
}

/* Frames in stream si, counted by reading its packets. */
static int count_frames(AVFormatContext *ic, int si, int64_t *n, struct fm_error *err)
{
	AVPacket *pkt = av_packet_alloc();
	int rc;

	*n = 0;
	while ((rc = av_read_frame(ic, pkt)) >= 0) {
		if (pkt->stream_index == si)
			(*n)++;
		av_packet_unref(pkt);
		if (*n > FM_MEDIA_MAX_FRAMES)
			break;
	}
	av_packet_free(&pkt);
	if (rc < 0 && rc != AVERROR_EOF)
		return av_fail(err, rc, "cannot read", ic->url);
	return 0;
}

/* What fm_probe_audio_differs compares, of stream ai. */
static void probe_audio(AVFormatContext *ic, int ai, struct fm_probe *p)
{
	const AVStream *st = ic->streams[ai];
	const AVCodecParameters *a = st->codecpar;

	p->audio_codec_id = a->codec_id;
	p->audio_profile = a->profile;
	p->audio_frame_size = a->frame_size;
	if (a->extradata_size > 0) {
		p->audio_extradata = fm_xmalloc((size_t)a->extradata_size);
		memcpy(p->audio_extradata, a->extradata, (size_t)a->extradata_size);
		p->audio_extradata_size = a->extradata_size;
	}
	p->audio_samples =
	    st->duration > 0 && a->sample_rate > 0
		? av_rescale_q(st->duration, st->time_base, (AVRational){1, a->sample_rate})
		: 0;
	/* "mov,mp4,m4a,3gp,3g2,mj2": the demuxer that reads the priming from the edit list */
	p->mp4 = !strncmp(ic->iformat->name, "mov,", 4);
}

int fm_probe_file(const char *path, struct fm_probe *p, struct fm_error *err)
{
	AVFormatContext *ic = NULL;
	int vi, ai, rc = -1;

	memset(p, 0, sizeof(*p));
	av_max_alloc(FM_MEDIA_MAX_ALLOC);
	if (open_input(path, &ic, err) < 0)
		return -1;
	vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	ai = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
	if (ai >= 0) {
		AVCodecParameters *a = ic->streams[ai]->codecpar;

		p->has_audio = 1;
		p->sample_rate = a->sample_rate;
		p->channels = a->ch_layout.nb_channels;
		if (check_layout(path, &a->ch_layout, err) < 0)
			goto out;
		probe_audio(ic, ai, p);
	}
	p->duration = ic->duration > 0 ? ic->duration / (double)AV_TIME_BASE : 0;
	if (vi >= 0 && !(ic->streams[vi]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
		AVStream *st = ic->streams[vi];
		AVCodecParameters *v = st->codecpar;

		p->has_video = 1;
		p->codec_id = v->codec_id;
		snprintf(p->codec, sizeof(p->codec), "%s", avcodec_get_name(v->codec_id));
		p->width = v->width;
		p->height = v->height;
		p->pix_fmt = v->format;
		p->profile = v->profile;
		p->level = v->level;
		p->fps_num = st->r_frame_rate.num;
		p->fps_den = st->r_frame_rate.den;
		if (v->extradata_size > 0) {
			p->extradata = fm_xmalloc((size_t)v->extradata_size);
			memcpy(p->extradata, v->extradata, (size_t)v->extradata_size);
			p->extradata_size = v->extradata_size;
		}
		/*
		 * No size after probing: its headers gave none and the decoder
		 * refused the first frame, as it does one over max_pixels (a
		 * still's size is only known by decoding it).
		 */
		if (p->width <= 0 || p->height <= 0) {
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				 "'%s' has no video frame that decodes within %d pixels a side "
				 "and %lld in all",
				 path, FM_MEDIA_MAX_SIDE, FM_MEDIA_MAX_PIXELS);
			goto out;
		}
		p->frames = st->nb_frames;
		if (p->frames <= 0 && count_frames(ic, vi, &p->frames, err) < 0)
			goto out;
		if (p->frames <= 0 || p->frames > FM_MEDIA_MAX_FRAMES || p->fps_num <= 0 ||
		    p->fps_den <= 0 || p->width <= 0 || p->height <= 0) {
			fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				 "'%s' has no usable video frames", path);
			goto out;
		}
		p->duration = p->frames * (double)p->fps_den / p->fps_num;
	}
	if (!p->has_video && !p->has_audio) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "'%s' has neither video nor audio",
			 path);
		goto out;
	}
	rc = 0;
out:
	avformat_close_input(&ic);
	if (rc < 0)
		fm_probe_release(p);
	return rc;
}

void fm_probe_release(struct fm_probe *p)
{
	free(p->extradata);
	p->extradata = NULL;
	p->extradata_size = 0;
	free(p->audio_extradata);
	p->audio_extradata = NULL;
	p->audio_extradata_size = 0;
}

int fm_probe_differs(const struct fm_probe *a, const struct fm_probe *b, char *buf, size_t len)
{
	if (!b->has_video)
		snprintf(buf, len, "it has no video");
	else if (a->codec_id != b->codec_id)
		snprintf(buf, len, "its video is %s, not %s", b->codec, a->codec);
	else if (a->width != b->width || a->height != b->height)
		snprintf(buf, len, "it is %dx%d, not %dx%d", b->width, b->height, a->width,
			 a->height);
	else if ((int64_t)a->fps_num * b->fps_den != (int64_t)b->fps_num * a->fps_den)
		snprintf(buf, len, "it runs at %d/%d fps, not %d/%d", b->fps_num, b->fps_den,
			 a->fps_num, a->fps_den);
	else if (a->pix_fmt != b->pix_fmt)
		snprintf(buf, len, "its pixel format differs");
	else if (a->profile != b->profile || a->level != b->level ||
		 a->extradata_size != b->extradata_size ||
		 (a->extradata_size &&
		  memcmp(a->extradata, b->extradata, (size_t)a->extradata_size)))
		snprintf(buf, len, "its %s encoder settings differ", b->codec);
	else
		return 0;
	return 1;
}

int fm_probe_audio_differs(const struct fm_probe *a, const struct fm_probe *b, char *buf,
			   size_t len)
{
	if (!b->has_audio)
		snprintf(buf, len, "it has no sound");
	else if (b->audio_codec_id != AV_CODEC_ID_AAC)
		snprintf(buf, len, "its sound is %s, not aac", avcodec_get_name(b->audio_codec_id));
	else if (!b->mp4)
		snprintf(buf, len, "it is not an mp4 or mov file");
	else if (b->audio_frame_size != 1024)
		snprintf(buf, len, "its AAC frames are of %d samples, not 1024",
			 b->audio_frame_size);
	else if (a->sample_rate != b->sample_rate)
		snprintf(buf, len, "its sound is at %d Hz, not %d", b->sample_rate, a->sample_rate);
	else if (a->channels != b->channels)
		snprintf(buf, len, "its sound has %d channels, not %d", b->channels, a->channels);
	else if (a->audio_profile != b->audio_profile ||
		 a->audio_extradata_size != b->audio_extradata_size ||
		 (a->audio_extradata_size &&
		  memcmp(a->audio_extradata, b->audio_extradata, (size_t)a->audio_extradata_size)))
		snprintf(buf, len, "its AAC settings differ");
	else
		return 0;
	return 1;
}

/* --- stream copy ---------------------------------------------------------- */

struct reader {
	AVFormatContext *ic;
	int si;		/* the stream read */
	int64_t start;	/* its first pts, in its time base */
	int64_t offset; /* added to every timestamp, in the output time base */
	AVPacket *pkt;	/* the next packet, rescaled; NULL at the end */
	AVStream *ost;
	/* Audio copied input by input (copy_audio), in the output time base: */
	size_t k;      /* the input read */
	int64_t pos;   /* where its next packet goes; INT64_MIN before the first */
	int64_t end;   /* where its last video frame ends */
	int64_t frame; /* one AAC frame */
	/* Decodes the packets either side of a join (join_check). */
	AVCodecContext *dec;
	AVFrame *out;
	int head;	  /* the input's first packets: priming and the first of its sound */
	int first;	  /* no packet of the input read yet */
	double tail_peak; /* of the padded packet the last input ended with; or 0 */
};

static void reader_close(struct reader *r)
{
	avformat_close_input(&r->ic);
	av_packet_free(&r->pkt);
	avcodec_free_context(&r->dec);
	av_frame_free(&r->out);
}

static int reader_open(struct reader *r, const char *path, enum AVMediaType type,
		       struct fm_error *err)
{
	AVStream *st;

	reader_close(r);
	if (open_input(path, &r->ic, err) < 0)
		return -1;
	r->si = av_find_best_stream(r->ic, type, -1, -1, NULL, 0);
	if (r->si < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "'%s' has no %s stream", path,
				av_get_media_type_string(type));
	st = r->ic->streams[r->si];
	r->start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
	r->pkt = av_packet_alloc();
	return 0;
}

/* Reads r's next packet into r->pkt with output timestamps; 0 at the end. */
static int reader_next(struct reader *r, struct fm_error *err)
{
	AVRational itb;
	int rc;

	if (!r->pkt)
		return 0;
	for (;;) {
		av_packet_unref(r->pkt);
		rc = av_read_frame(r->ic, r->pkt);
		if (rc == AVERROR_EOF) {
			av_packet_free(&r->pkt);
			return 0;
		}
		if (rc < 0)
			return av_fail(err, rc, "cannot read", r->ic->url);
		if (r->pkt->stream_index == r->si)
			break;
	}
	itb = r->ic->streams[r->si]->time_base;
	if (r->pkt->pts == AV_NOPTS_VALUE)
		r->pkt->pts = r->pkt->dts;
	if (r->pkt->dts == AV_NOPTS_VALUE)
		r->pkt->dts = r->pkt->pts;
	r->pkt->pts = av_rescale_q(r->pkt->pts - r->start, itb, r->ost->time_base) + r->offset;
	r->pkt->dts = av_rescale_q(r->pkt->dts - r->start, itb, r->ost->time_base) + r->offset;
	r->pkt->duration = av_rescale_q(r->pkt->duration, itb, r->ost->time_base);
	r->pkt->stream_index = r->ost->index;
	r->pkt->pos = -1;
	return 1;
}

static int add_stream(AVFormatContext *oc, const char *path, enum AVMediaType type, AVStream **ost,
		      struct fm_error *err)
{
	struct reader r = {0};
	AVStream *ist;
	int rc;

	if (reader_open(&r, path, type, err) < 0) {
		reader_close(&r);
		return -1;
	}
	ist = r.ic->streams[r.si];
	*ost = avformat_new_stream(oc, NULL);
	rc = *ost ? avcodec_parameters_copy((*ost)->codecpar, ist->codecpar) : AVERROR(ENOMEM);
	if (rc >= 0) {
		(*ost)->codecpar->codec_tag = 0;
		(*ost)->time_base = ist->time_base;
		(*ost)->avg_frame_rate = ist->avg_frame_rate;
		(*ost)->r_frame_rate = ist->r_frame_rate;
	}
	reader_close(&r);
	return rc < 0 ? av_fail(err, rc, "cannot add a stream from", path) : 0;
}

static int add_chapters(AVFormatContext *oc, const struct fm_concat *c)
{
	int i;

	if (c->nchapters <= 0)
		return 0;
	oc->chapters = av_calloc((size_t)c->nchapters, sizeof(*oc->chapters));
	if (!oc->chapters)
		return AVERROR(ENOMEM);
	for (i = 0; i < c->nchapters; i++) {
		AVChapter *ch = av_mallocz(sizeof(*ch));

		if (!ch)
			return AVERROR(ENOMEM);
		oc->chapters[oc->nb_chapters++] = ch;
		ch->id = i + 1;
		ch->time_base = (AVRational){1, 1000};
		ch->start = llrint(c->chapter_start[i] * 1000);
		ch->end = llrint(c->chapter_end[i] * 1000);
		av_dict_set(&ch->metadata, "title", c->chapter_title[i], 0);
	}
	return 0;
}

/* Moves the video reader to input k, offset by the frames before it. */
static int next_scene(const struct fm_concat *c, struct reader *v, size_t k, int64_t frames_before,
		      struct fm_error *err)
{
	if (reader_open(v, c->inputs[k], AVMEDIA_TYPE_VIDEO, err) < 0)
		return -1;
	v->offset =
	    av_rescale_q(frames_before, (AVRational){c->fps_den, c->fps_num}, v->ost->time_base);
	return reader_next(v, err);
}

/*
 * Decodes pkt (input timestamps) and returns the peak of the first n
 * samples it gives, 0..1; or -1 when it gives none yet.
 */
static double decode_peak(struct reader *a, const AVPacket *pkt, int n)
{
	double peak = -1;
	int c, i;

	if (avcodec_send_packet(a->dec, pkt) < 0)
		return -1;
	while (avcodec_receive_frame(a->dec, a->out) >= 0) {
		if (a->out->format != AV_SAMPLE_FMT_FLTP)
			return 1; /* not libavcodec's AAC decoder's: taken as loud */
		peak = 0;
		for (c = 0; c < a->out->ch_layout.nb_channels; c++) {
			const float *x = (const float *)a->out->extended_data[c];

			for (i = 0; i < FFMIN(n, a->out->nb_samples); i++)
				peak = FFMAX(peak, fabs(x[i]));
		}
	}
	return peak;
}

/*
 * A join is clean when the last input's sound ends on a whole frame of
 * it: the decoder then crosses from one input into the next within one
 * frame, as a short crossfade. When it had to end on the padded packet
 * its file ends with (to keep the sound on the pictures' clock), about
 * 15 ms around the join decode near silent; that is let pass only where
 * both sides are quiet anyway. pkt is the packet about to be kept;
 * returns 0, or 1 for a join that is not clean.
 */
static int join_check(const struct fm_concat *c, struct reader *a, AVPacket *pkt, int64_t in_dur)
{
	double peak;

	if (!a->dec)
		return 0;
	if (a->head) {
		/* priming first, then the input's first packet of sound */
		peak = decode_peak(a, pkt, (int)a->frame);
		if (pkt->pts < 0)
			return 0;
		a->head = 0;
		if (a->tail_peak > 0 && FFMAX(a->tail_peak, peak) > c->join_quiet)
			return 1;
		return 0;
	}
	if (a->pos + 3 * a->frame < a->end || a->k + 1 >= c->n)
		return 0;
	peak = decode_peak(a, pkt, (int)in_dur);
	if (in_dur < a->frame)
		a->tail_peak = FFMAX(peak, 1e-9);
	return 0;
}

/* Moves the audio reader to input k, whose pictures end after frames_end frames. */
static int audio_scene(const struct fm_concat *c, struct reader *a, size_t k, int64_t frames_end,
		       struct fm_error *err)
{
	const AVCodecParameters *par;

	if (reader_open(a, c->inputs[k], AVMEDIA_TYPE_AUDIO, err) < 0)
		return -1;
	par = a->ic->streams[a->si]->codecpar;
	/* the priming has negative timestamps: it is kept apart, not counted as sound */
	a->start = 0;
	a->k = k;
	a->end = av_rescale_q(frames_end, (AVRational){c->fps_den, c->fps_num}, a->ost->time_base);
	a->frame = av_rescale_q(par->frame_size > 0 ? par->frame_size : 1024,
				(AVRational){1, par->sample_rate > 0 ? par->sample_rate : 1},
				a->ost->time_base);
	a->head = a->first = 1;
	if (c->join_quiet > 0) {
		const AVCodec *codec = avcodec_find_decoder(par->codec_id);

		a->dec = codec ? avcodec_alloc_context3(codec) : NULL;
		a->out = av_frame_alloc();
		if (!a->dec || !a->out || avcodec_parameters_to_context(a->dec, par) < 0 ||
		    avcodec_open2(a->dec, codec, NULL) < 0)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"cannot decode the sound of '%s'", c->inputs[k]);
	}
	return 0;
}

/*
 * The next audio packet of the inputs' own sound (copy_audio) into
 * a->pkt, placed right after the last; 0 when the film's sound is done.
 */
static int audio_next(const struct fm_concat *c, struct reader *a, struct fm_error *err)
{
	for (;;) {
		/* the last input's sound runs to the end of the film, its last packet cut there */
		int64_t slack = a->k + 1 < c->n ? a->frame / 2 : 0;
		int more =
		    a->pos != INT64_MIN && a->pos + slack >= a->end ? 0 : reader_next(a, err);
		int64_t frames_end = 0;
		double tail;
		size_t i;

		if (more < 0)
			return -1;
		/* unmarked priming (no edit list) would be heard: a gap at the join */
		if (more && a->first && a->k > 0 && a->pkt->pts >= 0)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"'%s' does not mark its AAC priming", c->inputs[a->k]);
		a->first = 0;
		if (more && join_check(c, a, a->pkt, a->pkt->duration)) {
			if (c->unclean)
				*c->unclean = a->k;
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"the sound of '%s' and '%s' would not join cleanly",
					c->inputs[a->k - 1], c->inputs[a->k]);
		}
		if (more && a->k > 0 && a->pkt->pts + a->pkt->duration <= 0)
			continue; /* priming: the last input's sound runs on instead */
		if (more) {
			if (a->pos == INT64_MIN)
				a->pos = a->pkt->pts;
			a->pkt->pts = a->pkt->dts = a->pos;
			a->pkt->duration = FFMIN(a->frame, a->end - a->pos);
			if (a->k + 1 < c->n || a->pkt->duration <= 0)
				a->pkt->duration = a->frame;
			a->pos += a->frame;
			return 1;
		}
		if (a->pos == INT64_MIN || a->pos + a->frame / 2 < a->end)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"the sound of '%s' ends before its pictures",
					c->inputs[a->k]);
		if (a->k + 1 >= c->n) {
			av_packet_free(&a->pkt);
			return 0;
		}
		for (i = 0; i <= a->k + 1; i++)
			frames_end += c->frames[i];
		tail = a->tail_peak;
		if (audio_scene(c, a, a->k + 1, frames_end, err) < 0)
			return -1;
		a->tail_peak = tail;
	}
}

/*
 * The next packet of the film's encoded sound: c->audio's up to
 * c->split, then c->audio2's from there, its pre-roll dropped.
 */
static int audio_file_next(const struct fm_concat *c, struct reader *a, struct fm_error *err)
{
	AVRational sr = {1, c->split_rate > 0 ? c->split_rate : 1};

	for (;;) {
		int more = reader_next(a, err);

		if (more < 0 || !c->audio2)
			return more;
		if (a->k == 0) {
			if (more && av_compare_ts(a->pkt->pts, a->ost->time_base, c->split, sr) < 0)
				return 1;
			if (reader_open(a, c->audio2, AVMEDIA_TYPE_AUDIO, err) < 0)
				return -1;
			a->k = 1;
			a->start = 0;
			a->offset = av_rescale_q(c->split - c->preroll, sr, a->ost->time_base);
			continue;
		}
		if (more && av_compare_ts(a->pkt->pts, a->ost->time_base, c->split, sr) < 0)
			continue;
		return more;
	}
}

static int write_packets(const struct fm_concat *c, AVFormatContext *oc, struct reader *v,
			 struct reader *a, struct fm_error *err)
{
	int64_t before = 0, copied = 0, total = 0, last_dts = INT64_MIN;
	double shown = 0;
	size_t k = 0, i;
	int rc, more_v, more_a;

	for (i = 0; i < c->n; i++)
		total += c->frames[i];
	a->pos = INT64_MIN;
	if (c->copy_audio && audio_scene(c, a, 0, c->frames[0], err) < 0)
		return -1;
	more_a = !a->ost ? 0 : c->copy_audio ? audio_next(c, a, err) : audio_file_next(c, a, err);
	if (more_a < 0 || (more_v = next_scene(c, v, 0, 0, err)) < 0)
		return -1;
	while (more_v || more_a) {
		int take_v =
		    more_v && (!more_a || av_compare_ts(v->pkt->dts, v->ost->time_base, a->pkt->dts,
							a->ost->time_base) <= 0);
		struct reader *r = take_v ? v : a;

		if (take_v) {
			/* Keeps dts rising where two scenes' reorder delays differ. */
			if (r->pkt->dts <= last_dts)
				r->pkt->dts = last_dts + 1;
			if (r->pkt->pts < r->pkt->dts)
				r->pkt->pts = r->pkt->dts;
			last_dts = r->pkt->dts;
			copied++;
		}
		if ((rc = av_interleaved_write_frame(oc, r->pkt)) < 0)
			return av_fail(err, rc, "cannot write", c->path);
		if (take_v && (copied & 63) == 0 && c->cancelled && c->cancelled(c->ctx))
			return fm_error(err, FM_TASK_CANCELLED, "combining was cancelled");
		if (take_v && c->progress && fm_now() - shown >= 0.2) {
			shown = fm_now();
			c->progress(c->ctx, 100.0 * copied / (total ? total : 1), copied);
		}
		if (!take_v) {
			more_a = c->copy_audio ? audio_next(c, a, err) : audio_file_next(c, a, err);
			if (more_a < 0)
				return -1;
			continue;
		}
		if ((more_v = reader_next(v, err)) < 0)
			return -1;
		if (!more_v && ++k < c->n) {
			before += c->frames[k - 1];
			if ((more_v = next_scene(c, v, k, before, err)) < 0)
				return -1;
		}
	}
	return 0;
}

int fm_concat_copy(const struct fm_concat *c, struct fm_error *err)
{
	const AVOutputFormat *fmt = av_guess_format(NULL, c->path, NULL);
	AVFormatContext *oc = NULL;
	struct reader v = {0}, a = {0};
	char *tmp = NULL, *url = NULL;
	int rc = -1, av;

	if (!fmt || !c->n)
		return fm_error(err, FM_VALIDATION_ERROR, "cannot tell the container of '%s'",
				c->path);
	tmp = fm_xasprintf("%s.part", c->path);
	url = fm_media_url(tmp);
	if ((av = avformat_alloc_output_context2(&oc, fmt, NULL, url)) < 0) {
		av_fail(err, av, "cannot write", c->path);
		goto out;
	}
	if (add_stream(oc, c->inputs[0], AVMEDIA_TYPE_VIDEO, &v.ost, err) < 0 ||
	    (c->copy_audio && add_stream(oc, c->inputs[0], AVMEDIA_TYPE_AUDIO, &a.ost, err) < 0) ||
	    (c->audio && !c->copy_audio &&
	     add_stream(oc, c->audio, AVMEDIA_TYPE_AUDIO, &a.ost, err) < 0))
		goto out;
	if (c->title)
		av_dict_set(&oc->metadata, "title", c->title, 0);
	if ((av = add_chapters(oc, c)) < 0 || (av = avio_open(&oc->pb, url, AVIO_FLAG_WRITE)) < 0 ||
	    (av = avformat_write_header(oc, NULL)) < 0) {
		av_fail(err, av, "cannot write", c->path);
		goto out;
	}
	if ((c->audio && !c->copy_audio &&
	     reader_open(&a, c->audio, AVMEDIA_TYPE_AUDIO, err) < 0) ||
	    write_packets(c, oc, &v, &a, err) < 0)
		goto out;
	if ((av = av_write_trailer(oc)) < 0) {
		av_fail(err, av, "cannot finish", c->path);
		goto out;
	}
	if (rename(tmp, c->path) != 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot rename '%s' to '%s':", tmp,
			 c->path);
		goto out;
	}
	rc = 0;
out:
	reader_close(&v);
	reader_close(&a);
	if (oc) {
		avio_closep(&oc->pb);
		avformat_free_context(oc);
	}
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(url);
	return rc;
}

/* "61.1.100": libav's packed version, as it prints it. */
static const char *av_v(unsigned v, char buf[32])
{
	snprintf(buf, 32, "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);
	return buf;
}

const char *fm_media_libraries(void)
{
	static char text[256];
	char f[32], c[32], fl[32], u[32];

	snprintf(text, sizeof(text), "libavformat %s, libavcodec %s, libavfilter %s, libavutil %s",
		 av_v(avformat_version(), f), av_v(avcodec_version(), c),
		 av_v(avfilter_version(), fl), av_v(avutil_version(), u));
	return text;
}
