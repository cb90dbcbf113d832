#include "bench/dispatch/fake_membrane.h"

#include <algorithm>
#include <deque>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::bench {

namespace kv = ::nitric::proto::kvstore::v1;
namespace res = ::nitric::proto::resources::v1;
namespace ws = ::nitric::proto::websockets::v1;

// A call whose operations complete on the membrane's completion queue: each
// operation's tag is a Tag naming the call and which operation it was.
class QueuedCall {
 public:
  struct Tag {
    QueuedCall* call;
    int op;
  };
  // On the completion-queue thread. May destroy the call.
  virtual void OnTag(int op, bool ok) = 0;

 protected:
  ~QueuedCall() = default;
};

// One HandleEvents call on the membrane's completion queue. Every operation
// completes as a tag on the completion-queue thread (OnTag). The request for
// the call, Read and Finish are issued on that thread; Write from any thread
// (Enqueue). gRPC allows one Write in flight per call, so events wait in out_
// (front = the one being written), and Finish must not overtake a Write:
// Write and Finish are issued with mu_ held, which the CQ API allows (it never
// runs our code inline) and which also keeps a Write from reaching a queue
// being shut down (Close).
class EventStream final : public QueuedCall, public std::enable_shared_from_this<EventStream> {
 public:
  enum Op { kAccept, kRead, kWrite, kFinish };

  explicit EventStream(FakeMembrane* membrane) : membrane_(membrane) {}

  void Request(ws::WebsocketHandler::AsyncService& service, grpc::ServerCompletionQueue* cq) {
    {
      std::lock_guard lock(mu_);
      accepting_ = true;
    }
    service.RequestHandleEvents(&context_, &stream_, cq, cq, &accept_tag_);
  }

  // False when the stream is ending: the message is dropped.
  bool Enqueue(ws::ServerMessage message) {
    std::lock_guard lock(mu_);
    return EnqueueLocked(std::move(message));
  }

  // On the completion-queue thread when the queue ran empty: writes what
  // WriteFrontLocked held back, which flushes the transport.
  void FlushHeld() {
    std::lock_guard lock(mu_);
    held_ = false;
    if (writing_ || out_.empty() || finishing_ || closed_) return;
    Write(/*buffer=*/false);
  }

