/*
 * lib/http.c without a network: server-sent events, key files, redaction
 * and URLs. Requests themselves are tested against the fake services by
 * the remote_*.bats suites.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http.h"
#include "tap.h"

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

static void test_redact_and_urls(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_http h;
	char text[128], *url;

	OK(fm_http_init(&h, "http://127.0.0.1:9/v1///", "sk-SECRET-42", &err) == 0, "http: init");
	snprintf(text, sizeof(text), "a sk-SECRET-42 b sk-SECRET-42");
	fm_http_redact(&h, text);
	IS_STR(text, "a [redacted] b [redacted]", "redact: every occurrence");
	url = fm_http_url(&h, "/images/generations");
	IS_STR(url, "http://127.0.0.1:9/v1/images/generations", "url: a path joins the base");
	free(url);
	url = fm_http_url(&h, "models");
	IS_STR(url, "http://127.0.0.1:9/v1/models", "url: a relative path too");
	free(url);
	url = fm_http_url(&h, "https://cdn.example/x.png");
	IS_STR(url, "https://cdn.example/x.png", "url: an absolute URL stays");
	free(url);
	fm_http_rebase(&h, "http://127.0.0.1:9", "abc");
	snprintf(text, sizeof(text), "abc");
	fm_http_redact(&h, text);
	IS_STR(text, "abc", "redact: a key under four bytes would match ordinary text");
	fm_http_rebase(&h, "http://127.0.0.1:9", "short");
	snprintf(text, sizeof(text), "x short y");
	fm_http_redact(&h, text);
	IS_STR(text, "x ***** y", "redact: a short key becomes asterisks");
	fm_http_release(&h);
	fm_error_release(&err);
}

void test_http(void)
{
	test_sse();
	test_keys();
	test_redact_and_urls();
}
