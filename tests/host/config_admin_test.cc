// The [admin] keys and --admin (host/config/config.h): off by default, the
// listen address checked, and a non-loopback address refused unless
// allow_remote.
#include <gtest/gtest.h>

#include "host/app/cli.h"
#include "host/config/config.h"

namespace nitric::host {
namespace {

ConfigResult Parse(std::string_view text) { return ParseConfig(text, "/etc/nitric/host.toml"); }

TEST(ConfigAdminTest, OffByDefault) {
  ConfigResult r = Parse("");
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.config.admin_listen.empty());
  EXPECT_FALSE(r.config.admin_allow_remote);
  EXPECT_FALSE(r.config.admin_allow_reload);
  EXPECT_TRUE(CheckAdminConfig(r.config).ok());
}

TEST(ConfigAdminTest, EveryKeyIsRead) {
  ConfigResult r = Parse(R"(
[admin]
listen = "[::1]:9464"
allow_reload = true
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.admin_listen, "[::1]:9464");
  EXPECT_TRUE(r.config.admin_allow_reload);
  EXPECT_FALSE(r.config.admin_allow_remote);
}

TEST(ConfigAdminTest, NonLoopbackNeedsAllowRemote) {
  ConfigResult refused = Parse("[admin]\nlisten = \"0.0.0.0:9464\"\n");
  ASSERT_FALSE(refused.status.ok());
  EXPECT_EQ(refused.status.message(),
            "/etc/nitric/host.toml:2:10: admin.listen: 0.0.0.0:9464 is not a loopback address: "
            "the admin endpoints (metrics, status, reload) would be reachable from other "
            "machines; set [admin] allow_remote = true to allow it");
  ConfigResult allowed = Parse("[admin]\nlisten = \"192.0.2.1:9464\"\nallow_remote = true\n");
  EXPECT_TRUE(allowed.status.ok()) << allowed.status.message();
}

TEST(ConfigAdminTest, BadAddressesAreClearErrors) {
  for (const char* bad : {"9464", "127.0.0.1", "localhost:9464", "127.0.0.1:99999", "127.0.0.1:x",
                          "::1:9464", "[::1]", "300.1.1.1:80"}) {
    ConfigResult r = Parse(std::string("[admin]\nlisten = \"") + bad + "\"\n");
    ASSERT_FALSE(r.status.ok()) << bad;
    EXPECT_NE(r.status.message().find("admin.listen: expected"), std::string::npos)
        << r.status.message();
  }
  ConfigResult type = Parse("[admin]\nallow_reload = \"yes\"\n");
  ASSERT_FALSE(type.status.ok());
  EXPECT_NE(type.status.message().find("admin.allow_reload: expected a boolean"),
            std::string::npos);
}

TEST(ConfigAdminTest, ListenAddressesParse) {
  StatusOr<ListenAddress> v4 = ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9464);
  EXPECT_TRUE(v4->loopback);
  StatusOr<ListenAddress> v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_TRUE(v6->loopback);
  EXPECT_TRUE(ParseListenAddress("127.1.2.3:1")->loopback);
  EXPECT_FALSE(ParseListenAddress("[::]:1")->loopback);
  EXPECT_FALSE(ParseListenAddress("10.0.0.1:1")->loopback);
}

TEST(ConfigAdminTest, CommandLineAddressIsCheckedWithTheFilesAllowRemote) {
  CliOptions cli;
  ASSERT_TRUE(ParseCli({"--admin", "0.0.0.0:9464"}, &cli).ok());
  ASSERT_TRUE(cli.admin.has_value());
  HostConfig config;
  config.admin_listen = *cli.admin;
  Status refused = CheckAdminConfig(config, "--admin");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("--admin 0.0.0.0:9464 is not a loopback address"),
            std::string::npos)
      << refused.message();
  config.admin_allow_remote = true;
  EXPECT_TRUE(CheckAdminConfig(config, "--admin").ok());
  CliOptions bad;
  Status parsed = ParseCli({"--admin", "nonsense"}, &bad);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.message().find("--admin"), std::string::npos) << parsed.message();
}

}  // namespace
}  // namespace nitric::host
