/*
 * The remote plugins' HTTP client (see http.h). A request is one
 * curl_easy_perform on the plugin's one handle; curl_easy_reset between
 * requests clears the options but keeps the connection cache, so a
 * plugin that runs a thousand tasks opens one connection.
 *
 * Where a body goes is decided at its first byte: a 2xx body goes where
 * the request asked (memory, a file, or line by line to a callback); any
 * other body is collected, bounded, as the error's details. Retries
 * happen only on statuses, never after a 2xx body has been delivered,
 * so a streamed line is never seen twice.
 *
 * Every body is counted here as libcurl hands it over, that is after
 * its Content-Encoding is undone: libcurl's own size limit only looks
 * at a Content-Length, which a chunked body lacks and a compressed one
 * states before inflating (a 5 MB gzip body may inflate to 5 GB).
 *
 * Redirects are not left to libcurl, which sends custom headers to any
 * path of the same host: each hop is a transfer of its own whose
 * headers are chosen for its URL. What a service sends is redacted
 * where it lands: a body in memory whole, a streamed line whole, a text
 * file as a stream (lib/redact.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "curl_lazy.h"
#include "http.h"
#include "model.h"
#include "resource.h"
#include "util.h"

/* Longest line handed to a streaming callback: an SSE data line. */
#define LINE_MAX_BYTES (FM_SSE_DATA_MAX + 1024)
/* How long a backoff sleeps between two looks at cancel. */
#define CANCEL_SLICE 0.05

enum sink { SINK_UNSET, SINK_BODY, SINK_FILE, SINK_LINES, SINK_ERROR };

struct xfer {
	struct fm_http *h;
	const struct fm_http_req *r;
	enum sink sink;
	struct fm_buf buf;
	size_t max;		/* what buf may hold (a body, or one line) */
	long long got, limit;	/* decoded bytes of the body so far, and their bound */
	long long download_max; /* FM_HTTP_DOWNLOAD_MAX or what FILMETO_DOWNLOAD_MAX lowers it to */
	FILE *file;
	FILE *upload;		      /* r->upload, open */
	long long upload_left;	      /* its bytes still to send in this hop */
	struct fm_redact_stream text; /* a text file's body, redacted as it comes */
	int redacting;
	int stopped, too_big, over;
	double retry_after; /* seconds, or -1 when the reply named none */
};

int fm_http_init(struct fm_http *h, const char *base, const char *key, struct fm_error *err)
{
	memset(h, 0, sizeof(*h));
	if (fm_curl_load(err) < 0)
		return -1;
	h->curl = fm_curl_easy_init();
	if (!h->curl)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "cannot make a libcurl handle");
	h->timeout = FM_HTTP_TIMEOUT;
	h->retries = FM_HTTP_RETRIES;
	h->backoff = FM_HTTP_BACKOFF;
	fm_http_rebase(h, base, key);
	return 0;
}

void fm_http_rebase(struct fm_http *h, const char *base, const char *key)
{
	size_t n = base ? strlen(base) : 0;

	free(h->base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	h->base = fm_xstrndup(base ? base : "", n);
	if (h->key) {
		explicit_bzero(h->key, strlen(h->key));
		free(h->key);
	}
	h->key = key && *key ? fm_xstrdup(key) : NULL;
	fm_secret_add(h->key);
}

static void free_secret(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
	}
	*s = NULL;
}

void fm_http_sigv4(struct fm_http *h, const char *region, const char *service, const char *id,
		   const char *secret)
{
	free(h->sigv4);
	h->sigv4 = NULL;
	free_secret(&h->sigv4_userpwd);
	if (!id)
		return;
	h->sigv4 = fm_xasprintf("aws:amz:%s:%s", region, service);
	h->sigv4_userpwd = fm_xasprintf("%s:%s", id, secret ? secret : "");
	fm_secret_add(secret);
}

void fm_http_release(struct fm_http *h)
{
	if (h->curl)
		fm_curl_easy_cleanup(h->curl);
	fm_http_sigv4(h, NULL, NULL, NULL, NULL);
	fm_http_rebase(h, NULL, NULL);
	free(h->base);
	memset(h, 0, sizeof(*h));
}

void fm_http_resp_release(struct fm_http_resp *resp)
{
	free(resp->body);
	free(resp->content_type);
	memset(resp, 0, sizeof(*resp));
}

char *fm_http_url(const struct fm_http *h, const char *url)
{
	if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8))
		return fm_xstrdup(url);
	return fm_xasprintf("%s%s%s", h->base, *url == '/' ? "" : "/", url);
}

/* --- the transfer ------------------------------------------------------- */

static int grow(struct xfer *x, const char *data, size_t n)
{
	if (x->buf.len + n > x->max) {
		x->too_big = 1;
		return -1;
	}
	fm_buf_add(&x->buf, data, n);
	return 0;
}

