/*
 * The host side of the plugin protocol. One struct fm_host is one plugin
 * process: started lazily, handshaken through its `ready` notification,
 * then given tasks one at a time. Everything the plugin says is read
 * with poll(2) against deadlines, so a plugin that hangs, dies, floods its
 * log or writes garbage ends in one clear error rather than a hang.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"
#include "rpc.h"
#include "util.h"

/* Host variables every plugin gets besides those its manifest names. */
static const char *const base_env[] = {"PATH", "HOME",	 "LANG",       "LC_ALL", "LC_CTYPE",
				       "TZ",   "TMPDIR", "PYTHONPATH", NULL};

struct io {
	struct fm_host *h;
	const char *task_id;
	fm_emit_fn *emit;
	void *ctx;
};

enum { GOT_LINE = 1, GOT_TIMEOUT = 0, GOT_EOF = -1, GOT_LONG = -2 };

void fm_host_init(struct fm_host *h, const struct fm_manifest *m)
{
	memset(h, 0, sizeof(*h));
	h->manifest = m;
	h->next_id = 1;
	fm_proc_init(&h->proc);
}

static void env_add(char ***env, size_t *n, const char *name, const char *value)
{
	*env = fm_xrealloc(*env, (*n + 2) * sizeof(char *));
	(*env)[(*n)++] = fm_xasprintf("%s=%s", name, value);
	(*env)[*n] = NULL;
}

static char **plugin_env(const struct fm_manifest *m)
{
	char **env = NULL;
	size_t i, n = 0;

	env_add(&env, &n, "FILMETO_PLUGIN_DIR", m->dir);
	/* Python plugins must not sit on buffered protocol lines. */
	env_add(&env, &n, "PYTHONUNBUFFERED", "1");
	for (i = 0; base_env[i]; i++)
		if (getenv(base_env[i]))
			env_add(&env, &n, base_env[i], getenv(base_env[i]));
	for (i = 0; i < json_object_array_length(m->env); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(m->env, i));

		if (getenv(name))
			env_add(&env, &n, name, getenv(name));
	}
	return env;
}

