// The host's configuration: built-in defaults, optionally overridden by a TOML
// file (config/nitric-host.toml documents every key), then by the environment
// (SERVICE_ADDRESS) and the command line (main.cc).
//
// Validation rules: an unknown key is a warning; a value of the wrong type or
// out of range is an error naming file, line, column and key. The host does
// not start on an error.
//
// Thread-safety: a HostConfig is a plain value. It is built once at start-up
// (and again on reload) and then only read.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>
#include <toml++/toml.h>

#include "host/base/status.h"

namespace nitric::host {

enum class LogFormat { kText, kJson };

struct HostConfig {
  // [membrane]
  std::string membrane_address = "127.0.0.1:50051";
  // Sent as gRPC metadata x-nitric-service-name on every call.
  std::string service_name = "nitric-host";
  // Deadline of every unary membrane call (declare, KV, send).
  std::chrono::milliseconds call_timeout{10000};

  // [host]
  // Relative paths in a config file are relative to the file's folder.
  std::filesystem::path plugins_dir = "plugins";
  // Worker pool base size; never 0 once loaded (0 in the file means "auto").
  int workers = DefaultWorkers();
  // The pool grows past `workers` while every worker is busy, up to this
  // many (host/dispatch/dispatcher.h). Never below `workers` once loaded.
  int max_workers = 256;
  // A handler running longer is reported and its event answered by the host
  // (host/dispatch/dispatcher.h); 0 turns the watch off.
  std::chrono::milliseconds handler_timeout{30000};
  // Events queued (or running) for one connection; past it the host closes
  // that connection.
  int max_queued_events_per_connection = 1024;
  // How long SIGTERM waits for running handlers before the host exits 1.
  std::chrono::milliseconds shutdown_timeout{30000};
  // Reload when the plugins folder changes (inotify).
  bool watch = false;
  // Where the running host writes its pid (for `nitric-host reload`); empty:
  // no pid file.
  std::filesystem::path pid_file;
  // Run an event's handlers on the thread that read it when its connection
  // has nothing queued, instead of handing it to a worker
  // (docs/ARCHITECTURE.md#inline-handlers).
  bool inline_handlers = true;
  // Pipeline the websocket sends of a handler call (host/plugins/send_batch.h)
  // instead of one blocking round trip each.
  bool pipelined_sends = true;
  // Load and initialise every new or changed plugin file in a short-lived
  // child process first (host/app/preflight.h); a crash, hang or refusal
  // there keeps it out of this process.
  bool preflight = true;
  std::chrono::milliseconds preflight_timeout{10000};
  // Crash quarantine records (host/app/quarantine.h); empty: --state-dir,
  // $STATE_DIRECTORY or ./.nitric-host (ResolveStateDir).
  std::filesystem::path state_dir;
  // Load plugins from a folder or files that group or others can write, or
  // through symlinks leaving the folder, with a warning instead of refusing
  // them (host/plugins/file_trust.h).
  bool insecure_plugins = false;

  // [admin]: the admin HTTP listener (host/admin/admin_server.h).
  // "ADDRESS:PORT" (numeric, e.g. 127.0.0.1:9464 or [::1]:9464); empty: off.
  // --admin overrides it.
  std::string admin_listen;
  // A listen address off loopback is refused unless this is true.
  bool admin_allow_remote = false;
  // POST /reload works only when this is true (else 403).
  bool admin_allow_reload = false;

  // [log]
  spdlog::level::level_enum log_level = spdlog::level::info;
  LogFormat log_format = LogFormat::kText;

  // [plugins]: plugin name -> that plugin's own table, handed to it as is.
  toml::table plugins;

  // The file these values came from; empty for built-in defaults.
  std::filesystem::path source;

  // max(4, 2 * hardware threads): handlers may block on KV or send calls, so
  // the pool is larger than the core count.
  static int DefaultWorkers();
};

// Not a StatusOr: on an error, `config` still holds what was read before it,
// so that main.cc reports the error in the [log] format the file asked for.
// Status and warnings are logged by the caller once logging is set up.
struct ConfigResult {
  // OK, or why the host must not start: INVALID_ARGUMENT "file:line:col:
  // key: what", NOT_FOUND for a file that cannot be read.
  Status status;
  HostConfig config;
  // Human-readable, "file:line:col: key: what".
  std::vector<std::string> warnings;
};

// Parses `text` as a config file named `source` (used in messages and to
// resolve relative paths). Never throws.
ConfigResult ParseConfig(std::string_view text, const std::filesystem::path& source);

// No file: built-in defaults. A file that does not exist or cannot be read is
// an error. Never throws.
ConfigResult LoadConfig(const std::optional<std::filesystem::path>& file);

// Applies SERVICE_ADDRESS (when set and not empty) to `config`.
void ApplyEnvironment(HostConfig* config);

// An address to listen on: "127.0.0.1:9464", "[::1]:9464" (port 0: any
// free port). Numeric only, so that what is checked (loopback or not) is what
// gets bound.
struct ListenAddress {
  std::string host;  // without brackets: "127.0.0.1", "::1"
  uint16_t port = 0;
  bool loopback = false;  // 127.0.0.0/8 or ::1
};
// INVALID_ARGUMENT "expected ...; got \"text\"" for anything else.
StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

// The admin listener's settings hold together: the listen address (if any)
// parses, and is loopback unless admin_allow_remote. `origin` names where
// the address came from for the message ("--admin", "[admin] listen").
Status CheckAdminConfig(const HostConfig& config, std::string_view origin = "[admin] listen");

// Parses a log level name (trace, debug, info, warn, error, critical, off).
std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name);
std::optional<LogFormat> ParseLogFormat(std::string_view name);

}  // namespace nitric::host
