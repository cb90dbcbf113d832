#include "host/plugins/generation_loader.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "host/plugins/file_trust.h"
#include "host/plugins/sha256.h"

namespace nitric::host {

namespace {
std::atomic<const std::string*> g_plugin_loading{nullptr};
}  // namespace

const std::string* PluginFileLoading() { return g_plugin_loading.load(std::memory_order_relaxed); }

namespace fs = std::filesystem;

namespace {

// Plugin files of the folder in file name order; hidden files (an editor's
// or installer's temporary ".x.so") are skipped.
StatusOr<std::vector<fs::path>> ListPluginFiles(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  if (ec) {
    return Status(NITRIC_ERR_UNAVAILABLE,
                  fmt::format("cannot read plugins folder {}: {}", folder.string(), ec.message()));
  }
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 3 || name[0] == '.' || name.compare(name.size() - 3, 3, ".so") != 0)
      continue;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;  // follows symlinks
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return files;
}

const toml::table* ConfigFor(const GenerationOptions& options, const std::string& name) {
  const toml::node* node = options.plugin_configs.get(name);
  return node != nullptr ? node->as_table() : nullptr;
}

bool SameConfig(const GenerationOptions& options, const PluginInstance& plugin) {
  const toml::table* now = ConfigFor(options, plugin.name());
  return now == nullptr ? plugin.config().empty() : *now == plugin.config();
}

void LogOutcome(spdlog::logger& log, const PluginReport& r, const PluginInstance* plugin) {
  switch (r.outcome) {
    case PluginOutcome::kLoaded:
      log.info("plugin {}: loaded {}", r.file, plugin->Summary());
      break;
    case PluginOutcome::kReplaced:
      log.info("plugin {}: loaded new version {}", r.file, plugin->Summary());
      break;
    case PluginOutcome::kUnchanged:
      log.info("plugin {}: unchanged", r.file);
      break;
    case PluginOutcome::kKeptOld:
      log.error("plugin {}: kept old version because {}", r.file, r.reason);
      break;
    case PluginOutcome::kRefused:
      log.error("plugin {}: refused: {}", r.file, r.reason);
      break;
    case PluginOutcome::kRemoved:
      log.info("plugin {}: removed; {} unloads after its last event", r.file, r.plugin);
      break;
  }
}

}  // namespace

const char* OutcomeName(PluginOutcome outcome) {
  switch (outcome) {
    case PluginOutcome::kLoaded:
      return "loaded";
    case PluginOutcome::kReplaced:
      return "replaced";
    case PluginOutcome::kUnchanged:
      return "unchanged";
    case PluginOutcome::kKeptOld:
      return "kept old version";
    case PluginOutcome::kRefused:
      return "refused";
    case PluginOutcome::kRemoved:
      return "removed";
  }
  return "?";
}

void LoadedGeneration::Abandon(const Generation* previous) {
  const auto* prev = dynamic_cast<const PluginGeneration*>(previous);
  if (prev == nullptr) return;
  for (const auto& plugin : prev->plugins()) plugin->CancelHandOver();
}