/* One line to the callback, redacted: a line is whole, so is a key in it. */
static int deliver(struct xfer *x, const char *line, size_t len)
{
	size_t n;
	char *clean;
	int rc;

	if (!fm_secret_count())
		return x->r->line(x->r->arg, line, len);
	clean = fm_redact(line, len, &n);
	rc = x->r->line(x->r->arg, clean, n);
	free(clean);
	return rc;
}

/* Hands every complete line in buf to the callback; keeps the rest. */
static int deliver_lines(struct xfer *x, int last)
{
	char *b = x->buf.s;
	size_t start = 0, i;

	for (i = 0; i < x->buf.len && !x->stopped; i++) {
		size_t end = i;

		if (b[i] != '\n')
			continue;
		if (end > start && b[end - 1] == '\r')
			end--;
		b[end] = '\0';
		if (deliver(x, b + start, end - start))
			x->stopped = 1;
		start = i + 1;
	}
	if (last && !x->stopped && start < x->buf.len) {
		if (deliver(x, b + start, x->buf.len - start))
			x->stopped = 1;
		start = x->buf.len;
	}
	if (start) {
		memmove(b, b + start, x->buf.len - start);
		x->buf.len -= start;
		b[x->buf.len] = '\0';
	}
	return x->stopped ? -1 : 0;
}

static void choose_sink(struct xfer *x)
{
	long status = 0;

	fm_curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
	x->limit = FM_HTTP_BODY_MAX;
	if (status < 200 || status > 299) {
		x->sink = SINK_ERROR;
		x->max = FM_HTTP_BODY_MAX;
	} else if (x->r->line) {
		/* A stream is a download: its lines are handed on, not kept. */
		x->sink = SINK_LINES;
		x->max = LINE_MAX_BYTES;
		x->limit = x->download_max;
	} else if (x->file) {
		char *ct = NULL;

		x->sink = SINK_FILE;
		x->limit = x->download_max;
		fm_curl_easy_getinfo(x->h->curl, CURLINFO_CONTENT_TYPE, &ct);
		x->redacting = fm_secret_count() && (x->r->redact || fm_redact_is_text(ct));
		if (x->redacting)
			fm_redact_stream_init(&x->text);
	} else {
		x->sink = SINK_BODY;
		x->max = FM_HTTP_BODY_MAX;
	}
}

/* A piece of a 2xx body bound for a file; a text's is redacted first. */
static int write_file_piece(struct xfer *x, const char *data, size_t n)
{
	char *clean;
	size_t len;
	int rc;

	if (!x->redacting)
		return fwrite(data, 1, n, x->file) == n ? 0 : -1;
	clean = fm_redact_feed(&x->text, data, n, &len);
	rc = fwrite(clean, 1, len, x->file) == len ? 0 : -1;
	free(clean);
	return rc;
}

/* The end of a text file's body: what was held back, redacted. */
static int end_file(struct xfer *x)
{
	char *clean;
	size_t len;
	int rc;

	if (!x->redacting)
		return 0;
	x->redacting = 0;
	clean = fm_redact_finish(&x->text, &len);
	rc = fwrite(clean, 1, len, x->file) == len ? 0 : -1;
	free(clean);
	return rc;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	n *= size;
	if (x->sink == SINK_UNSET)
		choose_sink(x);
	/* Bytes as they are after inflating: what lands on disk or in memory. */
	if ((long long)n > x->limit - x->got) {
		x->over = 1;
		return 0;
	}
	x->got += (long long)n;
	switch (x->sink) {
	case SINK_FILE: return write_file_piece(x, data, n) == 0 ? n : 0;
	case SINK_LINES:
		if (grow(x, data, n) < 0 || deliver_lines(x, 0) < 0)
			return 0;
		return n;
	default: return grow(x, data, n) < 0 ? 0 : n;
	}
}

static double parse_retry_after(const char *v)
{
	char *end;
	double s = strtod(v, &end);
	time_t when;

	while (*end == ' ' || *end == '\r' || *end == '\n')
		end++;
	if (end != v && !*end && s >= 0)
		return s;
	when = fm_curl_getdate(v, NULL);
	if (when < 0)
		return -1;
	s = difftime(when, time(NULL));
	return s > 0 ? s : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	char line[256];
	size_t len = size * n;

	if (x->r->header && len >= 2 && data[len - 2] == '\r')
		x->r->header(x->r->header_arg, data, len - 2);
	/* A new status line (after a 100 Continue or a redirect) starts over. */
	if (len > 5 && !strncmp(data, "HTTP/", 5))
		x->retry_after = -1;
	if (len < sizeof(line) && !strncasecmp(data, "retry-after:", 12)) {
		memcpy(line, data + 12, len - 12);
		line[len - 12] = '\0';
		x->retry_after = parse_retry_after(line + strspn(line, " \t"));
	}
	return len;
}

