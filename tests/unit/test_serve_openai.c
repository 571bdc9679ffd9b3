/*
 * filmeto-serve's OpenAI translation (lib/serve_openai.c): the model
 * list, requests made into tasks (a prompt to the parameter the tool
 * declares, sizes, voices, multipart videos) and refused in OpenAI's
 * error shape, answers from final lines and status objects, and the
 * base of a URL that never reflects an unchecked Host.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "serve_openai.h"
#include "serve_route.h"
#include "tap.h"
#include "util.h"

static json_object *manifests(void)
{
	return json_tokener_parse(
	    "[{\"name\":\"titlecard\",\"tools\":[{\"name\":\"text2image\",\"parameters\":["
	    "{\"name\":\"prompt\"},{\"name\":\"width\"},{\"name\":\"height\"},{\"name\":\"style\"}]"
	    "}]},"
	    "{\"name\":\"espeak\",\"tools\":[{\"name\":\"text2speak\",\"parameters\":["
	    "{\"name\":\"text\"},{\"name\":\"voice\"}]}]},"
	    "{\"name\":\"kenburns\",\"tools\":[{\"name\":\"image2video\",\"parameters\":["
	    "{\"name\":\"duration\"},{\"name\":\"width\"},{\"name\":\"height\"}]}]},"
	    "{\"name\":\"noop\",\"tools\":[{\"name\":\"noop\"}]}]");
}

/* The status of a request and, when 0, the task's JSON into out. */
static int ask(enum fm_oai_kind kind, const char *ct, const char *body, char *out, size_t size,
	       struct fm_oai_ask *a, char *param)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *m = manifests(), *e;
	int code = fm_oai_request(kind, ct, body, strlen(body), m, "t1", 7, a, &err);

	out[0] = param[0] = '\0';
	if (code == 0)
		snprintf(out, size, "%s", fm_json_str(a->task));
	else {
		e = fm_oai_error_json(&err, code);
		snprintf(out, size, "%s", fm_json_str(e));
		snprintf(
		    param, 32, "%s",
		    fm_json_get_string(fm_json_get(e, "error", json_type_object), "param")
			? fm_json_get_string(fm_json_get(e, "error", json_type_object), "param")
			: "");
		json_object_put(e);
	}
	fm_oai_ask_release(a);
	fm_error_release(&err);
	json_object_put(m);
	return code;
}

static void test_models(void)
{
	json_object *m = manifests(), *o = fm_oai_models(m, 5);

	IS_STR(fm_json_str(o),
	       "{\"object\":\"list\",\"data\":["
	       "{\"id\":\"titlecard\",\"object\":\"model\",\"created\":5,\"owned_by\":\"filmeto\"},"
	       "{\"id\":\"titlecard/text2image\",\"object\":\"model\",\"created\":5,\"owned_by\":"
	       "\"filmeto\"},"
	       "{\"id\":\"espeak\",\"object\":\"model\",\"created\":5,\"owned_by\":\"filmeto\"},"
	       "{\"id\":\"espeak/text2speak\",\"object\":\"model\",\"created\":5,\"owned_by\":"
	       "\"filmeto\"},"
	       "{\"id\":\"kenburns\",\"object\":\"model\",\"created\":5,\"owned_by\":\"filmeto\"},"
	       "{\"id\":\"kenburns/image2video\",\"object\":\"model\",\"created\":5,\"owned_by\":"
	       "\"filmeto\"}]}",
	       "openai: models, a plugin and its route tools; noop serves no route");
	json_object_put(o);
	json_object_put(m);
}

