// The HandleEvents stream's states (host/membrane/event_stream_machine.h),
// driven without gRPC: each test feeds completions and requests and checks the
// operations the machine asks for. The last test replays many random orders
// of completions and checks the invariants the gRPC code relies on.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/membrane/event_stream_machine.h"

namespace nitric::host {
namespace {

using M = EventStreamMachine;
using Phase = M::Phase;
using Writer = M::Writer;

// Start, the call starts, the membrane acknowledges the registration and the
// registration write completes: a serving stream with an idle writer.
void Serve(M& m) {
  ASSERT_EQ(m.Start(), M::kStartCall);
  ASSERT_EQ(m.OnStarted(true), M::kWriteRegistration | M::kRead);
  bool registered = false;
  ASSERT_EQ(m.OnMessage(/*is_registration_ack=*/true, /*has_event=*/false, &registered),
            M::Message::kIgnore);
  ASSERT_TRUE(registered);
  ASSERT_EQ(m.OnWriteDone(true), M::kNone);
  ASSERT_EQ(m.phase(), Phase::kServing);
  ASSERT_EQ(m.writer(), Writer::kIdle);
}

TEST(EventStreamMachineTest, RegistersThenSubmitsEvents) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  EXPECT_TRUE(m.registered());
  bool registered = true;
  EXPECT_EQ(m.OnMessage(false, true, &registered), M::Message::kSubmit);
  EXPECT_FALSE(registered) << "registration is reported once";
  EXPECT_EQ(m.OnMessage(false, false, &registered), M::Message::kIgnore);
}

TEST(EventStreamMachineTest, AnEventAsFirstMessageRegistersAndIsSubmitted) {
  M m;
  m.Start();
  m.OnStarted(true);
  bool registered = false;
  EXPECT_EQ(m.OnMessage(false, true, &registered), M::Message::kSubmit);
  EXPECT_TRUE(registered);
  EXPECT_EQ(m.phase(), Phase::kServing);
}

TEST(EventStreamMachineTest, AnswersWaitForTheOutstandingWriteAndGoOutInOrder) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  EXPECT_EQ(m.TakeNextReply().id, "1");
  EXPECT_EQ(m.QueueReply("2", true), M::kNone) << "one write at a time";
  EXPECT_EQ(m.QueueReply("3", false), M::kNone);
  EXPECT_EQ(m.queued(), 2u);
  ASSERT_EQ(m.OnWriteDone(true), M::kWriteReply);
  M::Reply& second = m.TakeNextReply();
  EXPECT_EQ(second.id, "2");
  EXPECT_TRUE(second.reject);
  ASSERT_EQ(m.OnWriteDone(true), M::kWriteReply);
  EXPECT_EQ(m.TakeNextReply().id, "3");
  EXPECT_EQ(m.OnWriteDone(true), M::kNone);
  EXPECT_EQ(m.writer(), Writer::kIdle);
  EXPECT_EQ(m.queued(), 0u);
}

TEST(EventStreamMachineTest, AReadFailsWhileWritesAreOutstanding) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  m.QueueReply("2", false);

  // The call broke: no Finish while the write is out, and nothing queued is
  // written any more.
  EXPECT_EQ(m.OnReadFailed(), M::kNone);
  EXPECT_EQ(m.phase(), Phase::kDraining);
  EXPECT_EQ(m.writer(), Writer::kDiscarding);
  EXPECT_EQ(m.QueueReply("3", false), M::kNone);
  // The outstanding write fails too; only then does Finish start.
  EXPECT_EQ(m.OnWriteDone(false), M::kFinish);
  EXPECT_EQ(m.writer(), Writer::kClosed);
  EXPECT_EQ(m.QueueReply("4", false), M::kNone);
  EXPECT_EQ(m.queued(), 0u);
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
  EXPECT_EQ(m.phase(), Phase::kEnded);
  EXPECT_TRUE(m.registered());
}

