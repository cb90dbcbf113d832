// Turning SIGTERM, SIGINT and SIGHUP into control events.
//
// The signals are blocked in every thread (BlockControlSignals() runs first in
// main, and threads inherit the mask) and a dedicated thread takes them with
// sigwait(): no code runs in signal-handler context at all.
#pragma once

#include <atomic>
#include <thread>

#include "host/app/control.h"

namespace nitric::host {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and ignores
// SIGPIPE. REQUIRES: called before any other thread is started.
void BlockControlSignals();

class SignalWatcher {
 public:
  // Starts the sigwait thread; `queue` must outlive the watcher.
  explicit SignalWatcher(ControlQueue* queue);
  // Stops and joins the thread.
  ~SignalWatcher();

  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void Run();

  ControlQueue* const queue_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace nitric::host
