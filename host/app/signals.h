// Turning SIGTERM, SIGINT and SIGHUP into control events, and bounding how
// long a stop may take.
//
// The signals are blocked in every thread (BlockControlSignals() runs first in
// main, and threads inherit the mask) and a dedicated thread takes them with
// sigwait(): no code runs in signal-handler context at all.
//
// Stopping (docs/ARCHITECTURE.md#shutdown): the first SIGTERM or SIGINT posts
// kStop and starts the stop deadline (host.shutdown_timeout_ms). If the process is still there
// when it passes (a handler that never returns, a plugin init that hangs in a
// reload or in --check), the watcher calls StopHooks::on_timeout, which logs
// what is still running, and the process exits 1 at once. A second SIGTERM or
// SIGINT exits 1 at once, without waiting. Exiting is _exit(): no destructor
// runs, since some thread may still be inside a plugin's code.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "host/app/control.h"
#include "host/base/mutex.h"

namespace nitric::host {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and ignores
// SIGPIPE. REQUIRES: called before any other thread is started.
void BlockControlSignals();

struct StopHooks {
  // How long a stop may take after it started (host.shutdown_timeout_ms).
  std::chrono::milliseconds timeout{30000};
  // Runs on the watcher's thread when the deadline passed; logs what is
  // still running. May be empty. The process exits 1 right after.
  std::function<void()> on_timeout;
};

class SignalWatcher {
 public:
  // Starts the sigwait thread; `queue` must outlive the watcher.
  SignalWatcher(ControlQueue* queue, StopHooks hooks = {});
  // Stops and joins the thread.
  ~SignalWatcher();

  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Starts the stop deadline without a signal (the host stops on its own).
  // Idempotent: the first start counts. Thread-safe.
  void StartStopDeadline();

 private:
  void Run();
  // Flushes the logs and _exit(1).
  [[noreturn]] static void ExitNow();

  ControlQueue* const queue_;
  const StopHooks hooks_;
  std::atomic<bool> stopping_{false};
  Mutex mu_;
  bool stop_started_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point deadline_ ABSL_GUARDED_BY(mu_);  // once stop_started_
  std::thread thread_;
};

}  // namespace nitric::host