TEST(EventStreamMachineTest, TheMembraneEndsTheStreamWhileAnswersAreQueued) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  m.QueueReply("2", false);
  m.QueueReply("3", true);
  ASSERT_EQ(m.queued(), 2u);

  // The membrane ended the call (it already failed the deliveries of 2 and
  // 3): they are dropped, never written, and Finish waits for write 1.
  EXPECT_EQ(m.OnReadFailed(), M::kNone);
  EXPECT_EQ(m.queued(), 0u);
  EXPECT_EQ(m.OnWriteDone(true), M::kFinish) << "no further WriteReply for the dropped answers";
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
}

TEST(EventStreamMachineTest, TheMembraneEndsAnIdleStream) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  EXPECT_EQ(m.OnReadFailed(), M::kFinish);
  EXPECT_EQ(m.QueueReply("late", false), M::kNone);
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
}

TEST(EventStreamMachineTest, CancelDuringStartWhenTheCallNeverStarts) {
  M m;
  ASSERT_EQ(m.Start(), M::kStartCall);
  EXPECT_EQ(m.Cancel(), M::kNone);
  EXPECT_EQ(m.writer(), Writer::kDiscarding) << "the registration write is dropped";
  EXPECT_EQ(m.HalfClose(), M::kNone) << "no half-close after a cancel";
  EXPECT_EQ(m.OnStarted(false), M::kFinish) << "no read, no write on a call that never started";
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
  EXPECT_FALSE(m.registered());
}

TEST(EventStreamMachineTest, CancelDuringStartWhenTheCallStartsAnyway) {
  M m;
  m.Start();
  m.Cancel();
  // gRPC may report the start before the cancellation: the registration
  // write and the read are started and fail; Finish follows both.
  ASSERT_EQ(m.OnStarted(true), M::kWriteRegistration | M::kRead);
  EXPECT_EQ(m.OnWriteDone(false), M::kNone) << "the read is still out";
  EXPECT_EQ(m.OnReadFailed(), M::kFinish);
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
  EXPECT_FALSE(m.registered());
}

TEST(EventStreamMachineTest, HalfCloseDuringStartWritesTheRegistrationFirst) {
  M m;
  m.Start();
  EXPECT_EQ(m.HalfClose(), M::kNone);
  EXPECT_EQ(m.writer(), Writer::kWritingThenHalfClose);
  ASSERT_EQ(m.OnStarted(true), M::kWriteRegistration | M::kRead);
  EXPECT_EQ(m.OnWriteDone(true), M::kWritesDone);
  EXPECT_EQ(m.OnWritesDoneDone(), M::kNone) << "Finish waits for the membrane to end the call";
  EXPECT_EQ(m.OnReadFailed(), M::kFinish);
}

TEST(EventStreamMachineTest, HalfCloseWritesWhatIsQueuedThenDropsLateAnswers) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  EXPECT_EQ(m.HalfClose(), M::kNone);
  EXPECT_EQ(m.QueueReply("2", false), M::kNone) << "queued before the half-close";
  EXPECT_EQ(m.HalfClose(), M::kNone) << "idempotent";
  ASSERT_EQ(m.OnWriteDone(true), M::kWriteReply);
  EXPECT_EQ(m.TakeNextReply().id, "2");
  EXPECT_EQ(m.OnWriteDone(true), M::kWritesDone);
  EXPECT_EQ(m.writer(), Writer::kHalfClosing);
  EXPECT_EQ(m.QueueReply("3", false), M::kNone);
  EXPECT_EQ(m.queued(), 0u) << "an answer after the half-close is dropped";
  EXPECT_EQ(m.OnWritesDoneDone(), M::kNone);
  EXPECT_EQ(m.OnReadFailed(), M::kFinish);
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
}

TEST(EventStreamMachineTest, HalfCloseOfAnIdleStreamStartsWritesDoneAtOnce) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  EXPECT_EQ(m.HalfClose(), M::kWritesDone);
  EXPECT_EQ(m.HalfClose(), M::kNone);
  EXPECT_EQ(m.OnReadFailed(), M::kNone) << "WritesDone is still out";
  EXPECT_EQ(m.OnWritesDoneDone(), M::kFinish);
}

