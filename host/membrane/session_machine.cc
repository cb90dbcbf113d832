#include "host/membrane/session_machine.h"

namespace nitric::host {

namespace {

double Seconds(SessionMachine::Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

void SessionMachine::Want(bool changed) {
  switch (state_) {
    case State::kIdle:
      state_ = State::kConnecting;
      break;
    case State::kReady:
      if (changed) state_ = State::kConnecting;  // not ready until the new sockets are
      break;
    default:
      break;  // a backoff keeps its time; stopping stays stopped
  }
}

void SessionMachine::StopTakingEvents() {
  if (state_ == State::kClosed || state_ == State::kExited) return;
  state_ = State::kStopped;
}

void SessionMachine::Close() { state_ = State::kClosed; }

SessionMachine::Step SessionMachine::Next(Clock::time_point now, const Facts& facts) {
  Step step;
  switch (state_) {
    case State::kClosed:
      step.kind = Step::kExit;
      return step;
    case State::kIdle:
    case State::kStopped:
    case State::kExited:
      return step;  // kWait
    case State::kBuildRegistered:
      if (facts.no_streams) {
        state_ = State::kExited;
        step.kind = Step::kReportExit;
        step.exit_code = 0;
      }
      return step;
    case State::kConnecting:
    case State::kBackoff:
    case State::kReady:
      break;
  }
  if (!facts.needs_work) {
    if (state_ != State::kReady && facts.all_registered) {
      state_ = build_mode_ ? State::kBuildRegistered : State::kReady;
      step.kind = Step::kReportReady;
    }
    return step;
  }
  if (state_ == State::kBackoff && now < retry_at_) {
    step.kind = Step::kWaitUntil;
    step.until = retry_at_;
    return step;
  }
  state_ = State::kConnecting;
  step.kind = Step::kAttempt;
  return step;
}

SessionMachine::AttemptResult SessionMachine::OnAttemptDone(bool ok, Clock::time_point now) {
  AttemptResult result;
  if (stopping()) return result;
  if (ok) {
    if (failed_attempts_ > 0 || outage_since_) {
      result.kind = AttemptResult::kRestored;
      result.failed_attempts = failed_attempts_;
      result.seconds = Seconds(now - first_failure_);
    }
    failed_attempts_ = 0;
    outage_since_.reset();
    backoff_.Reset();
    if (state_ != State::kBackoff) state_ = State::kConnecting;
    return result;
  }
  if (build_mode_) {
    state_ = State::kExited;
    result.kind = AttemptResult::kExit;
    return result;
  }
  ++failed_attempts_;
  result.failed_attempts = failed_attempts_;
  if (failed_attempts_ == 1) {
    if (!outage_since_) first_failure_ = now;
    last_failure_log_ = now;
    result.kind = AttemptResult::kFailedFirst;
  } else if (now - last_failure_log_ >= log_interval_) {
    last_failure_log_ = now;
    result.kind = AttemptResult::kFailedAgain;
  } else {
    result.kind = AttemptResult::kFailedQuiet;
  }
  result.seconds = Seconds(now - first_failure_);
  retry_at_ = now + backoff_.Next();
  state_ = State::kBackoff;
  return result;
}

SessionMachine::StreamEnd SessionMachine::OnStreamEnded(bool registered, bool failed,
                                                        bool no_streams_left,
                                                        Clock::time_point now) {
  if (stopping()) return StreamEnd::kIgnored;
  if (!registered) return StreamEnd::kNotRegistered;
  if (build_mode_) {
    // Every stream registered once and the membrane ended them all: the
    // build is done.
    if (no_streams_left && state_ != State::kExited) state_ = State::kBuildRegistered;
    return StreamEnd::kBuildEnded;
  }
  if (failed) {
    // The membrane is there; this stream could not be used. Wait before
    // re-opening it.
    const Clock::time_point at = now + backoff_.Next();
    if (state_ != State::kBackoff || at > retry_at_) retry_at_ = at;
    state_ = State::kBackoff;
    return StreamEnd::kFailed;
  }
  if (state_ == State::kReady) state_ = State::kConnecting;
  if (outage_since_) return StreamEnd::kOutageGoesOn;
  outage_since_ = now;
  first_failure_ = now;
  return StreamEnd::kOutageStarted;
}

}  // namespace nitric::host
