#include "devserver/command_line.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace nitric::devserver {
namespace {

bool ParsePort(std::string_view text, uint16_t* port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

// HOST:PORT or [V6]:PORT, with a non-empty host and a numeric port.
bool ValidListen(std::string_view address) {
  std::size_t colon;
  if (!address.empty() && address.front() == '[') {
    std::size_t close = address.find(']');
    if (close == std::string_view::npos || close == 1 || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return false;
    }
    colon = close + 1;
  } else {
    colon = address.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    if (address.substr(0, colon).find(':') != std::string_view::npos) return false;  // bare v6
  }
  uint16_t port;
  return ParsePort(address.substr(colon + 1), &port);
}

bool ParseCount(std::string_view text, std::size_t* count) {
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0) {
    return false;
  }
  *count = value;
  return true;
}

}  // namespace

bool ParseSeconds(std::string_view text, std::chrono::milliseconds* out) {
  // Digits with at most one '.', nothing else (no sign, exponent, "inf").
  bool dot = false;
  bool digit = false;
  for (const char c : text) {
    if (c == '.' && !dot) {
      dot = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      return false;
    }
  }
  if (!digit) return false;
  const double seconds = std::strtod(std::string(text).c_str(), nullptr);
  const double ms = std::round(seconds * 1000.0);
  if (ms < 1.0 || seconds > 86400.0) return false;
  *out = std::chrono::milliseconds(static_cast<long long>(ms));
  return true;
}

std::string Usage() {
  return "Usage: nitric-dev-membrane [options]\n"
         "\n"
         "A local Nitric membrane for development: Resources, KvStore, Websocket and\n"
         "WebsocketHandler over gRPC, a WebSocket gateway per socket, KV data on disk.\n"
         "\n"
         "Options:\n"
         "  --listen HOST:PORT      gRPC address (default 127.0.0.1:50051; port 0 = any)\n"
         "  --gateway-port PORT     first port for socket gateways (default 4001; 0 = any)\n"
         "  --socket-port NAME=PORT pin socket NAME's gateway to PORT (repeatable)\n"
         "  --data DIR              KV data folder (default .nitric)\n"
         "  --allow-origin PATTERN  also accept browser requests from origins matching\n"
         "                          PATTERN ('*' matches anything; repeatable). Without\n"
         "                          it only loopback origins (http://localhost:*,\n"
         "                          http://127.0.0.1:*, http://[::1]:*, and https) are\n"
         "                          accepted; requests without Origin always are\n"
         "  --connect-timeout SECONDS\n"
         "                          a Connect the application has not answered by then\n"
         "                          gets HTTP 504 (default 10)\n"
         "  --max-connections N     connections per socket; past it HTTP 503\n"
         "                          (default 10000)\n"
         "  --profile NAME          how the gateway behaves: 'local' (default: binary\n"
         "                          frames, 1 MiB messages) or 'aws' (as AWS API Gateway\n"
         "                          websockets: text only, 128 KiB messages, a rejected\n"
         "                          connect gets 401, single-valued query parameters,\n"
         "                          idle connections closed after 10 minutes and every\n"
         "                          connection after 2 hours)\n"
         "  --collect FILE          do not serve: act as the collector of Nitric's\n"
         "                          `nitric up` (see below)\n"
         "  --help                  print this text and exit\n"
         "\n"
         "Point a service at it with SERVICE_ADDRESS=HOST:PORT. SIGINT/SIGTERM stop it\n"
         "cleanly (clients closed with 1001, KV flushed).\n"
         "\n"
         "Collecting (what `nitric up` does before deploying):\n"
         "  nitric-dev-membrane --collect FILE [--listen HOST:PORT] [-- COMMAND [ARG...]]\n"
         "acknowledges every declaration and HandleEvents registration, ends each stream\n"
         "once acknowledged, and writes the websockets, stores, policies and the handlers\n"
         "per socket and event type as JSON to FILE ('-' for stdout). With COMMAND it runs\n"
         "the service itself, with SERVICE_ADDRESS and NITRIC_ENVIRONMENT=build set, and\n"
         "finishes when it exits; without, it finishes on SIGINT/SIGTERM. Exit status 0\n"
         "when FILE was written; 1, leaving FILE alone, when a websocket lacks a handler\n"
         "for connect, disconnect or message, or the service failed.\n";
}

