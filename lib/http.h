/*
 * HTTP for the remote plugins (openai, comfyui, gradio, http). One
 * libcurl handle per plugin process, reused across tasks so connections
 * stay alive; every request bounded in connect time, total time, speed
 * and size. 429, 502, 503 and 504 are retried with exponential backoff
 * that honours Retry-After; other statuses are not. A cancel aborts the
 * transfer at once.
 *
 * The key is sent in a header, and only to URLs under the base URL
 * (fm_http_under): redirects are followed here, hop by hop, so a
 * redirect to another host, port, scheme or path prefix gets neither
 * the key nor the headers that go with it. Every key read is a secret
 * of the process (lib/redact.h), and everything a service sends back
 * passes through the redaction before anyone sees it: bodies kept in
 * memory, each streamed line, text files, error messages and details.
 *
 * Compression (Accept-Encoding) is asked for bodies kept in memory and
 * streams, which are text; a file is asked for as it is.
 *
 * Server-sent events (text/event-stream) are parsed here too, so every
 * plugin that streams reads them the same way.
 */
#ifndef FM_HTTP_H
#define FM_HTTP_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "redact.h"

/*
 * Both bounds count a body's bytes as they are after its
 * Content-Encoding is undone, as they arrive, so neither a chunked body
 * nor a small compressed one that inflates a thousandfold gets past
 * them; a body past its bound is a SERVICE_ERROR that names the bound,
 * and a file cut short is removed.
 *
 * Largest response body kept in memory (JSON replies, error bodies).
 */
#define FM_HTTP_BODY_MAX (64 * 1024 * 1024)
/*
 * Largest file downloaded (images, audio, video), and largest stream
 * read line by line, in all. FILMETO_DOWNLOAD_MAX (FM_DOWNLOAD_MAX_ENV,
 * lib/resource.h) may lower it, never raise it.
 */
#define FM_HTTP_DOWNLOAD_MAX (4LL * 1024 * 1024 * 1024)
/* Seconds to connect; default seconds for a whole request. */
#define FM_HTTP_CONNECT_TIMEOUT 10
#define FM_HTTP_TIMEOUT		600
/* A transfer slower than 1 byte/s for this many seconds is abandoned. */
#define FM_HTTP_LOW_SPEED_TIME 60
/* Retries after the first attempt, first backoff, longest wait. */
#define FM_HTTP_RETRIES		4
#define FM_HTTP_BACKOFF		1.0
#define FM_HTTP_RETRY_AFTER_MAX 120
/* Bytes of a service's error body kept in error.details.body. */
#define FM_HTTP_ERROR_BODY_MAX 4096
/* Bytes of a service's own words (its error's message) quoted in an error's message. */
#define FM_HTTP_SAID_MAX 300
/* Longest key read from a variable or key file. */
#define FM_HTTP_KEY_MAX 4096
/* Redirects followed per request. */
#define FM_HTTP_REDIRECTS_MAX 10
/* Largest data of one server-sent event. */
#define FM_SSE_DATA_MAX (16 * 1024 * 1024)

struct fm_http {
	CURL *curl;
	char *base;	/* no trailing slash; the key goes to URLs under it */
	char *key;	/* secret or NULL; sent as "Authorization: Bearer KEY" */
	long timeout;	/* seconds per request (FM_HTTP_TIMEOUT) */
	int retries;	/* FM_HTTP_RETRIES */
	double backoff; /* FM_HTTP_BACKOFF; doubles per retry */
	/* Polled during transfers and backoff; nonzero aborts with TASK_CANCELLED. */
	int (*cancelled)(void *arg);
	void *cancel_arg;
	/* Called before each retry with the wait and the reason, or NULL. */
	void (*retrying)(void *arg, int attempt, double wait, const char *why);
	void *retry_arg;
	/*
	 * AWS Signature V4 (S3 and what speaks its API): libcurl signs every
	 * request under the base (CURLOPT_AWS_SIGV4) with "ID:SECRET", so no
	 * HMAC is written here. NULL when requests are not signed.
	 */
	char *sigv4;	     /* "aws:amz:REGION:SERVICE" */
	char *sigv4_userpwd; /* "ID:SECRET", a secret of the process */
	/* Every 5xx is retried, not only 502-504: S3's InternalError (500) asks for it. */
	int retry_5xx;
	char errbuf[CURL_ERROR_SIZE];
};

struct fm_http_req {
	const char *method;	    /* NULL: POST when there is a body, else GET */
	const char *url;	    /* a path joined to base ("/v1/x"), or an absolute URL */
	json_object *json;	    /* a JSON body, or */
	curl_mime *mime;	    /* a multipart body from fm_http_mime() */
	const char *file;	    /* write a 2xx body to this file (tmp + rename) */
	struct curl_slist *headers; /* more request headers ("Accept: …"), or NULL */
	/* Headers that carry a secret: sent, like the key, only under the base. */
	struct curl_slist *scoped_headers;
	/*
	 * Streaming: each line of a 2xx body as it arrives, without its line
	 * end (LF or CRLF); return nonzero to stop the transfer (not an
	 * error). Error bodies are still collected whole.
	 */
	int (*line)(void *arg, const char *line, size_t len);
	void *arg;
	int no_retry; /* never repeated (a request that is not idempotent) */
	/*
	 * A 2xx body written to file is redacted as it arrives when it is
	 * text by its Content-Type; nonzero redacts it whatever the type.
	 */
	int redact;
	/*
	 * PUT the bytes of this file, streamed from disk: upload_len of them
	 * from upload_offset (a part of a multipart upload), or the whole
	 * file when upload_len is 0. The file is read again on each retry.
	 */
	const char *upload;
	long long upload_offset, upload_len;
	/* A body as it is (XML, …), copied; its Content-Type goes in headers. */
	const char *body;
	size_t body_len;
	/* Each response header line as it comes (without its CRLF), or NULL. */
	void (*header)(void *arg, const char *line, size_t len);
	void *header_arg;
};

