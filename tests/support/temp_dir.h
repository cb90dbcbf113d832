// A private temporary folder for a test.
#pragma once

#include <filesystem>

namespace nitric::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its content on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace nitric::testing
