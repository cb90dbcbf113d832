#include "host/membrane/event_stream.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include "host/base/poller.h"
#include "host/membrane/channel.h"
#include "nitric/proto/event_type.h"

namespace nitric::host {

namespace {

// Parses `buffer` into `message` as gRPC's generated code would
// (GenericDeserialize in grpcpp), and empties the buffer. On failure
// `*size` is the message's size in bytes.
bool Parse(grpc::ByteBuffer* buffer, wsproto::ServerMessage* message, size_t* size) {
  bool ok;
  {
    grpc::ProtoBufferReader reader(buffer);
    ok = reader.status().ok() && message->ParseFromZeroCopyStream(&reader);
  }
  if (!ok) *size = buffer->Length();
  buffer->Clear();
  return ok;
}

// A handler that takes longer than this (wall time, its waits included) runs
// on a worker: a wake-up costs less than holding up every other event.
constexpr int64_t kInlineBudgetUs = 20;
// Runs in a row over the budget before a stream's events go to the workers.
constexpr uint32_t kSlowRunsInARow = 3;

}  // namespace

HandleEventsMethod::HandleEventsMethod(std::shared_ptr<grpc::ChannelInterface> channel)
    : channel_(std::move(channel)),
      name_("/" + std::string(wsproto::WebsocketHandler::service_full_name()) + "/HandleEvents"),
      rpc_(name_.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING, channel_) {}

std::unique_ptr<HandleEventsMethod::Call> HandleEventsMethod::Prepare(
    grpc::ClientContext* context, grpc::CompletionQueue* cq) const {
  // What the generated PrepareAsyncHandleEvents does, with ByteBuffer as the
  // read type.
  return std::unique_ptr<Call>(
      grpc::internal::ClientAsyncReaderWriterFactory<wsproto::ClientMessage,
                                                     grpc::ByteBuffer>::Create(channel_.get(), cq,
                                                                               rpc_, context, false,
                                                                               nullptr));
}

EventStream::EventStream(std::string socket, wsproto::WebsocketEventType type,
                         Dispatcher* dispatcher, Observer* observer, StreamCounters* counters)
    : socket_(std::move(socket)),
      type_(type),
      dispatcher_(dispatcher),
      observer_(observer),
      counters_(counters),
      metrics_(dispatcher->metrics() != nullptr ? &dispatcher->metrics()->Socket(socket_)
                                                : nullptr) {}

EventStream::~EventStream() {
  if (read_event_ != nullptr) dispatcher_->Recycle(read_event_);
}

void EventStream::Start(const HandleEventsMethod& method, const std::string& service_name,
                        CompletionQueueThread* queue) {
  self_ = shared_from_this();
  PrepareContext(&context_, service_name, std::chrono::milliseconds(0));
  call_ = method.Prepare(&context_, queue->cq());

  write_msg_.set_id("");
  wsproto::RegistrationRequest* registration = write_msg_.mutable_registration_request();
  registration->set_socket_name(socket_);
  registration->set_event_type(type_);
  read_event_ = dispatcher_->NewEvent();
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.Start();
  }
  Perform(actions);
}

void EventStream::Perform(EventStreamMachine::Actions actions) {
  using M = EventStreamMachine;
  if (actions & M::kStartCall) {
    CompletionQueueThread::Starting(&started_op_);
    call_->StartCall(&started_op_);
  }
  if (actions & M::kWriteRegistration) {
    CompletionQueueThread::Starting(&write_op_);
    call_->Write(write_msg_, &write_op_);
  }
  if (actions & M::kRead) StartRead();
  if (actions & M::kWriteReply) WriteNext();
  if (actions & M::kWritesDone) {
    CompletionQueueThread::Starting(&writes_done_op_);
    call_->WritesDone(&writes_done_op_);
  }
  if (actions & M::kCancel) context_.TryCancel();
  if (actions & M::kFinish) {
    CompletionQueueThread::Starting(&finished_op_);
    call_->Finish(&status_, &finished_op_);
  }
  if (actions & M::kReportEnded) End();
}

void EventStream::OnStarted(bool ok) {
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.OnStarted(ok);
  }
  Perform(actions);
}

