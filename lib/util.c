/* Allocation, time, ids and json-c helpers shared by every module. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void fm_oom(void)
{
	static const char msg[] = "filmeto: out of memory\n";

	/* Nothing sensible can continue; this is the one exit in lib/. */
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

void *fm_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		fm_oom();
	return p;
}

void *fm_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fm_oom();
	return p;
}

void *fm_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fm_oom();
	return p;
}

char *fm_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		fm_oom();
	return d;
}

char *fm_xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		fm_oom();
	return d;
}

char *fm_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fm_oom();
	return s;
}

double fm_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double fm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fm_timestamp_at(double t, char buf[32])
{
	/* Events come thousands a second: the date and time change once a second. */
	static _Thread_local time_t last_sec = -1;
	static _Thread_local char last[24];
	static _Thread_local size_t last_len;
	time_t sec = (time_t)t;
	int ms = (int)((t - (double)sec) * 1000);
	struct tm tm;

	if (sec != last_sec) {
		gmtime_r(&sec, &tm);
		last_len = strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = sec;
	}
	ms = ms < 0 ? 0 : ms > 999 ? 999 : ms;
	memcpy(buf, last, last_len);
	buf[last_len] = '.';
	buf[last_len + 1] = (char)('0' + ms / 100);
	buf[last_len + 2] = (char)('0' + ms / 10 % 10);
	buf[last_len + 3] = (char)('0' + ms % 10);
	buf[last_len + 4] = 'Z';
	buf[last_len + 5] = '\0';
}

void fm_timestamp(char buf[32])
{
	fm_timestamp_at(fm_epoch(), buf);
}

int fm_id_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int fm_id_valid(const char *id)
{
	size_t i, n;

	if (!id)
		return 0;
	n = strlen(id);
	if (n == 0 || n > FM_ID_MAX || id[0] == '.' || id[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!fm_id_char((unsigned char)id[i]))
			return 0;
	return 1;
}

char *fm_id_new(const char *prefix)
{
	unsigned char r[4];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* Unique enough within one process when randomness fails. */
		unsigned long x = (unsigned long)getpid() ^ (unsigned long)time(NULL) ^
				  (unsigned long)(fm_now() * 1e9);

		memcpy(r, &x, sizeof(r));
	}
	return fm_xasprintf("%s-%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3]);
}

static int finite_numbers(json_object *o);

/*
 * json-c takes 'single-quoted' keys even in strict mode. JSON has no
 * quote character outside strings, so one pass over the text finds them.
 */
static const char *stray_quote(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	int in_string = 0;

	for (; p < end; p++) {
		if (in_string && *p == '\\')
			p++;
		else if (*p == '"')
			in_string = !in_string;
		else if (*p == '\'' && !in_string)
			return p;
	}
	return NULL;
}

static int hex4(const char *p, const char *end, unsigned *v)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < 4; i++, p++) {
		int d = p < end ? fm_hex_digit((unsigned char)*p) : -1;

		if (d < 0)
			return 0;
		n = n * 16 + (unsigned)d;
	}
	*v = n;
	return 1;
}

/* The UTF-16 code unit of the \uXXXX escape at p, or -1 when p is none. */
static long escape_unit(const char *p, const char *end)
{
	unsigned v;

	if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &v))
		return -1;
	return (long)v;
}

int fm_json_surrogates(const char *buf, size_t len, size_t *at,
		       void (*pair)(void *ctx, size_t off, unsigned long cp), void *ctx)
{
	const char *p = buf, *end = buf + len;
	int in_string = 0;

	for (; p < end; p++) {
		long u = in_string ? escape_unit(p, end) : -1, lo;

		if (u >= 0xD800 && u <= 0xDBFF && (lo = escape_unit(p + 6, end)) >= 0xDC00 &&
		    lo <= 0xDFFF) {
			if (pair)
				pair(ctx, (size_t)(p - buf),
				     0x10000 + (((unsigned long)u - 0xD800) << 10) +
					 ((unsigned long)lo - 0xDC00));
			p += 11;
		} else if (u >= 0xD800 && u <= 0xDFFF) {
			*at = (size_t)(p - buf);
			return -1;
		} else if (in_string && *p == '\\') {
			p++;
		} else if (*p == '"') {
			in_string = !in_string;
		}
	}
	return 0;
}

/*
 * One tokener per thread, kept: making one (its stack of FM_JSON_DEPTH
 * levels) cost as much as parsing a short line.
 */
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;

