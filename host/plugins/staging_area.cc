#include "host/plugins/staging_area.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <boost/uuid/detail/sha1.hpp>

namespace nitric::host {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "nitric-host-";

fs::path DefaultParent() {
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run != nullptr && *run != '\0') {
    std::error_code ec;
    if (fs::is_directory(run, ec) && ::access(run, W_OK | X_OK) == 0) return run;
  }
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  return ec ? fs::path("/tmp") : tmp;
}

// Removes "nitric-host-<pid>-*" folders of ours whose process is gone: a host
// that crashed cannot clean up after itself.
void RemoveStaleAreas(const fs::path& parent) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + kPrefix.size()));
    struct stat st {};
    if (pid <= 0 || ::lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != ::getuid()) {
      continue;
    }
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code ignored;
    fs::remove_all(entry.path(), ignored);
  }
}

}  // namespace

StatusOr<std::shared_ptr<StagingArea>> StagingArea::Create(const fs::path& parent_in) {
  const fs::path parent = parent_in.empty() ? DefaultParent() : parent_in;
  RemoveStaleAreas(parent);
  std::string templ = (parent / fmt::format("{}{}-XXXXXX", kPrefix, ::getpid())).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return Status(NITRIC_ERR_INTERNAL,
                  fmt::format("cannot create a plugin staging folder in {}: {}", parent.string(),
                              std::strerror(errno)));
  }
  return std::shared_ptr<StagingArea>(new StagingArea(templ));
}

StagingArea::~StagingArea() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

StatusOr<fs::path> StagingArea::Stage(std::string_view stem, std::string_view hash,
                                      std::string_view bytes) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  fs::path path = dir_ / fmt::format("{}-{}-{}.so", stem, hash.substr(0, 16), id);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
  if (fd < 0) {
    return Status(NITRIC_ERR_INTERNAL, fmt::format("cannot stage a copy at {}: {}", path.string(),
                                                   std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status(NITRIC_ERR_INTERNAL, fmt::format("cannot stage a copy at {}: {}", path.string(),
                                                     std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return Status(NITRIC_ERR_INTERNAL,
                  fmt::format("cannot stage a copy at {}: {}", path.string(), std::strerror(err)));
  }
  return path;
}

std::string ContentHash(std::string_view bytes) {
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(bytes.data(), bytes.size());
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  std::string hex;
  for (unsigned int word : digest) hex += fmt::format("{:08x}", word);
  return hex;
}

}  // namespace nitric::host
