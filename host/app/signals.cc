#include "host/app/signals.h"

#include <pthread.h>
#include <signal.h>

namespace nitric::host {

namespace {

sigset_t ControlSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockControlSignals() {
  const sigset_t set = ControlSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer that goes away must not kill the host.
  signal(SIGPIPE, SIG_IGN);
}

SignalWatcher::SignalWatcher(ControlQueue* queue) : queue_(queue) {
  thread_ = std::thread([this] { Run(); });
}

SignalWatcher::~SignalWatcher() {
  stopping_.store(true);
  // Wakes sigwait(); the thread sees stopping_ and returns.
  pthread_kill(thread_.native_handle(), SIGHUP);
  thread_.join();
}

void SignalWatcher::Run() {
  const sigset_t set = ControlSignals();
  for (;;) {
    int signo = 0;
    if (sigwait(&set, &signo) != 0) continue;
    if (stopping_.load()) return;
    if (signo == SIGHUP) {
      queue_->Post({ControlEvent::kReload, 0, "SIGHUP"});
    } else {
      queue_->Post({ControlEvent::kStop, 0, signo == SIGTERM ? "SIGTERM" : "SIGINT"});
    }
  }
}

}  // namespace nitric::host
