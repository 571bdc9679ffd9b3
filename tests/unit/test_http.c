/*
 * lib/http.c and lib/redact.c without a network: server-sent events, key
 * files, redaction in every spelling and across pieces, URLs, and the
 * capped error body. Requests themselves are tested
 * against the fake services by the remote_*.bats suites.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http.h"
#include "redact.h"
#include "tap.h"
#include "util.h"

struct seen {
	char log[1024];
	int n, stop_at;
};

static int on_event(void *arg, const char *type, const char *data, size_t len, const char *id)
{
	struct seen *s = arg;
	size_t used = strlen(s->log);

	snprintf(s->log + used, sizeof(s->log) - used, "[%s|%.*s|%s]", type, (int)len, data, id);
	return ++s->n == s->stop_at ? 7 : 0;
}

static int feed(struct fm_sse *sse, const char *text, struct fm_error *err)
{
	const char *p = text;
	int rc = 0;

	while (*p && rc == 0) {
		size_t n = strcspn(p, "\n");

		rc = fm_sse_line(sse, p, n, err);
		p += n + (p[n] == '\n');
	}
	return rc ? rc : fm_sse_end(sse, err);
}

static void test_sse(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct seen s = {"", 0, 0};
	struct fm_sse sse;
	char *big;

	fm_sse_init(&sse, on_event, &s);
	OK(feed(&sse,
		": comment\ndata: one\n\nevent: complete\ndata:[1,\ndata: 2]\nid: 9\n\n"
		"event: empty\n\ndata\n\nretry: 5\ndata:  two spaces\nunknown: x\n",
		&err) == 0,
	   "sse: a stream parses");
	IS_STR(s.log, "[message|one|][complete|[1,\n2]|9][message||9][message| two spaces|9]",
	       "sse: types, joined data, ids kept, an event without data dropped");
	IS_INT(s.n, 4, "sse: four events");
	fm_sse_release(&sse);

	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	fm_sse_init(&sse, on_event, &s);
	IS_INT(feed(&sse, "data: a\n\ndata: b\n\n", &err), 7, "sse: the callback's value stops");
	IS_INT(s.n, 1, "sse: nothing after the stop");
	fm_sse_release(&sse);

	fm_sse_init(&sse, on_event, &s);
	big = calloc(1, FM_SSE_DATA_MAX / 2 + 16);
	memcpy(big, "data: ", 6);
	memset(big + 6, 'x', FM_SSE_DATA_MAX / 2);
	OK(fm_sse_line(&sse, big, strlen(big), &err) == 0, "sse: half the limit is fine");
	OK(fm_sse_line(&sse, big, strlen(big), &err) < 0 && err.code == FM_SERVICE_ERROR,
	   "sse: data past FM_SSE_DATA_MAX is an error");
	HAS(err.message, "larger than", "sse: the error says why");
	free(big);
	fm_sse_release(&sse);
	fm_error_release(&err);
}

static void test_keys(void)
{
	struct fm_error err = FM_ERROR_INIT;
	char *dir = tmp_dir(), *file, *key = NULL;

	setenv("FM_TEST_KEY", "sk-from-env", 1);
	OK(fm_http_key("FM_TEST_KEY", NULL, 0, &key, &err) == 0 && key &&
	       !strcmp(key, "sk-from-env"),
	   "key: from the variable");
	free(key);
	key = NULL;
	unsetenv("FM_TEST_KEY");
	OK(fm_http_key("FM_TEST_KEY", NULL, 1, &key, &err) == 0 && !key,
	   "key: optional and absent is no error");
	OK(fm_http_key("FM_TEST_KEY", NULL, 0, &key, &err) < 0 && err.code == FM_VALIDATION_ERROR,
	   "key: required and absent is a validation error");
	HAS(err.message, "$FM_TEST_KEY", "key: the error names the variable");

	file = write_file(dir, "key", "  sk-from-file \nsecond line\n");
	chmod(file, 0600);
	OK(fm_http_key("FM_TEST_KEY", file, 0, &key, &err) == 0 && key &&
	       !strcmp(key, "sk-from-file"),
	   "key: the first line of a 0600 file, trimmed");
	free(key);
	key = NULL;
	chmod(file, 0640);
	OK(fm_http_key("FM_TEST_KEY", file, 0, &key, &err) < 0 && !key, "key: 0640 is refused");
	HAS(err.message, "chmod 600", "key: the error says what to do");
	OK(!strstr(err.message, "sk-from-file"), "key: the error does not show the key");
	free(file);
	file = write_file(dir, "empty", "\n");
	chmod(file, 0600);
	OK(fm_http_key(NULL, file, 0, &key, &err) < 0, "key: an empty file is refused");
	free(file);
	OK(fm_http_key(NULL, "/nonexistent/key", 0, &key, &err) < 0 &&
	       err.code == FM_VALIDATION_ERROR,
	   "key: a missing file is a validation error");
	rm_rf(dir);
	free(dir);
	fm_error_release(&err);
}

static void test_urls(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_http h;
	char text[128], *url;

	fm_secret_forget();
	OK(fm_http_init(&h, "http://127.0.0.1:9/v1///", "sk-SECRET-42", &err) == 0, "http: init");
	IS_INT(fm_secret_count(), 1, "http: its key is a secret of the process");
	snprintf(text, sizeof(text), "a sk-SECRET-42 b sk\\u002dSECRET-42");
	fm_redact_buf(text, sizeof(text));
	IS_STR(text, "a [redacted] b [redacted]", "http: its key is redacted in any spelling");
	url = fm_http_url(&h, "/images/generations");
	IS_STR(url, "http://127.0.0.1:9/v1/images/generations", "url: a path joins the base");
	free(url);
	url = fm_http_url(&h, "models");
	IS_STR(url, "http://127.0.0.1:9/v1/models", "url: a relative path too");
	free(url);
	url = fm_http_url(&h, "https://cdn.example/x.png");
	IS_STR(url, "https://cdn.example/x.png", "url: an absolute URL stays");
	free(url);
	fm_http_release(&h);
	fm_secret_forget();
	fm_error_release(&err);
}

static void test_under(void)
{
	static const struct {
		const char *base, *url;
		int under;
	} cases[] = {
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/chat/completions", 1},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", 1},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/", 1},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1?x=1", 1},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1evil/x", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v2/x", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/files/x.png", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/../admin", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/%2e%2e/admin", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/%2E%2E%2Fadmin", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/%252e%252e/admin", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1\\..\\admin", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/a/../b", 1},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/./b", 1},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:9/%76%31/b", 1},
	    {"http://127.0.0.1:9/v1", "http://localhost:9/v1/x", 0},
	    {"http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1/x", 0},
	    {"http://127.0.0.1:9/v1", "https://127.0.0.1:9/v1/x", 0},
	    {"http://127.0.0.1:9/v1", "http://evil@127.0.0.2:9/v1/x", 0},
	    {"http://127.0.0.1:9/v1", "/v1/x", 0},
	    {"http://127.0.0.1:9/v1", "ftp://127.0.0.1:9/v1/x", 0},
	    {"http://Example.COM/v1", "http://example.com:80/v1/x", 1},
	    {"https://example.com", "https://example.com/anything", 1},
	    {"https://example.com/", "https://example.com/anything", 1},
	    {"http://h/a/b/", "http://h/a/b/c", 1},
	    {"http://h/a/b/", "http://h/a/bc", 0},
	    {"not a url", "http://h/", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		IS_INT(fm_http_under(cases[i].base, cases[i].url), cases[i].under,
		       "under: '%s' in '%s'", cases[i].url, cases[i].base);
}

/* fm_redact of a C string, as a C string the test frees. */
static char *red(const char *s)
{
	return fm_redact(s, strlen(s), NULL);
}

