/*
 * A tiny TAP producer for the library's unit tests: "ok N - name" or
 * "not ok N - name" plus "# file:line: expr", the plan "1..N" at the end,
 * and exit status 1 when anything failed.
 */
#ifndef TAP_H
#define TAP_H

#include <stddef.h>
#include <json-c/json.h>

int tap_ok(int pass, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int tap_is_str(const char *got, const char *want, const char *file, int line, const char *expr,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int tap_is_int(long long got, long long want, const char *file, int line, const char *expr,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int tap_has(const char *hay, const char *needle, const char *file, int line, const char *expr,
	    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the plan; the exit status for main. */
int tap_done(void);

#define OK(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define IS_STR(got, want, ...)                                                                     \
	tap_is_str((got), (want), __FILE__, __LINE__, #got " == " #want, __VA_ARGS__)
#define IS_INT(got, want, ...)                                                                     \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got " == " #want,     \
		   __VA_ARGS__)
#define HAS(hay, needle, ...)                                                                      \
	tap_has((hay), (needle), __FILE__, __LINE__, #hay " contains " #needle, __VA_ARGS__)

/* Scratch space: a fresh directory under $TMPDIR or /tmp, removed whole. */
char *tmp_dir(void);
void rm_rf(const char *path);
/* Writes text to dir/name; returns the path (caller frees). */
char *write_file(const char *dir, const char *name, const char *text);
/* fm_json_parse of a C string, without an error value. */
int parse_json(const char *text, json_object **out);
/* Whether s matches the extended regular expression re. */
int matches(const char *s, const char *re);

/* The groups, one per library module; each in its own file. */
void test_error(void);
void test_util(void);
void test_digest(void);
void test_fs(void);
void test_ndjson(void);
void test_model(void);
void test_rpc(void);
void test_yaml(void);
void test_manifest(void);
void test_params(void);
void test_proc(void);
void test_scaffold(void);
void test_render(void);
void test_http(void);
void test_s3(void);
void test_sdk(void);
void test_template(void);
void test_spool(void);
void test_plan(void);
void test_idtab(void);
void test_addr(void);
void test_dispatch(void);
void test_tally(void);
void test_follow(void);
void test_slurm(void);
void test_serve_route(void);
void test_serve_web(void);
void test_serve_limits(void);
void test_serve_openai(void);

#endif
