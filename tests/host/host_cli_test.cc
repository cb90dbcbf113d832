// The command line of the real binary: --version, --help, --check, config
// errors and their exit codes, --dev, JSON logs.
#include <signal.h>

#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

class CliTest : public ::testing::Test {
 protected:
  CliTest() : plugins_(dir_.path() / "plugins") { std::filesystem::create_directories(plugins_); }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- stderr ----\n"
                << host_.stderr_text() << "---- stdout ----\n"
                << host_.stdout_text();
    }
  }
  void Add(const std::filesystem::path& plugin) {
    std::filesystem::copy_file(plugin, plugins_ / plugin.filename());
  }
  std::filesystem::path WriteFile(const std::string& name, const std::string& text) {
    const auto path = dir_.path() / name;
    std::ofstream(path) << text;
    return path;
  }

  TempDir dir_;
  std::filesystem::path plugins_;
  HostProcess host_;
};

TEST_F(CliTest, VersionAndHelp) {
  EXPECT_EQ(host_.Run({"--version"}), 0);
  EXPECT_EQ(host_.stdout_text(), "nitric-host 0.1.0 (plugin ABI 1.1)\n");
  HostProcess help;
  EXPECT_EQ(help.Run({"--help"}), 0);
  EXPECT_NE(help.stdout_text().find("Usage: nitric-host"), std::string::npos);
  EXPECT_NE(help.stdout_text().find("--check"), std::string::npos);
}

TEST_F(CliTest, UsageErrorExitsTwo) {
  EXPECT_EQ(host_.Run({"--plugins"}), 2);
  EXPECT_EQ(host_.stderr_text(), "nitric-host: --plugins needs a value\n");
}

TEST_F(CliTest, MissingConfigFileExitsTwo) {
  EXPECT_EQ(host_.Run({"--config", (dir_.path() / "none.toml").string()}), 2);
  EXPECT_NE(host_.stderr_text().find("none.toml: cannot read config file (no such file)"),
            std::string::npos);
}

TEST_F(CliTest, ConfigErrorNamesFileLineAndKeyAndExitsTwo) {
  const auto config = WriteFile("bad.toml", "[host]\nworkers = \"many\"\n");
  EXPECT_EQ(host_.Run({"--config", config.string()}), 2);
  EXPECT_NE(host_.stderr_text().find(config.string() +
                                     ":2:11: host.workers: expected an integer, got a string"),
            std::string::npos);
}

TEST_F(CliTest, UnknownConfigKeyIsAWarningOnly) {
  const auto config = WriteFile("odd.toml", "[host]\ncolour = \"blue\"\n");
  Add(TestPlugin("ctest"));
  EXPECT_EQ(host_.Run({"--check", "--config", config.string(), "--plugins", plugins_.string()}), 0);
  EXPECT_NE(host_.stderr_text().find("warning [host] config: " + config.string() +
                                     ":2:1: unknown key host.colour (ignored)"),
            std::string::npos);
}

TEST_F(CliTest, CheckPrintsWhatEachPluginDeclaresAndHandles) {
  Add(TestPlugin("ctest"));
  Add(ExamplePlugin("broadcast"));
  EXPECT_EQ(host_.Run({"--check", "--plugins", plugins_.string()}), 0);
  const std::string out = host_.stdout_text();
  EXPECT_NE(out.find("ok      broadcast.so: broadcast"), std::string::npos) << out;
  EXPECT_NE(out.find("websockets [public], stores [connections:"), std::string::npos) << out;
  EXPECT_NE(out.find("ok      ctest.so: ctest"), std::string::npos) << out;
  EXPECT_NE(out.find("handles [ctest:connect"), std::string::npos) << out;
  EXPECT_NE(out.find("2 plugin(s) ok, 0 failed"), std::string::npos) << out;
}

TEST_F(CliTest, CheckFailsWhenAnyPluginFails) {
  Add(TestPlugin("ctest"));
  Add(BrokenPlugin("noentry.so"));
  EXPECT_EQ(host_.Run({"--check", "--plugins", plugins_.string()}), 1);
  const std::string out = host_.stdout_text();
  EXPECT_NE(out.find("ok      ctest.so"), std::string::npos) << out;
  EXPECT_NE(out.find("FAILED  noentry.so: "), std::string::npos) << out;
  EXPECT_NE(out.find("1 plugin(s) ok, 1 failed"), std::string::npos) << out;
}

