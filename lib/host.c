/*
 * One plugin process: spawned with the manifest's command in the plugin's
 * directory, with only the host variables the manifest names (plus a few
 * harmless ones), in its own process group. Writes to it are buffered and
 * non-blocking, so a plugin that stops reading never stalls the executor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin.h"
#include "fs.h"
#include "host.h"
#include "python.h"
#include "redact.h"
#include "resource.h"
#include "rpc.h"
#include "util.h"

/* Names, in a built-in child's environment, the descriptor of its scratch note. */
#define SCRATCH_ENV "FILMETO_BUILTIN_SCRATCH_FD"

/* Host variables every plugin gets besides those its manifest names. */
/*
 * What every plugin gets of our environment, besides its manifest's env:
 * and the devices a scheduler gave the job (Slurm's --gres sets them).
 */
static const char *const base_env[] = {"PATH",
				       "HOME",
				       "LANG",
				       "LC_ALL",
				       "LC_CTYPE",
				       "TZ",
				       "TMPDIR",
				       "PYTHONPATH",
				       "CUDA_VISIBLE_DEVICES",
				       "ROCR_VISIBLE_DEVICES",
				       "HIP_VISIBLE_DEVICES",
				       "GPU_DEVICE_ORDINAL",
				       NULL};

void fm_host_init(struct fm_host *h, const struct fm_manifest *m)
{
	memset(h, 0, sizeof(*h));
	h->manifest = m;
	h->next_id = 1;
	h->scratch = -1;
	fm_proc_init(&h->proc);
}

static void env_add(char ***env, size_t *n, const char *name, const char *value)
{
	*env = fm_xrealloc(*env, (*n + 2) * sizeof(char *));
	(*env)[(*n)++] = fm_xasprintf("%s=%s", name, value);
	(*env)[*n] = NULL;
}

/* DIR/.venv/bin when `filmeto-plugin install` made one, else NULL. */
static char *venv_bin(const struct fm_manifest *m)
{
	char *bin = fm_xasprintf("%s/.venv/bin", m->dir), *py = fm_xasprintf("%s/python3", bin);

	if (access(py, X_OK) != 0) {
		free(bin);
		bin = NULL;
	}
	free(py);
	return bin;
}

/*
 * DIR/.filmeto-pythonpath when install put the upstream package files
 * the plugin imports there (plugin_install.c), else NULL.
 */
static char *own_pythonpath(const struct fm_manifest *m)
{
	char *dir = fm_xasprintf("%s/" FM_PYTHONPATH_DIR, m->dir);
	struct stat st;

	if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return dir;
	free(dir);
	return NULL;
}

static char **plugin_env(const struct fm_manifest *m)
{
	char **env = NULL, *venv = venv_bin(m), *path, *own;
	size_t i, n = 0;

	env_add(&env, &n, "FILMETO_PLUGIN_DIR", m->dir);
	/* Python plugins must not sit on buffered protocol lines. */
	env_add(&env, &n, "PYTHONUNBUFFERED", "1");
	for (i = 0; base_env[i]; i++) {
		if (venv && !strcmp(base_env[i], "PATH")) {
			path = getenv("PATH") ? fm_xasprintf("%s:%s", venv, getenv("PATH"))
					      : fm_xstrdup(venv);
			env_add(&env, &n, "PATH", path);
			free(path);
		} else if (!strcmp(base_env[i], "PYTHONPATH") && (own = own_pythonpath(m))) {
			path = getenv("PYTHONPATH") && *getenv("PYTHONPATH")
				   ? fm_xasprintf("%s:%s", own, getenv("PYTHONPATH"))
				   : fm_xstrdup(own);
			env_add(&env, &n, "PYTHONPATH", path);
			free(path);
			free(own);
		} else if (getenv(base_env[i])) {
			env_add(&env, &n, base_env[i], getenv(base_env[i]));
		}
	}
	free(venv);
	for (i = 0; i < json_object_array_length(m->env); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(m->env, i));

		if (!getenv(name))
			continue;
		env_add(&env, &n, name, getenv(name));
		/*
		 * A key handed to a plugin is redacted from whatever the host
		 * takes from it (exec.c), whatever language the plugin is in.
		 */
		if (fm_secret_name(name))
			fm_secret_add(getenv(name));
	}
	return env;
}

static void free_strv(char **v)
{
	char **p;

	for (p = v; p && *p; p++)
		free(*p);
	free(v);
}

