// The dev membrane as a whole, through the generated stubs over loopback:
// Resources.Declare, Websocket.SocketDetails / SendMessage / CloseConnection,
// HandleEvents registration, start and shutdown.
#include "devserver/dev_membrane.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"
#include "support/membrane_fixture.h"

namespace nitric::devserver {
namespace {

namespace res = ::nitric::proto::resources::v1;
namespace ws = ::nitric::proto::websockets::v1;

class DevMembraneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(fixture_.Start());
    resources_ = res::Resources::NewStub(fixture_.channel());
    websocket_ = ws::Websocket::NewStub(fixture_.channel());
    handler_ = ws::WebsocketHandler::NewStub(fixture_.channel());
  }

  grpc::Status Declare(const res::ResourceDeclareRequest& req) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-nitric-service-name", "membrane-test");
    res::ResourceDeclareResponse resp;
    return resources_->Declare(&ctx, req, &resp);
  }

  grpc::Status Declare(res::ResourceType type, const std::string& name) {
    res::ResourceDeclareRequest req;
    req.mutable_id()->set_type(type);
    req.mutable_id()->set_name(name);
    if (type == res::KeyValueStore) req.mutable_key_value_store();
    return Declare(req);
  }

  grpc::Status SocketDetails(const std::string& socket, std::string* url) {
    ws::WebsocketDetailsRequest req;
    req.set_socket_name(socket);
    ws::WebsocketDetailsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = websocket_->SocketDetails(&ctx, req, &resp);
    *url = resp.url();
    return s;
  }

  testing::MembraneFixture fixture_;
  std::unique_ptr<res::Resources::Stub> resources_;
  std::unique_ptr<ws::Websocket::Stub> websocket_;
  std::unique_ptr<ws::WebsocketHandler::Stub> handler_;
};

TEST_F(DevMembraneTest, GrpcAddressIsResolvedToTheBoundPort) {
  const std::string& address = fixture_.grpc_address();
  ASSERT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;
  EXPECT_NE(address, "127.0.0.1:0");
}

TEST_F(DevMembraneTest, SocketDetailsAnswersTheGatewayUrlOfADeclaredSocket) {
  ASSERT_TRUE(Declare(res::Websocket, "chat").ok());

  std::string url;
  grpc::Status s = SocketDetails("chat", &url);

  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(url.rfind("ws://127.0.0.1:", 0), 0u) << url;
  EXPECT_NE(url, "ws://127.0.0.1:0");
  EXPECT_EQ(fixture_.membrane().SocketUrl("chat"), url);
}

TEST_F(DevMembraneTest, SocketsGetTheirOwnListeners) {
  ASSERT_TRUE(Declare(res::Websocket, "a").ok());
  ASSERT_TRUE(Declare(res::Websocket, "b").ok());
  std::string a, b;
  ASSERT_TRUE(SocketDetails("a", &a).ok());
  ASSERT_TRUE(SocketDetails("b", &b).ok());
  EXPECT_NE(a, b);
}

