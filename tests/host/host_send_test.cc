// Websocket sends from handlers through the real path, with the host's
// pipelined sends (the default) and without (host.pipelined_sends = false):
// the order a connection sees, what a failed send does, and the one thing
// pipelining changes — what ws.Send() returns inside a handler.
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

TEST_P(SendTest, AFailedSendFailsTheHandlerAndTheConnectionLives) {
  auto client = Connect("cpptest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("sendto:no-such-connection"));
  auto reported = client->Receive();
  ASSERT_TRUE(reported);
  if (pipelined()) {
    // The send went out in the background: Send said OK, and the failure
    // surfaced when the handler's call ended.
    EXPECT_EQ(reported->data, "ok");
    EXPECT_TRUE(host_.WaitForStderr("message handler failed on socket cpptest (connection", 5s));
    EXPECT_TRUE(host_.WaitForStderr("NOT_FOUND: ws_send cpptest/no-such-connection", 5s));
  } else {
    // A blocking send hands its error to the plugin, which reported it.
    EXPECT_EQ(reported->data.rfind("error:NOT_FOUND:", 0), 0u) << reported->data;
  }
  ASSERT_TRUE(client->SendText("still here"));
  auto echo = client->Receive();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data, "still here");
}

INSTANTIATE_TEST_SUITE_P(PipelinedAndBlocking, SendTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Pipelined" : "Blocking";
                         });

}  // namespace
}  // namespace nitric::testing
