// auth.so through the testing kit (nitric/testing.hpp), guarding echo.so.
#include <nitric/testing.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using nitric::testing::Host;

bool Logged(const Host& host, std::string_view line) {
  const auto logs = host.Logs();
  return std::any_of(logs.begin(), logs.end(),
                     [&](const std::string& l) { return l.find(line) != std::string::npos; });
}

TEST(Auth, LetsInOnlyAFirstTokenThatMatches) {
  Host host(R"(
    [plugins.auth]
    sockets = ["echo"]
    token = "s3cret"
  )");
  ASSERT_TRUE(host.Load(AUTH_PLUGIN).ok());
  EXPECT_FALSE(host.Connect("echo", "c1"));
  EXPECT_FALSE(host.Connect("echo", "c2", {{"token", {"s3cre"}}}));
  EXPECT_FALSE(host.Connect("echo", "c3", {{"token", {"wrong", "s3cret"}}}));
  EXPECT_FALSE(host.Connect("echo", "c4", {{"token", {"s3cret!"}}}));
  EXPECT_TRUE(host.Connect("echo", "c5", {{"token", {"s3cret", "x"}}}));
  EXPECT_TRUE(Logged(host, "[auth] [info] guarding socket echo"));
}

TEST(Auth, RunsBeforeThePluginItGuardsWhateverTheLoadOrder) {
  Host host("[plugins.auth]\nsockets = [\"echo\"]\ntoken = \"s3cret\"\n");
  ASSERT_TRUE(host.Load(ECHO_PLUGIN).ok());
  ASSERT_TRUE(host.Load(AUTH_PLUGIN).ok());  // auth.so sorts before echo.so
  EXPECT_FALSE(host.Connect("echo", "intruder"));
  EXPECT_TRUE(host.Connect("echo", "friend", {{"token", {"s3cret"}}}));
  EXPECT_EQ(host.Message("echo", "friend", "hi"), NITRIC_OK);
  EXPECT_EQ(host.Sent("echo", "friend"), std::vector<std::string>{"hi"});
}

TEST(Auth, WithSocketsButNoTokenRejectsEveryConnectAndSaysSo) {
  Host host("[plugins.auth]\nsockets = [\"echo\"]\n");
  ASSERT_TRUE(host.Load(AUTH_PLUGIN).ok());
  EXPECT_FALSE(host.Connect("echo", "c1", {{"token", {""}}}));
  EXPECT_FALSE(host.Connect("echo", "c2", {{"token", {"anything"}}}));
  EXPECT_TRUE(Logged(host, "[auth] [warning] no [plugins.auth] token configured"));
}

TEST(Auth, WithoutSocketsGuardsNothingAndSaysSo) {
  Host host;
  ASSERT_TRUE(host.Load(AUTH_PLUGIN).ok());
  ASSERT_TRUE(host.Load(ECHO_PLUGIN).ok());
  EXPECT_TRUE(host.Connect("echo", "c1"));
  EXPECT_TRUE(Logged(host, "[auth] [warning] no [plugins.auth] sockets configured"));
}

}  // namespace
