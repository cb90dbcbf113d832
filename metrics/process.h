// The standard process_* families every Prometheus client exposes, read from
// /proc at scrape time (Linux only):
//   process_cpu_seconds_total      user + system CPU time (counter)
//   process_resident_memory_bytes  resident set size (gauge)
//   process_open_fds               open file descriptors (gauge)
//   process_start_time_seconds     start time since the Unix epoch (gauge)
// A value /proc does not give (a hardened /proc, a kernel without a field) is
// left out for that scrape rather than reported wrong.
#pragma once

#include <optional>

#include "metrics/registry.h"

namespace nitric::metrics {

void AddProcessMetrics(Registry& registry);

// The numbers, for tests; nullopt when /proc did not say.
struct ProcessStats {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> open_fds;
  std::optional<double> start_time_seconds;
};
ProcessStats ReadProcessStats();

}  // namespace nitric::metrics
