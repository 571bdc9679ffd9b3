/*
 * "{{name}}" templates over json-c values, and dotted paths into replies.
 * A template is written by a user (config.yaml, a task parameter), so it
 * is walked with bounds on depth and size, and a placeholder it names but
 * the task does not fill is an error rather than a silent empty string:
 * a service handed "{{promt}}" would answer with something useless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "template.h"
#include "util.h"

struct fill {
	json_object *vars;
	size_t size; /* bytes of output so far, roughly its compact JSON */
	char path[FM_TEMPLATE_PATH_MAX];
	size_t plen;
	struct fm_error *err;
};

static int is_name_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/*
 * Whether s (of len bytes) starts with a placeholder; sets the name's
 * start and length and the placeholder's whole length.
 */
static int placeholder_at(const char *s, size_t len, const char **name, size_t *nlen, size_t *whole)
{
	size_t i = 2, start;

	if (len < 5 || s[0] != '{' || s[1] != '{')
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	start = i;
	if (i >= len || !is_name_start((unsigned char)s[i]))
		return 0;
	while (i < len && is_name_char((unsigned char)s[i]))
		i++;
	if (i - start > FM_TEMPLATE_NAME_MAX)
		return 0;
	*name = s + start;
	*nlen = i - start;
	while (i < len && s[i] == ' ')
		i++;
	if (i + 1 >= len || s[i] != '}' || s[i + 1] != '}')
		return 0;
	*whole = i + 2;
	return 1;
}

/* Index i of an array as a path segment: plain decimal digits only. */
static int segment_index(const char *seg, size_t len, size_t *idx)
{
	size_t i, v = 0;

	if (!len || len > 9)
		return 0;
	for (i = 0; i < len; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return 0;
		v = v * 10 + (size_t)(seg[i] - '0');
	}
	*idx = v;
	return 1;
}

/* Like fm_json_path, but tells a JSON null found from nothing found. */
static int path_get(json_object *root, const char *path, size_t plen, json_object **val)
{
	char key[FM_TEMPLATE_NAME_MAX + 1];
	const char *seg = path, *end = path + plen, *dot;
	json_object *cur = root;
	size_t len, idx;

	*val = NULL;
	if (!plen) {
		*val = root;
		return 1;
	}
	while (seg <= end) {
		dot = memchr(seg, '.', (size_t)(end - seg));
		len = (size_t)((dot ? dot : end) - seg);
		if (!len || len > FM_TEMPLATE_NAME_MAX)
			return 0;
		if (json_object_is_type(cur, json_type_object)) {
			memcpy(key, seg, len);
			key[len] = '\0';
			if (!json_object_object_get_ex(cur, key, &cur))
				return 0;
		} else if (json_object_is_type(cur, json_type_array)) {
			if (!segment_index(seg, len, &idx) || idx >= json_object_array_length(cur))
				return 0;
			cur = json_object_array_get_idx(cur, idx);
		} else {
			return 0;
		}
		if (!dot)
			break;
		seg = dot + 1;
	}
	*val = cur;
	return 1;
}

json_object *fm_json_path(json_object *root, const char *path)
{
	json_object *v;

	if (!root || !path)
		return NULL;
	return path_get(root, path, strlen(path), &v) ? v : NULL;
}

static int lookup(struct fill *f, const char *name, size_t nlen, json_object **val)
{
	char key[FM_TEMPLATE_NAME_MAX + 1];

	memcpy(key, name, nlen);
	key[nlen] = '\0';
	if (json_object_is_type(f->vars, json_type_object) &&
	    json_object_object_get_ex(f->vars, key, val))
		return 0;
	if (memchr(name, '.', nlen) && f->vars && path_get(f->vars, name, nlen, val))
		return 0;
	return fm_error(f->err, FM_VALIDATION_ERROR, "template: unknown placeholder '{{%s}}' at %s",
			key, f->plen ? f->path : "the top");
}

