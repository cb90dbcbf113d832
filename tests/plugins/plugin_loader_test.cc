// Loading a plugins folder: good plugins load, each broken one is refused
// with one log line naming the file and the reason, and never stops the rest.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "plugin_test_support.h"

namespace nitric::host::testing {
namespace {

const fs::path kBroken = kTestPlugins / "broken";
const fs::path kUnit = kTestPlugins / "unit";

std::string ReadMaps() {
  std::ifstream in("/proc/self/maps");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(PluginLoader, LoadsTheExamplePlugins) {
  Loaded h;
  h.Load(kExamplePlugins);
  // rust-echo.so (examples/rust-echo) is there unless the build left it out
  // (-DNITRIC_BUILD_RUST_EXAMPLE=OFF).
  const bool rust = fs::exists(kExamplePlugins / "rust-echo.so");
  ASSERT_EQ(h.generation->plugins().size(), rust ? 4u : 3u) << h.log.All();
  EXPECT_EQ(h.generation->plugins()[0]->name(), "auth");  // file name order
  EXPECT_EQ(h.generation->plugins()[1]->name(), "broadcast");
  EXPECT_EQ(h.generation->plugins()[2]->name(), "echo");
  if (rust) {
    EXPECT_EQ(h.generation->plugins()[3]->name(), "rust-echo");
  }
  EXPECT_EQ(h.report.failures, 0u);
  EXPECT_EQ(h.generation->number(), 1u);
  const Declarations& d = h.generation->declarations();
  std::set<std::string> sockets{"echo", "public"};
  if (rust) sockets.insert("rust-echo");
  EXPECT_EQ(d.sockets, sockets);
  EXPECT_EQ(d.stores.at("connections"), NITRIC_KV_GET | NITRIC_KV_SET | NITRIC_KV_DELETE);
  // auth without config guards nothing, and says so
  EXPECT_EQ(h.log.Find({"[auth] [warning]", "guarding nothing"}).size(), 1u) << h.log.All();
  EXPECT_EQ(h.log.Find({"plugin broadcast.so: loaded broadcast", "handles [public:connect"}).size(),
            1u)
      << h.log.All();
}

struct Refusal {
  const char* file;
  const char* reason;
};

class PluginLoaderRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(PluginLoaderRefuses, TheBrokenFileAndKeepsTheGoodOne) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so");
  folder.Add(kBroken / GetParam().file);
  Loaded h;
  h.Load(folder.path());

  const PluginReport* r = h.ReportFor(GetParam().file);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->outcome, PluginOutcome::kRefused);
  EXPECT_NE(r->reason.find(std::string("plugin ") + GetParam().file), std::string::npos)
      << r->reason;
  EXPECT_NE(r->reason.find(GetParam().reason), std::string::npos) << r->reason;
  // one log line naming the file and the reason
  EXPECT_EQ(h.log.Find({"[error]", GetParam().file, GetParam().reason}).size(), 1u) << h.log.All();
  // the good plugin serves
  ASSERT_EQ(h.generation->plugins().size(), 1u);
  EXPECT_EQ(h.generation->plugins()[0]->name(), "ctest");
  EXPECT_EQ(h.report.failures, 1u);
  h.Handle(Message("ctest", "c1", "hello"));
  EXPECT_EQ(h.membrane.SentTo("c1"), std::vector<std::string>{"hello"});
  // the refused plugin's staged copy is gone already
  size_t staged = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(h.generation->staging()->dir()))
    ++staged;
  EXPECT_EQ(staged, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    BrokenPlugins, PluginLoaderRefuses,
    ::testing::Values(
        Refusal{"noentry.so", "has no entry symbol nitric_plugin_entry"},
        Refusal{"badabi.so",
                "was built for ABI 2, this host speaks ABI 1: rebuild it against this host's "
                "plugin.h"},
        Refusal{"initfail.so", "failed to initialise (HANDLER): database url missing"},
        Refusal{"setupthrow.so",
                "failed to initialise (HANDLER): setup threw: config file is corrupt"},
        Refusal{"x.so", "is not a shared object: it is not an ELF file"}),
    [](const auto& info) { return std::string(fs::path(info.param.file).stem()); });

// plugin.h, init: a refused plugin's registrations are forgotten and its
// shutdown() is never called. initfail.so declares a socket and a store and
// registers handlers before it fails; its handlers, shutdown and export_state
// abort(), so a call would end this test's process.
TEST(PluginLoader, AFailedInitIsForgottenAndNeverShutDown) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so");
  folder.Add(kBroken / "initfail.so");
  {
    Loaded h;
    h.Load(folder.path());
    ASSERT_EQ(h.ReportFor("initfail.so")->outcome, PluginOutcome::kRefused);
    EXPECT_FALSE(h.generation->declarations().sockets.contains("initfail"));
    EXPECT_FALSE(h.generation->declarations().stores.contains("initfail-store"));
    EXPECT_FALSE(h.Handle(Connect("initfail", "c1"))) << "no handler: accepted";
    EXPECT_FALSE(h.Handle(Message("initfail", "c1", "x")));
    EXPECT_FALSE(h.Handle(Disconnect("initfail", "c1")));
    h.Load(folder.path());  // refused again; the first generation goes
    EXPECT_FALSE(h.generation->declarations().sockets.contains("initfail"));
  }
  // Every generation and plugin instance is gone: a shutdown() would have
  // run (and aborted) by now. The good plugin was not disturbed either.
  SUCCEED();
}

