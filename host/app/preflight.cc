#include "host/app/preflight.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "host/plugins/sha256.h"

extern char** environ;

namespace nitric::host {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The child checks this against getppid() after asking to die with its
// parent, closing the window where the parent died before the request.
constexpr char kParentEnv[] = "NITRIC_PREFLIGHT_PARENT";
constexpr size_t kKeepOutput = 16 * 1024;  // bytes of the child's output kept
constexpr int kLastLines = 8;
// The child's exit code and log line when the loader refused the plugin.
constexpr int kExitRefused = 3;
constexpr char kRefusedTag[] = "pre-flight: refused: ";

// The membrane of the check: every call answers here, nothing is sent. KV
// behaves as an empty store that forgets what is written, so an init that
// reads its state finds none (as on a first start) rather than failing.
class LocalMembrane : public MembraneClient {
 public:
  Status Send(std::string_view, std::string_view, std::string_view) override { return Status(); }
  Status Close(std::string_view, std::string_view) override { return Status(); }
  Status SocketUrl(std::string_view, std::string*) override {
    return Status(NITRIC_ERR_UNAVAILABLE,
                  "no membrane in a pre-flight check (nitric-host --preflight)");
  }
  Status KvGet(std::string_view, std::string_view key, std::string*) override {
    return Status(NITRIC_ERR_NOT_FOUND, "key " + std::string(key) + " not found");
  }
  Status KvSet(std::string_view, std::string_view, std::string_view) override { return Status(); }
  Status KvDelete(std::string_view, std::string_view) override { return Status(); }
  Status KvKeys(std::string_view, std::string_view, std::vector<std::string>*) override {
    return Status();
  }
};

// The last kLastLines non-empty lines of `out`, joined with " | ".
std::string LastLines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line.size() > 400) line = line.substr(0, 400) + "...";
    lines.push_back(std::move(line));
  }
  const size_t from = lines.size() > kLastLines ? lines.size() - kLastLines : 0;
  std::string joined;
  for (size_t i = from; i < lines.size(); ++i) joined += (joined.empty() ? "" : " | ") + lines[i];
  return joined.empty() ? "(nothing)" : joined;
}

struct ChildResult {
  bool started = false;
  std::string spawn_error;
  bool timed_out = false;
  int status = 0;  // waitpid's
  std::string output;
};

// Keeps the tail of the child's output and hands each complete line to
// `on_line` as it arrives, so a check that hangs shows what it printed while
// it runs, not only when it is killed.
struct OutputTail {
  std::string kept;
  std::string partial;
  const std::function<void(const std::string&)>* on_line = nullptr;

  void Add(const char* data, size_t n) {
    kept.append(data, n);
    if (kept.size() > 2 * kKeepOutput) kept.erase(0, kept.size() - kKeepOutput);
    partial.append(data, n);
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (nl > start && on_line != nullptr) (*on_line)(partial.substr(start, nl - start));
    }
    partial.erase(0, start);
    if (partial.size() > kKeepOutput) partial.clear();  // a line without end: not forwarded
  }
};

ChildResult RunChild(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                     const std::function<void(const std::string&)>& on_line) {
  ChildResult result;
  OutputTail tail;
  tail.on_line = &on_line;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.spawn_error = fmt::format("cannot make a pipe: {}", std::strerror(errno));
    return result;
  }
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string parent_env = fmt::format("{}={}", kParentEnv, ::getpid());
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, kParentEnv, sizeof kParentEnv - 1) != 0) envp.push_back(*e);
  }
  envp.push_back(const_cast<char*>(parent_env.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  // Its own process group, so a timeout kills whatever the plugin started
  // too; and no signal blocked (the host's threads block SIGTERM and co).
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    result.spawn_error = fmt::format("cannot start /proc/self/exe: {}", std::strerror(rc));
    return result;
  }
  result.started = true;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

  const auto deadline = Clock::now() + timeout;
  bool pipe_open = true;
  bool exited = false;
  char buf[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t count = 0;
    int pipe_at = -1;
    int pid_at = -1;
    if (pipe_open) {
      fds[count] = {pipe_fds[0], POLLIN, 0};
      pipe_at = static_cast<int>(count++);
    }
    if (pidfd >= 0) {
      fds[count] = {pidfd, POLLIN, 0};
      pid_at = static_cast<int>(count++);
    }
    // Without a pidfd (kernel before 5.3) look at the child every 10 ms.
    const int wait_ms = static_cast<int>(pidfd >= 0 ? left : std::min<long>(10, left));
    if (::poll(fds, count, wait_ms) < 0 && errno != EINTR) break;
    if (pipe_at >= 0 && fds[pipe_at].revents != 0) {
      const ssize_t got = ::read(pipe_fds[0], buf, sizeof buf);
      if (got > 0) {
        tail.Add(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        pipe_open = false;
      }
    }
    if (pidfd < 0 || (pid_at >= 0 && fds[pid_at].revents != 0)) {
      if (::waitpid(pid, &result.status, WNOHANG) == pid) {
        exited = true;
        break;
      }
    }
  }
  if (!exited) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
    }
  }
  // What is still in the pipe (something the plugin started may hold it
  // open: take only what is there now).
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  while (pipe_open) {
    const ssize_t got = ::read(pipe_fds[0], buf, sizeof buf);
    if (got <= 0) break;
    tail.Add(buf, static_cast<size_t>(got));
  }
  ::close(pipe_fds[0]);
  if (pidfd >= 0) ::close(pidfd);
  result.output = std::move(tail.kept);
  if (result.output.size() > kKeepOutput) {
    result.output.erase(0, result.output.size() - kKeepOutput);
  }
  return result;
}

