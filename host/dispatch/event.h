// One websocket event on its way from a HandleEvents stream (membrane/) through
// the dispatcher to the current generation's handlers, and the way back.
//
// Events are pooled by the Dispatcher: a stream reads straight into an Event,
// hands it over with Dispatcher::Submit and gets an empty one back for its next
// read, so the hot path allocates no Event objects.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "host/base/host_metrics.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::host {

namespace wsproto = ::nitric::proto::websockets::v1;

// Where an event's answer goes: the HandleEvents stream it arrived on.
class EventReplier {
 public:
  virtual ~EventReplier() = default;

  // Queues ClientMessage{id, websocket_event_response{connection_response{
  // reject}}} on the stream. Never blocks on the network; an answer for a
  // stream that has ended is dropped (the membrane failed that delivery, so
  // the event must not be answered anywhere else). Thread-safe.
  virtual void Reply(std::string id, bool reject) = 0;
};

struct Event {
  // As read from the stream: the id and websocket_event_request.
  wsproto::ServerMessage message;
  wsproto::WebsocketEventType type = wsproto::Connect;
  // Set by the stream before Submit; released once the answer is queued.
  std::shared_ptr<EventReplier> reply_to;
  // Set by the stream before Submit when the host keeps metrics: its
  // socket's metrics, and when the read completed. Whoever answers the event
  // counts it there (host/base/host_metrics.h). Null: not counted.
  const SocketMetrics* metrics = nullptr;
  std::chrono::steady_clock::time_point read_at;

  // Dispatcher-private: link in a connection queue or the free list.
  Event* next = nullptr;
};

}  // namespace nitric::host
