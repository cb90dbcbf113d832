// Process-wide logging set-up. Everything logs through spdlog to stderr
// (stdout is kept for what the user asked for: --check output, --dev URLs).
// The default logger is named "host"; a plugin's logger is a clone of it named
// after the plugin, so both share the sink, level and format.
#pragma once

#include <spdlog/common.h>

#include "host/config/config.h"

namespace nitric::host {

// Installs the default logger. Call once, early in main, before any thread
// that logs is started; later calls only change level and format.
void SetupLogging(spdlog::level::level_enum level, LogFormat format);

}  // namespace nitric::host
