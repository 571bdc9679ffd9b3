/*
 * comfyui: text2image, image2image, image2video and text2video on a
 * ComfyUI server. A task fills a workflow template (API-format JSON with
 * "{{name}}" placeholders, share/filmeto/workflows/TOOL.json or the
 * task's own) from its parameters, uploads its input image with POST
 * /upload/image, queues the graph with POST /prompt and follows it on the
 * WebSocket /ws?clientId=ID, opened before the prompt is posted so no
 * message is missed. Where no WebSocket can be had (a proxy that does not
 * upgrade, a dropped connection), GET /history/ID is polled instead. The
 * files the output nodes saved are fetched with GET /view.
 *
 * A cancel or a timeout interrupts the prompt on the server (POST
 * /interrupt) before the task ends: a GPU left rendering for nobody is
 * the costliest leak a client can have.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "filmeto.h"
#include "template.h"
#include "ws.h"

#ifndef FM_PREFIX
#define FM_PREFIX "/usr/local"
#endif

#define DEFAULT_ENDPOINT "http://127.0.0.1:8188"
/* Checkpoints the bundled templates name when no model is set. */
#define DEFAULT_IMAGE_MODEL "v1-5-pruned-emaonly.safetensors"
#define DEFAULT_SVD_MODEL   "svd_xt.safetensors"
#define DEFAULT_WAN_MODEL   "wan2.1_t2v_1.3B_fp16.safetensors"
/* Largest workflow template read, in bytes. */
#define WORKFLOW_MAX (16 * 1024 * 1024)
/* Longest wait for one WebSocket message before cancel is checked again. */
#define WS_WAIT_MS 100
/* Seconds to connect the WebSocket (and be greeted on it) before falling
 * back to polling. */
#define WS_CONNECT_TIMEOUT 10
/* Seconds of silence on the WebSocket after which /history is looked at once. */
#define WS_SILENT_CHECK 10.0
/* Default seconds between GET /history polls, and the bounds of the setting. */
#define POLL_INTERVAL 1.0
#define POLL_MIN      0.01
#define POLL_MAX      60.0
/* Default seconds a prompt may take from queued to done. */
#define GENERATION_TIMEOUT 3600
/* Seconds a POST /interrupt may take; the task is over either way. */
#define INTERRUPT_TIMEOUT 5
/* Seconds of silence after which a heartbeat goes to the host. */
#define HEARTBEAT_EVERY 5.0
/* Output files fetched per task at most. */
#define MAX_OUTPUTS 64
/* Longest output file name kept. */
#define NAME_MAX_LEN 200
/* Random seeds stay below 2^48: exact as JSON numbers in every client. */
#define SEED_MAX ((int64_t)1 << 48)
/* Output keys of ComfyUI's save nodes (SaveImage, SaveVideo, VHS, audio). */
static const char *const output_keys[] = {"images", "gifs", "videos", "audio", NULL};

/* One HTTP handle for the process: connections stay alive across tasks. */
static struct fm_http http;
static int http_ready;

struct job {
	struct fm_plugin_ctx *ctx;
	const struct fm_task *task;
	json_object *graph;   /* the filled workflow */
	json_object *outputs; /* node id -> output, from executed messages */
	char client_id[33];
	char *prompt_id;
	double deadline;
	double poll;
	double last_beat;
	double percent; /* of the node running: messages between steps keep it */
	struct fm_plugin_retry retry;
};

/* -- settings and templates ---------------------------------------------- */

/* Where templates are: beside the plugin in the build tree, then installed. */
static char *find_workflow(const char *name)
{
	const char *pdir = getenv("FILMETO_PLUGIN_DIR");
	char *exe = fm_exe_dir(), *dirs[3], *found = NULL;
	size_t i, n = 0;

	if (pdir && *pdir)
		dirs[n++] = fm_xasprintf("%s/../../share/filmeto/workflows", pdir);
	if (exe)
		dirs[n++] = fm_xasprintf("%s/../../share/filmeto/workflows", exe);
	dirs[n++] = fm_xstrdup(FM_PREFIX "/share/filmeto/workflows");
	for (i = 0; i < n; i++) {
		char *path =
		    fm_xasprintf("%s/%s%s", dirs[i], name, strstr(name, ".json") ? "" : ".json");

		if (!found && access(path, R_OK) == 0)
			found = realpath(path, NULL);
		free(path);
		free(dirs[i]);
	}
	free(exe);
	return found;
}

/*
 * The workflow: the parameter `workflow` as inline JSON (what
 * `-p workflow=@file.json` gives), an absolute path, or a template name;
 * else the tool's own template.
 */
