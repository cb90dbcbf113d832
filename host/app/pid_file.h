// The pid file, and `nitric-host reload`, which uses it to send SIGHUP.
//
// A running host with --pid-file (or host.pid_file) writes its pid there and
// holds an exclusive flock(2) on the file for as long as it runs: the lock,
// not the number in the file, says whether a host owns the file, so of two
// hosts started at once on one pid file exactly one runs, and a file left by
// a host that died (the kernel dropped its lock) never blocks a start.
//
// The number is written to a temporary file made with mkostemp(3) in the same
// folder (O_CREAT|O_EXCL|O_NOFOLLOW: a planted symlink is never followed),
// fsync'ed and renamed over the pid file: a reader never sees half a number.
// The file is removed when the host exits, if it is still the one it wrote.
//
// `nitric-host reload --pid-file FILE` reads it, checks that the process is
// really a nitric-host (a stale file whose pid the kernel gave to another
// program must not get a SIGHUP) and signals it. It takes no lock, so it can
// never make a starting host believe the file is taken.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "host/base/status.h"

namespace nitric::host {

class PidFile {
 public:
  // Takes the lock on `path` and writes this process's pid there. Refuses
  // (FAILED_PRECONDITION naming the file and saying what to do) when another
  // process holds the lock: then the message names the holder's pid when it
  // is a nitric-host. A file nobody holds (stale, empty or garbage) is
  // replaced. A symlink at `path` is refused, never followed. A file that
  // cannot be opened or written is UNAVAILABLE.
  static StatusOr<PidFile> Create(const std::filesystem::path& path);

  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  // Removes the file if it is still the one this object wrote, then releases
  // the lock.
  ~PidFile();

 private:
  PidFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  void Remove();
  std::filesystem::path path_;  // empty once moved from
  int fd_ = -1;                 // the published file, locked; -1 once moved from
};

// Reads `path` and returns the pid of the nitric-host it names. On failure
// (no file, not a number, no such process, not a nitric-host) an error whose
// message says what to do.
StatusOr<pid_t> RunningHostPid(const std::filesystem::path& path);

// `nitric-host reload`: SIGHUP to the host named by `pid_file`. Prints what it
// did (stdout) or why not (stderr). Returns the exit code: 0 sent, 1 not.
int SendReload(const std::filesystem::path& pid_file);

}  // namespace nitric::host