/*
 * "./main" is the plugin directory's, not ours; a bare python3 or python
 * is the plugin's interpreter (python.h): its .venv, config's python:,
 * else python3 on PATH.
 */
static char **plugin_argv(const struct fm_manifest *m, struct fm_error *err)
{
	struct fm_python py;
	size_t i, n = 0;
	char **argv;

	while (m->argv[n])
		n++;
	argv = fm_xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		argv[i] = fm_xstrdup(m->argv[i]);
	if (!strcmp(argv[0], "python3") || !strcmp(argv[0], "python")) {
		if (fm_python_choose(m, 1, &py, err) < 0) {
			free_strv(argv);
			return NULL;
		}
		free(argv[0]);
		argv[0] = py.path;
		py.path = NULL;
		fm_python_release(&py);
	} else if (strchr(argv[0], '/') && argv[0][0] != '/') {
		char *abs = fm_xasprintf("%s/%s", m->dir, argv[0]);

		free(argv[0]);
		argv[0] = abs;
	}
	return argv;
}

/*
 * A built-in in a child of its own: its helper (builtin.h), which
 * fm_host_builtin_main turns into the built-in. The child gets a memfd
 * (the only descriptor it inherits besides its pipes) to note the folder
 * it fills, which fm_host_release removes if the child dies.
 */
static int spawn_builtin(struct fm_host *h, struct fm_error *err)
{
	char *path = fm_builtin_path(h->manifest->serve, err);
	char *argv[] = {path, FM_HOST_BUILTIN, (char *)h->manifest->name, NULL};
	char **env, num[16];
	int note, rc;
	size_t n = 0;

	if (!path)
		return -1;
	env = plugin_env(h->manifest);
	note = memfd_create("filmeto-scratch", 0);
	while (env[n])
		n++;
	if (note >= 0) {
		snprintf(num, sizeof(num), "%d", note);
		env_add(&env, &n, SCRATCH_ENV, num);
	}
	rc = fm_proc_spawn(&h->proc, argv, h->manifest->dir, env, err);
	free_strv(env);
	free(path);
	/* Spawns happen on the main thread: no other child saw it. */
	if (note >= 0 && (rc < 0 || fcntl(note, F_SETFD, FD_CLOEXEC) < 0)) {
		close(note);
		note = -1;
	}
	h->scratch = note;
	return rc;
}

int fm_host_spawn(struct fm_host *h, struct fm_error *err)
{
	char **argv, **env;
	int rc;

	if (h->manifest->serve) {
		rc = spawn_builtin(h, err);
	} else {
		if (!(argv = plugin_argv(h->manifest, err)))
			return -1;
		env = plugin_env(h->manifest);
		rc = fm_proc_spawn(&h->proc, argv, h->manifest->dir, env, err);
		free_strv(argv);
		free_strv(env);
	}
	if (rc < 0)
		return rc;
	fm_reader_init(&h->out, h->proc.out, FM_LINE_MAX);
	fm_reader_init(&h->err, h->proc.err, FM_LOG_LINE_MAX * 2);
	return 0;
}

void fm_host_send(struct fm_host *h, json_object *msg)
{
	const char *s = fm_json_str(msg);
	size_t n = strlen(s);

	if (h->woff > 0 && h->woff == h->wbuf.len)
		h->woff = h->wbuf.len = 0;
	fm_buf_add(&h->wbuf, s, n);
	fm_buf_add(&h->wbuf, "\n", 1);
}

int fm_host_wants_write(const struct fm_host *h)
{
	return h->proc.in >= 0 && h->woff < h->wbuf.len;
}

