/*
 * synth: the bundled native plugin serving text2music. The words of the
 * prompt set the tempo, the mode and the instrument; a seed (a hash of the
 * prompt unless given) picks the key, the exact tempo, the progression and
 * small variations, so the same parameters give the same file. The bed is
 * synthesized sample by sample: one chord per 4-beat bar, a pad voicing, a
 * bass note on the beats, an arpeggio from 90 bpm, a ping-pong delay for
 * space, fades at both ends and a soft ceiling at -6 dBFS. One second at a
 * time goes through libavcodec's pcm_s16le encoder into libavformat's wav
 * muxer, so an hour-long bed never sits in memory; the file is written
 * under a temporary name and renamed, so a cancelled bed leaves nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/sha.h>

#include "filmeto.h"

/* Longest prompt accepted, in bytes; only its words matter. */
#define MAX_PROMPT 4096
/* Longest bed, in seconds, as in the manifest. */
#define MAX_DURATION 3600
#define RATE	     48000
/* Samples rendered, encoded and written at a time: one second. */
#define BLOCK RATE
/* Voices sounding at once; the quietest is taken when all are busy. */
#define MAX_VOICES 48
/* Oscillators (partials or detuned copies) per voice. */
#define MAX_OSC	  6
#define SINE_BITS 12
#define SINE_LEN  (1 << SINE_BITS)
/* The soft limiter: linear below KNEE, never reaching CEILING (-6 dBFS). */
#define KNEE	0.35
#define CEILING 0.5
/* Longest fades, in seconds; shorter beds get a share of their length. */
#define FADE_IN	 2.0
#define FADE_OUT 3.0
/* The ping-pong delay is three eighths, halved until under this (s). */
#define MAX_DELAY 0.9
/* Silent enough to free a voice. */
#define SILENT 1e-3
/* Samples between sweeps for decayed plucks. */
#define REAP_EVERY 1024

enum instrument { PAD, PIANO, STRINGS };
static const char *const instrument_name[] = {"pad", "piano", "strings"};

/* What a voice belongs to, so its part can release it. */
enum part { CHORD, BASS, ARP };

/* A word matches a stem it starts with: "storm" matches "stormy". */
static const char *const slow_words[] = {"slow",   "calm",    "gentle", "peace", "ambient", "quiet",
					 "soft",   "relax",   "seren",	"tranq", "sleep",   "dream",
					 "lullab", "meditat", "drift",	"float", "still",   "lazy",
					 "mellow", "hush",    NULL};
static const char *const fast_words[] = {
    "fast",  "energ",  "upbeat", "action", "chase",  "run",	"race", "rush",	 "intens",
    "excit", "battle", "fight",	 "hurr",   "speed",  "danc",	"driv", "frant", "urgen",
    "quick", "rapid",  "pulse",	 "heist",  "escape", "adrenal", NULL};
static const char *const minor_words[] = {
    "dark",   "sad",	"noir",	   "storm", "night",  "tens", "melanchol", "gloom",
    "grim",   "sorrow", "lonel",   "mourn", "tragic", "fear", "horror",	   "scary",
    "haunt",  "myster", "rain",	   "cold",  "grie",   "omin", "sinist",	   "danger",
    "shadow", "lost",	"despair", "eerie", NULL};
static const char *const major_words[] = {
    "bright",  "happy",	 "hope", "dawn",    "sun",    "joy",	"cheer",  "warm",
    "morning", "spring", "play", "triumph", "victor", "celebr", "love",	  "smil",
    "summer",  "golden", "glad", "uplift",  "sweet",  "friend", "heroic", NULL};
static const char *const piano_words[] = {"piano", "keys", "keyboard", NULL};
static const char *const strings_words[] = {"string",  "pad",	    "ambient", "orchestr", "violin",
					    "cello",   "viola",	    "choir",   "drone",	   "ethere",
					    "atmosph", "cinematic", "swell",   NULL};

static const int major_scale[7] = {0, 2, 4, 5, 7, 9, 11};
static const int minor_scale[7] = {0, 2, 3, 5, 7, 8, 10};

/* Progressions as scale degrees from 0, one chord a bar. */
struct progression {
	int degree[4];
	const char *name;
};
static const struct progression major_prog[] = {
    {{0, 4, 5, 3}, "I-V-vi-IV"},
    {{0, 5, 3, 4}, "I-vi-IV-V"},
    {{0, 3, 5, 4}, "I-IV-vi-V"},
};
static const struct progression minor_prog[] = {
    {{0, 5, 2, 6}, "i-VI-III-VII"},
    {{0, 3, 6, 2}, "i-iv-VII-III"},
    {{0, 5, 3, 6}, "i-VI-iv-VII"},
};
#define NPROG 3

