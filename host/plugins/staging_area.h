// The private folder every plugin file is copied to before dlopen.
//
// Why: dlopen caches by path (and inode), so loading a new version of x.so
// from the same path would return the old mapping; and an operator who
// overwrites a plugin in place (`cp new.so plugins/x.so`) would rewrite pages
// of code that is running. The host therefore never maps a file of the plugins
// folder: each load gets a fresh file "<stem>-<content hash>-<n>.so" here.
//
// The staged file is kept until the plugin is unloaded (so debuggers,
// profilers and /proc/self/maps show a real path) and deleted right after
// dlclose. Folders left by a crashed host are removed by the next one.
//
// Thread-safety: Stage() may be called concurrently.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "host/base/status.h"

namespace nitric::host {

class StagingArea {
 public:
  // Creates "nitric-host-<pid>-XXXXXX" (mode 0700) under `parent`; an empty
  // `parent` means $XDG_RUNTIME_DIR when set, else the system temp folder.
  // The parent must not be mounted noexec (dlopen maps the files executable).
  static StatusOr<std::shared_ptr<StagingArea>> Create(const std::filesystem::path& parent = {});

  // Removes the folder and whatever is still in it.
  ~StagingArea();
  StagingArea(const StagingArea&) = delete;
  StagingArea& operator=(const StagingArea&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  // Writes `bytes` to a new file named after `stem` and `hash`, unique for
  // the life of this area even when the same content is staged twice.
  StatusOr<std::filesystem::path> Stage(std::string_view stem, std::string_view hash,
                                        std::string_view bytes);

 private:
  explicit StagingArea(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path dir_;
  std::atomic<uint64_t> next_id_{1};
};

// Hex SHA-1 of `bytes`: identifies a plugin file's content across reloads.
std::string ContentHash(std::string_view bytes);

}  // namespace nitric::host
