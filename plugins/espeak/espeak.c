/*
 * espeak: the bundled native plugin serving text2speak. libespeak-ng
 * synthesizes the text in synchronous mode; its callback hands over 16-bit
 * mono samples, which go through libavcodec's pcm_s16le encoder into
 * libavformat's wav muxer as they come, so a long text never sits in memory
 * as audio. OUTPUT_DIR/speech.wav is written under a temporary name and
 * renamed, so a half-written file never appears.
 *
 * espeak-ng keeps global state: it is set up once per process (the host
 * reuses the process for task after task) and every task sets the voice
 * and the speech parameters again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>

#include "filmeto.h"

/* Longest text accepted, in bytes: about an hour of speech. */
#define MAX_TEXT (64 * 1024)
/* Longest voice name: espeak-ng copies names into buffers of 40 bytes. */
#define MAX_VOICE 40
/* Milliseconds of audio espeak-ng hands over per callback. */
#define SYNTH_BUFFER_MS 200
/* Samples per frame sent to the encoder. */
#define FRAME_SAMPLES 4096
/* Percent of the text between two progress notifications. */
#define PROGRESS_STEP 5.0

struct params {
	const char *text;
	const char *voice;
	int rate;  /* words per minute */
	int pitch; /* 0..99 */
	int gap;   /* ms between words */
};

/* One task's synthesis: every libav handle, freed by speech_release(). */
struct speech {
	struct fm_plugin_ctx *ctx;
	AVFormatContext *oc;
	AVCodecContext *enc;
	AVFrame *frame;
	AVPacket *pkt;
	int fill;	 /* samples waiting in frame */
	int64_t samples; /* samples sent to the encoder */
	size_t chars;	 /* characters in the text, for progress */
	double reported; /* last percent notified */
	int stopped;	 /* the host cancelled the task */
	int averr;	 /* the first libav error met in the callback */
};

/*
 * The task being synthesized. espeak-ng's callback takes no context of
 * its own, and one process runs one task at a time (concurrency 1).
 */
static struct speech *current;

static int espeak_fail(struct fm_error *err, espeak_ng_STATUS st, const char *what)
{
	char why[256];

	espeak_ng_GetStatusCodeMessage(st, why, sizeof(why));
	return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "%s: %s", what, why);
}

/* The host fills defaults, but a hand-written task may still lack them. */
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

static int blank(const char *s)
{
	for (; *s; s++)
		if (!strchr(" \t\n\r\v\f", *s))
			return 0;
	return 1;
}

/*
 * espeak-ng reads a voice name as a file name under its voices directory,
 * so a name is kept to what voice names are made of: no path escapes.
 */
