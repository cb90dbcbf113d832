#include "host/app/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <spdlog/spdlog.h>

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

const char* StopName(int signo) { return signo == SIGTERM ? "SIGTERM" : "SIGINT"; }

}  // namespace

void BlockControlSignals() {
  const sigset_t set = ControlSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer that goes away must not kill the host.
  signal(SIGPIPE, SIG_IGN);
}

SignalWatcher::SignalWatcher(ControlQueue* queue, StopHooks hooks)
    : queue_(queue), hooks_(std::move(hooks)) {
  thread_ = std::thread([this] { Run(); });
}

SignalWatcher::~SignalWatcher() {
  stopping_.store(true);
  // Wakes sigwait(); the thread sees stopping_ and returns.
  pthread_kill(thread_.native_handle(), SIGHUP);
  thread_.join();
}

void SignalWatcher::StartStopDeadline() {
  {
    MutexLock lock(&mu_);
    if (stop_started_) return;
    stop_started_ = true;
    deadline_ = std::chrono::steady_clock::now() + hooks_.timeout;
  }
  // Wakes the thread so that it waits with the deadline from now on; it
  // tells this SIGHUP from a reload by stop_started_.
  pthread_kill(thread_.native_handle(), SIGHUP);
}

void SignalWatcher::ExitNow() {
  if (auto logger = spdlog::default_logger()) logger->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(1);
}

void SignalWatcher::Run() {
  const sigset_t set = ControlSignals();
  for (;;) {
    bool stop_started;
    std::chrono::steady_clock::time_point deadline;
    {
      MutexLock lock(&mu_);
      stop_started = stop_started_;
      deadline = deadline_;
    }
    int signo = 0;
    if (stop_started) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) {
        if (stopping_.load()) return;
        spdlog::error("stopping took longer than host.shutdown_timeout_ms ({} ms): exiting 1",
                      hooks_.timeout.count());
        if (hooks_.on_timeout) hooks_.on_timeout();
        ExitNow();
      }
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec wait{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      signo = sigtimedwait(&set, nullptr, &wait);
      if (signo < 0) continue;  // EAGAIN (deadline: checked above) or EINTR
    } else if (sigwait(&set, &signo) != 0) {
      continue;
    }
    if (stopping_.load()) return;
    if (signo == SIGHUP) {
      // While stopping a reload is pointless, and this may be the wake-up
      // from StartStopDeadline().
      if (!stop_started) {
        MutexLock lock(&mu_);
        if (stop_started_) continue;
      }
      if (!stop_started) queue_->Post({ControlEvent::kReload, 0, "SIGHUP"});
      continue;
    }
    if (stop_started) {
      spdlog::warn("{} while stopping: exiting 1 at once, without waiting for running handlers",
                   StopName(signo));
      ExitNow();
    }
    StartStopDeadline();
    spdlog::info(
        "{}: stopping within host.shutdown_timeout_ms ({} ms); send it again to exit at "
        "once",
        StopName(signo), hooks_.timeout.count());
    queue_->Post({ControlEvent::kStop, 0, StopName(signo)});
  }
}

}  // namespace nitric::host
