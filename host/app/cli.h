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
  std::optional<std::filesystem::path> config;    // --config FILE
  std::optional<std::filesystem::path> plugins;   // --plugins DIR
  std::optional<std::filesystem::path> pid_file;  // --pid-file FILE
  std::optional<spdlog::level::level_enum> log_level;
  std::optional<LogFormat> log_format;
  bool watch = false;                          // --watch
  bool dev = false;                            // --dev: in-process dev membrane
  std::filesystem::path dev_data = ".nitric";  // --dev-data DIR
  uint16_t dev_port = 4001;                    // --dev-port N: first gateway port (0: ephemeral)
  std::vector<std::string> dev_allow_origins;  // --dev-allow-origin PATTERN (repeatable)
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
