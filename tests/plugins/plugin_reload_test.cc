// The reload pieces: content-hash change detection, per-plugin rollback,
// unloading of replaced and removed plugins, and the state hand-over.
#include <malloc.h>

#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "plugin_test_support.h"
#include "tests/support/sanitizers.h"

namespace nitric::host::testing {
namespace {

using namespace std::chrono_literals;

const fs::path kBroken = kTestPlugins / "broken";

size_t CountInMaps(const std::string& needle) {
  std::ifstream in("/proc/self/maps");
  std::set<std::string> files;  // a library has several mappings
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find('/');
    if (at != std::string::npos && line.find(needle, at) != std::string::npos)
      files.insert(line.substr(at));
  }
  return files.size();
}

// A new build of the same plugin: appending bytes changes the content hash
// but not what the ELF loader reads.
void Touch(const fs::path& file, int n) {
  std::ofstream(file, std::ios::app | std::ios::binary) << "build " << n;
}

TEST(Reload, ReusesAnUnchangedPlugin) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so");
  Loaded h;
  h.Load(folder.path());
  auto first = h.generation->plugins().at(0);
  h.Load(folder.path());
  EXPECT_EQ(h.generation->number(), 2u);
  EXPECT_EQ(h.generation->plugins().at(0), first);
  EXPECT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kUnchanged);
  EXPECT_FALSE(h.report.changed);
  EXPECT_EQ(h.log.Find({"plugin ctest.so: unchanged"}).size(), 1u);
}

TEST(Reload, ReplacesAChangedFileAndUnloadsTheOldOneAfterItsLastEvent) {
  ScratchFolder folder;
  fs::path file = folder.Add(kTestPlugins / "ctest.so");
  Loaded h;
  h.Load(folder.path());
  const fs::path old_staged = h.generation->plugins().at(0)->staged_path();

  std::shared_ptr<const Generation> in_flight = h.generation;  // an event still running on it
  Touch(file, 2);
  h.Load(folder.path());
  EXPECT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  const fs::path new_staged = h.generation->plugins().at(0)->staged_path();
  EXPECT_NE(new_staged, old_staged);
  EXPECT_EQ(CountInMaps(old_staged.string()), 1u);  // still mapped while in flight

  in_flight.reset();  // the last event is done
  EXPECT_EQ(CountInMaps(old_staged.string()), 0u);
  EXPECT_FALSE(fs::exists(old_staged));
  EXPECT_EQ(CountInMaps(new_staged.string()), 1u);
  h.Handle(Message("ctest", "c1", "new"));
  EXPECT_EQ(h.membrane.SentTo("c1"), std::vector<std::string>{"new"});
}

TEST(Reload, AChangedConfigLoadsANewVersion) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so");
  Loaded h;
  h.Load(folder.path(), toml::parse("[ctest]\nsocket = \"one\"\n"));
  h.Load(folder.path(), toml::parse("[ctest]\nsocket = \"two\"\n"));
  EXPECT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  EXPECT_EQ(h.generation->declarations().sockets, std::set<std::string>{"two"});
}

class ReloadRollback : public ::testing::TestWithParam<const char*> {};

TEST_P(ReloadRollback, KeepsTheOldVersionServingAndALaterGoodFileLoads) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so");
  Loaded h;
  h.Load(folder.path());
  auto old = h.generation->plugins().at(0);

  folder.Add(kBroken / GetParam(), "ctest.so");  // a broken build over the good one
  h.Load(folder.path());
  ASSERT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kKeptOld);
  EXPECT_EQ(h.generation->plugins().at(0), old);
  EXPECT_EQ(h.report.failures, 1u);
  EXPECT_EQ(
      h.log.Find({"[error]", "plugin ctest.so: kept old version because plugin ctest.so"}).size(),
      1u)
      << h.log.All();
  h.Handle(Message("ctest", "c1", "still"));
  EXPECT_EQ(h.membrane.SentTo("c1"), std::vector<std::string>{"still"});

  fs::path good = folder.Add(kTestPlugins / "ctest.so");
  Touch(good, 3);
  h.Load(folder.path());
  EXPECT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  EXPECT_NE(h.generation->plugins().at(0), old);
}

INSTANTIATE_TEST_SUITE_P(EachBrokenKind, ReloadRollback,
                         ::testing::Values("noentry.so", "badabi.so", "initfail.so", "x.so"),
                         [](const auto& info) { return std::string(fs::path(info.param).stem()); });

