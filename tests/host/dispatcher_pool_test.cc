// The dispatcher's isolation machinery on its own
// (docs/ARCHITECTURE.md#isolation): the pool grows while every worker is
// blocked and shrinks back, a handler past the timeout
// is answered by the host exactly once and its connection closed, a full
// connection queue closes that connection only, and the total bound tells
// readers to pause and resume. Handlers block on gates the test opens; every
// wait is "until this happened" with a deadline that only bounds a hang.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "host/dispatch/dispatcher.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;

// Generous: only bounds a hang.
constexpr auto kDeadline = 20s;

// Waits until `done()` holds under `mu`, notified through `cv`.
bool WaitUntil(std::mutex& mu, std::condition_variable& cv, const std::function<bool()>& done) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, kDeadline, done);
}

// Polls `done()` (for state the dispatcher owns, such as its stats); yields
// between looks. Only bounded by the deadline.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);  // a polling interval, not a wait for an outcome
  }
  return true;
}

// prefix + n (GCC 12 warns falsely about "literal" + std::to_string at -O3).
std::string Name(std::string prefix, int n) {
  prefix.append(std::to_string(n));
  return prefix;
}

class Answers : public EventReplier {
 public:
  void Reply(std::string id, bool reject) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      answers[id].push_back(reject);
    }
    cv.notify_all();
  }
  bool WaitFor(const std::string& id) {
    return WaitUntil(mu, cv, [&] { return answers.count(id) != 0; });
  }
  std::map<std::string, std::vector<bool>> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return answers;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<bool>> answers;  // GUARDED_BY(mu)
};

// Events whose message body (or, for a connect, connection id) starts with
// "block" wait for the gate; everything is recorded per connection.
class GatedGeneration : public Generation {
 public:
  HandleResult Handle(wsproto::WebsocketEventType type,
                      const wsproto::WebsocketEventRequest& event) const override {
    if (HandlerProgress* progress = t_handler_progress) {
      progress->plugin.store(InternPluginName("gated"), std::memory_order_release);
    }
    const bool block = type == wsproto::Message   ? event.message().body().rfind("block", 0) == 0
                       : type == wsproto::Connect ? event.connection_id().rfind("block", 0) == 0
                                                  : false;
    std::unique_lock<std::mutex> lock(mu);
    seen[event.connection_id()].push_back(type == wsproto::Message   ? event.message().body()
                                          : type == wsproto::Connect ? "<connect>"
                                                                     : "<disconnect>");
    if (block) {
      ++blocked;
      max_blocked = std::max(max_blocked, blocked);
      cv.notify_all();
      cv.wait(lock, [this] { return open; });
      --blocked;
    }
    return HandleResult::kAccepted;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return 1; }

  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  bool WaitBlocked(int n) {
    return WaitUntil(mu, cv, [&] { return blocked >= n; });
  }

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  mutable int blocked = 0;                                       // GUARDED_BY(mu)
  mutable int max_blocked = 0;                                   // GUARDED_BY(mu)
  bool open = false;                                             // GUARDED_BY(mu)
  mutable std::map<std::string, std::vector<std::string>> seen;  // GUARDED_BY(mu)

 private:
  Declarations declarations_;
};

class Closes {
 public:
  Dispatcher::CloseFn Fn() {
    return [this](const std::string& socket, const std::string& connection) {
      {
        std::lock_guard<std::mutex> lock(mu);
        closed.insert(socket + "/" + connection);
      }
      cv.notify_all();
    };
  }
  bool WaitFor(const std::string& key) {
    return WaitUntil(mu, cv, [&] { return closed.count(key) != 0; });
  }
  std::set<std::string> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return closed;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> closed;  // GUARDED_BY(mu)
};

struct Fixture {
  explicit Fixture(Dispatcher::Options options) {
    slot.Publish(generation);
    dispatcher = std::make_unique<Dispatcher>(options, &slot, closes.Fn());
  }
  ~Fixture() {
    generation->Open();
    dispatcher.reset();
  }

