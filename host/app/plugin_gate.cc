#include "host/app/plugin_gate.h"

#include "host/app/preflight.h"
#include "host/app/quarantine.h"

namespace nitric::host {

Status HostPluginGate::Admit(const PluginFile& file, const toml::table& plugin_configs,
                             StagingArea& staging) {
  if (!state_dir_.empty()) {
    std::string refusal = QuarantineRefusal(state_dir_, file.path.filename().string(), file.sha256);
    if (!refusal.empty()) return Status(NITRIC_ERR_FAILED_PRECONDITION, std::move(refusal));
  }
  if (!preflight_) return Status();
  return RunPreflight(file, staging, plugin_configs, preflight_timeout_);
}

}  // namespace nitric::host
