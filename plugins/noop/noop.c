/*
 * noop: the smallest plugin there is. Every task succeeds at once with no
 * outputs, so what is measured through it is filmeto itself.
 */
#include "filmeto.h"

static int execute(struct fm_plugin_ctx *ctx, const struct fm_task *task, const char *output_dir,
		   struct fm_result *res)
{
	(void)ctx;
	(void)task;
	(void)output_dir;
	(void)res;
	return 0;
}

static const struct fm_plugin_def def = {"noop", "1.0.0", execute};

int main(int argc, char **argv)
{
	return fm_plugin_main(argc, argv, &def);
}
