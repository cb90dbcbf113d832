// Watches the plugins folder (inotify) and asks for a reload once changes have
// settled: a burst of events (a copy in progress, several files installed at
// once) gives one reload, after `quiet` without further change. A file still
// being written is not picked up half-way as long as writing takes no pause
// longer than `quiet`; the safe way to install remains to write the file
// elsewhere and rename it into the folder (one atomic IN_MOVED_TO).
//
// Thread-safety: owns one thread; the callback runs on it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

namespace nitric::host {

class FolderWatcher {
 public:
  // Starts watching `folder`. If it cannot (no such folder, inotify limits)
  // it logs why and stays inert: the host still reloads on SIGHUP.
  FolderWatcher(std::filesystem::path folder, std::function<void()> on_change,
                std::chrono::milliseconds quiet = std::chrono::milliseconds(500));
  ~FolderWatcher();  // stops and joins

  FolderWatcher(const FolderWatcher&) = delete;
  FolderWatcher& operator=(const FolderWatcher&) = delete;

 private:
  void Run();

  const std::filesystem::path folder_;
  const std::function<void()> on_change_;
  const std::chrono::milliseconds quiet_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the thread for shutdown
  std::thread thread_;
};

}  // namespace nitric::host
