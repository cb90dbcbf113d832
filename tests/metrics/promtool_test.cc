// promtool (from Debian's prometheus package) reads what the writer produces:
// `promtool check metrics` parses the exposition and lints it, and exits
// non-zero on a parse error or a lint problem.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "metrics/process.h"
#include "metrics/registry.h"

namespace nitric::metrics {
namespace {

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Runs `promtool check metrics < text`.
PromtoolResult CheckMetrics(const std::string& text) {
  std::string promtool = NITRIC_PROMTOOL;
  if (promtool.empty()) {
    ADD_FAILURE() << "promtool not found at configure time: run scripts/install-deps.sh "
                     "(Debian package prometheus) and configure again";
    return {};
  }
  char path[] = "/tmp/nitric-metrics-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  close(fd);
  std::ofstream(path) << text;
  std::string command = promtool + " check metrics < " + path + " 2>&1";
  PromtoolResult result;
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  int status = pclose(pipe);
  unlink(path);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(PromtoolTest, AcceptsEveryKindTheRegistryWrites) {
  Registry registry;
  auto& events = registry.AddCounter("app_events_total", "Events handled, by outcome.",
                                     {"socket", "event", "outcome"});
  events.With({"chat", "message", "ok"}).Add(41);
  // A label value needing every escape.
  events.With({"we\\ird \"name\"\nx", "connect", "rejected"}).Add();
  auto& open =
      registry.AddGauge("app_connections", "Connections open.\nSecond line \\.", {"socket"});
  open.With({"chat"}).Set(3);
  auto& duration = registry.AddHistogram("app_event_duration_seconds", "Read to answer.",
                                         {"socket", "event"}, DurationBuckets());
  auto& chat = duration.With({"chat", "message"});
  for (double v : {0.00001, 0.0003, 0.02, 7.0, 99.0}) chat.Observe(v);
  registry.AddCallback("app_info", "Build information.", Type::kGauge, [](TextWriter& writer) {
    writer.Sample("app_info", {{"version", "0.1.0"}, {"abi", "1.1"}}, 1.0);
  });
  AddProcessMetrics(registry);

  std::string text = registry.Expose();
  PromtoolResult result = CheckMetrics(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\nfor:\n" << text;
}

// The check above means something only if promtool refuses what is wrong.
TEST(PromtoolTest, RefusesBrokenExpositions) {
  // A bad escape in a label value.
  EXPECT_NE(
      CheckMetrics("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"\\q\"} 1\n").exit_code,
      0);
  // A counter without the _total suffix (lint).
  EXPECT_NE(CheckMetrics("# HELP a A.\n# TYPE a counter\na 1\n").exit_code, 0);
  // A raw newline inside a label value (the writer escapes it as \n).
  EXPECT_NE(
      CheckMetrics("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"a\nb\"} 1\n").exit_code,
      0);
  // A family without HELP (lint).
  EXPECT_NE(CheckMetrics("# TYPE g gauge\ng 1\n").exit_code, 0);
}

}  // namespace
}  // namespace nitric::metrics
