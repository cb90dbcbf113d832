// The states of one HandleEvents stream (event_stream.h), without gRPC: the
// stream feeds this machine its completions and requests and performs the
// actions it returns. Unit-tested in tests/host/event_stream_test.cc.
//
// A stream has two sides that advance independently until the end: the call
// (started, reading, finishing) and the writer (the registration, then the
// answers, then the half-close). Each is one enum. At most one operation of
// each kind is outstanding: StartCall, one Read, one Write or WritesDone, one
// Finish; the states say which, so no counter is needed.
//
// Call phase (queue thread only):
//
//   phase         event                       next          actions
//   ────────────  ──────────────────────────  ────────────  ───────────────────────
//   kNew          Start                       kStarting     StartCall
//   kStarting     OnStarted(ok)               kRegistering  WriteRegistration, Read
//   kStarting     OnStarted(!ok)              kFinishing    Finish (writer → kClosed)
//   kRegistering  OnMessage (any)             kServing      ReportRegistered, then as
//                                                           kServing (an ack: Read)
//   kServing      OnMessage: event            kServing      Submit (stopping: Read)
//   kServing      OnMessage: no event         kServing      Read
//   kRegistering, OnReadFailed                kDraining     closes the writer (below);
//   kServing                                                Finish if writer kClosed
//   kRegistering, OnUnusableMessage           kDraining     failed: Cancel; closes the
//   kServing                                                writer; Finish if kClosed
//   kDraining     writer reaches kClosed      kFinishing    Finish
//   kFinishing    OnFinished                  kEnded        ReportEnded
//
// Writer (under the stream's mutex; the writer's batch belongs to whoever
// started the outstanding Write):
//
//   writer                 event                 next                   actions
//   ─────────────────────  ────────────────────  ─────────────────────  ─────────────
//   kIdle                  Start                 kWriting               (registration
//                                                                        written once
//                                                                        the call starts)
//   kIdle                  QueueReply            kWriting               WriteReply
//   kWriting, kWriting-    QueueReply            same                   (queued)
//     ThenHalfClose
//   kWriting, kWriting-    OnWriteDone(ok),      same                   WriteReply
//     ThenHalfClose          more queued
//   kWriting               OnWriteDone(ok),      kIdle                  —
//                            queue empty
//   kWritingThenHalfClose  OnWriteDone(ok),      kHalfClosing           WritesDone
//                            queue empty
//   kIdle                  HalfClose             kHalfClosing           WritesDone
//   kWriting               HalfClose             kWritingThenHalfClose  —
//   kHalfClosing           OnWritesDoneDone      kClosed                Finish if kDraining
//   kIdle                  Cancel/OnReadFailed   kClosed                Finish if kDraining
//   kWriting, kWriting-    Cancel/OnReadFailed   kDiscarding            (queue dropped)
//     ThenHalfClose
//   kDiscarding            OnWriteDone(any)      kClosed                Finish if kDraining
//   kWriting, kWriting-    OnWriteDone(!ok)      kClosed                while reading: Cancel
//     ThenHalfClose                                                     (failed); Finish if
//                                                                       kDraining
//   kHalfClosing, kDis-    QueueReply            same                   (answer dropped)
//     carding, kClosed
//
// Invariants: phase ≥ kDraining ⇒ the writer is kHalfClosing, kDiscarding or
// kClosed (no answer is taken any more); Finish starts once, only when the
// read side has ended and no write is outstanding, so when it completes no
// operation of the call is left and the stream may be freed.
//
// "Stop taking events" (shutdown) is a request, not a state: events read
// after it are dropped unanswered (the membrane fails them when the stream
// ends) while reading goes on to see the end of the call.
//
// Thread-safety: none of its own. The phase and OnMessage belong to the
// completion-queue thread (the hot path takes no lock); every other method
// must be called under the owner's mutex. StopTakingEvents() may be called
// from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nitric::host {

