/*
 * The egress proxy of one job (`handoff proxy --job N`): HTTP CONNECT and
 * plain-HTTP requests from the sandbox's bridge, on a unix socket in the
 * job's directory, to the hosts egress.c allows. It holds no secret.
 */
#ifndef HANDOFF_PROXY_H
#define HANDOFF_PROXY_H

#include "config.h"

/* The subcommand: `proxy --job N [--ready FD]`. Returns the exit status. */
int proxy_main(const struct config *cfg, int argc, char **argv);

#endif
