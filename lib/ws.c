/*
 * The WebSocket client of ws.h. libcurl connects (CONNECT_ONLY) and
 * moves bytes with curl_easy_send/curl_easy_recv; the upgrade request and
 * its 101 reply are handled here; wslay's event API does every frame.
 *
 * wslay pulls bytes through on_recv. Bytes read past the end of the
 * upgrade reply are handed to it first. on_recv stops (WOULDBLOCK) as
 * soon as a message is waiting, so a server that floods cannot grow the
 * queue beyond what wslay has already buffered.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <wslay/wslay.h>

#include "curl_lazy.h"
#include "digest.h"
#include "util.h"
#include "ws.h"

/* RFC 6455 §1.3: appended to the key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Random bytes in a Sec-WebSocket-Key. */
#define WS_KEY_BYTES 16
/* Bytes read from the connection at a time during the upgrade. */
#define WS_READ_CHUNK 4096

struct ws_msg {
	struct ws_msg *next;
	char *data;
	size_t len;
	int binary;
};

struct fm_ws {
	CURL *curl; /* NULL: the memory transport */
	curl_socket_t fd;
	const unsigned char *mem;
	size_t mem_len, mem_off;
	wslay_event_context_ptr ev;
	unsigned char *pending; /* bytes read past the upgrade reply */
	size_t pending_len, pending_off;
	struct ws_msg *head, *tail;
	int eof;	/* the server ended the stream */
	int failed;	/* wslay_event_recv's error: no more calls */
	CURLcode ioerr; /* a transport error, or CURLE_OK */
	char *url;	/* for messages */
};

/* Bytes read: >0; 0 when none are there yet; -1 at the end or on an error. */
static ssize_t io_read(struct fm_ws *ws, void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc;

	if (!ws->curl) {
		n = ws->mem_len - ws->mem_off;
		if (n > len)
			n = len;
		if (!n) {
			ws->eof = 1;
			return -1;
		}
		memcpy(buf, ws->mem + ws->mem_off, n);
		ws->mem_off += n;
		return (ssize_t)n;
	}
	rc = fm_curl_easy_recv(ws->curl, buf, len, &n);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc != CURLE_OK) {
		ws->ioerr = rc;
		return -1;
	}
	if (!n) {
		ws->eof = 1;
		return -1;
	}
	return (ssize_t)n;
}

static ssize_t io_write(struct fm_ws *ws, const void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc;

	if (!ws->curl)
		return (ssize_t)len;
	rc = fm_curl_easy_send(ws->curl, buf, len, &n);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc != CURLE_OK) {
		ws->ioerr = rc;
		return -1;
	}
	return (ssize_t)n;
}

/* 1 when the socket is ready for events, 0 when timeout_ms passed. */
static int io_wait(struct fm_ws *ws, short events, int timeout_ms)
{
	struct pollfd pfd = {ws->fd, events, 0};
	int r;

	if (!ws->curl)
		return 1;
	r = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
	if (r < 0 && errno != EINTR)
		return 1; /* the next read or write reports the real error */
	return r > 0;
}

static int ms_left(double deadline)
{
	double left = (deadline - fm_now()) * 1000.0;

	return left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left + 1;
}

static int io_fail(struct fm_ws *ws, struct fm_error *err, const char *what)
{
	if (ws->ioerr != CURLE_OK)
		return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': %s: %s", ws->url, what,
				fm_curl_easy_strerror(ws->ioerr));
	return fm_error(err, FM_SERVICE_ERROR,
			"websocket '%s': %s: connection closed by the server", ws->url, what);
}

