// A HandleEvents stream the host cannot use fails alone (docs/ARCHITECTURE.md#event-streams):
// the real nitric-host talks to the dev membrane through a relay in this test
// that passes every gRPC call through byte for byte and can spoil one event
// on its way to the host, the way a membrane that puts invalid UTF-8 into a
// proto3 string would (a connect with the query `?%FF=1`). The host must
// cancel and re-register only that (socket, event type) stream, log the
// message it could not use, answer later connects on that socket, and keep
// serving every other stream meanwhile.
#include <signal.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "host/host_fixture.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::testing {
namespace {

namespace wsproto = ::nitric::proto::websockets::v1;
using StreamKey = std::pair<std::string, wsproto::WebsocketEventType>;

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// The relay: a gRPC server on 127.0.0.1 that forwards every call to
// `upstream` and every message both ways unchanged, except the one event it
// was told to spoil. Watches HandleEvents calls: which (socket, event type)
// each registers, and the membrane's registration acks.
class Relay {
 public:
  explicit Relay(const std::string& upstream)
      : stub_(grpc::CreateChannel(upstream, grpc::InsecureChannelCredentials())) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~Relay() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  bool started() const { return server_ && port_ > 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // The next event from the membrane whose bytes contain `marker` reaches the
  // host with the marker's first byte replaced by 0xFF.
  void SpoilNext(std::string marker) {
    std::lock_guard<std::mutex> lock(mu_);
    spoil_marker_ = std::move(marker);
  }
  // The size of the spoiled message, once sent; 0 before.
  size_t spoiled_size() {
    std::lock_guard<std::mutex> lock(mu_);
    return spoiled_size_;
  }

  // How often the host registered `key`, and how often the membrane
  // acknowledged it.
  int registrations(const StreamKey& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return registrations_[key];
  }
  bool WaitAcks(const StreamKey& key, int count, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return acks_[key] >= count; });
  }

 private:
  class Call;

  class Service final : public grpc::CallbackGenericService {
   public:
    explicit Service(Relay* relay) : relay_(relay) {}
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

   private:
    Relay* const relay_;
  };

  // Called by calls.
  void Registered(const std::string& first_message, StreamKey* key) {
    wsproto::ClientMessage message;
    if (!message.ParseFromString(first_message) || !message.has_registration_request()) return;
    *key = {message.registration_request().socket_name(),
            message.registration_request().event_type()};
    std::lock_guard<std::mutex> lock(mu_);
    ++registrations_[*key];
  }
  // Returns the (possibly spoiled) message to pass to the host.
  grpc::ByteBuffer FromMembrane(const StreamKey& key, bool first, grpc::ByteBuffer buffer) {
    std::string bytes = ToString(buffer);
    std::lock_guard<std::mutex> lock(mu_);
    if (first) {
      wsproto::ServerMessage message;
      if (message.ParseFromString(bytes) && message.has_registration_response()) {
        ++acks_[key];
        cv_.notify_all();
      }
      return buffer;
    }
    if (spoil_marker_.empty()) return buffer;
    const size_t at = bytes.find(spoil_marker_);
    if (at == std::string::npos) return buffer;
    bytes[at] = '\xFF';
    spoil_marker_.clear();
    spoiled_size_ = bytes.size();
    return ToBuffer(bytes);
  }

  grpc::GenericStub stub_;
  Service service_{this};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::string spoil_marker_;                // guarded by mu_
  size_t spoiled_size_ = 0;                 // guarded by mu_
  std::map<StreamKey, int> registrations_;  // guarded by mu_
  std::map<StreamKey, int> acks_;           // guarded by mu_
};

