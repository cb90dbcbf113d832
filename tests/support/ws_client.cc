#include "support/ws_client.h"

#include <future>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace nitric::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

// Resolves `host` (an IP literal, or a name such as "localhost").
bool Resolve(net::io_context& io, const std::string& host, uint16_t port, tcp::endpoint* out) {
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (!ec) {
    *out = tcp::endpoint(address, port);
    return true;
  }
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) return false;
  *out = *results.begin();
  return true;
}

// Runs `io` until the operations started on it are done. Every operation
// started by the callers is bounded by a tcp_stream deadline, so this ends.
void RunToCompletion(net::io_context& io) {
  io.restart();
  io.run();
}

}  // namespace

bool ParseUrl(std::string_view url, std::string* host, uint16_t* port, std::string* target) {
  std::string_view rest;
  if (url.starts_with("ws://")) {
    rest = url.substr(5);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return false;
  }
  const std::size_t slash = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, slash);
  *target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (target->front() == '?') target->insert(0, "/");

  std::string_view host_part = authority;
  std::string_view port_part;
  if (authority.starts_with("[")) {  // [::1]:4001
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host_part = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port_part = authority.substr(close + 2);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host_part = authority.substr(0, colon);
    port_part = authority.substr(colon + 1);
  }
  if (host_part.empty()) return false;
  *host = std::string(host_part);
  if (port_part.empty()) {
    *port = 80;
    return true;
  }
  unsigned value = 0;
  for (const char c : port_part) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 65535) return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

WsClient::WsClient(const WsClientOptions& options) : options_(options), ws_(io_) {}

WsClient::ConnectResult WsClient::Connect(std::string_view url, const WsClientOptions& options) {
  ConnectResult result;
  std::string host;
  std::string target;
  uint16_t port = 0;
  if (!ParseUrl(url, &host, &port, &target)) {
    result.error = "cannot parse url '" + std::string(url) + "'";
    return result;
  }
  std::unique_ptr<WsClient> client(new WsClient(options));
  auto& tcp_stream = beast::get_lowest_layer(client->ws_);
  tcp::endpoint endpoint;
  if (!Resolve(client->io_, host, port, &endpoint)) {
    result.error = "cannot resolve '" + host + "'";
    return result;
  }
  boost::system::error_code ec;
  if (options.receive_buffer_bytes > 0) {
    tcp_stream.socket().open(endpoint.protocol(), ec);
    if (!ec) {
      tcp_stream.socket().set_option(
          net::socket_base::receive_buffer_size(options.receive_buffer_bytes), ec);
    }
    if (ec) {
      result.error = "socket setup failed: " + ec.message();
      return result;
    }
  }

  tcp_stream.expires_after(options.timeout);
  tcp_stream.async_connect(endpoint, [&ec](beast::error_code e) { ec = e; });
  RunToCompletion(client->io_);
  if (ec) {
    result.error = "connect failed: " + ec.message();
    return result;
  }

  if (!options.headers.empty()) {
    client->ws_.set_option(websocket::stream_base::decorator(
        [headers = options.headers](websocket::request_type& req) {
          for (const auto& [name, value] : headers) req.insert(name, value);
        }));
  }
  websocket::response_type response;
  tcp_stream.expires_after(options.timeout);
  client->ws_.async_handshake(response, host + ":" + std::to_string(port), target,
                              [&ec](beast::error_code e) { ec = e; });
  RunToCompletion(client->io_);
  result.http_status = response.result_int();
  if (ec) {
    result.body = response.body();
    result.error = "upgrade failed: " + ec.message();
    return result;
  }
  tcp_stream.expires_never();
  client->ws_.read_message_max(options.max_message_bytes);

  // From here the background thread owns the stream's I/O.
  client->io_.restart();
  client->thread_ = std::thread([io = &client->io_] {
    auto work = net::make_work_guard(*io);
    io->run();
  });
  if (options.read) client->StartReading();
  result.client = std::move(client);
  return result;
}

WsClient::~WsClient() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void WsClient::StartReading() {
  {
    std::lock_guard lock(mu_);
    if (reading_) return;
    reading_ = true;
  }
  net::post(io_, [this] { ReadLoop(); });
}

