/*
 * Preparing a task's inputs on a thread. json-c objects are not safe to
 * share between threads (reference counts are plain integers), so the
 * thread works on deep copies made before it starts and hands its
 * results over only once it is done; the loop learns that from a byte
 * on a pipe and an atomic flag. Stopping is a flag the download and the
 * hash look at, never a signal: signals stay the main thread's.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "fs.h"
#include "prep.h"
#include "resource.h"
#include "util.h"

struct fm_prep {
	pthread_t tid;
	atomic_int stop, done;
	int notify_fd;
	/* The thread's own until done; the owner's after. */
	json_object *resources, *parameters, *settings;
	char *dir, *cache_dir, *tool, *key, *owner;
	const struct fm_manifest *m;
	int rc;
	struct fm_error err;
};

/* Every resource made local; a film's inputs are known by their scene. */
static int localize(struct fm_prep *p)
{
	size_t i, n = json_object_array_length(p->resources);

	for (i = 0; i < n; i++) {
		const char *type =
		    fm_json_get_string(json_object_array_get_idx(p->resources, i), "type");

		/* Decoded and downloaded inputs are written into the task's dir. */
		if ((!strcmp(type, "base64") || !strcmp(type, "remote_url")) &&
		    fm_mkdirs(p->dir, &p->err) < 0)
			return -1;
	}
	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(p->resources, i);
		const char *scene =
		    fm_json_get_string(fm_json_get(r, "metadata", json_type_object), "scene");
		char msg[FM_ERROR_MAX];

		if (fm_resource_localize(r, p->dir, i, p->cache_dir, &p->stop, &p->err) == 0)
			continue;
		if (scene &&
		    snprintf(msg, sizeof(msg), "scene '%s': %s", scene, p->err.message) > 0) {
			fm_error(&p->err, p->err.code, "%s", msg);
			fm_error_detail(&p->err, "scene", json_object_new_string(scene));
		}
		return -1;
	}
	return 0;
}

static void *prep_main(void *arg)
{
	struct fm_prep *p = arg;

	p->rc = localize(p);
	if (p->rc == 0 && p->m) {
		struct fm_task t;

		fm_task_init(&t);
		t.tool_name = p->tool;
		t.parameters = p->parameters;
		t.resources = p->resources;
		if (p->owner) {
			t.metadata = json_object_new_object();
			json_object_object_add(t.metadata, FM_OWNER_KEY,
					       json_object_new_string(p->owner));
		}
		/* NULL when an input cannot be read: the task runs uncached. */
		p->key = fm_cache_key(p->m, &t, p->settings, &p->stop);
		json_object_put(t.metadata);
	}
	atomic_store(&p->done, 1);
	/* After done: the loop that wakes must find it set. A full pipe wakes it too. */
	(void)!write(p->notify_fd, "", 1);
	return NULL;
}

/*
 * A deep copy for the thread. json_object_deep_copy refuses the numbers
 * json-c keeps with their spelling, and a copy through text would refuse
 * a file name that is not UTF-8; this keeps both as they are.
 */
static json_object *copy(json_object *o)
{
	json_object *c;
	size_t i;

	switch (json_object_get_type(o)) {
	case json_type_null: return NULL;
	case json_type_boolean: return json_object_new_boolean(json_object_get_boolean(o));
	case json_type_int:
		/* Above INT64_MAX json-c keeps an unsigned value, which get_int64 clamps. */
		if (json_object_get_int64(o) == INT64_MAX)
			return json_object_new_uint64(json_object_get_uint64(o));
		return json_object_new_int64(json_object_get_int64(o));
	case json_type_double:
		return fm_json_new_number(
		    json_object_get_double(o),
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	case json_type_string:
		return json_object_new_string_len(json_object_get_string(o),
						  json_object_get_string_len(o));
	case json_type_array:
		c = json_object_new_array_ext((int)json_object_array_length(o));
		for (i = 0; i < json_object_array_length(o); i++)
			json_object_array_add(c, copy(json_object_array_get_idx(o, i)));
		return c;
	case json_type_object:
		c = json_object_new_object();
		json_object_object_foreach (o, k, v) {
			json_object_object_add(c, k, copy(v));
		}
		return c;
	}
	return NULL;
}

static void prep_release(struct fm_prep *p)
{
	json_object_put(p->resources);
	json_object_put(p->parameters);
	json_object_put(p->settings);
	free(p->dir);
	free(p->cache_dir);
	free(p->tool);
	free(p->key);
	free(p->owner);
	fm_error_release(&p->err);
	free(p);
}

int fm_prep_start(struct fm_prep **pp, const struct fm_prep_in *in, int notify_fd,
		  struct fm_error *err)
{
	struct fm_prep *p = fm_xcalloc(1, sizeof(*p));
	sigset_t all, old;
	int rc;

	*pp = NULL;
	p->notify_fd = notify_fd;
	p->resources = copy(in->resources);
	p->dir = fm_xstrdup(in->dir);
	p->cache_dir = in->cache_dir ? fm_xstrdup(in->cache_dir) : NULL;
	if (in->m) {
		p->m = in->m;
		p->tool = fm_xstrdup(in->tool);
		p->parameters = copy(in->parameters);
		p->settings = copy(in->settings);
		p->owner = in->owner ? fm_xstrdup(in->owner) : NULL;
	}
	/* Signals are the loop's business: the thread starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&p->tid, NULL, prep_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		prep_release(p);
		return fm_error(err, FM_RESOURCE_PROCESSING_ERROR,
				"cannot start a thread to fetch the inputs: %s", strerror(rc));
	}
	*pp = p;
	return 0;
}

int fm_prep_done(struct fm_prep *p)
{
	return atomic_load(&p->done);
}

void fm_prep_stop(struct fm_prep *p)
{
	atomic_store(&p->stop, 1);
}

int fm_prep_result(struct fm_prep *p, json_object **resources, char **key, struct fm_error *err)
{
	*resources = NULL;
	*key = NULL;
	if (p->rc < 0) {
		fm_error_move(err, &p->err);
		return -1;
	}
	*resources = json_object_get(p->resources);
	*key = p->key;
	p->key = NULL;
	return 0;
}

void fm_prep_free(struct fm_prep *p)
{
	if (!p)
		return;
	pthread_join(p->tid, NULL);
	prep_release(p);
}
