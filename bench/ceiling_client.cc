// nitric-bench-ceiling: the dispatch benchmark's ceiling contender.
//
// The least a Nitric service can do: declare the socket as the SDKs do, open
// the three HandleEvents streams (Connect, Disconnect, Message) and answer
// every event at once with
// websocket_event_response{connection_response{reject: false}}. No handler,
// no thread hand-off: what is left is the cost of gRPC itself.
//
// The streams run on gRPC's completion-queue (CQ) async API with one thread
// draining the queue: the cheapest gRPC client there is, which is what a
// ceiling must be. Measured on 2 cores against the dispatch driver: 20-24 us
// of CPU per event at N=100 and 45-51 at N=1, with 0.0-0.2 and 1.0 context
// switches per event; the callback API took ~27-30 and ~100-105 us, with
// 0.5-0.7 and 5.5-6.
//
//   SERVICE_ADDRESS=127.0.0.1:50051 nitric-bench-ceiling [--socket public]
//       [--broadcast] [--absl-deadlock-detection]
//
// --broadcast makes it the broadcast benchmark's ceiling: the seed's chat with
// nothing but gRPC. It keeps the ids of connected clients in memory (where the
// seed, and the host's broadcast.so, keep them in a KV store and scan it for
// every message) and, for each Message event, starts one Websocket.SendMessage
// per connection on the same completion queue, all in flight together, and
// answers the event when the last one completed. No deadline per call, no
// metadata, no thread hand-off: the least a Nitric app can spend per delivery.
//
// Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
// detection on: every lock gRPC takes updates a lock graph. A service should
// switch it off (as here, unless --absl-deadlock-detection is given); the
// flag exists to measure what it costs.
//
// Exits 0 on SIGTERM/SIGINT (after cancelling its streams and seeing them
// end); 1 if the membrane ends a stream, like the SDKs, with the stream's
// status on stderr.
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::bench {
namespace {

namespace res = ::nitric::proto::resources::v1;
namespace ws = ::nitric::proto::websockets::v1;

// One HandleEvents stream on the client's completion queue. Its operations are
// started and completed on the one thread that drives the queue, so it needs
// no lock; Cancel() alone may come from another thread. Read and Write are
// issued only once StartCall completed (gRPC aborts with
// GRPC_CALL_ERROR_TOO_MANY_OPERATIONS otherwise); one Write is in flight, the
// other answers wait in out_ (front = the one being written); Finish waits for
// the Write in flight.
struct Broadcaster;

class AnsweringStream {
 public:
  enum class Op { kStart, kRead, kWrite, kFinish, kSent };
  struct SendCall;
  struct Tag {
    AnsweringStream* stream;
    Op op;
    SendCall* send = nullptr;  // kSent only
  };

  // broadcaster: null, or the --broadcast mode's shared state (all streams
  // run on the one queue thread, so it needs no lock).
  AnsweringStream(ws::WebsocketHandler::Stub& stub, grpc::CompletionQueue* cq,
                  const std::string& socket, ws::WebsocketEventType type, Broadcaster* broadcaster)
      : socket_(socket),
        type_(type),
        cq_(cq),
        broadcaster_(broadcaster),
        call_(stub.PrepareAsyncHandleEvents(&context_, cq)) {
    call_->StartCall(&start_tag_);
  }

  // Any thread: the stream ends (with CANCELLED) soon after.
  void Cancel() { context_.TryCancel(); }

  ws::WebsocketEventType type() const { return type_; }
  const grpc::Status& status() const { return status_; }  // once over

  // On the queue's thread. True when this completed the stream's Finish: it
  // is over and starts nothing more.
  bool OnTag(Op op, bool ok) {
    switch (op) {
      case Op::kStart:
        if (!ok) {  // the call is dead: Finish for its status
          FinishWhenIdle();
          break;
        }
        {
          ws::ClientMessage registration;
          registration.mutable_registration_request()->set_socket_name(socket_);
          registration.mutable_registration_request()->set_event_type(type_);
          Enqueue(std::move(registration));
        }
        call_->Read(&in_, &read_tag_);
        break;
      case Op::kRead:
        if (!ok) {  // the stream is ending
          FinishWhenIdle();
          break;
        }
        if (in_.has_websocket_event_request()) {
          ws::ClientMessage answer;
          answer.set_id(in_.id());
          answer.mutable_websocket_event_response()->mutable_connection_response()->set_reject(
              false);
          if (broadcaster_ == nullptr || !Broadcast(in_.websocket_event_request(), &answer)) {
            Enqueue(std::move(answer));
          }
        }
        call_->Read(&in_, &read_tag_);
        break;
      case Op::kSent:
        break;  // handled by OnSent
      case Op::kWrite:
        out_.pop_front();
        if (!ok) out_.clear();  // the stream broke; the read fails too
        if (!out_.empty()) {
          call_->Write(out_.front(), &write_tag_);
        } else if (finish_wanted_) {
          call_->Finish(&status_, &finish_tag_);
        }
        break;
      case Op::kFinish:
        finished_ = true;
        return true;
    }
    return false;
  }

  // One Websocket.SendMessage of a broadcast; `left` is shared by the sends of
  // one Message event, whose answer goes out when it reaches 0.
  struct Pending {
    int left = 0;
    ws::ClientMessage answer;
  };
  struct SendCall {
    Tag tag;
    std::shared_ptr<Pending> pending;
    grpc::ClientContext context;
    ws::WebsocketSendRequest request;
    ws::WebsocketSendResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<ws::WebsocketSendResponse>> reader;
  };

  // On the queue's thread: a SendMessage of this stream's broadcast completed.
  void OnSent(SendCall* send) {
    std::unique_ptr<SendCall> done(send);
    // A stream that is ending writes nothing more (its membrane is gone).
    if (--done->pending->left == 0 && !finish_wanted_ && !finished_) {
      Enqueue(std::move(done->pending->answer));
    }
  }

 private:
  // --broadcast: Connect and Disconnect keep the set of connections; a
  // Message starts one send per connection. True when the answer waits for
  // the sends (it was moved into their shared state).
  bool Broadcast(const ws::WebsocketEventRequest& event, ws::ClientMessage* answer);

  void Enqueue(ws::ClientMessage message) {
    out_.push_back(std::move(message));
    if (out_.size() == 1) call_->Write(out_.front(), &write_tag_);
  }

  void FinishWhenIdle() {
    finish_wanted_ = true;
    if (out_.empty()) call_->Finish(&status_, &finish_tag_);
  }

  const std::string socket_;
  const ws::WebsocketEventType type_;
  grpc::CompletionQueue* const cq_;
  Broadcaster* const broadcaster_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<ws::ClientMessage, ws::ServerMessage>> call_;
  Tag start_tag_{this, Op::kStart};
  Tag read_tag_{this, Op::kRead};
  Tag write_tag_{this, Op::kWrite};
  Tag finish_tag_{this, Op::kFinish};
  ws::ServerMessage in_;
  std::deque<ws::ClientMessage> out_;  // deque: pushing keeps &front() valid
  bool finish_wanted_ = false;
  bool finished_ = false;
  grpc::Status status_;
};

// --broadcast's state: the connected clients and the stub to send with.
struct Broadcaster {
  std::unique_ptr<ws::Websocket::Stub> websocket;
  std::unordered_set<std::string> connections;
};

bool AnsweringStream::Broadcast(const ws::WebsocketEventRequest& event, ws::ClientMessage* answer) {
  if (event.has_connection()) {
    broadcaster_->connections.insert(event.connection_id());
    return false;
  }
  if (event.has_disconnection()) {
    broadcaster_->connections.erase(event.connection_id());
    return false;
  }
  if (!event.has_message() || broadcaster_->connections.empty()) return false;
  auto pending = std::make_shared<Pending>();
  pending->left = static_cast<int>(broadcaster_->connections.size());
  pending->answer = std::move(*answer);
  for (const std::string& id : broadcaster_->connections) {
    auto* send = new SendCall;
    send->tag = Tag{this, Op::kSent, send};
    send->pending = pending;
    send->request.set_socket_name(event.socket_name());
    send->request.set_connection_id(id);
    send->request.set_data(event.message().body());
    send->reader = broadcaster_->websocket->AsyncSendMessage(&send->context, send->request, cq_);
    send->reader->Finish(&send->response, &send->status, &send->tag);
  }
  return true;
}

// The streams and the thread that drives their completion queue.
class Streams {
 public:
  Streams(ws::WebsocketHandler::Stub& stub, const std::string& socket, Broadcaster* broadcaster) {
    for (const auto type : {ws::Connect, ws::Disconnect, ws::Message}) {
      streams_.push_back(std::make_unique<AnsweringStream>(stub, &cq_, socket, type, broadcaster));
    }
    thread_ = std::thread([this] { Serve(); });
  }

  // Only once every stream is over (else _Exit: the queue still holds them).
  ~Streams() {
    cq_.Shutdown();
    thread_.join();
  }

  // The first stream that ended, if any did.
  const AnsweringStream* first_over() {
    std::lock_guard lock(mu_);
    return first_over_;
  }

  void CancelAll() {
    for (auto& stream : streams_) stream->Cancel();
  }

  // Blocks until every stream is over or `timeout` passes.
  bool WaitAllOver(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return over_cv_.wait_for(lock, timeout, [this] { return over_ == streams_.size(); });
  }

 private:
  void Serve() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      auto* event = static_cast<AnsweringStream::Tag*>(tag);
      if (event->op == AnsweringStream::Op::kSent) {
        event->stream->OnSent(event->send);
        continue;
      }
      if (!event->stream->OnTag(event->op, ok)) continue;
      std::lock_guard lock(mu_);
      if (first_over_ == nullptr) first_over_ = event->stream;
      ++over_;
      over_cv_.notify_all();
    }
  }

  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<AnsweringStream>> streams_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable over_cv_;
  std::size_t over_ = 0;
  const AnsweringStream* first_over_ = nullptr;
};

