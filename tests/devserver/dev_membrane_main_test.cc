// The nitric-dev-membrane binary: command line errors, startup lines, and a
// clean exit on SIGTERM / SIGINT with the KV data flushed.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "membrane_process.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "support/temp_dir.h"

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

}  // namespace
}  // namespace nitric::devserver