  // No operation starts after this: the completion queue is shutting down.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    out_.erase(writing_ ? out_.begin() + 1 : out_.begin(), out_.end());
  }

  void OnTag(int op, bool ok) override {
    switch (op) {
      case kAccept:
        OnAccept(ok);
        break;
      case kRead:
        reading_ = false;
        OnRead(ok);
        break;
      case kWrite:
        OnWriteDone(ok);
        break;
      case kFinish: {
        std::lock_guard lock(mu_);
        finish_pending_ = false;
        break;
      }
    }
    DoneIfOver();
  }

 private:
  void OnAccept(bool ok) {
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
      accepted_ = ok;
    }
    if (!ok || membrane_->closing_) return;  // the server is shutting down
    membrane_->RequestStream();              // the next call
    StartRead();
  }

  void StartRead() {
    if (membrane_->closing_) return;
    reading_ = true;
    stream_.Read(&in_, &read_tag_);
  }

  void OnRead(bool ok) {
    if (!ok) {  // the client half-closed or went away
      membrane_->Unregister(this);
      RequestFinish(grpc::Status::OK);
      return;
    }
    if (registered_) {
      if (in_.has_websocket_event_response()) {
        const auto& response = in_.websocket_event_response();
        // No lock held: the answer handler calls Send(), maybe on this stream.
        membrane_->Answer(in_.id(), response.has_connection_response() &&
                                        response.connection_response().reject());
      }
      StartRead();
      return;
    }
    if (!in_.has_registration_request()) {
      RequestFinish({grpc::StatusCode::INVALID_ARGUMENT, "first message must be a registration"});
      return;
    }
    const auto& request = in_.registration_request();
    {
      // mu_ across Register and the ack: no event Sent in between overtakes it.
      std::unique_lock lock(mu_);
      if (!membrane_->Register(request.socket_name(), request.event_type(), shared_from_this())) {
        RequestFinishLocked(
            {grpc::StatusCode::ALREADY_EXISTS, "websocket handler already registered"});
        return;
      }
      registered_ = true;
      ws::ServerMessage ack;
      ack.mutable_registration_response();
      EnqueueLocked(std::move(ack));
    }
    StartRead();
  }

  void OnWriteDone(bool ok) {
    std::lock_guard lock(mu_);
    writing_ = false;
    out_.pop_front();
    if (!ok && !finishing_) {
      finishing_ = true;
      finish_status_ = {grpc::StatusCode::UNAVAILABLE, "write failed"};
      out_.clear();
    }
    if (!out_.empty()) {
      WriteFrontLocked();
      return;
    }
    FinishIfDueLocked();
  }

  bool EnqueueLocked(ws::ServerMessage message) {
    if (finishing_ || closed_) return false;
    out_.push_back(std::move(message));
    if (!writing_) WriteFrontLocked();
    return true;
  }

  // Writes the front message. By default each with a write of its own, which
  // gRPC 1.51 sends with a sendmsg of its own. With batched writes, the way
  // grpc-go's writer batches (it flushes only when its queue runs empty): a
  // message with others queued behind it is written with gRPC's buffer hint
  // (it joins the transport's buffer and its write completes at once); the
  // last one is held until the completion queue has nothing more to run
  // (FakeMembrane::ServeEvents), then written without the hint, which sends
  // everything buffered in one TCP write. Off the queue's thread (the load's
  // first events) it is written at once.
  void WriteFrontLocked() {
    if (!membrane_->batch_writes_) return Write(false);
    if (out_.size() > 1) return Write(true);
    if (!membrane_->OnQueueThread()) return Write(false);
    if (!held_) {
      held_ = true;
      membrane_->Hold(shared_from_this());
    }
  }

  void Write(bool buffer) {
    writing_ = true;
    membrane_->CountWrite(!buffer);
    stream_.Write(out_.front(),
                  buffer ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions(),
                  &write_tag_);
  }

  void RequestFinish(grpc::Status status) {
    std::lock_guard lock(mu_);
    RequestFinishLocked(std::move(status));
  }

  void RequestFinishLocked(grpc::Status status) {
    if (finishing_) return;
    finishing_ = true;
    finish_status_ = std::move(status);
    out_.erase(writing_ ? out_.begin() + 1 : out_.begin(), out_.end());
    FinishIfDueLocked();
  }

  // Finish once, after the write in flight (if any) completed.
  void FinishIfDueLocked() {
    if (!finishing_ || writing_ || finish_issued_ || closed_) return;
    finish_issued_ = true;
    finish_pending_ = true;
    stream_.Finish(finish_status_, &finish_tag_);
  }

  // The stream is over when no operation is pending and none will start.
  void DoneIfOver() {
    {
      std::lock_guard lock(mu_);
      if (done_ || accepting_ || reading_ || writing_ || finish_pending_) return;
      if (accepted_ && !finish_issued_ && !closed_) return;
      done_ = true;
    }
    membrane_->StreamDone(this);  // may destroy this
  }

  FakeMembrane* const membrane_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<ws::ServerMessage, ws::ClientMessage> stream_{&context_};
  Tag accept_tag_{this, kAccept};
  Tag read_tag_{this, kRead};
  Tag write_tag_{this, kWrite};
  Tag finish_tag_{this, kFinish};

  // Touched by the completion-queue thread only.
  ws::ClientMessage in_;
  bool reading_ = false;
  bool registered_ = false;

  std::mutex mu_;
  std::deque<ws::ServerMessage> out_;
  bool accepting_ = false;
  bool accepted_ = false;
  bool writing_ = false;
  bool finishing_ = false;
  bool finish_issued_ = false;
  bool finish_pending_ = false;
  bool closed_ = false;
  bool done_ = false;
  bool held_ = false;  // in the membrane's held_ list
  grpc::Status finish_status_;
};

// Every service on the one completion queue. HandleEvents through its typed
// AsyncService; the others through the generic service, since what they answer
// depends on the method alone. (Callback-API services on the same server would
// work too, but their threads poll the same connections: measured, the driver
// then spent ~35 us of CPU per event at N=100 instead of ~22.)
class FakeMembrane::Services {
 public:
  explicit Services(FakeMembrane* membrane) : membrane_(membrane) {
    const auto method = [](const char* service, const char* name) {
      return "/" + std::string(service) + "/" + name;
    };
    const auto reply = [](std::string response = std::string()) {
      Answer answer;
      answer.replies = true;
      answer.response = std::move(response);
      return answer;
    };
    const char* resources = res::Resources::service_full_name();
    const char* kv_store = kv::KvStore::service_full_name();
    const char* websocket = ws::Websocket::service_full_name();
    answers_[method(resources, "Declare")] = reply();
    answers_[method(resources, "Declare")].counts_declare = true;
    answers_[method(kv_store, "GetValue")].status = {grpc::StatusCode::NOT_FOUND,
                                                     "the benchmark membrane stores nothing"};
    answers_[method(kv_store, "SetValue")] = reply();
    answers_[method(kv_store, "DeleteKey")] = reply();
    answers_[method(kv_store, "ScanKeys")] = {};  // OK, no key
    answers_[method(websocket, "SendMessage")] = reply();
    answers_[method(websocket, "CloseConnection")] = reply();
    ws::WebsocketDetailsResponse details;
    details.set_url("ws://127.0.0.1:1");
    answers_[method(websocket, "SocketDetails")] = reply(details.SerializeAsString());
  }

