/*
 * Slurm's side of the executor, without a process: the sbatch options a
 * task's needs become, and the jobs squeue, sacct, scontrol and sbatch
 * report, read from their text with bounds (their output is outside
 * input: a wrapper script or a broken controller may print anything).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "slurm.h"
#include "util.h"

/* Joins the options of a request's key: no option holds it. */
#define KEY_SEP '\x1f'
/* The longest option a config value may make. */
#define OPTION_MAX 1024

static void add(struct fm_slurm_request *r, char *opt)
{
	r->argv = fm_xrealloc(r->argv, (r->argc + 1) * sizeof(*r->argv));
	r->argv[r->argc++] = opt;
}

/* A config value that becomes an option: a string of printable bytes. */
static int option_text(json_object *v, const char *where, struct fm_error *err)
{
	const char *s = json_object_get_string(v);
	size_t i, n;

	if (!json_object_is_type(v, json_type_string))
		return fm_error(err, FM_VALIDATION_ERROR, "config.yaml: %s must be a string",
				where);
	n = strlen(s);
	if (n == 0 || n > OPTION_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "config.yaml: %s must be 1 to %d bytes",
				where, OPTION_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fm_error(err, FM_VALIDATION_ERROR,
					"config.yaml: %s holds a control character", where);
	return 0;
}

int fm_slurm_option_check(const char *arg, const char *where, struct fm_error *err)
{
	size_t i, n = strlen(arg);

	if (arg[0] != '-' || n < 2 || n > OPTION_MAX)
		return fm_error(err, FM_VALIDATION_ERROR,
				"%s: '%.64s' is no sbatch option (one starts with '-', as "
				"--exclusive or --constraint=a100 do)",
				where, arg);
	for (i = 0; i < n; i++)
		if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
			return fm_error(err, FM_VALIDATION_ERROR, "%s: a control character", where);
	return 0;
}

/* partition, account, qos and sbatch_args of one level of the slurm: section. */
static int config_level(struct fm_slurm_request *r, json_object *level, const char *prefix,
			struct fm_error *err)
{
	static const char *const keys[] = {"partition", "account", "qos"};
	json_object *v, *args;
	size_t i;
	char where[128];

	if (!level)
		return 0;
	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		if (!json_object_object_get_ex(level, keys[i], &v))
			continue;
		snprintf(where, sizeof(where), "%s%s", prefix, keys[i]);
		if (option_text(v, where, err) < 0)
			return -1;
		add(r, fm_xasprintf("--%s=%s", keys[i], json_object_get_string(v)));
	}
	if (!json_object_object_get_ex(level, "sbatch_args", &args))
		return 0;
	snprintf(where, sizeof(where), "%ssbatch_args", prefix);
	if (!json_object_is_type(args, json_type_array))
		return fm_error(err, FM_VALIDATION_ERROR, "config.yaml: %s must be a list", where);
	for (i = 0; i < json_object_array_length(args); i++) {
		v = json_object_array_get_idx(args, i);
		if (option_text(v, where, err) < 0 ||
		    fm_slurm_option_check(json_object_get_string(v), where, err) < 0)
			return -1;
		add(r, fm_xstrdup(json_object_get_string(v)));
	}
	return 0;
}