TEST(Reload, ARemovedFileIsUnloadedWhenItsGenerationGoes) {
  ScratchFolder folder;
  fs::path file = folder.Add(kTestPlugins / "ctest.so");
  folder.Add(kTestPlugins / "cpptest.so");
  Loaded h;
  h.Load(folder.path());
  const fs::path staged = h.generation->FindByFile("ctest.so")->staged_path();
  fs::remove(file);
  h.Load(folder.path());
  EXPECT_EQ(h.generation->plugins().size(), 1u);
  ASSERT_NE(h.ReportFor("ctest.so"), nullptr);
  EXPECT_EQ(h.ReportFor("ctest.so")->outcome, PluginOutcome::kRemoved);
  EXPECT_EQ(CountInMaps(staged.string()), 0u);
  EXPECT_FALSE(h.generation->declarations().sockets.count("ctest"));
}

TEST(Reload, ManyReloadsLeaveOneMappedCopy) {
  ScratchFolder folder;
  fs::path file = folder.Add(kTestPlugins / "cpptest.so");
  Loaded h;
  h.Load(folder.path());
  const fs::path staging = h.generation->staging()->dir();
  for (int i = 0; i < 60; ++i) {
    Touch(file, i);
    h.Load(folder.path());
    ASSERT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced) << h.log.All();
  }
  EXPECT_EQ(CountInMaps(staging.string()), 1u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(staging)) ++files;
  EXPECT_EQ(files, 1u);
}

// Resident memory of this process in KiB, from /proc/self/status. Free heap
// is handed back first (malloc_trim), so the figure tracks what is still
// allocated or mapped rather than how glibc's arenas happen to be cached: a
// leak stays, noise goes. In a sanitizer build, the heap in use as the
// sanitizer's allocator counts it instead (tests/support/sanitizers.h: there
// resident memory grows with ASan's quarantine of freed blocks); the maps
// checks cover what dlclose leaves mapped either way.
long ResidentKiB() {
  if (nitric::testing::kUnderSanitizer) return nitric::testing::SanitizerHeapKiB();
  ::malloc_trim(0);
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Files in the staging folder (a staged copy is removed when it is unloaded).
size_t FilesIn(const fs::path& dir) {
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  return files;
}

// docs/ARCHITECTURE.md#glibc: 300 reloads leak neither mappings nor memory. cpptest.so (C++, the
// plugin most likely to pin itself through unique symbols) changes on every
// reload, ctest.so every third one and is shared unchanged in between, so
// both the replace and the keep paths run. Each new version answers a
// message before the next reload, so its code really ran.
TEST(Reload, ThreeHundredReloadsKeepMappingsAtLivePluginsAndMemoryFlat) {
  constexpr int kReloads = 300;
  constexpr int kBaselineAfter = 20;
  // Bound on RSS growth from reload 20 to 300. Measured on 2 cores: 48 KiB
  // without a leak (the log capture's ring buffer and the fake membrane's
  // record of sends grow a little); a heap leak of 8 KiB per reload adds
  // 2.25 MiB and fails here. A copy that dlclose left mapped fails the maps
  // check first.
  constexpr long kMaxGrowthKiB = 2048;
  constexpr size_t kLivePlugins = 2;

  ScratchFolder folder;
  fs::path cpp = folder.Add(kTestPlugins / "cpptest.so");
  fs::path c = folder.Add(kTestPlugins / "ctest.so");
  Loaded h;
  h.Load(folder.path());
  ASSERT_EQ(h.generation->plugins().size(), kLivePlugins) << h.log.All();
  const fs::path staging = h.generation->staging()->dir();

  long baseline_kib = -1;
  for (int i = 1; i <= kReloads; ++i) {
    Touch(cpp, i);
    if (i % 3 == 0) Touch(c, i);
    h.Load(folder.path());
    ASSERT_EQ(h.ReportFor("cpptest.so")->outcome, PluginOutcome::kReplaced) << "reload " << i;
    ASSERT_EQ(h.ReportFor("ctest.so")->outcome,
              i % 3 == 0 ? PluginOutcome::kReplaced : PluginOutcome::kUnchanged)
        << "reload " << i;
    // Built with append: GCC 12's -Wrestrict misfires on "c" + std::string.
    const std::string conn = std::string("conn-").append(std::to_string(i));
    const std::string body = std::string("version-").append(std::to_string(i));
    h.Handle(Message("cpptest", conn, body));
    ASSERT_EQ(h.membrane.SentTo(conn), std::vector<std::string>{body});
    if (i % 10 == 0) {
      ASSERT_EQ(CountInMaps(staging.string()), kLivePlugins) << "after reload " << i;
      ASSERT_EQ(FilesIn(staging), kLivePlugins) << "after reload " << i;
    }
    if (i == kBaselineAfter) baseline_kib = ResidentKiB();
  }
  const long end_kib = ResidentKiB();
  EXPECT_EQ(h.generation->number(), static_cast<uint64_t>(kReloads + 1));
  EXPECT_EQ(CountInMaps(staging.string()), kLivePlugins);
  EXPECT_EQ(FilesIn(staging), kLivePlugins);

  std::cout << "VmRSS after " << kBaselineAfter << " reloads: " << baseline_kib << " KiB, after "
            << kReloads << ": " << end_kib << " KiB (" << (end_kib - baseline_kib) << " KiB)\n";
  RecordProperty("rss_kib_after_20", static_cast<int>(baseline_kib));
  RecordProperty("rss_kib_after_300", static_cast<int>(end_kib));
  ASSERT_GT(baseline_kib, 0);
  EXPECT_LE(end_kib - baseline_kib, kMaxGrowthKiB);
}

// ---- state hand-over (counter.so) ----

std::string Count(Loaded& h, const std::string& conn) {
  h.Handle(Message("counter", conn, "+1"));
  return h.membrane.SentTo(conn).back();
}

TEST(StateHandOver, TheCountContinuesAcrossTenReloads) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "counter.so");
  Loaded h;
  h.Load(folder.path());
  EXPECT_EQ(Count(h, "c"), "1 build 0");
  EXPECT_EQ(Count(h, "c"), "2 build 0");
  for (int build = 1; build <= 10; ++build) {
    h.Load(folder.path(), toml::parse("[counter]\nbuild = " + std::to_string(build) + "\n"));
    ASSERT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
    EXPECT_EQ(Count(h, "c"), std::to_string(build + 2) + " build " + std::to_string(build));
  }
  EXPECT_EQ(h.log.Find({"[counter] [info]", "imported"}).size(), 10u) << h.log.All();
  EXPECT_EQ(h.log.Find({"counter shutting down at 2"}).size(), 1u) << h.log.All();
}

