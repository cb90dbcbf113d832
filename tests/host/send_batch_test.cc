// SendBatch against a membrane client whose sends complete later, on another
// thread, in any order: the bounds it promises (send_batch.h).
#include "host/plugins/send_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "host/base/membrane_client.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;

// Completes each send after a short while from its own thread, newest first,
// recording how many were in flight at once, overall and per connection.
class SlowMembrane final : public MembraneClient {
 public:
  ~SlowMembrane() override {
    for (auto& t : completers_) t.join();
  }
  bool PipelinesSends() const override { return true; }
  void SendAsync(std::string_view, std::string_view connection, std::string_view,
                 SendDone done) override {
    const std::string target(connection);
    {
      std::lock_guard<std::mutex> lock(mu_);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      max_per_target_ = std::max(max_per_target_, ++per_target_[target]);
      order_[target].push_back(sent_++);
    }
    completers_.emplace_back([this, target, done = std::move(done)] {
      std::this_thread::sleep_for(2ms);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --in_flight_;
        --per_target_[target];
      }
      done(target == "gone" ? Status(NITRIC_ERR_NOT_FOUND, "no such connection") : Status());
    });
  }
  Status Send(std::string_view, std::string_view, std::string_view) override { return Status(); }
  Status Close(std::string_view, std::string_view) override { return Status(); }
  Status SocketUrl(std::string_view, std::string*) override { return Status(); }
  Status KvGet(std::string_view, std::string_view, std::string*) override { return Status(); }
  Status KvSet(std::string_view, std::string_view, std::string_view) override { return Status(); }
  Status KvDelete(std::string_view, std::string_view) override { return Status(); }
  Status KvKeys(std::string_view, std::string_view, std::vector<std::string>*) override {
    return Status();
  }

  int in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_flight_;
  }

  std::mutex mu_;
  int in_flight_ = 0, max_in_flight_ = 0, max_per_target_ = 0, sent_ = 0;
  std::map<std::string, int> per_target_;
  std::map<std::string, std::deque<int>> order_;
  std::vector<std::thread> completers_;
};

TEST(SendBatchTest, BoundsWhatIsInFlightAndSerialisesSendsToOneConnection) {
  SlowMembrane membrane;
  SendBatch batch;
  for (int i = 0; i < 300; ++i)
    batch.Start(&membrane, "s", std::string("c").append(std::to_string(i % 100)), "x");
  for (int i = 0; i < 20; ++i) batch.Start(&membrane, "s", "same", "x");
  EXPECT_EQ(batch.Finish(), nullptr);
  EXPECT_EQ(membrane.in_flight(), 0) << "Finish returns only when every send completed";
  EXPECT_LE(membrane.max_in_flight_, SendBatch::kMaxInFlight);
  EXPECT_GT(membrane.max_in_flight_, 1) << "sends to different connections overlap";
  EXPECT_EQ(membrane.max_per_target_, 1) << "a connection never has two sends in flight";
}

TEST(SendBatchTest, FinishReportsTheFirstFailureAndTheBatchCanBeReused) {
  SlowMembrane membrane;
  SendBatch batch;
  batch.Start(&membrane, "s", "a", "x");
  batch.Start(&membrane, "s", "gone", "x");
  batch.Start(&membrane, "s", "b", "x");
  auto failure = batch.Finish();
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->status.code(), NITRIC_ERR_NOT_FOUND);
  EXPECT_EQ(failure->socket, "s");
  EXPECT_EQ(failure->connection, "gone");
  batch.Start(&membrane, "s", "a", "x");
  EXPECT_EQ(batch.Finish(), nullptr) << "a failure is reported once";
}

TEST(SendBatchTest, IsCurrentOnlyOnItsThreadAndOnlyInItsScope) {
  EXPECT_EQ(SendBatch::Current(), nullptr);
  SendBatch batch;
  {
    SendBatch::Scope scope(&batch);
    EXPECT_EQ(SendBatch::Current(), &batch);
    SendBatch* elsewhere = &batch;
    std::thread([&] { elsewhere = SendBatch::Current(); }).join();
    EXPECT_EQ(elsewhere, nullptr) << "a plugin's own thread sends blocking";
  }
  EXPECT_EQ(SendBatch::Current(), nullptr);
}

}  // namespace
}  // namespace nitric::host
