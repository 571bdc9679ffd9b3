/*
 * NDJSON reader and writer: line splitting, CRLF, the last line without a
 * newline, the bound on line length (a long line is reported once and the
 * next one still read), the writer's whole-line buffering, and lines
 * passed on byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filmeto.h"
#include "tap.h"

/* A pipe holding data, its write end closed: the reader sees data then EOF. */
static int pipe_with(const char *data, size_t len)
{
	int fd[2];

	if (pipe(fd) != 0 || write(fd[1], data, len) != (ssize_t)len)
		abort();
	close(fd[1]);
	return fd[0];
}

/* Reads every line; returns them joined as "[LINE]" or "<LONG>" items. */
static char *all_lines(int fd, size_t max, uint64_t *lineno)
{
	struct fm_reader r;
	char *out = fm_xstrdup(""), *line, *t;
	size_t len;
	enum fm_line got;

	fm_reader_init(&r, fd, max);
	while ((got = fm_reader_next(&r, &line, &len)) != FM_LINE_NONE) {
		if (got == FM_LINE_OK && strlen(line) == len)
			t = fm_xasprintf("%s[%s]", out, line);
		else if (got == FM_LINE_OK)
			t = fm_xasprintf("%s{len mismatch}", out);
		else if (got == FM_LINE_LONG)
			t = fm_xasprintf("%s<LONG>", out);
		else
			t = fm_xasprintf("%s<ERROR>", out);
		free(out);
		out = t;
		if (got == FM_LINE_ERROR)
			break;
	}
	if (lineno)
		*lineno = r.lineno;
	fm_reader_release(&r);
	close(fd);
	return out;
}

static void lines_are(const char *data, size_t max, const char *want, const char *name)
{
	char *got = all_lines(pipe_with(data, strlen(data)), max, NULL);

	IS_STR(got, want, "ndjson: %s", name);
	free(got);
}

static void test_reader_basic(void)
{
	uint64_t lineno = 0;
	char *got, *dir, *path;
	int fd;

	got = all_lines(pipe_with("a\r\nb\n\nc", 7), 0, &lineno);
	IS_STR(got, "[a][b][][c]",
	       "ndjson: CRLF stripped, empty line kept, last line without newline read");
	IS_INT(lineno, 4, "ndjson: lineno counts every line");
	free(got);
	lines_are("", 0, "", "empty input gives no lines");
	lines_are("\n", 0, "[]", "a lone newline is one empty line");
	lines_are("x\r", 0, "[x]", "a CR before EOF is stripped too");
	lines_are("a\rb\n", 0, "[a\rb]", "a CR inside a line stays");
	lines_are("{\"a\":1}\n{\"b\":2}\n", 0, "[{\"a\":1}][{\"b\":2}]", "two JSON lines");

	/* The bound, with a limit of 16 bytes. */
	lines_are("0123456789abcdef\nnext\n", 16, "[0123456789abcdef][next]",
		  "a line of exactly max bytes is read");
	lines_are("0123456789abcdefg\nnext\n", 16, "<LONG>[next]",
		  "a line of max+1 bytes is LONG once and the next line is read");
	lines_are("short\n0123456789abcdefghijklmnopqrstuvwxyz0123456789\nnext\nlast", 16,
		  "[short]<LONG>[next][last]", "a long line between short ones");
	lines_are("ok\n0123456789abcdefghijklmnopqrstuvwxyz", 16, "[ok]<LONG>",
		  "a long line at EOF is LONG once, then the end");
	lines_are("0123456789abcdef", 16, "[0123456789abcdef]",
		  "a last line of exactly max bytes without newline is read");
	lines_are("0123456789abcdefg", 16, "<LONG>", "a last line of max+1 bytes is LONG");

	/* From a regular file too. */
	dir = tmp_dir();
	path = write_file(dir, "in.ndjson", "one\r\ntwo\nthree");
	fd = open(path, O_RDONLY);
	got = all_lines(fd, 0, NULL);
	IS_STR(got, "[one][two][three]", "ndjson: reading a regular file");
	free(got);
	free(path);
	rm_rf(dir);
	free(dir);
}

/*
 * Feeds the long line in pieces, the way a slow writer would, with
 * fm_reader_fill/fm_reader_take as a poll loop uses them: the reader must
 * never hold more than max bytes of it.
 */
