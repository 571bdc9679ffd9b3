/*
 * NDJSON reading and writing. The reader keeps at most FM_LINE_MAX bytes
 * of one line: past that it drops what it has, skips to the next newline
 * and reports the line as too long, so a hostile stream costs bounded
 * memory. The writer buffers whole lines only. A line is given without
 * its "\n" or "\r\n" (JSON does not care), and the reader keeps what
 * ended it, so a filter passes on the lines it does not read unchanged.
 *
 * fm_json_scan reads the lines of a stream's hot path (a million progress
 * lines) without building them: a check of the grammar in one pass, with
 * no allocation, that is never less strict than fm_json_parse. Where the
 * two could differ (json-c takes "1." and overlong UTF-8; it clamps big
 * whole numbers; it makes 1e999 infinite) it gives up, and the caller
 * asks json-c. tests/fuzz/fuzz_jscan.c holds it to that.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ndjson.h"
#include "util.h"

#define READ_CHUNK (64 * 1024)

void fm_reader_init(struct fm_reader *r, int fd, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->max = max ? max : FM_LINE_MAX;
}

void fm_reader_release(struct fm_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
}

ssize_t fm_reader_fill(struct fm_reader *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->cap - r->end < READ_CHUNK) {
		size_t want = r->end + READ_CHUNK;

		/* One line of max bytes, its newline, and a read's worth. */
		if (want > r->max + 1 + READ_CHUNK)
			want = r->max + 1 + READ_CHUNK;
		if (want > r->cap) {
			r->buf = fm_xrealloc(r->buf, want + 1);
			r->cap = want;
		}
	}
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		r->eof = 1;
	if (n > 0)
		r->end += (size_t)n;
	return n;
}

/* n bytes at line, then "\n" when nl says so (else the input ended). */
static enum fm_line give(struct fm_reader *r, char *line, size_t n, int nl, char **out, size_t *len)
{
	int cr = n > 0 && line[n - 1] == '\r';

	r->lineno++;
	if (r->skipping || n > r->max) {
		r->skipping = 0;
		return FM_LINE_LONG;
	}
	/* Spelled out: a formatted print here cost a tenth of a million-line stream. */
	r->eol[0] = cr ? '\r' : nl ? '\n' : '\0';
	r->eol[1] = cr && nl ? '\n' : '\0';
	r->eol[2] = '\0';
	n -= (size_t)cr;
	line[n] = '\0';
	*out = line;
	*len = n;
	return FM_LINE_OK;
}

/* Bytes of a line over the limit, about to be dropped, to the caller's spill. */
static void spill(struct fm_reader *r, const char *p, size_t n)
{
	if (r->spill && n)
		r->spill(r->spill_ctx, p, n, !r->skipping);
}

enum fm_line fm_reader_take(struct fm_reader *r, char **line, size_t *len)
{
	char *p = r->buf ? r->buf + r->start : NULL;
	size_t avail = r->end - r->start, n;
	char *nl = avail ? memchr(p, '\n', avail) : NULL;

	if (nl) {
		n = (size_t)(nl - p);
		r->start += n + 1;
		if (r->skipping || n > r->max)
			spill(r, p, n + 1);
		return give(r, p, n, 1, line, len);
	}
	if (avail > r->max) {
		/* Too long already: drop it and remember to skip the rest. */
		spill(r, p, avail);
		r->skipping = 1;
		r->start = r->end = 0;
		avail = 0;
	}
	if (r->eof && (avail || r->skipping)) {
		r->start = r->end;
		if (r->skipping)
			spill(r, p, avail);
		/* A last line without its newline still counts. */
		return give(r, p, avail, 0, line, len);
	}
	return FM_LINE_NONE;
}

enum fm_line fm_reader_next(struct fm_reader *r, char **line, size_t *len)
{
	for (;;) {
		enum fm_line got = fm_reader_take(r, line, len);

		if (got != FM_LINE_NONE || r->eof)
			return got;
		if (fm_reader_fill(r) < 0)
			return FM_LINE_ERROR;
	}
}

void fm_writer_init(struct fm_writer *w, int fd)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
}

