/*
 * The built-in combine tool: scenes into one film, with the ffmpeg
 * libraries, in a child of filmeto-run's, the filmeto-combine helper
 * (lib/builtin.h, lib/host.h; served by the plugin SDK loop, so progress,
 * cancel and results travel like any plugin's, and a crash inside libav
 * fails the film, not filmeto-run).
 *
 * The timeline is counted in frames of the film. Video is copied when
 * every scene was encoded alike (media.c), and otherwise rendered once
 * through one filter graph and one encoder (render.c). Audio is built
 * on the video clock in one graph: per scene the clip's own sound and
 * its narration, padded or cut to the scene's frames; a music bed ducked
 * under it; measured, normalized and encoded to AAC once. When nothing
 * is mixed in and the scenes' own AAC is alike and, measured, already
 * as loud as the target, it is copied with the video instead (media.c).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/bprint.h>
#include <libavutil/mathematics.h>
#include <libavutil/rational.h>

#include "combine.h"
#include "fs.h"
#include "host.h"
#include "media.h"
#include "render.h"
#include "plugin_sdk.h"
#include "util.h"

#define AUDIO_RATE   48000
#define THUMB_WIDTH  320
#define SHEET_WIDTH  3840  /* widest contact sheet */
#define LOUD_TP	     -1.5  /* true-peak ceiling, dBTP */
#define SILENCE_LUFS -60.0 /* quieter than this is left alone */
/*
 * A film whose scenes' own sound, copied, would already be this close
 * to the target (LU either side, the EBU R128 tolerance for programmes
 * where the exact target is not practicable) keeps it as it is.
 */
#define LOUD_TOLERANCE 1.0
/*
 * Copied scene sound whose join falls where one file's sound ends
 * within its last AAC frame decodes near silent for some 15 ms there:
 * let pass only when both sides are at most this loud (peak, dBFS).
 */
#define JOIN_QUIET_DB -40.0
/*
 * The film's sound, when it has to be encoded, is encoded in two halves
 * at once (encode_audio) when it lasts SPLIT_MIN_SECS or more; the
 * second half from SPLIT_PREROLL samples before its start, in which the
 * AAC encoder (a frame of look-back) and a limiter (50 ms release)
 * settle, so both code the same sound about the join.
 */
#define SPLIT_MIN_SECS 8.0
#define SPLIT_PREROLL  8192
#define AAC_FRAME      1024
/*
 * Scenes mixed per part: each part's graph opens its scenes' files at
 * once (about 1.5 MB each for an AAC decoder), so a long film's memory
 * stays bounded; parts are mixed on two threads.
 */
#define PART_SCENES 8
/*
 * A contact-sheet caption keeps CAPTION_MARGIN pixels from its tile's
 * sides. Too long for one line, it takes up to CAPTION_LINES lines, then
 * shrinks to two thirds of its size (not below CAPTION_MIN_FONT pixels),
 * then is cut with an ellipsis.
 */
#define CAPTION_MARGIN	 6
#define CAPTION_LINES	 2
#define CAPTION_MIN_FONT 8

struct scene {
	const char *id, *title, *text, *transition;
	double planned; /* seconds, from the storyboard */
	const char *video, *image, *narration, *failed;
	json_object *plugins; /* role: the plugin that made the file */
	char *clip;	      /* the file whose video is used */
	struct fm_probe probe;
	int64_t frames, start, overlap; /* film frames; overlap with the previous */
	char *thumb, *thumb_out;	/* the thumbnail in the work folder, and beside -o */
};

struct part {
	size_t a, b; /* scenes a..b-1 */
	char *wav;   /* their mixed sound */
};

/* One file put beside -o: made in the work folder, renamed into place. */
struct place {
	char *from;   /* in the work folder */
	char *path;   /* where it goes, for messages */
	int dirfd;    /* the folder it goes into: -o's or the thumbnails' */
	char *name;   /* its name there */
	char *backup; /* the file it replaced, kept to be put back; or NULL */
	int done;
};

struct film {
	struct fm_plugin_ctx *ctx;
	const struct fm_task *t;
	json_object *p;
	char *out, *base, *work;
	int width, height;
	AVRational fps;
	struct scene *s;
	size_t n;
	const char *music;
	int copy, placeholder;
	char reason[256];
	/*
	 * The scenes' own AAC copied (audio_copy) once it is found, measured,
	 * to need nothing done to it; audio_alike while that may still be.
	 */
	int audio_alike, audio_copy;
	char audio_reason[256];
	int64_t total;
	double tdur, music_db, target, gain;
	double measured_i, measured_tp, measured_lra, measured_thresh;
	/*
	 * The true peak is measured on the helper thread (true_peak), at the
	 * same time as the rest on the main one, which meanwhile goes by the
	 * sample peak (peak_now); limited says whether the sound was
	 * encoded with the limiter, checked once the true peak is known.
	 */
	double measured_sp;
	atomic_int tp_done;
	int limited;
	int silent;		   /* nothing louder than SILENCE_LUFS: left as it is */
	double stage_lo, stage_hi; /* the progress range of the current stage */
	struct part *parts;
	size_t nparts;
	/* Shared with the helper thread, which mixes parts and draws thumbnails. */
	atomic_size_t next_part, parts_done;
	atomic_int stop; /* cancelled, or one thread failed */
	int user_cancel; /* the host asked (the main thread's own) */
	pthread_t helper;
	int helper_on, hrc;
	struct fm_error herr;
	/*
	 * A re-encoded film's pictures, rendered on a thread of their own
	 * into wvideo while the sound is mixed, measured and encoded, then
	 * muxed with it (write_reencode); vframes for progress.
	 */
	pthread_t video;
	int video_on, vrc;
	struct fm_error verr;
	atomic_llong vframes;
	atomic_int vdone;
	char *wvideo;
	char *waudio, *waudio2; /* the film's encoded sound, in one or two halves */
	/*
	 * What the film writes beside -o, and the same in the work folder,
	 * where it is made: the film, subtitles, sidecar, contact sheet and
	 * thumbnails folder.
	 */
	char *srt, *json, *sheet, *thumbs;
	char *wfilm, *wsrt, *wjson, *wsheet;
	int dirfd, thumbsfd, made_thumbs; /* while the files are put in place */
	struct place *places;
	size_t nplaces;
};

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *dir,
		   struct fm_result *res);
static double peak_now(const struct film *f);

static const struct fm_plugin_def combine_def = {"combine", FM_VERSION, execute};

void fm_combine_serve(int in, int out, int err)
{
	fm_plugin_serve(&combine_def, in, out, err);
}

/* --- progress and cancel -------------------------------------------------- */

static void stage(struct film *f, const char *name, double lo, double hi)
{
	f->stage_lo = lo;
	f->stage_hi = hi;
	fm_plugin_progress(f->ctx, lo, name, name);
}

static void on_progress(void *ctx, double percent, int64_t frames)
{
	struct film *f = ctx;
	char msg[64];

	snprintf(msg, sizeof(msg), "%lld of %lld frames", (long long)frames, (long long)f->total);
	fm_plugin_progress(f->ctx, f->stage_lo + (f->stage_hi - f->stage_lo) * percent / 100.0,
			   NULL, msg);
}

/* The main thread's check: it alone may read the host's messages. */
static int on_cancelled(void *ctx)
{
	struct film *f = ctx;

	if (fm_plugin_cancelled(f->ctx)) {
		f->user_cancel = 1;
		atomic_store(&f->stop, 1);
	}
	return atomic_load(&f->stop);
}

static double secs(const struct film *f, int64_t frames)
{
	return frames * av_q2d(av_inv_q(f->fps));
}

/* Samples at rate in that many frames of the film. */
static int64_t samples_at(int rate, const struct film *f, int64_t frames)
{
	return av_rescale(frames, (int64_t)rate * f->fps.den, f->fps.num);
}

static int64_t samples(const struct film *f, int64_t frames)
{
	return samples_at(AUDIO_RATE, f, frames);
}

/* --- reading the task ----------------------------------------------------- */

static struct scene *scene_by_id(struct film *f, const char *id)
{
	size_t i;

	for (i = 0; id && i < f->n; i++)
		if (!strcmp(f->s[i].id, id))
			return &f->s[i];
	return NULL;
}

static int read_scenes(struct film *f, struct fm_error *err)
{
	json_object *scenes = fm_json_get(f->p, "scenes", json_type_array);
	size_t i;

	if (fm_combine_check(f->p, f->t->task_id, err) < 0)
		return -1;
	f->n = json_object_array_length(scenes);
	f->s = fm_xcalloc(f->n, sizeof(*f->s));
	for (i = 0; i < f->n; i++) {
		json_object *e = json_object_array_get_idx(scenes, i);
		struct scene *s = &f->s[i];

		s->id = fm_json_get_string(e, "id");
		s->planned = fm_json_get_double(e, "duration", 4.0);
		s->transition = fm_json_get_string(e, "transition");
		if (!s->transition)
			s->transition = "cut";
		s->title = fm_json_get_string(e, "title");
		s->text = fm_json_get_string(e, "text");
		if (!s->title || !*s->title)
			s->title = s->id;
	}
	return 0;
}

/*
 * Files by scene and role. With --placeholder, filmeto-run lists in
 * parameters.failed the scenes whose tasks failed ({scene, role, task}).
 */
