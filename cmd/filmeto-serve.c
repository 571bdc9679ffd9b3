/*
 * filmeto-serve: the seeds' HTTP face over the spool. It queues tasks
 * (checked as filmeto-submit checks them), answers their status and
 * lists, streams their events (the spool follower of filmeto-watch, one
 * per stream, all woken by one inotify instance), serves their output
 * files, cancels them, and names the tools and plugins; filmeto-run
 * --spool workers, started here or elsewhere, do the work. One libevent
 * loop serves every connection; what a request may do is decided by
 * lib/serve_route.c before the spool is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "filmeto.h"
#include "serve_openai.h"
#include "serve_route.h"
#include "serve_web.h"

#define DEFAULT_LISTEN "127.0.0.1:8470"
/* Most --listen addresses and --workers. */
#define LISTEN_MAX  16
#define WORKERS_MAX 64
/* How long a stopped worker has to put its tasks back before SIGKILL (s). */
#define WORKER_GRACE 10.0
/* A worker that ended is started again this long after (s): a crash loop stays slow. */
#define WORKER_RESTART 1

static const char usage_text[] =
    "usage: filmeto-serve [--listen ADDR:PORT]... [--spool DIR] [--workers N]\n"
    "                     [--key-file FILE] [--cors ORIGIN]...\n"
    "                     [--upload S3PREFIX [--url-ttl S]]\n"
    "\n"
    "Serve the spool over HTTP: queue tasks and storyboards, answer their status,\n"
    "cancel them; a browser finds a page at /.\n"
    "\n"
    "  -l, --listen ADDR:PORT  address to listen on, numeric (IPv6 in [ ]);\n"
    "                          repeatable (default: " DEFAULT_LISTEN ")\n"
    "      --spool DIR         the spool (default: $FILMETO_SPOOL, else\n"
    "                          $XDG_STATE_HOME/filmeto/spool)\n"
    "  -w, --workers N         filmeto-run --spool workers to start and stop with\n"
    "                          the server (default: 1; 0: they run elsewhere)\n"
    "      --key-file FILE     API keys, 'NAME KEY' or 'NAME KEY admin' a line; the\n"
    "                          file must not be readable by others (mode 0600)\n"
    "      --cors ORIGIN       let pages of ORIGIN (http[s]://HOST[:PORT]) call the\n"
    "                          server; repeatable (default: none, only its own)\n"
    "      --upload S3PREFIX   the workers upload each task's outputs to\n"
    "                          S3PREFIX/TASK_ID/ (filmeto-run --upload)\n"
    "      --url-ttl S         lifetime of the uploads' presigned URLs (default 3600)\n"
    "  -h, --help              show this help\n"
    "      --version           show the version\n"
    "\n"
    "Without --key-file only loopback addresses are served.\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM or SIGINT, 1 could not listen or start a\n"
    "worker, 2 usage error.\n";

enum { OPT_VERSION = 256, OPT_SPOOL, OPT_KEY_FILE, OPT_CORS, OPT_UPLOAD, OPT_URL_TTL };

static const struct option options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"workers", required_argument, NULL, 'w'},
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"cors", required_argument, NULL, OPT_CORS},
    {"upload", required_argument, NULL, OPT_UPLOAD},
    {"url-ttl", required_argument, NULL, OPT_URL_TTL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct server;
struct stream;
struct conn;
struct worker {
	struct server *s;
	struct fm_proc proc;
	struct event *out, *err, *end; /* NULL while it is not running */
	struct event *restart;
};

struct server {
	struct fm_serve_listen listen[LISTEN_MAX];
	int nlisten;
	long nworkers;
	const char *spool, *key_file;
	/* Handed to the workers as they are: filmeto-run --upload, --url-ttl. */
	const char *upload, *url_ttl;
	struct fm_serve_keys keys; /* n 0: no keys, every request is served */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound[LISTEN_MAX];
	struct worker workers[WORKERS_MAX];
	int running;		/* workers not yet ended */
	struct fm_spool sp;	/* the streams' spool, open while serving */
	struct stream *streams; /* open ones */
	int nstreams;		/* how many */
	unsigned long taken;	/* connections a stream or an OpenAI wait took over, ever */
	int64_t bodies;		/* Content-Lengths of the bodies being read (FM_SERVE_BODIES_MAX) */
	int ending;		/* streams ended by a signal, not yet sent */
	double heartbeat;	/* FM_SERVE_SSE_HEARTBEAT, or the environment's */
	struct event *drained;	/* the loop ends when the ended streams are sent, or then */
	/* Limits: the --cors origins, the connections followed, their timeouts. */
	char origins[FM_SERVE_ORIGINS_MAX][FM_SERVE_ORIGIN_MAX + 1];
	int norigins;
	struct conn *conns;
	int nconns;
	int full;		/* FM_SERVE_CONN_MAX open: not accepting */
	int stopping;		/* the loop is over: accept nothing again */
	double timeout;		/* FM_SERVE_TIMEOUT, or the environment's */
	double request_timeout; /* FM_SERVE_REQUEST_TIMEOUT, or twice the environment's */
	struct event *bind, *sweep, *resume;
	int web; /* the page's folder (O_PATH), or -1 when it is not found */
	/* POSTs whose tasks are put, waiting for the commit that makes them durable. */
	struct waiting *waiting, **waiting_tail;
	struct event *commit;
	/* What requests are checked against, and when it was read (0: not yet). */
	struct fm_plugins plugins;
	struct fm_config config;
	double catalog_at;
	unsigned long long catalog_stamp; /* fm_plugins_stamp of what was read */
	/* The streams' one inotify on log/, from the first stream on. */
	struct fm_spool_watch watch;
	struct event *watching; /* its fd's, or NULL */
	int watch_tried;
	double oai_wait; /* FM_OAI_WAIT, or the environment's */
};

/*
 * One open GET /api/v1/tasks/ID/stream: its own follower of the task's
 * log, woken by the server's watch when the log changes, by a timer (its
 * next look at the log, or a heartbeat), and by the connection when what
 * waited for the client is sent.
 */
struct stream {
	struct server *s;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct fm_spool_follow f;
	char id[FM_ID_MAX + 1];
	uint64_t after;			 /* the log line last sent (or Last-Event-ID's) */
	double wrote;			 /* when bytes were last queued for the client */
	double stalled;			 /* since when bytes wait and the client takes none, or 0 */
	struct evbuffer_cb_entry *taken; /* hears the client take bytes */
	struct event *wake;		 /* the follower's next look, a heartbeat, more to send */
	struct stream *next, **prev;
};

/* What one request is, once routed and let in. */
struct request {
	struct server *s;
	struct evhttp_request *req;
	struct fm_route_match m;
	struct fm_serve_query q;
	const struct fm_serve_key *key; /* NULL: no keys configured */
};

__attribute__((noreturn)) static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", fm_prog());
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fm_try_help();
}

