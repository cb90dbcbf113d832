#include "bench/common/latency.h"

#include <algorithm>
#include <cmath>

namespace nitric::bench {

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

LatencySummary LatencyRecorder::Summarize() {
  LatencySummary summary;
  summary.count = samples_.size();
  if (samples_.empty()) return summary;
  std::sort(samples_.begin(), samples_.end());
  auto at = [this](double quantile) {
    const auto rank = static_cast<std::size_t>(std::ceil(quantile * samples_.size()));
    return static_cast<double>(samples_[std::max<std::size_t>(rank, 1) - 1]) / 1000.0;
  };
  summary.p50_us = at(0.50);
  summary.p99_us = at(0.99);
  summary.max_us = static_cast<double>(samples_.back()) / 1000.0;
  return summary;
}

}  // namespace nitric::bench