static int read_resources(struct film *f, struct fm_error *err)
{
	json_object *failed = fm_json_get(f->p, "failed", json_type_array);
	size_t i, n = json_object_array_length(f->t->resources);

	for (i = 0; failed && i < json_object_array_length(failed); i++) {
		json_object *e = json_object_array_get_idx(failed, i);
		struct scene *s = scene_by_id(f, fm_json_get_string(e, "scene"));
		const char *role = fm_json_get_string(e, "role");

		if (s && role && (!strcmp(role, "video") || !strcmp(role, "image")))
			s->failed = fm_json_get_string(e, "task");
	}
	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(f->t->resources, i);
		json_object *meta = fm_json_get(r, "metadata", json_type_object);
		const char *type = fm_json_get_string(r, "type"),
			   *data = fm_json_get_string(r, "data");
		const char *role = fm_json_get_string(meta, "role");
		struct scene *s = scene_by_id(f, fm_json_get_string(meta, "scene"));

		if (!type || !data || !role)
			continue;
		if (!strcmp(role, "music")) {
			if (!strcmp(type, "local_path"))
				f->music = data;
			continue;
		}
		if (!s)
			return fm_error(err, FM_VALIDATION_ERROR,
					"resources[%zu]: scene '%s' is not in scenes", i,
					fm_json_get_string(meta, "scene"));
		if (fm_json_get_string(meta, "plugin")) {
			if (!s->plugins)
				s->plugins = json_object_new_object();
			json_object_object_add(
			    s->plugins, role,
			    json_object_new_string(fm_json_get_string(meta, "plugin")));
		}
		if (!strcmp(role, "video"))
			s->video = data;
		else if (!strcmp(role, "image"))
			s->image = data;
		else if (!strcmp(role, "narration") || !strcmp(role, "audio"))
			s->narration = data;
	}
	return 0;
}

/* --- scene clips ---------------------------------------------------------- */

static void print_fps(AVBPrint *bp, const struct film *f)
{
	av_bprintf(bp, "%d/%d", f->fps.num, f->fps.den);
}

/*
 * Scaled into the film frame, padded, at the film's rate and format, and
 * never ending: the caller cuts it with trim. The last frame is cloned
 * on for ever before fps, not after: fps ends its output where the
 * input ends, so a still or a one-frame clip (a frame with no time
 * after it) gave no frame at all, and a clip shorter than half a frame
 * of the film neither.
 */
static void normalize(AVBPrint *bp, const struct film *f)
{
	av_bprintf(bp,
		   "scale=%d:%d:force_original_aspect_ratio=decrease,"
		   "pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,tpad=stop_mode=clone:stop=-1,fps=",
		   f->width, f->height, f->width, f->height);
	print_fps(bp, f);
	av_bprintf(bp, ",format=yuv420p");
}

/* FILTER=FILE as a source that opens that one file (fm_render_movie). */
static void movie(AVBPrint *bp, const char *filter, const char *file)
{
	char *src = fm_render_movie(filter, file);

	av_bprintf(bp, "%s", src);
	free(src);
}

static int helper_cancelled(void *ctx);

/* What every render of the film shares; helper: run by the helper thread. */
static void render_init(struct fm_render *r, struct film *f, const char *graph, const char *path,
			double duration, int helper)
{
	memset(r, 0, sizeof(*r));
	r->graph = graph;
	r->path = path;
	r->fps_num = f->fps.num;
	r->fps_den = f->fps.den;
	r->duration = duration;
	r->cancelled = helper ? helper_cancelled : on_cancelled;
	r->ctx = f;
}

static int render_graph(struct film *f, AVBPrint *bp, const char *path, double duration, int helper,
			struct fm_error *err)
{
	struct fm_render r;
	int rc;

	if (!av_bprint_is_complete(bp)) {
		av_bprint_finalize(bp, NULL);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory for a graph");
	}
	render_init(&r, f, bp->str, path, duration, helper);
	rc = fm_render_run(&r, err);
	av_bprint_finalize(bp, NULL);
	return rc;
}

/* A clip for a scene with a still image, or a card for a failed scene. */
static int make_clip(struct film *f, size_t i, struct fm_error *err)
{
	struct scene *s = &f->s[i];
	int64_t frames = llrint(s->planned * av_q2d(f->fps));
	AVBPrint bp;
	char *q, *title, *text;

	s->clip = fm_xasprintf("%s/%04zu.mp4", f->work, i);
	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	if (s->image) {
		movie(&bp, "movie", s->image);
		av_bprintf(&bp, ",");
		normalize(&bp, f);
		av_bprintf(&bp, ",");
	} else {
		/* the title on one line, what failed on the next */
		title = fm_render_text(s->title, 0);
		text = fm_xasprintf("%s\n(scene failed: %s)", title, s->failed);
		q = fm_render_drawtext(text, FM_TEXT_LINES);
		av_bprintf(&bp, "color=c=0x202020:s=%dx%d:r=", f->width, f->height);
		print_fps(&bp, f);
		av_bprintf(&bp,
			   ",drawtext=font=Sans:fontcolor=white:fontsize=h/16:"
			   "x=(w-text_w)/2:y=(h-text_h)/2:%s,format=yuv420p,",
			   q);
		free(q);
		free(title);
		free(text);
	}
	av_bprintf(&bp, "trim=end_frame=%lld,setpts=N/(", (long long)frames);
	print_fps(&bp, f);
	av_bprintf(&bp, ")/TB[v]");
	return render_graph(f, &bp, s->clip, s->planned, 0, err);
}

static int scene_error(struct fm_error *err, const struct scene *s, const char *file)
{
	char msg[FM_ERROR_MAX];

	/* Cut short rather than fail: the scene's name comes first. */
	if (snprintf(msg, sizeof(msg), "scene '%s': %s", s->id, err->message) >= (int)sizeof(msg))
		msg[sizeof(msg) - 1] = '\0';
	fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "%s", msg);
	fm_error_detail(err, "scene", json_object_new_string(s->id));
	fm_error_detail(err, "file", json_object_new_string(file));
	return -1;
}

/*
 * An outside file read before a graph gets it: movie= decodes any size
 * of frame it is given, and fm_probe_file refuses one too large.
 */
static int check_input(const char *path, struct fm_error *err)
{
	struct fm_probe p;

	if (fm_probe_file(path, &p, err) < 0)
		return -1;
	fm_probe_release(&p);
	return 0;
}

static int prepare_scenes(struct film *f, struct fm_error *err)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		struct scene *s = &f->s[i];

		if (fm_plugin_cancelled(f->ctx))
			return fm_error(err, FM_TASK_CANCELLED, "combining was cancelled");
		if (s->failed && !f->placeholder)
			return fm_error(err, FM_DEPENDENCY_FAILED, "scene '%s': task '%s' failed",
					s->id, s->failed);
		if (!s->video && !s->image && !s->failed)
			return fm_error(err, FM_VALIDATION_ERROR,
					"scene '%s' has no video or image", s->id);
		if (s->video && !s->failed) {
			s->clip = fm_xstrdup(s->video);
		} else if (s->image && check_input(s->image, err) < 0) {
			return scene_error(err, s, s->image);
		} else if (make_clip(f, i, err) < 0) {
			return scene_error(err, s, s->image ? s->image : "(placeholder)");
		}
		if (fm_probe_file(s->clip, &s->probe, err) < 0)
			return scene_error(err, s, s->clip);
		if (!s->probe.has_video)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"scene '%s': '%s' has no video", s->id, s->clip);
		if (s->narration && check_input(s->narration, err) < 0)
			return scene_error(err, s, s->narration);
		fm_plugin_progress(f->ctx, 5.0 * (i + 1) / f->n, "probe", s->id);
	}
	if (f->music && check_input(f->music, err) < 0) {
		char msg[FM_ERROR_MAX];

		if (snprintf(msg, sizeof(msg), "music: %s", err->message) >= (int)sizeof(msg))
			msg[sizeof(msg) - 1] = '\0';
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "%s", msg);
		fm_error_detail(err, "file", json_object_new_string(f->music));
		return -1;
	}
	return 0;
}

/* Stream copy when every clip matches the film and the first clip. */
static void choose_path(struct film *f)
{
	struct fm_probe *p0 = &f->s[0].probe;
	char why[160];
	size_t i;

	f->copy = 0;
	if (strcmp(p0->codec, "h264"))
		snprintf(f->reason, sizeof(f->reason), "scene '%s' is %s, not h264", f->s[0].id,
			 p0->codec);
	else if (p0->width != f->width || p0->height != f->height)
		snprintf(f->reason, sizeof(f->reason), "scene '%s' is %dx%d, not %dx%d", f->s[0].id,
			 p0->width, p0->height, f->width, f->height);
	else if (fabs(av_q2d((AVRational){p0->fps_num, p0->fps_den}) - av_q2d(f->fps)) > 0.001)
		snprintf(f->reason, sizeof(f->reason), "scene '%s' runs at %.3f fps, not %.3f",
			 f->s[0].id, av_q2d((AVRational){p0->fps_num, p0->fps_den}),
			 av_q2d(f->fps));
	else
		f->copy = 1;
	for (i = 0; f->copy && i < f->n; i++) {
		if (strcmp(f->s[i].transition, "cut")) {
			snprintf(f->reason, sizeof(f->reason), "scene '%s' has a %s transition",
				 f->s[i].id, f->s[i].transition);
			f->copy = 0;
		} else if (fm_probe_differs(p0, &f->s[i].probe, why, sizeof(why))) {
			snprintf(f->reason, sizeof(f->reason), "scene '%s' differs: %s", f->s[i].id,
				 why);
			f->copy = 0;
		}
	}
	if (f->copy) {
		/* The clips' own exact rate: 30000/1001, not 29.97. */
		f->fps = (AVRational){p0->fps_num, p0->fps_den};
		snprintf(f->reason, sizeof(f->reason), "every scene is h264 %dx%d at %d/%d fps",
			 f->width, f->height, p0->fps_num, p0->fps_den);
	}
}

/*
 * Whether the scenes' sound could be copied as it is, like the video:
 * nothing mixed into it, nothing faded, every scene's sound AAC alike
 * and lasting as long as its pictures. Measuring it decides (decide_audio).
 */
