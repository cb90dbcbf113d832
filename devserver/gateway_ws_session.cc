#include "devserver/gateway_ws_session.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "devserver/gateway_core.h"

namespace nitric::devserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// The close handshake (and the 101 write) must finish within this; it also
// bounds how long a silent client can hold a session during Shutdown.
constexpr auto kHandshakeTimeout = std::chrono::seconds(5);
// A connection with no traffic is pinged after half of this and cut after all
// of it, so dead peers don't accumulate.
constexpr auto kIdleTimeout = std::chrono::seconds(300);
// Buffers above this are released after the message that needed them.
constexpr std::size_t kKeptReadBufferBytes = 64 * 1024;
// RFC 6455 allows 123 bytes of reason text in a close frame.
constexpr std::size_t kMaxCloseReasonBytes = 123;

// Cuts `text` to at most kMaxCloseReasonBytes without splitting a UTF-8
// sequence (the reason must stay valid UTF-8).
std::string CloseReasonText(std::string text) {
  if (text.size() <= kMaxCloseReasonBytes) return text;
  std::size_t cut = kMaxCloseReasonBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

}  // namespace

WsSession::WsSession(GatewayCore& core, SocketMetrics& metrics, beast::tcp_stream stream,
                     std::string socket, std::string connection_id)
    : core_(core),
      metrics_(metrics),
      socket_(std::move(socket)),
      id_(std::move(connection_id)),
      executor_(stream.get_executor()),
      ws_(std::move(stream)),
      idle_timer_(executor_),
      lifetime_timer_(executor_) {}

void WsSession::Start(http::request<http::string_body> request) {
  if (!core_.AddConnection(shared_from_this())) {
    Finish("gateway is shutting down");
    return;
  }
  request_ = std::move(request);
  beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
  const GatewayProfile& profile = core_.options().profile;
  if (profile.idle_timeout.count() == 0) {
    ws_.set_option(websocket::stream_base::timeout{kHandshakeTimeout, kIdleTimeout,
                                                   /*keep_alive_pings=*/true});
  } else {
    // The profile's own idle rule (ArmIdleTimer) decides; no pings of ours
    // keep a connection alive that the profile would close.
    ws_.set_option(websocket::stream_base::timeout{
        kHandshakeTimeout, websocket::stream_base::none(), /*keep_alive_pings=*/false});
  }
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "nitric-dev-membrane"); }));
  ws_.read_message_max(profile.max_message_bytes);
  ws_.auto_fragment(false);  // one Send, one frame
  ws_.async_accept(request_,
                   [self = shared_from_this()](beast::error_code ec) { self->OnAccepted(ec); });
}

void WsSession::OnAccepted(beast::error_code ec) {
  request_ = {};
  if (state_ != State::kUpgrading) return;  // finished meanwhile
  if (ec) {
    Finish("upgrade failed: " + ec.message());
    return;
  }
  state_ = State::kOpen;
  core_.AddOpen(socket_, +1);
  spdlog::debug("websocket '{}': connection {} open", socket_, id_);
  ArmLifetimeTimer();
  ArmIdleTimer();
  if (close_reason_) {  // Close or Shutdown arrived during the upgrade
    auto reason = *close_reason_;
    StartClose(reason);
    return;
  }
  ReadNext();
  WriteNext();  // sends queued while the upgrade was in progress
}

void WsSession::ReadNext() {
  if (state_ != State::kOpen) return;
  ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    self->OnRead(ec, n);
  });
}

