// The host's life: broken plugins, no plugins, SIGTERM under load, build
// mode, a membrane that restarts, reloads.
#include <signal.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

using LifecycleTest = HostTest;

// How many times `needle` occurs in `text`.
size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
  return n;
}

TEST_F(LifecycleTest, BrokenPluginsDoNotStopTheGoodOnes) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  for (const char* broken : {"badabi.so", "initfail.so", "noentry.so", "setupthrow.so", "x.so"}) {
    ASSERT_NO_FATAL_FAILURE(AddPlugin(BrokenPlugin(broken)));
  }
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string log = host_.stderr_text();
  for (const char* broken : {"badabi.so", "initfail.so", "noentry.so", "setupthrow.so", "x.so"}) {
    EXPECT_NE(log.find(std::string("plugin ") + broken + ": refused: "), std::string::npos)
        << broken;
  }
  auto client = Connect("ctest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("served"));
  auto reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "served");
}

TEST_F(LifecycleTest, WithoutPluginsTheHostRunsAndSaysSo) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  EXPECT_NE(host_.stderr_text().find("no plugin loaded"), std::string::npos);
  host_.Signal(SIGINT);
  EXPECT_EQ(host_.Wait(), 0);
}

// SIGTERM while handlers run: the host stops taking events, lets them finish,
// sends their replies and exits 0 (README, Stopping). Which handlers run when
// the signal arrives is not left to timing: one is held at a gate (a file)
// the test creates only after the host logged that it is stopping, and the
// slow ones ("sleep:N") said "sleeping" before the signal was sent.
TEST_F(LifecycleTest, SigtermLetsRunningHandlersFinishAndSendTheirReplies) {
  UseConfig("[host]\nworkers = 8\n");  // every handler below runs at once
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::filesystem::path gate = dir_.path() / "gate";
  auto held = Connect("ctest");
  ASSERT_TRUE(held);
  ASSERT_TRUE(held->SendText("hold:" + gate.string()));
  auto holding = held->Receive(60s);
  ASSERT_TRUE(holding);
  ASSERT_EQ(holding->data, "holding");

  constexpr int kSlow = 4;
  std::vector<std::unique_ptr<WsClient>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(Connect("ctest"));
    ASSERT_TRUE(slow.back());
    ASSERT_TRUE(slow.back()->SendText("sleep:300"));
  }
  for (int i = 0; i < kSlow; ++i) {
    auto started = slow[i]->Receive(60s);
    ASSERT_TRUE(started) << "slow client " << i;
    ASSERT_EQ(started->data, "sleeping:300") << "slow client " << i;
  }

  host_.Signal(SIGTERM);
  ASSERT_TRUE(host_.WaitForStderr("SIGTERM: stopping", 60s));
  std::ofstream(gate) << "open\n";

  // Every reply arrives as a message, not as the end of the connection.
  auto released = held->Receive(60s);
  ASSERT_TRUE(released) << "the held handler's reply never arrived";
  EXPECT_EQ(released->data, "released");
  for (int i = 0; i < kSlow; ++i) {
    auto slept = slow[i]->Receive(60s);
    ASSERT_TRUE(slept) << "slow client " << i << ": the reply never arrived";
    EXPECT_EQ(slept->data, "slept:300") << "slow client " << i;
  }
  EXPECT_EQ(host_.Wait(60s), 0);
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find(", 0 dropped while stopping"), std::string::npos) << log;
  EXPECT_NE(log.find("] stopped"), std::string::npos);
  // Nothing was answered twice.
  for (auto* client : {held.get(), slow[0].get()}) {
    auto extra = client->Receive(0ms);
    EXPECT_FALSE(extra) << "unexpected frame " << extra->data;
  }
}

TEST_F(LifecycleTest, BuildModeExitsZeroWhenTheMembraneEndsTheStreams) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost({}, {{"NITRIC_ENVIRONMENT", "build"}}));
  membrane_.Stop();
  EXPECT_EQ(host_.Wait(15s), 0);
}

TEST_F(LifecycleTest, BuildModeWithoutAMembraneFails) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  const std::string address = membrane_.grpc_address();
  membrane_.Stop();
  EXPECT_EQ(host_.Run({"--plugins", plugins_.string()},
                      {{"SERVICE_ADDRESS", address}, {"NITRIC_ENVIRONMENT", "build"}}),
            1);
}

