// Runs the real nitric-host binary as a child process for integration tests:
// arguments and extra environment in, stdout and stderr captured, signals,
// exit code. The binary's path comes from the build (NITRIC_HOST_BINARY).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace nitric::testing {

using namespace std::chrono_literals;

class HostProcess {
 public:
  HostProcess() = default;
  // Kills the process (SIGKILL) if it is still running.
  ~HostProcess();
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  // Runs another program than nitric-host (a test's helper server), by
  // path. Before Start().
  void set_binary(std::string path) { binary_ = std::move(path); }

  // Starts nitric-host with `args`; `env` adds to (or replaces in) this
  // process's environment. False if it could not be spawned.
  bool Start(const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env = {});

  // Default deadlines bound a hang only: a starved machine may be slow.
  // Waits until the captured stderr (or stdout) contains `text`. False on
  // timeout or when the process exited without printing it.
  bool WaitForStderr(const std::string& text, std::chrono::milliseconds timeout = 60s);
  // The same, counting only output from byte `from` of stderr on: a line the
  // host printed earlier (say, a retry at start-up) does not count.
  bool WaitForStderrAfter(std::size_t from, const std::string& text,
                          std::chrono::milliseconds timeout = 60s);
  bool WaitForStdout(const std::string& text, std::chrono::milliseconds timeout = 60s);

  void Signal(int signo);

  // Waits for the process to exit: its exit code, or 128+signal when killed
  // by a signal; nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout = 60s);

  // Runs to completion: start, wait, return the exit code (-1 on timeout).
  int Run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
          std::chrono::milliseconds timeout = 60s);

  std::string stdout_text() const;
  std::string stderr_text() const;
  pid_t pid() const { return pid_; }

 private:
  bool WaitFor(const std::string* buffer, const std::string& text,
               std::chrono::milliseconds timeout, std::size_t from = 0);
  void Pump(int fd, std::string* buffer, bool* open);

  std::string binary_;  // empty: NITRIC_HOST_BINARY
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::thread out_thread_;
  std::thread err_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;        // guarded by mu_
  std::string err_;        // guarded by mu_
  bool out_open_ = false;  // guarded by mu_
  bool err_open_ = false;  // guarded by mu_
};

}  // namespace nitric::testing
