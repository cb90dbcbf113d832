// The HTTP phase of a connection to a socket's port: reads one request (with
// a deadline, so idle TCP connections don't pile up), refuses it with 403
// when it carries an Origin the gateway does not allow, then either
//   - answers a non-upgrade request: `GET /` with a JSON status, `GET
//     /metrics` with the socket's metrics (gateway_metrics.h), anything
//     else with 426 Upgrade Required, or
//   - for an upgrade, refuses a query that is not UTF-8 once decoded (400)
//     and a full socket (503), else delivers the Connect event and, when the
//     application accepts in time, hands the connection to a WsSession;
//     otherwise refuses it (403 rejected, 503 no connect handler, 502
//     delivery failed, 504 no answer within connect_timeout).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "devserver/event_sink.h"
#include "devserver/gateway_query.h"

namespace nitric::devserver {

class GatewayCore;
class SocketMetrics;

// Thread-safety: Abort may be called from any thread; everything else runs on
// the session's strand (the executor of its TCP socket).
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(GatewayCore& core, SocketMetrics& metrics, boost::asio::ip::tcp::socket socket,
              std::string socket_name);
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  boost::asio::any_io_executor get_executor() const { return executor_; }

  // Registers the session with the core and reads the request. Any thread.
  void Start();

  // Closes the TCP connection (gateway shutdown). A session waiting for its
  // Connect answer still finishes when the answer comes. Any thread.
  void Abort();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  void Read();
  void OnRead(boost::beast::error_code ec);
  bool OriginAllowed() const;
  void OnUpgradeRequest();
  void ServeStatus();
  void ServeMetrics();
  void DeliverConnect();
  void OnConnectAnswered(const DeliveryResult& result);
  void OnConnectTimedOut();
  void Respond(boost::beast::http::status status, std::string content_type, std::string body);
  void End();

  GatewayCore& core_;
  const std::string socket_;
  SocketMetrics& metrics_;
  const boost::asio::any_io_executor executor_;
  // Strand-only state.
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Request request_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  QueryPairs query_;
  std::string connection_id_;
  std::chrono::steady_clock::time_point connect_delivered_at_;
  boost::asio::steady_timer connect_timer_;  // bounds the wait for the Connect answer
  bool admitted_ = false;    // counted by core_.Admit, not yet released or handed off
  bool answered_ = false;    // the Connect was answered or timed out: later news is ignored
  bool handed_off_ = false;  // the TCP connection now belongs to a WsSession
  bool ended_ = false;
};

}  // namespace nitric::devserver
