/*
 * The output cache (DESIGN §5): a successful result kept under a key made
 * of the plugin's name and version, the tool, the parameters and the
 * content of every input file, so a rerun of the same task does no work.
 * Entries live in CACHE_DIR/outputs/KEY/; downloads in CACHE_DIR/downloads.
 */
#ifndef FM_CACHE_H
#define FM_CACHE_H

#include <stdatomic.h>

#include "manifest.h"
#include "model.h"

/*
 * SHA-256 of a file's content or of a string, as 64 hex digits: 0, or -1
 * when the file cannot be read.
 */
int fm_hash_file(const char *path, char hex[65]);
int fm_hash_string(const char *s, char hex[65]);
/*
 * The task's key, or NULL when an input cannot be read, no hash could be
 * made, or *stop (may be NULL) was set while the inputs were hashed (the
 * task then runs uncached). settings (the plugin's
 * config.yaml settings, or NULL) are part of it, and so is the key of
 * filmeto-serve that queued it (t->metadata's FM_OWNER_KEY): another
 * key's task is not answered from this one's outputs, which would hand
 * them over and tell it what this one rendered. Safe on any thread when
 * t and settings are that thread's own.
 */
char *fm_cache_key(const struct fm_manifest *m, const struct fm_task *t, json_object *settings,
		   const atomic_int *stop);
/*
 * Copies a cached result's files into dir (fm_copy_into_place: never a
 * link to the entry, so what the task does to them stays its own) and
 * fills res: 0 on a hit. A dir that is not a directory of its own (a
 * symbolic link) is never a hit.
 */
int fm_cache_get(const char *cache_dir, const char *key, const char *dir, struct fm_result *res);
/*
 * Keeps a successful result, its files copied into the entry; failures to
 * keep it are not errors.
 */
void fm_cache_put(const char *cache_dir, const char *key, const struct fm_result *res);
#endif