int fm_host_flush(struct fm_host *h)
{
	while (fm_host_wants_write(h)) {
		ssize_t n = write(h->proc.in, h->wbuf.s + h->woff, h->wbuf.len - h->woff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -1;
		h->woff += (size_t)n;
	}
	return 0;
}

void fm_host_remember(struct fm_host *h, const char *line)
{
	unsigned slot = h->ntail % FM_STDERR_TAIL;

	free(h->tail[slot]);
	/* what a plugin logs may hold a key it was given: the tail goes into errors */
	h->tail[slot] = fm_secret_count() ? fm_redact_cut(line, strlen(line), FM_LOG_LINE_MAX)
					  : fm_xstrndup(line, FM_LOG_LINE_MAX);
	h->ntail++;
}

static json_object *tail_json(const struct fm_host *h)
{
	json_object *a = json_object_new_array();
	unsigned i = h->ntail > FM_STDERR_TAIL ? h->ntail - FM_STDERR_TAIL : 0;

	for (; i < h->ntail; i++)
		json_object_array_add(a, json_object_new_string(h->tail[i % FM_STDERR_TAIL]));
	return a;
}

/* The rest of stderr, up to a bound, so the report has the last words. */
static void drain_stderr(struct fm_host *h)
{
	enum fm_line got;
	char *line;
	size_t len;
	int rounds;

	for (rounds = 0; rounds < 64 && h->proc.err >= 0; rounds++) {
		while ((got = fm_reader_take(&h->err, &line, &len)) == FM_LINE_OK)
			fm_host_remember(h, line);
		if (h->err.eof || fm_reader_fill(&h->err) <= 0)
			break;
	}
	while (fm_reader_take(&h->err, &line, &len) == FM_LINE_OK)
		fm_host_remember(h, line);
}

int fm_host_broke(struct fm_host *h, struct fm_error *err, const char *fmt, ...)
{
	char msg[FM_ERROR_MAX / 2], how[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A plugin that closed stdout is usually exiting: let it finish. */
	if (!fm_proc_wait(&h->proc, h->out.eof ? 0.5 : 0)) {
		fm_proc_signal(&h->proc, SIGKILL);
		fm_proc_wait(&h->proc, 5.0);
	}
	drain_stderr(h);
	fm_proc_describe(&h->proc, how, sizeof(how));
	fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "plugin '%s' %s; it %s", h->manifest->name, msg,
		 how);
	if (WIFEXITED(h->proc.status))
		fm_error_detail(err, "exit_status",
				json_object_new_int(WEXITSTATUS(h->proc.status)));
	else if (WIFSIGNALED(h->proc.status))
		fm_error_detail(err, "signal", json_object_new_int(WTERMSIG(h->proc.status)));
	fm_error_detail(err, "stderr", tail_json(h));
	fm_proc_stop(&h->proc, 0);
	return -1;
}

int fm_host_output_dir(const char *dir, struct fm_error *err)
{
	struct stat st;

	if (lstat(dir, &st) != 0)
		return errno == ENOENT ? 0
				       : fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
						  "cannot use output folder '%s':", dir);
	if (S_ISLNK(st.st_mode))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"output folder '%s' is a symbolic link; refusing to use it", dir);
	if (!S_ISDIR(st.st_mode))
		return fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				"output folder '%s' is not a directory; refusing to use it", dir);
	return 0;
}

static const char *file_kind(mode_t mode)
{
	return S_ISLNK(mode)	? "a symbolic link"
	       : S_ISDIR(mode)	? "a directory"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISSOCK(mode) ? "a socket"
	       : S_ISCHR(mode)	? "a character device"
	       : S_ISBLK(mode)	? "a block device"
				: "not a regular file";
}

/* Whether real, a resolved path, is dir itself or inside it (resolved too). */
static int under(const char *real, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(real, dir, n) && (real[n] == '/' || (n == 1 && dir[0] == '/'));
}

/*
 * The film the user named with -o, and what combine writes beside it
 * (FILM.srt, FILM.json, FILM-contact.png, FILM-thumbs/): FILM without its
 * extension, resolved, followed by '.' or '-'.
 */
static int beside_film(const char *real, const char *film)
{
	char *abs = fm_abspath(film), *slash = strrchr(abs, '/'), *parent, *stem, *dot;
	size_t n;
	int ok;

	*slash = '\0';
	parent = realpath(*abs ? abs : "/", NULL);
	if (!parent) {
		free(abs);
		return 0;
	}
	stem = fm_xasprintf("%s/%s", strcmp(parent, "/") ? parent : "", slash + 1);
	ok = !strcmp(real, stem);
	if ((dot = strrchr(stem, '.')) && dot > strrchr(stem, '/'))
		*dot = '\0';
	n = strlen(stem);
	ok = ok || (!strncmp(real, stem, n) && (real[n] == '.' || real[n] == '-'));
	free(stem);
	free(parent);
	free(abs);
	return ok;
}

/*
 * abs with "." and ".." taken away by their text alone, no link looked
 * at: where the plugin pointed, before the file system has a say.
 */
