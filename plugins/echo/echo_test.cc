// echo.so through the testing kit (nitric/testing.hpp).
#include <nitric/testing.hpp>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using nitric::testing::Host;

TEST(Echo, SendsEveryMessageBackToItsSenderOnly) {
  Host host;
  auto echo = host.Load(ECHO_PLUGIN);
  ASSERT_TRUE(echo.ok()) << echo.error();

  ASSERT_TRUE(host.Connect("echo", "a"));
  ASSERT_TRUE(host.Connect("echo", "b"));
  EXPECT_EQ(host.Message("echo", "a", "hello"), NITRIC_OK);
  EXPECT_EQ(host.Message("echo", "a", "again"), NITRIC_OK);

  EXPECT_EQ(host.Sent("echo", "a"), (std::vector<std::string>{"hello", "again"}));
  EXPECT_TRUE(host.Sent("echo", "b").empty());
}

TEST(Echo, IsBinarySafe) {
  Host host;
  ASSERT_TRUE(host.Load(ECHO_PLUGIN).ok());
  const std::string binary("bin\0ary\xff", 8);
  EXPECT_EQ(host.Message("echo", "a", binary), NITRIC_OK);
  EXPECT_EQ(host.Sent("echo", "a"), std::vector<std::string>{binary});
}

TEST(Echo, FailsTheMessageWhenTheSendFails) {
  Host host;
  ASSERT_TRUE(host.Load(ECHO_PLUGIN).ok());
  host.FailSendsTo("echo", "a", NITRIC_ERR_NOT_FOUND);
  EXPECT_EQ(host.Message("echo", "a", "hello"), NITRIC_ERR_NOT_FOUND);
  host.SetMembraneDown(true);
  EXPECT_EQ(host.Message("echo", "b", "hello"), NITRIC_ERR_UNAVAILABLE);
  EXPECT_TRUE(host.Sent("echo", "b").empty());
}

}  // namespace