/* Names as key signatures spell them, per mode. */
static const char *const major_names[12] = {"C",  "Db", "D",  "Eb", "E",  "F",
					    "F#", "G",	"Ab", "A",  "Bb", "B"};
static const char *const minor_names[12] = {"C",  "C#", "D",  "Eb", "E",  "F",
					    "F#", "G",	"G#", "A",  "Bb", "B"};

/* Arpeggio steps over the chord tones (3 is the root an octave up). */
static const int arp_pattern[8] = {0, 1, 2, 3, 2, 1, 2, 3};

struct params {
	const char *prompt;
	const char *mode; /* auto, major, minor */
	double duration;
	int64_t seed, tempo; /* -1: not given */
	int key;	     /* pitch class, -1: not given */
	int key_minor;	     /* the key said "m" */
	char key_name[4];
};

/* Everything decided before the first sample. */
struct song {
	double duration;
	int64_t nsamples, fade_in, fade_out;
	uint32_t seed;
	int tempo, root, minor, arpeggio;
	enum instrument instrument;
	const struct progression *prog;
	char key[4];
	double eighth; /* samples per eighth note */
};

struct voice {
	int on, held, nosc, saw;
	enum part part;
	int64_t born; /* the event that started it */
	double ph[MAX_OSC], inc[MAX_OSC], amp[MAX_OSC], damp[MAX_OSC];
	double env, att, relf; /* level; rise a sample; fall factor once released */
	double lp, lpa;	       /* one-pole low-pass; lpa 1 is open */
	double gl, gr;
};

struct synth {
	struct song s;
	struct voice v[MAX_VOICES];
	uint64_t rng;
	int64_t n;	    /* the next sample */
	int64_t k;	    /* the next eighth-note event */
	int64_t next_event; /* its sample */
	float *dl, *dr;	    /* ping-pong delay lines */
	size_t dlen, dpos;
	double dtone; /* low-pass state of what enters the delay */
};

/* Every libav handle of one output file, freed by out_release(). */
struct out {
	AVFormatContext *fmt;
	AVCodecContext *enc;
	AVFrame *frame;
	AVPacket *pkt;
	char *tmp, *dst;
	int made_dir;
};

static double sine_tab[SINE_LEN + 1];

/* splitmix64: small, good enough, and the same everywhere. */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static double rand_unit(uint64_t *state)
{
	return (double)(next_rand(state) >> 11) / 9007199254740992.0;
}

/* --- parameters --------------------------------------------------------- */

/* An optional whole number in min..max; -1 when absent. */
static int param_whole(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out,
		       struct fm_error *err)
{
	json_object *v;
	double d;

	*out = -1;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return fm_error(err, FM_VALIDATION_ERROR, "parameter '%s': not an integer", key);
	d = json_object_get_double(v);
	if (d != floor(d) || d < (double)min || d > (double)max)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter '%s': %s is not an integer in %" PRId64 "..%" PRId64,
				key, json_object_get_string(v), min, max);
	*out = (int64_t)d;
	return 0;
}

/* "C", "F#", "Bb", "am": a pitch class, a spelling, and whether "m" came. */
static int parse_key(const char *s, struct params *p, struct fm_error *err)
{
	static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
	const char *q = s;
	int c = *q >= 'a' ? *q - 'a' + 'A' : *q, pc;

	if (c < 'A' || c > 'G')
		goto bad;
	pc = letter_pc[c - 'A'];
	p->key_name[0] = (char)c;
	p->key_name[1] = '\0';
	q++;
	if (*q == '#' || *q == 'b') {
		pc += *q == '#' ? 1 : -1;
		p->key_name[1] = *q;
		p->key_name[2] = '\0';
		q++;
	}
	p->key_minor = *q == 'm';
	if (*q == 'm')
		q++;
	if (*q)
		goto bad;
	p->key = (pc + 12) % 12;
	return 0;
bad:
	return fm_error(err, FM_VALIDATION_ERROR,
			"parameter 'key': '%s' is not a note name such as C, F# or Bb", s);
}

