// The dispatcher: runs websocket events on a worker pool, one at a time and in
// arrival order per connection, different connections in parallel.
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
// the completion-queue thread to the pool without a futex wake or context switch
// (measured: 1.9 -> 0.5 context switches per event). Connection queues exist
// only while a connection has events queued or running; their map nodes are
// recycled, so steady state allocates nothing here.
//
// Isolation (docs/ARCHITECTURE.md#isolation): no handler can stop the others.
//   - The pool grows: when every counted worker has been busy for a whole
//     watch tick while events wait, the watch thread adds a worker, up to
//     Options::max_workers; a worker beyond Options::workers that finds no
//     work for Options::idle_retire exits.
//   - Long handlers: a handler running longer than Options::handler_timeout
//     is logged (plugin, socket, connection, event type, elapsed) and its
//     event answered by the watch thread (a Connect as rejected); for a
//     Message the connection is closed through CloseFn, and its later events
//     stay queued behind the stuck one (they run, in order, when it returns),
//     so none overtakes it. The stuck worker stops counting toward the pool.
//     When the handler returns, its result is logged and dropped: every event
//     is answered exactly once, by whoever claims the answer first (one atomic
//     exchange per event, on the worker's own record).
//   - Bounded queues: past Options::max_queued_per_connection events of one
//     connection (a Disconnect is always taken, so the plugin hears it), the
//     connection is closed through CloseFn (logged) and its further messages
//     are answered without running. In total, HasRoom()/WaitForRoom() tell a
//     reader to stop reading above Options::max_queued and call it back below
//     three quarters of it (back-pressure instead of an unbounded buffer).
// The watch thread wakes every tick (at most 50 ms; a quarter of the handler
// timeout when that is shorter) and scans the worker records under the
// dispatcher's mutex; the hot path pays one counter increment under the lock
// it already holds and the answer's atomic exchange, nothing per event on the
// watch's side. Elapsed times come from the ticks: "at least" that long, and a
// timeout fires between handler_timeout and handler_timeout + 2 ticks.
//
// Inline runs (docs/ARCHITECTURE.md#inline-handlers; Options::inline_handlers):
// when Submit is called on the thread that polls for events
// (host/base/poller.h) and the event's connection has nothing queued, it
// hands the event back to the caller to run there (RunInline) instead of
// waking a worker: no hand-off, no wake-up. That thread runs the handler on
// a record of its own, so timeouts and Running() treat it as a worker (it
// never counts toward the pool). If the handler blocks, the poller passes
// polling to another thread first (AboutToBlock, called by the host API);
// if it runs longer than a watch tick without calling the host, the watch
// passes polling on. Either way the other connections go on. Later events of
// the same connection line up behind the inline one as behind any running
// event, and go to the workers.
//
// Each event runs against the generation that is current when it starts; the
// worker holds that generation until the event is answered, so a reload never
// pulls code from under a running handler.
//
// Thread-safety: every public method is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host/base/mutex.h"
#include "host/base/poller.h"
#include "host/dispatch/event.h"
#include "host/plugins/generation.h"

namespace nitric::host {

class Dispatcher {
 public:
  struct Options {
    int workers = 4;      // the base size (host.workers); >= 1
    int max_workers = 4;  // host.max_workers; raised to `workers` if below
    // host.handler_timeout_ms; 0: no timeout.
    std::chrono::milliseconds handler_timeout{0};
    // host.max_queued_events_per_connection; 0: no limit.
    size_t max_queued_per_connection = 0;
    // All connections together; above it HasRoom() is false. 0: no limit.
    size_t max_queued = 0;
    // How long a worker beyond `workers` waits for work before it exits.
    std::chrono::milliseconds idle_retire{10000};
    // Borrowed, may be null: where answered events and handler timeouts are
    // counted (host/base/host_metrics.h). Must outlive the dispatcher.
    HostMetrics* metrics = nullptr;
    // host.inline_handlers: run an event on the polling thread that submits
    // it when its connection has nothing queued (see the top of this file).
    bool inline_handlers = false;
  };

  // An event Submit hands back for the caller to run (RunInline).
  struct InlineRun {
    Event* event = nullptr;
    void* connection = nullptr;  // the dispatcher's
    explicit operator bool() const { return event != nullptr; }
  };

  // Closes a connection through the membrane. Called on the dispatcher's
  // watch thread with no lock held; may block (bounded by the membrane
  // call's deadline). Must not call back into the dispatcher.
  using CloseFn = std::function<void(const std::string& socket, const std::string& connection)>;

  // A reader waiting for room (back-pressure). OnRoom() runs once, on a
  // worker thread (or in Drain()), with no lock of the dispatcher held; the
  // waiter must stay alive until it has run.
  class RoomWaiter {
   public:
    virtual void OnRoom() = 0;

   protected:
    ~RoomWaiter() = default;
  };

