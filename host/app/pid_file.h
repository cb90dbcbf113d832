// The pid file, and `nitric-host reload`, which uses it to send SIGHUP.
//
// A running host with --pid-file (or host.pid_file) writes its pid there
// (written to a temporary file, then renamed: a reader never sees half a
// number) and removes the file when it exits, if the file is still its own.
// `nitric-host reload --pid-file FILE` reads it, checks that the process is
// really a nitric-host (a stale file whose pid the kernel gave to another
// program must not get a SIGHUP) and signals it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace nitric::host {

class PidFile {
 public:
  // Writes this process's pid to `path`. Refuses (nullopt, *error says why)
  // when `path` names another live nitric-host: two daemons must not share
  // one pid file. A stale file (dead pid, or not a nitric-host) is replaced.
  static std::optional<PidFile> Create(const std::filesystem::path& path, std::string* error);

  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  // Removes the file if it still holds this process's pid.
  ~PidFile();

 private:
  explicit PidFile(std::filesystem::path path) : path_(std::move(path)) {}
  void Remove();
  std::filesystem::path path_;  // empty once moved from
};

// Reads `path` and returns the pid of the nitric-host it names. On failure
// (no file, not a number, no such process, not a nitric-host) nullopt with a
// message saying what to do in *error.
std::optional<pid_t> RunningHostPid(const std::filesystem::path& path, std::string* error);

// `nitric-host reload`: SIGHUP to the host named by `pid_file`. Prints what it
// did (stdout) or why not (stderr). Returns the exit code: 0 sent, 1 not.
int SendReload(const std::filesystem::path& pid_file);

}  // namespace nitric::host
