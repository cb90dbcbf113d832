// Inline runs (docs/ARCHITECTURE.md#inline-handlers): an event submitted on
// the thread that polls runs there, its connection's later events wait
// behind it, and a handler that blocks there passes polling on: by the
// host's AboutToBlock, or by the dispatcher's watch when it runs long.
#include <grpcpp/alarm.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "host/base/poller.h"
#include "host/dispatch/dispatcher.h"
#include "host/membrane/completion_queue_thread.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;

class RecordingReplier : public EventReplier {
 public:
  void Reply(std::string id, bool reject) override {
    std::lock_guard lock(mu_);
    answers_[id].push_back(reject);
    cv_.notify_all();
  }
  std::map<std::string, std::vector<bool>> answers() {
    std::lock_guard lock(mu_);
    return answers_;
  }
  // Waits until `id` was answered; the deadline only bounds a hang.
  bool WaitFor(const std::string& id, std::chrono::seconds deadline = 30s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return answers_.count(id) != 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<bool>> answers_;
};

// Records the thread and order of every handler; handlers of connections
// named "held*" wait until Release().
class ThreadRecordingGeneration : public Generation {
 public:
  HandleResult Handle(wsproto::WebsocketEventType type,
                      const wsproto::WebsocketEventRequest& event) const override {
    std::unique_lock lock(mu_);
    ran_.push_back(
        {event.connection_id() + "/" + event.message().body(), std::this_thread::get_id()});
    cv_.notify_all();
    if (event.connection_id().rfind("held", 0) == 0) {
      cv_.wait(lock, [this] { return released_; });
    }
    // Connects rejected: tells the watch's answer apart.
    return type == wsproto::Connect ? HandleResult::kRejected : HandleResult::kAccepted;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return 1; }

  struct Ran {
    std::string what;
    std::thread::id thread;
  };
  std::vector<Ran> ran() const {
    std::lock_guard lock(mu_);
    return ran_;
  }
  bool WaitRan(size_t n, std::chrono::seconds deadline = 30s) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return ran_.size() >= n; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  Declarations declarations_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::vector<Ran> ran_;
  bool released_ = false;
};

// A poller the test plays: the thread that calls Become() polls until a
// hand-off, which the test can wait for.
class TestPoller final : public Poller {
 public:
  void Become(const void* turn) {
    {
      std::lock_guard lock(mu_);
      active_ = turn;
    }
    CurrentPollerTurn() = PollerTurn{this, turn};
  }
  bool Polling(const void* turn) const override {
    std::lock_guard lock(mu_);
    return active_ == turn;
  }
  void HandOff(const void* turn) override {
    std::lock_guard lock(mu_);
    if (active_ != turn) return;
    active_ = nullptr;
    handed_off_.push_back(turn);
    cv_.notify_all();
  }
  bool WaitHandOff(const void* turn, std::chrono::seconds deadline = 30s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] {
      for (const void* t : handed_off_) {
        if (t == turn) return true;
      }
      return false;
    });
  }
  size_t hand_offs() const {
    std::lock_guard lock(mu_);
    return handed_off_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  const void* active_ = nullptr;
  std::vector<const void*> handed_off_;
};

void Fill(Event* event, const std::string& id, const std::string& connection,
          wsproto::WebsocketEventType type, std::shared_ptr<EventReplier> replier) {
  wsproto::WebsocketEventRequest* request = event->message.mutable_websocket_event_request();
  event->message.set_id(id);
  request->set_socket_name("public");
  request->set_connection_id(connection);
  if (type == wsproto::Connect) request->mutable_connection();
  if (type == wsproto::Message) request->mutable_message()->set_body(id);
  event->type = type;
  event->reply_to = std::move(replier);
}

Dispatcher::Options InlineOptions() {
  Dispatcher::Options options;
  options.workers = 2;
  options.max_workers = 2;
  options.inline_handlers = true;
  return options;
}

