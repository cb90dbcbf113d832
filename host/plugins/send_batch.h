// Pipelined sends: the websocket sends one handler call makes, in flight at
// once instead of one blocking round trip each.
//
// The seed's broadcast loops over every connection and sends to each; with a
// blocking SendMessage per connection, fan-out costs one membrane round trip
// per recipient, and the host and the membrane spend most of their CPU waking
// up for each one. While a SendBatch is current on a thread (the host makes
// one current around every handler call), api->ws_send_start (and a 1.0
// plugin's ws_send while host.pipelined_sends is on) starts the call and
// returns at once; the handler's result is only final once every send it
// started has completed:
//   - nothing changes for the plugin's code (the seed reads the same);
//   - the event is answered, and the connection's next event starts, only
//     after all of its sends completed, so effects keep the event order;
//   - sends to the same connection keep their order (a second send to a
//     target with one in flight waits for it first);
//   - at most kMaxInFlight sends of one call are in flight (backpressure);
//     once there, the handler sleeps until only kResumeAt are left, so a
//     long fan-out costs a wake-up per kMaxInFlight - kResumeAt completions,
//     not one per completion;
//   - any other membrane call of the handler (close, KV) waits for the sends
//     before it, so only a run of consecutive sends is pipelined;
//   - a send that fails makes the handler's call fail with that error (logged;
//     a Connect is rejected), as a blocking send's error returned by the
//     handler would;
//   - unless the plugin asked for the send's id (StartTracked, ABI 1.1's
//     ws_send_start with send_out): then Wait(id) gives that send's own
//     result to the plugin and it does not fail the call; a tracked send never
//     waited for fails the call like an untracked one when Finish() runs.
// Sends from any other thread (a plugin's own) stay blocking.
//
// Thread-safety: Start and Finish are called by the thread the batch is
// current on; completions may arrive on any thread (in the host: its completion-queue thread).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host/base/mutex.h"
#include "host/base/status.h"

namespace nitric::host {

class MembraneClient;

class SendBatch {
 public:
  static constexpr int kMaxInFlight = 64;
  static constexpr int kResumeAt = kMaxInFlight / 2;

  // The first failed send of a batch.
  struct Failure {
    Status status;
    std::string socket;
    std::string connection;
  };

  SendBatch();
  // Waits for the sends still in flight (Finish() not called: an exception).
  ~SendBatch();
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  // The batch current on this thread, or null.
  static SendBatch* Current();

  // Starts `client->SendAsync`; may block while kMaxInFlight sends are in
  // flight or one to the same connection is.
  void Start(MembraneClient* client, std::string_view socket, std::string_view connection,
             std::string_view data);

  // The most sends of one call that StartTracked hands ids to.
  static constexpr uint32_t kMaxTracked = (1u << 24) - 1;
  // As Start, and returns the send's id (never 0) for Wait. Ids are unique in
  // the process and valid until Finish() (the end of the handler call); 0
  // when the call already has kMaxTracked tracked sends (nothing started).
  uint64_t StartTracked(MembraneClient* client, std::string_view socket,
                        std::string_view connection, std::string_view data);

  // What Wait found.
  struct Waited {
    enum Outcome { kCompleted, kUnknown, kAlreadyWaited } outcome;
    Status status;                   // kCompleted: the send's own result
    std::string socket, connection;  // kCompleted and failed: the target
  };
  // Waits until the tracked send `id` of the current call completed. Each id
  // is waited for once; an id of another call or thread is kUnknown.
  Waited Wait(uint64_t id);

  // Waits until every started send completed. Returns the first failure, if
  // any. The batch may be reused afterwards.
  std::unique_ptr<Failure> Finish();

  // Waits until every started send completed, keeping a failure for Finish.
  // The plugin API calls it before any other membrane call of the handler
  // (close, KV), so only runs of consecutive sends overlap: "send, then
  // close" still delivers before it closes.
  void Flush();

  // Makes `batch` current on this thread for the scope's lifetime.
  class Scope {
   public:
    explicit Scope(SendBatch* batch);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    SendBatch* const previous_;
  };

 private:
  // Shared with the completion callbacks, which may outlive a wait by the
  // few instructions after their notify. Made by the first Start: an event
  // whose handlers send nothing costs no allocation.
  // A send started by StartTracked.
  struct Tracked {
    bool done = false;
    bool waited = false;
    Status status;
    std::string socket, connection;  // set when it failed
  };
  struct State {
    Mutex mu;
    std::condition_variable done;
    int in_flight ABSL_GUARDED_BY(mu) = 0;
    std::multiset<std::string, std::less<>> targets ABSL_GUARDED_BY(mu);  // socket '\n' connection
    std::unique_ptr<Failure> failure ABSL_GUARDED_BY(mu);
    std::vector<Tracked> tracked ABSL_GUARDED_BY(mu);  // index: id's low 24 bits - 1
    // What the batch's one waiter (the thread running the handler) waits
    // for, so that a completion wakes it only when that came true: a
    // broadcast's 50 completions then cost one or two wake-ups, not 50.
    // kNobody, kAnyCompletion (Reserve, a send to the same target in
    // flight), kFewInFlight (Reserve, kMaxInFlight in flight: until kResumeAt
    // are left), kAllDone (Flush, Finish), or the index of a tracked send
    // (Wait).
    static constexpr int64_t kNobody = -1;
    static constexpr int64_t kAnyCompletion = -2;
    static constexpr int64_t kAllDone = -3;
    static constexpr int64_t kFewInFlight = -4;
    int64_t waiting_for ABSL_GUARDED_BY(mu) = kNobody;

    // Called by a completion, under mu, after it updated the counts.
    void WakeWaiterIfDue(int64_t completed_index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
    // Blocks the owner until a completion wakes it for `what`.
    void WaitFor(int64_t what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  };

  // Waits for a free slot and the target, and counts the send in flight.
  std::string Reserve(std::string_view socket, std::string_view connection);

  std::shared_ptr<State> state_;
  // The current call's serial (an id's high 40 bits), taken by its first
  // tracked send; 0: none yet. Owner thread only.
  uint64_t call_serial_ = 0;
};

}  // namespace nitric::host
