// What a benchmark reads about a process from /proc, and about itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nitric::bench {

// CPU time of every thread of a process, in seconds (clock-tick resolution:
// 10 ms).
struct CpuTimes {
  double user = 0;
  double system = 0;
  double total() const { return user + system; }
};
std::optional<CpuTimes> ProcessCpuTimes(pid_t pid);

// utime + stime of every thread of `pid`, in seconds. nullopt when the
// process is gone.
std::optional<double> ProcessCpuSeconds(pid_t pid);

// Context switches (voluntary + involuntary) summed over the process's live
// threads (/proc/<pid>/task/*/status). A thread that exited is not counted.
std::optional<uint64_t> ProcessContextSwitches(pid_t pid);

// A "Vm..." line of /proc/<pid>/status in KiB (e.g. "VmHWM": peak RSS,
// "VmRSS": current RSS). nullopt when the process is gone.
std::optional<long> ProcessStatusKib(pid_t pid, const std::string& field);

// user + system CPU of the calling process (all its threads), in seconds,
// microsecond resolution.
double SelfCpuSeconds();

// Distinct paths in /proc/<pid>/maps that contain `needle`.
std::vector<std::string> MappedFiles(pid_t pid, const std::string& needle);

}  // namespace nitric::bench
