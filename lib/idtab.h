/*
 * A table from ids to values: the one hash table of lib/ and the
 * commands (the tally's tasks, the executor's entries). A value holds its
 * own id, which the key function finds in it, so the table keeps no copy
 * of the ids: an entry costs a pointer in the order they came and a slot.
 * A zeroed table is not ready: fm_idtab_init names the key function.
 */
#ifndef FM_IDTAB_H
#define FM_IDTAB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct fm_idtab {
	const char *(*key)(const void *value); /* the id a value holds */
	size_t count;			       /* values in the table */
	/* Private. */
	struct fm_buf order; /* the values (void *) in the order put; NULL for one taken out */
	uint32_t *slot;	     /* an index + 1 into order, 0 for none; nslot is a power of two */
	size_t nslot, holes;
};

/* At most UINT32_MAX - 1 values, each with an id of its own that holds no NUL. */
void fm_idtab_init(struct fm_idtab *t, const char *(*key)(const void *value));
/* Frees the table; the values are the caller's. */
void fm_idtab_release(struct fm_idtab *t);
/* The value whose id is the n bytes at id (not NUL-terminated), or NULL. */
void *fm_idtab_get(const struct fm_idtab *t, const char *id, size_t n);
/*
 * Puts value under the id it holds. Returns the value that had its id,
 * which it replaces in its place in the order (the caller frees it), or
 * NULL when the id is new and the value goes last.
 */
void *fm_idtab_put(struct fm_idtab *t, void *value);
/* Takes the value of id out of the table; returns it, or NULL when none. */
void *fm_idtab_del(struct fm_idtab *t, const char *id, size_t n);
/*
 * The values in the order they were put: *i starts at 0; NULL after the
 * last. Replacing or taking out a value while walking is safe; putting a
 * new id may rebuild the table, and the walk skip or repeat values.
 */
void *fm_idtab_next(const struct fm_idtab *t, size_t *i);

#endif
