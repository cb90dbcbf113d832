// order: the probe for the dispatcher's ordering and parallelism test
// (tests/host). Socket "order".
//
// Messages are decimal integers 0..N-1, sent in order on each connection.
// For every message the plugin checks, per connection, that the number is
// the previous one + 1 (else an order violation) and that no other handler
// of the same connection is running (else a per-connection violation); it
// also tracks how many handlers run at once over all connections (the
// maximum is "max_concurrent"). Each handler sleeps ~200 us so overlap is
// observable. Nothing is sent back for a number.
//
// The message "report" is answered with one JSON object for that connection:
//   {"max_concurrent":X,"per_conn_violations":Y,"order_violations":Z,"seen":N,
//    "total_per_conn_violations":..,"total_order_violations":..,"total_seen":..}
// where X is global, Y/Z/N are this connection's and total_* are global.
// A message that is not a number or "report" counts as an order violation.
#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <nitric/plugin.hpp>

using namespace nitric;

namespace {

struct ConnectionStats {
  std::atomic<int> running{0};
  // Atomics so that a host that breaks the one-at-a-time rule is reported,
  // not turned into a data race in the probe itself.
  std::atomic<long long> next{0};
  std::atomic<long long> seen{0};
  std::atomic<long long> order_violations{0};
  std::atomic<long long> per_conn_violations{0};
};

struct Stats {
  std::atomic<int> running{0};
  std::atomic<int> max_concurrent{0};
  std::atomic<long long> total_seen{0};
  std::atomic<long long> total_order_violations{0};
  std::atomic<long long> total_per_conn_violations{0};

  std::mutex mu;
  std::unordered_map<std::string, std::unique_ptr<ConnectionStats>> connections;  // GUARDED_BY(mu)

  ConnectionStats* For(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = connections[id];
    if (!slot) slot = std::make_unique<ConnectionStats>();
    return slot.get();
  }
  void Forget(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    connections.erase(id);
  }
};

void NoteRunning(Stats& s, int now) {
  int seen = s.max_concurrent.load();
  while (now > seen && !s.max_concurrent.compare_exchange_weak(seen, now)) {
  }
}

}  // namespace

NITRIC_PLUGIN("order", [](Plugin& p) {
  auto ws = p.NewWebsocket("order");
  auto stats = std::make_shared<Stats>();

  ws.On(EventType_Disconnect, [=](Ctx& ctx) { stats->Forget(ctx.Request.ConnectionID()); });

  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    const std::string id = ctx.Request.ConnectionID();
    ConnectionStats* conn = stats->For(id);
    const std::string body = ctx.Request.Message();

    if (body == "report") {
      std::string json =
          "{\"max_concurrent\":" + std::to_string(stats->max_concurrent.load()) +
          ",\"per_conn_violations\":" + std::to_string(conn->per_conn_violations.load()) +
          ",\"order_violations\":" + std::to_string(conn->order_violations.load()) +
          ",\"seen\":" + std::to_string(conn->seen.load()) + ",\"total_per_conn_violations\":" +
          std::to_string(stats->total_per_conn_violations.load()) +
          ",\"total_order_violations\":" + std::to_string(stats->total_order_violations.load()) +
          ",\"total_seen\":" + std::to_string(stats->total_seen.load()) + "}";
      return ws.Send(id, json);
    }

    NoteRunning(*stats, stats->running.fetch_add(1) + 1);
    if (conn->running.fetch_add(1) != 0) {
      ++conn->per_conn_violations;
      ++stats->total_per_conn_violations;
    }

    long long n = -1;
    auto parsed = std::from_chars(body.data(), body.data() + body.size(), n);
    if (parsed.ec != std::errc() || parsed.ptr != body.data() + body.size() ||
        n != conn->next.load()) {
      ++conn->order_violations;
      ++stats->total_order_violations;
    }
    if (parsed.ec == std::errc()) conn->next = n + 1;
    ++conn->seen;
    ++stats->total_seen;
    std::this_thread::sleep_for(std::chrono::microseconds(200));

    conn->running.fetch_sub(1);
    stats->running.fetch_sub(1);
    return {};
  });
});