static void choose_audio(struct film *f)
{
	const char *ext = strrchr(f->out, '.');
	char why[160];
	size_t i;

	f->audio_alike = 0;
	if (!f->copy) {
		snprintf(f->audio_reason, sizeof(f->audio_reason), "the video is re-encoded");
		return;
	}
	if (!ext ||
	    (strcasecmp(ext, ".mp4") && strcasecmp(ext, ".mov") && strcasecmp(ext, ".m4v"))) {
		snprintf(f->audio_reason, sizeof(f->audio_reason),
			 "the film is not an mp4 or mov file");
		return;
	}
	if (f->music) {
		snprintf(f->audio_reason, sizeof(f->audio_reason), "music is mixed in");
		return;
	}
	for (i = 0; i < f->n; i++) {
		const struct scene *s = &f->s[i];
		int64_t want = samples_at(s->probe.sample_rate, f, s->frames);

		if (s->narration) {
			snprintf(f->audio_reason, sizeof(f->audio_reason),
				 "scene '%s' has narration mixed in", s->id);
			return;
		}
		if (fm_probe_audio_differs(&f->s[0].probe, &s->probe, why, sizeof(why))) {
			snprintf(f->audio_reason, sizeof(f->audio_reason),
				 "scene '%s' cannot be copied: %s", s->id, why);
			return;
		}
		/* its packets, whole frames, must reach its last frame's end */
		if ((s->probe.audio_samples + AAC_FRAME - 1) / AAC_FRAME * AAC_FRAME < want) {
			snprintf(f->audio_reason, sizeof(f->audio_reason),
				 "scene '%s''s sound is %.3f s shorter than its pictures", s->id,
				 (double)(want - s->probe.audio_samples) / s->probe.sample_rate);
			return;
		}
	}
	f->audio_alike = 1;
}

/* The sound to be encoded after all, normalized as measured. */
static void encode_instead(struct film *f)
{
	f->audio_copy = 0;
	f->gain = f->silent ? 0 : f->target - f->measured_i;
}

/*
 * After measuring: the sound is copied when its loudness is already
 * within LOUD_TOLERANCE of the target and its true peak under the
 * ceiling, which is what normalizing would have left of it; a silent
 * film is left as it is either way.
 */
static void decide_audio(struct film *f)
{
	double off = f->measured_i - f->target;

	f->audio_copy = 0;
	if (!f->audio_alike)
		return;
	if (f->silent) {
		f->audio_copy = 1;
		snprintf(f->audio_reason, sizeof(f->audio_reason),
			 "every scene's sound is AAC alike, and silent");
	} else if (fabs(off) > LOUD_TOLERANCE) {
		snprintf(
		    f->audio_reason, sizeof(f->audio_reason),
		    "measured %.1f LUFS, %.1f LU from the target %.1f LUFS (tolerance %.1f LU)",
		    f->measured_i, fabs(off), f->target, LOUD_TOLERANCE);
	} else if (!isfinite(peak_now(f)) || peak_now(f) > LOUD_TP) {
		snprintf(f->audio_reason, sizeof(f->audio_reason),
			 "measured %.1f LUFS, within %.1f LU of the target %.1f LUFS, but its %s "
			 "peak %.1f dB is over %.1f dBTP",
			 f->measured_i, LOUD_TOLERANCE, f->target,
			 atomic_load(&f->tp_done) ? "true" : "sample", peak_now(f), LOUD_TP);
	} else {
		f->audio_copy = 1;
		f->gain = 0;
		snprintf(f->audio_reason, sizeof(f->audio_reason),
			 "every scene's sound is AAC alike, measured %.1f LUFS, within %.1f LU of "
			 "the target %.1f LUFS, peak under %.1f dBTP",
			 f->measured_i, LOUD_TOLERANCE, f->target, LOUD_TP);
	}
}

/* Frames, starts and overlaps on the film's clock. */
static void timeline(struct film *f)
{
	int64_t tframes = llrint(f->tdur * av_q2d(f->fps));
	size_t i;

	for (i = 0; i < f->n; i++) {
		struct scene *s = &f->s[i];

		s->frames = f->copy ? s->probe.frames : llrint(s->probe.duration * av_q2d(f->fps));
		if (s->frames < 1)
			s->frames = 1;
		s->overlap = 0;
		if (i > 0 && !strcmp(s->transition, "crossfade")) {
			int64_t cap = FFMIN(f->s[i - 1].frames, s->frames) / 2;

			s->overlap = FFMIN(tframes, cap);
		}
		s->start = i ? f->s[i - 1].start + f->s[i - 1].frames - s->overlap : 0;
	}
	f->total = f->s[f->n - 1].start + f->s[f->n - 1].frames;
}

/* Where scene i ends for chapters and cues: the next scene's start. */
static int64_t scene_end(const struct film *f, size_t i)
{
	return i + 1 < f->n ? f->s[i + 1].start : f->total;
}

/* Frames of a "fade" transition's half: out of the last scene, into this one. */
static int64_t fade_frames(const struct film *f, const struct scene *s)
{
	int64_t half = llrint(f->tdur * av_q2d(f->fps) / 2);

	return FFMAX(1, FFMIN(half, s->frames / 3));
}

/* --- the graphs ----------------------------------------------------------- */

static void quoted(AVBPrint *bp, const char *s)
{
	char *q = fm_render_quote(s);

	av_bprintf(bp, "%s", q);
	free(q);
}

/*
 * Joins the per-scene streams [PREFIXa]..[PREFIXb-1] into [OUT]: runs of
 * cuts and fades through one concat, crossfades with xfade or acrossfade.
 * Scene a starts the stream, so offsets count from its start.
 */
static void join(AVBPrint *bp, const struct film *f, char kind, size_t a, size_t b, const char *out)
{
	size_t i, run = a, k = 0;

	for (i = a + 1; i <= b; i++) {
		const struct scene *s = &f->s[run];
		size_t j;

		if (i < b && f->s[i].overlap == 0)
			continue;
		/* Scenes run..i-1 make one stream [KjK]. */
		for (j = run; j < i; j++)
			av_bprintf(bp, "[%c%zu]", kind, j);
		av_bprintf(bp, "concat=n=%zu:v=%d:a=%d[%cj%zu];", i - run, kind == 'v', kind == 'a',
			   kind, k);
		if (k == 0)
			av_bprintf(bp, "[%cj0]%snull[%cc0];", kind, kind == 'a' ? "a" : "", kind);
		else if (kind == 'v')
			av_bprintf(bp,
				   "[%cc%zu][%cj%zu]xfade=transition=fade:duration=%.6f:"
				   "offset=%.6f[%cc%zu];",
				   kind, k - 1, kind, k, secs(f, s->overlap),
				   secs(f, s->start - f->s[a].start), kind, k);
		else
			av_bprintf(bp, "[%cc%zu][%cj%zu]acrossfade=ns=%lld:c1=tri:c2=tri[%cc%zu];",
				   kind, k - 1, kind, k, (long long)samples(f, s->overlap), kind,
				   k);
		run = i;
		k++;
	}
	av_bprintf(bp, "[%cc%zu]%snull[%s]", kind, k - 1, kind == 'a' ? "a" : "", out);
}

static void video_graph(AVBPrint *bp, const struct film *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct scene *s = &f->s[i];

		movie(bp, "movie", s->clip);
		av_bprintf(bp, ",setpts=PTS-STARTPTS,");
		normalize(bp, f);
		av_bprintf(bp, ",trim=end_frame=%lld,setpts=N/(", (long long)s->frames);
		print_fps(bp, f);
		av_bprintf(bp, ")/TB");
		if (!strcmp(s->transition, "fade"))
			av_bprintf(bp, ",fade=t=in:s=0:n=%lld", (long long)fade_frames(f, s));
		if (i + 1 < f->n && !strcmp(f->s[i + 1].transition, "fade"))
			av_bprintf(bp, ",fade=t=out:s=%lld:n=%lld",
				   (long long)(s->frames - fade_frames(f, s)),
				   (long long)fade_frames(f, s));
		av_bprintf(bp, "[v%zu];", i);
	}
	join(bp, f, 'v', 0, f->n, "v");
}

static void audio_in(AVBPrint *bp, const char *file, const char *label, size_t i)
{
	movie(bp, "amovie", file);
	av_bprintf(bp,
		   ",aresample=%d,aformat=sample_fmts=fltp:channel_layouts=stereo,"
		   "asetpts=PTS-STARTPTS[%s%zu];",
		   AUDIO_RATE, label, i);
}

/* Where the part of the film from scene a to scene b ends, in frames. */
static int64_t part_end(const struct film *f, size_t b)
{
	return b < f->n ? f->s[b].start : f->total;
}

/*
 * The sound of scenes a..b-1 before loudness, on the video clock, with
 * the music bed's stretch for that time ducked under it. Parts end where
 * no crossfade spans, so they join end to end.
 */
static void part_graph(AVBPrint *bp, const struct film *f, size_t a, size_t b)
{
	int64_t s0 = samples(f, f->s[a].start), s1 = samples(f, part_end(f, b));
	size_t i;

	for (i = a; i < b; i++) {
		const struct scene *s = &f->s[i];
		int own = s->probe.has_audio && !s->failed, narr = s->narration != NULL;
		int64_t len = samples(f, s->start + s->frames) - samples(f, s->start);

		if (own)
			audio_in(bp, s->clip, "c", i);
		if (narr)
			audio_in(bp, s->narration, "n", i);
		if (own && narr)
			av_bprintf(bp, "[c%zu][n%zu]amix=inputs=2:duration=longest:normalize=0,", i,
				   i);
		else if (own || narr)
			av_bprintf(bp, "[%c%zu]anull,", own ? 'c' : 'n', i);
		else
			av_bprintf(bp, "anullsrc=r=%d:cl=stereo,", AUDIO_RATE);
		av_bprintf(bp, "apad,atrim=end_sample=%lld,asetpts=N/SR/TB", (long long)len);
		if (!strcmp(s->transition, "fade"))
			av_bprintf(bp, ",afade=t=in:d=%.6f", secs(f, fade_frames(f, s)));
		if (i + 1 < f->n && !strcmp(f->s[i + 1].transition, "fade"))
			av_bprintf(bp, ",afade=t=out:st=%.6f:d=%.6f",
				   secs(f, s->frames - fade_frames(f, s)),
				   secs(f, fade_frames(f, s)));
		av_bprintf(bp, "[a%zu];", i);
	}
	join(bp, f, 'a', a, b, f->music ? "speech" : "mixed");
	av_bprintf(bp, ";");
	if (f->music) {
		audio_in(bp, f->music, "m", 0);
		av_bprintf(bp,
			   "[m0]volume=%.2fdB,apad,atrim=start_sample=%lld:end_sample=%lld,"
			   "asetpts=N/SR/TB[bed];"
			   "[speech]asplit=2[sa][sb];"
			   "[bed][sb]sidechaincompress=threshold=0.02:ratio=8:attack=20:"
			   "release=400[ducked];"
			   "[sa][ducked]amix=inputs=2:duration=first:normalize=0[mixed];",
			   f->music_db, (long long)s0, (long long)s1);
	}
	av_bprintf(bp, "[mixed]apad,atrim=end_sample=%lld[a]", (long long)(s1 - s0));
}