LoadedGeneration LoadGeneration(const GenerationOptions& options, const Generation* previous_base) {
  const auto start = std::chrono::steady_clock::now();
  const auto* previous = dynamic_cast<const PluginGeneration*>(previous_base);
  std::shared_ptr<spdlog::logger> log = options.logger ? options.logger : spdlog::default_logger();

  LoadedGeneration out;
  GenerationReport& report = out.report;
  report.number = previous_base != nullptr ? previous_base->number() + 1 : 1;

  std::shared_ptr<StagingArea> staging = options.staging;
  if (staging == nullptr && previous != nullptr) staging = previous->staging();
  if (staging == nullptr) {
    auto created = StagingArea::Create();
    if (created.ok()) {
      staging = std::move(created.value());
    } else {
      report.folder_error = created.status().message();
    }
  }

  std::vector<fs::path> files;
  if (report.folder_error.empty()) {
    std::string warning;
    if (Status trusted = CheckPluginFolder(options.folder, options.insecure_plugins, &warning);
        !trusted.ok()) {
      report.folder_error = trusted.message();
    } else if (!warning.empty()) {
      log->warn("{}", warning);
    }
  }
  if (report.folder_error.empty()) {
    StatusOr<std::vector<fs::path>> listed = ListPluginFiles(options.folder);
    if (listed.ok()) {
      files = std::move(listed.value());
    } else {
      report.folder_error = listed.status().message();
    }
  }

  std::vector<std::shared_ptr<PluginInstance>> plugins;
  std::set<std::string> names;         // plugin names taken in this generation
  std::set<std::string> listed_files;  // file names seen in the folder
  if (!report.folder_error.empty()) {
    // Keep serving what we have: a folder that is briefly unreadable must not
    // unload every plugin.
    log->error("{}", report.folder_error);
    ++report.failures;
    if (previous != nullptr) {
      for (const auto& plugin : previous->plugins()) {
        plugins.push_back(plugin);
        names.insert(plugin->name());
        listed_files.insert(plugin->file_name());
      }
    }
  }

  PluginLoadContext ctx;
  ctx.configs = &options.plugin_configs;
  ctx.membrane = options.membrane;
  ctx.logger = log;
  ctx.staging = staging;
  ctx.handoff_timeout = options.handoff_timeout;

  for (const fs::path& path : files) {
    PluginReport r;
    r.file = path.filename().string();
    listed_files.insert(r.file);
    std::shared_ptr<PluginInstance> old =
        previous != nullptr ? previous->FindByFile(r.file) : nullptr;
    std::shared_ptr<PluginInstance> chosen;

    PluginFile file;
    file.path = path;
    std::string warning;
    Status read = ReadTrustedPluginFile(options.folder, r.file, options.insecure_plugins,
                                        &file.bytes, &warning);
    if (!warning.empty()) log->warn("{}", warning);
    if (!read.ok()) {
      r.reason = read.message();
    } else {
      file.hash = ContentHash(file.bytes);
      if (old != nullptr && old->content_hash() == file.hash && SameConfig(options, *old)) {
        chosen = old;
        r.outcome = PluginOutcome::kUnchanged;
      } else {
        file.sha256 = Sha256Hex(file.bytes);
        // Named while it is vetted and loads: a stop that times out says
        // whose pre-flight check or init hangs.
        g_plugin_loading.store(InternPluginName(r.file), std::memory_order_relaxed);
        Status admitted;
        if (options.gate != nullptr && staging != nullptr) {
          admitted = options.gate->Admit(file, options.plugin_configs, *staging);
        }
        auto loaded = admitted.ok()
                          ? PluginInstance::Load(file, ctx)
                          : StatusOr<std::shared_ptr<PluginInstance>>(std::move(admitted));
        g_plugin_loading.store(nullptr, std::memory_order_relaxed);
        if (!loaded.ok()) {
          r.reason = loaded.status().message();
        } else if (names.count(loaded.value()->name()) != 0) {
          r.reason = fmt::format(
              "plugin {} is named '{}' like another plugin of the folder: "
              "give it another name",
              r.file, loaded.value()->name());
        } else {
          chosen = std::move(loaded.value());
          r.outcome = old != nullptr ? PluginOutcome::kReplaced : PluginOutcome::kLoaded;
          if (old != nullptr) old->HandStateTo(chosen);
        }
      }
    }
    if (chosen == nullptr) {  // failed: fall back to the old version if any
      ++report.failures;
      if (old != nullptr && names.count(old->name()) == 0) {
        chosen = old;
        r.outcome = PluginOutcome::kKeptOld;
      } else {
        r.outcome = PluginOutcome::kRefused;
      }
    }
    if (chosen != nullptr) {
      r.plugin = chosen->name();
      names.insert(chosen->name());
      plugins.push_back(chosen);
    }
    if (r.outcome != PluginOutcome::kUnchanged) report.changed = true;
    LogOutcome(*log, r, chosen.get());
    report.plugins.push_back(std::move(r));
  }

  if (previous != nullptr) {
    for (const auto& plugin : previous->plugins()) {
      if (listed_files.count(plugin->file_name()) != 0) continue;
      PluginReport r{plugin->file_name(), plugin->name(), PluginOutcome::kRemoved, {}};
      report.changed = true;
      LogOutcome(*log, r, plugin.get());
      report.plugins.push_back(std::move(r));
    }
  } else {
    report.changed = true;
  }

  out.generation = std::make_shared<PluginGeneration>(report.number, std::move(plugins), staging,
                                                      options.metrics);
  report.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);

  size_t counts[6] = {};
  for (const auto& r : report.plugins) ++counts[static_cast<int>(r.outcome)];
  log->info(
      "generation {}: {} plugins serving ({} loaded, {} replaced, {} unchanged, {} kept old "
      "version, {} refused, {} removed) in {:.1f} ms",
      report.number, out.generation->plugins().size(), counts[0], counts[1], counts[2], counts[3],
      counts[4], counts[5], static_cast<double>(report.elapsed.count()) / 1000.0);
  return out;
}

}  // namespace nitric::host
