/*
 * Fuzz target: an NDJSON stream of task lines. The input goes through a
 * pipe in small pieces (the piece size comes from the input length), read
 * with fm_reader_fill/fm_reader_take as a poll loop would and then with
 * fm_reader_next once the writer is gone, with a small line limit so long
 * lines are common. Each line is parsed as JSON, read as a task (which
 * must survive a round trip through fm_task_to_json) and as a final
 * result event. Passed on with fm_writer_pass, and a line too long to
 * read with fm_writer_raw as the reader spills it, the lines must give
 * back the input byte for byte. Everything is freed: LeakSanitizer runs
 * under libFuzzer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filmeto.h"

/* Small enough that the fuzzer reaches it, big enough for real tasks. */
#define FUZZ_LINE_MAX 512

/* Compared as text: json_object_equal() says NaN differs from itself. */
static int same(json_object *a, json_object *b)
{
	char *sa = fm_xstrdup(fm_json_str(a));
	int eq = !strcmp(sa, fm_json_str(b));

	free(sa);
	return eq;
}

static void check_task(json_object *obj)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_task t, t2;
	json_object *out, *back = NULL;
	const char *s;

	if (fm_task_from_json(&t, obj, &err) < 0) {
		/* A refusal always says why, as a validation error. */
		if (err.code != FM_VALIDATION_ERROR || !err.message[0])
			abort();
		fm_task_release(&t);
		fm_error_release(&err);
		return;
	}
	/* A plugin name that reaches a plugin lookup is a plugin name. */
	if (t.plugin_name && !fm_plugin_name_valid(t.plugin_name))
		abort();
	out = fm_task_to_json(&t);
	s = fm_json_str(out);
	/* What the library writes, the library must read back the same. */
	if (fm_json_parse(s, strlen(s), &back, &err) < 0)
		abort();
	if (fm_task_from_json(&t2, back, &err) < 0 || strcmp(t.task_id, t2.task_id) ||
	    strcmp(t.tool_name, t2.tool_name) || !same(t.parameters, t2.parameters) ||
	    !same(t.resources, t2.resources) || !same(t.depends_on, t2.depends_on))
		abort();
	fm_task_release(&t2);
	json_object_put(back);
	json_object_put(out);
	fm_task_release(&t);
	fm_error_release(&err);
}

static void check_result(json_object *obj)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_result r;
	json_object *out;

	/* Zeroed first: fm_result_from_json may fail before initializing r. */
	memset(&r, 0, sizeof(r));
	if (fm_result_from_json(&r, obj, &err) == 0) {
		out = fm_result_to_json(&r);
		(void)fm_json_str(out);
		json_object_put(out);
	}
	fm_result_release(&r);
	fm_error_release(&err);
}

static void take_line(enum fm_line got, char *line, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *obj;

	if (got != FM_LINE_OK)
		return;
	if (len > FUZZ_LINE_MAX || line[len] != '\0')
		abort();
	if (fm_json_parse(line, len, &obj, &err) < 0) {
		fm_error_release(&err);
		return;
	}
	check_task(obj);
	check_result(obj);
	json_object_put(obj);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Passes the line on to w; a line too long went by spill already. */
static void pass(struct fm_writer *w, const struct fm_reader *r, enum fm_line got, char *line,
		 size_t len)
{
	if (got == FM_LINE_OK)
		fm_writer_pass(w, r, line, len);
}

static void spill(void *ctx, const char *p, size_t n, int first)
{
	fm_writer_raw(ctx, p, n, first);
}

/* What went through w (on a memfd) is the input, unless the pipe broke. */
static void check_passed(struct fm_writer *w, const uint8_t *data, size_t size, int skipped)
{
	char *back = fm_xmalloc(size + 1);

	if (fm_writer_flush(w) == 0 && !skipped &&
	    (pread(w->fd, back, size + 1, 0) != (ssize_t)size || memcmp(back, data, size)))
		abort();
	free(back);
	fm_writer_release(w);
	close(w->fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_reader r;
	struct fm_writer w;
	size_t piece = 1 + size % 61, off = 0, len;
	enum fm_line got;
	char *line;
	int fd[2];

	if (pipe(fd) != 0)
		return 0;
	fm_writer_init(&w, memfd_create("passed", MFD_CLOEXEC));
	fm_reader_init(&r, fd[0], FUZZ_LINE_MAX);
	r.spill = spill;
	r.spill_ctx = &w;
	/* The pipe never fills: each piece is read before the next is written. */
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;

		if (write_all(fd[1], data + off, n) < 0 || fm_reader_fill(&r) <= 0)
			break;
		off += n;
		while ((got = fm_reader_take(&r, &line, &len)) != FM_LINE_NONE) {
			pass(&w, &r, got, line, len);
			take_line(got, line, len);
		}
	}
	close(fd[1]);
	while ((got = fm_reader_next(&r, &line, &len)) != FM_LINE_NONE && got != FM_LINE_ERROR) {
		pass(&w, &r, got, line, len);
		take_line(got, line, len);
	}
	check_passed(&w, data, off < size ? off : size, off < size);
	fm_reader_release(&r);
	close(fd[0]);
	return 0;
}
