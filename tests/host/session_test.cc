// The membrane session's states (host/membrane/session_machine.h), driven
// without gRPC or threads with a clock the test moves; and one check with the
// real MembraneSession that Close() returns while the supervisor sits in a
// reconnect backoff.
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "host/dispatch/dispatcher.h"
#include "host/membrane/channel.h"
#include "host/membrane/completion_queue_thread.h"
#include "host/membrane/session.h"
#include "host/membrane/session_machine.h"
#include "support/membrane_fixture.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;
using M = SessionMachine;
using State = M::State;
using Step = M::Step;

constexpr auto kInitial = 100ms;
constexpr auto kMax = 800ms;
constexpr auto kLogInterval = 10s;

const M::Facts kMissing{/*needs_work=*/true, /*all_registered=*/false, /*no_streams=*/false};
const M::Facts kOpening{false, false, false};  // streams open, not all registered yet
const M::Facts kAllRegistered{false, true, false};
const M::Facts kNoStreams{false, false, true};

class SessionMachineTest : public ::testing::Test {
 protected:
  M::Clock::time_point now_ = M::Clock::time_point() + 1h;

  // Want, one successful attempt, every stream registers: ready.
  void MakeReady(M& m) {
    m.Want(true);
    ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
    ASSERT_EQ(m.OnAttemptDone(true, now_).kind, M::AttemptResult::kNone);
    ASSERT_EQ(m.Next(now_, kAllRegistered).kind, Step::kReportReady);
    ASSERT_TRUE(m.ready());
    ASSERT_EQ(m.Next(now_, kAllRegistered).kind, Step::kWait) << "ready is reported once";
  }

  // Fails one attempt and returns the backoff it scheduled.
  M::Clock::duration FailOnce(M& m) {
    EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
    m.OnAttemptDone(false, now_);
    EXPECT_EQ(m.state(), State::kBackoff);
    return m.retry_at() - now_;
  }
};

TEST_F(SessionMachineTest, NothingHappensBeforeTheFirstWant) {
  M m(false, kInitial, kMax, kLogInterval);
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWait);
  EXPECT_EQ(m.Next(now_, kAllRegistered).kind, Step::kWait);
  EXPECT_FALSE(m.ready());
  m.Want(false);  // even an empty first Want starts the session
  EXPECT_EQ(m.Next(now_, kAllRegistered).kind, Step::kReportReady);
}

TEST_F(SessionMachineTest, ReadyOnlyOnceEveryStreamRegistered) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  m.OnAttemptDone(true, now_);
  EXPECT_EQ(m.Next(now_, kOpening).kind, Step::kWait);
  EXPECT_FALSE(m.ready());
  EXPECT_EQ(m.Next(now_, kAllRegistered).kind, Step::kReportReady);
}

TEST_F(SessionMachineTest, AWantThatAddsSocketsMakesItNotReadyUntilTheyRegister) {
  M m(false, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  m.Want(false);
  EXPECT_TRUE(m.ready()) << "nothing new";
  m.Want(true);
  EXPECT_FALSE(m.ready());
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
}

TEST_F(SessionMachineTest, AFailedAttemptBacksOffExponentiallyUpToTheCap) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  // Each delay is the nominal one shortened by at most 20% (jitter).
  for (auto nominal : {100ms, 200ms, 400ms, 800ms, 800ms}) {
    const auto delay = FailOnce(m);
    EXPECT_LE(delay, M::Clock::duration(nominal));
    EXPECT_GE(delay, M::Clock::duration(nominal * 4 / 5));
    const Step wait = m.Next(now_, kMissing);
    EXPECT_EQ(wait.kind, Step::kWaitUntil);
    EXPECT_EQ(wait.until, m.retry_at());
    now_ = m.retry_at();
  }
  // A success resets the backoff.
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  EXPECT_EQ(m.OnAttemptDone(true, now_).kind, M::AttemptResult::kRestored);
  EXPECT_LE(FailOnce(m), M::Clock::duration(kInitial));
}

TEST_F(SessionMachineTest, FailuresAreLoggedAtABoundedRate) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  const auto begin = now_;
  EXPECT_EQ(m.OnAttemptDone(false, now_).kind, M::AttemptResult::kFailedFirst);
  int quiet = 0;
  M::AttemptResult result;
  do {
    now_ = m.retry_at();
    ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
    result = m.OnAttemptDone(false, now_);
    if (result.kind == M::AttemptResult::kFailedQuiet) ++quiet;
  } while (result.kind == M::AttemptResult::kFailedQuiet);
  EXPECT_EQ(result.kind, M::AttemptResult::kFailedAgain);
  EXPECT_GE(now_ - begin, M::Clock::duration(kLogInterval));
  EXPECT_GT(quiet, 5);
  EXPECT_EQ(result.failed_attempts, quiet + 2);

  now_ = m.retry_at();
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  const M::AttemptResult restored = m.OnAttemptDone(true, now_);
  EXPECT_EQ(restored.kind, M::AttemptResult::kRestored);
  EXPECT_EQ(restored.failed_attempts, quiet + 2);
  EXPECT_DOUBLE_EQ(restored.seconds, std::chrono::duration<double>(now_ - begin).count());
}