struct Fixture {
  explicit Fixture(Dispatcher::Options options = InlineOptions()) {
    slot.Publish(generation);
    dispatcher = std::make_unique<Dispatcher>(options, &slot);
  }
  // Submits on the calling thread; returns what it hands back to run here.
  Dispatcher::InlineRun Submit(const std::string& id, const std::string& connection,
                               wsproto::WebsocketEventType type = wsproto::Message,
                               bool offer_inline = true) {
    Event* e = dispatcher->NewEvent();
    Fill(e, id, connection, type, replier);
    Dispatcher::InlineRun run;
    dispatcher->Recycle(dispatcher->Submit(e, offer_inline ? &run : nullptr));
    return run;
  }
  std::shared_ptr<ThreadRecordingGeneration> generation =
      std::make_shared<ThreadRecordingGeneration>();
  GenerationSlot slot;
  std::shared_ptr<RecordingReplier> replier = std::make_shared<RecordingReplier>();
  std::unique_ptr<Dispatcher> dispatcher;
};

TEST(InlineRunTest, AnEventSubmittedOnThePollingThreadRunsThereAndIsAnswered) {
  Fixture s;
  TestPoller poller;
  int turn = 0;
  poller.Become(&turn);
  Dispatcher::InlineRun run = s.Submit("m1", "c1");
  ASSERT_TRUE(run) << "the polling thread was not given its event to run";
  EXPECT_TRUE(s.generation->ran().empty()) << "the event ran before RunInline";
  s.dispatcher->RunInline(run);
  ASSERT_EQ(s.generation->ran().size(), 1u);
  EXPECT_EQ(s.generation->ran()[0].thread, std::this_thread::get_id());
  EXPECT_EQ(s.replier->answers()["m1"], std::vector<bool>{false});

  // A thread that does not poll, and a poller that did not offer to run it,
  // hand the event to a worker.
  CurrentPollerTurn() = PollerTurn{};
  EXPECT_FALSE(s.Submit("m2", "c2"));
  poller.Become(&turn);
  EXPECT_FALSE(s.Submit("m3", "c3", wsproto::Message, /*offer_inline=*/false));
  ASSERT_TRUE(s.replier->WaitFor("m2") && s.replier->WaitFor("m3"));
  for (const auto& r : s.generation->ran()) {
    if (r.what != "c1/m1") {
      EXPECT_NE(r.thread, std::this_thread::get_id()) << r.what;
    }
  }
  s.dispatcher->Drain();
  EXPECT_EQ(s.dispatcher->stats().inline_runs, 1u);
  CurrentPollerTurn() = PollerTurn{};
}

TEST(InlineRunTest, NoInlineRunsUnlessConfigured) {
  Dispatcher::Options options = InlineOptions();
  options.inline_handlers = false;
  Fixture s(options);
  TestPoller poller;
  int turn = 0;
  poller.Become(&turn);
  EXPECT_FALSE(s.Submit("m1", "c1"));
  ASSERT_TRUE(s.replier->WaitFor("m1"));
  CurrentPollerTurn() = PollerTurn{};
}

TEST(InlineRunTest, LaterEventsOfItsConnectionWaitBehindItAndRunOnAWorker) {
  Fixture s;
  TestPoller poller;
  int turn = 0;
  Dispatcher::InlineRun run;
  // The polling thread takes a held connection's first event...
  std::thread polling([&] {
    poller.Become(&turn);
    run = s.Submit("a1", "held-a");
    CurrentPollerTurn() = PollerTurn{};
  });
  polling.join();
  ASSERT_TRUE(run);
  // ... its second arrives (on another thread) before the first ran, and an
  // other connection's event meanwhile runs on a worker.
  EXPECT_FALSE(s.Submit("a2", "held-a"));
  EXPECT_FALSE(s.Submit("b1", "b"));
  ASSERT_TRUE(s.replier->WaitFor("b1"));
  EXPECT_EQ(s.replier->answers().count("a2"), 0u) << "a2 overtook a1";

  std::thread::id runner_id;
  std::thread runner([&] {
    runner_id = std::this_thread::get_id();
    poller.Become(&turn);
    s.dispatcher->RunInline(run);
  });
  ASSERT_TRUE(s.generation->WaitRan(2));
  s.generation->Release();
  runner.join();
  ASSERT_TRUE(s.replier->WaitFor("a2"));
  std::vector<std::string> order;
  std::thread::id a1_thread, a2_thread;
  for (const auto& r : s.generation->ran()) {
    if (r.what == "held-a/a1") a1_thread = r.thread;
    if (r.what == "held-a/a2") a2_thread = r.thread;
    if (r.what.rfind("held-a/", 0) == 0) order.push_back(r.what);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"held-a/a1", "held-a/a2"}));
  EXPECT_EQ(a1_thread, runner_id);
  EXPECT_NE(a2_thread, runner_id) << "the connection's next event should go to a worker";
}