class EventStreamMachine {
 public:
  enum class Phase : uint8_t {
    kNew,
    kStarting,
    kRegistering,
    kServing,
    kDraining,
    kFinishing,
    kEnded
  };
  enum class Writer : uint8_t {
    kIdle,                  // nothing outstanding; an answer starts a Write
    kWriting,               // a Write is outstanding
    kWritingThenHalfClose,  // a Write is outstanding; half-close once the queue is written
    kHalfClosing,           // WritesDone is outstanding
    kDiscarding,            // a Write is outstanding; nothing more will be written
    kClosed,                // nothing outstanding; nothing more will be written
  };

  // Operations for the caller to start, in this order, after releasing its
  // mutex (operations on a completion queue never complete inline, so they may
  // also be started under it).
  enum Action : unsigned {
    kNone = 0,
    kStartCall = 1u << 0,
    kWriteRegistration = 1u << 1,
    kRead = 1u << 2,
    kWriteReply = 1u << 3,  // write TakeNextReply()
    kWritesDone = 1u << 4,
    kFinish = 1u << 5,
    kReportEnded = 1u << 6,
    kCancel = 1u << 7,  // the call is unusable: cancel it (before any Finish)
  };
  using Actions = unsigned;

  // What to do with a message that was read (OnMessage).
  enum class Message : uint8_t {
    kSubmit,  // an event: hand it to the dispatcher, then Read
    kDrop,    // stopping: leave it unanswered, then Read
    kIgnore,  // not an event (e.g. the registration ack): Read
  };

  struct Reply {
    std::string id;
    bool reject = false;
  };

  Phase phase() const { return phase_; }
  Writer writer() const { return writer_; }
  // The first message arrived: the membrane acknowledged the registration.
  bool registered() const { return registered_; }
  // The host cancelled the call because it could not use it (an unusable
  // message, a failed write): the membrane did not end it.
  bool failed() const { return failed_; }
  // Answers queued behind the outstanding Write (for tests).
  size_t queued() const { return pending_.size() + (batch_.size() - batch_pos_); }

  Actions Start();
  Actions OnStarted(bool ok);
  // A message was read. `*report_registered` is set when it is the first one
  // (the caller tells its observer). Hot path: no allocation.
  Message OnMessage(bool is_registration_ack, bool has_event, bool* report_registered);
  // The read completed without a message: the call is over.
  Actions OnReadFailed();
  // A message arrived that the host cannot parse: it cannot be answered (its
  // id is unknown) and the membrane waits for that answer, so the call is
  // cancelled (the membrane fails the delivery) and reported as failed.
  Actions OnUnusableMessage();
  Actions OnWriteDone(bool ok);
  Actions OnWritesDoneDone();
  Actions OnFinished();

  // Queues an answer; kWriteReply when the caller became the writer.
  Actions QueueReply(std::string id, bool reject);
  // The next answer to write, owned by the writer (the caller that got
  // kWriteReply); valid until the next call of this machine.
  Reply& TakeNextReply() { return batch_[batch_pos_++]; }
  // Finish(): write what is queued, then half-close.
  Actions HalfClose();
  // Cancel(): nothing more is written (the caller cancels the call).
  Actions Cancel();

  void StopTakingEvents() { stopping_.store(true, std::memory_order_release); }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

 private:
  // Closes the writer for good: kIdle → kClosed, an outstanding Write →
  // kDiscarding; drops what is queued.
  void CloseWriter();
  // kDraining and nothing written any more: start Finish.
  Actions FinishIfDrained();

  // The read side (queue thread), apart from the writer's cache line: the
  // hot path reads it for every event while workers take the writer's lock.
  Phase phase_ = Phase::kNew;
  bool registered_ = false;  // facts for OnEnded, not control states
  bool failed_ = false;
  std::atomic<bool> stopping_{false};

  // The writer (under the owner's mutex, which the owner places after this
  // machine): answers not yet taken by the writer, and its current batch.
  alignas(64) Writer writer_ = Writer::kIdle;
  std::vector<Reply> pending_;
  std::vector<Reply> batch_;
  size_t batch_pos_ = 0;
};

}  // namespace nitric::host
