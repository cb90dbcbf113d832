// The ABI note (plugin.h, NITRIC_ABI_NOTE): every plugin built with this
// header carries its ABI in an ELF note; the loader refuses another major
// from the note, before dlopen, with none of the plugin's code run; a plugin
// built against the 1.0 header (no note) still loads and serves.
#include <dlfcn.h>
#include <stdlib.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../plugin_test_support.h"
#include "host/plugins/elf_check.h"

namespace nitric::host::testing {
namespace {

const fs::path kAbiPlugins = kTestPlugins / "abi";

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(AbiNote, EveryPluginBuiltWithThisHeaderCarriesItsAbi) {
  for (const fs::path& plugin : {kExamplePlugins / "echo.so", kExamplePlugins / "broadcast.so",
                                 kTestPlugins / "ctest.so", kTestPlugins / "cpptest.so"}) {
    SCOPED_TRACE(plugin.string());
    const std::string bytes = Bytes(plugin);
    ASSERT_TRUE(CheckSharedObject(bytes).ok());
    std::optional<AbiNote> note = ReadAbiNote(bytes);
    ASSERT_TRUE(note.has_value());
    EXPECT_EQ(note->major, static_cast<uint32_t>(NITRIC_ABI_MAJOR));
    EXPECT_EQ(note->minor, static_cast<uint32_t>(NITRIC_ABI_MINOR));
  }
}

TEST(AbiNote, APluginForAnotherMajorIsRefusedBeforeAnyOfItsCodeRuns) {
  ScratchFolder folder;
  const fs::path trace = folder.path() / "constructor-ran";
  ASSERT_EQ(::setenv("NITRIC_FUTUREABI_TRACE", trace.c_str(), 1), 0);
  const fs::path plugins = folder.path() / "plugins";
  fs::create_directories(plugins);
  fs::copy_file(kAbiPlugins / "futureabi.so", plugins / "futureabi.so");

  Loaded loaded;
  loaded.Load(plugins);

  const PluginReport* report = loaded.ReportFor("futureabi.so");
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->outcome, PluginOutcome::kRefused);
  EXPECT_NE(report->reason.find("was built for ABI 2.0 (its ELF note says so)"), std::string::npos)
      << report->reason;
  EXPECT_FALSE(fs::exists(trace)) << "the plugin's constructor ran before the ABI check";

  // The trace is real: dlopen does run the constructor.
  void* lib = ::dlopen((kAbiPlugins / "futureabi.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << ::dlerror();
  ::dlclose(lib);
  EXPECT_TRUE(fs::exists(trace));
  ::unsetenv("NITRIC_FUTUREABI_TRACE");
}

TEST(AbiNote, APluginBuiltAgainstThe10HeaderLoadsWithALogLineAndServes) {
  const fs::path plugin = kAbiPlugins / "ctest10.so";
  EXPECT_FALSE(ReadAbiNote(Bytes(plugin)).has_value()) << "the 1.0 header emits no note";
  ScratchFolder folder;
  folder.Add(plugin);

  Loaded loaded;
  loaded.Load(folder.path());

  const PluginReport* report = loaded.ReportFor("ctest10.so");
  ASSERT_NE(report, nullptr);
  EXPECT_NE(report->outcome, PluginOutcome::kRefused) << report->reason;
  EXPECT_EQ(loaded.log.Find({"plugin ctest10.so has no ABI note"}).size(), 1u) << loaded.log.All();
  loaded.Handle(Message("ctest", "c1", "hello"));
  EXPECT_EQ(loaded.membrane.SentTo("c1"), std::vector<std::string>{"hello"});
}

}  // namespace
}  // namespace nitric::host::testing
