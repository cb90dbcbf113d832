#include "devserver/gateway_http_session.h"

#include <chrono>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include "devserver/gateway_core.h"
#include "devserver/gateway_metrics.h"
#include "devserver/gateway_origin.h"
#include "devserver/gateway_ws_session.h"
#include "devserver/json_text.h"
#include "nitric/proto/event_type.h"

namespace nitric::devserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// A client gets this long to send its request (and to read our answer), so
// idle TCP connections can't pile up.
constexpr auto kHttpTimeout = std::chrono::seconds(30);
// Upgrade and status requests have no body; this only bounds what a stray
// POST makes us read.
constexpr std::size_t kMaxRequestBodyBytes = 16 * 1024;

std::string NewConnectionId() {
  // random_generator reads getrandom(2) for every id: unpredictable ids,
  // unlike a seeded PRNG, and no state shared between threads.
  boost::uuids::random_generator generate;
  return boost::uuids::to_string(generate());
}

std::string_view Target(const http::request<http::string_body>& request) {
  return {request.target().data(), request.target().size()};
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

HttpSession::HttpSession(GatewayCore& core, SocketMetrics& metrics,
                         boost::asio::ip::tcp::socket socket, std::string socket_name)
    : core_(core),
      socket_(std::move(socket_name)),
      metrics_(metrics),
      executor_(socket.get_executor()),
      stream_(std::move(socket)),
      connect_timer_(executor_) {}

void HttpSession::Start() {
  core_.SessionStarted();
  core_.AddHttp(shared_from_this());
  boost::asio::post(executor_, [self = shared_from_this()] {
    if (self->core_.stopping()) {
      self->End();
      return;
    }
    self->Read();
  });
}

void HttpSession::Abort() {
  boost::asio::post(executor_, [self = shared_from_this()] {
    if (self->ended_ || self->handed_off_) return;
    // A pending read fails and ends the session; a session waiting for its
    // Connect answer ends when the answer comes.
    self->stream_.close();
  });
}

void HttpSession::Read() {
  parser_.emplace();
  parser_->body_limit(kMaxRequestBodyBytes);
  stream_.expires_after(kHttpTimeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
}

void HttpSession::OnRead(beast::error_code ec) {
  if (ec) {
    const auto& http_errors = http::make_error_code(http::error::end_of_stream).category();
    if (ec.category() == http_errors && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      metrics_.Refused(Refusal::kBadRequest);
      Respond(http::status::bad_request, "text/plain", "bad request: " + ec.message() + "\n");
      return;
    }
    End();  // timeout, the client went away, or shutdown
    return;
  }
  request_ = parser_->release();
  parser_.reset();

  if (!OriginAllowed()) {
    metrics_.Refused(Refusal::kOrigin);
    const std::string origin(request_[http::field::origin]);
    spdlog::warn("websocket '{}': refused a request from origin '{}' (--allow-origin allows more)",
                 socket_, origin);
    Respond(http::status::forbidden, "text/plain",
            "origin '" + origin + "' is not allowed on websocket '" + socket_ +
                "': only loopback origins (http://localhost:*, http://127.0.0.1:*, "
                "http://[::1]:* and the https forms) are, unless the membrane runs with "
                "--allow-origin PATTERN\n");
    return;
  }
  if (!websocket::is_upgrade(request_)) {
    if (request_.method() == http::verb::get && PathOf(Target(request_)) == "/") {
      ServeStatus();
      return;
    }
    if (request_.method() == http::verb::get && PathOf(Target(request_)) == "/metrics") {
      ServeMetrics();
      return;
    }
    Respond(http::status::upgrade_required, "text/plain",
            "this port serves websocket '" + socket_ +
                "': send a websocket upgrade request, GET / for its status or GET /metrics\n");
    return;
  }
  OnUpgradeRequest();
}

bool HttpSession::OriginAllowed() const {
  // Every Origin header must pass: a request that sends two is not let
  // through on the strength of one.
  const auto [first, last] = request_.equal_range(http::field::origin);
  for (auto it = first; it != last; ++it) {
    const std::string_view origin(it->value().data(), it->value().size());
    if (!IsOriginAllowed(origin, core_.options().allowed_origins)) return false;
  }
  return true;
}

void HttpSession::OnUpgradeRequest() {
  if (request_[http::field::sec_websocket_key].empty() ||
      request_[http::field::sec_websocket_version] != "13") {
    metrics_.Refused(Refusal::kBadRequest);
    Respond(http::status::upgrade_required, "text/plain",
            "websocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13\n");
    return;
  }
  std::string query_error;
  query_ = ParseQueryParams(Target(request_), &query_error);
  if (!query_error.empty()) {
    metrics_.Refused(Refusal::kBadQuery);
    Respond(http::status::bad_request, "text/plain", "bad request: " + query_error + "\n");
    return;
  }
  if (core_.stopping()) {
    metrics_.Refused(Refusal::kShuttingDown);
    Respond(http::status::service_unavailable, "text/plain", "the gateway is shutting down\n");
    return;
  }
  if (!core_.Admit(socket_)) {
    metrics_.Refused(Refusal::kMaxConnections);
    const std::size_t max = core_.options().max_connections;
    spdlog::warn("websocket '{}': refused a connection: {} connections, the most allowed", socket_,
                 max);
    Respond(http::status::service_unavailable, "text/plain",
            "websocket '" + socket_ + "' has " + std::to_string(max) +
                " connections, the most the membrane allows (--max-connections); try again "
                "later\n");
    return;
  }
  admitted_ = true;
  DeliverConnect();
}

void HttpSession::ServeStatus() {
  std::string body = "{\"socket\":";
  AppendJsonString(socket_, &body);
  body += ",\"registered\":[";
  bool first = true;
  for (const auto type : core_.sink().RegisteredTypes(socket_)) {
    if (!first) body += ',';
    first = false;
    AppendJsonString(proto::EventTypeName(type), &body);
  }
  body += "],\"connections\":" + std::to_string(core_.OpenCount(socket_)) + "}\n";
  Respond(http::status::ok, "application/json", std::move(body));
}

void HttpSession::ServeMetrics() {
  Respond(http::status::ok, std::string(metrics::kContentType), metrics_.Expose());
}

void HttpSession::DeliverConnect() {
  connection_id_ = NewConnectionId();
  wsproto::WebsocketEventRequest event;
  event.set_socket_name(socket_);
  event.set_connection_id(connection_id_);
  auto& params = *event.mutable_connection()->mutable_query_params();
  const bool single = core_.options().profile.single_valued_query;
  for (auto& [key, value] : query_) {
    auto& values = params[key];
    if (single) values.clear_value();  // the last value of a repeated key wins
    values.add_value(std::move(value));
  }
  query_.clear();
  // No I/O is pending while the application decides; the deadline applies
  // again to the answer we write. The application's own deadline:
  stream_.expires_never();
  connect_timer_.expires_after(core_.options().connect_timeout);
  connect_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->OnConnectTimedOut();
  });
  // The upgrade completes only after the application accepted the Connect.
  connect_delivered_at_ = std::chrono::steady_clock::now();
  core_.sink().Deliver(wsproto::WebsocketEventType::Connect, std::move(event),
                       [gate = core_.gate(), weak = weak_from_this()](DeliveryResult result) {
                         gate->Post(weak, [result = std::move(result)](HttpSession& self) {
                           self.OnConnectAnswered(result);
                         });
                       });
}

