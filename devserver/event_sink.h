// The seam between the WebSocket gateway and the HandleEvents registry.
//
// The gateway turns client activity into events and hands them to an EventSink;
// the registry (handler_registry.*) implements it by forwarding each event to the
// HandleEvents stream registered for (socket, event type) and matching the
// answer by id.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::devserver {

namespace wsproto = ::nitric::proto::websockets::v1;

struct DeliveryResult {
  // False when no stream is registered for (socket, type), the stream ended
  // before answering, or the membrane is shutting down.
  bool delivered = false;
  // The handler's answer (connection_response.reject); only meaningful when
  // delivered.
  bool reject = false;
  // Human-readable reason when !delivered.
  std::string error;
};

class EventSink {
 public:
  using Callback = std::function<void(DeliveryResult)>;
  virtual ~EventSink() = default;

  // Delivers `event` (socket_name, connection_id and exactly one of
  // connection/disconnection/message set) to the stream registered for
  // (event.socket_name(), type). Calls `done` exactly once, from any thread,
  // possibly before Deliver returns. Thread-safe.
  virtual void Deliver(wsproto::WebsocketEventType type, wsproto::WebsocketEventRequest event,
                       Callback done) = 0;

  // The event types that currently have a registered stream for `socket`.
  // Thread-safe.
  virtual std::vector<wsproto::WebsocketEventType> RegisteredTypes(
      const std::string& socket) const = 0;
};

}  // namespace nitric::devserver