static void parse_args(int argc, char **argv, struct server *s)
{
	struct fm_error err = FM_ERROR_INIT;
	char *end;
	int c, i;

	s->nworkers = 1;
	while ((c = getopt_long(argc, argv, "l:w:h", options, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (s->nlisten == LISTEN_MAX)
				usage_error("at most %s --listen addresses", "16");
			if (fm_serve_listen_parse(optarg, &s->listen[s->nlisten++], &err) < 0)
				usage_error("%s", err.message);
			break;
		case OPT_SPOOL: s->spool = optarg; break;
		case 'w':
			s->nworkers = strtol(optarg, &end, 10);
			if (!*optarg || *end || s->nworkers < 0 || s->nworkers > WORKERS_MAX)
				usage_error("--workers '%s': a number from 0 to 64", optarg);
			break;
		case OPT_KEY_FILE: s->key_file = optarg; break;
		case OPT_CORS:
			if (s->norigins == FM_SERVE_ORIGINS_MAX)
				usage_error("at most %s --cors origins", "16");
			if (fm_serve_origin_parse(optarg, s->origins[s->norigins++], &err) < 0)
				usage_error("%s", err.message);
			break;
		case OPT_UPLOAD: {
			struct fm_s3_uri u;

			/* Checked here: a worker's usage error would only loop its restarts. */
			if (fm_s3_uri_parse(optarg, &u, &err) < 0)
				usage_error("--upload: %s", err.message);
			fm_s3_uri_release(&u);
			s->upload = optarg;
			break;
		}
		case OPT_URL_TTL: {
			long v;

			if (fm_arg_long("--url-ttl", optarg, 1, FM_S3_URL_TTL_MAX,
					"a number of seconds", &v, &err) < 0)
				usage_error("%s", err.message);
			s->url_ttl = optarg;
			break;
		}
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version(fm_revision(), fm_libraries());
		default: fm_try_help();
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (s->url_ttl && !s->upload)
		usage_error("--url-ttl is for %s URLs: give --upload too", "--upload's");
	if (!s->nlisten &&
	    fm_serve_listen_parse(DEFAULT_LISTEN, &s->listen[s->nlisten++], &err) < 0)
		fm_die(FM_EXIT_USAGE, "%s", err.message);
	for (i = 0; i < s->nlisten && !s->key_file; i++)
		if (!s->listen[i].loopback)
			usage_error("will not listen on '%s' beyond loopback without --key-file",
				    s->listen[i].addr);
}

/* The key file, refused when others may read it: its keys are the server's. */
static void read_keys(struct server *s)
{
	struct fm_error err = FM_ERROR_INIT;
	static char buf[FM_SERVE_KEYFILE_MAX + 1];
	struct stat st;
	ssize_t got;
	size_t len = 0;
	int fd = open(s->key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 || fstat(fd, &st) < 0)
		fm_die(FM_EXIT_USAGE, "cannot open '%s': %s", s->key_file, strerror(errno));
	if (!S_ISREG(st.st_mode))
		fm_die(FM_EXIT_USAGE, "key file '%s' is not a regular file", s->key_file);
	if (st.st_mode & 077)
		fm_die(FM_EXIT_USAGE, "key file '%s' has mode %04o: it must be 0600 (chmod 600)",
		       s->key_file, (unsigned)(st.st_mode & 07777));
	while ((got = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)got;
	close(fd);
	if (got < 0)
		fm_die(FM_EXIT_USAGE, "cannot read '%s': %s", s->key_file, strerror(errno));
	if (len > FM_SERVE_KEYFILE_MAX)
		fm_die(FM_EXIT_USAGE, "key file '%s' is larger than %d bytes", s->key_file,
		       FM_SERVE_KEYFILE_MAX);
	if (fm_serve_keys_parse(buf, len, &s->keys, &err) < 0)
		fm_die(FM_EXIT_USAGE, "key file '%s': %s", s->key_file, err.message);
	explicit_bzero(buf, len);
}

/* --- answers ------------------------------------------------------------ */

static void reply(struct evhttp_request *req, int code, json_object *body)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *text = fm_json_str(body);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n", 1);
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
	json_object_put(body);
}

static void reply_error(struct evhttp_request *req, int code, struct fm_error *err)
{
	const char *uri = evhttp_request_get_uri(req);

	/* Every error of the OpenAI-compatible routes is in OpenAI's shape, for its SDKs. */
	reply(req, code,
	      uri && !strncmp(uri, "/v1/", 4) ? fm_oai_error_json(err, code)
					      : fm_serve_error_json(err));
	fm_error_release(err);
}

static void fail(struct evhttp_request *req, int code, enum fm_code fc, const char *message)
{
	struct fm_error err = FM_ERROR_INIT;

	fm_error(&err, fc, "%s", message);
	reply_error(req, code, &err);
}

static int open_spool(struct request *r, struct fm_spool *sp)
{
	struct fm_error err = FM_ERROR_INIT;

	if (fm_spool_open(sp, r->s->spool, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the spool cannot be opened");
		return -1;
	}
	sp->warn = fm_warn_hook;
	return 0;
}

/* --- limits: hostile clients -------------------------------------------- */

/*
 * A connection followed for FM_SERVE_CONN_MAX and FM_SERVE_REQUEST_TIMEOUT.
 * libevent 2.1 says nothing when it accepts one: the bufferevent it asks
 * us for (on_accept) is how we hear of it, and its closecb when it goes.
 * A stream's connection is let go (its own code follows it, and
 * FM_SERVE_SSE_MAX bounds those).
 */
struct conn {
	struct server *s;
	struct bufferevent *bev;	 /* until bound: held by a reference of ours */
	struct evhttp_connection *evcon; /* NULL until bound */
	double since;			 /* accepted, or last answered */
	int busy;			 /* a request is being answered */
	/* With keys: the head looked at as it arrives (peek_head). */
	struct evbuffer_cb_entry *peek;
	struct fm_buf head;
	int peeking;
	int64_t body; /* its request's Content-Length, counted in the server's bodies */
	struct conn *next, **prev;
};

static void listeners_enable(struct server *s, int on)
{
	int i;

	for (i = 0; i < s->nlisten; i++) {
		struct evconnlistener *l =
		    s->bound[i] ? evhttp_bound_socket_get_listener(s->bound[i]) : NULL;

		if (l)
			on ? evconnlistener_enable(l) : evconnlistener_disable(l);
	}
}

/* Its request's body no longer counts in the bodies being read. */
static void body_done(struct conn *c)
{
	c->s->bodies -= c->body;
	c->body = 0;
}

static void conn_drop(struct conn *c)
{
	struct server *s = c->s;

	body_done(c);
	if (c->peek)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->peek);
	fm_buf_release(&c->head);
	*c->prev = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	if (--s->nconns < FM_SERVE_CONN_MAX && s->full && !s->stopping) {
		s->full = 0;
		listeners_enable(s, 1);
	}
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_drop(arg);
}

/*
 * A request refused before evhttp reads the rest of it, in the error
 * envelope (evhttp's own 413 is HTML): written straight to the socket
 * when nothing else waits to go there (a pipelined request's answer),
 * and the connection closed, so the rest is never read. c is gone.
 */
static void refuse(struct conn *c, int code)
{
	static const char *const why[][2] = {
	    {"Unauthorized", "a valid key is needed: Authorization: Bearer KEY"},
	    {"Payload Too Large", "the body is larger than %d MiB"},
	    {"Request Header Fields Too Large", "more than %d header lines"},
	    {"Service Unavailable", "too many large bodies arrive at once: try again shortly"},
	    {"Bad Request", "the body is framed two ways (Content-Lengths that differ, or one "
			    "beside Transfer-Encoding)"},
	};
	const char *const *w = why[code == 401	 ? 0
				   : code == 413 ? 1
				   : code == 431 ? 2
				   : code == 503 ? 3
						 : 4];
	struct fm_error err = FM_ERROR_INIT;
	struct fm_buf out = FM_BUF_INIT;
	json_object *body;
	const char *text;
	ssize_t sent;

	fm_error(&err, FM_VALIDATION_ERROR, w[1],
		 code == 413 ? FM_SERVE_BODY_MAX >> 20 : FM_SERVE_HEADER_LINES_MAX);
	body = fm_serve_error_json(&err);
	text = fm_json_str(body);
	fm_buf_addf(&out,
		    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n"
		    "%s\n",
		    code, w[0], strlen(text) + 1,
		    code == 401	  ? "WWW-Authenticate: Bearer\r\n"
		    : code == 503 ? "Retry-After: 1\r\n"
				  : "",
		    text);
	if (!evbuffer_get_length(bufferevent_get_output(c->bev))) {
		sent = send(bufferevent_getfd(c->bev), out.s, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)sent; /* a client that cannot take a few hundred bytes just sees the close */
	}
	fm_buf_release(&out);
	json_object_put(body);
	fm_error_release(&err);
	evhttp_connection_free(c->evcon); /* its closecb drops c */
}

/*
 * Before evhttp reads a body: the head's bytes are gathered as they
 * arrive (more than FM_SERVE_HEADER_LINES_MAX lines is 431 at once, before
 * evhttp has stored them all), and once whole, a head without a right key (with --key-file)
 * may send FM_SERVE_ANON_BODY_MAX at most, with one FM_SERVE_BODY_MAX: a
 * Content-Length past it is refused at once (401 without the key, 413
 * with it), and a chunked body past it gets evhttp's 413 when it gets
 * there. The key is checked again on the head evhttp parsed, as for any
 * request.
 */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	size_t len = evbuffer_get_length(buf), n = info->n_added, alen;
	char chunk[4096], value[FM_SERVE_KEY_MAX + 32];
	struct evbuffer_ptr p;
	const char *auth;
	int64_t length, limit;
	long head;
	int right;

	if (!c->peeking || !n)
		return;
	if (n > len)
		n = len;
	while (n && c->head.len <= FM_SERVE_HEADERS_MAX) {
		size_t take = n < sizeof(chunk) ? n : sizeof(chunk);

		if (evbuffer_ptr_set(buf, &p, len - n, EVBUFFER_PTR_SET) < 0 ||
		    evbuffer_copyout_from(buf, &p, chunk, take) != (ev_ssize_t)take)
			break;
		fm_buf_add(&c->head, chunk, take);
		n -= take;
	}
	head = fm_serve_head_peek(c->head.s, c->head.len, &auth, &alen, &length);
	if (head == -2 || head == -3) {
		refuse(c, head == -2 ? 431 : 400);
		return;
	}
	if (head < 0 && c->head.len <= FM_SERVE_HEADERS_MAX)
		return; /* more to come; past the bound evhttp refuses the head itself */
	right = !c->s->keys.n;
	if (!right && auth && alen < sizeof(value)) {
		memcpy(value, auth, alen);
		value[alen] = '\0';
		right = fm_serve_keys_check(&c->s->keys, value) != NULL;
		explicit_bzero(value, alen);
	}
	limit = right ? FM_SERVE_BODY_MAX : FM_SERVE_ANON_BODY_MAX;
	/* A pipelined request (an answer still going out) is left to evhttp's bound. */
	if (length > limit && !evbuffer_get_length(bufferevent_get_output(c->bev))) {
		refuse(c, right ? 413 : 401);
		return;
	}
	if (length > 0 && c->s->bodies + length > FM_SERVE_BODIES_MAX &&
	    !evbuffer_get_length(bufferevent_get_output(c->bev))) {
		refuse(c, 503);
		return;
	}
	body_done(c);
	c->body = length > 0 ? length : 0;
	c->s->bodies += c->body;
	evhttp_connection_set_max_body_size(c->evcon, limit);
	if (c->head.s)
		explicit_bzero(c->head.s, c->head.len);
	fm_buf_release(&c->head);
	c->peeking = 0;
}

/* The next request's head is looked at from its first byte. */
static void peek_head(struct conn *c)
{
	if (!c->peek) {
		c->bev = evhttp_connection_get_bufferevent(c->evcon);
		c->peek = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	}
	evhttp_connection_set_max_body_size(c->evcon, c->s->keys.n ? FM_SERVE_ANON_BODY_MAX
								   : FM_SERVE_BODY_MAX);
	fm_buf_release(&c->head);
	c->peeking = 1;
}

/* evhttp asks for a connection's bufferevent: one more connection. */
static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
	struct server *s = arg;
	struct conn *c = fm_xcalloc(1, sizeof(*c));

	c->s = s;
	c->since = fm_now();
	c->bev = bufferevent_socket_new(base, -1, 0);
	if (c->bev)
		bufferevent_incref(c->bev);
	c->next = s->conns;
	if (c->next)
		c->next->prev = &c->next;
	c->prev = &s->conns;
	s->conns = c;
	if (++s->nconns >= FM_SERVE_CONN_MAX && !s->full) {
		s->full = 1;
		listeners_enable(s, 0);
	}
	/* Priority 0: bound before any event of the connection's own can free it. */
	event_active(s->bind, EV_TIMEOUT, 0);
	return c->bev;
}

/* The connections just accepted get their evhttp_connection and closecb. */
static void on_bind(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct conn *c, *next;
	bufferevent_data_cb readcb;
	void *evcon;

	(void)fd;
	(void)what;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->evcon)
			continue;
		evcon = NULL;
		if (c->bev)
			bufferevent_getcb(c->bev, &readcb, NULL, NULL, &evcon);
		if (c->bev)
			bufferevent_decref(c->bev);
		if (!evcon || !readcb) {
			conn_drop(c); /* evhttp gave up on it already */
			continue;
		}
		c->evcon = evcon;
		evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
		peek_head(c);
	}
}

static struct conn *conn_of(struct server *s, struct evhttp_connection *evcon)
{
	struct conn *c;

	for (c = s->conns; c; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void on_answered(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	(void)req;
	c->busy = 0;
	c->since = fm_now();
	body_done(c);
	peek_head(c);
}

/*
 * Before a request is answered: its connection is busy until the answer
 * is sent (a connection seen again after a stream is followed anew).
 */
static struct conn *conn_busy(struct server *s, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = conn_of(s, evcon);

	if (!c && evcon) {
		c = fm_xcalloc(1, sizeof(*c));
		c->s = s;
		c->evcon = evcon;
		c->next = s->conns;
		if (c->next)
			c->next->prev = &c->next;
		c->prev = &s->conns;
		s->conns = c;
		s->nconns++;
		evhttp_connection_set_closecb(evcon, on_conn_close, c);
	}
	if (c) {
		c->busy = 1;
		evhttp_request_set_on_complete_cb(req, on_answered, c);
	}
	return c;
}

/*
 * After it: a stream or an OpenAI wait that took the connection set its
 * own closecb, and its end must not reach the record let go. Otherwise
 * the closecb is ours again: one that began and ended at once cleared
 * the one it set. taken is s->taken before the request.
 */
static void conn_handed(struct server *s, struct conn *c, struct evhttp_request *req,
			unsigned long taken)
{
	if (!c)
		return;
	if (s->taken != taken) {
		evhttp_request_set_on_complete_cb(req, NULL, NULL);
		conn_drop(c);
	} else {
		evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
	}
}

/* Each FM_SERVE_SWEEP: a connection whose request is not whole in time goes. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct conn *c, *next;
	double now = fm_now();

	(void)fd;
	(void)what;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->evcon && !c->busy && now - c->since > s->request_timeout)
			evhttp_connection_free(c->evcon); /* its closecb drops c */
	}
}

/* The listeners' error callback gets evhttp's argument, not ours. */
static struct server *the_server;

/* No descriptor left for accept(): try again in a while, not at once forever. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *s = the_server;
	struct timeval later = {0, (suseconds_t)(FM_SERVE_ACCEPT_PAUSE * 1e6)};

	(void)l;
	(void)arg;
	if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
		return;
	listeners_enable(s, 0);
	evtimer_add(s->resume, &later);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	if (!s->full && !s->stopping)
		listeners_enable(s, 1);
}

/*
 * As many descriptors as the hard limit lets: FM_SERVE_CONN_MAX idle
 * connections, the streams (a socket and an inotify descriptor each) and
 * the spool's files at once.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	const rlim_t want = FM_SERVE_CONN_MAX + 2 * FM_SERVE_SSE_MAX + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		fm_warn("only %llu file descriptors (ulimit -Hn): fewer than %llu connections "
			"and streams fit",
			(unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/*
 * Cross-origin requests: one with an Origin header that is neither the
 * server's own (the Host it was sent to) nor a --cors one is refused
 * (403), so a page elsewhere cannot drive the server with its visitor's
 * reach; an allowed one is told so on every answer. 1: go on.
 */
