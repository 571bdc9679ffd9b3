/*
 * Fuzz target: base64 as resources and service replies hand it in
 * (lib/digest.c, Nettle underneath). Any bytes must decode to at most
 * FM_BASE64_DECODED_MAX of their length or be refused, without reading
 * or writing out of bounds; what decodes must encode back to text that
 * decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = FM_BASE64_DECODED_MAX(size);
	uint8_t *bin = malloc(max + 1), *again;
	char *text;
	ssize_t n, m;

	if (!bin)
		return 0;
	n = fm_base64_decode(bin, max, (const char *)data, size);
	if (n >= 0) {
		if ((size_t)n > max)
			abort();
		text = malloc(FM_BASE64_SIZE((size_t)n));
		again = malloc((size_t)n + 1);
		if (!text || !again ||
		    !fm_base64_encode(text, FM_BASE64_SIZE((size_t)n), bin, (size_t)n))
			abort();
		m = fm_base64_decode(again, (size_t)n + 1, text, strlen(text));
		if (m != n || memcmp(again, bin, (size_t)n))
			abort();
		free(text);
		free(again);
	}
	/* one byte short of what it needs is refused, never overrun */
	if (n > 0 && fm_base64_decode(bin, (size_t)n - 1, (const char *)data, size) >= 0)
		abort();
	free(bin);
	return 0;
}