/* The mixed parts end to end, then TAIL (a loudness filter and "[a]"). */
static void audio_graph(AVBPrint *bp, const struct film *f, const char *tail)
{
	size_t k;

	for (k = 0; k < f->nparts; k++) {
		movie(bp, "amovie", f->parts[k].wav);
		av_bprintf(bp, "[w%zu];", k);
	}
	for (k = 0; k < f->nparts; k++)
		av_bprintf(bp, "[w%zu]", k);
	av_bprintf(bp, "concat=n=%zu:v=0:a=1,apad,atrim=end_sample=%lld%s", f->nparts,
		   (long long)samples(f, f->total), tail);
}

/* Splits the scenes into parts of at most PART_SCENES, cut where no crossfade spans. */
static void plan_parts(struct film *f)
{
	size_t size = FFMAX(1, FFMIN(PART_SCENES, (f->n + 1) / 2)), a = 0, i;

	f->parts = fm_xcalloc(f->n, sizeof(*f->parts));
	for (i = 1; i <= f->n; i++) {
		if (i < f->n && (i - a < size || f->s[i].overlap))
			continue;
		f->parts[f->nparts].a = a;
		f->parts[f->nparts].b = i;
		f->parts[f->nparts].wav = fm_xasprintf("%s/part-%04zu.wav", f->work, f->nparts);
		f->nparts++;
		a = i;
	}
}

static int helper_cancelled(void *ctx)
{
	return atomic_load(&((struct film *)ctx)->stop);
}

/* Mixes parts until none is left; both threads run it. */
static int mix_parts(struct film *f, int helper, struct fm_error *err)
{
	for (;;) {
		size_t k = atomic_fetch_add(&f->next_part, 1);
		struct part *pt = &f->parts[k];
		struct fm_render r;
		AVBPrint bp;
		int rc;

		if (k >= f->nparts)
			return 0;
		av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
		part_graph(&bp, f, pt->a, pt->b);
		render_init(&r, f, bp.str, pt->wav, 0, helper);
		rc = av_bprint_is_complete(&bp)
			 ? fm_render_run(&r, err)
			 : fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory for a graph");
		av_bprint_finalize(&bp, NULL);
		if (rc < 0) {
			atomic_store(&f->stop, 1);
			return -1;
		}
		atomic_fetch_add(&f->parts_done, 1);
		if (!helper)
			fm_plugin_progress(f->ctx,
					   5 + 15.0 * atomic_load(&f->parts_done) / f->nparts,
					   "mix", NULL);
	}
}

/* A line of ebur128's summary, its indent skipped; NULL for another filter's. */
static const char *ebur128_line(const char *filter, const char *line)
{
	if (!strstr(filter, "ebur128"))
		return NULL;
	while (isspace((unsigned char)*line))
		line++;
	return line;
}

/* ebur128's summary: "I: -21.8 LUFS", "Threshold: ..." (first one), "LRA: ...", "Peak: ...". */
static void on_filter_log(void *ctx, const char *filter, const char *line)
{
	struct film *f = ctx;
	const char *p = ebur128_line(filter, line);
	double v;

	if (!p)
		return;
	if (sscanf(p, "I: %lf", &v) == 1)
		f->measured_i = v;
	else if (sscanf(p, "Threshold: %lf", &v) == 1 && isnan(f->measured_thresh))
		f->measured_thresh = v;
	else if (sscanf(p, "LRA: %lf", &v) == 1)
		f->measured_lra = v;
	else if (sscanf(p, "Peak: %lf", &v) == 1)
		f->measured_sp = v;
}

/* The true-peak pass's summary: its "Peak: ..." alone. */
static void on_tp_log(void *ctx, const char *filter, const char *line)
{
	struct film *f = ctx;
	const char *p = ebur128_line(filter, line);
	double v;

	if (p && sscanf(p, "Peak: %lf", &v) == 1)
		f->measured_tp = v;
}

/* Waits until *count reaches n, or the film is stopped. */
static int await_count(struct film *f, atomic_size_t *count, size_t n, int helper,
		       struct fm_error *err)
{
	struct timespec nap = {0, 5 * 1000 * 1000};

	while (atomic_load(count) < n) {
		if (helper ? helper_cancelled(f) : on_cancelled(f))
			return fm_error(err, FM_TASK_CANCELLED, "combining was cancelled");
		nanosleep(&nap, NULL);
	}
	return 0;
}

/*
 * The mix's true peak (EBU R128, 4x oversampled), the costly part of
 * measuring: a pass of its own, run by the helper thread while the main
 * one measures the rest, once every part is mixed.
 */
static int true_peak(struct film *f, int helper, struct fm_error *err)
{
	struct fm_render r;
	AVBPrint bp;
	int rc;

	if (await_count(f, &f->parts_done, f->nparts, helper, err) < 0)
		return -1;
	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	audio_graph(&bp, f, ",ebur128=peak=true[a]");
	render_init(&r, f, bp.str, NULL, 0, helper);
	r.filter_log = on_tp_log;
	rc = fm_render_run(&r, err);
	av_bprint_finalize(&bp, NULL);
	if (rc == 0)
		atomic_store(&f->tp_done, 1);
	return rc;
}

/* The true peak once known, the sample peak (never above it) until then. */
static double peak_now(const struct film *f)
{
	return atomic_load(&f->tp_done) ? f->measured_tp : f->measured_sp;
}

/* Waits for the true peak (measured here when there is no helper thread). */
static int await_true_peak(struct film *f, struct fm_error *err)
{
	struct timespec nap = {0, 5 * 1000 * 1000};

	if (!f->helper_on && !atomic_load(&f->tp_done))
		return true_peak(f, 0, err);
	while (!atomic_load(&f->tp_done)) {
		if (on_cancelled(f))
			return fm_error(err, FM_TASK_CANCELLED, "combining was cancelled");
		nanosleep(&nap, NULL);
	}
	return 0;
}

/*
 * Two-pass loudness normalization. The first pass measures the mix
 * (EBU R128: integrated loudness, range, sample peak; the true peak on
 * the helper thread at the same time); the second applies what
 * loudnorm's linear mode would, a constant gain to the target, with a
 * limiter only when that gain would push the true peak over the
 * ceiling. (loudnorm's dynamic mode, its fallback, works at 192 kHz and
 * cost more than the AAC encode.) The second pass may start before the
 * true peak is known, going by the sample peak: check_true_peak then
 * redoes it in the rare case the true peak asks for the limiter after all.
 */
static int measure(struct film *f, struct fm_error *err)
{
	struct fm_render r;
	AVBPrint bp;
	int rc;

	f->measured_i = f->measured_lra = f->measured_thresh = f->measured_sp = NAN;
	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	audio_graph(&bp, f, ",ebur128=peak=sample[a]");
	render_init(&r, f, bp.str, NULL, secs(f, f->total), 0);
	r.filter_log = on_filter_log;
	rc = fm_render_run(&r, err);
	av_bprint_finalize(&bp, NULL);
	if (rc < 0)
		return -1;
	/*
	 * Silence (ebur128 says I: -70 LUFS, true peak -inf) has no loudness
	 * to normalize: no gain, and nothing measured to report.
	 */
	f->gain = 0;
	f->silent = !(isfinite(f->measured_i) && f->measured_i > SILENCE_LUFS);
	if (!f->silent)
		f->gain = f->target - f->measured_i;
	return 0;
}

static void loudness_filter(AVBPrint *bp, struct film *f)
{
	double peak = peak_now(f);

	f->limited = 0;
	if (f->gain == 0)
		av_bprintf(bp, "[a]");
	else if (isnan(peak) || peak + f->gain <= LOUD_TP)
		av_bprintf(bp, ",volume=%.3fdB[a]", f->gain);
	else if ((f->limited = 1))
		/*
		 * The gain would push peaks over the ceiling: a look-ahead limiter,
		 * delay-compensated, holds them. Half a dB under the ceiling leaves
		 * room for the peaks between samples.
		 */
		av_bprintf(bp,
			   ",volume=%.3fdB,alimiter=limit=%.4f:attack=5:release=50:level=false:"
			   "latency=true[a]",
			   f->gain, pow(10, (LOUD_TP - 0.5) / 20));
}

/* --- writing the film ----------------------------------------------------- */

struct chapters {
	double *start, *end;
	char **title; /* one line each, as players show them */
	char *film;   /* the film's title, one line too; NULL when none */
};

static void chapters_init(struct chapters *c, const struct film *f)
{
	size_t i;

	c->start = fm_xcalloc(f->n, sizeof(double));
	c->end = fm_xcalloc(f->n, sizeof(double));
	c->title = fm_xcalloc(f->n, sizeof(char *));
	for (i = 0; i < f->n; i++) {
		c->start[i] = secs(f, f->s[i].start);
		c->end[i] = secs(f, scene_end(f, i));
		c->title[i] = fm_render_text(f->s[i].title, 0);
	}
	if (fm_json_get_string(f->p, "title"))
		c->film = fm_render_text(fm_json_get_string(f->p, "title"), 0);
}

