// broadcast.so through the testing kit (nitric/testing.hpp).
#include <nitric/testing.hpp>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using nitric::testing::Host;
using Strings = std::vector<std::string>;

class Broadcast : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = host_.Load(BROADCAST_PLUGIN);
    ASSERT_TRUE(loaded.ok()) << loaded.error();
  }
  Host host_;
};

TEST_F(Broadcast, StoresEachConnectionAndForgetsItOnDisconnect) {
  ASSERT_TRUE(host_.Connect("public", "a"));
  ASSERT_TRUE(host_.Connect("public", "b"));
  EXPECT_EQ(host_.KvGet("connections", "a"), std::optional<std::string>(R"({"connectionId":"a"})"));
  EXPECT_EQ(host_.KvKeys("connections"), (Strings{"a", "b"}));
  EXPECT_EQ(host_.Disconnect("public", "a"), NITRIC_OK);
  EXPECT_EQ(host_.KvKeys("connections"), Strings{"b"});
}

TEST_F(Broadcast, SendsEveryMessageToEveryConnection) {
  for (const char* c : {"a", "b", "c"}) ASSERT_TRUE(host_.Connect("public", c));
  EXPECT_EQ(host_.Message("public", "a", "hello"), NITRIC_OK);
  ASSERT_EQ(host_.Disconnect("public", "b"), NITRIC_OK);
  EXPECT_EQ(host_.Message("public", "c", "bye"), NITRIC_OK);

  EXPECT_EQ(host_.Sent("public", "a"), (Strings{"hello", "bye"}));
  EXPECT_EQ(host_.Sent("public", "b"), Strings{"hello"});
  EXPECT_EQ(host_.Sent("public", "c"), (Strings{"hello", "bye"}));
}

// Connections whose Disconnect never came (the host crashed, the network
// split) are gone: the membrane answers their sends NOT_FOUND.
TEST_F(Broadcast, ForgetsTheConnectionsThatAreGoneAndStillReachesTheOthers) {
  for (const char* c : {"a", "b", "c", "d"}) ASSERT_TRUE(host_.Connect("public", c));
  host_.FailSendsTo("public", "b", NITRIC_ERR_NOT_FOUND);
  host_.FailSendsTo("public", "d", NITRIC_ERR_NOT_FOUND);

  EXPECT_EQ(host_.Message("public", "a", "hello"), NITRIC_OK);
  EXPECT_EQ(host_.Sent("public", "a"), Strings{"hello"});
  EXPECT_EQ(host_.Sent("public", "c"), Strings{"hello"});
  EXPECT_TRUE(host_.Sent("public", "b").empty());
  EXPECT_EQ(host_.KvKeys("connections"), (Strings{"a", "c"}));

  // The next broadcast no longer tries them.
  host_.FailSendsTo("public", "b", NITRIC_OK);
  EXPECT_EQ(host_.Message("public", "c", "again"), NITRIC_OK);
  EXPECT_TRUE(host_.Sent("public", "b").empty());
  EXPECT_EQ(host_.Sent("public", "a"), (Strings{"hello", "again"}));
}

// Any other failure may be passing (INTERNAL is also what Nitric on AWS
// reports for a gone connection): the connection is kept, and the broadcast
// fails with it after reaching everyone else.
TEST_F(Broadcast, KeepsAConnectionThatFailedOtherwiseAndFails) {
  for (const char* c : {"a", "b", "c"}) ASSERT_TRUE(host_.Connect("public", c));
  host_.FailSendsTo("public", "b", NITRIC_ERR_INTERNAL);
  EXPECT_EQ(host_.Message("public", "a", "hello"), NITRIC_ERR_INTERNAL);
  EXPECT_EQ(host_.Sent("public", "a"), Strings{"hello"});
  EXPECT_EQ(host_.Sent("public", "c"), Strings{"hello"});
  EXPECT_EQ(host_.KvKeys("connections"), (Strings{"a", "b", "c"}));
}

TEST_F(Broadcast, RejectsAConnectItCannotStore) {
  host_.SetMembraneDown(true);
  EXPECT_FALSE(host_.Connect("public", "a"));
  EXPECT_EQ(host_.Message("public", "a", "hello"), NITRIC_ERR_UNAVAILABLE);
}

}  // namespace
