#include "bench/dispatch/fake_membrane.h"

#include <algorithm>
#include <deque>

#include <grpcpp/grpcpp.h>

#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::bench {

namespace kv = ::nitric::proto::kvstore::v1;
namespace res = ::nitric::proto::resources::v1;
namespace ws = ::nitric::proto::websockets::v1;

// One HandleEvents stream. gRPC allows one write in flight per stream, so
// events wait in out_ (front = the one being written). StartWrite and Finish
// are never called with mu_ held: gRPC may run a reaction inline.
class EventStream final : public grpc::ServerBidiReactor<ws::ClientMessage, ws::ServerMessage> {
 public:
  explicit EventStream(FakeMembrane* membrane) : membrane_(membrane) { StartRead(&in_); }

  // False when the stream is ending: the message is dropped.
  bool Enqueue(ws::ServerMessage message) {
    std::unique_lock lock(mu_);
    if (finishing_) return false;
    out_.push_back(std::move(message));
    if (writing_) return true;
    writing_ = true;
    const ws::ServerMessage* next = &out_.front();
    lock.unlock();
    StartWrite(next);
    return true;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed or went away
      membrane_->Unregister(this);
      RequestFinish(grpc::Status::OK);
      return;
    }
    if (registered_) {
      if (in_.has_websocket_event_response()) {
        const auto& response = in_.websocket_event_response();
        membrane_->Answer(in_.id(), response.has_connection_response() &&
                                        response.connection_response().reject());
      }
      StartRead(&in_);
      return;
    }
    if (!in_.has_registration_request()) {
      RequestFinish({grpc::StatusCode::INVALID_ARGUMENT, "first message must be a registration"});
      return;
    }
    const auto& request = in_.registration_request();
    if (!membrane_->Register(request.socket_name(), request.event_type(), this)) {
      RequestFinish({grpc::StatusCode::ALREADY_EXISTS, "websocket handler already registered"});
      return;
    }
    registered_ = true;
    ws::ServerMessage ack;
    ack.mutable_registration_response();
    Enqueue(std::move(ack));
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    out_.pop_front();
    if (!ok && !finishing_) {
      finishing_ = true;
      finish_status_ = {grpc::StatusCode::UNAVAILABLE, "write failed"};
    }
    if (!finishing_ && !out_.empty()) {
      const ws::ServerMessage* next = &out_.front();
      lock.unlock();
      StartWrite(next);
      return;
    }
    writing_ = false;
    out_.clear();
    FinishIfDue(lock);
  }

  void OnDone() override {
    membrane_->Unregister(this);
    membrane_->StreamDone();
  }

 private:
  void RequestFinish(grpc::Status status) {
    std::unique_lock lock(mu_);
    if (finishing_) return;
    finishing_ = true;
    finish_status_ = std::move(status);
    if (!writing_) out_.clear();
    FinishIfDue(lock);
  }

  // Finish once, after the write in flight (if any) completed.
  void FinishIfDue(std::unique_lock<std::mutex>& lock) {
    if (!finishing_ || writing_ || finished_) return;
    finished_ = true;
    const grpc::Status status = finish_status_;
    lock.unlock();
    Finish(status);
  }

  FakeMembrane* const membrane_;
  ws::ClientMessage in_;     // touched by the read chain only
  bool registered_ = false;  // likewise

  std::mutex mu_;
  std::deque<ws::ServerMessage> out_;  // deque: pushing keeps &front() valid
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status finish_status_;
};

class FakeMembrane::Services {
 public:
  explicit Services(FakeMembrane* membrane) : resources_(membrane), handler_(membrane) {}

  void RegisterWith(grpc::ServerBuilder& builder) {
    builder.RegisterService(&resources_);
    builder.RegisterService(&kv_);
    builder.RegisterService(&websocket_);
    builder.RegisterService(&handler_);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context,
                                        grpc::Status status = grpc::Status::OK) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  class Resources final : public res::Resources::CallbackService {
   public:
    explicit Resources(FakeMembrane* membrane) : membrane_(membrane) {}
    grpc::ServerUnaryReactor* Declare(grpc::CallbackServerContext* context,
                                      const res::ResourceDeclareRequest*,
                                      res::ResourceDeclareResponse*) override {
      membrane_->CountDeclare();
      return Done(context);
    }

   private:
    FakeMembrane* membrane_;
  };

  class EmptyScan final : public grpc::ServerWriteReactor<kv::KvStoreScanKeysResponse> {
   public:
    EmptyScan() { Finish(grpc::Status::OK); }
    void OnDone() override { delete this; }
  };