  void Submit(const std::string& id, const std::string& connection,
              wsproto::WebsocketEventType type, const std::string& body = "") {
    Event* event = dispatcher->NewEvent();
    wsproto::WebsocketEventRequest* request = event->message.mutable_websocket_event_request();
    event->message.set_id(id);
    request->set_socket_name("public");
    request->set_connection_id(connection);
    if (type == wsproto::Connect) request->mutable_connection();
    if (type == wsproto::Disconnect) request->mutable_disconnection();
    if (type == wsproto::Message) request->mutable_message()->set_body(body);
    event->type = type;
    event->reply_to = answers;
    dispatcher->Recycle(dispatcher->Submit(event));
  }

  std::shared_ptr<GatedGeneration> generation = std::make_shared<GatedGeneration>();
  GenerationSlot slot;
  std::shared_ptr<Answers> answers = std::make_shared<Answers>();
  Closes closes;
  std::unique_ptr<Dispatcher> dispatcher;
};

TEST(DispatcherPoolTest, GrowsWhileEveryWorkerIsBlockedAndShrinksBackWhenIdle) {
  Dispatcher::Options options;
  options.workers = 1;
  options.max_workers = 3;
  options.idle_retire = 20ms;
  Fixture f(options);
  EXPECT_EQ(f.dispatcher->stats().workers, 1);

  // Four blocked connections on a pool of one: three can run (the maximum),
  // the fourth waits.
  for (int i = 0; i < 4; ++i) {
    f.Submit(Name("m", i), Name("c", i), wsproto::Message, "block");
  }
  ASSERT_TRUE(f.generation->WaitBlocked(3)) << "the pool did not grow past its base size";
  EXPECT_EQ(f.dispatcher->stats().workers, 3);

  f.generation->Open();
  ASSERT_TRUE(f.answers->WaitFor("m3"));
  ASSERT_TRUE(Eventually([&] { return f.dispatcher->stats().workers == 1; }))
      << "the pool did not shrink back; workers = " << f.dispatcher->stats().workers;
  {
    std::lock_guard<std::mutex> lock(f.generation->mu);
    EXPECT_LE(f.generation->max_blocked, 3) << "more workers than max_workers ran at once";
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(f.answers->Snapshot()[Name("m", i)].size(), 1u);
}

TEST(DispatcherPoolTest, HandlerPastTheTimeoutIsAnsweredOnceAndItsConnectionClosed) {
  Dispatcher::Options options;
  options.workers = 1;
  options.max_workers = 4;
  options.handler_timeout = 20ms;
  Fixture f(options);

  f.Submit("m1", "c1", wsproto::Message, "block");
  f.Submit("m2", "c1", wsproto::Message, "after");  // queued behind the stuck one
  f.Submit("k1", "blockconnect", wsproto::Connect);
  ASSERT_TRUE(f.answers->WaitFor("m1")) << "the stuck message was not answered by the host";
  ASSERT_TRUE(f.answers->WaitFor("k1")) << "the stuck connect was not answered by the host";
  ASSERT_TRUE(f.closes.WaitFor("public/c1"));
  {
    auto answers = f.answers->Snapshot();
    EXPECT_EQ(answers["m1"], std::vector<bool>{false});
    EXPECT_EQ(answers["k1"], std::vector<bool>{true}) << "a connect past the timeout is rejected";
    EXPECT_EQ(answers.count("m2"), 0u) << "a later event of the connection overtook the stuck one";
  }
  EXPECT_EQ(f.closes.Snapshot().count("public/blockconnect"), 0u)
      << "a rejected connect has no connection to close";

  // The stuck worker does not count: another connection still runs.
  f.Submit("x1", "c2", wsproto::Message, "free");
  ASSERT_TRUE(f.answers->WaitFor("x1"));
  // Both stuck handlers are listed (x1's worker may still be finishing up).
  std::set<std::string> stuck;
  for (const auto& h : f.dispatcher->Running()) {
    if (!h.timed_out) continue;
    EXPECT_EQ(h.plugin, "gated");
    EXPECT_EQ(h.socket, "public");
    stuck.insert(h.connection);
  }
  EXPECT_EQ(stuck, (std::set<std::string>{"blockconnect", "c1"}));

  f.generation->Open();
  ASSERT_TRUE(f.answers->WaitFor("m2"));
  f.dispatcher->Drain();
  auto answers = f.answers->Snapshot();
  EXPECT_EQ(answers["m1"].size(), 1u) << "the late result was answered a second time";
  EXPECT_EQ(answers["k1"].size(), 1u) << "the late result was answered a second time";
  const Dispatcher::Stats stats = f.dispatcher->stats();
  EXPECT_EQ(stats.timed_out, 2u);
  EXPECT_EQ(stats.late_results, 2u);
  std::lock_guard<std::mutex> lock(f.generation->mu);
  EXPECT_EQ(f.generation->seen["c1"], (std::vector<std::string>{"block", "after"}));
}

TEST(DispatcherPoolTest, FullConnectionQueueClosesThatConnectionOnly) {
  Dispatcher::Options options;
  options.workers = 2;
  options.max_workers = 2;
  options.max_queued_per_connection = 3;
  Fixture f(options);

  f.Submit("m0", "c1", wsproto::Message, "block");
  f.Submit("m1", "c1", wsproto::Message, "one");
  f.Submit("m2", "c1", wsproto::Message, "two");
  f.Submit("m3", "c1", wsproto::Message, "three");  // the fourth: over the limit
  f.Submit("m4", "c1", wsproto::Message, "four");
  f.Submit("d1", "c1", wsproto::Disconnect);  // always taken
  ASSERT_TRUE(f.closes.WaitFor("public/c1"));
  {
    auto answers = f.answers->Snapshot();
    EXPECT_EQ(answers.count("m3"), 1u) << "an event past the limit is answered at once";
    EXPECT_EQ(answers.count("m4"), 1u);
    EXPECT_EQ(answers.count("m1"), 0u);
    EXPECT_EQ(answers.count("d1"), 0u);
  }
  // Another connection is not affected.
  f.Submit("x1", "c2", wsproto::Message, "free");
  ASSERT_TRUE(f.answers->WaitFor("x1"));

  f.generation->Open();
  ASSERT_TRUE(f.answers->WaitFor("d1"));
  f.dispatcher->Drain();
  for (const char* id : {"m0", "m1", "m2", "m3", "m4", "d1", "x1"}) {
    EXPECT_EQ(f.answers->Snapshot()[id].size(), 1u) << id;
  }
  EXPECT_EQ(f.closes.Snapshot(), std::set<std::string>{"public/c1"});
  EXPECT_EQ(f.dispatcher->stats().overflow_dropped, 2u);
  std::lock_guard<std::mutex> lock(f.generation->mu);
  EXPECT_EQ(f.generation->seen["c1"],
            (std::vector<std::string>{"block", "one", "two", "<disconnect>"}));
}

class Latch : public Dispatcher::RoomWaiter {
 public:
  void OnRoom() override {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
    }
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;  // GUARDED_BY(mu)
};

TEST(DispatcherPoolTest, FullDispatcherPausesReadersAndResumesThem) {
  Dispatcher::Options options;
  options.workers = 1;
  options.max_workers = 1;
  options.max_queued = 4;
  Fixture f(options);
  Latch latch;
  EXPECT_TRUE(f.dispatcher->HasRoom());
  EXPECT_TRUE(f.dispatcher->WaitForRoom(&latch));

  for (int i = 0; i < 4; ++i) {
    f.Submit(Name("m", i), Name("c", i), wsproto::Message, "block");
  }
  EXPECT_FALSE(f.dispatcher->HasRoom());
  EXPECT_FALSE(f.dispatcher->WaitForRoom(&latch));

  f.generation->Open();
  ASSERT_TRUE(WaitUntil(latch.mu, latch.cv, [&] { return latch.calls > 0; }))
      << "a paused reader was never resumed";
  EXPECT_TRUE(f.dispatcher->HasRoom());
  f.dispatcher->Drain();
  std::lock_guard<std::mutex> lock(latch.mu);
  EXPECT_EQ(latch.calls, 1);
}

}  // namespace
}  // namespace nitric::host