// Declares websocket `socket` and the policy that lets the service manage it,
// as the SDKs do before they open their streams.
bool Declare(const std::shared_ptr<grpc::Channel>& channel, const std::string& socket) {
  auto stub = res::Resources::NewStub(channel);
  res::ResourceDeclareRequest websocket;
  websocket.mutable_id()->set_type(res::Websocket);
  websocket.mutable_id()->set_name(socket);
  res::ResourceDeclareRequest policy;
  policy.mutable_id()->set_type(res::Policy);
  auto* p = policy.mutable_policy();
  p->add_principals()->set_type(res::Service);
  p->add_actions(res::WebsocketManage);
  auto* target = p->add_resources();
  target->set_type(res::Websocket);
  target->set_name(socket);
  for (const auto* request : {&websocket, &policy}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    res::ResourceDeclareResponse response;
    const grpc::Status status = stub->Declare(&context, *request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "nitric-bench-ceiling: Declare failed: %s\n",
                   status.error_message().c_str());
      return false;
    }
  }
  return true;
}

int Run(int argc, char** argv) {
  std::string socket = "public";
  bool deadlock_detection = false;
  bool broadcast = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--socket" && i + 1 < argc) socket = argv[++i];
    if (arg == "--absl-deadlock-detection") deadlock_detection = true;
    if (arg == "--broadcast") broadcast = true;
  }
  if (!deadlock_detection) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const char* env_address = std::getenv("SERVICE_ADDRESS");
  const std::string address = env_address && *env_address ? env_address : "127.0.0.1:50051";

  // SIGTERM / SIGINT are taken with sigtimedwait on this thread: block them
  // before gRPC starts its threads, which inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!Declare(channel, socket)) return 1;
  auto stub = ws::WebsocketHandler::NewStub(channel);
  Broadcaster broadcaster{ws::Websocket::NewStub(channel), {}};
  Streams streams(*stub, socket, broadcast ? &broadcaster : nullptr);

  bool stopped_by_signal = false;
  const AnsweringStream* ended = nullptr;
  for (;;) {
    const timespec tick{0, 200 * 1000 * 1000};
    if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
      stopped_by_signal = true;
      break;
    }
    ended = streams.first_over();
    if (ended != nullptr) break;  // the membrane ended a stream: like the SDKs, exit
  }
  streams.CancelAll();
  if (!streams.WaitAllOver(std::chrono::seconds(2))) {
    std::fprintf(stderr, "nitric-bench-ceiling: a stream did not end in 2 s\n");
    std::_Exit(1);  // the queue still holds its operations: do not destroy it
  }
  if (stopped_by_signal) return 0;
  std::fprintf(stderr, "nitric-bench-ceiling: the membrane ended the %s stream: %s (code %d)\n",
               ws::WebsocketEventType_Name(ended->type()).c_str(),
               ended->status().error_message().c_str(),
               static_cast<int>(ended->status().error_code()));
  return 1;
}

}  // namespace
}  // namespace nitric::bench

int main(int argc, char** argv) { return nitric::bench::Run(argc, argv); }
