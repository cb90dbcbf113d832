// Websocket events end to end: ws client → dev gateway → membrane →
// nitric-host → plugin → back. Every test runs against the plain C test
// plugin and against its C++ twin: the ABI is really C.
#include <signal.h>

#include <chrono>
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

class TwinPluginTest : public HostTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin(GetParam())));
    ASSERT_NO_FATAL_FAILURE(StartHost({"--log-level", "trace"}));
  }
  const std::string& socket() const { return GetParam(); }

  // Sends `text` and returns the next message received.
  std::string Ask(WsClient& client, const std::string& text) {
    EXPECT_TRUE(client.SendText(text));
    auto reply = client.Receive();
    EXPECT_TRUE(reply.has_value()) << "no answer to " << text;
    return reply ? reply->data : "";
  }
};

// The plugin itself counts what reached it ("counts"): the host's trace
// lines would be written whether or not a handler ran.
TEST_P(TwinPluginTest, ConnectMessageAndDisconnectReachThePlugin) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  EXPECT_EQ(Ask(*client, "hello"), "hello");
  EXPECT_EQ(Ask(*client, "counts"), "connects:1 disconnects:0");
  ASSERT_TRUE(client->Close());
  // A second client asks until the first one's Disconnect has run (events of
  // different connections run in parallel); the deadline bounds a hang only.
  auto observer = Connect(socket());
  ASSERT_TRUE(observer);
  std::string counts;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  do {
    counts = Ask(*observer, "counts");
  } while (counts != "connects:2 disconnects:1" && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(counts, "connects:2 disconnects:1");
}

TEST_P(TwinPluginTest, RejectedConnectRefusesTheUpgrade) {
  WsClient::ConnectResult refused = WsClient::Connect(Url(socket(), "token=bad"));
  EXPECT_FALSE(refused.client);
  EXPECT_EQ(refused.http_status, 403);
  auto accepted = Connect(socket(), "token=good");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(Ask(*accepted, "still here"), "still here");
}

TEST_P(TwinPluginTest, MultiValuedQueryParamsArriveInOrder) {
  auto client = Connect(socket(), "echo_query=1&b=x%20y&a=2&a=1&a=3");
  ASSERT_TRUE(client);
  EXPECT_EQ(Ask(*client, "hi"), R"(query:{"a":["2","1","3"],"b":["x y"],"echo_query":["1"]})");
  auto hi = client->Receive();
  ASSERT_TRUE(hi);
  EXPECT_EQ(hi->data, "hi");
}

TEST_P(TwinPluginTest, MessageBodiesAreBinarySafe) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  ASSERT_TRUE(client->SendBinary(all_bytes));
  auto reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, all_bytes);
  EXPECT_TRUE(reply->binary);
  // A NUL inside text survives too.
  EXPECT_EQ(Ask(*client, std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST_P(TwinPluginTest, KvSetGetScanDelete) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  EXPECT_EQ(Ask(*client, R"(kv:set:user-1:{"name":"ada"})"), "ok");
  EXPECT_EQ(Ask(*client, R"(kv:set:user-2:{"name":"bob"})"), "ok");
  EXPECT_EQ(Ask(*client, R"(kv:set:other:{"n":1})"), "ok");
  EXPECT_EQ(Ask(*client, "kv:get:user-1"), R"({"name":"ada"})");
  EXPECT_EQ(Ask(*client, "kv:keys:user-"), R"(["user-1","user-2"])");
  EXPECT_EQ(Ask(*client, "kv:delete:user-1"), "ok");
  EXPECT_EQ(Ask(*client, "kv:get:user-1").rfind("error:NOT_FOUND:", 0), 0u);
  EXPECT_EQ(Ask(*client, "kv:delete:user-1"), "ok") << "deleting a missing key succeeds";
  EXPECT_EQ(Ask(*client, "kv:keys:"), R"(["other","user-2"])");
  EXPECT_EQ(Ask(*client, "kv:denied").rfind("error:PERMISSION_DENIED:", 0), 0u);
}

TEST_P(TwinPluginTest, SendDetailsAndClose) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  EXPECT_EQ(Ask(*client, "details") + "/", Url(socket()));
  ASSERT_TRUE(client->SendText("close"));
  auto code = client->WaitClosed();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1000);
}

TEST_P(TwinPluginTest, AFailingHandlerIsLoggedAndTheConnectionLives) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("fail"));
  EXPECT_TRUE(host_.WaitForStderr("fail requested"));
  EXPECT_EQ(Ask(*client, "after"), "after");
}

INSTANTIATE_TEST_SUITE_P(CAndCpp, TwinPluginTest, ::testing::Values("ctest", "cpptest"));

}  // namespace
}  // namespace nitric::testing