// One relayed call: the server side faces the host, `up_` the membrane.
// Each direction is a pipeline with one operation outstanding (read on one
// side, then write on the other). The host's call is finished with the
// membrane's status once the membrane's call is done and no write to the
// host is outstanding; it deletes itself when the host's side is done.
class Relay::Call final : public grpc::ServerGenericBidiReactor {
 public:
  Call(Relay* relay, grpc::GenericCallbackServerContext* ctx)
      : relay_(relay), handle_events_(ctx->method().ends_with("/HandleEvents")), up_(this) {
    relay_->stub_.PrepareBidiStreamingCall(&up_context_, ctx->method(), grpc::StubOptions(), &up_);
    up_.AddHold();  // released when either side has nothing more to send upstream
    up_.StartRead(&from_membrane_);
    up_.StartCall();
    StartRead(&from_host_);
  }

  void OnReadDone(bool ok) override {  // from the host
    if (!ok) {                         // half-closed or cancelled: nothing more goes upstream
      if (CloseUpstream()) {
        up_.StartWritesDone();
        up_.RemoveHold();
      }
      return;
    }
    if (handle_events_ && !host_first_seen_) {
      host_first_seen_ = true;
      StreamKey key;
      relay_->Registered(ToString(from_host_), &key);
      std::lock_guard<std::mutex> lock(mu_);
      key_ = std::move(key);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (up_closed_) return;  // the membrane ended the call; drop
    }
    up_.StartWrite(&from_host_);
  }
  void OnWriteDone(bool ok) override {  // to the host
    bool finish = false;
    {
      // UpDone cannot have run: the membrane's call has no read outstanding
      // only while this write is, and then UpDone leaves the finish to us.
      std::lock_guard<std::mutex> lock(mu_);
      writing_to_host_ = false;
      finish = up_done_ && !finished_;
      if (finish) finished_ = true;
    }
    if (finish) {
      Finish(status_);
      return;
    }
    if (!ok) {
      up_context_.TryCancel();
      return;
    }
    up_.StartRead(&from_membrane_);  // the membrane's call is not done: a read of it is
  }
  void OnCancel() override { up_context_.TryCancel(); }
  void OnDone() override { delete this; }

 private:
  class Up final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Up(Call* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->UpReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->UpWriteDone(ok); }
    void OnDone(const grpc::Status& status) override { call_->UpDone(status); }

   private:
    Call* const call_;
  };

  // True once: the caller releases the upstream hold.
  bool CloseUpstream() {
    std::lock_guard<std::mutex> lock(mu_);
    if (up_closed_) return false;
    up_closed_ = true;
    return true;
  }

  void UpReadDone(bool ok) {  // from the membrane
    if (!ok) {
      // The membrane ended the call; its status follows in UpDone.
      if (CloseUpstream()) up_.RemoveHold();
      return;
    }
    const bool first = !membrane_first_seen_;
    membrane_first_seen_ = true;
    StreamKey key;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_to_host_ = true;
      key = key_;
    }
    if (handle_events_)
      from_membrane_ = relay_->FromMembrane(key, first, std::move(from_membrane_));
    StartWrite(&from_membrane_);
  }
  void UpWriteDone(bool ok) {  // to the membrane
    if (!ok) {
      if (CloseUpstream()) up_.RemoveHold();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
    }
    StartRead(&from_host_);
  }
  void UpDone(const grpc::Status& status) {
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      up_done_ = true;
      status_ = status;
      finish = !writing_to_host_ && !finished_;
      if (finish) finished_ = true;
    }
    if (finish) Finish(status);
  }

  Relay* const relay_;
  const bool handle_events_;
  grpc::ClientContext up_context_;
  Up up_;
  grpc::ByteBuffer from_host_;        // host → membrane pipeline
  grpc::ByteBuffer from_membrane_;    // membrane → host pipeline
  bool host_first_seen_ = false;      // host → membrane pipeline only
  bool membrane_first_seen_ = false;  // membrane → host pipeline only

  std::mutex mu_;
  bool up_closed_ = false;        // nothing more is written upstream. guarded by mu_
  bool writing_to_host_ = false;  // guarded by mu_
  bool up_done_ = false;          // guarded by mu_
  bool finished_ = false;         // guarded by mu_
  grpc::Status status_;           // guarded by mu_
  StreamKey key_;                 // from the host's registration. guarded by mu_
};

grpc::ServerGenericBidiReactor* Relay::Service::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  return new Call(relay_, ctx);
}

