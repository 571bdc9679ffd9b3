/*
 * LD_PRELOAD shim for the tests: what a spool on NFS looks like to the
 * programs that share it.
 *
 * flock(2) on an NFS client is emulated with POSIX byte-range locks
 * (flock(2), NOTES), which need the file open for writing: on a
 * descriptor open read-only (a directory, a file opened O_RDONLY) it
 * fails with EBADF. The shim makes every flock do the same here.
 *
 * With FM_SHIM_NO_INOTIFY set, inotify_init and inotify_init1 fail with
 * ENOSYS as well: inotify never reports what another machine writes, so
 * a worker must find that work without it.
 *
 * Built by the Makefile as tests/nfsshim.so (make tests/nfsshim.so).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/inotify.h>

int flock(int fd, int op)
{
	static int (*real)(int, int);
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH) == O_PATH) {
		errno = EBADF;
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "flock");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd, op);
}

static int no_inotify(void)
{
	const char *v = getenv("FM_SHIM_NO_INOTIFY");

	return v && *v;
}

int inotify_init1(int flags)
{
	static int (*real)(int);

	if (no_inotify()) {
		errno = ENOSYS;
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "inotify_init1");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(flags);
}

int inotify_init(void)
{
	return inotify_init1(0);
}