static int cross_origin(struct server *s, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *origin = evhttp_find_header(in, "Origin");
	char norm[FM_SERVE_ORIGIN_MAX + 1];
	struct fm_error err = FM_ERROR_INIT;
	int i, ok = 0;

	/* Without keys, a page that rebound its name to 127.0.0.1 is not this server. */
	if (!s->keys.n && evhttp_find_header(in, "Host") &&
	    !fm_serve_host_loopback(evhttp_find_header(in, "Host"))) {
		fail(req, 403, FM_VALIDATION_ERROR,
		     "the Host header names no loopback address: without --key-file only "
		     "localhost, 127.0.0.1 and [::1] are answered");
		return 0;
	}
	if (!origin)
		return 1;
	evhttp_add_header(out, "Vary", "Origin");
	if (fm_serve_origin_parse(origin, norm, &err) == 0)
		for (i = 0; i < s->norigins && !ok; i++)
			ok = !strcmp(norm, s->origins[i]);
	fm_error_release(&err);
	if (ok) {
		evhttp_add_header(out, "Access-Control-Allow-Origin", norm);
		return 1;
	}
	if (fm_serve_origin_same(origin, evhttp_find_header(in, "Host")))
		return 1;
	fail(req, 403, FM_VALIDATION_ERROR,
	     "cross-origin request refused: the server allows other origins with --cors");
	return 0;
}

/* OPTIONS on a route there is: a CORS preflight's answer. */
static void preflight(struct evhttp_request *req, const struct fm_route_match *m)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char age[16];

	snprintf(age, sizeof(age), "%d", FM_SERVE_PREFLIGHT_AGE);
	evhttp_add_header(out, "Allow", m->allow_text);
	if (evhttp_find_header(out, "Access-Control-Allow-Origin")) {
		evhttp_add_header(out, "Access-Control-Allow-Methods", m->allow_text);
		evhttp_add_header(out, "Access-Control-Allow-Headers",
				  "Authorization, Content-Type, Last-Event-ID");
		evhttp_add_header(out, "Access-Control-Max-Age", age);
	}
	evhttp_send_reply(req, 204, "No Content", NULL);
}

/* --- ownership ---------------------------------------------------------- */

/* Whether the request's key may see task id (which the spool holds). */
static int may_see(struct request *r, struct fm_spool *sp, const char *id)
{
	struct fm_spool_entry e;
	json_object *task = NULL;
	const char *owner;
	int ok;

	if (!r->key || r->key->admin)
		return 1;
	if (fm_spool_find(sp, id, &e, NULL) < 0 || fm_spool_task(sp, &e, &task, NULL) < 0)
		return 0;
	owner = fm_json_get_string(fm_json_get(task, "metadata", json_type_object), FM_OWNER_KEY);
	ok = owner && !strcmp(owner, r->key->name);
	json_object_put(task);
	return ok;
}

/* 404 unless the task is there and the key may see it: another's task is not said to exist. */
static int find_task(struct request *r, struct fm_spool *sp)
{
	struct fm_spool_entry e;
	char msg[FM_ID_MAX + 32];

	if (fm_spool_find(sp, r->m.id, &e, NULL) == 0 && may_see(r, sp, r->m.id))
		return 0;
	snprintf(msg, sizeof(msg), "no task '%s'", r->m.id);
	fail(r->req, 404, FM_TASK_NOT_FOUND, msg);
	return -1;
}

/*
 * A key that is not admin names URLs the workers fetch: each remote_url
 * of its tasks is fetched from public addresses only (FM_FETCH_KEY), or
 * it would reach the server itself, its network or a cloud's metadata
 * service (SSRF). Whatever the client wrote there is replaced.
 */
static void restrict_fetch(struct request *r, json_object *task)
{
	json_object *res = fm_json_get(task, "resources", json_type_array), *o, *meta;
	size_t i;

	if (!r->key || r->key->admin)
		return;
	for (i = 0; res && i < json_object_array_length(res); i++) {
		o = json_object_array_get_idx(res, i);
		if (!json_object_is_type(o, json_type_object) || !fm_json_get_string(o, "type") ||
		    strcmp(fm_json_get_string(o, "type"), "remote_url"))
			continue;
		if (!json_object_object_get_ex(o, "metadata", &meta)) {
			meta = json_object_new_object();
			json_object_object_add(o, "metadata", meta);
		}
		/* Metadata that is no object is the checker's to refuse. */
		if (json_object_is_type(meta, json_type_object))
			json_object_object_add(meta, FM_FETCH_KEY,
					       json_object_new_string(FM_FETCH_PUBLIC));
	}
}

/* The key's name into the task's metadata; a name the client wrote there is replaced. */
static void set_owner(struct request *r, json_object *task)
{
	json_object *meta;

	if (!json_object_is_type(task, json_type_object))
		return;
	if (!json_object_object_get_ex(task, "metadata", &meta)) {
		meta = json_object_new_object();
		json_object_object_add(task, "metadata", meta);
	}
	/* Metadata that is no object is the checker's to refuse. */
	if (!json_object_is_type(meta, json_type_object))
		return;
	json_object_object_del(meta, FM_OWNER_KEY);
	if (r->key)
		json_object_object_add(meta, FM_OWNER_KEY, json_object_new_string(r->key->name));
	restrict_fetch(r, task);
}

/*
 * Parameters that point a plugin at a server or a file: the endpoint the
 * worker would send the operator's API keys to (openai, http, comfyui),
 * a workflow file comfyui reads and sends on, an image path it reads.
 */
static const char *const server_params[] = {"endpoint", "workflow", "input_image_path"};

/*
 * What a key that is not admin may not reach through a task: a file of
 * the server's (a local_path resource, a parameter of server_params), and
 * another key's task, whose outputs a task_output would hand over. Each
 * is a problem, said as the spool says an id it does not have, so
 * another's task is not revealed.
 */
static void check_reach(struct request *r, struct fm_spool *sp, const struct fm_plan *plan,
			json_object *tasks, json_object *problems)
{
	size_t i, j;

	if (!r->key || r->key->admin)
		return;
	for (i = 0; i < json_object_array_length(tasks); i++) {
		json_object *t = json_object_array_get_idx(tasks, i), *needs;
		json_object *res = fm_json_get(t, "resources", json_type_array);
		const char *id = fm_json_get_string(t, "task_id");

		for (j = 0; res && j < json_object_array_length(res); j++) {
			const char *type =
			    fm_json_get_string(json_object_array_get_idx(res, j), "type");

			if (type && !strcmp(type, "local_path"))
				fm_problem(problems,
					   "task '%s': resource %zu: a local_path is not taken "
					   "over HTTP (send base64 or a remote_url)",
					   id ? id : "?", j + 1);
			/* The workers' keys would read it: a bucket is the server's, as a file is.
			 */
			if (type && !strcmp(type, "remote_url") &&
			    fm_s3_is_uri(
				fm_json_get_string(json_object_array_get_idx(res, j), "data")))
				fm_problem(
				    problems,
				    "task '%s': resource %zu: an s3:// URL is not taken over "
				    "HTTP (send base64 or an http URL)",
				    id ? id : "?", j + 1);
		}
		for (j = 0; j < sizeof(server_params) / sizeof(*server_params); j++)
			if (json_object_object_get_ex(
				fm_json_get(t, "parameters", json_type_object), server_params[j],
				NULL))
				fm_problem(problems,
					   "task '%s': parameter '%s' names a server or a file of "
					   "the server's: only an admin key sets it (config.yaml "
					   "sets it for everyone)",
					   id ? id : "?", server_params[j]);
		needs = fm_task_needs(t);
		for (j = 0; j < json_object_array_length(needs); j++) {
			const char *d = json_object_get_string(json_object_array_get_idx(needs, j));

			if (d && fm_id_valid(d) && !fm_plan_has(plan, d) &&
			    fm_spool_find(sp, d, &(struct fm_spool_entry){0}, NULL) == 0 &&
			    !may_see(r, sp, d))
				fm_problem(problems,
					   "task '%s': depends on task '%s', which is neither in "
					   "the plan nor in the spool",
					   id ? id : "?", d);
		}
		json_object_put(needs);
	}
}

/* --- routes ------------------------------------------------------------- */

static void health(struct request *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "version", json_object_new_string(FM_VERSION));
	json_object_object_add(o, "workers", json_object_new_int(r->s->running));
	reply(r->req, 200, o);
}

static void unprocessable(struct request *r, json_object *problems)
{
	struct fm_error err = FM_ERROR_INIT;
	size_t n = json_object_array_length(problems);

	fm_error(&err, FM_VALIDATION_ERROR, "%zu problem%s: %s", n, n == 1 ? "" : "s",
		 fm_json_get_string(json_object_array_get_idx(problems, 0), "message"));
	fm_error_detail(&err, "problems", json_object_get(problems));
	reply_error(r->req, 422, &err);
}

/*
 * Group commit: a request's checked tasks are put into the spool's tmp/
 * at once (under the queueing lock, so their ids are taken), and the
 * request waits here; one commit, after the loop has read every request
 * that was ready, makes all of them durable with one round of fsyncs,
 * then each is answered 201. No 201 is sent before its tasks are on disk;
 * a commit that fails answers every waiting request 500 and queues none.
 * The fsyncs, not the checks, were what a POST waited for.
 */
struct waiting {
	struct evhttp_request *req;
	json_object *answer; /* the 201's body */
	struct waiting *next;
};

/* Commits what was put and answers who waited for it: -1 when the commit failed. */
static int commit_now(struct server *s)
{
	struct fm_error err = FM_ERROR_INIT;
	struct waiting *w = s->waiting, *next;
	int rc = fm_spool_commit(&s->sp, &err);

	event_del(s->commit);
	fm_spool_unlock(&s->sp);
	if (rc < 0)
		fm_warn("%s", err.message);
	s->waiting = NULL;
	s->waiting_tail = &s->waiting;
	for (; w; w = next) {
		next = w->next;
		if (rc == 0) {
			reply(w->req, 201, w->answer);
		} else {
			json_object_put(w->answer);
			fail(w->req, 500, FM_SERVICE_ERROR, "the tasks could not be made durable");
		}
		free(w);
	}
	fm_error_release(&err);
	return rc;
}

static void on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	commit_now(arg);
}

/* Puts the checked tasks in plan order; the request is answered by on_commit. */
static void enqueue(struct request *r, json_object *tasks, const struct fm_plan *plan,
		    const char *film)
{
	struct server *s = r->s;
	struct fm_error err = FM_ERROR_INIT;
	json_object *ids = json_object_new_array(), *o;
	size_t i, before = s->sp.npending;
	char name[FM_SPOOL_NAME_MAX];
	struct waiting *w;

	for (i = 0; i < plan->n; i++) {
		json_object *t = json_object_array_get_idx(tasks, plan->order[i]);

		if (fm_spool_put(&s->sp, t, name, &err) < 0) {
			/* Others' puts stay for the commit; this request's go. */
			fm_spool_unput(&s->sp, before);
			fm_warn("%s", err.message);
			reply_error(r->req, err.code == FM_VALIDATION_ERROR ? 422 : 500, &err);
			json_object_put(ids);
			return;
		}
		json_object_array_add(ids,
				      json_object_new_string(fm_json_get_string(t, "task_id")));
	}
	o = json_object_new_object();
	if (film)
		json_object_object_add(o, "film_task_id", json_object_new_string(film));
	json_object_object_add(o, "task_ids", ids);
	json_object_object_add(o, "tasks", json_object_new_int64((int64_t)plan->n));
	w = fm_xcalloc(1, sizeof(*w));
	w->req = r->req;
	w->answer = o;
	*s->waiting_tail = w;
	s->waiting_tail = &w->next;
	/* Runs once the loop has handled what was ready with it: one commit for all. */
	event_active(s->commit, EV_TIMEOUT, 1);
}