TEST(PluginLoader, RefusesATruncatedFile) {
  ScratchFolder folder;
  fs::path cut = folder.Add(kTestPlugins / "ctest.so", "cut.so");
  fs::resize_file(cut, 3000);
  Loaded h;
  h.Load(folder.path());
  const PluginReport* r = h.ReportFor("cut.so");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->outcome, PluginOutcome::kRefused);
  // glibc's dlopen would map the missing pages and die of SIGBUS on them.
  EXPECT_NE(r->reason.find("plugin cut.so is not a shared object: the file is truncated"),
            std::string::npos)
      << r->reason;
}

TEST(PluginLoader, PassesOnDlopensReasonForAnElfItCannotLoad) {
  ScratchFolder folder;
  folder.Add("/bin/true", "true.so");  // a position-independent executable
  Loaded h;
  h.Load(folder.path());
  const PluginReport* r = h.ReportFor("true.so");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->reason.find("plugin true.so cannot be loaded: "), std::string::npos) << r->reason;
  EXPECT_EQ(r->reason.find(h.generation->staging()->dir().string()), std::string::npos)
      << "names the staged copy instead of the user's file: " << r->reason;
}

TEST(PluginLoader, AFolderOfBrokenPluginsGivesAnEmptyGeneration) {
  Loaded h;
  h.Load(kBroken);
  EXPECT_TRUE(h.generation->plugins().empty());
  EXPECT_EQ(h.report.failures, 5u) << h.log.All();
  EXPECT_FALSE(h.Handle(Connect("anything", "c1")));  // default answer: accept
}

TEST(PluginLoader, AMissingFolderIsReportedNotFatal) {
  Loaded h;
  h.Load("/nonexistent/plugins");
  EXPECT_TRUE(h.generation->plugins().empty());
  EXPECT_NE(h.report.folder_error.find("cannot read plugins folder /nonexistent/plugins"),
            std::string::npos);
}

TEST(PluginLoader, RefusesASecondPluginWithTheSameName) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so", "a.so");
  folder.Add(kTestPlugins / "ctest.so", "b.so");
  Loaded h;
  h.Load(folder.path());
  ASSERT_EQ(h.generation->plugins().size(), 1u);
  EXPECT_EQ(h.generation->plugins()[0]->file_name(), "a.so");
  ASSERT_NE(h.ReportFor("b.so"), nullptr);
  EXPECT_NE(h.ReportFor("b.so")->reason.find("named 'ctest' like another plugin"),
            std::string::npos);
}

TEST(PluginLoader, SkipsHiddenAndNonPluginFiles) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so", ".ctest.so");
  folder.Add(kTestPlugins / "ctest.so", "ctest.so.tmp");
  std::ofstream(folder.path() / "README") << "not a plugin";
  Loaded h;
  h.Load(folder.path());
  EXPECT_TRUE(h.report.plugins.empty());
}

TEST(PluginLoader, MapsOnlyTheStagedCopyNeverTheFolderFile) {
  ScratchFolder folder;
  fs::path original = folder.Add(kTestPlugins / "ctest.so");
  Loaded h;
  h.Load(folder.path());
  ASSERT_EQ(h.generation->plugins().size(), 1u);
  const fs::path staged = h.generation->plugins()[0]->staged_path();
  EXPECT_EQ(staged.parent_path(), h.generation->staging()->dir());
  EXPECT_EQ(staged.filename().string().rfind("ctest-", 0), 0u) << staged;
  const std::string maps = ReadMaps();
  EXPECT_NE(maps.find(staged.string()), std::string::npos);
  EXPECT_EQ(maps.find(original.string()), std::string::npos);
  // Overwriting the folder's file in place cannot touch the running code.
  std::ofstream(original, std::ios::trunc) << "garbage";
  h.Handle(Message("ctest", "c1", "still here"));
  EXPECT_EQ(h.membrane.SentTo("c1"), std::vector<std::string>{"still here"});
}

TEST(PluginLoader, UnloadsAndDeletesTheStagedFileWithTheLastGeneration) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "cpptest.so");
  Loaded h;
  h.Load(folder.path());
  ASSERT_EQ(h.generation->plugins().size(), 1u);
  const fs::path staged = h.generation->plugins()[0]->staged_path();
  ASSERT_TRUE(fs::exists(staged));
  h.generation.reset();
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_EQ(ReadMaps().find(staged.string()), std::string::npos) << "dlclose did not unload";
}

TEST(PluginLoader, HonoursAShortOldDescriptor) {
  Loaded h;
  {
    ScratchFolder folder;
    folder.Add(kUnit / "olddesc.so");
    h.Load(folder.path());
  }
  ASSERT_EQ(h.generation->plugins().size(), 1u) << h.log.All();
  EXPECT_EQ(h.generation->declarations().sockets.count("olddesc"), 1u);
  h.generation.reset();  // unload: the shutdown past `size` must not run
  EXPECT_TRUE(h.log.Find({"shutdown must not be called"}).empty()) << h.log.All();
}

TEST(PluginLoader, GivesEachPluginItsOwnConfigTable) {
  ScratchFolder folder;
  folder.Add(kTestPlugins / "ctest.so");
  folder.Add(kTestPlugins / "cpptest.so");
  Loaded h;
  h.Load(folder.path(), toml::parse(R"(
    [ctest]
    socket = "c-sock"
    [cpptest]
    socket = "cpp-sock"
  )"));
  EXPECT_EQ(h.generation->declarations().sockets, (std::set<std::string>{"c-sock", "cpp-sock"}));
}

}  // namespace
}  // namespace nitric::host::testing
