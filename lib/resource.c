/*
 * Resources into local files. Base64 is decoded with digest.h and URLs
 * fetched with libcurl (http and https only, redirects followed, bounded
 * size and time); both land in a temporary name that is renamed into
 * place, so a half-written input never looks complete, and that is
 * removed on every way out.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "cache.h"
#include "curl_lazy.h"
#include "digest.h"
#include "fs.h"
#include "model.h"
#include "resource.h"
#include "s3.h"
#include "util.h"

static const char *ext_for(const char *mime)
{
	static const struct {
		const char *mime, *ext;
	} map[] = {
	    {"image/png", "png"},  {"image/jpeg", "jpg"},  {"image/webp", "webp"},
	    {"video/mp4", "mp4"},  {"video/webm", "webm"}, {"audio/wav", "wav"},
	    {"audio/mpeg", "mp3"}, {"text/plain", "txt"},  {"application/json", "json"},
	};
	size_t i;

	for (i = 0; mime && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(mime, map[i].mime))
			return map[i].ext;
	return "bin";
}

static void make_local(json_object *res, const char *path)
{
	json_object_object_add(res, "type", json_object_new_string("local_path"));
	json_object_object_add(res, "data", json_object_new_string(path));
	if (!fm_json_get_string(res, "mime_type"))
		json_object_object_add(res, "mime_type",
				       json_object_new_string(fm_mime_from_path(path)));
}

static int decode_base64(json_object *res, const char *path, const char *tmp, struct fm_error *err)
{
	const char *data = fm_json_get_string(res, "data");
	size_t n = strlen(data);
	uint8_t *buf;
	ssize_t len;
	FILE *f;

	/* Tolerate a data: URL prefix, which is how browsers hand these out. */
	if (!strncmp(data, "data:", 5) && strchr(data, ','))
		data = strchr(data, ',') + 1, n = strlen(data);
	if (n > FM_BASE64_MAX / 3 * 4 + 4)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"base64 resource larger than %d bytes", FM_BASE64_MAX);
	buf = fm_xmalloc(FM_BASE64_DECODED_MAX(n) + 1);
	len = fm_base64_decode(buf, FM_BASE64_DECODED_MAX(n) + 1, data, n);
	if (len < 0) {
		free(buf);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "resource is not valid base64");
	}
	f = fopen(tmp, "wbx");
	if (!f || fwrite(buf, 1, (size_t)len, f) != (size_t)len || fclose(f) != 0) {
		fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot write '%s':", tmp);
		unlink(tmp);
		free(buf);
		return -1;
	}
	free(buf);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot rename to '%s':", path);
	}
	return 0;
}

int fm_download_max(long long *max, struct fm_error *err)
{
	const char *s = getenv(FM_DOWNLOAD_MAX_ENV);
	unsigned long long v;
	char *end;

	*max = FM_DOWNLOAD_MAX;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v == 0)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"%s='%.40s' is not a positive number of bytes", FM_DOWNLOAD_MAX_ENV,
				s);
	if (v < (unsigned long long)FM_DOWNLOAD_MAX)
		*max = (long long)v;
	return 0;
}

/*
 * Where a download's bytes go. They are counted here, not by libcurl:
 * its max-filesize is only checked against a Content-Length, so a chunked
 * body without one would otherwise run on for ever.
 */
struct sink {
	FILE *f;
	curl_off_t got, max;
	int over;
	const atomic_int *stop;
};

static size_t sink_write(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (s->stop && atomic_load(s->stop))
		return 0;
	if ((curl_off_t)len > s->max - s->got) {
		s->over = 1;
		return 0;
	}
	s->got += (curl_off_t)len;
	return fwrite(data, 1, len, s->f);
}

/* libcurl calls this at least once a second, even when nothing arrives. */
static int sink_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			 curl_off_t ulnow)
{
	const struct sink *s = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return s->stop && atomic_load(s->stop);
}

static int download_failed(const char *url, CURLcode rc, long status, const struct sink *s,
			   const char *cerr, struct fm_error *err)
{
	if (s->stop && atomic_load(s->stop))
		return fm_error(err, FM_TASK_CANCELLED, "the download of '%s' was stopped", url);
	if (s->over || rc == CURLE_FILESIZE_EXCEEDED)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot download '%s': it is larger than the %lld byte limit", url,
				(long long)s->max);
	if (rc != CURLE_OK)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot download '%s': %s", url,
				cerr[0] ? cerr : fm_curl_easy_strerror(rc));
	return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot download '%s': HTTP status %ld",
			url, status);
}