static void tok_free(void *tok)
{
	json_tokener_free(tok);
}

static void tok_key_make(void)
{
	(void)pthread_key_create(&tok_key, tok_free);
}

static json_tokener *tokener(void)
{
	json_tokener *tok;

	pthread_once(&tok_once, tok_key_make);
	tok = pthread_getspecific(tok_key);
	if (tok) {
		json_tokener_reset(tok);
		return tok;
	}
	tok = json_tokener_new_ex(FM_JSON_DEPTH);
	if (tok) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		if (pthread_setspecific(tok_key, tok) != 0) {
			json_tokener_free(tok);
			tok = NULL;
		}
	}
	return tok;
}

/*
 * A line refused may leave the tokener in the middle of something that
 * json_tokener_reset does not clear (json-c 0.16 keeps a pending high
 * surrogate, which the next line's first pair would then decode after a
 * U+FFFD): the tokener of a refused line is thrown away, not kept.
 */
static void tok_drop(json_tokener *tok)
{
	(void)pthread_setspecific(tok_key, NULL);
	json_tokener_free(tok);
}

static int parse_with(json_tokener *tok, const char *buf, size_t len, json_object **out,
		      struct fm_error *err);

int fm_json_parse(const char *buf, size_t len, json_object **out, struct fm_error *err)
{
	json_tokener *tok = tokener();
	int rc;

	*out = NULL;
	if (!tok)
		return fm_error(err, FM_VALIDATION_ERROR, "out of memory");
	rc = parse_with(tok, buf, len, out, err);
	if (rc < 0)
		tok_drop(tok);
	return rc;
}

static int parse_with(json_tokener *tok, const char *buf, size_t len, json_object **out,
		      struct fm_error *err)
{
	json_object *obj;
	enum json_tokener_error jerr;
	const char *q;
	size_t off, i, at;

	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	off = json_tokener_get_parse_end(tok);
	/* A bare number at the very end is complete only once input ends. */
	if (jerr == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		off = len;
	}
	if (jerr == json_tokener_continue) {
		json_object_put(obj);
		return fm_error(err, FM_VALIDATION_ERROR,
				"not valid JSON: unexpected end of input");
	}
	if (jerr == json_tokener_error_depth) {
		json_object_put(obj);
		return fm_error(err, FM_VALIDATION_ERROR,
				"not valid JSON at byte %zu: nested deeper than the limit of %d",
				off, FM_JSON_DEPTH);
	}
	if (jerr != json_tokener_success) {
		json_object_put(obj);
		return fm_error(err, FM_VALIDATION_ERROR, "not valid JSON at byte %zu: %s", off,
				json_tokener_error_desc(jerr));
	}
	for (i = off; i < len; i++) {
		if (!memchr(" \t\r\n", buf[i], 4)) {
			json_object_put(obj);
			return fm_error(err, FM_VALIDATION_ERROR,
					"not valid JSON: trailing data at byte %zu", i);
		}
	}
	if ((q = stray_quote(buf, off))) {
		json_object_put(obj);
		return fm_error(err, FM_VALIDATION_ERROR,
				"not valid JSON at byte %zu: strings take double quotes",
				(size_t)(q - buf));
	}
	/* json-c turns half a pair into U+FFFD, losing what was meant silently. */
	if (fm_json_surrogates(buf, off, &at, NULL, NULL) < 0) {
		json_object_put(obj);
		return fm_error(
		    err, FM_VALIDATION_ERROR,
		    "not valid JSON at byte %zu: '%.6s' is half a UTF-16 surrogate pair", at,
		    buf + at);
	}
	if (!finite_numbers(obj)) {
		json_object_put(obj);
		return fm_error(err, FM_VALIDATION_ERROR, "not valid JSON: NaN or Infinity");
	}
	*out = obj;
	return 0;
}

