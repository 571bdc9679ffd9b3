/*
 * Object storage (see s3.h). Each request rebases the one HTTP client
 * on the bucket's URL (virtual-hosted or path-style) and lets libcurl
 * sign it: the signature is only ever sent under that base, and the
 * connection cache survives the rebase.
 *
 * S3 answers errors in XML; no XML library is a dependency, and only
 * four elements are wanted, so they are looked up by name in a bounded
 * body and their five predefined entities decoded.
 */
#include <ctype.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "curl_lazy.h"
#include "digest.h"
#include "fs.h"
#include "model.h"
#include "redact.h"
#include "s3.h"
#include "util.h"

#define SHA256_BYTES FM_SHA256_BYTES

/* --- URIs --------------------------------------------------------------- */

int fm_s3_is_uri(const char *s)
{
	return s && !strncmp(s, "s3://", 5);
}

static int bucket_ok(const char *b, size_t n)
{
	size_t i;

	if (n < 3 || n > FM_S3_BUCKET_MAX || !isalnum((unsigned char)b[0]) ||
	    !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) && b[i] != '.' &&
		    b[i] != '-')
			return 0;
	return 1;
}

int fm_s3_uri_parse(const char *s, struct fm_s3_uri *u, struct fm_error *err)
{
	const char *b, *slash;
	size_t n, i;

	memset(u, 0, sizeof(*u));
	if (!fm_s3_is_uri(s))
		return fm_error(err, FM_VALIDATION_ERROR, "'%.80s' is not an s3:// URI",
				s ? s : "");
	if (strlen(s) > FM_S3_URI_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "s3:// URI longer than %d bytes",
				FM_S3_URI_MAX);
	b = s + 5;
	slash = strchr(b, '/');
	n = slash ? (size_t)(slash - b) : strlen(b);
	if (!bucket_ok(b, n))
		return fm_error(err, FM_VALIDATION_ERROR,
				"'%s': a bucket is 3 to %d lowercase letters, digits, '.' and '-'",
				s, FM_S3_BUCKET_MAX);
	if (slash && strlen(slash + 1) > FM_S3_KEY_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "'%.80s…': a key is at most %d bytes", s,
				FM_S3_KEY_MAX);
	for (i = 0; slash && slash[1 + i]; i++)
		if ((unsigned char)slash[1 + i] < 0x20 || slash[1 + i] == 0x7f)
			return fm_error(err, FM_VALIDATION_ERROR,
					"'%.80s': a key holds no control characters", s);
	u->bucket = fm_xstrndup(b, n);
	u->key = fm_xstrdup(slash ? slash + 1 : "");
	return 0;
}

void fm_s3_uri_release(struct fm_s3_uri *u)
{
	free(u->bucket);
	free(u->key);
	memset(u, 0, sizeof(*u));
}

char *fm_s3_uri_string(const struct fm_s3_uri *u)
{
	return fm_xasprintf("s3://%s/%s", u->bucket, u->key);
}

/* --- the INI files ------------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int fm_s3_ini_parse(const char *text, size_t len, const char *name,
		    int (*set)(void *arg, const char *section, const char *key, const char *value),
		    void *arg, struct fm_error *err)
{
	char line[FM_S3_INI_LINE_MAX + 1],
	    section[FM_S3_INI_LINE_MAX + 1] = "", parent[FM_S3_INI_LINE_MAX + 1] = "";
	size_t at = 0, lineno = 0;

	if (len > FM_S3_INI_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "'%s' is larger than %d bytes", name,
				FM_S3_INI_MAX);
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
		int indented;
		char *l, *eq, *k, *v, full[2 * FM_S3_INI_LINE_MAX + 2];

		lineno++;
		if (n > FM_S3_INI_LINE_MAX)
			return fm_error(err, FM_VALIDATION_ERROR,
					"%s:%zu: line longer than %d bytes", name, lineno,
					FM_S3_INI_LINE_MAX);
		memcpy(line, text + at, n);
		line[n] = '\0';
		at += n + (nl ? 1 : 0);
		if (memchr(line, '\0', n))
			return fm_error(err, FM_VALIDATION_ERROR, "%s:%zu: a NUL byte", name,
					lineno);
		indented = line[0] == ' ' || line[0] == '\t';
		l = trim(line);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');

			if (!end || *trim(end + 1))
				return fm_error(err, FM_VALIDATION_ERROR,
						"%s:%zu: a section is '[NAME]'", name, lineno);
			*end = '\0';
			snprintf(section, sizeof(section), "%s", trim(l + 1));
			parent[0] = '\0';
			continue;
		}
		eq = strchr(l, '=');
		if (!eq || !section[0])
			return fm_error(err, FM_VALIDATION_ERROR,
					"%s:%zu: expected 'key = value'%s", name, lineno,
					section[0] ? "" : " under a [section]");
		*eq = '\0';
		k = trim(l);
		v = trim(eq + 1);
		if (!*k)
			return fm_error(err, FM_VALIDATION_ERROR, "%s:%zu: a key has no name", name,
					lineno);
		if (!indented) {
			/* "s3 =" with nothing after it opens nested keys. */
			snprintf(parent, sizeof(parent), "%s", *v ? "" : k);
			if (!*v)
				continue;
			if (set(arg, section, k, v))
				return 0;
			continue;
		}
		snprintf(full, sizeof(full), "%s%s%s", parent, parent[0] ? "." : "", k);
		if (set(arg, section, full, v))
			return 0;
	}
	return 0;
}

