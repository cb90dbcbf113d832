// A small websocket client for tests, built on Boost.Beast. Every call is
// synchronous and bounded by a timeout, so a misbehaving server fails a test
// instead of hanging it. Frames are read by a background thread into a queue
// (unless the client is created paused, to play a slow reader).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace nitric::testing {

using namespace std::chrono_literals;

// Close code reported when the connection ended without a close frame.
inline constexpr int kAbnormalClosure = 1006;

struct WsMessage {
  std::string data;
  bool binary = false;
};

struct WsClientOptions {
  // Bounds connecting and the upgrade, and each Send. Like every default
  // deadline here it bounds a hang only: a starved machine may be slow.
  std::chrono::milliseconds timeout = 30s;
  // False: frames are not read until StartReading() (a slow reader).
  bool read = true;
  // SO_RCVBUF for the TCP socket, 0 for the system default. A small buffer
  // makes a non-reading client back up quickly.
  int receive_buffer_bytes = 0;
  // Largest message the client accepts.
  std::size_t max_message_bytes = 64 << 20;
  // Extra headers of the upgrade request, e.g. {"Origin", "http://x:1"}.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// Thread-safety: all methods may be called from any thread (writes take
// turns); the background reader only fills the queue. The destructor must
// not race with other calls.
class WsClient {
 public:
  struct ConnectResult {
    std::unique_ptr<WsClient> client;  // set when the upgrade succeeded
    int http_status = 0;               // 101, or the status of a refused upgrade
    std::string body;                  // body of a refused upgrade
    std::string error;                 // why it failed, when it did
  };

  // Connects to `url` ("ws://127.0.0.1:4001/path?query") and upgrades.
  static ConnectResult Connect(std::string_view url, const WsClientOptions& options = {});

  ~WsClient();  // drops the TCP connection if still open; joins the reader
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Sends one text or binary message. False on error or timeout.
  bool SendText(std::string_view data) { return Write(data, /*binary=*/false); }
  bool SendBinary(std::string_view data) { return Write(data, /*binary=*/true); }

  // The next message, or nullopt when none arrived within `timeout` (or the
  // connection ended with nothing left in the queue).
  std::optional<WsMessage> Receive(std::chrono::milliseconds timeout = 30s);

  // Waits until the connection ended and returns the close code the server
  // sent (kAbnormalClosure without a close frame), or nullopt on timeout.
  // Messages still queued stay available to Receive.
  std::optional<int> WaitClosed(std::chrono::milliseconds timeout = 30s);

  // Close reason text the server sent, once closed.
  std::string close_reason() const;

  // Starts the close handshake with `code` and waits for it to finish.
  bool Close(uint16_t code = 1000, std::chrono::milliseconds timeout = 30s);

  // Cuts the TCP connection without a close frame.
  void Abort();

  // Starts the background reader of a client created with read = false.
  void StartReading();

 private:
  explicit WsClient(const WsClientOptions& options);
  bool Write(std::string_view data, bool binary);
  void ReadLoop();
  void MarkClosed(int code, std::string reason);

  const WsClientOptions options_;
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer read_buffer_;  // reader thread only
  std::thread thread_;

  std::mutex write_mu_;       // held for the whole of a Write
  bool write_stuck_ = false;  // guarded by write_mu_; a timed-out write is still pending

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WsMessage> messages_;  // guarded by mu_
  bool reading_ = false;            // guarded by mu_
  bool closed_ = false;             // guarded by mu_
  int close_code_ = 0;              // guarded by mu_
  std::string close_reason_;        // guarded by mu_
};

// The answer to a plain HTTP request (status page, refusal checks).
struct HttpReply {
  int status = 0;  // 0 when the request failed; see error
  std::string content_type;
  std::string body;
  std::string error;
};

// Sends one HTTP/1.1 request to `url` (ws:// or http://) and reads the answer.
HttpReply HttpRequest(std::string_view url, std::string_view method = "GET",
                      std::chrono::milliseconds timeout = 30s);

// Host, port and target ("/path?query") of a ws:// or http:// URL. False when
// the URL cannot be parsed.
bool ParseUrl(std::string_view url, std::string* host, uint16_t* port, std::string* target);

}  // namespace nitric::testing
