#include "bench/e2e/ws_client.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace nitric::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

WsClient::WsClient(boost::asio::io_context& io, int index) : stream_(io), index_(index) {}

void WsClient::Connect(const tcp::endpoint& endpoint, ConnectedFn done) {
  auto self = shared_from_this();
  beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(stream_).async_connect(
      endpoint, [self, endpoint, done](beast::error_code ec) {
        if (ec) return done(*self, "connect: " + ec.message());
        beast::get_lowest_layer(self->stream_).socket().set_option(tcp::no_delay(true));
        self->stream_.async_handshake(
            endpoint.address().to_string() + ":" + std::to_string(endpoint.port()), "/",
            [self, done](beast::error_code ec) {
              if (ec) return done(*self, "upgrade: " + ec.message());
              // Handshake done: the websocket keeps its own timeouts from now.
              beast::get_lowest_layer(self->stream_).expires_never();
              self->stream_.set_option(
                  websocket::stream_base::timeout::suggested(beast::role_type::client));
              self->open_ = true;
              self->Read();
              done(*self, "");
            });
      });
}

void WsClient::Read() {
  auto self = shared_from_this();
  stream_.async_read(buffer_, [self](beast::error_code ec, std::size_t) {
    if (ec) {
      self->open_ = false;
      if (!self->closing_ && self->on_closed_) self->on_closed_(*self, ec.message());
      return;
    }
    const auto data = self->buffer_.cdata();
    if (self->on_message_) {
      self->on_message_(*self,
                        std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    self->buffer_.consume(self->buffer_.size());
    self->Read();
  });
}

void WsClient::Send(std::string text) {
  if (!open_ || closing_) return;
  queue_.push_back(std::move(text));
  if (!writing_) Write();
}

void WsClient::Write() {
  writing_ = true;
  stream_.text(true);
  auto self = shared_from_this();
  stream_.async_write(boost::asio::buffer(queue_.front()),
                      [self](beast::error_code ec, std::size_t) {
                        self->queue_.pop_front();
                        if (ec) self->queue_.clear();
                        if (!self->queue_.empty() && self->open_) return self->Write();
                        self->writing_ = false;
                        if (self->closing_) self->CloseNow();
                      });
}

void WsClient::Close() {
  if (closing_) return;
  closing_ = true;
  queue_.resize(writing_ ? 1 : 0);  // drop what is not on the wire yet
  if (!writing_) CloseNow();        // else once the write in flight is done
}

void WsClient::CloseNow() {
  if (!open_) return;
  auto self = shared_from_this();
  stream_.async_close(websocket::close_code::normal, [self](beast::error_code) {});
}

}  // namespace nitric::bench
