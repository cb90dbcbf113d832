#include "metrics/process.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nitric::metrics {
namespace {

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Fields of /proc/self/stat after the command name, which is in parentheses
// and may itself hold spaces and ')'. fields[0] is field 3 (state).
std::vector<std::string> StatFields() {
  std::optional<std::string> stat = ReadFile("/proc/self/stat");
  if (!stat) return {};
  std::size_t close = stat->rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(stat->substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

std::optional<double> Field(const std::vector<std::string>& fields, std::size_t number) {
  // `number` as in proc(5), counting from 1; fields[0] is number 3.
  if (number < 3 || number - 3 >= fields.size()) return std::nullopt;
  try {
    return std::stod(fields[number - 3]);
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<double> BootTime() {
  std::optional<std::string> stat = ReadFile("/proc/stat");
  if (!stat) return std::nullopt;
  std::istringstream lines(*stat);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("btime ")) {
      try {
        return std::stod(line.substr(6));
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir() holds
}

void WriteIf(TextWriter& writer, const char* name, const char* help, Type type,
             std::optional<double> value) {
  if (!value) return;
  writer.Header(name, help, type);
  writer.Sample(name, Labels{}, *value);
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats stats;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::vector<std::string> fields = StatFields();
  std::optional<double> utime = Field(fields, 14), stime = Field(fields, 15);
  if (utime && stime && ticks > 0) stats.cpu_seconds = (*utime + *stime) / ticks;
  if (std::optional<double> rss = Field(fields, 24); rss && page > 0) {
    stats.resident_bytes = *rss * page;
  }
  std::optional<double> start = Field(fields, 22), boot = BootTime();
  if (start && boot && ticks > 0) stats.start_time_seconds = *boot + *start / ticks;
  stats.open_fds = OpenFds();
  return stats;
}

void AddProcessMetrics(Registry& registry) {
  registry.AddCollector([](TextWriter& writer) {
    ProcessStats stats = ReadProcessStats();
    WriteIf(writer, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            Type::kCounter, stats.cpu_seconds);
    WriteIf(writer, "process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge,
            stats.resident_bytes);
    WriteIf(writer, "process_open_fds", "Number of open file descriptors.", Type::kGauge,
            stats.open_fds);
    WriteIf(writer, "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.", Type::kGauge,
            stats.start_time_seconds);
  });
}

}  // namespace nitric::metrics
