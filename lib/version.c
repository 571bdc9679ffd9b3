/*
 * What --version says beyond the version: the git revision built and the
 * libraries as they run. Apart from msg.c, so that a plugin built on the
 * SDK, which needs msg.c, need not link libcurl or libarchive; the libav*
 * versions are media.c's (fm_media_libraries), so that only what links
 * the media libraries loads them. libcurl is opened here to say its own
 * (curl_lazy.h).
 */
#include <stdio.h>

#include <archive.h>
#include <json-c/json_c_version.h>

#include "curl_lazy.h"
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
	const curl_version_info_data *curl = fm_curl_version_info(CURLVERSION_NOW);
	static char text[256];

	snprintf(text, sizeof(text), "libcurl %s; json-c %s; %s",
		 curl ? curl->version : "(cannot be loaded)", json_c_version(),
		 archive_version_string());
	return text;
}