/* The server's config and plugins, read afresh for each request that checks tasks; -1 answered. */
/*
 * The plugins and config.yaml that requests are checked against, looked
 * at again once they are FM_SERVE_CATALOG_AGE old and read again only if
 * they changed: every manifest parsed per request was half of what a POST
 * cost, and a scan every second stalled the loop often enough to show in
 * the p99. 500 when config.yaml cannot
 * be read (said to the log, not to the client), and it is tried again on
 * the next request.
 */
static int load_plugins(struct request *r)
{
	struct server *s = r->s;
	struct fm_error err = FM_ERROR_INIT;
	double now = fm_now();
	char *config_file;
	unsigned long long stamp;

	if (s->catalog_at && now - s->catalog_at < FM_SERVE_CATALOG_AGE && now >= s->catalog_at)
		return 0;
	/* Unchanged on disk (a few stats): kept, so no request waits for a scan. */
	config_file = fm_config_file();
	stamp = s->catalog_at ? fm_plugins_stamp(&s->plugins, config_file) : 0;
	if (s->catalog_at && stamp == s->catalog_stamp) {
		s->catalog_at = now;
		free(config_file);
		return 0;
	}
	fm_config_release(&s->config);
	fm_plugins_release(&s->plugins);
	memset(&s->config, 0, sizeof(s->config));
	memset(&s->plugins, 0, sizeof(s->plugins));
	s->catalog_at = 0;
	if (fm_config_load(&s->config, &err) < 0) {
		free(config_file);
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the server's config.yaml cannot be read");
		return -1;
	}
	fm_plugins_scan(&s->plugins, &err);
	fm_error_release(&err);
	s->catalog_stamp = fm_plugins_stamp(&s->plugins, config_file);
	s->catalog_at = now;
	free(config_file);
	return 0;
}

/*
 * The checks of filmeto-submit --queue on tasks a request made, in its
 * order (owner, plan, what the key may reach, the spool's ids), adding to
 * the problems found before them: 422 with all of them, else the tasks
 * queued (film, when given, is the film's task id in the answer).
 */
static void check_and_queue(struct request *r, const struct fm_plugins *plugins,
			    const struct fm_config *config, json_object *tasks,
			    json_object *problems, const char *film)
{
	struct fm_plan_rules rules = {.plugins = plugins, .config = config, .absolute = 1};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool *sp = &r->s->sp;
	struct fm_plan plan;
	size_t i;

	fm_plan_init(&plan);
	for (i = 0; i < json_object_array_length(tasks); i++)
		set_owner(r, json_object_array_get_idx(tasks, i));
	/* As filmeto-submit --queue: -p values none, the plan may need queued tasks. */
	fm_plan_check_tasks(&rules, tasks, 0, 0, &plan, problems);
	check_reach(r, sp, &plan, tasks, problems);
	/* Under the queueing lock, with the ids of the puts waiting for the commit. */
	if (fm_spool_check_plan(sp, &plan, problems, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the spool cannot be read");
	} else if (json_object_array_length(problems)) {
		unprocessable(r, problems);
	} else {
		enqueue(r, tasks, &plan, film);
	}
	/* Nothing waits for a commit: others may queue meanwhile. */
	if (!r->s->waiting)
		fm_spool_unlock(sp);
	fm_plan_release(&plan);
}

/* POST /api/v1/tasks: the checks of filmeto-submit --json --queue. */
static void post_tasks(struct request *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct fm_error err = FM_ERROR_INIT;
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	size_t len = evbuffer_get_length(in);
	int code;

	code =
	    fm_serve_tasks_body(len ? (const char *)evbuffer_pullup(in, -1) : "", len, tasks, &err);
	if (code)
		reply_error(r->req, code, &err);
	else if (load_plugins(r) == 0)
		check_and_queue(r, &r->s->plugins, &r->s->config, tasks, problems, NULL);
	json_object_put(tasks);
	json_object_put(problems);
}

/*
 * POST /api/v1/films: a storyboard expanded as filmeto-submit --storyboard
 * --queue expands it, then the checks of POST /api/v1/tasks; the
 * storyboard's problems and the plan's are said together. A key that is
 * not admin may name no file of the server, not even to learn it exists.
 */
static void post_films(struct request *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct fm_error err = FM_ERROR_INIT;
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	size_t len = evbuffer_get_length(in);
	struct fm_storyboard_opts o = {.plugins = &r->s->plugins, .config = &r->s->config};
	int code;

	if (load_plugins(r) < 0)
		goto out;
	o.no_files = r->key && !r->key->admin;
	code = fm_serve_film_body(len ? (const char *)evbuffer_pullup(in, -1) : "", len, &o, tasks,
				  problems, &err);
	if (code && code != 422)
		reply_error(r->req, code, &err);
	else
		check_and_queue(r, &r->s->plugins, &r->s->config, tasks, problems,
				fm_serve_film_task(tasks));
out:
	json_object_put(tasks);
	json_object_put(problems);
}

/*
 * The page's own rules: scripts, styles, images and media from this
 * server only (blob: is what the page makes of a film it fetched with a
 * key, which a <video> cannot send), never framed, no inline code.
 */
#define PAGE_CSP                                                                                   \
	"default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; object-src 'none'; "    \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/*
 * GET / and GET /web/NAME: a file of the page, by a name the router
 * checked, opened in the page's folder without following a link.
 */
static void page(struct request *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evbuffer *b;
	struct stat st;
	int fd = r->s->web < 0 ? -1
			       : openat(r->s->web, r->m.asset,
					O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > FM_SERVE_ASSET_MAX) {
		if (fd >= 0)
			close(fd);
		fail(r->req, 404, FM_VALIDATION_ERROR,
		     r->s->web < 0 ? "the page is not installed (share/filmeto/web)"
				   : "no such file");
		return;
	}
	evhttp_add_header(h, "Content-Type", fm_serve_asset_type(r->m.asset));
	evhttp_add_header(h, "Content-Security-Policy", PAGE_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	b = evbuffer_new();
	if (st.st_size == 0 || evbuffer_add_file(b, fd, 0, st.st_size) < 0)
		close(fd);
	evhttp_send_reply(r->req, 200, "OK", b);
	evbuffer_free(b);
}

static void get_task(struct request *r)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *st;

	/* The server's own spool handle: it remembers where it found each task. */
	if (find_task(r, &r->s->sp) == 0) {
		if (fm_spool_status(&r->s->sp, r->m.id, &st, &err) < 0)
			reply_error(r->req, err.code == FM_TASK_NOT_FOUND ? 404 : 500, &err);
		else
			reply(r->req, 200, st);
	}
}

/* GET /api/v1/tasks: a page of the list in queue order, after q.after. */
static void list_tasks(struct request *r)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *all, *page = json_object_new_array(), *o;
	struct fm_spool sp;
	size_t i, n;
	int started = !r->q.after[0], more = 0;

	if (open_spool(r, &sp) < 0) {
		json_object_put(page);
		return;
	}
	if (fm_spool_list_json(&sp, r->q.state, &all, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		json_object_put(page);
		fail(r->req, 500, FM_SERVICE_ERROR, "the spool cannot be listed");
		fm_spool_release(&sp);
		return;
	}
	n = json_object_array_length(all);
	for (i = 0; i < n && !more; i++) {
		json_object *t = json_object_array_get_idx(all, i);
		const char *id = fm_json_get_string(t, "task_id");

		if (!started) {
			started = id && !strcmp(id, r->q.after);
			continue;
		}
		if (!id || !may_see(r, &sp, id))
			continue;
		if (json_object_array_length(page) == r->q.limit)
			more = 1;
		else
			json_object_array_add(page, json_object_get(t));
	}
	o = json_object_new_object();
	n = json_object_array_length(page);
	json_object_object_add(o, "tasks", page);
	json_object_object_add(o, "next",
			       more ? json_object_new_string(fm_json_get_string(
					  json_object_array_get_idx(page, n - 1), "task_id"))
				    : NULL);
	json_object_put(all);
	fm_spool_release(&sp);
	reply(r->req, 200, o);
}

static void cancel_task(struct request *r)
{
	static const char *const said[] = {"cancelled", "cancelling"};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	json_object *o;
	int rc;

	if (open_spool(r, &sp) < 0)
		return;
	if (find_task(r, &sp) < 0) {
		fm_spool_release(&sp);
		return;
	}
	rc = fm_spool_cancel(&sp, r->m.id, &err);
	if (rc < 0) {
		reply_error(r->req, err.code == FM_RESOURCE_PROCESSING_ERROR ? 500 : 404, &err);
	} else if (rc == 2) {
		fm_error(&err, FM_VALIDATION_ERROR, "task '%s' had already finished", r->m.id);
		reply_error(r->req, 409, &err);
	} else {
		o = json_object_new_object();
		json_object_object_add(o, "task_id", json_object_new_string(r->m.id));
		json_object_object_add(o, "state", json_object_new_string(said[rc]));
		reply(r->req, rc == 0 ? 200 : 202, o);
	}
	fm_spool_release(&sp);
}

static int is(json_object *o, const char *key, const char *value)
{
	const char *v = fm_json_get_string(o, key);

	return v && !strcmp(v, value);
}

/*
 * The path of output file n of task id, from its final line: only a task
 * that completed with success has files to serve; NULL when it has no
 * such one (the caller frees).
 */
static char *output_file(struct fm_spool *sp, const char *id, size_t n)
{
	struct fm_spool_logscan ls = {0};
	struct fm_spool_entry e;
	json_object *files;
	const char *path = NULL;
	char *found = NULL;
	int fd;

	if (fm_spool_find(sp, id, &e, NULL) < 0 || e.state != FM_SPOOL_DONE_STATE)
		return NULL;
	fd = fm_spool_openat(sp, FM_SPOOL_LOG, e.name, O_RDONLY, 0);
	if (fd < 0)
		return NULL;
	if (fm_spool_logscan(fd, &ls, NULL) == 0 && is(ls.final, "type", "completed") &&
	    is(ls.final, "status", "success")) {
		files = fm_json_get(ls.final, "output_files", json_type_array);
		if (files && n < json_object_array_length(files))
			path = json_object_get_string(json_object_array_get_idx(files, n));
		if (path && *path)
			found = fm_xstrdup(path);
	}
	fm_spool_logscan_release(&ls);
	close(fd);
	return found;
}

/* The file at path, a regular one reached through no symlink at its end: its fd, or -1. */
static int open_output(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * GET /api/v1/tasks/ID/files/N: the file, whole or the one range asked
 * for, sent from its fd by evbuffer_add_file (never read whole here).
 */
static void get_file(struct request *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	const char *mime, *range;
	char msg[FM_ID_MAX + 64], num[96];
	uint64_t from = 0, len, size;
	struct evbuffer *b;
	struct fm_spool sp;
	struct stat st;
	char *path;
	int fd = -1, code = 200;

	if (open_spool(r, &sp) < 0)
		return;
	if (find_task(r, &sp) < 0) {
		fm_spool_release(&sp);
		return;
	}
	path = output_file(&sp, r->m.id, r->m.file);
	fm_spool_release(&sp);
	if (path)
		fd = open_output(path, &st);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "task '%s' has no output file %zu", r->m.id, r->m.file);
		fail(r->req, 404, FM_TASK_NOT_FOUND, msg);
		free(path);
		return;
	}
	size = len = (uint64_t)st.st_size;
	range = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Range");
	switch (fm_serve_range_parse(range, size, &from, &len)) {
	case FM_RANGE_UNSATISFIABLE:
		close(fd);
		free(path);
		snprintf(num, sizeof(num), "bytes */%llu", (unsigned long long)size);
		evhttp_add_header(h, "Content-Range", num);
		fail(r->req, 416, FM_VALIDATION_ERROR, "the range is past the end of the file");
		return;
	case FM_RANGE_OK:
		code = 206;
		snprintf(num, sizeof(num), "bytes %llu-%llu/%llu", (unsigned long long)from,
			 (unsigned long long)(from + len - 1), (unsigned long long)size);
		evhttp_add_header(h, "Content-Range", num);
		break;
	case FM_RANGE_NONE: break;
	}
	mime = fm_mime_from_path(path);
	free(path);
	evhttp_add_header(h, "Content-Type", mime ? mime : "application/octet-stream");
	evhttp_add_header(h, "Accept-Ranges", "bytes");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)len);
	evhttp_add_header(h, "Content-Length", num);
	b = evbuffer_new();
	/* A HEAD gets the headers only; evbuffer_add_file owns fd once it took it. */
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD || !len) {
		close(fd);
	} else if (evbuffer_add_file(b, fd, (ev_off_t)from, (ev_off_t)len) < 0) {
		close(fd);
		evbuffer_free(b);
		evhttp_clear_headers(h);
		fm_warn("cannot send output file %zu of task '%s'", r->m.file, r->m.id);
		fail(r->req, 500, FM_SERVICE_ERROR, "the file cannot be sent");
		return;
	}
	evhttp_send_reply(r->req, code, code == 206 ? "Partial Content" : "OK", b);
	evbuffer_free(b);
}