static const char *digits(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

int fm_json_number_text(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		p = digits(p);
	else
		return 0;
	if (*p == '.') {
		const char *q = digits(p + 1);

		if (q == p + 1)
			return 0;
		p = q;
	}
	if (*p == 'e' || *p == 'E') {
		const char *q;

		p++;
		if (*p == '+' || *p == '-')
			p++;
		q = digits(p);
		if (q == p)
			return 0;
		p = q;
	}
	return *p == '\0';
}

json_object *fm_json_new_number(double d, const char *text)
{
	/* Keeps "1.50" as written, but never writes a spelling JSON lacks. */
	if (text && fm_json_number_text(text))
		return json_object_new_double_s(d, text);
	return fm_json_double(d);
}

/* json-c lets NaN and Infinity through even in strict mode. */
static int finite_numbers(json_object *o)
{
	size_t i;

	switch (json_object_get_type(o)) {
	case json_type_double: return isfinite(json_object_get_double(o));
	case json_type_array:
		for (i = 0; i < json_object_array_length(o); i++)
			if (!finite_numbers(json_object_array_get_idx(o, i)))
				return 0;
		return 1;
	case json_type_object: {
		json_object_object_foreach (o, key, val) {
			(void)key;
			if (!finite_numbers(val))
				return 0;
		}
		return 1;
	}
	default: return 1;
	}
}

const char *fm_json_str(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
}

json_object *fm_json_get(json_object *obj, const char *key, json_type type)
{
	json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *fm_json_get_string(json_object *obj, const char *key)
{
	json_object *v = fm_json_get(obj, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

double fm_json_get_double(json_object *obj, const char *key, double def)
{
	json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v))
		return def;
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
		return json_object_get_double(v);
	return def;
}

json_object *fm_json_ref_or_object(json_object *obj)
{
	return obj ? json_object_get(obj) : json_object_new_object();
}

json_object *fm_json_ref_or_array(json_object *obj)
{
	return obj ? json_object_get(obj) : json_object_new_array();
}

/*
 * The shortest spelling that reads back as the same double, as JavaScript
 * and Python print one: 0.69, not json-c's 0.68999999999999995. A whole
 * number keeps its ".0", so it still reads back as a double.
 */
json_object *fm_json_double(double d)
{
	char text[40];
	int prec;

	if (!isfinite(d))
		return NULL;
	for (prec = 15; prec < 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(text, sizeof(text), "%.17g", d);
	if (!strpbrk(text, ".en"))
		strcat(text, ".0");
	return json_object_new_double_s(d, text);
}

int fm_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void fm_problem(json_object *problems, const char *fmt, ...)
{
	json_object *e = json_object_new_object();
	char msg[FM_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_array_add(problems, e);
}

int fm_arg_long(const char *opt, const char *text, long min, long max, const char *what, long *out,
		struct fm_error *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	/* Out of range saturates at LONG_MIN/LONG_MAX, which the bounds refuse. */
	if (*end || end == text || v < min || v > max || errno == ERANGE)
		return fm_error(err, FM_VALIDATION_ERROR, "%s: '%s' is not %s from %ld to %ld", opt,
				text, what, min, max);
	*out = v;
	return 0;
}

/* A finite number spelled by the whole of text, as strtod reads it. */
static int whole_number(const char *text, double *out)
{
	char *end;

	*out = strtod(text, &end);
	return !*end && end != text && isfinite(*out);
}

int fm_arg_seconds(const char *opt, const char *text, int zero_ok, double *out,
		   struct fm_error *err)
{
	double v;

	if (!whole_number(text, &v) || v < 0 || (!zero_ok && v == 0))
		return fm_error(err, FM_VALIDATION_ERROR, "%s: '%s' is not a %snumber of seconds",
				opt, text, zero_ok ? "" : "positive ");
	*out = v;
	return 0;
}

int fm_arg_positive(const char *opt, const char *text, double *out, struct fm_error *err)
{
	double v;

	if (!whole_number(text, &v) || !(v > 0))
		return fm_error(err, FM_VALIDATION_ERROR, "%s: not a positive number", opt);
	*out = v;
	return 0;
}

/* Optimal string alignment distance, case ignored; stops past limit. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d;
	size_t *block, *prev2, *prev, *cur;

	if (la > 64 || lb > 64)
		return limit + 1;
	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	block = fm_xcalloc(3 * (lb + 1), sizeof(*block));
	prev2 = block;
	prev = prev2 + lb + 1;
	cur = prev + lb + 1;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		size_t *t;

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]),
			    cb = tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + (ca != cb);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	d = prev[lb];
	free(block);
	return d;
}

const char *fm_suggest(const char *word, const char *const *candidates, size_t n)
{
	size_t len = strlen(word), limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best = limit + 1;
	const char *pick = NULL;
	size_t i;

	for (i = 0; n ? i < n : candidates[i] != NULL; i++) {
		size_t d;

		if (!candidates[i])
			continue;
		if (!strcmp(word, candidates[i]))
			return NULL;
		d = edit_distance(word, candidates[i], limit);
		if (d < best) {
			best = d;
			pick = candidates[i];
		}
	}
	return pick;
}
