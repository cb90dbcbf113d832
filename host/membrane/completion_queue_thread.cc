#include "host/membrane/completion_queue_thread.h"

#include <pthread.h>

#include <system_error>

#include <spdlog/spdlog.h>

namespace nitric::host {

CompletionQueueThread::CompletionQueueThread(const char* name) : name_(name) {
  std::lock_guard lock(mu_);
  StartThreadLocked();
}

CompletionQueueThread::~CompletionQueueThread() { Shutdown(); }

void CompletionQueueThread::StartThreadLocked() {
  Thread& t = threads_.emplace_back();
  try {
    // The new thread waits for mu_ (held here) before it looks at anything.
    t.thread = std::thread([this, &t] { Run(&t); });
  } catch (...) {
    threads_.pop_back();  // the turn stays where it was
    throw;
  }
  active_.store(&t, std::memory_order_release);
}

void CompletionQueueThread::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  cq_.Shutdown();
  // No thread starts after the queue drained (HandOff checks drained_), and
  // the list only grows under mu_: join outside it, one by one.
  for (;;) {
    std::thread* t = nullptr;
    {
      std::lock_guard lock(mu_);
      for (Thread& each : threads_) {
        if (each.thread.joinable()) {
          t = &each.thread;
          break;
        }
      }
    }
    if (t == nullptr) return;
    t->join();
  }
}

void CompletionQueueThread::HandOff(const void* turn) {
  std::lock_guard lock(mu_);
  if (active_.load(std::memory_order_relaxed) != turn || drained_) return;
  // The deferred work first (an operation's start: never completes inline,
  // so safe under mu_), before the turn passes: the next polling thread takes
  // mu_ before it polls, so whatever the work wrote is ordered before that
  // thread handles its completion, as ThreadSanitizer can see.
  if (std::shared_ptr<Deferred> deferred = std::move(ThreadOf(turn)->deferred)) {
    deferred->RunDeferred();
  }
  if (waiting_ > 0) {
    // No thread named: the first to look takes the turn (Run), the woken
    // standby or the thread giving it away, if its completion returns first.
    active_.store(nullptr, std::memory_order_release);
    standby_.notify_one();
    hand_offs_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  try {
    StartThreadLocked();
    hand_offs_.fetch_add(1, std::memory_order_relaxed);
  } catch (const std::system_error& e) {
    // Polling stays with the blocked thread: its other streams wait until
    // the handler returns, as they would without hand-off.
    spdlog::error("completion queue: cannot start another polling thread ({})", e.what());
  }
}

void CompletionQueueThread::Defer(const void* turn, std::shared_ptr<Deferred> work) {
  {
    std::lock_guard lock(mu_);
    if (active_.load(std::memory_order_relaxed) == turn) {
      ThreadOf(turn)->deferred = std::move(work);
      return;
    }
  }
  work->RunDeferred();  // handed off already: nothing to wait for
}

std::shared_ptr<Deferred> CompletionQueueThread::TakeDeferred(const void* turn) {
  std::lock_guard lock(mu_);
  return std::move(ThreadOf(turn)->deferred);
}

int CompletionQueueThread::threads() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size());
}

void CompletionQueueThread::Run(Thread* self) {
  pthread_setname_np(pthread_self(), name_);
  PollerTurn& current = CurrentPollerTurn();
  current.poller = this;
  current.turn = self;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Wait for the turn: given at start, or handed off with no thread
      // named (active_ null), which the first waiter to wake takes.
      while (!drained_ && active_.load(std::memory_order_relaxed) != self) {
        if (active_.load(std::memory_order_relaxed) == nullptr) {
          active_.store(self, std::memory_order_release);
          break;
        }
        ++waiting_;
        standby_.wait(lock);
        --waiting_;
      }
      if (drained_) return;
    }
    void* tag = nullptr;
    bool ok = false;
    while (active_.load(std::memory_order_relaxed) == self) {
      if (!cq_.Next(&tag, &ok)) {
        std::lock_guard lock(mu_);
        drained_ = true;
        active_.store(nullptr, std::memory_order_release);
        standby_.notify_all();
        return;
      }
      Tag* const done = static_cast<Tag*>(tag);
#if defined(__SANITIZE_THREAD__)
      __tsan_acquire(done);  // what Starting(done) released
#endif
      done->OnComplete(ok);
    }
  }
}

}  // namespace nitric::host
