// Hot reload under load through the real path: 50 websocket clients talk to
// the `build` test plugin through the dev gateway while the test installs 50
// new builds of it, one SIGHUP each. A reload must cost no connection, drop
// or duplicate no message, and never let an older build answer a connection
// after a newer one did (docs/ARCHITECTURE.md#reload). And 300 SIGHUPs must leave
// the host with one mapped copy per live plugin and flat memory (docs/ARCHITECTURE.md#glibc).
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include "host/host_fixture.h"
#include "support/sanitizers.h"

namespace nitric::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kClients = 50;
constexpr int kBuilds = 50;  // installed after build 0, which the host starts with

// build.so with its build number patched to `n`: the six digits after the
// marker in .rodata (see tests/plugins/test_plugins/build.c).
std::string PatchedBuild(const std::string& original, int n) {
  static constexpr std::string_view kMarker = "NITRIC_TEST_BUILD=";
  const size_t at = original.find(kMarker);
  char digits[8];
  std::snprintf(digits, sizeof digits, "%06d", n);
  std::string out = original;
  out.replace(at + kMarker.size(), 6, digits);
  return out;
}

// Lines of the host's text log ("date time level [logger] text") at `level`.
std::vector<std::string> LinesAt(const std::string& log, const std::string& level) {
  std::vector<std::string> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string date, time, lvl;
    if (words >> date >> time >> lvl && lvl == level) out.push_back(line);
  }
  return out;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
  return n;
}

// What one client saw.
struct ClientRecord {
  size_t answered = 0;
  std::string problem;               // the first thing that went wrong; empty if nothing did
  std::atomic<int> newest{-1};       // build of the latest reply
  std::atomic<bool> stopped{false};  // the sender gave up on a problem
};

class ReloadTest : public HostTest {
 protected:
  // Installs `bytes` the documented safe way: written in full under a name
  // outside the plugins folder, then renamed over plugins/build.so, so the
  // host can never read half a file.
  void Install(const std::string& bytes) {
    const fs::path tmp = dir_.path() / "build.so.new";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      ASSERT_FALSE(out.fail()) << "cannot write " << tmp;
    }
    fs::rename(tmp, plugins_ / "build.so");
  }
};

