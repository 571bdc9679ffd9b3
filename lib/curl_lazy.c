/*
 * libcurl through dlopen (curl_lazy.h). Every function is looked up when
 * the library is opened, so a libcurl too old for one of them is refused
 * at once, with its name, not at the call that needs it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "curl_lazy.h"

/* What a function-pointer option is read as: any function pointer will do. */
typedef void (*any_fn)(void);

/* The soname filmeto is built against (libcurl4-openssl-dev). */
#define CURL_SONAME "libcurl.so.4"

/* name, return type, parameters: each libcurl function called */
#define CURL_FUNCS(X)                                                                              \
	X(global_init, CURLcode, (long))                                                           \
	X(easy_init, CURL *, (void))                                                               \
	X(easy_cleanup, void, (CURL *))                                                            \
	X(easy_reset, void, (CURL *))                                                              \
	X(easy_setopt, CURLcode, (CURL *, CURLoption, ...))                                        \
	X(easy_getinfo, CURLcode, (CURL *, CURLINFO, ...))                                         \
	X(easy_perform, CURLcode, (CURL *))                                                        \
	X(easy_recv, CURLcode, (CURL *, void *, size_t, size_t *))                                 \
	X(easy_send, CURLcode, (CURL *, const void *, size_t, size_t *))                           \
	X(easy_strerror, const char *, (CURLcode))                                                 \
	X(free, void, (void *))                                                                    \
	X(getdate, time_t, (const char *, const time_t *))                                         \
	X(mime_init, curl_mime *, (CURL *))                                                        \
	X(mime_addpart, curl_mimepart *, (curl_mime *))                                            \
	X(mime_data, CURLcode, (curl_mimepart *, const char *, size_t))                            \
	X(mime_filedata, CURLcode, (curl_mimepart *, const char *))                                \
	X(mime_name, CURLcode, (curl_mimepart *, const char *))                                    \
	X(mime_type, CURLcode, (curl_mimepart *, const char *))                                    \
	X(slist_append, struct curl_slist *, (struct curl_slist *, const char *))                  \
	X(slist_free_all, void, (struct curl_slist *))                                             \
	X(url, CURLU *, (void))                                                                    \
	X(url_cleanup, void, (CURLU *))                                                            \
	X(url_get, CURLUcode, (const CURLU *, CURLUPart, char **, unsigned int))                   \
	X(url_set, CURLUcode, (CURLU *, CURLUPart, const char *, unsigned int))                    \
	X(version_info, curl_version_info_data *, (CURLversion))

static struct {
#define FIELD(name, ret, params) ret(*name) params;
	CURL_FUNCS(FIELD)
#undef FIELD
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int opened; /* 1 opened and set up; 0 not (why says why) */
static char why[256];

static void open_library(void)
{
	void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;

	if (!lib) {
		snprintf(why, sizeof(why), "cannot load libcurl: %s", dlerror());
		return;
	}
#define LOOKUP(name, ret, params)                                                                  \
	if (!(*(void **)&api.name = dlsym(lib, "curl_" #name)) && !missing)                        \
		missing = "curl_" #name;
	CURL_FUNCS(LOOKUP)
#undef LOOKUP
	if (missing) {
		snprintf(why, sizeof(why), "libcurl (%s) has no %s", CURL_SONAME, missing);
		dlclose(lib);
		return;
	}
	/* curl_easy_init would do this itself, but not safely on two threads */
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, sizeof(why), "cannot set up libcurl");
		dlclose(lib);
		return;
	}
	opened = 1;
}

static int load(void)
{
	pthread_once(&once, open_library);
	return opened;
}

int fm_curl_load(struct fm_error *err)
{
	return load() ? 0 : fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "%s", why);
}

CURL *fm_curl_easy_init(void)
{
	return load() ? api.easy_init() : NULL;
}

/* What needs a handle, a list or a URL was given one: the library is open. */
void fm_curl_easy_cleanup(CURL *c)
{
	if (c)
		api.easy_cleanup(c);
}

void fm_curl_easy_reset(CURL *c)
{
	api.easy_reset(c);
}

/*
 * The one argument goes on with the type its option's number range says
 * (CURLOPTTYPE_*), as libcurl reads it.
 */
CURLcode fm_curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	CURLcode rc;
	va_list ap;

	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.easy_setopt(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = api.easy_setopt(c, opt, va_arg(ap, any_fn));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode fm_curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	CURLcode rc;
	va_list ap;

	va_start(ap, info);
	rc = api.easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode fm_curl_easy_perform(CURL *c)
{
	return api.easy_perform(c);
}

CURLcode fm_curl_easy_recv(CURL *c, void *buf, size_t len, size_t *n)
{
	return api.easy_recv(c, buf, len, n);
}

CURLcode fm_curl_easy_send(CURL *c, const void *buf, size_t len, size_t *n)
{
	return api.easy_send(c, buf, len, n);
}

const char *fm_curl_easy_strerror(CURLcode rc)
{
	return load() ? api.easy_strerror(rc) : why;
}

void fm_curl_free(void *p)
{
	if (p)
		api.free(p);
}

time_t fm_curl_getdate(const char *s, const time_t *unused)
{
	return load() ? api.getdate(s, unused) : -1;
}

curl_mime *fm_curl_mime_init(CURL *c)
{
	return api.mime_init(c);
}

curl_mimepart *fm_curl_mime_addpart(curl_mime *m)
{
	return api.mime_addpart(m);
}

CURLcode fm_curl_mime_data(curl_mimepart *p, const char *data, size_t len)
{
	return api.mime_data(p, data, len);
}

CURLcode fm_curl_mime_filedata(curl_mimepart *p, const char *path)
{
	return api.mime_filedata(p, path);
}

CURLcode fm_curl_mime_name(curl_mimepart *p, const char *name)
{
	return api.mime_name(p, name);
}

CURLcode fm_curl_mime_type(curl_mimepart *p, const char *type)
{
	return api.mime_type(p, type);
}

/* A list may be started before any handle exists (s3.c): it opens the library. */
struct curl_slist *fm_curl_slist_append(struct curl_slist *l, const char *s)
{
	return load() ? api.slist_append(l, s) : NULL;
}

void fm_curl_slist_free_all(struct curl_slist *l)
{
	if (l)
		api.slist_free_all(l);
}

CURLU *fm_curl_url(void)
{
	return load() ? api.url() : NULL;
}

void fm_curl_url_cleanup(CURLU *u)
{
	if (u)
		api.url_cleanup(u);
}

CURLUcode fm_curl_url_get(const CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	return api.url_get(u, what, part, flags);
}

CURLUcode fm_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return api.url_set(u, what, part, flags);
}

const curl_version_info_data *fm_curl_version_info(CURLversion age)
{
	return load() ? api.version_info(age) : NULL;
}
