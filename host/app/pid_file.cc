#include "host/app/pid_file.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nitric::host {

namespace {

constexpr std::string_view kProcessName = "nitric-host";

// The pid written in `path`, or nullopt (with *error) when it holds none.
std::optional<pid_t> ReadPid(const std::filesystem::path& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read pid file " + path.string() + ": " + std::strerror(errno) +
             " (is nitric-host running with --pid-file " + path.string() + "?)";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  long pid = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || pid <= 0) {
    *error =
        "pid file " + path.string() + " does not hold a process id (\"" + s.substr(0, 40) + "\")";
    return std::nullopt;
  }
  return static_cast<pid_t>(pid);
}

// True when `pid` is a live process whose command name is nitric-host.
bool IsRunningHost(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return comm && std::getline(comm, name) && name == kProcessName;
}

}  // namespace

std::optional<PidFile> PidFile::Create(const std::filesystem::path& path, std::string* error) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::string ignored;
    if (auto pid = ReadPid(path, &ignored); pid && *pid != getpid() && IsRunningHost(*pid)) {
      *error = "pid file " + path.string() + " belongs to another running nitric-host (pid " +
               std::to_string(*pid) + "); stop it or choose another --pid-file";
      return std::nullopt;
    }
  }
  const std::filesystem::path temp = path.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << getpid() << '\n';
    out.close();
    if (!out) {
      *error = "cannot write pid file " + temp.string() + ": " + std::strerror(errno);
      std::filesystem::remove(temp, ec);
      return std::nullopt;
    }
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    *error = "cannot write pid file " + path.string() + ": " + ec.message();
    std::filesystem::remove(temp, ec);
    return std::nullopt;
  }
  return PidFile(path);
}

PidFile::PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

PidFile::~PidFile() { Remove(); }

void PidFile::Remove() {
  if (path_.empty()) return;
  std::string ignored;
  if (auto pid = ReadPid(path_, &ignored); pid && *pid == getpid()) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

std::optional<pid_t> RunningHostPid(const std::filesystem::path& path, std::string* error) {
  auto pid = ReadPid(path, error);
  if (!pid) return std::nullopt;
  if (kill(*pid, 0) != 0 && errno == ESRCH) {
    *error = "no process " + std::to_string(*pid) + " (named by " + path.string() +
             "): nitric-host is not running; the pid file is stale";
    return std::nullopt;
  }
  if (!IsRunningHost(*pid)) {
    *error = "process " + std::to_string(*pid) + " (named by " + path.string() +
             ") is not a nitric-host; the pid file is stale, not sending SIGHUP";
    return std::nullopt;
  }
  return pid;
}

int SendReload(const std::filesystem::path& pid_file) {
  std::string error;
  auto pid = RunningHostPid(pid_file, &error);
  if (!pid) {
    std::fprintf(stderr, "nitric-host reload: %s\n", error.c_str());
    return 1;
  }
  if (kill(*pid, SIGHUP) != 0) {
    std::fprintf(stderr, "nitric-host reload: cannot signal pid %d: %s\n", static_cast<int>(*pid),
                 std::strerror(errno));
    return 1;
  }
  std::printf(
      "nitric-host reload: sent SIGHUP to nitric-host (pid %d); the outcome of each plugin is in "
      "its log\n",
      static_cast<int>(*pid));
  return 0;
}

}  // namespace nitric::host
