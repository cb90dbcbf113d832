// Order and parallelism through the real path: 50 websocket clients send 100
// numbered messages each to the `order` test plugin, which checks per
// connection that numbers arrive in order and one at a time, and counts how
// many handlers ran at once over all connections.
#include <atomic>
#include <thread>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

class OrderTest : public HostTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("order")));
    ASSERT_NO_FATAL_FAILURE(StartHost());
  }
};

// The value of "key":N in a flat JSON object, or -1.
long long Field(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = json.find(needle);
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + needle.size()));
}

TEST_F(OrderTest, EachConnectionInOrderOneAtATimeConnectionsInParallel) {
  constexpr int kConnections = 50;
  constexpr int kMessages = 100;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.push_back(Connect("order"));
    ASSERT_TRUE(clients.back());
  }
  // All clients send their whole sequence at once, from a few threads.
  std::vector<std::thread> senders;
  std::atomic<int> send_failures{0};
  for (int t = 0; t < 5; ++t) {
    senders.emplace_back([&, t] {
      for (int m = 0; m < kMessages; ++m) {
        for (int c = t; c < kConnections; c += 5) {
          if (!clients[c]->SendText(std::to_string(m))) ++send_failures;
        }
      }
    });
  }
  for (auto& s : senders) s.join();
  ASSERT_EQ(send_failures, 0);

  long long max_concurrent = 0;
  for (int c = 0; c < kConnections; ++c) {
    ASSERT_TRUE(clients[c]->SendText("report"));
    auto report = clients[c]->Receive(20s);
    ASSERT_TRUE(report) << "connection " << c << " sent no report";
    EXPECT_EQ(Field(report->data, "seen"), kMessages) << report->data;
    EXPECT_EQ(Field(report->data, "order_violations"), 0) << report->data;
    EXPECT_EQ(Field(report->data, "per_conn_violations"), 0) << report->data;
    max_concurrent = std::max(max_concurrent, Field(report->data, "max_concurrent"));
  }
  EXPECT_GE(max_concurrent, 2) << "handlers of different connections never overlapped";
}

}  // namespace
}  // namespace nitric::testing
