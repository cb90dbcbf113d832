// The admin HTTP listener (docs/ARCHITECTURE.md#admin): a small HTTP/1.1
// server on its own thread for operators and their tools (Prometheus, probes,
// dashboards). It knows nothing of the host: app/ gives it a route table
// (GET /metrics, /status, /healthz, /readyz, POST /reload) and answers.
//
// It must never block or crash the daemon, whatever a client does:
//   - one thread, asynchronous I/O: a slow or silent client costs a socket,
//     not a thread, and is dropped after Options::io_timeout (reading a
//     request, writing an answer, or idling between requests);
//   - at most Options::max_connections at once; one more is answered 503 and
//     closed;
//   - a request head above Options::max_header_bytes is answered 431, a body
//     above Options::max_body_bytes 413, anything unparsable 400, and the
//     connection closed;
//   - an unknown path is 404, a known path with another method 405 (with
//     Allow), a route that throws 500;
//   - a route may answer later from any thread (POST /reload waits for the
//     control loop): the connection waits without a deadline for it, and its
//     answer is dropped if the server stopped meanwhile.
//
// Thread-safety: Start() and Stop() from one thread; routes run on the
// server's thread, one at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "host/base/status.h"

namespace nitric::host {

struct AdminRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query
  std::string query;   // after '?', or empty
  std::string peer;    // the client's address:port
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones

  static AdminResponse Text(int status, std::string body);
  static AdminResponse Json(int status, std::string body);
};

// Answers a request: call it exactly once, from any thread, now or later.
using AdminRespond = std::function<void(AdminResponse)>;

struct AdminRoute {
  std::string method;
  std::string path;
  std::function<void(const AdminRequest&, AdminRespond)> handle;
};

class AdminServer {
 public:
  struct Options {
    std::string host;   // a numeric IPv4 or IPv6 address (config/listen_address.h parsed it)
    uint16_t port = 0;  // 0: any free port (address() says which)
    std::size_t max_connections = 16;
    std::chrono::milliseconds io_timeout{10000};
    std::size_t max_header_bytes = 8 * 1024;
    std::size_t max_body_bytes = 4 * 1024;
  };

  // Binds, listens and starts the thread; or says why not (address in use,
  // not an address of this machine) in one sentence.
  static StatusOr<std::unique_ptr<AdminServer>> Start(Options options,
                                                      std::vector<AdminRoute> routes);

  // Stop().
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Closes the listener and every connection, joins the thread. Answers
  // given after this are dropped. Idempotent.
  void Stop();

  // "127.0.0.1:9464", "[::1]:9464": where it listens (the real port).
  const std::string& address() const;

  class Impl;

 private:
  explicit AdminServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace nitric::host
