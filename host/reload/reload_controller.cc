#include "host/reload/reload_controller.h"

#include <spdlog/spdlog.h>

#include "host/config/config.h"

namespace nitric::host {

ReloadController::ReloadController(GenerationOptions options,
                                   std::optional<std::filesystem::path> config_file,
                                   GenerationSlot* slot, DeclareFn declare)
    : options_(std::move(options)),
      config_file_(std::move(config_file)),
      slot_(slot),
      declare_(std::move(declare)) {}

GenerationReport ReloadController::LoadInitial() {
  return Publish(LoadGeneration(options_, nullptr));
}

GenerationReport ReloadController::Reload() {
  if (config_file_) {
    // Plugin settings may change with a reload; the rest of the config needs
    // a restart. A config that no longer parses keeps the tables in use.
    ConfigResult reread = LoadConfig(config_file_);
    if (reread.status.ok()) {
      options_.plugin_configs = std::move(reread.config.plugins);
    } else {
      spdlog::error("reload: config not re-read, keeping the plugin settings in use: {}",
                    reread.status.message());
    }
  }
  const std::shared_ptr<const PluginGeneration> previous = current();
  // Published even when nothing changed: unchanged plugins are shared, so
  // this costs nothing, and the generation number counts reloads.
  return Publish(LoadGeneration(options_, previous.get()));
}

GenerationReport ReloadController::Publish(LoadedGeneration loaded) {
  slot_->Publish(loaded.generation);
  if (declare_) declare_(loaded.generation->declarations());
  return std::move(loaded.report);
}

std::shared_ptr<const PluginGeneration> ReloadController::current() const {
  // Only this controller publishes PluginGenerations to the slot.
  return std::dynamic_pointer_cast<const PluginGeneration>(slot_->Current());
}

}  // namespace nitric::host
