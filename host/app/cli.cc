#include "host/app/cli.h"

#include <charconv>
#include <utility>

namespace nitric::host {

namespace {

Status BadUsage(std::string message) {
  return Status(NITRIC_ERR_INVALID_ARGUMENT, std::move(message));
}

}  // namespace

Status ParseCli(const std::vector<std::string>& args, CliOptions* options) {
  size_t first = 0;
  if (!args.empty() && args[0] == "reload") {
    options->reload = true;
    first = 1;
  } else if (!args.empty() && args[0] == "quarantine") {
    options->quarantine = true;
    first = 1;
  }
  for (size_t i = first; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    // The value of a flag that takes one.
    auto value = [&](std::string* out) {
      if (inline_value) {
        *out = *inline_value;
        return Status();
      }
      if (i + 1 >= args.size()) return BadUsage(flag + " needs a value");
      *out = args[++i];
      return Status();
    };
    auto no_value = [&] { return inline_value ? BadUsage(flag + " takes no value") : Status(); };
    std::string v;
    if (flag == "--config") {
      if (Status st = value(&v); !st.ok()) return st;
      options->config = v;
    } else if (flag == "--plugins") {
      if (Status st = value(&v); !st.ok()) return st;
      options->plugins = v;
    } else if (flag == "--pid-file") {
      if (Status st = value(&v); !st.ok()) return st;
      options->pid_file = v;
    } else if (flag == "--state-dir") {
      if (Status st = value(&v); !st.ok()) return st;
      options->state_dir = v;
    } else if (flag == "--list" && options->quarantine) {
      if (Status st = no_value(); !st.ok()) return st;
      options->quarantine_list = true;
    } else if (flag == "--clear" && options->quarantine) {
      // An optional FILE: the next argument unless it is another flag.
      options->quarantine_clear = true;
      if (inline_value) {
        options->quarantine_clear_file = *inline_value;
      } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
        options->quarantine_clear_file = args[++i];
      }
    } else if (flag == "--preflight") {
      if (Status st = value(&v); !st.ok()) return st;
      options->preflight = v;
    } else if (flag == "--preflight-name") {
      if (Status st = value(&v); !st.ok()) return st;
      options->preflight_name = v;
    } else if (flag == "--preflight-config") {
      if (Status st = value(&v); !st.ok()) return st;
      options->preflight_config = v;
    } else if (flag == "--log-level") {
      if (Status st = value(&v); !st.ok()) return st;
      options->log_level = ParseLogLevel(v);
      if (!options->log_level) {
        return BadUsage(
            "--log-level: expected trace, debug, info, warn, error, critical or off, got \"" + v +
            "\"");
      }
    } else if (flag == "--log-format") {
      if (Status st = value(&v); !st.ok()) return st;
      options->log_format = ParseLogFormat(v);
      if (!options->log_format) {
        return BadUsage("--log-format: expected text or json, got \"" + v + "\"");
      }
    } else if (flag == "--admin") {
      if (Status st = value(&v); !st.ok()) return st;
      StatusOr<ListenAddress> address = ParseListenAddress(v);
      if (!address.ok()) return BadUsage("--admin: " + address.status().message());
      options->admin = v;
    } else if (flag == "--dev-data") {
      if (Status st = value(&v); !st.ok()) return st;
      options->dev_data = v;
    } else if (flag == "--dev-port") {
      if (Status st = value(&v); !st.ok()) return st;
      unsigned port = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
      if (ec != std::errc() || end != v.data() + v.size() || port > 65535) {
        return BadUsage("--dev-port: expected a port number 0..65535, got \"" + v + "\"");
      }
      options->dev_port = static_cast<uint16_t>(port);
    } else if (flag == "--dev-allow-origin") {
      if (Status st = value(&v); !st.ok()) return st;
      if (v.empty()) {
        return BadUsage(
            "--dev-allow-origin: expected a pattern such as \"http://devbox:*\" or \"*\"");
      }
      options->dev_allow_origins.push_back(v);
    } else if (flag == "--dev-profile") {
      if (Status st = value(&v); !st.ok()) return st;
      if (v != "local" && v != "aws") {
        return BadUsage("--dev-profile: expected local or aws, got \"" + v + "\"");
      }
      options->dev_profile = v;
    } else if (flag == "--dev") {
      if (Status st = no_value(); !st.ok()) return st;
      options->dev = true;
    } else if (flag == "--watch") {
      if (Status st = no_value(); !st.ok()) return st;
      options->watch = true;
    } else if (flag == "--check") {
      if (Status st = no_value(); !st.ok()) return st;
      options->check = true;
    } else if (flag == "--version") {
      if (Status st = no_value(); !st.ok()) return st;
      options->version = true;
    } else if (flag == "--help" || flag == "-h") {
      options->help = true;
    } else {
      return BadUsage("unknown argument \"" + args[i] + "\" (see --help)");
    }
  }
  if (options->reload && (options->plugins || options->log_level || options->log_format ||
                          options->watch || options->dev || options->check || options->version)) {
    return BadUsage("reload takes only --pid-file FILE or --config FILE (see --help)");
  }
  if (options->quarantine) {
    if (options->quarantine_list == options->quarantine_clear) {
      return BadUsage("quarantine needs exactly one of --list or --clear [FILE] (see --help)");
    }
    if (options->plugins || options->pid_file || options->watch || options->dev || options->check ||
        options->version) {
      return BadUsage(
          "quarantine takes only --list or --clear [FILE], --state-dir DIR and --config FILE");
    }
  }
  if (options->preflight && options->preflight_name.empty()) {
    return BadUsage("--preflight needs --preflight-name FILE");
  }
  return Status();
}

