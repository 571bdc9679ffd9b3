/*
 * Unit tests of libfilmeto, as TAP on stdout: the harness, main(), and the
 * tests of error values and of the util helpers. The other modules' tests
 * live beside this file, one file per area.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filmeto.h"
#include "tap.h"

static int ntests, nfailed;

static void vreport(int pass, const char *fmt, va_list ap)
{
	ntests++;
	printf("%sok %d - ", pass ? "" : "not ", ntests);
	vprintf(fmt, ap);
	putchar('\n');
	if (!pass)
		nfailed++;
}

static void where(const char *file, int line, const char *expr)
{
	printf("# %s:%d: %s\n", file, line, expr);
}

int tap_ok(int pass, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		where(file, line, expr);
	fflush(stdout);
	return pass;
}

int tap_is_str(const char *got, const char *want, const char *file, int line, const char *expr,
	       const char *fmt, ...)
{
	int pass = got && want ? !strcmp(got, want) : got == want;
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		where(file, line, expr);
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
	}
	fflush(stdout);
	return pass;
}

int tap_is_int(long long got, long long want, const char *file, int line, const char *expr,
	       const char *fmt, ...)
{
	int pass = got == want;
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		where(file, line, expr);
		printf("#   got:  %lld\n#   want: %lld\n", got, want);
	}
	fflush(stdout);
	return pass;
}

int tap_has(const char *hay, const char *needle, const char *file, int line, const char *expr,
	    const char *fmt, ...)
{
	int pass = hay && needle && strstr(hay, needle);
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		where(file, line, expr);
		printf("#   in:   '%s'\n#   want: '%s'\n", hay ? hay : "(null)",
		       needle ? needle : "(null)");
	}
	fflush(stdout);
	return pass;
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int tap_done(void)
{
	printf("1..%d\n", ntests);
	printf("unit: %d passed, %d failed\n", ntests - nfailed, nfailed);
	fflush(stdout);
	return nfailed ? 1 : 0;
}

char *tmp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	path = fm_xasprintf("%s/filmeto-unit-XXXXXX", base);
	if (!mkdtemp(path)) {
		fprintf(stderr, "test-lib: cannot create '%s': %s\n", path, strerror(errno));
		exit(1);
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *write_file(const char *dir, const char *name, const char *text)
{
	char *path = fm_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "test-lib: cannot write '%s'\n", path);
		exit(1);
	}
	return path;
}

int matches(const char *s, const char *re)
{
	regex_t r;
	int ok;

	if (!s || regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return 0;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

int parse_json(const char *text, json_object **out)
{
	return fm_json_parse(text, strlen(text), out, NULL);
}

/* error.c */

