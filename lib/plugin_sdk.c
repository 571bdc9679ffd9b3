/*
 * The plugin side of the protocol, for plugins written in C. The loop
 * reads requests from stdin one line at a time; while a handler runs,
 * fm_plugin_cancelled() peeks at stdin without blocking, answers pings,
 * and notes a cancel or shutdown, queueing nothing else (the host sends
 * one task at a time to a plugin of concurrency 1).
 *
 * Everything the plugin says passes one place on its way out: every
 * string of every message (progress, results, errors, metadata) and
 * every log line is redacted of the process's secrets (lib/redact.h),
 * whichever path of the plugin put a service's words there.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "manifest.h"
#include "msg.h"
#include "ndjson.h"
#include "redact.h"
#include "rpc.h"
#include "proc.h"
#include "plugin_sdk.h"
#include "util.h"

struct fm_plugin_ctx {
	const struct fm_plugin_def *def;
	struct fm_reader in;
	struct fm_writer out;
	int log_fd;
	const char *task_id;   /* the task being run, or NULL */
	json_object *settings; /* its "settings", or NULL */
	char number[32];       /* a numeric setting as text */
	double percent;	       /* the task's last progress */
	int cancelled, shutdown;
	double polled; /* when stdin was last peeked at for a cancel */
};

static void send_msg(struct fm_plugin_ctx *c, json_object *msg)
{
	fm_redact_json(msg);
	fm_writer_json(&c->out, msg);
	fm_writer_flush(&c->out);
	json_object_put(msg);
}

static json_object *info(const struct fm_plugin_def *def)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(def->name));
	json_object_object_add(o, "version", json_object_new_string(def->version));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	/*
	 * The host leaves the output directory to us, and handlers make it only
	 * when they write something: a task with no files costs no mkdir.
	 */
	json_object_object_add(o, "creates_output_dir", json_object_new_boolean(1));
	return o;
}

/* The params every progress-like notification starts with. */
static json_object *notice(struct fm_plugin_ctx *c, const char *type)
{
	json_object *p = json_object_new_object();
	char ts[32];

	fm_timestamp(ts);
	json_object_object_add(p, "task_id", json_object_new_string(c->task_id ? c->task_id : ""));
	json_object_object_add(p, "type", json_object_new_string(type));
	json_object_object_add(p, "timestamp", json_object_new_string(ts));
	return p;
}

void fm_plugin_progress(struct fm_plugin_ctx *c, double percent, const char *stage,
			const char *message)
{
	json_object *p = notice(c, "progress");

	c->percent = percent;
	json_object_object_add(p, "percent", fm_json_double(percent));
	json_object_object_add(p, "message", json_object_new_string(message ? message : ""));
	if (stage)
		json_object_object_add(p, "stage", json_object_new_string(stage));
	send_msg(c, fm_rpc_notification("progress", p));
}

void fm_plugin_heartbeat(struct fm_plugin_ctx *c)
{
	send_msg(c, fm_rpc_notification("heartbeat", notice(c, "heartbeat")));
}

void fm_plugin_log(struct fm_plugin_ctx *c, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL, *clean;
	size_t n;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	clean = fm_redact(line, (size_t)len, &n);
	dprintf(c->log_fd, "%.*s\n", (int)n, clean);
	free(line);
	free(clean);
}

/* Requests other than execute_task; returns 1 when it was one of them. */
static int answer_simple(struct fm_plugin_ctx *c, struct fm_rpc_msg *m)
{
	if (!strcmp(m->method, "ping")) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "status", json_object_new_string("pong"));
		send_msg(c, fm_rpc_result(json_object_get(m->id), r));
		return 1;
	}
	if (!strcmp(m->method, "get_info")) {
		send_msg(c, fm_rpc_result(json_object_get(m->id), info(c->def)));
		return 1;
	}
	return 0;
}

static void on_notification(struct fm_plugin_ctx *c, struct fm_rpc_msg *m)
{
	const char *id = fm_json_get_string(m->params, "task_id");

	if (!strcmp(m->method, "cancel") && c->task_id && (!id || !strcmp(id, c->task_id)))
		c->cancelled = 1;
	else if (!strcmp(m->method, "shutdown"))
		c->shutdown = 1;
}

int fm_plugin_cancelled(struct fm_plugin_ctx *c)
{
	struct pollfd pfd = {c->in.fd, POLLIN, 0};
	struct fm_rpc_msg m;
	char *line;
	size_t len;

	while (!c->in.eof && poll(&pfd, 1, 0) > 0) {
		if (fm_reader_fill(&c->in) <= 0)
			break;
		while (fm_reader_take(&c->in, &line, &len) == FM_LINE_OK) {
			if (fm_rpc_parse(line, len, &m, NULL) < 0)
				continue;
			if (m.kind == FM_RPC_NOTIFICATION)
				on_notification(c, &m);
			else if (m.kind == FM_RPC_REQUEST && !answer_simple(c, &m))
				send_msg(c,
					 fm_rpc_error(json_object_get(m.id), FM_RPC_INTERNAL_ERROR,
						      "busy with another task", NULL));
			fm_rpc_msg_release(&m);
		}
	}
	/* Losing the host is the strongest cancel there is. */
	return c->cancelled || c->shutdown || c->in.eof;
}