  // A handler running now (Running()).
  struct RunningHandler {
    std::string plugin;  // whose handler; empty before the chain reached one
    std::string socket;
    std::string connection;
    wsproto::WebsocketEventType type = wsproto::Connect;
    std::chrono::milliseconds elapsed{0};  // at least this long (watch ticks)
    bool timed_out = false;                // answered by the host already
  };

  struct Stats {
    uint64_t handled = 0;           // answered (or the answer queued on a dead stream)
    uint64_t dropped = 0;           // submitted after Drain() began; never answered
    uint64_t timed_out = 0;         // answered by the watch at the deadline
    uint64_t late_results = 0;      // handler results dropped after a timeout
    uint64_t inline_runs = 0;       // events run on the polling thread
    uint64_t hand_offs = 0;         // of them, long enough for the watch to hand polling off
    uint64_t overflow_closes = 0;   // connections closed for a full queue
    uint64_t overflow_dropped = 0;  // events answered without running for it
    int workers = 0;                // counted toward the pool now
    int busy = 0;                   // of those, running an event now
    int stuck = 0;                  // timed-out handlers still running
    size_t queued = 0;              // submitted, not yet answered (queued or running)
  };

  // A fixed pool of `workers` threads (REQUIRES: workers >= 1), no timeout,
  // no queue limits. `generations` must outlive the dispatcher.
  Dispatcher(int workers, const GenerationSlot* generations);
  // `close` may be empty (connections are then not closed, only logged).
  Dispatcher(const Options& options, const GenerationSlot* generations, CloseFn close = {});
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
  // dropped unanswered instead (its stream is about to close). Past the
  // connection's queue limit it is answered at once without running (see
  // the top of this file).
  //
  // With `run_here`, Options::inline_handlers, on a polling thread
  // (host/base/poller.h), and nothing queued for the connection, the event
  // is not handed to a worker: it comes back in *run_here, already queued
  // as running, and the caller must pass it to RunInline (after starting
  // its next read, so that other events are not held up behind it).
  Event* Submit(Event* event, InlineRun* run_here = nullptr);

  // Runs an event Submit handed back, on the calling thread, and queues its
  // answer. Its connection's later events then go to the workers. Returns
  // how long its handlers ran (the answer's write not included).
  std::chrono::nanoseconds RunInline(const InlineRun& run);

  // Gives back an event that will not be submitted (a stream that ended).
  void Recycle(Event* event);

  // Back-pressure for readers. HasRoom() is one relaxed load: false while
  // more than Options::max_queued events are queued. WaitForRoom() returns
  // true when there is room now; otherwise it returns false and calls
  // waiter->OnRoom() once the queue is below three quarters of the limit (or
  // Drain() began). Stop reading in between.
  bool HasRoom() const;
  bool WaitForRoom(RoomWaiter* waiter);

  // Stops taking events and blocks until every event already submitted has
  // run and its answer is queued; then stops the workers. Idempotent. With a
  // handler that never returns this never returns either: the host bounds
  // its stop with host.shutdown_timeout_ms (host/app).
  void Drain();

  // The handlers running now, longest first.
  std::vector<RunningHandler> Running() const;

  Stats stats() const;

  // Options::metrics: the streams find their socket's metrics through it.
  HostMetrics* metrics() const { return options_.metrics; }

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
    size_t queued = 0;  // events in the queue, the running one included
    // In ready_ or running on a worker; only one worker at a time.
    bool scheduled = false;
    // Closed for a full queue: further messages are answered unrun.
    bool closing = false;
    Connection* next_ready = nullptr;
    const ConnectionKey* key = nullptr;  // points into its own map node
  };
  using ConnectionMap = std::unordered_map<ConnectionKey, Connection, KeyHash, KeyEqual>;

  // One worker thread's record. Fields without a note are guarded by mu_
  // (not checked: see mu_ below). Cache-line aligned: each worker writes its
  // own record for every event, and records allocated next to each other
  // must not share a line.
  struct alignas(64) Worker {
    std::thread thread;
    Event* event = nullptr;  // running now, or null
    uint64_t runs = 0;       // events started: tells the watch a new event from a long one
    bool counted = true;     // counts toward the pool (not stuck, not retired)
    bool stuck = false;      // timed out: answered by the watch
    bool exited = false;     // the thread returned; the watch joins it
    // The watch's view: `runs` when it first saw the current event, and when.
    bool seen = false;
    uint64_t seen_runs = 0;
    std::chrono::steady_clock::time_point seen_at;
    // Written by the watch before it claims the answer; read by the worker
    // after it lost the claim (the exchange orders the two).
    std::chrono::steady_clock::time_point timed_out_at;
    std::chrono::milliseconds elapsed_at_timeout{0};
    // Whoever sets it first answers the current event: the worker when the
    // handler returns, or the watch at the deadline. Reset at pick-up.
    std::atomic<bool> answered{false};
    HandlerProgress progress;  // the plugin in the chain (generation.h)
    // A polling thread's record for its inline runs (no thread of ours).
    bool inline_run = false;
    Poller* poller = nullptr;
    const void* turn = nullptr;
    uint64_t handed_off_runs = 0;  // the run the watch handed polling off for
    // How long the last inline run's handlers took; written and read by the
    // polling thread that owns the record.
    std::chrono::steady_clock::duration inline_took{};
  };