struct fm_http_resp {
	long status;
	char *body; /* NUL-terminated; NULL when written to a file or streamed */
	size_t len;
	char *content_type; /* lowercase, without parameters, or NULL */
};

/*
 * Makes h for base (http or https; a trailing slash is dropped) and key
 * (may be NULL; kept as a secret of the process). Fails only when
 * libcurl cannot make a handle.
 */
int fm_http_init(struct fm_http *h, const char *base, const char *key, struct fm_error *err);
void fm_http_release(struct fm_http *h);
/* Points h at another base URL and key, keeping the connection cache. */
void fm_http_rebase(struct fm_http *h, const char *base, const char *key);
/*
 * Signs requests under the base with AWS Signature V4 for region and
 * service, with key id and secret (kept as a secret of the process);
 * id NULL turns signing off.
 */
void fm_http_sigv4(struct fm_http *h, const char *region, const char *service, const char *id,
		   const char *secret);

/*
 * One request with retries. Returns 0 for a 2xx reply. Otherwise -1 and
 * err: RATE_LIMIT_EXCEEDED (429), SERVICE_ERROR (5xx, 401, 403, a
 * connection failure, a body past its bound), VALIDATION_ERROR (400,
 * 404, 409, 413, 415, 422), TIMEOUT_ERROR (408, a timeout),
 * TASK_CANCELLED, RESOURCE_PROCESSING_ERROR (a file that cannot be
 * written, a FILMETO_DOWNLOAD_MAX that is no number); err->details has
 * status, url and the service's body (as JSON when it is JSON, else
 * text, cut to FM_HTTP_ERROR_BODY_MAX). resp is filled either way and
 * is released by the caller.
 */
int fm_http_do(struct fm_http *h, const struct fm_http_req *r, struct fm_http_resp *resp,
	       struct fm_error *err);
void fm_http_resp_release(struct fm_http_resp *resp);
/*
 * JSON in (body may be NULL), JSON out. headers (or NULL) are more
 * request headers that may carry a secret: sent, like the key, only to
 * URLs under the base. A 2xx reply that is not JSON is a SERVICE_ERROR
 * naming the content type and status.
 */
int fm_http_json(struct fm_http *h, const char *method, const char *url, struct curl_slist *headers,
		 json_object *body, json_object **reply, struct fm_error *err);
/* GET url into path; a 404 is a RESOURCE_PROCESSING_ERROR naming the url. */
int fm_http_get_file(struct fm_http *h, const char *url, const char *path, struct fm_error *err);
/*
 * A service's text (an error body, a reply that is not what was due)
 * quoted in err's details as name: redacted, then cut to
 * FM_HTTP_ERROR_BODY_MAX bytes at a UTF-8 boundary. Redacted before it
 * is cut: a key cut in two would not be found.
 */
void fm_http_error_body(struct fm_error *err, const char *name, const char *text, size_t len);
/* The absolute URL for url (a path is joined to base); free()d by the caller. */
char *fm_http_url(const struct fm_http *h, const char *url);
/*
 * Whether url lies under base: the same scheme, host and port, and a
 * path that is base's path or goes on from it after a '/' (segment by
 * segment: /v1 holds /v1/x, not /v1evil), judged after '.' and '..'
 * segments are resolved, percent-encoded ones included, as a server
 * that decodes them would.
 */
int fm_http_under(const char *base, const char *url);

/* A multipart body; freed with curl_mime_free() by the caller. */
curl_mime *fm_http_mime(struct fm_http *h);
void fm_http_mime_text(curl_mime *m, const char *name, const char *value);
/* A file part; type may be NULL (guessed from the name). */
int fm_http_mime_file(curl_mime *m, const char *name, const char *path, const char *type,
		      struct fm_error *err);

/*
 * The key for a plugin: the variable env when it is set and not empty,
 * else the file key_file (a regular file of mode 0600 or stricter, its
 * first line), else NULL with no error when optional, else a
 * VALIDATION_ERROR that names the variable and the file setting (never
 * the key). A group- or world-readable key file is refused. The key is
 * kept as a secret of the process (fm_secret_add).
 */
int fm_http_key(const char *env, const char *key_file, int optional, char **key,
		struct fm_error *err);

/*
 * Server-sent events (the WHATWG event stream): fed line by line, it
 * calls event() for each event with its type ("message" when none was
 * named), its data (lines joined by '\n', NUL-terminated) and its id.
 * Comments and unknown fields are skipped; data beyond FM_SSE_DATA_MAX
 * is an error. event() returns nonzero to stop.
 */
struct fm_sse {
	int (*event)(void *arg, const char *type, const char *data, size_t len, const char *id);
	void *arg;
	char type[64];
	char id[256];
	struct fm_buf data; /* the event's data lines so far, each ended by '\n' */
	int has_data;
};

void fm_sse_init(struct fm_sse *s,
		 int (*event)(void *, const char *, const char *, size_t, const char *), void *arg);
void fm_sse_release(struct fm_sse *s);
/* Returns event()'s nonzero value, 0 to go on, or -1 with err. */
int fm_sse_line(struct fm_sse *s, const char *line, size_t len, struct fm_error *err);
/* Dispatches a last event not followed by a blank line. */
int fm_sse_end(struct fm_sse *s, struct fm_error *err);

#endif
