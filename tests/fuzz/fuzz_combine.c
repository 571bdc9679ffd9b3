/*
 * Fuzz target: a combine task's parameters. Any JSON must be accepted or
 * refused with a VALIDATION_ERROR message, never crash, leak or hang.
 */
#include <stdint.h>
#include <stdlib.h>

#include "filmeto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_error err = FM_ERROR_INIT;
	json_object *params = NULL;

	if (fm_json_parse((const char *)data, size, &params, NULL) < 0)
		return 0;
	if (fm_combine_check(params, "fuzz", &err) < 0 &&
	    (err.code != FM_VALIDATION_ERROR || !err.message[0]))
		abort();
	fm_error_release(&err);
	json_object_put(params);
	return 0;
}