static void free_strv(char **v)
{
	char **p;

	for (p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* "./main" is the plugin directory's, not ours. */
static char **plugin_argv(const struct fm_manifest *m)
{
	size_t i, n = 0;
	char **argv;

	while (m->argv[n])
		n++;
	argv = fm_xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		argv[i] = fm_xstrdup(m->argv[i]);
	if (strchr(argv[0], '/') && argv[0][0] != '/') {
		char *abs = fm_xasprintf("%s/%s", m->dir, argv[0]);

		free(argv[0]);
		argv[0] = abs;
	}
	return argv;
}

static void remember(struct fm_host *h, const char *line)
{
	unsigned slot = h->ntail % FM_STDERR_TAIL;

	free(h->tail[slot]);
	h->tail[slot] = fm_xstrdup(line);
	h->ntail++;
}

static json_object *tail_json(const struct fm_host *h)
{
	json_object *a = json_object_new_array();
	unsigned i = h->ntail > FM_STDERR_TAIL ? h->ntail - FM_STDERR_TAIL : 0;

	for (; i < h->ntail; i++)
		json_object_array_add(a, json_object_new_string(h->tail[i % FM_STDERR_TAIL]));
	return a;
}

static void emit_log(struct io *io, const char *level, const char *message)
{
	json_object *ev;

	if (!io->emit)
		return;
	ev = fm_event_new("log", io->task_id);
	json_object_object_add(ev, "level", json_object_new_string(level));
	json_object_object_add(ev, "message", json_object_new_string(message));
	io->emit(io->ctx, ev);
	json_object_put(ev);
}

/* One stderr line: kept for error reports, forwarded while under budget. */
static void log_line(struct io *io, char *line, size_t len)
{
	struct fm_host *h = io->h;

	if (len > FM_LOG_LINE_MAX)
		line[FM_LOG_LINE_MAX] = '\0';
	remember(h, line);
	if (h->nlogs < FM_LOG_LINES)
		emit_log(io, "info", line);
	else if (h->nlogs == FM_LOG_LINES)
		emit_log(io, "warning", "plugin log truncated: further lines are dropped");
	h->nlogs++;
}

static void read_stderr(struct io *io)
{
	struct fm_reader *r = &io->h->err;
	enum fm_line got;
	char *line;
	size_t len;

	if (io->h->proc.err < 0)
		return;
	for (;;) {
		while ((got = fm_reader_take(r, &line, &len)) != FM_LINE_NONE) {
			if (got == FM_LINE_OK) {
				log_line(io, line, len);
			} else {
				char note[] = "(a log line too long to keep was dropped)";

				log_line(io, note, sizeof(note) - 1);
			}
		}
		if (r->eof || fm_reader_fill(r) <= 0)
			break;
	}
}

/*
 * Plain text on stdout (a print() left in a Python plugin) is not an
 * attempt at the protocol: it is logged as a warning. A line that starts
 * like JSON but is not JSON-RPC is a broken plugin.
 */
static int stray(struct io *io, char *line, size_t len)
{
	size_t i = strspn(line, " \t");

	if (i < len && line[i] == '{')
		return 0;
	if (i < len) {
		io->h->nlogs++;
		remember(io->h, line);
		if (io->h->nlogs <= FM_LOG_LINES)
			emit_log(io, "warning", line);
	}
	return 1;
}

/* The next stdout line before deadline, logging stderr meanwhile. */
static int next_line(struct io *io, double deadline, char **line, size_t *len)
{
	struct fm_host *h = io->h;

	for (;;) {
		struct pollfd fds[2] = {{h->proc.out, POLLIN, 0}, {h->proc.err, POLLIN, 0}};
		enum fm_line got = fm_reader_take(&h->out, line, len);
		double left = deadline - fm_now();
		int n;

		if (got == FM_LINE_OK)
			return GOT_LINE;
		if (got == FM_LINE_LONG)
			return GOT_LONG;
		if (h->out.eof)
			return GOT_EOF;
		if (left <= 0)
			return GOT_TIMEOUT;
		n = poll(fds, h->proc.err >= 0 ? 2 : 1, (int)ceil(left * 1000));
		if (n < 0 && errno != EINTR)
			return GOT_EOF;
		if (fds[1].revents)
			read_stderr(io);
		if (fds[0].revents && fm_reader_fill(&h->out) < 0 && errno != EAGAIN)
			h->out.eof = 1;
	}
}

/*
 * The plugin can no longer be trusted: kill it, and describe how it ended
 * with its exit status and last stderr lines.
 */
static int broke(struct io *io, struct fm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int broke(struct io *io, struct fm_error *err, const char *fmt, ...)
{
	struct fm_host *h = io->h;
	char msg[FM_ERROR_MAX / 2], how[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->dead = 1;
	/* A plugin that closed stdout is usually exiting: let it finish. */
	if (!fm_proc_wait(&h->proc, h->out.eof ? 1.0 : 0)) {
		fm_proc_signal(&h->proc, SIGKILL);
		fm_proc_wait(&h->proc, 5.0);
	}
	read_stderr(io);
	fm_proc_describe(&h->proc, how, sizeof(how));
	fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "plugin '%s' %s; it %s", h->manifest->name, msg,
		 how);
	if (WIFEXITED(h->proc.status))
		fm_error_detail(err, "exit_status",
				json_object_new_int(WEXITSTATUS(h->proc.status)));
	else if (WIFSIGNALED(h->proc.status))
		fm_error_detail(err, "signal", json_object_new_int(WTERMSIG(h->proc.status)));
	fm_error_detail(err, "stderr", tail_json(h));
	fm_proc_stop(&h->proc, 0);
	return -1;
}

/* Writes one message, reading the plugin's output meanwhile. */
static int send_msg(struct io *io, json_object *msg, double deadline, struct fm_error *err)
{
	struct fm_host *h = io->h;
	const char *s = fm_json_str(msg);
	size_t len = strlen(s), off = 0;
	char *line = fm_xasprintf("%s\n", s);
	int rc = 0;

	len++;
	while (off < len) {
		ssize_t n = write(h->proc.in, line + off, len - off);
		struct pollfd fds[2] = {{h->proc.in, POLLOUT, 0}, {h->proc.err, POLLIN, 0}};

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			rc = broke(io, err, "stopped reading its input");
			break;
		}
		if (fm_now() >= deadline) {
			rc = broke(io, err, "did not read its input in time");
			break;
		}
		if (poll(fds, 2, 100) > 0 && fds[1].revents)
			read_stderr(io);
	}
	free(line);
	return rc;
}

static int wait_ready(struct io *io, struct fm_error *err)
{
	struct fm_host *h = io->h;
	double deadline = fm_now() + h->manifest->startup_timeout;

	for (;;) {
		struct fm_error perr = FM_ERROR_INIT;
		struct fm_rpc_msg msg;
		char *line;
		size_t len;
		int got = next_line(io, deadline, &line, &len);

		if (got == GOT_TIMEOUT)
			return broke(io, err,
				     "sent no ready notification within %gs (startup.timeout)",
				     h->manifest->startup_timeout);
		if (got == GOT_EOF)
			return broke(io, err, "exited before it was ready");
		if (got == GOT_LONG)
			return broke(io, err, "sent a line longer than %d bytes", FM_LINE_MAX);
		if (stray(io, line, len))
			continue;
		if (fm_rpc_parse(line, len, &msg, &perr) < 0)
			return broke(io, err,
				     "sent something that is not JSON-RPC before ready (%s): %.80s",
				     perr.message, line);
		if (msg.kind == FM_RPC_NOTIFICATION && !strcmp(msg.method, "ready")) {
			h->info = fm_json_ref_or_object(msg.params);
			fm_rpc_msg_release(&msg);
			return 0;
		}
		fm_rpc_msg_release(&msg);
	}
}

int fm_host_start(struct fm_host *h, const char *task_id, fm_emit_fn *emit, void *ctx,
		  struct fm_error *err)
{
	struct io io = {h, task_id, emit, ctx};
	char **argv = plugin_argv(h->manifest), **env = plugin_env(h->manifest);
	int rc;

	h->nlogs = 0;
	rc = fm_proc_spawn(&h->proc, argv, h->manifest->dir, env, err);
	free_strv(argv);
	free_strv(env);
	if (rc < 0) {
		h->dead = 1;
		return rc;
	}
	fm_reader_init(&h->out, h->proc.out, FM_LINE_MAX);
	fm_reader_init(&h->err, h->proc.err, FM_LOG_LINE_MAX * 2);
	return wait_ready(&io, err);
}

static void forward_progress(struct io *io, const char *type, json_object *params)
{
	json_object *ev = fm_event_new(type, io->task_id), *v;
	static const char *const keys[] = {"message", "stage", "data", NULL};
	size_t i;

	if (!strcmp(type, "progress")) {
		double pct = fm_json_get_double(params, "percent", 0);

		pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
		json_object_object_add(ev, "percent", json_object_new_double(pct));
		for (i = 0; keys[i]; i++)
			if (json_object_object_get_ex(params, keys[i], &v))
				json_object_object_add(ev, keys[i], json_object_get(v));
	}
	io->emit(io->ctx, ev);
	json_object_put(ev);
}

/* Adds path (relative ones are output_dir's) once, with a resource entry. */
static int add_output(struct fm_result *res, const char *path, const char *output_dir,
		      struct fm_error *err)
{
	char *abs = path[0] == '/' ? fm_xstrdup(path) : fm_xasprintf("%s/%s", output_dir, path);
	json_object *r;
	struct stat st;
	size_t i;
	const char *mime;

	for (i = 0; i < json_object_array_length(res->output_files); i++) {
		if (!strcmp(json_object_get_string(json_object_array_get_idx(res->output_files, i)),
			    abs)) {
			free(abs);
			return 0;
		}
	}
	if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "output file '%s' does not exist", abs);
		free(abs);
		return -1;
	}
	mime = fm_mime_from_path(abs);
	r = json_object_new_object();
	json_object_object_add(r, "type", json_object_new_string(fm_media_kind(mime)));
	json_object_object_add(r, "path", json_object_new_string(abs));
	json_object_object_add(r, "mime_type", json_object_new_string(mime));
	json_object_object_add(r, "size", json_object_new_int64((int64_t)st.st_size));
	json_object_object_add(r, "metadata", json_object_new_object());
	json_object_array_add(res->output_resources, r);
	fm_result_add_file(res, abs);
	free(abs);
	return 0;
}

