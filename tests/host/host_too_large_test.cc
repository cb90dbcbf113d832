// A send the membrane cannot take because of its size (over gRPC's 4 MiB
// message limit, which the dev membrane keeps) is NITRIC_ERR_TOO_LARGE, not
// UNAVAILABLE: a retry cannot succeed (plugin.h, ABI 1.1). Real host, real
// dev membrane over loopback gRPC, real websocket client.
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

constexpr size_t kOverTheLimit = 5 << 20;

class TooLargeTest : public HostTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("toolarge")));
  }
};

// ws_send of a 1.1 plugin blocks whatever host.pipelined_sends says (on here,
// the default).
TEST_F(TooLargeTest, ABlockingSendOverTheLimitReturnsTooLargeAndTheConnectionLives) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto client = Connect("toolarge");
  ASSERT_TRUE(client);

  ASSERT_TRUE(client->SendText(std::to_string(kOverTheLimit)));
  auto report = client->Receive();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->data, "send:TOO_LARGE");

  ASSERT_TRUE(client->SendText("3"));
  auto small = client->Receive();
  ASSERT_TRUE(small);
  EXPECT_EQ(small->data, "xxx");
  report = client->Receive();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->data, "send:OK");
}

TEST_F(TooLargeTest, APipelinedSendOverTheLimitFailsTheHandlerWithTooLarge) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto client = Connect("toolarge");
  ASSERT_TRUE(client);

  ASSERT_TRUE(client->SendText("start:" + std::to_string(kOverTheLimit)));
  auto report = client->Receive();  // started at once: OK; the send fails later
  ASSERT_TRUE(report);
  EXPECT_EQ(report->data, "send:OK");
  EXPECT_TRUE(host_.WaitForStderr("TOO_LARGE: ws_send toolarge/")) << "no TOO_LARGE failure logged";
}

}  // namespace
}  // namespace nitric::testing
