/*
 * The operator's commands on jobs: `handoff logs JOB [--follow]`,
 * `handoff cancel JOB`, `handoff retry JOB`.
 */
#ifndef HANDOFF_CONTROL_H
#define HANDOFF_CONTROL_H

#include "config.h"

int control_logs(const struct config *cfg, int argc, char **argv);
int control_cancel(const struct config *cfg, int argc, char **argv);
int control_retry(const struct config *cfg, int argc, char **argv);

#endif
