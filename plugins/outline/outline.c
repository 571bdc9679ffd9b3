/*
 * outline: the bundled native plugin serving text2text, the offline
 * stand-in for an LLM planner. A narration script becomes a storyboard
 * (filmeto-storyboard(5)) in OUTPUT_DIR/storyboard.yaml: one scene per
 * paragraph (paragraphs are separated by blank lines), with the
 * paragraph's first sentence as the prompt, the paragraph as the
 * narration and a duration estimated from its words the way
 * filmeto-submit estimates it.
 *
 * The script must be UTF-8, checked as strictly as libyaml's reader
 * checks, so that whatever is written reads back. The YAML comes from
 * libyaml's emitter with every piece of free text quoted, so no script
 * can change the document's structure or the type of a value.
 *
 * The tests/fuzz/fuzz_outline.c target includes this file with
 * OUTLINE_NO_PLUGIN defined, which leaves out the plugin around
 * outline_build().
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "filmeto.h"

/* Longest script, in bytes: the same as the longest storyboard. */
#define MAX_SCRIPT (1024 * 1024)
/* A scene's prompt and title: its first sentence cut at a word to this. */
#define PROMPT_MAX 120
#define TITLE_MAX  60
/* A first line is a heading only when it is this short. */
#define HEADING_MAX	  80
#define HEADING_WORDS_MAX 12
/* Longest title and music prompt given as parameters, in bytes. */
#define PARAM_TEXT_MAX 1024
/* The film id made from the title: short, so scene task ids stay short. */
#define FILM_ID_MAX 40

struct outline_opts {
	const char *title; /* NULL: the script's heading, else "Untitled" */
	double wps;	   /* words per second */
	double min_duration, max_duration;
	const char *transition; /* cut, fade or crossfade */
	const char *size;	/* WIDTHxHEIGHT, or NULL */
	double fps;		/* 0: not given */
	const char *music;	/* "auto", "none" or a prompt */
};

struct scene {
	char *narration; /* the paragraph, whitespace made single spaces */
	size_t words;
	double duration;
};

struct outline {
	char *heading; /* the script's heading, or NULL */
	struct scene *scene;
	size_t n;
	size_t words;
	double total; /* seconds */
};

/*
 * Strict UTF-8, as libyaml's reader wants it: no overlong forms, no
 * surrogates, nothing past U+10FFFF; and no NUL, which no text param can
 * hold either. Returns the offset of the first bad byte, or len.
 */
static size_t utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], n, k;
		uint32_t cp, lo;

		if (c == 0)
			return i;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, lo = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, lo = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, lo = 0x10000;
		else
			return i;
		if (len - i <= n)
			return i;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < lo || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* Blanks between words: ASCII whitespace and the other control bytes. */
static int is_blank(unsigned char c)
{
	return c <= ' ' || c == 0x7f;
}

static int blank_span(const char *a, const char *b)
{
	for (; a < b; a++)
		if (!is_blank((unsigned char)*a))
			return 0;
	return 1;
}

/* Appends the words of [a, b) to t, single spaces between; counts them. */
static size_t add_words(struct fm_buf *t, const char *a, const char *b)
{
	size_t words = 0;

	while (a < b) {
		const char *w;

		while (a < b && is_blank((unsigned char)*a))
			a++;
		if (a == b)
			break;
		for (w = a; a < b && !is_blank((unsigned char)*a); a++)
			;
		if (t->len)
			fm_buf_add(t, " ", 1);
		fm_buf_add(t, w, (size_t)(a - w));
		words++;
	}
	return words;
}

/* Lines end at LF, CR or CR LF. */
static const char *line_end(const char *p, const char *end)
{
	while (p < end && *p != '\n' && *p != '\r')
		p++;
	return p;
}

static const char *next_line(const char *eol, const char *end)
{
	if (eol < end && *eol == '\r' && eol + 1 < end && eol[1] == '\n')
		return eol + 2;
	return eol < end ? eol + 1 : end;
}

/*
 * The first line as a title when it reads like one: a paragraph of its
 * own, short, not ending like a sentence or a lead-in, with more text
 * after it. A markdown "# " is taken off. Returns where the script goes
 * on, or s when there is no heading.
 */
