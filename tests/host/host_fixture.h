// The integration-test fixture: an in-process dev membrane on 127.0.0.1 with
// ephemeral ports, a private plugins folder, and the real nitric-host binary
// pointed at both through SERVICE_ADDRESS.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/host_process.h"
#include "support/membrane_fixture.h"
#include "support/ws_client.h"

namespace nitric::testing {

// Where the build puts plugins.
std::filesystem::path TestPlugin(const std::string& name);     // build/test-plugins/<name>.so
std::filesystem::path BrokenPlugin(const std::string& file);   // build/test-plugins/broken/<file>
std::filesystem::path ExamplePlugin(const std::string& name);  // build/plugins/<name>.so

// The whole content of a file, as bytes; empty if it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

class HostTest : public ::testing::Test {
 protected:
  HostTest();
  void SetUp() override;
  void TearDown() override;  // prints the host's output when the test failed

  // Copies `plugin` into the plugins folder (optionally under another name).
  void AddPlugin(const std::filesystem::path& plugin, const std::string& as = {});
  // Writes `toml` as the host's config file and passes --config.
  void UseConfig(const std::string& toml);

  // Starts nitric-host on the plugins folder and the membrane and waits for
  // it to report "ready". Use with ASSERT_NO_FATAL_FAILURE.
  void StartHost(const std::vector<std::string>& extra_args = {},
                 const std::map<std::string, std::string>& env = {});

  // ws:// URL of a socket on the dev gateway (fails the test if unknown).
  std::string Url(const std::string& socket, const std::string& query = "");
  // Connects and expects the upgrade to succeed.
  std::unique_ptr<WsClient> Connect(const std::string& socket, const std::string& query = "");

  MembraneFixture membrane_;
  TempDir dir_;
  std::filesystem::path plugins_;
  std::optional<std::filesystem::path> config_;
  HostProcess host_;
};

}  // namespace nitric::testing
