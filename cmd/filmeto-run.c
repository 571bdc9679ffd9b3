/*
 * filmeto-run: executes task lines from files or stdin and writes their
 * events to stdout. Lines that are not tasks pass through unchanged, so
 * the end of a pipeline sees the whole history. With --spool it is a
 * worker: the tasks come from the spool and the events go to their logs.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "filmeto.h"

static const char usage_text[] =
    "usage: filmeto-run [-j N] [-d DIR] [-o FILM] [--upload S3PREFIX] [--url-ttl S]\n"
    "                   [--placeholder] [--limit NAME=N,...]\n"
    "                   [--queue-timeout S] [--heartbeat S] [--grace S] [--no-cache]\n"
    "                   [--executor local|slurm [--shared-dir DIR] [--sbatch-arg ARG]...\n"
    "                   [--slurm-poll S]] [FILE ...]\n"
    "       filmeto-run --spool [--drain] [--prune AGE] [--max-claims N] [-j N] [-d DIR]\n"
    "                   [--upload S3PREFIX] [--url-ttl S]\n"
    "                   [--placeholder] [--limit NAME=N,...] [--queue-timeout S]\n"
    "                   [--heartbeat S] [--grace S] [--no-cache]\n"
    "\n"
    "Run task lines from FILEs or standard input ('-') and write events; or,\n"
    "with --spool, run the tasks queued by filmeto-submit --queue.\n"
    "\n"
    "  -j, --jobs N           tasks in flight at once (default: the number of cores;\n"
    "                         with --executor slurm, 256 jobs in Slurm at once)\n"
    "  -d, --output-dir DIR   write outputs to DIR/TASK_ID (default: filmeto-out)\n"
    "  -o, --output FILM      write the combined film to FILM (.mp4, .mov or .mkv),\n"
    "                         with FILM's .srt, .json, -contact.png and -thumbs/ beside it;\n"
    "                         s3://BUCKET/KEY renders under -d, then uploads them all\n"
    "      --upload S3PREFIX  upload each task's outputs as it completes to\n"
    "                         s3://BUCKET/PREFIX/TASK_ID/ (filmeto-run(1), OBJECT STORAGE)\n"
    "      --url-ttl S        lifetime of the presigned URLs of uploads (default 3600)\n"
    "      --placeholder      a scene whose task failed becomes a title card\n"
    "                         instead of failing the film\n"
    "      --limit NAME=N,... admit tasks only while their declared needs fit\n"
    "      --queue-timeout S  fail a task that waits longer for --limit resources\n"
    "      --heartbeat S      a heartbeat line per running task every S seconds\n"
    "                         (default 5; 0 turns them off)\n"
    "      --grace S          seconds between cancel and kill (default 5)\n"
    "      --no-cache         always run; do not answer from the output cache\n"
    "      --executor WHERE   local (the default), or slurm: every task but the\n"
    "                         film's combine runs as a Slurm job (filmeto-run(1), SLURM)\n"
    "      --shared-dir DIR   with slurm: a folder every node sees, for the run's\n"
    "                         task and event files (default: the -d directory)\n"
    "      --sbatch-arg ARG   with slurm: one more sbatch option for every job\n"
    "                         (repeatable; after config.yaml's slurm: options)\n"
    "      --slurm-poll S     with slurm: seconds between looks at the jobs, one\n"
    "                         squeue for all (default 5, or config.yaml's slurm.poll)\n"
    "      --spool            work the spool ($FILMETO_SPOOL, else\n"
    "                         $XDG_STATE_HOME/filmeto/spool); outputs go to its out/\n"
    "                         unless -d is given\n"
    "      --drain            with --spool: exit once no queued task is left\n"
    "      --prune AGE        with --spool: remove tasks finished more than AGE ago\n"
    "                         (90, 90s, 15m, 12h, 7d, 2w); alone, prune and exit\n"
    "      --max-claims N     with --spool: fail a task instead of claiming it again\n"
    "                         once N workers died running it (default 3)\n"
    "  -h, --help             show this help\n"
    "      --version          show the version\n"
    "\n"
    "Exit status: 0 every task succeeded, 1 a task failed or was cancelled,\n"
    "2 usage error, 130 interrupted (a spool worker's running tasks stay queued).\n";

enum {
	OPT_VERSION = 256,
	OPT_PLACEHOLDER,
	OPT_LIMIT,
	OPT_QUEUE_TIMEOUT,
	OPT_HEARTBEAT,
	OPT_GRACE,
	OPT_NO_CACHE,
	OPT_SPOOL,
	OPT_DRAIN,
	OPT_PRUNE,
	OPT_MAX_CLAIMS,
	OPT_EXECUTOR,
	OPT_SHARED_DIR,
	OPT_SBATCH_ARG,
	OPT_SLURM_POLL,
	OPT_UPLOAD,
	OPT_URL_TTL
};

static const struct option options[] = {
    {"jobs", required_argument, NULL, 'j'},
    {"output-dir", required_argument, NULL, 'd'},
    {"output", required_argument, NULL, 'o'},
    {"placeholder", no_argument, NULL, OPT_PLACEHOLDER},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"queue-timeout", required_argument, NULL, OPT_QUEUE_TIMEOUT},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"no-cache", no_argument, NULL, OPT_NO_CACHE},
    {"spool", no_argument, NULL, OPT_SPOOL},
    {"drain", no_argument, NULL, OPT_DRAIN},
    {"prune", required_argument, NULL, OPT_PRUNE},
    {"max-claims", required_argument, NULL, OPT_MAX_CLAIMS},
    {"executor", required_argument, NULL, OPT_EXECUTOR},
    {"shared-dir", required_argument, NULL, OPT_SHARED_DIR},
    {"sbatch-arg", required_argument, NULL, OPT_SBATCH_ARG},
    {"slurm-poll", required_argument, NULL, OPT_SLURM_POLL},
    {"upload", required_argument, NULL, OPT_UPLOAD},
    {"url-ttl", required_argument, NULL, OPT_URL_TTL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static struct fm_writer out;

static double seconds(const char *opt, const char *arg, int zero_ok)
{
	struct fm_error err = FM_ERROR_INIT;
	double v;

	if (fm_arg_seconds(opt, arg, zero_ok, &v, &err) < 0) {
		fm_warn("%s", err.message);
		fm_try_help();
	}
	return v;
}

static int count(const char *opt, const char *arg, long max, const char *what)
{
	struct fm_error err = FM_ERROR_INIT;
	long v;

	if (fm_arg_long(opt, arg, 1, max, what, &v, &err) < 0) {
		fm_warn("%s", err.message);
		fm_try_help();
	}
	return (int)v;
}

/* The container comes from the name, so the name must say one. */
static const char *film_path(const char *arg)
{
	static const char *const exts[] = {".mp4", ".mov", ".mkv", NULL};
	const char *dot = strrchr(arg, '.');
	size_t i;

	for (i = 0; dot && exts[i]; i++)
		if (!strcasecmp(dot, exts[i]) && dot > arg && dot[-1] != '/')
			return arg;
	fm_warn("-o: '%s' does not end in .mp4, .mov or .mkv", arg);
	fm_try_help();
}