/* Adds the name and the path to the error lookup() made. */
static int unknown(struct fill *f, const char *name, size_t nlen)
{
	fm_error_detail(f->err, "placeholder", json_object_new_string_len(name, (int)nlen));
	fm_error_detail(f->err, "path", json_object_new_string(f->path));
	return -1;
}

static int too_big(struct fill *f, size_t add)
{
	if (add > FM_TEMPLATE_OUT_MAX || f->size + add > FM_TEMPLATE_OUT_MAX)
		return fm_error(f->err, FM_VALIDATION_ERROR,
				"template: filled template larger than %d bytes at %s",
				FM_TEMPLATE_OUT_MAX, f->plen ? f->path : "the top");
	f->size += add;
	return 0;
}

/* Depth of v, counted up to limit + 1. */
static int depth_of(json_object *v, int limit)
{
	int d = 0, sub;
	size_t i, n;

	if (limit < 0)
		return 1;
	if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (i = 0; i < n && d <= limit; i++) {
			sub = depth_of(json_object_array_get_idx(v, i), limit - 1);
			if (sub > d)
				d = sub;
		}
		return d + 1;
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach (v, k, val) {
			(void)k;
			sub = depth_of(val, limit - 1);
			if (sub > d)
				d = sub;
			if (d > limit)
				break;
		}
		return d + 1;
	}
	return 0;
}