TEST_F(LifecycleTest, ReconnectsWhenTheMembraneRestarts) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  {
    auto client = Connect("ctest");
    ASSERT_TRUE(client);
  }
  // Same address, same data folder: what a restarted membrane looks like.
  membrane_.options().listen = membrane_.grpc_address();
  // Only lines after the stop count: a slow start-up may have retried too.
  const size_t outage = host_.stderr_text().size();
  membrane_.Stop();
  ASSERT_TRUE(host_.WaitForStderrAfter(outage, "not usable"))
      << "the host never noticed the outage";
  ASSERT_NO_FATAL_FAILURE(membrane_.Start());
  ASSERT_TRUE(host_.WaitForStderrAfter(outage, "membrane session restored"));
  auto client = Connect("ctest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("back"));
  auto reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "back");
  EXPECT_FALSE(host_.Wait(0ms).has_value()) << "the host never exited";
  // Waiting for the membrane logged a bounded number of lines.
  const size_t lines = Occurrences(host_.stderr_text().substr(outage), "not usable");
  EXPECT_LE(lines, 3u);
}

// Lines the in-process membrane logs while it lives; the default logger is
// swapped only while no membrane runs (spdlog's default is not meant to be
// swapped under a logging thread).
class MembraneLogCapture {
 public:
  MembraneLogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000)),
        previous_(spdlog::default_logger()) {
    std::vector<spdlog::sink_ptr> sinks = previous_->sinks();
    sinks.push_back(sink_);
    auto logger = std::make_shared<spdlog::logger>("membrane", sinks.begin(), sinks.end());
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~MembraneLogCapture() { spdlog::set_default_logger(previous_); }
  std::string Lines(const std::string& containing) const {
    std::string out;
    for (const auto& line : sink_->last_formatted()) {
      if (line.find(containing) != std::string::npos) out += line;
    }
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

// README, The membrane going away: "an event the membrane failed while the
// stream was down is never answered late". The handler is held while the
// membrane goes and comes back on the same address (a restarted membrane
// numbers its events from the start again); its answer must not reach the
// new membrane, which would log an answer it cannot place (or, with a
// colliding id, answer another event with it and then the real answer).
TEST_F(LifecycleTest, AnEventFailedDuringAnOutageIsNeverAnsweredLate) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::filesystem::path gate = dir_.path() / "gate";
  auto held = Connect("ctest");
  ASSERT_TRUE(held);
  ASSERT_TRUE(held->SendText("hold:" + gate.string()));
  auto holding = held->Receive();
  ASSERT_TRUE(holding);
  ASSERT_EQ(holding->data, "holding");

  membrane_.options().listen = membrane_.grpc_address();
  const size_t outage = host_.stderr_text().size();  // a slow start-up may have retried too
  membrane_.Stop();                                  // fails the held event and closes its client
  ASSERT_TRUE(host_.WaitForStderrAfter(outage, "not usable"));
  std::optional<MembraneLogCapture> log;
  log.emplace();
  ASSERT_NO_FATAL_FAILURE(membrane_.Start());
  ASSERT_TRUE(host_.WaitForStderrAfter(outage, "membrane session restored"));

  std::ofstream(gate) << "open\n";
  // The handler ends; its send fails (the new membrane does not know its
  // connection), which the host logs once the handler's call is over.
  ASSERT_TRUE(host_.WaitForStderr("handler failed on socket ctest", 60s));
  // One more event on the same (message) stream: a late answer written
  // before it would have reached the membrane before this one's.
  auto client = Connect("ctest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("after"));
  auto reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "after");
  membrane_.Stop();  // no membrane thread logs any more
  EXPECT_EQ(log->Lines("answer with unknown id"), "");
  log.reset();
}

// utime + stime of `pid` in clock ticks (/proc/<pid>/stat fields 14 and 15).
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // The command name (field 2) may hold spaces: count fields after its ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

TEST_F(LifecycleTest, WaitingForAVanishedMembraneIsIdleAndQuiet) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const size_t outage = host_.stderr_text().size();  // a slow start-up may have retried too
  membrane_.Stop();
  ASSERT_TRUE(host_.WaitForStderrAfter(outage, "not usable"));
  // Past the first quick retries, into the capped backoff.
  std::this_thread::sleep_for(1s);
  const long before = CpuTicks(host_.pid());
  const auto window = 3s;
  std::this_thread::sleep_for(window);
  const long used = CpuTicks(host_.pid()) - before;
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  std::cout << "host CPU while the membrane was away: " << used << " ticks in 3 s ("
            << ticks_per_second << " ticks/s)\n";
  // A retry loop without backoff burns a whole core (300 ticks); reconnect
  // attempts at most every few seconds cost next to nothing.
  EXPECT_LE(used, ticks_per_second * 3 / 20) << "more than 5% of a core while waiting";
  EXPECT_FALSE(host_.Wait(0ms).has_value()) << "the host keeps running without its membrane";
  const size_t lines = Occurrences(host_.stderr_text().substr(outage), "not usable");
  EXPECT_LE(lines, 3u) << "one line when the outage starts, then one per interval";
}