void WsClient::ReadLoop() {
  ws_.async_read(read_buffer_, [this](beast::error_code ec, std::size_t bytes) {
    if (ec) {
      if (ec == websocket::error::closed) {
        MarkClosed(ws_.reason().code, std::string(ws_.reason().reason.c_str()));
      } else {
        MarkClosed(kAbnormalClosure, ec.message());
      }
      return;
    }
    WsMessage message;
    message.data = beast::buffers_to_string(read_buffer_.data());
    message.binary = !ws_.got_text();
    read_buffer_.consume(bytes);
    {
      std::lock_guard lock(mu_);
      messages_.push_back(std::move(message));
    }
    cv_.notify_all();
    ReadLoop();
  });
}

void WsClient::MarkClosed(int code, std::string reason) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
  }
  cv_.notify_all();
}

bool WsClient::Write(std::string_view data, bool binary) {
  // Beast allows one outstanding write: callers on several threads take turns.
  std::lock_guard write_lock(write_mu_);
  if (write_stuck_) return false;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
  }
  auto done = std::make_shared<std::promise<beast::error_code>>();
  auto future = done->get_future();
  net::post(io_, [this, done, binary, payload = std::string(data)]() mutable {
    auto owned = std::make_shared<std::string>(std::move(payload));
    ws_.binary(binary);
    ws_.async_write(net::buffer(*owned),
                    [done, owned](beast::error_code ec, std::size_t) { done->set_value(ec); });
  });
  if (future.wait_for(options_.timeout) != std::future_status::ready) {
    write_stuck_ = true;  // still pending: no further write may start
    return false;
  }
  return !future.get();
}

std::optional<WsMessage> WsClient::Receive(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !messages_.empty() || closed_; });
  if (messages_.empty()) return std::nullopt;
  WsMessage message = std::move(messages_.front());
  messages_.pop_front();
  return message;
}

std::optional<int> WsClient::WaitClosed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [this] { return closed_; })) return std::nullopt;
  return close_code_;
}

std::string WsClient::close_reason() const {
  std::lock_guard lock(mu_);
  return close_reason_;
}

bool WsClient::Close(uint16_t code, std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<beast::error_code>>();
  auto future = done->get_future();
  net::post(io_, [this, done, code] {
    ws_.async_close(websocket::close_reason(code),
                    [done](beast::error_code ec) { done->set_value(ec); });
  });
  if (future.wait_for(timeout) != std::future_status::ready) return false;
  const bool ok = !future.get();
  if (ok) MarkClosed(code, "");  // a reader, if any, has already recorded the server's answer
  return ok;
}

void WsClient::Abort() {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  net::post(io_, [this, done] {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    done->set_value();
  });
  future.wait_for(options_.timeout);
}

HttpReply HttpRequest(std::string_view url, std::string_view method,
                      std::chrono::milliseconds timeout) {
  HttpReply reply;
  std::string host;
  std::string target;
  uint16_t port = 0;
  if (!ParseUrl(url, &host, &port, &target)) {
    reply.error = "cannot parse url '" + std::string(url) + "'";
    return reply;
  }
  net::io_context io;
  tcp::endpoint endpoint;
  if (!Resolve(io, host, port, &endpoint)) {
    reply.error = "cannot resolve '" + host + "'";
    return reply;
  }
  beast::tcp_stream stream(io);
  http::request<http::empty_body> request(http::string_to_verb({method.data(), method.size()}),
                                          target, 11);
  request.set(http::field::host, host + ":" + std::to_string(port));
  request.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code ec;

  stream.expires_after(timeout);
  stream.async_connect(endpoint, [&](beast::error_code e) {
    if ((ec = e)) return;
    http::async_write(stream, request, [&](beast::error_code e2, std::size_t) {
      if ((ec = e2)) return;
      http::async_read(stream, buffer, response,
                       [&](beast::error_code e3, std::size_t) { ec = e3; });
    });
  });
  io.run();
  if (ec) {
    reply.error = ec.message();
    return reply;
  }
  reply.status = response.result_int();
  reply.content_type = std::string(response[http::field::content_type]);
  reply.body = std::move(response.body());
  return reply;
}

}  // namespace nitric::testing
