/*
 * What --version says beyond the version: the git revision built and the
 * libraries as they run. Apart from msg.c, so that a plugin built on the
 * SDK, which needs msg.c, need not link libcurl or libarchive; the libav*
 * versions are media.c's (fm_media_libraries), so that only what links
 * the media libraries loads them.
 */
#include <stdio.h>

#include <archive.h>
#include <curl/curl.h>
#include <json-c/json_c_version.h>

#include "version.h"

#ifndef FM_REVISION
#define FM_REVISION "unknown"
#endif

const char *fm_revision(void)
{
	return FM_REVISION;
}

const char *fm_libraries(void)
{
	static char text[256];

	snprintf(text, sizeof(text), "libcurl %s; json-c %s; %s",
		 curl_version_info(CURLVERSION_NOW)->version, json_c_version(),
		 archive_version_string());
	return text;
}