static int read_params(json_object *o, struct params *p, struct fm_error *err)
{
	const char *key;

	memset(p, 0, sizeof(*p));
	p->key = -1;
	p->prompt = fm_json_get_string(o, "prompt");
	if (!p->prompt)
		return fm_error(err, FM_VALIDATION_ERROR, "parameter 'prompt' is required");
	if (strlen(p->prompt) > MAX_PROMPT)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'prompt': longer than %d bytes", MAX_PROMPT);
	p->duration = fm_json_get_double(o, "duration", 30);
	if (!(p->duration >= 1 && p->duration <= MAX_DURATION))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'duration': %g is not in 1..%d", p->duration,
				MAX_DURATION);
	p->mode = fm_json_get_string(o, "mode");
	if (!p->mode)
		p->mode = "auto";
	if (strcmp(p->mode, "auto") && strcmp(p->mode, "major") && strcmp(p->mode, "minor"))
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'mode': '%s' is not one of auto, major, minor", p->mode);
	if (param_whole(o, "seed", 0, UINT32_MAX, &p->seed, err) < 0 ||
	    param_whole(o, "tempo", 40, 200, &p->tempo, err) < 0)
		return -1;
	key = fm_json_get_string(o, "key");
	if (key && *key && parse_key(key, p, err) < 0)
		return -1;
	return 0;
}

/* --- the plan ----------------------------------------------------------- */