void test_error(void)
{
	static const char *const names[] = {
	    "VALIDATION_ERROR",	      "PLUGIN_NOT_FOUND",
	    "PLUGIN_EXECUTION_ERROR", "RESOURCE_PROCESSING_ERROR",
	    "TIMEOUT_ERROR",	      "TASK_CANCELLED",
	    "DEPENDENCY_FAILED",      "SERVICE_ERROR",
	    "RATE_LIMIT_EXCEEDED",    "TASK_NOT_FOUND",
	};
	struct fm_error e = FM_ERROR_INIT, e2 = FM_ERROR_INIT;
	enum fm_code code;
	json_object *j, *v;
	char big[3000];
	size_t i;
	int all = 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum fm_code want = (enum fm_code)(i + 1);

		if (strcmp(fm_code_name(want), names[i]) || fm_code_parse(names[i], &code) ||
		    code != want) {
			tap_diag("code %zu: name '%s'", i + 1, fm_code_name(want));
			all = 0;
		}
	}
	OK(all, "error: every DESIGN code has its name and parses back");
	IS_STR(fm_code_name(FM_OK), "OK", "error: FM_OK is named OK");
	IS_STR(fm_code_name((enum fm_code)99), "PLUGIN_EXECUTION_ERROR",
	       "error: an out-of-range code falls back to PLUGIN_EXECUTION_ERROR");
	OK(fm_code_parse("validation_error", &code) < 0, "error: code names are case-sensitive");
	OK(fm_code_parse("OK", &code) < 0, "error: OK is not a wire error code");
	OK(fm_code_parse(NULL, &code) < 0 && fm_code_parse("", &code) < 0,
	   "error: NULL and empty names do not parse");

	IS_INT(fm_error(&e, FM_TIMEOUT_ERROR, "task '%s' took %ds", "t1", 5), -1,
	       "error: fm_error returns -1");
	IS_INT(e.code, FM_TIMEOUT_ERROR, "error: fm_error sets the code");
	IS_STR(e.message, "task 't1' took 5s", "error: fm_error formats the message");

	errno = ENOENT;
	fm_error(&e, FM_RESOURCE_PROCESSING_ERROR, "cannot open '%s':", "x.png");
	IS_STR(e.message, "cannot open 'x.png': No such file or directory",
	       "error: a format ending in ':' gets strerror appended");
	IS_INT(errno, ENOENT, "error: fm_error leaves errno alone");
	errno = EACCES;
	fm_error(&e, FM_SERVICE_ERROR, "ratio 3:4");
	IS_STR(e.message, "ratio 3:4", "error: a ':' inside the format appends nothing");
	errno = EACCES;
	fm_error(&e, FM_SERVICE_ERROR, "%s", "ends with colon:");
	IS_STR(e.message,
	       "ends with colon:", "error: a ':' in an argument (not the format) appends nothing");
	IS_INT(fm_error(NULL, FM_SERVICE_ERROR, "x"), -1, "error: fm_error(NULL, ...) returns -1");

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fm_error(&e, FM_SERVICE_ERROR, "%s", big);
	IS_INT(strlen(e.message), FM_ERROR_MAX - 1, "error: a long message is cut at FM_ERROR_MAX");

	fm_error(&e, FM_RATE_LIMIT_EXCEEDED, "slow down");
	fm_error_detail(&e, "retry_after", json_object_new_int(30));
	j = fm_error_to_json(&e);
	IS_STR(fm_json_str(j),
	       "{\"code\":\"RATE_LIMIT_EXCEEDED\",\"message\":\"slow "
	       "down\",\"details\":{\"retry_after\":30}}",
	       "error: to_json gives code, message and details");
	fm_error_from_json(&e2, j, FM_SERVICE_ERROR);
	IS_INT(e2.code, FM_RATE_LIMIT_EXCEEDED, "error: from_json reads the code");
	IS_STR(e2.message, "slow down", "error: from_json reads the message");
	OK(e2.details && json_object_object_get_ex(e2.details, "retry_after", &v) &&
	       json_object_get_int(v) == 30,
	   "error: from_json reads the details");
	json_object_put(j);

	if (parse_json("{\"code\":\"NOPE\",\"message\":7}", &j) == 0) {
		struct fm_error e3 = FM_ERROR_INIT;

		fm_error_from_json(&e3, j, FM_SERVICE_ERROR);
		IS_INT(e3.code, FM_SERVICE_ERROR, "error: an unknown code becomes the fallback");
		IS_STR(e3.message, "", "error: a message that is not a string is dropped");
		OK(!e3.details, "error: no details when there are none");
		fm_error_release(&e3);
		json_object_put(j);
	}

	fm_error_move(&e2, &e);
	IS_INT(e2.code, FM_RATE_LIMIT_EXCEEDED, "error: move carries the code");
	OK(e2.details && !e.details && e.code == FM_OK && !e.message[0],
	   "error: move carries the details and empties the source");
	fm_error_release(&e2);
	OK(e2.code == FM_OK && !e2.details && !e2.message[0], "error: release resets everything");
	fm_error_release(&e);
	fm_error_release(NULL);
}

/* util.c */

static int parse_ok(const char *text)
{
	json_object *o = NULL;
	int rc = fm_json_parse(text, strlen(text), &o, NULL);

	json_object_put(o);
	return rc == 0;
}

static char *nested(int depth)
{
	char *s = fm_xmalloc((size_t)depth * 2 + 1);
	int i;

	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth * 2 - 1 - i] = ']';
	}
	s[depth * 2] = '\0';
	return s;
}

static void on_pair(void *ctx, size_t off, unsigned long cp)
{
	unsigned long *got = ctx;

	got[0] = off;
	got[1] = cp;
}

