// Fuzz target: the host's TOML config (host/config/config.h ParseConfig), the
// file an operator (or anyone who can write it) hands the host. Any text
// must give a config or an error status, never a crash, and an accepted
// config must keep the invariants config.h states (workers >= 1,
// max_workers >= workers, no negative durations or limits).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

#include "host/config/config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nitric::host::ConfigResult result = nitric::host::ParseConfig(text, "/fuzz/nitric-host.toml");
  if (!result.status.ok()) {
    if (result.status.message().empty()) std::abort();  // an error says what is wrong
    return 0;
  }
  const nitric::host::HostConfig& c = result.config;
  if (c.workers < 1 || c.max_workers < c.workers) std::abort();
  if (c.call_timeout.count() < 0 || c.handler_timeout.count() < 0 ||
      c.shutdown_timeout.count() < 0 || c.max_queued_events_per_connection < 0) {
    std::abort();
  }
  return 0;
}
