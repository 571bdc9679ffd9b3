/*
 * Terminal text: escape sequences are skipped as ECMA-48 frames them (a
 * terminal would act on all of them, not only on the ESC), so none of a
 * sequence's bytes reach the screen; widths come from the C library's
 * wcwidth in a UTF-8 locale of its own, whatever the process's locale,
 * since the bars and marks filmeto draws are UTF-8 anyway.
 */
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "term.h"

#define ESC 0x1b
#define BEL 0x07

static locale_t utf8;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_init(void)
{
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!utf8)
		utf8 = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
}

/* Whether p starts a string terminator: BEL, ESC \ or U+009C. */
static size_t terminator(const unsigned char *p, const unsigned char *end)
{
	if (*p == BEL)
		return 1;
	if (end - p >= 2 && ((p[0] == ESC && p[1] == '\\') || (p[0] == 0xc2 && p[1] == 0x9c)))
		return 2;
	return 0;
}

/*
 * Past what follows an introducer: the byte after ESC, or a C1 control's
 * 7-bit form (U+009B is ESC [). A control string (OSC, DCS, SOS, PM, APC)
 * runs to its terminator, a CSI to its final byte; other sequences are
 * intermediates and one final byte.
 */
static const unsigned char *sequence_end(const unsigned char *p, const unsigned char *end,
					 unsigned char intro)
{
	size_t t;

	if (strchr("]PX^_", intro)) {
		for (; p < end; p++)
			if ((t = terminator(p, end)))
				return p + t;
		return end;
	}
	if (intro == '[') {
		while (p < end && *p >= 0x20 && *p <= 0x3f)
			p++;
		return p < end && *p >= 0x40 && *p <= 0x7e ? p + 1 : p;
	}
	return p;
}

/* Past the escape sequence that starts with ESC at p. */
static const unsigned char *escape_end(const unsigned char *p, const unsigned char *end)
{
	unsigned char c;

	if (++p == end)
		return p;
	c = *p;
	if (c && strchr("[]PX^_", c))
		return sequence_end(p + 1, end, c);
	while (p < end && *p >= 0x20 && *p <= 0x2f)
		p++;
	return p < end && *p >= 0x30 && *p <= 0x7e ? p + 1 : p;
}

/* Characters that would reorder what the terminal shows after them. */
static int bidi_control(wchar_t wc)
{
	return (wc >= 0x202a && wc <= 0x202e) || (wc >= 0x2066 && wc <= 0x2069);
}

struct out {
	char *dst;
	size_t size, len;
	int cols, used, full;
	/* The end of the last character that leaves a column for an ellipsis. */
	size_t mark;
	int mark_used;
};

/* Appends n bytes that take w columns, unless they do not fit. */
static void put(struct out *o, const void *s, size_t n, int w)
{
	if (o->full || o->used + w > o->cols || o->len + n + 1 > o->size) {
		o->full = 1;
		return;
	}
	memcpy(o->dst + o->len, s, n);
	o->len += n;
	o->used += w;
	if (o->used < o->cols) {
		o->mark = o->len;
		o->mark_used = o->used;
	}
}

