/*
 * Fuzz target: what combine takes from a task. Any JSON as its parameters
 * must be accepted or refused with a VALIDATION_ERROR message; any bytes
 * as a title must come out of fm_render_text drawable (valid UTF-8, no
 * control character, within FM_DRAWTEXT_MAX) and out of fm_render_drawtext
 * quoted so that libavfilter's two levels of unescaping give exactly that
 * text back, unexpanded; and any bytes as a file name must come out of
 * fm_render_movie as a movie= source whose two levels of unescaping give
 * back exactly that one file (fm_media_url) and FM_MEDIA_OPEN_OPTS, with
 * nothing after them. Such a title wrapped by fm_render_wrap gives lines
 * in order inside the text, none wider than asked unless one character,
 * none with a line break or a space at either end. Never a crash, a leak
 * or a hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/avstring.h>
#include <libavutil/common.h>
#include <libavutil/mem.h>

#include "filmeto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s is text drawtext can draw: what fm_render_text promises. */
static int drawable(const char *s, int lines)
{
	const uint8_t *p = (const uint8_t *)s;

	if (strlen(s) > FM_DRAWTEXT_MAX)
		return 0;
	while (*p) {
		uint32_t cp;

		GET_UTF8(cp, *p++, { return 0; })
		if ((cp < 0x20 && !(cp == '\n' && lines)) || (cp >= 0x7f && cp <= 0x9f) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0x2028 || cp == 0x2029)
			return 0;
	}
	return 1;
}

/* The text drawtext gets from opt, unescaped as a graph and then as an option. */
static char *unquote(const char *opt)
{
	static const char head[] = "expansion=none:text=";
	const char *p = opt, *v;
	char *args = av_get_token(&p, "[],;"), *text = NULL;

	if (!args || *p || strncmp(args, head, strlen(head)))
		abort();
	v = args + strlen(head);
	text = av_get_token(&v, ":");
	if (!text || *v)
		abort();
	av_free(args);
	return text;
}

/* fm_render_wrap's promises for text at a few widths. */
static void wrap(const char *text)
{
	static const int widths[] = {1, 100, 1000};
	struct fm_text_line line[16];
	size_t len = strlen(text), i;
	int n, k;

	for (i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		size_t end = 0;

		n = fm_render_wrap(text, widths[i], line, 16);
		if (n < 1)
			abort();
		for (k = 0; k < n && k < 16; k++) {
			const char *a = text + line[k].off, *b = a + line[k].len;
			size_t first = 1;

			if (line[k].off < end || line[k].off + line[k].len > len ||
			    memchr(a, '\n', line[k].len))
				abort();
			end = line[k].off + line[k].len;
			if (a == b)
				continue;
			while (a + first < b && (a[first] & 0xc0) == 0x80)
				first++;
			if (*a == ' ' || b[-1] == ' ' ||
			    (fm_render_text_width(a, line[k].len) > widths[i] &&
			     first < line[k].len))
				abort();
		}
	}
}

static void title(const uint8_t *data, size_t size)
{
	char *s = fm_xstrndup((const char *)data, size);
	int lines = size & 1 ? FM_TEXT_LINES : 0;
	char *clean = fm_render_text(s, lines), *opt = fm_render_drawtext(s, lines), *back;

	if (!drawable(clean, lines))
		abort();
	back = unquote(opt);
	if (strcmp(back, clean))
		abort();
	wrap(clean);
	av_free(back);
	free(opt);
	free(clean);
	free(s);
}

/* movie=FILE:format_opts=OPTS, unescaped as a graph and then as options. */
static void file_name(const uint8_t *data, size_t size)
{
	static const char head[] = "movie=", opts_key[] = "format_opts=";
	char *path = fm_xstrndup((const char *)data, size), *url = fm_media_url(path);
	char *src = fm_render_movie("movie", path), *args, *file, *opts;
	const char *p = src, *v;

	args = av_get_token(&p, "[],;");
	if (!args || *p || strncmp(args, head, strlen(head)))
		abort();
	v = args + strlen(head);
	file = av_get_token(&v, ":");
	if (!file || *v++ != ':' || strncmp(v, opts_key, strlen(opts_key)))
		abort();
	v += strlen(opts_key);
	opts = av_get_token(&v, ":");
	if (!opts || *v || strcmp(file, url) || strcmp(opts, FM_MEDIA_OPEN_OPTS))
		abort();
	av_free(opts);
	av_free(file);
	av_free(args);
	free(src);
	free(url);
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *params = NULL;

	title(data, size);
	file_name(data, size);
	if (fm_json_parse((const char *)data, size, &params, NULL) < 0)
		return 0;
	if (fm_combine_check(params, "fuzz", &err) < 0 &&
	    (err.code != FM_VALIDATION_ERROR || !err.message[0]))
		abort();
	fm_error_release(&err);
	json_object_put(params);
	return 0;
}
