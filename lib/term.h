/*
 * Text for a terminal. What a task, a plugin or a service wrote may hold
 * control characters and escape sequences (that move the cursor, clear
 * the screen, set the window title), and its width on the screen is not
 * its length in bytes: a wide character or an emoji takes two columns, a
 * combining accent none. Every text from outside goes through
 * fm_term_text before it reaches a terminal.
 */
#ifndef FM_TERM_H
#define FM_TERM_H

#include <stddef.h>

/* What stands for a character that may not reach a terminal: U+FFFD. */
#define FM_TERM_REPLACEMENT "\xef\xbf\xbd"

/*
 * Writes the n bytes of s to dst (size bytes, always NUL-terminated; 3n+1
 * is always enough) safe for a terminal and cut to at most cols columns:
 * tab, CR and LF become a space; an escape sequence (ESC and what it
 * introduces), every other C0 or C1 control character, a bidirectional
 * override and a byte that is not UTF-8 become one FM_TERM_REPLACEMENT;
 * the rest is kept whole, each character counted at its width on the
 * screen (wcwidth in UTF-8), never cut in two. Returns the columns used.
 */
int fm_term_text(char *dst, size_t size, const char *s, size_t n, int cols);

/* What stands for the text cut off: U+2026, one column. */
#define FM_TERM_ELLIPSIS "\xe2\x80\xa6"

/* How fm_term_fit cuts a text that does not fit. */
enum fm_term_cut {
	FM_TERM_CLIP, /* the end is left out, as fm_term_text does */
	FM_TERM_END,  /* the end is left out, FM_TERM_ELLIPSIS in its last column */
	FM_TERM_PATH  /* the start, whole directories when it can: "…/dir/name.mp4" */
};

/*
 * fm_term_text, but a text wider than cols is cut as how says: with
 * FM_TERM_END and FM_TERM_PATH it takes at most cols columns, the
 * ellipsis one of them. 3n+4 bytes of dst are always enough.
 */
int fm_term_fit(char *dst, size_t size, const char *s, size_t n, int cols, enum fm_term_cut how);

/* The columns the C string s takes once made safe for a terminal. */
int fm_term_width(const char *s);

#endif
