/*
 * What filmeto-serve decides about a request before it touches the spool,
 * kept apart from libevent so it can be fuzzed and unit tested: the route
 * of a method and a path (each path component decoded and checked), the
 * query of the task list, the body of POST /api/v1/tasks, the key file,
 * and a --listen address. Nothing here prints, allocates a socket or
 * reads the file system.
 */
#ifndef FM_SERVE_ROUTE_H
#define FM_SERVE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "util.h"

/*
 * The plugins' manifests and config.yaml that requests are checked
 * against are read again once this old (s): a plugin installed, or a
 * config changed, is seen by requests a second later at most.
 */
#define FM_SERVE_CATALOG_AGE 1.0
/* The largest request body (base64 images fit): larger is answered 413. */
#define FM_SERVE_BODY_MAX (64 * 1024 * 1024)
/* The largest request line and headers together. */
#define FM_SERVE_HEADERS_MAX (16 * 1024)
/*
 * Header lines a request may have: each costs evhttp some 100 bytes
 * besides its text, so 16 KiB of tiny ones would hold 460 KiB per
 * connection; past it 431.
 */
#define FM_SERVE_HEADER_LINES_MAX 100
/* A connection idle (or a client this slow) this long is closed (s). */
#define FM_SERVE_TIMEOUT 30
/* The longest path looked at; a longer one is no route. */
#define FM_SERVE_PATH_MAX 1024
/* GET /api/v1/tasks: tasks a page holds unless limit says, and at most. */
#define FM_SERVE_PAGE	  100
#define FM_SERVE_PAGE_MAX 1000
/* A key file: its size, its keys, and the shortest key taken. */
#define FM_SERVE_KEYFILE_MAX (64 * 1024)
#define FM_SERVE_KEYS_MAX    256
#define FM_SERVE_KEY_MIN     16
#define FM_SERVE_KEY_MAX     256
/* GET /api/v1/tasks/ID/files/N: the largest N looked at; a larger one is no file. */
#define FM_SERVE_FILE_INDEX_MAX 99999
/*
 * GET /api/v1/tasks/ID/stream: a heartbeat event after this long quiet
 * (s, seed 000's rule); streams open at once, in all and per task (one
 * more is 503); the log is not read further while this much waits to be
 * sent to the client; a client that takes none of it for FM_SERVE_TIMEOUT
 * is dropped; events made in one turn of the loop before the other
 * connections get theirs; on SIGTERM, how long the ended streams have to
 * be sent (s).
 */
#define FM_SERVE_SSE_HEARTBEAT 5.0
#define FM_SERVE_SSE_MAX       1024
#define FM_SERVE_SSE_PER_TASK  64
#define FM_SERVE_SSE_BUF_MAX   (1024 * 1024)
#define FM_SERVE_SSE_BATCH     256
#define FM_SERVE_SSE_DRAIN     2.0
/* The largest Last-Event-ID taken: a log line number (a log has fewer lines). */
#define FM_SERVE_EVENT_ID_MAX 999999999999999ULL

/*
 * The page's files (share/filmeto/web): GET / is index.html, GET /web/NAME
 * the others. A NAME is one component of at most this many bytes, letters,
 * digits, '.', '-' and '_', not starting with '.', of a type the page uses.
 */
#define FM_SERVE_ASSET_NAME_MAX 64
#define FM_SERVE_ASSET_PREFIX	"/web/"

enum fm_route {
	FM_ROUTE_NONE, /* no such route: 404 */
	FM_ROUTE_HEALTH,
	FM_ROUTE_TASKS, /* GET list, POST queue */
	FM_ROUTE_TASK,	/* GET status, DELETE cancel */
	FM_ROUTE_TOOLS,
	FM_ROUTE_PLUGINS,
	FM_ROUTE_TASK_STREAM, /* GET: the task's events as Server-Sent Events */
	FM_ROUTE_TASK_FILE,   /* GET: the file-th output file of its final line */
	FM_ROUTE_FILMS,	      /* POST: a storyboard, queued whole */
	FM_ROUTE_PAGE,	      /* GET / and /web/NAME: the page and its assets */
	/* OpenAI-compatible (seed 001; lib/serve_openai.h): */
	FM_ROUTE_OAI_MODELS,	    /* GET /v1/models */
	FM_ROUTE_OAI_IMAGES,	    /* POST /v1/images/generations */
	FM_ROUTE_OAI_SPEECH,	    /* POST /v1/audio/speech */
	FM_ROUTE_OAI_CHAT,	    /* POST /v1/chat/completions */
	FM_ROUTE_OAI_VIDEOS,	    /* POST /v1/videos */
	FM_ROUTE_OAI_VIDEO,	    /* GET status, DELETE cancel: /v1/videos/ID */
	FM_ROUTE_OAI_VIDEO_CONTENT, /* GET /v1/videos/ID/content: its output file 0 */
};

