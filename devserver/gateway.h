// The dev membrane's WebSocket gateway (Boost.Beast): one loopback listener per
// socket, with the Nitric CLI's connection lifecycle (docs/PROTOCOL.md#dev-gateway):
//   upgrade request -> Connect event (reject -> 403, no handler -> 503,
//   no answer within connect_timeout -> 504)
//   -> frames delivered one at a time, in order -> Disconnect when the client goes.
// Before the Connect event, a request is refused when its Origin is foreign
// (403), its query is not UTF-8 (400) or the socket is full (503). What else
// the gateway allows (binary frames, sizes, the reject status, query values,
// connection lifetimes) is its profile's (gateway_profile.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "devserver/event_sink.h"
#include "devserver/gateway_profile.h"

namespace nitric::devserver {

struct GatewayOptions {
  // Address the socket listeners bind to. Loopback unless told otherwise.
  std::string host = "127.0.0.1";
  // First port handed out; later sockets take the next free port. 0 means
  // every socket gets an ephemeral port (what tests use).
  uint16_t base_port = 4001;
  // Sockets whose port is pinned (name -> port). A pinned port that is busy is
  // an error for that socket.
  std::map<std::string, uint16_t> pinned_ports;
  // local (default) or aws: see gateway_profile.h.
  GatewayProfile profile;
  // A client whose pending outgoing bytes exceed this is dropped (slow reader).
  std::size_t max_send_queue_bytes = 8 << 20;
  // I/O threads for all listeners and connections.
  int io_threads = 2;
  // Origins accepted besides the loopback ones (--allow-origin; '*' globs).
  // A request without an Origin header (not a browser) is always accepted.
  std::vector<std::string> allowed_origins;
  // A Connect the application has not answered by then gets 504, and the
  // connection is never opened, whatever the answer says later.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  // Connections per socket, counted from the upgrade request (Connect being
  // decided, open, or closing) until the connection ends; past it, 503.
  std::size_t max_connections = 10000;
};

class Gateway {
 public:
  Gateway(GatewayOptions options, EventSink& sink);
  ~Gateway();  // Shutdown() if still running.
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Creates the socket's listener if it does not exist yet and returns its URL
  // ("ws://127.0.0.1:PORT"). Idempotent and thread-safe. On failure (port
  // busy, bad name) returns a non-OK status and leaves `url` untouched.
  grpc::Status EnsureSocket(const std::string& socket, std::string* url);

  // The URL of an existing socket's listener, or nullopt.
  std::optional<std::string> Url(const std::string& socket) const;

  // Queues `data` to the connection: a text frame when it is valid UTF-8, a
  // binary frame otherwise. NOT_FOUND for an unknown socket or connection;
  // under a text-only profile INVALID_ARGUMENT for data that is not UTF-8,
  // and under a profile that limits sends RESOURCE_EXHAUSTED for data over
  // its message size.
  grpc::Status Send(const std::string& socket, const std::string& connection_id, std::string data);

  // Closes the connection with code 1000. NOT_FOUND when unknown.
  grpc::Status Close(const std::string& socket, const std::string& connection_id);

  // Number of live (upgraded) connections of a socket.
  std::size_t ConnectionCount(const std::string& socket) const;

  // Closes every client with 1001 (going away), stops the listeners and joins
  // the I/O threads. Idempotent.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nitric::devserver
