#include "host/membrane/event_stream.h"

#include <spdlog/spdlog.h>

#include "host/membrane/channel.h"

namespace nitric::host {

namespace {

// The event type is in the request itself; the stream's own type is the
// fallback for a request that carries none.
wsproto::WebsocketEventType TypeOf(const wsproto::WebsocketEventRequest& request,
                                   wsproto::WebsocketEventType stream_type) {
  switch (request.websocket_event_case()) {
    case wsproto::WebsocketEventRequest::kConnection:
      return wsproto::Connect;
    case wsproto::WebsocketEventRequest::kDisconnection:
      return wsproto::Disconnect;
    case wsproto::WebsocketEventRequest::kMessage:
      return wsproto::Message;
    default:
      return stream_type;
  }
}

}  // namespace

EventStream::EventStream(std::string socket, wsproto::WebsocketEventType type,
                         Dispatcher* dispatcher, Observer* observer)
    : socket_(std::move(socket)), type_(type), dispatcher_(dispatcher), observer_(observer) {}

EventStream::~EventStream() {
  if (read_event_ != nullptr) dispatcher_->Recycle(read_event_);
}

void EventStream::Start(wsproto::WebsocketHandler::Stub* stub, const std::string& service_name,
                        CompletionQueueThread* queue) {
  self_ = shared_from_this();
  PrepareContext(&context_, service_name, std::chrono::milliseconds(0));
  call_ = stub->PrepareAsyncHandleEvents(&context_, queue->cq());

  write_msg_.set_id("");
  wsproto::RegistrationRequest* registration = write_msg_.mutable_registration_request();
  registration->set_socket_name(socket_);
  registration->set_event_type(type_);
  read_event_ = dispatcher_->NewEvent();
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = true;  // the registration is the first write (OnStarted)
    outstanding_ = 1;
  }
  call_->StartCall(&started_op_);
}

void EventStream::OnStarted(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  --outstanding_;
  if (!ok) {  // the call never started: nothing to read or write
    writing_ = false;
    writes_closed_ = true;
    reads_ended_ = true;
    if (TakeFinishLocked()) StartFinish();
    MaybeEnd(lock);
    return;
  }
  // Reads and writes may only start once the call has.
  outstanding_ += 2;
  lock.unlock();
  call_->Write(write_msg_, &write_op_);
  call_->Read(&read_event_->message, &read_op_);
}

void EventStream::OnReadDone(bool ok) {
  if (!ok) {
    // The call is over (the membrane ended it, or it was cancelled). Answers
    // still owed cannot be delivered any more.
    dispatcher_->Recycle(read_event_);
    read_event_ = nullptr;
    std::unique_lock<std::mutex> lock(mu_);
    --outstanding_;
    reads_ended_ = true;
    writes_closed_ = true;
    pending_.clear();
    if (TakeFinishLocked()) StartFinish();
    MaybeEnd(lock);
    return;
  }
  wsproto::ServerMessage& message = read_event_->message;
  if (!registered_) {
    registered_ = true;
    observer_->OnRegistered(this);
    if (message.has_registration_response()) {
      call_->Read(&message, &read_op_);
      return;
    }
  }
  if (!message.has_websocket_event_request()) {
    spdlog::debug("stream {}/{}: ignoring a server message without an event", socket_,
                  wsproto::WebsocketEventType_Name(type_));
    call_->Read(&message, &read_op_);
    return;
  }
  if (stopping_.load(std::memory_order_acquire)) {
    // Shutting down: this event stays unanswered and fails on the membrane
    // side when the stream ends. Reading goes on (into the same message) so
    // the end of the call is seen.
    call_->Read(&message, &read_op_);
    return;
  }
  read_event_->type = TypeOf(message.websocket_event_request(), type_);
  read_event_->reply_to = self_;
  read_event_ = dispatcher_->Submit(read_event_);
  call_->Read(&read_event_->message, &read_op_);
}

void EventStream::Reply(std::string id, bool reject) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (writes_closed_) return;
    pending_.push_back(PendingReply{std::move(id), reject});
    if (writing_) return;  // the writer picks it up from OnWriteDone
    writing_ = true;
    ++outstanding_;
    batch_.swap(pending_);
    batch_pos_ = 0;
  }
  WriteNext();
}

void EventStream::WriteNext() {
  PendingReply& reply = batch_[batch_pos_++];
  write_msg_.mutable_id()->swap(reply.id);
  write_msg_.mutable_websocket_event_response()->mutable_connection_response()->set_reject(
      reply.reject);
  call_->Write(write_msg_, &write_op_);
}

void EventStream::OnWriteDone(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  --outstanding_;
  if (!ok || writes_closed_) {
    // A failed write means the call is broken; either way nothing more is
    // written.
    writing_ = false;
    writes_closed_ = true;
    batch_.clear();
    batch_pos_ = 0;
    pending_.clear();
    if (TakeFinishLocked()) StartFinish();
    MaybeEnd(lock);
    return;
  }
  if (batch_pos_ == batch_.size()) {
    batch_.clear();
    batch_pos_ = 0;
    batch_.swap(pending_);  // everything answered while the last write was out
  }
  if (batch_pos_ < batch_.size()) {
    ++outstanding_;
    lock.unlock();
    WriteNext();
    return;
  }
  writing_ = false;
  if (finishing_) {
    writes_closed_ = true;
    writing_ = true;  // the half-close
    ++outstanding_;
    call_->WritesDone(&writes_done_op_);
  }
}

void EventStream::OnWritesDoneDone(bool) {
  std::unique_lock<std::mutex> lock(mu_);
  --outstanding_;
  writing_ = false;
  if (TakeFinishLocked()) StartFinish();
  MaybeEnd(lock);
}

void EventStream::StopTakingEvents() { stopping_.store(true, std::memory_order_release); }

void EventStream::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finishing_ || writes_closed_) return;
  finishing_ = true;
  if (writing_) return;  // OnWriteDone half-closes once the queue is empty
  writes_closed_ = true;
  writing_ = true;
  ++outstanding_;
  // Operations on the completion queue never complete inline, so starting
  // one under mu_ cannot re-enter.
  call_->WritesDone(&writes_done_op_);
}

void EventStream::Cancel() {
  context_.TryCancel();
  std::lock_guard<std::mutex> lock(mu_);
  writes_closed_ = true;
}

bool EventStream::TakeFinishLocked() {
  if (!reads_ended_ || writing_ || finish_started_) return false;
  finish_started_ = true;
  ++outstanding_;
  return true;
}

void EventStream::StartFinish() { call_->Finish(&status_, &finished_op_); }

void EventStream::OnFinished(bool) {
  std::unique_lock<std::mutex> lock(mu_);
  --outstanding_;
  finished_ = true;
  MaybeEnd(lock);
}

void EventStream::MaybeEnd(std::unique_lock<std::mutex>& lock) {
  if (!finished_ || outstanding_ != 0 || ended_) return;
  ended_ = true;
  lock.unlock();
  if (read_event_ != nullptr) {
    dispatcher_->Recycle(read_event_);
    read_event_ = nullptr;
  }
  observer_->OnEnded(this, status_, registered_);
  // Last statement: this may free the stream.
  std::shared_ptr<EventStream> self = std::move(self_);
}

}  // namespace nitric::host
