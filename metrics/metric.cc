#include "metrics/metric.h"

#include <cmath>
#include <new>

namespace nitric::metrics {
namespace internal {

unsigned NextShard() noexcept {
  static std::atomic<unsigned> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kShards;
}

}  // namespace internal

std::uint64_t Counter::Value() const noexcept {
  std::uint64_t total = 0;
  for (const Cell& cell : cells_) total += cell.value.load(std::memory_order_relaxed);
  return total;
}

void Histogram::AlignedDelete::operator()(std::atomic<std::uint64_t>* slots) const noexcept {
  ::operator delete[](slots, std::align_val_t{kCacheLine});
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)) {
  constexpr std::size_t kPerLine = kCacheLine / sizeof(std::uint64_t);
  sum_slot_ = bounds_->size() + 1;  // after the buckets and the +Inf bucket
  stride_ = (sum_slot_ + 1 + kPerLine - 1) / kPerLine * kPerLine;
  const std::size_t n = stride_ * kShards;
  void* raw =
      ::operator new[](n * sizeof(std::atomic<std::uint64_t>), std::align_val_t{kCacheLine});
  auto* slots = static_cast<std::atomic<std::uint64_t>*>(raw);
  for (std::size_t i = 0; i < n; ++i) new (&slots[i]) std::atomic<std::uint64_t>(0);
  // The sum slots hold a double's bits; 0.0 is all zero bits.
  slots_.reset(slots);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.counts.assign(bounds_->size() + 1, 0);
  for (unsigned s = 0; s < kShards; ++s) {
    const std::atomic<std::uint64_t>* shard = Shard(s);
    for (std::size_t b = 0; b < snapshot.counts.size(); ++b) {
      snapshot.counts[b] += shard[b].load(std::memory_order_relaxed);
    }
    snapshot.sum += std::bit_cast<double>(shard[sum_slot_].load(std::memory_order_relaxed));
  }
  for (std::uint64_t c : snapshot.counts) snapshot.count += c;
  return snapshot;
}

std::vector<double> DurationBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

}  // namespace nitric::metrics
