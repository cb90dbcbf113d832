// The states of the membrane session (session.h), without gRPC or threads:
// the supervisor asks Next() what to do, performs it (declare and open
// streams, wait, report) and feeds the outcome back; the streams' ends and the
// public calls (Want, StopTakingEvents, Close) are events. What is wanted,
// declared and open stays in the session; it passes the machine the Facts it
// derives from them. Unit-tested in tests/host/session_test.cc.
//
//   state             event / Next() with facts             next              step or result
//   ────────────────  ────────────────────────────────────  ────────────────  ─────────────────
//   kIdle             Want                                  kConnecting       —
//   kConnecting,      Next: needs work (kBackoff: once      kConnecting       kAttempt
//     kReady,           retry_at has passed)
//     kBackoff
//   kBackoff          Next: needs work before retry_at      kBackoff          kWaitUntil(retry_at)
//   kConnecting,      Next: no work, all registered         kReady (build     kReportReady
//     kBackoff                                                mode: kBuild-
//                                                             Registered)
//   kConnecting       OnAttemptDone(ok)                     kConnecting       kRestored if it
//                                                                             had failed
//   kConnecting       OnAttemptDone(failed)                 kBackoff          kFailed (logged
//                                                                             at a bounded rate)
//   kConnecting       OnAttemptDone(failed), build mode     kExited           kExit (code 1)
//   kReady            Want that adds something              kConnecting       —
//   kReady,           OnStreamEnded(registered)             kConnecting       kOutageStarted /
//     kConnecting,                                          (kBackoff stays)  kOutageGoesOn
//     kBackoff                                                                (re-declare all)
//   kReady,           OnStreamEnded(registered, failed)     kBackoff          kFailed (re-open
//     kConnecting,                                          (retry_at: the    that stream only)
//     kBackoff                                              later of both)
//   kBuildRegistered  Next: no stream left                  kExited           kReportExit(0)
//   any but kClosed,  StopTakingEvents                      kStopped          —
//     kExited
//   any               Close                                 kClosed           Next: kExit
//   kIdle, kStopped,  Next                                  same              kWait
//     kExited, kReady
//     without work
//
// The backoff (capped, exponential, reset by a successful attempt) runs
// after a failed attempt and before re-opening a stream the host failed
// (a membrane that keeps sending what the host cannot use is not hammered);
// a membrane outage is retried at once first. Failures are
// logged at most once per `log_interval` after the first.
//
// Thread-safety: none; the session calls it under its mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "host/membrane/backoff.h"

namespace nitric::host {

class SessionMachine {
 public:
  using Clock = std::chrono::steady_clock;

  enum class State : uint8_t {
    kIdle,             // no Want() yet: nothing to do
    kConnecting,       // declare and open what is missing (an attempt is due)
    kBackoff,          // the last attempt failed: the next one waits for retry_at()
    kReady,            // everything wanted is declared and registered; reported
    kBuildRegistered,  // build mode: registered once; waits for the membrane to end every stream
    kExited,           // build mode: the exit was reported; waits for Close
    kStopped,          // StopTakingEvents: nothing is (re)opened any more
    kClosed,           // Close: the supervisor returns
  };

  // What the session derives from its data at the moment of Next().
  struct Facts {
    bool needs_work = false;      // something wanted is not declared, or a wanted stream is missing
    bool all_registered = false;  // everything wanted is declared and every stream registered
    bool no_streams = false;      // no stream is open
  };

  struct Step {
    enum Kind : uint8_t {
      kExit,         // leave the supervisor loop
      kWait,         // until something changes
      kWaitUntil,    // until `until` (or something changes)
      kAttempt,      // declare and open what is missing, then OnAttemptDone
      kReportReady,  // call the ready callback
      kReportExit,   // build mode: call the exit callback with `exit_code`
    };
    Kind kind = kWait;
    Clock::time_point until{};
    int exit_code = 0;
  };

  struct AttemptResult {
    enum Kind : uint8_t {
      kNone,         // nothing to say (or stopping)
      kRestored,     // worked after failures or an outage: log it
      kFailedFirst,  // the first failure: log it
      kFailedAgain,  // failing still; log it (the log interval has passed)
      kFailedQuiet,  // failing still; do not log yet
      kExit,         // build mode: report exit code 1
    };
    Kind kind = kNone;
    int failed_attempts = 0;  // so far (kRestored: before this success)
    double seconds = 0;       // since the trouble began
  };

  enum class StreamEnd : uint8_t {
    kIgnored,        // stopping or closed: nothing to repair
    kNotRegistered,  // ended before registering: the running attempt fails with its status
    kOutageStarted,  // a registered stream ended: re-declare everything and re-open (warn)
    kOutageGoesOn,   // the same, during an outage already reported (debug)
    kBuildEnded,     // build mode: a registered stream ended
    kFailed,         // the host cancelled a registered stream it could not use: re-open
                     // only it, at retry_at() (nothing is re-declared)
  };

  SessionMachine(bool build_mode, std::chrono::milliseconds backoff_initial,
                 std::chrono::milliseconds backoff_max, std::chrono::milliseconds log_interval)
      : build_mode_(build_mode),
        backoff_(backoff_initial, backoff_max),
        log_interval_(log_interval) {}

  State state() const { return state_; }
  // WaitReady's answer: ready was reported and nothing changed since.
  bool ready() const { return state_ == State::kReady || state_ == State::kBuildRegistered; }
  bool closed() const { return state_ == State::kClosed; }
  // Nothing is (re)opened: an attempt in progress gives up.
  bool stopping() const { return state_ == State::kStopped || state_ == State::kClosed; }
  // kBackoff: when the next attempt may start.
  Clock::time_point retry_at() const { return retry_at_; }

  // `changed`: the wanted declarations grew.
  void Want(bool changed);
  void StopTakingEvents();
  void Close();

  Step Next(Clock::time_point now, const Facts& facts);
  AttemptResult OnAttemptDone(bool ok, Clock::time_point now);
  // `failed`: the host cancelled it (EventStream::Observer::OnEnded).
  // `no_streams_left`: this was the last open stream.
  StreamEnd OnStreamEnded(bool registered, bool failed, bool no_streams_left,
                          Clock::time_point now);

 private:
  const bool build_mode_;
  Backoff backoff_;
  const std::chrono::milliseconds log_interval_;
  State state_ = State::kIdle;
  Clock::time_point retry_at_{};

  // Only for log lines: failures since the session last worked, when the
  // trouble began, when it was last logged, and since when a registered
  // stream's end is not repaired.
  int failed_attempts_ = 0;
  Clock::time_point first_failure_{};
  Clock::time_point last_failure_log_{};
  std::optional<Clock::time_point> outage_since_;
};

}  // namespace nitric::host
