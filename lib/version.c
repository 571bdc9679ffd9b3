/*
 * What --version says beyond the version: the git revision built and the
 * libraries as they run. Apart from msg.c, so that a plugin built on the
 * SDK, which needs msg.c, need not link libav, libcurl or libarchive.
 */
#include <stdio.h>

#include <archive.h>
#include <curl/curl.h>
#include <json-c/json_c_version.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>

#include "version.h"

#ifndef FM_REVISION
#define FM_REVISION "unknown"
#endif

const char *fm_revision(void)
{
	return FM_REVISION;
}

/* "61.1.100": libav's packed version, as it prints it. */
static const char *av_v(unsigned v, char buf[32])
{
	snprintf(buf, 32, "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);
	return buf;
}

const char *fm_libraries(void)
{
	static char text[512];
	char f[32], c[32], fl[32], u[32];

	snprintf(text, sizeof(text),
		 "libavformat %s, libavcodec %s, libavfilter %s, libavutil %s; libcurl %s; "
		 "json-c %s; %s",
		 av_v(avformat_version(), f), av_v(avcodec_version(), c),
		 av_v(avfilter_version(), fl), av_v(avutil_version(), u),
		 curl_version_info(CURLVERSION_NOW)->version, json_c_version(),
		 archive_version_string());
	return text;
}