/* GET /api/v1/tools and /api/v1/plugins: filmeto-plugin tools --json and list --json. */
static void plugins_route(struct request *r)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_plugins p = {0};
	json_object *o;

	fm_plugins_scan(&p, &err);
	fm_error_release(&err);
	o = r->m.route == FM_ROUTE_TOOLS ? fm_plugins_tools(&p) : fm_plugins_manifests(&p);
	fm_plugins_release(&p);
	reply(r->req, 200, o);
}

/* --- streams ----------------------------------------------------------- */

static struct evbuffer *pending(struct stream *st)
{
	return bufferevent_get_output(evhttp_connection_get_bufferevent(st->conn));
}

static void stream_free(struct stream *st)
{
	evbuffer_remove_cb_entry(pending(st), st->taken);
	evhttp_connection_set_closecb(st->conn, NULL, NULL);
	*st->prev = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->s->nstreams--;
	event_free(st->wake);
	fm_spool_follow_release(&st->f);
	free(st);
}

/*
 * The connection is going. When the client left mid-reply, evhttp has
 * already let go of the request (it has no connection any more): it is
 * ours to free. Otherwise (a dropped client, the server's end) the
 * connection frees it.
 */
static void on_stream_close(struct evhttp_connection *conn, void *arg)
{
	struct stream *st = arg;
	struct evhttp_request *req = st->req;

	(void)conn;
	stream_free(st);
	if (!evhttp_request_get_connection(req))
		evhttp_request_free(req);
}

/* The end of the reply, sent like any other; the stream is gone. */
static void stream_end(struct stream *st)
{
	struct evhttp_request *req = st->req;

	stream_free(st);
	evhttp_send_reply_end(req);
}

static void on_stream_drained(struct evhttp_connection *conn, void *arg);

/* b to the client; full: the connection says when it has taken everything. */
static void stream_send(struct stream *st, struct fm_buf *b, int full)
{
	struct evbuffer *e;

	if (!b->len)
		return;
	e = evbuffer_new();
	evbuffer_add(e, b->s, b->len);
	evhttp_send_reply_chunk_with_cb(st->req, e, full ? on_stream_drained : NULL, st);
	evbuffer_free(e);
	b->len = 0;
	st->wrote = fm_now();
}

static void wake_in(struct stream *st, double s)
{
	struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};

	evtimer_add(st->wake, &tv);
}

static void on_stream_wake(evutil_socket_t fd, short what, void *arg);

/* Nothing more for now: wait for the watch, the follower's next look or a heartbeat. */
static void stream_wait(struct stream *st)
{
	struct pollfd p[2];
	double until, now = fm_now(), beat = st->wrote + st->s->heartbeat;

	fm_spool_follow_poll(&st->f, p, &until); /* no fd: the server's watch wakes it */
	wake_in(st,
		(beat < until ? beat : until) - now > 0 ? (beat < until ? beat : until) - now : 0);
}

static void on_stream_drained(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	wake_in(arg, 0);
}

/* The client took bytes: it is not stuck. */
static void on_stream_taken(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct stream *st = arg;

	(void)b;
	if (info->n_deleted)
		st->stalled = 0;
}

/*
 * Whether the client has taken none of what waits for it for
 * FM_SERVE_TIMEOUT (a reader that stopped, a peer that is gone): then it
 * is dropped, the connection goes and the stream with it (1).
 */
static int stream_stuck(struct stream *st)
{
	double now = fm_now();

	if (!evbuffer_get_length(pending(st))) {
		st->stalled = 0;
		return 0;
	}
	if (!st->stalled)
		st->stalled = now;
	if (now - st->stalled < FM_SERVE_TIMEOUT)
		return 0;
	evhttp_connection_free(st->conn);
	return 1;
}

/*
 * Sends the log lines the follower has, after the last one sent, until
 * it has no more for now, the task has ended, FM_SERVE_SSE_BATCH were
 * made (the loop comes back at once) or FM_SERVE_SSE_BUF_MAX waits for
 * the client (the connection says when it has taken them).
 */
static void stream_pump(struct stream *st)
{
	struct fm_buf b = FM_BUF_INIT;
	struct fm_follow_event ev;
	int n;

	for (n = 0; n < FM_SERVE_SSE_BATCH; n++) {
		/* Full: the chunk that filled it, if any, asked to hear when it is sent. */
		if (evbuffer_get_length(pending(st)) + b.len >= FM_SERVE_SSE_BUF_MAX) {
			stream_send(st, &b, 1);
			fm_buf_release(&b);
			wake_in(st, 1.0); /* to see whether it is stuck */
			return;
		}
		fm_spool_follow_next(&st->f, &ev);
		if (ev.kind == FM_FOLLOW_LINE && ev.from->lineno > st->after) {
			st->after = ev.from->lineno;
			fm_serve_sse_event(&b, st->after, ev.line, ev.len);
		} else if (ev.kind == FM_FOLLOW_WARN) {
			fm_warn("%s", ev.message);
		} else if (ev.kind == FM_FOLLOW_AGAIN || ev.kind == FM_FOLLOW_DONE) {
			stream_send(st, &b, 0);
			fm_buf_release(&b);
			if (ev.kind == FM_FOLLOW_DONE)
				stream_end(st);
			else
				stream_wait(st);
			return;
		}
	}
	stream_send(st, &b, 0);
	fm_buf_release(&b);
	wake_in(st, 0);
}

/* A heartbeat when the stream was quiet, and only when the client has taken all before it. */
static void heartbeat(struct stream *st)
{
	struct fm_buf b = FM_BUF_INIT;
	char ts[32], *line;

	if (fm_now() - st->wrote < st->s->heartbeat || evbuffer_get_length(pending(st)))
		return;
	fm_timestamp(ts);
	line = fm_xasprintf("{\"type\":\"heartbeat\",\"task_id\":\"%s\",\"timestamp\":\"%s\"}",
			    st->id, ts);
	fm_serve_sse_event(&b, 0, line, strlen(line));
	stream_send(st, &b, 0);
	fm_buf_release(&b);
	free(line);
}

static void on_stream_wake(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;

	(void)fd;
	(void)what;
	if (stream_stuck(st))
		return;
	heartbeat(st);
	stream_pump(st);
}

/* A log changed (NULL: any may have): the streams that follow it read it now. */
static void on_log_changed(void *arg, const char *name)
{
	struct stream *st;

	for (st = ((struct server *)arg)->streams; st; st = st->next)
		if (fm_spool_follow_touch(&st->f, name))
			wake_in(st, 0);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	fm_spool_watch_read(&s->watch, on_log_changed, s);
}

/* The one watch of every stream, from the first on; without inotify they poll. */
static void streams_watch(struct server *s)
{
	if (s->watch_tried)
		return;
	s->watch_tried = 1;
	fm_spool_watch_open(&s->watch, &s->sp);
	if (s->watch.fd < 0) {
		fm_warn("no inotify on the spool's logs (%s): streams look every %g s",
			strerror(errno), FM_SPOOL_FOLLOW_POLL);
		return;
	}
	s->watching = event_new(s->base, s->watch.fd, EV_READ | EV_PERSIST, on_watch, s);
	event_add(s->watching, NULL);
}

/* At the end: the open streams and their watch go. */
static void streams_close(struct server *s)
{
	while (s->streams)
		stream_free(s->streams);
	if (!s->watching)
		return;
	event_free(s->watching);
	s->watching = NULL;
	fm_spool_watch_close(&s->watch);
}

/* 503 when FM_SERVE_SSE_MAX streams are open, or FM_SERVE_SSE_PER_TASK of this task's. */
static int stream_room(struct request *r)
{
	const struct stream *st;
	int n = 0;

	for (st = r->s->streams; st; st = st->next)
		n += !strcmp(st->id, r->m.id);
	if (r->s->nstreams < FM_SERVE_SSE_MAX && n < FM_SERVE_SSE_PER_TASK && !r->s->ending)
		return 1;
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "5");
	fail(r->req, 503, FM_SERVICE_ERROR,
	     n < FM_SERVE_SSE_PER_TASK ? "too many streams are open: try again later"
				       : "too many streams of this task are open: try again later");
	return 0;
}

/*
 * GET /api/v1/tasks/ID/stream: every line of the task's log as an event,
 * its line number the event's id, from the one after Last-Event-ID on,
 * then live ones until the final line.
 */