/* UTF-16 surrogate pairs, as JSON spells a character past U+FFFF. */
static void test_json_surrogates(void)
{
	static const char *const lone[] = {
	    "\"\\ud83c\"",	  "\"\\udfac\"",	  "\"\\udfac\\ud83c\"",
	    "\"\\ud83c\\u0041\"", "\"\\ud83c\\ud83c\"",	  "\"\\ud83cx\\udfac\"",
	    "{\"\\uDBFF\":1}",	  "[\"ok\",\"\\uDC00\"]",
	};
	struct fm_error e = FM_ERROR_INIT;
	unsigned long got[2] = {0, 0};
	json_object *o = NULL;
	size_t at = 0, i;

	OK(parse_json("\"\\ud83c\\udfac \\uD83D\\uDE00\"", &o) == 0, "json: surrogate pairs parse");
	IS_STR(o ? json_object_get_string(o) : NULL, "\xf0\x9f\x8e\xac \xf0\x9f\x98\x80",
	       "json: a surrogate pair decodes to the UTF-8 of its character");
	json_object_put(o);
	OK(parse_json("{\"\\ud83c\\udfac\":\"\\\\ud83c\"}", &o) == 0,
	   "json: a pair in a key parses, and an escaped backslash before u is no escape");
	IS_STR(o ? fm_json_get_string(o, "\xf0\x9f\x8e\xac") : NULL, "\\ud83c",
	       "json: the key is the character, the value the text \\ud83c");
	json_object_put(o);
	for (i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
		o = NULL;
		OK(fm_json_parse(lone[i], strlen(lone[i]), &o, &e) < 0 && !o,
		   "json: half a surrogate pair is refused: %s", lone[i]);
		HAS(e.message, "half a UTF-16 surrogate pair",
		    "json: the message says what is wrong with %s", lone[i]);
	}
	fm_json_parse("[1, \"\\udfac\"]", 13, &o, &e);
	HAS(e.message, "at byte 5: '\\udfac'", "json: the message names the offset and the escape");
	OK(fm_json_surrogates("\"a\\ud83c\\udfac\"", 15, &at, on_pair, got) == 0 && got[0] == 2 &&
	       got[1] == 0x1F3AC,
	   "json: fm_json_surrogates hands each pair on with its offset and code point");
	OK(fm_json_surrogates("\"ab\\udfac\"", 11, &at, NULL, NULL) < 0 && at == 3,
	   "json: fm_json_surrogates gives the offset of a lone half");
	OK(fm_json_surrogates("\\ud83c", 6, &at, NULL, NULL) == 0,
	   "json: an escape outside a string is not looked at");
	fm_error_release(&e);
}

static void test_json_parse(void)
{
	struct fm_error e = FM_ERROR_INIT;
	json_object *o = (json_object *)&e;
	char *deep;
	int rc;

	OK(parse_ok("{\"a\":[1,2.5,\"x\",true,null]}"), "json: an object parses");
	OK(parse_ok("{\"a\":1}  \r\n\t"), "json: trailing whitespace is allowed");
	OK(parse_ok("  [1]"), "json: leading whitespace is allowed");
	OK(parse_ok("\"s\""), "json: a top-level string parses");
	rc = fm_json_parse("{\"a\":1} x", 9, &o, &e);
	OK(rc < 0 && o == NULL, "json: trailing garbage is rejected and *out is NULL");
	HAS(e.message, "at byte 8", "json: the message gives the offset");
	IS_INT(e.code, FM_VALIDATION_ERROR, "json: a parse error is a VALIDATION_ERROR");
	OK(!parse_ok("{}{}"), "json: two values are rejected");
	OK(!parse_ok("{\"a\":'x'}"), "json: a single-quoted value is rejected");
	OK(!parse_ok("{\"a\":1,}"), "json: a trailing comma is rejected");
	OK(!parse_ok("[01]"), "json: a leading zero is rejected");
	OK(!parse_ok("/*c*/{}"), "json: comments are rejected");
	OK(!parse_ok("{\"a\":1"), "json: an unfinished object is rejected");
	OK(!parse_ok(""), "json: empty input is rejected");
	OK(fm_json_parse("[1]xyz", 3, &o, NULL) == 0, "json: only len bytes are read");
	json_object_put(o);

	deep = nested(FM_JSON_DEPTH);
	OK(parse_ok(deep), "json: nesting of exactly FM_JSON_DEPTH parses");
	free(deep);
	deep = nested(FM_JSON_DEPTH + 1);
	OK(!parse_ok(deep), "json: nesting deeper than FM_JSON_DEPTH is rejected");
	fm_json_parse(deep, strlen(deep), &o, &e);
	HAS(e.message, "nested deeper than the limit of 64", "json: the message names the limit");
	free(deep);
	deep = nested(10000);
	OK(!parse_ok(deep), "json: very deep nesting is rejected, not a stack overflow");
	free(deep);

	OK(!parse_ok("{'a':1}"), "json: a single-quoted key is rejected");
	OK(!parse_ok("[NaN]") && !parse_ok("[-Infinity]"), "json: NaN and Infinity are rejected");
	OK(fm_json_parse("{}\0\0", 4, &o, NULL) < 0,
	   "json: NUL bytes after the value are rejected as trailing data");
	if (o)
		json_object_put(o);
	OK(parse_ok("1") && parse_ok("true") && parse_ok("null"),
	   "json: a bare top-level number, true or null without trailing space parses");
	fm_error_release(&e);
	test_json_surrogates();
}