void WsSession::OnRead(beast::error_code ec, std::size_t bytes) {
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      metrics_.Refused(Refusal::kMessageTooLarge);
      // Beast has already sent close 1009 and is tearing the connection down.
      spdlog::info("websocket '{}': closed connection {} with 1009: message over {} bytes", socket_,
                   id_, core_.options().profile.max_message_bytes);
    }
    Finish(ec == websocket::error::closed ? "closed" : ec.message());
    return;
  }
  std::string body(static_cast<const char*>(read_buffer_.data().data()), bytes);
  read_buffer_.consume(bytes);
  if (read_buffer_.capacity() > kKeptReadBufferBytes) read_buffer_.shrink_to_fit();
  metrics_.FrameIn(bytes);
  if (state_ != State::kOpen) return;  // closing: frames still in flight are dropped
  const GatewayProfile& profile = core_.options().profile;
  if (profile.text_only && ws_.got_binary()) {
    metrics_.Refused(Refusal::kBinaryFrame);
    // As API Gateway does: the frame is not delivered, the client is cut off.
    spdlog::info(
        "websocket '{}': closing connection {} (1003): a binary frame, and the {} "
        "gateway profile carries text only",
        socket_, id_, profile.name);
    StartClose({websocket::close_code::unknown_data, "binary frames are not supported"});
    return;
  }
  ArmIdleTimer();

  wsproto::WebsocketEventRequest event;
  event.set_socket_name(socket_);
  event.set_connection_id(id_);
  event.mutable_message()->set_body(std::move(body));
  // The next frame is read only once this one is answered: that is what keeps
  // the events of one connection strictly ordered.
  message_delivered_at_ = std::chrono::steady_clock::now();
  core_.sink().Deliver(wsproto::WebsocketEventType::Message, std::move(event),
                       [gate = core_.gate(), weak = weak_from_this()](DeliveryResult result) {
                         gate->Post(weak, [result = std::move(result)](WsSession& self) mutable {
                           self.OnMessageAnswered(std::move(result));
                         });
                       });
}

void WsSession::OnMessageAnswered(DeliveryResult result) {
  if (result.delivered) {
    metrics_.Delivered(wsproto::WebsocketEventType::Message,
                       std::chrono::steady_clock::now() - message_delivered_at_);
  }
  if (state_ != State::kOpen) return;
  if (!result.delivered) {
    metrics_.Refused(Refusal::kMessageNotDelivered);
    // Like Nitric's gateway: a message nobody can take ends the connection.
    spdlog::warn("websocket '{}': closing connection {} (1011): message not delivered: {}", socket_,
                 id_, result.error);
    StartClose({websocket::close_code::internal_error,
                CloseReasonText("message not delivered: " + result.error)});
    return;
  }
  ReadNext();
}

void WsSession::Send(std::string data, bool text) {
  const std::size_t size = data.size();
  bool overflow = false;
  bool post_pump = false;
  {
    std::lock_guard lock(out_mu_);
    if (out_closed_) return;
    if (out_bytes_ > 0 && out_bytes_ + size > core_.options().max_send_queue_bytes) {
      overflow = true;
      out_closed_ = true;
    } else {
      out_.push_back({std::move(data), text});
      out_bytes_ += size;
      post_pump = !pump_posted_;
      pump_posted_ = true;
    }
  }
  // One wake-up per batch: Sends that find a Pump already posted only queue.
  if (post_pump) {
    boost::asio::post(executor_, [self = shared_from_this()] { self->Pump(); });
  }
  if (overflow) {
    metrics_.Refused(Refusal::kSlowReader);
    spdlog::warn("websocket '{}': dropping connection {}: slow reader, send queue over {} bytes",
                 socket_, id_, core_.options().max_send_queue_bytes);
    boost::asio::post(executor_, [self = shared_from_this()] { self->Drop(); });
  }
}

void WsSession::Close(websocket::close_reason reason) {
  boost::asio::post(executor_, [self = shared_from_this(), reason = std::move(reason)] {
    self->StartClose(reason);
  });
}

void WsSession::StartClose(websocket::close_reason reason) {
  switch (state_) {
    case State::kUpgrading:
      close_reason_ = std::move(reason);  // OnAccepted picks it up
      return;
    case State::kOpen:
      close_reason_ = std::move(reason);
      state_ = State::kDraining;
      {
        std::lock_guard lock(out_mu_);
        out_closed_ = true;  // what is queued goes out before the close frame
      }
      WriteNext();
      return;
    default:
      return;  // already closing
  }
}

void WsSession::OnClosed(beast::error_code ec) {
  Finish(ec ? "close handshake failed: " + ec.message() : "closed by the gateway");
}

void WsSession::Pump() {
  {
    std::lock_guard lock(out_mu_);
    pump_posted_ = false;
  }
  if (state_ == State::kOpen || state_ == State::kDraining) WriteNext();
}

void WsSession::WriteNext() {
  if (writing_) return;  // OnWritten comes back here
  bool have_frame = false;
  {
    std::lock_guard lock(out_mu_);
    if (!out_.empty()) {
      current_ = std::move(out_.front());
      out_.pop_front();
      have_frame = true;
    }
  }
  if (!have_frame) {
    if (state_ == State::kDraining) {
      state_ = State::kClosing;
      ws_.async_close(*close_reason_,
                      [self = shared_from_this()](beast::error_code ec) { self->OnClosed(ec); });
    }
    return;
  }
  writing_ = true;
  ws_.text(current_.text);
  ws_.async_write(
      boost::asio::buffer(current_.data),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->OnWritten(ec, n); });
}