class StreamFailureTest : public HostTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    relay_ = std::make_unique<Relay>(membrane_.grpc_address());
    ASSERT_TRUE(relay_->started());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("cpptest")));
    ASSERT_NO_FATAL_FAILURE(StartHost({}, {{"SERVICE_ADDRESS", relay_->address()}}));
  }
  void TearDown() override {
    HostTest::TearDown();
    // The host goes first, so that the relay ends no call under it.
    host_.Signal(SIGTERM);
    host_.Wait(30s);
    relay_.reset();
  }

  // Sends `text` and returns the next message received.
  static std::string Ask(WsClient& client, const std::string& text) {
    EXPECT_TRUE(client.SendText(text));
    auto reply = client.Receive(30s);
    EXPECT_TRUE(reply.has_value()) << "no answer to " << text;
    return reply ? reply->data : "";
  }

  std::unique_ptr<Relay> relay_;
};

TEST_F(StreamFailureTest, AnUnparseableEventFailsOnlyItsStream) {
  const StreamKey connect{"ctest", wsproto::Connect};
  auto before = Connect("ctest");
  ASSERT_TRUE(before);
  auto other = Connect("cpptest");
  ASSERT_TRUE(other);
  ASSERT_TRUE(relay_->WaitAcks(connect, 1, 30s));

  // A connect whose query key reaches the host as invalid UTF-8: the host
  // cannot parse it, so cannot answer it; the membrane fails it when the host
  // cancels the stream.
  relay_->SpoilNext("spoilme");
  WsClientOptions patient;
  patient.timeout = 20s;  // bounds a hang only
  WsClient::ConnectResult spoiled = WsClient::Connect(Url("ctest", "spoilme=1"), patient);
  EXPECT_FALSE(spoiled.client) << "an event the host cannot read was answered";
  // The gateway refuses a connect whose delivery failed: 502 while the socket
  // has a connect stream, 503 while it has none. A hung connect (the stream
  // waiting forever) would time out instead.
  EXPECT_TRUE(spoiled.http_status == 502 || spoiled.http_status == 503)
      << "status " << spoiled.http_status << ": " << spoiled.error;
  const size_t size = relay_->spoiled_size();
  ASSERT_GT(size, 0u) << "the relay did not spoil the connect";
  EXPECT_TRUE(host_.WaitForStderr("stream ctest/connect: the membrane sent a message of " +
                                      std::to_string(size) + " bytes that is not a valid",
                                  20s))
      << "the unusable message is not logged with socket, type and size";

  // That stream alone is registered again...
  ASSERT_TRUE(relay_->WaitAcks(connect, 2, 30s)) << "ctest/connect was not registered again";
  EXPECT_TRUE(host_.WaitForStderr("stream ctest/connect failed; registering it again", 30s));
  // ...and later connects on that socket are answered.
  auto after = Connect("ctest");
  ASSERT_TRUE(after);
  EXPECT_EQ(Ask(*after, "after"), "after");
  WsClient::ConnectResult rejected = WsClient::Connect(Url("ctest", "token=bad"), patient);
  EXPECT_EQ(rejected.http_status, 403) << "the re-registered stream answers rejections too";

  // The other streams kept serving: the connection made before on the same
  // socket (its Message stream) and the other socket.
  EXPECT_EQ(Ask(*before, "still here"), "still here");
  EXPECT_EQ(Ask(*other, "me too"), "me too");
  auto other_after = Connect("cpptest");
  ASSERT_TRUE(other_after);
  EXPECT_EQ(Ask(*other_after, "new"), "new");
  for (const std::string socket : {"ctest", "cpptest"}) {
    for (auto type : {wsproto::Connect, wsproto::Disconnect, wsproto::Message}) {
      const StreamKey key{socket, type};
      EXPECT_EQ(relay_->registrations(key), key == connect ? 2 : 1)
          << socket << "/" << wsproto::WebsocketEventType_Name(type);
    }
  }
}

}  // namespace
}  // namespace nitric::testing
