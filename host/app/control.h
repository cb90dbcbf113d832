// The host's control loop input: signals, the session and the reload watcher
// post what happened; the main thread acts on it one item at a time. This is
// how "signals only set a flag / wake a loop" is kept: no work happens where
// an event is noticed.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <string>

#include "host/base/mutex.h"
#include "host/plugins/generation_loader.h"

namespace nitric::host {

struct ControlEvent {
  enum Kind {
    kReady,   // every wanted stream is registered
    kReload,  // SIGHUP or the plugins folder changed
    kStop,    // SIGTERM / SIGINT
    kExit,    // the session cannot go on (build mode); `code` is the exit code
  };
  Kind kind;
  int code = 0;
  std::string reason;  // for the log line
  // kReload: called on the main thread with the reload's report once the
  // generation is published (POST /reload answers with it). May be empty.
  std::function<void(const GenerationReport&)> on_reloaded = {};
};

// Thread-safe.
class ControlQueue {
 public:
  void Post(ControlEvent event) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
  }

  // Blocks until an event is posted.
  ControlEvent Wait() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    while (events_.empty()) mu_.Wait(cv_);
    ControlEvent event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<ControlEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nitric::host