/* fm_term_text of a C string (n bytes) in cols columns, into a static buffer. */
static const char *term(const char *s, size_t n, int cols, int *used)
{
	static char buf[256];

	*used = fm_term_text(buf, sizeof(buf), s, n, cols);
	return buf;
}

#define R FM_TERM_REPLACEMENT
#define E FM_TERM_ELLIPSIS

/* fm_term_fit: the text cut with an ellipsis at its end or, for a path, at its start. */
static void test_term_fit(void)
{
	static const struct {
		const char *in;
		int cols;
		enum fm_term_cut how;
		const char *want;
		int used;
		const char *name;
	} cases[] = {
	    {"abcdef", 6, FM_TERM_END, "abcdef", 6, "a text that fits is not cut"},
	    {"abcdef", 5, FM_TERM_END, "abcd" E, 5, "the ellipsis takes the last column"},
	    {"abcdef", 1, FM_TERM_END, E, 1, "one column: only the ellipsis"},
	    {"abcdef", 0, FM_TERM_END, "", 0, "no columns: nothing"},
	    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 4, FM_TERM_END, "\xe6\x97\xa5" E, 3,
	     "a wide character that leaves no room for the ellipsis goes"},
	    {"ae\xcc\x81"
	     "bc",
	     3, FM_TERM_END, "ae\xcc\x81" E, 3, "an accent stays with its letter"},
	    {"a\033[2Jbcdef", 4, FM_TERM_END, "a" R "b" E, 4, "escapes are replaced first"},
	    {"/tmp/out/hello.mp4", 18, FM_TERM_PATH, "/tmp/out/hello.mp4", 18, "a path that fits"},
	    {"/tmp/out/hello.mp4", 17, FM_TERM_PATH, E "/out/hello.mp4", 15,
	     "a path loses whole directories from the left"},
	    {"/a/bb/ccc/dddd/hello.mp4", 16, FM_TERM_PATH, E "/dddd/hello.mp4", 16,
	     "as many directories as fit stay"},
	    {"/tmp/out/hello.mp4", 12, FM_TERM_PATH, E "/hello.mp4", 11, "down to the name"},
	    {"/tmp/out/hello.mp4", 8, FM_TERM_PATH, E "llo.mp4", 8,
	     "a name too long loses its start"},
	    {"/tmp/out/dir/", 5, FM_TERM_PATH, E "dir/", 5, "a path that ends in a slash"},
	    {"/tmp/\xe6\x97\xa5\xe6\x9c\xac.mp4", 7, FM_TERM_PATH, E "\xe6\x9c\xac.mp4", 7,
	     "a wide character is never cut in two"},
	    {"/tmp/a\033[2Jb/x.mp4", 8, FM_TERM_PATH, E "/x.mp4", 7,
	     "escapes in a path are replaced"},
	    {"abcdef", 3, FM_TERM_CLIP, "abc", 3, "clip cuts as fm_term_text does"},
	};
	size_t i;
	char buf[256], small[8];
	int used;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		used = fm_term_fit(buf, sizeof(buf), cases[i].in, strlen(cases[i].in),
				   cases[i].cols, cases[i].how);
		IS_STR(buf, cases[i].want, "fit: %s", cases[i].name);
		IS_INT(used, cases[i].used, "fit: %s: columns", cases[i].name);
	}
	used = fm_term_fit(small, sizeof(small), "abcdefghij", 10, 80, FM_TERM_END);
	IS_STR(small, "abcd" E, "fit: a buffer too small cuts more for the ellipsis");
	IS_INT(used, 5, "fit: a buffer too small: columns");
	IS_INT(fm_term_width("\xe6\x97\xa5\xe6\x9c\xac"
			     "a\033[2J"),
	       6, "width: wide characters count two, an escape one replacement");
}

