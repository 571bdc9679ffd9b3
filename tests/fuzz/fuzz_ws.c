/*
 * Fuzz target: the WebSocket client of lib/ws.c, with any bytes as the
 * server's side of the connection: the upgrade reply (to the key
 * FM_WS_TEST_KEY), then frames. Every input must end in messages and a
 * close, or an error of the codes the client promises, never a crash, a
 * leak or a hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* More messages than any input can hold: a loop beyond it is a hang. */
#define FUZZ_MSGS_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_ws *ws;
	size_t n = 0;

	if (fm_ws_open_mem(&ws, data, size, &err) == 0) {
		for (;;) {
			char *msg;
			size_t len;
			int binary, r = fm_ws_recv(ws, 0, &msg, &len, &binary, &err);

			if (r < 0)
				break;
			if (r > 0) {
				/* Text arrives NUL-terminated, at its stated length. */
				if (msg[len] != '\0' || len > FM_WS_MSG_MAX)
					abort();
				free(msg);
			}
			if (++n > FUZZ_MSGS_MAX)
				abort();
		}
		fm_ws_close(ws);
	}
	if (err.code != FM_SERVICE_ERROR && err.code != FM_TIMEOUT_ERROR)
		abort();
	fm_error_release(&err);
	return 0;
}
