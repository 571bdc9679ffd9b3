/*
 * YAML to json-c (yaml.c), for manifests, config.yaml, presets and
 * storyboards: one document, typed by YAML 1.2's core schema, every
 * object and array keeping its source line for messages.
 *
 * Named after its job like every module here; libyaml's own header is
 * <yaml.h> too, which is why lib/ is on the quote path (-iquote) only.
 */
#ifndef FM_YAML_H
#define FM_YAML_H

#include <stddef.h>
#include <json-c/json.h>

#include "error.h"

/* Largest manifest or other YAML document read, and its node budget. */
#define FM_YAML_MAX   (1024 * 1024)
#define FM_YAML_NODES 100000

/*
 * Parses YAML (a single document) into JSON: plain scalars become null,
 * booleans, integers or numbers as YAML 1.2's core schema reads them;
 * quoted ones stay strings. Errors read "NAME:LINE:COL: problem". Each
 * object and array remembers its line: see fm_yaml_line().
 */
int fm_yaml_parse(const char *buf, size_t len, const char *name, json_object **out,
		  struct fm_error *err);
/* The 1-based source line of a value from fm_yaml_parse, or 0. */
int fm_yaml_line(json_object *obj);

#endif
