// The nitric-dev-membrane binary: command line errors, startup lines, a
// clean exit on SIGTERM / SIGINT with the KV data flushed, and GET /metrics on
// a socket's port with a real nitric-host (the echo example) behind it.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "host/host_process.h"
#include "membrane_process.h"
#include "metrics_text.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "support/temp_dir.h"
#include "support/ws_client.h"

namespace nitric::devserver {
namespace {

using namespace std::chrono_literals;
namespace kv = ::nitric::proto::kvstore::v1;

TEST(DevMembraneBinary, HelpPrintsUsageAndExitsZero) {
  Membrane m({"--help"});
  ASSERT_TRUE(m.started());
  EXPECT_EQ(m.Wait(), 0);
  EXPECT_NE(m.output().find("--listen HOST:PORT"), std::string::npos) << m.output();
}

TEST(DevMembraneBinary, BadCommandLineExitsTwoWithAReason) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--bogus"}, {"--listen", "nonsense"}, {"--gateway-port", "99999"}}) {
    Membrane m(args);
    ASSERT_TRUE(m.started());
    EXPECT_EQ(m.Wait(), 2) << args[0];
    EXPECT_NE(m.output().find("nitric-dev-membrane: "), std::string::npos) << m.output();
  }
}

class RunningBinaryTest : public ::testing::TestWithParam<int> {};

TEST_P(RunningBinaryTest, LogsItsListenersAndStopsCleanlyOnSignal) {
  testing::TempDir dir;
  std::filesystem::path data = dir.path() / "data";
  Membrane m({"--listen", "127.0.0.1:0", "--gateway-port", "0", "--data", data.string()});
  ASSERT_TRUE(m.started());
  std::string address = m.WaitFor(std::regex("gRPC listening on (127\\.0\\.0\\.1:[0-9]+)"));
  ASSERT_FALSE(address.empty()) << m.output();
  EXPECT_NE(m.WaitFor(std::regex(data.string())), "") << "data folder not printed: " << m.output();

  // Write through gRPC so the shutdown has something to flush.
  auto stub =
      kv::KvStore::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  kv::KvStoreSetValueRequest req;
  req.mutable_ref()->set_store("s");
  req.mutable_ref()->set_key("k");
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(R"({"a":1})", req.mutable_content()).ok());
  kv::KvStoreSetValueResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  ASSERT_TRUE(stub->SetValue(&ctx, req, &resp).ok());

  m.Signal(GetParam());

  EXPECT_EQ(m.Wait(), 0) << m.output();
  std::filesystem::path db = data / "kv" / "s.sqlite";
  EXPECT_TRUE(std::filesystem::exists(db));
  std::filesystem::path wal = db.string() + "-wal";
  EXPECT_TRUE(!std::filesystem::exists(wal) || std::filesystem::file_size(wal) == 0)
      << "WAL not checkpointed";
}

INSTANTIATE_TEST_SUITE_P(Signals, RunningBinaryTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) {
                           return std::string(info.param == SIGTERM ? "SIGTERM" : "SIGINT");
                         });

// README (the dev membrane): "It binds to loopback and warns loudly when told
// otherwise". 192.0.2.1 (TEST-NET-1, RFC 5737) is no address of this
// machine, so the bind fails right after the warning: nothing listens, and no
// packet leaves loopback.
TEST(DevMembraneBinary, WarnsLoudlyWhenToldToListenBeyondLoopback) {
  testing::TempDir dir;
  Membrane exposed(
      {"--listen", "192.0.2.1:0", "--gateway-port", "0", "--data", (dir.path() / "data").string()});
  ASSERT_TRUE(exposed.started());
  EXPECT_EQ(exposed.Wait(), 1) << exposed.output();
  EXPECT_NE(exposed.output().find(
                "!!! gRPC is listening on 192.0.2.1:0, which is not a loopback address."),
            std::string::npos)
      << exposed.output();
  EXPECT_NE(exposed.output().find("rapid-reset"), std::string::npos) << exposed.output();

  Membrane loopback({"--listen", "127.0.0.1:0", "--gateway-port", "0", "--data",
                     (dir.path() / "data2").string()});
  ASSERT_FALSE(loopback.WaitFor(std::regex("gRPC listening on (127\\.0\\.0\\.1:[0-9]+)")).empty())
      << loopback.output();
  loopback.Signal(SIGTERM);
  EXPECT_EQ(loopback.Wait(), 0);
  EXPECT_EQ(loopback.output().find("not a loopback address"), std::string::npos)
      << loopback.output();
}