/* Methods, as bits of struct fm_route_match's allow. */
enum fm_method {
	FM_METHOD_GET = 1,
	FM_METHOD_POST = 2,
	FM_METHOD_DELETE = 4,
	FM_METHOD_OTHER = 8,
	FM_METHOD_OPTIONS = 16, /* a CORS preflight: answered for any route there is */
};

struct fm_route_match {
	enum fm_route route;
	unsigned allow;		/* the methods the route takes */
	char id[FM_ID_MAX + 1]; /* FM_ROUTE_TASK*: the task id, decoded and valid */
	size_t file;		/* FM_ROUTE_TASK_FILE: which output file, from 0 */
	char allow_text[32];	/* allow as an Allow header: "GET, DELETE" */
	char asset[FM_SERVE_ASSET_NAME_MAX + 1]; /* FM_ROUTE_PAGE: a checked file name */
};

/*
 * Routes a request: the HTTP status to answer when it cannot go on (404
 * no route, 400 a path component that is no valid id, with err saying
 * why; 405 a method the route does not take), else 0. path is as sent,
 * percent-encoded, without its query.
 */
int fm_serve_route(enum fm_method method, const char *path, struct fm_route_match *m,
		   struct fm_error *err);

/*
 * The Content-Type of a page's file by its name's ending, or NULL for a
 * name that is no file of the page (a type it does not serve).
 */
const char *fm_serve_asset_type(const char *name);

/* GET /api/v1/tasks?state=&limit=&after= */
struct fm_serve_query {
	int state; /* enum fm_spool_state, or -1 for every one */
	size_t limit;
	char after[FM_ID_MAX + 1]; /* the list starts after this id; "" from the start */
};
/*
 * Reads a query string (NULL or "" for none), for any route: 401 when it
 * carries a key (key=, api_key=, token=, access_token=...: a key in a URL
 * ends up in logs, so it is refused even when right), 400 when a value of
 * the list is malformed or a parameter unknown (list only), else 0.
 * Messages never repeat a value of a key.
 */
int fm_serve_query_parse(const char *query, int list, struct fm_serve_query *q,
			 struct fm_error *err);

/*
 * The body of POST /api/v1/tasks: a task object or an array of them,
 * appended to tasks as filmeto-submit --json reads them (fm_task_object).
 * 400 when it is no JSON (err says where), 422 when it is JSON of another
 * shape (a number, an empty array); else 0. The tasks are then checked
 * like any filmeto-submit's.
 */
int fm_serve_tasks_body(const char *buf, size_t len, json_object *tasks, struct fm_error *err);

/* The keys of a key file: "NAME KEY" or "NAME KEY admin" a line. */
struct fm_serve_key {
	char name[FM_ID_MAX + 1];
	char key[FM_SERVE_KEY_MAX + 1];
	size_t len;
	int admin;
};
struct fm_serve_keys {
	struct fm_serve_key v[FM_SERVE_KEYS_MAX];
	size_t n;
};
/*
 * Parses a key file's text; blank lines and lines starting with # are
 * skipped. -1 with err naming the line (never the key) when a line is
 * malformed, a name is no id or used twice, a key is shorter than
 * FM_SERVE_KEY_MIN or has a byte that cannot be in a header.
 */
int fm_serve_keys_parse(const char *buf, size_t len, struct fm_serve_keys *k, struct fm_error *err);
/*
 * The key an Authorization header value ("Bearer KEY") names, or NULL.
 * Every key is compared, each in time that depends on its length only,
 * so the time taken says nothing of how much of a key was right.
 */
const struct fm_serve_key *fm_serve_keys_check(const struct fm_serve_keys *k,
					       const char *authorization);
/* Zeroes the keys (explicit_bzero), so they do not linger in memory. */
void fm_serve_keys_clear(struct fm_serve_keys *k);

/* --listen ADDR:PORT: a numeric IPv4 address, or IPv6 in brackets. */
struct fm_serve_listen {
	char addr[64]; /* without brackets */
	unsigned short port;
	int loopback; /* 127.0.0.0/8 or ::1 */
};
int fm_serve_listen_parse(const char *arg, struct fm_serve_listen *l, struct fm_error *err);

/*
 * A Range header (RFC 9110 14.1.2) over a file of size bytes: one range
 * of bytes, "bytes=A-B", "bytes=A-" or "bytes=-N". FM_RANGE_OK sets
 * *from and *len (B past the end is cut to the end, N past the size is
 * the whole file); FM_RANGE_UNSATISFIABLE (416) when A is at or past the
 * end or N is 0; FM_RANGE_NONE, the whole file, when there is no header
 * or it is malformed, names another unit, or several ranges (RFC 9110
 * lets a server ignore those).
 */
enum fm_serve_range { FM_RANGE_NONE, FM_RANGE_OK, FM_RANGE_UNSATISFIABLE };
enum fm_serve_range fm_serve_range_parse(const char *header, uint64_t size, uint64_t *from,
					 uint64_t *len);

