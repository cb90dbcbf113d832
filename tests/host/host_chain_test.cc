// Handler chains across plugins: the example auth plugin guards the test
// plugin's socket. Plugins run in load (file name) order: auth.so first.
#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

class HandlerChainTest : public HostTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(ExamplePlugin("auth")));
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
    UseConfig(R"(
[plugins.auth]
sockets = ["ctest"]
token = "s3cret"
)");
    ASSERT_NO_FATAL_FAILURE(StartHost());
  }
};

TEST_F(HandlerChainTest, AnotherPluginsRejectStopsTheChain) {
  WsClient::ConnectResult no_token = WsClient::Connect(Url("ctest"));
  EXPECT_EQ(no_token.http_status, 403);
  WsClient::ConnectResult wrong = WsClient::Connect(Url("ctest", "token=guess"));
  EXPECT_EQ(wrong.http_status, 403);
  // The 403s alone would not show that ctest's handler never ran: ctest
  // counts every Connect that reaches it, and only this one did.
  auto client = Connect("ctest", "token=s3cret");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("counts"));
  auto counts = client->Receive();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->data, "connects:1 disconnects:0");
}

TEST_F(HandlerChainTest, EveryHandlerAcceptsSoTheConnectionIsServed) {
  auto client = Connect("ctest", "token=s3cret&echo_query=1");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("hi"));
  // ctest's connect handler ran after auth's: it saw the query.
  auto query = client->Receive();
  ASSERT_TRUE(query);
  EXPECT_EQ(query->data, R"(query:{"echo_query":["1"],"token":["s3cret"]})");
  auto hi = client->Receive();
  ASSERT_TRUE(hi);
  EXPECT_EQ(hi->data, "hi");
}

// auth's token is "bad" here, which ctest rejects: auth accepts, the chain
// goes on, and the second plugin's reject refuses the connection.
class SecondPluginRejectsTest : public HostTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(ExamplePlugin("auth")));
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
    UseConfig("[plugins.auth]\nsockets = [\"ctest\"]\ntoken = \"bad\"\n");
    ASSERT_NO_FATAL_FAILURE(StartHost());
  }
};

TEST_F(SecondPluginRejectsTest, ARejectLaterInTheChainRefusesTheConnection) {
  WsClient::ConnectResult r = WsClient::Connect(Url("ctest", "token=bad"));
  EXPECT_EQ(r.http_status, 403);
}

}  // namespace
}  // namespace nitric::testing
