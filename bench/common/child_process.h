// A process under test, started by a benchmark driver and always ended by it.
//
// Spawn() forks and execs with a prepared environment (nothing but
// async-signal-safe calls between fork and exec), puts the child in its own
// process group, redirects its stdout and stderr to a log file, and asks the
// kernel to SIGKILL it if the driver dies (PR_SET_PDEATHSIG). Stop() sends
// SIGTERM to the group, waits, then SIGKILLs it. The destructor stops a child
// still running, and InstallKillOnSignal() makes a driver's SIGINT/SIGTERM kill
// every live child group before the driver exits: no exit path leaks a child.
//
// Thread-safety: a ChildProcess is used from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nitric::bench {

struct ChildOptions {
  // argv[0] is looked up in PATH when it has no '/'.
  std::vector<std::string> argv;
  // Variables set (or replaced) in the child's environment.
  std::map<std::string, std::string> env_set;
  // Variables removed from it.
  std::vector<std::string> env_unset;
  // stdout and stderr go here (truncated); /dev/null when empty.
  std::string log_path;
};

class ChildProcess {
 public:
  // Starts the child. On failure returns nullptr and sets *error.
  static std::unique_ptr<ChildProcess> Spawn(const ChildOptions& options, std::string* error);

  ~ChildProcess();  // Stop() if still running.
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // True while the child has not exited (reaps it when it has).
  bool Running();

  // How the child ended ("exit 0", "signal 9"), or empty while it runs.
  const std::string& ExitDescription() const { return exit_description_; }

  // SIGTERM to the child's group; SIGKILL after `grace`. Returns how it ended.
  // Idempotent.
  std::string Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Sends `signal` to the child alone (not its group). False if it is gone.
  bool Signal(int signal);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  bool Reap(bool block);

  pid_t pid_;
  bool exited_ = false;
  std::string exit_description_;
};

// Makes SIGINT, SIGTERM and SIGHUP of the driver SIGKILL every live child group
// and exit the driver with 128 + signal. Call once, early in main().
void InstallKillOnSignal();

}  // namespace nitric::bench
