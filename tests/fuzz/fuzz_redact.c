/*
 * Fuzz target: key redaction (lib/redact.c). The input's first line is
 * the secret (at most KEY_MAX bytes), the rest the text a service sent.
 * Whatever the bytes: no crash, no hang, no leak; the redacted text
 * never holds the secret as it is; the text fed as a stream, cut where
 * the input's first byte says, gives exactly what the whole text gives;
 * and a JSON string of the text redacts without harm.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "util.h"

/* Longest secret tried: enough for every escape case, short enough to be fast. */
#define KEY_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The text fed in pieces of a bytes, then b, then a ...; all that came out. */
static char *stream(const char *text, size_t len, size_t a, size_t b, size_t *total)
{
	struct fm_redact_stream st;
	size_t at = 0, n, step = a;
	char *all = fm_xstrdup(""), *piece;

	*total = 0;
	fm_redact_stream_init(&st);
	for (;;) {
		size_t k = step < len - at ? step : len - at;
		int last = at == len;

		piece = last ? fm_redact_finish(&st, &n) : fm_redact_feed(&st, text + at, k, &n);
		all = fm_xrealloc(all, *total + n + 1);
		memcpy(all + *total, piece, n + 1);
		*total += n;
		free(piece);
		if (last)
			return all;
		at += k;
		step = step == a ? b : a;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl = memchr(in, '\n', size);
	size_t klen = nl ? (size_t)(nl - in) : 0, tlen, olen, plen;
	char *key, *text, *whole, *pieces;
	json_object *j;

	if (!nl || klen > KEY_MAX || memchr(in, '\0', klen))
		return 0;
	key = fm_xstrndup(in, klen);
	tlen = size - klen - 1;
	text = fm_xmalloc(tlen + 1);
	memcpy(text, nl + 1, tlen);
	text[tlen] = '\0';
	fm_secret_forget();
	fm_secret_add(key);

	whole = fm_redact(text, tlen, &olen);
	if (fm_secret_count() && memmem(whole, olen, key, klen))
		abort();
	pieces = stream(text, tlen, (size_t)data[0] % 7 + 1, (size_t)data[0] / 7 % 5 + 1, &plen);
	if (plen != olen || memcmp(pieces, whole, olen))
		abort();

	j = json_object_new_string_len(text, (int)tlen);
	fm_redact_json(j);
	json_object_put(j);

	fm_secret_forget();
	free(whole);
	free(pieces);
	free(text);
	free(key);
	return 0;
}