/* --- settings ----------------------------------------------------------- */

struct profile_read {
	const char *want; /* the section wanted */
	char *id, *secret, *token, *region, *endpoint, *style;
};

static void take(char **slot, const char *v)
{
	if (!*slot)
		*slot = fm_xstrdup(v);
}

static int profile_set(void *arg, const char *section, const char *key, const char *value)
{
	struct profile_read *p = arg;

	if (strcmp(section, p->want))
		return 0;
	if (!strcmp(key, "aws_access_key_id"))
		take(&p->id, value);
	else if (!strcmp(key, "aws_secret_access_key"))
		take(&p->secret, value);
	else if (!strcmp(key, "aws_session_token"))
		take(&p->token, value);
	else if (!strcmp(key, "region"))
		take(&p->region, value);
	else if (!strcmp(key, "s3.endpoint_url") || !strcmp(key, "endpoint_url"))
		take(&p->endpoint, value);
	else if (!strcmp(key, "s3.addressing_style"))
		take(&p->style, value);
	return 0;
}

/* One of the two files: absent is fine, unreadable or malformed is not. */
static int read_profile_file(const char *var, const char *rel, const char *section,
			     struct profile_read *p, struct fm_error *err)
{
	const char *env = getenv(var), *home = getenv("HOME");
	char *path, *text = NULL;
	size_t len;
	int rc = 0;

	if (env && *env)
		path = fm_xstrdup(env);
	else if (home && *home)
		path = fm_xasprintf("%s/%s", home, rel);
	else
		return 0;
	if (access(path, F_OK) == 0) {
		p->want = section;
		rc = fm_read_file(path, FM_S3_INI_MAX, &text, &len, err);
		if (rc == 0)
			rc = fm_s3_ini_parse(text, len, path, profile_set, p, err);
	}
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	free(path);
	return rc;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void profile_release(struct profile_read *p)
{
	char **s[] = {&p->id, &p->secret, &p->token, &p->region, &p->endpoint, &p->style};
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		if (*s[i])
			explicit_bzero(*s[i], strlen(*s[i]));
		free(*s[i]);
	}
}

static int read_profile(struct fm_s3 *s, struct profile_read *p, struct fm_error *err)
{
	char *cfg_section = strcmp(s->profile, "default") ? fm_xasprintf("profile %s", s->profile)
							  : fm_xstrdup("default");
	int rc = read_profile_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", s->profile, p,
				   err);

	if (rc == 0)
		rc = read_profile_file("AWS_CONFIG_FILE", ".aws/config", cfg_section, p, err);
	free(cfg_section);
	return rc;
}

static int set_endpoint(struct fm_s3 *s, const char *given, const char *style, struct fm_error *err)
{
	size_t n;

	if (given && strncmp(given, "http://", 7) && strncmp(given, "https://", 8))
		return fm_error(err, FM_VALIDATION_ERROR,
				"the S3 endpoint '%.200s' is not an http:// or https:// URL",
				given);
	s->endpoint =
	    given ? fm_xstrdup(given) : fm_xasprintf("https://s3.%s.amazonaws.com", s->region);
	n = strlen(s->endpoint);
	while (n > 0 && s->endpoint[n - 1] == '/')
		s->endpoint[--n] = '\0';
	s->path_style = -1;
	if (style && !strcmp(style, "path"))
		s->path_style = 1;
	else if (style && !strcmp(style, "virtual"))
		s->path_style = 0;
	else if (style && strcmp(style, "auto"))
		return fm_error(err, FM_VALIDATION_ERROR,
				"s3.addressing_style '%.40s' is not path, virtual or auto", style);
	return 0;
}

