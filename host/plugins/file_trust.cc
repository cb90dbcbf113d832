#include "host/plugins/file_trust.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

namespace nitric::host {
namespace fs = std::filesystem;

namespace {

std::string UserName(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
    return fmt::format("{} (uid {})", found->pw_name, uid);
  }
  return fmt::format("uid {}", uid);
}

// Empty when `st` is trusted; else the sentence saying why not and the fix.
std::string Distrust(const std::string& what, const fs::path& path, const struct stat& st) {
  const uid_t me = ::geteuid();
  const unsigned mode = st.st_mode & 07777;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    const char* who = (st.st_mode & S_IWOTH) != 0
                          ? ((st.st_mode & S_IWGRP) != 0 ? "group and others" : "others")
                          : "group";
    return fmt::format(
        "{} {} is writable by {} (mode {:04o}, owner {}): whoever can write it runs code as this "
        "host's user; fix: chmod go-w {}",
        what, path.string(), who, mode, UserName(st.st_uid), path.string());
  }
  if (st.st_uid != me && st.st_uid != 0) {
    return fmt::format(
        "{} {} is owned by {} (mode {:04o}), not by this host's user {} or root: that user can "
        "change the code this host runs; fix: chown {} {}",
        what, path.string(), UserName(st.st_uid), mode, UserName(me), me, path.string());
  }
  return {};
}

Status Refuse(std::string why) { return Status(NITRIC_ERR_FAILED_PRECONDITION, std::move(why)); }

// Applies `insecure`: a refusal becomes a warning.
Status Judge(std::string why, bool insecure, std::string* warning) {
  if (why.empty()) return Status();
  if (!insecure) return Refuse(std::move(why));
  *warning = why + " (loaded anyway: host.insecure_plugins = true)";
  return Status();
}

bool Inside(const fs::path& folder, const fs::path& target) {
  auto f = folder.begin();
  auto t = target.begin();
  for (; f != folder.end(); ++f, ++t) {
    if (t == target.end() || *f != *t) return false;
  }
  return t != target.end();
}

}  // namespace

Status CheckPluginFolder(const fs::path& folder, bool insecure, std::string* warning) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status(NITRIC_ERR_UNAVAILABLE, fmt::format("cannot read plugins folder {}: {}",
                                                      folder.string(), std::strerror(errno)));
  }
  struct stat st {};
  const int rc = ::fstat(fd, &st);
  ::close(fd);
  if (rc != 0) {
    return Status(NITRIC_ERR_UNAVAILABLE, fmt::format("cannot read plugins folder {}: {}",
                                                      folder.string(), std::strerror(errno)));
  }
  return Judge(Distrust("plugins folder", folder, st), insecure, warning);
}

Status ReadTrustedPluginFile(const fs::path& folder, const std::string& name, bool insecure,
                             std::string* bytes, std::string* warning) {
  const fs::path path = folder / name;
  auto unreadable = [&](int err) {
    return Status(NITRIC_ERR_UNAVAILABLE,
                  fmt::format("plugin {} cannot be read: {}", name, std::strerror(err)));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  fs::path checked = path;
  if (fd < 0 && errno == ELOOP) {
    // A symlink: followed only to a file inside the folder.
    std::error_code ec;
    const fs::path target = fs::canonical(path, ec);
    const fs::path root = fs::canonical(folder, ec);
    if (ec) return unreadable(ec.value());
    if (!Inside(root, target)) {
      Status judged = Judge(
          fmt::format("plugin {} is a symlink to {}, outside the plugins folder {}: whoever can "
                      "write there runs code as this host's user; fix: copy the file into the "
                      "folder instead of linking it",
                      path.string(), target.string(), root.string()),
          insecure, warning);
      if (!judged.ok()) return judged;
    }
    // Every folder between the plugins folder and the target must pass too.
    for (fs::path dir = target.parent_path(); Inside(root, dir); dir = dir.parent_path()) {
      struct stat st {};
      if (::stat(dir.c_str(), &st) == 0) {
        if (Status judged = Judge(Distrust("folder", dir, st), insecure, warning); !judged.ok()) {
          return judged;
        }
      }
    }
    checked = target;
    fd = ::open(target.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0) return unreadable(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return unreadable(err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(NITRIC_ERR_FAILED_PRECONDITION,
                  fmt::format("plugin {} is not a regular file", name));
  }
  std::string file_warning;
  if (Status judged = Judge(Distrust("plugin", checked, st), insecure, &file_warning);
      !judged.ok()) {
    ::close(fd);
    return judged;
  }
  if (!file_warning.empty())
    *warning = warning->empty() ? file_warning : *warning + "; " + file_warning;
  bytes->clear();
  bytes->reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return unreadable(err);
    }
    if (n == 0) break;
    bytes->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status();
}

}  // namespace nitric::host
