// The dev membrane's completion queue and the threads that poll it: every call
// of the dev membrane's gRPC server is served on gRPC's completion-queue API
// rather than the callback API, whose reactions in gRPC 1.51 hop between
// gRPC's own threads (docs/ARCHITECTURE.md#dev-membrane).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_builder.h>

namespace nitric::devserver {

// One thread polls the queue: with two, they wake each other when few events
// are in flight and an echo costs more; one costs a broadcast's host a little
// more instead (docs/ARCHITECTURE.md#dev-membrane). The handlers stay correct
// for several threads: completions of one call may run on any of them, never
// two of the same operation at once.
class CqPoller {
 public:
  static constexpr int kThreads = 1;

  // Whatever started an operation on the queue: told of its completion on a
  // polling thread.
  class Handler {
   public:
    virtual void OnCompletion(uint8_t op, bool ok) = 0;

   protected:
    ~Handler() = default;
  };
  // What an operation passes to gRPC as its tag. The handler embeds one per
  // operation it may have outstanding, so no completion allocates.
  struct Tag {
    Handler* handler;
    uint8_t op;
  };

  CqPoller() = default;
  // Stop()s.
  ~CqPoller();
  CqPoller(const CqPoller&) = delete;
  CqPoller& operator=(const CqPoller&) = delete;

  // Adds the queue to `builder`. Call once, before BuildAndStart().
  void AddTo(grpc::ServerBuilder& builder);
  // The queue; null before AddTo().
  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }
  // Starts the polling threads. Call once, after BuildAndStart() succeeded.
  void Start();
  // Runs `start` (which starts an operation on the queue) unless Stop() has
  // shut the queue down, where gRPC aborts on a new operation: an accepted call
  // may still be waiting in the queue after the server's shutdown returned.
  // Returns whether it ran. Thread-safe.
  template <typename F>
  bool IfOpen(F&& start) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    start();
    return true;
  }
  // REQUIRES: the server built with AddTo() has been shut down (its Shutdown
  // returned) and not yet destroyed, as gRPC's own requests on the queue refer
  // to it; or it was never started. Shuts the queue down and polls it until
  // gRPC has handed back every operation, which the server's shutdown has
  // ended. Idempotent; not thread-safe.
  void Stop();

 private:
  void Loop();

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
  std::mutex mu_;
  bool closed_ = false;  // GUARDED_BY(mu_): the queue is shut down
};

}  // namespace nitric::devserver