void fm_writer_release(struct fm_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

static int write_all(struct fm_writer *w, const char *p, size_t n)
{
	while (n > 0 && !w->failed) {
		ssize_t k = write(w->fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			w->failed = errno;
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	if (w->failed) {
		errno = w->failed;
		return -1;
	}
	return 0;
}

int fm_writer_flush(struct fm_writer *w)
{
	int rc = write_all(w, w->buf, w->len);

	w->len = 0;
	return rc;
}

/* Appends a line and what ends it, after the '\n' an open line lacks. */
static int put(struct fm_writer *w, const char *line, size_t len, const char *eol)
{
	size_t elen = strlen(eol), need = (size_t)w->open + len + elen;

	if (w->len + need > FM_WRITER_BUF && fm_writer_flush(w) < 0)
		return -1;
	if (w->len + need > w->cap) {
		w->cap = w->len + need > FM_WRITER_BUF ? w->len + need : FM_WRITER_BUF;
		w->buf = fm_xrealloc(w->buf, w->cap);
	}
	if (w->open)
		w->buf[w->len++] = '\n';
	memcpy(w->buf + w->len, line, len);
	memcpy(w->buf + w->len + len, eol, elen);
	w->len += len + elen;
	w->open = !elen || eol[elen - 1] != '\n';
	if (w->len >= FM_WRITER_BUF)
		return fm_writer_flush(w);
	return w->failed ? -1 : 0;
}

int fm_writer_line(struct fm_writer *w, const char *line, size_t len)
{
	return put(w, line, len, "\n");
}

int fm_writer_pass(struct fm_writer *w, const struct fm_reader *r, const char *line, size_t len)
{
	return put(w, line, len, r ? r->eol : "\n");
}

int fm_writer_raw(struct fm_writer *w, const char *p, size_t n, int first)
{
	int lead = first && w->open;

	if (w->failed)
		return -1;
	if (w->len + (size_t)lead + n > FM_WRITER_BUF && fm_writer_flush(w) < 0)
		return -1;
	if (!w->buf) {
		w->cap = FM_WRITER_BUF;
		w->buf = fm_xmalloc(w->cap);
	}
	/* The buffer holds FM_WRITER_BUF bytes at least, and fewer are in it. */
	if (lead)
		w->buf[w->len++] = '\n';
	if (n > 0)
		w->open = p[n - 1] != '\n';
	/* A piece too big for the buffer goes out as it is. */
	if (w->len + n > FM_WRITER_BUF)
		return fm_writer_flush(w) < 0 ? -1 : write_all(w, p, n);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

int fm_writer_json(struct fm_writer *w, json_object *obj)
{
	const char *s = fm_json_str(obj);

	return fm_writer_line(w, s, strlen(s));
}

/* --- the scan ------------------------------------------------------------ */

/* Bytes that end a run of plain string bytes: '"', '\\', controls, non-ASCII. */
static int stops(unsigned char c)
{
	return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/*
 * Which of the 8 bytes in x stop a run, all at once: the usual test for a
 * zero byte, on x itself for the controls (below 0x20) and on x with each
 * byte xor'ed with a quote and a backslash; a byte's top bit is set when
 * it stops. A byte above one that stops may show as stopping too, never
 * one below, so the lowest bit set is the first byte that stops.
 */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static uint64_t word_stops(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');

	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x) | x) & HIGHS;
}

/* A UTF-8 sequence at p as RFC 3629 has it: its length, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	/* No overlong form, no surrogate, nothing past U+10FFFF. */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* A string's body from p (after its quote): the byte after its end quote, or NULL. */
static const char *scan_string(const char *s, const char *e, int *escaped)
{
	const unsigned char *p = (const unsigned char *)s, *end = (const unsigned char *)e;
	unsigned v;
	size_t n;
	int i, d;

	for (;;) {
		/* Eight bytes a step (most of a line is plain), to the byte that stops. */
		while (end - p >= 8) {
			uint64_t x, m;

			memcpy(&x, p, 8);
			if ((m = word_stops(x))) {
				/* Where the lowest bit is the first byte; else byte by byte. */
				if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
					p += __builtin_ctzll(m) / 8;
					goto stop;
				}
				break;
			}
			p += 8;
		}
		while (p < end && !stops(*p))
			p++;
		if (p == end)
			return NULL;
	stop:
		if (*p == '"')
			return (const char *)p + 1;
		if (*p >= 0x80) {
			if (!(n = utf8_seq(p, end)))
				return NULL;
			p += n;
			continue;
		}
		if (*p != '\\' || end - p < 2)
			return NULL; /* a control character, or the line ends */
		*escaped = 1;
		if (strchr("\"\\/bfnrt", p[1]) && p[1]) {
			p += 2;
			continue;
		}
		if (p[1] != 'u' || end - p < 6)
			return NULL;
		for (v = 0, i = 2; i < 6; i++) {
			if ((d = fm_hex_digit(p[i])) < 0)
				return NULL;
			v = v * 16 + (unsigned)d;
		}
		/* json-c keeps a NUL in a string, and pairs are fm_json_parse's to check. */
		if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
			return NULL;
		p += 6;
	}
}

static const char *scan_digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* A number from p: the byte after it, or NULL (also when json-c might read it otherwise). */
static const char *scan_number(const char *p, const char *end)
{
	const char *start = p, *q;
	int whole = 1;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		p = scan_digits(p, end);
	else
		return NULL;
	if (p < end && *p == '.') {
		q = scan_digits(p + 1, end);
		if (q == p + 1)
			return NULL;
		p = q;
		whole = 0;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		q = scan_digits(p, end);
		/* Two digits at most: 1e999 is infinite, which fm_json_parse refuses. */
		if (q == p || q - p > 2)
			return NULL;
		p = q;
		whole = 0;
	}
	/* A whole number of 19 digits may not fit json-c's int64: it clamps. */
	if (p - start > FM_JSON_SCAN_NUMBER || (whole && p - start - (*start == '-') > 18))
		return NULL;
	return p;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/*
 * Whether the n bytes at a and b are the same: by two loads that overlap
 * (a call of memcmp cost more than these few bytes of a member's name).
 */
static int same_bytes(const char *a, const char *b, size_t n)
{
	uint64_t x, y, u, v;
	uint32_t x4, y4, u4, v4;

	if (n >= 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		memcpy(&u, a + n - 8, 8);
		memcpy(&v, b + n - 8, 8);
		return x == y && u == v && (n <= 16 || !memcmp(a + 8, b + 8, n - 16));
	}
	if (n >= 4) {
		memcpy(&x4, a, 4);
		memcpy(&y4, b, 4);
		memcpy(&u4, a + n - 4, 4);
		memcpy(&v4, b + n - 4, 4);
		return x4 == y4 && u4 == v4;
	}
	return !memcmp(a, b, n);
}

/*
 * The field named by the n bytes at name, or NULL. The search starts
 * after the last one found (*next): members tend to come in the order
 * the caller lists them, each found at the first look.
 */
static struct fm_json_field *field(struct fm_json_field *f, size_t nf, const char *name, size_t n,
				   size_t *next)
{
	size_t i = *next, j;

	for (j = 0; j < nf; j++, i = i + 1 == nf ? 0 : i + 1) {
		if (f[i].name_len == n && f[i].name[0] == name[0] &&
		    same_bytes(f[i].name, name, n)) {
			*next = i + 1 == nf ? 0 : i + 1;
			return &f[i];
		}
	}
	return NULL;
}

/* What the scan of one line knows. */
struct scan {
	const char *end;
	struct fm_json_field *fields;
	size_t nf, next;
};

static const char *scan_value(struct scan *s, const char *p, int depth, struct fm_json_field *cur);

/* An object's members from p, after its '{', depth deep: the byte after its '}', or NULL. */
static const char *scan_object(struct scan *s, const char *p, int depth)
{
	struct fm_json_field *cur;
	const char *q;
	int escaped;

	p = skip_space(p, s->end);
	if (p < s->end && *p == '}')
		return p + 1;
	for (;;) {
		escaped = 0;
		if (p == s->end || *p != '"' || !(q = scan_string(p + 1, s->end, &escaped)))
			return NULL;
		cur = NULL;
		if (depth == 1) {
			/* json-c reads "typ\u0065" as "type", and keeps the last of two. */
			if (escaped)
				return NULL;
			cur = field(s->fields, s->nf, p + 1, (size_t)(q - p - 2), &s->next);
			if (cur && cur->kind != FM_JSON_ABSENT)
				return NULL;
		}
		p = skip_space(q, s->end);
		if (p == s->end || *p != ':')
			return NULL;
		if (!(p = scan_value(s, skip_space(p + 1, s->end), depth, cur)))
			return NULL;
		if ((p = skip_space(p, s->end)) == s->end)
			return NULL;
		if (*p == '}')
			return p + 1;
		if (*p != ',')
			return NULL;
		p = skip_space(p + 1, s->end);
	}
}

/* An array's values from p, after its '[', depth deep: the byte after its ']', or NULL. */
static const char *scan_array(struct scan *s, const char *p, int depth)
{
	p = skip_space(p, s->end);
	if (p < s->end && *p == ']')
		return p + 1;
	for (;;) {
		if (!(p = scan_value(s, p, depth, NULL)))
			return NULL;
		if ((p = skip_space(p, s->end)) == s->end)
			return NULL;
		if (*p == ']')
			return p + 1;
		if (*p != ',')
			return NULL;
		p = skip_space(p + 1, s->end);
	}
}

/*
 * The value at p in a container depth deep: the byte after it, or NULL
 * when unsure; cur is the member it is the value of, or NULL.
 */
static const char *scan_value(struct scan *s, const char *p, int depth, struct fm_json_field *cur)
{
	const char *q, *end = s->end;
	int escaped = 0;

	if (p == end)
		return NULL;
	if (*p == '"') {
		if (!(q = scan_string(p + 1, end, &escaped)))
			return NULL;
		if (cur) {
			cur->kind = FM_JSON_STRING;
			cur->at = p + 1;
			cur->len = (size_t)(q - p - 2);
			cur->escaped = escaped;
		}
		return q;
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		if (!(q = scan_number(p, end)))
			return NULL;
		if (cur) {
			cur->kind = FM_JSON_NUMBER;
			cur->at = p;
			cur->len = (size_t)(q - p);
		}
		return q;
	}
	if (cur)
		cur->kind = FM_JSON_OTHER;
	if (*p == '{' || *p == '[') {
		if (depth == FM_JSON_SCAN_DEPTH)
			return NULL;
		return *p == '{' ? scan_object(s, p + 1, depth + 1)
				 : scan_array(s, p + 1, depth + 1);
	}
	if (end - p >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4)))
		return p + 4;
	if (end - p >= 5 && !memcmp(p, "false", 5))
		return p + 5;
	return NULL;
}

int fm_json_scan(const char *line, size_t len, struct fm_json_field *fields, size_t nf)
{
	struct scan s = {line + len, fields, nf, 0};
	const char *p;
	size_t i;

	for (i = 0; i < nf; i++) {
		fields[i].kind = FM_JSON_ABSENT;
		fields[i].at = NULL;
		fields[i].len = 0;
		fields[i].escaped = 0;
		if (!fields[i].name_len)
			fields[i].name_len = strlen(fields[i].name);
	}
	p = skip_space(line, s.end);
	if (p == s.end || *p != '{' || !(p = scan_object(&s, p + 1, 1)))
		return 0;
	return skip_space(p, s.end) == s.end;
}

double fm_json_scan_number(const struct fm_json_field *f)
{
	char text[FM_JSON_SCAN_NUMBER + 1];
	size_t n = f->len < sizeof(text) - 1 ? f->len : sizeof(text) - 1;

	memcpy(text, f->at, n);
	text[n] = '\0';
	/*
	 * As json-c: a number with a fraction or an exponent by strtod (in the
	 * C locale, which filmeto never leaves), else a whole int64.
	 */
	if (memchr(text, '.', n) || memchr(text, 'e', n) || memchr(text, 'E', n))
		return strtod(text, NULL);
	return (double)strtoll(text, NULL, 10);
}
