// process_* read from /proc: the numbers follow what the process does.
#include "metrics/process.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

namespace nitric::metrics {
namespace {

TEST(ProcessTest, OpenFdsCountsADescriptorWeOpen) {
  std::optional<double> before = ReadProcessStats().open_fds;
  ASSERT_TRUE(before.has_value());
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::optional<double> during = ReadProcessStats().open_fds;
  close(fd);
  ASSERT_TRUE(during.has_value());
  EXPECT_EQ(*during, *before + 1);
}

TEST(ProcessTest, CpuSecondsGrowWithWork) {
  double start = ReadProcessStats().cpu_seconds.value_or(-1);
  ASSERT_GE(start, 0);
  // Burn CPU until the kernel has charged us at least one more tick (a
  // condition, not a duration; the deadline only stops a broken reader).
  volatile std::uint64_t sink = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  double now = start;
  while (now <= start && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 1000000; ++i) sink = sink + i;
    now = ReadProcessStats().cpu_seconds.value_or(-1);
  }
  EXPECT_GT(now, start);
}

TEST(ProcessTest, ResidentMemoryAndStartTimeAreSane) {
  ProcessStats stats = ReadProcessStats();
  ASSERT_TRUE(stats.resident_bytes.has_value());
  EXPECT_GT(*stats.resident_bytes, 0);
  ASSERT_TRUE(stats.start_time_seconds.has_value());
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*stats.start_time_seconds, now + 1);
  // The test process started at most a day ago (it started this run).
  EXPECT_GT(*stats.start_time_seconds, now - 86400);
}

TEST(ProcessTest, CollectorWritesTheFourStandardFamilies) {
  Registry registry;
  AddProcessMetrics(registry);
  std::string text = registry.Expose();
  for (const char* line :
       {"# TYPE process_cpu_seconds_total counter\n",
        "# TYPE process_resident_memory_bytes gauge\n", "# TYPE process_open_fds gauge\n",
        "# TYPE process_start_time_seconds gauge\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " missing from:\n" << text;
  }
}

}  // namespace
}  // namespace nitric::metrics