/*
 * A fetch restricted to public addresses (FM_FETCH_PUBLIC) refuses every
 * connection to another: checked on the address libcurl is about to
 * connect to, after DNS and on every redirect, so neither a name that
 * resolves to 127.0.0.1 nor a redirect to 169.254.169.254 gets through.
 * Through a proxy the proxy's address is what is checked.
 */
struct guard {
	char why[160];
};

static curl_socket_t open_public(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct guard *g = arg;
	const char *what = fm_addr_restricted(&a->addr);
	char text[64];

	(void)purpose;
	if (what) {
		fm_addr_text(&a->addr, text, sizeof(text));
		snprintf(g->why, sizeof(g->why), "%s is %s", text, what);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static int stopped(void *arg)
{
	return atomic_load((const atomic_int *)arg) != 0;
}

/*
 * An s3:// object, with signed requests on lib/http's client (the
 * settings read each time: a worker runs for days, keys rotate). Its
 * errors name the bucket, the key and S3's code.
 */
static int download_s3(const char *uri, const char *path, const atomic_int *stop,
		       struct fm_error *err)
{
	struct fm_s3_uri u;
	struct fm_s3 s;
	int rc;

	if (fm_s3_uri_parse(uri, &u, err) < 0) {
		err->code = FM_RESOURCE_PROCESSING_ERROR;
		return -1;
	}
	if (fm_s3_init(&s, err) < 0) {
		size_t n = strlen(err->message);

		snprintf(err->message + n, sizeof(err->message) - n, " (to fetch '%s')", uri);
		err->code = FM_RESOURCE_PROCESSING_ERROR;
		fm_s3_uri_release(&u);
		return -1;
	}
	if (stop) {
		s.http.cancelled = stopped;
		s.http.cancel_arg = (void *)stop;
	}
	rc = fm_s3_get_file(&s, &u, path, err);
	fm_s3_release(&s);
	fm_s3_uri_release(&u);
	return rc;
}

static int download(const char *url, const char *path, const char *tmp, int public_only,
		    const atomic_int *stop, struct fm_error *err)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct guard g = {""};
	struct sink s = {NULL, 0, 0, 0, stop};
	long long max;
	long status = 0;
	CURLcode rc;
	CURL *c;

	if (fm_download_max(&max, err) < 0)
		return -1;
	if (fm_s3_is_uri(url) && public_only)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot download '%s': an s3:// URL is read with the workers' own "
				"AWS keys, and this task may fetch only from public addresses",
				url);
	if (fm_curl_load(err) < 0) {
		err->code = FM_RESOURCE_PROCESSING_ERROR;
		return -1;
	}
	if (fm_s3_is_uri(url))
		return download_s3(url, path, stop, err);
	s.max = (curl_off_t)max;
	c = fm_curl_easy_init();
	if (!c)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot start libcurl");
	s.f = fopen(tmp, "wbx");
	if (!s.f) {
		fm_curl_easy_cleanup(c);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot create '%s':", tmp);
	}
	fm_curl_easy_setopt(c, CURLOPT_URL, url);
	fm_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	fm_curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	fm_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	fm_curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	fm_curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, s.max);
	fm_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)FM_DOWNLOAD_CONNECT_TIMEOUT);
	fm_curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FM_DOWNLOAD_TIMEOUT);
	fm_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	fm_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	fm_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	fm_curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	fm_curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	fm_curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sink_progress);
	fm_curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
	fm_curl_easy_setopt(c, CURLOPT_USERAGENT, "filmeto/" FM_VERSION);
	if (public_only) {
		fm_curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_public);
		fm_curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &g);
	}
	rc = fm_curl_easy_perform(c);
	fm_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	fm_curl_easy_cleanup(c);
	if (fclose(s.f) != 0 && rc == CURLE_OK)
		rc = CURLE_WRITE_ERROR;
	if (rc != CURLE_OK && g.why[0]) {
		unlink(tmp);
		return fm_error(
		    err, FM_RESOURCE_PROCESSING_ERROR,
		    "cannot download '%s': %s, and this task may fetch only from public "
		    "addresses",
		    url, g.why);
	}
	if (rc != CURLE_OK || status >= 400) {
		unlink(tmp);
		return download_failed(url, rc, status, &s, cerr, err);
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot rename to '%s':", path);
	}
	return 0;
}

