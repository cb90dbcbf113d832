// One socket's listener: a loopback TCP acceptor whose connections start as
// HttpSessions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

namespace nitric::devserver {

class GatewayCore;
class SocketMetrics;

// Thread-safety: Open is called once, before Start, by the thread creating
// the listener; Stop may be called from any thread; the accept loop runs on
// the listener's strand.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(GatewayCore& core, boost::asio::io_context& io, std::string socket);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds `address`:`port` (0: an ephemeral port) and listens. On failure the
  // acceptor is closed again, so Open may be retried with another port.
  boost::system::error_code Open(const boost::asio::ip::address& address, uint16_t port);

  // The bound port. REQUIRES: Open succeeded.
  uint16_t port() const { return port_; }

  // Starts accepting connections.
  void Start();

  // Closes the acceptor; connections already accepted are not touched.
  void Stop();

 private:
  void Accept();

  GatewayCore& core_;
  boost::asio::io_context& io_;
  const std::string socket_;
  SocketMetrics& metrics_;  // the socket's, resolved once: accepting takes no core lock
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  uint16_t port_ = 0;
};

}  // namespace nitric::devserver
