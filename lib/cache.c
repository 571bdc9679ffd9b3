/*
 * The output cache. A key is the SHA-256 (digest.h) of the plugin name
 * and version, the tool, the parameters with their keys sorted, and the
 * content hash of each input file. An entry is a directory holding the
 * copies of the output files and result.json; it is built under a
 * temporary name and renamed into place, so a reader never sees half an
 * entry and two writers never mix. An entry never hard-links a file the
 * cache did not make: a plugin's output could name anything (a link to a
 * system file would make a later write to a cached output write there),
 * so it is copied, through no symbolic link and only when regular. What
 * the cache hands out is a copy too, never a link to its entry: a task
 * that writes to a file it was given (a plugin editing its input, say)
 * would otherwise change every later answer. A reflink makes the copy
 * O(1) where the file system shares blocks (btrfs, XFS); elsewhere
 * copy_file_range(2) copies inside the kernel.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "digest.h"
#include "fs.h"
#include "proc.h"
#include "util.h"

int fm_hash_string(const char *s, char hex[65])
{
	uint8_t d[FM_SHA256_BYTES];

	fm_sha256(s, strlen(s), d);
	fm_hex(d, sizeof(d), hex);
	return 0;
}

/*
 * Inputs may be gigabytes, so the executor hashes them off its loop and
 * may want to stop: stop (may be NULL) is looked at between reads. Only a
 * regular file is read, so a FIFO put in an input's place cannot block.
 */
static int hash_file(const char *path, char hex[65], const atomic_int *stop)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct fm_sha256 sha;
	uint8_t buf[65536], d[FM_SHA256_BYTES];
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	fm_sha256_init(&sha);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (stop && atomic_load(stop)) {
			n = -1;
			break;
		}
		fm_sha256_update(&sha, buf, (size_t)n);
	}
	close(fd);
	fm_sha256_final(&sha, d);
	if (n < 0)
		return -1;
	fm_hex(d, sizeof(d), hex);
	return 0;
}

int fm_hash_file(const char *path, char hex[65])
{
	return hash_file(path, hex, NULL);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The same parameters, whatever their order, give the same text. With
 * public set, what is under a secret name (api_key, token: fm_secret_name)
 * is left out: a key is no part of what is made, and must not reach the
 * cache, not even hashed.
 */
static json_object *sorted(json_object *o, int public)
{
	json_object *c;
	const char **keys;
	size_t i, n = 0;

	if (json_object_is_type(o, json_type_array)) {
		c = json_object_new_array();
		for (i = 0; i < json_object_array_length(o); i++)
			json_object_array_add(c, sorted(json_object_array_get_idx(o, i), public));
		return c;
	}
	if (!json_object_is_type(o, json_type_object))
		return json_object_get(o);
	keys = fm_xcalloc((size_t)json_object_object_length(o) + 1, sizeof(*keys));
	json_object_object_foreach (o, k, v) {
		(void)v;
		if (!public || !fm_secret_name(k))
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), by_key);
	c = json_object_new_object();
	for (i = 0; i < n; i++)
		json_object_object_add(c, keys[i],
				       sorted(json_object_object_get(o, keys[i]), public));
	free(keys);
	return c;
}

/*
 * The variables the manifest passes on (OPENAI_BASE_URL, ...) choose
 * where work is done, so they are part of the key; secrets are not.
 */
static void add_env(json_object *k, const struct fm_manifest *m)
{
	json_object *env = NULL;
	size_t i;

	for (i = 0; i < json_object_array_length(m->env); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(m->env, i));

		if (!name || fm_secret_name(name) || !getenv(name))
			continue;
		if (!env)
			env = json_object_new_object();
		json_object_object_add(env, name, json_object_new_string(getenv(name)));
	}
	if (env)
		json_object_object_add(k, "env", env);
}