static int load_workflow(const struct fm_task *t, json_object **out, char **label,
			 struct fm_error *err)
{
	const char *w = fm_json_get_string(t->parameters, "workflow");
	char *path = NULL, *buf = NULL;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (w && *w == '{') {
		*label = fm_xstrdup("inline");
		if (fm_json_parse(w, strlen(w), out, err) < 0)
			goto bad;
		goto check;
	}
	if (w && strchr(w, '/')) {
		if (*w != '/')
			return fm_error(
			    err, FM_VALIDATION_ERROR,
			    "parameter 'workflow': '%s' is relative; give an absolute "
			    "path, a template name or the JSON itself (-p workflow=@FILE)",
			    w);
		path = fm_xstrdup(w);
	} else {
		const char *name = w && *w ? w : t->tool_name;

		if (!strcmp(name, ".") || !strcmp(name, "..") || !(path = find_workflow(name)))
			return fm_error(
			    err, FM_VALIDATION_ERROR,
			    "no workflow template named '%s' (looked in "
			    "share/filmeto/workflows beside the plugin and in " FM_PREFIX
			    "/share/filmeto/workflows)",
			    name);
	}
	*label = fm_xstrdup(path);
	if (fm_read_file(path, WORKFLOW_MAX, &buf, &len, err) < 0) {
		err->code = FM_VALIDATION_ERROR;
		goto out;
	}
	if (fm_json_parse(buf, len, out, err) < 0)
		goto bad;
check:
	/* API format: {"id": {"class_type": …, "inputs": {…}}, …}. */
	if (!json_object_is_type(*out, json_type_object) || !json_object_object_length(*out))
		goto bad;
	json_object_object_foreach (*out, id, node) {
		if (!fm_json_get_string(node, "class_type") ||
		    !fm_json_get(node, "inputs", json_type_object)) {
			fm_error(err, FM_VALIDATION_ERROR,
				 "workflow '%s': node '%s' has no class_type or inputs (save it "
				 "with \"Export (API)\")",
				 *label, id);
			goto out;
		}
	}
	rc = 0;
	goto out;
bad:
	fm_error(err, FM_VALIDATION_ERROR,
		 "workflow '%s' is not an API-format ComfyUI workflow%s%s", *label,
		 err->message[0] ? ": " : "", err->message[0] ? err->message : "");
out:
	if (rc < 0) {
		json_object_put(*out);
		*out = NULL;
	}
	free(path);
	free(buf);
	return rc;
}

static const char *default_model(const char *tool)
{
	if (!strcmp(tool, "image2video"))
		return DEFAULT_SVD_MODEL;
	if (!strcmp(tool, "text2video"))
		return DEFAULT_WAN_MODEL;
	return DEFAULT_IMAGE_MODEL;
}

static int64_t random_seed(void)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	return (int64_t)(r % (uint64_t)SEED_MAX);
}

/* The values placeholders are filled from: the parameters and what is worked out. */
static json_object *template_vars(struct job *j, const char *image, int64_t seed)
{
	json_object *vars = json_object_new_object();
	const char *model =
	    fm_plugin_setting(j->ctx, j->task, "model", NULL, default_model(j->task->tool_name));

	json_object_object_foreach (j->task->parameters, k, v) {
		json_object_object_add(vars, k, json_object_get(v));
	}
	json_object_object_add(vars, "seed", json_object_new_int64(seed));
	json_object_object_add(vars, "model", json_object_new_string(model));
	json_object_object_add(vars, "checkpoint", json_object_new_string(model));
	if (image)
		json_object_object_add(vars, "image", json_object_new_string(image));
	return vars;
}

/* -- HTTP pieces --------------------------------------------------------- */

