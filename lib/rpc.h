/*
 * JSON-RPC 2.0 framing for the plugin protocol (DESIGN §3): one message
 * per line. Building messages, and reading one line into a classified
 * message with a clear error for anything that is not JSON-RPC 2.0.
 */
#ifndef FM_RPC_H
#define FM_RPC_H

#include <stdint.h>
#include <json-c/json.h>

#include "error.h"

/* Standard JSON-RPC error codes. */
enum {
	FM_RPC_PARSE_ERROR = -32700,
	FM_RPC_INVALID_REQUEST = -32600,
	FM_RPC_METHOD_NOT_FOUND = -32601,
	FM_RPC_INVALID_PARAMS = -32602,
	FM_RPC_INTERNAL_ERROR = -32603,
};

enum fm_rpc_kind {
	FM_RPC_REQUEST,	     /* method + id */
	FM_RPC_NOTIFICATION, /* method, no id */
	FM_RPC_RESULT,	     /* id + result */
	FM_RPC_ERROR,	     /* id + error */
};

struct fm_rpc_msg {
	enum fm_rpc_kind kind;
	json_object *root;   /* owns everything below */
	const char *method;  /* requests and notifications */
	json_object *params; /* may be NULL */
	json_object *id;     /* NULL for notifications (and null ids) */
	json_object *result;
	int64_t error_code;
	const char *error_message;
	json_object *error_data;
};

/* Parses one line; the message owns a reference to the parsed JSON. */
int fm_rpc_parse(const char *line, size_t len, struct fm_rpc_msg *msg, struct fm_error *err);
void fm_rpc_msg_release(struct fm_rpc_msg *msg);
/* Whether msg's id is the integer id (or its decimal string). */
int fm_rpc_id_is(const struct fm_rpc_msg *msg, int64_t id);

/* Builders; each takes ownership of the json_object arguments. */
json_object *fm_rpc_request(int64_t id, const char *method, json_object *params);
json_object *fm_rpc_notification(const char *method, json_object *params);
json_object *fm_rpc_result(json_object *id, json_object *result);
json_object *fm_rpc_error(json_object *id, int code, const char *message, json_object *data);

#endif
