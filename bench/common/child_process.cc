#include "bench/common/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace nitric::bench {
namespace {

// Process groups of live children, for the signal handler. A slot holds 0
// when free. Lock-free so the handler may read it.
constexpr std::size_t kMaxChildren = 16;
std::array<std::atomic<pid_t>, kMaxChildren> g_live_groups{};

void Track(pid_t pid) {
  for (auto& slot : g_live_groups) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid)) return;
  }
}

void Untrack(pid_t pid) {
  for (auto& slot : g_live_groups) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

void KillAllAndExit(int signal) {
  for (auto& slot : g_live_groups) {
    const pid_t pid = slot.load();
    if (pid > 0) kill(-pid, SIGKILL);
  }
  _exit(128 + signal);
}

std::string FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

std::vector<std::string> BuildEnvironment(const ChildOptions& options) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text = *entry;
    const std::string key = text.substr(0, text.find('='));
    if (options.env_set.count(key) != 0) continue;
    bool removed = false;
    for (const auto& name : options.env_unset) removed = removed || name == key;
    if (!removed) env.push_back(std::move(text));
  }
  for (const auto& [key, value] : options.env_set) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> PointersOf(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::Spawn(const ChildOptions& options, std::string* error) {
  if (options.argv.empty()) {
    *error = "empty command";
    return nullptr;
  }
  // Everything the child needs is prepared before fork: after it, a
  // multi-threaded parent's child may only make async-signal-safe calls.
  std::vector<std::string> args = options.argv;
  const std::string program = FindInPath(args[0]);
  std::vector<std::string> env = BuildEnvironment(options);
  std::vector<char*> argv = PointersOf(args);
  std::vector<char*> envp = PointersOf(env);
  const std::string log = options.log_path.empty() ? "/dev/null" : options.log_path;
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the driver died before prctl
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    const int null_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_in >= 0) dup2(null_in, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(program.c_str(), argv.data(), envp.data());
    static const char kMessage[] = "bench: exec failed\n";
    (void)!write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent: no race with a fast Stop()
  Track(pid);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Reap(bool block) {
  if (exited_) return true;
  int status = 0;
  const pid_t done = waitpid(pid_, &status, block ? 0 : WNOHANG);
  if (done == pid_ || (done < 0 && errno == ECHILD)) {
    exited_ = true;
    exit_description_ = done == pid_ ? Describe(status) : "reaped elsewhere";
    // The group may outlive its leader (a grandchild): end it too.
    kill(-pid_, SIGKILL);
    Untrack(pid_);
    return true;
  }
  return false;
}

bool ChildProcess::Running() { return !Reap(false); }

bool ChildProcess::Signal(int signal) { return Running() && kill(pid_, signal) == 0; }

std::string ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (!Running()) return exit_description_;
  kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Reap(false)) return exit_description_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(-pid_, SIGKILL);
  Reap(true);
  exit_description_ += " (SIGKILL after " + std::to_string(grace.count()) + " ms)";
  return exit_description_;
}

void InstallKillOnSignal() {
  struct sigaction action {};
  action.sa_handler = KillAllAndExit;
  sigemptyset(&action.sa_mask);
  for (const int signal : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal, &action, nullptr);
}

}  // namespace nitric::bench