Status Refused(std::string why) { return Status(NITRIC_ERR_FAILED_PRECONDITION, std::move(why)); }

}  // namespace

std::string DescribeSignal(int signo) {
  const char* abbrev = ::sigabbrev_np(signo);
  const char* text = ::sigdescr_np(signo);
  return fmt::format("SIG{} ({})", abbrev != nullptr ? abbrev : std::to_string(signo).c_str(),
                     text != nullptr ? text : "unknown signal");
}

Status RunPreflight(const PluginFile& file, StagingArea& staging, const toml::table& plugin_configs,
                    std::chrono::milliseconds timeout) {
  const std::string file_name = file.path.filename().string();
  StatusOr<fs::path> staged = staging.Stage("preflight", file.hash, file.bytes);
  if (!staged.ok()) {
    return Refused(fmt::format("plugin {} cannot be staged for its pre-flight check: {}", file_name,
                               staged.status().message()));
  }
  const fs::path config_path = staged.value().string() + ".toml";
  {
    std::ofstream out(config_path, std::ios::binary | std::ios::trunc);
    out << plugin_configs << "\n";
  }
  const auto start = Clock::now();
  ChildResult child =
      RunChild({"nitric-host", "--preflight", staged.value().string(), "--preflight-name",
                file_name, "--preflight-config", config_path.string()},
               timeout, [&file_name](const std::string& line) {
                 spdlog::info("plugin {} pre-flight | {}", file_name, line);
               });
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  std::error_code ignored;
  fs::remove(staged.value(), ignored);
  fs::remove(config_path, ignored);

  if (!child.started) {
    return Refused(fmt::format("plugin {}: the pre-flight check could not run: {}", file_name,
                               child.spawn_error));
  }
  constexpr char kFix[] =
      "fix the plugin (or set host.preflight = false to load it without the check)";
  if (child.timed_out) {
    return Refused(fmt::format(
        "plugin {} did not finish its pre-flight check within {} ms (init hung?) and the check "
        "was killed; {}; last output of the check: {}",
        file_name, timeout.count(), kFix, LastLines(child.output)));
  }
  if (WIFSIGNALED(child.status)) {
    return Refused(fmt::format(
        "plugin {} crashed its pre-flight check with {} after {} ms; {}; last output of the "
        "check: {}",
        file_name, DescribeSignal(WTERMSIG(child.status)), elapsed, kFix, LastLines(child.output)));
  }
  if (WIFEXITED(child.status) && WEXITSTATUS(child.status) == kExitRefused) {
    // The loader's own sentence, as an in-process load would have given it.
    const size_t at = child.output.rfind(kRefusedTag);
    if (at != std::string::npos) {
      const size_t from = at + sizeof kRefusedTag - 1;
      return Refused(child.output.substr(from, child.output.find('\n', from) - from));
    }
  }
  if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0) {
    return Refused(fmt::format(
        "plugin {} was refused by its pre-flight check (exit status {}); last output of the "
        "check: {}",
        file_name, WIFEXITED(child.status) ? WEXITSTATUS(child.status) : -1,
        LastLines(child.output)));
  }
  spdlog::debug("plugin {}: pre-flight check passed in {} ms", file_name, elapsed);
  return Status();
}

int RunPreflightChild(const CliOptions& cli) {
  // Die with the host: a hung check must not outlive it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (const char* parent = std::getenv(kParentEnv);
      parent != nullptr && std::atol(parent) != static_cast<long>(::getppid())) {
    return 1;
  }
  const std::string& name = cli.preflight_name;
  toml::table configs;
  if (cli.preflight_config) {
    try {
      configs = toml::parse_file(cli.preflight_config->string());
    } catch (const toml::parse_error& e) {
      spdlog::error("pre-flight: cannot read the plugin configs: {}", e.description());
      return 1;
    }
  }
  PluginFile file;
  file.path = fs::path(name).filename();
  {
    std::ifstream in(*cli.preflight, std::ios::binary);
    file.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      spdlog::error("pre-flight: cannot read {}", cli.preflight->string());
      return 1;
    }
  }
  file.hash = ContentHash(file.bytes);
  file.sha256 = Sha256Hex(file.bytes);

  auto staging = StagingArea::Create();
  if (!staging.ok()) {
    spdlog::error("pre-flight: {}", staging.status().message());
    return 1;
  }
  LocalMembrane membrane;
  PluginLoadContext ctx;
  ctx.configs = &configs;
  ctx.membrane = &membrane;
  ctx.logger = spdlog::default_logger();
  ctx.staging = staging.value();
  spdlog::info("checking {} (sha256 {})", name, file.sha256);
  auto loaded = PluginInstance::Load(file, ctx);
  if (!loaded.ok()) {
    spdlog::error("{}{}", kRefusedTag, loaded.status().message());
    return kExitRefused;
  }
  loaded.value().reset();  // shutdown() and dlclose, as an unload would
  return 0;
}

}  // namespace nitric::host
