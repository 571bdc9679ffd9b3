/*
 * filmeto-serve: the seeds' HTTP face over the spool. It queues tasks
 * (checked as filmeto-submit checks them), answers their status and
 * lists, streams their events (the spool follower of filmeto-watch, one
 * per stream), serves their output files, cancels them, and names the
 * tools and plugins; filmeto-run --spool workers, started here or
 * elsewhere, do the work. One libevent loop serves every connection; what
 * a request may do is decided by lib/serve_route.c before the spool is
 * touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#include "filmeto.h"
#include "serve_openai.h"
#include "serve_route.h"

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
    "                     [--key-file FILE]\n"
    "\n"
    "Serve the spool over HTTP: queue tasks, answer their status, cancel them.\n"
    "\n"
    "  -l, --listen ADDR:PORT  address to listen on, numeric (IPv6 in [ ]);\n"
    "                          repeatable (default: " DEFAULT_LISTEN ")\n"
    "      --spool DIR         the spool (default: $FILMETO_SPOOL, else\n"
    "                          $XDG_STATE_HOME/filmeto/spool)\n"
    "  -w, --workers N         filmeto-run --spool workers to start and stop with\n"
    "                          the server (default: 1; 0: they run elsewhere)\n"
    "      --key-file FILE     API keys, 'NAME KEY' or 'NAME KEY admin' a line; the\n"
    "                          file must not be readable by others (mode 0600)\n"
    "  -h, --help              show this help\n"
    "      --version           show the version\n"
    "\n"
    "Without --key-file only loopback addresses are served.\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM or SIGINT, 1 could not listen or start a\n"
    "worker, 2 usage error.\n";

enum { OPT_VERSION = 256, OPT_SPOOL, OPT_KEY_FILE };

static const struct option options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"workers", required_argument, NULL, 'w'},
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct server;
struct stream;
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
	struct fm_serve_keys keys; /* n 0: no keys, every request is served */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound[LISTEN_MAX];
	struct worker workers[WORKERS_MAX];
	int running;		/* workers not yet ended */
	struct fm_spool sp;	/* the streams' spool, open while serving */
	struct stream *streams; /* open ones */
	int nstreams;		/* how many */
	int ending;		/* streams ended by a signal, not yet sent */
	double heartbeat;	/* FM_SERVE_SSE_HEARTBEAT, or the environment's */
	struct event *drained;	/* the loop ends when the ended streams are sent, or then */
	double oai_wait;	/* FM_OAI_WAIT, or the environment's */
};

/*
 * One open GET /api/v1/tasks/ID/stream: its own follower of the task's
 * log, woken by the follower's inotify fd and a timer (its next look at
 * the log, or a heartbeat), and by the connection when what waited for
 * the client is sent.
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
	struct event *ino;		 /* the follower's inotify fd, or NULL */
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
		case 'h': fm_help(usage_text);
		case OPT_VERSION: fm_version(fm_revision(), fm_libraries());
		default: fm_try_help();
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
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

/* --- ownership ---------------------------------------------------------- */

/* Where a task records the name of the key that queued it. */
#define OWNER_KEY "queued_by"

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
	owner = fm_json_get_string(fm_json_get(task, "metadata", json_type_object), OWNER_KEY);
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
	json_object_object_del(meta, OWNER_KEY);
	if (r->key)
		json_object_object_add(meta, OWNER_KEY, json_object_new_string(r->key->name));
}

/*
 * What a key that is not admin may not reach through a task: a file of
 * the server's (a local_path resource, ComfyUI's input_image_path), and
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
		}
		if (fm_json_get_string(fm_json_get(t, "parameters", json_type_object),
				       "input_image_path"))
			fm_problem(problems,
				   "task '%s': input_image_path names a file of the server: not "
				   "taken over HTTP",
				   id ? id : "?");
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

/* The answer waits for the last commit: nothing to do per batch. */
static void durable(void *ctx, size_t from, size_t to)
{
	(void)ctx;
	(void)from;
	(void)to;
}

/* Queues the checked tasks in plan order; the ids are answered once durable. */
static void enqueue(struct request *r, struct fm_spool *sp, json_object *tasks,
		    const struct fm_plan *plan)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *order = json_object_new_array(), *ids = json_object_new_array(), *o;
	size_t i, queued;

	for (i = 0; i < plan->n; i++) {
		json_object *t = json_object_array_get_idx(tasks, plan->order[i]);

		json_object_array_add(order, json_object_get(t));
		json_object_array_add(ids,
				      json_object_new_string(fm_json_get_string(t, "task_id")));
	}
	if (fm_spool_enqueue(sp, order, durable, NULL, &queued, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_detail(&err, "queued", json_object_new_int64((int64_t)queued));
		reply_error(r->req, err.code == FM_VALIDATION_ERROR ? 422 : 500, &err);
		json_object_put(ids);
	} else {
		o = json_object_new_object();
		json_object_object_add(o, "task_ids", ids);
		json_object_object_add(o, "tasks", json_object_new_int64((int64_t)queued));
		reply(r->req, 201, o);
	}
	json_object_put(order);
}

