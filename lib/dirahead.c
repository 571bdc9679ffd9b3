/*
 * Task folders made ahead on one thread (dirahead.h). A folder asked for
 * is shared by the queue and the task: each holds a reference, and its
 * state says who got there first. The thread makes a folder only if it
 * moves it from ASKED to BUSY. The task never waits for the thread: one
 * it takes while still ASKED or BUSY is TAKEN, and the loop makes it (or
 * finds the thread's, mkdir(2) being atomic) itself; one it drops while
 * BUSY is DROPPED, and the thread removes what it just made.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirahead.h"
#include "util.h"

enum { ASKED, BUSY, MADE, NOT_MADE, TAKEN, DROPPED };

struct fm_dirahead_item {
	atomic_int state, refs;
	struct fm_dirahead_item *next;
	char dir[];
};

struct fm_dirahead {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct fm_dirahead_item *head, *tail;
	size_t n;
	int stop, started, broken;
	int idle; /* the thread waits for more */
	pthread_t thread;
};

static void unref(struct fm_dirahead_item *it)
{
	if (atomic_fetch_sub(&it->refs, 1) == 1)
		free(it);
}

static void *dirahead_main(void *arg)
{
	struct fm_dirahead *d = arg;

	for (;;) {
		struct fm_dirahead_item *it;
		int asked = ASKED;

		pthread_mutex_lock(&d->lock);
		while (!d->head && !d->stop) {
			d->idle = 1;
			pthread_cond_wait(&d->more, &d->lock);
			d->idle = 0;
		}
		if (d->stop) {
			pthread_mutex_unlock(&d->lock);
			return NULL;
		}
		it = d->head;
		d->head = it->next;
		if (!d->head)
			d->tail = NULL;
		d->n--;
		pthread_mutex_unlock(&d->lock);
		if (atomic_compare_exchange_strong(&it->state, &asked, BUSY)) {
			int made = mkdir(it->dir, 0777) == 0, busy = BUSY;

			if (!atomic_compare_exchange_strong(&it->state, &busy,
							    made ? MADE : NOT_MADE) &&
			    busy == DROPPED && made)
				rmdir(it->dir);
		}
		unref(it);
	}
}

struct fm_dirahead *fm_dirahead_new(void)
{
	struct fm_dirahead *d = fm_xcalloc(1, sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->more, NULL);
	return d;
}

/* The thread, on first use: a run whose plugins make their own folders never starts it. */
static int start(struct fm_dirahead *d)
{
	sigset_t all, old;

	if (d->started || d->broken)
		return d->started;
	/* Signals are the loop's: the thread never takes one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	d->started = pthread_create(&d->thread, NULL, dirahead_main, d) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	d->broken = !d->started;
	return d->started;
}

struct fm_dirahead_item *fm_dirahead_ask(struct fm_dirahead *d, const char *dir)
{
	struct fm_dirahead_item *it;
	size_t len = strlen(dir);
	int wake;

	if (!d || !start(d))
		return NULL;
	it = fm_xmalloc(sizeof(*it) + len + 1);
	memcpy(it->dir, dir, len + 1);
	atomic_init(&it->state, ASKED);
	atomic_init(&it->refs, 2);
	it->next = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->n >= FM_DIRAHEAD_MAX) {
		pthread_mutex_unlock(&d->lock);
		free(it);
		return NULL;
	}
	/*
	 * An idle thread is woken for a batch, not for each folder: a wake
	 * per task cost the two sides about what the thread saved the loop.
	 * A busy one finds the folder on its next look.
	 */
	wake = d->idle && d->n + 1 >= FM_DIRAHEAD_BATCH;
	if (d->tail)
		d->tail->next = it;
	else
		d->head = it;
	d->tail = it;
	d->n++;
	if (wake)
		pthread_cond_signal(&d->more);
	pthread_mutex_unlock(&d->lock);
	return it;
}

/*
 * Ends the thread's part: MADE or NOT_MADE when it is done, else the
 * state is now end (TAKEN or DROPPED), which the thread respects.
 */
static int settle(struct fm_dirahead_item *it, int end)
{
	int s = atomic_load(&it->state);

	while (s == ASKED || s == BUSY)
		if (atomic_compare_exchange_weak(&it->state, &s, end))
			return end;
	return s;
}

int fm_dirahead_take(struct fm_dirahead_item *it)
{
	int made;

	if (!it)
		return 0;
	made = settle(it, TAKEN) == MADE;
	unref(it);
	return made;
}

void fm_dirahead_drop(struct fm_dirahead_item *it)
{
	if (!it)
		return;
	if (settle(it, DROPPED) == MADE)
		rmdir(it->dir);
	unref(it);
}

void fm_dirahead_free(struct fm_dirahead *d)
{
	struct fm_dirahead_item *it, *next;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = 1;
	pthread_cond_signal(&d->more);
	pthread_mutex_unlock(&d->lock);
	if (d->started)
		pthread_join(d->thread, NULL);
	for (it = d->head; it; it = next) {
		next = it->next;
		unref(it);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->more);
	free(d);
}
