// Pre-flight (docs/ARCHITECTURE.md#isolation): a new plugin version whose init crashes,
// aborts or never returns is caught in a short-lived child process, so the
// serving host keeps the old version and no client notices; at start-up only
// that plugin is refused. Real host, real .so builds, real websocket clients.
#include <signal.h>

#include <string>

#include "host/crashy_builds.h"
#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

std::string Tag(char mode, int build) { return mode + std::to_string(100 + build % 900); }

class PreflightTest : public HostTest {
 protected:
  // A private state folder: a crash record left by another run must not
  // refuse these builds before their check runs.
  void StartHost(std::vector<std::string> args = {}) {
    args.push_back("--state-dir");
    args.push_back((dir_.path() / "state").string());
    HostTest::StartHost(args);
  }

  // Sends `body` on `client` and expects `want` as the next frame.
  void ExpectEcho(WsClient& client, const std::string& body, const std::string& want) {
    ASSERT_TRUE(client.SendText(body));
    auto reply = client.Receive(10s);
    ASSERT_TRUE(reply) << "no reply to " << body;
    EXPECT_EQ(reply->data, want);
  }

  // Installs crashy.so as (mode, build), sends SIGHUP and waits for
  // generation `generation` to be built.
  void Reload(char mode, int build, int generation) {
    ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild(mode, build)));
    host_.Signal(SIGHUP);
    ASSERT_TRUE(host_.WaitForStderr("] generation " + std::to_string(generation) + ": ", 60s))
        << "no generation " << generation;
  }
};

TEST_F(PreflightTest, ReloadToAnInitThatSegfaultsKeepsTheOldVersionAndEveryClient) {
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('o', 1)));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto client = Connect("crashy");
  ASSERT_TRUE(client);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*client, "before", Tag('o', 1) + " before"));

  ASSERT_NO_FATAL_FAILURE(Reload('s', 2, 2));
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("plugin crashy.so: kept old version because plugin crashy.so crashed its "
                     "pre-flight check with SIGSEGV"),
            std::string::npos);
  // The same connection, answered by the old build.
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*client, "after", Tag('o', 1) + " after"));

  // And the old version is not stuck: a good build after the bad one loads.
  ASSERT_NO_FATAL_FAILURE(Reload('o', 3, 3));
  EXPECT_NE(host_.stderr_text().find("plugin crashy.so: loaded new version"), std::string::npos);
  // The generation is logged just before it is published: the next few
  // messages may still meet the old build, never a build other than these.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string last;
  while (last != Tag('o', 3) + " fixed" && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(client->SendText("fixed"));
    auto reply = client->Receive(10s);
    ASSERT_TRUE(reply) << "no reply";
    last = reply->data;
    ASSERT_TRUE(last == Tag('o', 1) + " fixed" || last == Tag('o', 3) + " fixed") << last;
  }
  EXPECT_EQ(last, Tag('o', 3) + " fixed");
}

TEST_F(PreflightTest, ReloadToAnInitThatNeverReturnsKeepsTheOldVersionAndEveryClient) {
  // Long enough for a good check on a starved CPU; the hung one costs it once.
  UseConfig("[host]\npreflight_timeout_ms = 5000\n");
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('o', 1)));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto client = Connect("crashy");
  ASSERT_TRUE(client);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*client, "before", Tag('o', 1) + " before"));

  ASSERT_NO_FATAL_FAILURE(Reload('h', 2, 2));
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("plugin crashy.so: kept old version because plugin crashy.so did not finish "
                     "its pre-flight check within 5000 ms"),
            std::string::npos);
  // The last lines of the check are quoted: what the plugin printed.
  EXPECT_NE(log.find("crashy: init hangs"), std::string::npos);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*client, "after", Tag('o', 1) + " after"));
  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(30s), 0);
}

TEST_F(PreflightTest, AtStartUpAPluginWhoseInitCrashesIsRefusedAndTheOthersServe) {
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "segv.so", CrashyBuild('s', 1)));
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "abort.so", CrashyBuild('a', 1)));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("build")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("plugin segv.so: refused: plugin segv.so crashed its pre-flight check with "
                     "SIGSEGV"),
            std::string::npos);
  EXPECT_NE(log.find("plugin abort.so: refused: plugin abort.so crashed its pre-flight check with "
                     "SIGABRT"),
            std::string::npos);
  EXPECT_NE(log.find("crashy: aborting in init"), std::string::npos);
  EXPECT_NE(log.find("1 plugins serving"), std::string::npos);

  auto client = Connect("build");
  ASSERT_TRUE(client);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*client, "served", "0 served"));
}

TEST_F(PreflightTest, WithPreflightOffAGoodPluginLoadsWithoutTheCheck) {
  UseConfig("[host]\npreflight = false\n");
  ASSERT_NO_FATAL_FAILURE(InstallPlugin(plugins_, "crashy.so", CrashyBuild('o', 1)));
  ASSERT_NO_FATAL_FAILURE(StartHost({"--log-level", "debug"}));
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("pre-flight checks are off"), std::string::npos);
  EXPECT_EQ(log.find("pre-flight check passed"), std::string::npos);
  auto client = Connect("crashy");
  ASSERT_TRUE(client);
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(*client, "x", Tag('o', 1) + " x"));
}

}  // namespace
}  // namespace nitric::testing