void WsSession::OnWritten(beast::error_code ec, std::size_t /*bytes*/) {
  writing_ = false;
  {
    std::lock_guard lock(out_mu_);
    out_bytes_ -= std::min(out_bytes_, current_.data.size());
  }
  if (!ec) metrics_.FrameOut(current_.data.size());
  current_ = {};
  if (ec) {
    Finish("write failed: " + ec.message());
    return;
  }
  if (state_ == State::kOpen || state_ == State::kDraining) WriteNext();
}

void WsSession::Drop() { Finish("dropped: send queue overflow"); }

void WsSession::ArmIdleTimer() {
  const auto idle = core_.options().profile.idle_timeout;
  if (idle.count() == 0) return;
  idle_timer_.expires_after(idle);  // a wait already pending is cancelled
  idle_timer_.async_wait([self = shared_from_this(), idle](beast::error_code ec) {
    if (!ec) {
      self->OnLimitReached(
          Refusal::kIdleTimeout,
          "idle for " + fmt::format("{}", std::chrono::duration<double>(idle).count()) + " s");
    }
  });
}

void WsSession::ArmLifetimeTimer() {
  const auto limit = core_.options().profile.max_duration;
  if (limit.count() == 0) return;
  lifetime_timer_.expires_after(limit);
  lifetime_timer_.async_wait([self = shared_from_this(), limit](beast::error_code ec) {
    if (!ec) {
      self->OnLimitReached(
          Refusal::kMaxDuration,
          "open for " + fmt::format("{}", std::chrono::duration<double>(limit).count()) + " s");
    }
  });
}

void WsSession::OnLimitReached(Refusal refusal, const std::string& what) {
  if (state_ != State::kOpen) return;
  metrics_.Refused(refusal);
  spdlog::info("websocket '{}': closing connection {} (1001): {}, the {} gateway profile's limit",
               socket_, id_, what, core_.options().profile.name);
  StartClose({websocket::close_code::going_away, CloseReasonText(what)});
}

void WsSession::Finish(const std::string& why) {
  if (state_ == State::kFinished) return;
  const bool was_open = state_ != State::kUpgrading;
  state_ = State::kFinished;
  idle_timer_.cancel();
  lifetime_timer_.cancel();
  {
    std::lock_guard lock(out_mu_);
    out_closed_ = true;
    out_.clear();
  }
  // Cancels whatever read, write or close is still pending; their handlers
  // come back here and find the session finished.
  beast::get_lowest_layer(ws_).close();
  if (was_open) core_.AddOpen(socket_, -1);
  core_.Release(socket_);  // admitted by the HttpSession that handed it over
  core_.SessionEnded();
  spdlog::debug("websocket '{}': connection {} ended: {}", socket_, id_, why);

  wsproto::WebsocketEventRequest event;
  event.set_socket_name(socket_);
  event.set_connection_id(id_);
  event.mutable_disconnection();
  disconnect_delivered_at_ = std::chrono::steady_clock::now();
  // The connection stays registered until the application has seen its
  // Disconnect: a broadcast that walks stored ids meanwhile gets OK (its data
  // is discarded) rather than NOT_FOUND, which would abort the broadcast.
  core_.sink().Deliver(wsproto::WebsocketEventType::Disconnect, std::move(event),
                       [gate = core_.gate(), weak = weak_from_this()](DeliveryResult result) {
                         gate->Post(weak, [result = std::move(result)](WsSession& self) {
                           self.OnDisconnectAnswered(result);
                         });
                       });
  if (core_.stopping()) core_.RemoveConnection(*this);  // nobody waits for answers now
}

void WsSession::OnDisconnectAnswered(const DeliveryResult& result) {
  if (result.delivered) {
    metrics_.Delivered(wsproto::WebsocketEventType::Disconnect,
                       std::chrono::steady_clock::now() - disconnect_delivered_at_);
  }
  if (!result.delivered) {
    spdlog::info("websocket '{}': disconnect of {} not delivered: {}", socket_, id_, result.error);
  }
  core_.RemoveConnection(*this);
}

}  // namespace nitric::devserver
