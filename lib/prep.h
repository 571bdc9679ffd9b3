/*
 * A task's inputs made ready off the executor's loop: its resources made
 * into local files (downloads, decoded base64) and its cache key (the
 * hash of every input's content). Either can take minutes (a server that
 * trickles, a 4 GiB input); on the loop it would stall every other task,
 * every timeout and every signal. Each task's preparation runs on a
 * thread of its own, says it is done with a byte on a file descriptor the
 * loop polls, and can be told to stop at any time.
 */
#ifndef FM_PREP_H
#define FM_PREP_H

#include <json-c/json.h>

#include "error.h"
#include "manifest.h"

struct fm_prep;

/* What to prepare; everything is copied, nothing is kept. */
struct fm_prep_in {
	json_object *resources; /* the task's resources, made local in a copy */
	const char *dir;	/* where decoded and downloaded inputs go */
	const char *cache_dir;	/* downloads are kept here; NULL: nowhere */
	/* The cache key too, when m is set: of these, with the local inputs. */
	const struct fm_manifest *m;
	const char *tool;
	json_object *parameters, *settings; /* settings may be NULL */
	const char *owner;		    /* the task's FM_OWNER_KEY, or NULL */
};

/*
 * Starts preparing on a new thread, which writes one byte to notify_fd
 * when it is done (the descriptor must be non-blocking and stay open
 * until fm_prep_free). m must outlive the preparation.
 */
int fm_prep_start(struct fm_prep **p, const struct fm_prep_in *in, int notify_fd,
		  struct fm_error *err);
/* Whether the thread is done; once it is, fm_prep_result may be asked. */
int fm_prep_done(struct fm_prep *p);
/*
 * Asks the thread to stop: a download or a hash stops within about a
 * second and removes its temporary file. Its result no longer matters.
 */
void fm_prep_stop(struct fm_prep *p);
/*
 * The outcome once done: 0 with the local resources (a new reference)
 * and the cache key (NULL when there is none; the caller frees it), or
 * -1 with err saying which input could not be made ready.
 */
int fm_prep_result(struct fm_prep *p, json_object **resources, char **key, struct fm_error *err);
/* Waits for the thread to end (stop it first not to wait long) and frees. */
void fm_prep_free(struct fm_prep *p);

#endif