static int setup_http(struct job *j, struct fm_error *err)
{
	struct fm_plugin_ctx *ctx = j->ctx;
	const struct fm_task *t = j->task;
	const char *endpoint =
	    fm_plugin_setting(ctx, t, "endpoint", "COMFYUI_URL", DEFAULT_ENDPOINT);
	double timeout, retries, backoff, wait;

	if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))
		return fm_error(err, FM_VALIDATION_ERROR,
				"endpoint '%s' is not an http:// or https:// URL", endpoint);
	if (!http_ready) {
		if (fm_http_init(&http, endpoint, NULL, err) < 0)
			return -1;
		http_ready = 1;
	} else {
		fm_http_rebase(&http, endpoint, NULL);
	}
	if (fm_plugin_number(ctx, t, "timeout", FM_HTTP_TIMEOUT, 0.1, 86400, &timeout, err) < 0 ||
	    fm_plugin_number(ctx, t, "retries", FM_HTTP_RETRIES, 0, 20, &retries, err) < 0 ||
	    fm_plugin_number(ctx, t, "backoff", FM_HTTP_BACKOFF, 0, 60, &backoff, err) < 0 ||
	    fm_plugin_number(ctx, t, "generation_timeout", GENERATION_TIMEOUT, 0.1, 7 * 86400,
			     &wait, err) < 0 ||
	    fm_plugin_number(ctx, t, "poll_interval", POLL_INTERVAL, POLL_MIN, POLL_MAX, &j->poll,
			     err) < 0)
		return -1;
	/* libcurl counts whole seconds; a fraction still bounds the wait below. */
	http.timeout = timeout < 1 ? 1 : (long)timeout;
	http.retries = (int)retries;
	http.backoff = backoff;
	j->retry = (struct fm_plugin_retry){
	    .ctx = ctx, .percent = 0, .stage = "queue", .service = "ComfyUI"};
	fm_plugin_http(&http, &j->retry);
	j->deadline = fm_now() + wait;
	return 0;
}

static void tell_interrupt(struct job *j)
{
	struct fm_http_req r = {.url = "/interrupt", .no_retry = 1};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_http_resp resp;
	long timeout = http.timeout;

	if (!j->prompt_id)
		return;
	r.json = json_object_new_object();
	json_object_object_add(r.json, "prompt_id", json_object_new_string(j->prompt_id));
	/* The task is being cancelled: this one request must not be. */
	http.cancelled = NULL;
	http.timeout = INTERRUPT_TIMEOUT;
	if (fm_http_do(&http, &r, &resp, &e) < 0)
		fm_plugin_log(j->ctx, "cannot interrupt prompt %s: %s", j->prompt_id, e.message);
	http.cancelled = fm_plugin_cancel_check;
	http.timeout = timeout;
	fm_http_resp_release(&resp);
	fm_error_release(&e);
	json_object_put(r.json);
}

/*
 * POST /upload/image; *name is what LoadImage takes: "subfolder/name".
 * The upload is named after the task, so tasks never overwrite each
 * other's inputs on a shared server.
 */
static int upload(struct job *j, const char *path, char **name, struct fm_error *err)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *remote = fm_xasprintf("%s-%s", j->task->task_id, base);
	curl_mime *m = fm_http_mime(&http);
	curl_mimepart *p = curl_mime_addpart(m);
	struct fm_http_req r = {.url = "/upload/image"};
	struct fm_http_resp resp = {0};
	json_object *reply = NULL;
	const char *got, *sub;
	int rc = -1;

	fm_plugin_progress(j->ctx, 0, "upload", "uploading the input image");
	if (access(path, R_OK) != 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot read input image '%s':", path);
		goto out;
	}
	curl_mime_name(p, "image");
	curl_mime_filedata(p, path);
	curl_mime_filename(p, remote);
	curl_mime_type(p, fm_mime_from_path(path));
	fm_http_mime_text(m, "overwrite", "true");
	fm_http_mime_text(m, "type", "input");
	fm_http_mime_text(m, "subfolder", "filmeto");
	r.mime = m;
	if (fm_http_do(&http, &r, &resp, err) < 0)
		goto out;
	if (fm_json_parse(resp.body, resp.len, &reply, NULL) < 0 ||
	    !(got = fm_json_get_string(reply, "name")) || !*got) {
		fm_error(err, FM_SERVICE_ERROR,
			 "/upload/image answered %ld without a JSON {\"name\": …} (%s)",
			 resp.status, resp.content_type ? resp.content_type : "no content type");
		goto out;
	}
	sub = fm_json_get_string(reply, "subfolder");
	*name = sub && *sub ? fm_xasprintf("%s/%s", sub, got) : fm_xstrdup(got);
	rc = 0;
out:
	fm_http_resp_release(&resp);
	json_object_put(reply);
	curl_mime_free(m);
	free(remote);
	return rc;
}