TEST_F(SessionMachineTest, ShutdownDuringAReconnectBackoff) {
  M m(false, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  // The membrane goes away: the outage is retried at once, fails, backs off.
  EXPECT_EQ(m.OnStreamEnded(true, false, false, now_), M::StreamEnd::kOutageStarted);
  FailOnce(m);
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kWaitUntil);

  m.StopTakingEvents();
  EXPECT_TRUE(m.stopping());
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWait);
  now_ = m.retry_at() + 1h;
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWait) << "no attempt once stopping";
  EXPECT_EQ(m.OnStreamEnded(true, false, true, now_), M::StreamEnd::kIgnored);
  m.Want(true);
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWait);

  m.Close();
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kExit);
}

TEST_F(SessionMachineTest, CloseDuringABackoffExitsAtOnce) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  FailOnce(m);
  m.Close();
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kExit);
  EXPECT_EQ(m.OnAttemptDone(false, now_).kind, M::AttemptResult::kNone);
}

TEST_F(SessionMachineTest, StopDuringAnAttemptIgnoresItsOutcome) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  m.StopTakingEvents();
  EXPECT_EQ(m.OnAttemptDone(false, now_).kind, M::AttemptResult::kNone);
  EXPECT_EQ(m.state(), State::kStopped);
}

TEST_F(SessionMachineTest, AnOutageIsRetriedAtOnceAndReportedWhenRestored) {
  M m(false, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  const auto begin = now_;
  EXPECT_EQ(m.OnStreamEnded(true, false, false, now_), M::StreamEnd::kOutageStarted);
  EXPECT_FALSE(m.ready());
  EXPECT_EQ(m.OnStreamEnded(true, false, false, now_), M::StreamEnd::kOutageGoesOn);
  EXPECT_EQ(m.OnStreamEnded(false, false, false, now_), M::StreamEnd::kNotRegistered);
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt) << "no backoff before the first retry";
  now_ += 3s;
  const M::AttemptResult restored = m.OnAttemptDone(true, now_);
  EXPECT_EQ(restored.kind, M::AttemptResult::kRestored);
  EXPECT_EQ(restored.failed_attempts, 0);
  EXPECT_DOUBLE_EQ(restored.seconds, std::chrono::duration<double>(now_ - begin).count());
  EXPECT_EQ(m.Next(now_, kAllRegistered).kind, Step::kReportReady);
}

TEST_F(SessionMachineTest, AStreamEndingDuringABackoffKeepsTheBackoff) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  FailOnce(m);
  const auto retry_at = m.retry_at();
  EXPECT_EQ(m.OnStreamEnded(true, false, false, now_), M::StreamEnd::kOutageStarted);
  m.Want(true);
  EXPECT_EQ(m.state(), State::kBackoff);
  EXPECT_EQ(m.Next(now_, kMissing).until, retry_at);
}

TEST_F(SessionMachineTest, AFailedStreamIsReopenedAloneAfterTheBackoff) {
  M m(false, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  // The host cancelled a stream it could not use: the membrane is there, so
  // no outage (nothing re-declared), but the stream waits for the backoff.
  EXPECT_EQ(m.OnStreamEnded(true, /*failed=*/true, false, now_), M::StreamEnd::kFailed);
  EXPECT_EQ(m.state(), State::kBackoff);
  EXPECT_FALSE(m.ready());
  EXPECT_LE(m.retry_at() - now_, M::Clock::duration(kInitial));
  EXPECT_GE(m.retry_at() - now_, M::Clock::duration(kInitial * 4 / 5));
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWaitUntil);
  now_ = m.retry_at();
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  EXPECT_EQ(m.OnAttemptDone(true, now_).kind, M::AttemptResult::kNone)
      << "not an outage: no 'restored' line";
  EXPECT_EQ(m.Next(now_, kAllRegistered).kind, Step::kReportReady);
}

TEST_F(SessionMachineTest, StreamsFailingTogetherWaitForTheLaterRetry) {
  M m(false, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  m.OnStreamEnded(true, true, false, now_);
  const auto first = m.retry_at();
  m.OnStreamEnded(true, true, false, now_);
  EXPECT_GE(m.retry_at(), first) << "a second failure never brings the retry forward";
  EXPECT_GT(m.retry_at() - now_, M::Clock::duration(kInitial)) << "the backoff grows";
}

TEST_F(SessionMachineTest, AStreamFailingDuringAnAttemptKeepsItsBackoff) {
  M m(false, kInitial, kMax, kLogInterval);
  m.Want(true);
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  m.OnStreamEnded(true, true, false, now_);
  m.OnAttemptDone(true, now_);
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWaitUntil);
}

