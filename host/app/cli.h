// The nitric-host command line. Parsing only; main.cc acts on it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "host/base/status.h"
#include "host/config/config.h"

namespace nitric::host {

struct CliOptions {
  // `nitric-host reload [--pid-file FILE | --config FILE]`: signal the
  // running host instead of running one.
  bool reload = false;
  // `nitric-host quarantine --list | --clear [FILE] [--state-dir DIR]`.
  bool quarantine = false;
  bool quarantine_list = false;
  bool quarantine_clear = false;
  std::string quarantine_clear_file;               // empty: every record
  std::optional<std::filesystem::path> state_dir;  // --state-dir DIR
  // Internal (host/app/preflight.h): `--preflight STAGED --preflight-name
  // FILE --preflight-config TOML` checks one plugin in this process and exits.
  std::optional<std::filesystem::path> preflight;
  std::string preflight_name;
  std::optional<std::filesystem::path> preflight_config;
  std::optional<std::filesystem::path> config;    // --config FILE
  std::optional<std::filesystem::path> plugins;   // --plugins DIR
  std::optional<std::filesystem::path> pid_file;  // --pid-file FILE
  std::optional<spdlog::level::level_enum> log_level;
  std::optional<LogFormat> log_format;
  std::optional<std::string> admin;            // --admin ADDR:PORT (syntax checked)
  bool watch = false;                          // --watch
  bool dev = false;                            // --dev: a dev membrane child process
  std::filesystem::path dev_data = ".nitric";  // --dev-data DIR
  uint16_t dev_port = 4001;                    // --dev-port N: first gateway port (0: ephemeral)
  std::vector<std::string> dev_allow_origins;  // --dev-allow-origin PATTERN (repeatable)
  std::string dev_profile = "local";           // --dev-profile local|aws: the dev gateway's
  bool check = false;
  bool version = false;
  bool help = false;
};

// Parses argv[1..]. Accepts "--flag value" and "--flag=value". A usage error
// is INVALID_ARGUMENT with a message for the user.
Status ParseCli(const std::vector<std::string>& args, CliOptions* options);

// The --help text.
std::string Usage();

}  // namespace nitric::host
