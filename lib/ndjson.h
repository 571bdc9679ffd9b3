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
	/*
	 * Set by a caller that passes the stream on (NULL: none): the bytes
	 * of a line over the limit as they are dropped, in pieces, its
	 * newline with the last; first says a piece starts the line.
	 */
	void (*spill)(void *ctx, const char *p, size_t n, int first);
	void *spill_ctx;
};

void fm_reader_init(struct fm_reader *r, int fd, size_t max);
void fm_reader_release(struct fm_reader *r);
/* One read(2): bytes read, 0 at end of input, -1 on error (EAGAIN too). */
ssize_t fm_reader_fill(struct fm_reader *r);
/* The next complete line already buffered, without reading. */
enum fm_line fm_reader_take(struct fm_reader *r, char **line, size_t *len);
/* Blocking: the next line; FM_LINE_NONE only at end of input. */
enum fm_line fm_reader_next(struct fm_reader *r, char **line, size_t *len);

/*
 * A look at one line without building it: whether it is certainly one
 * JSON object that fm_json_parse takes, and where the members named in
 * fields are at its top level. It answers 1 only when sure: strict JSON
 * whose strings are valid UTF-8 (RFC 3629), no control character in a
 * string, no \u0000 nor half of a surrogate pair, numbers of at most
 * FM_JSON_SCAN_NUMBER bytes (exponents of two digits, whole numbers of 18),
 * at most FM_JSON_SCAN_DEPTH deep, no escape in a top-level key and no
 * named member twice. Else 0, and the line goes to fm_json_parse, which
 * knows the rest: a caller's answer never depends on which way it went.
 */
#define FM_JSON_SCAN_DEPTH  32
#define FM_JSON_SCAN_NUMBER 24

enum fm_json_kind {
	FM_JSON_ABSENT, /* no such member */
	FM_JSON_STRING, /* at, len: the bytes between the quotes */
	FM_JSON_NUMBER, /* at, len: the number as written */
	FM_JSON_OTHER	/* an object, array, true, false or null */
};

struct fm_json_field {
	const char *name; /* in: the member's name, plain ASCII */
	size_t name_len;  /* in: strlen(name), or 0 for the scan to count it */
	/* out */
	enum fm_json_kind kind;
	const char *at;
	size_t len;
	int escaped; /* a string with an escape: at, len are not its value */
};

int fm_json_scan(const char *line, size_t len, struct fm_json_field *fields, size_t n);
/* The value of a number fm_json_scan found, as json-c reads the same text. */
double fm_json_scan_number(const struct fm_json_field *f);

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
/*
 * Passes on a piece of a line too long to read, as fm_reader's spill gives
 * it: byte for byte, after the '\n' an open line lacks when first.
 */
int fm_writer_raw(struct fm_writer *w, const char *p, size_t n, int first);
/* Serializes obj as one compact line. */
int fm_writer_json(struct fm_writer *w, json_object *obj);
int fm_writer_flush(struct fm_writer *w);

#endif