static void test_reader_pieces(void)
{
	struct fm_reader r;
	char *line = NULL;
	size_t len = 0;
	int fd[2], bounded = 1, i;
	enum fm_line got;

	if (pipe(fd) != 0)
		abort();
	fm_reader_init(&r, fd[0], 16);
	for (i = 0; i < 20; i++) {
		if (write(fd[1], "0123456789", 10) != 10)
			abort();
		fm_reader_fill(&r);
		got = fm_reader_take(&r, &line, &len);
		if (got != FM_LINE_NONE)
			break;
		if (r.end - r.start > 16 || r.cap > 16 + 1 + 64 * 1024)
			bounded = 0;
	}
	IS_INT(i, 20, "ndjson: no line is given while a long line is still arriving");
	OK(bounded, "ndjson: at most max bytes of a long line are buffered");
	if (write(fd[1], "tail\nnext\n", 10) != 10)
		abort();
	fm_reader_fill(&r);
	IS_INT(fm_reader_take(&r, &line, &len), FM_LINE_LONG,
	       "ndjson: the long line is LONG when its newline comes");
	got = fm_reader_take(&r, &line, &len);
	OK(got == FM_LINE_OK && len == 4 && !strcmp(line, "next"),
	   "ndjson: the line after a long one is read whole");
	IS_INT(fm_reader_take(&r, &line, &len), FM_LINE_NONE, "ndjson: then nothing is buffered");

	/* A long line still arriving when the writer goes away. */
	if (write(fd[1], "0123456789", 10) != 10 || write(fd[1], "0123456789", 10) != 10)
		abort();
	fm_reader_fill(&r);
	IS_INT(fm_reader_take(&r, &line, &len), FM_LINE_NONE,
	       "ndjson: an unfinished long line waits");
	close(fd[1]);
	IS_INT(fm_reader_next(&r, &line, &len), FM_LINE_LONG, "ndjson: at EOF it is LONG");
	IS_INT(fm_reader_next(&r, &line, &len), FM_LINE_NONE, "ndjson: and then the end");
	OK(r.eof, "ndjson: eof is set");
	IS_INT(r.lineno, 3, "ndjson: lineno counts long lines too");
	fm_reader_release(&r);
	close(fd[0]);

	/* A read error is reported, not taken for the end. */
	fm_reader_init(&r, -1, 16);
	IS_INT(fm_reader_next(&r, &line, &len), FM_LINE_ERROR,
	       "ndjson: a read error is FM_LINE_ERROR");
	IS_INT(errno, EBADF, "ndjson: with errno set");
	fm_reader_release(&r);
}

static char *drain(int fd)
{
	char buf[4096], *out = fm_xstrdup("");
	size_t n = 0;
	ssize_t k;

	while ((k = read(fd, buf, sizeof(buf))) > 0) {
		out = fm_xrealloc(out, n + (size_t)k + 1);
		memcpy(out + n, buf, (size_t)k);
		n += (size_t)k;
		out[n] = '\0';
	}
	return out;
}

