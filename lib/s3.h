/*
 * Object storage: s3:// URIs read and written through S3's HTTP API
 * (AWS S3 and what speaks it: MinIO, Ceph RGW, Garage, R2). Settings
 * and keys are found where the AWS CLI finds them, requests are signed
 * by libcurl on lib/http.h's client, and the one thing libcurl cannot
 * sign, a presigned GET URL, is built on digest.h's HMAC-SHA256.
 *
 * The secret key and the session token are secrets of the process
 * (lib/redact.h): no error, detail or event carries them. A presigned
 * URL must carry a session token to work, so none is made while one is
 * in use (fm_s3_presign says why).
 */
#ifndef FM_S3_H
#define FM_S3_H

#include <json-c/json.h>
#include <pthread.h>
#include <time.h>

#include "error.h"
#include "http.h"
#include "model.h"

/* Longest s3:// URI, and S3's own limits on a bucket's name and a key. */
#define FM_S3_URI_MAX	 2048
#define FM_S3_BUCKET_MAX 63
#define FM_S3_KEY_MAX	 1024
/* Largest ~/.aws/credentials or ~/.aws/config read, and longest line in it. */
#define FM_S3_INI_MAX	   (1024 * 1024)
#define FM_S3_INI_LINE_MAX 4096
/* Longest value of one S3 error body element kept (Code, Message, …). */
#define FM_S3_XML_VALUE_MAX 1024
/* A presigned URL's default lifetime, and SigV4's longest (7 days). */
#define FM_S3_URL_TTL	  3600
#define FM_S3_URL_TTL_MAX 604800
/*
 * A file of at least FM_S3_MULTIPART_MIN bytes is uploaded in parts of
 * FM_S3_PART_SIZE (more when the file would need more than S3's
 * FM_S3_PARTS_MAX), FM_S3_PARTS_IN_FLIGHT at once, each streamed from
 * the file and retried on its own; memory is bounded by the parts in
 * flight, not by the file. S3's smallest part is 5 MiB, its largest
 * single PUT 5 GiB.
 */
#define FM_S3_MULTIPART_MIN   (64LL * 1024 * 1024)
#define FM_S3_PART_SIZE	      (8LL * 1024 * 1024)
#define FM_S3_PARTS_MAX	      10000
#define FM_S3_PARTS_IN_FLIGHT 4
/*
 * Bytes from which a file goes in parts, instead of FM_S3_MULTIPART_MIN
 * (parts stay FM_S3_PART_SIZE).
 */
#define FM_S3_MULTIPART_ENV "FILMETO_S3_MULTIPART_MIN"
/* Where no region is set, as the AWS CLI does. */
#define FM_S3_DEFAULT_REGION "us-east-1"

struct fm_s3_uri {
	char *bucket;
	char *key; /* may be "" (a prefix), never NULL once parsed */
};

/* Whether s starts with "s3://". */
int fm_s3_is_uri(const char *s);
/*
 * s3://BUCKET/KEY into u. A bucket of 3 to 63 lowercase letters, digits,
 * '.' and '-'; a key of at most FM_S3_KEY_MAX bytes without control
 * characters. VALIDATION_ERROR naming the URI and the rule otherwise.
 */
int fm_s3_uri_parse(const char *s, struct fm_s3_uri *u, struct fm_error *err);
void fm_s3_uri_release(struct fm_s3_uri *u);
/* "s3://BUCKET/KEY", free()d by the caller. */
char *fm_s3_uri_string(const struct fm_s3_uri *u);

/*
 * Settings as the AWS CLI reads them: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; else the profile
 * AWS_PROFILE (or "default") of AWS_SHARED_CREDENTIALS_FILE
 * (~/.aws/credentials), then of AWS_CONFIG_FILE (~/.aws/config, where it
 * is "[profile NAME]"). Region: AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's region, FM_S3_DEFAULT_REGION. Endpoint: AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL, the profile's s3.endpoint_url or endpoint_url, else
 * AWS's own. Addressing: the profile's s3.addressing_style (path,
 * virtual, auto); auto is virtual-hosted on amazonaws.com for buckets
 * that are DNS names, path-style elsewhere (MinIO, s3rver, Ceph, Garage
 * want it, and an IP address or localhost cannot carry a bucket).
 */
struct fm_s3 {
	struct fm_http http;
	char *id, *secret, *token; /* secret and token are secrets of the process */
	char *region;
	char *endpoint; /* scheme://host[:port], no trailing slash */
	char *profile;
	int path_style; /* -1 auto, 0 virtual, 1 path */
};

/*
 * Reads the settings into s and makes its HTTP client. No key anywhere is
 * a VALIDATION_ERROR naming the variables and the profile looked at; an
 * unreadable or malformed file one naming the file and line.
 */