static char *lexical(const char *abs)
{
	char *out = fm_xstrdup(abs), *copy = fm_xstrdup(abs), *save = NULL, *part;
	size_t n = 0;

	for (part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "."))
			continue;
		if (!strcmp(part, "..")) {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, part, strlen(part));
		n += strlen(part);
	}
	if (!n)
		out[n++] = '/';
	out[n] = '\0';
	free(copy);
	return out;
}

/* Whether a file at real (resolved) is a plugin's scratch: its folder, or the temp dir. */
static int scratch(const struct fm_host *h, const char *real)
{
	const char *tmp = getenv("TMPDIR");
	char *rp, *rt;
	int ok;

	rp = realpath(h->manifest->dir, NULL);
	rt = realpath(tmp && *tmp ? tmp : "/tmp", NULL);
	ok = (rp && under(real, rp)) || (rt && under(real, rt));
	free(rp);
	free(rt);
	return ok;
}

/* dir/NAME, or dir/STEM-N.EXT when NAME is taken: a name nothing holds yet. */
static char *free_name(const char *dir, const char *name, unsigned n)
{
	const char *dot = strrchr(name, '.');

	if (!n)
		return fm_xasprintf("%s/%s", dir, name);
	if (!dot || dot == name)
		return fm_xasprintf("%s/%s-%u", dir, name, n);
	return fm_xasprintf("%s/%.*s-%u%s", dir, (int)(dot - name), name, n, dot);
}

/*
 * An output the plugin wrote outside the task's folder (upstream
 * plugins write into a folder of their own or a mkdtemp one) is taken
 * in: a regular file of ours, within the download limit, is moved when
 * it is a plugin's scratch (its own folder, the temp dir) on the same
 * file system, copied otherwise; a user's file is never moved away.
 * Returns the new path, or NULL with err naming the plugin and field.
 */
static char *take_in(const struct fm_host *h, const char *abs, const char *field, const char *dir,
		     struct fm_error *err)
{
	const char *base = strrchr(abs, '/') + 1;
	char *real = NULL, *dst = NULL;
	long long max;
	struct stat st, dst_st;
	unsigned n;
	int move;

	if (lstat(abs, &st) != 0) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' named output '%s' (%s), which does not exist",
			 h->manifest->name, abs, field);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' named output '%s' (%s), which is %s, not a regular file",
			 h->manifest->name, abs, field, file_kind(st.st_mode));
		return NULL;
	}
	if (st.st_uid != geteuid()) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' named output '%s' (%s), which is outside the task's folder "
			 "and not a file of this user's",
			 h->manifest->name, abs, field);
		return NULL;
	}
	if (fm_download_max(&max, err) < 0)
		return NULL;
	if ((long long)st.st_size > max) {
		fm_error(
		    err, FM_PLUGIN_EXECUTION_ERROR,
		    "plugin '%s' named output '%s' (%s), of %lld bytes, over the limit of %lld "
		    "(%s)",
		    h->manifest->name, abs, field, (long long)st.st_size, max, FM_DOWNLOAD_MAX_ENV);
		return NULL;
	}
	if (fm_mkdirs(dir, err) < 0 || fm_host_output_dir(dir, err) < 0 ||
	    stat(dir, &dst_st) != 0 || !(real = realpath(abs, NULL))) {
		if (!err->code)
			fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				 "plugin '%s' output '%s' (%s):", h->manifest->name, abs, field);
		free(real);
		return NULL;
	}
	/* Already in the folder by another way there: nothing to take. */
	if ((dst = realpath(dir, NULL)) && under(real, dst)) {
		free(dst);
		return real;
	}
	free(dst);
	dst = NULL;
	move = st.st_nlink == 1 && st.st_dev == dst_st.st_dev && scratch(h, real);
	for (n = 0; n < 1000; n++) {
		int rc;

		free(dst);
		dst = free_name(dir, base, n);
		rc = move ? renameat2(AT_FDCWD, real, AT_FDCWD, dst, RENAME_NOREPLACE)
			  : fm_copy_file(real, dst);
		if (rc == 0)
			break;
		if (errno == EEXIST)
			continue;
		if (move && (errno == EXDEV || errno == EINVAL || errno == ENOSYS)) {
			move = 0;
			n--;
			continue;
		}
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' output '%s' (%s): cannot take it into '%s':",
			 h->manifest->name, abs, field, dir);
		free(dst);
		dst = NULL;
		break;
	}
	if (n == 1000) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' output '%s' (%s): no free name in '%s'", h->manifest->name,
			 abs, field, dir);
		free(dst);
		dst = NULL;
	}
	free(real);
	return dst;
}