/* A 400 from /prompt with node_errors: which nodes, and why. */
static void node_errors(struct fm_error *err)
{
	json_object *body = fm_json_get(err->details, "body", json_type_object);
	json_object *nodes = fm_json_get(body, "node_errors", json_type_object);
	json_object *e = fm_json_get(body, "error", json_type_object);
	json_object *list = json_object_new_array();
	char msg[FM_ERROR_MAX];
	size_t off;

	if (!nodes && !e) {
		json_object_put(list);
		return;
	}
	off = (size_t)snprintf(msg, sizeof(msg), "ComfyUI rejected the workflow: %s",
			       fm_json_get_string(e, "message") ? fm_json_get_string(e, "message")
								: "invalid prompt");
	if (fm_json_get_string(e, "details") && *fm_json_get_string(e, "details") &&
	    off < sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, " (%s)",
					fm_json_get_string(e, "details"));
	json_object_object_foreach (nodes, id, node) {
		json_object *errs = fm_json_get(node, "errors", json_type_array);
		json_object *first = errs ? json_object_array_get_idx(errs, 0) : NULL;
		json_object *item = json_object_new_object();
		const char *type = fm_json_get_string(node, "class_type");

		json_object_object_add(item, "node_id", json_object_new_string(id));
		json_object_object_add(item, "class_type",
				       json_object_new_string(type ? type : ""));
		json_object_object_add(item, "errors", fm_json_ref_or_array(errs));
		json_object_array_add(list, item);
		if (off < sizeof(msg))
			off += (size_t)snprintf(msg + off, sizeof(msg) - off,
						"; node %s (%s): %s%s%s", id, type ? type : "?",
						fm_json_get_string(first, "message")
						    ? fm_json_get_string(first, "message")
						    : "invalid",
						fm_json_get_string(first, "details") ? ": " : "",
						fm_json_get_string(first, "details")
						    ? fm_json_get_string(first, "details")
						    : "");
	}
	snprintf(err->message, sizeof(err->message), "%s", msg);
	err->code = FM_VALIDATION_ERROR;
	fm_error_detail(err, "nodes", list);
}

static int post_prompt(struct job *j, struct fm_error *err)
{
	json_object *body = json_object_new_object(), *reply = NULL;
	const char *id;
	int rc = -1;

	json_object_object_add(body, "prompt", json_object_get(j->graph));
	json_object_object_add(body, "client_id", json_object_new_string(j->client_id));
	if (fm_http_json(&http, "POST", "/prompt", NULL, body, &reply, err) < 0) {
		if (err->code == FM_VALIDATION_ERROR)
			node_errors(err);
		goto out;
	}
	if (!(id = fm_json_get_string(reply, "prompt_id")) || !*id || strlen(id) > 256) {
		fm_error(err, FM_SERVICE_ERROR, "/prompt answered without a prompt_id: %s",
			 fm_json_str(reply));
		goto out;
	}
	if (json_object_object_length(fm_json_get(reply, "node_errors", json_type_object))) {
		fm_error(err, FM_VALIDATION_ERROR, "ComfyUI queued the prompt with node errors");
		fm_error_detail(err, "body", json_object_get(reply));
		node_errors(err);
		goto out;
	}
	j->prompt_id = fm_xstrdup(id);
	rc = 0;
out:
	json_object_put(body);
	json_object_put(reply);
	return rc;
}

/* -- following the prompt ------------------------------------------------ */

static const char *class_of(struct job *j, const char *node)
{
	json_object *n = fm_json_get(j->graph, node, json_type_object);
	const char *c = fm_json_get_string(n, "class_type");

	return c ? c : "?";
}

/* execution_error, in the WebSocket message or in /history's messages. */
static int execution_error(json_object *d, struct fm_error *err)
{
	const char *type = fm_json_get_string(d, "exception_type");
	const char *node = fm_json_get_string(d, "node_id");
	const char *ntype = fm_json_get_string(d, "node_type");
	const char *why = fm_json_get_string(d, "exception_message");
	/* Out of memory is the server's condition, not the workflow's. */
	int oom = type && strstr(type, "OutOfMemory");

	fm_error(err, oom ? FM_SERVICE_ERROR : FM_PLUGIN_EXECUTION_ERROR,
		 "ComfyUI failed at node %s (%s): %s%s%s", node ? node : "?", ntype ? ntype : "?",
		 type ? type : "", type ? ": " : "", why ? why : "no message");
	fm_error_detail(err, "node_id", json_object_new_string(node ? node : ""));
	fm_error_detail(err, "node_type", json_object_new_string(ntype ? ntype : ""));
	fm_error_detail(err, "exception_message", json_object_new_string(why ? why : ""));
	if (type)
		fm_error_detail(err, "exception_type", json_object_new_string(type));
	return -1;
}

static int interrupted(json_object *d, struct fm_error *err)
{
	const char *node = fm_json_get_string(d, "node_id");

	fm_error(err, FM_TASK_CANCELLED, "the prompt was interrupted on the server at node %s",
		 node ? node : "?");
	fm_error_detail(err, "node_id", json_object_new_string(node ? node : ""));
	return -1;
}

