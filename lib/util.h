/*
 * Small helpers every module needs: allocation that cannot fail silently,
 * time, ids and json-c accessors; files and paths are in fs.h.
 */
#ifndef FM_UTIL_H
#define FM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "error.h"

#define FM_VERSION "0.1.0"

/* JSON nesting deeper than this is rejected by every parser. */
#define FM_JSON_DEPTH 64
/* Longest task or plugin id: ids become file names. */
#define FM_ID_MAX 128

/*
 * Out of memory is the one condition the library treats as fatal: these
 * allocate or end the process through fm_oom, its one exit, which is
 * also where a library that ran out of memory for us (libav) sends it.
 */
__attribute__((noreturn)) void fm_oom(void);
void *fm_xmalloc(size_t n);
void *fm_xcalloc(size_t n, size_t size);
void *fm_xrealloc(void *p, size_t n);
char *fm_xstrdup(const char *s);
char *fm_xstrndup(const char *s, size_t n);
char *fm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds on the monotonic clock. */
double fm_now(void);
/* Seconds since the epoch, on the wall clock. */
double fm_epoch(void);
/* UTC ISO 8601 with milliseconds: "2026-11-21T05:40:38.123Z", now or at t. */
void fm_timestamp(char buf[32]);
void fm_timestamp_at(double t, char buf[32]);

/* Ids: 1..FM_ID_MAX of [A-Za-z0-9._-], not starting with '.' or '-'. */
int fm_id_valid(const char *id);
/* Whether c may be in an id; the rule in words, for messages. */
int fm_id_char(int c);
#define FM_ID_RULE "1-128 characters of A-Z a-z 0-9 . _ - (not starting with . or -)"
_Static_assert(FM_ID_MAX == 128, "FM_ID_RULE says the id limit in words");
/*
 * "Did you mean": the one of the n candidates (a NULL-terminated list when
 * n is 0) nearest to word by edit distance (insertions, deletions,
 * substitutions and swaps of neighbours, case ignored), when it is near
 * enough to be a slip: at most 1 edit for words up to 4 characters, 2 up
 * to 8, else 3. NULL when none is, or when word is one of them.
 */
const char *fm_suggest(const char *word, const char *const *candidates, size_t n);

/* "PREFIX-xxxxxxxx" with 8 random hex digits. */
char *fm_id_new(const char *prefix);

/*
 * Parses exactly one JSON value from buf (trailing whitespace allowed),
 * strictly, at most FM_JSON_DEPTH deep.
 */
int fm_json_parse(const char *buf, size_t len, json_object **out, struct fm_error *err);
/*
 * Whether every \u escape of a UTF-16 surrogate in the strings of the
 * JSON text buf is half of a high-low pair, as "\ud83c\udfac" (U+1F3AC)
 * is: 0, or -1 with *at the byte offset of the first lone or mismatched
 * half; fm_json_parse refuses such text with this offset. Each pair
 * (12 bytes at off) goes to pair, when not NULL, with its code point.
 */
int fm_json_surrogates(const char *buf, size_t len, size_t *at,
		       void (*pair)(void *ctx, size_t off, unsigned long cp), void *ctx);
/* Whether s is spelled as a JSON number ("-1.50e3" yes; "+1", ".5" no). */
int fm_json_number_text(const char *s);
/* A double that serializes as text when that is valid JSON, else as d. */
json_object *fm_json_new_number(double d, const char *text);
/* Compact one-line JSON, "/" unescaped. Valid until obj changes. */
const char *fm_json_str(json_object *obj);
/* Typed field access: NULL/def when missing or of another type. */
const char *fm_json_get_string(json_object *obj, const char *key);
json_object *fm_json_get(json_object *obj, const char *key, json_type type);
double fm_json_get_double(json_object *obj, const char *key, double def);
/* A new reference to obj, or a new empty object/array if obj is NULL. */
json_object *fm_json_ref_or_object(json_object *obj);
json_object *fm_json_ref_or_array(json_object *obj);

/*
 * The one way a computed number becomes JSON: a double, or NULL (JSON
 * null) when d is NaN or infinite, which JSON cannot spell and every
 * reader of ours refuses. Never call json_object_new_double directly.
 */
json_object *fm_json_double(double d);

/* The value of a hexadecimal digit, or -1. */
int fm_hex_digit(int c);

/*
 * A problem found checking a whole (a plan, a storyboard, a batch of
 * tasks): {"message": text} appended to problems, the text cut at
 * FM_ERROR_MAX like an error's. The caller says every problem at once.
 */
void fm_problem(json_object *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The numbers of the commands' options, each the whole of text: 0 with
 * *out set, or -1 with err (VALIDATION_ERROR) in the words a command
 * prints before its usage hint, naming the option opt.
 */
/* A whole number from min to max: "OPT: 'TEXT' is not WHAT from MIN to MAX". */
int fm_arg_long(const char *opt, const char *text, long min, long max, const char *what, long *out,
		struct fm_error *err);
/*
 * Seconds, finite and above 0, or also 0 when zero_ok:
 * "OPT: 'TEXT' is not a [positive ]number of seconds".
 */
int fm_arg_seconds(const char *opt, const char *text, int zero_ok, double *out,
		   struct fm_error *err);
/* A finite number above 0: "OPT: not a positive number". */
int fm_arg_positive(const char *opt, const char *text, double *out, struct fm_error *err);

#endif
