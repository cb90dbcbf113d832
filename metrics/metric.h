// The three kinds of number a hot path updates: Counter, Gauge, Histogram.
//
// Cost: an update is one relaxed atomic add (a Histogram: a bucket search and
// two relaxed adds) on memory the calling thread mostly has to itself. Counters
// and histograms are split into kShards cache-line-aligned shards; a thread
// always uses the same shard (picked round-robin when it first updates any
// metric), so threads on different cores rarely write the same cache line. No
// update takes a lock, allocates or makes a system call. Reading (a scrape)
// adds up the shards, so it is the slow side: O(kShards) per counter.
//
// Consistency: a scrape reads each shard once with relaxed loads. It may see
// an update to one counter and not yet an update made just before it to
// another, but every number it reads only grows (counters, histogram buckets),
// and a histogram's _count is the sum of the buckets it read, so _count always
// equals its +Inf bucket.
//
// Thread-safety: every method may be called from any thread at any time.
// Objects do not move (they are handed out by reference from metrics/registry.h
// and live as long as their registry).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace nitric::metrics {

inline constexpr unsigned kShards = 8;
inline constexpr std::size_t kCacheLine = 64;

namespace internal {
unsigned NextShard() noexcept;
inline thread_local unsigned tls_shard = kShards;  // kShards: not picked yet
// The calling thread's shard, in [0, kShards).
inline unsigned ShardIndex() noexcept {
  unsigned shard = tls_shard;
  if (shard >= kShards) [[unlikely]] {
    shard = tls_shard = NextShard();
  }
  return shard;
}
}  // namespace internal

// A number that only goes up (events handled, bytes sent).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Add(std::uint64_t n = 1) noexcept {
    cells_[internal::ShardIndex()].value.fetch_add(n, std::memory_order_relaxed);
  }
  // The sum over every shard.
  std::uint64_t Value() const noexcept;

 private:
  struct alignas(kCacheLine) Cell {
    std::atomic<std::uint64_t> value{0};
  };
  Cell cells_[kShards];
};

// A number that goes up and down, or is set (connections open, generation).
// One atomic: Set() has to be exact, so it is not sharded. A gauge that moves
// on every event from several threads is better made of two Counters
// (started - finished) read at scrape time.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(std::int64_t value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void Add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void Sub(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  std::int64_t Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  alignas(kCacheLine) std::atomic<std::int64_t> value_{0};
};

// Observations counted into fixed buckets (durations, sizes). Bucket i holds
// the values v with bounds[i-1] < v <= bounds[i]; a last, implicit bucket
// holds the values above the last bound (and NaN).
class Histogram {
 public:
  // REQUIRES: `bounds` strictly increasing and finite (the registry checks).
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value) noexcept {
    const std::vector<double>& bounds = *bounds_;
    // First bound >= value; NaN compares false everywhere, so test it apart.
    std::size_t bucket =
        std::isnan(value)
            ? bounds.size()
            : static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) -
                                       bounds.begin());
    std::atomic<std::uint64_t>* shard = Shard(internal::ShardIndex());
    shard[bucket].fetch_add(1, std::memory_order_relaxed);
    std::atomic<std::uint64_t>& sum = shard[sum_slot_];
    std::uint64_t old_bits = sum.load(std::memory_order_relaxed);
    while (!sum.compare_exchange_weak(
        old_bits, std::bit_cast<std::uint64_t>(std::bit_cast<double>(old_bits) + value),
        std::memory_order_relaxed)) {
    }
  }
  // A duration, observed in seconds.
  template <typename Rep, typename Period>
  void ObserveDuration(std::chrono::duration<Rep, Period> d) noexcept {
    Observe(std::chrono::duration<double>(d).count());
  }

  struct Snapshot {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; bounds().size() + 1
    double sum = 0;
    std::uint64_t count = 0;  // sum of counts
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  // A shard is `stride_` slots, a whole number of cache lines: the bucket
  // counts, then the sum (a double's bits, added with a compare-exchange).
  // All shards are one cache-line-aligned array.
  struct AlignedDelete {
    void operator()(std::atomic<std::uint64_t>* slots) const noexcept;
  };
  std::atomic<std::uint64_t>* Shard(unsigned shard) const noexcept {
    return slots_.get() + std::size_t{shard} * stride_;
  }

  std::shared_ptr<const std::vector<double>> bounds_;
  std::size_t sum_slot_;
  std::size_t stride_;
  std::unique_ptr<std::atomic<std::uint64_t>[], AlignedDelete> slots_;
};

// Bucket bounds for durations in seconds from 50 µs to 10 s, in 1-2.5-5
// steps: 0.00005, 0.0001, 0.00025, ... 5, 10.
std::vector<double> DurationBuckets();
// `count` bounds: start, start*factor, start*factor^2, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace nitric::metrics