TEST(InlineRunTest, TheWatchHandsPollingOffFromAnInlineHandlerThatRunsLong) {
  Fixture s;
  TestPoller poller;
  int turn = 0;
  std::thread runner([&] {
    poller.Become(&turn);
    Dispatcher::InlineRun run = s.Submit("h1", "held-1");
    ASSERT_TRUE(run);
    s.dispatcher->RunInline(run);
    CurrentPollerTurn() = PollerTurn{};
  });
  // It never calls the host, so only the watch can notice it.
  EXPECT_TRUE(poller.WaitHandOff(&turn)) << "the watch did not hand polling off";
  const auto running = s.dispatcher->Running();
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].connection, "held-1");
  s.generation->Release();
  runner.join();
  EXPECT_EQ(poller.hand_offs(), 1u);
  EXPECT_EQ(s.replier->answers()["h1"], std::vector<bool>{false});
  s.dispatcher->Drain();
  EXPECT_EQ(s.dispatcher->stats().hand_offs, 1u);
}

TEST(InlineRunTest, AnInlineHandlerPastTheTimeoutIsAnsweredOnceByTheWatch) {
  Dispatcher::Options options = InlineOptions();
  options.handler_timeout = 100ms;
  Fixture s(options);
  TestPoller poller;
  int turn = 0;
  std::thread runner([&] {
    poller.Become(&turn);
    Dispatcher::InlineRun run = s.Submit("c1", "held-c", wsproto::Connect);
    ASSERT_TRUE(run);
    s.dispatcher->RunInline(run);
    CurrentPollerTurn() = PollerTurn{};
  });
  ASSERT_TRUE(s.replier->WaitFor("c1"));
  // The watch's answer to a connect that timed out is a reject; the handler
  // (which would reject too) has not returned.
  EXPECT_EQ(s.replier->answers()["c1"], std::vector<bool>{true});
  EXPECT_EQ(s.dispatcher->stats().timed_out, 1u);
  EXPECT_EQ(s.dispatcher->stats().stuck, 1);
  s.generation->Release();
  runner.join();
  EXPECT_EQ(s.replier->answers()["c1"].size(), 1u) << "answered twice";
  const auto stats = s.dispatcher->stats();
  EXPECT_EQ(stats.late_results, 1u);
  EXPECT_EQ(stats.stuck, 0);
  EXPECT_EQ(stats.workers, 2) << "the polling thread's record must not change the pool";
}

// The completion queue's side: a completion that is about to block passes
// polling to another thread, and the queue's other completions go on.
struct AlarmTag final : CompletionQueueThread::Tag {
  std::function<void()> on_complete;
  void OnComplete(bool) override { on_complete(); }
};

TEST(CompletionQueueThreadTest, ACompletionAboutToBlockPassesPollingOn) {
  CompletionQueueThread queue("test-cq");
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, second_ran = false;
  std::thread::id first_thread, second_thread;

  AlarmTag first, second;
  first.on_complete = [&] {
    std::unique_lock lock(mu);
    first_thread = std::this_thread::get_id();
    cv.notify_all();
    lock.unlock();
    AboutToBlock();
    lock.lock();
    cv.wait(lock, [&] { return release; });
  };
  second.on_complete = [&] {
    std::lock_guard lock(mu);
    second_thread = std::this_thread::get_id();
    second_ran = true;
    cv.notify_all();
  };
  grpc::Alarm a, b;
  a.Set(queue.cq(), std::chrono::system_clock::now(), &first);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return first_thread != std::thread::id(); }));
  }
  // The first completion blocks; the second still runs, on another thread.
  b.Set(queue.cq(), std::chrono::system_clock::now(), &second);
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return second_ran; }))
        << "a completion that blocked after AboutToBlock stopped the queue";
    EXPECT_NE(second_thread, first_thread);
    release = true;
    cv.notify_all();
  }
  EXPECT_EQ(queue.threads(), 2);
  // Outside a completion, AboutToBlock does nothing.
  AboutToBlock();
  EXPECT_EQ(queue.threads(), 2);
  queue.Shutdown();
}