void EventStream::OnReadDone(bool ok) {
  if (!ok) {
    dispatcher_->Recycle(read_event_);
    read_event_ = nullptr;
    EventStreamMachine::Actions actions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      actions = machine_.OnReadFailed();
    }
    Perform(actions);
    return;
  }
  // The hot path: the phase belongs to this thread, so no lock.
  if (metrics_ != nullptr) read_event_->read_at = std::chrono::steady_clock::now();
  wsproto::ServerMessage& message = read_event_->message;
  size_t size = 0;
  if (!Parse(&read_buffer_, &message, &size)) {
    OnUnusableMessage(size);
    return;
  }
  const bool is_ack = message.has_registration_response();
  bool report_registered = false;
  const EventStreamMachine::Message what =
      machine_.OnMessage(is_ack, message.has_websocket_event_request(), &report_registered);
  if (report_registered) observer_->OnRegistered(this);
  switch (what) {
    case EventStreamMachine::Message::kIgnore:
      if (!(report_registered && is_ack)) {
        spdlog::debug("stream {}/{}: ignoring a server message without an event", socket_,
                      proto::EventTypeName(type_));
      }
      break;
    case EventStreamMachine::Message::kDrop:
      // Shutting down: this event stays unanswered and fails on the membrane
      // side when the stream ends. Reading goes on (into the same message) so
      // the end of the call is seen.
      break;
    case EventStreamMachine::Message::kSubmit: {
      read_event_->type = proto::EventTypeOf(message.websocket_event_request(), type_);
      read_event_->reply_to = self_;
      read_event_->metrics = metrics_;
      // Offered for an inline run while this stream's handlers are short:
      // a longer one is worth a worker's wake-up, so that several run in
      // parallel and none holds up the reading.
      const bool offer = inline_slow_runs_.load(std::memory_order_relaxed) < kSlowRunsInARow ||
                         (inline_probe_.fetch_add(1, std::memory_order_relaxed) & 63) == 0;
      Dispatcher::InlineRun run_here;
      read_event_ = dispatcher_->Submit(read_event_, offer ? &run_here : nullptr);
      // Back-pressure: while the dispatcher holds more than its bound, stop
      // reading (the membrane's sends then wait on HTTP/2 flow control)
      // until OnRoom(). One relaxed load per event when there is room.
      const bool read_on = dispatcher_->HasRoom() || dispatcher_->WaitForRoom(this);
      // The stream stays alive through the event's reply_to.
      if (!run_here) {
        if (read_on) StartRead();
        return;
      }
      // Once the read is started, another thread may end the stream: keep
      // it alive for the bookkeeping after the run.
      std::shared_ptr<EventStream> keep = self_;
      // The next read starts once the inline handler returned. Started
      // before it, gRPC 1.51 sent the handler's answer and the read's
      // flow-control update (WINDOW_UPDATE) with a sendmsg each; started
      // after, both leave in one (at one connection, 25 instead of 31 µs of
      // CPU per event, bench/RESULTS.md). Should the handler block or run
      // long first, the hand-off of polling starts the read (Poller::Defer),
      // so this stream's later events still arrive.
      const PollerTurn& turn = CurrentPollerTurn();
      if (read_on) turn.poller->Defer(turn.turn, keep);
      const auto took =
          std::chrono::duration_cast<std::chrono::microseconds>(dispatcher_->RunInline(run_here))
              .count();
      if (read_on) {
        if (std::shared_ptr<Deferred> read = turn.poller->TakeDeferred(turn.turn)) {
          read->RunDeferred();
        }
      }
      // Several slow runs in a row, not one: on a busy machine a short
      // handler is sometimes preempted.
      const uint32_t slow = keep->inline_slow_runs_.load(std::memory_order_relaxed);
      keep->inline_slow_runs_.store(took > kInlineBudgetUs ? std::min<uint32_t>(slow + 1, 1000) : 0,
                                    std::memory_order_relaxed);
      return;
    }
  }
  StartRead();
}

void EventStream::StartRead() {
  CompletionQueueThread::Starting(&read_op_);
  call_->Read(&read_buffer_, &read_op_);
}

void EventStream::OnUnusableMessage(size_t size) {
  counters_->unusable_messages.fetch_add(1, std::memory_order_relaxed);
  counters_->failed_streams.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn(
      "stream {}/{}: the membrane sent a message of {} bytes that is not a valid ServerMessage "
      "(see the protobuf error above); its event cannot be answered, so the membrane fails it. "
      "Cancelling this stream and registering it again; the other streams go on",
      socket_, proto::EventTypeName(type_), size);
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.OnUnusableMessage();
  }
  Perform(actions);
}

void EventStream::OnRoom() { StartRead(); }

void EventStream::Reply(std::string id, bool reject) {
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.QueueReply(std::move(id), reject);
  }
  if (actions != EventStreamMachine::kNone) Perform(actions);
}

void EventStream::WriteNext() {
  EventStreamMachine::Reply& reply = machine_.TakeNextReply();
  write_msg_.mutable_id()->swap(reply.id);
  write_msg_.mutable_websocket_event_response()->mutable_connection_response()->set_reject(
      reply.reject);
  CompletionQueueThread::Starting(&write_op_);
  call_->Write(write_msg_, &write_op_);
}

void EventStream::OnWriteDone(bool ok) {
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.OnWriteDone(ok);
  }
  if (actions & EventStreamMachine::kCancel) {
    counters_->failed_streams.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "stream {}/{}: a write to the membrane failed; cancelling this stream and "
        "registering it again",
        socket_, proto::EventTypeName(type_));
  }
  Perform(actions);
}

void EventStream::OnWritesDoneDone(bool) {
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.OnWritesDoneDone();
  }
  Perform(actions);
}

void EventStream::StopTakingEvents() { machine_.StopTakingEvents(); }

void EventStream::Finish() {
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.HalfClose();
  }
  Perform(actions);
}

void EventStream::Cancel() {
  context_.TryCancel();
  std::lock_guard<std::mutex> lock(mu_);
  machine_.Cancel();
}

void EventStream::OnFinished(bool) {
  EventStreamMachine::Actions actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = machine_.OnFinished();
  }
  Perform(actions);
}

void EventStream::End() {
  if (read_event_ != nullptr) {
    dispatcher_->Recycle(read_event_);
    read_event_ = nullptr;
  }
  observer_->OnEnded(this, status_, machine_.registered(), machine_.failed());
  // Last statement: this may free the stream.
  std::shared_ptr<EventStream> self = std::move(self_);
}

}  // namespace nitric::host
