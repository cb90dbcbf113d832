// `nitric-host --dev --dev-allow-origin PATTERN` hands the pattern to the
// in-process dev gateway (docs/PROTOCOL.md#dev-gateway): the real binary, a real
// websocket client sending an Origin header.
#include <signal.h>

#include <regex>
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

WsClientOptions WithOrigin(const std::string& origin) {
  WsClientOptions options;
  options.headers = {{"Origin", origin}};
  return options;
}

TEST(HostDevOriginTest, DevAllowOriginReachesTheDevGateway) {
  TempDir dir;
  const auto plugins = dir.path() / "plugins";
  std::filesystem::create_directories(plugins);
  std::filesystem::copy_file(TestPlugin("ctest"), plugins / "ctest.so");
  HostProcess host;
  ASSERT_TRUE(host.Start({"--dev", "--dev-port", "0", "--dev-data", (dir.path() / "data").string(),
                          "--dev-allow-origin", "http://devbox:*", "--plugins", plugins.string()}));
  ASSERT_TRUE(host.WaitForStdout("\n", 60s)) << host.stderr_text();
  std::smatch m;
  const std::string out = host.stdout_text();
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex("websocket ctest: (ws://127\\.0\\.0\\.1:[0-9]+)")))
      << out;
  const std::string url = m[1].str() + "/";

  EXPECT_EQ(WsClient::Connect(url, WithOrigin("http://devbox:8080")).http_status, 101);
  EXPECT_EQ(WsClient::Connect(url, WithOrigin("http://localhost:3000")).http_status, 101);
  auto foreign = WsClient::Connect(url, WithOrigin("http://evil.example"));
  EXPECT_EQ(foreign.http_status, 403);
  EXPECT_NE(foreign.body.find("origin 'http://evil.example' is not allowed"), std::string::npos)
      << foreign.body;

  host.Signal(SIGTERM);
  EXPECT_EQ(host.Wait(30s), 0);
}

TEST(HostDevOriginTest, AnEmptyDevAllowOriginIsAUsageError) {
  HostProcess host;
  EXPECT_EQ(host.Run({"--dev", "--dev-allow-origin="}), 2);
  EXPECT_NE(host.stderr_text().find("--dev-allow-origin: expected a pattern"), std::string::npos)
      << host.stderr_text();
}

}  // namespace
}  // namespace nitric::testing