static void test_term(void)
{
	static const struct {
		const char *in, *want;
		int cols, used;
		const char *name;
	} cases[] = {
	    {"abc", "abc", 10, 3, "plain text stays"},
	    {"abcdef", "abc", 3, 3, "cut to the columns"},
	    {"abc", "", 0, 0, "no columns, no text"},
	    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xe6\x97\xa5\xe6\x9c\xac", 5, 4,
	     "a wide character takes two columns and is never cut in two"},
	    {"\xf0\x9f\x8e\xac!", "\xf0\x9f\x8e\xac", 2, 2, "an emoji takes two columns"},
	    {"\xf0\x9f\x8e\xac", "", 1, 0, "an emoji does not fit in one column"},
	    {"e\xcc\x81!", "e\xcc\x81", 1, 1, "a combining accent takes no column"},
	    {"a\tb\nc\rd", "a b c d", 80, 7, "tab, LF and CR become spaces"},
	    {"a\033[31;1mb", "a" R "b", 80, 3, "a CSI sequence is one replacement"},
	    {"a\033[2J\033[Hb", "a" R R "b", 80, 4, "clear screen and cursor home are replaced"},
	    {"a\033]0;title\007b", "a" R "b", 80, 3, "an OSC ended by BEL"},
	    {"a\033]8;;http://x\033\\b", "a" R "b", 80, 3, "an OSC ended by ST"},
	    {"a\033]0;the rest", "a" R, 80, 2, "an unended OSC takes the rest"},
	    {"a\033(Bb", "a" R "b", 80, 3, "a character set designation"},
	    {"a\033", "a" R, 80, 2, "a lone ESC at the end"},
	    {"\xc2\x9b"
	     "31mX",
	     R "X", 80, 2, "an 8-bit CSI (U+009B) and its parameters"},
	    {"\xc2\x85x", R "x", 80, 2, "a C1 control (NEL)"},
	    {"\xff\xfe", R R, 80, 2, "bytes that are not UTF-8"},
	    {"\xc0\xaf", R R, 80, 2, "an overlong sequence"},
	    {"\xed\xa0\x80", R R R, 80, 3, "an encoded surrogate"},
	    {"\xe2\x80\xae"
	     "evil",
	     R "evil", 80, 5, "a bidirectional override"},
	    {"a\x7f\x01\x08z", "a" R R R "z", 80, 5, "DEL, SOH and backspace"},
	    {"\xe2\x96\x88\xe2\x9c\x93", "\xe2\x96\x88\xe2\x9c\x93", 2, 2,
	     "the bar and the check mark take one column each"},
	};
	size_t i;
	char small[4];
	int used;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		IS_STR(term(cases[i].in, strlen(cases[i].in), cases[i].cols, &used), cases[i].want,
		       "term: %s", cases[i].name);
		IS_INT(used, cases[i].used, "term: %s: columns", cases[i].name);
	}
	IS_STR(term("a\0b", 3, 80, &used), "a" R "b", "term: a NUL inside the text is replaced");
	used = fm_term_text(small, sizeof(small), "abcdef", 6, 80);
	IS_STR(small, "abc", "term: the output is bounded by its buffer");
	used = fm_term_text(small, sizeof(small), "ab\xf0\x9f\x8e\xac", 6, 80);
	IS_STR(small, "ab", "term: a character that does not fit the buffer is left out whole");
	test_term_fit();
}

#undef R
#undef E

static void test_buf(void)
{
	struct fm_buf b = FM_BUF_INIT;
	char big[3000], *s;
	size_t len;

	IS_STR(fm_buf_str(&b), "", "buf: empty reads as \"\"");
	fm_buf_add(&b, "ab\0c", 4);
	fm_buf_addstr(&b, "de");
	IS_INT(b.len, 6, "buf: bytes are kept, NULs too");
	OK(!memcmp(b.s, "ab\0cde", 7), "buf: always NUL-terminated");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fm_buf_addf(&b, "[%s]%d", big, 7);
	IS_INT(b.len, 6 + sizeof(big) - 1 + 3, "buf: addf is not cut, however long");
	IS_STR(b.s + b.len - 2, "]7", "buf: addf ends where it should");
	s = fm_buf_detach(&b, &len);
	OK(s && len == 6 + sizeof(big) + 2 && !b.s && !b.len && !b.cap, "buf: detach empties");
	free(s);
	OK(!fm_buf_detach(&b, NULL), "buf: an empty buffer detaches NULL");
	fm_buf_release(&b);
	IS_INT(fm_hex_digit('7') + fm_hex_digit('a') + fm_hex_digit('F'), 7 + 10 + 15,
	       "hex digits in both cases");
	OK(fm_hex_digit('g') < 0 && fm_hex_digit('/') < 0 && fm_hex_digit(0x100 + '1') < 0,
	   "what is not a hex digit is -1");
}

