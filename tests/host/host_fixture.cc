#include "host/host_fixture.h"

#include <fstream>
#include <iterator>

namespace nitric::testing {

std::filesystem::path TestPlugin(const std::string& name) {
  return std::filesystem::path(NITRIC_TEST_PLUGIN_DIR) / (name + ".so");
}

std::filesystem::path BrokenPlugin(const std::string& file) {
  return std::filesystem::path(NITRIC_TEST_PLUGIN_DIR) / "broken" / file;
}

std::filesystem::path ExamplePlugin(const std::string& name) {
  return std::filesystem::path(NITRIC_EXAMPLE_PLUGIN_DIR) / (name + ".so");
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

HostTest::HostTest() : plugins_(dir_.path() / "plugins") {
  std::filesystem::create_directories(plugins_);
}

void HostTest::SetUp() { ASSERT_NO_FATAL_FAILURE(membrane_.Start()); }

void HostTest::TearDown() {
  if (HasFailure()) {
    std::cerr << "---- nitric-host stderr ----\n"
              << host_.stderr_text() << "---- nitric-host stdout ----\n"
              << host_.stdout_text() << "----\n";
  }
}

void HostTest::AddPlugin(const std::filesystem::path& plugin, const std::string& as) {
  ASSERT_TRUE(std::filesystem::exists(plugin)) << plugin << " was not built";
  // A copy, not a symlink: the host refuses links that leave the plugins
  // folder (host/plugins/file_trust.h).
  std::filesystem::copy_file(plugin, plugins_ / (as.empty() ? plugin.filename().string() : as));
}

void HostTest::UseConfig(const std::string& toml) {
  config_ = dir_.path() / "nitric-host.toml";
  std::ofstream(*config_) << toml;
}

void HostTest::StartHost(const std::vector<std::string>& extra_args,
                         const std::map<std::string, std::string>& env) {
  std::vector<std::string> args{"--plugins", plugins_.string()};
  if (config_) {
    args.push_back("--config");
    args.push_back(config_->string());
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::map<std::string, std::string> all_env{{"SERVICE_ADDRESS", membrane_.grpc_address()}};
  for (const auto& [k, v] : env) all_env[k] = v;
  ASSERT_TRUE(host_.Start(args, all_env));
  ASSERT_TRUE(host_.WaitForStderr("] ready: ")) << "host did not become ready";
}

std::string HostTest::Url(const std::string& socket, const std::string& query) {
  auto url = membrane_.membrane().SocketUrl(socket);
  EXPECT_TRUE(url.has_value()) << "socket " << socket << " unknown to the membrane";
  return url.value_or("ws://127.0.0.1:1") + "/" + (query.empty() ? "" : "?" + query);
}

std::unique_ptr<WsClient> HostTest::Connect(const std::string& socket, const std::string& query) {
  WsClient::ConnectResult r = WsClient::Connect(Url(socket, query));
  EXPECT_EQ(r.http_status, 101) << r.error << " " << r.body;
  return std::move(r.client);
}

}  // namespace nitric::testing
