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

void EventStream::Start(wsproto::WebsocketHandler::Stub* stub, const std::string& service_name) {
  self_ = shared_from_this();
  PrepareContext(&context_, service_name, std::chrono::milliseconds(0));
  stub->async()->HandleEvents(&context_, this);

  write_msg_.set_id("");
  wsproto::RegistrationRequest* registration = write_msg_.mutable_registration_request();
  registration->set_socket_name(socket_);
  registration->set_event_type(type_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = true;  // the registration is the first write
  }
  StartWrite(&write_msg_);
  read_event_ = dispatcher_->NewEvent();
  StartRead(&read_event_->message);
  // Workers start writes from outside reactions; the hold keeps the call
  // open for them until CloseWritesLocked().
  AddHold();
  StartCall();
}

void EventStream::OnReadDone(bool ok) {
  if (!ok) {
    // The call is over (the membrane ended it, or it was cancelled). Answers
    // still owed cannot be delivered any more.
    dispatcher_->Recycle(read_event_);
    read_event_ = nullptr;
    bool release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      release = CloseWritesLocked();
    }
    if (release) RemoveHold();
    return;
  }
  wsproto::ServerMessage& message = read_event_->message;
  if (!registered_) {
    registered_ = true;
    observer_->OnRegistered(this);
    if (message.has_registration_response()) {
      StartRead(&message);
      return;
    }
  }
  if (!message.has_websocket_event_request()) {
    spdlog::debug("stream {}/{}: ignoring a server message without an event", socket_,
                  wsproto::WebsocketEventType_Name(type_));
    StartRead(&message);
    return;
  }
  if (stopping_.load(std::memory_order_acquire)) {
    // Shutting down: this event stays unanswered and fails on the membrane
    // side when the stream ends. Reading goes on (into the same message) so
    // the end of the call is seen.
    StartRead(&message);
    return;
  }
  read_event_->type = TypeOf(message.websocket_event_request(), type_);
  read_event_->reply_to = self_;
  read_event_ = dispatcher_->Submit(read_event_);
  StartRead(&read_event_->message);
}

void EventStream::Reply(std::string id, bool reject) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (writes_closed_) return;
    pending_.push_back(PendingReply{std::move(id), reject});
    if (writing_) return;  // the writer picks it up from OnWriteDone
    writing_ = true;
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
  StartWrite(&write_msg_);
}

void EventStream::OnWriteDone(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!ok || writes_closed_) {
    // A failed write means the call is broken; either way nothing more is
    // written.
    writing_ = false;
    batch_.clear();
    batch_pos_ = 0;
    pending_.clear();
    const bool release = CloseWritesLocked();
    lock.unlock();
    if (release) RemoveHold();
    return;
  }
  if (batch_pos_ == batch_.size()) {
    batch_.clear();
    batch_pos_ = 0;
    batch_.swap(pending_);  // everything answered while the last write was out
  }
  if (batch_pos_ < batch_.size()) {
    lock.unlock();
    WriteNext();
    return;
  }
  writing_ = false;
  if (finishing_) {
    const bool release = CloseWritesLocked();
    lock.unlock();
    StartWritesDone();
    if (release) RemoveHold();
  }
}

void EventStream::StopTakingEvents() { stopping_.store(true, std::memory_order_release); }

void EventStream::Finish() {
  std::unique_lock<std::mutex> lock(mu_);
  if (finishing_ || writes_closed_) return;
  finishing_ = true;
  if (writing_) return;  // OnWriteDone half-closes once the queue is empty
  const bool release = CloseWritesLocked();
  lock.unlock();
  StartWritesDone();
  if (release) RemoveHold();
}

void EventStream::Cancel() {
  context_.TryCancel();
  bool release;
  {
    std::lock_guard<std::mutex> lock(mu_);
    release = CloseWritesLocked();
  }
  if (release) RemoveHold();
}

bool EventStream::CloseWritesLocked() {
  writes_closed_ = true;
  if (hold_released_) return false;
  hold_released_ = true;
  return true;
}

void EventStream::OnDone(const grpc::Status& status) {
  if (read_event_ != nullptr) {
    dispatcher_->Recycle(read_event_);
    read_event_ = nullptr;
  }
  observer_->OnEnded(this, status, registered_);
  // Last statement: this may free the stream.
  std::shared_ptr<EventStream> self = std::move(self_);
}

}  // namespace nitric::host
