/*
 * `handoff deliver`: sign a sample delivery the way the forge does and POST
 * it to a running handoff.
 */
#ifndef HANDOFF_DELIVER_H
#define HANDOFF_DELIVER_H

#include "config.h"

/* argv after the subcommand word. Returns the exit status. */
int deliver_main(const struct config *cfg, int argc, char **argv);

#endif
