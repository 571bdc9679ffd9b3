/*
 * Rendering a libavfilter graph into a media file: the one encoding path
 * of the bundled plugins and of combine's re-encode, so that every clip
 * filmeto makes has the same codec parameters and scenes concatenate by
 * stream copy.
 *
 * A graph has no inputs of its own: its sources are in the description
 * (movie=, amovie=, color=, anullsrc=, ...). Its outputs are labelled
 * [v] (video) and/or [a] (audio); the file gets one stream per label.
 */
#ifndef FM_RENDER_H
#define FM_RENDER_H

#include <stdint.h>

#include "error.h"

struct AVFrame;

/* The standard encoding; documented in filmeto(7). */
#define FM_VIDEO_CODEC	  "libx264"
#define FM_VIDEO_PRESET	  "veryfast"
#define FM_VIDEO_CRF	  "20"
#define FM_VIDEO_PIX_FMT  "yuv420p"
#define FM_VIDEO_GOP_SECS 2 /* a keyframe at least every 2 s */
#define FM_AUDIO_RATE	  48000
#define FM_AUDIO_BITRATE  160000 /* AAC, stereo */
/*
 * libavcodec's AAC coder: "fast", which its documentation calls better
 * and much faster than the default (twoloop) at bitrates like ours.
 */
#define FM_AUDIO_AAC_CODER "fast"
#define FM_GRAPH_MAX	   (1024 * 1024) /* longest graph description */

struct fm_render {
	const char *graph; /* the filter graph description */
	/*
	 * Output; the container follows the extension. NULL runs the graph
	 * and discards the frames (a measuring pass, with filter_log).
	 */
	const char *path;
	/*
	 * Video frame rate as a fraction (25/1, 30000/1001); the encoder's
	 * time base is its inverse, so frame n has pts n.
	 */
	int fps_num, fps_den;
	double duration; /* expected seconds, for progress; 0 when unknown */
	/* Called at most every 0.2 s with 0..100 and the frames encoded. */
	void (*progress)(void *ctx, double percent, int64_t frames);
	/* Polled per frame: nonzero stops the render with TASK_CANCELLED. */
	int (*cancelled)(void *ctx);
	void *ctx;
	/*
	 * Called with each line (no newline, empty lines skipped) that a
	 * filter of this graph logs at AV_LOG_INFO or more urgent, with the
	 * filter's instance name ("Parsed_loudnorm_3"), e.g. loudnorm's
	 * print_format=json summary, which it logs when the graph is freed,
	 * still inside fm_render_run. Called from the thread that logged,
	 * under a lock shared by all renders: keep it short.
	 */
	void (*filter_log)(void *ctx, const char *filter, const char *line);
	/* Chapters written into the container: count, starts and ends in seconds, titles. */
	int nchapters;
	const double *chapter_start, *chapter_end;
	const char *const *chapter_title;
	const char *title; /* the file's title metadata, or NULL */
	/*
	 * Frames the caller makes, for a graph with one open input labelled
	 * [src]: src_frames frames of src_width x src_height in pixel format
	 * src_pix_fmt (an enum AVPixelFormat), square pixels, at fps_num /
	 * fps_den. src_frame fills frame n (0, 1, ...), whose buffers are
	 * allocated and writable, and returns 0, or -1 with err filled. One
	 * frame is made at a time, when the graph asks for it, so a render
	 * holds no more frames than a movie= source would.
	 */
	int src_width, src_height, src_pix_fmt;
	int64_t src_frames;
	int (*src_frame)(void *frames_ctx, struct AVFrame *frame, int64_t n, struct fm_error *err);
	/*
	 * With path NULL: called with each video frame the graph gives,
	 * which the callee may av_frame_ref; a negative return stops the
	 * render with that libav error.
	 */
	int (*frame_out)(void *frames_ctx, const struct AVFrame *frame);
	void *frames_ctx;
	/*
	 * libx264 options added to the standard encoding ("subme=1"), or
	 * NULL: only ones that change how hard x264 searches, never the
	 * stream's parameters (SPS/PPS), so the clip still concatenates by
	 * stream copy with every other; combine compares them all the same.
	 */
	const char *x264_params;
};