void HttpSession::OnConnectTimedOut() {
  if (answered_) return;
  answered_ = true;
  metrics_.Refused(Refusal::kConnectTimeout);
  const auto seconds = std::chrono::duration<double>(core_.options().connect_timeout).count();
  spdlog::warn(
      "websocket '{}': refused connection {}: the connect handler did not answer within {} s",
      socket_, connection_id_, seconds);
  Respond(http::status::gateway_timeout, "text/plain",
          "the connect handler of socket '" + socket_ + "' did not answer within " +
              fmt::format("{}", seconds) + " s (--connect-timeout)\n");
}

void HttpSession::OnConnectAnswered(const DeliveryResult& result) {
  // Too late: the client already has its 504, and a late "accept" must not
  // open a connection it has given up on.
  if (answered_) return;
  answered_ = true;
  connect_timer_.cancel();
  if (result.delivered) {
    metrics_.Delivered(wsproto::WebsocketEventType::Connect,
                       std::chrono::steady_clock::now() - connect_delivered_at_);
  }
  if (!result.delivered) {
    bool has_handler = false;
    for (const auto type : core_.sink().RegisteredTypes(socket_)) {
      has_handler = has_handler || type == wsproto::WebsocketEventType::Connect;
    }
    spdlog::info("websocket '{}': refused connection {}: connect not delivered: {}", socket_,
                 connection_id_, result.error);
    metrics_.Refused(has_handler ? Refusal::kConnectNotDelivered : Refusal::kNoConnectHandler);
    if (!has_handler) {
      Respond(http::status::service_unavailable, "text/plain",
              "no connect handler registered for socket '" + socket_ + "'\n");
    } else {
      Respond(
          http::status::bad_gateway, "text/plain",
          "the connect handler of socket '" + socket_ + "' did not answer: " + result.error + "\n");
    }
    return;
  }
  if (result.reject) {
    metrics_.Refused(Refusal::kConnectRejected);
    spdlog::debug("websocket '{}': connection {} rejected by the connect handler", socket_,
                  connection_id_);
    Respond(http::int_to_status(core_.options().profile.reject_status), "text/plain",
            "connection rejected by the connect handler of socket '" + socket_ + "'\n");
    return;
  }
  // Accepted: the TCP connection (and the session count) move to a WsSession,
  // which owns the rest of the lifecycle, Disconnect included.
  handed_off_ = true;
  admitted_ = false;  // the WsSession releases it when the connection ends
  auto connection = std::make_shared<WsSession>(core_, metrics_, std::move(stream_), socket_,
                                                std::move(connection_id_));
  connection->Start(std::move(request_));
  End();
}

void HttpSession::Respond(http::status status, std::string content_type, std::string body) {
  response_ = {};
  response_.version(11);
  response_.result(status);
  response_.set(http::field::server, "nitric-dev-membrane");
  response_.set(http::field::content_type, std::move(content_type));
  if (status == http::status::upgrade_required) {
    response_.set(http::field::upgrade, "websocket");
    response_.set(http::field::sec_websocket_version, "13");
  }
  response_.keep_alive(false);
  response_.body() = std::move(body);
  response_.prepare_payload();
  stream_.expires_after(kHttpTimeout);
  http::async_write(
      stream_, response_, [self = shared_from_this()](beast::error_code, std::size_t) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
        self->End();
      });
}

void HttpSession::End() {
  if (ended_) return;
  ended_ = true;
  if (!handed_off_) {
    stream_.close();
    core_.SessionEnded();
  }
  if (admitted_) {
    admitted_ = false;
    core_.Release(socket_);
  }
  core_.RemoveHttp(this);
}

}  // namespace nitric::devserver