int fm_plugin_cancel_check(void *ctx)
{
	struct fm_plugin_ctx *c = ctx;
	double now = fm_now();

	/* libcurl asks many times a second; a peek every 20 ms is enough. */
	if (c->cancelled || c->shutdown || c->in.eof || now - c->polled < 0.02)
		return c->cancelled || c->shutdown || c->in.eof;
	c->polled = now;
	return fm_plugin_cancelled(c);
}

void fm_plugin_retrying(void *retry, int attempt, double wait, const char *why)
{
	struct fm_plugin_retry *r = retry;
	char msg[256];

	if (r->service)
		snprintf(msg, sizeof(msg), "%s busy (%s); retry %d in %.1f s", r->service, why,
			 attempt, wait);
	else
		snprintf(msg, sizeof(msg), "%s; retry %d in %.1f s", why, attempt, wait);
	fm_plugin_log(r->ctx, "%s", msg);
	fm_plugin_progress(r->ctx, r->percent < 0 ? r->ctx->percent : r->percent, r->stage, msg);
}

void fm_plugin_http(struct fm_http *h, struct fm_plugin_retry *retry)
{
	h->cancelled = fm_plugin_cancel_check;
	h->cancel_arg = retry->ctx;
	h->retrying = fm_plugin_retrying;
	h->retry_arg = retry;
}

json_object *fm_plugin_settings(struct fm_plugin_ctx *ctx)
{
	return ctx->settings;
}

const char *fm_plugin_setting(struct fm_plugin_ctx *ctx, const struct fm_task *task,
			      const char *key, const char *env, const char *def)
{
	const char *v = fm_json_get_string(task->parameters, key);
	json_object *n;

	if (v && *v)
		return v;
	if (env && (v = getenv(env)) && *v)
		return v;
	if ((v = fm_json_get_string(ctx->settings, key)))
		return v;
	if (json_object_object_get_ex(ctx->settings, key, &n) &&
	    (json_object_is_type(n, json_type_int) || json_object_is_type(n, json_type_double))) {
		snprintf(ctx->number, sizeof(ctx->number), "%s", json_object_get_string(n));
		return ctx->number;
	}
	return def;
}

static int is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

int fm_setting_number(json_object *v, const char *key, double def, double min, double max,
		      double *out, struct fm_error *err)
{
	double d = def;

	if (v && is_number(v)) {
		d = json_object_get_double(v);
	} else if (v) {
		const char *s = json_object_get_string(v);
		char *end;

		errno = 0;
		d = strtod(s, &end);
		if (end == s || *end || errno)
			return fm_error(err, FM_VALIDATION_ERROR,
					"setting '%s': '%s' is not a number", key, s);
	}
	if (!(d >= min && d <= max))
		return fm_error(err, FM_VALIDATION_ERROR, "setting '%s': %g is not in %g..%g", key,
				d, min, max);
	*out = d;
	return 0;
}

int fm_plugin_number(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *key,
		     double def, double min, double max, double *out, struct fm_error *err)
{
	json_object *v = NULL;

	/* An empty parameter is no parameter (as for fm_plugin_setting). */
	if (json_object_object_get_ex(task->parameters, key, &v) && !is_number(v) &&
	    !(json_object_is_type(v, json_type_string) && *json_object_get_string(v)))
		v = NULL;
	if (!v && json_object_object_get_ex(ctx->settings, key, &v) && !is_number(v) &&
	    !json_object_is_type(v, json_type_string))
		v = NULL;
	return fm_setting_number(v, key, def, min, max, out, err);
}

json_object *fm_plugin_input(const struct fm_task *task, const char *kind, const char *role,
			     const char *also)
{
	size_t i, n = task->resources ? json_object_array_length(task->resources) : 0;
	json_object *first = NULL;

	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(task->resources, i);
		const char *is =
		    fm_json_get_string(fm_json_get(r, "metadata", json_type_object), "role");
		const char *mime = fm_json_get_string(r, "mime_type");
		const char *path = fm_json_get_string(r, "data");

		if (!path)
			continue;
		if (is && (!strcmp(is, role) || (also && !strcmp(is, also))))
			return r;
		if (!first && !strncmp(mime ? mime : fm_mime_from_path(path), kind, strlen(kind)))
			first = r;
	}
	return first;
}

int fm_param_number(json_object *params, const char *key, double def, double min, double max,
		    double *out, struct fm_error *err)
{
	double v = fm_json_get_double(params, key, def);

	if (!(v >= min && v <= max))
		return fm_error(err, FM_VALIDATION_ERROR, "parameter '%s': %g is not in %g..%g",
				key, v, min, max);
	*out = v;
	return 0;
}

int fm_param_even(json_object *params, const char *key, int def, int *out, struct fm_error *err)
{
	double v = 0;

	if (fm_param_number(params, key, def, 16, 4096, &v, err) < 0)
		return -1;
	if (v != floor(v) || (int)v % 2)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter '%s': %g is not an even integer", key, v);
	*out = (int)v;
	return 0;
}

