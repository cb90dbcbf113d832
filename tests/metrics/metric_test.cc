// Counter, Gauge and Histogram: exact totals under concurrent updates, and
// the bucket a value lands in.
#include "metrics/metric.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace nitric::metrics {
namespace {

constexpr int kThreads = 16;  // more threads than shards: shards are shared
constexpr int kPerThread = 20000;

template <typename F>
void RunThreads(F body) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
  for (auto& thread : threads) thread.join();
}

TEST(CounterTest, ConcurrentAddsAreAllCounted) {
  Counter counter;
  RunThreads([&](int) {
    for (int i = 0; i < kPerThread; ++i) counter.Add();
  });
  counter.Add(5);
  EXPECT_EQ(counter.Value(), std::uint64_t{kThreads} * kPerThread + 5);
}

TEST(GaugeTest, SetAddSub) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Add(5);
  gauge.Sub(20);
  EXPECT_EQ(gauge.Value(), -5);
  RunThreads([&](int) {
    for (int i = 0; i < kPerThread; ++i) {
      gauge.Add();
      gauge.Sub();
    }
  });
  EXPECT_EQ(gauge.Value(), -5);
}

std::shared_ptr<const std::vector<double>> Bounds(std::vector<double> bounds) {
  return std::make_shared<const std::vector<double>>(std::move(bounds));
}

TEST(HistogramTest, ValueOnABoundCountsInThatBucket) {
  Histogram histogram(Bounds({1, 2, 4}));
  histogram.Observe(0.5);  // bucket 0
  histogram.Observe(1);    // bucket 0: le="1" includes 1
  histogram.Observe(1.5);  // bucket 1
  histogram.Observe(4);    // bucket 2
  histogram.Observe(100);  // +Inf
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.counts, (std::vector<std::uint64_t>{2, 1, 1, 1}));
  EXPECT_EQ(snapshot.count, 5u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 107);
}

TEST(HistogramTest, NanGoesToInfBucket) {
  Histogram histogram(Bounds({1}));
  histogram.Observe(std::nan(""));
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.counts, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(snapshot.sum));
}

TEST(HistogramTest, DurationsAreObservedInSeconds) {
  Histogram histogram(Bounds(DurationBuckets()));
  histogram.ObserveDuration(std::chrono::microseconds(50));  // le=5e-05
  histogram.ObserveDuration(std::chrono::milliseconds(30));  // le=0.05
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.counts[0], 1u);
  EXPECT_EQ(snapshot.counts[9], 1u);
  EXPECT_EQ(histogram.bounds()[9], 0.05);
  EXPECT_NEAR(snapshot.sum, 0.03005, 1e-12);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCountedAndSummed) {
  // Many buckets, so a shard spans several cache lines.
  Histogram histogram(Bounds(ExponentialBuckets(1, 2, 20)));
  RunThreads([&](int t) {
    for (int i = 0; i < kPerThread; ++i) histogram.Observe(t % 2 == 0 ? 1.0 : 3.0);
  });
  Histogram::Snapshot snapshot = histogram.Read();
  const std::uint64_t half = std::uint64_t{kThreads} / 2 * kPerThread;
  EXPECT_EQ(snapshot.counts[0], half);  // le=1
  EXPECT_EQ(snapshot.counts[2], half);  // le=4
  EXPECT_EQ(snapshot.count, 2 * half);
  // Integers up to 2^53 add exactly in a double.
  EXPECT_EQ(snapshot.sum, 1.0 * half + 3.0 * half);
}

TEST(BucketsTest, DurationBucketsSpan50MicrosecondsTo10Seconds) {
  std::vector<double> bounds = DurationBuckets();
  EXPECT_EQ(bounds.front(), 0.00005);
  EXPECT_EQ(bounds.back(), 10);
  for (std::size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
}

TEST(BucketsTest, Exponential) {
  EXPECT_EQ(ExponentialBuckets(0.5, 4, 3), (std::vector<double>{0.5, 2, 8}));
}

}  // namespace
}  // namespace nitric::metrics
