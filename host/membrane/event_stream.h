// One HandleEvents stream: the membrane delivers the events of one
// (socket, event type) on it and waits for an answer to each, matched by id.
//
//   membrane ──ServerMessage{id, event}──▶ OnReadDone ──▶ Dispatcher::Submit
//   membrane ◀─ClientMessage{id, reject}── write queue ◀── Reply (worker thread)
//
// Uses gRPC's completion-queue API (completion_queue_thread.h): every
// completion runs on the host's polling completion-queue thread, which moves
// the event into the dispatcher and starts the next read; when the event's
// connection has nothing queued and this stream's handlers are short, it
// runs the event itself first and starts the read after it, or at the
// hand-off should the handler block (docs/ARCHITECTURE.md#inline-handlers). Answers are
// written one at a time (one Write outstanding, started by the thread that
// answers when the stream is idle, else by the queue thread when the previous
// write completes; the rest wait in a queue that the writer takes over in
// batches). An answer for a stream that has ended is dropped: the membrane
// already failed that delivery, so nothing is ever answered twice.
//
// The call ends with Finish, issued once the read side has ended and no
// write is outstanding; the Observer hears OnEnded when every operation of
// the call has completed. The states and their transitions are
// EventStreamMachine's (event_stream_machine.h); this class performs the gRPC
// operations the machine asks for.
//
// A stream the host cannot use any more (a message it cannot parse, a write
// that fails) is cancelled: the membrane then fails the deliveries still
// waiting on it and drops its registration, and the Observer hears that the
// stream failed, so that only this (socket, event type) is re-registered.
//
// Lifetime: the stream keeps itself alive until OnEnded has run; events in
// flight keep it alive (through Event::reply_to) until their answers are
// queued. The Dispatcher, the Observer and the queue thread must outlive
// every stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/byte_buffer.h>

#include "host/dispatch/dispatcher.h"
#include "host/dispatch/event.h"
#include "host/membrane/completion_queue_thread.h"
#include "host/membrane/event_stream_machine.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::host {

// Counts what went wrong on the streams, for logs now and metrics later.
// Thread-safe.
struct StreamCounters {
  // Messages from the membrane the host could not parse (each one failed its
  // stream).
  std::atomic<uint64_t> unusable_messages{0};
  // Streams the host cancelled because a read or write failed.
  std::atomic<uint64_t> failed_streams{0};
  // Outages: the membrane ended a registered stream (it went away or
  // restarted) and the session began declaring and registering again
  // (nitric_host_membrane_reconnects_total).
  std::atomic<uint64_t> reconnects{0};
};

// WebsocketHandler.HandleEvents on one channel, opened with answers written
// as ClientMessage and events read as raw bytes that the stream parses
// itself. The generated stub would parse them inside gRPC, where a message
// that does not parse looks exactly like the end of the call (Read fails)
// while the call stays open; reading bytes costs the same (gRPC parses from
// the same buffer) and tells the two apart. Thread-safe; must outlive the
// calls it prepared.
class HandleEventsMethod {
 public:
  using Call = grpc::ClientAsyncReaderWriter<wsproto::ClientMessage, grpc::ByteBuffer>;

  explicit HandleEventsMethod(std::shared_ptr<grpc::ChannelInterface> channel);
  HandleEventsMethod(const HandleEventsMethod&) = delete;
  HandleEventsMethod& operator=(const HandleEventsMethod&) = delete;

  // Like the stub's PrepareAsyncHandleEvents: StartCall starts it.
  std::unique_ptr<Call> Prepare(grpc::ClientContext* context, grpc::CompletionQueue* cq) const;

 private:
  const std::shared_ptr<grpc::ChannelInterface> channel_;
  const std::string name_;               // "/<package>.WebsocketHandler/HandleEvents"
  const grpc::internal::RpcMethod rpc_;  // refers to name_
};