int fm_s3_init(struct fm_s3 *s, struct fm_error *err)
{
	struct profile_read p = {0};
	const char *v;
	int rc;

	memset(s, 0, sizeof(*s));
	s->profile = fm_xstrdup(env("AWS_PROFILE") ? env("AWS_PROFILE") : "default");
	if ((rc = read_profile(s, &p, err)) < 0)
		goto out;
	if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
		s->id = fm_xstrdup(env("AWS_ACCESS_KEY_ID"));
		s->secret = fm_xstrdup(env("AWS_SECRET_ACCESS_KEY"));
		if (env("AWS_SESSION_TOKEN"))
			s->token = fm_xstrdup(env("AWS_SESSION_TOKEN"));
	} else if (p.id && p.secret) {
		s->id = fm_xstrdup(p.id);
		s->secret = fm_xstrdup(p.secret);
		if (p.token)
			s->token = fm_xstrdup(p.token);
	} else {
		rc = fm_error(err, FM_VALIDATION_ERROR,
			      "no S3 credentials: neither AWS_ACCESS_KEY_ID and "
			      "AWS_SECRET_ACCESS_KEY nor profile '%s' in ~/.aws/credentials or "
			      "~/.aws/config",
			      s->profile);
		goto out;
	}
	fm_secret_add(s->secret);
	fm_secret_add(s->token);
	v = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
	s->region = fm_xstrdup(v ? v : p.region ? p.region : FM_S3_DEFAULT_REGION);
	v = env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3") : env("AWS_ENDPOINT_URL");
	if ((rc = set_endpoint(s, v ? v : p.endpoint, p.style, err)) < 0)
		goto out;
	if ((rc = fm_http_init(&s->http, s->endpoint, NULL, err)) < 0)
		goto out;
	fm_http_sigv4(&s->http, s->region, "s3", s->id, s->secret);
	s->http.retry_5xx = 1;
out:
	profile_release(&p);
	if (rc < 0)
		fm_s3_release(s);
	return rc;
}

void fm_s3_release(struct fm_s3 *s)
{
	if (s->http.curl)
		fm_http_release(&s->http);
	if (s->secret)
		explicit_bzero(s->secret, strlen(s->secret));
	if (s->token)
		explicit_bzero(s->token, strlen(s->token));
	free(s->id);
	free(s->secret);
	free(s->token);
	free(s->region);
	free(s->endpoint);
	free(s->profile);
	memset(s, 0, sizeof(*s));
}

/* --- addressing --------------------------------------------------------- */

/* SigV4's URI encoding: unreserved bytes as they are, '/' too in a path. */
static void uri_encode(struct fm_buf *b, const char *s, int keep_slash)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (keep_slash && c == '/'))
			fm_buf_add(b, s, 1);
		else
			fm_buf_addf(b, "%%%02X", c);
	}
}

static int path_style(const struct fm_s3 *s, const char *bucket)
{
	const char *host = strstr(s->endpoint, "://") + 3;

	if (s->path_style >= 0)
		return s->path_style;
	/* A bucket with a dot breaks TLS on a wildcard certificate. */
	if (strchr(bucket, '.'))
		return 1;
	return !strstr(host, "amazonaws.com");
}

/* The bucket's base URL: what the signature is scoped to. */
static char *bucket_url(const struct fm_s3 *s, const char *bucket)
{
	const char *host;

	if (path_style(s, bucket))
		return fm_xasprintf("%s/%s", s->endpoint, bucket);
	host = strstr(s->endpoint, "://") + 3;
	return fm_xasprintf("%.*s%s.%s", (int)(host - s->endpoint), s->endpoint, bucket, host);
}

char *fm_s3_object_url(const struct fm_s3 *s, const struct fm_s3_uri *u)
{
	struct fm_buf b = FM_BUF_INIT;
	char *base = bucket_url(s, u->bucket);

	fm_buf_addstr(&b, base);
	fm_buf_addstr(&b, "/");
	uri_encode(&b, u->key, 1);
	free(base);
	return fm_buf_detach(&b, NULL);
}

/* --- errors ------------------------------------------------------------- */

