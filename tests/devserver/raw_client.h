// A TCP client that misbehaves on purpose, for the gateway tests that send
// what a websocket client library never would (garbage, half requests).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

namespace nitric::devserver::testing {

// A TCP client that misbehaves on purpose. Every operation has a deadline.
class RawClient {
 public:
  bool Connect(const std::string& ws_url) {
    const uint16_t port = static_cast<uint16_t>(std::stoi(ws_url.substr(ws_url.rfind(':') + 1)));
    return Run([&](boost::beast::error_code& ec) {
      stream_.async_connect({boost::asio::ip::make_address("127.0.0.1"), port},
                            [&ec](boost::beast::error_code e) { ec = e; });
    });
  }

  bool Write(std::string_view bytes) {
    return Run([&](boost::beast::error_code& ec) {
      boost::asio::async_write(stream_, boost::asio::buffer(bytes.data(), bytes.size()),
                               [&ec](boost::beast::error_code e, std::size_t) { ec = e; });
    });
  }

  // Everything up to and including `delimiter`, or "" on timeout or error.
  std::string ReadUntil(std::string_view delimiter) {
    std::string data;
    const bool ok = Run([&](boost::beast::error_code& ec) {
      boost::asio::async_read_until(stream_, boost::asio::dynamic_buffer(data),
                                    std::string(delimiter),
                                    [&ec](boost::beast::error_code e, std::size_t) { ec = e; });
    });
    return ok ? data : std::string();
  }

  void Close() { stream_.close(); }

 private:
  template <typename Start>
  bool Run(Start start) {
    boost::beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(5));
    start(ec);
    io_.restart();
    io_.run();
    return !ec;
  }

  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_{io_};
};

}  // namespace nitric::devserver::testing
