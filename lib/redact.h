/*
 * Keeping secrets out of everything filmeto says: the one redaction
 * every remote plugin, lib/http.c and the plugin SDK use.
 *
 * The secrets are the process's: every key fm_http_key() reads (and any
 * other a caller adds) is kept in one set, and every text the process
 * writes from a service's answer goes through it, whichever code path
 * writes it. A secret is found in any of the spellings a service may
 * echo it in, mixed freely character by character:
 *
 *   as it is                   sk-abc
 *   JSON and JavaScript        \u002d \u002D \/ \\ \" \' \xHH, UTF-16 pairs
 *   URL-encoded                %2D %2d
 *   HTML character references  &#45; &#x2d; &amp; &lt; &gt; &quot; &apos;
 *   one of those nested once   %252D \\u002d \u0025 2D %5Cu002d
 *   base64 and base64url       of the key at any of the three byte
 *                              alignments (keys of 14 bytes or more)
 *
 * Text is matched after decoding as well as before: callers redact the
 * decoded strings of a JSON reply (fm_redact_json) and raw text
 * (fm_redact) alike. A text that ends in the first FM_REDACT_MIN bytes
 * of a secret or more is redacted too: a cut may have made it. A stream
 * (fm_redact_feed) holds back the tail that could still become a secret
 * until the next piece or the end tells, so a secret split across two
 * reads, two events or two deltas never leaves in halves.
 *
 * What is not found: a secret changed in case, reversed, split by
 * inserted text or line breaks, or in any other encoding; an answer
 * that means to leak the key can always do so. The aim is the careless
 * service that echoes what it got.
 */
#ifndef FM_REDACT_H
#define FM_REDACT_H

#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"

/*
 * Shortest secret searched for, in bytes. Shorter ones are placeholders
 * ("ollama", "EMPTY", "none", what local servers take) whose redaction
 * would only mangle ordinary text.
 */
#define FM_REDACT_MIN 8
/* Secrets kept at once; the oldest is forgotten when a new one comes. */
#define FM_REDACT_SECRETS_MAX 16
/* Shortest base64 spelling searched for, in characters. */
#define FM_REDACT_BASE64_MIN 16
/* What replaces a secret, unless a secret could be made from it. */
#define FM_REDACT_MARK "[redacted]"

/* Remembers secret (copied) for every later redaction in this process. */
void fm_secret_add(const char *secret);
/* Forgets and wipes every secret (tests). */
void fm_secret_forget(void);
/* How many secrets are kept; 0 makes every redaction a copy. */
int fm_secret_count(void);

/*
 * s[0..len) with every secret in every spelling replaced by the mark: a
 * new NUL-terminated string, its length in *outlen when not NULL.
 */
char *fm_redact(const char *s, size_t len, size_t *outlen);
/* Redacted first, then cut to at most max bytes at a UTF-8 boundary. */
char *fm_redact_cut(const char *s, size_t len, size_t max);
/* A NUL-terminated text in a buffer of size bytes, redacted in place. */
void fm_redact_buf(char *buf, size_t size);
/* Every string and every member name under o, redacted in place. */
void fm_redact_json(json_object *o);
/* Whether a MIME type is text a service could echo a key in. */
int fm_redact_is_text(const char *mime);

/* A text arriving in pieces. */
struct fm_redact_stream {
	struct fm_buf pending; /* not yet told: may be the start of a secret */
};

void fm_redact_stream_init(struct fm_redact_stream *st);
/*
 * The next piece: returns what is certain (redacted, possibly empty, a
 * new string whose length goes in *outlen) and keeps the rest.
 */
char *fm_redact_feed(struct fm_redact_stream *st, const char *data, size_t n, size_t *outlen);
/* The end: the rest, redacted; the stream is then empty. */
char *fm_redact_finish(struct fm_redact_stream *st, size_t *outlen);
void fm_redact_stream_release(struct fm_redact_stream *st);

#endif