/* The extension a URL's last path component ends in, into ext; 0 when none. */
static int url_ext(const char *url, char ext[8])
{
	const char *slash = strrchr(url, '/'), *dot = slash ? strrchr(slash, '.') : NULL;
	size_t n;

	if (!dot)
		return 0;
	n = strcspn(dot + 1, "?#");
	if (n == 0 || n >= 8)
		return 0;
	memcpy(ext, dot + 1, n);
	ext[n] = '\0';
	return 1;
}

/*
 * A download already in the cache, or fetched into it, copied into path
 * (through tmp, renamed into place). Never a link: the task's plugin may
 * write to its input, and that must not change what the cache gives the
 * next task. Two tasks of one run may fetch the same URL at once: each
 * writes its own temporary file, and the last rename wins with the same
 * bytes.
 */
static int fetch(const char *url, const char *path, const char *tmp, const char *cache_dir,
		 const char *ext, int public_only, const atomic_int *stop, struct fm_error *err)
{
	static atomic_ulong serial;
	char hex[65], *dir, *cached, *ctmp;
	struct stat st;
	int rc;

	/* The download cache is named by hashes; with none, the fetch goes uncached. */
	if (!cache_dir || fm_hash_string(url, hex) < 0)
		return download(url, path, tmp, public_only, stop, err);
	/*
	 * What a restricted fetch takes from the cache must have been fetched
	 * restricted: another task's download of a private URL stays out of reach.
	 */
	dir = fm_xasprintf("%s/downloads%s", cache_dir, public_only ? "/public" : "");
	cached = fm_xasprintf("%s/%s.%s", dir, hex, ext);
	ctmp = fm_xasprintf("%s/.%s.%d.%lu.tmp", dir, hex, (int)getpid(),
			    atomic_fetch_add(&serial, 1));
	rc = 0;
	if (stat(cached, &st) != 0)
		rc = fm_mkdirs(dir, err) < 0 ? -1
					     : download(url, cached, ctmp, public_only, stop, err);
	if (rc == 0 && fm_copy_file(cached, tmp) < 0)
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
			      "cannot copy '%s' to '%s':", cached, tmp);
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = fm_error(err, FM_RESOURCE_PROCESSING_ERROR, "cannot rename to '%s':", path);
		unlink(tmp);
	}
	free(dir);
	free(cached);
	free(ctmp);
	return rc;
}

/* Whether res is to be fetched from public addresses only (FM_FETCH_KEY). */
static int fetch_public(json_object *res)
{
	const char *v =
	    fm_json_get_string(fm_json_get(res, "metadata", json_type_object), FM_FETCH_KEY);

	return v && !strcmp(v, FM_FETCH_PUBLIC);
}

int fm_resource_localize(json_object *res, const char *dir, size_t index, const char *cache_dir,
			 const atomic_int *stop, struct fm_error *err)
{
	const char *type = fm_json_get_string(res, "type");
	const char *data = fm_json_get_string(res, "data");
	const char *mime = fm_json_get_string(res, "mime_type"), *ext;
	char *path, *tmp, uext[8];
	struct stat st;
	int rc;

	if (!strcmp(type, "task_output"))
		return 0;
	if (!strcmp(type, "local_path")) {
		if (stat(data, &st) != 0 || access(data, R_OK) != 0)
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"resource '%s' cannot be read:", data);
		if (!S_ISREG(st.st_mode))
			return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
					"resource '%s' is not a regular file", data);
		return 0;
	}
	if (!strcmp(type, "base64") && mime && strchr(mime, '/') == NULL)
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"base64 resource: '%s' is not a MIME type", mime);
	ext = !strcmp(type, "remote_url") && !mime && url_ext(data, uext) ? uext : ext_for(mime);
	path = fm_xasprintf("%s/input-%zu.%s", dir, index, ext);
	tmp = fm_xasprintf("%s/.input-%zu.%d.tmp", dir, index, (int)getpid());
	if (!strcmp(type, "base64"))
		rc = decode_base64(res, path, tmp, err);
	else
		rc = fetch(data, path, tmp, cache_dir, ext, fetch_public(res), stop, err);
	if (rc == 0)
		make_local(res, path);
	free(path);
	free(tmp);
	return rc;
}