static void chapters_release(struct chapters *c, size_t n)
{
	size_t i;

	for (i = 0; c->title && i < n; i++)
		free(c->title[i]);
	free(c->film);
	free(c->start);
	free(c->end);
	free(c->title);
}

/* The second half of the film's sound, encoded on a thread of its own. */
struct half {
	struct film *f;
	const char *graph, *path;
	int rc;
	struct fm_error err;
};

static void *half_main(void *arg)
{
	struct half *h = arg;
	struct fm_render r;

	render_init(&r, h->f, h->graph, h->path, 0, 1);
	h->rc = fm_render_run(&r, &h->err);
	if (h->rc < 0)
		atomic_store(&h->f->stop, 1);
	return NULL;
}

/*
 * The film's sound, normalized, encoded into the work folder and named
 * in c for fm_concat_copy. Sound of SPLIT_MIN_SECS or more is encoded
 * in two halves at once, the second on a thread of its own from
 * SPLIT_PREROLL samples before its start: the AAC encoder is the one
 * costly step left that x264 or the helper thread does not share.
 */
static int encode_audio(struct film *f, struct fm_concat *c, struct fm_error *err)
{
	int64_t total = samples(f, f->total);
	int64_t split = total / 2 / AAC_FRAME * AAC_FRAME;
	char trim[96];
	AVBPrint a, b;
	struct half h = {0};
	struct fm_render r;
	pthread_t t;
	int rc, two = secs(f, f->total) >= SPLIT_MIN_SECS && split > SPLIT_PREROLL, on = 0;

	free(f->waudio);
	free(f->waudio2);
	f->waudio = fm_xasprintf("%s/audio.m4a", f->work);
	f->waudio2 = two ? fm_xasprintf("%s/audio2.m4a", f->work) : NULL;
	av_bprint_init(&a, 0, AV_BPRINT_SIZE_UNLIMITED);
	av_bprint_init(&b, 0, AV_BPRINT_SIZE_UNLIMITED);
	snprintf(trim, sizeof(trim), ",atrim=end_sample=%lld", (long long)(split + SPLIT_PREROLL));
	audio_graph(&a, f, two ? trim : "");
	loudness_filter(&a, f);
	if (two) {
		snprintf(trim, sizeof(trim), ",atrim=start_sample=%lld,asetpts=N/SR/TB",
			 (long long)(split - SPLIT_PREROLL));
		audio_graph(&b, f, trim);
		loudness_filter(&b, f);
	}
	stage(f, "audio", 30, 65);
	if (!av_bprint_is_complete(&a) || !av_bprint_is_complete(&b)) {
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory for a graph");
		goto out;
	}
	if (two) {
		h.f = f;
		h.graph = b.str;
		h.path = f->waudio2;
		on = pthread_create(&t, NULL, half_main, &h) == 0;
		if (!on)
			half_main(&h);
	}
	render_init(&r, f, a.str, f->waudio, secs(f, f->total) / (two ? 2 : 1), 0);
	r.progress = on_progress;
	rc = fm_render_run(&r, err);
	if (on)
		pthread_join(t, NULL);
	/* the half that failed first says why; the other was stopped */
	if (two && h.rc < 0 && (rc == 0 || err->code == FM_TASK_CANCELLED) && !f->user_cancel)
		fm_error_move(err, &h.err);
	if (two && h.rc < 0)
		rc = -1;
	c->audio = f->waudio;
	c->audio2 = f->waudio2;
	c->split = split;
	c->preroll = SPLIT_PREROLL;
	c->split_rate = AUDIO_RATE;
out:
	fm_error_release(&h.err);
	av_bprint_finalize(&a, NULL);
	av_bprint_finalize(&b, NULL);
	return rc;
}

/* What every join into the film says of it: where, its rate, its chapters, its stop. */
static void film_concat(struct fm_concat *c, struct film *f, const struct chapters *ch)
{
	c->path = f->wfilm;
	c->fps_num = f->fps.num;
	c->fps_den = f->fps.den;
	c->nchapters = (int)f->n;
	c->chapter_start = ch->start;
	c->chapter_end = ch->end;
	c->chapter_title = (const char *const *)ch->title;
	c->title = ch->film;
	c->cancelled = on_cancelled;
	c->ctx = f;
}

/*
 * The video copied, with the scenes' own sound copied too when
 * decide_audio said so, or else the film's sound encoded. A join the
 * copy finds would not be clean (fm_concat_copy) turns it to encoding.
 */
static int write_copy(struct film *f, const struct chapters *ch, struct fm_error *err)
{
	struct fm_concat c = {0};
	const char **inputs = fm_xcalloc(f->n, sizeof(char *));
	int64_t *frames = fm_xcalloc(f->n, sizeof(int64_t));
	size_t i, unclean = 0;
	int rc = -1;

	for (i = 0; i < f->n; i++) {
		inputs[i] = f->s[i].clip;
		frames[i] = f->s[i].frames;
	}
	film_concat(&c, f, ch);
	c.inputs = inputs;
	c.frames = frames;
	c.n = f->n;
	c.progress = on_progress;
	if (f->audio_copy) {
		stage(f, "video", 30, 98);
		c.copy_audio = 1;
		c.join_quiet = pow(10, JOIN_QUIET_DB / 20);
		c.unclean = &unclean;
		if ((rc = fm_concat_copy(&c, err)) == 0 || err->code == FM_TASK_CANCELLED)
			goto out;
		if (unclean)
			snprintf(
			    f->audio_reason, sizeof(f->audio_reason),
			    "not copied: the sound of scenes '%s' and '%s' would not join cleanly "
			    "(louder than %.0f dBFS where the first one's file ends)",
			    f->s[unclean - 1].id, f->s[unclean].id, JOIN_QUIET_DB);
		else /* the file said otherwise than its packets: encoding reads them anew */
			snprintf(f->audio_reason, sizeof(f->audio_reason),
				 "copying it failed: %.200s", err->message);
		encode_instead(f);
		fm_error_release(err);
		c.copy_audio = 0;
	}
	if ((rc = encode_audio(f, &c, err)) < 0)
		goto out;
	stage(f, "video", 65, 98);
	rc = fm_concat_copy(&c, err);
out:
	free(inputs);
	free(frames);
	return rc;
}

/* The video thread's progress, for the main one to report. */
static void on_video_progress(void *ctx, double percent, int64_t frames)
{
	(void)percent;
	atomic_store(&((struct film *)ctx)->vframes, frames);
}

/* The video thread: a re-encoded film's pictures, without sound, into wvideo. */
static void *video_main(void *arg)
{
	struct film *f = arg;
	struct fm_render r;
	AVBPrint bp;

	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	video_graph(&bp, f);
	render_init(&r, f, bp.str, f->wvideo, secs(f, f->total), 1);
	r.progress = on_video_progress;
	f->vrc = av_bprint_is_complete(&bp) ? fm_render_run(&r, &f->verr)
					    : fm_error(&f->verr, FM_RESOURCE_PROCESSING_ERROR,
						       "out of memory for a graph");
	av_bprint_finalize(&bp, NULL);
	if (f->vrc < 0)
		atomic_store(&f->stop, 1);
	atomic_store(&f->vdone, 1);
	return NULL;
}

/*
 * Starts rendering a re-encoded film's pictures on their own thread, at
 * once: they need nothing of the sound. x264 keeps both cores busy; the
 * sound, mixed, measured and encoded meanwhile, is off its path.
 */
static void start_video(struct film *f)
{
	if (f->copy)
		return;
	f->wvideo = fm_xasprintf("%s/video.mp4", f->work);
	f->video_on = pthread_create(&f->video, NULL, video_main, f) == 0;
}

/* Waits for the video thread, reporting its frames; its failure is the film's. */
static int await_video(struct film *f, struct fm_error *err)
{
	struct timespec nap = {0, 5 * 1000 * 1000};
	double shown = 0;

	while (!atomic_load(&f->vdone)) {
		if (on_cancelled(f) && !atomic_load(&f->vdone))
			break;
		if (fm_now() - shown >= 0.2) {
			int64_t n = atomic_load(&f->vframes);

			shown = fm_now();
			on_progress(f, 100.0 * n / (f->total ? f->total : 1), n);
		}
		nanosleep(&nap, NULL);
	}
	pthread_join(f->video, NULL);
	f->video_on = 0;
	if (f->vrc < 0 && !f->user_cancel) {
		fm_error_move(err, &f->verr);
		return -1;
	}
	if (f->user_cancel)
		return fm_error(err, FM_TASK_CANCELLED, "combining was cancelled");
	return 0;
}

/*
 * A re-encoded film: its sound encoded while the video thread renders
 * its pictures, the two then muxed by stream copy with the chapters.
 * Without that thread, one graph renders both.
 */
static int write_reencode(struct film *f, const struct chapters *ch, struct fm_error *err)
{
	struct fm_concat c = {0};
	const char *inputs[1];
	int64_t frames[1];
	struct fm_render r;
	AVBPrint bp;
	int rc;

	if (f->video_on || f->vdone) {
		/* a failure here stops the video thread (run joins it) */
		if (encode_audio(f, &c, err) < 0)
			return -1;
		stage(f, "encode", 65, 98);
		if (f->video_on && await_video(f, err) < 0)
			return -1;
		if (f->vrc < 0) {
			fm_error_move(err, &f->verr);
			return -1;
		}
		inputs[0] = f->wvideo;
		frames[0] = f->total;
		film_concat(&c, f, ch);
		c.inputs = inputs;
		c.frames = frames;
		c.n = 1;
		return fm_concat_copy(&c, err);
	}
	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	video_graph(&bp, f);
	av_bprintf(&bp, ";");
	audio_graph(&bp, f, "");
	loudness_filter(&bp, f);
	stage(f, "encode", 30, 98);
	render_init(&r, f, bp.str, f->wfilm, secs(f, f->total), 0);
	r.progress = on_progress;
	r.nchapters = (int)f->n;
	r.chapter_start = ch->start;
	r.chapter_end = ch->end;
	r.chapter_title = (const char *const *)ch->title;
	r.title = ch->film;
	rc = fm_render_run(&r, err);
	av_bprint_finalize(&bp, NULL);
	return rc;
}

