/*
 * lib/sdk.c's helpers for the plugins: number settings, the input of a
 * role, the retry reporter, and sdk_render.c's check of an input file. What needs a running task
 * (settings, progress, the log) is tested through fm_plugin_serve() over files, the way combine is
 * served inside filmeto-run.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "http.h"
#include "model.h"
#include "render.h"
#include "fs.h"
#include "plugin_sdk.h"
#include "tap.h"
#include "util.h"

static void test_setting_number(void)
{
	struct fm_error e = FM_ERROR_INIT;
	json_object *v;
	double d = -1;

	OK(fm_setting_number(NULL, "n", 4, 0, 10, &d, &e) == 0 && d == 4,
	   "setting number: none is the default");
	v = json_object_new_double(2.5);
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) == 0 && d == 2.5,
	   "setting number: a JSON number as it is");
	json_object_put(v);
	v = json_object_new_string("0.05");
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) == 0 && d == 0.05,
	   "setting number: text that is a number");
	json_object_put(v);
	v = json_object_new_string("5s");
	d = -1;
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) < 0 && d == -1,
	   "setting number: text with more after the number is refused, out untouched");
	IS_STR(e.message, "setting 'n': '5s' is not a number", "setting number: the message");
	IS_INT(e.code, FM_VALIDATION_ERROR, "setting number: a VALIDATION_ERROR");
	json_object_put(v);
	v = json_object_new_string("");
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) < 0, "setting number: empty text is none");
	json_object_put(v);
	v = json_object_new_string("1e999");
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) < 0,
	   "setting number: a number out of a double's range is refused");
	IS_STR(e.message, "setting 'n': '1e999' is not a number",
	       "setting number: ... as not a number");
	json_object_put(v);
	v = json_object_new_boolean(1);
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) < 0, "setting number: true is no number");
	json_object_put(v);
	v = json_object_new_int(11);
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) < 0, "setting number: above max");
	IS_STR(e.message, "setting 'n': 11 is not in 0..10", "setting number: the bounds named");
	json_object_put(v);
	v = json_object_new_string("nan");
	OK(fm_setting_number(v, "n", 4, 0, 10, &d, &e) < 0, "setting number: NaN is in no bounds");
	json_object_put(v);
	OK(fm_setting_number(NULL, "n", 40, 0, 10, &d, &e) < 0,
	   "setting number: a default out of bounds is refused too");
	fm_error_release(&e);
}

static json_object *res(const char *data, const char *mime, const char *role)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "type", json_object_new_string("local_path"));
	if (data)
		json_object_object_add(r, "data", json_object_new_string(data));
	if (mime)
		json_object_object_add(r, "mime_type", json_object_new_string(mime));
	if (role) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "role", json_object_new_string(role));
		json_object_object_add(r, "metadata", m);
	}
	return r;
}

static const char *input(json_object *resources, const char *kind, const char *role,
			 const char *also)
{
	static char got[64];
	struct fm_task t;
	const char *path;

	fm_task_init(&t);
	t.resources = resources;
	path = fm_json_get_string(fm_plugin_input(&t, kind, role, also), "data");
	snprintf(got, sizeof(got), "%s", path ? path : "(none)");
	fm_task_release(&t);
	return got;
}

static void test_input(void)
{
	json_object *a;

	a = json_object_new_array();
	json_object_array_add(a, res("a.wav", "audio/wav", NULL));
	json_object_array_add(a, res("b.png", "image/png", NULL));
	json_object_array_add(a, res("c.png", "image/png", "image"));
	IS_STR(input(a, "image/", "image", NULL), "c.png", "input: the role first");

	a = json_object_new_array();
	json_object_array_add(a, res("a.wav", "audio/wav", "music"));
	json_object_array_add(a, res("b.png", "image/png", NULL));
	json_object_array_add(a, res("c.jpg", "image/jpeg", NULL));
	IS_STR(input(a, "image/", "image", NULL), "b.png", "input: else the first of the kind");

	a = json_object_new_array();
	json_object_array_add(a, res("a.png", NULL, NULL));
	IS_STR(input(a, "image/", "image", NULL), "a.png",
	       "input: no MIME type: guessed from the name");

	a = json_object_new_array();
	json_object_array_add(a, res("a.png", "application/octet-stream", NULL));
	IS_STR(input(a, "image/", "image", NULL), "(none)",
	       "input: a MIME type given is believed over the name");

	a = json_object_new_array();
	json_object_array_add(a, res(NULL, "image/png", "image"));
	json_object_array_add(a, res("b.wav", "audio/wav", "audio"));
	json_object_array_add(a, res("c.wav", "audio/wav", "narration"));
	IS_STR(input(a, "audio/", "narration", "audio"), "b.wav",
	       "input: any of the roles; a resource without a file is passed over");
	IS_STR(input(json_object_new_array(), "image/", "image", NULL), "(none)", "input: none");
	IS_STR(input(NULL, "image/", "image", NULL), "(none)", "input: no resources at all");
}

/* What the handler below saw, for the checks after the loop. */
static struct {
	double a, b, c, d, f;
	int ra, rb, rc, rd, re, rf, rbound;
	char e[256], bound[256];
	int hooked;
} seen;