static void test_requests(void)
{
	struct fm_oai_ask a;
	char out[4096], param[32];

	IS_INT(ask(FM_OAI_IMAGES, NULL,
		   "{\"model\":\"titlecard\",\"prompt\":\"hi\",\"size\":\"320x240\","
		   "\"response_format\":\"b64_json\",\"style\":\"plain\"}",
		   out, sizeof(out), &a, param),
	       0, "openai: an image request");
	IS_STR(out,
	       "{\"task_id\":\"t1\",\"tool_name\":\"text2image\",\"plugin_name\":\"titlecard\","
	       "\"parameters\":{\"prompt\":\"hi\",\"width\":320,\"height\":240},\"metadata\":{"
	       "\"openai\":{\"route\":\"images\",\"model\":\"titlecard\",\"created\":7}}}",
	       "openai: the image task; OpenAI's style is not titlecard's");
	OK(a.b64, "openai: b64_json asked for");
	IS_INT(ask(FM_OAI_SPEECH, NULL,
		   "{\"model\":\"espeak/text2speak\",\"input\":\"hello\",\"voice\":\"alloy\"}", out,
		   sizeof(out), &a, param),
	       0, "openai: speech by PLUGIN/TOOL");
	HAS(out, "\"parameters\":{\"text\":\"hello\"}",
	    "openai: the input goes to text; OpenAI's voice leaves espeak's default");
	IS_INT(ask(FM_OAI_SPEECH, NULL, "{\"model\":\"espeak\",\"input\":\"hi\",\"voice\":\"de\"}",
		   out, sizeof(out), &a, param),
	       0, "openai: speech with a voice of espeak's");
	HAS(out, "\"voice\":\"de\"", "openai: a voice of the plugin's passes");
	IS_INT(ask(FM_OAI_CHAT, NULL, "{\"model\":\"titlecard\",\"messages\":[]}", out, sizeof(out),
		   &a, param),
	       404, "openai: a plugin that serves no chat");
	IS_STR(param, "model", "openai: the model is at fault");
	IS_INT(ask(FM_OAI_IMAGES, NULL, "{\"model\":\"none\",\"prompt\":\"x\"}", out, sizeof(out),
		   &a, param),
	       404, "openai: an unknown model");
	HAS(out, "\"code\":\"model_not_found\"", "openai: said as OpenAI says it");
	IS_INT(ask(FM_OAI_IMAGES, NULL, "{\"model\":\"titlecard\"}", out, sizeof(out), &a, param),
	       400, "openai: no prompt");
	IS_STR(param, "prompt", "openai: the prompt is at fault");
	IS_INT(ask(FM_OAI_IMAGES, NULL, "[1]", out, sizeof(out), &a, param), 400,
	       "openai: a body that is no object");
	IS_INT(ask(FM_OAI_IMAGES, NULL,
		   "{\"model\":\"titlecard\",\"prompt\":\"x\",\"size\":\"0x5\"}", out, sizeof(out),
		   &a, param),
	       400, "openai: a size of 0");
	IS_INT(ask(FM_OAI_IMAGES, NULL, "{\"model\":\"titlecard\",\"prompt\":\"x\",\"n\":3}", out,
		   sizeof(out), &a, param),
	       400, "openai: n other than 1");
	IS_INT(ask(FM_OAI_VIDEOS, NULL, "{\"model\":\"kenburns\",\"prompt\":\"x\"}", out,
		   sizeof(out), &a, param),
	       400, "openai: kenburns needs an image");
	IS_STR(param, "input_reference", "openai: the reference is what is missing");
	IS_INT(ask(FM_OAI_VIDEOS, "multipart/form-data; boundary=\"b\"",
		   "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nkenburns\r\n"
		   "--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nmove\r\n"
		   "--b\r\nContent-Disposition: form-data; name=\"seconds\"\r\n\r\n2\r\n"
		   "--b\r\nContent-Disposition: form-data; name=\"input_reference\"; "
		   "filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b--\r\n",
		   out, sizeof(out), &a, param),
	       0, "openai: a multipart video with its image");
	HAS(out,
	    "\"resources\":[{\"type\":\"base64\",\"data\":\"UE5H\",\"mime_type\":\"image/png\","
	    "\"metadata\":{\"role\":\"image\"}}]",
	    "openai: the uploaded image, a base64 resource");
	HAS(out, "\"duration\":2", "openai: seconds as kenburns' duration");
	HAS(out, "\"seconds\":\"2\",\"size\":\"1280x720\"", "openai: what the video object says");
	IS_INT(ask(FM_OAI_VIDEOS, "multipart/form-data; boundary=b", "--b\r\nbroken", out,
		   sizeof(out), &a, param),
	       400, "openai: a broken multipart body");
	IS_INT(ask(FM_OAI_VIDEOS, "multipart/form-data", "--b--", out, sizeof(out), &a, param), 400,
	       "openai: multipart without a boundary");
}