/* The next piece of an upload, never past its part. */
static size_t on_read(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * n, got;

	if ((long long)want > x->upload_left)
		want = (size_t)x->upload_left;
	got = fread(data, 1, want, x->upload);
	if (got < want && ferror(x->upload))
		return CURL_READFUNC_ABORT;
	x->upload_left -= (long long)got;
	return got;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct fm_http *h = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return h->cancelled(h->cancel_arg) ? 1 : 0;
}

/* --- where the key may go ------------------------------------------------ */

/* How many times a path is percent-decoded: %252e%252e is still "..". */
#define DECODE_ROUNDS 3

/* Percent-decodes p in place (never to NUL); returns whether anything changed. */
static int percent_decode(char *p)
{
	char *in = p, *out = p;
	int changed = 0;

	while (*in) {
		int hi, lo;

		if (in[0] == '%' && (hi = fm_hex_digit((unsigned char)in[1])) >= 0 &&
		    (lo = fm_hex_digit((unsigned char)in[2])) >= 0 && (hi || lo)) {
			*out++ = (char)(hi * 16 + lo);
			in += 3;
			changed = 1;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return changed;
}

/*
 * The path a server that decodes everything would see: percent-decoded,
 * '\\' as '/', '.' and '..' segments resolved, no trailing '/'.
 */
static char *server_path(const char *raw)
{
	char *p = fm_xstrdup(raw), *out = fm_xmalloc(strlen(raw) + 2), *seg, *next;
	size_t len = 0;
	int i;

	for (i = 0; i < DECODE_ROUNDS && percent_decode(p); i++)
		;
	for (seg = p; *seg; seg++)
		if (*seg == '\\')
			*seg = '/';
	out[0] = '\0';
	for (seg = p + (*p == '/'); seg; seg = next) {
		next = strchr(seg, '/');
		if (next)
			*next++ = '\0';
		if (!strcmp(seg, ".")) {
			continue;
		} else if (!strcmp(seg, "..")) {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else {
			out[len++] = '/';
			memcpy(out + len, seg, strlen(seg));
			len += strlen(seg);
		}
		out[len] = '\0';
	}
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
	free(p);
	return out;
}

struct place {
	char *scheme, *host, *port, *path;
};

static void place_release(struct place *w)
{
	fm_curl_free(w->scheme);
	fm_curl_free(w->host);
	fm_curl_free(w->port);
	free(w->path);
	memset(w, 0, sizeof(*w));
}

static int place_of(const char *url, struct place *w)
{
	CURLU *u = fm_curl_url();
	char *path = NULL, *c;
	int ok;

	memset(w, 0, sizeof(*w));
	ok = u && fm_curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     fm_curl_url_get(u, CURLUPART_SCHEME, &w->scheme, 0) == CURLUE_OK &&
	     fm_curl_url_get(u, CURLUPART_HOST, &w->host, 0) == CURLUE_OK &&
	     fm_curl_url_get(u, CURLUPART_PORT, &w->port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	     fm_curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
	if (ok) {
		w->path = server_path(path);
		for (c = w->host; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (c = w->scheme; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	fm_curl_free(path);
	fm_curl_url_cleanup(u);
	if (!ok)
		place_release(w);
	return ok ? 0 : -1;
}

int fm_http_under(const char *base, const char *url)
{
	struct place b, u;
	size_t n;
	int under = 0;

	if (!base || !url || place_of(base, &b) < 0)
		return 0;
	if (place_of(url, &u) == 0) {
		n = strlen(b.path);
		under = !strcmp(b.scheme, u.scheme) && !strcmp(b.host, u.host) &&
			!strcmp(b.port, u.port) && !strncmp(u.path, b.path, n) &&
			(u.path[n] == '\0' || u.path[n] == '/');
		place_release(&u);
	}
	place_release(&b);
	return under;
}

/*
 * The headers for one hop to url: the key and the scoped headers only
 * when url lies under the base. A file URL a service hands out (cloud
 * storage, a CDN) or a redirect elsewhere must not learn them.
 */
static struct curl_slist *request_headers(const struct fm_http *h, const struct fm_http_req *r,
					  const char *url, int with_body)
{
	struct curl_slist *list = NULL, *extra;
	int under = fm_http_under(h->base, url);
	char *auth;

	for (extra = r->headers; extra; extra = extra->next)
		list = fm_curl_slist_append(list, extra->data);
	for (extra = under ? r->scoped_headers : NULL; extra; extra = extra->next)
		list = fm_curl_slist_append(list, extra->data);
	if (r->json && with_body)
		list = fm_curl_slist_append(list, "Content-Type: application/json");
	/*
	 * Python servers answer 100-continue, others stall a second on it.
	 * Not for SigV4: libcurl would sign the header it then leaves out,
	 * and S3 answers 100-continue.
	 */
	if (!h->sigv4)
		list = fm_curl_slist_append(list, "Expect:");
	if (h->key && under) {
		auth = fm_xasprintf("Authorization: Bearer %s", h->key);
		list = fm_curl_slist_append(list, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return list;
}

static void set_options(struct fm_http *h, const struct fm_http_req *r, const char *url,
			const char *method, int with_body, struct xfer *x,
			struct curl_slist *headers)
{
	CURL *c = h->curl;

	fm_curl_easy_reset(c);
	fm_curl_easy_setopt(c, CURLOPT_URL, url);
	fm_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Each hop is judged by attempt(): libcurl follows none. */
	fm_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	fm_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)FM_HTTP_CONNECT_TIMEOUT);
	fm_curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout);
	fm_curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	fm_curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)FM_HTTP_LOW_SPEED_TIME);
	/* Only what a Content-Length announces; on_body counts the rest. */
	fm_curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
			    (curl_off_t)(r->file || r->line ? x->download_max : FM_HTTP_BODY_MAX));
	fm_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	fm_curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	/*
	 * Compression is asked for where it pays: JSON, base64 and event
	 * streams shrink by a quarter or more. A file is an image, a sound
	 * or a video, compressed already, so it is asked for as it is, and
	 * its Content-Length then tells its real size. What a service
	 * compresses unasked is still inflated, and counted (on_body).
	 */
	fm_curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, r->file ? "identity" : "");
	fm_curl_easy_setopt(c, CURLOPT_USERAGENT, "filmeto/" FM_VERSION);
	fm_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	fm_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	fm_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	fm_curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	fm_curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	fm_curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	if (h->cancelled) {
		fm_curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		fm_curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
		fm_curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (r->json && with_body)
		fm_curl_easy_setopt(
		    c, CURLOPT_COPYPOSTFIELDS,
		    json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PLAIN));
	else if (r->mime && with_body)
		fm_curl_easy_setopt(c, CURLOPT_MIMEPOST, r->mime);
	else if (r->body && with_body) {
		fm_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		fm_curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, r->body);
	} else if (r->upload && with_body) {
		fm_curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		fm_curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		fm_curl_easy_setopt(c, CURLOPT_READDATA, x);
		fm_curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->upload_left);
	} else if (!strcmp(method, "POST"))
		fm_curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	if (strcmp(method, "GET") && strcmp(method, "POST") &&
	    !(r->upload && !strcmp(method, "PUT")))
		fm_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	/* The signature, like the key, goes only under the base. */
	if (h->sigv4 && fm_http_under(h->base, url)) {
		fm_curl_easy_setopt(c, CURLOPT_AWS_SIGV4, h->sigv4);
		fm_curl_easy_setopt(c, CURLOPT_USERPWD, h->sigv4_userpwd);
	}
}

