// Crash quarantine (docs/ARCHITECTURE.md#isolation): a handler that segfaults takes the
// host down with SIGSEGV, as before, but leaves a record naming the plugin
// file (sha256); the restarted host refuses exactly that file and serves
// every other plugin; a changed build loads; `nitric-host quarantine --list`
// shows the record and `--clear` removes it. Real host processes, real .so
// builds, real websocket clients, the real `sha256sum`.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "host/crashy_builds.h"
#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

namespace fs = std::filesystem;

std::string Tag(char mode, int build) { return mode + std::to_string(100 + build % 900); }

// The sha256 of `file` as sha256sum prints it.
std::string Sha256Sum(const fs::path& file) {
  const std::string command = "sha256sum '" + file.string() + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  char hex[65] = {};
  const size_t n = std::fread(hex, 1, 64, pipe);
  ::pclose(pipe);
  return n == 64 ? std::string(hex, 64) : std::string();
}

class QuarantineTest : public HostTest {
 protected:
  void SetUp() override {
    HostTest::SetUp();
    // The host is made to crash: no core files from it.
    struct rlimit none {
      0, 0
    };
    ::setrlimit(RLIMIT_CORE, &none);
  }

  std::vector<std::string> HostArgs() const {
    return {"--plugins", plugins_.string(), "--state-dir", state_.string()};
  }
  std::map<std::string, std::string> HostEnv() const {
    return {{"SERVICE_ADDRESS", membrane_.grpc_address()}};
  }
  // `nitric-host quarantine ARGS --state-dir state_`: exit code, stdout in *out.
  int Quarantine(const std::vector<std::string>& args, std::string* out) {
    HostProcess cli;
    std::vector<std::string> all{"quarantine"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("--state-dir");
    all.push_back(state_.string());
    const int code = cli.Run(all);
    *out = cli.stdout_text() + cli.stderr_text();
    return code;
  }
  void ExpectEcho(WsClient& client, const std::string& body, const std::string& want) {
    ASSERT_TRUE(client.SendText(body));
    auto reply = client.Receive(10s);
    ASSERT_TRUE(reply) << "no reply to " << body;
    EXPECT_EQ(reply->data, want);
  }

  fs::path state_ = dir_.path() / "state";
};

TEST_F(QuarantineTest, AHandlerThatSegfaultsIsQuarantinedByItsSha256UntilChangedOrCleared) {
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('m', 1)));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("build")));
  const std::string sha = Sha256Sum(plugins_ / "crashy.so");
  ASSERT_EQ(sha.size(), 64u);
  ASSERT_NO_FATAL_FAILURE(StartHost({"--state-dir", state_.string()}));

  // 1. The handler segfaults: the host dies of SIGSEGV, as it would have
  // without the quarantine.
  auto crashy = Connect("crashy");
  ASSERT_TRUE(crashy);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*crashy, "fine", Tag('m', 1) + " fine"));
  ASSERT_TRUE(crashy->SendText("crash"));
  EXPECT_EQ(host_.Wait(30s), 128 + SIGSEGV);
  EXPECT_TRUE(fs::exists(state_ / ("crash-" + sha))) << "no record for sha256 " << sha;

  // 2. Restarted (as systemd's Restart=on-failure would): that file is
  // refused, naming the crash; the other plugin serves.
  HostProcess restarted;
  ASSERT_TRUE(restarted.Start(HostArgs(), HostEnv()));
  struct Stop {
    HostProcess& p;
    ~Stop() {
      p.Signal(SIGTERM);
      p.Wait(30s);
    }
  } stop{restarted};
  ASSERT_TRUE(restarted.WaitForStderr("] ready: ", 60s)) << restarted.stderr_text();
  const std::string log = restarted.stderr_text();
  EXPECT_NE(log.find("plugin crashy.so: refused: plugin crashy.so is quarantined: this exact file "
                     "(sha256 " +
                     sha + ") crashed the host with SIGSEGV in its message handler"),
            std::string::npos)
      << log;
  auto build = Connect("build");
  ASSERT_TRUE(build);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*build, "served", "0 served"));

  // 3. --list shows it.
  std::string out;
  EXPECT_EQ(Quarantine({"--list"}, &out), 0);
  EXPECT_NE(out.find("crashy.so  sha256 " + sha +
                     "  plugin crashy: crashed the host with SIGSEGV in its message handler"),
            std::string::npos)
      << out;

  // 4. A changed (fixed) build loads on reload, although the record stays.
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('o', 2)));
  restarted.Signal(SIGHUP);
  ASSERT_TRUE(restarted.WaitForStderr("] generation 2: ", 60s));
  EXPECT_NE(restarted.stderr_text().find("plugin crashy.so: loaded crashy"), std::string::npos);
  // Its socket is new to this host: wait until its streams are registered.
  ASSERT_TRUE(restarted.WaitForStderr("] ready: 2 socket(s) registered", 60s));
  auto fixed = Connect("crashy");
  ASSERT_TRUE(fixed);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*fixed, "crash", Tag('o', 2) + " crash"));

  // 5. --clear FILE removes the record: the crashing build is tried again.
  EXPECT_EQ(Quarantine({"--clear", "crashy.so"}, &out), 0) << out;
  EXPECT_NE(out.find("cleared crashy.so (sha256 " + sha + ")"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(state_ / ("crash-" + sha)));
  EXPECT_EQ(Quarantine({"--list"}, &out), 0);
  EXPECT_NE(out.find("no quarantined plugin file"), std::string::npos) << out;
  EXPECT_EQ(Quarantine({"--clear", "crashy.so"}, &out), 1) << "nothing left to clear";

  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('m', 1)));
  restarted.Signal(SIGHUP);
  ASSERT_TRUE(restarted.WaitForStderr("] generation 3: ", 60s));
  EXPECT_NE(restarted.stderr_text().find("plugin crashy.so: loaded new version crashy"),
            std::string::npos)
      << restarted.stderr_text();
}

TEST_F(QuarantineTest, AnInitThatCrashesTheHostWithoutPreflightIsQuarantined) {
  // With pre-flight off the crash happens in the host itself: at start-up.
  UseConfig("[host]\npreflight = false\nstate_dir = \"state\"\n");
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('a', 1)));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("build")));
  const std::string sha = Sha256Sum(plugins_ / "crashy.so");
  HostProcess first;
  ASSERT_TRUE(
      first.Start({"--plugins", plugins_.string(), "--config", config_->string()}, HostEnv()));
  EXPECT_EQ(first.Wait(30s), 128 + SIGABRT);
  // host.state_dir is relative to the config file's folder.
  ASSERT_TRUE(fs::exists(state_ / ("crash-" + sha))) << first.stderr_text();

  ASSERT_NO_FATAL_FAILURE(StartHost());
  EXPECT_NE(host_.stderr_text().find("is quarantined: this exact file (sha256 " + sha +
                                     ") crashed the host with SIGABRT in its init"),
            std::string::npos);
  auto build = Connect("build");
  ASSERT_TRUE(build);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*build, "served", "0 served"));
}

}  // namespace
}  // namespace nitric::testing