static int check_voice(const char *v, struct fm_error *err)
{
	size_t n = strlen(v);

	if (!n || n > MAX_VOICE ||
	    v[strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789-_+/()")] ||
	    v[0] == '/' || strstr(v, "//"))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'voice': '%s' is not a voice name (rule: voice)", v);
	return 0;
}

static int read_params(json_object *o, struct params *p, struct fm_error *err)
{
	p->text = fm_json_get_string(o, "text");
	if (!p->text)
		return fm_error(err, FM_VALIDATION_ERROR, "parameter 'text' is required");
	if (strlen(p->text) > MAX_TEXT)
		return fm_error(err, FM_VALIDATION_ERROR, "parameter 'text': longer than %d bytes",
				MAX_TEXT);
	if (blank(p->text))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'text': nothing to say (empty or only whitespace)");
	p->voice = fm_json_get_string(o, "voice");
	if (!p->voice)
		p->voice = "en";
	if (check_voice(p->voice, err) < 0 ||
	    param_int(o, "rate", 160, espeakRATE_MINIMUM, espeakRATE_MAXIMUM, &p->rate, err) < 0 ||
	    param_int(o, "pitch", 50, 0, 99, &p->pitch, err) < 0 ||
	    param_int(o, "gap", 0, 0, 1000, &p->gap, err) < 0)
		return -1;
	return 0;
}

/* Characters, not bytes: espeak-ng counts text positions in characters. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Sends what the encoder has ready to the muxer. */
static int drain(struct speech *s)
{
	int r;

	while ((r = avcodec_receive_packet(s->enc, s->pkt)) >= 0) {
		av_packet_rescale_ts(s->pkt, s->enc->time_base, s->oc->streams[0]->time_base);
		s->pkt->stream_index = 0;
		r = av_interleaved_write_frame(s->oc, s->pkt);
		if (r < 0)
			return r;
	}
	return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : r;
}

/* Encodes the samples waiting in the frame. */
static int flush_frame(struct speech *s)
{
	int r;

	if (!s->fill)
		return 0;
	s->frame->nb_samples = s->fill;
	s->frame->pts = s->samples;
	r = avcodec_send_frame(s->enc, s->frame);
	if (r < 0)
		return r;
	s->samples += s->fill;
	s->fill = 0;
	return drain(s);
}

static int put_samples(struct speech *s, const short *wav, int n)
{
	int r;

	while (n > 0) {
		int k = FFMIN(n, FRAME_SAMPLES - s->fill);

		if (!s->fill) {
			/* the encoder may still hold the last frame's buffer */
			s->frame->nb_samples = FRAME_SAMPLES;
			if ((r = av_frame_make_writable(s->frame)) < 0)
				return r;
		}
		memcpy((int16_t *)s->frame->data[0] + s->fill, wav, (size_t)k * sizeof(*wav));
		s->fill += k;
		wav += k;
		n -= k;
		if (s->fill == FRAME_SAMPLES && (r = flush_frame(s)) < 0)
			return r;
	}
	return 0;
}

static void note_position(struct speech *s, int pos)
{
	double percent;
	char msg[96];

	if (pos <= 0 || !s->chars)
		return;
	percent = 100.0 * FFMIN((size_t)pos, s->chars) / (double)s->chars;
	if (percent < s->reported + PROGRESS_STEP || percent >= 100)
		return;
	s->reported = percent;
	snprintf(msg, sizeof(msg), "%d of %zu characters", pos, s->chars);
	fm_plugin_progress(s->ctx, percent, "synthesize", msg);
}

/* espeak-ng's synth callback: returning 1 stops the synthesis. */
static int on_synth(short *wav, int n, espeak_EVENT *ev)
{
	struct speech *s = current;
	int r;

	if (!s)
		return 1;
	for (; ev && ev->type != espeakEVENT_LIST_TERMINATED; ev++)
		if (ev->type == espeakEVENT_WORD || ev->type == espeakEVENT_SENTENCE)
			note_position(s, ev->text_position);
	if (wav && n > 0 && (r = put_samples(s, wav, n)) < 0) {
		s->averr = r;
		return 1;
	}
	if (fm_plugin_cancelled(s->ctx)) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}

/* Once per process; a failure is remembered and told to every task. */
static int espeak_setup(struct fm_error *err)
{
	static int state; /* 0: not yet, 1: ready, -1: failed */
	static char why[FM_ERROR_MAX];
	espeak_ng_ERROR_CONTEXT ctx = NULL;
	espeak_ng_STATUS st;

	if (state > 0)
		return 0;
	if (state < 0)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "%s", why);
	espeak_ng_InitializePath(NULL);
	st = espeak_ng_Initialize(&ctx);
	espeak_ng_ClearErrorContext(&ctx);
	if (st == ENS_OK)
		st = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, SYNTH_BUFFER_MS, NULL);
	if (st != ENS_OK) {
		struct fm_error e = FM_ERROR_INIT;

		espeak_fail(&e, st, "cannot set up espeak-ng");
		snprintf(why, sizeof(why), "%s", e.message);
		fm_error_release(&e);
		state = -1;
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "%s", why);
	}
	espeak_SetSynthCallback(on_synth);
	state = 1;
	return 0;
}

static int set_voice(const struct params *p, struct fm_error *err)
{
	static const struct {
		espeak_PARAMETER what;
		const char *name;
	} names[] = {{espeakRATE, "rate"}, {espeakPITCH, "pitch"}, {espeakWORDGAP, "gap"}};
	/* espeak-ng's word gap is in units of 10 ms at its default rate */
	int values[] = {p->rate, p->pitch, (p->gap + 5) / 10};
	espeak_ng_STATUS st = espeak_ng_SetVoiceByName(p->voice);
	size_t i;

	if (st == ENS_VOICE_NOT_FOUND)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'voice': espeak-ng has no voice '%s' (rule: voice)",
				p->voice);
	if (st != ENS_OK)
		return espeak_fail(err, st, "cannot select the voice");
	/* after the voice, which may bring its own defaults */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		st = espeak_ng_SetParameter(names[i].what, values[i], 0);
		if (st != ENS_OK) {
			char what[64];

			snprintf(what, sizeof(what), "cannot set the %s", names[i].name);
			return espeak_fail(err, st, what);
		}
	}
	return 0;
}