static void xml_decode(const char *s, size_t n, char *out, size_t max)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {
	    {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	size_t i = 0, o = 0, k;

	while (i < n && o + 1 < max) {
		char c = s[i++];

		for (k = 0; c == '&' && k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t l = strlen(ents[k].ent);

			if (i - 1 + l <= n && !memcmp(s + i - 1, ents[k].ent, l)) {
				c = ents[k].c;
				i += l - 1;
				break;
			}
		}
		/* One line for a person: control bytes become spaces. */
		out[o++] = (unsigned char)c < 0x20 ? ' ' : c;
	}
	out[o] = '\0';
}

/* The text of the first <name>…</name> in body, decoded into out. */
static void xml_element(const char *body, size_t len, const char *name, char *out, size_t max)
{
	char open[32], close[32];
	size_t ol, cl, i;

	out[0] = '\0';
	ol = (size_t)snprintf(open, sizeof(open), "<%s>", name);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", name);
	for (i = 0; i + ol <= len; i++) {
		size_t j;

		if (memcmp(body + i, open, ol))
			continue;
		for (j = i + ol; j + cl <= len; j++)
			if (!memcmp(body + j, close, cl)) {
				xml_decode(body + i + ol, j - i - ol, out, max);
				return;
			}
		return;
	}
}

int fm_s3_error_parse(const char *body, size_t len, struct fm_s3_xml_error *e)
{
	memset(e, 0, sizeof(*e));
	if (!body)
		return -1;
	xml_element(body, len, "Code", e->code, sizeof(e->code));
	xml_element(body, len, "Message", e->message, sizeof(e->message));
	xml_element(body, len, "BucketName", e->bucket, sizeof(e->bucket));
	xml_element(body, len, "Key", e->key, sizeof(e->key));
	return e->code[0] ? 0 : -1;
}

/*
 * One line for a failed request: the s3:// URI, what was done, S3's code
 * and words; HTTP's own message stays in details. The body is already
 * in details (lib/http.c keeps it, redacted and cut).
 */
static int s3_error(const struct fm_s3_uri *u, const char *what, const struct fm_http_resp *resp,
		    enum fm_code code, struct fm_error *err)
{
	struct fm_s3_xml_error x;
	char *uri = fm_s3_uri_string(u), *said = NULL;
	char why[FM_ERROR_MAX];

	if (code == FM_TASK_CANCELLED || err->code == FM_TASK_CANCELLED) {
		free(uri);
		return -1;
	}
	if (resp->status && fm_s3_error_parse(resp->body, resp->len, &x) == 0) {
		said = fm_redact_cut(x.message, strlen(x.message), FM_HTTP_SAID_MAX);
		fm_error_detail(err, "s3_code", json_object_new_string(x.code));
		fm_error(err, code, "cannot %s '%s': %s (status %ld)%s%s", what, uri, x.code,
			 resp->status, said[0] ? ": " : "", said);
	} else if (resp->status) {
		fm_error(err, code, "cannot %s '%s': status %ld%s", what, uri, resp->status,
			 resp->status == 404   ? " (no such bucket or key)"
			 : resp->status == 403 ? " (access denied)"
					       : "");
	} else {
		snprintf(why, sizeof(why), "%s", err->message);
		fm_error(err, code, "cannot %s '%s': %s", what, uri, why);
	}
	fm_error_detail(err, "bucket", json_object_new_string(u->bucket));
	fm_error_detail(err, "key", json_object_new_string(u->key));
	fm_redact_buf(err->message, sizeof(err->message));
	free(said);
	free(uri);
	return -1;
}

/*
 * One request on the object u; r's headers are freed here. The session
 * token is a header sent, like the signature, only under the bucket.
 */
static int request_on(struct fm_s3 *s, struct fm_http *http, const struct fm_s3_uri *u,
		      const char *query, struct fm_http_req *r, struct fm_http_resp *resp,
		      const char *what, enum fm_code code, struct fm_error *err);

static int request(struct fm_s3 *s, const struct fm_s3_uri *u, struct fm_http_req *r,
		   const char *what, enum fm_code code, struct fm_error *err)
{
	struct fm_http_resp resp;
	int rc = request_on(s, &s->http, u, NULL, r, &resp, what, code, err);

	fm_http_resp_release(&resp);
	return rc;
}

/*
 * One request on the object u (with "?query" when not NULL) through
 * http; resp is the caller's to release.
 */
static int request_on(struct fm_s3 *s, struct fm_http *http, const struct fm_s3_uri *u,
		      const char *query, struct fm_http_req *r, struct fm_http_resp *resp,
		      const char *what, enum fm_code code, struct fm_error *err)
{
	char *base = bucket_url(s, u->bucket), *obj = fm_s3_object_url(s, u);
	char *url = query ? fm_xasprintf("%s?%s", obj, query) : fm_xstrdup(obj);
	int rc;

	free(obj);
	fm_http_rebase(http, base, NULL);
	r->url = url;
	/*
	 * S3 wants the payload's hash in a header; libcurl 7.88 signs the
	 * value it finds there. The body streams from disk, so it is not
	 * hashed first (TLS protects it in transit, as for the AWS CLI).
	 */
	r->headers = fm_curl_slist_append(r->headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (s->token) {
		char *t = fm_xasprintf("x-amz-security-token: %s", s->token);

		r->scoped_headers = fm_curl_slist_append(r->scoped_headers, t);
		explicit_bzero(t, strlen(t));
		free(t);
	}
	rc = fm_http_do(http, r, resp, err);
	if (rc < 0)
		s3_error(u, what, resp, code, err);
	fm_curl_slist_free_all(r->headers);
	fm_curl_slist_free_all(r->scoped_headers);
	free(base);
	free(url);
	return rc;
}

static int put_single(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path,
		      const char *mime, struct fm_error *err);
static int put_multipart(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path,
			 const char *mime, long long size, struct fm_error *err);

int fm_s3_put_file(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path, const char *mime,
		   struct fm_error *err)
{
	struct stat st;
	const char *v = getenv(FM_S3_MULTIPART_ENV);
	long long min = FM_S3_MULTIPART_MIN;
	char *end;

	if (v && *v) {
		min = strtoll(v, &end, 10);
		if (*end || min <= 0)
			return fm_error(err, FM_VALIDATION_ERROR,
					"%s='%.40s' is not a positive number of bytes",
					FM_S3_MULTIPART_ENV, v);
	}
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= min)
		return put_multipart(s, u, path, mime, (long long)st.st_size, err);
	return put_single(s, u, path, mime, err);
}

static int put_single(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path,
		      const char *mime, struct fm_error *err)
{
	struct fm_http_req r = {.method = "PUT", .upload = path};
	char *ct = fm_xasprintf("Content-Type: %s", mime ? mime : fm_mime_from_path(path));

	r.headers = fm_curl_slist_append(NULL, ct);
	free(ct);
	return request(s, u, &r, "upload to", FM_SERVICE_ERROR, err);
}

int fm_s3_get_file(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path,
		   struct fm_error *err)
{
	struct fm_http_req r = {.method = "GET", .file = path};

	return request(s, u, &r, "fetch", FM_RESOURCE_PROCESSING_ERROR, err);
}

/* --- multipart uploads -------------------------------------------------- */

/* Longest ETag kept, and longest UploadId taken from S3. */
#define ETAG_MAX      128
#define UPLOAD_ID_MAX 1024

struct multipart {
	struct fm_s3 *s;
	const struct fm_s3_uri *u;
	const char *path;
	char *upload_id; /* URI-encoded */
	long long size, part_size;
	int nparts;
	pthread_mutex_t lock;
	int next, failed;
	char (*etags)[ETAG_MAX];
	struct fm_error err;
};

static void on_etag(void *arg, const char *line, size_t len)
{
	char *out = arg;
	size_t n;

	if (len < 5 || strncasecmp(line, "etag:", 5))
		return;
	line += 5, len -= 5;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	n = len < ETAG_MAX - 1 ? len : ETAG_MAX - 1;
	memcpy(out, line, n);
	out[n] = '\0';
}

/* A client of the thread's own, signing as s's does: a libcurl handle is not shared. */
static int part_client(struct fm_s3 *s, struct fm_http *h, struct fm_error *err)
{
	if (fm_http_init(h, s->endpoint, NULL, err) < 0)
		return -1;
	fm_http_sigv4(h, s->region, "s3", s->id, s->secret);
	h->retry_5xx = 1;
	h->cancelled = s->http.cancelled;
	h->cancel_arg = s->http.cancel_arg;
	return 0;
}

static int part_put(struct multipart *m, struct fm_http *h, int n, struct fm_error *err)
{
	long long off = (long long)n * m->part_size;
	struct fm_http_req r = {.method = "PUT", .upload = m->path, .upload_offset = off};
	struct fm_http_resp resp;
	char *query = fm_xasprintf("partNumber=%d&uploadId=%s", n + 1, m->upload_id);
	int rc;

	r.upload_len = m->size - off < m->part_size ? m->size - off : m->part_size;
	r.header = on_etag;
	r.header_arg = m->etags[n];
	rc = request_on(m->s, h, m->u, query, &r, &resp, "upload a part to", FM_SERVICE_ERROR, err);
	if (rc == 0 && !m->etags[n][0])
		rc = fm_error(err, FM_SERVICE_ERROR,
			      "cannot upload to 's3://%s/%s': part %d has no ETag", m->u->bucket,
			      m->u->key, n + 1);
	fm_http_resp_release(&resp);
	free(query);
	return rc;
}

/* Takes the next part until none is left or one has failed. */
static void *part_worker(void *arg)
{
	struct multipart *m = arg;
	struct fm_error e = FM_ERROR_INIT;
	struct fm_http h;
	int n, rc = part_client(m->s, &h, &e);

	while (rc == 0) {
		pthread_mutex_lock(&m->lock);
		n = m->failed || m->next >= m->nparts ? -1 : m->next++;
		pthread_mutex_unlock(&m->lock);
		if (n < 0)
			break;
		rc = part_put(m, &h, n, &e);
	}
	if (rc < 0) {
		pthread_mutex_lock(&m->lock);
		if (!m->failed)
			fm_error_move(&m->err, &e);
		m->failed = 1;
		pthread_mutex_unlock(&m->lock);
	}
	if (h.curl)
		fm_http_release(&h);
	fm_error_release(&e);
	return NULL;
}

static int initiate(struct multipart *m, const char *mime, struct fm_error *err)
{
	struct fm_http_req r = {.method = "POST"};
	struct fm_http_resp resp;
	char *ct = fm_xasprintf("Content-Type: %s", mime ? mime : fm_mime_from_path(m->path));
	char id[UPLOAD_ID_MAX];
	struct fm_buf b = FM_BUF_INIT;
	int rc;

	r.headers = fm_curl_slist_append(NULL, ct);
	free(ct);
	rc = request_on(m->s, &m->s->http, m->u, "uploads=", &r, &resp, "upload to",
			FM_SERVICE_ERROR, err);
	if (rc == 0) {
		xml_element(resp.body, resp.len, "UploadId", id, sizeof(id));
		if (!id[0])
			rc = fm_error(err, FM_SERVICE_ERROR,
				      "cannot upload to 's3://%s/%s': S3 named no UploadId",
				      m->u->bucket, m->u->key);
		uri_encode(&b, id, 0);
		m->upload_id = fm_buf_detach(&b, NULL);
	}
	fm_http_resp_release(&resp);
	return rc;
}

static int complete(struct multipart *m, struct fm_error *err)
{
	struct fm_buf body = FM_BUF_INIT;
	struct fm_http_req r = {.method = "POST"};
	struct fm_http_resp resp;
	struct fm_s3_xml_error x;
	char *query = fm_xasprintf("uploadId=%s", m->upload_id);
	int i, rc;

	fm_buf_addstr(&body, "<CompleteMultipartUpload>");
	for (i = 0; i < m->nparts; i++)
		fm_buf_addf(&body, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1,
			    m->etags[i]);
	fm_buf_addstr(&body, "</CompleteMultipartUpload>");
	r.body = fm_buf_str(&body);
	r.body_len = body.len;
	r.headers = fm_curl_slist_append(NULL, "Content-Type: application/xml");
	rc = request_on(m->s, &m->s->http, m->u, query, &r, &resp, "upload to", FM_SERVICE_ERROR,
			err);
	/* S3 may answer 200 and still fail: the error is then in the body. */
	if (rc == 0 && fm_s3_error_parse(resp.body, resp.len, &x) == 0 &&
	    strstr(resp.body, "<Error>")) {
		resp.status = 500;
		rc = s3_error(m->u, "upload to", &resp, FM_SERVICE_ERROR, err);
	}
	fm_http_resp_release(&resp);
	fm_buf_release(&body);
	free(query);
	return rc;
}

/* Best effort, and never cancelled: an abort is what a cancel asks for. */
static void abort_upload(struct multipart *m)
{
	struct fm_http_req r = {.method = "DELETE"};
	struct fm_http_resp resp;
	struct fm_error e = FM_ERROR_INIT;
	char *query = fm_xasprintf("uploadId=%s", m->upload_id);
	int (*cancelled)(void *) = m->s->http.cancelled;

	m->s->http.cancelled = NULL;
	request_on(m->s, &m->s->http, m->u, query, &r, &resp, "abort the upload to",
		   FM_SERVICE_ERROR, &e);
	m->s->http.cancelled = cancelled;
	fm_http_resp_release(&resp);
	fm_error_release(&e);
	free(query);
}

static int put_multipart(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path,
			 const char *mime, long long size, struct fm_error *err)
{
	struct multipart m = {.s = s, .u = u, .path = path, .size = size};
	pthread_t th[FM_S3_PARTS_IN_FLIGHT];
	int i, nth, rc;

	m.part_size = FM_S3_PART_SIZE;
	while ((size + m.part_size - 1) / m.part_size > FM_S3_PARTS_MAX)
		m.part_size *= 2;
	m.nparts = (int)((size + m.part_size - 1) / m.part_size);
	m.etags = fm_xcalloc((size_t)m.nparts, sizeof(*m.etags));
	m.err = (struct fm_error)FM_ERROR_INIT;
	pthread_mutex_init(&m.lock, NULL);
	rc = initiate(&m, mime, err);
	for (nth = 0; rc == 0 && nth < FM_S3_PARTS_IN_FLIGHT && nth < m.nparts; nth++)
		if (pthread_create(&th[nth], NULL, part_worker, &m) != 0)
			break;
	if (rc == 0 && nth == 0)
		rc = fm_error(err, FM_SERVICE_ERROR, "cannot start an upload thread");
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (rc == 0 && m.failed) {
		fm_error_move(err, &m.err);
		rc = -1;
	}
	if (rc == 0)
		rc = complete(&m, err);
	/* Nothing half-made is left in the bucket, where it would be paid for. */
	if (rc < 0 && m.upload_id)
		abort_upload(&m);
	pthread_mutex_destroy(&m.lock);
	fm_error_release(&m.err);
	free(m.etags);
	free(m.upload_id);
	return rc;
}

/* --- presigned URLs ----------------------------------------------------- */

static void hmac(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
	fm_hmac_sha256(key, klen, msg, strlen(msg), out);
}

static void sha256_hex(const char *s, char out[2 * SHA256_BYTES + 1])
{
	uint8_t d[SHA256_BYTES];

	fm_sha256(s, strlen(s), d);
	fm_hex(d, SHA256_BYTES, out);
}

/* SigV4 by query string (AWS's "Authenticating Requests: Using Query Parameters"). */
char *fm_s3_presign(const struct fm_s3 *s, const struct fm_s3_uri *u, long ttl, time_t now,
		    struct fm_error *err)
{
	struct fm_buf q = FM_BUF_INIT, canon = FM_BUF_INIT, path = FM_BUF_INIT;
	char date[9], stamp[17], scope[256], hash[2 * SHA256_BYTES + 1], sig[2 * SHA256_BYTES + 1];
	char *url = fm_s3_object_url(s, u), *host, *key, *sts, *out;
	const char *h0 = strstr(url, "://") + 3;
	uint8_t k[SHA256_BYTES];
	struct tm tm;

	if (s->token) {
		free(url);
		fm_error(err, FM_VALIDATION_ERROR,
			 "no presigned URL for '%s/%s': it would carry the session token",
			 u->bucket, u->key);
		return NULL;
	}
	if (ttl < 1 || ttl > FM_S3_URL_TTL_MAX) {
		free(url);
		fm_error(err, FM_VALIDATION_ERROR, "a URL lifetime is 1 to %d seconds",
			 FM_S3_URL_TTL_MAX);
		return NULL;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date, s->region);
	host = fm_xstrndup(h0, strcspn(h0, "/"));
	fm_buf_addstr(&path, strchr(h0, '/'));
	fm_buf_addstr(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
	key = fm_xasprintf("%s/%s", s->id, scope);
	uri_encode(&q, key, 0);
	free(key);
	fm_buf_addf(&q, "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=host", stamp, ttl);
	fm_buf_addf(&canon, "GET\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", fm_buf_str(&path),
		    fm_buf_str(&q), host);
	sha256_hex(fm_buf_str(&canon), hash);
	sts = fm_xasprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, hash);
	key = fm_xasprintf("AWS4%s", s->secret);
	hmac((const uint8_t *)key, strlen(key), date, k);
	explicit_bzero(key, strlen(key));
	free(key);
	hmac(k, SHA256_BYTES, s->region, k);
	hmac(k, SHA256_BYTES, "s3", k);
	hmac(k, SHA256_BYTES, "aws4_request", k);
	hmac(k, SHA256_BYTES, sts, k);
	fm_hex(k, SHA256_BYTES, sig);
	explicit_bzero(k, sizeof(k));
	out = fm_xasprintf("%s?%s&X-Amz-Signature=%s", url, fm_buf_str(&q), sig);
	fm_buf_release(&q);
	fm_buf_release(&canon);
	fm_buf_release(&path);
	free(sts);
	free(host);
	free(url);
	return out;
}

/* --- results ------------------------------------------------------------ */

static char *output_key(const struct fm_s3_uri *prefix, const char *base, const char *path)
{
	size_t n = strlen(base);
	const char *rel = !strncmp(path, base, n) && path[n] == '/' ? path + n + 1 : NULL;

	if (!rel) {
		rel = strrchr(path, '/');
		rel = rel ? rel + 1 : path;
	}
	return fm_xasprintf("%s%s", prefix->key, rel);
}

int fm_s3_publish(struct fm_s3 *s, const struct fm_s3_uri *prefix, const char *base_dir, long ttl,
		  struct fm_result *res)
{
	size_t i, n = res->output_resources ? json_object_array_length(res->output_resources) : 0;
	struct fm_error err = FM_ERROR_INIT;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		json_object *o = json_object_array_get_idx(res->output_resources, i), *meta;
		const char *path = fm_json_get_string(o, "path");
		struct fm_s3_uri u = {prefix->bucket, NULL};
		char *uri, *url;

		if (!path)
			continue;
		u.key = output_key(prefix, base_dir, path);
		rc = fm_s3_put_file(s, &u, path, fm_json_get_string(o, "mime_type"), &err);
		if (rc == 0) {
			uri = fm_s3_uri_string(&u);
			meta = fm_json_get(o, "metadata", json_type_object);
			if (!meta) {
				meta = json_object_new_object();
				json_object_object_add(o, "metadata", meta);
			}
			json_object_object_add(meta, "s3_uri", json_object_new_string(uri));
			url = fm_s3_presign(s, &u, ttl, time(NULL), NULL);
			if (url)
				json_object_object_add(o, "url", json_object_new_string(url));
			free(url);
			free(uri);
		} else {
			size_t m = strlen(err.message);

			snprintf(err.message + m, sizeof(err.message) - m,
				 "; the local copy stays at '%s'", path);
			fm_error_detail(&err, "local_path", json_object_new_string(path));
		}
		free(u.key);
	}
	if (rc < 0) {
		res->status = err.code == FM_TASK_CANCELLED ? FM_STATUS_CANCELLED : FM_STATUS_ERROR;
		if (err.code != FM_TASK_CANCELLED)
			err.code = FM_SERVICE_ERROR;
		fm_error_move(&res->error, &err);
	}
	fm_error_release(&err);
	return rc;
}