static int redacts(const char *in, const char *want, const char *name)
{
	char *got = red(in);
	int ok = IS_STR(got, want, "redact: %s", name);

	free(got);
	return ok;
}

static void test_redact_spellings(void)
{
	fm_secret_forget();
	fm_secret_add("sk-test-SECRET-1234");
	IS_INT(fm_secret_count(), 1, "redact: one secret");
	redacts("a sk-test-SECRET-1234 b sk-test-SECRET-1234", "a [redacted] b [redacted]",
		"every occurrence");
	redacts("sk-test-SECRET-1234sk-test-SECRET-1234", "[redacted][redacted]",
		"two in a row stay two");
	redacts("k=sk\\u002dtest\\u002DSECRET\\u002d1234.", "k=[redacted].",
		"JSON \\u escapes, either case");
	redacts("\\u0073\\u006b\\u002d\\u0074\\u0065\\u0073\\u0074\\u002d\\u0053\\u0045\\u0043"
		"\\u0052\\u0045\\u0054\\u002d\\u0031\\u0032\\u0033\\u0034",
		"[redacted]", "every character escaped");
	redacts("%73k%2Dtest%2dSECRET-%31%32%33%34&x", "[redacted]&x",
		"URL-encoded, mixed with plain");
	redacts("sk%252Dtest-SECRET-1234", "[redacted]", "double URL-encoding");
	redacts("{\"m\":\"sk\\\\u002dtest-SECRET-1234\"}", "{\"m\":\"[redacted]\"}",
		"JSON in a JSON string");
	redacts("sk&#45;test&#x2D;SECRET-1234<", "[redacted]<", "HTML character references");
	redacts("sk\\x2dtest-SECRET-1234", "[redacted]", "\\x escapes");
	/* base64("user:sk-test-SECRET-1234") and the key at the other alignments */
	redacts("Basic dXNlcjpzay10ZXN0LVNFQ1JFVC0xMjM0", "Basic dXNlcjpz[redacted]",
		"base64 of a text that holds it");
	redacts("c2stdGVzdC1TRUNSRVQtMTIzNA==", "[redacted]NA==", "base64 of the key itself");
	redacts("sk-test-SECRET-123", "[redacted]", "a text that ends in most of it");
	redacts("sk-test- is how keys start", "sk-test- is how keys start",
		"its first bytes inside a text are not it");
	redacts("key: sk-tes", "key: sk-tes", "fewer than FM_REDACT_MIN bytes at the end stay");
	redacts("sk-test-SECRET-12\\u00", "[redacted]", "an end inside an escape");
	redacts("no secret here \\ % & \\u12 %zz &#;", "no secret here \\ % & \\u12 %zz &#;",
		"stray escape characters stay");
	fm_secret_forget();
}