static const char *take_heading(struct outline *ol, const char *s, const char *end)
{
	const char *p = s, *eol, *next;
	struct fm_buf t = FM_BUF_INIT;
	size_t words, hashes;

	while (p < end && blank_span(p, line_end(p, end)))
		p = next_line(line_end(p, end), end);
	eol = line_end(p, end);
	next = next_line(eol, end);
	if (!blank_span(next, line_end(next, end)))
		return s;
	words = add_words(&t, p, eol);
	hashes = t.len ? strspn(t.s, "#") : 0;
	if (hashes && hashes <= 6 && t.s[hashes] == ' ') {
		memmove(t.s, t.s + hashes + 1, t.len - hashes);
		t.len -= hashes + 1;
		words--;
	}
	if (!t.len || t.len > HEADING_MAX || words > HEADING_WORDS_MAX ||
	    strchr(".!?,;:", t.s[t.len - 1]) || blank_span(eol, end)) {
		fm_buf_release(&t);
		return s;
	}
	ol->heading = fm_buf_detach(&t, NULL);
	return next;
}

static double scene_duration(size_t words, const struct outline_opts *o)
{
	/* lib/storyboard.c's estimate: said in full, up to a half second */
	double d = ceil((words / o->wps + 0.5) * 2) / 2;

	return fmin(fmax(d, o->min_duration), o->max_duration);
}

static int end_paragraph(struct outline *ol, struct fm_buf *t, size_t words,
			 const struct outline_opts *o, struct fm_error *err)
{
	struct scene *sc;

	if (!t->len)
		return 0;
	if (ol->n == FM_SCENES_MAX) {
		fm_buf_release(t);
		return fm_error(err, FM_VALIDATION_ERROR,
				"script: more than %d paragraphs; a storyboard has at most %d "
				"scenes (rule: max)",
				FM_SCENES_MAX, FM_SCENES_MAX);
	}
	if (!ol->scene)
		ol->scene = fm_xcalloc(FM_SCENES_MAX, sizeof(*ol->scene));
	sc = &ol->scene[ol->n++];
	sc->narration = fm_buf_detach(t, NULL);
	sc->words = words;
	sc->duration = scene_duration(words, o);
	ol->words += words;
	ol->total += sc->duration;
	return 0;
}

/* Paragraphs of script [s, end) into scenes. */
static int split(struct outline *ol, const char *s, const char *end, const struct outline_opts *o,
		 struct fm_error *err)
{
	struct fm_buf t = FM_BUF_INIT;
	size_t words = 0;

	while (s < end) {
		const char *eol = line_end(s, end);

		if (blank_span(s, eol)) {
			if (end_paragraph(ol, &t, words, o, err) < 0)
				return -1;
			words = 0;
		} else {
			words += add_words(&t, s, eol);
		}
		s = next_line(eol, end);
	}
	if (end_paragraph(ol, &t, words, o, err) < 0)
		return -1;
	if (!ol->n)
		return fm_error(err, FM_VALIDATION_ERROR, "script: no words to narrate");
	return 0;
}

static void outline_release(struct outline *ol)
{
	size_t i;

	for (i = 0; i < ol->n; i++)
		free(ol->scene[i].narration);
	free(ol->scene);
	free(ol->heading);
	memset(ol, 0, sizeof(*ol));
}

/* Bytes of the first sentence of normalised text t. */
static size_t first_sentence(const char *t)
{
	static const char *const cjk[] = {"\u3002", "\uff01", "\uff1f", NULL};
	size_t i, k;

	for (i = 0; t[i]; i++) {
		if (strchr(".!?", t[i]) && (t[i + 1] == ' ' || !t[i + 1]))
			return i + 1;
		for (k = 0; cjk[k]; k++)
			if (!strncmp(t + i, cjk[k], strlen(cjk[k])))
				return i + strlen(cjk[k]);
	}
	return i;
}

/* len cut to at most max bytes: at the last space, else between characters. */
static size_t cut(const char *t, size_t len, size_t max)
{
	size_t k;

	if (len <= max)
		return len;
	for (k = max; k > 0; k--)
		if (t[k] == ' ')
			return k;
	for (k = max; k > 0 && ((unsigned char)t[k] & 0xc0) == 0x80; k--)
		;
	return k;
}