TEST_F(CliTest, CheckFailsOnAMissingFolder) {
  EXPECT_EQ(host_.Run({"--check", "--plugins", (dir_.path() / "nowhere").string()}), 1);
  EXPECT_NE(host_.stdout_text().find("FAILED  cannot read plugins folder"), std::string::npos);
}

TEST_F(CliTest, CheckOfAnEmptyFolderSucceeds) {
  EXPECT_EQ(host_.Run({"--check", "--plugins", plugins_.string()}), 0);
  EXPECT_NE(host_.stdout_text().find("0 plugin(s) ok, 0 failed"), std::string::npos);
}

TEST_F(CliTest, DevRunsAMembraneAndPrintsSocketUrls) {
  Add(TestPlugin("ctest"));
  ASSERT_TRUE(host_.Start({"--dev", "--dev-port", "0", "--dev-data",
                           (dir_.path() / "data").string(), "--plugins", plugins_.string()}));
  ASSERT_TRUE(host_.WaitForStdout("\n"));
  std::smatch m;
  const std::string out = host_.stdout_text();
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex("websocket ctest: (ws://127\\.0\\.0\\.1:[0-9]+)")))
      << out;
  auto connected = WsClient::Connect(m[1].str() + "/");
  ASSERT_EQ(connected.http_status, 101) << connected.error;
  ASSERT_TRUE(connected.client->SendText("dev"));
  auto reply = connected.client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "dev");
  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(), 0);
}

// The dev membrane of `--dev` runs as a child of the host (docs/ARCHITECTURE.md#dev-membrane):
// its pid, from the host's main thread's children.
std::optional<pid_t> DevMembraneChild(pid_t host) {
  std::ifstream in("/proc/" + std::to_string(host) + "/task/" + std::to_string(host) + "/children");
  pid_t child = 0;
  if (in >> child) return child;
  return std::nullopt;
}

// Whether `pid` is gone or only a zombie nobody reaped.
bool Ended(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return true;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

// Starts `--dev` and returns the socket's URL, or "" (the test has failed).
std::string StartDev(HostProcess& host, const TempDir& dir, const std::filesystem::path& plugins) {
  if (!host.Start({"--dev", "--dev-port", "0", "--dev-data", (dir.path() / "data").string(),
                   "--plugins", plugins.string()})) {
    ADD_FAILURE() << "host did not start";
    return "";
  }
  if (!host.WaitForStdout("\n")) {
    ADD_FAILURE() << "no socket URL printed";
    return "";
  }
  std::smatch m;
  const std::string out = host.stdout_text();
  if (!std::regex_search(out, m, std::regex("websocket ctest: (ws://127\\.0\\.0\\.1:[0-9]+)"))) {
    ADD_FAILURE() << out;
    return "";
  }
  return m[1].str();
}

TEST_F(CliTest, DevMembraneEndsWithAKilledHostAndFreesItsPort) {
  Add(TestPlugin("ctest"));
  const std::string url = StartDev(host_, dir_, plugins_);
  ASSERT_FALSE(url.empty());
  const std::optional<pid_t> membrane = DevMembraneChild(host_.pid());
  ASSERT_TRUE(membrane.has_value());
  host_.Signal(SIGKILL);
  host_.Wait();
  bool ended = false;
  for (int i = 0; i < 6000 && !ended; ++i) {  // 60 s: bounds a hang only
    ended = Ended(*membrane);
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(ended) << "the dev membrane outlived its host";
  EXPECT_NE(WsClient::Connect(url + "/").http_status, 101) << "its gateway port still answers";
}

TEST_F(CliTest, DevHostStopsWithCodeOneWhenItsMembraneDies) {
  Add(TestPlugin("ctest"));
  ASSERT_FALSE(StartDev(host_, dir_, plugins_).empty());
  const std::optional<pid_t> membrane = DevMembraneChild(host_.pid());
  ASSERT_TRUE(membrane.has_value());
  ASSERT_EQ(kill(*membrane, SIGKILL), 0);
  EXPECT_EQ(host_.Wait(), 1);
  EXPECT_NE(host_.stderr_text().find("the dev membrane exited unexpectedly"), std::string::npos);
}

TEST_F(CliTest, JsonLogsAreOneObjectPerLine) {
  Add(TestPlugin("ctest"));
  EXPECT_EQ(host_.Run({"--check", "--log-format", "json", "--plugins", plugins_.string()}), 0);
  std::istringstream lines(host_.stderr_text());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_TRUE(std::regex_match(
        line,
        std::regex(R"(\{"time":"[0-9T:.-]+Z","level":"[a-z]+","logger":"[^"]*","msg":".*"\})")))
        << line;
  }
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace nitric::testing