static void test_redact_edges(void)
{
	char buf[32], *r;
	size_t n;

	fm_secret_forget();
	fm_secret_add("");
	fm_secret_add(NULL);
	fm_secret_add("abc");
	fm_secret_add("sevenxx");
	IS_INT(fm_secret_count(), 0, "redact: empty and short secrets are not kept");
	redacts("abc sevenxx", "abc sevenxx", "nothing to redact: a copy");
	r = fm_redact("a\0b", 3, &n);
	OK(n == 3 && !memcmp(r, "a\0b", 3), "redact: a copy keeps NUL bytes");
	free(r);
	fm_secret_add("eightxxx");
	redacts("an eightxxx", "an [redacted]", "FM_REDACT_MIN bytes is a secret");

	fm_secret_forget();
	fm_secret_add("sk-abcdefgh");
	fm_secret_add("sk-abcdefgh-XYZ123");
	fm_secret_add("sk-abcdefgh");
	IS_INT(fm_secret_count(), 2, "redact: a secret added twice is kept once");
	redacts("sk-abcdefgh-XYZ123! sk-abcdefgh!", "[redacted]! [redacted]!",
		"a key that is the prefix of another: the longest wins");
	fm_secret_forget();
	fm_secret_add("aaaaaaaa");
	redacts("xaaaaaaaaaaaax", "x[redacted]x", "overlapping occurrences are one");
	fm_secret_forget();
	fm_secret_add("redacted");
	r = red("a redacted b");
	OK(!strstr(r, "redacted"), "redact: a key the mark holds gets another mark (%s)", r);
	free(r);
	fm_secret_forget();
	fm_secret_add("ab[redacted]cd");
	r = red("abab[redacted]cdcd");
	OK(!strstr(r, "ab[redacted]cd"), "redact: a mark never makes the key again (%s)", r);
	free(r);

	fm_secret_forget();
	fm_secret_add("sk-test-SECRET-1234");
	snprintf(buf, sizeof(buf), "x sk-test-SECRET-1234 and more");
	fm_redact_buf(buf, sizeof(buf));
	IS_STR(buf, "x [redacted] and more", "redact: in a fixed buffer");
	r = fm_redact_cut("0123456789 sk-test-SECRET-1234", 30, 15);
	IS_STR(r, "0123456789 [red", "redact: redacted before it is cut");
	free(r);
	r = fm_redact_cut("\xc3\xa9\xc3\xa9", 4, 3);
	IS_STR(r, "\xc3\xa9", "redact: a cut ends between UTF-8 characters");
	free(r);
	OK(fm_redact_is_text("text/plain") && fm_redact_is_text("application/json") &&
	       fm_redact_is_text("application/problem+json") && !fm_redact_is_text("image/png") &&
	       !fm_redact_is_text("application/octet-stream") && !fm_redact_is_text(NULL),
	   "redact: which types are text");
	fm_secret_forget();
}

static void test_redact_json(void)
{
	json_object *o = NULL;

	fm_secret_forget();
	fm_secret_add("sk-test-SECRET-1234");
	parse_json("{\"error\":{\"message\":\"bad key sk\\u002dtest\\u002dSECRET\\u002d1234\","
		   "\"list\":[1,\"%73k-test-SECRET-1234\"]},"
		   "\"sk\\u002dtest-SECRET-1234\":true}",
		   &o);
	fm_redact_json(o);
	IS_STR(fm_json_str(o),
	       "{\"error\":{\"message\":\"bad key [redacted]\",\"list\":[1,\"[redacted]\"]},"
	       "\"[redacted]\":true}",
	       "redact: decoded strings and member names of a JSON reply");
	json_object_put(o);
	fm_secret_forget();
}