/*
 * An output named inside the task's folder must be a regular file there:
 * not a link, FIFO or directory, and resolving to somewhere under the
 * folder, so no link on the way leads out. One named outside (an
 * absolute path, or ".." out of the folder) is taken in (take_in). Only
 * combine's film may stay elsewhere, where the user asked for it. A
 * missing file inside is fm_result_add_output's to report. Returns the
 * path to hand out, or NULL with err.
 */
static char *check_output(const struct fm_host *h, const char *abs, const char *field,
			  const char *dir, const char *film, struct fm_error *err)
{
	char *aabs = fm_abspath(abs), *adir = fm_abspath(dir);
	char *real = NULL, *rdir = NULL, *lex = lexical(aabs), *ldir = lexical(adir), *ret = NULL;
	struct stat st;

	free(aabs);
	free(adir);

	if (film && h->manifest->serve && lstat(abs, &st) == 0 && S_ISREG(st.st_mode) &&
	    (real = realpath(abs, NULL)) && beside_film(real, film)) {
		ret = fm_xstrdup(abs);
		goto out;
	}
	free(real);
	real = NULL;
	if (!under(lex, ldir)) {
		ret = take_in(h, abs, field, dir, err);
		goto out;
	}
	if (lstat(abs, &st) != 0) {
		ret = fm_xstrdup(abs);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' named output '%s', which is %s, not a regular file",
			 h->manifest->name, abs, file_kind(st.st_mode));
		goto out;
	}
	if (!(real = realpath(abs, NULL))) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' named output '%s':", h->manifest->name, abs);
		goto out;
	}
	if (fm_host_output_dir(dir, err) < 0)
		goto out;
	if (!(rdir = realpath(dir, NULL)) || !under(real, rdir)) {
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' named output '%s', which is outside the task's folder '%s'",
			 h->manifest->name, abs, dir);
		goto out;
	}
	ret = fm_xstrdup(abs);
out:
	if (!ret)
		fm_error_detail(err, "output", json_object_new_string(abs));
	free(real);
	free(rdir);
	free(lex);
	free(ldir);
	return ret;
}

static int collect_outputs(const struct fm_host *h, json_object *result, const char *output_dir,
			   const char *film, struct fm_result *res, struct fm_error *err)
{
	json_object *files = fm_json_get(result, "output_files", json_type_array);
	json_object *resources = fm_json_get(result, "output_resources", json_type_array);
	size_t i, nf = files ? json_object_array_length(files) : 0;
	size_t nr = resources ? json_object_array_length(resources) : 0;
	/* What each named path became: the same file named twice is taken in once. */
	json_object *taken = json_object_new_object();
	int rc = 0;

	for (i = 0; rc == 0 && i < nf + nr; i++) {
		json_object *f = i < nf ? json_object_array_get_idx(files, i)
					: json_object_object_get(
					      json_object_array_get_idx(resources, i - nf), "path");
		const char *path, *seen;
		char *abs, *final, field[64];

		if (!json_object_is_type(f, json_type_string)) {
			if (i >= nf)
				continue;
			rc = fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				      "plugin '%s': output_files[%zu] is not a path",
				      h->manifest->name, i);
			break;
		}
		if (i < nf)
			snprintf(field, sizeof(field), "output_files[%zu]", i);
		else
			snprintf(field, sizeof(field), "output_resources[%zu].path", i - nf);
		path = json_object_get_string(f);
		abs = path[0] == '/' ? fm_xstrdup(path) : fm_xasprintf("%s/%s", output_dir, path);
		if ((seen = fm_json_get_string(taken, abs)))
			final = fm_xstrdup(seen);
		else
			final = check_output(h, abs, field, output_dir, film, err);
		if (!final) {
			rc = -1;
		} else {
			json_object_object_add(taken, abs, json_object_new_string(final));
			rc = fm_result_add_output(res, final, err);
		}
		free(final);
		free(abs);
	}
	json_object_put(taken);
	return rc;
}

