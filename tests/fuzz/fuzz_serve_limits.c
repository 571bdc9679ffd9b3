/*
 * Fuzz target: what filmeto-serve reads from hostile clients before a
 * request is routed (lib/serve_route.c): a --cors ORIGIN and an Origin
 * header against a Host, and a request's head as it arrives, before its
 * body. The input up to its first newline is an origin (and, after a
 * space, a host); the whole input is a head. Whatever the bytes: no
 * crash, hang or leak; an origin taken is lowercase, within its bound
 * and taken again as itself; an origin is its own host's; a head's
 * length lies within the input and ends in a newline, and a key found
 * lies inside the head, on one line; a length is only told of a whole
 * head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve_route.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void origin(const char *line)
{
	struct fm_error err = FM_ERROR_INIT;
	char out[FM_SERVE_ORIGIN_MAX + 1], again[FM_SERVE_ORIGIN_MAX + 1];
	const char *sp = strchr(line, ' ');
	size_t i;

	if (fm_serve_origin_parse(line, out, &err) == 0) {
		if (strlen(out) > FM_SERVE_ORIGIN_MAX)
			abort();
		for (i = 0; out[i]; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				abort();
		if (fm_serve_origin_parse(out, again, &err) < 0 || strcmp(out, again))
			abort();
		if (!strncmp(out, "http://", 7) && !fm_serve_origin_same(out, out + 7))
			abort();
	} else if (!err.message[0]) {
		abort();
	}
	fm_error_release(&err);
	/* A Host taken as loopback has no byte a header could not hold. */
	if (fm_serve_host_loopback(line) && line[strcspn(line, " \t\r\n")])
		abort();
	if (sp) {
		char *o = fm_xstrndup(line, (size_t)(sp - line));

		(void)fm_serve_origin_same(o, sp + 1);
		free(o);
	}
}

static void head(const char *buf, size_t len)
{
	const char *auth;
	size_t alen;
	int64_t length;
	long n = fm_serve_head_peek(buf, len, &auth, &alen, &length);

	if (n == 0 || n > (long)len || (n > 0 && buf[n - 1] != '\n'))
		abort();
	if (length < -1 || (n < 0 && length != -1))
		abort();
	if (auth && (n < 0 || auth < buf || auth + alen > buf + n || memchr(auth, '\n', alen)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fm_xstrndup((const char *)data, size), *nl = strchr(s, '\n');

	if (nl)
		*nl = '\0';
	origin(s);
	free(s);
	head((const char *)data, size);
	return 0;
}