static json_object *result_json(const struct fm_result *res, double elapsed)
{
	json_object *o = json_object_new_object();
	int ok = res->status == FM_STATUS_SUCCESS;

	json_object_object_add(o, "task_id", json_object_new_string(res->task_id));
	json_object_object_add(o, "status",
			       json_object_new_string(ok ? "success"
						      : res->status == FM_STATUS_CANCELLED
							  ? "cancelled"
							  : "error"));
	json_object_object_add(o, "output_files", json_object_get(res->output_files));
	json_object_object_add(o, "output_resources", json_object_get(res->output_resources));
	json_object_object_add(o, "error_message",
			       json_object_new_string(ok ? "" : res->error.message));
	if (!ok)
		json_object_object_add(o, "error", fm_error_to_json(&res->error));
	json_object_object_add(o, "execution_time", fm_json_double(elapsed));
	json_object_object_add(o, "metadata", json_object_get(res->metadata));
	return o;
}

static void execute(struct fm_plugin_ctx *c, struct fm_rpc_msg *m)
{
	const char *dir = fm_json_get_string(m->params, "output_dir");
	struct fm_error err = FM_ERROR_INIT;
	struct fm_result res;
	struct fm_task task;
	double start = fm_now();

	if (fm_task_from_json(&task, m->params, &err) < 0 || !dir) {
		send_msg(c, fm_rpc_error(json_object_get(m->id), FM_RPC_INVALID_PARAMS,
					 dir ? err.message : "output_dir is missing", NULL));
		fm_task_release(&task);
		fm_error_release(&err);
		return;
	}
	fm_result_init(&res, task.task_id);
	c->task_id = task.task_id;
	c->settings = fm_json_get(m->params, "settings", json_type_object);
	c->cancelled = 0;
	c->percent = 0;
	if (c->def->execute(c, &task, dir, &res) < 0) {
		res.status = FM_STATUS_ERROR;
		if (!res.error.code)
			fm_error(&res.error, FM_PLUGIN_EXECUTION_ERROR, "%s",
				 res.error.message[0] ? res.error.message : "the task failed");
	} else {
		res.status = FM_STATUS_SUCCESS;
	}
	if (c->cancelled && res.status != FM_STATUS_SUCCESS) {
		res.status = FM_STATUS_CANCELLED;
		fm_error(&res.error, FM_TASK_CANCELLED, "task '%s' was cancelled", task.task_id);
	}
	send_msg(c, fm_rpc_result(json_object_get(m->id), result_json(&res, fm_now() - start)));
	c->task_id = NULL;
	c->settings = NULL;
	fm_result_release(&res);
	fm_task_release(&task);
}

int fm_plugin_main(int argc, char **argv, const struct fm_plugin_def *def)
{
	(void)argc;
	fm_msg_init(argv[0]);
	/* The keys a plugin was given are its own: no other plugin reads them in /proc. */
	fm_secrets_hide();
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Past a file size limit (ulimit -f) a write then fails with EFBIG,
	 * which the handler reports and cleans up after (its temporary
	 * files), instead of the process dying by SIGXFSZ in mid-write.
	 */
	signal(SIGXFSZ, SIG_IGN);
	return fm_plugin_serve(def, 0, 1, 2);
}

int fm_plugin_serve(const struct fm_plugin_def *def, int in, int out, int log)
{
	struct fm_plugin_ctx c = {.def = def, .log_fd = log};
	enum fm_line got;
	char *line;
	size_t len;

	fm_reader_init(&c.in, in, FM_LINE_MAX);
	fm_writer_init(&c.out, out);
	send_msg(&c, fm_rpc_notification("ready", info(def)));
	while (!c.shutdown && (got = fm_reader_next(&c.in, &line, &len)) != FM_LINE_NONE) {
		struct fm_error err = FM_ERROR_INIT;
		struct fm_rpc_msg m;

		if (got == FM_LINE_ERROR)
			break;
		if (got == FM_LINE_LONG) {
			send_msg(&c, fm_rpc_error(json_object_new_null(), FM_RPC_INVALID_REQUEST,
						  "request line too long", NULL));
			continue;
		}
		if (fm_rpc_parse(line, len, &m, &err) < 0) {
			send_msg(&c, fm_rpc_error(NULL, FM_RPC_PARSE_ERROR, err.message, NULL));
			fm_error_release(&err);
			continue;
		}
		if (m.kind == FM_RPC_NOTIFICATION)
			on_notification(&c, &m);
		else if (m.kind == FM_RPC_REQUEST && !strcmp(m.method, "execute_task"))
			execute(&c, &m);
		else if (m.kind == FM_RPC_REQUEST && !answer_simple(&c, &m))
			send_msg(&c, fm_rpc_error(json_object_get(m.id), FM_RPC_METHOD_NOT_FOUND,
						  "no such method", NULL));
		fm_rpc_msg_release(&m);
	}
	fm_reader_release(&c.in);
	fm_writer_release(&c.out);
	return 0;
}
