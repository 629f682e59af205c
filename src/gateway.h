/*
 * The LLM gateway: a process beside one job's agent that holds the real
 * model API keys, takes only the job's own key, forwards the providers'
 * API paths upstream over TLS, streams the answers back and meters them.
 */
#ifndef HANDOFF_GATEWAY_H
#define HANDOFF_GATEWAY_H

#include "config.h"

/* `handoff gateway --job N [--ready FD]`: the job's key on stdin, "ready\n"
 * on FD once DATA_DIR/jobs/N/net/gateway.sock listens; serves until
 * SIGTERM. Returns the exit status. */
int gateway_main(const struct config *cfg, int argc, char **argv);

#endif