TEST(EventStreamMachineTest, StoppingDropsEventsButKeepsReading) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  m.StopTakingEvents();
  bool registered = false;
  EXPECT_EQ(m.OnMessage(false, true, &registered), M::Message::kDrop);
  EXPECT_EQ(m.phase(), Phase::kServing);
  // Answers to events taken before the stop still go out.
  EXPECT_EQ(m.QueueReply("1", false), M::kWriteReply);
}

TEST(EventStreamMachineTest, AFailedWriteCancelsTheCall) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  m.QueueReply("2", false);
  // The read is still out and nobody would end it: cancel, so that it fails
  // and Finish can follow.
  EXPECT_EQ(m.OnWriteDone(false), M::kCancel);
  EXPECT_TRUE(m.failed());
  EXPECT_EQ(m.writer(), Writer::kClosed);
  EXPECT_EQ(m.phase(), Phase::kServing);
  EXPECT_EQ(m.QueueReply("3", false), M::kNone);
  EXPECT_EQ(m.OnReadFailed(), M::kFinish);
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
  EXPECT_TRUE(m.failed());
}

TEST(EventStreamMachineTest, AWriteFailingAfterTheMembraneEndedTheCallIsNoFailure) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  m.OnReadFailed();
  EXPECT_EQ(m.OnWriteDone(false), M::kFinish);
  EXPECT_FALSE(m.failed());
}

TEST(EventStreamMachineTest, AWriteFailingAfterACancelIsNoFailure) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  m.Cancel();
  EXPECT_EQ(m.OnWriteDone(false), M::kNone);
  EXPECT_FALSE(m.failed());
}

TEST(EventStreamMachineTest, AnUnusableMessageWhileWritesAreOutstanding) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  ASSERT_EQ(m.QueueReply("1", false), M::kWriteReply);
  m.TakeNextReply();
  m.QueueReply("2", false);
  // No Read is started again; the call is cancelled at once, but Finish
  // waits for the outstanding write.
  EXPECT_EQ(m.OnUnusableMessage(), M::kCancel);
  EXPECT_TRUE(m.failed());
  EXPECT_EQ(m.phase(), Phase::kDraining);
  EXPECT_EQ(m.QueueReply("3", false), M::kNone);
  EXPECT_EQ(m.queued(), 0u);
  EXPECT_EQ(m.OnWriteDone(false), M::kFinish) << "the cancelled write fails: no second Cancel";
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
}

TEST(EventStreamMachineTest, AnUnusableMessageOnAnIdleStream) {
  M m;
  ASSERT_NO_FATAL_FAILURE(Serve(m));
  EXPECT_EQ(m.OnUnusableMessage(), M::kCancel | M::kFinish);
  EXPECT_EQ(m.OnFinished(), M::kReportEnded);
  EXPECT_TRUE(m.failed());
  EXPECT_TRUE(m.registered());
}

TEST(EventStreamMachineTest, AnUnusableFirstMessageFailsAnUnregisteredStream) {
  M m;
  m.Start();
  m.OnStarted(true);
  EXPECT_EQ(m.OnUnusableMessage(), M::kCancel);  // the registration write is out
  EXPECT_EQ(m.OnWriteDone(true), M::kFinish);
  EXPECT_FALSE(m.registered()) << "the session retries it as a failed registration";
}

