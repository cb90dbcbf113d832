// Latency samples and their summary (p50 / p99 / max).
//
// Thread-safety: none; one recorder per thread or per connection, merged at
// the end.
#pragma once

#include <cstdint>
#include <vector>

namespace nitric::bench {

struct LatencySummary {
  uint64_t count = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

class LatencyRecorder {
 public:
  void Add(uint64_t nanoseconds) { samples_.push_back(nanoseconds); }
  void Merge(const LatencyRecorder& other);
  void Clear() { samples_.clear(); }
  uint64_t count() const { return samples_.size(); }
  // Sorts the samples (nearest-rank percentiles).
  LatencySummary Summarize();

 private:
  std::vector<uint64_t> samples_;
};

}  // namespace nitric::bench
