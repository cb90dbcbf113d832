#include "host/host_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace nitric::testing {

HostProcess::~HostProcess() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    Wait(10s);
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
}

bool HostProcess::Start(const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return false;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return false;

  std::vector<std::string> argv_storage{binary_.empty() ? NITRIC_HOST_BINARY : binary_};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr) merged[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_storage;
  for (const auto& [k, v] : merged) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  // The test process may have signals blocked (gtest threads do not, but be
  // sure): the host must start with a clean mask and default dispositions.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const int rc = posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    pid_ = -1;
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    out_open_ = err_open_ = true;
  }
  out_thread_ = std::thread([this, fd = out_pipe[0]] { Pump(fd, &out_, &out_open_); });
  err_thread_ = std::thread([this, fd = err_pipe[0]] { Pump(fd, &err_, &err_open_); });
  return true;
}

void HostProcess::Pump(int fd, std::string* buffer, bool* open) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (n <= 0) {
      *open = false;
      cv_.notify_all();
      break;
    }
    buffer->append(chunk, static_cast<size_t>(n));
    cv_.notify_all();
  }
  close(fd);
}

bool HostProcess::WaitFor(const std::string* buffer, const std::string& text,
                          std::chrono::milliseconds timeout, std::size_t from) {
  const bool* open = buffer == &out_ ? &out_open_ : &err_open_;
  auto found = [&] {
    return buffer->size() >= from && buffer->find(text, from) != std::string::npos;
  };
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return found() || !*open; });
  return found();
}

bool HostProcess::WaitForStderr(const std::string& text, std::chrono::milliseconds timeout) {
  return WaitFor(&err_, text, timeout);
}

bool HostProcess::WaitForStderrAfter(std::size_t from, const std::string& text,
                                     std::chrono::milliseconds timeout) {
  return WaitFor(&err_, text, timeout, from);
}

bool HostProcess::WaitForStdout(const std::string& text, std::chrono::milliseconds timeout) {
  return WaitFor(&out_, text, timeout);
}

void HostProcess::Signal(int signo) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signo);
}

std::optional<int> HostProcess::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  // Let the pumps see EOF so the output is complete.
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  return exit_code_;
}

int HostProcess::Run(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env,
                     std::chrono::milliseconds timeout) {
  if (!Start(args, env)) return -1;
  auto code = Wait(timeout);
  return code ? *code : -1;
}

std::string HostProcess::stdout_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_;
}

std::string HostProcess::stderr_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return err_;
}

}  // namespace nitric::testing
