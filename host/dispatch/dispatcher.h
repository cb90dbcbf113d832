// The dispatcher: runs websocket events on a bounded worker pool, one at a
// time and in arrival order per connection, different connections in
// parallel.
//
//   stream (gRPC completion-queue thread)  worker thread
//   ─────────────────────────────────────  ─────────────────────────────────
//   Submit(event) ──▶ connection queue ──▶ generation->Handle(type, request)
//                     (keyed by socket +   event.reply_to->Reply(id, reject)
//                      connection id)
//
// Hand-off cost: Submit takes one short mutex section (queue append, hash
// lookup, event recycling) and signals a condition variable only when no
// worker is looking for work and no wake-up is already on its way. A worker
// that runs out of work looks for new work for a few microseconds (one at a
// time, yielding the core) before it sleeps, so under load events pass from
// the gRPC threads to the pool without a futex wake or context switch
// (measured: 1.9 -> 0.5 context switches per event). Connection queues exist
// only while a connection has events queued or running; their map nodes are
// recycled, so steady state allocates nothing here.
//
// Each event runs against the generation that is current when it starts; the
// worker holds that generation until the event is answered, so a reload never
// pulls code from under a running handler.
//
// Thread-safety: every public method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host/dispatch/event.h"
#include "host/plugins/generation.h"

namespace nitric::host {

class Dispatcher {
 public:
  struct Stats {
    uint64_t handled = 0;  // answered (or the answer queued on a dead stream)
    uint64_t dropped = 0;  // submitted after Drain() began; never answered
  };

  // Starts `workers` threads (REQUIRES: workers >= 1). `generations` must
  // outlive the dispatcher.
  Dispatcher(int workers, const GenerationSlot* generations);
  // Drains and joins the workers.
  ~Dispatcher();

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // An empty event for a stream's first read.
  Event* NewEvent();

  // Takes ownership of `event` (message, type and reply_to filled in) and
  // queues it behind the earlier events of its connection. Returns an empty
  // event for the caller's next read. Never blocks on handlers: safe on the
  // streams' completion-queue thread. After Drain() began, the event is
  // dropped unanswered instead (its stream is about to close).
  Event* Submit(Event* event);

  // Gives back an event that will not be submitted (a stream that ended).
  void Recycle(Event* event);

  // Stops taking events and blocks until every event already submitted has
  // run and its answer is queued; then stops the workers. Idempotent.
  void Drain();

  Stats stats() const;

 private:
  // A connection's identity. Connection ids come from the membrane and are
  // only promised to be unique per socket.
  struct ConnectionKey {
    std::string socket;
    std::string connection;
  };
  struct ConnectionKeyView {
    std::string_view socket;
    std::string_view connection;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const ConnectionKeyView& k) const;
    size_t operator()(const ConnectionKey& k) const {
      return (*this)(ConnectionKeyView{k.socket, k.connection});
    }
  };
  struct KeyEqual {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return a.connection == b.connection && a.socket == b.socket;
    }
  };
  // The events of one connection: `head` is running or next to run.
  struct Connection {
    Event* head = nullptr;
    Event* tail = nullptr;
    // In ready_ or running on a worker; only one worker at a time.
    bool scheduled = false;
    Connection* next_ready = nullptr;
    const ConnectionKey* key = nullptr;  // points into its own map node
  };
  using ConnectionMap = std::unordered_map<ConnectionKey, Connection, KeyHash, KeyEqual>;

  void WorkerLoop();
  // Returns when ready_ may have work or after a short while. Without mu_.
  void SpinForWork() const;
  // Runs one event and queues its answer. Called without mu_ held.
  void Run(Event* event);
  Connection* FindOrAddLocked(const wsproto::WebsocketEventRequest& request);
  void RemoveLocked(Connection* connection);
  void PushReadyLocked(Connection* connection);
  Event* TakeFreeEventLocked();
  void RecycleLocked(Event* event);

  const GenerationSlot* const generations_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;              // workers wait for ready_ here
  std::condition_variable drain_cv_;             // Drain() waits for queued_ == 0 here
  ConnectionMap connections_;                    // GUARDED_BY(mu_)
  std::vector<ConnectionMap::node_type> spare_;  // GUARDED_BY(mu_)
  Connection* ready_head_ = nullptr;             // GUARDED_BY(mu_)
  Connection* ready_tail_ = nullptr;             // GUARDED_BY(mu_)
  Event* free_events_ = nullptr;                 // GUARDED_BY(mu_)
  size_t free_event_count_ = 0;                  // GUARDED_BY(mu_)
  size_t queued_ = 0;                            // submitted, not yet answered. GUARDED_BY(mu_)
  int sleeping_ = 0;                             // workers waiting on work_cv_. GUARDED_BY(mu_)
  bool spinning_ = false;                        // a worker is in SpinForWork. GUARDED_BY(mu_)
  // Length of ready_, readable without mu_ by the spinning worker.
  std::atomic<int> ready_count_{0};
  int wakeups_pending_ = 0;  // notified, not yet awake. GUARDED_BY(mu_)
  bool draining_ = false;    // GUARDED_BY(mu_)
  bool exit_ = false;        // GUARDED_BY(mu_)
  Stats stats_;              // GUARDED_BY(mu_)

  std::mutex join_mu_;  // serialises joining in Drain()
  std::vector<std::thread> workers_;
};

}  // namespace nitric::host
