// One websocket client of the end-to-end benchmarks (Boost.Beast).
//
// All clients of a run share one io_context run by one thread, so a client is
// never touched by two threads at once and needs no lock. Writes are queued
// (Beast allows one in flight); reads loop until the connection ends.
//
// Thread-safety: every method must be called on the io_context's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace nitric::bench {

class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  // A text or binary frame arrived.
  using MessageFn = std::function<void(WsClient& client, std::string_view data)>;
  // The connection ended without Close() having been called.
  using ClosedFn = std::function<void(WsClient& client, const std::string& reason)>;
  // Connect() finished: an empty error means the websocket is open.
  using ConnectedFn = std::function<void(WsClient& client, const std::string& error)>;

  WsClient(boost::asio::io_context& io, int index);

  void set_on_message(MessageFn fn) { on_message_ = std::move(fn); }
  void set_on_closed(ClosedFn fn) { on_closed_ = std::move(fn); }

  // TCP connect and websocket upgrade of ws://<endpoint>/ (10 s limit).
  void Connect(const boost::asio::ip::tcp::endpoint& endpoint, ConnectedFn done);
  // Queues a text frame.
  void Send(std::string text);
  // Starts a normal close (1000); no on_closed call follows.
  void Close();

  int index() const { return index_; }
  bool open() const { return open_; }

  // Per-client bookkeeping of the load patterns (the driver's, not Beast's).
  uint64_t sequence = 0;
  std::string expected;  // the frame this client waits for
  bool awaiting = false;
  std::chrono::steady_clock::time_point sent_at;

 private:
  void Read();
  void Write();
  void CloseNow();  // Beast allows one write (a close is one) at a time

  boost::beast::websocket::stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::deque<std::string> queue_;  // front is being written when writing_
  bool writing_ = false;
  bool open_ = false;
  bool closing_ = false;
  const int index_;
  MessageFn on_message_;
  ClosedFn on_closed_;
};

}  // namespace nitric::bench
