// A spdlog formatter that writes one JSON object per line, for log shippers:
//   {"time":"2024-05-01T12:00:00.123Z","level":"info","logger":"host","msg":"..."}
// The message is escaped (quotes, backslashes, control bytes), so any text a
// plugin logs stays one valid line.
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace nitric::host {

class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace nitric::host
