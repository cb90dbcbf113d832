// Gateway: the thread pool, the per-socket listeners and the public entry
// points. The connection lifecycle lives in gateway_http_session.cc (upgrade
// and Connect) and gateway_ws_session.cc (frames, sends, Disconnect).
#include "devserver/gateway.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "devserver/gateway_core.h"
#include "devserver/gateway_http_session.h"
#include "devserver/gateway_listener.h"
#include "devserver/gateway_utf8.h"
#include "devserver/gateway_ws_session.h"

namespace nitric::devserver {

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;

namespace {

// How long Shutdown lets clients answer their 1001 close frame before the
// I/O threads are stopped regardless.
constexpr auto kShutdownGrace = std::chrono::seconds(3);
// How many ports above the last one handed out are tried before giving up.
constexpr int kMaxPortAttempts = 100;

std::string UrlFor(const net::ip::address& address, uint16_t port) {
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return "ws://" + host + ":" + std::to_string(port);
}

}  // namespace

class Gateway::Impl {
 public:
  Impl(GatewayOptions options, EventSink& sink)
      : work_(net::make_work_guard(io_)),
        core_(std::move(options), sink),
        next_port_(core_.options().base_port) {
    const int threads = std::max(1, core_.options().io_threads);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { RunIo(); });
  }

  ~Impl() { Shutdown(); }

  grpc::Status EnsureSocket(const std::string& socket, std::string* url) {
    if (socket.empty()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "websocket name must not be empty"};
    }
    std::lock_guard lock(mu_);
    if (shut_down_) return {grpc::StatusCode::UNAVAILABLE, "the gateway is shut down"};
    if (auto it = listeners_.find(socket); it != listeners_.end()) {
      *url = it->second.url;
      return grpc::Status::OK;
    }

