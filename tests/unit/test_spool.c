/*
 * The spool's pieces that shell tests reach only by luck: ages, log
 * scanning over torn and oversized logs, claim exclusivity inside one
 * process (flock is per open file, so two claims conflict here too),
 * the rename check, and finishing that survives a second claimer.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "ndjson.h"
#include "spool.h"
#include "tap.h"
#include "util.h"

static void ages(void)
{
	IS_INT((long)fm_spool_parse_age("90"), 90, "bare seconds");
	IS_INT((long)fm_spool_parse_age("90s"), 90, "seconds");
	IS_INT((long)fm_spool_parse_age("15m"), 900, "minutes");
	IS_INT((long)fm_spool_parse_age("12h"), 43200, "hours");
	IS_INT((long)fm_spool_parse_age("7d"), 604800, "days");
	IS_INT((long)fm_spool_parse_age("2w"), 1209600, "weeks");
	IS_INT((long)fm_spool_parse_age("0"), 0, "zero prunes everything finished");
	OK(fm_spool_parse_age("") < 0, "empty is no age");
	OK(fm_spool_parse_age("5x") < 0, "unknown unit");
	OK(fm_spool_parse_age("5ms") < 0, "trailing junk");
	OK(fm_spool_parse_age("-1h") < 0, "negative");
	OK(fm_spool_parse_age("nan") < 0, "not a number");
}

static int log_fd(const char *text)
{
	char path[] = "/tmp/fm-spool-log-XXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	if (fd >= 0 && write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void logscan(void)
{
	struct fm_spool_logscan ls;
	const char *torn = "{\"type\":\"claimed\",\"task_id\":\"a\",\"attempt\":1}\n"
			   "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":10}\n"
			   "{\"type\":\"progress\",\"task_id\":\"a\",\"percent\":60}\n"
			   "{\"type\":\"claimed\",\"task_id\":\"a\",\"attempt\":2}\n"
			   "{\"type\":\"compl";
	int fd = log_fd(torn);

	OK(fm_spool_logscan(fd, &ls, NULL) == 0, "a torn log scans");
	IS_INT(ls.claims, 2, "claims counted");
	IS_INT((long)ls.good, (long)(strrchr(torn, '\n') - torn + 1),
	       "good ends at the last newline");
	OK(ls.final == NULL, "half a final line is no final line");
	IS_INT((long)fm_json_get_double(ls.progress, "percent", -1), 60, "the last progress");
	IS_INT(json_object_get_int(json_object_object_get(ls.claimed, "attempt")), 2,
	       "the last claim");
	fm_spool_logscan_release(&ls);
	close(fd);

	fd = log_fd("{\"type\":\"failed\",\"task_id\":\"a\",\"status\":\"error\"}\nnot json\n"
		    "{\"type\":\"cancelled\",\"task_id\":\"a\"}\n{\"type\":\"completedX\"}\n");
	OK(fm_spool_logscan(fd, &ls, NULL) == 0, "junk lines are skipped");
	IS_STR(fm_json_get_string(ls.final, "type"), "cancelled", "the last final line wins");
	IS_INT(ls.claims, 0, "no claims");
	fm_spool_logscan_release(&ls);
	close(fd);

	fd = log_fd("");
	OK(fm_spool_logscan(fd, &ls, NULL) == 0 && ls.good == 0 && !ls.final, "an empty log");
	fm_spool_logscan_release(&ls);
	close(fd);
}

static json_object *task(const char *id)
{
	json_object *t = fm_event_new("task", id);

	json_object_object_add(t, "tool_name", json_object_new_string("noop"));
	return t;
}

static void claims(void)
{
	char *dir = tmp_dir(), *spdir = fm_xasprintf("%s/spool", dir), name[FM_SPOOL_NAME_MAX];
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	struct fm_spool_claim a, b;
	struct fm_spool_entry e = {0};
	struct fm_spool_claim *ap = &a;
	json_object *t = task("one"), *st;
	char **names;
	size_t n;

	OK(fm_spool_open(&sp, spdir, &err) == 0, "open creates the spool: %s", err.message);
	OK(fm_spool_put(&sp, t, name, &err) == 0, "put");
	OK(fm_spool_scan(&sp, &names, &n, NULL) == 0 && n == 0,
	   "a put is not queued before commit");
	fm_spool_names_free(names, n);
	OK(fm_spool_commit(&sp, &err) == 0, "commit");
	OK(fm_spool_scan(&sp, &names, &n, NULL) == 0 && n == 1 && !strcmp(names[0], name),
	   "committed: in queue/ under its name");
	IS_STR(FM_SPOOL_ID(name), "one", "the name ends in the id");
	IS_INT(fm_spool_claim(&sp, name, &a, &err), 1, "the first claim wins");
	IS_INT(fm_spool_claim(&sp, name, &b, &err), 0, "a second claim of a held task fails");
	OK(fm_spool_find(&sp, "one", &e, NULL) == 0 && e.state == FM_SPOOL_RUNNING,
	   "held: running");
	fm_spool_begin(&a);
	IS_INT(a.attempt, 1, "attempt 1");
	OK(fm_spool_log(&a, "{\"type\":\"completed\",\"task_id\":\"one\"}", 36, 1) == 0, "log");
	OK(fm_spool_flush(&sp, &ap, 1, &err) == 0, "flush");
	OK(fm_spool_finish(&sp, &a, FM_SPOOL_DONE, &err) == 0, "finish");
	IS_INT(fm_spool_claim(&sp, name, &b, &err), 0, "a finished task cannot be claimed");
	OK(fm_spool_find(&sp, "one", &e, NULL) == 0 && e.state == FM_SPOOL_DONE_STATE, "done");
	OK(fm_spool_status(&sp, "one", &st, &err) == 0, "status");
	HAS(fm_json_str(st), "\"state\":\"done\"", "status says done");
	HAS(fm_json_str(st), "\"attempts\":1", "status counts attempts");
	json_object_put(st);
	IS_INT(fm_spool_cancel(&sp, "one", &err), 2, "cancelling a done task: already finished");
	OK(fm_spool_find(&sp, "two", &e, &err) < 0 && err.code == FM_TASK_NOT_FOUND,
	   "an unknown id: TASK_NOT_FOUND");
	fm_spool_names_free(names, n);
	json_object_put(t);
	fm_spool_release(&sp);
	fm_error_release(&err);
	rm_rf(dir);
	free(spdir);
	free(dir);
}

/* Put-back lines, new and old, give a claim back; a plugin's look-alike does not. */
static void put_backs(void)
{
	struct fm_spool_logscan ls;
	int fd = log_fd(
	    "{\"type\":\"claimed\",\"task_id\":\"a\",\"attempt\":1}\n"
	    "{\"type\":\"log\",\"task_id\":\"a\",\"level\":\"warning\",\"message\":\"the "
	    "worker was interrupted: the task stays queued\",\"released\":true}\n"
	    "{\"type\":\"claimed\",\"task_id\":\"a\",\"attempt\":2}\n"
	    "{\"type\":\"log\",\"task_id\":\"a\",\"level\":\"warning\",\"message\":\"the "
	    "worker was interrupted: the task stays queued\"}\n"
	    "{\"type\":\"claimed\",\"task_id\":\"a\",\"attempt\":3}\n"
	    "{\"type\":\"log\",\"task_id\":\"a\",\"attempt\":3,\"level\":\"info\",\"message\":"
	    "\"the worker was interrupted: the task stays queued\"}\n"
	    "{\"type\":\"log\",\"task_id\":\"a\",\"data\":{\"released\":true}}\n"
	    "{\"type\":\"claimed\",\"task_id\":\"a\",\"attempt\":4}\n");

	OK(fm_spool_logscan(fd, &ls, NULL) == 0, "a log with put-backs scans");
	IS_INT(ls.claims, 4, "four claims");
	IS_INT(ls.released, 2, "two given back: ours, and an older worker's without the flag");
	fm_spool_logscan_release(&ls);
	close(fd);
}