  // Work the watch found under the lock, done after unlocking it.
  struct TimedOut {
    std::shared_ptr<EventReplier> reply_to;
    std::string id;
    RunningHandler what;
    const SocketMetrics* metrics = nullptr;  // the event's (Event::metrics)
    std::chrono::steady_clock::time_point read_at;
  };
  struct CloseRequest {
    std::string socket;
    std::string connection;
  };
  struct HandOffRequest {
    Poller* poller;
    const void* turn;
  };

  void WorkerLoop(Worker* self);
  // Returns when ready_ may have work or after a short while. Without mu_.
  void SpinForWork() const;
  // Runs one event and queues its answer unless the watch did. Called
  // without mu_ held. Returns false when the answer was the watch's.
  bool Run(Worker* self, Event* event);
  // Adds a worker thread.
  void SpawnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchLoop();
  // One scan of the workers: timeouts, growth.
  void ScanLocked(std::chrono::steady_clock::time_point now, std::vector<TimedOut>* timed_out,
                  std::vector<HandOffRequest>* hand_offs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The calling polling thread's record for inline runs, made on first use.
  Worker* InlineWorkerLocked(const PollerTurn& turn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After an event ran (on a worker or inline): takes it off its
  // connection's queue and requeues the connection if more wait. True when
  // a sleeping worker should be woken for it (the caller notifies).
  bool FinishEventLocked(Connection* c, Event* event, bool answered_here, bool wake_for_more)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RunningHandler DescribeLocked(const Worker& worker,
                                std::chrono::steady_clock::time_point now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes room waiters when the queue fell low enough; releases mu_ (and
  // takes it again) around their OnRoom() when there are waiters.
  void MaybeResumeReaders() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queued_now_.store(queued_, std::memory_order_relaxed);
  }
  Connection* FindOrAddLocked(const wsproto::WebsocketEventRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(Connection* connection) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushReadyLocked(Connection* connection) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Event* TakeFreeEventLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecycleLocked(Event* event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const GenerationSlot* const generations_;
  const CloseFn close_;
  const std::chrono::milliseconds tick_;

  // The fields of Connection and Worker are guarded by mu_ too; an attribute
  // inside those structs cannot name it, so only these are checked.
  mutable Mutex mu_;
  std::condition_variable work_cv_;   // workers wait for ready_ here
  std::condition_variable drain_cv_;  // Drain() waits for queued_ == 0 here
  std::condition_variable watch_cv_;  // the watch waits for its tick here
  ConnectionMap connections_ ABSL_GUARDED_BY(mu_);
  std::vector<ConnectionMap::node_type> spare_ ABSL_GUARDED_BY(mu_);
  Connection* ready_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  Connection* ready_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  Event* free_events_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t free_event_count_ ABSL_GUARDED_BY(mu_) = 0;
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;      // submitted, not yet answered
  std::atomic<size_t> queued_now_{0};           // queued_, for HasRoom() without mu_
  int sleeping_ ABSL_GUARDED_BY(mu_) = 0;       // workers waiting on work_cv_
  bool spinning_ ABSL_GUARDED_BY(mu_) = false;  // a worker is in SpinForWork
  // Length of ready_, readable without mu_ by the spinning worker.
  std::atomic<int> ready_count_{0};
  int wakeups_pending_ ABSL_GUARDED_BY(mu_) = 0;  // notified, not yet awake
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);

  // The pool.
  std::vector<std::unique_ptr<Worker>> workers_ ABSL_GUARDED_BY(mu_);
  int counted_ ABSL_GUARDED_BY(mu_) = 0;         // workers counted toward the pool
  int busy_ ABSL_GUARDED_BY(mu_) = 0;            // counted workers running an event
  uint64_t idle_seen_ ABSL_GUARDED_BY(mu_) = 0;  // times a worker found nothing to do
  // The watch's view at its last tick, for "busy for a whole tick".
  bool was_saturated_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t idle_seen_at_tick_ ABSL_GUARDED_BY(mu_) = 0;

  std::vector<CloseRequest> closes_ ABSL_GUARDED_BY(mu_);  // for the watch to do
  std::vector<RoomWaiter*> waiters_ ABSL_GUARDED_BY(mu_);

  Mutex join_mu_;  // serialises joining in Drain()
  std::thread watch_;
};

}  // namespace nitric::host
