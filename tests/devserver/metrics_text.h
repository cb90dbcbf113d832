// Reading a Prometheus text exposition in the tests of the gateway's GET
// /metrics: one sample's value, and promtool's verdict (Debian's prometheus
// package; NITRIC_PROMTOOL is its path, set by tests/devserver/CMakeLists.txt).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace nitric::testing {

// The value of the sample whose name and labels are exactly `series`, e.g.
// `nitric_dev_gateway_frames_total{socket="chat",direction="in"}`; nullopt
// when there is no such line.
inline std::optional<double> SampleValue(std::string_view text, std::string_view series) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::strtod(std::string(line.substr(series.size() + 1)).c_str(), nullptr);
    }
    at = end + 1;
  }
  return std::nullopt;
}

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Runs `promtool check metrics < text`: parses the exposition and lints it.
inline PromtoolResult PromtoolCheckMetrics(const std::string& text) {
  const std::string promtool = NITRIC_PROMTOOL;
  if (promtool.empty()) {
    ADD_FAILURE() << "promtool not found at configure time: run scripts/install-deps.sh "
                     "(Debian package prometheus) and configure again";
    return {};
  }
  char path[] = "/tmp/nitric-devserver-metrics-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return {};
  }
  close(fd);
  std::ofstream(path) << text;
  PromtoolResult result;
  FILE* pipe = popen((promtool + " check metrics < " + path + " 2>&1").c_str(), "r");
  if (pipe != nullptr) {
    char buffer[4096];
    while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    ADD_FAILURE() << "cannot run " << promtool;
  }
  unlink(path);
  return result;
}

}  // namespace nitric::testing