static int run_fd(int fd, const char *name, void *ctx)
{
	struct fm_exec *x = ctx;

	if (fm_exec_input(x, fd, name) < 0) {
		fm_warn("cannot read '%s':", name);
		return -1;
	}
	/* Stop reading inputs once stdout is gone or we were interrupted. */
	return out.failed ? 1 : 0;
}

struct spool_args {
	int spool, drain, output_dir;
	double prune;	/* -1: none */
	int max_claims; /* 0: not given */
};

/* What the spool skips or cannot remove is said, and the work goes on. */
/* The worker: prune first if asked, then work unless only pruning. */
static int spool_main(const struct spool_args *a, struct fm_exec_opts *o)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_spool sp;
	unsigned long removed;
	char *outdir = NULL;
	int status = FM_EXIT_OK;

	/* A file size limit must fail a write (EFBIG), which the worker reports, not kill it. */
	signal(SIGXFSZ, SIG_IGN);
	if (fm_spool_open(&sp, NULL, &err) < 0)
		fm_die(FM_EXIT_FAILED, "%s", err.message);
	sp.warn = fm_warn_hook;
	if (a->prune >= 0) {
		if (fm_spool_prune(&sp, a->prune, &removed, &err) < 0) {
			fm_warn("--prune: %s", err.message);
			fm_error_release(&err);
			status = FM_EXIT_FAILED;
		}
		if (!a->drain)
			goto out;
	}
	if (!a->output_dir)
		o->output_dir = outdir = fm_spool_path(&sp, FM_SPOOL_OUT, NULL);
	fm_writer_init(&out, 1);
	{
		enum fm_outcome done = FM_OUTCOME_OK;

		if (fm_spool_work(&sp, o, a->drain, a->max_claims, &out, &done, &err) < 0) {
			fm_warn("%s", err.message);
			if (done == FM_OUTCOME_OK)
				done = FM_OUTCOME_TASK_FAILED;
		}
		if (done != FM_OUTCOME_OK)
			status = fm_exit_status(done);
	}
	fm_writer_flush(&out);
	/* Only lines of no spooled task come here, but a lost one is said too. */
	if (fm_stdout_error(out.failed) < 0 && status == FM_EXIT_OK)
		status = FM_EXIT_FAILED;
	fm_writer_release(&out);
