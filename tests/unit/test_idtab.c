/*
 * The id table: lookups by a length (the tally's ids sit inside a line),
 * replacing in place, taking out with linear probing's clusters mended,
 * the order values came in, and the holes squeezed out as it grows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idtab.h"
#include "tap.h"
#include "util.h"

struct val {
	int n;
	char id[32];
};

static const char *val_key(const void *v)
{
	return ((const struct val *)v)->id;
}

static struct val *val_new(const char *id, int n)
{
	struct val *v = fm_xcalloc(1, sizeof(*v));

	snprintf(v->id, sizeof(v->id), "%s", id);
	v->n = n;
	return v;
}

/* Whether walking the table gives the values with n from..to-1 in order, step apart. */
static int walks(const struct fm_idtab *t, int from, int to, int step)
{
	const struct val *v;
	size_t i = 0;
	int want = from;

	while ((v = fm_idtab_next(t, &i))) {
		if (v->n != want)
			return 0;
		want += step;
	}
	return want >= to;
}

static void basics(void)
{
	struct fm_idtab t;
	struct val *a = val_new("scene1", 1), *b = val_new("scene2", 2), *a2 = val_new("scene1", 3);
	size_t i = 0;

	fm_idtab_init(&t, val_key);
	OK(fm_idtab_get(&t, "x", 1) == NULL, "an empty table finds nothing");
	OK(fm_idtab_del(&t, "x", 1) == NULL, "nor takes anything out");
	OK(fm_idtab_next(&t, &i) == NULL, "nor walks anything");
	OK(fm_idtab_put(&t, a) == NULL && fm_idtab_put(&t, b) == NULL, "new ids go in");
	IS_INT(t.count, 2, "two values");
	OK(fm_idtab_get(&t, "scene1", 6) == a, "found by id");
	OK(fm_idtab_get(&t, "scene2-image", 6) == b, "found by the first n bytes of a longer text");
	OK(fm_idtab_get(&t, "scene", 5) == NULL, "a prefix of an id is not the id");
	OK(fm_idtab_get(&t, "scene1\0x", 8) == NULL, "a NUL inside the n bytes matches nothing");
	OK(fm_idtab_put(&t, a2) == a, "an id put again hands back the old value");
	IS_INT(t.count, 2, "still two values");
	OK(fm_idtab_get(&t, "scene1", 6) == a2, "the new value is found");
	i = 0;
	OK(fm_idtab_next(&t, &i) == a2 && fm_idtab_next(&t, &i) == b,
	   "a replaced value keeps its place in the order");
	OK(fm_idtab_del(&t, "scene1", 6) == a2, "taken out");
	OK(fm_idtab_get(&t, "scene1", 6) == NULL && t.count == 1, "and gone");
	i = 0;
	OK(fm_idtab_next(&t, &i) == b && fm_idtab_next(&t, &i) == NULL, "the walk skips the hole");
	fm_idtab_release(&t);
	free(a);
	free(b);
	free(a2);
}

static void many(void)
{
	enum { N = 20000 };
	struct val **v = fm_xcalloc(N, sizeof(*v));
	struct fm_idtab t;
	char id[32];
	int i, found = 0, gone = 0;

	fm_idtab_init(&t, val_key);
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "task-%d", i);
		v[i] = val_new(id, i);
		fm_idtab_put(&t, v[i]);
	}
	IS_INT(t.count, N, "%d values", N);
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "task-%d", i);
		found += fm_idtab_get(&t, id, strlen(id)) == v[i];
	}
	IS_INT(found, N, "each found through the rebuilds");
	OK(walks(&t, 0, N, 1), "walked in the order put");
	/* Every odd one out: clusters must stay whole for the even ones. */
	for (i = 1; i < N; i += 2) {
		snprintf(id, sizeof(id), "task-%d", i);
		gone += fm_idtab_del(&t, id, strlen(id)) == v[i];
	}
	IS_INT(gone, N / 2, "half taken out");
	for (found = 0, i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "task-%d", i);
		found += fm_idtab_get(&t, id, strlen(id)) == (i % 2 ? NULL : v[i]);
	}
	IS_INT(found, N, "the rest still found, the others not");
	OK(walks(&t, 0, N, 2), "the walk gives the rest in order");
	/* Put back: new values go last; holes are squeezed out on the way. */
	for (i = 1; i < N; i += 2)
		fm_idtab_put(&t, v[i]);
	IS_INT(t.count, N, "all back");
	OK(t.order.len / sizeof(void *) <= (size_t)N + t.nslot / 2,
	   "the order holds no more holes than half the slots");
	for (found = 0, i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "task-%d", i);
		found += fm_idtab_get(&t, id, strlen(id)) == v[i];
	}
	IS_INT(found, N, "every one found again");
	for (i = N - 1; i >= 0; i--) {
		snprintf(id, sizeof(id), "task-%d", i);
		fm_idtab_del(&t, id, strlen(id));
	}
	IS_INT(t.count, 0, "empty again");
	IS_INT(t.order.len, 0, "holes at the end are no holes");
	fm_idtab_release(&t);
	for (i = 0; i < N; i++)
		free(v[i]);
	free(v);
}

void test_idtab(void)
{
	basics();
	many();
}
