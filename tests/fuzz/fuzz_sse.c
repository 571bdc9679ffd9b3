/*
 * Fuzz target: server-sent events as the remote plugins read them
 * (lib/http.c), each event's data then parsed as the JSON the plugins
 * expect. Any bytes must end in events or an error, never a crash, a
 * leak or a hang; an event's type is never empty and its data never
 * larger than FM_SSE_DATA_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *arg, const char *type, const char *d, size_t len, const char *id)
{
	json_object *j = NULL;

	(void)id;
	if (!type[0] || len > FM_SSE_DATA_MAX || d[len] != '\0')
		abort();
	if (fm_json_parse(d, len, &j, NULL) == 0)
		json_object_put(j);
	/* "[DONE]" ends an OpenAI stream: stopping must be clean too. */
	return strcmp(d, "[DONE]") == 0 ? (*(int *)arg = 1) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	char *buf = fm_xstrndup((const char *)data, size), *p = buf;
	struct fm_sse sse;
	int done = 0, rc = 0;

	fm_sse_init(&sse, on_event, &done);
	while (*p && rc == 0) {
		size_t n = strcspn(p, "\n"), end = n;

		if (end > 0 && p[end - 1] == '\r')
			end--;
		rc = fm_sse_line(&sse, p, end, &err);
		p += n + (p[n] == '\n');
	}
	if (rc == 0)
		fm_sse_end(&sse, &err);
	fm_sse_release(&sse);
	fm_error_release(&err);
	free(buf);
	return 0;
}
