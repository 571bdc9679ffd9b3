/*
 * Which network addresses a fetch may reach when it must stay on the
 * public internet: a task queued over HTTP by a key that is not admin
 * names URLs the server's workers fetch, and must not make them reach
 * the server itself, its network or a cloud's metadata service (SSRF).
 */
#ifndef FM_ADDR_H
#define FM_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * NULL when sa is a public unicast address; otherwise what it is, in a
 * few words ("a loopback address", "a private address", ...). IPv6
 * addresses that carry an IPv4 one (mapped, NAT64, 6to4) are judged by
 * it. A family other than IPv4 and IPv6 is not public.
 */
const char *fm_addr_restricted(const struct sockaddr *sa);

/* sa's address as text (no port) into buf; "?" when it cannot be said. */
void fm_addr_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
