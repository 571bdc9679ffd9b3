/*
 * NDJSON reading and writing. The reader keeps at most FM_LINE_MAX bytes
 * of one line: past that it drops what it has, skips to the next newline
 * and reports the line as too long, so a hostile stream costs bounded
 * memory. The writer buffers whole lines only. A line is given without
 * its "\n" or "\r\n" (JSON does not care), and the reader keeps what
 * ended it, so a filter passes on the lines it does not read unchanged.
 */
#include <errno.h>
#include <stdio.h>
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
	snprintf(r->eol, sizeof(r->eol), "%s%s", cr ? "\r" : "", nl ? "\n" : "");
	n -= (size_t)cr;
	line[n] = '\0';
	*out = line;
	*len = n;
	return FM_LINE_OK;
}

enum fm_line fm_reader_take(struct fm_reader *r, char **line, size_t *len)
{
	char *p = r->buf ? r->buf + r->start : NULL;
	size_t avail = r->end - r->start;
	char *nl = avail ? memchr(p, '\n', avail) : NULL;

	if (nl) {
		r->start += (size_t)(nl - p) + 1;
		return give(r, p, (size_t)(nl - p), 1, line, len);
	}
	if (avail > r->max) {
		/* Too long already: drop it and remember to skip the rest. */
		r->skipping = 1;
		r->start = r->end = 0;
		avail = 0;
	}
	if (r->eof && (avail || r->skipping)) {
		r->start = r->end;
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

int fm_writer_json(struct fm_writer *w, json_object *obj)
{
	const char *s = fm_json_str(obj);

	return fm_writer_line(w, s, strlen(s));
}
