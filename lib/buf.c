/*
 * The growable buffer and the growable array (buf.h). Capacity doubles,
 * so appending n bytes or elements one at a time costs O(n); out of
 * memory is fatal, as everywhere in lib/.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

static void grow(struct fm_buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	b->cap = (b->len + n + 1) * 2;
	b->s = fm_xrealloc(b->s, b->cap);
}

void fm_buf_add(struct fm_buf *b, const void *data, size_t n)
{
	grow(b, n);
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void fm_buf_addstr(struct fm_buf *b, const char *s)
{
	fm_buf_add(b, s, strlen(s));
}

void fm_buf_addf(struct fm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *fm_buf_str(const struct fm_buf *b)
{
	return b->s ? b->s : "";
}

char *fm_buf_detach(struct fm_buf *b, size_t *len)
{
	char *s = b->s;

	if (len)
		*len = b->len;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void fm_buf_release(struct fm_buf *b)
{
	free(fm_buf_detach(b, NULL));
}

void *fm_grow_array(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n;

	if (need <= *cap)
		return p;
	/* Doubles from 16: small arrays settle at once, big ones in O(log n) steps. */
	n = *cap < 8 ? 16 : *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
	if (n < need)
		n = need;
	if (size && n > SIZE_MAX / size) {
		/* The doubled count overflows; need alone may still fit. */
		if (need > SIZE_MAX / size)
			fm_oom();
		n = need;
	}
	p = fm_xrealloc(p, n * size);
	*cap = n;
	return p;
}