    boost::system::error_code ec;
    const auto address = net::ip::make_address(core_.options().host, ec);
    if (ec) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "bad gateway host '" + core_.options().host + "': " + ec.message()};
    }
    auto listener = std::make_shared<Listener>(core_, io_, socket);
    const auto& pinned = core_.options().pinned_ports;
    if (auto pin = pinned.find(socket); pin != pinned.end()) {
      ec = listener->Open(address, pin->second);
      if (ec) return ListenError(socket, address, pin->second, ec);
    } else if (core_.options().base_port == 0) {
      ec = listener->Open(address, 0);
      if (ec) return ListenError(socket, address, 0, ec);
    } else {
      const grpc::Status status = OpenNextFreePort(socket, address, *listener);
      if (!status.ok()) return status;
    }

    listener->Start();
    Entry& entry = listeners_[socket];
    entry.listener = std::move(listener);
    entry.url = UrlFor(address, entry.listener->port());
    spdlog::info("websocket '{}' listening on {}", socket, entry.url);
    *url = entry.url;
    return grpc::Status::OK;
  }

  std::optional<std::string> Url(const std::string& socket) const {
    std::lock_guard lock(mu_);
    auto it = listeners_.find(socket);
    if (it == listeners_.end()) return std::nullopt;
    return it->second.url;
  }

  grpc::Status Send(const std::string& socket, const std::string& connection_id, std::string data) {
    auto connection = core_.FindConnection(socket, connection_id);
    if (!connection) return NotFound(socket, connection_id);
    // Validated here, on the caller's thread, so the I/O threads only write.
    const GatewayProfile& profile = core_.options().profile;
    if (profile.limit_sends && data.size() > profile.max_message_bytes) {
      connection->metrics().Refused(Refusal::kSendTooLarge);
      return {grpc::StatusCode::RESOURCE_EXHAUSTED,
              "message of " + std::to_string(data.size()) + " bytes to connection '" +
                  connection_id + "' refused: the " + profile.name +
                  " gateway profile carries at most " + std::to_string(profile.max_message_bytes) +
                  " bytes"};
    }
    const bool text = IsValidUtf8(data);
    if (!text && profile.text_only) {
      connection->metrics().Refused(Refusal::kSendNotUtf8);
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "message to connection '" + connection_id +
                  "' refused: it is not valid UTF-8, and "
                  "the " +
                  profile.name +
                  " gateway profile carries text frames only (encode binary "
                  "data, e.g. as base64)"};
    }
    connection->Send(std::move(data), text);
    return grpc::Status::OK;
  }

  grpc::Status Close(const std::string& socket, const std::string& connection_id) {
    auto connection = core_.FindConnection(socket, connection_id);
    if (!connection) return NotFound(socket, connection_id);
    connection->Close({websocket::close_code::normal});
    return grpc::Status::OK;
  }

  std::size_t ConnectionCount(const std::string& socket) const { return core_.OpenCount(socket); }

  void Shutdown() {
    std::lock_guard shutdown_lock(shutdown_mu_);  // a second caller waits for the first
    std::vector<std::shared_ptr<Listener>> listeners;
    {
      std::lock_guard lock(mu_);
      if (shut_down_) return;
      shut_down_ = true;
      for (const auto& [name, entry] : listeners_) listeners.push_back(entry.listener);
    }
    for (const auto& listener : listeners) listener->Stop();
    {
      std::vector<std::shared_ptr<HttpSession>> http;
      std::vector<std::shared_ptr<WsSession>> connections;
      core_.BeginStop(&http, &connections);
      for (const auto& session : http) session->Abort();
      for (const auto& connection : connections) {
        connection->Close({websocket::close_code::going_away, "server shutting down"});
      }
    }
    if (!core_.WaitForSessionsEnded(kShutdownGrace)) {
      spdlog::warn("websocket gateway: some clients did not finish closing within {} s",
                   std::chrono::seconds(kShutdownGrace).count());
    }
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    // From here on sink answers are dropped, never run.
    core_.gate()->Close();
    core_.Clear();
    std::lock_guard lock(mu_);
    listeners_.clear();
  }

 private:
  struct Entry {
    std::shared_ptr<Listener> listener;
    std::string url;
  };

  void RunIo() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        // A throwing handler must not take the whole gateway down.
        spdlog::error("websocket gateway: I/O handler failed: {}", e.what());
      }
    }
  }

  // Takes the first free port from next_port_ upward, skipping ports pinned
  // for other sockets. REQUIRES: mu_ held.
  grpc::Status OpenNextFreePort(const std::string& socket, const net::ip::address& address,
                                Listener& listener) {
    boost::system::error_code ec;
    uint32_t port = next_port_;
    for (int attempt = 0; attempt < kMaxPortAttempts && port <= 65535; ++attempt, ++port) {
      if (IsPinnedToOther(socket, static_cast<uint16_t>(port))) continue;
      ec = listener.Open(address, static_cast<uint16_t>(port));
      if (!ec) {
        next_port_ = port + 1;
        return grpc::Status::OK;
      }
      if (ec != net::error::address_in_use) break;
    }
    return ListenError(socket, address,
                       static_cast<uint16_t>(std::min<uint32_t>(next_port_, 65535)), ec);
  }

  bool IsPinnedToOther(const std::string& socket, uint16_t port) const {
    for (const auto& [name, pinned] : core_.options().pinned_ports) {
      if (pinned == port && name != socket) return true;
    }
    return false;
  }

  static grpc::Status ListenError(const std::string& socket, const net::ip::address& address,
                                  uint16_t port, const boost::system::error_code& ec) {
    const std::string message = "websocket '" + socket + "': cannot listen on " +
                                UrlFor(address, port) + ": " +
                                (ec ? ec.message() : std::string("no free port"));
    spdlog::error("{}", message);
    return {grpc::StatusCode::UNAVAILABLE, message};
  }

  grpc::Status NotFound(const std::string& socket, const std::string& connection_id) const {
    if (!Url(socket)) return {grpc::StatusCode::NOT_FOUND, "unknown websocket '" + socket + "'"};
    return {grpc::StatusCode::NOT_FOUND,
            "no connection '" + connection_id + "' on websocket '" + socket + "'"};
  }

  // Declared first, destroyed last: sessions and listeners own sockets of
  // this io_context, and handlers still queued in it own sessions.
  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  GatewayCore core_;

  mutable std::mutex mu_;
  std::map<std::string, Entry> listeners_;  // guarded by mu_
  uint32_t next_port_;                      // guarded by mu_; unused when base_port is 0
  bool shut_down_ = false;                  // guarded by mu_

  std::mutex shutdown_mu_;
  std::vector<std::thread> threads_;
};

Gateway::Gateway(GatewayOptions options, EventSink& sink)
    : impl_(std::make_unique<Impl>(std::move(options), sink)) {}

Gateway::~Gateway() = default;

grpc::Status Gateway::EnsureSocket(const std::string& socket, std::string* url) {
  return impl_->EnsureSocket(socket, url);
}

std::optional<std::string> Gateway::Url(const std::string& socket) const {
  return impl_->Url(socket);
}

grpc::Status Gateway::Send(const std::string& socket, const std::string& connection_id,
                           std::string data) {
  return impl_->Send(socket, connection_id, std::move(data));
}

grpc::Status Gateway::Close(const std::string& socket, const std::string& connection_id) {
  return impl_->Close(socket, connection_id);
}

std::size_t Gateway::ConnectionCount(const std::string& socket) const {
  return impl_->ConnectionCount(socket);
}

void Gateway::Shutdown() { impl_->Shutdown(); }

}  // namespace nitric::devserver
