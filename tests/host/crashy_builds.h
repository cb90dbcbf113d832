// Builds of the crashy test plugin (tests/plugins/test_plugins/crashy.c) for
// the isolation tests: its mode letter and build number patched into a copy,
// installed into a plugins folder the safe way (written elsewhere, renamed
// in), so every build is a new file content for the host.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "host/host_fixture.h"

namespace nitric::testing {

// crashy.so with mode `mode` ('o', 's', 'a', 'h', 'm') and build `build`.
inline std::string CrashyBuild(char mode, int build) {
  static constexpr std::string_view kMarker = "NITRIC_CRASHY=o000";
  std::string bytes = ReadFile(TestPlugin("crashy"));
  const size_t at = bytes.find(kMarker);
  if (at == std::string::npos) return {};
  const std::string patched =
      std::string("NITRIC_CRASHY=") + mode + std::to_string(100 + build % 900);
  bytes.replace(at, kMarker.size(), patched);
  return bytes;
}

// Writes `bytes` next to `folder` and renames it to folder/name.
inline void InstallPlugin(const std::filesystem::path& folder, const std::string& name,
                          const std::string& bytes) {
  ASSERT_FALSE(bytes.empty()) << "crashy.so was not built, or lost its marker";
  const std::filesystem::path tmp = folder.parent_path() / (name + ".new");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    ASSERT_FALSE(out.fail()) << "cannot write " << tmp;
  }
  std::filesystem::rename(tmp, folder / name);
}

}  // namespace nitric::testing
