#include "host/membrane/event_stream_machine.h"

namespace nitric::host {

EventStreamMachine::Actions EventStreamMachine::Start() {
  if (phase_ != Phase::kNew) return kNone;
  phase_ = Phase::kStarting;
  writer_ = Writer::kWriting;  // the registration is the first write
  return kStartCall;
}

EventStreamMachine::Actions EventStreamMachine::OnStarted(bool ok) {
  if (!ok) {
    // The call never started: nothing to read or write, but Finish still
    // reports why.
    phase_ = Phase::kDraining;
    writer_ = Writer::kClosed;
    pending_.clear();
    return FinishIfDrained();
  }
  phase_ = Phase::kRegistering;
  // Reads and writes may only start once the call has. The registration is
  // written even when the writer was closed meanwhile (Cancel during start):
  // the writer owns that write, and its failure closes the writer.
  return kWriteRegistration | kRead;
}

EventStreamMachine::Message EventStreamMachine::OnMessage(bool is_registration_ack, bool has_event,
                                                          bool* report_registered) {
  *report_registered = false;
  if (phase_ == Phase::kRegistering) {
    phase_ = Phase::kServing;
    registered_ = true;
    *report_registered = true;
    if (is_registration_ack) return Message::kIgnore;
  }
  if (!has_event) return Message::kIgnore;
  if (stopping()) return Message::kDrop;
  return Message::kSubmit;
}

EventStreamMachine::Actions EventStreamMachine::OnReadFailed() {
  // The call is over (the membrane ended it, or it was cancelled). Answers
  // still owed cannot be delivered any more.
  phase_ = Phase::kDraining;
  CloseWriter();
  return FinishIfDrained();
}

EventStreamMachine::Actions EventStreamMachine::OnUnusableMessage() {
  failed_ = true;
  phase_ = Phase::kDraining;
  CloseWriter();
  return kCancel | FinishIfDrained();
}

EventStreamMachine::Actions EventStreamMachine::OnWriteDone(bool ok) {
  if (!ok || writer_ == Writer::kDiscarding) {
    // Nothing more is written. A write that fails on a call the host still
    // reads from means the call is broken: cancel it, so the read (and then
    // Finish) ends too instead of waiting on a call nobody answers. A write
    // failing after a Cancel or after the read side ended is expected.
    Actions actions = kNone;
    if (!ok && writer_ != Writer::kDiscarding &&
        (phase_ == Phase::kRegistering || phase_ == Phase::kServing)) {
      failed_ = true;
      actions = kCancel;
    }
    writer_ = Writer::kClosed;
    batch_.clear();
    batch_pos_ = 0;
    pending_.clear();
    return actions | FinishIfDrained();
  }
  if (batch_pos_ == batch_.size()) {
    batch_.clear();
    batch_pos_ = 0;
    batch_.swap(pending_);  // everything answered while the last write was out
  }
  if (batch_pos_ < batch_.size()) return kWriteReply;
  if (writer_ == Writer::kWritingThenHalfClose) {
    writer_ = Writer::kHalfClosing;
    return kWritesDone;
  }
  writer_ = Writer::kIdle;
  return kNone;
}

EventStreamMachine::Actions EventStreamMachine::OnWritesDoneDone() {
  writer_ = Writer::kClosed;
  return FinishIfDrained();
}

EventStreamMachine::Actions EventStreamMachine::OnFinished() {
  phase_ = Phase::kEnded;
  return kReportEnded;
}

EventStreamMachine::Actions EventStreamMachine::QueueReply(std::string id, bool reject) {
  switch (writer_) {
    case Writer::kHalfClosing:
    case Writer::kDiscarding:
    case Writer::kClosed:
      return kNone;  // the membrane already failed that delivery
    case Writer::kWriting:
    case Writer::kWritingThenHalfClose:
      pending_.push_back(Reply{std::move(id), reject});  // the writer picks it up
      return kNone;
    case Writer::kIdle:
      break;
  }
  pending_.push_back(Reply{std::move(id), reject});
  writer_ = Writer::kWriting;
  batch_.swap(pending_);
  batch_pos_ = 0;
  return kWriteReply;
}

EventStreamMachine::Actions EventStreamMachine::HalfClose() {
  switch (writer_) {
    case Writer::kIdle:
      writer_ = Writer::kHalfClosing;
      return kWritesDone;
    case Writer::kWriting:
      writer_ = Writer::kWritingThenHalfClose;  // OnWriteDone half-closes
      return kNone;
    default:
      return kNone;  // already half-closing or closed
  }
}

EventStreamMachine::Actions EventStreamMachine::Cancel() {
  CloseWriter();
  return kNone;
}

void EventStreamMachine::CloseWriter() {
  switch (writer_) {
    case Writer::kIdle:
      writer_ = Writer::kClosed;
      break;
    case Writer::kWriting:
    case Writer::kWritingThenHalfClose:
      // The batch belongs to the outstanding writer; OnWriteDone drops it.
      writer_ = Writer::kDiscarding;
      break;
    default:
      break;
  }
  pending_.clear();
}

EventStreamMachine::Actions EventStreamMachine::FinishIfDrained() {
  if (phase_ != Phase::kDraining || writer_ != Writer::kClosed) return kNone;
  phase_ = Phase::kFinishing;
  return kFinish;
}

}  // namespace nitric::host
