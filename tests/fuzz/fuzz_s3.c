/*
 * Fuzz target: what lib/s3.c reads from outside, the AWS CLI's INI
 * files (~/.aws/credentials, ~/.aws/config) and S3's XML error bodies,
 * both from the same bytes. Any input must end in values or an error,
 * never a crash, a leak or a hang; every value read stays within its
 * bound and is one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_value(void *arg, const char *section, const char *key, const char *value)
{
	(void)arg;
	if (strlen(section) > FM_S3_INI_LINE_MAX || strlen(key) > 2 * FM_S3_INI_LINE_MAX + 1 ||
	    strlen(value) > FM_S3_INI_LINE_MAX || !key[0] || strchr(value, '\n'))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_s3_xml_error x;

	fm_s3_ini_parse((const char *)data, size, "fuzz", on_value, NULL, &err);
	fm_error_release(&err);
	fm_s3_error_parse((const char *)data, size, &x);
	if (strchr(x.code, '\n') || strchr(x.message, '\n') || strlen(x.key) >= sizeof(x.key))
		abort();
	return 0;
}
