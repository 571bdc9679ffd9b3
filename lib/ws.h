/*
 * A WebSocket client (RFC 6455) for services that report progress over
 * one, such as ComfyUI. libcurl makes the connection (CURLOPT_CONNECT_ONLY,
 * so proxies, IPv6 and TLS work as for every other request), the upgrade
 * is written and checked here, and wslay does the framing: masking,
 * fragments, ping/pong and the closing handshake. Receive only: the
 * client never sends data messages.
 */
#ifndef FM_WS_H
#define FM_WS_H

#include <stddef.h>

#include "error.h"

/* Largest upgrade reply (status line and headers) read. */
#define FM_WS_HANDSHAKE_MAX (16 * 1024)
/* Largest message accepted; a longer one closes the connection (1009). */
#define FM_WS_MSG_MAX (64 * 1024 * 1024)
/* Milliseconds allowed for the upgrade reply after the connection is made. */
#define FM_WS_HANDSHAKE_TIMEOUT 10000

/*
 * The key the memory transport (fm_ws_open_mem) sends, so test inputs can
 * carry the matching Sec-WebSocket-Accept: the example key of RFC 6455,
 * whose accept value is "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
 */
#define FM_WS_TEST_KEY "dGhlIHNhbXBsZSBub25jZQ=="

struct fm_ws;

/*
 * Connects to url (http://, https://, ws:// or wss://, with path and
 * query) within connect_timeout seconds and upgrades the connection.
 * A refused upgrade (any reply but a valid 101) or a failed connection is
 * a SERVICE_ERROR naming the url; the reply's status is in details.
 */
int fm_ws_open(struct fm_ws **ws, const char *url, long connect_timeout, struct fm_error *err);
/*
 * Waits at most timeout_ms (0: only what has arrived) for one message.
 * Returns 1 with *msg (NUL-terminated, freed by the caller), *len and
 * *binary; 0 when none came in time; -1 when the connection is closed
 * (a close frame, end of stream) or broken, with err saying which.
 */
int fm_ws_recv(struct fm_ws *ws, int timeout_ms, char **msg, size_t *len, int *binary,
	       struct fm_error *err);
/* Sends a close frame when it can, and frees everything. ws may be NULL. */
void fm_ws_close(struct fm_ws *ws);

/*
 * For tests and fuzzing: a WebSocket whose server side is the len bytes
 * at data, the reply to an upgrade that sent FM_WS_TEST_KEY followed by
 * frames; what the client sends is dropped. data must outlive ws.
 */
int fm_ws_open_mem(struct fm_ws **ws, const void *data, size_t len, struct fm_error *err);

#endif
