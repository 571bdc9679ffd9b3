/*
 * The id table (idtab.h): open addressing with linear probing over
 * FNV-1a, at most half full, so a lookup in the hot path of a stream (a
 * million progress lines) costs a hash and one or two compares. The
 * slots hold indexes into the values in the order they came, which is
 * the order a tally reports tasks in; a value taken out leaves a hole
 * there, squeezed out when the slots are next rebuilt.
 */
#include <stdlib.h>
#include <string.h>

#include "idtab.h"
#include "util.h"

/* Slots of a table's first allocation: a few hundred tasks need no rebuild. */
#define NSLOT_MIN 1024

static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void **values(const struct fm_idtab *t)
{
	return (void **)(void *)t->order.s;
}

static size_t norder(const struct fm_idtab *t)
{
	return t->order.len / sizeof(void *);
}

/* Keeps the first n values; the buffer stays NUL-terminated, as buf.h has it. */
static void cut(struct fm_idtab *t, size_t n)
{
	t->order.len = n * sizeof(void *);
	if (t->order.s)
		t->order.s[t->order.len] = '\0';
}

/* Whether the id a value holds is the n bytes at id. */
static int same(const char *key, const char *id, size_t n)
{
	return strnlen(key, n + 1) == n && !memcmp(key, id, n);
}

/* The slot of id: the one that holds it, or the empty one where it goes. */
static uint32_t *find(const struct fm_idtab *t, const char *id, size_t n)
{
	size_t mask = t->nslot - 1, j;
	void **v = values(t);

	for (j = hash(id, n) & mask; t->slot[j]; j = (j + 1) & mask)
		if (same(t->key(v[t->slot[j] - 1]), id, n))
			break;
	return &t->slot[j];
}

/* Puts index + 1 in the first empty slot from its id's place on. */
static void place(struct fm_idtab *t, uint32_t at)
{
	const char *id = t->key(values(t)[at - 1]);
	size_t mask = t->nslot - 1, j;

	for (j = hash(id, strlen(id)) & mask; t->slot[j]; j = (j + 1) & mask)
		;
	t->slot[j] = at;
}

/* New slots, nslot of them, for the values left once the holes are gone. */
static void rebuild(struct fm_idtab *t, size_t nslot)
{
	void **v = values(t);
	size_t i, k = 0, n = norder(t);

	for (i = 0; i < n; i++)
		if (v[i])
			v[k++] = v[i];
	cut(t, k);
	t->holes = 0;
	free(t->slot);
	t->nslot = nslot;
	t->slot = fm_xcalloc(nslot, sizeof(*t->slot));
	for (i = 0; i < k; i++)
		place(t, (uint32_t)(i + 1));
}

void fm_idtab_init(struct fm_idtab *t, const char *(*key)(const void *value))
{
	memset(t, 0, sizeof(*t));
	t->key = key;
}

void fm_idtab_release(struct fm_idtab *t)
{
	fm_buf_release(&t->order);
	free(t->slot);
	t->slot = NULL;
	t->nslot = t->count = t->holes = 0;
}

void *fm_idtab_get(const struct fm_idtab *t, const char *id, size_t n)
{
	uint32_t *s;

	if (!t->count)
		return NULL;
	s = find(t, id, n);
	return *s ? values(t)[*s - 1] : NULL;
}

void *fm_idtab_put(struct fm_idtab *t, void *value)
{
	const char *id = t->key(value);
	size_t n = strlen(id);
	uint32_t *s = t->nslot ? find(t, id, n) : NULL;
	void *old;

	if (s && *s) {
		old = values(t)[*s - 1];
		values(t)[*s - 1] = value;
		return old;
	}
	/* Half full at most; holes never outnumber half the slots either. */
	if (2 * (t->count + 1) > t->nslot || t->holes > t->nslot / 2) {
		rebuild(t, 2 * (t->count + 1) > t->nslot ? (t->nslot ? 2 * t->nslot : NSLOT_MIN)
							 : t->nslot);
		s = find(t, id, n);
	}
	fm_buf_add(&t->order, &value, sizeof(value));
	*s = (uint32_t)norder(t);
	t->count++;
	return NULL;
}

/* Linear probing: the rest of the cluster moves up over the hole. */
void *fm_idtab_del(struct fm_idtab *t, const char *id, size_t n)
{
	uint32_t *s = t->count ? find(t, id, n) : NULL;
	size_t mask = t->nslot - 1, j;
	void **v = values(t), *value;

	if (!s || !*s)
		return NULL;
	value = v[*s - 1];
	v[*s - 1] = NULL;
	t->holes++;
	t->count--;
	*s = 0;
	for (j = ((size_t)(s - t->slot) + 1) & mask; t->slot[j]; j = (j + 1) & mask) {
		uint32_t at = t->slot[j];

		t->slot[j] = 0;
		place(t, at);
	}
	/* Holes at the end are no holes: the next value goes there. */
	while (norder(t) && !v[norder(t) - 1]) {
		cut(t, norder(t) - 1);
		t->holes--;
	}
	return value;
}

void *fm_idtab_next(const struct fm_idtab *t, size_t *i)
{
	void **v = values(t);
	size_t n = norder(t);

	while (*i < n) {
		void *value = v[(*i)++];

		if (value)
			return value;
	}
	return NULL;
}