static void test_grow(void)
{
	int *a = NULL, *before;
	size_t cap = 0, i, ok = 1;
	pid_t pid;
	int status;

	FM_GROW(a, cap, 0);
	OK(!a && cap == 0, "grow: need 0 leaves an empty array alone");
	FM_GROW(a, cap, 1);
	OK(a && cap >= 1, "grow: the first element gets room");
	for (i = 0; i < 1000; i++) {
		FM_GROW(a, cap, i + 1);
		a[i] = (int)i;
	}
	for (i = 0; i < 1000; i++)
		ok &= a[i] == (int)i;
	OK(ok && cap >= 1000 && cap < 4000, "grow: growing keeps the contents, doubling");
	before = a;
	FM_GROW(a, cap, 10);
	OK(a == before && cap >= 1000, "grow: a smaller need changes nothing");
	FM_GROW(a, cap, 1000000);
	OK(cap == 1000000 && a[999] == 999, "grow: a large need gets exactly that");
	a[cap - 1] = 7;
	free(a);
	/* A byte count past SIZE_MAX is out of memory: the one fatal end. */
	fflush(stdout);
	if ((pid = fork()) == 0) {
		size_t c = 0;
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		(void)fm_grow_array(NULL, &c, SIZE_MAX / 2, sizeof(int));
		_exit(0);
	}
	OK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
	       WTERMSIG(status) == SIGABRT,
	   "grow: an overflowing size is out of memory");
}

/* msg.c: the one table from outcomes to exit statuses */
static void test_exit_status(void)
{
	IS_INT(fm_exit_status(FM_OUTCOME_OK), 0, "exit status: ok is 0");
	IS_INT(fm_exit_status(FM_OUTCOME_TASK_FAILED), 1, "exit status: a failed task is 1");
	IS_INT(fm_exit_status(FM_OUTCOME_INVALID), 2, "exit status: invalid input is 2");
	IS_INT(fm_exit_status(FM_OUTCOME_UNFINISHED), 3, "exit status: unfinished is 3");
	IS_INT(fm_exit_status(FM_OUTCOME_INTERRUPTED), 130, "exit status: interrupted is 130");
	IS_INT(fm_exit_status((enum fm_outcome)99), 1, "exit status: an unknown outcome is 1");
	IS_INT(fm_exit_status(FM_OUTCOME_EMPTY), 4, "exit status: an empty stream is 4");
}

static void test_suggest(void)
{
	static const char *const tools[] = {"text2image", "text2video", "image2video", "combine",
					    NULL};
	static const char *const keys[] = {"defaults", "film", "plugins", "python"};

	IS_STR(fm_suggest("text2imag", tools, 0), "text2image", "suggest: one letter short");
	IS_STR(fm_suggest("txet2image", tools, 0), "text2image", "suggest: two letters swapped");
	IS_STR(fm_suggest("Text2Image", tools, 0), "text2image", "suggest: case is ignored");
	IS_STR(fm_suggest("combnie", tools, 0), "combine", "suggest: a swap in a short word");
	OK(fm_suggest("combine", tools, 0) == NULL, "suggest: an exact match needs none");
	OK(fm_suggest("speak", tools, 0) == NULL, "suggest: nothing near is nothing");
	OK(fm_suggest("x", tools, 0) == NULL, "suggest: one letter suggests nothing far");
	IS_STR(fm_suggest("plugin", keys, 4), "plugins", "suggest: a counted list");
	IS_STR(fm_suggest("pyton", keys, 4), "python", "suggest: nearest of two near ones");
	OK(fm_suggest("", keys, 4) == NULL, "suggest: an empty word");
}

static void json_double_is(double d, const char *want, const char *what)
{
	json_object *o = fm_json_double(d);

	IS_STR(o ? json_object_to_json_string(o) : "(null)", want, what);
	OK(!o || json_object_get_double(o) == d, "json double: reads back the same");
	json_object_put(o);
}

