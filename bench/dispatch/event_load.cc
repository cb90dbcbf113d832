#include "bench/dispatch/event_load.h"

#include <charconv>
#include <cstdio>
#include <thread>

namespace nitric::bench {

namespace ws = ::nitric::proto::websockets::v1;

namespace {

// Event ids carry the connection index and a per-connection sequence number,
// so an answer finds its connection without a shared map.
std::string EventId(uint32_t connection, uint32_t sequence) {
  return std::to_string((static_cast<uint64_t>(connection) << 32) | sequence);
}

bool ParseEventId(const std::string& id, uint32_t* connection, uint32_t* sequence) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), value);
  if (error != std::errc() || end != id.data() + id.size()) return false;
  *connection = static_cast<uint32_t>(value >> 32);
  *sequence = static_cast<uint32_t>(value);
  return true;
}

// UUID-shaped like the gateway's ids, unique per connection and cycle.
std::string ConnectionId(uint32_t index, uint32_t cycle) {
  char text[40];
  std::snprintf(text, sizeof text, "00000000-0000-4000-8000-%04x%08x", index & 0xffff, cycle);
  return text;
}

}  // namespace

struct EventLoad::Connection {
  uint32_t index = 0;
  std::mutex mutex;  // uncontended: one event of a connection is in flight
  uint32_t cycle = 0;
  uint32_t sequence = 0;  // of the event in flight
  bool in_flight = false;
  EventType in_flight_type = ws::Connect;
  bool open = false;      // Connect answered, Disconnect not yet sent
  int messages_sent = 0;  // in this cycle
  std::string connection_id;
  std::chrono::steady_clock::time_point sent_at;
  LatencyRecorder window_latency;
};

EventLoad::EventLoad(FakeMembrane& membrane, LoadOptions options)
    : membrane_(membrane), options_(std::move(options)), body_(options_.body_bytes, 'x') {
  for (int i = 0; i < options_.connections; ++i) {
    auto c = std::make_unique<Connection>();
    c->index = static_cast<uint32_t>(i);
    connections_.push_back(std::move(c));
  }
}

EventLoad::~EventLoad() = default;

void EventLoad::Start() {
  for (auto& c : connections_) {
    std::optional<Outgoing> first;
    {
      std::lock_guard lock(c->mutex);
      c->connection_id = ConnectionId(c->index, c->cycle);
      first = Prepare(*c, ws::Connect);
    }
    Dispatch(std::move(first));
  }
}

EventLoad::Outgoing EventLoad::Prepare(Connection& c, EventType type) {
  Outgoing out;
  out.connection = &c;
  out.type = type;
  c.sequence++;
  out.message.set_id(EventId(c.index, c.sequence));
  auto* request = out.message.mutable_websocket_event_request();
  request->set_socket_name(options_.socket);
  request->set_connection_id(c.connection_id);
  switch (type) {
    case ws::Connect:
      request->mutable_connection();
      break;
    case ws::Disconnect:
      request->mutable_disconnection();
      break;
    default:
      request->mutable_message()->set_body(body_);
      break;
  }
  c.in_flight = true;
  c.in_flight_type = type;
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  c.sent_at = std::chrono::steady_clock::now();
  return out;
}

// Called without the connection's lock: gRPC may run reactions (answers of
// other connections) inline in StartWrite.
void EventLoad::Dispatch(std::optional<Outgoing> out) {
  if (!out) return;
  if (membrane_.Send(out->type, options_.socket, std::move(out->message))) return;
  // No stream for it (the process under test is gone): this connection stops.
  std::lock_guard lock(out->connection->mutex);
  out->connection->in_flight = false;
  out->connection->open = false;
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  send_failures_.fetch_add(1, std::memory_order_relaxed);
}

void EventLoad::OnAnswer(const std::string& id, bool reject) {
  const auto now = std::chrono::steady_clock::now();
  uint32_t index = 0;
  uint32_t sequence = 0;
  if (!ParseEventId(id, &index, &sequence) || index >= connections_.size()) {
    bad_answers_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Connection& c = *connections_[index];
  std::unique_lock lock(c.mutex);
  if (!c.in_flight || c.sequence != sequence) {  // unknown or answered twice
    bad_answers_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  c.in_flight = false;
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  answered_.fetch_add(1, std::memory_order_relaxed);
  if (measuring_.load(std::memory_order_relaxed)) {
    c.window_latency.Add(static_cast<uint64_t>(std::chrono::nanoseconds(now - c.sent_at).count()));
  }
  if (reject && c.in_flight_type == ws::Connect) rejects_.fetch_add(1, std::memory_order_relaxed);
  std::optional<Outgoing> next = Advance(c);
  lock.unlock();
  Dispatch(std::move(next));
}

std::optional<EventLoad::Outgoing> EventLoad::Advance(Connection& c) {
  switch (c.in_flight_type) {
    case ws::Connect:
      c.open = true;
      break;
    case ws::Disconnect:
      c.open = false;
      break;
    default:
      break;
  }
  if (stopping_.load(std::memory_order_relaxed)) {
    if (!c.open) return std::nullopt;
    c.open = false;
    return Prepare(c, ws::Disconnect);
  }
  if (!c.open) {  // the Disconnect was answered: a new connection
    c.cycle++;
    c.messages_sent = 0;
    c.connection_id = ConnectionId(c.index, c.cycle);
    return Prepare(c, ws::Connect);
  }
  if (c.messages_sent < options_.messages_per_connection) {
    c.messages_sent++;
    return Prepare(c, ws::Message);
  }
  c.open = false;
  return Prepare(c, ws::Disconnect);
}

void EventLoad::BeginWindow() {
  for (auto& c : connections_) {
    std::lock_guard lock(c->mutex);
    c->window_latency.Clear();
  }
  window_start_answered_ = answered_.load();
  window_start_ = std::chrono::steady_clock::now();
  measuring_.store(true);
}

WindowStats EventLoad::EndWindow() {
  measuring_.store(false);
  WindowStats stats;
  stats.answered = answered_.load() - window_start_answered_;
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start_).count();
  LatencyRecorder all;
  for (auto& c : connections_) {
    std::lock_guard lock(c->mutex);
    all.Merge(c->window_latency);
    c->window_latency.Clear();
  }
  stats.latency = all.Summarize();
  return stats;
}

uint64_t EventLoad::Drain(std::chrono::milliseconds timeout) {
  stopping_.store(true);
  // Idle connections that are open (none in flight) get their Disconnect here;
  // the others get it when their event in flight is answered.
  for (auto& c : connections_) {
    std::optional<Outgoing> last;
    {
      std::lock_guard lock(c->mutex);
      if (!c->in_flight && c->open) {
        c->open = false;
        last = Prepare(*c, ws::Disconnect);
      }
    }
    Dispatch(std::move(last));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t left = in_flight_.load();
  return left > 0 ? static_cast<uint64_t>(left) : 0;
}

}  // namespace nitric::bench