int fm_s3_init(struct fm_s3 *s, struct fm_error *err);
void fm_s3_release(struct fm_s3 *s);
/* The URL of an object (or of its bucket with key ""), free()d by the caller. */
char *fm_s3_object_url(const struct fm_s3 *s, const struct fm_s3_uri *u);

/*
 * PUT the file path as the object u with content type mime (NULL:
 * guessed from the name), streamed from disk; in parts from
 * FM_S3_MULTIPART_MIN on. A multipart upload that fails or is cancelled
 * is aborted, so no incomplete upload is left behind. GET the object u into path
 * (through a temporary name). HEAD, DELETE. Errors name the s3:// URI
 * and S3's code (fm_s3_error); code is the code to fail with:
 * SERVICE_ERROR for results, RESOURCE_PROCESSING_ERROR for inputs.
 */
int fm_s3_put_file(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path, const char *mime,
		   struct fm_error *err);
int fm_s3_get_file(struct fm_s3 *s, const struct fm_s3_uri *u, const char *path,
		   struct fm_error *err);

/*
 * A presigned GET URL for u, valid ttl seconds from now (1 to
 * FM_S3_URL_TTL_MAX), free()d by the caller. NULL with a
 * VALIDATION_ERROR when a session token is in use: such a URL must carry
 * the token, and filmeto writes no credential anywhere.
 */
char *fm_s3_presign(const struct fm_s3 *s, const struct fm_s3_uri *u, long ttl, time_t now,
		    struct fm_error *err);

/*
 * Uploads a task's outputs (res->output_resources) under prefix (a key
 * ending in '/', or ""): each file at prefix + its path relative to
 * base_dir, or + its name when it lies elsewhere. Each output gets
 * "url", a presigned GET URL valid ttl seconds (none with a session
 * token), and "metadata.s3_uri"; output_files keep the local paths. The
 * first upload that fails turns res into a SERVICE_ERROR naming the
 * s3:// URI and S3's code, and saying the local copy stays; returns -1
 * then.
 */
int fm_s3_publish(struct fm_s3 *s, const struct fm_s3_uri *prefix, const char *base_dir, long ttl,
		  struct fm_result *res);

/*
 * Where a run's results go: -o s3://BUCKET/KEY's film and sidecars
 * beside KEY, --upload s3://BUCKET/PREFIX/'s every task under
 * PREFIX/TASK_ID/. fm_s3_out_result is struct fm_exec_opts' on_result.
 */
struct fm_s3_out {
	struct fm_s3 s3;	 /* the settings, and the cancel callback every client polls */
	struct fm_s3_uri film;	 /* bucket NULL: no film to upload */
	struct fm_s3_uri upload; /* bucket NULL: no --upload */
	long ttl;
	/*
	 * fm_s3_out_result runs on several threads at once: each takes a
	 * client of its own from here, made on first need and kept, so
	 * its connection is kept alive for the next upload.
	 */
	pthread_mutex_t lock;
	struct fm_s3 **idle;
	size_t nidle, made;
};

/*
 * Sets up out for film_uri and upload_uri (either may be NULL): checks
 * both, and that keys are there. film_uri's key must end in .mp4, .mov or
 * .mkv; *local_film is then the film's local name, under output_dir.
 */
int fm_s3_out_init(struct fm_s3_out *out, const char *film_uri, const char *upload_uri, long ttl,
		   const char *output_dir, char **local_film, struct fm_error *err);
void fm_s3_out_release(struct fm_s3_out *out);
/* struct fm_exec_opts' on_result: safe to call from several threads at once. */
void fm_s3_out_result(void *out, const char *base_dir, int film, struct fm_result *res);

/*
 * The few elements of an S3 error body (<Error><Code>…): each "" when
 * absent, entities decoded, cut to FM_S3_XML_VALUE_MAX. Returns 0 when a
 * Code was found, else -1. Reads at most len bytes; never fails on
 * malformed input.
 */
struct fm_s3_xml_error {
	char code[128];
	char message[FM_S3_XML_VALUE_MAX];
	char bucket[FM_S3_BUCKET_MAX + 1];
	char key[FM_S3_XML_VALUE_MAX];
};
int fm_s3_error_parse(const char *body, size_t len, struct fm_s3_xml_error *e);

/*
 * An INI file as the AWS CLI writes it: "[section]", "key = value",
 * '#' and ';' comments, and nested keys (an indented "key = value"
 * under "s3 =") reported as "s3.key". Calls set() for each value;
 * a nonzero return stops. A line that is none of these, or longer than
 * FM_S3_INI_LINE_MAX, is a VALIDATION_ERROR naming name and the line
 * number; text past FM_S3_INI_MAX is refused.
 */
int fm_s3_ini_parse(const char *text, size_t len, const char *name,
		    int (*set)(void *arg, const char *section, const char *key, const char *value),
		    void *arg, struct fm_error *err);

#endif