static const char *value_text(json_object *v, size_t *len)
{
	const char *s;

	if (!v) {
		*len = 0;
		return "";
	}
	if (json_object_is_type(v, json_type_string)) {
		*len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	}
	s = json_object_to_json_string_ext(v,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	*len = strlen(s);
	return s;
}

static json_object *copy(json_object *v)
{
	json_object *c = NULL;

	if (!v)
		return NULL;
	/* A value json-c cannot copy (a custom serializer) is shared instead. */
	if (json_object_deep_copy(v, &c, NULL) != 0)
		return json_object_get(v);
	return c;
}

static int fill_value(struct fill *f, json_object *in, int depth, json_object **out);

static int fill_string(struct fill *f, json_object *in, int depth, json_object **out)
{
	const char *s = json_object_get_string(in), *name, *text;
	size_t len = (size_t)json_object_get_string_len(in), nlen, whole, tlen, i = 0;
	json_object *val;
	struct fm_buf buf = FM_BUF_INIT;

	if (placeholder_at(s, len, &name, &nlen, &whole) && whole == len) {
		if (lookup(f, name, nlen, &val) < 0)
			return unknown(f, name, nlen);
		if (depth + depth_of(val, FM_JSON_DEPTH) > FM_JSON_DEPTH)
			return fm_error(f->err, FM_VALIDATION_ERROR,
					"template: deeper than %d levels at %s", FM_JSON_DEPTH,
					f->plen ? f->path : "the top");
		value_text(val, &tlen);
		if (too_big(f, tlen + 2) < 0)
			return -1;
		*out = copy(val);
		return 0;
	}
	if (!memchr(s, '{', len)) {
		if (too_big(f, len + 2) < 0)
			return -1;
		*out = json_object_new_string_len(s, (int)len);
		return 0;
	}
	while (i < len) {
		if (s[i] == '{' && placeholder_at(s + i, len - i, &name, &nlen, &whole)) {
			if (lookup(f, name, nlen, &val) < 0) {
				fm_buf_release(&buf);
				return unknown(f, name, nlen);
			}
			text = value_text(val, &tlen);
			i += whole;
		} else {
			text = s + i;
			tlen = 1;
			i++;
		}
		if (too_big(f, tlen) < 0) {
			fm_buf_release(&buf);
			return -1;
		}
		fm_buf_add(&buf, text, tlen);
	}
	*out = json_object_new_string_len(fm_buf_str(&buf), (int)buf.len);
	fm_buf_release(&buf);
	return too_big(f, 2);
}

/* Appends ".seg" to the path (cut when too long); returns the old length. */
static size_t path_push(struct fill *f, const char *seg)
{
	size_t old = f->plen;
	int n =
	    snprintf(f->path + f->plen, sizeof(f->path) - f->plen, "%s%s", f->plen ? "." : "", seg);

	if (n > 0)
		f->plen += (size_t)n;
	if (f->plen >= sizeof(f->path))
		f->plen = sizeof(f->path) - 1;
	return old;
}

static void path_pop(struct fill *f, size_t old)
{
	f->plen = old;
	f->path[old] = '\0';
}

static int fill_array(struct fill *f, json_object *in, int depth, json_object **out)
{
	size_t i, n = json_object_array_length(in), old;
	json_object *arr = json_object_new_array_ext((int)n), *v;
	char seg[24];

	for (i = 0; i < n; i++) {
		snprintf(seg, sizeof(seg), "%zu", i);
		old = path_push(f, seg);
		if (fill_value(f, json_object_array_get_idx(in, i), depth + 1, &v) < 0) {
			json_object_put(arr);
			return -1;
		}
		path_pop(f, old);
		json_object_array_add(arr, v);
	}
	*out = arr;
	return too_big(f, 2 + n);
}

static int fill_object(struct fill *f, json_object *in, int depth, json_object **out)
{
	json_object *obj = json_object_new_object(), *v;
	size_t old;

	json_object_object_foreach (in, key, val) {
		if (too_big(f, strlen(key) + 4) < 0) {
			json_object_put(obj);
			return -1;
		}
		old = path_push(f, key);
		if (fill_value(f, val, depth + 1, &v) < 0) {
			json_object_put(obj);
			return -1;
		}
		path_pop(f, old);
		json_object_object_add(obj, key, v);
	}
	*out = obj;
	return too_big(f, 2);
}

static int fill_value(struct fill *f, json_object *in, int depth, json_object **out)
{
	size_t len;

	*out = NULL;
	if (depth > FM_JSON_DEPTH &&
	    (json_object_is_type(in, json_type_array) || json_object_is_type(in, json_type_object)))
		return fm_error(f->err, FM_VALIDATION_ERROR,
				"template: deeper than %d levels at %s", FM_JSON_DEPTH,
				f->plen ? f->path : "the top");
	switch (json_object_get_type(in)) {
	case json_type_string: return fill_string(f, in, depth, out);
	case json_type_array: return fill_array(f, in, depth, out);
	case json_type_object: return fill_object(f, in, depth, out);
	case json_type_null: return too_big(f, 4);
	default:
		value_text(in, &len);
		if (too_big(f, len) < 0)
			return -1;
		*out = copy(in);
		return 0;
	}
}

int fm_template_fill(json_object *tmpl, json_object *vars, json_object **out, struct fm_error *err)
{
	struct fill f;

	memset(&f, 0, sizeof(f));
	f.vars = vars;
	f.err = err;
	*out = NULL;
	if (fill_value(&f, tmpl, 1, out) < 0) {
		json_object_put(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static void alias(json_object *vars, json_object *params, const char *name, const char *from)
{
	const char *v = fm_json_get_string(params, from);

	if (v && !json_object_object_get_ex(vars, name, NULL))
		json_object_object_add(vars, name, json_object_new_string(v));
}

json_object *fm_template_vars(json_object *params, json_object *const *layers, size_t n)
{
	json_object *vars = NULL;
	size_t i;

	if (!params || json_object_deep_copy(params, &vars, NULL) != 0)
		vars = json_object_new_object();
	for (i = 0; i < n; i++) {
		if (!layers[i])
			continue;
		json_object_object_foreach (layers[i], k, v) {
			if (!json_object_object_get_ex(vars, k, NULL))
				json_object_object_add(vars, k, json_object_get(v));
		}
	}
	alias(vars, params, "prompt", "text");
	alias(vars, params, "text", "prompt");
	return vars;
}