/*
 * Once the true peak is known: a film whose sound went by the sample
 * peak and would have needed the limiter (or, copied, is over the
 * ceiling) is written again. Seldom: the true peak of a mix is rarely
 * more than a fraction of a dB over its sample peak.
 */
static int check_true_peak(struct film *f, const struct chapters *ch, struct fm_error *err)
{
	if (await_true_peak(f, err) < 0)
		return -1;
	if (f->audio_copy && f->measured_tp > LOUD_TP) {
		snprintf(f->audio_reason, sizeof(f->audio_reason),
			 "measured %.1f LUFS, within %.1f LU of the target %.1f LUFS, but its true "
			 "peak %.1f dBTP is over %.1f dBTP",
			 f->measured_i, LOUD_TOLERANCE, f->target, f->measured_tp, LOUD_TP);
		encode_instead(f);
	} else if (f->audio_copy || f->gain == 0 || f->limited ||
		   !(f->measured_tp + f->gain > LOUD_TP)) {
		return 0;
	}
	return f->copy ? write_copy(f, ch, err) : write_reencode(f, ch, err);
}

/* --- beside the film ------------------------------------------------------ */

static void srt_time(AVBPrint *bp, double t)
{
	long long ms = llrint(t * 1000);

	av_bprintf(bp, "%02lld:%02lld:%02lld,%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
		   ms % 1000);
}

/*
 * A scene's text as the lines of one cue, or NULL when it has none. A
 * blank line ends a cue in SRT, and a line with "-->" reads as the next
 * cue's times, so blank and white lines are dropped (CR LF, CR, a lone
 * CR made line ends) and "-->" is written "->": what follows would
 * otherwise be read as cues of its own.
 */
static char *cue_text(const char *text)
{
	char *out = fm_xmalloc(strlen(text ? text : "") + 1), *d = out;
	const char *p = text, *line;
	size_t n, k;

	while (p && *p) {
		line = p;
		n = strcspn(p, "\r\n");
		p += n;
		p += *p == '\r' && p[1] == '\n' ? 2 : *p != '\0';
		while (n && isspace((unsigned char)line[n - 1]))
			n--;
		if (!n)
			continue;
		if (d > out)
			*d++ = '\n';
		for (k = 0; k < n; k++) {
			/* "--->" too: one dash is left before '>' */
			while (line[k] == '>' && d - out >= 2 && d[-1] == '-' && d[-2] == '-')
				d--;
			*d++ = line[k];
		}
	}
	*d = '\0';
	if (d == out) {
		free(out);
		return NULL;
	}
	return out;
}

static int write_srt(struct film *f, const char *path, struct fm_error *err)
{
	AVBPrint bp;
	size_t i;
	int cue = 0, rc;

	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	for (i = 0; i < f->n; i++) {
		char *text = cue_text(f->s[i].text);

		if (!text)
			continue;
		av_bprintf(&bp, "%d\n", ++cue);
		srt_time(&bp, secs(f, f->s[i].start));
		av_bprintf(&bp, " --> ");
		srt_time(&bp, secs(f, scene_end(f, i)));
		av_bprintf(&bp, "\n%s\n\n", text);
		free(text);
	}
	rc = av_bprint_is_complete(&bp)
		 ? fm_write_file(path, bp.str, bp.len, err)
		 : fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "out of memory for '%s'", path);
	av_bprint_finalize(&bp, NULL);
	return rc;
}

static int thumbnails(struct film *f, int helper, struct fm_error *err)
{
	int th = (int)(THUMB_WIDTH * (int64_t)f->height / f->width) & ~1;
	size_t i;

	for (i = 0; i < f->n; i++) {
		struct scene *s = &f->s[i];
		AVBPrint bp;

		av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
		movie(&bp, "movie", s->clip);
		av_bprintf(&bp, ":seek_point=%.3f,", s->probe.duration / 2);
		av_bprintf(&bp,
			   "scale=%d:%d:force_original_aspect_ratio=decrease,"
			   "pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1[v]",
			   THUMB_WIDTH, th ? th : 2, THUMB_WIDTH, th ? th : 2);
		if (render_graph(f, &bp, s->thumb, 0, helper, err) < 0)
			return scene_error(err, s, s->clip);
	}
	return 0;
}

/* Scene i's tile of the contact sheet, numbered for image2's pattern. */
static char *tile_path(const struct film *f, size_t i)
{
	return fm_xasprintf("%s/tile-%06zu.png", f->work, i);
}

/* A caption's lines, as fm_render_text made them, at one font size. */
struct caption {
	int font_size;
	int nlines;
	char *line[CAPTION_LINES];
};

/* The rest of a caption from s, cut to fit max with an ellipsis. */
static char *ellipsized(const char *s, int max)
{
	int room = max - fm_render_text_width("\xe2\x80\xa6", 3), width = 0;
	const char *p = s, *space = NULL;
	size_t n;

	for (; *p; p += n) {
		int cw;

		n = 1;
		while ((p[n] & 0xc0) == 0x80)
			n++;
		cw = fm_render_text_width(p, n);
		if (width + cw > room)
			break;
		if (*p == ' ')
			space = p;
		width += cw;
	}
	/* cut after a whole word, unless that loses half the line */
	if (space && space - s >= (p - s) / 2)
		p = space;
	while (p > s && p[-1] == ' ')
		p--;
	return fm_xasprintf("%.*s\xe2\x80\xa6", (int)(p - s), s);
}

/* Lays label out for a tile tw pixels wide whose font size is fs0 at most. */
static void caption_layout(struct caption *c, const char *label, int tw, int fs0)
{
	int least = FFMIN(fs0, FFMAX(CAPTION_MIN_FONT, fs0 * 2 / 3)), max = 1, n = 0, i;
	struct fm_text_line line[CAPTION_LINES];
	char *text = fm_render_text(label, 0);

	for (c->font_size = fs0; c->font_size >= least; c->font_size--) {
		max = FFMAX(1, (tw - 2 * CAPTION_MARGIN) * 100 / c->font_size);
		n = fm_render_wrap(text, max, line, CAPTION_LINES);
		if (n <= CAPTION_LINES)
			break;
	}
	c->font_size = FFMAX(c->font_size, least);
	c->nlines = FFMIN(n, CAPTION_LINES);
	for (i = 0; i < c->nlines; i++)
		c->line[i] = i == CAPTION_LINES - 1 && n > CAPTION_LINES
				 ? ellipsized(text + line[i].off, max)
				 : fm_xasprintf("%.*s", (int)line[i].len, text + line[i].off);
	free(text);
}

static void caption_release(struct caption *c)
{
	int i;

	for (i = 0; i < c->nlines; i++)
		free(c->line[i]);
}

/*
 * Scene i's caption "N  Title" in a dark band along the bottom of a tile
 * tw x th: the band is a seventh of the tile for one line and grows by a
 * line for the second. Each line is its own drawtext, its baseline set,
 * as titlecard does, so lines with and without capitals sit evenly.
 */
static void caption(AVBPrint *bp, const struct film *f, size_t i, int tw, int th)
{
	char *label = fm_xasprintf("%zu  %s", i + 1, f->s[i].title);
	struct caption c;
	int pitch, band, top, k;

	caption_layout(&c, label, tw, FFMAX(1, th / 12));
	pitch = c.font_size * 5 / 4;
	band = FFMAX(1, FFMIN(th, th / 7 + (c.nlines - 1) * pitch));
	top = th - band + (band - c.nlines * pitch) / 2;
	av_bprintf(bp, ",drawbox=y=%d:w=iw:h=%d:color=black@0.6:t=fill", th - band, band);
	for (k = 0; k < c.nlines; k++) {
		char *text = fm_render_drawtext(c.line[k], 0);

		av_bprintf(bp,
			   ",drawtext=font=Sans:fontcolor=white:fontsize=%d:x=%d:y=%d-ascent:%s",
			   c.font_size, CAPTION_MARGIN,
			   top + k * pitch + pitch / 2 + c.font_size * 7 / 20, text);
		free(text);
	}
	caption_release(&c);
	free(label);
}

/*
 * The contact sheet: each thumbnail labelled into its own tile, then
 * the tiles read back as one image sequence, so the sheet's graph has
 * one source however many scenes there are.
 */
static int contact_sheet(struct film *f, const char *path, int helper, struct fm_error *err)
{
	int cols = (int)ceil(sqrt((double)f->n)), rows = (int)((f->n + cols - 1) / cols);
	int tw = FFMIN(THUMB_WIDTH, SHEET_WIDTH / cols) & ~1;
	int th = FFMAX(2, (int)(tw * (int64_t)f->height / f->width) & ~1);
	AVBPrint bp, pattern;
	size_t i;
	char *p;

	for (i = 0; i < f->n; i++) {
		char *tile = tile_path(f, i);
		int rc;

		av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
		movie(&bp, "movie", f->s[i].thumb);
		av_bprintf(&bp, ",scale=%d:%d,format=rgb24", tw, th);
		caption(&bp, f, i, tw, th);
		av_bprintf(&bp, "[v]");
		rc = render_graph(f, &bp, tile, 0, helper, err);
		free(tile);
		if (rc < 0)
			return -1;
	}
	/*
	 * The one source that reads an image sequence, on purpose: the tiles
	 * just drawn, in our own folder. In image2's pattern a literal % in
	 * the folder's name is written %%.
	 */
	av_bprint_init(&pattern, 0, AV_BPRINT_SIZE_UNLIMITED);
	for (p = f->work; *p; p++)
		av_bprintf(&pattern, "%s", *p == '%' ? "%%" : (char[]){*p, 0});
	av_bprintf(&pattern, "/tile-%%06d.png");
	av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
	av_bprintf(&bp, "movie=");
	quoted(&bp, pattern.str);
	av_bprintf(&bp, ":f=image2:format_opts=");
	quoted(&bp, "pattern_type=sequence:protocol_whitelist=file");
	av_bprintf(&bp, ",tile=%dx%d:padding=4:margin=4:color=0x101010[v]", cols, rows);
	av_bprint_finalize(&pattern, NULL);
	return render_graph(f, &bp, path, 0, helper, err);
}

