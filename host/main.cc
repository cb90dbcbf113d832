// nitric-host: runs Nitric websocket handlers from plugins against a Nitric
// membrane. Reading order for a newcomer, following one event:
//   membrane/event_stream.cc   a HandleEvents stream reads the event
//   dispatch/dispatcher.cc     queued per connection, run on the worker pool
//   plugins/plugin_generation.cc  the current generation's handler chain
//   membrane/event_stream.cc   the answer is written back with the event's id
// app/host_app.cc wires these together; membrane/session.cc keeps the streams.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <spdlog/spdlog.h>

#include "host/app/check.h"
#include "host/app/cli.h"
#include "host/app/host_app.h"
#include "host/app/pid_file.h"
#include "host/app/preflight.h"
#include "host/app/quarantine.h"
#include "host/app/signals.h"
#include "host/config/config.h"
#include "host/logging/logging.h"
#include "host/plugins/generation_loader.h"
#include "nitric/plugin.h"

namespace {

constexpr int kExitUsage = 2;

// A fan-out allocates and frees a gRPC call's state per delivery, thousands
// of times a second. glibc's default gives a heap's free top back to the
// kernel as soon as 128 KiB of it are free and grows it again by only what
// it needs, so a busy host pays brk/madvise and page faults over and over
// (malloc and the kernel are half its CPU per delivery in a profile of the
// broadcast benchmark). Keeping up to 32 MiB free per heap and growing by
// 8 MiB cut the host's CPU per delivery at 500 clients by about 14 %
// (bench/RESULTS.md, section 3). An operator's own malloc settings win.
void TuneMalloc() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_TOP_PAD_") != nullptr) {
    return;
  }
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  mallopt(M_TOP_PAD, 8 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nitric::host;
  // Before any thread exists, so that every thread inherits the mask and
  // only the signal thread ever sees SIGTERM, SIGINT and SIGHUP.
  BlockControlSignals();
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex deadlock
  // detection on: every lock gRPC takes then updates a global lock graph
  // (measured: a few per cent of the host's CPU per event). It is a debugging
  // aid for Abseil's own users, not something a daemon should pay for.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  TuneMalloc();

  CliOptions cli;
  if (Status parsed = ParseCli(std::vector<std::string>(argv + 1, argv + argc), &cli);
      !parsed.ok()) {
    std::fprintf(stderr, "nitric-host: %s\n", parsed.message().c_str());
    return kExitUsage;
  }
  if (cli.help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (cli.version) {
    std::printf("nitric-host %s (plugin ABI %d.%d)\n", NITRIC_HOST_VERSION, NITRIC_ABI_MAJOR,
                NITRIC_ABI_MINOR);
    return 0;
  }

  if (cli.preflight) {
    // A child of a serving host (host/app/preflight.h): its output is read by
    // the parent, which quotes the last lines when the check fails.
    // Without a timestamp: the parent logs each line again under its own.
    SetupLogging(spdlog::level::info, LogFormat::kText);
    spdlog::set_pattern("%l [%n] %v");
    return RunPreflightChild(cli);
  }

  ConfigResult loaded = LoadConfig(cli.config);
  SetupLogging(cli.log_level.value_or(loaded.config.log_level),
               cli.log_format.value_or(loaded.config.log_format));
  if (!loaded.status.ok()) {
    spdlog::error("config: {}", loaded.status.message());
    return kExitUsage;
  }
  for (const std::string& warning : loaded.warnings) spdlog::warn("config: {}", warning);

  HostConfig config = std::move(loaded.config);
  ApplyEnvironment(&config);
  if (cli.plugins) config.plugins_dir = *cli.plugins;
  if (cli.pid_file) config.pid_file = *cli.pid_file;
  if (cli.watch) config.watch = true;
  if (cli.admin) config.admin_listen = *cli.admin;
  if (Status admin = CheckAdminConfig(config, cli.admin ? "--admin" : "[admin] listen");
      !admin.ok()) {
    spdlog::error("config: {}", admin.message());
    return kExitUsage;
  }

  if (cli.reload) {
    if (config.pid_file.empty()) {
      spdlog::error(
          "reload: no pid file: pass --pid-file FILE, or --config FILE with host.pid_file");
      return kExitUsage;
    }
    return SendReload(config.pid_file);
  }

  if (cli.quarantine) return RunQuarantineCommand(cli, config);
  if (cli.check) {
    // A plugin whose init() hangs must not make the check unstoppable: the
    // first SIGTERM/SIGINT gives it host.shutdown_timeout_ms, a second one
    // ends it at once (signals.h).
    ControlQueue unused;  // nothing to stop gracefully in a check
    StopHooks hooks;
    hooks.timeout = config.shutdown_timeout;
    hooks.on_timeout = [] {
      if (const std::string* file = PluginFileLoading()) {
        spdlog::error(
            "check interrupted: plugin file {} is still loading; its init() has not "
            "returned",
            *file);
      }
    };
    SignalWatcher signals(&unused, std::move(hooks));
    return RunCheck(config);
  }
  return RunHost(config, cli);
}