TEST(DevMembraneBinary, BusyPortIsAnErrorNotASilentShare) {
  testing::TempDir dir;
  Membrane first(
      {"--listen", "127.0.0.1:0", "--gateway-port", "0", "--data", (dir.path() / "a").string()});
  std::string address = first.WaitFor(std::regex("gRPC listening on (127\\.0\\.0\\.1:[0-9]+)"));
  ASSERT_FALSE(address.empty()) << first.output();

  Membrane second(
      {"--listen", address, "--gateway-port", "0", "--data", (dir.path() / "b").string()});
  EXPECT_EQ(second.Wait(), 1) << second.output();
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(), 0);
}

// Polls `condition` until it holds; the deadline only bounds a hang.
template <typename Condition>
bool Eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(DevMembraneBinary, GetMetricsOnASocketsPortCountsItsTrafficAndPassesPromtool) {
  testing::TempDir dir;
  const auto plugins = dir.path() / "plugins";
  std::filesystem::create_directories(plugins);
  std::filesystem::copy_file(std::filesystem::path(NITRIC_EXAMPLE_PLUGIN_DIR) / "echo.so",
                             plugins / "echo.so");
  const auto config = dir.path() / "nitric-host.toml";
  std::ofstream(config) << "[host]\nplugins_dir = \"" << plugins.string() << "\"\n";
  Membrane m(
      {"--listen", "127.0.0.1:0", "--gateway-port", "0", "--data", (dir.path() / "data").string()});
  const std::string address = m.WaitFor(std::regex("gRPC listening on (127\\.0\\.0\\.1:[0-9]+)"));
  ASSERT_FALSE(address.empty()) << m.output();
  nitric::testing::HostProcess host;
  ASSERT_TRUE(host.Start({"--config", config.string()}, {{"SERVICE_ADDRESS", address}}));
  const std::string url =
      m.WaitFor(std::regex("websocket 'echo' listening on (ws://127\\.0\\.0\\.1:[0-9]+)"));
  ASSERT_FALSE(url.empty()) << m.output();

  // The host registers its streams after declaring the socket: connect once it has.
  std::unique_ptr<nitric::testing::WsClient> client;
  ASSERT_TRUE(Eventually([&] {
    client = nitric::testing::WsClient::Connect(url).client;
    return client != nullptr;
  })) << m.output()
      << host.stderr_text();
  ASSERT_TRUE(client->SendText("hello"));
  const auto echoed = client->Receive(60s);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->data, "hello");

  const std::string out = R"(nitric_dev_gateway_frames_total{socket="echo",direction="out"})";
  std::string text;
  ASSERT_TRUE(Eventually([&] {
    text = nitric::testing::HttpRequest(url + "/metrics").body;
    return nitric::testing::SampleValue(text, out) == 1;
  })) << text;
  EXPECT_EQ(nitric::testing::SampleValue(
                text, R"(nitric_dev_gateway_frames_total{socket="echo",direction="in"})"),
            1);
  EXPECT_EQ(nitric::testing::SampleValue(
                text, R"(nitric_dev_gateway_frame_bytes_total{socket="echo",direction="out"})"),
            5);
  EXPECT_EQ(nitric::testing::SampleValue(text, R"(nitric_dev_gateway_connections{socket="echo"})"),
            1);
  EXPECT_EQ(nitric::testing::SampleValue(
                text, R"(nitric_dev_gateway_info{socket="echo",profile="local"})"),
            1);
  const auto check = nitric::testing::PromtoolCheckMetrics(text);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\nfor:\n" << text;

  client.reset();
  host.Signal(SIGTERM);
  EXPECT_EQ(host.Wait(60s), 0) << host.stderr_text();
  m.Signal(SIGTERM);
  EXPECT_EQ(m.Wait(), 0) << m.output();
}

}  // namespace
}  // namespace nitric::devserver
