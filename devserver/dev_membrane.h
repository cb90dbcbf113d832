// A local Nitric membrane for development and tests: Resources, KvStore,
// Websocket and WebsocketHandler over gRPC, a real WebSocket gateway, and KV
// data on disk. Used by the nitric-dev-membrane binary, by `nitric-host --dev`
// (as a child process) and by the integration tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "devserver/gateway_profile.h"

namespace nitric::devserver {

struct DevMembraneOptions {
  // gRPC listen address. Port 0 picks a free port (see grpc_address()).
  std::string listen = "127.0.0.1:50051";
  // Gateway listener host and first port (0: ephemeral port per socket).
  std::string gateway_host = "127.0.0.1";
  uint16_t gateway_base_port = 4001;
  std::map<std::string, uint16_t> socket_ports;
  // KV data folder (one SQLite database per store). Created if missing.
  std::filesystem::path data_dir = ".nitric";
  std::size_t max_send_queue_bytes = 8 << 20;
  // How the gateway behaves: local (default) or aws (--profile).
  GatewayProfile profile;
  // Gateway guards (see GatewayOptions): origins allowed besides loopback
  // (--allow-origin), the Connect answer deadline (--connect-timeout) and
  // the connections per socket (--max-connections).
  std::vector<std::string> allowed_origins;
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::size_t max_connections = 10000;
  // An event a handler stream has not answered by then fails its delivery
  // (see HandlerRegistryOptions).
  std::chrono::milliseconds event_timeout = std::chrono::seconds(30);
};

class DevMembrane {
 public:
  explicit DevMembrane(DevMembraneOptions options);
  ~DevMembrane();  // Shutdown() if still running.
  DevMembrane(const DevMembrane&) = delete;
  DevMembrane& operator=(const DevMembrane&) = delete;

  // Opens the data folder, binds the gRPC server and starts serving. Logs one
  // line per listener opened. Not OK when the address is busy or the data
  // folder cannot be used.
  grpc::Status Start();

  // The bound gRPC address, e.g. "127.0.0.1:50051" (resolved when port 0).
  std::string grpc_address() const;

  // ws:// URL of a socket's gateway listener, if the socket was declared or
  // registered.
  std::optional<std::string> SocketUrl(const std::string& socket) const;

  // Stops accepting, closes websocket clients with 1001, ends HandleEvents
  // streams, flushes KV. Idempotent; safe from any thread but not from a
  // signal handler.
  void Shutdown();

  // Blocks until Shutdown() has completed.
  void Wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nitric::devserver