static int write_all(struct fm_ws *ws, const char *buf, size_t len, double deadline,
		     struct fm_error *err)
{
	while (len) {
		ssize_t n = io_write(ws, buf, len);

		if (n < 0)
			return io_fail(ws, err, "cannot send the upgrade request");
		if (n == 0 && !io_wait(ws, POLLOUT, ms_left(deadline)))
			return fm_error(err, FM_TIMEOUT_ERROR,
					"websocket '%s': timed out sending the upgrade request",
					ws->url);
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* -- the upgrade ------------------------------------------------------- */

static int random_bytes(void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);

		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

/* base64(SHA-1(key + GUID)), what the server must answer (RFC 6455 §4.2.2). */
static int accept_value(const char *key, char *out, size_t size)
{
	char *text = fm_xasprintf("%s%s", key, WS_GUID);
	uint8_t digest[FM_SHA1_BYTES];

	fm_sha1(text, strlen(text), digest);
	free(text);
	return fm_base64_encode(out, size, digest, sizeof(digest)) ? 0 : -1;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Whether the comma-separated list has token (case-insensitive). */
static int has_token(const char *list, const char *token)
{
	size_t n = strlen(token);

	while (*list) {
		list += strspn(list, " \t,");
		if (!strncasecmp(list, token, n) && strchr(" \t,", list[n]))
			return 1;
		list += strcspn(list, ",");
	}
	return 0;
}

/* Checks the reply head (NUL-terminated, CRLF lines) against key. */
static int check_reply(struct fm_ws *ws, char *head, const char *key, struct fm_error *err)
{
	char want[64], *line, *save = NULL;
	int status = 0, upgrade = 0, connection = 0, accepted = 0, first = 1;

	if (accept_value(key, want, sizeof(want)) < 0)
		return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': cannot hash the key",
				ws->url);
	for (line = strtok_r(head, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon, *value;

		if (first) {
			first = 0;
			if (sscanf(line, "HTTP/%*d.%*d %3d", &status) != 1)
				status = 0;
			continue;
		}
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		value = trim(colon + 1);
		line = trim(line);
		if (!strcasecmp(line, "Upgrade"))
			upgrade = !strcasecmp(value, "websocket");
		else if (!strcasecmp(line, "Connection"))
			connection = has_token(value, "upgrade");
		else if (!strcasecmp(line, "Sec-WebSocket-Accept"))
			accepted = !strcmp(value, want);
		else if (!strcasecmp(line, "Sec-WebSocket-Extensions") && *value)
			/* None were offered, so none may be used (RFC 6455 §9.1). */
			return fm_error(err, FM_SERVICE_ERROR,
					"websocket '%s': the server chose an extension that was "
					"not offered",
					ws->url);
	}
	if (status != 101) {
		fm_error(err, FM_SERVICE_ERROR, "websocket '%s': upgrade refused: HTTP status %d",
			 ws->url, status);
		fm_error_detail(err, "status", json_object_new_int(status));
		return -1;
	}
	if (!upgrade || !connection)
		return fm_error(err, FM_SERVICE_ERROR,
				"websocket '%s': the 101 reply lacks Upgrade: websocket or "
				"Connection: Upgrade",
				ws->url);
	if (!accepted)
		return fm_error(err, FM_SERVICE_ERROR,
				"websocket '%s': Sec-WebSocket-Accept does not match the key",
				ws->url);
	return 0;
}

/* Reads the reply head; what follows it is kept for wslay. */
static int read_reply(struct fm_ws *ws, const char *key, double deadline, struct fm_error *err)
{
	char *buf = fm_xmalloc(FM_WS_HANDSHAKE_MAX + 1), *end = NULL;
	size_t n = 0, head;
	int rc;

	while (!end) {
		size_t room = FM_WS_HANDSHAKE_MAX - n;
		ssize_t got;

		if (!room) {
			free(buf);
			return fm_error(err, FM_SERVICE_ERROR,
					"websocket '%s': upgrade reply longer than %d bytes",
					ws->url, FM_WS_HANDSHAKE_MAX);
		}
		got = io_read(ws, buf + n, room < WS_READ_CHUNK ? room : WS_READ_CHUNK);
		if (got < 0) {
			free(buf);
			return io_fail(ws, err, "no upgrade reply");
		}
		if (got == 0) {
			if (!io_wait(ws, POLLIN, ms_left(deadline))) {
				free(buf);
				return fm_error(err, FM_TIMEOUT_ERROR,
						"websocket '%s': no upgrade reply within %d ms",
						ws->url, FM_WS_HANDSHAKE_TIMEOUT);
			}
			continue;
		}
		n += (size_t)got;
		end = memmem(buf, n, "\r\n\r\n", 4);
	}
	head = (size_t)(end - buf) + 4;
	if (n > head) {
		ws->pending_len = n - head;
		ws->pending = fm_xmalloc(ws->pending_len);
		memcpy(ws->pending, buf + head, ws->pending_len);
	}
	buf[head] = '\0';
	rc = check_reply(ws, buf, key, err);
	free(buf);
	return rc;
}

/* -- wslay's side ----------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *arg)
{
	struct fm_ws *ws = arg;
	ssize_t n;

	(void)flags;
	if (ws->head) {
		wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (ws->pending_off < ws->pending_len) {
		size_t k = ws->pending_len - ws->pending_off;

		if (k > len)
			k = len;
		memcpy(buf, ws->pending + ws->pending_off, k);
		ws->pending_off += k;
		return (ssize_t)k;
	}
	n = io_read(ws, buf, len);
	if (n <= 0) {
		wslay_event_set_error(ev, n ? WSLAY_ERR_CALLBACK_FAILURE : WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t on_send(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags,
		       void *arg)
{
	ssize_t n = io_write(arg, data, len);

	(void)flags;
	if (n <= 0) {
		wslay_event_set_error(ev, n ? WSLAY_ERR_CALLBACK_FAILURE : WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static int on_genmask(wslay_event_context_ptr ev, uint8_t *buf, size_t len, void *arg)
{
	(void)arg;
	if (random_bytes(buf, len) < 0) {
		wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return 0;
}

static void on_msg(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *a,
		   void *arg)
{
	struct fm_ws *ws = arg;
	struct ws_msg *m;

	(void)ev;
	/* Control frames (ping, pong, close) are wslay's business. */
	if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
		return;
	m = fm_xcalloc(1, sizeof(*m));
	m->data = fm_xmalloc(a->msg_length + 1);
	if (a->msg_length)
		memcpy(m->data, a->msg, a->msg_length);
	m->data[a->msg_length] = '\0';
	m->len = a->msg_length;
	m->binary = a->opcode == WSLAY_BINARY_FRAME;
	if (ws->tail)
		ws->tail->next = m;
	else
		ws->head = m;
	ws->tail = m;
}

static int start_wslay(struct fm_ws *ws, struct fm_error *err)
{
	static const struct wslay_event_callbacks cb = {
	    on_recv, on_send, on_genmask, NULL, NULL, NULL, on_msg,
	};

	if (wslay_event_context_client_init(&ws->ev, &cb, ws) != 0)
		return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': out of memory", ws->url);
	wslay_event_config_set_max_recv_msg_length(ws->ev, FM_WS_MSG_MAX);
	return 0;
}

static struct fm_ws *ws_new(const char *url)
{
	struct fm_ws *ws = fm_xcalloc(1, sizeof(*ws));

	ws->fd = CURL_SOCKET_BAD;
	ws->url = fm_xstrdup(url);
	return ws;
}

static char *make_key(void)
{
	unsigned char raw[WS_KEY_BYTES];
	char key[FM_BASE64_SIZE(WS_KEY_BYTES)];

	if (random_bytes(raw, sizeof(raw)) < 0)
		return NULL;
	fm_base64_encode(key, sizeof(key), raw, sizeof(raw));
	return fm_xstrdup(key);
}

/* The http(s) URL libcurl connects to, and the request target and Host. */
static int split_url(const char *url, char **http, char **target, char **host, struct fm_error *err)
{
	CURLU *u = fm_curl_url();
	char *h = NULL, *port = NULL, *path = NULL, *query = NULL;
	int rc = -1;

	if (!strncasecmp(url, "ws://", 5))
		*http = fm_xasprintf("http://%s", url + 5);
	else if (!strncasecmp(url, "wss://", 6))
		*http = fm_xasprintf("https://%s", url + 6);
	else
		*http = fm_xstrdup(url);
	if (!u || fm_curl_url_set(u, CURLUPART_URL, *http, 0) != CURLUE_OK ||
	    fm_curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    fm_curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		fm_error(err, FM_VALIDATION_ERROR, "websocket: '%s' is not a URL", url);
		goto out;
	}
	if (strncasecmp(*http, "http://", 7) && strncasecmp(*http, "https://", 8)) {
		fm_error(err, FM_VALIDATION_ERROR,
			 "websocket: '%s' is not an http, https, ws or "
			 "wss URL",
			 url);
		goto out;
	}
	fm_curl_url_get(u, CURLUPART_PORT, &port, 0);
	fm_curl_url_get(u, CURLUPART_QUERY, &query, 0);
	*host = port ? fm_xasprintf("%s:%s", h, port) : fm_xstrdup(h);
	*target = query ? fm_xasprintf("%s?%s", path, query) : fm_xstrdup(path);
	rc = 0;
out:
	if (rc < 0) {
		free(*http);
		*http = NULL;
	}
	fm_curl_free(h);
	fm_curl_free(port);
	fm_curl_free(path);
	fm_curl_free(query);
	fm_curl_url_cleanup(u);
	return rc;
}

static int connect_curl(struct fm_ws *ws, const char *http, long connect_timeout,
			struct fm_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	if (fm_curl_load(err) < 0)
		return -1;
	ws->curl = fm_curl_easy_init();
	if (!ws->curl)
		return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': cannot make a curl handle",
				ws->url);
	fm_curl_easy_setopt(ws->curl, CURLOPT_URL, http);
	fm_curl_easy_setopt(ws->curl, CURLOPT_CONNECT_ONLY, 1L);
	fm_curl_easy_setopt(ws->curl, CURLOPT_CONNECTTIMEOUT, connect_timeout);
	fm_curl_easy_setopt(ws->curl, CURLOPT_NOSIGNAL, 1L);
	fm_curl_easy_setopt(ws->curl, CURLOPT_ERRORBUFFER, errbuf);
	rc = fm_curl_easy_perform(ws->curl);
	fm_curl_easy_setopt(ws->curl, CURLOPT_ERRORBUFFER, (char *)NULL);
	if (rc != CURLE_OK)
		return fm_error(
		    err, rc == CURLE_OPERATION_TIMEDOUT ? FM_TIMEOUT_ERROR : FM_SERVICE_ERROR,
		    "websocket '%s': cannot connect: %s", ws->url,
		    *errbuf ? errbuf : fm_curl_easy_strerror(rc));
	if (fm_curl_easy_getinfo(ws->curl, CURLINFO_ACTIVESOCKET, &ws->fd) != CURLE_OK ||
	    ws->fd == CURL_SOCKET_BAD)
		return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': no socket after connecting",
				ws->url);
	return 0;
}