static void test_writer(void)
{
	struct fm_writer w;
	json_object *o;
	char *got, *dir, *path, line[1000];
	struct stat st;
	int fd[2], ffd, i, whole = 1;

	if (pipe(fd) != 0)
		abort();
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	fm_writer_init(&w, fd[1]);
	OK(fm_writer_line(&w, "abc", 3) == 0, "writer: a line is accepted");
	OK(read(fd[0], line, sizeof(line)) < 0 && errno == EAGAIN,
	   "writer: nothing is written before a flush");
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("log"));
	json_object_object_add(o, "path", json_object_new_string("/a/b"));
	OK(fm_writer_json(&w, o) == 0, "writer: a JSON line is accepted");
	json_object_put(o);
	OK(fm_writer_flush(&w) == 0, "writer: flush succeeds");
	close(fd[1]);
	fcntl(fd[0], F_SETFL, 0);
	got = drain(fd[0]);
	IS_STR(got, "abc\n{\"type\":\"log\",\"path\":\"/a/b\"}\n",
	       "writer: whole compact lines arrive");
	free(got);
	close(fd[0]);
	fm_writer_release(&w);

	/* Past FM_WRITER_BUF the writer writes out, and only whole lines. */
	dir = tmp_dir();
	path = fm_xasprintf("%s/out", dir);
	ffd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	memset(line, 'x', sizeof(line) - 1);
	fm_writer_init(&w, ffd);
	for (i = 0; i < 200; i++) {
		if (fm_writer_line(&w, line, sizeof(line) - 1) < 0)
			whole = 0;
		if (fstat(ffd, &st) == 0 && st.st_size % (off_t)sizeof(line) != 0)
			whole = 0;
	}
	OK(whole, "writer: the file only ever holds whole lines");
	OK(fstat(ffd, &st) == 0 && st.st_size > 0 && st.st_size < 200 * (off_t)sizeof(line),
	   "writer: a full buffer was written out before the flush");
	OK(fm_writer_flush(&w) == 0 && fstat(ffd, &st) == 0 &&
	       st.st_size == 200 * (off_t)sizeof(line),
	   "writer: flush writes the rest");
	fm_writer_release(&w);

	/* One line bigger than the buffer goes out whole. */
	got = fm_xmalloc(FM_WRITER_BUF * 2);
	memset(got, 'y', FM_WRITER_BUF * 2);
	if (ftruncate(ffd, 0) != 0 || lseek(ffd, 0, SEEK_SET) != 0)
		abort();
	fm_writer_init(&w, ffd);
	OK(fm_writer_line(&w, got, FM_WRITER_BUF * 2) == 0 && fm_writer_flush(&w) == 0 &&
	       fstat(ffd, &st) == 0 && st.st_size == FM_WRITER_BUF * 2 + 1,
	   "writer: a line longer than the buffer is written whole");
	fm_writer_release(&w);
	free(got);
	close(ffd);
	free(path);
	rm_rf(dir);
	free(dir);

	/* A write error is sticky. */
	if (pipe(fd) != 0)
		abort();
	close(fd[0]);
	fm_writer_init(&w, fd[1]);
	fm_writer_line(&w, "a", 1);
	OK(fm_writer_flush(&w) < 0 && errno == EPIPE, "writer: a closed pipe gives EPIPE");
	OK(w.failed == EPIPE && fm_writer_line(&w, "b", 1) < 0,
	   "writer: after an error every line fails");
	fm_writer_release(&w);
	close(fd[1]);
}

static char *spilled(const char *data, size_t max, const char *own);

/* Every line of data through fm_writer_pass, then one line of our own. */
static char *passed(const char *data, const char *own)
{
	return spilled(data, 0, own);
}

static void test_pass(void)
{
	static const char *const same[] = {
	    "a\r\nb\n",	     "a\nb", "a\r\nb\r\nc", "x\r",	"\r\n\n", "a\rb\r\n",
	    "{\"a\":1}\r\n", "",     "one\r\n\r\n", "last\r\n",
	};
	size_t i;
	char *got;

	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		got = passed(same[i], NULL);
		IS_STR(got, same[i], "pass: %zu: the bytes go on unchanged, CRs and all", i);
		free(got);
	}
	got = passed("a\r\nend", "own");
	IS_STR(got, "a\r\nend\nown\n", "pass: a line after one without a newline starts anew");
	free(got);
	got = passed("x\r", "own");
	IS_STR(got, "x\r\nown\n", "pass: a last line ending in CR gets its LF before the next");
	free(got);
	got = passed("a\r\n", "own");
	IS_STR(got, "a\r\nown\n", "pass: a whole line needs nothing added");
	free(got);
}

static void spill_to(void *ctx, const char *p, size_t n, int first)
{
	fm_writer_raw(ctx, p, n, first);
}

/*
 * Every line of data passed on, those over max bytes (0: the reader's
 * default) by the reader's spill, then one line of our own.
 */
static char *spilled(const char *data, size_t max, const char *own)
{
	struct fm_writer w;
	struct fm_reader r;
	enum fm_line got;
	char *line, *out;
	size_t len;
	int fd[2];

	if (pipe(fd) != 0)
		abort();
	fm_reader_init(&r, pipe_with(data, strlen(data)), max);
	fm_writer_init(&w, fd[1]);
	r.spill = spill_to;
	r.spill_ctx = &w;
	while ((got = fm_reader_next(&r, &line, &len)) != FM_LINE_NONE && got != FM_LINE_ERROR)
		if (got == FM_LINE_OK)
			fm_writer_pass(&w, &r, line, len);
	if (own)
		fm_writer_line(&w, own, strlen(own));
	fm_writer_flush(&w);
	fm_writer_release(&w);
	close(fd[1]);
	close(r.fd);
	fm_reader_release(&r);
	out = drain(fd[0]);
	close(fd[0]);
	return out;
}

