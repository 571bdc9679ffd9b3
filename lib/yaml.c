/*
 * YAML to json-c through libyaml's document loader. Plain scalars are
 * typed by YAML 1.2's core schema; quoted ones stay strings. Aliases are
 * followed, so a node budget (FM_YAML_NODES) keeps an alias bomb from
 * expanding without bound. Every object and array keeps its source line
 * as json-c userdata, so later checks can say where a problem is.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"
#include "yaml.h"

struct conv {
	yaml_document_t *doc;
	const char *name;
	size_t budget;
	struct fm_error *err;
};

static void set_line(json_object *o, size_t line)
{
	json_object_set_userdata(o, (void *)(uintptr_t)line, NULL);
}

int fm_yaml_line(json_object *obj)
{
	if (!obj || (!json_object_is_type(obj, json_type_object) &&
		     !json_object_is_type(obj, json_type_array)))
		return 0;
	return (int)(uintptr_t)json_object_get_userdata(obj);
}

/* Whether s is non-empty and made only of characters in set. */
static int all_in(const char *s, const char *set)
{
	return *s && s[strspn(s, set)] == '\0';
}

/* YAML 1.2 core schema: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int core_float(const char *s)
{
	const char *p = s + (*s == '-' || *s == '+');
	size_t before = strspn(p, "0123456789"), after = 0;

	p += before;
	if (*p == '.') {
		after = strspn(p + 1, "0123456789");
		p += 1 + after;
	}
	if (!before && !after)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '-' || *p == '+';
		if (!all_in(p, "0123456789"))
			return 0;
		return 1;
	}
	return *p == '\0';
}

static json_object *plain_scalar(const char *s)
{
	const char *u = s + (*s == '-' || *s == '+');
	int base = 0;
	char *end;

	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return NULL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_object_new_boolean(1);
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_object_new_boolean(0);
	if (all_in(u, "0123456789"))
		base = 10;
	else if (!strncmp(s, "0x", 2) && all_in(s + 2, "0123456789abcdefABCDEF"))
		base = 16;
	else if (!strncmp(s, "0o", 2) && all_in(s + 2, "01234567"))
		base = 8;
	if (base) {
		long long v;

		errno = 0;
		v = strtoll(base == 10 ? s : s + 2, &end, base);
		if (!errno && !*end)
			return json_object_new_int64(v);
	}
	if (core_float(s)) {
		double d = strtod(s, &end);

		if (isfinite(d))
			return fm_json_new_number(d, s);
	}
	return json_object_new_string(s);
}

static int convert(struct conv *c, yaml_node_t *node, int depth, json_object **out);

static int convert_mapping(struct conv *c, yaml_node_t *node, int depth, json_object *o)
{
	yaml_node_pair_t *pair;

	for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
		json_object *val;

		if (!k || k->type != YAML_SCALAR_NODE)
			return fm_error(c->err, FM_VALIDATION_ERROR,
					"%s:%zu:%zu: mapping keys must be scalars", c->name,
					node->start_mark.line + 1, node->start_mark.column + 1);
		if (convert(c, v, depth + 1, &val) < 0)
			return -1;
		json_object_object_add(o, (const char *)k->data.scalar.value, val);
	}
	return 0;
}

static int convert(struct conv *c, yaml_node_t *node, int depth, json_object **out)
{
	yaml_node_item_t *item;
	json_object *o;

	*out = NULL;
	if (!node)
		return 0;
	if (depth > FM_JSON_DEPTH || c->budget == 0)
		return fm_error(
		    c->err, FM_VALIDATION_ERROR,
		    "%s:%zu: document too deep or too large (limits: depth %d, %d nodes)", c->name,
		    node->start_mark.line + 1, FM_JSON_DEPTH, FM_YAML_NODES);
	c->budget--;
	switch (node->type) {
	case YAML_SCALAR_NODE:
		if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			*out = plain_scalar((const char *)node->data.scalar.value);
		else
			*out = json_object_new_string_len((const char *)node->data.scalar.value,
							  (int)node->data.scalar.length);
		return 0;
	case YAML_SEQUENCE_NODE:
		o = json_object_new_array();
		set_line(o, node->start_mark.line + 1);
		for (item = node->data.sequence.items.start; item < node->data.sequence.items.top;
		     item++) {
			json_object *v;

			if (convert(c, yaml_document_get_node(c->doc, *item), depth + 1, &v) < 0) {
				json_object_put(o);
				return -1;
			}
			json_object_array_add(o, v);
		}
		*out = o;
		return 0;
	case YAML_MAPPING_NODE:
		o = json_object_new_object();
		set_line(o, node->start_mark.line + 1);
		if (convert_mapping(c, node, depth, o) < 0) {
			json_object_put(o);
			return -1;
		}
		*out = o;
		return 0;
	default: return 0;
	}
}

int fm_yaml_parse(const char *buf, size_t len, const char *name, json_object **out,
		  struct fm_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv c = {&doc, name, FM_YAML_NODES, err};
	int rc;

	*out = NULL;
	if (len > FM_YAML_MAX)
		return fm_error(err, FM_VALIDATION_ERROR, "%s: larger than %d bytes", name,
				FM_YAML_MAX);
	if (!yaml_parser_initialize(&parser))
		return fm_error(err, FM_VALIDATION_ERROR, "%s: out of memory", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = fm_error(err, FM_VALIDATION_ERROR, "%s:%zu:%zu: %s%s%s", name,
			      parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			      parser.problem ? parser.problem : "YAML error",
			      parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return rc;
	}
	rc = convert(&c, yaml_document_get_root_node(&doc), 0, out);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}