static int serve_task(struct fm_plugin_ctx *ctx, const struct fm_task *t, const char *dir,
		      struct fm_result *res)
{
	struct fm_plugin_retry here = {.ctx = ctx, .percent = -1, .stage = "retrying"};
	struct fm_plugin_retry busy = {
	    .ctx = ctx, .percent = 0, .stage = "queue", .service = "ComfyUI"};
	struct fm_error e = FM_ERROR_INIT;
	struct fm_http h;
	double x;

	(void)dir, (void)res;
	seen.ra = fm_plugin_number(ctx, t, "a", 1, 0, 10, &seen.a, &e);
	seen.rb = fm_plugin_number(ctx, t, "b", 1, 0, 10, &seen.b, &e);
	seen.rc = fm_plugin_number(ctx, t, "c", 1, 0, 10, &seen.c, &e);
	seen.rd = fm_plugin_number(ctx, t, "d", 1, 0, 10, &seen.d, &e);
	seen.rf = fm_plugin_number(ctx, t, "f", 1, 0, 10, &seen.f, &e);
	seen.re = fm_plugin_number(ctx, t, "e", 1, 0, 10, &x, &e);
	snprintf(seen.e, sizeof(seen.e), "%s", e.message);
	seen.rbound = fm_plugin_number(ctx, t, "a", 1, 0, 4, &x, &e);
	snprintf(seen.bound, sizeof(seen.bound), "%s", e.message);
	fm_error_release(&e);

	memset(&h, 0, sizeof(h));
	fm_plugin_http(&h, &here);
	seen.hooked = h.cancelled == fm_plugin_cancel_check && h.cancel_arg == ctx &&
		      h.retrying == fm_plugin_retrying && h.retry_arg == &here;
	fm_plugin_progress(ctx, 40, "generating", "half");
	h.retrying(h.retry_arg, 1, 2, "status 503");
	fm_plugin_retrying(&busy, 2, 0.5, "status 429");
	return 0;
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;

	if (fm_read_file(path, 1 << 20, &buf, &len, NULL) < 0)
		return fm_xstrdup("");
	return buf;
}