int fm_ws_open(struct fm_ws **out, const char *url, long connect_timeout, struct fm_error *err)
{
	struct fm_ws *ws = ws_new(url);
	char *http = NULL, *target = NULL, *host = NULL, *key = NULL, *req = NULL;
	double deadline;
	int rc = -1;

	*out = NULL;
	if (split_url(url, &http, &target, &host, err) < 0)
		goto out;
	if (!(key = make_key())) {
		fm_error(err, FM_SERVICE_ERROR, "websocket '%s': no random bytes for a key:", url);
		goto out;
	}
	if (connect_curl(ws, http, connect_timeout, err) < 0)
		goto out;
	req = fm_xasprintf("GET %s HTTP/1.1\r\n"
			   "Host: %s\r\n"
			   "User-Agent: filmeto/" FM_VERSION "\r\n"
			   "Upgrade: websocket\r\n"
			   "Connection: Upgrade\r\n"
			   "Sec-WebSocket-Key: %s\r\n"
			   "Sec-WebSocket-Version: 13\r\n"
			   "\r\n",
			   target, host, key);
	deadline = fm_now() + FM_WS_HANDSHAKE_TIMEOUT / 1000.0;
	if (write_all(ws, req, strlen(req), deadline, err) < 0 ||
	    read_reply(ws, key, deadline, err) < 0 || start_wslay(ws, err) < 0)
		goto out;
	*out = ws;
	ws = NULL;
	rc = 0;
out:
	fm_ws_close(ws);
	free(http);
	free(target);
	free(host);
	free(key);
	free(req);
	return rc;
}

