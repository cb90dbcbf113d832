// What the serving host checks before loading a new or changed plugin file
// (GenerationOptions::gate): first the crash quarantine (host/app/
// quarantine.h: this exact file crashed the host before), then the pre-flight
// check in a child process (host/app/preflight.h) when host.preflight is on.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>

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

  // Files whose latest content the crash quarantine refused (by file name;
  // forgotten when a later content of the file is admitted or refused for
  // another reason). For /status and nitric_host_plugins{state=quarantined}.
  // Thread-safe.
  std::set<std::string> QuarantinedFiles() const;

 private:
  const std::filesystem::path state_dir_;
  const bool preflight_;
  const std::chrono::milliseconds preflight_timeout_;
  mutable std::mutex mu_;
  std::set<std::string> quarantined_;  // guarded by mu_
};

}  // namespace nitric::host
