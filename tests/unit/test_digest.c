/*
 * Hashes and base64 (lib/digest.h) against the published test vectors:
 * FIPS 180-2's examples for SHA-256 and SHA-1, RFC 4231's for
 * HMAC-SHA256, RFC 4648 §10's for base64, and RFC 6455's handshake.
 */
#include <string.h>

#include "digest.h"
#include "tap.h"

static const char *sha256_hex(const void *data, size_t n)
{
	static char hex[2 * FM_SHA256_BYTES + 1];
	uint8_t d[FM_SHA256_BYTES];

	fm_sha256(data, n, d);
	fm_hex(d, sizeof(d), hex);
	return hex;
}

static void test_sha(void)
{
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static char million[1000000];
	struct fm_sha256 s;
	uint8_t d[FM_SHA256_BYTES];
	char hex[2 * FM_SHA256_BYTES + 1];
	size_t i;

	IS_STR(sha256_hex("", 0),
	       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "digest: SHA-256 of nothing");
	IS_STR(sha256_hex("abc", 3),
	       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "digest: SHA-256 of 'abc' (FIPS 180-2)");
	IS_STR(sha256_hex(two_blocks, strlen(two_blocks)),
	       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	       "digest: SHA-256 of two blocks (FIPS 180-2)");
	memset(million, 'a', sizeof(million));
	/* fed in uneven pieces, as a file is read */
	fm_sha256_init(&s);
	for (i = 0; i < sizeof(million); i += 4099)
		fm_sha256_update(&s, million + i,
				 sizeof(million) - i < 4099 ? sizeof(million) - i : 4099);
	fm_sha256_final(&s, d);
	fm_hex(d, sizeof(d), hex);
	IS_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "digest: SHA-256 of a million 'a' in pieces (FIPS 180-2)");

	fm_sha1("abc", 3, d);
	fm_hex(d, FM_SHA1_BYTES, hex);
	IS_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d", "digest: SHA-1 of 'abc'");
	fm_sha1(two_blocks, strlen(two_blocks), d);
	fm_hex(d, FM_SHA1_BYTES, hex);
	IS_STR(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
	       "digest: SHA-1 of two blocks (FIPS 180-2)");
}

static void test_hmac(void)
{
	static const char big_key_msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t key[131], d[FM_SHA256_BYTES];
	char hex[2 * FM_SHA256_BYTES + 1];

	memset(key, 0x0b, 20);
	fm_hmac_sha256(key, 20, "Hi There", 8, d);
	fm_hex(d, sizeof(d), hex);
	IS_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	       "digest: HMAC-SHA256, RFC 4231 case 1");
	fm_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	fm_hex(d, sizeof(d), hex);
	IS_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	       "digest: HMAC-SHA256, RFC 4231 case 2");
	memset(key, 0xaa, sizeof(key));
	fm_hmac_sha256(key, sizeof(key), big_key_msg, strlen(big_key_msg), d);
	fm_hex(d, sizeof(d), hex);
	IS_STR(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	       "digest: HMAC-SHA256, RFC 4231 case 6 (a key longer than a block)");
}

static void test_base64(void)
{
	static const char *const vec[][2] = {{"", ""},
					     {"f", "Zg=="},
					     {"fo", "Zm8="},
					     {"foo", "Zm9v"},
					     {"foob", "Zm9vYg=="},
					     {"fooba", "Zm9vYmE="},
					     {"foobar", "Zm9vYmFy"}};
	static const char *const bad[] = {
	    "!!!not base64!!!", "Zg==Zg==", "Z", "Zm9vY", "Zm-v", "Zg=x"};
	char text[FM_BASE64_SIZE(6)], accept[FM_BASE64_SIZE(FM_SHA1_BYTES)];
	uint8_t bin[16], sha[FM_SHA1_BYTES];
	ssize_t n;
	size_t i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t len = strlen(vec[i][0]);

		OK(fm_base64_encode(text, FM_BASE64_SIZE(len), vec[i][0], len) == text,
		   "digest: base64 of '%s' fits FM_BASE64_SIZE", vec[i][0]);
		IS_STR(text, vec[i][1], "digest: base64 of '%s' (RFC 4648)", vec[i][0]);
		n = fm_base64_decode(bin, FM_BASE64_DECODED_MAX(strlen(vec[i][1])), vec[i][1],
				     strlen(vec[i][1]));
		OK(n == (ssize_t)len && !memcmp(bin, vec[i][0], len),
		   "digest: '%s' decodes back (RFC 4648)", vec[i][1]);
	}
	OK(!fm_base64_encode(text, FM_BASE64_SIZE(3) - 1, "foo", 3),
	   "digest: encoding refuses a buffer one byte short");
	n = fm_base64_decode(bin, sizeof(bin), "Zm9vYg", 6);
	OK(n == 4 && !memcmp(bin, "foob", 4), "digest: padding may be left out (%zd)", n);
	n = fm_base64_decode(bin, sizeof(bin), "Zm9v\r\nYmFy\n", 11);
	OK(n == 6 && !memcmp(bin, "foobar", 6), "digest: line breaks are skipped (%zd)", n);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		OK(fm_base64_decode(bin, sizeof(bin), bad[i], strlen(bad[i])) < 0,
		   "digest: '%s' is not base64", bad[i]);
	OK(fm_base64_decode(bin, 5, "Zm9vYmFy", 8) < 0,
	   "digest: decoding refuses a buffer too small");

	/* the WebSocket handshake's example (RFC 6455 §1.3): SHA-1 and base64 */
	fm_sha1("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 60, sha);
	fm_base64_encode(accept, sizeof(accept), sha, sizeof(sha));
	IS_STR(accept,
	       "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "digest: the RFC 6455 handshake's accept value");
}

void test_digest(void)
{
	test_sha();
	test_hmac();
	test_base64();
}
