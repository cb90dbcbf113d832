// The nitric-dev-membrane binary: command line errors, startup lines, and a
// clean exit on SIGTERM / SIGINT with the KV data flushed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "support/temp_dir.h"

extern char** environ;

namespace nitric::devserver {
namespace {

using namespace std::chrono_literals;
namespace kv = ::nitric::proto::kvstore::v1;

// The binary, run with stdout and stderr captured into one pipe.
class Membrane {
 public:
  explicit Membrane(std::vector<std::string> args) {
    args.insert(args.begin(), NITRIC_DEV_MEMBRANE_BIN);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_fd_ = fds[0];
  }

  ~Membrane() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }

  bool started() const { return pid_ > 0; }

  // Reads output until `re` matches (returns the first capture group) or the
  // time runs out (returns empty).
  std::string WaitFor(const std::regex& re, std::chrono::milliseconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::smatch m;
    while (!std::regex_search(output_, m, re)) {
      if (!ReadSome(deadline)) return "";
    }
    return m.size() > 1 ? m[1].str() : m[0].str();
  }

  // Waits for the process to exit; returns its exit code, or -1.
  int Wait(std::chrono::milliseconds timeout = 60s) {  // bounds a hang only
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        while (ReadSome(std::chrono::steady_clock::now() + 100ms)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      ReadSome(std::chrono::steady_clock::now() + 20ms);
    }
    return -1;
  }

  void Signal(int sig) { kill(pid_, sig); }
  const std::string& output() const { return output_; }

 private:
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
};

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
