// SendBatch against a membrane client whose sends complete later, on another
// thread, in any order: the bounds it promises (send_batch.h).
#include "host/plugins/send_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "host/base/membrane_client.h"
#include "host/base/poller.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;

// The membrane calls these tests do not make: each succeeds at once.
class PipelineOnlyMembrane : public MembraneClient {
 public:
  bool PipelinesSends() const override { return true; }
  Status Send(std::string_view, std::string_view, std::string_view) override { return Status(); }
  Status Close(std::string_view, std::string_view) override { return Status(); }
  Status SocketUrl(std::string_view, std::string*) override { return Status(); }
  Status KvGet(std::string_view, std::string_view, std::string*) override { return Status(); }
  Status KvSet(std::string_view, std::string_view, std::string_view) override { return Status(); }
  Status KvDelete(std::string_view, std::string_view) override { return Status(); }
  Status KvKeys(std::string_view, std::string_view, std::vector<std::string>*) override {
    return Status();
  }
};

// Completes each send after a short while from its own thread, newest first,
// recording how many were in flight at once, overall and per connection.
class SlowMembrane final : public PipelineOnlyMembrane {
 public:
  ~SlowMembrane() override {
    for (auto& t : completers_) t.join();
  }
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

// Holds every send until the test completes it, and records how many were in
// flight when each started. As the handler thread's poller (host/base/poller.h)
// it also sees each time that thread is about to block on the batch.
class GatedMembrane final : public PipelineOnlyMembrane, public Poller {
 public:
  void SendAsync(std::string_view, std::string_view, std::string_view, SendDone done) override {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_at_start_.push_back(static_cast<int>(held_.size()));
    held_.push_back(std::move(done));
    changed_.notify_all();
  }
  bool Polling(const void*) const override { return true; }
  // SendBatch calls it (through AboutToBlock) holding the lock its
  // completions take: the handler is waiting before any completion counts.
  void HandOff(const void*) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++blocks_;
    changed_.notify_all();
  }

  // Waits until `n` sends started or `timeout` passed; returns how many did.
  size_t WaitForStarts(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, timeout, [&] { return in_flight_at_start_.size() >= n; });
    return in_flight_at_start_.size();
  }
  // Waits until the handler announced that it blocks; false after `timeout`.
  bool WaitForBlock(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return blocks_ > 0; });
  }
  // Completes the oldest held send; false when none is held.
  bool CompleteOldest() {
    SendDone done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_.empty()) return false;
      done = std::move(held_.front());
      held_.pop_front();
    }
    done(Status());
    return true;
  }
  std::vector<int> InFlightAtStart() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_flight_at_start_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<SendDone> held_;
  std::vector<int> in_flight_at_start_;
  int blocks_ = 0;
};

TEST(SendBatchTest, AtTheBoundTheHandlerResumesOnlyOnceHalfItsSendsCompleted) {
  constexpr size_t kSends = 100;
  GatedMembrane membrane;
  SendBatch batch;
  std::atomic<bool> finished{false};
  std::unique_ptr<SendBatch::Failure> failure;
  std::thread handler([&] {
    CurrentPollerTurn() = PollerTurn{&membrane, &membrane};
    for (size_t i = 0; i < kSends; ++i) batch.Start(&membrane, "s", std::to_string(i), "x");
    failure = batch.Finish();
    finished = true;
  });
  // Nothing completes until the handler reached the bound and waits there.
  ASSERT_EQ(membrane.WaitForStarts(SendBatch::kMaxInFlight, 60s),
            static_cast<size_t>(SendBatch::kMaxInFlight));
  ASSERT_TRUE(membrane.WaitForBlock(60s));
  // One completion at a time; after each, a handler that resumed too early
  // has a moment to start its next send (a correct one starts nothing until
  // kResumeAt, so the wait only costs time).
  size_t started = SendBatch::kMaxInFlight;
  while (!finished) {
    if (!membrane.CompleteOldest()) {
      std::this_thread::yield();  // the handler is between two sends
    } else if (started < kSends) {
      started = membrane.WaitForStarts(started + 1, 5ms);
    }
  }
  handler.join();
  EXPECT_EQ(failure, nullptr);
  const std::vector<int> seen = membrane.InFlightAtStart();
  ASSERT_EQ(seen.size(), kSends);
  EXPECT_EQ(seen[SendBatch::kMaxInFlight - 1], SendBatch::kMaxInFlight - 1);
  EXPECT_LE(seen[SendBatch::kMaxInFlight], SendBatch::kResumeAt)
      << "the first send after the bound started with " << seen[SendBatch::kMaxInFlight]
      << " in flight";
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