/* One text message: 1 when the prompt is done, 0 to go on, -1 on failure. */
static int on_message(struct job *j, const char *text, size_t len, struct fm_error *err)
{
	json_object *m = NULL, *d;
	const char *type, *pid, *node;
	char msg[256];
	int rc = 0;

	if (fm_json_parse(text, len, &m, NULL) < 0)
		return 0; /* not ours to judge: the next message may be fine */
	type = fm_json_get_string(m, "type");
	d = fm_json_get(m, "data", json_type_object);
	pid = fm_json_get_string(d, "prompt_id");
	if (!type || !pid || strcmp(pid, j->prompt_id))
		goto out;
	if (!strcmp(type, "execution_start")) {
		fm_plugin_progress(j->ctx, j->percent, "generate", "ComfyUI started the prompt");
	} else if (!strcmp(type, "execution_cached")) {
		json_object *nodes = fm_json_get(d, "nodes", json_type_array);

		snprintf(msg, sizeof(msg), "%zu nodes cached",
			 nodes ? json_object_array_length(nodes) : 0);
		fm_plugin_progress(j->ctx, j->percent, "generate", msg);
	} else if (!strcmp(type, "executing")) {
		node = fm_json_get_string(d, "node");
		if (!node) {
			rc = 1;
		} else {
			snprintf(msg, sizeof(msg), "node %.64s (%.64s)", node, class_of(j, node));
			fm_plugin_progress(j->ctx, j->percent, "generate", msg);
		}
	} else if (!strcmp(type, "progress")) {
		double v = fm_json_get_double(d, "value", 0), max = fm_json_get_double(d, "max", 0);

		node = fm_json_get_string(d, "node");
		if (max > 0 && v >= 0 && v <= max) {
			snprintf(msg, sizeof(msg), "node %.64s (%.64s): %g of %g",
				 node ? node : "?", node ? class_of(j, node) : "?", v, max);
			j->percent = 100.0 * v / max;
			fm_plugin_progress(j->ctx, j->percent, "generate", msg);
		}
	} else if (!strcmp(type, "executed")) {
		json_object *out = fm_json_get(d, "output", json_type_object);

		node = fm_json_get_string(d, "node");
		if (node && out)
			json_object_object_add(j->outputs, node, json_object_get(out));
	} else if (!strcmp(type, "execution_success")) {
		rc = 1;
	} else if (!strcmp(type, "execution_error")) {
		rc = execution_error(d, err);
	} else if (!strcmp(type, "execution_interrupted")) {
		rc = interrupted(d, err);
	}
out:
	json_object_put(m);
	return rc;
}

/* Cancel and the deadline, checked between waits; -1 ends the task. */
static int still_wanted(struct job *j, struct fm_error *err)
{
	double now = fm_now();

	if (fm_plugin_cancelled(j->ctx)) {
		tell_interrupt(j);
		return fm_error(err, FM_TASK_CANCELLED, "cancelled; prompt %s interrupted",
				j->prompt_id);
	}
	if (now > j->deadline) {
		tell_interrupt(j);
		fm_error(err, FM_TIMEOUT_ERROR,
			 "prompt %s did not finish within the timeout; interrupted", j->prompt_id);
		fm_error_detail(err, "prompt_id", json_object_new_string(j->prompt_id));
		return -1;
	}
	if (now - j->last_beat > HEARTBEAT_EVERY) {
		fm_plugin_heartbeat(j->ctx);
		j->last_beat = now;
	}
	return 0;
}

static int history_once(struct job *j, const char *url, struct fm_error *err);

/* 1 done, 0 the WebSocket went away (poll instead), -1 failed. A socket
 * silent for WS_SILENT_CHECK seconds is backed by one look at /history:
 * a message sent before the server knew the socket is lost for good. */
static int follow_ws(struct job *j, struct fm_ws *ws, struct fm_error *err)
{
	char *url = fm_xasprintf("/history/%s", j->prompt_id);
	double heard = fm_now();
	int r;

	for (;;) {
		struct fm_error e = FM_ERROR_INIT;
		char *msg;
		size_t len;
		int binary;

		if (still_wanted(j, err) < 0) {
			r = -1;
			break;
		}
		r = fm_ws_recv(ws, WS_WAIT_MS, &msg, &len, &binary, &e);
		if (r < 0) {
			fm_plugin_log(j->ctx, "%s; polling /history instead", e.message);
			fm_error_release(&e);
			r = 0;
			break;
		}
		if (r == 0) {
			if (fm_now() - heard < WS_SILENT_CHECK)
				continue;
			if ((r = history_once(j, url, err)) != 0)
				break;
			heard = fm_now();
			continue;
		}
		heard = fm_now();
		/* Binary frames are previews of the image being made. */
		r = binary ? 0 : on_message(j, msg, len, err);
		free(msg);
		if (r)
			break;
	}
	free(url);
	return r;
}