TEST_F(LifecycleTest, SighupLoadsANewPluginAndRegistersItsSocket) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto old_client = Connect("ctest");
  ASSERT_TRUE(old_client);
  ASSERT_NO_FATAL_FAILURE(AddPlugin(ExamplePlugin("echo")));
  host_.Signal(SIGHUP);
  ASSERT_TRUE(host_.WaitForStderr("generation 2:"));
  ASSERT_TRUE(host_.WaitForStderr("socket(s) registered (6 streams), generation 2"));
  auto client = Connect("echo");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("new"));
  auto reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "new");
  // The old socket's client never noticed.
  ASSERT_TRUE(old_client->SendText("old"));
  reply = old_client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "old");
}

TEST_F(LifecycleTest, ReloadCommandSignalsTheHostNamedByItsPidFile) {
  const auto pid_file = dir_.path() / "host.pid";
  ASSERT_NO_FATAL_FAILURE(StartHost({"--pid-file", pid_file.string()}));
  EXPECT_EQ(ReadFile(pid_file), std::to_string(host_.pid()) + "\n");
  EXPECT_FALSE(membrane_.membrane().SocketUrl("ctest")) << "not declared before the reload";

  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  HostProcess reload;
  EXPECT_EQ(reload.Run({"reload", "--pid-file", pid_file.string()}), 0) << reload.stderr_text();
  EXPECT_NE(reload.stdout_text().find("sent SIGHUP to nitric-host (pid " +
                                      std::to_string(host_.pid()) + ")"),
            std::string::npos)
      << reload.stdout_text();
  ASSERT_TRUE(host_.WaitForStderr("socket(s) registered (3 streams), generation 2"));
  EXPECT_TRUE(Connect("ctest"));

  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(pid_file)) << "the host removes its pid file on exit";
}

TEST_F(LifecycleTest, ReloadCommandNeverSignalsAProcessThatIsNotAHost) {
  // A stale pid file whose pid now belongs to another program: this test.
  // SIGHUP's default action would kill the test, so a wrong signal fails it.
  const auto pid_file = dir_.path() / "stale.pid";
  std::ofstream(pid_file) << getpid() << "\n";
  HostProcess reload;
  EXPECT_EQ(reload.Run({"reload", "--pid-file", pid_file.string()}), 1);
  EXPECT_NE(reload.stderr_text().find("is not a nitric-host; the pid file is stale"),
            std::string::npos)
      << reload.stderr_text();

  HostProcess missing;
  EXPECT_EQ(missing.Run({"reload", "--pid-file", (dir_.path() / "none.pid").string()}), 1);
  EXPECT_NE(missing.stderr_text().find("cannot read pid file"), std::string::npos)
      << missing.stderr_text();

  HostProcess no_file;
  EXPECT_EQ(no_file.Run({"reload"}), 2);
  EXPECT_NE(no_file.stderr_text().find("reload: no pid file"), std::string::npos);
}

