// nitric-dev-membrane: runs the dev membrane until SIGINT or SIGTERM.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "devserver/collector.h"
#include "devserver/command_line.h"
#include "devserver/dev_membrane.h"

extern char** environ;

namespace {

// SIGINT and SIGTERM are blocked in every thread (the mask is set before any
// thread exists, and threads inherit it) and taken with sigwait() by the main
// thread: no work ever happens in a signal handler.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

int WaitForSignal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

// Writes `text` to `path` whole or not at all: a temporary file beside it,
// flushed to disk, then renamed over it. "-" is stdout.
bool WriteFileAtomically(const std::string& path, const std::string& text, std::string* error) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  }
  std::string tmp = path + ".XXXXXX";
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  bool ok = true;
  for (std::size_t off = 0; ok && off < text.size();) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ok && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
  const int saved = errno;
  ok = close(fd) == 0 && ok;
  if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
  *error = "cannot write " + path + ": " + std::strerror(ok ? errno : saved);
  unlink(tmp.c_str());
  return false;
}

// Starts the service of `--collect FILE -- COMMAND...` in build mode against
// the collector. The child gets default signal handling back (this process
// blocks SIGINT/SIGTERM/SIGCHLD and ignores SIGPIPE). -1 when it cannot start.
pid_t StartService(const std::vector<std::string>& command, const std::string& address) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    if (entry.rfind("SERVICE_ADDRESS=", 0) == 0 || entry.rfind("NITRIC_ENVIRONMENT=", 0) == 0) {
      continue;
    }
    env_strings.emplace_back(entry);
  }
  env_strings.push_back("SERVICE_ADDRESS=" + address);
  env_strings.push_back("NITRIC_ENVIRONMENT=build");
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    spdlog::error("collect: cannot run '{}': {}", command.front(), std::strerror(rc));
    return -1;
  }
  return pid;
}

// --collect FILE: Nitric's build-time collector (docs/PROTOCOL.md#collect).
int RunCollect(const nitric::devserver::CommandLine& cl, sigset_t signals) {
  nitric::devserver::Collector collector(cl.options.listen);
  grpc::Status status = collector.Start();
  if (!status.ok()) {
    spdlog::error("cannot start the collector: {}", status.error_message());
    return 1;
  }
  spdlog::info("collector ready: SERVICE_ADDRESS={} (NITRIC_ENVIRONMENT=build)",
               collector.grpc_address());

  bool service_failed = false;
  if (cl.command.empty()) {
    const int sig = WaitForSignal(signals);
    spdlog::info("{} received: collection complete", sig == SIGINT ? "SIGINT" : "SIGTERM");
  } else {
    const pid_t child = StartService(cl.command, collector.grpc_address());
    if (child < 0) return 1;
    bool interrupted = false;
    for (;;) {
      const int sig = WaitForSignal(signals);
      if (sig == SIGINT || sig == SIGTERM) {
        // Passed on: the service stops, and the collection counts as failed.
        interrupted = true;
        kill(child, sig);
        continue;
      }
      int wstatus = 0;
      const pid_t r = waitpid(child, &wstatus, WNOHANG);
      if (r != child) continue;
      if (interrupted) {
        spdlog::error("collect: interrupted; the service did not finish");
        service_failed = true;
      } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        spdlog::info("collect: the service exited 0");
      } else {
        spdlog::error("collect: the service {} {}; nothing collected is trusted",
                      WIFEXITED(wstatus) ? "exited with code" : "was killed by signal",
                      WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
        service_failed = true;
      }
      break;
    }
  }
  collector.Shutdown();
  if (service_failed) return 1;

  const std::vector<std::string> errors = collector.collection().Errors();
  if (!errors.empty()) {
    // The wording of Nitric's spec builder (`nitric up`).
    std::string text = "Errors found in project:\n";
    for (const std::string& e : errors) text += "  - " + e + "\n";
    std::fprintf(stderr, "nitric-dev-membrane: %s%s was not written\n", text.c_str(),
                 cl.collect->c_str());
    return 1;
  }
  std::string error;
  if (!WriteFileAtomically(*cl.collect, collector.collection().Json(), &error)) {
    spdlog::error("collect: {}", error);
    return 1;
  }
  if (*cl.collect != "-") spdlog::info("collect: wrote {}", *cl.collect);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil leaves absl::Mutex deadlock detection on (no NDEBUG): a
  // global lock-graph update on every lock gRPC takes. Not for a server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using nitric::devserver::CommandLine;
  CommandLine cl;
  std::string error;
  if (!nitric::devserver::ParseCommandLine(argc, argv, &cl, &error)) {
    std::fprintf(stderr, "nitric-dev-membrane: %s\nTry 'nitric-dev-membrane --help'.\n",
                 error.c_str());
    return 2;
  }
  if (cl.help) {
    std::fputs(nitric::devserver::Usage().c_str(), stdout);
    return 0;
  }

  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  // A peer that vanishes must cost an EPIPE, never the process.
  signal(SIGPIPE, SIG_IGN);

  if (cl.collect) {
    // stdout may be the collected document ("--collect -"): logs go to stderr.
    spdlog::set_default_logger(spdlog::stderr_color_mt("collect"));
    sigset_t signals = stop;
    if (!cl.command.empty()) {
      // The service's exit arrives as SIGCHLD, taken with sigwait like the rest.
      sigaddset(&signals, SIGCHLD);
      pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    }
    return RunCollect(cl, signals);
  }

  std::error_code ec;
  std::filesystem::path data = std::filesystem::absolute(cl.options.data_dir, ec);
  if (!ec) cl.options.data_dir = data.lexically_normal();

  nitric::devserver::DevMembrane membrane(cl.options);
  grpc::Status status = membrane.Start();
  if (!status.ok()) {
    spdlog::error("cannot start the dev membrane: {}", status.error_message());
    return 1;
  }
  spdlog::info("dev membrane ready: SERVICE_ADDRESS={} data={}", membrane.grpc_address(),
               cl.options.data_dir.string());

  int sig = WaitForSignal(stop);
  spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  // A second signal while shutting down means "now": leave without cleanup.
  std::thread([stop] {
    WaitForSignal(stop);
    std::fputs("nitric-dev-membrane: second signal, exiting immediately\n", stderr);
    std::_Exit(1);
  }).detach();
  membrane.Shutdown();
  return 0;
}