/* ComfyUI greets a socket with a status message once it has registered
 * it; a prompt queued before then may report to nobody. 0 greeted, -1
 * not within WS_CONNECT_TIMEOUT (the caller polls instead). */
static int ws_greeted(struct job *j, struct fm_ws *ws)
{
	double until = fm_now() + WS_CONNECT_TIMEOUT;

	while (fm_now() < until && !fm_plugin_cancelled(j->ctx)) {
		struct fm_error e = FM_ERROR_INIT;
		char *msg;
		size_t len;
		int binary, r = fm_ws_recv(ws, WS_WAIT_MS, &msg, &len, &binary, &e);

		fm_error_release(&e);
		if (r < 0)
			return -1;
		if (r > 0) {
			free(msg);
			if (!binary)
				return 0;
		}
	}
	return -1;
}

/* /history's messages: [[type, data], …], for the error a poller missed. */
static int history_failure(json_object *status, struct fm_error *err)
{
	json_object *msgs = fm_json_get(status, "messages", json_type_array);
	size_t i, n = msgs ? json_object_array_length(msgs) : 0;

	for (i = 0; i < n; i++) {
		json_object *pair = json_object_array_get_idx(msgs, i);
		const char *type = json_object_get_string(json_object_array_get_idx(pair, 0));
		json_object *d = json_object_array_get_idx(pair, 1);

		if (!json_object_is_type(pair, json_type_array) || !type)
			continue;
		if (!strcmp(type, "execution_error"))
			return execution_error(d, err);
		if (!strcmp(type, "execution_interrupted"))
			return interrupted(d, err);
	}
	return fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "ComfyUI reports the prompt failed: %s",
			fm_json_str(status));
}

/* Sleeps s seconds in slices, so a cancel is noticed at once. */
static int nap(struct job *j, double s, struct fm_error *err)
{
	double until = fm_now() + s;

	while (fm_now() < until) {
		if (still_wanted(j, err) < 0)
			return -1;
		usleep(20000);
	}
	return 0;
}

/* One GET /history/ID: 1 the prompt is done (its outputs taken), 0 not
 * yet, -1 it failed or the request did. */
static int history_once(struct job *j, const char *url, struct fm_error *err)
{
	json_object *reply = NULL, *entry, *status, *outs;
	const char *s;
	int rc = 0;

	if (fm_http_json(&http, "GET", url, NULL, NULL, &reply, err) < 0)
		return -1;
	entry = fm_json_get(reply, j->prompt_id, json_type_object);
	status = fm_json_get(entry, "status", json_type_object);
	s = fm_json_get_string(status, "status_str");
	if (entry && s && !strcmp(s, "error")) {
		history_failure(status, err);
		rc = -1;
	} else if (entry &&
		   (!status || (s && !strcmp(s, "success")) ||
		    json_object_get_boolean(fm_json_get(status, "completed", json_type_boolean)))) {
		outs = fm_json_get(entry, "outputs", json_type_object);
		json_object_object_foreach (outs, node, out) {
			json_object_object_add(j->outputs, node, json_object_get(out));
		}
		rc = 1;
	}
	json_object_put(reply);
	return rc;
}

/* Polls GET /history/ID until the prompt is there; takes its outputs. */
static int follow_history(struct job *j, struct fm_error *err)
{
	char *url = fm_xasprintf("/history/%s", j->prompt_id);
	int r = 0, polls;

	for (polls = 0; r == 0; polls++) {
		if (still_wanted(j, err) < 0 || (r = history_once(j, url, err)) != 0)
			break;
		if (!polls)
			fm_plugin_progress(j->ctx, 0, "generate", "waiting for ComfyUI (polling)");
		if (nap(j, j->poll, err) < 0)
			r = -1;
	}
	free(url);
	return r > 0 ? 0 : -1;
}

/* -- outputs ------------------------------------------------------------- */

/* A file name safe to write under output_dir, unique among the task's. */
static char *local_name(const char *name, int index, json_object *taken)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	const char *dot = strrchr(base, '.');
	char *out, *clean = fm_redact(base, strlen(base), NULL);
	/* A name the service chose is text it wrote: one that held a secret is not kept. */
	int secret = strcmp(clean, base) != 0;

	free(clean);
	if (secret || !*base || *base == '.' || strlen(base) > NAME_MAX_LEN ||
	    json_object_object_get_ex(taken, base, NULL))
		out = fm_xasprintf("output-%d%s", index,
				   dot && strlen(dot) <= 8 && !strchr(dot, '/') ? dot : "");
	else
		out = fm_xstrdup(base);
	json_object_object_add(taken, out, NULL);
	return out;
}