TEST_F(LifecycleTest, ASecondHostRefusesAPidFileThatAnotherLiveHostOwns) {
  const auto pid_file = dir_.path() / "host.pid";
  ASSERT_NO_FATAL_FAILURE(StartHost({"--pid-file", pid_file.string()}));
  HostProcess second;
  EXPECT_EQ(second.Run({"--plugins", plugins_.string(), "--pid-file", pid_file.string()},
                       {{"SERVICE_ADDRESS", membrane_.grpc_address()}}),
            1);
  EXPECT_NE(second.stderr_text().find("belongs to another running nitric-host (pid " +
                                      std::to_string(host_.pid()) + ")"),
            std::string::npos)
      << second.stderr_text();
  EXPECT_EQ(ReadFile(pid_file), std::to_string(host_.pid()) + "\n") << "left as it was";
}

// README, Reloading plugins: `nitric-host reload` reads the pid file that a
// host started with host.pid_file writes; `--config` names that file.
TEST_F(LifecycleTest, ReloadWithTheConfigSignalsTheHostOfItsPidFile) {
  const auto pid_file = dir_.path() / "from-config.pid";
  UseConfig("[host]\npid_file = \"" + pid_file.string() + "\"\n");
  ASSERT_NO_FATAL_FAILURE(StartHost());
  EXPECT_EQ(ReadFile(pid_file), std::to_string(host_.pid()) + "\n") << "host.pid_file";

  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  HostProcess reload;
  EXPECT_EQ(reload.Run({"reload", "--config", config_->string()}), 0) << reload.stderr_text();
  EXPECT_NE(reload.stdout_text().find("sent SIGHUP to nitric-host (pid " +
                                      std::to_string(host_.pid()) + ")"),
            std::string::npos)
      << reload.stdout_text();
  ASSERT_TRUE(host_.WaitForStderr("socket(s) registered (3 streams), generation 2"));

  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(pid_file)) << "the host removes its pid file on exit";
}

// The pid of a process that has exited (and was reaped).
pid_t DeadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

// A pid file left behind (the host was killed) or overwritten with garbage:
// `reload` says so and signals nobody; a new host takes the file over.
class PidFileLeftBehind : public HostTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string Content() const {
    return GetParam() == std::string("stale") ? std::to_string(DeadPid()) + "\n"
                                              : "nitric-host was here\n";
  }
  const char* Complaint() const {
    return GetParam() == std::string("stale")
               ? "nitric-host is not running; the pid file is stale"
               : "does not hold a process id (\"nitric-host was here\")";
  }
};

TEST_P(PidFileLeftBehind, ReloadRefusesItAndANewHostTakesItOver) {
  const auto pid_file = dir_.path() / "host.pid";
  std::ofstream(pid_file) << Content();
  HostProcess reload;
  EXPECT_EQ(reload.Run({"reload", "--pid-file", pid_file.string()}), 1);
  EXPECT_NE(reload.stderr_text().find(Complaint()), std::string::npos) << reload.stderr_text();

  ASSERT_NO_FATAL_FAILURE(StartHost({"--pid-file", pid_file.string()}));
  EXPECT_EQ(ReadFile(pid_file), std::to_string(host_.pid()) + "\n");
  HostProcess again;
  EXPECT_EQ(again.Run({"reload", "--pid-file", pid_file.string()}), 0) << again.stderr_text();
  ASSERT_TRUE(host_.WaitForStderr("] generation 2: "));
}

INSTANTIATE_TEST_SUITE_P(StaleAndGarbage, PidFileLeftBehind, ::testing::Values("stale", "garbage"));

// The receiving end of sd_notify(): a Unix datagram socket, as systemd has.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  // The next datagram, or "" after `timeout`.
  std::string Receive(std::chrono::milliseconds timeout = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST_F(LifecycleTest, TellsSystemdWhenReadyReloadingAndStopping) {
  NotifySocket systemd(dir_.path() / "notify.sock");
  ASSERT_TRUE(systemd.ok());
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(
      StartHost({}, {{"NOTIFY_SOCKET", (dir_.path() / "notify.sock").string()}}));
  EXPECT_EQ(systemd.Receive(), "READY=1") << "once the streams are registered";

  host_.Signal(SIGHUP);
  const std::string reloading = systemd.Receive();
  EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
  EXPECT_EQ(systemd.Receive(), "READY=1") << "when the reload is done";

  host_.Signal(SIGTERM);
  EXPECT_EQ(systemd.Receive(), "STOPPING=1");
  EXPECT_EQ(host_.Wait(), 0);
}

TEST_F(LifecycleTest, WatchReloadsWhenAPluginIsInstalled) {
  ASSERT_NO_FATAL_FAILURE(StartHost({"--watch"}));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(ExamplePlugin("echo")));
  ASSERT_TRUE(host_.WaitForStderr("generation 2:"));
  ASSERT_TRUE(host_.WaitForStderr("socket(s) registered (3 streams), generation 2"));
  auto client = Connect("echo");
  ASSERT_TRUE(client);
}