  void RegisterWith(grpc::ServerBuilder& builder) {
    builder.RegisterService(&handler_);
    builder.RegisterAsyncGenericService(&generic_);
    cq_ = builder.AddCompletionQueue();
  }

  ws::WebsocketHandler::AsyncService& handler() { return handler_; }
  grpc::ServerCompletionQueue* cq() { return cq_.get(); }

  // Asks gRPC for the next call of the other services (one at a time).
  void RequestUnary() {
    if (!membrane_->closing_) (new UnaryCall(this))->Request();
  }

  // Has the completion-queue thread see `close_tag()` at once.
  void PostClose() { close_alarm_.Set(cq_.get(), gpr_now(GPR_CLOCK_MONOTONIC), close_tag()); }
  void* close_tag() { return &close_alarm_; }

 private:
  // What a method answers: a status and, when `replies`, one message.
  struct Answer {
    grpc::Status status;
    bool replies = false;
    std::string response;  // serialized
    bool counts_declare = false;
  };

  // One call of Resources, KvStore or Websocket: read the request, answer by
  // the method, then delete itself. On the completion-queue thread only.
  class UnaryCall final : public QueuedCall {
   public:
    explicit UnaryCall(Services* services) : services_(services) {}

    void Request() {
      services_->generic_.RequestCall(&context_, &stream_, services_->cq(), services_->cq(),
                                      &accept_tag_);
    }

    void OnTag(int op, bool ok) override {
      const bool closing = services_->membrane_->closing_;
      if (op == kAccept && ok && !closing) {
        services_->RequestUnary();  // the next call
        stream_.Read(&request_, &read_tag_);
        return;
      }
      if (op == kRead && !closing) {  // ok or not: a unary request or none
        Reply();
        return;
      }
      delete this;  // finished, never started, or the queue is shutting down
    }

   private:
    enum Op { kAccept, kRead, kFinish };

    void Reply() {
      const auto found = services_->answers_.find(context_.method());
      if (found == services_->answers_.end()) {
        stream_.Finish({grpc::StatusCode::UNIMPLEMENTED, "not served by the benchmark membrane"},
                       &finish_tag_);
        return;
      }
      const Answer& answer = found->second;
      if (answer.counts_declare) services_->membrane_->CountDeclare();
      if (!answer.replies) {
        stream_.Finish(answer.status, &finish_tag_);
        return;
      }
      grpc::Slice slice(answer.response);
      response_ = grpc::ByteBuffer(&slice, 1);
      stream_.WriteAndFinish(response_, grpc::WriteOptions(), answer.status, &finish_tag_);
    }

    Services* const services_;
    grpc::GenericServerContext context_;
    grpc::GenericServerAsyncReaderWriter stream_{&context_};
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
    Tag accept_tag_{this, kAccept};
    Tag read_tag_{this, kRead};
    Tag finish_tag_{this, kFinish};
  };

  FakeMembrane* const membrane_;
  std::map<std::string, Answer> answers_;
  ws::WebsocketHandler::AsyncService handler_;
  grpc::AsyncGenericService generic_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  grpc::Alarm close_alarm_;
};

FakeMembrane::FakeMembrane(AnswerFn on_answer, bool batch_writes)
    : on_answer_(std::move(on_answer)),
      batch_writes_(batch_writes),
      services_(std::make_unique<Services>(this)) {}

FakeMembrane::~FakeMembrane() { Shutdown(); }

bool FakeMembrane::Start(std::string* error) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  services_->RegisterWith(builder);
  server_ = builder.BuildAndStart();
  if (!server_) {
    services_->cq()->Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (services_->cq()->Next(&tag, &ok)) {
    }
    *error = "cannot start the gRPC server on 127.0.0.1";
    return false;
  }
  RequestStream();
  services_->RequestUnary();
  events_thread_ = std::thread([this] { ServeEvents(); });
  if (port_ == 0) {  // Shutdown() stops what started
    *error = "cannot start the gRPC server on 127.0.0.1";
    return false;
  }
  return true;
}