static char *scene_prompt(const char *narration)
{
	size_t n = first_sentence(narration);

	return fm_xstrndup(narration, cut(narration, n, PROMPT_MAX));
}

/* A short title: the first sentence, cut shorter, without its full stop. */
static char *scene_title(const char *narration)
{
	size_t n = cut(narration, first_sentence(narration), TITLE_MAX);

	while (n > 1 && strchr(".!?,;:", narration[n - 1]))
		n--;
	return fm_xstrndup(narration, n);
}

/*
 * Music from the script's mood: the mood with the most of its words wins,
 * the first in the table on a tie, calm when none is found. Words match
 * a stem with one of a few English endings.
 */
static const struct mood {
	const char *music;
	const char *const stems[13];
} moods[] = {
    {"calm piano",
     {"calm", "quiet", "peace", "gentle", "soft", "still", "slow", "sleep", "evening", "dusk",
      "sea", "rain", NULL}},
    {"tense strings",
     {"storm", "dark", "night", "fear", "danger", "shadow", "afraid", "threat", "war", "scream",
      "cold", "chase", NULL}},
    {"melancholy cello",
     {"sad", "loss", "lost", "alone", "tear", "grief", "remember", "memory", "goodbye", "death",
      "empty", "miss", NULL}},
    {"upbeat acoustic guitar",
     {"happy", "joy", "laugh", "sun", "bright", "smile", "play", "dance", "friend", "summer",
      "celebrate", "fun", NULL}},
    {"epic orchestral",
     {"hero", "battle", "rise", "mountain", "journey", "triumph", "brave", "victory", "fight",
      "king", "legend", "quest", NULL}},
    {"curious ambient synth",
     {"wonder", "discover", "space", "star", "future", "machine", "science", "explore", "mystery",
      "secret", "strange", "dream", NULL}},
};

static int stem_match(const char *w, size_t n, const char *stem)
{
	static const char *const endings[] = {"",  "s",	 "es", "d",   "ed",   "ing",
					      "y", "ly", "er", "ful", "ness", NULL};
	size_t k = strlen(stem), i;

	if (n < k || strncmp(w, stem, k))
		return 0;
	for (i = 0; endings[i]; i++)
		if (strlen(endings[i]) == n - k && !strncmp(w + k, endings[i], n - k))
			return 1;
	return 0;
}

static const char *mood_music(const struct outline *ol)
{
	size_t count[sizeof(moods) / sizeof(moods[0])] = {0}, best = 0, i, m, k;
	char w[32];

	for (i = 0; i < ol->n; i++) {
		const char *p = ol->scene[i].narration;

		while (*p) {
			size_t n = 0;

			for (; *p && !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'); p++)
				;
			for (; (*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'; p++)
				if (n < sizeof(w))
					w[n++] = (char)(*p | 0x20);
			if (!n || n == sizeof(w))
				continue;
			for (m = 0; m < sizeof(moods) / sizeof(moods[0]); m++)
				for (k = 0; moods[m].stems[k]; k++)
					count[m] += stem_match(w, n, moods[m].stems[k]);
		}
	}
	for (m = 1; m < sizeof(moods) / sizeof(moods[0]); m++)
		if (count[m] > count[best])
			best = m;
	return moods[best].music;
}

static int write_out(void *data, unsigned char *buffer, size_t size)
{
	fm_buf_add(data, buffer, size);
	return 1;
}

/*
 * A scalar: free text quoted (plain_implicit 0 makes the emitter quote
 * it), keys, ids, enums and numbers plain.
 */
static int scalar(yaml_emitter_t *e, const char *s, int text)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), !text,
					  1, YAML_ANY_SCALAR_STYLE))
		return -1;
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int pair(yaml_emitter_t *e, const char *key, const char *val, int text)
{
	return scalar(e, key, 0) < 0 || scalar(e, val, text) < 0 ? -1 : 0;
}

/* Text that reads back as d: "7.5", "20", "2.3"; seconds need no exponent. */
static int number_pair(yaml_emitter_t *e, const char *key, double d)
{
	char s[32];

	snprintf(s, sizeof(s), "%.15g", d);
	if (strtod(s, NULL) != d)
		snprintf(s, sizeof(s), "%.17g", d);
	return pair(e, key, s, 0);
}