/* --- errors ------------------------------------------------------------- */

/* The service's own words: OpenAI's error.message, FastAPI's detail, … */
static const char *service_message(json_object *body)
{
	json_object *e = fm_json_get(body, "error", json_type_object);
	const char *m;

	if (e && (m = fm_json_get_string(e, "message")))
		return m;
	if ((m = fm_json_get_string(body, "error")) || (m = fm_json_get_string(body, "detail")) ||
	    (m = fm_json_get_string(body, "message")))
		return m;
	return NULL;
}

static enum fm_code status_code(long status)
{
	if (status == 429)
		return FM_RATE_LIMIT_EXCEEDED;
	if (status == 408)
		return FM_TIMEOUT_ERROR;
	if (status == 400 || status == 404 || status == 409 || status == 413 || status == 415 ||
	    status == 422)
		return FM_VALIDATION_ERROR;
	return FM_SERVICE_ERROR;
}

void fm_http_error_body(struct fm_error *err, const char *name, const char *text, size_t len)
{
	char *clean = fm_redact_cut(text ? text : "", text ? len : 0, FM_HTTP_ERROR_BODY_MAX);

	fm_error_detail(err, name, json_object_new_string(clean));
	free(clean);
}

/*
 * The body was redacted as it came (take_body); its JSON is redacted
 * again once decoded, so no spelling of the key hides in a string, and
 * the service's words are cut only after that.
 */
static int status_error(const char *url, struct fm_http_resp *resp, double retry_after,
			struct fm_error *err)
{
	json_object *body = NULL;
	const char *said = NULL;
	char *text = NULL;

	if (resp->body && fm_json_parse(resp->body, resp->len, &body, NULL) == 0) {
		fm_redact_json(body);
		said = service_message(body);
	}
	if (said)
		text = fm_redact_cut(said, strlen(said), FM_HTTP_SAID_MAX);
	fm_error(err, status_code(resp->status), "'%s' answered %ld%s%s%s", url, resp->status,
		 resp->status == 401 || resp->status == 403 ? " (the key is missing or refused)"
							    : "",
		 text ? ": " : "", text ? text : "");
	free(text);
	fm_error_detail(err, "status", json_object_new_int((int)resp->status));
	fm_error_detail(err, "url", json_object_new_string(url));
	if (body)
		fm_error_detail(err, "body", body);
	else if (resp->body && resp->len)
		fm_http_error_body(err, "body", resp->body, resp->len);
	if (retry_after >= 0)
		fm_error_detail(err, "retry_after", fm_json_double(retry_after));
	return -1;
}

