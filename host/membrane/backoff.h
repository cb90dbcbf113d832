// Capped exponential backoff with jitter, for reconnecting to the membrane.
// Not thread-safe: one owner (the session's supervisor thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace nitric::host {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial), rng_(std::random_device{}()) {}

  // The delay before the next attempt: initial, 2x, 4x, ... up to max, each
  // shortened by up to 20% at random so many hosts do not retry in lockstep.
  std::chrono::milliseconds Next() {
    const std::chrono::milliseconds base = next_;
    next_ = std::min(max_, next_ * 2);
    std::uniform_int_distribution<long> jitter(0, base.count() / 5);
    return base - std::chrono::milliseconds(jitter(rng_));
  }

  void Reset() { next_ = initial_; }

 private:
  const std::chrono::milliseconds initial_;
  const std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
  std::minstd_rand rng_;
};

}  // namespace nitric::host