static int open_output(struct speech *s, const char *path, int rate, struct fm_error *err)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PCM_S16LE);
	AVStream *st;
	int r;

	if (!codec)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"libavcodec has no pcm_s16le encoder");
	r = avformat_alloc_output_context2(&s->oc, NULL, "wav", path);
	if (r < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot set up the wav muxer");
	s->enc = avcodec_alloc_context3(codec);
	s->frame = av_frame_alloc();
	s->pkt = av_packet_alloc();
	st = avformat_new_stream(s->oc, NULL);
	if (!s->enc || !s->frame || !s->pkt || !st)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	s->enc->sample_fmt = AV_SAMPLE_FMT_S16;
	s->enc->sample_rate = rate;
	s->enc->time_base = (AVRational){1, rate};
	av_channel_layout_default(&s->enc->ch_layout, 1);
	/* no version strings: the file's bytes are the audio's alone */
	s->enc->flags |= AV_CODEC_FLAG_BITEXACT;
	s->oc->flags |= AVFMT_FLAG_BITEXACT;
	if ((r = avcodec_open2(s->enc, codec, NULL)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot open the pcm_s16le encoder");
	if ((r = avcodec_parameters_from_context(st->codecpar, s->enc)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot set up the audio stream");
	st->time_base = s->enc->time_base;
	s->frame->format = AV_SAMPLE_FMT_S16;
	s->frame->sample_rate = rate;
	s->frame->nb_samples = FRAME_SAMPLES;
	if ((r = av_channel_layout_copy(&s->frame->ch_layout, &s->enc->ch_layout)) < 0 ||
	    (r = av_frame_get_buffer(s->frame, 0)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot allocate an audio frame");
	if ((r = avio_open(&s->oc->pb, path, AVIO_FLAG_WRITE)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot create '%s'", path);
	if ((r = avformat_write_header(s->oc, NULL)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot write the wav header");
	return 0;
}

/* The last frame, the encoder's tail, the trailer (which fixes the sizes). */
static int finish_output(struct speech *s, const char *path, struct fm_error *err)
{
	int r;

	if ((r = flush_frame(s)) < 0 || (r = avcodec_send_frame(s->enc, NULL)) < 0 ||
	    (r = drain(s)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot encode the speech");
	if ((r = av_write_trailer(s->oc)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot finish '%s'", path);
	if ((r = avio_closep(&s->oc->pb)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot write '%s'", path);
	return 0;
}

static int synthesize(struct speech *s, const struct params *p, struct fm_error *err)
{
	espeak_ng_STATUS st;

	s->chars = utf8_chars(p->text);
	current = s;
	st = espeak_ng_Synthesize(p->text, strlen(p->text) + 1, 0, POS_CHARACTER, 0,
				  espeakCHARS_UTF8 | espeakENDPAUSE, NULL, NULL);
	current = NULL;
	if (s->stopped)
		return fm_error(err, FM_TASK_CANCELLED, "the synthesis was cancelled");
	if (s->averr)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, s->averr,
				   "cannot encode the speech");
	if (st != ENS_OK)
		return espeak_fail(err, st, "espeak-ng could not synthesize the text");
	if (!s->samples && !s->fill)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"espeak-ng made no audio of the text");
	return 0;
}

static void speech_release(struct speech *s)
{
	if (s->oc && s->oc->pb)
		avio_closep(&s->oc->pb);
	avformat_free_context(s->oc);
	avcodec_free_context(&s->enc);
	av_frame_free(&s->frame);
	av_packet_free(&s->pkt);
}

static void add_metadata(struct fm_result *res, const struct speech *s, const struct params *p,
			 int rate)
{
	json_object_object_add(res->metadata, "duration",
			       fm_json_double((double)s->samples / rate));
	json_object_object_add(res->metadata, "sample_rate", json_object_new_int(rate));
	json_object_object_add(res->metadata, "voice", json_object_new_string(p->voice));
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct speech s = {.ctx = ctx};
	struct params p;
	char *tmp = NULL, *dst = NULL, *abs = NULL;
	int rate, r = -1;

	av_log_set_level(AV_LOG_ERROR);
	if (read_params(task->parameters, &p, &res->error) < 0 || espeak_setup(&res->error) < 0 ||
	    set_voice(&p, &res->error) < 0)
		return -1;
	rate = espeak_ng_GetSampleRate();
	if (fm_mkdirs(output_dir, &res->error) < 0)
		return -1;
	tmp = fm_xasprintf("%s/.speech.wav.%ld.tmp", output_dir, (long)getpid());
	dst = fm_xasprintf("%s/speech.wav", output_dir);
	fm_plugin_progress(ctx, 0, "synthesize", "speaking");
	if (open_output(&s, tmp, rate, &res->error) < 0 || synthesize(&s, &p, &res->error) < 0 ||
	    finish_output(&s, tmp, &res->error) < 0)
		goto out;
	if (rename(tmp, dst) < 0) {
		fm_error(&res->error, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", dst);
		goto out;
	}
	abs = fm_abspath(dst);
	fm_result_add_file(res, abs);
	add_metadata(res, &s, &p, rate);
	fm_plugin_log(ctx, "speech: %" PRId64 " samples at %d Hz, voice %s", s.samples, rate,
		      p.voice);
	r = 0;
out:
	speech_release(&s);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	free(abs);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "espeak",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	return fm_plugin_main(argc, argv, &def);
}
