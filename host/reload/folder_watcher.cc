#include "host/reload/folder_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace nitric::host {

FolderWatcher::FolderWatcher(std::filesystem::path folder, std::function<void()> on_change,
                             std::chrono::milliseconds quiet)
    : folder_(std::move(folder)), on_change_(std::move(on_change)), quiet_(quiet) {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || stop_fd_ < 0) {
    spdlog::error("watch: cannot watch {}: {}", folder_.string(), std::strerror(errno));
    return;
  }
  // Writes finished, renames in and out, deletions: what changes the set of
  // plugin files or their content. Plain IN_MODIFY is left out on purpose:
  // a file being written is only interesting once closed.
  constexpr uint32_t kMask =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB;
  if (inotify_add_watch(inotify_fd_, folder_.c_str(), kMask) < 0) {
    spdlog::error("watch: cannot watch {}: {}; reload with SIGHUP instead", folder_.string(),
                  std::strerror(errno));
    return;
  }
  spdlog::info("watch: reloading when {} changes", folder_.string());
  thread_ = std::thread([this] { Run(); });
}

FolderWatcher::~FolderWatcher() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

void FolderWatcher::Run() {
  bool pending = false;
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    // Waits forever when idle; while changes are pending, until things have
    // been quiet long enough.
    const int timeout = pending ? static_cast<int>(quiet_.count()) : -1;
    const int ready = poll(fds, 2, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::error("watch: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (ready == 0) {  // quiet for `quiet_` after a change
      pending = false;
      on_change_();
      continue;
    }
    alignas(inotify_event) char buffer[4096];
    while (read(inotify_fd_, buffer, sizeof(buffer)) > 0) {
      // Only "something changed" matters; the loader compares contents.
    }
    pending = true;
  }
}

}  // namespace nitric::host
