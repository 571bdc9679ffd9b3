/*
 * Addresses a fetch restricted to the public internet refuses: every
 * special-purpose IPv4 block, the IPv6 ones, and IPv6 forms that carry
 * an IPv4 address judged by it; public ones of both families pass.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "tap.h"

/* What fm_addr_restricted says of text (an IPv4 or IPv6 address). */
static const char *judge(const char *text)
{
	static struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return "unparsed";
	return fm_addr_restricted((struct sockaddr *)&ss);
}

void test_addr(void)
{
	static const char *const refused[] = {
	    "0.0.0.0",
	    "10.1.2.3",
	    "100.64.0.1",
	    "100.127.255.255",
	    "127.0.0.1",
	    "127.255.0.9",
	    "169.254.169.254",
	    "172.16.0.1",
	    "172.31.255.255",
	    "192.0.0.8",
	    "192.0.2.1",
	    "192.168.1.1",
	    "198.18.0.1",
	    "198.19.255.255",
	    "198.51.100.7",
	    "203.0.113.9",
	    "224.0.0.251",
	    "239.1.1.1",
	    "240.0.0.1",
	    "255.255.255.255",
	    "::",
	    "::1",
	    "::ffff:127.0.0.1",
	    "::ffff:10.0.0.1",
	    "64:ff9b::a9fe:a9fe",
	    "2002:c0a8:101::1",
	    "::127.0.0.1",
	    "fc00::1",
	    "fd12:3456::1",
	    "fe80::1",
	    "fec0::1",
	    "ff02::1",
	    "2001:db8::1",
	    "64:ff9b:1::a00:1",
	    "2001::1",
	    "2001:1ff::1",
	};
	static const char *const public[] = {
	    "1.1.1.1",	    "8.8.8.8",	   "100.63.255.255", "100.128.0.0",	 "126.255.255.255",
	    "128.0.0.1",    "169.253.0.1", "172.15.255.255", "172.32.0.0",	 "192.0.1.1",
	    "192.169.0.1",  "198.17.0.1",  "198.20.0.1",     "223.255.255.1",	 "2606:4700::1111",
	    "2a00:1450::1", "2001:200::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	};
	struct sockaddr sa = {.sa_family = AF_UNIX};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(*refused); i++)
		OK(judge(refused[i]) && strcmp(judge(refused[i]), "unparsed"), "addr: %s refused",
		   refused[i]);
	for (i = 0; i < sizeof(public) / sizeof(*public); i++)
		OK(!judge(public[i]), "addr: %s public (%s)", public[i],
		   judge(public[i]) ? judge(public[i]) : "");
	IS_STR(judge("127.0.0.1"), "a loopback address", "addr: loopback said so");
	IS_STR(judge("169.254.169.254"), "a link-local address", "addr: metadata said so");
	IS_STR(judge("::ffff:192.168.0.1"), "a private address", "addr: mapped judged by IPv4");
	OK(fm_addr_restricted(&sa) != NULL, "addr: a unix socket is no internet address");
	{
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};

		inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr);
		fm_addr_text((struct sockaddr *)&s6, buf, sizeof(buf));
		IS_STR(buf, "fe80::1", "addr: IPv6 said as text");
	}
	fm_addr_text(&sa, buf, sizeof(buf));
	IS_STR(buf, "?", "addr: an unknown family said as ?");
}
