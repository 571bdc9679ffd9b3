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

#endif