static int warnings;

static void count_warning(void *ctx, const char *message)
{
	(void)ctx;
	(void)message;
	warnings++;
}

/* Symlinks and special files in the spool are skipped, said once, never followed. */
static void wrong_types(void)
{
	char *dir = tmp_dir(), *p, name[FM_SPOOL_NAME_MAX];
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	struct fm_spool_claim c;
	json_object *t = task("two");
	char **names;
	size_t n;
	int fd;

	OK(fm_spool_open(&sp, dir, &err) == 0, "open");
	sp.warn = count_warning;
	p = fm_spool_path(&sp, FM_SPOOL_QUEUE, "0000000000000001.fifo");
	OK(mkfifo(p, 0600) == 0, "a FIFO in queue/");
	free(p);
	p = fm_spool_path(&sp, FM_SPOOL_QUEUE, "0000000000000002.link");
	OK(symlink("/etc/passwd", p) == 0, "a symlink in queue/");
	free(p);
	p = fm_spool_path(&sp, FM_SPOOL_QUEUE, "0000000000000003.dir");
	OK(mkdir(p, 0700) == 0, "a directory in queue/");
	free(p);
	OK(fm_spool_scan(&sp, &names, &n, &err) == 0 && n == 0, "a scan skips all three");
	fm_spool_names_free(names, n);
	IS_INT(warnings, 3, "and says so, once each");
	OK(fm_spool_scan(&sp, &names, &n, &err) == 0 && n == 0, "a second scan too");
	fm_spool_names_free(names, n);
	IS_INT(warnings, 3, "without saying it again");
	fd = fm_spool_openat(&sp, FM_SPOOL_QUEUE, "0000000000000001.fifo", O_RDONLY, 0);
	IS_INT(fd, FM_SPOOL_NOT_FILE, "a FIFO is not opened (and does not block)");
	fd = fm_spool_openat(&sp, FM_SPOOL_QUEUE, "0000000000000002.link", O_RDONLY, 0);
	IS_INT(fd, FM_SPOOL_NOT_FILE, "a symlink is not followed");
	IS_INT(fm_spool_claim(&sp, "0000000000000002.link", &c, &err), 0, "nor claimed");

	/* A task whose log is a symlink waits, unclaimed. */
	OK(fm_spool_put(&sp, t, name, &err) == 0 && fm_spool_commit(&sp, &err) == 0, "queued");
	p = fm_spool_path(&sp, FM_SPOOL_LOG, name);
	OK(symlink("/tmp/fm-spool-nowhere", p) == 0, "its log a dangling symlink");
	free(p);
	IS_INT(fm_spool_claim(&sp, name, &c, &err), 0, "not claimed");
	OK(access("/tmp/fm-spool-nowhere", F_OK) < 0, "nothing created through it");
	OK(fm_spool_put(&sp, t, name, &err) < 0 && err.code == FM_VALIDATION_ERROR,
	   "the same id again: refused");
	HAS(err.message, "the spool has a task of that id already (queued)", "saying why");
	json_object_put(t);
	fm_spool_release(&sp);
	fm_error_release(&err);
	rm_rf(dir);
	free(dir);
}