TEST_F(DevMembraneTest, SocketDetailsOfAnUnknownSocketIsNotFound) {
  std::string url;
  EXPECT_EQ(SocketDetails("nobody-declared-me", &url).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_FALSE(fixture_.membrane().SocketUrl("nobody-declared-me").has_value());
}

TEST_F(DevMembraneTest, RegisteringAHandlerOpensTheSocketWithoutADeclaration) {
  grpc::ClientContext ctx;
  auto stream = handler_->HandleEvents(&ctx);
  ws::ClientMessage reg;
  reg.mutable_registration_request()->set_socket_name("undeclared");
  reg.mutable_registration_request()->set_event_type(ws::Message);
  ASSERT_TRUE(stream->Write(reg));
  ws::ServerMessage ack;
  ASSERT_TRUE(stream->Read(&ack));
  ASSERT_TRUE(ack.has_registration_response());

  std::string url;
  EXPECT_TRUE(SocketDetails("undeclared", &url).ok());
  EXPECT_EQ(url.rfind("ws://127.0.0.1:", 0), 0u) << url;

  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(DevMembraneTest, DuplicateRegistrationIsRefusedWithAlreadyExists) {
  ws::ClientMessage reg;
  reg.mutable_registration_request()->set_socket_name("chat");
  reg.mutable_registration_request()->set_event_type(ws::Connect);
  grpc::ClientContext first_ctx, second_ctx;
  auto first = handler_->HandleEvents(&first_ctx);
  ASSERT_TRUE(first->Write(reg));
  ws::ServerMessage msg;
  ASSERT_TRUE(first->Read(&msg));

  auto second = handler_->HandleEvents(&second_ctx);
  second->Write(reg);
  while (second->Read(&msg)) {
  }
  grpc::Status status = second->Finish();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(),
            "websocket handler already registered for socket 'chat' event 'connect'");
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
}

TEST_F(DevMembraneTest, DeclareAcceptsWhatTheSdksDeclare) {
  EXPECT_TRUE(Declare(res::Websocket, "chat").ok());
  EXPECT_TRUE(Declare(res::KeyValueStore, "connections").ok());
  EXPECT_TRUE(Declare(res::Bucket, "files").ok());
  EXPECT_TRUE(Declare(res::Topic, "events").ok());

  res::ResourceDeclareRequest policy;
  policy.mutable_id()->set_type(res::Policy);
  auto* p = policy.mutable_policy();
  p->add_principals()->set_type(res::Service);
  p->add_actions(res::WebsocketManage);
  p->add_actions(res::KeyValueStoreRead);
  auto* target = p->add_resources();
  target->set_type(res::Websocket);
  target->set_name("chat");
  EXPECT_TRUE(Declare(policy).ok());
}

TEST_F(DevMembraneTest, DeclaringAKeyValueStoreCreatesItsDatabase) {
  ASSERT_TRUE(Declare(res::KeyValueStore, "orders").ok());
  EXPECT_TRUE(std::filesystem::exists(fixture_.data_dir() / "kv" / "orders.sqlite"));
}

TEST_F(DevMembraneTest, DeclarationsWithoutIdOrNameAreInvalid) {
  EXPECT_EQ(Declare(res::ResourceDeclareRequest()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Declare(res::Websocket, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Declare(res::KeyValueStore, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DevMembraneTest, SendAndCloseOnAnUnknownConnectionAreNotFound) {
  ASSERT_TRUE(Declare(res::Websocket, "chat").ok());

  ws::WebsocketSendRequest send;
  send.set_socket_name("chat");
  send.set_connection_id("no-such-connection");
  send.set_data("hello");
  ws::WebsocketSendResponse send_resp;
  grpc::ClientContext send_ctx;
  EXPECT_EQ(websocket_->SendMessage(&send_ctx, send, &send_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  ws::WebsocketCloseConnectionRequest close;
  close.set_socket_name("chat");
  close.set_connection_id("no-such-connection");
  ws::WebsocketCloseConnectionResponse close_resp;
  grpc::ClientContext close_ctx;
  EXPECT_EQ(websocket_->CloseConnection(&close_ctx, close, &close_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(DevMembraneTest, ASecondMembraneOnABusyPortFailsToStart) {
  DevMembraneOptions options = fixture_.options();
  options.listen = fixture_.grpc_address();
  testing::TempDir other_data;
  options.data_dir = other_data.path();
  DevMembrane second(options);

  grpc::Status s = second.Start();

  EXPECT_FALSE(s.ok());
  second.Wait();  // a failed start counts as stopped
}

TEST_F(DevMembraneTest, ShutdownEndsHandlerStreamsWithUnavailable) {
  grpc::ClientContext ctx;
  auto stream = handler_->HandleEvents(&ctx);
  ws::ClientMessage reg;
  reg.mutable_registration_request()->set_socket_name("chat");
  reg.mutable_registration_request()->set_event_type(ws::Message);
  ASSERT_TRUE(stream->Write(reg));
  ws::ServerMessage msg;
  ASSERT_TRUE(stream->Read(&msg));

  fixture_.membrane().Shutdown();

  while (stream->Read(&msg)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  fixture_.membrane().Wait();
}

}  // namespace
}  // namespace nitric::devserver
