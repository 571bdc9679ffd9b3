/*
 * JSON-RPC 2.0 messages, one per line. Parsing classifies a line into a
 * request, notification, result or error response, and rejects anything
 * else with a message that says what was wrong, so a misbehaving plugin
 * is reported rather than half-understood.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rpc.h"
#include "util.h"

static int valid_id(json_object *id)
{
	return json_object_is_type(id, json_type_int) ||
	       json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_null);
}

static int parse_error_member(struct fm_rpc_msg *msg, json_object *e, struct fm_error *err)
{
	json_object *code, *message;

	if (!json_object_is_type(e, json_type_object) ||
	    !json_object_object_get_ex(e, "code", &code) ||
	    !json_object_is_type(code, json_type_int) ||
	    !json_object_object_get_ex(e, "message", &message) ||
	    !json_object_is_type(message, json_type_string))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"JSON-RPC error member needs an integer code and a string message");
	msg->kind = FM_RPC_ERROR;
	msg->error_code = json_object_get_int64(code);
	msg->error_message = json_object_get_string(message);
	json_object_object_get_ex(e, "data", &msg->error_data);
	return 0;
}

static int classify(struct fm_rpc_msg *msg, struct fm_error *err)
{
	json_object *o = msg->root, *v, *id = NULL, *method = NULL;
	int has_id, has_result, has_error;

	if (!json_object_is_type(o, json_type_object))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"JSON-RPC message must be an object");
	if (!json_object_object_get_ex(o, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0"))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"JSON-RPC message needs \"jsonrpc\": \"2.0\"");
	has_id = json_object_object_get_ex(o, "id", &id);
	if (has_id && !valid_id(id))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"JSON-RPC id must be a string, an integer or null");
	if (has_id && !json_object_is_type(id, json_type_null))
		msg->id = id;
	if (json_object_object_get_ex(o, "method", &method)) {
		if (!json_object_is_type(method, json_type_string))
			return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
					"JSON-RPC method must be a string");
		msg->method = json_object_get_string(method);
		if (json_object_object_get_ex(o, "params", &msg->params) &&
		    !json_object_is_type(msg->params, json_type_object) &&
		    !json_object_is_type(msg->params, json_type_array))
			return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
					"JSON-RPC params must be an object or an array");
		msg->kind = has_id ? FM_RPC_REQUEST : FM_RPC_NOTIFICATION;
		return 0;
	}
	has_result = json_object_object_get_ex(o, "result", &msg->result);
	has_error = json_object_object_get_ex(o, "error", &v);
	if (!has_id || has_result == has_error)
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"JSON-RPC message is neither a request nor a response");
	if (has_error)
		return parse_error_member(msg, v, err);
	msg->kind = FM_RPC_RESULT;
	return 0;
}

int fm_rpc_parse(const char *line, size_t len, struct fm_rpc_msg *msg, struct fm_error *err)
{
	memset(msg, 0, sizeof(*msg));
	if (fm_json_parse(line, len, &msg->root, err) < 0) {
		if (err)
			err->code = FM_PLUGIN_EXECUTION_ERROR;
		return -1;
	}
	if (classify(msg, err) < 0) {
		fm_rpc_msg_release(msg);
		return -1;
	}
	return 0;
}

void fm_rpc_msg_release(struct fm_rpc_msg *msg)
{
	json_object_put(msg->root);
	memset(msg, 0, sizeof(*msg));
}

int fm_rpc_id_is(const struct fm_rpc_msg *msg, int64_t id)
{
	char buf[32];

	if (!msg->id)
		return 0;
	if (json_object_is_type(msg->id, json_type_int))
		return json_object_get_int64(msg->id) == id;
	snprintf(buf, sizeof(buf), "%" PRId64, id);
	return !strcmp(json_object_get_string(msg->id), buf);
}

static json_object *envelope(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	return o;
}

json_object *fm_rpc_request(int64_t id, const char *method, json_object *params)
{
	json_object *o = envelope();

	json_object_object_add(o, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(o, "params", params);
	json_object_object_add(o, "id", json_object_new_int64(id));
	return o;
}

json_object *fm_rpc_notification(const char *method, json_object *params)
{
	json_object *o = envelope();

	json_object_object_add(o, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(o, "params", params);
	return o;
}

json_object *fm_rpc_result(json_object *id, json_object *result)
{
	json_object *o = envelope();

	json_object_object_add(o, "result", result ? result : json_object_new_object());
	json_object_object_add(o, "id", id);
	return o;
}

json_object *fm_rpc_error(json_object *id, int code, const char *message, json_object *data)
{
	json_object *o = envelope(), *e = json_object_new_object();

	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	if (data)
		json_object_object_add(e, "data", data);
	json_object_object_add(o, "error", e);
	json_object_object_add(o, "id", id);
	return o;
}