std::string Usage() {
  return R"(Usage: nitric-host [options]
       nitric-host reload [--pid-file FILE | --config FILE]
       nitric-host quarantine --list | --clear [FILE] [--state-dir DIR] [--config FILE]

Runs Nitric websocket handlers from plugins (*.so) against a Nitric membrane.
`reload` sends SIGHUP to the host whose pid file is given (or named by the
config's host.pid_file), after checking that the pid is a nitric-host.
`quarantine --list` shows the plugin files refused because they crashed the
host (by sha256); `quarantine --clear [FILE]` lets FILE (a file name or a
sha256; without it, every file) load again on the next start or reload.

Options:
  --plugins DIR        plugins folder (overrides host.plugins_dir)
  --config FILE        TOML config file (see config/nitric-host.toml);
                       without it the built-in defaults apply
  --log-level LEVEL    trace, debug, info, warn, error, critical or off
  --log-format FORMAT  text or json (JSON lines), on stderr
  --watch              reload when the plugins folder changes
  --pid-file FILE      write the host's pid to FILE (overrides host.pid_file);
                       removed again on exit
  --state-dir DIR      crash quarantine records (overrides host.state_dir;
                       default $STATE_DIRECTORY, else ./.nitric-host)
  --admin ADDR:PORT    serve GET /metrics (Prometheus), /status, /healthz,
                       /readyz and POST /reload on this address, e.g.
                       127.0.0.1:9464 (overrides [admin] listen; off by
                       default; loopback only unless [admin] allow_remote)
  --dev                run a local dev membrane (nitric-dev-membrane) on
                       loopback and print each socket's ws:// URL
  --dev-data DIR       dev membrane's KV data folder (default .nitric)
  --dev-port N         first dev gateway port (default 4001; 0 = ephemeral)
  --dev-allow-origin PATTERN
                       dev gateway: also accept browser requests from
                       origins matching PATTERN ('*' globs; repeatable);
                       by default only loopback origins are accepted
  --dev-profile NAME   dev gateway behaviour: local (default) or aws, which
                       behaves as AWS API Gateway websockets (text only,
                       128 KiB messages, ...; see the README)
  --check              load and initialise every plugin without a membrane,
                       print what each declares and handles, then exit
                       (non-zero if any plugin fails)
  --version            print the version and exit
  --help               print this help and exit

Environment:
  SERVICE_ADDRESS      membrane address (overrides membrane.address)
  NITRIC_ENVIRONMENT   "build": declare and register, exit when the
                       membrane ends the streams

Signals: SIGHUP reloads changed plugins; SIGTERM/SIGINT finish running
events and exit 0.
Exit codes: 0 success, 1 failure, 2 usage or configuration error.
)";
}

}  // namespace nitric::host