// Work deferred on the polling thread (EventStream's next read while an
// inline handler runs) runs exactly once: taken back when the completion is
// done, or run by whoever hands the turn off (the handler's AboutToBlock, or
// the dispatcher's watch from its own thread) — never left waiting for a
// handler that blocks.
class CountingWork final : public Deferred {
 public:
  void RunDeferred() override {
    std::lock_guard lock(mu_);
    ++runs_;
    ran_on_ = std::this_thread::get_id();
  }
  int runs() const {
    std::lock_guard lock(mu_);
    return runs_;
  }
  std::thread::id ran_on() const {
    std::lock_guard lock(mu_);
    return ran_on_;
  }

 private:
  mutable std::mutex mu_;
  int runs_ = 0;
  std::thread::id ran_on_;
};

// Runs `body` as a completion on `queue`'s polling thread and waits for it.
void OnThePollingThread(CompletionQueueThread* queue, std::function<void()> body) {
  std::promise<void> done;
  AlarmTag tag;
  tag.on_complete = [&] {
    body();
    done.set_value();
  };
  grpc::Alarm alarm;
  alarm.Set(queue->cq(), std::chrono::system_clock::now(), &tag);
  ASSERT_EQ(done.get_future().wait_for(30s), std::future_status::ready);
}

TEST(CompletionQueueThreadTest, DeferredWorkIsTakenBackWhenNothingHandsTheTurnOff) {
  CompletionQueueThread queue("test-cq");
  auto work = std::make_shared<CountingWork>();
  std::shared_ptr<Deferred> taken, taken_again;
  OnThePollingThread(&queue, [&] {
    const PollerTurn& turn = CurrentPollerTurn();
    turn.poller->Defer(turn.turn, work);
    taken = turn.poller->TakeDeferred(turn.turn);
    taken_again = turn.poller->TakeDeferred(turn.turn);
  });
  EXPECT_EQ(work->runs(), 0) << "Defer ran the work while the turn was still polling";
  EXPECT_EQ(taken, work);
  EXPECT_EQ(taken_again, nullptr);
  EXPECT_EQ(queue.threads(), 1);
  queue.Shutdown();
}

TEST(CompletionQueueThreadTest, AboutToBlockRunsTheDeferredWorkAsItPassesPollingOn) {
  CompletionQueueThread queue("test-cq");
  auto work = std::make_shared<CountingWork>();
  int runs_after_block = -1;
  std::shared_ptr<Deferred> taken;
  std::thread::id polling_thread;
  OnThePollingThread(&queue, [&] {
    polling_thread = std::this_thread::get_id();
    const PollerTurn& turn = CurrentPollerTurn();
    turn.poller->Defer(turn.turn, work);
    AboutToBlock();
    runs_after_block = work->runs();
    taken = turn.poller->TakeDeferred(turn.turn);
    // Deferred after the turn has passed on: nothing to wait for.
    turn.poller->Defer(turn.turn, work);
  });
  EXPECT_EQ(runs_after_block, 1) << "the hand-off left the deferred work waiting for the handler";
  EXPECT_EQ(taken, nullptr) << "the work would run twice";
  EXPECT_EQ(work->runs(), 2);
  EXPECT_EQ(work->ran_on(), polling_thread);
  EXPECT_EQ(queue.threads(), 2);
  queue.Shutdown();
}

TEST(CompletionQueueThreadTest, AHandOffFromAnotherThreadRunsTheDeferredWorkThere) {
  CompletionQueueThread queue("test-cq");
  auto work = std::make_shared<CountingWork>();
  std::thread::id watch_thread;
  std::shared_ptr<Deferred> taken;
  OnThePollingThread(&queue, [&] {
    const PollerTurn& turn = CurrentPollerTurn();
    turn.poller->Defer(turn.turn, work);
    // The dispatcher's watch, handing off a handler that runs long.
    std::thread watch([&] {
      watch_thread = std::this_thread::get_id();
      turn.poller->HandOff(turn.turn);
    });
    watch.join();
    taken = turn.poller->TakeDeferred(turn.turn);
  });
  EXPECT_EQ(work->runs(), 1);
  EXPECT_EQ(work->ran_on(), watch_thread);
  EXPECT_EQ(taken, nullptr);
  queue.Shutdown();
}

}  // namespace
}  // namespace nitric::host
