/*
 * Fuzz target: a task's log in the spool (lib/spool.c), which a worker
 * reads back when it takes a task again after a crash: any bytes must
 * scan to counts and lines, never a crash, a leak or a hang. The bytes
 * are also the log of a queued task that is then claimed, so the repair
 * of a torn log is exercised: after it, the log ends at a newline and
 * the claim's own lines follow whole, and the deaths counted (claims not
 * put back) stay within the claims. The first line is also an age for
 * --prune, and the bytes are also a task file planted in queue/.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "model.h"
#include "ndjson.h"
#include "spool.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fm_spool sp;
static int opened;

static void scan_bytes(const uint8_t *data, size_t size)
{
	struct fm_spool_logscan ls;
	int fd = memfd_create("log", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	if (fm_spool_logscan(fd, &ls, NULL) == 0) {
		if (ls.good > (off_t)size || ls.claims < 0 || ls.released < 0 ||
		    (ls.good && data[ls.good - 1] != '\n'))
			abort();
		fm_spool_logscan_release(&ls);
	}
	close(fd);
}

/* The bytes as the log of a queued task, which a worker then claims. */
static void claim_bytes(const uint8_t *data, size_t size)
{
	/* A new id each time: the handle keeps the ids it has seen, and the entry goes by hand. */
	static unsigned long n;
	char name[FM_SPOOL_NAME_MAX], id[32];
	struct fm_spool_claim c;
	json_object *t;
	struct stat st;
	int fd;

	snprintf(id, sizeof(id), "fuzz-%lu", n++);
	t = fm_event_new("task", id);

	if (fm_spool_put(&sp, t, name, NULL) < 0 || fm_spool_commit(&sp, NULL) < 0)
		abort();
	json_object_put(t);
	fd = openat(sp.fd[FM_SPOOL_LOG], name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (fm_spool_claim(&sp, name, &c, NULL) == 1) {
		/* Deaths are claims not given back: never more than the claims before. */
		if (c.deaths < 0 || c.deaths >= c.attempt)
			abort();
		if (!c.final)
			fm_spool_begin(&c);
		if (fstat(c.log, &st) < 0 || st.st_size != c.logged)
			abort();
		fm_spool_unclaim(&c);
	}
	unlinkat(sp.fd[FM_SPOOL_QUEUE], name, 0);
	unlinkat(sp.fd[FM_SPOOL_LOG], name, 0);
}

/*
 * The bytes as a task file in queue/, which a worker claims: it holds a
 * line to parse or says why it is none, and the claim lets go cleanly.
 */
static void task_bytes(const uint8_t *data, size_t size)
{
	static const char name[] = "0000000000000001.planted";
	struct fm_spool_claim c;
	json_object *task = NULL;
	int fd =
	    openat(sp.fd[FM_SPOOL_QUEUE], name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (fm_spool_claim(&sp, name, &c, NULL) == 1) {
		if (!c.line == !c.refused || (c.line && c.len != size))
			abort();
		if (c.line && fm_json_parse(c.line, c.len, &task, NULL) == 0)
			json_object_put(task);
		fm_spool_unclaim(&c);
	}
	unlinkat(sp.fd[FM_SPOOL_QUEUE], name, 0);
	unlinkat(sp.fd[FM_SPOOL_LOG], name, 0);
}

/* The scratch spool goes when the run ends. */
static void cleanup(void)
{
	char *dir = fm_xstrdup(sp.dir);

	fm_spool_release(&sp);
	fm_tree_remove(dir);
	free(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *first = fm_xstrndup((const char *)data, size);

	first[strcspn(first, "\n")] = '\0';
	fm_spool_parse_age(first);
	free(first);
	scan_bytes(data, size);
	if (!opened) {
		char dir[] = "/tmp/fuzz-spool-XXXXXX";

		if (!mkdtemp(dir) || fm_spool_open(&sp, dir, NULL) < 0)
			abort();
		opened = 1;
		atexit(cleanup);
	}
	claim_bytes(data, size);
	task_bytes(data, size);
	return 0;
}
