// Websocket events end to end: ws client → dev gateway → membrane →
// nitric-host → plugin → back. Every test runs against the plain C test
// plugin and against its C++ twin: the ABI is really C. And against the
// same C source built against the committed 1.0 header
// (tests/plugins/abi/v1_0): a plugin built for ABI 1.0 passes the same
// scenario on this host as the 1.1 builds, which use the 1.1 functions
// (ws_send_start, event_set_error) where it uses ws_send and set_error.
#include <signal.h>

#include <chrono>
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

struct TwinPlugin {
  std::string file;    // under build/test-plugins, without ".so"
  std::string socket;  // its socket (and plugin name)
  uint32_t abi_minor;  // of the header it was built against
  std::string label;   // the test name's suffix
};

class TwinPluginTest : public HostTest, public ::testing::WithParamInterface<TwinPlugin> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin(GetParam().file)));
    ASSERT_NO_FATAL_FAILURE(StartHost({"--log-level", "trace"}));
  }
  const std::string& socket() const { return GetParam().socket; }

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

// Replies go out pipelined: ws_send_start in the 1.1 builds, ws_send under
// host.pipelined_sends (the default) in the 1.0 build.
TEST_P(TwinPluginTest, ManyMessagesAreAnsweredInOrder) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  constexpr int kMessages = 100;
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(client->SendText("message " + std::to_string(i)));
  for (int i = 0; i < kMessages; ++i) {
    auto reply = client->Receive();
    ASSERT_TRUE(reply) << "message " << i;
    ASSERT_EQ(reply->data, "message " + std::to_string(i));
  }
}

// The host tells the two builds apart by their ABI note and descriptor.
TEST_P(TwinPluginTest, IsLoadedForTheAbiItWasBuiltFor) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  EXPECT_EQ(Ask(*client, "hello"), "hello");
  const bool fallback =
      host_.stderr_text().find("has no ABI note (built against plugin.h 1.0)") != std::string::npos;
  EXPECT_EQ(fallback, GetParam().abi_minor == 0) << host_.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(CAndCppAndAbi10, TwinPluginTest,
                         ::testing::Values(TwinPlugin{"ctest", "ctest", 1, "C"},
                                           TwinPlugin{"cpptest", "cpptest", 1, "Cpp"},
                                           TwinPlugin{"abi/ctest10", "ctest", 0, "CBuiltForAbi10"}),
                         [](const ::testing::TestParamInfo<TwinPlugin>& info) {
                           return info.param.label;
                         });

}  // namespace
}  // namespace nitric::testing
