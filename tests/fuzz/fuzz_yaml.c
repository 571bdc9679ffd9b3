/*
 * Fuzz target: YAML documents and plugin manifests. The input goes through
 * fm_yaml_parse, then is written as plugin.yaml into a scratch plugin
 * directory (made once, removed at exit; it holds a main.py for odd-sized
 * inputs, so both default commands are reached) and loaded with
 * fm_manifest_load; a manifest that loads has its tools' defaults filled
 * and validated. Errors must name the file. Everything is freed.
 *
 * FM_FUZZ_STRICT=1 in the environment also aborts when a parsed document
 * does not serialize back to valid JSON.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filmeto.h"

static char *dir, *manifest, *main_py;
static int strict;

static void cleanup(void)
{
	if (!dir)
		return;
	unlink(manifest);
	unlink(main_py);
	rmdir(dir);
}

static int setup(void)
{
	const char *base = getenv("TMPDIR");
	char *d;

	if (dir)
		return 0;
	d = fm_xasprintf("%s/filmeto-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(d)) {
		free(d);
		return -1;
	}
	dir = d;
	manifest = fm_xasprintf("%s/plugin.yaml", dir);
	main_py = fm_xasprintf("%s/main.py", dir);
	strict = getenv("FM_FUZZ_STRICT") && !strcmp(getenv("FM_FUZZ_STRICT"), "1");
	atexit(cleanup);
	return 0;
}

static int put_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t k = write(fd, data + off, size - off);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	close(fd);
	return off == size ? 0 : -1;
}

static void check_yaml(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *out = NULL, *back = NULL;
	const char *s;

	if (fm_yaml_parse((const char *)data, size, "fuzz.yaml", &out, &err) < 0) {
		if (out || err.code != FM_VALIDATION_ERROR ||
		    strncmp(err.message, "fuzz.yaml:", 10))
			abort();
		fm_error_release(&err);
		return;
	}
	if (out) {
		s = fm_json_str(out);
		(void)fm_yaml_line(out);
		if (strict && fm_json_parse(s, strlen(s), &back, &err) < 0)
			abort();
		json_object_put(back);
	}
	json_object_put(out);
	fm_error_release(&err);
}

static void check_tool(json_object *tool)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *params = json_object_new_object();
	json_object *defs = fm_json_get(tool, "parameters", json_type_array);
	size_t i;

	fm_params_fill_defaults(tool, params);
	fm_params_validate(tool, params, "fuzz-task", &err);
	fm_error_release(&err);
	for (i = 0; defs && i < json_object_array_length(defs); i++) {
		json_object *v = NULL;

		fm_param_from_string(json_object_array_get_idx(defs, i), "1", &v, &err);
		json_object_put(v);
		fm_error_release(&err);
	}
	json_object_put(params);
}

static void check_manifest(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	struct fm_manifest m;
	json_object *j;
	size_t i;

	if (size % 2)
		put_file(main_py, (const uint8_t *)"", 0);
	else
		unlink(main_py);
	if (put_file(manifest, data, size) < 0)
		return;
	if (fm_manifest_load(&m, dir, &err) < 0) {
		/* Every manifest error says which file. */
		if (!strstr(err.message, "plugin.yaml"))
			abort();
	} else {
		char folder[FM_PLUGIN_NAME_MAX + 1];

		if (!m.name || !m.argv || !m.argv[0] || !m.tools ||
		    !json_object_array_length(m.tools) || !fm_plugin_name_valid(m.name))
			abort();
		/* Whatever the name, its folder is one safe path component. */
		fm_plugin_folder(folder, sizeof(folder), m.name);
		if (!fm_id_valid(folder))
			abort();
		j = fm_manifest_to_json(&m);
		(void)fm_json_str(j);
		json_object_put(j);
		for (i = 0; i < json_object_array_length(m.tools); i++)
			check_tool(json_object_array_get_idx(m.tools, i));
	}
	fm_manifest_release(&m);
	fm_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (setup() < 0)
		return 0;
	check_yaml(data, size);
	check_manifest(data, size);
	return 0;
}
