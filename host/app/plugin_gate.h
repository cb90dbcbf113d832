// What the serving host checks before loading a new or changed plugin file
// (GenerationOptions::gate): first the crash quarantine (host/app/
// quarantine.h: this exact file crashed the host before), then the pre-flight
// check in a child process (host/app/preflight.h) when host.preflight is on.
#pragma once

#include <chrono>
#include <filesystem>

#include "host/plugins/generation_loader.h"

namespace nitric::host {

class HostPluginGate : public PluginGate {
 public:
  // `state_dir` empty: no quarantine (the state folder could not be opened).
  HostPluginGate(std::filesystem::path state_dir, bool preflight,
                 std::chrono::milliseconds preflight_timeout)
      : state_dir_(std::move(state_dir)),
        preflight_(preflight),
        preflight_timeout_(preflight_timeout) {}

  Status Admit(const PluginFile& file, const toml::table& plugin_configs,
               StagingArea& staging) override;

 private:
  const std::filesystem::path state_dir_;
  const bool preflight_;
  const std::chrono::milliseconds preflight_timeout_;
};

}  // namespace nitric::host
