#include "host/app/dev_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::host {
namespace {

namespace wsproto = ::nitric::proto::websockets::v1;

// How long the child may take to listen: it opens the KV folder first.
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr const char* kListening = "gRPC listening on ";

std::filesystem::path ChildBinary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (ec ? std::filesystem::path("nitric-dev-membrane")
             : self.parent_path() / "nitric-dev-membrane");
}

// "[2026-12-02 20:35:00.467] [info] text" (the child's spdlog default) ->
// level and text; other lines are info as they are.
std::pair<spdlog::level::level_enum, std::string> ParseLine(const std::string& line) {
  if (line.size() > 2 && line[0] == '[') {
    const auto stamp_end = line.find("] [");
    if (stamp_end != std::string::npos) {
      const auto level_end = line.find("] ", stamp_end + 3);
      if (level_end != std::string::npos) {
        const std::string level = line.substr(stamp_end + 3, level_end - stamp_end - 3);
        const auto parsed = spdlog::level::from_str(level);
        return {parsed == spdlog::level::off ? spdlog::level::info : parsed,
                line.substr(level_end + 2)};
      }
    }
  }
  return {spdlog::level::info, line};
}

}  // namespace

DevChild::DevChild(DevChildOptions options, std::function<void(std::string)> on_exit)
    : options_(std::move(options)), on_exit_(std::move(on_exit)) {}

DevChild::~DevChild() { Shutdown(); }

bool DevChild::Start(std::string* error) {
  const std::filesystem::path binary = ChildBinary();
  if (access(binary.c_str(), X_OK) != 0) {
    *error = "--dev runs " + binary.string() + ", which is missing (" + std::strerror(errno) +
             "): install nitric-dev-membrane beside nitric-host";
    return false;
  }
  std::vector<std::string> args = {binary.string(),  "--listen",
                                   "127.0.0.1:0",  // only the host uses it
                                   "--gateway-port", std::to_string(options_.gateway_port),
                                   "--data",         options_.data_dir.string(),
                                   "--profile",      options_.profile};
  for (const std::string& origin : options_.allowed_origins) {
    args.push_back("--allow-origin");
    args.push_back(origin);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    close(out[0]);
    close(out[1]);
    return false;
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec. The child stops with the host
    // (SIGTERM when the host's main thread ends, even by SIGKILL), and sits in
    // its own process group so a terminal's Ctrl-C reaches only the host,
    // which stops it in order (clients, streams, then the membrane).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  pid_ = pid;
  log_thread_ = std::thread([this, fd = out[0]] { RelayLog(fd); });

  std::unique_lock lock(mu_);
  if (!changed_.wait_for(lock, kStartTimeout, [this] { return !address_.empty() || ended_; })) {
    lock.unlock();
    *error = "the dev membrane did not listen within 30 s";
    Shutdown();
    return false;
  }
  if (address_.empty()) {
    lock.unlock();
    *error = "the dev membrane exited during start-up (its log is above)";
    Shutdown();
    return false;
  }
  return true;
}

std::string DevChild::grpc_address() const {
  std::lock_guard lock(mu_);
  return address_;
}

std::optional<std::string> DevChild::SocketUrl(const std::string& socket) const {
  const std::string address = grpc_address();
  if (address.empty()) return std::nullopt;
  auto stub =
      wsproto::Websocket::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  wsproto::WebsocketDetailsRequest request;
  request.set_socket_name(socket);
  wsproto::WebsocketDetailsResponse response;
  if (!stub->SocketDetails(&ctx, request, &response).ok()) return std::nullopt;
  return response.url();
}

void DevChild::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      spdlog::warn("the dev membrane {} {}",
                   WIFEXITED(status) ? "exited with code" : "was killed by signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    pid_ = -1;
  }
  if (log_thread_.joinable()) log_thread_.join();
}

void DevChild::RelayLog(int fd) {
  FILE* in = fdopen(fd, "r");
  if (in == nullptr) {
    close(fd);
  } else {
    char* buffer = nullptr;
    size_t capacity = 0;
    ssize_t n;
    while ((n = getline(&buffer, &capacity, in)) > 0) {
      std::string line(buffer, static_cast<size_t>(n));
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      auto [level, text] = ParseLine(line);
      // The child's own start and stop lines are the host's business: it
      // says where it listens and when it stops.
      if (text.rfind("dev membrane ready: ", 0) == 0 || text.rfind("SIGTERM received", 0) == 0) {
        continue;
      }
      if (text.rfind(kListening, 0) == 0) {
        std::lock_guard lock(mu_);
        if (address_.empty()) address_ = text.substr(std::strlen(kListening));
        changed_.notify_all();
      }
      spdlog::log(level, "{}", text);
    }
    free(buffer);
    fclose(in);
  }
  bool expected;
  {
    std::lock_guard lock(mu_);
    ended_ = true;
    expected = stopping_;
    changed_.notify_all();
  }
  if (!expected && on_exit_) {
    on_exit_("the dev membrane exited unexpectedly (its log is above); restart nitric-host --dev");
  }
}

}  // namespace nitric::host