/* A prefix: the key as given, with a '/' after it unless empty. */
static void as_prefix(struct fm_s3_uri *u)
{
	size_t n = strlen(u->key);
	char *k;

	if (n == 0 || u->key[n - 1] == '/')
		return;
	k = fm_xasprintf("%s/", u->key);
	free(u->key);
	u->key = k;
}

int fm_s3_out_init(struct fm_s3_out *out, const char *film_uri, const char *upload_uri, long ttl,
		   const char *output_dir, char **local_film, struct fm_error *err)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_init(&out->lock, NULL);
	out->ttl = ttl;
	if (upload_uri) {
		if (fm_s3_uri_parse(upload_uri, &out->upload, err) < 0)
			return -1;
		as_prefix(&out->upload);
	}
	if (film_uri) {
		const char *name, *dot;

		if (fm_s3_uri_parse(film_uri, &out->film, err) < 0)
			goto fail;
		name = strrchr(out->film.key, '/');
		name = name ? name + 1 : out->film.key;
		dot = strrchr(name, '.');
		if (!dot || dot == name ||
		    (strcasecmp(dot, ".mp4") && strcasecmp(dot, ".mov") &&
		     strcasecmp(dot, ".mkv"))) {
			fm_error(err, FM_VALIDATION_ERROR,
				 "'%s' does not end in .mp4, .mov or .mkv", film_uri);
			goto fail;
		}
		*local_film = fm_xasprintf("%s/%s", output_dir, name);
		/* The film's sidecars go beside it: the prefix is its folder. */
		out->film.key[name - out->film.key] = '\0';
	}
	if (fm_s3_init(&out->s3, err) == 0)
		return 0;