/* The columns of the character of the clean text at p, *k bytes long. */
static int clean_width(const char *p, size_t n, size_t *k)
{
	mbstate_t st;
	wchar_t wc;
	int w;

	*k = 1;
	if ((unsigned char)*p < 0x80)
		return 1;
	if (!utf8) {
		*k = n < 3 ? n : 3; /* only replacements are left without the locale */
		return 1;
	}
	memset(&st, 0, sizeof(st));
	*k = mbrtowc(&wc, p, n, &st);
	if (*k == (size_t)-1 || *k == (size_t)-2 || *k == 0) {
		*k = 1;
		return 1;
	}
	w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

/*
 * The clean text of o, wider than its columns, cut from the left: what
 * is left out goes, then with path up to the next '/' when a name follows
 * it, and the ellipsis comes first. Returns the columns used.
 */
static int cut_left(struct out *o, int used, int path)
{
	const char *s = o->dst, *slash;
	size_t off = 0, k, len = o->len;

	if (o->cols < 1 || o->size < 4) {
		o->len = 0;
		return 0;
	}
	while (off < len && (used > o->cols - 1 || 3 + len - off + 1 > o->size)) {
		used -= clean_width(s + off, len - off, &k);
		off += k;
	}
	/* A combining character does not start a line. */
	while (off < len && clean_width(s + off, len - off, &k) == 0)
		off += k;
	if (path && (slash = memchr(s + off, '/', len - off)) && slash + 1 < s + len) {
		for (; s + off < slash; off += k)
			used -= clean_width(s + off, len - off, &k);
	}
	memmove(o->dst + 3, s + off, len - off);
	memcpy(o->dst, FM_TERM_ELLIPSIS, 3);
	o->len = 3 + len - off;
	return used + 1;
}

int fm_term_fit(char *dst, size_t size, const char *s, size_t n, int cols, enum fm_term_cut how)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	struct out o = {dst, size, 0, how == FM_TERM_PATH ? INT_MAX : cols, 0, 0, 0, 0};
	locale_t old = (locale_t)0;
	mbstate_t st;

	if (!size)
		return 0;
	pthread_once(&utf8_once, utf8_init);
	if (utf8)
		old = uselocale(utf8);
	while (p < end && !o.full) {
		wchar_t wc;
		size_t k;
		int w;

		if (*p == '\t' || *p == '\n' || *p == '\r') {
			put(&o, " ", 1, 1);
			p++;
			continue;
		}
		if (*p == ESC) {
			put(&o, FM_TERM_REPLACEMENT, 3, 1);
			p = escape_end(p, end);
			continue;
		}
		if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8)) {
			put(&o, FM_TERM_REPLACEMENT, 3, 1);
			p++;
			continue;
		}
		memset(&st, 0, sizeof(st));
		k = mbrtowc(&wc, (const char *)p, (size_t)(end - p), &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			put(&o, FM_TERM_REPLACEMENT, 3, 1);
			p++;
			continue;
		}
		if (wc >= 0x80 && wc <= 0x9f) {
			put(&o, FM_TERM_REPLACEMENT, 3, 1);
			p = sequence_end(p + k, end, (unsigned char)(wc - 0x40));
			continue;
		}
		w = bidi_control(wc) ? -1 : wcwidth(wc);
		if (w < 0)
			put(&o, FM_TERM_REPLACEMENT, 3, 1);
		else
			put(&o, p, k, w);
		p += k;
	}
	if (how == FM_TERM_PATH && o.used > cols) {
		o.cols = cols;
		o.used = cut_left(&o, o.used, 1);
	} else if (how == FM_TERM_END && o.full && cols >= 1) {
		size_t k;

		o.len = o.mark;
		o.used = o.mark_used;
		/* A buffer too small for the ellipsis after the mark cuts more. */
		while (o.len > 0 && o.len + 3 + 1 > o.size) {
			while (--o.len > 0 && ((unsigned char)dst[o.len] & 0xC0) == 0x80)
				;
			o.used -= clean_width(dst + o.len, o.mark - o.len, &k);
		}
		if (o.len + 3 + 1 <= o.size) {
			memcpy(o.dst + o.len, FM_TERM_ELLIPSIS, 3);
			o.len += 3;
			o.used++;
		}
	}
	if (utf8)
		uselocale(old);
	dst[o.len] = '\0';
	return o.used;
}

int fm_term_text(char *dst, size_t size, const char *s, size_t n, int cols)
{
	return fm_term_fit(dst, size, s, n, cols, FM_TERM_CLIP);
}

int fm_term_width(const char *s)
{
	size_t n = strlen(s), size = 3 * n + 1;
	char small[1024], *buf = size <= sizeof(small) ? small : malloc(size);
	int w;

	if (!buf)
		return (int)n; /* no memory to look: at least a column a byte, as if all ASCII */
	w = fm_term_text(buf, size, s, n, INT_MAX);
	if (buf != small)
		free(buf);
	return w;
}
