/*
 * What the executor's fast path leans on (issue 21): folders made ahead
 * on a thread, taken or dropped whatever the thread got to; the json-c
 * tokener each thread keeps, which must forget a failed line; and the
 * timestamp whose date is made once a second.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirahead.h"
#include "tap.h"
#include "util.h"

static int is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Freeing the queue joins the thread, so what it did is settled; whether
 * it got to a folder or not, taking says truly whether it made it.
 */
static void test_dirahead_take(void)
{
	char *dir = tmp_dir(), *a = fm_xasprintf("%s/a", dir), *b = fm_xasprintf("%s/b", dir);
	char *lost = fm_xasprintf("%s/no/such", dir);
	struct fm_dirahead *d = fm_dirahead_new();
	struct fm_dirahead_item *ia = fm_dirahead_ask(d, a), *ib, *il;

	mkdir(b, 0777);
	ib = fm_dirahead_ask(d, b);
	il = fm_dirahead_ask(d, lost);
	OK(ia && ib && il, "dirahead: folders are queued");
	fm_dirahead_free(d);
	IS_INT(fm_dirahead_take(ia), is_dir(a),
	       "dirahead: taken, made here exactly when it is there");
	IS_INT(fm_dirahead_take(ib), 0, "dirahead: a folder that was there is not ours");
	IS_INT(fm_dirahead_take(il), 0, "dirahead: a folder whose parent is missing is not made");
	OK(!is_dir(lost), "dirahead: and is not there");
	IS_INT(fm_dirahead_take(NULL), 0, "dirahead: nothing asked, nothing made");
	rm_rf(dir);
	free(a);
	free(b);
	free(lost);
	free(dir);
}

/* A dropped folder goes if it was made here, and stays if it was not ours. */
static void test_dirahead_drop(void)
{
	char *dir = tmp_dir(), *a = fm_xasprintf("%s/a", dir), *b = fm_xasprintf("%s/b", dir);
	struct fm_dirahead *d = fm_dirahead_new();
	struct fm_dirahead_item *ia, *ib;
	int i;

	mkdir(b, 0777);
	ia = fm_dirahead_ask(d, a);
	ib = fm_dirahead_ask(d, b);
	/* Dropped while the thread may be on it: it removes what it made. */
	fm_dirahead_drop(ia);
	fm_dirahead_drop(ib);
	fm_dirahead_free(d);
	OK(!is_dir(a), "dirahead: a dropped folder is not left behind");
	OK(is_dir(b), "dirahead: one that was there before stays");
	/* Many at once, taken in turn while the thread works: each is there. */
	d = fm_dirahead_new();
	for (i = 0; i < 200; i++) {
		char *p = fm_xasprintf("%s/m%d", dir, i);
		struct fm_dirahead_item *it = fm_dirahead_ask(d, p);

		if (!fm_dirahead_take(it))
			mkdir(p, 0777);
		if (!is_dir(p))
			break;
		free(p);
	}
	IS_INT(i, 200, "dirahead: taken or made by the caller, every folder is there");
	fm_dirahead_free(d);
	rm_rf(dir);
	free(a);
	free(b);
	free(dir);
}

static void *parse_on_thread(void *arg)
{
	json_object *o = NULL;
	int rc = fm_json_parse("{\"t\":2}", 7, &o, NULL);

	*(int *)arg = rc == 0 && json_object_get_int(json_object_object_get(o, "t")) == 2;
	json_object_put(o);
	return NULL;
}

/* The tokener is kept per thread: a line that failed leaves nothing in it. */
static void test_json_kept_tokener(void)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *o = NULL;
	pthread_t t;
	int ok = 0;

	OK(fm_json_parse("{\"a\":", 5, &o, &err) < 0, "tokener: a cut line fails");
	fm_error_release(&err);
	OK(fm_json_parse("[1,", 3, &o, NULL) < 0, "tokener: so does another");
	OK(fm_json_parse("{\"b\":1}", 7, &o, NULL) == 0 &&
	       json_object_get_int(json_object_object_get(o, "b")) == 1,
	   "tokener: the next line parses whole, nothing of the last left");
	json_object_put(o);
	OK(fm_json_parse("7", 1, &o, NULL) == 0 && json_object_get_int(o) == 7,
	   "tokener: a bare number at the end still completes");
	json_object_put(o);
	OK(pthread_create(&t, NULL, parse_on_thread, &ok) == 0 && pthread_join(t, NULL) == 0 && ok,
	   "tokener: another thread parses with its own");
	/* Refused halfway through a surrogate pair, and whole but with half a pair. */
	{
		static const char *const bad[] = {"{\"m\":\"\\ud83c\\udfaX\"}",
						  "{\"m\":\"\\ud83c\"}"};
		static const char good[] = "{\"m\":\"\\ud83c\\udfac scene\"}";
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
			OK(fm_json_parse(bad[i], strlen(bad[i]), &o, NULL) < 0,
			   "tokener: half a pair refused (%zu)", i);
			OK(fm_json_parse(good, strlen(good), &o, NULL) == 0 &&
			       !strcmp(json_object_get_string(json_object_object_get(o, "m")),
				       "\xf0\x9f\x8e\xac scene"),
			   "tokener: the next line's pair decodes alone, no U+FFFD before it (%zu)",
			   i);
			json_object_put(o);
		}
	}
}

static void test_timestamp_cached(void)
{
	char a[32], b[32], c[32];

	fm_timestamp_at(1796400000.0, a);
	fm_timestamp_at(1796400000.1234, b);
	fm_timestamp_at(1796400001.999, c);
	IS_STR(a, "2026-12-04T16:00:00.000Z", "timestamp: whole second");
	IS_STR(b, "2026-12-04T16:00:00.123Z", "timestamp: same second, its milliseconds");
	IS_STR(c, "2026-12-04T16:00:01.999Z", "timestamp: the next second, made again");
	fm_timestamp_at(0.5, a);
	IS_STR(a, "1970-01-01T00:00:00.500Z", "timestamp: an earlier second after a later one");
}

void test_dispatch(void)
{
	test_dirahead_take();
	test_dirahead_drop();
	test_json_kept_tokener();
	test_timestamp_cached();
}