/* The helper thread: its share of the mixing, the true peak, then the pictures. */
static void *helper_main(void *arg)
{
	struct film *f = arg;

	f->hrc = mix_parts(f, 1, &f->herr);
	if (f->hrc == 0)
		f->hrc = true_peak(f, 1, &f->herr);
	if (f->hrc == 0)
		f->hrc =
		    thumbnails(f, 1, &f->herr) < 0 || contact_sheet(f, f->wsheet, 1, &f->herr) < 0
			? -1
			: 0;
	if (f->hrc < 0)
		atomic_store(&f->stop, 1);
	return NULL;
}

/*
 * The first pass's measurements and the gain applied; null where
 * unmeasured or not a number (a true peak of -inf), and every
 * measurement null for a silent film.
 */
static json_object *loudness(const struct film *f)
{
	const double v[] = {f->measured_i,	f->measured_lra, f->measured_tp,
			    f->measured_thresh, f->target,	 f->gain};
	static const char *const k[] = {"measured_lufs",      "measured_lra", "measured_true_peak",
					"measured_threshold", "target_lufs",  "gain_db"};
	json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		json_object_object_add(o, k[i], f->silent && i < 4 ? NULL : fm_json_double(v[i]));
	json_object_object_add(o, "silent", json_object_new_boolean(f->silent));
	return o;
}

static json_object *sidecar(struct film *f)
{
	json_object *o = json_object_new_object(), *scenes = json_object_new_array();
	size_t i;

	json_object_object_add(o, "title",
			       json_object_new_string(fm_json_get_string(f->p, "title")
							  ? fm_json_get_string(f->p, "title")
							  : ""));
	json_object_object_add(o, "film", json_object_new_string(f->out));
	json_object_object_add(o, "width", json_object_new_int(f->width));
	json_object_object_add(o, "height", json_object_new_int(f->height));
	json_object_object_add(o, "fps", fm_json_double(av_q2d(f->fps)));
	json_object_object_add(o, "frames", json_object_new_int64(f->total));
	json_object_object_add(o, "duration", fm_json_double(secs(f, f->total)));
	json_object_object_add(o, "path", json_object_new_string(f->copy ? "copy" : "reencode"));
	json_object_object_add(o, "reason", json_object_new_string(f->reason));
	json_object_object_add(o, "audio",
			       json_object_new_string(f->audio_copy ? "copy" : "reencode"));
	json_object_object_add(o, "audio_reason", json_object_new_string(f->audio_reason));
	json_object_object_add(o, "loudness", loudness(f));
	for (i = 0; i < f->n; i++) {
		struct scene *s = &f->s[i];
		json_object *e = json_object_new_object(), *src = json_object_new_object();

		json_object_object_add(e, "id", json_object_new_string(s->id));
		json_object_object_add(e, "title", json_object_new_string(s->title));
		json_object_object_add(e, "start", fm_json_double(secs(f, s->start)));
		json_object_object_add(e, "duration",
				       fm_json_double(secs(f, scene_end(f, i) - s->start)));
		json_object_object_add(e, "frames", json_object_new_int64(s->frames));
		json_object_object_add(e, "transition", json_object_new_string(s->transition));
		if (s->video && !s->failed)
			json_object_object_add(src, "video", json_object_new_string(s->video));
		if (s->image)
			json_object_object_add(src, "image", json_object_new_string(s->image));
		if (s->narration)
			json_object_object_add(src, "narration",
					       json_object_new_string(s->narration));
		json_object_object_add(e, "sources", src);
		json_object_object_add(e, "plugins", fm_json_ref_or_object(s->plugins));
		json_object_object_add(e, "placeholder",
				       json_object_new_boolean(s->failed != NULL));
		if (s->failed)
			json_object_object_add(e, "failed_task", json_object_new_string(s->failed));
		if (s->thumb_out)
			json_object_object_add(e, "thumbnail",
					       json_object_new_string(s->thumb_out));
		json_object_array_add(scenes, e);
	}
	json_object_object_add(o, "scenes", scenes);
	if (f->music)
		json_object_object_add(o, "music", json_object_new_string(f->music));
	return o;
}

static int write_json(json_object *o, const char *path, struct fm_error *err)
{
	size_t len;
	const char *text = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	return fm_write_file(path, text, len, err);
}

/* --- beside -o: checked first, put in place last ------------------------- */

/*
 * Everything a film writes beside -o (the film, its subtitles, sidecar
 * and contact sheet, the thumbnails folder and what is in it) is made in
 * the work folder and put in place only once the whole film has been
 * made, by rename: a film that fails leaves nothing new there, and the
 * last good film stays as it was. A file a film replaces is kept (a hard
 * link in the work folder) until every rename has worked, and put back
 * if one fails. Nothing is written through a symbolic link planted at
 * one of those names: such a name is refused before any work, and the
 * renames go through the folders' descriptors, opened without following
 * one, so a link planted meanwhile is refused too.
 */

static const char *file_kind(mode_t m)
{
	return S_ISREG(m)    ? "a regular file"
	       : S_ISDIR(m)  ? "a directory"
	       : S_ISLNK(m)  ? "a symbolic link"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
			     : "a device";
}

/* What is at path (st, from lstat or fstatat) may be replaced: a regular file, or a folder. */
static int fits(const char *path, const struct stat *st, int dir, struct fm_error *err)
{
	if (S_ISLNK(st->st_mode))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"'%s' is a symbolic link; refusing to write through it", path);
	if (dir && !S_ISDIR(st->st_mode))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"'%s' is %s, not a directory; refusing to write into it", path,
				file_kind(st->st_mode));
	if (!dir && !S_ISREG(st->st_mode))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"'%s' is %s, not a regular file; refusing to replace it", path,
				file_kind(st->st_mode));
	return 0;
}

/* path is absent or fits. */
static int check_target(const char *path, int dir, struct fm_error *err)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR
			   ? 0
			   : fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				      "cannot look at '%s':", path);
	return fits(path, &st, dir, err);
}

static int has_text(const struct film *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		char *text = cue_text(f->s[i].text);
		int some = text != NULL;

		free(text);
		if (some)
			return 1;
	}
	return 0;
}

/* Where each file beside -o goes and is made; every name checked before any work. */
static int plan_beside(struct film *f, struct fm_error *err)
{
	const char *name = strrchr(f->out, '/') + 1;
	size_t i;

	f->srt = fm_xasprintf("%s.srt", f->base);
	f->json = fm_xasprintf("%s.json", f->base);
	f->sheet = fm_xasprintf("%s-contact.png", f->base);
	f->thumbs = fm_xasprintf("%s-thumbs", f->base);
	f->wfilm = fm_xasprintf("%s/%s", f->work, name);
	f->wsrt = fm_xasprintf("%s/film.srt", f->work);
	f->wjson = fm_xasprintf("%s/film.json", f->work);
	f->wsheet = fm_xasprintf("%s/contact.png", f->work);
	for (i = 0; i < f->n; i++) {
		/* the work folder stays flat: filmeto-run empties it if this process dies */
		f->s[i].thumb = fm_xasprintf("%s/thumb-%02zu-%s.png", f->work, i + 1, f->s[i].id);
		f->s[i].thumb_out = fm_xasprintf("%s/%02zu-%s.png", f->thumbs, i + 1, f->s[i].id);
	}
	if (check_target(f->out, 0, err) < 0 || check_target(f->json, 0, err) < 0 ||
	    check_target(f->sheet, 0, err) < 0 || check_target(f->thumbs, 1, err) < 0 ||
	    (has_text(f) && check_target(f->srt, 0, err) < 0))
		return -1;
	for (i = 0; i < f->n; i++)
		if (check_target(f->s[i].thumb_out, 0, err) < 0)
			return -1;
	return 0;
}

static void add_place(struct film *f, const char *from, const char *path, int dirfd)
{
	struct place *p = &f->places[f->nplaces++];

	p->from = fm_xstrdup(from);
	p->path = fm_xstrdup(path);
	p->dirfd = dirfd;
	p->name = fm_xstrdup(strrchr(path, '/') + 1);
}

/* The renames done so far undone, last first; what they replaced put back. */
static void take_back(struct film *f)
{
	size_t k;

	for (k = f->nplaces; k-- > 0;) {
		struct place *p = &f->places[k];

		if (!p->done)
			continue;
		if (p->backup)
			renameat(AT_FDCWD, p->backup, p->dirfd, p->name);
		else
			unlinkat(p->dirfd, p->name, 0);
		p->done = 0;
	}
	if (f->made_thumbs)
		unlinkat(f->dirfd, strrchr(f->thumbs, '/') + 1, AT_REMOVEDIR);
	f->made_thumbs = 0;
}

