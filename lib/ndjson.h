/*
 * Newline-delimited JSON streams. The reader bounds every line (a longer
 * line is reported and skipped, never buffered whole); the writer only ever
 * writes whole lines, so two filmeto processes sharing a pipe never split
 * each other's lines below PIPE_BUF, and one process never interleaves.
 */
#ifndef FM_NDJSON_H
#define FM_NDJSON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

/* Longest line accepted on any stream, newline excluded. */
#define FM_LINE_MAX (4 * 1024 * 1024)

enum fm_line {
	FM_LINE_ERROR = -1, /* read error; errno is set */
	FM_LINE_NONE = 0,   /* no complete line yet (or end of input) */
	FM_LINE_OK = 1,	    /* a line, NUL-terminated, newline removed */
	FM_LINE_LONG = 2,   /* a line over the limit was skipped */
};

struct fm_reader {
	int fd;
	size_t max;
	char *buf;
	size_t cap, start, end;
	int eof, skipping;
	uint64_t lineno; /* number of the line last returned */
	char eol[3];	 /* what ended it: "\r\n", "\n", or at the end "\r" or "" */
};

void fm_reader_init(struct fm_reader *r, int fd, size_t max);
void fm_reader_release(struct fm_reader *r);
/* One read(2): bytes read, 0 at end of input, -1 on error (EAGAIN too). */
ssize_t fm_reader_fill(struct fm_reader *r);
/* The next complete line already buffered, without reading. */
enum fm_line fm_reader_take(struct fm_reader *r, char **line, size_t *len);
/* Blocking: the next line; FM_LINE_NONE only at end of input. */
enum fm_line fm_reader_next(struct fm_reader *r, char **line, size_t *len);

/* Lines that go out in whole lines, buffered until a flush. */
#define FM_WRITER_BUF (64 * 1024)

struct fm_writer {
	int fd;
	char *buf;
	size_t len, cap;
	int failed; /* errno of the first write error, sticky */
	int open;   /* the last line went out without its '\n' */
};

void fm_writer_init(struct fm_writer *w, int fd);
void fm_writer_release(struct fm_writer *w);
/* Appends line + '\n'; writes out when the buffer fills. */
int fm_writer_line(struct fm_writer *w, const char *line, size_t len);
/*
 * Passes on a line r just gave, byte for byte: with the "\r\n" it had,
 * or without a newline when it had none at the end of input. A line
 * written after one without a newline starts a new line, so two lines
 * never run together. Without r, the line ends in '\n'.
 */
int fm_writer_pass(struct fm_writer *w, const struct fm_reader *r, const char *line, size_t len);
/* Serializes obj as one compact line. */
int fm_writer_json(struct fm_writer *w, json_object *obj);
int fm_writer_flush(struct fm_writer *w);

#endif
