/*
 * A growable byte string, always NUL-terminated (git's strbuf is the
 * model): the one buffer lib/, the commands and the plugins append to.
 * A zeroed struct (FM_BUF_INIT) is an empty buffer; s is NULL until the
 * first append.
 */
#ifndef FM_BUF_H
#define FM_BUF_H

#include <stddef.h>

struct fm_buf {
	char *s;
	size_t len, cap;
};

#define FM_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void fm_buf_add(struct fm_buf *b, const void *data, size_t n);
void fm_buf_addstr(struct fm_buf *b, const char *s);
void fm_buf_addf(struct fm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far, "" when nothing was added (never NULL). */
const char *fm_buf_str(const struct fm_buf *b);
/* Hands the text (NULL when nothing was added) to the caller; b is empty again. */
char *fm_buf_detach(struct fm_buf *b, size_t *len);
void fm_buf_release(struct fm_buf *b);

/*
 * A growable typed array (git's ALLOC_GROW is the model): p holds *cap
 * elements of size bytes; returns p, or p moved to a block of at least
 * need elements, and sets *cap to the new count. Capacity doubles, so
 * appending n elements one at a time costs O(n). A byte count that
 * overflows is out of memory, and fatal.
 */
void *fm_grow_array(void *p, size_t *cap, size_t need, size_t size);
/* Makes room for need elements of p, a T * whose capacity is cap. */
#define FM_GROW(p, cap, need) ((p) = fm_grow_array((p), &(cap), (need), sizeof(*(p))))

#endif