  class KvStore final : public kv::KvStore::CallbackService {
    grpc::ServerUnaryReactor* GetValue(grpc::CallbackServerContext* context,
                                       const kv::KvStoreGetValueRequest*,
                                       kv::KvStoreGetValueResponse*) override {
      return Done(context, {grpc::StatusCode::NOT_FOUND, "the benchmark membrane stores nothing"});
    }
    grpc::ServerUnaryReactor* SetValue(grpc::CallbackServerContext* context,
                                       const kv::KvStoreSetValueRequest*,
                                       kv::KvStoreSetValueResponse*) override {
      return Done(context);
    }
    grpc::ServerUnaryReactor* DeleteKey(grpc::CallbackServerContext* context,
                                        const kv::KvStoreDeleteKeyRequest*,
                                        kv::KvStoreDeleteKeyResponse*) override {
      return Done(context);
    }
    grpc::ServerWriteReactor<kv::KvStoreScanKeysResponse>* ScanKeys(
        grpc::CallbackServerContext*, const kv::KvStoreScanKeysRequest*) override {
      return new EmptyScan();
    }
  };

  class Websocket final : public ws::Websocket::CallbackService {
    grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                          const ws::WebsocketSendRequest*,
                                          ws::WebsocketSendResponse*) override {
      return Done(context);
    }
    grpc::ServerUnaryReactor* CloseConnection(grpc::CallbackServerContext* context,
                                              const ws::WebsocketCloseConnectionRequest*,
                                              ws::WebsocketCloseConnectionResponse*) override {
      return Done(context);
    }
    grpc::ServerUnaryReactor* SocketDetails(grpc::CallbackServerContext* context,
                                            const ws::WebsocketDetailsRequest*,
                                            ws::WebsocketDetailsResponse* response) override {
      response->set_url("ws://127.0.0.1:1");
      return Done(context);
    }
  };

  class Handler final : public ws::WebsocketHandler::CallbackService {
   public:
    explicit Handler(FakeMembrane* membrane) : membrane_(membrane) {}
    grpc::ServerBidiReactor<ws::ClientMessage, ws::ServerMessage>* HandleEvents(
        grpc::CallbackServerContext*) override {
      auto stream = std::make_unique<EventStream>(membrane_);
      EventStream* raw = stream.get();
      std::lock_guard lock(membrane_->mutex_);
      membrane_->streams_.push_back(std::move(stream));
      ++membrane_->live_streams_;
      return raw;
    }

   private:
    FakeMembrane* membrane_;
  };

  Resources resources_;
  KvStore kv_;
  Websocket websocket_;
  Handler handler_;
};

FakeMembrane::FakeMembrane(AnswerFn on_answer)
    : on_answer_(std::move(on_answer)), services_(std::make_unique<Services>(this)) {}

FakeMembrane::~FakeMembrane() {
  Shutdown();
  std::lock_guard lock(mutex_);
  // A stream gRPC never finished would be used after free: keep it (a leak at
  // worst, and only after a failed shutdown).
  if (live_streams_ != 0) {
    for (auto& stream : streams_) (void)stream.release();
  }
}

bool FakeMembrane::Start(std::string* error) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  services_->RegisterWith(builder);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    *error = "cannot start the gRPC server on 127.0.0.1";
    return false;
  }
  return true;
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
  EventStream* stream = nullptr;
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

void FakeMembrane::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shut_down_ || !server_) return;
    shut_down_ = true;
  }
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(5), [this] { return live_streams_ == 0; });
}

bool FakeMembrane::Register(const std::string& socket, EventType type, EventStream* stream) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_pair(socket, static_cast<int>(type));
  if (registered_.count(key) != 0) {
    ++refused_streams_;
    return false;
  }
  registered_[key] = stream;
  registered_at_[key] = std::chrono::steady_clock::now();
  changed_.notify_all();
  return true;
}

void FakeMembrane::Unregister(EventStream* stream) {
  std::lock_guard lock(mutex_);
  for (auto it = registered_.begin(); it != registered_.end(); ++it) {
    if (it->second == stream) {
      registered_.erase(it);
      changed_.notify_all();
      return;
    }
  }
}

void FakeMembrane::StreamDone() {
  std::lock_guard lock(mutex_);
  --live_streams_;
  changed_.notify_all();
}

void FakeMembrane::CountDeclare() {
  std::lock_guard lock(mutex_);
  ++declares_;
}

}  // namespace nitric::bench