/* A body past its bound: which bound, and how many bytes it is. */
static int over_limit(const struct xfer *x, const char *url, struct fm_error *err)
{
	int download = x->sink == SINK_FILE || x->sink == SINK_LINES ||
		       (x->sink == SINK_UNSET && (x->r->file || x->r->line));

	if (!download)
		return fm_error(err, FM_SERVICE_ERROR,
				"'%s' sent more than the %d byte limit of a reply kept in memory",
				url, FM_HTTP_BODY_MAX);
	return fm_error(err, FM_SERVICE_ERROR, "'%s' sent more than the %lld byte download limit%s",
			url, x->download_max,
			x->download_max < FM_HTTP_DOWNLOAD_MAX ? " (" FM_DOWNLOAD_MAX_ENV ")" : "");
}

static int transport_error(struct fm_http *h, const char *url, CURLcode rc, struct xfer *x,
			   struct fm_error *err)
{
	const char *why = h->errbuf[0] ? h->errbuf : fm_curl_easy_strerror(rc);

	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return fm_error(err, FM_TASK_CANCELLED, "cancelled while talking to '%s'", url);
	if (x->over || rc == CURLE_FILESIZE_EXCEEDED)
		return over_limit(x, url, err);
	if (x->too_big)
		return fm_error(err, FM_SERVICE_ERROR, "'%s' sent a line longer than %lu bytes",
				url, (unsigned long)x->max);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return fm_error(err, FM_TIMEOUT_ERROR, "'%s' timed out: %s", url, why);
	if (rc == CURLE_WRITE_ERROR && x->sink == SINK_FILE)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot write '%s':", x->r->file);
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return fm_error(err, FM_SERVICE_ERROR, "cannot connect to '%s': %s", url, why);
	return fm_error(err, FM_SERVICE_ERROR, "talking to '%s' failed: %s", url, why);
}

static int retryable(const struct fm_http *h, long status)
{
	if (h->retry_5xx && status >= 500 && status <= 599)
		return 1;
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Sleeps s seconds, looking at cancel; returns -1 when cancelled. */
static int wait_for(struct fm_http *h, double s)
{
	double end = fm_now() + s;

	while (fm_now() < end) {
		double left = end - fm_now(), slice = left < CANCEL_SLICE ? left : CANCEL_SLICE;
		struct timespec ts = {(time_t)slice, (long)((slice - (time_t)slice) * 1e9)};

		if (h->cancelled && h->cancelled(h->cancel_arg))
			return -1;
		nanosleep(&ts, NULL);
	}
	return h->cancelled && h->cancelled(h->cancel_arg) ? -1 : 0;
}

/* --- one request -------------------------------------------------------- */

static int open_file(const char *path, FILE **file, char **tmp, struct fm_error *err)
{
	static unsigned long seq;
	int fd;

	/* O_EXCL with 0666, not mkstemp's 0600: the umask decides, as for any output. */
	*tmp = fm_xasprintf("%s.part%ld-%lu", path, (long)getpid(), ++seq);
	fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || !(*file = fdopen(fd, "wb"))) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", path);
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return 0;
}

