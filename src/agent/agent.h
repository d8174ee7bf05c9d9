/* agent.h - `berth agent`, the daemon inside a workspace.
 *
 * It dials the server (BERTH_URL) with its build's token (BERTH_AGENT_TOKEN), reads its
 * manifest, runs the run_on_start scripts in order (their output goes to the server as agent
 * logs) and reports its lifecycle: starting, then ready once every start_blocks_login script
 * succeeded (start_error / start_timeout otherwise). It keeps one request stream open (SSE),
 * runs each request (exec, processes, files: agent/ops.h) on its own thread and posts the
 * result back; it heartbeats, and reconnects with backoff and jitter when the server goes
 * away. On SIGTERM it runs the run_on_stop scripts, reports shutting_down then off, and exits.
 *
 * It uses libevent's HTTP client (no libcurl) so that an idle agent stays small. Plain HTTP
 * only: put a TLS-terminating proxy in front of a remote server.
 */
#ifndef BERTH_AGENT_AGENT_H
#define BERTH_AGENT_AGENT_H

/* `berth agent [--url URL] [--token TOKEN]`; returns the exit status. */
int agent_main(int argc, char **argv);

#endif
