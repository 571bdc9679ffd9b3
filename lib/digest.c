/*
 * Hashes and base64 on Nettle (digest.h). Nettle's contexts live on the
 * stack: nothing here allocates, so nothing here can fail for memory.
 */
#include <string.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/sha1.h>

#include "digest.h"

/* Base64 text decoded per round, into a block on the stack. */
#define DECODE_CHUNK 4096

void fm_sha256_init(struct fm_sha256 *s)
{
	sha256_init(&s->ctx);
}

void fm_sha256_update(struct fm_sha256 *s, const void *data, size_t n)
{
	sha256_update(&s->ctx, n, data);
}

void fm_sha256_final(struct fm_sha256 *s, uint8_t out[FM_SHA256_BYTES])
{
	sha256_digest(&s->ctx, FM_SHA256_BYTES, out);
}

void fm_sha256(const void *data, size_t n, uint8_t out[FM_SHA256_BYTES])
{
	struct fm_sha256 s;

	fm_sha256_init(&s);
	fm_sha256_update(&s, data, n);
	fm_sha256_final(&s, out);
}

void fm_sha1(const void *data, size_t n, uint8_t out[FM_SHA1_BYTES])
{
	struct sha1_ctx s;

	sha1_init(&s);
	sha1_update(&s, n, data);
	sha1_digest(&s, FM_SHA1_BYTES, out);
}

void fm_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
		    uint8_t out[FM_SHA256_BYTES])
{
	struct hmac_sha256_ctx h;

	hmac_sha256_set_key(&h, klen, key);
	hmac_sha256_update(&h, n, msg);
	hmac_sha256_digest(&h, FM_SHA256_BYTES, out);
	/* the context holds the key's pads: S3's secret must not stay on the stack */
	explicit_bzero(&h, sizeof(h));
}

void fm_hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 0xf];
	}
	out[2 * n] = '\0';
}

char *fm_base64_encode(char *out, size_t size, const void *in, size_t n)
{
	if (size < FM_BASE64_SIZE(n))
		return NULL;
	base64_encode_raw(out, n, in);
	out[FM_BASE64_SIZE(n) - 1] = '\0';
	return out;
}

static int alphabet(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static int decode(struct base64_decode_ctx *ctx, uint8_t *out, size_t size, size_t *done,
		  const char *in, size_t n)
{
	uint8_t block[BASE64_DECODE_LENGTH(DECODE_CHUNK)];
	size_t i, len, got;

	for (i = 0; i < n; i += len) {
		len = n - i < DECODE_CHUNK ? n - i : DECODE_CHUNK;
		if (!base64_decode_update(ctx, &got, block, len, in + i) || got > size - *done)
			return -1;
		memcpy(out + *done, block, got);
		*done += got;
	}
	return 0;
}

ssize_t fm_base64_decode(uint8_t *out, size_t size, const char *in, size_t n)
{
	static const char pad[] = "===";
	struct base64_decode_ctx ctx;
	size_t done = 0, i, sig = 0;

	base64_decode_init(&ctx);
	if (decode(&ctx, out, size, &done, in, n) < 0)
		return -1;
	/*
	 * Text that leaves its padding out (as libavutil, which decoded these
	 * before, allowed) ends mid-group: the padding is added here. One
	 * character over a group stays an error.
	 */
	for (i = 0; i < n; i++)
		sig += alphabet(in[i]);
	if (!memchr(in, '=', n) && sig % 4 && decode(&ctx, out, size, &done, pad, 4 - sig % 4) < 0)
		return -1;
	if (!base64_decode_final(&ctx))
		return -1;
	return (ssize_t)done;
}
