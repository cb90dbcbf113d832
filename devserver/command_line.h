// Command line of nitric-dev-membrane:
//   nitric-dev-membrane [--listen HOST:PORT] [--gateway-port PORT] [--data DIR]
//                       [--socket-port NAME=PORT ...] [--allow-origin PATTERN ...]
//                       [--connect-timeout SECONDS] [--max-connections N]
//                       [--profile local|aws] [--help]
//   nitric-dev-membrane --collect FILE [--listen HOST:PORT] [-- COMMAND [ARG...]]
// Every option also accepts the --name=value form. Two options are left out
// of --help, for tests that cannot wait for the aws profile's limits:
// --idle-timeout SECONDS and --max-connection-duration SECONDS replace its
// 10 minutes and 2 hours (the defaults are the contract).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devserver/dev_membrane.h"

namespace nitric::devserver {

struct CommandLine {
  DevMembraneOptions options;  // defaults: 127.0.0.1:50051, 4001, .nitric
  bool help = false;
  // --collect FILE: run as Nitric's build-time collector instead of a
  // membrane, and write what was collected to FILE ("-": stdout).
  std::optional<std::string> collect;
  // With --collect, everything after "--": the service to run in build mode.
  std::vector<std::string> command;
};

// Parses argv[1..argc). Returns false with a one-line reason in `*error` on
// bad input (unknown option, missing value, bad address, port or number).
bool ParseCommandLine(int argc, const char* const* argv, CommandLine* out, std::string* error);

// The --help text.
std::string Usage();

// SECONDS as --connect-timeout takes it: a positive decimal number ("10",
// "0.25"), at most a day. False when it is not one.
bool ParseSeconds(std::string_view text, std::chrono::milliseconds* out);

}  // namespace nitric::devserver
