/*
 * `handoff backup`: a consistent copy of the store while serve runs.
 */
#ifndef HANDOFF_BACKUP_H
#define HANDOFF_BACKUP_H

#include "config.h"

/* `handoff backup [--force] FILE`. Returns the exit status. */
int backup_main(const struct config *cfg, int argc, char **argv);

#endif
