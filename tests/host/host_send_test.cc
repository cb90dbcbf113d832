// Websocket sends from handlers through the real path, with the host's
// pipelined sends (the default) and without (host.pipelined_sends = false):
// the order a connection sees, what a failed send does, and what the config
// changes. Since ABI 1.1 it changes nothing for a 1.1 plugin (cpptest: its
// Send is ws_send_start, its SendAndWait ws_send, which always blocks); it
// only concerns what ws_send returns inside a 1.0 plugin's handler (ctest10,
// built against the 1.0 header).
#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

class SendTest : public HostTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("cpptest")));
    UseConfig(std::string("[host]\npipelined_sends = ") + (pipelined() ? "true" : "false") + "\n");
    ASSERT_NO_FATAL_FAILURE(StartHost());
  }
  bool pipelined() const { return GetParam(); }
};

TEST_P(SendTest, ManySendsToOneConnectionFromOneHandlerArriveInOrder) {
  auto client = Connect("cpptest");
  ASSERT_TRUE(client);
  constexpr int kSends = 300;
  ASSERT_TRUE(client->SendText("burst:" + std::to_string(kSends)));
  for (int i = 0; i < kSends; ++i) {
    auto frame = client->Receive();
    ASSERT_TRUE(frame) << "frame " << i << " missing";
    ASSERT_EQ(frame->data, "burst " + std::to_string(i));
  }
  auto done = client->Receive();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->data, "burst done");
}

TEST_P(SendTest, EventsOfAConnectionSeeTheSendsOfEarlierEventsCompleted) {
  // Each burst is answered (and the next message handled) only after all of
  // its sends completed, so bursts never interleave.
  auto client = Connect("cpptest");
  ASSERT_TRUE(client);
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(client->SendText("burst:40"));
  for (int b = 0; b < 5; ++b) {
    for (int i = 0; i < 40; ++i) {
      auto frame = client->Receive();
      ASSERT_TRUE(frame);
      ASSERT_EQ(frame->data, "burst " + std::to_string(i)) << "burst " << b;
    }
    auto done = client->Receive();
    ASSERT_TRUE(done);
    ASSERT_EQ(done->data, "burst done");
  }
}

TEST_P(SendTest, ASendBeforeACloseArrivesBeforeTheConnectionCloses) {
  for (int i = 0; i < 20; ++i) {
    auto client = Connect("cpptest");
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->SendText("bye"));
    auto frame = client->Receive();
    ASSERT_TRUE(frame) << "round " << i << ": the goodbye was lost to the close";
    EXPECT_EQ(frame->data, "goodbye");
    EXPECT_EQ(client->WaitClosed(), 1000);
  }
}

// Send (ws_send_start, no id): OK at once, whatever the config; the failure
// surfaces when the handler's call ends.
TEST_P(SendTest, AFailedSendFailsTheHandlerAndTheConnectionLives) {
  auto client = Connect("cpptest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("startto:no-such-connection"));
  auto reported = client->Receive();
  ASSERT_TRUE(reported);
  EXPECT_EQ(reported->data, "ok");
  EXPECT_TRUE(host_.WaitForStderr("message handler failed on socket cpptest (connection"));
  EXPECT_TRUE(host_.WaitForStderr("NOT_FOUND: ws_send cpptest/no-such-connection"));
  ASSERT_TRUE(client->SendText("still here"));
  auto echo = client->Receive();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data, "still here");
}

// SendAndWait (ws_send) and StartSend().Wait() (ws_send_start with an id,
// ws_send_wait): the send's own result goes to the plugin, whatever the
// config, and the handler does not fail.
TEST_P(SendTest, AWaitedSendHandsItsErrorToThePlugin) {
  auto client = Connect("cpptest");
  ASSERT_TRUE(client);
  for (const char* command : {"sendto:no-such-connection", "waitto:no-such-connection"}) {
    SCOPED_TRACE(command);
    ASSERT_TRUE(client->SendText(command));
    auto reported = client->Receive();
    ASSERT_TRUE(reported);
    EXPECT_EQ(reported->data.rfind("error:NOT_FOUND:", 0), 0u) << reported->data;
  }
  // A failure logged now is the first of this connection: the host logs a
  // failed call before it runs the connection's next event.
  ASSERT_TRUE(client->SendText("fail"));
  ASSERT_TRUE(host_.WaitForStderr("HANDLER: fail requested"));
  EXPECT_EQ(host_.stderr_text().find("NOT_FOUND: ws_send cpptest/no-such-connection"),
            std::string::npos)
      << "a send whose result the plugin got failed the handler as well";
}

INSTANTIATE_TEST_SUITE_P(PipelinedAndBlocking, SendTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Pipelined" : "Blocking";
                         });

// A plugin built against the 1.0 header (no ws_send_start): its ws_send is
// what host.pipelined_sends says, as before ABI 1.1.
class Send10Test : public HostTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("abi/ctest10")));
    UseConfig(std::string("[host]\npipelined_sends = ") + (pipelined() ? "true" : "false") + "\n");
    ASSERT_NO_FATAL_FAILURE(StartHost());
  }
  bool pipelined() const { return GetParam(); }
};

TEST_P(Send10Test, PipelinedSendsDecideWhatWsSendReturnsInAHandler) {
  auto client = Connect("ctest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("sendto:no-such-connection"));
  auto reported = client->Receive();
  ASSERT_TRUE(reported);
  if (pipelined()) {
    // Started in the background: ws_send said OK, and the failure surfaced
    // when the handler's call ended.
    EXPECT_EQ(reported->data, "ok");
    EXPECT_TRUE(host_.WaitForStderr("message handler failed on socket ctest (connection"));
    EXPECT_TRUE(host_.WaitForStderr("NOT_FOUND: ws_send ctest/no-such-connection"));
  } else {
    // A blocking send hands its error to the plugin, which reported it.
    EXPECT_EQ(reported->data.rfind("error:NOT_FOUND:", 0), 0u) << reported->data;
  }
  ASSERT_TRUE(client->SendText("burst"));  // no command: echoed
  auto echo = client->Receive();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data, "burst");
}

INSTANTIATE_TEST_SUITE_P(PipelinedAndBlocking, Send10Test, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Pipelined" : "Blocking";
                         });

}  // namespace
}  // namespace nitric::testing