TEST_F(ReloadTest, FiftyBuildsUnderLoadLoseNoClientAndAnswerEveryMessageOnceInOrder) {
  const std::string original = ReadFile(TestPlugin("build"));
  ASSERT_FALSE(original.empty()) << TestPlugin("build") << " was not built";
  // Exactly one marker, or the patch could hit the wrong bytes.
  ASSERT_EQ(Count(original, "NITRIC_TEST_BUILD="), 1u);
  ASSERT_NO_FATAL_FAILURE(Install(PatchedBuild(original, 0)));
  ASSERT_NO_FATAL_FAILURE(StartHost());

  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Connect("build"));
    ASSERT_TRUE(clients.back()) << "client " << i;
  }

  std::vector<ClientRecord> records(kClients);
  std::array<std::atomic<int>, kBuilds + 1> answers{};  // messages each build answered
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  // Stops and joins the senders however this test ends.
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{stop, senders};

  for (int i = 0; i < kClients; ++i) {
    senders.emplace_back([&, i] {
      ClientRecord& rec = records[i];
      struct MarkStopped {
        ClientRecord& rec;
        ~MarkStopped() { rec.stopped = !rec.problem.empty(); }
      } mark{rec};
      // One message in flight per client: the reply to message n must be the
      // next frame, so a lost reply shows as a timeout and a duplicate as a
      // reply to the wrong message.
      for (int seq = 0; !stop; ++seq) {
        const std::string body = std::string("client-")
                                     .append(std::to_string(i))
                                     .append(" ")
                                     .append(std::to_string(seq));
        if (!clients[i]->SendText(body)) {
          rec.problem = "send of message " + std::to_string(seq) + " failed";
          return;
        }
        auto reply = clients[i]->Receive(60s);
        if (!reply) {
          rec.problem = "no reply to message " + std::to_string(seq);
          return;
        }
        // "<build> <body>"
        const size_t space = reply->data.find(' ');
        const int build = std::atoi(reply->data.c_str());
        if (space == std::string::npos || reply->data.substr(space + 1) != body || build < 0 ||
            build > kBuilds) {
          rec.problem = "message " + std::to_string(seq) + " got \"" + reply->data + "\"";
          return;
        }
        if (build < rec.newest) {
          rec.problem = "message " + std::to_string(seq) + " answered by build " +
                        std::to_string(build) + " after build " + std::to_string(rec.newest);
          return;
        }
        ++rec.answered;
        rec.newest = build;
        ++answers[build];
      }
    });
  }

  // Each build serves about one message per client before the next comes,
  // so every swap happens under live traffic and finds events in flight.
  auto served = [&](int build) { return answers[build] >= kClients; };
  auto wait_until = [&](auto done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return done();
  };
  // A client that gave up ends the reloads early; its problem is reported
  // below with everyone else's.
  auto any_stopped = [&] {
    return std::any_of(records.begin(), records.end(),
                       [](const ClientRecord& r) { return r.stopped.load(); });
  };
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return served(0) || any_stopped(); }, 60s))
      << "build 0 did not serve";
  int installed = 0;  // the newest build installed and serving
  for (int build = 1; build <= kBuilds && !any_stopped(); ++build) {
    ASSERT_NO_FATAL_FAILURE(Install(PatchedBuild(original, build)));
    host_.Signal(SIGHUP);
    // Generation 1 is build 0, so build n is generation n + 1.
    if (!host_.WaitForStderr("] generation " + std::to_string(build + 1) + ": ", 60s)) {
      ADD_FAILURE() << "no generation for build " << build;
      break;
    }
    if (!wait_until([&] { return served(build) || any_stopped(); }, 60s)) {
      ADD_FAILURE() << "build " << build << " did not serve";
      break;
    }
    installed = build;
  }
  const auto reloads_done = std::chrono::steady_clock::now();
  EXPECT_EQ(installed, kBuilds) << "the reloads stopped early";
  const bool all_installed = installed == kBuilds;
  // After the last swap every client's next message meets build 50 (a
  // client that stopped on a problem never will; it is reported below).
  if (all_installed) {
    wait_until(
        [&] {
          return std::all_of(records.begin(), records.end(), [](const ClientRecord& r) {
            return r.newest == kBuilds || r.stopped;
          });
        },
        60s);
  }
  stop = true;
  for (auto& t : senders) t.join();

  size_t messages = 0;
  for (int i = 0; i < kClients; ++i) {
    const ClientRecord& rec = records[i];
    messages += rec.answered;
    EXPECT_EQ(rec.problem, "") << "client " << i;
    if (all_installed && rec.problem.empty()) {
      EXPECT_EQ(rec.newest, kBuilds) << "client " << i << " never met the last build";
    }
    // Nothing is left over: a second answer to the last message would come
    // before the answer to one more message (one connection's events run
    // one at a time, in order), so no waiting "a while" is needed.
    if (rec.stopped) continue;
    ASSERT_TRUE(clients[i]->SendText("end")) << "client " << i;
    for (;;) {
      auto reply = clients[i]->Receive();
      ASSERT_TRUE(reply) << "client " << i << ": no answer to the last message";
      if (reply->data.ends_with(" end")) break;
      ADD_FAILURE() << "client " << i << " got an extra frame: " << reply->data;
    }
    EXPECT_FALSE(clients[i]->WaitClosed(0ms)) << "client " << i << " was disconnected";
  }
  for (int build = 0; build <= installed; ++build) {
    EXPECT_GE(answers[build], kClients) << "build " << build << " served too little";
  }

  const std::string log = host_.stderr_text();
  if (all_installed) {
    EXPECT_EQ(Count(log, "plugin build.so: loaded new version"), static_cast<size_t>(kBuilds));
  }
  // The membrane tells the plugin about every client that goes away.
  EXPECT_EQ(Count(log, ": disconnect "), 0u);
  for (const char* level : {"critical", "error", "warning"}) {
    EXPECT_EQ(LinesAt(log, level), std::vector<std::string>{}) << level << " lines in the log";
  }
  EXPECT_FALSE(host_.Wait(0ms).has_value()) << "the host exited";

  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::cout << messages << " messages answered by " << kClients << " clients over " << kBuilds
            << " reloads in " << ms(reloads_done - start) << " ms\n";
  RecordProperty("messages", static_cast<int>(messages));
  RecordProperty("reload_ms", static_cast<int>(ms(reloads_done - start)));
}

// Distinct staged plugin files the host process `pid` has mapped: its staging
// folder is "nitric-host-<pid>-XXXXXX" (host/plugins/staging_area.cc).
size_t MappedStagedFiles(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  const std::string folder = "/nitric-host-" + std::to_string(pid) + "-";
  std::set<std::string> files;  // a library has several mappings
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find('/');
    if (at != std::string::npos && line.find(folder, at) != std::string::npos) {
      files.insert(line.substr(at));
    }
  }
  return files.size();
}

long ResidentKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// docs/ARCHITECTURE.md#glibc, on the real binary: 300 SIGHUPs, each installing a new build.so
// next to a ctest.so that never changes, each new build answering a message
// before the next. The in-process loader test
// (Reload.ThreeHundredReloadsKeepMappingsAtLivePluginsAndMemoryFlat) covers
// dlclose itself; this one adds what only the daemon does: the dispatcher
// and the reload controller holding and dropping generations, the session
// re-applying declarations on every reload.
TEST_F(ReloadTest, ThreeHundredSighupsKeepMappingsAtLivePluginsAndMemoryFlat) {
  constexpr int kReloads = 300;
  constexpr int kBaselineAfter = 20;
  constexpr size_t kLivePlugins = 2;
  // Bound on RSS growth from reload 20 to 300. Measured on 2 cores: 28-160
  // KiB without a leak (gRPC's and glibc's caches, which the host cannot be
  // asked to trim); a generation that is never freed costs about 25 KiB per
  // reload even for this small C plugin (6.9 MiB over 280), and a heap leak
  // of 8 KiB per reload adds 2.25 MiB: both fail here.
  constexpr long kMaxGrowthKiB = 2048;

  const std::string original = ReadFile(TestPlugin("build"));
  ASSERT_EQ(Count(original, "NITRIC_TEST_BUILD="), 1u);
  ASSERT_NO_FATAL_FAILURE(Install(PatchedBuild(original, 0)));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto client = Connect("build");
  ASSERT_TRUE(client);

  // Sends until build `build` answers: the first message after the log line
  // may still meet the previous generation, which is published just after.
  auto answered_by = [&](int build) {
    const std::string want = std::to_string(build) + " ";
    for (int tries = 0; tries < 500; ++tries) {
      if (!client->SendText("x")) return false;
      auto reply = client->Receive(30s);
      if (!reply) return false;
      if (reply->data.rfind(want, 0) == 0) return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  };
  // The replaced generation is released just after the new one is published,
  // on whichever thread drops it last: poll rather than look once.
  auto mapped_settles = [&] {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (MappedStagedFiles(host_.pid()) != kLivePlugins &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    return MappedStagedFiles(host_.pid());
  };
  ASSERT_TRUE(answered_by(0));
  ASSERT_EQ(mapped_settles(), kLivePlugins);

  long baseline_kib = -1;
  for (int i = 1; i <= kReloads; ++i) {
    ASSERT_NO_FATAL_FAILURE(Install(PatchedBuild(original, i)));
    host_.Signal(SIGHUP);
    ASSERT_TRUE(host_.WaitForStderr("] generation " + std::to_string(i + 1) + ": ", 60s))
        << "reload " << i;
    ASSERT_TRUE(answered_by(i)) << "reload " << i;
    if (i % 25 == 0 || i == kBaselineAfter) {
      ASSERT_EQ(mapped_settles(), kLivePlugins) << "after reload " << i;
    }
    if (i == kBaselineAfter) baseline_kib = ResidentKiB(host_.pid());
  }
  const long end_kib = ResidentKiB(host_.pid());

  const std::string log = host_.stderr_text();
  EXPECT_EQ(Count(log, "plugin build.so: loaded new version"), static_cast<size_t>(kReloads));
  EXPECT_EQ(Count(log, "plugin ctest.so: unchanged"), static_cast<size_t>(kReloads));
  for (const char* level : {"critical", "error", "warning"}) {
    EXPECT_EQ(LinesAt(log, level), std::vector<std::string>{}) << level << " lines in the log";
  }
  std::cout << "nitric-host VmRSS after " << kBaselineAfter << " reloads: " << baseline_kib
            << " KiB, after " << kReloads << ": " << end_kib << " KiB (" << (end_kib - baseline_kib)
            << " KiB)\n";
  RecordProperty("rss_kib_after_20", static_cast<int>(baseline_kib));
  RecordProperty("rss_kib_after_300", static_cast<int>(end_kib));
  ASSERT_GT(baseline_kib, 0);
  if (kUnderSanitizer) {
    // The host's resident memory grows with ASan's quarantine and the
    // sanitizers' shadow (support/sanitizers.h), so the bound means nothing
    // here. Instead the host stops cleanly: under ASan, LeakSanitizer checks
    // its heap at exit and a leak makes the exit code non-zero. (The
    // in-process Reload.ThreeHundredReloads... bounds the heap itself.)
    host_.Signal(SIGTERM);
    EXPECT_EQ(host_.Wait(120s), 0) << host_.stderr_text();
    return;
  }
  EXPECT_LE(end_kib - baseline_kib, kMaxGrowthKiB);
}

}  // namespace
}  // namespace nitric::testing
