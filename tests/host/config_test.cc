// Config parsing: defaults, every key, and every kind of error.
#include "host/config/config.h"

#include <fstream>

#include <gtest/gtest.h>

#include "support/membrane_fixture.h"

namespace nitric::host {
namespace {

ConfigResult Parse(std::string_view text) { return ParseConfig(text, "/etc/nitric/host.toml"); }

TEST(ConfigTest, NoFileMeansBuiltInDefaults) {
  ConfigResult r = LoadConfig(std::nullopt);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.membrane_address, "127.0.0.1:50051");
  EXPECT_EQ(r.config.service_name, "nitric-host");
  EXPECT_EQ(r.config.plugins_dir, "plugins");
  EXPECT_EQ(r.config.workers, HostConfig::DefaultWorkers());
  EXPECT_GE(r.config.workers, 4);
  EXPECT_EQ(r.config.log_level, spdlog::level::info);
  EXPECT_EQ(r.config.log_format, LogFormat::kText);
  EXPECT_FALSE(r.config.watch);
  EXPECT_TRUE(r.config.pid_file.empty());
  EXPECT_TRUE(r.config.pipelined_sends);
  EXPECT_TRUE(r.config.plugins.empty());
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ConfigTest, EveryKeyIsRead) {
  ConfigResult r = Parse(R"(
[membrane]
address = "127.0.0.1:6000"
service_name = "chat"
timeout_ms = 2500
[host]
plugins_dir = "lib/plugins"
workers = 7
watch = true
pid_file = "run/host.pid"
pipelined_sends = false
[log]
level = "debug"
format = "json"
[plugins.auth]
token = "s3cret"
sockets = ["public", "admin"]
[plugins.echo]
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.membrane_address, "127.0.0.1:6000");
  EXPECT_EQ(r.config.service_name, "chat");
  EXPECT_EQ(r.config.call_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(r.config.plugins_dir, "/etc/nitric/lib/plugins");  // relative to the file
  EXPECT_EQ(r.config.workers, 7);
  EXPECT_TRUE(r.config.watch);
  EXPECT_EQ(r.config.pid_file, "/etc/nitric/run/host.pid");  // relative to the file
  EXPECT_FALSE(r.config.pipelined_sends);
  EXPECT_EQ(r.config.log_level, spdlog::level::debug);
  EXPECT_EQ(r.config.log_format, LogFormat::kJson);
  EXPECT_EQ(r.config.plugins["auth"]["token"].value_or(std::string()), "s3cret");
  EXPECT_EQ(r.config.plugins["auth"]["sockets"].as_array()->size(), 2u);
  EXPECT_TRUE(r.config.plugins["echo"].is_table());
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ConfigTest, AbsolutePluginsDirIsKept) {
  ConfigResult r = Parse("[host]\nplugins_dir = \"/opt/plugins\"\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.plugins_dir, "/opt/plugins");
}

TEST(ConfigTest, WorkersZeroMeansAutomatic) {
  ConfigResult r = Parse("[host]\nworkers = 0\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.workers, HostConfig::DefaultWorkers());
}

TEST(ConfigTest, TheShippedConfigFileIsValidAndWarningFree) {
  ConfigResult r = LoadConfig(std::filesystem::path(NITRIC_SOURCE_DIR) / "config/nitric-host.toml");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  EXPECT_EQ(r.config.membrane_address, "127.0.0.1:50051");
  EXPECT_EQ(r.config.workers, HostConfig::DefaultWorkers());
}

TEST(ConfigTest, UnknownKeysAreWarningsWithTheirLine) {
  ConfigResult r = Parse("colour = 1\n[host]\nworkers = 2\nspeed = \"fast\"\n[extra]\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_EQ(r.warnings[0], "/etc/nitric/host.toml:1:1: unknown key colour (ignored)");
  // Tables are walked in key order.
  EXPECT_EQ(r.warnings[1], "/etc/nitric/host.toml:5:2: unknown key extra (ignored)");
  EXPECT_EQ(r.warnings[2], "/etc/nitric/host.toml:4:1: unknown key host.speed (ignored)");
  EXPECT_EQ(r.config.workers, 2);
}

struct BadConfig {
  const char* name;
  const char* text;
  const char* error;  // exact message
};

class ConfigErrorTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigErrorTest, IsRefusedWithFileLineAndKey) {
  ConfigResult r = Parse(GetParam().text);
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    EveryErrorKind, ConfigErrorTest,
    ::testing::Values(
        BadConfig{"Syntax", "[host\nworkers = 1\n",
                  "/etc/nitric/host.toml:1:6: Error while parsing table header: expected ']', saw "
                  "'\\n'"},
        BadConfig{"WorkersNotAnInteger", "[host]\nworkers = \"4\"\n",
                  "/etc/nitric/host.toml:2:11: host.workers: expected an integer, got a string"},
        BadConfig{"WorkersOutOfRange", "[host]\nworkers = -1\n",
                  "/etc/nitric/host.toml:2:11: host.workers: expected 0..1024; got -1"},
        BadConfig{"WatchNotABoolean", "[host]\nwatch = \"yes\"\n",
                  "/etc/nitric/host.toml:2:9: host.watch: expected a boolean, got a string"},
        BadConfig{"AddressEmpty", "[membrane]\naddress = \"\"\n",
                  "/etc/nitric/host.toml:2:11: membrane.address: must not be empty"},
        BadConfig{"AddressNotAString", "[membrane]\naddress = 50051\n",
                  "/etc/nitric/host.toml:2:11: membrane.address: expected a string, got an "
                  "integer"},
        BadConfig{"TimeoutZero", "[membrane]\ntimeout_ms = 0\n",
                  "/etc/nitric/host.toml:2:14: membrane.timeout_ms: expected 1..3600000; got 0"},
        BadConfig{"LogLevelUnknown", "[log]\nlevel = \"loud\"\n",
                  "/etc/nitric/host.toml:2:9: log.level: expected one of trace, debug, info, "
                  "warn, error, critical, off; got \"loud\""},
        BadConfig{"LogFormatUnknown", "[log]\nformat = \"xml\"\n",
                  "/etc/nitric/host.toml:2:10: log.format: expected text or json; got \"xml\""},
        BadConfig{"SectionNotATable", "host = 3\n",
                  "/etc/nitric/host.toml:1:8: host: expected a table, got an integer"},
        BadConfig{"PluginTableNotATable", "[plugins]\nauth = \"x\"\n",
                  "/etc/nitric/host.toml:2:8: plugins.auth: expected a table, got a string"}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return std::string(info.param.name); });

TEST(ConfigTest, MissingFileIsAnError) {
  ConfigResult r = LoadConfig(std::filesystem::path("/nonexistent/nitric-host.toml"));
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(),
            "/nonexistent/nitric-host.toml: cannot read config file (no such file)");
}

TEST(ConfigTest, FileErrorsNameTheFile) {
  testing::TempDir dir;
  const auto path = dir.path() / "bad.toml";
  std::ofstream(path) << "[log]\nlevel = 3\n";
  ConfigResult r = LoadConfig(path);
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(),
            path.string() + ":2:9: log.level: expected a string, got an integer");
}

TEST(ConfigTest, ServiceAddressOverridesTheFile) {
  ConfigResult r = Parse("[membrane]\naddress = \"127.0.0.1:1\"\n");
  ASSERT_TRUE(r.status.ok());
  setenv("SERVICE_ADDRESS", "127.0.0.1:2", 1);
  ApplyEnvironment(&r.config);
  unsetenv("SERVICE_ADDRESS");
  EXPECT_EQ(r.config.membrane_address, "127.0.0.1:2");
}

}  // namespace
}  // namespace nitric::host