// Random orders of completions and requests, as gRPC and the worker threads
// may produce them. Checks what EventStream relies on: at most one write
// outstanding, every read and write started only on a started call, Finish
// started once and only when no read or write is outstanding, the end
// reported once and only when nothing is outstanding, and every run ends
// once the call is cancelled.
TEST(EventStreamMachineTest, RandomOrdersKeepTheInvariants) {
  std::mt19937 rng(12345);
  for (int run = 0; run < 20000; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    M m;
    bool start_out = false, read_out = false, write_out = false, finish_out = false;
    bool started = false, finish_started = false, ended = false, cancelled = false;
    int replies = 0;
    auto perform = [&](M::Actions a) {
      if (a & M::kStartCall) {
        ASSERT_FALSE(start_out);
        start_out = true;
      }
      if (a & (M::kWriteRegistration | M::kWriteReply | M::kWritesDone)) {
        ASSERT_TRUE(started || (a & M::kWriteRegistration));
        ASSERT_FALSE(write_out) << "two writes outstanding";
        ASSERT_EQ(__builtin_popcount(a & (M::kWriteRegistration | M::kWriteReply | M::kWritesDone)),
                  1);
        if (a & M::kWriteReply) m.TakeNextReply();
        write_out = true;
      }
      if (a & M::kRead) {
        ASSERT_FALSE(read_out);
        read_out = true;
      }
      if (a & M::kCancel) {
        ASSERT_FALSE(finish_started) << "Cancel after Finish";
        cancelled = true;  // every operation still out fails from now on
      }
      if (a & M::kFinish) {
        ASSERT_FALSE(finish_started) << "Finish started twice";
        ASSERT_FALSE(read_out || write_out || start_out) << "Finish with operations outstanding";
        finish_started = finish_out = true;
      }
      if (a & M::kReportEnded) {
        ASSERT_FALSE(ended);
        ASSERT_FALSE(read_out || write_out || start_out || finish_out);
        ended = true;
      }
    };
    ASSERT_NO_FATAL_FAILURE(perform(m.Start()));
    for (int step = 0; step < 400 && !ended; ++step) {
      // After 60 steps the call is cancelled so that every run must end.
      if (step == 60 && !cancelled) {
        cancelled = true;
        ASSERT_NO_FATAL_FAILURE(perform(m.Cancel()));
      }
      const bool fail = cancelled || rng() % 8 == 0;
      switch (rng() % 7) {
        case 0:
          if (start_out) {
            start_out = false;
            started = !fail;
            ASSERT_NO_FATAL_FAILURE(perform(m.OnStarted(!fail)));
          }
          break;
        case 1:
          if (read_out) {
            read_out = false;
            if (fail) {
              ASSERT_NO_FATAL_FAILURE(perform(m.OnReadFailed()));
            } else if (rng() % 32 == 0) {
              ASSERT_NO_FATAL_FAILURE(perform(m.OnUnusableMessage()));
            } else {
              bool reg = false;
              m.OnMessage(rng() % 4 == 0, rng() % 2 == 0, &reg);
              read_out = true;  // the caller reads again
            }
          }
          break;
        case 2:
          if (write_out) {
            write_out = false;
            // A completed WritesDone is told apart by the writer's state.
            if (m.writer() == Writer::kHalfClosing) {
              ASSERT_NO_FATAL_FAILURE(perform(m.OnWritesDoneDone()));
            } else {
              ASSERT_NO_FATAL_FAILURE(perform(m.OnWriteDone(!fail)));
            }
          }
          break;
        case 3:
          if (finish_out) {
            finish_out = false;
            ASSERT_NO_FATAL_FAILURE(perform(m.OnFinished()));
          }
          break;
        case 4:
          ASSERT_NO_FATAL_FAILURE(perform(m.QueueReply(std::to_string(++replies), false)));
          break;
        case 5:
          if (rng() % 16 == 0) {
            ASSERT_NO_FATAL_FAILURE(perform(m.HalfClose()));
          }
          break;
        case 6:
          if (rng() % 64 == 0) {
            cancelled = true;
            ASSERT_NO_FATAL_FAILURE(perform(m.Cancel()));
          }
          break;
      }
      if (m.phase() >= Phase::kDraining) {
        ASSERT_TRUE(m.writer() == Writer::kHalfClosing || m.writer() == Writer::kDiscarding ||
                    m.writer() == Writer::kClosed);
      }
    }
    ASSERT_TRUE(ended) << "the call did not end after a cancel";
  }
}

}  // namespace
}  // namespace nitric::host
