// Handlers that run on the thread that polls for events, and the hand-off
// that keeps a blocking one from stalling everything else
// (docs/ARCHITECTURE.md#inline-handlers).
//
// The host's completion-queue thread (host/membrane/completion_queue_thread.h)
// reads every event. Handing each to a worker thread costs a wake-up and a
// cache miss per event; running a short handler right there costs neither.
// But a handler that blocks there would stop every other stream. So the
// thread polls on a turn: before it blocks (a KV call, a blocking send, a
// wait for pipelined sends, a state hand-over) it passes the turn to another
// thread, which polls from then on, as Go's scheduler hands a goroutine's
// processor to another thread when the goroutine enters a system call. The
// dispatcher's watch thread hands off for a handler that runs long without
// calling the host (docs/ARCHITECTURE.md#inline-handlers).
//
// This header is the seam between the two: host/dispatch asks whether the
// calling thread polls (to run a handler there) and host/plugins and
// host/membrane call AboutToBlock(); neither depends on the other.
//
// Thread-safety: CurrentPollerTurn() is the calling thread's own; a Poller's
// methods are thread-safe.
#pragma once

#include <memory>

namespace nitric::host {

// Work the polling thread puts off while it runs a completion, but which must
// not wait for a handler that blocks there (Poller::Defer).
class Deferred {
 public:
  virtual void RunDeferred() = 0;

 protected:
  ~Deferred() = default;
};

class Poller {
 public:
  // True while `turn` is the one polling.
  virtual bool Polling(const void* turn) const = 0;
  // If `turn` is still the one polling, passes polling to another thread.
  // From any thread; `turn` keeps running what it runs. First runs the work
  // deferred on `turn`, if any (it must not block).
  virtual void HandOff(const void* turn) = 0;

  // Puts `work` off until the thread serving `turn` takes it back
  // (TakeDeferred, when its completion is done) or the turn is handed off,
  // whichever comes first; runs it at once if `turn` is no longer polling.
  // One piece of work per turn, which must not block. From the thread
  // serving `turn` only.
  // EventStream defers its next read this way while an inline handler runs
  // (docs/ARCHITECTURE.md#inline-handlers). A poller that does not hand
  // off runs it at once.
  virtual void Defer(const void* turn, std::shared_ptr<Deferred> work) {
    (void)turn;
    work->RunDeferred();
  }
  // The work deferred on `turn` that no hand-off has run, now the caller's
  // to run; null if none.
  virtual std::shared_ptr<Deferred> TakeDeferred(const void* turn) {
    (void)turn;
    return nullptr;
  }

 protected:
  ~Poller() = default;
};

// The poller turn the calling thread serves, if any: set by the poller on its
// own threads, left stale when the turn passed on (Polling() then says no).
struct PollerTurn {
  Poller* poller = nullptr;
  const void* turn = nullptr;
  bool polling() const { return poller != nullptr && poller->Polling(turn); }
};
PollerTurn& CurrentPollerTurn();

// Before the calling thread may block: if it is polling for others, pass the
// turn on. One thread-local load when it is not (a worker thread).
void AboutToBlock();

}  // namespace nitric::host