static int finish_file(FILE *file, const char *path, char *tmp, int ok, struct fm_error *err)
{
	int rc = 0;

	if (fclose(file) != 0 && ok)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", path);
	if (ok && rc == 0 && rename(tmp, path) != 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot rename to '%s':", path);
	if (!ok || rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* A body kept in memory is redacted whole before anyone reads it. */
static void take_body(struct xfer *x, struct fm_http_resp *resp)
{
	char *ct = NULL;

	fm_curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	fm_curl_easy_getinfo(x->h->curl, CURLINFO_CONTENT_TYPE, &ct);
	free(resp->content_type);
	resp->content_type = NULL;
	if (ct) {
		size_t i, n = strcspn(ct, "; \t");

		resp->content_type = fm_xstrndup(ct, n);
		for (i = 0; i < n; i++)
			resp->content_type[i] = (char)tolower((unsigned char)resp->content_type[i]);
	}
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	if (x->sink == SINK_BODY || x->sink == SINK_ERROR || x->sink == SINK_UNSET) {
		size_t len;
		char *body = fm_buf_detach(&x->buf, &len);

		if (fm_secret_count()) {
			resp->body = fm_redact(body ? body : "", len, &resp->len);
			free(body);
		} else {
			resp->body = body ? body : fm_xstrdup("");
			resp->len = len;
		}
	}
}

/* The file to PUT, and how many of its bytes: the part asked for, else all from the offset. */
static int open_upload(const struct fm_http_req *r, FILE **f, long long *len, struct fm_error *err)
{
	struct stat st;

	*f = fopen(r->upload, "rbe");
	if (!*f || fstat(fileno(*f), &st) != 0) {
		if (*f)
			fclose(*f);
		*f = NULL;
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s':", r->upload);
	}
	*len = r->upload_len > 0 ? r->upload_len : (long long)st.st_size - r->upload_offset;
	if (*len < 0 || r->upload_offset + *len > (long long)st.st_size) {
		fclose(*f);
		*f = NULL;
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"'%s' is shorter than the %lld bytes to send from byte %lld",
				r->upload, *len, r->upload_offset);
	}
	return 0;
}

/* One hop: one transfer to url, its headers chosen for url. */
static CURLcode hop(struct fm_http *h, const struct fm_http_req *r, const char *url,
		    const char *method, int with_body, FILE *file, FILE *upload,
		    long long upload_len, long long download_max, struct xfer *x,
		    struct fm_http_resp *resp)
{
	struct curl_slist *headers = request_headers(h, r, url, with_body);
	CURLcode rc;

	memset(x, 0, sizeof(*x));
	x->h = h;
	x->r = r;
	x->file = file;
	x->download_max = download_max;
	x->retry_after = -1;
	x->upload = upload;
	x->upload_left = upload_len;
	h->errbuf[0] = '\0';
	set_options(h, r, url, method, with_body, x, headers);
	if (upload && fseeko(upload, (off_t)r->upload_offset, SEEK_SET) != 0)
		rc = CURLE_READ_ERROR;
	else
		rc = fm_curl_easy_perform(h->curl);
	if (x->sink == SINK_LINES && (rc == CURLE_OK || x->stopped) && !x->too_big && !x->over)
		deliver_lines(x, 1);
	take_body(x, resp);
	fm_curl_slist_free_all(headers);
	return rc;
}

/* Where a redirect points, when it is to http or https; NULL otherwise. */
static char *redirect_to(struct fm_http *h, long status)
{
	char *to = NULL;

	if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
		return NULL;
	fm_curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &to);
	if (!to || (strncasecmp(to, "http://", 7) && strncasecmp(to, "https://", 8)))
		return NULL;
	return fm_xstrdup(to);
}

static int attempt(struct fm_http *h, const struct fm_http_req *r, const char *url,
		   struct fm_http_resp *resp, double *retry_after, struct fm_error *err)
{
	const char *method = r->method			       ? r->method
			     : (r->json || r->mime || r->body) ? "POST"
			     : r->upload		       ? "PUT"
							       : "GET";
	char *here, *next = NULL, *tmp = NULL;
	long long download_max = FM_HTTP_DOWNLOAD_MAX, upload_len = 0;
	FILE *file = NULL, *upload = NULL;
	struct xfer x;
	CURLcode rc;
	int ok, with_body = 1, hops = 0, looped = 0;

	if ((r->file || r->line) && fm_download_max(&download_max, err) < 0)
		return -1;
	if (download_max > FM_HTTP_DOWNLOAD_MAX)
		download_max = FM_HTTP_DOWNLOAD_MAX;
	if (r->upload && open_upload(r, &upload, &upload_len, err) < 0)
		return -1;
	if (r->file && open_file(r->file, &file, &tmp, err) < 0) {
		if (upload)
			fclose(upload);
		return -1;
	}
	here = fm_xstrdup(url);
	for (;;) {
		rc = hop(h, r, here, method, with_body, file, upload, upload_len, download_max, &x,
			 resp);
		if (rc != CURLE_OK || !(next = redirect_to(h, resp->status)))
			break;
		if (++hops > FM_HTTP_REDIRECTS_MAX) {
			free(next);
			looped = 1;
			break;
		}
		/* A 303, or a 301 or 302 after a POST, goes on as a GET, as libcurl would. */
		if (resp->status == 303 ||
		    ((resp->status == 301 || resp->status == 302) && !strcmp(method, "POST"))) {
			method = "GET";
			with_body = 0;
		}
		fm_buf_release(&x.buf);
		free(here);
		here = next;
	}
	*retry_after = x.retry_after;
	ok = !looped && (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x.stopped)) &&
	     resp->status >= 200 && resp->status <= 299;
	if (looped)
		fm_error(err, FM_SERVICE_ERROR, "'%s' redirected more than %d times", url,
			 FM_HTTP_REDIRECTS_MAX);
	else if (rc == CURLE_READ_ERROR ||
		 (rc == CURLE_ABORTED_BY_CALLBACK && upload && ferror(upload)))
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s':", r->upload);
	else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && x.stopped))
		transport_error(h, url, rc, &x, err);
	else if (!ok)
		fm_error(err, status_code(resp->status), "status %ld", resp->status);
	if (ok && file && end_file(&x) < 0) {
		ok = 0;
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", r->file);
	}
	if (x.redacting)
		fm_redact_stream_release(&x.text);
	if (file && finish_file(file, r->file, tmp, ok, ok ? err : NULL) < 0)
		ok = 0;
	fm_buf_release(&x.buf);
	free(here);
	if (upload)
		fclose(upload);
	if (looped)
		return -1;
	/* 1: a status worth retrying; the caller decides with the count. */
	if (!ok && rc == CURLE_OK && retryable(h, resp->status))
		return 1;
	if (!ok && rc == CURLE_OK)
		return 2;
	return ok ? 0 : -1;
}

