#include "devserver/gateway_listener.h"

#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "devserver/gateway_core.h"
#include "devserver/gateway_http_session.h"

namespace nitric::devserver {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(GatewayCore& core, net::io_context& io, std::string socket)
    : core_(core),
      io_(io),
      socket_(std::move(socket)),
      metrics_(core_.MetricsFor(socket_)),
      strand_(net::make_strand(io)),
      acceptor_(strand_),
      retry_timer_(strand_) {}

boost::system::error_code Listener::Open(const net::ip::address& address, uint16_t port) {
  const tcp::endpoint endpoint(address, port);
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  // Lets a restarted membrane take its port back while old connections sit in
  // TIME_WAIT; a port with a live listener stays busy.
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (!ec) port_ = acceptor_.local_endpoint(ec).port();
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  return ec;
}

void Listener::Start() {
  net::post(strand_, [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  net::post(strand_, [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
}

void Listener::Accept() {
  // Each connection gets its own strand: connections run in parallel on the
  // I/O threads, while the operations of one connection never overlap.
  acceptor_.async_accept(
      net::make_strand(io_),
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
          // Typically EMFILE: keep listening, but pause so a persistent error
          // doesn't spin a core.
          spdlog::warn("websocket '{}': accept failed: {}", self->socket_, ec.message());
          self->retry_timer_.expires_after(std::chrono::milliseconds(100));
          self->retry_timer_.async_wait([self](boost::system::error_code) { self->Accept(); });
          return;
        }
        std::make_shared<HttpSession>(self->core_, self->metrics_, std::move(socket), self->socket_)
            ->Start();
        self->Accept();
      });
}

}  // namespace nitric::devserver
