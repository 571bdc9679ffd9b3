/*
 * Fuzz target: one line from a plugin, through fm_rpc_parse. A refused
 * line must be refused with a message and leave nothing allocated; an
 * accepted one is answered the way the host and the SDK answer (a result
 * for a request; the same message rebuilt for the others) and the answer
 * must parse back as the kind it is, with the same id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"

static json_object *ref(json_object *o)
{
	return o ? json_object_get(o) : NULL;
}

/* The message a peer would send back, and the kind it must parse as. */
static json_object *answer(const struct fm_rpc_msg *m, enum fm_rpc_kind *kind)
{
	json_object *r;

	switch (m->kind) {
	case FM_RPC_REQUEST:
		*kind = FM_RPC_RESULT;
		r = json_object_new_object();
		json_object_object_add(r, "status", json_object_new_string("pong"));
		return fm_rpc_result(ref(m->id), r);
	case FM_RPC_NOTIFICATION:
		*kind = FM_RPC_NOTIFICATION;
		return fm_rpc_notification(m->method, ref(m->params));
	case FM_RPC_RESULT: *kind = FM_RPC_RESULT; return fm_rpc_result(ref(m->id), ref(m->result));
	case FM_RPC_ERROR:
	default:
		*kind = FM_RPC_ERROR;
		return fm_rpc_error(ref(m->id), (int)m->error_code, m->error_message,
				    ref(m->error_data));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_rpc_msg m, back;
	enum fm_rpc_kind kind;
	json_object *reply, *err_reply;
	const char *s;

	if (fm_rpc_parse((const char *)data, size, &m, &err) < 0) {
		if (err.code != FM_PLUGIN_EXECUTION_ERROR || !err.message[0] || m.root)
			abort();
		fm_error_release(&err);
		return 0;
	}
	/* Ids: an integer id matches itself and its decimal string only. */
	if (m.id && json_object_is_type(m.id, json_type_int) &&
	    !fm_rpc_id_is(&m, json_object_get_int64(m.id)))
		abort();
	if (!m.id && (fm_rpc_id_is(&m, 0) || fm_rpc_id_is(&m, 1)))
		abort();
	(void)fm_rpc_id_is(&m, -1);
	if ((m.kind == FM_RPC_REQUEST || m.kind == FM_RPC_NOTIFICATION) && !m.method)
		abort();
	if (m.kind == FM_RPC_ERROR && !m.error_message)
		abort();

	reply = answer(&m, &kind);
	s = fm_json_str(reply);
	if (fm_rpc_parse(s, strlen(s), &back, &err) < 0 || back.kind != kind)
		abort();
	if (m.id && (!back.id || !json_object_equal(m.id, back.id)))
		abort();
	if (kind == FM_RPC_NOTIFICATION && strcmp(m.method, back.method))
		abort();
	fm_rpc_msg_release(&back);
	json_object_put(reply);

	/* Requests can also be refused, as the SDK does for unknown methods. */
	if (m.kind == FM_RPC_REQUEST) {
		err_reply = fm_rpc_error(ref(m.id), FM_RPC_METHOD_NOT_FOUND, "Method not found",
					 m.method ? json_object_new_string(m.method) : NULL);
		s = fm_json_str(err_reply);
		if (fm_rpc_parse(s, strlen(s), &back, &err) < 0 || back.kind != FM_RPC_ERROR ||
		    back.error_code != FM_RPC_METHOD_NOT_FOUND)
			abort();
		fm_rpc_msg_release(&back);
		json_object_put(err_reply);
	}
	fm_rpc_msg_release(&m);
	fm_error_release(&err);
	return 0;
}