out:
	fm_spool_release(&sp);
	fm_error_release(&err);
	free(outdir);
	return status;
}

/*
 * The executor counts each stop (fm_exec_signal); a third from outside
 * is someone who will not wait for the grace: every plugin group is
 * killed and we leave at once, which only a command may decide.
 */
/*
 * --version: the media libraries are the combine helper's (filmeto-run
 * does not load them), as it reports them when run.
 */
__attribute__((noreturn)) static void version(void)
{
	struct fm_error err = FM_ERROR_INIT;
	char *media = fm_builtin_libraries(FM_COMBINE_HELPER, &err);

	if (!media) {
		fm_warn("%s", err.message);
		media = fm_xstrdup("libav* unknown (no " FM_COMBINE_HELPER ")");
	}
	fm_version(fm_revision(), fm_xasprintf("%s; %s", media, fm_libraries()));
}

static volatile sig_atomic_t stops;

/* An upload in flight (-o s3://, --upload) stops at the first stop, like the tasks. */
static int upload_stopped(void *arg)
{
	(void)arg;
	return stops > 0;
}

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	if ((stops = fm_exec_signal(sig, si)) >= 3) {
		fm_proc_signal_all(SIGKILL);
		_exit(fm_exit_status(FM_OUTCOME_INTERRUPTED));
	}
}

