/*
 * libcurl, opened on first use rather than linked. With its TLS stack it
 * is some 30 shared objects, ~3 ms of CPU at every start and ~6 MB
 * resident, in every command and C plugin that links libfilmeto, most of
 * which never make a request (bench/startup.sh). The functions are
 * libcurl's own, named fm_curl_*; the library is opened once, on any
 * thread, by the first of them or by fm_curl_load, which says why it
 * could not be. Unopened, they fail as libcurl does for want of memory.
 */
#ifndef FM_CURL_LAZY_H
#define FM_CURL_LAZY_H

#include <time.h>

#include <curl/curl.h>

#include "error.h"

/* The library opened, its global state set up: 0, or -1 with err. */
int fm_curl_load(struct fm_error *err);

CURL *fm_curl_easy_init(void);
void fm_curl_easy_cleanup(CURL *c);
void fm_curl_easy_reset(CURL *c);
/* One argument after opt, of the type libcurl's option table gives it. */
CURLcode fm_curl_easy_setopt(CURL *c, CURLoption opt, ...);
/* One pointer argument after info. */
CURLcode fm_curl_easy_getinfo(CURL *c, CURLINFO info, ...);
CURLcode fm_curl_easy_perform(CURL *c);
CURLcode fm_curl_easy_recv(CURL *c, void *buf, size_t len, size_t *n);
CURLcode fm_curl_easy_send(CURL *c, const void *buf, size_t len, size_t *n);
const char *fm_curl_easy_strerror(CURLcode rc);
void fm_curl_free(void *p);
time_t fm_curl_getdate(const char *s, const time_t *unused);
curl_mime *fm_curl_mime_init(CURL *c);
curl_mimepart *fm_curl_mime_addpart(curl_mime *m);
CURLcode fm_curl_mime_data(curl_mimepart *p, const char *data, size_t len);
CURLcode fm_curl_mime_filedata(curl_mimepart *p, const char *path);
CURLcode fm_curl_mime_name(curl_mimepart *p, const char *name);
CURLcode fm_curl_mime_type(curl_mimepart *p, const char *type);
struct curl_slist *fm_curl_slist_append(struct curl_slist *l, const char *s);
void fm_curl_slist_free_all(struct curl_slist *l);
CURLU *fm_curl_url(void);
void fm_curl_url_cleanup(CURLU *u);
CURLUcode fm_curl_url_get(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
CURLUcode fm_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
/* NULL when the library cannot be opened. */
const curl_version_info_data *fm_curl_version_info(CURLversion age);

#endif
