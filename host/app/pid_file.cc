#include "host/app/pid_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

namespace nitric::host {

namespace {

using namespace std::chrono_literals;

constexpr std::string_view kProcessName = "nitric-host";

// A host that holds the lock but has not published its pid yet is between
// two system calls; a loser waits this long for the number before giving a
// message without it.
constexpr auto kHolderPidWait = 10s;
constexpr auto kHolderPidPoll = 10ms;

// Closes a descriptor when it goes out of scope unless released.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string Errno() { return std::strerror(errno); }

// The pid in `s` ("1234\n"), or nullopt when it holds none.
std::optional<pid_t> ParsePid(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  long pid = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || pid <= 0) {
    return std::nullopt;
  }
  return static_cast<pid_t>(pid);
}

// The pid written in `path`, or why it holds none.
StatusOr<pid_t> ReadPid(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return Status(NITRIC_ERR_NOT_FOUND, "cannot read pid file " + path.string() + ": " + Errno() +
                                            " (is nitric-host running with --pid-file " +
                                            path.string() + "?)");
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  std::optional<pid_t> pid = ParsePid(s);
  if (!pid) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return Status(
        NITRIC_ERR_INVALID_ARGUMENT,
        "pid file " + path.string() + " does not hold a process id (\"" + s.substr(0, 40) + "\")");
  }
  return *pid;
}

// The first bytes of an open file (a pid file is a few bytes long).
std::string ReadSmall(int fd) {
  char buffer[64];
  const ssize_t n = ::pread(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// True when `pid` is a live process whose command name is nitric-host.
bool IsRunningHost(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return comm && std::getline(comm, name) && name == kProcessName;
}

// True when the open file `fd` is still the file at `path` (not replaced or
// removed since it was opened).
bool StillAt(int fd, const std::filesystem::path& path) {
  struct stat opened {};
  struct stat named {};
  return ::fstat(fd, &opened) == 0 && ::lstat(path.c_str(), &named) == 0 &&
         opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

// Makes the rename durable; a failure only costs durability, not correctness.
void SyncFolder(const std::filesystem::path& path) {
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : ".";
  OwnedFd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
}

// Opens the file at `path` (creating it empty when missing, so two starting
// hosts meet on one inode) and takes its lock. Returns the descriptor, or why
// not: another process holds it (FAILED_PRECONDITION) or the file is
// unusable.
StatusOr<int> LockCurrentFile(const std::filesystem::path& path) {
  const auto deadline = std::chrono::steady_clock::now() + kHolderPidWait;
  for (;;) {
    OwnedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      if (errno == ELOOP) {
        return Status(NITRIC_ERR_FAILED_PRECONDITION,
                      "pid file " + path.string() +
                          " is a symbolic link; refusing to follow it (remove it, or "
                          "choose another --pid-file)");
      }
      return Status(NITRIC_ERR_UNAVAILABLE,
                    "cannot open pid file " + path.string() + ": " + Errno());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Status(NITRIC_ERR_FAILED_PRECONDITION,
                    "pid file " + path.string() + " is not a regular file; remove it");
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      // Locked, but another host may have renamed its own file over this
      // one in between: only the file at `path` counts.
      if (StillAt(fd.get(), path)) return fd.release();
      continue;
    }
    if (errno != EWOULDBLOCK) {
      return Status(NITRIC_ERR_UNAVAILABLE,
                    "cannot lock pid file " + path.string() + ": " + Errno());
    }
    // Held. The holder's pid is in the file once it has published it; until
    // then the file holds the previous content (or nothing), so only a pid
    // of a live nitric-host other than this one is believed.
    const auto holder = ParsePid(ReadSmall(fd.get()));
    if (holder && *holder != ::getpid() && IsRunningHost(*holder)) {
      return Status(NITRIC_ERR_FAILED_PRECONDITION,
                    "pid file " + path.string() + " belongs to another running nitric-host (pid " +
                        std::to_string(*holder) +
                        "), which holds its lock; stop it or choose another --pid-file");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(NITRIC_ERR_FAILED_PRECONDITION,
                    "pid file " + path.string() +
                        " is locked by another process that has not written its pid (see `fuser " +
                        path.string() + "`); stop it or choose another --pid-file");
    }
    std::this_thread::sleep_for(kHolderPidPoll);
  }
}

// Writes this process's pid to a new locked file beside `path` and renames it
// over `path`. Returns the new file's descriptor (locked), or why not.
StatusOr<int> PublishPid(const std::filesystem::path& path) {
  // mkostemp opens with O_CREAT|O_EXCL (never through a symlink, never an
  // existing file) and an unpredictable name; O_NOFOLLOW says so explicitly.
  std::string temp = path.string() + ".XXXXXX";
  OwnedFd fd(::mkostemp(temp.data(), O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    return Status(NITRIC_ERR_UNAVAILABLE,
                  "cannot create a temporary pid file beside " + path.string() + ": " + Errno());
  }
  const std::string text = std::to_string(::getpid()) + "\n";
  // mkostemp creates 0600; a pid file is read by `nitric-host reload`, which
  // may run as another user. The lock is taken before the rename, so the
  // published file is never unlocked.
  bool ok = ::fchmod(fd.get(), 0644) == 0 && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0 &&
            ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd.get()) == 0 && ::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) {
    Status error(NITRIC_ERR_UNAVAILABLE,
                 "cannot write pid file " + path.string() + " (via " + temp + "): " + Errno());
    ::unlink(temp.c_str());
    return error;
  }
  SyncFolder(path);
  return fd.release();
}

}  // namespace

StatusOr<PidFile> PidFile::Create(const std::filesystem::path& path) {
  // The lock on the current file is held until the new one (locked too) has
  // replaced it: no moment exists in which a second host could take over.
  StatusOr<int> locked = LockCurrentFile(path);
  if (!locked.ok()) return locked.status();
  OwnedFd current(*locked);
  StatusOr<int> published = PublishPid(path);
  if (!published.ok()) return published.status();
  return PidFile(path, *published);
}

PidFile::PidFile(PidFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {
  other.path_.clear();
}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

PidFile::~PidFile() { Remove(); }

void PidFile::Remove() {
  if (fd_ < 0) return;
  // Removed while still locked: nobody else can have replaced it meanwhile.
  if (StillAt(fd_, path_)) ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

StatusOr<pid_t> RunningHostPid(const std::filesystem::path& path) {
  StatusOr<pid_t> pid = ReadPid(path);
  if (!pid.ok()) return pid;
  if (kill(*pid, 0) != 0 && errno == ESRCH) {
    return Status(NITRIC_ERR_NOT_FOUND, "no process " + std::to_string(*pid) + " (named by " +
                                            path.string() +
                                            "): nitric-host is not running; the pid file is stale");
  }
  if (!IsRunningHost(*pid)) {
    return Status(NITRIC_ERR_FAILED_PRECONDITION,
                  "process " + std::to_string(*pid) + " (named by " + path.string() +
                      ") is not a nitric-host; the pid file is stale, not sending SIGHUP");
  }
  return pid;
}

int SendReload(const std::filesystem::path& pid_file) {
  StatusOr<pid_t> pid = RunningHostPid(pid_file);
  if (!pid.ok()) {
    std::fprintf(stderr, "nitric-host reload: %s\n", pid.status().message().c_str());
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
