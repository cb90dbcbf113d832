// Command-line parsing.
#include "host/app/cli.h"

#include <gtest/gtest.h>

namespace nitric::host {
namespace {

TEST(CliTest, EveryFlag) {
  CliOptions o;
  const Status st =
      ParseCli({"--plugins", "p", "--config=c.toml", "--log-level", "debug", "--log-format=json",
                "--dev", "--dev-data", "d", "--dev-port=0", "--watch", "--check"},
               &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(o.plugins, std::filesystem::path("p"));
  EXPECT_EQ(o.config, std::filesystem::path("c.toml"));
  EXPECT_EQ(o.log_level, spdlog::level::debug);
  EXPECT_EQ(o.log_format, LogFormat::kJson);
  EXPECT_TRUE(o.dev);
  EXPECT_EQ(o.dev_data, "d");
  EXPECT_EQ(o.dev_port, 0);
  EXPECT_TRUE(o.watch);
  EXPECT_TRUE(o.check);
  EXPECT_FALSE(o.reload);
}

TEST(CliTest, ReloadIsASubcommandThatTakesOnlyWhereTheHostIs) {
  CliOptions o;
  Status st = ParseCli({"reload", "--pid-file", "/run/h.pid"}, &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(o.reload);
  EXPECT_EQ(o.pid_file, std::filesystem::path("/run/h.pid"));

  CliOptions with_plugins;
  st = ParseCli({"reload", "--plugins", "p"}, &with_plugins);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "reload takes only --pid-file FILE or --config FILE (see --help)");
  // Only the first word is a subcommand.
  CliOptions later;
  st = ParseCli({"--watch", "reload"}, &later);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "unknown argument \"reload\" (see --help)");
}

TEST(CliTest, UsageErrorsSayWhatIsWrong) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {{"--plugins"}, "--plugins needs a value"},
           {{"--log-level", "loud"},
            "--log-level: expected trace, debug, info, warn, error, critical or off, got \"loud\""},
           {{"--log-format=xml"}, "--log-format: expected text or json, got \"xml\""},
           {{"--dev-port", "70000"}, "--dev-port: expected a port number 0..65535, got \"70000\""},
           {{"--check=yes"}, "--check takes no value"},
           {{"--frobnicate"}, "unknown argument \"--frobnicate\" (see --help)"},
       }) {
    CliOptions o;
    const Status st = ParseCli(c.args, &o);
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(st.message(), c.error);
  }
}

}  // namespace
}  // namespace nitric::host
