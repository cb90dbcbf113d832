// The nitric-host command line. Parsing only; app.cc acts on it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

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
  bool check = false;
  bool version = false;
  bool help = false;
};

// Parses argv[1..]. Accepts "--flag value" and "--flag=value". On a usage
// error returns false with a message for the user in *error.
bool ParseCli(const std::vector<std::string>& args, CliOptions* options, std::string* error);

// The --help text.
std::string Usage();

}  // namespace nitric::host