static int start(yaml_emitter_t *e, int mapping)
{
	yaml_event_t ev;

	if (mapping)
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	else
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int stop(yaml_emitter_t *e, int mapping)
{
	yaml_event_t ev;

	if (mapping)
		yaml_mapping_end_event_initialize(&ev);
	else
		yaml_sequence_end_event_initialize(&ev);
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int emit_scene(yaml_emitter_t *e, const struct scene *sc, size_t i,
		      const struct outline_opts *o)
{
	char id[32], *title = scene_title(sc->narration), *prompt = scene_prompt(sc->narration);
	/* into the film from black: a crossfade needs a scene before it */
	const char *tr = i == 0 && strcmp(o->transition, "cut") ? "fade" : o->transition;
	int r = -1;

	snprintf(id, sizeof(id), "scene%zu", i + 1);
	if (start(e, 1) == 0 && pair(e, "id", id, 0) == 0 && pair(e, "title", title, 1) == 0 &&
	    pair(e, "prompt", prompt, 1) == 0 && pair(e, "narration", sc->narration, 1) == 0 &&
	    number_pair(e, "duration", sc->duration) == 0 && pair(e, "transition", tr, 0) == 0)
		r = stop(e, 1);
	free(title);
	free(prompt);
	return r;
}

/*
 * The film's id, the prefix of its task ids: the title in lower case, runs
 * of anything but ASCII letters and digits made one '-'; "" when nothing
 * is left, and filmeto-submit names the film after the file.
 */
static void film_id(char *id, size_t size, const char *title)
{
	size_t n = 0;

	for (; *title && n + 1 < size; title++) {
		char c = *title;

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			id[n++] = c;
		else if (c >= 'A' && c <= 'Z')
			id[n++] = (char)(c | 0x20);
		else if (n && id[n - 1] != '-')
			id[n++] = '-';
	}
	while (n && id[n - 1] == '-')
		n--;
	id[n] = '\0';
}

static int emit_film(yaml_emitter_t *e, const struct outline *ol, const struct outline_opts *o)
{
	const char *title = o->title ? o->title : ol->heading ? ol->heading : "Untitled";
	const char *music = !strcmp(o->music, "auto") ? mood_music(ol) : o->music;
	char id[FILM_ID_MAX + 1];
	yaml_event_t ev;
	size_t i;

	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(e, &ev))
		return -1;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	film_id(id, sizeof(id), title);
	if (!yaml_emitter_emit(e, &ev) || start(e, 1) < 0 || (*id && pair(e, "id", id, 0) < 0) ||
	    pair(e, "title", title, 1) < 0 || (o->size && pair(e, "size", o->size, 1) < 0) ||
	    (o->fps > 0 && number_pair(e, "fps", o->fps) < 0) ||
	    (strcmp(music, "none") && pair(e, "music", music, 1) < 0) ||
	    scalar(e, "scenes", 0) < 0 || start(e, 0) < 0)
		return -1;
	for (i = 0; i < ol->n; i++)
		if (emit_scene(e, &ol->scene[i], i, o) < 0)
			return -1;
	if (stop(e, 0) < 0 || stop(e, 1) < 0)
		return -1;
	yaml_document_end_event_initialize(&ev, 1);
	if (!yaml_emitter_emit(e, &ev))
		return -1;
	yaml_stream_end_event_initialize(&ev);
	return yaml_emitter_emit(e, &ev) && yaml_emitter_flush(e) ? 0 : -1;
}

static int emit(const struct outline *ol, const struct outline_opts *o, struct fm_buf *out,
		struct fm_error *err)
{
	yaml_emitter_t e;
	int r;

	if (!yaml_emitter_initialize(&e))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	yaml_emitter_set_output(&e, write_out, out);
	yaml_emitter_set_unicode(&e, 1);
	r = emit_film(&e, ol, o);
	if (r < 0)
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write the storyboard: %s",
			 e.problem ? e.problem : "libyaml failed");
	yaml_emitter_delete(&e);
	return r;
}

/*
 * The storyboard for script (len bytes): *yaml gets the document (freed
 * by the caller), ol the scenes. The options must have been checked.
 */
