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

TEST_F(Broadcast, RejectsAConnectItCannotStore) {
  host_.SetMembraneDown(true);
  EXPECT_FALSE(host_.Connect("public", "a"));
  EXPECT_EQ(host_.Message("public", "a", "hello"), NITRIC_ERR_UNAVAILABLE);
}

}  // namespace
