// The event deadline end to end (docs/PROTOCOL.md#dev-gateway): a service whose
// HandleEvents stream takes a message and never answers costs that client
// its connection, closed with 1011 and the reason, through the real gRPC
// registry and the real gateway.
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"
#include "support/membrane_fixture.h"
#include "support/ws_client.h"

namespace nitric::devserver {
namespace {

using namespace std::chrono_literals;
namespace ws = ::nitric::proto::websockets::v1;

// One HandleEvents call, registered for (socket, type), driven by the test.
class HandlerStream {
 public:
  HandlerStream(ws::WebsocketHandler::Stub& stub, const std::string& socket,
                ws::WebsocketEventType type) {
    ctx_.AddMetadata("x-nitric-service-name", "deadline-test");
    stream_ = stub.HandleEvents(&ctx_);
    ws::ClientMessage registration;
    registration.mutable_registration_request()->set_socket_name(socket);
    registration.mutable_registration_request()->set_event_type(type);
    ws::ServerMessage ack;
    registered_ =
        stream_->Write(registration) && stream_->Read(&ack) && ack.has_registration_response();
  }
  ~HandlerStream() {
    ctx_.TryCancel();
    ws::ServerMessage ignored;
    while (stream_->Read(&ignored)) {
    }
    stream_->Finish();
  }

  bool registered() const { return registered_; }
  bool Read(ws::ServerMessage* event) { return stream_->Read(event); }
  bool Accept(const std::string& id) {
    ws::ClientMessage answer;
    answer.set_id(id);
    answer.mutable_websocket_event_response()->mutable_connection_response()->set_reject(false);
    return stream_->Write(answer);
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<ws::ClientMessage, ws::ServerMessage>> stream_;
  bool registered_ = false;
};

TEST(DevMembraneDeadlineTest, AMessageNotAnsweredInTimeClosesItsConnectionWith1011) {
  testing::MembraneFixture fixture;
  fixture.options().event_timeout = 3s;
  ASSERT_NO_FATAL_FAILURE(fixture.Start());
  auto stub = ws::WebsocketHandler::NewStub(fixture.channel());
  HandlerStream connect(*stub, "slow", ws::Connect);
  HandlerStream message(*stub, "slow", ws::Message);
  ASSERT_TRUE(connect.registered() && message.registered());
  // Connects are accepted as they come; messages are read and never answered.
  std::thread accept_connects([&] {
    ws::ServerMessage event;
    while (connect.Read(&event)) connect.Accept(event.id());
  });
  const auto url = fixture.membrane().SocketUrl("slow");
  ASSERT_TRUE(url);

  auto connected = testing::WsClient::Connect(*url + "/", {.timeout = 60s});
  ASSERT_TRUE(connected.client) << connected.http_status << " " << connected.error;
  ASSERT_TRUE(connected.client->SendText("anyone there?"));
  ws::ServerMessage event;
  ASSERT_TRUE(message.Read(&event));
  EXPECT_EQ(event.websocket_event_request().message().body(), "anyone there?");

  EXPECT_EQ(connected.client->WaitClosed(60s), 1011);
  EXPECT_NE(connected.client->close_reason().find(
                "the handler for socket 'slow' event 'message' did not answer within 3 s"),
            std::string::npos)
      << connected.client->close_reason();

  fixture.Stop();  // ends the streams, so the accepting thread's Read returns
  accept_connects.join();
}

}  // namespace
}  // namespace nitric::devserver