static void places_release(struct film *f)
{
	size_t k;

	for (k = 0; k < f->nplaces; k++) {
		free(f->places[k].from);
		free(f->places[k].path);
		free(f->places[k].name);
		free(f->places[k].backup);
	}
	free(f->places);
	f->places = NULL;
	f->nplaces = 0;
	if (f->thumbsfd >= 0)
		close(f->thumbsfd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	f->thumbsfd = f->dirfd = -1;
}

/* The folder of -o, and the thumbnails folder in it (made when absent), as descriptors. */
static int open_folders(struct film *f, struct fm_error *err)
{
	const char *tname = strrchr(f->thumbs, '/') + 1;
	char *parent = fm_xstrndup(f->out, (size_t)(strrchr(f->out, '/') - f->out));
	struct stat st;

	f->dirfd = open(*parent ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (f->dirfd < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot open the folder of '%s':", f->out);
	if (fstatat(f->dirfd, tname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (fits(f->thumbs, &st, 1, err) < 0)
			return -1;
	} else if (mkdirat(f->dirfd, tname, 0777) == 0) {
		f->made_thumbs = 1;
	} else if (errno != EEXIST) {
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot make '%s':", f->thumbs);
	}
	f->thumbsfd = openat(f->dirfd, tname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (f->thumbsfd < 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot open '%s' as a directory of its own:", f->thumbs);
	return 0;
}

/* One rename into place, keeping what it replaces. */
static int place_one(struct film *f, struct place *p, struct fm_error *err)
{
	struct stat st;

	if (fstatat(p->dirfd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (fits(p->path, &st, 0, err) < 0)
			return -1;
		p->backup = fm_xasprintf("%s/old-%zu", f->work, (size_t)(p - f->places));
		if (linkat(p->dirfd, p->name, AT_FDCWD, p->backup, 0) != 0) {
			free(p->backup);
			p->backup = NULL;
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"cannot keep '%s' to put it back:", p->path);
		}
	} else if (errno != ENOENT) {
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot look at '%s':", p->path);
	}
	if (renameat(AT_FDCWD, p->from, p->dirfd, p->name) != 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot put '%s' in place:", p->path);
	p->done = 1;
	return 0;
}

/* Every file beside -o put in place, the film last; all or none. */
static int put_in_place(struct film *f, int srt, struct fm_error *err)
{
	size_t i;

	f->places = fm_xcalloc(f->n + 4, sizeof(*f->places));
	if (open_folders(f, err) < 0) {
		take_back(f);
		return -1;
	}
	for (i = 0; i < f->n; i++)
		add_place(f, f->s[i].thumb, f->s[i].thumb_out, f->thumbsfd);
	add_place(f, f->wsheet, f->sheet, f->dirfd);
	if (srt)
		add_place(f, f->wsrt, f->srt, f->dirfd);
	add_place(f, f->wjson, f->json, f->dirfd);
	add_place(f, f->wfilm, f->out, f->dirfd);
	for (i = 0; i < f->nplaces; i++)
		if (place_one(f, &f->places[i], err) < 0) {
			take_back(f);
			return -1;
		}
	return 0;
}

/* --- the task ------------------------------------------------------------- */

static int film_init(struct film *f, struct fm_plugin_ctx *ctx, const struct fm_task *t,
		     const char *dir, struct fm_error *err)
{
	const char *out = fm_json_get_string(t->parameters, "output");
	char *slash, *dot, *parent;
	int rc;

	memset(f, 0, sizeof(*f));
	f->dirfd = f->thumbsfd = -1;
	f->measured_tp = NAN;
	f->ctx = ctx;
	f->t = t;
	f->p = t->parameters;
	f->width = (int)fm_json_get_double(f->p, "width", 1280) & ~1;
	f->height = (int)fm_json_get_double(f->p, "height", 720) & ~1;
	fm_frame_rate(fm_json_get_double(f->p, "fps", 25), &f->fps.num, &f->fps.den);
	f->tdur = fm_json_get_double(f->p, "transition_duration", 0.5);
	f->music_db = fm_json_get_double(f->p, "music_volume", -12);
	f->target = fm_json_get_double(f->p, "loudness", -16);
	f->placeholder =
	    json_object_get_boolean(fm_json_get(f->p, "placeholder", json_type_boolean));
	f->out = out && *out ? fm_abspath(out) : fm_xasprintf("%s/film.mp4", dir);
	f->base = fm_xstrdup(f->out);
	slash = strrchr(f->base, '/');
	dot = strrchr(f->base, '.');
	if (dot && (!slash || dot > slash))
		*dot = '\0';
	slash = strrchr(f->out, '/');
	f->work = fm_xasprintf("%.*s/.filmeto-combine-XXXXXX", (int)(slash - f->out), f->out);
	/* The film's directory, which is the task's unless -o says otherwise. */
	parent = fm_xstrndup(f->out, (size_t)(slash - f->out));
	rc = fm_mkdirs(parent, err);
	free(parent);
	if (rc < 0)
		return -1;
	if (!mkdtemp(f->work))
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot make '%s':", f->work);
	/* if this process dies, filmeto-run removes the folder */
	fm_host_scratch(f->work);
	return 0;
}

static void film_release(struct film *f)
{
	size_t i;

	places_release(f);
	for (i = 0; i < f->n && f->s; i++) {
		free(f->s[i].clip);
		free(f->s[i].thumb);
		free(f->s[i].thumb_out);
		json_object_put(f->s[i].plugins);
		fm_probe_release(&f->s[i].probe);
	}
	for (i = 0; i < f->nparts; i++)
		free(f->parts[i].wav);
	free(f->parts);
	/* Clips, parts, tiles, what was not put in place and what it replaced. */
	if (f->work && (fm_tree_remove(f->work) == 0 || errno == ENOENT))
		fm_host_scratch(NULL);
	free(f->s);
	free(f->out);
	free(f->base);
	free(f->work);
	free(f->srt);
	free(f->json);
	free(f->sheet);
	free(f->thumbs);
	free(f->wfilm);
	free(f->wsrt);
	free(f->wjson);
	free(f->wsheet);
	free(f->wvideo);
	free(f->waudio);
	free(f->waudio2);
}

static int add_outputs(struct film *f, struct fm_result *res, int srt, struct fm_error *err)
{
	size_t i;

	if (fm_result_add_output(res, f->out, err) < 0 ||
	    (srt && fm_result_add_output(res, f->srt, err) < 0) ||
	    fm_result_add_output(res, f->sheet, err) < 0 ||
	    fm_result_add_output(res, f->json, err) < 0)
		return -1;
	for (i = 0; i < f->n; i++)
		if (fm_result_add_output(res, f->s[i].thumb_out, err) < 0)
			return -1;
	return 0;
}

static int run(struct film *f, struct fm_result *res, struct fm_error *err)
{
	struct chapters ch = {0};
	json_object *side = NULL;
	int rc = -1, srt;

	if (read_scenes(f, err) < 0 || read_resources(f, err) < 0 || plan_beside(f, err) < 0 ||
	    prepare_scenes(f, err) < 0)
		goto out;
	choose_path(f);
	timeline(f);
	choose_audio(f);
	chapters_init(&ch, f);
	plan_parts(f);
	start_video(f);
	f->helper_on = pthread_create(&f->helper, NULL, helper_main, f) == 0;
	stage(f, "mix", 5, 20);
	/* the helper may still be on its last part */
	if (mix_parts(f, 0, err) < 0 || await_count(f, &f->parts_done, f->nparts, 0, err) < 0)
		goto out;
	stage(f, "measure", 20, 30);
	/* a re-encode is too costly to redo: it waits for the true peak */
	if (measure(f, err) < 0 || (!f->copy && await_true_peak(f, err) < 0))
		goto out;
	decide_audio(f);
	if ((f->copy ? write_copy(f, &ch, err) : write_reencode(f, &ch, err)) < 0 ||
	    check_true_peak(f, &ch, err) < 0)
		goto out;
	if (f->helper_on) {
		pthread_join(f->helper, NULL);
		f->helper_on = 0;
	} else {
		f->hrc =
		    thumbnails(f, 0, &f->herr) < 0 || contact_sheet(f, f->wsheet, 0, &f->herr) < 0
			? -1
			: 0;
	}
	if (f->hrc < 0) {
		fm_error_move(err, &f->herr);
		goto out;
	}
	srt = has_text(f);
	if (srt && write_srt(f, f->wsrt, err) < 0)
		goto out;
	side = sidecar(f);
	if (write_json(side, f->wjson, err) < 0 || put_in_place(f, srt, err) < 0)
		goto out;
	if (add_outputs(f, res, srt, err) < 0) {
		take_back(f);
		goto out;
	}
	json_object_object_add(res->metadata, "path",
			       json_object_new_string(f->copy ? "copy" : "reencode"));
	json_object_object_add(res->metadata, "reason", json_object_new_string(f->reason));
	json_object_object_add(res->metadata, "audio",
			       json_object_new_string(f->audio_copy ? "copy" : "reencode"));
	json_object_object_add(res->metadata, "audio_reason",
			       json_object_new_string(f->audio_reason));
	json_object_object_add(res->metadata, "frames", json_object_new_int64(f->total));
	json_object_object_add(res->metadata, "duration", fm_json_double(secs(f, f->total)));
	json_object_object_add(res->metadata, "scenes", json_object_new_int64((int64_t)f->n));
	json_object_object_add(res->metadata, "loudness", loudness(f));
	fm_plugin_progress(f->ctx, 100, "done", f->copy ? "stream copy" : "re-encoded");
	rc = 0;
out:
	if (f->helper_on || f->video_on)
		atomic_store(&f->stop, 1);
	if (f->helper_on)
		pthread_join(f->helper, NULL);
	if (f->video_on)
		pthread_join(f->video, NULL);
	f->helper_on = f->video_on = 0;
	/*
	 * The helper's failure stopped us: its reason is the real one. When
	 * we failed first, stopping it made its "cancelled", which is not.
	 */
	if (rc < 0 && f->hrc < 0 && !f->user_cancel && err && err->code == FM_TASK_CANCELLED &&
	    f->herr.code != FM_TASK_CANCELLED)
		fm_error_move(err, &f->herr);
	if (rc < 0 && f->vrc < 0 && !f->user_cancel && err && err->code == FM_TASK_CANCELLED &&
	    f->verr.code != FM_TASK_CANCELLED)
		fm_error_move(err, &f->verr);
	fm_error_release(&f->herr);
	fm_error_release(&f->verr);
	json_object_put(side);
	chapters_release(&ch, f->n);
	return rc;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *dir,
		   struct fm_result *res)
{
	struct film f;
	int rc = -1;

	/* A failed run leaves the last good film and its files in place: it writes aside. */
	if (film_init(&f, ctx, t, dir, &res->error) == 0)
		rc = run(&f, res, &res->error);
	film_release(&f);
	return rc;
}
