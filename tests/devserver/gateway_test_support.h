// Shared by the gateway tests: a scripted EventSink and a fixture that runs a
// real Gateway on ephemeral loopback ports.
//
// TestSink stands in for the HandleEvents registry (tested on its own) at the
// gateway's only seam. It records every event, answers from its own thread
// (as gRPC threads would), optionally after a delay, and checks that no
// connection ever has two message events in flight.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "devserver/event_sink.h"
#include "devserver/gateway.h"
#include "support/ws_client.h"

namespace nitric::devserver::testing {

using EventType = wsproto::WebsocketEventType;
using namespace std::chrono_literals;

class TestSink : public EventSink {
 public:
  struct Event {
    EventType type;
    wsproto::WebsocketEventRequest request;
  };

  TestSink() : answerer_([this] { AnswerLoop(); }) {}

  ~TestSink() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    answerer_.join();
  }

  // --- Script (thread-safe, usually set before the clients connect) ---

  // Event types that have a "registered stream"; others fail delivery.
  void SetRegistered(std::set<EventType> types) {
    std::lock_guard lock(mu_);
    registered_ = std::move(types);
  }
  // Connect events for which `rule` returns true are answered reject = true.
  void SetRejectConnectIf(std::function<bool(const wsproto::WebsocketEventRequest&)> rule) {
    std::lock_guard lock(mu_);
    reject_rule_ = std::move(rule);
  }
  // Registered, yet delivery of `type` fails with `error` (a stream that died).
  void SetDeliveryFailure(EventType type, std::string error) {
    std::lock_guard lock(mu_);
    failures_[type] = std::move(error);
  }
  // Answers to `type` come this much later.
  void SetAnswerDelay(EventType type, std::chrono::milliseconds delay) {
    std::lock_guard lock(mu_);
    delays_[type] = delay;
  }

  // Answers to `type` wait until ReleaseAnswers(): a gate the test opens.
  void HoldAnswers(EventType type) {
    std::lock_guard lock(mu_);
    held_.insert(type);
  }
  void ReleaseAnswers(EventType type) {
    std::lock_guard lock(mu_);
    held_.erase(type);
    cv_.notify_all();
  }

  // --- EventSink ---

  void Deliver(EventType type, wsproto::WebsocketEventRequest event, Callback done) override {
    std::lock_guard lock(mu_);
    const std::string id = event.connection_id();
    if (type == EventType::Message) {
      if (in_flight_[id]) overlap_on_one_connection_ = true;
      in_flight_[id] = true;
      ++messages_in_flight_;
      max_messages_in_flight_ = std::max(max_messages_in_flight_, messages_in_flight_);
    }
    events_.push_back({type, std::move(event)});

    DeliveryResult result;
    if (!registered_.contains(type)) {
      result.error = "no handler registered";
    } else if (auto failure = failures_.find(type); failure != failures_.end()) {
      result.error = failure->second;
    } else {
      result.delivered = true;
      result.reject =
          type == EventType::Connect && reject_rule_ && reject_rule_(events_.back().request);
    }
    auto delay = delays_.contains(type) ? delays_[type] : 0ms;
    pending_.push_back(
        {std::chrono::steady_clock::now() + delay, type, id, std::move(done), std::move(result)});
    cv_.notify_all();
  }

  std::vector<EventType> RegisteredTypes(const std::string& /*socket*/) const override {
    std::lock_guard lock(mu_);
    return {registered_.begin(), registered_.end()};
  }

  // --- Observations ---

  // How many `done` callbacks have returned.
  std::size_t AnswersGiven() const {
    std::lock_guard lock(mu_);
    return answers_given_;
  }

  std::vector<Event> Events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

  std::size_t Count(EventType type, const std::string& connection_id = "") const {
    std::lock_guard lock(mu_);
    return std::count_if(events_.begin(), events_.end(), [&](const Event& e) {
      return e.type == type &&
             (connection_id.empty() || e.request.connection_id() == connection_id);
    });
  }

  // Connection ids of the Connect events, in arrival order.
  std::vector<std::string> ConnectIds() const {
    std::vector<std::string> ids;
    for (const auto& e : Events()) {
      if (e.type == EventType::Connect) ids.push_back(e.request.connection_id());
    }
    return ids;
  }