static void stream_start(struct request *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct fm_error err = FM_ERROR_INIT;
	struct fm_follow_event ev;
	struct stream *st;
	uint64_t after;

	if (find_task(r, &r->s->sp) < 0)
		return;
	if (fm_serve_event_id_parse(
		evhttp_find_header(evhttp_request_get_input_headers(r->req), "Last-Event-ID"),
		&after) < 0) {
		fail(r->req, 400, FM_VALIDATION_ERROR,
		     "Last-Event-ID: not an id this stream sent (a line number)");
		return;
	}
	if (!stream_room(r))
		return;
	streams_watch(r->s);
	st = fm_xcalloc(1, sizeof(*st));
	fm_spool_follow_init_watched(&st->f, &r->s->sp, &r->s->watch);
	if (fm_spool_follow_add(&st->f, r->m.id, &ev, &err) < 0) {
		fm_spool_follow_release(&st->f);
		free(st);
		reply_error(r->req, 404, &err);
		return;
	}
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD) {
		fm_spool_follow_release(&st->f);
		free(st);
		evhttp_send_reply(r->req, 200, "OK", NULL);
		return;
	}
	st->s = r->s;
	st->req = r->req;
	st->conn = evhttp_request_get_connection(r->req);
	st->after = after;
	st->wrote = fm_now();
	memcpy(st->id, r->m.id, sizeof(st->id));
	st->wake = evtimer_new(r->s->base, on_stream_wake, st);
	st->next = r->s->streams;
	if (st->next)
		st->next->prev = &st->next;
	st->prev = &r->s->streams;
	r->s->streams = st;
	r->s->nstreams++;
	r->s->taken++;
	evhttp_send_reply_start(r->req, 200, "OK");
	/* No read timeout while the client only listens; a stalled one: stream_stalled. */
	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(st->conn), NULL, NULL);
	evhttp_connection_set_closecb(st->conn, on_stream_close, st);
	st->taken = evbuffer_add_cb(pending(st), on_stream_taken, st);
	stream_pump(st);
}

/* --- OpenAI-compatible routes (seed 001) --------------------------------- */

/*
 * lib/serve_openai.c translates; here each request becomes a task queued
 * as POST /api/v1/tasks queues one, and the synchronous routes (images,
 * speech, chat) follow its log like a stream does, answering at its
 * final line, or after FM_OAI_WAIT; a chat with stream: true relays the
 * deltas of its progress lines as chunks meanwhile. A client that leaves
 * (or a wait that times out) cancels the task: nobody would take its
 * answer.
 */
struct oai_wait {
	struct server *s;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct fm_spool_follow f;
	struct fm_oai_ask a;
	char id[FM_ID_MAX + 1];
	char base[160]; /* images as url: http://HOST of this server */
	int64_t created;
	double deadline;
	int chunks;	    /* chat stream: deltas sent */
	json_object *final; /* the task's final line, once read */
	struct event *ino, *wake;
	struct event *gone; /* the socket readable: the client may have left */
};

static void oai_free(struct oai_wait *w)
{
	evhttp_connection_set_closecb(w->conn, NULL, NULL);
	if (w->ino)
		event_free(w->ino);
	if (w->gone)
		event_free(w->gone);
	event_free(w->wake);
	fm_spool_follow_release(&w->f);
	fm_oai_ask_release(&w->a);
	json_object_put(w->final);
	free(w);
}

static void oai_cancel(struct oai_wait *w)
{
	struct fm_error err = FM_ERROR_INIT;

	fm_spool_cancel(&w->s->sp, w->id, &err);
	fm_error_release(&err);
}

/* The client left mid-wait: as on_stream_close, the request is ours to free. */
static void on_oai_close(struct evhttp_connection *conn, void *arg)
{
	struct oai_wait *w = arg;
	struct evhttp_request *req = w->req;

	(void)conn;
	oai_cancel(w);
	oai_free(w);
	if (!evhttp_request_get_connection(req))
		evhttp_request_free(req);
}

/*
 * evhttp does not read a connection while its request is answered, so it
 * would not hear the client leave before the answer is written: the
 * socket is watched here. End of file or an error: gone, and the
 * connection goes with its request. Bytes (a pipelined request): the
 * watch stops, the answer will tell.
 */
static void on_oai_gone(evutil_socket_t fd, short what, void *arg)
{
	struct oai_wait *w = arg;
	struct evhttp_connection *conn = w->conn;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	(void)what;
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
		event_del(w->gone);
		return;
	}
	oai_cancel(w);
	oai_free(w);
	evhttp_connection_free(conn);
}

static void oai_chunk_send(struct oai_wait *w, struct fm_buf *b)
{
	struct evbuffer *e = evbuffer_new();

	evbuffer_add(e, b->s, b->len);
	evhttp_send_reply_chunk(w->req, e);
	evbuffer_free(e);
	b->len = 0;
}

/* The end of a streamed chat: the error, or the whole text if no delta came, then [DONE]. */
static void oai_stream_end(struct oai_wait *w, int code, struct fm_error *err, const char *text)
{
	struct fm_buf b = FM_BUF_INIT;
	json_object *e;

	if (code) {
		e = fm_oai_error_json(err, code);
		fm_buf_addf(&b, "data: %s\n\n", fm_json_str(e));
		json_object_put(e);
	} else {
		if (!w->chunks)
			fm_oai_chunk(&b, w->id, w->created, w->a.model, text ? text : "", 1);
		fm_oai_chunk(&b, w->id, w->created, w->a.model, NULL, 0);
	}
	fm_buf_addstr(&b, "data: [DONE]\n\n");
	oai_chunk_send(w, &b);
	fm_buf_release(&b);
	fm_error_release(err);
	evhttp_send_reply_end(w->req);
}

/*
 * The audio of a speech task, from the path its final line names (the
 * spool may not have moved the task to done yet: get_file would not
 * serve it), with its own Content-Type: what the plugin made, not
 * converted.
 */
static void oai_send_file(struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *mime = fm_mime_from_path(path);
	struct evbuffer *b;
	struct stat st;
	int fd = open_output(path, &st);

	if (fd < 0) {
		fail(req, 500, FM_RESOURCE_PROCESSING_ERROR, "the task's output file is gone");
		return;
	}
	evhttp_add_header(h, "Content-Type", mime ? mime : "application/octet-stream");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	b = evbuffer_new();
	if (st.st_size && evbuffer_add_file(b, fd, 0, (ev_off_t)st.st_size) < 0) {
		close(fd);
		evbuffer_free(b);
		fail(req, 500, FM_SERVICE_ERROR, "the file cannot be sent");
		return;
	}
	if (!st.st_size)
		close(fd);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* The task's final line made into the route's answer. */
static void oai_answer(struct oai_wait *w)
{
	struct fm_error err = FM_ERROR_INIT;
	const char *path = NULL;
	char *text = NULL;
	size_t len;
	json_object *o, *d, *res;
	int code = w->final ? fm_oai_final(w->final, &err) : 500;

	if (!w->final)
		fm_error(&err, FM_SERVICE_ERROR, "the task's log ended without its final line");
	if (!code)
		path = json_object_get_string(json_object_array_get_idx(
		    fm_json_get(w->final, "output_files", json_type_array), 0));
	if (!code && w->a.kind == FM_OAI_CHAT) {
		if (fm_read_file(path, FM_OAI_TEXT_MAX, &text, &len, &err) < 0)
			code = 500;
	}
	if (w->a.stream) {
		oai_stream_end(w, code, &err, text);
	} else if (code) {
		reply_error(w->req, code, &err);
	} else if (w->a.kind == FM_OAI_CHAT) {
		reply(w->req, 200, fm_oai_chat(w->id, w->created, w->a.model, text));
	} else if (w->a.kind == FM_OAI_SPEECH) {
		oai_send_file(w->req, path);
	} else {
		d = json_object_new_object();
		if (!w->a.b64) {
			text = fm_xasprintf("%s/api/v1/tasks/%s/files/0", w->base, w->id);
			json_object_object_add(d, "url", json_object_new_string(text));
		} else if (fm_resource_base64_file(path, FM_OAI_B64_MAX, &res, &err) == 0) {
			json_object_object_add(
			    d, "b64_json", json_object_get(json_object_object_get(res, "data")));
			json_object_put(res);
		} else {
			json_object_put(d);
			reply_error(w->req, 500, &err);
			goto out;
		}
		o = json_object_new_object();
		json_object_object_add(o, "created", json_object_new_int64(w->created));
		json_object_object_add(o, "data", json_object_new_array());
		json_object_array_add(json_object_object_get(o, "data"), d);
		reply(w->req, 200, o);
	}
out:
	free(text);
	fm_error_release(&err);
	oai_free(w);
}

static void oai_line(struct oai_wait *w, const char *line, size_t len)
{
	struct fm_buf b = FM_BUF_INIT;
	json_object *o = NULL;
	const char *type, *delta;

	if (fm_json_parse(line, len, &o, NULL) < 0)
		return;
	type = fm_json_get_string(o, "type");
	delta = fm_oai_delta(o);
	if (type &&
	    (!strcmp(type, "completed") || !strcmp(type, "failed") || !strcmp(type, "cancelled"))) {
		json_object_put(w->final);
		w->final = json_object_get(o);
	} else if (w->a.stream && delta && *delta) {
		fm_oai_chunk(&b, w->id, w->created, w->a.model, delta, !w->chunks++);
		oai_chunk_send(w, &b);
	}
	fm_buf_release(&b);
	json_object_put(o);
}

static void on_oai_wake(evutil_socket_t fd, short what, void *arg);

static void oai_pump(struct oai_wait *w)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_follow_event ev;
	struct pollfd p[2];
	struct timeval tv;
	double until, now;
	int n, np;

	for (n = 0; n < FM_SERVE_SSE_BATCH; n++) {
		/* A streamed chat's reader that takes nothing is dropped before its bytes pile up.
		 */
		if (w->a.stream &&
		    evbuffer_get_length(bufferevent_get_output(
			evhttp_connection_get_bufferevent(w->conn))) > FM_SERVE_SSE_BUF_MAX) {
			struct evhttp_connection *conn = w->conn;

			oai_cancel(w);
			oai_free(w);
			evhttp_connection_free(conn);
			return;
		}
		fm_spool_follow_next(&w->f, &ev);
		if (ev.kind == FM_FOLLOW_LINE) {
			oai_line(w, ev.line, ev.len);
		} else if (ev.kind == FM_FOLLOW_WARN) {
			fm_warn("%s", ev.message);
		} else if (ev.kind == FM_FOLLOW_DONE) {
			oai_answer(w);
			return;
		} else if (ev.kind == FM_FOLLOW_AGAIN) {
			break;
		}
	}
	now = fm_now();
	if (now >= w->deadline) {
		oai_cancel(w);
		fm_error(&err, FM_TIMEOUT_ERROR, "no answer within %g s: the task is cancelled",
			 w->s->oai_wait);
		fm_error_detail(&err, "oai_code", json_object_new_string("timeout"));
		if (w->a.stream)
			oai_stream_end(w, 504, &err, NULL);
		else
			reply_error(w->req, 504, &err);
		oai_free(w);
		return;
	}
	np = n < FM_SERVE_SSE_BATCH ? fm_spool_follow_poll(&w->f, p, &until) : 0;
	if (np && !w->ino) {
		w->ino = event_new(w->s->base, p[0].fd, EV_READ | EV_PERSIST, on_oai_wake, w);
		event_add(w->ino, NULL);
	}
	if (n == FM_SERVE_SSE_BATCH)
		until = now;
	until = (until < w->deadline ? until : w->deadline) - now;
	until = until > 0 ? until : 0;
	tv.tv_sec = (time_t)until;
	tv.tv_usec = (suseconds_t)((until - (double)tv.tv_sec) * 1e6);
	evtimer_add(w->wake, &tv);
}

static void on_oai_wake(evutil_socket_t fd, short what, void *arg)
{
	struct oai_wait *w = arg;
	struct pollfd p = {.fd = fd, .events = POLLIN, .revents = POLLIN};

	if (what & EV_READ)
		fm_spool_follow_ready(&w->f, &p, 1);
	oai_pump(w);
}

/* http://HOST for an image's url: the Host header only when it names this address. */
static void oai_base(struct evhttp_request *req, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[64] = "127.0.0.1";
	unsigned port = 0;
	int fd = bufferevent_getfd(
	    evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)));

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
				  sizeof(addr));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
				  sizeof(addr));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
	}
	fm_oai_base_url(out, size,
			evhttp_find_header(evhttp_request_get_input_headers(req), "Host"), addr,
			port);
}