/*
 * Regular files refused all the same: a hard link (a write or a repair
 * through it changes its other name) and a log bigger than any worker
 * writes; and a task line over the limit, which is claimed to be failed.
 */
static void misfits(void)
{
	char *dir = tmp_dir(), *p, *outside, name[FM_SPOOL_NAME_MAX], big[FM_SPOOL_NAME_MAX];
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	struct fm_spool_claim c;
	json_object *t = task("linked"), *u = task("big");
	struct stat st;
	int fd;

	OK(fm_spool_open(&sp, dir, &err) == 0, "open");
	warnings = 0;
	sp.warn = count_warning;
	OK(fm_spool_put(&sp, t, name, &err) == 0 && fm_spool_put(&sp, u, big, &err) == 0 &&
	       fm_spool_commit(&sp, &err) == 0,
	   "queued");
	outside = fm_xasprintf("%s/outside", dir);
	fd = open(outside, O_WRONLY | O_CREAT | O_EXCL, 0600);
	OK(fd >= 0 && write(fd, "torn", 4) == 4 && close(fd) == 0, "a file outside");
	p = fm_spool_path(&sp, FM_SPOOL_LOG, name);
	OK(link(outside, p) == 0, "hard-linked as a log");
	free(p);
	fd = fm_spool_openat(&sp, FM_SPOOL_LOG, name, O_RDONLY, 0);
	IS_INT(fd, FM_SPOOL_NOT_FILE, "a hard link is not opened");
	HAS(sp.refused, "a hard link (2 names)", "saying why");
	IS_INT(fm_spool_claim(&sp, name, &c, &err), 0, "its task is not claimed");
	OK(stat(outside, &st) == 0 && st.st_size == 4, "the file outside keeps its torn line");
	IS_INT(warnings, 1, "said once");

	p = fm_spool_path(&sp, FM_SPOOL_LOG, big);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	OK(fd >= 0 && ftruncate(fd, FM_SPOOL_LOG_READ_MAX) == 0, "a log at the bound");
	if (fd >= 0)
		close(fd);
	fd = fm_spool_openat(&sp, FM_SPOOL_LOG, big, O_RDONLY, 0);
	OK(fd >= 0, "is opened");
	if (fd >= 0)
		close(fd);
	OK(truncate(p, FM_SPOOL_LOG_READ_MAX + 1) == 0, "one byte more");
	free(p);
	fd = fm_spool_openat(&sp, FM_SPOOL_LOG, big, O_RDONLY, 0);
	IS_INT(fd, FM_SPOOL_NOT_FILE, "is not");
	HAS(sp.refused, "more than a task log holds", "saying why");
	IS_INT(fm_spool_claim(&sp, big, &c, &err), 0, "its task is not claimed");

	/* A task file over the line limit is claimed, to be failed by name. */
	p = fm_spool_path(&sp, FM_SPOOL_QUEUE, name);
	OK(truncate(p, FM_LINE_MAX + 1) == 0, "a task line over the limit");
	free(p);
	p = fm_spool_path(&sp, FM_SPOOL_LOG, name);
	unlink(p);
	free(p);
	IS_INT(fm_spool_claim(&sp, name, &c, &err), 1, "is claimed");
	OK(c.refused && !c.line, "as no task line");
	HAS(c.refused, "larger than the limit of 4194304 bytes", "saying the limit");
	HAS(c.refused, "/queue/", "and the file");
	fm_spool_unclaim(&c);
	json_object_put(t);
	json_object_put(u);
	fm_spool_release(&sp);
	fm_error_release(&err);
	free(outside);
	rm_rf(dir);
	free(dir);
}

