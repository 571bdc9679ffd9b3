/*
 * Address classes from the IANA special-purpose registries (RFC 6890 and
 * its updates): everything a fetch restricted to the public internet
 * refuses. Names, not just a yes or no, so the task's error says why.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

static const struct {
	uint32_t net;
	int bits;
	const char *what;
} v4_blocks[] = {
    {0x00000000, 8, "an unspecified address"},		/* 0.0.0.0/8 */
    {0x0a000000, 8, "a private address"},		/* 10.0.0.0/8 */
    {0x64400000, 10, "a shared (carrier NAT) address"}, /* 100.64.0.0/10 */
    {0x7f000000, 8, "a loopback address"},		/* 127.0.0.0/8 */
    {0xa9fe0000, 16, "a link-local address"},		/* 169.254.0.0/16: cloud metadata */
    {0xac100000, 12, "a private address"},		/* 172.16.0.0/12 */
    {0xc0000000, 24, "a protocol assignment address"},	/* 192.0.0.0/24 */
    {0xc0000200, 24, "a documentation address"},	/* 192.0.2.0/24 */
    {0xc0a80000, 16, "a private address"},		/* 192.168.0.0/16 */
    {0xc6120000, 15, "a benchmarking address"},		/* 198.18.0.0/15 */
    {0xc6336400, 24, "a documentation address"},	/* 198.51.100.0/24 */
    {0xcb007100, 24, "a documentation address"},	/* 203.0.113.0/24 */
    {0xe0000000, 4, "a multicast address"},		/* 224.0.0.0/4 */
    {0xf0000000, 4, "a reserved address"},		/* 240.0.0.0/4, broadcast too */
};

static const char *v4_restricted(uint32_t a)
{
	size_t i;

	for (i = 0; i < sizeof(v4_blocks) / sizeof(*v4_blocks); i++)
		if ((a & (0xffffffffu << (32 - v4_blocks[i].bits))) == v4_blocks[i].net)
			return v4_blocks[i].what;
	return NULL;
}

static uint32_t v4_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *v6_restricted(const uint8_t *a)
{
	static const uint8_t zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
				       nat64[12] = {0, 0x64, 0xff, 0x9b};

	if (!memcmp(a, zero, 15))
		return a[15] == 1 ? "a loopback address" : "an unspecified address";
	/* Forms that carry an IPv4 address reach it: judged by it. */
	if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12))
		return v4_restricted(v4_at(a + 12));
	if (!memcmp(a, nat64, 4) && a[4] == 0 && a[5] == 1) /* 64:ff9b:1::/48 */
		return "a local NAT64 address";
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) /* 2001::/23, Teredo among them */
		return "a protocol assignment address";
	if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16, 6to4 */
		return v4_restricted(v4_at(a + 2));
	if (!memcmp(a, zero, 12)) /* ::a.b.c.d, IPv4-compatible (deprecated) */
		return "a reserved address";
	if ((a[0] & 0xfe) == 0xfc)
		return "a private (unique local) address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return "a site-local address";
	if (a[0] == 0xff)
		return "a multicast address";
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return "a documentation address";
	return NULL;
}

const char *fm_addr_restricted(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_restricted(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_restricted(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	return "not an internet address";
}

void fm_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}