/*
 * Renders r->graph into r->path: .mp4/.mov/.mkv get H.264 (the standard
 * settings above) and AAC; .m4a AAC only; .wav 16-bit PCM; .png one
 * frame, the first the graph gives, as RGB24 or RGBA. Audio is always
 * resampled to FM_AUDIO_RATE stereo, .wav included. Output goes to a
 * temporary file beside r->path, renamed into place on success and
 * removed otherwise. On failure err carries RESOURCE_PROCESSING_ERROR
 * (VALIDATION_ERROR for bad arguments, TASK_CANCELLED) with libav's
 * reason and the first error line the graph logged.
 *
 * Timestamps count frames: video frame n has pts n in fps_den/fps_num,
 * audio pts count samples in 1/FM_AUDIO_RATE; the graph's own timestamps
 * are not used, and a [v] whose frame rate is known and differs from
 * fps_num/fps_den is refused (end the graph with fps=). The muxer may
 * change the stream time base (mp4: video 1/12800 at 25 fps, i.e. the
 * rate's denominator doubled up to 10000 or more; audio 1/48000; mkv:
 * 1/1000). AAC starts with 1024 priming samples, hidden by mp4's edit
 * list. Chapters are AVChapters in ms with a "title"; mp4/mov store them
 * as a text track, which ffprobe lists as a data stream. The graph must
 * end by itself (d=, trim, -t of movie=); there is no time limit.
 *
 * While renders run, libav's log callback is fm_render's; lines not for
 * filter_log go to av_log_default_callback, with libav's default level
 * (info) taken as AV_LOG_ERROR. A callback the program set is replaced.
 */
int fm_render_run(const struct fm_render *r, struct fm_error *err);

/* err gets code and "WHAT: libav's reason for averr". */
int fm_av_error(struct fm_error *err, enum fm_code code, int averr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * A frame rate as a fraction: whole rates as N/1, the NTSC ones (29.97,
 * 59.94, 23.976) as N*1000/1001 as players expect, others approximated.
 * Every clip and the film use it, so equal rates compare equal.
 */
void fm_frame_rate(double fps, int *num, int *den);

/*
 * A file path or other value quoted for use as a filter option inside a
 * graph description (both escaping levels, as libavfilter expects:
 * movie=FILE). Returns a malloc'ed string. Text to draw goes through
 * fm_render_drawtext instead.
 */
char *fm_render_quote(const char *s);

/*
 * The one way an outside file becomes a source in a graph description:
 * "FILTER=FILE:format_opts=OPTS", FILTER being "movie" or "amovie", FILE
 * fm_media_url(path) and OPTS FM_MEDIA_OPEN_OPTS, both quoted by
 * fm_render_quote. So the file is opened as that one file, never as an
 * image sequence or a protocol. More options may follow after ':',
 * filters after ','. Returns a malloc'ed string.
 */
char *fm_render_movie(const char *filter, const char *path);

/* Longest text one drawtext is given, in bytes; longer is cut with an ellipsis. */
#define FM_DRAWTEXT_MAX 4096
/* fm_render_text flags: keep line breaks (otherwise they become spaces). */
#define FM_TEXT_LINES 1

/*
 * Text as drawtext may safely draw it (the filter divides by zero on a
 * tab and draws other controls as boxes): valid UTF-8, control
 * characters (C0, DEL, C1) made spaces, CR LF, CR, NEL and the Unicode
 * line and paragraph separators made one line break (FM_TEXT_LINES) or
 * a space, surrogates and noncharacters made U+FFFD, at most
 * FM_DRAWTEXT_MAX bytes. For text set with av_opt_set (titlecard);
 * drawtext must then get expansion=none too. Returns a malloc'ed string.
 */
char *fm_render_text(const char *s, int flags);
/*
 * The one way text reaches a drawtext in a graph description: returns
 * "expansion=none:text=T", T being fm_render_text(s, flags) quoted by
 * fm_render_quote, to follow "drawtext=" or another option and ':'.
 * No character of s is then special: not %{...}, not ' \ : ; , [ ].
 */
char *fm_render_drawtext(const char *s, int flags);

/*
 * Text laid out before drawtext loads a font is measured by a guess: the
 * advances of DejaVu Sans, the Sans that fontconfig picks where filmeto
 * runs and among the widest, rounded up; other scripts and symbols are
 * taken wider still. So text seldom comes out wider than measured in
 * another font. Widths are in hundredths of an em.
 */
int fm_render_text_width(const char *s, size_t len);

/* A line of laid-out text: bytes [off, off + len) of the text. */
struct fm_text_line {
	size_t off;
	size_t len;
};

/*
 * Greedy word wrap of text (as fm_render_text made it) into lines at
 * most max hundredths of an em wide: lines break at spaces, which they
 * lose, and at '\n'; a word wider than a line is cut between characters.
 * A blank paragraph is a blank line. The first nmax lines go in line[];
 * returns how many the whole text needs, which may be more.
 */
int fm_render_wrap(const char *text, int max, struct fm_text_line *line, int nmax);

#endif