void fm_host_take_result(const struct fm_host *h, json_object *result, const char *output_dir,
			 const char *film, struct fm_result *res)
{
	const char *status = fm_json_get_string(result, "status");
	const char *message = fm_json_get_string(result, "error_message");
	json_object *eobj = fm_json_get(result, "error", json_type_object), *meta;

	if ((meta = fm_json_get(result, "metadata", json_type_object))) {
		json_object_put(res->metadata);
		res->metadata = json_object_get(meta);
	}
	if (!status) {
		res->status = FM_STATUS_ERROR;
		fm_error(&res->error, FM_PLUGIN_EXECUTION_ERROR,
			 "plugin '%s' answered without a result status", h->manifest->name);
		return;
	}
	if (!strcmp(status, "success")) {
		res->status = FM_STATUS_SUCCESS;
		if (collect_outputs(h, result, output_dir, film, res, &res->error) < 0)
			res->status = FM_STATUS_ERROR;
		return;
	}
	res->status = !strcmp(status, "cancelled") ? FM_STATUS_CANCELLED : FM_STATUS_ERROR;
	if (eobj)
		fm_error_from_json(&res->error, eobj, FM_PLUGIN_EXECUTION_ERROR);
	if (!eobj || !res->error.message[0])
		fm_error(&res->error,
			 eobj				      ? res->error.code
			 : res->status == FM_STATUS_CANCELLED ? FM_TASK_CANCELLED
							      : FM_PLUGIN_EXECUTION_ERROR,
			 "%s", message && *message ? message : "the plugin reported an error");
}

void fm_host_stop(struct fm_host *h, double grace)
{
	if (h->proc.pid > 0 && !h->proc.reaped && h->proc.in >= 0) {
		json_object *bye = fm_rpc_notification("shutdown", NULL);

		/* Best effort: closing stdin says the same thing. */
		fm_host_send(h, bye);
		fm_host_flush(h);
		json_object_put(bye);
	}
	fm_proc_stop(&h->proc, grace);
}

/*
 * What a built-in's child noted as the folder it was filling: a child
 * that ended cleanly emptied its note, so a name there is the leftover
 * of a crash or a kill. The folder is flat (combine's work folder), and
 * only one named like ours, not a symlink, is emptied and removed.
 */
static void remove_scratch(struct fm_host *h)
{
	char path[PATH_MAX + 1];
	ssize_t n = pread(h->scratch, path, sizeof(path) - 1, 0);
	const char *base;
	struct dirent *e;
	DIR *d;
	int fd;

	close(h->scratch);
	h->scratch = -1;
	if (n <= 0)
		return;
	path[n] = '\0';
	base = strrchr(path, '/');
	if (!base || strncmp(base + 1, FM_HOST_SCRATCH_PREFIX, strlen(FM_HOST_SCRATCH_PREFIX)))
		return;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

void fm_host_release(struct fm_host *h)
{
	unsigned i;

	if (h->proc.pid > 0)
		fm_proc_stop(&h->proc, 0);
	if (h->scratch >= 0)
		remove_scratch(h);
	fm_reader_release(&h->out);
	fm_reader_release(&h->err);
	json_object_put(h->info);
	fm_buf_release(&h->wbuf);
	for (i = 0; i < FM_STDERR_TAIL; i++)
		free(h->tail[i]);
	memset(h, 0, sizeof(*h));
	h->scratch = -1;
	fm_proc_init(&h->proc);
}

/* The child's note: set while a built-in fills a folder, emptied after. */
static int scratch_fd = -1;

void fm_host_scratch(const char *dir)
{
	size_t len = dir ? strlen(dir) + 1 : 0;

	if (scratch_fd < 0)
		return;
	/* written before it is cut to length: never a half name */
	if (len && pwrite(scratch_fd, dir, len, 0) != (ssize_t)len)
		len = 0;
	(void)!ftruncate(scratch_fd, (off_t)len);
}

int fm_host_builtin_main(int argc, char **argv, const char *name, fm_proc_main *serve)
{
	const char *note = getenv(SCRATCH_ENV);
	char *end;
	long fd;

	if (argc < 2 || strcmp(argv[1], FM_HOST_BUILTIN))
		return -1;
	if (argc != 3 || strcmp(argv[2], name))
		return 2;
	if (note) {
		fd = strtol(note, &end, 10);
		if (!*end && end != note && fd > 2 && fd < INT_MAX &&
		    fcntl((int)fd, F_SETFD, FD_CLOEXEC) == 0)
			scratch_fd = (int)fd;
	}
	/*
	 * A host gone away is an EOF to notice, not a signal to die of; a
	 * file size limit is a write error with a reason (EFBIG), as in
	 * every plugin (fm_plugin_main): spawning reset both to default.
	 */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	serve(0, 1, 2);
	return 0;
}
