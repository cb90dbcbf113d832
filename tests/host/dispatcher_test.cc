// The dispatcher on its own: per-connection order, parallelism across
// connections, exactly one answer per event, draining, generation swaps.
#include "host/dispatch/dispatcher.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace nitric::host {
namespace {

using namespace std::chrono_literals;

// Collects answers, as a stream would write them.
class RecordingReplier : public EventReplier {
 public:
  void Reply(std::string id, bool reject) override {
    std::lock_guard<std::mutex> lock(mu_);
    answers_[id].push_back(reject);
  }
  std::map<std::string, std::vector<bool>> answers() {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<bool>> answers_;
};

// Records per connection the messages seen and whether two handlers of it ran
// at once; can hold handlers at a gate the test opens; rejects connects whose connection id starts
// with "bad".
class RecordingGeneration : public Generation {
 public:
  explicit RecordingGeneration(std::chrono::microseconds work = 0us, uint64_t number = 1)
      : work_(work), number_(number) {}

  HandleResult Handle(wsproto::WebsocketEventType type,
                      const wsproto::WebsocketEventRequest& event) const override {
    {
      // Held handlers say that they started, then wait for Release().
      std::unique_lock<std::mutex> lock(hold_mu_);
      ++started_;
      hold_cv_.notify_all();
      hold_cv_.wait(lock, [this] { return !held_; });
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      PerConnection& c = connections_[event.connection_id()];
      if (++c.running > 1) c.overlapped = true;
      if (type == wsproto::Message) c.messages.push_back(event.message().body());
      c.generations.push_back(number_);
    }
    if (work_ > 0us) std::this_thread::sleep_for(work_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --connections_[event.connection_id()].running;
    }
    return type == wsproto::Connect && event.connection_id().rfind("bad", 0) == 0
               ? HandleResult::kRejected
               : HandleResult::kAccepted;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return number_; }

  struct PerConnection {
    int running = 0;
    bool overlapped = false;
    std::vector<std::string> messages;
    std::vector<uint64_t> generations;
  };
  std::map<std::string, PerConnection> connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_;
  }

  // From now on handlers wait in Handle() until Release().
  void Hold() {
    std::lock_guard<std::mutex> lock(hold_mu_);
    held_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(hold_mu_);
    held_ = false;
    hold_cv_.notify_all();
  }
  // Waits until `n` handlers started; the deadline only bounds a hang.
  bool WaitStarted(int n, std::chrono::seconds deadline = 60s) const {
    std::unique_lock<std::mutex> lock(hold_mu_);
    return hold_cv_.wait_for(lock, deadline, [&] { return started_ >= n; });
  }