/* Feeds text in two pieces split at cut; returns all that came out. */
static char *feed_split(const char *text, size_t cut, char **first)
{
	struct fm_redact_stream st;
	size_t n1, n2, n3;
	char *a, *b, *c, *all;

	fm_redact_stream_init(&st);
	a = fm_redact_feed(&st, text, cut, &n1);
	b = fm_redact_feed(&st, text + cut, strlen(text) - cut, &n2);
	c = fm_redact_finish(&st, &n3);
	all = fm_xasprintf("%s%s%s", a, b, c);
	*first = a;
	free(b);
	free(c);
	return all;
}

static void test_redact_stream(void)
{
	const char *texts[] = {
	    "the key sk-test-SECRET-1234 came back",
	    "{\"d\":\"sk\\u002dtest\\u002dSECRET\\u002d1234\"} and sk%2Dtest-SECRET-1234",
	    "ends in sk-test-SECRET-1234",
	    "half sk-test-SECRET at the end",
	};
	size_t t, cut;
	int same = 1, clean = 1;

	fm_secret_forget();
	fm_secret_add("sk-test-SECRET-1234");
	for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		char *whole = red(texts[t]);

		for (cut = 0; cut <= strlen(texts[t]); cut++) {
			char *first, *all = feed_split(texts[t], cut, &first);

			if (strcmp(all, whole)) {
				same = 0;
				tap_diag("cut %zu of '%s': '%s' vs '%s'", cut, texts[t], all,
					 whole);
			}
			/*
			 * What came out first holds no start of a key the text
			 * holds (the last text holds only a piece of one).
			 */
			if (t < 3 && (strstr(first, "sk-tes") || strstr(first, "sk\\u002dt") ||
				      strstr(first, "sk%2Dt"))) {
				clean = 0;
				tap_diag("cut %zu of '%s' let out '%s'", cut, texts[t], first);
			}
			free(first);
			free(all);
		}
		free(whole);
	}
	OK(same, "stream: any split gives what the whole text gives");
	OK(clean, "stream: the start of a key is held back until it is told");
	{
		struct fm_redact_stream st;
		const char *text = "a sk-test-SECRET-1234 b";
		char *out = fm_xstrdup(""), *piece, *t;
		size_t i, n;

		fm_redact_stream_init(&st);
		for (i = 0; text[i]; i++) {
			piece = fm_redact_feed(&st, text + i, 1, &n);
			t = fm_xasprintf("%s%s", out, piece);
			free(out);
			free(piece);
			out = t;
		}
		piece = fm_redact_finish(&st, &n);
		t = fm_xasprintf("%s%s", out, piece);
		IS_STR(t, "a [redacted] b", "stream: a byte at a time");
		free(out);
		free(piece);
		free(t);
	}
	fm_secret_forget();
}

/* The capped error body: redacted, then cut at a UTF-8 boundary. */
static void test_error_body(void)
{
	struct fm_error e = FM_ERROR_INIT;
	char big[FM_HTTP_ERROR_BODY_MAX + 32];
	const char *got;

	fm_secret_forget();
	fm_secret_add("sk-test-SECRET-1234");
	fm_http_error_body(&e, "body", "denied for sk-test-SECRET-1234!", 31);
	IS_STR(fm_json_get_string(e.details, "body"), "denied for [redacted]!",
	       "error body: a key in it is redacted");
	fm_http_error_body(&e, "data", NULL, 5);
	IS_STR(fm_json_get_string(e.details, "data"), "", "error body: none is empty text");
	fm_error_release(&e);

	memset(big, 'a', sizeof(big));
	big[FM_HTTP_ERROR_BODY_MAX - 1] = '\xc3';
	big[FM_HTTP_ERROR_BODY_MAX] = '\xa9';
	fm_http_error_body(&e, "body", big, sizeof(big));
	got = fm_json_get_string(e.details, "body");
	IS_INT(got ? strlen(got) : 0, FM_HTTP_ERROR_BODY_MAX - 1,
	       "error body: cut to FM_HTTP_ERROR_BODY_MAX, never in a character");
	fm_error_release(&e);

	/* Five bytes of the key before the cap: too few to be found once cut. */
	memset(big, 'a', sizeof(big));
	memcpy(big + FM_HTTP_ERROR_BODY_MAX - 5, "sk-test-SECRET-1234", 19);
	fm_http_error_body(&e, "body", big, sizeof(big));
	got = fm_json_get_string(e.details, "body");
	OK(got && !strstr(got, "sk-te") && strlen(got) == FM_HTTP_ERROR_BODY_MAX,
	   "error body: redacted before it is cut");
	fm_error_release(&e);
	fm_secret_forget();
}

void test_http(void)
{
	test_sse();
	test_keys();
	test_urls();
	test_under();
	test_redact_spellings();
	test_redact_edges();
	test_redact_json();
	test_redact_stream();
	test_error_body();
}
