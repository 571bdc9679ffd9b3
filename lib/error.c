/* Error values carrying the DESIGN §2 codes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static const char *const code_names[] = {
    [FM_OK] = "OK",
    [FM_VALIDATION_ERROR] = "VALIDATION_ERROR",
    [FM_PLUGIN_NOT_FOUND] = "PLUGIN_NOT_FOUND",
    [FM_PLUGIN_EXECUTION_ERROR] = "PLUGIN_EXECUTION_ERROR",
    [FM_RESOURCE_PROCESSING_ERROR] = "RESOURCE_PROCESSING_ERROR",
    [FM_TIMEOUT_ERROR] = "TIMEOUT_ERROR",
    [FM_TASK_CANCELLED] = "TASK_CANCELLED",
    [FM_DEPENDENCY_FAILED] = "DEPENDENCY_FAILED",
    [FM_SERVICE_ERROR] = "SERVICE_ERROR",
    [FM_RATE_LIMIT_EXCEEDED] = "RATE_LIMIT_EXCEEDED",
    [FM_TASK_NOT_FOUND] = "TASK_NOT_FOUND",
};

#define NCODES (sizeof(code_names) / sizeof(code_names[0]))

int fm_error(struct fm_error *err, enum fm_code code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n, flen;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	flen = strlen(fmt);
	n = strlen(err->message);
	if (flen && fmt[flen - 1] == ':')
		snprintf(err->message + n, sizeof(err->message) - n, " %s", strerror(saved));
	errno = saved;
	return -1;
}

void fm_error_detail(struct fm_error *err, const char *key, json_object *val)
{
	if (!err) {
		json_object_put(val);
		return;
	}
	if (!err->details)
		err->details = json_object_new_object();
	json_object_object_add(err->details, key, val);
}

void fm_error_release(struct fm_error *err)
{
	if (!err)
		return;
	json_object_put(err->details);
	err->details = NULL;
	err->code = FM_OK;
	err->message[0] = '\0';
}

void fm_error_move(struct fm_error *dst, struct fm_error *src)
{
	fm_error_release(dst);
	*dst = *src;
	src->details = NULL;
	fm_error_release(src);
}

const char *fm_code_name(enum fm_code code)
{
	if ((size_t)code < NCODES)
		return code_names[code];
	return "PLUGIN_EXECUTION_ERROR";
}

int fm_code_parse(const char *name, enum fm_code *code)
{
	size_t i;

	for (i = 1; name && i < NCODES; i++) {
		if (!strcmp(name, code_names[i])) {
			*code = (enum fm_code)i;
			return 0;
		}
	}
	return -1;
}

json_object *fm_error_to_json(const struct fm_error *err)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "code", json_object_new_string(fm_code_name(err->code)));
	json_object_object_add(o, "message", json_object_new_string(err->message));
	if (err->details)
		json_object_object_add(o, "details", json_object_get(err->details));
	return o;
}

void fm_error_from_json(struct fm_error *err, json_object *obj, enum fm_code fallback)
{
	json_object *v;
	enum fm_code code = fallback;
	const char *msg = "";

	fm_error_release(err);
	if (json_object_object_get_ex(obj, "code", &v) && json_object_is_type(v, json_type_string))
		fm_code_parse(json_object_get_string(v), &code);
	if (json_object_object_get_ex(obj, "message", &v) &&
	    json_object_is_type(v, json_type_string))
		msg = json_object_get_string(v);
	fm_error(err, code, "%s", msg);
	if (json_object_object_get_ex(obj, "details", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_put(err->details);
		err->details = json_object_get(v);
	}
}