 private:
  const std::chrono::microseconds work_;
  const uint64_t number_;
  Declarations declarations_;
  mutable std::mutex mu_;
  mutable std::map<std::string, PerConnection> connections_;
  mutable std::mutex hold_mu_;
  mutable std::condition_variable hold_cv_;
  mutable int started_ = 0;  // guarded by hold_mu_
  bool held_ = false;        // guarded by hold_mu_
};

// prefix + n (GCC 12 warns falsely about "literal" + std::to_string at -O3).
std::string Name(std::string prefix, int n) {
  prefix.append(std::to_string(n));
  return prefix;
}

// Fills `event` as a stream would after reading it.
void Fill(Event* event, const std::string& id, const std::string& connection,
          wsproto::WebsocketEventType type, const std::string& body,
          std::shared_ptr<EventReplier> replier) {
  wsproto::WebsocketEventRequest* request = event->message.mutable_websocket_event_request();
  event->message.set_id(id);
  request->set_socket_name("public");
  request->set_connection_id(connection);
  if (type == wsproto::Connect) request->mutable_connection();
  if (type == wsproto::Disconnect) request->mutable_disconnection();
  if (type == wsproto::Message) request->mutable_message()->set_body(body);
  event->type = type;
  event->reply_to = std::move(replier);
}

TEST(DispatcherTest, ConnectionsRunInOrderOneAtATimeAndInParallel) {
  auto generation = std::make_shared<RecordingGeneration>(50us);
  GenerationSlot slot;
  slot.Publish(generation);
  auto replier = std::make_shared<RecordingReplier>();
  constexpr int kConnections = 50;
  constexpr int kMessages = 20;
  {
    Dispatcher dispatcher(4, &slot);
    // Two submitters, like two streams' callback threads; each connection's
    // events come from one of them, in order.
    auto submit = [&](int first) {
      Event* event = dispatcher.NewEvent();
      for (int m = 0; m < kMessages; ++m) {
        for (int c = first; c < kConnections; c += 2) {
          const std::string conn = Name("c", c);
          Fill(event, Name(conn + "/", m), conn, wsproto::Message, std::to_string(m), replier);
          event = dispatcher.Submit(event);
        }
      }
      dispatcher.Recycle(event);
    };
    generation->Hold();
    std::thread a(submit, 0), b(submit, 1);
    // Two handlers inside Handle() at once, neither able to leave: events of
    // different connections run in parallel.
    EXPECT_TRUE(generation->WaitStarted(2)) << "only one handler ran at a time";
    generation->Release();
    a.join();
    b.join();
    dispatcher.Drain();
    EXPECT_EQ(dispatcher.stats().handled, uint64_t{kConnections * kMessages});
  }
  const auto connections = generation->connections();
  ASSERT_EQ(connections.size(), size_t{kConnections});
  for (const auto& [id, c] : connections) {
    EXPECT_FALSE(c.overlapped) << id;
    ASSERT_EQ(c.messages.size(), size_t{kMessages}) << id;
    for (int m = 0; m < kMessages; ++m) EXPECT_EQ(c.messages[m], std::to_string(m)) << id;
  }
  const auto answers = replier->answers();
  EXPECT_EQ(answers.size(), size_t{kConnections * kMessages});
  for (const auto& [id, rejects] : answers) EXPECT_EQ(rejects.size(), 1u) << id;
}

// Every handler blocks until the test opens the gate.
class GatedGeneration : public Generation {
 public:
  HandleResult Handle(wsproto::WebsocketEventType,
                      const wsproto::WebsocketEventRequest&) const override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
    return HandleResult::kAccepted;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return 1; }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  Declarations declarations_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool open_ = false;
};

TEST(DispatcherTest, SubmitDoesNotWaitForBlockedHandlers) {
  auto generation = std::make_shared<GatedGeneration>();
  GenerationSlot slot;
  slot.Publish(generation);
  auto replier = std::make_shared<RecordingReplier>();
  Dispatcher dispatcher(2, &slot);
  // Every handler stays blocked until Open(), so a Submit that waited for a
  // handler would never return: the submitter runs on its own thread and the
  // deadline only bounds that hang (it is not a speed limit).
  auto submitted = std::async(std::launch::async, [&] {
    Event* event = dispatcher.NewEvent();
    for (int i = 0; i < 1000; ++i) {
      Fill(event, std::to_string(i), Name("c", i % 10), wsproto::Message, "x", replier);
      event = dispatcher.Submit(event);
    }
    dispatcher.Recycle(event);
  });
  const bool returned = submitted.wait_for(120s) == std::future_status::ready;
  EXPECT_TRUE(returned) << "Submit waited for a blocked handler";
  EXPECT_TRUE(replier->answers().empty());
  generation->Open();
  submitted.get();
  dispatcher.Drain();
  EXPECT_EQ(replier->answers().size(), 1000u);
}

