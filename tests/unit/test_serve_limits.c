/*
 * What filmeto-serve reads from hostile clients before routing
 * (lib/serve_route.c): --cors origins and an Origin against the Host,
 * and a request's head looked at before its body is read.
 */
#include <stdint.h>
#include <string.h>

#include "serve_route.h"
#include "tap.h"

static int origin(const char *arg, char *out)
{
	struct fm_error err = FM_ERROR_INIT;
	int rc = fm_serve_origin_parse(arg, out, &err);

	if (rc < 0 && !strstr(err.message, "--cors"))
		rc = -2;
	fm_error_release(&err);
	return rc;
}

static void test_origins(void)
{
	static const char *const bad[] = {
	    "localhost:5173",
	    "http://localhost:5173/",
	    "http://a b",
	    "ftp://x",
	    "http://x:0",
	    "http://x:65536",
	    "http://u@x",
	    "http://",
	    "http://[::1",
	    "null",
	    "http://x:",
	    "http://-x",
	    "http://x/?q",
	    "http://[zz]:80",
	    "",
	    "http://x:+80",
	};
	char out[FM_SERVE_ORIGIN_MAX + 1];
	size_t i;

	IS_INT(origin("http://localhost:5173", out), 0, "origin: host and port");
	IS_STR(out, "http://localhost:5173", "origin: as given");
	IS_INT(origin("HTTPS://Films.Example:443", out), 0, "origin: any case, default port");
	IS_STR(out, "https://films.example", "origin: lowercased, :443 left out");
	IS_INT(origin("http://[::1]:8080", out), 0, "origin: IPv6 in brackets");
	IS_STR(out, "http://[::1]:8080", "origin: brackets kept");
	IS_INT(origin("http://127.0.0.1:80", out), 0, "origin: an IPv4 address");
	IS_STR(out, "http://127.0.0.1", "origin: :80 left out");
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		IS_INT(origin(bad[i], out), -1, "origin: '%s' refused, the message names --cors",
		       bad[i]);
	OK(fm_serve_origin_same("http://127.0.0.1:8470", "127.0.0.1:8470"), "same: its Host");
	OK(fm_serve_origin_same("http://LOCALHOST", "localhost:80"), "same: case, :80");
	OK(fm_serve_origin_same("https://films.example", "films.example"),
	   "same: https through a proxy that kept the Host");
	OK(fm_serve_origin_same("https://films.example:443", "films.example"), "same: https, :443");
	OK(!fm_serve_origin_same("https://films.example", "films.example:80"),
	   "same: not https against http's port");
	OK(!fm_serve_origin_same("http://127.0.0.1:8471", "127.0.0.1:8470"), "same: another port");
	OK(!fm_serve_origin_same("http://evil.example", NULL), "same: no Host");
	OK(!fm_serve_origin_same("null", "127.0.0.1"), "same: null is none");
}

static long peek(const char *head, char *auth, int64_t *length)
{
	const char *a;
	size_t n;
	long rc = fm_serve_head_peek(head, strlen(head), &a, &n, length);

	auth[0] = '\0';
	if (a) {
		memcpy(auth, a, n);
		auth[n] = '\0';
	}
	return rc;
}

/* A head's request line and n header lines, not yet ended. */
static const char *lines(char *buf, int n)
{
	int i;

	strcpy(buf, "GET / HTTP/1.1\r\n");
	for (i = 0; i < n; i++)
		strcat(buf, "a: b\r\n");
	return buf;
}

static void test_peek(void)
{
	static char many[32 + 8 * (FM_SERVE_HEADER_LINES_MAX + 1)];
	char auth[256];
	int64_t len;
	const char *h = "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer k1 \r\n"
			"Content-Length: 100000000\r\n\r\nbody";

	IS_INT(peek(h, auth, &len), (long)(strlen(h) - 4), "peek: the head's length");
	IS_STR(auth, "Bearer k1", "peek: Authorization, any case, trimmed");
	IS_INT(len, 100000000, "peek: Content-Length");
	IS_INT(peek("POST / HTTP/1.1\r\nHost: x\r\n", auth, &len), -1, "peek: not whole yet");
	IS_INT(peek("POST / HTTP/1.1\nAuthorization: Bearer a\nContent-Length: 5\n\n", auth, &len),
	       59, "peek: bare LF lines");
	IS_STR(auth, "Bearer a", "peek: bare LF: the key");
	peek("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\n b\r\n\r\n", auth, &len);
	IS_STR(auth, "", "peek: a folded Authorization is unsure: none");
	peek("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", auth,
	     &len);
	IS_STR(auth, "Bearer a", "peek: the first Authorization, as evhttp finds it");
	IS_INT(
	    peek("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n", auth, &len),
	    -3, "peek: two lengths that differ: refused");
	OK(peek("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length:  5\r\n\r\n", auth, &len) >
	       0,
	   "peek: the same length twice: taken");
	IS_INT(len, -1, "peek: the same length twice: left to evhttp");
	IS_INT(
	    peek("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5x\r\n\r\n", auth, &len),
	    -3, "peek: a length and a malformed one: refused");
	IS_INT(peek("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
		    auth, &len),
	       -3, "peek: chunked beside a length: refused");
	OK(peek("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", auth, &len) > 0,
	   "peek: chunked alone: taken");
	IS_INT(len, -1, "peek: chunked: no length");
	peek("POST / HTTP/1.1\r\nContent-Length: 9x\r\n\r\n", auth, &len);
	IS_INT(len, -1, "peek: a malformed length: none");
	peek("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", auth, &len);
	IS_INT(len, -1, "peek: an overlong length: none");
	OK(peek(lines(many, FM_SERVE_HEADER_LINES_MAX), auth, &len) == -1,
	   "peek: as many header lines as the bound, and more to come");
	OK(peek(lines(many, FM_SERVE_HEADER_LINES_MAX + 1), auth, &len) == -2,
	   "peek: one line past the bound, at once");
}

static void test_hosts(void)
{
	static const char *const yes[] = {"localhost",	 "LOCALHOST:8470",  "127.0.0.1",
					  "127.0.0.1:1", "127.9.8.7:65535", "[::1]",
					  "[::1]:8470",	 "localhost."};
	static const char *const no[] = {"",
					 "evil.example",
					 "evil.example:8470",
					 "127.0.0.1.evil.example",
					 "localhost.evil.example",
					 "128.0.0.1",
					 "127.0.0.256",
					 "127.0.0.1:",
					 "127.0.0.1:123456",
					 "127.0.0.1:80x",
					 "[::2]:1",
					 "[::1]x",
					 "0x7f.0.0.1",
					 "127.1",
					 "127.0.0.1 ",
					 "10.0.0.1"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		OK(fm_serve_host_loopback(yes[i]), "loopback Host: '%s'", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(*no); i++)
		OK(!fm_serve_host_loopback(no[i]), "not loopback: '%s'", no[i]);
	OK(!fm_serve_host_loopback(NULL), "no Host: not loopback (the caller lets none pass)");
}

void test_serve_limits(void)
{
	test_hosts();
	test_origins();
	test_peek();
}