TEST(StateHandOver, TheNewVersionWaitsForTheOldVersionsLastEvent) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "counter.so");
  Loaded h;
  h.Load(folder.path());
  EXPECT_EQ(Count(h, "c"), "1 build 0");
  std::shared_ptr<const Generation> in_flight = h.generation;
  h.Load(folder.path(), toml::parse("[counter]\nbuild = 1\n"));

  auto next = std::async(std::launch::async, [&] { return Count(h, "d"); });
  EXPECT_EQ(next.wait_for(150ms), std::future_status::timeout) << "ran before the hand-over";
  in_flight.reset();  // old version's last event done: export, import, go
  EXPECT_EQ(next.get(), "2 build 1");
}

TEST(StateHandOver, GivesUpAfterTheTimeoutAndDropsTheLateState) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "counter.so");
  Loaded h;
  h.Load(folder.path());
  Count(h, "c");
  std::shared_ptr<const Generation> stuck = h.generation;
  GenerationOptions options = h.Options(folder.path(), toml::parse("[counter]\nbuild = 1\n"));
  options.handoff_timeout = 100ms;
  LoadedGeneration loaded = LoadGeneration(options, h.generation.get());
  h.generation = loaded.generation;

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Count(h, "d"), "1 build 1");  // served without the old state
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  stuck.reset();
  EXPECT_EQ(h.log.Find({"[counter] [warning]", "did not finish within 100 ms"}).size(), 1u)
      << h.log.All();
  EXPECT_EQ(h.log.Find({"[counter] [warning]", "after the hand-over timeout; dropped"}).size(), 1u)
      << h.log.All();
  EXPECT_EQ(Count(h, "d"), "2 build 1");
}

TEST(StateHandOver, AnAbandonedGenerationLeavesTheOldStateWhereItWas) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "counter.so");
  Loaded h;
  h.Load(folder.path());
  Count(h, "c");
  {
    LoadedGeneration discarded = LoadGeneration(
        h.Options(folder.path(), toml::parse("[counter]\nbuild = 9\n")), h.generation.get());
    discarded.Abandon(h.generation.get());
  }
  EXPECT_EQ(Count(h, "c"), "2 build 0");
  EXPECT_TRUE(h.log.Find({"imported"}).empty());
}

// ---- the hand-over's failure paths (plugin.h, export_state/import_state) ----
// handover.so's state is a text; "set:x" sets it, any other message reads it.

std::string Ask(Loaded& h, const std::string& body) {
  h.Handle(Message("handover", "c", body));
  return h.membrane.SentTo("c").back();
}

