#include "host/logging/logging.h"

#include <memory>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "host/logging/json_formatter.h"

namespace nitric::host {

void SetupLogging(spdlog::level::level_enum level, LogFormat format) {
  auto logger = spdlog::get("host");
  if (!logger) {
    // A mutex-protected sink: lines from the worker pool never interleave.
    logger =
        std::make_shared<spdlog::logger>("host", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    spdlog::set_default_logger(logger);
  }
  if (format == LogFormat::kJson) {
    spdlog::set_formatter(std::make_unique<JsonLineFormatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %l [%n] %v");
  }
  spdlog::set_level(level);
  // Warnings and errors reach the terminal or journal at once.
  spdlog::flush_on(spdlog::level::warn);
}

}  // namespace nitric::host