int fm_http_do(struct fm_http *h, const struct fm_http_req *r, struct fm_http_resp *resp,
	       struct fm_error *err)
{
	char *url = fm_http_url(h, r->url);
	int n, rc;

	memset(resp, 0, sizeof(*resp));
	for (n = 0;; n++) {
		double retry_after, wait;
		struct fm_error e = FM_ERROR_INIT;

		rc = attempt(h, r, url, resp, &retry_after, &e);
		if (rc == -1 && err)
			fm_error_move(err, &e);
		fm_error_release(&e);
		if (rc == 0 || rc == -1)
			break;
		wait = retry_after >= 0 ? retry_after : h->backoff * pow(2, n);
		if (rc == 2 || r->no_retry || n >= h->retries || wait > FM_HTTP_RETRY_AFTER_MAX) {
			rc = status_error(url, resp, retry_after, err);
			if (resp->status == 429 || retryable(h, resp->status))
				fm_error_detail(err, "attempts", json_object_new_int(n + 1));
			break;
		}
		if (h->retrying) {
			char why[64];

			snprintf(why, sizeof(why), "status %ld", resp->status);
			h->retrying(h->retry_arg, n + 1, wait, why);
		}
		if (wait_for(h, wait) < 0) {
			rc = fm_error(err, FM_TASK_CANCELLED,
				      "cancelled while waiting to retry '%s'", url);
			break;
		}
	}
	if (rc < 0 && err) {
		fm_redact_buf(err->message, sizeof(err->message));
		fm_redact_json(err->details);
	}
	free(url);
	return rc < 0 ? -1 : 0;
}

int fm_http_json(struct fm_http *h, const char *method, const char *url, struct curl_slist *headers,
		 json_object *body, json_object **reply, struct fm_error *err)
{
	struct fm_http_req r = {
	    .method = method, .url = url, .json = body, .scoped_headers = headers};
	struct curl_slist *accept = fm_curl_slist_append(NULL, "Accept: application/json");
	struct fm_http_resp resp;
	struct fm_error perr = FM_ERROR_INIT;
	char *full;
	int rc;

	*reply = NULL;
	r.headers = accept;
	rc = fm_http_do(h, &r, &resp, err);
	fm_curl_slist_free_all(accept);
	if (rc == 0 && fm_json_parse(resp.body, resp.len, reply, &perr) < 0) {
		full = fm_http_url(h, url);
		rc = fm_error(err, FM_SERVICE_ERROR,
			      "'%s' answered %ld with %s that is not JSON (%s)", full, resp.status,
			      resp.content_type ? resp.content_type : "a body without a type",
			      perr.message);
		fm_error_detail(err, "status", json_object_new_int((int)resp.status));
		if (resp.content_type)
			fm_error_detail(err, "content_type",
					json_object_new_string(resp.content_type));
		fm_http_error_body(err, "body", resp.body, resp.len);
		fm_redact_buf(err->message, sizeof(err->message));
		free(full);
	}
	fm_error_release(&perr);
	fm_http_resp_release(&resp);
	return rc;
}

int fm_http_get_file(struct fm_http *h, const char *url, const char *path, struct fm_error *err)
{
	struct fm_http_req r = {.url = url, .file = path};
	struct fm_http_resp resp;
	int rc = fm_http_do(h, &r, &resp, err);

	if (rc < 0 && resp.status == 404) {
		char *full = fm_http_url(h, url);

		err->code = FM_RESOURCE_PROCESSING_ERROR;
		snprintf(err->message, sizeof(err->message), "cannot fetch '%s': 404 Not Found",
			 full);
		fm_redact_buf(err->message, sizeof(err->message));
		free(full);
	}
	fm_http_resp_release(&resp);
	return rc;
}

/* --- multipart ---------------------------------------------------------- */

curl_mime *fm_http_mime(struct fm_http *h)
{
	return fm_curl_mime_init(h->curl);
}

void fm_http_mime_text(curl_mime *m, const char *name, const char *value)
{
	curl_mimepart *p = fm_curl_mime_addpart(m);

	fm_curl_mime_name(p, name);
	fm_curl_mime_data(p, value, CURL_ZERO_TERMINATED);
}

int fm_http_mime_file(curl_mime *m, const char *name, const char *path, const char *type,
		      struct fm_error *err)
{
	curl_mimepart *p = fm_curl_mime_addpart(m);

	fm_curl_mime_name(p, name);
	if (fm_curl_mime_filedata(p, path) != CURLE_OK)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read '%s':", path);
	fm_curl_mime_type(p, type ? type : fm_mime_from_path(path));
	return 0;
}

