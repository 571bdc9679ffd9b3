/*
 * SHA-256, SHA-1, HMAC-SHA256 and base64 for everything that is not media
 * (cache keys, S3 signatures, the WebSocket handshake, base64 resources,
 * secrets' spellings). Nettle does the work: libarchive loads it already,
 * so it costs a command nothing at start-up, where libavutil, which did
 * it before, brought libav*'s 170 shared objects into every command that
 * hashed a string (issue 21: filmeto-run started in 40 ms, not 5).
 */
#ifndef FM_DIGEST_H
#define FM_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nettle/sha2.h>

#define FM_SHA256_BYTES 32
#define FM_SHA1_BYTES	20
/* The size of n bytes' base64 text with its padding and NUL. */
#define FM_BASE64_SIZE(n) (((n) + 2) / 3 * 4 + 1)
/* The most bytes n characters of base64 text decode to. */
#define FM_BASE64_DECODED_MAX(n) (((n) + 3) / 4 * 3)

void fm_sha256(const void *data, size_t n, uint8_t out[FM_SHA256_BYTES]);
void fm_sha1(const void *data, size_t n, uint8_t out[FM_SHA1_BYTES]);
void fm_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
		    uint8_t out[FM_SHA256_BYTES]);

/* SHA-256 fed in pieces (a file read a block at a time). */
struct fm_sha256 {
	struct sha256_ctx ctx;
};
void fm_sha256_init(struct fm_sha256 *s);
void fm_sha256_update(struct fm_sha256 *s, const void *data, size_t n);
void fm_sha256_final(struct fm_sha256 *s, uint8_t out[FM_SHA256_BYTES]);

/* d as 2n lowercase hex digits and a NUL, into out (2n + 1 bytes). */
void fm_hex(const uint8_t *d, size_t n, char *out);

/*
 * The base64 (RFC 4648 §4, padded) of in[0..n) into out, NUL-terminated;
 * out, or NULL when size is less than FM_BASE64_SIZE(n).
 */
char *fm_base64_encode(char *out, size_t size, const void *in, size_t n);
/*
 * Decodes n characters of base64: the standard alphabet, padding optional,
 * white space (a MIME text's line breaks) skipped. The number of bytes
 * written to out, or -1 for anything else in the text or when size (at
 * least FM_BASE64_DECODED_MAX(n) will do) is too small.
 */
ssize_t fm_base64_decode(uint8_t *out, size_t size, const char *in, size_t n);

#endif