static int outline_build(const char *script, size_t len, const struct outline_opts *o,
			 struct outline *ol, char **yaml, size_t *yaml_len, struct fm_error *err)
{
	struct fm_buf out = FM_BUF_INIT;
	size_t bad = utf8_valid((const unsigned char *)script, len);
	const char *end = script + len, *s = script;

	memset(ol, 0, sizeof(*ol));
	*yaml = NULL;
	*yaml_len = 0;
	if (len > MAX_SCRIPT)
		return fm_error(err, FM_VALIDATION_ERROR, "script: longer than %d bytes",
				MAX_SCRIPT);
	if (bad < len)
		return fm_error(err, FM_VALIDATION_ERROR,
				"script: not UTF-8 text (byte %zu) (rule: utf-8)", bad);
	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		s += 3;
	s = take_heading(ol, s, end);
	if (split(ol, s, end, o, err) < 0 || emit(ol, o, &out, err) < 0)
		goto fail;
	if (out.len > FM_STORYBOARD_MAX) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "script: the storyboard would be %zu bytes, more than the %d a "
			 "storyboard may have; split the script",
			 out.len, FM_STORYBOARD_MAX);
		goto fail;
	}
	*yaml = fm_buf_detach(&out, yaml_len);
	return 0;
fail:
	fm_buf_release(&out);
	outline_release(ol);
	return -1;
}

#ifndef OUTLINE_NO_PLUGIN

/* A text parameter, checked; NULL when not given. */
static int param_text(json_object *params, const char *key, const char **out, struct fm_error *err)
{
	const char *s = fm_json_get_string(params, key);
	size_t n = s ? strlen(s) : 0;

	*out = s;
	if (!s)
		return 0;
	if (n > PARAM_TEXT_MAX)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter '%s': longer than %d bytes (rule: max)", key,
				PARAM_TEXT_MAX);
	if (blank_span(s, s + n) || utf8_valid((const unsigned char *)s, n) < n ||
	    strpbrk(s, "\n\r"))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter '%s': must be one line of UTF-8 text", key);
	return 0;
}

static int check_size(const char *size, struct fm_error *err)
{
	int w, h, end = 0;

	if (sscanf(size, "%5d%*1[x]%5d%n", &w, &h, &end) != 2 || size[end] || !strchr(size, 'x') ||
	    strspn(size, "0123456789x") != strlen(size) || w < 16 || w > 8192 || h < 16 || h > 8192)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'size': '%s' is not WIDTHxHEIGHT, each 16 to 8192",
				size);
	return 0;
}

static int read_opts(json_object *p, struct outline_opts *o, struct fm_error *err)
{
	static const char *const transitions[] = {"cut", "fade", "crossfade", NULL};
	size_t i;

	o->wps = fm_json_get_double(p, "words_per_second", 2.5);
	o->min_duration = fm_json_get_double(p, "min_duration", 2);
	o->max_duration = fm_json_get_double(p, "max_duration", 20);
	o->fps = fm_json_get_double(p, "fps", 0);
	o->transition = fm_json_get_string(p, "transition");
	if (!o->transition)
		o->transition = "cut";
	o->size = fm_json_get_string(p, "size");
	if (param_text(p, "title", &o->title, err) < 0 ||
	    param_text(p, "music", &o->music, err) < 0)
		return -1;
	if (!o->music)
		o->music = "auto";
	if (!(o->wps >= 0.1 && o->wps <= 100))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'words_per_second': %g is not in 0.1..100", o->wps);
	if (!(o->min_duration >= 0.5 && o->max_duration <= 600 &&
	      o->min_duration <= o->max_duration))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameters 'min_duration' %g and 'max_duration' %g: need "
				"0.5 <= min_duration <= max_duration <= 600",
				o->min_duration, o->max_duration);
	if (o->fps && !(o->fps >= 1 && o->fps <= 120))
		return fm_error(err, FM_VALIDATION_ERROR, "parameter 'fps': %g is not in 1..120",
				o->fps);
	for (i = 0; transitions[i] && strcmp(transitions[i], o->transition); i++)
		;
	if (!transitions[i])
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'transition': '%s' is not one of cut, fade, crossfade",
				o->transition);
	return o->size ? check_size(o->size, err) : 0;
}