/* A need from the manifest: a number from 0 up, or absent (0). */
static int need(json_object *needs, const char *key, double *out, struct fm_error *err)
{
	json_object *v;

	*out = 0;
	if (!needs || !json_object_object_get_ex(needs, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return fm_error(err, FM_VALIDATION_ERROR, "resources: %s must be a number", key);
	*out = json_object_get_double(v);
	if (!isfinite(*out) || *out < 0 || *out > 1e9)
		return fm_error(err, FM_VALIDATION_ERROR, "resources: %s out of range", key);
	return 0;
}

/*
 * --time in minutes: the timeout and the margin, rounded up to 1, 2, 4,
 * 8, 12 or 24 hours or whole days (at most a year), so that the tasks
 * of plugins whose timeouts differ a little still ask for the same and
 * share one array.
 */
double fm_slurm_time_minutes(double timeout)
{
	static const double hours[] = {1, 2, 4, 8, 12, 24};
	double m = (ceil(timeout) + FM_SLURM_TIME_MARGIN) / 60;
	size_t i;

	for (i = 0; i < sizeof(hours) / sizeof(*hours); i++)
		if (m <= hours[i] * 60)
			return hours[i] * 60;
	m = ceil(m / 1440) * 1440;
	return m > 365 * 1440 ? 365 * 1440 : m;
}

static int needs_options(struct fm_slurm_request *r, json_object *needs, double timeout,
			 struct fm_error *err)
{
	double gpu, mem, vram, cpus;

	if (need(needs, "gpu", &gpu, err) < 0 || need(needs, "mem_gb", &mem, err) < 0 ||
	    need(needs, "vram_gb", &vram, err) < 0 || need(needs, "cpus", &cpus, err) < 0)
		return -1;
	if (gpu > 0)
		add(r, fm_xasprintf("--gres=gpu:%.0f", ceil(gpu)));
	if (mem > 0 || vram > 0)
		add(r, fm_xasprintf("--mem=%.0fM", ceil((mem > 0 ? mem : vram) * 1024)));
	if (cpus > 0)
		add(r, fm_xasprintf("--cpus-per-task=%.0f", ceil(cpus)));
	if (timeout > 0 && isfinite(timeout))
		add(r, fm_xasprintf("--time=%.0f", fm_slurm_time_minutes(timeout)));
	return 0;
}

int fm_slurm_request_init(struct fm_slurm_request *r, json_object *needs, double timeout,
			  json_object *slurm_config, const char *plugin, const char *const *extra,
			  size_t nextra, struct fm_error *err)
{
	json_object *plugins = NULL, *mine = NULL;
	struct fm_buf key = FM_BUF_INIT;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (slurm_config && !json_object_is_type(slurm_config, json_type_object))
		return fm_error(err, FM_VALIDATION_ERROR, "config.yaml: slurm must be a mapping");
	if (needs_options(r, needs, timeout, err) < 0 ||
	    config_level(r, slurm_config, "slurm.", err) < 0)
		goto fail;
	if (slurm_config && plugin &&
	    json_object_object_get_ex(slurm_config, "plugins", &plugins) &&
	    json_object_object_get_ex(plugins, plugin, &mine)) {
		char *prefix = fm_xasprintf("slurm.plugins.%s.", plugin);
		int rc =
		    json_object_is_type(mine, json_type_object)
			? config_level(r, mine, prefix, err)
			: fm_error(err, FM_VALIDATION_ERROR, "config.yaml: %.*s must be a mapping",
				   (int)strlen(prefix) - 1, prefix);

		free(prefix);
		if (rc < 0)
			goto fail;
	}
	for (i = 0; i < nextra; i++)
		add(r, fm_xstrdup(extra[i]));
	for (i = 0; i < r->argc; i++) {
		if (i)
			fm_buf_add(&key, (char[]){KEY_SEP}, 1);
		fm_buf_addstr(&key, r->argv[i]);
	}
	r->key = fm_buf_detach(&key, NULL);
	return 0;
fail:
	fm_slurm_request_release(r);
	return -1;
}

void fm_slurm_request_release(struct fm_slurm_request *r)
{
	size_t i;

	for (i = 0; i < r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	free(r->key);
	memset(r, 0, sizeof(*r));
}

/* --- what Slurm says ------------------------------------------------------ */

/* Copies a field of n bytes into dst (size dst_size), refusing one too long. */
static int field(char *dst, size_t dst_size, const char *s, size_t n, const char *name,
		 struct fm_error *err)
{
	size_t i;

	if (n >= dst_size)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: a %s of %zu bytes", name, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fm_error(err, FM_SERVICE_ERROR, "slurm: a %s with a control byte",
					name);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* "CANCELLED by 1000" -> state CANCELLED, by 1000; "CANCELLED+" -> CANCELLED. */
static int state_field(struct fm_slurm_job *job, const char *s, size_t n, struct fm_error *err)
{
	const char *by = memmem(s, n, " by ", 4);
	size_t sn = by ? (size_t)(by - s) : n;

	if (sn && s[sn - 1] == '+')
		sn--;
	if (sn == 0)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: a job without a state");
	if (field(job->state, sizeof(job->state), s, sn, "job state", err) < 0)
		return -1;
	if (by)
		return field(job->by, sizeof(job->by), by + 4, n - (size_t)(by + 4 - s), "user",
			     err);
	return 0;
}

static int table_line(const char *s, size_t n, struct fm_slurm_job *job, struct fm_error *err)
{
	const char *f[6];
	size_t len[6], nf = 0, i;
	const char *p = s, *end = s + n;

	while (nf < 6) {
		const char *bar = memchr(p, '|', (size_t)(end - p));

		f[nf] = p;
		len[nf++] = (size_t)((bar ? bar : end) - p);
		if (!bar)
			break;
		p = bar + 1;
	}
	/* sacct -P may end a line with a bar of its own */
	if (nf == 6 && len[5] == 0)
		nf--;
	if (nf != 4 && nf != 5)
		return fm_error(err, FM_SERVICE_ERROR,
				"slurm: a job line of %zu fields, not 4 (squeue) or 5 (sacct)", nf);
	memset(job, 0, sizeof(*job));
	if (len[0] == 0 || len[1] == 0)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: a job line without a %s",
				len[0] ? "state" : "job id");
	for (i = 0; i < len[0]; i++)
		if ((unsigned char)f[0][i] <= ' ')
			return fm_error(err, FM_SERVICE_ERROR,
					"slurm: a job id with a space in it");
	if (field(job->id, sizeof(job->id), f[0], len[0], "job id", err) < 0 ||
	    state_field(job, f[1], len[1], err) < 0 ||
	    field(job->node, sizeof(job->node), f[2], len[2], "node list", err) < 0)
		return -1;
	if (nf == 5 &&
	    field(job->exit_code, sizeof(job->exit_code), f[3], len[3], "exit code", err) < 0)
		return -1;
	return field(job->reason, sizeof(job->reason), f[nf - 1], len[nf - 1], "reason", err);
}

int fm_slurm_parse_table(const char *text, size_t len,
			 int (*each)(void *ctx, const struct fm_slurm_job *job), void *ctx,
			 struct fm_error *err)
{
	const char *p = text, *end = text + len;

	if (len > FM_SLURM_OUTPUT_MAX)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: an answer of %zu bytes, over %d",
				len, FM_SLURM_OUTPUT_MAX);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line = p;
		size_t n = (size_t)((nl ? nl : end) - p);
		struct fm_slurm_job job;
		int rc;

		p = nl ? nl + 1 : end;
		if (n && line[n - 1] == '\r')
			n--;
		if (n > FM_SLURM_LINE_MAX)
			return fm_error(err, FM_SERVICE_ERROR, "slurm: a line of %zu bytes", n);
		if (n == 0)
			continue;
		if (table_line(line, n, &job, err) < 0)
			return -1;
		/* sacct's job steps (123.batch, 123.extern) are not jobs of ours */
		if (!strchr(job.id, '.') && (rc = each(ctx, &job)) != 0)
			return rc;
	}
	return 0;
}

