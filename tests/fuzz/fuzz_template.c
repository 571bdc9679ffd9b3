/*
 * Fuzz target: templates and dotted paths. An input "@PATH\nDOC" looks
 * PATH up in the JSON document DOC with fm_json_path; any other input is
 * "TEMPLATE\n%%\nVARS", two JSON documents, and the template is filled
 * from the vars with fm_template_fill. A fill either fails with a
 * VALIDATION_ERROR and a message, or gives JSON that serializes and
 * parses back; filled without vars, a template that succeeds is unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filmeto.h"
#include "template.h"

static json_object *parse(const char *buf, size_t len)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *o = NULL;

	if (fm_json_parse(buf, len, &o, &err) < 0)
		o = NULL;
	fm_error_release(&err);
	return o;
}

static void check_fill(json_object *tmpl, json_object *vars)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *out = NULL, *back = NULL;
	const char *s;

	if (fm_template_fill(tmpl, vars, &out, &err) < 0) {
		if (out || err.code != FM_VALIDATION_ERROR || !err.message[0])
			abort();
		fm_error_release(&err);
		return;
	}
	s = fm_json_str(out);
	if (fm_json_parse(s, strlen(s), &back, &err) < 0)
		abort();
	if (!vars && !json_object_equal(out, tmpl))
		abort();
	json_object_put(back);
	json_object_put(out);
	fm_error_release(&err);
}

static void check_path(const char *path, size_t plen, const char *doc, size_t dlen)
{
	json_object *root = parse(doc, dlen), *v, *again;
	char *p = strndup(path, plen);

	if (!p)
		abort();
	v = fm_json_path(root, p);
	again = fm_json_path(root, p);
	if (v != again)
		abort();
	if (!*p && root && v != root)
		abort();
	if (v)
		(void)fm_json_str(v);
	free(p);
	json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl, *sep;
	json_object *tmpl, *vars;

	if (size && s[0] == '@') {
		nl = memchr(s, '\n', size);
		if (!nl)
			check_path(s + 1, size - 1, "", 0);
		else
			check_path(s + 1, (size_t)(nl - s - 1), nl + 1,
				   size - (size_t)(nl + 1 - s));
		return 0;
	}
	sep = memmem(s, size, "\n%%\n", 4);
	tmpl = parse(s, sep ? (size_t)(sep - s) : size);
	if (!tmpl)
		return 0;
	vars = sep ? parse(sep + 4, size - (size_t)(sep + 4 - s)) : NULL;
	check_fill(tmpl, NULL);
	if (vars)
		check_fill(tmpl, vars);
	json_object_put(vars);
	json_object_put(tmpl);
	return 0;
}
