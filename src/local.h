/*
 * `handoff run`: one job on a local repository, run in the foreground.
 */
#ifndef HANDOFF_LOCAL_H
#define HANDOFF_LOCAL_H

#include "config.h"

/* `handoff run --repo DIR (--task TEXT | --task-file F) [--branch NAME]`. */
int local_main(const struct config *cfg, int argc, char **argv);

#endif