TEST(DispatcherTest, RejectIsAnsweredForConnectAndAcceptOtherwise) {
  auto generation = std::make_shared<RecordingGeneration>();
  GenerationSlot slot;
  slot.Publish(generation);
  auto replier = std::make_shared<RecordingReplier>();
  {
    Dispatcher dispatcher(2, &slot);
    Event* event = dispatcher.NewEvent();
    Fill(event, "1", "bad-1", wsproto::Connect, "", replier);
    event = dispatcher.Submit(event);
    Fill(event, "2", "good-1", wsproto::Connect, "", replier);
    event = dispatcher.Submit(event);
    Fill(event, "3", "bad-1", wsproto::Message, "hi", replier);
    event = dispatcher.Submit(event);
    dispatcher.Recycle(event);
    dispatcher.Drain();
  }
  const auto answers = replier->answers();
  EXPECT_EQ(answers.at("1"), std::vector<bool>{true});
  EXPECT_EQ(answers.at("2"), std::vector<bool>{false});
  EXPECT_EQ(answers.at("3"), std::vector<bool>{false});
}

TEST(DispatcherTest, NoGenerationAcceptsEverything) {
  GenerationSlot slot;
  auto replier = std::make_shared<RecordingReplier>();
  {
    Dispatcher dispatcher(1, &slot);
    Event* event = dispatcher.NewEvent();
    Fill(event, "1", "bad-1", wsproto::Connect, "", replier);
    dispatcher.Recycle(dispatcher.Submit(event));
    dispatcher.Drain();
  }
  EXPECT_EQ(replier->answers().at("1"), std::vector<bool>{false});
}

TEST(DispatcherTest, DrainAnswersEverythingSubmittedAndDropsLaterEvents) {
  auto generation = std::make_shared<RecordingGeneration>(2ms);
  GenerationSlot slot;
  slot.Publish(generation);
  auto replier = std::make_shared<RecordingReplier>();
  Dispatcher dispatcher(3, &slot);
  Event* event = dispatcher.NewEvent();
  for (int i = 0; i < 60; ++i) {
    Fill(event, std::to_string(i), Name("c", i % 6), wsproto::Message, "x", replier);
    event = dispatcher.Submit(event);
  }
  dispatcher.Drain();
  EXPECT_EQ(replier->answers().size(), 60u);
  Fill(event, "late", "c1", wsproto::Message, "x", replier);
  event = dispatcher.Submit(event);
  dispatcher.Recycle(event);
  EXPECT_EQ(replier->answers().count("late"), 0u);
  EXPECT_EQ(dispatcher.stats().dropped, 1u);
}

TEST(DispatcherTest, EventsStartedBeforeASwapFinishOnTheirGeneration) {
  auto first = std::make_shared<RecordingGeneration>(0us, 1);
  auto second = std::make_shared<RecordingGeneration>(0us, 2);
  first->Hold();
  RecordingGeneration* held = first.get();
  GenerationSlot slot;
  slot.Publish(first);
  auto replier = std::make_shared<RecordingReplier>();
  std::weak_ptr<RecordingGeneration> first_alive = first;
  {
    Dispatcher dispatcher(2, &slot);
    Event* event = dispatcher.NewEvent();
    Fill(event, "1", "c1", wsproto::Message, "a", replier);
    event = dispatcher.Submit(event);
    // The dispatcher picks the generation when a worker starts the event.
    if (!held->WaitStarted(1)) {
      held->Release();
      FAIL() << "event 1 never started";
    }
    slot.Publish(second);
    first.reset();
    EXPECT_FALSE(first_alive.expired()) << "a running event holds its generation";
    Fill(event, "2", "c1", wsproto::Message, "b", replier);
    event = dispatcher.Submit(event);
    dispatcher.Recycle(event);
    held->Release();  // alive: event 1 still runs on it
    dispatcher.Drain();
  }
  EXPECT_TRUE(first_alive.expired()) << "released once its last event finished";
  EXPECT_EQ(second->connections().at("c1").messages, std::vector<std::string>{"b"});
  EXPECT_EQ(replier->answers().size(), 2u);
}

}  // namespace
}  // namespace nitric::host
