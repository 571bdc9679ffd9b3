/*
 * Task folders made ahead, on a thread. For a plugin that answers at
 * once, mkdir(2) of the task's output folder was the largest single cost
 * of the executor's loop, paid while the plugin waited for its next
 * request. The executor asks for the folders of tasks that will run soon;
 * by the time one runs, its folder is usually there, made by us.
 *
 * A folder is asked for once and then either taken (the task runs: was it
 * made here?) or dropped (the task will not run: the folder goes again,
 * if it was made here and is still empty). Asking never fails: when the
 * queue is full, or the thread cannot start, the folder is simply not
 * made, and taking it says so.
 */
#ifndef FM_DIRAHEAD_H
#define FM_DIRAHEAD_H

/* Folders waiting for the thread at most; past that, the loop makes its own. */
#define FM_DIRAHEAD_MAX 1024
/*
 * Folders asked for before an idle thread is woken: it makes them in one
 * go. One the loop needs sooner it makes itself (fm_dirahead_take).
 */
#define FM_DIRAHEAD_BATCH 16

struct fm_dirahead;
struct fm_dirahead_item;

struct fm_dirahead *fm_dirahead_new(void);
/* Stops the thread; folders still queued are not made. */
void fm_dirahead_free(struct fm_dirahead *d);
/*
 * Queues mkdir(dir) (the last component only: its parent must exist).
 * Returns NULL when it was not queued.
 */
struct fm_dirahead_item *fm_dirahead_ask(struct fm_dirahead *d, const char *dir);
/*
 * 1 when the thread made the folder, a new directory of ours; 0 when it
 * did not (it failed, something had the name, or it was not done yet):
 * the caller makes it itself then, never waiting for the thread. Frees it.
 */
int fm_dirahead_take(struct fm_dirahead_item *it);
/* The task will not run: its folder goes if made here and empty. Frees it. */
void fm_dirahead_drop(struct fm_dirahead_item *it);

#endif
