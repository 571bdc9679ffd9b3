/*
 * Input resources (DESIGN §2) made into local files before a plugin sees
 * them: local paths are checked, base64 is decoded, URLs are downloaded
 * with libcurl, each within a size bound.
 */
#ifndef FM_RESOURCE_H
#define FM_RESOURCE_H

#include <json-c/json.h>

#include "error.h"

/* Largest base64 resource decoded and largest download. */
#define FM_BASE64_MAX	(64 * 1024 * 1024)
#define FM_DOWNLOAD_MAX (4LL * 1024 * 1024 * 1024)
/* Seconds to connect, and the whole download's limit. */
#define FM_DOWNLOAD_CONNECT_TIMEOUT 30
#define FM_DOWNLOAD_TIMEOUT	    3600

/*
 * Rewrites one resource object in place into a local_path resource whose
 * file exists, writing decoded or downloaded data under dir as
 * input-INDEX.EXT. Downloads are kept in cache_dir/downloads by URL and
 * reused (cache_dir may be NULL). task_output resources are the
 * executor's business and are left alone.
 */
int fm_resource_localize(json_object *res, const char *dir, size_t index, const char *cache_dir,
			 struct fm_error *err);

#endif
