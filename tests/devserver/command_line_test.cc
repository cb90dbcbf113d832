// nitric-dev-membrane's command line.
#include "devserver/command_line.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace nitric::devserver {
namespace {

struct Parsed {
  bool ok;
  CommandLine cl;
  std::string error;
};

Parsed Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "nitric-dev-membrane");
  Parsed p;
  p.ok = ParseCommandLine(static_cast<int>(args.size()), args.data(), &p.cl, &p.error);
  return p;
}

TEST(CommandLine, DefaultsMatchTheNitricCli) {
  Parsed p = Parse({});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.cl.options.listen, "127.0.0.1:50051");
  EXPECT_EQ(p.cl.options.gateway_base_port, 4001);
  EXPECT_EQ(p.cl.options.data_dir, ".nitric");
  EXPECT_FALSE(p.cl.help);
  EXPECT_TRUE(p.cl.options.allowed_origins.empty());
  EXPECT_EQ(p.cl.options.connect_timeout, std::chrono::seconds(10));
  EXPECT_EQ(p.cl.options.max_connections, 10000u);
}

TEST(CommandLine, TakesTheGatewayGuards) {
  Parsed p = Parse({"--allow-origin", "http://devbox:*", "--allow-origin=*", "--connect-timeout",
                    "0.25", "--max-connections=3"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.cl.options.allowed_origins, (std::vector<std::string>{"http://devbox:*", "*"}));
  EXPECT_EQ(p.cl.options.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(p.cl.options.max_connections, 3u);
  EXPECT_NE(Usage().find("--allow-origin PATTERN"), std::string::npos);
  EXPECT_NE(Usage().find("--connect-timeout SECONDS"), std::string::npos);
  EXPECT_NE(Usage().find("--max-connections N"), std::string::npos);
}

TEST(CommandLine, AcceptsEveryOptionInBothForms) {
  Parsed p = Parse({"--listen", "127.0.0.1:0", "--gateway-port=5000", "--data", "/tmp/x",
                    "--socket-port", "chat=6001", "--socket-port=news=6002"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.cl.options.listen, "127.0.0.1:0");
  EXPECT_EQ(p.cl.options.gateway_base_port, 5000);
  EXPECT_EQ(p.cl.options.data_dir, "/tmp/x");
  EXPECT_EQ(p.cl.options.socket_ports.at("chat"), 6001);
  EXPECT_EQ(p.cl.options.socket_ports.at("news"), 6002);
}

TEST(CommandLine, AcceptsBracketedIpv6) {
  Parsed p = Parse({"--listen", "[::1]:50051"});
  EXPECT_TRUE(p.ok) << p.error;
}

TEST(CommandLine, Help) {
  Parsed p = Parse({"--help"});
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.cl.help);
  EXPECT_NE(Usage().find("--listen HOST:PORT"), std::string::npos);
}

TEST(CommandLine, CollectTakesAFileAndTheCommandAfterDoubleDash) {
  Parsed p = Parse({"--collect", "spec.json", "--listen", "127.0.0.1:0", "--", "nitric-host",
                    "--listen", "--config=x"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.cl.collect, "spec.json");
  EXPECT_EQ(p.cl.options.listen, "127.0.0.1:0");
  EXPECT_EQ(p.cl.command, (std::vector<std::string>{"nitric-host", "--listen", "--config=x"}));

  Parsed bare = Parse({"--collect=-"});
  ASSERT_TRUE(bare.ok) << bare.error;
  EXPECT_EQ(bare.cl.collect, "-");
  EXPECT_TRUE(bare.cl.command.empty());
  EXPECT_FALSE(Parse({}).cl.collect.has_value());
  EXPECT_NE(Usage().find("--collect FILE"), std::string::npos);
}

TEST(CommandLine, ProfileIsLocalUnlessAwsIsAskedFor) {
  EXPECT_EQ(Parse({}).cl.options.profile.name, "local");
  Parsed p = Parse({"--profile", "aws"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.cl.options.profile.name, "aws");
  EXPECT_TRUE(p.cl.options.profile.text_only);
  EXPECT_EQ(p.cl.options.profile.idle_timeout, std::chrono::minutes(10));
  EXPECT_EQ(p.cl.options.profile.max_duration, std::chrono::hours(2));
  EXPECT_NE(Usage().find("--profile NAME"), std::string::npos);

  // The hidden test flags shorten the aws limits, in either order.
  Parsed short_limits =
      Parse({"--idle-timeout=0.5", "--profile=aws", "--max-connection-duration", "2"});
  ASSERT_TRUE(short_limits.ok) << short_limits.error;
  EXPECT_EQ(short_limits.cl.options.profile.idle_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(short_limits.cl.options.profile.max_duration, std::chrono::seconds(2));
  EXPECT_EQ(Usage().find("--idle-timeout"), std::string::npos) << "a test flag, not for --help";
}

TEST(CommandLine, RejectsBadInputWithAReason) {
  const std::vector<std::vector<const char*>> bad = {
      {"--bogus"},
      {"--listen"},
      {"--listen", "50051"},
      {"--listen", "127.0.0.1:"},
      {"--listen", "127.0.0.1:70000"},
      {"--listen", "::1:50051"},
      {"--gateway-port", "x"},
      {"--gateway-port", "-1"},
      {"--socket-port", "chat"},
      {"--socket-port", "=4000"},
      {"--socket-port", "chat=0"},
      {"--data", ""},
      {"--allow-origin", ""},
      {"--connect-timeout", "0"},
      {"--connect-timeout", "-1"},
      {"--connect-timeout", "1e3"},
      {"--connect-timeout", "inf"},
      {"--connect-timeout", "."},
      {"--connect-timeout", "100000"},
      {"--max-connections", "0"},
      {"--max-connections", "many"},
      {"--collect", ""},
      {"--profile", "gcp"},
      {"--profile", ""},
      {"--idle-timeout", "5"},
      {"--max-connection-duration", "5"},
      {"--profile", "aws", "--idle-timeout", "0"},
      {"--profile", "aws", "--max-connection-duration", "x"},
      {"--", "nitric-host"},
      {"--collect", "x.json", "--", ""},
      {"positional"},
  };
  for (const auto& args : bad) {
    Parsed p = Parse(args);
    EXPECT_FALSE(p.ok) << args[0];
    EXPECT_FALSE(p.error.empty()) << args[0];
  }
}

}  // namespace
}  // namespace nitric::devserver