bool ParseCommandLine(int argc, const char* const* argv, CommandLine* out, std::string* error) {
  CommandLine result;
  std::optional<std::chrono::milliseconds> idle_timeout;  // applied to the profile at the end
  std::optional<std::chrono::milliseconds> max_duration;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      continue;
    }
    if (arg == "--") {
      result.command.assign(argv + i + 1, argv + argc);
      break;
    }
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    bool known = name == "--listen" || name == "--gateway-port" || name == "--data" ||
                 name == "--socket-port" || name == "--allow-origin" ||
                 name == "--connect-timeout" || name == "--max-connections" ||
                 name == "--collect" || name == "--profile" || name == "--idle-timeout" ||
                 name == "--max-connection-duration";
    if (!known) {
      *error = "unknown argument '" + std::string(arg) + "'";
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        *error = "missing value for " + std::string(name);
        return false;
      }
      value = argv[++i];
    }
    if (name == "--listen") {
      if (!ValidListen(value)) {
        *error =
            "--listen expects HOST:PORT (e.g. 127.0.0.1:50051), got '" + std::string(value) + "'";
        return false;
      }
      result.options.listen = std::string(value);
    } else if (name == "--gateway-port") {
      if (!ParsePort(value, &result.options.gateway_base_port)) {
        *error = "--gateway-port expects a port 0-65535, got '" + std::string(value) + "'";
        return false;
      }
    } else if (name == "--data") {
      if (value.empty()) {
        *error = "--data expects a folder";
        return false;
      }
      result.options.data_dir = std::string(value);
    } else if (name == "--allow-origin") {
      if (value.empty()) {
        *error = "--allow-origin expects a pattern such as 'http://devbox:*' or '*'";
        return false;
      }
      result.options.allowed_origins.emplace_back(value);
    } else if (name == "--connect-timeout") {
      if (!ParseSeconds(value, &result.options.connect_timeout)) {
        *error =
            "--connect-timeout expects seconds above 0 (e.g. 10 or 0.5), at most 86400, got '" +
            std::string(value) + "'";
        return false;
      }
    } else if (name == "--profile") {
      std::optional<GatewayProfile> profile = ProfileNamed(value);
      if (!profile) {
        *error = "--profile expects local or aws, got '" + std::string(value) + "'";
        return false;
      }
      result.options.profile = *std::move(profile);
    } else if (name == "--idle-timeout" || name == "--max-connection-duration") {
      std::chrono::milliseconds limit{};
      if (!ParseSeconds(value, &limit)) {
        *error = std::string(name) + " expects seconds above 0, at most 86400, got '" +
                 std::string(value) + "'";
        return false;
      }
      (name == "--idle-timeout" ? idle_timeout : max_duration) = limit;
    } else if (name == "--collect") {
      if (value.empty()) {
        *error = "--collect expects a file to write (or '-' for stdout)";
        return false;
      }
      result.collect = std::string(value);
    } else if (name == "--max-connections") {
      if (!ParseCount(value, &result.options.max_connections)) {
        *error =
            "--max-connections expects a whole number above 0, got '" + std::string(value) + "'";
        return false;
      }
    } else {  // --socket-port
      std::size_t eq = value.rfind('=');
      uint16_t port = 0;
      if (eq == std::string_view::npos || eq == 0 || !ParsePort(value.substr(eq + 1), &port) ||
          port == 0) {
        *error =
            "--socket-port expects NAME=PORT with a port 1-65535, got '" + std::string(value) + "'";
        return false;
      }
      result.options.socket_ports[std::string(value.substr(0, eq))] = port;
    }
  }
  if ((idle_timeout || max_duration) && result.options.profile.name != "aws") {
    *error =
        "--idle-timeout and --max-connection-duration change the aws profile's limits: add "
        "--profile aws";
    return false;
  }
  if (idle_timeout) result.options.profile.idle_timeout = *idle_timeout;
  if (max_duration) result.options.profile.max_duration = *max_duration;
  if (!result.command.empty() && !result.collect) {
    *error = "a command after '--' is only run with --collect FILE";
    return false;
  }
  if (result.collect && !result.command.empty() && result.command.front().empty()) {
    *error = "the command after '--' is empty";
    return false;
  }
  *out = std::move(result);
  return true;
}

}  // namespace nitric::devserver