static void test_spill(void)
{
	static const char *const same[] = {
	    "short\r\nthis line is longer than eight\r\nok\n",
	    "a line too long at the start\nb\n",
	    "a\na long last line, no newline",
	    "a long last line ending in CR\r",
	    "two long lines, one after\r\nthe other, each past max\n",
	};
	size_t i;
	char *got;

	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		got = spilled(same[i], 8, NULL);
		IS_STR(got, same[i], "spill: %zu: a line too long goes on byte for byte", i);
		free(got);
	}
	got = spilled("x\nlonger than eight", 8, "own");
	IS_STR(got, "x\nlonger than eight\nown\n",
	       "spill: a line after a long one without a newline starts anew");
	free(got);
}

/* What fm_json_scan says of s: "-" unsure, else each field as kind:value. */
static char *scanned(const char *s)
{
	struct fm_json_field f[] = {{.name = "type"}, {.name = "task_id"}, {.name = "percent"}};
	char *out = fm_xstrdup(""), *t;
	size_t i;

	if (!fm_json_scan(s, strlen(s), f, 3)) {
		free(out);
		return fm_xstrdup("-");
	}
	for (i = 0; i < 3; i++) {
		t = fm_xasprintf("%s%s%d:%.*s%s", out, i ? " " : "", (int)f[i].kind, (int)f[i].len,
				 f[i].at ? f[i].at : "", f[i].escaped ? "(esc)" : "");
		free(out);
		out = t;
	}
	return out;
}

static void test_scan(void)
{
	static const struct {
		const char *line, *want, *why;
	} cases[] = {
	    {"{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":12.5}", "1:progress 1:a 2:12.5",
	     "filmeto-run's spelling"},
	    {" { \"percent\" : -0 ,\t\"task_id\":\"a\" , \"type\": \"log\" }\r", "1:log 1:a 2:-0",
	     "any order and spacing"},
	    {"{\"type\":\"x\\u00e9\",\"percent\":true,\"d\":{\"task_id\":[1,{}]}}",
	     "1:x\\u00e9(esc) 0: 3:", "an escape noted; a nested member is not the top one"},
	    {"{\"type\":\"\xc3\xa9\xf0\x9f\x8e\xac\",\"task_id\":[]}",
	     "1:\xc3\xa9\xf0\x9f\x8e\xac 3: 0:", "UTF-8 strings"},
	    {"{}", "0: 0: 0:", "an empty object"},
	    {"{\"percent\":1.}", "-", "a number json-c takes and JSON does not"},
	    {"{\"percent\":1e999}", "-", "a number json-c makes infinite"},
	    {"{\"percent\":1234567890123456789}", "-", "a whole number json-c may clamp"},
	    {"{\"type\":\"a\",\"type\":\"b\"}", "-", "a member named twice"},
	    {"{\"typ\\u0065\":\"a\"}", "-", "an escape in a top-level name"},
	    {"{\"a\":\"\\ud83c\"}", "-", "half a surrogate pair"},
	    {"{\"a\":\"\\u0000\"}", "-", "a NUL"},
	    {"{\"a\":\"\xc0\x80\"}", "-", "overlong UTF-8"},
	    {"{\"a\":\"\xed\xa0\x80\"}", "-", "a surrogate in UTF-8"},
	    {"{\"a\":\"x\ty\"}", "-", "a control character in a string"},
	    {"{\"a\":1,}", "-", "a trailing comma"},
	    {"{\"a\":1} x", "-", "trailing data"},
	    {"{\"a\":1}\f", "-", "a form feed after"},
	    {"[1]", "-", "no object"},
	    {"{'a':1}", "-", "single quotes"},
	    {"{\"a\":nul}", "-", "a word cut short"},
	    {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "-",
	     "deeper than FM_JSON_SCAN_DEPTH"},
	    {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	     "0: 0: 0:", "as deep as FM_JSON_SCAN_DEPTH"},
	    {"{\"type\":\"a", "-", "a string the line cuts"},
	};
	struct fm_json_field f = {.name = "percent"};
	size_t i;
	char *got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = scanned(cases[i].line);
		IS_STR(got, cases[i].want, "scan: %s", cases[i].why);
		free(got);
	}
	/* As json-c: -0 is the whole number 0, whose double is +0. */
	OK(fm_json_scan("{\"percent\":-0}", 14, &f, 1) && fm_json_scan_number(&f) == 0 &&
	       !signbit(fm_json_scan_number(&f)),
	   "scan: -0 reads as json-c reads it, 0");
	OK(fm_json_scan("{\"percent\":1E+2}", 16, &f, 1) && fm_json_scan_number(&f) == 100,
	   "scan: 1E+2 reads as 100");
}

void test_ndjson(void)
{
	test_reader_basic();
	test_reader_pieces();
	test_writer();
	test_pass();
	test_spill();
	test_scan();
}