/* The value of " KEY=" in a one-line scontrol answer, up to the next space. */
static const char *word(const char *s, size_t n, const char *key, size_t *vlen)
{
	size_t k = strlen(key);
	const char *p = s, *end = s + n;

	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *w_end = sp ? sp : end;

		if ((size_t)(w_end - p) > k && !memcmp(p, key, k) && p[k] == '=') {
			*vlen = (size_t)(w_end - p) - k - 1;
			return p + k + 1;
		}
		p = w_end + 1;
	}
	return NULL;
}

int fm_slurm_parse_scontrol(const char *text, size_t len, struct fm_slurm_job *job,
			    struct fm_error *err)
{
	const char *v, *a, *t;
	size_t n, an, tn;

	memset(job, 0, sizeof(*job));
	if (len > FM_SLURM_LINE_MAX * 4)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: a job of %zu bytes", len);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (memchr(text, '\n', len))
		return fm_error(err, FM_SERVICE_ERROR, "slurm: scontrol said more than one job");
	if (!(v = word(text, len, "JobId", &n)) || !n)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: scontrol's answer names no JobId");
	/* An array element goes by ARRAYJOB_TASK, as squeue and sacct name it. */
	a = word(text, len, "ArrayJobId", &an);
	t = word(text, len, "ArrayTaskId", &tn);
	if (a && an && t && tn) {
		char part[sizeof(job->id)];

		if (field(part, sizeof(part), a, an, "array job id", err) < 0 ||
		    field(job->id, sizeof(job->id), t, tn, "array task id", err) < 0)
			return -1;
		if (an + tn + 1 >= sizeof(job->id))
			return fm_error(err, FM_SERVICE_ERROR, "slurm: an array job id too long");
		memmove(job->id + an + 1, job->id, tn + 1);
		memcpy(job->id, part, an);
		job->id[an] = '_';
	} else if (field(job->id, sizeof(job->id), v, n, "job id", err) < 0) {
		return -1;
	}
	if (!(v = word(text, len, "JobState", &n)) || !n)
		return fm_error(err, FM_SERVICE_ERROR,
				"slurm: scontrol's answer names no JobState");
	if (state_field(job, v, n, err) < 0)
		return -1;
	if ((v = word(text, len, "NodeList", &n)) && !(n == 6 && !memcmp(v, "(null)", 6)) &&
	    field(job->node, sizeof(job->node), v, n, "node list", err) < 0)
		return -1;
	if ((v = word(text, len, "ExitCode", &n)) &&
	    field(job->exit_code, sizeof(job->exit_code), v, n, "exit code", err) < 0)
		return -1;
	if ((v = word(text, len, "Reason", &n)) &&
	    field(job->reason, sizeof(job->reason), v, n, "reason", err) < 0)
		return -1;
	return 0;
}

