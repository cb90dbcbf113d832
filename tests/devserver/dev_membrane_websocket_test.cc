// End to end through the dev membrane: a service registers its HandleEvents
// streams over gRPC, a real websocket client talks to the socket's gateway,
// and the service answers through the Websocket service. Covers the seam
// between the gateway and the handler registry that neither side's unit
// tests see.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"
#include "support/membrane_fixture.h"
#include "support/ws_client.h"

namespace nitric::devserver {
namespace {

using namespace std::chrono_literals;
namespace res = ::nitric::proto::resources::v1;
namespace ws = ::nitric::proto::websockets::v1;

// One registered HandleEvents stream answering every event on its own thread,
// the way an SDK does. `decide` returns the reject flag for an event.
class Handler {
 public:
  using Decide = std::function<bool(const ws::WebsocketEventRequest&)>;

  Handler(ws::WebsocketHandler::Stub& stub, const std::string& socket, ws::WebsocketEventType type,
          Decide decide)
      : decide_(std::move(decide)) {
    stream_ = stub.HandleEvents(&ctx_);
    ws::ClientMessage reg;
    reg.mutable_registration_request()->set_socket_name(socket);
    reg.mutable_registration_request()->set_event_type(type);
    ws::ServerMessage ack;
    registered_ = stream_->Write(reg) && stream_->Read(&ack) && ack.has_registration_response();
    if (registered_) thread_ = std::thread([this] { Loop(); });
  }

  ~Handler() {
    ctx_.TryCancel();
    if (thread_.joinable()) thread_.join();
    if (!registered_) stream_->Finish();
  }

  bool registered() const { return registered_; }

  std::vector<ws::WebsocketEventRequest> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

  // Waits until `n` events were answered.
  bool WaitForEvents(std::size_t n) const {
    for (int i = 0; i < 6000; ++i) {  // 60 s: bounds a hang only
      if (events().size() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  grpc::Status status() const {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  void Loop() {
    ws::ServerMessage msg;
    while (stream_->Read(&msg)) {
      bool reject = decide_ ? decide_(msg.websocket_event_request()) : false;
      {
        std::lock_guard lock(mu_);
        events_.push_back(msg.websocket_event_request());
      }
      ws::ClientMessage answer;
      answer.set_id(msg.id());
      answer.mutable_websocket_event_response()->mutable_connection_response()->set_reject(reject);
      if (!stream_->Write(answer)) break;
    }
    grpc::Status s = stream_->Finish();
    std::lock_guard lock(mu_);
    status_ = s;
  }

  Decide decide_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<ws::ClientMessage, ws::ServerMessage>> stream_;
  bool registered_ = false;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<ws::WebsocketEventRequest> events_;  // guarded by mu_
  grpc::Status status_;                            // guarded by mu_
};

class DevMembraneWebsocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(fixture_.Start());
    resources_ = res::Resources::NewStub(fixture_.channel());
    websocket_ = ws::Websocket::NewStub(fixture_.channel());
    handler_stub_ = ws::WebsocketHandler::NewStub(fixture_.channel());

    res::ResourceDeclareRequest declare;
    declare.mutable_id()->set_type(res::Websocket);
    declare.mutable_id()->set_name("chat");
    res::ResourceDeclareResponse declared;
    grpc::ClientContext declare_ctx;
    ASSERT_TRUE(resources_->Declare(&declare_ctx, declare, &declared).ok());
    ws::WebsocketDetailsRequest details;
    details.set_socket_name("chat");
    ws::WebsocketDetailsResponse answer;
    grpc::ClientContext details_ctx;
    ASSERT_TRUE(websocket_->SocketDetails(&details_ctx, details, &answer).ok());
    url_ = answer.url();

    // Connect: reject ?token=bad. Message: echo back through SendMessage.
    connect_ = std::make_unique<Handler>(
        *handler_stub_, "chat", ws::Connect, [](const ws::WebsocketEventRequest& e) {
          const auto& params = e.connection().query_params();
          auto it = params.find("token");
          return it != params.end() && it->second.value_size() > 0 && it->second.value(0) == "bad";
        });
    message_ = std::make_unique<Handler>(
        *handler_stub_, "chat", ws::Message, [this](const ws::WebsocketEventRequest& e) {
          ws::WebsocketSendRequest send;
          send.set_socket_name("chat");
          send.set_connection_id(e.connection_id());
          send.set_data("echo:" + e.message().body());
          ws::WebsocketSendResponse sent;
          grpc::ClientContext ctx;
          EXPECT_TRUE(websocket_->SendMessage(&ctx, send, &sent).ok());
          return false;
        });
    disconnect_ = std::make_unique<Handler>(*handler_stub_, "chat", ws::Disconnect, nullptr);
    ASSERT_TRUE(connect_->registered() && message_->registered() && disconnect_->registered());
  }

  testing::MembraneFixture fixture_;
  std::unique_ptr<res::Resources::Stub> resources_;
  std::unique_ptr<ws::Websocket::Stub> websocket_;
  std::unique_ptr<ws::WebsocketHandler::Stub> handler_stub_;
  std::string url_;
  std::unique_ptr<Handler> connect_, message_, disconnect_;
};

TEST_F(DevMembraneWebsocketTest, ConnectMessageAndDisconnectReachTheRegisteredStreams) {
  auto connected = testing::WsClient::Connect(url_ + "/?token=good&room=a&room=b");
  ASSERT_TRUE(connected.client) << connected.http_status << " " << connected.error;
  ASSERT_TRUE(connect_->WaitForEvents(1));
  ws::WebsocketEventRequest connect = connect_->events()[0];
  EXPECT_EQ(connect.socket_name(), "chat");
  EXPECT_FALSE(connect.connection_id().empty());
  ASSERT_EQ(connect.connection().query_params().at("room").value_size(), 2);

  ASSERT_TRUE(connected.client->SendText("hello"));
  auto reply = connected.client->Receive();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->data, "echo:hello");

  ASSERT_TRUE(connected.client->Close());
  ASSERT_TRUE(disconnect_->WaitForEvents(1));
  EXPECT_EQ(disconnect_->events()[0].connection_id(), connect.connection_id());
  EXPECT_TRUE(disconnect_->events()[0].has_disconnection());
}

TEST_F(DevMembraneWebsocketTest, ARejectedConnectNeverGetsAWebsocket) {
  auto refused = testing::WsClient::Connect(url_ + "/?token=bad");
  EXPECT_FALSE(refused.client);
  EXPECT_EQ(refused.http_status, 403);
}

TEST_F(DevMembraneWebsocketTest, ShutdownClosesClientsWith1001AndEndsHandlerStreams) {
  auto connected = testing::WsClient::Connect(url_ + "/");
  ASSERT_TRUE(connected.client) << connected.http_status << " " << connected.error;

  fixture_.membrane().Shutdown();

  EXPECT_EQ(connected.client->WaitClosed(), 1001);
  for (int i = 0; i < 6000 && message_->status().error_code() != grpc::StatusCode::UNAVAILABLE;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(message_->status().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace nitric::devserver