toml::table HandoverConfig(const std::string& settings) {
  return toml::parse("[handover]\n" + settings + "\n");
}

TEST(StateHandOverFails, AFailedImportIsLoggedAndTheNewVersionServesFresh) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "handover.so");
  Loaded h;
  h.Load(folder.path());
  ASSERT_EQ(Ask(h, "set:old state"), "ok");
  h.Load(folder.path(), HandoverConfig("import = \"fail\"\nbuild = 1"));
  ASSERT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  EXPECT_EQ(Ask(h, "get"), "fresh") << "serves, without the state it refused";
  EXPECT_EQ(h.log.Find({"[handover] [info] importing old state"}).size(), 1u) << h.log.All();
  EXPECT_EQ(
      h.log.Find({"[handover] [error]", "import_state failed (HANDLER): import refused"}).size(),
      1u)
      << h.log.All();
}

TEST(StateHandOverFails, AFailedExportIsLoggedAndTheNewVersionImportsNothing) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "handover.so");
  Loaded h;
  h.Load(folder.path(), HandoverConfig("export = \"fail\""));
  ASSERT_EQ(Ask(h, "set:old state"), "ok");
  h.Load(folder.path(), HandoverConfig("export = \"fail\"\nbuild = 1"));
  ASSERT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  EXPECT_EQ(Ask(h, "get"), "fresh");
  EXPECT_EQ(
      h.log.Find({"[handover] [error]", "export_state failed (HANDLER): export refused"}).size(),
      1u)
      << h.log.All();
  EXPECT_TRUE(h.log.Find({"importing"}).empty()) << h.log.All();
}

TEST(StateHandOverFails, AnExportThatWritesNothingIsNotImported) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "handover.so");
  Loaded h;
  h.Load(folder.path(), HandoverConfig("export = \"empty\""));
  ASSERT_EQ(Ask(h, "set:old state"), "ok");
  h.Load(folder.path(), HandoverConfig("export = \"empty\"\nbuild = 1"));
  ASSERT_EQ(h.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  EXPECT_EQ(h.log.Find({"[handover] [info] exporting old state"}).size(), 1u) << h.log.All();
  // import_state with zero bytes would have made the state "".
  EXPECT_EQ(Ask(h, "get"), "fresh");
  EXPECT_TRUE(h.log.Find({"importing"}).empty()) << h.log.All();
}

// Only one side has its callback: no hand-over at all, so the new version
// neither waits for the old one's last event nor gets anything.
struct OneSided {
  const char* old_file;
  const char* new_file;
};
class StateHandOverOneSided : public ::testing::TestWithParam<OneSided> {};

TEST_P(StateHandOverOneSided, NeitherCallbackRunsAndTheNewVersionDoesNotWait) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / GetParam().old_file, "handover.so");
  Loaded h;
  h.Load(folder.path());
  ASSERT_EQ(Ask(h, "set:old state"), "ok");
  std::shared_ptr<const Generation> in_flight = h.generation;  // an old event still runs
  folder.Add(kTestPlugins / GetParam().new_file, "handover.so");
  GenerationOptions options = h.Options(folder.path());
  options.handoff_timeout = 3600s;  // a new version that waited would hang here
  LoadedGeneration loaded = LoadGeneration(options, h.generation.get());
  h.generation = loaded.generation;
  ASSERT_EQ(loaded.report.plugins.at(0).outcome, PluginOutcome::kReplaced);
  auto served = std::async(std::launch::async, [&] { return Ask(h, "get"); });
  // The deadline bounds the hang of a new version that waits; it is no
  // speed limit.
  if (served.wait_for(120s) != std::future_status::ready) {
    in_flight.reset();  // lets the waiting event go, so the test can end
    served.wait();
    FAIL() << "the new version waited for the old one's last event";
  }
  EXPECT_EQ(served.get(), "fresh");
  in_flight.reset();
  EXPECT_TRUE(h.log.Find({"exporting"}).empty()) << h.log.All();
  EXPECT_TRUE(h.log.Find({"importing"}).empty()) << h.log.All();
}

INSTANTIATE_TEST_SUITE_P(Handover, StateHandOverOneSided,
                         ::testing::Values(OneSided{"handover.so", "handover_noimport.so"},
                                           OneSided{"handover_noexport.so", "handover.so"}),
                         [](const auto& info) {
                           return std::string(info.param.new_file == std::string("handover.so")
                                                  ? "OnlyNewImports"
                                                  : "OnlyOldExports");
                         });

}  // namespace
}  // namespace nitric::host::testing