void FakeMembrane::ServeEvents() {
  queue_thread_ = std::this_thread::get_id();
  void* tag = nullptr;
  bool ok = false;
  const gpr_timespec now = gpr_time_0(GPR_CLOCK_MONOTONIC);
  for (;;) {
    // With batched writes, whatever is held is written when the queue has
    // nothing ready: a poll first, and the flush before blocking.
    if (batch_writes_) {
      const auto status = services_->cq()->AsyncNext(&tag, &ok, now);
      if (status == grpc::CompletionQueue::SHUTDOWN) break;
      if (status == grpc::CompletionQueue::TIMEOUT) {
        FlushHeld();
        if (!services_->cq()->Next(&tag, &ok)) break;
      }
    } else if (!services_->cq()->Next(&tag, &ok)) {
      break;
    }
    if (tag == services_->close_tag()) {
      held_.clear();
      CloseStreams();
      services_->cq()->Shutdown();
      continue;
    }
    auto* event = static_cast<QueuedCall::Tag*>(tag);
    event->call->OnTag(event->op, ok);
  }
}

void FakeMembrane::FlushHeld() {
  // FlushHeld may hold a stream again (Hold appends): swap first.
  flushing_.swap(held_);
  for (auto& stream : flushing_) stream->FlushHeld();
  flushing_.clear();
}

void FakeMembrane::RequestStream() {
  if (closing_) return;
  auto stream = std::make_shared<EventStream>(this);
  {
    std::lock_guard lock(mutex_);
    live_[stream.get()] = stream;
  }
  stream->Request(services_->handler(), services_->cq());
}

void FakeMembrane::CloseStreams() {
  closing_ = true;
  std::vector<std::shared_ptr<EventStream>> streams;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [raw, stream] : live_) streams.push_back(stream);
  }
  for (const auto& stream : streams) stream->Close();
}

std::optional<std::chrono::steady_clock::time_point> FakeMembrane::WaitRegistered(
    const std::string& socket, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  auto all_there = [&] {
    for (const int type : {0, 1, 2}) {
      if (registered_.count({socket, type}) == 0) return false;
    }
    return true;
  };
  if (!changed_.wait_until(lock, deadline, all_there)) return std::nullopt;
  auto last = registered_at_[{socket, 0}];
  for (const int type : {1, 2}) last = std::max(last, registered_at_[{socket, type}]);
  return last;
}

std::size_t FakeMembrane::RegisteredCount() const {
  std::lock_guard lock(mutex_);
  return registered_.size();
}

bool FakeMembrane::Send(EventType type, const std::string& socket, ws::ServerMessage message) {
  std::shared_ptr<EventStream> stream;
  {
    std::lock_guard lock(mutex_);
    const auto found = registered_.find({socket, static_cast<int>(type)});
    if (found == registered_.end()) return false;
    stream = found->second;
  }
  return stream->Enqueue(std::move(message));
}

uint64_t FakeMembrane::declares() const {
  std::lock_guard lock(mutex_);
  return declares_;
}

uint64_t FakeMembrane::refused_streams() const {
  std::lock_guard lock(mutex_);
  return refused_streams_;
}

// The server first (calls still open after the deadline are cancelled, and
// their operations complete on the queue), then the queue, from its own
// thread once no stream can start another operation; then the thread.
void FakeMembrane::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shut_down_ || !server_) return;
    shut_down_ = true;
  }
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  services_->PostClose();
  events_thread_.join();
  std::map<std::pair<std::string, int>, std::shared_ptr<EventStream>> registered;
  std::map<EventStream*, std::shared_ptr<EventStream>> live;
  {
    std::lock_guard lock(mutex_);
    registered.swap(registered_);
    live.swap(live_);
    changed_.notify_all();
  }
}

bool FakeMembrane::Register(const std::string& socket, EventType type,
                            std::shared_ptr<EventStream> stream) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_pair(socket, static_cast<int>(type));
  if (registered_.count(key) != 0) {
    ++refused_streams_;
    return false;
  }
  registered_[key] = std::move(stream);
  registered_at_[key] = std::chrono::steady_clock::now();
  changed_.notify_all();
  return true;
}

void FakeMembrane::Unregister(EventStream* stream) {
  std::shared_ptr<EventStream> unregistered;  // released after the lock
  std::lock_guard lock(mutex_);
  for (auto it = registered_.begin(); it != registered_.end(); ++it) {
    if (it->second.get() == stream) {
      unregistered = std::move(it->second);
      registered_.erase(it);
      changed_.notify_all();
      return;
    }
  }
}

void FakeMembrane::StreamDone(EventStream* stream) {
  Unregister(stream);
  std::shared_ptr<EventStream> done;  // released after the lock
  std::lock_guard lock(mutex_);
  const auto found = live_.find(stream);
  if (found == live_.end()) return;
  done = std::move(found->second);
  live_.erase(found);
}

void FakeMembrane::CountDeclare() {
  std::lock_guard lock(mutex_);
  ++declares_;
}

}  // namespace nitric::bench