/* POST /api/v1/tasks: the checks of filmeto-submit --json --queue, in its order. */
static void post_tasks(struct request *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct fm_error err = FM_ERROR_INIT;
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	size_t i, len = evbuffer_get_length(in);
	struct fm_plugins plugins = {0};
	struct fm_config config = {0};
	struct fm_plan_rules rules = {.plugins = &plugins, .config = &config, .absolute = 1};
	struct fm_spool sp = {0};
	struct fm_plan plan;
	int code;

	fm_plan_init(&plan);
	code =
	    fm_serve_tasks_body(len ? (const char *)evbuffer_pullup(in, -1) : "", len, tasks, &err);
	if (code) {
		reply_error(r->req, code, &err);
		goto out;
	}
	if (fm_config_load(&config, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the server's config.yaml cannot be read");
		goto out;
	}
	fm_plugins_scan(&plugins, &err);
	fm_error_release(&err);
	for (i = 0; i < json_object_array_length(tasks); i++)
		set_owner(r, json_object_array_get_idx(tasks, i));
	/* As filmeto-submit --json --queue: -p values none, the plan may need queued tasks. */
	fm_plan_check_tasks(&rules, tasks, 0, 0, &plan, problems);
	if (open_spool(r, &sp) < 0)
		goto out;
	check_reach(r, &sp, &plan, tasks, problems);
	if (fm_spool_check_plan(&sp, &plan, problems, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the spool cannot be read");
	} else if (json_object_array_length(problems)) {
		unprocessable(r, problems);
	} else {
		enqueue(r, &sp, tasks, &plan);
	}
	fm_spool_release(&sp);
out:
	fm_plan_release(&plan);
	fm_plugins_release(&plugins);
	fm_config_release(&config);
	json_object_put(tasks);
	json_object_put(problems);
}

static void get_task(struct request *r)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	json_object *st;

	if (open_spool(r, &sp) < 0)
		return;
	if (find_task(r, &sp) == 0) {
		if (fm_spool_status(&sp, r->m.id, &st, &err) < 0)
			reply_error(r->req, err.code == FM_TASK_NOT_FOUND ? 404 : 500, &err);
		else
			reply(r->req, 200, st);
	}
	fm_spool_release(&sp);
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
	if (st->ino)
		event_free(st->ino);
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

/* Nothing more for now: wait for inotify, the follower's next look or a heartbeat. */
static void stream_wait(struct stream *st)
{
	struct pollfd p[2];
	double until, now = fm_now(), beat = st->wrote + st->s->heartbeat;
	int np = fm_spool_follow_poll(&st->f, p, &until);

	if (np && !st->ino) {
		st->ino = event_new(st->s->base, p[0].fd, EV_READ | EV_PERSIST, on_stream_wake, st);
		event_add(st->ino, NULL);
	}
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
	struct pollfd p = {.fd = fd, .events = POLLIN, .revents = POLLIN};

	if (stream_stuck(st))
		return;
	if (what & EV_READ)
		fm_spool_follow_ready(&st->f, &p, 1);
	heartbeat(st);
	stream_pump(st);
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
	st = fm_xcalloc(1, sizeof(*st));
	fm_spool_follow_init(&st->f, &r->s->sp, 0);
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

/* The checks and queueing of POST /api/v1/tasks for one task: -1 when answered with an error. */
static int oai_queue(struct request *r, struct fm_plugins *plugins, json_object *task)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *tasks = json_object_new_array(), *problems = json_object_new_array();
	struct fm_config config = {0};
	struct fm_plan_rules rules = {.plugins = plugins, .config = &config, .absolute = 1};
	struct fm_spool sp = {0};
	struct fm_plan plan;
	size_t queued;
	int rc = -1;

	fm_plan_init(&plan);
	/* "type":"task" first, as filmeto-submit --json reads a task. */
	json_object_array_add(tasks, fm_task_object(task));
	set_owner(r, json_object_array_get_idx(tasks, 0));
	if (fm_config_load(&config, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the server's config.yaml cannot be read");
		goto out;
	}
	fm_plan_check_tasks(&rules, tasks, 0, 0, &plan, problems);
	if (open_spool(r, &sp) < 0)
		goto out;
	check_reach(r, &sp, &plan, tasks, problems);
	if (fm_spool_check_plan(&sp, &plan, problems, &err) < 0) {
		fm_warn("%s", err.message);
		fm_error_release(&err);
		fail(r->req, 500, FM_SERVICE_ERROR, "the spool cannot be read");
	} else if (json_object_array_length(problems)) {
		fm_error(&err, FM_VALIDATION_ERROR, "%s",
			 fm_json_get_string(json_object_array_get_idx(problems, 0), "message"));
		reply_error(r->req, 400, &err);
	} else if (fm_spool_enqueue(&sp, tasks, durable, NULL, &queued, &err) < 0) {
		fm_warn("%s", err.message);
		reply_error(r->req, 500, &err);
	} else {
		rc = 0;
	}
	fm_spool_release(&sp);
out:
	fm_plan_release(&plan);
	fm_config_release(&config);
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
	struct fm_plugins plugins = {0};
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
	fm_plugins_scan(&plugins, &err);
	fm_error_release(&err);
	manifests = fm_plugins_manifests(&plugins);
	code = fm_oai_request(
	    kind, evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type"),
	    len ? (const char *)evbuffer_pullup(in, -1) : "", len, manifests, id, created, &a,
	    &err);
	json_object_put(manifests);
	if (code) {
		reply_error(r->req, code, &err);
	} else if (oai_queue(r, &plugins, a.task) == 0) {
		if (kind != FM_OAI_VIDEOS) {
			oai_wait_start(r, &a, id, created);
		} else if (open_spool(r, &sp) == 0) {
			memcpy(r->m.id, id, sizeof(r->m.id));
			oai_video(r, &sp, 200);
			fm_spool_release(&sp);
		}
	}
	fm_oai_ask_release(&a);
	fm_plugins_release(&plugins);
}

/* GET /v1/models, GET and DELETE /v1/videos/ID, GET /v1/videos/ID/content. */
static void oai_get(struct request *r, enum fm_method method)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_plugins plugins = {0};
	struct fm_spool sp;
	json_object *o;
	int rc;

	if (r->m.route == FM_ROUTE_OAI_MODELS) {
		fm_plugins_scan(&plugins, &err);
		fm_error_release(&err);
		o = fm_plugins_manifests(&plugins);
		reply(r->req, 200, fm_oai_models(o, (int64_t)time(NULL)));
		json_object_put(o);
		fm_plugins_release(&plugins);
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
	default: return FM_METHOD_OTHER;
	}
}

/*
 * Every request: a key in the URL is refused first (401, even a right
 * one), then a missing or wrong key (401, /health aside), then what the
 * route says (404, 400, 405), then the list's query (400).
 */
static void handle(struct evhttp_request *req, void *arg)
{
	struct request r = {.s = arg, .req = req};
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum fm_method method = method_of(evhttp_request_get_command(req));
	struct fm_error rerr = FM_ERROR_INIT, qerr = FM_ERROR_INIT;
	int rcode, qcode;

	rcode = fm_serve_route(method, path && *path ? path : "/", &r.m, &rerr);
	qcode = fm_serve_query_parse(uri ? evhttp_uri_get_query(uri) : NULL,
				     r.m.route == FM_ROUTE_TASKS && method == FM_METHOD_GET, &r.q,
				     &qerr);
	if (qcode == 401) {
		reply_error(req, 401, &qerr);
		goto out;
	}
	if (r.s->keys.n && r.m.route != FM_ROUTE_HEALTH) {
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
	char *argv[] = {prog, "--spool", NULL};
	struct event_base *base = w->s->base;
	int rc;

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

int main(int argc, char **argv)
{
	struct server s = {0};
	struct fm_error err = FM_ERROR_INIT;
	struct event *sigterm, *sigint;
	const char *beat = getenv("FILMETO_SERVE_HEARTBEAT");
	const char *wait = getenv("FILMETO_SERVE_OPENAI_WAIT");
	char *end;

	fm_msg_init(argv[0]);
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
	/* Tests wait less for a heartbeat; anything else is the seeds' 5 s. */
	s.heartbeat = FM_SERVE_SSE_HEARTBEAT;
	if (beat && *beat) {
		s.heartbeat = strtod(beat, &end);
		if (*end || !(s.heartbeat >= 0.05 && s.heartbeat <= 3600))
			fm_die(FM_EXIT_USAGE, "FILMETO_SERVE_HEARTBEAT '%s': seconds, 0.05 to 3600",
			       beat);
	}

	/* Tests see a synchronous OpenAI route time out without waiting 600 s. */
	s.oai_wait = FM_OAI_WAIT;
	if (wait && *wait) {
		s.oai_wait = strtod(wait, &end);
		if (*end || !(s.oai_wait >= 0.05 && s.oai_wait <= FM_OAI_WAIT))
			fm_die(FM_EXIT_USAGE, "FILMETO_SERVE_OPENAI_WAIT '%s': seconds, 0.05 to %g",
			       wait, FM_OAI_WAIT);
	}

	s.base = event_base_new();
	s.http = s.base ? evhttp_new(s.base) : NULL;
	if (!s.http)
		fm_die(FM_EXIT_FAILED, "cannot start the event loop");
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					       EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(s.http, FM_SERVE_BODY_MAX);
	evhttp_set_max_headers_size(s.http, FM_SERVE_HEADERS_MAX);
	evhttp_set_timeout(s.http, FM_SERVE_TIMEOUT);
	evhttp_set_gencb(s.http, handle, &s);
	listen_all(&s);
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
	sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	start_workers(&s);

	event_base_dispatch(s.base);

	/* Stop accepting first, then let the workers put their tasks back. */
	while (s.streams)
		stream_free(s.streams);
	evhttp_free(s.http);
	stop_workers(&s);
	if (s.drained)
		event_free(s.drained);
	fm_spool_release(&s.sp);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(s.base);
	fm_serve_keys_clear(&s.keys);
	return FM_EXIT_OK;
}