static int fetch(json_object *file, int index, json_object *taken, const char *output_dir,
		 struct fm_result *res, struct fm_error *err)
{
	const char *name = fm_json_get_string(file, "filename");
	const char *sub = fm_json_get_string(file, "subfolder");
	const char *type = fm_json_get_string(file, "type");
	char *en = curl_easy_escape(http.curl, name, 0);
	char *es = curl_easy_escape(http.curl, sub ? sub : "", 0);
	char *et = curl_easy_escape(http.curl, type ? type : "output", 0);
	char *url = fm_xasprintf("/view?filename=%s&subfolder=%s&type=%s", en, es, et);
	char *local = local_name(name, index, taken);
	char *path = fm_xasprintf("%s/%s", output_dir, local);
	struct fm_http_req r = {.url = url, .file = path};
	struct fm_http_resp resp;
	const char *ct;
	int rc = -1;

	if (fm_http_do(&http, &r, &resp, err) < 0) {
		if (resp.status == 404) {
			err->code = FM_RESOURCE_PROCESSING_ERROR;
			snprintf(err->message, sizeof(err->message),
				 "ComfyUI has no output '%s' (GET %s answered 404)", name, url);
		}
		goto out;
	}
	ct = resp.content_type;
	/* An error page served with 200 is not the picture. */
	if (ct && (!strncmp(ct, "text/", 5) || !strcmp(ct, "application/json"))) {
		unlink(path);
		fm_error(err, FM_SERVICE_ERROR, "GET %s answered %s, not a media file", url, ct);
		fm_error_detail(err, "content_type", json_object_new_string(ct));
		goto out;
	}
	rc = fm_result_add_output(res, path, err);
out:
	fm_http_resp_release(&resp);
	curl_free(en);
	curl_free(es);
	curl_free(et);
	free(url);
	free(local);
	free(path);
	return rc;
}

/* A task that fails keeps none of the files it fetched before failing. */
static void drop_outputs(struct fm_result *res)
{
	size_t i, n = json_object_array_length(res->output_files);

	for (i = 0; i < n; i++)
		unlink(json_object_get_string(json_object_array_get_idx(res->output_files, i)));
	json_object_array_del_idx(res->output_files, 0, n);
	json_object_array_del_idx(res->output_resources, 0,
				  json_object_array_length(res->output_resources));
}

/*
 * The files of every output node: saved ones ("type": "output") when
 * there are any, else the previews, which are all a workflow without a
 * save node makes.
 */
static int fetch_outputs(struct job *j, const char *output_dir, struct fm_result *res,
			 struct fm_error *err)
{
	json_object *want = json_object_new_array(), *temp = json_object_new_array(), *list;
	json_object *taken = json_object_new_object();
	size_t i, n;
	int rc = -1;

	json_object_object_foreach (j->outputs, node, out) {
		const char *const *k;

		(void)node;
		for (k = output_keys; *k; k++) {
			json_object *files = fm_json_get(out, *k, json_type_array);

			for (i = 0; files && i < json_object_array_length(files); i++) {
				json_object *f = json_object_array_get_idx(files, i);
				const char *type = fm_json_get_string(f, "type");

				if (!fm_json_get_string(f, "filename"))
					continue;
				json_object_array_add(type && !strcmp(type, "temp") ? temp : want,
						      json_object_get(f));
			}
		}
	}
	list = json_object_array_length(want) ? want : temp;
	n = json_object_array_length(list);
	if (!n) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "prompt %s finished without output files (does the workflow have a "
			 "SaveImage or SaveVideo node?)",
			 j->prompt_id);
		goto out;
	}
	if (n > MAX_OUTPUTS) {
		fm_plugin_log(j->ctx, "%zu outputs; fetching the first %d", n, MAX_OUTPUTS);
		n = MAX_OUTPUTS;
	}
	if (fm_mkdirs(output_dir, err) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		char msg[64];

		snprintf(msg, sizeof(msg), "fetching output %zu of %zu", i + 1, n);
		fm_plugin_progress(j->ctx, 100.0 * (double)i / (double)n, "download", msg);
		if (fetch(json_object_array_get_idx(list, i), (int)i, taken, output_dir, res, err) <
		    0) {
			drop_outputs(res);
			goto out;
		}
	}
	rc = 0;