static void test_answers(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_buf b = FM_BUF_INIT;
	json_object *o, *t, *s;
	char url[128];

	o = json_tokener_parse("{\"type\":\"completed\",\"status\":\"success\","
			       "\"output_files\":[\"/a.png\"]}");
	IS_INT(fm_oai_final(o, &err), 0, "openai: a success with a file");
	json_object_put(o);
	o = json_tokener_parse("{\"type\":\"failed\",\"status\":\"error\",\"error\":"
			       "{\"code\":\"TIMEOUT_ERROR\",\"message\":\"too slow\"}}");
	IS_INT(fm_oai_final(o, &err), 504, "openai: a task that timed out is 504");
	IS_STR(err.message, "too slow", "openai: with the task's message");
	json_object_put(o);
	o = fm_oai_error_json(&err, 504);
	IS_STR(fm_json_str(o),
	       "{\"error\":{\"message\":\"too slow\",\"type\":\"server_error\",\"param\":null,"
	       "\"code\":\"timeout_error\"}}",
	       "openai: the error shape");
	json_object_put(o);
	fm_error_release(&err);
	o = json_tokener_parse("{\"type\":\"progress\",\"data\":{\"delta\":\"word \"}}");
	IS_STR(fm_oai_delta(o), "word ", "openai: a progress line's delta");
	json_object_put(o);
	fm_oai_chunk(&b, "c1", 3, "chatter", "word ", 1);
	fm_oai_chunk(&b, "c1", 3, "chatter", NULL, 0);
	IS_STR(
	    fm_buf_str(&b),
	    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":3,\"model\":"
	    "\"chatter\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
	    "\"word \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":3,\"model\":"
	    "\"chatter\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
	    "\"finish_reason\":\"stop\"}]}\n\n",
	    "openai: chunks, the last one stop");
	fm_buf_release(&b);
	t = json_tokener_parse(
	    "{\"task_id\":\"v1\",\"metadata\":{\"openai\":{\"model\":\"kenburns\","
	    "\"created\":9,\"seconds\":\"2\",\"size\":\"64x64\"}}}");
	s = json_tokener_parse("{\"state\":\"running\",\"progress\":{\"percent\":250}}");
	o = fm_oai_video(t, s);
	IS_STR(
	    fm_json_str(o),
	    "{\"id\":\"v1\",\"object\":\"video\",\"model\":\"kenburns\",\"status\":\"in_progress\","
	    "\"progress\":100,\"created_at\":9,\"completed_at\":null,\"expires_at\":null,"
	    "\"seconds\":\"2\",\"size\":\"64x64\",\"remixed_from_video_id\":null,\"error\":null}",
	    "openai: a running video; a percent past 100 is 100");
	json_object_put(o);
	json_object_put(s);
	s = json_tokener_parse("{\"state\":\"cancelled\"}");
	o = fm_oai_video(t, s);
	IS_STR(fm_json_get_string(o, "status"), "failed", "openai: a cancelled video failed");
	json_object_put(o);
	json_object_put(s);
	json_object_put(t);
	fm_oai_base_url(url, sizeof(url), "evil.example", "127.0.0.1", 8470);
	IS_STR(url, "http://127.0.0.1:8470", "openai: a Host not ours is not reflected");
	fm_oai_base_url(url, sizeof(url), "localhost:8470", "127.0.0.1", 8470);
	IS_STR(url, "http://localhost:8470", "openai: localhost on loopback is ours");
	fm_oai_base_url(url, sizeof(url), "localhost:8470", "10.0.0.2", 8470);
	IS_STR(url, "http://10.0.0.2:8470", "openai: localhost is not ours beyond loopback");
	fm_oai_base_url(url, sizeof(url), "[::1]:8470", "::1", 8470);
	IS_STR(url, "http://[::1]:8470", "openai: an IPv6 Host");
}

static int route(enum fm_method method, const char *path, struct fm_route_match *m)
{
	struct fm_error err = FM_ERROR_INIT;
	int code = fm_serve_route(method, path, m, &err);

	fm_error_release(&err);
	return code;
}

static void test_routes(void)
{
	struct fm_route_match m;

	IS_INT(route(FM_METHOD_GET, "/v1/models", &m), 0, "openai route: models");
	IS_INT(m.route, FM_ROUTE_OAI_MODELS, "openai route: is models");
	IS_INT(route(FM_METHOD_POST, "/v1/chat/completions", &m), 0, "openai route: chat");
	IS_INT(route(FM_METHOD_GET, "/v1/chat/completions", &m), 405, "openai route: GET chat");
	IS_STR(m.allow_text, "POST", "openai route: chat takes POST");
	IS_INT(route(FM_METHOD_DELETE, "/v1/videos/video-1", &m), 0,
	       "openai route: cancel a video");
	IS_STR(m.id, "video-1", "openai route: its id");
	IS_INT(route(FM_METHOD_GET, "/v1/videos/v%2d1/content", &m), 0, "openai route: content");
	IS_INT(m.route, FM_ROUTE_OAI_VIDEO_CONTENT, "openai route: is content");
	IS_STR(m.id, "v-1", "openai route: the id decoded");
	IS_INT(route(FM_METHOD_GET, "/v1/videos/%2e%2e/content", &m), 400,
	       "openai route: .. no id");
	IS_INT(route(FM_METHOD_GET, "/v1/videos/a/b", &m), 404, "openai route: another shape");
	IS_INT(route(FM_METHOD_GET, "/v1/engines", &m), 404, "openai route: none such");
}

void test_serve_openai(void)
{
	test_routes();
	test_models();
	test_requests();
	test_answers();
}