static void oai_wait_start(struct request *r, struct fm_oai_ask *a, const char *id, int64_t created)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct fm_error err = FM_ERROR_INIT;
	struct fm_follow_event ev;
	struct oai_wait *w = fm_xcalloc(1, sizeof(*w));

	fm_spool_follow_init(&w->f, &r->s->sp, 0);
	if (fm_spool_follow_add(&w->f, id, &ev, &err) < 0) {
		fm_spool_follow_release(&w->f);
		free(w);
		reply_error(r->req, 500, &err);
		return;
	}
	w->s = r->s;
	w->req = r->req;
	w->conn = evhttp_request_get_connection(r->req);
	w->a = *a;
	a->task = NULL;
	w->created = created;
	w->deadline = fm_now() + r->s->oai_wait;
	snprintf(w->id, sizeof(w->id), "%s", id);
	oai_base(r->req, w->base, sizeof(w->base));
	w->wake = evtimer_new(r->s->base, on_oai_wake, w);
	/* The wait may be long: no idle timeout; reading on, so a client that leaves is heard. */
	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(w->conn), NULL, NULL);
	evhttp_connection_set_closecb(w->conn, on_oai_close, w);
	r->s->taken++; /* the connection is the wait's now, not a record's */
	w->gone =
	    event_new(r->s->base, bufferevent_getfd(evhttp_connection_get_bufferevent(w->conn)),
		      EV_READ | EV_PERSIST, on_oai_gone, w);
	event_add(w->gone, NULL);
	if (w->a.stream) {
		evhttp_add_header(h, "Content-Type", "text/event-stream");
		evhttp_add_header(h, "Cache-Control", "no-store");
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		evhttp_send_reply_start(r->req, 200, "OK");
	}
	oai_pump(w);
}

/*
 * The checks and queueing of POST /api/v1/tasks for one task, committed
 * at once (with any other request's puts waiting): the route follows the
 * task's log next. -1 when answered with an error.
 */
static int oai_queue(struct request *r, json_object *task)
{
	struct server *s = r->s;
	struct fm_error err = FM_ERROR_INIT;
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	struct fm_plan_rules rules = {.plugins = &s->plugins, .config = &s->config, .absolute = 1};
	char name[FM_SPOOL_NAME_MAX];
	struct fm_plan plan;
	int rc = -1;

	fm_plan_init(&plan);
	/* "type":"task" first, as filmeto-submit --json reads a task. */
	json_object_array_add(tasks, fm_task_object(task));
	set_owner(r, json_object_array_get_idx(tasks, 0));
	fm_plan_check_tasks(&rules, tasks, 0, 0, &plan, problems);
	check_reach(r, &s->sp, &plan, tasks, problems);
	if (fm_spool_check_plan(&s->sp, &plan, problems, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the spool cannot be read");
	} else if (json_object_array_length(problems)) {
		fm_error(&err, FM_VALIDATION_ERROR, "%s",
			 fm_json_get_string(json_object_array_get_idx(problems, 0), "message"));
		reply_error(r->req, 400, &err);
	} else if (fm_spool_put(&s->sp, json_object_array_get_idx(tasks, 0), name, &err) < 0) {
		fm_warn("%s", err.message);
		reply_error(r->req, 500, &err);
	} else if (commit_now(s) < 0) {
		fail(r->req, 500, FM_SERVICE_ERROR, "the task could not be made durable");
	} else {
		rc = 0;
	}
	if (!s->waiting)
		fm_spool_unlock(&s->sp);
	fm_plan_release(&plan);
	json_object_put(tasks);
	json_object_put(problems);
	return rc;
}

/* The answer of GET /v1/videos/ID and POST /v1/videos: the task and its status. */
static void oai_video(struct request *r, struct fm_spool *sp, int code)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool_entry e;
	json_object *task = NULL, *st = NULL;

	if (fm_spool_find(sp, r->m.id, &e, &err) < 0 || fm_spool_task(sp, &e, &task, &err) < 0 ||
	    fm_spool_status(sp, r->m.id, &st, &err) < 0) {
		json_object_put(task);
		reply_error(r->req, 500, &err);
		return;
	}
	reply(r->req, code, fm_oai_video(task, st));
	json_object_put(task);
	json_object_put(st);
}

/* POST /v1/images/generations, /v1/audio/speech, /v1/chat/completions, /v1/videos. */
static void oai_post(struct request *r, enum fm_oai_kind kind)
{
	static const char *const prefix[] = {[FM_OAI_IMAGES] = "img",
					     [FM_OAI_SPEECH] = "speech",
					     [FM_OAI_CHAT] = "chatcmpl",
					     [FM_OAI_VIDEOS] = "video"};
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	struct fm_error err = FM_ERROR_INIT;
	struct fm_oai_ask a;
	struct fm_spool sp;
	json_object *manifests;
	int64_t created = (int64_t)time(NULL);
	unsigned char rnd[8];
	char id[FM_ID_MAX + 1];
	int code;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		fail(r->req, 500, FM_SERVICE_ERROR, "no random bytes for a task id");
		return;
	}
	snprintf(id, sizeof(id), "%s-%02x%02x%02x%02x%02x%02x%02x%02x", prefix[kind], rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (load_plugins(r) < 0)
		return;
	manifests = fm_plugins_manifests(&r->s->plugins);
	code = fm_oai_request(
	    kind, evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type"),
	    len ? (const char *)evbuffer_pullup(in, -1) : "", len, manifests, id, created, &a,
	    &err);
	json_object_put(manifests);
	if (code) {
		reply_error(r->req, code, &err);
	} else if (oai_queue(r, a.task) == 0) {
		if (kind != FM_OAI_VIDEOS) {
			oai_wait_start(r, &a, id, created);
		} else if (open_spool(r, &sp) == 0) {
			memcpy(r->m.id, id, sizeof(r->m.id));
			oai_video(r, &sp, 200);
			fm_spool_release(&sp);
		}
	}
	fm_oai_ask_release(&a);
}

/* GET /v1/models, GET and DELETE /v1/videos/ID, GET /v1/videos/ID/content. */
static void oai_get(struct request *r, enum fm_method method)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	json_object *o;
	int rc;

	if (r->m.route == FM_ROUTE_OAI_MODELS) {
		if (load_plugins(r) < 0)
			return;
		o = fm_plugins_manifests(&r->s->plugins);
		reply(r->req, 200, fm_oai_models(o, (int64_t)time(NULL)));
		json_object_put(o);
		return;
	}
	if (r->m.route == FM_ROUTE_OAI_VIDEO_CONTENT) {
		r->m.file = 0;
		get_file(r);
		return;
	}
	if (open_spool(r, &sp) < 0)
		return;
	if (find_task(r, &sp) < 0) {
		fm_spool_release(&sp);
		return;
	}
	if (method == FM_METHOD_GET) {
		oai_video(r, &sp, 200);
	} else if ((rc = fm_spool_cancel(&sp, r->m.id, &err)) < 0) {
		reply_error(r->req, 404, &err);
	} else if (rc == 2) {
		fm_error(&err, FM_VALIDATION_ERROR, "video '%s' had already finished", r->m.id);
		reply_error(r->req, 409, &err);
	} else {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(r->m.id));
		json_object_object_add(o, "object", json_object_new_string("video.deleted"));
		json_object_object_add(o, "deleted", json_object_new_boolean(1));
		reply(r->req, 200, o);
	}
	fm_spool_release(&sp);
}

static enum fm_method method_of(enum evhttp_cmd_type c)
{
	switch (c) {
	/* evhttp sends no body to a HEAD: it is a GET otherwise. */
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD: return FM_METHOD_GET;
	case EVHTTP_REQ_POST: return FM_METHOD_POST;
	case EVHTTP_REQ_DELETE: return FM_METHOD_DELETE;
	case EVHTTP_REQ_OPTIONS: return FM_METHOD_OPTIONS;
	default: return FM_METHOD_OTHER;
	}
}

/*
 * Every request: a key in the URL is refused first (401, even a right
 * one), then a foreign Origin (403), then an OPTIONS preflight is
 * answered, then a missing or wrong key (401, /health aside), then what
 * the route says (404, 400, 405), then the list's query (400).
 */
static void handle(struct evhttp_request *req, void *arg)
{
	struct request r = {.s = arg, .req = req};
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum fm_method method = method_of(evhttp_request_get_command(req));
	struct fm_error rerr = FM_ERROR_INIT, qerr = FM_ERROR_INIT;
	struct conn *c = conn_busy(r.s, req);
	int rcode, qcode;
	unsigned long taken = r.s->taken;

	rcode = fm_serve_route(method, path && *path ? path : "/", &r.m, &rerr);
	qcode = fm_serve_query_parse(uri ? evhttp_uri_get_query(uri) : NULL,
				     r.m.route == FM_ROUTE_TASKS && method == FM_METHOD_GET, &r.q,
				     &qerr);
	if (qcode == 401) {
		reply_error(req, 401, &qerr);
		goto out;
	}
	if (!cross_origin(r.s, req))
		goto out;
	if (method == FM_METHOD_OPTIONS && (rcode == 0 || rcode == 405)) {
		preflight(req, &r.m);
		goto out;
	}
	/* The page asks for the key itself: a browser cannot send one to load it. */
	if (r.s->keys.n && r.m.route != FM_ROUTE_HEALTH && r.m.route != FM_ROUTE_PAGE) {
		r.key = fm_serve_keys_check(
		    &r.s->keys,
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"));
		if (!r.key) {
			evhttp_add_header(evhttp_request_get_output_headers(req),
					  "WWW-Authenticate", "Bearer");
			fail(req, 401, FM_VALIDATION_ERROR,
			     "a valid key is needed: Authorization: Bearer KEY");
			goto out;
		}
	}
	if (rcode) {
		if (rcode == 405)
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
					  r.m.allow_text);
		reply_error(req, rcode, &rerr);
		goto out;
	}
	if (qcode) {
		reply_error(req, qcode, &qerr);
		goto out;
	}
	switch (r.m.route) {
	case FM_ROUTE_HEALTH: health(&r); break;
	case FM_ROUTE_TASKS: method == FM_METHOD_POST ? post_tasks(&r) : list_tasks(&r); break;
	case FM_ROUTE_TASK: method == FM_METHOD_GET ? get_task(&r) : cancel_task(&r); break;
	case FM_ROUTE_TOOLS:
	case FM_ROUTE_PLUGINS: plugins_route(&r); break;
	case FM_ROUTE_TASK_FILE: get_file(&r); break;
	case FM_ROUTE_TASK_STREAM: stream_start(&r); break;
	case FM_ROUTE_FILMS: post_films(&r); break;
	case FM_ROUTE_PAGE: page(&r); break;
	case FM_ROUTE_OAI_IMAGES: oai_post(&r, FM_OAI_IMAGES); break;
	case FM_ROUTE_OAI_SPEECH: oai_post(&r, FM_OAI_SPEECH); break;
	case FM_ROUTE_OAI_CHAT: oai_post(&r, FM_OAI_CHAT); break;
	case FM_ROUTE_OAI_VIDEOS: oai_post(&r, FM_OAI_VIDEOS); break;
	case FM_ROUTE_OAI_MODELS:
	case FM_ROUTE_OAI_VIDEO:
	case FM_ROUTE_OAI_VIDEO_CONTENT: oai_get(&r, method); break;
	case FM_ROUTE_NONE: break;
	}
out:
	conn_handed(r.s, c, req, taken);
	fm_error_release(&rerr);
	fm_error_release(&qerr);
}

