// One gRPC completion queue and the thread that drives it.
//
// The host's asynchronous calls (the HandleEvents streams and pipelined
// sends) use gRPC's completion-queue API rather than the callback API, all on
// one queue: one thread polls the connection and runs every completion
// itself, so a read that finishes is handled on the thread that saw it
// arrive. Measured with the dispatch benchmark's bare client (N=100): 21.7 vs
// 29.1 µs of CPU per event and 0.1 vs 0.6 context switches per event; one at
// a time (N=1): 47 vs 87 µs of CPU per event.
//
// One queue, not one per purpose: gRPC 1.51's poller is shared by every
// thread that waits on any queue (and by the callback API's threads), so a
// second polling thread takes reads that belong to this one and hands them
// over, a context switch per event.
//
// Turns (host/base/poller.h): exactly one thread polls at a time. A
// completion may run a short handler on it (the dispatcher's inline runs);
// when that handler is about to block, or runs long, HandOff() passes polling
// to a standby thread (started on first need, then kept), and the thread that
// gave the turn away becomes the standby once its completion returns. So
// there is still one poller, and a blocked handler stops no other stream.
//
// Every operation started on cq() carries a Tag; the polling thread calls its
// OnComplete. Tags must stay valid until they complete. Call Starting(tag)
// just before starting an operation with that tag.
//
// Thread-safety: cq() may be used from any thread; HandOff and Polling too;
// Shutdown() is idempotent and must not be called from the queue's threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include <grpcpp/completion_queue.h>

#include "host/base/poller.h"

namespace nitric::host {

class CompletionQueueThread final : public Poller {
 public:
  class Tag {
   public:
    // `ok` as gRPC reports it for the operation.
    virtual void OnComplete(bool ok) = 0;

   protected:
    ~Tag() = default;
  };

  // `name` (at most 15 characters) names the threads for ps and top.
  explicit CompletionQueueThread(const char* name);
  // Shutdown().
  ~CompletionQueueThread();

  CompletionQueueThread(const CompletionQueueThread&) = delete;
  CompletionQueueThread& operator=(const CompletionQueueThread&) = delete;

  grpc::CompletionQueue* cq() { return &cq_; }

  // gRPC orders everything a thread did before starting an operation before
  // that operation's completion on the polling thread, but it does so inside
  // libgrpc, which is not built with ThreadSanitizer, so TSan cannot see it
  // and reports the tag's (and its owner's) fields as racing. Under TSan this
  // tells it about that order: released here, acquired by the polling thread
  // when the tag comes back (Run). Nothing in other builds.
  static void Starting([[maybe_unused]] Tag* tag) {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(tag);
#endif
  }

  // Stops the queue once every started operation has completed and joins the
  // threads. REQUIRES: no operation is started on cq() from now on.
  void Shutdown();

  // Poller.
  bool Polling(const void* turn) const override {
    return active_.load(std::memory_order_acquire) == turn;
  }
  void HandOff(const void* turn) override;
  void Defer(const void* turn, std::shared_ptr<Deferred> work) override;
  std::shared_ptr<Deferred> TakeDeferred(const void* turn) override;

  // Threads that have polled (1 until the first hand-off).
  int threads() const;
  // Times HandOff passed polling on (nitric_host_polling_hand_offs_total).
  uint64_t hand_offs() const { return hand_offs_.load(std::memory_order_relaxed); }

 private:
  struct Thread {
    std::thread thread;
    std::shared_ptr<Deferred> deferred;  // guarded by mu_
  };
  // The thread a turn names (Run's `self`).
  static Thread* ThreadOf(const void* turn) {
    return const_cast<Thread*>(static_cast<const Thread*>(turn));
  }

  void Run(Thread* self);
  // Starts a thread and gives it the turn; throws (turn unchanged) if it
  // cannot start.
  void StartThreadLocked();

  const char* const name_;
  grpc::CompletionQueue cq_;
  // The thread polling now; null once the queue is drained.
  std::atomic<const Thread*> active_{nullptr};

  mutable std::mutex mu_;
  std::condition_variable standby_;  // threads wait here for their turn
  std::list<Thread> threads_;        // guarded by mu_; stable addresses
  int waiting_ = 0;                  // threads waiting on standby_
  bool drained_ = false;             // cq_ returned its last completion
  bool shut_down_ = false;
  std::atomic<uint64_t> hand_offs_{0};
};

}  // namespace nitric::host