/*
 * A Last-Event-ID header: the log line number of the last event a client
 * got, into *after (0 when there is no header or it is empty). -1 when it
 * is no such number (digits only, at most FM_SERVE_EVENT_ID_MAX).
 */
int fm_serve_event_id_parse(const char *header, uint64_t *after);

/*
 * One Server-Sent Event appended to out: "id: ID" (none when id is 0),
 * "event: TYPE" (the "type" of a JSON object line, or "message" when it
 * has none fit for an event name), and the line as data, split at any
 * CR or LF so none can end the event early.
 */
struct fm_buf;
void fm_serve_sse_event(struct fm_buf *out, uint64_t id, const char *line, size_t len);

/*
 * Hostile clients (LIMITS in filmeto-serve(1)). Connections open at once,
 * streams aside (FM_SERVE_SSE_MAX bounds those): at the cap the server
 * stops accepting until one ends, and the kernel's backlog holds the
 * rest. A connection is closed when a request takes longer than
 * FM_SERVE_REQUEST_TIMEOUT to arrive whole from its start (or from the
 * last answer): a client that trickles its headers a byte at a time is
 * dropped then, however often it sends one. How often that is looked at
 * (s). When accept() finds no descriptor left, how long before it is
 * tried again (s).
 */
#define FM_SERVE_CONN_MAX	 4096
#define FM_SERVE_BACKLOG	 1024 /* connections the kernel holds, not yet accepted */
#define FM_SERVE_REQUEST_TIMEOUT 60
#define FM_SERVE_SWEEP		 1.0
#define FM_SERVE_ACCEPT_PAUSE	 0.5
/*
 * With --key-file, the largest body read from a request whose head
 * carries no right key: a larger one is refused (401) before it is read,
 * so a client without a key cannot make the server hold
 * FM_SERVE_BODY_MAX; a smaller one is read and answered 401.
 */
#define FM_SERVE_ANON_BODY_MAX (64 * 1024)
/*
 * The bodies read at once, by their Content-Length, in all: one more that
 * would pass it is 503 before it is read (each may be FM_SERVE_BODY_MAX,
 * and a few clients would otherwise make the server hold gigabytes).
 */
#define FM_SERVE_BODIES_MAX (256 * 1024 * 1024)
/* --cors: allowed origins, and the longest one taken. */
#define FM_SERVE_ORIGINS_MAX 16
#define FM_SERVE_ORIGIN_MAX  256
/* How long a browser may keep a preflight's answer (s). */
#define FM_SERVE_PREFLIGHT_AGE 600

/*
 * --cors ORIGIN: "http://HOST" or "https://HOST", an optional ":PORT"
 * (1 to 65535), no path, user or query. HOST is a DNS name (letters,
 * digits, '-', '.') or an IPv6 address in brackets. Into out (size
 * FM_SERVE_ORIGIN_MAX + 1) lowercased, as browsers send it, with a
 * default port (80, 443) left out; -1 with err when malformed.
 */
int fm_serve_origin_parse(const char *arg, char *out, struct fm_error *err);
/*
 * Whether an Origin header names the origin a request was sent to: the
 * Host header it carries, over http, or over https when the origin says
 * so (a TLS proxy in front that kept the Host). A default port (:80,
 * :443) on either side is no difference; case is none.
 */
int fm_serve_origin_same(const char *origin, const char *host);
/*
 * Whether a Host header names this machine's loopback: localhost, an
 * address of 127.0.0.0/8 or [::1], with or without a port. A server
 * without keys answers only such a Host (or none): a web page whose name
 * its DNS turns to 127.0.0.1 (DNS rebinding) sends its own name, and is
 * refused before it can queue a task or read a file.
 */
int fm_serve_host_loopback(const char *host);

/*
 * A look at a request's head as its bytes arrive, before evhttp reads
 * its body (libevent 2.1 has no hook between the two): buf holds the
 * request from its first byte. -1 while the head is not whole (no empty
 * line yet); -2 as soon as it has more than FM_SERVE_HEADER_LINES_MAX
 * header lines; else the head's length, with *auth and *authlen the first
 * Authorization header's value, trimmed (NULL, 0 when there is none, or
 * when a folded line or a bare CR makes it unsure what evhttp will read),
 * and *length the Content-Length (-1 when there is none, or it is not
 * one plain number). -3 when the head frames its body two ways (two
 * Content-Lengths that differ, or one beside a Transfer-Encoding): a
 * proxy in front may take the other one, and what evhttp reads as the
 * next request would be the client's to choose (request smuggling,
 * RFC 9112 6.3 says to refuse). Only ever used to refuse early:
 * evhttp's own parse is what is checked.
 */
long fm_serve_head_peek(const char *buf, size_t len, const char **auth, size_t *authlen,
			int64_t *length);

/* {"error":{"code","message","details"}}: the seeds' error envelope. */
json_object *fm_serve_error_json(const struct fm_error *err);

#endif
