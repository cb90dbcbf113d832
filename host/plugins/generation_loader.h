// Builds a generation from the plugins folder: the first load at startup and
// every reload go through LoadGeneration().
//
// For each "*.so" in the folder (file name order; hidden files skipped):
//   - same content and same config as in `previous`: the old instance is
//     reused as is (shared by both generations);
//   - new or changed: the file is staged and loaded; on success it replaces
//     the old version (whose state, if both sides support it, is handed over
//     after its last event) and on failure the old version keeps serving
//     ("kept old version") or, without one, the file is refused;
//   - a file gone from the folder: its plugin is left out, and unloaded when
//     `previous` (and any older generation holding it) is released.
// One log line per plugin states the outcome, then one summary line.
//
// REQUIRES: one LoadGeneration at a time per chain of generations (the reload
// controller serialises reloads). The returned generation must be published
// (GenerationSlot::Publish) or Abandon()ed, since replaced plugins in
// `previous` were told to hand their state to the new instances.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <toml++/toml.h>

#include "host/base/membrane_client.h"
#include "host/plugins/generation.h"
#include "host/plugins/plugin_generation.h"
#include "host/plugins/staging_area.h"

namespace nitric::host {

// Vets a new or changed plugin file before it is loaded into this process
// (the host's crash quarantine and pre-flight check, host/app/plugin_gate.h).
// Unchanged files are not vetted again.
class PluginGate {
 public:
  virtual ~PluginGate() = default;
  // OK: load it. Else an error whose message is one sentence naming the
  // file: why it is refused (the old version, if any, keeps serving). Called
  // on the loading thread, one file at a time; file.sha256 is set.
  virtual Status Admit(const PluginFile& file, const toml::table& plugin_configs,
                       StagingArea& staging) = 0;
};

struct GenerationOptions {
  std::filesystem::path folder;
  // The host config's [plugins] table: plugin name -> that plugin's table
  // (HostConfig::plugins). A plugin without an entry gets an empty table.
  toml::table plugin_configs;
  // Borrowed; must outlive every generation built with it. Null (--check):
  // KV and websocket calls of plugins give UNAVAILABLE.
  MembraneClient* membrane = nullptr;
  // Null: spdlog::default_logger(). Plugin loggers are clones of it, named
  // after each plugin.
  std::shared_ptr<spdlog::logger> logger;
  // Null: the previous generation's area, else a new one (StagingArea).
  std::shared_ptr<StagingArea> staging;
  // How long a new plugin version's events wait for the old version's state.
  std::chrono::milliseconds handoff_timeout{10000};
  // Borrowed; null: every file is loaded without vetting (--check, tests).
  PluginGate* gate = nullptr;
  // host.insecure_plugins: a plugins folder or file that others could have
  // written (file_trust.h) is loaded with a warning instead of refused.
  bool insecure_plugins = false;
  // Borrowed, may be null; must outlive every generation built with it:
  // where handler durations are observed (host/base/host_metrics.h).
  HostMetrics* metrics = nullptr;
};

enum class PluginOutcome {
  kLoaded,     // new file, loaded
  kReplaced,   // changed file, new version loaded
  kUnchanged,  // same content and config: old instance reused
  kKeptOld,    // changed file failed to load: old version still serving
  kRefused,    // failed to load, nothing to fall back to
  kRemoved,    // file gone: unloaded after its last event
};
const char* OutcomeName(PluginOutcome outcome);

struct PluginReport {
  std::string file;    // file name in the plugins folder
  std::string plugin;  // plugin name (empty if it never loaded)
  PluginOutcome outcome;
  std::string reason;  // for kKeptOld and kRefused: one actionable sentence
};

struct GenerationReport {
  uint64_t number = 0;
  std::vector<PluginReport> plugins;  // folder order, then removed plugins
  size_t failures = 0;                // kKeptOld + kRefused (+1 if the folder failed)
  bool changed = false;               // anything differs from `previous`
  std::string folder_error;           // set when the folder could not be listed
  std::chrono::microseconds elapsed{0};
};

struct LoadedGeneration {
  std::shared_ptr<PluginGeneration> generation;  // never null
  GenerationReport report;

  // For a generation that will not be published: the plugins it replaced
  // keep their state (see PluginInstance::CancelHandOver).
  void Abandon(const Generation* previous);
};

// The plugins-folder file whose load and init() is running right now on any
// thread (LoadGeneration), or null. For the log line of a stop that timed
// out (an init that never returns). Thread-safe; the string is interned.
const std::string* PluginFileLoading();

// `previous` may be null (first load) or any Generation (only a
// PluginGeneration's plugins can be reused).
LoadedGeneration LoadGeneration(const GenerationOptions& options, const Generation* previous);

}  // namespace nitric::host
