// One HandleEvents stream: the membrane delivers the events of one
// (socket, event type) on it and waits for an answer to each, matched by id.
//
//   membrane ──ServerMessage{id, event}──▶ OnReadDone ──▶ Dispatcher::Submit
//   membrane ◀─ClientMessage{id, reject}── write queue ◀── Reply (worker thread)
//
// Uses gRPC's callback API: no thread of its own. Reactions run on gRPC's
// threads and never block or run handlers; they only move the event into the
// dispatcher and start the next read. Answers are written one at a time (one
// StartWrite outstanding; the rest wait in a queue that the writer takes over
// in batches). An answer for a stream that has ended is dropped: the membrane
// already failed that delivery, so nothing is ever answered twice.
//
// Lifetime: the stream keeps itself alive until OnDone; events in flight keep
// it alive (through Event::reply_to) until their answers are queued. The
// Dispatcher and the Observer must outlive every stream.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include "host/dispatch/dispatcher.h"
#include "host/dispatch/event.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::host {

class EventStream final
    : public grpc::ClientBidiReactor<wsproto::ClientMessage, wsproto::ServerMessage>,
      public EventReplier,
      public std::enable_shared_from_this<EventStream> {
 public:
  // Told about the stream's life. Called on gRPC threads: must not block and
  // must not call back into the stream synchronously.
  class Observer {
   public:
    virtual ~Observer() = default;
    // The membrane acknowledged the registration: events may arrive now.
    virtual void OnRegistered(EventStream* stream) = 0;
    // The stream is over; no callback of it runs after this one.
    virtual void OnEnded(EventStream* stream, const grpc::Status& status, bool registered) = 0;
  };

  // Does not touch the network; Start() does. `dispatcher` and `observer`
  // must outlive the stream.
  EventStream(std::string socket, wsproto::WebsocketEventType type, Dispatcher* dispatcher,
              Observer* observer);
  ~EventStream() override;

  // Opens the HandleEvents call on `stub` and sends the registration request
  // (empty id, as the SDKs do). Call once, on a stream owned by a shared_ptr,
  // without holding a lock an Observer callback takes: gRPC may run the
  // first reactions before Start returns.
  void Start(wsproto::WebsocketHandler::Stub* stub, const std::string& service_name);

  const std::string& socket() const { return socket_; }
  wsproto::WebsocketEventType type() const { return type_; }

  // EventReplier. Thread-safe; never blocks on the network.
  void Reply(std::string id, bool reject) override;

  // Events read from now on are dropped unanswered (shutdown: "stop taking
  // events"). Thread-safe.
  void StopTakingEvents();

  // Writes every queued answer, then half-closes; the membrane ends the call
  // in answer and OnEnded follows. Answers that arrive after the half-close
  // are dropped.
  // Thread-safe; idempotent.
  void Finish();

  // Ends the call now; queued answers may be lost. Thread-safe; idempotent.
  void Cancel();

 private:
  struct PendingReply {
    std::string id;
    bool reject;
  };

  // grpc::ClientBidiReactor reactions.
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  // Writes batch_[batch_pos_]. REQUIRES: this thread owns the writer
  // (writing_ was set by it, or it runs OnWriteDone).
  void WriteNext();
  // Marks that no more operations will be started from outside a reaction
  // and returns whether the caller must call RemoveHold() (after unlocking,
  // as the last thing it does: OnDone may run and free the stream).
  bool CloseWritesLocked();

  const std::string socket_;
  const wsproto::WebsocketEventType type_;
  Dispatcher* const dispatcher_;
  Observer* const observer_;

  grpc::ClientContext context_;
  // Kept until OnDone so gRPC never calls into a freed reactor.
  std::shared_ptr<EventStream> self_;
  // The event the pending read fills. Reactions only.
  Event* read_event_ = nullptr;
  bool registered_ = false;  // reactions only
  std::atomic<bool> stopping_{false};

  // The writer: whoever set writing_ (or runs OnWriteDone) owns write_msg_,
  // batch_ and batch_pos_.
  wsproto::ClientMessage write_msg_;
  std::vector<PendingReply> batch_;
  size_t batch_pos_ = 0;

  std::mutex mu_;
  std::vector<PendingReply> pending_;  // GUARDED_BY(mu_)
  bool writing_ = false;               // a write or writes-done is outstanding. GUARDED_BY(mu_)
  bool finishing_ = false;             // GUARDED_BY(mu_)
  bool writes_closed_ = false;         // no more writes will start. GUARDED_BY(mu_)
  bool hold_released_ = false;         // GUARDED_BY(mu_)
};

}  // namespace nitric::host