char *fm_cache_key(const struct fm_manifest *m, const struct fm_task *t, json_object *settings,
		   const atomic_int *stop)
{
	json_object *k = json_object_new_object(), *inputs = json_object_new_array();
	const char *image, *owner;
	char hex[65];
	size_t i;

	for (i = 0; i < json_object_array_length(t->resources); i++) {
		const char *path =
		    fm_json_get_string(json_object_array_get_idx(t->resources, i), "data");

		if (hash_file(path, hex, stop) < 0) {
			json_object_put(k);
			json_object_put(inputs);
			return NULL;
		}
		json_object_array_add(inputs, json_object_new_string(hex));
	}
	/* An input named by a parameter (ComfyUI's input_image_path) counts by content too. */
	if ((image = fm_json_get_string(t->parameters, "input_image_path"))) {
		if (hash_file(image, hex, stop) < 0) {
			json_object_put(k);
			json_object_put(inputs);
			return NULL;
		}
		json_object_object_add(k, "input_image", json_object_new_string(hex));
	}
	json_object_object_add(k, "v", json_object_new_int(1));
	json_object_object_add(k, "plugin", json_object_new_string(m->name));
	json_object_object_add(k, "version", json_object_new_string(m->version));
	json_object_object_add(k, "tool", json_object_new_string(t->tool_name));
	json_object_object_add(k, "parameters", sorted(t->parameters, 0));
	json_object_object_add(k, "inputs", inputs);
	if ((owner = fm_json_get_string(t->metadata, FM_OWNER_KEY)))
		json_object_object_add(k, "owner", json_object_new_string(owner));
	/* Another endpoint or model in config.yaml is another output. */
	if (settings)
		json_object_object_add(k, "settings", sorted(settings, 1));
	add_env(k, m);
	if (fm_hash_string(fm_json_str(k), hex) < 0) {
		json_object_put(k);
		return NULL;
	}
	json_object_put(k);
	return fm_xstrdup(hex);
}

/* The task's folder must be a directory of its own, not a link planted to elsewhere. */
static int real_dir(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *entry_dir(const char *cache_dir, const char *key)
{
	return fm_xasprintf("%s/outputs/%.2s/%s", cache_dir, key, key);
}

int fm_cache_get(const char *cache_dir, const char *key, const char *dir, struct fm_result *res)
{
	char *edir = entry_dir(cache_dir, key), *path = fm_xasprintf("%s/result.json", edir);
	json_object *r = json_object_from_file(path), *files, *meta;
	int rc = 0;
	size_t i;

	free(path);
	files = fm_json_get(r, "files", json_type_array);
	if (!files || !real_dir(dir))
		rc = -1;
	for (i = 0; rc == 0 && i < json_object_array_length(files); i++) {
		json_object *f = json_object_array_get_idx(files, i);
		const char *stored = fm_json_get_string(f, "stored"),
			   *name = fm_json_get_string(f, "name");
		char *src, *dst;

		if (!stored || !name || strchr(stored, '/') || strchr(name, '/')) {
			rc = -1;
			break;
		}
		src = fm_xasprintf("%s/%s", edir, stored);
		dst = fm_xasprintf("%s/%s", dir, name);
		if (fm_copy_into_place(src, dst) < 0 || fm_result_add_output(res, dst, NULL) < 0)
			rc = -1;
		free(src);
		free(dst);
	}
	if (rc == 0 && (meta = fm_json_get(r, "metadata", json_type_object))) {
		json_object_put(res->metadata);
		res->metadata = json_object_get(meta);
	}
	json_object_put(r);
	free(edir);
	return rc;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = fm_xasprintf("%s/%s", dir, e->d_name);
		unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

void fm_cache_put(const char *cache_dir, const char *key, const struct fm_result *res)
{
	char *edir = entry_dir(cache_dir, key);
	char *tmp = fm_xasprintf("%s/outputs/.tmp-%s-%d", cache_dir, key, (int)getpid());
	json_object *r = json_object_new_object(), *files = json_object_new_array();
	char *path = NULL;
	size_t i;
	int ok = fm_mkdirs(tmp, NULL) == 0;

	for (i = 0; ok && i < json_object_array_length(res->output_files); i++) {
		const char *src =
		    json_object_get_string(json_object_array_get_idx(res->output_files, i));
		const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
		/* Outputs from different directories may share a name. */
		char *name = fm_xasprintf("%zu-%s", i, base),
		     *dst = fm_xasprintf("%s/%s", tmp, name);
		json_object *f = json_object_new_object();

		ok = fm_copy_file(src, dst) == 0;
		json_object_object_add(f, "stored", json_object_new_string(name));
		json_object_object_add(f, "name", json_object_new_string(base));
		json_object_array_add(files, f);
		free(name);
		free(dst);
	}
	json_object_object_add(r, "files", files);
	json_object_object_add(r, "metadata", json_object_get(res->metadata));
	if (ok) {
		path = fm_xasprintf("%s/result.json", tmp);
		ok = json_object_to_file_ext(path, r, JSON_C_TO_STRING_PLAIN) == 0;
	}
	if (ok) {
		char *parent = fm_xasprintf("%s/outputs/%.2s", cache_dir, key);

		ok = fm_mkdirs(parent, NULL) == 0 && rename(tmp, edir) == 0;
		free(parent);
	}
	/* Another run may have put the same key first; theirs is as good. */
	if (!ok)
		remove_tree(tmp);
	json_object_put(r);
	free(path);
	free(tmp);
	free(edir);
}
