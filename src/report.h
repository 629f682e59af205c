/*
 * `handoff jobs` and `handoff show`: the store read for people and scripts.
 */
#ifndef HANDOFF_REPORT_H
#define HANDOFF_REPORT_H

#include "config.h"
#include "store.h"

/* argv after the subcommand word. Each returns the exit status. */
int report_jobs(const struct config *cfg, int argc, char **argv);
int report_show(const struct config *cfg, int argc, char **argv);

/* The store for a command-line tool, or NULL after saying why on stderr. */
struct store *report_open_store(const struct config *cfg);

#endif