/* The first four bytes of the prompt's SHA-256: the default seed. */
static int prompt_seed(const char *prompt, uint32_t *seed, struct fm_error *err)
{
	struct AVSHA *sha = av_sha_alloc();
	uint8_t digest[32];

	if (!sha)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	av_sha_init(sha, 256);
	av_sha_update(sha, (const uint8_t *)prompt, strlen(prompt));
	av_sha_final(sha, digest);
	av_free(sha);
	*seed = (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 | (uint32_t)digest[2] << 8 |
		digest[3];
	return 0;
}

struct mood {
	int slow, fast, minor, major, piano, strings;
};

static int matches(const char *word, size_t len, const char *const *stems)
{
	for (; *stems; stems++) {
		size_t n = strlen(*stems);

		if (n <= len && !memcmp(word, *stems, n))
			return 1;
	}
	return 0;
}

/* Counts the words of each kind; words are runs of ASCII letters. */
static void read_mood(const char *s, struct mood *m)
{
	char word[32];
	size_t len;

	memset(m, 0, sizeof(*m));
	while (*s) {
		for (len = 0; (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'); s++)
			if (len < sizeof(word))
				word[len++] = (char)(*s | 0x20);
		if (!len) {
			s++;
			continue;
		}
		m->slow += matches(word, len, slow_words);
		m->fast += matches(word, len, fast_words);
		m->minor += matches(word, len, minor_words);
		m->major += matches(word, len, major_words);
		m->piano += matches(word, len, piano_words);
		m->strings += matches(word, len, strings_words);
	}
}

static int pick_tempo(const struct mood *m, const struct params *p, uint64_t r)
{
	if (p->tempo > 0)
		return (int)p->tempo;
	if (m->fast > m->slow)
		return 120 + (int)(r % 21);
	if (m->slow > m->fast)
		return 60 + (int)(r % 16);
	return 90 + (int)(r % 11);
}

static int pick_minor(const struct mood *m, const struct params *p, uint64_t r)
{
	if (strcmp(p->mode, "auto"))
		return !strcmp(p->mode, "minor");
	if (p->key >= 0 && p->key_minor)
		return 1;
	if (m->minor != m->major)
		return m->minor > m->major;
	return (int)(r & 1);
}

static int plan(struct song *s, const struct params *p, uint64_t *rng, struct fm_error *err)
{
	struct mood m;
	uint64_t r_key, r_tempo, r_mode, r_prog;
	uint32_t seed = 0;

	if (p->seed >= 0)
		seed = (uint32_t)p->seed;
	else if (prompt_seed(p->prompt, &seed, err) < 0)
		return -1;
	*rng = seed;
	/* Drawn in one order whatever is overridden, so overrides move nothing else. */
	r_key = next_rand(rng);
	r_tempo = next_rand(rng);
	r_mode = next_rand(rng);
	r_prog = next_rand(rng);
	read_mood(p->prompt, &m);
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->duration = p->duration;
	s->nsamples = llround(p->duration * RATE);
	s->fade_in = llround(fmin(FADE_IN, p->duration / 4) * RATE);
	s->fade_out = llround(fmin(FADE_OUT, p->duration / 10) * RATE);
	s->tempo = pick_tempo(&m, p, r_tempo);
	s->minor = pick_minor(&m, p, r_mode);
	s->root = p->key >= 0 ? p->key : (int)(r_key % 12);
	s->instrument = m.piano > 0 ? PIANO : m.strings > 0 ? STRINGS : PAD;
	s->arpeggio = s->tempo >= 90;
	s->prog = &(s->minor ? minor_prog : major_prog)[r_prog % NPROG];
	s->eighth = 30.0 * RATE / s->tempo;
	snprintf(s->key, sizeof(s->key), "%s",
		 p->key >= 0 ? p->key_name : (s->minor ? minor_names : major_names)[s->root]);
	return 0;
}

/* --- voices ------------------------------------------------------------- */

static void sine_init(void)
{
	int i;

	for (i = 0; i <= SINE_LEN; i++)
		sine_tab[i] = sin(2 * M_PI * i / SINE_LEN);
}

static inline double sine(double ph)
{
	double x = ph * SINE_LEN;
	int i = (int)x;

	return sine_tab[i] + (x - i) * (sine_tab[i + 1] - sine_tab[i]);
}

/* A band-limited saw: PolyBLEP smooths the jump so it does not alias. */
static inline double saw(double t, double dt)
{
	double v = 2 * t - 1;

	if (t < dt) {
		t /= dt;
		v -= t + t - t * t - 1;
	} else if (t > 1 - dt) {
		t = (t - 1) / dt;
		v -= t * t + t + t + 1;
	}
	return v;
}

static double midi_freq(double m)
{
	return 440.0 * pow(2.0, (m - 69) / 12);
}

static double cents(double c)
{
	return pow(2.0, c / 1200);
}

/* A free voice, else the quietest, released ones first. */
static struct voice *voice_new(struct synth *sy, enum part part, double pan, double gain)
{
	struct voice *v = NULL;
	double angle = (pan + 1) * M_PI / 4;
	int i;

	for (i = 0; i < MAX_VOICES; i++) {
		struct voice *c = &sy->v[i];

		if (!c->on) {
			v = c;
			break;
		}
		if (!v || (v->held && !c->held) || (v->held == c->held && c->env < v->env))
			v = c;
	}
	memset(v, 0, sizeof(*v));
	v->on = v->held = 1;
	v->part = part;
	v->born = sy->k;
	v->lpa = 1;
	v->gl = gain * cos(angle);
	v->gr = gain * sin(angle);
	return v;
}

/* tau: seconds to fall by 1/e, 0 to hold; phase in [0, 1). */
static void osc_add(struct voice *v, double freq, double amp, double tau, double phase)
{
	if (v->nosc == MAX_OSC || freq >= RATE / 2.0)
		return;
	v->inc[v->nosc] = freq / RATE;
	v->amp[v->nosc] = amp;
	v->damp[v->nosc] = tau > 0 ? exp(-1 / (tau * RATE)) : 1;
	v->ph[v->nosc] = phase;
	v->nosc++;
}

static void env_set(struct voice *v, double attack, double release)
{
	v->att = attack > 0 ? 1 / (attack * RATE) : 1;
	v->relf = exp(-1 / (release * RATE));
}

static void lowpass_set(struct voice *v, double fc)
{
	v->lpa = 1 - exp(-2 * M_PI * fc / RATE);
}

static double bar_seconds(const struct song *s)
{
	return 8 * s->eighth / RATE;
}

/* Plucked decaying partials, slightly stretched as a piano's are. */
static void piano_voice(struct synth *sy, enum part part, int midi, double pan, double gain)
{
	struct voice *v = voice_new(sy, part, pan, gain);
	double f = midi_freq(midi), t0 = 2.4 * pow(261.63 / f, 0.35);
	int k;

	for (k = 1; k <= 6; k++)
		osc_add(v, k * f * sqrt(1 + 0.0004 * k * k), pow(k, -1.4), t0 / (1 + 0.8 * (k - 1)),
			0);
	env_set(v, 0.004, 0.15);
}

/* Sines with a slightly detuned double and two soft harmonics. */
static void pad_voice(struct synth *sy, int midi, double pan, double gain)
{
	struct voice *v = voice_new(sy, CHORD, pan, gain);
	double f = midi_freq(midi);

	osc_add(v, f, 1.0, 0, rand_unit(&sy->rng));
	osc_add(v, f * cents(6), 0.6, 0, rand_unit(&sy->rng));
	osc_add(v, 2 * f, 0.22, 0, rand_unit(&sy->rng));
	osc_add(v, 3 * f * cents(-4), 0.08, 0, rand_unit(&sy->rng));
	env_set(v, fmin(0.5, bar_seconds(&sy->s) / 4), 0.5);
}

/* Three detuned saws through a low-pass, swelling in slowly. */
static void strings_voice(struct synth *sy, int midi, double pan, double gain)
{
	struct voice *v = voice_new(sy, CHORD, pan, gain);
	double f = midi_freq(midi);

	v->saw = 1;
	osc_add(v, f * cents(-9), 0.4, 0, rand_unit(&sy->rng));
	osc_add(v, f, 0.4, 0, rand_unit(&sy->rng));
	osc_add(v, f * cents(8), 0.4, 0, rand_unit(&sy->rng));
	lowpass_set(v, 1500);
	env_set(v, fmin(1.2, bar_seconds(&sy->s) / 2), 0.5);
}

static void bass_voice(struct synth *sy, int midi, double gain)
{
	struct voice *v = voice_new(sy, BASS, 0, gain);
	double f = midi_freq(midi);

	osc_add(v, f, 1.0, 1.2, 0);
	osc_add(v, 2 * f, 0.35, 0.5, 0);
	osc_add(v, 3 * f, 0.12, 0.25, 0);
	env_set(v, 0.006, 0.05);
}

static void pluck_voice(struct synth *sy, int midi, double pan, double gain)
{
	struct voice *v = voice_new(sy, ARP, pan, gain);
	double f = midi_freq(midi);

	osc_add(v, f, 1.0, 0.4, 0);
	osc_add(v, 2 * f, 0.4, 0.2, 0);
	osc_add(v, 3 * f, 0.15, 0.1, 0);
	env_set(v, 0.003, 0.15);
}

static void release(struct synth *sy, enum part part, int64_t born_before)
{
	int i;

	for (i = 0; i < MAX_VOICES; i++)
		if (sy->v[i].on && sy->v[i].part == part && sy->v[i].born < born_before)
			sy->v[i].held = 0;
}

/* Frees plucks that have decayed while still held. */
static void reap(struct synth *sy)
{
	int i, j;

	for (i = 0; i < MAX_VOICES; i++) {
		struct voice *v = &sy->v[i];
		double a = 0;

		if (!v->on)
			continue;
		for (j = 0; j < v->nosc; j++)
			a += v->amp[j];
		if (a * v->env < SILENT * 0.1)
			v->on = 0;
	}
}

static inline void voice_tick(struct voice *v, double *l, double *r)
{
	double x = 0;
	int i;

	for (i = 0; i < v->nosc; i++) {
		double ph = v->ph[i];

		x += v->amp[i] * (v->saw ? saw(ph, v->inc[i]) : sine(ph));
		v->amp[i] *= v->damp[i];
		ph += v->inc[i];
		v->ph[i] = ph >= 1 ? ph - 1 : ph;
	}
	if (!v->held) {
		v->env *= v->relf;
		if (v->env < SILENT)
			v->on = 0;
	} else if (v->env < 1) {
		v->env = fmin(1, v->env + v->att);
	}
	v->lp += v->lpa * (x - v->lp);
	x = v->lp * v->env;
	*l += x * v->gl;
	*r += x * v->gr;
}

/* --- the score ---------------------------------------------------------- */

/* MIDI note of pitch class pc in [lo, lo + 12). */
static int place(int pc, int lo)
{
	return lo + ((pc - lo) % 12 + 12) % 12;
}

/* Pitch classes of the triad on the bar's degree. */
static void chord_of(const struct song *s, int64_t bar, int pc[3])
{
	const int *scale = s->minor ? minor_scale : major_scale;
	int d = s->prog->degree[bar % 4], i;

	for (i = 0; i < 3; i++)
		pc[i] = (s->root + scale[(d + 2 * i) % 7]) % 12;
}

static void play_chord(struct synth *sy, const int pc[3], double gain)
{
	static const double pan[3] = {-0.35, 0.35, 0};
	int i;

	release(sy, CHORD, sy->k);
	for (i = 0; i < 3; i++) {
		int m = place(pc[i], 55);
		double p = pan[i] + 0.1 * (rand_unit(&sy->rng) - 0.5);

		if (sy->s.instrument == PIANO)
			piano_voice(sy, CHORD, m, p, gain * 0.1);
		else if (sy->s.instrument == STRINGS)
			strings_voice(sy, m, p, gain * 0.12);
		else
			pad_voice(sy, m, p, gain * 0.085);
	}
	if (sy->s.instrument == PIANO)
		piano_voice(sy, CHORD, place(pc[0], 43), 0, gain * 0.08);
}

/* Root on beats 1, 2 and 4, the fifth on beat 3. */
static void play_bass(struct synth *sy, const int pc[3], int step)
{
	double gain = sy->s.instrument == PIANO ? 0.16 : 0.24;

	release(sy, BASS, sy->k);
	bass_voice(sy, place(step == 4 ? pc[2] : pc[0], 33), gain * (step == 0 ? 1 : 0.8));
}

static void play_arp(struct synth *sy, const int pc[3], int step)
{
	int tone = arp_pattern[step];
	int m = tone == 3 ? place(pc[0], 67) + 12 : place(pc[tone], 67);
	double pan = step % 2 ? 0.45 : -0.45;
	double gain = 0.05 * (0.8 + 0.2 * rand_unit(&sy->rng));

	release(sy, ARP, sy->k - 2);
	if (sy->s.instrument == PIANO)
		piano_voice(sy, ARP, m, pan, gain * 0.9);
	else
		pluck_voice(sy, m, pan, gain);
}

static void on_event(struct synth *sy)
{
	int step = (int)(sy->k % 8), pc[3];

	chord_of(&sy->s, sy->k / 8, pc);
	if (step == 0)
		play_chord(sy, pc, 1);
	else if (step == 4 && sy->s.instrument == PIANO)
		play_chord(sy, pc, 0.7);
	if (step % 2 == 0)
		play_bass(sy, pc, step);
	if (sy->s.arpeggio)
		play_arp(sy, pc, step);
	sy->k++;
	sy->next_event = llround(sy->k * sy->s.eighth);
}

/* --- the mix ------------------------------------------------------------ */

static void synth_init(struct synth *sy, const struct song *s, uint64_t rng)
{
	double d = 3 * s->eighth;

	memset(sy, 0, sizeof(*sy));
	sy->s = *s;
	sy->rng = rng;
	while (d > MAX_DELAY * RATE)
		d /= 2;
	sy->dlen = (size_t)llround(d);
	sy->dl = fm_xcalloc(sy->dlen, sizeof(float));
	sy->dr = fm_xcalloc(sy->dlen, sizeof(float));
}

static void synth_release(struct synth *sy)
{
	free(sy->dl);
	free(sy->dr);
}

/* A ping-pong delay: the mono sum enters left and bounces right. */
static void delay(struct synth *sy, double *l, double *r)
{
	double xl = sy->dl[sy->dpos], xr = sy->dr[sy->dpos];

	sy->dtone += 0.35 * (0.5 * (*l + *r) - sy->dtone);
	sy->dl[sy->dpos] = (float)(sy->dtone + 0.35 * xr);
	sy->dr[sy->dpos] = (float)(0.35 * xl);
	if (++sy->dpos == sy->dlen)
		sy->dpos = 0;
	*l += 0.3 * xl;
	*r += 0.3 * xr;
}

static double fade(const struct song *s, int64_t n)
{
	double g = 1;

	if (n < s->fade_in)
		g = sin(M_PI / 2 * n / s->fade_in);
	if (n >= s->nsamples - s->fade_out)
		g *= sin(M_PI / 2 * (s->nsamples - 1 - n) / s->fade_out);
	return g * g;
}

/* Linear below KNEE, then bends towards CEILING without reaching it. */
static double soft_ceiling(double x)
{
	double a = fabs(x);

	if (a <= KNEE)
		return x;
	a = KNEE + (CEILING - KNEE) * tanh((a - KNEE) / (CEILING - KNEE));
	return x < 0 ? -a : a;
}

/* Renders the next n stereo samples, interleaved. */
static void render(struct synth *sy, int16_t *out, int n)
{
	int i, j;

	for (i = 0; i < n; i++, sy->n++) {
		double l = 0, r = 0, g;

		while (sy->n >= sy->next_event)
			on_event(sy);
		if (sy->n % REAP_EVERY == 0)
			reap(sy);
		for (j = 0; j < MAX_VOICES; j++)
			if (sy->v[j].on)
				voice_tick(&sy->v[j], &l, &r);
		delay(sy, &l, &r);
		g = fade(&sy->s, sy->n);
		out[2 * i] = (int16_t)lrint(soft_ceiling(l * g) * 32767);
		out[2 * i + 1] = (int16_t)lrint(soft_ceiling(r * g) * 32767);
	}
}

/* --- the file ----------------------------------------------------------- */

static int out_encoder(struct out *o, struct fm_error *err)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PCM_S16LE);
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
	int r;

	if (!codec)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"libavcodec has no pcm_s16le encoder");
	o->enc = avcodec_alloc_context3(codec);
	o->frame = av_frame_alloc();
	o->pkt = av_packet_alloc();
	if (!o->enc || !o->frame || !o->pkt)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	o->enc->sample_fmt = AV_SAMPLE_FMT_S16;
	o->enc->sample_rate = RATE;
	o->enc->time_base = (AVRational){1, RATE};
	o->enc->flags |= AV_CODEC_FLAG_BITEXACT;
	if ((r = av_channel_layout_copy(&o->enc->ch_layout, &stereo)) < 0 ||
	    (r = avcodec_open2(o->enc, codec, NULL)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot open the pcm_s16le encoder");
	o->frame->format = AV_SAMPLE_FMT_S16;
	o->frame->sample_rate = RATE;
	o->frame->nb_samples = BLOCK;
	if ((r = av_channel_layout_copy(&o->frame->ch_layout, &stereo)) < 0 ||
	    (r = av_frame_get_buffer(o->frame, 0)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot allocate a frame");
	return 0;
}

/* Opens DIR/.music.wav.PID.tmp and writes the WAV header. */
static int out_open(struct out *o, const char *dir, struct fm_error *err)
{
	AVStream *st;
	int r;

	o->made_dir = access(dir, F_OK) != 0;
	if (fm_mkdirs(dir, err) < 0)
		return -1;
	o->tmp = fm_xasprintf("%s/.music.wav.%ld.tmp", dir, (long)getpid());
	o->dst = fm_xasprintf("%s/music.wav", dir);
	if (out_encoder(o, err) < 0)
		return -1;
	if ((r = avformat_alloc_output_context2(&o->fmt, NULL, "wav", o->tmp)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot set up the wav muxer");
	/* no encoder version in the file: the same bed on every machine */
	o->fmt->flags |= AVFMT_FLAG_BITEXACT;
	st = avformat_new_stream(o->fmt, NULL);
	if (!st)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "out of memory");
	st->time_base = o->enc->time_base;
	if ((r = avcodec_parameters_from_context(st->codecpar, o->enc)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r,
				   "cannot set up the audio stream");
	if ((r = avio_open(&o->fmt->pb, o->tmp, AVIO_FLAG_WRITE)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot create '%s'", o->tmp);
	if ((r = avformat_write_header(o->fmt, NULL)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot write '%s'", o->tmp);
	return 0;
}

/* The frame to render n samples into. */
static int16_t *out_buffer(struct out *o, int n, struct fm_error *err)
{
	int r = av_frame_make_writable(o->frame);

	if (r < 0) {
		fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot allocate a frame");
		return NULL;
	}
	o->frame->nb_samples = n;
	return (int16_t *)o->frame->data[0];
}

/* Sends the frame (NULL to flush) and writes what the encoder gives back. */
static int out_send(struct out *o, AVFrame *frame, struct fm_error *err)
{
	int r = avcodec_send_frame(o->enc, frame);

	if (r < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot encode audio");
	while ((r = avcodec_receive_packet(o->enc, o->pkt)) >= 0) {
		o->pkt->stream_index = 0;
		av_packet_rescale_ts(o->pkt, o->enc->time_base, o->fmt->streams[0]->time_base);
		if ((r = av_write_frame(o->fmt, o->pkt)) < 0)
			return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot write '%s'",
					   o->tmp);
		av_packet_unref(o->pkt);
	}
	if (r != AVERROR(EAGAIN) && r != AVERROR_EOF)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot encode audio");
	return 0;
}

/* Finishes the WAV (the trailer fixes its sizes), syncs and renames it. */
static int out_finish(struct out *o, struct fm_error *err)
{
	int r, fd;

	if (out_send(o, NULL, err) < 0)
		return -1;
	if ((r = av_write_trailer(o->fmt)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot write '%s'", o->tmp);
	if ((r = avio_closep(&o->fmt->pb)) < 0)
		return fm_av_error(err, FM_PLUGIN_EXECUTION_ERROR, r, "cannot write '%s'", o->tmp);
	fd = open(o->tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		if (fd >= 0)
			close(fd);
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", o->tmp);
	}
	close(fd);
	if (rename(o->tmp, o->dst) < 0)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot write '%s':", o->dst);
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

/* Frees everything; an unfinished file goes, and the directory if it was ours. */
static void out_release(struct out *o, const char *dir)
{
	if (o->fmt && o->fmt->pb)
		avio_closep(&o->fmt->pb);
	avformat_free_context(o->fmt);
	avcodec_free_context(&o->enc);
	av_frame_free(&o->frame);
	av_packet_free(&o->pkt);
	if (o->tmp) {
		unlink(o->tmp);
		if (o->made_dir)
			rmdir(dir);
	}
	free(o->tmp);
	free(o->dst);
}

/* --- the task ----------------------------------------------------------- */

/* Progress per block, but at most one a percent or a second. */
static void progress(struct fm_plugin_ctx *ctx, const struct song *s, int64_t done, double *last_at,
		     int *last_pct)
{
	int pct = (int)(100 * done / s->nsamples);
	char msg[64];

	if (pct == *last_pct && fm_now() - *last_at < 1 && done < s->nsamples)
		return;
	*last_pct = pct;
	*last_at = fm_now();
	snprintf(msg, sizeof(msg), "%.0f s of %.0f s", (double)done / RATE, s->duration);
	fm_plugin_progress(ctx, 100.0 * done / s->nsamples, "synthesize", msg);
}

static int synthesize(struct fm_plugin_ctx *ctx, struct synth *sy, struct out *o,
		      struct fm_error *err)
{
	double last_at = fm_now();
	int64_t done;
	int last_pct = -1;

	for (done = 0; done < sy->s.nsamples;) {
		int n = (int)(sy->s.nsamples - done < BLOCK ? sy->s.nsamples - done : BLOCK);
		int16_t *buf;

		if (fm_plugin_cancelled(ctx))
			return fm_error(err, FM_TASK_CANCELLED, "cancelled");
		if (!(buf = out_buffer(o, n, err)))
			return -1;
		render(sy, buf, n);
		o->frame->pts = done;
		if (out_send(o, o->frame, err) < 0)
			return -1;
		done += n;
		progress(ctx, &sy->s, done, &last_at, &last_pct);
	}
	return out_finish(o, err);
}

static void describe(json_object *meta, const struct song *s)
{
	json_object_object_add(meta, "tempo", json_object_new_int(s->tempo));
	json_object_object_add(meta, "key", json_object_new_string(s->key));
	json_object_object_add(meta, "mode", json_object_new_string(s->minor ? "minor" : "major"));
	json_object_object_add(meta, "seed", json_object_new_int64(s->seed));
	json_object_object_add(meta, "duration", fm_json_double((double)s->nsamples / RATE));
	json_object_object_add(meta, "instrument",
			       json_object_new_string(instrument_name[s->instrument]));
	json_object_object_add(meta, "progression", json_object_new_string(s->prog->name));
	json_object_object_add(meta, "sample_rate", json_object_new_int(RATE));
	json_object_object_add(meta, "channels", json_object_new_int(2));
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct out o = {0};
	struct synth sy;
	struct params p;
	struct song s;
	uint64_t rng;
	char *path;
	int r = -1;

	/* libav logs to stderr, which is this plugin's log: errors only */
	av_log_set_level(AV_LOG_ERROR);
	if (read_params(task->parameters, &p, &res->error) < 0 ||
	    plan(&s, &p, &rng, &res->error) < 0)
		return -1;
	fm_plugin_log(ctx, "%s %s, %d bpm, %s, %s, seed %" PRIu32 ", %.3f s", s.key,
		      s.minor ? "minor" : "major", s.tempo, instrument_name[s.instrument],
		      s.prog->name, s.seed, s.duration);
	synth_init(&sy, &s, rng);
	if (out_open(&o, output_dir, &res->error) < 0 || synthesize(ctx, &sy, &o, &res->error) < 0)
		goto out;
	path = fm_abspath(o.dst);
	fm_result_add_file(res, path);
	free(path);
	describe(res->metadata, &s);
	r = 0;
out:
	out_release(&o, output_dir);
	synth_release(&sy);
	return r;
}

static const struct fm_plugin_def def = {
    .name = "synth",
    .version = "1.0.0",
    .execute = execute,
};

int main(int argc, char **argv)
{
	sine_init();
	return fm_plugin_main(argc, argv, &def);
}
