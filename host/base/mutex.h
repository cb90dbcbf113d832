// A std::mutex that clang's thread-safety analysis can check.
//
// libstdc++'s std::mutex carries no capability attributes, so
// ABSL_GUARDED_BY(a std::mutex) is not checked by anything. Mutex and
// MutexLock below are std::mutex and std::unique_lock with the attributes
// added: the same size, the same code, no extra cost on any path (the
// dispatcher's included). absl::Mutex would be checked too, but it is a
// different lock with its own costs (Debian builds it with deadlock
// detection on; see main.cc).
//
// Use:
//   Mutex mu_;
//   int n_ ABSL_GUARDED_BY(mu_) = 0;
//   void Add() ABSL_LOCKS_EXCLUDED(mu_) { MutexLock lock(&mu_); ++n_; }
//   void AddLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++n_; }
// A condition wait is written as a loop in the locked scope, so that the
// analysis sees every read of guarded state under the lock:
//   while (n_ == 0) mu_.Wait(cv_);
// (Wait is on the Mutex, not on the MutexLock: clang does not follow a
// scoped lock passed by reference, but it does follow REQUIRES(mu_).)
//
// scripts/thread-safety.sh builds the host libraries with clang and
// -Wthread-safety -Werror, and so does CI's ASan+UBSan build
// (scripts/sanitize.sh); with GCC the attributes compile to nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <absl/base/thread_annotations.h>

namespace nitric::host {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis the caller holds the lock where it cannot see it (a
  // callback run under it). No runtime check.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

  // Waits on `cv`: the lock is released while waiting and held again on
  // return. Spurious wake-ups happen: wait in a loop on the condition.
  void Wait(std::condition_variable& cv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv.wait(lock);
    lock.release();  // still held, by the caller
  }
  // As Wait; std::cv_status::timeout once `deadline` has passed.
  template <class Clock, class Duration>
  std::cv_status WaitUntil(std::condition_variable& cv,
                           const std::chrono::time_point<Clock, Duration>& deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    const std::cv_status status = cv.wait_until(lock, deadline);
    lock.release();  // still held, by the caller
    return status;
  }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Releases the lock before the scope ends (e.g. to call out without it),
  // and takes it again.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

}  // namespace nitric::host