/* --- keys --------------------------------------------------------------- */

static int read_key_file(const char *file, char **key, struct fm_error *err)
{
	char *path = !strncmp(file, "~/", 2) && getenv("HOME")
			 ? fm_xasprintf("%s/%s", getenv("HOME"), file + 2)
			 : fm_xstrdup(file);
	char buf[FM_HTTP_KEY_MAX + 1];
	struct stat st;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;

	if (fd < 0)
		rc = fm_error(err, FM_VALIDATION_ERROR, "cannot open key file '%s':", path);
	else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc =
		    fm_error(err, FM_VALIDATION_ERROR, "key file '%s' is not a regular file", path);
	else if (st.st_mode & 077)
		rc = fm_error(err, FM_VALIDATION_ERROR,
			      "key file '%s' may be read by others (mode %04o): chmod 600 it", path,
			      (unsigned)(st.st_mode & 07777));
	else if ((n = read(fd, buf, FM_HTTP_KEY_MAX)) < 0)
		rc = fm_error(err, FM_VALIDATION_ERROR, "cannot read key file '%s':", path);
	if (rc == 0) {
		size_t len;

		buf[n] = '\0';
		len = strcspn(buf, "\r\n");
		while (len > 0 && isspace((unsigned char)buf[len - 1]))
			len--;
		if (len == 0)
			rc = fm_error(err, FM_VALIDATION_ERROR, "key file '%s' is empty", path);
		else
			*key = fm_xstrndup(buf + strspn(buf, " \t"), len - strspn(buf, " \t"));
		explicit_bzero(buf, sizeof(buf));
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int fm_http_key(const char *env, const char *key_file, int optional, char **key,
		struct fm_error *err)
{
	const char *v = env ? getenv(env) : NULL;

	*key = NULL;
	if (v && *v) {
		if (strlen(v) > FM_HTTP_KEY_MAX)
			return fm_error(err, FM_VALIDATION_ERROR, "$%s is longer than %d bytes",
					env, FM_HTTP_KEY_MAX);
		*key = fm_xstrdup(v);
		fm_secret_add(*key);
		return 0;
	}
	if (key_file && *key_file) {
		if (read_key_file(key_file, key, err) < 0)
			return -1;
		fm_secret_add(*key);
		return 0;
	}
	if (optional)
		return 0;
	return fm_error(err, FM_VALIDATION_ERROR,
			"no key: set $%s or name a 0600 file in the key_file setting",
			env ? env : "the key variable");
}

/* --- server-sent events ------------------------------------------------- */

void fm_sse_init(struct fm_sse *s,
		 int (*event)(void *, const char *, const char *, size_t, const char *), void *arg)
{
	memset(s, 0, sizeof(*s));
	s->event = event;
	s->arg = arg;
}

void fm_sse_release(struct fm_sse *s)
{
	fm_buf_release(&s->data);
}

static int dispatch(struct fm_sse *s)
{
	int rc = 0;

	if (s->has_data) {
		/* The data buffer ends in the '\n' of its last line. */
		s->data.s[--s->data.len] = '\0';
		rc = s->event(s->arg, s->type[0] ? s->type : "message", s->data.s, s->data.len,
			      s->id);
	}
	s->type[0] = '\0';
	s->data.len = 0;
	if (s->data.s)
		s->data.s[0] = '\0';
	s->has_data = 0;
	return rc;
}

static int add_data(struct fm_sse *s, const char *v, size_t n, struct fm_error *err)
{
	if (s->data.len + n + 1 > FM_SSE_DATA_MAX)
		return fm_error(err, FM_SERVICE_ERROR, "an event's data is larger than %d bytes",
				FM_SSE_DATA_MAX);
	fm_buf_add(&s->data, v, n);
	fm_buf_add(&s->data, "\n", 1);
	s->has_data = 1;
	return 0;
}

int fm_sse_line(struct fm_sse *s, const char *line, size_t len, struct fm_error *err)
{
	const char *colon = memchr(line, ':', len), *v;
	size_t flen, vlen;

	if (len == 0)
		return dispatch(s);
	if (line[0] == ':')
		return 0;
	flen = colon ? (size_t)(colon - line) : len;
	v = colon ? colon + 1 : line + len;
	vlen = len - (size_t)(v - line);
	if (vlen > 0 && *v == ' ')
		v++, vlen--;
	if (flen == 4 && !memcmp(line, "data", 4))
		return add_data(s, v, vlen, err);
	if (flen == 5 && !memcmp(line, "event", 5))
		snprintf(s->type, sizeof(s->type), "%.*s", (int)vlen, v);
	else if (flen == 2 && !memcmp(line, "id", 2) && !memchr(v, '\0', vlen))
		snprintf(s->id, sizeof(s->id), "%.*s", (int)vlen, v);
	return 0;
}

int fm_sse_end(struct fm_sse *s, struct fm_error *err)
{
	(void)err;
	return dispatch(s);
}
