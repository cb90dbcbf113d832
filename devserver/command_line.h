// Command line of nitric-dev-membrane:
//   nitric-dev-membrane [--listen HOST:PORT] [--gateway-port PORT] [--data DIR]
//                       [--socket-port NAME=PORT ...] [--help]
// Every option also accepts the --name=value form.
#pragma once

#include <string>

#include "devserver/dev_membrane.h"

namespace nitric::devserver {

struct CommandLine {
  DevMembraneOptions options;  // defaults: 127.0.0.1:50051, 4001, .nitric
  bool help = false;
};

// Parses argv[1..argc). Returns false with a one-line reason in `*error` on
// bad input (unknown option, missing value, bad address or port).
bool ParseCommandLine(int argc, const char* const* argv, CommandLine* out, std::string* error);

// The --help text.
std::string Usage();

}  // namespace nitric::devserver