fail:
	fm_s3_out_release(out);
	return -1;
}

void fm_s3_out_release(struct fm_s3_out *out)
{
	size_t i;

	for (i = 0; i < out->nidle; i++) {
		fm_s3_release(out->idle[i]);
		free(out->idle[i]);
	}
	free(out->idle);
	out->idle = NULL;
	out->nidle = 0;
	if (out->s3.http.curl)
		fm_s3_release(&out->s3);
	fm_s3_uri_release(&out->film);
	fm_s3_uri_release(&out->upload);
}

/* A copy of s's settings with a client (a libcurl handle) of its own. */
static int s3_clone(struct fm_s3 *dst, const struct fm_s3 *s, struct fm_error *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->id = fm_xstrdup(s->id);
	dst->secret = fm_xstrdup(s->secret);
	dst->token = s->token ? fm_xstrdup(s->token) : NULL;
	dst->region = fm_xstrdup(s->region);
	dst->endpoint = fm_xstrdup(s->endpoint);
	dst->profile = fm_xstrdup(s->profile);
	dst->path_style = s->path_style;
	if (fm_http_init(&dst->http, s->endpoint, NULL, err) < 0) {
		fm_s3_release(dst);
		return -1;
	}
	fm_http_sigv4(&dst->http, s->region, "s3", s->id, s->secret);
	dst->http.retry_5xx = 1;
	dst->http.cancelled = s->http.cancelled;
	dst->http.cancel_arg = s->http.cancel_arg;
	return 0;
}