class EventStream final : public EventReplier,
                          public Dispatcher::RoomWaiter,
                          public Deferred,
                          public std::enable_shared_from_this<EventStream> {
 public:
  // Told about the stream's life. Called on the queue thread: must not block
  // and must not call back into the stream synchronously.
  class Observer {
   public:
    virtual ~Observer() = default;
    // The membrane acknowledged the registration: events may arrive now.
    virtual void OnRegistered(EventStream* stream) = 0;
    // The stream is over; no callback of it runs after this one. `failed`:
    // the host cancelled it because a read or write failed (the membrane did
    // not end it).
    virtual void OnEnded(EventStream* stream, const grpc::Status& status, bool registered,
                         bool failed) = 0;
  };

  // Does not touch the network; Start() does. `dispatcher`, `observer` and
  // `counters` must outlive the stream.
  EventStream(std::string socket, wsproto::WebsocketEventType type, Dispatcher* dispatcher,
              Observer* observer, StreamCounters* counters);
  ~EventStream() override;

  // Opens the HandleEvents call with `method`, its completions on `queue`,
  // and sends the registration request (empty id, as the SDKs do). Call
  // once, on a stream owned by a shared_ptr.
  void Start(const HandleEventsMethod& method, const std::string& service_name,
             CompletionQueueThread* queue);

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
  // A completion of one kind of operation; routes to its member function.
  class Op final : public CompletionQueueThread::Tag {
   public:
    Op(EventStream* stream, void (EventStream::*on_complete)(bool))
        : stream_(stream), on_complete_(on_complete) {}
    void OnComplete(bool ok) override { (stream_->*on_complete_)(ok); }

   private:
    EventStream* const stream_;
    void (EventStream::*const on_complete_)(bool);
  };

  // Completions, on the queue thread.
  void OnStarted(bool ok);
  void OnReadDone(bool ok);
  // Logs and counts a message that did not parse, then fails the stream.
  void OnUnusableMessage(size_t size);
  // Dispatcher::RoomWaiter: the dispatcher has room again after this stream
  // stopped reading (back-pressure, dispatcher.h); starts the next read. On
  // a worker thread, while no read is outstanding.
  void OnRoom() override;
  // Deferred: the read put off while an inline handler runs (OnReadDone).
  void RunDeferred() override { StartRead(); }
  void OnWriteDone(bool ok);
  void OnWritesDoneDone(bool ok);
  void OnFinished(bool ok);

  // Starts what the machine asked for. Called without mu_ (operations on the
  // completion queue never complete inline, so it would also be safe under
  // it). kReportEnded must come last: it may free the stream.
  void Perform(EventStreamMachine::Actions actions);
  // Writes the machine's next answer. REQUIRES: the caller is the writer (it
  // got kWriteReply).
  void WriteNext();
  // Starts the next read. REQUIRES: no read is outstanding.
  void StartRead();
  // Reports the end to the observer. Last thing a stream does; may free it.
  void End();

  const std::string socket_;
  const wsproto::WebsocketEventType type_;
  Dispatcher* const dispatcher_;
  Observer* const observer_;
  StreamCounters* const counters_;
  // This socket's event metrics (the dispatcher's HostMetrics), or null.
  const SocketMetrics* const metrics_;

  grpc::ClientContext context_;
  std::unique_ptr<HandleEventsMethod::Call> call_;
  Op started_op_{this, &EventStream::OnStarted};
  Op read_op_{this, &EventStream::OnReadDone};
  Op write_op_{this, &EventStream::OnWriteDone};
  Op writes_done_op_{this, &EventStream::OnWritesDoneDone};
  Op finished_op_{this, &EventStream::OnFinished};
  grpc::Status status_;  // filled by Finish

  // Kept until OnEnded so no completion ever reaches a freed stream.
  std::shared_ptr<EventStream> self_;
  // The pending read's bytes, and the event they are parsed into. Queue
  // thread only.
  grpc::ByteBuffer read_buffer_;
  Event* read_event_ = nullptr;
  // Inline runs (dispatcher.h): how many of this stream's inline runs in a
  // row took longer than the budget, and a count of events, to offer one in
  // 64 for inline even when they are too slow for it, to notice that they
  // got faster. Read and written by whichever thread polls (relaxed: a
  // heuristic).
  std::atomic<uint32_t> inline_slow_runs_{0};
  std::atomic<uint32_t> inline_probe_{0};
  // The message of the outstanding Write; owned by the writer (see
  // event_stream_machine.h).
  wsproto::ClientMessage write_msg_;

  // The states (event_stream_machine.h): its phase and OnMessage belong to
  // the queue thread; everything else is GUARDED_BY(mu_). mu_ follows the
  // machine so that it shares a cache line with the writer's state, not with
  // the read side's.
  EventStreamMachine machine_;
  std::mutex mu_;
};

}  // namespace nitric::host