TEST_F(SessionMachineTest, ShutdownDuringTheBackoffOfAFailedStream) {
  M m(false, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  m.OnStreamEnded(true, true, false, now_);
  m.StopTakingEvents();
  now_ = m.retry_at() + 1h;
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kWait);
  EXPECT_EQ(m.OnStreamEnded(true, true, true, now_), M::StreamEnd::kIgnored);
  m.Close();
  EXPECT_EQ(m.Next(now_, kMissing).kind, Step::kExit);
}

TEST_F(SessionMachineTest, BuildModeExitsZeroOnceTheMembraneEndsEveryStream) {
  M m(true, kInitial, kMax, kLogInterval);
  ASSERT_NO_FATAL_FAILURE(MakeReady(m));
  EXPECT_EQ(m.state(), State::kBuildRegistered);
  EXPECT_EQ(m.OnStreamEnded(true, false, false, now_), M::StreamEnd::kBuildEnded);
  EXPECT_EQ(m.Next(now_, kOpening).kind, Step::kWait) << "no re-registering in build mode";
  EXPECT_EQ(m.OnStreamEnded(true, false, true, now_), M::StreamEnd::kBuildEnded);
  const Step exit = m.Next(now_, kNoStreams);
  EXPECT_EQ(exit.kind, Step::kReportExit);
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_EQ(m.Next(now_, kNoStreams).kind, Step::kWait) << "the exit is reported once";
  m.Close();
  EXPECT_EQ(m.Next(now_, kNoStreams).kind, Step::kExit);
}

TEST_F(SessionMachineTest, BuildModeWithNothingToRegisterExitsZero) {
  M m(true, kInitial, kMax, kLogInterval);
  m.Want(false);
  ASSERT_EQ(m.Next(now_, M::Facts{false, true, true}).kind, Step::kReportReady);
  EXPECT_EQ(m.Next(now_, M::Facts{false, true, true}).kind, Step::kReportExit);
}

TEST_F(SessionMachineTest, BuildModeDoesNotRetryAFailure) {
  M m(true, kInitial, kMax, kLogInterval);
  m.Want(true);
  ASSERT_EQ(m.Next(now_, kMissing).kind, Step::kAttempt);
  EXPECT_EQ(m.OnAttemptDone(false, now_).kind, M::AttemptResult::kExit);
  EXPECT_EQ(m.state(), State::kExited);
  EXPECT_EQ(m.Next(now_ + 1h, kMissing).kind, Step::kWait);
}

// Collects log lines so the test can wait for one.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  bool WaitFor(const std::string& text, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(seen_mu_);
    return cv_.wait_for(lock, timeout, [&] { return text_.find(text) != std::string::npos; });
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::lock_guard<std::mutex> lock(seen_mu_);
    text_.append(msg.payload.data(), msg.payload.size());
    text_.push_back('\n');
    cv_.notify_all();
  }
  void flush_() override {}

 private:
  std::mutex seen_mu_;
  std::condition_variable cv_;
  std::string text_;
};

class NoGeneration final : public Generation {
 public:
  NoGeneration() { declarations_.sockets = {"s"}; }
  HandleResult Handle(wsproto::WebsocketEventType,
                      const wsproto::WebsocketEventRequest&) const override {
    return HandleResult::kAccepted;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return 1; }

 private:
  Declarations declarations_;
};

// The real session against a membrane that went away, with a backoff far
// longer than the test's bound: Close() must not wait for it.
TEST(SessionCloseTest, CloseReturnsDuringAReconnectBackoff) {
  testing::MembraneFixture membrane;
  ASSERT_NO_FATAL_FAILURE(membrane.Start());
  const std::string address = membrane.grpc_address();
  membrane.Stop();  // nothing listens there any more

  // Declared before the session: spdlog's free functions log through a raw
  // pointer to the default logger, so the capturing logger outlives every
  // thread of the session even after the previous logger is restored.
  auto sink = std::make_shared<CaptureSink>();
  auto capture = std::make_shared<spdlog::logger>("capture", sink);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(capture);

  auto generation = std::make_shared<NoGeneration>();
  GenerationSlot slot;
  slot.Publish(generation);
  Dispatcher dispatcher(1, &slot);
  CompletionQueueThread queue("test-grpc");
  SessionOptions options;
  options.address = address;
  options.call_timeout = 500ms;
  options.backoff_initial = std::chrono::hours(1);
  options.backoff_max = std::chrono::hours(1);
  auto session = std::make_unique<MembraneSession>(OpenMembraneChannel(address), &dispatcher,
                                                   &queue, options, nullptr, nullptr);
  session->Want(generation->declarations());
  const bool backing_off = sink->WaitFor("retrying with backoff", 30s);
  EXPECT_TRUE(backing_off) << "the first attempt did not fail";
  EXPECT_FALSE(session->WaitReady(0ms));

  auto closed = std::async(std::launch::async, [&] {
    session->StopTakingEvents();
    session->Close(0ms);
  });
  // Bounds a hang only: the backoff is an hour.
  EXPECT_EQ(closed.wait_for(60s), std::future_status::ready) << "Close waited for the backoff";
  spdlog::set_default_logger(previous);
}

}  // namespace
}  // namespace nitric::host
