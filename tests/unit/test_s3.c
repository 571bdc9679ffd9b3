/*
 * lib/s3.c without a service: URIs, the AWS CLI's files and variables,
 * addressing, S3 error bodies, and a presigned URL checked against the
 * example AWS publishes (s3rver does not check SigV4 signatures, so
 * tests/s3.bats cannot). Requests are tested against s3rver in
 * tests/s3.bats.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "s3.h"
#include "tap.h"
#include "util.h"

static const char *const aws_vars[] = {"AWS_ACCESS_KEY_ID",
				       "AWS_SECRET_ACCESS_KEY",
				       "AWS_SESSION_TOKEN",
				       "AWS_REGION",
				       "AWS_DEFAULT_REGION",
				       "AWS_PROFILE",
				       "AWS_ENDPOINT_URL",
				       "AWS_ENDPOINT_URL_S3",
				       "AWS_SHARED_CREDENTIALS_FILE",
				       "AWS_CONFIG_FILE",
				       "HOME"};

static void clear_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
}

static void test_uri(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_s3_uri u;

	OK(fm_s3_uri_parse("s3://films/a/b c.mp4", &u, &err) == 0, "s3:// URI parsed");
	IS_STR(u.bucket, "films", "its bucket");
	IS_STR(u.key, "a/b c.mp4", "its key");
	fm_s3_uri_release(&u);
	OK(fm_s3_uri_parse("s3://films", &u, &err) == 0 && !strcmp(u.key, ""), "a bare bucket");
	fm_s3_uri_release(&u);
	OK(fm_s3_uri_parse("s3://Films/x", &u, &err) < 0 && err.code == FM_VALIDATION_ERROR,
	   "an uppercase bucket refused");
	HAS(err.message, "lowercase", "the rule named");
	OK(fm_s3_uri_parse("s3://ab/x", &u, &err) < 0, "a two-letter bucket refused");
	OK(fm_s3_uri_parse("http://films/x", &u, &err) < 0, "not s3:// refused");
	OK(fm_s3_uri_parse("s3://films/a\nb", &u, &err) < 0, "a control character refused");
	OK(fm_url_like("s3://films/a.png"), "s3:// reads as a URL (a digit in the scheme)");
	OK(!fm_url_like("3s://films/a.png"), "a scheme starts with a letter");
	fm_error_release(&err);
}

struct ini_seen {
	char log[512];
};

static int ini_set(void *arg, const char *section, const char *key, const char *value)
{
	struct ini_seen *s = arg;
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "[%s|%s|%s]", section, key, value);
	return 0;
}

static void test_ini(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct ini_seen s = {""};
	const char *text = "# c\n[default]\nregion = eu-west-1\ns3 =\n  addressing_style = path\n"
			   "; c\n[profile x]\r\nkey=v = w\r\n";

	OK(fm_s3_ini_parse(text, strlen(text), "cfg", ini_set, &s, &err) == 0, "INI parsed");
	IS_STR(s.log,
	       "[default|region|eu-west-1][default|s3.addressing_style|path][profile x|key|v = w]",
	       "sections, nested keys, CRLF");
	OK(fm_s3_ini_parse("x = 1\n", 6, "cfg", ini_set, &s, &err) < 0, "a key outside a section");
	HAS(err.message, "cfg:1:", "file and line named");
	OK(fm_s3_ini_parse("[a]\nnothing\n", 12, "cfg", ini_set, &s, &err) < 0,
	   "a line of nothing");
	HAS(err.message, "cfg:2:", "its line named");
	fm_error_release(&err);
}

static void test_settings(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_s3_uri u = {(char *)"films", (char *)"a/b c"};
	struct fm_s3 s;
	char *dir = tmp_dir(), *url;

	clear_env();
	setenv("HOME", dir, 1);
	OK(fm_s3_init(&s, &err) < 0 && err.code == FM_VALIDATION_ERROR, "no keys: an error");
	HAS(err.message, "AWS_ACCESS_KEY_ID", "the variables named");
	fm_error_release(&err);
	setenv("AWS_SHARED_CREDENTIALS_FILE",
	       url = write_file(dir, "creds",
				"[default]\naws_access_key_id = D\n"
				"aws_secret_access_key = DS\n"
				"[work]\naws_access_key_id = W\n"
				"aws_secret_access_key = WS\n"),
	       1);
	free(url);
	setenv("AWS_CONFIG_FILE",
	       url = write_file(dir, "config",
				"[profile work]\nregion = eu-north-1\n"
				"s3 =\n  endpoint_url = http://127.0.0.1:9000/\n"),
	       1);
	free(url);
	setenv("AWS_PROFILE", "work", 1);
	OK(fm_s3_init(&s, &err) == 0, "a profile read: %s", err.message);
	IS_STR(s.id, "W", "the profile's key");
	IS_STR(s.region, "eu-north-1", "its region from config");
	IS_STR(s.endpoint, "http://127.0.0.1:9000", "its endpoint, no trailing slash");
	url = fm_s3_object_url(&s, &u);
	IS_STR(url, "http://127.0.0.1:9000/films/a/b%20c", "path-style off AWS");
	free(url);
	fm_s3_release(&s);
	setenv("AWS_ACCESS_KEY_ID", "E", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ES", 1);
	setenv("AWS_REGION", "ap-south-1", 1);
	unsetenv("AWS_CONFIG_FILE");
	OK(fm_s3_init(&s, &err) == 0, "variables read");
	IS_STR(s.id, "E", "variables before the profile");
	url = fm_s3_object_url(&s, &u);
	IS_STR(url, "https://films.s3.ap-south-1.amazonaws.com/a/b%20c", "virtual-hosted on AWS");
	free(url);
	fm_s3_release(&s);
	clear_env();
	fm_error_release(&err);
	rm_rf(dir);
	free(dir);
}

static void test_errors(void)
{
	struct fm_s3_xml_error e;
	const char *body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>"
			   "<Message>a &amp; b &lt;c&gt;</Message><BucketName>films</BucketName>"
			   "</Error>";

	OK(fm_s3_error_parse(body, strlen(body), &e) == 0, "an S3 error body read");
	IS_STR(e.code, "NoSuchBucket", "its code");
	IS_STR(e.message, "a & b <c>", "its message, entities decoded");
	IS_STR(e.bucket, "films", "its bucket");
	OK(fm_s3_error_parse("<Code>Cut", 9, &e) < 0, "an unclosed element is no code");
	OK(fm_s3_error_parse(NULL, 0, &e) < 0, "no body, no code");
}

/* The example of AWS's "Authenticating Requests: Using Query Parameters". */
static void test_presign(void)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_s3_uri u = {(char *)"examplebucket", (char *)"test.txt"};
	struct fm_s3 s;
	char *url;

	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
	setenv("AWS_ENDPOINT_URL", "https://s3.amazonaws.com", 1);
	OK(fm_s3_init(&s, &err) == 0, "AWS's example keys");
	url = fm_s3_presign(&s, &u, 86400, 1369353600, &err);
	HAS(url ? url : "",
	    "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
	    "the signature AWS published");
	HAS(url ? url : "", "https://examplebucket.s3.amazonaws.com/test.txt?", "virtual-hosted");
	free(url);
	OK(fm_s3_presign(&s, &u, FM_S3_URL_TTL_MAX + 1, 0, &err) == NULL, "a lifetime past 7 days");
	fm_s3_release(&s);
	setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
	OK(fm_s3_init(&s, &err) == 0, "keys with a session token");
	OK(fm_s3_presign(&s, &u, 60, 0, &err) == NULL, "no presigned URL carries a token");
	HAS(err.message, "session token", "and it says why");
	fm_s3_release(&s);
	clear_env();
	fm_error_release(&err);
}

void test_s3(void)
{
	test_uri();
	test_ini();
	test_settings();
	test_errors();
	test_presign();
}