int main(int argc, char **argv)
{
	struct spool_args sp_args = {0, 0, 0, -1, 0};
	struct fm_error err = FM_ERROR_INIT;
	struct fm_exec_opts o = {0};
	struct sigaction sa = {0};
	struct fm_exec *x;
	enum fm_outcome finish;
	const char **sbatch_args = NULL, *film_uri = NULL, *upload_uri = NULL;
	int c, status, jobs_given = 0, slurm_opts = 0;
	long url_ttl = FM_S3_URL_TTL;
	struct fm_s3_out s3out = {0};
	char *cdir, *local_film = NULL;

	fm_msg_init(argv[0]);
	/* Plugins run beside us: no key of ours shows in /proc, none asked for reaches them. */
	fm_secrets_hide();
	/* What a plugin leaves behind, a daemon too, comes back to us to end. */
	if (fm_proc_subreaper(1) < 0)
		fm_warn("cannot become a child subreaper; daemons plugins start may outlive us:");
	o.output_dir = "filmeto-out";
	o.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
	o.heartbeat = FM_HEARTBEAT;
	o.grace = FM_GRACE;
	o.idle_shutdown = FM_IDLE_SHUTDOWN;
	o.cache = 1;
	while ((c = getopt_long(argc, argv, "j:d:o:h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.jobs = count("-j", optarg, 4096, "a number of jobs");
			jobs_given = 1;
			break;
		case 'd':
			o.output_dir = optarg;
			sp_args.output_dir = 1;
			break;
		case 'o':
			if (fm_s3_is_uri(optarg))
				film_uri = optarg;
			else
				o.film = film_path(optarg);
			break;
		case OPT_UPLOAD: upload_uri = optarg; break;
		case OPT_URL_TTL:
			url_ttl =
			    count("--url-ttl", optarg, FM_S3_URL_TTL_MAX, "a number of seconds");
			break;
		case OPT_PLACEHOLDER: o.placeholder = 1; break;
		case OPT_LIMIT:
			json_object_put(o.limits);
			if (fm_exec_parse_limits(optarg, &o.limits, &err) < 0) {
				fm_warn("%s", err.message);
				fm_try_help();
			}
			break;
		case OPT_QUEUE_TIMEOUT:
			o.queue_timeout = seconds("--queue-timeout", optarg, 0);
			break;
		case OPT_HEARTBEAT: o.heartbeat = seconds("--heartbeat", optarg, 1); break;
		case OPT_GRACE: o.grace = seconds("--grace", optarg, 1); break;
		case OPT_NO_CACHE: o.cache = 0; break;
		case OPT_SPOOL: sp_args.spool = 1; break;
		case OPT_DRAIN: sp_args.drain = 1; break;
		case OPT_PRUNE:
			sp_args.prune = fm_spool_parse_age(optarg);
			if (sp_args.prune < 0) {
				fm_warn("--prune: '%s' is not an age (90, 90s, 15m, 12h, 7d, 2w)",
					optarg);
				fm_try_help();
			}
			break;
		case OPT_MAX_CLAIMS:
			sp_args.max_claims = count("--max-claims", optarg,
						   FM_SPOOL_MAX_CLAIMS_LIMIT, "a number of claims");
			break;
		case OPT_EXECUTOR:
			if (strcmp(optarg, "local") && strcmp(optarg, "slurm")) {
				fm_warn("--executor: '%s' is neither local nor slurm", optarg);
				fm_try_help();
			}
			o.slurm = !strcmp(optarg, "slurm");
			break;
		case OPT_SHARED_DIR:
			o.shared_dir = optarg;
			slurm_opts = c;
			break;
		case OPT_SBATCH_ARG:
			if (fm_slurm_option_check(optarg, "--sbatch-arg", &err) < 0) {
				fm_warn("%s", err.message);
				fm_try_help();
			}
			sbatch_args =
			    fm_xrealloc(sbatch_args, (o.nsbatch_args + 1) * sizeof(*sbatch_args));
			sbatch_args[o.nsbatch_args++] = optarg;
			o.sbatch_args = sbatch_args;
			slurm_opts = c;
			break;
		case OPT_SLURM_POLL:
			o.slurm_poll = seconds("--slurm-poll", optarg, 0);
			slurm_opts = c;
			break;
		case 'h': fm_help(usage_text);
		case OPT_VERSION: version();
		default: fm_try_help();
		}
	}
	if (o.jobs < 1)
		o.jobs = 1;
	if (slurm_opts && !o.slurm) {
		fm_warn("%s needs --executor slurm", slurm_opts == OPT_SHARED_DIR ? "--shared-dir"
						     : slurm_opts == OPT_SBATCH_ARG
							 ? "--sbatch-arg"
							 : "--slurm-poll");
		fm_try_help();
	}
	if (o.slurm && sp_args.spool) {
		fm_warn("--spool with --executor slurm: spool workers run as Slurm jobs themselves "
			"(sbatch --wrap 'filmeto-run --spool --drain'; filmeto-run(1), SLURM)");
		fm_try_help();
	}
	if (o.slurm && !jobs_given)
		o.jobs = FM_SLURM_JOBS;
	if (!sp_args.spool && (sp_args.drain || sp_args.prune >= 0 || sp_args.max_claims)) {
		fm_warn("%s needs --spool", sp_args.drain	 ? "--drain"
					    : sp_args.prune >= 0 ? "--prune"
								 : "--max-claims");
		fm_try_help();
	}
	if (sp_args.spool && (optind < argc || o.film)) {
		fm_warn("--spool takes its tasks from the spool: %s",
			o.film ? "-o has no film to name" : "no FILE operands");
		fm_try_help();
	}
	if (sp_args.spool && film_uri) {
		fm_warn("--spool takes its tasks from the spool: -o has no film to name");
		fm_try_help();
	}
	if ((film_uri || upload_uri) && fm_s3_out_init(&s3out, film_uri, upload_uri, url_ttl,
						       o.output_dir, &local_film, &err) < 0) {
		fm_warn("%s", err.message);
		fm_try_help();
	}
	if (film_uri)
		o.film = local_film;
	if (film_uri || upload_uri) {
		o.on_result = fm_s3_out_result;
		o.result_ctx = &s3out;
		s3out.s3.http.cancelled = upload_stopped;
	}
	cdir = fm_xdg_dir("XDG_CACHE_HOME", ".cache");
	o.cache_dir = cdir;
	signal(SIGPIPE, SIG_IGN);
	/* Past ulimit -f a write fails (EFBIG) and is reported, not fatal. */
	signal(SIGXFSZ, SIG_IGN);
	/*
	 * No SA_RESTART: a signal must wake the loop out of poll(2).
	 * SA_SIGINFO: who sent it, as a plugin's own signal is its task's fault.
	 * One handler at a time: it reads /proc to find the sender's plugin.
	 */
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (sp_args.spool) {
		status = spool_main(&sp_args, &o);
		fm_s3_out_release(&s3out);
		json_object_put(o.limits);
		free(cdir);
		return status;
	}
	fm_writer_init(&out, 1);
	if (fm_exec_new(&x, &o, &out, &err) < 0)
		fm_die(FM_EXIT_FAILED, "%s", err.message);
	status = fm_each_input(argv + optind, argc - optind, run_fd, x);
	finish = fm_exec_finish(x);
	if (finish == FM_OUTCOME_INTERRUPTED || status == FM_EXIT_OK)
		status = fm_exit_status(finish);
	/* -o promised a film: tasks without a combine task make none. */
	if (o.film && !fm_exec_film_task(x) && status != FM_EXIT_INTERRUPTED) {
		fm_warn("-o %s: no film was made: the input held no combine task "
			"(filmeto-submit --storyboard FILE makes one)",
			o.film);
		if (status == FM_EXIT_OK)
			status = FM_EXIT_FAILED;
	}
	/* fm_exec_finish made it a failure already; EPIPE is not said. */
	fm_stdout_error(out.failed);
	fm_exec_free(x);
	fm_writer_release(&out);
	json_object_put(o.limits);
	fm_s3_out_release(&s3out);
	free(local_film);
	free(sbatch_args);
	free(cdir);
	return status;
}