static void test_serve(void)
{
	static const struct fm_plugin_def def = {"sdktest", "1.0.0", serve_task};
	char *dir = tmp_dir(), *in, *outp = fm_xasprintf("%s/out", dir);
	char *logp = fm_xasprintf("%s/log", dir), *out, *log;
	int fin, fout, flog;

	in = write_file(dir, "in",
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"execute_task\",\"params\":{"
			"\"task_id\":\"t\",\"tool_name\":\"x\",\"output_dir\":\"/nonexistent\","
			"\"parameters\":{\"a\":5,\"b\":\"7.5\",\"c\":\"\",\"d\":true,\"e\":\"x\"},"
			"\"settings\":{\"c\":\"2\",\"d\":3,\"e\":\"9\",\"f\":false}}}\n");
	fin = open(in, O_RDONLY);
	fout = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	flog = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fm_plugin_serve(&def, fin, fout, flog);
	close(fin);
	close(fout);
	close(flog);
	out = slurp(outp);
	log = slurp(logp);

	OK(!seen.ra && seen.a == 5, "plugin number: a parameter that is a number");
	OK(!seen.rb && seen.b == 7.5, "plugin number: a parameter that is text");
	OK(!seen.rc && seen.c == 2, "plugin number: an empty parameter gives way to the settings");
	OK(!seen.rd && seen.d == 3,
	   "plugin number: a parameter of another type gives way; a number in the settings");
	OK(!seen.rf && seen.f == 1, "plugin number: a setting of another type is the default");
	OK(seen.re < 0, "plugin number: a parameter that is no number is not passed over");
	IS_STR(seen.e, "setting 'e': 'x' is not a number", "plugin number: and named");
	OK(seen.rbound < 0, "plugin number: bounded");
	IS_STR(seen.bound, "setting 'a': 5 is not in 0..4", "plugin number: the bounds named");

	OK(seen.hooked, "plugin http: cancel checks and the retry reporter are hooked");
	HAS(out,
	    "\"percent\":40.0,\"message\":\"status 503; retry 1 in 2.0 s\",\"stage\":\"retrying\"",
	    "retry: a progress event at the task's last percent");
	HAS(out,
	    "\"percent\":0.0,\"message\":\"ComfyUI busy (status 429); retry 2 in 0.5 s\","
	    "\"stage\":\"queue\"",
	    "retry: a busy service named, at the percent given");
	IS_STR(log, "status 503; retry 1 in 2.0 s\nComfyUI busy (status 429); retry 2 in 0.5 s\n",
	       "retry: each on the log too");
	HAS(out, "\"status\":\"success\"", "serve: the task ends");

	free(out);
	free(log);
	free(in);
	free(outp);
	free(logp);
	rm_rf(dir);
	free(dir);
}

/* A file of one second made by lib/render.c: graph into dir/name. */
static char *made(const char *dir, const char *name, const char *graph)
{
	char *path = fm_xasprintf("%s/%s", dir, name);
	struct fm_render r = {
	    .graph = graph, .path = path, .fps_num = 25, .fps_den = 1, .duration = 1};
	struct fm_error e = FM_ERROR_INIT;

	if (fm_render_run(&r, &e) < 0)
		tap_diag("cannot make %s: %s", path, e.message);
	fm_error_release(&e);
	return path;
}

static void test_check_media(void)
{
	char *dir = tmp_dir(), *png = made(dir, "a.png", "color=s=64x48:d=1[v]");
	char *wav = made(dir, "a.wav", "sine=d=1[a]"), *txt = write_file(dir, "b.png", "no");
	struct fm_error e = FM_ERROR_INIT;
	int level = av_log_get_level();

	/* The decoders' own complaints are not this test's output. */
	av_log_set_level(AV_LOG_QUIET);
	OK(fm_plugin_check_media("image", png, &e) == 0, "check media: a picture");
	OK(fm_plugin_check_media("audio", wav, &e) == 0, "check media: a sound");
	OK(fm_plugin_check_media("audio", png, &e) < 0, "check media: a picture is no sound");
	OK(fm_plugin_check_media("image", txt, &e) < 0 && e.code == FM_RESOURCE_PROCESSING_ERROR,
	   "check media: text is no picture");
	HAS(e.message, "cannot read image '", "check media: what and the path named: %s",
	    e.message);
	av_log_set_level(level);
	fm_error_release(&e);
	free(png);
	free(wav);
	free(txt);
	rm_rf(dir);
	free(dir);
}

void test_sdk(void)
{
	test_setting_number();
	test_input();
	test_serve();
	test_check_media();
}
