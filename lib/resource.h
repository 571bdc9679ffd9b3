/*
 * Input resources (DESIGN §2) made into local files before a plugin sees
 * them: local paths are checked, base64 is decoded, URLs are downloaded
 * with libcurl, each within a size bound. Safe to call from several
 * threads at once (the executor runs it off its loop, see prep.h).
 */
#ifndef FM_RESOURCE_H
#define FM_RESOURCE_H

#include <stdatomic.h>
#include <json-c/json.h>

#include "error.h"

/*
 * Largest base64 resource decoded and largest download. The bytes of a
 * download are counted as they come, so a chunked body without a length
 * stops at the limit too. FM_DOWNLOAD_MAX_ENV may lower the download
 * limit (a server's, a test's), never raise it.
 */
#define FM_BASE64_MAX	    (64 * 1024 * 1024)
#define FM_DOWNLOAD_MAX	    (4LL * 1024 * 1024 * 1024)
#define FM_DOWNLOAD_MAX_ENV "FILMETO_DOWNLOAD_MAX"
/*
 * The download limit in *max: FM_DOWNLOAD_MAX, or less when
 * FM_DOWNLOAD_MAX_ENV says so. A value that is not a positive number of
 * bytes is a RESOURCE_PROCESSING_ERROR naming the variable. The remote
 * plugins' downloads (lib/http.c) are bounded by it too.
 */
int fm_download_max(long long *max, struct fm_error *err);
/* Seconds to connect, and the whole download's limit. */
#define FM_DOWNLOAD_CONNECT_TIMEOUT 30
#define FM_DOWNLOAD_TIMEOUT	    3600

/*
 * A remote_url resource whose metadata has FM_FETCH_KEY set to
 * FM_FETCH_PUBLIC is fetched only from public addresses (lib/addr.h):
 * filmeto-serve sets it on the tasks of keys that are not admin.
 * Downloads made so are cached apart from the others.
 */
#define FM_FETCH_KEY	"fetch"
#define FM_FETCH_PUBLIC "public"

/*
 * Rewrites one resource object in place into a local_path resource whose
 * file exists, writing decoded or downloaded data under dir as
 * input-INDEX.EXT. Downloads are kept in cache_dir/downloads by URL and
 * reused (cache_dir may be NULL), each task getting a copy of its own. task_output resources are
 * the executor's business and are left alone. A download looks at *stop (may be NULL) at least once
 * a second and, once it is set, ends with TASK_CANCELLED; no temporary file is left behind on any
 * path.
 */
int fm_resource_localize(json_object *res, const char *dir, size_t index, const char *cache_dir,
			 const atomic_int *stop, struct fm_error *err);

#endif
