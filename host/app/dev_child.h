// `nitric-host --dev`: the dev membrane as a child process (the
// nitric-dev-membrane binary installed beside nitric-host), its life tied to
// the host's (docs/ARCHITECTURE.md#dev-membrane). In-process, its gRPC server
// shared gRPC's one epoll poller with the host's own streams, and the two
// woke each other: the host and membrane together spent 10-30 % more CPU per
// event than as two processes.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace nitric::host {

struct DevChildOptions {
  uint16_t gateway_port = 4001;              // --dev-port
  std::filesystem::path data_dir;            // --dev-data
  std::vector<std::string> allowed_origins;  // --dev-allow-origin
  std::string profile = "local";             // --dev-profile
};

// Thread-safety: Start and Shutdown from one thread (the host's main thread:
// the child is told to stop if that thread ends, PR_SET_PDEATHSIG); SocketUrl
// from any.
class DevChild {
 public:
  // `on_exit` runs (on the log thread) when the child ends before Shutdown().
  DevChild(DevChildOptions options, std::function<void(std::string why)> on_exit);
  ~DevChild();  // Shutdown()
  DevChild(const DevChild&) = delete;
  DevChild& operator=(const DevChild&) = delete;

  // Starts nitric-dev-membrane on 127.0.0.1 (a free gRPC port) and waits until
  // it listens. Its log lines become the host's, at their level. False (and
  // why in `error`) when it cannot start.
  bool Start(std::string* error);
  // The child's gRPC address, e.g. "127.0.0.1:41234".
  std::string grpc_address() const;
  // ws:// URL of a socket's gateway listener (Websocket.SocketDetails).
  std::optional<std::string> SocketUrl(const std::string& socket) const;
  // SIGTERM, then waits for the child (it closes clients with 1001, ends the
  // handler streams and flushes KV, as in-process). Idempotent.
  void Shutdown();

 private:
  void RelayLog(int fd);

  const DevChildOptions options_;
  const std::function<void(std::string)> on_exit_;
  pid_t pid_ = -1;
  std::thread log_thread_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string address_;    // GUARDED_BY(mu_): from the child's "gRPC listening on" line
  bool ended_ = false;     // GUARDED_BY(mu_): its output closed
  bool stopping_ = false;  // GUARDED_BY(mu_)
};

}  // namespace nitric::host