/* An uncommitted put leaves nothing behind once the spool is released. */
static void abandoned_put(void)
{
	char *dir = tmp_dir(), name[FM_SPOOL_NAME_MAX];
	struct fm_spool sp;
	json_object *t = task("lost");
	char *tmp;
	DIR *d;
	int entries = 0;

	fm_spool_open(&sp, dir, NULL);
	fm_spool_put(&sp, t, name, NULL);
	tmp = fm_spool_path(&sp, FM_SPOOL_TMP, NULL);
	fm_spool_release(&sp);
	d = opendir(tmp);
	while (d && readdir(d))
		entries++;
	if (d)
		closedir(d);
	IS_INT(entries, 2, "tmp/ holds only . and ..");
	json_object_put(t);
	free(tmp);
	rm_rf(dir);
	free(dir);
}

/* One holder's puts for several callers: one caller's taken back, the others' committed. */
static void unput(void)
{
	char *dir = tmp_dir(), name[FM_SPOOL_NAME_MAX];
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	json_object *a = task("kept"), *b = task("dropped");
	char **names;
	size_t n;

	OK(fm_spool_open(&sp, dir, &err) == 0, "open");
	OK(fm_spool_put(&sp, a, name, &err) == 0 && fm_spool_put(&sp, b, name, &err) == 0,
	   "two puts");
	fm_spool_unput(&sp, 1);
	IS_INT(sp.npending, 1, "the second taken back");
	OK(fm_spool_put(&sp, b, name, &err) == 0, "its id is free again: %s", err.message);
	fm_spool_unput(&sp, 1);
	OK(fm_spool_commit(&sp, &err) == 0, "commit");
	OK(fm_spool_scan(&sp, &names, &n, NULL) == 0 && n == 1 &&
	       !strcmp(FM_SPOOL_ID(names[0]), "kept"),
	   "only the kept one is queued");
	fm_spool_names_free(names, n);
	fm_spool_release(&sp);
	json_object_put(a);
	json_object_put(b);
	rm_rf(dir);
	free(dir);
}

/* A holder keeps its ids across commits, and reads them again once another has queued. */
static void generations(void)
{
	char *dir = tmp_dir(), name[FM_SPOOL_NAME_MAX];
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool a, b;
	json_object *one = task("one"), *two = task("two");

	OK(fm_spool_open(&a, dir, &err) == 0 && fm_spool_open(&b, dir, &err) == 0, "two holders");
	/* A fresh spool has no generation yet: puts not committed must still count. */
	OK(fm_spool_put(&a, one, name, &err) == 0, "a puts one");
	OK(fm_spool_put(&a, one, name, &err) < 0 && err.code == FM_VALIDATION_ERROR,
	   "one again before the commit: refused, generation 0 or not");
	fm_error_release(&err);
	fm_spool_unput(&a, 0);
	OK(fm_spool_put(&a, one, name, &err) == 0 && fm_spool_commit(&a, &err) == 0,
	   "a queues one");
	fm_spool_unlock(&a);
	OK(a.ids != NULL, "a keeps its ids after the commit");
	OK(fm_spool_put(&b, two, name, &err) == 0 && fm_spool_commit(&b, &err) == 0,
	   "b queues two");
	fm_spool_unlock(&b);
	OK(fm_spool_put(&a, two, name, &err) < 0 && err.code == FM_VALIDATION_ERROR,
	   "a sees b's two: the generation moved, its ids are read again");
	fm_error_release(&err);
	OK(fm_spool_put(&a, one, name, &err) < 0, "and its own one still");
	fm_error_release(&err);
	fm_spool_unlock(&a);
	fm_spool_release(&a);
	fm_spool_release(&b);
	json_object_put(one);
	json_object_put(two);
	rm_rf(dir);
	free(dir);
}

void test_spool(void)
{
	ages();
	logscan();
	put_backs();
	claims();
	wrong_types();
	misfits();
	abandoned_put();
	unput();
	generations();
}
