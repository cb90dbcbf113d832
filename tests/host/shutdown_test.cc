// Graceful shutdown, in-process with the real session and dispatcher against
// a dev membrane: events whose handlers are running when the stop begins are
// still answered. Connect events make it visible: a connect that is answered
// completes the client's upgrade (101); an unanswered one would not.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "host/dispatch/dispatcher.h"
#include "host/membrane/channel.h"
#include "host/membrane/completion_queue_thread.h"
#include "host/membrane/session.h"
#include "support/membrane_fixture.h"
#include "support/ws_client.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;

// Accepts every connect after `delay`; counts handlers running.
class SlowGeneration : public Generation {
 public:
  explicit SlowGeneration(std::chrono::milliseconds delay) : delay_(delay) {
    declarations_.sockets = {"slow"};
  }
  bool Handle(wsproto::WebsocketEventType, const wsproto::WebsocketEventRequest&) const override {
    ++running_;
    std::this_thread::sleep_for(delay_);
    --running_;
    return false;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return 1; }
  int running() const { return running_; }

 private:
  const std::chrono::milliseconds delay_;
  Declarations declarations_;
  mutable std::atomic<int> running_{0};
};

TEST(ShutdownTest, RunningEventsAreAnsweredBeforeTheStreamsClose) {
  testing::MembraneFixture membrane;
  ASSERT_NO_FATAL_FAILURE(membrane.Start());
  auto generation = std::make_shared<SlowGeneration>(500ms);
  GenerationSlot slot;
  slot.Publish(generation);
  Dispatcher dispatcher(8, &slot);
  CompletionQueueThread queue("test-grpc");
  SessionOptions options;
  options.address = membrane.grpc_address();
  MembraneSession session(OpenMembraneChannel(membrane.grpc_address()), &dispatcher, &queue,
                          options, nullptr, nullptr);
  session.Want(generation->declarations());
  ASSERT_TRUE(session.WaitReady(10s));
  const std::string url = *membrane.membrane().SocketUrl("slow") + "/";

  constexpr int kClients = 6;
  std::vector<int> status(kClients, 0);
  std::vector<std::thread> clients;
  std::vector<std::unique_ptr<testing::WsClient>> connected(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto r = testing::WsClient::Connect(url);
      status[i] = r.http_status;
      connected[i] = std::move(r.client);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (generation->running() < kClients && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(generation->running(), kClients);

  // The host's shutdown sequence (app/host_app.cc).
  session.StopTakingEvents();
  dispatcher.Drain();
  session.Close(5s);

  for (auto& c : clients) c.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(status[i], 101) << "client " << i;
  EXPECT_EQ(dispatcher.stats().handled, uint64_t{kClients});
}

}  // namespace
}  // namespace nitric::host
