/*
 * `handoff serve`: one libevent loop for webhook intake, health and metrics,
 * with the store writer thread and the scheduler beside it.
 */
#ifndef HANDOFF_SERVE_H
#define HANDOFF_SERVE_H

#include "config.h"

/* Run the daemon until SIGTERM/SIGINT. Returns the exit status. */
int serve_main(struct config *cfg);

#endif
