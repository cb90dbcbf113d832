// The dev gateway's Prometheus metrics for one socket, served as `GET
// /metrics` on that socket's port next to the `GET /` status
// (docs/PROTOCOL.md#dev-gateway lists the families). Each socket has its own
// registry, so scraping every port counts every series once; every series
// still carries a `socket` label.
//
// Updates are relaxed atomic adds on per-thread shards (metrics/metric.h): the
// I/O threads count frames, bytes and refusals without a lock.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "metrics/registry.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::devserver {

// Why the gateway refused a client or a send, or cut a connection off: the
// `reason` label of nitric_dev_gateway_refusals_total.
enum class Refusal {
  kOrigin,               // upgrade from a foreign Origin: 403
  kBadRequest,           // malformed HTTP, or an upgrade without its headers: 400/426
  kBadQuery,             // a query key or value that is not UTF-8: 400
  kMaxConnections,       // the socket is full: 503
  kShuttingDown,         // the gateway is stopping: 503
  kNoConnectHandler,     // no Connect stream registered: 503
  kConnectNotDelivered,  // the Connect stream ended before answering: 502
  kConnectTimeout,       // no Connect answer within --connect-timeout: 504
  kConnectRejected,      // the application rejected the Connect: 403 (aws: 401)
  kMessageTooLarge,      // a client message over the profile's size: close 1009
  kBinaryFrame,          // a client binary frame under a text-only profile: close 1003
  kMessageNotDelivered,  // no Message stream could take a message: close 1011
  kSlowReader,           // the send queue overflowed: connection dropped
  kSendNotUtf8,          // a send that is not UTF-8 under a text-only profile
  kSendTooLarge,         // a send over the profile's size
  kIdleTimeout,          // no client message for the profile's idle limit: close 1001
  kMaxDuration,          // open for the profile's lifetime limit: close 1001
};
inline constexpr std::size_t kRefusals = static_cast<std::size_t>(Refusal::kMaxDuration) + 1;

// The label value of a refusal, e.g. "connect_rejected".
std::string_view RefusalName(Refusal refusal);

class SocketMetrics {
 public:
  // `open_connections` is read at scrape time.
  SocketMetrics(const std::string& socket, const std::string& profile,
                std::function<std::size_t()> open_connections);
  SocketMetrics(const SocketMetrics&) = delete;
  SocketMetrics& operator=(const SocketMetrics&) = delete;

  // A message read from a client / a frame written to one, with its payload.
  void FrameIn(std::size_t bytes) {
    frames_in_.Add();
    bytes_in_.Add(bytes);
  }
  void FrameOut(std::size_t bytes) {
    frames_out_.Add();
    bytes_out_.Add(bytes);
  }
  void Refused(Refusal refusal) { refusals_[static_cast<std::size_t>(refusal)]->Add(); }
  // An event the application answered, `took` after it was handed over.
  void Delivered(::nitric::proto::websockets::v1::WebsocketEventType type,
                 std::chrono::steady_clock::duration took);

  // The text exposition (metrics::kContentType).
  std::string Expose() const { return registry_.Expose(); }

 private:
  metrics::Registry registry_;
  metrics::CounterFamily& frames_;
  metrics::CounterFamily& bytes_;
  metrics::Counter& frames_in_;
  metrics::Counter& frames_out_;
  metrics::Counter& bytes_in_;
  metrics::Counter& bytes_out_;
  std::array<metrics::Counter*, kRefusals> refusals_{};
  std::array<metrics::Histogram*, 3> delivery_{};  // by WebsocketEventType
};

}  // namespace nitric::devserver
