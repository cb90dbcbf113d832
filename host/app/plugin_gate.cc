#include "host/app/plugin_gate.h"

#include "host/app/preflight.h"
#include "host/app/quarantine.h"

namespace nitric::host {

Status HostPluginGate::Admit(const PluginFile& file, const toml::table& plugin_configs,
                             StagingArea& staging) {
  const std::string name = file.path.filename().string();
  if (!state_dir_.empty()) {
    std::string refusal = QuarantineRefusal(state_dir_, name, file.sha256);
    if (!refusal.empty()) {
      std::lock_guard lock(mu_);
      quarantined_.insert(name);
      return Status(NITRIC_ERR_FAILED_PRECONDITION, std::move(refusal));
    }
  }
  {
    std::lock_guard lock(mu_);
    quarantined_.erase(name);
  }
  if (!preflight_) return Status();
  return RunPreflight(file, staging, plugin_configs, preflight_timeout_);
}

std::set<std::string> HostPluginGate::QuarantinedFiles() const {
  std::lock_guard lock(mu_);
  return quarantined_;
}

}  // namespace nitric::host
