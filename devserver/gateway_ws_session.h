// One client connection whose Connect event was accepted: completes the
// upgrade, delivers frames to the sink one at a time and in order, writes
// queued sends one frame at a time, and delivers Disconnect exactly once when
// the connection ends, whoever ends it. The gateway profile decides what a
// client may send (sizes, binary frames) and how long a connection lives.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "devserver/event_sink.h"
#include "devserver/gateway_metrics.h"

namespace nitric::devserver {

class GatewayCore;

// Thread-safety: Send and Close may be called from any thread; everything
// else runs on the session's strand (the executor of its TCP socket).
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(GatewayCore& core, SocketMetrics& metrics, boost::beast::tcp_stream stream,
            std::string socket, std::string connection_id);
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  const std::string& socket() const { return socket_; }
  const std::string& id() const { return id_; }
  boost::asio::any_io_executor get_executor() const { return executor_; }
  SocketMetrics& metrics() const { return metrics_; }

  // Registers the connection and answers the upgrade `request` with 101, then
  // starts reading frames. When the gateway is stopping or the handshake
  // fails, the session ends instead (still delivering Disconnect: the
  // application already saw Connect). REQUIRES: on the strand, called once.
  void Start(boost::beast::http::request<boost::beast::http::string_body> request);

  // Queues `data` as one text (or binary) frame. Discarded when the
  // connection is closing. When pending bytes would exceed
  // max_send_queue_bytes the client is a slow reader and is dropped: its TCP
  // connection is cut, since a close frame would wait behind the backlog. A
  // single frame larger than the limit is still sent when nothing else is
  // pending. Any thread.
  void Send(std::string data, bool text);

  // Writes out what is already queued, then starts the close handshake with
  // `reason` (deferred until the upgrade completes). Any thread.
  void Close(boost::beast::websocket::close_reason reason);

 private:
  enum class State {
    kUpgrading,  // 101 not yet written
    kOpen,       // reading frames, writing sends
    kDraining,   // close requested: flushing the send queue, no new reads
    kClosing,    // close frame sent, waiting for the handshake to finish
    kFinished,   // TCP closed, Disconnect delivered (or on its way)
  };
  struct Outgoing {
    std::string data;
    bool text = true;
  };

  void OnAccepted(boost::beast::error_code ec);
  void ReadNext();
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void OnMessageAnswered(DeliveryResult result);
  void StartClose(boost::beast::websocket::close_reason reason);
  void OnClosed(boost::beast::error_code ec);
  void Pump();
  void WriteNext();
  void OnWritten(boost::beast::error_code ec, std::size_t bytes);
  void Drop();
  // The profile's connection limits (idle, lifetime): arm on open, the idle
  // one again on each client message; either closes the connection with 1001.
  void ArmIdleTimer();
  void ArmLifetimeTimer();
  void OnLimitReached(Refusal refusal, const std::string& what);
  void Finish(const std::string& why);
  void OnDisconnectAnswered(const DeliveryResult& result);

  GatewayCore& core_;
  SocketMetrics& metrics_;
  const std::string socket_;
  const std::string id_;
  const boost::asio::any_io_executor executor_;  // the strand; copied so Send needs no lock
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;

  // Strand-only state.
  State state_ = State::kUpgrading;
  boost::beast::http::request<boost::beast::http::string_body> request_;  // alive during accept
  boost::beast::flat_buffer read_buffer_;
  bool writing_ = false;  // one async_write at a time
  Outgoing current_;      // the frame being written
  std::optional<boost::beast::websocket::close_reason> close_reason_;
  // When the message in flight (one at a time) and the Disconnect were handed
  // to the sink: their delivery latency.
  std::chrono::steady_clock::time_point message_delivered_at_;
  std::chrono::steady_clock::time_point disconnect_delivered_at_;
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer lifetime_timer_;

  // The send queue, filled by Send on any thread and drained on the strand.
  std::mutex out_mu_;
  std::deque<Outgoing> out_;   // guarded by out_mu_
  std::size_t out_bytes_ = 0;  // guarded by out_mu_; queued plus in flight
  bool out_closed_ = false;    // guarded by out_mu_; Send discards when set
  bool pump_posted_ = false;   // guarded by out_mu_; a Pump is already on its way
};

}  // namespace nitric::devserver