static int collect_outputs(json_object *result, const char *output_dir, struct fm_result *res,
			   struct fm_error *err)
{
	json_object *files = fm_json_get(result, "output_files", json_type_array);
	json_object *resources = fm_json_get(result, "output_resources", json_type_array);
	size_t i;

	for (i = 0; files && i < json_object_array_length(files); i++) {
		json_object *f = json_object_array_get_idx(files, i);

		if (!json_object_is_type(f, json_type_string))
			return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
					"output_files[%zu] is not a path", i);
		if (add_output(res, json_object_get_string(f), output_dir, err) < 0)
			return -1;
	}
	for (i = 0; resources && i < json_object_array_length(resources); i++) {
		const char *p = fm_json_get_string(json_object_array_get_idx(resources, i), "path");

		if (p && add_output(res, p, output_dir, err) < 0)
			return -1;
	}
	return 0;
}

/* A TaskResult (DESIGN §3) into res. */
static void take_result(struct fm_host *h, json_object *result, const char *output_dir,
			struct fm_result *res)
{
	const char *status = fm_json_get_string(result, "status");
	const char *message = fm_json_get_string(result, "error_message");
	json_object *eobj = fm_json_get(result, "error", json_type_object), *meta;

	if ((meta = fm_json_get(result, "metadata", json_type_object))) {
		json_object_put(res->metadata);
		res->metadata = json_object_get(meta);
	}
	if (!json_object_is_type(result, json_type_object) || !status) {
		res->status = FM_STATUS_ERROR;
		fm_error(&res->error, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' answered without a result status", h->manifest->name);
		return;
	}
	if (!strcmp(status, "success")) {
		res->status = FM_STATUS_SUCCESS;
		if (collect_outputs(result, output_dir, res, &res->error) < 0)
			res->status = FM_STATUS_ERROR;
		return;
	}
	res->status = !strcmp(status, "cancelled") ? FM_STATUS_CANCELLED : FM_STATUS_ERROR;
	if (eobj)
		fm_error_from_json(&res->error, eobj, FM_PLUGIN_EXECUTION_ERROR);
	else
		fm_error(&res->error,
			 res->status == FM_STATUS_CANCELLED ? FM_TASK_CANCELLED
							    : FM_PLUGIN_EXECUTION_ERROR,
			 "%s", message && *message ? message : "the plugin reported an error");
	if (!res->error.message[0])
		fm_error(&res->error, res->error.code, "%s",
			 message ? message : "the plugin reported an error");
}

static json_object *request_params(const struct fm_task *task, const char *output_dir)
{
	json_object *p = fm_task_to_json(task);

	json_object_object_del(p, "type");
	json_object_object_add(p, "output_dir", json_object_new_string(output_dir));
	/* The Filmeto project's Python plugins read the tool from here. */
	json_object_object_add(p, "ability", json_object_new_string(task->tool_name));
	return p;
}

/* Answers what the plugin asks of us; only ping-like courtesy for now. */
static void answer_request(struct io *io, struct fm_rpc_msg *msg, double deadline)
{
	json_object *reply = fm_rpc_error(json_object_get(msg->id), FM_RPC_METHOD_NOT_FOUND,
					  "the host serves no methods", NULL);
	struct fm_error ignored = FM_ERROR_INIT;

	send_msg(io, reply, deadline, &ignored);
	json_object_put(reply);
	fm_error_release(&ignored);
}

/* Returns 1 when msg finished the task, 0 to go on. */
static int handle(struct io *io, struct fm_rpc_msg *msg, int64_t id, const char *output_dir,
		  double deadline, struct fm_result *res)
{
	if (msg->kind == FM_RPC_NOTIFICATION) {
		if (!strcmp(msg->method, "progress") || !strcmp(msg->method, "heartbeat"))
			forward_progress(io, msg->method, msg->params);
		return 0;
	}
	if (msg->kind == FM_RPC_REQUEST) {
		answer_request(io, msg, deadline);
		return 0;
	}
	if (!fm_rpc_id_is(msg, id))
		return 0; /* a late answer to an earlier request */
	if (msg->kind == FM_RPC_ERROR) {
		res->status = FM_STATUS_ERROR;
		fm_error(&res->error, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' answered with JSON-RPC error %lld: %s", io->h->manifest->name,
			 (long long)msg->error_code, msg->error_message);
		if (msg->error_data)
			fm_error_detail(&res->error, "data", json_object_get(msg->error_data));
		return 1;
	}
	take_result(io->h, msg->result, output_dir, res);
	return 1;
}

int fm_host_execute(struct fm_host *h, const struct fm_task *task, const char *output_dir,
		    double timeout, fm_emit_fn *emit, void *ctx, struct fm_result *res)
{
	struct io io = {h, task->task_id, emit, ctx};
	double start = fm_now(), deadline = start + timeout;
	int64_t id = h->next_id++;
	json_object *req = fm_rpc_request(id, "execute_task", request_params(task, output_dir));
	int rc = 0, done = 0;

	h->nlogs = 0;
	if (send_msg(&io, req, deadline, &res->error) < 0)
		done = rc = -1;
	json_object_put(req);
	while (!done) {
		struct fm_error perr = FM_ERROR_INIT;
		struct fm_rpc_msg msg;
		char *line;
		size_t len;
		int got = next_line(&io, deadline, &line, &len);

		if (got == GOT_TIMEOUT) {
			rc = broke(&io, &res->error, "did not finish within %gs", timeout);
			res->error.code = FM_TIMEOUT_ERROR;
			snprintf(res->error.message, sizeof(res->error.message),
				 "task '%s' timed out after %gs; plugin '%s' was stopped",
				 task->task_id, timeout, h->manifest->name);
			break;
		}
		if (got == GOT_EOF) {
			rc = broke(&io, &res->error, "exited before answering");
			break;
		}
		if (got == GOT_LONG) {
			rc = broke(&io, &res->error, "sent a line longer than %d bytes",
				   FM_LINE_MAX);
			break;
		}
		if (stray(&io, line, len))
			continue;
		if (fm_rpc_parse(line, len, &msg, &perr) < 0) {
			rc = broke(&io, &res->error,
				   "sent something that is not JSON-RPC (%s): %.80s", perr.message,
				   line);
			break;
		}
		done = handle(&io, &msg, id, output_dir, deadline, res);
		fm_rpc_msg_release(&msg);
	}
	if (rc < 0)
		res->status = FM_STATUS_ERROR;
	res->execution_time = fm_now() - start;
	return rc;
}

void fm_host_release(struct fm_host *h)
{
	unsigned i;

	if (h->proc.pid > 0 && !h->proc.reaped && h->proc.in >= 0) {
		json_object *bye = fm_rpc_notification("shutdown", NULL);
		const char *s = fm_json_str(bye);
		char *line = fm_xasprintf("%s\n", s);

		/* Best effort: closing stdin says the same thing. */
		(void)!write(h->proc.in, line, strlen(line));
		free(line);
		json_object_put(bye);
	}
	fm_proc_stop(&h->proc, FM_SHUTDOWN_GRACE);
	fm_reader_release(&h->out);
	fm_reader_release(&h->err);
	json_object_put(h->info);
	for (i = 0; i < FM_STDERR_TAIL; i++)
		free(h->tail[i]);
	memset(h, 0, sizeof(*h));
	fm_proc_init(&h->proc);
}