static struct fm_s3 *take_client(struct fm_s3_out *out, struct fm_error *err)
{
	struct fm_s3 *c = NULL;

	pthread_mutex_lock(&out->lock);
	if (out->nidle)
		c = out->idle[--out->nidle];
	pthread_mutex_unlock(&out->lock);
	if (c)
		return c;
	c = fm_xmalloc(sizeof(*c));
	if (s3_clone(c, &out->s3, err) < 0) {
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&out->lock);
	out->made++;
	out->idle = fm_xrealloc(out->idle, out->made * sizeof(*out->idle));
	pthread_mutex_unlock(&out->lock);
	return c;
}

static void give_client(struct fm_s3_out *out, struct fm_s3 *c)
{
	pthread_mutex_lock(&out->lock);
	out->idle[out->nidle++] = c;
	pthread_mutex_unlock(&out->lock);
}

void fm_s3_out_result(void *arg, const char *base_dir, int film, struct fm_result *res)
{
	struct fm_s3_out *out = arg;
	struct fm_error err = FM_ERROR_INIT;
	struct fm_s3_uri prefix;
	struct fm_s3 *c;

	if (!(film && out->film.bucket) && !out->upload.bucket)
		return;
	if (!(c = take_client(out, &err))) {
		res->status = FM_STATUS_ERROR;
		fm_error_move(&res->error, &err);
		return;
	}
	if (film && out->film.bucket) {
		fm_s3_publish(c, &out->film, base_dir, out->ttl, res);
	} else {
		prefix.bucket = out->upload.bucket;
		prefix.key = fm_xasprintf("%s%s/", out->upload.key, res->task_id);
		fm_s3_publish(c, &prefix, base_dir, out->ttl, res);
		free(prefix.key);
	}
	give_client(out, c);
}