int fm_slurm_parse_jobid(const char *text, size_t len, char id[64], struct fm_error *err)
{
	size_t n = 0;

	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	while (n < len && text[n] >= '0' && text[n] <= '9')
		n++;
	if (n == 0 || n >= 64 || (n < len && text[n] != ';'))
		return fm_error(err, FM_SERVICE_ERROR, "sbatch printed no job id: '%.*s'",
				(int)(len > 200 ? 200 : len), text);
	memcpy(id, text, n);
	id[n] = '\0';
	return 0;
}

static const char *const live_states[] = {
    "PENDING",	    "RUNNING",	   "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED",
    "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",	"SIGNALING",  "STAGE_OUT",   "STOPPED",
};

static int in(const char *s, const char *const *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, set[i]))
			return 1;
	return 0;
}

void fm_slurm_details(const struct fm_slurm_job *job, struct fm_error *err)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "job_id", json_object_new_string(job->id));
	json_object_object_add(o, "state", json_object_new_string(job->state));
	json_object_object_add(o, "node", json_object_new_string(job->node));
	json_object_object_add(o, "exit_code", json_object_new_string(job->exit_code));
	if (*job->reason)
		json_object_object_add(o, "reason", json_object_new_string(job->reason));
	if (*job->by)
		json_object_object_add(o, "cancelled_by", json_object_new_string(job->by));
	fm_error_detail(err, "slurm", o);
}

enum fm_slurm_fate fm_slurm_fate(const struct fm_slurm_job *job, double mem_gb,
				 struct fm_error *err)
{
	static const char *const retry[] = {"NODE_FAIL", "PREEMPTED", "BOOT_FAIL"};
	static const char *const timeout[] = {"TIMEOUT", "DEADLINE"};
	enum fm_slurm_fate fate;