// README, Reloading plugins: a reload re-reads the --config file's
// [plugins.<name>] tables, and a config that no longer parses is reported
// and the settings in use are kept.
TEST_F(LifecycleTest, AReloadReReadsPluginSettingsAndKeepsThemWhenTheConfigBreaks) {
  UseConfig("[plugins.ctest]\nsocket = \"one\"\n");
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  ASSERT_TRUE(Connect("one"));

  UseConfig("[plugins.ctest]\nsocket = \"two\"\n");  // the same file, new content
  host_.Signal(SIGHUP);
  ASSERT_TRUE(host_.WaitForStderr("] generation 2: 1 plugins serving (0 loaded, 1 replaced"));
  ASSERT_TRUE(host_.WaitForStderr("socket(s) registered (3 streams), generation 2"));
  auto two = Connect("two");
  ASSERT_TRUE(two);
  ASSERT_TRUE(two->SendText("on two"));
  auto reply = two->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "on two");

  UseConfig("[plugins.ctest\nsocket = \"three\"\n");  // no longer parses
  host_.Signal(SIGHUP);
  ASSERT_TRUE(
      host_.WaitForStderr("reload: config not re-read, keeping the plugin settings in use"));
  ASSERT_TRUE(
      host_.WaitForStderr("] generation 3: 1 plugins serving (0 loaded, 0 replaced, 1 unchanged"));
  ASSERT_TRUE(two->SendText("still on two"));
  reply = two->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "still on two");
  EXPECT_FALSE(membrane_.membrane().SocketUrl("three"));
  EXPECT_FALSE(host_.Wait(0ms).has_value()) << "a broken config on reload stopped the host";
}

// README, Watching the folder: a reload "after 500 ms without further change,
// so a burst of changes gives one reload".
TEST_F(LifecycleTest, WatchTurnsABurstOfChangesIntoOneReload) {
  ASSERT_NO_FATAL_FAILURE(StartHost({"--watch"}));
  // The burst: five plugins, 100 ms apart, so the burst lasts longer than a
  // reload takes to start. The pause is not a wait for anything; it makes
  // the changes a burst rather than one instant.
  auto previous = std::chrono::steady_clock::now();
  auto longest_gap = std::chrono::steady_clock::duration::zero();
  bool first = true;
  for (const char* name : {"ctest", "cpptest", "order", "counter", "handover"}) {
    if (!first) std::this_thread::sleep_for(100ms);
    first = false;
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin(name)));
    const auto now = std::chrono::steady_clock::now();
    longest_gap = std::max(longest_gap, now - previous);
    previous = now;
  }
  if (longest_gap > 400ms) {
    // A starved machine paused this test between two changes for most of the
    // quiet period: that is no burst any more, and two reloads would be
    // right. Nothing can be concluded either way.
    GTEST_SKIP() << "two changes of the burst were "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(longest_gap).count()
                 << " ms apart, too close to the 500 ms quiet period to call it a burst";
  }
  ASSERT_TRUE(host_.WaitForStderr("] generation 2: "));
  EXPECT_NE(host_.stderr_text().find("] generation 2: 5 plugins serving (5 loaded"),
            std::string::npos)
      << "the burst was split over several reloads";
  // Nothing of the burst is left over: the next reload is the next change's.
  std::filesystem::remove(plugins_ / "handover.so");
  ASSERT_TRUE(host_.WaitForStderr("] generation 3: "));
  EXPECT_NE(host_.stderr_text().find("] generation 3: 4 plugins serving (0 loaded, 0 replaced, 4 "
                                     "unchanged, 0 kept old version, 0 refused, 1 removed)"),
            std::string::npos);
  EXPECT_EQ(Occurrences(host_.stderr_text(), "reload (plugins folder changed)"), 2u);
}

}  // namespace
}  // namespace nitric::testing
