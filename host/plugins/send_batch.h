// Pipelined sends: the websocket sends one handler call makes, in flight at
// once instead of one blocking round trip each.
//
// The seed's broadcast loops over every connection and sends to each; with a
// blocking SendMessage per connection, fan-out costs one membrane round trip
// per recipient, and the host and the membrane spend most of their CPU waking
// up for each one. While a SendBatch is current on a thread (the host makes
// one current around every handler call), api->ws_send starts the call and
// returns at once; the handler's result is only final once every send it
// started has completed:
//   - nothing changes for the plugin's code (the seed reads the same);
//   - the event is answered, and the connection's next event starts, only
//     after all of its sends completed, so effects keep the event order;
//   - sends to the same connection keep their order (a second send to a
//     target with one in flight waits for it first);
//   - at most kMaxInFlight sends of one call are in flight (backpressure);
//   - any other membrane call of the handler (close, KV) waits for the sends
//     before it, so only a run of consecutive sends is pipelined;
//   - a send that fails makes the handler's call fail with that error (logged;
//     a Connect is rejected), as a blocking send's error returned by the
//     handler would. What changes: ws_send itself returns OK, so a plugin
//     cannot react to one send's failure (turn it off: host.pipelined_sends).
// Sends from any other thread (a plugin's own) stay blocking.
//
// Thread-safety: Start and Finish are called by the thread the batch is
// current on; completions may arrive on any thread (in the host: its completion-queue thread).
#pragma once

#include <condition_variable>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "host/base/mutex.h"
#include "host/base/status.h"

namespace nitric::host {

class MembraneClient;

class SendBatch {
 public:
  static constexpr int kMaxInFlight = 64;

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
  struct State {
    Mutex mu;
    std::condition_variable done;
    int in_flight ABSL_GUARDED_BY(mu) = 0;
    std::multiset<std::string, std::less<>> targets ABSL_GUARDED_BY(mu);  // socket '\n' connection
    std::unique_ptr<Failure> failure ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<State> state_;
};

}  // namespace nitric::host