out:
	json_object_put(want);
	json_object_put(temp);
	json_object_put(taken);
	return rc;
}

/* -- the task ------------------------------------------------------------ */

static void new_client_id(char id[33])
{
	unsigned char raw[16];
	int i;

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		for (i = 0; i < 16; i++)
			raw[i] = (unsigned char)(rand() & 0xff);
	for (i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

static int seed_of(const struct fm_task *t, int64_t *seed, struct fm_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(t->parameters, "seed", &v) || !v) {
		*seed = random_seed();
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return fm_error(err, FM_VALIDATION_ERROR,
				"parameter 'seed': %s is not a whole number of 0 or more",
				json_object_get_string(v));
	*seed = json_object_get_int64(v);
	return 0;
}

static int run(struct job *j, const char *output_dir, struct fm_result *res, struct fm_error *err)
{
	json_object *tmpl = NULL, *vars = NULL;
	char *label = NULL, *image = NULL, *wsurl = NULL;
	const char *input = NULL;
	struct fm_ws *ws = NULL;
	struct fm_error e = FM_ERROR_INIT;
	int64_t seed = 0;
	int rc = -1, r;

	if (setup_http(j, err) < 0 || seed_of(j->task, &seed, err) < 0 ||
	    load_workflow(j->task, &tmpl, &label, err) < 0)
		goto out;
	if (!strncmp(j->task->tool_name, "image2", 6)) {
		/* The first image among the task's resources (role image first). */
		input =
		    fm_json_get_string(fm_plugin_input(j->task, "image/", "image", NULL), "data");
		if (!input) {
			fm_error(err, FM_VALIDATION_ERROR,
				 "%s needs an input image (a resource: -r FILE)",
				 j->task->tool_name);
			goto out;
		}
		if (upload(j, input, &image, err) < 0)
			goto out;
	}
	vars = template_vars(j, image, seed);
	if (fm_template_fill(tmpl, vars, &j->graph, err) < 0) {
		char msg[FM_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", err->message);
		snprintf(err->message, sizeof(err->message), "workflow '%.300s': %.700s", label,
			 msg);
		goto out;
	}
	json_object_object_add(res->metadata, "seed", json_object_new_int64(seed));
	json_object_object_add(res->metadata, "workflow", json_object_new_string(label));
	json_object_object_add(res->metadata, "model",
			       json_object_get(json_object_object_get(vars, "model")));

	/* The WebSocket first, so not one message of the prompt is missed. */
	new_client_id(j->client_id);
	wsurl = fm_http_url(&http, "/ws?clientId=");
	{
		char *full = fm_xasprintf("%s%s", wsurl, j->client_id);

		free(wsurl);
		wsurl = full;
	}
	if (fm_ws_open(&ws, wsurl, WS_CONNECT_TIMEOUT, &e) < 0) {
		fm_plugin_log(j->ctx, "no WebSocket (%s); polling /history", e.message);
		fm_error_release(&e);
	} else if (ws_greeted(j, ws) < 0) {
		fm_plugin_log(j->ctx, "the WebSocket said nothing; polling /history");
		fm_ws_close(ws);
		ws = NULL;
	}
	if (post_prompt(j, err) < 0)
		goto out;
	json_object_object_add(res->metadata, "prompt_id", json_object_new_string(j->prompt_id));
	fm_plugin_progress(j->ctx, 0, "queue", "prompt queued");
	r = ws ? follow_ws(j, ws, err) : 0;
	if (r < 0)
		goto out;
	fm_ws_close(ws);
	ws = NULL;
	/* No WebSocket, or outputs only in the history (all cached, a reconnect). */
	if ((r == 0 || !json_object_object_length(j->outputs)) && follow_history(j, err) < 0)
		goto out;
	if (fetch_outputs(j, output_dir, res, err) < 0)
		goto out;
	fm_plugin_progress(j->ctx, 100, "download", "done");
	rc = 0;
out:
	fm_ws_close(ws);
	json_object_put(tmpl);
	json_object_put(vars);
	free(label);
	free(image);
	free(wsurl);
	return rc;
}

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	struct job j;
	int rc;

	memset(&j, 0, sizeof(j));
	j.ctx = ctx;
	j.task = task;
	j.outputs = json_object_new_object();
	j.last_beat = fm_now();
	rc = run(&j, output_dir, res, &res->error);
	json_object_put(j.graph);
	json_object_put(j.outputs);
	free(j.prompt_id);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct fm_plugin_def def = {"comfyui", "1.0.0", execute};
	int rc = fm_plugin_main(argc, argv, &def);

	if (http_ready)
		fm_http_release(&http);
	return rc;
}