  std::vector<std::string> Messages(const std::string& connection_id) const {
    std::vector<std::string> bodies;
    for (const auto& e : Events()) {
      if (e.type == EventType::Message && e.request.connection_id() == connection_id) {
        bodies.push_back(e.request.message().body());
      }
    }
    return bodies;
  }

  bool OverlapOnOneConnection() const {
    std::lock_guard lock(mu_);
    return overlap_on_one_connection_;
  }
  int MaxMessagesInFlight() const {
    std::lock_guard lock(mu_);
    return max_messages_in_flight_;
  }

  // Polls `condition` until it holds or `timeout` passes.
  // The deadline only bounds a hang: a starved machine may take long.
  static bool WaitUntil(const std::function<bool()>& condition,
                        std::chrono::milliseconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }

 private:
  struct Pending {
    std::chrono::steady_clock::time_point due;
    EventType type;
    std::string connection_id;
    Callback done;
    DeliveryResult result;
  };

  void AnswerLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (pending_.empty()) {
        if (stopping_) return;
        cv_.wait(lock);
        continue;
      }
      auto next = std::min_element(pending_.begin(), pending_.end(),
                                   [this](const Pending& a, const Pending& b) {
                                     // Held answers go last.
                                     const bool ha = held_.contains(a.type);
                                     const bool hb = held_.contains(b.type);
                                     return ha != hb ? hb : a.due < b.due;
                                   });
      if (!stopping_ && held_.contains(next->type)) {
        cv_.wait(lock);
        continue;
      }
      // On shutdown every remaining answer goes out at once: the contract is
      // that `done` is called exactly once.
      if (!stopping_ && next->due > std::chrono::steady_clock::now()) {
        const auto due = next->due;  // a copy: Deliver may grow pending_ meanwhile
        cv_.wait_until(lock, due);
        continue;
      }
      Pending answer = std::move(*next);
      pending_.erase(next);
      if (answer.type == EventType::Message) {
        in_flight_[answer.connection_id] = false;
        --messages_in_flight_;
      }
      lock.unlock();
      answer.done(std::move(answer.result));
      lock.lock();
      ++answers_given_;
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<EventType> registered_{EventType::Connect, EventType::Disconnect, EventType::Message};
  std::function<bool(const wsproto::WebsocketEventRequest&)> reject_rule_;
  std::map<EventType, std::string> failures_;
  std::map<EventType, std::chrono::milliseconds> delays_;
  std::set<EventType> held_;
  std::size_t answers_given_ = 0;
  std::vector<Event> events_;
  std::vector<Pending> pending_;
  std::map<std::string, bool> in_flight_;
  int messages_in_flight_ = 0;
  int max_messages_in_flight_ = 0;
  bool overlap_on_one_connection_ = false;
  bool stopping_ = false;
  std::thread answerer_;  // last: started once everything above exists
};

// A Gateway on ephemeral ports with socket "public" and a TestSink. The sink
// is declared first so it outlives the gateway (whose Shutdown still delivers
// Disconnects).
class GatewayTest : public ::testing::Test {
 protected:
  using WsClient = nitric::testing::WsClient;

  static GatewayOptions TestOptions() {
    GatewayOptions options;
    options.base_port = 0;  // other suites run concurrently: never a fixed port
    return options;
  }

  void StartGateway(GatewayOptions options = TestOptions()) {
    gateway_ = std::make_unique<Gateway>(std::move(options), sink_);
    const grpc::Status status = gateway_->EnsureSocket("public", &url_);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  struct Connected {
    std::unique_ptr<WsClient> client;
    std::string id;  // the connection id the gateway gave it
  };

  // Connects one client (query like "?a=1") and finds its connection id: the
  // Connect event is recorded before the upgrade completes, and clients
  // connect one at a time, so it is the newest one.
  Connected ConnectClient(std::string_view query = "",
                          const nitric::testing::WsClientOptions& options = {}) {
    auto result = WsClient::Connect(url_ + "/" + std::string(query), options);
    EXPECT_TRUE(result.client) << result.error << " (HTTP " << result.http_status << ")";
    const auto ids = sink_.ConnectIds();
    return {std::move(result.client), ids.empty() ? std::string() : ids.back()};
  }

  bool WaitForConnectionCount(std::size_t n) {
    return TestSink::WaitUntil([&] { return gateway_->ConnectionCount("public") == n; });
  }

  TestSink sink_;
  std::unique_ptr<Gateway> gateway_;
  std::string url_;
};

}  // namespace nitric::devserver::testing
