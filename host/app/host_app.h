// The running host: wires membrane session → dispatcher → generation →
// plugins together and runs the control loop until SIGTERM/SIGINT (or, in
// build mode, until the membrane ends the streams).
//
// Start-up order: dev membrane (--dev) → channel and membrane client →
// dispatcher → session (idle until told what to declare) → plugins (generation
// 1, published; its declarations go to the session) → "ready".
// Shutdown order (graceful): stop taking events → let the dispatcher finish
// every accepted event (their answers queued) → flush the answers and close
// the streams → shut the plugins down → stop the dev membrane.
#pragma once

#include "host/app/cli.h"
#include "host/config/config.h"

namespace nitric::host {

// Runs the host and returns the process exit code: 0 after a graceful stop,
// 1 when it cannot run (dev membrane failed to start, build mode failed).
// REQUIRES: BlockControlSignals() and SetupLogging() were called.
int RunHost(const HostConfig& config, const CliOptions& cli);

}  // namespace nitric::host
