/*
 * Reading media files for combine: what a scene file holds (probe), and
 * concatenating scenes whose video streams match by stream copy, with an
 * audio track encoded once for the whole film.
 */
#ifndef FM_MEDIA_H
#define FM_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Largest media file combine reads, and most frames one scene may have. */
#define FM_MEDIA_MAX_BYTES  (64LL * 1024 * 1024 * 1024)
#define FM_MEDIA_MAX_FRAMES (24LL * 3600 * 120)
/*
 * Largest single allocation libav may make for us: a crafted header
 * must not ask for gigabytes. An 8192x8192 frame fits comfortably.
 */
#define FM_MEDIA_MAX_ALLOC (512UL * 1024 * 1024)
/*
 * Largest video frame or image read: at most FM_MEDIA_MAX_SIDE pixels
 * wide or high and FM_MEDIA_MAX_PIXELS in all (an 8K frame and a 48 Mpx
 * photo fit). Checked from the file's headers before anything is
 * decoded, and given to the decoders that probe as their max_pixels: a
 * 16000x16000 clip of 750 KB would otherwise decode to gigabytes.
 */
#define FM_MEDIA_MAX_SIDE   16384
#define FM_MEDIA_MAX_PIXELS (8192LL * 8192)

/*
 * How every outside file is opened, by fm_media_open and by every
 * movie= or amovie= source (fm_render_movie): as that one file. image2
 * reads "shot%d.png" as the sequence shot1.png, shot2.png, ... and
 * "a%{n}.png" as a pattern it cannot find; pattern_type=none reads the
 * name as it is. Only the file protocol, so no demuxer (hls, concat)
 * fetches anything else on the file's say. Key=value pairs, ':' apart.
 */
#define FM_MEDIA_OPEN_OPTS "pattern_type=none:protocol_whitelist=file"

/*
 * path as libavformat must be given it to open that file: "file:" put
 * before a name that would otherwise read as a protocol ("concat:a",
 * "http:x"). Returns a malloc'ed string.
 */
char *fm_media_url(const char *path);
struct AVFormatContext;
/*
 * avformat_open_input of path as that one file (FM_MEDIA_OPEN_OPTS,
 * fm_media_url); libav's error code, as avformat_open_input's.
 */
int fm_media_open(struct AVFormatContext **ic, const char *path);

struct fm_probe {
	int has_video, has_audio;
	/* The video stream: what must match for stream copy. */
	int codec_id, width, height, pix_fmt, profile, level;
	int fps_num, fps_den; /* frame rate (r_frame_rate) */
	uint8_t *extradata;
	int extradata_size;
	int64_t frames;	 /* counted video frames */
	double duration; /* seconds: frames / fps, or the container's */
	char codec[32];	 /* codec name, for messages */
	int sample_rate, channels;
	/*
	 * The audio stream: what must match for its packets to be copied
	 * (fm_probe_audio_differs). samples is how many the container says
	 * it holds once its priming is skipped (mp4's edit list); mp4 says
	 * the file was read by the mp4/mov demuxer, which tells the priming.
	 */
	int audio_codec_id, audio_profile, audio_frame_size;
	uint8_t *audio_extradata;
	int audio_extradata_size;
	int64_t audio_samples;
	int mp4;
};

/*
 * Fills p from the file; frames are counted when the container does not
 * say. A file whose video frames are larger than FM_MEDIA_MAX_SIDE or
 * FM_MEDIA_MAX_PIXELS is refused (RESOURCE_PROCESSING_ERROR) before a
 * frame of it is decoded; so is one whose audio channels have no layout
 * and are too many for one to be guessed (a filter graph cannot take
 * them). Call it on every outside file before a graph
 * reads it: movie= decodes whatever size it is given.
 */
int fm_probe_file(const char *path, struct fm_probe *p, struct fm_error *err);
void fm_probe_release(struct fm_probe *p);
/*
 * Why b cannot follow a by stream copy ("640x360, not 1280x720"), in buf;
 * returns 0 when it can.
 */
int fm_probe_differs(const struct fm_probe *a, const struct fm_probe *b, char *buf, size_t len);
/*
 * Why b's audio packets cannot follow a's by stream copy ("it is at
 * 44100 Hz, not 48000"), in buf; returns 0 when they can: both AAC in
 * mp4 or mov, alike in profile, rate, channels and decoder setup.
 */
int fm_probe_audio_differs(const struct fm_probe *a, const struct fm_probe *b, char *buf,
			   size_t len);

struct fm_concat {
	const char *const *inputs; /* scene files, in order */
	const int64_t *frames;	   /* counted frames of each */
	size_t n;
	const char *audio; /* an encoded audio file, copied whole; or NULL */
	/*
	 * Or audio up to split, then audio2 from there: the film's sound
	 * encoded in two halves at once, audio2 from preroll samples before
	 * split (FM_AUDIO_RATE samples; split a multiple of 1024). Its
	 * pre-roll is dropped: the decoder runs on from one half into the
	 * other as within one stream, both encoders having coded the same
	 * sound about split.
	 */
	const char *audio2;
	int64_t split, preroll;
	int split_rate;
	/*
	 * Instead of audio: each input's own AAC copied, on the video's
	 * clock (fm_concat_copy). Every input must have it, alike
	 * (fm_probe_audio_differs).
	 */
	int copy_audio;
	/*
	 * With copy_audio: the loudest a join that is not clean may be
	 * (peak, 0..1; 0 checks none), and where to say which input k,
	 * with k-1, would not join cleanly (fm_concat_copy).
	 */
	double join_quiet;
	size_t *unclean;
	const char *path; /* the film */
	int fps_num, fps_den;
	int nchapters;
	const double *chapter_start, *chapter_end;
	const char *const *chapter_title;
	const char *title;
	void (*progress)(void *ctx, double percent, int64_t frames);
	int (*cancelled)(void *ctx);
	void *ctx;
};

/*
 * Writes c->path (through a temporary file renamed into place): every
 * input's video packets copied, timestamps offset by the frames counted
 * before it, with the audio file's packets interleaved in dts order.
 *
 * With copy_audio, input k's AAC packets follow input k-1's without a
 * gap, so the decoder runs through as over one stream: its priming
 * packets (those the edit list hides) are dropped, but the first
 * input's, which the film's own edit list hides, and a packet is kept
 * while its middle falls before input k's last video frame ends. Every
 * input's sound so starts within half an AAC frame (1024 samples) of its
 * pictures, with no drift however many there are. Packets count whole
 * frames: a file's last packet, which its container trims, decodes to a
 * whole frame when another follows it.
 *
 * Such a join is a short crossfade when input k-1 ends on a whole frame
 * of its sound. When it must end on its file's last, padded packet
 * instead, some 15 ms about the join decode near silent: with
 * join_quiet, louder than that on either side fails the film with
 * *unclean set to k, before anything is put in place, so that the
 * caller can encode the sound instead. So does (without *unclean) an
 * input after the first whose AAC priming its file does not mark (no
 * edit list): it would be heard as a gap.
 */
int fm_concat_copy(const struct fm_concat *c, struct fm_error *err);

/* "libavformat 59.27.100, libavcodec ..., libavfilter ..., libavutil ...", as they run. */
const char *fm_media_libraries(void);

#endif
