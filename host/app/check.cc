#include "host/app/check.h"

#include <cstdio>

#include <fmt/format.h>

#include "host/plugins/generation_loader.h"

namespace nitric::host {

int RunCheck(const HostConfig& config) {
  GenerationOptions options;
  options.folder = config.plugins_dir;
  options.plugin_configs = config.plugins;
  options.insecure_plugins = config.insecure_plugins;
  options.membrane = nullptr;  // KV and send calls made during init fail UNAVAILABLE
  LoadedGeneration loaded = LoadGeneration(options, nullptr);
  const GenerationReport& report = loaded.report;

  std::string out = fmt::format("plugins folder {}\n", config.plugins_dir.string());
  if (!report.folder_error.empty()) out += fmt::format("FAILED  {}\n", report.folder_error);
  size_t ok = 0;
  for (const PluginReport& r : report.plugins) {
    if (r.outcome == PluginOutcome::kLoaded) {
      ++ok;
      auto plugin = loaded.generation->FindByFile(r.file);
      out += fmt::format("ok      {}: {}\n", r.file, plugin ? plugin->Summary() : r.plugin);
    } else {
      out += fmt::format("FAILED  {}: {}\n", r.file, r.reason);
    }
  }
  const auto& d = loaded.generation->declarations();
  out += fmt::format("{} plugin(s) ok, {} failed; {} websocket(s), {} KV store(s)\n", ok,
                     report.failures, d.sockets.size(), d.stores.size());
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  loaded.generation.reset();  // shutdown() and unload, before exiting
  return report.failures == 0 ? 0 : 1;
}

}  // namespace nitric::host
