// State the gateway's listeners and sessions share (gateway.cc owns it):
// options, the event sink, the registry of connections, and the gate through
// which sink callbacks re-enter the I/O threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "devserver/event_sink.h"
#include "devserver/gateway.h"
#include "devserver/gateway_metrics.h"

namespace nitric::devserver {

class HttpSession;
class WsSession;

// Sink callbacks arrive on gRPC threads at any time, possibly after the
// gateway has stopped its I/O threads or is gone. Each callback holds the gate
// (shared) and a weak pointer to its session; the gate hands the callback to
// the session's strand only while the I/O threads can still run it, so a late
// answer is dropped instead of touching freed memory.
class CallbackGate {
 public:
  // Runs `fn(session)` on the session's strand if the gate is open and the
  // session is still owned by someone; otherwise drops `fn`. Thread-safe.
  template <typename Session, typename Fn>
  void Post(const std::weak_ptr<Session>& weak, Fn fn) {
    std::shared_lock lock(mu_);
    if (closed_) return;
    std::shared_ptr<Session> session = weak.lock();
    if (!session) return;
    auto executor = session->get_executor();
    boost::asio::post(
        executor, [session = std::move(session), fn = std::move(fn)]() mutable { fn(*session); });
  }

  // Post is a no-op once Close returns. Called after the I/O threads were
  // joined and before the io_context is destroyed. Thread-safe.
  void Close() {
    std::unique_lock lock(mu_);
    closed_ = true;
  }

 private:
  std::shared_mutex mu_;
  bool closed_ = false;  // guarded by mu_
};

// Thread-safe. Sessions hold a reference to the core: valid because the
// gateway joins its I/O threads before the core is destroyed, and session
// destructors never touch it.
class GatewayCore {
 public:
  GatewayCore(GatewayOptions options, EventSink& sink);
  GatewayCore(const GatewayCore&) = delete;
  GatewayCore& operator=(const GatewayCore&) = delete;

  const GatewayOptions& options() const { return options_; }
  EventSink& sink() { return sink_; }
  const std::shared_ptr<CallbackGate>& gate() const { return gate_; }

  // True once Shutdown began: no new connection is accepted after that.
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // HTTP sessions in the handshake phase. The core owns them so that Shutdown
  // can reach them and a session waiting for its Connect answer stays alive.
  void AddHttp(const std::shared_ptr<HttpSession>& session);
  void RemoveHttp(const HttpSession* session);

  // Registers a connection whose Connect event was accepted (the upgrade may
  // still be in progress). False when the gateway is stopping.
  bool AddConnection(const std::shared_ptr<WsSession>& session);
  // Unregisters `session` if it is still the one registered under its id.
  void RemoveConnection(const WsSession& session);
  std::shared_ptr<WsSession> FindConnection(const std::string& socket,
                                            const std::string& connection_id) const;

  // Counts a connection of `socket` from its upgrade request until it ends
  // (Release), against options().max_connections. False, counting nothing,
  // when the socket is full.
  bool Admit(const std::string& socket);
  void Release(const std::string& socket);

  // Upgraded, not yet closed connections of a socket.
  void AddOpen(const std::string& socket, int delta);
  std::size_t OpenCount(const std::string& socket) const;

  // The socket's metrics (GET /metrics on its port), created on first use.
  // The object lives as long as the core: the listener and sessions keep a
  // reference. Called once per socket (by its Listener), never per event.
  SocketMetrics& MetricsFor(const std::string& socket);

  // Sessions whose TCP socket is still in use. Shutdown waits (bounded) for
  // the count to reach zero so close frames get out before the threads stop.
  void SessionStarted();
  void SessionEnded();
  bool WaitForSessionsEnded(std::chrono::milliseconds grace);

  // Marks the gateway as stopping and returns every session so the caller can
  // close them.
  void BeginStop(std::vector<std::shared_ptr<HttpSession>>* http,
                 std::vector<std::shared_ptr<WsSession>>* connections);

  // Drops every session reference. Only after the I/O threads were joined.
  void Clear();

 private:
  struct SocketConnections {
    std::unordered_map<std::string, std::shared_ptr<WsSession>> by_id;
    std::size_t open = 0;
    std::size_t admitted = 0;  // see Admit
  };

  const GatewayOptions options_;
  EventSink& sink_;
  const std::shared_ptr<CallbackGate> gate_ = std::make_shared<CallbackGate>();
  std::atomic<bool> stopping_{false};

  // Send looks connections up at a high rate from many threads, hence a
  // reader-writer lock.
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, SocketConnections> sockets_;                 // guarded by mu_
  std::unordered_map<const HttpSession*, std::shared_ptr<HttpSession>> http_;  // guarded by mu_

  std::mutex metrics_mu_;
  std::unordered_map<std::string, std::unique_ptr<SocketMetrics>>
      metrics_;  // guarded by metrics_mu_

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::size_t live_sessions_ = 0;  // guarded by sessions_mu_
};

}  // namespace nitric::devserver