static void test_json_double(void)
{
	json_double_is(0.69, "0.69", "json double: the shortest spelling, not 0.6899...");
	json_double_is(0.1 + 0.2, "0.30000000000000004", "json double: 17 digits when needed");
	json_double_is(25, "25.0", "json double: a whole number keeps .0");
	json_double_is(1e300, "1e+300", "json double: exponents as printf spells them");
	json_double_is(-2.5, "-2.5", "json double: negative");
	OK(!fm_json_double(NAN) && !fm_json_double(INFINITY), "json double: no non-finite");
}

void test_util(void)
{
	char id[FM_ID_MAX + 2], ts[32], *a, *b;
	json_object *o;

	OK(fm_id_valid("a"), "id: one letter is valid");
	OK(fm_id_valid("scene1-image_v2.0"), "id: letters, digits, . _ - are valid");
	memset(id, 'x', FM_ID_MAX);
	id[FM_ID_MAX] = '\0';
	OK(fm_id_valid(id), "id: FM_ID_MAX characters are valid");
	id[FM_ID_MAX] = 'x';
	id[FM_ID_MAX + 1] = '\0';
	OK(!fm_id_valid(id), "id: FM_ID_MAX + 1 characters are not");
	OK(!fm_id_valid(NULL) && !fm_id_valid(""), "id: NULL and empty are not valid");
	OK(!fm_id_valid("../x") && !fm_id_valid("a/b") && !fm_id_valid(".hidden") &&
	       !fm_id_valid("-rf"),
	   "id: path tricks and leading . or - are rejected");
	OK(!fm_id_valid("a b") && !fm_id_valid("a\nb") && !fm_id_valid("caf\xc3\xa9") &&
	       !fm_id_valid("a:b"),
	   "id: spaces, newlines, non-ASCII and ':' are rejected");

	a = fm_id_new("task");
	b = fm_id_new("task");
	OK(matches(a, "^task-[0-9a-f]{8}$"), "id: fm_id_new gives PREFIX-8 hex digits (%s)", a);
	OK(fm_id_valid(a), "id: a new id is valid");
	OK(strcmp(a, b) != 0, "id: two new ids differ");
	free(a);
	free(b);

	fm_timestamp(ts);
	OK(matches(ts,
		   "^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z$"),
	   "timestamp: UTC ISO 8601 with milliseconds (%s)", ts);
	IS_INT(strlen(ts), 24, "timestamp: 24 characters");
	OK(fm_now() > 0 && fm_now() >= fm_now() - 1, "now: the monotonic clock runs");

	test_json_parse();
	test_term();
	test_buf();
	test_grow();
	test_suggest();
	test_json_double();

	if (parse_json("{\"s\":\"x\",\"n\":2,\"d\":1.5,\"o\":{}}", &o) == 0) {
		IS_STR(fm_json_get_string(o, "s"), "x", "json: get_string");
		OK(!fm_json_get_string(o, "n") && !fm_json_get_string(o, "none"),
		   "json: get_string is NULL for another type or a missing key");
		OK(fm_json_get_double(o, "n", -1) == 2 && fm_json_get_double(o, "d", -1) == 1.5 &&
		       fm_json_get_double(o, "s", -1) == -1,
		   "json: get_double reads ints and doubles, else the default");
		OK(fm_json_get(o, "o", json_type_object) && !fm_json_get(o, "o", json_type_array) &&
		       !fm_json_get(NULL, "o", json_type_object),
		   "json: get checks the type");
		json_object_put(o);
	}
	o = json_object_new_object();
	json_object_object_add(o, "url", json_object_new_string("http://x/y"));
	IS_STR(fm_json_str(o), "{\"url\":\"http://x/y\"}",
	       "json: fm_json_str leaves '/' unescaped");
	json_object_put(o);
}

int main(void)
{
	/* Writers to closed pipes must see EPIPE, not die. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_error();
	test_exit_status();
	test_util();
	test_digest();
	test_fs();
	test_ndjson();
	test_model();
	test_rpc();
	test_yaml();
	test_manifest();
	test_params();
	test_proc();
	test_scaffold();
	test_render();
	test_http();
	test_s3();
	test_sdk();
	test_template();
	test_spool();
	test_plan();
	test_idtab();
	test_addr();
	test_dispatch();
	test_tally();
	test_follow();
	test_slurm();
	test_serve_route();
	test_serve_web();
	test_serve_limits();
	test_serve_openai();
	return tap_done();
}