/* The script: parameter text, or the one text resource. */
static int read_script(const struct fm_task *task, char **buf, size_t *len, struct fm_error *err)
{
	const char *text = fm_json_get_string(task->parameters, "text"), *type, *path, *mime;
	size_t nres = task->resources ? json_object_array_length(task->resources) : 0;
	json_object *r;

	if (text && nres)
		return fm_error(err, FM_VALIDATION_ERROR,
				"give the script as parameter 'text' or as a resource, not both");
	if (text) {
		*len = strlen(text);
		if (*len > MAX_SCRIPT)
			return fm_error(err, FM_VALIDATION_ERROR,
					"parameter 'text': longer than %d bytes", MAX_SCRIPT);
		*buf = fm_xstrdup(text);
		return 0;
	}
	if (!nres)
		return fm_error(err, FM_VALIDATION_ERROR,
				"no script: give parameter 'text' or a text file as a resource");
	if (nres > 1)
		return fm_error(err, FM_VALIDATION_ERROR,
				"one script at a time: the task has %zu resources", nres);
	r = json_object_array_get_idx(task->resources, 0);
	type = fm_json_get_string(r, "type");
	path = fm_json_get_string(r, "data");
	mime = fm_json_get_string(r, "mime_type");
	if (!path || !type || strcmp(type, "local_path"))
		return fm_error(err, FM_VALIDATION_ERROR, "resource: must be a local file");
	if (mime && strncmp(mime, "text/", 5) && strcmp(mime, "application/octet-stream"))
		return fm_error(err, FM_VALIDATION_ERROR,
				"resource '%s': %s is not text (rule: text/*)", path, mime);
	return fm_read_file(path, MAX_SCRIPT, buf, len, err);
}

/* Writes dir/storyboard.yaml through a temporary name; *path is absolute. */
static int write_storyboard(const char *dir, const char *yaml, size_t len, char **path,
			    struct fm_error *err)
{
	char *tmp = fm_xasprintf("%s/.storyboard.yaml.%ld.tmp", dir, (long)getpid());
	char *dst = fm_xasprintf("%s/storyboard.yaml", dir);
	FILE *f = NULL;
	int r = -1;

	if (fm_mkdirs(dir, err) < 0)
		goto out;
	f = fopen(tmp, "we");
	if (!f) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot create '%s':", tmp);
		goto out;
	}
	if (fwrite(yaml, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) < 0) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", tmp);
		goto out;
	}
	r = fclose(f);
	f = NULL;
	if (r != 0 || rename(tmp, dst) < 0) {
		r = fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", dst);
		goto out;
	}
	*path = fm_abspath(dst);
out:
	if (f)
		fclose(f);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	return r;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct outline_opts o;
	struct outline ol = {NULL, NULL, 0, 0, 0};
	char *script = NULL, *yaml = NULL, *path = NULL;
	size_t len = 0, yaml_len = 0;
	int r = -1;

	if (read_opts(task->parameters, &o, &res->error) < 0 ||
	    read_script(task, &script, &len, &res->error) < 0)
		return -1;
	fm_plugin_progress(ctx, 10, "outline", "splitting the script into scenes");
	if (outline_build(script, len, &o, &ol, &yaml, &yaml_len, &res->error) < 0)
		goto out;
	fm_plugin_progress(ctx, 90, "write", "writing the storyboard");
	if (write_storyboard(output_dir, yaml, yaml_len, &path, &res->error) < 0)
		goto out;
	fm_result_add_file(res, path);
	json_object_object_add(res->metadata, "scenes", json_object_new_int64((int64_t)ol.n));
	json_object_object_add(res->metadata, "duration", fm_json_double(ol.total));
	json_object_object_add(res->metadata, "words", json_object_new_int64((int64_t)ol.words));
	fm_plugin_log(ctx, "storyboard: %zu scenes, %zu words, %g s", ol.n, ol.words, ol.total);
	r = 0;
out:
	outline_release(&ol);
	free(script);
	free(yaml);
	free(path);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "outline",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	return fm_plugin_main(argc, argv, &def);
}

#endif
