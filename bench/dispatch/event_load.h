// The gateway's side of the dispatch benchmark: simulated client connections
// that drive events through a FakeMembrane the way the Nitric gateway does.
//
// Each connection loops: Connect, then `messages` Message events (strictly one
// at a time: the next goes out only when the previous one was answered), then
// Disconnect, then starts again as a new connection id. Different connections
// run at once, so with N connections up to N events are in flight across the
// three streams. Latency is taken per event, from the moment it is queued for
// sending to the moment its answer is read.
//
// Thread-safety: OnAnswer is called from gRPC's threads; the control methods
// from one driver thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bench/common/latency.h"
#include "bench/dispatch/fake_membrane.h"

namespace nitric::bench {

struct LoadOptions {
  std::string socket = "public";
  int connections = 100;
  int messages_per_connection = 1000;
  std::size_t body_bytes = 64;
};

// Counts over one measured window.
struct WindowStats {
  uint64_t answered = 0;  // events answered inside the window
  double seconds = 0;
  LatencySummary latency;  // of the events answered inside the window
};

class EventLoad {
 public:
  EventLoad(FakeMembrane& membrane, LoadOptions options);
  ~EventLoad();
  EventLoad(const EventLoad&) = delete;
  EventLoad& operator=(const EventLoad&) = delete;

  // The answer handler to give the FakeMembrane.
  void OnAnswer(const std::string& id, bool reject);

  // Sends every connection's first Connect.
  void Start();

  // Starts a measured window: counts and latencies from now on.
  void BeginWindow();
  // Ends it and returns what it saw.
  WindowStats EndWindow();

  // Stops issuing events: connections that are open get their Disconnect,
  // then go idle. Waits up to `timeout` for every event in flight to be
  // answered. Returns the number still unanswered (lost).
  uint64_t Drain(std::chrono::milliseconds timeout);

  // Events answered since Start().
  uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  // Events that could not be sent (no stream registered) or were answered
  // with an unknown or duplicate id, and connects answered with reject.
  uint64_t send_failures() const { return send_failures_.load(); }
  uint64_t bad_answers() const { return bad_answers_.load(); }
  uint64_t rejects() const { return rejects_.load(); }

 private:
  struct Connection;
  struct Outgoing {
    Connection* connection = nullptr;
    EventType type{};
    ::nitric::proto::websockets::v1::ServerMessage message;
  };

  // Under the connection's lock: the next event after the one in flight was
  // answered, if any, marked in flight.
  std::optional<Outgoing> Advance(Connection& c);
  Outgoing Prepare(Connection& c, EventType type);
  // Without the lock: hands the event to the membrane.
  void Dispatch(std::optional<Outgoing> out);

  FakeMembrane& membrane_;
  const LoadOptions options_;
  const std::string body_;
  std::vector<std::unique_ptr<Connection>> connections_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> measuring_{false};
  std::atomic<uint64_t> answered_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> send_failures_{0};
  std::atomic<uint64_t> bad_answers_{0};
  std::atomic<uint64_t> rejects_{0};
  uint64_t window_start_answered_ = 0;
  std::chrono::steady_clock::time_point window_start_;
};

}  // namespace nitric::bench