/* --- workers ------------------------------------------------------------ */

/* A worker's events go to the task logs; what it writes to us is its chatter. */
static void on_worker_output(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)what;
	if (n > 0 && fd == w->proc.err)
		fwrite(buf, 1, (size_t)n, stderr);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		event_del(fd == w->proc.err ? w->err : w->out);
}

/* The worker's events gone, the process reaped and its pipes closed. */
static void retire(struct worker *w)
{
	if (!w->end)
		return;
	event_free(w->out);
	event_free(w->err);
	event_free(w->end);
	w->out = w->err = w->end = NULL;
	fm_proc_stop(&w->proc, 0);
	w->s->running--;
}

static void on_worker_end(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval later = {WORKER_RESTART, 0};
	char how[128];

	(void)fd;
	(void)what;
	if (!fm_proc_poll(&w->proc))
		return;
	fm_proc_describe(&w->proc, how, sizeof(how));
	fm_warn("worker %ld %s; starting another in %d s", (long)w->proc.pid, how, WORKER_RESTART);
	retire(w);
	evtimer_add(w->restart, &later);
}

/* filmeto-run beside this binary when it is there (a build tree), else on PATH. */
static char *worker_program(void)
{
	char self[4096], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			path = fm_xasprintf("%s/filmeto-run", self);
			if (access(path, X_OK) == 0)
				return path;
			free(path);
		}
	}
	return fm_xstrdup("filmeto-run");
}

/* Starts filmeto-run --spool, in a process group of its own; -1 with err. */
static int spawn(struct worker *w, struct fm_error *err)
{
	extern char **environ;
	char *prog = worker_program();
	char *argv[7] = {prog, "--spool"};
	int n = 2;
	struct event_base *base = w->s->base;
	int rc;

	if (w->s->upload) {
		argv[n++] = "--upload";
		argv[n++] = (char *)w->s->upload;
	}
	if (w->s->url_ttl) {
		argv[n++] = "--url-ttl";
		argv[n++] = (char *)w->s->url_ttl;
	}
	argv[n] = NULL;
	fm_proc_init(&w->proc);
	rc = fm_proc_spawn(&w->proc, argv, NULL, environ, err);
	free(prog);
	if (rc < 0)
		return -1;
	close(w->proc.in);
	w->proc.in = -1;
	w->out = event_new(base, w->proc.out, EV_READ | EV_PERSIST, on_worker_output, w);
	w->err = event_new(base, w->proc.err, EV_READ | EV_PERSIST, on_worker_output, w);
	w->end = event_new(base, w->proc.pidfd, EV_READ | EV_PERSIST, on_worker_end, w);
	event_add(w->out, NULL);
	event_add(w->err, NULL);
	event_add(w->end, NULL);
	w->s->running++;
	return 0;
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct fm_error err = FM_ERROR_INIT;
	struct timeval later = {WORKER_RESTART, 0};

	(void)fd;
	(void)what;
	if (spawn(w, &err) < 0) {
		fm_warn("cannot start a worker: %s", err.message);
		fm_error_release(&err);
		evtimer_add(w->restart, &later);
	}
}

static void start_workers(struct server *s)
{
	struct fm_error err = FM_ERROR_INIT;
	int i;

	for (i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];

		w->s = s;
		w->restart = evtimer_new(s->base, on_restart, w);
		if (spawn(w, &err) < 0)
			fm_die(FM_EXIT_FAILED, "cannot start a worker: %s", err.message);
	}
}

/* SIGTERM first: a worker puts its running tasks back in the queue. */
static void stop_workers(struct server *s)
{
	int i;

	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].end)
			fm_proc_signal(&s->workers[i].proc, SIGTERM);
	for (i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];

		if (w->end)
			fm_proc_wait(&w->proc, WORKER_GRACE);
		retire(w);
		event_free(w->restart);
	}
}

/* --- the loop ----------------------------------------------------------- */

static void on_stream_sent(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;

	(void)req;
	if (--s->ending == 0)
		event_base_loopbreak(s->base);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * SIGTERM, SIGINT: no more connections; each open stream ends as a
 * finished one does, and the loop ends once they are sent (or after
 * FM_SERVE_SSE_DRAIN, for clients that take nothing).
 */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	struct timeval drain = {(time_t)FM_SERVE_SSE_DRAIN, 0};
	int i;

	(void)sig;
	(void)what;
	/* What was put is committed and answered, not dropped with tmp/. */
	if (s->waiting)
		commit_now(s);
	if (!s->streams || s->ending) {
		event_base_loopbreak(s->base);
		return;
	}
	for (i = 0; i < s->nlisten; i++)
		if (s->bound[i])
			evhttp_del_accept_socket(s->http, s->bound[i]);
	memset(s->bound, 0, sizeof(s->bound));
	while (s->streams) {
		s->ending++;
		evhttp_request_set_on_complete_cb(s->streams->req, on_stream_sent, s);
		stream_end(s->streams);
	}
	s->drained = evtimer_new(s->base, on_drain_timeout, s->base);
	evtimer_add(s->drained, &drain);
}

static void listen_all(struct server *s)
{
	int i;

	for (i = 0; i < s->nlisten; i++) {
		const struct fm_serve_listen *l = &s->listen[i];

		s->bound[i] = evhttp_bind_socket_with_handle(s->http, l->addr, l->port);
		if (!s->bound[i])
			fm_die(FM_EXIT_FAILED, "cannot listen on %s%s%s:%u: %s",
			       strchr(l->addr, ':') ? "[" : "", l->addr,
			       strchr(l->addr, ':') ? "]" : "", l->port, strerror(errno));
		fm_warn("listening on http://%s%s%s:%u/", strchr(l->addr, ':') ? "[" : "", l->addr,
			strchr(l->addr, ':') ? "]" : "", l->port);
	}
}

/* The page's folder, held open so its files are opened by name inside it. */
static void open_web(struct server *s)
{
	char *dir = fm_serve_web_dir();

	s->web = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (s->web < 0)
		fm_warn("the page's files are not found (share/filmeto/web): GET / answers 404");
	free(dir);
}

int main(int argc, char **argv)
{
	struct server s = {0};
	struct fm_error err = FM_ERROR_INIT;
	struct event *sigterm, *sigint;
	const char *beat = getenv("FILMETO_SERVE_HEARTBEAT");
	const char *idle = getenv("FILMETO_SERVE_TIMEOUT");
	struct timeval tv, sweep = {(time_t)FM_SERVE_SWEEP, 0};
	const char *wait = getenv("FILMETO_SERVE_OPENAI_WAIT");
	char *end;
	int i;

	fm_msg_init(argv[0]);
	the_server = &s;
	signal(SIGPIPE, SIG_IGN);
	fm_secrets_hide();
	parse_args(argc, argv, &s);
	if (s.key_file)
		read_keys(&s);
	/* The workers find the same spool by the variable filmeto-run reads. */
	if (s.spool && setenv("FILMETO_SPOOL", s.spool, 1) < 0)
		fm_die(FM_EXIT_FAILED, "setenv:");
	if (fm_spool_open(&s.sp, s.spool, &err) < 0)
		fm_die(FM_EXIT_FAILED, "%s", err.message);
	s.sp.warn = fm_warn_hook;
	open_web(&s);
	/* Tests wait less for a heartbeat; anything else is the seeds' 5 s. */
	s.heartbeat = FM_SERVE_SSE_HEARTBEAT;
	if (beat && *beat) {
		s.heartbeat = strtod(beat, &end);
		if (*end || !(s.heartbeat >= 0.05 && s.heartbeat <= 3600))
			fm_die(FM_EXIT_USAGE, "FILMETO_SERVE_HEARTBEAT '%s': seconds, 0.05 to 3600",
			       beat);
	}

	/* Tests wait less for the connection timeouts; anything else is the constants'. */
	s.timeout = FM_SERVE_TIMEOUT;
	s.request_timeout = FM_SERVE_REQUEST_TIMEOUT;
	if (idle && *idle) {
		s.timeout = strtod(idle, &end);
		if (*end || !(s.timeout >= 0.1 && s.timeout <= 3600))
			fm_die(FM_EXIT_USAGE, "FILMETO_SERVE_TIMEOUT '%s': seconds, 0.1 to 3600",
			       idle);
		s.request_timeout = 2 * s.timeout;
	}
	raise_nofile();
	/* Tests see a synchronous OpenAI route time out without waiting 600 s. */
	s.oai_wait = FM_OAI_WAIT;
	if (wait && *wait) {
		s.oai_wait = strtod(wait, &end);
		if (*end || !(s.oai_wait >= 0.05 && s.oai_wait <= FM_OAI_WAIT))
			fm_die(FM_EXIT_USAGE, "FILMETO_SERVE_OPENAI_WAIT '%s': seconds, 0.05 to %g",
			       wait, FM_OAI_WAIT);
	}

	s.base = event_base_new();
	/* Priority 0 (on_bind) runs before the connections' events, at 1. */
	if (s.base && event_base_priority_init(s.base, 2) < 0)
		fm_die(FM_EXIT_FAILED, "cannot start the event loop");
	s.http = s.base ? evhttp_new(s.base) : NULL;
	if (!s.http)
		fm_die(FM_EXIT_FAILED, "cannot start the event loop");
	s.bind = event_new(s.base, -1, 0, on_bind, &s);
	event_priority_set(s.bind, 0);
	s.sweep = event_new(s.base, -1, EV_PERSIST, on_sweep, &s);
	s.commit = event_new(s.base, -1, 0, on_commit, &s);
	s.waiting_tail = &s.waiting;
	s.resume = evtimer_new(s.base, on_resume, &s);
	evtimer_add(s.sweep, &sweep);
	evhttp_set_bevcb(s.http, on_accept, &s);
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					       EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(s.http, FM_SERVE_BODY_MAX);
	evhttp_set_max_headers_size(s.http, FM_SERVE_HEADERS_MAX);
	tv.tv_sec = (time_t)s.timeout;
	tv.tv_usec = (suseconds_t)((s.timeout - (double)tv.tv_sec) * 1e6);
	evhttp_set_timeout_tv(s.http, &tv);
	evhttp_set_gencb(s.http, handle, &s);
	listen_all(&s);
	/* evhttp listens with a backlog of 128: a burst of connections waits longer. */
	for (i = 0; i < s.nlisten; i++) {
		if (listen(evhttp_bound_socket_get_fd(s.bound[i]), FM_SERVE_BACKLOG) < 0)
			fm_warn("listen:");
		evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s.bound[i]),
					    on_accept_error);
	}
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
	sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	start_workers(&s);

	event_base_dispatch(s.base);

	/* Stop accepting first, then let the workers put their tasks back. */
	streams_close(&s);
	s.stopping = 1;
	evhttp_free(s.http); /* the connections' closecbs drop what is left of s.conns */
	stop_workers(&s);
	if (s.drained)
		event_free(s.drained);
	fm_spool_release(&s.sp);
	event_free(sigterm);
	event_free(sigint);
	event_free(s.bind);
	event_free(s.sweep);
	event_free(s.commit);
	event_free(s.resume);
	event_base_free(s.base);
	fm_serve_keys_clear(&s.keys);
	fm_plugins_release(&s.plugins);
	fm_config_release(&s.config);
	if (s.web >= 0)
		close(s.web);
	return FM_EXIT_OK;
}
