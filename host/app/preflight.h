// Pre-flight: before a new or changed plugin file is loaded into the serving
// host (at start-up and on every reload), nitric-host runs itself again
// (/proc/self/exe) in a check mode on a staged copy of the file, with a time
// limit. The child loads and initialises the plugin through the real loader
// and host API, with a membrane client that answers locally (an empty store
// that forgets writes, sends that go nowhere: nothing reaches the network),
// then shuts it down and exits 0. A crash, abort, hang or refusal there
// keeps the file out of the serving process: the loader keeps the old
// version, or at start-up refuses just that plugin, and the reason names the
// signal or exit status and quotes the last lines the check printed.
//
// What it costs: one process start (exec, dynamic linking, the plugin's own
// init) per new or changed file per reload, serial, on the control loop;
// unchanged files are not checked (docs/ARCHITECTURE.md#reload-failures).
#pragma once

#include <chrono>
#include <string>

#include <toml++/toml.h>

#include "host/app/cli.h"
#include "host/plugins/plugin_instance.h"
#include "host/plugins/staging_area.h"

namespace nitric::host {

// Runs the check on `file` (staged into `staging` for the child, removed
// after). OK when the plugin loaded, initialised and shut down cleanly in
// the child; else FAILED_PRECONDITION with one sentence naming the file: what happened and the last
// lines the check printed. `plugin_configs` is the [plugins] table the plugin
// will get.
Status RunPreflight(const PluginFile& file, StagingArea& staging, const toml::table& plugin_configs,
                    std::chrono::milliseconds timeout);

// The child's side (`--preflight`): loads cli.preflight as if it were the
// plugins folder's file cli.preflight_name, with the [plugins] tables of
// cli.preflight_config, logs to stderr, and returns the exit code: 0 loaded
// and shut down, 3 refused by the loader (its reason logged), 1 anything else.
int RunPreflightChild(const CliOptions& cli);

// "SIGSEGV (Segmentation fault)".
std::string DescribeSignal(int signo);

}  // namespace nitric::host
