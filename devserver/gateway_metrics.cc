#include "devserver/gateway_metrics.h"

#include <utility>

#include "nitric/proto/event_type.h"

namespace nitric::devserver {
namespace {

namespace wsproto = ::nitric::proto::websockets::v1;

constexpr wsproto::WebsocketEventType kEventTypes[] = {wsproto::Connect, wsproto::Disconnect,
                                                       wsproto::Message};

}  // namespace

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kOrigin:
      return "origin";
    case Refusal::kBadRequest:
      return "bad_request";
    case Refusal::kBadQuery:
      return "bad_query";
    case Refusal::kMaxConnections:
      return "max_connections";
    case Refusal::kShuttingDown:
      return "shutting_down";
    case Refusal::kNoConnectHandler:
      return "no_connect_handler";
    case Refusal::kConnectNotDelivered:
      return "connect_not_delivered";
    case Refusal::kConnectTimeout:
      return "connect_timeout";
    case Refusal::kConnectRejected:
      return "connect_rejected";
    case Refusal::kMessageTooLarge:
      return "message_too_large";
    case Refusal::kBinaryFrame:
      return "binary_frame";
    case Refusal::kMessageNotDelivered:
      return "message_not_delivered";
    case Refusal::kSlowReader:
      return "slow_reader";
    case Refusal::kSendNotUtf8:
      return "send_not_utf8";
    case Refusal::kSendTooLarge:
      return "send_too_large";
    case Refusal::kIdleTimeout:
      return "idle_timeout";
    case Refusal::kMaxDuration:
      return "max_duration";
  }
  return "unknown";
}

SocketMetrics::SocketMetrics(const std::string& socket, const std::string& profile,
                             std::function<std::size_t()> open_connections)
    : frames_(registry_.AddCounter(
          "nitric_dev_gateway_frames_total",
          "WebSocket messages read from clients (direction in) and written to them (out).",
          {"socket", "direction"})),
      bytes_(registry_.AddCounter("nitric_dev_gateway_frame_bytes_total",
                                  "Payload bytes of those messages.", {"socket", "direction"})),
      frames_in_(frames_.With({socket, "in"})),
      frames_out_(frames_.With({socket, "out"})),
      bytes_in_(bytes_.With({socket, "in"})),
      bytes_out_(bytes_.With({socket, "out"})) {
  // Every child is resolved here, once: the I/O threads never take a
  // family's mutex, and a refusal that never happened still reads 0.
  auto& refusals = registry_.AddCounter(
      "nitric_dev_gateway_refusals_total",
      "Upgrade requests refused, client messages and sends refused, and connections the gateway "
      "cut off, by reason.",
      {"socket", "reason"});
  for (std::size_t i = 0; i < kRefusals; ++i) {
    refusals_[i] = &refusals.With({socket, RefusalName(static_cast<Refusal>(i))});
  }
  auto& delivery = registry_.AddHistogram(
      "nitric_dev_gateway_delivery_seconds",
      "From handing an event to the application's HandleEvents stream to its answer, for the "
      "events answered.",
      {"socket", "event"}, metrics::DurationBuckets());
  for (wsproto::WebsocketEventType type : kEventTypes) {
    delivery_[static_cast<std::size_t>(type)] =
        &delivery.With({socket, proto::EventTypeName(type)});
  }
  registry_.AddCallback("nitric_dev_gateway_connections",
                        "Open (upgraded, not yet closed) WebSocket connections.",
                        metrics::Type::kGauge,
                        [socket, open = std::move(open_connections)](metrics::TextWriter& out) {
                          out.Sample("nitric_dev_gateway_connections", {{"socket", socket}},
                                     static_cast<double>(open()));
                        });
  registry_
      .AddGauge("nitric_dev_gateway_info", "The socket and its gateway profile; always 1.",
                {"socket", "profile"})
      .With({socket, profile})
      .Set(1);
}

void SocketMetrics::Delivered(wsproto::WebsocketEventType type,
                              std::chrono::steady_clock::duration took) {
  const int index = static_cast<int>(type);
  if (index < 0 || index >= static_cast<int>(delivery_.size())) return;
  delivery_[static_cast<std::size_t>(index)]->ObserveDuration(took);
}

}  // namespace nitric::devserver