int fm_ws_open_mem(struct fm_ws **out, const void *data, size_t len, struct fm_error *err)
{
	struct fm_ws *ws = ws_new("memory");

	*out = NULL;
	ws->mem = data;
	ws->mem_len = len;
	if (read_reply(ws, FM_WS_TEST_KEY, fm_now() + FM_WS_HANDSHAKE_TIMEOUT / 1000.0, err) < 0 ||
	    start_wslay(ws, err) < 0) {
		fm_ws_close(ws);
		return -1;
	}
	*out = ws;
	return 0;
}

/* -- messages --------------------------------------------------------- */

static int closed(struct fm_ws *ws, int wslay_rc, struct fm_error *err)
{
	uint16_t code;

	if (wslay_event_get_status_code_sent(ws->ev) == WSLAY_CODE_MESSAGE_TOO_BIG)
		return fm_error(err, FM_SERVICE_ERROR,
				"websocket '%s': a message longer than %d bytes", ws->url,
				FM_WS_MSG_MAX);
	if (wslay_event_get_close_received(ws->ev)) {
		code = wslay_event_get_status_code_received(ws->ev);
		fm_error(err, FM_SERVICE_ERROR, "websocket '%s': closed by the server (code %u)",
			 ws->url, (unsigned)code);
		fm_error_detail(err, "close_code", json_object_new_int(code));
		return -1;
	}
	if (ws->eof || ws->ioerr != CURLE_OK)
		return io_fail(ws, err, "receive");
	if (wslay_rc == WSLAY_ERR_NOMEM)
		return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': out of memory", ws->url);
	return fm_error(err, FM_SERVICE_ERROR, "websocket '%s': protocol error from the server",
			ws->url);
}

