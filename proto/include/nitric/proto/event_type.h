// The one mapping from the wire's WebsocketEventType to the plugin ABI's
// nitric_event_type, and with it the one spelling of event-type names: every
// log line, status page and error of the host and the dev membrane names an
// event type through EventTypeName(), which is nitric_event_type_name() of
// plugin.h ("connect", "disconnect", "message"). See docs/PROTOCOL.md.
#pragma once

#include "nitric/plugin.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::proto {

// REQUIRES: WebsocketEventType_IsValid(type); the wire's other values (an
// enum value this build does not know) map to NITRIC_EVENT_MESSAGE, as the
// membrane treats them.
inline nitric_event_type ToNitricEventType(websockets::v1::WebsocketEventType type) {
  switch (type) {
    case websockets::v1::Connect:
      return NITRIC_EVENT_CONNECT;
    case websockets::v1::Disconnect:
      return NITRIC_EVENT_DISCONNECT;
    default:
      return NITRIC_EVENT_MESSAGE;
  }
}

// "connect", "disconnect", "message", or "unknown" for a value the wire
// enum does not define.
inline const char* EventTypeName(websockets::v1::WebsocketEventType type) {
  if (!websockets::v1::WebsocketEventType_IsValid(type)) return "unknown";
  return nitric_event_type_name(ToNitricEventType(type));
}

// The type of an event on a HandleEvents stream: the request's own (which
// of connection/disconnection/message it carries), else the stream's.
inline websockets::v1::WebsocketEventType EventTypeOf(
    const websockets::v1::WebsocketEventRequest& request,
    websockets::v1::WebsocketEventType stream_type) {
  using Request = websockets::v1::WebsocketEventRequest;
  switch (request.websocket_event_case()) {
    case Request::kConnection:
      return websockets::v1::Connect;
    case Request::kDisconnection:
      return websockets::v1::Disconnect;
    case Request::kMessage:
      return websockets::v1::Message;
    default:
      return stream_type;
  }
}

}  // namespace nitric::proto
