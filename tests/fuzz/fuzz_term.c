/*
 * Fuzz target: text made safe for a terminal. The first input byte is the
 * width in columns, the rest the text. Whatever the text, the output must
 * be valid UTF-8 without a single C0 or C1 control character, DEL or
 * bidirectional override, no wider than the columns asked for (at the
 * width fm_term_text reports), and within its buffer; the same cut with
 * an ellipsis at either end (fm_term_fit).
 */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "filmeto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The columns s takes, every character checked; aborts on a bad one. */
static int check(const char *s)
{
	size_t n = strlen(s), k;
	int cols = 0, w;
	mbstate_t st;
	wchar_t wc;

	while (n > 0) {
		memset(&st, 0, sizeof(st));
		k = mbrtowc(&wc, s, n, &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
			abort();
		if (wc < 0x20 || (wc >= 0x7f && wc <= 0x9f) || (wc >= 0x202a && wc <= 0x202e) ||
		    (wc >= 0x2066 && wc <= 0x2069))
			abort();
		w = wcwidth(wc);
		if (w < 0)
			abort();
		cols += w;
		s += k;
		n -= k;
	}
	return cols;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static locale_t utf8;
	size_t cap;
	char *out, small[8];
	int cols, used;
	enum fm_term_cut how;
	locale_t old;

	if (size < 1)
		return 0;
	if (!utf8)
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!utf8)
		return 0;
	cols = data[0];
	cap = 3 * (size - 1) + 1;
	out = malloc(cap);
	if (!out)
		return 0;
	used = fm_term_text(out, cap, (const char *)data + 1, size - 1, cols);
	old = uselocale(utf8);
	if (used < 0 || used > cols || check(out) != used)
		abort();
	/* A buffer too small cuts the text, never the buffer. */
	fm_term_text(small, sizeof(small), (const char *)data + 1, size - 1, cols);
	if (strlen(small) >= sizeof(small))
		abort();
	check(small);
	uselocale(old);
	free(out);
	/* Cut with an ellipsis, at either end: the same promises, in 3n+4 bytes. */
	cap = 3 * (size - 1) + 4;
	out = malloc(cap);
	if (!out)
		return 0;
	for (how = FM_TERM_END; how <= FM_TERM_PATH; how++) {
		used = fm_term_fit(out, cap, (const char *)data + 1, size - 1, cols, how);
		old = uselocale(utf8);
		if (used < 0 || used > cols || check(out) != used)
			abort();
		uselocale(old);
	}
	free(out);
	return 0;
}
