/*
 * Errors as values. The library never prints and never exits: a function
 * that fails fills a struct fm_error with one of the DESIGN §2 codes and a
 * message, and returns -1. Commands decide what to say and how to exit.
 */
#ifndef FM_ERROR_H
#define FM_ERROR_H

#include <json-c/json.h>

enum fm_code {
	FM_OK = 0,
	FM_VALIDATION_ERROR,
	FM_PLUGIN_NOT_FOUND,
	FM_PLUGIN_EXECUTION_ERROR,
	FM_RESOURCE_PROCESSING_ERROR,
	FM_TIMEOUT_ERROR,
	FM_TASK_CANCELLED,
	FM_DEPENDENCY_FAILED,
	FM_SERVICE_ERROR,
	FM_RATE_LIMIT_EXCEEDED,
	FM_TASK_NOT_FOUND,
};

/*
 * How a run of work ended: the executor and the spool worker say what
 * happened and a command turns it into its exit status with the one
 * table in lib/msg.h (fm_exit_status). Each is an exit status of its own
 * in every man page.
 */
enum fm_outcome {
	FM_OUTCOME_OK = 0,	/* every task succeeded */
	FM_OUTCOME_TASK_FAILED, /* a task failed or was cancelled, or a line was lost */
	FM_OUTCOME_INVALID,	/* usage or validation: the input was refused */
	FM_OUTCOME_UNFINISHED,	/* tasks are still queued or running */
	FM_OUTCOME_INTERRUPTED, /* a signal stopped the work */
	FM_OUTCOME_EMPTY,	/* the stream named no task at all */
};

/* A message longer than this is cut; messages are one line for a person. */
#define FM_ERROR_MAX 1024

struct fm_error {
	enum fm_code code;
	char message[FM_ERROR_MAX];
	json_object *details; /* owned; NULL or an object */
};

#define FM_ERROR_INIT                                                                              \
	{                                                                                          \
		FM_OK, "", NULL                                                                    \
	}

/*
 * Sets code and message and returns -1, so `return fm_error(err, ...)`
 * reads as what it does. A format ending in ':' gets ": strerror(errno)"
 * appended. err may be NULL.
 */
int fm_error(struct fm_error *err, enum fm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds (owning) val under key in err->details. */
void fm_error_detail(struct fm_error *err, const char *key, json_object *val);
void fm_error_release(struct fm_error *err);
/* Moves src into dst (dst released first); src is left empty. */
void fm_error_move(struct fm_error *dst, struct fm_error *src);

const char *fm_code_name(enum fm_code code);
/* Returns 0 and sets *code, or -1 for a name that is not a DESIGN §2 code. */
int fm_code_parse(const char *name, enum fm_code *code);
/* {"code":…,"message":…,"details":…} */
json_object *fm_error_to_json(const struct fm_error *err);
/* Reads the object above; an unknown code becomes fallback. */
void fm_error_from_json(struct fm_error *err, json_object *obj, enum fm_code fallback);

#endif