	if (in(job->state, live_states, sizeof(live_states) / sizeof(*live_states)))
		return FM_SLURM_LIVE;
	if (!strcmp(job->state, "COMPLETED")) {
		return FM_SLURM_ENDED;
	} else if (!strcmp(job->state, "OUT_OF_MEMORY")) {
		if (mem_gb > 0)
			fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				 "slurm job %s ran out of memory: it asked for %g GB (--mem)",
				 job->id, mem_gb);
		else
			fm_error(err, FM_PLUGIN_EXECUTION_ERROR,
				 "slurm job %s ran out of memory: the partition's default, since "
				 "the plugin's manifest names no mem_gb",
				 job->id);
		fate = FM_SLURM_FAILED;
	} else if (in(job->state, timeout, 2)) {
		fm_error(err, FM_TIMEOUT_ERROR, "slurm job %s ran past its --time (%s)", job->id,
			 job->state);
		fate = FM_SLURM_FAILED;
	} else if (in(job->state, retry, 3)) {
		fm_error(err, FM_SERVICE_ERROR, "slurm job %s ended %s%s%s", job->id, job->state,
			 *job->node ? " on " : "", job->node);
		fate = FM_SLURM_RETRY;
	} else if (!strcmp(job->state, "CANCELLED")) {
		fm_error(err, FM_TASK_CANCELLED, "slurm job %s was cancelled%s%s%s%s", job->id,
			 *job->by ? " by uid " : "", job->by,
			 *job->reason && strcmp(job->reason, "None") ? ": " : "",
			 *job->reason && strcmp(job->reason, "None") ? job->reason : "");
		fate = FM_SLURM_CANCELLED;
	} else {
		/* FAILED, SPECIAL_EXIT, REVOKED or a state newer than this code:
		 * the job's own final line says more, when it wrote one. */
		fm_error(err, FM_PLUGIN_EXECUTION_ERROR, "slurm job %s ended %s, exit code %s",
			 job->id, job->state, *job->exit_code ? job->exit_code : "unknown");
		fate = FM_SLURM_ENDED;
	}
	fm_slurm_details(job, err);
	return fate;
}

/* The GPUs in a node's gres: gpu:2, gpu:a100:4, gpu:4(S:0-1),tmp:1 */
static double gres_gpus(const char *gres, size_t len)
{
	double n = 0;
	size_t at = 0;

	while (at < len) {
		size_t end = at, last = 0;

		while (end < len && gres[end] != ',')
			end++;
		if (end - at > 4 && !memcmp(gres + at, "gpu:", 4)) {
			size_t i, stop = end;
			const char *paren = memchr(gres + at, '(', end - at);

			if (paren)
				stop = (size_t)(paren - gres);
			for (i = at; i < stop; i++)
				if (gres[i] == ':')
					last = i;
			if (last && stop - last - 1 < 16) {
				char num[16];

				memcpy(num, gres + last + 1, stop - last - 1);
				num[stop - last - 1] = '\0';
				if (strspn(num, "0123456789") == strlen(num) && *num)
					n += strtod(num, NULL);
			}
		}
		at = end + 1;
	}
	return n;
}

int fm_slurm_parse_nodes(const char *text, size_t len, double *cpus, double *gpus,
			 struct fm_error *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0, at = 0, i;
	int rc = 0;

	*cpus = *gpus = 0;
	if (len > FM_SLURM_OUTPUT_MAX)
		return fm_error(err, FM_SERVICE_ERROR, "slurm: sinfo said %zu bytes", len);
	while (at < len && rc == 0) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - line) : len - at, name, num;
		long c;

		at += ll + 1;
		if (ll > FM_SLURM_LINE_MAX) {
			rc = fm_error(err, FM_SERVICE_ERROR, "slurm: a line of sinfo over %d bytes",
				      FM_SLURM_LINE_MAX);
			break;
		}
		/* NAME CPUS GRES */
		name = strcspn(line, " \n");
		if (name == 0 || name >= ll || n >= FM_SLURM_NODES_MAX)
			continue;
		num = strspn(line + name + 1, "0123456789");
		if (num == 0 || num > 9)
			continue;
		c = strtol(line + name + 1, NULL, 10);
		for (i = 0; i < n && (strlen(names[i]) != name || memcmp(names[i], line, name));
		     i++)
			;
		/* A node in several partitions is listed once for each. */
		if (i < n)
			continue;
		FM_GROW(names, cap, n + 1);
		names[n++] = fm_xstrndup(line, name);
		*cpus += (double)c;
		if (name + 1 + num < ll && line[name + 1 + num] == ' ')
			*gpus += gres_gpus(line + name + 2 + num, ll - name - 2 - num);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
