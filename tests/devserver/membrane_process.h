// The nitric-dev-membrane binary as a child process, for the tests that run
// it (NITRIC_DEV_MEMBRANE_BIN is its path, set by tests/devserver/CMakeLists.txt).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

extern char** environ;

namespace nitric::devserver {

using namespace std::chrono_literals;

// The binary, run with stdout and stderr captured into one pipe.
class Membrane {
 public:
  explicit Membrane(std::vector<std::string> args) {
    args.insert(args.begin(), NITRIC_DEV_MEMBRANE_BIN);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_fd_ = fds[0];
  }

  ~Membrane() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }

  bool started() const { return pid_ > 0; }

  // Reads output until `re` matches (returns the first capture group) or the
  // time runs out (returns empty).
  std::string WaitFor(const std::regex& re, std::chrono::milliseconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::smatch m;
    while (!std::regex_search(output_, m, re)) {
      if (!ReadSome(deadline)) return "";
    }
    return m.size() > 1 ? m[1].str() : m[0].str();
  }

  // Waits for the process to exit; returns its exit code, or -1.
  int Wait(std::chrono::milliseconds timeout = 60s) {  // bounds a hang only
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        while (ReadSome(std::chrono::steady_clock::now() + 100ms)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      ReadSome(std::chrono::steady_clock::now() + 20ms);
    }
    return -1;
  }

  void Signal(int sig) { kill(pid_, sig); }
  const std::string& output() const { return output_; }

 private:
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
};

}  // namespace nitric::devserver