int fm_ws_recv(struct fm_ws *ws, int timeout_ms, char **msg, size_t *len, int *binary,
	       struct fm_error *err)
{
	double deadline = fm_now() + (timeout_ms > 0 ? timeout_ms : 0) / 1000.0;

	*msg = NULL;
	*len = 0;
	*binary = 0;
	for (;;) {
		struct ws_msg *m = ws->head;

		if (m) {
			ws->head = m->next;
			if (!ws->head)
				ws->tail = NULL;
			*msg = m->data;
			*len = m->len;
			*binary = m->binary;
			free(m);
			return 1;
		}
		if (ws->failed || ws->eof || ws->ioerr != CURLE_OK ||
		    !wslay_event_get_read_enabled(ws->ev))
			return closed(ws, ws->failed, err);
		ws->failed = wslay_event_recv(ws->ev);
		/* Pongs and the answer to a close go out as they come. */
		if (!ws->failed && wslay_event_want_write(ws->ev))
			wslay_event_send(ws->ev);
		if (ws->head || ws->failed || ws->eof || !wslay_event_get_read_enabled(ws->ev))
			continue;
		if (!ms_left(deadline) || !io_wait(ws, POLLIN, ms_left(deadline)))
			return 0;
	}
}

void fm_ws_close(struct fm_ws *ws)
{
	struct ws_msg *m, *next;

	if (!ws)
		return;
	if (ws->ev) {
		/* A polite close; a server that does not read it loses nothing. */
		if (!ws->failed && !ws->eof && ws->ioerr == CURLE_OK &&
		    !wslay_event_get_close_sent(ws->ev) &&
		    wslay_event_queue_close(ws->ev, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) == 0)
			wslay_event_send(ws->ev);
		wslay_event_context_free(ws->ev);
	}
	if (ws->curl)
		fm_curl_easy_cleanup(ws->curl);
	for (m = ws->head; m; m = next) {
		next = m->next;
		free(m->data);
		free(m);
	}
	free(ws->pending);
	free(ws->url);
	free(ws);
}
