// nitric-bench-ceiling: the dispatch benchmark's ceiling contender.
//
// The least a Nitric service can do: declare the socket as the SDKs do, open
// the three HandleEvents streams (Connect, Disconnect, Message) with gRPC's
// callback API, and answer every event at once with
// websocket_event_response{connection_response{reject: false}}. No handler,
// no thread hand-off: what is left is the cost of gRPC itself.
//
//   SERVICE_ADDRESS=127.0.0.1:50051 nitric-bench-ceiling [--socket public]
//       [--absl-deadlock-detection]
//
// Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
// detection on: every lock gRPC takes updates a lock graph. A service should
// switch it off (as here, unless --absl-deadlock-detection is given); the
// flag exists to measure what it costs.
//
// Exits 0 on SIGTERM/SIGINT, 1 if the membrane ends a stream with an error.
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::bench {
namespace {

namespace res = ::nitric::proto::resources::v1;
namespace ws = ::nitric::proto::websockets::v1;

// One HandleEvents stream. gRPC allows one write in flight per stream, so
// answers wait in out_ (front = the one being written). StartWrite is never
// called with mu_ held: gRPC may run a reaction inline.
class AnsweringStream final : public grpc::ClientBidiReactor<ws::ClientMessage, ws::ServerMessage> {
 public:
  AnsweringStream(ws::WebsocketHandler::Stub& stub, const std::string& socket,
                  ws::WebsocketEventType type) {
    stub.async()->HandleEvents(&context_, this);
    ws::ClientMessage registration;
    registration.mutable_registration_request()->set_socket_name(socket);
    registration.mutable_registration_request()->set_event_type(type);
    Enqueue(std::move(registration));
    StartRead(&in_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  // Blocks until the stream is over or `timeout` passes; its final status.
  bool WaitDone(std::chrono::milliseconds timeout, grpc::Status* status) {
    std::unique_lock lock(mu_);
    if (!done_cv_.wait_for(lock, timeout, [this] { return done_; })) return false;
    *status = status_;
    return true;
  }

  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is ending; OnDone follows
    if (in_.has_websocket_event_request()) {
      ws::ClientMessage answer;
      answer.set_id(in_.id());
      answer.mutable_websocket_event_response()->mutable_connection_response()->set_reject(false);
      Enqueue(std::move(answer));
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    out_.pop_front();
    if (!ok) out_.clear();  // the stream broke; OnDone follows
    if (out_.empty()) {
      writing_ = false;
      return;
    }
    const ws::ClientMessage* next = &out_.front();
    lock.unlock();
    StartWrite(next);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mu_);
    status_ = status;
    done_ = true;
    done_cv_.notify_all();
  }

 private:
  void Enqueue(ws::ClientMessage message) {
    std::unique_lock lock(mu_);
    out_.push_back(std::move(message));
    if (writing_) return;
    writing_ = true;
    const ws::ClientMessage* next = &out_.front();
    lock.unlock();
    StartWrite(next);
  }

  grpc::ClientContext context_;
  ws::ServerMessage in_;  // touched by the read chain only

  std::mutex mu_;
  std::deque<ws::ClientMessage> out_;  // deque: pushing keeps &front() valid
  bool writing_ = false;
  bool done_ = false;
  std::condition_variable done_cv_;
  grpc::Status status_;
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
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--socket" && i + 1 < argc) socket = argv[++i];
    if (arg == "--absl-deadlock-detection") deadlock_detection = true;
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
  std::vector<std::unique_ptr<AnsweringStream>> streams;
  for (const auto type : {ws::Connect, ws::Disconnect, ws::Message}) {
    streams.push_back(std::make_unique<AnsweringStream>(*stub, socket, type));
  }

  bool stopped_by_signal = false;
  for (;;) {
    const timespec tick{0, 200 * 1000 * 1000};
    if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
      stopped_by_signal = true;
      break;
    }
    bool any_done = false;
    for (auto& s : streams) any_done = any_done || s->done();
    if (any_done) break;  // the membrane ended a stream: like the SDKs, exit
  }
  for (auto& s : streams) s->Cancel();
  int code = 0;
  for (auto& s : streams) {
    grpc::Status status;
    if (!s->WaitDone(std::chrono::seconds(2), &status)) {
      std::fprintf(stderr, "nitric-bench-ceiling: a stream did not end in 2 s\n");
      std::_Exit(1);  // gRPC still owns the reactor: do not destroy it
    }
    if (!stopped_by_signal && !status.ok()) {
      std::fprintf(stderr, "nitric-bench-ceiling: stream ended: %s\n",
                   status.error_message().c_str());
      code = 1;
    }
  }
  return code;
}

}  // namespace
}  // namespace nitric::bench

int main(int argc, char** argv) { return nitric::bench::Run(argc, argv); }
